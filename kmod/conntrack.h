/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nflab's own connection tracker: entries, tuples and the interface between
 * the table (conntrack.c), the protocol handlers (proto_*.c) and netlink
 * (ct_netlink.c).
 */

#ifndef _NFLAB_CONNTRACK_H
#define _NFLAB_CONNTRACK_H

#include <linux/atomic.h>
#include <linux/list_nulls.h>
#include <linux/refcount.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <net/net_namespace.h>

#include "nlproto/nflab.h"

struct nflab_net;

enum nflab_dir {
	NFLAB_DIR_ORIG,
	NFLAB_DIR_REPLY,
	NFLAB_DIR_MAX
};

/* What the tracker says about one packet. */
enum nflab_ct_verdict {
	NFLAB_CT_NEW,
	NFLAB_CT_ESTABLISHED,
	NFLAB_CT_RELATED,
	NFLAB_CT_INVALID,
	NFLAB_CT_UNTRACKED,
	/* packet() only: the packet starts a new flow; kill, look up again */
	NFLAB_CT_REPEAT,
};

/*
 * One direction of a flow. ICMP keeps the id and the message type where TCP
 * and UDP keep the ports, so that both fit the same 32 bits and a tuple is
 * compared and hashed as four words.
 */
struct nflab_tuple {
	__be32 src;
	__be32 dst;
	union {
		struct {
			__be16 sport;
			__be16 dport;
		} p;
		struct {
			__be16 id;
			u8 type;
			u8 code;	/* always 0: not part of the flow */
		} icmp;
		u32 all;
	} u;
	u8 proto;
	/*
	 * Not part of the flow: in an entry, which of its two tuples this is
	 * (the kernel keeps it in its tuple's padding too). Never compared
	 * or hashed.
	 */
	u8 dir;
};

struct nflab_tuple_hash {
	struct hlist_nulls_node	node;
	struct nflab_tuple	tuple;
};

/* What tcp_in_window() knows of one direction of a TCP connection. */
struct nflab_tcp_dir {
	u32	td_end;		/* sequence number after the last one sent */
	u32	td_maxend;	/* highest sequence number the peer allows */
	u32	td_maxwin;	/* largest window seen, scaled; 0: not seen */
	u32	td_maxack;	/* highest acknowledgment sent */
	u8	td_scale;	/* window scale (RFC 7323) */
	u8	flags;		/* NFLAB_TCP_F_* in proto_tcp.c */
};

/*
 * The last segment the TCP tracker noted, as the kernel's last_* fields:
 * retransmissions are counted against it, and a SYN the state machine
 * ignored waits here for an answer that resynchronises the entry.
 */
struct nflab_tcp_last {
	u32	seq;
	u32	ack;
	u32	end;
	u16	win;		/* as sent, unscaled */
	u8	seg;		/* SEG_* in proto_tcp.c */
	u8	dir;
	u8	wscale;		/* an ignored SYN's window scale */
	u8	flags;		/* and its option flags */
	u8	retrans;	/* identical segments in a row */
};

struct nflab_tcp {
	struct nflab_tcp_dir	d[NFLAB_DIR_MAX];
	struct nflab_tcp_last	last;
	u8			state;	/* enum nflab_tcp_state */
};

/*
 * A tracked connection. From its first packet until that packet is
 * confirmed, an entry is "in flight": only the in-flight table (keyed by
 * its cookie, carried in the packet's skb->cb) holds it. Confirmation
 * links both tuple hashes into the table; lookups run under RCU and take a
 * reference with refcount_inc_not_zero(), except the NAT hooks' by a
 * reference word, which use the entry inside their RCU section only. The
 * table holds one reference from confirm until nflab_ct_kill() unlinks the
 * entry; a packet being tracked holds another. The last nflab_ct_put()
 * frees it after an RCU grace period.
 */
struct nflab_conn {
	struct nflab_tuple_hash	th[NFLAB_DIR_MAX];
	possible_net_t		net;
	unsigned long		status;		/* NFLAB_CT_STATUS_*_BIT, atomic bitops */
	unsigned long		timeout;	/* jiffies; READ_ONCE/WRITE_ONCE */
	refcount_t		use;
	spinlock_t		lock;		/* TCP's protocol state below */
	u32			id;		/* hashed: reveals no rates */
	u64			start_ns;
	/*
	 * Random, never reused: names the entry in skb->cb while it is in
	 * flight, and (its low 32 bits) in the reference words of a NATed
	 * connection's packets afterwards.
	 */
	u64			cookie;
	/*
	 * An entry is in flight, then in the table, then waits for its grace
	 * period: each stage's fields share memory with the others'. Nothing
	 * reads a stage's fields after it: the in-flight table and the ct_all
	 * lists are walked under their locks only, and an entry leaves both
	 * before its last reference goes. seq, which dumps read under RCU,
	 * does not share rcu's bytes.
	 */
	union {
		struct {
			struct hlist_node inflight;	/* in the in-flight table */
			unsigned long	inflight_at;	/* since (jiffies) */
		};
		struct {
			struct list_head all;		/* on nn->ct_all */
			u64		seq;		/* insertion order */
		};
		struct rcu_head	rcu;
	};
	struct list_head	unassured;	/* on nn->ct_unassured until ASSURED */
	atomic64_t		packets[NFLAB_DIR_MAX];
	atomic64_t		bytes[NFLAB_DIR_MAX];
	union {
		struct nflab_tcp tcp;
		struct nflab_udp {
			/* jiffies: traffic after this makes a stream */
			unsigned long stream_ts;
		} udp;
	} proto;
};

/*
 * 256 bytes an entry, with a plain 4-byte spinlock_t (lock debugging and
 * PREEMPT_RT make it larger).
 */
static_assert(sizeof(spinlock_t) != 4 || sizeof(struct nflab_conn) <= 256);
/* Dumps read seq under RCU: call_rcu() must not write over it. */
static_assert(offsetof(struct nflab_conn, seq) >=
	      offsetof(struct nflab_conn, rcu) + sizeof(struct rcu_head));

static inline struct nflab_conn *nflab_ct_of(const struct nflab_tuple_hash *h)
{
	return container_of(h, struct nflab_conn, th[h->tuple.dir]);
}

static inline bool nflab_tuple_equal(const struct nflab_tuple *a,
				     const struct nflab_tuple *b)
{
	return a->src == b->src && a->dst == b->dst &&
	       a->u.all == b->u.all && a->proto == b->proto;
}

/* Per-CPU tracker statistics, indexed by enum nflab_ct_stats_attr. */
struct nflab_ct_pcpu_stats {
	u64 v[NFLAB_CT_STATS_A_MAX + 1];
};

#define NFLAB_CT_STAT_INC(nn, field) \
	this_cpu_inc((nn)->ct_stats->v[NFLAB_CT_STATS_A_##field])

/*
 * A protocol handler. packet() updates the protocol state and the timeout,
 * returns the packet's verdict and sets *changed when the protocol state
 * (not just the timeout) moved; it takes ct->lock itself if it needs it, so
 * that UDP and ICMP take no lock per packet.
 */
struct nflab_l4proto {
	/*
	 * Messages about other flows (ICMP errors): true if the packet is
	 * one, with *v RELATED or INVALID; such packets create nothing.
	 */
	bool (*error)(struct net *net, const struct sk_buff *skb,
		      unsigned int off, enum nflab_ct_verdict *v);
	/* Fill the L4 part of the tuple; false if the header is unusable. */
	bool (*tuple)(const struct sk_buff *skb, unsigned int off,
		      struct nflab_tuple *t);
	/* Fill the reply tuple's L4 part from the original one. */
	bool (*invert)(struct nflab_tuple *reply, const struct nflab_tuple *orig);
	/* May this first packet create an entry? */
	bool (*new)(struct nflab_net *nn, struct nflab_conn *ct,
		    const struct sk_buff *skb, unsigned int off);
	enum nflab_ct_verdict (*packet)(struct nflab_net *nn,
					struct nflab_conn *ct,
					const struct sk_buff *skb,
					unsigned int off, enum nflab_dir dir,
					bool *changed);
};

extern const struct nflab_l4proto nflab_l4proto_tcp;
extern const struct nflab_l4proto nflab_l4proto_udp;
extern const struct nflab_l4proto nflab_l4proto_icmp;

/* conntrack.c */
int nflab_ct_init(void);
void nflab_ct_exit(void);
int nflab_ct_net_init(struct nflab_net *nn);
void nflab_ct_net_exit(struct nflab_net *nn);
struct nflab_ct_res;
unsigned int nflab_ct_in(struct sk_buff *skb, const struct nf_hook_state *st,
			 struct nflab_ct_res *res);
unsigned int nflab_ct_confirm(struct sk_buff *skb,
			      const struct nf_hook_state *st);
void nflab_ct_net_flush(struct net *net, struct nflab_net *nn);
void nflab_ct_refresh(struct nflab_conn *ct, unsigned int timeout);
void nflab_ct_set_assured(struct nflab_net *nn, struct nflab_conn *ct);
struct nflab_conn *nflab_ct_find(struct net *net, const struct nflab_tuple *t);
bool nflab_ct_kill(struct nflab_conn *ct);
void nflab_ct_put(struct nflab_conn *ct);
unsigned int nflab_ct_gc_now(struct net *net);
void nflab_ct_event(struct nflab_conn *ct, u8 cmd);
u32 nflab_ct_pkt_state(struct net *net, struct sk_buff *skb, u32 *status);
bool nflab_ct_pkt_invalid(const struct net *net, struct sk_buff *skb);
void nflab_ct_set_untracked(struct sk_buff *skb, const struct nflab_net *nn);
bool nflab_ct_alive(struct net *net, const struct nflab_tuple *t);
void nflab_ct_net_tag(struct net *net, struct nflab_net *nn);
bool nflab_ct_pkt_orig(struct net *net, struct sk_buff *skb,
		       struct nflab_tuple *orig);
bool nflab_ct_pkt_tuple(const struct sk_buff *skb, struct nflab_tuple *t);
struct nflab_conn *nflab_ct_pkt_conn(struct net *net, struct sk_buff *skb,
				     u8 *dir, bool *in_flight);
struct nflab_conn *nflab_ct_pkt_related(struct net *net, struct sk_buff *skb,
					u8 *dir);

/* What the packet's skb->cb names for a NAT hook: nflab_ct_pkt_nat(). */
enum nflab_pkt_nat {
	NFLAB_PKT_NONE,		/* nothing to do at this hook */
	NFLAB_PKT_LOST,		/* names an entry that is gone: drop */
	NFLAB_PKT_IN_FLIGHT,	/* a first packet; referenced */
	NFLAB_PKT_HELD,		/* a confirmed entry's; referenced */
	NFLAB_PKT_CONN,		/* a confirmed entry's; RCU only */
	NFLAB_PKT_RELATED,	/* an ICMP error about one; RCU only */
};

enum nflab_pkt_nat nflab_ct_pkt_nat(struct net *net, struct sk_buff *skb,
				    bool src, struct nflab_conn **ctp, u8 *dir);
struct nflab_conn *nflab_ct_nat_fallback(struct net *net,
					 const struct sk_buff *skb, bool src,
					 bool ref, u64 w, u8 *dir);
u64 nflab_ct_cb_word(struct sk_buff *skb);
/* proto_icmp.c */
struct nflab_conn *nflab_icmp_related(struct net *net, const struct sk_buff *skb,
				      unsigned int off, u8 *dir);

/*
 * Internal status bits, above the protocol's (dumps mask them off): the
 * NAT decision of each kind was taken (nat.c, under ct->lock).
 */
#define NFLAB_CT_STATUS_SRC_NAT_DONE_BIT	16
#define NFLAB_CT_STATUS_DST_NAT_DONE_BIT	17
/* The confirm hook took the tuples for the table: NAT may not move them. */
#define NFLAB_CT_STATUS_FROZEN_BIT		18
/* Translated by MASQUERADE: goes with its address or device. */
#define NFLAB_CT_STATUS_MASQ_BIT		19
/* Through a full cone mapping (fullcone.c): refreshes it. */
#define NFLAB_CT_STATUS_FULLCONE_BIT		20
#define NFLAB_CT_STATUS_NAT	(NFLAB_CT_STATUS_SRC_NAT | NFLAB_CT_STATUS_DST_NAT)
/* Where a dump resumes: its bucket and the last entry's insertion order. */
struct nflab_ct_dump_pos {
	unsigned int	bucket;
	bool		resume;
	u64		seq;
};

int nflab_ct_dump(struct net *net, struct nflab_ct_dump_pos *pos,
		  int (*fn)(struct nflab_conn *ct, void *arg), void *arg);
unsigned int nflab_ct_kill_matching(struct net *net,
				    bool (*match)(const struct nflab_conn *ct,
						  const void *arg),
				    const void *arg);

static inline struct net *nflab_ct_net(const struct nflab_conn *ct)
{
	return read_pnet(&ct->net);
}

static inline unsigned int nflab_ct_timeout_left(const struct nflab_conn *ct)
{
	long left = (long)(READ_ONCE(ct->timeout) - jiffies);

	return left > 0 ? left / HZ : 0;
}

#endif /* _NFLAB_CONNTRACK_H */
