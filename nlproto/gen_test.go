package nlproto

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/nlproto/internal/cdefs"
)

// TestGeneratedIsCurrent fails when nflab.h changed but zz_generated.go was
// not regenerated. The options mirror the go:generate line in generate.go.
func TestGeneratedIsCurrent(t *testing.T) {
	src, err := os.ReadFile("nflab.h")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cdefs.Parse("nflab.h", src)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cdefs.Generate(h, cdefs.Options{Package: "nlproto", Source: "nflab.h", TrimPrefix: "NFLAB_"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("zz_generated.go is stale; run 'go generate ./nlproto' (-want +got):\n%s", diff)
	}
}
