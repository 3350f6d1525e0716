//go:build linux

package nflab_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
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

var (
	bg      = context.Background()
	cmpOpts = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
)

func dial(t *testing.T, opts fakemod.Options) (*fakemod.Module, *nflab.Client) {
	t.Helper()
	m := fakemod.New(opts)
	m.Install(t)
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return m, c
}

func tcpConn(sport uint16) nftypes.Conn {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	return nftypes.Conn{
		Orig:     nftypes.Tuple{Src: a, Dst: b, Proto: nftypes.TCP, SrcPort: sport, DstPort: 80},
		Reply:    nftypes.Tuple{Src: b, Dst: a, Proto: nftypes.TCP, SrcPort: 80, DstPort: sport},
		Status:   nftypes.StatusConfirmed | nftypes.StatusSeenReply,
		TCPState: nftypes.TCPEstablished,
		Timeout:  300 * time.Second,
		Start:    time.Unix(1700000000, 5).UTC(),
	}
}

// TestFakeModule runs every method against the fake module, speaking this
// client's protocol and the next one.
func TestFakeModule(t *testing.T) {
	for _, next := range []bool{false, true} {
		t.Run(map[bool]string{false: "N", true: "N+1"}[next], func(t *testing.T) {
			m, c := dial(t, fakemod.Options{Next: next})
			v, err := c.Version(bg)
			if err != nil {
				t.Fatal(err)
			}
			want := nftypes.Version{Module: fakemod.Version, Protocol: nlproto.PROTO_VERSION, Compat: nlproto.PROTO_COMPAT}
			if next {
				want.Protocol++
			}
			if v != want {
				t.Errorf("Version = %+v, want %+v", v, want)
			}
			stats, err := c.HookStats(bg)
			if err != nil || len(stats) != 5 || stats[4].Hook != nftypes.PostRouting {
				t.Errorf("HookStats = %+v, %v", stats, err)
			}
			if err := c.ResetHookStats(bg); err != nil {
				t.Errorf("ResetHookStats: %v", err)
			}
			base := len(m.Conns())
			c1 := m.AddConn(tcpConn(1000))
			m.AddConn(tcpConn(1001))
			got, err := c.Conn(bg, c1.Reply)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c1, got, cmpOpts); diff != "" {
				t.Errorf("Conn (-want +got):\n%s", diff)
			}
			all, err := c.Conns(bg, nftypes.ConnFilter{})
			if err != nil || len(all) != base+2 {
				t.Fatalf("Conns = %d entries, %v", len(all), err)
			}
			if next {
				if diff := cmp.Diff(fakemod.NextConn, all[0], cmpOpts); diff != "" {
					t.Errorf("N+1 entry (-want +got):\n%s", diff)
				}
			}
			st := nftypes.TCPEstablished
			sel, err := c.Conns(bg, nftypes.ConnFilter{SrcPort: 1001, Proto: nftypes.TCP, TCPState: &st})
			if err != nil || len(sel) != 1 || sel[0].Orig.SrcPort != 1001 {
				t.Errorf("Conns(filter) = %+v, %v", sel, err)
			}
			if n, limit, err := c.ConnCount(bg); err != nil || n != base+2 || limit != 65536 {
				t.Errorf("ConnCount = %d, %d, %v", n, limit, err)
			}
			if _, err := c.TrackerStats(bg); err != nil {
				t.Errorf("TrackerStats: %v", err)
			}
			cfg, err := c.TrackerConfig(bg)
			if err != nil || *cfg.Limit != 65536 || cfg.Timeouts[nftypes.TimeoutTCPEstablished] != 5*24*time.Hour || len(cfg.Timeouts) != 13 {
				t.Errorf("TrackerConfig = %+v, %v", cfg, err)
			}
			limit := uint32(100)
			if err := c.SetTrackerConfig(bg, nftypes.TrackerConfig{Limit: &limit, Timeouts: map[nftypes.Timeout]time.Duration{nftypes.TimeoutICMP: time.Minute}}); err != nil {
				t.Errorf("SetTrackerConfig: %v", err)
			}
			if got := m.Config(); *got.Limit != 100 || got.Timeouts[nftypes.TimeoutICMP] != time.Minute {
				t.Errorf("config after set = %+v", got)
			}
			if err := c.DeleteConn(bg, c1.Orig); err != nil {
				t.Errorf("DeleteConn: %v", err)
			}
			err = c.DeleteConn(bg, c1.Orig)
			if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, unix.ENOENT) {
				t.Errorf("DeleteConn of a deleted entry = %v, want ENOENT", err)
			}
			if _, err := c.Conn(bg, c1.Orig); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Conn of a deleted entry = %v, want ENOENT", err)
			}
			if n, err := c.DeleteConns(bg, nftypes.ConnFilter{Proto: nftypes.TCP, DstPort: 80, Dst: netip.MustParsePrefix("10.0.0.2/32")}); err != nil || n != 1 {
				t.Errorf("DeleteConns(filter) = %d, %v", n, err)
			}
			if n, err := c.DeleteConns(bg, nftypes.ConnFilter{}); err != nil || n != base {
				t.Errorf("DeleteConns(all) = %d, %v; want %d", n, err, base)
			}
			if m.Requests(nlproto.CMD_CT_FLUSH) != 1 || m.Requests(nlproto.CMD_CT_DELETE) != 3 {
				t.Errorf("flush %d, delete %d requests; want 1, 3", m.Requests(nlproto.CMD_CT_FLUSH), m.Requests(nlproto.CMD_CT_DELETE))
			}
			if n, err := c.RunGC(bg); err != nil || n != 0 {
				t.Errorf("RunGC = %d, %v", n, err)
			}
		})
	}
}

func TestDialCompatibility(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts fakemod.Options
		ok   bool
	}{
		{"same", fakemod.Options{}, true},
		{"next", fakemod.Options{Next: true}, true},
		{"no compat attribute", fakemod.Options{NoCompat: true}, true},
		{"old module without compat attribute", fakemod.Options{NoCompat: true, Protocol: nlproto.PROTO_COMPAT}, true},
		{"module no longer serves us", fakemod.Options{Protocol: nlproto.PROTO_VERSION + 3, Compat: nlproto.PROTO_VERSION + 1}, false},
		{"new module without compat attribute", fakemod.Options{NoCompat: true, Protocol: nlproto.PROTO_VERSION + 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fakemod.New(tt.opts).Install(t)
			c, err := nflab.Dial(nil)
			var pe *nflab.ProtocolError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("Dial: %v", err)
			case !tt.ok && !errors.As(err, &pe):
				t.Fatalf("Dial = %v, want a *ProtocolError", err)
			}
			if c != nil {
				c.Close()
			}
		})
	}
}

func TestNotLoaded(t *testing.T) {
	m := fakemod.New(fakemod.Options{})
	m.Unload()
	m.Install(t)
	if _, err := nflab.Dial(nil); !errors.Is(err, nflab.ErrNotLoaded) {
		t.Fatalf("Dial = %v, want ErrNotLoaded", err)
	}
	if got := nflab.ErrNotLoaded.Error(); got != "nflab: kernel module not loaded" {
		t.Errorf("ErrNotLoaded = %q", got)
	}
}

func TestUnsupportedCommand(t *testing.T) {
	m, c := dial(t, fakemod.Options{Missing: []uint8{nlproto.CMD_CT_GC}})
	_, err := c.RunGC(bg)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("RunGC = %v, want ErrUnsupported", err)
	}
	if n := m.Requests(nlproto.CMD_CT_GC); n != 0 {
		t.Errorf("%d GC requests sent, want none", n)
	}
}

func TestErrors(t *testing.T) {
	m, c := dial(t, fakemod.Options{Unprivileged: true})
	err := c.ResetHookStats(bg)
	var oe *nflab.OpError
	if !errors.Is(err, os.ErrPermission) || !errors.Is(err, unix.EPERM) || !errors.As(err, &oe) {
		t.Errorf("ResetHookStats = %v, want an *OpError with EPERM", err)
	}
	m.Fail(nlproto.CMD_CT_COUNT, unix.EINVAL, "the reason")
	_, _, err = c.ConnCount(bg)
	if !errors.As(err, &oe) || oe.Message != "the reason" || oe.Err != unix.EINVAL {
		t.Errorf("ConnCount = %#v, want EINVAL with the extended ACK", err)
	}
	m.Fail(nlproto.CMD_CT_COUNT, 0, "")

	// Validation comes first, and sends nothing.
	var ve *nftypes.ValidationError
	if _, err := c.Conns(bg, nftypes.ConnFilter{SrcPort: 1}); !errors.As(err, &ve) {
		t.Errorf("Conns(bad filter) = %v, want a *ValidationError", err)
	}
	if err := c.DeleteConn(bg, nftypes.Tuple{}); !errors.As(err, &ve) {
		t.Errorf("DeleteConn(zero tuple) = %v, want a *ValidationError", err)
	}
	if err := c.SetTrackerConfig(bg, nftypes.TrackerConfig{}); !errors.As(err, &ve) {
		t.Errorf("SetTrackerConfig(nothing) = %v, want a *ValidationError", err)
	}
	if err := c.WatchConns(bg, &nflab.WatchOptions{ReadBuffer: -1}, nil); !errors.As(err, &ve) {
		t.Errorf("WatchConns(-1) = %v, want a *ValidationError", err)
	}
	if n := m.Requests(nlproto.CMD_CT_GET) + m.Requests(nlproto.CMD_CT_DELETE) + m.Requests(nlproto.CMD_CT_SET_CONFIG); n != 0 {
		t.Errorf("%d invalid requests sent", n)
	}
}

func TestDumpInterrupted(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	m.AddConn(tcpConn(1))
	m.InterruptDumps(2)
	if got, err := c.Conns(bg, nftypes.ConnFilter{}); err != nil || len(got) != 1 {
		t.Errorf("Conns after 2 interrupted dumps = %d, %v", len(got), err)
	}
	m.InterruptDumps(1000)
	if _, err := c.Conns(bg, nftypes.ConnFilter{}); !errors.Is(err, nflab.ErrDumpInterrupted) {
		t.Errorf("Conns = %v, want ErrDumpInterrupted", err)
	}
}

// TestCancel checks that a context ends a request the module does not
// answer, and that the client then works on a fresh socket.
func TestCancel(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	m.Stall(nlproto.CMD_CT_GET, true)
	cctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	_, err := c.Conns(cctx, nftypes.ConnFilter{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Conns = %v, want DeadlineExceeded", err)
	}
	m.Stall(nlproto.CMD_CT_GET, false)
	m.AddConn(tcpConn(7))
	if got, err := c.Conns(bg, nftypes.ConnFilter{}); err != nil || len(got) != 1 {
		t.Errorf("Conns after a cancelled one = %d, %v", len(got), err)
	}
	if n := m.Sockets(); n != 1 {
		t.Errorf("%d sockets open, want 1 (the cancelled one discarded)", n)
	}
	done, cancel2 := context.WithCancel(bg)
	cancel2()
	if _, err := c.Version(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Version(cancelled) = %v", err)
	}
}

func TestWatch(t *testing.T) {
	m, c := dial(t, fakemod.Options{Next: true})
	wctx, cancel := context.WithCancel(bg)
	events := make(chan nftypes.ConnEvent, 10)
	errc := make(chan error, 1)
	go func() {
		errc <- c.WatchConns(wctx, nil, func(ev nftypes.ConnEvent) error {
			events <- ev
			return nil
		})
	}()
	waitFor(t, func() bool { return m.Listeners() == 1 })
	added := m.AddConn(tcpConn(5))
	m.Overrun()
	if _, err := c.DeleteConns(bg, nftypes.ConnFilter{}); err != nil {
		t.Fatal(err)
	}
	var got []nftypes.ConnEventType
	for len(got) < 4 {
		select {
		case ev := <-events:
			got = append(got, ev.Type)
			if ev.Type == nftypes.EventNew && ev.Conn.ID != added.ID {
				t.Errorf("new event for %d, want %d", ev.Conn.ID, added.ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far %v", got)
		}
	}
	want := []nftypes.ConnEventType{nftypes.EventNew, nftypes.EventLost, nftypes.EventDestroy, nftypes.EventDestroy}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("WatchConns after cancel = %v, want nil", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

// TestCloseEndsWatches checks that Close is idempotent and ends watches
// with net.ErrClosed.
func TestCloseEndsWatches(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	errc := make(chan error, 3)
	for range 3 {
		go func() { errc <- c.WatchConns(bg, nil, func(nftypes.ConnEvent) error { return nil }) }()
	}
	waitFor(t, func() bool { return m.Sockets() == 4 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	for range 3 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("WatchConns after Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a watch outlived Close")
		}
	}
	if _, err := c.Version(bg); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Version after Close = %v, want net.ErrClosed", err)
	}
	waitFor(t, func() bool { return m.Sockets() == 0 })
}

// TestConcurrent hammers one client from many goroutines, with watches and
// a Close in the middle; run it with -race.
func TestConcurrent(t *testing.T) {
	m, c := dial(t, fakemod.Options{})
	for i := range 20 {
		m.AddConn(tcpConn(uint16(2000 + i)))
	}
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(bg)
	defer cancel()
	for range 4 {
		wg.Go(func() {
			err := c.WatchConns(wctx, nil, func(nftypes.ConnEvent) error { return nil })
			if err != nil && !errors.Is(err, net.ErrClosed) {
				t.Errorf("WatchConns: %v", err)
			}
		})
	}
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				var err error
				switch (i + j) % 5 {
				case 0:
					_, err = c.Conns(bg, nftypes.ConnFilter{})
				case 1:
					_, err = c.Version(bg)
				case 2:
					_, _, err = c.ConnCount(bg)
				case 3:
					_, err = c.Conn(bg, tcpConn(2003).Orig)
				case 4:
					cctx, cancel := context.WithTimeout(bg, time.Duration(j)*time.Microsecond)
					_, err = c.Conns(cctx, nftypes.ConnFilter{})
					cancel()
					if errors.Is(err, context.DeadlineExceeded) {
						err = nil
					}
				}
				if err != nil && !errors.Is(err, net.ErrClosed) {
					t.Errorf("call %d: %v", (i+j)%5, err)
					return
				}
				if i == 0 && j == 40 {
					_ = c.Close()
				}
			}
		})
	}
	wg.Wait()
}

// connHistory is a history of n changes of a TCP connection, from its
// first SYN at 12:00, one a millisecond.
func connHistory(n int) []nftypes.ConnChange {
	var h []nftypes.ConnChange
	for i := range n {
		h = append(h, nftypes.ConnChange{
			Time:   time.Date(2026, 12, 1, 12, 0, 0, i*int(time.Millisecond), time.UTC),
			Packet: uint64(40 + i), Trace: 3, Hook: nftypes.PreRouting, Dir: nftypes.Dir(i % 2),
			TCPStateOld: nftypes.TCPState(i % 4), TCPState: nftypes.TCPState(i%4 + 1),
			StatusOld: nftypes.StatusConfirmed, Status: nftypes.StatusConfirmed | nftypes.StatusSeenReply,
		})
	}
	return h
}

// TestConnHistory checks that Conn reports an entry's history from a module
// of protocol 6, its last MaxConnHistory changes, and that dumps, events
// and older modules carry none.
func TestConnHistory(t *testing.T) {
	for _, next := range []bool{false, true} {
		t.Run(map[bool]string{false: "N", true: "N+1"}[next], func(t *testing.T) {
			m, c := dial(t, fakemod.Options{Next: next})
			if !c.KeepsConnHistory() {
				t.Error("KeepsConnHistory = false")
			}
			tr := m.StartTrace(nftypes.TraceSpec{})
			h := connHistory(nftypes.MaxConnHistory + 1)
			withHistory := tcpConn(1000)
			withHistory.History = h[:2]
			c1 := m.AddConn(withHistory)
			c2 := m.AddConn(tcpConn(1001))
			if !m.SetHistory(c2.ID, h) || m.SetHistory(9999, h) {
				t.Fatal("SetHistory found the wrong entries")
			}
			got, err := c.Conn(bg, c1.Orig)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c1, got, cmpOpts); diff != "" {
				t.Errorf("Conn (-want +got):\n%s", diff)
			}
			got, err = c.Conn(bg, c2.Reply)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(h[1:], got.History, cmpOpts); diff != "" {
				t.Errorf("history of %d changes: the last %d (-want +got):\n%s", len(h), nftypes.MaxConnHistory, diff)
			}
			// A UDP connection's changes have no TCP states.
			udp := tcpConn(1002)
			udp.Orig.Proto, udp.Reply.Proto, udp.TCPState = nftypes.UDP, nftypes.UDP, 0
			udp.History = []nftypes.ConnChange{{Time: h[0].Time, Packet: 7, Trace: 3, Hook: nftypes.LocalOut, TCPStateOld: 1, TCPState: 2}}
			m.AddConn(udp)
			if got, err = c.Conn(bg, udp.Orig); err != nil || len(got.History) != 1 || got.History[0].TCPState != 0 || got.History[0].Packet != 7 {
				t.Errorf("UDP Conn = %+v, %v; want one change without TCP states", got, err)
			}
			all, err := c.Conns(bg, nftypes.ConnFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, ct := range all {
				if ct.History != nil {
					t.Errorf("dumped entry %d has a history: %+v", ct.ID, ct.History)
				}
			}
			// The last trace's end forgets every history.
			m.EndTrace(tr.ID)
			if got, err = c.Conn(bg, c2.Orig); err != nil || got.History != nil {
				t.Errorf("Conn after the last trace = %+v, %v; want no history", got, err)
			}
		})
	}
	// A module of protocol 5 keeps none.
	m, c := dial(t, fakemod.Options{Protocol: 5})
	if c.KeepsConnHistory() {
		t.Error("KeepsConnHistory of protocol 5 = true")
	}
	ct := tcpConn(1000)
	ct.History = connHistory(2)
	m.AddConn(ct)
	if got, err := c.Conn(bg, ct.Orig); err != nil || got.History != nil {
		t.Errorf("Conn of protocol 5 = %+v, %v; want no history", got, err)
	}
}
