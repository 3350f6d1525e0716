//go:build nflabvm

// One packet, one entry: an entry is confirmed only by its own packet,
// whatever happens to that packet between nflab's tracking and confirm
// hooks, and the tracker sees datagrams whole.
package guest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// udpHeader is an 8-byte UDP header without a checksum (allowed in IPv4).
func udpHeader(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(h[0:], sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
	return append(h, payload...)
}

// sink routes 10.0.8.0/24 through the router to the server, which drops
// it quietly: packets there cross all of the router's hooks, and nothing
// answers them.
func (tp *topology) sink() {
	tp.t.Helper()
	tp.router.run(tp.t, "ip", "route", "add", "10.0.8.0/24", "via", "10.0.2.2")
	tp.server.run(tp.t, "ip", "route", "add", "blackhole", "10.0.8.0/24")
}

// sendUntracked sends what nflab does not track right after a dropped
// first packet: a protocol-47 datagram through the router and one to the
// router itself. With an entry keyed by skb address, either could reuse
// the dropped packet's skb and confirm its entry.
func sendUntracked(t *testing.T) {
	t.Helper()
	for _, dst := range []string{"10.0.2.2", "10.0.1.1"} {
		sendRaw(t, "client", 47, net.ParseIP(dst), make([]byte, 24))
	}
}

// TestCTDroppedBetweenHooksConfirmsNothing drops the first packets of new
// flows in the router in the ways the stack can, between nflab's tracking
// hook and its confirm hook, each followed by untracked packets, and checks
// that none of the dropped flows is ever confirmed.
func TestCTDroppedBetweenHooksConfirmsNothing(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nft", "add table ip t")
	// After nflab's PRE_ROUTING hook (-200), before its confirm hooks.
	tp.router.run(t, "nft", "add chain ip t fc { type filter hook forward priority -10 ; }")
	tp.router.run(t, "nft", "add rule ip t fc udp dport 9999 counter drop")
	tp.router.run(t, "ip", "route", "add", "unreachable", "10.0.7.0/24")
	tp.router.run(t, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
	tp.router.run(t, "sysctl", "-qw", "net.ipv4.conf.r0.rp_filter=1")
	client := net.ParseIP("10.0.1.2")
	// The server counts the protocol-47 datagrams that crossed the router.
	tp.server.run(t, "nft", "add table ip s")
	tp.server.run(t, "nft", "add chain ip s in { type filter hook input priority 0 ; }")
	tp.server.run(t, "nft", "add rule ip s in meta l4proto 47 counter")
	sent := 0

	scenarios := []struct {
		name string
		send func(i int)
	}{
		{"forward chain drop", func(i int) {
			udpSend(t, "client", ":0", "10.0.2.2:9999", []byte("x"))
		}},
		{"no route", func(i int) {
			udpSend(t, "client", ":0", fmt.Sprintf("10.0.7.%d:%d", 1+i%200, 5000+i), []byte("x"))
		}},
		{"TTL expires in ip_forward", func(i int) {
			p := ipv4Packet(client, net.ParseIP("10.0.2.2"), 17, udpHeader(uint16(20000+i), 7000, []byte("x")))
			p[8] = 1
			sendRaw(t, "client", 255, net.ParseIP("10.0.2.2"), p) // IPPROTO_RAW
		}},
		{"rp_filter", func(i int) {
			spoofed := net.ParseIP(fmt.Sprintf("10.0.9.%d", 1+i%200))
			p := ipv4Packet(spoofed, net.ParseIP("10.0.2.2"), 17, udpHeader(uint16(21000+i), 7001, []byte("x")))
			sendRaw(t, "client", 255, net.ParseIP("10.0.2.2"), p)
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			tp.router.run(t, "nflab", "ct", "flush")
			before := ctStats(t, tp.router)
			for i := 0; i < 20; i++ {
				sc.send(i)
				sendUntracked(t)
			}
			sent += 20
			// Once the last protocol-47 datagram reached the server, every
			// packet sent before it is past the router.
			waitFor(t, "the protocol-47 datagrams to cross the router", func() bool {
				return nftPackets(t, tp.server, "ip s in", "counter") >= sent
			})
			after := ctStats(t, tp.router)
			if after["new"] < before["new"]+20 {
				t.Errorf("router stats %v after %v: want 20 more new (the dropped flows were seen)", after, before)
			}
			if after["insert"] != before["insert"] {
				t.Errorf("router inserted %d entries for flows it dropped: %+v", after["insert"]-before["insert"], ctList(t, tp.router))
			}
			if n := ctCount(t, tp.router); n != 0 {
				t.Errorf("router holds %d entries for flows it dropped: %+v", n, ctList(t, tp.router))
			}
		})
	}
}

// TestCTLocalFirstPacketsUnderForwarding sends a router's own first packets
// (LOCAL_OUT runs in process context, where softirqs and, on a preemptible
// kernel, other tasks and CPUs interleave) while it forwards a flood of new
// flows, and checks every one of its flows has its entry, the right way
// round.
func TestCTLocalFirstPacketsUnderForwarding(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600")
	tp.sink()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		c := udpIn(t, "client", ":0", "")
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A new flow each time: a new destination port.
				_, _ = c.WriteToUDP([]byte("f"), &net.UDPAddr{IP: net.IPv4(10, 0, 2, 2), Port: 10000 + (w*25000+i)%25000})
			}
		}(w)
	}
	const own = 300
	c := udpIn(t, "router", "10.0.2.1:0", "")
	for i := 0; i < own; i++ {
		if _, err := c.WriteToUDP([]byte("o"), &net.UDPAddr{IP: net.IPv4(10, 0, 8, 1), Port: 30000 + i}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()

	got := 0
	for _, e := range ctList(t, tp.router, "-p", "udp", "-d", "10.0.8.1") {
		if e.Orig.Src != "10.0.2.1" || e.Orig.Dport < 30000 || e.Orig.Dport >= 30000+own {
			t.Errorf("router's own flow tracked the wrong way: %+v", e)
			continue
		}
		if e.PacketsOrig != 1 || e.PacketsReply != 0 {
			t.Errorf("router's own flow with counters %d/%d, want 1/0: %+v", e.PacketsOrig, e.PacketsReply, e)
		}
		got++
	}
	if got != own {
		t.Errorf("router holds %d entries of the %d flows it started", got, own)
	}
	if rev := ctList(t, tp.router, "-p", "udp", "-s", "10.0.8.1"); len(rev) != 0 {
		t.Errorf("router holds reversed entries: %+v", rev)
	}
}

// TestCTFragmentsOneFlow sends datagrams larger than the path's MTU: the
// tracker sees each whole (nf_defrag_ipv4), as one flow with the
// datagram's bytes, on the sender, the router and the receiver.
func TestCTFragmentsOneFlow(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	const size = 4000
	const wire = size + 8 + 20 // ICMP or UDP header, IPv4 header
	for _, ns := range []netns{tp.client, tp.router, tp.server} {
		ns.run(t, "nflab", "ct", "flush")
	}
	before := ctStats(t, tp.router)

	tp.client.run(t, "ping", "-q", "-c", "1", "-W", "30", "-s", fmt.Sprint(size), "10.0.2.2")
	udpEchoIn(t, "server", "10.0.2.2:7777")
	udpRequest(t, "client", ":0", "10.0.2.2:7777", make([]byte, size))

	for _, ns := range []netns{tp.client, tp.router, tp.server} {
		es := ctList(t, ns)
		if len(es) != 2 {
			t.Errorf("%s: want one ICMP and one UDP entry, got %+v", ns, es)
			continue
		}
		for _, e := range es {
			if e.PacketsOrig != 1 || e.PacketsReply != 1 || e.BytesOrig != wire || e.BytesReply != wire {
				t.Errorf("%s: %s entry counts %d/%d packets, %d/%d bytes; want 1/1 and %d/%d: %+v",
					ns, e.Proto, e.PacketsOrig, e.PacketsReply, e.BytesOrig, e.BytesReply, wire, wire, e)
			}
		}
	}
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] {
		t.Errorf("router counted %d fragments INVALID", after["invalid"]-before["invalid"])
	}
}

// TestCTDumpUnderChurn dumps 5,000 entries while new flows are created
// every 10 ms: the dump is not interrupted and lists every entry that
// lives through it exactly once.
func TestCTDumpUnderChurn(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600")
	tp.sink()
	const n = 5000
	c := udpIn(t, "client", ":0", "")
	for i := 0; i < n; i++ {
		if _, err := c.WriteToUDP([]byte("d"), &net.UDPAddr{IP: net.IPv4(10, 0, 8, byte(1+i/250)), Port: 20000 + i%250}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "5000 entries in the router", func() bool { return ctCount(t, tp.router) >= n })

	stop := make(chan struct{})
	done := make(chan struct{})
	churn := udpIn(t, "client", ":0", "")
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			_, _ = churn.WriteToUDP([]byte("c"), &net.UDPAddr{IP: net.IPv4(10, 0, 8, byte(201+i/1000%50)), Port: 1000 + i%1000})
		}
	}()
	for round := 0; round < 3; round++ {
		es := ctList(t, tp.router, "-p", "udp")
		seen := map[ctTuple]int{}
		for _, e := range es {
			seen[e.Orig]++
		}
		for k, v := range seen {
			if v != 1 {
				t.Errorf("round %d: %+v listed %d times", round, k, v)
			}
		}
		dsts := map[string]bool{}
		for k := range seen {
			dsts[fmt.Sprintf("%s:%d", k.Dst, k.Dport)] = true
		}
		missing := 0
		for i := 0; i < n; i++ {
			if !dsts[fmt.Sprintf("%v:%d", net.IPv4(10, 0, 8, byte(1+i/250)), 20000+i%250)] {
				missing++
			}
		}
		if missing != 0 {
			t.Errorf("round %d: %d of the %d long-lived entries missing from a dump of %d", round, missing, n, len(es))
		}
	}
	close(stop)
	<-done
}

// TestCTEarlyDropPrefersExpired fills the router's table to its limit with
// long-lived and short-lived unassured entries, lets the short ones expire
// and sends new flows: they all get through, and the expired entries go
// before any live one. The big hash keeps the GC from finding the expired
// entries first.
func TestCTEarlyDropPrefersExpired(t *testing.T) {
	loadModule(t, "hashsize=1048576")
	tp := newTopology(t)
	const half = 20
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600", "--timeout", "icmp=2")
	tp.router.run(t, "nflab", "ct", "flush")
	tp.sink()
	c := udpIn(t, "client", ":0", "")
	send := func(port int) {
		t.Helper()
		if _, err := c.WriteToUDP([]byte("e"), &net.UDPAddr{IP: net.IPv4(10, 0, 8, 1), Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	// The oldest entries live long, the younger ones expire in 2 s.
	for i := 0; i < half; i++ {
		send(4000 + i)
	}
	waitFor(t, "the long-lived entries", func() bool { return ctCount(t, tp.router) == half })
	for i := 0; i < half; i++ {
		tp.client.run(t, "ping", "-q", "-c", "1", "-W", "30", "10.0.2.2")
	}
	// Two pings may share an ICMP id, hence one entry: the table is full
	// at whatever the pings made.
	n := ctCount(t, tp.router)
	if n <= half {
		t.Fatalf("router holds %d entries, want more than %d", n, half)
	}
	tp.router.run(t, "nflab", "ct", "config", "--limit", fmt.Sprint(n))
	time.Sleep(3 * time.Second)
	before := ctStats(t, tp.router)
	// As many new flows as there are expired entries.
	for i := 0; i < n-half; i++ {
		send(5000 + i)
	}
	waitFor(t, "the new flows", func() bool {
		return len(ctList(t, tp.router, "-p", "udp", "--dport", fmt.Sprint(5000+n-half-1))) == 1
	})
	after := ctStats(t, tp.router)
	if after["drop"] != before["drop"] {
		t.Errorf("router dropped %d new flows while it held expired entries", after["drop"]-before["drop"])
	}
	long := 0
	for _, e := range ctList(t, tp.router, "-p", "udp") {
		if e.Orig.Dport >= 4000 && e.Orig.Dport < 4000+half {
			long++
		}
	}
	if long != half {
		t.Errorf("early drop evicted %d live entries while expired ones were there", half-long)
	}
}

// TestCTEarlyDropOneShotFlows fills the router's table with one-shot
// request/reply flows (like DNS): they stay evictable, so new flows keep
// getting through.
func TestCTEarlyDropOneShotFlows(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	const limit = 30
	tp.router.run(t, "nflab", "ct", "config", "--limit", fmt.Sprint(limit))
	udpEchoIn(t, "server", "10.0.2.2:5353")
	before := ctStats(t, tp.router)
	for i := 0; i < 2*limit; i++ {
		udpRequest(t, "client", ":0", "10.0.2.2:5353", []byte("q"))
	}
	after := ctStats(t, tp.router)
	if after["drop"] != before["drop"] {
		t.Errorf("router dropped %d one-shot flows at its limit", after["drop"]-before["drop"])
	}
	if after["early_drop"] < before["early_drop"]+limit {
		t.Errorf("router stats %v after %v: want at least %d early drops", after, before, limit)
	}
	for _, e := range ctList(t, tp.router) {
		if e.has("ASSURED") {
			t.Errorf("a one-shot flow became ASSURED: %+v", e)
		}
	}
}

// userNetns creates a network namespace owned by a new user namespace, as
// an unprivileged user's "unshare -Urn" would, reachable as name with ip
// netns; it goes when the test ends.
func userNetns(t *testing.T, name string) netns {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	mustRun(t, "ip", "netns", "attach", name, fmt.Sprint(cmd.Process.Pid))
	t.Cleanup(func() { _, _ = tryCmd("ip", "netns", "del", name) })
	ns := netns(name)
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// localFlows sends one datagram to each of n ports from port on 127.0.0.1
// in ns: n new flows (unless nflab drops them), each one entry in ns.
func localFlows(t *testing.T, ns netns, port, n int) {
	t.Helper()
	c := udpIn(t, string(ns), "127.0.0.1:0", "")
	for i := 0; i < n; i++ {
		// A datagram nflab drops for want of room fails with EPERM.
		_, _ = c.WriteToUDP([]byte("g"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + i})
	}
}

// TestCTGlobalCap checks the global cap: it binds the namespaces of
// unprivileged user namespaces together, and not those root made.
func TestCTGlobalCap(t *testing.T) {
	// Well above the count's slack (below), so that both bounds bite.
	const limit = 1000
	loadModule(t, fmt.Sprintf("ct_global_max=%d", limit))
	root := newNetns(t, "capr")
	users := []netns{userNetns(t, "capu1"), userNetns(t, "capu2")}
	for _, ns := range append([]netns{root}, users...) {
		ns.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600",
			"--limit", strconv.Itoa(4*limit))
	}

	// Root's namespace goes beyond the cap (by more than the per-CPU
	// slack of the count), and takes the whole cap: the others get none.
	localFlows(t, root, 10000, 3*limit)
	if n := ctCount(t, root); n != 3*limit {
		t.Errorf("root's namespace holds %d entries, want %d: the cap binds it", n, 3*limit)
	}
	for _, ns := range users {
		localFlows(t, ns, 10000, 20)
		if n := ctCount(t, ns); n != 0 {
			t.Errorf("%s holds %d entries with the table over the cap", ns, n)
		}
	}

	// Without root's entries, the user namespaces share the cap, first
	// come, first served.
	root.run(t, "nflab", "ct", "flush")
	for _, ns := range users {
		localFlows(t, ns, 20000, 2*limit)
	}
	total := 0
	for _, ns := range users {
		total += ctCount(t, ns)
	}
	// The count is read without summing the CPUs' parts: it may be off
	// by a batch (32, or twice the CPUs) per CPU.
	slack := 64 * runtime.NumCPU()
	if total < limit-slack {
		t.Errorf("user namespaces hold %d entries together, want about the cap (%d)", total, limit)
	}
	if total > limit+slack {
		t.Errorf("user namespaces hold %d entries together, over the cap of %d (+%d)", total, limit, slack)
	}
	// Root's namespace still takes new flows.
	localFlows(t, root, 30000, 10)
	if n := ctCount(t, root); n != 10 {
		t.Errorf("root's namespace holds %d entries after 10 new flows, want 10", n)
	}
}

// TestCTIDsRevealNoRates opens flows in one namespace between flows of
// another: the ids one namespace sees say nothing of how many flows the
// other opened meanwhile.
func TestCTIDsRevealNoRates(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.client.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600")
	tp.sink()
	const between = 10
	var ids []uint32
	for r := 0; r < 4; r++ {
		udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", 7100+r), []byte("i"))
		e := one(t, ctList(t, tp.client, "-p", "udp", "--dport", fmt.Sprint(7100+r)))
		ids = append(ids, e.ID)
		for i := 0; i < between; i++ {
			udpSend(t, "router", ":0", fmt.Sprintf("10.0.8.1:%d", 7200+r*between+i), []byte("o"))
		}
	}
	regular := true
	for i := 1; i < len(ids); i++ {
		if d := ids[i] - ids[i-1]; d > 2*between+2 {
			regular = false
		}
	}
	if regular {
		t.Errorf("ids %v advance with the other namespace's flows", ids)
	}
}
