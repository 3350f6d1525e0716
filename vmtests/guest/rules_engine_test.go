//go:build nflabvm

// The rule engine's transactions and packet path, seen through the client
// library on the three-namespace topology of hooks_test.go:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// dialNS returns a client of namespace ns's module state.
func dialNS(t *testing.T, ns string) *nflab.Client {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := nflab.Dial(&nflab.DialOptions{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	clientNS[c] = ns
	t.Cleanup(func() { c.Close(); delete(clientNS, c) })
	return c
}

// applyText applies a ruleset in the text format with "nflab rules apply"
// in the client's namespace and returns the new generation.
func applyText(t *testing.T, c *nflab.Client, text string) uint32 {
	t.Helper()
	if out, code := applyTextCode(t, c, text); code != 0 {
		t.Fatalf("applying:\n%s\n%s", text, out)
	}
	rs, err := c.Ruleset(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs.Gen
}

// applyTextCode runs "nflab rules apply" and returns its output and status.
func applyTextCode(t *testing.T, c *nflab.Client, text string) (string, int) {
	t.Helper()
	f := t.TempDir() + "/rules.nft"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return runCode(t, "ip", "netns", "exec", clientNS[c], "nflab", "rules", "apply", "-f", f)
}

// clientNS is the namespace each test client was dialled into.
var clientNS = map[*nflab.Client]string{}

func rulesByComment(t *testing.T, c *nflab.Client) map[string]nftypes.Rule {
	t.Helper()
	rules, err := c.Rules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]nftypes.Rule{}
	for _, r := range rules {
		m[r.Comment] = r
	}
	return m
}

func pingOK(ns, dst string) bool {
	_, err := netns(ns).try("ping", "-q", "-c", "1", "-W", "2", dst)
	return err == nil
}

func TestRulesDropForwardedPing(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	c := dialNS(t, "router")
	applyText(t, c, `rule filter forward icmp type echo-request drop comment "no ping"`)
	if pingOK("client", "10.0.2.2") {
		t.Fatal("ping crossed a router whose forward chain drops echo requests")
	}
	r := rulesByComment(t, c)["no ping"]
	if r.Packets != 1 || r.Bytes != pingBytes {
		t.Errorf("drop rule counted %d packets, %d bytes; want 1, %d", r.Packets, r.Bytes, pingBytes)
	}
	// The router's own pings are not forwarded.
	if !pingOK("router", "10.0.2.2") {
		t.Error("the router's own ping was dropped by a forward rule")
	}
	tp.reset("router")
	applyText(t, c, "")
	if !pingOK("client", "10.0.2.2") {
		t.Fatal("ping still dropped after an empty ruleset replaced the rules")
	}
}

func TestRulesStatefulFirewall(t *testing.T) {
	loadModule(t)
	newTopology(t)
	c := dialNS(t, "router")
	applyText(t, c, `
chain filter forward policy drop
rule filter forward ct state established,related accept comment "est"
rule filter forward iif r0 ct state new accept comment "out"
`)
	if !pingOK("client", "10.0.2.2") {
		t.Error("client→server ping blocked by allow-established-and-outbound")
	}
	if pingOK("server", "10.0.1.2") {
		t.Error("server→client ping passed a drop-new-inbound firewall")
	}
	m := rulesByComment(t, c)
	if m["out"].Packets != 1 || m["est"].Packets != 1 {
		t.Errorf("counters: out %d est %d, want 1 and 1", m["out"].Packets, m["est"].Packets)
	}
}

func TestRulesTransactionErrors(t *testing.T) {
	loadModule(t)
	newTopology(t)
	ctx := context.Background()
	c := dialNS(t, "router")
	gen := applyText(t, c, `rule filter input accept comment "keep"`)

	// The file's own checks find the first and the last; the module's
	// commit finds the loop, and the CLI points at the rule's line.
	for _, tc := range []struct{ text, want string }{
		{`rule filter forward jump nowhere`, `rules.nft:1:`},
		{"chain filter a\nchain filter b\nrule filter a jump b\nrule filter b jump a", `rules.nft:4:`},
		{`rule filter forward ip saddr @missing drop`, `"missing"`},
	} {
		out, code := applyTextCode(t, c, tc.text)
		if code == 0 {
			t.Errorf("%q: applied", tc.text)
		} else if !strings.Contains(out, tc.want) {
			t.Errorf("%q: the error %q does not say %s", tc.text, out, tc.want)
		}
	}
	if out, _ := applyTextCode(t, c, "chain filter a\nchain filter b\nrule filter a jump b\nrule filter b jump a"); !strings.Contains(out, "loops back") {
		t.Errorf("a jump loop: %q does not say it loops", out)
	}
	rs, err := c.Ruleset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Gen != gen || len(rs.Rules) != 1 || rs.Rules[0].Comment != "keep" {
		t.Fatalf("a rejected transaction changed the ruleset: gen %d (want %d), rules %+v", rs.Gen, gen, rs.Rules)
	}

	// One transaction per namespace, owned by its socket; closing it aborts.
	tx, err := c.Begin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := dialNS(t, "router")
	if _, err := other.Begin(ctx, nil); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("a second transaction: %v, want EBUSY", err)
	}
	if _, err := tx.AddRule(ctx, nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionDrop}}, nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The kernel ends the closed socket's transaction: the other one can
	// begin, and the dropped rule never took effect.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tx2, err := other.Begin(ctx, nil)
		if err == nil {
			tx2.Abort(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the closed socket's transaction is still open: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rules, err := other.Rules(ctx)
	if err != nil || len(rules) != 1 {
		t.Fatalf("after an aborted transaction: %v %+v", err, rules)
	}
}

func TestRulesSetsAndMatches(t *testing.T) {
	loadModule(t)
	newTopology(t)
	c := dialNS(t, "server")
	applyText(t, c, `
set bad addr { 10.0.1.0/30, 192.0.2.0/24 }
rule filter input ip saddr @bad icmp type echo-request counter comment "set"
rule filter input ip saddr 10.0.1.0-10.0.1.2 icmp type echo-request counter comment "range"
rule filter input ip saddr 10.0.1.3-10.0.1.9 icmp type echo-request counter comment "range-no"
rule filter input icmp type echo-request nth every 3 drop comment "nth"
rule filter input icmp type echo-request quota 200 bytes counter comment "quota"
rule filter input icmp type echo-request ip length 84 counter comment "len"
rule filter input icmp type echo-request ip length 85-1500 counter comment "len-no"
`)
	for i := 0; i < 6; i++ {
		pingOK("client", "10.0.2.2")
	}
	m := rulesByComment(t, c)
	if m["set"].Packets != 6 || m["range"].Packets != 6 || m["range-no"].Packets != 0 {
		t.Errorf("set %d range %d range-no %d, want 6 6 0", m["set"].Packets, m["range"].Packets, m["range-no"].Packets)
	}
	// nth drops packets 0 and 3: 2 of 6; the rest reach the quota rule.
	if m["nth"].Packets != 2 {
		t.Errorf("nth matched %d of 6, want 2", m["nth"].Packets)
	}
	// 200 bytes of quota: two 84-byte echoes, the third would exceed it.
	if m["quota"].Packets != 2 {
		t.Errorf("quota matched %d, want 2", m["quota"].Packets)
	}
	if m["len"].Packets != 4 || m["len-no"].Packets != 0 {
		t.Errorf("length %d/%d, want 4/0", m["len"].Packets, m["len-no"].Packets)
	}
}

func TestRulesNamespaceExitWithRules(t *testing.T) {
	loadModule(t)
	newTopology(t)
	// A fourth namespace, between router and server, to delete.
	mustRun(t, "ip", "netns", "add", "gone")
	c := dialNS(t, "gone")
	applyText(t, c, `
set s addr { 10.0.0.0/8 }
rule mangle prerouting mark set 0x1
rule filter input ip saddr @s counter
rule filter output counter
rule raw prerouting counter
`)
	netns("gone").run(t, "ip", "link", "set", "lo", "up")
	netns("gone").run(t, "ping", "-q", "-c", "2", "-i", "0.2", "127.0.0.1")
	c.Close()
	// The namespace goes with its rules, sets and hooks; the module's
	// unload at the end of the test then finds nothing left.
	mustRun(t, "ip", "netns", "del", "gone")
}
