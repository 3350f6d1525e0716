package vm

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const sampleOutput = `=== RUN   TestA
--- PASS: TestA (1.50s)
=== RUN   TestB
=== RUN   TestB/sub
    --- PASS: TestB/sub (9.00s)
--- PASS: TestB (10.00s)
=== RUN   TestC
[   12.000000] nflab: version 0.1.0 loaded (protocol 1)
--- FAIL: TestC (3.25s)
=== RUN   TestD
`

func TestTestTimes(t *testing.T) {
	done, running := TestTimes(sampleOutput)
	want := []TestTime{
		{"TestA", "PASS", 1500 * time.Millisecond},
		{"TestB", "PASS", 10 * time.Second},
		{"TestC", "FAIL", 3250 * time.Millisecond},
	}
	if len(done) != len(want) {
		t.Fatalf("TestTimes: got %+v, want %+v", done, want)
	}
	for i := range want {
		if done[i] != want[i] {
			t.Errorf("test %d: got %+v, want %+v", i, done[i], want[i])
		}
	}
	if running != "TestD" {
		t.Errorf("running = %q, want TestD", running)
	}
	if s := Slowest(done, 2); len(s) != 2 || s[0].Name != "TestB" || s[1].Name != "TestC" {
		t.Errorf("Slowest(2) = %+v, want TestB, TestC", s)
	}
}

func TestOverBudget(t *testing.T) {
	msg := OverBudget("debug-6.1", 40*time.Minute, sampleOutput)
	for _, w := range []string{"[debug-6.1] over budget", "40m0s", "still running when the VM was killed: TestD", "3 tests finished", "TestB"} {
		if !strings.Contains(msg, w) {
			t.Errorf("OverBudget message lacks %q:\n%s", w, msg)
		}
	}
}

func TestProfileSkip(t *testing.T) {
	if s := ProfileFor("stock-6.1", false).Skip; s != "" {
		t.Errorf("stock kernel skips %q, want nothing", s)
	}
	if s := ProfileFor("debug-6.1", true).Skip; s != "" {
		t.Errorf("debug soak skips %q, want nothing", s)
	}
	re := regexp.MustCompile(ProfileFor("debug-6.1", false).Skip)
	for name, skip := range map[string]bool{
		"TestOracle": true, "TestCTTCPResyncOnSynAck": true, "TestCTChecksum": true,
		"TestCTDroppedBetweenHooksConfirmsNothing": false, "TestInsmodRmmodCyclesUnderTraffic": false,
		"TestCTTCPHandshakeDataFin": false, "TestOracleX": false,
	} {
		if re.MatchString(name) != skip {
			t.Errorf("debug kernel skips %s: %v, want %v", name, !skip, skip)
		}
	}
}

func TestProfileFor(t *testing.T) {
	stock, debug, soak := ProfileFor("stock-6.12", false), ProfileFor("debug-6.1", false), ProfileFor("stock-6.1", true)
	if stock.Counts != stockCounts {
		t.Errorf("stock counts %+v, want the full %+v", stock.Counts, stockCounts)
	}
	if debug.Counts.Cycles >= stock.Counts.Cycles || debug.Budget <= stock.Budget {
		t.Errorf("debug profile %+v: want fewer cycles and a larger budget than stock %+v", debug, stock)
	}
	if soak.Counts.Cycles != 10*stockCounts.Cycles || soak.Counts.Stress != 10*stockCounts.Stress || soak.Budget != 10*stock.Budget {
		t.Errorf("soak profile %+v: want ten times stock %+v", soak, stock)
	}
	if debug.Counts.Stress <= 0 || debug.Counts.Stress >= stock.Counts.Stress {
		t.Errorf("debug stress rounds %d: want fewer than stock's %d, and some", debug.Counts.Stress, stock.Counts.Stress)
	}
	// Races between CPUs need two: every lab kernel runs its whole suite
	// on at least two vCPUs.
	for _, k := range []string{"stock-6.1", "stock-6.12", "debug-6.1"} {
		if p := ProfileFor(k, false); p.VCPUs < 2 {
			t.Errorf("%s: %d vCPUs, want at least 2", k, p.VCPUs)
		}
	}
	if env := stock.Counts.Env(); env["NFLAB_STRESS"] != "100" || env["NFLAB_CYCLES"] != "200" {
		t.Errorf("stock Env() = %v", env)
	}
}

// fakeKernel makes the files ConfigFromEnv checks for and points the
// NFLAB_* variables at them.
func fakeKernel(t *testing.T, name string) {
	t.Helper()
	dir := t.TempDir()
	moddir := filepath.Join(dir, "lib", "modules", "6.1.0-99-amd64")
	if err := os.MkdirAll(moddir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "nflab.ko"), filepath.Join(moddir, "modules.dep")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("NFLAB_KERNEL", filepath.Join(dir, "vmlinuz"))
	t.Setenv("NFLAB_MODDIR", moddir)
	t.Setenv("NFLAB_KO", filepath.Join(dir, "nflab.ko"))
	t.Setenv("NFLAB_CACHE", filepath.Join(dir, "cache"))
	t.Setenv("NFLAB_KERNEL_NAME", name)
	t.Setenv("NFLAB_QEMU", "")
	t.Setenv("NFLAB_VCPUS", "")
}

func TestConfigVCPUs(t *testing.T) {
	for _, tt := range []struct {
		kernel, vcpus, qemu string
		want                int // 0: an error
	}{
		{"debug-6.1", "", "", 2},
		{"stock-6.12", "", "", 2},
		{"stock-6.1", "1", "", 1},
		{"debug-6.1", "4", "", 4},
		{"stock-6.1", "0", "", 0},
		{"stock-6.1", "5", "", 0},
		{"stock-6.1", "two", "", 0},
		{"stock-6.1", "", "qemu-system-x86_64 -accel tcg -smp 1", 0},
		{"stock-6.1", "", "qemu-system-x86_64 -accel tcg -m 1G", 2},
	} {
		fakeKernel(t, tt.kernel)
		t.Setenv("NFLAB_VCPUS", tt.vcpus)
		t.Setenv("NFLAB_QEMU", tt.qemu)
		c, err := ConfigFromEnv()
		switch {
		case tt.want == 0 && err == nil:
			t.Errorf("%s NFLAB_VCPUS=%q NFLAB_QEMU=%q: no error, %d vCPUs", tt.kernel, tt.vcpus, tt.qemu, c.VCPUs)
		case tt.want != 0 && err != nil:
			t.Errorf("%s NFLAB_VCPUS=%q NFLAB_QEMU=%q: %v", tt.kernel, tt.vcpus, tt.qemu, err)
		case tt.want != 0 && c.VCPUs != tt.want:
			t.Errorf("%s NFLAB_VCPUS=%q: %d vCPUs, want %d", tt.kernel, tt.vcpus, c.VCPUs, tt.want)
		}
	}
	if strings.Contains(DefaultQEMU, "-smp") {
		t.Errorf("DefaultQEMU %q sets -smp; Config.VCPUs does", DefaultQEMU)
	}
}
