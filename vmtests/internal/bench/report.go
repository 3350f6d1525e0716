package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
)

// Summary is the median and range of a configuration's values over rounds.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Summarize returns the summary of v; N is 0 for no values. The median of
// an even count is the mean of the middle two.
func Summarize(v []float64) Summary {
	if len(v) == 0 {
		return Summary{}
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Summary{N: len(s), Median: med, Min: s[0], Max: s[len(s)-1]}
}

// Ratio is Num's value over Den's, taken round by round (the two ran
// minutes apart in the same round, so the machine's drift cancels) and
// summarized over the rounds where both have a value.
type Ratio struct {
	Num string `json:"num"`
	Den string `json:"den"`
	Summary
}

// Name is "nflab/kernel".
func (r Ratio) Name() string { return r.Num + "/" + r.Den }

// Row is one metric (at one table size, for the scaling metrics).
type Row struct {
	Metric string             `json:"metric"`
	X      int                `json:"x,omitempty"`
	Title  string             `json:"title"`
	Unit   string             `json:"unit"`
	Higher bool               `json:"higher_is_better"`
	By     map[string]Summary `json:"by_config"`
	Ratios []Ratio            `json:"ratios,omitempty"`
}

// Report is a benchmark run's result: its rows, and every sample behind
// them.
type Report struct {
	Kernel  string   `json:"kernel,omitempty"`
	Profile string   `json:"profile"`
	Rounds  int      `json:"rounds"`
	Configs []Config `json:"configs"`
	Rows    []Row    `json:"rows"`
	Samples []Record `json:"samples"`
}

type rowKey struct {
	metric string
	x      int
}

// Analyze builds the report of a run from its meta record and samples. It
// derives PrefillCost from PrefillPPS.
func Analyze(meta Record, samples []Record) (*Report, error) {
	samples = append(slices.Clone(samples), prefillCost(samples)...)
	// values[row][config][round]
	values := map[rowKey]map[string]map[int]float64{}
	for _, s := range samples {
		if _, ok := MetricByName(s.Metric); !ok {
			return nil, fmt.Errorf("round %d, %s: unknown metric %q", s.Round, s.Config, s.Metric)
		}
		k := rowKey{s.Metric, s.X}
		if values[k] == nil {
			values[k] = map[string]map[int]float64{}
		}
		if values[k][s.Config] == nil {
			values[k][s.Config] = map[int]float64{}
		}
		if _, dup := values[k][s.Config][s.Round]; dup {
			return nil, fmt.Errorf("round %d, %s: two samples of %s (x=%d)", s.Round, s.Config, s.Metric, s.X)
		}
		values[k][s.Config][s.Round] = s.Value
	}
	rep := &Report{Profile: meta.Profile, Rounds: meta.Rounds, Configs: meta.Configs, Samples: samples}
	keys := make([]rowKey, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	order := map[string]int{}
	for i, m := range Metrics {
		order[m.Name] = i
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := order[keys[i].metric], order[keys[j].metric]; a != b {
			return a < b
		}
		return keys[i].x < keys[j].x
	})
	for _, k := range keys {
		m, _ := MetricByName(k.metric)
		row := Row{Metric: m.Name, X: k.x, Title: m.Title, Unit: m.Unit, Higher: m.Higher, By: map[string]Summary{}}
		for cfg, byRound := range values[k] {
			row.By[cfg] = Summarize(mapValues(byRound))
		}
		for _, p := range ratioPairs {
			num, den := values[k][p[0]], values[k][p[1]]
			var rs []float64
			for round, n := range num {
				if d, ok := den[round]; ok && d != 0 {
					rs = append(rs, n/d)
				}
			}
			if len(rs) > 0 {
				row.Ratios = append(row.Ratios, Ratio{Num: p[0], Den: p[1], Summary: Summarize(rs)})
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func mapValues(m map[int]float64) []float64 {
	v := make([]float64, 0, len(m))
	for _, x := range m {
		v = append(v, x)
	}
	return v
}

// prefillCost derives, per configuration and round, the cost per packet at
// each pre-filled size but the smallest relative to the smallest: pps at
// the smallest size over pps at this one (1.2 means a packet costs 20 %
// more).
func prefillCost(samples []Record) []Record {
	type cr struct {
		config string
		round  int
	}
	by := map[cr][]Record{}
	for _, s := range samples {
		if s.Metric == PrefillPPS {
			k := cr{s.Config, s.Round}
			by[k] = append(by[k], s)
		}
	}
	var out []Record
	for k, ss := range by {
		sort.Slice(ss, func(i, j int) bool { return ss[i].X < ss[j].X })
		base := ss[0]
		if base.Value <= 0 {
			continue
		}
		for _, s := range ss[1:] {
			if s.Value > 0 {
				out = append(out, Record{Kind: KindSample, Round: k.round, Config: k.config, Metric: PrefillCost, X: s.X, Value: base.Value / s.Value})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Config != b.Config {
			return a.Config < b.Config
		}
		if a.X != b.X {
			return a.X < b.X
		}
		return a.Round < b.Round
	})
	return out
}

// CheckTraffic returns an error naming every configuration that did not
// move traffic: a traffic metric the configuration should have (every
// metric the run measured at all, but bare forwarding's trackers-only
// ones) with no sample, or with a sample of 0.
func CheckTraffic(rep *Report) error {
	var errs []error
	measured := map[rowKey]bool{}
	for _, r := range rep.Rows {
		measured[rowKey{r.Metric, r.X}] = true
	}
	for _, r := range rep.Rows {
		m, _ := MetricByName(r.Metric)
		if !m.Traffic {
			continue
		}
		for _, c := range rep.Configs {
			if m.TrackersOnly && c.Name == Bare || !c.Measures(m.Name) {
				continue
			}
			s, ok := r.By[c.Name]
			switch {
			case !ok || s.N == 0:
				errs = append(errs, fmt.Errorf("%s: no sample of %s", c.Name, rowName(r)))
			case s.Min <= 0:
				errs = append(errs, fmt.Errorf("%s: %s moved no traffic in at least one round (min %g)", c.Name, rowName(r), s.Min))
			}
		}
	}
	for _, m := range Metrics {
		if m.Traffic && !m.Scaling && !measured[rowKey{m.Name, 0}] {
			errs = append(errs, fmt.Errorf("no configuration reported %s", m.Name))
		}
	}
	for _, s := range rep.Samples {
		if m, _ := MetricByName(s.Metric); m.Traffic && s.Delivered == 0 && s.Value > 0 {
			errs = append(errs, fmt.Errorf("round %d, %s, %s: a value without delivered packets", s.Round, s.Config, rowName(Row{Metric: s.Metric, X: s.X})))
		}
	}
	return errors.Join(errs...)
}

func rowName(r Row) string {
	if r.X != 0 {
		return fmt.Sprintf("%s at %s", r.Metric, SI(float64(r.X)))
	}
	return r.Metric
}

// xSuffix is ": 1k entries" for a row at a size, "" for others.
func (r Row) xSuffix() string {
	if r.X == 0 {
		return ""
	}
	m, _ := MetricByName(r.Metric)
	return fmt.Sprintf(": %s %s", SI(float64(r.X)), m.xName())
}

// config returns the configuration called name.
func (rep *Report) config(name string) (Config, bool) {
	for _, c := range rep.Configs {
		if c.Name == name {
			return c, true
		}
	}
	return Config{}, false
}

// shortName is how the rule engine's summaries call configuration name:
// C is "no rules".
func (rep *Report) shortName(name string) string {
	if name == Nflab {
		return "no rules"
	}
	c, ok := rep.config(name)
	switch {
	case !ok:
		return name
	case c.Short != "":
		return c.Short
	default:
		return c.Label
	}
}

// WriteJSON writes the report as indented JSON (the -o json form).
func (rep *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(rep)
}

// WriteMarkdown writes the report's table: per metric each configuration's
// median and range, then the ratios' medians and ranges.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# nflab benchmark (%s profile, %d rounds%s)\n\n", rep.Profile, rep.Rounds, map[bool]string{true: ", " + rep.Kernel}[rep.Kernel != ""])
	fmt.Fprintln(&b, "Each cell: median [min–max] over the rounds; ratios are taken round by round, then summarized.")
	fmt.Fprintln(&b, "For packets/s higher is better; for ns and bytes lower is better.")
	var rules []string
	for _, name := range rep.ratioNames() {
		if r, _ := rep.anyRatio(name); ruleRatio(r) {
			rules = append(rules, fmt.Sprintf("%s = %s / %s", name, rep.shortName(r.Num), rep.shortName(r.Den)))
		}
	}
	if len(rules) > 0 {
		fmt.Fprintf(&b, "The rule engine's configurations measure the packets/s of 1 flow only; their ratios: %s (goal: the set rule costs about what the single rule costs, ≈ 1.0×).\n", strings.Join(rules, ", "))
	}
	for _, row := range rep.Rows {
		if m, _ := MetricByName(row.Metric); m.XName != "" {
			fmt.Fprintln(&b, "Rows titled \"nflab only, absolute\" are figures of configuration C under TCG, not ratios: compare them only with runs on the same machine.")
			break
		}
	}
	fmt.Fprintln(&b)
	ratios := rep.ratioNames()
	b.WriteString("| metric | unit |")
	for _, c := range rep.Configs {
		fmt.Fprintf(&b, " %s |", c.Label)
	}
	for _, r := range ratios {
		fmt.Fprintf(&b, " %s |", r)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(rep.Configs)+len(ratios)) + "\n")
	for _, row := range rep.Rows {
		title := row.Title + row.xSuffix()
		fmt.Fprintf(&b, "| %s | %s |", title, row.Unit)
		for _, c := range rep.Configs {
			s, ok := row.By[c.Name]
			if !ok {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s [%s–%s] |", SI(s.Median), SI(s.Min), SI(s.Max))
		}
		for _, name := range ratios {
			r, ok := row.ratio(name)
			if !ok {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %.2f× [%.2f–%.2f] |", r.Median, r.Min, r.Max)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, l := range rep.SummaryLines() {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (rep *Report) ratioNames() []string {
	var names []string
	for _, p := range ratioPairs {
		n := Ratio{Num: p[0], Den: p[1]}.Name()
		for _, row := range rep.Rows {
			if _, ok := row.ratio(n); ok {
				names = append(names, n)
				break
			}
		}
	}
	return names
}

// anyRatio returns the first row's ratio called name.
func (rep *Report) anyRatio(name string) (Ratio, bool) {
	for _, row := range rep.Rows {
		if r, ok := row.ratio(name); ok {
			return r, true
		}
	}
	return Ratio{}, false
}

func (row Row) ratio(name string) (Ratio, bool) {
	for _, r := range row.Ratios {
		if r.Name() == name {
			return r, true
		}
	}
	return Ratio{}, false
}

// SummaryLines returns one line per row: nflab against the kernel, and
// against bare forwarding and the baseline where they ran, e.g.
// "pps (1 flow): nflab/kernel = 1.07× (median of 9 rounds, min 0.98, max 1.15)";
// then, for rows the rule engine's configurations measured, one line of
// their ratios, e.g. "pps (1 flow), rule engine: 1 rule / no rules = 0.98×
// (...); ...".
func (rep *Report) SummaryLines() []string {
	var lines []string
	var ruleLines []string
	for _, row := range rep.Rows {
		m, _ := MetricByName(row.Metric)
		name := m.Short
		if row.X != 0 {
			name += fmt.Sprintf(" at %s %s", SI(float64(row.X)), m.xName())
		}
		var parts, ruleParts, natParts []string
		for _, r := range row.Ratios {
			stat := fmt.Sprintf("%.2f× (median of %s, min %.2f, max %.2f)", r.Median, rounds(r.N), r.Min, r.Max)
			switch {
			case ruleRatio(r):
				ruleParts = append(ruleParts, fmt.Sprintf("%s / %s = %s", rep.shortName(r.Num), rep.shortName(r.Den), stat))
			case natRatio(r):
				natParts = append(natParts, r.Name()+" = "+stat)
			case r.Num == Nflab:
				parts = append(parts, r.Name()+" = "+stat)
			}
		}
		if len(ruleParts) > 0 {
			ruleLines = append(ruleLines, name+", rule engine: "+strings.Join(ruleParts, "; "))
		}
		if len(natParts) > 0 {
			ruleLines = append(ruleLines, name+", NAT: "+strings.Join(natParts, "; "))
		}
		if len(parts) == 0 {
			// No ratio (nflab alone): its own value.
			if s, ok := row.By[Nflab]; ok {
				parts = append(parts, fmt.Sprintf("nflab = %s %s (median of %s, min %s, max %s)", SI(s.Median), row.Unit, rounds(s.N), SI(s.Min), SI(s.Max)))
			}
		}
		if len(parts) > 0 {
			lines = append(lines, name+": "+strings.Join(parts, "; "))
		}
	}
	return append(lines, ruleLines...)
}

func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return fmt.Sprintf("%d rounds", n)
}

// SI formats v with three significant digits and a k or M suffix.
func SI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trim(fmt.Sprintf("%.3g", v/1e6)) + "M"
	case a >= 1e3:
		return trim(fmt.Sprintf("%.3g", v/1e3)) + "k"
	case a >= 100 || a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	default:
		return trim(fmt.Sprintf("%.3g", v))
	}
}

// trim undoes %g's exponent form for values that %g wrote as 1e+03.
func trim(s string) string {
	if strings.Contains(s, "e") {
		var f float64
		fmt.Sscan(s, &f)
		return fmt.Sprintf("%.0f", f)
	}
	return s
}
