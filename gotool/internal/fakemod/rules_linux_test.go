//go:build linux

package fakemod_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// client is the backend on a fresh fake module, so that rules reach the
// fake without nftypes' checks.
func client(t *testing.T) *nlclient.Client {
	t.Helper()
	fakemod.New(fakemod.Options{}).Install(t)
	c, err := nlclient.Dial(-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addRule(t *testing.T, c *nlclient.Client, r nftypes.Rule) error {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	if _, err := tx.AddRule(ctx, r, false, 0); err != nil {
		return err
	}
	_, err = tx.Commit(ctx, false)
	return err
}

// TestEcho checks that a rule reads back as it was sent: defaults left
// out stay out (Burst 0, no PrefixLen, To 0, Mask 0), as the kernel
// echoes the request's bytes.
func TestEcho(t *testing.T) {
	c := client(t)
	r := nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Matches: []nftypes.Match{
		{Kind: nftypes.MatchLimit, Rate: 3, Period: time.Second},
		{Kind: nftypes.MatchConnlimit, Count: 2},
		{Kind: nftypes.MatchString, Pattern: []byte("x"), Algo: nftypes.AlgoBM},
		{Kind: nftypes.MatchMark, Mark: 1},
		{Kind: nftypes.MatchQuota, QuotaBytes: 10},
		{Kind: nftypes.MatchQuota, QuotaBytes: 20},
	}, Action: nftypes.Action{Type: nftypes.ActionMark, Value: 1}}
	if err := addRule(t, c, r); err != nil {
		t.Fatal(err)
	}
	rules, _, err := c.Rules(context.Background())
	if err != nil || len(rules) != 1 {
		t.Fatalf("Rules = %v, %v", rules, err)
	}
	r.Handle = rules[0].Handle
	if diff := cmp.Diff(r, rules[0], cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("read back (-sent +got):\n%s", diff)
	}
}

// TestModuleChecks checks the fake's own checks, made as the kernel's:
// rules that reach it unchecked are refused with the kernel's errno.
func TestModuleChecks(t *testing.T) {
	accept := nftypes.Action{Type: nftypes.ActionAccept}
	for _, tt := range []struct {
		r     nftypes.Rule
		errno unix.Errno
		msg   string // the extended ACK, if given
	}{
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchConnlimit, Count: 65536}}, Action: accept}, unix.ERANGE, "connlimit: at most 65535"},
		{nftypes.Rule{Table: nftypes.TableRaw, Chain: "prerouting", Matches: []nftypes.Match{{Kind: nftypes.MatchConnlimit, Count: 1}}, Action: accept}, unix.EINVAL, "connlimit cannot be used in the raw table: it runs before tracking"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 1, Period: time.Second, Burst: 1000001}}, Action: accept}, unix.EINVAL, ""},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 2000000000, Period: time.Second}}, Action: accept}, unix.ERANGE, "limit: rate too high"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 1, Period: 24 * time.Hour, Burst: 300000}}, Action: accept}, unix.ERANGE, "limit: burst too large for this rate"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionLog, LogPrefix: "caf\u00e9"}}, unix.EINVAL, "log: the prefix holds an unprintable byte"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionMark, Value: 3, Mask: 1}}, unix.EINVAL, "mark: value has bits outside its mask"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionMark, Value: 1}}, unix.EINVAL, "this action is for the mangle table"},
		// The table comes before the values, as in nflab_action_parse.
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionTOS, Value: 256}}, unix.EINVAL, "this action is for the mangle table"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionTOS, Value: 256}}, unix.ERANGE, "tos: 0 to 255"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionReject}}, unix.EINVAL, "reject is for the filter table"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionNotrack}}, unix.EINVAL, "notrack is for the raw table"},
	} {
		err := addRule(t, client(t), tt.r)
		if !errors.Is(err, tt.errno) || (tt.msg != "" && !strings.HasSuffix(err.Error(), ": "+tt.msg)) {
			t.Errorf("%+v: %v, want %v: %s", tt.r, err, tt.errno, tt.msg)
		}
	}
}

// TestHookThroughJumps checks the commit's interface check through jumps:
// oif in a user chain that filter/input jumps to is refused.
func TestHookThroughJumps(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	if err := tx.AddChain(ctx, nftypes.Chain{Table: nftypes.TableFilter, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []nftypes.Rule{
		{Table: nftypes.TableFilter, Chain: "web", Matches: []nftypes.Match{{Kind: nftypes.MatchOIF, Iface: "eth0"}}, Action: nftypes.Action{Type: nftypes.ActionDrop}},
		{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionJump, Chain: "web"}},
	} {
		if _, err := tx.AddRule(ctx, r, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err = tx.Commit(ctx, false)
	if want := "rule 1 (handle 1) in filter/web: oif cannot match at a hook this chain runs at"; !errors.Is(err, unix.EINVAL) || !strings.HasSuffix(err.Error(), ": "+want) {
		t.Errorf("Commit = %v, want EINVAL: %s", err, want)
	}
}

// commitRules adds the user chains of table nat and the rules in one
// transaction, then commits it: the commit's error, or an AddRule's.
func commitRules(t *testing.T, c *nlclient.Client, chains []string, rules ...nftypes.Rule) error {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	for _, name := range chains {
		if err := tx.AddChain(ctx, nftypes.Chain{Table: nftypes.TableNAT, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range rules {
		if _, err := tx.AddRule(ctx, r, false, 0); err != nil {
			return err
		}
	}
	_, err = tx.Commit(ctx, false)
	return err
}

// TestNATChecks checks the NAT actions against the module's checks, at
// RULE_NEW and at commit, errno and extended ACK: rules sent by the
// backend, unchecked by nftypes.
func TestNATChecks(t *testing.T) {
	a := netip.MustParseAddr
	nat := func(chain string, act nftypes.Action, ms ...nftypes.Match) nftypes.Rule {
		return nftypes.Rule{Table: nftypes.TableNAT, Chain: chain, Matches: ms, Action: act}
	}
	tcp := nftypes.Match{Kind: nftypes.MatchProto, Proto: nftypes.TCP}
	snat := nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.1")}
	dnat := nftypes.Action{Type: nftypes.ActionDNAT, Addr: a("10.0.2.2")}
	masq := nftypes.Action{Type: nftypes.ActionMasquerade}
	redir := nftypes.Action{Type: nftypes.ActionRedirect}
	jump := func(to string) nftypes.Action { return nftypes.Action{Type: nftypes.ActionJump, Chain: to} }
	for _, tt := range []struct {
		name   string
		chains []string
		rules  []nftypes.Rule
		errno  unix.Errno // 0: committed
		msg    string
	}{
		// At RULE_NEW: the attributes, in order, then the table, then
		// the values.
		{name: "snat in filter", rules: []nftypes.Rule{{Table: nftypes.TableFilter, Chain: "input", Action: snat}},
			errno: unix.EINVAL, msg: "NAT actions are for the nat table"},
		{name: "masquerade in mangle", rules: []nftypes.Rule{{Table: nftypes.TableMangle, Chain: "postrouting", Action: masq}},
			errno: unix.EINVAL, msg: "NAT actions are for the nat table"},
		{name: "snat without address in filter", rules: []nftypes.Rule{{Table: nftypes.TableFilter, Chain: "input",
			Action: nftypes.Action{Type: nftypes.ActionSNAT}}}, errno: unix.EINVAL, msg: "action: missing attribute"},
		{name: "snat without address", rules: []nftypes.Rule{nat("postrouting", nftypes.Action{Type: nftypes.ActionSNAT, Ports: &nftypes.PortRange{First: 1, Last: 2}}, tcp)},
			errno: unix.EINVAL, msg: "action: missing attribute"},
		{name: "masquerade with an address", rules: []nftypes.Rule{nat("postrouting", nftypes.Action{Type: nftypes.ActionMasquerade, Addr: a("192.0.2.1")})},
			errno: unix.EINVAL, msg: "attribute not taken by this action"},
		{name: "redirect with an address range's end", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionRedirect, AddrEnd: a("192.0.2.1")})},
			errno: unix.EINVAL, msg: "attribute not taken by this action"},
		{name: "dnat with a range's end only", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, AddrEnd: a("10.0.2.5")})},
			errno: unix.EINVAL, msg: "nat: an address range needs its first address"},
		{name: "dnat with nothing", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT})},
			errno: unix.EINVAL, msg: "dnat: needs an address or a port range"},
		{name: "snat range backwards", rules: []nftypes.Rule{nat("postrouting", nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.9"), AddrEnd: a("192.0.2.1")})},
			errno: unix.EINVAL, msg: "nat: the address range is backwards"},
		{name: "ports backwards", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 90, Last: 80}}, tcp)},
			errno: unix.EINVAL, msg: "nat: the port range is backwards"},
		{name: "port 0", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionRedirect, Ports: &nftypes.PortRange{First: 0, Last: 80}}, tcp)},
			errno: unix.ERANGE, msg: "nat: ports are 1 to 65535"},
		{name: "port 0 to 0", rules: []nftypes.Rule{nat("postrouting", nftypes.Action{Type: nftypes.ActionMasquerade, Ports: &nftypes.PortRange{}}, tcp)},
			errno: unix.ERANGE, msg: "nat: ports are 1 to 65535"},
		{name: "unknown flags", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, Addr: a("10.0.2.2"), NATFlags: 0x10})},
			errno: unix.EINVAL, msg: "reserved bit set"},
		{name: "fullcone dnat", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, Addr: a("10.0.2.2"), NATFlags: nftypes.NATFullcone})},
			errno: unix.EINVAL, msg: "nat: fullcone is for snat and masquerade"},
		{name: "reject in nat", rules: []nftypes.Rule{nat("input", nftypes.Action{Type: nftypes.ActionReject})},
			errno: unix.EINVAL, msg: "reject is for the filter table"},
		{name: "notrack in nat", rules: []nftypes.Rule{nat("output", nftypes.Action{Type: nftypes.ActionNotrack})},
			errno: unix.EINVAL, msg: "notrack is for the raw table"},
		{name: "mark in nat", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionMark, Value: 1})},
			errno: unix.EINVAL, msg: "this action is for the mangle table"},
		{name: "ttl in nat", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionTTL, TTLMode: nftypes.TTLSet, Value: 1})},
			errno: unix.EINVAL, msg: "this action is for the mangle table"},

		// What nat allows.
		{name: "every action where it acts", chains: []string{"pre"}, rules: []nftypes.Rule{
			nat("prerouting", nftypes.Action{Type: nftypes.ActionAccept}),
			nat("prerouting", nftypes.Action{Type: nftypes.ActionLog, LogPrefix: "nat: "}),
			nat("prerouting", nftypes.Action{Type: nftypes.ActionContinue}),
			nat("prerouting", jump("pre")),
			nat("pre", nftypes.Action{Type: nftypes.ActionReturn}),
			nat("pre", nftypes.Action{Type: nftypes.ActionDNAT, Addr: a("10.0.2.2"), AddrEnd: a("10.0.2.5"), NATFlags: nftypes.NATPersistent}),
			nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 8080, Last: 8080}}, tcp),
			nat("prerouting", redir),
			nat("output", dnat),
			nat("output", nftypes.Action{Type: nftypes.ActionRedirect, Ports: &nftypes.PortRange{First: 8080, Last: 8080}},
				nftypes.Match{Kind: nftypes.MatchProto, Proto: nftypes.UDP}),
			nat("input", snat),
			nat("postrouting", nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.1"), AddrEnd: a("192.0.2.9"),
				Ports: &nftypes.PortRange{First: 1024, Last: 65535}, NATFlags: nftypes.NATRandom | nftypes.NATFullyRandom}, tcp),
			nat("postrouting", masq),
			nat("postrouting", nftypes.Action{Type: nftypes.ActionDrop}),
		}},

		// At commit: the hooks a chain is reached from.
		{name: "snat at prerouting", rules: []nftypes.Rule{nat("prerouting", snat)},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/prerouting: snat cannot act at a hook this chain runs at"},
		{name: "dnat at postrouting", rules: []nftypes.Rule{nat("postrouting", masq), nat("postrouting", dnat)},
			errno: unix.EINVAL, msg: "rule 2 (handle 2) in nat/postrouting: dnat cannot act at a hook this chain runs at"},
		{name: "masquerade at input", rules: []nftypes.Rule{nat("input", masq)},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/input: masquerade cannot act at a hook this chain runs at"},
		{name: "redirect at input", rules: []nftypes.Rule{nat("input", redir)},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/input: redirect cannot act at a hook this chain runs at"},
		{name: "dnat through a jump from input", chains: []string{"a", "b"}, rules: []nftypes.Rule{
			nat("a", nftypes.Action{Type: nftypes.ActionGoto, Chain: "b"}),
			nat("b", dnat),
			nat("prerouting", jump("a")),
			nat("input", jump("a")),
		}, errno: unix.EINVAL, msg: "rule 1 (handle 2) in nat/b: dnat cannot act at a hook this chain runs at"},
		{name: "dnat through jumps from prerouting and output", chains: []string{"a", "b"}, rules: []nftypes.Rule{
			nat("a", nftypes.Action{Type: nftypes.ActionGoto, Chain: "b"}),
			nat("b", dnat),
			nat("prerouting", jump("a")),
			nat("output", jump("b")),
		}},
		{name: "snat in a chain no hook reaches", chains: []string{"alone"}, rules: []nftypes.Rule{nat("alone", snat)}},

		// At commit: a port range needs its protocol.
		{name: "port range without protocol", rules: []nftypes.Rule{nat("prerouting", nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 80, Last: 80}})},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/prerouting: a port range needs the rule to match protocol tcp or udp"},
		{name: "port range with a negated protocol", rules: []nftypes.Rule{nat("postrouting",
			nftypes.Action{Type: nftypes.ActionMasquerade, Ports: &nftypes.PortRange{First: 1024, Last: 2047}},
			nftypes.Match{Kind: nftypes.MatchProto, Invert: true, Proto: nftypes.TCP})},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/postrouting: a port range needs the rule to match protocol tcp or udp"},
		{name: "port range with icmp", rules: []nftypes.Rule{nat("postrouting",
			nftypes.Action{Type: nftypes.ActionSNAT, Addr: a("192.0.2.1"), Ports: &nftypes.PortRange{First: 1024, Last: 2047}},
			nftypes.Match{Kind: nftypes.MatchProto, Proto: nftypes.ICMP})},
			errno: unix.EINVAL, msg: "rule 1 (handle 1) in nat/postrouting: a port range needs the rule to match protocol tcp or udp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := commitRules(t, client(t), tt.chains, tt.rules...)
			switch {
			case tt.errno == 0 && err != nil:
				t.Errorf("= %v, want it committed", err)
			case tt.errno != 0 && (!errors.Is(err, tt.errno) || err == nil || !strings.HasSuffix(err.Error(), ": "+tt.msg)):
				t.Errorf("= %v, want %v: %s", err, tt.errno, tt.msg)
			}
		})
	}
}

// TestNATEcho checks that NAT rules read back as they were sent.
func TestNATEcho(t *testing.T) {
	c := client(t)
	tcp := nftypes.Match{Kind: nftypes.MatchProto, Proto: nftypes.TCP}
	rules := []nftypes.Rule{
		{Table: nftypes.TableNAT, Chain: "prerouting", Matches: []nftypes.Match{tcp},
			Action: nftypes.Action{Type: nftypes.ActionDNAT, Ports: &nftypes.PortRange{First: 8080, Last: 8080}}},
		{Table: nftypes.TableNAT, Chain: "postrouting", Matches: []nftypes.Match{tcp},
			Action: nftypes.Action{Type: nftypes.ActionSNAT, Addr: netip.MustParseAddr("192.0.2.1"), AddrEnd: netip.MustParseAddr("192.0.2.9"),
				Ports: &nftypes.PortRange{First: 1024, Last: 2047}, NATFlags: nftypes.NATRandom | nftypes.NATPersistent}},
		{Table: nftypes.TableNAT, Chain: "postrouting", Action: nftypes.Action{Type: nftypes.ActionMasquerade, NATFlags: nftypes.NATFullyRandom}},
	}
	if err := commitRules(t, c, nil, rules...); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range rules {
		rules[i].Handle = uint64(i + 1)
	}
	if diff := cmp.Diff(rules, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("read back (-sent +got):\n%s", diff)
	}
}

// attr is one raw attribute: its type field (flags included) and payload.
type attr struct {
	typ  uint16
	data []byte
}

// rawNest encodes attrs as they are, padded to 4 bytes, then tail.
func rawNest(tail []byte, attrs ...attr) []byte {
	var b []byte
	for _, a := range attrs {
		b = binary.NativeEndian.AppendUint16(b, uint16(4+len(a.data)))
		b = binary.NativeEndian.AppendUint16(b, a.typ)
		b = append(b, a.data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return append(b, tail...)
}

func u8(t uint16, v uint8) attr { return attr{t, []byte{v}} }
func u32(t uint16, v uint32) attr {
	return attr{t, binary.NativeEndian.AppendUint32(nil, v)}
}
func ip(t uint16, s string) attr {
	a := netip.MustParseAddr(s).As4()
	return attr{t, a[:]}
}
func str(t uint16, s string) attr { return attr{t, append([]byte(s), 0)} }

// rawModule is a fresh fake module on a raw generic netlink socket, with
// a transaction begun: do sends one request, as it is, and returns the
// error it gets back.
func rawModule(t *testing.T) (do func(cmd uint8, attrs []byte) error) {
	t.Helper()
	m := fakemod.New(fakemod.Options{})
	nc, err := m.Dial(0)
	if err != nil {
		t.Fatal(err)
	}
	c := genetlink.NewConn(nc)
	t.Cleanup(func() { _ = c.Close() })
	do = func(cmd uint8, attrs []byte) error {
		_, err := c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: nlproto.GENL_VERSION}, Data: attrs},
			fakemod.FamilyID, netlink.Request|netlink.Acknowledge)
		if err == nil && cmd == nlproto.CMD_RULE_NEW {
			// Its reply came first; then its ACK.
			_, _, err = c.Receive()
		}
		return err
	}
	if err := do(nlproto.CMD_RULES_BEGIN, nil); err != nil {
		t.Fatal(err)
	}
	return do
}

// TestActionPolicy sends actions as raw bytes, past what the client would
// encode, and checks the fake answers as the kernel's nflab_action_policy
// (lib/nlattr.c's strict validation) and nflab_action_parse would: each
// attribute's policy in the order the attributes come, before the type's
// presence, the attributes the action takes and its table; the kernel's
// errno and words.
func TestActionPolicy(t *testing.T) {
	typ := func(a uint8) attr { return u8(nlproto.ACTION_A_TYPE, a) }
	snat, dnat := typ(nlproto.ACTION_SNAT), typ(nlproto.ACTION_DNAT)
	addr := ip(nlproto.ACTION_A_ADDR, "192.0.2.1")
	for _, tt := range []struct {
		name   string
		table  uint8  // 0: nat
		chain  string // "": the table's input
		pos    uint64 // a rule to add after: none is there
		web    bool   // a user chain web in the table, and a commit after the rule
		action []byte
		errno  unix.Errno // 0: added
		msg    string
	}{
		{name: "snat", action: rawNest(nil, snat, addr)},
		{name: "the last type counts", action: rawNest(nil, typ(nlproto.ACTION_MASQUERADE), snat, addr)},
		// The commit resolves the jump's target by name: web, cut at
		// the NUL, or it fails with ENOENT.
		{name: "a chain name up to a NUL", table: nlproto.TABLE_FILTER, web: true, action: rawNest(nil, typ(nlproto.ACTION_JUMP),
			attr{nlproto.ACTION_A_CHAIN, []byte("web\x00x")})},

		// The policy: NLA_POLICY_RANGE, NLA_POLICY_MASK, lengths, types.
		{name: "type past redirect", action: rawNest(nil, typ(nlproto.ACTION_MAX+1)),
			errno: unix.ERANGE, msg: "integer out of range"},
		{name: "type 0", action: rawNest(nil, typ(0)), errno: unix.ERANGE, msg: "integer out of range"},
		{name: "reject-with past its range", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, typ(nlproto.ACTION_REJECT), u8(nlproto.ACTION_A_REJECT_WITH, nlproto.REJECT_MAX+1)),
			errno:  unix.ERANGE, msg: "integer out of range"},
		{name: "unknown nat flag", action: rawNest(nil, snat, addr, u32(nlproto.ACTION_A_NAT_FLAGS, nlproto.NAT_F_ALL+1)),
			errno: unix.EINVAL, msg: "reserved bit set"},
		{name: "a 3-byte address", action: rawNest(nil, snat, attr{nlproto.ACTION_A_ADDR, []byte{192, 0, 2}}),
			errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "a 5-byte range end", action: rawNest(nil, snat, addr, attr{nlproto.ACTION_A_ADDR_END, []byte{192, 0, 2, 9, 0}}),
			errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "a 2-byte port range", action: rawNest(nil, dnat, attr{nlproto.ACTION_A_PORT_RANGE, []byte{0, 80}}),
			errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "a u32 type", action: rawNest(nil, u32(nlproto.ACTION_A_TYPE, nlproto.ACTION_SNAT), addr),
			errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "an address flagged nested", action: rawNest(nil, snat, attr{nlproto.ACTION_A_ADDR | unix.NLA_F_NESTED, addr.data}),
			errno: unix.EINVAL, msg: "NLA_F_NESTED not expected"},
		{name: "an attribute past the last", action: rawNest(nil, snat, addr, u32(nlproto.ACTION_A_MAX+1, 0)),
			errno: unix.EINVAL, msg: "Unknown attribute type"},
		{name: "attribute 0", action: rawNest(nil, u32(0, 0), snat, addr), errno: unix.EINVAL, msg: "Unknown attribute type"},
		{name: "bytes left over", action: rawNest([]byte{1, 2}, snat, addr),
			errno: unix.EINVAL, msg: "bytes leftover after parsing attributes"},
		{name: "a chain name without NUL", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, typ(nlproto.ACTION_JUMP), attr{nlproto.ACTION_A_CHAIN, []byte("web")}),
			errno:  unix.EINVAL, msg: "Attribute failed policy validation"},
		// No NUL within the longest name and its NUL: EINVAL; one there
		// but more bytes after it than a name may have: ERANGE.
		{name: "a chain name too long", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, typ(nlproto.ACTION_JUMP), str(nlproto.ACTION_A_CHAIN, strings.Repeat("c", nlproto.NAME_MAXLEN))),
			errno:  unix.EINVAL, msg: "Attribute failed policy validation"},
		{name: "a chain attribute too long", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, typ(nlproto.ACTION_JUMP), attr{nlproto.ACTION_A_CHAIN, []byte("c\x00" + strings.Repeat("x", nlproto.NAME_MAXLEN))}),
			errno:  unix.ERANGE, msg: "Attribute failed policy validation"},

		// The order: attribute by attribute as they come, the whole
		// policy before the type's presence, the attributes taken and
		// the table; the chain and position before the action.
		{name: "flags before a bad type", action: rawNest(nil, u32(nlproto.ACTION_A_NAT_FLAGS, 1<<31), typ(99)),
			errno: unix.EINVAL, msg: "reserved bit set"},
		{name: "a bad type before flags", action: rawNest(nil, typ(99), u32(nlproto.ACTION_A_NAT_FLAGS, 1<<31)),
			errno: unix.ERANGE, msg: "integer out of range"},
		{name: "bad flags without a type", action: rawNest(nil, addr, u32(nlproto.ACTION_A_NAT_FLAGS, 1<<31)),
			errno: unix.EINVAL, msg: "reserved bit set"},
		{name: "no type", action: rawNest(nil, addr), errno: unix.EINVAL, msg: "action: missing type"},
		{name: "policy before the table", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, snat, attr{nlproto.ACTION_A_ADDR, []byte{1}}), errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "policy before attributes not taken", action: rawNest(nil, typ(nlproto.ACTION_MASQUERADE), addr,
			u32(nlproto.ACTION_A_PORT_RANGE, 80<<16|80), attr{nlproto.ACTION_A_NAT_FLAGS, []byte{1}}),
			errno: unix.EINVAL, msg: "invalid attribute length"},
		{name: "attributes not taken before the table", table: nlproto.TABLE_FILTER,
			action: rawNest(nil, typ(nlproto.ACTION_MASQUERADE), addr), errno: unix.EINVAL, msg: "attribute not taken by this action"},
		{name: "an unknown chain before the action", chain: "nosuch", action: rawNest(nil, typ(99)), errno: unix.ENOENT},
		{name: "an unknown position before the action", pos: 99, action: rawNest(nil, typ(99)), errno: unix.ENOENT},

		// Then nflab_nat_decode, in its order.
		{name: "a range end without its address, and backwards", action: rawNest(nil, dnat, ip(nlproto.ACTION_A_ADDR_END, "10.0.0.1"),
			u32(nlproto.ACTION_A_PORT_RANGE, 90<<16|80)), errno: unix.EINVAL, msg: "nat: an address range needs its first address"},
		{name: "addresses backwards before ports 0", action: rawNest(nil, dnat, ip(nlproto.ACTION_A_ADDR, "10.0.0.9"),
			ip(nlproto.ACTION_A_ADDR_END, "10.0.0.1"), u32(nlproto.ACTION_A_PORT_RANGE, 0)), errno: unix.EINVAL, msg: "nat: the address range is backwards"},
		{name: "port 0 before ports backwards", action: rawNest(nil, dnat, u32(nlproto.ACTION_A_PORT_RANGE, 90<<16)),
			errno: unix.ERANGE, msg: "nat: ports are 1 to 65535"},
		{name: "ports backwards before fullcone", action: rawNest(nil, dnat, u32(nlproto.ACTION_A_PORT_RANGE, 90<<16|80),
			u32(nlproto.ACTION_A_NAT_FLAGS, nlproto.NAT_F_FULLCONE)), errno: unix.EINVAL, msg: "nat: the port range is backwards"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			table, chain := uint8(nlproto.TABLE_NAT), "input"
			if tt.table != 0 {
				table = tt.table
			}
			if tt.chain != "" {
				chain = tt.chain
			}
			do := rawModule(t)
			if tt.web {
				if err := do(nlproto.CMD_CHAIN_NEW, rawNest(nil, attr{nlproto.A_CHAIN | unix.NLA_F_NESTED,
					rawNest(nil, u8(nlproto.CHAIN_A_TABLE, table), str(nlproto.CHAIN_A_NAME, "web"))})); err != nil {
					t.Fatal(err)
				}
			}
			rule := []attr{u8(nlproto.RULE_A_TABLE, table), str(nlproto.RULE_A_CHAIN, chain), {nlproto.RULE_A_ACTION | unix.NLA_F_NESTED, tt.action}}
			if tt.pos != 0 {
				rule = append(rule, attr{nlproto.RULE_A_POSITION, binary.NativeEndian.AppendUint64(nil, tt.pos)})
			}
			err := do(nlproto.CMD_RULE_NEW, rawNest(nil, attr{nlproto.A_RULE | unix.NLA_F_NESTED, rawNest(nil, rule...)}))
			var oe *netlink.OpError
			switch {
			case tt.errno == 0 && err != nil:
				t.Errorf("RULE_NEW = %v, want it added", err)
			case tt.errno == 0:
				if tt.web {
					if err := do(nlproto.CMD_RULES_COMMIT, nil); err != nil {
						t.Errorf("RULES_COMMIT = %v, want the rule committed", err)
					}
				}
			case !errors.As(err, &oe) || oe.Err != tt.errno || (tt.msg != "" && oe.Message != tt.msg):
				t.Errorf("RULE_NEW = %v, want %v: %q", err, tt.errno, tt.msg)
			}
		})
	}
}

// TestRuleMatches sends a rule's matches as raw bytes and checks that the
// fake decodes them where nflab_rule_nl_new and nflab_rule_nl_replace have
// nflab_rule_create do it: after the chain (or the replaced rule), the
// position and the room, match by match, with E2BIG at the one past
// RULE_MATCHES_MAX, whatever it holds; the kernel's errno and words.
func TestRuleMatches(t *testing.T) {
	match := func(kind uint16, attrs ...attr) attr { return attr{kind | unix.NLA_F_NESTED, rawNest(nil, attrs...)} }
	tcp := match(nlproto.MATCH_PROTO, u8(nlproto.MATCH_A_PROTO, 6))
	// A match without its required attribute: nflab_match_parse's EINVAL.
	bad := match(nlproto.MATCH_PROTO)
	some := func(n int, last ...attr) []attr {
		ms := make([]attr, 0, n+len(last))
		for range n {
			ms = append(ms, tcp)
		}
		return append(ms, last...)
	}
	accept := attr{nlproto.RULE_A_ACTION | unix.NLA_F_NESTED, rawNest(nil, u8(nlproto.ACTION_A_TYPE, nlproto.ACTION_ACCEPT))}
	for _, tt := range []struct {
		name    string
		replace bool   // RULE_REPLACE of the rule added first, or of handle 99 if chain is set
		chain   string // "": filter/input
		pos     uint64 // a rule to add after: none is there
		matches []attr
		errno   unix.Errno // 0: added
		msg     string
	}{
		{name: "the most matches", matches: some(nlproto.RULE_MATCHES_MAX)},
		{name: "one too many", matches: some(nlproto.RULE_MATCHES_MAX + 1), errno: unix.E2BIG, msg: "too many matches"},
		{name: "one too many, and bad", matches: some(nlproto.RULE_MATCHES_MAX, bad), errno: unix.E2BIG, msg: "too many matches"},
		{name: "a bad one last of the most", matches: some(nlproto.RULE_MATCHES_MAX-1, bad), errno: unix.EINVAL},
		{name: "a bad one before too many", matches: append([]attr{bad}, some(nlproto.RULE_MATCHES_MAX)...), errno: unix.EINVAL},
		{name: "an unknown match", matches: []attr{tcp, match(nlproto.MATCH_MAX + 1)}, errno: unix.EOPNOTSUPP, msg: "unknown match"},
		{name: "match 0", matches: []attr{match(0, u8(nlproto.MATCH_A_PROTO, 6))}, errno: unix.EOPNOTSUPP, msg: "unknown match"},
		{name: "a bad match in an unknown chain", chain: "nosuch", matches: []attr{bad}, errno: unix.ENOENT},
		{name: "too many matches in an unknown chain", chain: "nosuch", matches: some(nlproto.RULE_MATCHES_MAX + 1), errno: unix.ENOENT},
		{name: "a bad match at an unknown position", pos: 99, matches: []attr{bad}, errno: unix.ENOENT},
		{name: "a bad match replacing an unknown rule", replace: true, chain: "input", matches: []attr{bad}, errno: unix.ENOENT},
		{name: "too many matches in a replacement", replace: true, matches: some(nlproto.RULE_MATCHES_MAX + 1), errno: unix.E2BIG, msg: "too many matches"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			do := rawModule(t)
			chain := "input"
			if tt.chain != "" {
				chain = tt.chain
			}
			cmd, rule := uint8(nlproto.CMD_RULE_NEW), []attr{u8(nlproto.RULE_A_TABLE, nlproto.TABLE_FILTER), str(nlproto.RULE_A_CHAIN, chain)}
			if tt.replace {
				handle := uint64(99)
				if tt.chain == "" {
					if err := do(nlproto.CMD_RULE_NEW, rawNest(nil, attr{nlproto.A_RULE | unix.NLA_F_NESTED, rawNest(nil, append(rule, accept)...)})); err != nil {
						t.Fatal(err)
					}
					handle = 1
				}
				cmd, rule = nlproto.CMD_RULE_REPLACE, []attr{{nlproto.RULE_A_HANDLE, binary.NativeEndian.AppendUint64(nil, handle)}}
			}
			if tt.pos != 0 {
				rule = append(rule, attr{nlproto.RULE_A_POSITION, binary.NativeEndian.AppendUint64(nil, tt.pos)})
			}
			rule = append(rule, attr{nlproto.RULE_A_MATCHES | unix.NLA_F_NESTED, rawNest(nil, tt.matches...)}, accept)
			err := do(cmd, rawNest(nil, attr{nlproto.A_RULE | unix.NLA_F_NESTED, rawNest(nil, rule...)}))
			var oe *netlink.OpError
			switch {
			case tt.errno == 0 && err != nil:
				t.Errorf("= %v, want it added", err)
			case tt.errno == 0:
			case !errors.As(err, &oe) || oe.Err != tt.errno || (tt.msg != "" && oe.Message != tt.msg):
				t.Errorf("= %v, want %v: %q", err, tt.errno, tt.msg)
			}
		})
	}
}
