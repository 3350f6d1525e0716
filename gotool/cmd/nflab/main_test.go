package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"golang.org/x/sys/unix"
)

type fakeClient struct {
	version  nftypes.Version
	stats    []nftypes.HookStat
	err      error // returned by every call
	resetErr error
	resets   int
	closed   bool

	// Conntrack: what the fake answers, and what it was asked.
	conns     []nftypes.Conn
	n, limit  int
	ctStats   nftypes.TrackerStats
	ctConfig  nftypes.TrackerConfig
	gotFilter *nftypes.ConnFilter
	gotTuple  *nftypes.Tuple
	gotConfig *nftypes.TrackerConfig
	calls     []string

	// Events: what WatchConns delivers before it returns watchErr.
	events   []nftypes.ConnEvent
	watchErr error
}

func (f *fakeClient) Version(context.Context) (nftypes.Version, error) { return f.version, f.err }
func (f *fakeClient) HookStats(context.Context) ([]nftypes.HookStat, error) {
	return f.stats, f.err
}
func (f *fakeClient) ResetHookStats(context.Context) error { f.resets++; return f.resetErr }
func (f *fakeClient) Close() error                         { f.closed = true; return nil }

func (f *fakeClient) Conns(_ context.Context, ft nftypes.ConnFilter) ([]nftypes.Conn, error) {
	f.calls, f.gotFilter = append(f.calls, "Conns"), &ft
	return f.conns, f.err
}

func (f *fakeClient) Conn(_ context.Context, t nftypes.Tuple) (nftypes.Conn, error) {
	f.calls, f.gotTuple = append(f.calls, "Conn"), &t
	if f.err != nil || len(f.conns) == 0 {
		return nftypes.Conn{}, f.err
	}
	return f.conns[0], nil
}

func (f *fakeClient) DeleteConn(_ context.Context, t nftypes.Tuple) error {
	f.calls, f.gotTuple = append(f.calls, "DeleteConn"), &t
	return f.err
}

func (f *fakeClient) DeleteConns(_ context.Context, ft nftypes.ConnFilter) (int, error) {
	f.calls, f.gotFilter = append(f.calls, "DeleteConns"), &ft
	return f.n, f.err
}

func (f *fakeClient) ConnCount(context.Context) (int, int, error) {
	f.calls = append(f.calls, "ConnCount")
	return f.n, f.limit, f.err
}

func (f *fakeClient) TrackerStats(context.Context) (nftypes.TrackerStats, error) {
	f.calls = append(f.calls, "CTStats")
	return f.ctStats, f.err
}

func (f *fakeClient) TrackerConfig(context.Context) (nftypes.TrackerConfig, error) {
	f.calls = append(f.calls, "CTConfig")
	return f.ctConfig, f.err
}

func (f *fakeClient) SetTrackerConfig(_ context.Context, c nftypes.TrackerConfig) error {
	f.calls, f.gotConfig = append(f.calls, "SetCTConfig"), &c
	return f.err
}

func (f *fakeClient) RunGC(context.Context) (int, error) {
	f.calls = append(f.calls, "RunCTGC")
	return f.n, f.err
}

func (f *fakeClient) WatchConns(_ context.Context, _ *nflab.WatchOptions, fn func(nftypes.ConnEvent) error) error {
	f.calls = append(f.calls, "WatchConns")
	for _, ev := range f.events {
		if err := fn(ev); err != nil {
			return err
		}
	}
	return f.watchErr
}

var fiveHooks = []nftypes.HookStat{
	{Hook: nftypes.PreRouting, Packets: 12, Bytes: 1008},
	{Hook: nftypes.LocalIn, Packets: 12, Bytes: 1008},
	{Hook: nftypes.Forward},
	{Hook: nftypes.LocalOut, Packets: 1234567, Bytes: 18446744073709551615},
	{Hook: nftypes.PostRouting, Packets: 7, Bytes: 588},
}

func newFake() *fakeClient {
	return &fakeClient{version: nftypes.Version{Module: "0.1.0", Protocol: 1}, stats: fiveHooks}
}

type result struct {
	Code           int
	Stdout, Stderr string
}

// runWith runs the CLI against fake; a nil fake means the test expects no dial.
func runWith(t *testing.T, fake *fakeClient, dialErr error, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, dial: func() (client, error) {
		if dialErr != nil {
			return nil, dialErr
		}
		if fake == nil {
			t.Fatalf("nflab %q dialled the module", args)
		}
		return fake, nil
	}}
	code := a.run(args)
	return result{code, stdout.String(), stderr.String()}
}

const wantTable = `HOOK          PACKETS  BYTES
PRE_ROUTING   12       1008
LOCAL_IN      12       1008
FORWARD       0        0
LOCAL_OUT     1234567  18446744073709551615
POST_ROUTING  7        588
`

func TestStats(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stats"}, wantTable},
		{[]string{"stats", "-o", "table"}, wantTable},
		{[]string{"stats", "-o=json"}, `{"hooks":[` +
			`{"hook":"PRE_ROUTING","packets":12,"bytes":1008},` +
			`{"hook":"LOCAL_IN","packets":12,"bytes":1008},` +
			`{"hook":"FORWARD","packets":0,"bytes":0},` +
			`{"hook":"LOCAL_OUT","packets":1234567,"bytes":18446744073709551615},` +
			`{"hook":"POST_ROUTING","packets":7,"bytes":588}]}` + "\n"},
		{[]string{"stats", "--o", "json"}, `{"hooks":[{"hook":"PRE_ROUTING"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			fake := newFake()
			got := runWith(t, fake, nil, tt.args...)
			if got.Code != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, tt.want) {
				t.Fatalf("got %+v\nwant stdout starting with:\n%s", got, tt.want)
			}
			if !fake.closed {
				t.Error("client not closed")
			}
		})
	}
}

func TestStatsJSONEmpty(t *testing.T) {
	fake := newFake()
	fake.stats = nil
	got := runWith(t, fake, nil, "stats", "-o", "json")
	if diff := cmp.Diff(result{0, `{"hooks":[]}` + "\n", ""}, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestStatus(t *testing.T) {
	got := runWith(t, newFake(), nil)
	want := result{0, "module 0.1.0, protocol 1\n\n" + wantTable, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	for _, flag := range []string{"--reset", "-reset", "--reset=true"} {
		fake := newFake()
		got := runWith(t, fake, nil, "stats", flag)
		if diff := cmp.Diff(result{0, "", ""}, got); diff != "" || fake.resets != 1 {
			t.Fatalf("%s: %d resets (-want +got):\n%s", flag, fake.resets, diff)
		}
	}
}

func TestVersion(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "client:   " + version + "\nmodule:   0.1.0\nprotocol: 1\n"},
		{[]string{"version", "-o", "json"}, `{"client":"` + version + `","module":"0.1.0","protocol":1}` + "\n"},
	}
	for _, tt := range tests {
		got := runWith(t, newFake(), nil, tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestVersionMismatch(t *testing.T) {
	pe := &nflab.ProtocolError{Module: nftypes.Version{Module: "0.2.0", Protocol: 2}}
	got := runWith(t, nil, pe, "version")
	want := result{1, "client:   " + version + "\nmodule:   0.2.0\nprotocol: 2\n", pe.Error() + "\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	got = runWith(t, nil, pe, "stats")
	if diff := cmp.Diff(result{1, "", pe.Error() + "\n"}, got); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}} {
		got := runWith(t, nil, nil, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, "Usage:\n  nflab ") {
			t.Errorf("nflab %q = %+v", args, got)
		}
		for _, c := range commands {
			if !strings.Contains(got.Stdout, "  "+c.name+" ") {
				t.Errorf("nflab %q does not list %s", args, c.name)
			}
		}
	}
	for _, args := range [][]string{
		{"stats", "-h"}, {"stats", "--help"}, {"help", "stats"}, {"stats", "-o", "json", "-h"},
		{"version", "--help"}, {"help", "version"}, {"help", "help"}, {"help", "-h"},
	} {
		got := runWith(t, nil, nil, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.HasPrefix(got.Stdout, "Usage: nflab ") {
			t.Errorf("nflab %q = %+v", args, got)
		}
	}
	got := runWith(t, nil, nil, "help", "stats")
	if !strings.Contains(got.Stdout, `{"hooks":[{"hook":"PRE_ROUTING","packets":N,"bytes":N},...]}`) {
		t.Errorf("stats help does not document the JSON shape:\n%s", got.Stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `nflab: unknown command "bogus"; run 'nflab help'`},
		{[]string{"-x"}, `nflab: unknown flag -x (flags go after the command); run 'nflab help'`},
		{[]string{"--help", "stats"}, `nflab: unexpected argument "stats"; run 'nflab help'`},
		{[]string{"stats", "-x"}, `nflab stats: flag provided but not defined: -x; run 'nflab help stats'`},
		{[]string{"stats", "-o", "yaml"}, `nflab stats: invalid value "yaml" for flag -o: want table or json; run 'nflab help stats'`},
		{[]string{"stats", "-o"}, `nflab stats: flag needs an argument: -o; run 'nflab help stats'`},
		{[]string{"stats", "extra"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "-o", "json", "extra"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "extra", "-o", "json"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "--", "-o"}, `nflab stats: unexpected argument "-o"; run 'nflab help stats'`},
		{[]string{"stats", "--reset", "-o", "table"}, `nflab stats: -o cannot be combined with --reset, which prints nothing; run 'nflab help stats'`},
		{[]string{"version", "now"}, `nflab version: unexpected argument "now"; run 'nflab help version'`},
		{[]string{"help", "nope"}, `nflab: unknown command "nope"; run 'nflab help'`},
		{[]string{"help", "stats", "version"}, `nflab help: unexpected argument "version"; run 'nflab help help'`},
	}
	for _, tt := range tests {
		got := runWith(t, nil, nil, tt.args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestFailures(t *testing.T) {
	notLoaded := "nflab: kernel module is not loaded; load it with 'insmod kmod/nflab.ko' (or 'modprobe nflab')\n"
	eperm := fmt.Errorf("nflab: reset hook stats: %w", unix.EPERM)
	tests := []struct {
		name    string
		args    []string
		dialErr error
		fake    *fakeClient
		want    string
	}{
		{"status not loaded", nil, nflab.ErrNotLoaded, nil, notLoaded},
		{"stats not loaded", []string{"stats"}, nflab.ErrNotLoaded, nil, notLoaded},
		{"reset not loaded", []string{"stats", "--reset"}, nflab.ErrNotLoaded, nil, notLoaded},
		{"version not loaded", []string{"version"}, nflab.ErrNotLoaded, nil, notLoaded},
		{
			"reset without CAP_NET_ADMIN", []string{"stats", "--reset"}, nil,
			&fakeClient{resetErr: eperm},
			"nflab: resetting the hook counters: permission denied; this needs CAP_NET_ADMIN (run as root)\n",
		},
		{
			"stats fails", []string{"stats"}, nil,
			&fakeClient{err: errors.New("nflab: get hook stats: invalid argument: Unknown attribute type")},
			"nflab: get hook stats: invalid argument: Unknown attribute type\n",
		},
		{
			"foreign error", []string{"stats"}, errors.New("socket: too many open files"), nil,
			"nflab: connecting to the module: socket: too many open files\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runWith(t, tt.fake, tt.dialErr, tt.args...)
			if diff := cmp.Diff(result{1, "", tt.want}, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunWiring checks run itself, which main calls: help needs no module.
func TestRunWiring(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 || stdout.Len() == 0 {
		t.Fatalf("run(help) = %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"nope"}, &stdout, &stderr); code != 2 {
		t.Fatalf("run(nope) = %d, want 2", code)
	}
}
