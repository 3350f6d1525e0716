// SPDX-License-Identifier: GPL-2.0
/*
 * connlimit: how many tracked connections come from the packet's source
 * address (or its prefix). Like the kernel's nf_conncount, a rule keeps its
 * own record of the connections it has seen, keyed by masked source, and
 * checks each against the tracker when it counts, forgetting those that
 * are gone.
 *
 * This is the one match that takes a lock and allocates on the packet
 * path, as nf_conncount does: a spinlock per bucket of the rule's record,
 * and a GFP_ATOMIC node per new connection. Both are bounded: a count
 * stops once it is past the rule's limit, a walk looks at most
 * NFLAB_CL_WALK nodes, and a rule records at most NFLAB_CL_NODES
 * connections (beyond that, new connections are counted but not
 * recorded).
 */

#include <linux/jiffies.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "nflab.h"
#include "rules.h"

#define NFLAB_CL_BUCKETS	256
#define NFLAB_CL_NODES		65536
#define NFLAB_CL_WALK		4096
/* A new connection counts while it waits to be confirmed, this long. */
#define NFLAB_CL_INFLIGHT	(2 * HZ)

struct nflab_cl_node {
	struct hlist_node	node;
	__be32			key;
	struct nflab_tuple	t;
	unsigned long		added;
};

struct nflab_cl_bucket {
	spinlock_t		lock;		/* its list, and the nodes on it */
	struct hlist_head	head;
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
		INIT_HLIST_HEAD(&cl->b[i].head);
	}
	return cl;
}

void nflab_connlimit_free(struct nflab_connlimit *cl)
{
	struct nflab_cl_node *n;
	struct hlist_node *tmp;
	unsigned int i;

	if (!cl)
		return;
	for (i = 0; i < NFLAB_CL_BUCKETS; i++)
		hlist_for_each_entry_safe(n, tmp, &cl->b[i].head, node)
			kfree(n);
	kvfree(cl);
}

/* Is the recorded connection still in the table (or about to be)? */
static bool nflab_cl_alive(struct net *net, const struct nflab_cl_node *n)
{
	struct nflab_conn *ct;

	ct = nflab_ct_find(net, &n->t);
	if (ct) {
		nflab_ct_put(ct);
		return true;
	}
	return time_before(jiffies, n->added + NFLAB_CL_INFLIGHT);
}

/*
 * The number of connections from the packet's source under mask, the
 * packet's own included (recorded if it starts one), counting no further
 * than limit + 1.
 */
unsigned int nflab_connlimit_count(struct nflab_connlimit *cl, struct net *net,
				   struct sk_buff *skb, __be32 saddr,
				   __be32 mask, unsigned int limit)
{
	__be32 key = saddr & mask;
	struct nflab_cl_bucket *b;
	struct nflab_cl_node *n;
	struct hlist_node *tmp;
	struct nflab_tuple t;
	unsigned int count = 0, walked = 0;
	bool own = false, is_new;

	is_new = nflab_ct_pkt_state(net, skb, NULL) == NFLAB_CT_STATE_NEW &&
		 nflab_ct_pkt_tuple(skb, &t);
	b = &cl->b[siphash_1u32((__force u32)key, &cl->seed) % NFLAB_CL_BUCKETS];

	spin_lock_bh(&b->lock);
	hlist_for_each_entry_safe(n, tmp, &b->head, node) {
		if (++walked > NFLAB_CL_WALK)
			break;
		if (!nflab_cl_alive(net, n)) {
			hlist_del(&n->node);
			atomic_dec(&cl->nodes);
			kfree(n);
			continue;
		}
		if (n->key != key)
			continue;
		if (is_new && nflab_tuple_equal(&n->t, &t))
			own = true;
		if (++count > limit && (own || !is_new))
			break;
	}
	if (is_new && !own) {
		count++;
		n = NULL;
		if (atomic_inc_return(&cl->nodes) <= NFLAB_CL_NODES)
			n = kmalloc(sizeof(*n), GFP_ATOMIC);
		if (n) {
			n->key = key;
			n->t = t;
			n->added = jiffies;
			hlist_add_head(&n->node, &b->head);
		} else {
			atomic_dec(&cl->nodes);
		}
	}
	spin_unlock_bh(&b->lock);
	return count;
}
