// SPDX-License-Identifier: GPL-2.0
/*
 * connlimit: how many tracked connections come from the packet's source
 * address (or its prefix). Like the kernel's nf_conncount, a rule keeps its
 * own record: per masked source, the original tuples of the connections it
 * has seen, each checked against the tracker when the rule counts, those
 * that are gone (expired, closing TCP) forgotten on the way.
 *
 * This is the one match that takes a lock and allocates on the packet
 * path, as nf_conncount does: a spinlock per bucket of the rule's record,
 * and a GFP_ATOMIC node per new connection. The work is bounded: a count
 * walks one source's record, forgetting the connections that are gone on
 * the way, and stops once it is past the rule's limit (below
 * NFLAB_CL_NODES); a rule records at most NFLAB_CL_NODES connections
 * (beyond that, new ones are counted, not recorded).
 */

#include <linux/jiffies.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "nflab.h"
#include "rules.h"

#define NFLAB_CL_BUCKETS	256
/*
 * A new connection counts while it waits to be confirmed: its first packet
 * is between this hook and the confirm hook, which takes microseconds; a
 * connection whose first packet was dropped stops counting after this.
 */
#define NFLAB_CL_INFLIGHT	(HZ / 10)

struct nflab_cl_conn {
	struct list_head	list;
	struct nflab_tuple	t;
	unsigned long		added;
};

struct nflab_cl_key {
	struct hlist_node	node;
	__be32			key;
	struct list_head	conns;
};

struct nflab_cl_bucket {
	spinlock_t		lock;		/* its keys and their connections */
	struct hlist_head	keys;
};

struct nflab_connlimit {
	siphash_key_t		seed;
	atomic_t		nodes;
	struct nflab_cl_bucket	b[NFLAB_CL_BUCKETS];
};

struct nflab_connlimit *nflab_connlimit_alloc(void)
{
	struct nflab_connlimit *cl;
	unsigned int i;

	cl = kvzalloc(sizeof(*cl), GFP_KERNEL_ACCOUNT);
	if (!cl)
		return NULL;
	get_random_bytes(&cl->seed, sizeof(cl->seed));
	for (i = 0; i < NFLAB_CL_BUCKETS; i++) {
		spin_lock_init(&cl->b[i].lock);
		INIT_HLIST_HEAD(&cl->b[i].keys);
	}
	return cl;
}

void nflab_connlimit_free(struct nflab_connlimit *cl)
{
	struct nflab_cl_conn *c, *cn;
	struct nflab_cl_key *k;
	struct hlist_node *tmp;
	unsigned int i;

	if (!cl)
		return;
	for (i = 0; i < NFLAB_CL_BUCKETS; i++) {
		hlist_for_each_entry_safe(k, tmp, &cl->b[i].keys, node) {
			list_for_each_entry_safe(c, cn, &k->conns, list)
				kfree(c);
			kfree(k);
		}
	}
	kvfree(cl);
}

static bool nflab_cl_alive(struct net *net, const struct nflab_cl_conn *c)
{
	return nflab_ct_alive(net, &c->t) ||
	       time_before(jiffies, c->added + NFLAB_CL_INFLIGHT);
}

/*
 * The number of connections from the packet's source under mask, the
 * packet's own included (recorded if it is not yet), counting no further
 * than limit + 1.
 */
unsigned int nflab_connlimit_count(struct nflab_connlimit *cl, struct net *net,
				   struct sk_buff *skb, __be32 saddr,
				   __be32 mask, unsigned int limit)
{
	__be32 key = saddr & mask;
	unsigned int count = 0;
	struct nflab_cl_conn *c, *cn;
	struct nflab_cl_bucket *b;
	struct nflab_cl_key *k;
	struct nflab_tuple t;
	bool own = false, have;

	have = nflab_ct_pkt_orig(net, skb, &t);
	b = &cl->b[siphash_1u32((__force u32)key, &cl->seed) % NFLAB_CL_BUCKETS];

	spin_lock_bh(&b->lock);
	/*
	 * The bucket's keys: at most NFLAB_CL_NODES in all, spread by a
	 * keyed hash that a sender cannot aim at one bucket.
	 */
	hlist_for_each_entry(k, &b->keys, node)
		if (k->key == key)
			break;
	if (k) {
		list_for_each_entry_safe(c, cn, &k->conns, list) {
			if (have && nflab_tuple_equal(&c->t, &t)) {
				own = true;
			} else if (!nflab_cl_alive(net, c)) {
				/* Gone: forgotten, and never counted. */
				list_del(&c->list);
				atomic_dec(&cl->nodes);
				kfree(c);
				continue;
			}
			/* The answer is known: more than limit. */
			if (++count > limit)
				goto out_unlock;
		}
	}
	if (!have || own)
		goto out_unlock;
	count++;
	if (atomic_inc_return(&cl->nodes) > NFLAB_CL_NODES)
		goto out_uncount;
	if (!k) {
		k = kmalloc(sizeof(*k), GFP_ATOMIC | __GFP_ACCOUNT);
		if (!k)
			goto out_uncount;
		k->key = key;
		INIT_LIST_HEAD(&k->conns);
		hlist_add_head(&k->node, &b->keys);
	}
	c = kmalloc(sizeof(*c), GFP_ATOMIC | __GFP_ACCOUNT);
	if (!c)
		goto out_uncount;
	c->t = t;
	c->added = jiffies;
	list_add_tail(&c->list, &k->conns);
	goto out_unlock;

out_uncount:
	atomic_dec(&cl->nodes);
out_unlock:
	if (k && list_empty(&k->conns)) {
		hlist_del(&k->node);
		kfree(k);
	}
	spin_unlock_bh(&b->lock);
	return count;
}
