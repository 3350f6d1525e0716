package nflab

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nflab/nflab/gotool/internal/nlclient"
)

// A CTEventType says what happened to a tracked connection.
type CTEventType uint8

// The event types.
const (
	CTEventNew     CTEventType = CTEventType(nlclient.EventNew)     // the entry joined the table (its first packet was accepted)
	CTEventUpdate  CTEventType = CTEventType(nlclient.EventUpdate)  // its TCP state, or its SEEN_REPLY or ASSURED status, changed
	CTEventDestroy CTEventType = CTEventType(nlclient.EventDestroy) // it left the table; Conn has its final counters
	CTEventLost    CTEventType = CTEventType(nlclient.EventLost)    // events were lost; dump the table to resynchronise
)

var ctEventNames = [...]string{
	CTEventNew:     "new",
	CTEventUpdate:  "update",
	CTEventDestroy: "destroy",
	CTEventLost:    "lost",
}

// String returns "new", "update", "destroy" or "lost", or "CTEventType(N)"
// for another number.
func (t CTEventType) String() string {
	if t > 0 && int(t) < len(ctEventNames) {
		return ctEventNames[t]
	}
	return "CTEventType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns String.
func (t CTEventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText accepts what MarshalText writes, ignoring case.
func (t *CTEventType) UnmarshalText(b []byte) error {
	s := string(b)
	for i, name := range ctEventNames[1:] {
		if strings.EqualFold(s, name) {
			*t = CTEventType(i + 1)
			return nil
		}
	}
	if n, ok := parseWrapped(s, "CTEventType", 8); ok {
		*t = CTEventType(n)
		return nil
	}
	return fmt.Errorf("nflab: unknown event type %q (want new, update, destroy or lost)", s)
}

// A CTEvent is a change of one tracked connection, or CTEventLost.
type CTEvent struct {
	Type CTEventType
	Conn Conn // the entry after the change; zero for CTEventLost
}

// DefaultWatchReadBuffer is the receive buffer WatchConns asks for: room
// for a few thousand events, enough for a burst of new connections.
const DefaultWatchReadBuffer = 1 << 20

// WatchOptions tune WatchConnsWithOptions; the zero value gives WatchConns.
type WatchOptions struct {
	// ReadBuffer is the size in bytes of the event socket's receive
	// buffer; 0 means DefaultWatchReadBuffer. The kernel drops events that
	// do not fit, and the watch then reports CTEventLost: a small buffer
	// provokes that, which is what tests want.
	ReadBuffer int
}

// WatchConns calls fn for each change of the tracked connections in the
// client's network namespace, in the order the module reported them,
// until ctx is done, and then returns nil. An error from fn ends the watch
// and is returned as is. It needs CAP_NET_ADMIN; without it the error
// satisfies errors.Is(err, os.ErrPermission). If the module is unloaded
// meanwhile, the watch ends with ErrNotLoaded.
//
// The events arrive on a netlink socket of their own, so the client's
// other methods may be called meanwhile, from fn too. The module never
// waits for a slow listener: when the socket's receive buffer overflows,
// the kernel drops events, and fn gets a CTEvent of type CTEventLost; the
// watch goes on. The caller's picture of the table is then stale, and
// Conns gives a fresh one. Events received after that dump may predate
// it.
//
// Events carry whole entries, so a caller may select them with
// CTFilter.Match, as Conns would with the same filter.
func (c *Client) WatchConns(ctx context.Context, fn func(CTEvent) error) error {
	return c.WatchConnsWithOptions(ctx, WatchOptions{}, fn)
}

// WatchConnsWithOptions is WatchConns with settings for the event socket.
func (c *Client) WatchConnsWithOptions(ctx context.Context, opts WatchOptions, fn func(CTEvent) error) error {
	if opts.ReadBuffer < 0 {
		return fmt.Errorf("nflab: watch: read buffer %d is negative", opts.ReadBuffer)
	}
	if opts.ReadBuffer == 0 {
		opts.ReadBuffer = DefaultWatchReadBuffer
	}
	return c.b.WatchConns(ctx, opts.ReadBuffer, func(e nlclient.Event) error {
		ev := CTEvent{Type: CTEventType(e.Type)}
		if e.Type != nlclient.EventLost {
			ev.Conn = fromConn(e.Conn)
		}
		return fn(ev)
	})
}

// Match reports whether f selects c, as the module decides for Conns,
// DeleteConns and FlushConns: by c's original tuple, status and TCP state.
// f should be valid (see Validate); zero fields match anything.
func (f CTFilter) Match(c Conn) bool {
	o := c.Orig
	switch {
	case f.Proto != 0 && o.Proto != f.Proto:
		return false
	case f.TCPState != nil && (o.Proto != TCP || c.TCPState != *f.TCPState):
		return false
	case f.Src.IsValid() && !f.Src.Contains(o.Src):
		return false
	case f.Dst.IsValid() && !f.Dst.Contains(o.Dst):
		return false
	case f.SrcPort != 0 && o.SrcPort != f.SrcPort:
		return false
	case f.DstPort != 0 && o.DstPort != f.DstPort:
		return false
	}
	return c.Status&f.Status == f.Status
}
