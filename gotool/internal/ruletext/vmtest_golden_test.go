package ruletext

import (
	"flag"
	"os"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the VM tests' formatted ruleset")

// The VM test TestRulesRoundTrip (vmtests/guest/rules_input_test.go) applies
// rules_all.nft to the module and compares what "nflab rules save" prints
// with its formatted form, which the guest cannot compute (this package is
// internal to gotool): this test keeps that form in step with the file and
// with Format. go test -run TestVMTestGolden -update rewrites it.
func TestVMTestGolden(t *testing.T) {
	const dir = "../../../vmtests/guest/testdata/"
	src, err := os.ReadFile(dir + "rules_all.nft")
	if err != nil {
		t.Fatal(err)
	}
	text := format(t, parseString(t, string(src)))
	if *updateGolden {
		if err := os.WriteFile(dir+"rules_all.formatted.nft", []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(dir + "rules_all.formatted.nft")
	if err != nil {
		t.Fatal(err)
	}
	if string(golden) != text {
		t.Errorf("%srules_all.formatted.nft is not Format(Parse(rules_all.nft)); run go test -run TestVMTestGolden -update ./gotool/internal/ruletext/\nwant:\n%s", dir, text)
	}
}
