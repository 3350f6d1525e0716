package nftypes

import (
	"fmt"
	"strconv"

	"github.com/nflab/nflab/nlproto"
)

// Version is what the running module reports about itself.
type Version struct {
	Module   string // the module's own version string
	Protocol uint32 // the NFLAB_PROTO_VERSION it speaks
	// Compat is the NFLAB_PROTO_COMPAT it reports: the oldest protocol
	// whose clients it still serves. A module that does not report it
	// has Compat equal to Protocol.
	Compat uint32
}

// A Hook is one of the five IPv4 netfilter hooks; the numbers are the
// kernel's (enum nf_inet_hooks), as the protocol carries them.
type Hook uint32

// The hooks, in the order a packet meets them.
const (
	PreRouting  Hook = nlproto.HOOK_PRE_ROUTING
	LocalIn     Hook = nlproto.HOOK_LOCAL_IN
	Forward     Hook = nlproto.HOOK_FORWARD
	LocalOut    Hook = nlproto.HOOK_LOCAL_OUT
	PostRouting Hook = nlproto.HOOK_POST_ROUTING
)

// hookNames come from enum nflab_hook.
var hookNames = nameTable(nlproto.EnumHook, false)

func (h Hook) name() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return ""
}

// String returns the kernel's name for h, such as "PRE_ROUTING", or
// "Hook(7)" for a number this client does not know.
func (h Hook) String() string {
	if n := h.name(); n != "" {
		return n
	}
	return "Hook(" + strconv.FormatUint(uint64(h), 10) + ")"
}

// MarshalText returns the hook's name, or its number if unknown.
func (h Hook) MarshalText() ([]byte, error) { return enumText(h.name(), uint64(h)), nil }

// MarshalJSON returns the hook's name as a string, or its number if unknown.
func (h Hook) MarshalJSON() ([]byte, error) { return enumJSON(h.name(), uint64(h)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (h *Hook) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := parseEnum(s, hookNames, "Hook", 32); ok {
		*h = Hook(n)
		return nil
	}
	return invalid("hook", fmt.Sprintf("unknown hook %q", s))
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (h *Hook) UnmarshalJSON(b []byte) error {
	return unmarshalEnumJSON(b, 32, func(n uint64) { *h = Hook(n) }, h.UnmarshalText)
}

// HookStat is what nflab counted at one hook since load or the last reset.
type HookStat struct {
	Hook    Hook
	Packets uint64
	Bytes   uint64 // IP header included
	// Drops counts the packets nflab dropped at the hook, by cause,
	// traced or not (protocol 6); nil from an older module, which does
	// not count them.
	Drops *HookDrops `json:",omitempty"`
}

// HookDrops are the packets nflab dropped at one hook, by cause, and
// those it let go there that did not reach the next hook.
type HookDrops struct {
	Rule    uint64 // by a rule or chain policy
	Invalid uint64 // of Rule, those the tracker called INVALID
	Full    uint64 // by the tracker: the table was full
	NAT     uint64 // by NAT: no free tuple, a clash, an entry lost
	// UnseenAfter, at PRE_ROUTING, FORWARD and LOCAL_OUT only (0 at the
	// others), counts the packets nflab let go at the hook that it did
	// not see at the next (LOCAL_IN or FORWARD; POST_ROUTING): dropped
	// by another hook there, by routing, rp_filter, TTL expiry and the
	// like, or still queued. It is a difference of counters, approximate
	// where clones and multicast copies add packets.
	UnseenAfter uint64
}

// HasUnseenAfter reports whether the module counts HookDrops.UnseenAfter
// at h: at a hook with a next one that every packet it lets go must reach.
func (h Hook) HasUnseenAfter() bool {
	return h == PreRouting || h == Forward || h == LocalOut
}
