/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet traces (trace.c): what the other files tell the trace about a
 * packet. Every call sits behind nflab_tracing(): one predictable branch
 * on a read-mostly word while no trace exists.
 */

#ifndef _NFLAB_TRACE_H
#define _NFLAB_TRACE_H

#include <linux/netfilter.h>
#include <linux/skbuff.h>

#include "conntrack.h"

/*
 * Trace objects in the module (under nflab_trace_mutex). Not a static key:
 * flipping one rewrites the hooks' code while both CPUs run it, which hung
 * the lab VMs (TCG) under a flood; a word read once per hook is as cheap.
 * The trace functions are safe to call with no trace at all, so a hook
 * that reads a stale value does nothing wrong.
 */
extern unsigned int nflab_trace_users;

static inline bool nflab_tracing(void)
{
	return unlikely(READ_ONCE(nflab_trace_users));
}

/* What the tracking hook made of a packet (enum nflab_trace_ct ...). */
struct nflab_ct_res {
	u8			kind;		/* enum nflab_trace_ct; 0: nothing */
	u8			invalid;	/* enum nflab_trace_invalid */
	u8			dir;
	u8			tcp_old;
	u8			tcp_new;
	bool			has_ct;
	u32			id;
	u32			status_old;
	u32			status;
	u64			cookie;
	struct nflab_tuple	orig;
	struct nflab_tuple	reply;
};

struct nflab_net;
struct nflab_rule;

void nflab_trace_ct_note(struct nflab_ct_res *res, const struct nflab_conn *ct,
			 u8 dir);
bool nflab_trace_begin(struct sk_buff *skb, const struct nf_hook_state *st);
void nflab_trace_ct(struct sk_buff *skb, const struct nf_hook_state *st,
		    const struct nflab_ct_res *res, unsigned int verdict,
		    bool chosen);
void nflab_trace_enter(struct sk_buff *skb, const struct nf_hook_state *st);
void nflab_trace_rule(struct sk_buff *skb, const struct nf_hook_state *st,
		      u8 table, const char *chain, const struct nflab_rule *rule,
		      u8 action, unsigned int verdict);
void nflab_trace_drop(struct sk_buff *skb, const struct nf_hook_state *st,
		      u8 by);
void nflab_trace_tail(struct sk_buff *skb, const struct nf_hook_state *st);
int nflab_trace_put_history(struct sk_buff *msg, const struct nflab_conn *ct);

void nflab_trace_net_init(struct net *net, struct nflab_net *nn);
void nflab_trace_net_pre_exit(struct net *net);
void nflab_trace_net_exit(struct net *net);
void nflab_trace_open(void);
void nflab_trace_close(void);
void nflab_trace_exit(void);

#endif /* _NFLAB_TRACE_H */
