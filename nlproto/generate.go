// Package nlproto holds the numbers and names of the nflab generic netlink
// protocol.
//
// They are generated from nflab.h, the one definition that the kernel module
// compiles against, so Go and C cannot drift apart; edit the header and run
// "go generate ./nlproto" (make generate), never the zz_ files.
//
// # Constants
//
// Every #define and enum member of nflab.h with a value becomes an untyped
// constant named as in C without "NFLAB_": NFLAB_CMD_CT_GET is CMD_CT_GET,
// NFLAB_MODULE_VERSION is MODULE_VERSION. Enum sentinels (__NFLAB_X_MAX) are
// left out; the NFLAB_X_MAX defines computed from them stay.
//
// # Name tables
//
// Every tagged enum also becomes a variable of type Enum, named "Enum" and
// the tag without "nflab_" in camel case, with initialisms (CT, GC, ICMP,
// ID, IP, NAT, TCP, UDP) in upper case: enum nflab_tcp_state is
// EnumTCPState, enum nflab_ct_timeout_attr EnumCTTimeoutAttr. It lists the
// enum's members in header order, each as a Name: its Value, its C name
// ("NFLAB_TCP_SYN_SENT") and its Short name, the C name without the prefix
// that all members of the enum share and that ends in "_" (Enum.Prefix,
// "NFLAB_TCP_"): "SYN_SENT". UNSPEC and PAD members are listed too; callers
// skip what they do not show. The tables are for reading only.
//
// Display names derive from them without further tables: the client shows
// hooks, TCP states and status bits by Short name ("PRE_ROUTING",
// "SYN_SENT2", "SEEN_REPLY"), timeouts and statistics counters by Short
// name in lower case (Name.Lower: "tcp_syn_sent", "early_drop"), event types
// by the lower-case Short name within the CT_EVENT_ commands
// (EnumCmd.Sub("CT_EVENT_"): "new", "update", "destroy"), and attributes in
// parse errors by C name ("NFLAB_A_PROTO_VERSION").
//
// # Checked by the C compiler
//
// The generator evaluates nflab.h's constant expressions itself. So that a
// misread value cannot go unnoticed, it also writes zz_static_assert.h, a
// static_assert (or, for a string, an identical redefinition) per constant
// with the value it computed; the module build compiles it
// (kmod/nlproto_check.c), and so does a unit test with the host's cc.
package nlproto

//go:generate go run ./internal/gen -in nflab.h -out zz_generated.go -asserts zz_static_assert.h
