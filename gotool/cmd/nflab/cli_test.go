//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// TestConntrackCommands checks that conntrack(8)'s commands at the top
// level are the ct subcommands, with the same flags.
func TestConntrackCommands(t *testing.T) {
	tuple := []string{"-p", "tcp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "40000", "--dport", "80"}
	tests := []struct {
		alias, ct []string
	}{
		{[]string{"-L"}, []string{"ct", "list"}},
		{[]string{"-L", "-p", "tcp"}, []string{"ct", "list", "-p", "tcp"}},
		{[]string{"-p", "tcp", "-L"}, []string{"ct", "list", "-p", "tcp"}},
		{[]string{"--dump", "-o", "json", "--state", "ESTABLISHED"}, []string{"ct", "list", "-o", "json", "--state", "ESTABLISHED"}},
		{[]string{"-o", "json", "-L"}, []string{"ct", "list", "-o", "json"}},
		{append([]string{"-G"}, tuple...), append([]string{"ct", "get"}, tuple...)},
		{append([]string{"-D"}, tuple...), append([]string{"ct", "delete"}, tuple...)},
		{[]string{"-D", "-p", "udp"}, []string{"ct", "delete", "-p", "udp"}},
		{[]string{"-F"}, []string{"ct", "flush"}},
		{[]string{"--flush", "-p", "17"}, []string{"ct", "flush", "-p", "udp"}},
		{[]string{"-E", "-o", "json"}, []string{"ct", "events", "-o", "json"}},
		{[]string{"--event", "-b", "4M"}, []string{"ct", "events", "--buffer-size", "4194304"}},
		{[]string{"-C"}, []string{"ct", "count"}},
		{[]string{"-C", "-p", "tcp"}, []string{"ct", "count", "-p", "tcp"}},
		{[]string{"-S", "-o", "json"}, []string{"ct", "stats", "-o", "json"}},
		{[]string{"--stats"}, []string{"ct", "stats"}},
		{[]string{"-L", "-h"}, []string{"ct", "list", "--help"}},
		// A group of short flags led by the command, as getopt takes it.
		{[]string{"-Lptcp"}, []string{"ct", "list", "-p", "tcp"}},
		{[]string{"-Lp", "tcp", "-ojson"}, []string{"ct", "list", "-p", "tcp", "-o", "json"}},
		{[]string{"-o", "json", "-S"}, []string{"ct", "stats", "-o", "json"}},
	}
	for _, tt := range tests {
		// One module at a time: the last installed is the one dialled.
		a := ctHarness(t)
		got := a.runOrWatch(tt.alias...)
		b := ctHarness(t)
		want := b.runOrWatch(tt.ct...)
		if diff := cmp.Diff(want, got); diff != "" || want.Code != 0 {
			t.Errorf("nflab %q = exit %d; (-nflab %q +alias):\n%s", tt.alias, want.Code, tt.ct, diff)
		}
		if tt.alias[len(tt.alias)-1] == "-h" {
			continue
		}
		if diff := cmp.Diff(b.rec.Calls(), a.rec.Calls()); diff != "" {
			t.Errorf("nflab %q: calls (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.rec.filter, a.rec.filter, netipOpts); diff != "" {
			t.Errorf("nflab %q: filter (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.rec.tuple, a.rec.tuple, netipOpts); diff != "" {
			t.Errorf("nflab %q: tuple (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.rec.watch, a.rec.watch); diff != "" {
			t.Errorf("nflab %q: watch options (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.m.Conns(), a.m.Conns(), netipOpts); diff != "" {
			t.Errorf("nflab %q: table after (-ct +alias):\n%s", tt.alias, diff)
		}
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-L", "-D"}, `nflab: -L and -D are both commands; give one; run 'nflab help'`},
		{[]string{"-L", "--dump"}, `nflab: -L and --dump are both commands; give one; run 'nflab help'`},
		{[]string{"ct", "list", "-L"}, `nflab ct list: unknown shorthand flag: 'L' in -L; run 'nflab help ct list'`},
		{[]string{"stats", "-S"}, `nflab stats: unknown shorthand flag: 'S' in -S; run 'nflab help stats'`},
		{[]string{"-L", "--icmp-id", "1"}, `nflab ct list: unknown flag: --icmp-id; run 'nflab help ct list'`},
		{[]string{"-L", "extra"}, `nflab ct list: unexpected argument "extra"; run 'nflab help ct list'`},
		{[]string{"-Lptcp", "-D"}, `nflab: -L and -D are both commands; give one; run 'nflab help'`},
		{[]string{"--dump=true"}, `nflab: --dump takes no value; run 'nflab help'`},
		{[]string{"-o", "json", "--event=false"}, `nflab: --event takes no value; run 'nflab help'`},
	} {
		got := runNoDial(t, tt.args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestConntrackSpellings checks numeric protocols and conntrack's names
// of the filter and tuple flags.
func TestConntrackSpellings(t *testing.T) {
	tests := []struct {
		args []string
		want nftypes.ConnFilter
	}{
		{[]string{"-p", "6"}, nftypes.ConnFilter{Proto: nftypes.TCP}},
		{[]string{"-p", "17"}, nftypes.ConnFilter{Proto: nftypes.UDP}},
		{[]string{"-p", "1"}, nftypes.ConnFilter{Proto: nftypes.ICMP}},
		{[]string{"--proto=ICMP"}, nftypes.ConnFilter{Proto: nftypes.ICMP}},
		{[]string{"--orig-src", "10.0.1.2", "--orig-dst", "10.0.0.0/16"}, nftypes.ConnFilter{
			Src: netip.MustParsePrefix("10.0.1.2/32"), Dst: netip.MustParsePrefix("10.0.0.0/16")}},
		{[]string{"-p", "6", "--orig-port-src", "1", "--orig-port-dst=2"}, nftypes.ConnFilter{Proto: nftypes.TCP, SrcPort: 1, DstPort: 2}},
		{[]string{"-u", "ASSURED"}, nftypes.ConnFilter{Status: nftypes.StatusAssured}},
		{[]string{"-ptcp", "-s10.0.0.0/8"}, nftypes.ConnFilter{Proto: nftypes.TCP, Src: netip.MustParsePrefix("10.0.0.0/8")}},
	}
	for _, tt := range tests {
		h := ctHarness(t)
		got := h.run(append([]string{"ct", "list"}, tt.args...)...)
		if got.Code != 0 {
			t.Errorf("nflab ct list %q = %+v", tt.args, got)
			continue
		}
		if diff := cmp.Diff(&tt.want, h.rec.filter, netipOpts); diff != "" {
			t.Errorf("nflab ct list %q: filter (-want +got):\n%s", tt.args, diff)
		}
	}
	h := ctHarness(t)
	got := h.run("ct", "get", "-p", "17", "--orig-src", "10.0.1.2", "--orig-dst", "10.0.2.2", "--orig-port-src", "5000", "--orig-port-dst", "9999")
	if got.Code != 0 {
		t.Fatalf("ct get with conntrack's spellings: %+v", got)
	}
	if diff := cmp.Diff(&udpConn.Orig, h.rec.tuple, netipOpts); diff != "" {
		t.Errorf("tuple (-want +got):\n%s", diff)
	}
}

// TestRepeatedFlags checks that a flag given twice is refused, not
// silently overridden, and that --timeout repeats.
func TestRepeatedFlags(t *testing.T) {
	tests := []struct {
		args []string
		flag string
	}{
		{[]string{"ct", "list", "-p", "tcp", "-p", "udp"}, "--proto"},
		{[]string{"ct", "list", "-p", "tcp", "--proto", "tcp"}, "--proto"},
		{[]string{"ct", "list", "-s", "10.0.0.1", "--orig-src", "10.0.0.2"}, "--src"},
		{[]string{"ct", "list", "-d", "10.0.0.1", "--dst", "10.0.0.2"}, "--dst"},
		{[]string{"ct", "list", "-p", "tcp", "--sport", "1", "--orig-port-src", "2"}, "--sport"},
		{[]string{"ct", "list", "-p", "tcp", "--dport", "1", "--dport", "2"}, "--dport"},
		{[]string{"ct", "list", "--state", "CLOSE", "--state", "CLOSE"}, "--state"},
		{[]string{"ct", "list", "-u", "ASSURED", "--status", "DYING"}, "--status"},
		{[]string{"ct", "get", "--icmp-id", "1", "--icmp-id", "2"}, "--icmp-id"},
		{[]string{"ct", "get", "--icmp-type", "1", "--icmp-type", "2"}, "--icmp-type"},
		{[]string{"-o", "json", "stats", "-o", "table"}, "--output"},
		{[]string{"stats", "-o", "json", "--output=json"}, "--output"},
		{[]string{"stats", "--reset", "--reset"}, "--reset"},
		{[]string{"ct", "config", "--limit", "1", "--limit", "2"}, "--limit"},
		{[]string{"ct", "config", "--tcp-loose", "--tcp-loose=false"}, "--tcp-loose"},
		{[]string{"ct", "events", "-b", "1", "--buffer-size", "2"}, "--buffer-size"},
		{[]string{"-L", "-p", "tcp", "-p", "udp"}, "--proto"},
		{[]string{"-n", "a", "stats", "--netns", "b"}, "--netns"},
	}
	for _, tt := range tests {
		got := runNoDial(t, tt.args...)
		if got.Code != 2 || !strings.Contains(got.Stderr, ": "+tt.flag+" given twice; it takes one value; run 'nflab help ") {
			t.Errorf("nflab %q = %+v; want a usage error naming %s", tt.args, got, tt.flag)
		}
	}
	h := newHarness(t, fakemod.Options{})
	got := h.run("ct", "config", "--timeout", "icmp=5", "--timeout", "udp_assured=6")
	if cfg := h.m.Config(); got.Code != 0 || len(h.rec.config.Timeouts) != 2 ||
		cfg.Timeouts[nftypes.TimeoutICMP] != 5*time.Second || cfg.Timeouts[nftypes.TimeoutUDPAssured] != 6*time.Second {
		t.Errorf("repeated --timeout = %+v, config %+v", got, h.rec.config)
	}
}

func TestEventsBufferSize(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, 0},
		{[]string{"--buffer-size", "212992"}, 212992},
		{[]string{"-b", "64k"}, 64 << 10},
		{[]string{"--buffer-size=4M"}, 4 << 20},
		{[]string{"-b", "1G"}, 1 << 30},
	} {
		h := ctHarness(t)
		got := h.runOrWatch(append([]string{"ct", "events"}, tt.args...)...)
		if got.Code != 0 || h.rec.watch == nil || h.rec.watch.ReadBuffer != tt.want {
			t.Errorf("nflab ct events %q = %+v, options %+v; want ReadBuffer %d", tt.args, got, h.rec.watch, tt.want)
		}
	}
	for _, v := range []string{"0", "-1", "2G", "1.5M", "4T", "lots", ""} {
		got := runNoDial(t, "ct", "events", "--buffer-size", v)
		want := `nflab ct events: invalid value "` + v + `" for --buffer-size: want a size in bytes under 2G, such as 4194304 or 4M; run 'nflab help ct events'` + "\n"
		if diff := cmp.Diff(result{2, "", want}, got); diff != "" {
			t.Errorf("--buffer-size %q (-want +got):\n%s", v, diff)
		}
	}
}

// TestCTCountFilter checks that a filtered count lists and counts.
func TestCTCountFilter(t *testing.T) {
	h := ctHarness(t)
	got := h.run("ct", "count", "-p", "tcp", "-o", "json")
	if diff := cmp.Diff(result{0, `{"count":2,"limit":65536}` + "\n", ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ConnCount", "Conns", "Close"}, h.rec.Calls()); diff != "" || h.rec.filter.Proto != nftypes.TCP {
		t.Errorf("filter %+v, calls (-want +got):\n%s", h.rec.filter, diff)
	}
}

func TestBareJSON(t *testing.T) {
	for _, args := range [][]string{{"-o", "json"}, {"--output=json"}, {"-ojson"}} {
		got := newHarness(t, fakemod.Options{}).run(args...)
		want := `{"client":"` + version + `","module":"` + fakemod.Version + `","protocol":` + protocol + `,` + strings.TrimPrefix(wantHooksJSON, "{")
		if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
}

func TestVersionWithoutModule(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	h.m.Unload()
	got := h.run("version")
	if diff := cmp.Diff(result{0, "client:   " + version + "\nmodule:   not loaded\n", ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = h.run("version", "-o", "json")
	if diff := cmp.Diff(result{0, `{"client":"` + version + `"}` + "\n", ""}, got); diff != "" {
		t.Errorf("-o json (-want +got):\n%s", diff)
	}
	// Other failures still fail.
	got = runDialErr(t, errors.New("socket: too many open files"), "version")
	if diff := cmp.Diff(result{1, "", "nflab: connecting to the module: socket: too many open files\n"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestUnknownEnums checks that values this client cannot name are numbers
// in JSON and tables, never Go syntax such as TCPState(12): a module of
// the next protocol version holds an entry with a TCP state and a status
// bit this client does not know.
func TestUnknownEnums(t *testing.T) {
	state := strconv.Itoa(int(fakemod.NextConn.TCPState))
	h := newHarness(t, fakemod.Options{Next: true})
	got := h.run("ct", "list", "-o", "json")
	want := `{"entries":[{"id":1000,"proto":"tcp","orig":{"src":"10.9.9.1","dst":"10.9.9.2","sport":4000,"dport":80},"reply":{"src":"10.9.9.2","dst":"10.9.9.1","sport":80,"dport":4000},"tcp_state":` + state + `,"status":["CONFIRMED","0x100000"],"timeout":60,"packets_orig":0,"bytes_orig":0,"packets_reply":0,"bytes_reply":0}]}` + "\n"
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("ct list -o json (-want +got):\n%s", diff)
	}
	got = h.run("ct", "list")
	if got.Code != 0 || strings.Contains(got.Stdout, "(") || !strings.Contains(got.Stdout, "  "+state+"  ") {
		t.Errorf("ct list shows Go syntax, or not the state's number:\n%s", got.Stdout)
	}
	got = h.watch(func() { h.m.Emit(nftypes.EventNew, fakemod.NextConn) }, func(stdout, _ string) bool { return stdout != "" }, "ct", "events", "-o", "json")
	if want := `{"type":"new","entry":` + strings.TrimSuffix(strings.TrimPrefix(want, `{"entries":[`), "]}\n") + "}\n"; got.Stdout != want {
		t.Errorf("ct events -o json = %+v, want %s", got, want)
	}

	// The fake module knows every hook and timeout; the output layer is
	// checked alone for those.
	var b bytes.Buffer
	so := statsOutput([]nftypes.HookStat{{Hook: 7, Packets: 1, Bytes: 2}})
	if err := writeJSON(&b, so.json); err != nil || b.String() != `{"hooks":[{"hook":7,"packets":1,"bytes":2}]}`+"\n" {
		t.Errorf("hooks JSON %q, %v", b.String(), err)
	}
	b.Reset()
	if so.table(&b); b.String() != "HOOK  PACKETS  BYTES\n7     1        2\n" {
		t.Errorf("hooks table %q", b.String())
	}
	b.Reset()
	timeouts := jsonTimeouts{nftypes.TimeoutICMP: time.Second, 99: 2 * time.Second, 42: 3 * time.Second}
	if err := writeJSON(&b, timeouts); err != nil || b.String() != `{"icmp":1,"42":3,"99":2}`+"\n" {
		t.Errorf("timeouts JSON %q, %v", b.String(), err)
	}
	var proto bytes.Buffer
	if err := writeJSON(&proto, connJSON(nftypes.Conn{Orig: nftypes.Tuple{Proto: 132}})); err != nil || !strings.Contains(proto.String(), `"proto":132,`) {
		t.Errorf("unknown protocol in JSON: %s", proto.String())
	}
}

// TestWriteErrors checks that a failed write on stdout, wherever it
// happens, gives exit status 1 and says so.
func TestWriteErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"stats"}, {"stats", "-o", "json"}, {"version"}, {"ct", "list"}, {"ct", "list", "-o", "json"},
		{"ct", "config"}, {"--help"}, {"help", "ct"}, {"completion", "bash"}, {"completion", "zsh"},
	} {
		for _, err := range []error{syscall.EPIPE, syscall.ENOSPC} {
			var stderr bytes.Buffer
			code := ctHarness(t).app(&failWriter{err: err}, &stderr).run(context.Background(), args)
			want := "nflab: writing output: " + err.Error() + "\n"
			if code != 1 || stderr.String() != want {
				t.Errorf("nflab %q: exit %d, stderr %q; want 1, %q", args, code, stderr.String(), want)
			}
		}
	}
}

// TestMain runs main when the test binary is started as nflab by
// TestMainWriteErrors.
func TestMain(m *testing.M) {
	if os.Getenv("NFLAB_TEST_MAIN") == "1" {
		os.Args[0] = "nflab"
		main()
	}
	os.Exit(m.Run())
}

// TestMainWriteErrors runs the command with stdout on a closed pipe and on
// a full disk: it must exit 1 with a message, not die of SIGPIPE.
func TestMainWriteErrors(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := func(stdout *os.File) (int, string) {
		c := exec.Command(exe, "completion", "bash")
		c.Env = append(os.Environ(), "NFLAB_TEST_MAIN=1")
		var stderr bytes.Buffer
		c.Stdout, c.Stderr = stdout, &stderr
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return c.ProcessState.ExitCode(), stderr.String()
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	code, stderr := cmd(w)
	w.Close()
	if want := "nflab: writing output: write /dev/stdout: broken pipe\n"; code != 1 || stderr != want {
		t.Errorf("closed pipe: exit %d, stderr %q; want 1, %q", code, stderr, want)
	}

	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	code, stderr = cmd(full)
	if want := "nflab: writing output: write /dev/stdout: no space left on device\n"; code != 1 || stderr != want {
		t.Errorf("/dev/full: exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
}

func TestModuleHint(t *testing.T) {
	generic := "build it with 'make module' in the nflab checkout, then load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod CHECKOUT/kmod/nflab.ko'"
	if got := hintFor(nil); got != generic {
		t.Errorf("no checkout: %q", got)
	}
	dir := t.TempDir()
	for _, f := range []string{"Kbuild", "kmod/main.c", "nlproto/nflab.h"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := t.TempDir()
	want := "build it with 'make -C " + dir + " module', then load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod " + dir + "/kmod/nflab.ko'"
	if got := hintFor([]string{other, dir}); got != want {
		t.Errorf("checkout without nflab.ko:\n got %q\nwant %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "kmod/nflab.ko"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want = "load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod " + dir + "/kmod/nflab.ko'"
	if got := hintFor([]string{other, dir}); got != want {
		t.Errorf("built checkout:\n got %q\nwant %q", got, want)
	}
	// The hint this test binary gives names an absolute path: it was
	// built in a checkout (unless with -trimpath).
	if _, file, _, _ := runtime.Caller(0); filepath.IsAbs(file) {
		if got := moduleHint(); !strings.Contains(got, "insmod /") {
			t.Errorf("moduleHint() = %q, want an absolute path", got)
		}
	}
	// And the CLI uses it.
	h := newHarness(t, fakemod.Options{})
	h.m.Unload()
	var stderr bytes.Buffer
	a := h.app(&bytes.Buffer{}, &stderr)
	a.hint = func() string { return want }
	if code := a.run(context.Background(), []string{"stats"}); code != 1 || stderr.String() != "nflab: kernel module is not loaded; "+want+"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// runOrWatch runs a command line; one that watches events (ct events,
// trace and trace watch) is interrupted as soon as it listens.
func (h *harness) runOrWatch(args ...string) result {
	if watches(args) && !slices.Contains(args, "-h") && !slices.Contains(args, "--help") {
		return h.watch(func() {}, func(string, string) bool { return true }, args...)
	}
	return h.run(args...)
}

// watches reports whether a command line watches events.
func watches(args []string) bool {
	for i, a := range args {
		switch a {
		case "events", "-E", "--event":
			return true
		case "trace":
			return i+1 == len(args) || !slices.Contains([]string{"add", "list", "delete"}, args[i+1])
		}
	}
	return false
}

func TestNetns(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	got := h.run("-n", "/proc/self/ns/net", "stats")
	if got.Code != 0 || got.Stdout != wantTable || h.opts == nil || h.opts.NetNS <= 0 {
		t.Errorf("-n /proc/self/ns/net stats = %+v, dial options %+v", got, h.opts)
	}
	got = h.run("stats", "--netns=/proc/self/ns/net", "-o", "json")
	if got.Code != 0 || got.Stdout != wantHooksJSON || h.opts == nil || h.opts.NetNS <= 0 {
		t.Errorf("--netns after the command = %+v, dial options %+v", got, h.opts)
	}
	if got := h.run("stats"); got.Code != 0 || h.opts != nil {
		t.Errorf("without -n: %+v, dial options %+v; want none", got, h.opts)
	}

	name := "nflab-test-no-such-namespace"
	got = h.run("-n", name, "ct", "list")
	want := "nflab: opening network namespace " + name + ": open " + netnsDir + "/" + name + ": no such file or directory\n"
	if diff := cmp.Diff(result{1, "", want}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := runNoDial(t, "-n", "", "stats"); got.Code != 2 {
		t.Errorf("-n '' = %+v, want a usage error", got)
	}
}

// TestNamesFromHeader checks that the names the flags take, complete and
// list in their help and errors are nflab.h's, through the library, and
// that a value the header does not name is a number.
func TestNamesFromHeader(t *testing.T) {
	// Written out, not taken from the tables: scripts depend on them.
	for _, tt := range []struct {
		what      string
		got, want []string
	}{
		{"TCP states", stateNames(), []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
			"FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}},
		{"status bits", statusNames, []string{"SEEN_REPLY", "ASSURED", "CONFIRMED", "DYING", "SRC_NAT", "DST_NAT"}},
		{"timeouts", timeoutNames(), []string{"tcp_syn_sent", "tcp_syn_recv", "tcp_established",
			"tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait", "tcp_close",
			"udp_unreplied", "udp_assured", "icmp", "tcp_retrans", "tcp_unack"}},
		{"protocols", protoNames(), []string{"tcp", "udp", "icmp"}},
	} {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +cli):\n%s", tt.what, diff)
		}
	}
	for _, h := range nlproto.EnumHook.Names {
		if got := enumOf(nftypes.Hook(h.Value)).String(); got != h.Short {
			t.Errorf("hook %d = %q, want %q", h.Value, got, h.Short)
		}
	}
	for _, e := range nlproto.EnumCmd.Sub("CT_EVENT_").Names {
		typ := nftypes.EventNew + nftypes.ConnEventType(e.Value-nlproto.EnumCmd.Sub("CT_EVENT_").Names[0].Value)
		if got := enumOf(typ).String(); got != e.Lower() {
			t.Errorf("event %s = %q", e.C, got)
		}
	}
	unknown := []enum{
		enumOf(nftypes.TCPState(len(nlproto.EnumTCPState.Names))),
		enumOf(nftypes.Hook(len(nlproto.EnumHook.Names))),
		enumOf(nftypes.Timeout(len(nlproto.EnumCTTimeoutAttr.Names))),
		enumOf(nftypes.Proto(132)),
		enumOf(nftypes.ConnEventType(200)),
	}
	for _, e := range unknown {
		if b, _ := e.MarshalJSON(); e.name != "" || string(b) != strconv.FormatUint(e.num, 10) {
			t.Errorf("unknown value %d: name %q, JSON %s", e.num, e.name, b)
		}
	}
	// The help and errors list them.
	got := runNoDial(t, "ct", "list", "--status", "BOGUS")
	if want := "want " + orList(nlproto.EnumCTStatus.Shorts()) + ", separated by commas"; !strings.Contains(got.Stderr, want) {
		t.Errorf("--status error %q lacks %q", got.Stderr, want)
	}
	help := runNoDial(t, "ct", "list", "--help").Stdout
	for _, want := range []string{strings.Join(nlproto.EnumCTStatus.Shorts(), ","), strings.Join(nlproto.EnumTCPState.Shorts(), ", ")} {
		if !strings.Contains(help, want) {
			t.Errorf("ct list --help lacks %q", want)
		}
	}
}

// TestHookDropNames checks that stats names its drop counters as nflab.h's
// NFLAB_HOOK_A_DROP_* and UNSEEN_AFTER, in the same order, in JSON and in
// the -v table.
func TestHookDropNames(t *testing.T) {
	var want []string
	for _, n := range nlproto.EnumHookAttr.Names {
		if n.Value >= nlproto.HOOK_A_DROP_RULE {
			want = append(want, n.Lower())
		}
	}
	typ := reflect.TypeFor[jsonHook]()
	var got []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if i >= 3 {
			got = append(got, name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON keys (-nflab.h +got):\n%s", diff)
	}
	header := strings.Fields(strings.SplitN(newHarness(t, fakemod.Options{}).run("stats", "-v").Stdout, "\n", 2)[0])
	if diff := cmp.Diff(want, strings.Split(strings.ToLower(strings.Join(header[3:], " ")), " ")); diff != "" {
		t.Errorf("table columns (-nflab.h +got):\n%s", diff)
	}
}

// TestCTStatsNames checks that ct stats names its counters as nflab.h's
// NFLAB_CT_STATS_A_* do, in the same order.
func TestCTStatsNames(t *testing.T) {
	var want []string
	for _, n := range nlproto.EnumCTStatsAttr.Names {
		if n.Short != "UNSPEC" && n.Short != "PAD" {
			want = append(want, n.Lower())
		}
	}
	got := newHarness(t, fakemod.Options{}).run("ct", "stats")
	var rows []string
	for l := range strings.Lines(got.Stdout) {
		rows = append(rows, strings.Fields(l)[0])
	}
	if got.Code != 0 || len(rows) == 0 || rows[0] != "COUNTER" {
		t.Fatalf("ct stats = %+v", got)
	}
	if diff := cmp.Diff(want, rows[1:]); diff != "" {
		t.Errorf("table rows (-nflab.h +got):\n%s", diff)
	}
	var js bytes.Buffer
	if err := writeJSON(&js, jsonCTStats{}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range strings.Split(strings.Trim(js.String(), "{}\n"), ",") {
		keys = append(keys, strings.Trim(strings.Split(kv, ":")[0], `"`))
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("JSON keys (-nflab.h +got):\n%s", diff)
	}
}
