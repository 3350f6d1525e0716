//go:build linux

package nlclient

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// traceReply is a NFLAB_A_TRACE as TRACE_NEW and TRACE_GET send it, with
// PAD before a u64 (a 32-bit kernel) and an attribute from a newer module.
const traceReply = `
8400 1380                               # NFLAB_A_TRACE|NLA_F_NESTED
  0800 0200 03000000                    # ID 3
  0800 0300 0a000100                    # SRC 10.0.1.0
  0500 0400 18 000000                   # SRC_PREFIX 24
  0800 0500 0a000202                    # DST 10.0.2.2, no prefix length: /32
  0500 0900 06 000000                   # PROTO tcp
  0600 0b00 0016 0000                   # DPORT 22 (be16)
  0900 0d00 6574683000 000000           # IFNAME "eth0"
  0800 0e00 64000000                    # BUDGET 100
  0800 0f00 3c000000                    # TIMEOUT 60 s
  0800 1000 62000000                    # LEFT 98
  0800 1100 6ce80000                    # EXPIRES 59500 ms
  0400 0100                             # PAD
  0c00 1200 0500000000000000            # EVENTS 5
  0c00 1300 0100000000000000            # LOST 1
  0800 6300 2a000000                    # unknown attribute 99
`

var wantTrace = nftypes.Trace{
	ID: 3,
	Selector: nftypes.TraceSelector{
		Src: netip.MustParsePrefix("10.0.1.0/24"), Dst: netip.MustParsePrefix("10.0.2.2/32"),
		Proto: nftypes.TCP, DstPort: 22, Iface: "eth0",
	},
	Budget: 100, Left: 98, Timeout: time.Minute, Remaining: 59500 * time.Millisecond, Events: 5, Lost: 1,
}

func traceCountReply(n string) string { return "0800 1400 " + n + " # NFLAB_A_TRACE_COUNT" }

// TestTraceRequests checks every trace request byte for byte.
func TestTraceRequests(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		cmd  uint8
		resp string
		want string // the whole netlink message, sequence and PID zeroed
	}{
		{
			name: "new with everything",
			call: func(c *Client) error {
				_, err := c.AddTrace(ctx, nftypes.TraceSpec{
					Selector: nftypes.TraceSelector{
						Src: netip.MustParsePrefix("10.0.1.0/24"), Dst: netip.MustParsePrefix("10.0.2.2/32"),
						Host: netip.MustParsePrefix("10.0.0.0/8"), Proto: nftypes.TCP,
						SrcPort: 40000, DstPort: 22, Port: 9, Iface: "eth0",
					},
					Budget: 5, Timeout: 30 * time.Second,
				})
				return err
			},
			cmd:  nlproto.CMD_TRACE_NEW,
			resp: traceReply,
			want: `
84000000 1c00 0100 00000000 00000000    # len 132, NLM_F_REQUEST
20 01 0000                              # NFLAB_CMD_TRACE_NEW
7000 1380                               # NFLAB_A_TRACE|NLA_F_NESTED
  0800 0300 0a000100                    # SRC 10.0.1.0 (be32)
  0500 0400 18 000000                   # SRC_PREFIX 24
  0800 0500 0a000202                    # DST 10.0.2.2
  0500 0600 20 000000                   # DST_PREFIX 32
  0800 0700 0a000000                    # HOST 10.0.0.0
  0500 0800 08 000000                   # HOST_PREFIX 8
  0500 0900 06 000000                   # PROTO 6
  0600 0a00 9c40 0000                   # SPORT 40000 (be16)
  0600 0b00 0016 0000                   # DPORT 22
  0600 0c00 0009 0000                   # PORT 9
  0900 0d00 6574683000 000000           # IFNAME "eth0"
  0800 0e00 05000000                    # BUDGET 5
  0800 0f00 1e000000                    # TIMEOUT 30 s
`,
		},
		{
			name: "new with the module's defaults",
			call: func(c *Client) error { _, err := c.AddTrace(ctx, nftypes.TraceSpec{}); return err },
			cmd:  nlproto.CMD_TRACE_NEW,
			resp: traceReply,
			want: `
18000000 1c00 0100 00000000 00000000
20 01 0000
0400 1380                               # NFLAB_A_TRACE, empty: every packet
`,
		},
		{
			name: "delete one",
			call: func(c *Client) error { return c.DeleteTrace(ctx, 7) },
			cmd:  nlproto.CMD_TRACE_DEL,
			resp: traceCountReply("01000000"),
			want: `
20000000 1c00 0100 00000000 00000000    # NLM_F_REQUEST: the reply carries the count
21 01 0000                              # NFLAB_CMD_TRACE_DEL
0c00 1380                               # NFLAB_A_TRACE
  0800 0200 07000000                    # ID 7, alone
`,
		},
		{
			name: "delete all",
			call: func(c *Client) error { _, err := c.DeleteTraces(ctx); return err },
			cmd:  nlproto.CMD_TRACE_DEL,
			resp: traceCountReply("03000000"),
			want: `
14000000 1c00 0100 00000000 00000000
21 01 0000                              # no attribute: every trace
`,
		},
		{
			name: "dump",
			call: func(c *Client) error { _, err := c.Traces(ctx); return err },
			cmd:  nlproto.CMD_TRACE_GET,
			resp: traceReply,
			want: `
14000000 1c00 0103 00000000 00000000    # NLM_F_REQUEST|NLM_F_DUMP
22 01 0000                              # NFLAB_CMD_TRACE_GET
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRequest(t, tt.call, func(genetlink.Message) ([]genetlink.Message, error) {
				return reply(tt.cmd, golden(t, tt.resp)), nil
			}, tt.want)
		})
	}
}

func TestTraceReplies(t *testing.T) {
	c := testClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		switch greq.Header.Command {
		case nlproto.CMD_TRACE_DEL:
			return reply(greq.Header.Command, golden(t, traceCountReply("02000000"))), nil
		}
		return reply(greq.Header.Command, golden(t, traceReply)), nil
	})
	got, err := c.AddTrace(ctx, nftypes.TraceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTrace, got, netipOpts); diff != "" {
		t.Errorf("AddTrace (-want +got):\n%s", diff)
	}
	all, err := c.Traces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]nftypes.Trace{wantTrace}, all, netipOpts); diff != "" {
		t.Errorf("Traces (-want +got):\n%s", diff)
	}
	if n, err := c.DeleteTraces(ctx); err != nil || n != 2 {
		t.Errorf("DeleteTraces = %d, %v", n, err)
	}
	// One trace deleted must be one trace ended.
	if err := c.DeleteTrace(ctx, 3); err == nil || err.Error() != "nflab: delete trace: malformed reply: 2 traces ended, want 1" {
		t.Errorf("DeleteTrace ending 2 = %v", err)
	}
}

func TestTraceErrors(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	err := c.DeleteTrace(ctx, 9)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != "nflab: delete trace: no such entry" {
		t.Errorf("DeleteTrace of no trace = %v, want ENOENT", err)
	}
	c = testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOSPC))
	})
	if _, err := c.AddTrace(ctx, nftypes.TraceSpec{}); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("AddTrace beyond the limit = %v, want ENOSPC", err)
	}
}

func TestMalformedTraceReplies(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"no trace", "0800 6300 2a000000", "missing attribute NFLAB_A_TRACE"},
		{"missing LEFT", `
2400 1380
  0800 0200 03000000 # ID
  0800 0e00 64000000 # BUDGET
  0800 0f00 3c000000 # TIMEOUT
  0800 1100 6ce80000 # EXPIRES
`, "in NFLAB_A_TRACE: missing attribute NFLAB_TRACE_A_LEFT"},
		{"ID as a u8", `
0c00 1380
  0500 0200 03 000000
`, "netlink: attribute 2 is not a uint32; length: 1"},
		{"EVENTS as a u32", `
0c00 1380
  0800 1200 05000000
`, "netlink: attribute 18 is not a uint64; length: 4"},
		{"a 3-byte address", `
0c00 1380
  0700 0300 0a0001 00
`, "attribute 3 is not an IPv4 address; length: 3"},
		{"a 4-byte port", `
0c00 1380
  0800 0a00 00009c40
`, "attribute 10 is not a be16; length: 4"},
		{"a prefix length without its address", `
4c00 1380
  0800 0200 03000000
  0500 0400 18 000000 # SRC_PREFIX, no SRC
  0800 0e00 64000000
  0800 0f00 3c000000
  0800 1000 62000000
  0800 1100 6ce80000
  0c00 1200 0500000000000000
  0c00 1300 0100000000000000
`, "in NFLAB_A_TRACE 3: source prefix length without an address"},
		{"a prefix length of 33", `
5400 1380
  0800 0200 03000000
  0800 0700 0a000000 # HOST
  0500 0800 21 000000 # HOST_PREFIX 33
  0800 0e00 64000000
  0800 0f00 3c000000
  0800 1000 62000000
  0800 1100 6ce80000
  0c00 1200 0500000000000000
  0c00 1300 0100000000000000
`, "in NFLAB_A_TRACE 3: host prefix length 33 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := golden(t, tt.data)
			c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return reply(nlproto.CMD_TRACE_NEW, data), nil
			})
			_, err := c.AddTrace(ctx, nftypes.TraceSpec{})
			if want := "nflab: add trace: malformed reply: " + tt.want; err == nil || err.Error() != want {
				t.Errorf("error = %v\nwant %s", err, want)
			}
		})
	}
}

// The trace events, each a generic netlink header and its
// NFLAB_A_TRACE_EVENT.
const (
	// A SYN dropped at FORWARD by a rule, with a policy's decision too,
	// and attributes from a newer module in the event and in a rule.
	traceEvDrop = `
23 01 0000                              # NFLAB_CMD_TRACE_EVENT, version 1
4801 1580                               # NFLAB_A_TRACE_EVENT|NLA_F_NESTED
  0800 0200 03000000                    # TRACE 3
  0c00 0300 0700000000000000            # SEQ 7
  0c00 0400 2a00000000000000            # PACKET 42
  0500 0500 01 000000                   # KIND HOOK
  0800 0600 02000000                    # HOOK FORWARD
  0c00 0700 0540426ae518ed18            # TIME 2026-12-01T10:00:00.000000005Z
  0800 0800 02000000                    # IIF 2
  0800 0900 03000000                    # OIF 3
  0900 0a00 6574683000 000000           # IIFNAME "eth0"
  0900 0b00 6574683100 000000           # OIFNAME "eth1"
  0800 0c00 3c000000                    # LEN 60
  2c00 0d80                             # TUPLE|NLA_F_NESTED
    0800 0100 0a000102                  # SRC 10.0.1.2
    0800 0200 0a000202                  # DST 10.0.2.2
    0500 0300 06 000000                 # PROTO 6
    0600 0400 9c40 0000                 # SPORT 40000 (be16)
    0600 0500 0016 0000                 # DPORT 22
  0500 0f00 02 000000                   # TCP_FLAGS SYN
  0800 1200 11000000                    # CT_ID 17
  0500 1300 00 000000                   # CT_DIR original
  0500 1400 01 000000                   # TCP_STATE_OLD SYN_SENT
  0500 1500 01 000000                   # TCP_STATE SYN_SENT
  0800 1600 00000000                    # CT_STATUS none
  4400 1780                             # RULE|NLA_F_NESTED
    0500 0300 03 000000                 # TABLE filter
    0c00 0400 666f727761726400          # CHAIN "forward"
    0c00 0200 0700000000000000          # HANDLE 7
    0d00 0700 64726f702073736800 000000 # COMMENT "drop ssh"
    0500 0d00 02 000000                 # VERDICT drop
    0800 6300 2a000000                  # unknown attribute 99
  2000 1780                             # RULE: the policy
    0500 0300 03 000000                 # TABLE filter
    0c00 0400 666f727761726400          # CHAIN "forward"
    0500 0d00 02 000000                 # VERDICT drop; no HANDLE: the policy
  0500 1800 02 000000                   # VERDICT DROP
  0500 1900 01 000000                   # DROP_BY RULE
  0800 6300 2a000000                    # unknown attribute 99
`
	// An echo request DNATed at PRE_ROUTING: TUPLE_OUT.
	traceEvNAT = `
23 01 0000
d400 1580                               # NFLAB_A_TRACE_EVENT
  0800 0200 03000000                    # TRACE 3
  0c00 0300 0100000000000000            # SEQ 1
  0c00 0400 2b00000000000000            # PACKET 43
  0500 0500 01 000000                   # KIND HOOK
  0800 0600 00000000                    # HOOK PRE_ROUTING
  0c00 0700 0540426ae518ed18            # TIME
  0800 0800 02000000                    # IIF 2
  0900 0a00 6574683000 000000           # IIFNAME "eth0"
  0800 0c00 54000000                    # LEN 84
  2c00 0d80                             # TUPLE: an echo request
    0800 0100 0a000102                  # SRC 10.0.1.2
    0800 0200 0a000201                  # DST 10.0.2.1
    0500 0300 01 000000                 # PROTO 1
    0600 0600 0007 0000                 # ICMP_ID 7
    0500 0700 08 000000                 # ICMP_TYPE 8
  2c00 0e80                             # TUPLE_OUT: DNAT
    0800 0100 0a000102                  # SRC 10.0.1.2
    0800 0200 0a000302                  # DST 10.0.3.2
    0500 0300 01 000000                 # PROTO 1
    0600 0600 0007 0000                 # ICMP_ID 7
    0500 0700 08 000000                 # ICMP_TYPE 8
  0500 1000 02 000000                   # CT NEW
  0800 1200 12000000                    # CT_ID 18
  0800 1600 20000000                    # CT_STATUS DST_NAT
  0500 1800 01 000000                   # VERDICT ACCEPT
`
	traceEvGone = `
23 01 0000
5800 1580                               # NFLAB_A_TRACE_EVENT
  0800 0200 03000000                    # TRACE 3
  0c00 0300 0800000000000000            # SEQ 8
  0c00 0400 2a00000000000000            # PACKET 42
  0500 0500 02 000000                   # KIND GONE
  0800 0600 01000000                    # HOOK LOCAL_IN
  0c00 0700 0540426ae518ed18            # TIME
  0500 1900 06 000000                   # DROP_BY AFTER
  0e00 1a00 4e4f5f534f434b455400 0000   # DROP_REASON "NO_SOCKET"
`
	traceEvEnd = `
23 01 0000
3000 1580                               # NFLAB_A_TRACE_EVENT
  0800 0200 03000000                    # TRACE 3
  0400 0100                             # PAD
  0c00 0300 0900000000000000            # SEQ 9
  0500 0500 03 000000                   # KIND END: no packet
  0c00 0700 0540426ae518ed18            # TIME
`
	// An ICMP error: its tuple has a type and no id.
	traceEvICMPError = `
23 01 0000
7400 1580                               # NFLAB_A_TRACE_EVENT
  0800 0200 03000000                    # TRACE 3
  0c00 0300 0a00000000000000            # SEQ 10
  0c00 0400 2c00000000000000            # PACKET 44
  0500 0500 01 000000                   # KIND HOOK
  0800 0600 00000000                    # HOOK PRE_ROUTING
  0c00 0700 0540426ae518ed18            # TIME
  2400 0d80                             # TUPLE: an ICMP error has no id
    0800 0100 0a000202                  # SRC 10.0.2.2
    0800 0200 0a000102                  # DST 10.0.1.2
    0500 0300 01 000000                 # PROTO 1
    0500 0700 03 000000                 # ICMP_TYPE 3
  0500 1000 04 000000                   # CT RELATED
  0500 1800 01 000000                   # VERDICT ACCEPT
`
	// A kind from a newer module: only what every event has.
	traceEvNewKind = `
23 01 0000
2c00 1580
  0800 0200 03000000                    # TRACE 3
  0c00 0300 0b00000000000000            # SEQ 11
  0500 0500 09 000000                   # KIND 9
  0c00 0700 0540426ae518ed18            # TIME
`
	// A notification of the family this client does not know.
	traceEvOtherCmd = "63 01 0000 # command 99\n0800 6300 2a000000"
)

var (
	evTime = time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC)

	wantEvDrop = nftypes.TraceEvent{
		Trace: 3, Seq: 7, Packet: 42, Kind: nftypes.TraceHook, Hook: nftypes.Forward, Time: evTime,
		InIface: "eth0", OutIface: "eth1", InIndex: 2, OutIndex: 3, Len: 60,
		Tuple:    nftypes.Tuple{Src: addr1, Dst: addr2, Proto: nftypes.TCP, SrcPort: 40000, DstPort: 22},
		TCPFlags: nftypes.TCPSyn, CTID: 17, Dir: nftypes.DirOriginal,
		TCPStateOld: nftypes.TCPSynSent, TCPState: nftypes.TCPSynSent,
		Rules: []nftypes.TraceRule{
			{Table: nftypes.TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: nftypes.TraceDrop},
			{Table: nftypes.TableFilter, Chain: "forward", Verdict: nftypes.TraceDrop},
		},
		Verdict: nftypes.TraceDrop, DropBy: nftypes.TraceByRule,
	}
	wantEvNAT = nftypes.TraceEvent{
		Trace: 3, Seq: 1, Packet: 43, Kind: nftypes.TraceHook, Hook: nftypes.PreRouting, Time: evTime,
		InIface: "eth0", InIndex: 2, Len: 84,
		Tuple:    nftypes.Tuple{Src: addr1, Dst: netip.MustParseAddr("10.0.2.1"), Proto: nftypes.ICMP, ICMPID: 7, ICMPType: 8},
		TupleOut: &nftypes.Tuple{Src: addr1, Dst: netip.MustParseAddr("10.0.3.2"), Proto: nftypes.ICMP, ICMPID: 7, ICMPType: 8},
		CT:       nftypes.TraceCTNew, CTID: 18, CTStatus: nftypes.StatusDstNAT, Verdict: nftypes.TraceAccept,
	}
	wantEvGone = nftypes.TraceEvent{
		Trace: 3, Seq: 8, Packet: 42, Kind: nftypes.TraceGone, Hook: nftypes.LocalIn, Time: evTime,
		DropBy: nftypes.TraceByAfter, DropReason: "NO_SOCKET",
	}
	wantEvEnd       = nftypes.TraceEvent{Trace: 3, Seq: 9, Kind: nftypes.TraceEnd, Time: evTime}
	wantEvICMPError = nftypes.TraceEvent{
		Trace: 3, Seq: 10, Packet: 44, Kind: nftypes.TraceHook, Hook: nftypes.PreRouting, Time: evTime,
		Tuple: nftypes.Tuple{Src: addr2, Dst: addr1, Proto: nftypes.ICMP, ICMPType: 3},
		CT:    nftypes.TraceCTRelated, Verdict: nftypes.TraceAccept,
	}
	wantEvNewKind = nftypes.TraceEvent{Trace: 3, Seq: 11, Kind: 9, Time: evTime}
)

// traceGroupID is the id the fake controller gives the "trace" group.
const traceGroupID = 0x22

// traceFamily has both groups, as a module of protocol 6 registers them.
var traceFamily = genetlink.Family{
	ID: testFamily.ID, Version: testFamily.Version, Name: testFamily.Name,
	Groups: []genetlink.MulticastGroup{{ID: ctGroupID, Name: nlproto.MCGRP_CT}, {ID: traceGroupID, Name: nlproto.MCGRP_TRACE}},
}

// traceWatchClient is a request client whose family has the "trace"
// group; lookup answers its family lookups after the first, when set.
func traceWatchClient(t *testing.T, lookup genltest.Func) *Client {
	t.Helper()
	serve := genltest.ServeFamily(traceFamily, nil)
	lookups := 0
	c, err := initClient(genltest.Dial(func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if lookups++; lookups > 1 && lookup != nil {
			return lookup(greq, nreq)
		}
		return serve(greq, nreq)
	}))
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestWatchTraces(t *testing.T) {
	c := traceWatchClient(t, nil)
	n := func(genl string) netlink.Message { return notification(t, testFamily.ID, genl) }
	sock := newEventSocket(t,
		datagram{msgs: []netlink.Message{n(traceEvNAT)}},
		datagram{msgs: []netlink.Message{
			n(traceEvDrop),
			n(traceEvOtherCmd),
			notification(t, 0x1d, traceEvDrop), // another family's
			delFamily(t, "1d00"),               // not ours
			n(traceEvGone),
		}},
		datagram{err: unix.ENOBUFS},
		datagram{msgs: []netlink.Message{n(traceEvICMPError), n(traceEvNewKind), n(traceEvEnd)}},
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		got       []nftypes.TraceReport
		listening []uint32 // the groups joined when listening ran
	)
	conn := genetlink.NewConn(netlink.NewConn(sock, 1))
	err := c.watchTraces(ctx, conn, 8192, func() error {
		listening = append(listening, sock.joined...)
		return nil
	}, func(r nftypes.TraceReport) error {
		if got = append(got, r); len(got) == 7 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("watchTraces = %v, want nil once the context is done", err)
	}
	want := []nftypes.TraceReport{
		{Event: wantEvNAT}, {Event: wantEvDrop}, {Event: wantEvGone},
		{Lost: &nftypes.TraceLoss{}},
		{Event: wantEvICMPError}, {Event: wantEvNewKind}, {Event: wantEvEnd},
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint32{unix.GENL_ID_CTRL, traceGroupID}, listening); diff != "" {
		t.Errorf("groups joined before listening ran (-want +got):\n%s", diff)
	}
	if sock.rcvbuf != 8192 {
		t.Errorf("receive buffer %d, want 8192", sock.rcvbuf)
	}
}

func TestWatchTracesErrors(t *testing.T) {
	noTrace := eventFamily // "ct" only: a module of protocol 5
	stop := errors.New("stop")
	tests := []struct {
		name      string
		lookup    genltest.Func
		joinErr   map[uint32]error
		listening func() error
		recv      []datagram
		check     func(error) bool
		want      string
	}{
		{
			name:    "no CAP_NET_ADMIN",
			joinErr: map[uint32]error{traceGroupID: unix.EPERM},
			check:   func(err error) bool { return errors.Is(err, os.ErrPermission) },
			want:    "nflab: join multicast group nflab/trace: operation not permitted",
		},
		{
			name: "module without traces",
			lookup: func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
				return genltest.ServeFamily(noTrace, nil)(greq, nreq)
			},
			want: `nflab: watch traces: the module has no "trace" multicast group; it predates packet traces (protocol 6)`,
		},
		{
			name:      "listening fails",
			listening: func() error { return stop },
			check:     func(err error) bool { return err == stop },
		},
		{
			name: "malformed event",
			recv: []datagram{{msgs: []netlink.Message{notification(t, testFamily.ID, "23 01 0000\n0800 6300 2a000000")}}},
			want: "nflab: receive trace event: malformed reply: command 35: missing attribute NFLAB_A_TRACE_EVENT",
		},
		{
			name:  "module unloaded while watching",
			recv:  []datagram{{msgs: []netlink.Message{delFamily(t, "1c00")}}},
			check: func(err error) bool { return err == ErrNotLoaded },
		},
		{
			name:  "receive fails",
			recv:  []datagram{{err: unix.EBADF}},
			check: func(err error) bool { return errors.Is(err, unix.EBADF) },
			want:  "nflab: receive trace events: bad file descriptor",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := traceWatchClient(t, tt.lookup)
			sock := newEventSocket(t, tt.recv...)
			sock.joinErr = tt.joinErr
			err := c.watchTraces(t.Context(), genetlink.NewConn(netlink.NewConn(sock, 1)), 4096, tt.listening, func(r nftypes.TraceReport) error {
				t.Errorf("unexpected report %+v", r)
				return nil
			})
			if err == nil {
				t.Fatal("watchTraces succeeded")
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("watchTraces = %#v, wrong kind", err)
			}
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("watchTraces = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestParseTraceEvent(t *testing.T) {
	for _, tt := range []struct {
		genl string
		want nftypes.TraceEvent
	}{
		{traceEvDrop, wantEvDrop},
		{traceEvNAT, wantEvNAT},
		{traceEvGone, wantEvGone},
		{traceEvEnd, wantEvEnd},
		{traceEvICMPError, wantEvICMPError},
		{traceEvNewKind, wantEvNewKind},
	} {
		b := golden(t, tt.genl)
		got, err := parseTraceEventMsg(b[4:])
		if err != nil {
			t.Errorf("%s: %v", strings.TrimSpace(tt.genl)[:40], err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, netipOpts); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
}

func TestMalformedTraceEvents(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"a hook event without its tuple", `
4000 1580
  0800 0200 03000000
  0c00 0300 0100000000000000 # SEQ
  0c00 0400 2a00000000000000 # PACKET
  0500 0500 01 000000        # KIND HOOK
  0800 0600 00000000         # HOOK
  0c00 0700 0540426ae518ed18 # TIME
`, "in NFLAB_A_TRACE_EVENT (hook): missing attribute NFLAB_TRACE_EV_A_TUPLE"},
		{"a gone event without DROP_BY", `
4000 1580
  0800 0200 03000000
  0c00 0300 0100000000000000
  0c00 0400 2a00000000000000
  0500 0500 02 000000        # KIND GONE
  0800 0600 00000000
  0c00 0700 0540426ae518ed18
`, "in NFLAB_A_TRACE_EVENT (gone): missing attribute NFLAB_TRACE_EV_A_DROP_BY"},
		{"an end event without SEQ", `
2000 1580
  0800 0200 03000000
  0500 0500 03 000000
  0c00 0700 0540426ae518ed18
`, "in NFLAB_A_TRACE_EVENT (end): missing attribute NFLAB_TRACE_EV_A_SEQ"},
		{"SEQ as a u32", `
0c00 1580
  0800 0300 01000000
`, "netlink: attribute 3 is not a uint64; length: 4"},
		{"KIND as a u32", `
0c00 1580
  0800 0500 01000000
`, "netlink: attribute 5 is not a uint8; length: 4"},
		{"TIME past 2262", `
1000 1580
  0c00 0700 ffffffffffffffff
`, "NFLAB_TRACE_EV_A_TIME 18446744073709551615 is past the year 2262"},
		{"a tuple without its protocol", `
1800 1580
  1400 0d80
    0800 0100 0a000102
    0800 0200 0a000202
`, "in NFLAB_TRACE_EV_A_TUPLE: missing attribute NFLAB_TUPLE_A_PROTO"},
		{"a rule without its verdict", `
1c00 1580
  1800 1780
    0500 0300 03 000000
    0c00 0400 666f727761726400
`, "in NFLAB_TRACE_EV_A_RULE 1: missing attribute NFLAB_RULE_A_VERDICT"},
		{"a rule with handle 0", `
3000 1580
  2c00 1780
    0500 0300 03 000000
    0c00 0400 666f727761726400
    0c00 0200 0000000000000000
    0500 0d00 02 000000
`, "in NFLAB_TRACE_EV_A_RULE 1: NFLAB_RULE_A_HANDLE 0"},
		{"no event", "0800 6300 2a000000", "missing attribute NFLAB_A_TRACE_EVENT"},
	}
	for _, tt := range tests {
		_, err := parseTraceEventMsg(golden(t, tt.data))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error = %v\nwant %s", tt.name, err, tt.want)
		}
	}
}

// hookStatsDrops is a GET_HOOK_STATS reply of protocol 6, two hooks:
// PRE_ROUTING with every counter, LOCAL_IN without UNSEEN_AFTER.
const hookStatsDrops = `
b800 0480                     # NFLAB_A_HOOKS
  6000 0580                   # NFLAB_A_HOOK
    0800 0200 00000000        # HOOKNUM 0 (PRE_ROUTING)
    0c00 0300 0a00000000000000 # PACKETS 10
    0c00 0400 0004000000000000 # BYTES 1024
    0c00 0500 0300000000000000 # DROP_RULE 3
    0c00 0600 0100000000000000 # DROP_INVALID 1
    0c00 0700 0000000000000000 # DROP_FULL 0
    0c00 0800 0200000000000000 # DROP_NAT 2
    0c00 0900 0500000000000000 # UNSEEN_AFTER 5
  5400 0580
    0800 0200 01000000        # LOCAL_IN
    0c00 0300 0100000000000000
    0c00 0400 5400000000000000
    0c00 0500 0100000000000000 # DROP_RULE 1
    0c00 0600 0000000000000000
    0c00 0700 0000000000000000
    0c00 0800 0000000000000000
`

func TestHookStatsDrops(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, hookStatsDrops)), nil
	})
	got, err := c.HookStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []nftypes.HookStat{
		{Hook: nftypes.PreRouting, Packets: 10, Bytes: 1024, Drops: &nftypes.HookDrops{Rule: 3, Invalid: 1, NAT: 2, UnseenAfter: 5}},
		{Hook: nftypes.LocalIn, Packets: 1, Bytes: 84, Drops: &nftypes.HookDrops{Rule: 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HookStats (-want +got):\n%s", diff)
	}

	// An older module's counters have no drops; a module that sends some
	// must send all four.
	c = testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, hookStatsReply)), nil
	})
	if got, err := c.HookStats(ctx); err != nil || got[0].Drops != nil {
		t.Errorf("HookStats of protocol 5 = %+v, %v; want no Drops", got, err)
	}
	c = testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, `
3400 0480
  3000 0580
    0800 0200 02000000
    0c00 0300 0100000000000000
    0c00 0400 5400000000000000
    0c00 0900 0100000000000000 # UNSEEN_AFTER alone
`)), nil
	})
	_, err = c.HookStats(ctx)
	if want := "nflab: get hook stats: malformed reply: in NFLAB_A_HOOK 2: missing attribute NFLAB_HOOK_A_DROP_RULE"; err == nil || err.Error() != want {
		t.Errorf("HookStats with UNSEEN_AFTER alone = %v, want %q", err, want)
	}
	c = testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, `
2400 0480
  2000 0580
    0800 0200 02000000
    0c00 0300 0100000000000000
    0800 0500 01000000         # DROP_RULE as a u32
`)), nil
	})
	_, err = c.HookStats(ctx)
	if want := "nflab: get hook stats: malformed reply: netlink: attribute 5 is not a uint64; length: 4"; err == nil || err.Error() != want {
		t.Errorf("HookStats with a short DROP_RULE = %v, want %q", err, want)
	}
}
