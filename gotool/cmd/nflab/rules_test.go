//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/ruletext"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// exampleRuleset is what the rule engine's examples and tests start
// from: rules with handles 1 to 5 in filter/input and 6 in filter/web_in,
// an unused set and an empty user chain.
const exampleRuleset = `# nflab ruleset

set blocked addr { 192.0.2.0/24, 198.51.100.1-198.51.100.9 }
set web port { 80, 443 }

chain filter input policy drop
chain filter tcp_in
chain filter web_in

rule filter input ct state established,related accept
rule filter input iif lo accept
rule filter input tcp dport 22 ct state new limit 5/minute burst 10 accept comment "ssh"
rule filter input tcp dport @web jump web_in
rule filter input quota 10 mbytes counter
rule filter web_in ip saddr 10.0.0.0/8 accept
`

// defaultsRuleset writes out the values the module takes by default.
const defaultsRuleset = `# nflab ruleset

rule mangle input mark set 0x1/0xffffffff
rule filter input limit 5/minute burst 5 accept
rule filter input connlimit above 2 per /32 drop
rule filter input string "x" from 0 to 65535 drop
rule filter input mark 0x1/0xffffffff accept
rule filter input nth every 3 offset 0 accept
`

// ruleCmp compares rules' addresses by value.
var ruleCmp = cmp.Options{cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

// rulesHarness is a fake module holding the ruleset text, as "rules
// apply" would load it, and the conntrack tests' connections.
func rulesHarness(t *testing.T, text string) *harness {
	t.Helper()
	h := ctHarness(t)
	if text == "" {
		return h
	}
	rs, err := ruletext.Parse(strings.NewReader(text), "fixture.nft")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ApplyRuleset(context.Background(), rs, nil); err != nil {
		t.Fatalf("applying the fixture: %v", err)
	}
	return h
}

// save returns what "nflab rules save" prints.
func (h *harness) save() string {
	h.t.Helper()
	got := h.run("rules", "save")
	if got.Code != 0 {
		h.t.Fatalf("nflab rules save = %+v", got)
	}
	return got.Stdout
}

// handles returns the handles "rule list" shows, in order.
func (h *harness) handles(args ...string) []uint64 {
	h.t.Helper()
	got := h.run(append([]string{"rule", "list", "-o", "json"}, args...)...)
	var js struct {
		Rules []struct{ Handle uint64 } `json:"rules"`
	}
	if got.Code != 0 || json.Unmarshal([]byte(got.Stdout), &js) != nil {
		h.t.Fatalf("nflab rule list -o json = %+v", got)
	}
	var hs []uint64
	for _, r := range js.Rules {
		hs = append(hs, r.Handle)
	}
	return hs
}

func TestRuleCommands(t *testing.T) {
	h := rulesHarness(t, exampleRuleset)
	steps := []struct {
		args []string
		out  string
	}{
		{[]string{"rule", "add", "filter", "input", "tcp", "dport", "80,443", "accept", "comment", "web server"}, "handle 7\n"},
		{[]string{"rule", "insert", "filter", "input", "icmp", "type", "echo-request", "accept"}, "handle 8\n"},
		{[]string{"rule", "insert", "filter", "input", "--position", "3", "ip saddr != 10.0.0.0/8", "drop"}, "handle 9\n"},
		{[]string{"rule", "add", "filter", "input", "--position", "3", "udp", "dport", "53", "accept", "-o", "json"}, `{"handle":10}` + "\n"},
		{[]string{"rule", "replace", "3", "tcp", "dport", "2222", "accept", "comment", "ssh"}, ""},
		{[]string{"rule", "delete", "2"}, ""},
		{[]string{"chain", "add", "filter", "ssh_in"}, ""},
		{[]string{"rule", "add", "filter", "ssh_in", "log", "prefix", "ssh: "}, "handle 11\n"},
		{[]string{"chain", "policy", "filter", "forward", "drop"}, ""},
		{[]string{"chain", "delete", "filter", "tcp_in"}, ""},
		{[]string{"set", "add", "blocked", "addr", "203.0.113.5", "10.1.0.0/16"}, ""},
		{[]string{"set", "add", "dns", "port", "53,853"}, ""},
		{[]string{"set", "delete", "dns"}, ""},
		{[]string{"rule", "add", "mangle", "output", "tcp", "dport", "80", "mark", "set", "0x1"}, "handle 12\n"},
	}
	for _, s := range steps {
		got := h.run(s.args...)
		if diff := cmp.Diff(result{0, s.out, ""}, got); diff != "" {
			t.Fatalf("nflab %q (-want +got):\n%s", s.args, diff)
		}
	}
	want := `# nflab ruleset

set blocked addr { 10.1.0.0/16, 192.0.2.0/24, 198.51.100.1-198.51.100.9, 203.0.113.5 }
set web port { 80, 443 }

chain filter input policy drop
chain filter forward policy drop
chain filter web_in
chain filter ssh_in

rule mangle output tcp dport 80 mark set 0x1
rule filter input icmp type echo-request accept
rule filter input ct state established,related accept
rule filter input ip saddr != 10.0.0.0/8 drop
rule filter input tcp dport 2222 accept comment "ssh"
rule filter input udp dport 53 accept
rule filter input tcp dport @web jump web_in
rule filter input quota 10 mbytes counter
rule filter input tcp dport { 80, 443 } accept comment "web server"
rule filter web_in ip saddr 10.0.0.0/8 accept
rule filter ssh_in log prefix "ssh: "
`
	if diff := cmp.Diff(want, h.save()); diff != "" {
		t.Errorf("rules save (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{8, 1, 9, 3, 10, 4, 5, 7}, h.handles("filter", "input")); diff != "" {
		t.Errorf("handles of filter/input (-want +got):\n%s", diff)
	}

	// Counters, quota state and reset.
	h.m.HitRule(5, 3, 3000)
	h.m.HitRule(1, 2, 100)
	got := h.run("rule", "list", "filter", "input", "-v")
	for _, line := range []string{
		"filter  input  5       3        3000   3000/10485760  quota 10 mbytes counter",
		"filter  input  1       2        100    -              ct state established,related accept",
	} {
		if !strings.Contains(got.Stdout, line+"\n") {
			t.Errorf("rule list -v lacks %q:\n%s", line, got.Stdout)
		}
	}
	got = h.run("rule", "list", "-o", "json", "filter", "input")
	if !strings.Contains(got.Stdout, `{"handle":5,"table":"filter","chain":"input","rule":"quota 10 mbytes counter","packets":3,"bytes":3000,"quota_used":3000}`) {
		t.Errorf("rule list -o json: %s", got.Stdout)
	}
	if got := h.run("rule", "reset", "5"); got.Code != 0 || *h.rec.reset != 5 {
		t.Fatalf("rule reset 5 = %+v", got)
	}
	if got := h.run("rule", "reset"); got.Code != 0 || h.rec.reset != nil {
		t.Fatalf("rule reset = %+v", got)
	}
	got = h.run("rule", "list", "filter", "input", "-v")
	if strings.Contains(got.Stdout, "3000") || strings.Contains(got.Stdout, " 100 ") {
		t.Errorf("counters after reset:\n%s", got.Stdout)
	}
}

// TestRuleNAT checks NAT rules through the commands: they are added,
// listed and saved in the text format, and what only the module can
// check (a user chain's hooks, through jumps) fails at commit.
func TestRuleNAT(t *testing.T) {
	h := rulesHarness(t, `# nflab ruleset
chain nat web
rule nat prerouting tcp dport 80 jump web
`)
	for _, s := range []struct {
		args []string
		out  string
	}{
		{[]string{"rule", "add", "nat", "web", "tcp", "dport", "80", "dnat", "to", "10.0.2.2-10.0.2.3:8080", "persistent"}, "handle 2\n"},
		{[]string{"rule", "add", "nat", "postrouting", "oif eth0 masquerade fully-random random"}, "handle 3\n"},
		{[]string{"rule", "add", "nat", "input", "snat", "to", "127.0.0.2"}, "handle 4\n"},
		{[]string{"rule", "insert", "nat", "output", "udp", "dport", "53", "redirect", "to", ":5353", "-o", "json"}, `{"handle":5}` + "\n"},
		{[]string{"rule", "replace", "4", "snat", "to", "127.0.0.3-127.0.0.3"}, ""},
	} {
		if diff := cmp.Diff(result{0, s.out, ""}, h.run(s.args...)); diff != "" {
			t.Fatalf("nflab %q (-want +got):\n%s", s.args, diff)
		}
	}
	want := `# nflab ruleset

chain nat web

rule nat prerouting tcp dport 80 jump web
rule nat input snat to 127.0.0.3
rule nat output udp dport 53 redirect to :5353
rule nat postrouting oif eth0 masquerade random fully-random
rule nat web tcp dport 80 dnat to 10.0.2.2-10.0.2.3:8080 persistent
`
	if diff := cmp.Diff(want, h.save()); diff != "" {
		t.Errorf("rules save (-want +got):\n%s", diff)
	}
	got := h.run("rule", "list", "-o", "json", "nat", "web")
	if want := `{"rules":[{"handle":2,"table":"nat","chain":"web","rule":"tcp dport 80 dnat to 10.0.2.2-10.0.2.3:8080 persistent","packets":0,"bytes":0}]}` + "\n"; got.Code != 0 || got.Stdout != want {
		t.Errorf("rule list -o json nat web = %+v, want %s", got, want)
	}
	// web runs at prerouting: masquerade cannot act there.
	before, gen := h.save(), h.m.Gen()
	got = h.run("rule", "add", "nat", "web", "masquerade")
	if want := "nflab: commit transaction: invalid argument: rule 2 (handle 6) in nat/web: masquerade cannot act at a hook this chain runs at\n"; got.Code != 1 || got.Stderr != want {
		t.Errorf("rule add nat web masquerade = %+v, want %s", got, want)
	}
	if h.save() != before || h.m.Gen() != gen {
		t.Errorf("the refused rule changed the ruleset")
	}
}

// TestRuleUsageErrors checks that mistakes in the command line are usage
// errors (exit 2) that name the argument at fault, before anything is
// dialled.
func TestRuleUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rule", "add", "filter", "input", "ip", "sadr", "1.2.3.4", "accept"},
			`nflab rule add: argument 4: unknown ip match "sadr" (did you mean "saddr"?); run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter", "input", "tcp", "dport", "22"},
			`nflab rule add: argument 6: missing action at the end of the rule: accept, drop, reject, log, counter, jump CHAIN, ...; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filtr", "input", "accept"},
			`nflab rule add: unknown table "filtr"; want raw, mangle, filter or nat; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter", "input"},
			`nflab rule add: missing the rule after filter input: matches, then an action, such as: tcp dport 22 accept; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter"},
			`nflab rule add: want TABLE CHAIN and the rule, such as: filter input tcp dport 22 accept; run 'nflab help rule add'`},
		{[]string{"rule", "add", "raw", "output", "reject"},
			`nflab rule add: argument 3: reject is allowed in table filter only; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter", "input", "accept", "--position", "0"},
			`nflab rule add: --position 0: want a rule's handle, as 'nflab rule list' shows it; run 'nflab help rule add'`},
		{[]string{"rule", "insert", "filter", "input", "counter", "accept"},
			`nflab rule insert: argument 4: a rule has one action; every rule counts its packets (see 'nflab rule list -v'), so "counter" is an action of its own; run 'nflab help rule insert'`},
		{[]string{"rule", "add", "filter", "output", "tcp", "dport", "1", "iif", "eth0", "drop"},
			`nflab rule add: argument 6: iif is not known at output: packets there have no input interface; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter", "input", "connlimit", "above", "65536", "drop"},
			`nflab rule add: argument 3: match 1: connlimit: count 65536 is above 65535; run 'nflab help rule add'`},
		{[]string{"rule", "add", "nat", "prerouting", "snat", "to", "10.0.0.1"},
			`nflab rule add: argument 3: snat cannot act at prerouting: it acts in "input" or "postrouting"; run 'nflab help rule add'`},
		{[]string{"rule", "add", "nat", "prerouting", "dnat", "to", ":8080"},
			`nflab rule add: argument 3: dnat: a port range needs the rule to match protocol tcp or udp (such as tcp dport 80); run 'nflab help rule add'`},
		{[]string{"rule", "add", "nat", "postrouting", "masquerade", "to", "192.0.2.1"},
			`nflab rule add: argument 5: masquerade takes no address, only ports: masquerade to :PORT[-PORT]; run 'nflab help rule add'`},
		{[]string{"rule", "add", "filter", "input", "masquerade"},
			`nflab rule add: argument 3: masquerade is allowed in table nat only; run 'nflab help rule add'`},
		{[]string{"rule", "add", "nat", "input", "reject"},
			`nflab rule add: argument 3: reject is allowed in table filter only; run 'nflab help rule add'`},
		{[]string{"rule", "delete", "x"},
			`nflab rule delete: invalid handle "x": want a rule's number, as 'nflab rule list' shows it; run 'nflab help rule delete'`},
		{[]string{"rule", "delete"}, `nflab rule delete: want one HANDLE; run 'nflab help rule delete'`},
		{[]string{"rule", "delete", "3", "-o", "json"},
			`nflab rule delete: --output does not apply: this command prints nothing; run 'nflab help rule delete'`},
		{[]string{"rule", "replace", "3", "tcp", "dport", "x", "accept"},
			`nflab rule replace: argument 4: "x": want a port (0-65535) or a range such as 1024-65535; run 'nflab help rule replace'`},
		{[]string{"rule", "list", "filter", "input", "x"},
			`nflab rule list: unexpected argument "x": want at most TABLE and CHAIN; run 'nflab help rule list'`},
		{[]string{"rule", "reset", "1", "2"}, `nflab rule reset: unexpected argument "2": want at most one HANDLE; run 'nflab help rule reset'`},
		{[]string{"chain", "add", "filter", "input"},
			`nflab chain add: input is a built-in chain's name; a user chain needs another; run 'nflab help chain add'`},
		{[]string{"chain", "add", "filter", "a/b"},
			`nflab chain add: invalid chain name "a/b": name "a/b" may hold only letters, digits, '_', '.' and '-'; run 'nflab help chain add'`},
		{[]string{"chain", "policy", "filter", "input", "reject"},
			`nflab chain policy: unknown policy "reject"; want accept or drop; run 'nflab help chain policy'`},
		{[]string{"chain", "policy", "raw", "input", "drop"},
			`nflab chain policy: table raw has no built-in chain input; only prerouting or output have a policy; run 'nflab help chain policy'`},
		{[]string{"set", "add", "s", "addrs"}, `nflab set add: unknown set type "addrs"; want addr or port; run 'nflab help set add'`},
		{[]string{"set", "add", "s", "addr", "10.0.0.1", "10.0.0.300"},
			`nflab set add: argument 4: "10.0.0.300": want an IPv4 address, prefix or range, such as 192.0.2.1, 10.0.0.0/8 or 10.0.0.1-10.0.0.9; run 'nflab help set add'`},
		{[]string{"set", "load", "s"}, `nflab set load: missing --file (-f FILE, or -f - for standard input); run 'nflab help set load'`},
		{[]string{"set", "load", "s", "-f", "x", "--type", "ports"}, `nflab set load: invalid value "ports" for --type: want addr or port; run 'nflab help set load'`},
		{[]string{"rules", "apply", "-f", ""}, `nflab rules apply: invalid value "" for --file: want a file's path, or - for standard input; run 'nflab help rules apply'`},
		{[]string{"rules", "apply"}, `nflab rules apply: missing --file (-f FILE, or -f - for standard input); run 'nflab help rules apply'`},
		{[]string{"rules", "save", "x"}, `nflab rules save: unexpected argument "x"; run 'nflab help rules save'`},
		{[]string{"rules", "flush", "-o", "json"}, `nflab rules flush: --output does not apply: this command prints nothing; run 'nflab help rules flush'`},
	}
	for _, tt := range tests {
		got := runNoDial(t, tt.args...)
		if diff := cmp.Diff(result{2, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestRuleFailures checks that what the module refuses is a failure (exit
// 1) that changes nothing.
func TestRuleFailures(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rule", "delete", "99"}, "nflab: deleting the rule: no rule has handle 99"},
		{[]string{"rule", "replace", "99", "accept"}, "nflab: replacing the rule: no rule has handle 99"},
		{[]string{"rule", "replace", "6", "mark", "set", "1"}, "nflab rule replace: argument 2: mark is allowed in table mangle only; run 'nflab help rule replace'"},
		{[]string{"rule", "reset", "99"}, "nflab: resetting the rule: no rule has handle 99"},
		{[]string{"rule", "add", "filter", "input", "jump", "nowhere"}, "nflab: commit transaction: no such entry: rule 6 (handle 7) in filter/input: jump to unknown chain nowhere"},
		{[]string{"rule", "add", "filter", "nochain", "accept"}, "nflab: add rule: no such entry: no chain filter/nochain"},
		{[]string{"rule", "list", "filter", "nope"}, "nflab: listing the rules: table filter has no chain nope ('nflab chain list' shows them)"},
		{[]string{"chain", "add", "filter", "tcp_in"}, "nflab: adding the chain: table filter already has a chain tcp_in"},
		{[]string{"chain", "delete", "filter", "nope"}, "nflab: deleting the chain: table filter has no chain nope"},
		{[]string{"set", "add", "web", "addr"}, "nflab: adding to the set: set web holds port elements, not addr"},
		{[]string{"set", "delete", "nope"}, "nflab: deleting the set: no set nope"},
		{[]string{"set", "list", "nope"}, "nflab: listing the set: no set nope"},
		{[]string{"set", "load", "nope", "-f", "-"}, "nflab: loading the set: no set nope; give --type addr or --type port to create it"},
		{[]string{"set", "load", "blocked", "-f", "-", "--type", "port"}, "nflab: loading the set: set blocked holds addr elements, not port"},
		{[]string{"set", "load", "blocked", "-f", "/nonexistent/list"}, "nflab: reading the list: open /nonexistent/list: no such file or directory"},
	}
	for _, tt := range tests {
		h := rulesHarness(t, exampleRuleset)
		before, gen := h.save(), h.m.Gen()
		got := h.run(tt.args...)
		code := 1
		if strings.HasPrefix(tt.want, "nflab rule ") {
			code = 2
		}
		if diff := cmp.Diff(result{code, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if after := h.save(); after != before || h.m.Gen() != gen || h.m.TxOpen() {
			t.Errorf("nflab %q changed the ruleset (generation %d, now %d):\n%s", tt.args, gen, h.m.Gen(), after)
		}
	}
}

// TestSaveApply checks the round trip: what save prints, apply loads back
// unchanged, into an empty module as into one holding another ruleset.
func TestSaveApply(t *testing.T) {
	all, err := os.ReadFile("../../internal/ruletext/testdata/all.nft")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{exampleRuleset, string(all), defaultsRuleset} {
		a := rulesHarness(t, text)
		saved := a.save()
		if text == exampleRuleset && saved != exampleRuleset {
			t.Errorf("saved (-applied +saved):\n%s", cmp.Diff(exampleRuleset, saved))
		}
		// What save prints is the applied text, formatted in the
		// module's order (chains by table and hook): the module and
		// the parser agree on every value, defaults included.
		rs, err := ruletext.Parse(strings.NewReader(text), "in.nft")
		if err != nil {
			t.Fatal(err)
		}
		c, err := nflab.Dial(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Ruleset(context.Background())
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		order := map[string]int{}
		for i, ch := range back.Chains {
			order[ch.Table.String()+"/"+ch.Name] = i
		}
		slices.SortStableFunc(rs.Rules, func(a, b nftypes.Rule) int {
			return order[a.Table.String()+"/"+a.Chain] - order[b.Table.String()+"/"+b.Chain]
		})
		slices.SortStableFunc(rs.Chains, func(a, b nftypes.Chain) int {
			return order[a.Table.String()+"/"+a.Name] - order[b.Table.String()+"/"+b.Name]
		})
		for i := range rs.Sets { // the module merges elements
			rs.Sets[i].Addrs = nftypes.MergeAddrRanges(rs.Sets[i].Addrs)
			rs.Sets[i].Ports = nftypes.MergePortRanges(rs.Sets[i].Ports)
		}
		var formatted strings.Builder
		if err := ruletext.Format(&formatted, rs); err != nil {
			t.Fatal(err)
		}
		if saved != formatted.String() {
			t.Errorf("save differs from the applied text, formatted (-formatted +saved):\n%s", cmp.Diff(formatted.String(), saved))
		}
		// And so do the values, as Go reads them back.
		for i := range back.Rules {
			back.Rules[i].Handle = 0
		}
		if text == defaultsRuleset {
			if diff := cmp.Diff(rs.Rules, back.Rules, ruleCmp); diff != "" {
				t.Errorf("rules read back differ from Parse's (-parsed +read):\n%s", diff)
			}
		}
		for _, start := range []string{"", exampleRuleset} {
			b := rulesHarness(t, start)
			b.stdin = saved
			got := b.run("rules", "apply", "-f", "-")
			if got.Code != 0 {
				t.Fatalf("rules apply: %+v", got)
			}
			if again := b.save(); again != saved {
				t.Errorf("apply(save) then save differs (-first +again):\n%s", cmp.Diff(saved, again))
			}
		}
	}

	// From a file, with --check, and the JSON.
	h := rulesHarness(t, "")
	path := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(path, []byte(exampleRuleset), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := h.m.Gen()
	got := h.run("rules", "apply", "--check", "-f", path)
	if want := "checked " + path + ": 2 sets, 2 chains, 6 rules\n"; got.Code != 0 || got.Stdout != want {
		t.Errorf("rules apply --check = %+v, want %q", got, want)
	}
	if h.m.Gen() != gen || !h.rec.apply.Check {
		t.Errorf("--check changed the ruleset or did not ask for a check")
	}
	got = h.run("rules", "apply", "-f", path, "-o", "json")
	if want := fmt.Sprintf(`{"gen":%d,"checked":false,"sets":2,"chains":2,"rules":6}`+"\n", gen+1); got.Code != 0 || got.Stdout != want {
		t.Errorf("rules apply -o json = %+v, want %q", got, want)
	}
	got = h.run("rules", "save", "-o", "json")
	var js struct {
		Sets   []struct{ Elements []string }
		Chains []struct{ Name string }
		Rules  []struct{ Comment string }
	}
	if err := json.Unmarshal([]byte(got.Stdout), &js); err != nil || len(js.Rules) != 6 || len(js.Sets) != 2 || len(js.Chains) != 16 ||
		js.Sets[0].Elements[1] != "198.51.100.1-198.51.100.9" || js.Rules[2].Comment != "ssh" {
		t.Errorf("rules save -o json = %+v (%v)", got, err)
	}

	// Flush.
	if got := h.run("rules", "flush"); got.Code != 0 || got.Stdout != "" {
		t.Errorf("rules flush = %+v", got)
	}
	if got := h.save(); got != "# nflab ruleset\n" {
		t.Errorf("after flush, save = %q", got)
	}
}

// TestApplyErrors checks that apply's errors point at the file's line,
// whether the parser, a change or the commit found them, and that a
// failed apply changes nothing.
func TestApplyErrors(t *testing.T) {
	tests := []struct {
		text string
		fail uint8 // a command the module fails
		want string
	}{
		{"chain filter a\nrule filter input ip sadr 1.2.3.4 accept\n", 0,
			`nflab: rules.nft:2:22: unknown ip match "sadr" (did you mean "saddr"?)`},
		{"rule filter input jump nowhere\n", 0,
			`nflab: rules.nft:1:24: unknown chain "nowhere"; declare it with: chain filter nowhere`},
		{"chain filter a\nchain filter b\n\nrule filter input jump a\nrule filter a jump b\nrule filter b goto a\n", 0,
			`nflab: rules.nft:6: commit transaction: too many levels of symbolic links: rule 1 (handle 9) in filter/b: goto to a makes a loop`},
		{"chain filter a\nrule filter input accept\nrule filter a drop\n", nlproto.CMD_RULE_NEW,
			`nflab: rules.nft:2: add rule: invalid argument: refused`},
		{"set s addr { 10.0.0.0/8 }\n", nlproto.CMD_SET_NEW,
			`nflab: rules.nft:1: add set: invalid argument: refused`},
		{"chain filter input policy drop\n", nlproto.CMD_CHAIN_POLICY,
			`nflab: chain raw/prerouting: set policy: invalid argument: refused`},
	}
	for _, tt := range tests {
		h := rulesHarness(t, exampleRuleset)
		before, gen := h.save(), h.m.Gen()
		path := filepath.Join(t.TempDir(), "rules.nft")
		if err := os.WriteFile(path, []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if tt.fail != 0 {
			h.m.Fail(tt.fail, unix.EINVAL, "refused")
		}
		t.Chdir(filepath.Dir(path))
		got := h.run("rules", "apply", "-f", "rules.nft")
		if diff := cmp.Diff(result{1, "", tt.want + "\n"}, got); diff != "" {
			t.Errorf("apply %q (-want +got):\n%s", tt.text, diff)
		}
		h.m.Fail(tt.fail, 0, "")
		if after := h.save(); after != before || h.m.Gen() != gen || h.m.TxOpen() {
			t.Errorf("apply %q changed the ruleset:\n%s", tt.text, after)
		}
	}
}

// TestProtocol3Module checks the CLI against a module of protocol 3, which
// has the rule engine but no NAT: a ruleset without NAT applies (the nat
// chains every parsed ruleset lists are left out), one with NAT, a nat
// rule and a --src-nat filter are refused before anything is sent.
func TestProtocol3Module(t *testing.T) {
	h := newHarness(t, fakemod.Options{Protocol: 3})
	path := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(path, []byte(exampleRuleset), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := h.run("rules", "apply", "-f", path); got.Code != 0 {
		t.Fatalf("rules apply without NAT = %+v", got)
	}
	if diff := cmp.Diff(exampleRuleset, h.save()); diff != "" {
		t.Errorf("rules save (-want +got):\n%s", diff)
	}
	gen := h.m.Gen()
	// The message names the line, if a file gave one, and the library's
	// reason.
	for _, tt := range []struct {
		args  []string
		stdin string
		want  string
	}{
		{[]string{"rule", "add", "nat", "postrouting", "masquerade"}, "",
			"nflab: adding the rule: the nat table needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"rule", "add", "filter", "forward", "ct", "status", "src-nat", "accept"}, "",
			"nflab: adding the rule: ct status SRC_NAT needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"rules", "apply", "-f", "-"}, "rule filter forward ct status dst-nat accept\n",
			"nflab: <stdin>:1: ct status DST_NAT needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"rules", "apply", "-f", "-"}, "chain filter forward policy drop\nchain nat postrouting policy drop\n",
			"nflab: <stdin>:2: the nat table needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"ct", "list", "--src-nat"}, "",
			"nflab: listing connections: status SRC_NAT needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"ct", "count", "--src-nat"}, "",
			"nflab: counting connections: status SRC_NAT needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
		{[]string{"ct", "flush", "--dst-nat"}, "",
			"nflab: flushing connections: status DST_NAT needs NAT, protocol 4; the module speaks protocol 3; load a newer module\n"},
	} {
		h.stdin = tt.stdin
		if diff := cmp.Diff(result{1, "", tt.want}, h.run(tt.args...)); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
	}
	for _, cmd := range []uint8{nlproto.CMD_CT_GET, nlproto.CMD_CT_COUNT, nlproto.CMD_CT_DELETE, nlproto.CMD_CT_FLUSH} {
		if n := h.m.Requests(cmd); n != 0 {
			t.Errorf("refused requests reached the module: %d with command %d", n, cmd)
		}
	}
	if h.m.Gen() != gen {
		t.Errorf("refused requests reached the module: generation %d (was %d)", h.m.Gen(), gen)
	}
}

func TestSetLoad(t *testing.T) {
	h := rulesHarness(t, exampleRuleset)
	path := filepath.Join(t.TempDir(), "list.txt")
	var list strings.Builder
	list.WriteString("# a list\n\n")
	for i := range 1000 {
		fmt.Fprintf(&list, "10.%d.%d.0/24\n", i/256, i%256)
	}
	list.WriteString("192.0.2.1 # one\n")
	if err := os.WriteFile(path, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := h.run("set", "load", "blocked", "-f", path)
	if diff := cmp.Diff(result{0, "loaded 1001 elements into blocked\n", ""}, got); diff != "" {
		t.Fatalf("set load (-want +got):\n%s", diff)
	}
	if calls := h.rec.Calls(); strings.Join(calls, " ") != "Set Begin Close" {
		t.Errorf("calls %q", calls)
	}
	// Merged by the module: 10.0.0.0-10.3.231.255 and 192.0.2.1.
	got = h.run("set", "list", "blocked", "-v", "-o", "json")
	if want := `{"sets":[{"name":"blocked","type":"addr","count":2,"refs":0,"elements":["10.0.0.0-10.3.231.255","192.0.2.1"]}]}` + "\n"; got.Stdout != want {
		t.Errorf("set list = %+v, want %s", got, want)
	}

	// A mistake in the list changes nothing.
	before := h.save()
	if err := os.WriteFile(path, []byte("10.0.0.0/8\n10.0.0.1/8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got = h.run("set", "load", "blocked", "-f", path)
	if want := "nflab: " + path + ":2:1: \"10.0.0.1/8\": bits set past the prefix length (did you mean 10.0.0.0/8?)\n"; got.Code != 1 || got.Stderr != want {
		t.Errorf("set load of a bad list = %+v, want %s", got, want)
	}
	if after := h.save(); after != before {
		t.Errorf("a bad list changed the ruleset:\n%s", after)
	}

	// Standard input, and a new set with --type.
	h.stdin = "53\n853\n1000-2000\n"
	got = h.run("set", "load", "dns", "-f", "-", "--type", "port", "-o", "json")
	if diff := cmp.Diff(result{0, `{"name":"dns","loaded":3}` + "\n", ""}, got); diff != "" {
		t.Errorf("set load --type port (-want +got):\n%s", diff)
	}
	got = h.run("set", "list")
	if want := "NAME     TYPE  COUNT  REFS\nblocked  addr  2      0\nweb      port  2      1\ndns      port  3      0\n"; got.Stdout != want {
		t.Errorf("set list = %q, want %q", got.Stdout, want)
	}
	h.stdin = ""
	if got := h.run("set", "load", "dns", "-f", "-"); got.Code != 0 || !strings.Contains(h.save(), "set dns port\n") {
		t.Errorf("loading an empty list = %+v:\n%s", got, h.save())
	}
}

func TestChainList(t *testing.T) {
	h := rulesHarness(t, exampleRuleset)
	got := h.run("chain", "list", "filter")
	want := `TABLE   CHAIN    HOOK       POLICY  RULES
filter  input    LOCAL_IN   drop    5
filter  forward  FORWARD    accept  0
filter  output   LOCAL_OUT  accept  0
filter  tcp_in   -          -       0
filter  web_in   -          -       1
`
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("chain list filter (-want +got):\n%s", diff)
	}
	got = h.run("chain", "list", "raw", "-o", "json")
	want = `{"chains":[{"table":"raw","name":"prerouting","hook":"PRE_ROUTING","policy":"accept","rules":0},{"table":"raw","name":"output","hook":"LOCAL_OUT","policy":"accept","rules":0}]}` + "\n"
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("chain list raw -o json (-want +got):\n%s", diff)
	}
	got = h.run("rule", "list", "filter", "web_in")
	want = "TABLE   CHAIN   HANDLE  RULE\nfilter  web_in  6       ip saddr 10.0.0.0/8 accept\n"
	if diff := cmp.Diff(result{0, want, ""}, got); diff != "" {
		t.Errorf("rule list filter web_in (-want +got):\n%s", diff)
	}
}

// TestRulesWithoutModule checks the rule commands' errors when the module
// is not loaded or refuses for lack of permission.
func TestRulesWithoutModule(t *testing.T) {
	for _, args := range [][]string{{"rule", "list"}, {"rules", "save"}, {"set", "list"}, {"chain", "list"}} {
		h := rulesHarness(t, "")
		h.m.Unload()
		want := "nflab: kernel module is not loaded; " + testHint() + "\n"
		if diff := cmp.Diff(result{1, "", want}, h.run(args...)); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", args, diff)
		}
	}
	h := rulesHarness(t, "")
	h.m.Fail(nlproto.CMD_RULES_BEGIN, unix.EBUSY, "")
	for _, args := range [][]string{{"rule", "add", "filter", "input", "accept"}, {"rules", "flush"}, {"set", "load", "s", "--type", "addr", "-f", "-"}} {
		got := h.run(args...)
		want := "nflab: begin transaction: device or resource busy; another program is changing the ruleset; try again when it is done\n"
		if diff := cmp.Diff(result{1, "", want}, got); diff != "" {
			t.Errorf("nflab %q with another transaction open (-want +got):\n%s", args, diff)
		}
	}
}

// TestSaveJSONWithoutText checks that "rules save -o json" does not need
// the text format: a rule it cannot write is still in the JSON.
func TestSaveJSONWithoutText(t *testing.T) {
	h := rulesHarness(t, "")
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs := nftypes.Ruleset{Rules: []nftypes.Rule{{Table: nftypes.TableFilter, Chain: "input",
		Matches: []nftypes.Match{{Kind: nftypes.MatchTCPFlags, TCPMask: nftypes.TCPSyn}},
		Action:  nftypes.Action{Type: nftypes.ActionDrop}}}}
	if _, err := c.ApplyRuleset(context.Background(), rs, nil); err != nil {
		t.Fatal(err)
	}
	got := h.run("rules", "save", "-o", "json")
	var js struct{ Rules []struct{ Action string } }
	if err := json.Unmarshal([]byte(got.Stdout), &js); got.Code != 0 || err != nil || len(js.Rules) != 1 {
		t.Errorf("rules save -o json = %+v (%v)", got, err)
	}
}

// TestRuleDashWords checks what the help says of rule words starting
// with "-": after "--", they are the rule's.
func TestRuleDashWords(t *testing.T) {
	h := rulesHarness(t, "")
	for _, args := range [][]string{
		{"rule", "add", "filter", "input", "--", "log", "prefix", "-a-"},
		{"rule", "insert", "filter", "input", "--", "log", "prefix", "-b-"},
		{"rule", "replace", "--", "1", "log", "prefix", "-c-"},
	} {
		if got := h.run(args...); got.Code != 0 {
			t.Errorf("nflab %q = %+v", args, got)
		}
	}
	want := "# nflab ruleset\n\nrule filter input log prefix \"-b-\"\nrule filter input log prefix \"-c-\"\n"
	if got := h.save(); got != want {
		t.Errorf("save (-want +got):\n%s", cmp.Diff(want, got))
	}
}

// TestSetAddModuleError checks the message of a set change the module
// refuses: the module's error, without a batch's "[sets[0] NAME]".
func TestSetAddModuleError(t *testing.T) {
	var text strings.Builder
	text.WriteString("# nflab ruleset\n\n")
	for i := range nlproto.SETS_MAX {
		fmt.Fprintf(&text, "set s%d port { %d }\n", i, i+1)
	}
	h := rulesHarness(t, text.String())
	got := h.run("set", "add", "one_more", "port", "80")
	want := "nflab: add set: no space left on device: too many sets\n"
	if got.Code != 1 || got.Stderr != want {
		t.Errorf("set add past the limit = %+v, want %q", got, want)
	}
}
