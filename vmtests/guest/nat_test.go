//go:build nflabvm

// nflab's NAT end to end, on the topology of hooks_test.go:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
//
// What the far side sees (addresses, ports) is read from real sockets;
// what nflab decided, from "nflab ct list" on the translating namespace.
package guest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// echoEnds is what the listener saw of a connection: its peer, and the
// local address it was reached at.
type echoEnds struct {
	peer  *net.TCPAddr
	local string
}

// tcpEcho dials dst from ns, accepts on ln, checks that the listener sees
// the peer at address wantIP and that bytes cross both ways.
func tcpEcho(t *testing.T, ns, dst string, ln *net.TCPListener, wantIP string) echoEnds {
	t.Helper()
	c, err := dialErr(t, ns, dst, waitLong)
	if err != nil {
		t.Fatalf("%s: dialling %s: %v", ns, dst, err)
	}
	s := acceptOne(t, ln)
	peer := s.RemoteAddr().(*net.TCPAddr)
	if wantIP != "" && peer.IP.String() != wantIP {
		t.Errorf("%s → %s: the listener sees %v, want %s", ns, dst, peer, wantIP)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	readN(t, s, make([]byte, 4))
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	readN(t, c, make([]byte, 4))
	return echoEnds{peer: peer, local: s.LocalAddr().String()}
}

func TestNATMasquerade(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade comment \"masq\"\n")

	ln := listenIn(t, "server", ":8200")
	tcpEcho(t, "client", "10.0.2.2:8200", ln, "10.0.2.1")

	srv := udpIn(t, "server", ":8201", "")
	cl := udpIn(t, "client", ":0", "10.0.2.2:8201")
	if _, err := cl.Write([]byte("u")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	srv.SetReadDeadline(time.Now().Add(waitLong))
	_, from, err := srv.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from.IP.String() != "10.0.2.1" {
		t.Errorf("UDP: the server sees %v, want the router's 10.0.2.1", from)
	}
	if _, err := srv.WriteToUDP([]byte("v"), from); err != nil {
		t.Fatal(err)
	}
	cl.SetReadDeadline(time.Now().Add(waitLong))
	if _, err := cl.Read(buf); err != nil {
		t.Fatalf("UDP: the reply did not come back through the router: %v", err)
	}

	tp.ping("client", "10.0.2.2", 2)

	es := ctList(t, tp.router, "--src-nat")
	if len(es) != 3 {
		t.Fatalf("router: %d SRC_NAT entries, want 3 (TCP, UDP, ICMP): %+v", len(es), es)
	}
	for _, e := range es {
		if e.Orig.Src != "10.0.1.2" || e.Reply.Dst != "10.0.2.1" || e.Reply.Src != "10.0.2.2" ||
			!e.has("SRC_NAT") || e.has("DST_NAT") || !e.has("SEEN_REPLY") {
			t.Errorf("router entry %+v: want 10.0.1.2 → 10.0.2.2 replied to 10.0.2.1, SRC_NAT only", e)
		}
	}
	if n := len(ctList(t, tp.router, "--dst-nat")); n != 0 {
		t.Errorf("router: %d DST_NAT entries, want none", n)
	}
	// Only first packets meet the nat chain.
	wantPackets(t, tp.router, map[string]uint64{"masq": 3})
}

// natUDPFlows opens n UDP flows from the client to the server's echo port and
// returns the router's entries for them once each was answered.
func natUDPFlows(t *testing.T, tp *topology, n int, port int) []ctEntry {
	t.Helper()
	udpEchoIn(t, "server", fmt.Sprintf(":%d", port))
	for i := 0; i < n; i++ {
		udpRequest(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", port), []byte("x"))
	}
	return ctList(t, tp.router, "-p", "udp", "--dport", fmt.Sprint(port))
}

func TestNATMasqueradeFullyRandom(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")
	kept := 0
	for _, e := range natUDPFlows(t, tp, 4, 8210) {
		if e.Reply.Dport == e.Orig.Sport {
			kept++
		}
	}
	if kept != 4 {
		t.Errorf("plain masquerade kept %d of 4 free source ports, want all", kept)
	}
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade fully-random\n")
	es := natUDPFlows(t, tp, 4, 8211)
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4: %+v", len(es), es)
	}
	kept = 0
	for _, e := range es {
		if e.Reply.Dport == e.Orig.Sport {
			kept++
		}
		if e.Reply.Dport < 1024 || e.Reply.Dst != "10.0.2.1" {
			t.Errorf("fully-random mapping %+v: want 10.0.2.1 and a port of 1024-65535", e)
		}
	}
	// Each keeps its port with a chance of 1 in 64,512.
	if kept == 4 {
		t.Error("fully-random masquerade kept every source port")
	}
}

// natSendUntilAnswered sends from c until a reply arrives (a first packet
// may lose a race for its tuple on another CPU and be dropped).
func natSendUntilAnswered(c *net.UDPConn) error {
	deadline := time.Now().Add(waitLong)
	buf := make([]byte, 16)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("q")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Read(buf); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%v: no answer within %v", c.LocalAddr(), waitLong)
}

func mustUDPAddr(t *testing.T, s string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp4", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Twenty clients on one source port, all at once, into twenty free tuples:
// each gets its own, in range; the twenty-first finds none and is dropped.
func TestNATSNATRangeParallel(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	const n = 20
	for i := 0; i <= n; i++ {
		tp.client.run(t, "ip", "addr", "add", fmt.Sprintf("10.0.1.%d/24", 100+i), "dev", "c0")
	}
	// The router answers ARP for the translated address.
	tp.router.run(t, "ip", "addr", "add", "10.0.2.100/32", "dev", "r1")
	udpEchoIn(t, "server", ":8220")
	applyIn(t, tp.router, "rule nat postrouting udp dport 8220 snat to 10.0.2.100:2000-2019\n")

	conns := make([]*net.UDPConn, n+1)
	for i := range conns {
		conns[i] = udpIn(t, "client", fmt.Sprintf("10.0.1.%d:5555", 100+i), "10.0.2.2:8220")
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range conns[:n] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := natSendUntilAnswered(c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	es := ctList(t, tp.router, "-p", "udp", "--dport", "8220")
	seen := map[uint16]bool{}
	for _, e := range es {
		if e.Reply.Dst != "10.0.2.100" || e.Reply.Dport < 2000 || e.Reply.Dport > 2019 || e.Orig.Sport != 5555 {
			t.Errorf("mapping %+v: want 10.0.2.100:2000-2019 for source port 5555", e)
		}
		if seen[e.Reply.Dport] {
			t.Errorf("two connections on 10.0.2.100:%d", e.Reply.Dport)
		}
		seen[e.Reply.Dport] = true
	}
	if len(es) != n || len(seen) != n {
		t.Fatalf("%d entries, %d distinct reply tuples; want %d of each", len(es), len(seen), n)
	}

	before := ctStats(t, tp.router)["nat_exhausted"]
	if _, err := conns[n].Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the twenty-first flow counted as exhausted", func() bool {
		return ctStats(t, tp.router)["nat_exhausted"] == before+1
	})
	if got := len(ctList(t, tp.router, "-p", "udp", "--dport", "8220")); got != n {
		t.Errorf("%d entries after exhaustion, want %d", got, n)
	}
}

func TestNATSNATAddressRange(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "ip", "addr", "add", "10.0.2.100/32", "dev", "r1")
	tp.router.run(t, "ip", "addr", "add", "10.0.2.101/32", "dev", "r1")
	// Eight destinations: without persistent, the address is hashed from
	// source and destination, so they would not all get one (1 in 128).
	for i := 3; i <= 10; i++ {
		tp.server.run(t, "ip", "addr", "add", fmt.Sprintf("10.0.2.%d/24", i), "dev", "s0")
		udpEchoIn(t, "server", fmt.Sprintf("10.0.2.%d:8230", i))
	}
	for _, persistent := range []bool{true, false} {
		flag := map[bool]string{true: " persistent"}[persistent]
		applyIn(t, tp.router, "rule nat postrouting oif r1 snat to 10.0.2.100-10.0.2.101"+flag+"\n")
		tp.router.run(t, "nflab", "ct", "flush")
		for i := 3; i <= 10; i++ {
			udpRequest(t, "client", ":0", fmt.Sprintf("10.0.2.%d:8230", i), []byte("x"))
		}
		es := ctList(t, tp.router, "-p", "udp", "--dport", "8230")
		if len(es) != 8 {
			t.Fatalf("%d entries, want 8: %+v", len(es), es)
		}
		addrs := map[string]bool{}
		for _, e := range es {
			if e.Reply.Dst != "10.0.2.100" && e.Reply.Dst != "10.0.2.101" {
				t.Errorf("mapping %+v: want an address of 10.0.2.100-101", e)
			}
			addrs[e.Reply.Dst] = true
		}
		if persistent && len(addrs) != 1 {
			t.Errorf("persistent: one source got the addresses %v, want one", addrs)
		}
	}
}

func TestNATDNAT(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)

	// A port forward on the router: the server sees the client itself.
	applyIn(t, tp.router, "rule nat prerouting iif r0 tcp dport 8080 dnat to 10.0.2.2:8300\n")
	tcpEcho(t, "client", "10.0.1.1:8080", listenIn(t, "server", ":8300"), "10.0.1.2")
	e := one(t, ctList(t, tp.router, "--dst-nat"))
	if e.Orig.Dst != "10.0.1.1" || e.Orig.Dport != 8080 || e.Reply.Src != "10.0.2.2" || e.Reply.Sport != 8300 ||
		e.Reply.Dst != "10.0.1.2" || e.has("SRC_NAT") {
		t.Errorf("port forward entry %+v", e)
	}

	// The port alone, on the server.
	applyIn(t, tp.server, "rule nat prerouting tcp dport 8081 dnat to :8301\n")
	tcpEcho(t, "client", "10.0.2.2:8081", listenIn(t, "server", ":8301"), "10.0.1.2")

	// Locally generated traffic to a virtual address, which the client
	// routes into a dummy device: only re-routing after DNAT delivers it.
	tp.client.run(t, "ip", "link", "add", "d0", "type", "dummy")
	tp.client.run(t, "ip", "link", "set", "d0", "up")
	tp.client.run(t, "ip", "route", "add", "10.9.9.9/32", "dev", "d0")
	applyIn(t, tp.client, "rule nat output ip daddr 10.9.9.9 tcp dport 80 dnat to 10.0.2.2:8302\n")
	tcpEcho(t, "client", "10.9.9.9:80", listenIn(t, "server", ":8302"), "10.0.1.2")

	// REDIRECT to a local port, arriving and locally generated. A
	// first packet redirected at output comes back over loopback still
	// naming its connection: input sees it new, never invalid.
	applyIn(t, tp.server, `rule nat prerouting tcp dport 8888 redirect to :8303
rule nat output tcp dport 8889 redirect to :8303
rule filter input ct state invalid counter comment "invalid"
rule filter input ct state new tcp dport 8303 counter comment "new"
`)
	ln := listenIn(t, "server", ":8303")
	if a := tcpEcho(t, "client", "10.0.2.2:8888", ln, "10.0.1.2"); a.local != "10.0.2.2:8303" {
		t.Errorf("redirect at prerouting reached %s, want the arriving device's 10.0.2.2:8303", a.local)
	}
	// From the server itself: to 127.0.0.1, from its own address.
	if a := tcpEcho(t, "server", "10.0.2.2:8889", ln, "10.0.2.2"); a.local != "127.0.0.1:8303" {
		t.Errorf("redirect at output reached %s, want 127.0.0.1:8303", a.local)
	}
	wantPackets(t, tp.server, map[string]uint64{"invalid": 0, "new": 2})
}

// Two connections from one client port, one redirected onto the other's
// server port: the second's reply tuple is the first's, so its source port
// moves on the server and both establish.
func TestNATRedirectReplyClash(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.server, "rule nat prerouting tcp dport 8311 redirect to :8310\n")
	ln := listenIn(t, "server", ":8310")
	c1 := dialFrom(t, "client", "10.0.2.2:8310", 4444)
	s1 := acceptOne(t, ln)
	c2 := dialFrom(t, "client", "10.0.2.2:8311", 4444)
	t.Cleanup(func() { c1.Close(); c2.Close() })
	s2 := acceptOne(t, ln)
	p1, p2 := s1.RemoteAddr().(*net.TCPAddr), s2.RemoteAddr().(*net.TCPAddr)
	if p1.Port != 4444 || p2.Port == 4444 || !p2.IP.Equal(net.IPv4(10, 0, 1, 2)) {
		t.Errorf("the server sees %v and %v: want 10.0.1.2:4444 and 10.0.1.2 on another port", p1, p2)
	}
	for i, pair := range [][2]*net.TCPConn{{c1, s1}, {c2, s2}} {
		if _, err := pair[1].Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		readN(t, pair[0], make([]byte, 2))
		if _, err := pair[0].Write([]byte("yo")); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		readN(t, pair[1], make([]byte, 2))
	}
	if s := ctStats(t, tp.server); s["nat_clash"] != 0 || s["nat_exhausted"] != 0 {
		t.Errorf("server stats %v: want no NAT clash or exhaustion", s)
	}
}

// A DF ping through the masquerading router meets a narrower link beyond
// the server: the server's frag-needed, sent to the router's address about
// the translated packet, reaches the client about its own packet, and the
// client's path MTU cache learns the narrower link.
func TestNATICMPFragNeeded(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	far := newNetns(t, "far")
	veth(t, tp.server, "s1", "10.0.3.1/24", far, "f0", "10.0.3.2/24")
	tp.server.run(t, "ip", "link", "set", "s1", "mtu", "1000")
	far.run(t, "ip", "link", "set", "f0", "mtu", "1000")
	far.run(t, "ip", "route", "add", "default", "via", "10.0.3.1")
	tp.server.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	tp.router.run(t, "ip", "route", "add", "10.0.3.0/24", "via", "10.0.2.2")
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")

	tp.ping("client", "10.0.3.2", 1)
	if out := tp.client.run(t, "ip", "-o", "route", "get", "10.0.3.2"); strings.Contains(out, "mtu 1000") {
		t.Fatalf("the client knows the narrow link before any frag-needed: %s", out)
	}
	before := ctStats(t, tp.router)["related"]
	// The DF echo does not fit: ping reports the error and fails.
	out, err := tp.client.try("ping", "-c", "1", "-W", "5", "-M", "do", "-s", "1200", "10.0.3.2")
	if err == nil {
		t.Fatalf("a 1228-byte DF ping crossed a 1000-byte link: %s", out)
	}
	if got := ctStats(t, tp.router)["related"]; got <= before {
		t.Errorf("the router's related count stayed at %d: the error was not about the masqueraded echo", got)
	}
	waitFor(t, "the client's path MTU cache learning mtu 1000", func() bool {
		return strings.Contains(tp.client.run(t, "ip", "-o", "route", "get", "10.0.3.2"), "mtu 1000")
	})
	// With the path MTU learnt, a fitting DF echo passes.
	tp.client.run(t, "ping", "-q", "-c", "1", "-W", "30", "-M", "do", "-s", "900", "10.0.3.2")

	// Both translations at once: a port forward on the router's own
	// address to the far host, masqueraded on the way. The error must be
	// undone on both sides, at both hooks: the client hears of its own
	// datagram to 10.0.1.1, from 10.0.1.1.
	applyIn(t, tp.router, `rule nat prerouting iif r0 udp dport 9999 dnat to 10.0.3.2
rule nat postrouting oif r1 masquerade
`)
	c := udpIn(t, "client", ":0", "10.0.1.1:9999")
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	}); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The first DF datagram crosses the router and dies at the narrow
	// link; its frag-needed teaches the client the path MTU to 10.0.1.1.
	if _, err := c.Write(make([]byte, 1200)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client's path MTU to 10.0.1.1 learning mtu 1000", func() bool {
		return strings.Contains(tp.client.run(t, "ip", "-o", "route", "get", "10.0.1.1"), "mtu 1000")
	})
}

// MASQUERADE's connections go with the address they took, or with the
// device that held it, as the kernel's.
func TestNATMasqueradeForgetsAddress(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "ip", "addr", "add", "10.0.2.9/24", "dev", "r1")
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")
	natUDPFlows(t, tp, 1, 8240)
	es := ctList(t, tp.router, "--src-nat")
	if len(es) != 1 || es[0].Reply.Dst != "10.0.2.1" {
		t.Fatalf("want one entry masqueraded to 10.0.2.1: %+v", es)
	}
	// Another address of the device going leaves it alone.
	tp.router.run(t, "ip", "addr", "del", "10.0.2.9/24", "dev", "r1")
	if n := len(ctList(t, tp.router, "--src-nat")); n != 1 {
		t.Fatalf("%d masqueraded entries after another address went, want 1", n)
	}
	tp.router.run(t, "ip", "addr", "del", "10.0.2.1/24", "dev", "r1")
	if es := ctList(t, tp.router, "--src-nat"); len(es) != 0 {
		t.Fatalf("masqueraded entries outlived their address: %+v", es)
	}

	tp.router.run(t, "ip", "addr", "add", "10.0.2.1/24", "dev", "r1")
	natUDPFlows(t, tp, 1, 8241)
	if n := len(ctList(t, tp.router, "--src-nat")); n != 1 {
		t.Fatalf("%d masqueraded entries, want 1", n)
	}
	tp.router.run(t, "ip", "link", "set", "r1", "down")
	if es := ctList(t, tp.router, "--src-nat"); len(es) != 0 {
		t.Fatalf("masqueraded entries outlived their device going down: %+v", es)
	}
}

// Full cone (RFC 4787): one client socket talks to two servers, which see
// one external port, though every new mapping is fully random; a third
// host that never heard from the client reaches it through that port.
// Without fullcone, the third host is refused.
func TestNATFullCone(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	for _, a := range []string{"10.0.2.3/24", "10.0.2.4/24"} {
		tp.server.run(t, "ip", "addr", "add", a, "dev", "s0")
	}
	s1 := udpIn(t, "server", "10.0.2.2:7400", "")
	s2 := udpIn(t, "server", "10.0.2.3:7400", "")
	recvFrom := func(c *net.UDPConn, what string) *net.UDPAddr {
		t.Helper()
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(waitLong))
		_, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return from
	}
	// The third host sends from 10.0.2.4 to the client's external side;
	// got says whether the client received it.
	third := func(cl *net.UDPConn, ext *net.UDPAddr, expect bool) bool {
		t.Helper()
		c := udpIn(t, "server", "10.0.2.4:7401", ext.String())
		defer c.Close()
		if _, err := c.Write([]byte("unsolicited")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		// Refusal is a wait for nothing: short. Arrival may take long.
		wait := 2 * time.Second
		if expect {
			wait = waitLong
		}
		cl.SetReadDeadline(time.Now().Add(wait))
		n, from, err := cl.ReadFromUDP(buf)
		if err != nil {
			return false
		}
		if string(buf[:n]) != "unsolicited" || from.String() != "10.0.2.4:7401" {
			t.Errorf("the client got %q from %v, want \"unsolicited\" from 10.0.2.4:7401", buf[:n], from)
		}
		return true
	}

	for _, fullcone := range []bool{true, false} {
		flag := map[bool]string{true: " fullcone"}[fullcone]
		applyIn(t, tp.router, "rule nat postrouting oif r1 udp dport 7400 masquerade to :20000-29999 fully-random"+flag+"\n")
		cl := udpIn(t, "client", ":0", "")
		// One after the other: the second must find the first's mapping.
		send := func(dst string) {
			if _, err := cl.WriteToUDP([]byte("hello"), mustUDPAddr(t, dst)); err != nil {
				t.Fatal(err)
			}
		}
		send("10.0.2.2:7400")
		e1 := recvFrom(s1, "server 10.0.2.2")
		send("10.0.2.3:7400")
		e2 := recvFrom(s2, "server 10.0.2.3")
		if fullcone && (!e1.IP.Equal(e2.IP) || e1.Port != e2.Port) {
			t.Errorf("fullcone: the servers see %v and %v, want one external address and port", e1, e2)
		}
		if e1.Port < 20000 || e1.Port > 29999 || e1.IP.String() != "10.0.2.1" {
			t.Errorf("%s: the server sees %v, want 10.0.2.1 and a port of 20000-29999", flag, e1)
		}
		if got := third(cl, e1, fullcone); got != fullcone {
			t.Errorf("masquerade%s: a third host reaching the client through %v: %v, want %v", flag, e1, got, fullcone)
		}
		if fullcone {
			es := ctList(t, tp.router, "--dst-nat", "-p", "udp", "--sport", "7401")
			if len(es) != 1 || es[0].Reply.Src != "10.0.1.2" || es[0].Orig.Dst != "10.0.2.1" {
				t.Errorf("the inbound flow's entry: %+v", es)
			}
		}
		cl.Close()
		tp.router.run(t, "nflab", "ct", "flush")
	}
}
