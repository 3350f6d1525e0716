package ruletext_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/nflab/nflab/gotool/internal/ruletext"
)

func ExampleParse() {
	rs, err := ruletext.Parse(strings.NewReader(`
set web port { 80, 443 }
chain filter input policy drop
rule filter input tcp dport @web ct state new accept comment "web"
`), "rules.nft")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(rs.Sets), "set,", len(rs.Rules), "rule with", len(rs.Rules[0].Matches), "matches")
	if err := ruletext.Format(os.Stdout, rs); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1 set, 1 rule with 3 matches
	// # nflab ruleset
	//
	// set web port { 80, 443 }
	//
	// chain filter input policy drop
	//
	// rule filter input tcp dport @web ct state new accept comment "web"
}

func ExampleParse_error() {
	_, err := ruletext.Parse(strings.NewReader("rule filter input ip sadr 10.0.0.1 accept\n"), "rules.nft")
	fmt.Println(err)
	// Output:
	// rules.nft:1:22: unknown ip match "sadr" (did you mean "saddr"?)
}

func ExampleParseRule() {
	r, err := ruletext.ParseRule([]string{"tcp", "dport", "22", "!", "ip", "saddr", "10.0.0.0/8", "drop"})
	if err != nil {
		fmt.Println(err)
		return
	}
	text, _ := ruletext.FormatRule(r)
	fmt.Println(text)
	// Output:
	// tcp dport 22 ip saddr != 10.0.0.0/8 drop
}
