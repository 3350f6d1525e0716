// SPDX-License-Identifier: GPL-2.0
/*
 * UDP tracking, as the kernel's: an entry keeps the short (unreplied)
 * timeout until both sides have spoken and traffic still flows two seconds
 * after the first packet; only then is it a stream, ASSURED, with the long
 * timeout. One-shot request/reply flows (DNS) stay short-lived and remain
 * candidates for early drop.
 */

#include <linux/udp.h>

#include "nflab.h"
#include "conntrack.h"

static bool nflab_udp_tuple(const struct sk_buff *skb, unsigned int off,
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

static bool nflab_udp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.p.sport = orig->u.p.dport;
	reply->u.p.dport = orig->u.p.sport;
	return true;
}

/* How long after its first packet a flow must still be busy to be a stream. */
#define UDP_STREAM_AFTER	(2 * HZ)

static bool nflab_udp_new(struct nflab_net *nn, struct nflab_conn *ct,
			  const struct sk_buff *skb, unsigned int off)
{
	ct->proto.udp.stream_ts = jiffies + UDP_STREAM_AFTER;
	return true;
}

static enum nflab_ct_verdict nflab_udp_packet(struct nflab_net *nn,
					      struct nflab_conn *ct,
					      const struct sk_buff *skb,
					      unsigned int off, enum nflab_dir dir,
					      bool *changed)
{
	unsigned int which = NFLAB_CT_TIMEOUT_A_UDP_UNREPLIED;

	*changed = false;
	/*
	 * conntrack.c sets SEEN_REPLY after packet(), as the kernel does: the
	 * first reply itself keeps the short timeout, and so does everything
	 * before stream_ts (written once, before the entry was confirmed).
	 */
	if (test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status) &&
	    time_after(jiffies, ct->proto.udp.stream_ts)) {
		nflab_ct_set_assured(nn, ct);
		which = NFLAB_CT_TIMEOUT_A_UDP_ASSURED;
	}
	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[which]));
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

const struct nflab_l4proto nflab_l4proto_udp = {
	.tuple	= nflab_udp_tuple,
	.invert	= nflab_udp_invert,
	.new	= nflab_udp_new,
	.packet	= nflab_udp_packet,
};
