//go:build linux

package nflab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

var sshSpec = nftypes.TraceSpec{
	Selector: nftypes.TraceSelector{Proto: nftypes.TCP, DstPort: 22, Host: netip.MustParsePrefix("10.0.0.0/8")},
	Budget:   10, Timeout: 30 * time.Second,
}

func TestTraces(t *testing.T) {
	for _, next := range []bool{false, true} {
		t.Run(map[bool]string{false: "N", true: "N+1"}[next], func(t *testing.T) {
			m, c := dial(t, fakemod.Options{Next: next})
			tr, err := c.AddTrace(bg, sshSpec)
			if err != nil {
				t.Fatal(err)
			}
			want := nftypes.Trace{ID: 1, Selector: sshSpec.Selector, Budget: 10, Left: 10, Timeout: 30 * time.Second}
			if tr.Remaining <= 29*time.Second || tr.Remaining > 30*time.Second {
				t.Errorf("Remaining = %v, want about 30s", tr.Remaining)
			}
			tr.Remaining = 0
			if diff := cmp.Diff(want, tr, cmpOpts, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("AddTrace (-want +got):\n%s", diff)
			}
			if _, err := c.AddTrace(bg, nftypes.TraceSpec{}); err != nil {
				t.Fatal(err)
			}
			all, err := c.Traces(bg)
			if err != nil || len(all) != 2 || all[0].ID != 1 || all[1].Budget != nftypes.DefaultTraceBudget {
				t.Errorf("Traces = %+v, %v", all, err)
			}
			if err := c.DeleteTrace(bg, 1); err != nil {
				t.Errorf("DeleteTrace(1) = %v", err)
			}
			if err := c.DeleteTrace(bg, 1); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
				t.Errorf("DeleteTrace of a deleted trace = %v, want ENOENT", err)
			}
			if n, err := c.DeleteTraces(bg); err != nil || n != 1 {
				t.Errorf("DeleteTraces = %d, %v", n, err)
			}
			if len(m.Traces()) != 0 {
				t.Errorf("traces left: %+v", m.Traces())
			}
		})
	}
}

func TestTraceLimits(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	for range nftypes.MaxTraces {
		if _, err := c.AddTrace(bg, nftypes.TraceSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.AddTrace(bg, nftypes.TraceSpec{})
	var oe *nflab.OpError
	if !errors.Is(err, unix.ENOSPC) || !errors.As(err, &oe) || oe.Message == "" {
		t.Errorf("AddTrace beyond the limit = %v, want ENOSPC with the module's words", err)
	}

	// Validation comes first, and sends nothing.
	before := m.Requests(nlproto.CMD_TRACE_NEW) + m.Requests(nlproto.CMD_TRACE_DEL)
	var ve *nftypes.ValidationError
	for _, s := range []nftypes.TraceSpec{
		{Budget: -1}, {Budget: nftypes.MaxTraceBudget + 1}, {Timeout: time.Millisecond}, {Timeout: 25 * time.Hour},
		{Selector: nftypes.TraceSelector{Port: 1}}, {Selector: nftypes.TraceSelector{Src: netip.MustParsePrefix("10.0.0.1/24")}},
	} {
		if _, err := c.AddTrace(bg, s); !errors.As(err, &ve) {
			t.Errorf("AddTrace(%+v) = %v, want a *ValidationError", s, err)
		}
		if err := c.FollowTrace(bg, s, nil, nil, nil); !errors.As(err, &ve) {
			t.Errorf("FollowTrace(%+v) = %v, want a *ValidationError", s, err)
		}
	}
	if err := c.DeleteTrace(bg, 0); !errors.As(err, &ve) {
		t.Errorf("DeleteTrace(0) = %v, want a *ValidationError", err)
	}
	if err := c.WatchTraces(bg, &nflab.WatchOptions{ReadBuffer: -1}, nil); !errors.As(err, &ve) {
		t.Errorf("WatchTraces(-1) = %v, want a *ValidationError", err)
	}
	if n := m.Requests(nlproto.CMD_TRACE_NEW) + m.Requests(nlproto.CMD_TRACE_DEL) - before; n != 0 {
		t.Errorf("%d invalid requests sent", n)
	}
}

// TestTracesOldModule: a module of protocol 5 has no traces, and every
// trace method says so before sending anything.
func TestTracesOldModule(t *testing.T) {
	m, c := dial(t, fakemod.Options{Protocol: 5})
	calls := map[string]func() error{
		"add trace":    func() error { _, err := c.AddTrace(bg, sshSpec); return err },
		"dump traces":  func() error { _, err := c.Traces(bg); return err },
		"delete trace": func() error { return c.DeleteTrace(bg, 1) },
		"delete traces": func() error {
			_, err := c.DeleteTraces(bg)
			return err
		},
		"watch traces": func() error { return c.WatchTraces(bg, nil, nil) },
		"follow trace": func() error { return c.FollowTrace(bg, sshSpec, nil, nil, nil) },
	}
	for op, call := range calls {
		err := call()
		var oe *nflab.OpError
		want := "nflab: " + op + ": the module does not support this operation: the loaded module is too old for packet traces: they need protocol 6, it speaks protocol 5"
		if !errors.Is(err, errors.ErrUnsupported) || !errors.As(err, &oe) || err.Error() != want {
			t.Errorf("%s = %v\nwant %s", op, err, want)
		}
	}
	for _, cmd := range []uint8{nlproto.CMD_TRACE_NEW, nlproto.CMD_TRACE_DEL, nlproto.CMD_TRACE_GET} {
		if n := m.Requests(cmd); n != 0 {
			t.Errorf("%d requests of command %d sent", n, cmd)
		}
	}
	if m.TraceListeners() != 0 {
		t.Error("a watch joined")
	}
	stats, err := c.HookStats(bg)
	if err != nil || stats[1].Drops != nil {
		t.Errorf("HookStats = %+v, %v; want no drops from protocol 5", stats, err)
	}
}

func TestHookStatsDrops(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	m.SetHookDrops(nftypes.Forward, nftypes.HookDrops{Rule: 7, Invalid: 2, Full: 1, NAT: 3, UnseenAfter: 4})
	stats, err := c.HookStats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&nftypes.HookDrops{Rule: 7, Invalid: 2, Full: 1, NAT: 3, UnseenAfter: 4}, stats[2].Drops); diff != "" {
		t.Errorf("FORWARD drops (-want +got):\n%s", diff)
	}
	if err := c.ResetHookStats(bg); err != nil {
		t.Fatal(err)
	}
	if stats, err := c.HookStats(bg); err != nil || *stats[2].Drops != (nftypes.HookDrops{}) {
		t.Errorf("drops after a reset = %+v, %v", stats[2].Drops, err)
	}
}

// reports collects what a watch passes to its callback.
type reports struct {
	mu  sync.Mutex
	got []nftypes.TraceReport
}

func (r *reports) add(rep nftypes.TraceReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, rep)
	return nil
}

func (r *reports) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// summary is each report in short: "e<trace>/<seq>" for an event,
// "lost<trace>:<n>" for a gap, "overrun" for an overrun.
func (r *reports) summary() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, rep := range r.got {
		switch {
		case rep.Lost != nil && rep.Lost.Overrun():
			s = append(s, "overrun")
		case rep.Lost != nil:
			s = append(s, "lost"+itoa(rep.Lost.Trace)+":"+itoa(rep.Lost.Events)+"@"+itoa(rep.Lost.FirstSeq)+"-"+itoa(rep.Lost.LastSeq))
		default:
			s = append(s, "e"+itoa(rep.Event.Trace)+"/"+itoa(rep.Event.Seq)+rep.Event.Kind.String())
		}
	}
	return s
}

func itoa[T ~uint32 | ~uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

func hookEv(trace uint32, packet uint64, h nftypes.Hook) nftypes.TraceEvent {
	return nftypes.TraceEvent{Trace: trace, Packet: packet, Kind: nftypes.TraceHook, Hook: h, Verdict: nftypes.TraceAccept,
		Tuple: nftypes.Tuple{Src: netip.MustParseAddr("10.0.1.2"), Dst: netip.MustParseAddr("10.0.2.2"), Proto: nftypes.UDP, SrcPort: 5000, DstPort: 53}}
}

// TestWatchTraces checks that every loss is reported: overruns, and gaps
// in a trace's Seq, counted from where a trace running before the watch
// was when the watch began.
func TestWatchTraces(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	old, err := c.AddTrace(bg, nftypes.TraceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	// Sent before the watch: not lost to it.
	m.EmitTrace(hookEv(old.ID, 1, nftypes.PreRouting))
	m.EmitTrace(hookEv(old.ID, 1, nftypes.LocalIn))

	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var r reports
	errc := make(chan error, 1)
	go func() { errc <- c.WatchTraces(ctx, nil, r.add) }()
	waitFor(t, func() bool { return m.TraceListeners() == 1 })
	waitFor(t, func() bool { return m.Requests(nlproto.CMD_TRACE_GET) == 1 }) // the watch read where traces are

	m.EmitTrace(hookEv(old.ID, 2, nftypes.PreRouting)) // seq 3
	nw, err := c.AddTrace(bg, nftypes.TraceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	ev := hookEv(nw.ID, 3, nftypes.PreRouting)
	ev.Seq = 2 // the new trace's first event was lost
	m.EmitTrace(ev)
	ev = hookEv(old.ID, 2, nftypes.LocalIn)
	ev.Seq = 7 // 4, 5 and 6 lost: over the rate limit
	m.EmitTrace(ev)
	m.OverrunTraces()
	m.EmitTrace(hookEv(nw.ID, 3, nftypes.LocalIn)) // seq 3
	m.EndTrace(old.ID)                             // seq 8
	waitFor(t, func() bool { return r.len() == 8 })
	want := []string{
		"e1/3hook",
		"lost2:1@1-1", "e2/2hook",
		"lost1:3@4-6", "e1/7hook",
		"overrun",
		"e2/3hook",
		"e1/8end",
	}
	if diff := cmp.Diff(want, r.summary()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if got := m.Traces(); len(got) != 1 || got[0].Lost != 1 {
		t.Errorf("module's traces = %+v; want the new one, which lost 1", got)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("WatchTraces after cancel = %v, want nil", err)
	}
}

// TestFollowTrace checks that a follower starts its trace once it
// listens, sees that trace's events only, and returns at its end.
func TestFollowTrace(t *testing.T) {
	m, c := dial(t, fakemod.Options{Next: true})
	other, err := c.AddTrace(bg, nftypes.TraceSpec{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		r       reports
		started nftypes.Trace
	)
	errc := make(chan error, 1)
	go func() {
		errc <- c.FollowTrace(bg, sshSpec, &nflab.WatchOptions{ReadBuffer: 4096}, func(tr nftypes.Trace) error {
			if m.TraceListeners() != 1 {
				t.Error("the trace started before its follower listened")
			}
			started = tr
			return nil
		}, r.add)
	}()
	waitFor(t, func() bool { return len(m.Traces()) == 2 })
	id := m.Traces()[1].ID
	m.EmitTrace(hookEv(other.ID, 1, nftypes.PreRouting))
	m.EmitTrace(hookEv(id, 2, nftypes.PreRouting))
	m.EmitTrace(hookEv(other.ID, 1, nftypes.LocalIn))
	m.EmitTrace(hookEv(id, 2, nftypes.Forward))
	m.EndTrace(id) // its budget used
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("FollowTrace = %v, want nil at the trace's end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("FollowTrace did not return at its trace's end")
	}
	if started.ID != id || started.Budget != sshSpec.Budget {
		t.Errorf("started with %+v", started)
	}
	want := []string{"e2/1hook", "e2/2hook", "e2/3end"}
	if diff := cmp.Diff(want, r.summary()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if n := m.Requests(nlproto.CMD_TRACE_DEL); n != 0 {
		t.Errorf("%d deletions of an ended trace", n)
	}
	waitFor(t, func() bool { return m.Sockets() == 1 })
}

// TestFollowTraceStops checks that a follower that stops early, by its
// context or its callback, deletes its trace.
func TestFollowTraceStops(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() {
		errc <- c.FollowTrace(ctx, sshSpec, nil, nil, func(nftypes.TraceReport) error { return nil })
	}()
	waitFor(t, func() bool { return len(m.Traces()) == 1 })
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("FollowTrace after cancel = %v, want nil", err)
	}
	if len(m.Traces()) != 0 || m.Requests(nlproto.CMD_TRACE_DEL) != 1 {
		t.Errorf("traces left %+v, %d deletions", m.Traces(), m.Requests(nlproto.CMD_TRACE_DEL))
	}

	stop := errors.New("stop")
	go func() {
		errc <- c.FollowTrace(bg, sshSpec, nil, nil, func(nftypes.TraceReport) error { return stop })
	}()
	waitFor(t, func() bool { return len(m.Traces()) == 1 })
	m.EmitTrace(hookEv(m.Traces()[0].ID, 1, nftypes.PreRouting))
	if err := <-errc; err != stop {
		t.Errorf("FollowTrace = %v, want fn's error", err)
	}
	if len(m.Traces()) != 0 {
		t.Errorf("traces left %+v", m.Traces())
	}

	// started's error ends it too, and the trace goes.
	if err := c.FollowTrace(bg, sshSpec, nil, func(nftypes.Trace) error { return stop }, nil); err != stop {
		t.Errorf("FollowTrace = %v, want started's error", err)
	}
	if len(m.Traces()) != 0 {
		t.Errorf("traces left %+v", m.Traces())
	}

	// Without CAP_NET_ADMIN, nothing starts.
	m2, c2 := dial(t, fakemod.Options{Unprivileged: true})
	if err := c2.FollowTrace(bg, sshSpec, nil, nil, nil); !errors.Is(err, os.ErrPermission) {
		t.Errorf("FollowTrace unprivileged = %v, want EPERM", err)
	}
	if len(m2.Traces()) != 0 {
		t.Errorf("traces left %+v", m2.Traces())
	}
	// Close ends a follower with net.ErrClosed.
	go func() {
		errc <- c.FollowTrace(bg, sshSpec, nil, nil, func(nftypes.TraceReport) error { return nil })
	}()
	waitFor(t, func() bool { return len(m.Traces()) == 1 })
	c.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("FollowTrace after Close = %v, want net.ErrClosed", err)
	}
}
