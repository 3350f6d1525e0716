/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * nflab: a netfilter lab module with its own hooks, connection tracking and
 * NAT, configured over the generic netlink family "nflab".
 *
 * This header is the one definition of the protocol. The Go constants in
 * nlproto/zz_generated.go are generated from it (make generate); do not edit
 * numbers anywhere else.
 *
 * Conventions
 * -----------
 *
 * Every command and attribute is numbered from 1; 0 is never valid. A request
 * and its reply share a command number. Requests are validated strictly: an
 * attribute a command does not list below is rejected with EINVAL and an
 * extended ACK message naming it, as are attributes of the wrong type or size.
 * Integers are in host byte order; 64-bit values are padded with
 * NFLAB_A_PAD / NFLAB_HOOK_A_PAD as netlink requires.
 *
 * All commands act on the network namespace of the requesting socket.
 * Commands marked "admin" need CAP_NET_ADMIN in the initial user namespace
 * (GENL_ADMIN_PERM) and fail with EPERM otherwise.
 *
 * NFLAB_CMD_GET_VERSION
 * ---------------------
 *
 * Do, anyone. Takes no attributes. Replies with:
 *
 *    NFLAB_A_VERSION: NUL-terminated string, NFLAB_MODULE_VERSION of the
 *        running module (at most NFLAB_VERSION_MAXLEN bytes, NUL included)
 *    NFLAB_A_PROTO_VERSION: u32, NFLAB_PROTO_VERSION of the running module
 *    NFLAB_A_PROTO_COMPAT: u32, NFLAB_PROTO_COMPAT of the running module
 *
 * Compatibility goes by range, not by equality. NFLAB_PROTO_VERSION grows by
 * one with every change of the protocol, additions included. Additions (a
 * command, an attribute, a status bit, an enum value) keep NFLAB_PROTO_COMPAT;
 * a change of meaning of anything that exists raises NFLAB_PROTO_COMPAT to the
 * new NFLAB_PROTO_VERSION. A client built with versions (Vc, Cc) can talk to a
 * module reporting (Vm, Cm) when Cm <= Vc and Cc <= Vm: each side then
 * understands all the other may send it. Where Vm < Vc, a command the module
 * does not have is missing from the family's operations (CTRL_ATTR_OPS), and
 * attributes it does not know are rejected with EINVAL; where Vm > Vc, the
 * client ignores attributes it does not know. A module that sends no
 * NFLAB_A_PROTO_COMPAT has Cm = Vm. (NFLAB_GENL_VERSION, the generic netlink
 * header's version field, stays 1.)
 *
 * NFLAB_CMD_GET_HOOK_STATS
 * ------------------------
 *
 * Do, anyone. Takes no attributes. Replies with the counters of the five IPv4
 * hooks of the caller's namespace, counted when a packet reaches nflab's hook
 * function (packets dropped earlier by other hooks are not counted):
 *
 *    NFLAB_A_HOOKS: nest, one NFLAB_A_HOOK per hook, in hook order
 *        NFLAB_A_HOOK: nest
 *            NFLAB_HOOK_A_HOOKNUM: u32, an enum nflab_hook value
 *            NFLAB_HOOK_A_PACKETS: u64, packets since load or last reset
 *            NFLAB_HOOK_A_BYTES: u64, bytes (IP header included) likewise
 *
 * The reply is a few hundred bytes; it is never split.
 *
 * NFLAB_CMD_RESET_HOOK_STATS
 * --------------------------
 *
 * Do, admin. Takes no attributes. Sets the counters reported by
 * NFLAB_CMD_GET_HOOK_STATS of the caller's namespace back to zero. Replies
 * with an ACK only.
 *
 * Connection tracking
 * ===================
 *
 * nflab tracks TCP, UDP and ICMP flows itself (not through the kernel's
 * nf_conntrack). An entry has an original and a reply tuple, each a nest of
 * enum nflab_tuple_attr:
 *
 *    NFLAB_TUPLE_A_SRC, NFLAB_TUPLE_A_DST: be32, IPv4 addresses
 *    NFLAB_TUPLE_A_PROTO: u8, IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP
 *    NFLAB_TUPLE_A_SPORT, NFLAB_TUPLE_A_DPORT: be16, TCP and UDP only
 *    NFLAB_TUPLE_A_ICMP_ID: be16, ICMP only
 *    NFLAB_TUPLE_A_ICMP_TYPE: u8, ICMP only (request type in the original
 *        tuple, the matching reply type in the reply tuple)
 *
 * An entry (NFLAB_A_CT, a nest of enum nflab_ct_attr) carries:
 *
 *    NFLAB_CT_A_ID: u32, unique while the entry lives
 *    NFLAB_CT_A_ORIG, NFLAB_CT_A_REPLY: nest, the two tuples
 *    NFLAB_CT_A_STATUS: u32, enum nflab_ct_status bits
 *    NFLAB_CT_A_TIMEOUT: u32, seconds until the entry expires
 *    NFLAB_CT_A_PACKETS_ORIG, NFLAB_CT_A_BYTES_ORIG,
 *    NFLAB_CT_A_PACKETS_REPLY, NFLAB_CT_A_BYTES_REPLY: u64, per direction
 *    NFLAB_CT_A_START: u64, creation time, nanoseconds since the epoch
 *    NFLAB_CT_A_TCP_STATE: u8, enum nflab_tcp_state, TCP only
 *
 * A filter (NFLAB_A_CT_FILTER, a nest of enum nflab_ct_filter_attr) selects
 * entries by their original tuple; every attribute given must match:
 *
 *    NFLAB_CT_FILTER_A_PROTO: u8
 *    NFLAB_CT_FILTER_A_SRC + NFLAB_CT_FILTER_A_SRC_PREFIX: be32 + u8 (0-32)
 *    NFLAB_CT_FILTER_A_DST + NFLAB_CT_FILTER_A_DST_PREFIX: be32 + u8 (0-32)
 *    NFLAB_CT_FILTER_A_SPORT, NFLAB_CT_FILTER_A_DPORT: be16
 *    NFLAB_CT_FILTER_A_TCP_STATE: u8, enum nflab_tcp_state
 *    NFLAB_CT_FILTER_A_STATUS: u32, entries with all these status bits set
 *
 * An address without a prefix length means /32; a prefix length without
 * its address, or an address with bits outside its prefix, is rejected.
 * Port filters need PROTO TCP or UDP, a TCP state filter PROTO TCP.
 *
 * NFLAB_CMD_CT_GET
 * ----------------
 *
 * Do or dump, admin (flows reveal other users' connections). As a do, takes
 * NFLAB_A_CT_TUPLE (a tuple of either direction) and replies with NFLAB_A_CT,
 * or fails with ENOENT. As a dump (NLM_F_DUMP), takes an optional
 * NFLAB_A_CT_FILTER and replies with one message per entry, each holding
 * NFLAB_A_CT. A dump resumes across messages after the last entry it sent,
 * whatever is created or removed meanwhile: it lists every entry that lives
 * through it exactly once (entries created during the dump may or may not
 * appear), and it is never flagged NLM_F_DUMP_INTR.
 *
 * NFLAB_CMD_CT_DELETE
 * -------------------
 *
 * Do, admin. Takes either NFLAB_A_CT_TUPLE (deletes that entry, ENOENT if
 * there is none) or a non-empty NFLAB_A_CT_FILTER (deletes all matching
 * entries; FLUSH is for all), not both. Replies with NFLAB_A_CT_COUNT, u32,
 * the number deleted.
 *
 * NFLAB_CMD_CT_FLUSH
 * ------------------
 *
 * Do, admin. Takes an optional NFLAB_A_CT_FILTER; deletes every (matching)
 * entry. Replies with NFLAB_A_CT_COUNT.
 *
 * NFLAB_CMD_CT_COUNT
 * ------------------
 *
 * Do, anyone. Takes no attributes. Replies with NFLAB_A_CT_COUNT, u32, the
 * number of confirmed entries, and NFLAB_A_CT_LIMIT, u32, the most entries
 * the namespace may hold.
 *
 * NFLAB_CMD_CT_STATS
 * ------------------
 *
 * Do, anyone. Takes no attributes. Replies with NFLAB_A_CT_STATS, a nest of
 * enum nflab_ct_stats_attr u64 counters summed over all CPUs: FOUND, NEW,
 * INVALID, INSERT, INSERT_FAILED, CLASH, DROP, EARLY_DROP, GC_EVICTED,
 * SEARCH_RESTART, RELATED (ICMP errors about a tracked flow, addressed to
 * the quoted packet's sender; errors about unknown flows, to anyone else or
 * with unusable quoted headers count as INVALID).
 * INSERT_FAILED counts new entries that could not join the table; without
 * NAT every clash resolves to the entry already there (CLASH), so it is 0.
 *
 * NFLAB_CMD_CT_GET_CONFIG, NFLAB_CMD_CT_SET_CONFIG
 * ------------------------------------------------
 *
 * GET is a do for anyone, taking no attributes; SET is a do, admin. Both
 * carry NFLAB_A_CT_CONFIG, a nest of enum nflab_ct_config_attr:
 *
 *    NFLAB_CT_CONFIG_A_LIMIT: u32, the most entries the namespace may hold
 *        (NFLAB_CT_LIMIT_MIN - NFLAB_CT_LIMIT_MAX: 1 - 4194304)
 *    NFLAB_CT_CONFIG_A_TCP_LOOSE: u8, 0 or 1: pick up TCP connections seen
 *        mid-stream
 *    NFLAB_CT_CONFIG_A_TIMEOUTS: nest of enum nflab_ct_timeout_attr, u32
 *        seconds each (NFLAB_CT_TIMEOUT_MIN - NFLAB_CT_TIMEOUT_MAX:
 *        1 - 2592000, 30 days)
 *
 * SET changes only what it carries; it is all or nothing, and replies with
 * an ACK only. GET replies with every setting. A new namespace starts with
 * the module's ct_max parameter as its limit and Linux's timeouts.
 *
 * NFLAB_CMD_CT_GC
 * ---------------
 *
 * Do, admin. Takes no attributes. Removes every expired entry now and
 * replies with NFLAB_A_CT_COUNT, the number removed.
 *
 * Conntrack events
 * ----------------
 *
 * The multicast group NFLAB_MCGRP_CT ("ct") carries a notification per
 * change of an entry in the listener's namespace, each holding NFLAB_A_CT:
 *
 *    NFLAB_CMD_CT_EVENT_NEW: the entry joined the table (its first packet
 *        was accepted)
 *    NFLAB_CMD_CT_EVENT_UPDATE: its TCP state or its SEEN_REPLY or ASSURED
 *        status changed
 *    NFLAB_CMD_CT_EVENT_DESTROY: it left the table (expiry, delete, flush,
 *        early drop, namespace exit), with its final counters
 *
 * Joining the group needs CAP_NET_ADMIN. Events are sent from the packet
 * path and never wait for a listener: one that falls behind loses events,
 * and its next receive fails with ENOBUFS (unless it set
 * NETLINK_NO_ENOBUFS). It should then dump the table to resynchronise.
 */

#ifndef _UAPI_NFLAB_H
#define _UAPI_NFLAB_H

#define NFLAB_GENL_NAME		"nflab"
#define NFLAB_MCGRP_CT		"ct"
#define NFLAB_GENL_VERSION	1
#define NFLAB_PROTO_VERSION	2
/* The oldest NFLAB_PROTO_VERSION whose clients this protocol still serves. */
#define NFLAB_PROTO_COMPAT	1

/*
 * The module's version, reported as NFLAB_A_VERSION; the Go tools carry the
 * same string, so that "nflab version" can tell a stale module.
 */
#define NFLAB_MODULE_VERSION	"0.2.0"
/* Longest NFLAB_A_VERSION string, NUL included. */
#define NFLAB_VERSION_MAXLEN	32

enum nflab_cmd {
	NFLAB_CMD_UNSPEC,
	NFLAB_CMD_GET_VERSION,
	NFLAB_CMD_GET_HOOK_STATS,
	NFLAB_CMD_RESET_HOOK_STATS,
	NFLAB_CMD_CT_GET,
	NFLAB_CMD_CT_DELETE,
	NFLAB_CMD_CT_FLUSH,
	NFLAB_CMD_CT_COUNT,
	NFLAB_CMD_CT_STATS,
	NFLAB_CMD_CT_GET_CONFIG,
	NFLAB_CMD_CT_SET_CONFIG,
	NFLAB_CMD_CT_GC,
	NFLAB_CMD_CT_EVENT_NEW,
	NFLAB_CMD_CT_EVENT_UPDATE,
	NFLAB_CMD_CT_EVENT_DESTROY,

	__NFLAB_CMD_MAX
};

#define NFLAB_CMD_MAX (__NFLAB_CMD_MAX - 1)

enum nflab_attr {
	NFLAB_A_UNSPEC,
	NFLAB_A_PAD,
	NFLAB_A_VERSION,
	NFLAB_A_PROTO_VERSION,
	NFLAB_A_HOOKS,
	NFLAB_A_HOOK,
	NFLAB_A_CT,
	NFLAB_A_CT_TUPLE,
	NFLAB_A_CT_FILTER,
	NFLAB_A_CT_COUNT,
	NFLAB_A_CT_LIMIT,
	NFLAB_A_CT_STATS,
	NFLAB_A_CT_CONFIG,
	NFLAB_A_PROTO_COMPAT,

	__NFLAB_A_MAX
};

#define NFLAB_A_MAX (__NFLAB_A_MAX - 1)

enum nflab_hook_attr {
	NFLAB_HOOK_A_UNSPEC,
	NFLAB_HOOK_A_PAD,
	NFLAB_HOOK_A_HOOKNUM,
	NFLAB_HOOK_A_PACKETS,
	NFLAB_HOOK_A_BYTES,

	__NFLAB_HOOK_A_MAX
};

#define NFLAB_HOOK_A_MAX (__NFLAB_HOOK_A_MAX - 1)

/* The IPv4 hooks; the numbers equal the kernel's enum nf_inet_hooks. */
enum nflab_hook {
	NFLAB_HOOK_PRE_ROUTING = 0,
	NFLAB_HOOK_LOCAL_IN = 1,
	NFLAB_HOOK_FORWARD = 2,
	NFLAB_HOOK_LOCAL_OUT = 3,
	NFLAB_HOOK_POST_ROUTING = 4,

	__NFLAB_HOOK_MAX
};

#define NFLAB_HOOK_MAX (__NFLAB_HOOK_MAX - 1)

enum nflab_tuple_attr {
	NFLAB_TUPLE_A_UNSPEC,
	NFLAB_TUPLE_A_SRC,
	NFLAB_TUPLE_A_DST,
	NFLAB_TUPLE_A_PROTO,
	NFLAB_TUPLE_A_SPORT,
	NFLAB_TUPLE_A_DPORT,
	NFLAB_TUPLE_A_ICMP_ID,
	NFLAB_TUPLE_A_ICMP_TYPE,

	__NFLAB_TUPLE_A_MAX
};

#define NFLAB_TUPLE_A_MAX (__NFLAB_TUPLE_A_MAX - 1)

enum nflab_ct_attr {
	NFLAB_CT_A_UNSPEC,
	NFLAB_CT_A_PAD,
	NFLAB_CT_A_ID,
	NFLAB_CT_A_ORIG,
	NFLAB_CT_A_REPLY,
	NFLAB_CT_A_STATUS,
	NFLAB_CT_A_TCP_STATE,
	NFLAB_CT_A_TIMEOUT,
	NFLAB_CT_A_PACKETS_ORIG,
	NFLAB_CT_A_BYTES_ORIG,
	NFLAB_CT_A_PACKETS_REPLY,
	NFLAB_CT_A_BYTES_REPLY,
	NFLAB_CT_A_START,

	__NFLAB_CT_A_MAX
};

#define NFLAB_CT_A_MAX (__NFLAB_CT_A_MAX - 1)

enum nflab_ct_filter_attr {
	NFLAB_CT_FILTER_A_UNSPEC,
	NFLAB_CT_FILTER_A_PROTO,
	NFLAB_CT_FILTER_A_SRC,
	NFLAB_CT_FILTER_A_SRC_PREFIX,
	NFLAB_CT_FILTER_A_DST,
	NFLAB_CT_FILTER_A_DST_PREFIX,
	NFLAB_CT_FILTER_A_SPORT,
	NFLAB_CT_FILTER_A_DPORT,
	NFLAB_CT_FILTER_A_TCP_STATE,
	NFLAB_CT_FILTER_A_STATUS,

	__NFLAB_CT_FILTER_A_MAX
};

#define NFLAB_CT_FILTER_A_MAX (__NFLAB_CT_FILTER_A_MAX - 1)

enum nflab_ct_stats_attr {
	NFLAB_CT_STATS_A_UNSPEC,
	NFLAB_CT_STATS_A_PAD,
	NFLAB_CT_STATS_A_FOUND,
	NFLAB_CT_STATS_A_NEW,
	NFLAB_CT_STATS_A_INVALID,
	NFLAB_CT_STATS_A_INSERT,
	NFLAB_CT_STATS_A_INSERT_FAILED,
	NFLAB_CT_STATS_A_CLASH,
	NFLAB_CT_STATS_A_DROP,
	NFLAB_CT_STATS_A_EARLY_DROP,
	NFLAB_CT_STATS_A_GC_EVICTED,
	NFLAB_CT_STATS_A_SEARCH_RESTART,
	NFLAB_CT_STATS_A_RELATED,

	__NFLAB_CT_STATS_A_MAX
};

#define NFLAB_CT_STATS_A_MAX (__NFLAB_CT_STATS_A_MAX - 1)

/* The range of NFLAB_CT_CONFIG_A_LIMIT, in entries. */
#define NFLAB_CT_LIMIT_MIN	1
#define NFLAB_CT_LIMIT_MAX	(4 * 1024 * 1024)
/* The range of every NFLAB_CT_CONFIG_A_TIMEOUTS value, in seconds. */
#define NFLAB_CT_TIMEOUT_MIN	1
#define NFLAB_CT_TIMEOUT_MAX	(30 * 24 * 3600)

enum nflab_ct_config_attr {
	NFLAB_CT_CONFIG_A_UNSPEC,
	NFLAB_CT_CONFIG_A_LIMIT,
	NFLAB_CT_CONFIG_A_TCP_LOOSE,
	NFLAB_CT_CONFIG_A_TIMEOUTS,

	__NFLAB_CT_CONFIG_A_MAX
};

#define NFLAB_CT_CONFIG_A_MAX (__NFLAB_CT_CONFIG_A_MAX - 1)

/* Timeouts, one per protocol state and two TCP caps; defaults are Linux's. */
enum nflab_ct_timeout_attr {
	NFLAB_CT_TIMEOUT_A_UNSPEC,
	NFLAB_CT_TIMEOUT_A_TCP_SYN_SENT,	/* 120 */
	NFLAB_CT_TIMEOUT_A_TCP_SYN_RECV,	/* 60 */
	NFLAB_CT_TIMEOUT_A_TCP_ESTABLISHED,	/* 432000 (5 days) */
	NFLAB_CT_TIMEOUT_A_TCP_FIN_WAIT,	/* 120 */
	NFLAB_CT_TIMEOUT_A_TCP_CLOSE_WAIT,	/* 60 */
	NFLAB_CT_TIMEOUT_A_TCP_LAST_ACK,	/* 30 */
	NFLAB_CT_TIMEOUT_A_TCP_TIME_WAIT,	/* 120 */
	NFLAB_CT_TIMEOUT_A_TCP_CLOSE,		/* 10 */
	NFLAB_CT_TIMEOUT_A_UDP_UNREPLIED,	/* 30 */
	NFLAB_CT_TIMEOUT_A_UDP_ASSURED,		/* 120 */
	NFLAB_CT_TIMEOUT_A_ICMP,		/* 30 */
	/* TCP, at most this long after max_retrans (3) identical segments */
	NFLAB_CT_TIMEOUT_A_TCP_RETRANS,		/* 300 */
	/* TCP, at most this long while data is unacknowledged */
	NFLAB_CT_TIMEOUT_A_TCP_UNACK,		/* 300 */

	__NFLAB_CT_TIMEOUT_A_MAX
};

#define NFLAB_CT_TIMEOUT_A_MAX (__NFLAB_CT_TIMEOUT_A_MAX - 1)

/* The numbers of the NFLAB_CT_A_STATUS bits, as the kernel's IPS_*_BIT. */
enum nflab_ct_status_bit {
	NFLAB_CT_STATUS_SEEN_REPLY_BIT,	/* a reply-direction packet passed */
	NFLAB_CT_STATUS_ASSURED_BIT,	/* not evicted early when full */
	NFLAB_CT_STATUS_CONFIRMED_BIT,	/* in the table */
	NFLAB_CT_STATUS_DYING_BIT,	/* being removed */
};

/* NFLAB_CT_A_STATUS bits. */
enum nflab_ct_status {
	NFLAB_CT_STATUS_SEEN_REPLY = 1 << NFLAB_CT_STATUS_SEEN_REPLY_BIT,
	NFLAB_CT_STATUS_ASSURED = 1 << NFLAB_CT_STATUS_ASSURED_BIT,
	NFLAB_CT_STATUS_CONFIRMED = 1 << NFLAB_CT_STATUS_CONFIRMED_BIT,
	NFLAB_CT_STATUS_DYING = 1 << NFLAB_CT_STATUS_DYING_BIT,
};

/* Every NFLAB_CT_A_STATUS bit this protocol version defines. */
#define NFLAB_CT_STATUS_ALL	(NFLAB_CT_STATUS_SEEN_REPLY | \
				 NFLAB_CT_STATUS_ASSURED | \
				 NFLAB_CT_STATUS_CONFIRMED | \
				 NFLAB_CT_STATUS_DYING)

/* TCP connection states (NFLAB_CT_A_TCP_STATE). */
enum nflab_tcp_state {
	NFLAB_TCP_NONE,
	NFLAB_TCP_SYN_SENT,
	NFLAB_TCP_SYN_RECV,
	NFLAB_TCP_ESTABLISHED,
	NFLAB_TCP_FIN_WAIT,
	NFLAB_TCP_CLOSE_WAIT,
	NFLAB_TCP_LAST_ACK,
	NFLAB_TCP_TIME_WAIT,
	NFLAB_TCP_CLOSE,
	NFLAB_TCP_SYN_SENT2,	/* simultaneous open */

	__NFLAB_TCP_MAX
};

#define NFLAB_TCP_MAX (__NFLAB_TCP_MAX - 1)

#endif /* _UAPI_NFLAB_H */
