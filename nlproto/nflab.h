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
 *    NFLAB_A_VERSION: NUL-terminated string, the module version
 *    NFLAB_A_PROTO_VERSION: u32, NFLAB_PROTO_VERSION of the running module
 *
 * A client compares NFLAB_A_PROTO_VERSION with the NFLAB_PROTO_VERSION it was
 * built with; the number grows whenever a command or attribute changes
 * meaning. (NFLAB_GENL_VERSION, the generic netlink header's version field,
 * stays 1: compatibility is decided by NFLAB_PROTO_VERSION alone.)
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
 */

#ifndef _UAPI_NFLAB_H
#define _UAPI_NFLAB_H

#define NFLAB_GENL_NAME		"nflab"
#define NFLAB_GENL_VERSION	1
#define NFLAB_PROTO_VERSION	1

/* Longest NFLAB_A_VERSION string, NUL included. */
#define NFLAB_VERSION_MAXLEN	32

enum nflab_cmd {
	NFLAB_CMD_UNSPEC,
	NFLAB_CMD_GET_VERSION,
	NFLAB_CMD_GET_HOOK_STATS,
	NFLAB_CMD_RESET_HOOK_STATS,

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

#endif /* _UAPI_NFLAB_H */
