package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"golang.org/x/sys/unix"
)

// eventsFake delivers a new, an update, a loss, a destroy and a new; its
// table, listed to resynchronise, holds the four connections.
func eventsFake() *fakeClient {
	f := ctFake()
	f.events = []nftypes.ConnEvent{
		{Type: nftypes.EventNew, Conn: synConn},
		{Type: nftypes.EventUpdate, Conn: tcpConn},
		{Type: nftypes.EventLost},
		{Type: nftypes.EventDestroy, Conn: udpConn},
		{Type: nftypes.EventNew, Conn: icmpConn},
	}
	return f
}

const (
	synLine  = "tcp  10.0.1.2:40001        -> 10.0.2.2:81           SYN_SENT          -\n"
	tcpLine  = "tcp  10.0.1.2:40000        -> 10.0.2.2:80           ESTABLISHED       SEEN_REPLY,ASSURED,CONFIRMED\n"
	udpLine  = "udp  10.0.1.2:5000         -> 10.0.2.2:9999         -                 SEEN_REPLY,ASSURED,CONFIRMED\n"
	icmpLine = "icmp 10.0.1.2              -> 10.0.2.2              id=4660 type=8    CONFIRMED\n"

	lostMsg = "nflab: lost events (receive buffer overrun); resynchronising\n"
)

func TestCTEvents(t *testing.T) {
	tests := []struct {
		args           []string
		stdout, stderr string
	}{
		{
			[]string{"ct", "events"},
			"[NEW]     " + synLine +
				"[UPDATE]  " + tcpLine +
				"[SYNC]    " + udpLine +
				"[SYNC]    " + tcpLine +
				"[SYNC]    " + icmpLine +
				"[SYNC]    " + synLine +
				"[DESTROY] " + udpLine +
				"[NEW]     " + icmpLine,
			lostMsg + "nflab: resynchronised, 4 entries\n",
		},
		{
			[]string{"ct", "events", "-o", "json"},
			`{"type":"new","entry":` + synJSON + "}\n" +
				`{"type":"update","entry":` + tcpJSON + "}\n" +
				`{"type":"lost"}` + "\n" +
				`{"type":"sync","entry":` + udpJSON + "}\n" +
				`{"type":"sync","entry":` + tcpJSON + "}\n" +
				`{"type":"sync","entry":` + icmpJSON + "}\n" +
				`{"type":"sync","entry":` + synJSON + "}\n" +
				`{"type":"synced"}` + "\n" +
				`{"type":"destroy","entry":` + udpJSON + "}\n" +
				`{"type":"new","entry":` + icmpJSON + "}\n",
			"",
		},
	}
	for _, tt := range tests {
		fake := eventsFake()
		got := runWith(t, fake, nil, tt.args...)
		if diff := cmp.Diff(result{0, tt.stdout, tt.stderr}, got); diff != "" {
			t.Errorf("nflab %q (-want +got):\n%s", tt.args, diff)
		}
		if diff := cmp.Diff([]string{"WatchConns", "Conns"}, fake.calls); diff != "" || !fake.closed {
			t.Errorf("nflab %q: closed %v, calls (-want +got):\n%s", tt.args, fake.closed, diff)
		}
	}
}

// TestCTEventsFilter checks that the filter selects events by their entry
// and goes with the listing that resynchronises.
func TestCTEventsFilter(t *testing.T) {
	tests := []struct {
		args []string
		want string // the events that pass, in table form, without [SYNC]
	}{
		{[]string{"-p", "tcp"}, "[NEW]     " + synLine + "[UPDATE]  " + tcpLine},
		{[]string{"-p", "tcp", "--dport", "80"}, "[UPDATE]  " + tcpLine},
		{[]string{"--state", "SYN_SENT"}, "[NEW]     " + synLine},
		{[]string{"--status", "ASSURED"}, "[UPDATE]  " + tcpLine + "[DESTROY] " + udpLine},
		{[]string{"-s", "10.0.0.0/16", "-d", "10.0.2.2"}, "[NEW]     " + synLine + "[UPDATE]  " + tcpLine + "[DESTROY] " + udpLine + "[NEW]     " + icmpLine},
		{[]string{"-s", "10.0.2.2"}, ""},
		{[]string{"-p", "icmp"}, "[NEW]     " + icmpLine},
	}
	for _, tt := range tests {
		fake := eventsFake()
		fake.conns = nil // the module filters the listing itself
		got := runWith(t, fake, nil, append([]string{"ct", "events"}, tt.args...)...)
		if diff := cmp.Diff(result{0, tt.want, lostMsg + "nflab: resynchronised, 0 entries\n"}, got); diff != "" {
			t.Errorf("nflab ct events %q (-want +got):\n%s", tt.args, diff)
		}
		// The listing gets the same filter as ct list would.
		list := ctFake()
		runWith(t, list, nil, append([]string{"ct", "list"}, tt.args...)...)
		if diff := cmp.Diff(list.gotFilter, fake.gotFilter, netipOpts); diff != "" {
			t.Errorf("nflab ct events %q: resync filter (-list +events):\n%s", tt.args, diff)
		}
	}
}

func TestCTEventsFailures(t *testing.T) {
	eperm := fmt.Errorf("nflab: join multicast group nflab/ct: %w", unix.EPERM)
	tests := []struct {
		name     string
		watchErr error
		err      error // from Conns
		stdout   string
		want     string
	}{
		{"no CAP_NET_ADMIN", eperm, nil, "", "nflab: watching connections: permission denied; this needs CAP_NET_ADMIN (run as root)\n"},
		{"module unloaded", nflab.ErrNotLoaded, nil, "", "nflab: kernel module is not loaded; load it with 'insmod kmod/nflab.ko' (or 'modprobe nflab')\n"},
		{"receive fails", errors.New("nflab: receive conntrack events: recvmsg: bad file descriptor"), nil, "", "nflab: receive conntrack events: recvmsg: bad file descriptor\n"},
		{
			"resync fails", nil, errors.New("nflab: dump connections: the kernel's table kept changing during the dump (NLM_F_DUMP_INTR), gave up after 5 attempts"),
			`{"type":"new","entry":` + synJSON + "}\n" + `{"type":"update","entry":` + tcpJSON + "}\n" + `{"type":"lost"}` + "\n",
			"nflab: dump connections: the kernel's table kept changing during the dump (NLM_F_DUMP_INTR), gave up after 5 attempts\n",
		},
		{
			"resync denied", nil, fmt.Errorf("nflab: dump connections: %w", unix.EPERM),
			`{"type":"new","entry":` + synJSON + "}\n" + `{"type":"update","entry":` + tcpJSON + "}\n" + `{"type":"lost"}` + "\n",
			"nflab: resynchronising after lost events: permission denied; this needs CAP_NET_ADMIN (run as root)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := eventsFake()
			if tt.watchErr != nil {
				fake.events = nil
			}
			fake.watchErr, fake.err = tt.watchErr, tt.err
			got := runWith(t, fake, nil, "ct", "events", "-o", "json")
			if diff := cmp.Diff(result{1, tt.stdout, tt.want}, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

// failWriter fails every write after the first n.
type failWriter struct{ n int }

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("write /dev/stdout: broken pipe")
	}
	w.n--
	return len(b), nil
}

func TestCTEventsWriteFails(t *testing.T) {
	for _, format := range []string{"table", "json"} {
		var stderr bytes.Buffer
		fake := eventsFake()
		a := &app{stdout: &failWriter{n: 1}, stderr: &stderr, dial: func() (client, error) { return fake, nil }}
		code := a.run([]string{"ct", "events", "-o", format})
		want := "nflab: writing events: write /dev/stdout: broken pipe\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("-o %s: exit %d, stderr %q; want 1, %q", format, code, stderr.String(), want)
		}
	}
}

// TestCTEventsHelp checks that the sample lines of the help are what
// eventLine writes.
func TestCTEventsHelp(t *testing.T) {
	for _, want := range []string{"[NEW]     " + "tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -\n", "[DESTROY] " + icmpLine} {
		if !strings.Contains(cmdCTEvents.usage, "                "+want) {
			t.Errorf("help lacks the line %q", want)
		}
	}
	c := tcpConn
	c.Orig.SrcPort, c.TCPState, c.Status = 40000, nftypes.TCPSynSent, 0
	if got, want := eventLine("[NEW]", c), "[NEW]     tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -\n"; got != want {
		t.Errorf("eventLine = %q, want %q", got, want)
	}
	// The widest tuple still lines up.
	wide := nftypes.Conn{Orig: nftypes.Tuple{
		Proto: nftypes.UDP, Src: netip.MustParseAddr("255.255.255.255"), Dst: netip.MustParseAddr("255.255.255.254"),
		SrcPort: 65535, DstPort: 65534,
	}}
	if got, want := eventLine("[UPDATE]", wide), "[UPDATE]  udp  255.255.255.255:65535 -> 255.255.255.254:65534 -                 -\n"; got != want {
		t.Errorf("eventLine = %q, want %q", got, want)
	}
	for _, args := range [][]string{{"ct", "events", "-p", "icmp", "--sport", "1"}, {"ct", "events", "--icmp-id", "1"}} {
		got := runWith(t, nil, nil, args...)
		if got.Code != 2 || !strings.HasSuffix(got.Stderr, "; run 'nflab help ct events'\n") {
			t.Errorf("nflab %q = %+v, want a usage error", args, got)
		}
	}
}
