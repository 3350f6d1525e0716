//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

const (
	synLine  = "tcp  10.0.1.2:40001        -> 10.0.2.2:81           SYN_SENT          -\n"
	tcpLine  = "tcp  10.0.1.2:40000        -> 10.0.2.2:80           ESTABLISHED       SEEN_REPLY,ASSURED,CONFIRMED\n"
	udpLine  = "udp  10.0.1.2:5000         -> 10.0.2.2:9999         -                 SEEN_REPLY,ASSURED,CONFIRMED\n"
	icmpLine = "icmp 10.0.1.2              -> 10.0.2.2              id=4660 type=8    CONFIRMED\n"

	lostMsg = "nflab: lost events (receive buffer overrun); resynchronising\n"
)

// syncBuffer is a buffer the watch writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// watch runs "nflab ARGS" (ct events, trace) against h's module: once the watch
// listens, it runs script (which emits events), waits until done says
// the output is complete or the command ends, then interrupts the
// command as SIGINT would.
func (h *harness) watch(script func(), done func(stdout, stderr string) bool, args ...string) result {
	h.t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exit := make(chan int, 1)
	go func() { exit <- h.app(&stdout, &stderr).run(ctx, args) }()

	deadline := time.Now().Add(10 * time.Second)
	wait := func(what string, cond func() bool) (ended bool) {
		for !cond() {
			select {
			case code := <-exit:
				exit <- code
				return true
			case <-time.After(time.Millisecond):
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("nflab %q: no %s within 10s; stdout %q, stderr %q", args, what, stdout.String(), stderr.String())
			}
		}
		return false
	}
	if !wait("listener", func() bool { return h.m.Watchers() > 0 }) {
		script()
		wait("output", func() bool { return done(stdout.String(), stderr.String()) })
	}
	cancel()
	code := <-exit
	return result{code, stdout.String(), stderr.String()}
}

// emitAll sends a new, an update, a loss, a destroy and a new.
func (h *harness) emitAll() {
	h.m.Emit(nftypes.EventNew, synConn)
	h.m.Emit(nftypes.EventUpdate, tcpConn)
	h.m.Overrun()
	h.m.Emit(nftypes.EventDestroy, udpConn)
	h.m.Emit(nftypes.EventNew, icmpConn)
}

func TestCTEvents(t *testing.T) {
	tests := []struct {
		args           []string
		stdout, stderr string
	}{
		{
			[]string{"ct", "events"},
			"[NEW]     " + synLine +
				"[UPDATE]  " + tcpLine +
				"[SYNC]    " + udpLine +
				"[SYNC]    " + tcpLine +
				"[SYNC]    " + icmpLine +
				"[SYNC]    " + synLine +
				"[DESTROY] " + udpLine +
				"[NEW]     " + icmpLine,
			lostMsg + "nflab: resynchronised, 4 entries\n",
		},
		{
			[]string{"ct", "events", "-o", "json"},
			`{"type":"new","entry":` + synJSON + "}\n" +
				`{"type":"update","entry":` + tcpJSON + "}\n" +
				`{"type":"lost"}` + "\n" +
				`{"type":"sync","entry":` + udpJSON + "}\n" +
				`{"type":"sync","entry":` + tcpJSON + "}\n" +
				`{"type":"sync","entry":` + icmpJSON + "}\n" +
				`{"type":"sync","entry":` + synJSON + "}\n" +
				`{"type":"synced"}` + "\n" +
				`{"type":"destroy","entry":` + udpJSON + "}\n" +
				`{"type":"new","entry":` + icmpJSON + "}\n",
			"",
		},
	}
	for _, tt := range tests {
		h := ctHarness(t)
		got := h.watch(h.emitAll, func(stdout, _ string) bool { return stdout == tt.stdout }, tt.args...)
		if diff := cmp.Diff(result{0, tt.stdout, tt.stderr}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff([]string{"WatchConns", "Conns", "Close"}, h.rec.Calls()); diff != "" || h.m.Sockets() != 0 {
			t.Errorf("nflab %q: %d sockets left open; calls (-want +got):\n%s", tt.args, h.m.Sockets(), diff)
		}
	}
}

// TestCTEventsFilter checks that the filter selects events by their entry
// and goes with the listing that resynchronises.
func TestCTEventsFilter(t *testing.T) {
	tests := []struct {
		args []string
		want string // the events that pass, in table form, without [SYNC]
		last bool   // whether the last event passes too
	}{
		{[]string{"-p", "tcp"}, "[NEW]     " + synLine + "[UPDATE]  " + tcpLine, true},
		{[]string{"-p", "6", "--dport", "80"}, "[UPDATE]  " + tcpLine, true},
		{[]string{"--state", "SYN_SENT"}, "[NEW]     " + synLine, true},
		{[]string{"--status", "ASSURED"}, "[UPDATE]  " + tcpLine + "[DESTROY] " + udpLine, true},
		{[]string{"-s", "10.0.0.0/16", "-d", "10.0.2.2"}, "[NEW]     " + synLine + "[UPDATE]  " + tcpLine + "[DESTROY] " + udpLine + "[NEW]     " + icmpLine, true},
		{[]string{"-s", "10.0.2.2"}, "", false},
		{[]string{"-p", "icmp"}, "[NEW]     " + icmpLine, false},
		{[]string{"--dst-nat"}, "", false},
	}
	// The last event, which the wait looks for.
	last := nftypes.Conn{ID: 9,
		Orig:     nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 1, DstPort: 80},
		Reply:    nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.TCP, SrcPort: 80, DstPort: 1},
		TCPState: nftypes.TCPSynSent, Status: nftypes.StatusAssured}
	lastLine := eventLine("[NEW]", last)
	for _, tt := range tests {
		h := ctHarness(t)
		script := func() {
			h.emitAll()
			h.m.Emit(nftypes.EventNew, last)
		}
		done := func(stdout, stderr string) bool {
			switch {
			case tt.last:
				return strings.HasSuffix(stdout, lastLine)
			case tt.want != "":
				return strings.HasSuffix(stdout, tt.want)
			}
			return strings.Contains(stderr, "resynchronised") // and nothing passes
		}
		got := h.watch(script, done, append([]string{"ct", "events"}, tt.args...)...)
		var lines []string
		for l := range strings.Lines(got.Stdout) {
			if !strings.HasPrefix(l, "[SYNC]") && l != lastLine {
				lines = append(lines, l)
			}
		}
		if got.Code != 0 || strings.Join(lines, "") != tt.want {
			t.Errorf("nflab ct events %q = %+v; want the events\n%s", tt.args, got, tt.want)
		}
		// The listing gets the same filter as ct list would.
		events := h.rec.filter
		list := ctHarness(t)
		list.run(append([]string{"ct", "list"}, tt.args...)...)
		if diff := cmp.Diff(list.rec.filter, events, netipOpts); diff != "" {
			t.Errorf("nflab ct events %q: resync filter (-list +events):\n%s", tt.args, diff)
		}
	}
}

func TestCTEventsFailures(t *testing.T) {
	// Listing the table to resynchronise fails.
	h := ctHarness(t)
	script := func() {
		h.m.Emit(nftypes.EventNew, synConn)
		h.m.Fail(nlproto.CMD_CT_GET, unix.EPERM, "")
		h.m.Overrun()
	}
	got := h.watch(script, func(string, string) bool { return false }, "ct", "events", "-o", "json")
	want := result{1, `{"type":"new","entry":` + synJSON + "}\n" + `{"type":"lost"}` + "\n",
		"nflab: resynchronising after lost events: permission denied; this needs CAP_NET_ADMIN (run as root)\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resync denied (-want +got):\n%s", diff)
	}

	// A table that keeps changing is listed again until it holds still:
	// the watch goes on.
	h = ctHarness(t)
	script = func() {
		h.m.InterruptDumps(30)
		h.m.Overrun()
		h.m.Emit(nftypes.EventNew, icmpConn)
	}
	got = h.watch(script, func(stdout, _ string) bool { return strings.HasSuffix(stdout, "[NEW]     "+icmpLine) }, "ct", "events")
	want = result{0,
		"[SYNC]    " + udpLine + "[SYNC]    " + tcpLine + "[SYNC]    " + icmpLine + "[SYNC]    " + synLine + "[NEW]     " + icmpLine,
		lostMsg + "nflab: the table keeps changing during the listing; trying again\nnflab: resynchronised, 4 entries\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interrupted resync (-want +got):\n%s", diff)
	}
}

// TestCTEventsNATOnProtocol3 checks that a filter on the NAT status bits
// is refused before the watch starts by a module of protocol 3, which has
// no NAT: it would select nothing, and the listing after a loss would
// fail mid-stream.
func TestCTEventsNATOnProtocol3(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--src-nat"}, "status SRC_NAT"},
		{[]string{"--dst-nat", "-o", "json"}, "status DST_NAT"},
		{[]string{"--status", "ASSURED,SRC_NAT", "--dst-nat"}, "status SRC_NAT,DST_NAT"},
	} {
		h := newHarness(t, fakemod.Options{Protocol: 3}, udpConn)
		got := h.watch(h.m.Overrun, func(string, string) bool { return false }, append([]string{"ct", "events"}, tt.args...)...)
		want := result{1, "", "nflab: watching connections: " + tt.want + " needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("nflab ct events %q (-want +got):\n%s", tt.args, diff)
		}
		if calls := h.rec.Calls(); slices.Contains(calls, "WatchConns") || h.m.Requests(nlproto.CMD_CT_GET) != 0 {
			t.Errorf("nflab ct events %q: calls %q, %d dumps; want no watch, no dump", tt.args, calls, h.m.Requests(nlproto.CMD_CT_GET))
		}
	}
	// Filters without those bits still watch.
	h := newHarness(t, fakemod.Options{Protocol: 3})
	got := h.watch(func() { h.m.Emit(nftypes.EventNew, tcpConn) }, func(stdout, _ string) bool { return stdout != "" }, "ct", "events", "--status", "ASSURED")
	if diff := cmp.Diff(result{0, "[NEW]     " + tcpLine, ""}, got); diff != "" {
		t.Errorf("nflab ct events --status ASSURED (-want +got):\n%s", diff)
	}
}

// failWriter fails every write after the first n, with err or a broken
// pipe.
type failWriter struct {
	n   int
	err error
}

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n == 0 {
		if w.err != nil {
			return 0, w.err
		}
		return 0, errors.New("write /dev/stdout: broken pipe")
	}
	w.n--
	return len(b), nil
}

func TestCTEventsWriteFails(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		h := ctHarness(t)
		var stderr syncBuffer
		a := h.app(&failWriter{n: 1}, &stderr)
		exit := make(chan int, 1)
		go func() { exit <- a.run(context.Background(), []string{"ct", "events", "-o", format}) }()
		// Bounds against a hang, not timing goals.
		hang := time.After(time.Minute)
		for h.m.Listeners() == 0 {
			select {
			case code := <-exit:
				t.Fatalf("-o %s: ended with %d before listening: %q", format, code, stderr.String())
			case <-hang:
				t.Fatalf("-o %s: not listening after a minute", format)
			case <-time.After(time.Millisecond):
			}
		}
		h.emitAll()
		var code int
		select {
		case code = <-exit:
		case <-hang:
			t.Fatalf("-o %s: still running a minute after its write failed", format)
		}
		want := "nflab: writing events: write /dev/stdout: broken pipe\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("-o %s: exit %d, stderr %q; want 1, %q", format, code, stderr.String(), want)
		}
	}
}

func TestCTEventsHelp(t *testing.T) {
	for _, want := range []string{"[NEW]     " + "tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -\n", "[DESTROY] " + icmpLine} {
		if !strings.Contains(ctEventsHelp, "           "+want) {
			t.Errorf("help lacks the line %q", want)
		}
	}
	c := tcpConn
	c.Orig.SrcPort, c.TCPState, c.Status = 40000, nftypes.TCPSynSent, 0
	if got, want := eventLine("[NEW]", c), "[NEW]     tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -\n"; got != want {
		t.Errorf("eventLine = %q, want %q", got, want)
	}
	// The widest tuple still lines up.
	wide := nftypes.Conn{Orig: nftypes.Tuple{
		Proto: nftypes.UDP, Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.254"),
		SrcPort: 65535, DstPort: 65534,
	}}
	if got, want := eventLine("[UPDATE]", wide), "[UPDATE]  udp  255.255.255.255:65535 -> 255.255.255.254:65534 -                 -\n"; got != want {
		t.Errorf("eventLine = %q, want %q", got, want)
	}
	for _, args := range [][]string{{"ct", "events", "-p", "icmp", "--sport", "1"}, {"ct", "events", "--icmp-id", "1"}} {
		got := runNoDial(t, args...)
		if got.Code != 2 || !strings.HasSuffix(got.Stderr, "; run 'nflab help ct events'\n") {
			t.Errorf("nflab %q = %+v, want a usage error", args, got)
		}
	}
}
