//go:build nflabvm

// What keeps the TCP tracker's entries in step with the ends, after the
// kernel's tracker: shorter timeouts while data is unacknowledged, after
// retransmissions and for unanswered pickups; SYN retransmissions that do
// not refresh; a refused SYN's entry removed; resynchronisation when a
// tuple is reused after a close the tracker missed; resets that are in
// the window but not exact passed without closing.
//
// Most scenarios are crafted segment by segment on the client-router-server
// topology of hooks_test.go and judged by the router's tracker; both ends
// drop them before their TCP sees them, so nothing answers on its own:
//
//	ns client                    ns router                 ns server
//	10.0.1.2:sport  ---------->  nflab tracks  ---------->  10.0.2.2:dport
//	nft: drop from dport  <----  and forwards  <----------  nft: drop to dport
package guest

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TCP flags for crafted segments.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// The timeout classes the tests tell apart: the caps are 300 s by default,
// an ESTABLISHED entry otherwise lasts 5 days.
const (
	capTimeout = 300
	fiveDays   = 5 * 24 * 3600
)

// An entryWant is what a check asks of an entry besides its state.
type entryWant struct {
	desc string
	ok   func(ctEntry) bool
}

var (
	anyEntry = entryWant{"", func(ctEntry) bool { return true }}
	// (nearly all of) the 5-day ESTABLISHED timeout
	days = entryWant{"the 5-day timeout", func(e ctEntry) bool { return e.Timeout > fiveDays-600 }}
)

// A step sends a segment the router must find valid, then checks the
// entry.
type step struct {
	what  string
	seg   tcpSeg
	state string
	want  entryWant
}

func (f *craftedFlow) run(steps ...step) {
	f.t.Helper()
	for _, st := range steps {
		f.pass(st.what, st.seg)
		f.checkEntry(st.what, st.state, st.want)
	}
}

func capped(limit int) entryWant {
	return timeoutIn(0, limit)
}

// timeoutIn wants a timeout above low and at most high seconds.
func timeoutIn(low, high int) entryWant {
	return entryWant{fmt.Sprintf("a timeout in (%d, %d] s", low, high),
		func(e ctEntry) bool { return e.Timeout > low && e.Timeout <= high }}
}

func sameID(id uint32) entryWant {
	return entryWant{fmt.Sprintf("entry %d", id), func(e ctEntry) bool { return e.ID == id }}
}

// The initial sequence numbers of crafted connections.
const isnC, isnS = 1000, 500000

// tcpSeg is one crafted segment of a crafted flow.
type tcpSeg struct {
	orig     bool // from the client
	seq, ack uint32
	flags    byte
	win      uint16
	data     []byte
}

func c2s(seq, ack uint32, flags byte, data []byte) tcpSeg {
	return tcpSeg{true, seq, ack, flags, 65535, data}
}

func s2c(seq, ack uint32, flags byte, data []byte) tcpSeg {
	return tcpSeg{false, seq, ack, flags, 65535, data}
}

// inetChecksum is the Internet checksum (RFC 1071) of the parts in a row;
// all but the last must have an even length.
func inetChecksum(parts ...[]byte) uint16 {
	var sum uint32
	for _, p := range parts {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			sum += uint32(p[len(p)-1]) << 8
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// craftTCP builds s as a TCP segment without options from src:sport to
// dst:dport, with a valid checksum.
func craftTCP(src, dst net.IP, sport, dport uint16, s tcpSeg) []byte {
	h := make([]byte, 20, 20+len(s.data))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], s.seq)
	binary.BigEndian.PutUint32(h[8:], s.ack)
	h[12] = 5 << 4
	h[13] = s.flags
	binary.BigEndian.PutUint16(h[14:], s.win)
	h = append(h, s.data...)
	pseudo := make([]byte, 12)
	copy(pseudo[0:], src.To4())
	copy(pseudo[4:], dst.To4())
	pseudo[9] = unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(h)))
	binary.BigEndian.PutUint16(h[16:], inetChecksum(pseudo, h))
	return h
}

// craftedFlow sends crafted segments between client:sport and
// server:dport through the router.
type craftedFlow struct {
	t            *testing.T
	tp           *topology
	sport, dport uint16
	arrived      [2]int // segments dropped at the server, at the client
	invalid      uint64 // the router's invalid count after the last one
}

// craftedSetup loads nflab, builds the topology, sets the router's
// tracker's config with "nflab ct config CONFIG..." if given, and returns a
// crafted flow from sport to dport.
func craftedSetup(t *testing.T, sport, dport uint16, config ...string) *craftedFlow {
	t.Helper()
	loadModule(t)
	tp := newTopology(t)
	if len(config) > 0 {
		tp.router.run(t, append([]string{"nflab", "ct", "config"}, config...)...)
	}
	return newCraftedFlow(t, tp, sport, dport)
}

// newCraftedFlow makes both ends drop the flow's segments on arrival,
// counting them, before any of their hooks or their TCP see them.
func newCraftedFlow(t *testing.T, tp *topology, sport, dport uint16) *craftedFlow {
	t.Helper()
	for _, e := range []struct {
		ns    netns
		match string
	}{{tp.client, "tcp sport"}, {tp.server, "tcp dport"}} {
		e.ns.run(t, "nft", "add table ip t")
		e.ns.run(t, "nft", "add chain ip t pre { type filter hook prerouting priority -300 ; }")
		e.ns.run(t, "nft", fmt.Sprintf("add rule ip t pre %s %d counter drop", e.match, dport))
	}
	return &craftedFlow{t: t, tp: tp, sport: sport, dport: dport, invalid: ctStats(t, tp.router)["invalid"]}
}

// send sends s and returns once it reached the far end (so the router
// judged it); it reports whether the router's tracker found it valid.
// Nothing else crosses the router meanwhile.
func (f *craftedFlow) send(s tcpSeg) bool {
	t := f.t
	t.Helper()
	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)
	from, to, end, src, dst, sport, dport := "client", f.tp.server, 0, client, server, f.sport, f.dport
	if !s.orig {
		from, to, end, src, dst, sport, dport = "server", f.tp.client, 1, server, client, f.dport, f.sport
	}
	sendRawTCP(t, from, dst, craftTCP(src, dst, sport, dport, s))
	f.arrived[end]++
	waitFor(t, fmt.Sprintf("the segment (seq %#x) in %s", s.seq, to), func() bool {
		return nftPackets(t, to, "ip t pre", "counter") >= f.arrived[end]
	})
	before := f.invalid
	f.invalid = ctStats(t, f.tp.router)["invalid"]
	return f.invalid == before
}

// pass sends s; the router must find it valid.
func (f *craftedFlow) pass(what string, s tcpSeg) {
	f.t.Helper()
	if !f.send(s) {
		f.t.Fatalf("%s: INVALID on the router, want valid; entries %+v", what, f.entries())
	}
}

// refused sends s; the router must find it INVALID.
func (f *craftedFlow) refused(what string, s tcpSeg) {
	f.t.Helper()
	if f.send(s) {
		f.t.Fatalf("%s: valid on the router, want INVALID; entries %+v", what, f.entries())
	}
}

func (f *craftedFlow) entries() []ctEntry {
	f.t.Helper()
	return ctList(f.t, f.tp.router, "-p", "tcp", "--dport", fmt.Sprint(f.dport))
}

// entry returns the router's one entry for the flow.
func (f *craftedFlow) entry() ctEntry {
	f.t.Helper()
	return one(f.t, f.entries())
}

// open runs a handshake with initial sequence numbers c (client) and s
// (server) and returns the ESTABLISHED entry.
func (f *craftedFlow) open(c, s uint32) ctEntry {
	f.t.Helper()
	f.pass("SYN", c2s(c, 0, tcpSYN, nil))
	f.pass("SYN/ACK", s2c(s, c+1, tcpSYN|tcpACK, nil))
	f.pass("ACK", c2s(c+1, s+1, tcpACK, nil))
	e := f.entry()
	if e.TCPState != "ESTABLISHED" || !e.has("ASSURED") || !days.ok(e) {
		f.t.Fatalf("after the handshake: %+v, want ESTABLISHED, ASSURED, with the 5-day timeout", e)
	}
	return e
}

// checkEntry fails the test unless the flow's entry is in state and is
// what w wants.
func (f *craftedFlow) checkEntry(what, state string, w entryWant) ctEntry {
	f.t.Helper()
	e := f.entry()
	if e.TCPState != state || !w.ok(e) {
		f.t.Fatalf("%s: entry %+v, want %s %s", what, e, state, w.desc)
	}
	return e
}

func TestCTTCPUnackedDataTimeout(t *testing.T) {
	f := craftedSetup(t, 40001, 9001)
	const c, s = isnC, isnS
	f.open(c, s)

	// Data from either side caps the timeout until it is acknowledged.
	f.run(
		step{"100 bytes from the client", c2s(c+1, s+1, tcpACK|tcpPSH, make([]byte, 100)), "ESTABLISHED", capped(capTimeout)},
		step{"the server's ACK of them", s2c(s+1, c+101, tcpACK, nil), "ESTABLISHED", days},
		step{"50 bytes from the server", s2c(s+1, c+101, tcpACK|tcpPSH, make([]byte, 50)), "ESTABLISHED", capped(capTimeout)},
		step{"the client's ACK of them", c2s(c+101, s+51, tcpACK, nil), "ESTABLISHED", days},
	)
}

// An entry picked up from one stray ACK has the capped timeout until the
// other side answers, as mainline has it: a lone segment is no proof of a
// live connection.
func TestCTTCPPickupWithoutReplyTimeout(t *testing.T) {
	f := craftedSetup(t, 40002, 9002)
	f.pass("a mid-stream ACK", c2s(70000, 90000, tcpACK, nil))
	e := f.checkEntry("picked up", "ESTABLISHED", capped(capTimeout))
	if e.has("SEEN_REPLY") || e.has("ASSURED") {
		t.Errorf("picked-up entry %+v: want neither SEEN_REPLY nor ASSURED", e)
	}
	f.pass("the server's answer", s2c(90000, 70000, tcpACK, nil))
	e = f.checkEntry("answered", "ESTABLISHED", days)
	if !e.has("SEEN_REPLY") || !e.has("ASSURED") {
		t.Errorf("answered entry %+v: want SEEN_REPLY and ASSURED", e)
	}
}

func TestCTTCPRetransmissionTimeout(t *testing.T) {
	// Distinct caps, so that each shows which one applies.
	const retrans, unack = 200, 400
	f := craftedSetup(t, 40003, 9003, "--timeout", fmt.Sprintf("tcp_retrans=%d", retrans),
		"--timeout", fmt.Sprintf("tcp_unack=%d", unack))
	const c, s = isnC, isnS
	f.open(c, s)
	between := timeoutIn(retrans, unack)

	data := c2s(c+1, s+1, tcpACK|tcpPSH, make([]byte, 100))
	zero := s2c(s+1, c+101, tcpACK, nil)
	zero.win = 0
	f.run(
		step{"100 bytes from the client", data, "ESTABLISHED", between},
		step{"retransmission 1", data, "ESTABLISHED", between},
		step{"retransmission 2", data, "ESTABLISHED", between},
		step{"retransmission 3", data, "ESTABLISHED", capped(retrans)},
		step{"the server's ACK", s2c(s+1, c+101, tcpACK, nil), "ESTABLISHED", days},
		// A zero window caps it as well, until the window opens again.
		step{"a zero window from the server", zero, "ESTABLISHED", capped(retrans)},
		step{"the window open again", s2c(s+1, c+101, tcpACK, nil), "ESTABLISHED", days},
	)
}

func TestCTTCPSynRetransmitKeepsTimeout(t *testing.T) {
	f := craftedSetup(t, 40004, 9004, "--timeout", "tcp_syn_sent=600")
	syn := c2s(1000, 0, tcpSYN, nil)
	f.pass("SYN", syn)
	f.checkEntry("first SYN", "SYN_SENT", timeoutIn(500, 600))

	// A refresh would now show the new, longer timeout; there is none.
	f.tp.router.run(t, "nflab", "ct", "config", "--timeout", "tcp_syn_sent=3000")
	f.pass("the SYN again", syn)
	f.checkEntry("retransmitted SYN", "SYN_SENT", capped(600))
	f.pass("SYN/ACK", s2c(500000, 1001, tcpSYN|tcpACK, nil))
	f.checkEntry("answered", "SYN_RECV", capped(60))
}

func TestCTTCPResetRefusingSynRemovesEntry(t *testing.T) {
	// A CLOSE entry left behind would last long enough to be seen.
	f := craftedSetup(t, 40005, 9005, "--timeout", "tcp_close=600")
	f.pass("SYN", c2s(1000, 0, tcpSYN, nil))
	f.refused("RST acknowledging something else", s2c(0, 1005, tcpRST|tcpACK, nil))
	f.checkEntry("after the wrong RST", "SYN_SENT", anyEntry)
	f.pass("RST refusing the SYN", s2c(0, 1001, tcpRST|tcpACK, nil))
	if es := f.entries(); len(es) != 0 {
		t.Errorf("after the RST refusing the SYN: %+v, want no entry", es)
	}

	// The same through real stacks: a connection to a closed port.
	if _, err := f.tp.client.try("socat", "-u", "OPEN:/dev/null", "TCP4:10.0.2.2:8001"); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	if es := ctList(t, f.tp.router, "-p", "tcp", "--dport", "8001"); len(es) != 0 {
		t.Errorf("after connecting to a closed port: %+v, want no entry", es)
	}
}

// A tuple reused after a close the router missed: the new SYN is ignored
// (and remembered), and the server's SYN/ACK answering it starts the entry
// over instead of leaving it ESTABLISHED with the old windows.
func TestCTTCPResyncOnSynAck(t *testing.T) {
	f := craftedSetup(t, 40006, 9006)
	const c, s = isnC, isnS
	old := f.open(c, s)
	f.pass("data", c2s(c+1, s+1, tcpACK|tcpPSH, make([]byte, 10)))
	f.pass("its ACK", s2c(s+1, c+11, tcpACK, nil))

	// Both ends forgot; new initial sequence numbers far from the old.
	const c2, s2 = c + 1<<30, s + 3<<29
	f.pass("the new SYN (ignored)", c2s(c2, 0, tcpSYN, nil))
	f.checkEntry("after the ignored SYN", "ESTABLISHED", days)
	f.pass("the SYN/ACK answering it", s2c(s2, c2+1, tcpSYN|tcpACK, nil))
	f.checkEntry("resynchronised", "SYN_RECV", sameID(old.ID))
	f.pass("ACK", c2s(c2+1, s2+1, tcpACK, nil))
	f.pass("data", c2s(c2+1, s2+1, tcpACK|tcpPSH, make([]byte, 10)))
	f.pass("its ACK", s2c(s2+1, c2+11, tcpACK, nil))
	f.checkEntry("the new connection", "ESTABLISHED", days)

	// A SYN/ACK acknowledging something else is no answer to the SYN.
	const c3 = c2 + 1<<30
	f.pass("another SYN (ignored)", c2s(c3, 0, tcpSYN, nil))
	// Ignored too, as in the kernel: it passes and changes nothing.
	f.pass("a SYN/ACK for another SYN", s2c(s2+1<<30, c3+2, tcpSYN|tcpACK, nil))
	f.checkEntry("no resync", "ESTABLISHED", days)
}

// A server that no longer listens refuses the reused tuple's SYN with a
// RST: that closes the stale entry, and the client's next SYN opens it.
func TestCTTCPResetRefusingIgnoredSyn(t *testing.T) {
	f := craftedSetup(t, 40007, 9007, "--timeout", "tcp_close=600")
	const c, s = isnC, isnS
	old := f.open(c, s)
	const c2 = c + 1<<30
	f.pass("the new SYN (ignored)", c2s(c2, 0, tcpSYN, nil))
	f.pass("the RST refusing it", s2c(0, c2+1, tcpRST|tcpACK, nil))
	f.checkEntry("refused", "CLOSE", sameID(old.ID))
	f.pass("the SYN again", c2s(c2, 0, tcpSYN, nil))
	f.checkEntry("re-opened", "SYN_SENT", sameID(old.ID))
}

// The same with real stacks: both ends abort, and the router misses both
// resets (dropped before its tracker). The client reconnects from the same
// port; the connection must be tracked again, not left INVALID.
func TestCTTCPResyncAfterMissedResets(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	ln := listenIn(t, "server", ":8800")
	flow := []string{"-p", "tcp", "--dport", "8800"}
	echo := func(cl, srv *net.TCPConn) {
		t.Helper()
		if _, err := cl.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		readN(t, srv, make([]byte, 4))
		if _, err := srv.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
		readN(t, cl, make([]byte, 4))
	}
	c1 := dialFrom(t, "client", "10.0.2.2:8800", 43000)
	s1 := acceptOne(t, ln)
	echo(c1, s1)
	old := one(t, ctList(t, tp.router, flow...))

	tp.router.run(t, "nft", "add table ip rd")
	tp.router.run(t, "nft", "add chain ip rd pre { type filter hook prerouting priority -300 ; }")
	tp.router.run(t, "nft", "add rule ip rd pre tcp flags & rst == rst counter drop")
	for i, c := range []*net.TCPConn{s1, c1} {
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close()
		waitFor(t, fmt.Sprintf("reset %d dropped", i+1), func() bool {
			return nftPackets(t, tp.router, "ip rd pre", "counter") > i
		})
	}
	tp.router.run(t, "nft", "delete table ip rd")
	if e := one(t, ctList(t, tp.router, flow...)); e.TCPState != "ESTABLISHED" || e.ID != old.ID {
		t.Fatalf("after the missed resets: %+v, want entry %d still ESTABLISHED", e, old.ID)
	}

	c2 := dialFrom(t, "client", "10.0.2.2:8800", 43000)
	defer c2.Close()
	s2 := acceptOne(t, ln)
	echo(c2, s2)
	before := ctStats(t, tp.router)
	for range 3 {
		echo(c2, s2)
	}
	e := one(t, ctList(t, tp.router, flow...))
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] {
		t.Errorf("the new connection's traffic: invalid %d -> %d, want none", before["invalid"], after["invalid"])
	}
	// At least the handshake's last ACK and the four pings counted.
	if e.TCPState != "ESTABLISHED" || e.ID != old.ID || e.PacketsOrig < old.PacketsOrig+5 {
		t.Errorf("entry %+v: want entry %d ESTABLISHED, counting the new connection (it had %d packets)",
			e, old.ID, old.PacketsOrig)
	}
}

// A SYN_SENT entry whose SYN met a challenge ACK (the server still holds
// an old connection on the tuple): the challenge ACK passes (ignored, so
// the entry has seen a reply, as in the kernel), and the client's RST
// answering it is valid and closes the entry.
func TestCTTCPResetAnsweringChallengeAck(t *testing.T) {
	f := craftedSetup(t, 40010, 9010, "--timeout", "tcp_close=600")
	f.pass("SYN", c2s(1000, 0, tcpSYN, nil))
	const oldC, oldS = 1 << 31, 1<<31 + 1<<28
	f.pass("the challenge ACK (ignored)", s2c(oldS, oldC, tcpACK, nil))
	f.checkEntry("after the challenge ACK", "SYN_SENT", anyEntry)
	f.pass("the client's RST answering it", c2s(oldC, 0, tcpRST, nil))
	f.checkEntry("after the RST", "CLOSE", anyEntry)
}

// Resets: an exact one closes; one inside the window but not exact passes,
// keeps the state and shortens the timeout (the receiver answers it with a
// challenge ACK, whose answer is exact); one below what the receiver
// acknowledged is INVALID.
func TestCTTCPInexactResetKeepsState(t *testing.T) {
	f := craftedSetup(t, 40008, 9008, "--timeout", "tcp_close=600")
	const c, s = isnC, isnS
	f.open(c, s)
	f.pass("100 bytes from the client", c2s(c+1, s+1, tcpACK|tcpPSH, make([]byte, 100)))
	f.pass("their ACK", s2c(s+1, c+101, tcpACK, nil))

	f.pass("RST inside the window, not exact", c2s(c+151, 0, tcpRST, nil))
	// The state stays, the timeout drops to tcp_close (as the kernel),
	// and the challenge ACK's traffic restores it.
	f.checkEntry("after the inexact RST", "ESTABLISHED", entryWant{"the tcp_close timeout", func(e ctEntry) bool {
		return e.Timeout > 0 && e.Timeout <= 600
	}})
	f.pass("the challenge ACK", s2c(s+1, c+101, tcpACK, nil))
	f.checkEntry("after the challenge ACK", "ESTABLISHED", days)
	f.refused("RST below what the server acknowledged", c2s(c+50, 0, tcpRST, nil))
	f.checkEntry("after the old RST", "ESTABLISHED", days)
	f.pass("the exact RST", c2s(c+101, 0, tcpRST, nil))
	f.checkEntry("after the exact RST", "CLOSE", anyEntry)
}

// A reset right behind its sender's last segment closes, even when that
// segment was a retransmission and the reset's sequence number is neither
// the sender's next nor acknowledged yet (the kernel's "RST train").
func TestCTTCPResetTrainCloses(t *testing.T) {
	f := craftedSetup(t, 40009, 9009, "--timeout", "tcp_close=600")
	const c, s = isnC, isnS
	f.open(c, s)
	first := s2c(s+1, c+1, tcpACK|tcpPSH, make([]byte, 10))
	f.pass("10 bytes from the server", first)
	f.pass("10 more", s2c(s+11, c+1, tcpACK|tcpPSH, make([]byte, 10)))
	f.pass("the first 10 again", first)
	f.pass("RST behind them", s2c(s+11, c+1, tcpRST|tcpACK, nil))
	f.checkEntry("after the train", "CLOSE", anyEntry)
}
