// SPDX-License-Identifier: GPL-2.0
/*
 * The five IPv4 netfilter hooks, registered in every network namespace, and
 * their per-CPU packet and byte counters.
 */

#include <linux/lockdep.h>
#include <linux/netdevice.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter_ipv4.h>
#include <linux/percpu.h>
#include <linux/skbuff.h>
#include <net/ip.h>
#include <net/netfilter/ipv4/nf_defrag_ipv4.h>

#include "nflab.h"
#include "rules.h"
#include "trace.h"

unsigned int nflab_net_id __read_mostly;

/*
 * A packet at POST_ROUTING that came through FORWARD: routed (ip_forward()
 * marks it), or bridged through br_netfilter, which runs the IPv4 hooks
 * with a cleared IPCB.
 */
static bool nflab_forwarded(const struct sk_buff *skb)
{
	if (IPCB(skb)->flags & IPSKB_FORWARDED)
		return true;
#if IS_ENABLED(CONFIG_BRIDGE_NETFILTER)
	return nf_bridge_info_exists(skb);
#else
	return false;
#endif
}

static void nflab_hook_count_pkt(struct nflab_net *nn,
				 const struct sk_buff *skb, unsigned int hook)
{
	struct nflab_pcpu_hook_stats *s;
	unsigned long flags;

	/*
	 * LOCAL_OUT can run in process context with preemption and bottom
	 * halves enabled, so pin the CPU and keep softirqs off this CPU's
	 * counters while we write them (a no-op on 64-bit).
	 */
	s = get_cpu_ptr(nn->stats);
	flags = u64_stats_update_begin_irqsave(&s->syncp);
	u64_stats_inc(&s->packets[hook]);
	u64_stats_add(&s->bytes[hook], skb->len);
	/* What reached POST_ROUTING from FORWARD, for UNSEEN_AFTER. */
	if (hook == NF_INET_POST_ROUTING && nflab_forwarded(skb))
		u64_stats_inc(&s->forwarded);
	u64_stats_update_end_irqrestore(&s->syncp, flags);
	put_cpu_ptr(nn->stats);
}

/* nflab dropped a packet at hook; rare, so not on the fast path's lines. */
void nflab_hook_count_drop(struct net *net, unsigned int hook,
			   enum nflab_drop_cause cause)
{
	struct nflab_pcpu_hook_stats *s;
	struct nflab_net *nn = nflab_pernet(net);
	unsigned long flags;

	s = get_cpu_ptr(nn->stats);
	flags = u64_stats_update_begin_irqsave(&s->syncp);
	u64_stats_inc(&s->drops[hook][cause]);
	u64_stats_update_end_irqrestore(&s->syncp, flags);
	put_cpu_ptr(nn->stats);
}

/*
 * PRE_ROUTING, LOCAL_OUT: count, run the raw table if it has rules here,
 * then find or create the packet's flow.
 */
static unsigned int nflab_hook_track(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state)
{
	struct nflab_net *nn = nflab_pernet(state->net);
	/* Once: a trace added meanwhile starts with the next packet. */
	bool traced = nflab_tracing(), chosen = false;
	struct nflab_ct_res res;
	unsigned int v;

	nflab_hook_count_pkt(nn, skb, state->hook);
	if (traced) {
		memset(&res, 0, sizeof(res));
		chosen = nflab_trace_begin(skb, state);
	}
	if (unlikely(rcu_access_pointer(nn->rs))) {
		bool notrack;

		v = nflab_rules_raw(skb, state, &notrack);
		if (v != NF_ACCEPT)
			return v;
		if (notrack) {
			nflab_ct_set_untracked(skb, nn);
			if (traced) {
				res.kind = NFLAB_TRACE_CT_UNTRACKED;
				nflab_trace_ct(skb, state, &res, NF_ACCEPT, chosen);
			}
			return NF_ACCEPT;
		}
	}
	v = nflab_ct_in(skb, state, &res);
	if (v != NF_ACCEPT)
		nflab_hook_count_drop(state->net, state->hook, NFLAB_DROP_FULL);
	if (traced)
		nflab_trace_ct(skb, state, &res, v, chosen);
	return v;
}

/*
 * LOCAL_IN, FORWARD, POST_ROUTING: count, before nflab's own tables there
 * (mangle and filter, registered while they have rules), so that what
 * they drop was counted where it reached. PRE_ROUTING and LOCAL_OUT count
 * in the tracking hook, before the raw table.
 */
#define NFLAB_PRI_COUNT	(NF_IP_PRI_MANGLE - 1)

static unsigned int nflab_hook_count(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state)
{
	nflab_hook_count_pkt(nflab_pernet(state->net), skb, state->hook);
	if (nflab_tracing())
		nflab_trace_enter(skb, state);
	return NF_ACCEPT;
}

/*
 * LOCAL_IN, POST_ROUTING, after every other hook: confirm new flows; a
 * traced packet leaves the hook here.
 */
static unsigned int nflab_hook_confirm(void *priv, struct sk_buff *skb,
				       const struct nf_hook_state *state)
{
	unsigned int v = nflab_ct_confirm(skb, state);

	if (nflab_tracing() && v == NF_ACCEPT)
		nflab_trace_tail(skb, state);
	return v;
}

/*
 * The hooks, per DESIGN.md: connection tracking first on the way in and out
 * (after defrag, with nflab's raw table, before NAT and filtering), the
 * counters of the other three hooks before nflab's tables there (rules.c
 * registers those), and confirmation of new flows after everything else,
 * where a packet reaches a socket or leaves the stack. The hook counters
 * count at the first five.
 */
static const struct nf_hook_ops nflab_ops[] = {
	{
		.hook		= nflab_hook_track,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK,
	},
	{
		.hook		= nflab_hook_count,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NFLAB_PRI_COUNT,
	},
	{
		.hook		= nflab_hook_count,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_FORWARD,
		.priority	= NFLAB_PRI_COUNT,
	},
	{
		.hook		= nflab_hook_track,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= NF_IP_PRI_CONNTRACK,
	},
	{
		.hook		= nflab_hook_count,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_POST_ROUTING,
		.priority	= NFLAB_PRI_COUNT,
	},
	{
		.hook		= nflab_hook_confirm,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_IN,
		.priority	= NF_IP_PRI_CONNTRACK_CONFIRM,
	},
	{
		.hook		= nflab_hook_confirm,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_POST_ROUTING,
		.priority	= NF_IP_PRI_CONNTRACK_CONFIRM,
	},
};

/* Totals since load: the sum over all CPUs, each read consistently. */
static void nflab_hook_stats_sum(struct nflab_net *nn, struct nflab_hook_totals *t)
{
	int cpu, h;

	memset(t, 0, sizeof(*t));
	for_each_possible_cpu(cpu) {
		const struct nflab_pcpu_hook_stats *s = per_cpu_ptr(nn->stats, cpu);
		struct nflab_hook_totals c;
		unsigned int start;
		int d;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			for (h = 0; h < NF_INET_NUMHOOKS; h++) {
				c.packets[h] = u64_stats_read(&s->packets[h]);
				c.bytes[h] = u64_stats_read(&s->bytes[h]);
				for (d = 0; d < NFLAB_DROP_CAUSES; d++)
					c.drops[h][d] = u64_stats_read(&s->drops[h][d]);
			}
			c.forwarded = u64_stats_read(&s->forwarded);
		} while (u64_stats_fetch_retry(&s->syncp, start));

		for (h = 0; h < NF_INET_NUMHOOKS; h++) {
			t->packets[h] += c.packets[h];
			t->bytes[h] += c.bytes[h];
			for (d = 0; d < NFLAB_DROP_CAUSES; d++)
				t->drops[h][d] += c.drops[h][d];
		}
		t->forwarded += c.forwarded;
	}
}

static void nflab_hook_stats_read_locked(struct nflab_net *nn, struct nflab_hook_totals *t)
{
	const struct nflab_hook_totals *b = &nn->stats_base;
	int h, d;

	lockdep_assert_held(&nn->stats_lock);

	nflab_hook_stats_sum(nn, t);
	for (h = 0; h < NF_INET_NUMHOOKS; h++) {
		t->packets[h] -= b->packets[h];
		t->bytes[h] -= b->bytes[h];
		for (d = 0; d < NFLAB_DROP_CAUSES; d++)
			t->drops[h][d] -= b->drops[h][d];
	}
	t->forwarded -= b->forwarded;
}

/* Counters as seen by users: totals since load or the last reset. */
void nflab_hook_stats_get(struct nflab_net *nn, struct nflab_hook_totals *t)
{
	mutex_lock(&nn->stats_lock);
	nflab_hook_stats_read_locked(nn, t);
	mutex_unlock(&nn->stats_lock);
}

void nflab_hook_stats_reset(struct nflab_net *nn)
{
	mutex_lock(&nn->stats_lock);
	nflab_hook_stats_sum(nn, &nn->stats_base);
	mutex_unlock(&nn->stats_lock);
}

/* nflab's state in a namespace: it outlives the hooks (see main.c). */
static int __net_init nflab_state_init(struct net *net)
{
	struct nflab_net *nn = nflab_pernet(net);
	int ret;

	mutex_init(&nn->stats_lock);
	mutex_init(&nn->ct_config_lock);
	nn->stats = netdev_alloc_pcpu_stats(struct nflab_pcpu_hook_stats);
	if (!nn->stats)
		return -ENOMEM;

	nflab_ct_net_tag(net, nn);
	ret = nflab_ct_net_init(nn);
	if (ret)
		goto err_free_stats;
	ret = nflab_rules_net_init(nn);
	if (ret)
		goto err_ct_exit;
	nflab_trace_net_init(net, nn);
	return 0;

err_ct_exit:
	nflab_ct_net_exit(nn);
err_free_stats:
	free_percpu(nn->stats);
	return ret;
}

static void __net_exit nflab_state_exit(struct net *net)
{
	struct nflab_net *nn = nflab_pernet(net);

	nflab_rules_net_exit(net);
	/* No hook runs: no mapping can be made while they go. */
	nflab_fc_forget(net, NULL);
	nflab_ct_net_exit(nn);
	free_percpu(nn->stats);
	mutex_destroy(&nn->ct_config_lock);
	mutex_destroy(&nn->stats_lock);
}

static struct pernet_operations nflab_state_ops = {
	.init		= nflab_state_init,
	.exit		= nflab_state_exit,
	.id		= &nflab_net_id,
	.size		= sizeof(struct nflab_net),
};

/*
 * The hooks of a namespace, and the defragmentation they rely on: the
 * tracker sees whole datagrams, as the kernel's does.
 */
static int __net_init nflab_hooks_net_init(struct net *net)
{
	int ret;

	ret = nf_defrag_ipv4_enable(net);
	if (ret)
		return ret;
	ret = nf_register_net_hooks(net, nflab_ops, ARRAY_SIZE(nflab_ops));
	if (ret)
		goto err_defrag_disable;
	return 0;

err_defrag_disable:
	nf_defrag_ipv4_disable(net);
	return ret;
}

/*
 * Unhook first; the pernet core waits for an RCU grace period between
 * pre_exit and exit, so no hook function still runs when exit removes the
 * namespace's entries.
 */
static void __net_exit nflab_hooks_net_pre_exit(struct net *net)
{
	nflab_trace_net_pre_exit(net);
	nf_unregister_net_hooks(net, nflab_ops, ARRAY_SIZE(nflab_ops));
	nflab_rules_net_pre_exit(net);
}

static void __net_exit nflab_hooks_net_exit(struct net *net)
{
	nflab_trace_net_exit(net);
	nflab_ct_net_flush(net, nflab_pernet(net));
	nf_defrag_ipv4_disable(net);
}

static struct pernet_operations nflab_hooks_ops = {
	.init		= nflab_hooks_net_init,
	.pre_exit	= nflab_hooks_net_pre_exit,
	.exit		= nflab_hooks_net_exit,
};

int __init nflab_state_init_all(void)
{
	return register_pernet_subsys(&nflab_state_ops);
}

void nflab_state_exit_all(void)
{
	unregister_pernet_subsys(&nflab_state_ops);
}

int __init nflab_hooks_init(void)
{
	int ret;

	/* Hook numbers travel over netlink as the kernel's own values. */
	BUILD_BUG_ON((int)NFLAB_HOOK_PRE_ROUTING != (int)NF_INET_PRE_ROUTING);
	BUILD_BUG_ON((int)NFLAB_HOOK_LOCAL_IN != (int)NF_INET_LOCAL_IN);
	BUILD_BUG_ON((int)NFLAB_HOOK_FORWARD != (int)NF_INET_FORWARD);
	BUILD_BUG_ON((int)NFLAB_HOOK_LOCAL_OUT != (int)NF_INET_LOCAL_OUT);
	BUILD_BUG_ON((int)NFLAB_HOOK_POST_ROUTING != (int)NF_INET_POST_ROUTING);
	BUILD_BUG_ON(NFLAB_HOOK_MAX + 1 != NF_INET_NUMHOOKS);

	ret = register_pernet_subsys(&nflab_hooks_ops);
	if (ret)
		return ret;
	nflab_trace_open();
	return 0;
}

void nflab_hooks_exit(void)
{
	nflab_trace_close();
	unregister_pernet_subsys(&nflab_hooks_ops);
	nflab_trace_exit();
}
