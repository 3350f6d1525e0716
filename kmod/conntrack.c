// SPDX-License-Identifier: GPL-2.0
/*
 * nflab's connection tracking table: one global hash of both tuples of every
 * entry (the namespace is part of the hash and of the comparison), RCU
 * lookups, striped bucket locks for writers, confirmation when a flow's first
 * packet leaves the last hook, a garbage collector working in bounded slices,
 * and a per-namespace limit with early drop.
 *
 * The packet path has no skb field of its own to carry the entry from the
 * first hook to the confirming one (skb->_nfct belongs to the kernel's
 * nf_conntrack, which may be loaded too). Each CPU keeps a small stack of
 * packets in flight instead: the entry found or created at PRE_ROUTING or
 * LOCAL_OUT is pushed with its skb and popped at POST_ROUTING or LOCAL_IN,
 * which run on the same CPU in the same call chain. A packet that leaves
 * that chain (dropped, stolen, queued) leaves a stale slot behind; it is
 * reclaimed when the stack wraps, and an unconfirmed entry in it is freed
 * then, so a dropped first packet never leaves an entry in the table.
 */

#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/netfilter.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <net/ip.h>

#include "nflab.h"
#include "conntrack.h"

static unsigned int hashsize __read_mostly;
module_param(hashsize, uint, 0444);
MODULE_PARM_DESC(hashsize, "Conntrack hash buckets (default: scaled to RAM, 1024-1048576)");

static unsigned int ct_max __read_mostly;
module_param(ct_max, uint, 0644);
MODULE_PARM_DESC(ct_max, "Default conntrack entry limit of a new namespace (default: hashsize)");

#define LOCKS		1024	/* bucket lock stripes */
#define LOOKUP_RESTARTS	8	/* bounds a lookup racing with writers */
#define GC_SLICE	512	/* buckets per GC run: a short, bounded pass */
#define STASH_DEPTH	8	/* packets in flight per CPU (nesting depth) */
/* Status changes that make an UPDATE event. */
#define EVENT_STATUS	(BIT(NFLAB_CT_SEEN_REPLY_BIT) | BIT(NFLAB_CT_ASSURED_BIT))

static struct hlist_nulls_head *table __read_mostly;
static spinlock_t locks[LOCKS];
static siphash_key_t seed __read_mostly;
static struct kmem_cache *conn_cache __read_mostly;
static atomic_t next_id = ATOMIC_INIT(0);
static atomic_t total = ATOMIC_INIT(0);	/* entries in the table, all nets */
/*
 * Entries allocated and not yet freed, table or not. Slab merging can hide
 * leftovers from kmem_cache_destroy(), so unload checks this itself.
 */
static atomic_t live = ATOMIC_INIT(0);

/* The GC walks the table a slice at a time; namespace exit waits for it. */
static DEFINE_MUTEX(gc_mutex);
static unsigned int gc_next_bucket;
static struct delayed_work gc_work;

struct stash_slot {
	const struct sk_buff	*skb;
	struct nflab_conn	*ct;
	u8			dir;
};

struct stash {
	struct stash_slot	slot[STASH_DEPTH];
	unsigned int		top;	/* next slot to use, wraps */
};

static DEFINE_PER_CPU(struct stash, stash);

static const struct nflab_l4proto *l4proto_find(u8 proto)
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

static u32 tuple_hash(const struct net *net, const struct nflab_tuple *t)
{
	return (u32)siphash_4u32((__force u32)t->src, (__force u32)t->dst,
				 t->u.all, net_hash_mix(net) ^ t->proto, &seed);
}

static unsigned int bucket_of(u32 hash)
{
	return reciprocal_scale(hash, hashsize);
}

/* Lock both buckets' stripes, lower first; one lock if they share it. */
static void double_lock(unsigned int b1, unsigned int b2)
	__acquires(locks) __acquires(locks)
{
	unsigned int l1 = b1 % LOCKS, l2 = b2 % LOCKS;

	if (l1 > l2)
		swap(l1, l2);
	spin_lock(&locks[l1]);
	if (l1 != l2)
		spin_lock_nested(&locks[l2], SINGLE_DEPTH_NESTING);
	else
		__acquire(locks);
}

static void double_unlock(unsigned int b1, unsigned int b2)
	__releases(locks) __releases(locks)
{
	unsigned int l1 = b1 % LOCKS, l2 = b2 % LOCKS;

	spin_unlock(&locks[l1]);
	if (l1 != l2)
		spin_unlock(&locks[l2]);
	else
		__release(locks);
}

unsigned int nflab_ct_buckets(void)
{
	return hashsize;
}

static void conn_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(conn_cache, container_of(head, struct nflab_conn, rcu));
	atomic_dec(&live);
}

void nflab_ct_put(struct nflab_conn *ct)
{
	if (ct && refcount_dec_and_test(&ct->use))
		call_rcu(&ct->rcu, conn_free_rcu);
}

void nflab_ct_refresh(struct nflab_conn *ct, unsigned int timeout)
{
	WRITE_ONCE(ct->timeout, jiffies + timeout);
}

static bool expired(const struct nflab_conn *ct)
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

	if (!test_bit(NFLAB_CT_CONFIRMED_BIT, &ct->status) ||
	    test_and_set_bit(NFLAB_CT_DYING_BIT, &ct->status))
		return false;

	b0 = bucket_of(tuple_hash(net, &ct->th[NFLAB_DIR_ORIG].tuple));
	b1 = bucket_of(tuple_hash(net, &ct->th[NFLAB_DIR_REPLY].tuple));
	local_bh_disable();
	double_lock(b0, b1);
	hlist_nulls_del_rcu(&ct->th[NFLAB_DIR_ORIG].node);
	hlist_nulls_del_rcu(&ct->th[NFLAB_DIR_REPLY].node);
	double_unlock(b0, b1);
	local_bh_enable();

	spin_lock_bh(&nn->ct_lock);
	list_del_init(&ct->unassured);
	list_del_init(&ct->all);
	spin_unlock_bh(&nn->ct_lock);
	atomic_dec(&nn->ct_count);
	atomic_dec(&total);
	atomic_inc(&nn->ct_generation);
	nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_DESTROY);
	nflab_ct_put(ct);
	return true;
}

/* Find a live entry with tuple t; returns it with a reference held. */
struct nflab_conn *nflab_ct_find(struct net *net, const struct nflab_tuple *t)
{
	u32 hash = tuple_hash(net, t);
	unsigned int bucket = bucket_of(hash), restarts = 0;
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	struct nflab_conn *ct;

	rcu_read_lock();
begin:
	hlist_nulls_for_each_entry_rcu(h, n, &table[bucket], node) {
		ct = nflab_ct_of(h);
		if (!nflab_tuple_equal(&h->tuple, t) ||
		    !net_eq(nflab_ct_net(ct), net))
			continue;
		if (test_bit(NFLAB_CT_DYING_BIT, &ct->status) ||
		    !refcount_inc_not_zero(&ct->use))
			continue;
		rcu_read_unlock();
		return ct;
	}
	/*
	 * Ending on another bucket's nulls marker means a writer moved us
	 * off our chain; walk it again, a bounded number of times since this
	 * runs in softirq.
	 */
	if (get_nulls_value(n) != bucket && restarts++ < LOOKUP_RESTARTS) {
		NFLAB_CT_STAT_INC(nflab_pernet(net), SEARCH_RESTART);
		goto begin;
	}
	rcu_read_unlock();
	return NULL;
}

/* Find h's entry for a packet; expired entries are killed on the way. */
static struct nflab_tuple_hash *lookup(struct net *net,
				       const struct nflab_tuple *t)
{
	struct nflab_conn *ct;
	enum nflab_dir dir;

	ct = nflab_ct_find(net, t);
	if (!ct)
		return NULL;
	if (expired(ct)) {
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
	if (test_and_set_bit(NFLAB_CT_ASSURED_BIT, &ct->status))
		return;
	spin_lock_bh(&nn->ct_lock);
	list_del_init(&ct->unassured);
	spin_unlock_bh(&nn->ct_lock);
}

/*
 * When a namespace is at its limit, evict its oldest entry that never
 * became assured, like the kernel's early drop: a flood of unanswered flows
 * cannot starve established ones.
 */
static bool early_drop(struct nflab_net *nn)
{
	struct nflab_conn *ct, *victim = NULL;
	bool killed;

	spin_lock_bh(&nn->ct_lock);
	list_for_each_entry(ct, &nn->ct_unassured, unassured) {
		/* Bounded: at most a few entries can be dying at once. */
		if (refcount_inc_not_zero(&ct->use)) {
			victim = ct;
			break;
		}
	}
	spin_unlock_bh(&nn->ct_lock);
	if (!victim)
		return false;
	killed = nflab_ct_kill(victim);
	nflab_ct_put(victim);
	return killed;
}

static struct nflab_conn *conn_alloc(struct net *net,
				     const struct nflab_tuple *orig,
				     const struct nflab_tuple *reply)
{
	struct nflab_conn *ct;

	ct = kmem_cache_zalloc(conn_cache, GFP_ATOMIC);
	if (!ct)
		return NULL;
	atomic_inc(&live);
	ct->th[NFLAB_DIR_ORIG].tuple = *orig;
	ct->th[NFLAB_DIR_ORIG].dir = NFLAB_DIR_ORIG;
	ct->th[NFLAB_DIR_REPLY].tuple = *reply;
	ct->th[NFLAB_DIR_REPLY].dir = NFLAB_DIR_REPLY;
	write_pnet(&ct->net, net);
	INIT_LIST_HEAD(&ct->all);
	INIT_LIST_HEAD(&ct->unassured);
	refcount_set(&ct->use, 1);	/* the packet's */
	spin_lock_init(&ct->lock);
	ct->id = atomic_inc_return(&next_id);
	ct->start_ns = ktime_get_real_ns();
	return ct;
}

/*
 * Insert an unconfirmed entry. If another CPU confirmed the same flow
 * meanwhile, that entry wins and is returned with a reference, and *dir
 * becomes the packet's direction in it (the other CPU may have seen the
 * flow's first packet going the other way); ours is left to the caller
 * to drop.
 */
static struct nflab_conn *confirm(struct nflab_conn *ct, u8 *dir)
{
	struct net *net = nflab_ct_net(ct);
	struct nflab_net *nn = nflab_pernet(net);
	struct nflab_tuple_hash *h;
	struct hlist_nulls_node *n;
	unsigned int b[NFLAB_DIR_MAX];
	int d;

	for (d = 0; d < NFLAB_DIR_MAX; d++)
		b[d] = bucket_of(tuple_hash(net, &ct->th[d].tuple));

	local_bh_disable();
	double_lock(b[0], b[1]);
	for (d = 0; d < NFLAB_DIR_MAX; d++) {
		hlist_nulls_for_each_entry(h, n, &table[b[d]], node) {
			struct nflab_conn *other = nflab_ct_of(h);

			if (!nflab_tuple_equal(&h->tuple, &ct->th[d].tuple) ||
			    !net_eq(nflab_ct_net(other), net) ||
			    test_bit(NFLAB_CT_DYING_BIT, &other->status) ||
			    !refcount_inc_not_zero(&other->use))
				continue;
			double_unlock(b[0], b[1]);
			local_bh_enable();
			NFLAB_CT_STAT_INC(nn, CLASH);
			if (h->dir != d)
				*dir = !*dir;
			return other;
		}
	}
	refcount_inc(&ct->use);	/* the table's */
	set_bit(NFLAB_CT_CONFIRMED_BIT, &ct->status);
	/*
	 * Onto the namespace's lists and into its count before the entry is
	 * visible in the table, where a flush could kill it at once. The
	 * ASSURED test is under ct_lock: nflab_ct_set_assured() may run now.
	 */
	spin_lock(&nn->ct_lock);
	list_add_tail(&ct->all, &nn->ct_all);
	if (!test_bit(NFLAB_CT_ASSURED_BIT, &ct->status))
		list_add_tail(&ct->unassured, &nn->ct_unassured);
	spin_unlock(&nn->ct_lock);
	atomic_inc(&nn->ct_count);
	hlist_nulls_add_head_rcu(&ct->th[NFLAB_DIR_ORIG].node, &table[b[0]]);
	hlist_nulls_add_head_rcu(&ct->th[NFLAB_DIR_REPLY].node, &table[b[1]]);
	double_unlock(b[0], b[1]);
	local_bh_enable();

	atomic_inc(&total);
	atomic_inc(&nn->ct_generation);
	NFLAB_CT_STAT_INC(nn, INSERT);
	nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_NEW);
	return NULL;
}

/* The IPv4 header and L4 offset; false for what cannot be tracked. */
static bool l3_tuple(const struct sk_buff *skb, struct nflab_tuple *t,
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

/* This CPU's slot for skb, if it has one; BHs are off. */
static struct stash_slot *stash_find(struct stash *s, const struct sk_buff *skb)
{
	unsigned int i;

	for (i = 0; i < STASH_DEPTH; i++)
		if (s->slot[i].skb == skb)
			return &s->slot[i];
	return NULL;
}

static void stash_push(const struct sk_buff *skb, struct nflab_conn *ct,
		       enum nflab_dir dir)
{
	struct stash_slot *slot;
	struct nflab_conn *old;
	struct stash *s;

	local_bh_disable();
	s = this_cpu_ptr(&stash);
	/*
	 * A slot for the same skb is stale: that packet's journey ended.
	 * Otherwise the oldest slot is reused; its packet was dropped.
	 */
	slot = stash_find(s, skb);
	if (!slot) {
		slot = &s->slot[s->top];
		s->top = (s->top + 1) % STASH_DEPTH;
	}
	old = slot->ct;
	slot->skb = skb;
	slot->ct = ct;
	slot->dir = dir;
	local_bh_enable();
	nflab_ct_put(old);
}

static struct nflab_conn *stash_pop(const struct sk_buff *skb, u8 *dir)
{
	struct nflab_conn *ct = NULL;
	struct stash_slot *slot;

	local_bh_disable();
	slot = stash_find(this_cpu_ptr(&stash), skb);
	if (slot) {
		ct = slot->ct;
		*dir = slot->dir;
		slot->skb = NULL;
		slot->ct = NULL;
	}
	local_bh_enable();
	return ct;
}

static void stash_drain(void)
{
	int cpu, i;

	for_each_possible_cpu(cpu) {
		struct stash *s = per_cpu_ptr(&stash, cpu);

		for (i = 0; i < STASH_DEPTH; i++) {
			nflab_ct_put(s->slot[i].ct);
			s->slot[i].ct = NULL;
			s->slot[i].skb = NULL;
		}
	}
}

static void account(struct nflab_conn *ct, enum nflab_dir dir,
		    const struct sk_buff *skb)
{
	atomic64_inc(&ct->packets[dir]);
	atomic64_add(skb->len, &ct->bytes[dir]);
}

/*
 * PRE_ROUTING and LOCAL_OUT: find the packet's entry or create an
 * unconfirmed one, and update its protocol state.
 */
unsigned int nflab_ct_in(struct sk_buff *skb, const struct nf_hook_state *st)
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
	unsigned int off;

	/*
	 * What arrives on loopback was sent here and tracked at LOCAL_OUT
	 * already; tracking it again would count every packet twice.
	 */
	if (st->in && (st->in->flags & IFF_LOOPBACK))
		return NF_ACCEPT;
	if (!l3_tuple(skb, &t, &off, &fragment)) {
		NFLAB_CT_STAT_INC(nn, INVALID);
		return NF_ACCEPT;
	}
	l4 = l4proto_find(t.proto);
	/* Later fragments carry no L4 header: leave them untracked. */
	if (!l4 || fragment)
		return NF_ACCEPT;
	if (l4->error && l4->error(net, skb, off, &v)) {
		if (v == NFLAB_CT_RELATED)
			NFLAB_CT_STAT_INC(nn, RELATED);
		else
			NFLAB_CT_STAT_INC(nn, INVALID);
		return NF_ACCEPT;
	}
	if (!l4->tuple(skb, off, &t)) {
		NFLAB_CT_STAT_INC(nn, INVALID);
		return NF_ACCEPT;
	}

repeat:
	h = lookup(net, &t);
	if (h) {
		ct = nflab_ct_of(h);
		NFLAB_CT_STAT_INC(nn, FOUND);
	} else {
		reply = t;
		reply.src = t.dst;
		reply.dst = t.src;
		if (!l4->invert(&reply, &t)) {
			NFLAB_CT_STAT_INC(nn, INVALID);
			return NF_ACCEPT;
		}
		if (atomic_read(&nn->ct_count) >= READ_ONCE(nn->ct_limit)) {
			if (!early_drop(nn)) {
				NFLAB_CT_STAT_INC(nn, DROP);
				return NF_DROP;
			}
			NFLAB_CT_STAT_INC(nn, EARLY_DROP);
		}
		ct = conn_alloc(net, &t, &reply);
		if (!ct) {
			NFLAB_CT_STAT_INC(nn, DROP);
			return NF_DROP;
		}
		if (!l4->new(nn, ct, skb, off)) {
			NFLAB_CT_STAT_INC(nn, INVALID);
			nflab_ct_put(ct);
			return NF_ACCEPT;
		}
		NFLAB_CT_STAT_INC(nn, NEW);
		h = &ct->th[NFLAB_DIR_ORIG];
	}

	old_status = READ_ONCE(ct->status) & EVENT_STATUS;
	v = l4->packet(nn, ct, skb, off, h->dir, &changed);
	if (v == NFLAB_CT_REPEAT && !repeated) {
		/* Once: the entry found is gone, so the lookup creates. */
		nflab_ct_kill(ct);
		nflab_ct_put(ct);
		repeated = true;
		goto repeat;
	}
	if (v == NFLAB_CT_INVALID || v == NFLAB_CT_REPEAT) {
		NFLAB_CT_STAT_INC(nn, INVALID);
		nflab_ct_put(ct);
		return NF_ACCEPT;
	}
	if (h->dir == NFLAB_DIR_REPLY)
		set_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status);
	account(ct, h->dir, skb);
	/* A new entry's first state goes out with its NEW event at confirm. */
	if (test_bit(NFLAB_CT_CONFIRMED_BIT, &ct->status) &&
	    (changed || (READ_ONCE(ct->status) & EVENT_STATUS) != old_status))
		nflab_ct_event(ct, NFLAB_CMD_CT_EVENT_UPDATE);
	stash_push(skb, ct, h->dir);
	return NF_ACCEPT;
}

/*
 * POST_ROUTING and LOCAL_IN, last of all hooks: the packet is accepted, so
 * its new entry joins the table.
 */
unsigned int nflab_ct_confirm(struct sk_buff *skb,
			      const struct nf_hook_state *st)
{
	struct nflab_conn *ct, *winner;
	u8 dir;

	ct = stash_pop(skb, &dir);
	if (!ct)
		return NF_ACCEPT;
	if (!test_bit(NFLAB_CT_CONFIRMED_BIT, &ct->status)) {
		winner = confirm(ct, &dir);
		if (winner) {
			/* Lost the race: count this packet on the winner. */
			account(winner, dir, skb);
			nflab_ct_put(winner);
		}
	}
	nflab_ct_put(ct);
	return NF_ACCEPT;
}

/* Kill the expired entries of one bucket (all namespaces, or just net). */
static unsigned int gc_bucket(unsigned int bucket, struct net *net, bool all)
{
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	unsigned int evicted = 0;

	rcu_read_lock();
	hlist_nulls_for_each_entry_rcu(h, n, &table[bucket], node) {
		struct nflab_conn *ct = nflab_ct_of(h);

		if (h->dir != NFLAB_DIR_ORIG ||
		    (net && !net_eq(nflab_ct_net(ct), net)) ||
		    (!all && !expired(ct)) ||
		    !refcount_inc_not_zero(&ct->use))
			continue;
		if (nflab_ct_kill(ct)) {
			evicted++;
			if (!all)
				NFLAB_CT_STAT_INC(nflab_pernet(nflab_ct_net(ct)),
						  GC_EVICTED);
		}
		nflab_ct_put(ct);
	}
	rcu_read_unlock();
	return evicted;
}

static void gc_worker(struct work_struct *work)
{
	unsigned int i;

	mutex_lock(&gc_mutex);
	for (i = 0; i < GC_SLICE && atomic_read(&total); i++) {
		gc_bucket(gc_next_bucket, NULL, false);
		gc_next_bucket = (gc_next_bucket + 1) % hashsize;
	}
	mutex_unlock(&gc_mutex);
	/* An empty table needs no sweeping; a busy one gets it often. */
	queue_delayed_work(system_power_efficient_wq, &gc_work,
			   atomic_read(&total) ? HZ / 50 : HZ);
}

/* Remove every expired entry of net now; returns how many. */
unsigned int nflab_ct_gc_now(struct net *net)
{
	unsigned int b, evicted = 0;

	mutex_lock(&gc_mutex);
	for (b = 0; b < hashsize; b++) {
		evicted += gc_bucket(b, net, false);
		cond_resched();
	}
	mutex_unlock(&gc_mutex);
	return evicted;
}

int nflab_ct_walk_bucket(struct net *net, unsigned int bucket,
			 unsigned int *skip,
			 int (*fn)(struct nflab_conn *ct, void *arg), void *arg)
{
	const struct hlist_nulls_node *n;
	struct nflab_tuple_hash *h;
	unsigned int seen = 0;
	int ret = 0;

	rcu_read_lock();
	hlist_nulls_for_each_entry_rcu(h, n, &table[bucket], node) {
		struct nflab_conn *ct = nflab_ct_of(h);

		if (h->dir != NFLAB_DIR_ORIG || !net_eq(nflab_ct_net(ct), net))
			continue;
		if (seen++ < *skip)
			continue;
		ret = fn(ct, arg);
		if (ret) {
			seen--;
			break;
		}
	}
	rcu_read_unlock();
	*skip = ret ? seen : 0;
	return ret;
}

unsigned int nflab_ct_kill_matching(struct net *net,
				    bool (*match)(const struct nflab_conn *ct,
						  const void *arg),
				    const void *arg)
{
	unsigned int b, killed = 0;

	for (b = 0; b < hashsize; b++) {
		const struct hlist_nulls_node *n;
		struct nflab_tuple_hash *h;

		rcu_read_lock();
		hlist_nulls_for_each_entry_rcu(h, n, &table[b], node) {
			struct nflab_conn *ct = nflab_ct_of(h);

			if (h->dir != NFLAB_DIR_ORIG ||
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

static const unsigned int default_timeouts[NFLAB_CT_TIMEOUT_A_MAX + 1] = {
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
	/* 0 would switch off the dump consistency check (cb->prev_seq). */
	atomic_set(&nn->ct_generation, 1);
	spin_lock_init(&nn->ct_lock);
	INIT_LIST_HEAD(&nn->ct_all);
	INIT_LIST_HEAD(&nn->ct_unassured);
	nn->ct_limit = READ_ONCE(ct_max);
	nn->ct_tcp_loose = true;
	for (i = 1; i <= NFLAB_CT_TIMEOUT_A_MAX; i++)
		nn->ct_timeouts[i] = default_timeouts[i] * HZ;
	return 0;
}

/*
 * The namespace's hooks are gone and an RCU grace period has passed: no
 * packet adds entries any more, and no netlink request can reach a dying
 * namespace. Remove the rest from the namespace's own list (not by walking
 * the whole table) while the GC, which could otherwise be killing one of
 * them concurrently and touch nn, is held off. Every pass removes one
 * entry, since nobody else can be killing it now.
 */
void nflab_ct_net_exit(struct net *net, struct nflab_net *nn)
{
	struct nflab_conn *ct;

	mutex_lock(&gc_mutex);
	for (;;) {
		spin_lock_bh(&nn->ct_lock);
		ct = list_first_entry_or_null(&nn->ct_all, struct nflab_conn, all);
		if (ct)
			refcount_inc(&ct->use);
		spin_unlock_bh(&nn->ct_lock);
		if (!ct)
			break;
		if (WARN_ON_ONCE(!nflab_ct_kill(ct))) {
			nflab_ct_put(ct);
			break;
		}
		nflab_ct_put(ct);
	}
	mutex_unlock(&gc_mutex);
	WARN_ON_ONCE(atomic_read(&nn->ct_count));
	free_percpu(nn->ct_stats);
}

int __init nflab_ct_init(void)
{
	unsigned int i;

	if (!hashsize) {
		/* One bucket per 16 KiB of RAM, as a starting point. */
		unsigned long pages = totalram_pages() >> (14 - PAGE_SHIFT);

		hashsize = clamp_t(unsigned long, roundup_pow_of_two(pages), 1024, 1 << 20);
	}
	hashsize = clamp_t(unsigned int, hashsize, 1024, 1 << 20);
	if (!ct_max)
		ct_max = hashsize;

	conn_cache = KMEM_CACHE(nflab_conn, 0);
	if (!conn_cache)
		return -ENOMEM;
	table = kvmalloc_array(hashsize, sizeof(*table), GFP_KERNEL);
	if (!table) {
		kmem_cache_destroy(conn_cache);
		return -ENOMEM;
	}
	for (i = 0; i < hashsize; i++)
		INIT_HLIST_NULLS_HEAD(&table[i], i);
	for (i = 0; i < LOCKS; i++)
		spin_lock_init(&locks[i]);
	get_random_bytes(&seed, sizeof(seed));

	INIT_DEFERRABLE_WORK(&gc_work, gc_worker);
	queue_delayed_work(system_power_efficient_wq, &gc_work, HZ);
	return 0;
}

/* After every namespace's exit: the table is empty, no hook runs. */
void nflab_ct_exit(void)
{
	cancel_delayed_work_sync(&gc_work);
	stash_drain();
	/* Entries freed by call_rcu() must be gone before their cache. */
	rcu_barrier();
	WARN(atomic_read(&live), "%d conntrack entries leaked\n", atomic_read(&live));
	kvfree(table);
	kmem_cache_destroy(conn_cache);
}
