// SPDX-License-Identifier: GPL-2.0
/*
 * The rule commands of the "nflab" family: transactions, chains, rules and
 * sets. nlproto/nflab.h documents them.
 *
 * A namespace has at most one transaction, a copy of its committed source
 * (struct nflab_src) that RULE_NEW and the others edit, owned by the
 * socket that began it. Every command runs under nn->rules_lock; the
 * owner's socket closing (NETLINK_URELEASE) discards its transaction.
 */

#include <linux/ctype.h>
#include <linux/mm.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "compat.h"
#include "nflab.h"
#include "rules.h"

/* Handles are never reused while the module is loaded. */
static atomic64_t nflab_rule_handle = ATOMIC64_INIT(0);

static const struct nla_policy nflab_chain_policy[NFLAB_CHAIN_A_MAX + 1] = {
	[NFLAB_CHAIN_A_TABLE]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_TABLE_MAX),
	[NFLAB_CHAIN_A_NAME]	= { .type = NLA_NUL_STRING, .len = NFLAB_NAME_MAXLEN - 1 },
	[NFLAB_CHAIN_A_POLICY]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_VERDICT_MAX),
};

static const struct nla_policy nflab_rule_policy[NFLAB_RULE_A_MAX + 1] = {
	[NFLAB_RULE_A_HANDLE]	= NLA_POLICY_MIN(NLA_U64, 1),
	[NFLAB_RULE_A_TABLE]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_TABLE_MAX),
	[NFLAB_RULE_A_CHAIN]	= { .type = NLA_NUL_STRING, .len = NFLAB_NAME_MAXLEN - 1 },
	[NFLAB_RULE_A_MATCHES]	= { .type = NLA_NESTED },
	[NFLAB_RULE_A_ACTION]	= { .type = NLA_NESTED },
	[NFLAB_RULE_A_COMMENT]	= { .type = NLA_NUL_STRING, .len = NFLAB_COMMENT_MAXLEN - 1 },
	[NFLAB_RULE_A_POSITION]	= NLA_POLICY_MIN(NLA_U64, 1),
	[NFLAB_RULE_A_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_RULE_F_ALL),
};

static const struct nla_policy nflab_set_policy[NFLAB_SET_A_MAX + 1] = {
	[NFLAB_SET_A_NAME]	= { .type = NLA_NUL_STRING, .len = NFLAB_NAME_MAXLEN - 1 },
	[NFLAB_SET_A_TYPE]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_SET_TYPE_MAX),
	[NFLAB_SET_A_ELEMS]	= NLA_POLICY_MIN_LEN(4),
};

const struct nla_policy nflab_rules_begin_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_RULES_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_RULES_F_REPLACE),
	[NFLAB_A_RULES_GEN]	= { .type = NLA_U32 },
};

const struct nla_policy nflab_rules_commit_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_RULES_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_RULES_F_CHECK),
};

const struct nla_policy nflab_chain_op_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_CHAIN]		= NLA_POLICY_NESTED(nflab_chain_policy),
};

const struct nla_policy nflab_rule_op_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_RULE]		= NLA_POLICY_NESTED(nflab_rule_policy),
};

const struct nla_policy nflab_set_edit_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_SET]		= NLA_POLICY_NESTED(nflab_set_policy),
};

const struct nla_policy nflab_set_op_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_SET]		= NLA_POLICY_NESTED(nflab_set_policy),
	[NFLAB_A_RULES_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_RULES_F_TERSE),
};

/* Transactions */

/*
 * The requesting socket, as an identity (never dereferenced): a portid is
 * free for another socket as soon as its own closes, before
 * NETLINK_URELEASE ends the transaction; the socket's memory is not, since
 * netlink_release() runs the notifier before it lets the socket go.
 */
static const void *nflab_req_sock(struct sk_buff *skb)
{
	return NETLINK_CB(skb).sk;
}

static struct nflab_src *nflab_txn(struct nflab_net *nn, struct sk_buff *skb,
				   struct genl_info *info)
{
	lockdep_assert_held(&nn->rules_lock);
	if (!nn->txn || nn->txn_portid != info->snd_portid ||
	    nn->txn_sk != nflab_req_sock(skb)) {
		NL_SET_ERR_MSG(info->extack,
			       "no transaction open on this socket (RULES_BEGIN first)");
		return NULL;
	}
	return nn->txn;
}

static void nflab_txn_end(struct nflab_net *nn)
{
	lockdep_assert_held(&nn->rules_lock);
	if (!nn->txn)
		return;
	nflab_src_free(nn->txn);
	kfree(nn->txn);
	nn->txn = NULL;
	nn->txn_portid = 0;
	nn->txn_sk = NULL;
}

/*
 * BEGIN's and COMMIT's replies are allocated before the state changes, so
 * that a change is never reported as a failure for want of memory.
 */
static struct sk_buff *nflab_gen_reply_new(struct genl_info *info, u8 cmd,
					   void **hdr)
{
	struct sk_buff *msg;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &nflab_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int nflab_gen_reply_send(struct genl_info *info, struct sk_buff *msg,
				void *hdr, u32 gen)
{
	if (nla_put_u32(msg, NFLAB_A_RULES_GEN, gen)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

int nflab_rules_nl_begin(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct sk_buff *msg;
	struct nflab_src *src;
	u32 flags = 0, gen;
	void *hdr;
	int ret;

	if (info->attrs[NFLAB_A_RULES_FLAGS])
		flags = nla_get_u32(info->attrs[NFLAB_A_RULES_FLAGS]);
	src = kzalloc(sizeof(*src), GFP_KERNEL_ACCOUNT);
	msg = nflab_gen_reply_new(info, NFLAB_CMD_RULES_BEGIN, &hdr);
	if (!src || !msg) {
		ret = -ENOMEM;
		goto out_free;
	}

	mutex_lock(&nn->rules_lock);
	if (nn->rules_dead) {
		NL_SET_ERR_MSG(info->extack, "the namespace or the module is going away");
		ret = -ESHUTDOWN;
		goto out_unlock;
	}
	if (nn->txn) {
		if (nn->txn_portid == info->snd_portid)
			NL_SET_ERR_MSG(info->extack,
				       "this socket has a transaction open already");
		else
			NL_SET_ERR_MSG(info->extack,
				       "another socket has a transaction open");
		ret = -EBUSY;
		goto out_unlock;
	}
	if (info->attrs[NFLAB_A_RULES_GEN] &&
	    nla_get_u32(info->attrs[NFLAB_A_RULES_GEN]) != nn->rules_gen) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_RULES_GEN],
				    "the ruleset changed since this generation");
		ret = -ESTALE;
		goto out_unlock;
	}
	if (flags & NFLAB_RULES_F_REPLACE)
		ret = nflab_src_empty(src);
	else
		ret = nflab_src_copy(src, &nn->rules_src);
	if (ret)
		goto out_unlock;
	nn->txn = src;
	nn->txn_portid = info->snd_portid;
	nn->txn_sk = nflab_req_sock(skb);
	gen = nn->rules_gen;
	mutex_unlock(&nn->rules_lock);
	return nflab_gen_reply_send(info, msg, hdr, gen);

out_unlock:
	mutex_unlock(&nn->rules_lock);
out_free:
	kfree(src);
	nlmsg_free(msg);
	return ret;
}

/* dst (freed, empty) takes over src's chains and sets. */
static void nflab_src_move(struct nflab_src *dst, struct nflab_src *src)
{
	nflab_src_init(dst);
	list_splice_init(&src->chains, &dst->chains);
	list_splice_init(&src->sets, &dst->sets);
	dst->nrules = src->nrules;
	dst->nchains = src->nchains;
	dst->nsets = src->nsets;
	nflab_src_init(src);
}

int nflab_rules_nl_commit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nflab_net *nn = nflab_pernet(net);
	struct nflab_src *txn;
	struct sk_buff *msg;
	bool check = false;
	void *hdr;
	int ret;
	u32 gen;

	if (info->attrs[NFLAB_A_RULES_FLAGS])
		check = nla_get_u32(info->attrs[NFLAB_A_RULES_FLAGS]) &
			NFLAB_RULES_F_CHECK;
	msg = nflab_gen_reply_new(info, NFLAB_CMD_RULES_COMMIT, &hdr);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&nn->rules_lock);
	txn = nflab_txn(nn, skb, info);
	if (!txn) {
		mutex_unlock(&nn->rules_lock);
		nlmsg_free(msg);
		return -ENOENT;
	}
	ret = nflab_rules_commit(net, txn, check, info->extack);
	if (!ret && !check) {
		nflab_src_free(&nn->rules_src);
		nflab_src_move(&nn->rules_src, txn);
	}
	nflab_txn_end(nn);
	gen = nn->rules_gen;
	mutex_unlock(&nn->rules_lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return nflab_gen_reply_send(info, msg, hdr, gen);
}

int nflab_rules_nl_abort(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	int ret = 0;

	mutex_lock(&nn->rules_lock);
	if (nflab_txn(nn, skb, info))
		nflab_txn_end(nn);
	else
		ret = -ENOENT;
	mutex_unlock(&nn->rules_lock);
	return ret;
}

/* The owner's socket is gone: so is its transaction. */
static int nflab_rules_urelease(struct notifier_block *nb, unsigned long event,
				void *ptr)
{
	struct netlink_notify *n = ptr;
	struct nflab_net *nn;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	nn = nflab_pernet(n->net);
	/* Every generic netlink socket's close comes here: most have none. */
	if (!READ_ONCE(nn->txn))
		return NOTIFY_DONE;
	mutex_lock(&nn->rules_lock);
	if (nn->txn && nn->txn_portid == n->portid)
		nflab_txn_end(nn);
	mutex_unlock(&nn->rules_lock);
	return NOTIFY_DONE;
}

static struct notifier_block nflab_rules_notifier = {
	.notifier_call	= nflab_rules_urelease,
};

/* Chains */

static bool nflab_name_ok(const char *name, struct genl_info *info,
			  const struct nlattr *attr)
{
	const char *p;
	int h;

	if (!*name) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "empty name");
		return false;
	}
	for (p = name; *p; p++) {
		if (!isalnum(*p) && *p != '_' && *p != '-' && *p != '.') {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "names hold letters, digits, '_', '-' and '.' only");
			return false;
		}
	}
	for (h = 0; h < NF_INET_NUMHOOKS; h++) {
		if (!strcmp(name, nflab_hook_chain_names[h])) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "this name is a built-in chain's");
			return false;
		}
	}
	return true;
}

/* The chain NFLAB_A_CHAIN (or a rule's TABLE and CHAIN) names, in src. */
static struct nflab_src_chain *nflab_chain_lookup(struct nflab_src *src,
						  struct nlattr **tb,
						  int table_attr, int name_attr,
						  const struct nlattr *nest,
						  struct genl_info *info)
{
	struct nflab_src_chain *c;

	if (!tb[table_attr] || !tb[name_attr]) {
		NL_SET_ERR_MSG_ATTR(info->extack, nest, "needs a table and a chain name");
		return ERR_PTR(-EINVAL);
	}
	c = nflab_src_chain_find(src, nla_get_u8(tb[table_attr]),
				 nla_data(tb[name_attr]));
	if (!c) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[name_attr],
				    "no such chain in this table");
		return ERR_PTR(-ENOENT);
	}
	return c;
}

static int nflab_chain_attrs(struct genl_info *info, struct nlattr **tb)
{
	if (!info->attrs[NFLAB_A_CHAIN]) {
		NL_SET_ERR_MSG(info->extack, "missing NFLAB_A_CHAIN");
		return -EINVAL;
	}
	return nla_parse_nested(tb, NFLAB_CHAIN_A_MAX, info->attrs[NFLAB_A_CHAIN],
				nflab_chain_policy, info->extack);
}

/* Does any rule of src jump or go to chain c? */
static struct nflab_rule *nflab_chain_user(struct nflab_src *src,
					   const struct nflab_src_chain *c)
{
	struct nflab_src_chain *o;
	unsigned int i;

	list_for_each_entry(o, &src->chains, list) {
		if (o->table != c->table)
			continue;
		for (i = 0; i < o->n; i++) {
			const char *target;
			u8 type;

			target = nflab_action_chain(o->rules[i]->action, &type);
			if (target && !strcmp(target, c->name))
				return o->rules[i];
		}
	}
	return NULL;
}

/* CHAIN_NEW, CHAIN_DEL and CHAIN_POLICY. */
int nflab_chain_nl_edit(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_CHAIN_A_MAX + 1];
	u8 cmd = info->genlhdr->cmd;
	struct nflab_src_chain *c;
	struct nflab_src *src;
	int ret;

	ret = nflab_chain_attrs(info, tb);
	if (ret)
		return ret;
	mutex_lock(&nn->rules_lock);
	src = nflab_txn(nn, skb, info);
	if (!src) {
		ret = -ENOENT;
		goto out_unlock;
	}
	if (cmd == NFLAB_CMD_CHAIN_NEW) {
		const char *name;
		u8 table;

		if (!tb[NFLAB_CHAIN_A_TABLE] || !tb[NFLAB_CHAIN_A_NAME] ||
		    tb[NFLAB_CHAIN_A_POLICY]) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_CHAIN],
					    "a new chain takes a table and a name only");
			ret = -EINVAL;
			goto out_unlock;
		}
		name = nla_data(tb[NFLAB_CHAIN_A_NAME]);
		table = nla_get_u8(tb[NFLAB_CHAIN_A_TABLE]);
		if (!nflab_name_ok(name, info, tb[NFLAB_CHAIN_A_NAME])) {
			ret = -EINVAL;
			goto out_unlock;
		}
		if (nflab_src_chain_find(src, table, name)) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_CHAIN_A_NAME],
					    "the table has a chain of this name");
			ret = -EEXIST;
			goto out_unlock;
		}
		if (src->nchains >= NFLAB_CHAINS_MAX) {
			NL_SET_ERR_MSG(info->extack, "too many chains");
			ret = -ENOSPC;
			goto out_unlock;
		}
		c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
		if (!c) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		strscpy(c->name, name, sizeof(c->name));
		c->table = table;
		c->hook = -1;
		c->policy = NFLAB_VERDICT_ACCEPT;
		list_add_tail(&c->list, &src->chains);
		src->nchains++;
		goto out_unlock;
	}

	c = nflab_chain_lookup(src, tb, NFLAB_CHAIN_A_TABLE, NFLAB_CHAIN_A_NAME,
			       info->attrs[NFLAB_A_CHAIN], info);
	if (IS_ERR(c)) {
		ret = PTR_ERR(c);
		goto out_unlock;
	}
	if (cmd == NFLAB_CMD_CHAIN_POLICY) {
		if (c->hook < 0) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_CHAIN],
					    "only built-in chains have a policy");
			ret = -EINVAL;
			goto out_unlock;
		}
		if (!tb[NFLAB_CHAIN_A_POLICY]) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_CHAIN],
					    "missing the policy");
			ret = -EINVAL;
			goto out_unlock;
		}
		c->policy = nla_get_u8(tb[NFLAB_CHAIN_A_POLICY]);
		goto out_unlock;
	}
	/* NFLAB_CMD_CHAIN_DEL */
	if (tb[NFLAB_CHAIN_A_POLICY]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_CHAIN_A_POLICY],
				    "deleting a chain takes its table and name only");
		ret = -EINVAL;
		goto out_unlock;
	}
	if (c->hook >= 0) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_CHAIN_A_NAME],
				    "built-in chains cannot be deleted");
		ret = -EINVAL;
		goto out_unlock;
	}
	if (c->n) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_CHAIN_A_NAME],
				    "the chain holds rules: delete them first");
		ret = -EBUSY;
		goto out_unlock;
	}
	if (nflab_chain_user(src, c)) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_CHAIN_A_NAME],
				    "a rule jumps to this chain");
		ret = -EBUSY;
		goto out_unlock;
	}
	list_del(&c->list);
	kvfree(c->rules);	/* it may have held rules in this transaction */
	kfree(c);
	src->nchains--;

out_unlock:
	mutex_unlock(&nn->rules_lock);
	return ret;
}

/*
 * A dump call runs under rules_lock and checks the generation: never 0, as
 * the consistency check ignores a first sequence of 0.
 */
static void nflab_rules_dump_lock(struct nflab_net *nn, struct netlink_callback *cb)
{
	mutex_lock(&nn->rules_lock);
	cb->seq = nn->rules_gen + 1;
}

static void *nflab_rules_msg_put(struct sk_buff *skb, struct netlink_callback *cb,
				 u8 cmd)
{
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &nflab_genl_family, NLM_F_MULTI, cmd);
	if (hdr)
		genl_dump_check_consistent(cb, hdr);
	return hdr;
}

static int nflab_put_chain(struct sk_buff *skb, const struct nflab_src_chain *c,
			   u32 gen)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, NFLAB_A_CHAIN);
	if (!nest ||
	    nla_put_u8(skb, NFLAB_CHAIN_A_TABLE, c->table) ||
	    nla_put_string(skb, NFLAB_CHAIN_A_NAME, c->name) ||
	    (c->hook >= 0 && (nla_put_u32(skb, NFLAB_CHAIN_A_HOOK, c->hook) ||
			      nla_put_u8(skb, NFLAB_CHAIN_A_POLICY, c->policy))) ||
	    nla_put_u32(skb, NFLAB_CHAIN_A_RULES, c->n) ||
	    nla_put_u32(skb, NFLAB_CHAIN_A_GEN, gen))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/* cb->args[0]: the next chain's index. */
int nflab_chain_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nflab_net *nn = nflab_pernet(sock_net(skb->sk));
	struct nflab_src_chain *c;
	unsigned long i = 0;
	void *hdr;

	nflab_rules_dump_lock(nn, cb);
	list_for_each_entry(c, &nn->rules_src.chains, list) {
		if (i++ < cb->args[0])
			continue;
		hdr = nflab_rules_msg_put(skb, cb, NFLAB_CMD_CHAIN_GET);
		if (!hdr)
			break;
		if (nflab_put_chain(skb, c, nn->rules_gen)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = i;
	}
	mutex_unlock(&nn->rules_lock);
	return skb->len;
}

/* Rules */

static int nflab_rule_attrs(struct genl_info *info, struct nlattr **tb)
{
	if (!info->attrs[NFLAB_A_RULE]) {
		NL_SET_ERR_MSG(info->extack, "missing NFLAB_A_RULE");
		return -EINVAL;
	}
	return nla_parse_nested(tb, NFLAB_RULE_A_MAX, info->attrs[NFLAB_A_RULE],
				nflab_rule_policy, info->extack);
}

/* A rule's size is bounded, so that one always fits a dump's message. */
static int nflab_rule_size_ok(struct nlattr **tb, struct genl_info *info)
{
	if (tb[NFLAB_RULE_A_MATCHES] &&
	    nla_len(tb[NFLAB_RULE_A_MATCHES]) > NFLAB_RULE_MATCHES_BYTES) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_RULE_A_MATCHES],
				    "the matches take more than 8192 bytes");
		return -E2BIG;
	}
	return 0;
}

/* HANDLE and nothing else, for the commands that name a rule. */
static int nflab_rule_handle_only(struct nlattr **tb, struct genl_info *info)
{
	int i;

	if (!tb[NFLAB_RULE_A_HANDLE]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_RULE],
				    "missing the rule's handle");
		return -EINVAL;
	}
	for (i = 1; i <= NFLAB_RULE_A_MAX; i++) {
		if (tb[i] && i != NFLAB_RULE_A_HANDLE) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[i],
					    "this command takes the rule's handle only");
			return -EINVAL;
		}
	}
	return 0;
}

/* The rule with this handle in src: its chain and index. */
static struct nflab_src_chain *nflab_rule_find(struct nflab_src *src, u64 handle,
					       unsigned int *idx)
{
	struct nflab_src_chain *c;
	unsigned int i;

	list_for_each_entry(c, &src->chains, list)
		for (i = 0; i < c->n; i++)
			if (c->rules[i]->handle == handle) {
				*idx = i;
				return c;
			}
	return NULL;
}

static int nflab_chain_grow(struct nflab_src_chain *c)
{
	unsigned int cap = max(16U, c->cap * 2);
	struct nflab_rule **r;

	if (c->n < c->cap)
		return 0;
	r = kvmalloc_array(cap, sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	if (c->n)
		memcpy(r, c->rules, c->n * sizeof(*r));
	kvfree(c->rules);
	c->rules = r;
	c->cap = cap;
	return 0;
}

static int nflab_fill_handle(struct sk_buff *msg, const void *arg)
{
	struct nlattr *nest = nla_nest_start(msg, NFLAB_A_RULE);

	if (!nest || nla_put_u64_64bit(msg, NFLAB_RULE_A_HANDLE,
				       *(const u64 *)arg, NFLAB_RULE_A_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int nflab_rule_nl_new(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_RULE_A_MAX + 1];
	struct nflab_src_chain *c;
	struct nflab_rule *r;
	struct nflab_src *src;
	unsigned int at, i;
	u32 flags = 0;
	u64 handle;
	int ret;

	ret = nflab_rule_attrs(info, tb);
	if (ret)
		return ret;
	if (tb[NFLAB_RULE_A_HANDLE] || !tb[NFLAB_RULE_A_ACTION]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_RULE],
				    "a new rule takes an action and no handle");
		return -EINVAL;
	}
	ret = nflab_rule_size_ok(tb, info);
	if (ret)
		return ret;
	if (tb[NFLAB_RULE_A_FLAGS])
		flags = nla_get_u32(tb[NFLAB_RULE_A_FLAGS]);

	mutex_lock(&nn->rules_lock);
	src = nflab_txn(nn, skb, info);
	if (!src) {
		ret = -ENOENT;
		goto out_unlock;
	}
	c = nflab_chain_lookup(src, tb, NFLAB_RULE_A_TABLE, NFLAB_RULE_A_CHAIN,
			       info->attrs[NFLAB_A_RULE], info);
	if (IS_ERR(c)) {
		ret = PTR_ERR(c);
		goto out_unlock;
	}
	at = flags & NFLAB_RULE_F_INSERT ? 0 : c->n;
	if (tb[NFLAB_RULE_A_POSITION]) {
		u64 pos = nla_get_u64(tb[NFLAB_RULE_A_POSITION]);

		for (i = 0; i < c->n && c->rules[i]->handle != pos; i++)
			;
		if (i == c->n) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_RULE_A_POSITION],
					    "no rule with this handle in the chain");
			ret = -ENOENT;
			goto out_unlock;
		}
		at = flags & NFLAB_RULE_F_INSERT ? i : i + 1;
	}
	if (src->nrules >= NFLAB_RULES_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many rules");
		ret = -ENOSPC;
		goto out_unlock;
	}
	ret = nflab_chain_grow(c);
	if (ret)
		goto out_unlock;
	handle = atomic64_inc_return(&nflab_rule_handle);
	r = nflab_rule_create(tb[NFLAB_RULE_A_MATCHES], tb[NFLAB_RULE_A_ACTION],
			      tb[NFLAB_RULE_A_COMMENT], c->table, handle,
			      info->extack);
	if (IS_ERR(r)) {
		ret = PTR_ERR(r);
		goto out_unlock;
	}
	memmove(&c->rules[at + 1], &c->rules[at], (c->n - at) * sizeof(*c->rules));
	c->rules[at] = r;
	c->n++;
	src->nrules++;
	mutex_unlock(&nn->rules_lock);
	return nflab_nl_reply(info, NFLAB_CMD_RULE_NEW, nflab_fill_handle, &handle);

out_unlock:
	mutex_unlock(&nn->rules_lock);
	return ret;
}

/*
 * The rule that tb's HANDLE names in the caller's transaction: its chain
 * and index, and the transaction. Under rules_lock.
 */
static struct nflab_src_chain *nflab_txn_rule(struct nflab_net *nn,
					      struct sk_buff *skb,
					      struct genl_info *info,
					      struct nlattr **tb,
					      struct nflab_src **src,
					      unsigned int *i)
{
	struct nflab_src_chain *c;

	*src = nflab_txn(nn, skb, info);
	if (!*src)
		return ERR_PTR(-ENOENT);
	c = nflab_rule_find(*src, nla_get_u64(tb[NFLAB_RULE_A_HANDLE]), i);
	if (!c) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_RULE_A_HANDLE],
				    "no rule has this handle");
		return ERR_PTR(-ENOENT);
	}
	return c;
}

int nflab_rule_nl_del(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_RULE_A_MAX + 1];
	struct nflab_src_chain *c;
	struct nflab_src *src;
	struct nflab_rule *r;
	unsigned int i;
	int ret;

	ret = nflab_rule_attrs(info, tb);
	if (ret)
		return ret;
	ret = nflab_rule_handle_only(tb, info);
	if (ret)
		return ret;
	mutex_lock(&nn->rules_lock);
	c = nflab_txn_rule(nn, skb, info, tb, &src, &i);
	if (IS_ERR(c)) {
		ret = PTR_ERR(c);
		goto out_unlock;
	}
	r = c->rules[i];
	memmove(&c->rules[i], &c->rules[i + 1], (c->n - i - 1) * sizeof(*c->rules));
	c->n--;
	src->nrules--;
	nflab_rule_put(r);

out_unlock:
	mutex_unlock(&nn->rules_lock);
	return ret;
}

int nflab_rule_nl_replace(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_RULE_A_MAX + 1];
	struct nflab_src_chain *c;
	struct nflab_src *src;
	struct nflab_rule *r;
	unsigned int i;
	int ret;

	ret = nflab_rule_attrs(info, tb);
	if (ret)
		return ret;
	if (!tb[NFLAB_RULE_A_HANDLE] || !tb[NFLAB_RULE_A_ACTION] ||
	    tb[NFLAB_RULE_A_POSITION] || tb[NFLAB_RULE_A_FLAGS]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_RULE],
				    "a replacement takes a handle and an action, no position");
		return -EINVAL;
	}
	ret = nflab_rule_size_ok(tb, info);
	if (ret)
		return ret;
	mutex_lock(&nn->rules_lock);
	c = nflab_txn_rule(nn, skb, info, tb, &src, &i);
	if (IS_ERR(c)) {
		ret = PTR_ERR(c);
		goto out_unlock;
	}
	if ((tb[NFLAB_RULE_A_TABLE] && nla_get_u8(tb[NFLAB_RULE_A_TABLE]) != c->table) ||
	    (tb[NFLAB_RULE_A_CHAIN] && strcmp(nla_data(tb[NFLAB_RULE_A_CHAIN]), c->name))) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_RULE],
				    "a replacement stays in its table and chain");
		ret = -EINVAL;
		goto out_unlock;
	}
	r = nflab_rule_create(tb[NFLAB_RULE_A_MATCHES], tb[NFLAB_RULE_A_ACTION],
			      tb[NFLAB_RULE_A_COMMENT], c->table,
			      c->rules[i]->handle, info->extack);
	if (IS_ERR(r)) {
		ret = PTR_ERR(r);
		goto out_unlock;
	}
	nflab_rule_put(c->rules[i]);
	c->rules[i] = r;

out_unlock:
	mutex_unlock(&nn->rules_lock);
	return ret;
}

static int nflab_put_rule(struct sk_buff *skb, const struct nflab_src_chain *c,
			  const struct nflab_rule *r)
{
	struct nlattr *nest, *st;
	const struct nlattr *a;
	unsigned int i = 0;
	u64 packets, bytes;
	int rem;

	nflab_rule_counters(r, &packets, &bytes);
	nest = nla_nest_start(skb, NFLAB_A_RULE);
	if (!nest ||
	    nla_put_u64_64bit(skb, NFLAB_RULE_A_HANDLE, r->handle, NFLAB_RULE_A_PAD) ||
	    nla_put_u8(skb, NFLAB_RULE_A_TABLE, c->table) ||
	    nla_put_string(skb, NFLAB_RULE_A_CHAIN, c->name) ||
	    (r->matches && nla_put(skb, NFLAB_RULE_A_MATCHES, nla_len(r->matches),
				   nla_data(r->matches))) ||
	    nla_put(skb, NFLAB_RULE_A_ACTION, nla_len(r->action), nla_data(r->action)) ||
	    (r->comment && nla_put_string(skb, NFLAB_RULE_A_COMMENT, r->comment)) ||
	    nla_put_u64_64bit(skb, NFLAB_RULE_A_PACKETS, packets, NFLAB_RULE_A_PAD) ||
	    nla_put_u64_64bit(skb, NFLAB_RULE_A_BYTES, bytes, NFLAB_RULE_A_PAD))
		return -EMSGSIZE;
	if (r->matches) {
		st = nla_nest_start(skb, NFLAB_RULE_A_STATE);
		if (!st)
			return -EMSGSIZE;
		nla_for_each_nested(a, r->matches, rem)
			if (nflab_match_put_state(skb, a, &r->st[i++]))
				return -EMSGSIZE;
		nla_nest_end(skb, st);
	}
	nla_nest_end(skb, nest);
	return 0;
}

struct nflab_rule_reply {
	const struct nflab_src_chain	*c;
	const struct nflab_rule		*r;
	u32				gen;
};

static int nflab_fill_rule(struct sk_buff *msg, const void *arg)
{
	const struct nflab_rule_reply *rr = arg;

	if (nflab_put_rule(msg, rr->c, rr->r) ||
	    nla_put_u32(msg, NFLAB_A_RULES_GEN, rr->gen))
		return -EMSGSIZE;
	return 0;
}

int nflab_rule_nl_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_RULE_A_MAX + 1];
	struct nflab_rule_reply rr;
	struct nflab_src_chain *c;
	unsigned int i;
	int ret;

	ret = nflab_rule_attrs(info, tb);
	if (ret)
		return ret;
	ret = nflab_rule_handle_only(tb, info);
	if (ret)
		return ret;
	mutex_lock(&nn->rules_lock);
	c = nflab_rule_find(&nn->rules_src, nla_get_u64(tb[NFLAB_RULE_A_HANDLE]), &i);
	if (!c) {
		mutex_unlock(&nn->rules_lock);
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_RULE_A_HANDLE],
				    "no rule has this handle");
		return -ENOENT;
	}
	rr.c = c;
	rr.r = c->rules[i];
	rr.gen = nn->rules_gen;
	/* The reply is built under the lock: the rule cannot go meanwhile. */
	ret = nflab_nl_reply_size(info, NFLAB_CMD_RULE_GET, NFLAB_RULE_DUMP_SIZE,
				  nflab_fill_rule, &rr);
	mutex_unlock(&nn->rules_lock);
	return ret;
}

/* A dump's messages have room for the largest rule. */
int nflab_rule_nl_dump_start(struct netlink_callback *cb)
{
	cb->min_dump_alloc = NFLAB_RULE_DUMP_SIZE;
	return 0;
}

/* cb->args[0]: chain index, [1]: rule index in it. */
int nflab_rule_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nflab_net *nn = nflab_pernet(sock_net(skb->sk));
	struct nflab_src_chain *c;
	unsigned long ci = 0;
	void *hdr;

	nflab_rules_dump_lock(nn, cb);
	list_for_each_entry(c, &nn->rules_src.chains, list) {
		if (ci++ < cb->args[0])
			continue;
		for (; cb->args[1] < c->n; cb->args[1]++) {
			hdr = nflab_rules_msg_put(skb, cb, NFLAB_CMD_RULE_GET);
			if (!hdr)
				goto out_unlock;
			if (nflab_put_rule(skb, c, c->rules[cb->args[1]]) ||
			    nla_put_u32(skb, NFLAB_A_RULES_GEN, nn->rules_gen)) {
				genlmsg_cancel(skb, hdr);
				/* Not even alone: never end the dump early. */
				if (!skb->len) {
					mutex_unlock(&nn->rules_lock);
					return -EMSGSIZE;
				}
				goto out_unlock;
			}
			genlmsg_end(skb, hdr);
		}
		cb->args[0] = ci;
		cb->args[1] = 0;
	}
out_unlock:
	mutex_unlock(&nn->rules_lock);
	return skb->len;
}

int nflab_rule_nl_reset(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_RULE_A_MAX + 1];
	struct nflab_src_chain *c;
	unsigned int i;
	int ret = 0;

	if (info->attrs[NFLAB_A_RULE]) {
		ret = nflab_rule_attrs(info, tb);
		if (ret)
			return ret;
		ret = nflab_rule_handle_only(tb, info);
		if (ret)
			return ret;
	}
	mutex_lock(&nn->rules_lock);
	if (info->attrs[NFLAB_A_RULE]) {
		c = nflab_rule_find(&nn->rules_src,
				    nla_get_u64(tb[NFLAB_RULE_A_HANDLE]), &i);
		if (c) {
			nflab_rule_reset(c->rules[i]);
		} else {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_RULE_A_HANDLE],
					    "no rule has this handle");
			ret = -ENOENT;
		}
	} else {
		list_for_each_entry(c, &nn->rules_src.chains, list)
			for (i = 0; i < c->n; i++)
				nflab_rule_reset(c->rules[i]);
	}
	mutex_unlock(&nn->rules_lock);
	return ret;
}

/* Sets */

static int nflab_set_attrs(struct genl_info *info, struct nlattr **tb)
{
	int ret;

	if (!info->attrs[NFLAB_A_SET]) {
		NL_SET_ERR_MSG(info->extack, "missing NFLAB_A_SET");
		return -EINVAL;
	}
	ret = nla_parse_nested(tb, NFLAB_SET_A_MAX, info->attrs[NFLAB_A_SET],
			       nflab_set_policy, info->extack);
	if (ret)
		return ret;
	if (!tb[NFLAB_SET_A_NAME]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_SET],
				    "missing the set's name");
		return -EINVAL;
	}
	return 0;
}

/* Append ELEMS to the set's pending ranges, checking every one. */
static int nflab_set_add_elems(struct nflab_src_set *s, const struct nlattr *attr,
			       struct genl_info *info)
{
	unsigned int esize = s->type == NFLAB_SET_TYPE_ADDR ? 8 : 4;
	unsigned int n = nla_len(attr) / esize, i, have;
	const u8 *p = nla_data(attr);
	struct nflab_range *r;

	if (nla_len(attr) % esize) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "elements are 8 bytes (addresses) or 4 (ports) each");
		return -EINVAL;
	}
	have = (s->data ? s->data->n : 0) + s->nadd;
	if (n > NFLAB_SET_ELEMS_MAX - have) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "too many elements in one set");
		return -ENOSPC;
	}
	if (s->nadd + n > s->cap) {
		unsigned int cap = max3(1024U, s->cap * 2, s->nadd + n);

		r = kvmalloc_array(cap, sizeof(*r), GFP_KERNEL_ACCOUNT);
		if (!r)
			return -ENOMEM;
		if (s->nadd)
			memcpy(r, s->add, s->nadd * sizeof(*r));
		kvfree(s->add);
		s->add = r;
		s->cap = cap;
	}
	r = s->add + s->nadd;
	for (i = 0; i < n; i++, p += esize) {
		if (esize == 8) {
			r[i].first = get_unaligned_be32(p);
			r[i].last = get_unaligned_be32(p + 4);
		} else {
			r[i].first = get_unaligned_be16(p);
			r[i].last = get_unaligned_be16(p + 2);
		}
		if (r[i].first > r[i].last) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "an element's first value is above its last");
			return -EINVAL;
		}
	}
	s->nadd += n;
	return 0;
}

/* Is set s used by a rule of src? */
static bool nflab_set_used(struct nflab_src *src, const struct nflab_src_set *s)
{
	struct nflab_src_chain *c;
	const struct nlattr *a;
	unsigned int i;
	int rem;

	list_for_each_entry(c, &src->chains, list) {
		for (i = 0; i < c->n; i++) {
			if (!c->rules[i]->matches)
				continue;
			nla_for_each_nested(a, c->rules[i]->matches, rem) {
				const char *name;
				u8 field;

				name = nflab_match_set_name(a, &field);
				if (name && !strcmp(name, s->name))
					return true;
			}
		}
	}
	return false;
}

/* SET_NEW, SET_DEL, SET_ADD_ELEMS and SET_FLUSH. */
int nflab_set_nl_edit(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_SET_A_MAX + 1];
	u8 cmd = info->genlhdr->cmd;
	struct nflab_src_set *s;
	struct nflab_src *src;
	const char *name;
	int ret;

	ret = nflab_set_attrs(info, tb);
	if (ret)
		return ret;
	name = nla_data(tb[NFLAB_SET_A_NAME]);
	if (cmd != NFLAB_CMD_SET_NEW && tb[NFLAB_SET_A_TYPE]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_SET_A_TYPE],
				    "a set's type is given when it is created");
		return -EINVAL;
	}
	if ((cmd == NFLAB_CMD_SET_DEL || cmd == NFLAB_CMD_SET_FLUSH) &&
	    tb[NFLAB_SET_A_ELEMS]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_SET_A_ELEMS],
				    "this command takes no elements");
		return -EINVAL;
	}
	mutex_lock(&nn->rules_lock);
	src = nflab_txn(nn, skb, info);
	if (!src) {
		ret = -ENOENT;
		goto out_unlock;
	}
	s = nflab_src_set_find(src, name);
	if (cmd == NFLAB_CMD_SET_NEW) {
		if (!tb[NFLAB_SET_A_TYPE]) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_SET],
					    "a new set needs a type");
			ret = -EINVAL;
			goto out_unlock;
		}
		if (s) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_SET_A_NAME],
					    "a set has this name");
			ret = -EEXIST;
			goto out_unlock;
		}
		if (!nflab_name_ok(name, info, tb[NFLAB_SET_A_NAME])) {
			ret = -EINVAL;
			goto out_unlock;
		}
		if (src->nsets >= NFLAB_SETS_MAX) {
			NL_SET_ERR_MSG(info->extack, "too many sets");
			ret = -ENOSPC;
			goto out_unlock;
		}
		s = kzalloc(sizeof(*s), GFP_KERNEL_ACCOUNT);
		if (!s) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		strscpy(s->name, name, sizeof(s->name));
		s->type = nla_get_u8(tb[NFLAB_SET_A_TYPE]);
		if (tb[NFLAB_SET_A_ELEMS]) {
			ret = nflab_set_add_elems(s, tb[NFLAB_SET_A_ELEMS], info);
			if (ret) {
				kvfree(s->add);
				kfree(s);
				goto out_unlock;
			}
		}
		list_add_tail(&s->list, &src->sets);
		src->nsets++;
		goto out_unlock;
	}
	if (!s) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_SET_A_NAME], "no set has this name");
		ret = -ENOENT;
		goto out_unlock;
	}
	switch (cmd) {
	case NFLAB_CMD_SET_DEL:
		if (nflab_set_used(src, s)) {
			NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_SET_A_NAME],
					    "a rule uses this set");
			ret = -EBUSY;
			goto out_unlock;
		}
		nflab_set_data_put(s->data);
		kvfree(s->add);
		list_del(&s->list);
		kfree(s);
		src->nsets--;
		break;
	case NFLAB_CMD_SET_FLUSH:
		nflab_set_data_put(s->data);
		s->data = NULL;
		s->nadd = 0;
		break;
	case NFLAB_CMD_SET_ADD_ELEMS: {
		unsigned int nadd = s->nadd;

		if (!tb[NFLAB_SET_A_ELEMS]) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_SET],
					    "missing the elements");
			ret = -EINVAL;
			goto out_unlock;
		}
		ret = nflab_set_add_elems(s, tb[NFLAB_SET_A_ELEMS], info);
		if (ret)
			s->nadd = nadd;	/* all of the message or none */
		break;
	}
	}

out_unlock:
	mutex_unlock(&nn->rules_lock);
	return ret;
}

static int nflab_put_set_head(struct sk_buff *skb, const struct nflab_src_set *s,
			      u32 gen)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, NFLAB_A_SET);
	if (!nest ||
	    nla_put_string(skb, NFLAB_SET_A_NAME, s->name) ||
	    nla_put_u8(skb, NFLAB_SET_A_TYPE, s->type) ||
	    nla_put_u32(skb, NFLAB_SET_A_COUNT, s->data ? s->data->n : 0) ||
	    nla_put_u32(skb, NFLAB_SET_A_REFS, s->refs))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return nla_put_u32(skb, NFLAB_A_RULES_GEN, gen) ? -EMSGSIZE : 0;
}

/* As many of s's merged elements from *pos as fit; *pos moves on. */
static int nflab_put_set_elems(struct sk_buff *skb, const struct nflab_src_set *s,
			       unsigned long *pos, u32 gen)
{
	unsigned int esize = s->type == NFLAB_SET_TYPE_ADDR ? 8 : 4;
	const struct nflab_set_data *d = s->data;
	struct nlattr *nest, *elems;
	unsigned int room, n, i;
	u8 *p;

	nest = nla_nest_start(skb, NFLAB_A_SET);
	if (!nest || nla_put_string(skb, NFLAB_SET_A_NAME, s->name))
		return -EMSGSIZE;
	/* Room for the elements, the nest ends and the generation. */
	room = skb_tailroom(skb);
	if (room < 64 + esize)
		return -EMSGSIZE;
	n = min_t(unsigned int, (room - 64) / esize, d->n - *pos);
	n = min(n, 65000U / esize);
	elems = nla_reserve(skb, NFLAB_SET_A_ELEMS, n * esize);
	if (!elems)
		return -EMSGSIZE;
	p = nla_data(elems);
	for (i = 0; i < n; i++, p += esize) {
		const struct nflab_range *r = &d->r[*pos + i];

		if (esize == 8) {
			put_unaligned_be32(r->first, p);
			put_unaligned_be32(r->last, p + 4);
		} else {
			put_unaligned_be16(r->first, p);
			put_unaligned_be16(r->last, p + 2);
		}
	}
	nla_nest_end(skb, nest);
	if (nla_put_u32(skb, NFLAB_A_RULES_GEN, gen))
		return -EMSGSIZE;
	*pos += n;
	return 0;
}

/* SET_GET's request: TERSE in *flags, a name to dump only in *name. */
static int nflab_set_dump_check(struct netlink_callback *cb, unsigned long *flags,
				char **name)
{
	struct nlattr **attrs = nflab_dump_attrs(cb);
	struct nlattr *tb[NFLAB_SET_A_MAX + 1];
	struct nflab_src_set *found;
	struct nflab_net *nn;
	int ret;

	if (attrs[NFLAB_A_RULES_FLAGS])
		*flags = nla_get_u32(attrs[NFLAB_A_RULES_FLAGS]) &
			 NFLAB_RULES_F_TERSE;
	if (!attrs[NFLAB_A_SET])
		return 0;
	ret = nla_parse_nested(tb, NFLAB_SET_A_MAX, attrs[NFLAB_A_SET],
			       nflab_set_policy, cb->extack);
	if (ret)
		return ret;
	if (!tb[NFLAB_SET_A_NAME] || tb[NFLAB_SET_A_TYPE] || tb[NFLAB_SET_A_ELEMS]) {
		NL_SET_ERR_MSG_ATTR(cb->extack, attrs[NFLAB_A_SET],
				    "a set dump takes a name only");
		return -EINVAL;
	}
	nn = nflab_pernet(sock_net(cb->skb->sk));
	mutex_lock(&nn->rules_lock);
	found = nflab_src_set_find(&nn->rules_src, nla_data(tb[NFLAB_SET_A_NAME]));
	mutex_unlock(&nn->rules_lock);
	if (!found) {
		NL_SET_ERR_MSG_ATTR(cb->extack, tb[NFLAB_SET_A_NAME], "no set has this name");
		return -ENOENT;
	}
	if (name) {
		*name = kstrdup(nla_data(tb[NFLAB_SET_A_NAME]), GFP_KERNEL);
		if (!*name)
			return -ENOMEM;
	}
	return 0;
}

/*
 * args[2]: TERSE; args[3]: a name to dump only, copied; args[4]: start's
 * error is the first dump call's to report (6.1).
 */
int nflab_set_nl_dump_start(struct netlink_callback *cb)
{
	int ret = nflab_set_dump_check(cb, &cb->args[2], (char **)&cb->args[3]);

	if (nflab_dump_defer(cb, ret)) {
		cb->args[4] = 1;
		return 0;
	}
	return ret;
}

int nflab_set_nl_dump_done(struct netlink_callback *cb)
{
	kfree((void *)cb->args[3]);
	return 0;
}

/*
 * cb->args[0]: set index; [1]: 0 before its head message, then 1 + the
 * elements sent.
 */
int nflab_set_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nflab_net *nn = nflab_pernet(sock_net(skb->sk));
	const char *only;
	struct nflab_src_set *s;
	unsigned long si = 0, pos;
	void *hdr;

	/* 6.1: start's error again, now with an extack for its message. */
	if (cb->args[4]) {
		int ret;

		cb->args[4] = 0;
		ret = nflab_set_dump_check(cb, &cb->args[2], (char **)&cb->args[3]);
		if (ret)
			return ret;
	}
	only = (const char *)cb->args[3];

	nflab_rules_dump_lock(nn, cb);
	list_for_each_entry(s, &nn->rules_src.sets, list) {
		if (si++ < cb->args[0])
			continue;
		if (only && strcmp(only, s->name)) {
			cb->args[0] = si;
			continue;
		}
		if (!cb->args[1]) {
			hdr = nflab_rules_msg_put(skb, cb, NFLAB_CMD_SET_GET);
			if (!hdr)
				goto out_unlock;
			if (nflab_put_set_head(skb, s, nn->rules_gen)) {
				genlmsg_cancel(skb, hdr);
				goto out_unlock;
			}
			genlmsg_end(skb, hdr);
			cb->args[1] = 1;
		}
		while (!cb->args[2] && s->data && cb->args[1] - 1 < s->data->n) {
			pos = cb->args[1] - 1;
			hdr = nflab_rules_msg_put(skb, cb, NFLAB_CMD_SET_GET);
			if (!hdr)
				goto out_unlock;
			if (nflab_put_set_elems(skb, s, &pos, nn->rules_gen)) {
				genlmsg_cancel(skb, hdr);
				goto out_unlock;
			}
			genlmsg_end(skb, hdr);
			cb->args[1] = pos + 1;
		}
		cb->args[0] = si;
		cb->args[1] = 0;
	}
out_unlock:
	mutex_unlock(&nn->rules_lock);
	return skb->len;
}

int __init nflab_rules_nl_init(void)
{
	return netlink_register_notifier(&nflab_rules_notifier);
}

void nflab_rules_nl_exit(void)
{
	netlink_unregister_notifier(&nflab_rules_notifier);
}
