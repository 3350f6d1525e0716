package nftypes

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nflab/nflab/nlproto"
)

// TestUnknownEnums checks that values a newer module may send print as
// numbers in text and JSON, never as Go syntax, and read back.
func TestUnknownEnums(t *testing.T) {
	type doc struct {
		P  Proto
		S  TCPState
		H  Hook
		E  ConnEventType
		St ConnStatus
		T  map[Timeout]int
	}
	for _, tt := range []struct {
		v    doc
		want string
	}{
		{doc{TCP, TCPEstablished, LocalIn, EventNew, StatusAssured, map[Timeout]int{TimeoutICMP: 30}},
			`{"P":"tcp","S":"ESTABLISHED","H":"LOCAL_IN","E":"new","St":"ASSURED","T":{"icmp":30}}`},
		{doc{47, 12, 9, 7, StatusAssured | 0x100, map[Timeout]int{14: 1}},
			`{"P":47,"S":12,"H":9,"E":7,"St":"ASSURED,0x100","T":{"14":1}}`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("json = %s, %v; want %s", b, err, tt.want)
		}
		var back doc
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("Unmarshal(%s): %v", b, err)
			continue
		}
		if back.P != tt.v.P || back.S != tt.v.S || back.H != tt.v.H || back.E != tt.v.E || back.St != tt.v.St || len(back.T) != 1 {
			t.Errorf("Unmarshal(%s) = %+v, want %+v", b, back, tt.v)
		}
	}
	for _, v := range []interface{ MarshalText() ([]byte, error) }{TCPState(12), Proto(47), Hook(9), Timeout(14), ConnEventType(7)} {
		b, _ := v.MarshalText()
		var n int
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("%T.MarshalText = %q, want a number", v, b)
		}
	}
	var s TCPState
	if err := json.Unmarshal([]byte(`"TCPState(12)"`), &s); err != nil || s != 12 {
		t.Errorf("Unmarshal(TCPState(12)) = %v, %v", s, err)
	}
}

// The tables come from nflab.h; scripts depend on these exact names.
func TestNamesFromHeader(t *testing.T) {
	for _, tc := range []struct {
		got  fmt.Stringer
		want string
	}{
		{TCPSynSent2, "SYN_SENT2"},
		{TCPNone, "NONE"},
		{TimeoutTCPSynSent, "tcp_syn_sent"},
		{TimeoutTCPUnack, "tcp_unack"},
		{TimeoutICMP, "icmp"},
		{PreRouting, "PRE_ROUTING"},
		{PostRouting, "POST_ROUTING"},
		{EventNew, "new"},
		{EventUpdate, "update"},
		{EventDestroy, "destroy"},
		{EventLost, "lost"},
		{StatusSeenReply | StatusDying, "SEEN_REPLY,DYING"},
		{ConnStatus(1 << 7), "0x80"},
		{Timeout(0), "Timeout(0)"},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("%T %s: String() = %q, want %q", tc.got, uint64Of(tc.got), s, tc.want)
		}
	}
	if n := len(Timeouts()); n != nlproto.CT_TIMEOUT_A_MAX {
		t.Errorf("Timeouts() has %d, want %d", n, nlproto.CT_TIMEOUT_A_MAX)
	}
}

func uint64Of(v any) string { return fmt.Sprintf("%d", v) }
