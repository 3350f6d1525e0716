//go:build nflabvm

package guest

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// TestClientNetNS checks that a Client belongs to the namespace it was
// dialled for, by DialOptions.NetNS or by the dialling thread, whatever
// thread calls it later: its dumps list that namespace's entries, its
// watches hear that namespace's events only, and Close ends its watches.
func TestClientNetNS(t *testing.T) {
	loadModule(t)
	mustRun(t, "ip", "link", "set", "lo", "up")
	ns := newNetns(t, "client-ns")

	f, err := os.Open("/var/run/netns/client-ns")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byFD, err := nflab.Dial(&nflab.DialOptions{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer byFD.Close()
	// Dialled on a thread inside the namespace, used from others.
	var byThread *nflab.Client
	inNetns(t, string(ns), func() error {
		byThread, err = nflab.Dial(nil)
		return err
	})
	defer byThread.Close()
	initNS, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer initNS.Close()

	ctx := context.Background()
	type watch struct {
		events chan nftypes.ConnEvent
		done   chan error
	}
	start := func(c *nflab.Client) watch {
		w := watch{make(chan nftypes.ConnEvent, 256), make(chan error, 1)}
		go func() {
			w.done <- c.WatchConns(ctx, nil, func(e nftypes.ConnEvent) error {
				select {
				case w.events <- e:
				default:
				}
				return nil
			})
		}()
		return w
	}
	watches := []watch{start(byFD), start(byThread)}

	// Flows in the init namespace go to ports 41000+, flows in client-ns
	// to 40000+. The watches subscribe asynchronously: send a new flow in
	// each namespace until both watches heard one from client-ns.
	initConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer initConn.Close()
	heard := make([]bool, len(watches))
	deadline := time.Now().Add(waitLong)
	i := 0
	for ; !heard[0] || !heard[1]; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the watches heard no event from client-ns in %v (heard %v)", waitLong, heard)
		}
		_, _ = initConn.WriteToUDP([]byte("i"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41000 + i})
		localFlows(t, ns, 40000+i, 1)
		time.Sleep(50 * time.Millisecond)
		for w := range watches {
			for drained := false; !drained; {
				select {
				case e := <-watches[w].events:
					if e.Type == nftypes.EventLost {
						continue
					}
					if p := e.Conn.Orig.DstPort; p >= 41000 {
						t.Fatalf("watch %d (client-ns) heard a flow of the init namespace: %+v", w, e)
					} else if p >= 40000 {
						heard[w] = true
					}
				default:
					drained = true
				}
			}
		}
	}

	// The last flows sent are the youngest: none has expired.
	own, other := uint16(40000+i-1), uint16(41000+i-1)
	udp := func(port uint16) nftypes.ConnFilter {
		return nftypes.ConnFilter{Proto: nftypes.UDP, DstPort: port}
	}
	for _, tc := range []struct {
		name string
		c    *nflab.Client
		port uint16
		want int
	}{
		{"by fd, own flow", byFD, own, 1},
		{"by fd, init flow", byFD, other, 0},
		{"by thread, own flow", byThread, own, 1},
		{"by thread, init flow", byThread, other, 0},
		{"init, client-ns flow", initNS, own, 0},
		{"init, own flow", initNS, other, 1},
	} {
		conns, err := tc.c.Conns(ctx, udp(tc.port))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(conns) != tc.want {
			t.Errorf("%s: %d entries to port %d, want %d: %+v", tc.name, len(conns), tc.port, tc.want, conns)
		}
	}

	// Close ends the running watches, and a second Close is harmless.
	for i, c := range []*nflab.Client{byFD, byThread} {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		select {
		case err := <-watches[i].done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("watch %d after Close returned %v, want net.ErrClosed", i, err)
			}
		case <-time.After(waitLong):
			t.Fatalf("watch %d still running %v after Close", i, waitLong)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := c.Conns(ctx, udp(40000)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Conns after Close: %v, want net.ErrClosed", err)
		}
	}
}
