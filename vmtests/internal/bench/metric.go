package bench

// Metric describes one measured quantity. Metrics lists them in the order
// of the report.
type Metric struct {
	Name  string // in records and JSON
	Title string // for tables and plots
	Short string // for the one-line summaries
	Unit  string
	// Higher says more is better (packets/s); otherwise less is (ns,
	// bytes). Ratios are of the values either way.
	Higher bool
	// Traffic metrics count packets that reached the sink: a
	// configuration whose value is 0 moved no traffic.
	Traffic bool
	// TrackersOnly metrics are not measured for bare forwarding.
	TrackersOnly bool
	// Scaling metrics have one row per table size (Record.X) and a curve
	// for a plot.
	Scaling bool
	// XName is what Record.X counts, for row titles: "entries" when
	// empty.
	XName string
}

// xName is what the metric's Record.X counts.
func (m Metric) xName() string {
	if m.XName == "" {
		return "entries"
	}
	return m.XName
}

// Metric names.
const (
	PPS1Flow        = "pps_1flow"
	PPS1kFlows      = "pps_1kflows"
	NewFlows        = "newflows"
	Softirq1Flow    = "softirq_1flow"
	Softirq1kFlows  = "softirq_1kflows"
	SoftirqNewFlows = "softirq_newflows"
	BytesPerConn    = "bytes_per_conn"
	SlabObject      = "slab_object"
	PrefillPPS      = "prefill_pps"
	PrefillCost     = "prefill_cost" // derived on the host from PrefillPPS
	FloodEstPPS     = "flood_est_pps"
	FloodPPS        = "flood_pps"
	// The rule engine's apply costs, measured in configuration C (nflab)
	// only; X is the number of rules or prefixes.
	ApplyRules    = "apply_rules"
	ApplyRulesMem = "apply_rules_mem"
	LoadSet       = "load_set"
	LoadSetMem    = "load_set_mem"
)

// memHow says how the apply metrics measure memory.
const memHow = "growth of Slab + VmallocUsed + Percpu in /proc/meminfo from before the command to 1 s after it exited: kmalloc, large kmallocs (counted in Slab), vmalloc and per-CPU counters"

// Metrics in report order: the order of priority.
var Metrics = []Metric{
	{Name: PPS1Flow, Title: "packets/s, 1 established UDP flow", Short: "pps (1 flow)", Unit: "pkt/s", Higher: true, Traffic: true},
	{Name: PPS1kFlows, Title: "packets/s, 1,000 established UDP flows", Short: "pps (1,000 flows)", Unit: "pkt/s", Higher: true, Traffic: true},
	{Name: NewFlows, Title: "new flows/s, random UDP source address and port", Short: "new flows/s", Unit: "flows/s", Higher: true, Traffic: true},
	{Name: Softirq1Flow, Title: "softirq CPU per packet, 1 flow", Short: "softirq ns/pkt (1 flow)", Unit: "ns/pkt"},
	{Name: Softirq1kFlows, Title: "softirq CPU per packet, 1,000 flows", Short: "softirq ns/pkt (1,000 flows)", Unit: "ns/pkt"},
	{Name: SoftirqNewFlows, Title: "softirq CPU per new flow", Short: "softirq ns/new flow", Unit: "ns/flow"},
	{Name: BytesPerConn, Title: "slab bytes per tracked connection (growth of Slab in /proc/meminfo)", Short: "bytes/connection", Unit: "B", TrackersOnly: true},
	{Name: SlabObject, Title: "size of the entry's slab object (/sys/kernel/slab/*/slab_size)", Short: "slab object bytes", Unit: "B", TrackersOnly: true},
	{Name: PrefillPPS, Title: "packets/s of 1 flow, table pre-filled", Short: "pps (1 flow, pre-filled)", Unit: "pkt/s", Higher: true, Traffic: true, TrackersOnly: true, Scaling: true},
	{Name: PrefillCost, Title: "cost per packet against the smallest pre-fill (its pps / this pps)", Short: "cost vs smallest pre-fill", Unit: "×", TrackersOnly: true, Scaling: true},
	{Name: FloodEstPPS, Title: "packets/s of 1 established flow, table full under a random-port flood", Short: "pps (1 flow, table full, flood)", Unit: "pkt/s", Higher: true, Traffic: true},
	{Name: FloodPPS, Title: "packets/s of the random-port flood, table full", Short: "flood pps (table full)", Unit: "pkt/s", Higher: true, Traffic: true},
	{Name: ApplyRules, Title: "nflab only, absolute (TCG): wall time of nflab rules apply -f, a ruleset of prefix rules", Short: "time to apply rules (nflab, absolute)", Unit: "s", XName: "rules"},
	{Name: ApplyRulesMem, Title: "nflab only, absolute: kernel memory the applied ruleset holds (" + memHow + ")", Short: "memory of the applied rules (nflab, absolute)", Unit: "B", XName: "rules"},
	{Name: LoadSet, Title: "nflab only, absolute (TCG): wall time of nflab set load -f, distinct /32 prefixes", Short: "time to load a set (nflab, absolute)", Unit: "s", XName: "prefixes"},
	{Name: LoadSetMem, Title: "nflab only, absolute: kernel memory the loaded set holds (" + memHow + ")", Short: "memory of the loaded set (nflab, absolute)", Unit: "B", XName: "prefixes"},
}

// MetricByName returns the metric called name.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// ratioPairs are the ratios the report shows, numerator first, when both
// configurations ran.
var ratioPairs = [][2]string{
	{Nflab, Kernel},
	{Nflab, Bare},
	{Kernel, Bare},
	{Nflab, Baseline},
	// The rule engine: rules against none, and the set rule against the
	// single rule (the goal: about 1.0×).
	{Rule1, Nflab},
	{Rules1k, Nflab},
	{RuleSet, Nflab},
	{RuleSet, Rule1},
	// NAT: nflab's masquerade against the kernel's (the goal: ≥ 1.0×),
	// and what masquerade costs each tracker.
	{NflabMasq, KernelMasq},
	{NflabMasq, Nflab},
	{KernelMasq, Kernel},
}

// natRatio reports whether r is one of NAT's ratios.
func natRatio(r Ratio) bool {
	return r.Num == NflabMasq || r.Num == KernelMasq
}

// ruleRatio reports whether r is one of the rule engine's ratios.
func ruleRatio(r Ratio) bool {
	return r.Num == Rule1 || r.Num == Rules1k || r.Num == RuleSet
}
