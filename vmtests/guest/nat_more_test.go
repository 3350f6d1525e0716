//go:build nflabvm

// More of nflab's NAT end to end: checksums on the wire after translation,
// a bulk transfer, the stale-entry trap of DNAT, coexistence with the
// kernel's NAT, and namespace exit with translated flows in flight.
package guest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// l4SumOK says whether a captured IPv4 packet's TCP, UDP or ICMP checksum
// is right for its (translated) addresses: a full checksum that verifies,
// or, for TCP and UDP left to the device (CHECKSUM_PARTIAL across veth),
// the pseudo-header seed of its addresses. UDP's zero means none.
func l4SumOK(ip []byte) (bool, string) {
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:4]))
	if tot > len(ip) {
		return false, "truncated"
	}
	l4 := ip[ihl:tot]
	proto := ip[9]
	if proto == unix.IPPROTO_ICMP {
		return inetChecksum(l4) == 0, "icmp"
	}
	ph := make([]byte, 12)
	copy(ph, ip[12:20])
	ph[9] = proto
	binary.BigEndian.PutUint16(ph[10:], uint16(len(l4)))
	off := 16
	if proto == unix.IPPROTO_UDP {
		off = 6
		if binary.BigEndian.Uint16(l4[6:8]) == 0 {
			return true, "udp without checksum"
		}
	}
	if inetChecksum(ph, l4) == 0 {
		return true, "full"
	}
	// The seed: the folded pseudo-header sum, not inverted.
	seed := ^inetChecksum(ph)
	return binary.BigEndian.Uint16(l4[off:off+2]) == seed, "seed"
}

// craftUDP builds a UDP datagram from src:sport to dst:dport with a right
// checksum, or with none (zero) if noSum.
func craftUDP(src, dst net.IP, sport, dport uint16, data []byte, noSum bool) []byte {
	u := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], data)
	if !noSum {
		ph := append(append(append([]byte{}, src.To4()...), dst.To4()...), 0, unix.IPPROTO_UDP, 0, 0)
		binary.BigEndian.PutUint16(ph[10:], uint16(len(u)))
		s := inetChecksum(ph, u)
		if s == 0 {
			s = 0xffff
		}
		binary.BigEndian.PutUint16(u[6:], s)
	}
	return u
}

// Checksums on the far side of a masquerading router: TCP (a real
// connection, offloaded, and a crafted SYN), UDP with and without a
// checksum, and ICMP all verify with the translated addresses and ports;
// and 10 MB cross intact.
func TestNATChecksums(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")
	capt := captureOn(t, "server", "s0")

	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)
	sendRaw(t, "client", unix.IPPROTO_UDP, server, craftUDP(client, server, 40001, 9, []byte("with a sum"), false))
	sendRaw(t, "client", unix.IPPROTO_UDP, server, craftUDP(client, server, 40002, 9, []byte("without"), true))
	sendRawTCP(t, "client", server, craftTCP(client, server, 40003, 9, c2s(1, 0, tcpSYN, nil)))
	tp.ping("client", "10.0.2.2", 1)

	// 10 MB through the router, hashed at both ends.
	data := make([]byte, 10<<20)
	rand.New(rand.NewSource(1)).Read(data)
	c, s := connPair(t, "client", "server", ":8250", "10.0.2.2:8250")
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	s.SetReadDeadline(time.Now().Add(5 * waitLong))
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("reading the transfer: %v", err)
	}
	if len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("%d bytes arrived (sha256 %x), want %d (sha256 %x)", len(got), sha256.Sum256(got), len(data), sha256.Sum256(data))
	}

	seen := map[string]int{}
	for _, p := range capt.drain(t) {
		if p.out || len(p.ip) < 28 || !bytes.Equal(p.ip[12:16], net.IPv4(10, 0, 2, 1).To4()) {
			continue // only what the router translated
		}
		ok, how := l4SumOK(p.ip)
		kind := map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_ICMP: "icmp"}[p.ip[9]]
		if !ok {
			t.Errorf("%s packet with a wrong checksum (%s) after translation: % x", kind, how, p.ip[:min(len(p.ip), 48)])
		}
		seen[kind+" "+how]++
	}
	for _, want := range []string{"udp full", "udp udp without checksum", "icmp icmp", "tcp full"} {
		if seen[want] == 0 {
			t.Errorf("no translated %q packet captured; saw %v", want, seen)
		}
	}
}

// udpIdentIn answers every datagram on laddr in ns with laddr itself.
func udpIdentIn(t *testing.T, ns, laddr string) {
	t.Helper()
	c := udpIn(t, ns, laddr, "")
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP([]byte(laddr), from)
		}
	}()
}

// The stale-entry trap: UDP flows stay pinned to the DNAT target they
// started with after the rule changes, until their entries are deleted.
func TestNATStaleEntryTrap(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.server.run(t, "ip", "addr", "add", "10.0.2.3/24", "dev", "s0")
	udpIdentIn(t, "server", "10.0.2.2:5300")
	udpIdentIn(t, "server", "10.0.2.3:5300")
	cl := udpIn(t, "client", ":0", "10.0.1.1:5300")
	ask := func() string {
		t.Helper()
		if _, err := cl.Write([]byte("who")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		cl.SetReadDeadline(time.Now().Add(waitLong))
		n, err := cl.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	applyIn(t, tp.router, "rule nat prerouting iif r0 udp dport 5300 dnat to 10.0.2.2\n")
	if got := ask(); got != "10.0.2.2:5300" {
		t.Fatalf("first backend: %q", got)
	}
	applyIn(t, tp.router, "rule nat prerouting iif r0 udp dport 5300 dnat to 10.0.2.3\n")
	if got := ask(); got != "10.0.2.2:5300" {
		t.Errorf("after the rule changed, the flow went to %q: the decision must stay with the entry", got)
	}
	tp.router.run(t, "nflab", "ct", "delete", "-p", "udp", "--dport", "5300")
	if got := ask(); got != "10.0.2.3:5300" {
		t.Errorf("after deleting the entry, the flow went to %q, want the new backend", got)
	}
}

// The kernel's NAT (nftables masquerade over nf_conntrack) in one
// namespace and nflab's in another, at once.
func TestNATCoexistsWithKernelNAT(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")
	kc, kr, ks := newNetns(t, "kclient"), newNetns(t, "krouter"), newNetns(t, "kserver")
	veth(t, kc, "kc0", "10.1.1.2/24", kr, "kr0", "10.1.1.1/24")
	veth(t, ks, "ks0", "10.1.2.2/24", kr, "kr1", "10.1.2.1/24")
	kc.run(t, "ip", "route", "add", "default", "via", "10.1.1.1")
	ks.run(t, "ip", "route", "add", "default", "via", "10.1.2.1")
	kr.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	kr.run(t, "nft", "add table ip knat; add chain ip knat post { type nat hook postrouting priority srcnat; }; add rule ip knat post oif kr1 masquerade")

	tcpEcho(t, "client", "10.0.2.2:8260", listenIn(t, "server", ":8260"), "10.0.2.1")
	tcpEcho(t, "kclient", "10.1.2.2:8261", listenIn(t, "kserver", ":8261"), "10.1.2.1")
	if es := ctList(t, tp.router, "--src-nat", "-p", "tcp", "--dport", "8260"); len(es) != 1 {
		t.Errorf("nflab's router: %d masqueraded entries, want 1: %+v", len(es), es)
	}
	if es := ctList(t, kr, "--src-nat"); len(es) != 0 {
		t.Errorf("nflab translated in the kernel NAT's namespace: %+v", es)
	}
	if out := kr.run(t, "conntrack", "-L", "-p", "tcp", "--dport", "8261"); !strings.Contains(out, "dst=10.1.2.1") {
		t.Errorf("the kernel's table in its router does not show its masquerade: %s", out)
	}
}

// A namespace with translated flows and full cone mappings goes away with
// traffic in flight, then the module: nothing is left behind (the module
// warns of leftover entries; the debug kernel's kmemleak and KASAN watch).
func TestNATNamespaceExitWithFlows(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade fullcone\n")
	udpEchoIn(t, "server", ":8270")
	for i := 0; i < 10; i++ {
		udpRequest(t, "client", ":0", "10.0.2.2:8270", []byte("x"))
	}
	ln := listenIn(t, "server", ":8271")
	c, err := dialErr(t, "client", "10.0.2.2:8271", waitLong)
	if err != nil {
		t.Fatal(err)
	}
	acceptOne(t, ln)
	// Traffic in flight, TCP and UDP, until the router is gone.
	u := udpIn(t, "client", ":0", "10.0.2.2:8270")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Errors are expected once the path is gone; a full send
			// buffer must not block the loop.
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write([]byte(fmt.Sprint(i)))
			_, _ = u.Write([]byte("y"))
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	_, err = tryCmd("ip", "netns", "del", "router")
	time.Sleep(200 * time.Millisecond)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	// The cleanup's own "ip netns del router" would fail now: recreate
	// an empty one for it.
	mustRun(t, "ip", "netns", "add", "router")
	// Unloading warns of any entry left behind (nflab_ct_exit), which
	// fails the run; kmemleak on the debug kernel sees the rest.
	unloadModule(t)
}

// A broadcast's copies: the copy looped back to the sender leaves
// POST_ROUTING (and confirms the entry) before the copy for the wire gets
// there, and that one must be translated by the same decision, not leave
// with the untranslated source.
func TestNATBroadcastCopies(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.client, "rule nat postrouting oif c0 udp dport 8280 snat to 10.0.1.77\n")
	capt := captureOn(t, "router", "r0")
	// Go's UDP sockets may send to a broadcast address (SO_BROADCAST).
	u := udpIn(t, "client", ":0", "10.0.1.255:8280")
	for i := 0; i < 5; i++ {
		if _, err := u.Write([]byte(fmt.Sprint("broadcast ", i))); err != nil {
			t.Fatal(err)
		}
	}
	var srcs []string
	deadline := time.Now().Add(waitLong)
	for len(srcs) < 5 && time.Now().Before(deadline) {
		for _, p := range capt.drain(t) {
			if len(p.ip) >= 28 && p.ip[9] == unix.IPPROTO_UDP && binary.BigEndian.Uint16(p.ip[22:24]) == 8280 {
				srcs = append(srcs, net.IP(p.ip[12:16]).String())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(srcs) != 5 {
		t.Fatalf("the router saw %d of 5 broadcasts: %v", len(srcs), srcs)
	}
	for _, s := range srcs {
		if s != "10.0.1.77" {
			t.Errorf("a broadcast reached the wire from %s, want the translated 10.0.1.77 (all: %v)", s, srcs)
		}
	}
	es := ctList(t, tp.client, "-p", "udp", "--dport", "8280")
	if len(es) != 1 || es[0].Reply.Dst != "10.0.1.77" {
		t.Errorf("want one translated entry, got %+v", es)
	}
	if s := ctStats(t, tp.client); s["nat_lost"] != 0 {
		t.Errorf("nat_lost = %d, want 0", s["nat_lost"])
	}
}

// Flushing the router's table while a translated flow runs: a packet whose
// entry goes between the tracking hook and the NAT hook is dropped
// (nat_lost), never sent on untranslated, and the flow goes on
// translated under new entries. A thousand rules that match nothing on
// the forward path keep each packet long between the two hooks, so that
// flushes land there.
func TestNATFlushUnderLoad(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	var rules strings.Builder
	rules.WriteString("rule nat postrouting oif r1 masquerade\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&rules, "rule filter forward ip saddr 20.%d.%d.0/24 drop\n", i/256, i%256)
	}
	applyIn(t, tp.router, rules.String())
	capt := captureOn(t, "server", "s0")
	u := udpIn(t, "client", ":0", "10.0.2.2:8281")
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := u.Write([]byte("load")); err == nil {
				n++
			}
			if n%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Flushes from another goroutine; this one reads the capture all the
	// while, since its buffer holds only a few hundred datagrams.
	flushed := make(chan int)
	go func() {
		n := 0
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); n++ {
			if out, err := tp.router.try("nflab", "ct", "flush"); err != nil {
				t.Errorf("nflab ct flush: %v: %s", err, out)
				break
			}
		}
		flushed <- n
	}()
	seen, leaked := 0, 0
	count := func() {
		for _, p := range capt.drain(t) {
			if p.out || len(p.ip) < 28 || p.ip[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(p.ip[22:24]) != 8281 {
				continue
			}
			seen++
			if !bytes.Equal(p.ip[12:16], net.IPv4(10, 0, 2, 1).To4()) {
				leaked++
			}
		}
	}
	var flushes int
	for flushes = -1; flushes < 0; {
		select {
		case flushes = <-flushed:
		case <-time.After(5 * time.Millisecond):
		}
		count()
	}
	close(stop)
	sent := <-done
	time.Sleep(100 * time.Millisecond)
	count()
	lost := ctStats(t, tp.router)["nat_lost"]
	t.Logf("%d datagrams sent, %d seen by the server (the capture may miss some), %d flushes, nat_lost %d", sent, seen, flushes, lost)
	if seen == 0 {
		t.Fatal("the server saw none of the flow")
	}
	if leaked != 0 {
		t.Errorf("%d of %d datagrams reached the server untranslated", leaked, seen)
	}
}

// A translated connection's events carry both tuples: NEW already with the
// translation (the decision is made before the entry is confirmed), and
// DESTROY with the counters of both directions.
func TestNATEvents(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat prerouting tcp dport 8283 dnat to 10.0.2.2:8284\nrule nat postrouting oif r1 masquerade\n")
	events := watchEvents(t, tp.router)
	waitListening(t, tp, events)

	ln := listenIn(t, "server", ":8284")
	// The client dials the router's own address; the server sees the router.
	tcpEcho(t, "client", "10.0.1.1:8283", ln, "10.0.2.1")
	isFlow := func(e ctEvent) bool { return e.Entry.Proto == "tcp" && e.Entry.Orig.Dport == 8283 }
	nw := nextEvent(t, events, "NEW of the translated flow", isFlow)
	want := func(what string, e ctEntry) {
		t.Helper()
		if e.Orig.Src != "10.0.1.2" || e.Orig.Dst != "10.0.1.1" || e.Reply.Src != "10.0.2.2" ||
			e.Reply.Sport != 8284 || e.Reply.Dst != "10.0.2.1" || !e.has("SRC_NAT") || !e.has("DST_NAT") {
			t.Errorf("%s: %+v, want 10.0.1.2 → 10.0.1.1:8283 answered by 10.0.2.2:8284 to 10.0.2.1, SRC_NAT and DST_NAT", what, e)
		}
	}
	if nw.Type != "new" {
		t.Fatalf("first event of the flow %+v, want new", nw)
	}
	want("NEW", nw.Entry)
	final := one(t, ctList(t, tp.router, "-p", "tcp", "--dport", "8283"))
	tp.router.run(t, "nflab", "ct", "flush", "--dst-nat")
	d := nextEvent(t, events, "DESTROY", func(e ctEvent) bool { return isFlow(e) && e.Type == "destroy" })
	want("DESTROY", d.Entry)
	if d.Entry.ID != nw.Entry.ID || d.Entry.PacketsReply < final.PacketsReply || d.Entry.PacketsReply == 0 {
		t.Errorf("destroy %+v, want entry %d with at least the counters of %+v", d.Entry, nw.Entry.ID, final)
	}
}

// A translated connection's datagram held by NFQUEUE between the router's
// tracking hook and its NAT hook while the table is flushed: given back,
// it finds no entry and is dropped (nat_lost), not sent on with the
// client's address. One held while a newer datagram of the flow made a new
// entry is translated by that entry, found by its tuple.
func TestNATQueuedAcrossFlush(t *testing.T) {
	e := newQueueEnv(t, false)
	applyIn(t, e.tp.router, "rule nat postrouting oif r1 masquerade\n")
	capt := captureOn(t, "server", "s0")
	c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
	send := func(msg string) nfqPacket {
		t.Helper()
		write(t, c, []byte(msg))
		p := e.q.next(t, msg)
		queued(t, p, c, []byte(msg))
		return p
	}
	e.q.verdict(t, send("one"), nfAccept, nil)
	if got := readDatagram(t, c); string(got) != "one" {
		t.Fatalf("the server answered %q, want one", got)
	}

	// Held across a flush: lost.
	p := send("two")
	e.tp.router.run(t, "nflab", "ct", "flush")
	e.q.verdict(t, p, nfAccept, nil)
	waitStat := func(want uint64) {
		t.Helper()
		deadline := time.Now().Add(waitLong)
		for ctStats(t, e.tp.router)["nat_lost"] != want {
			if time.Now().After(deadline) {
				t.Fatalf("nat_lost = %d, want %d", ctStats(t, e.tp.router)["nat_lost"], want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStat(1)

	// Held across a flush while a newer datagram confirmed a new entry:
	// translated by it, and both answered.
	p = send("three")
	e.tp.router.run(t, "nflab", "ct", "flush")
	e.q.verdict(t, send("four"), nfAccept, nil)
	if got := readDatagram(t, c); string(got) != "four" {
		t.Fatalf("the server answered %q, want four", got)
	}
	e.q.verdict(t, p, nfAccept, nil)
	if got := readDatagram(t, c); string(got) != "three" {
		t.Fatalf("the server answered %q, want three", got)
	}
	waitStat(1)

	var seen []string
	for _, p := range capt.drain(t) {
		if p.out || len(p.ip) < 28 || p.ip[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(p.ip[22:24]) != queuedPort {
			continue
		}
		seen = append(seen, fmt.Sprintf("%q from %v", p.ip[28:], net.IP(p.ip[12:16])))
		if !bytes.Equal(p.ip[12:16], net.IPv4(10, 0, 2, 1).To4()) || string(p.ip[28:]) == "two" {
			t.Errorf("the server got %q from %v, want only one, four and three from the router's 10.0.2.1", p.ip[28:], net.IP(p.ip[12:16]))
		}
	}
	if len(seen) != 3 {
		t.Errorf("the server got %v, want one, four and three", seen)
	}
}

// writeGSO sends msg from c as UDP segments of size bytes (UDP_SEGMENT):
// one GSO packet through the stack.
func writeGSO(t *testing.T, c *net.UDPConn, msg []byte, size int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, size)
	}); err != nil || serr != nil {
		t.Fatalf("UDP_SEGMENT: %v %v", err, serr)
	}
	write(t, c, msg)
}

// A translated flow's GSO packet segmented by NFQUEUE between the router's
// hooks (the queue's reader did not ask for GSO packets whole): the
// segmentation writes over most of the word in skb->cb that names the
// connection, and NAT finds it by the segments' tuple instead, so every
// segment leaves translated. A second queue, which takes GSO packets
// whole, shows that the client's GSO packet reaches the router unsegmented.
func TestNATQueueSegmentsGSO(t *testing.T) {
	e := newQueueEnv(t, false)
	r := e.tp.router
	r.run(t, "nft", "add rule ip q fc udp dport 7600 queue num 1")
	udpEchoIn(t, "server", ":7600")
	whole := openQueueFlags(t, "router", 1, nfqaCfgFGSO)
	applyIn(t, r, "rule nat postrouting oif r1 masquerade\n")
	capt := captureOn(t, "server", "s0")
	payload := bytes.Repeat([]byte("0123456789"), 300) // 3 segments of 1000

	for _, tc := range []struct {
		port     int
		q        *nfQueue
		segments int
	}{{7600, whole, 1}, {queuedPort, e.q, 3}} {
		c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", tc.port))
		write(t, c, []byte("hello"))
		tc.q.verdict(t, tc.q.next(t, "the first datagram"), nfAccept, nil)
		if got := readDatagram(t, c); string(got) != "hello" {
			t.Fatalf("the server answered %q, want hello", got)
		}
		writeGSO(t, c, payload, 1000)
		total := 0
		for i := 0; i < tc.segments; i++ {
			p := tc.q.next(t, fmt.Sprintf("queued packet %d of the GSO send to %d", i+1, tc.port))
			total += len(p.data) - 28
			tc.q.verdict(t, p, nfAccept, nil)
		}
		if total != len(payload) {
			t.Fatalf("port %d: queue held %d payload bytes in %d packets, want %d", tc.port, total, tc.segments, len(payload))
		}
		for i := 0; i < 3; i++ {
			if got := readDatagram(t, c); len(got) != 1000 {
				t.Fatalf("port %d: answer %d is %d bytes, want 1000", tc.port, i+1, len(got))
			}
		}
	}
	// A GSO packet forwarded whole reaches the server's device whole:
	// count bytes, not packets.
	n := 0
	for _, p := range capt.drain(t) {
		if p.out || len(p.ip) < 28 || p.ip[9] != unix.IPPROTO_UDP {
			continue
		}
		n += len(p.ip) - 28
		if !bytes.Equal(p.ip[12:16], net.IPv4(10, 0, 2, 1).To4()) {
			t.Errorf("the server got a datagram to port %d from %v, want the router's 10.0.2.1", binary.BigEndian.Uint16(p.ip[22:24]), net.IP(p.ip[12:16]))
		}
	}
	if want := 2 * (len("hello") + len(payload)); n != want {
		t.Errorf("the server got %d bytes of UDP payload, want %d (hello and the GSO send, twice)", n, want)
	}
	if s := ctStats(t, r); s["nat_lost"] != 0 {
		t.Errorf("nat_lost = %d, want 0", s["nat_lost"])
	}
}
