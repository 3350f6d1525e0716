// SPDX-License-Identifier: GPL-2.0
/*
 * UDP tracking: an entry is UNREPLIED until a reply passes, then ASSURED,
 * each with its own timeout.
 */

#include <linux/udp.h>

#include "nflab.h"
#include "conntrack.h"

static bool udp_tuple(const struct sk_buff *skb, unsigned int off,
		      struct nflab_tuple *t)
{
	const struct udphdr *uh;
	struct udphdr _uh;

	uh = skb_header_pointer(skb, off, sizeof(_uh), &_uh);
	/* A length field that is too short or claims more than is there. */
	if (!uh || ntohs(uh->len) < sizeof(*uh) || ntohs(uh->len) > skb->len - off)
		return false;
	t->u.p.sport = uh->source;
	t->u.p.dport = uh->dest;
	return true;
}

static bool udp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.p.sport = orig->u.p.dport;
	reply->u.p.dport = orig->u.p.sport;
	return true;
}

static bool udp_new(struct nflab_net *nn, struct nflab_conn *ct,
		    const struct sk_buff *skb, unsigned int off)
{
	return true;
}

static enum nflab_ct_verdict udp_packet(struct nflab_net *nn,
					struct nflab_conn *ct,
					const struct sk_buff *skb,
					unsigned int off, enum nflab_dir dir,
					bool *changed)
{
	*changed = false;
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status)) {
		nflab_ct_set_assured(nn, ct);
		nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_UDP_ASSURED]));
		return NFLAB_CT_ESTABLISHED;
	}
	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_UDP_UNREPLIED]));
	return NFLAB_CT_NEW;
}

const struct nflab_l4proto nflab_l4proto_udp = {
	.tuple	= udp_tuple,
	.invert	= udp_invert,
	.new	= udp_new,
	.packet	= udp_packet,
};
