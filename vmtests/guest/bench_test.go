//go:build nflabvm

package guest

import (
	"net"
	"os"
	"testing"
)

// benchPair connects namespaces bench1 (10.8.0.1) and bench2 (10.8.0.2)
// over veth; bench2 routes 10.8.1.0/24 to a blackhole, so that packets
// sent there cross its PRE_ROUTING hook and die quietly. It returns a
// UDP socket in bench2 on port 9000 that reads and counts nothing, and an
// unconnected UDP socket in bench1.
func benchPair(b *testing.B) (recv, send *net.UDPConn) {
	for _, ns := range []string{"bench1", "bench2"} {
		if _, err := tryCmd("ip", "netns", "add", ns); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = tryCmd("ip", "netns", "del", ns) })
	}
	for _, c := range [][]string{
		{"ip", "link", "add", "b1", "netns", "bench1", "type", "veth", "peer", "name", "b2", "netns", "bench2"},
		{"ip", "-n", "bench1", "addr", "add", "10.8.0.1/24", "dev", "b1"},
		{"ip", "-n", "bench2", "addr", "add", "10.8.0.2/24", "dev", "b2"},
		{"ip", "-n", "bench1", "link", "set", "b1", "up"},
		{"ip", "-n", "bench2", "link", "set", "b2", "up"},
		{"ip", "-n", "bench1", "route", "add", "10.8.1.0/24", "via", "10.8.0.2"},
		{"ip", "-n", "bench2", "route", "add", "blackhole", "10.8.1.0/24"},
		{"ip", "netns", "exec", "bench2", "sysctl", "-qw", "net.ipv4.ip_forward=1"},
	} {
		if _, err := tryCmd(c...); err != nil {
			b.Fatal(err)
		}
	}

	recv = udpIn(b, "bench2", "10.8.0.2:9000", "")
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := recv.Read(buf); err != nil {
				return
			}
		}
	}()
	return recv, udpIn(b, "bench1", "10.8.0.1:0", "")
}

// BenchmarkUDPEstablished sends datagrams of one established UDP flow
// from namespace bench1 to bench2 over veth, with nflab unloaded and
// loaded, and reports packets per second: the cost of nflab's hooks and
// tracker on an established flow (ns/op is the time per packet, both
// namespaces' hooks included). Run it with make bench (not a timed test:
// numbers from TCG, and never from the debug kernel, are only comparable
// within one run).
func BenchmarkUDPEstablished(b *testing.B) {
	recv, send := benchPair(b)
	dst := &net.UDPAddr{IP: net.IPv4(10, 8, 0, 2), Port: 9000}
	payload := make([]byte, 64)
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := send.WriteToUDP(payload, dst); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	}
	b.Run("unloaded", run)
	benchLoaded(b, run, func() {
		// Establish the flow in nflab's table: one datagram each way.
		if _, err := send.WriteToUDP(payload, dst); err != nil {
			b.Fatal(err)
		}
		if _, err := recv.WriteToUDP(payload, send.LocalAddr().(*net.UDPAddr)); err != nil {
			b.Fatal(err)
		}
	})
}

// benchLoaded runs run with nflab loaded, after setup: as "baseline" with
// the build make bench BASELINE=<rev> made, if any, then as "loaded" with
// the module under test.
func benchLoaded(b *testing.B, run func(*testing.B), setup func(), params ...string) {
	if ko := os.Getenv("NFLAB_BASELINE_KO"); ko != "" {
		loadModuleFile(b, ko, params...)
		setup()
		b.Run("baseline", run)
		unloadModule(b)
	}
	loadModule(b, params...)
	setup()
	b.Run("loaded", run)
}

// BenchmarkUDPNewFlows sends every datagram to a new destination port, so
// each one creates an entry: confirmed at bench1's POST_ROUTING, and left
// in flight at bench2, whose blackhole route drops it between the hooks
// (reclaimed later). The cost of creating, confirming and reclaiming
// entries.
func BenchmarkUDPNewFlows(b *testing.B) {
	_, send := benchPair(b)
	payload := make([]byte, 64)
	dst := &net.UDPAddr{IP: net.IPv4(10, 8, 1, 1)}
	port := 0
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			// 10.8.1.1-250, ports 1-60000: 15 million flows.
			port++
			dst.IP[15] = byte(1 + port/60000%250)
			dst.Port = 1 + port%60000
			if _, err := send.WriteToUDP(payload, dst); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	}
	b.Run("unloaded", run)
	// No limit or cap in the way: every datagram makes an entry.
	benchLoaded(b, run, func() {}, "ct_max=4000000", "ct_global_max=8000000")
}
