// Package plot draws a benchmark report (package bench) as PNG files: one
// bar chart per metric with the configurations side by side and min–max
// error bars, and one curve per configuration over the table sizes for the
// scaling metrics.
package plot

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/nflab/nflab/vmtests/internal/bench"
)

// Write draws every metric of rep into dir, one <metric>.png each, and
// returns the files' paths.
func Write(dir string, rep *bench.Report) ([]string, error) {
	rows := map[string][]bench.Row{}
	var order []string
	for _, r := range rep.Rows {
		if rows[r.Metric] == nil {
			order = append(order, r.Metric)
		}
		rows[r.Metric] = append(rows[r.Metric], r)
	}
	var files []string
	for _, name := range order {
		m, _ := bench.MetricByName(name)
		var p *plot.Plot
		var err error
		if m.Scaling {
			p, err = curves(rep, m, rows[name])
		} else {
			p, err = bars(rep, m, rows[name][0])
		}
		if err != nil {
			return files, fmt.Errorf("plot %s: %w", name, err)
		}
		f := filepath.Join(dir, name+".png")
		if err := p.Save(7*vg.Inch, 4*vg.Inch, f); err != nil {
			return files, fmt.Errorf("plot %s: %w", name, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// errBars are points with asymmetric error bars: medians and min–max.
type errBars struct {
	plotter.XYs
	plotter.YErrors
}

func summaryBars(xs []float64, ss []bench.Summary) errBars {
	e := errBars{XYs: make(plotter.XYs, len(ss)), YErrors: make(plotter.YErrors, len(ss))}
	for i, s := range ss {
		e.XYs[i] = plotter.XY{X: xs[i], Y: s.Median}
		e.YErrors[i].Low, e.YErrors[i].High = s.Median-s.Min, s.Max-s.Median
	}
	return e
}

// title names the metric and the rounds: those of the run, or fewer if no
// configuration has a value in every round (row's most).
func title(p *plot.Plot, rep *bench.Report, m bench.Metric, row bench.Row) {
	n := 0
	for _, s := range row.By {
		n = max(n, s.N)
	}
	if n == 0 {
		n = rep.Rounds
	}
	p.Title.Text = fmt.Sprintf("%s\nmedian and min–max of %d round%s (%s)", wrap(m.Title, 90), n, map[bool]string{true: "s"}[n != 1], rep.Profile)
	p.Y.Label.Text = m.Unit
}

// bars draws one bar per configuration that has the metric.
func bars(rep *bench.Report, m bench.Metric, row bench.Row) (*plot.Plot, error) {
	p := plot.New()
	title(p, rep, m, row)
	var names []string
	i := 0
	for ci, c := range rep.Configs {
		s, ok := row.By[c.Name]
		if !ok {
			continue
		}
		b, err := plotter.NewBarChart(plotter.Values{s.Median}, vg.Points(40))
		if err != nil {
			return nil, err
		}
		b.XMin = float64(i)
		b.Color = plotutil.Color(ci)
		b.LineStyle.Width = 0
		p.Add(b)
		eb, err := plotter.NewYErrorBars(summaryBars([]float64{float64(i)}, []bench.Summary{s}))
		if err != nil {
			return nil, err
		}
		p.Add(eb)
		names = append(names, c.Label)
		i++
	}
	if i > 3 {
		// Six configurations or more: labels on a few lines each.
		for j := range names {
			names[j] = wrap(names[j], 14)
		}
	}
	p.NominalX(names...)
	// Half a slot of room on either side, for the outer bars.
	p.X.Min, p.X.Max = -0.5, float64(i)-0.5
	p.Y.Min = 0
	p.Y.Tick.Marker = siTicks{plot.DefaultTicks{}}
	return p, nil
}

// curves draws one line per configuration over the table sizes, on a
// logarithmic axis.
func curves(rep *bench.Report, m bench.Metric, rows []bench.Row) (*plot.Plot, error) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].X < rows[j].X })
	p := plot.New()
	title(p, rep, m, rows[0])
	// The biggest sizes may be measured in fewer rounds.
	var ns []string
	for _, r := range rows {
		n := 0
		for _, s := range r.By {
			n = max(n, s.N)
		}
		ns = append(ns, fmt.Sprintf("%s: %d", bench.SI(float64(r.X)), n))
	}
	p.Title.Text = fmt.Sprintf("%s\nmedian and min–max over the rounds (%s; %s)", m.Title, rep.Profile, strings.Join(ns, ", "))
	p.X.Label.Text = "entries in the table"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = siTicks{plot.LogTicks{Prec: -1}}
	for ci, c := range rep.Configs {
		var xs []float64
		var ss []bench.Summary
		for _, r := range rows {
			if s, ok := r.By[c.Name]; ok && r.X > 0 {
				xs = append(xs, float64(r.X))
				ss = append(ss, s)
			}
		}
		if len(xs) == 0 {
			continue
		}
		e := summaryBars(xs, ss)
		l, pts, err := plotter.NewLinePoints(e.XYs)
		if err != nil {
			return nil, err
		}
		l.Color, pts.Color = plotutil.Color(ci), plotutil.Color(ci)
		eb, err := plotter.NewYErrorBars(e)
		if err != nil {
			return nil, err
		}
		eb.Color = plotutil.Color(ci)
		p.Add(l, pts, eb)
		p.Legend.Add(c.Label, l, pts)
	}
	// Bare forwarding has no table: its 1-flow packets/s, as a level.
	if m.Name == bench.PrefillPPS && len(rows) > 0 {
		for _, r := range rep.Rows {
			s, ok := r.By[bench.Bare]
			if r.Metric != bench.PPS1Flow || !ok {
				continue
			}
			l, err := plotter.NewLine(plotter.XYs{{X: float64(rows[0].X), Y: s.Median}, {X: float64(rows[len(rows)-1].X), Y: s.Median}})
			if err != nil {
				return nil, err
			}
			l.Color = plotutil.Color(0)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
			p.Add(l)
			p.Legend.Add(rep.Configs[0].Label+" (no table, 1 flow)", l)
		}
	}
	p.Y.Min = 0
	p.Y.Tick.Marker = siTicks{plot.DefaultTicks{}}
	return p, nil
}

// siTicks labels another marker's ticks as bench.SI does: 25k, not
// 25000.00; 1M, not 1e+06.
type siTicks struct{ plot.Ticker }

func (s siTicks) Ticks(min, max float64) []plot.Tick {
	t := s.Ticker.Ticks(min, max)
	for i := range t {
		if t[i].Label != "" {
			t[i].Label = bench.SI(t[i].Value)
		}
	}
	return t
}

// wrap breaks s at blanks into lines of at most width bytes (a longer
// word gets a line of its own).
func wrap(s string, width int) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return strings.Join(append(lines, line), "\n")
}
