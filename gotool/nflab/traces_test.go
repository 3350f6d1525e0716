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
		case rep.Lost != nil && rep.Lost.EndMissing:
			s = append(s, "endmissing"+itoa(rep.Lost.Trace))
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

// TestWatchTracesEndedBefore: a trace that ended before the watch began
// (no longer listed) may still send events until its END; they are not
// lost events. One older than the highest listed counts from its first
// event heard; with no trace listed, one heard of within NFLAB_TRACE_IDLE
// and a few seconds does.
func TestWatchTracesEndedBefore(t *testing.T) {
	defer nflab.SetTraceTiming(300*time.Millisecond, 200*time.Millisecond)()
	m, c := dial(t, fakemod.Options{})
	m.HoldTraceEnds(true)
	ended := m.StartTrace(nftypes.TraceSpec{})
	m.EmitTrace(hookEv(ended.ID, 1, nftypes.PreRouting)) // nobody listens: lost
	listed := m.StartTrace(nftypes.TraceSpec{})
	m.EmitTrace(hookEv(listed.ID, 2, nftypes.PreRouting))
	m.EndTrace(ended.ID) // its packet still in flight

	ctx, cancel := context.WithCancel(bg)
	var r reports
	errc := make(chan error, 1)
	go func() { errc <- c.WatchTraces(ctx, nil, r.add) }()
	waitFor(t, func() bool { return m.Requests(nlproto.CMD_TRACE_GET) == 1 })
	m.EmitTrace(hookEv(ended.ID, 1, nftypes.LocalIn)) // seq 2
	e := hookEv(ended.ID, 1, nftypes.Forward)
	e.Seq = 4 // 3 lost
	m.EmitTrace(e)
	m.FlushTraceEnds(false) // seq 5
	e = hookEv(listed.ID, 2, nftypes.LocalIn)
	e.Seq = 3 // 2 lost
	m.EmitTrace(e)
	nw := m.StartTrace(nftypes.TraceSpec{})
	e = hookEv(nw.ID, 3, nftypes.PreRouting)
	e.Seq = 2 // a new trace's first lost
	m.EmitTrace(e)
	waitFor(t, func() bool { return r.len() == 8 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := []string{
		"e1/2hook", "lost1:1@3-3", "e1/4hook", "e1/5end",
		"lost2:1@2-2", "e2/3hook",
		"lost3:1@1-1", "e3/2hook",
	}
	if diff := cmp.Diff(want, r.summary()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}

	// No trace listed: a trace first heard of within the window is older
	// than the watch, one after it is new.
	m, c = dial(t, fakemod.Options{})
	m.HoldTraceEnds(true)
	ended = m.StartTrace(nftypes.TraceSpec{})
	m.EmitTrace(hookEv(ended.ID, 1, nftypes.PreRouting))
	m.EndTrace(ended.ID)
	ctx, cancel = context.WithCancel(bg)
	r = reports{}
	go func() { errc <- c.WatchTraces(ctx, nil, r.add) }()
	waitFor(t, func() bool { return m.Requests(nlproto.CMD_TRACE_GET) == 1 })
	m.EmitTrace(hookEv(ended.ID, 1, nftypes.LocalIn)) // seq 2
	waitFor(t, func() bool { return r.len() == 1 })
	time.Sleep(600 * time.Millisecond) // past the window
	nw = m.StartTrace(nftypes.TraceSpec{})
	e = hookEv(nw.ID, 3, nftypes.PreRouting)
	e.Seq = 2
	m.EmitTrace(e)
	waitFor(t, func() bool { return r.len() == 3 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"e1/2hook", "lost2:1@1-1", "e2/2hook"}, r.summary()); diff != "" {
		t.Errorf("empty baseline: reports (-want +got):\n%s", diff)
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
	// ... and its trace goes all the same: its requests have a socket of
	// their own, which Close leaves.
	if len(m.Traces()) != 0 {
		t.Errorf("traces left after Close: %+v", m.Traces())
	}
	waitFor(t, func() bool { return m.Sockets() == 0 })
}

// TestFollowTraceCancelledWhileStarting: a follower whose context ends
// while its trace's start is in flight learns the trace's ID all the
// same, and deletes it.
func TestFollowTraceCancelledWhileStarting(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	m.DelayReplies(nlproto.CMD_TRACE_NEW, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	startedc := make(chan bool, 1)
	go func() {
		errc <- c.FollowTrace(ctx, sshSpec, nil, func(nftypes.Trace) error { startedc <- true; return nil },
			func(nftypes.TraceReport) error { return nil })
	}()
	waitFor(t, func() bool { return len(m.Traces()) == 1 }) // started; its reply on the way
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("FollowTrace cancelled = %v, want nil", err)
	}
	if len(m.Traces()) != 0 || m.Requests(nlproto.CMD_TRACE_DEL) != 1 {
		t.Errorf("traces left %+v, %d deletions; want the trace deleted", m.Traces(), m.Requests(nlproto.CMD_TRACE_DEL))
	}
	select {
	case <-startedc:
		t.Error("started was called after ctx was done")
	default:
	}
}

// TestFollowTraceEndLost: a follower whose trace's END never comes still
// ends, once the trace is no longer listed and its END is overdue, after
// an overrun, past the trace's timeout, or once its budget may have been
// used; it says so with an EndMissing loss.
func TestFollowTraceEndLost(t *testing.T) {
	defer nflab.SetTraceTiming(20*time.Millisecond, 30*time.Millisecond)()
	for _, tt := range []struct {
		name string
		spec nftypes.TraceSpec
		// lose ends the trace id, and loses its END.
		lose func(m *fakemod.Module, id uint32)
		want []string
	}{
		{"an overrun", nftypes.TraceSpec{}, func(m *fakemod.Module, id uint32) {
			m.EmitTrace(hookEv(id, 1, nftypes.PreRouting))
			m.EndTrace(id)
			m.EmitTrace(hookEv(id, 1, nftypes.LocalIn)) // in flight: still listened to
			m.FlushTraceEnds(true)
			m.OverrunTraces()
		}, []string{"e1/1hook", "e1/2hook", "overrun", "endmissing1"}},
		{"the timeout", nftypes.TraceSpec{Timeout: time.Second}, func(m *fakemod.Module, id uint32) {
			m.EndTrace(id)
			m.FlushTraceEnds(true)
		}, []string{"endmissing1"}},
		{"the budget", nftypes.TraceSpec{Budget: 2}, func(m *fakemod.Module, id uint32) {
			m.EmitTrace(hookEv(id, 1, nftypes.LocalOut))
			m.EmitTrace(hookEv(id, 2, nftypes.PreRouting)) // the last: the trace ends
			m.FlushTraceEnds(true)
		}, []string{"e1/1hook", "e1/2hook", "endmissing1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, c := dial(t, fakemod.Options{})
			m.HoldTraceEnds(true)
			var r reports
			errc := make(chan error, 1)
			go func() { errc <- c.FollowTrace(bg, tt.spec, nil, nil, r.add) }()
			waitFor(t, func() bool { return len(m.Traces()) == 1 })
			tt.lose(m, m.Traces()[0].ID)
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("FollowTrace = %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("FollowTrace still runs, its trace gone")
			}
			if diff := cmp.Diff(tt.want, r.summary()); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
			if n := m.Requests(nlproto.CMD_TRACE_DEL); n != 0 {
				t.Errorf("%d deletions of a trace gone", n)
			}
		})
	}

	// A reader held up in fn may have its END still to read: the check
	// waits for it.
	t.Run("a reader held up", func(t *testing.T) {
		defer nflab.SetTraceTiming(20*time.Millisecond, 300*time.Millisecond)()
		m, c := dial(t, fakemod.Options{})
		m.HoldTraceEnds(true)
		var r reports
		release := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			errc <- c.FollowTrace(bg, nftypes.TraceSpec{Timeout: time.Second}, nil, nil, func(rep nftypes.TraceReport) error {
				if rep.Lost == nil && rep.Event.Seq == 1 {
					<-release
				}
				return r.add(rep)
			})
		}()
		waitFor(t, func() bool { return len(m.Traces()) == 1 })
		id := m.Traces()[0].ID
		m.EmitTrace(hookEv(id, 1, nftypes.PreRouting))
		m.EndTrace(id)
		m.FlushTraceEnds(false)     // its END waits behind the reader
		time.Sleep(2 * time.Second) // past the timeout's check
		close(release)
		if err := <-errc; err != nil {
			t.Errorf("FollowTrace = %v, want nil", err)
		}
		if diff := cmp.Diff([]string{"e1/1hook", "e1/2end"}, r.summary()); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})

	// A trace still listed is followed on, overruns or not; the checks
	// are dumps of their own, a few of them.
	m, c := dial(t, fakemod.Options{})
	ctx, cancel := context.WithCancel(bg)
	var r reports
	errc := make(chan error, 1)
	go func() { errc <- c.FollowTrace(ctx, nftypes.TraceSpec{Budget: 100}, nil, nil, r.add) }()
	waitFor(t, func() bool { return len(m.Traces()) == 1 })
	id := m.Traces()[0].ID
	for range 3 {
		m.OverrunTraces()
	}
	m.EmitTrace(hookEv(id, 1, nftypes.PreRouting))
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("FollowTrace = %v", err)
	}
	if diff := cmp.Diff([]string{"overrun", "overrun", "overrun", "e1/1hook"}, r.summary()); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if n := m.Requests(nlproto.CMD_TRACE_GET); n < 1 || n > 3 {
		t.Errorf("%d dumps for 3 overruns; want 1 to 3", n)
	}
}
