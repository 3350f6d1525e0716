//go:build linux

package nlclient

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// netipOpts compares netip values, whose fields cmp cannot see, with ==.
var netipOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

var (
	addr1 = netip.MustParseAddr("10.0.1.2")
	addr2 = netip.MustParseAddr("10.0.2.2")

	tcpTuple  = nftypes.Tuple{Src: addr1, Dst: addr2, Proto: unix.IPPROTO_TCP, SrcPort: 40000, DstPort: 80}
	icmpTuple = nftypes.Tuple{Src: addr1, Dst: addr2, Proto: unix.IPPROTO_ICMP, ICMPID: 0x1234, ICMPType: 8}
)

// tcpEntry is a TCP NFLAB_A_CT as a 32-bit kernel sends it, with
// NFLAB_CT_A_PAD before some u64s, and an attribute from a newer module.
const tcpEntry = `
cc00 0680                          # NFLAB_A_CT|NLA_F_NESTED
  0800 0200 07000000               # ID 7
  2c00 0380                        # ORIG
    0800 0100 0a000102             # SRC 10.0.1.2
    0800 0200 0a000202             # DST 10.0.2.2
    0500 0300 06 000000            # PROTO tcp
    0600 0400 9c40 0000            # SPORT 40000 (be16)
    0600 0500 0050 0000            # DPORT 80
  2c00 0480                        # REPLY
    0800 0100 0a000202
    0800 0200 0a000102
    0500 0300 06 000000
    0600 0400 0050 0000
    0600 0500 9c40 0000
  0800 0500 07000000               # STATUS SEEN_REPLY|ASSURED|CONFIRMED
  0500 0600 03 000000              # TCP_STATE ESTABLISHED
  0800 0700 7f970600               # TIMEOUT 431999
  0400 0100                        # PAD
  0c00 0800 0300000000000000       # PACKETS_ORIG 3
  0400 0100                        # PAD
  0c00 0900 b400000000000000       # BYTES_ORIG 180
  0c00 0a00 0200000000000000       # PACKETS_REPLY 2
  0400 0100                        # PAD
  0c00 0b00 7800000000000000       # BYTES_REPLY 120
  0c00 0c00 15edb2216e65eb18       # START 2026-11-25T21:00:00.123456789Z
  0800 6300 2a000000               # unknown attribute 99
`

var wantTCPConn = nftypes.Conn{
	ID:          7,
	Orig:        tcpTuple,
	Reply:       nftypes.Tuple{Src: addr2, Dst: addr1, Proto: unix.IPPROTO_TCP, SrcPort: 80, DstPort: 40000},
	Status:      7,
	TCPState:    3,
	Timeout:     431999 * time.Second,
	PacketsOrig: 3, BytesOrig: 180, PacketsReply: 2, BytesReply: 120,
	Start: time.Unix(0, 1795640400123456789).UTC(),
}

// tcpHistoryEntry is tcpEntry as a CT_GET do sends it while a trace runs
// (protocol 6): with NFLAB_CT_A_HISTORY, three changes oldest first (the
// first with a PAD as a 32-bit kernel's, the second with an attribute
// from a newer module), and an attribute from a newer module among them.
const tcpHistoryEntry = `
cc01 0680                          # NFLAB_A_CT|NLA_F_NESTED
  0800 0200 07000000               # ID 7
  2c00 0380                        # ORIG
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 06 000000
    0600 0400 9c40 0000
    0600 0500 0050 0000
  2c00 0480                        # REPLY
    0800 0100 0a000202
    0800 0200 0a000102
    0500 0300 06 000000
    0600 0400 0050 0000
    0600 0500 9c40 0000
  0800 0500 07000000               # STATUS SEEN_REPLY|ASSURED|CONFIRMED
  0500 0600 03 000000              # TCP_STATE ESTABLISHED
  0800 0700 7f970600               # TIMEOUT 431999
  0c00 0800 0300000000000000       # PACKETS_ORIG 3
  0c00 0900 b400000000000000       # BYTES_ORIG 180
  0c00 0a00 0200000000000000       # PACKETS_REPLY 2
  0c00 0b00 7800000000000000       # BYTES_REPLY 120
  0c00 0c00 15edb2216e65eb18       # START
  1401 0d80                        # HISTORY|NLA_F_NESTED
    5800 0280                      # ENTRY|NLA_F_NESTED: the SYN creates it
      0400 0100                    # PAD
      0c00 0300 c05408d3711fed18   # TIME 2026-12-01T12:00:00.123Z
      0c00 0400 2a00000000000000   # PACKET 42
      0800 0500 03000000           # TRACE 3
      0800 0600 00000000           # HOOK PRE_ROUTING
      0500 0700 00 000000          # DIR original
      0500 0800 00 000000          # TCP_STATE_OLD NONE
      0500 0900 01 000000          # TCP_STATE SYN_SENT
      0800 0a00 00000000           # STATUS_OLD none
      0800 0b00 00000000           # STATUS none
    5c00 0280                      # ENTRY: the SYN-ACK
      0c00 0300 009717d3711fed18   # TIME 2026-12-01T12:00:00.124Z
      0c00 0400 2b00000000000000   # PACKET 43
      0800 0500 03000000           # TRACE 3
      0800 0600 00000000           # HOOK PRE_ROUTING
      0500 0700 01 000000          # DIR reply
      0500 0800 01 000000          # TCP_STATE_OLD SYN_SENT
      0500 0900 02 000000          # TCP_STATE SYN_RECV
      0800 0a00 04000000           # STATUS_OLD CONFIRMED
      0800 0b00 05000000           # STATUS SEEN_REPLY|CONFIRMED
      0800 6300 2a000000           # unknown attribute 99
    5400 0280                      # ENTRY: the ACK
      0c00 0300 80329ada711fed18   # TIME 2026-12-01T12:00:00.250Z
      0c00 0400 2c00000000000000   # PACKET 44
      0800 0500 03000000           # TRACE 3
      0800 0600 00000000           # HOOK PRE_ROUTING
      0500 0700 00 000000          # DIR original
      0500 0800 02 000000          # TCP_STATE_OLD SYN_RECV
      0500 0900 03 000000          # TCP_STATE ESTABLISHED
      0800 0a00 05000000           # STATUS_OLD SEEN_REPLY|CONFIRMED
      0800 0b00 07000000           # STATUS SEEN_REPLY|ASSURED|CONFIRMED
    0800 6300 2a000000             # unknown attribute 99
`

// wantTCPHistory is tcpHistoryEntry's NFLAB_CT_A_HISTORY.
var wantTCPHistory = []nftypes.ConnChange{
	{Time: time.Unix(0, 1796126400123000000).UTC(), Packet: 42, Trace: 3, Hook: nftypes.PreRouting, Dir: nftypes.DirOriginal,
		TCPStateOld: nftypes.TCPNone, TCPState: nftypes.TCPSynSent},
	{Time: time.Unix(0, 1796126400124000000).UTC(), Packet: 43, Trace: 3, Hook: nftypes.PreRouting, Dir: nftypes.DirReply,
		TCPStateOld: nftypes.TCPSynSent, TCPState: nftypes.TCPSynRecv,
		StatusOld: nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusConfirmed},
	{Time: time.Unix(0, 1796126400250000000).UTC(), Packet: 44, Trace: 3, Hook: nftypes.PreRouting, Dir: nftypes.DirOriginal,
		TCPStateOld: nftypes.TCPSynRecv, TCPState: nftypes.TCPEstablished,
		StatusOld: nftypes.StatusSeenReply | nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed},
}

// udpHistoryEntry is a UDP NFLAB_A_CT with a history of one change, its
// creation at LOCAL_OUT: no TCP states.
const udpHistoryEntry = `
bc00 0680
  0800 0200 09000000               # ID 9
  2c00 0380                        # ORIG
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 11 000000            # udp
    0600 0400 1388 0000            # SPORT 5000
    0600 0500 0035 0000            # DPORT 53
  2c00 0480                        # REPLY
    0800 0100 0a000202
    0800 0200 0a000102
    0500 0300 11 000000
    0600 0400 0035 0000
    0600 0500 1388 0000
  0800 0500 04000000               # STATUS CONFIRMED
  0800 0700 1e000000               # TIMEOUT 30
  4800 0d80                        # HISTORY
    4400 0280                      # ENTRY
      0c00 0300 c05408d3711fed18   # TIME
      0c00 0400 0700000000000000   # PACKET 7
      0800 0500 01000000           # TRACE 1
      0800 0600 03000000           # HOOK LOCAL_OUT
      0500 0700 00 000000          # DIR original
      0800 0a00 00000000           # STATUS_OLD none
      0800 0b00 00000000           # STATUS none
`

// icmpEntry is an ICMP echo NFLAB_A_CT: no TCP_STATE, PAD first.
const icmpEntry = `
a800 0680
  0400 0100                        # PAD
  0800 0200 08000000               # ID 8
  2c00 0380                        # ORIG
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 01 000000            # PROTO icmp
    0600 0600 1234 0000            # ICMP_ID 0x1234 (be16)
    0500 0700 08 000000            # ICMP_TYPE 8 (echo request)
  2c00 0480                        # REPLY
    0800 0100 0a000202
    0800 0200 0a000102
    0500 0300 01 000000
    0600 0600 1234 0000
    0500 0700 00 000000            # ICMP_TYPE 0 (echo reply)
  0800 0500 04000000               # STATUS CONFIRMED
  0800 0700 1e000000               # TIMEOUT 30
  0c00 0800 0100000000000000       # PACKETS_ORIG 1
  0c00 0900 5400000000000000       # BYTES_ORIG 84
  0c00 0a00 0000000000000000
  0c00 0b00 0000000000000000
`

var wantICMPConn = nftypes.Conn{
	ID:          8,
	Orig:        icmpTuple,
	Reply:       nftypes.Tuple{Src: addr2, Dst: addr1, Proto: unix.IPPROTO_ICMP, ICMPID: 0x1234},
	Status:      4,
	Timeout:     30 * time.Second,
	PacketsOrig: 1, BytesOrig: 84,
}

const ctStatsReply = `
b000 0b80                          # NFLAB_A_CT_STATS|NLA_F_NESTED
  0c00 0200 0100000000000000       # FOUND 1
  0c00 0300 0200000000000000       # NEW 2
  0c00 0400 0300000000000000       # INVALID 3
  0400 0100                        # PAD
  0c00 0500 0400000000000000       # INSERT 4
  0c00 0600 0500000000000000       # INSERT_FAILED 5
  0c00 0700 0600000000000000       # CLASH 6
  0c00 0800 0700000000000000       # DROP 7
  0c00 0900 0800000000000000       # EARLY_DROP 8
  0c00 0a00 0900000000000000       # GC_EVICTED 9
  0c00 0b00 ffffffffffffffff       # SEARCH_RESTART max
  0c00 0c00 0b00000000000000       # RELATED 11
  0c00 0d00 0c00000000000000       # NAT_EXHAUSTED 12
  0c00 0e00 0d00000000000000       # NAT_CLASH 13
  0c00 0f00 0e00000000000000       # NAT_LOST 14
`

// ctStatsReplyV3 is CT_STATS from a module of protocol 3, before NAT: no
// NAT_EXHAUSTED, no NAT_CLASH.
const ctStatsReplyV3 = `
8c00 0b80                          # NFLAB_A_CT_STATS|NLA_F_NESTED
  0c00 0200 0100000000000000       # FOUND 1
  0c00 0300 0200000000000000       # NEW 2
  0c00 0400 0300000000000000       # INVALID 3
  0400 0100                        # PAD
  0c00 0500 0400000000000000       # INSERT 4
  0c00 0600 0500000000000000       # INSERT_FAILED 5
  0c00 0700 0600000000000000       # CLASH 6
  0c00 0800 0700000000000000       # DROP 7
  0c00 0900 0800000000000000       # EARLY_DROP 8
  0c00 0a00 0900000000000000       # GC_EVICTED 9
  0c00 0b00 ffffffffffffffff       # SEARCH_RESTART max
  0c00 0c00 0b00000000000000       # RELATED 11
`

const ctConfigReply = `
8000 0c80                          # NFLAB_A_CT_CONFIG|NLA_F_NESTED
  0800 0100 00000100               # LIMIT 65536
  0500 0200 00 000000              # TCP_LOOSE 0
  6c00 0380                        # TIMEOUTS
    0800 0100 78000000             # tcp_syn_sent 120
    0800 0200 3c000000             # tcp_syn_recv 60
    0800 0300 80970600             # tcp_established 432000
    0800 0400 78000000             # tcp_fin_wait 120
    0800 0500 3c000000             # tcp_close_wait 60
    0800 0600 1e000000             # tcp_last_ack 30
    0800 0700 78000000             # tcp_time_wait 120
    0800 0800 0a000000             # tcp_close 10
    0800 0900 1e000000             # udp_unreplied 30
    0800 0a00 78000000             # udp_assured 120
    0800 0b00 1e000000             # icmp 30
    0800 0c00 2c010000             # tcp_retrans 300
    0800 0d00 2c010000             # tcp_unack 300
`

func ptr[T any](v T) *T { return &v }

var wantCTConfig = nftypes.TrackerConfig{
	Limit:    ptr(uint32(65536)),
	TCPLoose: ptr(false),
	Timeouts: secs(map[nftypes.Timeout]int{1: 120, 2: 60, 3: 432000, 4: 120, 5: 60, 6: 30, 7: 120, 8: 10, 9: 30, 10: 120, 11: 30, 12: 300, 13: 300}),
}

func countReply(n string) string { return "0800 0900 " + n + " # NFLAB_A_CT_COUNT" }

// TestCTRequests checks every conntrack request byte for byte.
func TestCTRequests(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		resp string // the reply's attributes; "ack" for an ACK only
		want string // the whole netlink message, sequence and PID zeroed
	}{
		{
			name: "get by TCP tuple",
			call: func(c *Client) error { _, err := c.Conn(ctx, tcpTuple); return err },
			resp: tcpEntry,
			want: `
40000000 1c00 0100 00000000 00000000  # len 64, NLM_F_REQUEST
04 01 0000                            # NFLAB_CMD_CT_GET
2c00 0780                             # NFLAB_A_CT_TUPLE|NLA_F_NESTED
  0800 0100 0a000102                  # SRC 10.0.1.2 (be32)
  0800 0200 0a000202                  # DST 10.0.2.2
  0500 0300 06 000000                 # PROTO 6
  0600 0400 9c40 0000                 # SPORT 40000 (be16)
  0600 0500 0050 0000                 # DPORT 80
`,
		},
		{
			name: "delete by ICMP tuple",
			call: func(c *Client) error { return c.DeleteConn(ctx, icmpTuple) },
			resp: countReply("01000000"),
			want: `
40000000 1c00 0100 00000000 00000000  # NLM_F_REQUEST: the reply carries the count
05 01 0000                            # NFLAB_CMD_CT_DELETE
2c00 0780
  0800 0100 0a000102
  0800 0200 0a000202
  0500 0300 01 000000                 # PROTO 1, no ports
  0600 0600 1234 0000                 # ICMP_ID 0x1234 (be16)
  0500 0700 08 000000                 # ICMP_TYPE 8
`,
		},
		{
			name: "dump with filter",
			call: func(c *Client) error {
				_, err := c.Conns(ctx, nftypes.ConnFilter{
					Proto:    unix.IPPROTO_TCP,
					Src:      netip.MustParsePrefix("10.0.0.0/8"),
					Dst:      netip.MustParsePrefix("10.0.2.2/32"),
					DstPort:  80,
					TCPState: ptr(nftypes.TCPState(3)),
					Status:   2,
				})
				return err
			},
			resp: tcpEntry,
			want: `
58000000 1c00 0103 00000000 00000000  # len 88, NLM_F_REQUEST|NLM_F_DUMP
04 01 0000                            # NFLAB_CMD_CT_GET
4400 0880                             # NFLAB_A_CT_FILTER|NLA_F_NESTED
  0500 0100 06 000000                 # PROTO 6
  0800 0200 0a000000                  # SRC 10.0.0.0
  0500 0300 08 000000                 # SRC_PREFIX 8
  0800 0400 0a000202                  # DST 10.0.2.2
  0500 0500 20 000000                 # DST_PREFIX 32
  0600 0700 0050 0000                 # DPORT 80 (be16); no SPORT
  0500 0800 03 000000                 # TCP_STATE ESTABLISHED
  0800 0900 02000000                  # STATUS ASSURED
`,
		},
		{
			name: "dump everything",
			call: func(c *Client) error { _, err := c.Conns(ctx, nftypes.ConnFilter{}); return err },
			resp: tcpEntry,
			want: `
14000000 1c00 0103 00000000 00000000  # NLM_F_REQUEST|NLM_F_DUMP, no filter
04 01 0000
`,
		},
		{
			name: "delete by filter",
			call: func(c *Client) error {
				_, err := c.DeleteConns(ctx, nftypes.ConnFilter{Proto: unix.IPPROTO_UDP, SrcPort: 5000})
				return err
			},
			resp: countReply("02000000"),
			want: `
28000000 1c00 0100 00000000 00000000
05 01 0000                            # NFLAB_CMD_CT_DELETE
1400 0880                             # NFLAB_A_CT_FILTER
  0500 0100 11 000000                 # PROTO 17
  0600 0600 1388 0000                 # SPORT 5000
`,
		},
		{
			name: "flush all",
			call: func(c *Client) error { _, err := c.DeleteConns(ctx, nftypes.ConnFilter{}); return err },
			resp: countReply("05000000"),
			want: `
14000000 1c00 0100 00000000 00000000
06 01 0000                            # NFLAB_CMD_CT_FLUSH, no filter
`,
		},
		{
			name: "count",
			call: func(c *Client) error { _, _, err := c.ConnCount(ctx); return err },
			resp: countReply("03000000") + "\n0800 0a00 00000100",
			want: `
14000000 1c00 0100 00000000 00000000
07 01 0000                            # NFLAB_CMD_CT_COUNT
`,
		},
		{
			name: "stats",
			call: func(c *Client) error { _, err := c.TrackerStats(ctx); return err },
			resp: ctStatsReply,
			want: `
14000000 1c00 0100 00000000 00000000
08 01 0000                            # NFLAB_CMD_CT_STATS
`,
		},
		{
			name: "get config",
			call: func(c *Client) error { _, err := c.TrackerConfig(ctx); return err },
			resp: ctConfigReply,
			want: `
14000000 1c00 0100 00000000 00000000
09 01 0000                            # NFLAB_CMD_CT_GET_CONFIG
`,
		},
		{
			name: "set config",
			call: func(c *Client) error {
				return c.SetTrackerConfig(ctx, nftypes.TrackerConfig{
					Limit:    ptr(uint32(65536)),
					TCPLoose: ptr(true),
					Timeouts: secs(map[nftypes.Timeout]int{nlproto.CT_TIMEOUT_A_ICMP: 30, nlproto.CT_TIMEOUT_A_TCP_ESTABLISHED: 432000}),
				})
			},
			resp: "ack",
			want: `
3c000000 1c00 0500 00000000 00000000  # len 60, NLM_F_REQUEST|NLM_F_ACK
0a 01 0000                            # NFLAB_CMD_CT_SET_CONFIG
2800 0c80                             # NFLAB_A_CT_CONFIG|NLA_F_NESTED
  0800 0100 00000100                  # LIMIT 65536
  0500 0200 01 000000                 # TCP_LOOSE 1
  1400 0380                           # TIMEOUTS|NLA_F_NESTED, in attribute order
    0800 0300 80970600                # tcp_established 432000
    0800 0b00 1e000000                # icmp 30
`,
		},
		{
			name: "set config, limit only",
			call: func(c *Client) error { return c.SetTrackerConfig(ctx, nftypes.TrackerConfig{Limit: ptr(uint32(1))}) },
			resp: "ack",
			want: `
20000000 1c00 0500 00000000 00000000
0a 01 0000
0c00 0c80
  0800 0100 01000000                  # LIMIT 1, nothing else
`,
		},
		{
			name: "gc",
			call: func(c *Client) error { _, err := c.RunGC(ctx); return err },
			resp: countReply("00000000"),
			want: `
14000000 1c00 0100 00000000 00000000
0b 01 0000                            # NFLAB_CMD_CT_GC
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRequest(t, tt.call, func(greq genetlink.Message) ([]genetlink.Message, error) {
				if tt.resp == "ack" {
					return nil, io.EOF
				}
				return reply(greq.Header.Command, golden(t, tt.resp)), nil
			}, tt.want)
		})
	}
}

// serveCT answers every conntrack command with the attributes in data.
func serveCT(t *testing.T, data string) *Client {
	t.Helper()
	b := golden(t, data)
	return testClient(t, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		return reply(greq.Header.Command, b), nil
	})
}

func TestCTReplies(t *testing.T) {
	c := serveCT(t, tcpEntry)
	got, err := c.Conn(ctx, tcpTuple)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantTCPConn, got, netipOpts); diff != "" {
		t.Fatalf("TCP entry (-want +got):\n%s", diff)
	}

	c = serveCT(t, icmpEntry)
	got, err = c.Conn(ctx, icmpTuple)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantICMPConn, got, netipOpts); diff != "" {
		t.Fatalf("ICMP entry (-want +got):\n%s", diff)
	}

	// A do while a trace runs: the entry and its history.
	c = serveCT(t, tcpHistoryEntry)
	if got, err = c.Conn(ctx, tcpTuple); err != nil {
		t.Fatal(err)
	}
	want := wantTCPConn
	want.History = wantTCPHistory
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Fatalf("TCP entry with history (-want +got):\n%s", diff)
	}
	// An empty nest is no history.
	empty := strings.Replace(strings.Replace(icmpEntry, "a800 0680", "ac00 0680", 1), "0c00 0b00 0000000000000000", "0c00 0b00 0000000000000000\n0400 0d80", 1)
	c = serveCT(t, empty)
	if got, err = c.Conn(ctx, icmpTuple); err != nil || got.History != nil {
		t.Fatalf("entry with an empty history = %+v, %v", got, err)
	}
	c = serveCT(t, udpHistoryEntry)
	if got, err = c.Conn(ctx, tcpTuple); err != nil {
		t.Fatal(err)
	}
	wantUDP := []nftypes.ConnChange{{Time: time.Unix(0, 1796126400123000000).UTC(), Packet: 7, Trace: 1, Hook: nftypes.LocalOut}}
	if diff := cmp.Diff(wantUDP, got.History); diff != "" || got.ID != 9 || got.Orig.DstPort != 53 {
		t.Fatalf("UDP entry %+v; history (-want +got):\n%s", got, diff)
	}

	c = serveCT(t, "0800 0900 03000000\n0400 0100\n0800 0a00 00000100")
	if n, l, err := c.ConnCount(ctx); n != 3 || l != 65536 || err != nil {
		t.Fatalf("ConnCount = %d, %d, %v; want 3, 65536", n, l, err)
	}
	for name, call := range map[string]func() (uint32, error){
		"DeleteConns": func() (uint32, error) { return c.DeleteConns(ctx, nftypes.ConnFilter{Proto: 6}) },
		"FlushConns":  func() (uint32, error) { return c.DeleteConns(ctx, nftypes.ConnFilter{}) },
		"RunGC":       func() (uint32, error) { return c.RunGC(ctx) },
	} {
		if n, err := call(); n != 3 || err != nil {
			t.Errorf("%s = %d, %v; want 3", name, n, err)
		}
	}
	if err := c.DeleteConn(ctx, tcpTuple); err != nil {
		t.Fatalf("DeleteConn: %v", err)
	}

	c = serveCT(t, ctStatsReply)
	stats, err := c.TrackerStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStats := nftypes.TrackerStats{Found: 1, New: 2, Invalid: 3, Insert: 4, InsertFailed: 5, Clash: 6, Drop: 7, EarlyDrop: 8, GCEvicted: 9, SearchRestart: 1<<64 - 1, Related: 11,
		NATExhausted: 12, NATClash: 13, NATLost: 14}
	if diff := cmp.Diff(wantStats, stats); diff != "" {
		t.Fatalf("CTStats (-want +got):\n%s", diff)
	}
	// A module of protocol 3 (which this client serves) has no NAT
	// counters: they read as 0.
	c = serveCT(t, ctStatsReplyV3)
	if stats, err = c.TrackerStats(ctx); err != nil {
		t.Fatal(err)
	}
	wantStats.NATExhausted, wantStats.NATClash, wantStats.NATLost = 0, 0, 0
	if diff := cmp.Diff(wantStats, stats); diff != "" {
		t.Fatalf("CTStats of protocol 3 (-want +got):\n%s", diff)
	}

	c = serveCT(t, ctConfigReply)
	cfg, err := c.TrackerConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCTConfig, cfg); diff != "" {
		t.Fatalf("CTConfig (-want +got):\n%s", diff)
	}
}

// ctDumpServer answers NFLAB_CMD_CT_GET dumps with passes[i] on the i-th
// attempt (the last one again after that); parts listed in intr[i] carry
// NLM_F_DUMP_INTR.
func ctDumpServer(t *testing.T, passes [][]string, intr [][]int, calls *int) *Client {
	t.Helper()
	conn := genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		req := reqs[0]
		if req.Header.Type == unix.GENL_ID_CTRL {
			return familyReply(t, req), nil
		}
		if want := netlink.Request | netlink.Dump; req.Header.Flags != want {
			t.Errorf("request flags = %v, want %v", req.Header.Flags, want)
		}
		pass := min(*calls, len(passes)-1)
		*calls++
		var msgs []netlink.Message
		for i, data := range passes[pass] {
			gm, err := (&genetlink.Message{
				Header: genetlink.Header{Command: nlproto.CMD_CT_GET, Version: nlproto.GENL_VERSION},
				Data:   golden(t, data),
			}).MarshalBinary()
			if err != nil {
				return nil, err
			}
			m := netlink.Message{
				Header: netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID},
				Data:   gm,
			}
			if pass < len(intr) && contains(intr[pass], i) {
				m.Header.Flags |= netlink.DumpInterrupted
			}
			msgs = append(msgs, m)
		}
		// NLMSG_DONE closes the dump, as the kernel's does.
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: req.Header.PID},
			Data:   make([]byte, 4),
		})
		return nltest.Multipart(msgs)
	}))
	c, err := initClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// staleEntry is what the first, interrupted pass shows: an entry deleted
// while the dump ran.
const staleEntry = `
6400 0680
  0800 0200 63000000               # ID 99
  2c00 0380
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 11 000000            # udp
    0600 0400 1388 0000
    0600 0500 270f 0000
  2c00 0480
    0800 0100 0a000202
    0800 0200 0a000102
    0500 0300 11 000000
    0600 0400 270f 0000
    0600 0500 1388 0000
  0800 0500 00000000
  0800 0700 1e000000
`

func TestConnsDumpInterrupted(t *testing.T) {
	var calls int
	c := ctDumpServer(t,
		[][]string{{staleEntry, tcpEntry}, {tcpEntry, icmpEntry}},
		[][]int{{1}}, // the second data message of the first pass
		&calls)
	got, err := c.Conns(ctx, nftypes.ConnFilter{})
	if err != nil {
		t.Fatalf("Conns: %v", err)
	}
	if calls != 2 {
		t.Errorf("%d dump attempts, want 2", calls)
	}
	if diff := cmp.Diff([]nftypes.Conn{wantTCPConn, wantICMPConn}, got, netipOpts); diff != "" {
		t.Fatalf("Conns (-want +got):\n%s", diff)
	}
}

func TestConnsDumpGivesUp(t *testing.T) {
	var calls int
	c := ctDumpServer(t, [][]string{{tcpEntry}}, [][]int{{0}, {0}, {0}, {0}, {0}, {0}}, &calls)
	_, err := c.Conns(ctx, nftypes.ConnFilter{})
	if err != ErrDumpInterrupted {
		t.Fatalf("Conns error = %v, want ErrDumpInterrupted", err)
	}
	if calls != maxDumpAttempts {
		t.Fatalf("%d attempts, want %d", calls, maxDumpAttempts)
	}
}

func TestConnsDumpEmpty(t *testing.T) {
	var calls int
	c := ctDumpServer(t, [][]string{{}}, nil, &calls)
	got, err := c.Conns(ctx, nftypes.ConnFilter{})
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Conns = %#v, %v; want an empty slice", got, err)
	}
}

func TestNoConn(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	if _, err := c.Conn(ctx, tcpTuple); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
		t.Errorf("Conn error = %v, want ENOENT", err)
	}
	if err := c.DeleteConn(ctx, icmpTuple); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DeleteConn error = %v, want ENOENT", err)
	}
	// Only a command naming one tuple means "no such connection".
	if _, err := c.DeleteConns(ctx, nftypes.ConnFilter{}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("FlushConns error = %v, want ENOENT", err)
	}
}

// TestNoConnModuleGone: ENOENT because the module went away is
// ErrNotLoaded, not ENOENT.
func TestNoConnModuleGone(t *testing.T) {
	enoent := func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	}
	serve := genltest.ServeFamily(testFamily, enoent)
	c, err := initClient(genltest.Dial(func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		return serve(greq, nreq)
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	serve = enoent // the testFamily is gone too
	if _, err := c.Conn(ctx, tcpTuple); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Conn error = %v, want ErrNotLoaded", err)
	}
}

func TestCTPermission(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.EPERM))
	})
	for name, call := range map[string]func() error{
		"delete connection":    func() error { return c.DeleteConn(ctx, tcpTuple) },
		"set conntrack config": func() error { return c.SetTrackerConfig(ctx, nftypes.TrackerConfig{Limit: ptr(uint32(5))}) },
		"run conntrack gc":     func() error { _, err := c.RunGC(ctx); return err },
	} {
		err := call()
		if !errors.Is(err, unix.EPERM) || err.Error() != "nflab: "+name+": operation not permitted" {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

// TestConnsPermission: a dump the kernel refuses answers with one
// NLMSG_ERROR.
func TestConnsPermission(t *testing.T) {
	conn := genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		req := reqs[0]
		if req.Header.Type == unix.GENL_ID_CTRL {
			return familyReply(t, req), nil
		}
		echo, err := req.MarshalBinary()
		if err != nil {
			return nil, err
		}
		errno := -int32(unix.EPERM)
		return []netlink.Message{{
			Header: netlink.Header{Type: netlink.Error, Sequence: req.Header.Sequence, PID: req.Header.PID},
			Data:   append(binary.NativeEndian.AppendUint32(nil, uint32(errno)), echo...),
		}}, nil
	}))
	c, err := initClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Conns(ctx, nftypes.ConnFilter{})
	if !errors.Is(err, os.ErrPermission) || err.Error() != "nflab: dump connections: operation not permitted" {
		t.Fatalf("Conns error = %v, want EPERM", err)
	}
}

// TestCTEncodeErrors: the backend refuses what it cannot encode rather
// than panicking (netip.Addr.As4 panics on IPv6).
func TestCTEncodeErrors(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("request sent")
		return nil, io.EOF
	})
	v6 := netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { _, err := c.Conn(ctx, nftypes.Tuple{Src: v6, Dst: addr2, Proto: 6}); return err },
			"nflab: get connection: tuple source: 2001:db8::1 is not an IPv4 address"},
		{func() error { return c.DeleteConn(ctx, nftypes.Tuple{Src: addr1, Proto: 17}) },
			"nflab: delete connection: tuple destination: invalid IP is not an IPv4 address"},
		{func() error { return c.DeleteConn(ctx, nftypes.Tuple{Src: addr1, Dst: addr2, Proto: 47}) },
			"nflab: delete connection: protocol 47 is not tracked"},
		{func() error {
			_, err := c.Conns(ctx, nftypes.ConnFilter{Dst: netip.MustParsePrefix("2001:db8::/32")})
			return err
		}, "nflab: dump connections: filter destination: 2001:db8:: is not an IPv4 address"},
		{func() error {
			return c.SetTrackerConfig(ctx, nftypes.TrackerConfig{Timeouts: map[nftypes.Timeout]time.Duration{0: time.Second}})
		},
			"nflab: set conntrack config: timeout attribute 0 is not valid"},
	} {
		if err := tc.call(); err == nil || err.Error() != tc.want {
			t.Errorf("error = %v, want %q", err, tc.want)
		}
	}
}

func TestCTMalformedReplies(t *testing.T) {
	get := func(c *Client) error { _, err := c.Conn(ctx, tcpTuple); return err }
	count := func(c *Client) error { _, _, err := c.ConnCount(ctx); return err }
	tests := []struct {
		name string
		call func(c *Client) error
		data string
		want string
	}{
		{"no entry", get, "0800 6300 00000000", "nflab: get connection: malformed reply: missing attribute NFLAB_A_CT"},
		{"missing ID", get, `
1400 0680
  0800 0500 00000000
  0800 0700 00000000
`, "nflab: get connection: malformed reply: in NFLAB_A_CT: missing attribute NFLAB_CT_A_ID"},
		{"missing reply tuple", get, strings.Replace(tcpEntry, "2c00 0480", "2c00 6380", 1),
			"nflab: get connection: malformed reply: in NFLAB_A_CT: missing attribute NFLAB_CT_A_REPLY"},
		{"missing port", get, `
3000 0680
  0800 0200 01000000
  2400 0380
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 06 000000
    0600 0400 9c40 0000
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_ORIG: missing attribute NFLAB_TUPLE_A_DPORT"},
		{"missing ICMP id", get, `
2000 0680
  1c00 0480
    0800 0100 0a000102
    0800 0200 0a000202
    0500 0300 01 000000
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_REPLY: missing attribute NFLAB_TUPLE_A_ICMP_ID"},
		{"short address", get, `
1000 0680
  0c00 0380
    0700 0100 0a0001 00
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_ORIG: attribute 1 is not an IPv4 address; length: 3"},
		{"long port", get, `
1000 0680
  0c00 0380
    0800 0400 00000050
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_ORIG: attribute 4 is not a be16; length: 4"},
		{"u32 timeout", get, `
1000 0680
  0c00 0700 0100000000000000
`, "nflab: get connection: malformed reply: netlink: attribute 7 is not a uint32; length: 8"},
		{"start past 2262", get, `
1000 0680
  0c00 0c00 ffffffffffffffff
`, "nflab: get connection: malformed reply: NFLAB_CT_A_START 18446744073709551615 is past the year 2262"},
		{"history entry without STATUS_OLD", get, strings.Replace(tcpHistoryEntry, "0800 0a00 00000000", "0800 6300 00000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_STATUS_OLD"},
		{"history entry without TIME", get, strings.Replace(tcpHistoryEntry, "0c00 0300 009717d3711fed18", "0c00 6300 009717d3711fed18", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 2: missing attribute NFLAB_CT_HISTORY_A_TIME"},
		{"history entry without TRACE", get, strings.Replace(udpHistoryEntry, "0800 0500 01000000", "0800 6300 01000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_TRACE"},
		{"history entry without HOOK", get, strings.Replace(udpHistoryEntry, "0800 0600 03000000", "0800 6300 03000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_HOOK"},
		{"history entry without DIR", get, strings.Replace(udpHistoryEntry, "0500 0700 00 000000", "0500 6300 00 000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_DIR"},
		{"history entry without PACKET", get, strings.Replace(udpHistoryEntry, "0c00 0400 0700000000000000", "0c00 6300 0700000000000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_PACKET"},
		{"history entry without STATUS", get, strings.Replace(udpHistoryEntry, "0800 0b00 00000000", "0800 6300 00000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: missing attribute NFLAB_CT_HISTORY_A_STATUS"},
		{"history entry with one TCP state", get, strings.Replace(tcpHistoryEntry, "0500 0800 01 000000", "0500 6300 01 000000", 1),
			"nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 2: missing attribute NFLAB_CT_HISTORY_A_TCP_STATE_OLD"},
		{"history time past 2262", get, `
1800 0680
  1400 0d80                        # HISTORY
    1000 0280                      # ENTRY
      0c00 0300 ffffffffffffffff   # TIME
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: NFLAB_CT_HISTORY_A_TIME 18446744073709551615 is past the year 2262"},
		{"history u32 packet", get, `
1400 0680
  1000 0d80
    0c00 0280
      0800 0400 2a000000           # PACKET as a u32
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: netlink: attribute 4 is not a uint64; length: 4"},
		{"history u32 dir", get, `
1400 0680
  1000 0d80
    0c00 0280
      0800 0700 01000000           # DIR as a u32
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: in NFLAB_CT_HISTORY_A_ENTRY 1: netlink: attribute 7 is not a uint8; length: 4"},
		{"history truncated entry", get, `
1400 0680
  1000 0d80
    2000 0280 0c00 0300 00000000   # ENTRY longer than its nest
`, "nflab: get connection: malformed reply: in NFLAB_CT_A_HISTORY: "},
		{"truncated nest", get, "2000 0680 0800 0200 01000000",
			"nflab: get connection: malformed reply: "},
		{"garbage", get, "ff", "nflab: get connection: malformed reply: "},
		{"no count", func(c *Client) error { _, err := c.RunGC(ctx); return err }, "",
			"nflab: run conntrack gc: malformed reply: missing attribute NFLAB_A_CT_COUNT"},
		{"no limit", count, countReply("01000000"),
			"nflab: count connections: malformed reply: missing attribute NFLAB_A_CT_LIMIT"},
		{"no stats", func(c *Client) error { _, err := c.TrackerStats(ctx); return err }, "",
			"nflab: get conntrack stats: malformed reply: missing attribute NFLAB_A_CT_STATS"},
		{"stats counter missing", func(c *Client) error { _, err := c.TrackerStats(ctx); return err },
			strings.Replace(ctStatsReply, "0c00 0700 0600000000000000", "0c00 6300 0600000000000000", 1),
			"nflab: get conntrack stats: malformed reply: in NFLAB_A_CT_STATS: missing attribute NFLAB_CT_STATS_A_CLASH"},
		{"config timeout missing", func(c *Client) error { _, err := c.TrackerConfig(ctx); return err },
			strings.Replace(ctConfigReply, "0800 0800 0a000000", "0800 6300 0a000000", 1),
			"nflab: get conntrack config: malformed reply: in NFLAB_CT_CONFIG_A_TIMEOUTS: missing timeout attribute 8"},
		{"config limit missing", func(c *Client) error { _, err := c.TrackerConfig(ctx); return err }, `
0c00 0c80
  0800 6300 00000100
`, "nflab: get conntrack config: malformed reply: in NFLAB_A_CT_CONFIG: missing attribute NFLAB_CT_CONFIG_A_LIMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serveCT(t, tt.data)
			err := tt.call(c)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestDumpWrongCommand(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_CT_STATS, golden(t, tcpEntry)), nil
	})
	_, err := c.Conns(ctx, nftypes.ConnFilter{})
	if want := "nflab: dump connections: malformed reply: dump part has command 8, want 4"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func secs(m map[nftypes.Timeout]int) map[nftypes.Timeout]time.Duration {
	out := make(map[nftypes.Timeout]time.Duration, len(m))
	for k, v := range m {
		out[k] = time.Duration(v) * time.Second
	}
	return out
}
