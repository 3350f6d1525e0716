//go:build linux

package nlclient

import (
	"encoding/binary"
	"errors"
	"iter"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// txSocket fakes the request socket as the kernel answers it: each
// answer (a reply, an ACK, an error) is a datagram of its own, queued when
// the request is sent and read one per receive. answer decides the
// answers to change number i (from 0; BEGIN, COMMIT and ABORT are not
// counted); nil gives an ACK, and a reply first for RULE_NEW.
type txSocket struct {
	t      *testing.T
	answer func(i int, req netlink.Message, g genetlink.Message) []datagram

	mu      sync.Mutex
	queue   []datagram
	n       int
	rcvbuf  int
	expired bool
}

func (s *txSocket) Close() error { return nil }

func (s *txSocket) Send(m netlink.Message) error { return s.SendMessages([]netlink.Message{m}) }

func (s *txSocket) SendMessages(ms []netlink.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, req := range ms {
		if req.Header.Type == unix.GENL_ID_CTRL {
			s.queue = append(s.queue, datagram{msgs: familyReply(s.t, req)})
			continue
		}
		var g genetlink.Message
		if err := g.UnmarshalBinary(req.Data); err != nil {
			s.t.Fatal(err)
		}
		reply := func(data []byte) datagram {
			gm, _ := (&genetlink.Message{Header: g.Header, Data: data}).MarshalBinary()
			return datagram{msgs: []netlink.Message{{Header: netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID}, Data: gm}}}
		}
		ack := func(errno int) datagram {
			msgs, _ := nltest.Error(errno, []netlink.Message{req})
			return datagram{msgs: msgs}
		}
		switch g.Header.Command {
		case nlproto.CMD_RULES_BEGIN, nlproto.CMD_RULES_COMMIT:
			s.queue = append(s.queue, reply(golden(s.t, "0800 0f00 01000000")))
			continue
		case nlproto.CMD_RULES_ABORT:
			s.queue = append(s.queue, ack(0))
			continue
		}
		i := s.n
		s.n++
		if dgs := s.answer(i, req, g); dgs != nil {
			s.queue = append(s.queue, dgs...)
			continue
		}
		if g.Header.Command == nlproto.CMD_RULE_NEW {
			data := golden(s.t, "1000 1180 0c00 0200 0000000000000000")
			binary.NativeEndian.PutUint64(data[8:], uint64(100+i))
			s.queue = append(s.queue, reply(data))
		}
		s.queue = append(s.queue, ack(0))
	}
	return nil
}

func (s *txSocket) Receive() ([]netlink.Message, error) {
	var msgs []netlink.Message
	for m, err := range s.ReceiveIter() {
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func (s *txSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		s.mu.Lock()
		if s.expired || len(s.queue) == 0 {
			s.mu.Unlock()
			// Nothing will come: as a read deadline would end it.
			yield(netlink.Message{}, os.ErrDeadlineExceeded)
			return
		}
		d := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
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

func (s *txSocket) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *txSocket) JoinGroup(uint32) error  { return errors.New("unexpected join") }
func (s *txSocket) LeaveGroup(uint32) error { return nil }
func (s *txSocket) SetDeadline(t time.Time) error {
	return s.SetReadDeadline(t)
}

func (s *txSocket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = !t.IsZero() && !t.After(time.Now())
	return nil
}

func (s *txSocket) SetWriteDeadline(time.Time) error { return nil }

func (s *txSocket) SetReadBuffer(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcvbuf = n
	return nil
}

func (s *txSocket) SetWriteBuffer(int) error  { return nil }
func (s *txSocket) ReadBuffer() (int, error)  { return s.rcvbuf, nil }
func (s *txSocket) WriteBuffer() (int, error) { return 0, nil }

// txSocketClient is a client on s, which it may open once.
func txSocketClient(t *testing.T, s *txSocket) *Client {
	t.Helper()
	s.t = t
	used := false
	c, err := newClient(func() (*genetlink.Conn, *netlink.Conn, error) {
		if used {
			return nil, nil, errors.New("test connection already used")
		}
		used = true
		nl := netlink.NewConn(s, 1)
		return genetlink.NewConn(nl), nl, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
