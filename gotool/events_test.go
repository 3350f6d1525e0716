package nflab

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/nlclient"
)

func TestCTEventTypeNames(t *testing.T) {
	for typ, want := range map[CTEventType]string{
		CTEventNew: "new", CTEventUpdate: "update", CTEventDestroy: "destroy", CTEventLost: "lost",
		0: "CTEventType(0)", 5: "CTEventType(5)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("CTEventType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
		var back CTEventType
		if err := back.UnmarshalText([]byte(want)); err != nil || back != typ {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %d", want, back, err, uint8(typ))
		}
	}
	var back CTEventType
	if err := back.UnmarshalText([]byte("DESTROY")); err != nil || back != CTEventDestroy {
		t.Errorf("UnmarshalText(DESTROY) = %v, %v", back, err)
	}
	want := `nflab: unknown event type "sync" (want new, update, destroy or lost)`
	if err := back.UnmarshalText([]byte("sync")); err == nil || err.Error() != want {
		t.Errorf("UnmarshalText(sync) = %v, want %q", err, want)
	}
	b, err := json.Marshal(CTEvent{Type: CTEventLost}.Type)
	if err != nil || string(b) != `"lost"` {
		t.Errorf("json = %s, %v", b, err)
	}
}

func TestWatchConns(t *testing.T) {
	raw := nlclient.Conn{
		ID:     9,
		Orig:   nlclient.Tuple{Src: addrA, Dst: addrB, Proto: 17, SrcPort: 5000, DstPort: 53},
		Reply:  nlclient.Tuple{Src: addrB, Dst: addrA, Proto: 17, SrcPort: 53, DstPort: 5000},
		Status: 4, Timeout: 30, Start: 1795640400000000000,
	}
	conn := Conn{
		ID:     9,
		Orig:   Tuple{Src: addrA, Dst: addrB, Proto: UDP, SrcPort: 5000, DstPort: 53},
		Reply:  Tuple{Src: addrB, Dst: addrA, Proto: UDP, SrcPort: 53, DstPort: 5000},
		Status: StatusConfirmed, Timeout: 30 * time.Second,
		Start: time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC),
	}
	f := &fakeBackend{events: []nlclient.Event{
		{Type: nlclient.EventNew, Conn: raw},
		{Type: nlclient.EventLost},
		{Type: nlclient.EventUpdate, Conn: raw},
		{Type: nlclient.EventDestroy, Conn: raw},
	}}
	c := ctClient(t, f)
	var got []CTEvent
	err := c.WatchConns(t.Context(), func(e CTEvent) error { got = append(got, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []CTEvent{{CTEventNew, conn}, {Type: CTEventLost}, {CTEventUpdate, conn}, {CTEventDestroy, conn}}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if f.gotReadBuffer != DefaultWatchReadBuffer {
		t.Fatalf("read buffer %d, want the default %d", f.gotReadBuffer, DefaultWatchReadBuffer)
	}

	// The options reach the backend; fn's error ends the watch.
	stop := errors.New("stop")
	err = c.WatchConnsWithOptions(t.Context(), WatchOptions{ReadBuffer: 4096}, func(CTEvent) error { return stop })
	if err != stop || f.gotReadBuffer != 4096 {
		t.Fatalf("WatchConnsWithOptions = %v with buffer %d, want fn's error and 4096", err, f.gotReadBuffer)
	}
	f.calls = nil
	err = c.WatchConnsWithOptions(t.Context(), WatchOptions{ReadBuffer: -1}, func(CTEvent) error { return nil })
	if err == nil || err.Error() != "nflab: watch: read buffer -1 is negative" || len(f.calls) != 0 {
		t.Fatalf("negative buffer: %v, calls %v", err, f.calls)
	}
}

func TestCTFilterMatch(t *testing.T) {
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
		f         CTFilter
		tcp, icmp bool
	}{
		{CTFilter{}, true, true},
		{CTFilter{Proto: TCP}, true, false},
		{CTFilter{Proto: ICMP}, false, true},
		{CTFilter{Proto: UDP}, false, false},
		{CTFilter{Src: netip.MustParsePrefix("10.0.0.0/16")}, true, true},
		{CTFilter{Src: netip.MustParsePrefix("10.0.2.0/24")}, false, false}, // the reply's source
		{CTFilter{Dst: netip.MustParsePrefix("10.0.2.2/32")}, true, true},
		{CTFilter{Dst: netip.MustParsePrefix("0.0.0.0/0")}, true, true},
		{CTFilter{Proto: TCP, DstPort: 80}, true, false},
		{CTFilter{Proto: TCP, DstPort: 40000}, false, false}, // the reply's port
		{CTFilter{Proto: TCP, SrcPort: 40000, DstPort: 80}, true, false},
		{CTFilter{TCPState: ptr(TCPEstablished)}, true, false},
		{CTFilter{TCPState: ptr(TCPNone)}, false, false}, // ICMP has no TCP state, not NONE
		{CTFilter{Status: StatusConfirmed}, true, true},
		{CTFilter{Status: StatusSeenReply | StatusConfirmed}, true, false},
		{CTFilter{Status: StatusAssured}, false, false},
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
