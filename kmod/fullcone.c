// SPDX-License-Identifier: GPL-2.0
/*
 * Full cone NAT (RFC 4787: endpoint-independent mapping and filtering) for
 * UDP, which the kernel's NAT does not have.
 *
 * A mapping ties an internal address:port to an external one, in one
 * namespace. SNAT and MASQUERADE with NFLAB_NAT_F_FULLCONE create it for a
 * connection's first packet, or reuse the one the internal side already
 * has, whatever the destination; a first packet from anywhere to the
 * external side, which no DNAT rule took, is translated to the internal
 * side (nat.c). Connections through a mapping refresh it; it lives until
 * the UDP assured timeout after its last use, then the next writer that
 * meets it in its bucket, or namespace exit, frees it.
 *
 * Two global hashes (by internal and by external side, the namespace in
 * the key), RCU readers, one spinlock for writers: mappings are made per
 * new internal endpoint, not per packet. A namespace holds at most as many
 * mappings as its conntrack limit.
 */

#include <linux/jhash.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <net/netns/hash.h>

#include "nflab.h"
#include "conntrack.h"
#include "rules.h"

#define NFLAB_FC_BUCKETS	1024

struct nflab_fc {
	struct hlist_node	by_int;
	struct hlist_node	by_ext;
	struct rcu_head		rcu;
	possible_net_t		net;
	__be32			int_addr;
	__be32			ext_addr;
	__be16			int_port;
	__be16			ext_port;
	unsigned long		last;	/* jiffies; READ_ONCE/WRITE_ONCE */
};

static struct hlist_head nflab_fc_int[NFLAB_FC_BUCKETS];
static struct hlist_head nflab_fc_ext[NFLAB_FC_BUCKETS];
static DEFINE_SPINLOCK(nflab_fc_lock);
static u32 nflab_fc_seed __read_mostly;

static unsigned int nflab_fc_bucket(const struct net *net, __be32 addr,
				    __be16 port)
{
	return jhash_3words((__force u32)addr, (__force u32)port,
			    net_hash_mix(net), nflab_fc_seed) % NFLAB_FC_BUCKETS;
}

static bool nflab_fc_alive(const struct net *net, const struct nflab_fc *m)
{
	const struct nflab_net *nn = nflab_pernet(net);
	unsigned int ttl = READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_UDP_ASSURED]);

	return time_before(jiffies, READ_ONCE(m->last) + ttl);
}

/*
 * The live mapping with this internal (or external) side, under RCU or
 * nflab_fc_lock.
 */
static struct nflab_fc *nflab_fc_find(const struct net *net, __be32 addr,
				      __be16 port, bool ext)
{
	unsigned int b = nflab_fc_bucket(net, addr, port);
	struct nflab_fc *m;

	/* A chain: bounded by the namespaces' limits. */
	if (ext) {
		hlist_for_each_entry_rcu(m, &nflab_fc_ext[b], by_ext,
					 lockdep_is_held(&nflab_fc_lock))
			if (m->ext_addr == addr && m->ext_port == port &&
			    net_eq(read_pnet(&m->net), net) && nflab_fc_alive(net, m))
				return m;
	} else {
		hlist_for_each_entry_rcu(m, &nflab_fc_int[b], by_int,
					 lockdep_is_held(&nflab_fc_lock))
			if (m->int_addr == addr && m->int_port == port &&
			    net_eq(read_pnet(&m->net), net) && nflab_fc_alive(net, m))
				return m;
	}
	return NULL;
}

/* The external side of the internal one's live mapping. */
bool nflab_fc_external(struct net *net, __be32 int_addr, __be16 int_port,
		       __be32 *ext_addr, __be16 *ext_port)
{
	const struct nflab_fc *m;
	bool found = false;

	rcu_read_lock();
	m = nflab_fc_find(net, int_addr, int_port, false);
	if (m) {
		*ext_addr = m->ext_addr;
		*ext_port = m->ext_port;
		found = true;
	}
	rcu_read_unlock();
	return found;
}

/* The internal side behind an external one, refreshing the mapping. */
bool nflab_fc_internal(struct net *net, __be32 ext_addr, __be16 ext_port,
		       __be32 *int_addr, __be16 *int_port)
{
	unsigned long now = jiffies;
	struct nflab_fc *m;
	bool found = false;

	rcu_read_lock();
	m = nflab_fc_find(net, ext_addr, ext_port, true);
	if (m) {
		*int_addr = m->int_addr;
		*int_port = m->int_port;
		/* Many packets share a jiffy: keep the cache line clean. */
		if (READ_ONCE(m->last) != now)
			WRITE_ONCE(m->last, now);
		found = true;
	}
	rcu_read_unlock();
	return found;
}

/* Does a live mapping give this external side to another internal one? */
bool nflab_fc_taken(struct net *net, __be32 ext_addr, __be16 ext_port,
		    __be32 int_addr, __be16 int_port)
{
	const struct nflab_fc *m;
	bool taken;

	if (!atomic_read(&nflab_pernet(net)->fc_count))
		return false;
	rcu_read_lock();
	m = nflab_fc_find(net, ext_addr, ext_port, true);
	taken = m && (m->int_addr != int_addr || m->int_port != int_port);
	rcu_read_unlock();
	return taken;
}

static void nflab_fc_unlink(struct nflab_fc *m)
{
	lockdep_assert_held(&nflab_fc_lock);
	hlist_del_rcu(&m->by_int);
	hlist_del_rcu(&m->by_ext);
	atomic_dec(&nflab_pernet(read_pnet(&m->net))->fc_count);
	kfree_rcu(m, rcu);
}

/* Unlink the dead mappings of one internal-side bucket: bounded by it. */
static void nflab_fc_reap(unsigned int b)
{
	struct hlist_node *tmp;
	struct nflab_fc *m;

	hlist_for_each_entry_safe(m, tmp, &nflab_fc_int[b], by_int)
		if (!nflab_fc_alive(read_pnet(&m->net), m))
			nflab_fc_unlink(m);
}

/*
 * Record the mapping of a connection's first packet (packet path). One
 * internal side has one mapping: a live one is refreshed, a dead one
 * replaced. Nothing is recorded (false) when another internal side took
 * the external one since the caller looked (checked again here, under the
 * lock), when the namespace has as many as its conntrack limit, or when
 * memory is short: the connection is translated anyway, only not
 * reachable from other hosts.
 */
bool nflab_fc_bind(struct net *net, __be32 int_addr, __be16 int_port,
		   __be32 ext_addr, __be16 ext_port)
{
	struct nflab_net *nn = nflab_pernet(net);
	unsigned int bi = nflab_fc_bucket(net, int_addr, int_port);
	struct nflab_fc *m;
	bool bound = false;

	spin_lock_bh(&nflab_fc_lock);
	nflab_fc_reap(bi);
	m = nflab_fc_find(net, ext_addr, ext_port, true);
	if (m && (m->int_addr != int_addr || m->int_port != int_port))
		goto out_unlock;
	m = nflab_fc_find(net, int_addr, int_port, false);
	if (m && m->ext_addr == ext_addr && m->ext_port == ext_port) {
		WRITE_ONCE(m->last, jiffies);
		bound = true;
		goto out_unlock;
	}
	if (m)
		nflab_fc_unlink(m);
	if (atomic_read(&nn->fc_count) >= READ_ONCE(nn->ct_limit))
		goto out_unlock;
	m = kzalloc(sizeof(*m), GFP_ATOMIC | __GFP_ACCOUNT);
	if (!m)
		goto out_unlock;
	write_pnet(&m->net, net);
	m->int_addr = int_addr;
	m->int_port = int_port;
	m->ext_addr = ext_addr;
	m->ext_port = ext_port;
	m->last = jiffies;
	atomic_inc(&nn->fc_count);
	hlist_add_head_rcu(&m->by_int, &nflab_fc_int[bi]);
	hlist_add_head_rcu(&m->by_ext,
			   &nflab_fc_ext[nflab_fc_bucket(net, ext_addr, ext_port)]);
	bound = true;
out_unlock:
	spin_unlock_bh(&nflab_fc_lock);
	return bound;
}

/*
 * Forget the namespace's mappings (all, or those with this external
 * address). Process context: walks every bucket.
 */
void nflab_fc_forget(struct net *net, const __be32 *ext_addr)
{
	struct hlist_node *tmp;
	struct nflab_fc *m;
	unsigned int b;

	if (!atomic_read(&nflab_pernet(net)->fc_count))
		return;
	for (b = 0; b < NFLAB_FC_BUCKETS; b++) {
		spin_lock_bh(&nflab_fc_lock);
		hlist_for_each_entry_safe(m, tmp, &nflab_fc_int[b], by_int)
			if (net_eq(read_pnet(&m->net), net) &&
			    (!ext_addr || m->ext_addr == *ext_addr))
				nflab_fc_unlink(m);
		spin_unlock_bh(&nflab_fc_lock);
	}
}

void __init nflab_fc_init(void)
{
	nflab_fc_seed = get_random_u32();
}
