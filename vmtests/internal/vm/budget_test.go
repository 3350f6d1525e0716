package vm

import (
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

func TestProfileFor(t *testing.T) {
	stock, debug, soak := ProfileFor("stock-6.12", false), ProfileFor("debug-6.1", false), ProfileFor("stock-6.1", true)
	if stock.Counts != stockCounts {
		t.Errorf("stock counts %+v, want the full %+v", stock.Counts, stockCounts)
	}
	if debug.Counts.Cycles >= stock.Counts.Cycles || debug.Budget <= stock.Budget {
		t.Errorf("debug profile %+v: want fewer cycles and a larger budget than stock %+v", debug, stock)
	}
	if soak.Counts.Cycles != 10*stockCounts.Cycles || soak.Budget != 10*stock.Budget {
		t.Errorf("soak profile %+v: want ten times stock %+v", soak, stock)
	}
}
