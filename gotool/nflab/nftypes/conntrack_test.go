package nftypes

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestCTNames(t *testing.T) {
	type textValue interface {
		String() string
		MarshalText() ([]byte, error)
	}
	tests := []struct {
		v    textValue
		want string
		back func(string) (textValue, error)
	}{}
	for p, want := range map[Proto]string{TCP: "tcp", UDP: "udp", ICMP: "icmp", 47: "Proto(47)"} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{p, want, func(s string) (textValue, error) { var q Proto; err := q.UnmarshalText([]byte(s)); return q, err }})
	}
	for i, want := range []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2", "TCPState(10)"} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{TCPState(i), want, func(s string) (textValue, error) { var q TCPState; err := q.UnmarshalText([]byte(s)); return q, err }})
	}
	for i, want := range []string{"tcp_syn_sent", "tcp_syn_recv", "tcp_established", "tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait", "tcp_close", "udp_unreplied", "udp_assured", "icmp", "tcp_retrans", "tcp_unack", "Timeout(14)"} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{Timeout(i + 1), want, func(s string) (textValue, error) { var q Timeout; err := q.UnmarshalText([]byte(s)); return q, err }})
	}
	for s, want := range map[ConnStatus]string{
		0:                                 "none",
		StatusSeenReply | StatusAssured:   "SEEN_REPLY,ASSURED",
		StatusConfirmed | StatusDying:     "CONFIRMED,DYING",
		StatusSrcNAT | StatusDstNAT:       "SRC_NAT,DST_NAT",
		StatusAssured | 0x40 | 0x80000000: "ASSURED,0x40,0x80000000",
	} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{s, want, func(str string) (textValue, error) {
			var q ConnStatus
			err := q.UnmarshalText([]byte(str))
			return q, err
		}})
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%v).String() = %q, want %q", tt.v, tt.v, got, tt.want)
		}
		for _, s := range []string{tt.want, strings.ToUpper(tt.want), strings.ToLower(tt.want)} {
			if strings.Contains(tt.want, "(") && s != tt.want {
				continue
			}
			back, err := tt.back(s)
			if err != nil || back != tt.v {
				t.Errorf("%T.UnmarshalText(%q) = %v, %v; want %v", tt.v, s, back, err, tt.v)
			}
		}
	}
}

func TestCTNamesRejected(t *testing.T) {
	var (
		p  Proto
		s  TCPState
		st ConnStatus
		to Timeout
	)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{p.UnmarshalText([]byte("sctp")), `nflab: protocol: unknown protocol "sctp" (want tcp, udp or icmp)`},
		{p.UnmarshalText([]byte("Proto(256)")), `nflab: protocol: unknown protocol "Proto(256)" (want tcp, udp or icmp)`},
		{s.UnmarshalText([]byte("OPEN")), `nflab: TCP state: unknown TCP state "OPEN" (want one of NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2)`},
		{st.UnmarshalText([]byte("ASSURED,,CONFIRMED")), `nflab: status: unknown status "" (want one of SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT, DST_NAT, or hex bits)`},
		{st.UnmarshalText([]byte("ASSURED,REPLIED")), `nflab: status: unknown status "REPLIED" (want one of SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT, DST_NAT, or hex bits)`},
		{to.UnmarshalText([]byte("tcp")), `nflab: timeout: unknown timeout "tcp" (want one of tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, udp_unreplied, udp_assured, icmp, tcp_retrans, tcp_unack)`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("error = %v, want %q", tc.err, tc.want)
		}
	}
}

func TestConnJSON(t *testing.T) {
	b, err := json.Marshal(struct {
		P  Proto
		S  TCPState
		St ConnStatus
		T  map[Timeout]int
	}{UDP, TCPTimeWait, StatusSeenReply, map[Timeout]int{TimeoutICMP: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"P":"udp","S":"TIME_WAIT","St":"SEEN_REPLY","T":{"icmp":30}}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
}

func TestConnHistoryJSON(t *testing.T) {
	// An entry without history says nothing of it.
	b, err := json.Marshal(Conn{ID: 1})
	if err != nil || strings.Contains(string(b), "History") {
		t.Errorf("json of a Conn without history = %s, %v", b, err)
	}
	c := Conn{ID: 2, History: []ConnChange{
		{Time: time.Date(2026, 12, 1, 12, 0, 0, 123000000, time.UTC), Packet: 42, Trace: 3, Hook: PreRouting,
			TCPStateOld: TCPNone, TCPState: TCPSynSent, Status: 0},
		{Time: time.Date(2026, 12, 1, 12, 0, 0, 124000000, time.UTC), Packet: 43, Trace: 3, Hook: PreRouting, Dir: DirReply,
			TCPStateOld: TCPSynSent, TCPState: TCPSynRecv, StatusOld: StatusConfirmed, Status: StatusConfirmed | StatusSeenReply},
	}}
	b, err = json.Marshal(c.History)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"Time":"2026-12-01T12:00:00.123Z","Packet":42,"Trace":3,"Hook":"PRE_ROUTING","Dir":"original","TCPState":"SYN_SENT","StatusOld":"none","Status":"none"},` +
		`{"Time":"2026-12-01T12:00:00.124Z","Packet":43,"Trace":3,"Hook":"PRE_ROUTING","Dir":"reply","TCPStateOld":"SYN_SENT","TCPState":"SYN_RECV","StatusOld":"CONFIRMED","Status":"SEEN_REPLY,CONFIRMED"}]`
	if string(b) != want {
		t.Errorf("json =\n%s\nwant\n%s", b, want)
	}
	b, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Conn
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if g, l := c.History[1].StatusSet(), c.History[1].StatusCleared(); g != StatusSeenReply || l != 0 {
		t.Errorf("StatusSet, StatusCleared = %v, %v; want SEEN_REPLY, none", g, l)
	}
	if l := (ConnChange{StatusOld: StatusAssured | StatusConfirmed, Status: StatusConfirmed | StatusDying}).StatusCleared(); l != StatusAssured {
		t.Errorf("StatusCleared = %v, want ASSURED", l)
	}
}

var (
	addrA = netip.MustParseAddr("10.0.1.2")
	addrB = netip.MustParseAddr("10.0.2.2")
)

func TestCTValidation(t *testing.T) {
	tu := Tuple{Src: addrA, Dst: addrB, Proto: TCP, SrcPort: 1, DstPort: 2}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"tuple v6", func() error {
			t := tu
			t.Src = netip.MustParseAddr("2001:db8::1")
			err := t.Validate()
			return err
		}, "nflab: tuple: source 2001:db8::1 is not an IPv4 address"},
		{"tuple 4in6", func() error {
			t := tu
			t.Dst = netip.MustParseAddr("::ffff:10.0.0.1")
			return t.Validate()
		}, "nflab: tuple: destination ::ffff:10.0.0.1 is not an IPv4 address"},
		{"tuple no address", func() error {
			err := Tuple{Dst: addrB, Proto: UDP}.Validate()
			return err
		}, "nflab: tuple: source invalid IP is not an IPv4 address"},
		{"tuple proto", func() error {
			t := tu
			t.Proto = 132
			return t.Validate()
		}, "nflab: tuple: protocol Proto(132) is not tracked (want tcp, udp or icmp)"},
		{"tuple icmp with ports", func() error {
			t := tu
			t.Proto = ICMP
			return t.Validate()
		}, "nflab: tuple: ports apply to tcp and udp, not icmp"},
		{"tuple udp with icmp id", func() error {
			t := tu
			t.Proto, t.ICMPID = UDP, 1
			return t.Validate()
		}, "nflab: tuple: ICMP id and type apply to icmp, not udp"},
		{"filter unmasked", func() error {
			err := ConnFilter{Src: netip.MustParsePrefix("10.0.1.2/16")}.Validate()
			return err
		}, "nflab: filter: source 10.0.1.2/16 has bits set past its prefix length (did you mean 10.0.0.0/16?)"},
		{"filter v6", func() error {
			err := ConnFilter{Dst: netip.MustParsePrefix("2001:db8::/32")}.Validate()
			return err
		}, "nflab: filter: destination 2001:db8::/32 is not an IPv4 prefix"},
		{"filter proto", func() error {
			err := ConnFilter{Proto: 47}.Validate()
			return err
		}, "nflab: filter: protocol Proto(47) is not tracked (want tcp, udp or icmp)"},
		{"filter icmp ports", func() error {
			err := ConnFilter{Proto: ICMP, DstPort: 53}.Validate()
			return err
		}, "nflab: filter: ports need Proto tcp or udp"},
		{"filter ports without proto", func() error {
			err := ConnFilter{SrcPort: 53}.Validate()
			return err
		}, "nflab: filter: ports need Proto tcp or udp"},
		{"filter udp state", func() error {
			err := ConnFilter{Proto: UDP, TCPState: ptr(TCPClose)}.Validate()
			return err
		}, "nflab: filter: a TCP state applies to tcp, not udp"},
		{"filter bad state", func() error {
			err := ConnFilter{TCPState: ptr(TCPState(10))}.Validate()
			return err
		}, "nflab: filter: unknown TCP state 10"},
		{"filter status", func() error {
			err := ConnFilter{Status: StatusAssured | 0x100}.Validate()
			return err
		}, "nflab: filter: unknown status bits 0x100"},
		{"config limit 0", func() error {
			return TrackerConfig{Limit: ptr(uint32(0))}.Validate()
		}, "nflab: config: limit 0 is out of range (1 to 4194304)"},
		{"config limit big", func() error {
			return TrackerConfig{Limit: ptr(uint32(MaxLimit + 1))}.Validate()
		}, "nflab: config: limit 4194305 is out of range (1 to 4194304)"},
		{"config fraction", func() error {
			return TrackerConfig{Timeouts: map[Timeout]time.Duration{TimeoutICMP: 1500 * time.Millisecond}}.Validate()
		}, "nflab: config: timeout icmp: 1.5s is not a whole number of seconds"},
		{"config zero", func() error {
			return TrackerConfig{Timeouts: map[Timeout]time.Duration{TimeoutTCPClose: 0}}.Validate()
		}, "nflab: config: timeout tcp_close: 0s is out of range (1s to 30 days, 2592000s)"},
		{"config too long", func() error {
			return TrackerConfig{Timeouts: map[Timeout]time.Duration{TimeoutTCPEstablished: MaxTimeout + time.Second}}.Validate()
		}, "nflab: config: timeout tcp_established: 720h0m1s is out of range (1s to 30 days, 2592000s)"},
		{"config unknown timeout", func() error {
			return TrackerConfig{Timeouts: map[Timeout]time.Duration{14: time.Second}}.Validate()
		}, "nflab: config: unknown timeout Timeout(14)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var ve *ValidationError
			if !errors.As(err, &ve) || err.Error() != tt.want {
				t.Fatalf("error = %v, want a *ValidationError %q", err, tt.want)
			}
		})
	}
	// The edges of the ranges pass.
	err := (TrackerConfig{Limit: ptr(uint32(MaxLimit)), Timeouts: map[Timeout]time.Duration{
		TimeoutTCPClose: time.Second, TimeoutTCPEstablished: MaxTimeout,
	}}).Validate()
	if err != nil {
		t.Fatal(err)
	}
	if err := (ConnFilter{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("10.0.2.2/32")}).Validate(); err != nil {
		t.Fatal(err)
	}
	// A TCP state implies protocol TCP, so ports may go with it.
	if err := (ConnFilter{TCPState: ptr(TCPEstablished), DstPort: 80}).Validate(); err != nil {
		t.Fatalf("TCP state with a port: %v", err)
	}
}
