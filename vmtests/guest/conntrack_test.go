//go:build nflabvm

// nflab's connection tracker seen through "nflab ct", on the
// client-router-server topology of hooks_test.go.
package guest

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type ctTuple struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Sport    uint16 `json:"sport"`
	Dport    uint16 `json:"dport"`
	ICMPID   uint16 `json:"icmp_id"`
	ICMPType uint8  `json:"icmp_type"`
}

type ctEntry struct {
	ID           uint32   `json:"id"`
	Proto        string   `json:"proto"`
	Orig         ctTuple  `json:"orig"`
	Reply        ctTuple  `json:"reply"`
	TCPState     string   `json:"tcp_state"`
	Status       []string `json:"status"`
	Timeout      int      `json:"timeout"`
	PacketsOrig  uint64   `json:"packets_orig"`
	BytesOrig    uint64   `json:"bytes_orig"`
	PacketsReply uint64   `json:"packets_reply"`
	BytesReply   uint64   `json:"bytes_reply"`
}

func (e ctEntry) has(status string) bool { return slices.Contains(e.Status, status) }

// nflabIn is nflabJSON in ns, or in the initial namespace for "".
func nflabIn(t *testing.T, ns netns, v any, args ...string) {
	t.Helper()
	if ns == "" {
		nflabJSON(t, v, args...)
		return
	}
	ns.nflabJSON(t, v, args...)
}

// ctList returns the entries "nflab ct list ARGS" shows in ns.
func ctList(t *testing.T, ns netns, args ...string) []ctEntry {
	t.Helper()
	var v struct {
		Entries []ctEntry `json:"entries"`
	}
	nflabIn(t, ns, &v, append([]string{"ct", "list"}, args...)...)
	return v.Entries
}

func ctCount(t *testing.T, ns netns) int {
	t.Helper()
	var v struct {
		Count int `json:"count"`
		Limit int `json:"limit"`
	}
	nflabIn(t, ns, &v, "ct", "count")
	return v.Count
}

func ctStats(t *testing.T, ns netns) map[string]uint64 {
	t.Helper()
	v := map[string]uint64{}
	nflabIn(t, ns, &v, "ct", "stats")
	return v
}

// waitCT polls ns's entries until ok accepts them or waitLong passes. ok
// must accept only a state that lasts until the test moves the traffic on.
func waitCT(t *testing.T, ns netns, what string, ok func([]ctEntry) bool, args ...string) []ctEntry {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		es := ctList(t, ns, args...)
		if ok(es) {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never saw %s; entries: %+v", ns, what, es)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func one(t *testing.T, es []ctEntry) ctEntry {
	t.Helper()
	if len(es) != 1 {
		t.Fatalf("want exactly one entry, got %d: %+v", len(es), es)
	}
	return es[0]
}

func TestCTTCPHandshakeDataFin(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	flow := []string{"-p", "tcp", "--dport", "8000"}

	// A client and a server the test drives: the client sends 1000 bytes,
	// the server takes them all and answers one byte. Once the client has
	// that byte every packet checked below crossed the router, and the
	// connection stays ESTABLISHED until the test closes it.
	const payload = 1000
	cl, srv := connPair(t, "client", "server", "10.0.2.2:8000", "10.0.2.2:8000")
	if _, err := cl.Write(make([]byte, payload)); err != nil {
		t.Fatal(err)
	}
	readN(t, srv, make([]byte, payload))
	if _, err := srv.Write([]byte("k")); err != nil {
		t.Fatal(err)
	}
	readN(t, cl, make([]byte, 1))

	// On the router, which only forwards, the entry is ESTABLISHED and
	// ASSURED once the handshake passed.
	est := one(t, ctList(t, tp.router, flow...))
	if est.TCPState != "ESTABLISHED" {
		t.Errorf("held connection: %+v, want ESTABLISHED", est)
	}
	if est.Orig.Src != "10.0.1.2" || est.Orig.Dst != "10.0.2.2" || est.Orig.Dport != 8000 ||
		est.Reply.Src != "10.0.2.2" || est.Reply.Dport != est.Orig.Sport {
		t.Errorf("tuples: %+v", est)
	}
	if !est.has("ASSURED") || !est.has("SEEN_REPLY") || !est.has("CONFIRMED") {
		t.Errorf("status %v, want SEEN_REPLY, ASSURED, CONFIRMED", est.Status)
	}
	// 1000 bytes of payload plus at least the SYN and the ACK; the SYN/ACK
	// and the answer back.
	if est.PacketsOrig < 3 || est.BytesOrig < payload+3*40 || est.PacketsReply < 2 {
		t.Errorf("counters: %+v", est)
	}

	// After both FINs the connection waits in TIME_WAIT (the client closes
	// first: its FIN is in the original direction). TIME_WAIT lasts.
	closed := time.Now()
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	// A fresh deadline: the last one was set before the CLI checks above.
	if err := srv.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	if n, err := srv.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("server read %d bytes, %v after the client's FIN; want EOF", n, err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	tw := one(t, waitCT(t, tp.router, "TIME_WAIT", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "TIME_WAIT"
	}, flow...))
	if tw.ID != est.ID || !timeoutSince(tw, 120, closed) {
		t.Errorf("TIME_WAIT entry %+v: want the same id %d and a timeout of 120 s less the %v since the close",
			tw, est.ID, time.Since(closed))
	}
}

// Bulk transfers both ways with window scaling: every segment is inside
// the windows the tracker follows, so none is INVALID.
func TestCTTCPBulkTransferInWindow(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	const size = 4 << 20
	tp.server.run(t, "sh", "-c", "socat -u TCP4-LISTEN:8600,reuseaddr SYSTEM:'cat >/dev/null' >/dev/null 2>&1 &")
	tp.server.run(t, "sh", "-c", fmt.Sprintf(
		"socat -U TCP4-LISTEN:8601,reuseaddr SYSTEM:'head -c %d /dev/zero' >/dev/null 2>&1 &", size))
	waitTCPListen(t, tp.server, 8600)
	waitTCPListen(t, tp.server, 8601)
	before := ctStats(t, tp.router)

	tp.client.run(t, "sh", "-c", fmt.Sprintf("head -c %d /dev/zero | socat -u - TCP4:10.0.2.2:8600", size))
	got := strings.TrimSpace(tp.client.run(t, "sh", "-c", "socat -u TCP4:10.0.2.2:8601 - | wc -c"))
	if got != fmt.Sprint(size) {
		t.Fatalf("downloaded %s bytes, want %d", got, size)
	}

	for _, tc := range []struct {
		port string
		data func(ctEntry) uint64
	}{
		{"8600", func(e ctEntry) uint64 { return e.BytesOrig }},
		{"8601", func(e ctEntry) uint64 { return e.BytesReply }},
	} {
		e := one(t, waitCT(t, tp.router, "TIME_WAIT", func(es []ctEntry) bool {
			return len(es) == 1 && es[0].TCPState == "TIME_WAIT"
		}, "-p", "tcp", "--dport", tc.port))
		if tc.data(e) < size {
			t.Errorf("port %s: %+v, want at least %d bytes of data counted", tc.port, e, size)
		}
	}
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] {
		t.Errorf("invalid %d -> %d during the transfers, want none", before["invalid"], after["invalid"])
	}
}

// A connection the tracker meets mid-stream (here: after a flush) is
// picked up as ESTABLISHED. Its window scale was never seen, so its windows
// are not enforced: a scaled transfer stays valid. With --tcp-loose=false
// such segments create nothing and are INVALID.
func TestCTTCPPickupMidStream(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.server.run(t, "sh", "-c", "socat TCP4-LISTEN:8700,reuseaddr,fork EXEC:cat >/dev/null 2>&1 &")
	waitTCPListen(t, tp.server, 8700)
	c := dialFrom(t, "client", "10.0.2.2:8700", 0)
	defer c.Close()
	chunk, back := make([]byte, 64<<10), make([]byte, 64<<10)
	echo := func(n int) {
		t.Helper()
		for range n {
			if _, err := c.Write(chunk); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, back); err != nil {
				t.Fatal(err)
			}
		}
	}
	flow := []string{"-p", "tcp", "--dport", "8700"}
	echo(1)
	first := one(t, ctList(t, tp.router, flow...))

	tp.router.run(t, "nflab", "ct", "flush")
	before := ctStats(t, tp.router)
	echo(16)
	e := one(t, waitCT(t, tp.router, "a picked-up entry", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "ESTABLISHED"
	}, flow...))
	if e.ID == first.ID || !e.has("ASSURED") || e.BytesOrig < 16*64<<10 {
		t.Errorf("picked-up entry %+v: want a new ASSURED entry that counted 1 MiB (the first was %d)", e, first.ID)
	}
	if after := ctStats(t, tp.router); after["invalid"] != before["invalid"] {
		t.Errorf("invalid %d -> %d while the picked-up connection ran, want none", before["invalid"], after["invalid"])
	}

	tp.router.run(t, "nflab", "ct", "config", "--tcp-loose=false")
	tp.router.run(t, "nflab", "ct", "flush")
	before = ctStats(t, tp.router)
	echo(1)
	if after := statsAfter(t, tp.router, before); after["invalid"] <= before["invalid"] {
		t.Errorf("without pickup: invalid %d -> %d, want more", before["invalid"], after["invalid"])
	}
	if es := ctList(t, tp.router, flow...); len(es) != 0 {
		t.Errorf("without pickup the connection got an entry: %+v", es)
	}
}

func TestCTTCPSynSentAndReset(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)

	// CLOSE lasts tcp_close, 10 s by default: too short to be sure a CLI
	// call sees it on a slow machine. Lengthened, so that an entry left
	// in CLOSE by the RST below would show.
	var cfg struct {
		Timeouts map[string]int `json:"timeouts"`
	}
	nflabIn(t, tp.client, &cfg, "ct", "config")
	if cfg.Timeouts["tcp_close"] != 10 {
		t.Errorf("default tcp_close timeout %d s, want 10", cfg.Timeouts["tcp_close"])
	}
	const closeTimeout = 600
	tp.client.run(t, "nflab", "ct", "config", "--timeout", fmt.Sprintf("tcp_close=%d", closeTimeout))

	// Nobody listens on the server's port 8001: its TCP answers RST, and
	// the client's entry, never answered otherwise, is gone at once.
	if _, err := tp.client.try("socat", "-u", "OPEN:/dev/null", "TCP4:10.0.2.2:8001"); err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
	if es := ctList(t, tp.client, "-p", "tcp", "--dport", "8001"); len(es) != 0 {
		t.Errorf("after the RST refusing the SYN: %+v, want no entry", es)
	}

	// A SYN to an address nobody owns on the server's link gets no
	// answer: the entry stays SYN_SENT while the client keeps trying. The
	// router has a neighbour entry for the address, so it sends the SYNs
	// to a MAC nobody has (the server drops them) instead of answering
	// "host unreachable" once ARP gives up.
	tp.router.run(t, "ip", "neigh", "replace", "10.0.2.99", "lladdr", "02:00:00:00:00:99", "dev", "r1", "nud", "permanent")
	start := time.Now()
	silent := exec.Command("ip", "netns", "exec", "client", "socat", "-u", "OPEN:/dev/null", "TCP4:10.0.2.99:8003,connect-timeout=600")
	if err := silent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Process.Kill(); _ = silent.Wait() })
	ss := one(t, waitCT(t, tp.client, "SYN_SENT", func(es []ctEntry) bool {
		return len(es) == 1 && es[0].TCPState == "SYN_SENT"
	}, "-p", "tcp", "--dport", "8003"))
	// Retransmitted SYNs keep the first one's timeout: 120 s from a SYN
	// sent since start.
	if ss.has("SEEN_REPLY") || ss.has("ASSURED") || !timeoutSince(ss, 120, start) {
		t.Errorf("SYN_SENT entry %+v, want neither SEEN_REPLY nor ASSURED and 120 s less the %v since the SYN",
			ss, time.Since(start))
	}

	// Resets in its name that do not acknowledge the SYN are INVALID
	// (RFC 793) and leave SYN_SENT: sent from the server's namespace with
	// the silent address as their source.
	nobody, client := net.IPv4(10, 0, 2, 99), net.IPv4(10, 0, 1, 2)
	for _, tc := range []struct {
		name  string
		ack   uint32
		flags byte
	}{
		{"RST without ACK", 0, 0x04},
		{"RST with a wrong ACK", 12345, 0x14},
	} {
		before := ctStats(t, tp.client)
		seg := tcpSegment(nobody, client, 8003, ss.Orig.Sport, 0, tc.ack, tc.flags)
		sendRaw(t, "server", unix.IPPROTO_RAW, client, ipv4Packet(nobody, client, unix.IPPROTO_TCP, seg))
		if after := statsAfter(t, tp.client, before); after["invalid"] != before["invalid"]+1 {
			t.Errorf("%s: invalid %d -> %d, want one more", tc.name, before["invalid"], after["invalid"])
		}
		if e := one(t, ctList(t, tp.client, "-p", "tcp", "--dport", "8003")); e.TCPState != "SYN_SENT" || e.ID != ss.ID {
			t.Errorf("%s: entry now %+v, want entry %d still SYN_SENT", tc.name, e, ss.ID)
		}
	}
}

func TestCTUDPUnrepliedAssuredExpiry(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	// Shortened timeouts, still long enough for the checks below to come
	// first on the debug kernel on a busy machine (a CLI call can take a
	// few seconds there); the checks allow for the time they took.
	const unreplied, assured = 15, 30
	tp.client.run(t, "nflab", "ct", "config",
		"--timeout", fmt.Sprintf("udp_unreplied=%d", unreplied), "--timeout", fmt.Sprintf("udp_assured=%d", assured))

	// One datagram to a port nobody reads on: UNREPLIED.
	start := time.Now()
	udpSend(t, "client", ":6001", "10.0.2.2:7001", []byte("a"))
	e := one(t, ctList(t, tp.client, "-p", "udp"))
	if e.has("SEEN_REPLY") || e.has("ASSURED") || !timeoutSince(e, unreplied, start) {
		t.Errorf("unreplied entry: %+v, want udp_unreplied (%d s) less the %v since it was sent",
			e, unreplied, time.Since(start))
	}

	// A flow that goes on after its first reply is a stream: ASSURED. The
	// client has the reply when udpExchange returns.
	udpEchoIn(t, "server", ":7002")
	c := udpPastStreamMark(t, "client", "10.0.2.2:7002", ":6002")[0]
	start = time.Now()
	udpExchange(t, c, []byte("ping"))
	a := one(t, ctList(t, tp.client, "-p", "udp", "--dport", "7002"))
	if !a.has("SEEN_REPLY") || !a.has("ASSURED") || a.PacketsReply == 0 || !timeoutSince(a, assured, start) {
		t.Errorf("stream entry: %+v, want udp_assured (%d s) less the %v since the reply",
			a, assured, time.Since(start))
	}

	// Both expire after their shortened timeouts; nothing refreshes them.
	deadline := time.Now().Add(assured*time.Second + waitLong)
	for len(ctList(t, tp.client, "-p", "udp")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("entries did not expire: %+v", ctList(t, tp.client, "-p", "udp"))
		}
		time.Sleep(250 * time.Millisecond)
	}

	// A new datagram afterwards makes a fresh entry.
	udpSend(t, "client", ":6001", "10.0.2.2:7001", []byte("b"))
	if f := one(t, ctList(t, tp.client, "-p", "udp")); f.ID == e.ID {
		t.Errorf("the entry after expiry has the old id %d", e.ID)
	}
}

func TestCTICMPEcho(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "flush")
	// Long enough for the list below to come first on the debug kernel on
	// a busy machine.
	const icmpTimeout = 15
	tp.router.run(t, "nflab", "ct", "config", "--timeout", fmt.Sprintf("icmp=%d", icmpTimeout))

	// ping returns once the last reply is back: every echo crossed the router.
	tp.ping("client", "10.0.2.2", 3)
	e := one(t, ctList(t, tp.router, "-p", "icmp"))
	if e.Orig.ICMPType != 8 || e.Reply.ICMPType != 0 || e.Orig.ICMPID != e.Reply.ICMPID ||
		e.Orig.Src != "10.0.1.2" || e.Reply.Src != "10.0.2.2" {
		t.Errorf("echo entry tuples: %+v", e)
	}
	if e.PacketsOrig != 3 || e.PacketsReply != 3 || e.BytesOrig != 3*pingBytes || !e.has("SEEN_REPLY") {
		t.Errorf("echo entry counters/status: %+v", e)
	}
	deadline := time.Now().Add(icmpTimeout*time.Second + waitLong)
	for ctCount(t, tp.router) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("ICMP entry did not expire: %+v", ctList(t, tp.router))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestCTTableFull(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.client.run(t, "nflab", "ct", "flush")
	// Unreplied entries keep long enough for the counts below on a slow
	// machine: only eviction may take them.
	tp.client.run(t, "nflab", "ct", "config", "--limit", "3", "--timeout", "udp_unreplied=600")

	// Five unanswered flows: the table keeps three, evicting early.
	for p := 7100; p < 7105; p++ {
		udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", p), []byte("x"))
	}
	if n := ctCount(t, tp.client); n != 3 {
		t.Errorf("count %d at limit 3", n)
	}
	if s := ctStats(t, tp.client); s["early_drop"] != 2 || s["drop"] != 0 {
		t.Errorf("stats %v: want early_drop 2, drop 0", s)
	}

	// Three streams fill it for good: a fourth flow is dropped. Each
	// exchange returns with its reply, so each entry is ASSURED by then.
	tp.client.run(t, "nflab", "ct", "flush")
	udpEchoIn(t, "server", ":7200")
	for _, c := range udpPastStreamMark(t, "client", "10.0.2.2:7200", ":6200", ":6201", ":6202") {
		udpExchange(t, c, []byte("y"))
	}
	if es := ctList(t, tp.client, "--status", "ASSURED"); len(es) != 3 {
		t.Fatalf("want 3 assured entries, got %+v", es)
	}
	before := ctStats(t, tp.client)["drop"]
	_, _ = tp.client.try("sh", "-c", "echo z | socat -u - UDP4-SENDTO:10.0.2.2:7300")
	if d := ctStats(t, tp.client)["drop"]; d != before+1 {
		t.Errorf("drop counter %d -> %d, want one more", before, d)
	}
	if n := ctCount(t, tp.client); n != 3 {
		t.Errorf("count %d after the drop, want 3", n)
	}

	// Flushing frees the entries' memory.
	tp.client.run(t, "nflab", "ct", "flush")
	if n := ctCount(t, tp.client); n != 0 {
		t.Errorf("count %d after flush", n)
	}
}

func TestCTParallelUDP(t *testing.T) {
	loadModule(t)
	// Many sockets at once from this namespace to itself over loopback;
	// each flow must be one entry, however the CPUs raced.
	mustRun(t, "ip", "link", "set", "lo", "up")
	mustRun(t, "nflab", "ct", "flush")
	// No entry may expire before the counts below, however slow the machine.
	mustRun(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600")
	const flows, perFlow = 64, 20
	// All sockets stay open until every flow has sent, so no two flows
	// can share a source port.
	conns := make([]*net.UDPConn, flows)
	for i := range conns {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, flows)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perFlow; j++ {
				if _, err := c.Write([]byte("p")); err != nil && !isConnRefused(err) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	es := ctList(t, "", "-p", "udp", "--dport", "9")
	seen := map[uint16]bool{}
	for _, e := range es {
		if seen[e.Orig.Sport] {
			t.Errorf("two entries for source port %d", e.Orig.Sport)
		}
		seen[e.Orig.Sport] = true
	}
	if len(es) != flows {
		t.Errorf("%d entries for %d flows", len(es), flows)
	}
	if n := ctCount(t, ""); n != len(es) {
		t.Errorf("count %d, dump %d", n, len(es))
	}
	s := ctStats(t, "")
	if s["insert"] < uint64(flows) || s["new"] < s["insert"] {
		t.Errorf("stats %v for %d flows", s, flows)
	}
}

func isConnRefused(err error) bool {
	return strings.Contains(err.Error(), "connection refused")
}

func TestCTNamespaceIsolation(t *testing.T) {
	loadModule(t)
	// Namespaces of their own, deleted by the test itself.
	for _, ns := range []string{"iso1", "iso2", "iso3"} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _, _ = tryCmd("ip", "netns", "del", ns) })
	}
	mustRun(t, "ip", "link", "add", "i1", "netns", "iso1", "type", "veth", "peer", "name", "i2", "netns", "iso2")
	netns("iso1").run(t, "ip", "addr", "add", "10.7.0.1/24", "dev", "i1")
	netns("iso2").run(t, "ip", "addr", "add", "10.7.0.2/24", "dev", "i2")
	netns("iso1").run(t, "ip", "link", "set", "i1", "up")
	netns("iso2").run(t, "ip", "link", "set", "i2", "up")
	// The echo entries keep until the namespaces go, however slow the checks.
	for _, ns := range []netns{"iso1", "iso2"} {
		ns.run(t, "nflab", "ct", "config", "--timeout", "icmp=600")
	}
	netns("iso1").run(t, "ping", "-q", "-c", "2", "-i", "0.2", "10.7.0.2")

	for ns, want := range map[netns]int{"iso1": 1, "iso2": 1, "iso3": 0, "": 0} {
		if n := ctCount(t, ns); n != want {
			t.Errorf("namespace %q: %d entries, want %d", ns, n, want)
		}
	}
	e := one(t, ctList(t, "iso2"))
	if e.Orig.Src != "10.7.0.1" || e.Proto != "icmp" {
		t.Errorf("iso2 sees %+v", e)
	}

	// Deleting the namespaces frees their entries: unloading afterwards
	// checks that none is left (nflab warns, and the run fails, if any is).
	mustRun(t, "ip", "netns", "del", "iso1")
	mustRun(t, "ip", "netns", "del", "iso2")
	unloadModule(t)
}

func TestCTNeedsCapNetAdmin(t *testing.T) {
	loadModule(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, args := range [][]string{
		{"nflab", "ct", "list"},
		{"nflab", "ct", "flush"},
		{"nflab", "ct", "delete", "-p", "udp"},
		{"nflab", "ct", "config", "--limit", "5"},
		{"nflab", "ct", "gc"},
	} {
		out, code := runAs(t, nobody, args...)
		if code != 1 || !strings.Contains(out, "CAP_NET_ADMIN") {
			t.Errorf("%v as nobody: exit %d, %q; want exit 1 naming CAP_NET_ADMIN", args, code, out)
		}
	}
	// Counting and statistics reveal no flows: anyone may read them.
	for _, args := range [][]string{{"nflab", "ct", "count"}, {"nflab", "ct", "stats"}, {"nflab", "ct", "config"}} {
		if out, code := runAs(t, nobody, args...); code != 0 {
			t.Errorf("%v as nobody: exit %d: %s", args, code, out)
		}
	}
}

// waitTCPListen waits until a TCP socket listens on port in ns.
func waitTCPListen(t *testing.T, ns netns, port int) {
	t.Helper()
	waitTCPPort(t, ns, port, "a listener", func(states []string) bool {
		return slices.Contains(states, "0A")
	})
}

// waitTCPPortFree waits until no TCP socket in ns has port as its own.
func waitTCPPortFree(t *testing.T, ns netns, port int) {
	t.Helper()
	waitTCPPort(t, ns, port, "no socket", func(states []string) bool {
		return len(states) == 0
	})
}

// waitTCPPort polls /proc/net/tcp in ns until ok accepts the states (hex,
// as the kernel writes them) of the sockets bound to port; waitLong at most.
func waitTCPPort(t *testing.T, ns netns, port int, what string, ok func(states []string) bool) {
	t.Helper()
	want := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(waitLong)
	for {
		out, err := ns.try("cat", "/proc/net/tcp")
		if err == nil {
			var states []string
			for _, l := range strings.Split(out, "\n")[1:] {
				if f := strings.Fields(l); len(f) > 3 && strings.HasSuffix(f[1]+" ", want) {
					states = append(states, f[3])
				}
			}
			if ok(states) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never %s on TCP port %d in %s", what, port, ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCTICMPErrors(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)

	// A DF ping bigger than the router's link to the server: the router
	// answers "fragmentation needed", RELATED to the client's ping flow.
	tp.router.run(t, "ip", "link", "set", "r1", "mtu", "1000")
	before := ctStats(t, tp.client)
	if _, err := tp.client.try("ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1200", "10.0.2.2"); err == nil {
		t.Fatal("a 1228-byte DF ping crossed a 1000-byte link")
	}
	// ping may give up before the router's answer is in: wait for it.
	after := statsAfter(t, tp.client, before)
	if after["related"] != before["related"]+1 || after["invalid"] != before["invalid"] {
		t.Errorf("frag-needed: related %d -> %d, invalid %d -> %d; want one more related",
			before["related"], after["related"], before["invalid"], after["invalid"])
	}

	// Errors the server makes up: one about a UDP flow the client never
	// had, one whose quoted header is cut short. Both are INVALID.
	quote := []byte{
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, // IPv4, 28 bytes, UDP
		10, 0, 1, 2, 10, 0, 2, 2, // 10.0.1.2 -> 10.0.2.2
		0x04, 0x57, 0x08, 0xae, 0, 8, 0, 0, // UDP 1111 -> 2222
	}
	for _, tc := range []struct {
		name  string
		quote []byte
	}{
		{"unknown flow", quote},
		{"truncated quote", quote[:10]},
	} {
		before := ctStats(t, tp.client)
		sendICMPError(t, "server", "10.0.1.2", 3, 3, tc.quote)
		after := statsAfter(t, tp.client, before)
		if after["invalid"] != before["invalid"]+1 || after["related"] != before["related"] {
			t.Errorf("%s: invalid %d -> %d, related %d -> %d; want one more invalid",
				tc.name, before["invalid"], after["invalid"], before["related"], after["related"])
		}
	}
}

// sendICMPError sends an ICMP error of the given type and code, quoting
// quote, from namespace ns to dst.
func sendICMPError(t *testing.T, ns, dst string, typ, code byte, quote []byte) {
	t.Helper()
	sendRaw(t, ns, unix.IPPROTO_ICMP, net.ParseIP(dst), icmpMessage(typ, code, [4]byte{}, quote))
}

// statsAfter polls ns's tracker counters until related or invalid moved
// away from before (the packet crossed the router), for at most waitLong.
func statsAfter(t *testing.T, ns netns, before map[string]uint64) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		s := ctStats(t, ns)
		if s["related"] != before["related"] || s["invalid"] != before["invalid"] || time.Now().After(deadline) {
			return s
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCTCoexistsWithKernelConntrack(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	// The kernel's tracker, through nftables, on the router: forwarded
	// packets pass both trackers. The modules load on demand.
	tp.router.run(t, "nft", "add table ip t")
	tp.router.run(t, "nft", "add chain ip t fc { type filter hook forward priority 0 ; }")
	tp.router.run(t, "nft", "add rule ip t fc ct state established counter")
	tp.router.run(t, "nft", "add rule ip t fc ct state new counter")
	nftCount := func(state string) int {
		t.Helper()
		return nftPackets(t, tp.router, "ip t fc", "ct state "+state)
	}

	// A connection the test drives: once the server has read all 5000
	// bytes, the handshake and the data crossed the router.
	cl, srv := connPair(t, "client", "server", "10.0.2.2:8100", "10.0.2.2:8100")
	if _, err := cl.Write(make([]byte, 5000)); err != nil {
		t.Fatal(err)
	}
	readN(t, srv, make([]byte, 5000))

	// Both trackers saw the connection: the kernel's counted NEW and
	// ESTABLISHED packets, nflab has its entry.
	if n, e := nftCount("new"), nftCount("established"); n < 1 || e < 3 {
		t.Errorf("kernel conntrack: %d new, %d established packets", n, e)
	}
	if e := one(t, ctList(t, tp.router, "-p", "tcp", "--dport", "8100")); !e.has("ASSURED") {
		t.Errorf("nflab's entry %+v, want ASSURED", e)
	}
	cl.Close()
	srv.Close()

	// nflab leaves cleanly, and the kernel's tracker goes on: the new
	// connection's SYN crossed the router before the dial returned.
	unloadModule(t)
	connPair(t, "client", "server", "10.0.2.2:8101", "10.0.2.2:8101")
	if n := nftCount("new"); n < 2 {
		t.Errorf("kernel conntrack saw %d new packets after nflab left, want 2", n)
	}
}

func TestCTLoopbackCountedOnce(t *testing.T) {
	loadModule(t)
	// Traffic to itself crosses LOCAL_OUT and then PRE_ROUTING on lo:
	// one packet, one count.
	mustRun(t, "ip", "link", "set", "lo", "up")
	mustRun(t, "nflab", "ct", "flush")
	mustRun(t, "ping", "-q", "-c", "3", "-i", "0.2", "127.0.0.1")
	e := one(t, ctList(t, "", "-p", "icmp"))
	if e.PacketsOrig != 3 || e.PacketsReply != 3 || e.BytesOrig != 3*pingBytes {
		t.Errorf("loopback echo entry %+v: want 3 packets (252 bytes) each way", e)
	}
}

func TestCTDroppedFirstPacketLeavesNoEntry(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "flush")
	// The router's filter drops what it would forward: the first packets
	// of these flows never reach the confirming hook there.
	tp.router.run(t, "nft", "add table ip t")
	tp.router.run(t, "nft", "add chain ip t fc { type filter hook forward priority 0 ; policy drop ; }")
	// Counts what the router drops: after nflab's PRE_ROUTING hook.
	tp.router.run(t, "nft", "add rule ip t fc counter")
	// The client's entries keep until it is counted, however slow the machine.
	tp.client.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600", "--timeout", "icmp=600")
	before := ctStats(t, tp.router)
	for p := 7400; p < 7405; p++ {
		udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", p), []byte("x"))
	}
	_, _ = tp.client.try("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.2.2")
	// Five datagrams and two echo requests reach the router's filter.
	waitFor(t, "the router drop all 7 packets", func() bool {
		return nftPackets(t, tp.router, "ip t fc", "counter") >= 7
	})
	if n := ctCount(t, tp.router); n != 0 {
		t.Errorf("router holds %d entries for flows it dropped: %+v", n, ctList(t, tp.router))
	}
	// It did see them: each first packet made an entry that never joined.
	if s := ctStats(t, tp.router); s["new"] < before["new"]+6 || s["insert"] != before["insert"] {
		t.Errorf("router stats %v after %v: want 6 more new and no more inserts", s, before)
	}
	// The client's side, where the packets were accepted, has them.
	if n := ctCount(t, tp.client); n < 6 {
		t.Errorf("client holds %d entries, want >= 6", n)
	}
}
