package nftypes

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestConnEventTypeNames(t *testing.T) {
	for typ, want := range map[ConnEventType]string{
		EventNew: "new", EventUpdate: "update", EventDestroy: "destroy", EventLost: "lost",
		0: "ConnEventType(0)", 5: "ConnEventType(5)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("ConnEventType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
		var back ConnEventType
		if err := back.UnmarshalText([]byte(want)); err != nil || back != typ {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %d", want, back, err, uint8(typ))
		}
	}
	var back ConnEventType
	if err := back.UnmarshalText([]byte("DESTROY")); err != nil || back != EventDestroy {
		t.Errorf("UnmarshalText(DESTROY) = %v, %v", back, err)
	}
	want := `nflab: event type: unknown event type "sync" (want new, update, destroy or lost)`
	if err := back.UnmarshalText([]byte("sync")); err == nil || err.Error() != want {
		t.Errorf("UnmarshalText(sync) = %v, want %q", err, want)
	}
	b, err := json.Marshal(ConnEvent{Type: EventLost}.Type)
	if err != nil || string(b) != `"lost"` {
		t.Errorf("json = %s, %v", b, err)
	}
}

func TestConnFilterMatch(t *testing.T) {
	tcp := Conn{
		Orig:     Tuple{Src: addrA, Dst: addrB, Proto: TCP, SrcPort: 40000, DstPort: 80},
		Reply:    Tuple{Src: addrB, Dst: addrA, Proto: TCP, SrcPort: 80, DstPort: 40000},
		Status:   StatusSeenReply | StatusConfirmed,
		TCPState: TCPEstablished,
	}
	icmp := Conn{
		Orig:   Tuple{Src: addrA, Dst: addrB, Proto: ICMP, ICMPID: 7, ICMPType: 8},
		Reply:  Tuple{Src: addrB, Dst: addrA, Proto: ICMP, ICMPID: 7},
		Status: StatusConfirmed,
	}
	tests := []struct {
		f         ConnFilter
		tcp, icmp bool
	}{
		{ConnFilter{}, true, true},
		{ConnFilter{Proto: TCP}, true, false},
		{ConnFilter{Proto: ICMP}, false, true},
		{ConnFilter{Proto: UDP}, false, false},
		{ConnFilter{Src: netip.MustParsePrefix("10.0.0.0/16")}, true, true},
		{ConnFilter{Src: netip.MustParsePrefix("10.0.2.0/24")}, false, false}, // the reply's source
		{ConnFilter{Dst: netip.MustParsePrefix("10.0.2.2/32")}, true, true},
		{ConnFilter{Dst: netip.MustParsePrefix("0.0.0.0/0")}, true, true},
		{ConnFilter{Proto: TCP, DstPort: 80}, true, false},
		{ConnFilter{Proto: TCP, DstPort: 40000}, false, false}, // the reply's port
		{ConnFilter{Proto: TCP, SrcPort: 40000, DstPort: 80}, true, false},
		{ConnFilter{TCPState: ptr(TCPEstablished)}, true, false},
		{ConnFilter{TCPState: ptr(TCPNone)}, false, false}, // ICMP has no TCP state, not NONE
		{ConnFilter{Status: StatusConfirmed}, true, true},
		{ConnFilter{Status: StatusSeenReply | StatusConfirmed}, true, false},
		{ConnFilter{Status: StatusAssured}, false, false},
	}
	for _, tt := range tests {
		if err := tt.f.Validate(); err != nil {
			t.Fatalf("test filter %+v: %v", tt.f, err)
		}
		if got := tt.f.Match(tcp); got != tt.tcp {
			t.Errorf("%+v.Match(tcp) = %v, want %v", tt.f, got, tt.tcp)
		}
		if got := tt.f.Match(icmp); got != tt.icmp {
			t.Errorf("%+v.Match(icmp) = %v, want %v", tt.f, got, tt.icmp)
		}
	}
}
