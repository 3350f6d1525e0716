//go:build linux

package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// waitUntil polls cond, for the scripts of watches.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

// expiresMS stands for the time a trace has left, which runs.
var expiresMS = regexp.MustCompile(`"expires_ms":\d+`)

func normExpires(s string) string { return expiresMS.ReplaceAllString(s, `"expires_ms":X`) }

// tableFields splits a table into its lines' fields, with X for the
// EXPIRES column's, whose time runs: "1m29s", then "1m28s".
func tableFields(s string) [][]string {
	var rows [][]string
	for l := range strings.Lines(s) {
		f := strings.Fields(l)
		if len(rows) > 0 && len(f) > 3 {
			f[len(f)-3] = "X"
		}
		rows = append(rows, f)
	}
	return rows
}

func TestTraceAddListDelete(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	got := h.run("trace", "add", "--budget", "5", "--timeout", "30s", "tcp", "dst", "port", "22")
	if diff := cmp.Diff(result{0, "1\n", ""}, got); diff != "" {
		t.Errorf("trace add (-want +got):\n%s", diff)
	}
	want := nftypes.TraceSpec{Selector: nftypes.TraceSelector{Proto: nftypes.TCP, DstPort: 22}, Budget: 5, Timeout: 30 * time.Second}
	if diff := cmp.Diff(&want, h.rec.spec, netipOpts); diff != "" {
		t.Errorf("trace add's spec (-want +got):\n%s", diff)
	}
	got = h.run("trace", "add", "-o", "json", "--timeout=90", "udp and host 10.0.2.2")
	got.Stdout = normExpires(got.Stdout)
	wantJSON := `{"id":2,"selector":"udp and host 10.0.2.2","budget":100,"left":100,"timeout":90,"expires_ms":X,"events":0,"lost":0}` + "\n"
	if diff := cmp.Diff(result{0, wantJSON, ""}, got); diff != "" {
		t.Errorf("trace add -o json (-want +got):\n%s", diff)
	}

	// The module counts what trace 1 lost: nobody listens, so its two
	// events are lost with the two of the gap.
	e := withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew)
	e.Trace = 1
	h.m.EmitTrace(e)
	e = ev(0, nftypes.LocalIn, accept, syn, SYN)
	e.Trace, e.Seq = 1, 4
	h.m.EmitTrace(e)
	h.m.StartTrace(nftypes.TraceSpec{}) // every packet
	got = h.run("trace", "list")
	wantTable := `ID  SELECTOR               LEFT/BUDGET  EXPIRES  EVENTS  LOST
1   tcp and dst port 22    4/5          29s      0       4
2   udp and host 10.0.2.2  100/100      1m29s    0       0
3   (every packet)         100/100      59s      0       0
`
	if diff := cmp.Diff(tableFields(wantTable), tableFields(got.Stdout)); diff != "" || got.Code != 0 || got.Stderr != "" {
		t.Errorf("trace list = %+v (-want +got):\n%s", got, diff)
	}
	if !strings.HasPrefix(got.Stdout, "ID  SELECTOR               LEFT/BUDGET  EXPIRES  EVENTS  LOST\n1   tcp and dst port 22    4/5          ") {
		t.Errorf("trace list's columns:\n%s", got.Stdout)
	}
	got = h.run("trace", "list", "-o", "json")
	got.Stdout = normExpires(got.Stdout)
	wantJSON = `{"traces":[` +
		`{"id":1,"selector":"tcp and dst port 22","budget":5,"left":4,"timeout":30,"expires_ms":X,"events":0,"lost":4},` +
		`{"id":2,"selector":"udp and host 10.0.2.2","budget":100,"left":100,"timeout":90,"expires_ms":X,"events":0,"lost":0},` +
		`{"id":3,"selector":"","budget":100,"left":100,"timeout":60,"expires_ms":X,"events":0,"lost":0}]}` + "\n"
	if diff := cmp.Diff(result{0, wantJSON, ""}, got); diff != "" {
		t.Errorf("trace list -o json (-want +got):\n%s", diff)
	}

	got = h.run("trace", "delete", "1", "9", "1")
	if diff := cmp.Diff(result{1, "ended 1\n", "nflab: ending traces: no such trace: 9\n"}, got); diff != "" {
		t.Errorf("trace delete 1 9 (-want +got):\n%s", diff)
	}
	got = h.run("trace", "delete", "--all", "-o", "json")
	if diff := cmp.Diff(result{0, `{"ended":2}` + "\n", ""}, got); diff != "" {
		t.Errorf("trace delete --all (-want +got):\n%s", diff)
	}
	got = h.run("trace", "list")
	if diff := cmp.Diff(result{0, "ID  SELECTOR  LEFT/BUDGET  EXPIRES  EVENTS  LOST\n", ""}, got); diff != "" {
		t.Errorf("trace list, none (-want +got):\n%s", diff)
	}
	if got := h.run("trace", "list", "-o", "json"); got.Stdout != `{"traces":[]}`+"\n" {
		t.Errorf("trace list -o json, none = %+v", got)
	}
}

func TestTraceUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "tcp", "or", "udp"}, `nflab trace: selector: "or" is not supported: a trace follows the packets that one selector holds for; start a trace for each alternative; run 'nflab help trace'`},
		{[]string{"trace", "watch", "port", "53"}, `nflab trace watch: selector: "port 53": a port needs tcp or udp; say which, such as "tcp port 53" or "udp port 53"; run 'nflab help trace watch'`},
		{[]string{"trace", "add", "net", "10.0.0.1/8"}, `nflab trace add: selector: "10.0.0.1/8": bits are set past the prefix length; did you mean 10.0.0.0/8?; run 'nflab help trace add'`},
		{[]string{"trace", "add", "tcp and host 1.2.3.4 and host 1.2.3.5"}, `nflab trace add: selector: "host 1.2.3.5": the host is given twice (first "host 1.2.3.4"); a selector takes each condition once; run 'nflab help trace add'`},
		{[]string{"trace", "add"}, `nflab trace add: give a selector, such as 'tcp dst port 22'; run 'nflab help trace add'`},
		{[]string{"trace", "add", " "}, `nflab trace add: give a selector, such as 'tcp dst port 22'; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--budget", "0", "tcp"}, `nflab trace add: invalid value "0" for --budget: want a number of packets, 1-100000; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--budget", "100001", "tcp"}, `nflab trace add: invalid value "100001" for --budget: want a number of packets, 1-100000; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--budget", "1", "--budget", "2", "tcp"}, `nflab trace add: --budget given twice; it takes one value; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--timeout", "1500ms", "tcp"}, `nflab trace add: invalid value "1500ms" for --timeout: want whole seconds from 1s to 24h0m0s; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--timeout", "25h", "tcp"}, `nflab trace add: invalid value "25h" for --timeout: want whole seconds from 1s to 24h0m0s; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--timeout", "0", "tcp"}, `nflab trace add: invalid value "0" for --timeout: want whole seconds from 1s to 24h0m0s; run 'nflab help trace add'`},
		{[]string{"trace", "add", "--timeout", "soon", "tcp"}, `nflab trace add: invalid value "soon" for --timeout: want a duration such as 30s, 5m or 1h, or a number of seconds; run 'nflab help trace add'`},
		{[]string{"trace", "--budget", "5"}, `nflab trace: --budget and --timeout are a new trace's: give a selector, or use 'nflab trace add'; run 'nflab help trace'`},
		{[]string{"trace", "watch", "--timeout", "5"}, `nflab trace watch: --budget and --timeout are a new trace's: give a selector, or use 'nflab trace add'; run 'nflab help trace watch'`},
		{[]string{"trace", "--hooks", "-o", "json", "tcp"}, `nflab trace: --hooks does not apply to -o json, which writes every event; run 'nflab help trace'`},
		{[]string{"trace", "lsit"}, `nflab trace: unknown subcommand "lsit" (did you mean "list"?); a selector cannot start with it either; run 'nflab help trace'`},
		{[]string{"trace", "list", "tcp"}, `nflab trace list: unexpected argument "tcp"; run 'nflab help trace list'`},
		{[]string{"trace", "delete"}, `nflab trace delete: give the ids of the traces to end, or --all; run 'nflab help trace delete'`},
		{[]string{"trace", "delete", "--all", "3"}, `nflab trace delete: give trace ids or --all, not both; run 'nflab help trace delete'`},
		{[]string{"trace", "delete", "x"}, `nflab trace delete: "x" is not a trace id: ids are numbers from 1; run 'nflab help trace delete'`},
		{[]string{"trace", "delete", "0"}, `nflab trace delete: "0" is not a trace id: ids are numbers from 1; run 'nflab help trace delete'`},
	} {
		got := runNoDial(t, tt.args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestTraceOldModule: a module of protocol 5 has no traces; every trace
// command says so, and sends nothing.
func TestTraceOldModule(t *testing.T) {
	const why = "the loaded module is too old for packet traces: they need protocol 6, it speaks protocol 5; load a newer module\n"
	for _, tt := range []struct {
		args []string
		what string
	}{
		{[]string{"trace", "add", "tcp"}, "starting the trace"},
		{[]string{"trace", "list"}, "listing traces"},
		{[]string{"trace", "delete", "--all"}, "ending traces"},
		{[]string{"trace", "delete", "3"}, "ending traces"},
		{[]string{"trace", "tcp", "port", "22"}, "following the trace"},
		{[]string{"trace", "-o", "json"}, "watching traces"},
	} {
		h := newHarness(t, fakemod.Options{Protocol: 5})
		got := h.run(tt.args...)
		if diff := cmp.Diff(result{1, "", "nflab: " + tt.what + ": " + why}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		for _, cmd := range []uint8{nlproto.CMD_TRACE_NEW, nlproto.CMD_TRACE_DEL, nlproto.CMD_TRACE_GET} {
			if h.m.Requests(cmd) != 0 {
				t.Errorf("nflab %q sent command %d", tt.args, cmd)
			}
		}
	}
}

func TestTraceFailures(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	for range nftypes.MaxTraces {
		h.m.StartTrace(nftypes.TraceSpec{})
	}
	got := h.run("trace", "tcp", "port", "22")
	want := result{1, "", "nflab: add trace: no space left on device: too many traces in this namespace\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a 17th trace (-want +got):\n%s", diff)
	}
	h = newHarness(t, fakemod.Options{Unprivileged: true})
	for _, tt := range []struct {
		args []string
		what string
	}{
		{[]string{"trace", "udp"}, "following the trace"},
		{[]string{"trace"}, "watching traces"},
		{[]string{"trace", "add", "udp"}, "starting the trace"},
		{[]string{"trace", "list"}, "listing traces"},
	} {
		got := h.run(tt.args...)
		want := result{1, "", "nflab: " + tt.what + ": permission denied; this needs CAP_NET_ADMIN (run as root)\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("nflab %q unprivileged (-want +got):\n%s", tt.args, diff)
		}
	}
	h = newHarness(t, fakemod.Options{})
	h.m.Unload()
	if got := h.run("trace", "list"); got.Code != 1 || !strings.HasPrefix(got.Stderr, "nflab: kernel module is not loaded; ") {
		t.Errorf("trace list without the module = %+v", got)
	}
}

// TestTracePrinterEndLost: a trace whose end was lost ends the lines of
// its packets and says so, in each format.
func TestTracePrinterEndLost(t *testing.T) {
	loss := nftypes.TraceReport{Lost: &nftypes.TraceLoss{Trace: 3, EndMissing: true}}
	for _, tt := range []struct {
		json, hooks bool
		want        string
	}{
		{false, false, "10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …\n" +
			"10:00:09.000 trace 3 is gone: its end was lost (the module no longer lists it)\n"},
		{false, true, "10:00:00.000 #42 PRE_ROUTING ✓  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN\n" +
			"10:00:09.000 trace 3 is gone: its end was lost (the module no longer lists it)\n"},
		{true, false, `{"trace":3,"seq":0,"packet":42,"kind":"hook","hook":"PRE_ROUTING","time":"2026-12-01T10:00:00Z",` +
			`"tuple":{"proto":"tcp","src":"10.0.1.2","dst":"10.0.2.2","sport":40000,"dport":22},"tcp_flags":["syn"],"verdict":"accept"}` + "\n" +
			`{"lost":null,"trace":3,"end_missing":true}` + "\n"},
	} {
		var out strings.Builder
		p := &tracePrinter{w: &out, json: tt.json, hooks: tt.hooks, tl: newTimeline(time.UTC, false),
			now: func() time.Time { return t0.Add(9 * time.Second) }}
		if err := p.report(nftypes.TraceReport{Event: ev(0, nftypes.PreRouting, accept, syn, SYN)}); err != nil {
			t.Fatal(err)
		}
		if err := p.report(loss); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, out.String()); diff != "" {
			t.Errorf("json %v, hooks %v (-want +got):\n%s", tt.json, tt.hooks, diff)
		}
	}
}

// TestTraceModuleGoing: a module loading or unloading refuses new traces
// with ESHUTDOWN, which the command words.
func TestTraceModuleGoing(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	h.m.Fail(nlproto.CMD_TRACE_NEW, unix.ESHUTDOWN, "the module is loading or unloading")
	for _, tt := range []struct {
		args []string
		what string
	}{
		{[]string{"trace", "add", "tcp"}, "starting the trace"},
		{[]string{"trace", "tcp"}, "following the trace"},
	} {
		got := h.run(tt.args...)
		want := result{1, "", "nflab: " + tt.what + ": the module is loading or unloading, and starts no trace now; try again once it is loaded\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

// traceScript emits, for the trace the command started, the events of
// three packets, a gap, and the trace's end.
func traceScript(t *testing.T, h *harness) func() {
	return func() {
		waitUntil(t, func() bool { return len(h.m.Traces()) > 0 })
		id := h.m.Traces()[len(h.m.Traces())-1].ID
		for _, e := range []nftypes.TraceEvent{
			withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
			withRule(ev(1, nftypes.Forward, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: drop}),
		} {
			e.Trace = id
			h.m.EmitTrace(e)
		}
		for _, e := range []nftypes.TraceEvent{
			withCT(ev(100, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
			ev(101, nftypes.LocalIn, accept, syn, SYN),
			gone(101, nftypes.LocalIn, nftypes.TraceByAfter, "NO_SOCKET"),
		} {
			e.Trace, e.Packet = id, 43
			h.m.EmitTrace(e)
		}
		for i, e := range []nftypes.TraceEvent{
			withCT(ev(200, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
			ev(201, nftypes.LocalIn, accept, syn, SYN),
		} {
			e.Trace, e.Packet = id, 44
			if i == 1 {
				e.Seq = 9 // 7 and 8 lost
			}
			h.m.EmitTrace(e)
		}
		h.m.EmitTrace(nftypes.TraceEvent{Trace: id, Kind: nftypes.TraceEnd, Time: t0.Add(time.Second)})
	}
}

const (
	line42 = `#42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → FORWARD ✗ rule filter/forward#7 "drop ssh"` + "\n"
	line43 = `#43 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓ → gone after LOCAL_IN: NO_SOCKET` + "\n"
	line44 = `#44 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓` + "\n"
)

// TestTraceWatch follows a new trace until its end: the command starts
// it, prints its packets and losses, and exits 0 when it ends by itself.
func TestTraceWatch(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	got := h.watch(traceScript(t, h), func(string, string) bool { return false }, "trace", "--budget", "7", "tcp", "port", "22")
	want := result{0, "09:59:59.000 trace 1 started: tcp and port 22, 7 packets, 1m0s\n" +
		"10:00:00.000 " + line42 +
		"10:00:00.100 " + line43 +
		"09:59:59.000 lost 2 events of trace 1\n" +
		"10:00:00.200 " + line44 +
		"10:00:01.000 trace 1 ended\n", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	spec := nftypes.TraceSpec{Selector: nftypes.TraceSelector{Proto: nftypes.TCP, Port: 22}, Budget: 7}
	if diff := cmp.Diff(&spec, h.rec.spec, netipOpts); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"FollowTrace", "Close"}, h.rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// It ended by itself: nothing to delete, nothing left.
	if n := h.m.Requests(nlproto.CMD_TRACE_DEL); n != 0 || len(h.m.Traces()) != 0 || h.m.Sockets() != 0 {
		t.Errorf("%d deletions, traces left %+v, %d sockets", n, h.m.Traces(), h.m.Sockets())
	}

	// The same as NDJSON, and one line per event.
	h = newHarness(t, fakemod.Options{})
	got = h.watch(traceScript(t, h), func(string, string) bool { return false }, "trace", "watch", "-o", "json", "tcp port 22")
	lines := strings.Split(strings.TrimSuffix(normExpires(got.Stdout), "\n"), "\n")
	if got.Code != 0 || got.Stderr != "" || len(lines) != 10 {
		t.Fatalf("-o json = %+v", got)
	}
	for i, want := range map[int]string{
		0: `{"started":{"id":1,"selector":"tcp and port 22","budget":100,"left":100,"timeout":60,"expires_ms":X,"events":0,"lost":0}}`,
		1: `{"trace":1,"seq":1,"packet":42,"kind":"hook","hook":"PRE_ROUTING","time":"2026-12-01T10:00:00Z",` +
			`"tuple":{"proto":"tcp","src":"10.0.1.2","dst":"10.0.2.2","sport":40000,"dport":22},"tcp_flags":["syn"],` +
			`"ct":"new","ct_id":17,"ct_dir":"original","tcp_state_old":"NONE","tcp_state":"NONE","verdict":"accept"}`,
		2: `{"trace":1,"seq":2,"packet":42,"kind":"hook","hook":"FORWARD","time":"2026-12-01T10:00:00.001Z",` +
			`"tuple":{"proto":"tcp","src":"10.0.1.2","dst":"10.0.2.2","sport":40000,"dport":22},"tcp_flags":["syn"],` +
			`"rules":[{"table":"filter","chain":"forward","handle":7,"comment":"drop ssh","verdict":"drop"}],"verdict":"drop","drop_by":"rule"}`,
		5: `{"trace":1,"seq":5,"packet":43,"kind":"gone","hook":"LOCAL_IN","time":"2026-12-01T10:00:00.101Z","drop_by":"after","drop_reason":"NO_SOCKET"}`,
		7: `{"lost":2,"trace":1,"first_seq":7,"last_seq":8}`,
		9: `{"trace":1,"seq":10,"kind":"end","time":"2026-12-01T10:00:01Z"}`,
	} {
		if lines[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want)
		}
	}

	h = newHarness(t, fakemod.Options{})
	got = h.watch(traceScript(t, h), func(string, string) bool { return false }, "trace", "--hooks", "tcp")
	wantHooks := "09:59:59.000 trace 1 started: tcp, 100 packets, 1m0s\n" +
		"10:00:00.000 #42 PRE_ROUTING ✓  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN ct 17 original  new\n" +
		`10:00:00.001 #42 FORWARD ✗  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  rule filter/forward#7 "drop ssh"` + "\n"
	if got.Code != 0 || !strings.HasPrefix(got.Stdout, wantHooks) || !strings.Contains(got.Stdout, "10:00:00.101 #43 gone after LOCAL_IN: NO_SOCKET\n") ||
		!strings.HasSuffix(got.Stdout, "09:59:59.000 lost 2 events of trace 1\n10:00:00.201 #44 LOCAL_IN ✓  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN\n10:00:01.000 trace 1 ended\n") {
		t.Errorf("--hooks = %+v\nwant it to start with\n%s", got, wantHooks)
	}
}

// TestTraceWatchInterrupted: a watch of a new trace that is interrupted
// prints what it has and deletes its trace.
func TestTraceWatchInterrupted(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	script := func() {
		waitUntil(t, func() bool { return len(h.m.Traces()) == 1 })
		for _, e := range []nftypes.TraceEvent{
			withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
			withRule(ev(1, nftypes.Forward, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: drop}),
			withCT(ev(2, nftypes.PreRouting, accept, synAck, SYNACK), nftypes.TraceCTFound),
		} {
			e.Trace = 1
			if e.Hook == nftypes.PreRouting && e.Time.After(t0) {
				e.Packet = 45
			}
			h.m.EmitTrace(e)
		}
	}
	got := h.watch(script, func(stdout, _ string) bool { return strings.HasSuffix(stdout, line42) }, "trace", "tcp")
	want := result{0, "09:59:59.000 trace 1 started: tcp, 100 packets, 1m0s\n10:00:00.000 " + line42 +
		"10:00:00.002 #45 10.0.2.2:22 → 10.0.1.2:40000 tcp SYN/ACK  PRE_ROUTING ✓ found …\n", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := h.m.Requests(nlproto.CMD_TRACE_DEL); n != 1 || len(h.m.Traces()) != 0 {
		t.Errorf("%d deletions, traces left %+v; want the trace deleted", n, h.m.Traces())
	}
}

// TestTraceWatchAll watches every trace: lines name their trace, losses
// are lines, and the command runs until interrupted.
func TestTraceWatchAll(t *testing.T) {
	h := newHarness(t, fakemod.Options{})
	a := h.m.StartTrace(nftypes.TraceSpec{})
	b := h.m.StartTrace(nftypes.TraceSpec{})
	last := "10:00:00.300 [2] #44 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_IN ✗ policy filter/input drop\n"
	script := func() {
		waitUntil(t, func() bool { return h.m.Requests(nlproto.CMD_TRACE_GET) == 1 })
		e := withRule(ev(0, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 3, Verdict: drop})
		e.Trace = a.ID
		h.m.EmitTrace(e)
		h.m.OverrunTraces()
		e = ev(100, nftypes.LocalOut, accept, syn, SYN)
		e.Trace, e.Packet, e.Seq = b.ID, 43, 3
		h.m.EmitTrace(e) // 1 and 2 lost
		e = withRule(ev(300, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Verdict: drop})
		e.Trace, e.Packet = b.ID, 44
		h.m.EmitTrace(e)
	}
	got := h.watch(script, func(stdout, _ string) bool { return strings.HasSuffix(stdout, last) }, "trace")
	want := result{0, "10:00:00.000 [1] #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_IN ✗ rule filter/input#3\n" +
		"09:59:59.000 lost events of every trace: the receive buffer overflowed (a larger --buffer-size helps)\n" +
		"09:59:59.000 lost 2 events of trace 2\n" +
		last +
		"10:00:00.100 [2] #43 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✓ …\n", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"WatchTraces", "Close"}, h.rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if len(h.m.Traces()) != 2 {
		t.Errorf("a watch of every trace ended some: %+v", h.m.Traces())
	}
}

// TestTraceWatchWriteFails: a failed write ends the watch with exit
// status 1 and deletes its trace.
func TestTraceWatchWriteFails(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		h := newHarness(t, fakemod.Options{})
		var stderr syncBuffer
		a := h.app(&failWriter{n: 1}, &stderr)
		exit := make(chan int, 1)
		go func() { exit <- a.run(context.Background(), []string{"trace", "-o", format, "tcp"}) }()
		waitUntil(t, func() bool { return len(h.m.Traces()) == 1 })
		for _, e := range []nftypes.TraceEvent{
			withRule(ev(0, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 3, Verdict: drop}),
			withRule(ev(1, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 3, Verdict: drop}),
		} {
			e.Trace = 1
			h.m.EmitTrace(e)
		}
		var code int
		select {
		case code = <-exit:
		case <-time.After(time.Minute):
			t.Fatalf("-o %s: still running a minute after its write failed", format)
		}
		want := "nflab: writing events: write /dev/stdout: broken pipe\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("-o %s: exit %d, stderr %q; want 1, %q", format, code, stderr.String(), want)
		}
		if len(h.m.Traces()) != 0 {
			t.Errorf("-o %s: traces left %+v", format, h.m.Traces())
		}
	}
}
