// SPDX-License-Identifier: GPL-2.0
/*
 * The rule engine: rules and their state, the source of a namespace's
 * ruleset, compiling it, publishing it with one RCU pointer swap, the hooks
 * of the tables, and evaluating chains on the packet path. rules.h explains
 * the layers and who frees what.
 *
 * The packet path reads the compiled ruleset under the RCU read lock that
 * nf_hook_slow() holds, takes no lock and allocates nothing: counters are
 * per-CPU, stateful matches use atomics. Three exceptions, each bounded:
 * connlimit keeps its record under a bucket lock, as nf_conncount does
 * (connlimit.c); a ct match on a flow's first packet checks its cookie in
 * the in-flight table under that bucket's lock, which the tracking hook
 * took a moment before; and the log action's rate limit is a trylock. A
 * namespace without rules for a table's hook has no hook registered for it
 * (the raw table, evaluated by the tracking hook, costs one pointer test).
 */

#include <linux/ip.h>
#include <linux/moduleparam.h>
#include <linux/netfilter_ipv4.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <net/route.h>

#include "nflab.h"
#include "rules.h"
#include "trace.h"

static unsigned int nflab_rules_max __read_mostly = NFLAB_RULES_MAX;
module_param_named(rules_max, nflab_rules_max, uint, 0644);
MODULE_PARM_DESC(rules_max, "Most rules a namespace may commit (default and most: 100000)");

/*
 * Most rule checks one packet may cost at one hook, over all its jumps. As
 * with iptables, an administrator can still make a packet expensive: each
 * check may be 16 matches, a string search among them.
 */
#define NFLAB_EVAL_MAX	(4U * NFLAB_RULES_MAX)

const char *const nflab_hook_chain_names[NF_INET_NUMHOOKS] = {
	[NF_INET_PRE_ROUTING]	= "prerouting",
	[NF_INET_LOCAL_IN]	= "input",
	[NF_INET_FORWARD]	= "forward",
	[NF_INET_LOCAL_OUT]	= "output",
	[NF_INET_POST_ROUTING]	= "postrouting",
};

static const char *const nflab_table_names[NFLAB_NTABLES] = {
	[NFLAB_TABLE_RAW]	= "raw",
	[NFLAB_TABLE_MANGLE]	= "mangle",
	[NFLAB_TABLE_FILTER]	= "filter",
	[NFLAB_TABLE_NAT]	= "nat",
};

#define H(x)	BIT(NF_INET_##x)
const u8 nflab_table_hooks[NFLAB_NTABLES] = {
	[NFLAB_TABLE_RAW]	= H(PRE_ROUTING) | H(LOCAL_OUT),
	[NFLAB_TABLE_MANGLE]	= H(PRE_ROUTING) | H(LOCAL_IN) | H(FORWARD) |
				  H(LOCAL_OUT) | H(POST_ROUTING),
	[NFLAB_TABLE_FILTER]	= H(LOCAL_IN) | H(FORWARD) | H(LOCAL_OUT),
	[NFLAB_TABLE_NAT]	= H(PRE_ROUTING) | H(LOCAL_IN) | H(LOCAL_OUT) |
				  H(POST_ROUTING),
};

/* Raw runs inside the tracking hook, so has no priority of its own. */
static const int nflab_table_prio[NFLAB_NTABLES] = {
	[NFLAB_TABLE_MANGLE]	= NF_IP_PRI_MANGLE,
	[NFLAB_TABLE_FILTER]	= NF_IP_PRI_FILTER,
};

/* Rules */

static void nflab_rule_free(struct nflab_rule *r)
{
	unsigned int i;

	for (i = 0; i < r->nmatch; i++) {
		if (r->st[i].ts)
			textsearch_destroy(r->st[i].ts);
		nflab_connlimit_free(r->st[i].cl);
	}
	free_percpu(r->cnt);
	kfree(r->matches);
	kfree(r->action);
	kfree(r->comment);
	kfree(r);
}

/* Process context only: see rules.h. */
void nflab_rule_put(struct nflab_rule *r)
{
	if (r && refcount_dec_and_test(&r->ref))
		nflab_rule_free(r);
}

/*
 * A rule from RULE_NEW's attributes, checked as far as it can be alone
 * (jump targets and sets are checked at commit).
 */
struct nflab_rule *nflab_rule_create(const struct nlattr *matches,
				     const struct nlattr *action,
				     const struct nlattr *comment, u8 table,
				     u64 handle, struct netlink_ext_ack *extack)
{
	struct nflab_rule_c rc = {};
	struct nflab_match_c m;
	const struct nlattr *a;
	struct nflab_rule *r;
	unsigned int n = 0, i;
	int rem, ret;

	if (matches) {
		nla_for_each_nested(a, matches, rem) {
			if (n == NFLAB_RULE_MATCHES_MAX) {
				NL_SET_ERR_MSG_ATTR(extack, a, "too many matches");
				return ERR_PTR(-E2BIG);
			}
			ret = nflab_match_decode(a, &m, NULL, table, extack);
			if (ret)
				return ERR_PTR(ret);
			n++;
		}
	}
	ret = nflab_action_decode(action, &rc, table, extack);
	if (ret)
		return ERR_PTR(ret);

	r = kzalloc(struct_size(r, st, n), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	refcount_set(&r->ref, 1);
	/* The log action's lines: as net_ratelimit(), but this rule's own. */
	ratelimit_state_init(&r->log_rs, 5 * HZ, 10);
	/* No "callbacks suppressed" line naming a function of ours. */
	ratelimit_set_flags(&r->log_rs, RATELIMIT_MSG_ON_RELEASE);
	r->handle = handle;
	r->table = table;
	r->nmatch = n;
	r->cnt = netdev_alloc_pcpu_stats(struct nflab_rule_pcpu);
	r->action = kmemdup(action, action->nla_len, GFP_KERNEL_ACCOUNT);
	if (matches)
		r->matches = kmemdup(matches, matches->nla_len, GFP_KERNEL_ACCOUNT);
	if (comment)
		r->comment = kstrdup(nla_data(comment), GFP_KERNEL_ACCOUNT);
	if (!r->cnt || !r->action || (matches && !r->matches) ||
	    (comment && !r->comment)) {
		ret = -ENOMEM;
		goto err_free_rule;
	}
	i = 0;
	if (r->matches) {
		nla_for_each_nested(a, r->matches, rem) {
			ret = nflab_match_init_state(a, &r->st[i++]);
			if (ret) {
				/* a is our copy: no offset in the request. */
				NL_SET_ERR_MSG(extack, "cannot set up a match's state");
				goto err_free_rule;
			}
		}
	}
	return r;

err_free_rule:
	nflab_rule_free(r);
	return ERR_PTR(ret);
}

static void nflab_rule_sum(const struct nflab_rule *r, u64 *packets, u64 *bytes)
{
	int cpu;

	*packets = 0;
	*bytes = 0;
	for_each_possible_cpu(cpu) {
		const struct nflab_rule_pcpu *s = per_cpu_ptr(r->cnt, cpu);
		unsigned int start;
		u64 p, b;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			p = u64_stats_read(&s->packets);
			b = u64_stats_read(&s->bytes);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		*packets += p;
		*bytes += b;
	}
}

/* Counters since the rule was added or reset. Under rules_lock. */
void nflab_rule_counters(const struct nflab_rule *r, u64 *packets, u64 *bytes)
{
	nflab_rule_sum(r, packets, bytes);
	*packets -= r->base_packets;
	*bytes -= r->base_bytes;
}

/*
 * Zero a rule's counters and state. Per-CPU counters belong to their CPU,
 * so a reset records a base that reads subtract (as hooks.c does). Racing
 * packets may land before or after; RULE_RESET promises no more.
 */
void nflab_rule_reset(struct nflab_rule *r)
{
	unsigned int i;

	nflab_rule_sum(r, &r->base_packets, &r->base_bytes);
	for (i = 0; i < r->nmatch; i++)
		atomic64_set(&r->st[i].v, 0);
}

static void nflab_rule_count(struct nflab_rule *r, unsigned int len)
{
	struct nflab_rule_pcpu *s;
	unsigned long flags;

	/* LOCAL_OUT may run preemptible, in process context: as hooks.c. */
	s = get_cpu_ptr(r->cnt);
	flags = u64_stats_update_begin_irqsave(&s->syncp);
	u64_stats_inc(&s->packets);
	u64_stats_add(&s->bytes, len);
	u64_stats_update_end_irqrestore(&s->syncp, flags);
	put_cpu_ptr(r->cnt);
}

/* The source */

static struct nflab_src_chain *nflab_src_chain_new(struct nflab_src *src,
						   u8 table, s8 hook,
						   const char *name)
{
	struct nflab_src_chain *c;

	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return NULL;
	strscpy(c->name, name, sizeof(c->name));
	c->table = table;
	c->hook = hook;
	c->policy = NFLAB_VERDICT_ACCEPT;
	list_add_tail(&c->list, &src->chains);
	return c;
}

static void nflab_src_chain_free(struct nflab_src_chain *c)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		nflab_rule_put(c->rules[i]);
	kvfree(c->rules);
	list_del(&c->list);
	kfree(c);
}

static void nflab_src_set_free(struct nflab_src_set *s)
{
	nflab_set_data_put(s->data);
	kvfree(s->add);
	list_del(&s->list);
	kfree(s);
}

void nflab_src_init(struct nflab_src *src)
{
	INIT_LIST_HEAD(&src->chains);
	INIT_LIST_HEAD(&src->sets);
	src->nrules = 0;
	src->nchains = 0;
	src->nsets = 0;
}

void nflab_src_free(struct nflab_src *src)
{
	struct nflab_src_chain *c, *cn;
	struct nflab_src_set *s, *sn;

	list_for_each_entry_safe(c, cn, &src->chains, list)
		nflab_src_chain_free(c);
	list_for_each_entry_safe(s, sn, &src->sets, list)
		nflab_src_set_free(s);
	nflab_src_init(src);
}

/* An empty ruleset: every built-in chain, empty and accepting. */
int nflab_src_empty(struct nflab_src *src)
{
	unsigned int t, h;

	nflab_src_init(src);
	for (t = 1; t < NFLAB_NTABLES; t++)
		for (h = 0; h < NF_INET_NUMHOOKS; h++)
			if ((nflab_table_hooks[t] & BIT(h)) &&
			    !nflab_src_chain_new(src, t, h, nflab_hook_chain_names[h])) {
				nflab_src_free(src);
				return -ENOMEM;
			}
	return 0;
}

/* dst (initialised, empty) becomes a copy of src sharing its rules. */
int nflab_src_copy(struct nflab_src *dst, const struct nflab_src *src)
{
	const struct nflab_src_chain *c;
	const struct nflab_src_set *s;

	nflab_src_init(dst);
	list_for_each_entry(c, &src->chains, list) {
		struct nflab_src_chain *nc;
		unsigned int i;

		nc = nflab_src_chain_new(dst, c->table, c->hook, c->name);
		if (!nc)
			goto err_free_dst;
		nc->policy = c->policy;
		if (!c->n)
			continue;
		nc->rules = kvmalloc_array(c->n, sizeof(*nc->rules),
					   GFP_KERNEL_ACCOUNT);
		if (!nc->rules)
			goto err_free_dst;
		nc->cap = c->n;
		for (i = 0; i < c->n; i++) {
			refcount_inc(&c->rules[i]->ref);
			nc->rules[i] = c->rules[i];
		}
		nc->n = c->n;
	}
	list_for_each_entry(s, &src->sets, list) {
		struct nflab_src_set *ns;

		ns = kzalloc(sizeof(*ns), GFP_KERNEL_ACCOUNT);
		if (!ns)
			goto err_free_dst;
		strscpy(ns->name, s->name, sizeof(ns->name));
		ns->type = s->type;
		ns->data = s->data;
		if (ns->data)
			refcount_inc(&ns->data->ref);
		list_add_tail(&ns->list, &dst->sets);
	}
	dst->nrules = src->nrules;
	dst->nchains = src->nchains;
	dst->nsets = src->nsets;
	return 0;

err_free_dst:
	nflab_src_free(dst);
	return -ENOMEM;
}

struct nflab_src_chain *nflab_src_chain_find(struct nflab_src *src, u8 table,
					     const char *name)
{
	struct nflab_src_chain *c;

	list_for_each_entry(c, &src->chains, list)
		if (c->table == table && !strcmp(c->name, name))
			return c;
	return NULL;
}

struct nflab_src_set *nflab_src_set_find(struct nflab_src *src,
					 const char *name)
{
	struct nflab_src_set *s;

	list_for_each_entry(s, &src->sets, list)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

/* Compiling */

static void nflab_rs_free(struct nflab_rs *rs)
{
	unsigned int i, j;

	if (!rs)
		return;
	for (i = 0; i < rs->nchains; i++) {
		struct nflab_chain_c *c = &rs->chains[i];

		for (j = 0; j < c->n; j++) {
			kfree(c->r[j].m);
			nflab_rule_put(c->r[j].rule);
		}
		kvfree(c->r);
	}
	kvfree(rs->chains);
	for (i = 0; i < rs->nsets; i++)
		nflab_set_data_put(rs->sets[i]);
	kfree(rs->sets);
	kfree(rs->set_refs);
	kfree(rs);
}

struct nflab_compile {
	struct nflab_src	*src;
	struct nflab_rs		*rs;
	struct nflab_src_chain	**chains;	/* by index in rs->chains */
	u8			*color;		/* loop check: 0 new, 1 open, 2 done */
	u8			*depth;
	u64			*cost;
	u8			*hooks;		/* the hooks each chain runs at */
	struct netlink_ext_ack	*extack;
};

static int nflab_chain_index(struct nflab_compile *cc, u8 table, const char *name)
{
	unsigned int i;

	for (i = 0; i < cc->rs->nchains; i++)
		if (cc->chains[i]->table == table && !strcmp(cc->chains[i]->name, name))
			return i;
	return -1;
}

static int nflab_set_index(struct nflab_compile *cc, const char *name)
{
	struct nflab_src_set *s;
	int i = 0;

	list_for_each_entry(s, &cc->src->sets, list) {
		if (!strcmp(s->name, name))
			return i;
		i++;
	}
	return -1;
}

#ifndef NL_SET_ERR_MSG_FMT
/*
 * 6.1: the message must outlive the request's handler until netlink_ack()
 * copies it. A buffer is written again only after NFLAB_MSG_RING other
 * formatted errors, and its last byte is never written, so a reader always
 * finds a NUL in it.
 */
#define NFLAB_MSG_RING	64
static char nflab_msgs[NFLAB_MSG_RING][NFLAB_MSG_LEN];
static atomic_t nflab_msg_next = ATOMIC_INIT(0);
#endif

void nflab_err_fmt(struct netlink_ext_ack *extack, const char *fmt, ...)
{
	char msg[NFLAB_MSG_LEN];
	va_list args;

	if (!extack)
		return;
	va_start(args, fmt);
	vsnprintf(msg, sizeof(msg), fmt, args);
	va_end(args);
#ifdef NL_SET_ERR_MSG_FMT
	NL_SET_ERR_MSG_FMT(extack, "%s", msg);
#else
	{
		char *buf = nflab_msgs[(unsigned int)atomic_inc_return(&nflab_msg_next) %
				       NFLAB_MSG_RING];

		memcpy(buf, msg, NFLAB_MSG_LEN - 1);
		extack->_msg = buf;
	}
#endif
}

/* "rule 3 (handle 17) in filter/forward: ..." */
__printf(4, 5)
static void rule_err(struct nflab_compile *cc, const struct nflab_src_chain *c,
		     unsigned int i, const char *fmt, ...)
{
	char what[NFLAB_MSG_LEN];
	va_list args;

	va_start(args, fmt);
	vsnprintf(what, sizeof(what), fmt, args);
	va_end(args);
	nflab_err_fmt(cc->extack, "rule %u (handle %llu) in %s/%s: %s",
		      i + 1, c->rules[i]->handle, nflab_table_names[c->table],
		      c->name, what);
}

static int nflab_compile_rule(struct nflab_compile *cc, struct nflab_src_chain *c,
			      unsigned int i, struct nflab_rule_c *rc)
{
	struct nflab_rule *r = c->rules[i];
	const struct nlattr *a;
	const char *target;
	unsigned int k = 0;
	int rem, ret, idx;
	u8 type;

	rc->m = kcalloc(max(r->nmatch, 1U), sizeof(*rc->m), GFP_KERNEL_ACCOUNT);
	if (!rc->m)
		return -ENOMEM;
	refcount_inc(&r->ref);
	rc->rule = r;
	if (r->matches) {
		nla_for_each_nested(a, r->matches, rem) {
			struct nflab_match_c *m = &rc->m[k];
			const char *name;
			bool is_port, port_set;
			u8 field;

			ret = nflab_match_decode(a, m, &r->st[k], c->table, NULL);
			if (ret)
				return ret;
			k++;
			name = nflab_match_set_name(a, &field);
			if (!name)
				continue;
			idx = nflab_set_index(cc, name);
			if (idx < 0) {
				rule_err(cc, c, i, "no set named \"%s\"", name);
				return -ENOENT;
			}
			m->set.data = cc->rs->sets[idx];
			cc->rs->set_refs[idx]++;
			is_port = field == NFLAB_SET_FIELD_SPORT ||
				  field == NFLAB_SET_FIELD_DPORT;
			port_set = m->set.data->type == NFLAB_SET_TYPE_PORT;
			if (is_port != port_set) {
				rule_err(cc, c, i, "set \"%s\" holds %s", name,
					 m->set.data->type == NFLAB_SET_TYPE_PORT ?
					 "ports, not addresses" : "addresses, not ports");
				return -EINVAL;
			}
		}
	}
	rc->nmatch = k;
	ret = nflab_action_decode(r->action, rc, c->table, NULL);
	if (ret)
		return ret;
	if (nflab_action_is_nat(rc->action) && rc->nat.port_min) {
		bool l4 = false;

		/* Ports exist for TCP and UDP only, as iptables' --to-ports. */
		for (k = 0; k < rc->nmatch; k++)
			if (rc->m[k].kind == NFLAB_MATCH_PROTO && !rc->m[k].invert &&
			    (rc->m[k].proto == IPPROTO_TCP ||
			     rc->m[k].proto == IPPROTO_UDP))
				l4 = true;
		if (!l4) {
			rule_err(cc, c, i, "a port range needs the rule to match protocol tcp or udp");
			return -EINVAL;
		}
	}
	target = nflab_action_chain(r->action, &type);
	if (!target)
		return 0;
	idx = nflab_chain_index(cc, c->table, target);
	if (idx < 0 || cc->chains[idx]->hook >= 0) {
		rule_err(cc, c, i, "%s to %s chain \"%s\"",
			 type == NFLAB_ACTION_JUMP ? "jump" : "goto",
			 idx < 0 ? "unknown" : "built-in", target);
		return idx < 0 ? -ENOENT : -EINVAL;
	}
	rc->target = &cc->rs->chains[idx];
	return 0;
}

/*
 * Depth-first over jumps and gotos from chain ci: no chain may reach
 * itself, jumps nest at most NFLAB_JUMP_DEPTH deep, and a packet's worst
 * case stays below NFLAB_EVAL_MAX rule checks. The recursion is bounded by
 * the depth check (and runs in process context).
 */
static int nflab_check_chain(struct nflab_compile *cc, unsigned int ci)
{
	struct nflab_chain_c *c = &cc->rs->chains[ci];
	struct nflab_src_chain *sc = cc->chains[ci];
	u64 cost = c->n;
	u8 depth = 0;
	unsigned int i;
	int ret;

	if (cc->color[ci] == 2)
		return 0;
	cc->color[ci] = 1;
	for (i = 0; i < c->n; i++) {
		unsigned int ti;

		if (!c->r[i].target)
			continue;
		ti = c->r[i].target - cc->rs->chains;
		if (cc->color[ti] == 1) {
			rule_err(cc, sc, i, "jump to \"%s\" loops back to it",
				 cc->chains[ti]->name);
			return -ELOOP;
		}
		ret = nflab_check_chain(cc, ti);
		if (ret)
			return ret;
		depth = max_t(u8, depth, cc->depth[ti] + 1);
		cost += cc->cost[ti];
		if (depth > NFLAB_JUMP_DEPTH) {
			rule_err(cc, sc, i, "jumps nest deeper than %d",
				 NFLAB_JUMP_DEPTH);
			return -EMLINK;
		}
		if (cost > NFLAB_EVAL_MAX) {
			rule_err(cc, sc, i, "a packet could take more than %u rule checks",
				 NFLAB_EVAL_MAX);
			return -E2BIG;
		}
	}
	cc->depth[ci] = depth;
	cc->cost[ci] = cost;
	cc->color[ci] = 2;
	return 0;
}

/*
 * Mark the hooks chain ci runs at, and those of the chains it reaches.
 * Bounded: the chains are acyclic and a chain already marked with these
 * hooks is not walked again.
 */
static void nflab_reach(struct nflab_compile *cc, unsigned int ci, u8 hooks)
{
	struct nflab_chain_c *c = &cc->rs->chains[ci];
	unsigned int i;

	if ((cc->hooks[ci] & hooks) == hooks)
		return;
	cc->hooks[ci] |= hooks;
	for (i = 0; i < c->n; i++)
		if (c->r[i].target)
			nflab_reach(cc, c->r[i].target - cc->rs->chains, hooks);
}

/* Interfaces a chain's hooks do not have: iif after routing out, oif before. */
static int nflab_check_hooks(struct nflab_compile *cc, unsigned int ci)
{
	const u8 no_in = BIT(NF_INET_LOCAL_OUT) | BIT(NF_INET_POST_ROUTING);
	const u8 no_out = BIT(NF_INET_PRE_ROUTING) | BIT(NF_INET_LOCAL_IN);
	struct nflab_chain_c *c = &cc->rs->chains[ci];
	unsigned int i, k;

	for (i = 0; i < c->n; i++) {
		u8 act = c->r[i].action, ok = 0;

		/* Where each NAT action may act, as the kernel's nat hooks. */
		if (act == NFLAB_ACTION_DNAT || act == NFLAB_ACTION_REDIRECT)
			ok = BIT(NF_INET_PRE_ROUTING) | BIT(NF_INET_LOCAL_OUT);
		else if (act == NFLAB_ACTION_SNAT)
			ok = BIT(NF_INET_POST_ROUTING) | BIT(NF_INET_LOCAL_IN);
		else if (act == NFLAB_ACTION_MASQUERADE)
			ok = BIT(NF_INET_POST_ROUTING);
		if (nflab_action_is_nat(act) && (cc->hooks[ci] & ~ok)) {
			rule_err(cc, cc->chains[ci], i,
				 "%s cannot act at a hook this chain runs at",
				 nflab_action_name(act));
			return -EINVAL;
		}
		for (k = 0; k < c->r[i].nmatch; k++) {
			u8 kind = c->r[i].m[k].kind;

			if ((kind == NFLAB_MATCH_IIF && (cc->hooks[ci] & no_in)) ||
			    (kind == NFLAB_MATCH_OIF && (cc->hooks[ci] & no_out))) {
				rule_err(cc, cc->chains[ci], i,
					 "%s cannot match at a hook this chain runs at",
					 kind == NFLAB_MATCH_IIF ? "iif" : "oif");
				return -EINVAL;
			}
		}
	}
	return 0;
}

static struct nflab_rs *nflab_rs_build(struct nflab_src *src,
				       struct netlink_ext_ack *extack)
{
	struct nflab_compile cc = { .src = src, .extack = extack };
	struct nflab_src_chain *c;
	struct nflab_src_set *s;
	unsigned int n = 0, i;
	struct nflab_rs *rs;
	int ret = -ENOMEM;

	if (src->nrules > READ_ONCE(nflab_rules_max)) {
		nflab_err_fmt(extack, "%u rules: more than rules_max, %u",
			      src->nrules, READ_ONCE(nflab_rules_max));
		return ERR_PTR(-ENOSPC);
	}
	rs = kzalloc(sizeof(*rs), GFP_KERNEL_ACCOUNT);
	if (!rs)
		return ERR_PTR(-ENOMEM);
	list_for_each_entry(c, &src->chains, list)
		n++;
	rs->chains = kvcalloc(n, sizeof(*rs->chains), GFP_KERNEL_ACCOUNT);
	cc.chains = kvcalloc(n, sizeof(*cc.chains), GFP_KERNEL);
	cc.color = kvcalloc(n, 1, GFP_KERNEL);
	cc.depth = kvcalloc(n, 1, GFP_KERNEL);
	cc.cost = kvcalloc(n, sizeof(*cc.cost), GFP_KERNEL);
	rs->sets = kcalloc(max(src->nsets, 1U), sizeof(*rs->sets), GFP_KERNEL_ACCOUNT);
	rs->set_refs = kcalloc(max(src->nsets, 1U), sizeof(*rs->set_refs), GFP_KERNEL);
	cc.hooks = kvcalloc(n, 1, GFP_KERNEL);
	if (!rs->chains || !cc.chains || !cc.color || !cc.depth || !cc.cost ||
	    !rs->sets || !rs->set_refs || !cc.hooks)
		goto err_free;
	rs->nchains = n;
	cc.rs = rs;

	i = 0;
	list_for_each_entry(s, &src->sets, list) {
		/* A set this transaction did not add to is reused as is. */
		if (s->data && !s->nadd) {
			refcount_inc(&s->data->ref);
			rs->sets[i] = s->data;
		} else {
			rs->sets[i] = nflab_set_build(s);
		}
		if (!rs->sets[i])
			goto err_free;
		rs->nsets = ++i;
		cond_resched();
	}
	i = 0;
	list_for_each_entry(c, &src->chains, list)
		cc.chains[i++] = c;
	for (i = 0; i < n; i++) {
		struct nflab_chain_c *cp = &rs->chains[i];
		unsigned int k;

		c = cc.chains[i];
		cp->policy = c->policy == NFLAB_VERDICT_DROP ? NF_DROP : NF_ACCEPT;
		strscpy(cp->name, c->name, sizeof(cp->name));
		if (!c->n)
			continue;
		cp->r = kvcalloc(c->n, sizeof(*cp->r), GFP_KERNEL_ACCOUNT);
		if (!cp->r)
			goto err_free;
		for (k = 0; k < c->n; k++) {
			cp->n = k + 1;
			ret = nflab_compile_rule(&cc, c, k, &cp->r[k]);
			if (ret)
				goto err_free;
		}
	}
	for (i = 0; i < n; i++) {
		ret = nflab_check_chain(&cc, i);
		if (ret)
			goto err_free;
		c = cc.chains[i];
		if (c->hook >= 0 && (rs->chains[i].n || c->policy == NFLAB_VERDICT_DROP))
			rs->base[c->table][c->hook] = &rs->chains[i];
	}
	for (i = 0; i < n; i++)
		if (cc.chains[i]->hook >= 0)
			nflab_reach(&cc, i, BIT(cc.chains[i]->hook));
	for (i = 0; i < n; i++) {
		ret = nflab_check_hooks(&cc, i);
		if (ret)
			goto err_free;
	}
	ret = 0;

err_free:
	kvfree(cc.chains);
	kvfree(cc.color);
	kvfree(cc.depth);
	kvfree(cc.cost);
	kvfree(cc.hooks);
	if (ret) {
		nflab_rs_free(rs);
		return ERR_PTR(ret);
	}
	return rs;
}

/* Evaluation */

static void nflab_pkt_init(struct nflab_pkt *p, struct sk_buff *skb,
			   const struct nf_hook_state *st)
{
	const struct iphdr *iph = ip_hdr(skb);

	p->skb = skb;
	p->state = st;
	p->saddr = iph->saddr;
	p->daddr = iph->daddr;
	p->len = skb_ip_totlen(skb);
	p->proto = iph->protocol;
	p->hook = st->hook;
	p->thoff = skb_network_offset(skb) + iph->ihl * 4;
	p->notrack = false;
	/*
	 * A later fragment has no L4 header to match on; nor has a header
	 * a raw socket sent with a length below the minimum.
	 */
	p->l4_done = (iph->frag_off & htons(IP_OFFSET)) || iph->ihl < 5;
	p->l4_ok = false;
	p->ct_done = false;
	p->why_chain = NULL;
	p->reroute_failed = false;
}

static bool nflab_rule_matches(const struct nflab_rule_c *rc,
			       struct nflab_pkt *p)
{
	unsigned int i;

	/* At most NFLAB_RULE_MATCHES_MAX. */
	for (i = 0; i < rc->nmatch; i++)
		if (!nflab_match(&rc->m[i], p))
			return false;
	return true;
}

/*
 * Run a built-in chain and what it jumps to. The commit proved the jumps
 * acyclic, at most NFLAB_JUMP_DEPTH deep and at most NFLAB_EVAL_MAX rule
 * checks in all, which bounds both loops.
 */
static unsigned int nflab_chain_eval(const struct nflab_chain_c *base,
				     struct nflab_pkt *p)
{
	struct {
		const struct nflab_chain_c *c;
		unsigned int i;
	} stack[NFLAB_JUMP_DEPTH];
	const struct nflab_chain_c *c = base;
	unsigned int sp = 0, i = 0, v;

	for (;;) {
		for (; i < c->n; i++) {
			const struct nflab_rule_c *rc = &c->r[i];

			if (!nflab_rule_matches(rc, p))
				continue;
			nflab_rule_count(rc->rule, p->skb->len);
			switch (rc->action) {
			case NFLAB_ACTION_JUMP:
				if (WARN_ON_ONCE(sp == NFLAB_JUMP_DEPTH))
					return NF_DROP;
				stack[sp].c = c;
				stack[sp++].i = i + 1;
				fallthrough;
			case NFLAB_ACTION_GOTO:
				c = rc->target;
				i = -1;		/* the loop's i++ starts it at 0 */
				continue;
			case NFLAB_ACTION_RETURN:
				goto out_return;
			}
			v = nflab_action_packet(rc, p);
			if (v != NF_REPEAT) {
				p->why = rc;
				p->why_chain = c;
				return v;
			}
		}
out_return:
		if (!sp) {
			p->why = NULL;
			p->why_chain = base;
			return base->policy;
		}
		sp--;
		c = stack[sp].c;
		i = stack[sp].i;
	}
}

/*
 * A table's chains decided v for the packet: count a drop by its cause,
 * and tell a trace which rule (or policy) it was.
 */
static void nflab_rules_decided(struct sk_buff *skb,
				const struct nf_hook_state *st, u8 table,
				struct nflab_pkt *p, unsigned int v)
{
	if (v != NF_ACCEPT) {
		nflab_hook_count_drop(st->net, st->hook, NFLAB_DROP_RULE);
		/* Before tracking (raw), nothing is INVALID yet. */
		if (table != NFLAB_TABLE_RAW &&
		    (p->ct_done ? p->ct_state == NFLAB_CT_STATE_INVALID :
		     nflab_ct_pkt_invalid(st->net, skb)))
			nflab_hook_count_drop(st->net, st->hook, NFLAB_DROP_INVALID);
	}
	if (p->reroute_failed) {
		/* The mangle table's changes found no route: no rule said drop. */
		if (nflab_tracing())
			nflab_trace_drop(skb, st, NFLAB_TRACE_BY_ROUTE);
		return;
	}
	if (nflab_tracing() && p->why_chain)
		nflab_trace_rule(skb, st, table, p->why_chain->name,
				 p->why ? p->why->rule : NULL,
				 p->why ? p->why->action : 0, v);
}

/*
 * Run one table's built-in chain at this hook, if it has one, for a
 * packet the caller's hook owns: what the chain left in p (NOTRACK, the
 * NAT action met) is the caller's to read.
 */
static unsigned int nflab_rules_table(struct sk_buff *skb,
				      const struct nf_hook_state *st, u8 table,
				      struct nflab_pkt *p)
{
	const struct nflab_rs *rs = rcu_dereference(nflab_pernet(st->net)->rs);
	const struct nflab_chain_c *c;
	unsigned int v;

	p->notrack = false;
	p->nat = NULL;
	c = rs ? rs->base[table][st->hook] : NULL;
	if (!c)
		return NF_ACCEPT;
	nflab_pkt_init(p, skb, st);
	v = nflab_chain_eval(c, p);
	if (unlikely(v != NF_ACCEPT) || nflab_tracing())
		nflab_rules_decided(skb, st, table, p, v);
	return v;
}

/* Raw: from the tracking hook, before tracking. */
unsigned int nflab_rules_raw(struct sk_buff *skb,
			     const struct nf_hook_state *st, bool *notrack)
{
	struct nflab_pkt p;
	unsigned int v;

	v = nflab_rules_table(skb, st, NFLAB_TABLE_RAW, &p);
	*notrack = p.notrack;
	return v;
}

/*
 * Nat: the first packet of a connection at a nat hook. Returns the chain's
 * verdict and, in *nat, the NAT action it met (NULL: none). *nat points
 * into the ruleset: the caller uses it before its RCU read section ends.
 */
unsigned int nflab_rules_nat(struct sk_buff *skb,
			     const struct nf_hook_state *st,
			     const struct nflab_rule_c **nat)
{
	struct nflab_pkt p;
	unsigned int v;

	v = nflab_rules_table(skb, st, NFLAB_TABLE_NAT, &p);
	*nat = p.nat;
	return v;
}

/*
 * Mangle at LOCAL_OUT: a packet whose routing keys changed is routed again,
 * as the kernel's mangle table does.
 */
static unsigned int nflab_mangle_out(const struct nflab_chain_c *c,
				     struct nflab_pkt *p)
{
	struct sk_buff *skb = p->skb;
	const struct iphdr *iph = ip_hdr(skb);
	__be32 saddr = iph->saddr, daddr = iph->daddr;
	u32 mark = skb->mark;
	u8 tos = iph->tos;
	unsigned int v;
	int err;

	v = nflab_chain_eval(c, p);
	if (v != NF_ACCEPT)
		return v;
	iph = ip_hdr(skb);
	if (iph->saddr != saddr || iph->daddr != daddr || skb->mark != mark ||
	    iph->tos != tos) {
		err = ip_route_me_harder(p->state->net, p->state->sk, skb,
					 RTN_UNSPEC);
		if (err < 0) {
			p->reroute_failed = true;
			return NF_DROP_ERR(err);
		}
	}
	return v;
}

static unsigned int nflab_rules_hook(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *st)
{
	const struct nflab_rs *rs = rcu_dereference(nflab_pernet(st->net)->rs);
	const struct nflab_chain_c *c;
	u8 table = (unsigned long)priv;
	struct nflab_pkt p;
	unsigned int v;

	/* Hooks go after the swap that empties them: check. */
	if (!rs)
		return NF_ACCEPT;
	c = rs->base[table][st->hook];
	if (!c)
		return NF_ACCEPT;
	nflab_pkt_init(&p, skb, st);
	if (table == NFLAB_TABLE_MANGLE && st->hook == NF_INET_LOCAL_OUT)
		v = nflab_mangle_out(c, &p);
	else
		v = nflab_chain_eval(c, &p);
	if (unlikely(v != NF_ACCEPT) || nflab_tracing())
		nflab_rules_decided(skb, st, table, &p, v);
	return v;
}

/* Publishing */

#define NFLAB_NAT_HOOKS_ON	(0x1fU << (NFLAB_TABLE_NAT * NF_INET_NUMHOOKS))

/*
 * Register the table hooks rs needs; with drop, unregister those it does not.
 * The nat table's four hooks come together with its first chain that has
 * work and stay until the namespace goes: its connections are translated
 * there for as long as they live, with or without rules.
 */
static int nflab_rules_hooks_sync(struct net *net, struct nflab_net *nn,
				  const struct nflab_rs *rs, bool drop)
{
	bool nat = !nn->rules_dead && (nn->rule_hooks_on & NFLAB_NAT_HOOKS_ON);
	unsigned int t, h;
	int ret;

	lockdep_assert_held(&nn->rules_lock);
	for (h = 0; rs && h < NF_INET_NUMHOOKS; h++)
		nat |= !!rs->base[NFLAB_TABLE_NAT][h];
	for (t = NFLAB_TABLE_MANGLE; t < NFLAB_NTABLES; t++) {
		for (h = 0; h < NF_INET_NUMHOOKS; h++) {
			unsigned int bit = t * NF_INET_NUMHOOKS + h;
			bool want = rs && rs->base[t][h];
			bool on = nn->rule_hooks_on & BIT(bit);

			if (t == NFLAB_TABLE_NAT)
				want = nat && (nflab_table_hooks[t] & BIT(h));

			if (want && !on) {
				ret = nf_register_net_hook(net, &nn->rule_ops[t][h]);
				if (ret)
					return ret;
				nn->rule_hooks_on |= BIT(bit);
			} else if (!want && on && drop) {
				nf_unregister_net_hook(net, &nn->rule_ops[t][h]);
				nn->rule_hooks_on &= ~BIT(bit);
			}
		}
	}
	return 0;
}

static bool nflab_rs_empty(const struct nflab_rs *rs)
{
	unsigned int t, h;

	for (t = 0; t < NFLAB_NTABLES; t++)
		for (h = 0; h < NF_INET_NUMHOOKS; h++)
			if (rs->base[t][h])
				return false;
	return true;
}

/*
 * Compile src and, unless check, make it the namespace's ruleset: one
 * pointer swap, then a grace period, then the old one goes. On success
 * src's sets hold their merged elements. Nothing changes on failure.
 */
int nflab_rules_commit(struct net *net, struct nflab_src *src, bool check,
		       struct netlink_ext_ack *extack)
{
	struct nflab_net *nn = nflab_pernet(net);
	struct nflab_rs *rs, *old;
	struct nflab_src_set *s;
	unsigned int i;
	int ret;

	lockdep_assert_held(&nn->rules_lock);
	/* After pre_exit unregistered the hooks, none may come back. */
	if (nn->rules_dead) {
		NL_SET_ERR_MSG(extack, "the namespace or the module is going away");
		return -ESHUTDOWN;
	}
	rs = nflab_rs_build(src, extack);
	if (IS_ERR(rs))
		return PTR_ERR(rs);
	if (check) {
		nflab_rs_free(rs);
		return 0;
	}
	ret = nflab_rules_hooks_sync(net, nn, rs, false);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot register the tables' hooks");
		old = rcu_dereference_protected(nn->rs,
						lockdep_is_held(&nn->rules_lock));
		nflab_rules_hooks_sync(net, nn, old, true);
		nflab_rs_free(rs);
		return ret;
	}
	/* The sets' merged elements are the source's from now on. */
	i = 0;
	list_for_each_entry(s, &src->sets, list) {
		nflab_set_data_put(s->data);
		s->refs = rs->set_refs[i];
		s->data = rs->sets[i++];
		refcount_inc(&s->data->ref);
		kvfree(s->add);
		s->add = NULL;
		s->nadd = 0;
		s->cap = 0;
	}
	rs->gen = ++nn->rules_gen;
	/* Nothing to evaluate: the hooks test a NULL pointer and go. */
	if (nflab_rs_empty(rs)) {
		nflab_rs_free(rs);
		rs = NULL;
	}
	old = rcu_replace_pointer(nn->rs, rs, lockdep_is_held(&nn->rules_lock));
	synchronize_net();
	nflab_rules_hooks_sync(net, nn, rs, true);
	nflab_rs_free(old);
	return 0;
}

int nflab_rules_net_init(struct nflab_net *nn)
{
	unsigned int t, h;

	mutex_init(&nn->rules_lock);
	RCU_INIT_POINTER(nn->rs, NULL);
	for (t = NFLAB_TABLE_MANGLE; t < NFLAB_NTABLES; t++) {
		for (h = 0; h < NF_INET_NUMHOOKS; h++) {
			struct nf_hook_ops *ops = &nn->rule_ops[t][h];

			ops->hook = nflab_rules_hook;
			ops->pf = NFPROTO_IPV4;
			ops->hooknum = h;
			ops->priority = nflab_table_prio[t];
			ops->priv = (void *)(unsigned long)t;
			if (t != NFLAB_TABLE_NAT)
				continue;
			/* Destinations before routing, sources after it. */
			ops->hook = nflab_nat_hook;
			ops->priority = h == NF_INET_PRE_ROUTING ||
					h == NF_INET_LOCAL_OUT ?
					NF_IP_PRI_NAT_DST : NF_IP_PRI_NAT_SRC;
		}
	}
	return nflab_src_empty(&nn->rules_src);
}

/* With the namespace's other hooks, before its grace period. */
void nflab_rules_net_pre_exit(struct net *net)
{
	struct nflab_net *nn = nflab_pernet(net);

	mutex_lock(&nn->rules_lock);
	nn->rules_dead = true;
	nflab_rules_hooks_sync(net, nn, NULL, true);
	mutex_unlock(&nn->rules_lock);
}

void nflab_rules_net_exit(struct net *net)
{
	struct nflab_net *nn = nflab_pernet(net);

	mutex_lock(&nn->rules_lock);
	nflab_rs_free(rcu_replace_pointer(nn->rs, NULL,
					  lockdep_is_held(&nn->rules_lock)));
	if (nn->txn) {
		nflab_src_free(nn->txn);
		kfree(nn->txn);
		nn->txn = NULL;
	}
	nflab_src_free(&nn->rules_src);
	mutex_unlock(&nn->rules_lock);
	mutex_destroy(&nn->rules_lock);
}
