package nftypes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/nlproto"
)

var selCmp = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestParseTraceSelector(t *testing.T) {
	tests := []struct {
		in   string // split at spaces, as the shell would
		want TraceSelector
		str  string // what String writes; in itself when ""
	}{
		{"", TraceSelector{}, ""},
		{"tcp", TraceSelector{Proto: TCP}, ""},
		{"UDP", TraceSelector{Proto: UDP}, "udp"},
		{"icmp", TraceSelector{Proto: ICMP}, ""},
		{"proto 6", TraceSelector{Proto: TCP}, "tcp"},
		{"proto gre", TraceSelector{Proto: 47}, ""},
		{"proto tcp", TraceSelector{Proto: TCP}, "tcp"},
		{"proto UDP and port 53", TraceSelector{Proto: UDP, Port: 53}, "udp and port 53"},
		{"proto icmp", TraceSelector{Proto: ICMP}, "icmp"},
		{"iface host", TraceSelector{Iface: "host"}, ""},
		{"dev port and tcp", TraceSelector{Proto: TCP, Iface: "port"}, "tcp and iface port"},
		{"proto 47", TraceSelector{Proto: 47}, "proto gre"},
		{"proto 253", TraceSelector{Proto: 253}, ""},
		{"host 10.0.1.2", TraceSelector{Host: pfx("10.0.1.2/32")}, ""},
		{"host 10.0.0.0/16", TraceSelector{Host: pfx("10.0.0.0/16")}, "net 10.0.0.0/16"},
		{"net 10.0.0.0/8", TraceSelector{Host: pfx("10.0.0.0/8")}, ""},
		{"host 10.0.1.2/32", TraceSelector{Host: pfx("10.0.1.2/32")}, "host 10.0.1.2"},
		{"src 10.0.1.2", TraceSelector{Src: pfx("10.0.1.2/32")}, "src host 10.0.1.2"},
		{"src host 10.0.1.2", TraceSelector{Src: pfx("10.0.1.2/32")}, ""},
		{"src net 10.0.1.0/24", TraceSelector{Src: pfx("10.0.1.0/24")}, ""},
		{"dst 10.0.0.0/16", TraceSelector{Dst: pfx("10.0.0.0/16")}, "dst net 10.0.0.0/16"},
		{"dst host 0.0.0.0/0", TraceSelector{Dst: pfx("0.0.0.0/0")}, "dst net 0.0.0.0/0"},
		{"tcp port 22", TraceSelector{Proto: TCP, Port: 22}, "tcp and port 22"},
		{"udp and src port 53", TraceSelector{Proto: UDP, SrcPort: 53}, ""},
		{"dst port 22 and tcp", TraceSelector{Proto: TCP, DstPort: 22}, "tcp and dst port 22"},
		{"iface eth0", TraceSelector{Iface: "eth0"}, ""},
		{"dev veth-r1", TraceSelector{Iface: "veth-r1"}, "iface veth-r1"},
		{"tcp && port 1", TraceSelector{Proto: TCP, Port: 1}, "tcp and port 1"},
		{"TCP AND DST PORT 22", TraceSelector{Proto: TCP, DstPort: 22}, "tcp and dst port 22"},
		{
			"iface eth1 and dst port 443 and src port 40000 and port 9 and dst net 10.0.2.0/24 and src host 10.0.1.2 and host 10.0.0.0/8 and tcp",
			TraceSelector{Proto: TCP, Host: pfx("10.0.0.0/8"), Src: pfx("10.0.1.2/32"), Dst: pfx("10.0.2.0/24"),
				Port: 9, SrcPort: 40000, DstPort: 443, Iface: "eth1"},
			"tcp and net 10.0.0.0/8 and src host 10.0.1.2 and dst net 10.0.2.0/24 and port 9 and src port 40000 and dst port 443 and iface eth1",
		},
	}
	for _, tt := range tests {
		got, err := ParseTraceSelector(strings.Fields(tt.in))
		if err != nil {
			t.Errorf("ParseTraceSelector(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, selCmp); diff != "" {
			t.Errorf("ParseTraceSelector(%q) (-want +got):\n%s", tt.in, diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("ParseTraceSelector(%q) = %+v, which Validate refuses: %v", tt.in, got, err)
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if got.String() != str {
			t.Errorf("ParseTraceSelector(%q).String() = %q, want %q", tt.in, got.String(), str)
		}
		// String reads back, as one argument too.
		back, err := ParseTraceSelector([]string{got.String()})
		if err != nil || back != got {
			t.Errorf("ParseTraceSelector(String() %q) = %+v, %v; want %+v", got.String(), back, err, got)
		}
	}
	// A selector in one argument is split at its spaces.
	got, err := ParseTraceSelector([]string{"tcp and", " dst  port\t22 "})
	if err != nil || got != (TraceSelector{Proto: TCP, DstPort: 22}) {
		t.Errorf("split words = %+v, %v", got, err)
	}
}

// TestTraceSelectorWords checks the words that are keywords elsewhere:
// every protocol name reads after "proto", and a device named as a
// keyword round-trips.
func TestTraceSelectorWords(t *testing.T) {
	for _, name := range TraceProtoNames() {
		got, err := ParseTraceSelector([]string{"proto", name})
		if err != nil || protoWord(got.Proto) != name {
			t.Errorf("proto %s = %+v, %v", name, got, err)
		}
	}
	for _, kw := range append(keywords, "&&", "||", "!x", "AND") {
		s := TraceSelector{Proto: UDP, Iface: kw}
		for _, words := range [][]string{{s.String()}, strings.Fields(s.String()), {"dev", kw, "udp"}} {
			got, err := ParseTraceSelector(words)
			if err != nil || got != s {
				t.Errorf("ParseTraceSelector(%q) = %+v, %v; want %+v", words, got, err, s)
			}
		}
	}
}

func TestParseTraceSelectorErrors(t *testing.T) {
	tests := []struct {
		in   []string
		want string // the Reason
	}{
		{[]string{"tcp or udp"}, `"or" is not supported: a trace follows the packets that one selector holds for; start a trace for each alternative`},
		{[]string{"tcp", "||", "udp"}, `"||" is not supported: a trace follows the packets that one selector holds for; start a trace for each alternative`},
		{[]string{"not tcp"}, `"not" is not supported: a selector says which packets to follow, every condition must hold`},
		{[]string{"!tcp"}, `"!tcp" is not supported: a selector says which packets to follow, every condition must hold`},
		{[]string{"(tcp", "and", "port", "22)"}, `"(tcp": parentheses are not supported; join conditions with "and"`},
		{[]string{"tcp and (port 22)"}, `"(port": parentheses are not supported; join conditions with "and"`},
		{[]string{"and tcp"}, `"and" must stand between two conditions`},
		{[]string{"tcp and and port 22"}, `"and" must stand between two conditions`},
		{[]string{"tcp and"}, `"and" at the end: a condition must follow it`},
		{[]string{"tcp and udp"}, `"udp": the protocol is given twice (first "tcp"); a selector takes each condition once`},
		{[]string{"tcp proto 6"}, `"proto 6": the protocol is given twice (first "tcp"); a selector takes each condition once`},
		{[]string{"host 10.0.0.1 and net 10.0.0.0/8"}, `"net 10.0.0.0/8": the host is given twice (first "host 10.0.0.1"); a selector takes each condition once`},
		{[]string{"src 1.2.3.4 src host 1.2.3.5"}, `"src host 1.2.3.5": the source is given twice (first "src 1.2.3.4"); a selector takes each condition once`},
		{[]string{"dst 1.2.3.4 dst net 1.2.0.0/16"}, `"dst net 1.2.0.0/16": the destination is given twice (first "dst 1.2.3.4"); a selector takes each condition once`},
		{[]string{"tcp port 1 port 2"}, `"port 2": the port is given twice (first "port 1"); a selector takes each condition once`},
		{[]string{"tcp src port 1 src port 2"}, `"src port 2": the source port is given twice (first "src port 1"); a selector takes each condition once`},
		{[]string{"tcp dst port 1 dst port 2"}, `"dst port 2": the destination port is given twice (first "dst port 1"); a selector takes each condition once`},
		{[]string{"iface a dev b"}, `"dev b": the device is given twice (first "iface a"); a selector takes each condition once`},
		{[]string{"port 53"}, `"port 53": a port needs tcp or udp; say which, such as "tcp port 53" or "udp port 53"`},
		{[]string{"dst port 22 and host 10.0.0.1"}, `"dst port 22": a port needs tcp or udp; say which, such as "tcp dst port 22" or "udp dst port 22"`},
		{[]string{"icmp and src port 7"}, `"src port 7": ports apply to tcp and udp, not icmp`},
		{[]string{"proto 47 port 7"}, `"port 7": ports apply to tcp and udp, not gre`},
		{[]string{"proto 200 port 7"}, `"port 7": ports apply to tcp and udp, not 200`},
		{[]string{"net 10.0.0.1/8"}, `"10.0.0.1/8": bits are set past the prefix length; did you mean 10.0.0.0/8?`},
		{[]string{"src 10.0.1.2/24"}, `"10.0.1.2/24": bits are set past the prefix length; did you mean 10.0.1.0/24?`},
		{[]string{"dst host 192.168.1.1/16"}, `"192.168.1.1/16": bits are set past the prefix length; did you mean 192.168.0.0/16?`},
		{[]string{"net 10.0.0.0"}, `"10.0.0.0": "net" needs a prefix length, such as 10.0.0.0/24; for one address, use "host"`},
		{[]string{"src net 10.0.0.0"}, `"10.0.0.0": "net" needs a prefix length, such as 10.0.0.0/24; for one address, use "host"`},
		{[]string{"host 10.0.0.256"}, `"10.0.0.256": want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16`},
		{[]string{"host ::1"}, `"::1": want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16`},
		{[]string{"net 10.0.0.0/33"}, `"10.0.0.0/33": want an IPv4 prefix, such as 10.0.1.2 or 10.0.0.0/16`},
		{[]string{"host"}, `"host" needs an IPv4 address or prefix after it`},
		{[]string{"src host"}, `"src host" needs an IPv4 address or prefix after it`},
		{[]string{"src"}, `"src" needs an IPv4 address or prefix after it`},
		{[]string{"src tcp"}, `"src" needs an IPv4 address or prefix after it, not "tcp"`},
		{[]string{"dst net and tcp"}, `"dst net" needs an IPv4 prefix after it, not "and"`},
		{[]string{"tcp port"}, `"port" needs a port number, 1-65535 after it`},
		{[]string{"tcp dst port"}, `"dst port" needs a port number, 1-65535 after it`},
		{[]string{"tcp port 0"}, `"0": want a port number, 1-65535`},
		{[]string{"tcp port 65536"}, `"65536": want a port number, 1-65535`},
		{[]string{"tcp port ssh"}, `"ssh": want a port number, 1-65535`},
		{[]string{"proto"}, `"proto" needs a protocol number or name after it`},
		{[]string{"proto 0"}, `"0": protocol 0 cannot be selected (leave the protocol out for any)`},
		{[]string{"proto 256"}, `"256": want a protocol number, 1-255, or a name: icmp, igmp, tcp, udp, gre, esp, ah, ospf, sctp`},
		{[]string{"proto foo"}, `"foo": want a protocol number, 1-255, or a name: icmp, igmp, tcp, udp, gre, esp, ah, ospf, sctp`},
		{[]string{"iface"}, `"iface" needs a device name after it`},
		{[]string{"proto and tcp"}, `"proto" needs a protocol number or name after it, not "and"`},
		{[]string{"proto host"}, `"proto" needs a protocol number or name after it, not "host"`},
		{[]string{"iface a-very-long-device-name"}, `"a-very-long-device-name": interface name "a-very-long-device-name" is longer than 15 bytes`},
		{[]string{"iface a/b"}, `"a/b": interface name "a/b" holds a character a device name cannot ('/', ':', a space or a control character)`},
		{[]string{"iface .."}, `"..": interface name ".." is not valid`},
		{[]string{"10.0.0.1"}, `"10.0.0.1": an address needs "host", "net", "src" or "dst" before it`},
		{[]string{"tcp 10.0.0.0/8"}, `"10.0.0.0/8": an address needs "host", "net", "src" or "dst" before it`},
		{[]string{"tcp 22"}, `"22": a port needs "port", "src port" or "dst port" before it`},
		{[]string{"tcp and sport 22"}, `unknown word "sport"; want tcp, udp, icmp, proto, host, net, src, dst, port or iface`},
	}
	for _, tt := range tests {
		got, err := ParseTraceSelector(tt.in)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("ParseTraceSelector(%q) = %+v, %v; want a *ValidationError", tt.in, got, err)
			continue
		}
		if ve.Field != "selector" || ve.Reason != tt.want {
			t.Errorf("ParseTraceSelector(%q):\n got %s: %s\nwant selector: %s", tt.in, ve.Field, ve.Reason, tt.want)
		}
		if err.Error() != "nflab: selector: "+tt.want {
			t.Errorf("ParseTraceSelector(%q).Error() = %q", tt.in, err)
		}
	}
}

func TestTraceSpecValidate(t *testing.T) {
	tests := []struct {
		spec TraceSpec
		want string // "" for valid
	}{
		{TraceSpec{}, ""},
		{TraceSpec{Budget: 1, Timeout: time.Second}, ""},
		{TraceSpec{Budget: MaxTraceBudget, Timeout: 24 * time.Hour}, ""},
		{TraceSpec{Budget: -1}, "nflab: trace: budget -1 is out of range (1 to 100000 packets)"},
		{TraceSpec{Budget: MaxTraceBudget + 1}, "nflab: trace: budget 100001 is out of range (1 to 100000 packets)"},
		{TraceSpec{Timeout: 1500 * time.Millisecond}, "nflab: trace: timeout 1.5s is not a whole number of seconds"},
		{TraceSpec{Timeout: -time.Second}, "nflab: trace: timeout -1s is out of range (1s to 24h0m0s)"},
		{TraceSpec{Timeout: 24*time.Hour + time.Second}, "nflab: trace: timeout 24h0m1s is out of range (1s to 24h0m0s)"},
		{TraceSpec{Selector: TraceSelector{Port: 22}}, "nflab: selector: ports need protocol tcp or udp; say which"},
		{TraceSpec{Selector: TraceSelector{Proto: ICMP, DstPort: 22}}, "nflab: selector: ports apply to tcp and udp, not icmp"},
		{TraceSpec{Selector: TraceSelector{Src: pfx("10.0.0.1/8")}}, "nflab: selector: source 10.0.0.1/8 has bits set past its prefix length (did you mean 10.0.0.0/8?)"},
		{TraceSpec{Selector: TraceSelector{Host: pfx("::1/128")}}, "nflab: selector: host ::1/128 is not an IPv4 prefix"},
		{TraceSpec{Selector: TraceSelector{Dst: netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 40)}}, "nflab: selector: destination invalid Prefix is not an IPv4 prefix"},
		{TraceSpec{Selector: TraceSelector{Iface: "0123456789abcdef"}}, `nflab: selector: interface name "0123456789abcdef" is longer than 15 bytes`},
		{TraceSpec{Selector: TraceSelector{Iface: "a b"}}, `nflab: selector: interface name "a b" holds a character a device name cannot ('/', ':', a space or a control character)`},
	}
	for _, tt := range tests {
		err := tt.spec.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%+v.Validate() = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

// The trace enums' names come from nflab.h; scripts depend on them.
func TestTraceEnumNames(t *testing.T) {
	for _, tc := range []struct {
		got  fmt.Stringer
		want string
	}{
		{TraceHook, "hook"}, {TraceGone, "gone"}, {TraceEnd, "end"}, {TraceKind(9), "TraceKind(9)"},
		{TraceCTFound, "found"}, {TraceCTNew, "new"}, {TraceCTInvalid, "invalid"}, {TraceCTRelated, "related"},
		{TraceCTUntracked, "untracked"}, {TraceCTFull, "full"}, {TraceCT(0), "TraceCT(0)"},
		{TraceInvalidHeader, "header"}, {TraceInvalidFragment, "fragment"}, {TraceInvalidChecksum, "checksum"},
		{TraceInvalidICMPError, "icmp-error"}, {TraceInvalidNoNew, "no-new"}, {TraceInvalidState, "state"},
		{TraceAccept, "accept"}, {TraceDrop, "drop"}, {TraceStolen, "stolen"},
		{TraceByRule, "rule"}, {TraceByTracker, "tracker"}, {TraceByNAT, "nat"}, {TraceByHook, "hook"},
		{TraceByBetween, "between"}, {TraceByAfter, "after"}, {TraceByRoute, "route"},
		{DirOriginal, "original"}, {DirReply, "reply"}, {Dir(2), "Dir(2)"},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("%T %s: String() = %q, want %q", tc.got, uint64Of(tc.got), s, tc.want)
		}
	}
	// Every member of the header's enums has a name here.
	for _, e := range []struct {
		enum nlproto.Enum
		name func(int64) string
	}{
		{nlproto.EnumTraceKind, func(v int64) string { return TraceKind(v).String() }},
		{nlproto.EnumTraceCT, func(v int64) string { return TraceCT(v).String() }},
		{nlproto.EnumTraceInvalid, func(v int64) string { return TraceInvalid(v).String() }},
		{nlproto.EnumTraceVerdict, func(v int64) string { return TraceVerdict(v).String() }},
		{nlproto.EnumTraceDropBy, func(v int64) string { return TraceDropBy(v).String() }},
	} {
		for _, n := range e.enum.Names {
			want := strings.ReplaceAll(n.Lower(), "_", "-")
			if n.Short == "UNSPEC" {
				continue
			}
			if got := e.name(n.Value); got != want {
				t.Errorf("%s: %q, want %q", n.C, got, want)
			}
		}
	}
	var k TraceKind
	if err := k.UnmarshalText([]byte("GONE")); err != nil || k != TraceGone {
		t.Errorf("UnmarshalText(GONE) = %v, %v", k, err)
	}
	var r TraceInvalid
	if err := r.UnmarshalText([]byte("icmp_error")); err != nil || r != TraceInvalidICMPError {
		t.Errorf("UnmarshalText(icmp_error) = %v, %v", r, err)
	}
	if err := r.UnmarshalText([]byte("bogus")); err == nil || err.Error() != `nflab: invalid reason: unknown invalid reason "bogus" (want one of header, fragment, checksum, icmp-error, no-new, state)` {
		t.Errorf("UnmarshalText(bogus) = %v", err)
	}
}

func TestTraceEventJSON(t *testing.T) {
	ev := TraceEvent{
		Trace: 3, Seq: 7, Packet: 42, Kind: TraceHook, Hook: Forward,
		Time:    time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC),
		InIface: "eth0", InIndex: 2, Len: 60,
		Tuple:    Tuple{Src: netip.MustParseAddr("10.0.1.2"), Dst: netip.MustParseAddr("10.0.2.2"), Proto: TCP, SrcPort: 40000, DstPort: 22},
		TCPFlags: TCPSyn,
		Rules:    []TraceRule{{Table: TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: TraceDrop}},
		Verdict:  TraceDrop, DropBy: TraceByRule,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Trace":3,"Seq":7,"Packet":42,"Kind":"hook","Hook":"FORWARD","Time":"2026-12-01T10:00:00.000000005Z",` +
		`"InIface":"eth0","InIndex":2,"Len":60,` +
		`"Tuple":{"Src":"10.0.1.2","Dst":"10.0.2.2","Proto":"tcp","SrcPort":40000,"DstPort":22,"ICMPID":0,"ICMPType":0},` +
		`"TCPFlags":"syn","Rules":[{"Table":"filter","Chain":"forward","Handle":7,"Comment":"drop ssh","Verdict":"drop"}],` +
		`"Verdict":"drop","DropBy":"rule"}`
	if string(b) != want {
		t.Errorf("json =\n%s\nwant\n%s", b, want)
	}
	var back TraceEvent
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// A selector is its text in JSON.
	b, err = json.Marshal(Trace{ID: 1, Selector: TraceSelector{Proto: UDP, DstPort: 53}})
	if err != nil || !strings.Contains(string(b), `"Selector":"udp and dst port 53"`) {
		t.Errorf("Trace json = %s, %v", b, err)
	}
	var tr Trace
	if err := json.Unmarshal(b, &tr); err != nil || tr.Selector != (TraceSelector{Proto: UDP, DstPort: 53}) {
		t.Errorf("Trace back = %+v, %v", tr, err)
	}
}

func TestHookDropsJSON(t *testing.T) {
	b, err := json.Marshal([]HookStat{{Hook: Forward, Packets: 3, Drops: &HookDrops{Rule: 2, Invalid: 1, UnseenAfter: 4}}})
	if want := `[{"Hook":"FORWARD","Packets":3,"Bytes":0,"Drops":{"Rule":2,"Invalid":1,"Full":0,"NAT":0,"UnseenAfter":4}}]`; err != nil || string(b) != want {
		t.Errorf("json = %s, %v; want %s", b, err, want)
	}
	for h, want := range map[Hook]bool{PreRouting: true, LocalIn: false, Forward: true, LocalOut: true, PostRouting: false} {
		if h.HasUnseenAfter() != want {
			t.Errorf("%v.HasUnseenAfter() = %v", h, !want)
		}
	}
}
