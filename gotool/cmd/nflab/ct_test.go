//go:build linux

package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

const wantCTTable = `PROTO  SRC       DST       SPORT    DPORT   STATE        STATUS                        TIMEOUT  PACKETS  BYTES     NAT
udp    10.0.1.2  10.0.2.2  5000     9999    -            SEEN_REPLY,ASSURED,CONFIRMED  29       1/1      34/34     -
tcp    10.0.1.2  10.0.2.2  40000    80      ESTABLISHED  SEEN_REPLY,ASSURED,CONFIRMED  431999   6/4      412/5300  -
icmp   10.0.1.2  10.0.2.2  id=4660  type=8  -            CONFIRMED                     30       1/0      84/0      -
tcp    10.0.1.2  10.0.2.2  40001    81      SYN_SENT     -                             120      0/0      0/0       -
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
		h := ctHarness(t)
		got := h.run(tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if !h.rec.closed || *h.rec.filter != (nftypes.ConnFilter{}) {
			t.Errorf("nflab %q: closed %v, filter %+v", tt.args, h.rec.closed, h.rec.filter)
		}
	}
}

// The NAT tests' connections: a TCP connection masqueraded to
// 192.0.2.1:61000, a UDP one DNATed from 10.0.2.2:53 to 10.0.3.3:5353, a
// TCP one with both (a hairpin: 192.0.2.1:8080 to 10.0.3.3:80, from
// 10.0.3.1:61001), a ping masqueraded with its id moved to 1, and a ping
// with both (192.0.2.1 to 10.0.3.3, from 192.0.2.9 with its id moved to
// 7).
var (
	masqConn = nftypes.Conn{
		ID:       11,
		Orig:     nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 40000, DstPort: 443},
		Reply:    nftypes.Tuple{Src: ipB, Dst: netip.MustParseAddr("192.0.2.1"), Proto: nftypes.TCP, SrcPort: 443, DstPort: 61000},
		Status:   nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed | nftypes.StatusSrcNAT,
		TCPState: nftypes.TCPEstablished,
		Timeout:  300 * time.Second,
	}
	dnatConn = nftypes.Conn{
		ID:      12,
		Orig:    nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.UDP, SrcPort: 5000, DstPort: 53},
		Reply:   nftypes.Tuple{Src: netip.MustParseAddr("10.0.3.3"), Dst: ipA, Proto: nftypes.UDP, SrcPort: 5353, DstPort: 5000},
		Status:  nftypes.StatusConfirmed | nftypes.StatusDstNAT,
		Timeout: 30 * time.Second,
	}
	hairpinConn = nftypes.Conn{
		ID:       13,
		Orig:     nftypes.Tuple{Src: ipA, Dst: netip.MustParseAddr("192.0.2.1"), Proto: nftypes.TCP, SrcPort: 40002, DstPort: 8080},
		Reply:    nftypes.Tuple{Src: netip.MustParseAddr("10.0.3.3"), Dst: netip.MustParseAddr("10.0.3.1"), Proto: nftypes.TCP, SrcPort: 80, DstPort: 61001},
		Status:   nftypes.StatusConfirmed | nftypes.StatusSrcNAT | nftypes.StatusDstNAT,
		TCPState: nftypes.TCPSynSent,
		Timeout:  120 * time.Second,
	}
	pingConn = nftypes.Conn{
		ID:      14,
		Orig:    nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.ICMP, ICMPID: 4660, ICMPType: 8},
		Reply:   nftypes.Tuple{Src: ipB, Dst: netip.MustParseAddr("192.0.2.1"), Proto: nftypes.ICMP, ICMPID: 1, ICMPType: 0},
		Status:  nftypes.StatusConfirmed | nftypes.StatusSrcNAT,
		Timeout: 30 * time.Second,
	}
	hairpinPing = nftypes.Conn{
		ID:      15,
		Orig:    nftypes.Tuple{Src: ipA, Dst: netip.MustParseAddr("192.0.2.1"), Proto: nftypes.ICMP, ICMPID: 4661, ICMPType: 8},
		Reply:   nftypes.Tuple{Src: netip.MustParseAddr("10.0.3.3"), Dst: netip.MustParseAddr("192.0.2.9"), Proto: nftypes.ICMP, ICMPID: 7, ICMPType: 0},
		Status:  nftypes.StatusConfirmed | nftypes.StatusSrcNAT | nftypes.StatusDstNAT,
		Timeout: 30 * time.Second,
	}
)

// TestCTListNAT checks that NATed connections show their status bits and
// translated reply tuples, and that --src-nat and --dst-nat select them.
func TestCTListNAT(t *testing.T) {
	// The table's NAT column: the translated sides, from the reply tuple,
	// as one word.
	got := newHarness(t, fakemod.Options{}, masqConn, dnatConn, hairpinConn, pingConn, hairpinPing, udpConn).run("ct", "list")
	want := `PROTO  SRC       DST        SPORT    DPORT   STATE        STATUS                                TIMEOUT  PACKETS  BYTES  NAT
tcp    10.0.1.2  10.0.2.2   40000    443     ESTABLISHED  SEEN_REPLY,ASSURED,CONFIRMED,SRC_NAT  300      0/0      0/0    src-nat=192.0.2.1:61000
udp    10.0.1.2  10.0.2.2   5000     53      -            CONFIRMED,DST_NAT                     30       0/0      0/0    dst-nat=10.0.3.3:5353
tcp    10.0.1.2  192.0.2.1  40002    8080    SYN_SENT     CONFIRMED,SRC_NAT,DST_NAT             120      0/0      0/0    src-nat=10.0.3.1:61001,dst-nat=10.0.3.3:80
icmp   10.0.1.2  10.0.2.2   id=4660  type=8  -            CONFIRMED,SRC_NAT                     30       0/0      0/0    src-nat=192.0.2.1/id=1
icmp   10.0.1.2  192.0.2.1  id=4661  type=8  -            CONFIRMED,SRC_NAT,DST_NAT             30       0/0      0/0    src-nat=192.0.2.9/id=7,dst-nat=10.0.3.3
udp    10.0.1.2  10.0.2.2   5000     9999    -            SEEN_REPLY,ASSURED,CONFIRMED          29       1/1      34/34  -
`
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("ct list (-want +got):\n%s", diff)
	}
	// awk sees as many fields on each line as the header has: $NF is NAT.
	for l := range strings.Lines(got.Stdout) {
		if n := len(strings.Fields(l)); n != 11 {
			t.Errorf("ct list: %d fields, want 11, in %q", n, l)
		}
	}

	conns := []nftypes.Conn{masqConn, dnatConn, udpConn}
	got = newHarness(t, fakemod.Options{}, conns...).run("ct", "list", "-u", "SRC_NAT")
	want = `PROTO  SRC       DST       SPORT  DPORT  STATE        STATUS                                TIMEOUT  PACKETS  BYTES  NAT
tcp    10.0.1.2  10.0.2.2  40000  443    ESTABLISHED  SEEN_REPLY,ASSURED,CONFIRMED,SRC_NAT  300      0/0      0/0    src-nat=192.0.2.1:61000
`
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("ct list -u SRC_NAT (-want +got):\n%s", diff)
	}
	got = newHarness(t, fakemod.Options{}, conns...).run("ct", "list", "--dst-nat", "-o", "json")
	want = `{"entries":[{"id":12,"proto":"udp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","sport":5000,"dport":53},` +
		`"reply":{"src":"10.0.3.3","dst":"10.0.1.2","sport":5353,"dport":5000},"status":["CONFIRMED","DST_NAT"],"timeout":30,` +
		`"packets_orig":0,"bytes_orig":0,"packets_reply":0,"bytes_reply":0}]}` + "\n"
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("ct list --dst-nat -o json (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		args []string
		ids  []uint32
	}{
		{[]string{"--src-nat"}, []uint32{11}},
		{[]string{"--dst-nat"}, []uint32{12}},
		{[]string{"--src-nat", "--dst-nat"}, nil},
		{[]string{"--src-nat", "-u", "ASSURED"}, []uint32{11}},
		{[]string{"--dst-nat", "-u", "ASSURED"}, nil},
		{[]string{"-u", "CONFIRMED"}, []uint32{11, 12, 1}},
	} {
		h := newHarness(t, fakemod.Options{}, conns...)
		got := h.run(append([]string{"ct", "list", "-o", "json"}, tt.args...)...)
		var ids []uint32
		for _, c := range conns {
			if strings.Contains(got.Stdout, fmt.Sprintf(`{"id":%d,`, c.ID)) {
				ids = append(ids, c.ID)
			}
		}
		if got.Code != 0 || !slices.Equal(ids, tt.ids) {
			t.Errorf("nflab ct list %q = %+v; want entries %v", tt.args, got, tt.ids)
		}
	}
	// delete and flush take the flags too.
	h := newHarness(t, fakemod.Options{}, conns...)
	if got := h.run("ct", "delete", "--src-nat"); got.Code != 0 || got.Stdout != "deleted 1\n" {
		t.Errorf("ct delete --src-nat = %+v", got)
	}
	if got := h.run("ct", "flush", "--dst-nat", "-o", "json"); got.Code != 0 || got.Stdout != `{"deleted":1}`+"\n" {
		t.Errorf("ct flush --dst-nat = %+v", got)
	}
	if got := h.run("ct", "count", "--src-nat"); got.Code != 0 || got.Stdout != "0 entries (limit 65536)\n" {
		t.Errorf("ct count --src-nat = %+v", got)
	}
}

func TestCTListEmpty(t *testing.T) {
	got := newHarness(t, fakemod.Options{}).run("ct", "list", "-o", "json")
	if diff := cmp.Diff(result{0, `{"entries":[]}` + "\n", ""}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	got = newHarness(t, fakemod.Options{}).run("ct", "list")
	if diff := cmp.Diff(result{0, "PROTO  SRC  DST  SPORT  DPORT  STATE  STATUS  TIMEOUT  PACKETS  BYTES  NAT\n", ""}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestCTListSelects checks that the module gets the filter: the entries
// listed are those it selects.
func TestCTListSelects(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ids  []uint32
	}{
		{[]string{"-p", "tcp"}, []uint32{2, 4}},
		{[]string{"-p", "6", "--state", "SYN_SENT"}, []uint32{4}},
		{[]string{"-u", "ASSURED"}, []uint32{1, 2}},
		{[]string{"-p", "udp", "--dport", "9999"}, []uint32{1}},
		{[]string{"-d", "10.0.0.0/8"}, []uint32{1, 2, 3, 4}},
		{[]string{"-s", "10.0.2.2"}, nil},
	} {
		got := ctHarness(t).run(append([]string{"ct", "list", "-o", "json"}, tt.args...)...)
		var ids []uint32
		for _, id := range []uint32{1, 2, 3, 4} {
			if strings.Contains(got.Stdout, `{"id":`+string(rune('0'+id))+`,`) {
				ids = append(ids, id)
			}
		}
		if got.Code != 0 || !slices.Equal(ids, tt.ids) {
			t.Errorf("nflab ct list %q = %+v; want entries %v", tt.args, got, tt.ids)
		}
	}
}

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
		{[]string{"--status", "SRC_NAT"}, nftypes.ConnFilter{Status: nftypes.StatusSrcNAT}},
		{[]string{"--src-nat"}, nftypes.ConnFilter{Status: nftypes.StatusSrcNAT}},
		{[]string{"--dst-nat", "-u", "ASSURED", "-p", "udp"}, nftypes.ConnFilter{Proto: nftypes.UDP, Status: nftypes.StatusAssured | nftypes.StatusDstNAT}},
		{[]string{"--src-nat", "--dst-nat=true", "--status", "SRC_NAT"}, nftypes.ConnFilter{Status: nftypes.StatusSrcNAT | nftypes.StatusDstNAT}},
		{[]string{"--src-nat=false", "-p", "tcp"}, nftypes.ConnFilter{Proto: nftypes.TCP}},
		// A whole tuple with a NAT flag is a filter.
		{[]string{"-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "5000", "--dport", "9999", "--dst-nat"}, nftypes.ConnFilter{
			Proto: nftypes.UDP, Src: netip.MustParsePrefix("10.0.1.2/32"), Dst: netip.MustParsePrefix("10.0.2.2/32"), SrcPort: 5000, DstPort: 9999,
			Status: nftypes.StatusDstNAT}},
	}
	for _, sub := range []string{"list", "flush", "delete"} {
		for _, tt := range tests {
			h := ctHarness(t)
			got := h.run(append([]string{"ct", sub}, tt.args...)...)
			if got.Code != 0 || got.Stderr != "" {
				t.Errorf("nflab ct %s %q = %+v", sub, tt.args, got)
				continue
			}
			if diff := cmp.Diff(&tt.want, h.rec.filter, netipOpts); diff != "" {
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
			"PROTO  SRC       DST       SPORT  DPORT  STATE  STATUS                        TIMEOUT  PACKETS  BYTES  NAT\n" +
				"udp    10.0.1.2  10.0.2.2  5000   9999   -      SEEN_REPLY,ASSURED,CONFIRMED  29       1/1      34/34  -\n",
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
		h := newHarness(t, fakemod.Options{}, tt.conn)
		got := h.run(append([]string{"ct", "get"}, tt.args...)...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab ct get %q (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff(&tt.wantTuple, h.rec.tuple, netipOpts); diff != "" {
			t.Errorf("nflab ct get %q: tuple (-want +got):\n%s", tt.args, diff)
		}
	}
}

// The history tests' changes: a TCP handshake's (the SYN creating the
// connection, the SYN-ACK, the ACK), and a UDP query's and its answer's.
var (
	tcpHistory = []nftypes.ConnChange{
		{Time: time.Date(2026, 12, 1, 12, 0, 0, 123000000, time.UTC), Packet: 42, Trace: 3, Hook: nftypes.PreRouting,
			TCPStateOld: nftypes.TCPNone, TCPState: nftypes.TCPSynSent},
		{Time: time.Date(2026, 12, 1, 12, 0, 0, 124000000, time.UTC), Packet: 43, Trace: 3, Hook: nftypes.PreRouting, Dir: nftypes.DirReply,
			TCPStateOld: nftypes.TCPSynSent, TCPState: nftypes.TCPSynRecv,
			StatusOld: nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusConfirmed},
		{Time: time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC), Packet: 44, Trace: 3, Hook: nftypes.Forward,
			TCPStateOld: nftypes.TCPSynRecv, TCPState: nftypes.TCPEstablished,
			StatusOld: nftypes.StatusSeenReply | nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed},
	}
	udpHistory = []nftypes.ConnChange{
		{Time: time.Date(2026, 12, 1, 12, 0, 2, 0, time.UTC), Packet: 7, Trace: 4, Hook: nftypes.LocalOut},
		{Time: time.Date(2026, 12, 1, 12, 0, 2, 5000000, time.UTC), Packet: 8, Trace: 4, Hook: nftypes.PreRouting, Dir: nftypes.DirReply,
			StatusOld: nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusConfirmed | 1<<20},
		{Time: time.Date(2026, 12, 1, 12, 0, 3, 0, time.UTC), Packet: 9, Trace: 4, Hook: nftypes.LocalOut,
			StatusOld: nftypes.StatusSeenReply | nftypes.StatusConfirmed | 1<<20, Status: nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed},
	}
)

func TestCTGetHistory(t *testing.T) {
	tcpArgs := []string{"ct", "get", "-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80"}
	udpArgs := []string{"ct", "get", "-p", "udp", "-s", "10.0.2.2", "-d", "10.0.1.2", "--sport", "9999", "--dport", "5000"}
	const (
		tcpTable = "PROTO  SRC       DST       SPORT  DPORT  STATE        STATUS                        TIMEOUT  PACKETS  BYTES     NAT\n" +
			"tcp    10.0.1.2  10.0.2.2  40000  80     ESTABLISHED  SEEN_REPLY,ASSURED,CONFIRMED  431999   6/4      412/5300  -\n"
		udpTable = "PROTO  SRC       DST       SPORT  DPORT  STATE  STATUS                        TIMEOUT  PACKETS  BYTES  NAT\n" +
			"udp    10.0.1.2  10.0.2.2  5000   9999   -      SEEN_REPLY,ASSURED,CONFIRMED  29       1/1      34/34  -\n"
		tcpHistoryJSON = `"history":[` +
			`{"time":"2026-12-01T12:00:00.123Z","packet":42,"trace":3,"hook":"PRE_ROUTING","dir":"original","tcp_state_old":"NONE","tcp_state":"SYN_SENT","status_old":[],"status":[]},` +
			`{"time":"2026-12-01T12:00:00.124Z","packet":43,"trace":3,"hook":"PRE_ROUTING","dir":"reply","tcp_state_old":"SYN_SENT","tcp_state":"SYN_RECV","status_old":["CONFIRMED"],"status":["SEEN_REPLY","CONFIRMED"]},` +
			`{"time":"2026-12-01T12:00:01Z","packet":44,"trace":3,"hook":"FORWARD","dir":"original","tcp_state_old":"SYN_RECV","tcp_state":"ESTABLISHED","status_old":["SEEN_REPLY","CONFIRMED"],"status":["SEEN_REPLY","ASSURED","CONFIRMED"]}]`
		udpHistoryJSON = `"history":[` +
			`{"time":"2026-12-01T12:00:02Z","packet":7,"trace":4,"hook":"LOCAL_OUT","dir":"original","status_old":[],"status":[]},` +
			`{"time":"2026-12-01T12:00:02.005Z","packet":8,"trace":4,"hook":"PRE_ROUTING","dir":"reply","status_old":["CONFIRMED"],"status":["SEEN_REPLY","CONFIRMED","0x100000"]},` +
			`{"time":"2026-12-01T12:00:03Z","packet":9,"trace":4,"hook":"LOCAL_OUT","dir":"original","status_old":["SEEN_REPLY","CONFIRMED","0x100000"],"status":["SEEN_REPLY","ASSURED","CONFIRMED"]}]`
		noHistory = "  no history: nflab records a connection's changes only while a trace follows its packets; start one with 'nflab trace add SELECTOR'\n"
		oldModule = "  no history: the loaded module predates connection histories (protocol 6); load a newer module\n"
	)
	withHistory := func(c nftypes.Conn, h []nftypes.ConnChange) nftypes.Conn {
		c.History = h
		return c
	}
	tcpWith, udpWith := withHistory(tcpConn, tcpHistory), withHistory(udpConn, udpHistory)
	tests := []struct {
		name string
		opts fakemod.Options
		conn nftypes.Conn
		args []string
		want string
	}{
		{"tcp", fakemod.Options{}, tcpWith, append(tcpArgs, "--history"), tcpTable +
			"  12:00:00.123 #42 trace 3 PRE_ROUTING original  NONE→SYN_SENT\n" +
			"  12:00:00.124 #43 trace 3 PRE_ROUTING reply  SYN_SENT→SYN_RECV  +seen_reply\n" +
			"  12:00:01.000 #44 trace 3 FORWARD original  SYN_RECV→ESTABLISHED  +assured\n"},
		{"tcp json", fakemod.Options{}, tcpWith, append(tcpArgs, "--history", "-o", "json"),
			strings.TrimSuffix(tcpJSON, "}") + "," + tcpHistoryJSON + "}\n"},
		{"udp, by its reply tuple, through -G", fakemod.Options{}, udpWith,
			[]string{"-G", "-p", "udp", "-s", "10.0.2.2", "-d", "10.0.1.2", "--sport", "9999", "--dport", "5000", "--history"}, udpTable +
				"  12:00:02.000 #7 trace 4 LOCAL_OUT original  new\n" +
				"  12:00:02.005 #8 trace 4 PRE_ROUTING reply  +seen_reply +0x100000\n" +
				"  12:00:03.000 #9 trace 4 LOCAL_OUT original  +assured -0x100000\n"},
		{"udp json", fakemod.Options{}, udpWith, append(udpArgs, "--history", "-o", "json"),
			strings.TrimSuffix(udpJSON, "}") + "," + udpHistoryJSON + "}\n"},
		{"no history", fakemod.Options{}, tcpConn, append(tcpArgs, "--history"), tcpTable + noHistory},
		{"no history json", fakemod.Options{}, tcpConn, append(tcpArgs, "--history=true", "-o", "json"),
			strings.TrimSuffix(tcpJSON, "}") + `,"history":[]}` + "\n"},
		// Without --history, the output is what it was, history or not.
		{"without --history", fakemod.Options{}, tcpWith, tcpArgs, tcpTable},
		{"without --history json", fakemod.Options{}, tcpWith, append(tcpArgs, "-o", "json"), tcpJSON + "\n"},
		{"--history=false", fakemod.Options{}, tcpWith, append(tcpArgs, "--history=false"), tcpTable},
		// A module of protocol 5 keeps none: said in the table, left out
		// of the JSON.
		{"old module", fakemod.Options{Protocol: 5}, tcpWith, append(tcpArgs, "--history"), tcpTable + oldModule},
		{"old module json", fakemod.Options{Protocol: 5}, tcpWith, append(tcpArgs, "--history", "-o", "json"), tcpJSON + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts, tt.conn)
			got := h.run(tt.args...)
			if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
				t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
			}
			if calls := h.rec.Calls(); !slices.Equal(calls, []string{"Conn", "Close"}) {
				t.Errorf("calls = %q, want one lookup", calls)
			}
		})
	}
	// The list shows no history, whatever the module keeps.
	h := newHarness(t, fakemod.Options{}, tcpWith)
	if got := h.run("ct", "list", "-o", "json"); got.Code != 0 || strings.Contains(got.Stdout, "history") {
		t.Errorf("nflab ct list -o json = %+v", got)
	}
	// The history ends with the module's last trace.
	h = newHarness(t, fakemod.Options{}, tcpConn)
	tr := h.m.StartTrace(nftypes.TraceSpec{})
	h.m.SetHistory(tcpConn.ID, tcpHistory[:1])
	if got := h.run(append(tcpArgs, "--history")...); got.Stdout != tcpTable+"  12:00:00.123 #42 trace 3 PRE_ROUTING original  NONE→SYN_SENT\n" {
		t.Errorf("with a trace: %+v", got)
	}
	h.m.EndTrace(tr.ID)
	if got := h.run(append(tcpArgs, "--history")...); got.Stdout != tcpTable+noHistory {
		t.Errorf("after the last trace: %+v", got)
	}
	// A usage error.
	if got := runNoDial(t, append(tcpArgs, "--history=maybe")...); got.Code != 2 ||
		got.Stderr != `nflab ct get: invalid value "maybe" for --history: want true or false; run 'nflab help ct get'`+"\n" {
		t.Errorf("--history=maybe = %+v", got)
	}
}

func TestCTDelete(t *testing.T) {
	h := ctHarness(t)
	got := h.run("ct", "delete", "-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80")
	if diff := cmp.Diff(result{0, "deleted 1\n", ""}, got); diff != "" {
		t.Fatalf("tuple (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&tcpConn.Orig, h.rec.tuple, netipOpts); diff != "" || h.rec.calls[0] != "DeleteConn" {
		t.Fatalf("calls %v, tuple (-want +got):\n%s", h.rec.calls, diff)
	}
	if len(h.m.Conns()) != 3 {
		t.Errorf("%d entries left, want 3", len(h.m.Conns()))
	}

	// The reply direction finds the entry too.
	h = ctHarness(t)
	got = h.run("ct", "delete", "-p", "icmp", "-s", "10.0.2.2", "-d", "10.0.1.2", "--icmp-id", "0x1234", "--icmp-type", "0", "-o", "json")
	if diff := cmp.Diff(result{0, `{"deleted":1}` + "\n", ""}, got); diff != "" {
		t.Fatalf("icmp tuple (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&icmpConn.Reply, h.rec.tuple, netipOpts); diff != "" {
		t.Fatalf("icmp tuple (-want +got):\n%s", diff)
	}

	// A whole tuple with --status, or a prefix, is a filter.
	for _, tt := range []struct {
		args []string
		n    int
	}{
		{[]string{"-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80", "--status", "ASSURED"}, 1},
		{[]string{"-p", "tcp", "-s", "10.0.1.2/32", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80"}, 1},
		{[]string{"-p", "tcp"}, 2},
		{[]string{"-d", "10.0.2.0/24"}, 4},
	} {
		h = ctHarness(t)
		got = h.run(append([]string{"ct", "delete"}, tt.args...)...)
		want := "deleted " + string(rune('0'+tt.n)) + "\n"
		if diff := cmp.Diff(result{0, want, ""}, got); diff != "" || h.rec.calls[0] != "DeleteConns" || len(h.m.Conns()) != 4-tt.n {
			t.Fatalf("nflab ct delete %q: calls %v, %d left (-want +got):\n%s", tt.args, h.rec.calls, len(h.m.Conns()), diff)
		}
	}
	got = ctHarness(t).run("ct", "delete", "-p", "udp", "-o", "json")
	if diff := cmp.Diff(result{0, `{"deleted":1}` + "\n", ""}, got); diff != "" {
		t.Fatalf("filter json (-want +got):\n%s", diff)
	}
}

func TestCTSimpleCommands(t *testing.T) {
	expired := udpConn
	expired.ID, expired.Orig.SrcPort, expired.Reply.DstPort, expired.Timeout = 5, 5001, 5001, 0
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ct", "flush"}, "flushed 5\n"},
		{[]string{"ct", "flush", "-o", "json"}, `{"deleted":5}` + "\n"},
		{[]string{"ct", "flush", "-p", "tcp", "-o", "json"}, `{"deleted":2}` + "\n"},
		{[]string{"ct", "count"}, "5 entries (limit 65536)\n"},
		{[]string{"ct", "count", "-o", "json"}, `{"count":5,"limit":65536}` + "\n"},
		{[]string{"ct", "gc"}, "evicted 1\n"},
		{[]string{"ct", "gc", "-o", "json"}, `{"evicted":1}` + "\n"},
		{[]string{"ct", "stats"}, `COUNTER         VALUE
found           0
new             0
invalid         0
insert          0
insert_failed   0
clash           0
drop            0
early_drop      0
gc_evicted      0
search_restart  0
related         0
nat_exhausted   0
nat_clash       0
nat_lost        0
`},
		{[]string{"ct", "stats", "-o", "json"}, `{"found":0,"new":0,"invalid":0,"insert":0,"insert_failed":0,"clash":0,"drop":0,"early_drop":0,"gc_evicted":0,"search_restart":0,"related":0,"nat_exhausted":0,"nat_clash":0,"nat_lost":0}` + "\n"},
		{[]string{"ct", "config"}, `SETTING          VALUE
limit            65536
tcp_loose        false
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
		{[]string{"ct", "config", "-o", "json"}, `{"limit":65536,"tcp_loose":false,"timeouts":{"tcp_syn_sent":120,"tcp_syn_recv":60,"tcp_established":432000,"tcp_fin_wait":120,"tcp_close_wait":60,"tcp_last_ack":30,"tcp_time_wait":120,"tcp_close":10,"udp_unreplied":30,"udp_assured":120,"icmp":30,"tcp_retrans":300,"tcp_unack":300}}` + "\n"},
	}
	for _, tt := range tests {
		h := newHarness(t, fakemod.Options{}, udpConn, tcpConn, icmpConn, synConn, expired)
		got := h.run(tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if !h.rec.closed || h.m.Sockets() != 0 {
			t.Errorf("nflab %q: client closed %v, %d sockets open", tt.args, h.rec.closed, h.m.Sockets())
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
		h := newHarness(t, fakemod.Options{})
		got := h.run(append([]string{"ct", "config"}, tt.args...)...)
		if diff := cmp.Diff(result{0, "", ""}, got); diff != "" {
			t.Errorf("nflab ct config %q (-want +got):\n%s", tt.args, diff)
			continue
		}
		if diff := cmp.Diff(&tt.want, h.rec.config); diff != "" {
			t.Errorf("nflab ct config %q: config (-want +got):\n%s", tt.args, diff)
		}
	}
}

// testRoot is the command tree, for tests that walk it.
func testRoot() *cobra.Command {
	return (&app{stdout: &recWriter{w: io.Discard}, stderr: io.Discard}).rootCmd()
}

func TestCTHelp(t *testing.T) {
	var ct *cobra.Command
	for _, c := range testRoot().Commands() {
		if c.Name() == "ct" {
			ct = c
		}
	}
	for _, args := range [][]string{{"ct"}, {"ct", "--help"}, {"ct", "-h"}, {"help", "ct"}} {
		got := runNoDial(t, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, "Inspect, follow and change") {
			t.Errorf("nflab %q = %+v", args, got)
		}
		for _, sub := range ct.Commands() {
			if !strings.Contains(got.Stdout, "\n  "+sub.Name()+" ") {
				t.Errorf("nflab %q does not list %s", args, sub.Name())
			}
		}
	}
	for _, sub := range ct.Commands() {
		name := sub.Name()
		want := runNoDial(t, "ct", name, "--help")
		if want.Code != 0 || want.Stderr != "" || !strings.Contains(want.Stdout, "Usage:\n  nflab ct "+name) {
			t.Errorf("nflab ct %s --help = %+v", name, want)
		}
		if name != "stats" && name != "config" && name != "gc" && name != "count" && !strings.Contains(want.Stdout, "json:  one line") {
			t.Errorf("nflab ct %s --help does not document its JSON:\n%s", name, want.Stdout)
		}
		for _, args := range [][]string{{"ct", name, "-h"}, {"help", "ct", name}, {"ct", name, "-p", "tcp", "-h"}} {
			if name != "list" && args[2] == "-p" {
				continue
			}
			got := runNoDial(t, args...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("nflab %q (-want +got):\n%s", args, diff)
			}
		}
	}
}

func TestCTUsageErrors(t *testing.T) {
	tuple := []string{"-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1", "--dport", "2"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ct", "bogus"}, `nflab ct: unknown subcommand "bogus"; run 'nflab help ct'`},
		{[]string{"ct", "-p", "tcp"}, `nflab ct: unknown shorthand flag: 'p' in -p; run 'nflab help ct'`},
		{[]string{"help", "ct", "bogus"}, `nflab ct: unknown subcommand "bogus"; run 'nflab help ct'`},
		{[]string{"help", "ct", "list", "x"}, `nflab ct list: unexpected argument "x"; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-p", "sctp"}, `nflab ct list: invalid value "sctp" for --proto: want tcp, udp or icmp, or 6, 17 or 1; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--proto", "Proto(6)"}, `nflab ct list: invalid value "Proto(6)" for --proto: want tcp, udp or icmp, or 6, 17 or 1; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-s", "10.0.1.2/8"}, `nflab ct list: invalid value "10.0.1.2/8" for --src: bits set past the prefix length; did you mean 10.0.0.0/8?; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-d", "2001:db8::1"}, `nflab ct list: invalid value "2001:db8::1" for --dst: want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--dst", "10.0.0.0/33"}, `nflab ct list: invalid value "10.0.0.0/33" for --dst: want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--sport", "0"}, `nflab ct list: invalid value "0" for --sport: want a port, 1-65535; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--dport", "65536"}, `nflab ct list: invalid value "65536" for --dport: want a port, 1-65535; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--state", "OPEN"}, `nflab ct list: invalid value "OPEN" for --state: want a TCP state: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--state", "ESTABLISHED", "-p", "udp"}, `nflab ct list: --state applies to tcp, not udp; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", "ASSURED,BOGUS"}, `nflab ct list: invalid value "ASSURED,BOGUS" for --status: want SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT or DST_NAT, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", ""}, `nflab ct list: invalid value "" for --status: want SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT or DST_NAT, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--status", "0x10"}, `nflab ct list: invalid value "0x10" for --status: want SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT or DST_NAT, separated by commas; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-p", "icmp", "--dport", "53"}, `nflab ct list: --sport and --dport need -p tcp or -p udp; run 'nflab help ct list'`},
		{[]string{"ct", "flush", "--sport", "53"}, `nflab ct flush: --sport and --dport need -p tcp or -p udp; run 'nflab help ct flush'`},
		{[]string{"ct", "list", "--icmp-id", "1"}, `nflab ct list: unknown flag: --icmp-id; run 'nflab help ct list'`},
		{[]string{"ct", "list", "extra"}, `nflab ct list: unexpected argument "extra"; run 'nflab help ct list'`},
		{[]string{"ct", "list", "-o", "yaml"}, `nflab ct list: invalid value "yaml" for --output: want table or json; run 'nflab help ct list'`},
		{[]string{"ct", "flush", "--state", "CLOSE", "-p", "icmp"}, `nflab ct flush: --state applies to tcp, not icmp; run 'nflab help ct flush'`},
		{[]string{"ct", "get"}, `nflab ct get: missing --proto (tcp, udp or icmp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "tcp", "-d", "10.0.2.2"}, `nflab ct get: missing --src; run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "tcp", "-s", "10.0.1.0/24", "-d", "10.0.2.2"}, `nflab ct get: --src 10.0.1.0/24 is a prefix; one connection needs an address; run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1"}, `nflab ct get: missing --sport or --dport (udp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "icmp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--icmp-id", "1"}, `nflab ct get: missing --icmp-id or --icmp-type (icmp); run 'nflab help ct get'`},
		{[]string{"ct", "get", "-p", "icmp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1"}, `nflab ct get: --sport and --dport apply to tcp and udp; icmp takes --icmp-id and --icmp-type; run 'nflab help ct get'`},
		{append(tuple[:len(tuple):len(tuple)], "--icmp-type", "8"), `nflab ct get: --icmp-id and --icmp-type apply to icmp, not tcp; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--icmp-id", "65536"}, `nflab ct get: invalid value "65536" for --icmp-id: want a number, 0-65535; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--icmp-type", "256"}, `nflab ct get: invalid value "256" for --icmp-type: want a number, 0-255; run 'nflab help ct get'`},
		{[]string{"ct", "get", "--state", "CLOSE"}, `nflab ct get: unknown flag: --state; run 'nflab help ct get'`},
		{[]string{"ct", "delete"}, `nflab ct delete: give a connection or a filter; 'nflab ct flush' deletes every entry; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "-o", "json"}, `nflab ct delete: give a connection or a filter; 'nflab ct flush' deletes every entry; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "-p", "icmp", "--icmp-id", "1", "--icmp-type", "8", "-s", "10.0.1.2", "-d", "10.0.2.2", "--status", "ASSURED"}, `nflab ct delete: --state, --status, --src-nat and --dst-nat select by filter; they cannot be combined with --icmp-id or --icmp-type; run 'nflab help ct delete'`},
		{[]string{"ct", "delete", "-p", "icmp", "--icmp-id", "1", "--icmp-type", "8", "-s", "10.0.1.2", "-d", "10.0.2.2", "--dst-nat"}, `nflab ct delete: --state, --status, --src-nat and --dst-nat select by filter; they cannot be combined with --icmp-id or --icmp-type; run 'nflab help ct delete'`},
		{[]string{"ct", "list", "--src-nat", "--src-nat"}, `nflab ct list: --src-nat given twice; it takes one value; run 'nflab help ct list'`},
		{[]string{"ct", "list", "--dst-nat=maybe"}, `nflab ct list: invalid value "maybe" for --dst-nat: want true or false; run 'nflab help ct list'`},
		{[]string{"ct", "get", "--src-nat"}, `nflab ct get: unknown flag: --src-nat; run 'nflab help ct get'`},
		{[]string{"ct", "delete", "--icmp-id", "1"}, `nflab ct delete: missing --proto (tcp, udp or icmp); run 'nflab help ct delete'`},
		{[]string{"ct", "count", "--icmp-id", "1"}, `nflab ct count: unknown flag: --icmp-id; run 'nflab help ct count'`},
		{[]string{"ct", "stats", "--reset"}, `nflab ct stats: unknown flag: --reset; run 'nflab help ct stats'`},
		{[]string{"ct", "gc", "now"}, `nflab ct gc: unexpected argument "now"; run 'nflab help ct gc'`},
		{[]string{"ct", "config", "--limit", "0"}, `nflab ct config: invalid value "0" for --limit: want a number of entries, 1-4194304; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--limit", "4194305"}, `nflab ct config: invalid value "4194305" for --limit: want a number of entries, 1-4194304; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--tcp-loose=maybe"}, `nflab ct config: invalid value "maybe" for --tcp-loose: want true or false; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp"}, `nflab ct config: invalid value "icmp" for --timeout: want NAME=DURATION, such as tcp_established=2h; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "tcp=30s"}, `nflab ct config: invalid value "tcp=30s" for --timeout: unknown timeout "tcp"; want one of tcp_syn_sent, tcp_syn_recv, tcp_established, tcp_fin_wait, tcp_close_wait, tcp_last_ack, tcp_time_wait, tcp_close, udp_unreplied, udp_assured, icmp, tcp_retrans, tcp_unack; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=1.5s"}, `nflab ct config: invalid value "icmp=1.5s" for --timeout: icmp: 1.5s is not a whole number of seconds; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=0"}, `nflab ct config: invalid value "icmp=0" for --timeout: icmp: 0s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=721h"}, `nflab ct config: invalid value "icmp=721h" for --timeout: icmp: 721h0m0s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=-5s"}, `nflab ct config: invalid value "icmp=-5s" for --timeout: icmp: -5s is out of range (1s to 30 days, 2592000s); run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=soon"}, `nflab ct config: invalid value "icmp=soon" for --timeout: icmp: want a duration such as 30s, 5m or a number of seconds; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--timeout", "icmp=5", "--timeout", "ICMP=6"}, `nflab ct config: invalid value "ICMP=6" for --timeout: timeout icmp given twice; run 'nflab help ct config'`},
		{[]string{"ct", "config", "--limit", "5", "-o", "json"}, `nflab ct config: --output cannot be combined with settings to change, which print nothing; run 'nflab help ct config'`},
	}
	for _, tt := range tests {
		args := tt.args
		if args[0] == "-p" {
			args = append([]string{"ct", "get"}, args...)
		}
		got := runNoDial(t, args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
}

func TestCTFailures(t *testing.T) {
	tuple := []string{"-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "5001", "--dport", "9999"}
	for _, args := range [][]string{
		append([]string{"ct", "get"}, tuple...),
		append([]string{"ct", "get", "-o", "json"}, tuple...),
		append([]string{"ct", "delete"}, tuple...),
		append([]string{"-G"}, tuple...),
	} {
		got := ctHarness(t).run(args...)
		if diff := cmp.Diff(result{1, "", "nflab: no such connection\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}

	denied := ": permission denied; this needs CAP_NET_ADMIN (run as root)\n"
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ct", "list"}, "nflab: listing connections" + denied},
		{[]string{"ct", "count", "-p", "tcp"}, "nflab: listing connections" + denied},
		{append([]string{"ct", "get"}, tuple...), "nflab: looking up the connection" + denied},
		{[]string{"ct", "delete", "-p", "udp"}, "nflab: deleting connections" + denied},
		{[]string{"ct", "flush"}, "nflab: flushing connections" + denied},
		{[]string{"ct", "gc"}, "nflab: running conntrack garbage collection" + denied},
		{[]string{"ct", "config", "--limit", "10"}, "nflab: changing the conntrack settings" + denied},
		{[]string{"ct", "events"}, "nflab: watching connections" + denied},
	} {
		got := newHarness(t, fakemod.Options{Unprivileged: true}, udpConn).run(tt.args...)
		if diff := cmp.Diff(result{1, "", tt.want}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
	// Counting, statistics and settings reveal no flows: anyone may read them.
	for _, args := range [][]string{{"ct", "count"}, {"ct", "stats"}, {"ct", "config"}} {
		if got := newHarness(t, fakemod.Options{Unprivileged: true}).run(args...); got.Code != 0 {
			t.Errorf("nflab %q without CAP_NET_ADMIN = %+v", args, got)
		}
	}

	// The library's own words, with the kernel's extended ACK.
	for _, tt := range []struct {
		cmd  uint8
		args []string
		want string
	}{
		{nlproto.CMD_CT_COUNT, []string{"ct", "count"}, ": invalid argument: bad count\n"},
		{nlproto.CMD_CT_STATS, []string{"ct", "stats"}, ": invalid argument: bad stats\n"},
		{nlproto.CMD_CT_GET_CONFIG, []string{"ct", "config"}, ": invalid argument: bad config\n"},
	} {
		h := newHarness(t, fakemod.Options{})
		h.m.Fail(tt.cmd, unix.EINVAL, strings.TrimPrefix(strings.TrimSuffix(tt.want, "\n"), ": invalid argument: "))
		got := h.run(tt.args...)
		if got.Code != 1 || !strings.HasPrefix(got.Stderr, "nflab: ") || !strings.HasSuffix(got.Stderr, tt.want) {
			t.Errorf("nflab %q = %+v, want the library's error ending %q", tt.args, got, tt.want)
		}
	}

	// A dump the table's changes kept interrupting says so.
	h := ctHarness(t)
	h.m.InterruptDumps(100)
	if got := h.run("ct", "list"); got.Code != 1 || got.Stderr != "nflab: listing connections: the table kept changing during the dump; try again\n" {
		t.Errorf("interrupted dumps: %+v", got)
	}

	// A command the module lacks: the library's reason says which.
	h = newHarness(t, fakemod.Options{Missing: []uint8{nlproto.CMD_CT_GC}})
	if got := h.run("ct", "gc"); got.Code != 1 || got.Stderr != "nflab: running conntrack garbage collection: the module's family has no command 11; load a newer module\n" {
		t.Errorf("missing command: %+v", got)
	}

	for _, args := range [][]string{{"ct", "list"}, {"ct", "count"}, {"ct", "config", "--tcp-loose"}, {"-L"}} {
		h := ctHarness(t)
		h.m.Unload()
		want := "nflab: kernel module is not loaded; " + testHint() + "\n"
		if diff := cmp.Diff(result{1, "", want}, h.run(args...)); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
	_ = time.Second
}

// walkCommands returns every command of the tree that a user can run or
// see, help and hidden ones left out.
func walkCommands() []*cobra.Command {
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		cmds = append(cmds, c)
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(testRoot())
	return cmds
}

// TestExamples runs every line of every command's examples against the
// fake module: each must parse and succeed.
func TestExamples(t *testing.T) {
	// The files the rule engine's examples read.
	t.Chdir(t.TempDir())
	for name, text := range map[string]string{"rules.nft": exampleRuleset, "cn.zone": "1.0.1.0/24\n1.0.2.0/23\n"} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range walkCommands() {
		for line := range strings.Lines(c.Example) {
			args := strings.Fields(line)
			if len(args) == 0 {
				continue
			}
			n++
			if args[0] != "nflab" || strings.ContainsAny(line, `'"\$|<>`) {
				t.Errorf("%s: example %q is not a plain nflab command line", c.CommandPath(), line)
				continue
			}
			h := rulesHarness(t, exampleRuleset)
			for range 3 { // the traces "trace delete" ends
				h.m.StartTrace(nftypes.TraceSpec{})
			}
			h.stdin = "192.0.2.7\n"
			if c.Name() == "apply" {
				h.stdin = exampleRuleset
			}
			if got := h.runOrWatch(args[1:]...); got.Code != 0 || got.Stderr != "" {
				t.Errorf("%s: example %q = %+v", c.CommandPath(), line, got)
			}
		}
	}
	if n == 0 {
		t.Fatal("no examples")
	}
}

// TestJSONDocumented checks that every command that prints documents its
// -o json output in its help.
func TestJSONDocumented(t *testing.T) {
	for _, c := range walkCommands() {
		if !c.Runnable() || c.HasSubCommands() || c.Parent() != nil && c.Parent().Name() == "completion" {
			continue
		}
		if !strings.Contains(c.Long, "\n  json:  ") {
			t.Errorf("%s: the help does not document -o json", c.CommandPath())
		}
	}
}
