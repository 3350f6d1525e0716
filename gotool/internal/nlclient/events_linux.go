//go:build linux

package nlclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// WatchConns receives the notifications of the "ct" multicast group on a
// socket of its own, never the request socket: a request's replies and
// the notifications would otherwise interleave, and a dump run to
// resynchronise (from fn, on the request socket) could not share it.
// The socket is opened in the client's network namespace. See watch for
// the rest.
func (c *Client) WatchConns(ctx context.Context, readBuffer int, fn func(nftypes.ConnEvent) error) error {
	conn, _, err := c.openSocket()
	if err != nil {
		return asOpError("watch connections", err)
	}
	defer conn.Close()
	return c.watch(ctx, conn, readBuffer, fn)
}

// watch joins the "ct" group on conn, an event socket (a fake one, in
// tests), and calls fn for each event in the order received until ctx is
// done (it then returns nil), the client is closed (it then returns
// net.ErrClosed), fn fails (it returns fn's error) or receiving fails.
// ENOBUFS is reported as EventLost; see listen.
func (c *Client) watch(ctx context.Context, conn *genetlink.Conn, readBuffer int, fn func(nftypes.ConnEvent) error) error {
	return c.listen(ctx, conn, readBuffer, listener{
		group:   nlproto.MCGRP_CT,
		op:      "watch connections",
		missing: "it predates conntrack events",
		recvOp:  "receive conntrack events",
		handle: func(m genetlink.Message, nm netlink.Message) error {
			ev, ok, err := c.parseEvent(m, nm)
			if err != nil || !ok {
				return err
			}
			return fn(ev)
		},
		lost: func() error { return fn(nftypes.ConnEvent{Type: nftypes.EventLost}) },
	})
}

// A listener says what listen listens to and what it does with it.
type listener struct {
	group   string // the multicast group of the family, such as "ct"
	op      string // the watch, in errors: "watch connections"
	missing string // why a family may lack the group, in errors
	recvOp  string // receiving, in errors: "receive conntrack events"
	// listening, if not nil, runs once the socket listens, before the
	// first receive: whatever the module sends from then on is received.
	listening func() error
	// handle gets each message of the family; its error ends the watch.
	handle func(genetlink.Message, netlink.Message) error
	// lost is called for each ENOBUFS; its error ends the watch.
	lost func() error
}

// listen joins l's group on conn, an event socket (a fake one, in tests),
// and passes each message of the family to l.handle in the order received
// until ctx is done (it then returns nil), the client is closed (it then
// returns net.ErrClosed), a callback fails (it returns that error) or
// receiving fails.
//
// ENOBUFS from a receive means the kernel dropped notifications because
// the receive buffer was full; listen reports it to l.lost and goes on
// listening. It never sets NETLINK_NO_ENOBUFS, which would hide the loss.
//
// The module can be unloaded while the watch runs, and a group whose
// family is gone simply falls silent; so listen also joins nlctrl's
// "notify" group and ends with ErrNotLoaded when the family is removed.
func (c *Client) listen(ctx context.Context, conn *genetlink.Conn, readBuffer int, l listener) error {
	if ctx.Err() != nil {
		return nil
	}
	if err := setReadBuffer(conn, readBuffer); err != nil {
		return wrapErr("set the event socket's receive buffer", err)
	}
	// nlctrl's "notify" group has the controller's own id; it is joined
	// before the family is looked up, so no removal after the lookup
	// goes unseen.
	if err := conn.JoinGroup(unix.GENL_ID_CTRL); err != nil {
		return wrapErr("join generic netlink group nlctrl/notify", err)
	}
	group, err := c.groupID(ctx, l.group, l.op, l.missing)
	if err != nil {
		return err
	}
	if err := conn.JoinGroup(group); err != nil {
		// EPERM without CAP_NET_ADMIN; opError unwraps to it.
		return wrapErr("join multicast group "+nlproto.GENL_NAME+"/"+l.group, err)
	}
	if l.listening != nil {
		if err := l.listening(); err != nil {
			return err
		}
	}

	// A read deadline in the past wakes a Receive blocked now and makes
	// every later one return at once, so cancellation is prompt.
	wake := func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) }
	stopCtx := context.AfterFunc(ctx, wake)
	defer stopCtx()
	stopLife := context.AfterFunc(c.life, wake)
	defer stopLife()
	for {
		if c.life.Err() != nil {
			return &OpError{Op: l.op, Err: net.ErrClosed}
		}
		if ctx.Err() != nil {
			return nil
		}
		msgs, nmsgs, err := conn.Receive()
		switch {
		case c.life.Err() != nil || ctx.Err() != nil:
			continue
		case errors.Is(err, unix.ENOBUFS):
			if err := l.lost(); err != nil {
				return err
			}
			continue
		case err != nil:
			return wrapErr(l.recvOp, err)
		}
		for i, m := range msgs {
			switch nmsgs[i].Header.Type {
			case netlink.HeaderType(c.family.ID):
			case unix.GENL_ID_CTRL:
				if m.Header.Command == unix.CTRL_CMD_DELFAMILY && familyID(m.Data) == c.family.ID {
					return ErrNotLoaded
				}
				continue
			default:
				continue
			}
			if err := l.handle(m, nmsgs[i]); err != nil {
				return err
			}
			if ctx.Err() != nil || c.life.Err() != nil {
				break
			}
		}
	}
}

// groupID looks the family up again, on the request socket, for the id of
// its multicast group name. A family that is gone, or registered again
// under a new id by a reload, is not the module this client talks to:
// ErrNotLoaded. A family without the group fails op, saying why
// (missing).
func (c *Client) groupID(ctx context.Context, name, op, missing string) (uint32, error) {
	const lookup = "look up generic netlink family " + nlproto.GENL_NAME
	var f family
	err := c.exchange(ctx, lookup, 0, func(conn *genetlink.Conn) error {
		var err error
		f, err = getFamily(conn)
		return err
	})
	if errors.Is(err, ErrNotLoaded) || errors.Is(err, unix.ENOENT) || (err == nil && f.ID != c.family.ID) {
		return 0, ErrNotLoaded
	}
	if err != nil {
		return 0, err
	}
	for _, g := range f.Groups {
		if g.Name == name {
			return g.ID, nil
		}
	}
	return 0, wrapErr(op, fmt.Errorf("the module has no %q multicast group; %s", name, missing))
}

// parseEvent turns one received message into an Event. ok is false for
// messages that are not events: other families' and nlctrl's, and commands
// of the group this client does not know (a newer module's). The removal
// of the family is ErrNotLoaded.
func (c *Client) parseEvent(m genetlink.Message, nm netlink.Message) (ev nftypes.ConnEvent, ok bool, err error) {
	const op = "receive conntrack event"
	switch nm.Header.Type {
	case netlink.HeaderType(c.family.ID):
	case unix.GENL_ID_CTRL:
		if m.Header.Command == unix.CTRL_CMD_DELFAMILY && familyID(m.Data) == c.family.ID {
			return nftypes.ConnEvent{}, false, ErrNotLoaded
		}
		return nftypes.ConnEvent{}, false, nil
	default:
		return nftypes.ConnEvent{}, false, nil
	}
	switch m.Header.Command {
	case nlproto.CMD_CT_EVENT_NEW:
		ev.Type = nftypes.EventNew
	case nlproto.CMD_CT_EVENT_UPDATE:
		ev.Type = nftypes.EventUpdate
	case nlproto.CMD_CT_EVENT_DESTROY:
		ev.Type = nftypes.EventDestroy
	default:
		return nftypes.ConnEvent{}, false, nil
	}
	ev.Conn, err = parseConnMsg(m.Data)
	if err != nil {
		return nftypes.ConnEvent{}, false, malformed(op, fmt.Errorf("command %d: %w", m.Header.Command, err))
	}
	return ev, true, nil
}

// familyID returns the CTRL_ATTR_FAMILY_ID of an nlctrl notification, or
// 0 (never a family's id) if it has none.
func familyID(b []byte) uint16 {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return 0
	}
	var id uint16
	for ad.Next() {
		if ad.Type() == unix.CTRL_ATTR_FAMILY_ID {
			id = ad.Uint16()
		}
	}
	if ad.Err() != nil {
		return 0
	}
	return id
}

// setReadBuffer sizes the socket's receive buffer, which decides how large
// a burst of events may be before the kernel drops some. SO_RCVBUF is
// capped by net.core.rmem_max (often 208 KiB); SO_RCVBUFFORCE is not, and
// needs CAP_NET_ADMIN, which joining the group needs anyway. As ctnetlink
// listeners such as conntrack(8) do, try the latter first.
func setReadBuffer(conn *genetlink.Conn, n int) error {
	if rc, err := conn.SyscallConn(); err == nil {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
		})
		if err == nil && serr == nil {
			return nil
		}
	}
	return conn.SetReadBuffer(n)
}
