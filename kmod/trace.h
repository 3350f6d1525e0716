/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet traces (trace.c): what the other files tell the trace about a
 * packet. Every call sits behind nflab_trace_key, a static branch that is
 * patched out while no trace exists.
 */

#ifndef _NFLAB_TRACE_H
#define _NFLAB_TRACE_H

#include <linux/jump_label.h>
#include <linux/netfilter.h>
#include <linux/skbuff.h>

#include "conntrack.h"

DECLARE_STATIC_KEY_FALSE(nflab_trace_key);

static inline bool nflab_tracing(void)
{
	return static_branch_unlikely(&nflab_trace_key);
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
