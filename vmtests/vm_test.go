// Package vmtests runs nflab's end-to-end tests in a QEMU VM: TestGuest
// builds the tests of ./guest and runs them in one VM. It needs
// NFLAB_KERNEL, NFLAB_MODDIR and NFLAB_KO (see internal/vm).
// NFLAB_VMTEST_RUN selects guest tests like go test -run.
//
// A plain "go test ./..." sets none of them, and TestGuest then skips, so
// that the unit tests run anywhere. The Makefile's targets set
// NFLAB_VMTEST=1: the suite is then required, and a missing variable, a
// skipped guest test or a run without any passing test fails it.
package vmtests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nflab/nflab/vmtests/internal/bench"
	"github.com/nflab/nflab/vmtests/internal/bench/plot"
	"github.com/nflab/nflab/vmtests/internal/vm"
)

// benchBudget is the VM's limit for make bench (go test -timeout 35m), and
// smokeBudget for make bench-smoke.
const (
	benchBudget = 25 * time.Minute
	smokeBudget = 6 * time.Minute
)

func TestGuest(t *testing.T) {
	if skip := guestSkipReason(os.Getenv); skip != "" {
		t.Skip(skip)
	}
	cfg, err := vm.ConfigFromEnv()
	if err != nil {
		t.Fatalf("%v\n(the Makefile's vm-test target sets these)", err)
	}
	soak := os.Getenv("NFLAB_SOAK") == "1"
	// NFLAB_VMTEST_BENCH runs the guest benchmarks it selects instead.
	bench := strings.TrimSpace(os.Getenv("NFLAB_VMTEST_BENCH"))
	runRE := strings.TrimSpace(os.Getenv("NFLAB_VMTEST_RUN"))
	prof := vm.ProfileFor(cfg.KernelName, soak)
	cfg.Timeout = prof.Budget
	benchProfile := os.Getenv("NFLAB_BENCH_PROFILE")
	if bench != "" {
		cfg.Timeout = benchBudget
		if benchProfile == "smoke" {
			cfg.Timeout = smokeBudget
		}
		// One vCPU: pktgen's thread and the softirqs that carry its
		// packets through the router run on one CPU anyway, a second
		// vCPU is one more host thread on a busy 2-core machine, and
		// the configurations load and unload hooks, which on 2+ vCPUs
		// meets QEMU's stale jump labels (vm.PinHookKeys).
		if os.Getenv("NFLAB_VCPUS") == "" {
			cfg.VCPUs = 1
		}
	}
	// A machine slower than those the budgets were set on scales them.
	if v := os.Getenv("NFLAB_BUDGET_SCALE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("NFLAB_BUDGET_SCALE=%q: want a positive number", v)
		}
		cfg.Timeout = time.Duration(float64(cfg.Timeout) * f)
	}
	// Room for the builds before the VM starts, so that go test's own
	// timeout (a goroutine dump) never comes before the budget's report.
	if d, ok := t.Deadline(); ok && time.Until(d)-5*time.Minute < cfg.Timeout {
		t.Fatalf("go test -timeout leaves %v for a VM whose budget is %v and its builds; raise -timeout",
			time.Until(d).Round(time.Second), cfg.Timeout)
	}
	// The VM's limit is the budget; the guest's own timeout comes later,
	// so that an over-budget suite is reported with its test times (below)
	// rather than as a goroutine dump.
	guestTimeout := cfg.Timeout + 5*time.Minute

	root, err := vm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	guestTest := filepath.Join(t.TempDir(), "guest.test")
	if err := vm.GoBuild(root, "test", "-c", "-tags", "nflabvm", "-o", guestTest, "./vmtests/guest"); err != nil {
		t.Fatal(err)
	}
	cfg.ExtraFiles = map[string]string{"guest.test": guestTest}
	// Iteration counts come from the kernel's profile; the knobs of the
	// guest tests (seeds, counts) given in the environment override them.
	cfg.Env = prof.Counts.Env()
	for _, k := range []string{"NFLAB_FUZZ_SEED", "NFLAB_FUZZ_N", "NFLAB_CYCLES", "NFLAB_NAMESPACES", "NFLAB_STRESS",
		"NFLAB_BENCH_PROFILE", "NFLAB_BENCH_ROUNDS"} {
		if v, ok := os.LookupEnv(k); ok {
			cfg.Env[k] = v
		}
	}
	// make bench BASELINE=<rev>: the benchmarks load that build too, in
	// the same VM, so that before and after are comparable.
	if ko := os.Getenv("NFLAB_BASELINE_KO"); ko != "" && bench != "" {
		cfg.ExtraFiles["nflab-baseline.ko"] = ko
		cfg.Env["NFLAB_BASELINE_KO"] = "/mnt/nflab/nflab-baseline.ko"
	}
	// The guest's stress tests check that they got the vCPUs asked for.
	cfg.Env["NFLAB_VCPUS"] = strconv.Itoa(cfg.VCPUs)
	t.Logf("%s: budget %v, %d vCPUs, cycles=%s namespaces=%s fuzz=%s stress=%s%s", cfg.KernelName, cfg.Timeout, cfg.VCPUs,
		cfg.Env["NFLAB_CYCLES"], cfg.Env["NFLAB_NAMESPACES"], cfg.Env["NFLAB_FUZZ_N"], cfg.Env["NFLAB_STRESS"],
		map[bool]string{true: " (soak)"}[soak])

	// Run from memory, not from the uncached 9p share (the fuzz test
	// executes the binary again).
	payload := ""
	if cfg.VCPUs > 1 && bench == "" {
		payload = vm.PinHookKeys
	}
	payload += fmt.Sprintf("cp guest.test /run/nflab/guest.test && exec /run/nflab/guest.test -test.v -test.timeout=%s", guestTimeout.Round(time.Second))
	if bench != "" {
		payload += " -test.run='^$' -test.benchtime=1x -test.bench=" + vm.ShellQuote(bench)
	} else if runRE != "" {
		payload += " -test.run=" + vm.ShellQuote(runRE)
	} else if prof.Skip != "" {
		payload += " -test.skip=" + vm.ShellQuote(prof.Skip)
		t.Logf("%s leaves to the stock kernels: %s", cfg.KernelName, prof.Skip)
	}
	payload += "\n"

	out := &lineWriter{w: t.Output(), prefix: "vm: "}
	cfg.Stdout = out
	start := time.Now()
	r, err := vm.Run(context.Background(), cfg, payload)
	out.Flush()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: VM ran %.1fs (TestGuest %.1fs)", cfg.KernelName, r.Duration.Seconds(), time.Since(start).Seconds())
	// The report of make test names each whole suite's slowest tests, or
	// why it went over budget; runs of a selection or of benchmarks
	// leave it alone.
	report := bench == "" && runRE == ""
	if r.TimedOut {
		msg := vm.OverBudget(cfg.KernelName, cfg.Timeout, r.Console)
		t.Error(msg)
		if report {
			writeTimes(t, cfg.KernelName, msg)
		}
	} else if bench == "" {
		summary := timesSummary(cfg.KernelName, cfg.VCPUs, r)
		t.Log(summary)
		if report {
			writeTimes(t, cfg.KernelName, summary)
		}
	}
	if err := checkGoTestOutput(r.Console, bench != ""); err != nil {
		t.Error(err)
	}
	// Last: its last line sums up a kernel bug, and the end of the
	// output is what a CI summary shows.
	if err := r.Check(); err != nil {
		t.Error(err)
	}
	if bench != "" {
		benchReport(t, root, cfg.KernelName, r.Console)
	}
}

// benchReport turns the guest benchmark's records into the report, the
// plots and the JSON in $NFLAB_BENCH_OUT (default bin/bench/<UTC time>),
// logs the table, and fails the test if a configuration moved no traffic.
func benchReport(t *testing.T, root, kernel, console string) {
	meta, samples, err := bench.Parse(console)
	if err != nil {
		t.Error(err)
		return
	}
	rep, err := bench.Analyze(meta, samples)
	if err != nil {
		t.Error(err)
		return
	}
	rep.Kernel = kernel
	dir := os.Getenv("NFLAB_BENCH_OUT")
	if dir == "" {
		dir = filepath.Join(root, "bin", "bench", time.Now().UTC().Format("20060102-150405"))
	}
	if err := writeBenchReport(dir, rep); err != nil {
		t.Error(err)
	}
	var md strings.Builder
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Error(err)
	}
	t.Logf("benchmark report in %s (report.md, report.json, *.png):\n%s", dir, md.String())
	if err := bench.CheckTraffic(rep); err != nil {
		t.Errorf("a configuration moved no traffic:\n%v", err)
	}
}

// writeBenchReport writes report.md, report.json and the plots into dir.
func writeBenchReport(dir string, rep *bench.Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md, js bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js.Bytes(), 0o644); err != nil {
		return err
	}
	_, err := plot.Write(dir, rep)
	return err
}

// guestSkipReason says why TestGuest skips under getenv, or "" when it
// runs: it skips only in a plain go test, where NFLAB_VMTEST is not "1" and
// no VM variable is set. Half a configuration is a mistake and fails.
func guestSkipReason(getenv func(string) string) string {
	if getenv("NFLAB_VMTEST") == "1" {
		return ""
	}
	for _, v := range []string{"NFLAB_KERNEL", "NFLAB_MODDIR", "NFLAB_KO"} {
		if getenv(v) != "" {
			return ""
		}
	}
	return "the VM suite runs under make test or make vm-test (NFLAB_VMTEST=1)"
}

// timesSummary lists the ten slowest guest tests of a run.
func timesSummary(kernel string, vcpus int, r *vm.Result) string {
	done, _ := vm.TestTimes(r.Console)
	return fmt.Sprintf("%s: %d guest tests, VM %.0fs on %d vCPUs; the ten slowest:\n%s",
		kernel, len(done), r.Duration.Seconds(), vcpus, vm.FormatTimes(vm.Slowest(done, 10)))
}

// writeTimes leaves the summary in $NFLAB_TIMES_DIR for make test-all's
// closing report.
func writeTimes(t *testing.T, kernel, summary string) {
	dir := os.Getenv("NFLAB_TIMES_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Error(err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "slowest-"+kernel+".txt"), []byte(summary), 0o644); err != nil {
		t.Error(err)
	}
}

// checkGoTestOutput fails a guest test run that skipped or failed a test or
// passed none (for a benchmark run: reported no benchmark).
func checkGoTestOutput(out string, bench bool) error {
	var bad []string
	for _, l := range strings.Split(out, "\n") {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "--- SKIP") || strings.HasPrefix(s, "--- FAIL") {
			bad = append(bad, s)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("guest tests skipped or failed (skips are failures here):\n    %s", strings.Join(bad, "\n    "))
	}
	switch {
	case bench && !strings.Contains(out, "ns/op"):
		return fmt.Errorf("no guest benchmark reported (check NFLAB_VMTEST_BENCH)")
	case !bench && !strings.Contains(out, "--- PASS"):
		return fmt.Errorf("no guest test passed (check NFLAB_VMTEST_RUN)")
	}
	return nil
}

// lineWriter writes whole prefixed lines, so that the guest's "--- PASS"
// lines are not taken for this test's own results by go test -json.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

// Flush writes an incomplete last line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		fmt.Fprintf(l.w, "%s%s\n", l.prefix, l.buf)
		l.buf = nil
	}
}

func TestCheckGoTestOutput(t *testing.T) {
	for _, tt := range []struct {
		out   string
		bench bool
		ok    bool
	}{
		{"=== RUN   TestA\n--- PASS: TestA (0.01s)\nPASS\n", false, true},
		{"--- PASS: TestA (0.01s)\n    --- SKIP: TestA/sub (0.00s)\n", false, false},
		{"--- FAIL: TestA (0.01s)\n", false, false},
		{"testing: warning: no tests to run\nPASS\n", false, false},
		{"BenchmarkX/loaded-1  1000  2000 ns/op  500000 pkts/s\nPASS\n", true, true},
		{"testing: warning: no tests to run\nPASS\n", true, false},
		{"--- FAIL: BenchmarkX\n", true, false},
	} {
		if err := checkGoTestOutput(tt.out, tt.bench); (err == nil) != tt.ok {
			t.Errorf("checkGoTestOutput(%q) = %v, want ok=%v", tt.out, err, tt.ok)
		}
	}
}

func TestGuestSkipReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		skip bool
	}{
		{"plain go test", nil, true},
		{"required", map[string]string{"NFLAB_VMTEST": "1"}, false},
		{"half configured", map[string]string{"NFLAB_KO": "/x/nflab.ko"}, false},
		{"not 1", map[string]string{"NFLAB_VMTEST": "0"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := guestSkipReason(func(k string) string { return tc.env[k] }) != ""
			if got != tc.skip {
				t.Fatalf("skips = %v, want %v", got, tc.skip)
			}
		})
	}
}

func TestWriteBenchReport(t *testing.T) {
	meta := bench.Record{Kind: bench.KindMeta, Profile: "smoke", Rounds: 1, Configs: []bench.Config{
		{Name: bench.Bare, Label: "A"}, {Name: bench.Nflab, Label: "C"},
	}}
	console := "vm: " + meta.Line() + "\nvm: bench: round 1/1, A\n"
	for _, c := range []string{bench.Bare, bench.Nflab} {
		r := bench.Record{Kind: bench.KindSample, Round: 1, Config: c, Metric: bench.PPS1Flow, Value: 1000, Delivered: 1000}
		console += "vm: " + r.Line() + "\n"
	}
	meta, samples, err := bench.Parse(console)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.Analyze(meta, samples)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := writeBenchReport(dir, rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "report.json", bench.PPS1Flow + ".png"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (want a non-empty file)", f, err)
		}
	}
}
