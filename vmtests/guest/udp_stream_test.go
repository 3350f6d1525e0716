//go:build nflabvm

// UDP flows become streams as in the kernel's tracker: an entry is ASSURED,
// with the long timeout, only when traffic still flows both ways more than
// two seconds after its first packet. One-shot request/reply flows (DNS)
// keep the short timeout and stay evictable. Judged on the router of
// hooks_test.go's topology, which forwards the flows.
package guest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// streamWait is how long after a flow's first exchange the traffic that
// makes it a stream is sent: the kernel's two seconds, and one more so that
// the clock read here and the guest's jiffies never disagree on which side
// of the mark a packet falls.
const streamWait = 3 * time.Second

// udpExchange sends msg on c and reads the echo: once it returns, the
// datagram and its answer both crossed every tracker on the way.
func udpExchange(t *testing.T, c *net.UDPConn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	readN(t, c, make([]byte, len(msg)))
}

// udpPastStreamMark connects a socket from each of laddrs in namespace ns
// to the echo server at raddr and makes one exchange on each. It returns
// the sockets (open until the test ends) once every flow's stream mark has
// passed: the next exchange on each makes it a stream.
func udpPastStreamMark(t *testing.T, ns, raddr string, laddrs ...string) []*net.UDPConn {
	t.Helper()
	conns := make([]*net.UDPConn, len(laddrs))
	for i, la := range laddrs {
		conns[i] = udpIn(t, ns, la, raddr)
		udpExchange(t, conns[i], []byte("first"))
	}
	// Each flow's first packet crossed before its exchange returned.
	time.Sleep(streamWait)
	return conns
}

// udpClasses sets the router's UDP timeouts far apart, so that an entry's
// remaining timeout tells which one it got.
const udpUnreplied, udpAssured = 40, 400

func udpStreamTopology(t *testing.T) *topology {
	t.Helper()
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "flush")
	tp.router.run(t, "nflab", "ct", "config",
		"--timeout", fmt.Sprintf("udp_unreplied=%d", udpUnreplied),
		"--timeout", fmt.Sprintf("udp_assured=%d", udpAssured))
	return tp
}

func TestCTUDPOneShotStaysShort(t *testing.T) {
	tp := udpStreamTopology(t)
	udpEchoIn(t, "server", ":7400")

	// A request and its reply, nothing more: replied, not a stream.
	start := time.Now()
	udpRequest(t, "client", ":6400", "10.0.2.2:7400", []byte("query"))
	e := one(t, ctList(t, tp.router, "-p", "udp", "--dport", "7400"))
	if !e.has("SEEN_REPLY") || e.has("ASSURED") || e.PacketsOrig != 1 || e.PacketsReply != 1 ||
		!timeoutSince(e, udpUnreplied, start) {
		t.Errorf("one-shot entry %+v: want SEEN_REPLY, not ASSURED, one packet each way and "+
			"udp_unreplied (%d s) less the %v since the request", e, udpUnreplied, time.Since(start))
	}

	// Still evictable: at the limit, a new flow takes its place.
	tp.router.run(t, "nflab", "ct", "config", "--limit", "1")
	before := ctStats(t, tp.router)
	udpSend(t, "client", ":6401", "10.0.2.2:7401", []byte("next"))
	var after map[string]uint64
	waitFor(t, "the router judging the new flow", func() bool {
		after = ctStats(t, tp.router)
		return after["early_drop"] != before["early_drop"] || after["drop"] != before["drop"]
	})
	if after["early_drop"] != before["early_drop"]+1 || after["drop"] != before["drop"] {
		t.Errorf("early_drop %d -> %d, drop %d -> %d: want the one-shot entry evicted",
			before["early_drop"], after["early_drop"], before["drop"], after["drop"])
	}
	if n := one(t, ctList(t, tp.router, "-p", "udp")); n.Orig.Dport != 7401 {
		t.Errorf("entry %+v after the eviction, want the new flow to port 7401", n)
	}
}

func TestCTUDPStream(t *testing.T) {
	tp := udpStreamTopology(t)
	udpEchoIn(t, "server", ":7500")
	c := udpIn(t, "client", ":6500", "10.0.2.2:7500")
	flow := []string{"-p", "udp", "--dport", "7500"}

	// A quick burst of exchanges, all within two seconds of the first
	// packet: traffic both ways, yet not a stream. A burst that took too
	// long (a busy machine) proves nothing; it is tried again on a fresh
	// entry a bounded number of times.
	const burst, tries = 5, 5
	var start, firstDone time.Time
	for try := 1; ; try++ {
		start = time.Now()
		for i := 0; i < burst; i++ {
			udpExchange(t, c, []byte("burst"))
			if i == 0 {
				firstDone = time.Now()
			}
		}
		if el := time.Since(start); el < 1500*time.Millisecond {
			break
		} else if try == tries {
			t.Fatalf("%d bursts of %d exchanges each took longer than 1.5 s, the last %v", tries, burst, el)
		} else {
			t.Logf("burst %d took %v; again on a fresh entry", try, el)
		}
		tp.router.run(t, "nflab", "ct", "flush")
	}
	e := one(t, ctList(t, tp.router, flow...))
	if !e.has("SEEN_REPLY") || e.has("ASSURED") || e.PacketsOrig != burst || e.PacketsReply != burst ||
		!timeoutSince(e, udpUnreplied, start) {
		t.Errorf("entry after the burst %+v: want SEEN_REPLY, not ASSURED, %d packets each way and "+
			"udp_unreplied (%d s) less the %v since the burst began", e, burst, udpUnreplied, time.Since(start))
	}

	// Traffic after the mark: now a stream, with the long timeout.
	time.Sleep(time.Until(firstDone.Add(streamWait)))
	more := time.Now()
	udpExchange(t, c, []byte("later"))
	a := one(t, ctList(t, tp.router, flow...))
	if a.ID != e.ID || !a.has("SEEN_REPLY") || !a.has("ASSURED") || a.PacketsOrig != burst+1 ||
		!timeoutSince(a, udpAssured, more) {
		t.Errorf("entry after the later exchange %+v: want entry %d ASSURED, %d packets from the client "+
			"and udp_assured (%d s) less the %v since the exchange", a, e.ID, burst+1, udpAssured, time.Since(more))
	}
}
