package nftypes

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/nlproto"
)

// A Proto is an IP protocol number; nflab tracks TCP, UDP and ICMP.
type Proto uint8

// The protocols nflab tracks.
const (
	ICMP Proto = 1
	TCP  Proto = 6
	UDP  Proto = 17
)

func (p Proto) name() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	}
	return ""
}

// String returns "tcp", "udp" or "icmp", or "Proto(N)" for another number.
func (p Proto) String() string {
	if n := p.name(); n != "" {
		return n
	}
	return "Proto(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText returns the protocol's name, or its number if unknown.
func (p Proto) MarshalText() ([]byte, error) { return enumText(p.name(), uint64(p)), nil }

// MarshalJSON returns the protocol's name as a string, or its number if
// unknown.
func (p Proto) MarshalJSON() ([]byte, error) { return enumJSON(p.name(), uint64(p)) }

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (p *Proto) UnmarshalJSON(b []byte) error {
	return unmarshalEnumJSON(b, 8, func(n uint64) { *p = Proto(n) }, p.UnmarshalText)
}

// UnmarshalText accepts "tcp", "udp" and "icmp" in any case, a number, and
// what String writes for other numbers.
func (p *Proto) UnmarshalText(b []byte) error {
	s := string(b)
	for _, q := range []Proto{TCP, UDP, ICMP} {
		if strings.EqualFold(s, q.String()) {
			*p = q
			return nil
		}
	}
	if n, ok := parseEnumNumber(s, "Proto", 8); ok {
		*p = Proto(n)
		return nil
	}
	return invalidf("protocol", "unknown protocol %q (want tcp, udp or icmp)", s)
}

// A TCPState is the state of a tracked TCP connection.
type TCPState uint8

// The TCP states, as Linux's tracker names them.
const (
	TCPNone        TCPState = nlproto.TCP_NONE
	TCPSynSent     TCPState = nlproto.TCP_SYN_SENT
	TCPSynRecv     TCPState = nlproto.TCP_SYN_RECV
	TCPEstablished TCPState = nlproto.TCP_ESTABLISHED
	TCPFinWait     TCPState = nlproto.TCP_FIN_WAIT
	TCPCloseWait   TCPState = nlproto.TCP_CLOSE_WAIT
	TCPLastAck     TCPState = nlproto.TCP_LAST_ACK
	TCPTimeWait    TCPState = nlproto.TCP_TIME_WAIT
	TCPClose       TCPState = nlproto.TCP_CLOSE
	TCPSynSent2    TCPState = nlproto.TCP_SYN_SENT2 // simultaneous open
)

// tcpStateNames come from enum nflab_tcp_state.
var tcpStateNames = nameTable(nlproto.EnumTCPState, false)

// String returns the state's name, such as "ESTABLISHED", or
// "TCPState(N)" for a number this client does not know.
func (s TCPState) String() string {
	if n := s.name(); n != "" {
		return n
	}
	return "TCPState(" + strconv.Itoa(int(s)) + ")"
}

func (s TCPState) name() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return ""
}

// MarshalText returns the state's name, or its number if unknown.
func (s TCPState) MarshalText() ([]byte, error) { return enumText(s.name(), uint64(s)), nil }

// MarshalJSON returns the state's name as a string, or its number if
// unknown.
func (s TCPState) MarshalJSON() ([]byte, error) { return enumJSON(s.name(), uint64(s)) }

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (s *TCPState) UnmarshalJSON(b []byte) error {
	return unmarshalEnumJSON(b, 8, func(n uint64) { *s = TCPState(n) }, s.UnmarshalText)
}

// UnmarshalText accepts a name in any case, a number, or what String
// writes.
func (s *TCPState) UnmarshalText(b []byte) error {
	str := string(b)
	if n, ok := parseEnum(str, tcpStateNames, "TCPState", 8); ok {
		*s = TCPState(n)
		return nil
	}
	return invalidf("TCP state", "unknown TCP state %q (want one of %s)", str, strings.Join(tcpStateNames[:], ", "))
}

// ConnStatus is a set of entry status bits.
type ConnStatus uint32

// The status bits.
const (
	StatusSeenReply ConnStatus = nlproto.CT_STATUS_SEEN_REPLY // a reply-direction packet passed
	StatusAssured   ConnStatus = nlproto.CT_STATUS_ASSURED    // not evicted early when the table is full
	StatusConfirmed ConnStatus = nlproto.CT_STATUS_CONFIRMED  // in the table
	StatusDying     ConnStatus = nlproto.CT_STATUS_DYING      // being removed
	// NAT: the reply tuple's destination (address or port) differs from
	// the original's source (StatusSrcNAT: snat, masquerade, or a source
	// port moved to keep reply tuples unique), its source from the
	// original's destination (StatusDstNAT: dnat, redirect, or inbound
	// through a fullcone mapping).
	StatusSrcNAT ConnStatus = nlproto.CT_STATUS_SRC_NAT
	StatusDstNAT ConnStatus = nlproto.CT_STATUS_DST_NAT
)

// statusBits are enum nflab_ct_status: the bits (Value) and their names.
var statusBits = nlproto.EnumCTStatus

const knownStatus ConnStatus = nlproto.CT_STATUS_ALL

// Names returns the names of the bits in s, lowest bit first; bits this
// client does not know appear in hex, such as "0x10". It returns an empty,
// non-nil slice for no bits.
func (s ConnStatus) Names() []string {
	names := []string{}
	for _, n := range statusBits.Names {
		if s&ConnStatus(n.Value) != 0 {
			names = append(names, n.Short)
		}
	}
	for bit := ConnStatus(1); bit != 0; bit <<= 1 {
		if s&bit != 0 && knownStatus&bit == 0 {
			names = append(names, fmt.Sprintf("%#x", uint32(bit)))
		}
	}
	return names
}

// String returns the names of the bits joined by commas, such as
// "SEEN_REPLY,ASSURED", or "none" for no bits.
func (s ConnStatus) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// MarshalText returns String.
func (s ConnStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what MarshalText writes: bit names, in any case,
// or hex bits, separated by commas; "none" or "" for no bits.
func (s *ConnStatus) UnmarshalText(b []byte) error {
	str := string(b)
	if str == "" || strings.EqualFold(str, "none") {
		*s = 0
		return nil
	}
	var v ConnStatus
	for part := range strings.SplitSeq(str, ",") {
		if n, ok := statusBits.Parse(part); ok {
			v |= ConnStatus(n.Value)
			continue
		}
		if hex, ok := strings.CutPrefix(strings.ToLower(part), "0x"); ok {
			if n, err := strconv.ParseUint(hex, 16, 32); err == nil {
				v |= ConnStatus(n)
				continue
			}
		}
		return invalidf("status", "unknown status %q (want one of %s, or hex bits)", part, strings.Join(statusBits.Shorts(), ", "))
	}
	*s = v
	return nil
}

// A Timeout names one of the tracker's timeouts.
type Timeout uint16

// The timeouts; the defaults (in comments) are Linux's.
const (
	TimeoutTCPSynSent     Timeout = nlproto.CT_TIMEOUT_A_TCP_SYN_SENT    // 120 s
	TimeoutTCPSynRecv     Timeout = nlproto.CT_TIMEOUT_A_TCP_SYN_RECV    // 60 s
	TimeoutTCPEstablished Timeout = nlproto.CT_TIMEOUT_A_TCP_ESTABLISHED // 5 days
	TimeoutTCPFinWait     Timeout = nlproto.CT_TIMEOUT_A_TCP_FIN_WAIT    // 120 s
	TimeoutTCPCloseWait   Timeout = nlproto.CT_TIMEOUT_A_TCP_CLOSE_WAIT  // 60 s
	TimeoutTCPLastAck     Timeout = nlproto.CT_TIMEOUT_A_TCP_LAST_ACK    // 30 s
	TimeoutTCPTimeWait    Timeout = nlproto.CT_TIMEOUT_A_TCP_TIME_WAIT   // 120 s
	TimeoutTCPClose       Timeout = nlproto.CT_TIMEOUT_A_TCP_CLOSE       // 10 s
	TimeoutUDPUnreplied   Timeout = nlproto.CT_TIMEOUT_A_UDP_UNREPLIED   // 30 s
	TimeoutUDPAssured     Timeout = nlproto.CT_TIMEOUT_A_UDP_ASSURED     // 120 s
	TimeoutICMP           Timeout = nlproto.CT_TIMEOUT_A_ICMP            // 30 s
	// The TCP caps: a TCP entry lasts at most TimeoutTCPRetrans after three
	// identical segments in a row (or a zero window), and at most
	// TimeoutTCPUnack while data is unacknowledged or no reply was seen.
	TimeoutTCPRetrans Timeout = nlproto.CT_TIMEOUT_A_TCP_RETRANS // 300 s
	TimeoutTCPUnack   Timeout = nlproto.CT_TIMEOUT_A_TCP_UNACK   // 300 s
)

// timeoutNames come from enum nflab_ct_timeout_attr, in lower case.
var timeoutNames = nameTable(nlproto.EnumCTTimeoutAttr, true, "UNSPEC")

// Timeouts lists every timeout, in protocol order.
func Timeouts() []Timeout {
	ts := make([]Timeout, 0, len(timeoutNames)-1)
	for t := TimeoutTCPSynSent; int(t) < len(timeoutNames); t++ {
		ts = append(ts, t)
	}
	return ts
}

func (t Timeout) known() bool { return t > 0 && int(t) < len(timeoutNames) }

// String returns the timeout's name, such as "tcp_established", or
// "Timeout(N)" for a number this client does not know.
func (t Timeout) String() string {
	if t.known() {
		return timeoutNames[t]
	}
	return "Timeout(" + strconv.Itoa(int(t)) + ")"
}

func (t Timeout) name() string {
	if t.known() {
		return timeoutNames[t]
	}
	return ""
}

// MarshalText returns the timeout's name, or its number if unknown.
func (t Timeout) MarshalText() ([]byte, error) { return enumText(t.name(), uint64(t)), nil }

// MarshalJSON returns the timeout's name as a string, or its number if
// unknown.
func (t Timeout) MarshalJSON() ([]byte, error) { return enumJSON(t.name(), uint64(t)) }

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (t *Timeout) UnmarshalJSON(b []byte) error {
	return unmarshalEnumJSON(b, 16, func(n uint64) { *t = Timeout(n) }, t.UnmarshalText)
}

// UnmarshalText accepts a name in any case, a number, or what String
// writes.
func (t *Timeout) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := parseEnum(s, timeoutNames, "Timeout", 16); ok {
		*t = Timeout(n)
		return nil
	}
	return invalidf("timeout", "unknown timeout %q (want one of %s)", s, strings.Join(timeoutNames[1:], ", "))
}

// A Tuple is one direction of a tracked flow. Ports apply to TCP and UDP
// only, ICMPID and ICMPType to ICMP only.
type Tuple struct {
	Src, Dst         netip.Addr // IPv4
	Proto            Proto
	SrcPort, DstPort uint16
	ICMPID           uint16
	ICMPType         uint8 // the request type in an original tuple, the reply type in a reply tuple
}

// Validate reports what makes t unusable as a lookup key.
func (t Tuple) Validate() error {
	if !t.Src.Is4() {
		return invalidf("tuple", "source %v is not an IPv4 address", t.Src)
	}
	if !t.Dst.Is4() {
		return invalidf("tuple", "destination %v is not an IPv4 address", t.Dst)
	}
	switch t.Proto {
	case TCP, UDP:
		if t.ICMPID != 0 || t.ICMPType != 0 {
			return invalidf("tuple", "ICMP id and type apply to icmp, not %s", t.Proto)
		}
	case ICMP:
		if t.SrcPort != 0 || t.DstPort != 0 {
			return invalid("tuple", "ports apply to tcp and udp, not icmp")
		}
	default:
		return invalidf("tuple", "protocol %s is not tracked (want tcp, udp or icmp)", t.Proto)
	}
	return nil
}

// A Conn is one tracked connection.
type Conn struct {
	ID          uint32 // unique while the entry lives
	Orig, Reply Tuple
	Status      ConnStatus
	TCPState    TCPState // TCP only; TCPNone otherwise
	Timeout     time.Duration

	PacketsOrig, BytesOrig   uint64
	PacketsReply, BytesReply uint64

	Start time.Time // creation time, UTC

	// History is the connection's last changes caused by packets a
	// trace followed, oldest first, at most MaxConnHistory (protocol 6).
	// Only Client.Conn fills it, and only while a trace of the module
	// runs (the module forgets it when its last trace ends); it is empty
	// from a dump, an event, or an older module.
	History []ConnChange `json:",omitempty"`
}

// MaxConnHistory is the most changes Conn.History holds, from the
// protocol.
const MaxConnHistory = nlproto.CT_HISTORY_MAX

// A ConnChange is a change of a connection that a packet a trace followed
// caused: the connection's creation, a change of its TCP state, or a new
// SEEN_REPLY or ASSURED status.
type ConnChange struct {
	Time   time.Time // UTC
	Packet uint64    // the packet's ID, as its TraceEvent.Packet
	Trace  uint32    // the trace that followed it, as TraceEvent.Trace
	Hook   Hook      // where the packet changed the connection
	Dir    Dir       // the direction the packet travelled the connection
	// TCPStateOld and TCPState are the TCP state before and after the
	// packet, TCP only.
	TCPStateOld, TCPState TCPState `json:",omitempty"`
	// StatusOld and Status are the status bits before and after the
	// packet.
	StatusOld, Status ConnStatus
}

// StatusSet returns the status bits the change set: in Status, not in
// StatusOld.
func (c ConnChange) StatusSet() ConnStatus { return c.Status &^ c.StatusOld }

// StatusCleared returns the status bits the change cleared: in
// StatusOld, not in Status.
func (c ConnChange) StatusCleared() ConnStatus { return c.StatusOld &^ c.Status }

// A ConnFilter selects entries by their original tuple; zero fields match
// anything, and every non-zero field must match.
type ConnFilter struct {
	Proto            Proto        // 0: any
	Src, Dst         netip.Prefix // zero: any; IPv4 and masked
	SrcPort, DstPort uint16       // 0: any; need Proto TCP or UDP
	TCPState         *TCPState    // nil: any; implies Proto TCP
	Status           ConnStatus   // entries with all these bits set; 0: any
}

// Validate reports what makes f unusable, before anything is sent.
func (f ConnFilter) Validate() error {
	switch f.Proto {
	case 0, TCP, UDP, ICMP:
	default:
		return invalidf("filter", "protocol %s is not tracked (want tcp, udp or icmp)", f.Proto)
	}
	for _, p := range []struct {
		what string
		p    netip.Prefix
	}{{"source", f.Src}, {"destination", f.Dst}} {
		switch {
		case p.p == netip.Prefix{}:
		case !p.p.IsValid() || !p.p.Addr().Is4():
			return invalidf("filter", "%s %v is not an IPv4 prefix", p.what, p.p)
		case p.p != p.p.Masked():
			return invalidf("filter", "%s %v has bits set past its prefix length (did you mean %v?)", p.what, p.p, p.p.Masked())
		}
	}
	proto := f.Proto
	if f.TCPState != nil && proto == 0 {
		proto = TCP // as documented: a TCP state implies it
	}
	if (f.SrcPort != 0 || f.DstPort != 0) && proto != TCP && proto != UDP {
		return invalid("filter", "ports need Proto tcp or udp")
	}
	if f.TCPState != nil {
		if f.Proto != 0 && f.Proto != TCP {
			return invalidf("filter", "a TCP state applies to tcp, not %s", f.Proto)
		}
		if *f.TCPState > nlproto.TCP_MAX {
			return invalidf("filter", "unknown TCP state %d", uint8(*f.TCPState))
		}
	}
	if bad := f.Status &^ knownStatus; bad != 0 {
		return invalidf("filter", "unknown status bits %#x", uint32(bad))
	}
	return nil
}

// TrackerStats are the tracker's counters, summed over all CPUs.
type TrackerStats struct {
	Found         uint64 // lookups that found an entry
	New           uint64 // entries created
	Invalid       uint64 // packets the tracker could not use
	Insert        uint64 // entries confirmed into the table
	InsertFailed  uint64 // confirmations that failed
	Clash         uint64 // confirmations that met an equal entry
	Drop          uint64 // packets dropped because the table was full
	EarlyDrop     uint64 // entries evicted early to make room
	GCEvicted     uint64 // expired entries removed by garbage collection
	SearchRestart uint64 // lookups restarted because an entry moved
	Related       uint64 // ICMP errors about a tracked flow
	// NAT (protocol 4; 0 from an older module): first packets dropped
	// because no tuple was free in the range (NATExhausted) or another
	// new flow took the translated tuple first (NATClash).
	NATExhausted uint64
	NATClash     uint64
	// NAT (protocol 5; 0 from an older module): translated connections'
	// packets dropped because their entry went between tracking and a
	// NAT hook (a flush), so that what they should become was unknown.
	NATLost uint64
}

// Limits of TrackerConfig, from the protocol.
const (
	MaxLimit   = nlproto.CT_LIMIT_MAX
	MinTimeout = nlproto.CT_TIMEOUT_MIN * time.Second
	MaxTimeout = nlproto.CT_TIMEOUT_MAX * time.Second
)

// TrackerConfig holds the tracker's settings. Client.TrackerConfig fills every
// field; Client.SetTrackerConfig changes only the non-nil fields and the
// timeouts present in the map.
type TrackerConfig struct {
	Limit    *uint32 // the most entries the namespace may hold, 1 to MaxLimit
	TCPLoose *bool   // pick up TCP connections seen mid-stream
	Timeouts map[Timeout]time.Duration
}

// Validate reports what makes c unusable for SetTrackerConfig. Timeouts are
// whole seconds on the wire, from MinTimeout to MaxTimeout.
func (c TrackerConfig) Validate() error {
	if c.Limit != nil && (*c.Limit < 1 || *c.Limit > MaxLimit) {
		return invalidf("config", "limit %d is out of range (1 to %d)", *c.Limit, MaxLimit)
	}
	for _, t := range slices.Sorted(maps.Keys(c.Timeouts)) {
		if !t.known() {
			return invalidf("config", "unknown timeout %s", t)
		}
		if err := ValidateTimeout(c.Timeouts[t]); err != nil {
			return invalidf("config", "timeout %s: %s", t, err.(*ValidationError).Reason)
		}
	}
	return nil
}

// ValidateTimeout reports why d cannot be a timeout, or nil. Its error is
// a *ValidationError.
func ValidateTimeout(d time.Duration) error {
	if d%time.Second != 0 {
		return invalidf("timeout", "%v is not a whole number of seconds", d)
	}
	if d < MinTimeout || d > MaxTimeout {
		return invalidf("timeout", "%v is out of range (1s to 30 days, %ds)", d, int64(MaxTimeout/time.Second))
	}
	return nil
}
