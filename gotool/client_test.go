package nflab

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/nlclient"
)

// fakeBackend stands in for the netlink backend, which has its own tests
// against fake sockets in internal/nlclient.
type fakeBackend struct {
	version nlclient.Version
	stats   []nlclient.HookStat
	err     error
	closed  bool
	resets  int

	// Conntrack: what the fake answers, and what it was asked.
	conns     []nlclient.Conn
	n         uint32 // count, deleted or evicted
	limit     uint32
	ctStats   nlclient.CTStats
	ctConfig  nlclient.CTConfig
	gotFilter *nlclient.Filter
	gotTuple  *nlclient.Tuple
	gotConfig *nlclient.CTConfig
	calls     []string

	// Events: what WatchConns delivers before it returns watchErr.
	events        []nlclient.Event
	watchErr      error
	gotReadBuffer int
}

func (f *fakeBackend) Close() error { f.closed = true; return nil }

func (f *fakeBackend) Version() (nlclient.Version, error) { return f.version, f.err }

func (f *fakeBackend) HookStats() ([]nlclient.HookStat, error) { return f.stats, f.err }

func (f *fakeBackend) ResetHookStats() error { f.resets++; return f.err }

func (f *fakeBackend) Conns(nf nlclient.Filter) ([]nlclient.Conn, error) {
	f.calls, f.gotFilter = append(f.calls, "Conns"), &nf
	return f.conns, f.err
}

func (f *fakeBackend) Conn(t nlclient.Tuple) (nlclient.Conn, error) {
	f.calls, f.gotTuple = append(f.calls, "Conn"), &t
	if len(f.conns) == 0 {
		return nlclient.Conn{}, f.err
	}
	return f.conns[0], f.err
}

func (f *fakeBackend) DeleteConn(t nlclient.Tuple) error {
	f.calls, f.gotTuple = append(f.calls, "DeleteConn"), &t
	return f.err
}

func (f *fakeBackend) DeleteConns(nf nlclient.Filter) (uint32, error) {
	f.calls, f.gotFilter = append(f.calls, "DeleteConns"), &nf
	return f.n, f.err
}

func (f *fakeBackend) FlushConns(nf nlclient.Filter) (uint32, error) {
	f.calls, f.gotFilter = append(f.calls, "FlushConns"), &nf
	return f.n, f.err
}

func (f *fakeBackend) ConnCount() (uint32, uint32, error) { return f.n, f.limit, f.err }

func (f *fakeBackend) CTStats() (nlclient.CTStats, error) { return f.ctStats, f.err }

func (f *fakeBackend) CTConfig() (nlclient.CTConfig, error) { return f.ctConfig, f.err }

func (f *fakeBackend) SetCTConfig(c nlclient.CTConfig) error {
	f.calls, f.gotConfig = append(f.calls, "SetCTConfig"), &c
	return f.err
}

func (f *fakeBackend) RunCTGC() (uint32, error) { return f.n, f.err }

func (f *fakeBackend) WatchConns(_ context.Context, readBuffer int, fn func(nlclient.Event) error) error {
	f.calls, f.gotReadBuffer = append(f.calls, "WatchConns"), readBuffer
	for _, e := range f.events {
		if err := fn(e); err != nil {
			return err
		}
	}
	return f.watchErr
}

func TestDialChecksProtocol(t *testing.T) {
	f := &fakeBackend{version: nlclient.Version{Module: "9.0", Protocol: ProtocolVersion + 1}}
	c, err := newClient(f)
	var pe *ProtocolError
	if c != nil || !errors.As(err, &pe) {
		t.Fatalf("newClient = %v, %v; want a *ProtocolError", c, err)
	}
	if diff := cmp.Diff(Version{Module: "9.0", Protocol: ProtocolVersion + 1}, pe.Module); diff != "" {
		t.Fatalf("ProtocolError.Module (-want +got):\n%s", diff)
	}
	if !f.closed {
		t.Fatal("backend left open after a failed Dial")
	}
	want := "nflab: module 9.0 speaks protocol 3, this client speaks 2; use a matching module and client"
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}

func TestDialPassesErrors(t *testing.T) {
	f := &fakeBackend{err: ErrNotLoaded}
	if _, err := newClient(f); !errors.Is(err, ErrNotLoaded) || !f.closed {
		t.Fatalf("newClient error = %v (closed %v), want ErrNotLoaded and closed", err, f.closed)
	}
}

func TestClient(t *testing.T) {
	f := &fakeBackend{
		version: nlclient.Version{Module: "0.1.0", Protocol: ProtocolVersion},
		stats: []nlclient.HookStat{
			{Hook: 4, Packets: 5, Bytes: 6},
			{Hook: 0, Packets: 1, Bytes: 2},
			{Hook: 2},
		},
	}
	c, err := newClient(f)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Version()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Version{Module: "0.1.0", Protocol: ProtocolVersion}, v); diff != "" {
		t.Fatalf("Version (-want +got):\n%s", diff)
	}
	stats, err := c.HookStats()
	if err != nil {
		t.Fatal(err)
	}
	want := []HookStat{
		{Hook: PreRouting, Packets: 1, Bytes: 2},
		{Hook: Forward},
		{Hook: PostRouting, Packets: 5, Bytes: 6},
	}
	if diff := cmp.Diff(want, stats); diff != "" {
		t.Fatalf("HookStats (-want +got):\n%s", diff)
	}
	if err := c.ResetHookStats(); err != nil || f.resets != 1 {
		t.Fatalf("ResetHookStats = %v after %d resets", err, f.resets)
	}
	if err := c.Close(); err != nil || !f.closed {
		t.Fatalf("Close = %v, closed %v", err, f.closed)
	}
}
