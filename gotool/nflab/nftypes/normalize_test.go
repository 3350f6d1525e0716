package nftypes

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNormalized(t *testing.T) {
	p32, p24 := uint8(32), uint8(24)
	r := Rule{Matches: []Match{
		{Kind: MatchLimit, Rate: 1, Period: time.Second, Burst: 5},
		{Kind: MatchLimit, Rate: 1, Period: time.Second, Burst: 6},
		{Kind: MatchConnlimit, Count: 1, PrefixLen: &p32},
		{Kind: MatchConnlimit, Count: 1, PrefixLen: &p24},
		{Kind: MatchString, To: 65535},
		{Kind: MatchMark, Mark: 1, MarkMask: ^uint32(0)},
	}, Action: Action{Type: ActionMark, Value: 1, Mask: ^uint32(0)}}
	n := r.Normalized()
	if m := n.Matches; m[0].Burst != 0 || m[1].Burst != 6 || m[2].PrefixLen != nil || m[3].PrefixLen != &p24 ||
		m[4].To != 0 || m[5].MarkMask != 0 || n.Action.Mask != 0 {
		t.Errorf("Normalized = %+v", n)
	}
	if r.Matches[0].Burst != 5 {
		t.Errorf("Normalized changed its receiver's matches")
	}
}

func TestNormalizedNAT(t *testing.T) {
	a1, a9 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.9")
	ports := &PortRange{80, 80}
	for _, tt := range []struct{ in, want Action }{
		{Action{Type: ActionSNAT, Addr: a1, AddrEnd: a1}, Action{Type: ActionSNAT, Addr: a1}},
		{Action{Type: ActionSNAT, Addr: a1, AddrEnd: a9}, Action{Type: ActionSNAT, Addr: a1, AddrEnd: a9}},
		{Action{Type: ActionDNAT, Ports: ports}, Action{Type: ActionDNAT, Ports: &PortRange{80, 80}}},
	} {
		got := tt.in.Normalized()
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
			t.Errorf("%+v.Normalized() (-want +got):\n%s", tt.in, diff)
		}
		if got.Ports != nil && got.Ports == tt.in.Ports {
			t.Errorf("%+v.Normalized() shares Ports with its receiver", tt.in)
		}
	}
}
