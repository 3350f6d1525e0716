//go:build linux

package nlclient

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// ruleNewRequest is RULE_NEW for testRule, inserted before handle 7: the
// attributes after the generic netlink header.
const ruleNewRequest = `
8800 1180                       # NFLAB_A_RULE|NLA_F_NESTED, 136 bytes
  0500 0300 03 000000           # TABLE filter
  0c00 0400 666f727761726400    # CHAIN "forward\0"
  4000 0580                     # MATCHES
    1800 0380                   # NFLAB_MATCH_SADDR
      0400 0200                 # INVERT
      0800 0400 0a000000        # ADDR 10.0.0.0, be32
      0500 0600 08 000000       # PREFIX_LEN 8
    1400 0980                   # NFLAB_MATCH_DPORT
      0800 0800 50005000        # PORT_RANGE 80<<16|80, host order
      0800 0800 901f401f        # PORT_RANGE 8000<<16|8080
    1000 1180                   # NFLAB_MATCH_QUOTA
      0c00 1500 0000100000000000 # BYTES 1 MiB
  1400 0680                     # ACTION
    0500 0100 0b 000000         # TYPE jump
    0800 0200 77656200          # CHAIN "web\0"
  0700 0700 686900 00           # COMMENT "hi\0"
  0c00 0800 0700000000000000    # POSITION 7
  0800 0900 01000000            # FLAGS NFLAB_RULE_F_INSERT
`

var testRule = nftypes.Rule{Table: nftypes.TableFilter, Chain: "forward", Comment: "hi",
	Matches: []nftypes.Match{
		{Kind: nftypes.MatchSAddr, Invert: true, Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{{First: 80, Last: 80}, {First: 8000, Last: 8080}}},
		{Kind: nftypes.MatchQuota, QuotaBytes: 1 << 20},
	},
	Action: nftypes.Action{Type: nftypes.ActionJump, Chain: "web"}}

// natRuleRequest is RULE_NEW for natRule, at the end of its chain.
const natRuleRequest = `
5800 1180                       # NFLAB_A_RULE, 88 bytes
  0500 0300 04 000000           # TABLE nat
  1000 0400 706f7374726f7574696e6700 # CHAIN "postrouting\0"
  1000 0580                     # MATCHES
    0c00 0780                   # NFLAB_MATCH_PROTO
      0500 0700 11 000000       # PROTO udp
  2c00 0680                     # ACTION
    0500 0100 0e 000000         # TYPE snat
    0800 0800 c0000201          # ADDR 192.0.2.1, be32
    0800 0900 c0000209          # ADDR_END 192.0.2.9, be32
    0800 0a00 ff070004          # PORT_RANGE 1024<<16|2047, host order
    0800 0b00 05000000          # NAT_FLAGS RANDOM|PERSISTENT
`

var natRule = nftypes.Rule{Table: nftypes.TableNAT, Chain: "postrouting",
	Matches: []nftypes.Match{{Kind: nftypes.MatchProto, Proto: nftypes.UDP}},
	Action: nftypes.Action{Type: nftypes.ActionSNAT, Addr: netip.MustParseAddr("192.0.2.1"), AddrEnd: netip.MustParseAddr("192.0.2.9"),
		Ports: &nftypes.PortRange{First: 1024, Last: 2047}, NATFlags: nftypes.NATRandom | nftypes.NATPersistent}}

// ruleGetReply is a RULE_GET dump part for testRule as handle 12, from a
// newer module: an unknown attribute in the rule and in a match, and the
// quota's state.
const ruleGetReply = `
b800 1180                       # NFLAB_A_RULE, 184 bytes
  0c00 0200 0c00000000000000    # HANDLE 12
  0500 0300 03 000000           # TABLE filter
  0c00 0400 666f727761726400    # CHAIN "forward"
  4800 0580                     # MATCHES
    2000 0380                   # SADDR
      0400 0200                 # INVERT
      0800 0400 0a000000
      0500 0600 08 000000
      0800 6300 efbeadde        # attribute 99, unknown: skipped
    1400 0980                   # DPORT
      0800 0800 50005000
      0800 0800 901f401f
    1000 1180                   # QUOTA
      0c00 1500 0000100000000000
  1400 0680                     # ACTION jump web
    0500 0100 0b 000000
    0800 0200 77656200
  0700 0700 686900 00           # COMMENT "hi"
  0c00 0a00 0300000000000000    # PACKETS 3
  0c00 0b00 2c01000000000000    # BYTES 300
  1000 0c80                     # STATE
    0c00 0200 2c01000000000000  # QUOTA_USED 300
  0800 6300 efbeadde            # attribute 99, unknown: skipped
0800 0f00 05000000              # NFLAB_A_RULES_GEN 5
`

// setRequests are SET_NEW of an address set and SET_ADD_ELEMS of ports.
const (
	setNewRequest = `
2000 1280                       # NFLAB_A_SET
  0600 0100 7300 0000           # NAME "s"
  0500 0200 01 000000           # TYPE addr
  0c00 0300 c0000200 c00002ff   # ELEMS 192.0.2.0-192.0.2.255, be32 pairs
`
	setAddElemsRequest = `
1400 1280                       # NFLAB_A_SET
  0600 0100 7000 0000           # NAME "p"
  0800 0300 0001 03ff           # ELEMS 1-1023, be16 pairs
`
)

func TestRuleEncoding(t *testing.T) {
	for _, tt := range []struct {
		name   string
		encode func(ae *netlink.AttributeEncoder)
		want   string
	}{
		{"RULE_NEW", func(ae *netlink.AttributeEncoder) { encodeRule(ae, testRule, 0, &rulePos{Insert: true, Handle: 7}) }, ruleNewRequest},
		{"RULE_NEW snat", func(ae *netlink.AttributeEncoder) { encodeRule(ae, natRule, 0, &rulePos{}) }, natRuleRequest},
		{"RULE_NEW snat, ADDR_END as ADDR left out", func(ae *netlink.AttributeEncoder) {
			r := natRule
			r.Action.AddrEnd, r.Action.Ports, r.Action.NATFlags = r.Action.Addr, nil, 0
			encodeRule(ae, r, 0, &rulePos{})
		}, `
4000 1180                       # NFLAB_A_RULE, 64 bytes
  0500 0300 04 000000           # TABLE nat
  1000 0400 706f7374726f7574696e6700 # CHAIN "postrouting\0"
  1000 0580                     # MATCHES: PROTO udp
    0c00 0780 0500 0700 11 000000
  1400 0680                     # ACTION
    0500 0100 0e 000000         # TYPE snat
    0800 0800 c0000201          # ADDR 192.0.2.1; no ADDR_END
`},
		{"RULE_REPLACE dnat to a port", func(ae *netlink.AttributeEncoder) {
			encodeRule(ae, nftypes.Rule{Table: nftypes.TableNAT, Chain: "prerouting",
				Matches: []nftypes.Match{{Kind: nftypes.MatchProto, Proto: nftypes.TCP}},
				Action:  nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 8080, Last: 8080}}}, 3, nil)
		}, `
4c00 1180                       # NFLAB_A_RULE, 76 bytes
  0c00 0200 0300000000000000    # HANDLE 3
  0500 0300 04 000000           # TABLE nat
  0f00 0400 707265726f7574696e6700 00 # CHAIN "prerouting\0"
  1000 0580                     # MATCHES: PROTO tcp
    0c00 0780 0500 0700 06 000000
  1400 0680                     # ACTION
    0500 0100 0f 000000         # TYPE dnat
    0800 0a00 901f901f          # PORT_RANGE 8080<<16|8080
`},
		{"RULE_NEW masquerade", func(ae *netlink.AttributeEncoder) {
			encodeRule(ae, nftypes.Rule{Table: nftypes.TableNAT, Chain: "postrouting",
				Action: nftypes.Action{Type: nftypes.ActionMasquerade, NATFlags: nftypes.NATFullyRandom}}, 0, &rulePos{})
		}, `
3000 1180                       # NFLAB_A_RULE, 48 bytes
  0500 0300 04 000000           # TABLE nat
  1000 0400 706f7374726f7574696e6700 # CHAIN "postrouting\0"
  1400 0680                     # ACTION
    0500 0100 10 000000         # TYPE masquerade
    0800 0b00 02000000          # NAT_FLAGS FULLY_RANDOM
`},
		{"SET_NEW", func(ae *netlink.AttributeEncoder) {
			s := nftypes.Set{Name: "s", Type: nftypes.SetTypeAddr, Addrs: []nftypes.AddrRange{nftypes.AddrRangeFrom(netip.MustParsePrefix("192.0.2.0/24"))}}
			encodeSet(ae, s.Name, s.Type, true, setElemChunks(s)[0])
		}, setNewRequest},
		{"SET_ADD_ELEMS", func(ae *netlink.AttributeEncoder) {
			s := nftypes.Set{Name: "p", Type: nftypes.SetTypePort, Ports: []nftypes.PortRange{{First: 1, Last: 1023}}}
			encodeSet(ae, s.Name, 0, false, setElemChunks(s)[0])
		}, setAddElemsRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := requestAttrs(nlproto.CMD_RULE_NEW, tt.encode)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(golden(t, tt.want), m.Data); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNATAddrNotIPv4 checks that a NAT address that is not IPv4 fails the
// encoding (Validate refuses it first, for the library's callers).
func TestNATAddrNotIPv4(t *testing.T) {
	for _, a := range []nftypes.Action{
		{Type: nftypes.ActionSNAT, Addr: netip.MustParseAddr("2001:db8::1")},
		{Type: nftypes.ActionDNAT, Addr: netip.MustParseAddr("10.0.0.1"), AddrEnd: netip.MustParseAddr("::ffff:10.0.0.9")},
	} {
		_, err := requestAttrs(nlproto.CMD_RULE_NEW, func(ae *netlink.AttributeEncoder) {
			encodeRule(ae, nftypes.Rule{Table: nftypes.TableNAT, Chain: "output", Action: a}, 0, &rulePos{})
		})
		if err == nil || !strings.Contains(err.Error(), "is not an IPv4 address") {
			t.Errorf("%+v: encoding = %v, want an error", a, err)
		}
	}
}

func TestRuleParsing(t *testing.T) {
	r, gen, err := parseRuleMsg(golden(t, ruleGetReply), true)
	if err != nil {
		t.Fatal(err)
	}
	want := testRule
	want.Handle, want.Packets, want.Bytes = 12, 3, 300
	want.Matches = append([]nftypes.Match(nil), testRule.Matches...)
	want.Matches[2].QuotaUsed = 300
	if diff := cmp.Diff(want, r, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("rule (-want +got):\n%s", diff)
	}
	if gen != 5 {
		t.Errorf("generation %d, want 5", gen)
	}
	// Two quotas: a QUOTA_USED each, in match order.
	r, _, err = parseRuleMsg(golden(t, `
7000 1180                       # NFLAB_A_RULE
  0c00 0200 0c00000000000000    # HANDLE 12
  0500 0300 03 000000           # TABLE filter
  0c00 0400 666f727761726400    # CHAIN "forward"
  2400 0580                     # MATCHES
    1000 1180                   # QUOTA 1 MiB
      0c00 1500 0000100000000000
    1000 1180                   # QUOTA 2 MiB
      0c00 1500 0000200000000000
  0c00 0680 0500 0100 01 000000 # ACTION accept
  1c00 0c80                     # STATE
    0c00 0200 2c01000000000000  # QUOTA_USED 300
    0c00 0200 5802000000000000  # QUOTA_USED 600
`), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Matches) != 2 || r.Matches[0].QuotaUsed != 300 || r.Matches[1].QuotaUsed != 600 {
		t.Errorf("two quotas: %+v, want used 300 and 600", r.Matches)
	}
	// A NAT action reads back whole; an ADDR_END equal to ADDR, as
	// another client may send it, reads as ADDR alone.
	r, _, err = parseRuleMsg(golden(t, `
6400 1180                       # NFLAB_A_RULE
  0c00 0200 0d00000000000000    # HANDLE 13
  0500 0300 04 000000           # TABLE nat
  1000 0400 706f7374726f7574696e6700 # CHAIN "postrouting"
  1000 0580                     # MATCHES: PROTO udp
    0c00 0780 0500 0700 11 000000
  2c00 0680                     # ACTION
    0500 0100 0e 000000         # TYPE snat
    0800 0800 c0000201          # ADDR 192.0.2.1
    0800 0900 c0000209          # ADDR_END 192.0.2.9
    0800 0a00 ff070004          # PORT_RANGE 1024-2047
    0800 0b00 05000000          # NAT_FLAGS RANDOM|PERSISTENT
`), true)
	if err != nil {
		t.Fatal(err)
	}
	want = natRule
	want.Handle = 13
	if diff := cmp.Diff(want, r, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("snat rule (-want +got):\n%s", diff)
	}
	r, _, err = parseRuleMsg(golden(t, `
4c00 1180                       # NFLAB_A_RULE
  0c00 0200 0e00000000000000    # HANDLE 14
  0500 0300 04 000000           # TABLE nat
  0f00 0400 707265726f7574696e6700 00 # CHAIN "prerouting"
  2400 0680                     # ACTION
    0500 0100 0f 000000         # TYPE dnat
    0800 0800 0a000202          # ADDR 10.0.2.2
    0800 0900 0a000202          # ADDR_END 10.0.2.2
    0800 6300 efbeadde          # attribute 99, unknown: skipped
`), true)
	if err != nil {
		t.Fatal(err)
	}
	wantDNAT := nftypes.Rule{Handle: 14, Table: nftypes.TableNAT, Chain: "prerouting",
		Action: nftypes.Action{Type: nftypes.ActionDNAT, Addr: netip.MustParseAddr("10.0.2.2")}}
	if diff := cmp.Diff(wantDNAT, r, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("dnat rule (-want +got):\n%s", diff)
	}
	// A NAT address that is not 4 bytes is malformed.
	if _, _, err := parseRuleMsg(golden(t, `
3800 1180                       # NFLAB_A_RULE
  0c00 0200 0e00000000000000    # HANDLE 14
  0500 0300 04 000000           # TABLE nat
  0a00 0400 696e70757400 0000   # CHAIN "input"
  1400 0680                     # ACTION
    0500 0100 0e 000000         # TYPE snat
    0600 0800 0a00 0000         # ADDR, 2 bytes
`), true); err == nil || !strings.Contains(err.Error(), "not an IPv4 address") {
		t.Errorf("parse of a 2-byte NAT address = %v, want an error", err)
	}
	// A rule without its action is malformed.
	if _, _, err := parseRuleMsg(golden(t, `1000 1180 0c00 0200 0c00000000000000`), true); err == nil || !strings.Contains(err.Error(), "NFLAB_RULE_A_TABLE") {
		t.Errorf("parse of a rule with its handle only = %v, want a missing attribute", err)
	}
}

func TestSetElemChunks(t *testing.T) {
	s := nftypes.Set{Name: "big", Type: nftypes.SetTypeAddr, Addrs: make([]nftypes.AddrRange, 2*maxElemsPerMsg+1)}
	for i := range s.Addrs {
		s.Addrs[i] = nftypes.Addr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	chunks := setElemChunks(s)
	if len(chunks) != 3 || len(chunks[0]) != 8*maxElemsPerMsg || len(chunks[2]) != 8 {
		t.Fatalf("%d chunks", len(chunks))
	}
	if len(chunks[0])+4 > 0xffff {
		t.Errorf("a chunk of %d bytes does not fit an attribute", len(chunks[0]))
	}
	addrs, _, err := decodeElems(append(chunks[0], chunks[1]...), nftypes.SetTypeAddr)
	if err != nil || len(addrs) != 2*maxElemsPerMsg || addrs[300] != s.Addrs[300] {
		t.Errorf("decodeElems: %d elements, %v", len(addrs), err)
	}
}

// batchServer answers RULE_NEW with a handle and every request with an
// ACK, or with failErrno for the changes whose 0-based number is in fail,
// and records each sendmsg's message count.
func batchServer(t *testing.T, fail map[int]bool, failErrno int, batches *[]int) *Client {
	t.Helper()
	n := 0
	nl := nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) == 0 {
			t.Error("receive with nothing pending")
			return nil, errors.New("nothing pending")
		}
		if reqs[0].Header.Type == unix.GENL_ID_CTRL {
			return familyReply(t, reqs[0]), nil
		}
		*batches = append(*batches, len(reqs))
		var out []netlink.Message
		for _, req := range reqs {
			var g genetlink.Message
			if err := g.UnmarshalBinary(req.Data); err != nil {
				t.Fatal(err)
			}
			if g.Header.Command == nlproto.CMD_RULES_BEGIN || g.Header.Command == nlproto.CMD_RULES_COMMIT {
				gm, _ := (&genetlink.Message{Header: g.Header, Data: golden(t, "0800 0f00 01000000")}).MarshalBinary()
				out = append(out, netlink.Message{Header: netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID}, Data: gm})
				continue
			}
			if req.Header.Flags != netlink.Request|netlink.Acknowledge {
				t.Errorf("change flags %v, want request and ack", req.Header.Flags)
			}
			i := n
			n++
			if fail[i] {
				errs, _ := nltest.Error(failErrno, []netlink.Message{req})
				out = append(out, errs...)
				continue
			}
			if g.Header.Command == nlproto.CMD_RULE_NEW {
				data := golden(t, "1000 1180 0c00 0200 0000000000000000")
				binary.NativeEndian.PutUint64(data[8:], uint64(100+i))
				gm, _ := (&genetlink.Message{Header: g.Header, Data: data}).MarshalBinary()
				out = append(out, netlink.Message{Header: netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID}, Data: gm})
			}
			ack, _ := nltest.Error(0, []netlink.Message{req})
			out = append(out, ack...)
		}
		return out, nil
	})
	used := false
	c, err := newClient(func() (*genetlink.Conn, *netlink.Conn, error) {
		if used {
			return nil, nil, errors.New("test connection already used")
		}
		used = true
		return genetlink.NewConn(nl), nl, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func manyRules(n int) nftypes.Ruleset {
	var rs nftypes.Ruleset
	for range n {
		rs.Rules = append(rs.Rules, nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionAccept}})
	}
	return rs
}

// TestApplyBatches checks that changes go in batches of several messages
// per sendmsg, no more replies in flight than maxInFlight.
func TestApplyBatches(t *testing.T) {
	var batches []int
	c := batchServer(t, nil, 0, &batches)
	tx, err := c.Begin(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, manyRules(100)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, err := tx.Commit(ctx, false); err != nil {
		t.Fatal(err)
	}
	// BEGIN, 32+32+32+4 RULE_NEW (a reply and an ACK each), COMMIT.
	if diff := cmp.Diff([]int{1, 32, 32, 32, 4, 1}, batches); diff != "" {
		t.Errorf("messages per sendmsg (-want +got):\n%s", diff)
	}
	h, err := func() (uint64, error) {
		tx, err := c.Begin(ctx, false, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Abort(ctx)
		return tx.AddRule(ctx, manyRules(1).Rules[0], false, 0)
	}()
	if err != nil || h != 200 {
		t.Errorf("AddRule = %d, %v; want the handle of the reply, 200", h, err)
	}
}

// TestApplyChangeError checks that the first rejected change is reported
// with its place, and that the socket is clean for the next request. (The
// kernel sends each answer in a datagram of its own; nltest sends a
// batch's in one, of which mdlayher/netlink drops what comes before an
// error: so the failure here is a slice of a set's elements, alone in its
// batch for its size.)
func TestApplyChangeError(t *testing.T) {
	var batches []int
	c := batchServer(t, map[int]bool{0: true}, int(unix.ENOSPC), &batches)
	tx, err := c.Begin(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := manyRules(10)
	big := nftypes.Set{Name: "big", Type: nftypes.SetTypeAddr, Addrs: make([]nftypes.AddrRange, 2*maxElemsPerMsg+1)}
	for i := range big.Addrs {
		big.Addrs[i] = nftypes.Addr(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	rs.Sets = []nftypes.Set{big, {Name: "second", Type: nftypes.SetTypePort}}
	err = tx.Apply(ctx, rs)
	var ce *ChangeError
	if !errors.As(err, &ce) || ce.Kind != "sets" || ce.Index != 0 || ce.Name != "big" || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Apply = %v, want a ChangeError for sets[0] wrapping ENOSPC", err)
	}
	if !strings.HasPrefix(err.Error(), "nflab: add set: no space left on device [sets[0] big]") {
		t.Errorf("error text %q", err)
	}
	// BEGIN, then SET_NEW of "big" with its first slice, alone for its
	// size, failed: the batches after it were not sent.
	if diff := cmp.Diff([]int{1, 1}, batches); diff != "" {
		t.Errorf("messages per sendmsg (-want +got):\n%s", diff)
	}
	if err := tx.Abort(ctx); err != nil {
		t.Errorf("Abort on the same socket: %v", err)
	}
}

func TestRulesRequests(t *testing.T) {
	h := uint64(12)
	genReply := func(cmd uint8) func(genetlink.Message) ([]genetlink.Message, error) {
		return func(genetlink.Message) ([]genetlink.Message, error) {
			return reply(cmd, golden(t, "0800 0f00 07000000")), nil // NFLAB_A_RULES_GEN 7
		}
	}
	ack := func(genetlink.Message) ([]genetlink.Message, error) { return nil, io.EOF }
	for _, tt := range []struct {
		name    string
		call    func(c *Client) error
		respond func(genetlink.Message) ([]genetlink.Message, error)
		want    string
	}{
		{"begin replace at generation", func(c *Client) error {
			gen := uint32(7)
			tx, err := c.Begin(ctx, true, &gen)
			if err == nil && tx.Gen() != 7 {
				err = errors.New("wrong generation")
			}
			return err
		}, genReply(nlproto.CMD_RULES_BEGIN), `
24000000 1c00 0100 00000000 00000000  # len 36, NLM_F_REQUEST
0f 01 0000                            # NFLAB_CMD_RULES_BEGIN
0800 0e00 01000000                    # NFLAB_A_RULES_FLAGS REPLACE
0800 0f00 07000000                    # NFLAB_A_RULES_GEN 7
`},
		{"reset one rule", func(c *Client) error { return c.ResetRules(ctx, &h) }, ack, `
24000000 1c00 0500 00000000 00000000  # NLM_F_REQUEST|NLM_F_ACK
1a 01 0000                            # NFLAB_CMD_RULE_RESET
1000 1180                             # NFLAB_A_RULE
  0c00 0200 0c00000000000000          # HANDLE 12
`},
		{"reset every rule", func(c *Client) error { return c.ResetRules(ctx, nil) }, ack, `
14000000 1c00 0500 00000000 00000000
1a 01 0000
`},
		{"terse set dump", func(c *Client) error { _, _, err := c.Sets(ctx, "bad", false); return err },
			func(genetlink.Message) ([]genetlink.Message, error) {
				return reply(nlproto.CMD_SET_GET, golden(t, "1c00 1280 0800 0100 62616400 0500 0200 01000000 0800 0400 00000000")), nil
			}, `
28000000 1c00 0103 00000000 00000000  # len 40, NLM_F_REQUEST|NLM_F_DUMP
1f 01 0000                            # NFLAB_CMD_SET_GET
0c00 1280                             # NFLAB_A_SET
  0800 0100 62616400                  # NAME "bad"
0800 0e00 04000000                    # NFLAB_A_RULES_FLAGS TERSE
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkRequest(t, tt.call, tt.respond, tt.want)
		})
	}
}

func TestSetDumpParts(t *testing.T) {
	part := func(s string) genetlink.Message {
		return genetlink.Message{Header: genetlink.Header{Command: nlproto.CMD_SET_GET}, Data: golden(t, s)}
	}
	sets, gen, err := setsFromParts([]genetlink.Message{
		part(`2400 1280  0600 0100 7000 0000  0500 0200 02 000000  0800 0400 02000000  0800 0500 01000000
		      0800 0f00 03000000`), // "p": port set, 2 ranges, 1 rule
		part(`1800 1280  0600 0100 7000 0000  0c00 0300 0016 0016 0050 0051
		      0800 0f00 03000000`), // its elements: 22, 80-81
		part(`1c00 1280  0600 0100 6100 0000  0500 0200 01 000000  0800 0400 00000000
		      0800 0f00 03000000`), // "a": empty address set
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []nftypes.Set{
		{Name: "p", Type: nftypes.SetTypePort, Count: 2, Refs: 1, Ports: []nftypes.PortRange{{First: 22, Last: 22}, {First: 80, Last: 81}}},
		{Name: "a", Type: nftypes.SetTypeAddr},
	}
	if diff := cmp.Diff(want, sets, cmpopts.EquateEmpty()); diff != "" || gen != 3 {
		t.Errorf("sets at generation %d (-want +got):\n%s", gen, diff)
	}
	if _, _, err := setsFromParts([]genetlink.Message{part(`1400 1280  0600 0100 7000 0000  0800 0300 00160016`)}); err == nil {
		t.Errorf("elements before their set's header: no error")
	}
}

// TestCloseDuringBegin closes the client while Begin runs: the Tx's kill
// may then fire as soon as it is registered, and must find the Tx
// complete (run under -race).
func TestCloseDuringBegin(t *testing.T) {
	for range 300 {
		var batches []int
		c := batchServer(t, nil, 0, &batches)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = c.Close()
		}()
		if tx, err := c.Begin(ctx, true, nil); err == nil {
			_ = tx.Abort(ctx)
		}
		<-done
	}
}

// TestAddSetError checks that AddSet and AddSetElems fail with an
// *OpError, as the other single-object calls do, not a *ChangeError.
func TestAddSetError(t *testing.T) {
	var batches []int
	c := batchServer(t, map[int]bool{0: true, 1: true}, int(unix.EEXIST), &batches)
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	s := nftypes.Set{Name: "s", Type: nftypes.SetTypePort, Ports: []nftypes.PortRange{{First: 1, Last: 1}}}
	for _, call := range []func() error{
		func() error { return tx.AddSet(ctx, s) },
		func() error { return tx.AddSetElems(ctx, s) },
	} {
		err := call()
		var oe *OpError
		var ce *ChangeError
		if !errors.As(err, &oe) || errors.As(err, &ce) || !errors.Is(err, syscall.EEXIST) || strings.Contains(err.Error(), "[sets") {
			t.Errorf("error %v (%T), want an *OpError wrapping EEXIST", err, err)
		}
	}
}

// TestApplyMidBatchError fails change k of a batch of n, each answer in a
// datagram of its own as the kernel sends them, the others still queued:
// the error names change k, and every answer is read, so that the socket
// is clean for the transaction's next request.
func TestApplyMidBatchError(t *testing.T) {
	for _, k := range []int{0, 4, 9} {
		s := &txSocket{answer: func(i int, req netlink.Message, g genetlink.Message) []datagram {
			if i != k {
				return nil
			}
			msgs, _ := nltest.Error(int(unix.ENOENT), []netlink.Message{req})
			return []datagram{{msgs: msgs}}
		}}
		c := txSocketClient(t, s)
		tx, err := c.Begin(ctx, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = tx.Apply(ctx, manyRules(10))
		var ce *ChangeError
		if !errors.As(err, &ce) || ce.Kind != ChangeRules || ce.Index != k || !errors.Is(err, unix.ENOENT) {
			t.Errorf("k=%d: Apply = %v, want a ChangeError for rules[%d] wrapping ENOENT", k, err, k)
		}
		if n := s.pending(); n != 0 {
			t.Errorf("k=%d: %d answers left unread", k, n)
		}
		if err := tx.Abort(ctx); err != nil {
			t.Errorf("k=%d: Abort on the same socket: %v", k, err)
		}
	}
}

// TestTxLostReplies: ENOBUFS while a batch's answers come in means some
// were dropped; the socket, and with it the transaction, is given up,
// and the error says so.
func TestTxLostReplies(t *testing.T) {
	s := &txSocket{answer: func(i int, req netlink.Message, g genetlink.Message) []datagram {
		if i == 3 {
			return []datagram{{err: unix.ENOBUFS}}
		}
		return nil
	}}
	c := txSocketClient(t, s)
	tx, err := c.Begin(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = tx.Apply(ctx, manyRules(10))
	if !errors.Is(err, unix.ENOBUFS) || err.Error() != "nflab: apply ruleset: replies were lost (receive buffer too small); the transaction was aborted" {
		t.Errorf("Apply = %v, want lost replies wrapping ENOBUFS", err)
	}
	if err := tx.Abort(ctx); !errors.Is(err, ErrTxDone) {
		t.Errorf("Abort after lost replies = %v, want ErrTxDone", err)
	}
}
