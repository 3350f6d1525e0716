//go:build nflabvm

// Failing tests of rule engine bugs, for the kernel author to decide on
// (see the report of branch rules-vmtests). Same topology as hooks_test.go:
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

// The hook counters of LOCAL_IN and FORWARD miss the packets nflab's own
// filter table drops there, whereas LOCAL_OUT counts those its filter/output
// drops: the counting hooks share NF_IP_PRI_FILTER with the filter table's,
// which are registered later and so run first. "Counted when a packet
// reaches nflab's hook function" (nflab.h) does not say which of nflab's
// hooks; a user asking "did the packet reach LOCAL_IN?" gets no.
func TestRulesBugHookCountsMissFilterDrops(t *testing.T) {
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
