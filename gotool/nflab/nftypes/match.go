package nftypes

import (
	"math/bits"
	"net/netip"
	"strings"
	"time"
)

// A Match is one condition of a rule. Kind says which fields it uses (the
// comment at each field lists the kinds); the others must be zero, and
// JSON shows only the ones that are set.
type Match struct {
	Kind   MatchKind
	Invert bool `json:",omitempty"` // negates it; not for connlimit and nth

	Iface string `json:",omitempty"` // iif, oif: a name; "eth+" matches every name starting "eth"

	Prefix netip.Prefix `json:",omitzero"` // saddr, daddr: IPv4, masked

	AddrStart netip.Addr `json:",omitzero"` // srange, drange: first address
	AddrEnd   netip.Addr `json:",omitzero"` // srange, drange: last address (>= AddrStart)

	Proto Proto `json:",omitempty"` // proto

	Ports []PortRange `json:",omitempty"` // sport, dport: 1 to MaxPortRanges ranges

	TCPFlags TCPFlags `json:",omitempty"` // tcp-flags: holds when flags & TCPMask == TCPFlags
	TCPMask  TCPFlags `json:",omitempty"` // tcp-flags: not zero

	ICMPType uint8  `json:",omitempty"` // icmp
	ICMPCode *uint8 `json:",omitempty"` // icmp, optional: any code when nil

	LenMin uint16 `json:",omitempty"` // length: IP total length, inclusive
	LenMax uint16 `json:",omitempty"` // length: >= LenMin

	CTState  CTState    `json:",omitempty"` // ct-state: any of these states
	CTStatus ConnStatus `json:",omitempty"` // ct-status: all of these bits

	Pattern []byte     `json:",omitempty"` // string: 1 to MaxPatternLen bytes
	Algo    StringAlgo `json:",omitempty"` // string
	From    uint16     `json:",omitempty"` // string, optional: first offset from the IP header
	To      uint16     `json:",omitempty"` // string, optional: last offset; 0 is 65535 (a last offset of 0 cannot be expressed)

	Count     uint32 `json:",omitempty"` // connlimit: connections, at most MaxConnlimitCount
	PrefixLen *uint8 `json:",omitempty"` // connlimit, optional: source prefix counted together; nil is 32
	Upto      bool   `json:",omitempty"` // connlimit: holds at most Count, not above it

	QuotaBytes uint64 `json:",omitempty"` // quota: not zero
	QuotaUsed  uint64 `json:",omitempty"` // quota: bytes used so far; read-only

	Every  uint32 `json:",omitempty"` // nth: >= 1
	Offset uint32 `json:",omitempty"` // nth, optional: < Every

	// time: each part optional. TODStart and TODStop, whole seconds since
	// midnight below 24h, come together (a window past midnight wraps).
	TODStart  *time.Duration `json:",omitempty"`
	TODStop   *time.Duration `json:",omitempty"`
	Weekdays  Weekdays       `json:",omitempty"`
	DateStart time.Time      `json:",omitzero"`  // whole seconds
	DateStop  time.Time      `json:",omitzero"`  // whole seconds
	LocalTime bool           `json:",omitempty"` // the kernel's time zone, not UTC

	Rate   uint32        `json:",omitempty"` // limit: packets per Period, >= 1
	Period time.Duration `json:",omitempty"` // limit: time.Second, Minute, Hour or 24h
	Burst  uint32        `json:",omitempty"` // limit, optional: 0 is DefaultLimitBurst; at most MaxLimitBurst

	Mark     uint32 `json:",omitempty"` // mark: holds when mark & MarkMask == Mark
	MarkMask uint32 `json:",omitempty"` // mark, optional: 0 is all ones (a mask of 0, which would hold for every packet, cannot be expressed)

	SetName  string   `json:",omitempty"` // set
	SetField SetField `json:",omitempty"` // set
}

var periodName = map[time.Duration]string{time.Second: "second", time.Minute: "minute", time.Hour: "hour", 24 * time.Hour: "day"}

// matchFields lists the fields each kind uses, besides Kind and Invert.
var matchFields = map[MatchKind][]string{
	MatchIIF:       {"Iface"},
	MatchOIF:       {"Iface"},
	MatchSAddr:     {"Prefix"},
	MatchDAddr:     {"Prefix"},
	MatchSRange:    {"AddrStart", "AddrEnd"},
	MatchDRange:    {"AddrStart", "AddrEnd"},
	MatchProto:     {"Proto"},
	MatchSPort:     {"Ports"},
	MatchDPort:     {"Ports"},
	MatchTCPFlags:  {"TCPFlags", "TCPMask"},
	MatchICMP:      {"ICMPType", "ICMPCode"},
	MatchLength:    {"LenMin", "LenMax"},
	MatchCTState:   {"CTState"},
	MatchCTStatus:  {"CTStatus"},
	MatchString:    {"Pattern", "Algo", "From", "To"},
	MatchConnlimit: {"Count", "PrefixLen", "Upto"},
	MatchQuota:     {"QuotaBytes", "QuotaUsed"},
	MatchNth:       {"Every", "Offset"},
	MatchTime:      {"TODStart", "TODStop", "Weekdays", "DateStart", "DateStop", "LocalTime"},
	MatchLimit:     {"Rate", "Period", "Burst"},
	MatchMark:      {"Mark", "MarkMask"},
	MatchSet:       {"SetName", "SetField"},
}

// Validate reports what the module would reject in m: unknown kinds,
// missing or out-of-range fields, fields its kind does not use, and
// Invert where the kind has none.
func (m Match) Validate() error {
	used, ok := matchFields[m.Kind]
	if !ok {
		return invalidf("match", "unknown match %s", m.Kind)
	}
	mm := m
	mm.Invert = false
	if f := strayField(mm, "Kind", used); f != "" {
		return invalidf("match", "%s does not use %s", m.Kind, f)
	}
	if m.Invert && (m.Kind == MatchConnlimit || m.Kind == MatchNth) {
		return invalidf("match", "%s cannot be inverted", m.Kind)
	}
	switch m.Kind {
	case MatchIIF, MatchOIF:
		if m.Iface == "" || len(m.Iface) > MaxIfaceLen || strings.ContainsAny(m.Iface, "\x00/ ") {
			return invalidf("match", "%s: interface name %q must be 1 to %d bytes, without '/' or spaces", m.Kind, m.Iface, MaxIfaceLen)
		}
	case MatchSAddr, MatchDAddr:
		switch {
		case !m.Prefix.IsValid() || !m.Prefix.Addr().Is4():
			return invalidf("match", "%s: %v is not an IPv4 prefix", m.Kind, m.Prefix)
		case m.Prefix != m.Prefix.Masked():
			return invalidf("match", "%s: %v has bits set past its prefix length (did you mean %v?)", m.Kind, m.Prefix, m.Prefix.Masked())
		}
	case MatchSRange, MatchDRange:
		if err := (AddrRange{m.AddrStart, m.AddrEnd}).Validate(); err != nil {
			return withPrefix(err, m.Kind.String()+": ")
		}
	case MatchProto:
		if m.Proto == 0 {
			return invalidf("match", "proto needs a protocol")
		}
	case MatchSPort, MatchDPort:
		if len(m.Ports) == 0 || len(m.Ports) > MaxPortRanges {
			return invalidf("match", "%s needs 1 to %d port ranges, not %d", m.Kind, MaxPortRanges, len(m.Ports))
		}
		for _, p := range m.Ports {
			if err := p.Validate(); err != nil {
				return withPrefix(err, m.Kind.String()+": ")
			}
		}
	case MatchTCPFlags:
		if m.TCPMask == 0 {
			return invalid("match", "tcp-flags needs a mask of the flags to look at")
		}
		if m.TCPFlags&^m.TCPMask != 0 {
			return invalidf("match", "tcp-flags: %s is not within the mask %s", m.TCPFlags, m.TCPMask)
		}
	case MatchLength:
		if m.LenMin > m.LenMax {
			return invalidf("match", "length: minimum %d is above maximum %d", m.LenMin, m.LenMax)
		}
	case MatchCTState:
		if m.CTState == 0 || uint32(m.CTState)&^ctStateBits.all() != 0 {
			return invalidf("match", "ct-state %s: want some of %s", m.CTState, strings.Join(ctStateBits.list(ctStateBits.all()), ", "))
		}
	case MatchCTStatus:
		if m.CTStatus == 0 || m.CTStatus&^knownStatus != 0 {
			return invalidf("match", "ct-status %s: want some of %s", m.CTStatus, strings.Join(statusBits.Shorts(), ", "))
		}
	case MatchString:
		if len(m.Pattern) == 0 || len(m.Pattern) > MaxPatternLen {
			return invalidf("match", "string: pattern must be 1 to %d bytes, not %d", MaxPatternLen, len(m.Pattern))
		}
		if !algoDef.known(uint64(m.Algo)) {
			return invalid("match", "string needs an algorithm: bm or kmp")
		}
		if m.To != 0 && m.From > m.To {
			return invalidf("match", "string: from %d is past to %d", m.From, m.To)
		}
	case MatchConnlimit:
		if m.Count > MaxConnlimitCount {
			return invalidf("match", "connlimit: count %d is above %d", m.Count, MaxConnlimitCount)
		}
		if m.PrefixLen != nil && *m.PrefixLen > 32 {
			return invalidf("match", "connlimit: prefix length %d is above 32", *m.PrefixLen)
		}
	case MatchQuota:
		if m.QuotaBytes == 0 {
			return invalid("match", "quota needs a number of bytes")
		}
	case MatchNth:
		if m.Every < 1 {
			return invalid("match", "nth: every must be at least 1")
		}
		if m.Offset >= m.Every {
			return invalidf("match", "nth: offset %d must be below every %d", m.Offset, m.Every)
		}
	case MatchTime:
		if (m.TODStart == nil) != (m.TODStop == nil) {
			return invalid("match", "time: a time of day needs a start and a stop")
		}
		for _, d := range []*time.Duration{m.TODStart, m.TODStop} {
			if d != nil && (*d < 0 || *d >= 24*time.Hour || !durationSeconds(*d)) {
				return invalidf("match", "time: time of day %v must be whole seconds from 0 to 23:59:59", *d)
			}
		}
		if uint32(m.Weekdays)&^weekdayBits.all() != 0 {
			return invalidf("match", "time: unknown weekdays %s", m.Weekdays)
		}
		for _, d := range []time.Time{m.DateStart, m.DateStop} {
			if !d.IsZero() && (d.Unix() < 0 || d.Nanosecond() != 0) {
				return invalidf("match", "time: date %v must be whole seconds since 1970", d)
			}
		}
		if !m.DateStart.IsZero() && !m.DateStop.IsZero() && m.DateStop.Before(m.DateStart) {
			return invalid("match", "time: date stop is before date start")
		}
	case MatchLimit:
		if m.Rate < 1 {
			return invalid("match", "limit: rate must be at least 1")
		}
		switch m.Period {
		case time.Second, time.Minute, time.Hour, 24 * time.Hour:
		default:
			return invalidf("match", "limit: period %v must be 1s, 1m, 1h or 24h", m.Period)
		}
		if m.Burst > MaxLimitBurst {
			return invalidf("match", "limit: burst %d is above %d", m.Burst, MaxLimitBurst)
		}
		// The module's token bucket: one packet every interval
		// nanoseconds, with a slack of interval*(burst-1).
		interval := uint64(m.Period/time.Second) * uint64(time.Second) / uint64(m.Rate)
		if interval == 0 {
			return invalidf("match", "limit: rate %d/%s is too high: at most one packet per nanosecond", m.Rate, periodName[m.Period])
		}
		burst := m.Burst
		if burst == 0 {
			burst = DefaultLimitBurst
		}
		if hi, _ := bits.Mul64(interval, uint64(burst)-1); hi != 0 {
			return invalidf("match", "limit: burst %d is too large for the rate %d/%s", burst, m.Rate, periodName[m.Period])
		}
	case MatchMark:
		if m.MarkMask != 0 && m.Mark&^m.MarkMask != 0 {
			return invalidf("match", "mark %#x has bits outside its mask %#x", m.Mark, m.MarkMask)
		}
	case MatchSet:
		if err := ValidateName("match", m.SetName); err != nil {
			return withPrefix(err, "set: ")
		}
		if !setFieldDef.known(uint64(m.SetField)) {
			return invalid("match", "set needs a field: saddr, daddr, sport or dport")
		}
	}
	return nil
}
