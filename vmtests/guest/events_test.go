//go:build nflabvm

package guest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

type ctEvent struct {
	Type  string  `json:"type"`
	Entry ctEntry `json:"entry"`
}

// watchEvents runs "nflab ct events -o json" in ns and returns its events
// as they come.
func watchEvents(t *testing.T, ns netns) <-chan ctEvent {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", string(ns), "nflab", "ct", "events", "-o", "json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ch := make(chan ctEvent, 1024)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e ctEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("bad event line %q: %v", sc.Text(), err)
				return
			}
			ch <- e
		}
	}()
	return ch
}

// nextEvent returns the next event accepted by ok, failing after waitLong.
func nextEvent(t *testing.T, ch <-chan ctEvent, what string, ok func(ctEvent) bool) ctEvent {
	t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case e, open := <-ch:
			if !open {
				t.Fatalf("event stream ended while waiting for %s", what)
			}
			if ok(e) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within %v", what, waitLong)
		}
	}
}

// waitListening returns once the router's event listener hears: the
// client pings the server until a probe's NEW shows.
func waitListening(t *testing.T, tp *topology, events <-chan ctEvent) {
	t.Helper()
	ready := make(chan struct{})
	go func() {
		for {
			select {
			case <-ready:
				return
			default:
				_, _ = tp.client.try("ping", "-c", "1", "-W", "1", "10.0.2.2")
			}
		}
	}()
	nextEvent(t, events, "probe", func(e ctEvent) bool { return e.Type == "new" && e.Entry.Proto == "icmp" })
	close(ready)
}

func TestCTEvents(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	events := watchEvents(t, tp.router)

	waitListening(t, tp, events)

	tp.server.run(t, "sh", "-c", "socat -u TCP4-LISTEN:8200,reuseaddr,fork OPEN:/dev/null >/dev/null 2>&1 &")
	waitTCPListen(t, tp.server, 8200)
	tp.client.run(t, "sh", "-c", "head -c 3000 /dev/zero | socat -u - TCP4:10.0.2.2:8200")
	isFlow := func(e ctEvent) bool { return e.Entry.Proto == "tcp" && e.Entry.Orig.Dport == 8200 }

	first := nextEvent(t, events, "NEW for the TCP flow", isFlow)
	if first.Type != "new" || first.Entry.TCPState != "SYN_SENT" {
		t.Fatalf("first event %+v, want new in SYN_SENT", first)
	}
	// Updates follow the connection's life in order, to TIME_WAIT.
	order := []string{"SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT"}
	var states []string
	last := 0
	for last != len(order)-1 {
		e := nextEvent(t, events, "UPDATE to TIME_WAIT", isFlow)
		if e.Type != "update" || e.Entry.ID != first.Entry.ID {
			t.Fatalf("after %v: event %+v, want an update of entry %d", states, e, first.Entry.ID)
		}
		i := slices.Index(order, e.Entry.TCPState)
		if i < last {
			t.Fatalf("state went back: %v then %s", states, e.Entry.TCPState)
		}
		last = i
		states = append(states, e.Entry.TCPState)
	}
	if !slices.Contains(states, "ESTABLISHED") {
		t.Errorf("updates %v never reached ESTABLISHED", states)
	}

	// Flushing it sends DESTROY with the final counters.
	final := one(t, ctList(t, tp.router, "-p", "tcp", "--dport", "8200"))
	tp.router.run(t, "nflab", "ct", "flush", "-p", "tcp", "--dport", "8200")
	d := nextEvent(t, events, "DESTROY", isFlow)
	if d.Type != "destroy" || d.Entry.ID != final.ID || d.Entry.BytesOrig != final.BytesOrig ||
		d.Entry.PacketsReply != final.PacketsReply {
		t.Errorf("destroy %+v, want entry %d with counters of %+v", d, final.ID, final)
	}
}

func TestCTEventsLoss(t *testing.T) {
	loadModule(t)
	mustRun(t, "ip", "link", "set", "lo", "up")
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A listener with a tiny buffer that stops reading while thousands of
	// events fire must hear that it lost some, then go on listening.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		blocked = make(chan struct{})
		resume  = make(chan struct{})
		got     = make(chan nftypes.ConnEvent, 16)
		done    = make(chan error, 1)
	)
	go func() {
		first := true
		done <- c.WatchConns(ctx, &nflab.WatchOptions{ReadBuffer: 4096}, func(e nftypes.ConnEvent) error {
			if first {
				first = false
				close(blocked)
				<-resume
			}
			// Only the loss and the events after it matter; the
			// flood's own events may be dropped here.
			if e.Type == nftypes.EventLost || e.Conn.Orig.DstPort >= 30000 {
				select {
				case got <- e:
				case <-ctx.Done():
				}
			}
			return nil
		})
	}()

	sendUDP := func(port int) {
		t.Helper()
		u, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		if _, err := u.Write([]byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	// The first event blocks the listener; then flood it.
	for {
		sendUDP(5000)
		select {
		case <-blocked:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	for p := 0; p < 2000; p++ {
		sendUDP(10000 + p)
	}
	close(resume)

	seen := func(what string, ok func(nftypes.ConnEvent) bool) {
		t.Helper()
		timeout := time.After(waitLong)
		for {
			select {
			case e := <-got:
				if ok(e) {
					return
				}
			case err := <-done:
				t.Fatalf("watch ended while waiting for %s: %v", what, err)
			case <-timeout:
				t.Fatalf("no %s event", what)
			}
		}
	}
	seen("lost", func(e nftypes.ConnEvent) bool { return e.Type == nftypes.EventLost })
	// Still listening after the loss.
	go func() {
		for p := 0; ctx.Err() == nil; p++ {
			sendUDP(30000 + p%1000)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	seen("new after the loss", func(e nftypes.ConnEvent) bool {
		return e.Type == nftypes.EventNew && e.Conn.Orig.DstPort >= 30000
	})

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("watch ended with %v", err)
		}
	case <-time.After(waitLong):
		t.Fatal("watch did not stop after cancel")
	}
}
