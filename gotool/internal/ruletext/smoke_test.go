package ruletext

import (
	"os"
	"testing"
)

func TestSmoke(t *testing.T) {
	f, _ := os.Open("testdata/all.nft")
	rs, err := Parse(f, "all.nft")
	if err != nil {
		t.Fatal(err)
	}
	Format(os.Stdout, rs)
}
