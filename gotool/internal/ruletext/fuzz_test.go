package ruletext

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics and that, on what it accepts,
// Format then Parse gives the same ruleset and Format is a fixed point.
func FuzzParse(f *testing.F) {
	if all, err := os.ReadFile("testdata/all.nft"); err == nil {
		for line := range strings.SplitSeq(string(all), "\n") {
			f.Add(line)
		}
		f.Add(string(all))
	}
	for _, s := range []string{
		"", "}", "{", "set s addr {\n1.2.3.4,\n}", "rule filter input ! time days sat accept",
		"rule filter input string \"\\x00\\xff\" drop", "chain filter input policy drop",
		"rule filter input tcp flags syn/syn,ack tcp dport { 1, 2 } accept comment \"x\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		rs, err := Parse(strings.NewReader(src), "f.nft")
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Format(&b, rs); err != nil {
			t.Fatalf("Format of a parsed ruleset: %v\n%q", err, src)
		}
		rs2, err := Parse(bytes.NewReader(b.Bytes()), "f2.nft")
		if err != nil {
			t.Fatalf("Parse(Format(Parse(%q))): %v\n%s", src, err, b.String())
		}
		if diff := cmp.Diff(rs, rs2, cmpOpts); diff != "" {
			t.Fatalf("Parse(Format(Parse(%q))) differs:\n%s", src, diff)
		}
		var b2 bytes.Buffer
		if err := Format(&b2, rs2); err != nil || b2.String() != b.String() {
			t.Fatalf("Format not a fixed point for %q:\n%s\n%s", src, b.String(), b2.String())
		}
	})
}

// FuzzParseRule checks that ParseRule never panics on a command line's
// words and that FormatRule writes what it reads back the same.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"tcp dport 22 accept", "! iif lo drop", "comment x accept", "tcp flags syn / syn,ack drop",
		"string \"a b\" algo kmp drop", "time 08:00-09:00 days mon accept", "{ 1, 2 }",
		"snat to 10.0.0.1-10.0.0.9:1000-2000 random", "dnat to :80", "masquerade to :1024-2047 persistent fully-random",
		"redirect", "dnat to 10.0.2.2-10.0.2.2",
	} {
		f.Add(s, "accept")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		r, err := ParseRule([]string{a, b})
		if err != nil {
			return
		}
		text, err := FormatRule(r)
		if err != nil {
			t.Fatalf("FormatRule(ParseRule(%q, %q)): %v", a, b, err)
		}
		r2, err := ParseRule([]string{text})
		if err != nil {
			t.Fatalf("ParseRule(%q) of FormatRule's text: %v", text, err)
		}
		if diff := cmp.Diff(r, r2, cmpOpts); diff != "" {
			t.Fatalf("%q %q then %q differs:\n%s", a, b, text, diff)
		}
	})
}

// FuzzFastAddr checks that the fast path for addresses agrees with the
// careful one on everything it accepts.
func FuzzFastAddr(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1", "10.0.0.1-10.0.0.9", "1.2.3.4/08", "01.2.3.4", "0.0.0.0/0", "255.255.255.255/32"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iv, ok := fastAddrRange(s)
		if !ok {
			return
		}
		r, _, _, msg := parseAddrRange(s)
		if msg != "" {
			t.Fatalf("fast path took %q, the careful one says %s", s, msg)
		}
		if r.First != u32Addr(iv.lo) || r.Last != u32Addr(iv.hi) {
			t.Fatalf("%q: fast %v-%v, careful %v", s, u32Addr(iv.lo), u32Addr(iv.hi), r)
		}
	})
}
