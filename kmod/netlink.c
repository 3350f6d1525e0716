// SPDX-License-Identifier: GPL-2.0
/*
 * The "nflab" generic netlink family. nlproto/nflab.h documents every
 * command and attribute.
 */

#include <net/genetlink.h>
#include <net/netlink.h>

#include "nflab.h"

/*
 * Build and send the reply to a do command: fill() adds the attributes and
 * returns -EMSGSIZE when they do not fit, which frees the message.
 */
int nflab_nl_reply(struct genl_info *info, u8 cmd,
		   int (*fill)(struct sk_buff *msg, const void *arg),
		   const void *arg)
{
	return nflab_nl_reply_size(info, cmd, NLMSG_GOODSIZE, fill, arg);
}

/* As nflab_nl_reply(), for replies that may need more than a page. */
int nflab_nl_reply_size(struct genl_info *info, u8 cmd, size_t size,
			int (*fill)(struct sk_buff *msg, const void *arg),
			const void *arg)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &nflab_genl_family, 0, cmd);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_free_msg;
	}
	ret = fill(msg, arg);
	if (ret)
		goto err_free_msg;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free_msg:
	nlmsg_free(msg);
	return ret;
}

static_assert(sizeof(NFLAB_MODULE_VERSION) <= NFLAB_VERSION_MAXLEN);

static int nflab_fill_version(struct sk_buff *msg, const void *arg)
{
	if (nla_put_string(msg, NFLAB_A_VERSION, NFLAB_MODULE_VERSION) ||
	    nla_put_u32(msg, NFLAB_A_PROTO_VERSION, NFLAB_PROTO_VERSION) ||
	    nla_put_u32(msg, NFLAB_A_PROTO_COMPAT, NFLAB_PROTO_COMPAT))
		return -EMSGSIZE;
	return 0;
}

static int nflab_nl_get_version(struct sk_buff *skb, struct genl_info *info)
{
	return nflab_nl_reply(info, NFLAB_CMD_GET_VERSION, nflab_fill_version, NULL);
}

/* Packets nflab counted at hook and did not drop there. */
static u64 nflab_hook_passed(const struct nflab_hook_totals *t, unsigned int hook)
{
	const u64 *d = t->drops[hook];

	return t->packets[hook] - d[NFLAB_DROP_RULE] - d[NFLAB_DROP_FULL] -
	       d[NFLAB_DROP_NAT];
}

/*
 * What left a hook and never reached the next: PRE_ROUTING goes to
 * LOCAL_IN or FORWARD, FORWARD to POST_ROUTING (counted there as
 * forwarded), LOCAL_OUT to POST_ROUTING (the rest of it). Clones and
 * packets still queued make it approximate; it never goes below 0.
 */
static u64 nflab_hook_unseen(const struct nflab_hook_totals *t, unsigned int hook)
{
	u64 out = nflab_hook_passed(t, hook), next;

	switch (hook) {
	case NF_INET_PRE_ROUTING:
		next = t->packets[NF_INET_LOCAL_IN] + t->packets[NF_INET_FORWARD];
		break;
	case NF_INET_FORWARD:
		next = t->forwarded;
		break;
	default:	/* LOCAL_OUT */
		next = t->packets[NF_INET_POST_ROUTING] - t->forwarded;
		break;
	}
	return out > next ? out - next : 0;
}

static int nflab_put_hook(struct sk_buff *msg, unsigned int hook,
			  const struct nflab_hook_totals *t)
{
	const u64 *d = t->drops[hook];
	struct nlattr *nest;

	nest = nla_nest_start(msg, NFLAB_A_HOOK);
	if (!nest)
		return -EMSGSIZE;

	if (nla_put_u32(msg, NFLAB_HOOK_A_HOOKNUM, hook) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_PACKETS, t->packets[hook],
			      NFLAB_HOOK_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_BYTES, t->bytes[hook],
			      NFLAB_HOOK_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_DROP_RULE, d[NFLAB_DROP_RULE],
			      NFLAB_HOOK_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_DROP_INVALID,
			      d[NFLAB_DROP_INVALID], NFLAB_HOOK_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_DROP_FULL, d[NFLAB_DROP_FULL],
			      NFLAB_HOOK_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_HOOK_A_DROP_NAT, d[NFLAB_DROP_NAT],
			      NFLAB_HOOK_A_PAD) ||
	    ((hook == NF_INET_PRE_ROUTING || hook == NF_INET_FORWARD ||
	      hook == NF_INET_LOCAL_OUT) &&
	     nla_put_u64_64bit(msg, NFLAB_HOOK_A_UNSEEN_AFTER,
			       nflab_hook_unseen(t, hook), NFLAB_HOOK_A_PAD))) {
		nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}

	nla_nest_end(msg, nest);
	return 0;
}

static int nflab_fill_hook_stats(struct sk_buff *msg, const void *arg)
{
	const struct nflab_hook_totals *t = arg;
	struct nlattr *hooks;
	unsigned int hook;

	hooks = nla_nest_start(msg, NFLAB_A_HOOKS);
	if (!hooks)
		return -EMSGSIZE;
	for (hook = 0; hook < NF_INET_NUMHOOKS; hook++)
		if (nflab_put_hook(msg, hook, t))
			return -EMSGSIZE;
	nla_nest_end(msg, hooks);
	return 0;
}

static int nflab_nl_get_hook_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_hook_totals t;

	nflab_hook_stats_get(nflab_pernet(genl_info_net(info)), &t);
	return nflab_nl_reply(info, NFLAB_CMD_GET_HOOK_STATS, nflab_fill_hook_stats, &t);
}

static int nflab_nl_reset_hook_stats(struct sk_buff *skb,
				     struct genl_info *info)
{
	nflab_hook_stats_reset(nflab_pernet(genl_info_net(info)));
	return 0;
}

/*
 * An op without a policy in a family with resv_start_op 0 gets the core's
 * reject-all policy: any attribute fails strict validation with an extack
 * message, as does a non-zero reserved header field or a stray nlmsg flag.
 * Conntrack dumps, deletes, flushes and config changes need CAP_NET_ADMIN:
 * flows reveal other users' connections. So does everything about rules:
 * reading them reveals the firewall.
 */
static const struct genl_ops nflab_genl_ops[] = {
	{
		.cmd		= NFLAB_CMD_GET_VERSION,
		.doit		= nflab_nl_get_version,
	},
	{
		.cmd		= NFLAB_CMD_GET_HOOK_STATS,
		.doit		= nflab_nl_get_hook_stats,
	},
	{
		.cmd		= NFLAB_CMD_RESET_HOOK_STATS,
		.doit		= nflab_nl_reset_hook_stats,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CT_GET,
		.doit		= nflab_ct_nl_get_doit,
		.start		= nflab_ct_nl_get_start,
		.dumpit		= nflab_ct_nl_get_dumpit,
		.policy		= nflab_ct_get_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CT_DELETE,
		.doit		= nflab_ct_nl_delete,
		.policy		= nflab_ct_delete_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CT_FLUSH,
		.doit		= nflab_ct_nl_flush,
		.policy		= nflab_ct_delete_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CT_COUNT,
		.doit		= nflab_ct_nl_count,
	},
	{
		.cmd		= NFLAB_CMD_CT_STATS,
		.doit		= nflab_ct_nl_stats,
	},
	{
		.cmd		= NFLAB_CMD_CT_GET_CONFIG,
		.doit		= nflab_ct_nl_get_config,
	},
	{
		.cmd		= NFLAB_CMD_CT_SET_CONFIG,
		.doit		= nflab_ct_nl_set_config,
		.policy		= nflab_ct_set_config_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CT_GC,
		.doit		= nflab_ct_nl_gc,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULES_BEGIN,
		.doit		= nflab_rules_nl_begin,
		.policy		= nflab_rules_begin_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULES_COMMIT,
		.doit		= nflab_rules_nl_commit,
		.policy		= nflab_rules_commit_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULES_ABORT,
		.doit		= nflab_rules_nl_abort,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CHAIN_NEW,
		.doit		= nflab_chain_nl_edit,
		.policy		= nflab_chain_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CHAIN_DEL,
		.doit		= nflab_chain_nl_edit,
		.policy		= nflab_chain_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CHAIN_POLICY,
		.doit		= nflab_chain_nl_edit,
		.policy		= nflab_chain_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_CHAIN_GET,
		.dumpit		= nflab_chain_nl_dump,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULE_NEW,
		.doit		= nflab_rule_nl_new,
		.policy		= nflab_rule_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULE_DEL,
		.doit		= nflab_rule_nl_del,
		.policy		= nflab_rule_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULE_REPLACE,
		.doit		= nflab_rule_nl_replace,
		.policy		= nflab_rule_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULE_GET,
		.doit		= nflab_rule_nl_get,
		.start		= nflab_rule_nl_dump_start,
		.dumpit		= nflab_rule_nl_dump,
		.policy		= nflab_rule_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_RULE_RESET,
		.doit		= nflab_rule_nl_reset,
		.policy		= nflab_rule_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_SET_NEW,
		.doit		= nflab_set_nl_edit,
		.policy		= nflab_set_edit_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_SET_DEL,
		.doit		= nflab_set_nl_edit,
		.policy		= nflab_set_edit_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_SET_ADD_ELEMS,
		.doit		= nflab_set_nl_edit,
		.policy		= nflab_set_edit_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_SET_FLUSH,
		.doit		= nflab_set_nl_edit,
		.policy		= nflab_set_edit_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_SET_GET,
		.start		= nflab_set_nl_dump_start,
		.dumpit		= nflab_set_nl_dump,
		.done		= nflab_set_nl_dump_done,
		.policy		= nflab_set_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_TRACE_NEW,
		.doit		= nflab_trace_nl_new,
		.policy		= nflab_trace_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_TRACE_DEL,
		.doit		= nflab_trace_nl_del,
		.policy		= nflab_trace_op_policy,
		.maxattr	= NFLAB_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
	{
		.cmd		= NFLAB_CMD_TRACE_GET,
		.dumpit		= nflab_trace_nl_dump,
		.flags		= GENL_ADMIN_PERM,
	},
};

/* Flow events and traces reveal other users' connections, like dumps. */
static const struct genl_multicast_group nflab_mcgrps[] = {
	[NFLAB_MCGRP_CT_ID] = {
		.name	= NFLAB_MCGRP_CT,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
	[NFLAB_MCGRP_TRACE_ID] = {
		.name	= NFLAB_MCGRP_TRACE,
		.flags	= GENL_MCAST_CAP_NET_ADMIN,
	},
};

struct genl_family nflab_genl_family __ro_after_init = {
	.name		= NFLAB_GENL_NAME,
	.version	= NFLAB_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= nflab_genl_ops,
	.n_ops		= ARRAY_SIZE(nflab_genl_ops),
	.mcgrps		= nflab_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(nflab_mcgrps),
};

int __init nflab_netlink_init(void)
{
	int ret;

	ret = nflab_rules_nl_init();
	if (ret)
		return ret;
	ret = genl_register_family(&nflab_genl_family);
	if (ret)
		goto err_rules_exit;
	return 0;

err_rules_exit:
	nflab_rules_nl_exit();
	return ret;
}

void nflab_netlink_exit(void)
{
	genl_unregister_family(&nflab_genl_family);
	nflab_rules_nl_exit();
}
