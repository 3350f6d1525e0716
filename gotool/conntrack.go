package nflab

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/nlproto"
)

// ErrNoConn is returned by Client.Conn and Client.DeleteConn when no entry
// has the tuple.
var ErrNoConn = nlclient.ErrNoConn

// A Proto is an IP protocol number; nflab tracks TCP, UDP and ICMP.
type Proto uint8

// The protocols nflab tracks.
const (
	ICMP Proto = 1
	TCP  Proto = 6
	UDP  Proto = 17
)

// String returns "tcp", "udp" or "icmp", or "Proto(N)" for another number.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	}
	return "Proto(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText returns String.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText accepts "tcp", "udp" and "icmp" in any case, and what
// String writes for other numbers.
func (p *Proto) UnmarshalText(b []byte) error {
	s := string(b)
	for _, q := range []Proto{TCP, UDP, ICMP} {
		if strings.EqualFold(s, q.String()) {
			*p = q
			return nil
		}
	}
	if n, ok := parseWrapped(s, "Proto", 8); ok {
		*p = Proto(n)
		return nil
	}
	return fmt.Errorf("nflab: unknown protocol %q (want tcp, udp or icmp)", s)
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

var tcpStateNames = [...]string{
	TCPNone:        "NONE",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPEstablished: "ESTABLISHED",
	TCPFinWait:     "FIN_WAIT",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPSynSent2:    "SYN_SENT2",
}

// String returns the state's name, such as "ESTABLISHED", or
// "TCPState(N)" for a number this client does not know.
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) {
		return tcpStateNames[s]
	}
	return "TCPState(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText returns String.
func (s TCPState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what MarshalText writes, ignoring case.
func (s *TCPState) UnmarshalText(b []byte) error {
	str := string(b)
	for i, name := range tcpStateNames {
		if strings.EqualFold(str, name) {
			*s = TCPState(i)
			return nil
		}
	}
	if n, ok := parseWrapped(str, "TCPState", 8); ok {
		*s = TCPState(n)
		return nil
	}
	return fmt.Errorf("nflab: unknown TCP state %q (want one of %s)", str, strings.Join(tcpStateNames[:], ", "))
}

// CTStatus is a set of entry status bits.
type CTStatus uint32

// The status bits.
const (
	StatusSeenReply CTStatus = nlproto.CT_STATUS_SEEN_REPLY // a reply-direction packet passed
	StatusAssured   CTStatus = nlproto.CT_STATUS_ASSURED    // not evicted early when the table is full
	StatusConfirmed CTStatus = nlproto.CT_STATUS_CONFIRMED  // in the table
	StatusDying     CTStatus = nlproto.CT_STATUS_DYING      // being removed
)

var statusNames = []struct {
	bit  CTStatus
	name string
}{
	{StatusSeenReply, "SEEN_REPLY"},
	{StatusAssured, "ASSURED"},
	{StatusConfirmed, "CONFIRMED"},
	{StatusDying, "DYING"},
}

const knownStatus = StatusSeenReply | StatusAssured | StatusConfirmed | StatusDying

// Names returns the names of the bits in s, lowest bit first; bits this
// client does not know appear in hex, such as "0x10". It returns an empty,
// non-nil slice for no bits.
func (s CTStatus) Names() []string {
	names := []string{}
	for _, n := range statusNames {
		if s&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	for bit := CTStatus(1); bit != 0; bit <<= 1 {
		if s&bit != 0 && knownStatus&bit == 0 {
			names = append(names, fmt.Sprintf("%#x", uint32(bit)))
		}
	}
	return names
}

// String returns the names of the bits joined by commas, such as
// "SEEN_REPLY,ASSURED", or "none" for no bits.
func (s CTStatus) String() string {
	if s == 0 {
		return "none"
	}
	return strings.Join(s.Names(), ",")
}

// MarshalText returns String.
func (s CTStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what MarshalText writes: bit names, in any case,
// or hex bits, separated by commas; "none" or "" for no bits.
func (s *CTStatus) UnmarshalText(b []byte) error {
	str := string(b)
	if str == "" || strings.EqualFold(str, "none") {
		*s = 0
		return nil
	}
	var v CTStatus
next:
	for part := range strings.SplitSeq(str, ",") {
		for _, n := range statusNames {
			if strings.EqualFold(part, n.name) {
				v |= n.bit
				continue next
			}
		}
		if hex, ok := strings.CutPrefix(strings.ToLower(part), "0x"); ok {
			if n, err := strconv.ParseUint(hex, 16, 32); err == nil {
				v |= CTStatus(n)
				continue
			}
		}
		return fmt.Errorf("nflab: unknown status %q (want SEEN_REPLY, ASSURED, CONFIRMED or DYING)", part)
	}
	*s = v
	return nil
}

// A CTTimeout names one of the tracker's timeouts.
type CTTimeout uint16

// The timeouts; the defaults (in comments) are Linux's.
const (
	TimeoutTCPSynSent     CTTimeout = nlproto.CT_TIMEOUT_A_TCP_SYN_SENT    // 120 s
	TimeoutTCPSynRecv     CTTimeout = nlproto.CT_TIMEOUT_A_TCP_SYN_RECV    // 60 s
	TimeoutTCPEstablished CTTimeout = nlproto.CT_TIMEOUT_A_TCP_ESTABLISHED // 5 days
	TimeoutTCPFinWait     CTTimeout = nlproto.CT_TIMEOUT_A_TCP_FIN_WAIT    // 120 s
	TimeoutTCPCloseWait   CTTimeout = nlproto.CT_TIMEOUT_A_TCP_CLOSE_WAIT  // 60 s
	TimeoutTCPLastAck     CTTimeout = nlproto.CT_TIMEOUT_A_TCP_LAST_ACK    // 30 s
	TimeoutTCPTimeWait    CTTimeout = nlproto.CT_TIMEOUT_A_TCP_TIME_WAIT   // 120 s
	TimeoutTCPClose       CTTimeout = nlproto.CT_TIMEOUT_A_TCP_CLOSE       // 10 s
	TimeoutUDPUnreplied   CTTimeout = nlproto.CT_TIMEOUT_A_UDP_UNREPLIED   // 30 s
	TimeoutUDPAssured     CTTimeout = nlproto.CT_TIMEOUT_A_UDP_ASSURED     // 120 s
	TimeoutICMP           CTTimeout = nlproto.CT_TIMEOUT_A_ICMP            // 30 s
	// The TCP caps: a TCP entry lasts at most TimeoutTCPRetrans after three
	// identical segments in a row (or a zero window), and at most
	// TimeoutTCPUnack while data is unacknowledged or no reply was seen.
	TimeoutTCPRetrans CTTimeout = nlproto.CT_TIMEOUT_A_TCP_RETRANS // 300 s
	TimeoutTCPUnack   CTTimeout = nlproto.CT_TIMEOUT_A_TCP_UNACK   // 300 s
)

var timeoutNames = [...]string{
	TimeoutTCPSynSent:     "tcp_syn_sent",
	TimeoutTCPSynRecv:     "tcp_syn_recv",
	TimeoutTCPEstablished: "tcp_established",
	TimeoutTCPFinWait:     "tcp_fin_wait",
	TimeoutTCPCloseWait:   "tcp_close_wait",
	TimeoutTCPLastAck:     "tcp_last_ack",
	TimeoutTCPTimeWait:    "tcp_time_wait",
	TimeoutTCPClose:       "tcp_close",
	TimeoutUDPUnreplied:   "udp_unreplied",
	TimeoutUDPAssured:     "udp_assured",
	TimeoutICMP:           "icmp",
	TimeoutTCPRetrans:     "tcp_retrans",
	TimeoutTCPUnack:       "tcp_unack",
}

// CTTimeouts lists every timeout, in protocol order.
func CTTimeouts() []CTTimeout {
	ts := make([]CTTimeout, 0, len(timeoutNames)-1)
	for t := TimeoutTCPSynSent; int(t) < len(timeoutNames); t++ {
		ts = append(ts, t)
	}
	return ts
}

func (t CTTimeout) known() bool { return t > 0 && int(t) < len(timeoutNames) }

// String returns the timeout's name, such as "tcp_established", or
// "CTTimeout(N)" for a number this client does not know.
func (t CTTimeout) String() string {
	if t.known() {
		return timeoutNames[t]
	}
	return "CTTimeout(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns String.
func (t CTTimeout) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts what MarshalText writes, ignoring case.
func (t *CTTimeout) UnmarshalText(b []byte) error {
	s := string(b)
	for _, u := range CTTimeouts() {
		if strings.EqualFold(s, u.String()) {
			*t = u
			return nil
		}
	}
	if n, ok := parseWrapped(s, "CTTimeout", 16); ok {
		*t = CTTimeout(n)
		return nil
	}
	return fmt.Errorf("nflab: unknown timeout %q (want one of %s)", s, strings.Join(timeoutNames[1:], ", "))
}

// parseWrapped parses "Name(N)" as String methods write it.
func parseWrapped(s, name string, bits int) (uint64, bool) {
	num, ok := strings.CutPrefix(s, name+"(")
	if !ok {
		return 0, false
	}
	num, ok = strings.CutSuffix(num, ")")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, bits)
	return n, err == nil
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
		return fmt.Errorf("nflab: tuple: source %v is not an IPv4 address", t.Src)
	}
	if !t.Dst.Is4() {
		return fmt.Errorf("nflab: tuple: destination %v is not an IPv4 address", t.Dst)
	}
	switch t.Proto {
	case TCP, UDP:
		if t.ICMPID != 0 || t.ICMPType != 0 {
			return fmt.Errorf("nflab: tuple: ICMP id and type apply to icmp, not %s", t.Proto)
		}
	case ICMP:
		if t.SrcPort != 0 || t.DstPort != 0 {
			return errors.New("nflab: tuple: ports apply to tcp and udp, not icmp")
		}
	default:
		return fmt.Errorf("nflab: tuple: protocol %s is not tracked (want tcp, udp or icmp)", t.Proto)
	}
	return nil
}

// A Conn is one tracked connection.
type Conn struct {
	ID          uint32 // unique while the entry lives
	Orig, Reply Tuple
	Status      CTStatus
	TCPState    TCPState // TCP only; TCPNone otherwise
	Timeout     time.Duration

	PacketsOrig, BytesOrig   uint64
	PacketsReply, BytesReply uint64

	Start time.Time // creation time, UTC
}

// A CTFilter selects entries by their original tuple; zero fields match
// anything, and every non-zero field must match.
type CTFilter struct {
	Proto            Proto        // 0: any
	Src, Dst         netip.Prefix // zero: any; IPv4 and masked
	SrcPort, DstPort uint16       // 0: any; need Proto TCP or UDP
	TCPState         *TCPState    // nil: any; implies Proto TCP
	Status           CTStatus     // entries with all these bits set; 0: any
}

// Validate reports what makes f unusable, before anything is sent.
func (f CTFilter) Validate() error {
	switch f.Proto {
	case 0, TCP, UDP, ICMP:
	default:
		return fmt.Errorf("nflab: filter: protocol %s is not tracked (want tcp, udp or icmp)", f.Proto)
	}
	for _, p := range []struct {
		what string
		p    netip.Prefix
	}{{"source", f.Src}, {"destination", f.Dst}} {
		switch {
		case p.p == netip.Prefix{}:
		case !p.p.IsValid() || !p.p.Addr().Is4():
			return fmt.Errorf("nflab: filter: %s %v is not an IPv4 prefix", p.what, p.p)
		case p.p != p.p.Masked():
			return fmt.Errorf("nflab: filter: %s %v has bits set past its prefix length (did you mean %v?)", p.what, p.p, p.p.Masked())
		}
	}
	if (f.SrcPort != 0 || f.DstPort != 0) && f.Proto != TCP && f.Proto != UDP {
		return errors.New("nflab: filter: ports need Proto tcp or udp")
	}
	if f.TCPState != nil {
		if f.Proto != 0 && f.Proto != TCP {
			return fmt.Errorf("nflab: filter: a TCP state applies to tcp, not %s", f.Proto)
		}
		if *f.TCPState > nlproto.TCP_MAX {
			return fmt.Errorf("nflab: filter: unknown TCP state %d", uint8(*f.TCPState))
		}
	}
	if bad := f.Status &^ knownStatus; bad != 0 {
		return fmt.Errorf("nflab: filter: unknown status bits %#x", uint32(bad))
	}
	return nil
}

// CTStats are the tracker's counters, summed over all CPUs.
type CTStats struct {
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
}

// Limits of CTConfig, from the protocol.
const (
	MaxCTLimit   = 4194304
	MinCTTimeout = time.Second
	MaxCTTimeout = 30 * 24 * time.Hour
)

// CTConfig holds the tracker's settings. Client.CTConfig fills every
// field; Client.SetCTConfig changes only the non-nil fields and the
// timeouts present in the map.
type CTConfig struct {
	Limit    *uint32 // the most entries the namespace may hold, 1 to MaxCTLimit
	TCPLoose *bool   // pick up TCP connections seen mid-stream
	Timeouts map[CTTimeout]time.Duration
}

// Validate reports what makes c unusable for SetCTConfig. Timeouts are
// whole seconds on the wire, from MinCTTimeout to MaxCTTimeout.
func (c CTConfig) Validate() error {
	if c.Limit != nil && (*c.Limit < 1 || *c.Limit > MaxCTLimit) {
		return fmt.Errorf("nflab: config: limit %d is out of range (1 to %d)", *c.Limit, MaxCTLimit)
	}
	for _, t := range slices.Sorted(maps.Keys(c.Timeouts)) {
		if !t.known() {
			return fmt.Errorf("nflab: config: unknown timeout %s", t)
		}
		if err := ValidateCTTimeout(c.Timeouts[t]); err != nil {
			return fmt.Errorf("nflab: config: timeout %s: %w", t, err)
		}
	}
	return nil
}

// ValidateCTTimeout reports why d cannot be a timeout, or nil.
func ValidateCTTimeout(d time.Duration) error {
	if d%time.Second != 0 {
		return fmt.Errorf("%v is not a whole number of seconds", d)
	}
	if d < MinCTTimeout || d > MaxCTTimeout {
		return fmt.Errorf("%v is out of range (1s to 30 days, %ds)", d, int64(MaxCTTimeout/time.Second))
	}
	return nil
}

// Conns returns the entries f selects; the zero CTFilter selects all. If the
// table changes during the dump, the dump is repeated a few times before
// giving up with an error. It needs CAP_NET_ADMIN.
func (c *Client) Conns(f CTFilter) ([]Conn, error) {
	nf, err := toFilter(f)
	if err != nil {
		return nil, err
	}
	raw, err := c.b.Conns(nf)
	if err != nil {
		return nil, err
	}
	conns := make([]Conn, 0, len(raw))
	for _, r := range raw {
		conns = append(conns, fromConn(r))
	}
	return conns, nil
}

// Conn returns the entry with tuple t in either direction, or ErrNoConn.
// It needs CAP_NET_ADMIN.
func (c *Client) Conn(t Tuple) (Conn, error) {
	if err := t.Validate(); err != nil {
		return Conn{}, err
	}
	r, err := c.b.Conn(toTuple(t))
	if err != nil {
		return Conn{}, err
	}
	return fromConn(r), nil
}

// DeleteConn deletes the entry with tuple t in either direction, or
// returns ErrNoConn. It needs CAP_NET_ADMIN.
func (c *Client) DeleteConn(t Tuple) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return c.b.DeleteConn(toTuple(t))
}

// DeleteConns deletes the entries f selects and returns how many. f must
// not be zero; FlushConns deletes every entry. It needs CAP_NET_ADMIN.
func (c *Client) DeleteConns(f CTFilter) (int, error) {
	if f == (CTFilter{}) {
		return 0, errors.New("nflab: DeleteConns needs a filter; FlushConns deletes every entry")
	}
	nf, err := toFilter(f)
	if err != nil {
		return 0, err
	}
	n, err := c.b.DeleteConns(nf)
	return int(n), err
}

// FlushConns deletes the entries f selects, every entry for the zero
// CTFilter, and returns how many. It needs CAP_NET_ADMIN.
func (c *Client) FlushConns(f CTFilter) (int, error) {
	nf, err := toFilter(f)
	if err != nil {
		return 0, err
	}
	n, err := c.b.FlushConns(nf)
	return int(n), err
}

// ConnCount returns the number of entries in the table and the most it may
// hold. Anyone may read them.
func (c *Client) ConnCount() (count, limit int, err error) {
	n, l, err := c.b.ConnCount()
	return int(n), int(l), err
}

// CTStats returns the tracker's counters. Anyone may read them.
func (c *Client) CTStats() (CTStats, error) {
	s, err := c.b.CTStats()
	return CTStats(s), err
}

// CTConfig returns every setting of the tracker. Anyone may read them.
func (c *Client) CTConfig() (CTConfig, error) {
	raw, err := c.b.CTConfig()
	if err != nil {
		return CTConfig{}, err
	}
	cfg := CTConfig{Limit: raw.Limit, TCPLoose: raw.TCPLoose, Timeouts: make(map[CTTimeout]time.Duration, len(raw.Timeouts))}
	for t, secs := range raw.Timeouts {
		cfg.Timeouts[CTTimeout(t)] = time.Duration(secs) * time.Second
	}
	return cfg, nil
}

// SetCTConfig changes the settings cfg carries, all or none. It needs
// CAP_NET_ADMIN.
func (c *Client) SetCTConfig(cfg CTConfig) error {
	if cfg.Limit == nil && cfg.TCPLoose == nil && len(cfg.Timeouts) == 0 {
		return errors.New("nflab: SetCTConfig: nothing to set")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	raw := nlclient.CTConfig{Limit: cfg.Limit, TCPLoose: cfg.TCPLoose}
	if len(cfg.Timeouts) > 0 {
		raw.Timeouts = make(map[uint16]uint32, len(cfg.Timeouts))
		for t, d := range cfg.Timeouts {
			raw.Timeouts[uint16(t)] = uint32(d / time.Second)
		}
	}
	return c.b.SetCTConfig(raw)
}

// RunCTGC removes every expired entry now and returns how many. It needs
// CAP_NET_ADMIN.
func (c *Client) RunCTGC() (int, error) {
	n, err := c.b.RunCTGC()
	return int(n), err
}

func toTuple(t Tuple) nlclient.Tuple {
	return nlclient.Tuple{
		Src: t.Src, Dst: t.Dst, Proto: uint8(t.Proto),
		SrcPort: t.SrcPort, DstPort: t.DstPort,
		ICMPID: t.ICMPID, ICMPType: t.ICMPType,
	}
}

func fromTuple(t nlclient.Tuple) Tuple {
	return Tuple{
		Src: t.Src, Dst: t.Dst, Proto: Proto(t.Proto),
		SrcPort: t.SrcPort, DstPort: t.DstPort,
		ICMPID: t.ICMPID, ICMPType: t.ICMPType,
	}
}

// toFilter validates f and fills in what it implies.
func toFilter(f CTFilter) (nlclient.Filter, error) {
	if err := f.Validate(); err != nil {
		return nlclient.Filter{}, err
	}
	nf := nlclient.Filter{
		Proto: uint8(f.Proto),
		Src:   f.Src, Dst: f.Dst,
		SrcPort: f.SrcPort, DstPort: f.DstPort,
		Status: uint32(f.Status),
	}
	if f.TCPState != nil {
		s := uint8(*f.TCPState)
		nf.TCPState = &s
		// Entries of other protocols carry no TCP state; asking for
		// one means asking for TCP.
		nf.Proto = uint8(TCP)
	}
	return nf, nil
}

func fromConn(r nlclient.Conn) Conn {
	c := Conn{
		ID:           r.ID,
		Orig:         fromTuple(r.Orig),
		Reply:        fromTuple(r.Reply),
		Status:       CTStatus(r.Status),
		TCPState:     TCPState(r.TCPState),
		Timeout:      time.Duration(r.Timeout) * time.Second,
		PacketsOrig:  r.PacketsOrig,
		BytesOrig:    r.BytesOrig,
		PacketsReply: r.PacketsReply,
		BytesReply:   r.BytesReply,
	}
	if r.Start != 0 {
		c.Start = time.Unix(0, int64(r.Start)).UTC()
	}
	return c
}
