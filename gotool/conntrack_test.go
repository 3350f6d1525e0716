package nflab

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/nlclient"
)

func ctClient(t *testing.T, f *fakeBackend) *Client {
	t.Helper()
	f.version = nlclient.Version{Module: "0.1.0", Protocol: ProtocolVersion}
	c, err := newClient(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// netipOpts compares netip values, whose fields cmp cannot see, with ==.
var netipOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

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
	for i, want := range []string{"tcp_syn_sent", "tcp_syn_recv", "tcp_established", "tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait", "tcp_close", "udp_unreplied", "udp_assured", "icmp", "tcp_retrans", "tcp_unack", "CTTimeout(14)"} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{CTTimeout(i + 1), want, func(s string) (textValue, error) { var q CTTimeout; err := q.UnmarshalText([]byte(s)); return q, err }})
	}
	for s, want := range map[CTStatus]string{
		0:                                 "none",
		StatusSeenReply | StatusAssured:   "SEEN_REPLY,ASSURED",
		StatusConfirmed | StatusDying:     "CONFIRMED,DYING",
		StatusAssured | 0x10 | 0x80000000: "ASSURED,0x10,0x80000000",
	} {
		tests = append(tests, struct {
			v    textValue
			want string
			back func(string) (textValue, error)
		}{s, want, func(str string) (textValue, error) {
			var q CTStatus
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
		st CTStatus
		to CTTimeout
	)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{p.UnmarshalText([]byte("sctp")), `nflab: unknown protocol "sctp" (want tcp, udp or icmp)`},
		{p.UnmarshalText([]byte("Proto(256)")), `nflab: unknown protocol "Proto(256)" (want tcp, udp or icmp)`},
		{s.UnmarshalText([]byte("OPEN")), `nflab: unknown TCP state "OPEN" (want one of NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2)`},
		{st.UnmarshalText([]byte("ASSURED,,CONFIRMED")), `nflab: unknown status "" (want SEEN_REPLY, ASSURED, CONFIRMED or DYING)`},
		{st.UnmarshalText([]byte("ASSURED,REPLIED")), `nflab: unknown status "REPLIED" (want SEEN_REPLY, ASSURED, CONFIRMED or DYING)`},
		{to.UnmarshalText([]byte("tcp")), `nflab: unknown timeout "tcp" (want one of tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, udp_unreplied, udp_assured, icmp, tcp_retrans, tcp_unack)`},
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
		St CTStatus
		T  map[CTTimeout]int
	}{UDP, TCPTimeWait, StatusSeenReply, map[CTTimeout]int{TimeoutICMP: 30}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"P":"udp","S":"TIME_WAIT","St":"SEEN_REPLY","T":{"icmp":30}}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
}

var (
	addrA = netip.MustParseAddr("10.0.1.2")
	addrB = netip.MustParseAddr("10.0.2.2")
)

func TestConns(t *testing.T) {
	f := &fakeBackend{conns: []nlclient.Conn{{
		ID:          7,
		Orig:        nlclient.Tuple{Src: addrA, Dst: addrB, Proto: 6, SrcPort: 40000, DstPort: 80},
		Reply:       nlclient.Tuple{Src: addrB, Dst: addrA, Proto: 6, SrcPort: 80, DstPort: 40000},
		Status:      7,
		TCPState:    3,
		Timeout:     431999,
		PacketsOrig: 3, BytesOrig: 180, PacketsReply: 2, BytesReply: 120,
		Start: 1795640400123456789,
	}, {
		ID:     8,
		Orig:   nlclient.Tuple{Src: addrA, Dst: addrB, Proto: 1, ICMPID: 99, ICMPType: 8},
		Reply:  nlclient.Tuple{Src: addrB, Dst: addrA, Proto: 1, ICMPID: 99},
		Status: 4, Timeout: 30,
	}}}
	c := ctClient(t, f)
	got, err := c.Conns(CTFilter{TCPState: ptr(TCPEstablished), Src: netip.MustParsePrefix("10.0.0.0/8")})
	if err != nil {
		t.Fatal(err)
	}
	want := []Conn{{
		ID:          7,
		Orig:        Tuple{Src: addrA, Dst: addrB, Proto: TCP, SrcPort: 40000, DstPort: 80},
		Reply:       Tuple{Src: addrB, Dst: addrA, Proto: TCP, SrcPort: 80, DstPort: 40000},
		Status:      StatusSeenReply | StatusAssured | StatusConfirmed,
		TCPState:    TCPEstablished,
		Timeout:     431999 * time.Second,
		PacketsOrig: 3, BytesOrig: 180, PacketsReply: 2, BytesReply: 120,
		Start: time.Date(2026, 11, 25, 21, 0, 0, 123456789, time.UTC),
	}, {
		ID:     8,
		Orig:   Tuple{Src: addrA, Dst: addrB, Proto: ICMP, ICMPID: 99, ICMPType: 8},
		Reply:  Tuple{Src: addrB, Dst: addrA, Proto: ICMP, ICMPID: 99},
		Status: StatusConfirmed, Timeout: 30 * time.Second,
	}}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Fatalf("Conns (-want +got):\n%s", diff)
	}
	// A TCP state implies TCP.
	wantFilter := nlclient.Filter{Proto: 6, Src: netip.MustParsePrefix("10.0.0.0/8"), TCPState: ptr(uint8(3))}
	if diff := cmp.Diff(&wantFilter, f.gotFilter, netipOpts); diff != "" {
		t.Fatalf("filter sent (-want +got):\n%s", diff)
	}
}

func TestCTCalls(t *testing.T) {
	f := &fakeBackend{n: 3, limit: 65536, ctStats: nlclient.CTStats{Found: 1, SearchRestart: 10}}
	c := ctClient(t, f)
	tu := Tuple{Src: addrA, Dst: addrB, Proto: UDP, SrcPort: 5000, DstPort: 9999}
	if err := c.DeleteConn(tu); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&nlclient.Tuple{Src: addrA, Dst: addrB, Proto: 17, SrcPort: 5000, DstPort: 9999}, f.gotTuple, netipOpts); diff != "" {
		t.Fatalf("tuple sent (-want +got):\n%s", diff)
	}
	if n, err := c.DeleteConns(CTFilter{Proto: UDP}); n != 3 || err != nil {
		t.Fatalf("DeleteConns = %d, %v", n, err)
	}
	if n, err := c.FlushConns(CTFilter{}); n != 3 || err != nil || *f.gotFilter != (nlclient.Filter{}) {
		t.Fatalf("FlushConns = %d, %v, filter %+v", n, err, f.gotFilter)
	}
	if n, l, err := c.ConnCount(); n != 3 || l != 65536 || err != nil {
		t.Fatalf("ConnCount = %d, %d, %v", n, l, err)
	}
	if n, err := c.RunCTGC(); n != 3 || err != nil {
		t.Fatalf("RunCTGC = %d, %v", n, err)
	}
	if s, err := c.CTStats(); s != (CTStats{Found: 1, SearchRestart: 10}) || err != nil {
		t.Fatalf("CTStats = %+v, %v", s, err)
	}
}

func TestCTConfig(t *testing.T) {
	f := &fakeBackend{ctConfig: nlclient.CTConfig{
		Limit: ptr(uint32(1000)), TCPLoose: ptr(true),
		Timeouts: map[uint16]uint32{1: 120, 3: 432000, 11: 30},
	}}
	c := ctClient(t, f)
	got, err := c.CTConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := CTConfig{Limit: ptr(uint32(1000)), TCPLoose: ptr(true), Timeouts: map[CTTimeout]time.Duration{
		TimeoutTCPSynSent: 2 * time.Minute, TimeoutTCPEstablished: 5 * 24 * time.Hour, TimeoutICMP: 30 * time.Second,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("CTConfig (-want +got):\n%s", diff)
	}

	err = c.SetCTConfig(CTConfig{TCPLoose: ptr(false), Timeouts: map[CTTimeout]time.Duration{TimeoutUDPAssured: 3 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	wantRaw := &nlclient.CTConfig{TCPLoose: ptr(false), Timeouts: map[uint16]uint32{10: 180}}
	if diff := cmp.Diff(wantRaw, f.gotConfig); diff != "" {
		t.Fatalf("config sent (-want +got):\n%s", diff)
	}
}

func TestCTValidation(t *testing.T) {
	tu := Tuple{Src: addrA, Dst: addrB, Proto: TCP, SrcPort: 1, DstPort: 2}
	tests := []struct {
		name string
		call func(c *Client) error
		want string
	}{
		{"tuple v6", func(c *Client) error {
			t := tu
			t.Src = netip.MustParseAddr("2001:db8::1")
			_, err := c.Conn(t)
			return err
		}, "nflab: tuple: source 2001:db8::1 is not an IPv4 address"},
		{"tuple 4in6", func(c *Client) error {
			t := tu
			t.Dst = netip.MustParseAddr("::ffff:10.0.0.1")
			return c.DeleteConn(t)
		}, "nflab: tuple: destination ::ffff:10.0.0.1 is not an IPv4 address"},
		{"tuple no address", func(c *Client) error {
			_, err := c.Conn(Tuple{Dst: addrB, Proto: UDP})
			return err
		}, "nflab: tuple: source invalid IP is not an IPv4 address"},
		{"tuple proto", func(c *Client) error {
			t := tu
			t.Proto = 132
			return c.DeleteConn(t)
		}, "nflab: tuple: protocol Proto(132) is not tracked (want tcp, udp or icmp)"},
		{"tuple icmp with ports", func(c *Client) error {
			t := tu
			t.Proto = ICMP
			return c.DeleteConn(t)
		}, "nflab: tuple: ports apply to tcp and udp, not icmp"},
		{"tuple udp with icmp id", func(c *Client) error {
			t := tu
			t.Proto, t.ICMPID = UDP, 1
			return c.DeleteConn(t)
		}, "nflab: tuple: ICMP id and type apply to icmp, not udp"},
		{"filter unmasked", func(c *Client) error {
			_, err := c.Conns(CTFilter{Src: netip.MustParsePrefix("10.0.1.2/16")})
			return err
		}, "nflab: filter: source 10.0.1.2/16 has bits set past its prefix length (did you mean 10.0.0.0/16?)"},
		{"filter v6", func(c *Client) error {
			_, err := c.FlushConns(CTFilter{Dst: netip.MustParsePrefix("2001:db8::/32")})
			return err
		}, "nflab: filter: destination 2001:db8::/32 is not an IPv4 prefix"},
		{"filter proto", func(c *Client) error {
			_, err := c.Conns(CTFilter{Proto: 47})
			return err
		}, "nflab: filter: protocol Proto(47) is not tracked (want tcp, udp or icmp)"},
		{"filter icmp ports", func(c *Client) error {
			_, err := c.DeleteConns(CTFilter{Proto: ICMP, DstPort: 53})
			return err
		}, "nflab: filter: ports need Proto tcp or udp"},
		{"filter ports without proto", func(c *Client) error {
			_, err := c.Conns(CTFilter{SrcPort: 53})
			return err
		}, "nflab: filter: ports need Proto tcp or udp"},
		{"filter udp state", func(c *Client) error {
			_, err := c.Conns(CTFilter{Proto: UDP, TCPState: ptr(TCPClose)})
			return err
		}, "nflab: filter: a TCP state applies to tcp, not udp"},
		{"filter bad state", func(c *Client) error {
			_, err := c.Conns(CTFilter{TCPState: ptr(TCPState(10))})
			return err
		}, "nflab: filter: unknown TCP state 10"},
		{"filter status", func(c *Client) error {
			_, err := c.Conns(CTFilter{Status: StatusAssured | 0x100})
			return err
		}, "nflab: filter: unknown status bits 0x100"},
		{"delete all", func(c *Client) error {
			_, err := c.DeleteConns(CTFilter{})
			return err
		}, "nflab: DeleteConns needs a filter; FlushConns deletes every entry"},
		{"config empty", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Timeouts: map[CTTimeout]time.Duration{}})
		}, "nflab: SetCTConfig: nothing to set"},
		{"config limit 0", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Limit: ptr(uint32(0))})
		}, "nflab: config: limit 0 is out of range (1 to 4194304)"},
		{"config limit big", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Limit: ptr(uint32(MaxCTLimit + 1))})
		}, "nflab: config: limit 4194305 is out of range (1 to 4194304)"},
		{"config fraction", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Timeouts: map[CTTimeout]time.Duration{TimeoutICMP: 1500 * time.Millisecond}})
		}, "nflab: config: timeout icmp: 1.5s is not a whole number of seconds"},
		{"config zero", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Timeouts: map[CTTimeout]time.Duration{TimeoutTCPClose: 0}})
		}, "nflab: config: timeout tcp_close: 0s is out of range (1s to 30 days, 2592000s)"},
		{"config too long", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Timeouts: map[CTTimeout]time.Duration{TimeoutTCPEstablished: MaxCTTimeout + time.Second}})
		}, "nflab: config: timeout tcp_established: 720h0m1s is out of range (1s to 30 days, 2592000s)"},
		{"config unknown timeout", func(c *Client) error {
			return c.SetCTConfig(CTConfig{Timeouts: map[CTTimeout]time.Duration{14: time.Second}})
		}, "nflab: config: unknown timeout CTTimeout(14)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeBackend{}
			err := tt.call(ctClient(t, f))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if len(f.calls) != 0 {
				t.Fatalf("invalid request reached the backend: %v", f.calls)
			}
		})
	}
	// The edges of the ranges pass.
	f := &fakeBackend{}
	c := ctClient(t, f)
	err := c.SetCTConfig(CTConfig{Limit: ptr(uint32(MaxCTLimit)), Timeouts: map[CTTimeout]time.Duration{
		TimeoutTCPClose: time.Second, TimeoutTCPEstablished: MaxCTTimeout,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Conns(CTFilter{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("10.0.2.2/32")}); err != nil {
		t.Fatal(err)
	}
}

func TestErrNoConnPassesThrough(t *testing.T) {
	f := &fakeBackend{}
	c := ctClient(t, f)
	f.err = ErrNoConn
	_, err := c.Conn(Tuple{Src: addrA, Dst: addrB, Proto: ICMP, ICMPID: 1, ICMPType: 8})
	if err != ErrNoConn {
		t.Fatalf("Conn error = %v, want ErrNoConn", err)
	}
}
