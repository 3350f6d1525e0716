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
 * hooks of the caller's namespace, counted when a packet reaches nflab's
 * first hook function there, before nflab's own tables (packets dropped
 * earlier by other hooks are not counted; those nflab's rules drop are):
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
 * or fails with ENOENT. If packets a trace followed changed the
 * connection, a do's NFLAB_A_CT also carries NFLAB_CT_A_HISTORY (protocol
 * 6): the connection's last NFLAB_CT_HISTORY_MAX state changes caused by
 * followed packets, oldest first, each an NFLAB_CT_HISTORY_A_ENTRY nest of enum
 * nflab_ct_history_attr (TIME: u64 ns since the epoch, PACKET: u64 and
 * TRACE: u32 as in trace events, HOOK: u32, DIR: u8, TCP_STATE_OLD and
 * TCP_STATE: u8, TCP only, STATUS_OLD and STATUS: u32). A change is the
 * connection's creation, a TCP state change, or a new SEEN_REPLY or ASSURED
 * status. Histories are kept for 256 connections at most (the oldest
 * goes first), while any trace of the module exists: they go when its
 * last trace is freed, once the packets it followed are done.
 *
 * As a dump (NLM_F_DUMP), takes an optional NFLAB_A_CT_FILTER and replies
 * with one message per entry, each holding NFLAB_A_CT. A dump resumes across
 * messages after the last entry it sent, whatever is created or removed
 * meanwhile: it lists every entry that lives through it exactly once (entries
 * created during the dump may or may not appear), and it is never flagged
 * NLM_F_DUMP_INTR.
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
 *
 * Rules
 * =====
 *
 * Each namespace has one ruleset: tables of chains of rules, evaluated at
 * nflab's hooks, and named sets the rules refer to. The tables, their
 * hooks and priorities follow the kernel's classic layout (enum
 * nflab_table). Every table has one built-in chain per hook it sits at,
 * named after the hook in lower case ("prerouting", "input", "forward",
 * "output", "postrouting"), with a policy (NFLAB_VERDICT_ACCEPT or
 * NFLAB_VERDICT_DROP, accept at first). User chains (names of 1 to
 * NFLAB_NAME_MAXLEN - 1 bytes of [A-Za-z0-9_.-], not a built-in name)
 * are reached by jump and goto from the same table. A built-in chain
 * that holds no rule and accepts costs nothing: its hook is registered
 * only while it has rules or drops.
 *
 * A rule (NFLAB_A_RULE, a nest of enum nflab_rule_attr) is an ordered list
 * of matches, every one of which must hold, and one action:
 *
 *    NFLAB_RULE_A_HANDLE: u64, the rule's number in its namespace; never
 *        reused while the module is loaded
 *    NFLAB_RULE_A_TABLE: u8, enum nflab_table
 *    NFLAB_RULE_A_CHAIN: string, the chain's name
 *    NFLAB_RULE_A_MATCHES: nest; each attribute in it is one match, its
 *        type an enum nflab_match and its payload a nest of enum
 *        nflab_match_attr (which attributes each match takes is listed at
 *        enum nflab_match); in order, at most NFLAB_RULE_MATCHES_MAX
 *    NFLAB_RULE_A_ACTION: nest of enum nflab_action_attr
 *    NFLAB_RULE_A_COMMENT: string, at most NFLAB_COMMENT_MAXLEN bytes with
 *        its NUL
 *    NFLAB_RULE_A_POSITION: u64, in RULE_NEW only: the handle of the rule
 *        to insert before (NFLAB_RULE_F_INSERT) or after (otherwise)
 *    NFLAB_RULE_A_FLAGS: u32, NFLAB_RULE_F_* in RULE_NEW only
 *    NFLAB_RULE_A_PACKETS, NFLAB_RULE_A_BYTES: u64, in replies: what the
 *        rule matched since it was added or reset
 *    NFLAB_RULE_A_STATE: nest of enum nflab_rule_state_attr, in replies:
 *        the state of its stateful matches (the bytes a quota has used)
 *
 * Replies carry a rule's MATCHES, ACTION and COMMENT as they were sent:
 * optional attributes left out stay out (their defaults apply).
 *
 * A match's NFLAB_MATCH_A_INVERT flag negates it where its entry at enum
 * nflab_match says so. Matches on ports, TCP flags and ICMP fields never
 * hold for packets of another protocol or that are too short.
 *
 * Transactions
 * ------------
 *
 * The ruleset is only ever changed as a whole. A client opens a transaction
 * (RULES_BEGIN), sends any number of changes (CHAIN_*, RULE_*, SET_*), each
 * in its own message and checked when it arrives, and commits it
 * (RULES_COMMIT). The commit checks the whole (every jump and set name
 * resolves, no chain jumps back into itself, jumps and gotos nest at most
 * NFLAB_JUMP_DEPTH deep, matches and actions suit their table, iif is not
 * used where a chain runs at LOCAL_OUT or POST_ROUTING nor oif at
 * PRE_ROUTING or LOCAL_IN (through jumps too), the namespace's limits
 * hold), builds the compiled ruleset off the packet path, and publishes it
 * with one pointer swap: a packet sees the old
 * ruleset or the new one, never a mix. A rejected change or commit changes
 * nothing the packets see, and its extended ACK names the attribute and,
 * at commit, the rule ("rule 12 (handle 40) in filter/forward: ...", rules
 * counted from 1 in their chain) at fault. A commit fails with ENOENT for an
 * unknown jump target or set, ELOOP for a jump loop, EMLINK for jumps nested
 * too deep, E2BIG when a packet could cost more than 400000 rule checks,
 * EINVAL for a set of the wrong type, ENOSPC beyond the module parameter
 * rules_max; a change fails with ENOSPC beyond NFLAB_RULES_MAX,
 * NFLAB_CHAINS_MAX or NFLAB_SETS_MAX.
 *
 * Every change is answered on its own (an ACK, or RULE_NEW's reply), so a
 * client may send many in one sendmsg() and read their answers after; it
 * should keep what it has in flight below its receive buffer, as a reply
 * that does not fit is dropped.
 *
 * One transaction at a time per namespace, owned by the socket that began
 * it: another socket's RULES_BEGIN fails with EBUSY, and changes or a
 * commit without a transaction with ENOENT. (The kernel tells closing
 * sockets apart by port id alone: a transaction begun on a new socket that
 * took over the port id of one closing that very moment may end with it,
 * and its changes then fail with ENOENT; begin again.) The transaction ends with
 * RULES_COMMIT (whatever its outcome), RULES_ABORT, or the owner's socket
 * closing. Rules keep their counters and state across transactions; a
 * replaced rule starts afresh.
 *
 * NFLAB_CMD_RULES_BEGIN
 * ---------------------
 *
 * Do, admin. Takes optional NFLAB_A_RULES_FLAGS (u32): NFLAB_RULES_F_REPLACE
 * starts from an empty ruleset (every chain empty and accepting, no sets)
 * instead of the current one; and optional NFLAB_A_RULES_GEN (u32): fail
 * with ESTALE unless the current ruleset has this generation. Replies with
 * NFLAB_A_RULES_GEN, the current generation.
 *
 * NFLAB_CMD_RULES_COMMIT
 * ----------------------
 *
 * Do, admin. Takes optional NFLAB_A_RULES_FLAGS: NFLAB_RULES_F_CHECK checks
 * everything and then discards the transaction. Replies with
 * NFLAB_A_RULES_GEN: the new generation (or, with CHECK, the current one).
 * The generation grows by one with every commit (not with CHECK).
 *
 * NFLAB_CMD_RULES_ABORT
 * ---------------------
 *
 * Do, admin. Takes nothing; discards the caller's transaction (ENOENT if
 * it has none).
 *
 * A second RULES_BEGIN on the socket that owns the transaction fails with
 * EBUSY as well.
 *
 * NFLAB_CMD_CHAIN_NEW, NFLAB_CMD_CHAIN_DEL, NFLAB_CMD_CHAIN_POLICY
 * ----------------------------------------------------------------
 *
 * Do, admin, in a transaction. Each takes NFLAB_A_CHAIN, a nest of enum
 * nflab_chain_attr with NFLAB_CHAIN_A_TABLE (u8) and NFLAB_CHAIN_A_NAME.
 * NEW adds a user chain (EEXIST if the table has one of that name); DEL
 * removes an empty user chain no rule jumps to (EBUSY otherwise); POLICY
 * sets a built-in chain's NFLAB_CHAIN_A_POLICY (u8, NFLAB_VERDICT_ACCEPT or
 * NFLAB_VERDICT_DROP). A name that does not exist fails with ENOENT.
 *
 * NFLAB_CMD_CHAIN_GET
 * -------------------
 *
 * Dump, admin. Takes nothing. One message per chain of the ruleset
 * (built-in ones first, in table and hook order), each holding NFLAB_A_CHAIN
 * with TABLE, NAME, NFLAB_CHAIN_A_HOOK (u32, enum nflab_hook; built-in
 * chains only), POLICY (built-in chains only), NFLAB_CHAIN_A_RULES (u32,
 * how many rules it holds) and NFLAB_CHAIN_A_GEN (u32, the generation).
 *
 * NFLAB_CMD_RULE_NEW
 * ------------------
 *
 * Do, admin, in a transaction. Takes NFLAB_A_RULE with TABLE, CHAIN,
 * MATCHES (optional: no match holds for every packet), ACTION, optional
 * COMMENT, FLAGS and POSITION. Adds the rule at the end of the chain, or at
 * its start with NFLAB_RULE_F_INSERT, or next to POSITION. Replies with
 * NFLAB_A_RULE holding the new rule's HANDLE.
 *
 * NFLAB_CMD_RULE_DEL
 * ------------------
 *
 * Do, admin, in a transaction. Takes NFLAB_A_RULE with HANDLE only; ENOENT
 * if no rule has it.
 *
 * NFLAB_CMD_RULE_REPLACE
 * ----------------------
 *
 * Do, admin, in a transaction. Takes NFLAB_A_RULE with HANDLE, MATCHES,
 * ACTION and optional COMMENT; the rule keeps its handle and place (and its
 * table and chain, which may be given but must not differ) and starts with
 * new counters and state.
 *
 * NFLAB_CMD_RULE_GET
 * ------------------
 *
 * Do or dump, admin. As a do, takes NFLAB_A_RULE with HANDLE and replies
 * with the whole rule. As a dump, takes nothing and replies with one
 * message per rule, chain by chain (the built-in ones in table and hook
 * order, then the user chains in the order they were made), each chain's in
 * rule order, each holding
 * NFLAB_A_RULE (HANDLE, TABLE, CHAIN, MATCHES, ACTION, COMMENT if any,
 * PACKETS, BYTES, STATE if any) and NFLAB_A_RULES_GEN. A dump that
 * spans a commit is flagged NLM_F_DUMP_INTR: the client starts it again.
 *
 * NFLAB_CMD_RULE_RESET
 * --------------------
 *
 * Do, admin, outside transactions. Takes optional NFLAB_A_RULE with HANDLE
 * (every rule without it): sets the rule's counters to zero and its state
 * (quota used, nth counter, limit tokens) back to where it started. It acts
 * on the committed ruleset, whether or not a transaction is open.
 *
 * Sets
 * ----
 *
 * A set (NFLAB_A_SET, a nest of enum nflab_set_attr) is a named collection
 * of IPv4 addresses (NFLAB_SET_TYPE_ADDR: single addresses, prefixes and
 * ranges, kept as merged intervals and looked up by binary search) or of
 * ports (NFLAB_SET_TYPE_PORT: single ports and ranges, kept as a bitmap),
 * which a rule refers to by name (NFLAB_MATCH_SET). Elements travel as
 * NFLAB_SET_A_ELEMS, an array of inclusive ranges in network byte order:
 * { __be32 first, last; } per element for addresses, { __be16 first, last; }
 * for ports, each first <= last.
 *
 * NFLAB_CMD_SET_NEW
 * -----------------
 *
 * Do, admin, in a transaction. Takes NFLAB_A_SET with NFLAB_SET_A_NAME
 * (as a chain's name), NFLAB_SET_A_TYPE (u8) and optional ELEMS. EEXIST if
 * a set has the name.
 *
 * NFLAB_CMD_SET_DEL
 * -----------------
 *
 * Do, admin, in a transaction. Takes NFLAB_A_SET with NAME; EBUSY while a
 * rule refers to it, ENOENT if there is none.
 *
 * NFLAB_CMD_SET_ADD_ELEMS, NFLAB_CMD_SET_FLUSH
 * --------------------------------------------
 *
 * Do, admin, in a transaction. ADD_ELEMS takes NFLAB_A_SET with NAME and
 * ELEMS and adds them (overlaps are fine); FLUSH takes NAME and empties the
 * set. A set holds at most NFLAB_SET_ELEMS_MAX elements; a message at most
 * what fits in one attribute (65535 bytes with its header), so that a
 * large set is loaded in many messages of one transaction. An error repeats
 * the request before its extended ACK: clients that read with small
 * buffers send fewer elements a message.
 *
 * NFLAB_CMD_SET_GET
 * -----------------
 *
 * Dump, admin. Takes optional NFLAB_A_SET with NAME (that set only; ENOENT
 * if there is none).
 * Replies per set with a message holding NFLAB_A_SET (NAME, TYPE,
 * NFLAB_SET_A_COUNT: u32, its merged intervals, and NFLAB_SET_A_REFS: u32,
 * the rules that use it) followed, unless NFLAB_A_RULES_FLAGS holds
 * NFLAB_RULES_F_TERSE, by as many messages as its elements need, each
 * holding NFLAB_A_SET with NAME and ELEMS (merged and sorted). Every message
 * carries NFLAB_A_RULES_GEN; a dump that spans a commit is flagged
 * NLM_F_DUMP_INTR.
 *
 * Packet traces (protocol 6)
 * ==========================
 *
 * A trace follows the packets of the caller's namespace that match its
 * selector through nflab's hooks and sends one event per hook they cross
 * to the multicast group NFLAB_MCGRP_TRACE ("trace"). A trace (NFLAB_A_TRACE,
 * a nest of enum nflab_trace_attr) has:
 *
 *    NFLAB_TRACE_A_ID: u32, unique while the module is loaded, from 1
 *    a selector, every attribute given must hold (none: every packet):
 *        NFLAB_TRACE_A_SRC + NFLAB_TRACE_A_SRC_PREFIX: be32 + u8 (0-32)
 *        NFLAB_TRACE_A_DST + NFLAB_TRACE_A_DST_PREFIX: likewise
 *        NFLAB_TRACE_A_HOST + NFLAB_TRACE_A_HOST_PREFIX: source or
 *            destination in the prefix
 *        NFLAB_TRACE_A_PROTO: u8, an IP protocol number
 *        NFLAB_TRACE_A_SPORT, NFLAB_TRACE_A_DPORT: be16
 *        NFLAB_TRACE_A_PORT: be16, source or destination port
 *        NFLAB_TRACE_A_IFNAME: string, the input or output device
 *    NFLAB_TRACE_A_BUDGET: u32, packets it may follow (1 - 100000, 100 if
 *        left out); it ends when they are used
 *    NFLAB_TRACE_A_TIMEOUT: u32, seconds it lives (1 - 86400, 60 if left
 *        out)
 *    in replies only:
 *    NFLAB_TRACE_A_LEFT: u32, packets of the budget left
 *    NFLAB_TRACE_A_EXPIRES: u32, milliseconds until it ends
 *    NFLAB_TRACE_A_EVENTS: u64, events sent
 *    NFLAB_TRACE_A_LOST: u64, events not sent: over the rate limit
 *        (NFLAB_TRACE_RATE a second per trace), no memory, or no listener;
 *        and one for each packet chosen that could not be followed (at
 *        most 1024 followed at once in the module, no memory)
 *
 * The selector is tried once per packet, where nflab first sees it in the
 * namespace (PRE_ROUTING or LOCAL_OUT), against the packet's tuple and, for
 * a tracked packet, against both tuples of its connection: a trace on a
 * client's address follows the replies of a NATed connection too. Prefix
 * and port rules are those of NFLAB_A_CT_FILTER; ports need PROTO TCP or
 * UDP. A packet chosen is followed to the end of its way through the
 * namespace, and its clones (skb_clone(), such as a broadcast's copy
 * looped back) with it.
 *
 * NFLAB_CMD_TRACE_NEW: do, admin. Takes NFLAB_A_TRACE without ID; starts
 *     the trace and replies with NFLAB_A_TRACE. Fails with ENOSPC beyond
 *     NFLAB_TRACES_MAX traces in the namespace, ESHUTDOWN while the module
 *     is loading or unloading.
 * NFLAB_CMD_TRACE_DEL: do, admin. Takes NFLAB_A_TRACE with only ID (ENOENT
 *     if the namespace has no such trace), or nothing (every trace).
 *     Replies with NFLAB_A_TRACE_COUNT, u32, the traces ended.
 * NFLAB_CMD_TRACE_GET: dump, admin. Takes nothing; replies with a message
 *     per trace of the namespace, each holding NFLAB_A_TRACE.
 *
 * NFLAB_CMD_TRACE_EVENT: a multicast message per event, holding
 * NFLAB_A_TRACE_EVENT, a nest of enum nflab_trace_event_attr:
 *
 *    NFLAB_TRACE_EV_A_TRACE: u32, the trace's ID
 *    NFLAB_TRACE_EV_A_SEQ: u64, the trace's event count, from 1; a gap
 *        means lost events (LOST counts those the module could not send;
 *        a listener that falls behind gets ENOBUFS besides)
 *    NFLAB_TRACE_EV_A_PACKET: u64, the packet's ID, the same at every hook
 *        and in the events of its clones
 *    NFLAB_TRACE_EV_A_KIND: u8, enum nflab_trace_kind
 *    NFLAB_TRACE_EV_A_HOOK: u32, enum nflab_hook: where the event happened;
 *        for KIND_GONE, the last hook nflab saw the packet at
 *    NFLAB_TRACE_EV_A_TIME: u64, nanoseconds since the epoch
 *    NFLAB_TRACE_EV_A_IIF, NFLAB_TRACE_EV_A_OIF: u32 ifindex, and
 *    NFLAB_TRACE_EV_A_IIFNAME, NFLAB_TRACE_EV_A_OIFNAME: string, the
 *        hook's devices, where it has them
 *    NFLAB_TRACE_EV_A_LEN: u32, the packet's length at the hook
 *    NFLAB_TRACE_EV_A_TUPLE: nest of enum nflab_tuple_attr, the packet as
 *        it reached nflab's first function at the hook (for ICMP, ICMP_TYPE
 *        is the packet's type)
 *    NFLAB_TRACE_EV_A_TUPLE_OUT: the same nest, as the packet left the
 *        hook, present only when NAT changed it there
 *    NFLAB_TRACE_EV_A_TCP_FLAGS: u8, the TCP header's flags (FIN 0x01 ...
 *        CWR 0x80), TCP only
 *    NFLAB_TRACE_EV_A_CT: u8, enum nflab_trace_ct: what the tracker made of
 *        the packet, at PRE_ROUTING and LOCAL_OUT
 *    NFLAB_TRACE_EV_A_CT_INVALID: u8, enum nflab_trace_invalid, with CT
 *        INVALID
 *    NFLAB_TRACE_EV_A_CT_ID: u32, the connection's NFLAB_CT_A_ID
 *    NFLAB_TRACE_EV_A_CT_DIR: u8, 0 original direction, 1 reply
 *    NFLAB_TRACE_EV_A_TCP_STATE_OLD, NFLAB_TRACE_EV_A_TCP_STATE: u8, enum
 *        nflab_tcp_state before and after the packet, TCP only
 *    NFLAB_TRACE_EV_A_CT_STATUS: u32, the connection's enum
 *        nflab_ct_status bits after the packet
 *    NFLAB_TRACE_EV_A_RULE: nest of enum nflab_rule_attr (TABLE, CHAIN,
 *        HANDLE, COMMENT, VERDICT), once per table at the hook whose
 *        chains decided something, in the order the tables run there
 *        (their hook priorities): the rule whose action
 *        ended the evaluation (accept, drop, reject, a NAT action), or the
 *        built-in chain's policy when it drops (no HANDLE)
 *    NFLAB_TRACE_EV_A_VERDICT: u8, enum nflab_trace_verdict, nflab's
 *        verdict at the hook
 *    NFLAB_TRACE_EV_A_DROP_BY: u8, enum nflab_trace_drop_by: who dropped
 *        it, with VERDICT DROP or STOLEN, or KIND_GONE
 *    NFLAB_TRACE_EV_A_DROP_REASON: string, the kernel's skb_drop_reason
 *        name ("NETFILTER_DROP", "IP_INADDRERRORS", ...) when the kernel
 *        freed the packet with one (KIND_GONE); without it, the packet was
 *        not seen for NFLAB_TRACE_IDLE seconds
 *
 * A trace's events leave in SEQ order. A packet's events go out as it
 * goes: one per hook (VERDICT ACCEPT, or
 * DROP/STOLEN where nflab ends it), then possibly a GONE event when the
 * kernel drops it after nflab let it go (between hooks, or after LOCAL_IN
 * or POST_ROUTING: no socket, a full queue). A packet nflab let go at
 * LOCAL_IN or POST_ROUTING and that no GONE event follows within a few
 * seconds was delivered or sent. Each trace's last event is KIND_END.
 *
 * Events are sent from the packet path and never wait; only CAP_NET_ADMIN
 * may join the group. With no trace in the module, each hook function
 * pays one predictable branch for traces and the tail hooks are not
 * registered; while any namespace has one, every namespace's packets pay
 * a lookup per hook.
 *
 * The hook counters (NFLAB_CMD_GET_HOOK_STATS) carry, per hook, the packets
 * nflab dropped there by cause (protocol 6), whether traced or not:
 *
 *    NFLAB_HOOK_A_DROP_RULE: u64, by a rule or chain policy
 *    NFLAB_HOOK_A_DROP_INVALID: u64, by a rule or policy, of packets the
 *        tracker called INVALID (also counted in DROP_RULE)
 *    NFLAB_HOOK_A_DROP_FULL: u64, by the tracker: the table was full
 *    NFLAB_HOOK_A_DROP_NAT: u64, by NAT (no free tuple, a clash, an entry
 *        lost)
 *    NFLAB_HOOK_A_UNSEEN_AFTER: u64, PRE_ROUTING, FORWARD and LOCAL_OUT
 *        only: packets nflab let go at the hook that it did not see at
 *        the next (LOCAL_IN or FORWARD; POST_ROUTING): dropped by another
 *        hook there, by routing, rp_filter, TTL expiry and the like, or
 *        still queued. A difference of counters, reset with them; it is
 *        approximate where clones and multicast copies add packets.
 */

#ifndef _UAPI_NFLAB_H
#define _UAPI_NFLAB_H

#define NFLAB_GENL_NAME		"nflab"
#define NFLAB_MCGRP_CT		"ct"
#define NFLAB_MCGRP_TRACE	"trace"	/* protocol 6 */
#define NFLAB_GENL_VERSION	1
#define NFLAB_PROTO_VERSION	6
/* The oldest NFLAB_PROTO_VERSION whose clients this protocol still serves. */
#define NFLAB_PROTO_COMPAT	1

/*
 * The module's version, reported as NFLAB_A_VERSION; the Go tools carry the
 * same string, so that "nflab version" can tell a stale module.
 */
#define NFLAB_MODULE_VERSION	"0.5.0"
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
	NFLAB_CMD_RULES_BEGIN,
	NFLAB_CMD_RULES_COMMIT,
	NFLAB_CMD_RULES_ABORT,
	NFLAB_CMD_CHAIN_NEW,
	NFLAB_CMD_CHAIN_DEL,
	NFLAB_CMD_CHAIN_POLICY,
	NFLAB_CMD_CHAIN_GET,
	NFLAB_CMD_RULE_NEW,
	NFLAB_CMD_RULE_DEL,
	NFLAB_CMD_RULE_REPLACE,
	NFLAB_CMD_RULE_GET,
	NFLAB_CMD_RULE_RESET,
	NFLAB_CMD_SET_NEW,
	NFLAB_CMD_SET_DEL,
	NFLAB_CMD_SET_ADD_ELEMS,
	NFLAB_CMD_SET_FLUSH,
	NFLAB_CMD_SET_GET,
	NFLAB_CMD_TRACE_NEW,		/* protocol 6 */
	NFLAB_CMD_TRACE_DEL,		/* protocol 6 */
	NFLAB_CMD_TRACE_GET,		/* protocol 6 */
	NFLAB_CMD_TRACE_EVENT,		/* protocol 6 */

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
	NFLAB_A_RULES_FLAGS,
	NFLAB_A_RULES_GEN,
	NFLAB_A_CHAIN,
	NFLAB_A_RULE,
	NFLAB_A_SET,
	NFLAB_A_TRACE,			/* protocol 6 */
	NFLAB_A_TRACE_COUNT,		/* protocol 6 */
	NFLAB_A_TRACE_EVENT,		/* protocol 6 */

	__NFLAB_A_MAX
};

#define NFLAB_A_MAX (__NFLAB_A_MAX - 1)

enum nflab_hook_attr {
	NFLAB_HOOK_A_UNSPEC,
	NFLAB_HOOK_A_PAD,
	NFLAB_HOOK_A_HOOKNUM,
	NFLAB_HOOK_A_PACKETS,
	NFLAB_HOOK_A_BYTES,
	NFLAB_HOOK_A_DROP_RULE,		/* protocol 6 */
	NFLAB_HOOK_A_DROP_INVALID,	/* protocol 6 */
	NFLAB_HOOK_A_DROP_FULL,		/* protocol 6 */
	NFLAB_HOOK_A_DROP_NAT,		/* protocol 6 */
	NFLAB_HOOK_A_UNSEEN_AFTER,	/* protocol 6 */

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
	NFLAB_CT_A_HISTORY,		/* protocol 6 */

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
	/*
	 * NAT found no free tuple in its range: the first packet dropped
	 * (protocol 4)
	 */
	NFLAB_CT_STATS_A_NAT_EXHAUSTED,
	/*
	 * another new flow took the same translated tuple first: dropped
	 * (protocol 4)
	 */
	NFLAB_CT_STATS_A_NAT_CLASH,
	/*
	 * a NAT hook met a translated connection's packet whose entry was
	 * gone (flushed after the packet was tracked) and no entry had the
	 * packet's tuple: dropped, since what it should become is unknown
	 * (protocol 5)
	 */
	NFLAB_CT_STATS_A_NAT_LOST,

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
	/*
	 * the reply tuple's destination (address or port) differs from the
	 * original's source: snat, masquerade, or a source port moved to
	 * keep reply tuples unique (protocol 4)
	 */
	NFLAB_CT_STATUS_SRC_NAT_BIT,
	/*
	 * the reply tuple's source differs from the original's destination:
	 * dnat, redirect, or inbound through a fullcone mapping (protocol 4)
	 */
	NFLAB_CT_STATUS_DST_NAT_BIT,
};

/* NFLAB_CT_A_STATUS bits. */
enum nflab_ct_status {
	NFLAB_CT_STATUS_SEEN_REPLY = 1 << NFLAB_CT_STATUS_SEEN_REPLY_BIT,
	NFLAB_CT_STATUS_ASSURED = 1 << NFLAB_CT_STATUS_ASSURED_BIT,
	NFLAB_CT_STATUS_CONFIRMED = 1 << NFLAB_CT_STATUS_CONFIRMED_BIT,
	NFLAB_CT_STATUS_DYING = 1 << NFLAB_CT_STATUS_DYING_BIT,
	NFLAB_CT_STATUS_SRC_NAT = 1 << NFLAB_CT_STATUS_SRC_NAT_BIT,
	NFLAB_CT_STATUS_DST_NAT = 1 << NFLAB_CT_STATUS_DST_NAT_BIT,
};

/* Every NFLAB_CT_A_STATUS bit this protocol version defines. */
#define NFLAB_CT_STATUS_ALL	(NFLAB_CT_STATUS_SEEN_REPLY | \
				 NFLAB_CT_STATUS_ASSURED | \
				 NFLAB_CT_STATUS_CONFIRMED | \
				 NFLAB_CT_STATUS_DYING | \
				 NFLAB_CT_STATUS_SRC_NAT | \
				 NFLAB_CT_STATUS_DST_NAT)

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

/* NFLAB_A_RULES_FLAGS bits. */
enum nflab_rules_flags {
	NFLAB_RULES_F_REPLACE = 1 << 0,	/* RULES_BEGIN: start empty */
	NFLAB_RULES_F_CHECK = 1 << 1,	/* RULES_COMMIT: check, then discard */
	NFLAB_RULES_F_TERSE = 1 << 2,	/* SET_GET: no elements */
};

#define NFLAB_RULES_F_ALL	(NFLAB_RULES_F_REPLACE | NFLAB_RULES_F_CHECK | \
				 NFLAB_RULES_F_TERSE)

/* Longest chain or set name, NUL included (as IFNAMSIZ-style names). */
#define NFLAB_NAME_MAXLEN	32
/* Longest comment and log prefix, NUL included. */
#define NFLAB_COMMENT_MAXLEN	256
#define NFLAB_LOG_PREFIX_MAXLEN	64
/* Most matches in one rule. */
#define NFLAB_RULE_MATCHES_MAX	16
/* Most port ranges in one port match. */
#define NFLAB_PORTS_MAX		32
/* Longest string a string match looks for. */
#define NFLAB_STRING_MAXLEN	128
/* How deep jumps may nest. */
#define NFLAB_JUMP_DEPTH	16
/* Most rules, user chains and sets a namespace may hold. */
#define NFLAB_RULES_MAX		100000
#define NFLAB_CHAINS_MAX	1000
#define NFLAB_SETS_MAX		256
/* Most elements (before merging) in one set. */
#define NFLAB_SET_ELEMS_MAX	(4 * 1024 * 1024)

/*
 * The tables. Each sits at some hooks, at a priority like the kernel's
 * table of the same name; lower runs first:
 *
 *    RAW: PRE_ROUTING, LOCAL_OUT, before tracking (it may stop it:
 *        NFLAB_ACTION_NOTRACK); ct matches are not allowed
 *    MANGLE: all five hooks, after tracking (NF_IP_PRI_MANGLE); may set the
 *        mark, TOS, DSCP and TTL; at LOCAL_OUT a packet whose mark, TOS or
 *        addresses changed is routed again
 *    FILTER: LOCAL_IN, FORWARD, LOCAL_OUT (NF_IP_PRI_FILTER); may reject
 *    NAT (protocol 4): PRE_ROUTING and LOCAL_OUT (NF_IP_PRI_NAT_DST),
 *        POST_ROUTING and LOCAL_IN (NF_IP_PRI_NAT_SRC). Only the first
 *        packet of a connection goes through its chains (ct state new); the
 *        NAT action it meets (or none) is the connection's for good, and
 *        applies to every later packet of both directions at these hooks
 */
enum nflab_table {
	NFLAB_TABLE_UNSPEC,
	NFLAB_TABLE_RAW,
	NFLAB_TABLE_MANGLE,
	NFLAB_TABLE_FILTER,
	NFLAB_TABLE_NAT,	/* protocol 4 */

	__NFLAB_TABLE_MAX
};

#define NFLAB_TABLE_MAX (__NFLAB_TABLE_MAX - 1)

enum nflab_chain_attr {
	NFLAB_CHAIN_A_UNSPEC,
	NFLAB_CHAIN_A_TABLE,
	NFLAB_CHAIN_A_NAME,
	NFLAB_CHAIN_A_HOOK,
	NFLAB_CHAIN_A_POLICY,
	NFLAB_CHAIN_A_RULES,
	NFLAB_CHAIN_A_GEN,

	__NFLAB_CHAIN_A_MAX
};

#define NFLAB_CHAIN_A_MAX (__NFLAB_CHAIN_A_MAX - 1)

/* Built-in chain policies. */
enum nflab_verdict {
	NFLAB_VERDICT_UNSPEC,
	NFLAB_VERDICT_ACCEPT,
	NFLAB_VERDICT_DROP,

	__NFLAB_VERDICT_MAX
};

#define NFLAB_VERDICT_MAX (__NFLAB_VERDICT_MAX - 1)

enum nflab_rule_attr {
	NFLAB_RULE_A_UNSPEC,
	NFLAB_RULE_A_PAD,
	NFLAB_RULE_A_HANDLE,
	NFLAB_RULE_A_TABLE,
	NFLAB_RULE_A_CHAIN,
	NFLAB_RULE_A_MATCHES,
	NFLAB_RULE_A_ACTION,
	NFLAB_RULE_A_COMMENT,
	NFLAB_RULE_A_POSITION,
	NFLAB_RULE_A_FLAGS,
	NFLAB_RULE_A_PACKETS,
	NFLAB_RULE_A_BYTES,
	NFLAB_RULE_A_STATE,
	/* u8, enum nflab_trace_verdict, in trace events only (protocol 6) */
	NFLAB_RULE_A_VERDICT,

	__NFLAB_RULE_A_MAX
};

#define NFLAB_RULE_A_MAX (__NFLAB_RULE_A_MAX - 1)

/* NFLAB_RULE_A_FLAGS bits. */
enum nflab_rule_flags {
	NFLAB_RULE_F_INSERT = 1 << 0,	/* at the start, or before POSITION */
};

#define NFLAB_RULE_F_ALL	NFLAB_RULE_F_INSERT

/*
 * The matches: the type of each attribute in NFLAB_RULE_A_MATCHES. Each
 * takes the enum nflab_match_attr attributes listed (all required unless
 * marked optional); INVERT (optional) negates it where listed.
 */
enum nflab_match {
	NFLAB_MATCH_UNSPEC,
	/* IFNAME; a name ending in "+" matches every name it starts. INVERT */
	NFLAB_MATCH_IIF,
	NFLAB_MATCH_OIF,
	/* ADDR, PREFIX_LEN (0-32; ADDR has no bit outside it). INVERT */
	NFLAB_MATCH_SADDR,
	NFLAB_MATCH_DADDR,
	/* iprange: ADDR, ADDR_END (>= ADDR), inclusive. INVERT */
	NFLAB_MATCH_SRANGE,
	NFLAB_MATCH_DRANGE,
	/* PROTO. INVERT */
	NFLAB_MATCH_PROTO,
	/* TCP and UDP ports: PORT_RANGE, 1 to NFLAB_PORTS_MAX times. INVERT */
	NFLAB_MATCH_SPORT,
	NFLAB_MATCH_DPORT,
	/* TCP: (flags & MASK) == VALUE, u8 values in u32s. INVERT */
	NFLAB_MATCH_TCP_FLAGS,
	/* ICMP: ICMP_TYPE, ICMP_CODE (optional). INVERT */
	NFLAB_MATCH_ICMP,
	/* IP total length: LEN_MIN, LEN_MAX (>= LEN_MIN). INVERT */
	NFLAB_MATCH_LENGTH,
	/* VALUE: NFLAB_CT_STATE_* bits, any of which holds. INVERT */
	NFLAB_MATCH_CT_STATE,
	/* VALUE: enum nflab_ct_status bits, all of which are set. INVERT */
	NFLAB_MATCH_CT_STATUS,
	/*
	 * PATTERN, ALGO (enum nflab_string_algo), FROM and TO (optional, u32,
	 * offsets from the IP header's start: 0 and 65535). INVERT
	 */
	NFLAB_MATCH_STRING,
	/*
	 * Tracked connections of the packet's source address under
	 * PREFIX_LEN (optional, 32): COUNT, and FLAGS (optional)
	 * NFLAB_CONNLIMIT_F_UPTO: holds when they number at most COUNT
	 * (with the packet's own), otherwise when more than COUNT
	 */
	NFLAB_MATCH_CONNLIMIT,
	/*
	 * BYTES, as xt_quota: a packet that fits what is left uses it and
	 * holds; one that does not uses the rest and does not hold. INVERT
	 */
	NFLAB_MATCH_QUOTA,
	/* Packets numbered from 0: holds for n % EVERY == OFFSET (optional). */
	NFLAB_MATCH_NTH,
	/*
	 * Time of day TOD_START to TOD_STOP (optional, both or neither;
	 * seconds since midnight, inclusive; a window past midnight wraps), WEEKDAYS (optional,
	 * NFLAB_WEEKDAY_* bits), DATE_START and DATE_STOP (optional, u64
	 * seconds since the epoch), FLAGS NFLAB_TIME_F_LOCALTIME (optional;
	 * the kernel's time zone, UTC otherwise). INVERT
	 */
	NFLAB_MATCH_TIME,
	/*
	 * Token bucket: RATE packets per PERIOD (u32 seconds: 1, 60, 3600 or
	 * 86400) with BURST (optional, 5). INVERT (holds above the rate)
	 */
	NFLAB_MATCH_LIMIT,
	/* (mark & MASK (optional, all ones)) == VALUE. INVERT */
	NFLAB_MATCH_MARK,
	/* SET_NAME, SET_FIELD (enum nflab_set_field). INVERT */
	NFLAB_MATCH_SET,

	__NFLAB_MATCH_MAX
};

#define NFLAB_MATCH_MAX (__NFLAB_MATCH_MAX - 1)

enum nflab_match_attr {
	NFLAB_MATCH_A_UNSPEC,
	NFLAB_MATCH_A_PAD,
	NFLAB_MATCH_A_INVERT,		/* flag */
	NFLAB_MATCH_A_IFNAME,		/* string, < IFNAMSIZ */
	NFLAB_MATCH_A_ADDR,		/* be32 */
	NFLAB_MATCH_A_ADDR_END,		/* be32 */
	NFLAB_MATCH_A_PREFIX_LEN,	/* u8 */
	NFLAB_MATCH_A_PROTO,		/* u8 */
	NFLAB_MATCH_A_PORT_RANGE,	/* u32: first << 16 | last, host order */
	NFLAB_MATCH_A_VALUE,		/* u32 */
	NFLAB_MATCH_A_MASK,		/* u32 */
	NFLAB_MATCH_A_ICMP_TYPE,	/* u8 */
	NFLAB_MATCH_A_ICMP_CODE,	/* u8 */
	NFLAB_MATCH_A_LEN_MIN,		/* u32 */
	NFLAB_MATCH_A_LEN_MAX,		/* u32 */
	NFLAB_MATCH_A_PATTERN,		/* binary, 1 to NFLAB_STRING_MAXLEN */
	NFLAB_MATCH_A_ALGO,		/* u8 */
	NFLAB_MATCH_A_FROM,		/* u32 */
	NFLAB_MATCH_A_TO,		/* u32 */
	NFLAB_MATCH_A_COUNT,		/* u32 */
	NFLAB_MATCH_A_FLAGS,		/* u32 */
	NFLAB_MATCH_A_BYTES,		/* u64 */
	NFLAB_MATCH_A_EVERY,		/* u32, >= 1 */
	NFLAB_MATCH_A_OFFSET,		/* u32, < EVERY */
	NFLAB_MATCH_A_TOD_START,	/* u32, < 86400 */
	NFLAB_MATCH_A_TOD_STOP,		/* u32, < 86400 */
	NFLAB_MATCH_A_WEEKDAYS,		/* u32 */
	NFLAB_MATCH_A_DATE_START,	/* u64 */
	NFLAB_MATCH_A_DATE_STOP,	/* u64 */
	NFLAB_MATCH_A_RATE,		/* u32, >= 1 */
	NFLAB_MATCH_A_PERIOD,		/* u32 */
	NFLAB_MATCH_A_BURST,		/* u32, >= 1 */
	NFLAB_MATCH_A_SET_NAME,		/* string */
	NFLAB_MATCH_A_SET_FIELD,	/* u8 */

	__NFLAB_MATCH_A_MAX
};

#define NFLAB_MATCH_A_MAX (__NFLAB_MATCH_A_MAX - 1)

/* NFLAB_MATCH_CT_STATE bits. */
enum nflab_ct_state {
	NFLAB_CT_STATE_NEW = 1 << 0,
	NFLAB_CT_STATE_ESTABLISHED = 1 << 1,
	NFLAB_CT_STATE_RELATED = 1 << 2,
	NFLAB_CT_STATE_INVALID = 1 << 3,
	NFLAB_CT_STATE_UNTRACKED = 1 << 4,
};

#define NFLAB_CT_STATE_ALL	(NFLAB_CT_STATE_NEW | NFLAB_CT_STATE_ESTABLISHED | \
				 NFLAB_CT_STATE_RELATED | NFLAB_CT_STATE_INVALID | \
				 NFLAB_CT_STATE_UNTRACKED)

/* NFLAB_MATCH_A_ALGO: the kernel's textsearch algorithms. */
enum nflab_string_algo {
	NFLAB_STRING_ALGO_UNSPEC,
	NFLAB_STRING_ALGO_BM,
	NFLAB_STRING_ALGO_KMP,

	__NFLAB_STRING_ALGO_MAX
};

#define NFLAB_STRING_ALGO_MAX (__NFLAB_STRING_ALGO_MAX - 1)

/* NFLAB_MATCH_CONNLIMIT flags. */
enum nflab_connlimit_flags {
	NFLAB_CONNLIMIT_F_UPTO = 1 << 0,
};

/* NFLAB_MATCH_TIME flags. */
enum nflab_time_flags {
	NFLAB_TIME_F_LOCALTIME = 1 << 0,
};

/* NFLAB_MATCH_A_WEEKDAYS bits. */
enum nflab_weekday {
	NFLAB_WEEKDAY_MON = 1 << 0,
	NFLAB_WEEKDAY_TUE = 1 << 1,
	NFLAB_WEEKDAY_WED = 1 << 2,
	NFLAB_WEEKDAY_THU = 1 << 3,
	NFLAB_WEEKDAY_FRI = 1 << 4,
	NFLAB_WEEKDAY_SAT = 1 << 5,
	NFLAB_WEEKDAY_SUN = 1 << 6,
};

#define NFLAB_WEEKDAY_ALL	0x7f

/* What NFLAB_MATCH_SET looks up. */
enum nflab_set_field {
	NFLAB_SET_FIELD_UNSPEC,
	NFLAB_SET_FIELD_SADDR,
	NFLAB_SET_FIELD_DADDR,
	NFLAB_SET_FIELD_SPORT,
	NFLAB_SET_FIELD_DPORT,

	__NFLAB_SET_FIELD_MAX
};

#define NFLAB_SET_FIELD_MAX (__NFLAB_SET_FIELD_MAX - 1)

/*
 * The actions (NFLAB_ACTION_A_TYPE), and where they may be used:
 *
 *    ACCEPT, DROP: end the packet's evaluation at this hook
 *    REJECT (filter): drop, answering with REJECT_WITH
 *    LOG: LOG_PREFIX (optional); a rate-limited kernel log line, then on
 *    CONTINUE: count only, then on to the next rule
 *    NOTRACK (raw): the packet is not tracked (ct state untracked), then on
 *    MARK (mangle): mark = (mark & ~MASK) | VALUE (MASK optional, all
 *        ones), then on
 *    TOS (mangle): the TOS byte = VALUE (0-255), then on
 *    DSCP (mangle): the DSCP = VALUE (0-63), then on
 *    TTL (mangle): TTL_MODE (set, inc or dec) with VALUE (1-255), then on
 *    JUMP, GOTO: CHAIN, a user chain of the same table; after a jump, its
 *        RETURN (or its end) comes back to the next rule
 *    RETURN: back to the chain that jumped here; in a built-in chain, its
 *        policy
 *
 * The NAT actions (protocol 4):
 *
 *    SNAT (nat, POST_ROUTING and LOCAL_IN): the source becomes an address
 *        from ADDR to ADDR_END (optional: ADDR alone) and, with PORT_RANGE,
 *        a port in it; then accept
 *    DNAT (nat, PRE_ROUTING and LOCAL_OUT): the destination becomes ADDR
 *        to ADDR_END and, with PORT_RANGE, a port in it; ADDR may be left
 *        out if PORT_RANGE is there (the port alone changes); then accept
 *    MASQUERADE (nat, POST_ROUTING): as SNAT to the primary address of
 *        the interface the packet leaves by; PORT_RANGE optional
 *    REDIRECT (nat, PRE_ROUTING and LOCAL_OUT): as DNAT to the primary
 *        address of the interface the packet came in by (127.0.0.1 at
 *        LOCAL_OUT); PORT_RANGE optional
 *
 * NAT actions take NAT_FLAGS (optional, enum nflab_nat_flags). PORT_RANGE
 * needs the rule to match protocol TCP or UDP; ranges go upward (first <=
 * last). A source port is kept where the translated tuple is free;
 * otherwise another is chosen in the range (or, without PORT_RANGE, in
 * the kernel's classic classes: 1-511 for a port below 512, 600-1023 for
 * one below 1024, else 1024-65535); an ICMP echo's id stands for the
 * port. No two
 * connections get the same reply tuple; a first packet for which no tuple
 * is free in the range is dropped (NFLAB_CT_STATS_A_NAT_EXHAUSTED).
 */
enum nflab_action {
	NFLAB_ACTION_UNSPEC,
	NFLAB_ACTION_ACCEPT,
	NFLAB_ACTION_DROP,
	NFLAB_ACTION_REJECT,
	NFLAB_ACTION_LOG,
	NFLAB_ACTION_CONTINUE,
	NFLAB_ACTION_NOTRACK,
	NFLAB_ACTION_MARK,
	NFLAB_ACTION_TOS,
	NFLAB_ACTION_DSCP,
	NFLAB_ACTION_TTL,
	NFLAB_ACTION_JUMP,
	NFLAB_ACTION_GOTO,
	NFLAB_ACTION_RETURN,
	/* The NAT actions (protocol 4): */
	NFLAB_ACTION_SNAT,
	NFLAB_ACTION_DNAT,
	NFLAB_ACTION_MASQUERADE,
	NFLAB_ACTION_REDIRECT,

	__NFLAB_ACTION_MAX
};

#define NFLAB_ACTION_MAX (__NFLAB_ACTION_MAX - 1)

enum nflab_action_attr {
	NFLAB_ACTION_A_UNSPEC,
	NFLAB_ACTION_A_TYPE,		/* u8, enum nflab_action */
	NFLAB_ACTION_A_CHAIN,		/* string */
	NFLAB_ACTION_A_REJECT_WITH,	/* u8, enum nflab_reject_with */
	NFLAB_ACTION_A_LOG_PREFIX,	/* string */
	NFLAB_ACTION_A_VALUE,		/* u32 */
	NFLAB_ACTION_A_MASK,		/* u32 */
	NFLAB_ACTION_A_TTL_MODE,	/* u8, enum nflab_ttl_mode */
	/* The NAT actions' attributes (protocol 4): */
	NFLAB_ACTION_A_ADDR,		/* be32 */
	NFLAB_ACTION_A_ADDR_END,	/* be32, >= ADDR */
	NFLAB_ACTION_A_PORT_RANGE,	/* u32: first << 16 | last, host order */
	NFLAB_ACTION_A_NAT_FLAGS,	/* u32, enum nflab_nat_flags */

	__NFLAB_ACTION_A_MAX
};

#define NFLAB_ACTION_A_MAX (__NFLAB_ACTION_A_MAX - 1)

/*
 * How REJECT answers: a TCP reset (TCP packets only), or an ICMP
 * destination unreachable with this code (the default: PORT_UNREACH).
 */
enum nflab_reject_with {
	NFLAB_REJECT_UNSPEC,
	NFLAB_REJECT_TCP_RESET,
	NFLAB_REJECT_NET_UNREACH,
	NFLAB_REJECT_HOST_UNREACH,
	NFLAB_REJECT_PROTO_UNREACH,
	NFLAB_REJECT_PORT_UNREACH,
	NFLAB_REJECT_NET_PROHIBITED,
	NFLAB_REJECT_HOST_PROHIBITED,
	NFLAB_REJECT_ADMIN_PROHIBITED,

	__NFLAB_REJECT_MAX
};

#define NFLAB_REJECT_MAX (__NFLAB_REJECT_MAX - 1)

/*
 * NFLAB_ACTION_A_NAT_FLAGS (protocol 4). A source port search starts at a
 * random offset; a destination's at one hashed from the connection, or
 * with RANDOM at a random one too. FULLY_RANDOM: the port is random even
 * when the original is free. PERSISTENT: a source gets the same address
 * from a range for all its connections (otherwise the address is hashed
 * from source and destination). FULLCONE (SNAT and MASQUERADE; UDP):
 * endpoint-independent mapping and filtering, RFC 4787's "full cone": one
 * internal address and port keeps one external address and port for every
 * destination while the mapping lives (while a connection uses it, and the
 * UDP assured timeout, udp_assured, after its last packet), and any
 * outside host may reach the internal one through it: a first packet to
 * that external address and port arriving at PRE_ROUTING, which no DNAT
 * rule took, is translated to the internal address and port.
 */
enum nflab_nat_flags {
	NFLAB_NAT_F_RANDOM = 1 << 0,
	NFLAB_NAT_F_FULLY_RANDOM = 1 << 1,
	NFLAB_NAT_F_PERSISTENT = 1 << 2,
	NFLAB_NAT_F_FULLCONE = 1 << 3,
};

#define NFLAB_NAT_F_ALL	(NFLAB_NAT_F_RANDOM | NFLAB_NAT_F_FULLY_RANDOM | \
			 NFLAB_NAT_F_PERSISTENT | NFLAB_NAT_F_FULLCONE)

enum nflab_ttl_mode {
	NFLAB_TTL_UNSPEC,
	NFLAB_TTL_SET,
	NFLAB_TTL_INC,
	NFLAB_TTL_DEC,

	__NFLAB_TTL_MAX
};

#define NFLAB_TTL_MAX (__NFLAB_TTL_MAX - 1)

/* NFLAB_RULE_A_STATE: one entry per stateful match. */
enum nflab_rule_state_attr {
	NFLAB_RULE_STATE_A_UNSPEC,
	NFLAB_RULE_STATE_A_PAD,
	NFLAB_RULE_STATE_A_QUOTA_USED,	/* u64, bytes */

	__NFLAB_RULE_STATE_A_MAX
};

#define NFLAB_RULE_STATE_A_MAX (__NFLAB_RULE_STATE_A_MAX - 1)

enum nflab_set_type {
	NFLAB_SET_TYPE_UNSPEC,
	NFLAB_SET_TYPE_ADDR,
	NFLAB_SET_TYPE_PORT,

	__NFLAB_SET_TYPE_MAX
};

#define NFLAB_SET_TYPE_MAX (__NFLAB_SET_TYPE_MAX - 1)

enum nflab_set_attr {
	NFLAB_SET_A_UNSPEC,
	NFLAB_SET_A_NAME,
	NFLAB_SET_A_TYPE,
	NFLAB_SET_A_ELEMS,
	NFLAB_SET_A_COUNT,
	NFLAB_SET_A_REFS,

	__NFLAB_SET_A_MAX
};

#define NFLAB_SET_A_MAX (__NFLAB_SET_A_MAX - 1)

/* Traces (protocol 6). */
#define NFLAB_TRACES_MAX		16	/* a namespace's traces */
#define NFLAB_TRACE_BUDGET_DEFAULT	100
#define NFLAB_TRACE_BUDGET_MAX		100000
#define NFLAB_TRACE_TIMEOUT_DEFAULT	60	/* seconds */
#define NFLAB_TRACE_TIMEOUT_MAX		86400
#define NFLAB_TRACE_RATE		2000	/* events a second, per trace */
/* A followed packet not seen for this long is reported gone (seconds). */
#define NFLAB_TRACE_IDLE		3

enum nflab_trace_attr {
	NFLAB_TRACE_A_UNSPEC,
	NFLAB_TRACE_A_PAD,
	NFLAB_TRACE_A_ID,
	NFLAB_TRACE_A_SRC,
	NFLAB_TRACE_A_SRC_PREFIX,
	NFLAB_TRACE_A_DST,
	NFLAB_TRACE_A_DST_PREFIX,
	NFLAB_TRACE_A_HOST,
	NFLAB_TRACE_A_HOST_PREFIX,
	NFLAB_TRACE_A_PROTO,
	NFLAB_TRACE_A_SPORT,
	NFLAB_TRACE_A_DPORT,
	NFLAB_TRACE_A_PORT,
	NFLAB_TRACE_A_IFNAME,
	NFLAB_TRACE_A_BUDGET,
	NFLAB_TRACE_A_TIMEOUT,
	NFLAB_TRACE_A_LEFT,
	NFLAB_TRACE_A_EXPIRES,
	NFLAB_TRACE_A_EVENTS,
	NFLAB_TRACE_A_LOST,

	__NFLAB_TRACE_A_MAX
};

#define NFLAB_TRACE_A_MAX (__NFLAB_TRACE_A_MAX - 1)

enum nflab_trace_event_attr {
	NFLAB_TRACE_EV_A_UNSPEC,
	NFLAB_TRACE_EV_A_PAD,
	NFLAB_TRACE_EV_A_TRACE,
	NFLAB_TRACE_EV_A_SEQ,
	NFLAB_TRACE_EV_A_PACKET,
	NFLAB_TRACE_EV_A_KIND,
	NFLAB_TRACE_EV_A_HOOK,
	NFLAB_TRACE_EV_A_TIME,
	NFLAB_TRACE_EV_A_IIF,
	NFLAB_TRACE_EV_A_OIF,
	NFLAB_TRACE_EV_A_IIFNAME,
	NFLAB_TRACE_EV_A_OIFNAME,
	NFLAB_TRACE_EV_A_LEN,
	NFLAB_TRACE_EV_A_TUPLE,
	NFLAB_TRACE_EV_A_TUPLE_OUT,
	NFLAB_TRACE_EV_A_TCP_FLAGS,
	NFLAB_TRACE_EV_A_CT,
	NFLAB_TRACE_EV_A_CT_INVALID,
	NFLAB_TRACE_EV_A_CT_ID,
	NFLAB_TRACE_EV_A_CT_DIR,
	NFLAB_TRACE_EV_A_TCP_STATE_OLD,
	NFLAB_TRACE_EV_A_TCP_STATE,
	NFLAB_TRACE_EV_A_CT_STATUS,
	NFLAB_TRACE_EV_A_RULE,
	NFLAB_TRACE_EV_A_VERDICT,
	NFLAB_TRACE_EV_A_DROP_BY,
	NFLAB_TRACE_EV_A_DROP_REASON,

	__NFLAB_TRACE_EV_A_MAX
};

#define NFLAB_TRACE_EV_A_MAX (__NFLAB_TRACE_EV_A_MAX - 1)

/* NFLAB_CT_A_HISTORY (protocol 6). */
#define NFLAB_CT_HISTORY_MAX	16

enum nflab_ct_history_attr {
	NFLAB_CT_HISTORY_A_UNSPEC,
	NFLAB_CT_HISTORY_A_PAD,
	NFLAB_CT_HISTORY_A_ENTRY,
	NFLAB_CT_HISTORY_A_TIME,
	NFLAB_CT_HISTORY_A_PACKET,
	NFLAB_CT_HISTORY_A_TRACE,
	NFLAB_CT_HISTORY_A_HOOK,
	NFLAB_CT_HISTORY_A_DIR,
	NFLAB_CT_HISTORY_A_TCP_STATE_OLD,
	NFLAB_CT_HISTORY_A_TCP_STATE,
	NFLAB_CT_HISTORY_A_STATUS_OLD,
	NFLAB_CT_HISTORY_A_STATUS,

	__NFLAB_CT_HISTORY_A_MAX
};

#define NFLAB_CT_HISTORY_A_MAX (__NFLAB_CT_HISTORY_A_MAX - 1)

/* NFLAB_TRACE_EV_A_KIND. */
enum nflab_trace_kind {
	NFLAB_TRACE_KIND_UNSPEC,
	/* the packet crossed nflab's functions at the hook (or was dropped) */
	NFLAB_TRACE_KIND_HOOK,
	/*
	 * the packet went away where nflab could not see it: freed by the
	 * kernel with DROP_REASON, or not seen again for a few seconds.
	 * DROP_BY says where: inside the hook (another hook dropped it),
	 * between hooks, or after its last hook (delivery, the device)
	 */
	NFLAB_TRACE_KIND_GONE,
	/*
	 * the trace ended (budget used, expired, deleted), once the packets
	 * it followed are done: no packet, only TRACE, SEQ, TIME; a watcher
	 * of that trace can stop. A namespace that goes sends none: nobody
	 * can listen there any more
	 */
	NFLAB_TRACE_KIND_END,
};

/* NFLAB_TRACE_EV_A_CT: the tracker's view of the packet. */
enum nflab_trace_ct {
	NFLAB_TRACE_CT_UNSPEC,
	NFLAB_TRACE_CT_FOUND,		/* of a tracked connection */
	NFLAB_TRACE_CT_NEW,		/* started a connection (in flight) */
	NFLAB_TRACE_CT_INVALID,		/* see NFLAB_TRACE_EV_A_CT_INVALID */
	NFLAB_TRACE_CT_RELATED,		/* an ICMP error about a connection */
	NFLAB_TRACE_CT_UNTRACKED,	/* a protocol or rule nflab skips */
	NFLAB_TRACE_CT_FULL,		/* dropped: the table was full */
};

/* NFLAB_TRACE_EV_A_CT_INVALID: why the tracker called a packet INVALID. */
enum nflab_trace_invalid {
	NFLAB_TRACE_INVALID_UNSPEC,
	NFLAB_TRACE_INVALID_HEADER,	/* truncated or malformed header */
	NFLAB_TRACE_INVALID_FRAGMENT,	/* a fragment defrag left */
	NFLAB_TRACE_INVALID_CHECKSUM,	/* bad L4 checksum at PRE_ROUTING */
	NFLAB_TRACE_INVALID_ICMP_ERROR,	/* an ICMP error about no connection */
	NFLAB_TRACE_INVALID_NO_NEW,	/* cannot start one: TCP without SYN, reply */
	NFLAB_TRACE_INVALID_STATE,	/* refused by the TCP state machine */
};

/* NFLAB_TRACE_EV_A_VERDICT. */
enum nflab_trace_verdict {
	NFLAB_TRACE_VERDICT_UNSPEC,
	NFLAB_TRACE_VERDICT_ACCEPT,	/* nflab let it go on */
	NFLAB_TRACE_VERDICT_DROP,	/* nflab dropped it here */
	NFLAB_TRACE_VERDICT_STOLEN,	/* nflab answered it (reject) and dropped it */
};

/* NFLAB_TRACE_EV_A_DROP_BY. */
enum nflab_trace_drop_by {
	NFLAB_TRACE_BY_UNSPEC,
	NFLAB_TRACE_BY_RULE,		/* a rule or chain policy (RULE says which) */
	NFLAB_TRACE_BY_TRACKER,		/* CT FULL */
	NFLAB_TRACE_BY_NAT,		/* no tuple, a clash, the entry lost */
	NFLAB_TRACE_BY_HOOK,		/* GONE inside HOOK: another hook there */
	NFLAB_TRACE_BY_BETWEEN,		/* GONE after HOOK, before the next */
	NFLAB_TRACE_BY_AFTER,		/* GONE after its last hook */
	/*
	 * no route for the packet that the mangle table or NAT changed
	 * (LOCAL_OUT, where the route is looked up again)
	 */
	NFLAB_TRACE_BY_ROUTE,
};

#endif /* _UAPI_NFLAB_H */
