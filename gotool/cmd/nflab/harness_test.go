//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// The CLI's tests run the real client (nflab.Dial, as main does) over a
// fake module (package fakemod) on in-memory netlink sockets. A recorder
// between the commands and the client notes what the commands asked for,
// so that tests can check the filter, tuple or settings a command line
// gives, not only their effect.

// harness is a fake module installed for one test, and what the last run
// asked of it.
type harness struct {
	t     *testing.T
	m     *fakemod.Module
	rec   *recorder          // of the last run that dialled; nil before
	opts  *nflab.DialOptions // of the last dial
	stdin string             // what the runs read for "-f -"
}

// newHarness installs a fake module holding conns. The module installed
// last is the one the runs dial.
func newHarness(t *testing.T, opts fakemod.Options, conns ...nftypes.Conn) *harness {
	t.Helper()
	m := fakemod.New(opts)
	m.Install(t)
	for _, c := range conns {
		m.AddConn(c)
	}
	return &harness{t: t, m: m}
}

// ctHarness holds the four connections of the conntrack tests.
func ctHarness(t *testing.T) *harness {
	return newHarness(t, fakemod.Options{}, udpConn, tcpConn, icmpConn, synConn)
}

// app returns an app writing to stdout and stderr that dials the module
// through nflab.Dial.
func (h *harness) app(stdout, stderr io.Writer) *app {
	return &app{stdin: strings.NewReader(h.stdin), stdout: &recWriter{w: stdout}, stderr: stderr, hint: testHint,
		clock: func() time.Time { return testClock }, loc: time.UTC, dial: func(opts *nflab.DialOptions) (client, error) {
			h.opts = opts
			c, err := dial(opts)
			if err != nil {
				return nil, err
			}
			h.rec = &recorder{c: c}
			return h.rec, nil
		}}
}

type result struct {
	Code           int
	Stdout, Stderr string
}

// run runs the command line args against the module.
func (h *harness) run(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := h.app(&stdout, &stderr).run(context.Background(), args)
	return result{code, stdout.String(), stderr.String()}
}

// runNoDial runs a command line that must not reach the module, such as
// a usage error or help.
func runNoDial(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &recWriter{w: &stdout}, stderr: &stderr, hint: testHint, dial: func(*nflab.DialOptions) (client, error) {
		t.Fatalf("nflab %q dialled the module", args)
		return nil, nil
	}}
	code := a.run(context.Background(), args)
	return result{code, stdout.String(), stderr.String()}
}

// runDialErr runs a command line whose dial fails with err.
func runDialErr(t *testing.T, err error, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &recWriter{w: &stdout}, stderr: &stderr, hint: testHint,
		dial: func(*nflab.DialOptions) (client, error) { return nil, err }}
	code := a.run(context.Background(), args)
	return result{code, stdout.String(), stderr.String()}
}

func testHint() string { return "load it with 'insmod /abs/kmod/nflab.ko'" }

// testClock is the time of the runs' clock, which stands still: the
// trace's lines waiting for their time are written at the end.
var testClock = time.Date(2026, 12, 1, 9, 59, 59, 0, time.UTC)

// recorder is the client of the commands in tests: it notes each call and
// its arguments and passes it on to the real client.
type recorder struct {
	c client

	mu     sync.Mutex
	calls  []string
	filter *nftypes.ConnFilter
	tuple  *nftypes.Tuple
	config *nftypes.TrackerConfig
	watch  *nflab.WatchOptions
	closed bool

	spec    *nftypes.TraceSpec // of AddTrace, FollowTrace
	ruleset *nftypes.Ruleset   // of ApplyRuleset
	apply   *nflab.ApplyOptions
	reset   *uint64 // of ResetRules
}

func (r *recorder) note(call string, set func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	if set != nil {
		set()
	}
}

// Calls returns the calls made so far.
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) Version(ctx context.Context) (nftypes.Version, error) {
	r.note("Version", nil)
	return r.c.Version(ctx)
}

func (r *recorder) HookStats(ctx context.Context) ([]nftypes.HookStat, error) {
	r.note("HookStats", nil)
	return r.c.HookStats(ctx)
}

func (r *recorder) ResetHookStats(ctx context.Context) error {
	r.note("ResetHookStats", nil)
	return r.c.ResetHookStats(ctx)
}

func (r *recorder) Close() error {
	r.note("Close", func() { r.closed = true })
	return r.c.Close()
}

func (r *recorder) Conns(ctx context.Context, f nftypes.ConnFilter) ([]nftypes.Conn, error) {
	r.note("Conns", func() { r.filter = &f })
	return r.c.Conns(ctx, f)
}

// CheckConnFilter sends nothing: it is no call to note.
func (r *recorder) CheckConnFilter(f nftypes.ConnFilter) error {
	return r.c.CheckConnFilter(f)
}

func (r *recorder) Conn(ctx context.Context, t nftypes.Tuple) (nftypes.Conn, error) {
	r.note("Conn", func() { r.tuple = &t })
	return r.c.Conn(ctx, t)
}

// KeepsConnHistory sends nothing: it is no call to note.
func (r *recorder) KeepsConnHistory() bool { return r.c.KeepsConnHistory() }

func (r *recorder) DeleteConn(ctx context.Context, t nftypes.Tuple) error {
	r.note("DeleteConn", func() { r.tuple = &t })
	return r.c.DeleteConn(ctx, t)
}

func (r *recorder) DeleteConns(ctx context.Context, f nftypes.ConnFilter) (int, error) {
	r.note("DeleteConns", func() { r.filter = &f })
	return r.c.DeleteConns(ctx, f)
}

func (r *recorder) ConnCount(ctx context.Context) (int, int, error) {
	r.note("ConnCount", nil)
	return r.c.ConnCount(ctx)
}

func (r *recorder) TrackerStats(ctx context.Context) (nftypes.TrackerStats, error) {
	r.note("TrackerStats", nil)
	return r.c.TrackerStats(ctx)
}

func (r *recorder) TrackerConfig(ctx context.Context) (nftypes.TrackerConfig, error) {
	r.note("TrackerConfig", nil)
	return r.c.TrackerConfig(ctx)
}

func (r *recorder) SetTrackerConfig(ctx context.Context, cfg nftypes.TrackerConfig) error {
	r.note("SetTrackerConfig", func() { r.config = &cfg })
	return r.c.SetTrackerConfig(ctx, cfg)
}

func (r *recorder) RunGC(ctx context.Context) (int, error) {
	r.note("RunGC", nil)
	return r.c.RunGC(ctx)
}

func (r *recorder) WatchConns(ctx context.Context, opts *nflab.WatchOptions, fn func(nftypes.ConnEvent) error) error {
	r.note("WatchConns", func() { r.watch = opts })
	return r.c.WatchConns(ctx, opts, fn)
}

func (r *recorder) Ruleset(ctx context.Context) (nftypes.Ruleset, error) {
	r.note("Ruleset", nil)
	return r.c.Ruleset(ctx)
}

func (r *recorder) Chains(ctx context.Context) ([]nftypes.Chain, error) {
	r.note("Chains", nil)
	return r.c.Chains(ctx)
}

func (r *recorder) Rules(ctx context.Context) ([]nftypes.Rule, error) {
	r.note("Rules", nil)
	return r.c.Rules(ctx)
}

func (r *recorder) Rule(ctx context.Context, h uint64) (nftypes.Rule, error) {
	r.note("Rule", nil)
	return r.c.Rule(ctx, h)
}

func (r *recorder) Sets(ctx context.Context, withElems bool) ([]nftypes.Set, error) {
	r.note("Sets", nil)
	return r.c.Sets(ctx, withElems)
}

func (r *recorder) Set(ctx context.Context, name string, withElems bool) (nftypes.Set, error) {
	r.note("Set", nil)
	return r.c.Set(ctx, name, withElems)
}

func (r *recorder) ResetRules(ctx context.Context, h *uint64) error {
	r.note("ResetRules", func() { r.reset = h })
	return r.c.ResetRules(ctx, h)
}

func (r *recorder) ApplyRuleset(ctx context.Context, rs nftypes.Ruleset, opts *nflab.ApplyOptions) (uint32, error) {
	r.note("ApplyRuleset", func() { r.ruleset, r.apply = &rs, opts })
	return r.c.ApplyRuleset(ctx, rs, opts)
}

func (r *recorder) Begin(ctx context.Context, opts *nflab.BeginOptions) (*nflab.Tx, error) {
	r.note("Begin", nil)
	return r.c.Begin(ctx, opts)
}

func (r *recorder) AddTrace(ctx context.Context, s nftypes.TraceSpec) (nftypes.Trace, error) {
	r.note("AddTrace", func() { r.spec = &s })
	return r.c.AddTrace(ctx, s)
}

func (r *recorder) Traces(ctx context.Context) ([]nftypes.Trace, error) {
	r.note("Traces", nil)
	return r.c.Traces(ctx)
}

func (r *recorder) DeleteTrace(ctx context.Context, id uint32) error {
	r.note("DeleteTrace", nil)
	return r.c.DeleteTrace(ctx, id)
}

func (r *recorder) DeleteTraces(ctx context.Context) (int, error) {
	r.note("DeleteTraces", nil)
	return r.c.DeleteTraces(ctx)
}

func (r *recorder) WatchTraces(ctx context.Context, opts *nflab.WatchOptions, fn func(nftypes.TraceReport) error) error {
	r.note("WatchTraces", func() { r.watch = opts })
	return r.c.WatchTraces(ctx, opts, fn)
}

func (r *recorder) FollowTrace(ctx context.Context, s nftypes.TraceSpec, opts *nflab.WatchOptions,
	started func(nftypes.Trace) error, fn func(nftypes.TraceReport) error) error {
	r.note("FollowTrace", func() { r.spec, r.watch = &s, opts })
	return r.c.FollowTrace(ctx, s, opts, started, fn)
}

// The connections of the conntrack tests.
var (
	ipA = netip.MustParseAddr("10.0.1.2")
	ipB = netip.MustParseAddr("10.0.2.2")

	udpConn = nftypes.Conn{
		ID:          1,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.UDP, SrcPort: 5000, DstPort: 9999},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.UDP, SrcPort: 9999, DstPort: 5000},
		Status:      nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed,
		Timeout:     29 * time.Second,
		PacketsOrig: 1, BytesOrig: 34, PacketsReply: 1, BytesReply: 34,
		Start: time.Date(2026, 11, 25, 21, 0, 0, 123456789, time.UTC),
	}
	tcpConn = nftypes.Conn{
		ID:          2,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 40000, DstPort: 80},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.TCP, SrcPort: 80, DstPort: 40000},
		Status:      nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed,
		TCPState:    nftypes.TCPEstablished,
		Timeout:     431999 * time.Second,
		PacketsOrig: 6, BytesOrig: 412, PacketsReply: 4, BytesReply: 5300,
		Start: time.Date(2026, 11, 25, 21, 0, 1, 0, time.UTC),
	}
	icmpConn = nftypes.Conn{
		ID:          3,
		Orig:        nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.ICMP, ICMPID: 4660, ICMPType: 8},
		Reply:       nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.ICMP, ICMPID: 4660, ICMPType: 0},
		Status:      nftypes.StatusConfirmed,
		Timeout:     30 * time.Second,
		PacketsOrig: 1, BytesOrig: 84,
		Start: time.Date(2026, 11, 25, 21, 0, 2, 500000000, time.UTC),
	}
	synConn = nftypes.Conn{
		ID:       4,
		Orig:     nftypes.Tuple{Src: ipA, Dst: ipB, Proto: nftypes.TCP, SrcPort: 40001, DstPort: 81},
		Reply:    nftypes.Tuple{Src: ipB, Dst: ipA, Proto: nftypes.TCP, SrcPort: 81, DstPort: 40001},
		TCPState: nftypes.TCPSynSent,
		Timeout:  120 * time.Second,
	}
)

// netipOpts compares netip values, whose fields cmp cannot see, with ==.
var netipOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

func ptr[T any](v T) *T { return &v }
