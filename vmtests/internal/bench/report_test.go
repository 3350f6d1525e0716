package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{5}, Summary{N: 1, Median: 5, Min: 5, Max: 5}},
		{[]float64{3, 1, 2}, Summary{N: 3, Median: 2, Min: 1, Max: 3}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
	} {
		if diff := cmp.Diff(tc.want, Summarize(tc.in)); diff != "" {
			t.Errorf("Summarize(%v) (-want +got):\n%s", tc.in, diff)
		}
	}
	in := []float64{3, 1, 2}
	Summarize(in)
	if in[0] != 3 {
		t.Error("Summarize sorted its argument")
	}
}

func sample(round int, config, metric string, x int, v float64) Record {
	return Record{Kind: KindSample, Round: round, Config: config, Metric: metric, X: x, Value: v, Delivered: 1}
}

var meta = Record{Kind: KindMeta, Profile: "smoke", Rounds: 3, Configs: []Config{
	{Name: Bare, Label: "A bare"}, {Name: Kernel, Label: "B kernel"}, {Name: Nflab, Label: "C nflab"},
}}

// testRun is three rounds in which nflab is 0.9, 1.0 and 1.1 times the
// kernel, and the kernel half of bare forwarding.
func testRun() []Record {
	var s []Record
	for r, f := range []float64{0.9, 1.0, 1.1} {
		round := r + 1
		s = append(s,
			sample(round, Bare, PPS1Flow, 0, 200),
			sample(round, Kernel, PPS1Flow, 0, 100),
			sample(round, Nflab, PPS1Flow, 0, 100*f),
			sample(round, Kernel, PrefillPPS, 1000, 100),
			sample(round, Kernel, PrefillPPS, 1000000, 50),
			sample(round, Nflab, PrefillPPS, 1000, 100),
			sample(round, Nflab, PrefillPPS, 1000000, 100/f),
		)
	}
	return s
}

func TestAnalyzeRatiosByRound(t *testing.T) {
	rep, err := Analyze(meta, testRun())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Rows {
		got = append(got, rowName(r))
	}
	want := []string{PPS1Flow, "prefill_pps at 1k", "prefill_pps at 1M", "prefill_cost at 1M"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
	pps := rep.Rows[0]
	if diff := cmp.Diff(Summary{N: 3, Median: 90 + 10, Min: 90, Max: 110}, pps.By[Nflab], cmpApprox); diff != "" {
		t.Errorf("nflab pps (-want +got):\n%s", diff)
	}
	wantRatios := []Ratio{
		{Nflab, Kernel, Summary{N: 3, Median: 1, Min: 0.9, Max: 1.1}},
		{Nflab, Bare, Summary{N: 3, Median: 0.5, Min: 0.45, Max: 0.55}},
		{Kernel, Bare, Summary{N: 3, Median: 0.5, Min: 0.5, Max: 0.5}},
	}
	if diff := cmp.Diff(wantRatios, pps.Ratios, cmpApprox); diff != "" {
		t.Errorf("ratios (-want +got):\n%s", diff)
	}
	// The kernel's cost doubles at 1M; nflab's is 1/f of the 1k one.
	cost := rep.Rows[3]
	if diff := cmp.Diff(Summary{N: 3, Median: 2, Min: 2, Max: 2}, cost.By[Kernel], cmpApprox); diff != "" {
		t.Errorf("kernel prefill cost (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{N: 3, Median: 1, Min: 0.9, Max: 1.1}, cost.By[Nflab], cmpApprox); diff != "" {
		t.Errorf("nflab prefill cost (-want +got):\n%s", diff)
	}
}

var cmpApprox = cmp.Comparer(func(a, b float64) bool { return a == b || (a-b)*(a-b) < 1e-18 })

func TestAnalyzeRejects(t *testing.T) {
	for name, s := range map[string][]Record{
		"unknown metric": {sample(1, Nflab, "warp_speed", 0, 1)},
		"duplicate":      {sample(1, Nflab, PPS1Flow, 0, 1), sample(1, Nflab, PPS1Flow, 0, 2)},
	} {
		if _, err := Analyze(meta, s); err == nil {
			t.Errorf("%s: Analyze accepted it", name)
		}
	}
}

func TestParse(t *testing.T) {
	s := sample(2, Nflab, PPS1Flow, 0, 123.5)
	console := strings.Join([]string{
		"vm: booting",
		"vm: " + meta.Line(),
		"vm: bench: round 2/3, C nflab",
		"vm: " + s.Line(),
	}, "\n")
	m, samples, err := Parse(console)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(meta, m); diff != "" {
		t.Errorf("meta (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Record{s}, samples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	if _, _, err := Parse("vm: no records here\n"); err == nil {
		t.Error("Parse accepted a console without a meta record")
	}
	if _, _, err := Parse(Marker + "{not json\n"); err == nil {
		t.Error("Parse accepted a broken record")
	}
}

func TestCheckTraffic(t *testing.T) {
	good := []Record{}
	for _, c := range []string{Bare, Kernel, Nflab} {
		for _, m := range Metrics {
			if m.Traffic && !m.Scaling {
				good = append(good, sample(1, c, m.Name, 0, 10))
			}
		}
		if c != Bare {
			good = append(good, sample(1, c, PrefillPPS, 1000, 10))
		}
	}
	rep, err := Analyze(meta, good)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTraffic(rep); err != nil {
		t.Fatalf("CheckTraffic of a good run: %v", err)
	}

	for name, tc := range map[string]struct {
		drop func(Record) bool
		zero func(Record) bool
		want string
	}{
		"nflab moved nothing": {zero: func(r Record) bool { return r.Config == Nflab && r.Metric == NewFlows }, want: "nflab: newflows moved no traffic"},
		"kernel missing":      {drop: func(r Record) bool { return r.Config == Kernel && r.Metric == PPS1kFlows }, want: "kernel: no sample of pps_1kflows"},
		"prefill missing":     {drop: func(r Record) bool { return r.Config == Nflab && r.Metric == PrefillPPS }, want: "nflab: no sample of prefill_pps at 1k"},
		"metric missing":      {drop: func(r Record) bool { return r.Metric == FloodPPS }, want: "no configuration reported flood_pps"},
	} {
		t.Run(name, func(t *testing.T) {
			var s []Record
			for _, r := range good {
				if tc.drop != nil && tc.drop(r) {
					continue
				}
				if tc.zero != nil && tc.zero(r) {
					r.Value, r.Delivered = 0, 0
				}
				s = append(s, r)
			}
			rep, err := Analyze(meta, s)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckTraffic(rep)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckTraffic = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestWriteReport(t *testing.T) {
	rep, err := Analyze(meta, testRun())
	if err != nil {
		t.Fatal(err)
	}
	rep.Kernel = "stock-6.1"
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| metric | unit | A bare | B kernel | C nflab | nflab/kernel | nflab/bare | kernel/bare |",
		"| packets/s, 1 established UDP flow | pkt/s | 200 [200–200] | 100 [100–100] | 100 [90–110] | 1.00× [0.90–1.10] | 0.50× [0.45–0.55] | 0.50× [0.50–0.50] |",
		"| packets/s of 1 flow, table pre-filled: 1M entries | pkt/s | – | 50 [50–50] | 100 [90.9–111] | 2.00× [1.82–2.22] | – | – |",
		"- pps (1 flow): nflab/kernel = 1.00× (median of 3 rounds, min 0.90, max 1.10); nflab/bare = 0.50× (median of 3 rounds, min 0.45, max 0.55)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("the JSON does not decode: %v", err)
	}
	if diff := cmp.Diff(rep, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}

func TestSI(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 7: "7", 0.5: "0.5", 256: "256", 999.6: "1000", 1000: "1k", 36317: "36.3k", 100000: "100k", 1e6: "1M", 1.5e6: "1.5M"} {
		if got := SI(v); got != want {
			t.Errorf("SI(%g) = %q, want %q", v, got, want)
		}
	}
}

// ruleMeta adds the rule engine's cases, which measure the packets/s of 1
// flow only.
var ruleMeta = Record{Kind: KindMeta, Profile: "smoke", Rounds: 2, Configs: []Config{
	{Name: Kernel, Label: "B kernel"}, {Name: Nflab, Label: "C nflab"},
	{Name: Rule1, Label: "R1", Short: "1 rule", Only: []string{PPS1Flow, Softirq1Flow}},
	{Name: Rules1k, Label: "R1000", Short: "1,000 rules", Only: []string{PPS1Flow, Softirq1Flow}},
	{Name: RuleSet, Label: "RSET", Short: "100k-prefix set rule", Only: []string{PPS1Flow, Softirq1Flow}},
}}

// ruleRun: C 100 pkt/s, R1 98, R1000 25, RSET 98 and 49; C's apply costs
// in round 2 only.
func ruleRun() []Record {
	var s []Record
	for r, set := range []float64{98, 49} {
		round := r + 1
		for _, c := range []string{Kernel, Nflab} {
			for _, m := range Metrics {
				if m.Traffic && !m.Scaling {
					s = append(s, sample(round, c, m.Name, 0, 100))
				}
			}
		}
		s = append(s,
			sample(round, Rule1, PPS1Flow, 0, 98),
			sample(round, Rules1k, PPS1Flow, 0, 25),
			sample(round, RuleSet, PPS1Flow, 0, set),
		)
	}
	return append(s,
		Record{Kind: KindSample, Round: 2, Config: Nflab, Metric: ApplyRules, X: 10000, Value: 2.5},
		Record{Kind: KindSample, Round: 2, Config: Nflab, Metric: ApplyRulesMem, X: 10000, Value: 3.2e6},
		Record{Kind: KindSample, Round: 2, Config: Nflab, Metric: LoadSet, X: 1000000, Value: 12},
		Record{Kind: KindSample, Round: 2, Config: Nflab, Metric: LoadSetMem, X: 1000000, Value: 16e6},
	)
}

func TestRuleCases(t *testing.T) {
	rep, err := Analyze(ruleMeta, ruleRun())
	if err != nil {
		t.Fatal(err)
	}
	wantRatios := []Ratio{
		{Nflab, Kernel, Summary{N: 2, Median: 1, Min: 1, Max: 1}},
		{Rule1, Nflab, Summary{N: 2, Median: 0.98, Min: 0.98, Max: 0.98}},
		{Rules1k, Nflab, Summary{N: 2, Median: 0.25, Min: 0.25, Max: 0.25}},
		{RuleSet, Nflab, Summary{N: 2, Median: 0.735, Min: 0.49, Max: 0.98}},
		{RuleSet, Rule1, Summary{N: 2, Median: 0.75, Min: 0.5, Max: 1}},
	}
	if diff := cmp.Diff(wantRatios, rep.Rows[0].Ratios, cmpApprox); diff != "" {
		t.Errorf("pps ratios (-want +got):\n%s", diff)
	}
	// The rule cases measure no 1,000 flows: not a missing sample.
	if err := CheckTraffic(rep); err != nil {
		t.Errorf("CheckTraffic: %v", err)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| metric | unit | B kernel | C nflab | R1 | R1000 | RSET | nflab/kernel | rule1/nflab | rules1k/nflab | ruleset/nflab | ruleset/rule1 |",
		"| packets/s, 1 established UDP flow | pkt/s | 100 [100–100] | 100 [100–100] | 98 [98–98] | 25 [25–25] | 73.5 [49–98] | 1.00× [1.00–1.00] | 0.98× [0.98–0.98] | 0.25× [0.25–0.25] | 0.73× [0.49–0.98] | 0.75× [0.50–1.00] |",
		"ruleset/rule1 = 100k-prefix set rule / 1 rule",
		"Rows titled \"nflab only, absolute\"",
		"wall time of nflab rules apply -f, a ruleset of prefix rules: 10k rules | s | – | 2.5 [2.5–2.5] | – |",
		": 1M prefixes | B | – | 16M [16M–16M] | – |",
		"- pps (1 flow), rule engine: 1 rule / no rules = 0.98× (median of 2 rounds, min 0.98, max 0.98); 1,000 rules / no rules = 0.25× (median of 2 rounds, min 0.25, max 0.25); 100k-prefix set rule / no rules = 0.73× (median of 2 rounds, min 0.49, max 0.98); 100k-prefix set rule / 1 rule = 0.75× (median of 2 rounds, min 0.50, max 1.00)",
		"- time to apply rules (nflab, absolute) at 10k rules: nflab = 2.5 s (median of 1 round, min 2.5, max 2.5)",
		"- memory of the loaded set (nflab, absolute) at 1M prefixes: nflab = 16M B (median of 1 round, min 16M, max 16M)",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// The rule cases' lines come after nflab's own.
	lines := rep.SummaryLines()
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "pps (1 flow), rule engine: ") {
		t.Errorf("last summary line %q: want the rule engine's", last)
	}

	// A rule case that moved nothing fails, one that skipped what it
	// does not measure does not.
	s := ruleRun()
	for i := range s {
		if s[i].Config == RuleSet && s[i].Round == 1 {
			s[i].Value, s[i].Delivered = 0, 0
		}
	}
	rep, err = Analyze(ruleMeta, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTraffic(rep); err == nil || !strings.Contains(err.Error(), "ruleset: pps_1flow moved no traffic") {
		t.Errorf("CheckTraffic = %v, want the set rule's pps_1flow", err)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if !strings.Contains(js.String(), `"num": "ruleset",`) || !strings.Contains(js.String(), `"only": [`) {
		t.Errorf("JSON lacks the set rule's ratio or a configuration's metrics")
	}
}
