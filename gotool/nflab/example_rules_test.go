package nflab_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"golang.org/x/sys/unix"
)

// Replace the whole ruleset: drop forwarded traffic except replies and
// SSH from a set of admin networks. A rejected change names its place in
// the Ruleset.
func ExampleClient_ApplyRuleset() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	fwd := nftypes.Forward
	rs := nftypes.Ruleset{
		Chains: []nftypes.Chain{{Table: nftypes.TableFilter, Name: "forward", Hook: &fwd, Policy: nftypes.VerdictDrop}},
		Sets: []nftypes.Set{{Name: "admins", Type: nftypes.SetTypeAddr, Addrs: []nftypes.AddrRange{
			nftypes.AddrRangeFrom(netip.MustParsePrefix("192.0.2.0/24")),
		}}},
		Rules: []nftypes.Rule{
			{Table: nftypes.TableFilter, Chain: "forward",
				Matches: []nftypes.Match{{Kind: nftypes.MatchCTState, CTState: nftypes.CTStateEstablished | nftypes.CTStateRelated}},
				Action:  nftypes.Action{Type: nftypes.ActionAccept}},
			{Table: nftypes.TableFilter, Chain: "forward",
				Matches: []nftypes.Match{
					{Kind: nftypes.MatchSet, SetName: "admins", SetField: nftypes.SetFieldSAddr},
					{Kind: nftypes.MatchProto, Proto: nftypes.TCP},
					{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{nftypes.Port(22)}},
				},
				Action:  nftypes.Action{Type: nftypes.ActionAccept},
				Comment: "ssh from admins"},
		},
	}
	gen, err := c.ApplyRuleset(ctx, rs, nil)
	var ce *nflab.ChangeError
	switch {
	case errors.As(err, &ce):
		log.Fatalf("%s[%d] was rejected: %v", ce.Kind, ce.Index, ce.Err)
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("ruleset generation", gen)
}

// Add one rule at the start of a chain, unless someone changed the ruleset
// since it was read.
func ExampleClient_Begin() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	rs, err := c.Ruleset(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tx, err := c.Begin(ctx, &nflab.BeginOptions{Gen: &rs.Gen})
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.EBUSY) {
		log.Fatal("the ruleset changed or is being changed; read it again")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Abort(ctx) // harmless after Commit
	h, err := tx.AddRule(ctx, nftypes.Rule{
		Table: nftypes.TableFilter, Chain: "input",
		Matches: []nftypes.Match{{Kind: nftypes.MatchIIF, Iface: "lo"}},
		Action:  nftypes.Action{Type: nftypes.ActionAccept},
	}, &nflab.RulePosition{Insert: true})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tx.Commit(ctx, false); err != nil {
		log.Fatal(err)
	}
	fmt.Println("added rule", h)
}

// Print every rule with its counters.
func ExampleClient_Rules() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	rules, err := c.Rules(context.Background())
	if errors.Is(err, os.ErrPermission) {
		log.Fatal("reading the rules needs CAP_NET_ADMIN")
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rules {
		fmt.Printf("%d %s/%s %s: %d packets\n", r.Handle, r.Table, r.Chain, r.Action.Type, r.Packets)
	}
}

// Forward TCP port 8080 of this host to 10.0.2.2:80, and masquerade what
// leaves by eth0. The NAT decision is made on a connection's first packet
// and kept for the connection; a port range needs the rule to match tcp
// or udp.
func ExampleTx_AddRule_nat() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	tx, err := c.Begin(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Abort(ctx) // harmless after Commit
	for _, r := range []nftypes.Rule{{
		Table: nftypes.TableNAT, Chain: "prerouting",
		Matches: []nftypes.Match{
			{Kind: nftypes.MatchProto, Proto: nftypes.TCP},
			{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{nftypes.Port(8080)}},
		},
		Action: nftypes.Action{Type: nftypes.ActionDNAT, Addr: netip.MustParseAddr("10.0.2.2"), Ports: &nftypes.PortRange{First: 80, Last: 80}},
	}, {
		Table: nftypes.TableNAT, Chain: "postrouting",
		Matches: []nftypes.Match{{Kind: nftypes.MatchOIF, Iface: "eth0"}},
		Action:  nftypes.Action{Type: nftypes.ActionMasquerade, NATFlags: nftypes.NATRandom},
	}} {
		if _, err := tx.AddRule(ctx, r, nil); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := tx.Commit(ctx, false); err != nil {
		log.Fatal(err)
	}
}
