//go:build linux

package fakemod

import (
	"iter"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A socket is one netlink socket of a client, connected to the module. It
// supports what the client uses: requests, multicast groups, deadlines
// (which wake a blocked receive, as the kernel's do), buffers and close.
type socket struct {
	m   *Module
	pid uint32

	mu       sync.Mutex
	queue    [][]netlink.Message // datagrams waiting to be received
	groups   map[uint32]bool
	deadline time.Time
	closed   bool
	rcvbuf   int
	wake     chan struct{} // signalled on every change above
}

func (s *socket) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliver queues a datagram for the socket.
func (s *socket) deliver(dg []netlink.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.queue = append(s.queue, dg)
	s.signal()
}

func (s *socket) Close() error {
	s.mu.Lock()
	s.closed = true
	s.signal()
	s.mu.Unlock()
	s.m.drop(s)
	return nil
}

func (s *socket) Send(m netlink.Message) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return os.ErrClosed
	}
	if m.Header.PID == 0 {
		m.Header.PID = s.pid
	}
	if dgs := s.m.handle(m); dgs != nil {
		dgs = s.m.holdBack(s, dgs)
		if d := s.m.delayOf(m); d > 0 {
			time.AfterFunc(d, func() {
				for _, dg := range dgs {
					s.deliver(dg)
				}
			})
			return nil
		}
		for _, dg := range dgs {
			s.deliver(dg)
		}
	}
	return nil
}

func (s *socket) SendMessages(ms []netlink.Message) error {
	for _, m := range ms {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// receive blocks until a datagram arrives, the deadline passes or the
// socket is closed.
func (s *socket) receive() ([]netlink.Message, error) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return nil, os.ErrClosed
		case len(s.queue) > 0:
			dg := s.queue[0]
			s.queue = s.queue[1:]
			s.mu.Unlock()
			if dg == nil {
				// Overrun: the kernel dropped datagrams for this socket.
				return nil, os.NewSyscallError("recvmsg", unix.ENOBUFS)
			}
			return dg, nil
		case !s.deadline.IsZero() && !time.Now().Before(s.deadline):
			s.mu.Unlock()
			return nil, os.ErrDeadlineExceeded
		}
		var timer <-chan time.Time
		if !s.deadline.IsZero() {
			t := time.NewTimer(time.Until(s.deadline))
			defer t.Stop()
			timer = t.C
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-timer:
		}
	}
}

func (s *socket) Receive() ([]netlink.Message, error) { return s.receive() }

func (s *socket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		dg, err := s.receive()
		if err != nil {
			yield(netlink.Message{}, err)
			return
		}
		for _, m := range dg {
			if !yield(m, nil) {
				return
			}
		}
	}
}

func (s *socket) JoinGroup(group uint32) error {
	return s.m.join(s, group)
}

func (s *socket) LeaveGroup(group uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.groups, group)
	return nil
}

func (s *socket) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

func (s *socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	s.signal()
	return nil
}

func (s *socket) SetWriteDeadline(time.Time) error { return nil }

func (s *socket) SetReadBuffer(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcvbuf = n
	return nil
}

func (s *socket) SetWriteBuffer(int) error { return nil }

func (s *socket) ReadBuffer() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcvbuf, nil
}

func (s *socket) WriteBuffer() (int, error) { return 0, nil }
