//go:build nflabvm

// A mark set at mangle/output re-routes the packet: host a has two uplinks
// to host b, the main table routes b's service address over the first, and
// "ip rule fwmark 0x7" sends marked packets to a table that uses the second:
//
//	 ns ra                                  ns rb
//	+-------------------+                  +---------------------+
//	| a0 10.0.3.1/24    +------ veth ------+ b0 10.0.3.2/24      |
//	|  main: 10.0.9.9   |                  |                     |
//	|        via .3.2   |                  | lo 10.0.9.9/32      |
//	| a1 10.0.4.1/24    +------ veth ------+ b1 10.0.4.2/24      |
//	|  table 100 via    |                  | captures on b0, b1  |
//	|  .4.2, fwmark 0x7 |                  | rp_filter off       |
//	+-------------------+                  +---------------------+
package guest

import (
	"testing"
	"time"
)

func TestRulesMangleOutputReroutes(t *testing.T) {
	loadModule(t)
	a, b := newNetns(t, "ra"), newNetns(t, "rb")
	veth(t, a, "a0", "10.0.3.1/24", b, "b0", "10.0.3.2/24")
	veth(t, a, "a1", "10.0.4.1/24", b, "b1", "10.0.4.2/24")
	b.run(t, "ip", "addr", "add", "10.0.9.9/32", "dev", "lo")
	for _, k := range []string{"all", "default", "b0", "b1"} {
		b.run(t, "sysctl", "-qw", "net.ipv4.conf."+k+".rp_filter=0")
	}
	a.run(t, "ip", "route", "add", "10.0.9.9", "via", "10.0.3.2")
	a.run(t, "ip", "route", "add", "10.0.9.9", "via", "10.0.4.2", "table", "100")
	a.run(t, "ip", "rule", "add", "fwmark", "0x7", "table", "100")
	applyIn(t, a, `rule mangle output udp dport 9080 mark set 0x7 comment "mark"`)

	rxMarked := udpIn(t, "rb", "10.0.9.9:9080", "")
	rxPlain := udpIn(t, "rb", "10.0.9.9:9081", "")
	c0, c1 := captureOn(t, "rb", "b0"), captureOn(t, "rb", "b1")
	udpSend(t, "ra", ":0", "10.0.9.9:9080", []byte("marked"))
	udpSend(t, "ra", ":0", "10.0.9.9:9081", []byte("plain"))
	// Both arrive (through whichever link); then the captures hold them.
	for _, rx := range []interface {
		SetReadDeadline(time.Time) error
		Read([]byte) (int, error)
	}{rxMarked, rxPlain} {
		rx.SetReadDeadline(time.Now().Add(waitLong))
		if _, err := rx.Read(make([]byte, 64)); err != nil {
			t.Fatal(err)
		}
	}
	udpDports := func(c *capture) []uint16 {
		var ps []uint16
		for _, p := range c.drain(t) {
			if !p.out && len(p.ip) >= 28 && p.ip[9] == 17 {
				hl := int(p.ip[0]&0xf) * 4
				ps = append(ps, uint16(p.ip[hl+2])<<8|uint16(p.ip[hl+3]))
			}
		}
		return ps
	}
	on0, on1 := udpDports(c0), udpDports(c1)
	if len(on0) != 1 || on0[0] != 9081 || len(on1) != 1 || on1[0] != 9080 {
		t.Errorf("UDP by destination port: via b0 %v (want [9081]), via b1 %v (want [9080]: the marked one, re-routed)", on0, on1)
	}
	wantPackets(t, a, map[string]uint64{"mark": 1})
}
