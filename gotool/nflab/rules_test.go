//go:build linux

package nflab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

func ptrTo[T any](v T) *T { return &v }

var rulesetOpts = cmp.Options{
	cmpOpts,
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// fullRuleset uses every match and action, with the defaults the module
// reports filled in (burst 5, connlimit prefix 32, reject port-unreach),
// so that it reads back as it is.
func fullRuleset() nftypes.Ruleset {
	in, fwd := nftypes.LocalIn, nftypes.Forward
	a := netip.MustParseAddr
	filter := func(chain string, act nftypes.Action, ms ...nftypes.Match) nftypes.Rule {
		return nftypes.Rule{Table: nftypes.TableFilter, Chain: chain, Matches: ms, Action: act}
	}
	accept := nftypes.Action{Type: nftypes.ActionAccept}
	rules := []nftypes.Rule{
		filter("input", accept, nftypes.Match{Kind: nftypes.MatchIIF, Iface: "eth+"}, nftypes.Match{Kind: nftypes.MatchSAddr, Invert: true, Prefix: netip.MustParsePrefix("10.0.0.0/8")}),
		filter("input", accept, nftypes.Match{Kind: nftypes.MatchSRange, AddrStart: a("10.0.0.1"), AddrEnd: a("10.0.0.9")}, nftypes.Match{Kind: nftypes.MatchProto, Proto: nftypes.TCP},
			nftypes.Match{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{nftypes.Port(22), {First: 8000, Last: 8080}}},
			nftypes.Match{Kind: nftypes.MatchTCPFlags, TCPFlags: nftypes.TCPSyn, TCPMask: nftypes.TCPSyn | nftypes.TCPAck}),
		filter("input", nftypes.Action{Type: nftypes.ActionReject, RejectWith: nftypes.RejectPortUnreach},
			nftypes.Match{Kind: nftypes.MatchICMP, ICMPType: 8, ICMPCode: ptrTo[uint8](0)}, nftypes.Match{Kind: nftypes.MatchLength, LenMin: 64, LenMax: 1500}),
		filter("input", nftypes.Action{Type: nftypes.ActionLog, LogPrefix: "in: "},
			nftypes.Match{Kind: nftypes.MatchCTState, CTState: nftypes.CTStateNew | nftypes.CTStateInvalid}, nftypes.Match{Kind: nftypes.MatchCTStatus, CTStatus: nftypes.StatusAssured},
			nftypes.Match{Kind: nftypes.MatchString, Pattern: []byte("GET /"), Algo: nftypes.AlgoKMP, From: 20, To: 200}),
		filter("input", nftypes.Action{Type: nftypes.ActionDrop},
			nftypes.Match{Kind: nftypes.MatchConnlimit, Count: 10, PrefixLen: ptrTo[uint8](24), Upto: false},
			nftypes.Match{Kind: nftypes.MatchQuota, Invert: true, QuotaBytes: 1 << 30},
			nftypes.Match{Kind: nftypes.MatchNth, Every: 3, Offset: 1}),
		filter("input", nftypes.Action{Type: nftypes.ActionContinue},
			nftypes.Match{Kind: nftypes.MatchTime, TODStart: ptrTo(8 * time.Hour), TODStop: ptrTo(17*time.Hour + 30*time.Minute), Weekdays: nftypes.Monday | nftypes.Friday,
				DateStart: time.Unix(1700000000, 0).UTC(), DateStop: time.Unix(1800000000, 0).UTC(), LocalTime: true},
			nftypes.Match{Kind: nftypes.MatchLimit, Rate: 10, Period: time.Minute, Burst: 5},
			nftypes.Match{Kind: nftypes.MatchMark, Mark: 0x10, MarkMask: 0xf0}),
		filter("forward", nftypes.Action{Type: nftypes.ActionJump, Chain: "web"}, nftypes.Match{Kind: nftypes.MatchSet, SetName: "bad", SetField: nftypes.SetFieldSAddr}),
		filter("web", nftypes.Action{Type: nftypes.ActionReturn}, nftypes.Match{Kind: nftypes.MatchSet, SetName: "ports", SetField: nftypes.SetFieldDPort, Invert: true}),
		filter("web", nftypes.Action{Type: nftypes.ActionGoto, Chain: "web2"}),
		{Table: nftypes.TableRaw, Chain: "prerouting", Action: nftypes.Action{Type: nftypes.ActionNotrack}, Comment: "no tracking"},
		{Table: nftypes.TableMangle, Chain: "forward", Action: nftypes.Action{Type: nftypes.ActionMark, Value: 7, Mask: 0xff}},
		{Table: nftypes.TableMangle, Chain: "forward", Action: nftypes.Action{Type: nftypes.ActionTOS, Value: 0x10}},
		{Table: nftypes.TableMangle, Chain: "forward", Action: nftypes.Action{Type: nftypes.ActionDSCP, Value: 46}},
		{Table: nftypes.TableMangle, Chain: "forward", Action: nftypes.Action{Type: nftypes.ActionTTL, TTLMode: nftypes.TTLDec, Value: 1}},
		{Table: nftypes.TableNAT, Chain: "prerouting", Matches: []nftypes.Match{{Kind: nftypes.MatchProto, Proto: nftypes.UDP}},
			Action: nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 5353, Last: 5353}}},
		{Table: nftypes.TableNAT, Chain: "postrouting", Matches: []nftypes.Match{{Kind: nftypes.MatchProto, Proto: nftypes.TCP}},
			Action: nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.1"), AddrEnd: a("192.0.2.1"), // reads back without AddrEnd
				Ports: &nftypes.PortRange{First: 1024, Last: 65535}, NATFlags: nftypes.NATRandom | nftypes.NATPersistent}},
		{Table: nftypes.TableNAT, Chain: "postrouting", Action: nftypes.Action{Type: nftypes.ActionMasquerade, NATFlags: nftypes.NATFullyRandom}},
	}
	return nftypes.Ruleset{
		Chains: []nftypes.Chain{
			{Table: nftypes.TableFilter, Name: "input", Hook: &in, Policy: nftypes.VerdictDrop},
			{Table: nftypes.TableFilter, Name: "forward", Hook: &fwd, Policy: nftypes.VerdictAccept},
			{Table: nftypes.TableFilter, Name: "web"},
			{Table: nftypes.TableFilter, Name: "web2"},
		},
		Rules: rules,
		Sets: []nftypes.Set{
			{Name: "bad", Type: nftypes.SetTypeAddr, Addrs: []nftypes.AddrRange{
				nftypes.AddrRangeFrom(netip.MustParsePrefix("192.0.2.0/24")), nftypes.Addr(a("198.51.100.7")), nftypes.Addr(a("192.0.3.0"))}},
			{Name: "ports", Type: nftypes.SetTypePort, Ports: []nftypes.PortRange{{First: 80, Last: 80}, {First: 81, Last: 90}, {First: 443, Last: 443}}},
		},
	}
}

func TestApplyRulesetRoundTrip(t *testing.T) {
	for _, next := range []bool{false, true} {
		t.Run(map[bool]string{false: "N", true: "N+1"}[next], func(t *testing.T) {
			m, c := dial(t, fakemod.Options{Next: next})
			rs := fullRuleset()
			gen, err := c.ApplyRuleset(bg, rs, nil)
			if err != nil {
				t.Fatalf("ApplyRuleset: %v", err)
			}
			if gen != 1 || m.Gen() != 1 {
				t.Errorf("generation %d (module %d), want 1", gen, m.Gen())
			}
			got, err := c.Ruleset(bg)
			if err != nil {
				t.Fatalf("Ruleset: %v", err)
			}
			if got.Gen != gen {
				t.Errorf("Ruleset.Gen = %d, want %d", got.Gen, gen)
			}
			// What the module adds: handles, rule counts, merged elements.
			want := rs
			want.Gen = gen
			want.Chains = nftypes.BuiltinChains()
			counts := map[string]int{}
			want.Rules = append([]nftypes.Rule(nil), rs.Rules...)
			for i := range want.Rules {
				// Defaults read back folded (burst 5 as 0).
				want.Rules[i] = want.Rules[i].Normalized()
				want.Rules[i].Handle = uint64(i + 1)
				counts[want.Rules[i].Table.String()+"/"+want.Rules[i].Chain]++
			}
			want.Chains[7].Policy = nftypes.VerdictDrop // filter/input, after raw's 2 and mangle's 5
			want.Chains = append(want.Chains, rs.Chains[2], rs.Chains[3])
			for i := range want.Chains {
				want.Chains[i].Rules = counts[want.Chains[i].Table.String()+"/"+want.Chains[i].Name]
			}
			// Rules come chain by chain: the built-in ones in table
			// order (raw, mangle, filter, nat), then the user chains.
			r := want.Rules
			want.Rules = slices.Concat(r[9:14], r[0:7], r[14:17], r[7:9])
			want.Sets = []nftypes.Set{
				{Name: "bad", Type: nftypes.SetTypeAddr, Count: 2, Refs: 1, Addrs: nftypes.MergeAddrRanges(rs.Sets[0].Addrs)},
				{Name: "ports", Type: nftypes.SetTypePort, Count: 2, Refs: 1, Ports: []nftypes.PortRange{{First: 80, Last: 90}, {First: 443, Last: 443}}},
			}
			if diff := cmp.Diff(want, got, rulesetOpts); diff != "" {
				t.Errorf("Ruleset (-want +got):\n%s", diff)
			}
			// What Ruleset returns applies as it is, and reads back the same.
			if _, err := c.ApplyRuleset(bg, got, nil); err != nil {
				t.Fatalf("ApplyRuleset(Ruleset()): %v", err)
			}
			again, err := c.Ruleset(bg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range again.Rules {
				again.Rules[i].Handle = got.Rules[i].Handle
			}
			again.Gen = got.Gen
			if diff := cmp.Diff(got, again, rulesetOpts); diff != "" {
				t.Errorf("second round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestApplyRulesetErrors(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	base := fullRuleset()
	if _, err := c.ApplyRuleset(bg, base, nil); err != nil {
		t.Fatal(err)
	}
	before, err := c.Ruleset(bg)
	if err != nil {
		t.Fatal(err)
	}
	bad := func(edit func(*nftypes.Ruleset)) nftypes.Ruleset {
		rs := fullRuleset()
		edit(&rs)
		return rs
	}
	for _, tt := range []struct {
		name   string
		rs     nftypes.Ruleset
		errno  unix.Errno
		kind   nflab.ChangeKind // ChangeError.Kind, "" for a commit error
		index  int
		inText string
	}{
		{"rule in a missing chain", bad(func(rs *nftypes.Ruleset) { rs.Rules[7].Chain = "nope" }), unix.ENOENT, "rules", 7, "no chain filter/nope"},
		{"duplicate chain", bad(func(rs *nftypes.Ruleset) { rs.Chains = append(rs.Chains, rs.Chains[2]) }), unix.EEXIST, "chains", 4, "exists"},
		{"duplicate set", bad(func(rs *nftypes.Ruleset) { rs.Sets = append(rs.Sets, rs.Sets[1]) }), unix.EEXIST, "sets", 2, "set ports exists"},
		{"jump to a missing chain", bad(func(rs *nftypes.Ruleset) { rs.Chains = rs.Chains[:3] }), unix.ENOENT, "", 0, ") in filter/web: goto to unknown chain web2"},
		{"missing set", bad(func(rs *nftypes.Ruleset) { rs.Sets = rs.Sets[:1] }), unix.ENOENT, "", 0, "in filter/web: unknown set ports"},
		{"loop", bad(func(rs *nftypes.Ruleset) {
			rs.Rules = append(rs.Rules, nftypes.Rule{Table: nftypes.TableFilter, Chain: "web2", Action: nftypes.Action{Type: nftypes.ActionJump, Chain: "web"}})
		}), unix.ELOOP, "", 0, "makes a loop"},
		{"iif at output", bad(func(rs *nftypes.Ruleset) {
			rs.Rules = append(rs.Rules, nftypes.Rule{Table: nftypes.TableFilter, Chain: "output", Matches: []nftypes.Match{{Kind: nftypes.MatchIIF, Iface: "lo"}}, Action: nftypes.Action{Type: nftypes.ActionAccept}})
		}), unix.EINVAL, "", 0, "rule 1 (handle"},
		{"masquerade reached from prerouting", bad(func(rs *nftypes.Ruleset) {
			rs.Chains = append(rs.Chains, nftypes.Chain{Table: nftypes.TableNAT, Name: "out"})
			rs.Rules = append(rs.Rules,
				nftypes.Rule{Table: nftypes.TableNAT, Chain: "out", Action: nftypes.Action{Type: nftypes.ActionMasquerade}},
				nftypes.Rule{Table: nftypes.TableNAT, Chain: "prerouting", Action: nftypes.Action{Type: nftypes.ActionJump, Chain: "out"}})
		}), unix.EINVAL, "", 0, ") in nat/out: masquerade cannot act at a hook this chain runs at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ApplyRuleset(bg, tt.rs, nil)
			var oe *nflab.OpError
			if !errors.Is(err, tt.errno) || !errors.As(err, &oe) || !strings.Contains(oe.Message, tt.inText) {
				t.Fatalf("ApplyRuleset = %v, want errno %v with %q", err, tt.errno, tt.inText)
			}
			var ce *nflab.ChangeError
			switch {
			case tt.kind == "" && errors.As(err, &ce):
				t.Errorf("commit error is a ChangeError: %v", err)
			case tt.kind != "" && (!errors.As(err, &ce) || ce.Kind != tt.kind || ce.Index != tt.index):
				t.Errorf("ApplyRuleset = %v, want a ChangeError for %s[%d]", err, tt.kind, tt.index)
			}
			if m.TxOpen() {
				t.Errorf("transaction still open")
			}
			after, err := c.Ruleset(bg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, after, rulesetOpts); diff != "" {
				t.Errorf("a failed ApplyRuleset changed the ruleset (-before +after):\n%s", diff)
			}
		})
	}
	// Check mode checks and changes nothing.
	rs := bad(func(rs *nftypes.Ruleset) { rs.Chains = rs.Chains[:3] })
	if _, err := c.ApplyRuleset(bg, rs, &nflab.ApplyOptions{Check: true}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("check of a bad ruleset = %v, want ENOENT", err)
	}
	gen, err := c.ApplyRuleset(bg, nftypes.Ruleset{}, &nflab.ApplyOptions{Check: true})
	if err != nil || gen != before.Gen || m.Gen() != before.Gen {
		t.Errorf("check of an empty ruleset = %d, %v; want generation %d unchanged", gen, err, before.Gen)
	}
	// Invalid rulesets are refused before anything is sent.
	begins := m.Requests(nlproto.CMD_RULES_BEGIN)
	rs = bad(func(rs *nftypes.Ruleset) { rs.Rules[0].Matches[0].Iface = "" })
	var ve *nflab.ValidationError
	if _, err := c.ApplyRuleset(bg, rs, nil); !errors.As(err, &ve) || !strings.Contains(err.Error(), "rule 1: match 1") {
		t.Errorf("ApplyRuleset(invalid) = %v, want a ValidationError naming rule 1, match 1", err)
	}
	if m.Requests(nlproto.CMD_RULES_BEGIN) != begins {
		t.Errorf("an invalid ruleset was sent")
	}
	// So is a NAT port range without a protocol match: the module
	// would refuse it at commit.
	rs = bad(func(rs *nftypes.Ruleset) { rs.Rules[14].Matches = nil })
	if _, err := c.ApplyRuleset(bg, rs, nil); !errors.As(err, &ve) || !strings.Contains(err.Error(), "rule 15: dnat: a port range needs the rule to match protocol tcp or udp") {
		t.Errorf("ApplyRuleset(port range without protocol) = %v, want a ValidationError", err)
	}
	if m.Requests(nlproto.CMD_RULES_BEGIN) != begins {
		t.Errorf("an invalid ruleset was sent")
	}
}

func TestTxEdits(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	tx, err := c.Begin(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(bg)
	filter := nftypes.TableFilter
	accept := nftypes.Action{Type: nftypes.ActionAccept}
	if err := tx.AddChain(bg, nftypes.Chain{Table: filter, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.AddChain(bg, nftypes.Chain{Table: filter, Name: "web"}); !errors.Is(err, os.ErrExist) {
		t.Errorf("AddChain twice = %v, want ErrExist", err)
	}
	add := func(comment string, pos *nflab.RulePosition) uint64 {
		t.Helper()
		h, err := tx.AddRule(bg, nftypes.Rule{Table: filter, Chain: "input", Action: accept, Comment: comment}, pos)
		if err != nil {
			t.Fatalf("AddRule(%s): %v", comment, err)
		}
		return h
	}
	h1 := add("b", nil)
	h2 := add("a", &nflab.RulePosition{Insert: true})
	h3 := add("c", &nflab.RulePosition{Handle: h1})
	add("b2", &nflab.RulePosition{Handle: h3, Insert: true})
	if _, err := tx.AddRule(bg, nftypes.Rule{Table: filter, Chain: "input", Action: accept}, &nflab.RulePosition{Handle: 999}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("AddRule after a missing handle = %v, want ErrNotExist", err)
	}
	if err := tx.ReplaceRule(bg, h2, nftypes.Rule{Table: filter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionDrop}, Comment: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.ReplaceRule(bg, h2, nftypes.Rule{Table: filter, Chain: "forward", Action: accept}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("ReplaceRule into another chain = %v, want EINVAL", err)
	}
	if err := tx.DeleteRule(bg, h1); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteRule(bg, h1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DeleteRule twice = %v, want ErrNotExist", err)
	}
	if err := tx.SetPolicy(bg, filter, "input", nftypes.VerdictDrop); err != nil {
		t.Fatal(err)
	}
	var ve *nflab.ValidationError
	if err := tx.SetPolicy(bg, filter, "web", nftypes.VerdictDrop); !errors.As(err, &ve) {
		t.Errorf("SetPolicy(user chain) = %v, want a ValidationError", err)
	}
	set := nftypes.Set{Name: "s", Type: nftypes.SetTypeAddr, Addrs: []nftypes.AddrRange{nftypes.Addr(netip.MustParseAddr("10.0.0.1"))}}
	if err := tx.AddSet(bg, set); err != nil {
		t.Fatal(err)
	}
	set.Addrs = []nftypes.AddrRange{nftypes.Addr(netip.MustParseAddr("10.0.0.2"))}
	if err := tx.AddSetElems(bg, set); err != nil {
		t.Fatal(err)
	}
	if err := tx.AddSet(bg, nftypes.Set{Name: "t", Type: nftypes.SetTypePort}); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushSet(bg, "t"); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteSet(bg, "t"); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteSet(bg, "t"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DeleteSet twice = %v, want ErrNotExist", err)
	}
	if _, err := tx.AddRule(bg, nftypes.Rule{Table: filter, Chain: "web", Action: accept,
		Matches: []nftypes.Match{{Kind: nftypes.MatchSet, SetName: "s", SetField: nftypes.SetFieldDAddr}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteSet(bg, "s"); !errors.Is(err, unix.EBUSY) {
		t.Errorf("DeleteSet(in use) = %v, want EBUSY", err)
	}
	if err := tx.DeleteChain(bg, filter, "web"); !errors.Is(err, unix.EBUSY) {
		t.Errorf("DeleteChain(with rules) = %v, want EBUSY", err)
	}
	if m.Gen() != 0 {
		t.Errorf("generation %d before Commit", m.Gen())
	}
	gen, err := tx.Commit(bg, false)
	if err != nil || gen != 1 {
		t.Fatalf("Commit = %d, %v; want 1", gen, err)
	}
	if err := tx.Abort(bg); !errors.Is(err, nflab.ErrTxDone) {
		t.Errorf("Abort after Commit = %v, want ErrTxDone", err)
	}
	if _, err := tx.AddRule(bg, nftypes.Rule{Table: filter, Chain: "input", Action: accept}, nil); !errors.Is(err, nflab.ErrTxDone) {
		t.Errorf("AddRule after Commit = %v, want ErrTxDone", err)
	}
	rules, err := c.Rules(bg)
	if err != nil {
		t.Fatal(err)
	}
	var comments []string
	for _, r := range rules {
		if r.Chain == "input" {
			comments = append(comments, r.Comment)
		}
	}
	if diff := cmp.Diff([]string{"A", "b2", "c"}, comments); diff != "" {
		t.Errorf("input's rules (-want +got):\n%s", diff)
	}
	s, err := c.Set(bg, "s", true)
	if err != nil || s.Count != 1 || s.Refs != 1 || len(s.Addrs) != 1 || s.Addrs[0].String() != "10.0.0.1-10.0.0.2" {
		t.Errorf("Set(s) = %+v, %v; want 10.0.0.1-10.0.0.2 merged, used once", s, err)
	}
	if _, err := c.Set(bg, "t", false); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Set(deleted) = %v, want ErrNotExist", err)
	}
	// An edit based on an old read fails; on the current one it works.
	old := uint32(0)
	if _, err := c.Begin(bg, &nflab.BeginOptions{Gen: &old}); !errors.Is(err, unix.ESTALE) {
		t.Errorf("Begin(stale generation) = %v, want ESTALE", err)
	}
	tx, err = c.Begin(bg, &nflab.BeginOptions{Gen: &gen})
	if err != nil || tx.Gen() != gen {
		t.Fatalf("Begin(current generation) = %v", err)
	}
	// Every commit makes a generation, as the kernel's, even one that
	// changes nothing.
	if g, err := tx.Commit(bg, false); err != nil || g != gen+1 {
		t.Errorf("empty Commit = %d, %v; want %d", g, err, gen+1)
	}
}

// TestTxOwnership checks that a transaction belongs to its socket: another
// client gets EBUSY, this client's other calls wait for it, and closing
// the client aborts it.
func TestTxOwnership(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	other, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := c.Begin(bg, &nflab.BeginOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Begin(bg, nil); !errors.Is(err, unix.EBUSY) {
		t.Errorf("second Begin = %v, want EBUSY", err)
	}
	// The other client reads meanwhile; this one waits.
	if _, err := other.Rules(bg); err != nil {
		t.Errorf("other client's Rules during a transaction: %v", err)
	}
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if _, err := c.Version(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Version during the client's own transaction = %v, want to wait until its context ends", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Version(bg)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Version returned during the transaction: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := tx.AddRule(bg, nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionDrop}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(bg, false); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Version after Commit: %v", err)
	}

	// Close aborts an open transaction, and does not wait for it.
	if _, err := c.Begin(bg, nil); err != nil {
		t.Fatal(err)
	}
	if !m.TxOpen() {
		t.Fatal("no transaction open")
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the open transaction")
	}
	if m.TxOpen() {
		t.Errorf("transaction still open after Close")
	}
	if _, err := other.Begin(bg, nil); err != nil {
		t.Errorf("Begin after the owner closed: %v", err)
	}
}

// TestTxLostSocket checks that a call ended by its context mid-exchange
// ends the transaction: the socket, and with it the transaction, is gone.
func TestTxLostSocket(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	tx, err := c.Begin(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Stall(nlproto.CMD_RULE_NEW, true)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	if _, err := tx.AddRule(ctx, nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionDrop}}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled AddRule = %v, want DeadlineExceeded", err)
	}
	m.Stall(nlproto.CMD_RULE_NEW, false)
	if m.TxOpen() {
		t.Errorf("transaction open after its socket was discarded")
	}
	if _, err := tx.Commit(bg, false); !errors.Is(err, nflab.ErrTxDone) {
		t.Errorf("Commit of a lost transaction = %v, want ErrTxDone", err)
	}
	// The client goes on with a new socket.
	if _, err := c.Version(bg); err != nil {
		t.Errorf("Version after a lost transaction: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Begin(bg, nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Begin after Close = %v, want net.ErrClosed", err)
	}
}

// TestApplyRulesetBulk loads 10,000 rules and a set of 1,000,000 prefixes
// in one transaction: many messages, in batches, each well under the size
// limits.
func TestApplyRulesetBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk load")
	}
	m, c := dial(t, fakemod.Options{})
	const nRules, nPrefixes = 10000, 1000000
	rs := nftypes.Ruleset{}
	for i := range nRules {
		rs.Rules = append(rs.Rules, nftypes.Rule{Table: nftypes.TableFilter, Chain: "forward",
			Matches: []nftypes.Match{
				{Kind: nftypes.MatchSAddr, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)},
				{Kind: nftypes.MatchSet, SetName: "big", SetField: nftypes.SetFieldDAddr},
			},
			Action: nftypes.Action{Type: nftypes.ActionDrop}, Comment: fmt.Sprint("rule ", i)})
	}
	big := nftypes.Set{Name: "big", Type: nftypes.SetTypeAddr, Addrs: make([]nftypes.AddrRange, nPrefixes)}
	for i := range nPrefixes {
		// /30s four addresses apart: none merge.
		v := uint32(i) * 8
		big.Addrs[i] = nftypes.AddrRangeFrom(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 30))
	}
	rs.Sets = []nftypes.Set{big}
	start := time.Now()
	if _, err := c.ApplyRuleset(bg, rs, nil); err != nil {
		t.Fatalf("ApplyRuleset: %v", err)
	}
	t.Logf("applied %d rules and %d prefixes in %v", nRules, nPrefixes, time.Since(start))
	if n := m.Requests(nlproto.CMD_RULE_NEW); n != nRules {
		t.Errorf("%d RULE_NEW, want %d", n, nRules)
	}
	// 3000 prefixes a message, the first 3000 in SET_NEW.
	if want := (nPrefixes+2999)/3000 - 1; m.Requests(nlproto.CMD_SET_ADD_ELEMS) != want {
		t.Errorf("%d SET_ADD_ELEMS, want %d (3000 prefixes each, the first in SET_NEW)", m.Requests(nlproto.CMD_SET_ADD_ELEMS), want)
	}
	s, err := c.Set(bg, "big", false)
	if err != nil || s.Count != nPrefixes || s.Refs != nRules {
		t.Errorf("Set(big) = count %d refs %d, %v; want %d, %d", s.Count, s.Refs, err, nPrefixes, nRules)
	}
	got, err := c.Ruleset(bg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != nRules || got.Rules[nRules-1].Comment != "rule 9999" || len(got.Sets[0].Addrs) != nPrefixes {
		t.Errorf("Ruleset: %d rules, %d elements", len(got.Rules), len(got.Sets[0].Addrs))
	}
	// A failing change deep in the batches names its place.
	rs.Rules[7777].Chain = "missing"
	rs.Sets = nil // rejected before the commit looks for it
	_, err = c.ApplyRuleset(bg, rs, nil)
	var ce *nflab.ChangeError
	if !errors.As(err, &ce) || ce.Kind != "rules" || ce.Index != 7777 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ApplyRuleset with rule 7777 bad = %v, want a ChangeError for rules[7777]", err)
	}
}

func TestRulesetInterrupted(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	if _, err := c.ApplyRuleset(bg, fullRuleset(), nil); err != nil {
		t.Fatal(err)
	}
	m.InterruptDumps(2)
	if _, err := c.Ruleset(bg); err != nil {
		t.Errorf("Ruleset after 2 interrupted dumps: %v", err)
	}
	m.InterruptDumps(1000)
	if _, err := c.Ruleset(bg); !errors.Is(err, nflab.ErrDumpInterrupted) {
		t.Errorf("Ruleset with every dump interrupted = %v, want ErrDumpInterrupted", err)
	}
	m.InterruptDumps(0)
}

func TestResetRules(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	if _, err := c.ApplyRuleset(bg, fullRuleset(), nil); err != nil {
		t.Fatal(err)
	}
	m.HitRule(5, 3, 300) // the quota rule
	m.HitRule(1, 1, 100)
	r, err := c.Rule(bg, 5)
	if err != nil {
		t.Fatal(err)
	}
	if r.Packets != 3 || r.Bytes != 300 || r.Matches[1].QuotaUsed != 300 {
		t.Errorf("Rule(5) = %d packets, %d bytes, quota used %d; want 3, 300, 300", r.Packets, r.Bytes, r.Matches[1].QuotaUsed)
	}
	h := uint64(5)
	if err := c.ResetRules(bg, &h); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Rule(bg, 5); r.Packets != 0 || r.Matches[1].QuotaUsed != 0 {
		t.Errorf("after ResetRules(5): %d packets, quota used %d", r.Packets, r.Matches[1].QuotaUsed)
	}
	if r, _ := c.Rule(bg, 1); r.Packets != 1 {
		t.Errorf("ResetRules(5) reset rule 1")
	}
	if err := c.ResetRules(bg, nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Rule(bg, 1); r.Packets != 0 {
		t.Errorf("ResetRules(nil) left rule 1 at %d packets", r.Packets)
	}
	h = 999
	if err := c.ResetRules(bg, &h); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ResetRules(999) = %v, want ErrNotExist", err)
	}
	if _, err := c.Rule(bg, 999); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rule(999) = %v, want ErrNotExist", err)
	}
}

func TestRulesUnprivileged(t *testing.T) {
	_, c := dial(t, fakemod.Options{Unprivileged: true})
	if _, err := c.Ruleset(bg); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Ruleset = %v, want ErrPermission", err)
	}
	if _, err := c.Begin(bg, nil); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Begin = %v, want ErrPermission", err)
	}
	// The failed Begin gave the request slot back.
	if _, err := c.Version(bg); err != nil {
		t.Errorf("Version after a failed Begin: %v", err)
	}
}

func TestRulesUnsupported(t *testing.T) {
	_, c := dial(t, fakemod.Options{Missing: []uint8{nlproto.CMD_RULES_BEGIN, nlproto.CMD_CHAIN_GET}})
	if _, err := c.Begin(bg, nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Begin = %v, want ErrUnsupported", err)
	}
	if _, err := c.Chains(bg); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Chains = %v, want ErrUnsupported", err)
	}
}

// TestNATUnsupported checks that a module older than protocol 4, which
// has the commands but not NAT, gets no NAT: every request that would
// carry the nat table, a NAT action or the SRC_NAT and DST_NAT bits fails
// with ErrUnsupported before it is sent (but accept on a nat built-in
// chain, which such a module has in effect, is no change), and the rest
// still works; a transaction that has ended says ErrTxDone first.
func TestNATUnsupported(t *testing.T) {
	m, c := dial(t, fakemod.Options{Protocol: 3})
	unsupported := func(what string, err error) {
		t.Helper()
		var oe *nflab.OpError
		if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &oe) || !strings.Contains(oe.Message, "the module speaks protocol 3") {
			t.Errorf("%s = %v, want ErrUnsupported saying the module speaks protocol 3", what, err)
		}
	}
	sent := func(cmd uint8, want int) {
		t.Helper()
		if n := m.Requests(cmd); n != want {
			t.Errorf("%d requests with command %d sent, want %d", n, cmd, want)
		}
	}

	// Conntrack filters on the NAT status bits; other bits still go.
	_, err := c.Conns(bg, nftypes.ConnFilter{Status: nftypes.StatusSrcNAT})
	unsupported("Conns(SRC_NAT)", err)
	_, err = c.DeleteConns(bg, nftypes.ConnFilter{Proto: nftypes.UDP, Status: nftypes.StatusAssured | nftypes.StatusDstNAT})
	unsupported("DeleteConns(DST_NAT)", err)
	unsupported("CheckConnFilter(DST_NAT)", c.CheckConnFilter(nftypes.ConnFilter{Status: nftypes.StatusDstNAT}))
	sent(nlproto.CMD_CT_GET, 0)
	sent(nlproto.CMD_CT_DELETE, 0)
	if _, err := c.Conns(bg, nftypes.ConnFilter{Status: nftypes.StatusAssured}); err != nil {
		t.Errorf("Conns(ASSURED): %v", err)
	}
	if err := c.CheckConnFilter(nftypes.ConnFilter{Status: nftypes.StatusAssured}); err != nil {
		t.Errorf("CheckConnFilter(ASSURED): %v", err)
	}

	// A transaction's changes; a refused one leaves it usable.
	a := netip.MustParseAddr
	masq := nftypes.Rule{Table: nftypes.TableNAT, Chain: "postrouting", Action: nftypes.Action{Type: nftypes.ActionMasquerade}}
	natAccept := nftypes.Rule{Table: nftypes.TableNAT, Chain: "prerouting", Action: nftypes.Action{Type: nftypes.ActionAccept}}
	ctNAT := nftypes.Rule{Table: nftypes.TableFilter, Chain: "forward",
		Matches: []nftypes.Match{{Kind: nftypes.MatchCTStatus, CTStatus: nftypes.StatusAssured | nftypes.StatusDstNAT}},
		Action:  nftypes.Action{Type: nftypes.ActionAccept}}
	accept := nftypes.Rule{Table: nftypes.TableFilter, Chain: "forward", Action: nftypes.Action{Type: nftypes.ActionAccept}}
	tx, err := c.Begin(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(bg)
	unsupported("AddChain(nat/mine)", tx.AddChain(bg, nftypes.Chain{Table: nftypes.TableNAT, Name: "mine"}))
	unsupported("DeleteChain(nat/mine)", tx.DeleteChain(bg, nftypes.TableNAT, "mine"))
	unsupported("SetPolicy(nat/prerouting, drop)", tx.SetPolicy(bg, nftypes.TableNAT, "prerouting", nftypes.VerdictDrop))
	// Accept is what the module has without a nat table: nothing to do.
	if err := tx.SetPolicy(bg, nftypes.TableNAT, "prerouting", nftypes.VerdictAccept); err != nil {
		t.Errorf("SetPolicy(nat/prerouting, accept) = %v, want nil", err)
	}
	for _, r := range []nftypes.Rule{masq, natAccept, ctNAT} {
		_, err := tx.AddRule(bg, r, nil)
		unsupported(fmt.Sprintf("AddRule(%+v)", r), err)
	}
	h, err := tx.AddRule(bg, accept, nil)
	if err != nil {
		t.Fatal(err)
	}
	unsupported("ReplaceRule(ct status DST_NAT)", tx.ReplaceRule(bg, h, ctNAT))
	for _, cmd := range []uint8{nlproto.CMD_CHAIN_NEW, nlproto.CMD_CHAIN_DEL, nlproto.CMD_CHAIN_POLICY, nlproto.CMD_RULE_REPLACE} {
		sent(cmd, 0)
	}
	sent(nlproto.CMD_RULE_NEW, 1)
	if _, err := tx.Commit(bg, false); err != nil {
		t.Fatalf("Commit after the refused changes: %v", err)
	}

	// An ended transaction says so first, whatever its call would need.
	txDone := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, nflab.ErrTxDone) {
			t.Errorf("%s after Commit = %v, want ErrTxDone", what, err)
		}
	}
	txDone("AddChain(nat/mine)", tx.AddChain(bg, nftypes.Chain{Table: nftypes.TableNAT, Name: "mine"}))
	txDone("DeleteChain(nat/mine)", tx.DeleteChain(bg, nftypes.TableNAT, "mine"))
	txDone("SetPolicy(nat/prerouting, drop)", tx.SetPolicy(bg, nftypes.TableNAT, "prerouting", nftypes.VerdictDrop))
	txDone("SetPolicy(nat/prerouting, accept)", tx.SetPolicy(bg, nftypes.TableNAT, "prerouting", nftypes.VerdictAccept))
	_, err = tx.AddRule(bg, masq, nil)
	txDone("AddRule(masquerade)", err)
	txDone("ReplaceRule(ct status DST_NAT)", tx.ReplaceRule(bg, h, ctNAT))

	// ApplyRuleset: a chain or rule that needs NAT fails the whole,
	// naming it, before anything is sent.
	builtins := nftypes.BuiltinChains()
	// nat is the last table: its four chains end the list.
	firstNAT := slices.IndexFunc(builtins, func(ch nftypes.Chain) bool { return ch.Table == nftypes.TableNAT })
	dropNAT := slices.Clone(builtins)
	dropNAT[firstNAT+3].Policy = nftypes.VerdictDrop
	begins := m.Requests(nlproto.CMD_RULES_BEGIN)
	for _, tt := range []struct {
		rs    nftypes.Ruleset
		kind  nflab.ChangeKind
		index int
		name  string
	}{
		{nftypes.Ruleset{Chains: dropNAT}, nflab.ChangeChains, firstNAT + 3, "nat/postrouting"},
		{nftypes.Ruleset{Chains: []nftypes.Chain{{Table: nftypes.TableNAT, Name: "mine"}}}, nflab.ChangeChains, 0, "nat/mine"},
		{nftypes.Ruleset{Chains: builtins, Rules: []nftypes.Rule{accept, ctNAT}}, nflab.ChangeRules, 1, "filter/forward"},
		{nftypes.Ruleset{Rules: []nftypes.Rule{{Table: nftypes.TableNAT, Chain: "postrouting",
			Matches: []nftypes.Match{{Kind: nftypes.MatchProto, Proto: nftypes.TCP}},
			Action:  nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.1"), Ports: &nftypes.PortRange{First: 1024, Last: 2047}}}}},
			nflab.ChangeRules, 0, "nat/postrouting"},
	} {
		_, err := c.ApplyRuleset(bg, tt.rs, nil)
		var ce *nflab.ChangeError
		if !errors.As(err, &ce) || ce.Kind != tt.kind || ce.Index != tt.index || ce.Name != tt.name {
			t.Errorf("ApplyRuleset = %v, want a change error for %s[%d] %s", err, tt.kind, tt.index, tt.name)
		}
		unsupported("ApplyRuleset", err)
	}
	sent(nlproto.CMD_RULES_BEGIN, begins)

	// The nat built-in chains that accept, as a parsed ruleset lists
	// them, are left out; the other chains' indices stay those of rs.
	policies := m.Requests(nlproto.CMD_CHAIN_POLICY)
	rs := nftypes.Ruleset{Chains: append(slices.Clone(builtins), nftypes.Chain{Table: nftypes.TableFilter, Name: "web"}), Rules: []nftypes.Rule{accept}}
	if _, err := c.ApplyRuleset(bg, rs, nil); err != nil {
		t.Fatalf("ApplyRuleset with nat's accepting built-in chains: %v", err)
	}
	sent(nlproto.CMD_CHAIN_POLICY, policies+firstNAT)
	m.Fail(nlproto.CMD_CHAIN_NEW, unix.EEXIST, "")
	_, err = c.ApplyRuleset(bg, rs, nil)
	var ce *nflab.ChangeError
	if !errors.As(err, &ce) || ce.Kind != nflab.ChangeChains || ce.Index != len(builtins) || ce.Name != "filter/web" {
		t.Errorf("ApplyRuleset with a failing user chain = %v, want a change error for chains[%d] filter/web", err, len(builtins))
	}
}

// TestNATSupported checks that the protocol 4 module gets what a protocol
// 3 one does not.
func TestNATSupported(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	if _, err := c.Conns(bg, nftypes.ConnFilter{Status: nftypes.StatusSrcNAT}); err != nil {
		t.Errorf("Conns(SRC_NAT): %v", err)
	}
	if err := c.CheckConnFilter(nftypes.ConnFilter{Status: nftypes.StatusSrcNAT | nftypes.StatusDstNAT}); err != nil {
		t.Errorf("CheckConnFilter(SRC_NAT|DST_NAT): %v", err)
	}
	var ve *nflab.ValidationError
	if err := c.CheckConnFilter(nftypes.ConnFilter{Proto: nftypes.Proto(99)}); !errors.As(err, &ve) {
		t.Errorf("CheckConnFilter(proto 99) = %v, want a *ValidationError", err)
	}
	rs := nftypes.Ruleset{Chains: nftypes.BuiltinChains(), Rules: []nftypes.Rule{
		{Table: nftypes.TableNAT, Chain: "postrouting", Action: nftypes.Action{Type: nftypes.ActionMasquerade}}}}
	if _, err := c.ApplyRuleset(bg, rs, nil); err != nil {
		t.Fatalf("ApplyRuleset: %v", err)
	}
	if got, want := m.Requests(nlproto.CMD_CHAIN_POLICY), len(rs.Chains); got != want {
		t.Errorf("%d policies sent, want %d: nat's too", got, want)
	}
}
