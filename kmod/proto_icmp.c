// SPDX-License-Identifier: GPL-2.0
/*
 * ICMP tracking: echo, timestamp, information and address-mask requests
 * create entries that their replies, matched by id, answer.
 */

#include <linux/icmp.h>

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

static bool icmp_untracked(const struct sk_buff *skb, unsigned int off)
{
	const struct icmphdr *ih;
	struct icmphdr _ih;

	ih = skb_header_pointer(skb, off, sizeof(_ih), &_ih);
	return ih && icmp_is_err(ih->type);
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
					 unsigned int off, enum nflab_dir dir)
{
	lockdep_assert_held(&ct->lock);

	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_ICMP]));
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

const struct nflab_l4proto nflab_l4proto_icmp = {
	.proto		= IPPROTO_ICMP,
	.untracked	= icmp_untracked,
	.tuple		= icmp_tuple,
	.invert		= icmp_invert,
	.new		= icmp_new,
	.packet		= icmp_packet,
};
