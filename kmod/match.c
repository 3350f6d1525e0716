// SPDX-License-Identifier: GPL-2.0
/*
 * The matches of a rule: decoding them from netlink (checked when a rule
 * is added, decoded again for every compiled ruleset) and evaluating them
 * on the packet path, where they take no lock and allocate nothing. The
 * stateful ones (quota, nth, limit) keep their state in the rule, in
 * atomics updated without a lock.
 */

#include <linux/icmp.h>
#include <linux/ip.h>
#include <linux/ktime.h>
#include <linux/netdevice.h>
#include <linux/tcp.h>
#include <linux/time.h>
#include <linux/udp.h>
#include <net/genetlink.h>
#include <net/tcp.h>

#include "nflab.h"
#include "rules.h"

#define A(x)	BIT_ULL(NFLAB_MATCH_A_##x)

/* Not const: 6.1's NLA_POLICY_FULL_RANGE takes a plain pointer. */
static struct netlink_range_validation nflab_u16_range = { .max = 65535 };
static struct netlink_range_validation nflab_tod_range = { .max = 86399 };
static struct netlink_range_validation nflab_burst_range = { .min = 1, .max = 1000000 };

/* Types and ranges; which attributes each match takes is below. */
static const struct nla_policy nflab_match_policy[NFLAB_MATCH_A_MAX + 1] = {
	[NFLAB_MATCH_A_INVERT]		= { .type = NLA_FLAG },
	[NFLAB_MATCH_A_IFNAME]		= { .type = NLA_NUL_STRING, .len = IFNAMSIZ - 1 },
	[NFLAB_MATCH_A_ADDR]		= { .type = NLA_BE32 },
	[NFLAB_MATCH_A_ADDR_END]	= { .type = NLA_BE32 },
	[NFLAB_MATCH_A_PREFIX_LEN]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_MATCH_A_PROTO]		= { .type = NLA_U8 },
	[NFLAB_MATCH_A_PORT_RANGE]	= { .type = NLA_U32 },
	[NFLAB_MATCH_A_VALUE]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_MASK]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_ICMP_TYPE]	= { .type = NLA_U8 },
	[NFLAB_MATCH_A_ICMP_CODE]	= { .type = NLA_U8 },
	[NFLAB_MATCH_A_LEN_MIN]		= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_u16_range),
	[NFLAB_MATCH_A_LEN_MAX]		= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_u16_range),
	[NFLAB_MATCH_A_PATTERN]		= NLA_POLICY_RANGE(NLA_BINARY, 1, NFLAB_STRING_MAXLEN),
	[NFLAB_MATCH_A_ALGO]		= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_STRING_ALGO_MAX),
	[NFLAB_MATCH_A_FROM]		= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_u16_range),
	[NFLAB_MATCH_A_TO]		= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_u16_range),
	[NFLAB_MATCH_A_COUNT]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_FLAGS]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_BYTES]		= { .type = NLA_U64 },
	[NFLAB_MATCH_A_EVERY]		= NLA_POLICY_MIN(NLA_U32, 1),
	[NFLAB_MATCH_A_OFFSET]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_TOD_START]	= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_tod_range),
	[NFLAB_MATCH_A_TOD_STOP]	= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_tod_range),
	[NFLAB_MATCH_A_WEEKDAYS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_WEEKDAY_ALL),
	[NFLAB_MATCH_A_DATE_START]	= { .type = NLA_U64 },
	[NFLAB_MATCH_A_DATE_STOP]	= { .type = NLA_U64 },
	[NFLAB_MATCH_A_RATE]		= NLA_POLICY_MIN(NLA_U32, 1),
	[NFLAB_MATCH_A_PERIOD]		= { .type = NLA_U32 },
	[NFLAB_MATCH_A_BURST]		= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_burst_range),
	[NFLAB_MATCH_A_SET_NAME]	= { .type = NLA_NUL_STRING, .len = NFLAB_NAME_MAXLEN - 1 },
	[NFLAB_MATCH_A_SET_FIELD]	= NLA_POLICY_RANGE(NLA_U8, 1, NFLAB_SET_FIELD_MAX),
};

struct nflab_match_desc {
	const char	*name;
	u64		need;		/* attributes it requires */
	u64		may;		/* and those it also takes */
};

static const struct nflab_match_desc nflab_match_descs[NFLAB_MATCH_MAX + 1] = {
	[NFLAB_MATCH_IIF]	= { "iif", A(IFNAME), A(INVERT) },
	[NFLAB_MATCH_OIF]	= { "oif", A(IFNAME), A(INVERT) },
	[NFLAB_MATCH_SADDR]	= { "saddr", A(ADDR) | A(PREFIX_LEN), A(INVERT) },
	[NFLAB_MATCH_DADDR]	= { "daddr", A(ADDR) | A(PREFIX_LEN), A(INVERT) },
	[NFLAB_MATCH_SRANGE]	= { "srange", A(ADDR) | A(ADDR_END), A(INVERT) },
	[NFLAB_MATCH_DRANGE]	= { "drange", A(ADDR) | A(ADDR_END), A(INVERT) },
	[NFLAB_MATCH_PROTO]	= { "proto", A(PROTO), A(INVERT) },
	[NFLAB_MATCH_SPORT]	= { "sport", A(PORT_RANGE), A(INVERT) },
	[NFLAB_MATCH_DPORT]	= { "dport", A(PORT_RANGE), A(INVERT) },
	[NFLAB_MATCH_TCP_FLAGS]	= { "tcp flags", A(VALUE) | A(MASK), A(INVERT) },
	[NFLAB_MATCH_ICMP]	= { "icmp", A(ICMP_TYPE), A(ICMP_CODE) | A(INVERT) },
	[NFLAB_MATCH_LENGTH]	= { "length", A(LEN_MIN) | A(LEN_MAX), A(INVERT) },
	[NFLAB_MATCH_CT_STATE]	= { "ct state", A(VALUE), A(INVERT) },
	[NFLAB_MATCH_CT_STATUS]	= { "ct status", A(VALUE), A(INVERT) },
	[NFLAB_MATCH_STRING]	= { "string", A(PATTERN) | A(ALGO),
				    A(FROM) | A(TO) | A(INVERT) },
	[NFLAB_MATCH_CONNLIMIT]	= { "connlimit", A(COUNT), A(PREFIX_LEN) | A(FLAGS) },
	[NFLAB_MATCH_QUOTA]	= { "quota", A(BYTES), A(INVERT) },
	[NFLAB_MATCH_NTH]	= { "nth", A(EVERY), A(OFFSET) },
	[NFLAB_MATCH_TIME]	= { "time", 0, A(TOD_START) | A(TOD_STOP) |
				    A(WEEKDAYS) | A(DATE_START) | A(DATE_STOP) |
				    A(FLAGS) | A(INVERT) },
	[NFLAB_MATCH_LIMIT]	= { "limit", A(RATE) | A(PERIOD), A(BURST) | A(INVERT) },
	[NFLAB_MATCH_MARK]	= { "mark", A(VALUE), A(MASK) | A(INVERT) },
	[NFLAB_MATCH_SET]	= { "set", A(SET_NAME) | A(SET_FIELD), A(INVERT) },
};

static int nflab_match_parse(const struct nlattr *attr,
			     struct nlattr **tb, struct netlink_ext_ack *extack)
{
	unsigned int kind = nla_type(attr);
	const struct nflab_match_desc *d;
	const struct nlattr *a;
	int ret, i, rem;
	u64 seen = 0;

	if (kind < 1 || kind > NFLAB_MATCH_MAX || !nflab_match_descs[kind].name) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "unknown match");
		return -EOPNOTSUPP;
	}
	d = &nflab_match_descs[kind];
	ret = nla_parse_nested(tb, NFLAB_MATCH_A_MAX, attr, nflab_match_policy,
			       extack);
	if (ret)
		return ret;
	/* nla_parse keeps the last of repeated attributes: refuse them. */
	nla_for_each_nested(a, attr, rem) {
		if (nla_type(a) == NFLAB_MATCH_A_PORT_RANGE)
			continue;
		if (seen & BIT_ULL(nla_type(a))) {
			NL_SET_ERR_MSG_ATTR(extack, a, "attribute given twice");
			return -EINVAL;
		}
		seen |= BIT_ULL(nla_type(a));
	}
	for (i = 1; i <= NFLAB_MATCH_A_MAX; i++) {
		if (tb[i] && !((d->need | d->may) & BIT_ULL(i))) {
			NL_SET_ERR_MSG_ATTR(extack, tb[i],
					    "attribute not taken by this match");
			return -EINVAL;
		}
		if (!tb[i] && (d->need & BIT_ULL(i))) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "match lacks a required attribute");
			return -EINVAL;
		}
	}
	return 0;
}

static int nflab_match_ports(const struct nlattr *attr, struct nflab_match_c *m,
			     struct netlink_ext_ack *extack)
{
	const struct nlattr *a;
	int rem;

	m->ports.n = 0;
	nla_for_each_nested(a, attr, rem) {
		u32 v;

		if (nla_type(a) != NFLAB_MATCH_A_PORT_RANGE)
			continue;
		v = nla_get_u32(a);
		if (m->ports.n == NFLAB_PORTS_MAX) {
			NL_SET_ERR_MSG_ATTR(extack, a, "too many port ranges");
			return -E2BIG;
		}
		if ((v >> 16) > (v & 0xffff)) {
			NL_SET_ERR_MSG_ATTR(extack, a, "port range: first above last");
			return -EINVAL;
		}
		m->ports.r[m->ports.n].first = v >> 16;
		m->ports.r[m->ports.n].last = v & 0xffff;
		m->ports.n++;
	}
	return 0;
}

static const char *const nflab_ts_algo[] = {
	[NFLAB_STRING_ALGO_BM]	= "bm",
	[NFLAB_STRING_ALGO_KMP]	= "kmp",
};

/*
 * Decode one match for the packet path, checking what the policy cannot.
 * st is the rule's state slot for it (NULL when only checking).
 */
int nflab_match_decode(const struct nlattr *attr, struct nflab_match_c *m,
		       struct nflab_mstate *st, u8 table,
		       struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NFLAB_MATCH_A_MAX + 1];
	int ret;

	ret = nflab_match_parse(attr, tb, extack);
	if (ret)
		return ret;
	memset(m, 0, sizeof(*m));
	m->kind = nla_type(attr);
	m->invert = nla_get_flag(tb[NFLAB_MATCH_A_INVERT]);

	switch (m->kind) {
	case NFLAB_MATCH_IIF:
	case NFLAB_MATCH_OIF: {
		const char *name = nla_data(tb[NFLAB_MATCH_A_IFNAME]);
		size_t len = strlen(name);

		if (!len) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_IFNAME],
					    "empty interface name");
			return -EINVAL;
		}
		strscpy(m->ifc.name, name, IFNAMSIZ);
		/* "eth+" compares 3 bytes; "eth0" all of IFNAMSIZ. */
		if (name[len - 1] == '+') {
			m->ifc.len = len - 1;
			m->ifc.name[len - 1] = '\0';
		} else {
			m->ifc.len = IFNAMSIZ;
		}
		break;
	}
	case NFLAB_MATCH_SADDR:
	case NFLAB_MATCH_DADDR: {
		u8 plen = nla_get_u8(tb[NFLAB_MATCH_A_PREFIX_LEN]);

		m->pfx.addr = nla_get_be32(tb[NFLAB_MATCH_A_ADDR]);
		m->pfx.mask = plen ? htonl(~0U << (32 - plen)) : 0;
		if (m->pfx.addr & ~m->pfx.mask) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_ADDR],
					    "address has bits outside its prefix");
			return -EINVAL;
		}
		break;
	}
	case NFLAB_MATCH_SRANGE:
	case NFLAB_MATCH_DRANGE:
		m->range.first = ntohl(nla_get_be32(tb[NFLAB_MATCH_A_ADDR]));
		m->range.last = ntohl(nla_get_be32(tb[NFLAB_MATCH_A_ADDR_END]));
		if (m->range.first > m->range.last) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_ADDR_END],
					    "range ends before it starts");
			return -EINVAL;
		}
		break;
	case NFLAB_MATCH_PROTO:
		m->proto = nla_get_u8(tb[NFLAB_MATCH_A_PROTO]);
		break;
	case NFLAB_MATCH_SPORT:
	case NFLAB_MATCH_DPORT:
		return nflab_match_ports(attr, m, extack);
	case NFLAB_MATCH_TCP_FLAGS:
	case NFLAB_MATCH_MARK:
		m->vm.value = nla_get_u32(tb[NFLAB_MATCH_A_VALUE]);
		m->vm.mask = tb[NFLAB_MATCH_A_MASK] ?
			     nla_get_u32(tb[NFLAB_MATCH_A_MASK]) : ~0U;
		if (m->kind == NFLAB_MATCH_TCP_FLAGS &&
		    (m->vm.mask > 0xff || m->vm.value & ~m->vm.mask)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_VALUE],
					    "tcp flags: 8 bits, value within mask");
			return -EINVAL;
		}
		if (m->vm.value & ~m->vm.mask) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_VALUE],
					    "value has bits outside its mask");
			return -EINVAL;
		}
		break;
	case NFLAB_MATCH_CT_STATE:
	case NFLAB_MATCH_CT_STATUS: {
		u32 all = m->kind == NFLAB_MATCH_CT_STATE ? NFLAB_CT_STATE_ALL :
			  NFLAB_CT_STATUS_ALL;

		if (table == NFLAB_TABLE_RAW) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "ct matches cannot be used in the raw table: it runs before tracking");
			return -EINVAL;
		}
		m->vm.value = nla_get_u32(tb[NFLAB_MATCH_A_VALUE]);
		if (!m->vm.value || m->vm.value & ~all) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_VALUE],
					    "unknown or no state bits");
			return -EINVAL;
		}
		break;
	}
	case NFLAB_MATCH_ICMP:
		m->icmp.type = nla_get_u8(tb[NFLAB_MATCH_A_ICMP_TYPE]);
		m->icmp.has_code = tb[NFLAB_MATCH_A_ICMP_CODE];
		if (m->icmp.has_code)
			m->icmp.code = nla_get_u8(tb[NFLAB_MATCH_A_ICMP_CODE]);
		break;
	case NFLAB_MATCH_LENGTH:
		m->len.min = nla_get_u32(tb[NFLAB_MATCH_A_LEN_MIN]);
		m->len.max = nla_get_u32(tb[NFLAB_MATCH_A_LEN_MAX]);
		if (m->len.min > m->len.max) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_LEN_MAX],
					    "length: max below min");
			return -EINVAL;
		}
		break;
	case NFLAB_MATCH_STRING:
		m->str.from = tb[NFLAB_MATCH_A_FROM] ?
			      nla_get_u32(tb[NFLAB_MATCH_A_FROM]) : 0;
		m->str.to = tb[NFLAB_MATCH_A_TO] ?
			    nla_get_u32(tb[NFLAB_MATCH_A_TO]) : 65535;
		if (m->str.from > m->str.to) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_TO],
					    "string: window ends before it starts");
			return -EINVAL;
		}
		m->str.ts = st ? st->ts : NULL;
		break;
	case NFLAB_MATCH_QUOTA:
		m->quota.bytes = nla_get_u64(tb[NFLAB_MATCH_A_BYTES]);
		m->quota.used = st ? &st->v : NULL;
		break;
	case NFLAB_MATCH_NTH:
		m->nth.every = nla_get_u32(tb[NFLAB_MATCH_A_EVERY]);
		m->nth.offset = tb[NFLAB_MATCH_A_OFFSET] ?
				nla_get_u32(tb[NFLAB_MATCH_A_OFFSET]) : 0;
		if (m->nth.offset >= m->nth.every) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_OFFSET],
					    "nth: offset must be below every");
			return -EINVAL;
		}
		m->nth.n = st ? &st->v : NULL;
		break;
	case NFLAB_MATCH_TIME: {
		u32 flags = tb[NFLAB_MATCH_A_FLAGS] ?
			    nla_get_u32(tb[NFLAB_MATCH_A_FLAGS]) : 0;

		if (flags & ~NFLAB_TIME_F_LOCALTIME) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_FLAGS],
					    "time: unknown flags");
			return -EINVAL;
		}
		if (!tb[NFLAB_MATCH_A_TOD_START] != !tb[NFLAB_MATCH_A_TOD_STOP]) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "time: a time of day needs a start and a stop");
			return -EINVAL;
		}
		m->time.local = flags & NFLAB_TIME_F_LOCALTIME;
		m->time.has_tod = tb[NFLAB_MATCH_A_TOD_START];
		if (m->time.has_tod) {
			m->time.tod_start = nla_get_u32(tb[NFLAB_MATCH_A_TOD_START]);
			m->time.tod_stop = nla_get_u32(tb[NFLAB_MATCH_A_TOD_STOP]);
		}
		m->time.weekdays = tb[NFLAB_MATCH_A_WEEKDAYS] ?
				   nla_get_u32(tb[NFLAB_MATCH_A_WEEKDAYS]) :
				   NFLAB_WEEKDAY_ALL;
		if (!m->time.weekdays) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_WEEKDAYS],
					    "time: no weekday");
			return -EINVAL;
		}
		m->time.date_start = tb[NFLAB_MATCH_A_DATE_START] ?
				     nla_get_u64(tb[NFLAB_MATCH_A_DATE_START]) : 0;
		m->time.date_stop = tb[NFLAB_MATCH_A_DATE_STOP] ?
				    nla_get_u64(tb[NFLAB_MATCH_A_DATE_STOP]) : U64_MAX;
		if (m->time.date_start > m->time.date_stop) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_DATE_STOP],
					    "time: dates end before they start");
			return -EINVAL;
		}
		break;
	}
	case NFLAB_MATCH_LIMIT: {
		u32 rate = nla_get_u32(tb[NFLAB_MATCH_A_RATE]);
		u32 period = nla_get_u32(tb[NFLAB_MATCH_A_PERIOD]);
		u32 burst = tb[NFLAB_MATCH_A_BURST] ?
			    nla_get_u32(tb[NFLAB_MATCH_A_BURST]) : 5;

		if (period != 1 && period != 60 && period != 3600 && period != 86400) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_PERIOD],
					    "limit: period must be 1, 60, 3600 or 86400 seconds");
			return -EINVAL;
		}
		m->limit.interval = div_u64((u64)period * NSEC_PER_SEC, rate);
		if (!m->limit.interval) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_RATE],
					    "limit: rate too high");
			return -ERANGE;
		}
		if (check_mul_overflow(m->limit.interval, (u64)burst - 1,
				       &m->limit.slack)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_BURST],
					    "limit: burst too large for this rate");
			return -ERANGE;
		}
		m->limit.tat = st ? &st->v : NULL;
		break;
	}
	case NFLAB_MATCH_CONNLIMIT: {
		u8 plen = tb[NFLAB_MATCH_A_PREFIX_LEN] ?
			  nla_get_u8(tb[NFLAB_MATCH_A_PREFIX_LEN]) : 32;
		u32 flags = tb[NFLAB_MATCH_A_FLAGS] ?
			    nla_get_u32(tb[NFLAB_MATCH_A_FLAGS]) : 0;

		if (table == NFLAB_TABLE_RAW) {
			NL_SET_ERR_MSG_ATTR(extack, attr,
					    "connlimit cannot be used in the raw table: it runs before tracking");
			return -EINVAL;
		}
		if (flags & ~NFLAB_CONNLIMIT_F_UPTO) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_FLAGS],
					    "connlimit: unknown flags");
			return -EINVAL;
		}
		m->connlimit.mask = plen ? htonl(~0U << (32 - plen)) : 0;
		m->connlimit.count = nla_get_u32(tb[NFLAB_MATCH_A_COUNT]);
		if (m->connlimit.count >= NFLAB_CL_NODES) {
			NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_MATCH_A_COUNT],
					    "connlimit: at most 65535");
			return -ERANGE;
		}
		m->connlimit.upto = flags & NFLAB_CONNLIMIT_F_UPTO;
		m->connlimit.cl = st ? st->cl : NULL;
		break;
	}
	case NFLAB_MATCH_SET:
		m->set.field = nla_get_u8(tb[NFLAB_MATCH_A_SET_FIELD]);
		/* The set itself is resolved when the ruleset is compiled. */
		break;
	}
	return 0;
}

/* The set a set match names, and the field it looks up. */
const char *nflab_match_set_name(const struct nlattr *attr, u8 *field)
{
	struct nlattr *tb[NFLAB_MATCH_A_MAX + 1];

	if (nla_type(attr) != NFLAB_MATCH_SET ||
	    nflab_match_parse(attr, tb, NULL))
		return NULL;
	*field = nla_get_u8(tb[NFLAB_MATCH_A_SET_FIELD]);
	return nla_data(tb[NFLAB_MATCH_A_SET_NAME]);
}

/* A new rule's state for this match: process context. */
int nflab_match_init_state(const struct nlattr *attr, struct nflab_mstate *st)
{
	struct nlattr *tb[NFLAB_MATCH_A_MAX + 1];
	struct ts_config *ts;

	atomic64_set(&st->v, 0);
	if (nla_type(attr) == NFLAB_MATCH_CONNLIMIT) {
		st->cl = nflab_connlimit_alloc();
		return st->cl ? 0 : -ENOMEM;
	}
	if (nla_type(attr) != NFLAB_MATCH_STRING)
		return 0;
	if (nflab_match_parse(attr, tb, NULL))
		return -EINVAL;
	ts = textsearch_prepare(nflab_ts_algo[nla_get_u8(tb[NFLAB_MATCH_A_ALGO])],
				nla_data(tb[NFLAB_MATCH_A_PATTERN]),
				nla_len(tb[NFLAB_MATCH_A_PATTERN]),
				GFP_KERNEL, TS_AUTOLOAD);
	if (IS_ERR(ts))
		return PTR_ERR(ts);
	st->ts = ts;
	return 0;
}

int nflab_match_put_state(struct sk_buff *msg, const struct nlattr *attr,
			  const struct nflab_mstate *st)
{
	if (nla_type(attr) == NFLAB_MATCH_QUOTA)
		return nla_put_u64_64bit(msg, NFLAB_RULE_STATE_A_QUOTA_USED,
					 atomic64_read(&st->v),
					 NFLAB_RULE_STATE_A_PAD);
	return 0;
}

/* Ports, TCP flags, ICMP type and code: read once per packet, if asked. */
bool nflab_pkt_l4(struct nflab_pkt *p)
{
	const struct sk_buff *skb = p->skb;

	if (p->l4_done)
		return p->l4_ok;
	p->l4_done = true;
	switch (p->proto) {
	case IPPROTO_TCP: {
		const struct tcphdr *th;
		struct tcphdr _th;

		th = skb_header_pointer(skb, p->thoff, sizeof(_th), &_th);
		if (!th)
			return false;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = tcp_flag_byte(th);
		break;
	}
	case IPPROTO_UDP: {
		const struct udphdr *uh;
		struct udphdr _uh;

		uh = skb_header_pointer(skb, p->thoff, sizeof(_uh), &_uh);
		if (!uh)
			return false;
		p->sport = uh->source;
		p->dport = uh->dest;
		break;
	}
	case IPPROTO_ICMP: {
		const struct icmphdr *ih;
		struct icmphdr _ih;

		ih = skb_header_pointer(skb, p->thoff, 2, &_ih);
		if (!ih)
			return false;
		p->icmp_type = ih->type;
		p->icmp_code = ih->code;
		break;
	}
	default:
		return false;
	}
	p->l4_ok = true;
	return true;
}

/* The packet's ct state and status, read once. */
static void nflab_pkt_ct(struct nflab_pkt *p)
{
	if (p->ct_done)
		return;
	p->ct_state = nflab_ct_pkt_state(p->state->net, p->skb, &p->ct_status);
	p->ct_done = true;
}

static bool nflab_match_ifname(const struct nflab_match_c *m,
			       const struct net_device *dev)
{
	if (!dev)
		return false;
	if (m->ifc.len == IFNAMSIZ)
		return !strncmp(dev->name, m->ifc.name, IFNAMSIZ);
	return !memcmp(dev->name, m->ifc.name, m->ifc.len);
}

static bool nflab_match_port(const struct nflab_match_c *m, __be16 port)
{
	u16 v = ntohs(port);
	unsigned int i;

	/* At most NFLAB_PORTS_MAX ranges. */
	for (i = 0; i < m->ports.n; i++)
		if (v >= m->ports.r[i].first && v <= m->ports.r[i].last)
			return true;
	return false;
}

static bool nflab_match_time(const struct nflab_match_c *m)
{
	time64_t now = ktime_get_real_seconds();
	u64 days;
	u32 tod;

	if (m->time.local)
		now -= sys_tz.tz_minuteswest * 60;
	if (now < 0 || (u64)now < m->time.date_start ||
	    (u64)now > m->time.date_stop)
		return false;
	days = div_u64_rem(now, 86400, &tod);
	/* 1 January 1970 was a Thursday: weekday 3 counting from Monday. */
	if (!(m->time.weekdays & BIT((days + 3) % 7)))
		return false;
	if (!m->time.has_tod)
		return true;
	if (m->time.tod_start <= m->time.tod_stop)
		return tod >= m->time.tod_start && tod <= m->time.tod_stop;
	return tod >= m->time.tod_start || tod <= m->time.tod_stop;
}

/*
 * Generic cell rate algorithm, lock-free: a packet conforms while the
 * theoretical arrival time is at most slack ahead of now, and moves it one
 * interval on. A lost race retries.
 */
static bool nflab_match_limit(const struct nflab_match_c *m)
{
	u64 now = ktime_get_mono_fast_ns();
	int tries;

	/*
	 * Each failed exchange means another CPU took a token; after 64 in
	 * a row the bucket is contended beyond any rate worth limiting.
	 */
	for (tries = 0; tries < 64; tries++) {
		s64 old = atomic64_read(m->limit.tat);
		u64 tat = max_t(u64, old, now);

		if (tat - now > m->limit.slack)
			return false;
		if (atomic64_try_cmpxchg(m->limit.tat, &old, tat + m->limit.interval))
			return true;
	}
	return false;
}

/*
 * As xt_quota: a packet that fits what is left uses it and matches; one
 * that does not spends the rest and does not. Lock-free; a lost race
 * retries (another CPU used some of the quota meanwhile).
 */
static bool nflab_match_quota(const struct nflab_match_c *m, unsigned int len)
{
	s64 used = atomic64_read(m->quota.used);
	int tries;

	for (tries = 0; tries < 64; tries++) {
		bool fits = (u64)used + len <= m->quota.bytes;

		if ((u64)used >= m->quota.bytes)
			return false;
		if (atomic64_try_cmpxchg(m->quota.used, &used,
					 fits ? used + len : m->quota.bytes))
			return fits;
	}
	return false;
}

static bool nflab_match_nth(const struct nflab_match_c *m)
{
	u64 n = atomic64_inc_return(m->nth.n) - 1;

	return do_div(n, m->nth.every) == m->nth.offset;
}

static bool nflab_match_set(const struct nflab_match_c *m, struct nflab_pkt *p)
{
	u32 key;

	switch (m->set.field) {
	case NFLAB_SET_FIELD_SADDR:
		key = ntohl(p->saddr);
		break;
	case NFLAB_SET_FIELD_DADDR:
		key = ntohl(p->daddr);
		break;
	case NFLAB_SET_FIELD_SPORT:
	case NFLAB_SET_FIELD_DPORT:
		if ((p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) ||
		    !nflab_pkt_l4(p))
			return false;
		key = ntohs(m->set.field == NFLAB_SET_FIELD_SPORT ?
			    p->sport : p->dport);
		break;
	default:
		return false;
	}
	return nflab_set_lookup(m->set.data, key);
}

/*
 * Does the match hold? Matches on fields a packet does not have (ports of
 * an ICMP packet) do not hold, inverted or not, as iptables' and nft's.
 */
bool nflab_match(const struct nflab_match_c *m, struct nflab_pkt *p)
{
	bool r;

	switch (m->kind) {
	case NFLAB_MATCH_IIF:
		r = nflab_match_ifname(m, p->state->in);
		break;
	case NFLAB_MATCH_OIF:
		r = nflab_match_ifname(m, p->state->out);
		break;
	case NFLAB_MATCH_SADDR:
		r = (p->saddr & m->pfx.mask) == m->pfx.addr;
		break;
	case NFLAB_MATCH_DADDR:
		r = (p->daddr & m->pfx.mask) == m->pfx.addr;
		break;
	case NFLAB_MATCH_SRANGE:
		r = ntohl(p->saddr) >= m->range.first &&
		    ntohl(p->saddr) <= m->range.last;
		break;
	case NFLAB_MATCH_DRANGE:
		r = ntohl(p->daddr) >= m->range.first &&
		    ntohl(p->daddr) <= m->range.last;
		break;
	case NFLAB_MATCH_PROTO:
		r = p->proto == m->proto;
		break;
	case NFLAB_MATCH_SPORT:
	case NFLAB_MATCH_DPORT:
		if ((p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP) ||
		    !nflab_pkt_l4(p))
			return false;
		r = nflab_match_port(m, m->kind == NFLAB_MATCH_SPORT ?
				     p->sport : p->dport);
		break;
	case NFLAB_MATCH_TCP_FLAGS:
		if (p->proto != IPPROTO_TCP || !nflab_pkt_l4(p))
			return false;
		r = (p->tcp_flags & m->vm.mask) == m->vm.value;
		break;
	case NFLAB_MATCH_ICMP:
		if (p->proto != IPPROTO_ICMP || !nflab_pkt_l4(p))
			return false;
		r = p->icmp_type == m->icmp.type &&
		    (!m->icmp.has_code || p->icmp_code == m->icmp.code);
		break;
	case NFLAB_MATCH_LENGTH:
		r = p->len >= m->len.min && p->len <= m->len.max;
		break;
	case NFLAB_MATCH_CT_STATE:
		nflab_pkt_ct(p);
		r = p->ct_state & m->vm.value;
		break;
	case NFLAB_MATCH_CT_STATUS:
		nflab_pkt_ct(p);
		r = (p->ct_status & m->vm.value) == m->vm.value;
		break;
	case NFLAB_MATCH_STRING:
		r = skb_find_text(p->skb, m->str.from,
				  min_t(u32, m->str.to + 1, p->skb->len),
				  m->str.ts) != UINT_MAX;
		break;
	case NFLAB_MATCH_QUOTA:
		r = nflab_match_quota(m, p->skb->len);
		break;
	case NFLAB_MATCH_NTH:
		return nflab_match_nth(m);
	case NFLAB_MATCH_TIME:
		r = nflab_match_time(m);
		break;
	case NFLAB_MATCH_LIMIT:
		r = nflab_match_limit(m);
		break;
	case NFLAB_MATCH_MARK:
		r = (p->skb->mark & m->vm.mask) == m->vm.value;
		break;
	case NFLAB_MATCH_SET:
		r = nflab_match_set(m, p);
		break;
	case NFLAB_MATCH_CONNLIMIT: {
		unsigned int n;

		n = nflab_connlimit_count(m->connlimit.cl, p->state->net, p->skb,
					  p->saddr, m->connlimit.mask,
					  m->connlimit.count);
		return m->connlimit.upto ? n <= m->connlimit.count :
		       n > m->connlimit.count;
	}
	default:
		return false;
	}
	return r != m->invert;
}
