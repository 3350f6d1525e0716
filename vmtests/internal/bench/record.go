// Package bench holds what the guest benchmark (vmtests/guest, make bench)
// and the host agree on, and the host's side of it: the records the guest
// prints on its console, the statistics over interleaved rounds, the
// markdown and JSON report, and the check that every configuration moved
// traffic. It must stay free of heavy dependencies: the guest imports it.
// The plots are in package bench/plot.
package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Marker starts every console line that carries a Record.
const Marker = "nflab-bench: "

// Record is one line the guest prints: a Meta record first, then one Sample
// per measurement.
type Record struct {
	Kind string `json:"kind"` // KindMeta or KindSample
	// Meta.
	Profile string   `json:"profile,omitempty"`
	Rounds  int      `json:"rounds,omitempty"`
	Configs []Config `json:"configs,omitempty"`
	// Sample.
	Round  int     `json:"round,omitempty"`  // 1-based
	Config string  `json:"config,omitempty"` // Config.Name
	Metric string  `json:"metric,omitempty"` // Metric.Name
	X      int     `json:"x,omitempty"`      // table size of the prefill metrics
	Value  float64 `json:"value"`
	// What the value was computed from, where it is traffic.
	Sent      int64 `json:"sent,omitempty"`      // packets pktgen sent
	Delivered int64 `json:"delivered,omitempty"` // packets that reached the sink
	Micros    int64 `json:"usec,omitempty"`      // pktgen's run time
	Entries   int64 `json:"entries,omitempty"`   // tracked connections
}

// Record kinds.
const (
	KindMeta   = "meta"
	KindSample = "sample"
)

// Config is one configuration of the router, as the guest ran it.
type Config struct {
	Name  string `json:"name"`  // "bare", "kernel", "nflab", "baseline", "rule1", ...
	Label string `json:"label"` // for tables and plots
	// Short names the configuration in the one-line summaries of the
	// rule engine's ratios ("1 rule"); Label when empty.
	Short string `json:"short,omitempty"`
	// Only lists the metrics the configuration measures; empty: all of
	// them. CheckTraffic asks for no others.
	Only []string `json:"only,omitempty"`
}

// Measures reports whether c measures metric.
func (c Config) Measures(metric string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, metric)
}

// The configurations.
const (
	Bare     = "bare"     // A: forwarding only
	Kernel   = "kernel"   // B: nf_conntrack and an nftables ct state rule
	Nflab    = "nflab"    // C: nflab loaded, no rules
	Baseline = "baseline" // C': nflab at make bench BASELINE=<rev>
	// The rule engine's cases: nflab with rules on the router's
	// filter/forward chain that match nothing the benchmark sends.
	Rule1   = "rule1"   // R1: one prefix rule
	Rules1k = "rules1k" // R1000: 1,000 prefix rules, a linear chain
	RuleSet = "ruleset" // RSET: one rule, ip saddr @set of 100,000 prefixes
	// NAT: masquerade on the router's way to the server.
	KernelMasq = "kernel_masq" // D: nf_conntrack and nftables masquerade
	NflabMasq  = "nflab_masq"  // E: nflab's masquerade
)

// Line returns r as a console line, Marker included, without a newline.
func (r Record) Line() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	return Marker + string(b)
}

// Parse collects the records in console output: lines that contain Marker
// (anything before it, such as a prefix the host added, is ignored). It
// returns the Meta record and the samples.
func Parse(console string) (meta Record, samples []Record, err error) {
	s := bufio.NewScanner(strings.NewReader(console))
	s.Buffer(nil, 1<<20)
	for n := 1; s.Scan(); n++ {
		_, js, ok := strings.Cut(s.Text(), Marker)
		if !ok {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			return meta, nil, fmt.Errorf("console line %d: %w", n, err)
		}
		switch r.Kind {
		case KindMeta:
			meta = r
		case KindSample:
			samples = append(samples, r)
		default:
			return meta, nil, fmt.Errorf("console line %d: unknown record kind %q", n, r.Kind)
		}
	}
	if err := s.Err(); err != nil {
		return meta, nil, err
	}
	if meta.Kind == "" {
		return meta, nil, fmt.Errorf("no %q meta record in the console output: did the guest benchmark run?", Marker)
	}
	return meta, samples, nil
}
