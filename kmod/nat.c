// SPDX-License-Identifier: GPL-2.0
/*
 * nflab's NAT: SNAT, DNAT, MASQUERADE and REDIRECT on nflab's own tracker,
 * without nf_nat.
 *
 * As in the kernel, a connection's translation is its reply tuple. The
 * first packet of a connection meets the nat table's chains at the hooks
 * it crosses while its entry is in flight (found by the cookie in skb->cb,
 * see conntrack.c): destinations at PRE_ROUTING or LOCAL_OUT
 * (NF_IP_PRI_NAT_DST), sources at POST_ROUTING or LOCAL_IN
 * (NF_IP_PRI_NAT_SRC). Each kind is decided once, under ct->lock, and
 * rewrites the reply tuple; the entry then joins the table at the confirm
 * hook with that tuple, so every later packet of either direction finds it
 * by its own tuple. Packets of a NATed connection carry a reference word
 * from the tracking hook, by which these hooks find the entry again after
 * the addresses changed (nflab_ct_pkt_nat()), and rewrite the packet to
 * the inverse of the other direction's tuple. The word says which hooks
 * have work for the packet's direction; the others return at once. A
 * translated connection's packet whose entry cannot be found fails closed
 * (NFLAB_CT_STATS_A_NAT_LOST; nflab_ct_pkt_nat() says when).
 *
 * Why no two connections get one reply tuple: the search below only skips
 * tuples already in the table, so two first packets on two CPUs may pick
 * the same one; the confirm hook inserts under the bucket locks and drops
 * the second (NFLAB_CT_STATS_A_NAT_CLASH), as the kernel's confirm does. A
 * connection no NAT rule translated keeps its tuple; if that reply tuple is
 * taken by a translated one, its source port moves (the kernel's null
 * binding), so later translations and untranslated flows never meet.
 *
 * The nat table's hooks stay registered from its first chain with work
 * until the namespace goes (rules.c), so translated connections keep
 * their translation with or without rules.
 */

#include <linux/icmp.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/netfilter_ipv4.h>
#include <linux/random.h>
#include <linux/siphash.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ip.h>
#include <net/route.h>
#include <net/tcp.h>

#include "nflab.h"
#include "conntrack.h"
#include "rules.h"
#include "trace.h"

/*
 * Ports tried for one connection. The search runs in softirq on a first
 * packet: each try is one hash lookup, so it is bounded like the kernel's
 * (128 attempts), and a range that full drops the packet instead.
 */
#define NFLAB_NAT_TRIES		128

enum nflab_manip {
	NFLAB_MANIP_SRC,
	NFLAB_MANIP_DST,
};

static siphash_key_t nflab_nat_seed __read_mostly;

/*
 * Is t (a candidate reply tuple) another connection's, or, for a source,
 * its external side another internal endpoint's full cone mapping? o is
 * the connection's original tuple.
 */
static bool nflab_nat_taken(struct net *net, const struct nflab_tuple *t,
			    const struct nflab_tuple *o, enum nflab_manip mt)
{
	struct nflab_conn *other = nflab_ct_find(net, t);
	bool same;

	if (other) {
		/*
		 * The same flow, confirmed by another CPU's first packet:
		 * not another connection, as nf_conntrack_tuple_taken() sees
		 * it; the confirm hook merges the two.
		 */
		same = nflab_tuple_equal(&other->th[NFLAB_DIR_ORIG].tuple, o);
		nflab_ct_put(other);
		if (!same)
			return true;
	}
	return mt == NFLAB_MANIP_SRC && t->proto == IPPROTO_UDP &&
	       nflab_fc_taken(net, t->dst, t->u.p.dport, o->src, o->u.p.sport);
}

/* The port a manip of this kind changes in the reply tuple r. */
static __be16 *nflab_nat_port(struct nflab_tuple *r, enum nflab_manip mt)
{
	if (r->proto == IPPROTO_ICMP)
		/* An echo's id; only a source manip moves it, as nf_nat. */
		return mt == NFLAB_MANIP_SRC ? &r->u.icmp.id : NULL;
	if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
		return NULL;
	/* The reply's destination is the original source, and back. */
	return mt == NFLAB_MANIP_SRC ? &r->u.p.dport : &r->u.p.sport;
}

/*
 * Choose a free reply tuple r for this manip: keep the port if allowed and
 * free, else search the range. Returns false when none is free; r then
 * holds the first port tried (a destination keeps one in its range).
 */
static bool nflab_nat_unique(struct net *net, struct nflab_tuple *r,
			     const struct nflab_tuple *o, enum nflab_manip mt,
			     u16 lo, u16 hi, u32 flags)
{
	__be16 *port = nflab_nat_port(r, mt);
	u16 orig, n, i;
	u32 off;

	if (!port)
		return !nflab_nat_taken(net, r, o, mt);
	orig = ntohs(*port);
	if (!lo) {
		if (mt == NFLAB_MANIP_DST)
			/* A destination keeps its port without a range. */
			return !nflab_nat_taken(net, r, o, mt);
		/* The kernel's classes: a privileged port stays privileged. */
		if (r->proto == IPPROTO_ICMP) {
			lo = 0;
			hi = 65535;
		} else if (orig < 512) {
			lo = 1;
			hi = 511;
		} else if (orig < 1024) {
			lo = 600;
			hi = 1023;
		} else {
			lo = 1024;
			hi = 65535;
		}
	}
	if (!(flags & NFLAB_NAT_F_FULLY_RANDOM) && orig >= lo && orig <= hi &&
	    !nflab_nat_taken(net, r, o, mt))
		return true;
	n = hi - lo;		/* the range holds n + 1 ports */
	/*
	 * A source searches from a random offset, as the kernel's since 6.0:
	 * a hashed one lets an observer predict the ports. A destination's
	 * is hashed from the tuple unless a flag asks for chance.
	 */
	if ((flags & (NFLAB_NAT_F_RANDOM | NFLAB_NAT_F_FULLY_RANDOM)) ||
	    mt == NFLAB_MANIP_SRC)
		off = get_random_u32();
	else
		off = siphash_3u32((__force u32)r->src, (__force u32)r->dst,
				   r->u.all, &nflab_nat_seed);
	/* Bounded: NFLAB_NAT_TRIES lookups at most (see above). */
	for (i = 0; i < NFLAB_NAT_TRIES && i <= n; i++) {
		*port = htons(lo + (u16)((off + i) % ((u32)n + 1)));
		if (!nflab_nat_taken(net, r, o, mt))
			return true;
	}
	*port = htons(lo + (u16)(off % ((u32)n + 1)));
	return false;
}

/* The address a rule's range gives this connection. */
static __be32 nflab_nat_pick_addr(const struct nflab_nat_range *nr,
				  const struct nflab_tuple *orig)
{
	u64 n = (u64)ntohl(nr->addr_max) - ntohl(nr->addr_min) + 1;
	u32 h;

	if (n == 1)
		return nr->addr_min;
	/* The same source (and destination, unless persistent), the same address. */
	h = siphash_2u32((__force u32)orig->src,
			 nr->flags & NFLAB_NAT_F_PERSISTENT ? 0 :
			 (__force u32)orig->dst, &nflab_nat_seed);
	return htonl(ntohl(nr->addr_min) + (u32)(((u64)h * n) >> 32));
}

/* MASQUERADE's address: the one the outgoing device would choose, as nf_nat. */
static __be32 nflab_nat_masq_addr(const struct sk_buff *skb,
				  const struct nf_hook_state *st)
{
	const struct rtable *rt = skb_rtable(skb);

	if (!rt || !st->out)
		return 0;
	return inet_select_addr(st->out, rt_nexthop(rt, ip_hdr(skb)->daddr),
				RT_SCOPE_UNIVERSE);
}

/* REDIRECT's address: the incoming device's first one, or loopback. */
static __be32 nflab_nat_redirect_addr(const struct sk_buff *skb,
				      const struct nf_hook_state *st)
{
	const struct in_ifaddr *ifa;
	const struct in_device *indev;

	if (st->hook == NF_INET_LOCAL_OUT)
		return htonl(INADDR_LOOPBACK);
	indev = __in_dev_get_rcu(skb->dev);
	if (!indev)
		return 0;
	ifa = rcu_dereference(indev->ifa_list);
	return ifa ? ifa->ifa_local : 0;
}

/* SRC_NAT and DST_NAT say which side of the reply tuple moved. */
static void nflab_ct_status_nat(struct nflab_conn *ct)
{
	const struct nflab_tuple *o = &ct->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_tuple *r = &ct->th[NFLAB_DIR_REPLY].tuple;
	bool l4 = o->proto == IPPROTO_TCP || o->proto == IPPROTO_UDP;

	if (r->dst != o->src || (l4 && r->u.p.dport != o->u.p.sport) ||
	    (o->proto == IPPROTO_ICMP && r->u.icmp.id != o->u.icmp.id))
		set_bit(NFLAB_CT_STATUS_SRC_NAT_BIT, &ct->status);
	if (r->src != o->dst || (l4 && r->u.p.sport != o->u.p.dport))
		set_bit(NFLAB_CT_STATUS_DST_NAT_BIT, &ct->status);
}

/* NAT itself drops the packet (a rule's drop is counted by rules.c). */
static unsigned int nflab_nat_drop(struct sk_buff *skb,
				   const struct nf_hook_state *st)
{
	nflab_hook_count_drop(st->net, st->hook, NFLAB_DROP_NAT);
	if (nflab_tracing())
		nflab_trace_drop(skb, st, NFLAB_TRACE_BY_NAT);
	return NF_DROP;
}

/*
 * Decide the connection's translation of this kind, once: evaluate the
 * chain, then fix the reply tuple. Called for a first packet, its entry in
 * flight; clones racing on another CPU wait on ct->lock and find it done.
 */

static unsigned int nflab_nat_decide(struct nflab_conn *ct, struct sk_buff *skb,
				     const struct nf_hook_state *st,
				     enum nflab_manip mt)
{
	int done_bit = mt == NFLAB_MANIP_SRC ? NFLAB_CT_STATUS_SRC_NAT_DONE_BIT :
					       NFLAB_CT_STATUS_DST_NAT_DONE_BIT;
	struct nflab_net *nn = nflab_pernet(st->net);
	const struct nflab_nat_range *nr = NULL;
	const struct nflab_tuple *o = &ct->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_rule_c *rc;
	bool ok, fc = false;
	struct nflab_tuple r;
	unsigned int v;
	__be32 addr;

	/*
	 * Under ct->lock, so that what another CPU decided (a clone of this
	 * packet) is seen whole, and nothing changes once the confirm hook
	 * froze the tuples for the table.
	 */
	spin_lock_bh(&ct->lock);
	ok = test_bit(done_bit, &ct->status) ||
	     test_bit(NFLAB_CT_STATUS_FROZEN_BIT, &ct->status);
	spin_unlock_bh(&ct->lock);
	if (ok)
		return NF_ACCEPT;
	v = nflab_rules_nat(skb, st, &rc);
	if (v != NF_ACCEPT)
		return v;

	spin_lock_bh(&ct->lock);
	if (test_bit(done_bit, &ct->status) ||
	    test_bit(NFLAB_CT_STATUS_FROZEN_BIT, &ct->status)) {
		spin_unlock_bh(&ct->lock);
		return NF_ACCEPT;
	}
	r = ct->th[NFLAB_DIR_REPLY].tuple;
	addr = mt == NFLAB_MANIP_SRC ? r.dst : r.src;
	if (rc) {
		nr = &rc->nat;
		switch (rc->action) {
		case NFLAB_ACTION_MASQUERADE:
			/* A source of 0.0.0.0 (DHCP) stays, as nf_nat's. */
			if (!o->src) {
				spin_unlock_bh(&ct->lock);
				return NF_ACCEPT;
			}
			addr = nflab_nat_masq_addr(skb, st);
			break;
		case NFLAB_ACTION_REDIRECT:
			addr = nflab_nat_redirect_addr(skb, st);
			break;
		default:
			if (nr->have_addr)
				addr = nflab_nat_pick_addr(nr, &ct->th[NFLAB_DIR_ORIG].tuple);
		}
		if (!addr) {
			/* No address on the device: nothing to translate to. */
			spin_unlock_bh(&ct->lock);
			return nflab_nat_drop(skb, st);
		}
		if (mt == NFLAB_MANIP_SRC)
			r.dst = addr;
		else
			r.src = addr;
		fc = (nr->flags & NFLAB_NAT_F_FULLCONE) && r.proto == IPPROTO_UDP;
	} else if (st->hook == NF_INET_PRE_ROUTING && r.proto == IPPROTO_UDP &&
		   atomic_read(&nn->fc_count) &&
		   nflab_fc_internal(st->net, o->dst, o->u.p.dport, &r.src,
				     &r.u.p.sport)) {
		/* Full cone's filtering: anyone may reach a mapped endpoint. */
		set_bit(NFLAB_CT_STATUS_FULLCONE_BIT, &ct->status);
		goto out_done;
	}
	/* Full cone's mapping: the endpoint's external side, if it has one. */
	if (fc) {
		struct nflab_tuple m = r;

		if (nflab_fc_external(st->net, o->src, o->u.p.sport, &m.dst,
				      &m.u.p.dport) && m.dst == addr &&
		    !nflab_nat_taken(st->net, &m, o, mt)) {
			r = m;
			goto out_bind;
		}
	}
	/*
	 * Without a rule, a source keeps its tuple unless it is taken. A
	 * destination that found no free tuple keeps what it chose, as the
	 * kernel's: the source decision after routing moves the source port
	 * (or fails, counted there).
	 */
	ok = nflab_nat_unique(st->net, &r, o, mt, nr ? nr->port_min : 0,
			      nr ? nr->port_max : 0, nr ? nr->flags : 0) ||
	     mt == NFLAB_MANIP_DST;
	if (!ok) {
		spin_unlock_bh(&ct->lock);
		NFLAB_CT_STAT_INC(nn, NAT_EXHAUSTED);
		return nflab_nat_drop(skb, st);
	}
out_bind:
	if (fc && nflab_fc_bind(st->net, o->src, o->u.p.sport, r.dst,
				r.u.p.dport))
		set_bit(NFLAB_CT_STATUS_FULLCONE_BIT, &ct->status);
out_done:
	ct->th[NFLAB_DIR_REPLY].tuple = r;
	ct->th[NFLAB_DIR_REPLY].tuple.dir = NFLAB_DIR_REPLY;
	nflab_ct_status_nat(ct);
	if (rc && rc->action == NFLAB_ACTION_MASQUERADE) {
		set_bit(NFLAB_CT_STATUS_MASQ_BIT, &ct->status);
		if (!READ_ONCE(nn->masq_used))
			WRITE_ONCE(nn->masq_used, true);
	}
	set_bit(done_bit, &ct->status);
	spin_unlock_bh(&ct->lock);
	return NF_ACCEPT;
}

/*
 * Rewrite one side of the packet: the source (mt SRC) or destination to
 * addr and port (for ICMP, port is the echo id), with incremental checksum
 * updates of the IP header and of the L4 checksum, pseudo-header included.
 * inet_proto_csum_replace*() keep a CHECKSUM_PARTIAL packet's seed right.
 */
static bool nflab_nat_rewrite(struct sk_buff *skb, enum nflab_manip mt,
			      __be32 addr, __be16 port)
{
	unsigned int thoff = skb_network_offset(skb) + ip_hdrlen(skb);
	struct iphdr *iph = ip_hdr(skb);
	struct tcphdr *th;
	__be32 *paddr;
	__be16 *pport = NULL;
	__sum16 *check = NULL;
	bool pseudo = true;

	switch (iph->protocol) {
	case IPPROTO_TCP:
		if (skb_ensure_writable(skb, thoff + sizeof(struct tcphdr)))
			return false;
		th = (struct tcphdr *)(skb->data + thoff);
		pport = mt == NFLAB_MANIP_SRC ? &th->source : &th->dest;
		check = &th->check;
		break;
	case IPPROTO_UDP: {
		struct udphdr *uh;

		if (skb_ensure_writable(skb, thoff + sizeof(*uh)))
			return false;
		uh = (struct udphdr *)(skb->data + thoff);
		pport = mt == NFLAB_MANIP_SRC ? &uh->source : &uh->dest;
		/* A zero checksum is none, unless the device will fill it. */
		if (uh->check || skb->ip_summed == CHECKSUM_PARTIAL)
			check = &uh->check;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ih;

		if (skb_ensure_writable(skb, thoff + sizeof(*ih)))
			return false;
		ih = (struct icmphdr *)(skb->data + thoff);
		/* One id for both directions: either manip may restore it. */
		pport = &ih->un.echo.id;
		check = &ih->checksum;
		pseudo = false;	/* ICMP's sum covers no addresses */
		break;
	}
	default:
		if (skb_ensure_writable(skb, thoff))
			return false;
	}
	iph = ip_hdr(skb);
	paddr = mt == NFLAB_MANIP_SRC ? &iph->saddr : &iph->daddr;
	if (check && pseudo)
		inet_proto_csum_replace4(check, skb, *paddr, addr, true);
	if (check && pport)
		inet_proto_csum_replace2(check, skb, *pport, port, false);
	if (check && iph->protocol == IPPROTO_UDP && !*check)
		*check = CSUM_MANGLED_0;
	if (pport)
		*pport = port;
	csum_replace4(&iph->check, *paddr, addr);
	*paddr = addr;
	return true;
}

/*
 * Translate the packet: it leaves as the inverse of the other direction's
 * tuple says, on the side this hook manipulates.
 */
static bool nflab_nat_apply(struct sk_buff *skb, const struct nflab_conn *ct,
			    u8 dir, enum nflab_manip mt, bool *changed)
{
	const struct nflab_tuple *o = &ct->th[!dir].tuple;
	const struct iphdr *iph = ip_hdr(skb);
	__be32 addr, cur;
	__be16 port = 0, curport = 0;
	struct nflab_tuple t;

	if (!nflab_ct_pkt_tuple(skb, &t))
		return true;	/* nothing of ours to change */
	if (mt == NFLAB_MANIP_SRC) {
		addr = o->dst;
		cur = iph->saddr;
		if (o->proto == IPPROTO_ICMP) {
			port = o->u.icmp.id;
			curport = t.u.icmp.id;
		} else if (o->proto == IPPROTO_TCP || o->proto == IPPROTO_UDP) {
			port = o->u.p.dport;
			curport = t.u.p.sport;
		}
	} else {
		addr = o->src;
		cur = iph->daddr;
		if (o->proto == IPPROTO_ICMP) {
			port = o->u.icmp.id;
			curport = t.u.icmp.id;
		} else if (o->proto == IPPROTO_TCP || o->proto == IPPROTO_UDP) {
			port = o->u.p.sport;
			curport = t.u.p.dport;
		}
	}
	if (addr == cur && port == curport)
		return true;
	*changed = true;
	return nflab_nat_rewrite(skb, mt, addr, port);
}

/*
 * An ICMP error about a translated connection, travelling in direction dir:
 * as nf_nat_icmp_reply_translation(), the quoted packet (of the other
 * direction) gets the opposite manip, back to how its sender sent it, and
 * the outer header this hook's manip, so the error reaches that sender
 * about its own packet. The ICMP checksum is computed again whole.
 */
static bool nflab_nat_icmp(struct sk_buff *skb, const struct nflab_conn *ct,
			   u8 dir, enum nflab_manip mt)
{
	const struct nflab_tuple *o = &ct->th[!dir].tuple;
	unsigned long need = mt == NFLAB_MANIP_SRC ? NFLAB_CT_STATUS_SRC_NAT :
						     NFLAB_CT_STATUS_DST_NAT;
	unsigned int ioff = skb_network_offset(skb) + ip_hdrlen(skb);
	unsigned int qoff = ioff + sizeof(struct icmphdr), loff, avail, need_len;
	struct iphdr *iph, *qiph;
	struct icmphdr *ih;
	__be32 *qaddr, naddr;
	__be16 *qport = NULL, nport = 0;
	__sum16 *qcheck = NULL;

	if (skb_ensure_writable(skb, qoff + sizeof(struct iphdr)))
		return false;
	/*
	 * A redirect about a translated connection would steer it past the
	 * translation: dropped, as nf_nat_icmp_reply_translation() does.
	 */
	ih = (struct icmphdr *)(skb->data + ioff);
	if (ih->type == ICMP_REDIRECT)
		return false;
	/* A reply-direction error undoes the other side's translation. */
	if (dir == NFLAB_DIR_REPLY)
		need ^= NFLAB_CT_STATUS_NAT;
	if (!(READ_ONCE(ct->status) & need))
		return true;
	qiph = (struct iphdr *)(skb->data + qoff);
	loff = qoff + qiph->ihl * 4;
	/*
	 * The quote's ports or id (8 bytes) and, if quoted whole, a TCP
	 * header's checksum, as much as the quote holds.
	 */
	avail = skb->len > loff ? skb->len - loff : 0;
	need_len = loff + min_t(unsigned int, avail, sizeof(struct tcphdr));
	if (skb_ensure_writable(skb, need_len))
		return false;
	qiph = (struct iphdr *)(skb->data + qoff);

	/* The quoted packet: the opposite manip, to its own original tuple. */
	if (mt == NFLAB_MANIP_DST) {
		qaddr = &qiph->saddr;
		naddr = o->src;
	} else {
		qaddr = &qiph->daddr;
		naddr = o->dst;
	}
	if (qiph->protocol == IPPROTO_TCP || qiph->protocol == IPPROTO_UDP) {
		if (avail >= 4) {
			qport = (__be16 *)(skb->data + loff) + (mt == NFLAB_MANIP_DST ? 0 : 1);
			nport = mt == NFLAB_MANIP_DST ? o->u.p.sport : o->u.p.dport;
		}
		if (qiph->protocol == IPPROTO_UDP && avail >= 8)
			qcheck = &((struct udphdr *)(skb->data + loff))->check;
		else if (qiph->protocol == IPPROTO_TCP && avail >= sizeof(struct tcphdr))
			qcheck = &((struct tcphdr *)(skb->data + loff))->check;
		if (qcheck && !*qcheck && qiph->protocol == IPPROTO_UDP)
			qcheck = NULL;	/* no sum to keep */
	} else if (qiph->protocol == IPPROTO_ICMP && avail >= 8) {
		struct icmphdr *qih = (struct icmphdr *)(skb->data + loff);

		qport = &qih->un.echo.id;
		nport = o->u.icmp.id;
		qcheck = &qih->checksum;
	}
	if (qcheck && qiph->protocol != IPPROTO_ICMP)
		csum_replace4(qcheck, *qaddr, naddr);
	if (qport) {
		if (qcheck)
			csum_replace2(qcheck, *qport, nport);
		*qport = nport;
	}
	if (qcheck && qiph->protocol == IPPROTO_UDP && !*qcheck)
		*qcheck = CSUM_MANGLED_0;
	csum_replace4(&qiph->check, *qaddr, naddr);
	*qaddr = naddr;

	/* A sum left to the device (CHECKSUM_PARTIAL) is the device's. */
	if (skb->ip_summed != CHECKSUM_PARTIAL) {
		ih = (struct icmphdr *)(skb->data + ioff);
		ih->checksum = 0;
		ih->checksum = csum_fold(skb_checksum(skb, ioff, skb->len - ioff, 0));
		if (skb->ip_summed == CHECKSUM_COMPLETE)
			skb->ip_summed = CHECKSUM_NONE;
	}

	/* The outer header: this hook's manip, as for the connection's packets. */
	iph = ip_hdr(skb);
	if (mt == NFLAB_MANIP_DST) {
		csum_replace4(&iph->check, iph->daddr, o->src);
		iph->daddr = o->src;
	} else {
		csum_replace4(&iph->check, iph->saddr, o->dst);
		iph->saddr = o->dst;
	}
	return true;
}

/*
 * Does the packet still look like one of the connection's, before or
 * after translation? A reference word is trusted only with this.
 */
static bool nflab_nat_pkt_ok(const struct sk_buff *skb,
			     const struct nflab_conn *ct, u8 dir)
{
	const struct nflab_tuple *a = &ct->th[dir].tuple, *b = &ct->th[!dir].tuple;
	const struct iphdr *iph = ip_hdr(skb);

	return iph->protocol == a->proto &&
	       (iph->saddr == a->src || iph->saddr == b->dst) &&
	       (iph->daddr == a->dst || iph->daddr == b->src);
}

/* Refresh the full cone mapping a connection goes through. */
static void nflab_nat_fc_touch(struct net *net, const struct nflab_conn *ct)
{
	const struct nflab_tuple *o = &ct->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_tuple *r = &ct->th[NFLAB_DIR_REPLY].tuple;
	__be32 addr;
	__be16 port;

	/* Outbound, the reply's destination; inbound, the original's. */
	if (test_bit(NFLAB_CT_STATUS_SRC_NAT_BIT, &ct->status))
		nflab_fc_internal(net, r->dst, r->u.p.dport, &addr, &port);
	else
		nflab_fc_internal(net, o->dst, o->u.p.dport, &addr, &port);
}

unsigned int nflab_nat_hook(void *priv, struct sk_buff *skb,
			    const struct nf_hook_state *st)
{
	enum nflab_manip mt = st->hook == NF_INET_PRE_ROUTING ||
			      st->hook == NF_INET_LOCAL_OUT ?
			      NFLAB_MANIP_DST : NFLAB_MANIP_SRC;
	unsigned int v = NF_ACCEPT;
	enum nflab_pkt_nat kind;
	struct nflab_conn *ct;
	bool changed = false;
	__be32 daddr;
	u8 dir;
	int err;

	/* nf_dup's copies are not the flow's (as untracked in the kernel). */
	if (unlikely(this_cpu_read(nf_skb_duplicated)))
		return NF_ACCEPT;
	daddr = ip_hdr(skb)->daddr;
	kind = nflab_ct_pkt_nat(st->net, skb, mt == NFLAB_MANIP_SRC, &ct, &dir);
	switch (kind) {
	case NFLAB_PKT_NONE:
		return NF_ACCEPT;
	case NFLAB_PKT_LOST:
		NFLAB_CT_STAT_INC(nflab_pernet(st->net), NAT_LOST);
		return nflab_nat_drop(skb, st);
	case NFLAB_PKT_RELATED:
		if (!nflab_nat_icmp(skb, ct, dir, mt))
			v = nflab_nat_drop(skb, st);
		goto reroute;
	case NFLAB_PKT_IN_FLIGHT:
		v = nflab_nat_decide(ct, skb, st, mt);
		if (v != NF_ACCEPT)
			goto out;
		break;
	case NFLAB_PKT_CONN:
		/*
		 * A reference word carries 32 cookie bits: the packet must
		 * also fit. If not, the word was noise, or something else
		 * (the kernel's NAT, IPVS) rewrote the packet: its own tuple
		 * decides, and with none it goes on as it is.
		 */
		if (nflab_nat_pkt_ok(skb, ct, dir))
			break;
		ct = nflab_ct_nat_fallback(st->net, skb, mt == NFLAB_MANIP_SRC,
					   true, nflab_ct_cb_word(skb), &dir);
		if (!ct)
			return NF_ACCEPT;
		kind = NFLAB_PKT_HELD;
		break;
	case NFLAB_PKT_HELD:
		break;
	}
	/* A full cone mapping lives while its connections' packets pass. */
	if (mt == NFLAB_MANIP_DST &&
	    test_bit(NFLAB_CT_STATUS_FULLCONE_BIT, &ct->status))
		nflab_nat_fc_touch(st->net, ct);
	if (!nflab_nat_apply(skb, ct, dir, mt, &changed)) {
		v = nflab_nat_drop(skb, st);
		goto out;
	}
	/*
	 * Early demux looked the socket up before LOCAL_IN, by the source
	 * this hook just changed: that socket is another connection's (as
	 * nf_nat_ipv4_local_in(); a port counts here as much as an address).
	 */
	if (changed && st->hook == NF_INET_LOCAL_IN && skb->sk &&
	    !inet_sk_transparent(skb->sk))
		skb_orphan(skb);
reroute:
	if (v == NF_ACCEPT && daddr != ip_hdr(skb)->daddr) {
		/* A new destination needs a new route, as nf_nat's. */
		if (st->hook == NF_INET_PRE_ROUTING) {
			skb_dst_drop(skb);
		} else if (st->hook == NF_INET_LOCAL_OUT) {
			err = ip_route_me_harder(st->net, st->sk, skb, RTN_UNSPEC);
			if (err < 0) {
				nflab_hook_count_drop(st->net, st->hook,
						      NFLAB_DROP_NAT);
				if (nflab_tracing())
					nflab_trace_drop(skb, st,
							 NFLAB_TRACE_BY_ROUTE);
				v = NF_DROP_ERR(err);
			}
		}
	}
out:
	if (kind == NFLAB_PKT_IN_FLIGHT || kind == NFLAB_PKT_HELD)
		nflab_ct_put(ct);
	return v;
}

/*
 * MASQUERADE's connections go when their address does: the address is
 * removed, or the device that holds it goes down (as nf_nat_masquerade;
 * the kernel keys the device by index, nflab by its addresses). Both
 * notifier chains run in process context.
 */
static bool nflab_nat_masq_gone(const struct nflab_conn *ct, const void *arg)
{
	return test_bit(NFLAB_CT_STATUS_MASQ_BIT, &ct->status) &&
	       ct->th[NFLAB_DIR_REPLY].tuple.dst == *(const __be32 *)arg;
}

static void nflab_nat_addr_gone(struct net *net, const __be32 *addr)
{
	/* A walk of the table only where MASQUERADE ever translated. */
	if (READ_ONCE(nflab_pernet(net)->masq_used))
		nflab_ct_kill_matching(net, nflab_nat_masq_gone, addr);
	nflab_fc_forget(net, addr);
}

static int nflab_nat_dev_event(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	const struct in_ifaddr *ifa;
	struct in_device *indev;

	if (event != NETDEV_DOWN)
		return NOTIFY_DONE;
	indev = __in_dev_get_rtnl(dev);
	/* A device being destroyed: its namespace's exit cleans up. */
	if (!indev || indev->dead)
		return NOTIFY_DONE;
	in_dev_for_each_ifa_rtnl(ifa, indev)
		nflab_nat_addr_gone(dev_net(dev), &ifa->ifa_local);
	return NOTIFY_DONE;
}

static int nflab_nat_addr_event(struct notifier_block *nb, unsigned long event,
				void *ptr)
{
	const struct in_ifaddr *ifa = ptr;

	if (event == NETDEV_DOWN)
		nflab_nat_addr_gone(dev_net(ifa->ifa_dev->dev), &ifa->ifa_local);
	return NOTIFY_DONE;
}

static struct notifier_block nflab_nat_dev_nb = {
	.notifier_call	= nflab_nat_dev_event,
};

static struct notifier_block nflab_nat_addr_nb = {
	.notifier_call	= nflab_nat_addr_event,
};

void __init nflab_nat_init(void)
{
	get_random_bytes(&nflab_nat_seed, sizeof(nflab_nat_seed));
}

/* After the table and the family: the notifiers kill entries and tell. */
int __init nflab_nat_notifiers_init(void)
{
	int ret;

	ret = register_netdevice_notifier(&nflab_nat_dev_nb);
	if (ret)
		return ret;
	ret = register_inetaddr_notifier(&nflab_nat_addr_nb);
	if (ret)
		unregister_netdevice_notifier(&nflab_nat_dev_nb);
	return ret;
}

void nflab_nat_notifiers_exit(void)
{
	unregister_inetaddr_notifier(&nflab_nat_addr_nb);
	unregister_netdevice_notifier(&nflab_nat_dev_nb);
}
