package nlproto

import (
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/nlproto/internal/cdefs"
)

// opts mirror the go:generate line in generate.go.
var opts = cdefs.Options{Package: "nlproto", Source: "nflab.h", TrimPrefix: "NFLAB_"}

func parseHeader(t *testing.T) *cdefs.Header {
	t.Helper()
	src, err := os.ReadFile("nflab.h")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cdefs.Parse("nflab.h", src)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestGeneratedIsCurrent fails when nflab.h changed but the generated files
// were not regenerated.
func TestGeneratedIsCurrent(t *testing.T) {
	h := parseHeader(t)
	goCode, err := cdefs.Generate(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	asserts, err := cdefs.GenerateAsserts(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		want []byte
	}{
		{"zz_generated.go", goCode},
		{"zz_static_assert.h", asserts},
	} {
		got, err := os.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(f.want), string(got)); diff != "" {
			t.Errorf("%s is stale; run 'go generate ./nlproto' (-want +got):\n%s", f.name, diff)
		}
	}
}

// TestHeaderMatchesCompiler has the host's C compiler confirm every value
// the generator computed from nflab.h, strings included, and that it read
// every #define and enum member (cdefs.TestCrossCheck shows that a
// misread fails).
func TestHeaderMatchesCompiler(t *testing.T) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("no C compiler (%v); install build-essential (make deps)", err)
	}
	if err := cdefs.CrossCheck(cc, "nflab.h", parseHeader(t), opts); err != nil {
		t.Fatal(err)
	}
}
