//go:build nflabvm

// TCP segments the router's tracker must refuse, in the spirit of the
// kernel's packetdrill tests: crafted with a raw socket in the client's or
// the server's namespace, judged on the router that forwards them.
package guest

import (
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpSegment builds a TCP header (no options, no payload) with a valid
// checksum for src -> dst.
func tcpSegment(src, dst net.IP, sport, dport uint16, seq, ack uint32, flags byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12] = 5 << 4
	h[13] = flags
	binary.BigEndian.PutUint16(h[14:], 65535)
	pseudo := append(append(append([]byte{}, src.To4()...), dst.To4()...), 0, unix.IPPROTO_TCP, 0, 20)
	var sum uint32
	for _, b := range [][]byte{pseudo, h} {
		for i := 0; i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[16:], ^uint16(sum))
	return h
}

// ipv4Packet puts a 20-byte IPv4 header in front of payload, for
// IPPROTO_RAW; the kernel fills in the length, the id and the checksum.
func ipv4Packet(src, dst net.IP, proto byte, payload []byte) []byte {
	p := make([]byte, 20, 20+len(payload))
	p[0] = 4<<4 | 5
	p[8], p[9] = 64, proto
	copy(p[12:], src.To4())
	copy(p[16:], dst.To4())
	return append(p, payload...)
}

// sendRaw sends payload from namespace ns on a raw socket of protocol
// proto: the kernel adds the IP header, except for IPPROTO_RAW, whose
// payload is a whole IP packet.
func sendRaw(t *testing.T, ns string, proto int, dst net.IP, payload []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine
		if err := enterNetns(ns); err != nil {
			errc <- err
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, proto)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		var a [4]byte
		copy(a[:], dst.To4())
		errc <- unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Addr: a})
	}()
	if err := <-errc; err != nil {
		t.Fatalf("sending %d bytes (protocol %d) from %s: %v", len(payload), proto, ns, err)
	}
}

// sendRawTCP sends a crafted segment from namespace ns.
func sendRawTCP(t *testing.T, ns string, dst net.IP, seg []byte) {
	t.Helper()
	sendRaw(t, ns, unix.IPPROTO_TCP, dst, seg)
}

// rawTCPIn opens a raw socket in namespace ns that gets a copy of every
// TCP segment arriving there, before TCP itself sees it; closed when the
// test ends.
func rawTCPIn(t *testing.T, ns string) int {
	t.Helper()
	fd := -1
	inNetns(t, ns, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
		return err
	})
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// nextSegment reads segments from a rawTCPIn socket until ok accepts one
// (IP header stripped, at least 20 bytes); it fails after waitLong.
func nextSegment(t *testing.T, fd int, what string, ok func(th []byte) bool) {
	t.Helper()
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the 1 s timeout: look at the deadline
		}
		if ihl := int(buf[0]&0x0f) * 4; n >= ihl+20 && ok(buf[ihl:n]) {
			return
		}
	}
	t.Fatalf("%s never arrived", what)
}

// peerSeqs runs exchange while watching, in namespace ns, the TCP segments
// that arrive from port from to port to. It returns the sequence number
// the peer sends next and the highest one it acknowledged. exchange must
// end only once the peer's last segment arrived (e.g. after reading its
// answer): a raw socket gets each segment before TCP does, so every one is
// queued by then.
func peerSeqs(t *testing.T, ns string, from, to uint16, exchange func()) (next, acked uint32) {
	t.Helper()
	fd := rawTCPIn(t, ns)
	exchange()
	var seen int
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN {
			break // all read
		}
		if err != nil {
			t.Fatalf("reading the segments from port %d in %s: %v", from, ns, err)
		}
		p := buf[:n]
		ihl := int(p[0]&0x0f) * 4
		if n < ihl+20 {
			continue
		}
		th := p[ihl:]
		doff := int(th[12]>>4) * 4
		if binary.BigEndian.Uint16(th[0:]) != from || binary.BigEndian.Uint16(th[2:]) != to || n < ihl+doff {
			continue
		}
		end := binary.BigEndian.Uint32(th[4:]) + uint32(n-ihl-doff)
		if th[13]&0x03 != 0 { // SYN or FIN
			end++
		}
		ack := binary.BigEndian.Uint32(th[8:])
		if seen == 0 || int32(end-next) > 0 {
			next = end
		}
		if seen == 0 || int32(ack-acked) > 0 {
			acked = ack
		}
		seen++
	}
	if seen == 0 {
		t.Fatalf("saw no segment from port %d to port %d in %s", from, to, ns)
	}
	return next, acked
}

// dialFrom opens a TCP connection from namespace ns, optionally from a
// fixed source port (with SO_REUSEADDR).
func dialFrom(t *testing.T, ns, addr string, sport int) *net.TCPConn {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	rc := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := enterNetns(ns); err != nil {
			rc <- result{nil, err}
			return
		}
		d := net.Dialer{Timeout: waitLong, Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		if sport != 0 {
			d.LocalAddr = &net.TCPAddr{Port: sport}
		}
		c, err := d.Dial("tcp4", addr)
		rc <- result{c, err}
	}()
	r := <-rc
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.c.(*net.TCPConn)
}

func TestCTTCPInvalid(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.server.run(t, "sh", "-c", "socat TCP4-LISTEN:8300,reuseaddr,fork EXEC:cat >/dev/null 2>&1 &")
	waitTCPListen(t, tp.server, 8300)
	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)
	// The CLOSE the exact RST leads to below must last until it is seen.
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "tcp_close=600")

	c := dialFrom(t, "client", "10.0.2.2:8300", 0)
	defer c.Close()
	sport := uint16(c.LocalAddr().(*net.TCPAddr).Port)
	buf := make([]byte, 5)
	// The echo tells the client's namespace where both sides stand: the
	// server sends from sn next and has taken everything before cn.
	sn, cn := peerSeqs(t, "client", 8300, sport, func() {
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("client sends %#x next, server %#x", cn, sn)
	flow := []string{"-p", "tcp", "--dport", "8300"}
	est := one(t, ctList(t, tp.router, flow...))
	if est.TCPState != "ESTABLISHED" {
		t.Fatalf("entry %+v, want ESTABLISHED", est)
	}

	// Each crafted segment is INVALID on the router and changes nothing.
	const far = 1 << 30 // beyond any window
	fromClient := func(seq, ack uint32, flags byte) []byte {
		return tcpSegment(client, server, sport, 8300, seq, ack, flags)
	}
	const ack, rst = 0x10, 0x04
	before := ctStats(t, tp.router)
	for _, tc := range []struct {
		name string
		from string
		dst  net.IP
		seg  []byte
	}{
		{"RST with a guessed sequence number", "client", server, fromClient(cn^0x5a5a5a5a, 0, rst)},
		{"RST beyond the window", "client", server, fromClient(cn+far, 0, rst)},
		{"data beyond the receiver's window", "client", server, fromClient(cn+far, sn, ack)},
		{"data from before the window", "client", server, fromClient(cn-far, sn, ack)},
		{"ACK for data never sent", "client", server, fromClient(cn, sn+1<<20, ack)},
		{"ACK from long ago", "client", server, fromClient(cn, sn-far, ack)},
		{"SYN+FIN", "client", server, fromClient(cn, 0, 0x03)},
		{"no flags", "client", server, fromClient(cn, 0, 0)},
	} {
		sendRawTCP(t, tc.from, tc.dst, tc.seg)
		after := statsAfter(t, tp.router, before)
		if after["invalid"] != before["invalid"]+1 {
			t.Errorf("%s: invalid %d -> %d, want one more", tc.name, before["invalid"], after["invalid"])
		}
		if e := one(t, ctList(t, tp.router, flow...)); e.TCPState != "ESTABLISHED" || e.ID != est.ID {
			t.Errorf("%s: entry now %+v, want entry %d still ESTABLISHED", tc.name, e, est.ID)
		}
		before = after
	}

	// The same ACK, in the window, is valid: the checks are not blanket.
	// The server's namespace tells when it crossed the router: no segment
	// of the client's own stack looks like it (no options, window 65535).
	arrivals := rawTCPIn(t, "server")
	prev := one(t, ctList(t, tp.router, flow...))
	sendRawTCP(t, "client", server, fromClient(cn, sn, ack))
	nextSegment(t, arrivals, "the crafted in-window ACK", func(th []byte) bool {
		return binary.BigEndian.Uint16(th[0:]) == sport && binary.BigEndian.Uint32(th[4:]) == cn &&
			binary.BigEndian.Uint32(th[8:]) == sn && th[12]>>4 == 5 && th[13] == ack &&
			binary.BigEndian.Uint16(th[14:]) == 65535
	})
	now := one(t, ctList(t, tp.router, flow...))
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] ||
		now.TCPState != "ESTABLISHED" || now.PacketsOrig <= prev.PacketsOrig {
		t.Errorf("in-window ACK: invalid %d -> %d, entry %+v (it had %d packets)",
			before["invalid"], after["invalid"], now, prev.PacketsOrig)
	}

	// The connection still works, and a reset from its own stack, with
	// the exact next sequence number, closes the entry.
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitCT(t, tp.router, "CLOSE after the exact RST", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "CLOSE" && es[0].ID == est.ID
	}, flow...)
}

func TestCTTCPSynReopensTimeWait(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	// The server closes first: TIME_WAIT sits with the server's socket,
	// and the client may reuse its port at once.
	tp.server.run(t, "sh", "-c", "socat -u TCP4-LISTEN:8400,reuseaddr,fork SYSTEM:'echo bye' >/dev/null 2>&1 &")
	waitTCPListen(t, tp.server, 8400)
	flow := []string{"-p", "tcp", "--dport", "8400"}

	talk := func(sport int) {
		c := dialFrom(t, "client", "10.0.2.2:8400", sport)
		defer c.Close()
		if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		for {
			if _, err := c.Read(buf); err == io.EOF {
				break // the server closed
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	talk(41000)
	tw := one(t, waitCT(t, tp.router, "TIME_WAIT", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "TIME_WAIT"
	}, flow...))

	// A new connection on the same ports: its SYN re-opens the entry. The
	// client's old socket may wait for the last ACK a moment longer.
	waitTCPPortFree(t, tp.client, 41000)
	talk(41000)
	again := one(t, waitCT(t, tp.router, "the re-opened connection closed again", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "TIME_WAIT" && es[0].PacketsOrig > tw.PacketsOrig
	}, flow...))
	if again.ID != tw.ID {
		t.Errorf("the SYN made entry %d instead of re-opening %d", again.ID, tw.ID)
	}
}

func TestCTTCPReverseSynAfterTimeWait(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	// The client closes first, so TIME_WAIT sits with its socket; the
	// server's listener takes one connection and is gone.
	tp.server.run(t, "sh", "-c", "socat -u TCP4-LISTEN:8500,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &")
	waitTCPListen(t, tp.server, 8500)
	c := dialFrom(t, "client", "10.0.2.2:8500", 42000)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	tw := one(t, waitCT(t, tp.router, "TIME_WAIT", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "TIME_WAIT"
	}, "-p", "tcp", "--sport", "42000"))

	// Now the server connects back on the same ports. Its SYN runs
	// against the old entry's reply direction: a new flow, server first.
	tp.client.run(t, "sh", "-c", "socat -u TCP4-LISTEN:42000,reuseaddr OPEN:/dev/null >/dev/null 2>&1 &")
	waitTCPListen(t, tp.client, 42000)
	waitTCPPortFree(t, tp.server, 8500)
	back := dialFrom(t, "server", "10.0.1.2:42000", 8500)
	defer back.Close()
	if _, err := back.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	e := one(t, waitCT(t, tp.router, "the server's connection ESTABLISHED", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "ESTABLISHED"
	}, "-p", "tcp", "--dport", "42000"))
	if e.ID == tw.ID || e.Orig.Src != "10.0.2.2" || e.Orig.Sport != 8500 || !e.has("ASSURED") {
		t.Errorf("entry %+v: want a new ASSURED entry from 10.0.2.2:8500 (the old one was %d)", e, tw.ID)
	}
	if es := ctList(t, tp.router, "-p", "tcp", "--sport", "42000"); len(es) != 0 {
		t.Errorf("the TIME_WAIT entry is still there: %+v", es)
	}
}
