//go:build nflabvm

package guest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nflab/nflab/vmtests/internal/bench"
)

// The benchmark's topology. pktgen in bc sends through the router br to
// 10.9.2.0/24 behind bs; bs answers (to establish flows) from there to
// 10.9.3.0/24 behind bc. Both ends drop what they receive at their
// device's ingress hook (nftables netdev), before any IPv4 hook, counting
// it: so a packet crosses all of the router's hooks and then dies, and no
// tracker in bc or bs sees it (nflab hooks every namespace; with a
// blackhole route alone, its tracker in bs would make an entry for every
// packet, which the kernel's, enabled in br only, does not).
//
//	ns bc (client)            ns br (router)              ns bs (server)
//	pktgen ── c0 10.9.0.1 ──── r0 10.9.0.2  r1 10.9.1.1 ──── s0 10.9.1.2
//	sink: ingress drop of                                  sink: ingress drop of
//	10.9.3.0/24 (replies)                                  10.9.2.0/24 (counted)
//	src 10.9.3.x ─────────────────────────────────────────► dst 10.9.2.1
const (
	benchSrc        = "10.9.3.1"  // the flows' source; random ones take .1-.254
	benchDst        = "10.9.2.1"  // behind the server
	benchRouterOut  = "10.9.1.1"  // the router's address towards the server
	estPort         = 7777        // the established flow's source port
	flowsPort       = 10000       // the 1,000 flows' source ports start here
	benchDport      = 9           // every flow's destination port
	userHZ          = 100         // /proc/stat's unit
	bigLimit        = 1_100_000   // table limit outside the full-table test
	bigHash         = 1 << 20     // both trackers' hash buckets
	udpTimeout      = 600         // s: no entry expires during a run
	flushWait       = time.Second // for entries freed after an RCU grace period
	benchStreamWait = 2200 * time.Millisecond
)

// benchProfile sizes a run.
type benchProfile struct {
	name   string
	rounds int
	pkts   int // packets per measurement of established flows
	// rulePkts: pkts of the rule engine's cases (1,000 rules are slow)
	rulePkts int
	newPkt   int // packets of the new-flows measurement
	// Pre-fill sizes, in increasing order; a size is measured in the last
	// lastRounds[i] rounds only (0: every round), to keep the biggest
	// fills (a minute each under TCG) to a few rounds.
	sizes      []int
	lastRounds []int
	fullLimit  int // table limit of the full-table test
	floodPkts  int // packets of the flood and of the established flow each
	// The rule engine: the prefixes of RSET's set; the rules and the
	// set's prefixes whose apply time and memory C measures, in the last
	// applyLast rounds (0: every round); its cases (R1, R1000, RSET) run
	// in the last ruleLast rounds (0: every round).
	setSize, applyRules, applyPrefixes, applyLast, ruleLast int
}

var benchProfiles = map[string]benchProfile{
	"full": {
		name: "full", rounds: 7, pkts: 50000, rulePkts: 20000, newPkt: 30000,
		sizes: []int{1000, 100000, 1000000}, lastRounds: []int{0, 0, 2},
		fullLimit: 16384, floodPkts: 30000,
		setSize: 100000, applyRules: 10000, applyPrefixes: 1000000, applyLast: 3,
	},
	// make bench-smoke: every configuration moves traffic, nothing more.
	"smoke": {
		name: "smoke", rounds: 2, pkts: 3000, rulePkts: 3000, newPkt: 3000,
		sizes: []int{1000}, lastRounds: []int{0},
		fullLimit: 1024, floodPkts: 2000,
		setSize: 10000, applyRules: 1000, applyPrefixes: 100000, applyLast: 1, ruleLast: 1,
	},
}

// benchConfig is one configuration of the router.
type benchConfig struct {
	bench.Config
	tracker bool
	setup   func(b *testing.B)
	// teardown undoes setup and frees the table.
	teardown func(b *testing.B)
	// count returns the router's tracked connections.
	count func(b *testing.B) int64
	// limit sets the router's table limit (and the kernel's hash size).
	limit func(b *testing.B, n int)
	flush func(b *testing.B)
	// assured reports whether the router holds the established flow
	// (source port estPort) as assured.
	assured func(b *testing.B) bool
	// cache is the slab cache of the tracker's entries.
	cache string
	// ppsOnly: the packets/s of 1 established flow only (the rule
	// engine's cases), no 1,000 flows, pre-fill, flood or new flows.
	ppsOnly bool
	// apply: measure the rule engine's apply time and memory with these
	// files at the end (C); nil: not.
	apply *ruleFiles
	// natOnly: NAT's cases, the packets/s of 1 established flow and new
	// flows/s; replyDst is where the server answers (the router's
	// masquerading address).
	natOnly  bool
	replyDst string
}

// BenchmarkCompare runs the configurations in interleaved rounds (A B C A
// B C ...) in this one VM and prints one bench.Record per measurement; the
// host (TestGuest) makes the report. NFLAB_BENCH_PROFILE is full or
// smoke; NFLAB_BENCH_ROUNDS overrides the rounds. Run it with make bench or
// make bench-smoke, never on the debug kernel.
func BenchmarkCompare(b *testing.B) {
	if b.N > 1 {
		b.Skip("runs once (go test -benchtime=1x)")
	}
	name := os.Getenv("NFLAB_BENCH_PROFILE")
	if name == "" {
		name = "full"
	}
	prof, ok := benchProfiles[name]
	if !ok {
		b.Fatalf("NFLAB_BENCH_PROFILE=%q: want full or smoke", name)
	}
	if v := os.Getenv("NFLAB_BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("NFLAB_BENCH_ROUNDS=%q: want a positive number", v)
		}
		prof.rounds = n
	}
	for _, m := range []string{"pktgen", "nf_conntrack", "nf_conntrack_netlink", "nf_tables", "nft_ct",
		"nf_nat", "nft_chain_nat", "nft_masq"} {
		benchRun(b, "modprobe", m)
	}
	topo := newBenchTopo(b)
	configs := benchConfigs(b, prof, writeRuleFiles(b, prof))
	meta := bench.Record{Kind: bench.KindMeta, Profile: prof.name, Rounds: prof.rounds}
	for _, c := range configs {
		meta.Configs = append(meta.Configs, c.Config)
	}
	fmt.Println(meta.Line())

	start := time.Now()
	for round := 1; round <= prof.rounds; round++ {
		for _, c := range configs {
			if c.ppsOnly && prof.ruleLast > 0 && round <= prof.rounds-prof.ruleLast {
				continue
			}
			t0 := time.Now()
			fmt.Printf("bench: round %d/%d, %s (%.0fs so far)\n", round, prof.rounds, c.Label, time.Since(start).Seconds())
			topo.runConfig(b, prof, round, c)
			fmt.Printf("bench: round %d/%d, %s done in %.1fs\n", round, prof.rounds, c.Label, time.Since(t0).Seconds())
		}
	}
	b.ReportMetric(float64(prof.rounds), "rounds")
}

// benchConfigs returns A, B, C, the rule engine's R1, R1000 and RSET and,
// under make bench BASELINE=<rev>, C'.
func benchConfigs(b *testing.B, prof benchProfile, rf ruleFiles) []benchConfig {
	br := netns("br")
	// The kernel's table: hash and limit are global, the UDP timeouts the
	// router namespace's.
	benchWrite(b, "/sys/module/nf_conntrack/parameters/hashsize", strconv.Itoa(bigHash))
	benchRun(b, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_max=%d", bigLimit))
	kernelLimit := func(b *testing.B, n int) {
		hash := bigHash
		if n < bigLimit {
			// As many buckets as entries, as the kernel sizes
			// them: early drop looks at a few buckets only.
			hash = n
		}
		benchWrite(b, "/sys/module/nf_conntrack/parameters/hashsize", strconv.Itoa(hash))
		benchRun(b, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_max=%d", n))
	}
	kernel := benchConfig{
		Config:  bench.Config{Name: bench.Kernel, Label: "B nf_conntrack + nft ct state"},
		tracker: true,
		cache:   "nf_conntrack",
		setup: func(b *testing.B) {
			benchRunIn(b, br, "nft", "-f", "-", `table ip bench {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		ct state new accept
	}
}
`)
			benchRun(b, "ip", "netns", "exec", "br", "sysctl", "-qw",
				fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout=%d", udpTimeout),
				fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout_stream=%d", udpTimeout))
		},
		teardown: func(b *testing.B) {
			benchRun(b, "ip", "netns", "exec", "br", "nft", "delete", "table", "ip", "bench")
			benchRun(b, "ip", "netns", "exec", "br", "conntrack", "-F")
		},
		count: func(b *testing.B) int64 {
			return benchInt(b, benchRun(b, "ip", "netns", "exec", "br", "cat", "/proc/sys/net/netfilter/nf_conntrack_count"))
		},
		limit: kernelLimit,
		flush: func(b *testing.B) { benchRun(b, "ip", "netns", "exec", "br", "conntrack", "-F") },
		assured: func(b *testing.B) bool {
			out := benchRun(b, "ip", "netns", "exec", "br", "conntrack", "-L", "-p", "udp",
				"--sport", strconv.Itoa(estPort))
			return strings.Contains(out, "[ASSURED]")
		},
	}
	nflabConfig := func(name, label, ko string) benchConfig {
		return benchConfig{
			Config:  bench.Config{Name: name, Label: label},
			tracker: true,
			cache:   "nflab_conn",
			setup: func(b *testing.B) {
				loadModuleFile(b, ko, fmt.Sprintf("hashsize=%d", bigHash),
					fmt.Sprintf("ct_max=%d", bigLimit), fmt.Sprintf("ct_global_max=%d", 2*bigLimit))
				benchRun(b, "ip", "netns", "exec", "br", "nflab", "ct", "config",
					"--timeout", fmt.Sprintf("udp_unreplied=%ds", udpTimeout),
					"--timeout", fmt.Sprintf("udp_assured=%ds", udpTimeout))
			},
			teardown: func(b *testing.B) { unloadModule(b) },
			count: func(b *testing.B) int64 {
				var c struct{ Count int64 }
				out := benchRun(b, "ip", "netns", "exec", "br", "nflab", "ct", "count", "-o", "json")
				if err := json.Unmarshal([]byte(out), &c); err != nil {
					b.Fatalf("nflab ct count: %v: %q", err, out)
				}
				return c.Count
			},
			limit: func(b *testing.B, n int) {
				benchRun(b, "ip", "netns", "exec", "br", "nflab", "ct", "config", "--limit", strconv.Itoa(n))
			},
			flush: func(b *testing.B) { benchRun(b, "ip", "netns", "exec", "br", "nflab", "ct", "flush") },
			assured: func(b *testing.B) bool {
				var c struct{ Count int64 }
				out := benchRun(b, "ip", "netns", "exec", "br", "nflab", "ct", "count", "-p", "udp",
					"--sport", strconv.Itoa(estPort), "-u", "ASSURED", "-o", "json")
				if err := json.Unmarshal([]byte(out), &c); err != nil {
					b.Fatalf("nflab ct count: %v: %q", err, out)
				}
				return c.Count == 1
			},
		}
	}
	none := func(*testing.B) {}
	c := nflabConfig(bench.Nflab, "C nflab", os.Getenv("NFLAB_KO"))
	c.apply = &rf
	// The rule engine's cases: C with rules on the router's
	// filter/forward chain that match nothing the benchmark sends.
	rulesConfig := func(name, label, short string, load func(b *testing.B)) benchConfig {
		r := nflabConfig(name, label, os.Getenv("NFLAB_KO"))
		r.Short = short
		r.Only = []string{bench.PPS1Flow, bench.Softirq1Flow}
		r.ppsOnly = true
		setup := r.setup
		r.setup = func(b *testing.B) {
			setup(b)
			load(b)
		}
		return r
	}
	setShort := bench.SI(float64(prof.setSize)) + "-prefix set rule"
	configs := []benchConfig{
		{Config: bench.Config{Name: bench.Bare, Label: "A bare forwarding"}, setup: none, teardown: none,
			count: func(*testing.B) int64 { return 0 }, limit: func(*testing.B, int) {}, flush: none},
		kernel,
		c,
		rulesConfig(bench.Rule1, "R1 nflab, 1 rule", "1 rule", func(b *testing.B) {
			rulesApply(b, rf.rule1, 1)
		}),
		rulesConfig(bench.Rules1k, "R1000 nflab, 1,000 rules", "1,000 rules", func(b *testing.B) {
			rulesApply(b, rf.rules1k, 1000)
		}),
		rulesConfig(bench.RuleSet, "RSET nflab, 1 rule, "+bench.SI(float64(prof.setSize))+"-prefix set", setShort, func(b *testing.B) {
			rulesApply(b, rf.ruleSet, 1)
			setLoad(b, "blocked", rf.set, prof.setSize)
		}),
	}
	// NAT: masquerade out of r1, by the kernel (D) and by nflab (E).
	natMetrics := []string{bench.PPS1Flow, bench.Softirq1Flow, bench.NewFlows, bench.SoftirqNewFlows}
	kernelMasq := kernel
	kernelMasq.Config = bench.Config{Name: bench.KernelMasq, Label: "D nf_conntrack + nft masquerade", Short: "kernel masquerade", Only: natMetrics}
	kernelMasq.natOnly, kernelMasq.replyDst = true, benchRouterOut
	kernelMasq.setup = func(b *testing.B) {
		kernel.setup(b)
		benchRunIn(b, br, "nft", "-f", "-", `table ip bench {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oif "r1" masquerade
	}
}
`)
	}
	nflabMasq := nflabConfig(bench.NflabMasq, "E nflab masquerade", os.Getenv("NFLAB_KO"))
	nflabMasq.Short, nflabMasq.Only = "nflab masquerade", natMetrics
	nflabMasq.natOnly, nflabMasq.replyDst = true, benchRouterOut
	masqSetup := nflabMasq.setup
	nflabMasq.setup = func(b *testing.B) {
		masqSetup(b)
		rulesApply(b, rf.masq, 1)
	}
	configs = append(configs, kernelMasq, nflabMasq)
	if ko := os.Getenv("NFLAB_BASELINE_KO"); ko != "" {
		configs = append(configs, nflabConfig(bench.Baseline, "C' nflab BASELINE", ko))
	}
	return configs
}

// runConfig sets c up, measures everything prof asks for in this round,
// prints the samples and tears c down.
func (tp *benchTopo) runConfig(b *testing.B, prof benchProfile, round int, c benchConfig) {
	emit := func(metric string, x int, v float64, r sendResult, entries int64) {
		rec := bench.Record{Kind: bench.KindSample, Round: round, Config: c.Name, Metric: metric, X: x, Value: v,
			Sent: r.sent, Delivered: r.delivered, Micros: r.micros, Entries: entries}
		fmt.Println(rec.Line())
	}
	progress := func(format string, args ...any) {
		fmt.Printf("bench:   %s: %s\n", c.Name, fmt.Sprintf(format, args...))
	}
	traffic := func(pps, softirq string, r sendResult) {
		emit(pps, 0, r.pps(), r, 0)
		if softirq != "" {
			emit(softirq, 0, r.softirqNS(), r, 0)
		}
		progress("%s %s pkt/s (%d of %d delivered), softirq %.0f ns/pkt", pps, bench.SI(r.pps()), r.delivered, r.sent, r.softirqNS())
	}
	c.setup(b)

	// 1 and 1,000 established flows: each flow's first packet, an answer
	// from the server, then the measurement.
	est := pgFlow{sport: estPort, count: prof.pkts}
	if c.ppsOnly || c.natOnly {
		est.count = prof.rulePkts
	}
	tp.replyDst = benchSrc
	if c.replyDst != "" {
		tp.replyDst = c.replyDst
	}
	tp.establish(b, estPort, 1)
	// A tenth more first, not measured: the first packets after a
	// configuration change pay for what the change left behind
	// (translated code, caches, deferred frees).
	tp.send(b, pgFlow{sport: estPort, count: est.count / 10})
	traffic(bench.PPS1Flow, bench.Softirq1Flow, tp.send(b, est))
	if c.ppsOnly {
		c.teardown(b)
		time.Sleep(flushWait)
		return
	}
	if c.natOnly {
		// New flows through the translation: every first packet
		// takes a NAT decision and a free tuple.
		traffic(bench.NewFlows, bench.SoftirqNewFlows, tp.send(b, pgFlow{random: true, count: prof.newPkt}))
		c.teardown(b)
		time.Sleep(flushWait)
		return
	}
	tp.establish(b, flowsPort, 1000)
	traffic(bench.PPS1kFlows, bench.Softirq1kFlows, tp.send(b, pgFlow{sport: flowsPort, nports: 1000, count: prof.pkts}))

	// Pre-filled tables: random new flows fill the router's table to each
	// size, then the established flow is measured. The Slab growth over
	// the fill is the memory per entry.
	if c.tracker {
		slab0, n0 := benchSlab(b), c.count(b)
		var slab1, n1 int64
		for i, size := range prof.sizes {
			if last := prof.lastRounds[i]; last > 0 && round <= prof.rounds-last {
				break
			}
			// Random flows repeat now and then: top up, a few times
			// at most, to within 1 % of the size.
			for try := 0; try < 3; try++ {
				fill := int64(size) - c.count(b)
				if fill <= int64(size)/100 {
					break
				}
				progress("filling the table to %s entries", bench.SI(float64(size)))
				tp.send(b, pgFlow{random: true, count: int(fill)})
			}
			n := c.count(b)
			slab1, n1 = benchSlab(b), n
			r := tp.send(b, est)
			emit(bench.PrefillPPS, size, r.pps(), r, n)
			progress("%s at %s entries: %s pkt/s", bench.PrefillPPS, bench.SI(float64(n)), bench.SI(r.pps()))
		}
		if n1 > n0 {
			per := float64(slab1-slab0) / float64(n1-n0)
			emit(bench.BytesPerConn, 0, per, sendResult{}, n1)
			obj := benchInt(b, benchReadFile(b, "/sys/kernel/slab/"+c.cache+"/slab_size"))
			emit(bench.SlabObject, 0, float64(obj), sendResult{}, n1)
			progress("%.0f bytes of slab per entry (%d entries), %s's objects %d bytes", per, n1-n0, c.cache, obj)
		}
		c.flush(b)
	}

	// Table full under a random-port flood: the established flow is
	// made assured first (traffic in both directions, then more than 2 s
	// later another packet: then no early drop may take it), the table
	// is filled to its limit, then the flow and the flood share the
	// sender one to one.
	tp.establish(b, estPort, 1)
	// The reply is in when establish returns; the stream clock runs
	// from then (pktgen's own start-up takes a few hundred ms).
	created := time.Now()
	c.limit(b, prof.fullLimit)
	if c.tracker {
		time.Sleep(time.Until(created.Add(benchStreamWait)))
	}
	tp.send(b, pgFlow{sport: estPort, count: 1})
	if c.tracker && !c.assured(b) {
		b.Fatalf("%s: the established flow is not assured before the flood", c.Name)
	}
	tp.send(b, pgFlow{random: true, count: prof.fullLimit * 5 / 4})
	entries := c.count(b)
	r := tp.send(b, pgFlow{sport: estPort, count: prof.floodPkts, shared: true}, pgFlow{random: true, count: prof.floodPkts, shared: true})
	emit(bench.FloodEstPPS, 0, r.ppsOf(0), r.of(0), entries)
	emit(bench.FloodPPS, 0, r.ppsOf(1), r.of(1), entries)
	progress("table full (%d entries): established flow %s pkt/s, flood %s pkt/s delivered", entries, bench.SI(r.ppsOf(0)), bench.SI(r.ppsOf(1)))
	c.limit(b, bigLimit)
	c.flush(b)

	// New flows: every packet has a random source address and port.
	traffic(bench.NewFlows, bench.SoftirqNewFlows, tp.send(b, pgFlow{random: true, count: prof.newPkt}))

	if c.apply != nil && (prof.applyLast == 0 || round > prof.rounds-prof.applyLast) {
		applyTest(b, prof, *c.apply, c.Name, round, progress)
	}
	c.teardown(b)
	if c.tracker {
		// Freed entries leave with an RCU grace period: not in the next
		// configuration's Slab figures.
		time.Sleep(flushWait)
	}
}

// benchTopo is the client—router—server topology.
type benchTopo struct {
	r0MAC, r1MAC string
	// replyDst: where the server's answers go (benchSrc, or the router's
	// address when it masquerades).
	replyDst string
}

func newBenchTopo(b *testing.B) *benchTopo {
	for _, ns := range []string{"bc", "br", "bs"} {
		benchRun(b, "ip", "netns", "add", ns)
		b.Cleanup(func() { _, _ = tryCmd("ip", "netns", "del", ns) })
		benchRun(b, "ip", "-n", ns, "link", "set", "lo", "up")
		// No IPv6 (router solicitations, MLD): the server's device
		// then receives the benchmark's packets and nothing else.
		benchRun(b, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
			"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	for _, c := range [][]string{
		{"ip", "link", "add", "c0", "netns", "bc", "type", "veth", "peer", "name", "r0", "netns", "br"},
		{"ip", "link", "add", "s0", "netns", "bs", "type", "veth", "peer", "name", "r1", "netns", "br"},
		{"ip", "-n", "bc", "addr", "add", "10.9.0.1/24", "dev", "c0"},
		{"ip", "-n", "br", "addr", "add", "10.9.0.2/24", "dev", "r0"},
		{"ip", "-n", "br", "addr", "add", "10.9.1.1/24", "dev", "r1"},
		{"ip", "-n", "bs", "addr", "add", "10.9.1.2/24", "dev", "s0"},
		{"ip", "-n", "bc", "link", "set", "c0", "up"},
		{"ip", "-n", "br", "link", "set", "r0", "up"},
		{"ip", "-n", "br", "link", "set", "r1", "up"},
		{"ip", "-n", "bs", "link", "set", "s0", "up"},
		{"ip", "-n", "br", "route", "add", "10.9.2.0/24", "via", "10.9.1.2"},
		{"ip", "-n", "br", "route", "add", "10.9.3.0/24", "via", "10.9.0.1"},
		// Not reached (the sinks drop first): if a sink went missing,
		// the packets would still die quietly.
		{"ip", "-n", "bs", "route", "add", "blackhole", "10.9.2.0/24"},
		{"ip", "-n", "bc", "route", "add", "blackhole", "10.9.3.0/24"},
	} {
		benchRun(b, c...)
	}
	mac := func(ns, dev string) string {
		return strings.TrimSpace(benchRun(b, "ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address"))
	}
	tp := &benchTopo{r0MAC: mac("br", "r0"), r1MAC: mac("br", "r1")}
	// No ARP during a run: the router's neighbours are fixed.
	benchRun(b, "ip", "-n", "br", "neigh", "replace", "10.9.1.2", "lladdr", mac("bs", "s0"), "dev", "r1", "nud", "permanent")
	benchRun(b, "ip", "-n", "br", "neigh", "replace", "10.9.0.1", "lladdr", mac("bc", "c0"), "dev", "r0", "nud", "permanent")
	for _, s := range []struct{ ns, dev, dst string }{{"bs", "s0", "10.9.2.0/24"}, {"bc", "c0", "10.9.3.0/24"}} {
		benchRunIn(b, netns(s.ns), "nft", "-f", "-", fmt.Sprintf(`table netdev sink {
	chain in {
		type filter hook ingress device %s priority 0; policy accept;
		ip daddr %s udp sport %d counter drop
		ip daddr %s counter drop
	}
}
`, s.dev, s.dst, estPort, s.dst))
	}
	// Warm up: the first packets through a fresh path pay for caches.
	tp.send(b, pgFlow{sport: 1, count: 1000})
	return tp
}

// pgFlow is what one pktgen device sends from bc: UDP from benchSrc (or a
// random source in 10.9.3.0/24 and a random port, for random) to
// benchDst:benchDport.
type pgFlow struct {
	sport, nports int // source ports sport..sport+nports-1, in turn
	random        bool
	count         int
	// shared: several devices take turns on the one pktgen thread (a
	// delay, however short, makes pktgen pick the device due first);
	// alone, a device sends as fast as it can.
	shared bool
}

// sendResult is one pktgen run of one or more devices.
type sendResult struct {
	sent, errors, micros int64
	delivered            int64
	softirqTicks         int64
	devs                 []sendResult
}

func (r sendResult) pps() float64 {
	if r.micros == 0 {
		return 0
	}
	return float64(r.delivered) * 1e6 / float64(r.micros)
}

func (r sendResult) softirqNS() float64 {
	if r.delivered == 0 {
		return 0
	}
	return float64(r.softirqTicks) * 1e9 / userHZ / float64(r.delivered)
}

func (r sendResult) of(i int) sendResult { return r.devs[i] }
func (r sendResult) ppsOf(i int) float64 { return r.devs[i].pps() }

// send runs pktgen in bc with one device per flow and waits until all
// have sent. Delivered packets are counted at the server: for shared flows
// by the sink, those of the established flow's port for a flow from
// estPort, the others' for the rest (at most one flow of each kind per
// run).
func (tp *benchTopo) send(b *testing.B, flows ...pgFlow) sendResult {
	b.Helper()
	var cmds []pgCmd
	cmds = append(cmds, pgCmd{"kpktgend_0", "rem_device_all"})
	for i, f := range flows {
		dev := fmt.Sprintf("c0@%d", i)
		cmds = append(cmds, pgCmd{"kpktgend_0", "add_device " + dev})
		cmds = append(cmds, pgDevice(dev, f.count, tp.r0MAC, "dst "+benchDst,
			fmt.Sprintf("udp_dst_min %d", benchDport), fmt.Sprintf("udp_dst_max %d", benchDport))...)
		switch {
		case f.random:
			cmds = append(cmds, pgCmds(dev, "src_min 10.9.3.1", "src_max 10.9.3.254", "udp_src_min 1024",
				"udp_src_max 65535", "flag UDPSRC_RND", "flag IPSRC_RND")...)
		default:
			n := max(f.nports, 1)
			cmds = append(cmds, pgCmds(dev, "src_min "+benchSrc, "src_max "+benchSrc,
				fmt.Sprintf("udp_src_min %d", f.sport), fmt.Sprintf("udp_src_max %d", f.sport+n-1))...)
		}
		if f.shared {
			cmds = append(cmds, pgCmd{dev, "delay 1000"})
		}
	}
	// The flood shares the sink with the established flow: nftables
	// counts them apart. Alone, a flow is what the server's device
	// received (cheaper to read than to run nft).
	var sink0, sink1 [2]int64
	shared := flows[0].shared
	if shared {
		sink0 = sinkCounters(b, "bs")
	} else {
		sink0[0] = sinkRx(b, "bs", "s0")
	}
	cpu0 := procStatSoftirq(b)
	pktgen(b, "bc", append(cmds, pgCmd{"pgctrl", "start"})...)
	cpu1 := procStatSoftirq(b)
	if shared {
		sink1 = sinkCounters(b, "bs")
	} else {
		sink1[0] = sinkRx(b, "bs", "s0")
	}

	var r sendResult
	r.softirqTicks = cpu1 - cpu0
	for i, f := range flows {
		d := pktgenResult(b, "bc", fmt.Sprintf("c0@%d", i))
		if !shared || f.sport == estPort && !f.random {
			d.delivered = sink1[0] - sink0[0]
		} else {
			d.delivered = sink1[1] - sink0[1]
		}
		d.softirqTicks = r.softirqTicks
		r.devs = append(r.devs, d)
		r.sent += d.sent
		r.errors += d.errors
		r.delivered += d.delivered
		r.micros = max(r.micros, d.micros)
	}
	return r
}

// establish makes n flows from source ports sport.. known to the router
// in both directions: their first packets, then one answer each from the
// server.
func (tp *benchTopo) establish(b *testing.B, sport, n int) {
	b.Helper()
	tp.send(b, pgFlow{sport: sport, nports: n, count: n})
	cmds := []pgCmd{{"kpktgend_0", "rem_device_all"}, {"kpktgend_0", "add_device s0"}}
	cmds = append(cmds, pgDevice("s0", n, tp.r1MAC, "dst "+tp.replyDst, "src_min "+benchDst, "src_max "+benchDst,
		fmt.Sprintf("udp_src_min %d", benchDport), fmt.Sprintf("udp_src_max %d", benchDport),
		fmt.Sprintf("udp_dst_min %d", sport), fmt.Sprintf("udp_dst_max %d", sport+n-1))...)
	pktgen(b, "bs", append(cmds, pgCmd{"pgctrl", "start"})...)
	if d := pktgenResult(b, "bs", "s0"); d.sent != int64(n) {
		b.Fatalf("the server's answers: pktgen sent %d packets, want %d", d.sent, n)
	}
}

// pgCmd is one write to a file of /proc/net/pktgen.
type pgCmd struct{ file, cmd string }

func pgCmds(dev string, cmds ...string) []pgCmd {
	out := make([]pgCmd, len(cmds))
	for i, c := range cmds {
		out[i] = pgCmd{dev, c}
	}
	return out
}

// pgDevice is the setup common to every device: count packets of the
// smallest size, one fresh skb each, to dstMAC.
func pgDevice(dev string, count int, dstMAC string, more ...string) []pgCmd {
	return pgCmds(dev, append([]string{fmt.Sprintf("count %d", count), "pkt_size 60", "delay 0",
		"flag NO_TIMESTAMP", "dst_mac " + dstMAC}, more...)...)
}

// pktgen writes cmds to /proc/net/pktgen of network namespace ns (pktgen
// is per namespace) from a thread that entered it. Writing "start" to
// pgctrl returns when every device has sent its count, or early when a
// signal reaches the writing thread (it sleeps interruptibly, before the
// devices start and while they run): so pktgen then waits until every
// device added has a result and kpktgend_0 runs none.
func pktgen(b *testing.B, ns string, cmds ...pgCmd) {
	b.Helper()
	var devs []string
	for _, c := range cmds {
		if d, ok := strings.CutPrefix(c.cmd, "add_device "); ok {
			devs = append(devs, d)
		}
	}
	inNetns(b, ns, func() error {
		for _, c := range cmds {
			f, err := os.OpenFile("/proc/thread-self/net/pktgen/"+c.file, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			_, err = f.WriteString(c.cmd + "\n") // pgctrl drops the last byte
			f.Close()
			if err != nil {
				return fmt.Errorf("pktgen %s: %q: %w", c.file, c.cmd, err)
			}
			switch {
			case c.file == "pgctrl" && c.cmd == "start":
				if err := pktgenWait(devs); err != nil {
					return err
				}
			case c.cmd == "rem_device_all":
				// The thread removes them a moment later, and
				// the write waits for that interruptibly too.
				if err := pktgenWait(nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// pktgenWait waits until, in the calling thread's namespace, each of devs
// has the result of a run (a device's results are those of its
// configuration until it has run) and kpktgend_0 runs no device; for no
// devs, until kpktgend_0 holds no device at all.
func pktgenWait(devs []string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := os.ReadFile("/proc/thread-self/net/pktgen/kpktgend_0")
		if err != nil {
			return err
		}
		busy := ""
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "Running:"); ok && busy == "" {
				busy = strings.TrimSpace(r)
			}
			if r, ok := strings.CutPrefix(l, "Stopped:"); ok && devs == nil && busy == "" {
				busy = strings.TrimSpace(r)
			}
		}
		for _, d := range devs {
			if busy != "" {
				break
			}
			out, err := os.ReadFile("/proc/thread-self/net/pktgen/" + d)
			if err != nil {
				return err
			}
			if !pktgenResultRE.Match(out) {
				busy = d + " (not run yet)"
			}
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pktgen: not done after 5 minutes: %s", busy)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var pktgenResultRE = regexp.MustCompile(`Result: OK: (\d+)\(c\d+\+d\d+\) usec, (\d+) \(`)
var pktgenErrorsRE = regexp.MustCompile(`errors: (\d+)`)

// pktgenResult reads what pktgen device dev in ns last did.
func pktgenResult(b *testing.B, ns, dev string) sendResult {
	b.Helper()
	var out []byte
	inNetns(b, ns, func() (err error) {
		out, err = os.ReadFile("/proc/thread-self/net/pktgen/" + dev)
		return err
	})
	m := pktgenResultRE.FindSubmatch(out)
	if m == nil {
		b.Fatalf("pktgen %s in %s: no result:\n%s", dev, ns, out)
	}
	r := sendResult{micros: benchInt(b, string(m[1])), sent: benchInt(b, string(m[2]))}
	if e := pktgenErrorsRE.FindSubmatch(out); e != nil {
		r.errors = benchInt(b, string(e[1]))
	}
	return r
}

var sinkCounterRE = regexp.MustCompile(`counter packets (\d+)`)

// sinkCounters returns the packets the sink of ns dropped: the established
// flow's, then the rest.
func sinkCounters(b *testing.B, ns string) [2]int64 {
	b.Helper()
	out := benchRun(b, "ip", "netns", "exec", ns, "nft", "list", "chain", "netdev", "sink", "in")
	m := sinkCounterRE.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		b.Fatalf("the sink of %s: want two counters:\n%s", ns, out)
	}
	return [2]int64{benchInt(b, m[0][1]), benchInt(b, m[1][1])}
}

// sinkRx returns the packets dev in ns has received (/proc/net/dev).
func sinkRx(b *testing.B, ns, dev string) int64 {
	b.Helper()
	var out []byte
	inNetns(b, ns, func() (err error) {
		out, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	})
	for _, l := range strings.Split(string(out), "\n") {
		name, stats, ok := strings.Cut(l, ":")
		if f := strings.Fields(stats); ok && strings.TrimSpace(name) == dev && len(f) > 1 {
			return benchInt(b, f[1])
		}
	}
	b.Fatalf("netns %s: no device %s in /proc/net/dev:\n%s", ns, dev, out)
	return 0
}

// procStatSoftirq returns the CPUs' softirq time, in USER_HZ ticks. The
// stock kernels account it by sampling at each tick (no
// IRQ_TIME_ACCOUNTING): a measurement of seconds holds hundreds of
// samples.
func procStatSoftirq(b *testing.B) int64 {
	b.Helper()
	f := strings.Fields(strings.SplitN(benchReadFile(b, "/proc/stat"), "\n", 2)[0])
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: unexpected first line %q", f)
	}
	return benchInt(b, f[7])
}

// benchSlab returns the Slab line of /proc/meminfo, in bytes.
func benchSlab(b *testing.B) int64 {
	b.Helper()
	for _, l := range strings.Split(benchReadFile(b, "/proc/meminfo"), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "Slab:" {
			return benchInt(b, f[1]) * 1024
		}
	}
	b.Fatal("/proc/meminfo has no Slab line")
	return 0
}

func benchRun(b *testing.B, argv ...string) string {
	b.Helper()
	out, err := tryCmd(argv...)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// benchRunIn runs argv in ns with stdin as its standard input.
func benchRunIn(b *testing.B, ns netns, argv ...string) {
	b.Helper()
	stdin := argv[len(argv)-1]
	out, err := runStdin(stdin, append([]string{"ip", "netns", "exec", string(ns)}, argv[:len(argv)-1]...)...)
	if err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
}

// runStdin runs argv with stdin as its standard input and returns its
// combined output.
func runStdin(stdin string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

func benchReadFile(b *testing.B, path string) string {
	b.Helper()
	out, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return string(out)
}

func benchWrite(b *testing.B, path, v string) {
	b.Helper()
	if err := os.WriteFile(path, []byte(v), 0); err != nil {
		b.Fatal(err)
	}
}

func benchInt(b *testing.B, s string) int64 {
	b.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// ruleFiles are the rule engine's inputs, written once per run: rulesets
// for nflab rules apply, prefix lists for nflab set load.
type ruleFiles struct {
	rule1, rules1k, ruleSet, set string
	applyRules, applyPrefixes    string
	masq                         string // E's one masquerade rule
}

// writeRuleFiles writes the rule engine's inputs. No rule and no prefix
// holds the benchmark's addresses (10.9.0.0/16): every packet goes through
// every rule, matches none and is accepted by the chain's policy.
func writeRuleFiles(b *testing.B, prof benchProfile) ruleFiles {
	dir := b.TempDir()
	write := func(name string, gen func(w *strings.Builder)) string {
		var w strings.Builder
		gen(&w)
		f := dir + "/" + name
		if err := os.WriteFile(f, []byte(w.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		return f
	}
	// prefixRules: n rules, one /24 each from 172.16.0.0 on.
	prefixRules := func(n int) func(w *strings.Builder) {
		return func(w *strings.Builder) {
			for i := range n {
				fmt.Fprintf(w, "rule filter forward ip saddr %s/24 drop\n", ipv4(0xac100000+uint32(i)<<8))
			}
		}
	}
	// prefixList: n prefixes of length bits, every other one from base
	// on, so that none merges with the next into one range.
	prefixList := func(n int, base uint32, bits int) func(w *strings.Builder) {
		return func(w *strings.Builder) {
			step := uint32(2) << (32 - bits)
			for i := range n {
				fmt.Fprintf(w, "%s/%d\n", ipv4(base+uint32(i)*step), bits)
			}
		}
	}
	return ruleFiles{
		masq:    write("masq.nft", func(w *strings.Builder) { w.WriteString("rule nat postrouting oif r1 masquerade\n") }),
		rule1:   write("rule1.nft", func(w *strings.Builder) { w.WriteString("rule filter forward ip saddr 192.0.2.0/24 drop\n") }),
		rules1k: write("rules1k.nft", prefixRules(1000)),
		ruleSet: write("ruleset.nft", func(w *strings.Builder) {
			w.WriteString("set blocked addr\nrule filter forward ip saddr @blocked drop\n")
		}),
		// /24s from 20.0.0.0: a registry's list.
		set:        write("blocked.list", prefixList(prof.setSize, 0x14000000, 24)),
		applyRules: write("apply.nft", prefixRules(prof.applyRules)),
		// /32s from 32.0.0.0.
		applyPrefixes: write("apply.list", prefixList(prof.applyPrefixes, 0x20000000, 32)),
	}
}

func ipv4(a uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
}

// rulesApply applies ruleset file in the router and checks that it holds
// want rules: a ruleset that went missing would make a case measure
// nothing.
func rulesApply(b *testing.B, file string, want int) {
	b.Helper()
	benchRun(b, "ip", "netns", "exec", "br", "nflab", "rules", "apply", "-f", file)
	var l struct{ Rules []json.RawMessage }
	out := benchRun(b, "ip", "netns", "exec", "br", "nflab", "rule", "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		b.Fatalf("nflab rule list: %v: %.200q", err, out)
	}
	if len(l.Rules) != want {
		b.Fatalf("nflab rules apply -f %s: the router holds %d rules, want %d", file, len(l.Rules), want)
	}
}

// setLoad loads the prefix list file into address set name in the router
// (creating it) and checks that it holds want ranges (the lists' prefixes
// do not merge).
func setLoad(b *testing.B, name, file string, want int) {
	b.Helper()
	benchRun(b, "ip", "netns", "exec", "br", "nflab", "set", "load", name, "-f", file, "--type", "addr")
	var l struct{ Sets []struct{ Count int } }
	out := benchRun(b, "ip", "netns", "exec", "br", "nflab", "set", "list", name, "-o", "json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		b.Fatalf("nflab set list: %v: %.200q", err, out)
	}
	if len(l.Sets) != 1 || l.Sets[0].Count != want {
		b.Fatalf("nflab set load %s -f %s: the router's set is %+v, want %d ranges", name, file, l.Sets, want)
	}
}

// applyTest measures, in the router of a loaded nflab, the wall time of
// nflab rules apply of prof.applyRules rules and of nflab set load of
// prof.applyPrefixes prefixes, and the memory each holds afterwards
// (benchKernelMem). It leaves the ruleset empty.
func applyTest(b *testing.B, prof benchProfile, rf ruleFiles, config string, round int, progress func(string, ...any)) {
	b.Helper()
	emit := func(metric string, x int, v float64) {
		rec := bench.Record{Kind: bench.KindSample, Round: round, Config: config, Metric: metric, X: x, Value: v}
		fmt.Println(rec.Line())
	}
	flush := func() {
		benchRun(b, "ip", "netns", "exec", "br", "nflab", "rules", "flush")
		time.Sleep(flushWait)
	}
	measure := func(timeMetric, memMetric string, n int, what string, run func()) {
		flush()
		m0 := benchKernelMem(b)
		t0 := time.Now()
		run()
		d := time.Since(t0)
		time.Sleep(flushWait)
		grown := benchKernelMem(b) - m0
		emit(timeMetric, n, d.Seconds())
		emit(memMetric, n, float64(grown))
		progress("%s: %.2fs, %s bytes held", what, d.Seconds(), bench.SI(float64(grown)))
	}
	measure(bench.ApplyRules, bench.ApplyRulesMem, prof.applyRules,
		fmt.Sprintf("nflab rules apply of %s rules", bench.SI(float64(prof.applyRules))), func() {
			benchRun(b, "ip", "netns", "exec", "br", "nflab", "rules", "apply", "-f", rf.applyRules)
		})
	var l struct{ Rules []json.RawMessage }
	if err := json.Unmarshal([]byte(benchRun(b, "ip", "netns", "exec", "br", "nflab", "rule", "list", "-o", "json")), &l); err != nil || len(l.Rules) != prof.applyRules {
		b.Fatalf("after nflab rules apply: %d rules (%v), want %d", len(l.Rules), err, prof.applyRules)
	}
	measure(bench.LoadSet, bench.LoadSetMem, prof.applyPrefixes,
		fmt.Sprintf("nflab set load of %s prefixes", bench.SI(float64(prof.applyPrefixes))), func() {
			benchRun(b, "ip", "netns", "exec", "br", "nflab", "set", "load", "big", "-f", rf.applyPrefixes, "--type", "addr")
		})
	var sl struct{ Sets []struct{ Count int } }
	if err := json.Unmarshal([]byte(benchRun(b, "ip", "netns", "exec", "br", "nflab", "set", "list", "big", "-o", "json")), &sl); err != nil || len(sl.Sets) != 1 || sl.Sets[0].Count != prof.applyPrefixes {
		b.Fatalf("after nflab set load: %+v (%v), want %d ranges", sl.Sets, err, prof.applyPrefixes)
	}
	flush()
}

// benchKernelMem returns Slab + VmallocUsed + Percpu of /proc/meminfo, in
// bytes: the kernel's memory from kmalloc (large kmallocs, straight from
// the page allocator, count in Slab too), kvmalloc's vmalloc fallback and
// the per-CPU allocator. Unlike MemFree, no process's memory (this test's
// own heap, nflab's) is in it.
func benchKernelMem(b *testing.B) int64 {
	b.Helper()
	v := map[string]int64{}
	for _, l := range strings.Split(benchReadFile(b, "/proc/meminfo"), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			v[strings.TrimSuffix(f[0], ":")] = benchInt(b, f[1]) * 1024
		}
	}
	var sum int64
	for _, k := range []string{"Slab", "VmallocUsed", "Percpu"} {
		n, ok := v[k]
		if !ok {
			b.Fatalf("/proc/meminfo has no %s line", k)
		}
		sum += n
	}
	return sum
}
