// SPDX-License-Identifier: GPL-2.0
/*
 * TCP tracking: the connection state machine of RFC 793 as netfilter users
 * know it (SYN_SENT ... TIME_WAIT, CLOSE, simultaneous open), picking up
 * established connections mid-stream when allowed, sequence and window
 * tracking after the kernel's tcp_in_window(), and RST validation: only a
 * reset carrying the sequence number its sender is expected to send next
 * closes a connection. A segment that fails a check is INVALID and leaves
 * the entry as it was.
 *
 * The robustness of the kernel's tracker comes along: shorter timeouts
 * while data waits for its acknowledgment, after repeated retransmissions
 * and for connections picked up without a reply; SYN retransmissions that
 * keep an entry no longer alive; an unanswered SYN's entry removed by the
 * reset refusing it; and resynchronisation when both ends start a new
 * connection on a tuple whose old one the tracker never saw end.
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
static const u8 nflab_next_state[NFLAB_DIR_MAX][SEG_MAX][NFLAB_TCP_MAX + 1] = {
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

static const u8 nflab_state_timeout[NFLAB_TCP_MAX + 1] = {
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

static const struct tcphdr *nflab_tcp_header(const struct sk_buff *skb,
					     unsigned int off, struct tcphdr *buf)
{
	const struct tcphdr *th;

	th = skb_header_pointer(skb, off, sizeof(*buf), buf);
	if (!th || th->doff < 5 || off + th->doff * 4 > skb->len)
		return NULL;
	return th;
}

/* The flag combinations a real TCP sends; anything else is invalid. */
static bool nflab_valid_flags(const struct tcphdr *th)
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

static unsigned int nflab_segment(const struct tcphdr *th)
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

static bool nflab_tcp_tuple(const struct sk_buff *skb, unsigned int off,
			    struct nflab_tuple *t)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	th = nflab_tcp_header(skb, off, &_th);
	if (!th || !nflab_valid_flags(th))
		return false;
	t->u.p.sport = th->source;
	t->u.p.dport = th->dest;
	return true;
}

static bool nflab_tcp_invert(struct nflab_tuple *reply, const struct nflab_tuple *orig)
{
	reply->u.p.sport = orig->u.p.dport;
	reply->u.p.dport = orig->u.p.sport;
	return true;
}

/* Per-direction flags. */
#define F_WSCALE	BIT(0)	/* sent the window scale option */
#define F_SACK_PERM	BIT(1)	/* sent SACK permitted */
#define F_MAXACK_SET	BIT(2)	/* td_maxack is valid */
#define F_LIBERAL	BIT(3)	/* picked up mid-stream: windows unknown */
#define F_DATA_UNACK	BIT(4)	/* sent data not acknowledged yet */
#define F_IGNORED	BIT(7)	/* last.flags only: the state machine ignored it */

/* Identical segments before the RETRANS timeout applies (the kernel's). */
#define MAX_RETRANS	3

/* How far back an acknowledgment may lag, at least (the kernel's value). */
#define MAXACKWINCONST	66000

/* A SYN opens a connection; a mid-stream ACK does if pickup is allowed. */
static bool nflab_tcp_new(struct nflab_net *nn, struct nflab_conn *ct,
			  const struct sk_buff *skb, unsigned int off)
{
	const struct tcphdr *th;
	struct tcphdr _th;

	th = nflab_tcp_header(skb, off, &_th);
	if (!th)
		return false;
	switch (nflab_segment(th)) {
	case SEG_SYN:
		return true;
	case SEG_ACK:
		if (!READ_ONCE(nn->ct_tcp_loose))
			return false;
		/*
		 * The handshake, and with it the window scale, went by
		 * unseen: windows are learnt but not enforced (as Linux
		 * does for picked-up connections).
		 */
		ct->proto.tcp.d[NFLAB_DIR_ORIG].flags = F_LIBERAL | F_SACK_PERM;
		ct->proto.tcp.d[NFLAB_DIR_REPLY].flags = F_LIBERAL | F_SACK_PERM;
		ct->proto.tcp.last.seg = SEG_NONE;
		return true;
	}
	return false;
}

/* The sequence number after this segment: data, SYN and FIN count. */
static u32 nflab_seg_end(const struct sk_buff *skb, unsigned int off,
			 const struct tcphdr *th)
{
	return ntohl(th->seq) + (skb->len - off - th->doff * 4) + th->syn + th->fin;
}

/*
 * Walk the options: on a SYN, note window scale and SACK permission in
 * @syn; with @sack, raise *sack to the highest right edge of the SACK
 * blocks. Each step consumes at least one of at most 40 bytes.
 */
static void nflab_tcp_options(const struct sk_buff *skb, unsigned int off,
			      const struct tcphdr *th, struct nflab_tcp_dir *syn,
			      u32 *sack)
{
	u8 buf[MAX_TCP_OPTION_SPACE];
	int len = th->doff * 4 - sizeof(*th);
	const u8 *p;
	int i;

	if (len <= 0)
		return;
	p = skb_header_pointer(skb, off + sizeof(*th), len, buf);
	if (!p)
		return;
	while (len > 0) {
		u8 op = p[0], sz;

		if (op == TCPOPT_EOL)
			return;
		if (op == TCPOPT_NOP) {
			p++;
			len--;
			continue;
		}
		if (len < 2)
			return;
		sz = p[1];
		if (sz < 2 || sz > len)
			return;	/* a broken option ends the list */
		if (syn && op == TCPOPT_SACK_PERM && sz == TCPOLEN_SACK_PERM) {
			syn->flags |= F_SACK_PERM;
		} else if (syn && op == TCPOPT_WINDOW && sz == TCPOLEN_WINDOW) {
			syn->td_scale = min_t(u8, p[2], TCP_MAX_WSCALE);
			syn->flags |= F_WSCALE;
		} else if (sack && op == TCPOPT_SACK &&
			   sz >= TCPOLEN_SACK_BASE + TCPOLEN_SACK_PERBLOCK &&
			   !((sz - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_PERBLOCK)) {
			for (i = TCPOLEN_SACK_BASE; i < sz; i += TCPOLEN_SACK_PERBLOCK) {
				u32 edge = get_unaligned_be32(p + i + 4);

				if (after(edge, *sack))
					*sack = edge;
			}
		}
		p += sz;
		len -= sz;
	}
}

/* The first SYN of a connection, or a SYN re-opening it. */
static void nflab_tcp_syn_init(struct nflab_tcp *t, enum nflab_dir dir,
			       const struct sk_buff *skb, unsigned int off,
			       const struct tcphdr *th)
{
	struct nflab_tcp_dir *d = &t->d[dir];
	u32 win = ntohs(th->window);

	memset(t->d, 0, sizeof(t->d));
	memset(&t->last, 0, sizeof(t->last));
	t->last.seg = SEG_NONE;
	d->td_end = nflab_seg_end(skb, off, th);
	d->td_maxend = d->td_end;
	d->td_maxwin = win ? win : 1;
	nflab_tcp_options(skb, off, th, d, NULL);
}

/*
 * Sequence and window checks in the spirit of the kernel's tcp_in_window()
 * (after Rooij's "Real Stateful TCP Packet Filtering in IP Filter"): a
 * segment must start within the window its receiver announced, must not
 * end before that window reaches back, and may acknowledge only what the
 * other side sent, at most about a window ago. Works on @t, a copy that
 * the caller keeps only when the segment passes.
 */
static bool nflab_tcp_in_window(struct nflab_tcp *t, u8 state, enum nflab_dir dir,
				unsigned int seg, const struct sk_buff *skb,
				unsigned int off, const struct tcphdr *th)
{
	struct nflab_tcp_dir *sender = &t->d[dir], *receiver = &t->d[!dir];
	u32 seq = ntohl(th->seq), ack = ntohl(th->ack_seq);
	u32 win = ntohs(th->window), end, sack, swin;
	struct nflab_tcp_last *last = &t->last;
	u16 win_raw = win;
	bool in_recv_win;

	end = nflab_seg_end(skb, off, th);
	sack = ack;
	if (receiver->flags & F_SACK_PERM)
		nflab_tcp_options(skb, off, th, NULL, &sack);

	if (!sender->td_maxwin) {
		if (th->syn) {
			/* SYN/ACK, or the other SYN of a simultaneous open. */
			sender->td_end = end;
			sender->td_maxend = end;
			sender->td_maxwin = win ? win : 1;
			nflab_tcp_options(skb, off, th, sender, NULL);
			/* Scaling needs the option from both sides. */
			if (!(sender->flags & receiver->flags & F_WSCALE)) {
				sender->td_scale = 0;
				receiver->td_scale = 0;
			}
			if (!th->ack)
				return true;
		} else {
			/* Picked up mid-stream: the segment is all we know. */
			sender->td_end = end;
			swin = win << sender->td_scale;
			sender->td_maxwin = swin ? swin : 1;
			sender->td_maxend = end + sender->td_maxwin;
			if (!receiver->td_maxwin) {
				receiver->td_end = sack;
				receiver->td_maxend = sack;
			} else if (sack == receiver->td_end + 1) {
				receiver->td_end++;	/* a keepalive's answer */
			}
		}
	} else if (th->syn && after(end, sender->td_end) &&
		   (state == T_SS || state == T_SR)) {
		/* A SYN with a new initial sequence number starts over. */
		sender->td_end = end;
		sender->td_maxend = end;
		sender->td_maxwin = win ? win : 1;
		nflab_tcp_options(skb, off, th, sender, NULL);
	}

	if (!th->ack) {
		ack = receiver->td_end;
		sack = ack;
	}

	in_recv_win = !receiver->td_maxwin ||
		      after(end, sender->td_end - receiver->td_maxwin - 1);
	/*
	 * Past the window the tracker knows, but otherwise fine: the window
	 * update that allows it may be on another CPU still, or the TCP sends
	 * a little more than allowed. As the kernel, let it pass and learn
	 * its end, so that the ACK for it is not over the upper bound.
	 */
	if (!before(seq, sender->td_maxend + 1) && receiver->td_maxwin &&
	    in_recv_win && end - sender->td_maxend + 1 <= receiver->td_maxwin &&
	    before(sack, receiver->td_end + 1) &&
	    after(sack, receiver->td_end -
			max_t(u32, sender->td_maxwin, MAXACKWINCONST) - 1)) {
		sender->td_end = end;
		sender->flags |= F_DATA_UNACK;
		return true;
	}
	if (!before(seq, sender->td_maxend + 1) || !in_recv_win ||
	    !before(sack, receiver->td_end + 1) ||
	    !after(sack, receiver->td_end -
			 max_t(u32, sender->td_maxwin, MAXACKWINCONST) - 1))
		return sender->flags & F_LIBERAL;

	if (!th->syn)
		win <<= sender->td_scale;
	swin = win + (sack - ack);
	if (sender->td_maxwin < swin)
		sender->td_maxwin = swin;
	if (after(end, sender->td_end)) {
		sender->td_end = end;
		sender->flags |= F_DATA_UNACK;
	}
	if (th->ack && (!(sender->flags & F_MAXACK_SET) ||
			after(ack, sender->td_maxack))) {
		sender->td_maxack = ack;
		sender->flags |= F_MAXACK_SET;
	}
	if (receiver->td_maxwin && after(end, sender->td_maxend))
		receiver->td_maxwin += end - sender->td_maxend;
	if (after(sack + win, receiver->td_maxend - 1))
		receiver->td_maxend = sack + win + !win;
	if (ack == receiver->td_end)
		receiver->flags &= ~F_DATA_UNACK;

	/* The same segment again: a retransmission (or a repeated ACK). */
	if (seg == SEG_ACK) {
		if (last->dir == dir && last->seq == seq && last->ack == ack &&
		    last->end == end && last->win == win_raw) {
			if (last->retrans < U8_MAX)
				last->retrans++;
		} else {
			last->dir = dir;
			last->seq = seq;
			last->ack = ack;
			last->end = end;
			last->win = win_raw;
			last->retrans = 0;
		}
	}
	return true;
}

/*
 * A reset is exact with the sequence number its sender is expected to send
 * next, or the one the other side acknowledged last (RFC 5961); in
 * SYN_SENT, the answer to the SYN must acknowledge it (RFC 793).
 */
static bool nflab_tcp_rst_exact(const struct nflab_tcp *t, u8 state,
				enum nflab_dir dir, const struct tcphdr *th)
{
	const struct nflab_tcp_dir *sender = &t->d[dir], *receiver = &t->d[!dir];
	u32 seq = ntohl(th->seq);

	if (state == T_SS && dir == NFLAB_DIR_REPLY)
		return th->ack && ntohl(th->ack_seq) == receiver->td_end;
	return seq == sender->td_end ||
	       ((receiver->flags & F_MAXACK_SET) && seq == receiver->td_maxack);
}

enum { RST_CLOSE, RST_KEEP, RST_INVALID };

/*
 * What a reset does: RST_CLOSE ends the connection; RST_KEEP passes it and
 * keeps the state and the windows, for a reset inside the window that is
 * not exact: the receiver answers it with a challenge ACK (RFC 5961), and
 * the exact reset that answers that one closes. A blind reset outside the window, or below
 * what the other side acknowledged, is RST_INVALID.
 */
static int nflab_tcp_rst_check(struct nflab_tcp *t, u8 state, enum nflab_dir dir,
			       const struct sk_buff *skb, unsigned int off,
			       const struct tcphdr *th)
{
	const struct nflab_tcp_last *last = &t->last;
	const struct nflab_tcp_dir *receiver = &t->d[!dir];
	u32 seq = ntohl(th->seq);
	struct nflab_tcp scratch;

	if (last->flags & F_IGNORED) {
		/* The peer refuses the SYN we let pass: its windows are new. */
		if (last->seg == SEG_SYN && last->dir != dir && th->ack &&
		    ntohl(th->ack_seq) == last->end)
			return RST_CLOSE;
		/* Our SYN met a challenge ACK; the originator's reset answers it. */
		if (state == T_SS && dir == NFLAB_DIR_ORIG &&
		    last->seg == SEG_ACK && last->dir == NFLAB_DIR_REPLY &&
		    seq == last->ack)
			return RST_CLOSE;
	}
	if (!t->d[dir].td_maxwin && !(state == T_SS && dir == NFLAB_DIR_REPLY))
		return nflab_tcp_in_window(t, state, dir, SEG_RST, skb, off, th) ?
		       RST_CLOSE : RST_INVALID;
	if (nflab_tcp_rst_exact(t, state, dir, th))
		return RST_CLOSE;
	if (state == T_SS && dir == NFLAB_DIR_REPLY)
		return RST_INVALID;
	/* Right behind the sender's last segment: the end of a train. */
	if (!(last->flags & F_IGNORED) && last->seg == SEG_ACK &&
	    last->dir == dir && seq == last->end)
		return RST_CLOSE;
	if ((receiver->flags & F_MAXACK_SET) && before(seq, receiver->td_maxack))
		return RST_INVALID;
	/* Judged on a copy: an inexact reset moves no window. */
	scratch = *t;
	return nflab_tcp_in_window(&scratch, state, dir, SEG_RST, skb, off, th) ?
	       RST_KEEP : RST_INVALID;
}

/*
 * Keep an ignored segment in mind (the state machine skipped it, the entry
 * may be out of step with the ends): the answer to a SYN tells whether both
 * ends started over.
 */
static void nflab_tcp_note_ignored(struct nflab_tcp_last *last, u8 state,
				   enum nflab_dir dir, unsigned int seg,
				   const struct sk_buff *skb, unsigned int off,
				   const struct tcphdr *th)
{
	struct nflab_tcp_dir opts = {};

	last->seg = seg;
	last->dir = dir;
	last->seq = ntohl(th->seq);
	last->end = nflab_seg_end(skb, off, th);
	last->win = ntohs(th->window);
	if (seg == SEG_SYN) {
		nflab_tcp_options(skb, off, th, &opts, NULL);
		last->wscale = opts.td_scale;
	}
	last->flags = opts.flags | F_IGNORED;
	/* In SYN_SENT the peer's ACK may be a challenge ACK (RFC 5961). */
	if (state == T_SS && seg == SEG_ACK && dir == NFLAB_DIR_REPLY)
		last->ack = ntohl(th->ack_seq);
}

/*
 * A SYN/ACK answering the SYN we last ignored: both ends began a new
 * connection on this tuple and the entry missed the end of the old one.
 * Start over from that SYN, as if in SYN_SENT.
 */
static bool nflab_tcp_resync(struct nflab_tcp *t, enum nflab_dir dir,
			     unsigned int seg, const struct tcphdr *th)
{
	const struct nflab_tcp_last *last = &t->last;
	struct nflab_tcp_dir *d = &t->d[last->dir];

	if (seg != SEG_SYNACK || !(last->flags & F_IGNORED) ||
	    last->seg != SEG_SYN || last->dir == dir ||
	    ntohl(th->ack_seq) != last->end)
		return false;
	memset(t->d, 0, sizeof(t->d));
	d->td_end = last->end;
	d->td_maxend = last->end;
	d->td_maxwin = last->win ? last->win : 1;
	d->td_scale = last->wscale;
	d->flags = last->flags & (F_WSCALE | F_SACK_PERM);
	return true;
}

/*
 * The state's timeout, capped while the connection looks stuck: after
 * repeated retransmissions (RETRANS), while data waits for its
 * acknowledgment or a picked-up connection has had no reply (UNACK), with
 * a closed window (RETRANS). The first cap that applies wins, in the
 * kernel's order, so that both trackers agree whatever the settings.
 */
static unsigned int nflab_tcp_timeout(const struct nflab_net *nn,
				      const struct nflab_tcp *t, u8 state,
				      bool replied)
{
	unsigned int tmo = READ_ONCE(nn->ct_timeouts[nflab_state_timeout[state]]);
	unsigned int retrans = READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_TCP_RETRANS]);
	unsigned int unack = READ_ONCE(nn->ct_timeouts[NFLAB_CT_TIMEOUT_A_TCP_UNACK]);

	if (t->last.retrans >= MAX_RETRANS && tmo > retrans)
		return retrans;
	if ((((t->d[0].flags | t->d[1].flags) & F_DATA_UNACK) ||
	     (state == T_ES && !replied)) && tmo > unack)
		return unack;
	if (t->last.seg == SEG_ACK && !t->last.win && tmo > retrans)
		return retrans;
	return tmo;
}

static enum nflab_ct_verdict nflab_tcp_verdict(const struct nflab_conn *ct,
					       enum nflab_dir dir)
{
	if (dir == NFLAB_DIR_REPLY ||
	    test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status))
		return NFLAB_CT_ESTABLISHED;
	return NFLAB_CT_NEW;
}

/*
 * Called with ct->lock held. Sets *kill when the entry must go at once: a
 * reset refused a SYN nobody else answered.
 */
static enum nflab_ct_verdict nflab_tcp_update(struct nflab_net *nn,
					      struct nflab_conn *ct,
					      const struct sk_buff *skb,
					      unsigned int off, enum nflab_dir dir,
					      bool *kill)
{
	bool replied = test_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status);
	struct nflab_tcp t = ct->proto.tcp;
	u8 old = t.state, new;
	const struct tcphdr *th;
	struct tcphdr _th;
	unsigned int seg;

	lockdep_assert_held(&ct->lock);

	th = nflab_tcp_header(skb, off, &_th);
	if (!th)
		return NFLAB_CT_INVALID;
	seg = nflab_segment(th);
	new = nflab_next_state[dir][seg][old];
	if (new == T_IG) {
		if (!nflab_tcp_resync(&t, dir, seg, th)) {
			/*
			 * As the kernel: an ignored segment passes, neither
			 * INVALID (a rule dropping INVALID packets would stop
			 * the very answer the resync waits for) nor moving
			 * the state or the timeout.
			 */
			nflab_tcp_note_ignored(&ct->proto.tcp.last, old, dir, seg,
					       skb, off, th);
			return nflab_tcp_verdict(ct, dir);
		}
		old = T_SS;
		new = T_SR;
	}
	if (new == T_IV)
		return NFLAB_CT_INVALID;

	/*
	 * The old responder opening a connection back on the same ports
	 * from TIME_WAIT: a new flow, with the directions swapped (as the
	 * kernel's tracker handles it).
	 */
	if (seg == SEG_SYN && dir == NFLAB_DIR_REPLY && old == T_TW)
		return NFLAB_CT_REPEAT;
	if (seg == SEG_SYN && (old == T_NO || old == T_TW || old == T_CL)) {
		/* A new SYN on a closed or TIME_WAIT connection opens it anew. */
		if (old != T_NO) {
			clear_bit(NFLAB_CT_STATUS_ASSURED_BIT, &ct->status);
			clear_bit(NFLAB_CT_STATUS_SEEN_REPLY_BIT, &ct->status);
			replied = false;
		}
		nflab_tcp_syn_init(&t, dir, skb, off, th);
	} else if (seg == SEG_RST) {
		switch (nflab_tcp_rst_check(&t, old, dir, skb, off, th)) {
		case RST_INVALID:
			return NFLAB_CT_INVALID;
		case RST_KEEP:
			/*
			 * As the kernel: the state stays for the challenge
			 * ACK, but the entry expires soon unless traffic
			 * follows, since the reset may be genuine.
			 */
			nflab_ct_refresh(ct, nflab_tcp_timeout(nn, &t, T_CL, replied));
			/* Never answered: nothing to keep, as below. */
			*kill = !replied;
			return nflab_tcp_verdict(ct, dir);
		}
	} else if (!nflab_tcp_in_window(&t, old, dir, seg, skb, off, th)) {
		return NFLAB_CT_INVALID;
	}
	t.last.seg = seg;
	t.last.dir = dir;
	t.last.flags &= ~F_IGNORED;

	memcpy(ct->proto.tcp.d, t.d, sizeof(t.d));
	ct->proto.tcp.last = t.last;
	WRITE_ONCE(ct->proto.tcp.state, new);	/* dumps read it unlocked */
	if (new == T_ES && (dir == NFLAB_DIR_REPLY || replied))
		nflab_ct_set_assured(nn, ct);
	/*
	 * A SYN retransmitted into SYN_SENT keeps its first timeout: a
	 * client (or a NAT in front of it) reusing the port must not keep
	 * the entry alive forever.
	 */
	if (!(seg == SEG_SYN && old == T_SS && new == T_SS && !replied))
		nflab_ct_refresh(ct, nflab_tcp_timeout(nn, &t, new,
						       replied || dir == NFLAB_DIR_REPLY));
	/*
	 * A reset that closes a connection never answered: the usual
	 * refusal of a SYN, nothing to keep (the kernel does the same).
	 */
	*kill = seg == SEG_RST && !replied;
	return nflab_tcp_verdict(ct, dir);
}

static enum nflab_ct_verdict nflab_tcp_packet(struct nflab_net *nn,
					      struct nflab_conn *ct,
					      const struct sk_buff *skb,
					      unsigned int off, enum nflab_dir dir,
					      bool *changed)
{
	enum nflab_ct_verdict v;
	bool kill = false;
	u8 old;

	spin_lock_bh(&ct->lock);
	old = ct->proto.tcp.state;
	v = nflab_tcp_update(nn, ct, skb, off, dir, &kill);
	*changed = ct->proto.tcp.state != old;
	spin_unlock_bh(&ct->lock);
	/* Outside ct->lock: killing takes the table's locks. */
	if (kill)
		nflab_ct_kill(ct);
	return v;
}

const struct nflab_l4proto nflab_l4proto_tcp = {
	.tuple	= nflab_tcp_tuple,
	.invert	= nflab_tcp_invert,
	.new	= nflab_tcp_new,
	.packet	= nflab_tcp_packet,
};
