// SPDX-License-Identifier: GPL-2.0
/*
 * Packet traces: follow the packets a selector chooses through nflab's
 * hooks, and report each hook they cross and where they went.
 *
 * A trace is chosen once per packet, where nflab first sees it in a
 * namespace (the tracking hook at PRE_ROUTING or LOCAL_OUT). From then on
 * a record (struct nflab_tpkt) follows the packet: it collects what
 * nflab's functions at a hook did to it (the tracker's result, the rules
 * that decided, the tuple before NAT) and sends one event when the packet
 * leaves the hook (the tail hook at INT_MAX, or the confirm hook at
 * LOCAL_IN and POST_ROUTING) or when nflab drops it there.
 *
 * How the record is found again, and why that is sound enough for a
 * diagnostic (it never changes what happens to a packet):
 *
 * - skb->cb has no byte to spare (conntrack.c uses the last 8), so the
 *   record is keyed by the skb's address. Between two hooks a packet keeps
 *   its sk_buff; what replaces one (skb_copy(), NFQUEUE's segmentation)
 *   makes a new packet nflab no longer follows. Clones (skb_clone(): a
 *   broadcast's looped back copy) share skb->head: a clone met at a hook
 *   whose own address names no record takes its original's packet id by
 *   that head, if it fits the original.
 * - Addresses are reused at once, and most packets are freed without a
 *   tracepoint a module may use (consume_skb() after delivery or
 *   transmission), so a record is believed only for a packet that fits
 *   it: the same namespace, IP id and protocol, and the addresses as the
 *   record last saw them (one side at least, which NAT leaves). A record
 *   is ended by nflab's drop, by the kfree_skb tracepoint when the kernel
 *   drops a packet that fits it (with the kernel's drop reason), silently
 *   when another packet meets it at a hook after its packet left the
 *   namespace's last hook, and by the work when not seen for
 *   NFLAB_TPKT_IDLE. A record only goes on past the namespace's last hook
 *   for a packet that loops back: POST_ROUTING, then PRE_ROUTING on
 *   loopback with the very tuple it left with.
 * - Records live in a global hash (RCU lookups; nflab_tpkt_lock for
 *   every change), at most NFLAB_TPKT_MAX of them. A packet's hooks run
 *   one after the other, but the tracepoint and the work may end its
 *   record meanwhile: every change checks, under the lock, that the
 *   record is still hashed. No skb is built, sent or freed under the
 *   lock (freeing one there would call the probe back on it).
 * - The probe runs wherever the kernel frees packets (any lock held, IRQs
 *   off): it only ends the record and leaves its event to a work item,
 *   as drop_monitor does.
 *
 * Traces are per namespace (nn->traces, RCU for the packet path,
 * nflab_trace_mutex for everything else). A trace ends when its budget is
 * used, when it expires, when it is deleted, or with its namespace; it is
 * freed (and sends its END event) once no record refers to it. While any
 * trace object exists, nflab_trace_users is not 0, the kfree_skb probe is
 * registered, and namespaces with traces have their tail hooks.
 */

#include <linux/hash.h>
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/jiffies.h>
#include <linux/netdevice.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/timekeeping.h>
#include <linux/tracepoint.h>
#include <linux/udp.h>
#include <linux/workqueue.h>
#include <net/dropreason.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <trace/events/skb.h>

#include "nflab.h"
#include "compat.h"
#include "rules.h"
#include "trace.h"

unsigned int nflab_trace_users __read_mostly;

#define NFLAB_TPKT_BITS		8
#define NFLAB_TPKT_MAX		1024		/* records, all namespaces */
#define NFLAB_TPKT_IDLE		(NFLAB_TRACE_IDLE * HZ)	/* unseen this long: gone */
#define NFLAB_TRACE_RULES	4		/* raw, mangle, filter, nat */

/* Selector fields given (NFLAB_TRACE_A_*). */
#define NFLAB_SEL_PROTO		BIT(0)
#define NFLAB_SEL_SPORT		BIT(1)
#define NFLAB_SEL_DPORT		BIT(2)
#define NFLAB_SEL_PORT		BIT(3)
#define NFLAB_SEL_IFNAME	BIT(4)

struct nflab_trace_sel {
	__be32		src, src_mask, dst, dst_mask, host, host_mask;
	__be16		sport, dport, port;
	u8		src_len, dst_len, host_len;
	u8		proto;
	u8		have;
	char		ifname[IFNAMSIZ];
};

struct nflab_trace {
	struct list_head	list;	/* nn->traces while live; RCU */
	struct list_head	all;	/* nflab_traces; nflab_trace_mutex */
	struct rcu_head		rcu;
	struct net		*net;
	u32			id;
	u32			budget;
	unsigned int		timeout;	/* seconds */
	unsigned long		expires;	/* jiffies */
	struct nflab_trace_sel	sel;
	atomic_t		left;
	atomic_t		nrec;		/* records that name it */
	bool			dead;		/* ended: chooses nothing more */
	atomic64_t		seq;
	atomic64_t		events;
	atomic64_t		lost;
	/*
	 * Held (BHs off) from taking an event's SEQ to its multicast, so
	 * that events leave in SEQ order; also guards the rate window.
	 */
	spinlock_t		emit_lock;
	unsigned long		rate_start;
	unsigned int		rate_n;
};

/* One rule or policy that decided something at the open hook. */
struct nflab_trule {
	u64		handle;		/* 0: a chain's policy */
	u8		table;
	u8		verdict;	/* enum nflab_trace_verdict */
	char		chain[NFLAB_NAME_MAXLEN];
	char		comment[NFLAB_COMMENT_MAXLEN];
};

struct nflab_tpkt {
	struct hlist_node	by_skb;
	struct hlist_node	by_head;
	struct list_head	all;
	struct rcu_head		rcu;
	const struct sk_buff	*skb;
	const void		*head;
	struct net		*net;
	struct nflab_trace	*trace;
	u64			id;
	unsigned long		seen;		/* jiffies */
	__be16			ipid;
	u8			proto;
	u8			hook;		/* open, or the last left */
	bool			open;
	bool			done;		/* left LOCAL_IN or POST_ROUTING */
	bool			hashed;
	/* The open hook's, from its first function on. */
	/* Why it went (NFLAB_TRACE_BY_*, a drop reason), once unhashed. */
	u8			gone_by;
	char			reason[32];
	/* The packet as it left the last hook. */
	struct nflab_tuple	last;
	int			iif, oif;
	char			iifname[IFNAMSIZ];
	char			oifname[IFNAMSIZ];
	u32			len;
	u8			tcp_flags;
	struct nflab_tuple	in;
	struct nflab_ct_res	ct;
	unsigned int		nrules;
	struct nflab_trule	rules[NFLAB_TRACE_RULES];
};

/*
 * A connection's state changes caused by followed packets, kept beside the
 * table (an entry has no room for them) and keyed by its cookie, which no
 * other entry ever has: a history outlives its entry harmlessly, until the
 * ring of histories recycles it or the last trace goes.
 */
#define NFLAB_THIST_BITS	6
#define NFLAB_THIST_MAX		256	/* connections with a history */
/* The changes that count, besides TCP states: those ct events report. */
#define NFLAB_THIST_STATUS	(NFLAB_CT_STATUS_SEEN_REPLY | NFLAB_CT_STATUS_ASSURED)

struct nflab_thist_ent {
	u64	time;
	u64	packet;
	u32	trace;
	u32	status_old;
	u32	status;
	u8	hook;
	u8	dir;
	u8	tcp_old;
	u8	tcp_new;
};

struct nflab_thist {
	struct hlist_node	node;
	struct list_head	lru;		/* oldest first */
	u64			cookie;
	bool			tcp;
	unsigned int		n;		/* entries used, ring order */
	unsigned int		next;
	struct nflab_thist_ent	e[NFLAB_CT_HISTORY_MAX];
};

static DEFINE_MUTEX(nflab_trace_mutex);
static LIST_HEAD(nflab_traces);		/* every trace object */
static unsigned int nflab_trace_objs;	/* their number */
static atomic_t nflab_trace_ids = ATOMIC_INIT(0);
static atomic64_t nflab_tpkt_ids = ATOMIC64_INIT(0);

static DEFINE_SPINLOCK(nflab_tpkt_lock);
static struct hlist_head nflab_tpkt_skb[1 << NFLAB_TPKT_BITS];
static struct hlist_head nflab_tpkt_head[1 << NFLAB_TPKT_BITS];
static LIST_HEAD(nflab_tpkts);
static atomic_t nflab_tpkt_n = ATOMIC_INIT(0);
/* Histories, under nflab_tpkt_lock too. */
static struct hlist_head nflab_thist_hash[1 << NFLAB_THIST_BITS];
static LIST_HEAD(nflab_thist_lru);
static unsigned int nflab_thist_n;

/* Records the probe ended, waiting for nflab_trace_gone_fn(). */
static LIST_HEAD(nflab_tpkt_gonelist);
/* No trace may start: before the hooks are up, and once they go. */
static bool nflab_trace_closed = true;

static void nflab_trace_work_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(nflab_trace_work, nflab_trace_work_fn);
static void nflab_trace_gone_fn(struct work_struct *work);
static DECLARE_WORK(nflab_trace_gone_work, nflab_trace_gone_fn);

/* Packets */

/* The packet's tuple as it is now; ICMP keeps its type, and id if a query. */
static bool nflab_trace_pkt(const struct sk_buff *skb, struct nflab_tuple *t,
			    u8 *tcp_flags, __be16 *ipid)
{
	const struct iphdr *iph;
	struct iphdr _iph;
	unsigned int off;
	u8 _b[16];
	const u8 *b;

	iph = skb_header_pointer(skb, skb_network_offset(skb), sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5)
		return false;
	memset(t, 0, sizeof(*t));
	t->src = iph->saddr;
	t->dst = iph->daddr;
	t->proto = iph->protocol;
	*ipid = iph->id;
	*tcp_flags = 0;
	if (iph->frag_off & htons(IP_OFFSET))
		return true;
	off = skb_network_offset(skb) + iph->ihl * 4;
	switch (t->proto) {
	case IPPROTO_TCP:
		b = skb_header_pointer(skb, off, 14, _b);
		if (b)
			*tcp_flags = b[13];
		fallthrough;
	case IPPROTO_UDP:
		b = skb_header_pointer(skb, off, 4, _b);
		if (b)
			memcpy(&t->u.p, b, 4);
		break;
	case IPPROTO_ICMP:
		b = skb_header_pointer(skb, off, 8, _b);
		if (!b)
			break;
		t->u.icmp.type = b[0];
		switch (b[0]) {
		case ICMP_ECHO:
		case ICMP_ECHOREPLY:
		case ICMP_TIMESTAMP:
		case ICMP_TIMESTAMPREPLY:
		case ICMP_INFO_REQUEST:
		case ICMP_INFO_REPLY:
			memcpy(&t->u.icmp.id, b + 4, 2);
		}
		break;
	}
	return true;
}

static bool nflab_sel_ports(const struct nflab_trace_sel *s,
			    const struct nflab_tuple *t)
{
	if (!(s->have & (NFLAB_SEL_SPORT | NFLAB_SEL_DPORT | NFLAB_SEL_PORT)))
		return true;
	if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
		return false;
	return (!(s->have & NFLAB_SEL_SPORT) || t->u.p.sport == s->sport) &&
	       (!(s->have & NFLAB_SEL_DPORT) || t->u.p.dport == s->dport) &&
	       (!(s->have & NFLAB_SEL_PORT) || t->u.p.sport == s->port ||
		t->u.p.dport == s->port);
}

static bool nflab_sel_tuple(const struct nflab_trace_sel *s,
			    const struct nflab_tuple *t)
{
	return (!(s->have & NFLAB_SEL_PROTO) || t->proto == s->proto) &&
	       (t->src & s->src_mask) == s->src &&
	       (t->dst & s->dst_mask) == s->dst &&
	       ((t->src & s->host_mask) == s->host ||
		(t->dst & s->host_mask) == s->host) &&
	       nflab_sel_ports(s, t);
}

static bool nflab_sel_dev(const struct nflab_trace_sel *s,
			  const struct nf_hook_state *st)
{
	if (!(s->have & NFLAB_SEL_IFNAME))
		return true;
	return (st->in && !strncmp(st->in->name, s->ifname, IFNAMSIZ)) ||
	       (st->out && !strncmp(st->out->name, s->ifname, IFNAMSIZ));
}

/*
 * The first live trace of the namespace that wants the packet and has
 * budget left, with one packet of its budget taken. RCU.
 */
static struct nflab_trace *nflab_trace_choose(const struct nf_hook_state *st,
					      const struct nflab_tuple *a,
					      const struct nflab_tuple *b)
{
	struct nflab_net *nn = nflab_pernet(st->net);
	struct nflab_trace *t;
	int left;

	list_for_each_entry_rcu(t, &nn->traces, list) {
		if (!nflab_sel_dev(&t->sel, st))
			continue;
		if (!nflab_sel_tuple(&t->sel, a) &&
		    !(b && nflab_sel_tuple(&t->sel, b)))
			continue;
		left = atomic_dec_if_positive(&t->left);
		if (left < 0)
			continue;
		if (!left)	/* the last packet: the work ends the trace */
			mod_delayed_work(system_wq, &nflab_trace_work, 0);
		return t;
	}
	return NULL;
}

/* Records */

static struct hlist_head *nflab_tpkt_skb_bucket(const void *skb)
{
	return &nflab_tpkt_skb[hash_ptr(skb, NFLAB_TPKT_BITS)];
}

static struct hlist_head *nflab_tpkt_head_bucket(const void *head)
{
	return &nflab_tpkt_head[hash_ptr(head, NFLAB_TPKT_BITS)];
}

/* The record the skb's address names; RCU, no lock: check ->hashed. */
static struct nflab_tpkt *nflab_tpkt_find(const struct sk_buff *skb)
{
	struct nflab_tpkt *r;

	if (!atomic_read(&nflab_tpkt_n))
		return NULL;
	hlist_for_each_entry_rcu(r, nflab_tpkt_skb_bucket(skb), by_skb)
		if (r->skb == skb)
			return r;
	return NULL;
}

static struct nflab_tpkt *nflab_tpkt_find_head(const struct sk_buff *skb)
{
	struct nflab_tpkt *r;

	hlist_for_each_entry_rcu(r, nflab_tpkt_head_bucket(skb->head), by_head)
		if (r->head == skb->head)
			return r;
	return NULL;
}

/* Take the record out of the hash; its caller owns it from now on. */
static void nflab_tpkt_unhash(struct nflab_tpkt *r)
{
	lockdep_assert_held(&nflab_tpkt_lock);

	r->hashed = false;
	hlist_del_rcu(&r->by_skb);
	hlist_del_rcu(&r->by_head);
	list_del_init(&r->all);
	atomic_dec(&nflab_tpkt_n);
}

/* An unhashed record's last use: its trace may go after this. */
static void nflab_tpkt_release(struct nflab_tpkt *r)
{
	atomic_dec(&r->trace->nrec);
	kfree_rcu(r, rcu);
}

/* Open the record at the hook: what the packet is as nflab meets it. */
static void nflab_tpkt_open(struct nflab_tpkt *r, const struct sk_buff *skb,
			    const struct nf_hook_state *st)
{
	__be16 ipid;

	lockdep_assert_held(&nflab_tpkt_lock);

	r->hook = st->hook;
	r->open = true;
	r->done = false;
	r->seen = jiffies;
	r->iif = st->in ? st->in->ifindex : 0;
	r->oif = st->out ? st->out->ifindex : 0;
	strscpy(r->iifname, st->in ? st->in->name : "", IFNAMSIZ);
	strscpy(r->oifname, st->out ? st->out->name : "", IFNAMSIZ);
	r->len = skb->len;
	nflab_trace_pkt(skb, &r->in, &r->tcp_flags, &ipid);
	memset(&r->ct, 0, sizeof(r->ct));
	r->nrules = 0;
}

/* A new record for skb, in trace t (or packet id of a clone's original). */
static struct nflab_tpkt *nflab_tpkt_new(struct sk_buff *skb,
					 const struct nf_hook_state *st,
					 struct nflab_trace *t, u64 id)
{
	struct nflab_tpkt *r;
	struct nflab_tuple tu;
	__be16 ipid;
	u8 flags;

	lockdep_assert_held(&nflab_tpkt_lock);

	/* Ended: the work may be freeing it (see nflab_trace_idle()). */
	if (READ_ONCE(t->dead))
		return NULL;
	if (atomic_read(&nflab_tpkt_n) >= NFLAB_TPKT_MAX ||
	    !nflab_trace_pkt(skb, &tu, &flags, &ipid))
		goto out_lost;
	r = kzalloc(sizeof(*r), GFP_ATOMIC);
	if (!r)
		goto out_lost;
	r->skb = skb;
	r->head = skb->head;
	r->net = st->net;
	r->trace = t;
	r->id = id ?: atomic64_inc_return(&nflab_tpkt_ids);
	r->ipid = ipid;
	r->proto = tu.proto;
	r->hashed = true;
	atomic_inc(&t->nrec);
	atomic_inc(&nflab_tpkt_n);
	hlist_add_head_rcu(&r->by_skb, nflab_tpkt_skb_bucket(skb));
	hlist_add_head_rcu(&r->by_head, nflab_tpkt_head_bucket(skb->head));
	list_add_tail(&r->all, &nflab_tpkts);
	nflab_tpkt_open(r, skb, st);
	r->last = r->in;
	return r;

out_lost:
	/* Its events are lost: one number for them keeps SEQ = EVENTS + LOST. */
	atomic64_inc(&t->seq);
	atomic64_inc(&t->lost);
	return NULL;
}

/*
 * Is the packet at skb's address the record's? Its IP id and protocol,
 * and one of its addresses as the record last saw them (at the open
 * hook's start, or as it left the last): NAT changes one side at a time.
 * The caller checks the namespace where it knows it.
 */
static bool nflab_tpkt_fits(const struct nflab_tpkt *r, const struct sk_buff *skb)
{
	const struct nflab_tuple *ref = r->open ? &r->in : &r->last;
	const struct iphdr *iph;
	struct iphdr _iph;

	if (skb->network_header == (typeof(skb->network_header))~0U)
		return false;
	iph = skb_header_pointer(skb, skb_network_offset(skb), sizeof(_iph), &_iph);
	return iph && iph->version == 4 && iph->id == r->ipid &&
	       iph->protocol == r->proto &&
	       (iph->saddr == ref->src || iph->daddr == ref->dst);
}

/* Events */

static bool nflab_trace_rate_ok(struct nflab_trace *t)
{
	lockdep_assert_held(&t->emit_lock);

	if (time_after(jiffies, t->rate_start + HZ)) {
		t->rate_start = jiffies;
		t->rate_n = 0;
	}
	return t->rate_n++ < NFLAB_TRACE_RATE;
}

static int nflab_trace_put_tuple(struct sk_buff *msg, int type,
				 const struct nflab_tuple *t)
{
	struct nlattr *nest = nla_nest_start(msg, type);

	if (!nest ||
	    nla_put_in_addr(msg, NFLAB_TUPLE_A_SRC, t->src) ||
	    nla_put_in_addr(msg, NFLAB_TUPLE_A_DST, t->dst) ||
	    nla_put_u8(msg, NFLAB_TUPLE_A_PROTO, t->proto))
		return -EMSGSIZE;
	switch (t->proto) {
	case IPPROTO_ICMP:
		if (nla_put_be16(msg, NFLAB_TUPLE_A_ICMP_ID, t->u.icmp.id) ||
		    nla_put_u8(msg, NFLAB_TUPLE_A_ICMP_TYPE, t->u.icmp.type))
			return -EMSGSIZE;
		break;
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (nla_put_be16(msg, NFLAB_TUPLE_A_SPORT, t->u.p.sport) ||
		    nla_put_be16(msg, NFLAB_TUPLE_A_DPORT, t->u.p.dport))
			return -EMSGSIZE;
		break;
	}
	nla_nest_end(msg, nest);
	return 0;
}

static int nflab_trace_put_ct(struct sk_buff *msg, const struct nflab_ct_res *c)
{
	if (!c->kind)
		return 0;
	if (nla_put_u8(msg, NFLAB_TRACE_EV_A_CT, c->kind) ||
	    (c->kind == NFLAB_TRACE_CT_INVALID &&
	     nla_put_u8(msg, NFLAB_TRACE_EV_A_CT_INVALID, c->invalid)))
		return -EMSGSIZE;
	if (!c->has_ct)
		return 0;
	if (nla_put_u32(msg, NFLAB_TRACE_EV_A_CT_ID, c->id) ||
	    nla_put_u8(msg, NFLAB_TRACE_EV_A_CT_DIR, c->dir) ||
	    nla_put_u32(msg, NFLAB_TRACE_EV_A_CT_STATUS,
			c->status & NFLAB_CT_STATUS_ALL))
		return -EMSGSIZE;
	if (c->orig.proto == IPPROTO_TCP &&
	    (nla_put_u8(msg, NFLAB_TRACE_EV_A_TCP_STATE_OLD, c->tcp_old) ||
	     nla_put_u8(msg, NFLAB_TRACE_EV_A_TCP_STATE, c->tcp_new)))
		return -EMSGSIZE;
	return 0;
}

static int nflab_trace_put_rules(struct sk_buff *msg, const struct nflab_tpkt *r)
{
	unsigned int i;

	for (i = 0; i < r->nrules; i++) {
		const struct nflab_trule *tr = &r->rules[i];
		struct nlattr *nest = nla_nest_start(msg, NFLAB_TRACE_EV_A_RULE);

		if (!nest ||
		    nla_put_u8(msg, NFLAB_RULE_A_TABLE, tr->table) ||
		    nla_put_string(msg, NFLAB_RULE_A_CHAIN, tr->chain) ||
		    (tr->handle &&
		     nla_put_u64_64bit(msg, NFLAB_RULE_A_HANDLE, tr->handle,
				       NFLAB_RULE_A_PAD)) ||
		    (tr->comment[0] &&
		     nla_put_string(msg, NFLAB_RULE_A_COMMENT, tr->comment)) ||
		    nla_put_u8(msg, NFLAB_RULE_A_VERDICT, tr->verdict))
			return -EMSGSIZE;
		nla_nest_end(msg, nest);
	}
	return 0;
}

/* An event's size: its fixed part, and each rule's strings. */
static size_t nflab_trace_event_size(const struct nflab_tpkt *r)
{
	size_t size = 512;
	unsigned int i;

	for (i = 0; i < r->nrules; i++)
		size += 64 + nla_total_size(strlen(r->rules[i].chain) + 1) +
			nla_total_size(strlen(r->rules[i].comment) + 1);
	return size;
}

/*
 * Send the event of a record the caller owns (unhashed, or its packet's
 * own hook). now, where given, is the packet as it is now: its tuple, if
 * NAT changed it. Events over the rate limit or with no listener are
 * counted lost. Never under nflab_tpkt_lock, never in hard IRQ context.
 */
static void nflab_trace_emit(const struct nflab_tpkt *r, u8 kind, u8 verdict,
			     u8 by, const char *reason,
			     const struct nflab_tuple *now)
{
	struct nflab_trace *t = r->trace;
	struct nlattr *nest;
	struct sk_buff *msg;
	u64 seq;
	void *hdr;

	spin_lock_bh(&t->emit_lock);
	seq = atomic64_inc_return(&t->seq);
	if (!nflab_trace_rate_ok(t) ||
	    !genl_has_listeners(&nflab_genl_family, r->net, NFLAB_MCGRP_TRACE_ID))
		goto out_lost;
	msg = genlmsg_new(nflab_trace_event_size(r), GFP_ATOMIC);
	if (!msg)
		goto out_lost;
	hdr = genlmsg_put(msg, 0, 0, &nflab_genl_family, 0, NFLAB_CMD_TRACE_EVENT);
	if (!hdr)
		goto err_free;
	nest = nla_nest_start(msg, NFLAB_A_TRACE_EVENT);
	if (!nest ||
	    nla_put_u32(msg, NFLAB_TRACE_EV_A_TRACE, t->id) ||
	    nla_put_u64_64bit(msg, NFLAB_TRACE_EV_A_SEQ, seq, NFLAB_TRACE_EV_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_TRACE_EV_A_PACKET, r->id,
			      NFLAB_TRACE_EV_A_PAD) ||
	    nla_put_u8(msg, NFLAB_TRACE_EV_A_KIND, kind) ||
	    nla_put_u32(msg, NFLAB_TRACE_EV_A_HOOK, r->hook) ||
	    nla_put_u64_64bit(msg, NFLAB_TRACE_EV_A_TIME, ktime_get_real_ns(),
			      NFLAB_TRACE_EV_A_PAD) ||
	    nla_put_u32(msg, NFLAB_TRACE_EV_A_LEN, r->len) ||
	    nflab_trace_put_tuple(msg, NFLAB_TRACE_EV_A_TUPLE, &r->in))
		goto err_free;
	if (r->iif && (nla_put_u32(msg, NFLAB_TRACE_EV_A_IIF, r->iif) ||
		       nla_put_string(msg, NFLAB_TRACE_EV_A_IIFNAME, r->iifname)))
		goto err_free;
	if (r->oif && (nla_put_u32(msg, NFLAB_TRACE_EV_A_OIF, r->oif) ||
		       nla_put_string(msg, NFLAB_TRACE_EV_A_OIFNAME, r->oifname)))
		goto err_free;
	if (now && !nflab_tuple_equal(now, &r->in) &&
	    nflab_trace_put_tuple(msg, NFLAB_TRACE_EV_A_TUPLE_OUT, now))
		goto err_free;
	if ((r->in.proto == IPPROTO_TCP &&
	     nla_put_u8(msg, NFLAB_TRACE_EV_A_TCP_FLAGS, r->tcp_flags)) ||
	    nflab_trace_put_ct(msg, &r->ct) ||
	    nflab_trace_put_rules(msg, r) ||
	    (verdict && nla_put_u8(msg, NFLAB_TRACE_EV_A_VERDICT, verdict)) ||
	    (by && nla_put_u8(msg, NFLAB_TRACE_EV_A_DROP_BY, by)) ||
	    (reason && reason[0] &&
	     nla_put_string(msg, NFLAB_TRACE_EV_A_DROP_REASON, reason)))
		goto err_free;
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	atomic64_inc(&t->events);
	genlmsg_multicast_netns(&nflab_genl_family, r->net, msg, 0,
				NFLAB_MCGRP_TRACE_ID, GFP_ATOMIC);
	spin_unlock_bh(&t->emit_lock);
	return;

err_free:
	nlmsg_free(msg);
out_lost:
	atomic64_inc(&t->lost);
	spin_unlock_bh(&t->emit_lock);
}

/* Where a packet nflab did not see go went: inside, between or after. */
static u8 nflab_tpkt_where(const struct nflab_tpkt *r)
{
	return r->open ? NFLAB_TRACE_BY_HOOK :
	       r->done ? NFLAB_TRACE_BY_AFTER : NFLAB_TRACE_BY_BETWEEN;
}

/* Report an unhashed record's packet gone (unseen, or with r->reason). */
static void nflab_tpkt_gone(struct nflab_tpkt *r)
{
	nflab_trace_emit(r, NFLAB_TRACE_KIND_GONE, 0, r->gone_by, r->reason, NULL);
	nflab_tpkt_release(r);
}

/* A record met another packet: report it gone if its way was not over. */
static void nflab_tpkt_stale(struct nflab_tpkt *r)
{
	if (r->done) {
		nflab_tpkt_release(r);
		return;
	}
	r->gone_by = nflab_tpkt_where(r);
	nflab_tpkt_gone(r);
}

/* The probe's records, reported from process context. */
static void nflab_trace_gone_fn(struct work_struct *work)
{
	struct nflab_tpkt *r, *n;
	unsigned long flags;
	LIST_HEAD(gone);

	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	list_splice_init(&nflab_tpkt_gonelist, &gone);
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	list_for_each_entry_safe(r, n, &gone, all) {
		list_del(&r->all);
		nflab_tpkt_gone(r);
		cond_resched();
	}
}

/* Histories */

static struct nflab_thist *nflab_thist_find(u64 cookie)
{
	struct nflab_thist *h;

	lockdep_assert_held(&nflab_tpkt_lock);

	hlist_for_each_entry(h, &nflab_thist_hash[hash_64(cookie, NFLAB_THIST_BITS)], node)
		if (h->cookie == cookie)
			return h;
	return NULL;
}

/* The followed packet of r changed its connection's state: remember it. */
static void nflab_thist_note(const struct nflab_tpkt *r, const struct nflab_ct_res *c)
{
	struct nflab_thist_ent *e;
	struct nflab_thist *h;

	lockdep_assert_held(&nflab_tpkt_lock);

	if (!c->has_ct ||
	    (c->kind != NFLAB_TRACE_CT_NEW && c->tcp_old == c->tcp_new &&
	     !((c->status & ~c->status_old) & NFLAB_THIST_STATUS)))
		return;
	h = nflab_thist_find(c->cookie);
	if (!h && nflab_thist_n >= NFLAB_THIST_MAX) {
		/* Recycle the oldest. */
		h = list_first_entry(&nflab_thist_lru, struct nflab_thist, lru);
		hlist_del(&h->node);
		list_del(&h->lru);
		memset(h, 0, sizeof(*h));
		INIT_LIST_HEAD(&h->lru);
		nflab_thist_n--;
	} else if (!h) {
		h = kzalloc(sizeof(*h), GFP_ATOMIC);
		if (!h)
			return;
		INIT_LIST_HEAD(&h->lru);
	} else {
		list_del(&h->lru);
		nflab_thist_n--;
	}
	if (hlist_unhashed(&h->node)) {
		h->cookie = c->cookie;
		h->tcp = c->orig.proto == IPPROTO_TCP;
		hlist_add_head(&h->node,
			       &nflab_thist_hash[hash_64(c->cookie, NFLAB_THIST_BITS)]);
	}
	list_add_tail(&h->lru, &nflab_thist_lru);
	nflab_thist_n++;
	e = &h->e[h->next];
	h->next = (h->next + 1) % NFLAB_CT_HISTORY_MAX;
	if (h->n < NFLAB_CT_HISTORY_MAX)
		h->n++;
	e->time = ktime_get_real_ns();
	e->packet = r->id;
	e->trace = r->trace->id;
	e->hook = r->hook;
	e->dir = c->dir;
	e->tcp_old = c->tcp_old;
	e->tcp_new = c->tcp_new;
	e->status_old = c->status_old & NFLAB_CT_STATUS_ALL;
	e->status = c->status & NFLAB_CT_STATUS_ALL;
}

/* Every history goes: the last trace did. */
static void nflab_thist_flush(void)
{
	struct nflab_thist *h, *n;
	unsigned long flags;

	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	list_for_each_entry_safe(h, n, &nflab_thist_lru, lru) {
		hlist_del(&h->node);
		list_del(&h->lru);
		kfree(h);
	}
	nflab_thist_n = 0;
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
}

/* NFLAB_CT_A_HISTORY of a CT_GET reply, if the connection has one. */
int nflab_trace_put_history(struct sk_buff *msg, const struct nflab_conn *ct)
{
	struct nflab_thist *copy, *h;
	struct nlattr *nest, *ent;
	unsigned long flags;
	unsigned int i;
	int ret = 0;

	if (!nflab_tracing())
		return 0;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	h = nflab_thist_find(ct->cookie);
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (!h)
		return 0;
	/* It may go meanwhile: look again, with room for a copy. */
	copy = kmalloc(sizeof(*copy), GFP_KERNEL);
	if (!copy)
		return -EMSGSIZE;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	h = nflab_thist_find(ct->cookie);
	if (h)
		*copy = *h;
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (!h)
		goto out_free;
	ret = -EMSGSIZE;
	nest = nla_nest_start(msg, NFLAB_CT_A_HISTORY);
	if (!nest)
		goto out_free;
	for (i = 0; i < copy->n; i++) {
		/* Oldest first: the ring's next slot, if it went round. */
		unsigned int k = (copy->next + NFLAB_CT_HISTORY_MAX - copy->n + i) %
				 NFLAB_CT_HISTORY_MAX;
		const struct nflab_thist_ent *e = &copy->e[k];

		ent = nla_nest_start(msg, NFLAB_CT_HISTORY_A_ENTRY);
		if (!ent ||
		    nla_put_u64_64bit(msg, NFLAB_CT_HISTORY_A_TIME, e->time,
				      NFLAB_CT_HISTORY_A_PAD) ||
		    nla_put_u64_64bit(msg, NFLAB_CT_HISTORY_A_PACKET, e->packet,
				      NFLAB_CT_HISTORY_A_PAD) ||
		    nla_put_u32(msg, NFLAB_CT_HISTORY_A_TRACE, e->trace) ||
		    nla_put_u32(msg, NFLAB_CT_HISTORY_A_HOOK, e->hook) ||
		    nla_put_u8(msg, NFLAB_CT_HISTORY_A_DIR, e->dir) ||
		    (copy->tcp &&
		     (nla_put_u8(msg, NFLAB_CT_HISTORY_A_TCP_STATE_OLD, e->tcp_old) ||
		      nla_put_u8(msg, NFLAB_CT_HISTORY_A_TCP_STATE, e->tcp_new))) ||
		    nla_put_u32(msg, NFLAB_CT_HISTORY_A_STATUS_OLD, e->status_old) ||
		    nla_put_u32(msg, NFLAB_CT_HISTORY_A_STATUS, e->status))
			goto out_free;
		nla_nest_end(msg, ent);
	}
	nla_nest_end(msg, nest);
	ret = 0;
out_free:
	kfree(copy);
	return ret;
}

/* The hooks' side */

void nflab_trace_ct_note(struct nflab_ct_res *res, const struct nflab_conn *ct,
			 u8 dir)
{
	res->has_ct = true;
	res->dir = dir;
	res->id = ct->id;
	res->cookie = ct->cookie;
	res->status = READ_ONCE(ct->status);
	res->orig = ct->th[NFLAB_DIR_ORIG].tuple;
	res->reply = ct->th[NFLAB_DIR_REPLY].tuple;
	if (res->orig.proto == IPPROTO_TCP)
		res->tcp_new = READ_ONCE(ct->proto.tcp.state);
}

/* A packet loops back: POST_ROUTING, then PRE_ROUTING on loopback. */
static bool nflab_tpkt_loops(const struct nflab_tpkt *r, const struct sk_buff *skb,
			     const struct nf_hook_state *st)
{
	struct nflab_tuple now;
	__be16 ipid;
	u8 flags;

	return r->done && r->hook == NF_INET_POST_ROUTING &&
	       st->hook == NF_INET_PRE_ROUTING && r->net == st->net &&
	       ((st->in && (st->in->flags & IFF_LOOPBACK)) ||
		skb->pkt_type == PACKET_LOOPBACK) &&
	       nflab_trace_pkt(skb, &now, &flags, &ipid) && ipid == r->ipid &&
	       nflab_tuple_equal(&now, &r->last);
}

/*
 * The tracking hook, before anything else of nflab's at PRE_ROUTING or
 * LOCAL_OUT: a packet that loops back goes on with its record; any other
 * record at this address is over. Then the traces of the namespace that
 * want the packet by its own tuple. Returns whether one was chosen.
 */
bool nflab_trace_begin(struct sk_buff *skb, const struct nf_hook_state *st)
{
	struct nflab_tpkt *r, *stale = NULL;
	struct nflab_trace *t;
	struct nflab_tuple tu;
	unsigned long flags;
	__be16 ipid;
	u8 tcpf;

	r = nflab_tpkt_find(skb);
	if (r) {
		spin_lock_irqsave(&nflab_tpkt_lock, flags);
		if (r->hashed) {
			if (nflab_tpkt_loops(r, skb, st)) {
				nflab_tpkt_open(r, skb, st);
				spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
				return true;
			}
			nflab_tpkt_unhash(r);
			stale = r;
		}
		spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
		if (stale)
			nflab_tpkt_stale(stale);
	}
	if (list_empty(&nflab_pernet(st->net)->traces) ||
	    !nflab_trace_pkt(skb, &tu, &tcpf, &ipid))
		return false;
	t = nflab_trace_choose(st, &tu, NULL);
	if (!t)
		return false;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	nflab_tpkt_new(skb, st, t, 0);
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	return true;
}

/*
 * The tracking hook, after tracking: the tracker's result for the record,
 * or a record for a trace that wants the packet's connection (unless
 * begin chose one already). A packet the tracker dropped (its table
 * full) ends here.
 */
void nflab_trace_ct(struct sk_buff *skb, const struct nf_hook_state *st,
		    const struct nflab_ct_res *res, unsigned int verdict,
		    bool chosen)
{
	struct nflab_tpkt *r, *end = NULL;
	struct nflab_tuple now;
	struct nflab_trace *t;
	unsigned long flags;
	__be16 ipid;
	u8 tcpf;

	r = nflab_tpkt_find(skb);
	if (!r && !chosen && res->has_ct) {
		t = nflab_trace_choose(st, &res->orig, &res->reply);
		if (!t)
			return;
		spin_lock_irqsave(&nflab_tpkt_lock, flags);
		r = nflab_tpkt_new(skb, st, t, 0);
		spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	}
	if (!r)
		return;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (r->hashed && r->open && r->hook == st->hook) {
		r->ct = *res;
		nflab_thist_note(r, res);
		if ((verdict & NF_VERDICT_MASK) == NF_DROP) {
			nflab_tpkt_unhash(r);
			end = r;
		}
	}
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (!end)
		return;
	nflab_trace_emit(end, NFLAB_TRACE_KIND_HOOK, NFLAB_TRACE_VERDICT_DROP,
			 NFLAB_TRACE_BY_TRACKER, NULL,
			 nflab_trace_pkt(skb, &now, &tcpf, &ipid) ? &now : NULL);
	nflab_tpkt_release(end);
}

/*
 * The first function of nflab's at LOCAL_IN, FORWARD and POST_ROUTING:
 * open the packet's record at this hook. A clone of a followed packet
 * gets its own record with its original's packet id.
 */
void nflab_trace_enter(struct sk_buff *skb, const struct nf_hook_state *st)
{
	struct nflab_tpkt *r, *orig, *stale = NULL;
	unsigned long flags;

	r = nflab_tpkt_find(skb);
	if (r) {
		spin_lock_irqsave(&nflab_tpkt_lock, flags);
		if (r->hashed) {
			if (!r->done && r->net == st->net && nflab_tpkt_fits(r, skb)) {
				nflab_tpkt_open(r, skb, st);
			} else {
				nflab_tpkt_unhash(r);
				stale = r;
			}
		}
		spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
		if (stale)
			nflab_tpkt_stale(stale);
		return;
	}
	if (!skb_cloned(skb) || !atomic_read(&nflab_tpkt_n))
		return;
	orig = nflab_tpkt_find_head(skb);
	if (!orig)
		return;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (orig->hashed && !orig->done && orig->net == st->net &&
	    nflab_tpkt_fits(orig, skb))
		nflab_tpkt_new(skb, st, orig->trace, orig->id);
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
}

/* End the record of a packet nflab drops at its open hook, and say so. */
static void nflab_trace_dropped(struct sk_buff *skb, const struct nf_hook_state *st,
				struct nflab_tpkt *r, u8 verdict, u8 by)
{
	struct nflab_tuple now;
	__be16 ipid;
	u8 tcpf;

	nflab_trace_emit(r, NFLAB_TRACE_KIND_HOOK, verdict, by, NULL,
			 nflab_trace_pkt(skb, &now, &tcpf, &ipid) ? &now : NULL);
	nflab_tpkt_release(r);
}

/*
 * A table's chains decided at the hook: remember the rule (or the policy,
 * when it drops); a drop ends the packet here.
 */
void nflab_trace_rule(struct sk_buff *skb, const struct nf_hook_state *st,
		      u8 table, const char *chain, const struct nflab_rule *rule,
		      u8 action, unsigned int verdict)
{
	bool drop = (verdict & NF_VERDICT_MASK) != NF_ACCEPT;
	struct nflab_tpkt *r, *end = NULL;
	struct nflab_trule *tr;
	unsigned long flags;
	u8 v;

	if (!rule && !drop)
		return;		/* a policy that accepts decided nothing */
	r = nflab_tpkt_find(skb);
	if (!r)
		return;
	v = !drop ? NFLAB_TRACE_VERDICT_ACCEPT :
	    action == NFLAB_ACTION_REJECT ? NFLAB_TRACE_VERDICT_STOLEN :
	    NFLAB_TRACE_VERDICT_DROP;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (!r->hashed || !r->open || r->hook != st->hook)
		goto out_unlock;
	if (r->nrules < NFLAB_TRACE_RULES) {
		tr = &r->rules[r->nrules++];
		tr->table = table;
		tr->verdict = v;
		strscpy(tr->chain, chain, sizeof(tr->chain));
		tr->handle = rule ? rule->handle : 0;
		strscpy(tr->comment, rule && rule->comment ? rule->comment : "",
			sizeof(tr->comment));
	}
	if (drop) {
		nflab_tpkt_unhash(r);
		end = r;
	}
out_unlock:
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (end)
		nflab_trace_dropped(skb, st, end, v, NFLAB_TRACE_BY_RULE);
}

/* nflab dropped the packet at the hook, for a cause other than a rule. */
void nflab_trace_drop(struct sk_buff *skb, const struct nf_hook_state *st,
		      u8 by)
{
	struct nflab_tpkt *r, *end = NULL;
	unsigned long flags;

	r = nflab_tpkt_find(skb);
	if (!r)
		return;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (r->hashed && r->open && r->hook == st->hook) {
		nflab_tpkt_unhash(r);
		end = r;
	}
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (end)
		nflab_trace_dropped(skb, st, end, NFLAB_TRACE_VERDICT_DROP, by);
}

/*
 * The packet leaves the hook, accepted by everything there. The record
 * stays hashed: only this packet's path writes what the event reads, and
 * nothing else ends it while the packet is in its hook.
 */
void nflab_trace_tail(struct sk_buff *skb, const struct nf_hook_state *st)
{
	struct nflab_tuple now;
	struct nflab_tpkt *r;
	unsigned long flags;
	bool send = false;
	__be16 ipid;
	u8 tcpf;

	r = nflab_tpkt_find(skb);
	if (!r || !nflab_trace_pkt(skb, &now, &tcpf, &ipid))
		return;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (r->hashed && r->open && r->hook == st->hook) {
		r->open = false;
		r->done = st->hook == NF_INET_LOCAL_IN ||
			  st->hook == NF_INET_POST_ROUTING;
		r->seen = jiffies;
		r->last = now;
		send = true;
	}
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (send)
		nflab_trace_emit(r, NFLAB_TRACE_KIND_HOOK,
				 NFLAB_TRACE_VERDICT_ACCEPT, 0, NULL, &now);
}

static unsigned int nflab_trace_tail_hook(void *priv, struct sk_buff *skb,
					  const struct nf_hook_state *st)
{
	if (nflab_tracing())
		nflab_trace_tail(skb, st);
	return NF_ACCEPT;
}

/*
 * At INT_MAX at PRE_ROUTING, FORWARD and LOCAL_OUT, registered while the
 * namespace has traces: after every other hook there but one at INT_MAX
 * registered before it (nf_hook_entries_grow() puts a new hook before
 * those of its priority). At LOCAL_IN and POST_ROUTING the confirm hook
 * does this.
 */
static const struct nf_hook_ops nflab_trace_ops[] = {
	{
		.hook		= nflab_trace_tail_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_PRE_ROUTING,
		.priority	= INT_MAX,
	},
	{
		.hook		= nflab_trace_tail_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_FORWARD,
		.priority	= INT_MAX,
	},
	{
		.hook		= nflab_trace_tail_hook,
		.pf		= NFPROTO_IPV4,
		.hooknum	= NF_INET_LOCAL_OUT,
		.priority	= INT_MAX,
	},
};

/*
 * The kernel frees a packet: if it is a followed one, it went where nflab
 * did not see. This runs wherever the kernel frees packets, with any lock
 * held: it only ends the record; nflab_trace_gone_fn() reports it.
 */
static NFLAB_KFREE_SKB_PROBE(nflab_trace_kfree_skb)
{
	struct nflab_tpkt *r;
	unsigned long flags;
	const char *name;
	bool queued = false;

	rcu_read_lock();
	r = nflab_tpkt_find(skb);
	if (!r)
		goto out_unlock;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	if (r->hashed && nflab_tpkt_fits(r, skb)) {
		nflab_tpkt_unhash(r);
		r->gone_by = nflab_tpkt_where(r);
		name = nflab_drop_reason_name(reason);
		strscpy(r->reason, name ?: "", sizeof(r->reason));
		list_add_tail(&r->all, &nflab_tpkt_gonelist);
		queued = true;
	}
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	if (queued)
		queue_work(system_wq, &nflab_trace_gone_work);
out_unlock:
	rcu_read_unlock();
}

/* Traces */

static void nflab_trace_free(struct nflab_trace *t, bool end_event)
{
	struct nflab_net *nn = nflab_pernet(t->net);
	struct sk_buff *msg;
	struct nlattr *nest;
	void *hdr;

	lockdep_assert_held(&nflab_trace_mutex);

	/* The last event of the trace, in SEQ order like the others. */
	spin_lock_bh(&t->emit_lock);
	if (end_event &&
	    genl_has_listeners(&nflab_genl_family, t->net, NFLAB_MCGRP_TRACE_ID)) {
		msg = genlmsg_new(256, GFP_ATOMIC);
		hdr = msg ? genlmsg_put(msg, 0, 0, &nflab_genl_family, 0,
					NFLAB_CMD_TRACE_EVENT) : NULL;
		nest = hdr ? nla_nest_start(msg, NFLAB_A_TRACE_EVENT) : NULL;
		if (nest &&
		    !nla_put_u32(msg, NFLAB_TRACE_EV_A_TRACE, t->id) &&
		    !nla_put_u64_64bit(msg, NFLAB_TRACE_EV_A_SEQ,
				       atomic64_inc_return(&t->seq),
				       NFLAB_TRACE_EV_A_PAD) &&
		    !nla_put_u8(msg, NFLAB_TRACE_EV_A_KIND, NFLAB_TRACE_KIND_END) &&
		    !nla_put_u64_64bit(msg, NFLAB_TRACE_EV_A_TIME,
				       ktime_get_real_ns(), NFLAB_TRACE_EV_A_PAD)) {
			nla_nest_end(msg, nest);
			genlmsg_end(msg, hdr);
			genlmsg_multicast_netns(&nflab_genl_family, t->net, msg,
						0, NFLAB_MCGRP_TRACE_ID,
						GFP_ATOMIC);
		} else {
			nlmsg_free(msg);
		}
	}
	spin_unlock_bh(&t->emit_lock);
	list_del(&t->all);
	if (!--nn->trace_objs && nn->trace_hooks) {
		nf_unregister_net_hooks(t->net, nflab_trace_ops,
					ARRAY_SIZE(nflab_trace_ops));
		nn->trace_hooks = false;
	}
	kfree_rcu(t, rcu);
	WRITE_ONCE(nflab_trace_users, nflab_trace_users - 1);
	if (!--nflab_trace_objs) {
		unregister_trace_kfree_skb(nflab_trace_kfree_skb, NULL);
		nflab_thist_flush();
	}
}

/* The trace chooses no more packets; it is freed when its records go. */
static void nflab_trace_end(struct nflab_trace *t)
{
	lockdep_assert_held(&nflab_trace_mutex);

	if (t->dead)
		return;
	/* nflab_tpkt_new() reads it under nflab_tpkt_lock. */
	WRITE_ONCE(t->dead, true);
	list_del_rcu(&t->list);
	nflab_pernet(t->net)->ntraces--;
}

/*
 * End records not seen for NFLAB_TPKT_IDLE, reporting those not known to
 * be delivered or sent as gone; or, with net, every record of net,
 * silently (the namespace goes), those the probe left to report too.
 */
static void nflab_tpkt_gc(const struct net *net)
{
	struct nflab_tpkt *r, *n;
	unsigned long flags;
	LIST_HEAD(gone);

	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	list_for_each_entry_safe(r, n, &nflab_tpkts, all) {
		if (net ? r->net != net :
		    time_before(jiffies, r->seen + NFLAB_TPKT_IDLE))
			continue;
		nflab_tpkt_unhash(r);
		r->gone_by = net ? 0 : nflab_tpkt_where(r);
		list_add_tail(&r->all, &gone);
	}
	list_for_each_entry_safe(r, n, &nflab_tpkt_gonelist, all) {
		if (net && r->net == net) {
			r->gone_by = 0;
			list_move_tail(&r->all, &gone);
		}
	}
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	/* At most NFLAB_TPKT_MAX of them. */
	list_for_each_entry_safe(r, n, &gone, all) {
		list_del(&r->all);
		if (net || r->done)
			nflab_tpkt_release(r);
		else
			nflab_tpkt_gone(r);
	}
}

/*
 * An ended trace no record names, and none will: records are made under
 * nflab_tpkt_lock, only for traces not ended, and the end was written
 * before this takes the lock.
 */
static bool nflab_trace_idle(struct nflab_trace *t)
{
	unsigned long flags;
	bool idle;

	lockdep_assert_held(&nflab_trace_mutex);

	if (!t->dead)
		return false;
	spin_lock_irqsave(&nflab_tpkt_lock, flags);
	idle = !atomic_read(&t->nrec);
	spin_unlock_irqrestore(&nflab_tpkt_lock, flags);
	return idle;
}

static void nflab_trace_work_fn(struct work_struct *work)
{
	struct nflab_trace *t, *n;

	mutex_lock(&nflab_trace_mutex);
	list_for_each_entry(t, &nflab_traces, all)
		if (!atomic_read(&t->left) || time_after_eq(jiffies, t->expires))
			nflab_trace_end(t);
	nflab_tpkt_gc(NULL);
	list_for_each_entry_safe(t, n, &nflab_traces, all)
		if (nflab_trace_idle(t))
			nflab_trace_free(t, true);
	if (nflab_trace_objs)
		schedule_delayed_work(&nflab_trace_work, HZ);
	mutex_unlock(&nflab_trace_mutex);
}

/* Netlink */

/* Not const: 6.1's NLA_POLICY_FULL_RANGE takes a plain pointer. */
static struct netlink_range_validation nflab_trace_budget_range = {
	.min = 1,
	.max = NFLAB_TRACE_BUDGET_MAX,
};

static struct netlink_range_validation nflab_trace_timeout_range = {
	.min = 1,
	.max = NFLAB_TRACE_TIMEOUT_MAX,
};

static const struct nla_policy nflab_trace_policy[NFLAB_TRACE_A_MAX + 1] = {
	[NFLAB_TRACE_A_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[NFLAB_TRACE_A_SRC]		= { .type = NLA_BE32 },
	[NFLAB_TRACE_A_SRC_PREFIX]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_TRACE_A_DST]		= { .type = NLA_BE32 },
	[NFLAB_TRACE_A_DST_PREFIX]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_TRACE_A_HOST]		= { .type = NLA_BE32 },
	[NFLAB_TRACE_A_HOST_PREFIX]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_TRACE_A_PROTO]		= { .type = NLA_U8 },
	[NFLAB_TRACE_A_SPORT]		= { .type = NLA_BE16 },
	[NFLAB_TRACE_A_DPORT]		= { .type = NLA_BE16 },
	[NFLAB_TRACE_A_PORT]		= { .type = NLA_BE16 },
	[NFLAB_TRACE_A_IFNAME]		= { .type = NLA_NUL_STRING,
					    .len = IFNAMSIZ - 1 },
	[NFLAB_TRACE_A_BUDGET]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_trace_budget_range),
	[NFLAB_TRACE_A_TIMEOUT]		=
		NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_trace_timeout_range),
	[NFLAB_TRACE_A_LEFT ... NFLAB_TRACE_A_LOST] = {
		.type = NLA_REJECT,
		.reject_message = "attribute is set by the module, not by a request",
	},
};

const struct nla_policy nflab_trace_op_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_TRACE]		= NLA_POLICY_NESTED(nflab_trace_policy),
};

/* A prefix: address and length, both or neither, no bit outside it. */
static int nflab_trace_prefix(struct nlattr **tb, int a, int alen,
			      __be32 *addr, __be32 *mask, u8 *len,
			      struct netlink_ext_ack *extack)
{
	*addr = 0;
	*mask = 0;
	*len = 0;
	if (!tb[a] && !tb[alen])
		return 0;
	if (!tb[a]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[alen], "prefix length without its address");
		return -EINVAL;
	}
	*len = tb[alen] ? nla_get_u8(tb[alen]) : 32;
	*mask = *len ? htonl(~0U << (32 - *len)) : 0;
	*addr = nla_get_in_addr(tb[a]);
	if (*addr & ~*mask) {
		NL_SET_ERR_MSG_ATTR(extack, tb[a], "address has bits outside its prefix");
		return -EINVAL;
	}
	return 0;
}

static int nflab_trace_parse(struct nlattr **tb, struct nflab_trace *t,
			     struct netlink_ext_ack *extack)
{
	struct nflab_trace_sel *s = &t->sel;
	struct nlattr *port;
	int ret;

	if (tb[NFLAB_TRACE_A_ID]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_TRACE_A_ID],
				    "the module numbers traces: no ID in a new one");
		return -EINVAL;
	}
	ret = nflab_trace_prefix(tb, NFLAB_TRACE_A_SRC, NFLAB_TRACE_A_SRC_PREFIX,
				 &s->src, &s->src_mask, &s->src_len, extack);
	if (!ret)
		ret = nflab_trace_prefix(tb, NFLAB_TRACE_A_DST,
					 NFLAB_TRACE_A_DST_PREFIX, &s->dst,
					 &s->dst_mask, &s->dst_len, extack);
	if (!ret)
		ret = nflab_trace_prefix(tb, NFLAB_TRACE_A_HOST,
					 NFLAB_TRACE_A_HOST_PREFIX, &s->host,
					 &s->host_mask, &s->host_len, extack);
	if (ret)
		return ret;
	if (tb[NFLAB_TRACE_A_PROTO]) {
		s->proto = nla_get_u8(tb[NFLAB_TRACE_A_PROTO]);
		s->have |= NFLAB_SEL_PROTO;
	}
	port = tb[NFLAB_TRACE_A_SPORT] ?: tb[NFLAB_TRACE_A_DPORT] ?:
	       tb[NFLAB_TRACE_A_PORT];
	if (port && (!(s->have & NFLAB_SEL_PROTO) ||
		     (s->proto != IPPROTO_TCP && s->proto != IPPROTO_UDP))) {
		NL_SET_ERR_MSG_ATTR(extack, port, "ports need protocol tcp or udp");
		return -EINVAL;
	}
	if (tb[NFLAB_TRACE_A_SPORT]) {
		s->sport = nla_get_be16(tb[NFLAB_TRACE_A_SPORT]);
		s->have |= NFLAB_SEL_SPORT;
	}
	if (tb[NFLAB_TRACE_A_DPORT]) {
		s->dport = nla_get_be16(tb[NFLAB_TRACE_A_DPORT]);
		s->have |= NFLAB_SEL_DPORT;
	}
	if (tb[NFLAB_TRACE_A_PORT]) {
		s->port = nla_get_be16(tb[NFLAB_TRACE_A_PORT]);
		s->have |= NFLAB_SEL_PORT;
	}
	if (tb[NFLAB_TRACE_A_IFNAME]) {
		if (!nla_len(tb[NFLAB_TRACE_A_IFNAME]) ||
		    !*(char *)nla_data(tb[NFLAB_TRACE_A_IFNAME])) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_TRACE_A_IFNAME],
					    "empty interface name");
			return -EINVAL;
		}
		nla_strscpy(s->ifname, tb[NFLAB_TRACE_A_IFNAME], IFNAMSIZ);
		s->have |= NFLAB_SEL_IFNAME;
	}
	t->budget = tb[NFLAB_TRACE_A_BUDGET] ?
		    nla_get_u32(tb[NFLAB_TRACE_A_BUDGET]) :
		    NFLAB_TRACE_BUDGET_DEFAULT;
	t->timeout = tb[NFLAB_TRACE_A_TIMEOUT] ?
		     nla_get_u32(tb[NFLAB_TRACE_A_TIMEOUT]) :
		     NFLAB_TRACE_TIMEOUT_DEFAULT;
	return 0;
}

static int nflab_trace_fill(struct sk_buff *msg, const struct nflab_trace *t)
{
	const struct nflab_trace_sel *s = &t->sel;
	long left = (long)t->expires - (long)jiffies;
	struct nlattr *nest;

	nest = nla_nest_start(msg, NFLAB_A_TRACE);
	if (!nest ||
	    nla_put_u32(msg, NFLAB_TRACE_A_ID, t->id) ||
	    (s->src_mask &&
	     (nla_put_in_addr(msg, NFLAB_TRACE_A_SRC, s->src) ||
	      nla_put_u8(msg, NFLAB_TRACE_A_SRC_PREFIX, s->src_len))) ||
	    (s->dst_mask &&
	     (nla_put_in_addr(msg, NFLAB_TRACE_A_DST, s->dst) ||
	      nla_put_u8(msg, NFLAB_TRACE_A_DST_PREFIX, s->dst_len))) ||
	    (s->host_mask &&
	     (nla_put_in_addr(msg, NFLAB_TRACE_A_HOST, s->host) ||
	      nla_put_u8(msg, NFLAB_TRACE_A_HOST_PREFIX, s->host_len))) ||
	    ((s->have & NFLAB_SEL_PROTO) &&
	     nla_put_u8(msg, NFLAB_TRACE_A_PROTO, s->proto)) ||
	    ((s->have & NFLAB_SEL_SPORT) &&
	     nla_put_be16(msg, NFLAB_TRACE_A_SPORT, s->sport)) ||
	    ((s->have & NFLAB_SEL_DPORT) &&
	     nla_put_be16(msg, NFLAB_TRACE_A_DPORT, s->dport)) ||
	    ((s->have & NFLAB_SEL_PORT) &&
	     nla_put_be16(msg, NFLAB_TRACE_A_PORT, s->port)) ||
	    ((s->have & NFLAB_SEL_IFNAME) &&
	     nla_put_string(msg, NFLAB_TRACE_A_IFNAME, s->ifname)) ||
	    nla_put_u32(msg, NFLAB_TRACE_A_BUDGET, t->budget) ||
	    nla_put_u32(msg, NFLAB_TRACE_A_TIMEOUT, t->timeout) ||
	    nla_put_u32(msg, NFLAB_TRACE_A_LEFT, atomic_read(&t->left)) ||
	    nla_put_u32(msg, NFLAB_TRACE_A_EXPIRES,
			left > 0 ? jiffies_to_msecs(left) : 0) ||
	    nla_put_u64_64bit(msg, NFLAB_TRACE_A_EVENTS,
			      atomic64_read(&t->events), NFLAB_TRACE_A_PAD) ||
	    nla_put_u64_64bit(msg, NFLAB_TRACE_A_LOST,
			      atomic64_read(&t->lost), NFLAB_TRACE_A_PAD))
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int nflab_trace_nl_new(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nflab_net *nn = nflab_pernet(net);
	struct nlattr *tb[NFLAB_TRACE_A_MAX + 1];
	struct nflab_trace *t;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, NFLAB_A_TRACE))
		return -EINVAL;
	ret = nla_parse_nested(tb, NFLAB_TRACE_A_MAX, info->attrs[NFLAB_A_TRACE],
			       nflab_trace_policy, info->extack);
	if (ret)
		return ret;
	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	ret = nflab_trace_parse(tb, t, info->extack);
	if (ret)
		goto err_free;
	/* The reply first: a trace that started is never reported failed. */
	ret = -ENOMEM;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto err_free;
	hdr = genlmsg_put_reply(msg, info, &nflab_genl_family, 0,
				NFLAB_CMD_TRACE_NEW);
	if (!hdr)
		goto err_free_msg;

	mutex_lock(&nflab_trace_mutex);
	if (nflab_trace_closed) {
		NL_SET_ERR_MSG(info->extack, "the module is loading or unloading");
		ret = -ESHUTDOWN;
		goto err_unlock;
	}
	if (nn->ntraces >= NFLAB_TRACES_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many traces in this namespace");
		ret = -ENOSPC;
		goto err_unlock;
	}
	if (!nn->trace_hooks) {
		ret = nf_register_net_hooks(net, nflab_trace_ops,
					    ARRAY_SIZE(nflab_trace_ops));
		if (ret) {
			NL_SET_ERR_MSG(info->extack, "cannot register the trace hooks");
			goto err_unlock;
		}
		nn->trace_hooks = true;
	}
	/*
	 * Attaching the probe enables the tracepoint, which rewrites the
	 * kernel's code where packets are freed; the lab VMs (TCG) do not
	 * survive that while another vCPU runs it, so their tests start a
	 * first trace before a flood, not during one.
	 */
	if (!nflab_trace_objs) {
		ret = register_trace_kfree_skb(nflab_trace_kfree_skb, NULL);
		if (ret) {
			NL_SET_ERR_MSG(info->extack, "cannot attach to the kfree_skb tracepoint");
			if (!nn->trace_objs) {
				nf_unregister_net_hooks(net, nflab_trace_ops,
							ARRAY_SIZE(nflab_trace_ops));
				nn->trace_hooks = false;
			}
			goto err_unlock;
		}
	}
	t->net = net;
	t->id = atomic_inc_return(&nflab_trace_ids);
	t->expires = jiffies + t->timeout * HZ;
	atomic_set(&t->left, t->budget);
	spin_lock_init(&t->emit_lock);
	t->rate_start = jiffies;
	nflab_trace_objs++;
	nn->trace_objs++;
	nn->ntraces++;
	list_add_tail(&t->all, &nflab_traces);
	WRITE_ONCE(nflab_trace_users, nflab_trace_users + 1);
	list_add_tail_rcu(&t->list, &nn->traces);
	if (nflab_trace_objs == 1)
		schedule_delayed_work(&nflab_trace_work, HZ);
	/* A default-size message holds a trace: this cannot fail. */
	WARN_ON_ONCE(nflab_trace_fill(msg, t));
	mutex_unlock(&nflab_trace_mutex);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_unlock:
	mutex_unlock(&nflab_trace_mutex);
err_free_msg:
	nlmsg_free(msg);
err_free:
	kfree(t);
	return ret;
}

static int nflab_trace_fill_count(struct sk_buff *msg, const void *arg)
{
	return nla_put_u32(msg, NFLAB_A_TRACE_COUNT, *(const u32 *)arg);
}

int nflab_trace_nl_del(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_TRACE_A_MAX + 1];
	struct nflab_trace *t, *n;
	u32 id = 0, count = 0;
	int ret, a;

	if (info->attrs[NFLAB_A_TRACE]) {
		ret = nla_parse_nested(tb, NFLAB_TRACE_A_MAX,
				       info->attrs[NFLAB_A_TRACE],
				       nflab_trace_policy, info->extack);
		if (ret)
			return ret;
		for (a = 1; a <= NFLAB_TRACE_A_MAX; a++) {
			if (tb[a] && a != NFLAB_TRACE_A_ID) {
				NL_SET_ERR_MSG_ATTR(info->extack, tb[a],
						    "a trace is deleted by its ID only");
				return -EINVAL;
			}
		}
		if (!tb[NFLAB_TRACE_A_ID]) {
			NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_TRACE],
					    "missing trace ID");
			return -EINVAL;
		}
		id = nla_get_u32(tb[NFLAB_TRACE_A_ID]);
	}
	mutex_lock(&nflab_trace_mutex);
	list_for_each_entry_safe(t, n, &nn->traces, list) {
		if (id && t->id != id)
			continue;
		nflab_trace_end(t);
		count++;
	}
	/*
	 * The work frees them, and sends their END events, when their
	 * packets go; it runs while any trace object exists (never after
	 * nflab_trace_exit()).
	 */
	if (count)
		mod_delayed_work(system_wq, &nflab_trace_work, 0);
	mutex_unlock(&nflab_trace_mutex);
	if (id && !count) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[NFLAB_TRACE_A_ID],
				    "no such trace in this namespace");
		return -ENOENT;
	}
	return nflab_nl_reply(info, NFLAB_CMD_TRACE_DEL, nflab_trace_fill_count,
			      &count);
}

/* cb->args[0]: the last trace ID sent (IDs grow along the list). */
int nflab_trace_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nflab_net *nn = nflab_pernet(sock_net(skb->sk));
	struct nflab_trace *t;
	int ret = 0;
	void *hdr;

	mutex_lock(&nflab_trace_mutex);
	list_for_each_entry(t, &nn->traces, list) {
		if (t->id <= cb->args[0])
			continue;
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &nflab_genl_family,
				  NLM_F_MULTI, NFLAB_CMD_TRACE_GET);
		if (!hdr) {
			ret = -EMSGSIZE;
			break;
		}
		if (nflab_trace_fill(skb, t)) {
			genlmsg_cancel(skb, hdr);
			ret = -EMSGSIZE;
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = t->id;
	}
	mutex_unlock(&nflab_trace_mutex);
	/* A full message with something in it: more to come. */
	if (ret == -EMSGSIZE && skb->len)
		return skb->len;
	return ret ?: skb->len;
}

/* Namespaces and the module */

void nflab_trace_net_init(struct net *net, struct nflab_net *nn)
{
	INIT_LIST_HEAD(&nn->traces);
}

/* Before the namespace's hooks go: its traces end and their hooks go. */
void nflab_trace_net_pre_exit(struct net *net)
{
	struct nflab_net *nn = nflab_pernet(net);
	struct nflab_trace *t, *n;

	mutex_lock(&nflab_trace_mutex);
	list_for_each_entry_safe(t, n, &nn->traces, list)
		nflab_trace_end(t);
	if (nn->trace_hooks) {
		nf_unregister_net_hooks(net, nflab_trace_ops,
					ARRAY_SIZE(nflab_trace_ops));
		nn->trace_hooks = false;
	}
	mutex_unlock(&nflab_trace_mutex);
}

/* No hook of the namespace runs: its records and traces go. */
void nflab_trace_net_exit(struct net *net)
{
	struct nflab_trace *t, *n;

	mutex_lock(&nflab_trace_mutex);
	/*
	 * Its records first: then the probe finds none of them to park, and
	 * the flush waits for those it parked before.
	 */
	nflab_tpkt_gc(net);
	flush_work(&nflab_trace_gone_work);
	list_for_each_entry_safe(t, n, &nflab_traces, all) {
		if (t->net != net)
			continue;
		WARN_ON_ONCE(atomic_read(&t->nrec));
		nflab_trace_free(t, false);
	}
	mutex_unlock(&nflab_trace_mutex);
}

/* The hooks are up: traces may start. */
void nflab_trace_open(void)
{
	mutex_lock(&nflab_trace_mutex);
	nflab_trace_closed = false;
	mutex_unlock(&nflab_trace_mutex);
}

/*
 * The hooks go (module unload): no trace may start from here on, though
 * the family still answers until it is unregistered.
 */
void nflab_trace_close(void)
{
	mutex_lock(&nflab_trace_mutex);
	nflab_trace_closed = true;
	mutex_unlock(&nflab_trace_mutex);
}

/* Every namespace's exit ran: no trace is left. */
void nflab_trace_exit(void)
{
	cancel_delayed_work_sync(&nflab_trace_work);
	tracepoint_synchronize_unregister();
	flush_work(&nflab_trace_gone_work);
	WARN_ON_ONCE(nflab_trace_objs || atomic_read(&nflab_tpkt_n));
}
