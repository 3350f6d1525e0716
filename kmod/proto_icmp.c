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

/* The reply type of a request type; false for anything else. */
static bool reply_type(u8 type, u8 *reply)
{
	switch (type) {
	case ICMP_ECHO:
		*reply = ICMP_ECHOREPLY;
		return true;
	case ICMP_TIMESTAMP:
		*reply = ICMP_TIMESTAMPREPLY;
		return true;
	case ICMP_INFO_REQUEST:
		*reply = ICMP_INFO_REPLY;
		return true;
	case ICMP_ADDRESS:
		*reply = ICMP_ADDRESSREPLY;
		return true;
	}
	return false;
}

static bool is_reply(u8 type)
{
	return type == ICMP_ECHOREPLY || type == ICMP_TIMESTAMPREPLY ||
	       type == ICMP_INFO_REPLY || type == ICMP_ADDRESSREPLY;
}

/*
 * An ICMP error quotes the IP header and the first eight bytes of the packet
 * it is about: enough for ports or an echo id. It is RELATED to that
 * packet's flow if nflab tracks it, INVALID if not or if the quote is
 * unusable; it never reads past what the packet holds.
 */
static bool icmp_error(struct net *net, const struct sk_buff *skb,
		       unsigned int off, enum nflab_ct_verdict *v)
{
	const struct icmphdr *ih;
	const struct iphdr *iph;
	struct nflab_tuple t = {};
	struct nflab_conn *ct;
	struct icmphdr _ih;
	struct iphdr _iph;
	u8 reply;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || !icmp_is_err(ih->type))
		return false;

	*v = NFLAB_CT_INVALID;
	off += sizeof(_ih);
	iph = skb_header_pointer(skb, off, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5 ||
	    (iph->frag_off & htons(IP_OFFSET)))
		return true;
	t.src = iph->saddr;
	t.dst = iph->daddr;
	t.proto = iph->protocol;
	off += iph->ihl * 4;

	switch (t.proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP: {
		const __be16 *ports;
		__be16 _ports[2];

		ports = skb_header_pointer(skb, off, sizeof(_ports), _ports);
		if (!ports)
			return true;
		t.u.p.sport = ports[0];
		t.u.p.dport = ports[1];
		break;
	}
	case IPPROTO_ICMP:
		ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
		if (!ih || (!reply_type(ih->type, &reply) && !is_reply(ih->type)))
			return true;
		t.u.icmp.id = ih->un.echo.id;
		t.u.icmp.type = ih->type;
		break;
	default:
		return true;
	}

	ct = nflab_ct_find(net, &t);
	if (ct) {
		*v = NFLAB_CT_RELATED;
		nflab_ct_put(ct);
	}
	return true;
}

static bool icmp_tuple(const struct sk_buff *skb, unsigned int off,
		       struct nflab_tuple *t)
{
	const struct icmphdr *ih;
	struct icmphdr _ih;
	u8 reply;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	if (!ih || ih->code || (!reply_type(ih->type, &reply) && !is_reply(ih->type)))
		return false;
	t->u.icmp.id = ih->un.echo.id;
	t->u.icmp.type = ih->type;
	return true;
}

/* Only a request starts a flow: a reply nobody asked for is invalid. */
static bool icmp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.icmp.id = orig->u.icmp.id;
	return reply_type(orig->u.icmp.type, &reply->u.icmp.type);
}

static bool icmp_new(struct nflab_net *nn, struct nflab_conn *ct,
		     const struct sk_buff *skb, unsigned int off)
{
	return true;
}

static enum nflab_ct_verdict icmp_packet(struct nflab_net *nn,
					 struct nflab_conn *ct,
					 const struct sk_buff *skb,
					 unsigned int off, enum nflab_dir dir,
					 bool *changed)
{
	*changed = false;
	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_ICMP]));
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

const struct nflab_l4proto nflab_l4proto_icmp = {
	.error		= icmp_error,
	.tuple		= icmp_tuple,
	.invert		= icmp_invert,
	.new		= icmp_new,
	.packet		= icmp_packet,
};
