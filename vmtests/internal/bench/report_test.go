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
