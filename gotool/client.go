package nflab

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/nlproto"
)

// ProtocolVersion is the NFLAB_PROTO_VERSION this client speaks.
const ProtocolVersion = nlproto.PROTO_VERSION

// ErrNotLoaded is returned by Dial when the kernel module is not loaded
// (the "nflab" generic netlink family does not exist).
var ErrNotLoaded = nlclient.ErrNotLoaded

// Version is the running module's version.
type Version struct {
	Module   string // the module's own version string
	Protocol uint32 // the NFLAB_PROTO_VERSION it speaks
}

// HookStat is what nflab counted at one hook since load or the last reset.
type HookStat struct {
	Hook    Hook
	Packets uint64
	Bytes   uint64 // IP header included
}

// A ProtocolError is returned by Dial when the module speaks a protocol
// version other than ProtocolVersion: a command or attribute may then
// mean something else, so the client refuses to talk to it.
type ProtocolError struct {
	Module Version // what the running module reported
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("nflab: module %s speaks protocol %d, this client speaks %d; use a matching module and client",
		e.Module.Module, e.Module.Protocol, ProtocolVersion)
}

// backend is the OS-specific transport; tests fake it.
type backend interface {
	Close() error
	Version() (nlclient.Version, error)
	HookStats() ([]nlclient.HookStat, error)
	ResetHookStats() error

	Conns(nlclient.Filter) ([]nlclient.Conn, error)
	Conn(nlclient.Tuple) (nlclient.Conn, error)
	DeleteConn(nlclient.Tuple) error
	DeleteConns(nlclient.Filter) (uint32, error)
	FlushConns(nlclient.Filter) (uint32, error)
	ConnCount() (count, limit uint32, err error)
	CTStats() (nlclient.CTStats, error)
	CTConfig() (nlclient.CTConfig, error)
	SetCTConfig(nlclient.CTConfig) error
	RunCTGC() (uint32, error)

	WatchConns(ctx context.Context, readBuffer int, fn func(nlclient.Event) error) error
}

// A Client talks to the nflab module in the caller's network namespace.
// It is safe for concurrent use.
type Client struct {
	b backend
}

// Dial connects to the nflab module and checks that it speaks
// ProtocolVersion. It fails with ErrNotLoaded when the module is absent
// and with a *ProtocolError when the versions differ.
func Dial() (*Client, error) {
	b, err := newBackend()
	if err != nil {
		return nil, err
	}
	return newClient(b)
}

func newClient(b backend) (*Client, error) {
	c := &Client{b: b}
	v, err := c.Version()
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	if v.Protocol != ProtocolVersion {
		_ = b.Close()
		return nil, &ProtocolError{Module: v}
	}
	return c, nil
}

// Close releases the netlink socket.
func (c *Client) Close() error { return c.b.Close() }

// Version returns the running module's version.
func (c *Client) Version() (Version, error) {
	v, err := c.b.Version()
	if err != nil {
		return Version{}, err
	}
	return Version{Module: v.Module, Protocol: v.Protocol}, nil
}

// HookStats returns the counters of every hook, in hook order. Anyone may
// read them.
func (c *Client) HookStats() ([]HookStat, error) {
	raw, err := c.b.HookStats()
	if err != nil {
		return nil, err
	}
	stats := make([]HookStat, 0, len(raw))
	for _, s := range raw {
		stats = append(stats, HookStat{Hook: Hook(s.Hook), Packets: s.Packets, Bytes: s.Bytes})
	}
	// The module sends hook order already; sorting keeps that promise
	// independent of it.
	slices.SortFunc(stats, func(a, b HookStat) int { return cmp.Compare(a.Hook, b.Hook) })
	return stats, nil
}

// ResetHookStats sets every hook's counters back to zero. It needs
// CAP_NET_ADMIN; without it the error satisfies
// errors.Is(err, os.ErrPermission).
func (c *Client) ResetHookStats() error { return c.b.ResetHookStats() }
