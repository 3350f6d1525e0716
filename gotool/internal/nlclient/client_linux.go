//go:build linux

package nlclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/internal/testhook"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// A Client is a generic netlink connection bound to the nflab family.
// It is safe for concurrent use: sem makes each request and its replies,
// a whole dump included, one exchange on the request socket, and a caller
// waiting for its turn still honours its context and Close. An open
// transaction (Tx) holds sem from Begin to its end, since the kernel ties
// it to the socket.
//
// A context that ends an exchange early leaves the socket with a deadline
// set and, for a dump, parts of the reply unread; the socket is then
// discarded and the next exchange opens a new one (in the client's
// namespace, with the family already known).
type Client struct {
	family family
	open   func() (*genetlink.Conn, *netlink.Conn, error)
	netns  *os.File // the pinned namespace, closed by Close; nil in tests

	life      context.Context // done once Close is called
	closeLife context.CancelFunc
	closeOnce sync.Once

	// nsMu keeps Close from closing netns while a socket is being opened
	// in it: a watch opens its socket without holding sem.
	nsMu sync.RWMutex

	// sem holds one token; whoever holds it owns conn. It is a channel,
	// not a mutex, so that a caller waiting behind a long dump can give
	// up when its context is done or the client is closed.
	sem  chan struct{}
	conn *genetlink.Conn // the request socket; nil when discarded or closed
	// nl is conn's netlink connection, for batches of messages in one
	// sendmsg; nil when only conn is known (tests over genltest).
	nl *netlink.Conn
}

// recvBufferSize is the buffer every recvmsg gets. The kernel sizes the
// parts of a dump by the buffer the reader last offered (up to 32 KiB); left
// to peek at each message, mdlayher/netlink would offer only the size of
// the last part and keep the parts small. A datagram that does not fit is
// reported (MSG_TRUNC), never cut silently.
const recvBufferSize = 32 << 10

// Dial opens a generic netlink socket in the network namespace netns (a
// file descriptor; 0 for the calling thread's), looks up the nflab family
// and returns a client bound to it. The namespace is pinned: Dial keeps
// its own descriptor of it, and every socket the client opens later, for
// watches or to replace a discarded one, is opened in it.
//
// If testhook has a dial function, Dial uses it instead of the kernel.
func Dial(netns int) (*Client, error) {
	if fn := testhook.Get(); fn != nil {
		return newClient(func() (*genetlink.Conn, *netlink.Conn, error) {
			nl, err := fn(netns)
			if err != nil {
				return nil, nil, err
			}
			return genetlink.NewConn(nl), nl, nil
		}, nil)
	}
	ns, err := pinNetNS(netns)
	if err != nil {
		return nil, &OpError{Op: "open network namespace", Err: err}
	}
	c, err := newClient(func() (*genetlink.Conn, *netlink.Conn, error) { return dialIn(ns) }, ns)
	if err != nil {
		_ = ns.Close()
		return nil, err
	}
	return c, nil
}

// pinNetNS returns a descriptor of its own for the namespace fd, or for
// the calling thread's namespace if fd is 0.
func pinNetNS(fd int) (*os.File, error) {
	if fd == 0 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return os.Open("/proc/thread-self/ns/net")
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(nfd), "netns"), nil
}

// dialIn opens a generic netlink socket in the namespace ns. Entering a
// namespace (setns) needs CAP_SYS_ADMIN, which readers of the version and
// counters do not have; so when ns is the calling thread's namespace the
// socket is opened right there, on that thread.
func dialIn(ns *os.File) (*genetlink.Conn, *netlink.Conn, error) {
	cfg := &netlink.Config{Strict: true, MessageBufferSize: recvBufferSize}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if !sameFile(ns, "/proc/thread-self/ns/net") {
		cfg.NetNS = int(ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		return nil, nil, &OpError{Op: "open generic netlink socket", Err: unwrapNetlink(err)}
	}
	return genetlink.NewConn(c), c, nil
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// newClient opens the request socket with open and binds it to the family.
func newClient(open func() (*genetlink.Conn, *netlink.Conn, error), ns *os.File) (*Client, error) {
	conn, nl, err := open()
	if err != nil {
		return nil, err
	}
	f, err := getFamily(conn)
	if err != nil {
		_ = conn.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, ErrNotLoaded
		}
		return nil, wrapErr("look up generic netlink family "+nlproto.GENL_NAME, err)
	}
	c := &Client{family: f, open: open, netns: ns, conn: conn, nl: nl, sem: make(chan struct{}, 1)}
	c.life, c.closeLife = context.WithCancel(context.Background())
	return c, nil
}

// Close closes the request socket and ends every running watch. It is
// idempotent; after it, every method fails with net.ErrClosed.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		// Wakes the exchange under way, if any, and every watch; the
		// exchange then gives the token back.
		c.closeLife()
		c.sem <- struct{}{}
		if c.conn != nil {
			err = c.conn.Close()
			c.conn, c.nl = nil, nil
		}
		<-c.sem
		c.nsMu.Lock()
		if c.netns != nil {
			_ = c.netns.Close()
		}
		c.nsMu.Unlock()
	})
	return err
}

// Detached returns a client of a request socket of its own, in c's
// namespace and bound to c's family, that c's Close does not end: for
// requests that must still be made once c is closed, such as the deletion
// of a trace whose follower c's Close stopped. The caller closes it. A
// socket it has to replace (after a deadline ended an exchange) is opened
// as c's are, which fails once c is closed. op names the work in errors.
func (c *Client) Detached(op string) (*Client, error) {
	conn, nl, err := c.openSocket()
	if err != nil {
		return nil, asOpError(op, err)
	}
	d := &Client{family: c.family, open: c.openSocket, conn: conn, nl: nl, sem: make(chan struct{}, 1)}
	d.life, d.closeLife = context.WithCancel(context.Background())
	return d, nil
}

// openSocket opens a new socket in the client's namespace, or fails with
// net.ErrClosed once Close has been called.
func (c *Client) openSocket() (*genetlink.Conn, *netlink.Conn, error) {
	c.nsMu.RLock()
	defer c.nsMu.RUnlock()
	if c.life.Err() != nil {
		return nil, nil, net.ErrClosed
	}
	return c.open()
}

// Supports reports whether the module's family lists command cmd. A
// family that lists no commands at all is assumed to have them all;
// command 0 stands for requests to nlctrl, always there.
func (c *Client) Supports(cmd uint8) bool {
	return cmd == 0 || c.family.ops == nil || c.family.ops[cmd]
}

// exchange runs fn on the request socket, alone, and turns its error
// into the error of op (see opErr). It ends fn early when ctx is done or
// the client is closed, by setting a deadline in the past on the socket.
//
// The socket is discarded, and the next exchange opens a new one, whenever
// it may hold a reply nobody will read: after a deadline, and after any
// failure other than the kernel's answer to the request (an errno in an
// NLMSG_ERROR or NLMSG_DONE), such as a receive error, a truncated
// datagram or a reply that does not match the request. mdlayher/netlink
// reports an NLMSG_ERROR without checking its sequence number, so a
// socket with stale replies must never be reused.
func (c *Client) exchange(ctx context.Context, op string, cmd uint8, fn func(conn *genetlink.Conn) error) error {
	if err := c.acquire(ctx, op, cmd); err != nil {
		return err
	}
	defer c.release()
	return c.run(ctx, op, fn)
}

// acquire takes the request slot (sem) for one exchange or a transaction,
// once it is sure the module has command cmd. It gives up when ctx is done
// or the client is closed.
func (c *Client) acquire(ctx context.Context, op string, cmd uint8) error {
	if !c.Supports(cmd) {
		return &OpError{Op: op, Err: errors.ErrUnsupported,
			Message: fmt.Sprintf("the module's family has no command %d", cmd)}
	}
	if err := ctx.Err(); err != nil {
		return &OpError{Op: op, Err: err}
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return &OpError{Op: op, Err: ctx.Err()}
	case <-c.life.Done():
		return &OpError{Op: op, Err: net.ErrClosed}
	}
	return nil
}

// release gives the request slot back.
func (c *Client) release() { <-c.sem }

// run is exchange's work, for a caller holding the request slot: it opens
// the request socket if there is none, runs fn on it and discards it
// when it may hold unread replies (see exchange).
func (c *Client) run(ctx context.Context, op string, fn func(conn *genetlink.Conn) error) error {
	if c.life.Err() != nil {
		return &OpError{Op: op, Err: net.ErrClosed}
	}
	if err := ctx.Err(); err != nil {
		return &OpError{Op: op, Err: err}
	}
	if c.conn == nil {
		conn, nl, err := c.openSocket()
		if err != nil {
			return asOpError(op, err)
		}
		c.conn, c.nl = conn, nl
	}
	conn := c.conn
	wake := func() { _ = conn.SetDeadline(time.Unix(1, 0)) }
	stopCtx := context.AfterFunc(ctx, wake)
	stopLife := context.AfterFunc(c.life, wake)
	err := fn(conn)
	// Both stop functions must run: one left registered on c.life would
	// keep the socket referenced until Close.
	ctxFired, lifeFired := !stopCtx(), !stopLife()
	if ctxFired || lifeFired || !reusable(err) {
		_ = conn.Close()
		c.conn, c.nl = nil, nil
	}
	switch {
	case err == nil:
		return nil
	case lifeFired || c.life.Err() != nil:
		return &OpError{Op: op, Err: net.ErrClosed}
	case ctxFired:
		return &OpError{Op: op, Err: ctx.Err()}
	case errors.Is(err, ErrDumpInterrupted):
		return err
	case c.conn == nil:
		// Not the kernel's answer; the socket is gone, so do not ask it
		// whether the family is still there.
		return wrapErr(op, err)
	}
	return c.opErr(conn, op, err)
}

// reusable reports whether the request socket is clean after a request
// that failed with err: the request was answered in full, by replies or by
// the kernel's errno (which mdlayher/netlink reports as a bare
// syscall.Errno, whereas a failed system call is an *os.SyscallError).
func reusable(err error) bool {
	if err == nil || errors.Is(err, ErrDumpInterrupted) {
		return true
	}
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return false
	}
	_, ok := oe.Err.(syscall.Errno)
	return ok
}

// Version asks the module for its version and protocol versions.
func (c *Client) Version(ctx context.Context) (nftypes.Version, error) {
	const op = "get version"
	m, err := c.get(ctx, op, nlproto.CMD_GET_VERSION)
	if err != nil {
		return nftypes.Version{}, err
	}
	v, err := parseVersion(m.Data)
	if err != nil {
		return nftypes.Version{}, malformed(op, err)
	}
	return v, nil
}

// HookStats asks for the packet and byte counters of the five hooks.
func (c *Client) HookStats(ctx context.Context) ([]nftypes.HookStat, error) {
	const op = "get hook stats"
	m, err := c.get(ctx, op, nlproto.CMD_GET_HOOK_STATS)
	if err != nil {
		return nil, err
	}
	stats, err := parseHookStats(m.Data)
	if err != nil {
		return nil, malformed(op, err)
	}
	return stats, nil
}

// ResetHookStats zeroes the hook counters; it needs CAP_NET_ADMIN.
func (c *Client) ResetHookStats(ctx context.Context) error {
	return c.ack(ctx, "reset hook stats", request(nlproto.CMD_RESET_HOOK_STATS))
}

// Conns dumps the connection tracking table, or the entries f selects.
func (c *Client) Conns(ctx context.Context, f nftypes.ConnFilter) ([]nftypes.Conn, error) {
	const op = "dump connections"
	req, err := requestAttrs(nlproto.CMD_CT_GET, func(ae *netlink.AttributeEncoder) {
		if f != (nftypes.ConnFilter{}) {
			encodeFilter(ae, f)
		}
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	msgs, err := c.dump(ctx, op, req)
	if err != nil {
		return nil, err
	}
	conns := make([]nftypes.Conn, 0, len(msgs))
	for _, m := range msgs {
		ct, err := parseConnMsg(m.Data)
		if err != nil {
			return nil, malformed(op, err)
		}
		conns = append(conns, ct)
	}
	return conns, nil
}

// Conn looks up the entry with tuple t in either direction, with its
// history if the module sends one; an *OpError wrapping ENOENT if there
// is none.
func (c *Client) Conn(ctx context.Context, t nftypes.Tuple) (nftypes.Conn, error) {
	const op = "get connection"
	req, err := requestAttrs(nlproto.CMD_CT_GET, func(ae *netlink.AttributeEncoder) {
		encodeTuple(ae, nlproto.A_CT_TUPLE, t)
	})
	if err != nil {
		return nftypes.Conn{}, wrapErr(op, err)
	}
	m, err := c.do(ctx, op, req)
	if err != nil {
		return nftypes.Conn{}, err
	}
	ct, err := parseConnMsg(m.Data)
	if err != nil {
		return nftypes.Conn{}, malformed(op, err)
	}
	return ct, nil
}

// DeleteConn deletes the entry with tuple t; an *OpError wrapping ENOENT
// if there is none.
func (c *Client) DeleteConn(ctx context.Context, t nftypes.Tuple) error {
	_, err := c.count(ctx, "delete connection", nlproto.CMD_CT_DELETE, func(ae *netlink.AttributeEncoder) {
		encodeTuple(ae, nlproto.A_CT_TUPLE, t)
	})
	return err
}

// DeleteConns deletes the entries f selects, every entry for the zero
// filter, and returns how many. The module's CT_DELETE wants a non-empty
// filter and CT_FLUSH takes an optional one; a zero f is a flush.
func (c *Client) DeleteConns(ctx context.Context, f nftypes.ConnFilter) (uint32, error) {
	if f == (nftypes.ConnFilter{}) {
		return c.count(ctx, "flush connections", nlproto.CMD_CT_FLUSH, func(*netlink.AttributeEncoder) {})
	}
	return c.count(ctx, "delete connections", nlproto.CMD_CT_DELETE, func(ae *netlink.AttributeEncoder) {
		encodeFilter(ae, f)
	})
}

// RunGC removes the expired entries now and returns how many.
func (c *Client) RunGC(ctx context.Context) (uint32, error) {
	return c.count(ctx, "run conntrack gc", nlproto.CMD_CT_GC, func(*netlink.AttributeEncoder) {})
}

// ConnCount returns the number of entries and the most the table may hold.
func (c *Client) ConnCount(ctx context.Context) (count, limit uint32, err error) {
	const op = "count connections"
	m, err := c.get(ctx, op, nlproto.CMD_CT_COUNT)
	if err != nil {
		return 0, 0, err
	}
	count, limit, err = parseCount(m.Data, true)
	if err != nil {
		return 0, 0, malformed(op, err)
	}
	return count, limit, nil
}

// TrackerStats returns the tracker's counters.
func (c *Client) TrackerStats(ctx context.Context) (nftypes.TrackerStats, error) {
	const op = "get conntrack stats"
	m, err := c.get(ctx, op, nlproto.CMD_CT_STATS)
	if err != nil {
		return nftypes.TrackerStats{}, err
	}
	s, err := parseCTStats(m.Data)
	if err != nil {
		return nftypes.TrackerStats{}, malformed(op, err)
	}
	return s, nil
}

// TrackerConfig returns every conntrack setting.
func (c *Client) TrackerConfig(ctx context.Context) (nftypes.TrackerConfig, error) {
	const op = "get conntrack config"
	m, err := c.get(ctx, op, nlproto.CMD_CT_GET_CONFIG)
	if err != nil {
		return nftypes.TrackerConfig{}, err
	}
	cfg, err := parseCTConfig(m.Data)
	if err != nil {
		return nftypes.TrackerConfig{}, malformed(op, err)
	}
	return cfg, nil
}

// SetTrackerConfig changes the settings cfg carries; the module replies
// with an ACK only.
func (c *Client) SetTrackerConfig(ctx context.Context, cfg nftypes.TrackerConfig) error {
	const op = "set conntrack config"
	req, err := requestAttrs(nlproto.CMD_CT_SET_CONFIG, func(ae *netlink.AttributeEncoder) {
		encodeConfig(ae, cfg)
	})
	if err != nil {
		return wrapErr(op, err)
	}
	return c.ack(ctx, op, req)
}

// count runs a command that replies with NFLAB_A_CT_COUNT: like a read,
// one reply message and no ACK.
func (c *Client) count(ctx context.Context, op string, cmd uint8, encode func(*netlink.AttributeEncoder)) (uint32, error) {
	req, err := requestAttrs(cmd, encode)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	m, err := c.do(ctx, op, req)
	if err != nil {
		return 0, err
	}
	n, _, err := parseCount(m.Data, false)
	if err != nil {
		return 0, malformed(op, err)
	}
	return n, nil
}

// ack runs a "do" command that replies with an ACK only. It asks for the
// ACK so that success is confirmed rather than assumed.
func (c *Client) ack(ctx context.Context, op string, req genetlink.Message) error {
	return c.exchange(ctx, op, req.Header.Command, func(conn *genetlink.Conn) error {
		_, err := conn.Execute(req, c.family.ID, netlink.Request|netlink.Acknowledge)
		return err
	})
}

// get runs a "do" command without attributes that answers with exactly one
// message.
func (c *Client) get(ctx context.Context, op string, cmd uint8) (genetlink.Message, error) {
	return c.do(ctx, op, request(cmd))
}

// do runs a "do" command that answers with exactly one message. It does
// not ask for an ACK: the kernel would send it as a second datagram after
// the reply, and the next request would read it as its own answer.
func (c *Client) do(ctx context.Context, op string, req genetlink.Message) (genetlink.Message, error) {
	var msgs []genetlink.Message
	err := c.exchange(ctx, op, req.Header.Command, func(conn *genetlink.Conn) error {
		var err error
		msgs, err = conn.Execute(req, c.family.ID, netlink.Request)
		return err
	})
	if err != nil {
		return genetlink.Message{}, err
	}
	if len(msgs) != 1 {
		return genetlink.Message{}, malformed(op, fmt.Errorf("got %d messages, want 1", len(msgs)))
	}
	if got, want := msgs[0].Header.Command, req.Header.Command; got != want {
		return genetlink.Message{}, malformed(op, fmt.Errorf("reply has command %d, want %d", got, want))
	}
	return msgs[0], nil
}

// dump runs a dump request on the client's socket (see dump) and checks
// that every part answers the request's command.
func (c *Client) dump(ctx context.Context, op string, req genetlink.Message) ([]genetlink.Message, error) {
	var msgs []genetlink.Message
	err := c.exchange(ctx, op, req.Header.Command, func(conn *genetlink.Conn) error {
		var err error
		msgs, err = dump(conn, c.family.ID, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if got, want := m.Header.Command, req.Header.Command; got != want {
			return nil, malformed(op, fmt.Errorf("dump part has command %d, want %d", got, want))
		}
	}
	return msgs, nil
}

// opErr wraps the error of a request. The kernel answers ENOENT for a
// family id it does not know, which happens when the module is unloaded
// between the family lookup and the request: if the family is gone, or was
// registered again under a new id by a reload, the module this client talked
// to is not loaded any more; that is ErrNotLoaded, not a failure of the
// command.
func (c *Client) opErr(conn *genetlink.Conn, op string, err error) error {
	// A dump needs a reference on the module; while rmmod is under way
	// the kernel refuses it with EPROTONOSUPPORT.
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return ErrNotLoaded
	}
	if errors.Is(err, unix.ENOENT) {
		f, lerr := getFamily(conn)
		if errors.Is(lerr, unix.ENOENT) || (lerr == nil && f.ID != c.family.ID) {
			return ErrNotLoaded
		}
	}
	return wrapErr(op, err)
}

// maxDumpAttempts bounds how often dump restarts a dump the kernel marked
// inconsistent; a table that changes on every pass must not hang the caller.
const maxDumpAttempts = 5

// dump runs a dump request and returns its replies. A reply flagged
// NLM_F_DUMP_INTR means the table changed mid-dump, so the parts may not
// fit together; mdlayher/netlink does not look at the flag, so dump checks
// every message and starts over, at most maxDumpAttempts times.
//
// dump uses Send and Receive rather than Execute, so callers sharing the
// connection must not send other requests meanwhile; Client.dump holds the
// request slot (sem).
//
// Limitation: mdlayher/netlink drops the final NLMSG_DONE without showing
// it, so a change flagged only on NLMSG_DONE goes unnoticed; the kernel side
// flags the data messages too (genl_dump_check_consistent).
func dump(c *genetlink.Conn, family uint16, req genetlink.Message) ([]genetlink.Message, error) {
	for range maxDumpAttempts {
		nreq, err := c.Send(req, family, netlink.Request|netlink.Dump)
		if err != nil {
			return nil, err
		}
		msgs, nmsgs, err := c.Receive()
		if err != nil {
			return nil, err
		}
		if err := netlink.Validate(nreq, nmsgs); err != nil {
			return nil, err
		}
		if !interrupted(nmsgs) {
			return msgs, nil
		}
	}
	return nil, ErrDumpInterrupted
}

func interrupted(msgs []netlink.Message) bool {
	for _, m := range msgs {
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			return true
		}
	}
	return false
}

// wrapErr turns the error of a netlink call into an *OpError whose Err
// is the bare syscall.Errno where there is one, and whose Message is the
// kernel's extended ACK text.
func wrapErr(op string, err error) error {
	e := &OpError{Op: op, Err: err}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		e.Err, e.Message = oe.Err, oe.Message
	}
	var se *os.SyscallError
	if errors.As(e.Err, &se) {
		e.Err = se.Err
	}
	return e
}

// unwrapNetlink returns the errno inside a netlink error, or err.
func unwrapNetlink(err error) error {
	return wrapErr("", err).(*OpError).Err
}

// asOpError returns err if it is an *OpError already, else wraps it.
func asOpError(op string, err error) error {
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	return wrapErr(op, err)
}

func malformed(op string, err error) error {
	return &OpError{Op: op, Err: fmt.Errorf("malformed reply: %w", err)}
}
