//go:build linux

package nflab_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// noLeaks fails t if goroutines started during t outlive it, in the
// manner of go.uber.org/goleak without the dependency. Call it before
// anything that registers a cleanup, so that it runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines before the test, %d after:\n%s",
					before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestDialTooOld checks that a module older than ProtocolCompat is
// refused, as a newer one that no longer serves this client is (see
// TestDialCompatibility).
func TestDialTooOld(t *testing.T) {
	noLeaks(t)
	for _, opts := range []fakemod.Options{
		{ExplicitProtocol: true, Protocol: nlproto.PROTO_COMPAT - 1, NoCompat: true},
		{ExplicitProtocol: true, Protocol: nlproto.PROTO_COMPAT - 1, Compat: nlproto.PROTO_COMPAT - 1},
	} {
		m := fakemod.New(opts)
		m.Install(t)
		c, err := nflab.Dial(nil)
		var pe *nflab.ProtocolError
		if !errors.As(err, &pe) || pe.Module.Protocol != nlproto.PROTO_COMPAT-1 {
			t.Errorf("Dial(%+v) = %v, %v; want a *ProtocolError", opts, c, err)
		}
		if n := m.Sockets(); n != 0 {
			t.Errorf("a refused Dial left %d sockets open", n)
		}
	}
}

func TestDialOptions(t *testing.T) {
	noLeaks(t)
	var ve *nflab.ValidationError
	if _, err := nflab.Dial(&nflab.DialOptions{NetNS: -1}); !errors.As(err, &ve) {
		t.Errorf("Dial(NetNS -1) = %v, want a *ValidationError", err)
	}
	m := fakemod.New(fakemod.Options{})
	m.Install(t)
	for _, opts := range []*nflab.DialOptions{nil, {}} {
		c, err := nflab.Dial(opts)
		if err != nil {
			t.Fatalf("Dial(%v): %v", opts, err)
		}
		c.Close()
	}
}

// TestWatchInClientNamespace checks that a watch opens its socket for the
// client's namespace (DialOptions.NetNS), not the calling thread's.
func TestWatchInClientNamespace(t *testing.T) {
	noLeaks(t)
	m := fakemod.New(fakemod.Options{})
	m.Install(t)
	const ns = 42 // the fake records it and never enters it
	c, err := nflab.Dial(&nflab.DialOptions{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() { errc <- c.WatchConns(ctx, nil, func(nftypes.ConnEvent) error { return nil }) }()
	waitFor(t, func() bool { return m.Listeners() == 1 })
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("WatchConns = %v", err)
	}
	got := m.DialedNetNS()
	if len(got) != 2 || got[0] != ns || got[1] != ns {
		t.Errorf("sockets opened for namespaces %v, want [%d %d] (request, watch)", got, ns, ns)
	}
}

// TestCancelMidDump cancels a dump after its first part, by deadline and
// by cancel, and checks that the rest of it, arriving later, never reaches
// a later request: the cancelled socket is discarded.
func TestCancelMidDump(t *testing.T) {
	noLeaks(t)
	m, c := dial(t, fakemod.Options{})
	for i := range 4 {
		m.AddConn(tcpConn(uint16(3000 + i)))
	}
	// The cancel comes once the module has the request, so that it falls
	// mid-dump however slow the machine; the deadline may come earlier
	// or later, and must end the call either way.
	for _, mk := range []func(sent int) (context.Context, context.CancelFunc, error){
		func(int) (context.Context, context.CancelFunc, error) {
			ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
			return ctx, cancel, context.DeadlineExceeded
		},
		func(sent int) (context.Context, context.CancelFunc, error) {
			ctx, cancel := context.WithCancel(bg)
			go func() {
				for m.Requests(nlproto.CMD_CT_GET) == sent && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			return ctx, cancel, context.Canceled
		},
	} {
		ctx, cancel, want := mk(m.Requests(nlproto.CMD_CT_GET))
		m.StallMidDump(true)
		start := time.Now()
		_, err := c.Conns(ctx, nftypes.ConnFilter{})
		cancel()
		if !errors.Is(err, want) {
			t.Fatalf("Conns = %v, want %v", err, want)
		}
		// A bound against a hang, not a timing goal.
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("Conns returned %v after its context ended", d)
		}
		m.StallMidDump(false)
		m.ResumeDumps() // the rest of the dump, for the old socket
		for range 3 {
			v, err := c.Version(bg)
			if err != nil || v.Module != fakemod.Version {
				t.Fatalf("Version after a cancelled dump = %+v, %v", v, err)
			}
			got, err := c.Conns(bg, nftypes.ConnFilter{})
			if err != nil || len(got) != 4 {
				t.Fatalf("Conns after a cancelled dump = %d entries, %v", len(got), err)
			}
		}
		if n := m.Sockets(); n != 1 {
			t.Errorf("%d sockets open, want 1", n)
		}
	}
}

// TestCancelWhileWaiting checks that a caller waiting for the request
// socket, held by a stalled dump, honours its context and Close, and that
// the cancellation of the dump leaks no reply to the callers after it.
func TestCancelWhileWaiting(t *testing.T) {
	noLeaks(t)
	m, c := dial(t, fakemod.Options{})
	for i := range 4 {
		m.AddConn(tcpConn(uint16(4000 + i)))
	}
	m.StallMidDump(true)
	dctx, dcancel := context.WithCancel(bg)
	defer dcancel()
	dumpErr := make(chan error, 1)
	go func() {
		_, err := c.Conns(dctx, nftypes.ConnFilter{})
		dumpErr <- err
	}()
	waitFor(t, func() bool { return m.Requests(nlproto.CMD_CT_GET) == 1 })

	// A caller behind the dump gives up at its deadline...
	wctx, wcancel := context.WithTimeout(bg, 50*time.Millisecond)
	start := time.Now()
	verr := make(chan error, 1)
	go func() {
		_, err := c.Version(wctx)
		verr <- err
	}()
	var err error
	select {
	case err = <-verr:
	case <-time.After(5 * time.Second):
		dcancel()
		t.Fatal("Version behind a stalled dump ignored its deadline")
	}
	wcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Version behind a stalled dump = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 30*time.Second { // a hang, not a timing goal
		t.Errorf("Version returned %v after its deadline", d)
	}
	// ...while others wait on; then the dump is cancelled and its rest
	// arrives for the discarded socket.
	waiters := make(chan error, 8)
	for range 8 {
		go func() {
			v, err := c.Version(bg)
			if err == nil && v.Module != fakemod.Version {
				err = errors.New("wrong version reply " + v.Module)
			}
			waiters <- err
		}()
	}
	dcancel()
	if err := <-dumpErr; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Conns = %v, want Canceled", err)
	}
	m.StallMidDump(false)
	m.ResumeDumps()
	for range 8 {
		if err := <-waiters; err != nil {
			t.Errorf("Version after a cancelled dump: %v", err)
		}
	}
	if got, err := c.Conns(bg, nftypes.ConnFilter{}); err != nil || len(got) != 4 {
		t.Errorf("Conns = %d entries, %v", len(got), err)
	}
}

// TestCloseWhileWaiting checks that Close ends a call under way and the
// calls waiting behind it.
func TestCloseWhileWaiting(t *testing.T) {
	noLeaks(t)
	m, c := dial(t, fakemod.Options{})
	m.Stall(nlproto.CMD_CT_GET, true)
	errc := make(chan error, 5)
	go func() {
		_, err := c.Conns(bg, nftypes.ConnFilter{})
		errc <- err
	}()
	waitFor(t, func() bool { return m.Requests(nlproto.CMD_CT_GET) == 1 })
	for range 4 {
		go func() {
			_, _, err := c.ConnCount(bg)
			errc <- err
		}()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("call ended by Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a call outlived Close")
		}
	}
	waitFor(t, func() bool { return m.Sockets() == 0 })
}

// TestUnloadedMidUse checks that a client whose module goes away reports
// ErrNotLoaded, for requests and for a running watch.
func TestUnloadedMidUse(t *testing.T) {
	noLeaks(t)
	m, c := dial(t, fakemod.Options{})
	m.Unload()
	if _, err := c.Version(bg); !errors.Is(err, nflab.ErrNotLoaded) {
		t.Errorf("Version = %v, want ErrNotLoaded", err)
	}
	if _, err := c.Conns(bg, nftypes.ConnFilter{}); !errors.Is(err, nflab.ErrNotLoaded) {
		t.Errorf("Conns = %v, want ErrNotLoaded", err)
	}
	if err := c.WatchConns(bg, nil, func(nftypes.ConnEvent) error { return nil }); !errors.Is(err, nflab.ErrNotLoaded) {
		t.Errorf("WatchConns = %v, want ErrNotLoaded", err)
	}
}
