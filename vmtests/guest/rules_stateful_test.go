//go:build nflabvm

// A stateful firewall on the router: established and related traffic
// passes, new connections only from the client's side.
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	| inside      |        | forward: policy   |        | outside     |
//	|             |        | drop, est/rel ok, |        |             |
//	|             |        | new from r0 ok    |        |             |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"testing"
	"time"
)

func TestRulesStatefulRouter(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, `
chain filter forward policy drop
rule filter forward ct state established accept comment "est"
rule filter forward ct state related accept comment "rel"
rule filter forward iif r0 ct state new accept comment "out"
rule filter forward counter comment "dropped"
`)
	// Outbound TCP works both ways once established.
	client, server := connPair(t, "client", "server", ":8100", "10.0.2.2:8100")
	if _, err := server.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	readN(t, client, make([]byte, 5))
	// Outbound ping.
	tp.ping("client", "10.0.2.2", 1)
	// An ICMP error for an allowed flow: port unreachable from the server
	// for the client's UDP, related, reaches the client.
	if err := udpRefused(t, "client", "10.0.2.2:9"); err != nil {
		t.Errorf("the server's port unreachable did not reach the client: %v", err)
	}
	m := ruleList(t, tp.router)
	if m["rel"].Packets != 1 || m["dropped"].Packets != 0 {
		t.Errorf("related %d dropped %d, want 1 and 0", m["rel"].Packets, m["dropped"].Packets)
	}
	out := m["out"].Packets // SYN, echo request, datagram

	// Inbound: new connections from the server die at the router.
	listenIn(t, "client", ":8101")
	if c, err := dialErr(t, "server", "10.0.1.2:8101", 500*time.Millisecond); err == nil {
		c.Close()
		t.Error("server→client TCP connected through a drop-new-inbound firewall")
	}
	if pingOK("server", "10.0.1.2") {
		t.Error("server→client ping passed a drop-new-inbound firewall")
	}
	m = ruleList(t, tp.router)
	if m["out"].Packets != out || m["dropped"].Packets < 2 {
		t.Errorf("after inbound attempts: out %d (was %d), dropped %d (want 2 or more)", m["out"].Packets, out, m["dropped"].Packets)
	}
	if out != 3 {
		t.Errorf("new outbound flows: %d, want 3 (TCP, ping, UDP)", out)
	}
}
