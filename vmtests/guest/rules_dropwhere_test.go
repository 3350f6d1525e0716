//go:build nflabvm

// Where was the packet dropped? A filter rule on the server drops a TCP
// handshake at LOCAL_IN or at LOCAL_OUT, seen from the hook counters, the
// server's sockets and a capture on s0 (the wire):
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0       |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24       |
//	| dials :8080 |        |  ip_forward=1      |   ^    | listens :8080     |
//	+-------------+        +-------------------+   |    | filter input or   |
//	                                          capture s0 | output drop       |
//	                                                     +-------------------+
package guest

import (
	"testing"
)

const dropPort = 8080

// countSegs counts the segments of segs sent (out) or received with
// exactly these flags, and their IP bytes.
func countSegs(segs []wireSeg, out bool, flags byte) (n int, ipBytes uint64) {
	for _, s := range segs {
		if s.out == out && s.flags == flags {
			n++
			ipBytes += uint64(s.ipLen)
		}
	}
	return n, ipBytes
}

// handshakeTried has the client dial the server's port 8080 until the rule
// with this comment drops a packet, then gives up; it returns once the
// server has received every SYN the client sent, and how many that was.
func (tp *topology) handshakeTried(t *testing.T, ruleComment string) uint64 {
	t.Helper()
	errc, cancel := dialAsync(t, "client", "10.0.2.2:8080")
	// The rule's counter only grows: the first SYN was dropped.
	waitFor(t, "the drop rule count a packet", func() bool {
		return ruleList(t, tp.server)[ruleComment].Packets >= 1
	})
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the client's connection was established through a drop rule")
	}
	// The client's socket is gone: what it sent is final. Wait until the
	// server has seen all of it.
	sent := tp.stats("client")["POST_ROUTING"][0]
	waitFor(t, "the server receive every SYN the client sent", func() bool {
		return tp.stats("server")["PRE_ROUTING"][0] >= sent
	})
	return sent
}

// TestRulesDropWhere drops the handshake at the server's input, then at its
// output, on one topology.
func TestRulesDropWhere(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"Input", rulesDropWhereInput},
		{"Output", rulesDropWhereOutput},
	})
}

func rulesDropWhereInput(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8080")
	applyIn(t, tp.server, `rule filter input tcp dport 8080 drop comment "syn"`)
	capt := captureOn(t, "server", "s0")

	sent := tp.handshakeTried(t, "syn")
	st := tp.stats("server")
	segs := wireSegs(capt.drain(t), dropPort)
	syns, synBytes := countSegs(segs, false, tcpSYN)
	// On the wire: the SYNs arrived, nothing went back.
	if uint64(syns) != sent || len(segs) != syns {
		t.Errorf("capture on s0: %d SYNs in of %d segments (%+v); the client sent %d SYNs and nothing else", syns, len(segs), segs, sent)
	}
	// The server's hooks: PRE_ROUTING saw the SYNs, nothing left. (Its
	// LOCAL_IN counter misses them: TestRulesBugHookCountsMissFilterDrops.)
	checkCounts(t, "server", st, counts{
		"PRE_ROUTING": {sent, synBytes}, "FORWARD": {0, 0}, "LOCAL_OUT": {0, 0}, "POST_ROUTING": {0, 0},
	})
	wantPackets(t, tp.server, map[string]uint64{"syn": sent})
	// TCP never saw them: no half-open connection.
	if l := ssLines(t, tp.server, "state", "syn-recv"); len(l) != 0 {
		t.Errorf("server has half-open connections behind a LOCAL_IN drop: %q", l)
	}
	// Traffic the rule does not match still flows.
	if !pingOK("client", "10.0.2.2") {
		t.Error("a ping was dropped by a rule for TCP port 8080")
	}
}

func rulesDropWhereOutput(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8080")
	applyIn(t, tp.server, `rule filter output tcp sport 8080 drop comment "synack"`)
	capt := captureOn(t, "server", "s0")

	// The server's TCP answers each SYN: it holds the handshake half-open
	// (SYN-RECV) until its first SYN/ACK retransmission, a second later,
	// fails (the drop's EPERM makes the kernel give the request up; a
	// drop is not a loss). The client's own SYN retransmissions (1 s,
	// 3 s, ...) open it again, so while the client dials the state keeps
	// coming back.
	errc, cancel := dialAsync(t, "client", "10.0.2.2:8080")
	waitFor(t, "the server hold a half-open connection on port 8080", func() bool {
		return len(ssLines(t, tp.server, "state", "syn-recv", "sport", "=", ":8080")) == 1
	})
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the client's connection was established though the server's SYN/ACKs are dropped")
	}
	sent := tp.stats("client")["POST_ROUTING"][0]
	waitFor(t, "the server receive every SYN the client sent", func() bool {
		return tp.stats("server")["PRE_ROUTING"][0] >= sent
	})

	// The SYN/ACKs (answers and retransmissions, on the server's timer)
	// were counted at LOCAL_OUT and dropped there: never at POST_ROUTING,
	// never on the wire.
	r1 := ruleList(t, tp.server)["synack"].Packets
	st := tp.stats("server")
	r2 := ruleList(t, tp.server)["synack"].Packets
	segs := wireSegs(capt.drain(t), dropPort)
	syns, synBytes := countSegs(segs, false, tcpSYN)
	if uint64(syns) != sent || len(segs) != syns {
		t.Errorf("capture on s0: %d SYNs in of %d segments (%+v); want the client's %d SYNs only", syns, len(segs), segs, sent)
	}
	checkCounts(t, "server", st, counts{
		"PRE_ROUTING": {sent, synBytes}, "LOCAL_IN": {sent, synBytes},
		"FORWARD": {0, 0}, "POST_ROUTING": {0, 0},
	})
	if out := st["LOCAL_OUT"][0]; r1 < sent || out < r1 || out > r2 {
		t.Errorf("server LOCAL_OUT counted %d packets; the drop rule counted %d before and %d after, for %d SYNs", out, r1, r2, sent)
	}
	if !pingOK("client", "10.0.2.2") {
		t.Error("a ping was dropped by a rule for TCP port 8080")
	}
}
