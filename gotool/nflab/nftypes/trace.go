package nftypes

import (
	"net/netip"
	"strings"
	"time"

	"github.com/nflab/nflab/nlproto"
)

// Limits of packet traces (protocol 6), from the protocol.
const (
	MaxTraces           = nlproto.TRACES_MAX                          // traces of a namespace
	DefaultTraceBudget  = nlproto.TRACE_BUDGET_DEFAULT                // packets, when TraceSpec.Budget is 0
	MaxTraceBudget      = nlproto.TRACE_BUDGET_MAX                    // packets
	DefaultTraceTimeout = nlproto.TRACE_TIMEOUT_DEFAULT * time.Second // when TraceSpec.Timeout is 0
	MinTraceTimeout     = time.Second
	MaxTraceTimeout     = nlproto.TRACE_TIMEOUT_MAX * time.Second
	TraceRate           = nlproto.TRACE_RATE // events a second a trace may send; the module drops the rest, counting them
)

// A TraceSelector chooses the packets a trace follows. Zero fields match
// anything; every non-zero field must hold. The module tries it once per
// packet, where nflab first sees the packet in the namespace (PRE_ROUTING
// or LOCAL_OUT), against the packet's tuple and, for a tracked packet,
// against both tuples of its connection, so that a selector on a client's
// address follows the replies of a NATed connection too.
//
// ParseTraceSelector reads it from pcap-like words; String writes them.
type TraceSelector struct {
	Src  netip.Prefix `json:",omitzero"` // source in the prefix; IPv4, masked
	Dst  netip.Prefix `json:",omitzero"` // destination in the prefix
	Host netip.Prefix `json:",omitzero"` // source or destination in the prefix
	// Proto is an IP protocol number, any: traces are not limited to
	// the protocols the tracker knows.
	Proto   Proto  `json:",omitempty"`
	SrcPort uint16 `json:",omitempty"` // needs Proto TCP or UDP
	DstPort uint16 `json:",omitempty"` // needs Proto TCP or UDP
	Port    uint16 `json:",omitempty"` // source or destination port; needs Proto TCP or UDP
	// Iface is the input or output device's name, exactly (no
	// wildcard), at most MaxIfaceLen bytes.
	Iface string `json:",omitempty"`
}

// IsZero reports whether s selects every packet.
func (s TraceSelector) IsZero() bool { return s == TraceSelector{} }

// Validate reports what makes s unusable, before anything is sent: the
// rules of ConnFilter's prefixes and ports.
func (s TraceSelector) Validate() error {
	for _, p := range []struct {
		what string
		p    netip.Prefix
	}{{"source", s.Src}, {"destination", s.Dst}, {"host", s.Host}} {
		switch {
		case p.p == netip.Prefix{}:
		case !p.p.IsValid() || !p.p.Addr().Is4():
			return invalidf("selector", "%s %v is not an IPv4 prefix", p.what, p.p)
		case p.p != p.p.Masked():
			return invalidf("selector", "%s %v has bits set past its prefix length (did you mean %v?)", p.what, p.p, p.p.Masked())
		}
	}
	if (s.SrcPort != 0 || s.DstPort != 0 || s.Port != 0) && s.Proto != TCP && s.Proto != UDP {
		if s.Proto == 0 {
			return invalid("selector", "ports need protocol tcp or udp; say which")
		}
		return invalidf("selector", "ports apply to tcp and udp, not %s", protoWord(s.Proto))
	}
	if err := validateIface(s.Iface); err != nil {
		return err
	}
	return nil
}

// validateIface checks a device name as the kernel's dev_valid_name does.
func validateIface(name string) error {
	switch {
	case name == "":
		return nil
	case len(name) > MaxIfaceLen:
		return invalidf("selector", "interface name %q is longer than %d bytes", name, MaxIfaceLen)
	case name == "." || name == "..":
		return invalidf("selector", "interface name %q is not valid", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || r <= ' ' || r == 0x7f }):
		return invalidf("selector", "interface name %q holds a character a device name cannot ('/', ':', a space or a control character)", name)
	}
	return nil
}

// A TraceSpec is a trace to start: which packets, how many and how long.
type TraceSpec struct {
	Selector TraceSelector
	// Budget is how many packets the trace may follow, 1 to
	// MaxTraceBudget; 0 leaves it to the module (DefaultTraceBudget).
	Budget int `json:",omitempty"`
	// Timeout is how long the trace lives, whole seconds from
	// MinTraceTimeout to MaxTraceTimeout; 0 leaves it to the module
	// (DefaultTraceTimeout).
	Timeout time.Duration `json:",omitempty"`
}

// Validate reports what makes s unusable, before anything is sent.
func (s TraceSpec) Validate() error {
	if err := s.Selector.Validate(); err != nil {
		return err
	}
	if s.Budget < 0 || s.Budget > MaxTraceBudget {
		return invalidf("trace", "budget %d is out of range (1 to %d packets)", s.Budget, MaxTraceBudget)
	}
	if s.Timeout != 0 {
		if s.Timeout%time.Second != 0 {
			return invalidf("trace", "timeout %v is not a whole number of seconds", s.Timeout)
		}
		if s.Timeout < MinTraceTimeout || s.Timeout > MaxTraceTimeout {
			return invalidf("trace", "timeout %v is out of range (1s to %v)", s.Timeout, MaxTraceTimeout)
		}
	}
	return nil
}

// A Trace is a running trace, as the module reports it.
type Trace struct {
	ID        uint32 // unique while the module is loaded, from 1
	Selector  TraceSelector
	Budget    int           // the packets it may follow
	Left      int           // of Budget, the packets left; it ends at 0
	Timeout   time.Duration // how long it lives, from its start
	Remaining time.Duration // how long it has left (NFLAB_TRACE_A_EXPIRES)
	Events    uint64        // events sent
	// Lost counts the events the module could not send: over the rate
	// limit (TraceRate a second), without memory, or without a listener.
	Lost uint64
}

// A TraceKind says what a TraceEvent reports.
type TraceKind uint8

// The kinds.
const (
	// TraceHook: the packet crossed nflab's functions at Hook, or was
	// dropped there.
	TraceHook TraceKind = nlproto.TRACE_KIND_HOOK
	// TraceGone: the packet went away where nflab could not see it,
	// freed by the kernel with DropReason or not seen again for a few
	// seconds; DropBy says where (inside Hook, between Hook and the
	// next, or after Hook, its last).
	TraceGone TraceKind = nlproto.TRACE_KIND_GONE
	// TraceEnd: the trace ended (its budget used, expired, deleted, its
	// namespace gone). It carries no packet, only Trace, Seq and Time,
	// and is the trace's last event.
	TraceEnd TraceKind = nlproto.TRACE_KIND_END
)

var traceKindDef = &enumDef{"TraceKind", "trace kind", dashTable(nlproto.EnumTraceKind), 8}

// String returns "hook", "gone" or "end", or "TraceKind(N)".
func (k TraceKind) String() string { return traceKindDef.str(uint64(k)) }

// MarshalText returns the kind's name, or its number if unknown.
func (k TraceKind) MarshalText() ([]byte, error) { return traceKindDef.text(uint64(k)) }

// MarshalJSON returns the kind's name as a string, or its number if unknown.
func (k TraceKind) MarshalJSON() ([]byte, error) { return traceKindDef.json(uint64(k)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (k *TraceKind) UnmarshalText(b []byte) error {
	n, err := traceKindDef.parse(b)
	*k = TraceKind(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (k *TraceKind) UnmarshalJSON(b []byte) error {
	return traceKindDef.parseJSON(b, func(n uint64) { *k = TraceKind(n) })
}

// A TraceCT is what the tracker made of a packet, at PRE_ROUTING and
// LOCAL_OUT.
type TraceCT uint8

// The tracker's results.
const (
	TraceCTFound     TraceCT = nlproto.TRACE_CT_FOUND     // of a tracked connection
	TraceCTNew       TraceCT = nlproto.TRACE_CT_NEW       // started a connection (in flight until confirmed)
	TraceCTInvalid   TraceCT = nlproto.TRACE_CT_INVALID   // see TraceEvent.Invalid
	TraceCTRelated   TraceCT = nlproto.TRACE_CT_RELATED   // an ICMP error about a connection
	TraceCTUntracked TraceCT = nlproto.TRACE_CT_UNTRACKED // a protocol or a rule nflab skips
	TraceCTFull      TraceCT = nlproto.TRACE_CT_FULL      // dropped: the table was full
)

var traceCTDef = &enumDef{"TraceCT", "tracker result", dashTable(nlproto.EnumTraceCT), 8}

// String returns "found", "new", "invalid", "related", "untracked" or
// "full", or "TraceCT(N)".
func (c TraceCT) String() string { return traceCTDef.str(uint64(c)) }

// MarshalText returns the result's name, or its number if unknown.
func (c TraceCT) MarshalText() ([]byte, error) { return traceCTDef.text(uint64(c)) }

// MarshalJSON returns the result's name as a string, or its number if unknown.
func (c TraceCT) MarshalJSON() ([]byte, error) { return traceCTDef.json(uint64(c)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (c *TraceCT) UnmarshalText(b []byte) error {
	n, err := traceCTDef.parse(b)
	*c = TraceCT(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (c *TraceCT) UnmarshalJSON(b []byte) error {
	return traceCTDef.parseJSON(b, func(n uint64) { *c = TraceCT(n) })
}

// A TraceInvalid says why the tracker called a packet INVALID.
type TraceInvalid uint8

// The reasons.
const (
	TraceInvalidHeader    TraceInvalid = nlproto.TRACE_INVALID_HEADER     // a truncated or malformed header
	TraceInvalidFragment  TraceInvalid = nlproto.TRACE_INVALID_FRAGMENT   // a fragment defragmentation left
	TraceInvalidChecksum  TraceInvalid = nlproto.TRACE_INVALID_CHECKSUM   // a bad L4 checksum at PRE_ROUTING
	TraceInvalidICMPError TraceInvalid = nlproto.TRACE_INVALID_ICMP_ERROR // an ICMP error about no connection
	TraceInvalidNoNew     TraceInvalid = nlproto.TRACE_INVALID_NO_NEW     // cannot start one: TCP without SYN, a reply
	TraceInvalidState     TraceInvalid = nlproto.TRACE_INVALID_STATE      // refused by the TCP state machine
)

var traceInvalidDef = &enumDef{"TraceInvalid", "invalid reason", dashTable(nlproto.EnumTraceInvalid), 8}

// String returns the reason's name, such as "checksum" or "no-new", or
// "TraceInvalid(N)".
func (r TraceInvalid) String() string { return traceInvalidDef.str(uint64(r)) }

// MarshalText returns the reason's name, or its number if unknown.
func (r TraceInvalid) MarshalText() ([]byte, error) { return traceInvalidDef.text(uint64(r)) }

// MarshalJSON returns the reason's name as a string, or its number if unknown.
func (r TraceInvalid) MarshalJSON() ([]byte, error) { return traceInvalidDef.json(uint64(r)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (r *TraceInvalid) UnmarshalText(b []byte) error {
	n, err := traceInvalidDef.parse(b)
	*r = TraceInvalid(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (r *TraceInvalid) UnmarshalJSON(b []byte) error {
	return traceInvalidDef.parseJSON(b, func(n uint64) { *r = TraceInvalid(n) })
}

// A TraceVerdict is nflab's verdict on a packet at a hook, or a rule's.
type TraceVerdict uint8

// The verdicts.
const (
	TraceAccept TraceVerdict = nlproto.TRACE_VERDICT_ACCEPT // nflab let it go on
	TraceDrop   TraceVerdict = nlproto.TRACE_VERDICT_DROP   // nflab dropped it here
	TraceStolen TraceVerdict = nlproto.TRACE_VERDICT_STOLEN // nflab answered it (reject) and dropped it
)

var traceVerdictDef = &enumDef{"TraceVerdict", "verdict", dashTable(nlproto.EnumTraceVerdict), 8}

// String returns "accept", "drop" or "stolen", or "TraceVerdict(N)".
func (v TraceVerdict) String() string { return traceVerdictDef.str(uint64(v)) }

// MarshalText returns the verdict's name, or its number if unknown.
func (v TraceVerdict) MarshalText() ([]byte, error) { return traceVerdictDef.text(uint64(v)) }

// MarshalJSON returns the verdict's name as a string, or its number if unknown.
func (v TraceVerdict) MarshalJSON() ([]byte, error) { return traceVerdictDef.json(uint64(v)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (v *TraceVerdict) UnmarshalText(b []byte) error {
	n, err := traceVerdictDef.parse(b)
	*v = TraceVerdict(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (v *TraceVerdict) UnmarshalJSON(b []byte) error {
	return traceVerdictDef.parseJSON(b, func(n uint64) { *v = TraceVerdict(n) })
}

// A TraceDropBy says who dropped a packet (a TraceDrop verdict) or where
// it went (TraceGone).
type TraceDropBy uint8

// The droppers and places.
const (
	TraceByRule    TraceDropBy = nlproto.TRACE_BY_RULE    // a rule or chain policy; TraceEvent.Rules says which
	TraceByTracker TraceDropBy = nlproto.TRACE_BY_TRACKER // the tracker: its table was full
	TraceByNAT     TraceDropBy = nlproto.TRACE_BY_NAT     // NAT: no free tuple, a clash, the entry lost
	TraceByHook    TraceDropBy = nlproto.TRACE_BY_HOOK    // gone inside Hook: another hook there dropped it
	TraceByBetween TraceDropBy = nlproto.TRACE_BY_BETWEEN // gone after Hook, before the next
	TraceByAfter   TraceDropBy = nlproto.TRACE_BY_AFTER   // gone after Hook, its last (delivery, the device)
	TraceByRoute   TraceDropBy = nlproto.TRACE_BY_ROUTE   // no route for a packet the mangle table or NAT changed (LOCAL_OUT)
)

var traceDropByDef = &enumDef{"TraceDropBy", "drop by", dashTable(nlproto.EnumTraceDropBy), 8}

// String returns "rule", "tracker", "nat", "hook", "between", "after" or
// "route", or "TraceDropBy(N)".
func (d TraceDropBy) String() string { return traceDropByDef.str(uint64(d)) }

// MarshalText returns the name, or the number if unknown.
func (d TraceDropBy) MarshalText() ([]byte, error) { return traceDropByDef.text(uint64(d)) }

// MarshalJSON returns the name as a string, or the number if unknown.
func (d TraceDropBy) MarshalJSON() ([]byte, error) { return traceDropByDef.json(uint64(d)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (d *TraceDropBy) UnmarshalText(b []byte) error {
	n, err := traceDropByDef.parse(b)
	*d = TraceDropBy(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (d *TraceDropBy) UnmarshalJSON(b []byte) error {
	return traceDropByDef.parseJSON(b, func(n uint64) { *d = TraceDropBy(n) })
}

// A Dir is a direction of a tracked connection, as a packet travels it.
type Dir uint8

// The directions (the protocol's NFLAB_TRACE_EV_A_CT_DIR: 0 and 1).
const (
	DirOriginal Dir = 0
	DirReply    Dir = 1
)

// dirDef's names are the client's own: nflab.h numbers the directions
// without an enum.
var dirDef = &enumDef{"Dir", "direction", []string{"original", "reply"}, 8}

// String returns "original" or "reply", or "Dir(N)".
func (d Dir) String() string { return dirDef.str(uint64(d)) }

// MarshalText returns the direction's name, or its number if unknown.
func (d Dir) MarshalText() ([]byte, error) { return dirDef.text(uint64(d)) }

// MarshalJSON returns the direction's name as a string, or its number if unknown.
func (d Dir) MarshalJSON() ([]byte, error) { return dirDef.json(uint64(d)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (d *Dir) UnmarshalText(b []byte) error {
	n, err := dirDef.parse(b)
	*d = Dir(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (d *Dir) UnmarshalJSON(b []byte) error {
	return dirDef.parseJSON(b, func(n uint64) { *d = Dir(n) })
}

// A TraceRule is a table's decision about a packet at a hook: the rule
// whose action ended the table's evaluation (accept, drop, reject, a NAT
// action), or the built-in chain's policy when it dropped the packet.
type TraceRule struct {
	Table   Table
	Chain   string
	Handle  uint64       `json:",omitempty"` // the rule's handle; 0 for the chain's policy
	Comment string       `json:",omitempty"`
	Verdict TraceVerdict // what it decided
}

// IsPolicy reports whether r is a built-in chain's policy, not a rule.
func (r TraceRule) IsPolicy() bool { return r.Handle == 0 }

// A TraceEvent is what a trace reports about one packet at one hook, a
// packet gone (TraceGone), or the trace's end (TraceEnd). Fields the
// module did not send are zero: their comments say when it sends them.
type TraceEvent struct {
	Trace  uint32 // the trace's ID
	Seq    uint64 // the trace's event count, from 1; a gap means lost events
	Packet uint64 // the packet's ID, the same at every hook and for its clones; not for TraceEnd
	Kind   TraceKind
	Hook   Hook      // where it happened; for TraceGone, the last hook nflab saw the packet at
	Time   time.Time // UTC

	// The hook's devices, where it has them: names and ifindexes.
	InIface, OutIface string       `json:",omitempty"`
	InIndex, OutIndex uint32       `json:",omitempty"`
	Len               uint32       `json:",omitempty"` // the packet's length at the hook
	Tuple             Tuple        `json:",omitzero"`  // the packet as it reached nflab at the hook; ports or ICMP fields only where the packet has them
	TupleOut          *Tuple       `json:",omitempty"` // the packet as it left the hook, when NAT changed it there
	TCPFlags          TCPFlags     `json:",omitempty"` // TCP only
	CT                TraceCT      `json:",omitempty"` // at PRE_ROUTING and LOCAL_OUT
	Invalid           TraceInvalid `json:",omitempty"` // with CT TraceCTInvalid
	CTID              uint32       `json:",omitempty"` // the connection's Conn.ID
	Dir               Dir          `json:",omitempty"` // the direction the packet travels its connection
	// TCPStateOld and TCPState are the connection's TCP state before
	// and after the packet, TCP only.
	TCPStateOld, TCPState TCPState   `json:",omitempty"`
	CTStatus              ConnStatus `json:",omitempty"` // the connection's status after the packet
	// Rules are the decisions of the tables at the hook that decided
	// something, in table order.
	Rules      []TraceRule  `json:",omitempty"`
	Verdict    TraceVerdict `json:",omitempty"` // nflab's verdict at the hook
	DropBy     TraceDropBy  `json:",omitempty"` // with Verdict TraceDrop, or TraceGone
	DropReason string       `json:",omitempty"` // the kernel's skb_drop_reason name, such as "NO_SOCKET" (TraceGone)
}

// A TraceLoss reports events a watch of traces could not deliver. It is
// never silent: WatchTraces passes each loss to its callback.
type TraceLoss struct {
	// Trace is the trace whose events were lost, told by a gap in its
	// Seq; 0 for a receive buffer overrun, which may lose the events of
	// any trace (the gaps that follow then say how many of whose).
	Trace uint32 `json:",omitempty"`
	// Events is how many, the gap's size; 0 for an overrun.
	Events uint64 `json:",omitempty"`
	// FirstSeq and LastSeq are the Seq of the first and last events lost
	// (a gap); 0 for an overrun.
	FirstSeq, LastSeq uint64 `json:",omitempty"`
	// EndMissing says that the end event of Trace never came, though the
	// module no longer lists the trace: the end, and maybe events before
	// it, were lost. A follower (Client.FollowTrace) reports it, then
	// ends. Events, FirstSeq and LastSeq are 0: how many were lost is not
	// known.
	EndMissing bool `json:",omitempty"`
}

// Overrun reports whether l is a receive buffer overrun, whose count and
// traces the gaps after it tell.
func (l TraceLoss) Overrun() bool { return l.Trace == 0 }

// A TraceReport is what WatchTraces passes to its callback: an Event or,
// when Lost is not nil, a loss of events.
type TraceReport struct {
	Event TraceEvent `json:",omitzero"` // zero when Lost is set
	Lost  *TraceLoss `json:",omitempty"`
}
