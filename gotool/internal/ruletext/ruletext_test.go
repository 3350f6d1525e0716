package ruletext

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func parseString(t *testing.T, s string) nftypes.Ruleset {
	t.Helper()
	rs, err := Parse(strings.NewReader(s), "test.nft")
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return rs
}

func format(t *testing.T, rs nftypes.Ruleset) string {
	t.Helper()
	var b bytes.Buffer
	if err := Format(&b, rs); err != nil {
		t.Fatalf("Format: %v", err)
	}
	return b.String()
}

// TestRoundTrip parses a file with every match, every action and sets,
// formats it, parses that again and checks both rulesets are the same,
// and that formatting is a fixed point.
func TestRoundTrip(t *testing.T) {
	src, err := os.ReadFile("testdata/all.nft")
	if err != nil {
		t.Fatal(err)
	}
	rs := parseString(t, string(src))
	kinds := map[nftypes.MatchKind]bool{}
	actions := map[nftypes.ActionType]bool{}
	for _, r := range rs.Rules {
		if err := r.Validate(); err != nil {
			t.Errorf("rule %+v: %v", r, err)
		}
		for _, m := range r.Matches {
			kinds[m.Kind] = true
		}
		actions[r.Action.Type] = true
	}
	for _, k := range nftypes.MatchKinds() {
		if !kinds[k] {
			t.Errorf("testdata/all.nft has no %s match", k)
		}
	}
	for a := nftypes.ActionAccept; a <= nftypes.ActionRedirect; a++ {
		if !actions[a] {
			t.Errorf("testdata/all.nft has no %s action", a)
		}
	}
	if err := rs.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	text := format(t, rs)
	rs2 := parseString(t, text)
	if diff := cmp.Diff(rs, rs2, cmpOpts); diff != "" {
		t.Errorf("Parse(Format(rs)) differs (-rs +again):\n%s\ntext:\n%s", diff, text)
	}
	if text2 := format(t, rs2); text2 != text {
		t.Errorf("Format is not a fixed point:\n%s\nthen\n%s", text, text2)
	}
}

func TestParseExample(t *testing.T) {
	rs := parseString(t, `# nflab ruleset
set blocked addr { 10.0.0.0/8, 192.0.2.1, 198.51.100.1-198.51.100.9 }
chain filter input policy drop
chain filter tcp_in
rule filter input tcp dport 22 ct state new limit 5/minute burst 10 accept comment "ssh"
rule filter forward ip saddr @blocked drop
`)
	two := uint32(0)
	_ = two
	want := nftypes.Ruleset{
		Chains: nftypes.BuiltinChains(),
		Sets: []nftypes.Set{{Name: "blocked", Type: nftypes.SetTypeAddr, Addrs: []nftypes.AddrRange{
			nftypes.AddrRangeFrom(netip.MustParsePrefix("10.0.0.0/8")),
			nftypes.Addr(netip.MustParseAddr("192.0.2.1")),
			{First: netip.MustParseAddr("198.51.100.1"), Last: netip.MustParseAddr("198.51.100.9")},
		}}},
		Rules: []nftypes.Rule{
			{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{
				{Kind: nftypes.MatchProto, Proto: nftypes.TCP},
				{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{nftypes.Port(22)}},
				{Kind: nftypes.MatchCTState, CTState: nftypes.CTStateNew},
				{Kind: nftypes.MatchLimit, Rate: 5, Period: time.Minute, Burst: 10},
			}, Action: nftypes.Action{Type: nftypes.ActionAccept}, Comment: "ssh"},
			{Table: nftypes.TableFilter, Chain: "forward", Matches: []nftypes.Match{
				{Kind: nftypes.MatchSet, SetName: "blocked", SetField: nftypes.SetFieldSAddr},
			}, Action: nftypes.Action{Type: nftypes.ActionDrop}},
		},
	}
	for i, c := range want.Chains {
		if c.Table == nftypes.TableFilter && c.Name == "input" {
			want.Chains[i].Policy = nftypes.VerdictDrop
		}
	}
	want.Chains = append(want.Chains, nftypes.Chain{Table: nftypes.TableFilter, Name: "tcp_in"})
	if diff := cmp.Diff(want, rs, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestErrors checks that errors name the file, line and column of the
// word at fault, and say what to write.
func TestErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"rule filter input ip sadr 1.2.3.4 accept", `t.nft:1:22: unknown ip match "sadr" (did you mean "saddr"?)`},
		{"rule filter input sadr 1.2.3.4 accept", `t.nft:1:19: unknown match or action "sadr" (did you mean "saddr"?)`},
		{"\n\nrule filter input tcp dport 22 acept", `t.nft:3:32: unknown match or action "acept" (did you mean "accept"?)`},
		{"rule filter input tcp dport 22", `t.nft:1:31: missing action at the end of the rule: accept, drop, reject, log, counter, jump CHAIN, ...`},
		{"rule filtr input accept", `t.nft:1:6: unknown table "filtr" (did you mean "filter"?)`},
		{"rule filter input counter accept", `t.nft:1:27: a rule has one action; every rule counts its packets (see 'nflab rule list -v'), so "counter" is an action of its own`},
		{"rule filter input ip saddr 10.0.0.1/8 drop", `t.nft:1:28: saddr "10.0.0.1/8": bits set past the prefix length (did you mean 10.0.0.0/8?)`},
		{"rule filter input tcp dport 70000 drop", `t.nft:1:29: "70000": want a port (0-65535) or a range such as 1024-65535`},
		{"rule filter input tcp dport 90-80 drop", `t.nft:1:29: port range 90-80 is backwards`},
		{"rule filter input ct state new,establshed drop", `t.nft:1:32: unknown ct state "establshed" (did you mean "established"?)`},
		{"rule filter input jump nowhere", `t.nft:1:24: unknown chain "nowhere"; declare it with: chain filter nowhere`},
		{"chain filter tcp_in\nrule filter input jump tcp_inn", `t.nft:2:24: unknown chain "tcp_inn" (did you mean "tcp_in"?)`},
		{"rule filter nochain accept", `t.nft:1:13: unknown chain "nochain"; declare it with: chain filter nochain`},
		{"rule filter input ip saddr @nope drop", `t.nft:1:28: unknown set "nope"; declare it with: set nope addr { ... }`},
		{"set web port { 80 }\nrule filter input ip saddr @web drop", `t.nft:2:28: set web holds port elements (line 1), but saddr looks up an address`},
		{"rule filter input mark set 1 accept", `t.nft:1:30: a rule has one action`},
		{"rule filter input mark set 1", `t.nft:1:19: mark is allowed in table mangle only`},
		{"rule raw prerouting ct state new drop", `t.nft:1:21: match 1: ct-state is not allowed in table raw (before tracking)`},
		{"rule filter input ! connlimit above 2 drop", `t.nft:1:21: connlimit cannot be negated: "above N" and "upto N" are each other's opposite`},
		{"rule filter input iif ! lo drop", `t.nft:1:23: write "iif != NAME" to negate`},
		{"rule filter input ! iif != lo drop", `t.nft:1:25: negated twice: "!" before "iif" and "!=" after it`},
		{"rule filter input string \"abc drop", `t.nft:1:26: unterminated string: a quoted string ends with " on the same line`},
		{"rule filter input time 25:00-26:00 drop", `t.nft:1:24: time of day "25:00-26:00": want HH:MM-HH:MM, such as 08:00-18:00 (a window past midnight wraps)`},
		{"rule filter input limit 5/week drop", `t.nft:1:25: rate "5/week": want N/second, N/minute, N/hour or N/day, N at least 1`},
		{"rule filter input tcp flags syn / ack drop", `t.nft:1:35: flags syn are not within the mask ack: they could never match`},
		{"rule filter input tcp flags 0 drop", `t.nft:1:29: tcp flags 0 needs a mask: the flags that must be clear, such as "tcp flags 0 / syn"`},
		{"chain filter input policy reject", `t.nft:1:27: unknown policy "reject"; want "accept" or "drop"`},
		{"chain filter tcp_in policy drop", `t.nft:1:21: user chain tcp_in has no policy: only built-in chains do; end it with a rule (rule filter tcp_in drop)`},
		{"chain raw input", `t.nft:1:11: table raw has no input chain (it sits at "prerouting" or "output"); a user chain cannot take a built-in name`},
		{"chain filter a\nchain filter a", `t.nft:2:14: chain filter a declared twice (first at line 1)`},
		{"set s addr { 10.0.0.1,\n 10.0.0.2\n 10.0.0.3 }", `t.nft:3:2: missing "," before "10.0.0.3": elements are separated by commas`},
		{"set s addr { 10.0.0.1,\n 10.0.0.300 }", `t.nft:2:2: "10.0.0.300": want an IPv4 address, prefix or range, such as 192.0.2.1, 10.0.0.0/8 or 10.0.0.1-10.0.0.9`},
		{"set s addr { 10.0.0.1,\n", `t.nft:1:12: unclosed "{": the set's elements end with "}"`},
		{"set s addr\nset s port", `t.nft:2:5: set s declared twice (first at line 1)`},
		{"sett s addr", `t.nft:1:1: unknown statement "sett" (did you mean "set"?)`},
		{"rule filter input tcp dport { 1, 2 drop", `t.nft:1:29: unclosed "{": a brace group ends with "}" (it may span lines)`},
		{"rule filter input tcp dport { 1, 2 drop }", `t.nft:1:36: unknown "," or "}" "drop"; want "}"`},
		{"rule filter input ip saddr { 1.2.3.4 } drop", `t.nft:1:28: a list of addresses needs a named set: set NAME addr { ... }, then ip saddr @NAME`},
		{"}", `t.nft:1:1: "}" without "{"`},
		{"rule filter output tcp dport 1 iif eth0 drop", `t.nft:1:32: iif is not known at output: packets there have no input interface`},
		{"rule filter input jump input", `t.nft:1:24: jump to the built-in chain input: jump and goto reach user chains only`},
		{"chain filter a\nrule filter a jump a", `t.nft:2:20: chain a jumps to itself`},
		{"rule filter input string \"x\" from 40 to 0 drop", `t.nft:1:41: string: to 0 is not supported: the search must end past offset 0 (to 1 or more; without to, it runs to 65535)`},
		// The module's own checks, at the match or action at fault.
		{"rule filter input tcp dport 1 connlimit above 65536 drop", `t.nft:1:31: match 3: connlimit: count 65536 is above 65535`},
		{"rule filter input tcp dport 1 limit 10/minute burst 1000001 accept", `t.nft:1:31: match 3: limit: burst 1000001 is above 1000000`},
		{"rule filter input limit 1000000001/second accept", `t.nft:1:19: match 1: limit: rate 1000000001/second is too high: at most one packet per nanosecond`},
		{"rule filter input limit 1/day burst 213505 accept", `t.nft:1:19: match 1: limit: burst 213505 is too large for the rate 1/day`},
		{"rule filter input tcp dport 1 log prefix \"caf\u00e9\"", `t.nft:1:31: log prefix "café": byte 0xc3 is not printable ASCII`},
		{"rule filter input log prefix \"a\tb\"", `t.nft:1:19: log prefix "a\tb": byte 0x09 is not printable ASCII`},
		{"rule raw prerouting iif lo connlimit above 2 drop", `t.nft:1:28: match 2: connlimit is not allowed in table raw (before tracking)`},
		{"rule mangle input iif lo mark set 0x11/0xf0", `t.nft:1:26: mark 0x11 has bits outside its mask 0xf0`},
		// NAT.
		{"rule nat prerouting snat to 10.0.0.1", `t.nft:1:21: snat cannot act at prerouting: it acts in "input" or "postrouting"`},
		{"rule nat input masquerade", `t.nft:1:16: masquerade cannot act at input: it acts in "postrouting"`},
		{"rule nat postrouting redirect", `t.nft:1:22: redirect cannot act at postrouting: it acts in "prerouting" or "output"`},
		{"rule nat postrouting snat", `t.nft:1:26: missing "to" at the end of the line`},
		{"rule nat postrouting snat 10.0.0.1", `t.nft:1:27: unknown "to" "10.0.0.1"; want "to"`},
		{"rule nat postrouting snat to", `t.nft:1:29: missing an address, a range or a port, such as 192.0.2.1, 192.0.2.1-192.0.2.9, 192.0.2.1:1024-65535 or :8080 at the end of the line`},
		{"rule nat postrouting tcp dport 1 snat to :1000", `t.nft:1:42: snat needs an address: snat to ADDR[-ADDR][:PORT[-PORT]]`},
		{"rule nat postrouting masquerade to 10.0.0.1", `t.nft:1:36: masquerade takes no address, only ports: masquerade to :PORT[-PORT]`},
		{"rule nat prerouting dnat to 10.0.0.9-10.0.0.1", `t.nft:1:29: dnat to "10.0.0.9-10.0.0.1": the address range is backwards`},
		{"rule nat prerouting dnat to 10.0.0.300", `t.nft:1:29: dnat to "10.0.0.300": want an IPv4 address or a range such as 192.0.2.1-192.0.2.9, then optionally :PORT or :FIRST-LAST`},
		{"rule nat prerouting dnat to 2001:db8::1", `t.nft:1:29: dnat to "2001:db8::1": want an IPv4 address or a range such as 192.0.2.1-192.0.2.9, then optionally :PORT or :FIRST-LAST`},
		{"rule nat prerouting tcp dport 1 dnat to 10.0.0.1:0", `t.nft:1:41: dnat to "10.0.0.1:0": ports are 1 to 65535`},
		{"rule nat prerouting tcp dport 1 dnat to 10.0.0.1:90-80", `t.nft:1:41: dnat to "10.0.0.1:90-80": the port range is backwards`},
		{"rule nat prerouting tcp dport 1 dnat to :http", `t.nft:1:41: dnat to ":http": want a port (1-65535) or a range such as 1024-65535 after ":"`},
		{"rule nat prerouting dnat to :8080", `t.nft:1:21: dnat: a port range needs the rule to match protocol tcp or udp (such as tcp dport 80)`},
		{"rule nat prerouting ip protocol != tcp dnat to :8080", `t.nft:1:40: dnat: a port range needs the rule to match protocol tcp or udp (such as tcp dport 80)`},
		{"rule nat postrouting masquerade random random", `t.nft:1:40: random given twice`},
		{"rule nat postrouting masquerade rndom", `t.nft:1:33: unknown NAT flag "rndom" (did you mean "random"?)`},
		{"rule nat postrouting masquerade bogus", `t.nft:1:33: unknown match or action "bogus"`},
		{"rule nat postrouting masquerade tcp dport 1", `t.nft:1:33: match "tcp" after the action: the action comes last (before the comment)`},
		{"rule filter input snat to 10.0.0.1", `t.nft:1:19: snat is allowed in table nat only`},
		{"rule nat input reject", `t.nft:1:16: reject is allowed in table filter only`},
		{"rule nat output notrack", `t.nft:1:17: notrack is allowed in table raw only`},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.src), "t.nft")
		if err == nil {
			t.Errorf("Parse(%q) = nil error, want %s", tt.src, tt.want)
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q) = %T %v, want an *Error", tt.src, err, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tt.src, err, tt.want)
		}
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse(strings.NewReader("\n# x\nrule filter input ip sadr 1.2.3.4 accept\n"), "rules.nft")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v", err)
	}
	if want := (Error{File: "rules.nft", Line: 3, Col: 22, Word: "sadr", Msg: `unknown ip match "sadr" (did you mean "saddr"?)`}); *e != want {
		t.Errorf("got %+v, want %+v", *e, want)
	}
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule([]string{"tcp", "dport", "22,80", "ct", "state", "established,related", "accept", "comment", "my ssh rule"})
	if err != nil {
		t.Fatal(err)
	}
	want := nftypes.Rule{Matches: []nftypes.Match{
		{Kind: nftypes.MatchProto, Proto: nftypes.TCP},
		{Kind: nftypes.MatchDPort, Ports: []nftypes.PortRange{nftypes.Port(22), nftypes.Port(80)}},
		{Kind: nftypes.MatchCTState, CTState: nftypes.CTStateEstablished | nftypes.CTStateRelated},
	}, Action: nftypes.Action{Type: nftypes.ActionAccept}, Comment: "my ssh rule"}
	if diff := cmp.Diff(want, r, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// One word with the whole rule works too, as do braces over words.
	r2, err := ParseRule([]string{"tcp dport { 22,", "80 }", "ct state established, related", "accept", "comment", "my ssh rule"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, r2, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		words []string
		want  string
	}{
		{[]string{"ip", "sadr", "1.2.3.4", "accept"}, `word 2: unknown ip match "sadr" (did you mean "saddr"?)`},
		{[]string{"tcp", "dport", "22"}, `word 4: missing action at the end of the rule: accept, drop, reject, log, counter, jump CHAIN, ...`},
		{nil, `word 1: missing the rule: matches, then an action such as accept`},
		{[]string{"accept", "comment"}, `word 3: missing the comment, in quotes at the end of the line`},
	} {
		_, err := ParseRule(tt.words)
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseRule(%q) = %v, want %s", tt.words, err, tt.want)
		}
	}
}

func TestFormatRule(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"tcp dport 22 accept", "tcp dport 22 accept"},
		{"ip protocol tcp th dport 22 accept", "tcp dport 22 accept"},
		{"th dport 22 accept", "th dport 22 accept"},
		{"ip protocol tcp accept", "ip protocol tcp accept"},
		{"ip protocol tcp tcp dport 1 th sport 2 accept", "ip protocol tcp tcp dport 1 th sport 2 accept"},
		{"tcp flags syn/syn,ack drop", "tcp flags syn / syn,ack drop"},
		{"tcp flags syn , ack drop", "tcp flags syn,ack drop"},
		{"tcp flags 0 / syn drop", "tcp flags 0 / syn drop"},
		{"tcp flags none/syn,rst drop", "tcp flags 0 / syn,rst drop"},
		{"tcp flags != 0 / syn drop", "tcp flags != 0 / syn drop"},
		{"mark 0x1/0xffffffff accept", "mark 0x1 accept"},
		{"quota 1024 bytes accept", "quota 1 kbytes accept"},
		{"quota until 3000 accept", "quota 3000 bytes accept"},
		{"limit rate 3/second burst 4 packets accept", "limit 3/second burst 4 accept"},
		{"time 08:00-09:00 utc accept", "time 08:00-09:00 accept"},
		{"time 8:00-17:30:05 accept", "time 08:00-17:30:05 accept"},
		{"reject with icmp type port-unreach", "reject with icmp port-unreachable"},
		{"iif \"accept\" drop", "iif \"accept\" drop"},
		{"icmp type 8 accept", "icmp type echo-request accept"},
		{"ct status 0x40 accept", "ct status 0x40 accept"},
		{"snat to 10.0.0.1", "snat to 10.0.0.1"},
		{"snat to 10.0.0.1-10.0.0.1", "snat to 10.0.0.1"},
		{"snat to 10.0.0.1-10.0.0.9", "snat to 10.0.0.1-10.0.0.9"},
		{"snat to 10.0.0.1:1000-2000", "snat to 10.0.0.1:1000-2000"},
		{"snat to 10.0.0.1-10.0.0.9:1000-2000", "snat to 10.0.0.1-10.0.0.9:1000-2000"},
		{"snat to 10.0.0.1:80-80", "snat to 10.0.0.1:80"},
		{"dnat to 10.0.2.2:8080", "dnat to 10.0.2.2:8080"},
		{"dnat to :8080", "dnat to :8080"},
		{"dnat to 10.0.2.2-10.0.2.5", "dnat to 10.0.2.2-10.0.2.5"},
		{"masquerade", "masquerade"},
		{"masquerade to :1024-2047", "masquerade to :1024-2047"},
		{"redirect", "redirect"},
		{"redirect to :8080", "redirect to :8080"},
		{"masquerade persistent fully-random random comment x", `masquerade random fully-random persistent comment "x"`},
		{"redirect to :1-2 fully-random", "redirect to :1-2 fully-random"},
		{"dnat to 10.0.2.2 persistent", "dnat to 10.0.2.2 persistent"},
		{"ct status 0x10,dst_nat accept", "ct status src-nat,dst-nat accept"},
	} {
		r, err := ParseRule([]string{tt.in})
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.in, err)
			continue
		}
		got, err := FormatRule(r)
		if err != nil || got != tt.want {
			t.Errorf("FormatRule(ParseRule(%q)) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatUnwritable(t *testing.T) {
	for _, r := range []nftypes.Rule{
		{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: 99}},
		{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: 99}}, Action: nftypes.Action{Type: nftypes.ActionAccept}},
		{Table: 9, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionAccept}},
		{Table: nftypes.TableNAT, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionSNAT}},
		{Table: nftypes.TableNAT, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionSNAT, Addr: netip.MustParseAddr("2001:db8::1")}},
		{Table: nftypes.TableNAT, Chain: "output", Action: nftypes.Action{Type: nftypes.ActionDNAT}},
		{Table: nftypes.TableNAT, Chain: "output", Action: nftypes.Action{Type: nftypes.ActionDNAT, AddrEnd: netip.MustParseAddr("10.0.0.1"), Ports: &nftypes.PortRange{First: 1, Last: 1}}},
		{Table: nftypes.TableNAT, Chain: "output", Action: nftypes.Action{Type: nftypes.ActionRedirect, Addr: netip.MustParseAddr("10.0.0.1")}},
		{Table: nftypes.TableNAT, Chain: "postrouting", Action: nftypes.Action{Type: nftypes.ActionMasquerade, NATFlags: nftypes.NATRandom | 0x100}},
	} {
		if err := Format(&bytes.Buffer{}, nftypes.Ruleset{Rules: []nftypes.Rule{r}}); err == nil {
			t.Errorf("Format(%+v) = nil error", r)
		}
	}
}

func TestReadElems(t *testing.T) {
	s, err := ReadElems(strings.NewReader("# geoip\n10.0.0.0/8\n\n  192.0.2.1  # one\n198.51.100.1-198.51.100.9\r\n"), "list.txt", nftypes.SetTypeAddr)
	if err != nil {
		t.Fatal(err)
	}
	want := []nftypes.AddrRange{
		nftypes.AddrRangeFrom(netip.MustParsePrefix("10.0.0.0/8")),
		nftypes.Addr(netip.MustParseAddr("192.0.2.1")),
		{First: netip.MustParseAddr("198.51.100.1"), Last: netip.MustParseAddr("198.51.100.9")},
	}
	if diff := cmp.Diff(want, s.Addrs, cmpOpts); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_, err = ReadElems(strings.NewReader("10.0.0.0/8\n  10.0.0.256\n"), "list.txt", nftypes.SetTypeAddr)
	if want := `list.txt:2:3: "10.0.0.256": want an IPv4 address, prefix or range, such as 192.0.2.1, 10.0.0.0/8 or 10.0.0.1-10.0.0.9`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	p, err := ParseElems(nftypes.SetTypePort, []string{"80,443", "8000-8100"})
	if err != nil || len(p.Ports) != 3 {
		t.Errorf("ParseElems = %+v, %v", p, err)
	}
}

// bigList is n lines of CIDR prefixes, addresses and ranges.
func bigList(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		a, c := byte(i>>16), byte(i>>8)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%d.%d.%d.0/24\n", 1+a%200, c, byte(i))
		case 1:
			fmt.Fprintf(&b, "%d.%d.%d.7\n", 1+a%200, c, byte(i))
		default:
			fmt.Fprintf(&b, "%d.%d.%d.1-%d.%d.%d.9 # range\n", 1+a%200, c, byte(i), 1+a%200, c, byte(i))
		}
	}
	return b.Bytes()
}

func TestReadElemsMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	data := bigList(1_000_000)
	start := time.Now()
	s, err := ReadElems(bytes.NewReader(data), "big.txt", nftypes.SetTypeAddr)
	if err != nil || len(s.Addrs) != 1_000_000 {
		t.Fatalf("ReadElems: %d elements, %v", len(s.Addrs), err)
	}
	t.Logf("1,000,000 lines in %v", time.Since(start))
}

func BenchmarkReadElems(b *testing.B) {
	data := bigList(1_000_000)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ReadElems(bytes.NewReader(data), "big.txt", nftypes.SetTypeAddr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBigSet parses a saved ruleset with a million-element set.
func BenchmarkParseBigSet(b *testing.B) {
	s, err := ReadElems(bytes.NewReader(bigList(1_000_000)), "big.txt", nftypes.SetTypeAddr)
	if err != nil {
		b.Fatal(err)
	}
	s.Name = "geo"
	var text bytes.Buffer
	if err := Format(&text, nftypes.Ruleset{Sets: []nftypes.Set{s}}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(text.Len()))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(text.Bytes()), "big.nft"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckRule checks the single-rule path's checks, which the file's
// parser also makes, and that CheckRule leaves the rule alone.
func TestCheckRule(t *testing.T) {
	for _, tt := range []struct {
		tb    nftypes.Table
		chain string
		words []string
		want  string
	}{
		{nftypes.TableFilter, "output", []string{"tcp", "dport", "1", "iif", "eth0", "drop"}, `word 4: iif is not known at output: packets there have no input interface`},
		{nftypes.TableMangle, "postrouting", []string{"iif eth0 accept"}, `word 1: iif is not known at postrouting: packets there have no input interface`},
		{nftypes.TableFilter, "input", []string{"oif", "eth0", "drop"}, `word 1: oif is not known at input: packets there have no output interface`},
		{nftypes.TableRaw, "prerouting", []string{"oif eth0 drop"}, `word 1: oif is not known at prerouting: packets there have no output interface`},
		{nftypes.TableFilter, "input", []string{"connlimit", "above", "65536", "drop"}, `word 1: match 1: connlimit: count 65536 is above 65535`},
		{nftypes.TableFilter, "input", []string{"iif lo", "log", "prefix", "tab\there"}, `word 2: log prefix "tab\there": byte 0x09 is not printable ASCII`},
		{nftypes.TableRaw, "output", []string{"connlimit above 2 drop"}, `word 1: match 1: connlimit is not allowed in table raw (before tracking)`},
		{nftypes.TableFilter, "input", []string{"iif", "lo", "accept"}, ""},
		{nftypes.TableFilter, "web", []string{"oif", "lo", "accept"}, ""}, // checked at commit, through the jumps
		{nftypes.TableNAT, "postrouting", []string{"tcp", "dport", "80", "dnat", "to", "10.0.2.2:8080"}, `word 4: dnat cannot act at postrouting: it acts in "prerouting" or "output"`},
		{nftypes.TableNAT, "prerouting", []string{"tcp dport 80 dnat to 10.0.2.2:8080"}, ""},
		{nftypes.TableNAT, "pre", []string{"masquerade"}, ""}, // checked at commit, through the jumps
		{nftypes.TableNAT, "input", []string{"masquerade"}, `word 1: masquerade cannot act at input: it acts in "postrouting"`},
		{nftypes.TableNAT, "postrouting", []string{"masquerade"}, ""},
		{nftypes.TableNAT, "output", []string{"redirect to :8080"}, `word 1: redirect: a port range needs the rule to match protocol tcp or udp (such as tcp dport 80)`},
	} {
		r, err := ParseRule(tt.words)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.words, err)
			continue
		}
		before := fmt.Sprintf("%+v", r)
		err = CheckRule(tt.tb, tt.chain, r, tt.words)
		if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
			t.Errorf("CheckRule(%s, %s, %q) = %v, want %q", tt.tb, tt.chain, tt.words, err, tt.want)
		}
		if after := fmt.Sprintf("%+v", r); after != before {
			t.Errorf("CheckRule changed the rule: %s, then %s", before, after)
		}
	}
}
