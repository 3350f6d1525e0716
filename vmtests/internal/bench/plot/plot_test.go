package plot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nflab/nflab/vmtests/internal/bench"
)

func TestWriteDrawsPNGs(t *testing.T) {
	meta := bench.Record{Kind: bench.KindMeta, Profile: "smoke", Rounds: 2, Configs: []bench.Config{
		{Name: bench.Bare, Label: "A bare"}, {Name: bench.Kernel, Label: "B kernel"}, {Name: bench.Nflab, Label: "C nflab"},
	}}
	var s []bench.Record
	for round := 1; round <= 2; round++ {
		for i, c := range []string{bench.Bare, bench.Kernel, bench.Nflab} {
			s = append(s, bench.Record{Kind: bench.KindSample, Round: round, Config: c, Metric: bench.PPS1Flow, Value: float64(100 - 10*i + round), Delivered: 1})
			if c != bench.Bare {
				for _, x := range []int{1000, 100000, 1000000} {
					s = append(s, bench.Record{Kind: bench.KindSample, Round: round, Config: c, Metric: bench.PrefillPPS, X: x, Value: float64(90 - i + round), Delivered: 1})
				}
			}
		}
	}
	rep, err := bench.Analyze(meta, s)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := Write(dir, rep)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{bench.PPS1Flow, bench.PrefillPPS, bench.PrefillCost}
	if len(files) != len(want) {
		t.Fatalf("Write wrote %v, want one file for each of %v", files, want)
	}
	for i, f := range files {
		if f != filepath.Join(dir, want[i]+".png") {
			t.Errorf("file %d is %s, want %s.png", i, f, want[i])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 1000 {
			t.Errorf("%s is not a PNG of some size (%d bytes)", f, len(b))
		}
	}
}

func TestWrap(t *testing.T) {
	for in, want := range map[string]string{
		"C nflab":                             "C nflab",
		"RSET nflab, 1 rule, 100k-prefix set": "RSET nflab, 1\nrule,\n100k-prefix\nset",
		"":                                    "",
	} {
		if got := wrap(in, 14); got != want {
			t.Errorf("wrap(%q, 14) = %q, want %q", in, got, want)
		}
	}
}
