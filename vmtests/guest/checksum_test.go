//go:build nflabvm

// Checksums, verified where the kernel's tracker verifies them: at
// PRE_ROUTING, as nf_ip_checksum does, unless the stack already vouched for
// the packet. A packet with a bad TCP, UDP or ICMP checksum is INVALID on
// the router of hooks_test.go's topology and changes nothing there: no
// entry, no state, no counter.
//
// The bad packets come from raw sockets, which leave the checksum to the
// sender: the router gets them as CHECKSUM_NONE and must check. A socket's
// own TCP and UDP cross veth as CHECKSUM_PARTIAL (the checksum field holds
// only the pseudo-header's sum, the rest is left to a device that never
// comes): the router must track them as before, and a UDP datagram without
// a checksum (0) too.
package guest

import (
	"net"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// badSum returns a copy of pkt whose checksum, at offset off, is wrong and
// not 0 (which UDP reads as "none").
func badSum(pkt []byte, off int) []byte {
	b := slices.Clone(pkt)
	b[off] ^= 0x5a
	if b[off] == 0 && b[off+1] == 0 {
		b[off+1] = 1
	}
	return b
}

// crossRouter sends payload of protocol proto from namespace ns to dst on
// a raw socket (see sendRaw) and waits until the router has forwarded it:
// by then the router's tracker has judged it at PRE_ROUTING. Nothing else
// may cross the router meanwhile.
func (tp *topology) crossRouter(ns string, proto int, dst net.IP, payload []byte) {
	tp.t.Helper()
	before := tp.stats("router")["FORWARD"][0]
	sendRaw(tp.t, ns, proto, dst, payload)
	waitFor(tp.t, "the router forwarding the crafted packet", func() bool {
		return tp.stats("router")["FORWARD"][0] > before
	})
}

// waitAllAcked waits until the peer acknowledged everything c sent: its
// last ACK crossed every tracker on the way, and no delayed ACK is left to
// come later.
func waitAllAcked(t *testing.T, c *net.TCPConn) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "everything sent on "+c.LocalAddr().String()+" acknowledged", func() bool {
		var info *unix.TCPInfo
		var ierr error
		if err := rc.Control(func(fd uintptr) {
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		}); err != nil || ierr != nil {
			t.Fatalf("TCP_INFO: %v %v", err, ierr)
		}
		return info.Unacked == 0
	})
}

func TestCTChecksum(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "flush")
	// Nothing may expire while the test looks; the CLOSE the last RST
	// leads to must last until it is seen.
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600",
		"--timeout", "icmp=600", "--timeout", "tcp_close=600")
	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)
	first := ctStats(t, tp.router)

	// The sockets' own traffic, CHECKSUM_PARTIAL at the router: a UDP
	// request and reply, a TCP connection with data both ways, a ping.
	udpEchoIn(t, "server", ":7800")
	udpRequest(t, "client", ":6800", "10.0.2.2:7800", []byte("partial"))
	c, s := connPair(t, "client", "server", ":8800", "10.0.2.2:8800")
	for _, conn := range []*net.TCPConn{c, s} {
		if err := conn.SetKeepAlive(false); err != nil { // no probes while counters are compared
			t.Fatal(err)
		}
	}
	sport := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	sn, cn := peerSeqs(t, "client", 8800, sport, func() {
		buf := make([]byte, 5)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		readN(t, s, buf)
		if _, err := s.Write(buf); err != nil {
			t.Fatal(err)
		}
		readN(t, c, buf)
	})
	waitAllAcked(t, c)
	waitAllAcked(t, s)
	tp.ping("client", "10.0.2.2", 1)
	if after := ctStats(t, tp.router); after["invalid"] != first["invalid"] {
		t.Errorf("sockets' own traffic: invalid %d -> %d on the router, want none", first["invalid"], after["invalid"])
	}
	if e := one(t, ctList(t, tp.router, "-p", "udp", "--dport", "7800")); !e.has("SEEN_REPLY") ||
		e.PacketsOrig != 1 || e.PacketsReply != 1 {
		t.Errorf("UDP request/reply entry %+v, want SEEN_REPLY and a packet each way", e)
	}
	tcpFlow := []string{"-p", "tcp", "--dport", "8800"}
	if e := one(t, ctList(t, tp.router, tcpFlow...)); e.TCPState != "ESTABLISHED" {
		t.Errorf("TCP entry %+v, want ESTABLISHED", e)
	}
	if e := one(t, ctList(t, tp.router, "-p", "icmp")); !e.has("SEEN_REPLY") {
		t.Errorf("ping entry %+v, want SEEN_REPLY", e)
	}

	// An unreplied UDP flow for bad replies to run into. The server reads
	// nothing but has the port bound, so it sends no port unreachable.
	udpIn(t, "server", ":7801", "")
	cu := udpIn(t, "client", ":6801", "10.0.2.2:7801")
	if _, err := cu.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	udpFlow := []string{"-p", "udp", "--dport", "7801"}
	waitCT(t, tp.router, "the unreplied UDP flow", func(es []ctEntry) bool { return len(es) == 1 }, udpFlow...)

	const syn, rst, finAck = 0x02, 0x04, 0x11
	toServer := func(seq, ack uint32, flags byte) []byte {
		return tcpSegment(client, server, sport, 8800, seq, ack, flags)
	}
	reply := udpDatagram(server, client, 7801, 6801, []byte("reply"))
	quote := ipv4Packet(client, server, unix.IPPROTO_UDP, udpDatagram(client, server, 6801, 7801, nil))
	unreach := icmpMessage(3, 3, [4]byte{}, quote)
	// Each with a good checksum would change something: open an entry,
	// close or half-close the connection, answer the UDP flow, count as
	// RELATED to it. With a bad one, each is INVALID and changes nothing.
	for _, tc := range []struct {
		name  string
		from  string
		proto int
		dst   net.IP
		pkt   []byte
	}{
		{"TCP SYN", "client", unix.IPPROTO_TCP, server,
			badSum(tcpSegment(client, server, 4300, 8801, 1, 0, syn), 16)},
		{"TCP FIN in the window", "client", unix.IPPROTO_TCP, server, badSum(toServer(cn, sn, finAck), 16)},
		{"TCP RST with the exact sequence number", "client", unix.IPPROTO_TCP, server,
			badSum(toServer(cn, 0, rst), 16)},
		{"TCP RST from the server, exact", "server", unix.IPPROTO_TCP, client,
			badSum(tcpSegment(server, client, 8800, sport, sn, 0, rst), 16)},
		{"UDP datagram of a new flow", "client", unix.IPPROTO_UDP, server,
			badSum(udpDatagram(client, server, 4300, 4301, []byte("x")), 6)},
		{"UDP reply to the unreplied flow", "server", unix.IPPROTO_UDP, client, badSum(reply, 6)},
		{"ICMP echo request", "client", unix.IPPROTO_ICMP, server,
			badSum(icmpMessage(8, 0, [4]byte{0x12, 0x34, 0, 1}, []byte("ping")), 2)},
		{"ICMP port unreachable about the UDP flow", "server", unix.IPPROTO_ICMP, client, badSum(unreach, 2)},
	} {
		before, entries := ctStats(t, tp.router), ctFrozen(ctList(t, tp.router))
		tp.crossRouter(tc.from, tc.proto, tc.dst, tc.pkt)
		after := ctStats(t, tp.router)
		if after["invalid"] != before["invalid"]+1 || after["related"] != before["related"] {
			t.Errorf("bad checksum, %s: invalid %d -> %d, related %d -> %d; want one more invalid",
				tc.name, before["invalid"], after["invalid"], before["related"], after["related"])
		}
		if d := ctChanges(entries, ctFrozen(ctList(t, tp.router))); d != "" {
			t.Errorf("bad checksum, %s, changed entries:\n%s", tc.name, d)
		}
	}

	// The same packets with good checksums do what they are for: the bad
	// ones were judged by their checksum alone.
	before := ctStats(t, tp.router)
	tp.crossRouter("server", unix.IPPROTO_ICMP, client, unreach)
	if after := ctStats(t, tp.router); after["related"] != before["related"]+1 || after["invalid"] != before["invalid"] {
		t.Errorf("good port unreachable: related %d -> %d, invalid %d -> %d; want one more related",
			before["related"], after["related"], before["invalid"], after["invalid"])
	}
	tp.crossRouter("server", unix.IPPROTO_UDP, client, reply)
	if e := one(t, ctList(t, tp.router, udpFlow...)); !e.has("SEEN_REPLY") || e.PacketsReply != 1 {
		t.Errorf("entry after the good reply %+v, want SEEN_REPLY and one reply packet", e)
	}

	// No checksum at all (0) is allowed for UDP over IPv4: tracked.
	udpIn(t, "server", ":4401", "")
	zero := udpDatagram(client, server, 4400, 4401, []byte("no sum"))
	zero[6], zero[7] = 0, 0
	before = ctStats(t, tp.router)
	tp.crossRouter("client", unix.IPPROTO_UDP, server, zero)
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] {
		t.Errorf("UDP checksum 0: invalid %d -> %d, want no change", before["invalid"], after["invalid"])
	} else {
		waitCT(t, tp.router, "an entry for the datagram without checksum", func(es []ctEntry) bool {
			return len(es) == 1 && es[0].PacketsOrig == 1
		}, "-p", "udp", "--dport", "4401")
	}

	// Last, as it ends the connection: the exact RST closes the entry.
	tp.crossRouter("client", unix.IPPROTO_TCP, server, toServer(cn, 0, rst))
	waitCT(t, tp.router, "CLOSE after the good RST", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "CLOSE"
	}, tcpFlow...)
}
