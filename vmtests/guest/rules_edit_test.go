//go:build nflabvm

// Single-rule edits through the module's transactions, on the topology of
// hooks_test.go (client 10.0.1.2 — router — server 10.0.2.2):
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"fmt"
	"strings"
	"testing"
)

// ruleOrder returns the comments of ns's filter/input rules in order, and
// their handles by comment.
func ruleOrder(t *testing.T, ns netns) ([]string, map[string]uint64) {
	t.Helper()
	var v struct {
		Rules []ruleJSON `json:"rules"`
	}
	ns.nflabJSON(t, &v, "rule", "list", "filter", "input")
	var order []string
	handles := map[string]uint64{}
	for _, r := range v.Rules {
		order = append(order, r.Comment)
		handles[r.Comment] = r.Handle
	}
	return order, handles
}

// `rule add`, `insert`, `replace` and `delete` by handle: each is a
// transaction of its own; rules it does not touch keep their counters,
// a replaced rule keeps its handle and place and starts afresh.
func TestRulesSingleRuleEdits(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	srv := tp.server
	nflab := func(args ...string) string {
		t.Helper()
		return srv.run(t, append([]string{"nflab"}, args...)...)
	}
	echo := []string{"filter", "input", "icmp", "type", "echo-request"}
	applyIn(t, srv, `rule filter input icmp type echo-request counter comment "a"`)
	if !pingOK("client", "10.0.2.2") {
		t.Fatal("ping failed with a counting rule")
	}

	out := nflab(append(append([]string{"rule", "add"}, echo...), "counter", "comment", "b")...)
	var hb uint64
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "handle %d", &hb); err != nil || hb == 0 {
		t.Fatalf("rule add printed %q", out)
	}
	nflab(append(append([]string{"rule", "insert"}, echo...), "drop", "comment", "first")...)
	if pingOK("client", "10.0.2.2") {
		t.Fatal("ping passed a drop rule inserted at the head")
	}
	order, h := ruleOrder(t, srv)
	if fmt.Sprint(order) != "[first a b]" || h["b"] != hb {
		t.Fatalf("after add and insert: %v %v, want [first a b] with b's handle %d", order, h, hb)
	}
	// a kept its count through two transactions that did not touch it.
	wantPackets(t, srv, map[string]uint64{"first": 1, "a": 1, "b": 0})

	nflab("rule", "replace", fmt.Sprint(h["first"]), "icmp", "type", "echo-request", "counter", "comment", "first")
	order, h2 := ruleOrder(t, srv)
	if fmt.Sprint(order) != "[first a b]" || h2["first"] != h["first"] {
		t.Fatalf("after replace: %v %v, want the same place and handle %d", order, h2, h["first"])
	}
	wantPackets(t, srv, map[string]uint64{"first": 0, "a": 1})
	if !pingOK("client", "10.0.2.2") {
		t.Fatal("ping dropped after the drop rule was replaced by a counting one")
	}
	wantPackets(t, srv, map[string]uint64{"first": 1, "a": 2, "b": 1})

	nflab("rule", "delete", fmt.Sprint(hb))
	if order, _ := ruleOrder(t, srv); fmt.Sprint(order) != "[first a]" {
		t.Fatalf("after delete: %v, want [first a]", order)
	}
	if out, code := runCode(t, "ip", "netns", "exec", "server", "nflab", "rule", "delete", fmt.Sprint(hb)); code != 1 || !strings.Contains(out, fmt.Sprint(hb)) {
		t.Errorf("deleting a deleted rule: exit %d, %q; want 1 and a message naming handle %d", code, out, hb)
	}
	if !pingOK("client", "10.0.2.2") {
		t.Fatal("ping failed")
	}
	wantPackets(t, srv, map[string]uint64{"first": 2, "a": 3})
}
