// Package vmtests runs nflab's end-to-end tests in a QEMU VM: TestGuest
// builds the tests of ./guest and runs them in one VM. It needs
// NFLAB_KERNEL, NFLAB_MODDIR and NFLAB_KO (see internal/vm) and fails
// without them. NFLAB_VMTEST_RUN selects guest tests like go test -run.
package vmtests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nflab/nflab/vmtests/internal/vm"
)

// vmTimeout is the VM's hard limit unless the go test deadline is nearer:
// the debug kernel (KASAN under TCG) runs the suite about five times slower.
const vmTimeout = 45 * time.Minute

func TestGuest(t *testing.T) {
	cfg, err := vm.ConfigFromEnv()
	if err != nil {
		t.Fatalf("%v\n(the Makefile's vm-test target sets these)", err)
	}
	cfg.Timeout = vmTimeout
	if d, ok := t.Deadline(); ok {
		cfg.Timeout = min(cfg.Timeout, time.Until(d)-30*time.Second)
	}
	// Leave the guest time to report before the VM is killed.
	guestTimeout := cfg.Timeout - time.Minute
	if guestTimeout < time.Minute {
		t.Fatalf("go test -timeout leaves %v for the VM; run with -timeout 30m", cfg.Timeout)
	}

	root, err := vm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	guestTest := filepath.Join(t.TempDir(), "guest.test")
	if err := vm.GoBuild(root, "test", "-c", "-tags", "nflabvm", "-o", guestTest, "./vmtests/guest"); err != nil {
		t.Fatal(err)
	}
	cfg.ExtraFiles = map[string]string{"guest.test": guestTest}
	// Knobs of the guest tests (seeds, iteration counts) pass through.
	cfg.Env = map[string]string{}
	for _, k := range []string{"NFLAB_FUZZ_SEED", "NFLAB_FUZZ_N", "NFLAB_CYCLES", "NFLAB_NAMESPACES"} {
		if v, ok := os.LookupEnv(k); ok {
			cfg.Env[k] = v
		}
	}

	payload := fmt.Sprintf("exec ./guest.test -test.v -test.timeout=%s", guestTimeout.Round(time.Second))
	// NFLAB_VMTEST_BENCH runs the guest benchmarks it selects instead.
	bench := strings.TrimSpace(os.Getenv("NFLAB_VMTEST_BENCH"))
	if bench != "" {
		payload += " -test.run='^$' -test.bench=" + vm.ShellQuote(bench)
	} else if re := strings.TrimSpace(os.Getenv("NFLAB_VMTEST_RUN")); re != "" {
		payload += " -test.run=" + vm.ShellQuote(re)
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
	if err := r.Check(); err != nil {
		t.Error(err)
	}
	if err := checkGoTestOutput(r.Console, bench != ""); err != nil {
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
