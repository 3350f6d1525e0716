package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"golang.org/x/sys/unix"
)

// netipOpts compares netip values, whose fields cmp cannot see, with ==.
var netipOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

var (
	ipA = netip.MustParseAddr("10.0.1.2")
	ipB = netip.MustParseAddr("10.0.2.2")

	udpConn = nftypes.Conn{
		ID:          1,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.UDP, SrcPort: 5000, DstPort: 9999},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.UDP, SrcPort: 9999, DstPort: 5000},
		Status:      nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed,
		Timeout:     29 * time.Second,
		PacketsOrig: 1, BytesOrig: 34, PacketsReply: 1, BytesReply: 34,
		Start: time.Date(2026, 11, 25, 21, 0, 0, 123456789, time.UTC),
	}
	tcpConn = nftypes.Conn{
		ID:          2,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 40000, DstPort: 80},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.TCP, SrcPort: 80, DstPort: 40000},
		Status:      nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed,
		TCPState:    nftypes.TCPEstablished,
		Timeout:     431999 * time.Second,
		PacketsOrig: 6, BytesOrig: 412, PacketsReply: 4, BytesReply: 5300,
		Start: time.Date(2026, 11, 25, 21, 0, 1, 0, time.UTC),
	}
	icmpConn = nftypes.Conn{
		ID:          3,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.ICMP, ICMPID: 4660, ICMPType: 8},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.ICMP, ICMPID: 4660, ICMPType: 0},
		Status:      nftypes.StatusConfirmed,
		Timeout:     30 * time.Second,
		PacketsOrig: 1, BytesOrig: 84,
		Start: time.Date(2026, 11, 25, 21, 0, 2, 500000000, time.UTC),
	}
	synConn = nftypes.Conn{
		ID:       4,
		Orig:     nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 40001, DstPort: 81},
		Reply:    nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.TCP, SrcPort: 81, DstPort: 40001},
		TCPState: nftypes.TCPSynSent,
		Timeout:  120 * time.Second,
	}
)

func ctFake() *fakeClient {
	f := newFake()
	f.conns = []nftypes.Conn{udpConn, tcpConn, icmpConn, synConn}
	return f
}

const wantCTTable = `PROTO  SRC       DST       SPORT    DPORT   STATE        STATUS                        TIMEOUT  PACKETS  BYTES
udp    10.0.1.2  10.0.2.2  5000     9999    -            SEEN_REPLY,ASSURED,CONFIRMED  29       1/1      34/34
tcp    10.0.1.2  10.0.2.2  40000    80      ESTABLISHED  SEEN_REPLY,ASSURED,CONFIRMED  431999   6/4      412/5300
icmp   10.0.1.2  10.0.2.2  id=4660  type=8  -            CONFIRMED                     30       1/0      84/0
tcp    10.0.1.2  10.0.2.2  40001    81      SYN_SENT     -                             120      0/0      0/0
`

const (
	udpJSON  = `{"id":1,"proto":"udp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","sport":5000,"dport":9999},"reply":{"src":"10.0.2.2","dst":"10.0.1.2","sport":9999,"dport":5000},"status":["SEEN_REPLY","ASSURED","CONFIRMED"],"timeout":29,"packets_orig":1,"bytes_orig":34,"packets_reply":1,"bytes_reply":34,"start":"2026-11-25T21:00:00.123456789Z"}`
	tcpJSON  = `{"id":2,"proto":"tcp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","sport":40000,"dport":80},"reply":{"src":"10.0.2.2","dst":"10.0.1.2","sport":80,"dport":40000},"tcp_state":"ESTABLISHED","status":["SEEN_REPLY","ASSURED","CONFIRMED"],"timeout":431999,"packets_orig":6,"bytes_orig":412,"packets_reply":4,"bytes_reply":5300,"start":"2026-11-25T21:00:01Z"}`
	icmpJSON = `{"id":3,"proto":"icmp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","icmp_id":4660,"icmp_type":8},"reply":{"src":"10.0.2.2","dst":"10.0.1.2","icmp_id":4660,"icmp_type":0},"status":["CONFIRMED"],"timeout":30,"packets_orig":1,"bytes_orig":84,"packets_reply":0,"bytes_reply":0,"start":"2026-11-25T21:00:02.5Z"}`
	synJSON  = `{"id":4,"proto":"tcp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","sport":40001,"dport":81},"reply":{"src":"10.0.2.2","dst":"10.0.1.2","sport":81,"dport":40001},"tcp_state":"SYN_SENT","status":[],"timeout":120,"packets_orig":0,"bytes_orig":0,"packets_reply":0,"bytes_reply":0}`
)

func TestCTList(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ct", "list"}, wantCTTable},
		{[]string{"ct", "list", "-o", "table"}, wantCTTable},
		{[]string{"ct", "list", "-o", "json"}, `{"entries":[` + udpJSON + "," + tcpJSON + "," + icmpJSON + "," + synJSON + "]}\n"},
	}
	for _, tt := range tests {
		fake := ctFake()
		got := runWith(t, fake, nil, tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if !fake.closed || *fake.gotFilter != (nftypes.ConnFilter{}) {
			t.Errorf("nflab %q: closed %v, filter %+v", tt.args, fake.closed, fake.gotFilter)
		}
	}
}

func TestCTListEmpty(t *testing.T) {
	got := runWith(t, newFake(), nil, "ct", "list", "-o", "json")
	if diff := cmp.Diff(result{0, `{"entries":[]}` + "\n", ""}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	got = runWith(t, newFake(), nil, "ct", "list")
	if diff := cmp.Diff(result{0, "PROTO  SRC  DST  SPORT  DPORT  STATE  STATUS  TIMEOUT  PACKETS  BYTES\n", ""}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCTFilters(t *testing.T) {
	tests := []struct {
		args []string
		want nftypes.ConnFilter
	}{
		{[]string{"-p", "udp"}, nftypes.ConnFilter{Proto: nftypes.UDP}},
		{[]string{"--proto", "TCP", "--dport", "80"}, nftypes.ConnFilter{Proto: nftypes.TCP, DstPort: 80}},
		{[]string{"-s", "10.0.1.2", "-d", "10.0.0.0/16"}, nftypes.ConnFilter{
			Src: netip.MustParsePrefix("10.0.1.2/32"), Dst: netip.MustParsePrefix("10.0.0.0/16")}},
		{[]string{"--src=0.0.0.0/0", "--sport", "65535", "-p", "udp"}, nftypes.ConnFilter{Proto: nftypes.UDP, Src: netip.MustParsePrefix("0.0.0.0/0"), SrcPort: 65535}},
		{[]string{"--state", "ESTABLISHED", "--sport", "1"}, nftypes.ConnFilter{Proto: nftypes.TCP, TCPState: ptr(nftypes.TCPEstablished), SrcPort: 1}},
		{[]string{"--state", "time_wait"}, nftypes.ConnFilter{Proto: nftypes.TCP, TCPState: ptr(nftypes.TCPTimeWait)}},
		{[]string{"-p", "tcp", "--state", "NONE"}, nftypes.ConnFilter{Proto: nftypes.TCP, TCPState: ptr(nftypes.TCPNone)}},
		{[]string{"--status", "assured,SEEN_REPLY"}, nftypes.ConnFilter{Status: nftypes.StatusAssured | nftypes.StatusSeenReply}},
	}
	for _, sub := range []string{"list", "flush", "delete"} {
		for _, tt := range tests {
			fake := ctFake()
			got := runWith(t, fake, nil, append([]string{"ct", sub}, tt.args...)...)
			if got.Code != 0 || got.Stderr != "" {
				t.Errorf("nflab ct %s %q = %+v", sub, tt.args, got)
				continue
			}
			if diff := cmp.Diff(&tt.want, fake.gotFilter, netipOpts); diff != "" {
				t.Errorf("nflab ct %s %q: filter (-want +got):\n%s", sub, tt.args, diff)
			}
		}
	}
}

func TestCTGet(t *testing.T) {
	tests := []struct {
		args      []string
		conn      nftypes.Conn
		wantTuple nftypes.Tuple
		want      string
	}{
		{
			[]string{"-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "5000", "--dport", "9999"},
			udpConn, udpConn.Orig,
			"PROTO  SRC       DST       SPORT  DPORT  STATE  STATUS                        TIMEOUT  PACKETS  BYTES\n" +
				"udp    10.0.1.2  10.0.2.2  5000   9999   -      SEEN_REPLY,ASSURED,CONFIRMED  29       1/1      34/34\n",
		},
		{
			[]string{"-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "5000", "--dport", "9999", "-o", "json"},
			udpConn, udpConn.Orig, udpJSON + "\n",
		},
		{
			[]string{"--proto=icmp", "--src", "10.0.2.2", "--dst", "10.0.1.2", "--icmp-id", "4660", "--icmp-type", "0", "-o", "json"},
			icmpConn, icmpConn.Reply, icmpJSON + "\n",
		},
		{
			[]string{"-o", "json", "-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80"},
			tcpConn, tcpConn.Orig, tcpJSON + "\n",
		},
	}
	for _, tt := range tests {
		fake := newFake()
		fake.conns = []nftypes.Conn{tt.conn}
		got := runWith(t, fake, nil, append([]string{"ct", "get"}, tt.args...)...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab ct get %q (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff(&tt.wantTuple, fake.gotTuple, netipOpts); diff != "" {
			t.Errorf("nflab ct get %q: tuple (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestCTDelete(t *testing.T) {
	fake := ctFake()
	got := runWith(t, fake, nil, "ct", "delete", "-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80")
	if diff := cmp.Diff(result{0, "deleted 1\n", ""}, got); diff != "" {
		t.Fatalf("tuple (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcpConn.Orig, fake.gotTuple, netipOpts); diff != "" || fake.calls[0] != "DeleteConn" {
		t.Fatalf("calls %v, tuple (-want +got):\n%s", fake.calls, diff)
	}

	fake = ctFake()
	got = runWith(t, fake, nil, "ct", "delete", "-p", "icmp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--icmp-id", "0x1234", "--icmp-type", "8", "-o", "json")
	if diff := cmp.Diff(result{0, `{"deleted":1}` + "\n", ""}, got); diff != "" {
		t.Fatalf("icmp tuple (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&icmpConn.Orig, fake.gotTuple, netipOpts); diff != "" {
		t.Fatalf("icmp tuple (-want +got):\n%s", diff)
	}

	// A whole tuple with --status, or a prefix, is a filter.
	for _, args := range [][]string{
		{"-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80", "--status", "ASSURED"},
		{"-p", "tcp", "-s", "10.0.1.2/32", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80"},
		{"-p", "udp"},
	} {
		fake = ctFake()
		fake.n = 3
		got = runWith(t, fake, nil, append([]string{"ct", "delete"}, args...)...)
		if diff := cmp.Diff(result{0, "deleted 3\n", ""}, got); diff != "" || fake.calls[0] != "DeleteConns" {
			t.Fatalf("nflab ct delete %q: calls %v (-want +got):\n%s", args, fake.calls, diff)
		}
	}
	got = runWith(t, fake, nil, "ct", "delete", "-p", "udp", "-o", "json")
	if diff := cmp.Diff(result{0, `{"deleted":3}` + "\n", ""}, got); diff != "" {
		t.Fatalf("filter json (-want +got):\n%s", diff)
	}
}

func TestCTSimpleCommands(t *testing.T) {
	fake := func() *fakeClient {
		f := newFake()
		f.n, f.limit = 7, 65536
		f.ctStats = nftypes.TrackerStats{Found: 1, New: 2, Invalid: 3, Insert: 4, InsertFailed: 5, Clash: 6, Drop: 7, EarlyDrop: 8, GCEvicted: 9, SearchRestart: 18446744073709551615, Related: 11}
		f.ctConfig = nftypes.TrackerConfig{Limit: ptr(uint32(65536)), TCPLoose: ptr(true), Timeouts: map[nftypes.Timeout]time.Duration{}}
		for i, secs := range []int{120, 60, 432000, 120, 60, 30, 120, 10, 30, 120, 30, 300, 300} {
			f.ctConfig.Timeouts[nftypes.Timeouts()[i]] = time.Duration(secs) * time.Second
		}
		return f
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ct", "flush"}, "flushed 7\n"},
		{[]string{"ct", "flush", "-o", "json"}, `{"deleted":7}` + "\n"},
		{[]string{"ct", "count"}, "7 entries (limit 65536)\n"},
		{[]string{"ct", "count", "-o", "json"}, `{"count":7,"limit":65536}` + "\n"},
		{[]string{"ct", "gc"}, "evicted 7\n"},
		{[]string{"ct", "gc", "-o", "json"}, `{"evicted":7}` + "\n"},
		{[]string{"ct", "stats"}, `COUNTER         VALUE
found           1
new             2
invalid         3
insert          4
insert_failed   5
clash           6
drop            7
early_drop      8
gc_evicted      9
search_restart  18446744073709551615
related         11
`},
		{[]string{"ct", "stats", "-o", "json"}, `{"found":1,"new":2,"invalid":3,"insert":4,"insert_failed":5,"clash":6,"drop":7,"early_drop":8,"gc_evicted":9,"search_restart":18446744073709551615,"related":11}` + "\n"},
		{[]string{"ct", "config"}, `SETTING          VALUE
limit            65536
tcp_loose        true
tcp_syn_sent     120s
tcp_syn_recv     60s
tcp_established  432000s
tcp_fin_wait     120s
tcp_close_wait   60s
tcp_last_ack     30s
tcp_time_wait    120s
tcp_close        10s
udp_unreplied    30s
udp_assured      120s
icmp             30s
tcp_retrans      300s
tcp_unack        300s
`},
		{[]string{"ct", "config", "-o", "json"}, `{"limit":65536,"tcp_loose":true,"timeouts":{"tcp_syn_sent":120,"tcp_syn_recv":60,"tcp_established":432000,"tcp_fin_wait":120,"tcp_close_wait":60,"tcp_last_ack":30,"tcp_time_wait":120,"tcp_close":10,"udp_unreplied":30,"udp_assured":120,"icmp":30,"tcp_retrans":300,"tcp_unack":300}}` + "\n"},
	}
	for _, tt := range tests {
		f := fake()
		got := runWith(t, f, nil, tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if !f.closed {
			t.Errorf("nflab %q: client not closed", tt.args)
		}
	}
}

func TestCTConfigSet(t *testing.T) {
	tests := []struct {
		args []string
		want nftypes.TrackerConfig
	}{
		{[]string{"--limit", "1000"}, nftypes.TrackerConfig{Limit: ptr(uint32(1000)), Timeouts: map[nftypes.Timeout]time.Duration{}}},
		{[]string{"--tcp-loose=false"}, nftypes.TrackerConfig{TCPLoose: ptr(false), Timeouts: map[nftypes.Timeout]time.Duration{}}},
		{[]string{"--tcp-loose"}, nftypes.TrackerConfig{TCPLoose: ptr(true), Timeouts: map[nftypes.Timeout]time.Duration{}}},
		{[]string{"--timeout", "tcp_established=2h", "--timeout=UDP_ASSURED=90", "--timeout", "icmp=1s", "--limit=4194304"}, nftypes.TrackerConfig{
			Limit: ptr(uint32(4194304)),
			Timeouts: map[nftypes.Timeout]time.Duration{
				nftypes.TimeoutTCPEstablished: 2 * time.Hour,
				nftypes.TimeoutUDPAssured:     90 * time.Second,
				nftypes.TimeoutICMP:           time.Second,
			},
		}},
		{[]string{"--timeout", "tcp_close=720h"}, nftypes.TrackerConfig{Timeouts: map[nftypes.Timeout]time.Duration{nftypes.TimeoutTCPClose: 720 * time.Hour}}},
	}
	for _, tt := range tests {
		fake := newFake()
		got := runWith(t, fake, nil, append([]string{"ct", "config"}, tt.args...)...)
		if diff := cmp.Diff(result{0, "", ""}, got); diff != "" {
			t.Errorf("nflab ct config %q (-want +got):\n%s", tt.args, diff)
			continue
		}
		if diff := cmp.Diff(&tt.want, fake.gotConfig); diff != "" {
			t.Errorf("nflab ct config %q: config (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestCTHelp(t *testing.T) {
	for _, args := range [][]string{{"ct"}, {"ct", "help"}, {"ct", "--help"}, {"ct", "-h"}, {"help", "ct"}} {
		got := runWith(t, nil, nil, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, "Usage: nflab ct <subcommand>") {
			t.Errorf("nflab %q = %+v", args, got)
		}
		for _, sub := range cmdCT.subs {
			if !strings.Contains(got.Stdout, "  "+strings.TrimPrefix(sub.name, "ct ")+" ") {
				t.Errorf("nflab %q does not list %s", args, sub.name)
			}
		}
	}
	for _, sub := range cmdCT.subs {
		name := strings.TrimPrefix(sub.name, "ct ")
		for _, args := range [][]string{{"ct", name, "--help"}, {"ct", name, "-h"}, {"help", "ct", name}, {"ct", "help", name}} {
			got := runWith(t, nil, nil, args...)
			if diff := cmp.Diff(result{0, sub.usage, ""}, got); diff != "" {
				t.Errorf("nflab %q (-want +got):\n%s", args, diff)
			}
		}
		if !strings.Contains(sub.usage, "Usage: nflab "+sub.name) || !strings.Contains(sub.usage, "json: one line") {
			t.Errorf("%s help lacks its usage line or JSON shape:\n%s", sub.name, sub.usage)
		}
	}
	got := runWith(t, nil, nil, "help")
	if !strings.Contains(got.Stdout, "\n  ct ") {
		t.Errorf("nflab help does not list ct:\n%s", got.Stdout)
	}
}

func TestCTUsageErrors(t *testing.T) {
	tuple := []string{"-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1", "--dport", "2"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ct", "bogus"}, `nflab ct: unknown subcommand "bogus"; run 'nflab help ct'`},
		{[]string{"ct", "-p", "tcp"}, `nflab ct: unknown flag -p (flags go after the subcommand); run 'nflab help ct'`},
		{[]string{"ct", "--help", "list"}, `nflab ct: unexpected argument "list"; run 'nflab help ct'`},
		{[]string{"help", "ct", "bogus"}, `nflab ct: unknown subcommand "bogus"; run 'nflab help ct'`},
		{[]string{"help", "ct", "list", "x"}, `nflab help: unexpected argument "x"; run 'nflab help help'`},
		{[]string{"ct", "list", "-p", "sctp"}, `nflab ct list: invalid value "sctp" for flag -p: want tcp, udp or icmp; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--proto", "Proto(6)"}, `nflab ct list: invalid value "Proto(6)" for flag -proto: want tcp, udp or icmp; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-s", "10.0.1.2/8"}, `nflab ct list: invalid value "10.0.1.2/8" for flag -s: bits set past the prefix length; did you mean 10.0.0.0/8?; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-d", "2001:db8::1"}, `nflab ct list: invalid value "2001:db8::1" for flag -d: want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--dst", "10.0.0.0/33"}, `nflab ct list: invalid value "10.0.0.0/33" for flag -dst: want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--sport", "0"}, `nflab ct list: invalid value "0" for flag -sport: want a port, 1-65535; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--dport", "65536"}, `nflab ct list: invalid value "65536" for flag -dport: want a port, 1-65535; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--state", "OPEN"}, `nflab ct list: invalid value "OPEN" for flag -state: want a TCP state: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--state", "ESTABLISHED", "-p", "udp"}, `nflab ct list: --state applies to tcp, not udp; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", "ASSURED,BOGUS"}, `nflab ct list: invalid value "ASSURED,BOGUS" for flag -status: want SEEN_REPLY, ASSURED, CONFIRMED or DYING, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", ""}, `nflab ct list: invalid value "" for flag -status: want SEEN_REPLY, ASSURED, CONFIRMED or DYING, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", "0x10"}, `nflab ct list: invalid value "0x10" for flag -status: want SEEN_REPLY, ASSURED, CONFIRMED or DYING, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-p", "icmp", "--dport", "53"}, `nflab ct list: --sport and --dport need -p tcp or -p udp; run 'nflab help ct list'`},
		{[]string{"ct", "flush", "--sport", "53"}, `nflab ct flush: --sport and --dport need -p tcp or -p udp; run 'nflab help ct flush'`},
		{[]string{"ct", "list", "--icmp-id", "1"}, `nflab ct list: flag provided but not defined: -icmp-id; run 'nflab help ct list'`},
		{[]string{"ct", "list", "extra"}, `nflab ct list: unexpected argument "extra"; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-o", "yaml"}, `nflab ct list: invalid value "yaml" for flag -o: want table or json; run 'nflab help ct list'`},
		{[]string{"ct", "flush", "--state", "CLOSE", "-p", "icmp"}, `nflab ct flush: --state applies to tcp, not icmp; run 'nflab help ct flush'`},
		{[]string{"ct", "get"}, `nflab ct get: missing -p (tcp, udp or icmp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "tcp", "-d", "10.0.2.2"}, `nflab ct get: missing -s; run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "tcp", "-s", "10.0.1.0/24", "-d", "10.0.2.2"}, `nflab ct get: -s 10.0.1.0/24 is a prefix; one connection needs an address; run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1"}, `nflab ct get: missing --sport or --dport (udp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "icmp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--icmp-id", "1"}, `nflab ct get: missing --icmp-id or --icmp-type (icmp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "icmp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1"}, `nflab ct get: --sport and --dport apply to tcp and udp; icmp takes --icmp-id and --icmp-type; run 'nflab help ct get'`},
		{append(tuple[:len(tuple):len(tuple)], "--icmp-type", "8"), `nflab ct get: --icmp-id and --icmp-type apply to icmp, not tcp; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--icmp-id", "65536"}, `nflab ct get: invalid value "65536" for flag -icmp-id: want a number, 0-65535; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--icmp-type", "256"}, `nflab ct get: invalid value "256" for flag -icmp-type: want a number, 0-255; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--state", "CLOSE"}, `nflab ct get: flag provided but not defined: -state; run 'nflab help ct get'`},
		{[]string{"ct", "delete"}, `nflab ct delete: give a connection or a filter; 'nflab ct flush' deletes every entry; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "-o", "json"}, `nflab ct delete: give a connection or a filter; 'nflab ct flush' deletes every entry; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "-p", "icmp", "--icmp-id", "1", "--icmp-type", "8", "-s", "10.0.1.2", "-d", "10.0.2.2", "--status", "ASSURED"}, `nflab ct delete: --state and --status select by filter; they cannot be combined with --icmp-id or --icmp-type; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "--icmp-id", "1"}, `nflab ct delete: missing -p (tcp, udp or icmp); run 'nflab help ct delete'`},
		{[]string{"ct", "count", "-p", "tcp"}, `nflab ct count: flag provided but not defined: -p; run 'nflab help ct count'`},
		{[]string{"ct", "stats", "--reset"}, `nflab ct stats: flag provided but not defined: -reset; run 'nflab help ct stats'`},
		{[]string{"ct", "gc", "now"}, `nflab ct gc: unexpected argument "now"; run 'nflab help ct gc'`},
		{[]string{"ct", "config", "--limit", "0"}, `nflab ct config: invalid value "0" for flag -limit: want a number of entries, 1-4194304; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--limit", "4194305"}, `nflab ct config: invalid value "4194305" for flag -limit: want a number of entries, 1-4194304; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--tcp-loose=maybe"}, `nflab ct config: invalid boolean value "maybe" for -tcp-loose: parse error; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp"}, `nflab ct config: invalid value "icmp" for flag -timeout: want NAME=DURATION, such as tcp_established=2h; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "tcp=30s"}, `nflab ct config: invalid value "tcp=30s" for flag -timeout: unknown timeout "tcp"; want one of tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, udp_unreplied, udp_assured, icmp, tcp_retrans, tcp_unack; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=1.5s"}, `nflab ct config: invalid value "icmp=1.5s" for flag -timeout: icmp: 1.5s is not a whole number of seconds; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=0"}, `nflab ct config: invalid value "icmp=0" for flag -timeout: icmp: 0s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=721h"}, `nflab ct config: invalid value "icmp=721h" for flag -timeout: icmp: 721h0m0s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=-5s"}, `nflab ct config: invalid value "icmp=-5s" for flag -timeout: icmp: -5s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=soon"}, `nflab ct config: invalid value "icmp=soon" for flag -timeout: icmp: want a duration such as 30s, 5m or a number of seconds; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=5", "--timeout", "ICMP=6"}, `nflab ct config: invalid value "ICMP=6" for flag -timeout: timeout icmp given twice; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--limit", "5", "-o", "json"}, `nflab ct config: -o cannot be combined with settings to change, which print nothing; run 'nflab help ct config'`},
	}
	for _, tt := range tests {
		args := tt.args
		if args[0] == "-p" {
			args = append([]string{"ct", "get"}, args...)
		}
		got := runWith(t, nil, nil, args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
}

func TestCTFailures(t *testing.T) {
	eperm := func(op string) error { return fmt.Errorf("nflab: %s: %w", op, unix.EPERM) }
	tuple := []string{"-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "5000", "--dport", "9999"}
	tests := []struct {
		args []string
		err  error
		want string
	}{
		{append([]string{"ct", "get"}, tuple...), &nflab.OpError{Op: "get connection", Err: unix.ENOENT}, "nflab: no such connection\n"},
		{append([]string{"ct", "get", "-o", "json"}, tuple...), &nflab.OpError{Op: "get connection", Err: unix.ENOENT}, "nflab: no such connection\n"},
		{append([]string{"ct", "delete"}, tuple...), &nflab.OpError{Op: "get connection", Err: unix.ENOENT}, "nflab: no such connection\n"},
		{[]string{"ct", "list"}, eperm("dump connections"), "nflab: listing connections: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{append([]string{"ct", "get"}, tuple...), eperm("get connection"), "nflab: looking up the connection: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{[]string{"ct", "delete", "-p", "udp"}, eperm("delete connections"), "nflab: deleting connections: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{[]string{"ct", "flush"}, eperm("flush connections"), "nflab: flushing connections: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{[]string{"ct", "gc"}, eperm("run conntrack gc"), "nflab: running conntrack garbage collection: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{[]string{"ct", "config", "--limit", "10"}, eperm("set conntrack config"), "nflab: changing the conntrack settings: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{[]string{"ct", "count"}, errors.New("nflab: count connections: malformed reply: missing attribute NFLAB_A_CT_LIMIT"), "nflab: count connections: malformed reply: missing attribute NFLAB_A_CT_LIMIT\n"},
		{[]string{"ct", "stats"}, errors.New("nflab: get conntrack stats: invalid argument"), "nflab: get conntrack stats: invalid argument\n"},
		{[]string{"ct", "config"}, errors.New("nflab: get conntrack config: invalid argument"), "nflab: get conntrack config: invalid argument\n"},
	}
	for _, tt := range tests {
		fake := ctFake()
		fake.err = tt.err
		got := runWith(t, fake, nil, tt.args...)
		if diff := cmp.Diff(result{1, "", tt.want}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
	for _, args := range [][]string{{"ct", "list"}, {"ct", "count"}, {"ct", "config", "--tcp-loose"}} {
		got := runWith(t, nil, nflab.ErrNotLoaded, args...)
		want := "nflab: kernel module is not loaded; load it with 'insmod kmod/nflab.ko' (or 'modprobe nflab')\n"
		if diff := cmp.Diff(result{1, "", want}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
}
