//go:build nflabvm

// Helpers that let a test hold the traffic it observes: sockets the test
// drives from Go inside a namespace, so a connection stays in the state
// being checked until the test moves it on, and generous waits for states
// that last.
package guest

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// waitLong bounds every wait for a state that lasts (a counter that reached
// a value, an entry held in its state): generous, for the debug kernel under
// TCG on a busy machine. Such a wait returns as soon as the state shows.
const waitLong = 60 * time.Second

// inNetns runs f on an OS thread that entered namespace ns; the thread dies
// afterwards. Sockets f opens stay in ns and may be used from anywhere.
func inNetns(t testing.TB, ns string, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		if err := enterNetns(ns); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in netns %s: %v", ns, err)
	}
}

// listenIn opens a TCP listener on addr in namespace ns, closed when the
// test ends. It listens when listenIn returns: no wait for it is needed.
func listenIn(t *testing.T, ns, addr string) *net.TCPListener {
	t.Helper()
	var ln *net.TCPListener
	inNetns(t, ns, func() error {
		l, err := net.Listen("tcp4", addr)
		if err == nil {
			ln = l.(*net.TCPListener)
		}
		return err
	})
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptOne accepts one connection on ln, closed when the test ends.
func acceptOne(t *testing.T, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	if err := ln.SetDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatalf("accept on %s: %v", ln.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connPair connects a client in namespace from to a listener of the test's
// own on laddr in namespace to (dialled at dst) and returns both ends, held
// open until the test closes them or ends.
func connPair(t *testing.T, from, to, laddr, dst string) (client, server *net.TCPConn) {
	t.Helper()
	ln := listenIn(t, to, laddr)
	client = dialFrom(t, from, dst, 0)
	t.Cleanup(func() { client.Close() })
	server = acceptOne(t, ln)
	ln.Close()
	return client, server
}

// readN reads exactly len(buf) bytes from c, failing after waitLong.
func readN(t *testing.T, c net.Conn, buf []byte) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(buf); {
		m, err := c.Read(buf[n:])
		if err != nil {
			t.Fatalf("read %d of %d bytes from %s: %v", n, len(buf), c.RemoteAddr(), err)
		}
		n += m
	}
}

// udpIn opens a UDP socket in namespace ns bound to laddr (":0" for any
// port), connected to raddr unless it is empty, closed when the test ends.
func udpIn(t testing.TB, ns, laddr, raddr string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() error {
		la, err := net.ResolveUDPAddr("udp4", laddr)
		if err != nil {
			return err
		}
		if raddr == "" {
			c, err = net.ListenUDP("udp4", la)
			return err
		}
		ra, err := net.ResolveUDPAddr("udp4", raddr)
		if err != nil {
			return err
		}
		c, err = net.DialUDP("udp4", la, ra)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// udpRefused sends a datagram from a connected socket in namespace ns to
// raddr, where nothing listens, and waits for the port unreachable: nil
// once the read fails with connection refused, else what the read did.
func udpRefused(t *testing.T, ns, raddr string) error {
	t.Helper()
	c := udpIn(t, ns, ":0", raddr)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	if err != nil && isConnRefused(err) {
		return nil
	}
	return fmt.Errorf("read %v, want connection refused", err)
}

// udpEchoIn runs a UDP echo server on laddr in namespace ns until the test
// ends. It is bound when udpEchoIn returns.
func udpEchoIn(t *testing.T, ns, laddr string) {
	t.Helper()
	c := udpIn(t, ns, laddr, "")
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return // closed at the end of the test
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
}

// udpRequest sends msg from a socket in namespace ns bound to laddr to
// raddr and waits for the reply: once it returns, the request and the reply
// both crossed every tracker on the way.
func udpRequest(t *testing.T, ns, laddr, raddr string, msg []byte) {
	t.Helper()
	c := udpIn(t, ns, laddr, raddr)
	defer c.Close()
	udpExchange(t, c, msg)
}

// nftPackets returns the packet counter of the first rule of chain (as
// "ip t fc") in ns whose text contains match.
func nftPackets(t *testing.T, ns netns, chain, match string) int {
	t.Helper()
	out := ns.run(t, "nft", "list chain "+chain)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, match) {
			var n int
			i := strings.Index(l, "packets ")
			if i < 0 {
				t.Fatalf("the rule with %q has no counter: %s", match, l)
			}
			if _, err := fmt.Sscanf(l[i:], "packets %d", &n); err != nil {
				t.Fatalf("reading the counter of %q: %v", l, err)
			}
			return n
		}
	}
	t.Fatalf("no rule with %q in:\n%s", match, out)
	return 0
}

// waitFor polls cond until it holds or waitLong passes. cond must test a
// state that lasts (a counter reached, an entry held in its state).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s within %v", what, waitLong)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// timeoutSince checks that an entry's remaining timeout (seconds) is what a
// refresh to full after start leaves: at most full, and no less than full
// minus the time since start (rounded up) minus a second of rounding.
func timeoutSince(e ctEntry, full int, start time.Time) bool {
	el := int(time.Since(start)/time.Second) + 1
	return e.Timeout <= full && e.Timeout >= full-el-1
}

// udpSend sends one datagram from laddr in namespace ns to raddr. The
// sending namespace's tracker has seen it when udpSend returns.
func udpSend(t *testing.T, ns, laddr, raddr string, msg []byte) {
	t.Helper()
	c := udpIn(t, ns, laddr, raddr)
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
}
