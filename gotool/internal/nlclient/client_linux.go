//go:build linux

package nlclient

import (
	"errors"
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// A Client is a generic netlink connection bound to the nflab family.
// It is safe for concurrent use: genetlink.Conn.Execute serialises requests.
type Client struct {
	c      *genetlink.Conn
	family genetlink.Family
}

// New dials generic netlink and looks up the nflab family.
func New() (*Client, error) {
	// Strict turns on extended ACKs, so the kernel's reason for a
	// rejection reaches the user, and strict checking of our requests.
	c, err := genetlink.Dial(&netlink.Config{Strict: true})
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
	// The command replies with an ACK only; ask for it so that success
	// is confirmed rather than assumed.
	_, err := c.c.Execute(request(nlproto.CMD_RESET_HOOK_STATS), c.family.ID,
		netlink.Request|netlink.Acknowledge)
	if err != nil {
		return c.opErr("reset hook stats", err)
	}
	return nil
}

// get runs a "do" command that answers with exactly one message. It does
// not ask for an ACK: the kernel would send it as a second datagram after
// the reply, and the next request would read it as its own answer.
func (c *Client) get(op string, cmd uint8) (genetlink.Message, error) {
	msgs, err := c.c.Execute(request(cmd), c.family.ID, netlink.Request)
	if err != nil {
		return genetlink.Message{}, c.opErr(op, err)
	}
	if len(msgs) != 1 {
		return genetlink.Message{}, malformed(op, fmt.Errorf("got %d messages, want 1", len(msgs)))
	}
	if got := msgs[0].Header.Command; got != cmd {
		return genetlink.Message{}, malformed(op, fmt.Errorf("reply has command %d, want %d", got, cmd))
	}
	return msgs[0], nil
}

// opErr wraps the error of a request. The kernel answers ENOENT for a
// family id it does not know, which happens when the module is unloaded
// between the family lookup and the request: if the family is gone, or was
// registered again under a new id by a reload, the module this client talked
// to is not loaded any more; that is ErrNotLoaded, not a failure of the
// command.
func (c *Client) opErr(op string, err error) error {
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
// connection must not send other requests meanwhile.
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
