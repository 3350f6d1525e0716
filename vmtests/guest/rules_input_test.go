//go:build nflabvm

// What the rule commands refuse, who may use them, and the text format's
// round trip through the module. One namespace, no traffic:
//
//	 ns rules
//	+--------------------------+
//	| lo up; the module's      |
//	| ruleset, changed only by |
//	| nflab rules apply, rule  |
//	| add, set load            |
//	+--------------------------+
package guest

import (
	_ "embed"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

const baseRuleset = `set ok addr { 10.0.0.0/8 }
rule filter input ip saddr @ok accept comment "keep"
`

func TestRulesBadInput(t *testing.T) {
	loadModule(t)
	ns := newNetns(t, "rules")
	applyIn(t, ns, baseRuleset)
	saved := saveIn(t, ns)
	long := strings.Repeat("a", 129)

	for _, c := range []struct {
		name string
		text string // a file for rules apply, or
		argv []string
		code int
		msg  string // what the message must say
	}{
		{name: "malformed words", argv: []string{"rule", "add", "filter", "input", "tcp", "dport"}, code: 2, msg: "missing a port"},
		{name: "malformed words in a file", text: "rule filter input tcp dport accept\n", code: 1, msg: ":1:"},
		{name: "unknown match", text: "rule filter input frobnicate 3 accept\n", code: 1, msg: "frobnicate"},
		{name: "unknown match on the command line", argv: []string{"rule", "add", "filter", "input", "frobnicate", "3", "accept"}, code: 2, msg: "frobnicate"},
		{name: "string of 129 bytes", text: fmt.Sprintf("rule filter input string %q drop\n", long), code: 1, msg: "128"},
		{name: "prefix with host bits", text: "rule filter input ip saddr 10.1.2.3/16 drop\n", code: 1, msg: "10.1.2.3/16"},
		{name: "prefix /33", text: "rule filter input ip saddr 10.0.0.0/33 drop\n", code: 1, msg: "33"},
		// The module's commit check refuses these; its message names the rule.
		{name: "jump loop", text: "chain filter a\nchain filter b\nrule filter input jump a\nrule filter a jump b\nrule filter b jump a\n", code: 1, msg: "in filter/b: jump to \"a\" loops back"},
		{name: "unknown set", text: "rule filter input ip saddr @nope drop\n", code: 1, msg: "nope"},
		{name: "port set for addresses", text: "set p port { 80 }\nrule filter input ip saddr @p drop\n", code: 1, msg: "p"},
		{name: "unknown set on the command line", argv: []string{"rule", "add", "filter", "input", "ip", "saddr", "@nope", "drop"}, code: 1, msg: "no set named \"nope\""},
		// NAT's bad input.
		{name: "reversed address range", argv: []string{"rule", "add", "nat", "postrouting", "snat", "to", "10.0.0.5-10.0.0.1"}, code: 2, msg: "backwards"},
		{name: "reversed port range", text: "rule nat postrouting udp dport 53 snat to 10.0.0.1:2000-1000\n", code: 1, msg: "backwards"},
		{name: "NAT outside the nat table", text: "rule filter forward snat to 10.0.0.1\n", code: 1, msg: "table nat"},
		{name: "IPv6 address", text: "rule nat postrouting snat to 2001:db8::1\n", code: 1, msg: "IPv4"},
		{name: "ports without a port protocol", text: "rule nat postrouting icmp type echo-request snat to 10.0.0.1:1000-2000\n", code: 1, msg: "tcp or udp"},
		{name: "fullcone on dnat", text: "rule nat prerouting dnat to 10.0.0.1 fullcone\n", code: 1, msg: "fullcone is for snat and masquerade"},
		// The module's commit check: a user chain reached from a hook
		// where its NAT action cannot act.
		{name: "snat reached from prerouting", text: "chain nat c\nrule nat prerouting jump c\nrule nat c snat to 10.0.0.1\n", code: 1, msg: "in nat/c: snat cannot act at a hook this chain runs at"},
	} {
		var out string
		var code int
		if c.argv != nil {
			out, code = runCode(t, append([]string{"ip", "netns", "exec", "rules", "nflab"}, c.argv...)...)
		} else {
			out, code = applyInCode(t, ns, c.text)
		}
		t.Logf("%s: exit %d: %s", c.name, code, strings.TrimSpace(out))
		if code != c.code {
			t.Errorf("%s: exit %d, want %d: %s", c.name, code, c.code, out)
		}
		if !strings.HasPrefix(out, "nflab") || !strings.Contains(out, c.msg) {
			t.Errorf("%s: message %q does not say %q", c.name, out, c.msg)
		}
		if got := saveIn(t, ns); got != saved {
			t.Errorf("%s changed the ruleset:\n%s\nwas\n%s", c.name, got, saved)
		}
	}
}

func TestRulesLimitRulesMax(t *testing.T) {
	loadModule(t, "rules_max=5")
	ns := newNetns(t, "rules")
	var five, six strings.Builder
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&six, "rule filter input udp dport %d drop\n", 1000+i)
		if i < 5 {
			fmt.Fprintf(&five, "rule filter input udp dport %d drop\n", 1000+i)
		}
	}
	applyIn(t, ns, five.String())
	saved := saveIn(t, ns)
	out, code := applyInCode(t, ns, six.String())
	if code != 1 || !strings.Contains(out, "6 rules: more than rules_max, 5") {
		t.Errorf("6 rules with rules_max=5: exit %d, %q; want 1 and a message naming rules_max", code, out)
	}
	// One more on the command line, on top of the five.
	out, code = runCode(t, "ip", "netns", "exec", "rules", "nflab", "rule", "add", "filter", "input", "drop")
	if code != 1 || !strings.Contains(out, "6 rules: more than rules_max, 5") {
		t.Errorf("a 6th rule with rules_max=5: exit %d, %q; want 1 and a message naming rules_max", code, out)
	}
	if got := saveIn(t, ns); got != saved {
		t.Errorf("a refused ruleset changed the rules:\n%s", got)
	}
}

func TestRulesNeedCapNetAdmin(t *testing.T) {
	loadModule(t)
	// The initial namespace: runAs cannot enter another one.
	mustRun(t, "nflab", "rules", "apply", "-f", writeShared(t, baseRuleset))
	t.Cleanup(func() { _, _ = tryCmd("nflab", "rules", "flush") })
	saved := mustRun(t, "nflab", "rules", "save")
	list := writeShared(t, "192.0.2.0/24\n")
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	for _, argv := range [][]string{
		{"rule", "list"},
		{"rule", "add", "filter", "input", "drop"},
		{"rules", "save"},
		{"rules", "apply", "-f", writeShared(t, "rule filter input drop\n")},
		{"rules", "flush"},
		{"chain", "list"},
		{"set", "list"},
		{"set", "load", "ok", "-f", list},
	} {
		out, code := runAs(t, nobody, append([]string{"nflab"}, argv...)...)
		if code != 1 || !strings.Contains(out, "CAP_NET_ADMIN") {
			t.Errorf("nflab %s as nobody: exit %d, %q; want exit 1 naming CAP_NET_ADMIN", strings.Join(argv, " "), code, out)
		}
	}
	if got := mustRun(t, "nflab", "rules", "save"); got != saved {
		t.Errorf("refused commands changed the ruleset:\n%s", got)
	}
}

// writeShared writes a file anyone may read and returns its path.
func writeShared(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "*.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// The guest has the test binary only, not the package's directory.
var (
	//go:embed testdata/rules_all.nft
	rulesAll string
	//go:embed testdata/rules_all.formatted.nft
	rulesAllFormatted string
)

// TestRulesRoundTrip applies a ruleset with every match, every action and
// sets (testdata/rules_all.nft), saves it, applies the saved text, and
// saves again: the two saves are the same, and equal to the file's
// formatted form (testdata/rules_all.formatted.nft, kept in step by
// gotool/internal/ruletext's TestVMTestGolden).
func TestRulesRoundTrip(t *testing.T) {
	loadModule(t)
	ns := newNetns(t, "rules")
	applyIn(t, ns, rulesAll)
	first := saveIn(t, ns)
	applyIn(t, ns, first)
	if again := saveIn(t, ns); again != first {
		t.Errorf("save, apply, save is not a fixed point:\n%s\nthen\n%s", first, again)
	}
	if first != rulesAllFormatted {
		t.Errorf("rules save differs from the file's formatted form:\n%s", lineDiff(rulesAllFormatted, first))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+), in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inW, inG := map[string]int{}, map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	for _, l := range g {
		inG[l]++
	}
	var b strings.Builder
	for _, l := range w {
		if inG[l] == 0 {
			fmt.Fprintf(&b, "-%s\n", l)
		}
	}
	for _, l := range g {
		if inW[l] == 0 {
			fmt.Fprintf(&b, "+%s\n", l)
		}
	}
	if b.Len() == 0 {
		return "(the same lines in another order)\n-want:\n" + want + "\n+got:\n" + got
	}
	return b.String()
}
