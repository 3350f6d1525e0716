package vm

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Counts are the iteration counts of the guest's reliability tests. They
// are set per lab kernel, not per test: every kernel runs the same code
// paths, the debug kernel fewer times.
type Counts struct {
	Cycles     int // insmod/rmmod cycles under traffic (NFLAB_CYCLES)
	Namespaces int // namespaces created and destroyed (NFLAB_NAMESPACES)
	FuzzN      int // netlink fuzz messages per user (NFLAB_FUZZ_N)
	// Stress is the rounds of each concurrency stress test on 2+ vCPUs
	// (NFLAB_STRESS): clash rounds, churn rounds, namespaces, unloads.
	Stress int
}

// Env returns the counts as the guest tests read them.
func (c Counts) Env() map[string]string {
	return map[string]string{
		"NFLAB_CYCLES":     strconv.Itoa(c.Cycles),
		"NFLAB_NAMESPACES": strconv.Itoa(c.Namespaces),
		"NFLAB_FUZZ_N":     strconv.Itoa(c.FuzzN),
		"NFLAB_STRESS":     strconv.Itoa(c.Stress),
	}
}

// Profile is what one lab kernel costs and how much of the suite it runs.
type Profile struct {
	Counts Counts
	// Budget is the guest suite's time limit, boot included: the VM is
	// killed when it is spent and the run fails as over budget. It is
	// about twice what the suite took on a 2-core machine of the kind
	// CI uses with 2 vCPUs (stock 12.6 of 25 min, debug 27.7 of 50 min
	// with the earlier, larger debug counts), so that it
	// catches a suite that grew or hung; a slower machine can scale it
	// with NFLAB_BUDGET_SCALE.
	Budget time.Duration
	// VCPUs is the guest's vCPU count (QEMU -smp). Races between CPUs
	// need two or more; under TCG each vCPU is a host thread, so two are
	// slower than one on a busy 2-core machine, but the suites fit their
	// budgets with two. NFLAB_VCPUS overrides it.
	VCPUs int
	// Skip is a go test -test.skip pattern of guest tests the kernel
	// leaves out ("" for none). The debug kernel runs what exercises
	// memory, locking, lifetimes and races under KASAN, lockdep and
	// kmemleak; the longest tests of protocol semantics (the same C on
	// every kernel, and about ten times slower there) run on the stock
	// kernels, and on the debug kernel in a soak run.
	Skip string
}

// debugSkip is what the debug kernel's suite leaves to the stock kernels:
// the differential oracle, the TCP window and robustness rules, checksums,
// ICMP error addressing, the tests that wait for timeouts to expire, the
// early drop's and the ids' choices, the copies tests' repeats with the
// kernel's conntrack loaded, the rule engine's match-by-match semantics
// (its transactions, bad input, round trip and atomic replacement under
// load stay), and NAT's address and port choices, checksums, events and
// coexistence (masquerade, SNAT ranges under parallel load, a reply
// clash, ICMP errors, full cone, a broadcast's copies, flushes under load
// and namespace exit stay), and the traces' CLI cases (their netlink
// events, packets gone, NAT and the stress test stay).
const debugSkip = `^(TestOracle|TestCTChecksum|TestCTICMPErrorDestination|TestCTICMPEcho|` +
	`TestRulesActions|TestRulesDropWhere|TestRulesMatches|TestRulesMangleOutputReroutes|TestRulesStatefulRouter|` +
	`TestRulesStatefulFirewall|TestRulesSetsAndMatches|TestRulesHookCountsCountFilterDrops|` +
	`TestCTCopiesNFQueueKernelConntrack|TestCTCopiesDupKernelConntrack|TestCTEarlyDropPrefersExpired|TestCTIDsRevealNoRates|` +
	`TestCTUDPUnrepliedAssuredExpiry|TestCTTableFull|TestCTTCPInvalid|TestCTTCPBulkTransferInWindow|` +
	`TestCTTCPPickupMidStream|TestCTTCPUnackedDataTimeout|TestCTTCPPickupWithoutReplyTimeout|` +
	`TestCTTCPRetransmissionTimeout|TestCTTCPSynRetransmitKeepsTimeout|TestCTTCPResetRefusingSynRemovesEntry|` +
	`TestCTTCPResyncOnSynAck|TestCTTCPResetRefusingIgnoredSyn|TestCTTCPResyncAfterMissedResets|` +
	`TestCTTCPResetAnsweringChallengeAck|TestCTTCPInexactResetKeepsState|TestCTTCPResetTrainCloses|` +
	`TestNATMasqueradeFullyRandom|TestNATSNATAddressRange|TestNATDNAT|TestNATChecksums|TestNATStaleEntryTrap|` +
	`TestNATCoexistsWithKernelNAT|TestNATMasqueradeForgetsAddress|TestNATRealClients|TestNATEvents|` +
	`TestTraceDropWhere|TestTraceLimits|TestTraceNoCost|TestTraceConnHistory|TestTraceLossReported)$`

// stockCounts are the full counts; the stock kernels run them.
var stockCounts = Counts{Cycles: 200, Namespaces: 200, FuzzN: 3000, Stress: 100}

// ProfileFor returns the profile of a lab kernel by its name (stock-6.1,
// stock-6.12, debug-6.1). Under KASAN, kmemleak and lockdep one unload
// under the cycles test's traffic takes about 9 s instead of 0.3 s (three
// RCU grace periods, slow while the traffic keeps the vCPU busy), so the
// debug kernel's counts are sized to its cost. A soak run (make soak) multiplies every count and the
// budget by ten.
func ProfileFor(kernel string, soak bool) Profile {
	p := Profile{Counts: stockCounts, Budget: 25 * time.Minute, VCPUs: 2}
	if strings.HasPrefix(kernel, "debug-") {
		p.Counts = Counts{Cycles: 20, Namespaces: 30, FuzzN: 500, Stress: 10}
		p.Budget = 50 * time.Minute
		p.Skip = debugSkip
	}
	if soak {
		p.Skip = ""
		c := p.Counts
		p.Counts = Counts{Cycles: 10 * c.Cycles, Namespaces: 10 * c.Namespaces, FuzzN: 10 * c.FuzzN, Stress: 10 * c.Stress}
		p.Budget *= 10
	}
	return p
}

// TestTime is one guest test's result and duration.
type TestTime struct {
	Name     string
	Result   string // PASS, FAIL or SKIP
	Duration time.Duration
}

var testResult = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)`)
var testRun = regexp.MustCompile(`^=== RUN   (\S+)$`)

// TestTimes reads the top-level test results of a go test -v output (the
// guest's console), in order, and the test that was still running at its
// end ("" if none).
func TestTimes(out string) (done []TestTime, running string) {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if m := testRun.FindStringSubmatch(l); m != nil && !strings.Contains(m[1], "/") {
			running = m[1]
			continue
		}
		m := testResult.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		secs, _ := strconv.ParseFloat(m[3], 64)
		done = append(done, TestTime{Name: m[2], Result: m[1], Duration: time.Duration(secs * float64(time.Second))})
		if m[2] == running {
			running = ""
		}
	}
	return done, running
}

// Slowest returns the n slowest of ts, slowest first.
func Slowest(ts []TestTime, n int) []TestTime {
	s := slices.Clone(ts)
	slices.SortStableFunc(s, func(a, b TestTime) int { return int(b.Duration - a.Duration) })
	return s[:min(n, len(s))]
}

// FormatTimes prints test times as an aligned table.
func FormatTimes(ts []TestTime) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "    %-44s %-4s %7.1fs\n", t.Name, t.Result, t.Duration.Seconds())
	}
	return b.String()
}

// OverBudget explains a suite that ran out of its budget: which test was
// running and which took longest until then.
func OverBudget(kernel string, budget time.Duration, console string) string {
	done, running := TestTimes(console)
	var total time.Duration
	for _, t := range done {
		total += t.Duration
	}
	msg := fmt.Sprintf("[%s] over budget: the guest suite did not finish within %v (a machine this slow, or a suite this long, needs the budget in vmtests/internal/vm/budget.go raised).\n", kernel, budget)
	if running != "" {
		msg += fmt.Sprintf("  still running when the VM was killed: %s\n", running)
	}
	msg += fmt.Sprintf("  %d tests finished in %.0fs; the slowest:\n%s", len(done), total.Seconds(), FormatTimes(Slowest(done, 10)))
	return msg
}
