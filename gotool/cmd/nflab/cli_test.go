package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	nflab "github.com/nflab/nflab/gotool"
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
	}
	for _, tt := range tests {
		a, b := eventsFake(), eventsFake()
		got, want := runWith(t, a, nil, tt.alias...), runWith(t, b, nil, tt.ct...)
		if diff := cmp.Diff(want, got); diff != "" || want.Code != 0 {
			t.Errorf("nflab %q = exit %d; (-nflab %q +alias):\n%s", tt.alias, want.Code, tt.ct, diff)
		}
		if diff := cmp.Diff(b.calls, a.calls); diff != "" {
			t.Errorf("nflab %q: calls (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.gotFilter, a.gotFilter, netipOpts); diff != "" {
			t.Errorf("nflab %q: filter (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.gotTuple, a.gotTuple, netipOpts); diff != "" {
			t.Errorf("nflab %q: tuple (-ct +alias):\n%s", tt.alias, diff)
		}
		if diff := cmp.Diff(b.gotWatch, a.gotWatch); diff != "" {
			t.Errorf("nflab %q: watch options (-ct +alias):\n%s", tt.alias, diff)
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
	} {
		got := runWith(t, nil, nil, tt.args...)
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
		want nflab.CTFilter
	}{
		{[]string{"-p", "6"}, nflab.CTFilter{Proto: nflab.TCP}},
		{[]string{"-p", "17"}, nflab.CTFilter{Proto: nflab.UDP}},
		{[]string{"-p", "1"}, nflab.CTFilter{Proto: nflab.ICMP}},
		{[]string{"--proto=ICMP"}, nflab.CTFilter{Proto: nflab.ICMP}},
		{[]string{"--orig-src", "10.0.1.2", "--orig-dst", "10.0.0.0/16"}, nflab.CTFilter{
			Src: netip.MustParsePrefix("10.0.1.2/32"), Dst: netip.MustParsePrefix("10.0.0.0/16")}},
		{[]string{"-p", "6", "--orig-port-src", "1", "--orig-port-dst=2"}, nflab.CTFilter{Proto: nflab.TCP, SrcPort: 1, DstPort: 2}},
		{[]string{"-u", "ASSURED"}, nflab.CTFilter{Status: nflab.StatusAssured}},
		{[]string{"-ptcp", "-s10.0.0.0/8"}, nflab.CTFilter{Proto: nflab.TCP, Src: netip.MustParsePrefix("10.0.0.0/8")}},
	}
	for _, tt := range tests {
		fake := ctFake()
		got := runWith(t, fake, nil, append([]string{"ct", "list"}, tt.args...)...)
		if got.Code != 0 {
			t.Errorf("nflab ct list %q = %+v", tt.args, got)
			continue
		}
		if diff := cmp.Diff(&tt.want, fake.gotFilter, netipOpts); diff != "" {
			t.Errorf("nflab ct list %q: filter (-want +got):\n%s", tt.args, diff)
		}
	}
	fake := ctFake()
	got := runWith(t, fake, nil, "ct", "get", "-p", "17", "--orig-src", "10.0.1.2", "--orig-dst", "10.0.2.2", "--orig-port-src", "5000", "--orig-port-dst", "9999")
	if got.Code != 0 {
		t.Fatalf("ct get with conntrack's spellings: %+v", got)
	}
	if diff := cmp.Diff(&udpConn.Orig, fake.gotTuple, netipOpts); diff != "" {
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
	}
	for _, tt := range tests {
		got := runWith(t, nil, nil, tt.args...)
		if got.Code != 2 || !strings.Contains(got.Stderr, ": "+tt.flag+" given twice; it takes one value; run 'nflab help ") {
			t.Errorf("nflab %q = %+v; want a usage error naming %s", tt.args, got, tt.flag)
		}
	}
	fake := newFake()
	got := runWith(t, fake, nil, "ct", "config", "--timeout", "icmp=5", "--timeout", "udp_assured=6")
	if got.Code != 0 || len(fake.gotConfig.Timeouts) != 2 {
		t.Errorf("repeated --timeout = %+v, config %+v", got, fake.gotConfig)
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
		fake := eventsFake()
		fake.events = nil
		got := runWith(t, fake, nil, append([]string{"ct", "events"}, tt.args...)...)
		if got.Code != 0 || fake.gotWatch == nil || fake.gotWatch.ReadBuffer != tt.want {
			t.Errorf("nflab ct events %q = %+v, options %+v; want ReadBuffer %d", tt.args, got, fake.gotWatch, tt.want)
		}
	}
	for _, v := range []string{"0", "-1", "2G", "1.5M", "4T", "lots", ""} {
		got := runWith(t, nil, nil, "ct", "events", "--buffer-size", v)
		want := `nflab ct events: invalid value "` + v + `" for --buffer-size: want a size in bytes under 2G, such as 4194304 or 4M; run 'nflab help ct events'` + "\n"
		if diff := cmp.Diff(result{2, "", want}, got); diff != "" {
			t.Errorf("--buffer-size %q (-want +got):\n%s", v, diff)
		}
	}
}

// TestCTCountFilter checks that a filtered count lists and counts.
func TestCTCountFilter(t *testing.T) {
	fake := ctFake()
	fake.n, fake.limit = 10, 100
	got := runWith(t, fake, nil, "ct", "count", "-p", "tcp", "-o", "json")
	if diff := cmp.Diff(result{0, `{"count":4,"limit":100}` + "\n", ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ConnCount", "Conns"}, fake.calls); diff != "" || fake.gotFilter.Proto != nflab.TCP {
		t.Errorf("filter %+v, calls (-want +got):\n%s", fake.gotFilter, diff)
	}
}

func TestBareJSON(t *testing.T) {
	for _, args := range [][]string{{"-o", "json"}, {"--output=json"}, {"-ojson"}} {
		got := runWith(t, newFake(), nil, args...)
		want := `{"client":"` + version + `","module":"0.1.0","protocol":1,"hooks":[` +
			`{"hook":"PRE_ROUTING","packets":12,"bytes":1008},` +
			`{"hook":"LOCAL_IN","packets":12,"bytes":1008},` +
			`{"hook":"FORWARD","packets":0,"bytes":0},` +
			`{"hook":"LOCAL_OUT","packets":1234567,"bytes":18446744073709551615},` +
			`{"hook":"POST_ROUTING","packets":7,"bytes":588}]}` + "\n"
		if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
}

func TestVersionWithoutModule(t *testing.T) {
	got := runWith(t, nil, nflab.ErrNotLoaded, "version")
	if diff := cmp.Diff(result{0, "client:   " + version + "\nmodule:   not loaded\n", ""}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = runWith(t, nil, nflab.ErrNotLoaded, "version", "-o", "json")
	if diff := cmp.Diff(result{0, `{"client":"` + version + `"}` + "\n", ""}, got); diff != "" {
		t.Errorf("-o json (-want +got):\n%s", diff)
	}
	// Other failures still fail, after the client's version.
	got = runWith(t, nil, errors.New("socket: too many open files"), "version")
	if diff := cmp.Diff(result{1, "", "nflab: connecting to the module: socket: too many open files\n"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestUnknownEnums checks that values this client cannot name are numbers
// in JSON and tables, never Go syntax such as TCPState(12).
func TestUnknownEnums(t *testing.T) {
	odd := tcpConn
	odd.TCPState = 12
	odd.Status |= 0x100
	odd.Reply.Proto = 6
	fake := newFake()
	fake.conns = []nflab.Conn{odd}
	fake.stats = []nflab.HookStat{{Hook: 7, Packets: 1, Bytes: 2}}
	fake.ctConfig = nflab.CTConfig{Limit: ptr(uint32(5)), TCPLoose: ptr(false), Timeouts: map[nflab.CTTimeout]time.Duration{
		nflab.TimeoutICMP: time.Second, 99: 2 * time.Second, 42: 3 * time.Second,
	}}
	fake.events = []nflab.CTEvent{{Type: nflab.CTEventNew, Conn: odd}}

	want := map[string]string{
		"ct list":   `{"entries":[{"id":2,"proto":"tcp","orig":{"src":"10.0.1.2","dst":"10.0.2.2","sport":40000,"dport":80},"reply":{"src":"10.0.2.2","dst":"10.0.1.2","sport":80,"dport":40000},"tcp_state":12,"status":["SEEN_REPLY","ASSURED","CONFIRMED","0x100"],"timeout":431999,"packets_orig":6,"bytes_orig":412,"packets_reply":4,"bytes_reply":5300,"start":"2026-11-25T21:00:01Z"}]}` + "\n",
		"stats":     `{"hooks":[{"hook":7,"packets":1,"bytes":2}]}` + "\n",
		"ct config": `{"limit":5,"tcp_loose":false,"timeouts":{"icmp":1,"42":3,"99":2}}` + "\n",
	}
	for cmd, w := range want {
		got := runWith(t, fake, nil, append(strings.Fields(cmd), "-o", "json")...)
		if diff := cmp.Diff(result{0, w, ""}, got); diff != "" {
			t.Errorf("nflab %s -o json (-want +got):\n%s", cmd, diff)
		}
	}
	for _, args := range [][]string{{"ct", "list"}, {"stats"}, {"ct", "config"}, {"ct", "events"}, {"ct", "events", "-o", "json"}} {
		got := runWith(t, fake, nil, args...)
		if got.Code != 0 || strings.Contains(got.Stdout, "(") {
			t.Errorf("nflab %q shows Go syntax:\n%s", args, got.Stdout)
		}
	}
	if got := runWith(t, fake, nil, "ct", "list").Stdout; !strings.Contains(got, "  12  ") {
		t.Errorf("ct list does not show state 12:\n%s", got)
	}

	odd.Orig.Proto, odd.Reply.Proto = 132, 132
	fake.conns = []nflab.Conn{odd}
	got := runWith(t, fake, nil, "ct", "list", "-o", "json")
	if !strings.Contains(got.Stdout, `"proto":132,`) || strings.Contains(got.Stdout, "Proto(") {
		t.Errorf("unknown protocol in JSON:\n%s", got.Stdout)
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
			fake := ctFake()
			fake.ctConfig = nflab.CTConfig{Limit: ptr(uint32(5)), TCPLoose: ptr(true)}
			a := &app{stdout: &recWriter{w: &failWriter{err: err}}, stderr: &stderr, dial: func() (client, error) { return fake, nil }}
			code := a.run(context.Background(), args)
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
	generic := "build it with 'make module' in the nflab checkout, then load it with 'modprobe nf_defrag_ipv4 && insmod CHECKOUT/kmod/nflab.ko'"
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
	want := "build it with 'make -C " + dir + " module', then load it with 'modprobe nf_defrag_ipv4 && insmod " + dir + "/kmod/nflab.ko'"
	if got := hintFor([]string{other, dir}); got != want {
		t.Errorf("checkout without nflab.ko:\n got %q\nwant %q", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "kmod/nflab.ko"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want = "load it with 'modprobe nf_defrag_ipv4 && insmod " + dir + "/kmod/nflab.ko'"
	if got := hintFor([]string{other, dir}); got != want {
		t.Errorf("built checkout:\n got %q\nwant %q", got, want)
	}
	// The hint this test binary gives names an absolute path: it was
	// built in a checkout.
	if got := moduleHint(); !strings.Contains(got, "insmod /") {
		t.Errorf("moduleHint() = %q, want an absolute path", got)
	}
	// And the CLI uses it.
	var stderr bytes.Buffer
	a := &app{stdout: &recWriter{w: &bytes.Buffer{}}, stderr: &stderr, hint: func() string { return want },
		dial: func() (client, error) { return nil, nflab.ErrNotLoaded }}
	if code := a.run(context.Background(), []string{"stats"}); code != 1 || stderr.String() != "nflab: kernel module is not loaded; "+want+"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
