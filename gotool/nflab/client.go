package nflab

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// ProtocolVersion is the NFLAB_PROTO_VERSION this client speaks, and
// ProtocolCompat the oldest protocol version whose modules it can use.
const (
	ProtocolVersion = nlproto.PROTO_VERSION
	ProtocolCompat  = nlproto.PROTO_COMPAT
)

// The errors of the backend, re-exported as they are: errors.Is and
// errors.As work with either name.
var (
	// ErrNotLoaded is returned when the kernel module is not loaded (the
	// "nflab" generic netlink family does not exist), by Dial or by a
	// method when the module goes away.
	ErrNotLoaded = nlclient.ErrNotLoaded

	// ErrDumpInterrupted is returned by Conns when the module flagged
	// every one of its few attempts as inconsistent (NLM_F_DUMP_INTR):
	// the table kept changing. Today's module never flags a dump; a
	// module that does may succeed when tried again later.
	ErrDumpInterrupted = nlclient.ErrDumpInterrupted
)

// An OpError is the failure of one operation on the module; the package
// documentation says what its Err may be. It is the backend's type,
// re-exported: Op names the operation, Err is what failed it (the
// kernel's syscall.Errno, errors.ErrUnsupported, a context error,
// net.ErrClosed, ...) and Message is the kernel's extended ACK text, or
// the client's reason when it refused the operation before sending it.
type OpError = nlclient.OpError

// A ValidationError says why an argument cannot be sent; it is returned
// before anything is sent. It is nftypes.ValidationError.
type ValidationError = nftypes.ValidationError

// A ProtocolError is returned by Dial when the module's protocol range
// does not meet this client's: a command or attribute may then mean
// something else, so the client refuses to talk to it.
type ProtocolError struct {
	Module nftypes.Version // what the running module reported
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("nflab: module %s speaks protocol %d (serving clients from %d), this client speaks %d (using modules from %d); use a matching module and client",
		e.Module.Module, e.Module.Protocol, e.Module.Compat, ProtocolVersion, ProtocolCompat)
}

// compatible reports whether a module reporting v can serve this client
// and this client understand it: each side's oldest supported version is
// no newer than the other side's version.
func compatible(v nftypes.Version) bool {
	return v.Compat <= ProtocolVersion && ProtocolCompat <= v.Protocol
}

// DialOptions tune Dial; nil or the zero value gives the defaults.
type DialOptions struct {
	// NetNS is a file descriptor of the network namespace to talk to the
	// module in, such as an open /run/netns/NAME; 0 means the namespace
	// of the calling thread at Dial time. Dial keeps a descriptor of its
	// own, so the caller may close NetNS once Dial returns, and every
	// socket the client opens later, such as a watch's, is in that
	// namespace whatever thread opens it. Entering another namespace than
	// the calling thread's needs CAP_SYS_ADMIN.
	NetNS int
}

// backend is the OS-specific transport: nlclient on Linux.
type backend interface {
	Close() error
	Version(context.Context) (nftypes.Version, error)
	HookStats(context.Context) ([]nftypes.HookStat, error)
	ResetHookStats(context.Context) error

	Conns(context.Context, nftypes.ConnFilter) ([]nftypes.Conn, error)
	Conn(context.Context, nftypes.Tuple) (nftypes.Conn, error)
	DeleteConn(context.Context, nftypes.Tuple) error
	DeleteConns(context.Context, nftypes.ConnFilter) (uint32, error)
	ConnCount(context.Context) (count, limit uint32, err error)
	TrackerStats(context.Context) (nftypes.TrackerStats, error)
	TrackerConfig(context.Context) (nftypes.TrackerConfig, error)
	SetTrackerConfig(context.Context, nftypes.TrackerConfig) error
	RunGC(context.Context) (uint32, error)

	WatchConns(ctx context.Context, readBuffer int, fn func(nftypes.ConnEvent) error) error

	AddTrace(context.Context, nftypes.TraceSpec) (nftypes.Trace, error)
	Traces(context.Context) ([]nftypes.Trace, error)
	DeleteTrace(ctx context.Context, id uint32) error
	DeleteTraces(context.Context) (uint32, error)
	WatchTraces(ctx context.Context, readBuffer int, listening func() error, fn func(nftypes.TraceReport) error) error
	// Detached returns a socket of its own for the requests of a trace's
	// follower (op), which Close does not end.
	Detached(op string) (traceBackend, error)

	Chains(context.Context) ([]nftypes.Chain, uint32, error)
	Rules(context.Context) ([]nftypes.Rule, uint32, error)
	Rule(context.Context, uint64) (nftypes.Rule, error)
	Sets(ctx context.Context, name string, withElems bool) ([]nftypes.Set, uint32, error)
	ResetRules(context.Context, *uint64) error
	Begin(ctx context.Context, replace bool, gen *uint32) (txBackend, error)
}

// traceBackend is what a trace's follower asks of the module, on a
// socket of its own (backend.Detached).
type traceBackend interface {
	Close() error
	AddTrace(context.Context, nftypes.TraceSpec) (nftypes.Trace, error)
	Traces(context.Context) ([]nftypes.Trace, error)
	DeleteTrace(ctx context.Context, id uint32) error
}

// A Client talks to the nflab module in one network namespace. It is safe
// for concurrent use by multiple goroutines. Dial makes one; the zero
// Client is not usable.
type Client struct {
	b     backend
	proto uint32 // the module's protocol version, read at Dial
}

// Dial connects to the nflab module and checks that its protocol range
// meets this client's. It fails with ErrNotLoaded when the module is
// absent and with a *ProtocolError when the two cannot talk. opts may be
// nil.
func Dial(opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if opts.NetNS < 0 {
		return nil, &ValidationError{Field: "dial", Reason: fmt.Sprintf("network namespace descriptor %d is negative", opts.NetNS)}
	}
	b, err := newBackend(opts.NetNS)
	if err != nil {
		return nil, err
	}
	c := &Client{b: b}
	v, err := c.Version(context.Background())
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	if !compatible(v) {
		_ = b.Close()
		return nil, &ProtocolError{Module: v}
	}
	c.proto = v.Protocol
	return c, nil
}

// Close releases the client's sockets and ends its running watches, which
// then return net.ErrClosed. It is safe to call more than once, and
// concurrently with other methods; methods called after it fail with an
// error satisfying errors.Is(err, net.ErrClosed).
func (c *Client) Close() error { return c.b.Close() }

// Version returns the running module's version. Anyone may read it.
func (c *Client) Version(ctx context.Context) (nftypes.Version, error) {
	return c.b.Version(ctx)
}

// HookStats returns the counters of every hook, in hook order. Anyone may
// read them.
func (c *Client) HookStats(ctx context.Context) ([]nftypes.HookStat, error) {
	stats, err := c.b.HookStats(ctx)
	if err != nil {
		return nil, err
	}
	// The module sends hook order already; sorting keeps that promise
	// independent of it.
	slices.SortFunc(stats, func(a, b nftypes.HookStat) int { return cmp.Compare(a.Hook, b.Hook) })
	return stats, nil
}

// ResetHookStats sets every hook's counters back to zero. It needs
// CAP_NET_ADMIN; without it the error satisfies
// errors.Is(err, os.ErrPermission).
func (c *Client) ResetHookStats(ctx context.Context) error { return c.b.ResetHookStats(ctx) }

func itoa(n int) string { return fmt.Sprint(n) }
