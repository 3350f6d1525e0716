//go:build linux

package nlclient

import (
	"context"
	"errors"
	"iter"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// ctGroupID is the id the fake controller gives the "ct" group.
const ctGroupID = 0x21

// eventFamily is testFamily with its multicast groups, as the module
// registers them.
var eventFamily = genetlink.Family{
	ID: testFamily.ID, Version: testFamily.Version, Name: testFamily.Name,
	Groups: []genetlink.MulticastGroup{{ID: ctGroupID, Name: nlproto.MCGRP_CT}},
}

// The three notifications, each a generic netlink header and an entry.
const (
	eventNew     = "0c 01 0000 # NFLAB_CMD_CT_EVENT_NEW, version 1\n" + tcpEntry
	eventUpdate  = "0d 01 0000 # NFLAB_CMD_CT_EVENT_UPDATE\n" + tcpEntry
	eventDestroy = "0e 01 0000 # NFLAB_CMD_CT_EVENT_DESTROY\n" + icmpEntry
	eventUnknown = "63 01 0000 # command 99, from a newer module\n" + icmpEntry
)

// notification wraps a golden generic netlink message as the kernel
// multicasts it: sequence and port id 0, type the sender's testFamily.
func notification(t *testing.T, typ uint16, genl string) netlink.Message {
	t.Helper()
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: golden(t, genl)}
}

// delFamily is nlctrl's notification that the testFamily with id was removed.
func delFamily(t *testing.T, id string) netlink.Message {
	return notification(t, unix.GENL_ID_CTRL, `
02 02 0000                   # CTRL_CMD_DELFAMILY, version 2
0600 0100 `+id+` 0000        # CTRL_ATTR_FAMILY_ID
0a00 0200 6e666c616200 0000  # CTRL_ATTR_FAMILY_NAME "nflab"
`)
}

// datagram is what one receive on the event socket returns.
type datagram struct {
	msgs []netlink.Message
	err  error // an errno, reported as recvmsg reports it
}

// eventSocket fakes the event socket, with what nltest's socket lacks:
// JoinGroup, SetReadBuffer and SetReadDeadline. Each receive takes the
// next queued datagram, or blocks until a read deadline passes.
type eventSocket struct {
	t       *testing.T
	queue   chan datagram
	joinErr map[uint32]error

	mu      sync.Mutex
	joined  []uint32
	rcvbuf  int
	expired chan struct{} // closed when the read deadline passes
	once    sync.Once
}

func newEventSocket(t *testing.T, dgs ...datagram) *eventSocket {
	s := &eventSocket{t: t, queue: make(chan datagram, len(dgs)), expired: make(chan struct{})}
	for _, d := range dgs {
		s.queue <- d
	}
	return s
}

func (s *eventSocket) Close() error { return nil }

func (s *eventSocket) Send(netlink.Message) error {
	s.t.Error("request sent on the event socket")
	return errors.New("unexpected send")
}

func (s *eventSocket) SendMessages([]netlink.Message) error { return s.Send(netlink.Message{}) }

func (s *eventSocket) Receive() ([]netlink.Message, error) {
	var msgs []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func (s *eventSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		select {
		case <-s.expired:
			yield(netlink.Message{}, os.ErrDeadlineExceeded)
		case d := <-s.queue:
			if d.err != nil {
				yield(netlink.Message{}, os.NewSyscallError("recvmsg", d.err))
				return
			}
			for _, m := range d.msgs {
				if !yield(m, nil) {
					return
				}
			}
		}
	}
}

func (s *eventSocket) JoinGroup(group uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.joinErr[group]; err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	s.joined = append(s.joined, group)
	return nil
}

func (s *eventSocket) LeaveGroup(uint32) error { return nil }

func (s *eventSocket) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

func (s *eventSocket) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		time.AfterFunc(time.Until(t), func() { s.once.Do(func() { close(s.expired) }) })
	}
	return nil
}

func (s *eventSocket) SetWriteDeadline(time.Time) error { return nil }

func (s *eventSocket) SetReadBuffer(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcvbuf = n
	return nil
}

func (s *eventSocket) SetWriteBuffer(int) error  { return nil }
func (s *eventSocket) ReadBuffer() (int, error)  { return s.rcvbuf, nil }
func (s *eventSocket) WriteBuffer() (int, error) { return 0, nil }

// watchClient is a request client whose testFamily has the "ct" group; lookup
// answers its testFamily lookups after the first (initClient's), when set.
func watchClient(t *testing.T, lookup genltest.Func) *Client {
	t.Helper()
	serve := genltest.ServeFamily(eventFamily, nil)
	lookups := 0
	c, err := initClient(genltest.Dial(func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if lookups++; lookups > 1 && lookup != nil {
			return lookup(greq, nreq)
		}
		return serve(greq, nreq)
	}))
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// runWatch watches sock until fn has seen want events or fails, and
// returns those events and watch's error.
func runWatch(t *testing.T, c *Client, sock *eventSocket, want int) ([]nftypes.ConnEvent, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []nftypes.ConnEvent
	conn := genetlink.NewConn(netlink.NewConn(sock, 1))
	errc := make(chan error, 1)
	go func() {
		errc <- c.watch(ctx, conn, 4096, func(e nftypes.ConnEvent) error {
			if got = append(got, e); len(got) == want {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-errc:
		return got, err
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return")
		return nil, nil
	}
}

func TestWatchConns(t *testing.T) {
	c := watchClient(t, nil)
	other := notification(t, 0x1d, eventNew) // another testFamily's group
	sock := newEventSocket(t,
		datagram{msgs: []netlink.Message{notification(t, testFamily.ID, eventNew)}},
		datagram{msgs: []netlink.Message{
			notification(t, testFamily.ID, eventUpdate),
			notification(t, testFamily.ID, eventUnknown),
			other,
			delFamily(t, "1d00"), // not ours
			notification(t, testFamily.ID, eventDestroy),
		}},
		datagram{err: unix.ENOBUFS},
		datagram{err: unix.ENOBUFS},
		datagram{msgs: []netlink.Message{notification(t, testFamily.ID, eventNew)}},
	)
	got, err := runWatch(t, c, sock, 6)
	if err != nil {
		t.Fatalf("watch = %v, want nil once the context is done", err)
	}
	want := []nftypes.ConnEvent{
		{Type: nftypes.EventNew, Conn: wantTCPConn},
		{Type: nftypes.EventUpdate, Conn: wantTCPConn},
		{Type: nftypes.EventDestroy, Conn: wantICMPConn},
		{Type: nftypes.EventLost},
		{Type: nftypes.EventLost},
		{Type: nftypes.EventNew, Conn: wantTCPConn},
	}
	if diff := cmp.Diff(want, got, netipOpts); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	// nlctrl's "notify" group first, so no removal goes unseen.
	if diff := cmp.Diff([]uint32{unix.GENL_ID_CTRL, ctGroupID}, sock.joined); diff != "" {
		t.Fatalf("joined groups (-want +got):\n%s", diff)
	}
	if sock.rcvbuf != 4096 {
		t.Fatalf("receive buffer %d, want 4096", sock.rcvbuf)
	}
}

// TestWatchCancel checks that cancelling wakes a watch blocked in receive.
func TestWatchCancel(t *testing.T) {
	c := watchClient(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel)
	conn := genetlink.NewConn(netlink.NewConn(newEventSocket(t), 1))
	start := time.Now()
	err := c.watch(ctx, conn, 4096, func(e nftypes.ConnEvent) error {
		t.Errorf("unexpected event %+v", e)
		return nil
	})
	if err != nil {
		t.Fatalf("watch = %v, want nil", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("watch took %v to notice the cancellation", d)
	}
	// A context done before the watch starts ends it at once.
	err = c.watch(ctx, genetlink.NewConn(netlink.NewConn(newEventSocket(t), 1)), 4096, func(nftypes.ConnEvent) error { return nil })
	if err != nil {
		t.Fatalf("watch with a done context = %v, want nil", err)
	}
}

func TestWatchFnError(t *testing.T) {
	c := watchClient(t, nil)
	stop := errors.New("stop")
	for _, first := range []datagram{
		{msgs: []netlink.Message{notification(t, testFamily.ID, eventNew), notification(t, testFamily.ID, eventDestroy)}},
		{err: unix.ENOBUFS},
	} {
		sock := newEventSocket(t, first, datagram{msgs: []netlink.Message{notification(t, testFamily.ID, eventNew)}})
		calls := 0
		err := c.watch(t.Context(), genetlink.NewConn(netlink.NewConn(sock, 1)), 4096, func(nftypes.ConnEvent) error {
			calls++
			return stop
		})
		if err != stop || calls != 1 {
			t.Fatalf("watch = %v after %d calls, want fn's error after 1", err, calls)
		}
	}
}

func TestWatchErrors(t *testing.T) {
	noCT := eventFamily
	noCT.Groups = []genetlink.MulticastGroup{{ID: 0x22, Name: "trace"}}
	reloaded := eventFamily
	reloaded.ID++
	tests := []struct {
		name    string
		lookup  genltest.Func
		joinErr map[uint32]error
		recv    []datagram
		check   func(error) bool
		want    string
	}{
		{
			name:    "no CAP_NET_ADMIN",
			joinErr: map[uint32]error{ctGroupID: unix.EPERM},
			check:   func(err error) bool { return errors.Is(err, os.ErrPermission) },
			want:    "nflab: join multicast group nflab/ct: operation not permitted",
		},
		{
			name: "module without events",
			lookup: func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
				return genltest.ServeFamily(noCT, nil)(greq, nreq)
			},
			want: `nflab: watch connections: the module has no "ct" multicast group; it predates conntrack events`,
		},
		{
			name: "module unloaded",
			lookup: func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return nil, genltest.Error(int(unix.ENOENT))
			},
			check: func(err error) bool { return err == ErrNotLoaded },
		},
		{
			name: "module reloaded",
			lookup: func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
				return genltest.ServeFamily(reloaded, nil)(greq, nreq)
			},
			check: func(err error) bool { return err == ErrNotLoaded },
		},
		{
			name:  "module unloaded while watching",
			recv:  []datagram{{msgs: []netlink.Message{delFamily(t, "1c00")}}},
			check: func(err error) bool { return err == ErrNotLoaded },
		},
		{
			name: "malformed event",
			recv: []datagram{{msgs: []netlink.Message{notification(t, testFamily.ID, "0c 01 0000\n0800 6300 2a000000")}}},
			want: "nflab: receive conntrack event: malformed reply: command 12: missing attribute NFLAB_A_CT",
		},
		{
			name:  "receive fails",
			recv:  []datagram{{err: unix.EBADF}},
			check: func(err error) bool { return errors.Is(err, unix.EBADF) },
			want:  "nflab: receive conntrack events: bad file descriptor",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := watchClient(t, tt.lookup)
			sock := newEventSocket(t, tt.recv...)
			sock.joinErr = tt.joinErr
			err := c.watch(t.Context(), genetlink.NewConn(netlink.NewConn(sock, 1)), 4096, func(e nftypes.ConnEvent) error {
				t.Errorf("unexpected event %+v", e)
				return nil
			})
			if err == nil {
				t.Fatal("watch succeeded")
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("watch = %#v, wrong kind", err)
			}
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("watch = %q, want %q", err, tt.want)
			}
		})
	}
}

// TestParseEvent decodes one golden notification of each type.
func TestParseEvent(t *testing.T) {
	c := &Client{family: family{Family: testFamily}}
	for _, tt := range []struct {
		genl string
		want nftypes.ConnEvent
		ok   bool
	}{
		{eventNew, nftypes.ConnEvent{Type: nftypes.EventNew, Conn: wantTCPConn}, true},
		{eventUpdate, nftypes.ConnEvent{Type: nftypes.EventUpdate, Conn: wantTCPConn}, true},
		{eventDestroy, nftypes.ConnEvent{Type: nftypes.EventDestroy, Conn: wantICMPConn}, true},
		{eventUnknown, nftypes.ConnEvent{}, false},
	} {
		nm := notification(t, testFamily.ID, tt.genl)
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(nm.Data); err != nil {
			t.Fatal(err)
		}
		got, ok, err := c.parseEvent(gm, nm)
		if err != nil || ok != tt.ok {
			t.Fatalf("parseEvent(%s) = %v, %v; want ok %v", strings.Fields(tt.genl)[0], ok, err, tt.ok)
		}
		if diff := cmp.Diff(tt.want, got, netipOpts); diff != "" {
			t.Errorf("parseEvent(%s) (-want +got):\n%s", strings.Fields(tt.genl)[0], diff)
		}
	}
}
