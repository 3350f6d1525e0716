//go:build nflabvm

// Atomic replacement under load: the router's ruleset alternates between
// A and B hundreds of times while the client floods the server with UDP
// from all CPUs but one. Each ruleset marks a packet in one rule and
// checks the mark in later rules of the same chain, so a packet that saw a
// mix of A and B would be logged as MIXED.
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	| UDP flood,  |  ====> | mangle forward:   |  ====> | :9090 bound |
//	| one sender  |        | A, B, A, B, ...   |        |  (unread)   |
//	| per CPU but |        |                   |        |             |
//	| the last    |        |                   |        |             |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

func replaceRuleset(mark int) string {
	return fmt.Sprintf(`
rule mangle forward udp dport 9090 mark set 0x%[1]x comment "set"
rule mangle forward udp dport 9090 mark 0x%[1]x counter comment "same"
rule mangle forward udp dport 9090 mark != 0x%[1]x log prefix "MIXED " comment "mixed"
`, mark)
}

func TestRulesAtomicReplaceUnderLoad(t *testing.T) {
	cpus := stressCPUs(t)
	loadModule(t)
	tp := newTopology(t)
	udpIn(t, "server", ":9090", "")
	ctx := context.Background()
	c := dialNS(t, "router")
	var rs [2]nftypes.Ruleset
	for i, mark := range []int{1, 2} {
		applyText(t, c, replaceRuleset(mark))
		r, err := c.Ruleset(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = r
	}
	logAllNetns(t, true) // the router is not the first namespace
	k := kmsgTail(t)

	// The flood: one connected UDP socket per CPU but the last, each on a
	// thread pinned there (the packets cross the router in its softirq);
	// the replacements run on the last CPU, against them.
	ths := cpuThreads(t, cpus-1, "client")
	var stop atomic.Bool
	var sent atomic.Int64
	start(ths, func(int) error {
		conn, err := net.Dial("udp4", "10.0.2.2:9090")
		if err != nil {
			return err
		}
		defer conn.Close()
		msg := make([]byte, 32)
		for !stop.Load() {
			if _, err := conn.Write(msg); err == nil {
				sent.Add(1)
			}
		}
		return nil
	})
	flooding := true
	defer func() {
		if flooding {
			stop.Store(true)
			wait(ths)
		}
	}()
	waitFor(t, "the flood cross the router", func() bool {
		return ruleList(t, tp.router)["set"].Packets >= 100
	})

	rounds := 2 * stressRounds()
	fwdBefore := tp.stats("router")["FORWARD"][0]
	gen := rs[1].Gen
	for i := 0; i < rounds; i++ {
		g, err := c.ApplyRuleset(ctx, rs[i%2], nil)
		if err != nil {
			t.Fatalf("replacement %d: %v", i, err)
		}
		if g != gen+1 {
			t.Fatalf("replacement %d: generation %d, want %d", i, g, gen+1)
		}
		gen = g
	}
	fwdDuring := tp.stats("router")["FORWARD"][0] - fwdBefore
	// The last ruleset has seen traffic before the flood stops.
	waitFor(t, "the last ruleset to count packets", func() bool {
		return ruleList(t, tp.router)["set"].Packets >= 1
	})
	stop.Store(true)
	flooding = false
	if err := wait(ths); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d replacements beside %d senders while %d datagrams crossed the router (%d sent in all)", rounds, cpus-1, fwdDuring, sent.Load())
	if fwdDuring < uint64(rounds) {
		t.Errorf("only %d datagrams crossed the router during %d replacements: not a load", fwdDuring, rounds)
	}

	// Every packet of the last ruleset saw its rules: all that were
	// marked were matched by the mark, none missed it. Datagrams still
	// on their way when the senders stopped may be between the two rules
	// on the other CPU: read until two reads agree.
	var m map[string]ruleJSON
	waitFor(t, "the counters to settle", func() bool {
		prev := ruleList(t, tp.router)
		m = ruleList(t, tp.router)
		return prev["set"].Packets == m["set"].Packets && prev["same"].Packets == m["same"].Packets
	})
	if m["set"].Packets == 0 || m["same"].Packets != m["set"].Packets || m["mixed"].Packets != 0 {
		t.Errorf("the final ruleset counted set %d, same %d, mixed %d: want set = same > 0, mixed 0",
			m["set"].Packets, m["same"].Packets, m["mixed"].Packets)
	}
	if l := grepLines(k.lines(t), "MIXED "); len(l) != 0 {
		t.Errorf("%d packets saw a mix of two rulesets, e.g. %q", len(l), l[0])
	}
}
