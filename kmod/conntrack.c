// SPDX-License-Identifier: GPL-2.0
/*
 * nflab's connection tracking table: one global hash of both tuples of every
 * entry (the namespace is part of the hash and of the comparison), RCU
 * lookups, striped bucket locks for writers, confirmation when a flow's first
 * packet leaves the last hook, a garbage collector working in bounded slices,
 * a per-namespace limit with early drop and a global cap.
 *
 * How a new entry gets from its first packet's tracking hook (PRE_ROUTING or
 * LOCAL_OUT) to the confirm hook (LOCAL_IN or POST_ROUTING), and why only
 * that packet can confirm it.
 *
 * The kernel's tracker hangs the entry on skb->_nfct. nflab has no such
 * field: _nfct belongs to nf_conntrack, which may be loaded beside nflab,
 * and no other sk_buff field (mark, hash, extensions) is free for a module to
 * own. Between the two hooks the packet may be dropped, stolen, queued,
 * cloned, copied, batched with others, or sent by a task that is preempted,
 * migrates to another CPU or lets softirqs run, so nothing keyed by CPU, by
 * order or by the skb's address identifies it.
 *
 * Instead every entry gets a random cookie (63 random bits, the top one
 * set), and the entry waits in the in-flight table, keyed by that cookie,
 * until it is confirmed:
 *
 * - The tracking hook always writes the 8 bytes at NFLAB_CB_OFFSET of
 *   skb->cb: the new entry's cookie, or a tagged state word for the rule
 *   engine (nflab_cb_state(): never taken for a cookie, top bit clear), or
 *   0. So whatever the bytes held before (cb arrives dirty: GRO's and
 *   TCP's data, another namespace's cookie) never survives the hook. The
 *   one exception is a packet the hook skips on loopback, which keeps a
 *   valid state word LOCAL_OUT gave it.
 * - Between PRE_ROUTING/LOCAL_OUT at NF_IP_PRI_CONNTRACK and the confirm
 *   hooks at NF_IP_PRI_CONNTRACK_CONFIRM, the stack keeps its own per-layer
 *   data in the first 40 bytes of cb at most (IPCB: 24; the bridge's: 24;
 *   the fragment block: 40, written before the tracking hook by
 *   nf_defrag), so bytes 40-47 stay ours. The bigger blocks (xfrm's 44 and
 *   48, GSO's 48, qdiscs') are written after POST_ROUTING or before
 *   PRE_ROUTING of the inner packet, outside the window.
 * - Copies and clones (skb_clone(), skb_copy(), pskb_copy(), GSO segments,
 *   NFQUEUE's skb_copy_expand()) copy cb, so they carry the cookie: they
 *   are the same packet, and the first of them to reach a confirm hook
 *   confirms the entry, as with a shared _nfct.
 * - What runs inside the window and writes those bytes anyway turns the
 *   cookie into noise, and that packet then confirms nothing: NFQUEUE
 *   segmenting a GSO packet (SKB_GSO_CB, bytes 32-45) and lightweight
 *   tunnel BPF programs on a route (bpf_compute_data_pointers(), bytes
 *   32-47). Their flows are tracked, but a new flow's entry is confirmed
 *   only by a packet that does not take that path.
 * - The confirm hook reads a cookie, writes 0, and takes the entry out of
 *   the in-flight table only if an entry with that cookie and the hook's
 *   namespace is there (a state word it leaves alone). A cookie is never
 *   reused, so a packet that was not tracked with the entry cannot name
 *   it, whatever its address, CPU, protocol or namespace; a guess succeeds
 *   with a probability of 2^-63 per in-flight entry. The rule engine
 *   believes a cookie only if it finds it in flight (or, whole, on the
 *   confirmed entry of the packet's tuple: a clone confirmed it first),
 *   and a state word only with its tag; noise in the bytes makes it look
 *   the state up instead, and NAT look the entry up by the packet's tuple
 *   (nflab_ct_pkt_nat()).
 * - A packet dropped between the hooks leaves its entry in flight. Each CPU
 *   remembers the cookies of the last NFLAB_CT_RING entries it created;
 *   when a slot is reused, the entry it names is freed if it is still in
 *   flight. Reclaiming can only make a packet confirm nothing, never
 *   confirm something else (the flow is tracked from its next packet that
 *   may start one: for TCP and ICMP queries, not from a reply), and it
 *   bounds the in-flight table to NFLAB_CT_RING entries per online CPU.
 *   The ring holds no reference: it only compares cookies. A packet held
 *   between the hooks (NFQUEUE) while its CPU creates NFLAB_CT_RING other
 *   entries loses its entry that way.
 * - In-flight entries hold no reference on their namespace. Its exit runs
 *   after its hooks are unregistered and an RCU grace period, when no hook
 *   of the namespace can run, and frees the ones that are left.
 *
 * Defragmentation (nf_defrag_ipv4, enabled per namespace) runs before the
 * tracking hook, so a datagram is tracked whole, once.
 *
 * Locking. Per packet: RCU for lookups, per-CPU statistics, the entry's own
 * atomic counters, and ct->lock for TCP state. Per new entry: in-flight
 * bucket locks (in, out, and a third when a ring slot is recycled), the
 * bucket stripe locks and nn->ct_lock once at confirm, nn->ct_lock again
 * when it becomes assured and when it goes. nn->ct_lock guards the
 * namespace's lists, which make namespace exit and early drop O(own
 * entries) instead of O(table); it is never taken per packet. The
 * per-namespace count is an atomic, as in the kernel (the limit is checked
 * against it); the global count is a per-CPU counter.
 */

#include <linux/bitfield.h>
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/netdevice.h>
#include <linux/percpu_counter.h>
#include <linux/random.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/udp.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <net/ip.h>

#include "nflab.h"
#include "conntrack.h"
#include "trace.h"

static unsigned int nflab_hashsize __read_mostly;
module_param_named(hashsize, nflab_hashsize, uint, 0444);
MODULE_PARM_DESC(hashsize, "Conntrack hash buckets (default: scaled to RAM, 1024-1048576)");

static unsigned int nflab_ct_max __read_mostly;
module_param_named(ct_max, nflab_ct_max, uint, 0644);
MODULE_PARM_DESC(ct_max, "Default conntrack entry limit of a new namespace (default: hashsize; 1-4194304)");

static unsigned int nflab_ct_global_max __read_mostly;
module_param_named(ct_global_max, nflab_ct_global_max, uint, 0644);
MODULE_PARM_DESC(ct_global_max, "Conntrack entries of all namespaces together (default: 4 * hashsize)");

#define NFLAB_HASHSIZE_MAX	BIT(20)
#define NFLAB_CT_LOCKS		1024	/* bucket lock stripes */
#define NFLAB_CT_GC_SLICE	512	/* buckets per GC run: short, bounded */
#define NFLAB_CT_INFLIGHT	1024	/* in-flight table buckets */
#define NFLAB_CT_RING		512	/* in-flight entries a CPU keeps */
#define NFLAB_CT_DROP_SCAN	64	/* early drop candidates */
#define NFLAB_CT_DUMP_RESCHED	1024	/* buckets between cond_resched() */
/* Where the cookie lives in skb->cb; see the comment at the top. */
#define NFLAB_CB_OFFSET		40
#define NFLAB_CB_COOKIE		BIT_ULL(63)
#define NFLAB_CB_STATE		BIT_ULL(62)
#define NFLAB_CB_TAG		GENMASK_ULL(61, 16)
/*
 * The packets of a NATed connection (or one through a full cone mapping)
 * carry a reference word instead of a state word: bit 61, the direction
 * (bit 60), whether the packet is an ICMP error about the connection
 * rather than one of its own (bit 59), whether the packet's direction is
 * translated at the source hooks (bit 58) and at the destination hooks
 * (bit 57), whether the connection is translated (bit 56), whether the
 * destination hooks refresh a full cone mapping (bit 55), the bucket of that
 * direction's tuple (bits 32-51) and the low 32 bits of the entry's
 * cookie. The hooks after tracking find the entry by it in one chain
 * (nflab_ct_ref_find()), however NAT rewrote the packet meanwhile, and a
 * hook with no work skips the lookup. Bits 48-63 are in the bytes NFQUEUE's
 * GSO segmentation leaves (see the top of this file).
 */
#define NFLAB_CB_REF		BIT_ULL(61)
#define NFLAB_CB_REF_DIR	BIT_ULL(60)
#define NFLAB_CB_REF_RELATED	BIT_ULL(59)
#define NFLAB_CB_REF_SRC	BIT_ULL(58)
#define NFLAB_CB_REF_DST	BIT_ULL(57)
#define NFLAB_CB_REF_NAT	BIT_ULL(56)
#define NFLAB_CB_REF_TOUCH	BIT_ULL(55)
#define NFLAB_CB_REF_WORK	(NFLAB_CB_REF_SRC | NFLAB_CB_REF_DST | \
				 NFLAB_CB_REF_TOUCH)
#define NFLAB_CB_REF_BUCKET	GENMASK_ULL(51, 32)
/*
 * Entries whose packets carry reference words: translated ones, and those
 * through a full cone mapping, which their packets keep alive.
 */
#define NFLAB_CT_STATUS_REF	(NFLAB_CT_STATUS_NAT | BIT(NFLAB_CT_STATUS_FULLCONE_BIT))
/* Status changes that make an UPDATE event. */
#define NFLAB_CT_EVENT_STATUS	(NFLAB_CT_STATUS_SEEN_REPLY | NFLAB_CT_STATUS_ASSURED)

static struct hlist_nulls_head *nflab_ct_hash __read_mostly;
static spinlock_t nflab_ct_locks[NFLAB_CT_LOCKS];
/* Per stripe, under its lock: the next insertion's seq (dump order). */
static u64 nflab_ct_stripe_seq[NFLAB_CT_LOCKS];
static siphash_key_t nflab_ct_seed __read_mostly;
static siphash_key_t nflab_ct_id_seed __read_mostly;
/* Keys the tag of state words in skb->cb; see nflab_cb_state(). */
static siphash_key_t nflab_cb_seed __read_mostly;
static struct kmem_cache *nflab_ct_cache __read_mostly;
/* Entries allocated and not yet released, in flight or not: the cap. */
static struct percpu_counter nflab_ct_entries;

struct nflab_ct_inflight_bucket {
	spinlock_t		lock;	/* the chain; BHs off */
	struct hlist_head	head;
};

static struct nflab_ct_inflight_bucket nflab_ct_inflight[NFLAB_CT_INFLIGHT];

/* The cookies of the entries this CPU created last; BHs off to touch. */
struct nflab_ct_ring {
	u64		cookie[NFLAB_CT_RING];
	unsigned int	next;
};

static DEFINE_PER_CPU(struct nflab_ct_ring, nflab_ct_ring);

/* The GC walks the table a slice at a time; namespace exit waits for it. */
static DEFINE_MUTEX(nflab_ct_gc_mutex);
static unsigned int nflab_ct_gc_next;
static struct delayed_work nflab_ct_gc_work;

static const struct nflab_l4proto *nflab_l4proto_find(u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return &nflab_l4proto_tcp;
	case IPPROTO_UDP:
		return &nflab_l4proto_udp;
	case IPPROTO_ICMP:
		return &nflab_l4proto_icmp;
	}
	return NULL;
}

static u32 nflab_tuple_hash(const struct net *net, const struct nflab_tuple *t)
{
	return (u32)siphash_4u32((__force u32)t->src, (__force u32)t->dst,
				 t->u.all, net_hash_mix(net) ^ t->proto,
				 &nflab_ct_seed);
}

static unsigned int nflab_bucket_of(u32 hash)
{
	return reciprocal_scale(hash, nflab_hashsize);
}

/* Lock both buckets' stripes, lower first; one lock if they share it. */
static void nflab_double_lock(unsigned int b1, unsigned int b2)
	__acquires(nflab_ct_locks) __acquires(nflab_ct_locks)
{
	unsigned int l1 = b1 % NFLAB_CT_LOCKS, l2 = b2 % NFLAB_CT_LOCKS;

	if (l1 > l2)
		swap(l1, l2);
	spin_lock(&nflab_ct_locks[l1]);
	if (l1 != l2)
		spin_lock_nested(&nflab_ct_locks[l2], SINGLE_DEPTH_NESTING);
	else
		__acquire(nflab_ct_locks);
}

static void nflab_double_unlock(unsigned int b1, unsigned int b2)
	__releases(nflab_ct_locks) __releases(nflab_ct_locks)
{
	unsigned int l1 = b1 % NFLAB_CT_LOCKS, l2 = b2 % NFLAB_CT_LOCKS;

	spin_unlock(&nflab_ct_locks[l1]);
	if (l1 != l2)
		spin_unlock(&nflab_ct_locks[l2]);
	else
		__release(nflab_ct_locks);
}

static void nflab_ct_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(nflab_ct_cache, container_of(head, struct nflab_conn, rcu));
}

void nflab_ct_put(struct nflab_conn *ct)
{
	if (ct && refcount_dec_and_test(&ct->use)) {
		percpu_counter_dec(&nflab_ct_entries);
		call_rcu(&ct->rcu, nflab_ct_free_rcu);
	}
}

void nflab_ct_refresh(struct nflab_conn *ct, unsigned int timeout)
{
	unsigned long t = jiffies + timeout;

	/* Many packets share a jiffy: keep the cache line clean, as the kernel. */
	if (READ_ONCE(ct->timeout) != t)
		WRITE_ONCE(ct->timeout, t);
}

static bool nflab_ct_expired(const struct nflab_conn *ct)
{
	return time_after_eq(jiffies, READ_ONCE(ct->timeout));
}

/*
 * Unlink a confirmed entry from the table and drop the table's reference.
 * Returns false when another path got there first.
 */
bool nflab_ct_kill(struct nflab_conn *ct)
{
	struct net *net = nflab_ct_net(ct);
	struct nflab_net *nn = nflab_pernet(net);
	unsigned int b0, b1;

	if (!test_bit(NFLAB_CT_STATUS_CONFIRMED_BIT, &ct->status) ||
	    test_and_set_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status))
		return false;

	b0 = nflab_bucket_of(nflab_tuple_hash(net, &ct->th[NFLAB_DIR_ORIG].tuple));
	b1 = nflab_bucket_of(nflab_tuple_hash(net, &ct->th[NFLAB_DIR_REPLY].tuple));
	local_bh_disable();
	nflab_double_lock(b0, b1);
	hlist_nulls_del_rcu(&ct->th[NFLAB_DIR_ORIG].node);
	hlist_nulls_del_rcu(&ct->th[NFLAB_DIR_REPLY].node);
	nflab_double_unlock(b0, b1);
	local_bh_enable();

	spin_lock_bh(&nn->ct_lock);
	list_del_init(&ct->unassured);
	list_del_init(&ct->all);
	spin_unlock_bh(&nn->ct_lock);
	atomic_dec(&nn->ct_count);
	nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_DESTROY);
	nflab_ct_put(ct);
	return true;
}

/* Find a live entry with tuple t in its bucket, with a reference held. */
static struct nflab_conn *nflab_ct_find_in(struct net *net,
					   const struct nflab_tuple *t,
					   unsigned int bucket)
{
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	struct nflab_conn *ct;

	/*
	 * Entries are freed after a grace period and never move to another
	 * chain, so a walk under RCU stays on its chain to the end: no
	 * restart (SEARCH_RESTART stays 0).
	 */
	rcu_read_lock();
	hlist_nulls_for_each_entry_rcu(h, n, &nflab_ct_hash[bucket], node) {
		ct = nflab_ct_of(h);
		if (!nflab_tuple_equal(&h->tuple, t) ||
		    !net_eq(nflab_ct_net(ct), net))
			continue;
		if (test_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status) ||
		    !refcount_inc_not_zero(&ct->use))
			continue;
		rcu_read_unlock();
		return ct;
	}
	rcu_read_unlock();
	return NULL;
}

/* Find a live entry with tuple t; returns it with a reference held. */
struct nflab_conn *nflab_ct_find(struct net *net, const struct nflab_tuple *t)
{
	return nflab_ct_find_in(net, t, nflab_bucket_of(nflab_tuple_hash(net, t)));
}

/*
 * The tuple hash of a packet's entry, with a reference on the entry, and
 * the bucket of t; an expired entry is killed on the way instead.
 */
static struct nflab_tuple_hash *nflab_ct_lookup(struct net *net,
						const struct nflab_tuple *t,
						unsigned int *bucket)
{
	struct nflab_conn *ct;
	enum nflab_dir dir;

	*bucket = nflab_bucket_of(nflab_tuple_hash(net, t));
	ct = nflab_ct_find_in(net, t, *bucket);
	if (!ct)
		return NULL;
	if (nflab_ct_expired(ct)) {
		nflab_ct_kill(ct);
		nflab_ct_put(ct);
		return NULL;
	}
	dir = nflab_tuple_equal(&ct->th[NFLAB_DIR_ORIG].tuple, t) ?
	      NFLAB_DIR_ORIG : NFLAB_DIR_REPLY;
	return &ct->th[dir];
}

void nflab_ct_set_assured(struct nflab_net *nn, struct nflab_conn *ct)
{
	/* Every packet of an assured flow asks: no locked op for those. */
	if (test_bit(NFLAB_CT_STATUS_ASSURED_BIT, &ct->status) ||
	    test_and_set_bit(NFLAB_CT_STATUS_ASSURED_BIT, &ct->status))
		return;
	spin_lock_bh(&nn->ct_lock);
	list_del_init(&ct->unassured);
	spin_unlock_bh(&nn->ct_lock);
}

/*
 * When a namespace is at its limit (or all of them at the cap), make room
 * as the kernel's early drop does: among the oldest NFLAB_CT_DROP_SCAN
 * entries that never became assured, an expired one goes first, else the
 * one closest to expiry. A flood of unanswered or one-shot flows cannot starve
 * established ones, and a table full of one-shot flows keeps taking new
 * ones.
 */
static bool nflab_ct_early_drop(struct nflab_net *nn)
{
	unsigned int tries;

	/*
	 * Another CPU at the limit may pick the same victim and kill it
	 * first; then look again, as the kernel moves to its next candidate.
	 */
	for (tries = 0; tries < 3; tries++) {
		struct nflab_conn *ct, *victim = NULL;
		unsigned int scanned = 0;
		bool killed;

		spin_lock_bh(&nn->ct_lock);
		/* Bounded: NFLAB_CT_DROP_SCAN entries. */
		list_for_each_entry(ct, &nn->ct_unassured, unassured) {
			if (scanned++ >= NFLAB_CT_DROP_SCAN)
				break;
			if (test_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status))
				continue;
			if (!victim ||
			    time_before(READ_ONCE(ct->timeout), READ_ONCE(victim->timeout)))
				victim = ct;
			if (nflab_ct_expired(ct))
				break;
		}
		if (victim && !refcount_inc_not_zero(&victim->use))
			victim = NULL;
		spin_unlock_bh(&nn->ct_lock);
		if (!victim)
			return false;
		killed = nflab_ct_kill(victim);
		nflab_ct_put(victim);
		if (killed)
			return true;
	}
	return false;
}

/*
 * Is there room for one more entry in nn, and in the table? The global cap
 * binds the namespaces that unprivileged users can create (owned by a user
 * namespace other than the initial one): they cannot lengthen everyone's
 * chains without bound, nor crowd out the namespaces root made, whose
 * limits root sets. The count is read approximately (off by the per-CPU
 * batches at most): an exact sum on every new flow near the cap would
 * take a global lock on the packet path.
 */
static bool nflab_ct_room(const struct net *net, struct nflab_net *nn)
{
	unsigned int cap = READ_ONCE(nflab_ct_global_max);

	if (atomic_read(&nn->ct_count) >= READ_ONCE(nn->ct_limit))
		return false;
	if (!cap || net->user_ns == &init_user_ns)
		return true;
	return percpu_counter_read_positive(&nflab_ct_entries) < cap;
}

static struct nflab_conn *nflab_ct_alloc(struct net *net,
					 const struct nflab_tuple *orig,
					 const struct nflab_tuple *reply)
{
	struct nflab_conn *ct;

	ct = kmem_cache_zalloc(nflab_ct_cache, GFP_ATOMIC);
	if (!ct)
		return NULL;
	percpu_counter_inc(&nflab_ct_entries);
	ct->th[NFLAB_DIR_ORIG].tuple = *orig;
	ct->th[NFLAB_DIR_ORIG].tuple.dir = NFLAB_DIR_ORIG;
	ct->th[NFLAB_DIR_REPLY].tuple = *reply;
	ct->th[NFLAB_DIR_REPLY].tuple.dir = NFLAB_DIR_REPLY;
	write_pnet(&ct->net, net);
	INIT_HLIST_NODE(&ct->inflight);
	INIT_LIST_HEAD(&ct->unassured);
	refcount_set(&ct->use, 1);	/* the packet's */
	spin_lock_init(&ct->lock);
	ct->start_ns = ktime_get_real_ns();
	/*
	 * A counter would show every namespace how fast the others open
	 * connections; a keyed hash of what the entry is shows nothing. The
	 * start time tells apart entries that reuse a freed one's memory for
	 * the same tuple.
	 */
	ct->id = (u32)siphash_4u64((unsigned long)ct, ct->start_ns,
				   (u64)(__force u32)orig->src << 32 |
				   (__force u32)orig->dst,
				   (u64)orig->u.all << 8 | orig->proto,
				   &nflab_ct_id_seed);
	return ct;
}

static u64 *nflab_cb_cookie(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct inet_skb_parm) > NFLAB_CB_OFFSET);
	BUILD_BUG_ON(NFLAB_CB_OFFSET + sizeof(u64) > sizeof(skb->cb));
	return (u64 *)&skb->cb[NFLAB_CB_OFFSET];
}

/*
 * What the rest of the window (the rule engine's hooks) learns about the
 * packet from the tracking hook, in the same 8 bytes: a cookie (top bit
 * set) means a new entry in flight; a state word (NFLAB_CB_STATE) holds
 * the packet's NFLAB_CT_STATE_* bit (bits 0-4) and the low byte of its
 * entry's status as the hook left it (bits 8-15). Unlike a cookie, which
 * only ever names an entry that must be found in the in-flight table, a
 * state word is believed as it stands, so it carries a tag (bits 16-61)
 * keyed by a secret and the namespace: what something else in the window
 * wrote over the bytes (NFQUEUE's GSO segmentation, an LWT BPF program; see
 * the top of this file), or another namespace's word, fails the tag, and
 * the state is then looked up instead (nflab_ct_peek()), as it is for a
 * packet the tracking hook skipped (0).
 */
/* A namespace's tag, computed once: the packet path only compares it. */
void nflab_ct_net_tag(struct net *net, struct nflab_net *nn)
{
	nn->cb_tag = siphash_1u64((u64)(unsigned long)net, &nflab_cb_seed) &
		     NFLAB_CB_TAG;
}

static void nflab_cb_state(struct sk_buff *skb, const struct nflab_net *nn,
			   u32 state, unsigned long status)
{
	*nflab_cb_cookie(skb) = NFLAB_CB_STATE | nn->cb_tag |
				(u64)(status & 0xff) << 8 | state;
}

/* A state word of this namespace, with a valid state? */
static bool nflab_cb_state_ok(const struct nflab_net *nn, u64 w)
{
	return (w & (NFLAB_CB_COOKIE | NFLAB_CB_STATE)) == NFLAB_CB_STATE &&
	       (w & NFLAB_CB_TAG) == nn->cb_tag &&
	       hweight8(w & NFLAB_CT_STATE_ALL) == 1 &&
	       !(w & GENMASK_ULL(7, 5));
}

/* The tracking hook called the packet INVALID: its state word, no lookup. */
bool nflab_ct_pkt_invalid(const struct net *net, struct sk_buff *skb)
{
	u64 w = *nflab_cb_cookie(skb);

	return nflab_cb_state_ok(nflab_pernet(net), w) &&
	       (w & NFLAB_CT_STATE_ALL) == NFLAB_CT_STATE_INVALID;
}

static u32 nflab_ct_state_of(const struct nflab_conn *ct, u8 dir)
{
	if (dir == NFLAB_DIR_ORIG &&
	    !test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_STATE_NEW;
	return NFLAB_CT_STATE_ESTABLISHED;
}

static bool nflab_cb_is_ref(u64 w)
{
	return (w & (NFLAB_CB_COOKIE | NFLAB_CB_STATE | NFLAB_CB_REF)) ==
	       NFLAB_CB_REF;
}

/*
 * A reference word's work bits for ct's packets of direction dir: where
 * their side was translated, and whether they keep a full cone mapping
 * alive at the destination hooks.
 */
static u64 nflab_cb_ref_work(const struct nflab_conn *ct, u8 dir)
{
	unsigned long s = READ_ONCE(ct->status);
	u64 w = 0;

	if (s & NFLAB_CT_STATUS_NAT)
		w |= NFLAB_CB_REF_NAT;
	if (s & (dir ? NFLAB_CT_STATUS_DST_NAT : NFLAB_CT_STATUS_SRC_NAT))
		w |= NFLAB_CB_REF_SRC;
	if (s & (dir ? NFLAB_CT_STATUS_SRC_NAT : NFLAB_CT_STATUS_DST_NAT))
		w |= NFLAB_CB_REF_DST;
	if (s & BIT(NFLAB_CT_STATUS_FULLCONE_BIT))
		w |= NFLAB_CB_REF_TOUCH;
	return w;
}

/*
 * Name ct, whose tuple of direction dir is in bucket, in the packet's cb.
 * An ICMP error (related) has work at every NAT hook.
 */
static void nflab_cb_ref(struct sk_buff *skb, const struct nflab_conn *ct,
			 u8 dir, unsigned int bucket, bool related)
{
	u64 w = NFLAB_CB_REF | FIELD_PREP(NFLAB_CB_REF_BUCKET, bucket) |
		lower_32_bits(ct->cookie) | nflab_cb_ref_work(ct, dir);

	BUILD_BUG_ON(FIELD_MAX(NFLAB_CB_REF_BUCKET) < NFLAB_HASHSIZE_MAX - 1);
	if (dir)
		w |= NFLAB_CB_REF_DIR;
	if (related)
		w |= NFLAB_CB_REF_RELATED | NFLAB_CB_REF_WORK;
	*nflab_cb_cookie(skb) = w;
}

/* nflab_cb_ref(), the bucket computed from the entry's tuple. */
static void nflab_cb_ref_of(struct sk_buff *skb, struct net *net,
			    const struct nflab_conn *ct, u8 dir, bool related)
{
	nflab_cb_ref(skb, ct, dir,
		     nflab_bucket_of(nflab_tuple_hash(net, &ct->th[dir].tuple)),
		     related);
}

/*
 * The entry a reference word names, and the packet's direction in it;
 * NULL if the word names none (noise: the cookie bits, the namespace and
 * the direction must all fit). One chain, bounded as a lookup's. The
 * caller holds rcu_read_lock(); the entry is valid until it drops it. A
 * dying entry is found too: the packet was its connection's.
 */
static struct nflab_conn *nflab_ct_ref_find(struct net *net, u64 w, u8 *dir)
{
	unsigned int b = FIELD_GET(NFLAB_CB_REF_BUCKET, w);
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	struct nflab_conn *ct;

	RCU_LOCKDEP_WARN(!rcu_read_lock_held(), "nflab: no RCU read lock");
	if (b >= nflab_hashsize)
		return NULL;
	*dir = !!(w & NFLAB_CB_REF_DIR);
	hlist_nulls_for_each_entry_rcu(h, n, &nflab_ct_hash[b], node) {
		ct = nflab_ct_of(h);
		if (h->tuple.dir == *dir &&
		    lower_32_bits(ct->cookie) == lower_32_bits(w) &&
		    net_eq(nflab_ct_net(ct), net))
			return ct;
	}
	return NULL;
}

/* nflab_ct_ref_find() of a live entry, with a reference. */
static struct nflab_conn *nflab_ct_ref_get(struct net *net, u64 w, u8 *dir)
{
	struct nflab_conn *ct;

	rcu_read_lock();
	ct = nflab_ct_ref_find(net, w, dir);
	if (ct && (test_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status) ||
		   !refcount_inc_not_zero(&ct->use)))
		ct = NULL;
	rcu_read_unlock();
	return ct;
}

/*
 * An ICMP error the tracker found RELATED: NAT must translate one about a
 * NATed connection at each of its hooks, by the entry found here, before
 * the first of them rewrites the quote the entry was found by.
 */
static void nflab_cb_related(struct sk_buff *skb, struct net *net,
			     const struct nflab_net *nn, unsigned int off, u8 proto)
{
	struct nflab_conn *ct = NULL;
	u8 dir;

	if (proto == IPPROTO_ICMP)
		ct = nflab_icmp_related(net, skb, off, &dir);
	if (ct && (READ_ONCE(ct->status) & NFLAB_CT_STATUS_NAT))
		nflab_cb_ref_of(skb, net, ct, dir, true);
	else
		nflab_cb_state(skb, nn, NFLAB_CT_STATE_RELATED, 0);
	nflab_ct_put(ct);
}

/* The raw table's NOTRACK: the tracking hook leaves the packet alone. */
void nflab_ct_set_untracked(struct sk_buff *skb, const struct nflab_net *nn)
{
	nflab_cb_state(skb, nn, NFLAB_CT_STATE_UNTRACKED, 0);
}

static bool nflab_l3_tuple(const struct sk_buff *skb, struct nflab_tuple *t,
			   unsigned int *off, bool *fragment);

/*
 * The state of a packet whose cb says nothing usable: its flow's entry,
 * looked up without changing anything (an expired entry is left to GC,
 * and counts as none).
 */
static u32 nflab_ct_peek(struct net *net, struct sk_buff *skb, u32 *status)
{
	const struct nflab_l4proto *l4;
	struct nflab_conn *ct;
	struct nflab_tuple t;
	enum nflab_ct_verdict v;
	unsigned int off;
	bool fragment;
	u32 state;

	*status = 0;
	if (!nflab_l3_tuple(skb, &t, &off, &fragment) || fragment)
		return NFLAB_CT_STATE_INVALID;
	l4 = nflab_l4proto_find(t.proto);
	if (!l4)
		return NFLAB_CT_STATE_UNTRACKED;
	if (l4->error && l4->error(net, skb, off, &v))
		return v == NFLAB_CT_RELATED ? NFLAB_CT_STATE_RELATED :
		       NFLAB_CT_STATE_INVALID;
	if (!l4->tuple(skb, off, &t))
		return NFLAB_CT_STATE_INVALID;
	ct = nflab_ct_find(net, &t);
	if (!ct)
		return NFLAB_CT_STATE_INVALID;
	if (nflab_ct_expired(ct)) {
		nflab_ct_put(ct);
		return NFLAB_CT_STATE_INVALID;
	}
	state = nflab_ct_state_of(ct, nflab_tuple_equal(&ct->th[NFLAB_DIR_ORIG].tuple, &t) ?
				  NFLAB_DIR_ORIG : NFLAB_DIR_REPLY);
	*status = READ_ONCE(ct->status) & NFLAB_CT_STATUS_ALL;
	nflab_ct_put(ct);
	return state;
}

/*
 * The packet's NFLAB_CT_STATE_* bit and its entry's status, for the rule
 * engine's hooks between tracking and confirmation.
 */
u32 nflab_ct_pkt_state(struct net *net, struct sk_buff *skb, u32 *status)
{
	u64 w = *nflab_cb_cookie(skb);

	*status = 0;
	if ((w & NFLAB_CB_COOKIE) || nflab_cb_is_ref(w)) {
		struct nflab_conn *ct;
		bool in_flight;
		u32 state;
		u8 dir;

		/*
		 * An ICMP error about a NATed connection is RELATED to it,
		 * if the word names one: noise is looked up below instead.
		 */
		ct = nflab_ct_pkt_related(net, skb, &dir);
		if (ct) {
			nflab_ct_put(ct);
			return NFLAB_CT_STATE_RELATED;
		}
		/*
		 * A cookie counts only if it names an entry in flight here,
		 * or one a clone of the packet confirmed (the whole cookie).
		 */
		ct = nflab_ct_pkt_conn(net, skb, &dir, &in_flight);
		if (ct) {
			state = nflab_ct_state_of(ct, dir);
			*status = READ_ONCE(ct->status) & NFLAB_CT_STATUS_ALL;
			nflab_ct_put(ct);
			return state;
		}
	}
	if (nflab_cb_state_ok(nflab_pernet(net), w)) {
		*status = (w >> 8) & 0xff;
		return w & NFLAB_CT_STATE_ALL;
	}
	return nflab_ct_peek(net, skb, status);
}

/*
 * Is the connection with this original tuple still tracked (or about to
 * be)? For connlimit: an expired entry, or a TCP one closing or closed,
 * does not count, as nf_conncount's already_closed().
 */
bool nflab_ct_alive(struct net *net, const struct nflab_tuple *t)
{
	struct nflab_conn *ct;
	bool alive;

	ct = nflab_ct_find(net, t);
	if (!ct)
		return false;
	alive = !nflab_ct_expired(ct) &&
		!test_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status) &&
		(t->proto != IPPROTO_TCP ||
		 (READ_ONCE(ct->proto.tcp.state) != NFLAB_TCP_TIME_WAIT &&
		  READ_ONCE(ct->proto.tcp.state) != NFLAB_TCP_CLOSE));
	nflab_ct_put(ct);
	return alive;
}

/* The original tuple of the packet's flow, for connlimit. */
bool nflab_ct_pkt_orig(struct net *net, struct sk_buff *skb,
		       struct nflab_tuple *orig)
{
	struct nflab_conn *ct;
	bool in_flight;
	u8 dir;

	/* NAT may have rewritten the packet: its entry names the original. */
	ct = nflab_ct_pkt_conn(net, skb, &dir, &in_flight);
	if (ct) {
		spin_lock_bh(&ct->lock);
		*orig = ct->th[NFLAB_DIR_ORIG].tuple;
		spin_unlock_bh(&ct->lock);
		nflab_ct_put(ct);
		return true;
	}
	if (!nflab_ct_pkt_tuple(skb, orig))
		return false;
	ct = nflab_ct_find(net, orig);
	if (!ct)
		return true;	/* in flight: the packet's is the original */
	*orig = ct->th[NFLAB_DIR_ORIG].tuple;
	nflab_ct_put(ct);
	return true;
}

static struct nflab_ct_inflight_bucket *nflab_inflight_bucket(u64 cookie)
{
	/* Cookies are random: their low bits are as good as a hash. */
	return &nflab_ct_inflight[cookie % NFLAB_CT_INFLIGHT];
}

/*
 * Take the entry with this cookie out of the in-flight table, with its
 * reference, if it is there (and, when net is given, of that namespace).
 */
static struct nflab_conn *nflab_inflight_take(const struct net *net, u64 cookie)
{
	struct nflab_ct_inflight_bucket *b = nflab_inflight_bucket(cookie);
	struct nflab_conn *ct;

	spin_lock_bh(&b->lock);
	/* Bounded: NFLAB_CT_RING entries per CPU in the whole table. */
	hlist_for_each_entry(ct, &b->head, inflight) {
		if (ct->cookie != cookie ||
		    (net && !net_eq(nflab_ct_net(ct), net)))
			continue;
		hlist_del_init(&ct->inflight);
		spin_unlock_bh(&b->lock);
		return ct;
	}
	spin_unlock_bh(&b->lock);
	return NULL;
}

/* The entry of net in flight under this cookie, with a reference. */
static struct nflab_conn *nflab_inflight_get(const struct net *net, u64 cookie)
{
	struct nflab_ct_inflight_bucket *b = nflab_inflight_bucket(cookie);
	struct nflab_conn *ct, *found = NULL;

	spin_lock_bh(&b->lock);
	/* Bounded: NFLAB_CT_RING entries per CPU in the whole table. */
	hlist_for_each_entry(ct, &b->head, inflight) {
		if (ct->cookie == cookie && net_eq(nflab_ct_net(ct), net)) {
			refcount_inc(&ct->use);	/* the table holds one */
			found = ct;
			break;
		}
	}
	spin_unlock_bh(&b->lock);
	return found;
}

/*
 * The entry the packet's own tuple names, with a reference, and the
 * packet's direction in it: for NAT, when what skb->cb holds is not what
 * the tracking hook wrote (see the top of this file) or names an entry
 * that went. It finds the entry of a packet no NAT hook rewrote yet.
 */
static struct nflab_conn *nflab_ct_tuple_get(struct net *net,
					     const struct sk_buff *skb, u8 *dir)
{
	struct nflab_conn *ct;
	struct nflab_tuple t;

	if (!nflab_ct_pkt_tuple(skb, &t))
		return NULL;
	ct = nflab_ct_find(net, &t);
	if (ct)
		*dir = nflab_tuple_equal(&ct->th[NFLAB_DIR_ORIG].tuple, &t) ?
		       NFLAB_DIR_ORIG : NFLAB_DIR_REPLY;
	return ct;
}

/*
 * A cookie whose entry is no longer in flight: a clone of the packet (a
 * broadcast's looped-back copy, a bridge's flood) reached a confirm hook
 * first, or the entry was reclaimed. A confirmed entry is in the table
 * under its original tuple, which is the packet's as long as no NAT hook
 * rewrote it; the whole cookie must match. With a reference.
 */
static struct nflab_conn *nflab_ct_cookie_get(struct net *net,
					      struct sk_buff *skb, u64 w)
{
	struct nflab_conn *ct;
	u8 dir;

	ct = nflab_ct_tuple_get(net, skb, &dir);
	if (ct && (ct->cookie != w || dir != NFLAB_DIR_ORIG)) {
		nflab_ct_put(ct);
		ct = NULL;
	}
	return ct;
}

/*
 * The entry the tracking hook named in the packet's cb, with a reference,
 * and the packet's direction in it: a new entry in flight (*in_flight), the
 * same entry confirmed meanwhile by a clone of the packet, or the entry a
 * reference word names. NULL for anything else (state words, ICMP errors,
 * noise).
 */
struct nflab_conn *nflab_ct_pkt_conn(struct net *net, struct sk_buff *skb,
				     u8 *dir, bool *in_flight)
{
	u64 w = *nflab_cb_cookie(skb);
	struct nflab_conn *ct;

	*in_flight = false;
	if (w & NFLAB_CB_COOKIE) {
		*dir = NFLAB_DIR_ORIG;
		ct = nflab_inflight_get(net, w);
		if (ct) {
			*in_flight = true;
			return ct;
		}
		return nflab_ct_cookie_get(net, skb, w);
	}
	if (nflab_cb_is_ref(w) && !(w & NFLAB_CB_REF_RELATED))
		return nflab_ct_ref_get(net, w, dir);
	return NULL;
}

/*
 * For NAT, when skb->cb does not name the packet's entry: the entry of the
 * packet's own tuple, with a reference, if it can be the packet's. A
 * cookie's own entry, confirmed by a clone of the packet, is (the whole
 * cookie matches). Otherwise the tuple is the packet's only while no NAT
 * hook rewrote the packet, so at a source hook an entry whose direction
 * has destination work cannot be the packet's (another connection may own
 * the half-translated tuple). A reference word (ref) that outlived its low
 * bytes also names the direction and its work: they must agree.
 */
struct nflab_conn *nflab_ct_nat_fallback(struct net *net,
					 const struct sk_buff *skb, bool src,
					 bool ref, u64 w, u8 *dir)
{
	struct nflab_conn *ct;
	u64 work;

	if (ref && src && (w & NFLAB_CB_REF_DST))
		return NULL;	/* half translated: no entry has its tuple */
	ct = nflab_ct_tuple_get(net, skb, dir);
	if (!ct)
		return NULL;
	if (!ref && ct->cookie == w && *dir == NFLAB_DIR_ORIG)
		return ct;
	work = nflab_cb_ref_work(ct, *dir);
	if ((src && (work & NFLAB_CB_REF_DST)) ||
	    (ref && (*dir != !!(w & NFLAB_CB_REF_DIR) ||
		     (work & NFLAB_CB_REF_WORK) != (w & NFLAB_CB_REF_WORK)))) {
		nflab_ct_put(ct);
		return NULL;
	}
	return ct;
}

/* The packet's skb->cb word, for NAT. */
u64 nflab_ct_cb_word(struct sk_buff *skb)
{
	return *nflab_cb_cookie(skb);
}

/*
 * For the NAT hooks, in their RCU read-side section: the entry the
 * packet's cb names (*ctp) and the packet's direction in it.
 *
 * - NFLAB_PKT_IN_FLIGHT: a first packet's entry, with a reference.
 * - NFLAB_PKT_CONN, NFLAB_PKT_RELATED: the entry a reference word names
 *   (for an ICMP error about it: RELATED), without a reference.
 * - NFLAB_PKT_HELD: an entry found another way, with a reference: by the
 *   whole cookie (a clone's twin confirmed it), or by the packet's own
 *   tuple (nflab_ct_nat_fallback()) when the word is not what the tracking
 *   hook wrote (noise: NFQUEUE's GSO segments keep only the word's top
 *   bytes) or names no entry.
 * - NFLAB_PKT_LOST: a translated connection's reference word that finds
 *   its entry neither by itself (gone: a flush since the tracking hook; or
 *   noise) nor by the packet's tuple, or an ICMP error's whose entry went:
 *   NAT cannot tell what the packet should become, so it fails closed.
 *   This includes a GSO segment NFQUEUE made of a packet of a connection
 *   translated on both sides, between its two NAT hooks.
 * - NFLAB_PKT_NONE: nothing for this kind of hook (src: the source hooks)
 *   to do. A cookie nothing answers to (its entry reclaimed in flight, or
 *   noise over it: an LWT BPF program on the route) goes on as it is:
 *   nothing tells it from a first packet of a flow NAT never saw.
 */
enum nflab_pkt_nat nflab_ct_pkt_nat(struct net *net, struct sk_buff *skb,
				    bool src, struct nflab_conn **ctp, u8 *dir)
{
	u64 w = *nflab_cb_cookie(skb);

	if (w & NFLAB_CB_COOKIE) {
		*dir = NFLAB_DIR_ORIG;
		*ctp = nflab_inflight_get(net, w);
		if (*ctp)
			return NFLAB_PKT_IN_FLIGHT;
		*ctp = nflab_ct_nat_fallback(net, skb, src, false, w, dir);
		return *ctp ? NFLAB_PKT_HELD : NFLAB_PKT_NONE;
	}
	*ctp = NULL;
	if (!nflab_cb_is_ref(w) ||
	    !(w & (src ? NFLAB_CB_REF_SRC :
		   NFLAB_CB_REF_DST | NFLAB_CB_REF_TOUCH)))
		return NFLAB_PKT_NONE;
	*ctp = nflab_ct_ref_find(net, w, dir);
	if (*ctp)
		return w & NFLAB_CB_REF_RELATED ? NFLAB_PKT_RELATED :
		       NFLAB_PKT_CONN;
	if (w & NFLAB_CB_REF_RELATED)
		return NFLAB_PKT_LOST;
	*ctp = nflab_ct_nat_fallback(net, skb, src, true, w, dir);
	if (*ctp)
		return NFLAB_PKT_HELD;
	/* Only a full cone mapping's, untranslated: nothing to lose. */
	return w & NFLAB_CB_REF_NAT ? NFLAB_PKT_LOST : NFLAB_PKT_NONE;
}

/*
 * For the rule engine: the NATed entry an ICMP error is about, with a
 * reference, and the direction the error travels in it, as the tracking
 * hook found them before any NAT hook rewrote the error's quote.
 */
struct nflab_conn *nflab_ct_pkt_related(struct net *net, struct sk_buff *skb,
					u8 *dir)
{
	u64 w = *nflab_cb_cookie(skb);

	if (!nflab_cb_is_ref(w) || !(w & NFLAB_CB_REF_RELATED))
		return NULL;
	return nflab_ct_ref_get(net, w, dir);
}

/*
 * Put a new entry in flight under a fresh cookie. The reference the packet
 * held becomes the in-flight table's. The cookie this CPU wrote
 * NFLAB_CT_RING entries ago names an entry whose packet should long have
 * been confirmed: if it is still in flight, its packet was dropped.
 */
static u64 nflab_inflight_add(struct nflab_conn *ct)
{
	struct nflab_ct_inflight_bucket *b;
	struct nflab_ct_ring *ring;
	u64 cookie, old;

	/* The top bit tells a cookie from a state word (see nflab_cb_state()). */
	cookie = get_random_u64() | NFLAB_CB_COOKIE;
	ct->cookie = cookie;
	ct->inflight_at = jiffies;
	b = nflab_inflight_bucket(cookie);

	local_bh_disable();
	spin_lock(&b->lock);
	hlist_add_head(&ct->inflight, &b->head);
	spin_unlock(&b->lock);
	ring = this_cpu_ptr(&nflab_ct_ring);
	old = ring->cookie[ring->next];
	ring->cookie[ring->next] = cookie;
	ring->next = (ring->next + 1) % NFLAB_CT_RING;
	local_bh_enable();

	/* ct is the table's now, and may be gone: only the cookie is ours. */
	if (old)
		nflab_ct_put(nflab_inflight_take(NULL, old));
	return cookie;
}

/* The same two tuples, either way round (one flow seen from each end). */
static bool nflab_ct_same_tuples(const struct nflab_conn *a,
				 const struct nflab_conn *b)
{
	const struct nflab_tuple *a0 = &a->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_tuple *a1 = &a->th[NFLAB_DIR_REPLY].tuple;
	const struct nflab_tuple *b0 = &b->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_tuple *b1 = &b->th[NFLAB_DIR_REPLY].tuple;

	return (nflab_tuple_equal(a0, b0) && nflab_tuple_equal(a1, b1)) ||
	       (nflab_tuple_equal(a0, b1) && nflab_tuple_equal(a1, b0));
}

/*
 * Insert an in-flight entry into the table. If another CPU confirmed the
 * same flow meanwhile, that entry wins and is returned with a reference, and
 * *dir becomes the packet's direction in it (the other CPU may have seen the
 * flow's first packet going the other way); ours is left to the caller to
 * drop. *full is set, and nothing inserted, when the namespace is at its
 * limit.
 */
static struct nflab_conn *nflab_ct_insert(struct nflab_conn *ct, u8 *dir,
					  bool *full, bool *nat_clash)
{
	struct net *net = nflab_ct_net(ct);
	struct nflab_net *nn = nflab_pernet(net);
	struct nflab_tuple_hash *h;
	struct hlist_nulls_node *n;
	unsigned int b[NFLAB_DIR_MAX];
	int d;

	for (d = 0; d < NFLAB_DIR_MAX; d++)
		b[d] = nflab_bucket_of(nflab_tuple_hash(net, &ct->th[d].tuple));

	local_bh_disable();
	nflab_double_lock(b[0], b[1]);
	for (d = 0; d < NFLAB_DIR_MAX; d++) {
		/* A chain: bounded by the limits and the cap. */
		hlist_nulls_for_each_entry(h, n, &nflab_ct_hash[b[d]], node) {
			struct nflab_conn *other = nflab_ct_of(h);

			if (!nflab_tuple_equal(&h->tuple, &ct->th[d].tuple) ||
			    !net_eq(nflab_ct_net(other), net) ||
			    test_bit(NFLAB_CT_STATUS_DYING_BIT, &other->status) ||
			    !refcount_inc_not_zero(&other->use))
				continue;
			nflab_double_unlock(b[0], b[1]);
			local_bh_enable();
			/*
			 * Where NAT translated either, the packet was
			 * rewritten for its own entry: it can join the other
			 * only if both translate alike. Otherwise two
			 * connections wanted one reply tuple: this one loses.
			 */
			if (((ct->status | other->status) & NFLAB_CT_STATUS_NAT) &&
			    !nflab_ct_same_tuples(ct, other)) {
				NFLAB_CT_STAT_INC(nn, NAT_CLASH);
				nflab_ct_put(other);
				*nat_clash = true;
				return NULL;
			}
			NFLAB_CT_STAT_INC(nn, CLASH);
			if (h->tuple.dir != d)
				*dir = !*dir;
			return other;
		}
	}
	/*
	 * The limit again, where it is exact: other CPUs may have confirmed
	 * entries since this one's first packet found room.
	 */
	if (atomic_inc_return(&nn->ct_count) > READ_ONCE(nn->ct_limit)) {
		atomic_dec(&nn->ct_count);
		nflab_double_unlock(b[0], b[1]);
		local_bh_enable();
		*full = true;
		return NULL;
	}
	refcount_inc(&ct->use);	/* the table's */
	/*
	 * The timeout runs from confirmation, as the kernel's does: time
	 * spent queued between the hooks (NFQUEUE) must not expire the
	 * entry before its first reply can find it.
	 */
	WRITE_ONCE(ct->timeout, ct->timeout + (jiffies - ct->inflight_at));
	set_bit(NFLAB_CT_STATUS_CONFIRMED_BIT, &ct->status);
	/* Dumps walk a chain newest first and resume by this order. */
	ct->seq = nflab_ct_stripe_seq[b[0] % NFLAB_CT_LOCKS]++;
	/*
	 * Onto the namespace's lists and into its count before the entry is
	 * visible in the table, where a flush could kill it at once. The
	 * ASSURED test is under ct_lock: nflab_ct_set_assured() may run now.
	 */
	spin_lock(&nn->ct_lock);
	list_add_tail(&ct->all, &nn->ct_all);
	if (!test_bit(NFLAB_CT_STATUS_ASSURED_BIT, &ct->status))
		list_add_tail(&ct->unassured, &nn->ct_unassured);
	spin_unlock(&nn->ct_lock);
	hlist_nulls_add_head_rcu(&ct->th[NFLAB_DIR_ORIG].node, &nflab_ct_hash[b[0]]);
	hlist_nulls_add_head_rcu(&ct->th[NFLAB_DIR_REPLY].node, &nflab_ct_hash[b[1]]);
	nflab_double_unlock(b[0], b[1]);
	local_bh_enable();

	NFLAB_CT_STAT_INC(nn, INSERT);
	nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_NEW);
	return NULL;
}

/* The IPv4 header and L4 offset; false for what cannot be tracked. */
static bool nflab_l3_tuple(const struct sk_buff *skb, struct nflab_tuple *t,
			   unsigned int *off, bool *fragment)
{
	const struct iphdr *iph;
	struct iphdr _iph;

	iph = skb_header_pointer(skb, skb_network_offset(skb), sizeof(_iph), &_iph);
	if (!iph || iph->ihl < 5 || iph->version != 4)
		return false;
	memset(t, 0, sizeof(*t));
	t->src = iph->saddr;
	t->dst = iph->daddr;
	t->proto = iph->protocol;
	*off = skb_network_offset(skb) + iph->ihl * 4;
	*fragment = iph->frag_off & htons(IP_OFFSET);
	return *off <= skb->len;
}

/* The packet's tuple, as the tracking hook builds it; for connlimit. */
bool nflab_ct_pkt_tuple(const struct sk_buff *skb, struct nflab_tuple *t)
{
	const struct nflab_l4proto *l4;
	unsigned int off;
	bool fragment;

	if (!nflab_l3_tuple(skb, t, &off, &fragment) || fragment)
		return false;
	l4 = nflab_l4proto_find(t->proto);
	return l4 && l4->tuple(skb, off, t);
}

/*
 * Verify the L4 checksum of what arrives from outside, as the kernel's
 * tracker does: a packet a receiver will discard must not move a flow's
 * state. Locally built packets (LOCAL_OUT) are not checked, and
 * nf_checksum() trusts what the device or the stack already verified.
 */
static bool nflab_l4_csum_ok(struct sk_buff *skb, unsigned int hook,
			     unsigned int off, u8 proto)
{
	if (hook != NF_INET_PRE_ROUTING)
		return true;
	if (proto == IPPROTO_UDP) {
		const struct udphdr *uh;
		struct udphdr _uh;

		uh = skb_header_pointer(skb, off, sizeof(_uh), &_uh);
		/* No header: the handler calls it INVALID. No sum: allowed. */
		if (!uh || !uh->check)
			return true;
	}
	return !nf_checksum(skb, hook, off, proto == IPPROTO_ICMP ? 0 : proto,
			    NFPROTO_IPV4);
}

static void nflab_ct_account(struct nflab_conn *ct, enum nflab_dir dir,
			     const struct sk_buff *skb)
{
	atomic64_inc(&ct->packets[dir]);
	atomic64_add(skb->len, &ct->bytes[dir]);
}

/*
 * PRE_ROUTING and LOCAL_OUT: find the packet's entry or create one in
 * flight, and update its protocol state.
 */
unsigned int nflab_ct_in(struct sk_buff *skb, const struct nf_hook_state *st,
			 struct nflab_ct_res *res)
{
	struct net *net = st->net;
	struct nflab_net *nn = nflab_pernet(net);
	const struct nflab_l4proto *l4;
	struct nflab_tuple t, reply;
	unsigned long old_status;
	struct nflab_tuple_hash *h;
	enum nflab_ct_verdict v;
	struct nflab_conn *ct;
	bool fragment, changed, repeated = false;
	unsigned int off, bucket;

	/*
	 * What arrives on loopback, and the copies of multicast and
	 * broadcast datagrams looped back to their sender on any device
	 * (PACKET_LOOPBACK), were sent here and tracked at LOCAL_OUT
	 * already; tracking them again would count every packet twice. A
	 * state word or reference word LOCAL_OUT left them (UNTRACKED after
	 * the raw table's NOTRACK, say) still holds; anything else goes.
	 * Copies sent by nf_dup (TEE) are not the flow's, as in the kernel.
	 */
	if ((st->in && (st->in->flags & IFF_LOOPBACK)) ||
	    skb->pkt_type == PACKET_LOOPBACK ||
	    unlikely(this_cpu_read(nf_skb_duplicated))) {
		u64 w = *nflab_cb_cookie(skb);

		/* Output translated them: no NAT hook has work left. */
		if (nflab_cb_is_ref(w))
			*nflab_cb_cookie(skb) = w & ~NFLAB_CB_REF_WORK;
		else if (!nflab_cb_state_ok(nn, w))
			*nflab_cb_cookie(skb) = 0;
		return NF_ACCEPT;
	}
	/* Whatever the cb held, it names no entry of ours from here on. */
	*nflab_cb_cookie(skb) = 0;
	/* Plain stores: the why of an INVALID, for a trace. */
	res->invalid = NFLAB_TRACE_INVALID_HEADER;
	if (!nflab_l3_tuple(skb, &t, &off, &fragment))
		goto out_invalid;
	l4 = nflab_l4proto_find(t.proto);
	if (!l4) {
		res->kind = NFLAB_TRACE_CT_UNTRACKED;
		nflab_cb_state(skb, nn, NFLAB_CT_STATE_UNTRACKED, 0);
		return NF_ACCEPT;
	}
	/* nf_defrag_ipv4 reassembled what it could; the rest is unusable. */
	res->invalid = NFLAB_TRACE_INVALID_FRAGMENT;
	if (fragment)
		goto out_invalid;
	res->invalid = NFLAB_TRACE_INVALID_CHECKSUM;
	if (!nflab_l4_csum_ok(skb, st->hook, off, t.proto))
		goto out_invalid;
	res->invalid = NFLAB_TRACE_INVALID_ICMP_ERROR;
	if (l4->error && l4->error(net, skb, off, &v)) {
		if (v != NFLAB_CT_RELATED)
			goto out_invalid;
		NFLAB_CT_STAT_INC(nn, RELATED);
		res->kind = NFLAB_TRACE_CT_RELATED;
		nflab_cb_related(skb, net, nn, off, t.proto);
		return NF_ACCEPT;
	}
	res->invalid = NFLAB_TRACE_INVALID_HEADER;
	if (!l4->tuple(skb, off, &t))
		goto out_invalid;

repeat:
	h = nflab_ct_lookup(net, &t, &bucket);
	if (h) {
		ct = nflab_ct_of(h);
		NFLAB_CT_STAT_INC(nn, FOUND);
	} else {
		reply = t;
		reply.src = t.dst;
		reply.dst = t.src;
		res->invalid = NFLAB_TRACE_INVALID_NO_NEW;
		if (!l4->invert(&reply, &t))
			goto out_invalid;
		if (!nflab_ct_room(net, nn)) {
			if (!nflab_ct_early_drop(nn)) {
				NFLAB_CT_STAT_INC(nn, DROP);
				res->kind = NFLAB_TRACE_CT_FULL;
				return NF_DROP;
			}
			NFLAB_CT_STAT_INC(nn, EARLY_DROP);
		}
		ct = nflab_ct_alloc(net, &t, &reply);
		if (!ct) {
			NFLAB_CT_STAT_INC(nn, DROP);
			res->kind = NFLAB_TRACE_CT_FULL;
			return NF_DROP;
		}
		if (!l4->new(nn, ct, skb, off)) {
			nflab_ct_put(ct);
			goto out_invalid;
		}
		NFLAB_CT_STAT_INC(nn, NEW);
		h = &ct->th[NFLAB_DIR_ORIG];
	}

	old_status = READ_ONCE(ct->status) & NFLAB_CT_EVENT_STATUS;
	if (nflab_tracing()) {
		res->tcp_old = t.proto == IPPROTO_TCP ?
			       READ_ONCE(ct->proto.tcp.state) : 0;
		res->status_old = READ_ONCE(ct->status);
	}
	v = l4->packet(nn, ct, skb, off, h->tuple.dir, &changed);
	if (v == NFLAB_CT_REPEAT && !repeated) {
		/* Once: the entry found is gone, so the lookup creates. */
		nflab_ct_kill(ct);
		nflab_ct_put(ct);
		repeated = true;
		goto repeat;
	}
	if (v == NFLAB_CT_INVALID || v == NFLAB_CT_REPEAT) {
		res->invalid = NFLAB_TRACE_INVALID_STATE;
		if (nflab_tracing())
			nflab_trace_ct_note(res, ct, h->tuple.dir);
		nflab_ct_put(ct);
		goto out_invalid;
	}
	if (h->tuple.dir == NFLAB_DIR_REPLY)
		set_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status);
	nflab_ct_account(ct, h->tuple.dir, skb);
	if (nflab_tracing())
		nflab_trace_ct_note(res, ct, h->tuple.dir);
	if (!test_bit(NFLAB_CT_STATUS_CONFIRMED_BIT, &ct->status)) {
		/* Its first state goes out with its NEW event at confirm. */
		res->kind = NFLAB_TRACE_CT_NEW;
		/* The cookie, which names the entry's history, is born here. */
		res->cookie = nflab_inflight_add(ct);
		*nflab_cb_cookie(skb) = res->cookie;
		return NF_ACCEPT;
	}
	res->kind = NFLAB_TRACE_CT_FOUND;
	if (READ_ONCE(ct->status) & NFLAB_CT_STATUS_REF)
		nflab_cb_ref(skb, ct, h->tuple.dir, bucket, false);
	else
		nflab_cb_state(skb, nn, nflab_ct_state_of(ct, h->tuple.dir),
			       ct->status);
	if (!test_bit(NFLAB_CT_STATUS_DYING_BIT, &ct->status) &&
	    (changed || (READ_ONCE(ct->status) & NFLAB_CT_EVENT_STATUS) != old_status))
		nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_UPDATE);
	nflab_ct_put(ct);
	return NF_ACCEPT;

out_invalid:
	NFLAB_CT_STAT_INC(nn, INVALID);
	res->kind = NFLAB_TRACE_CT_INVALID;
	nflab_cb_state(skb, nn, NFLAB_CT_STATE_INVALID, 0);
	return NF_ACCEPT;
}

/*
 * POST_ROUTING and LOCAL_IN, last of all hooks: the packet is accepted, so
 * the entry it created joins the table.
 */
unsigned int nflab_ct_confirm(struct sk_buff *skb,
			      const struct nf_hook_state *st)
{
	struct nflab_net *nn = nflab_pernet(st->net);
	u64 *cookie = nflab_cb_cookie(skb);
	struct nflab_conn *ct, *winner;
	u8 dir = NFLAB_DIR_ORIG;
	bool full = false, clash = false;

	if (!(*cookie & NFLAB_CB_COOKIE))
		return NF_ACCEPT;
	ct = nflab_inflight_take(st->net, *cookie);
	*cookie = 0;
	if (!ct)
		return NF_ACCEPT;
	/* From here on NAT (nat.c) leaves the tuples as they are. */
	spin_lock_bh(&ct->lock);
	set_bit(NFLAB_CT_STATUS_FROZEN_BIT, &ct->status);
	spin_unlock_bh(&ct->lock);
	winner = nflab_ct_insert(ct, &dir, &full, &clash);
	if (full && nflab_ct_early_drop(nn)) {
		NFLAB_CT_STAT_INC(nn, EARLY_DROP);
		full = false;
		winner = nflab_ct_insert(ct, &dir, &full, &clash);
	}
	if (clash) {
		nflab_hook_count_drop(st->net, st->hook, NFLAB_DROP_NAT);
		if (nflab_tracing())
			nflab_trace_drop(skb, st, NFLAB_TRACE_BY_NAT);
		nflab_ct_put(ct);
		return NF_DROP;
	}
	if (full) {
		/* As at the tracking hook: no room, no packet. */
		NFLAB_CT_STAT_INC(nn, DROP);
		nflab_hook_count_drop(st->net, st->hook, NFLAB_DROP_FULL);
		if (nflab_tracing())
			nflab_trace_drop(skb, st, NFLAB_TRACE_BY_TRACKER);
		nflab_ct_put(ct);
		return NF_DROP;
	}
	/*
	 * A NATed connection's packet that goes on (over loopback, to
	 * PRE_ROUTING and LOCAL_IN) keeps naming its entry: its translated
	 * tuple is no entry's for a lookup to find. So does one through a
	 * full cone mapping, whose packets keep the mapping alive.
	 */
	if (READ_ONCE((winner ?: ct)->status) & NFLAB_CT_STATUS_REF)
		nflab_cb_ref_of(skb, st->net, winner ?: ct, dir, false);
	if (winner) {
		/* Lost the race: count this packet on the winner. */
		nflab_ct_account(winner, dir, skb);
		nflab_ct_put(winner);
	}
	nflab_ct_put(ct);
	return NF_ACCEPT;
}

/* Kill the expired entries of one bucket (all namespaces, or just net). */
static unsigned int nflab_ct_gc_bucket(unsigned int bucket, struct net *net)
{
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	unsigned int evicted = 0;

	rcu_read_lock();
	hlist_nulls_for_each_entry_rcu(h, n, &nflab_ct_hash[bucket], node) {
		struct nflab_conn *ct = nflab_ct_of(h);

		if (h->tuple.dir != NFLAB_DIR_ORIG ||
		    (net && !net_eq(nflab_ct_net(ct), net)) ||
		    !nflab_ct_expired(ct) ||
		    !refcount_inc_not_zero(&ct->use))
			continue;
		if (nflab_ct_kill(ct)) {
			evicted++;
			NFLAB_CT_STAT_INC(nflab_pernet(nflab_ct_net(ct)),
					  GC_EVICTED);
		}
		nflab_ct_put(ct);
	}
	rcu_read_unlock();
	return evicted;
}

static void nflab_ct_gc_worker(struct work_struct *work)
{
	unsigned int i;

	mutex_lock(&nflab_ct_gc_mutex);
	for (i = 0; i < NFLAB_CT_GC_SLICE; i++) {
		nflab_ct_gc_bucket(nflab_ct_gc_next, NULL);
		nflab_ct_gc_next = (nflab_ct_gc_next + 1) % nflab_hashsize;
	}
	mutex_unlock(&nflab_ct_gc_mutex);
	/*
	 * An empty table needs no sweeping; a busy one gets it often. The
	 * exact sum: a few entries hide in the per-CPU parts of the count.
	 */
	queue_delayed_work(system_power_efficient_wq, &nflab_ct_gc_work,
			   percpu_counter_sum_positive(&nflab_ct_entries) ?
			   HZ / 50 : HZ);
}

/* Remove every expired entry of net now; returns how many. */
unsigned int nflab_ct_gc_now(struct net *net)
{
	unsigned int b, evicted = 0;

	mutex_lock(&nflab_ct_gc_mutex);
	for (b = 0; b < nflab_hashsize; b++) {
		evicted += nflab_ct_gc_bucket(b, net);
		cond_resched();
	}
	mutex_unlock(&nflab_ct_gc_mutex);
	return evicted;
}

/*
 * Hand net's entries to fn, bucket by bucket from pos, until fn returns
 * non-zero (its message is full); pos then names the entry to resume
 * after. A chain is walked newest first and every confirm inserts at its
 * head with a larger seq, so resuming skips entries with a seq at least the
 * last one's: the ones already dumped and those created since. Entries
 * created or removed elsewhere do not disturb a resumed dump.
 */
int nflab_ct_dump(struct net *net, struct nflab_ct_dump_pos *pos,
		  int (*fn)(struct nflab_conn *ct, void *arg), void *arg)
{
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	int ret = 0;

	for (; pos->bucket < nflab_hashsize; pos->bucket++, pos->resume = false) {
		/* Long dumps of a big table let others run. */
		if (pos->bucket % NFLAB_CT_DUMP_RESCHED == 0)
			cond_resched();
		rcu_read_lock();
		hlist_nulls_for_each_entry_rcu(h, n, &nflab_ct_hash[pos->bucket], node) {
			struct nflab_conn *ct = nflab_ct_of(h);

			if (h->tuple.dir != NFLAB_DIR_ORIG ||
			    !net_eq(nflab_ct_net(ct), net) ||
			    (pos->resume && ct->seq >= pos->seq))
				continue;
			ret = fn(ct, arg);
			if (ret)
				break;
			pos->resume = true;
			pos->seq = ct->seq;
		}
		rcu_read_unlock();
		if (ret)
			return ret;
	}
	return 0;
}

unsigned int nflab_ct_kill_matching(struct net *net,
				    bool (*match)(const struct nflab_conn *ct,
						  const void *arg),
				    const void *arg)
{
	unsigned int b, killed = 0;

	for (b = 0; b < nflab_hashsize; b++) {
		const struct hlist_nulls_node *n;
		struct nflab_tuple_hash *h;

		rcu_read_lock();
		hlist_nulls_for_each_entry_rcu(h, n, &nflab_ct_hash[b], node) {
			struct nflab_conn *ct = nflab_ct_of(h);

			if (h->tuple.dir != NFLAB_DIR_ORIG ||
			    !net_eq(nflab_ct_net(ct), net) ||
			    (match && !match(ct, arg)) ||
			    !refcount_inc_not_zero(&ct->use))
				continue;
			if (nflab_ct_kill(ct))
				killed++;
			nflab_ct_put(ct);
		}
		rcu_read_unlock();
		cond_resched();
	}
	return killed;
}

static const unsigned int nflab_ct_default_timeouts[NFLAB_CT_TIMEOUT_A_MAX + 1] = {
	[NFLAB_CT_TIMEOUT_A_TCP_SYN_SENT]	= 120,
	[NFLAB_CT_TIMEOUT_A_TCP_SYN_RECV]	= 60,
	[NFLAB_CT_TIMEOUT_A_TCP_ESTABLISHED]	= 5 * 24 * 3600,
	[NFLAB_CT_TIMEOUT_A_TCP_FIN_WAIT]	= 120,
	[NFLAB_CT_TIMEOUT_A_TCP_CLOSE_WAIT]	= 60,
	[NFLAB_CT_TIMEOUT_A_TCP_LAST_ACK]	= 30,
	[NFLAB_CT_TIMEOUT_A_TCP_TIME_WAIT]	= 120,
	[NFLAB_CT_TIMEOUT_A_TCP_CLOSE]		= 10,
	[NFLAB_CT_TIMEOUT_A_UDP_UNREPLIED]	= 30,
	[NFLAB_CT_TIMEOUT_A_UDP_ASSURED]	= 120,
	[NFLAB_CT_TIMEOUT_A_ICMP]		= 30,
	[NFLAB_CT_TIMEOUT_A_TCP_RETRANS]	= 300,
	[NFLAB_CT_TIMEOUT_A_TCP_UNACK]		= 300,
};

int nflab_ct_net_init(struct nflab_net *nn)
{
	int i;

	nn->ct_stats = alloc_percpu(struct nflab_ct_pcpu_stats);
	if (!nn->ct_stats)
		return -ENOMEM;
	atomic_set(&nn->ct_count, 0);
	spin_lock_init(&nn->ct_lock);
	INIT_LIST_HEAD(&nn->ct_all);
	INIT_LIST_HEAD(&nn->ct_unassured);
	/* ct_max is writable at any time: keep the protocol's range. */
	nn->ct_limit = clamp_t(unsigned int, READ_ONCE(nflab_ct_max),
			       NFLAB_CT_LIMIT_MIN, NFLAB_CT_LIMIT_MAX);
	nn->ct_tcp_loose = true;
	for (i = 1; i <= NFLAB_CT_TIMEOUT_A_MAX; i++)
		nn->ct_timeouts[i] = nflab_ct_default_timeouts[i] * HZ;
	return 0;
}

/*
 * The namespace's hooks are gone and an RCU grace period has passed: no
 * packet adds or confirms entries any more, and no netlink request can
 * reach a dying namespace. Free its entries still in flight (their packets
 * were dropped, or will find nothing to confirm), then remove the confirmed
 * ones from the namespace's own list (not by walking the whole table) while
 * the GC, which could otherwise be killing one of them concurrently and
 * touch nn, is held off. A netlink delete or flush (the family outlives the
 * hooks) may be killing the first entry at the same time: then it takes it
 * off the list, and this waits for that.
 */
void nflab_ct_net_flush(struct net *net, struct nflab_net *nn)
{
	struct nflab_conn *ct;
	struct hlist_node *tmp;
	unsigned int i;

	for (i = 0; i < NFLAB_CT_INFLIGHT; i++) {
		struct nflab_ct_inflight_bucket *b = &nflab_ct_inflight[i];
		HLIST_HEAD(dead);

		spin_lock_bh(&b->lock);
		hlist_for_each_entry_safe(ct, tmp, &b->head, inflight) {
			if (!net_eq(nflab_ct_net(ct), net))
				continue;
			hlist_del(&ct->inflight);
			hlist_add_head(&ct->inflight, &dead);
		}
		spin_unlock_bh(&b->lock);
		hlist_for_each_entry_safe(ct, tmp, &dead, inflight) {
			hlist_del_init(&ct->inflight);
			nflab_ct_put(ct);
		}
	}

	mutex_lock(&nflab_ct_gc_mutex);
	for (;;) {
		spin_lock_bh(&nn->ct_lock);
		ct = list_first_entry_or_null(&nn->ct_all, struct nflab_conn, all);
		if (ct)
			refcount_inc(&ct->use);
		spin_unlock_bh(&nn->ct_lock);
		if (!ct)
			break;
		if (!nflab_ct_kill(ct))
			cond_resched();
		nflab_ct_put(ct);
	}
	mutex_unlock(&nflab_ct_gc_mutex);
	WARN_ON_ONCE(atomic_read(&nn->ct_count));
}

void nflab_ct_net_exit(struct nflab_net *nn)
{
	free_percpu(nn->ct_stats);
}

int __init nflab_ct_init(void)
{
	unsigned int i;
	int ret;

	if (!nflab_hashsize) {
		/* One bucket per 16 KiB of RAM, as a starting point. */
		unsigned long pages = totalram_pages() >> (14 - PAGE_SHIFT);

		nflab_hashsize = clamp_t(unsigned long, roundup_pow_of_two(pages), 1024,
					 NFLAB_HASHSIZE_MAX);
	}
	nflab_hashsize = clamp_t(unsigned int, nflab_hashsize, 1024,
				 NFLAB_HASHSIZE_MAX);
	if (!nflab_ct_max)
		nflab_ct_max = nflab_hashsize;
	/*
	 * Namespaces' limits are their own business, but every entry
	 * lengthens chains that all namespaces share: the cap keeps the
	 * average chain short whatever the namespaces' limits add up to.
	 */
	if (!nflab_ct_global_max)
		nflab_ct_global_max = 4 * nflab_hashsize;

	ret = percpu_counter_init(&nflab_ct_entries, 0, GFP_KERNEL);
	if (ret)
		return ret;
	nflab_ct_cache = KMEM_CACHE(nflab_conn, 0);
	if (!nflab_ct_cache) {
		ret = -ENOMEM;
		goto err_destroy_counter;
	}
	nflab_ct_hash = kvmalloc_array(nflab_hashsize, sizeof(*nflab_ct_hash), GFP_KERNEL);
	if (!nflab_ct_hash) {
		ret = -ENOMEM;
		goto err_destroy_cache;
	}
	for (i = 0; i < nflab_hashsize; i++)
		INIT_HLIST_NULLS_HEAD(&nflab_ct_hash[i], i);
	for (i = 0; i < NFLAB_CT_LOCKS; i++)
		spin_lock_init(&nflab_ct_locks[i]);
	for (i = 0; i < NFLAB_CT_INFLIGHT; i++) {
		spin_lock_init(&nflab_ct_inflight[i].lock);
		INIT_HLIST_HEAD(&nflab_ct_inflight[i].head);
	}
	get_random_bytes(&nflab_ct_seed, sizeof(nflab_ct_seed));
	get_random_bytes(&nflab_ct_id_seed, sizeof(nflab_ct_id_seed));
	get_random_bytes(&nflab_cb_seed, sizeof(nflab_cb_seed));

	INIT_DEFERRABLE_WORK(&nflab_ct_gc_work, nflab_ct_gc_worker);
	queue_delayed_work(system_power_efficient_wq, &nflab_ct_gc_work, HZ);
	return 0;

err_destroy_cache:
	kmem_cache_destroy(nflab_ct_cache);
err_destroy_counter:
	percpu_counter_destroy(&nflab_ct_entries);
	return ret;
}

/* After every namespace's exit: the table is empty, no hook runs. */
void nflab_ct_exit(void)
{
	s64 left;

	cancel_delayed_work_sync(&nflab_ct_gc_work);
	/* Entries freed by call_rcu() must be gone before their cache. */
	rcu_barrier();
	/* Slab merging can hide leftovers from kmem_cache_destroy(). */
	left = percpu_counter_sum(&nflab_ct_entries);
	WARN(left, "%lld conntrack entries leaked\n", left);
	percpu_counter_destroy(&nflab_ct_entries);
	kvfree(nflab_ct_hash);
	kmem_cache_destroy(nflab_ct_cache);
}
