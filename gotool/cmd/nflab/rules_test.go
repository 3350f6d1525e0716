//go:build linux

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/ruletext"
	"github.com/nflab/nflab/gotool/nflab"
)

// exampleRuleset is what the rule engine's examples and tests start
// from: rules with handles 1 to 4 in filter/input, an unused set and an
// empty user chain.
const exampleRuleset = `# nflab ruleset
set blocked addr { 192.0.2.0/24, 198.51.100.1-198.51.100.9 }
set web port { 80, 443 }
chain filter input policy drop
chain filter tcp_in
chain filter web_in
rule filter input ct state established,related accept
rule filter input iif lo accept
rule filter input tcp dport 22 ct state new limit 5/minute burst 10 accept comment "ssh"
rule filter input tcp dport @web jump web_in
rule filter input quota 10 mbytes counter
rule filter web_in ip saddr 10.0.0.0/8 accept
`

// rulesHarness is a fake module holding the ruleset text, as "rules
// apply" would load it, and the conntrack tests' connections.
func rulesHarness(t *testing.T, text string) *harness {
	t.Helper()
	h := ctHarness(t)
	if text == "" {
		return h
	}
	rs, err := ruletext.Parse(strings.NewReader(text), "fixture.nft")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ApplyRuleset(context.Background(), rs, nil); err != nil {
		t.Fatalf("applying the fixture: %v", err)
	}
	return h
}

var _ = fakemod.Options{}
