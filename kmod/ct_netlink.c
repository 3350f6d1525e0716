// SPDX-License-Identifier: GPL-2.0
/*
 * The conntrack commands of the "nflab" family: get and dump entries,
 * delete, flush, count, statistics, configuration and GC. nlproto/nflab.h
 * documents them.
 */

#include <linux/in.h>
#include <linux/inetdevice.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>

#include "compat.h"
#include "nflab.h"
#include "conntrack.h"
#include "trace.h"

static const struct nla_policy nflab_tuple_policy[NFLAB_TUPLE_A_MAX + 1] = {
	[NFLAB_TUPLE_A_SRC]		= { .type = NLA_BE32 },
	[NFLAB_TUPLE_A_DST]		= { .type = NLA_BE32 },
	[NFLAB_TUPLE_A_PROTO]		= { .type = NLA_U8 },
	[NFLAB_TUPLE_A_SPORT]		= { .type = NLA_BE16 },
	[NFLAB_TUPLE_A_DPORT]		= { .type = NLA_BE16 },
	[NFLAB_TUPLE_A_ICMP_ID]		= { .type = NLA_BE16 },
	[NFLAB_TUPLE_A_ICMP_TYPE]	= { .type = NLA_U8 },
};

static const struct nla_policy nflab_filter_policy[NFLAB_CT_FILTER_A_MAX + 1] = {
	[NFLAB_CT_FILTER_A_PROTO]	= { .type = NLA_U8 },
	[NFLAB_CT_FILTER_A_SRC]		= { .type = NLA_BE32 },
	[NFLAB_CT_FILTER_A_SRC_PREFIX]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_CT_FILTER_A_DST]		= { .type = NLA_BE32 },
	[NFLAB_CT_FILTER_A_DST_PREFIX]	= NLA_POLICY_MAX(NLA_U8, 32),
	[NFLAB_CT_FILTER_A_SPORT]	= { .type = NLA_BE16 },
	[NFLAB_CT_FILTER_A_DPORT]	= { .type = NLA_BE16 },
	[NFLAB_CT_FILTER_A_TCP_STATE]	= NLA_POLICY_MAX(NLA_U8, NFLAB_TCP_MAX),
	[NFLAB_CT_FILTER_A_STATUS]	= NLA_POLICY_MASK(NLA_U32, NFLAB_CT_STATUS_ALL),
};

/* Not const: 6.1's NLA_POLICY_FULL_RANGE takes a plain pointer. */
static struct netlink_range_validation nflab_timeout_range = {
	.min = NFLAB_CT_TIMEOUT_MIN,
	.max = NFLAB_CT_TIMEOUT_MAX,
};

static struct netlink_range_validation nflab_limit_range = {
	.min = NFLAB_CT_LIMIT_MIN,
	.max = NFLAB_CT_LIMIT_MAX,
};

static const struct nla_policy nflab_timeouts_policy[NFLAB_CT_TIMEOUT_A_MAX + 1] = {
	[NFLAB_CT_TIMEOUT_A_TCP_SYN_SENT ... NFLAB_CT_TIMEOUT_A_MAX] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_timeout_range),
};

static const struct nla_policy nflab_config_policy[NFLAB_CT_CONFIG_A_MAX + 1] = {
	[NFLAB_CT_CONFIG_A_LIMIT]	= NLA_POLICY_FULL_RANGE(NLA_U32, &nflab_limit_range),
	[NFLAB_CT_CONFIG_A_TCP_LOOSE]	= NLA_POLICY_MAX(NLA_U8, 1),
	[NFLAB_CT_CONFIG_A_TIMEOUTS]	= NLA_POLICY_NESTED(nflab_timeouts_policy),
};

const struct nla_policy nflab_ct_get_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_CT_TUPLE]	= NLA_POLICY_NESTED(nflab_tuple_policy),
	[NFLAB_A_CT_FILTER]	= NLA_POLICY_NESTED(nflab_filter_policy),
};

const struct nla_policy nflab_ct_delete_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_CT_TUPLE]	= NLA_POLICY_NESTED(nflab_tuple_policy),
	[NFLAB_A_CT_FILTER]	= NLA_POLICY_NESTED(nflab_filter_policy),
};

const struct nla_policy nflab_ct_set_config_policy[NFLAB_A_MAX + 1] = {
	[NFLAB_A_CT_CONFIG]	= NLA_POLICY_NESTED(nflab_config_policy),
};

/* A filter over the original tuple; what is not set matches anything. */
struct nflab_ct_filter {
	__be32	src, src_mask, dst, dst_mask;
	__be16	sport, dport;
	u32	status;
	u8	proto, tcp_state;
	bool	has_sport, has_dport, has_state;
};

/* The state of a dump in progress, kept in cb->ctx between calls. */
struct nflab_ct_dump {
	struct nflab_ct_filter	f;
	struct nflab_ct_dump_pos pos;
};

/* pos.bucket of a dump whose start failed without an extack (6.1). */
#define NFLAB_DUMP_DEFERRED	UINT_MAX

static int nflab_parse_tuple(const struct nlattr *nest, struct nflab_tuple *t,
			     struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NFLAB_TUPLE_A_MAX + 1];
	bool ports, icmp;
	int ret;

	ret = nla_parse_nested(tb, NFLAB_TUPLE_A_MAX, nest, nflab_tuple_policy, extack);
	if (ret)
		return ret;
	if (!tb[NFLAB_TUPLE_A_SRC] || !tb[NFLAB_TUPLE_A_DST] ||
	    !tb[NFLAB_TUPLE_A_PROTO]) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "a tuple needs source, destination and protocol");
		return -EINVAL;
	}
	memset(t, 0, sizeof(*t));
	t->src = nla_get_in_addr(tb[NFLAB_TUPLE_A_SRC]);
	t->dst = nla_get_in_addr(tb[NFLAB_TUPLE_A_DST]);
	t->proto = nla_get_u8(tb[NFLAB_TUPLE_A_PROTO]);

	ports = tb[NFLAB_TUPLE_A_SPORT] || tb[NFLAB_TUPLE_A_DPORT];
	icmp = tb[NFLAB_TUPLE_A_ICMP_ID] || tb[NFLAB_TUPLE_A_ICMP_TYPE];
	switch (t->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		if (!tb[NFLAB_TUPLE_A_SPORT] || !tb[NFLAB_TUPLE_A_DPORT] || icmp) {
			NL_SET_ERR_MSG_ATTR(extack, nest,
					    "a TCP or UDP tuple needs both ports and no ICMP fields");
			return -EINVAL;
		}
		t->u.p.sport = nla_get_be16(tb[NFLAB_TUPLE_A_SPORT]);
		t->u.p.dport = nla_get_be16(tb[NFLAB_TUPLE_A_DPORT]);
		return 0;
	case IPPROTO_ICMP:
		if (!tb[NFLAB_TUPLE_A_ICMP_ID] || !tb[NFLAB_TUPLE_A_ICMP_TYPE] || ports) {
			NL_SET_ERR_MSG_ATTR(extack, nest,
					    "an ICMP tuple needs id and type and no ports");
			return -EINVAL;
		}
		t->u.icmp.id = nla_get_be16(tb[NFLAB_TUPLE_A_ICMP_ID]);
		t->u.icmp.type = nla_get_u8(tb[NFLAB_TUPLE_A_ICMP_TYPE]);
		return 0;
	}
	NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_TUPLE_A_PROTO], "protocol must be TCP, UDP or ICMP");
	return -EINVAL;
}

static int nflab_parse_prefix(struct nlattr *addr, struct nlattr *plen,
			      __be32 *a, __be32 *mask, struct netlink_ext_ack *extack)
{
	if (!addr) {
		if (plen) {
			NL_SET_ERR_MSG_ATTR(extack, plen, "prefix length without an address");
			return -EINVAL;
		}
		*a = 0;
		*mask = 0;
		return 0;
	}
	*a = nla_get_in_addr(addr);
	*mask = inet_make_mask(plen ? nla_get_u8(plen) : 32);
	if (*a & ~*mask) {
		NL_SET_ERR_MSG_ATTR(extack, addr, "address has bits outside its prefix");
		return -EINVAL;
	}
	return 0;
}

static int nflab_parse_filter(const struct nlattr *nest, struct nflab_ct_filter *f,
			      struct netlink_ext_ack *extack)
{
	struct nlattr *tb[NFLAB_CT_FILTER_A_MAX + 1];
	int ret;

	memset(f, 0, sizeof(*f));
	if (!nest)
		return 0;
	ret = nla_parse_nested(tb, NFLAB_CT_FILTER_A_MAX, nest, nflab_filter_policy, extack);
	if (ret)
		return ret;
	ret = nflab_parse_prefix(tb[NFLAB_CT_FILTER_A_SRC], tb[NFLAB_CT_FILTER_A_SRC_PREFIX],
				 &f->src, &f->src_mask, extack);
	if (!ret)
		ret = nflab_parse_prefix(tb[NFLAB_CT_FILTER_A_DST],
					 tb[NFLAB_CT_FILTER_A_DST_PREFIX],
					 &f->dst, &f->dst_mask, extack);
	if (ret)
		return ret;
	if (tb[NFLAB_CT_FILTER_A_PROTO])
		f->proto = nla_get_u8(tb[NFLAB_CT_FILTER_A_PROTO]);
	f->has_sport = tb[NFLAB_CT_FILTER_A_SPORT];
	if (f->has_sport)
		f->sport = nla_get_be16(tb[NFLAB_CT_FILTER_A_SPORT]);
	f->has_dport = tb[NFLAB_CT_FILTER_A_DPORT];
	if (f->has_dport)
		f->dport = nla_get_be16(tb[NFLAB_CT_FILTER_A_DPORT]);
	f->has_state = tb[NFLAB_CT_FILTER_A_TCP_STATE];
	if (f->has_state)
		f->tcp_state = nla_get_u8(tb[NFLAB_CT_FILTER_A_TCP_STATE]);
	if (tb[NFLAB_CT_FILTER_A_STATUS])
		f->status = nla_get_u32(tb[NFLAB_CT_FILTER_A_STATUS]);
	if ((f->has_sport || f->has_dport) && f->proto != IPPROTO_TCP &&
	    f->proto != IPPROTO_UDP) {
		NL_SET_ERR_MSG_ATTR(extack, nest, "port filters need protocol TCP or UDP");
		return -EINVAL;
	}
	if (f->has_state && f->proto != IPPROTO_TCP) {
		NL_SET_ERR_MSG_ATTR(extack, tb[NFLAB_CT_FILTER_A_TCP_STATE],
				    "a TCP state filter needs protocol TCP");
		return -EINVAL;
	}
	return 0;
}

static bool nflab_filter_match(const struct nflab_conn *ct, const void *arg)
{
	const struct nflab_tuple *t = &ct->th[NFLAB_DIR_ORIG].tuple;
	const struct nflab_ct_filter *f = arg;

	return (!f->proto || t->proto == f->proto) &&
	       (t->src & f->src_mask) == f->src &&
	       (t->dst & f->dst_mask) == f->dst &&
	       (!f->has_sport || t->u.p.sport == f->sport) &&
	       (!f->has_dport || t->u.p.dport == f->dport) &&
	       (!f->has_state || READ_ONCE(ct->proto.tcp.state) == f->tcp_state) &&
	       (READ_ONCE(ct->status) & f->status) == f->status;
}

static int nflab_put_tuple(struct sk_buff *skb, int type, const struct nflab_tuple *t)
{
	struct nlattr *nest = nla_nest_start(skb, type);

	if (!nest ||
	    nla_put_in_addr(skb, NFLAB_TUPLE_A_SRC, t->src) ||
	    nla_put_in_addr(skb, NFLAB_TUPLE_A_DST, t->dst) ||
	    nla_put_u8(skb, NFLAB_TUPLE_A_PROTO, t->proto))
		return -EMSGSIZE;
	if (t->proto == IPPROTO_ICMP) {
		if (nla_put_be16(skb, NFLAB_TUPLE_A_ICMP_ID, t->u.icmp.id) ||
		    nla_put_u8(skb, NFLAB_TUPLE_A_ICMP_TYPE, t->u.icmp.type))
			return -EMSGSIZE;
	} else if (nla_put_be16(skb, NFLAB_TUPLE_A_SPORT, t->u.p.sport) ||
		   nla_put_be16(skb, NFLAB_TUPLE_A_DPORT, t->u.p.dport)) {
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int __nflab_put_conn(struct sk_buff *skb, const struct nflab_conn *ct,
			    bool history)
{
	const struct nflab_tuple *orig = &ct->th[NFLAB_DIR_ORIG].tuple;
	struct nlattr *nest = nla_nest_start(skb, NFLAB_A_CT);

	if (!nest ||
	    nla_put_u32(skb, NFLAB_CT_A_ID, ct->id) ||
	    nflab_put_tuple(skb, NFLAB_CT_A_ORIG, orig) ||
	    nflab_put_tuple(skb, NFLAB_CT_A_REPLY, &ct->th[NFLAB_DIR_REPLY].tuple) ||
	    nla_put_u32(skb, NFLAB_CT_A_STATUS, READ_ONCE(ct->status) & NFLAB_CT_STATUS_ALL) ||
	    nla_put_u32(skb, NFLAB_CT_A_TIMEOUT, nflab_ct_timeout_left(ct)) ||
	    nla_put_u64_64bit(skb, NFLAB_CT_A_PACKETS_ORIG,
			      atomic64_read(&ct->packets[NFLAB_DIR_ORIG]), NFLAB_CT_A_PAD) ||
	    nla_put_u64_64bit(skb, NFLAB_CT_A_BYTES_ORIG,
			      atomic64_read(&ct->bytes[NFLAB_DIR_ORIG]), NFLAB_CT_A_PAD) ||
	    nla_put_u64_64bit(skb, NFLAB_CT_A_PACKETS_REPLY,
			      atomic64_read(&ct->packets[NFLAB_DIR_REPLY]), NFLAB_CT_A_PAD) ||
	    nla_put_u64_64bit(skb, NFLAB_CT_A_BYTES_REPLY,
			      atomic64_read(&ct->bytes[NFLAB_DIR_REPLY]), NFLAB_CT_A_PAD) ||
	    nla_put_u64_64bit(skb, NFLAB_CT_A_START, ct->start_ns, NFLAB_CT_A_PAD))
		return -EMSGSIZE;
	if (orig->proto == IPPROTO_TCP &&
	    nla_put_u8(skb, NFLAB_CT_A_TCP_STATE, READ_ONCE(ct->proto.tcp.state)))
		return -EMSGSIZE;
	if (history && nflab_trace_put_history(skb, ct))
		return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

static int nflab_put_conn(struct sk_buff *skb, const void *arg)
{
	return __nflab_put_conn(skb, arg, false);
}

/* A do's reply: the entry, and its history while a trace follows it. */
static int nflab_put_conn_history(struct sk_buff *skb, const void *arg)
{
	return __nflab_put_conn(skb, arg, true);
}

int nflab_ct_nl_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct nflab_tuple t;
	struct nflab_conn *ct;
	int ret;

	/* The core reports which attribute is missing; say why as well. */
	if (GENL_REQ_ATTR_CHECK(info, NFLAB_A_CT_TUPLE)) {
		NL_SET_ERR_MSG(info->extack, "a lookup needs a tuple; dump to list entries");
		return -EINVAL;
	}
	if (info->attrs[NFLAB_A_CT_FILTER]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_CT_FILTER],
				    "a filter selects entries to dump (NLM_F_DUMP)");
		return -EINVAL;
	}
	ret = nflab_parse_tuple(info->attrs[NFLAB_A_CT_TUPLE], &t, info->extack);
	if (ret)
		return ret;
	ct = nflab_ct_find(net, &t);
	if (!ct) {
		NL_SET_ERR_MSG(info->extack, "no such connection");
		return -ENOENT;
	}
	ret = nflab_nl_reply(info, NFLAB_CMD_CT_GET, nflab_put_conn_history, ct);
	nflab_ct_put(ct);
	return ret;
}

static int nflab_ct_dump_check(struct nlattr **attrs, struct nflab_ct_filter *f,
			       struct netlink_ext_ack *extack)
{
	if (attrs[NFLAB_A_CT_TUPLE]) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[NFLAB_A_CT_TUPLE],
				    "a dump takes a filter, not a tuple");
		return -EINVAL;
	}
	return nflab_parse_filter(attrs[NFLAB_A_CT_FILTER], f, extack);
}

int nflab_ct_nl_get_start(struct netlink_callback *cb)
{
	struct nlattr **attrs = nflab_dump_attrs(cb);
	struct nflab_ct_dump *d = (struct nflab_ct_dump *)cb->ctx;
	int ret;

	BUILD_BUG_ON(sizeof(*d) > sizeof(cb->ctx));
	memset(d, 0, sizeof(*d));
	ret = nflab_ct_dump_check(attrs, &d->f, cb->extack);
	if (nflab_dump_defer(cb, ret)) {
		d->pos.bucket = NFLAB_DUMP_DEFERRED;
		return 0;
	}
	return ret;
}

struct nflab_dump_arg {
	struct sk_buff		*skb;
	struct netlink_callback	*cb;
	const struct nflab_ct_filter	*f;
};

static int nflab_dump_one(struct nflab_conn *ct, void *arg)
{
	struct nflab_dump_arg *a = arg;
	void *hdr;

	if (!nflab_filter_match(ct, a->f))
		return 0;
	hdr = genlmsg_put(a->skb, NETLINK_CB(a->cb->skb).portid,
			  a->cb->nlh->nlmsg_seq, &nflab_genl_family,
			  NLM_F_MULTI, NFLAB_CMD_CT_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nflab_put_conn(a->skb, ct)) {
		genlmsg_cancel(a->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(a->skb, hdr);
	return 0;
}

int nflab_ct_nl_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct net *net = sock_net(skb->sk);
	struct nflab_ct_dump *d = (struct nflab_ct_dump *)cb->ctx;
	struct nflab_dump_arg a = { .skb = skb, .cb = cb, .f = &d->f };

	/* 6.1: start's error again, now with an extack for its message. */
	if (d->pos.bucket == NFLAB_DUMP_DEFERRED)
		return nflab_ct_dump_check(nflab_dump_attrs(cb), &d->f, cb->extack);
	/*
	 * No NLM_F_DUMP_INTR: the dump resumes after the last entry it
	 * sent, whatever was created or removed meanwhile, so it lists every
	 * entry that lives through it exactly once.
	 */
	nflab_ct_dump(net, &d->pos, nflab_dump_one, &a);
	return skb->len;
}

static int nflab_fill_count(struct sk_buff *msg, const void *arg)
{
	return nla_put_u32(msg, NFLAB_A_CT_COUNT, *(const u32 *)arg);
}

static int nflab_reply_count(struct genl_info *info, u8 cmd, u32 count)
{
	return nflab_nl_reply(info, cmd, nflab_fill_count, &count);
}

int nflab_ct_nl_delete(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tuple = info->attrs[NFLAB_A_CT_TUPLE];
	struct nlattr *filter = info->attrs[NFLAB_A_CT_FILTER];
	struct net *net = genl_info_net(info);
	struct nflab_ct_filter f;
	struct nflab_tuple t;
	struct nflab_conn *ct;
	bool killed;
	int ret;

	if (!tuple == !filter) {
		NL_SET_ERR_MSG(info->extack, "give either a tuple or a filter");
		return -EINVAL;
	}
	if (filter) {
		if (!nla_len(filter)) {
			NL_SET_ERR_MSG_ATTR(info->extack, filter,
					    "an empty filter matches everything: use flush");
			return -EINVAL;
		}
		ret = nflab_parse_filter(filter, &f, info->extack);
		if (ret)
			return ret;
		return nflab_reply_count(info, NFLAB_CMD_CT_DELETE,
				   nflab_ct_kill_matching(net, nflab_filter_match, &f));
	}
	ret = nflab_parse_tuple(tuple, &t, info->extack);
	if (ret)
		return ret;
	ct = nflab_ct_find(net, &t);
	if (!ct) {
		NL_SET_ERR_MSG(info->extack, "no such connection");
		return -ENOENT;
	}
	killed = nflab_ct_kill(ct);
	nflab_ct_put(ct);
	return nflab_reply_count(info, NFLAB_CMD_CT_DELETE, killed);
}

int nflab_ct_nl_flush(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_ct_filter f;
	int ret;

	if (info->attrs[NFLAB_A_CT_TUPLE]) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[NFLAB_A_CT_TUPLE],
				    "flush takes a filter, not a tuple");
		return -EINVAL;
	}
	ret = nflab_parse_filter(info->attrs[NFLAB_A_CT_FILTER], &f, info->extack);
	if (ret)
		return ret;
	return nflab_reply_count(info, NFLAB_CMD_CT_FLUSH,
			   nflab_ct_kill_matching(genl_info_net(info),
						  nflab_filter_match, &f));
}

static int nflab_fill_count_limit(struct sk_buff *msg, const void *arg)
{
	const struct nflab_net *nn = arg;

	if (nla_put_u32(msg, NFLAB_A_CT_COUNT, atomic_read(&nn->ct_count)) ||
	    nla_put_u32(msg, NFLAB_A_CT_LIMIT, READ_ONCE(nn->ct_limit)))
		return -EMSGSIZE;
	return 0;
}

int nflab_ct_nl_count(struct sk_buff *skb, struct genl_info *info)
{
	return nflab_nl_reply(info, NFLAB_CMD_CT_COUNT, nflab_fill_count_limit,
			      nflab_pernet(genl_info_net(info)));
}

static int nflab_fill_stats(struct sk_buff *msg, const void *arg)
{
	const u64 *sum = arg;
	struct nlattr *nest;
	int i;

	nest = nla_nest_start(msg, NFLAB_A_CT_STATS);
	if (!nest)
		return -EMSGSIZE;
	for (i = NFLAB_CT_STATS_A_FOUND; i <= NFLAB_CT_STATS_A_MAX; i++)
		if (nla_put_u64_64bit(msg, i, sum[i], NFLAB_CT_STATS_A_PAD))
			return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

int nflab_ct_nl_stats(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	u64 sum[NFLAB_CT_STATS_A_MAX + 1] = {};
	int cpu, i;

	for_each_possible_cpu(cpu) {
		const struct nflab_ct_pcpu_stats *s = per_cpu_ptr(nn->ct_stats, cpu);

		for (i = NFLAB_CT_STATS_A_FOUND; i <= NFLAB_CT_STATS_A_MAX; i++)
			sum[i] += READ_ONCE(s->v[i]);
	}
	return nflab_nl_reply(info, NFLAB_CMD_CT_STATS, nflab_fill_stats, sum);
}

static int nflab_fill_config(struct sk_buff *msg, const void *arg)
{
	const struct nflab_net *nn = arg;
	struct nlattr *cfg, *tmo;
	int i;

	cfg = nla_nest_start(msg, NFLAB_A_CT_CONFIG);
	if (!cfg ||
	    nla_put_u32(msg, NFLAB_CT_CONFIG_A_LIMIT, READ_ONCE(nn->ct_limit)) ||
	    nla_put_u8(msg, NFLAB_CT_CONFIG_A_TCP_LOOSE, READ_ONCE(nn->ct_tcp_loose)))
		return -EMSGSIZE;
	tmo = nla_nest_start(msg, NFLAB_CT_CONFIG_A_TIMEOUTS);
	if (!tmo)
		return -EMSGSIZE;
	for (i = 1; i <= NFLAB_CT_TIMEOUT_A_MAX; i++)
		if (nla_put_u32(msg, i, READ_ONCE(nn->ct_timeouts[i]) / HZ))
			return -EMSGSIZE;
	nla_nest_end(msg, tmo);
	nla_nest_end(msg, cfg);
	return 0;
}

int nflab_ct_nl_get_config(struct sk_buff *skb, struct genl_info *info)
{
	return nflab_nl_reply(info, NFLAB_CMD_CT_GET_CONFIG, nflab_fill_config,
			      nflab_pernet(genl_info_net(info)));
}

/* The policy has checked every value, so applying cannot fail half-way. */
int nflab_ct_nl_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nflab_net *nn = nflab_pernet(genl_info_net(info));
	struct nlattr *tb[NFLAB_CT_CONFIG_A_MAX + 1];
	struct nlattr *tmo[NFLAB_CT_TIMEOUT_A_MAX + 1];
	int ret, i;

	if (GENL_REQ_ATTR_CHECK(info, NFLAB_A_CT_CONFIG)) {
		NL_SET_ERR_MSG(info->extack, "nothing to set: the config nest is missing");
		return -EINVAL;
	}
	ret = nla_parse_nested(tb, NFLAB_CT_CONFIG_A_MAX, info->attrs[NFLAB_A_CT_CONFIG],
			       nflab_config_policy, info->extack);
	if (ret)
		return ret;
	memset(tmo, 0, sizeof(tmo));
	if (tb[NFLAB_CT_CONFIG_A_TIMEOUTS]) {
		ret = nla_parse_nested(tmo, NFLAB_CT_TIMEOUT_A_MAX,
				       tb[NFLAB_CT_CONFIG_A_TIMEOUTS],
				       nflab_timeouts_policy, info->extack);
		if (ret)
			return ret;
	}

	mutex_lock(&nn->ct_config_lock);
	if (tb[NFLAB_CT_CONFIG_A_LIMIT])
		WRITE_ONCE(nn->ct_limit, nla_get_u32(tb[NFLAB_CT_CONFIG_A_LIMIT]));
	if (tb[NFLAB_CT_CONFIG_A_TCP_LOOSE])
		WRITE_ONCE(nn->ct_tcp_loose, nla_get_u8(tb[NFLAB_CT_CONFIG_A_TCP_LOOSE]));
	for (i = 1; i <= NFLAB_CT_TIMEOUT_A_MAX; i++)
		if (tmo[i])
			WRITE_ONCE(nn->ct_timeouts[i], nla_get_u32(tmo[i]) * HZ);
	mutex_unlock(&nn->ct_config_lock);
	return 0;
}

/*
 * Tell the namespace's "ct" listeners about a change. Runs on the packet
 * path, so it allocates atomically and never waits: a listener that falls
 * behind gets ENOBUFS from netlink and resynchronises with a dump.
 */
void nflab_ct_event(struct nflab_conn *ct, u8 cmd)
{
	struct net *net = nflab_ct_net(ct);
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&nflab_genl_family, net, NFLAB_MCGRP_CT_ID))
		return;
	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_ATOMIC);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &nflab_genl_family, 0, cmd);
	if (!hdr || nflab_put_conn(skb, ct)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&nflab_genl_family, net, skb, 0,
				NFLAB_MCGRP_CT_ID, GFP_ATOMIC);
}

int nflab_ct_nl_gc(struct sk_buff *skb, struct genl_info *info)
{
	return nflab_reply_count(info, NFLAB_CMD_CT_GC,
			   nflab_ct_gc_now(genl_info_net(info)));
}
