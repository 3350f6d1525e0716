// SPDX-License-Identifier: GPL-2.0
/*
 * ICMP tracking: echo, timestamp, information and address-mask requests
 * create entries that their replies, matched by id, answer.
 */

#include <linux/icmp.h>
#include <linux/ip.h>
#include <net/ip.h>

#include "nflab.h"
#include "conntrack.h"

/* The query types and their answers. */
static const u8 nflab_icmp_queries[][2] = {
	{ ICMP_ECHO,		ICMP_ECHOREPLY },
	{ ICMP_TIMESTAMP,	ICMP_TIMESTAMPREPLY },
	{ ICMP_INFO_REQUEST,	ICMP_INFO_REPLY },
	{ ICMP_ADDRESS,		ICMP_ADDRESSREPLY },
};

/*
 * The type that pairs with type in a query flow: a request's answer, and
 * if either, also an answer's request. False for anything else.
 */
static bool nflab_pair_type(u8 type, bool either, u8 *other)
{
	unsigned int i;

	/* Bounded by the table's four rows. */
	for (i = 0; i < ARRAY_SIZE(nflab_icmp_queries); i++) {
		if (type == nflab_icmp_queries[i][0]) {
			*other = nflab_icmp_queries[i][1];
			return true;
		}
		if (either && type == nflab_icmp_queries[i][1]) {
			*other = nflab_icmp_queries[i][0];
			return true;
		}
	}
	return false;
}

/*
 * An ICMP error quotes the IP header and the first eight bytes of the packet
 * it is about: enough for ports or an echo id. As in the kernel
 * (nf_conntrack_inet_error), it is RELATED only if the quote is usable, the
 * quoted packet's tuple inverted (the answer its sender expects) is the
 * tuple of a live entry, and the error goes to the quoted packet's sender:
 * an error about A's packet to B addressed to anyone but A is spoofed, and
 * RELATED would let it through rules that trust the flow. Anything else is
 * INVALID. It changes no entry and never reads past what the packet holds.
 *
 * nflab_icmp_quote() reads the quote: the tuple the quoted packet's
 * answer would have (its inverse), in *t; false if the quote is unusable
 * or not about the error's addressee's packet.
 */
static bool nflab_icmp_quote(const struct sk_buff *skb, unsigned int off,
			     struct nflab_tuple *t)
{
	struct nflab_tuple inv = {};
	const struct icmphdr *ih;
	const struct iphdr *iph;
	struct icmphdr _ih;
	struct iphdr _iph;

	off += sizeof(_ih);
	iph = skb_header_pointer(skb, off, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5 ||
	    (iph->frag_off & htons(IP_OFFSET)))
		return false;
	/*
	 * The kernel compares the outer destination with the destination of
	 * the entry's tuple it found; that tuple equals inv, whose destination
	 * is the quoted source, so the cheap test comes first.
	 */
	if (ip_hdr(skb)->daddr != iph->saddr)
		return false;
	inv.src = iph->daddr;
	inv.dst = iph->saddr;
	inv.proto = iph->protocol;
	off += iph->ihl * 4;

	switch (inv.proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		const __be16 *ports;
		__be16 _ports[2];

		ports = skb_header_pointer(skb, off, sizeof(_ports), _ports);
		if (!ports)
			return false;
		inv.u.p.sport = ports[1];
		inv.u.p.dport = ports[0];
		break;
	}
	case IPPROTO_ICMP:
		/*
		 * Only a query or its answer belongs to a flow, and entries
		 * are keyed with code 0 (nflab_icmp_tuple() takes nothing else).
		 */
		ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
		if (!ih || ih->code || !nflab_pair_type(ih->type, true, &inv.u.icmp.type))
			return false;
		inv.u.icmp.id = ih->un.echo.id;
		break;
	default:
		return false;
	}
	*t = inv;
	return true;
}

static bool nflab_icmp_error(struct net *net, const struct sk_buff *skb,
			     unsigned int off, enum nflab_ct_verdict *v)
{
	const struct icmphdr *ih;
	struct nflab_tuple inv;
	struct nflab_conn *ct;
	struct icmphdr _ih;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || !icmp_is_err(ih->type))
		return false;

	*v = NFLAB_CT_INVALID;
	if (!nflab_icmp_quote(skb, off, &inv))
		return true;
	ct = nflab_ct_find(net, &inv);
	if (!ct)
		return true;
	/* Expired entries stay in the table until GC or a lookup kills them. */
	if (time_before(jiffies, READ_ONCE(ct->timeout)))
		*v = NFLAB_CT_RELATED;
	nflab_ct_put(ct);
	return true;
}

/*
 * For NAT: the live entry an ICMP error (at off) is about, with a
 * reference, and the direction the error travels in it.
 */
struct nflab_conn *nflab_icmp_related(struct net *net, const struct sk_buff *skb,
				      unsigned int off, u8 *dir)
{
	const struct icmphdr *ih;
	struct nflab_tuple inv;
	struct nflab_conn *ct;
	struct icmphdr _ih;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || !icmp_is_err(ih->type) || !nflab_icmp_quote(skb, off, &inv))
		return NULL;
	ct = nflab_ct_find(net, &inv);
	if (ct)
		*dir = nflab_tuple_equal(&ct->th[NFLAB_DIR_ORIG].tuple, &inv) ?
		       NFLAB_DIR_ORIG : NFLAB_DIR_REPLY;
	return ct;
}

static bool nflab_icmp_tuple(const struct sk_buff *skb, unsigned int off,
			     struct nflab_tuple *t)
{
	const struct icmphdr *ih;
	struct icmphdr _ih;
	u8 other;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || ih->code || !nflab_pair_type(ih->type, true, &other))
		return false;
	t->u.icmp.id = ih->un.echo.id;
	t->u.icmp.type = ih->type;
	return true;
}

/* Only a request starts a flow: a reply nobody asked for is invalid. */
static bool nflab_icmp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.icmp.id = orig->u.icmp.id;
	return nflab_pair_type(orig->u.icmp.type, false, &reply->u.icmp.type);
}

static bool nflab_icmp_new(struct nflab_net *nn, struct nflab_conn *ct,
			   const struct sk_buff *skb, unsigned int off)
{
	return true;
}

static enum nflab_ct_verdict nflab_icmp_packet(struct nflab_net *nn,
					       struct nflab_conn *ct,
					       const struct sk_buff *skb,
					       unsigned int off, enum nflab_dir dir,
					       bool *changed)
{
	*changed = false;
	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_ICMP]));
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

const struct nflab_l4proto nflab_l4proto_icmp = {
	.error		= nflab_icmp_error,
	.tuple		= nflab_icmp_tuple,
	.invert		= nflab_icmp_invert,
	.new		= nflab_icmp_new,
	.packet		= nflab_icmp_packet,
};
