// SPDX-License-Identifier: GPL-2.0
/*
 * The actions of a rule: decoding them, and what they do to a packet.
 * Which table may use which action is checked when a rule is added, so the
 * packet path only acts.
 */

#include <linux/ctype.h>
#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/netfilter_ipv4.h>
#include <net/dsfield.h>
#include <net/inet_ecn.h>
#include <net/genetlink.h>
#include <net/ip.h>
#include <net/netfilter/ipv4/nf_reject.h>
#include <net/netfilter/nf_log.h>

#include "nflab.h"
#include "rules.h"

static const struct nla_policy nflab_action_policy[NFLAB_ACTION_A_MAX + 1] = {
	[NFLAB_ACTION_A_TYPE]		= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_ACTION_MAX),
	[NFLAB_ACTION_A_CHAIN]		= { .type = NLA_NUL_STRING,
					    .len = NFLAB_NAME_MAXLEN - 1 },
	[NFLAB_ACTION_A_REJECT_WITH]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_REJECT_MAX),
	[NFLAB_ACTION_A_LOG_PREFIX]	= { .type = NLA_NUL_STRING,
					    .len = NFLAB_LOG_PREFIX_MAXLEN - 1 },
	[NFLAB_ACTION_A_VALUE]		= { .type = NLA_U32 },
	[NFLAB_ACTION_A_MASK]		= { .type = NLA_U32 },
	[NFLAB_ACTION_A_TTL_MODE]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_TTL_MAX),
	[NFLAB_ACTION_A_ADDR]		= { .type = NLA_BE32 },
	[NFLAB_ACTION_A_ADDR_END]	= { .type = NLA_BE32 },
	[NFLAB_ACTION_A_PORT_RANGE]	= { .type = NLA_U32 },
	[NFLAB_ACTION_A_NAT_FLAGS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_NAT_F_ALL),
};

#define AA(x)	BIT(NFLAB_ACTION_A_##x)
#define T(x)	BIT(NFLAB_TABLE_##x)
#define ALL	(T(RAW) | T(MANGLE) | T(FILTER) | T(NAT))
#define NAT_MAY	(AA(ADDR_END) | AA(PORT_RANGE) | AA(NAT_FLAGS))

static const struct {
	const char	*name;
	u32		need;
	u32		may;
	u32		tables;
} nflab_action_descs[NFLAB_ACTION_MAX + 1] = {
	[NFLAB_ACTION_ACCEPT]	= { "accept", 0, 0, ALL },
	[NFLAB_ACTION_DROP]	= { "drop", 0, 0, ALL },
	[NFLAB_ACTION_REJECT]	= { "reject", 0, AA(REJECT_WITH), T(FILTER) },
	[NFLAB_ACTION_LOG]	= { "log", 0, AA(LOG_PREFIX), ALL },
	[NFLAB_ACTION_CONTINUE]	= { "counter", 0, 0, ALL },
	[NFLAB_ACTION_NOTRACK]	= { "notrack", 0, 0, T(RAW) },
	[NFLAB_ACTION_MARK]	= { "mark", AA(VALUE), AA(MASK), T(MANGLE) },
	[NFLAB_ACTION_TOS]	= { "tos", AA(VALUE), 0, T(MANGLE) },
	[NFLAB_ACTION_DSCP]	= { "dscp", AA(VALUE), 0, T(MANGLE) },
	[NFLAB_ACTION_TTL]	= { "ttl", AA(VALUE) | AA(TTL_MODE), 0, T(MANGLE) },
	[NFLAB_ACTION_JUMP]	= { "jump", AA(CHAIN), 0, ALL },
	[NFLAB_ACTION_GOTO]	= { "goto", AA(CHAIN), 0, ALL },
	[NFLAB_ACTION_RETURN]	= { "return", 0, 0, ALL },
	[NFLAB_ACTION_SNAT]	= { "snat", AA(ADDR), NAT_MAY, T(NAT) },
	[NFLAB_ACTION_DNAT]	= { "dnat", 0, AA(ADDR) | NAT_MAY, T(NAT) },
	[NFLAB_ACTION_MASQUERADE] = { "masquerade", 0,
				      AA(PORT_RANGE) | AA(NAT_FLAGS), T(NAT) },
	[NFLAB_ACTION_REDIRECT]	= { "redirect", 0,
				    AA(PORT_RANGE) | AA(NAT_FLAGS), T(NAT) },
};

bool nflab_action_is_nat(u8 action)
{
	return action >= NFLAB_ACTION_SNAT && action <= NFLAB_ACTION_REDIRECT;
}

/* The name of an action, for messages. */
const char *nflab_action_name(u8 action)
{
	return action <= NFLAB_ACTION_MAX && nflab_action_descs[action].name ?
	       nflab_action_descs[action].name : "?";
}

static int nflab_action_parse(const struct nlattr *attr, struct nlattr **tb,
			      u8 table, struct netlink_ext_ack *extack)
{
	u8 type;
	int ret, i;

	ret = nla_parse_nested(tb, NFLAB_ACTION_A_MAX, attr, nflab_action_policy,
			       extack);
	if (ret)
		return ret;
	if (!tb[NFLAB_ACTION_A_TYPE]) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "action: missing type");
		return -EINVAL;
	}
	type = nla_get_u8(tb[NFLAB_ACTION_A_TYPE]);
	for (i = NFLAB_ACTION_A_TYPE + 1; i <= NFLAB_ACTION_A_MAX; i++) {
		u32 need = nflab_action_descs[type].need;

		if (tb[i] && !((need | nflab_action_descs[type].may) & BIT(i))) {
			NL_SET_ERR_MSG_ATTR(extack, tb[i],
					    "attribute not taken by this action");
			return -EINVAL;
		}
		if (!tb[i] && (need & BIT(i))) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "action: missing attribute");
			return -EINVAL;
		}
	}
	if (!(nflab_action_descs[type].tables & BIT(table))) {
		if (type == NFLAB_ACTION_REJECT)
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_TYPE],
					    "reject is for the filter table");
		else if (type == NFLAB_ACTION_NOTRACK)
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_TYPE],
					    "notrack is for the raw table");
		else if (nflab_action_is_nat(type))
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_TYPE],
					    "NAT actions are for the nat table");
		else
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_TYPE],
					    "this action is for the mangle table");
		return -EINVAL;
	}
	return 0;
}

static int nflab_nat_decode(struct nlattr **tb, const struct nlattr *attr,
			    struct nflab_nat_range *r, u8 action,
			    struct netlink_ext_ack *extack)
{
	memset(r, 0, sizeof(*r));
	if (tb[NFLAB_ACTION_A_ADDR_END] && !tb[NFLAB_ACTION_A_ADDR]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_ADDR_END],
				    "nat: an address range needs its first address");
		return -EINVAL;
	}
	if (action == NFLAB_ACTION_DNAT && !tb[NFLAB_ACTION_A_ADDR] &&
	    !tb[NFLAB_ACTION_A_PORT_RANGE]) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "dnat: needs an address or a port range");
		return -EINVAL;
	}
	if (tb[NFLAB_ACTION_A_ADDR]) {
		r->have_addr = true;
		r->addr_min = nla_get_in_addr(tb[NFLAB_ACTION_A_ADDR]);
		r->addr_max = tb[NFLAB_ACTION_A_ADDR_END] ?
			      nla_get_in_addr(tb[NFLAB_ACTION_A_ADDR_END]) :
			      r->addr_min;
		if (ntohl(r->addr_max) < ntohl(r->addr_min)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_ADDR_END],
					    "nat: the address range is backwards");
			return -EINVAL;
		}
	}
	if (tb[NFLAB_ACTION_A_PORT_RANGE]) {
		u32 v = nla_get_u32(tb[NFLAB_ACTION_A_PORT_RANGE]);

		r->port_min = v >> 16;
		r->port_max = v & 0xffff;
		if (!r->port_min || !r->port_max) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_PORT_RANGE],
					    "nat: ports are 1 to 65535");
			return -ERANGE;
		}
		if (r->port_min > r->port_max) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_PORT_RANGE],
					    "nat: the port range is backwards");
			return -EINVAL;
		}
	}
	if (tb[NFLAB_ACTION_A_NAT_FLAGS])
		r->flags = nla_get_u32(tb[NFLAB_ACTION_A_NAT_FLAGS]);
	if ((r->flags & NFLAB_NAT_F_FULLCONE) && action != NFLAB_ACTION_SNAT &&
	    action != NFLAB_ACTION_MASQUERADE) {
		NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_NAT_FLAGS],
				    "nat: fullcone is for snat and masquerade");
		return -EINVAL;
	}
	return 0;
}

/* Decode an action into a compiled rule (jump targets resolved later). */
int nflab_action_decode(const struct nlattr *attr, struct nflab_rule_c *rc,
			u8 table, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NFLAB_ACTION_A_MAX + 1];
	int ret;

	ret = nflab_action_parse(attr, tb, table, extack);
	if (ret)
		return ret;
	rc->action = nla_get_u8(tb[NFLAB_ACTION_A_TYPE]);
	rc->value = tb[NFLAB_ACTION_A_VALUE] ?
		    nla_get_u32(tb[NFLAB_ACTION_A_VALUE]) : 0;
	rc->mask = tb[NFLAB_ACTION_A_MASK] ?
		   nla_get_u32(tb[NFLAB_ACTION_A_MASK]) : ~0U;
	rc->reject_with = tb[NFLAB_ACTION_A_REJECT_WITH] ?
			  nla_get_u8(tb[NFLAB_ACTION_A_REJECT_WITH]) :
			  NFLAB_REJECT_PORT_UNREACH;
	rc->ttl_mode = tb[NFLAB_ACTION_A_TTL_MODE] ?
		       nla_get_u8(tb[NFLAB_ACTION_A_TTL_MODE]) : 0;
	rc->log_prefix = tb[NFLAB_ACTION_A_LOG_PREFIX] ?
			 nla_data(tb[NFLAB_ACTION_A_LOG_PREFIX]) : "";

	switch (rc->action) {
	case NFLAB_ACTION_MARK:
		if (rc->value & ~rc->mask) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_VALUE],
					    "mark: value has bits outside its mask");
			return -EINVAL;
		}
		break;
	case NFLAB_ACTION_TOS:
		if (rc->value > 255) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_VALUE],
					    "tos: 0 to 255");
			return -ERANGE;
		}
		break;
	case NFLAB_ACTION_DSCP:
		if (rc->value > 63) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_VALUE],
					    "dscp: 0 to 63");
			return -ERANGE;
		}
		break;
	case NFLAB_ACTION_TTL:
		if (rc->value < 1 || rc->value > 255) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_VALUE],
					    "ttl: 1 to 255");
			return -ERANGE;
		}
		break;
	case NFLAB_ACTION_SNAT:
	case NFLAB_ACTION_DNAT:
	case NFLAB_ACTION_MASQUERADE:
	case NFLAB_ACTION_REDIRECT:
		return nflab_nat_decode(tb, attr, &rc->nat, rc->action, extack);
	case NFLAB_ACTION_LOG: {
		const char *c;

		/* The prefix goes to the kernel log as it is: no escapes. */
		for (c = rc->log_prefix; *c; c++) {
			if (!isprint(*c)) {
				NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_ACTION_A_LOG_PREFIX],
						    "log: the prefix holds an unprintable byte");
				return -EINVAL;
			}
		}
		break;
	}
	}
	return 0;
}

/* The chain a JUMP or GOTO names, or NULL. */
const char *nflab_action_chain(const struct nlattr *attr, u8 *type)
{
	struct nlattr *tb[NFLAB_ACTION_A_MAX + 1];

	if (nla_parse_nested(tb, NFLAB_ACTION_A_MAX, attr, nflab_action_policy,
			     NULL) || !tb[NFLAB_ACTION_A_TYPE])
		return NULL;
	*type = nla_get_u8(tb[NFLAB_ACTION_A_TYPE]);
	if (!tb[NFLAB_ACTION_A_CHAIN])
		return NULL;
	return nla_data(tb[NFLAB_ACTION_A_CHAIN]);
}

static const u8 nflab_icmp_codes[NFLAB_REJECT_MAX + 1] = {
	[NFLAB_REJECT_NET_UNREACH]	= ICMP_NET_UNREACH,
	[NFLAB_REJECT_HOST_UNREACH]	= ICMP_HOST_UNREACH,
	[NFLAB_REJECT_PROTO_UNREACH]	= ICMP_PROT_UNREACH,
	[NFLAB_REJECT_PORT_UNREACH]	= ICMP_PORT_UNREACH,
	[NFLAB_REJECT_NET_PROHIBITED]	= ICMP_NET_ANO,
	[NFLAB_REJECT_HOST_PROHIBITED]	= ICMP_HOST_ANO,
	[NFLAB_REJECT_ADMIN_PROHIBITED]	= ICMP_PKT_FILTERED,
};

static void nflab_action_reject(const struct nflab_rule_c *rc,
				struct nflab_pkt *p)
{
	const struct nf_hook_state *st = p->state;

	if (rc->reject_with == NFLAB_REJECT_TCP_RESET) {
		/* nf_send_reset() answers TCP only, and never a RST. */
		if (p->proto == IPPROTO_TCP)
			nf_send_reset(st->net, st->sk, p->skb, st->hook);
		return;
	}
	nf_send_unreach(p->skb, nflab_icmp_codes[rc->reject_with], st->hook);
}

static void nflab_action_log(const struct nflab_rule_c *rc,
			     struct nflab_pkt *p)
{
	const struct nf_hook_state *st = p->state;

	/*
	 * As the kernel's LOG: other namespaces than the first log only if
	 * net.netfilter.nf_log_all_netns says so, and a flood cannot flood
	 * the log (a limit of the rule's own).
	 */
	if (!net_eq(st->net, &init_net) && !READ_ONCE(sysctl_nf_log_all_netns))
		return;
	if (!__ratelimit(&rc->rule->log_rs))
		return;
	if ((p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) &&
	    nflab_pkt_l4(p))
		pr_info("%sIN=%s OUT=%s SRC=%pI4 DST=%pI4 LEN=%u PROTO=%u SPT=%u DPT=%u MARK=0x%x\n",
			rc->log_prefix, st->in ? st->in->name : "",
			st->out ? st->out->name : "", &p->saddr, &p->daddr,
			p->len, p->proto, ntohs(p->sport), ntohs(p->dport),
			p->skb->mark);
	else
		pr_info("%sIN=%s OUT=%s SRC=%pI4 DST=%pI4 LEN=%u PROTO=%u MARK=0x%x\n",
			rc->log_prefix, st->in ? st->in->name : "",
			st->out ? st->out->name : "", &p->saddr, &p->daddr,
			p->len, p->proto, p->skb->mark);
}

static unsigned int nflab_action_dsfield(struct nflab_pkt *p, u8 mask, u8 value)
{
	struct iphdr *iph;

	if (skb_ensure_writable(p->skb, sizeof(struct iphdr)))
		return NF_DROP;
	iph = ip_hdr(p->skb);
	ipv4_change_dsfield(iph, mask, value);
	return NF_ACCEPT;
}

static unsigned int nflab_action_ttl(const struct nflab_rule_c *rc,
				     struct nflab_pkt *p)
{
	struct iphdr *iph;
	unsigned int ttl;

	if (skb_ensure_writable(p->skb, sizeof(struct iphdr)))
		return NF_DROP;
	iph = ip_hdr(p->skb);
	switch (rc->ttl_mode) {
	case NFLAB_TTL_INC:
		ttl = min(iph->ttl + rc->value, 255U);
		break;
	case NFLAB_TTL_DEC:
		ttl = iph->ttl > rc->value ? iph->ttl - rc->value : 0;
		break;
	default:
		ttl = rc->value;
	}
	csum_replace2(&iph->check, htons(iph->ttl << 8), htons(ttl << 8));
	iph->ttl = ttl;
	return NF_ACCEPT;
}

/*
 * Do what a matched rule's action does to the packet. Returns NF_ACCEPT or
 * NF_DROP for those, NF_REPEAT for "go on with the next rule" (the flow
 * actions JUMP, GOTO and RETURN are the caller's).
 */
unsigned int nflab_action_packet(const struct nflab_rule_c *rc,
				 struct nflab_pkt *p)
{
	switch (rc->action) {
	case NFLAB_ACTION_ACCEPT:
		return NF_ACCEPT;
	case NFLAB_ACTION_DROP:
		return NF_DROP;
	case NFLAB_ACTION_REJECT:
		nflab_action_reject(rc, p);
		return NF_DROP;
	case NFLAB_ACTION_LOG:
		nflab_action_log(rc, p);
		break;
	case NFLAB_ACTION_NOTRACK:
		p->notrack = true;
		break;
	case NFLAB_ACTION_MARK:
		p->skb->mark = (p->skb->mark & ~rc->mask) | rc->value;
		break;
	case NFLAB_ACTION_TOS:
		if (nflab_action_dsfield(p, 0, rc->value) != NF_ACCEPT)
			return NF_DROP;
		break;
	case NFLAB_ACTION_DSCP:
		if (nflab_action_dsfield(p, INET_ECN_MASK,
					 rc->value << 2) != NF_ACCEPT)
			return NF_DROP;
		break;
	case NFLAB_ACTION_TTL:
		if (nflab_action_ttl(rc, p) != NF_ACCEPT)
			return NF_DROP;
		break;
	case NFLAB_ACTION_SNAT:
	case NFLAB_ACTION_DNAT:
	case NFLAB_ACTION_MASQUERADE:
	case NFLAB_ACTION_REDIRECT:
		/* The NAT hook binds the connection; the chain ends here. */
		p->nat = rc;
		return NF_ACCEPT;
	}
	return NF_REPEAT;
}
