//go:build nflabvm

// Real clients through nflab's masquerade: an HTTP download, DNS lookups
// over UDP, and a long-lived TCP stream that outlives a flush of other
// flows.
package guest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// dnsServeA answers every A question on c with addr (a minimal DNS
// server: one question, one answer, no compression beyond a pointer).
func dnsServeA(c *net.UDPConn, addr net.IP) {
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if n < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
			continue
		}
		// The question's end: labels, then type and class.
		i := 12
		for i < n && q[i] != 0 {
			i += int(q[i]) + 1
		}
		if i+5 > n {
			continue
		}
		end := i + 5
		resp := append([]byte{}, q[:end]...)
		resp[2] = 0x81                           // response, recursion desired
		resp[3] = 0x80                           // recursion available, no error
		binary.BigEndian.PutUint16(resp[6:8], 1) // one answer
		binary.BigEndian.PutUint16(resp[8:10], 0)
		binary.BigEndian.PutUint16(resp[10:12], 0)
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, addr.To4()...)
		_, _ = c.WriteToUDP(resp, from)
	}
}

func TestNATRealClients(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	applyIn(t, tp.router, "rule nat postrouting oif r1 masquerade\n")

	// HTTP: 4 MB downloaded through the router, hashed; the server's
	// handler sees the router's address.
	body := make([]byte, 4<<20)
	rand.New(rand.NewSource(2)).Read(body)
	ln := listenIn(t, "server", ":8280")
	seen := make(chan string, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		select {
		case seen <- host:
		default:
		}
		_, _ = w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	// The client's connection is made in its namespace; the transport
	// may use it from any thread.
	conn, err := dialErr(t, "client", "10.0.2.2:8280", waitLong)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 5 * waitLong, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return conn, nil
		},
	}}
	resp, err := cl.Get("http://10.0.2.2:8280/file")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(body) {
		t.Errorf("HTTP download: %d bytes, not the %d served", len(got), len(body))
	}
	if h := <-seen; h != "10.0.2.1" {
		t.Errorf("the HTTP server saw %s, want the router's 10.0.2.1", h)
	}

	// DNS over UDP: ten lookups through the Go resolver, each a new flow.
	dns := udpIn(t, "server", "10.0.2.2:53", "")
	go dnsServeA(dns, net.IPv4(192, 0, 2, 77))
	// The resolver dials from goroutines of its own: each socket is
	// made on a thread in the client's namespace.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var c net.Conn
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
			if err = enterNetns("client"); err != nil {
				return
			}
			var d net.Dialer
			c, err = d.DialContext(ctx, "udp4", "10.0.2.2:53")
		}()
		<-done
		return c, err
	}}
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), waitLong)
		addrs, err := r.LookupIP(ctx, "ip4", fmt.Sprintf("host%d.example.", i))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || !addrs[0].Equal(net.IPv4(192, 0, 2, 77)) {
			t.Fatalf("host%d.example: %v, want 192.0.2.77", i, addrs)
		}
	}

	// A long-lived stream outlives a flush of the other flows.
	c, s := connPair(t, "client", "server", ":8281", "10.0.2.2:8281")
	chunk := bytes.Repeat([]byte("z"), 1000)
	for i := 0; i < 5; i++ {
		if i == 2 {
			tp.router.run(t, "nflab", "ct", "flush", "-p", "udp")
			tp.router.run(t, "nflab", "ct", "flush", "-p", "icmp")
		}
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
		readN(t, s, make([]byte, len(chunk)))
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		readN(t, c, make([]byte, len(chunk)))
		time.Sleep(100 * time.Millisecond)
	}
	if es := ctList(t, tp.router, "--src-nat", "-p", "tcp", "--dport", "8281"); len(es) != 1 {
		t.Errorf("the stream's entry after the flush: %+v", es)
	}
}
