/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Declarations shared between the files of nflab.ko.
 */

#ifndef _NFLAB_NFLAB_H
#define _NFLAB_NFLAB_H

#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/types.h>
#include <linux/u64_stats_sync.h>
#include <net/net_namespace.h>
#include <net/genetlink.h>
#include <net/netns/generic.h>

#include "nlproto/nflab.h"
#include "conntrack.h"
#include "rules.h"

/* Why nflab dropped a packet at a hook (NFLAB_HOOK_A_DROP_*). */
enum nflab_drop_cause {
	NFLAB_DROP_RULE,
	NFLAB_DROP_INVALID,	/* also a RULE drop */
	NFLAB_DROP_FULL,
	NFLAB_DROP_NAT,
	NFLAB_DROP_CAUSES
};

/* Per-CPU hook counters; the packet path only ever touches its own CPU's. */
struct nflab_pcpu_hook_stats {
	u64_stats_t		packets[NF_INET_NUMHOOKS];
	u64_stats_t		bytes[NF_INET_NUMHOOKS];
	u64_stats_t		drops[NF_INET_NUMHOOKS][NFLAB_DROP_CAUSES];
	/* POST_ROUTING's packets that were forwarded (IPSKB_FORWARDED) */
	u64_stats_t		forwarded;
	struct u64_stats_sync	syncp;
};

/* A snapshot of the hook counters summed over all CPUs. */
struct nflab_hook_totals {
	u64 packets[NF_INET_NUMHOOKS];
	u64 bytes[NF_INET_NUMHOOKS];
	u64 drops[NF_INET_NUMHOOKS][NFLAB_DROP_CAUSES];
	u64 forwarded;
};

/*
 * nflab's state in one network namespace, allocated by the pernet core
 * (net_generic()) and living exactly as long as the namespace.
 */
struct nflab_net {
	struct nflab_pcpu_hook_stats __percpu *stats;
	/*
	 * Per-CPU counters cannot be zeroed under the packet path's feet, so
	 * a reset records the current totals here and reads subtract them.
	 */
	struct mutex		stats_lock;
	struct nflab_hook_totals stats_base;

	/* Connection tracking (conntrack.c). */
	atomic_t		ct_count;	/* confirmed entries */
	unsigned int		ct_limit;	/* READ_ONCE on the packet path */
	bool			ct_tcp_loose;
	unsigned int		ct_timeouts[NFLAB_CT_TIMEOUT_A_MAX + 1]; /* jiffies */
	struct nflab_ct_pcpu_stats __percpu *ct_stats;
	/*
	 * ct_lock protects two lists of the namespace's confirmed entries:
	 * all of them (what namespace exit removes, without walking the
	 * whole table) and those not assured yet, oldest first (early drop
	 * victims).
	 */
	spinlock_t		ct_lock;
	struct list_head	ct_all;
	struct list_head	ct_unassured;
	struct mutex		ct_config_lock;	/* serialises config writers */
	u64			cb_tag;		/* of state words in skb->cb */
	atomic_t		fc_count;	/* full cone mappings (fullcone.c) */
	bool			masq_used;	/* MASQUERADE translated here (nat.c) */

	/*
	 * Rules (rules.c, rules_netlink.c). rules_lock serialises every
	 * change: the transaction, commits, the hooks registered.
	 */
	struct mutex		rules_lock;
	struct nflab_rs __rcu	*rs;		/* what the hooks read */
	struct nflab_src	rules_src;	/* the committed ruleset */
	struct nflab_src	*txn;		/* the open transaction's copy */
	u32			txn_portid;	/* and its owner: portid */
	const void		*txn_sk;	/* and socket (identity only) */
	bool			rules_dead;	/* namespace or module going */
	u32			rules_gen;
	u32			rule_hooks_on;	/* BIT(table * 5 + hook) */
	struct nf_hook_ops	rule_ops[NFLAB_NTABLES][NF_INET_NUMHOOKS];

	/* Traces (trace.c), under its nflab_trace_mutex; RCU for traces. */
	struct list_head	traces;		/* live ones, by ID */
	unsigned int		ntraces;	/* live ones */
	unsigned int		trace_objs;	/* not freed yet */
	bool			trace_hooks;	/* tail hooks registered */
};

extern unsigned int nflab_net_id;

static inline struct nflab_net *nflab_pernet(const struct net *net)
{
	return net_generic(net, nflab_net_id);
}

int nflab_state_init_all(void);
void nflab_state_exit_all(void);
int nflab_hooks_init(void);
void nflab_hooks_exit(void);
void nflab_hook_stats_get(struct nflab_net *nn, struct nflab_hook_totals *t);
void nflab_hook_stats_reset(struct nflab_net *nn);
void nflab_hook_count_drop(struct net *net, unsigned int hook,
			   enum nflab_drop_cause cause);

int nflab_netlink_init(void);
void nflab_netlink_exit(void);

/* ct_netlink.c: the conntrack commands of the family. */
int nflab_ct_nl_get_doit(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_get_start(struct netlink_callback *cb);
int nflab_ct_nl_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int nflab_ct_nl_delete(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_flush(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_count(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_stats(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_get_config(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_set_config(struct sk_buff *skb, struct genl_info *info);
int nflab_ct_nl_gc(struct sk_buff *skb, struct genl_info *info);

/* rules_netlink.c: the rule commands of the family. */
int nflab_rules_nl_begin(struct sk_buff *skb, struct genl_info *info);
int nflab_rules_nl_commit(struct sk_buff *skb, struct genl_info *info);
int nflab_rules_nl_abort(struct sk_buff *skb, struct genl_info *info);
int nflab_chain_nl_edit(struct sk_buff *skb, struct genl_info *info);
int nflab_chain_nl_dump(struct sk_buff *skb, struct netlink_callback *cb);
int nflab_rule_nl_new(struct sk_buff *skb, struct genl_info *info);
int nflab_rule_nl_del(struct sk_buff *skb, struct genl_info *info);
int nflab_rule_nl_replace(struct sk_buff *skb, struct genl_info *info);
int nflab_rule_nl_get(struct sk_buff *skb, struct genl_info *info);
int nflab_rule_nl_dump_start(struct netlink_callback *cb);
int nflab_rule_nl_dump(struct sk_buff *skb, struct netlink_callback *cb);
int nflab_rule_nl_reset(struct sk_buff *skb, struct genl_info *info);
int nflab_set_nl_edit(struct sk_buff *skb, struct genl_info *info);
int nflab_set_nl_dump_start(struct netlink_callback *cb);
int nflab_set_nl_dump(struct sk_buff *skb, struct netlink_callback *cb);
int nflab_set_nl_dump_done(struct netlink_callback *cb);
int nflab_rules_nl_init(void);
void nflab_rules_nl_exit(void);
extern const struct nla_policy nflab_rules_begin_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_rules_commit_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_chain_op_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_rule_op_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_set_op_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_set_edit_policy[NFLAB_A_MAX + 1];

/* Indexes of the groups in the family's mcgrps[]. */
#define NFLAB_MCGRP_CT_ID	0
#define NFLAB_MCGRP_TRACE_ID	1

/* trace.c: the trace commands of the family. */
int nflab_trace_nl_new(struct sk_buff *skb, struct genl_info *info);
int nflab_trace_nl_del(struct sk_buff *skb, struct genl_info *info);
int nflab_trace_nl_dump(struct sk_buff *skb, struct netlink_callback *cb);
extern const struct nla_policy nflab_trace_op_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_ct_get_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_ct_delete_policy[NFLAB_A_MAX + 1];
extern const struct nla_policy nflab_ct_set_config_policy[NFLAB_A_MAX + 1];
int nflab_nl_reply(struct genl_info *info, u8 cmd,
		   int (*fill)(struct sk_buff *msg, const void *arg),
		   const void *arg);
int nflab_nl_reply_size(struct genl_info *info, u8 cmd, size_t size,
			int (*fill)(struct sk_buff *msg, const void *arg),
			const void *arg);
extern struct genl_family nflab_genl_family;

#endif /* _NFLAB_NFLAB_H */
