//go:build nflabvm

// The hook counters beside the rule engine's drops. Same topology as
// hooks_test.go:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"testing"
)

// A packet nflab's own filter table drops at LOCAL_IN or FORWARD was
// counted there: the counting hooks run before nflab's tables, so "did the
// packet reach LOCAL_IN?" gets yes (it once got no, when both shared the
// filter priority and the table, registered later, ran first).
func TestRulesHookCountsCountFilterDrops(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.server, `rule filter input icmp type echo-request drop comment "in"`)
	if pingOK("client", "10.0.2.2") {
		t.Fatal("ping passed a drop rule")
	}
	wantPackets(t, tp.server, map[string]uint64{"in": 1})
	checkCounts(t, "server", tp.stats("server"), want(map[string]uint64{"PRE_ROUTING": 1, "LOCAL_IN": 1}))

	// Forwarded: the server's ping to the client, dropped at the router's
	// FORWARD.
	tp.reset("router")
	tp.reset("server")
	applyIn(t, tp.server, "")
	applyIn(t, tp.router, `rule filter forward icmp type echo-request ip saddr 10.0.2.2 drop comment "fwd"`)
	if pingOK("server", "10.0.1.2") {
		t.Fatal("ping passed a drop rule")
	}
	wantPackets(t, tp.router, map[string]uint64{"fwd": 1})
	checkCounts(t, "router", tp.stats("router"), want(map[string]uint64{"PRE_ROUTING": 1, "FORWARD": 1}))
}
