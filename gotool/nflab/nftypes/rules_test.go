package nftypes

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRuleEnumNames(t *testing.T) {
	for _, tt := range []struct {
		v    interface{ String() string }
		want string
	}{
		{TableFilter, "filter"},
		{TableRaw, "raw"},
		{VerdictDrop, "drop"},
		{MatchTCPFlags, "tcp-flags"},
		{MatchCTState, "ct-state"},
		{MatchIIF, "iif"},
		{ActionNotrack, "notrack"},
		{RejectTCPReset, "tcp-reset"},
		{RejectAdminProhibited, "admin-prohibited"},
		{TTLDec, "dec"},
		{AlgoKMP, "kmp"},
		{SetTypePort, "port"},
		{SetFieldDAddr, "daddr"},
		{MatchKind(99), "MatchKind(99)"},
		{CTStateEstablished | CTStateRelated, "established,related"},
		{Saturday | Sunday, "sat,sun"},
		{TCPSyn | TCPAck, "syn,ack"},
		{CTState(0), "none"},
		{CTState(0x40), "0x40"},
		{TableNAT, "nat"},
		{ActionSNAT, "snat"},
		{ActionDNAT, "dnat"},
		{ActionMasquerade, "masquerade"},
		{ActionRedirect, "redirect"},
		{NATRandom | NATFullyRandom | NATPersistent, "random,fully-random,persistent"},
		{NATPersistent | 0x10, "persistent,0x10"},
		{NATFlags(0), "none"},
	} {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("%T(%v).String() = %q, want %q", tt.v, tt.v, got, tt.want)
		}
	}
	var k MatchKind
	if err := k.UnmarshalText([]byte("TCP_FLAGS")); err != nil || k != MatchTCPFlags {
		t.Errorf("UnmarshalText(TCP_FLAGS) = %v, %v", k, err)
	}
	var f NATFlags
	if err := f.UnmarshalText([]byte("Fully_Random,persistent")); err != nil || f != NATFullyRandom|NATPersistent {
		t.Errorf("NATFlags.UnmarshalText = %v, %v", f, err)
	}
	if err := f.UnmarshalText([]byte("random,sticky")); err == nil || !strings.Contains(err.Error(), "want one of random, fully-random, persistent") {
		t.Errorf("NATFlags.UnmarshalText(random,sticky) = %v", err)
	}
	var tb Table
	if err := tb.UnmarshalText([]byte("NAT")); err != nil || tb != TableNAT {
		t.Errorf("UnmarshalText(NAT) = %v, %v", tb, err)
	}
	err := tb.UnmarshalText([]byte("broute"))
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "(want one of raw, mangle, filter, nat)") {
		t.Errorf("UnmarshalText(broute) = %v, want a ValidationError listing the tables", err)
	}
	var w Weekdays
	if err := w.UnmarshalText([]byte("Mon,fri")); err != nil || w != Monday|Friday {
		t.Errorf("Weekdays.UnmarshalText = %v, %v", w, err)
	}
	if len(MatchKinds()) != 22 {
		t.Errorf("MatchKinds() has %d kinds", len(MatchKinds()))
	}
}

func TestRulesetJSON(t *testing.T) {
	fwd := Forward
	rs := Ruleset{
		Gen: 7,
		Chains: []Chain{
			{Table: TableFilter, Name: "forward", Hook: &fwd, Policy: VerdictDrop, Rules: 1},
			{Table: TableFilter, Name: "web"},
		},
		Rules: []Rule{{
			Handle: 3, Table: TableFilter, Chain: "forward",
			Matches: []Match{
				{Kind: MatchSAddr, Prefix: netip.MustParsePrefix("10.0.0.0/8")},
				{Kind: MatchDPort, Invert: true, Ports: []PortRange{Port(80), {1024, 2047}}},
				{Kind: MatchCTState, CTState: CTStateNew},
				{Kind: MatchTime, TODStart: ptr(8 * time.Hour), TODStop: ptr(17 * time.Hour), Weekdays: Monday | Friday},
				{Kind: MatchICMP, ICMPType: 8, ICMPCode: ptr[uint8](0)},
			},
			Action:  Action{Type: ActionJump, Chain: "web"},
			Comment: "to web",
		}, {
			Handle: 4, Table: TableNAT, Chain: "postrouting",
			Matches: []Match{{Kind: MatchProto, Proto: UDP}},
			Action: Action{Type: ActionSNAT, Addr: netip.MustParseAddr("192.0.2.1"), AddrEnd: netip.MustParseAddr("192.0.2.9"),
				Ports: &PortRange{1024, 2047}, NATFlags: NATRandom | NATPersistent},
		}, {
			Handle: 5, Table: TableNAT, Chain: "postrouting",
			Action: Action{Type: ActionMasquerade},
		}},
		Sets: []Set{
			{Name: "bad", Type: SetTypeAddr, Addrs: []AddrRange{AddrRangeFrom(netip.MustParsePrefix("192.0.2.0/24")), Addr(netip.MustParseAddr("198.51.100.7"))}, Count: 2},
			{Name: "ports", Type: SetTypePort, Ports: []PortRange{{1, 1023}}, Count: 1, Refs: 1},
		},
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"Hook":"FORWARD","Policy":"drop"`,
		`{"Table":"filter","Name":"web","Rules":0}`,
		`{"Kind":"saddr","Prefix":"10.0.0.0/8"}`,
		`{"Kind":"dport","Invert":true,"Ports":["80","1024-2047"]}`,
		`{"Kind":"ct-state","CTState":"new"}`,
		`"Weekdays":"mon,fri"`,
		`{"Kind":"icmp","ICMPType":8,"ICMPCode":0}`,
		`"Action":{"Type":"jump","Chain":"web"}`,
		`"Action":{"Type":"snat","Addr":"192.0.2.1","AddrEnd":"192.0.2.9","Ports":"1024-2047","NATFlags":"random,persistent"}`,
		`"Action":{"Type":"masquerade"}`,
		`"Addrs":["192.0.2.0/24","198.51.100.7"]`,
		`"Ports":["1-1023"]`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b)
		}
	}
	var back Ruleset
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	if err := rs.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestMatchValidate(t *testing.T) {
	for _, tt := range []struct {
		m    Match
		want string // "" for valid
	}{
		{Match{Kind: MatchIIF, Iface: "eth+"}, ""},
		{Match{Kind: MatchIIF}, "interface name"},
		{Match{Kind: MatchIIF, Iface: "averyveryverylongname"}, "interface name"},
		{Match{Kind: MatchSAddr, Prefix: netip.MustParsePrefix("10.1.0.0/8")}, "bits set past"},
		{Match{Kind: MatchSAddr, Prefix: netip.MustParsePrefix("::/0")}, "not an IPv4"},
		{Match{Kind: MatchSAddr, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Iface: "x"}, "does not use Iface"},
		{Match{Kind: MatchSRange, AddrStart: netip.MustParseAddr("10.0.0.9"), AddrEnd: netip.MustParseAddr("10.0.0.1")}, "backwards"},
		{Match{Kind: MatchProto}, "needs a protocol"},
		{Match{Kind: MatchDPort}, "1 to 32 port ranges"},
		{Match{Kind: MatchDPort, Ports: []PortRange{{9, 1}}}, "backwards"},
		{Match{Kind: MatchTCPFlags, TCPFlags: TCPSyn, TCPMask: TCPSyn | TCPAck}, ""},
		{Match{Kind: MatchTCPFlags, TCPFlags: TCPSyn}, "needs a mask"},
		{Match{Kind: MatchTCPFlags, TCPFlags: TCPSyn, TCPMask: TCPAck}, "not within the mask"},
		{Match{Kind: MatchLength, LenMin: 100, LenMax: 10}, "above maximum"},
		{Match{Kind: MatchCTState}, "ct-state"},
		{Match{Kind: MatchCTStatus, CTStatus: StatusAssured}, ""},
		{Match{Kind: MatchString, Pattern: []byte("GET"), Algo: AlgoBM}, ""},
		{Match{Kind: MatchString, Pattern: []byte("GET")}, "algorithm"},
		{Match{Kind: MatchString, Pattern: make([]byte, 129), Algo: AlgoBM}, "pattern"},
		{Match{Kind: MatchConnlimit, Count: 3, Upto: true}, ""},
		{Match{Kind: MatchConnlimit, Count: 3, Invert: true}, "cannot be inverted"},
		{Match{Kind: MatchConnlimit, Count: 3, PrefixLen: ptr[uint8](33)}, "prefix length"},
		{Match{Kind: MatchQuota}, "quota needs"},
		{Match{Kind: MatchQuota, QuotaBytes: 10, QuotaUsed: 5}, ""},
		{Match{Kind: MatchNth, Every: 2, Offset: 2}, "below every"},
		{Match{Kind: MatchNth}, "at least 1"},
		{Match{Kind: MatchTime, TODStart: ptr(time.Hour)}, "start and a stop"},
		{Match{Kind: MatchTime, TODStart: ptr(time.Hour), TODStop: ptr(24 * time.Hour)}, "time of day"},
		{Match{Kind: MatchTime, DateStart: time.Unix(100, 0), DateStop: time.Unix(50, 0)}, "before date start"},
		{Match{Kind: MatchLimit, Rate: 10, Period: time.Minute}, ""},
		{Match{Kind: MatchLimit, Rate: 10, Period: 2 * time.Minute}, "period"},
		{Match{Kind: MatchLimit, Rate: 10, Period: time.Minute, Burst: 1000000}, ""},
		{Match{Kind: MatchLimit, Rate: 10, Period: time.Minute, Burst: 1000001}, "burst 1000001 is above"},
		{Match{Kind: MatchLimit, Rate: 1000000000, Period: time.Second}, ""},
		{Match{Kind: MatchLimit, Rate: 1000000001, Period: time.Second}, "too high"},
		{Match{Kind: MatchLimit, Rate: 1, Period: 24 * time.Hour, Burst: 213504}, ""},
		{Match{Kind: MatchLimit, Rate: 1, Period: 24 * time.Hour, Burst: 213505}, "too large for the rate"},
		{Match{Kind: MatchConnlimit, Count: 65535}, ""},
		{Match{Kind: MatchConnlimit, Count: 65536}, "count 65536 is above 65535"},
		{Match{Kind: MatchMark, Mark: 1}, ""},
		{Match{Kind: MatchMark, Mark: 0x10, MarkMask: 0xf0}, ""},
		{Match{Kind: MatchMark, Mark: 0x11, MarkMask: 0xf0}, "outside its mask"},
		{Match{Kind: MatchSet, SetName: "bad", SetField: SetFieldSAddr}, ""},
		{Match{Kind: MatchSet, SetName: "bad name", SetField: SetFieldSAddr}, "name"},
		{Match{Kind: 0}, "unknown match"},
	} {
		err := tt.m.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: Validate = %v, want nil", tt.m, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Validate = %v, want a ValidationError with %q", tt.m, err, tt.want)
		}
	}
}

func TestRuleValidate(t *testing.T) {
	a := netip.MustParseAddr
	nat := func(chain string, act Action, ms ...Match) Rule {
		return Rule{Table: TableNAT, Chain: chain, Matches: ms, Action: act}
	}
	tcp, udp := Match{Kind: MatchProto, Proto: TCP}, Match{Kind: MatchProto, Proto: UDP}
	for _, tt := range []struct {
		r    Rule
		want string
	}{
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionAccept}}, ""},
		{Rule{Table: TableFilter, Chain: "prerouting", Action: Action{Type: ActionAccept}}, "no built-in chain prerouting"},
		{Rule{Table: TableRaw, Chain: "output", Action: Action{Type: ActionNotrack}}, ""},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionNotrack}}, "table raw only"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionReject, RejectWith: RejectTCPReset}}, ""},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionReject}}, "table filter only"},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionTTL, TTLMode: TTLSet, Value: 64}}, ""},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionTTL, Value: 64}}, "needs a mode"},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionDSCP, Value: 64}}, "dscp 64"},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionMark, Value: 0x10, Mask: 0xf0}}, ""},
		{Rule{Table: TableMangle, Chain: "input", Action: Action{Type: ActionMark, Value: 0x11, Mask: 0xf0}}, "outside its mask"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionLog, LogPrefix: "ok: ~"}}, ""},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionLog, LogPrefix: "tab\there"}}, "not printable ASCII"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionLog, LogPrefix: "caf\u00e9"}}, "not printable ASCII"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionLog, LogPrefix: "del\x7f"}}, "not printable ASCII"},
		{Rule{Table: TableRaw, Chain: "prerouting", Matches: []Match{{Kind: MatchConnlimit, Count: 2}}, Action: Action{Type: ActionDrop}}, "connlimit is not allowed in table raw"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionJump, Chain: "input"}}, "built-in"},
		{Rule{Table: TableFilter, Chain: "web", Action: Action{Type: ActionJump, Chain: "web"}}, "to itself"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionAccept, Chain: "x"}}, "does not use Chain"},
		{Rule{Table: TableRaw, Chain: "prerouting", Matches: []Match{{Kind: MatchCTState, CTState: CTStateNew}}, Action: Action{Type: ActionDrop}}, "not allowed in table raw"},
		{Rule{Table: TableFilter, Chain: "input", Matches: make([]Match, 17), Action: Action{Type: ActionAccept}}, "17 matches"},
		{Rule{Table: TableFilter, Chain: "input", Matches: []Match{{Kind: MatchProto}}, Action: Action{Type: ActionAccept}}, "match 1: proto"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionAccept}, Comment: strings.Repeat("x", 256)}, "comment"},
		{Rule{Chain: "input", Action: Action{Type: ActionAccept}}, "unknown table"},
		{Rule{Table: TableFilter, Chain: "input"}, "unknown action"},

		// NAT.
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1")}), ""},
		{nat("input", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), AddrEnd: a("10.0.0.9"), NATFlags: NATPersistent}), ""},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), Ports: &PortRange{1000, 2000}}, tcp), ""},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), Ports: &PortRange{1000, 2000}}, udp), ""},
		{nat("prerouting", Action{Type: ActionDNAT, Ports: &PortRange{8080, 8080}}, tcp), ""},
		{nat("prerouting", Action{Type: ActionDNAT, Addr: a("10.0.2.2"), AddrEnd: a("10.0.2.5")}), ""},
		{nat("postrouting", Action{Type: ActionMasquerade, Ports: &PortRange{1024, 2047}, NATFlags: NATRandom | NATFullyRandom}, tcp), ""},
		{nat("output", Action{Type: ActionRedirect}), ""},
		{nat("postrouting", Action{Type: ActionSNAT}), "snat needs an address"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("2001:db8::1")}), "not an IPv4 address"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("::ffff:10.0.0.1")}), "not an IPv4 address"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), AddrEnd: a("2001:db8::1")}), "not an IPv4 address"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.9"), AddrEnd: a("10.0.0.1")}), "10.0.0.9-10.0.0.1 is backwards"},
		{nat("prerouting", Action{Type: ActionDNAT}), "dnat needs an address or a port range"},
		{nat("prerouting", Action{Type: ActionDNAT, AddrEnd: a("10.0.0.1"), Ports: &PortRange{80, 80}}, tcp), "needs its first address"},
		{nat("prerouting", Action{Type: ActionDNAT, Addr: a("10.0.0.1"), Ports: &PortRange{0, 80}}, tcp), "ports are 1 to 65535"},
		{nat("prerouting", Action{Type: ActionDNAT, Addr: a("10.0.0.1"), Ports: &PortRange{90, 80}}, tcp), "90-80 is backwards"},
		{nat("prerouting", Action{Type: ActionDNAT, Addr: a("10.0.0.1"), NATFlags: 0x10}), "unknown flags 0x10"},
		{nat("prerouting", Action{Type: ActionDNAT, Addr: a("10.0.0.1"), NATFlags: NATFullcone}), "dnat: fullcone is for snat and masquerade"},
		{nat("postrouting", Action{Type: ActionMasquerade, NATFlags: NATFullcone | NATFullyRandom}), ""},
		{nat("postrouting", Action{Type: ActionMasquerade, Addr: a("10.0.0.1")}), "masquerade does not use Addr"},
		{nat("prerouting", Action{Type: ActionRedirect, AddrEnd: a("10.0.0.1")}), "redirect does not use AddrEnd"},
		{nat("postrouting", Action{Type: ActionMasquerade, NATFlags: NATRandom, Value: 1}), "does not use Value"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), Ports: &PortRange{1000, 2000}}),
			"snat: a port range needs the rule to match protocol tcp or udp"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), Ports: &PortRange{1000, 2000}},
			Match{Kind: MatchProto, Invert: true, Proto: TCP}), "needs the rule to match protocol tcp or udp"},
		{nat("postrouting", Action{Type: ActionSNAT, Addr: a("10.0.0.1"), Ports: &PortRange{1000, 2000}},
			Match{Kind: MatchProto, Proto: ICMP}), "needs the rule to match protocol tcp or udp"},
		{Rule{Table: TableFilter, Chain: "input", Action: Action{Type: ActionDNAT, Addr: a("10.0.0.1")}}, "dnat is allowed in table nat only"},
		{Rule{Table: TableMangle, Chain: "postrouting", Action: Action{Type: ActionMasquerade}}, "masquerade is allowed in table nat only"},
		{nat("input", Action{Type: ActionReject}), "reject is allowed in table filter only"},
		{nat("prerouting", Action{Type: ActionMark, Value: 1}), "mark is allowed in table mangle only"},
		{nat("output", Action{Type: ActionNotrack}), "notrack is allowed in table raw only"},
		{nat("prerouting", Action{Type: ActionLog}), ""},
		{Rule{Table: TableNAT, Chain: "forward", Action: Action{Type: ActionAccept}}, "no built-in chain forward"},
	} {
		err := tt.r.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: Validate = %v, want nil", tt.r, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: Validate = %v, want %q", tt.r, err, tt.want)
		}
	}
}

func TestChainValidate(t *testing.T) {
	in, pre := LocalIn, PreRouting
	for _, tt := range []struct {
		c  Chain
		ok bool
	}{
		{Chain{Table: TableFilter, Name: "input", Hook: &in, Policy: VerdictDrop}, true},
		{Chain{Table: TableFilter, Name: "prerouting", Hook: &pre}, false},
		{Chain{Table: TableFilter, Name: "input"}, false},
		{Chain{Table: TableFilter, Name: "web"}, true},
		{Chain{Table: TableFilter, Name: "web", Policy: VerdictDrop}, false},
		{Chain{Table: TableFilter, Name: strings.Repeat("a", 32)}, false},
	} {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate = %v, want ok %v", tt.c, err, tt.ok)
		}
	}
	if n := len(BuiltinChains()); n != 14 {
		t.Errorf("BuiltinChains: %d chains, want 14", n)
	}
	var nat []string
	for _, h := range TableHooks(TableNAT) {
		nat = append(nat, h.ChainName())
	}
	if diff := cmp.Diff([]string{"prerouting", "input", "output", "postrouting"}, nat); diff != "" {
		t.Errorf("nat's built-in chains (-want +got):\n%s", diff)
	}
	for act, want := range map[ActionType][]Hook{
		ActionSNAT: {LocalIn, PostRouting}, ActionDNAT: {PreRouting, LocalOut},
		ActionMasquerade: {PostRouting}, ActionRedirect: {PreRouting, LocalOut}, ActionAccept: nil,
	} {
		if diff := cmp.Diff(want, ActionHooks(act)); diff != "" {
			t.Errorf("ActionHooks(%s) (-want +got):\n%s", act, diff)
		}
	}
}

func TestAddrRange(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		r     AddrRange
		text  string
		nPref int
	}{
		{Addr(a("10.0.0.1")), "10.0.0.1", 1},
		{AddrRangeFrom(netip.MustParsePrefix("10.0.0.0/8")), "10.0.0.0/8", 1},
		{AddrRange{a("0.0.0.0"), a("255.255.255.255")}, "0.0.0.0/0", 1},
		{AddrRange{a("10.0.0.1"), a("10.0.0.6")}, "10.0.0.1-10.0.0.6", 4}, // .1/32 .2/31 .4/31 .6/32
	} {
		if got := tt.r.String(); got != tt.text {
			t.Errorf("String = %q, want %q", got, tt.text)
		}
		var back AddrRange
		if err := back.UnmarshalText([]byte(tt.text)); err != nil || back != tt.r {
			t.Errorf("UnmarshalText(%q) = %v, %v", tt.text, back, err)
		}
		if ps := tt.r.Prefixes(); len(ps) != tt.nPref {
			t.Errorf("%v.Prefixes() = %v, want %d", tt.r, ps, tt.nPref)
		}
	}
	var r AddrRange
	if err := r.UnmarshalText([]byte("10.1.2.3/8")); err == nil {
		t.Errorf("UnmarshalText(10.1.2.3/8) = nil, want an error")
	}
	merged := MergeAddrRanges([]AddrRange{
		{a("10.0.0.5"), a("10.0.0.9")}, Addr(a("10.0.0.10")), {a("10.0.0.1"), a("10.0.0.3")},
		{a("255.255.255.0"), a("255.255.255.255")}, Addr(a("255.255.255.255")),
	})
	want := []AddrRange{{a("10.0.0.1"), a("10.0.0.3")}, {a("10.0.0.5"), a("10.0.0.10")}, {a("255.255.255.0"), a("255.255.255.255")}}
	if diff := cmp.Diff(want, merged, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Errorf("MergeAddrRanges (-want +got):\n%s", diff)
	}
	ports := MergePortRanges([]PortRange{{10, 20}, {21, 30}, {65535, 65535}, {1, 2}, {65000, 65535}})
	if diff := cmp.Diff([]PortRange{{1, 2}, {10, 30}, {65000, 65535}}, ports); diff != "" {
		t.Errorf("MergePortRanges (-want +got):\n%s", diff)
	}
}
