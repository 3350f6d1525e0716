//go:build linux

package nlclient

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// A Client is a generic netlink connection bound to the nflab family.
// It is safe for concurrent use: mu makes each request and its replies,
// a whole dump included, one exchange on the socket.
type Client struct {
	mu     sync.Mutex
	c      *genetlink.Conn
	family genetlink.Family
}

// recvBufferSize is the buffer every recvmsg gets. The kernel sizes the
// parts of a dump by the buffer the reader last offered (up to 32 KiB); left
// to peek at each message, mdlayher/netlink would offer only the size of
// the last part and keep the parts small. A datagram that does not fit is
// reported (MSG_TRUNC), never cut silently.
const recvBufferSize = 32 << 10

// New dials generic netlink and looks up the nflab family.
func New() (*Client, error) {
	// Strict turns on extended ACKs, so the kernel's reason for a
	// rejection reaches the user, and strict checking of our requests.
	c, err := genetlink.Dial(&netlink.Config{Strict: true, MessageBufferSize: recvBufferSize})
	if err != nil {
		return nil, wrapErr("open generic netlink socket", err)
	}
	return initClient(c)
}

// initClient binds an open connection (a fake one, in tests) to the family.
func initClient(c *genetlink.Conn) (*Client, error) {
	f, err := c.GetFamily(nlproto.GENL_NAME)
	if err != nil {
		_ = c.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, ErrNotLoaded
		}
		return nil, wrapErr("look up generic netlink family "+nlproto.GENL_NAME, err)
	}
	return &Client{c: c, family: f}, nil
}

// Close closes the netlink socket.
func (c *Client) Close() error { return c.c.Close() }

// Version asks the module for its version and protocol version.
func (c *Client) Version() (Version, error) {
	const op = "get version"
	m, err := c.get(op, nlproto.CMD_GET_VERSION)
	if err != nil {
		return Version{}, err
	}
	v, err := parseVersion(m.Data)
	if err != nil {
		return Version{}, malformed(op, err)
	}
	return v, nil
}

// HookStats asks for the packet and byte counters of the five hooks.
func (c *Client) HookStats() ([]HookStat, error) {
	const op = "get hook stats"
	m, err := c.get(op, nlproto.CMD_GET_HOOK_STATS)
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
func (c *Client) ResetHookStats() error {
	return c.ack("reset hook stats", request(nlproto.CMD_RESET_HOOK_STATS))
}

// Conns dumps the connection tracking table, or the entries f selects.
func (c *Client) Conns(f Filter) ([]Conn, error) {
	const op = "dump connections"
	req, err := requestAttrs(nlproto.CMD_CT_GET, func(ae *netlink.AttributeEncoder) {
		if f != (Filter{}) {
			encodeFilter(ae, f)
		}
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	msgs, err := c.dump(op, req)
	if err != nil {
		return nil, err
	}
	conns := make([]Conn, 0, len(msgs))
	for _, m := range msgs {
		ct, err := parseConnMsg(m.Data)
		if err != nil {
			return nil, malformed(op, err)
		}
		conns = append(conns, ct)
	}
	return conns, nil
}

// Conn looks up the entry with tuple t in either direction; ErrNoConn if
// there is none.
func (c *Client) Conn(t Tuple) (Conn, error) {
	const op = "get connection"
	req, err := requestAttrs(nlproto.CMD_CT_GET, func(ae *netlink.AttributeEncoder) {
		encodeTuple(ae, nlproto.A_CT_TUPLE, t)
	})
	if err != nil {
		return Conn{}, wrapErr(op, err)
	}
	m, err := c.do(op, req)
	if err != nil {
		return Conn{}, noConn(err)
	}
	ct, err := parseConnMsg(m.Data)
	if err != nil {
		return Conn{}, malformed(op, err)
	}
	return ct, nil
}

// DeleteConn deletes the entry with tuple t; ErrNoConn if there is none.
func (c *Client) DeleteConn(t Tuple) error {
	_, err := c.count("delete connection", nlproto.CMD_CT_DELETE, func(ae *netlink.AttributeEncoder) {
		encodeTuple(ae, nlproto.A_CT_TUPLE, t)
	})
	return noConn(err)
}

// DeleteConns deletes the entries f selects and returns how many.
func (c *Client) DeleteConns(f Filter) (uint32, error) {
	return c.count("delete connections", nlproto.CMD_CT_DELETE, func(ae *netlink.AttributeEncoder) {
		encodeFilter(ae, f)
	})
}

// FlushConns deletes every entry, or those f selects, and returns how many.
func (c *Client) FlushConns(f Filter) (uint32, error) {
	return c.count("flush connections", nlproto.CMD_CT_FLUSH, func(ae *netlink.AttributeEncoder) {
		if f != (Filter{}) {
			encodeFilter(ae, f)
		}
	})
}

// RunCTGC removes the expired entries now and returns how many.
func (c *Client) RunCTGC() (uint32, error) {
	return c.count("run conntrack gc", nlproto.CMD_CT_GC, func(*netlink.AttributeEncoder) {})
}

// ConnCount returns the number of entries and the most the table may hold.
func (c *Client) ConnCount() (count, limit uint32, err error) {
	const op = "count connections"
	m, err := c.get(op, nlproto.CMD_CT_COUNT)
	if err != nil {
		return 0, 0, err
	}
	count, limit, err = parseCount(m.Data, true)
	if err != nil {
		return 0, 0, malformed(op, err)
	}
	return count, limit, nil
}

// CTStats returns the tracker's counters.
func (c *Client) CTStats() (CTStats, error) {
	const op = "get conntrack stats"
	m, err := c.get(op, nlproto.CMD_CT_STATS)
	if err != nil {
		return CTStats{}, err
	}
	s, err := parseCTStats(m.Data)
	if err != nil {
		return CTStats{}, malformed(op, err)
	}
	return s, nil
}

// CTConfig returns every conntrack setting.
func (c *Client) CTConfig() (CTConfig, error) {
	const op = "get conntrack config"
	m, err := c.get(op, nlproto.CMD_CT_GET_CONFIG)
	if err != nil {
		return CTConfig{}, err
	}
	cfg, err := parseCTConfig(m.Data)
	if err != nil {
		return CTConfig{}, malformed(op, err)
	}
	return cfg, nil
}

// SetCTConfig changes the settings cfg carries; the module replies with an
// ACK only.
func (c *Client) SetCTConfig(cfg CTConfig) error {
	const op = "set conntrack config"
	req, err := requestAttrs(nlproto.CMD_CT_SET_CONFIG, func(ae *netlink.AttributeEncoder) {
		encodeConfig(ae, cfg)
	})
	if err != nil {
		return wrapErr(op, err)
	}
	return c.ack(op, req)
}

// count runs a command that replies with NFLAB_A_CT_COUNT: like a read,
// one reply message and no ACK.
func (c *Client) count(op string, cmd uint8, encode func(*netlink.AttributeEncoder)) (uint32, error) {
	req, err := requestAttrs(cmd, encode)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	m, err := c.do(op, req)
	if err != nil {
		return 0, err
	}
	n, _, err := parseCount(m.Data, false)
	if err != nil {
		return 0, malformed(op, err)
	}
	return n, nil
}

// noConn turns the ENOENT of a command naming one tuple into ErrNoConn.
// opErr has already told a vanished module (ErrNotLoaded) apart.
func noConn(err error) error {
	if errors.Is(err, unix.ENOENT) {
		return ErrNoConn
	}
	return err
}

// ack runs a "do" command that replies with an ACK only. It asks for the
// ACK so that success is confirmed rather than assumed.
func (c *Client) ack(op string, req genetlink.Message) error {
	c.mu.Lock()
	_, err := c.c.Execute(req, c.family.ID, netlink.Request|netlink.Acknowledge)
	c.mu.Unlock()
	if err != nil {
		return c.opErr(op, err)
	}
	return nil
}

// get runs a "do" command without attributes that answers with exactly one
// message.
func (c *Client) get(op string, cmd uint8) (genetlink.Message, error) {
	return c.do(op, request(cmd))
}

// do runs a "do" command that answers with exactly one message. It does
// not ask for an ACK: the kernel would send it as a second datagram after
// the reply, and the next request would read it as its own answer.
func (c *Client) do(op string, req genetlink.Message) (genetlink.Message, error) {
	c.mu.Lock()
	msgs, err := c.c.Execute(req, c.family.ID, netlink.Request)
	c.mu.Unlock()
	if err != nil {
		return genetlink.Message{}, c.opErr(op, err)
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
func (c *Client) dump(op string, req genetlink.Message) ([]genetlink.Message, error) {
	c.mu.Lock()
	msgs, err := dump(c.c, c.family.ID, req)
	c.mu.Unlock()
	if err != nil {
		return nil, c.opErr(op, err)
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
func (c *Client) opErr(op string, err error) error {
	// A dump needs a reference on the module; while rmmod is under way
	// the kernel refuses it with EPROTONOSUPPORT.
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return ErrNotLoaded
	}
	if errors.Is(err, unix.ENOENT) {
		f, lerr := c.c.GetFamily(nlproto.GENL_NAME)
		if errors.Is(lerr, unix.ENOENT) || (lerr == nil && f.ID != c.family.ID) {
			return ErrNotLoaded
		}
	}
	return wrapErr(op, err)
}

// maxDumpAttempts bounds how often dump restarts a dump the kernel marked
// inconsistent; a table that changes on every pass must not hang the caller.
const maxDumpAttempts = 5

// errDumpInterrupted is returned when every dump attempt was interrupted.
var errDumpInterrupted = errors.New("the kernel's table kept changing during the dump (NLM_F_DUMP_INTR)")

// dump runs a dump request and returns its replies. A reply flagged
// NLM_F_DUMP_INTR means the table changed mid-dump, so the parts may not
// fit together; mdlayher/netlink does not look at the flag, so dump checks
// every message and starts over, at most maxDumpAttempts times.
//
// dump uses Send and Receive rather than Execute, so callers sharing the
// connection must not send other requests meanwhile; Client.dump holds mu.
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
	return nil, fmt.Errorf("%w, gave up after %d attempts", errDumpInterrupted, maxDumpAttempts)
}

func interrupted(msgs []netlink.Message) bool {
	for _, m := range msgs {
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			return true
		}
	}
	return false
}

// opError names the operation that failed. It unwraps to the netlink error
// so errors.Is(err, os.ErrPermission) and errors.As(err, **netlink.OpError)
// work, and spells out the kernel's extended ACK message.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	why := e.err.Error()
	var oe *netlink.OpError
	if errors.As(e.err, &oe) {
		// OpError's own text ("netlink receive: ..., offset: 0,
		// message: ...") is written for netlink developers.
		why = oe.Err.Error()
		if oe.Message != "" {
			why += ": " + oe.Message
		}
	}
	return "nflab: " + e.op + ": " + why
}

func (e *opError) Unwrap() error { return e.err }

func wrapErr(op string, err error) error {
	return &opError{op: op, err: err}
}

func malformed(op string, err error) error {
	return &opError{op: op, err: fmt.Errorf("malformed reply: %w", err)}
}
