//go:build nflabvm

package guest

import (
	"net"
	"runtime"
	"testing"
)

// BenchmarkUDPEstablished sends datagrams of one established UDP flow
// from namespace bench1 to bench2 over veth, with nflab unloaded and
// loaded, and reports packets per second: the cost of nflab's hooks and
// tracker on an established flow. Run it with make bench (not a timed
// test: numbers from TCG, and never from the debug kernel, are only
// comparable within one run).
func BenchmarkUDPEstablished(b *testing.B) {
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
	} {
		if _, err := tryCmd(c...); err != nil {
			b.Fatal(err)
		}
	}

	// The receiver reads and counts nothing: the flow is established by
	// one reply below, then only the sender's rate matters.
	recv := make(chan *net.UDPConn, 1)
	go func() {
		runtime.LockOSThread()
		if err := enterNetns("bench2"); err != nil {
			b.Error(err)
			recv <- nil
			return
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 8, 0, 2), Port: 9000})
		if err != nil {
			b.Error(err)
		}
		recv <- c
	}()
	rc := <-recv
	if rc == nil {
		return
	}
	defer rc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := rc.Read(buf); err != nil {
				return
			}
		}
	}()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := enterNetns("bench1"); err != nil {
		b.Fatal(err)
	}
	sc, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 8, 0, 2), Port: 9000})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	payload := make([]byte, 64)

	send := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := sc.Write(payload); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	}
	b.Run("unloaded", send)

	loadModule(b)
	// Establish the flow in nflab's table: one datagram each way.
	if _, err := sc.Write(payload); err != nil {
		b.Fatal(err)
	}
	if _, err := rc.WriteToUDP(payload, sc.LocalAddr().(*net.UDPAddr)); err != nil {
		b.Fatal(err)
	}
	b.Run("loaded", send)
}
