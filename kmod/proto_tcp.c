// SPDX-License-Identifier: GPL-2.0
/*
 * TCP tracking: the connection state machine of RFC 793 as netfilter users
 * know it (SYN_SENT ... TIME_WAIT, CLOSE, simultaneous open), picking up
 * established connections mid-stream when allowed, and RST validation: only
 * a reset carrying the sequence number its sender is expected to send next
 * closes a connection. Full window tracking is not done yet.
 */

#include <linux/tcp.h>
#include <net/tcp.h>

#include "nflab.h"
#include "conntrack.h"

/* What a segment is, for the state table. */
enum {
	SEG_SYN,
	SEG_SYNACK,
	SEG_FIN,
	SEG_ACK,
	SEG_RST,
	SEG_NONE,
	SEG_MAX
};

#define T_NO NFLAB_TCP_NONE
#define T_SS NFLAB_TCP_SYN_SENT
#define T_SR NFLAB_TCP_SYN_RECV
#define T_ES NFLAB_TCP_ESTABLISHED
#define T_FW NFLAB_TCP_FIN_WAIT
#define T_CW NFLAB_TCP_CLOSE_WAIT
#define T_LA NFLAB_TCP_LAST_ACK
#define T_TW NFLAB_TCP_TIME_WAIT
#define T_CL NFLAB_TCP_CLOSE
#define T_S2 NFLAB_TCP_SYN_SENT2
#define T_IV (NFLAB_TCP_MAX + 1)	/* invalid: state unchanged */
#define T_IG (NFLAB_TCP_MAX + 2)	/* out of place (e.g. stale SYN/ACK) */

/*
 * The next state by direction, segment and current state; the transitions
 * users know from the kernel's tracker.
 */
static const u8 next_state[NFLAB_DIR_MAX][SEG_MAX][NFLAB_TCP_MAX + 1] = {
	[NFLAB_DIR_ORIG] = {
/*		   T_NO  T_SS  T_SR  T_ES  T_FW  T_CW  T_LA  T_TW  T_CL  T_S2 */
[SEG_SYN]	= { T_SS, T_SS, T_IG, T_IG, T_IG, T_IG, T_IG, T_SS, T_SS, T_S2 },
[SEG_SYNACK]	= { T_IV, T_IV, T_SR, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_SR },
[SEG_FIN]	= { T_IV, T_IV, T_FW, T_FW, T_LA, T_LA, T_LA, T_TW, T_CL, T_IV },
[SEG_ACK]	= { T_ES, T_IV, T_ES, T_ES, T_CW, T_CW, T_TW, T_TW, T_CL, T_IV },
[SEG_RST]	= { T_IV, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL },
[SEG_NONE]	= { T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV },
	},
	[NFLAB_DIR_REPLY] = {
/*		   T_NO  T_SS  T_SR  T_ES  T_FW  T_CW  T_LA  T_TW  T_CL  T_S2 */
[SEG_SYN]	= { T_IV, T_S2, T_IV, T_IV, T_IV, T_IV, T_IV, T_SS, T_IV, T_S2 },
[SEG_SYNACK]	= { T_IV, T_SR, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_IG, T_SR },
[SEG_FIN]	= { T_IV, T_IV, T_FW, T_FW, T_LA, T_LA, T_LA, T_TW, T_CL, T_IV },
[SEG_ACK]	= { T_IV, T_IG, T_SR, T_ES, T_CW, T_CW, T_TW, T_TW, T_CL, T_IG },
[SEG_RST]	= { T_IV, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL, T_CL },
[SEG_NONE]	= { T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV, T_IV },
	},
};

static const u8 state_timeout[NFLAB_TCP_MAX + 1] = {
	[T_SS] = NFLAB_CT_TIMEOUT_A_TCP_SYN_SENT,
	[T_S2] = NFLAB_CT_TIMEOUT_A_TCP_SYN_SENT,
	[T_SR] = NFLAB_CT_TIMEOUT_A_TCP_SYN_RECV,
	[T_ES] = NFLAB_CT_TIMEOUT_A_TCP_ESTABLISHED,
	[T_FW] = NFLAB_CT_TIMEOUT_A_TCP_FIN_WAIT,
	[T_CW] = NFLAB_CT_TIMEOUT_A_TCP_CLOSE_WAIT,
	[T_LA] = NFLAB_CT_TIMEOUT_A_TCP_LAST_ACK,
	[T_TW] = NFLAB_CT_TIMEOUT_A_TCP_TIME_WAIT,
	[T_CL] = NFLAB_CT_TIMEOUT_A_TCP_CLOSE,
};

static const struct tcphdr *tcp_header(const struct sk_buff *skb,
				       unsigned int off, struct tcphdr *buf)
{
	const struct tcphdr *th;

	th = skb_header_pointer(skb, off, sizeof(*buf), buf);
	if (!th || th->doff < 5 || off + th->doff * 4 > skb->len)
		return NULL;
	return th;
}

/* The flag combinations a real TCP sends; anything else is invalid. */
static bool valid_flags(const struct tcphdr *th)
{
	u8 f = tcp_flag_byte(th) & ~(TCPHDR_ECE | TCPHDR_CWR | TCPHDR_PSH);

	switch (f) {
	case TCPHDR_SYN:
	case TCPHDR_SYN | TCPHDR_URG:
	case TCPHDR_SYN | TCPHDR_ACK:
	case TCPHDR_RST:
	case TCPHDR_RST | TCPHDR_ACK:
	case TCPHDR_FIN | TCPHDR_ACK:
	case TCPHDR_FIN | TCPHDR_ACK | TCPHDR_URG:
	case TCPHDR_ACK:
	case TCPHDR_ACK | TCPHDR_URG:
		return true;
	}
	return false;
}

static unsigned int segment(const struct tcphdr *th)
{
	if (th->rst)
		return SEG_RST;
	if (th->syn)
		return th->ack ? SEG_SYNACK : SEG_SYN;
	if (th->fin)
		return SEG_FIN;
	if (th->ack)
		return SEG_ACK;
	return SEG_NONE;
}

static bool tcp_tuple(const struct sk_buff *skb, unsigned int off,
		      struct nflab_tuple *t)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	th = tcp_header(skb, off, &_th);
	if (!th || !valid_flags(th))
		return false;
	t->u.p.sport = th->source;
	t->u.p.dport = th->dest;
	return true;
}

static bool tcp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.p.sport = orig->u.p.dport;
	reply->u.p.dport = orig->u.p.sport;
	return true;
}

/* A SYN opens a connection; a mid-stream ACK does if pickup is allowed. */
static bool tcp_new(struct nflab_net *nn, struct nflab_conn *ct,
		    const struct sk_buff *skb, unsigned int off)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	th = tcp_header(skb, off, &_th);
	if (!th)
		return false;
	switch (segment(th)) {
	case SEG_SYN:
		return true;
	case SEG_ACK:
		return READ_ONCE(nn->ct_tcp_loose);
	}
	return false;
}

/* The sequence number after this segment: data, SYN and FIN count. */
static u32 seg_end(const struct sk_buff *skb, unsigned int off,
		   const struct tcphdr *th)
{
	return ntohl(th->seq) + (skb->len - off - th->doff * 4) + th->syn + th->fin;
}

/* Called with ct->lock held. */
static enum nflab_ct_verdict tcp_update(struct nflab_net *nn,
					struct nflab_conn *ct,
					const struct sk_buff *skb,
					unsigned int off, enum nflab_dir dir)
{
	u8 old = ct->proto.tcp.state, new;
	const struct tcphdr *th;
	struct tcphdr _th;
	unsigned int seg;
	u32 end;

	lockdep_assert_held(&ct->lock);

	th = tcp_header(skb, off, &_th);
	if (!th)
		return NFLAB_CT_INVALID;
	seg = segment(th);
	new = next_state[dir][seg][old];
	if (new == T_IV || new == T_IG)
		return NFLAB_CT_INVALID;

	/*
	 * A reset closes only if it carries the sequence number its sender
	 * is expected to send next (RFC 5961); a blind reset guessed from
	 * within the window leaves the connection as it was.
	 */
	if (seg == SEG_RST && (ct->proto.tcp.seen & BIT(dir)) &&
	    ntohl(th->seq) != ct->proto.tcp.td_end[dir] &&
	    !(old == T_SS && dir == NFLAB_DIR_REPLY && th->ack &&
	      ntohl(th->ack_seq) == ct->proto.tcp.td_end[NFLAB_DIR_ORIG]))
		return NFLAB_CT_INVALID;

	/* A new SYN on a closed or TIME_WAIT connection opens it anew. */
	if (seg == SEG_SYN && dir == NFLAB_DIR_ORIG && (old == T_TW || old == T_CL)) {
		clear_bit(NFLAB_CT_ASSURED_BIT, &ct->status);
		clear_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status);
		ct->proto.tcp.seen = 0;
	}

	end = seg_end(skb, off, th);
	if (!(ct->proto.tcp.seen & BIT(dir)) ||
	    after(end, ct->proto.tcp.td_end[dir]))
		ct->proto.tcp.td_end[dir] = end;
	ct->proto.tcp.seen |= BIT(dir);

	ct->proto.tcp.state = new;
	if (new == T_ES &&
	    (dir == NFLAB_DIR_REPLY || test_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status)))
		nflab_ct_set_assured(nn, ct);
	nflab_ct_refresh(ct, READ_ONCE(nn->ct_timeouts[state_timeout[new]]));

	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

static enum nflab_ct_verdict tcp_packet(struct nflab_net *nn,
					struct nflab_conn *ct,
					const struct sk_buff *skb,
					unsigned int off, enum nflab_dir dir,
					bool *changed)
{
	enum nflab_ct_verdict v;
	u8 old;

	spin_lock_bh(&ct->lock);
	old = ct->proto.tcp.state;
	v = tcp_update(nn, ct, skb, off, dir);
	*changed = ct->proto.tcp.state != old;
	spin_unlock_bh(&ct->lock);
	return v;
}

const struct nflab_l4proto nflab_l4proto_tcp = {
	.tuple	= tcp_tuple,
	.invert	= tcp_invert,
	.new	= tcp_new,
	.packet	= tcp_packet,
};
