//go:build nflabvm

// Where did my packet go? "nflab trace" follows packets through nflab's
// hooks on the usual topology:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0       |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24       |
//	+-------------+        +-------------------+        +-------------------+
package guest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// traceTuple and traceEvent are what "nflab trace -o json" prints.
type traceTuple struct {
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Proto   string `json:"proto"`
	SrcPort int    `json:"sport"`
	DstPort int    `json:"dport"`
}

type traceRule struct {
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Comment string `json:"comment"`
	Verdict string `json:"verdict"`
	Handle  uint64 `json:"handle"`
}

type traceEvent struct {
	Trace       uint64          `json:"trace"`
	Packet      uint64          `json:"packet"`
	Seq         uint64          `json:"seq"`
	Kind        string          `json:"kind"`
	Hook        string          `json:"hook"`
	Tuple       traceTuple      `json:"tuple"`
	TupleOut    *traceTuple     `json:"tuple_out"`
	TCPFlags    []string        `json:"tcp_flags"`
	CT          string          `json:"ct"`
	Invalid     string          `json:"ct_invalid"`
	TCPStateOld string          `json:"tcp_state_old"`
	TCPState    string          `json:"tcp_state"`
	Rules       []traceRule     `json:"rules"`
	Verdict     string          `json:"verdict"`
	DropBy      string          `json:"drop_by"`
	DropReason  string          `json:"drop_reason"`
	Lost        json.RawMessage `json:"lost"` // a loss line
	Overrun     bool            `json:"overrun"`
	Started     json.RawMessage `json:"started"` // a follower's first line
}

func (e traceEvent) String() string {
	s := fmt.Sprintf("#%d %s %s %s:%d→%s:%d %s", e.Packet, e.Kind, e.Hook, e.Tuple.Src, e.Tuple.SrcPort,
		e.Tuple.Dst, e.Tuple.DstPort, e.Verdict)
	if e.DropBy != "" {
		s += " by " + e.DropBy
	}
	if e.DropReason != "" {
		s += " (" + e.DropReason + ")"
	}
	for _, r := range e.Rules {
		s += fmt.Sprintf(" rule %s/%s#%d %q %s", r.Table, r.Chain, r.Handle, r.Comment, r.Verdict)
	}
	if e.CT != "" {
		s += " ct " + e.CT
	}
	if e.TupleOut != nil {
		s += fmt.Sprintf(" → %s:%d→%s:%d", e.TupleOut.Src, e.TupleOut.SrcPort, e.TupleOut.Dst, e.TupleOut.DstPort)
	}
	return s
}

// traceWatch runs "nflab trace -o json SELECTOR..." in ns (which adds the
// trace, follows it and deletes it on exit) and returns its events as they
// come, once the trace exists.
func traceWatch(t *testing.T, ns netns, args ...string) <-chan traceEvent {
	t.Helper()
	ch := make(chan traceEvent, 4096)
	go func(lines <-chan []byte) {
		defer close(ch)
		for l := range lines {
			var e traceEvent
			if err := json.Unmarshal(l, &e); err != nil {
				t.Errorf("bad trace line %q: %v", l, err)
				return
			}
			if e.Started == nil {
				ch <- e
			}
		}
	}(nflabStream(t, ns, append([]string{"trace", "-o", "json"}, args...)...))
	waitFor(t, "the trace start", func() bool { return len(traceList(t, ns)) == 1 })
	return ch
}

// nflabStream runs "nflab ARGS" in ns until the test ends (SIGINT, so that
// a follower deletes its trace) and returns its output's lines as they
// come.
func nflabStream(t *testing.T, ns netns, args ...string) <-chan []byte {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", string(ns), "nflab"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() })
	ch := make(chan []byte, 4096)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ch <- bytes.Clone(sc.Bytes())
		}
	}()
	return ch
}

// traceTimeline runs "nflab trace" in ns, the readable timeline of every
// trace there; stop ends it and returns its lines.
func traceTimeline(t *testing.T, ns netns) (stop func() []string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", string(ns), "nflab", "trace")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	stopped := false
	stop = func() []string {
		if !stopped {
			stopped = true
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-read
			_ = cmd.Wait()
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
	t.Cleanup(func() { stop() })

	// It listens once it writes the line of a sentinel trace's packet (a
	// datagram to the discard port over loopback).
	id := strings.TrimSpace(ns.run(t, "nflab", "trace", "add", "--budget", "1000", "udp", "dst", "port", "9"))
	waitFor(t, "the timeline's watcher listen", func() bool {
		udpSend(t, string(ns), "127.0.0.1:0", "127.0.0.1:9", []byte("sentinel"))
		mu.Lock()
		defer mu.Unlock()
		return timelineHas(lines, "→ 127.0.0.1:9 udp")
	})
	ns.run(t, "nflab", "trace", "delete", id)
	return stop
}

// timelineHas reports whether a line of lines holds every part.
func timelineHas(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}

type traceInfo struct {
	ID       uint32 `json:"id"`
	Selector string `json:"selector"`
	Budget   int    `json:"budget"`
	Left     int    `json:"left"`
	Events   uint64 `json:"events"`
	Lost     uint64 `json:"lost"`
}

func traceList(t *testing.T, ns netns) []traceInfo {
	t.Helper()
	var v struct {
		Traces []traceInfo `json:"traces"`
	}
	ns.nflabJSON(t, &v, "trace", "list")
	return v.Traces
}

// journeys are a trace's events by packet id, the ids in order of arrival,
// and whether the trace's END came.
type journeys struct {
	byID  map[uint64][]traceEvent
	order []uint64
	ended bool
}

// traceJourneys collects events until complete says the journeys it waits
// for are all there (then a moment more, for what trails them), failing
// after waitLong.
func traceJourneys(t *testing.T, ch <-chan traceEvent, complete func(j journeys) bool) (map[uint64][]traceEvent, []uint64) {
	t.Helper()
	j := journeys{byID: map[uint64][]traceEvent{}}
	timeout := time.After(waitLong)
	var settle <-chan time.Time
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				// A follower exits at its trace's end.
				j.ended = true
				if complete(j) {
					return j.byID, j.order
				}
				t.Fatalf("the trace's output ended; so far:%v", j.byID)
			}
			if e.Lost != nil || e.Overrun {
				t.Errorf("trace events lost: %s (overrun %v)", e.Lost, e.Overrun)
				continue
			}
			if e.Kind == "end" {
				j.ended = true
			} else {
				if _, seen := j.byID[e.Packet]; !seen {
					j.order = append(j.order, e.Packet)
				}
				j.byID[e.Packet] = append(j.byID[e.Packet], e)
			}
			if settle == nil && complete(j) {
				settle = time.After(500 * time.Millisecond)
			}
		case <-settle:
			return j.byID, j.order
		case <-timeout:
			t.Fatalf("the traced journeys were not complete within %v:%v", waitLong, j.byID)
		}
	}
}

// endAt reports whether there are n journeys at least, each over: ended
// by nflab's drop, by a GONE event, or let go at one of the hooks last.
func (j journeys) endAt(n int, last ...string) bool {
	if len(j.order) < n {
		return false
	}
	for _, id := range j.order {
		evs := j.byID[id]
		e := evs[len(evs)-1]
		if e.Kind != "gone" && e.Verdict == "accept" && !slices.Contains(last, e.Hook) {
			return false
		}
	}
	return true
}

func journeyString(evs []traceEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("\n\t" + e.String())
	}
	return b.String()
}

// jsonNumber finds the number under key in m or in an object in it, with
// key compared without case and underscores.
func jsonNumber(m map[string]any, key string) (float64, bool) {
	for k, v := range m {
		if strings.EqualFold(strings.ReplaceAll(k, "_", ""), key) {
			n, ok := v.(float64)
			return n, ok
		}
		if sub, ok := v.(map[string]any); ok {
			if n, ok := jsonNumber(sub, key); ok {
				return n, true
			}
		}
	}
	return 0, false
}

func hasFlag(e traceEvent, flag string) bool {
	for _, f := range e.TCPFlags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// TestTraceDropWhere is the classic experiment, told by the trace alone:
// a drop at the server's LOCAL_IN for TCP port 8080, then one at its
// LOCAL_OUT.
func TestTraceDropWhere(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"Input", traceDropInput},
		{"Output", traceDropOutput},
		{"NoSocket", traceNoSocket},
	})
}

// traceNoSocket: no rule, no socket on the port: nflab delivers the SYN,
// and the kernel drops it right after LOCAL_IN (NO_SOCKET) and answers
// with a reset, which tcpdump alone cannot tell from a LOCAL_IN drop.
func traceNoSocket(t *testing.T, tp *topology) {
	timeline := traceTimeline(t, tp.server)
	ch := traceWatch(t, tp.server, "tcp", "port", "8081")
	errc, cancel := dialAsync(t, "client", "10.0.2.2:8081")
	defer cancel()
	if err := <-errc; err == nil {
		t.Fatal("a connection to a port nothing listens on was established")
	}
	// The SYN gone after LOCAL_IN, the reset sent at POST_ROUTING.
	byID, order := traceJourneys(t, ch, func(j journeys) bool {
		n := 0
		for _, id := range j.order {
			evs := j.byID[id]
			if last := evs[len(evs)-1]; last.Kind == "gone" || last.Hook == "POST_ROUTING" {
				n++
			}
		}
		return n >= 2
	})
	var syn, rst bool
	for _, id := range order {
		j := byID[id]
		last := j[len(j)-1]
		switch {
		case j[0].Hook == "PRE_ROUTING":
			syn = true
			if len(j) != 3 || j[1].Hook != "LOCAL_IN" || j[1].Verdict != "accept" ||
				last.Kind != "gone" || last.DropBy != "after" || last.DropReason != "NO_SOCKET" {
				t.Errorf("the SYN: want PRE_ROUTING ✓, LOCAL_IN ✓, then gone after LOCAL_IN (NO_SOCKET):%s", journeyString(j))
			}
		case j[0].Hook == "LOCAL_OUT":
			rst = true
			if len(j) != 2 || last.Hook != "POST_ROUTING" || last.Verdict != "accept" || !hasFlag(j[0], "rst") {
				t.Errorf("the reset: want LOCAL_OUT ✓, POST_ROUTING ✓:%s", journeyString(j))
			}
		}
	}
	if !syn || !rst {
		t.Errorf("traced a SYN: %v, a reset: %v; want both", syn, rst)
	}
	lines := timeline()
	t.Logf("nflab trace:\n%s", strings.Join(lines, "\n"))
	// One line, or (the GONE came after the line was written) two.
	if !timelineHas(lines, "tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓") || !timelineHas(lines, "gone after LOCAL_IN: NO_SOCKET") {
		t.Errorf("the timeline does not show the SYN gone after LOCAL_IN for want of a socket")
	}
}

func traceDropInput(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8080")
	applyIn(t, tp.server, `rule filter input tcp dport 8080 drop comment "drop syn"`)
	timeline := traceTimeline(t, tp.server)
	ch := traceWatch(t, tp.server, "tcp", "port", "8080")

	// The first SYN and its retransmission a second later.
	errc, cancel := dialAsync(t, "client", "10.0.2.2:8080")
	waitFor(t, "two SYNs dropped", func() bool { return ruleList(t, tp.server)["drop syn"].Packets >= 2 })
	cancel()
	<-errc
	// Each SYN ends at LOCAL_IN.
	byID, order := traceJourneys(t, ch, func(j journeys) bool { return j.endAt(2) })
	if len(order) < 2 {
		t.Fatalf("traced %d packets, want every SYN (2 or more): %v", len(order), byID)
	}
	for _, id := range order {
		j := byID[id]
		// PRE_ROUTING ✓ (new or found: a retransmission), LOCAL_IN ✗ by the rule.
		if len(j) != 2 || j[0].Hook != "PRE_ROUTING" || j[0].Verdict != "accept" ||
			j[1].Hook != "LOCAL_IN" || j[1].Verdict != "drop" || j[1].DropBy != "rule" ||
			len(j[1].Rules) != 1 || j[1].Rules[0].Comment != "drop syn" ||
			j[1].Rules[0].Chain != "input" || j[1].Rules[0].Handle == 0 || !hasFlag(j[0], "syn") {
			t.Errorf("packet %d: want PRE_ROUTING ✓ then LOCAL_IN ✗ by rule \"drop syn\":%s", id, journeyString(j))
		}
		if j[0].CT != "new" && j[0].CT != "found" {
			t.Errorf("packet %d: tracker said %q at PRE_ROUTING, want new or found", id, j[0].CT)
		}
	}
	if byID[order[0]][0].CT != "new" {
		t.Errorf("the first SYN: tracker said %q, want new", byID[order[0]][0].CT)
	}
	if l := ssLines(t, tp.server, "state", "syn-recv"); len(l) != 0 {
		t.Errorf("server has half-open connections behind a LOCAL_IN drop: %q", l)
	}
	lines := timeline()
	t.Logf("nflab trace:\n%s", strings.Join(lines, "\n"))
	if !timelineHas(lines, "10.0.1.2:", "→ 10.0.2.2:8080 tcp SYN", "PRE_ROUTING ✓ new", "LOCAL_IN ✗ rule filter/input#", `"drop syn"`) {
		t.Errorf("the timeline has no line of a SYN let go at PRE_ROUTING and dropped at LOCAL_IN by its rule")
	}
}

func traceDropOutput(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8080")
	applyIn(t, tp.server, `rule filter output tcp sport 8080 drop comment "drop synack"`)
	timeline := traceTimeline(t, tp.server)
	ch := traceWatch(t, tp.server, "tcp", "port", "8080")

	errc, cancel := dialAsync(t, "client", "10.0.2.2:8080")
	waitFor(t, "the server hold a half-open connection on port 8080", func() bool {
		return len(ssLines(t, tp.server, "state", "syn-recv", "sport", "=", ":8080")) == 1
	})
	waitFor(t, "a SYN/ACK dropped", func() bool { return ruleList(t, tp.server)["drop synack"].Packets >= 1 })
	cancel()
	<-errc
	// The SYN is delivered at LOCAL_IN, each SYN/ACK dropped at LOCAL_OUT.
	byID, order := traceJourneys(t, ch, func(j journeys) bool { return j.endAt(2, "LOCAL_IN") })
	var syns, synacks int
	for _, id := range order {
		j := byID[id]
		switch {
		case len(j) >= 1 && j[0].Hook == "PRE_ROUTING":
			// The SYN is delivered: PRE_ROUTING ✓, LOCAL_IN ✓.
			if len(j) < 2 || j[0].Verdict != "accept" || j[1].Hook != "LOCAL_IN" ||
				j[1].Verdict != "accept" || !hasFlag(j[0], "syn") {
				t.Errorf("packet %d: want a SYN delivered (PRE_ROUTING ✓, LOCAL_IN ✓):%s", id, journeyString(j))
			}
			syns++
		case len(j) >= 1 && j[0].Hook == "LOCAL_OUT":
			// The SYN/ACK: LOCAL_OUT ✗ by the rule, nothing after.
			if len(j) != 1 || j[0].Verdict != "drop" || j[0].DropBy != "rule" ||
				len(j[0].Rules) != 1 || j[0].Rules[0].Comment != "drop synack" ||
				j[0].Rules[0].Chain != "output" || !hasFlag(j[0], "syn") || !hasFlag(j[0], "ack") {
				t.Errorf("packet %d: want a SYN/ACK dropped at LOCAL_OUT by rule \"drop synack\":%s", id, journeyString(j))
			}
			synacks++
		default:
			t.Errorf("packet %d: unexpected journey:%s", id, journeyString(j))
		}
	}
	if syns < 1 || synacks < 1 {
		t.Errorf("traced %d SYNs and %d SYN/ACKs, want at least one of each", syns, synacks)
	}
	lines := timeline()
	t.Logf("nflab trace:\n%s", strings.Join(lines, "\n"))
	if !timelineHas(lines, "PRE_ROUTING ✓", "LOCAL_IN ✓") ||
		!timelineHas(lines, "10.0.2.2:8080 → 10.0.1.2:", "SYN", "LOCAL_OUT ✗", "rule filter/output#", `"drop synack"`) {
		t.Errorf("the timeline has no SYN delivered or no SYN/ACK dropped at LOCAL_OUT by its rule")
	}
}

// TestTraceForwardGone: a forwarded packet dropped by an nftables rule is
// reported gone where nflab last saw it, with the kernel's reason; a
// packet dropped by nftables inside FORWARD, after nflab's first function
// there, is gone inside FORWARD.
func TestTraceForwardGone(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	udpEchoIn(t, "server", ":7001")
	script := filepath.Join(t.TempDir(), "t.nft")
	if err := os.WriteFile(script, []byte(`table ip t {
	chain early { type filter hook forward priority -300; udp dport 7002 drop; }
	chain late { type filter hook forward priority 0; udp dport 7003 drop; }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.router.run(t, "nft", "-f", script)
	timeline := traceTimeline(t, tp.router)
	ch := traceWatch(t, tp.router, "udp")

	udpSend(t, "client", "10.0.1.2:40002", "10.0.2.2:7002", []byte("early"))
	udpSend(t, "client", "10.0.1.2:40003", "10.0.2.2:7003", []byte("late"))
	udpRequest(t, "client", "10.0.1.2:40001", "10.0.2.2:7001", []byte("through"))
	// Four datagrams: two gone, the request and its reply sent on.
	byID, order := traceJourneys(t, ch, func(j journeys) bool { return j.endAt(4, "POST_ROUTING") })
	seen := map[int]bool{}
	for _, id := range order {
		j := byID[id]
		last := j[len(j)-1]
		switch j[0].Tuple.DstPort {
		case 7002:
			// nftables at -300 drops it before nflab's first FORWARD function.
			if len(j) != 2 || j[0].Hook != "PRE_ROUTING" || j[0].Verdict != "accept" ||
				last.Kind != "gone" || last.Hook != "PRE_ROUTING" || last.DropBy != "between" ||
				last.DropReason != "NETFILTER_DROP" {
				t.Errorf("dport 7002: want PRE_ROUTING ✓ then gone between PRE_ROUTING and the next hook (NETFILTER_DROP):%s", journeyString(j))
			}
		case 7003:
			if len(j) != 2 || last.Kind != "gone" || last.Hook != "FORWARD" || last.DropBy != "hook" ||
				last.DropReason != "NETFILTER_DROP" {
				t.Errorf("dport 7003: want PRE_ROUTING ✓ then gone inside FORWARD (NETFILTER_DROP):%s", journeyString(j))
			}
		case 7001:
			hooks := make([]string, 0, len(j))
			for _, e := range j {
				hooks = append(hooks, e.Hook+"/"+e.Verdict)
			}
			if got := strings.Join(hooks, " "); got != "PRE_ROUTING/accept FORWARD/accept POST_ROUTING/accept" {
				t.Errorf("dport 7001: hooks %s, want PRE_ROUTING, FORWARD and POST_ROUTING, all accepted:%s", got, journeyString(j))
			}
		case 40001:
			hooks := make([]string, 0, len(j))
			for _, e := range j {
				hooks = append(hooks, e.Hook+"/"+e.Verdict)
			}
			if got := strings.Join(hooks, " "); j[0].Tuple.SrcPort != 7001 || j[0].CT != "found" ||
				got != "PRE_ROUTING/accept FORWARD/accept POST_ROUTING/accept" {
				t.Errorf("the reply from 7001: hooks %s, want PRE_ROUTING (found), FORWARD and POST_ROUTING, all accepted:%s", got, journeyString(j))
			}
		default:
			t.Errorf("unexpected packet:%s", journeyString(j))
		}
		seen[j[0].Tuple.DstPort] = true
	}
	for _, p := range []int{7001, 7002, 7003, 40001} {
		if !seen[p] {
			t.Errorf("no journey of the datagram to port %d: %v", p, byID)
		}
	}
	lines := timeline()
	t.Logf("nflab trace:\n%s", strings.Join(lines, "\n"))
	if !timelineHas(lines, ":7002", "gone between PRE_ROUTING", "NETFILTER_DROP") {
		t.Errorf("the timeline does not show the datagram to 7002 gone between PRE_ROUTING and the next hook")
	}
	// The counters agree: the router's PRE_ROUTING let go what FORWARD never saw.
	var v struct{ Hooks []map[string]any }
	tp.router.nflabJSON(t, &v, "stats", "-v")
	found := false
	for _, h := range v.Hooks {
		if h["hook"] != "PRE_ROUTING" {
			continue
		}
		n, ok := jsonNumber(h, "unseenafter")
		found = ok
		if n < 1 {
			t.Errorf("router PRE_ROUTING unseen-after = %v in %v, want at least the datagram nftables dropped at -300", n, h)
		}
	}
	if !found {
		t.Errorf("no PRE_ROUTING unseen-after in nflab stats -v: %+v", v)
	}
}

// TestTraceNAT: a masqueraded flow shows its translation where it happens,
// in both directions.
func TestTraceNAT(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	udpEchoIn(t, "server", ":7010")
	applyIn(t, tp.router, `rule nat postrouting oif r1 masquerade comment "masq"`)
	timeline := traceTimeline(t, tp.router)
	ch := traceWatch(t, tp.router, "host", "10.0.1.2", "and", "udp")
	udpRequest(t, "client", "10.0.1.2:40010", "10.0.2.2:7010", []byte("hello"))
	byID, order := traceJourneys(t, ch, func(j journeys) bool { return j.endAt(2, "POST_ROUTING") })
	if len(order) != 2 {
		t.Fatalf("traced %d packets, want the request and its reply: %v", len(order), byID)
	}
	req, rep := byID[order[0]], byID[order[1]]
	// The request: source translated at POST_ROUTING, by the nat rule.
	post := req[len(req)-1]
	if post.Hook != "POST_ROUTING" || post.TupleOut == nil || post.TupleOut.Src != "10.0.2.1" ||
		post.Tuple.Src != "10.0.1.2" || len(post.Rules) != 1 || post.Rules[0].Comment != "masq" ||
		post.Rules[0].Table != "nat" {
		t.Errorf("request: want POST_ROUTING translating 10.0.1.2 to 10.0.2.1 by rule \"masq\":%s", journeyString(req))
	}
	if req[0].Hook != "PRE_ROUTING" || req[0].CT != "new" || req[0].TupleOut != nil {
		t.Errorf("request: want PRE_ROUTING, new, untranslated:%s", journeyString(req))
	}
	// The reply: chosen by its connection (its own tuple is the router's),
	// destination restored at PRE_ROUTING.
	pre := rep[0]
	if pre.Hook != "PRE_ROUTING" || pre.CT != "found" || pre.Tuple.Dst != "10.0.2.1" ||
		pre.TupleOut == nil || pre.TupleOut.Dst != "10.0.1.2" || pre.TupleOut.DstPort != 40010 {
		t.Errorf("reply: want PRE_ROUTING, found, 10.0.2.1 restored to 10.0.1.2:40010:%s", journeyString(rep))
	}
	lines := timeline()
	t.Logf("nflab trace:\n%s", strings.Join(lines, "\n"))
	if !timelineHas(lines, "10.0.1.2:40010 → 10.0.2.2:7010 udp", "POST_ROUTING ✓", `rule nat/postrouting#`, `"masq"`, "snat 10.0.1.2:40010→10.0.2.1:40010") ||
		!timelineHas(lines, "10.0.2.2:7010 → 10.0.2.1:40010 udp", "PRE_ROUTING ✓ found dnat 10.0.2.1:40010→10.0.1.2:40010") {
		t.Errorf("the timeline does not show the translation both ways")
	}
}

// TestTraceLimits: the budget and the expiry end a trace; events with no
// listener are counted lost; only CAP_NET_ADMIN may trace.
func TestTraceLimits(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)

	// A budget of 3: 3 of 10 echo requests (and their replies, chosen
	// by their connection while budget lasts) are followed, then it ends.
	ch := traceWatch(t, tp.router, "--budget", "3", "icmp")
	tp.ping("client", "10.0.2.2", 10)
	byID, order := traceJourneys(t, ch, func(j journeys) bool { return j.ended })
	if len(order) != 3 {
		t.Errorf("a budget of 3 followed %d packets: %v", len(order), byID)
	}
	waitFor(t, "the spent trace end", func() bool { return len(traceList(t, tp.router)) == 0 })

	// Expiry.
	tp.router.run(t, "nflab", "trace", "add", "--timeout", "1s", "icmp")
	if n := len(traceList(t, tp.router)); n != 1 {
		t.Fatalf("%d traces after add, want 1", n)
	}
	waitFor(t, "the trace expire", func() bool { return len(traceList(t, tp.router)) == 0 })

	// Nobody listens: what it would send is lost, and counted.
	tp.router.run(t, "nflab", "trace", "add", "--budget", "5", "icmp")
	tp.ping("client", "10.0.2.2", 1)
	l := traceList(t, tp.router)
	if len(l) != 1 || l[0].Lost < 6 || l[0].Events != 0 || l[0].Left != 3 {
		t.Errorf("trace without a listener after a ping: %+v; want the request's and the reply's 3 events each lost and counted, 2 packets of its budget used", l)
	}
	tp.router.run(t, "nflab", "trace", "delete", "--all")

	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, args := range [][]string{
		{"nflab", "trace", "add", "icmp"},
		{"nflab", "trace", "list"},
		{"nflab", "trace", "-o", "json"},
	} {
		out, code := runAs(t, nobody, args...)
		if code == 0 || !strings.Contains(out, "CAP_NET_ADMIN") {
			t.Errorf("%v as nobody: exit %d, %q; want a failure naming CAP_NET_ADMIN", args, code, out)
		}
	}
	// Bad input changes nothing.
	for _, args := range [][]string{
		{"trace", "add", "port", "22"},
		{"trace", "add", "--budget", "0", "icmp"},
		{"trace", "add", "tcp", "or", "udp"},
		{"trace", "delete", "999"},
	} {
		if out, err := tp.router.try(append([]string{"nflab"}, args...)...); err == nil {
			t.Errorf("nflab %v succeeded: %s", args, out)
		}
	}
	if n := len(traceList(t, tp.router)); n != 0 {
		t.Errorf("%d traces after bad input, want 0", n)
	}
}

// TestTraceNoCost: with no trace, nflab registers nothing for traces (its
// tail hooks come and go with the namespace's traces), and a trace
// changes no hook counter. Listing a hook's functions needs nfnetlink_hook,
// which Debian's 6.1 kernels leave out (CONFIG_NETFILTER_NETLINK_HOOK); on
// those only the counters are compared.
func TestTraceNoCost(t *testing.T) {
	loadModule(t)
	listing := true
	if _, err := tryCmd("modprobe", "nfnetlink_hook"); err != nil {
		if !strings.Contains(err.Error(), "not found") {
			t.Fatalf("modprobe nfnetlink_hook: %v", err)
		}
		t.Logf("this kernel has no nfnetlink_hook: the hook listing is not checked here (%v)", err)
		listing = false
	}
	tp := newTopology(t)
	hooks := func() string { return tp.router.run(t, "nft", "list", "hooks", "ip") }
	// The listing shows nflab's own hooks, and no trace hook yet.
	if h := ""; listing {
		if h = hooks(); !strings.Contains(h, "nflab_hook_track") || strings.Contains(h, "nflab_trace") {
			t.Fatalf("want nflab's hooks and no trace hook with no trace:\n%s", h)
		}
	}
	tp.ping("client", "10.0.2.2", 3)
	before := tp.stats("router")
	tp.reset("router")

	id := strings.TrimSpace(tp.router.run(t, "nflab", "trace", "add", "icmp"))
	if h := ""; listing {
		if h = hooks(); strings.Count(h, "nflab_trace_tail_hook") != 3 {
			t.Errorf("with a trace, want its tail hook at PRE_ROUTING, FORWARD and LOCAL_OUT:\n%s", h)
		}
	}
	tp.ping("client", "10.0.2.2", 3)
	if with := tp.stats("router"); fmt.Sprint(with) != fmt.Sprint(before) {
		t.Errorf("hook counters for 3 pings: %v without a trace, %v with one", before, with)
	}
	tp.router.run(t, "nflab", "trace", "delete", id)
	waitFor(t, "the trace end", func() bool { return len(traceList(t, tp.router)) == 0 })
	if listing {
		waitFor(t, "the trace hooks go with the trace", func() bool { return !strings.Contains(hooks(), "nflab_trace") })
	}
}

// TestTraceConnHistory: while a trace follows a TCP connection through the
// router, "ct get --history" tells its state changes there, oldest first.
func TestTraceConnHistory(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	ln := listenIn(t, "server", ":7100")
	ch := traceWatch(t, tp.router, "tcp", "port", "7100")
	errc, cancel := dialAsync(t, "client", "10.0.2.2:7100")
	defer cancel()
	acceptOne(t, ln)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The handshake's three packets, each sent on by the router.
	traceJourneys(t, ch, func(j journeys) bool { return j.endAt(3, "POST_ROUTING") })
	var e ctEntry
	for _, c := range ctList(t, tp.router, "-p", "tcp") {
		if c.Orig.Dport == 7100 {
			e = c
		}
	}
	if e.Orig.Sport == 0 {
		t.Fatalf("no entry of the connection to port 7100 in the router")
	}
	var v struct {
		History []struct {
			Hook        string   `json:"hook"`
			Dir         string   `json:"dir"`
			TCPStateOld string   `json:"tcp_state_old"`
			TCPState    string   `json:"tcp_state"`
			Status      []string `json:"status"`
			Packet      uint64   `json:"packet"`
		} `json:"history"`
	}
	tp.router.nflabJSON(t, &v, "ct", "get", "-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2",
		"--sport", fmt.Sprint(e.Orig.Sport), "--dport", "7100", "--history")
	var got []string
	for _, h := range v.History {
		got = append(got, h.TCPStateOld+"→"+h.TCPState+"/"+h.Dir)
	}
	// The handshake, then the close (the dialer closes at once).
	want := []string{"NONE→SYN_SENT/original", "SYN_SENT→SYN_RECV/reply", "SYN_RECV→ESTABLISHED/original"}
	if len(got) < len(want) || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("history %v, want it to start with %v: %+v", got, want, v.History)
	}
	for _, h := range v.History {
		if h.Hook != "PRE_ROUTING" || h.Packet == 0 {
			t.Errorf("a change at %s by packet %d; want PRE_ROUTING, where the tracker runs, and a packet id", h.Hook, h.Packet)
		}
	}
}

// TestTraceStress: traces start, spend their budget, expire and are
// deleted under a UDP flood from two senders, with a watcher of every
// trace and an nftables rule dropping part of the flood inside FORWARD (the
// kfree_skb probe's path); then the module unloads with a trace running
// and packets recorded.
// On the debug kernel KASAN, lockdep and kmemleak watch all of it.
func TestTraceStress(t *testing.T) {
	stressCPUs(t)
	loadModule(t)
	tp := newTopology(t)
	script := filepath.Join(t.TempDir(), "t.nft")
	if err := os.WriteFile(script, []byte(`table ip t {
	chain late { type filter hook forward priority 0; udp dport 7201 drop; }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.router.run(t, "nft", "-f", script)

	// A large receive buffer: the test wants every END heard.
	lines := nflabStream(t, tp.router, "trace", "-b", "16777216", "-o", "json")
	var events, gone, ends, overruns atomic.Int64
	go func() {
		for l := range lines {
			var e traceEvent
			if err := json.Unmarshal(l, &e); err != nil {
				t.Errorf("bad trace line %q: %v", l, err)
				return
			}
			events.Add(1)
			if e.Overrun {
				overruns.Add(1)
			}
			switch e.Kind {
			case "gone":
				gone.Add(1)
			case "end":
				ends.Add(1)
			}
		}
	}()

	// A trace that matches nothing holds the module's kfree_skb probe
	// attached while the flood runs: attaching and detaching it rewrites
	// the kernel's code where packets are freed, which TCG does not
	// survive while another vCPU runs that code (an "int3" oops).
	anchor := strings.TrimSpace(tp.router.run(t, "nflab", "trace", "add", "--timeout", "600", "icmp", "and", "host", "192.0.2.1"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, dst := range []string{"10.0.2.2:7200", "10.0.2.2:7201"} {
		c := udpIn(t, "client", fmt.Sprintf("10.0.1.2:%d", 41000+i), dst)
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte("flood")
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = c.Write(msg) // refusals (no listener) come back as errors
				time.Sleep(100 * time.Microsecond)
			}
		}()
	}
	rounds := stressRounds() / 3
	started := 0
	for i := 0; i < rounds; i++ {
		out, err := tp.router.try("nflab", "trace", "add", "--budget", "40", "--timeout", "2s", "udp")
		if err != nil {
			t.Fatalf("round %d: trace add: %v: %s", i, err, out)
		}
		started++
		time.Sleep(20 * time.Millisecond)
		if i%3 == 0 {
			// May have ended already (budget spent): either is fine.
			_, _ = tp.router.try("nflab", "trace", "delete", strings.TrimSpace(out))
		}
	}
	close(stop)
	wg.Wait()
	tp.router.run(t, "nflab", "trace", "delete", anchor)
	started++
	waitFor(t, "every trace end", func() bool { return len(traceList(t, tp.router)) == 0 })
	if overruns.Load() > 0 {
		t.Fatalf("the watcher's receive buffer overflowed %d times: ENDs may be lost", overruns.Load())
	}
	waitFor(t, "the watcher hear every trace end", func() bool { return ends.Load() == int64(started) })
	if events.Load() <= int64(started) || gone.Load() == 0 {
		t.Errorf("the watcher heard %d events (%d gone) from %d traces; want packets' events, some gone inside FORWARD", events.Load(), gone.Load(), started)
	}

	// Unload with a trace running and packets it followed still recorded
	// (the flood stopped first, for the same reason as the anchor's).
	tp.router.run(t, "nflab", "trace", "add", "--budget", "100000", "udp")
	c := udpIn(t, "client", "10.0.1.2:41010", "10.0.2.2:7201")
	for i := 0; i < 200; i++ {
		_, _ = c.Write([]byte("flood"))
	}
	unloadModule(t)
}

// TestTraceLossReported: a flood over the module's rate limit (2000 events
// a second per trace) loses events, and the loss is told, never silent:
// the watcher prints gaps in the trace's numbering, and the trace's LOST
// counter agrees.
func TestTraceLossReported(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	lines := nflabStream(t, tp.router, "trace", "-o", "json")
	var heard, lost atomic.Int64
	go func() {
		for l := range lines {
			var e struct {
				Kind string `json:"kind"`
				Lost *int64 `json:"lost"`
			}
			if err := json.Unmarshal(l, &e); err != nil {
				t.Errorf("bad trace line %q: %v", l, err)
				return
			}
			switch {
			case e.Lost != nil:
				lost.Add(*e.Lost)
			case e.Kind == "hook" || e.Kind == "gone":
				heard.Add(1)
			}
		}
	}()
	id := strings.TrimSpace(tp.router.run(t, "nflab", "trace", "add", "--budget", "100000", "udp"))

	// About 3 events a datagram: a few thousand datagrams a second are
	// over the limit.
	c := udpIn(t, "client", "10.0.1.2:41020", "10.0.2.2:7300")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		_, _ = c.Write([]byte("flood"))
	}
	waitFor(t, "the watcher hear of lost events", func() bool { return lost.Load() > 0 })
	l := traceList(t, tp.router)
	if len(l) != 1 || l[0].Lost == 0 {
		t.Fatalf("after the flood: %+v; want the trace with events lost", l)
	}
	tp.router.run(t, "nflab", "trace", "delete", id)
	// What the watcher heard and was told it lost add up to what the
	// module numbered (its END excepted), once the trace has ended.
	waitFor(t, "the trace end", func() bool { return len(traceList(t, tp.router)) == 0 })
	want := int64(l[0].Events + l[0].Lost)
	waitFor(t, fmt.Sprintf("the watcher account for the %d events the module had numbered when listed", want),
		func() bool { return heard.Load()+lost.Load() >= want })
}
