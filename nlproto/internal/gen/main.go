// Command gen writes the Go constants and name tables of package nlproto
// from nflab.h, the protocol's single source of truth, and a C file of
// static assertions through which the C compiler checks what gen read
// (kmod/nlproto_check.c includes it). Run it through "go generate ./nlproto".
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nflab/nflab/nlproto/internal/cdefs"
)

func main() {
	in := flag.String("in", "nflab.h", "C header to read")
	out := flag.String("out", "zz_generated.go", "Go file to write")
	asserts := flag.String("asserts", "", "C file of static assertions to write, if any")
	pkg := flag.String("pkg", "nlproto", "Go package name")
	trim := flag.String("trim", "NFLAB_", "prefix removed from C names")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "gen: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if err := run(*in, *out, *asserts, cdefs.Options{Package: *pkg, Source: filepath.Base(*in), TrimPrefix: *trim}); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out, asserts string, opts cdefs.Options) error {
	src, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	h, err := cdefs.Parse(filepath.Base(in), src)
	if err != nil {
		return err
	}
	code, err := cdefs.Generate(h, opts)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, code, 0o644); err != nil {
		return err
	}
	if asserts == "" {
		return nil
	}
	c, err := cdefs.GenerateAsserts(h, opts)
	if err != nil {
		return err
	}
	return os.WriteFile(asserts, c, 0o644)
}
