package nflab

import (
	"context"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Conns returns the entries f selects; the zero ConnFilter selects all.
// A dump the module flags as interrupted (today's never is) is repeated a
// few times before giving up with ErrDumpInterrupted. It needs CAP_NET_ADMIN.
// Cancelling ctx aborts the dump.
func (c *Client) Conns(ctx context.Context, f nftypes.ConnFilter) ([]nftypes.Conn, error) {
	if err := c.checkFilter("dump connections", f); err != nil {
		return nil, err
	}
	return c.b.Conns(ctx, f)
}

// CheckConnFilter checks, without sending anything, that the module can
// take f, as Conns and DeleteConns check it before they send it: a
// *ValidationError if f is invalid, and, from a module older than protocol
// 4, which has no NAT, an *OpError wrapping errors.ErrUnsupported if f
// selects by the SRC_NAT or DST_NAT status bits. A caller that selects
// WatchConns' events with f.Match checks f first: such a module sets
// those bits on no entry, so the watch would show nothing, and Conns with
// f, to catch up after a loss, would fail.
func (c *Client) CheckConnFilter(f nftypes.ConnFilter) error {
	return c.checkFilter("filter connections", f)
}

// checkFilter is CheckConnFilter for op.
func (c *Client) checkFilter(op string, f nftypes.ConnFilter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if what := filterNAT(f); what != "" && c.proto < natProtocol {
		return errNoNAT(op, c.proto, what)
	}
	return nil
}

// Conn returns the entry with tuple t in either direction. If there is
// none, the error satisfies errors.Is(err, os.ErrNotExist). It needs
// CAP_NET_ADMIN.
//
// While a trace runs, a module of protocol 6 or newer reports with the
// entry its History: its last changes caused by packets a trace followed.
// An empty History means there were none, no trace runs, or the module
// predates protocol 6; KeepsConnHistory tells the last apart.
func (c *Client) Conn(ctx context.Context, t nftypes.Tuple) (nftypes.Conn, error) {
	if err := t.Validate(); err != nil {
		return nftypes.Conn{}, err
	}
	return c.b.Conn(ctx, t)
}

// DeleteConn deletes the entry with tuple t in either direction. If there
// is none, the error satisfies errors.Is(err, os.ErrNotExist). It needs
// CAP_NET_ADMIN.
func (c *Client) DeleteConn(ctx context.Context, t nftypes.Tuple) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return c.b.DeleteConn(ctx, t)
}

// DeleteConns deletes the entries f selects and returns how many; the
// zero ConnFilter selects, and deletes, every entry. It needs
// CAP_NET_ADMIN.
func (c *Client) DeleteConns(ctx context.Context, f nftypes.ConnFilter) (int, error) {
	if err := c.checkFilter("delete connections", f); err != nil {
		return 0, err
	}
	n, err := c.b.DeleteConns(ctx, f)
	return int(n), err
}

// ConnCount returns the number of entries in the table and the most it may
// hold. Anyone may read them.
func (c *Client) ConnCount(ctx context.Context) (count, limit int, err error) {
	n, l, err := c.b.ConnCount(ctx)
	return int(n), int(l), err
}

// TrackerStats returns the tracker's counters. Anyone may read them.
func (c *Client) TrackerStats(ctx context.Context) (nftypes.TrackerStats, error) {
	return c.b.TrackerStats(ctx)
}

// TrackerConfig returns every setting of the tracker. Anyone may read them.
func (c *Client) TrackerConfig(ctx context.Context) (nftypes.TrackerConfig, error) {
	return c.b.TrackerConfig(ctx)
}

// SetTrackerConfig changes the settings cfg carries, all or none. It needs
// CAP_NET_ADMIN.
func (c *Client) SetTrackerConfig(ctx context.Context, cfg nftypes.TrackerConfig) error {
	if cfg.Limit == nil && cfg.TCPLoose == nil && len(cfg.Timeouts) == 0 {
		return &ValidationError{Field: "config", Reason: "nothing to set"}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return c.b.SetTrackerConfig(ctx, cfg)
}

// RunGC removes every expired entry now and returns how many. It needs
// CAP_NET_ADMIN.
func (c *Client) RunGC(ctx context.Context) (int, error) {
	n, err := c.b.RunGC(ctx)
	return int(n), err
}

// DefaultWatchReadBuffer is the receive buffer WatchConns asks for by
// default: room for a few thousand events, enough for a burst of new
// connections.
const DefaultWatchReadBuffer = 1 << 20

// WatchOptions tune WatchConns, WatchTraces and FollowTrace; nil or the
// zero value gives the defaults.
type WatchOptions struct {
	// ReadBuffer is the size in bytes of the event socket's receive
	// buffer; 0 means DefaultWatchReadBuffer. The kernel drops events that
	// do not fit, and the watch then reports the loss (EventLost, a
	// TraceLoss): a small buffer provokes that, which is what tests want.
	ReadBuffer int
}

// WatchConns calls fn for each change of the tracked connections in the
// client's network namespace, in the order the module reported them. It
// returns nil when ctx is done, net.ErrClosed (wrapped in an *OpError)
// when the client is closed, and fn's error as is when fn fails. It needs
// CAP_NET_ADMIN; without it the error satisfies
// errors.Is(err, os.ErrPermission). If the module is unloaded meanwhile,
// the watch ends with ErrNotLoaded. opts may be nil.
//
// The events arrive on a netlink socket of their own, opened in the
// client's namespace, so the client's other methods may be called
// meanwhile, from fn too. The module never waits for a slow listener:
// when the socket's receive buffer overflows, the kernel drops events,
// and fn gets a ConnEvent of type EventLost; the watch goes on. The
// caller's picture of the table is then stale, and Conns gives a fresh
// one. Events received after that dump may predate it.
//
// Events carry whole entries, so a caller may select them with
// ConnFilter.Match, as Conns selects entries with the same filter, once
// CheckConnFilter has accepted it: a module older than protocol 4 sets no
// SRC_NAT or DST_NAT bit, so a filter on them matches no event there,
// while Conns refuses it.
func (c *Client) WatchConns(ctx context.Context, opts *WatchOptions, fn func(nftypes.ConnEvent) error) error {
	rb, err := watchBuffer(opts)
	if err != nil {
		return err
	}
	return c.b.WatchConns(ctx, rb, fn)
}
