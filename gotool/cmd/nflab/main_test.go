//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// The fake module's counters: hook h has h+1 packets of 84 bytes.
const wantTable = `HOOK          PACKETS  BYTES
PRE_ROUTING   1        84
LOCAL_IN      2        168
FORWARD       3        252
LOCAL_OUT     4        336
POST_ROUTING  5        420
`

// Its drops (protocol 6): hook h dropped h packets by rule, h/2 of them
// invalid, h/3 for a full table, h/4 by NAT, and 10*h went unseen after
// it where that is counted.
const wantHooksJSON = `{"hooks":[` +
	`{"hook":"PRE_ROUTING","packets":1,"bytes":84,"drop_rule":0,"drop_invalid":0,"drop_full":0,"drop_nat":0,"unseen_after":0},` +
	`{"hook":"LOCAL_IN","packets":2,"bytes":168,"drop_rule":1,"drop_invalid":0,"drop_full":0,"drop_nat":0},` +
	`{"hook":"FORWARD","packets":3,"bytes":252,"drop_rule":2,"drop_invalid":1,"drop_full":0,"drop_nat":0,"unseen_after":20},` +
	`{"hook":"LOCAL_OUT","packets":4,"bytes":336,"drop_rule":3,"drop_invalid":1,"drop_full":1,"drop_nat":0,"unseen_after":30},` +
	`{"hook":"POST_ROUTING","packets":5,"bytes":420,"drop_rule":4,"drop_invalid":2,"drop_full":1,"drop_nat":1}]}` + "\n"

const wantDropsTable = `HOOK          PACKETS  BYTES  DROP_RULE  DROP_INVALID  DROP_FULL  DROP_NAT  UNSEEN_AFTER
PRE_ROUTING   1        84     0          0             0          0         0
LOCAL_IN      2        168    1          0             0          0         -
FORWARD       3        252    2          1             0          0         20
LOCAL_OUT     4        336    3          1             1          0         30
POST_ROUTING  5        420    4          2             1          1         -
`

// A module of protocol 5 counts no drops.
const wantHooksJSONv5 = `{"hooks":[` +
	`{"hook":"PRE_ROUTING","packets":1,"bytes":84},` +
	`{"hook":"LOCAL_IN","packets":2,"bytes":168},` +
	`{"hook":"FORWARD","packets":3,"bytes":252},` +
	`{"hook":"LOCAL_OUT","packets":4,"bytes":336},` +
	`{"hook":"POST_ROUTING","packets":5,"bytes":420}]}` + "\n"

const wantDropsTableV5 = `HOOK          PACKETS  BYTES  DROP_RULE  DROP_INVALID  DROP_FULL  DROP_NAT  UNSEEN_AFTER
PRE_ROUTING   1        84     -          -             -          -         -
LOCAL_IN      2        168    -          -             -          -         -
FORWARD       3        252    -          -             -          -         -
LOCAL_OUT     4        336    -          -             -          -         -
POST_ROUTING  5        420    -          -             -          -         -
`

var protocol = strconv.Itoa(nlproto.PROTO_VERSION)

func TestStats(t *testing.T) {
	v5 := fakemod.Options{Protocol: 5}
	tests := []struct {
		args []string
		opts fakemod.Options
		want string
	}{
		{[]string{"stats"}, fakemod.Options{}, wantTable},
		{[]string{"stats", "-o", "table"}, fakemod.Options{}, wantTable},
		{[]string{"stats", "-o=json"}, fakemod.Options{}, wantHooksJSON},
		{[]string{"-o", "json", "stats"}, fakemod.Options{}, wantHooksJSON},
		{[]string{"stats", "--output=json"}, fakemod.Options{}, wantHooksJSON},
		{[]string{"stats", "-ojson"}, fakemod.Options{}, wantHooksJSON},
		{[]string{"stats", "-v"}, fakemod.Options{}, wantDropsTable},
		{[]string{"stats", "--verbose", "-o", "json"}, fakemod.Options{}, wantHooksJSON},
		{[]string{"stats"}, v5, wantTable},
		{[]string{"stats", "-o", "json"}, v5, wantHooksJSONv5},
		{[]string{"stats", "-v"}, v5, wantDropsTableV5},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h := newHarness(t, tt.opts)
			got := h.run(tt.args...)
			if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			if !h.rec.closed || h.m.Sockets() != 0 {
				t.Errorf("client closed %v, %d sockets left open", h.rec.closed, h.m.Sockets())
			}
		})
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	got := h.run()
	want := result{0, "module " + fakemod.Version + ", protocol " + protocol + "\n\n" + wantTable, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	for _, flag := range []string{"--reset", "--reset=true"} {
		h := newHarness(t, fakemod.Options{})
		got := h.run("stats", flag)
		if diff := cmp.Diff(result{0, "", ""}, got); diff != "" || h.m.Requests(nlproto.CMD_RESET_HOOK_STATS) != 1 {
			t.Fatalf("%s: %d resets (-want +got):\n%s", flag, h.m.Requests(nlproto.CMD_RESET_HOOK_STATS), diff)
		}
		if got := h.run("stats"); !strings.HasPrefix(got.Stdout, "HOOK          PACKETS  BYTES\nPRE_ROUTING   0        0\n") {
			t.Errorf("after %s:\n%s", flag, got.Stdout)
		}
	}
	h := newHarness(t, fakemod.Options{})
	if got := h.run("stats", "--reset=false"); got.Code != 0 || got.Stdout != wantTable || h.m.Requests(nlproto.CMD_RESET_HOOK_STATS) != 0 {
		t.Errorf("--reset=false = %+v", got)
	}
}

func TestVersion(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "client:   " + version + "\nmodule:   " + fakemod.Version + "\nprotocol: " + protocol + "\n"},
		{[]string{"version", "-o", "json"}, `{"client":"` + version + `","module":"` + fakemod.Version + `","protocol":` + protocol + `}` + "\n"},
	}
	for _, tt := range tests {
		got := newHarness(t, fakemod.Options{}).run(tt.args...)
		if diff := cmp.Diff(result{0, tt.want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
	if version != nlproto.MODULE_VERSION {
		t.Errorf("client version %q, want the header's %q", version, nlproto.MODULE_VERSION)
	}
}

// TestVersionNext checks a module of the next protocol version, which
// this client still talks to.
func TestVersionNext(t *testing.T) {
	got := newHarness(t, fakemod.Options{Next: true}).run("version", "-o", "json")
	want := `{"client":"` + version + `","module":"` + fakemod.Version + `","protocol":` + strconv.Itoa(nlproto.PROTO_VERSION+1) + `}` + "\n"
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVersionMismatch(t *testing.T) {
	h := newHarness(t, fakemod.Options{Protocol: 99, Compat: 99})
	got := h.run("version")
	if got.Code != 1 || got.Stdout != "client:   "+version+"\nmodule:   "+fakemod.Version+"\nprotocol: 99\n" ||
		!strings.HasPrefix(got.Stderr, "nflab: module "+fakemod.Version+" speaks protocol 99") {
		t.Fatalf("version = %+v", got)
	}
	var pe *nflab.ProtocolError
	if _, err := nflab.Dial(nil); !errors.As(err, &pe) || got.Stderr != pe.Error()+"\n" {
		t.Fatalf("stderr %q, want the library's %v", got.Stderr, err)
	}
	got = h.run("stats")
	if diff := cmp.Diff(result{1, "", pe.Error() + "\n"}, got); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		got := runNoDial(t, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.Contains(got.Stdout, "Usage:\n  nflab [flags]\n  nflab [command]\n") {
			t.Errorf("nflab %q = %+v", args, got)
		}
		for _, c := range testRoot().Commands() {
			if c.IsAvailableCommand() && !strings.Contains(got.Stdout, "\n  "+c.Name()+" ") {
				t.Errorf("nflab %q does not list %s", args, c.Name())
			}
		}
		for _, want := range []string{"-L, --dump ", "-o, --output format", "Exit status: 0 success, 1 failure, 2 usage error."} {
			if !strings.Contains(got.Stdout, want) {
				t.Errorf("nflab %q does not show %q", args, want)
			}
		}
	}
	for _, args := range [][]string{
		{"stats", "-h"}, {"stats", "--help"}, {"help", "stats"}, {"stats", "-o", "json", "-h"},
		{"version", "--help"}, {"help", "version"}, {"help", "help"}, {"help", "-h"},
	} {
		got := runNoDial(t, args...)
		if got.Code != 0 || got.Stderr != "" || !strings.Contains(got.Stdout, "Usage:\n  nflab ") {
			t.Errorf("nflab %q = %+v", args, got)
		}
	}
	got := runNoDial(t, "help", "stats")
	if !strings.Contains(got.Stdout, `{"hooks":[{"hook":"PRE_ROUTING","packets":N,"bytes":N,
         "drop_rule":N,"drop_invalid":N,"drop_full":N,"drop_nat":N,
         "unseen_after":N},...]}`) || !strings.Contains(got.Stdout, "--reset ") || !strings.Contains(got.Stdout, "-v, --verbose") {
		t.Errorf("stats help does not document the JSON shape and --reset:\n%s", got.Stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `nflab: unknown command "bogus"; run 'nflab help'`},
		{[]string{"sta"}, `nflab: unknown command "sta" (did you mean "stats"?); run 'nflab help'`},
		{[]string{"-x"}, `nflab: unknown shorthand flag: 'x' in -x; run 'nflab help'`},
		{[]string{"--bogus"}, `nflab: unknown flag: --bogus; run 'nflab help'`},
		{[]string{"stats", "-x"}, `nflab stats: unknown shorthand flag: 'x' in -x; run 'nflab help stats'`},
		{[]string{"stats", "-reset"}, `nflab stats: unknown shorthand flag: 'r' in -reset; run 'nflab help stats'`},
		{[]string{"stats", "-o", "yaml"}, `nflab stats: invalid value "yaml" for --output: want table or json; run 'nflab help stats'`},
		{[]string{"stats", "-o"}, `nflab stats: --output needs a value; run 'nflab help stats'`},
		{[]string{"stats", "extra"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "-o", "json", "extra"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "extra", "-o", "json"}, `nflab stats: unexpected argument "extra"; run 'nflab help stats'`},
		{[]string{"stats", "--", "-o"}, `nflab stats: unexpected argument "-o"; run 'nflab help stats'`},
		{[]string{"stats", "--reset", "-o", "table"}, `nflab stats: --output cannot be combined with --reset, which prints nothing; run 'nflab help stats'`},
		{[]string{"stats", "--reset", "-v"}, `nflab stats: --verbose cannot be combined with --reset, which prints nothing; run 'nflab help stats'`},
		{[]string{"version", "now"}, `nflab version: unexpected argument "now"; run 'nflab help version'`},
		{[]string{"help", "nope"}, `nflab: unknown command "nope"; run 'nflab help'`},
		{[]string{"help", "stats", "version"}, `nflab stats: unexpected argument "version"; run 'nflab help stats'`},
	}
	for _, tt := range tests {
		got := runNoDial(t, tt.args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestFailures(t *testing.T) {
	notLoaded := "nflab: kernel module is not loaded; " + testHint() + "\n"
	for _, args := range [][]string{nil, {"stats"}, {"stats", "--reset"}, {"-o", "json"}} {
		h := newHarness(t, fakemod.Options{})
		h.m.Unload()
		if diff := cmp.Diff(result{1, "", notLoaded}, h.run(args...)); diff != "" {
			t.Errorf("nflab %q without the module (-want +got):\n%s", args, diff)
		}
	}

	h := newHarness(t, fakemod.Options{Unprivileged: true})
	got := h.run("stats", "--reset")
	if diff := cmp.Diff(result{1, "", "nflab: resetting the hook counters: permission denied; this needs CAP_NET_ADMIN (run as root)\n"}, got); diff != "" {
		t.Errorf("reset without CAP_NET_ADMIN (-want +got):\n%s", diff)
	}
	if got := h.run("stats"); got.Code != 0 {
		t.Errorf("stats without CAP_NET_ADMIN = %+v", got)
	}

	// The library's error, with the kernel's extended ACK, as it is.
	h = newHarness(t, fakemod.Options{})
	h.m.Fail(nlproto.CMD_GET_HOOK_STATS, unix.EINVAL, "Unknown attribute type")
	got = h.run("stats")
	var le *nflab.OpError
	if got.Code != 1 || !strings.Contains(got.Stderr, ": invalid argument: Unknown attribute type\n") {
		t.Errorf("stats failing = %+v", got)
	}
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.HookStats(context.Background()); !errors.As(err, &le) || got.Stderr != le.Error()+"\n" {
		t.Errorf("stderr %q, want the library's %v", got.Stderr, err)
	}

	got = runDialErr(t, errors.New("socket: too many open files"), "stats")
	if diff := cmp.Diff(result{1, "", "nflab: connecting to the module: socket: too many open files\n"}, got); diff != "" {
		t.Errorf("foreign error (-want +got):\n%s", diff)
	}

	// Something unsupported without the library's reason (Dial off
	// Linux) still says what to do.
	got = runDialErr(t, fmt.Errorf("nflab: %w: the nflab module and generic netlink need Linux", errors.ErrUnsupported), "stats")
	if diff := cmp.Diff(result{1, "", "nflab: connecting to the module: the module does not support this; load a newer module\n"}, got); diff != "" {
		t.Errorf("unsupported without a reason (-want +got):\n%s", diff)
	}
}

// TestRunWiring checks run itself, which main calls: help needs no module.
func TestRunWiring(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 || stdout.Len() == 0 {
		t.Fatalf("run(help) = %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if code := run(context.Background(), []string{"nope"}, &stdout, &stderr); code != 2 {
		t.Fatalf("run(nope) = %d, want 2", code)
	}
}
