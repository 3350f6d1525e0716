// Package nflab is the Go client of the nflab kernel module: over the
// generic netlink family "nflab" it reads the module's version and per-hook
// counters and resets the counters; it lists, looks up and deletes the
// module's tracked connections, follows their changes as they happen
// (Client.WatchConns), and reads and changes the tracker's settings. It
// reads the rule engine's ruleset (Client.Ruleset, Rules, Chains, Sets)
// and changes it in transactions: all at once (Client.ApplyRuleset) or
// change by change (Client.Begin and Tx). It starts and ends packet
// traces (Client.AddTrace, DeleteTrace, DeleteTraces, Traces), which
// report what happens to chosen packets at each hook, and follows their
// events (Client.WatchTraces, FollowTrace), losses included.
//
// The values it reports and takes are the types of package nftypes
// (Conn, Tuple, ConnFilter, TrackerConfig, ...), shared with the internal
// netlink backend as wgctrl shares wgtypes. The wire protocol lives in
// package nlproto and its source, nflab.h; this package speaks it through
// an internal Linux-only backend, so on other systems Dial fails with an
// error wrapping errors.ErrUnsupported.
//
// # Errors
//
// Dial returns ErrNotLoaded when the module is not loaded, and any method
// does when the module goes away meanwhile. Arguments are checked before
// anything is sent; what is wrong is a *ValidationError (an alias of
// nftypes.ValidationError). Every failure of an operation on the module is
// an *OpError naming the operation, whose Err is the kernel's errno as a
// syscall.Errno and whose Message is the kernel's extended ACK text, if
// any; for an operation the client refuses before sending it
// (errors.ErrUnsupported, below), Message is the client's reason. So,
// without matching error text:
//
//   - a missing entry (Conn, DeleteConn) or trace (DeleteTrace) satisfies
//     errors.Is(err, os.ErrNotExist) and errors.Is(err, unix.ENOENT);
//   - a missing capability (CAP_NET_ADMIN, needed by every method that
//     changes something, by the conntrack dumps and lookups, by every
//     trace method and by WatchConns) satisfies errors.Is(err, os.ErrPermission) and
//     errors.Is(err, unix.EPERM);
//   - a command the running module does not have, or NAT (the nat table,
//     a NAT action, the SRC_NAT and DST_NAT status bits in a ConnFilter or
//     a ct status match) sent to a module older than protocol 4 (see
//     Compatibility), or a trace method called on a module older than
//     protocol 6, satisfies errors.Is(err, errors.ErrUnsupported), and
//     nothing is sent;
//   - a trace beyond the namespace's nftypes.MaxTraces (AddTrace,
//     FollowTrace) satisfies errors.Is(err, unix.ENOSPC);
//   - an operation ended by its context satisfies errors.Is(err,
//     context.Canceled) or errors.Is(err, context.DeadlineExceeded);
//   - an operation on a closed client satisfies errors.Is(err,
//     net.ErrClosed).
//
// Changes sent in a batch (ApplyRuleset, and the slices of a large set's
// elements) fail with a *ChangeError wrapping the *OpError of the first
// change the module rejected and saying which one it was. A Tx that has
// ended fails with ErrTxDone.
//
// Conns returns ErrDumpInterrupted when the module flagged each of its few
// attempts at a dump as inconsistent (NLM_F_DUMP_INTR). Today's module never
// does (its dumps resume after the last entry sent, see nflab.h); the retry
// is kept for a module that does, as the protocol allows. Dial returns a *ProtocolError
// when the module and the client cannot talk. ErrNotLoaded, OpError and
// ErrDumpInterrupted are defined by the internal backend, which returns
// them, and re-exported here as the same values and types, so errors.Is
// and errors.As work with these names.
//
// # Contexts
//
// Every method takes a context. When it is done before the module answers,
// the method returns at once: the client wakes its blocked receive with a
// deadline and, since the socket may then hold the rest of a reply,
// discards it and opens a new one for the next call.
//
// # Concurrency
//
// A Client is safe for concurrent use by multiple goroutines. Requests are
// serialised on one request socket, a whole dump at a time, and an open
// Tx holds the socket until Commit or Abort (the kernel ties a
// transaction to its socket), so the client's other calls wait for it; each
// WatchConns, WatchTraces and FollowTrace has a socket of its own, so a
// watch's callback may call the client's other methods. Close may be called at any time, more than once:
// it closes the request socket, makes later calls fail with net.ErrClosed
// and ends running watches, which return an error satisfying
// errors.Is(err, net.ErrClosed) (a watch whose context is done returns
// nil). A FollowTrace so ended still deletes its trace: its requests have
// a socket of their own too, which Close leaves to it.
//
// # Network namespaces
//
// The module keeps one table and one set of counters per network
// namespace, and every command acts on the namespace of the socket that
// sends it. A client talks to the namespace given by DialOptions.NetNS, or
// to the calling thread's namespace at Dial time, which Dial pins by
// opening /proc/thread-self/ns/net. The sockets opened later, by
// WatchConns or to replace a discarded one, are opened in that namespace
// too, whatever the namespace of the thread that opens them.
//
// # Compatibility
//
// The protocol has a version (ProtocolVersion, NFLAB_PROTO_VERSION) and the
// oldest version it still serves (ProtocolCompat, NFLAB_PROTO_COMPAT).
// Dial accepts a module reporting version Vm and compat Cm when
// Cm <= ProtocolVersion and ProtocolCompat <= Vm (a module that reports no
// compat has Cm = Vm); else it returns a *ProtocolError. A newer module may
// send attributes, enum values and status bits this client does not know:
// the client skips the attributes and keeps the values, which print as
// numbers (see nftypes). An older module may lack a command: the client
// reads the family's operations at Dial and fails such a method with
// errors.ErrUnsupported without sending it. It may also lack NAT, which
// protocol 4 added to existing commands: the nat table, the NAT actions
// and the SRC_NAT and DST_NAT status bits. Such a module would refuse them
// only with its netlink policy's bare words, so for a module older than
// protocol 4 the client fails with errors.ErrUnsupported, without sending
// anything, the Tx methods given a chain of table nat or a rule that needs
// NAT (in table nat, with a NAT action, or matching ct status SRC_NAT or
// DST_NAT), ApplyRuleset given such a chain or rule, and Conns,
// DeleteConns and CheckConnFilter given a filter on those status bits.
// Likewise every trace method fails with errors.ErrUnsupported on a module
// older than protocol 6, which has no traces; HookStats of such a module
// has no drop counters (nil HookStat.Drops), and Conn no History
// (KeepsConnHistory says whether the module keeps one).
// Accepting built-in chains of table nat are what such a module has in
// effect: ApplyRuleset leaves them out, and Tx.SetPolicy of accept on one
// does nothing and succeeds.
//
// # Testing
//
// Tests in this module can build a real Client over a fake module: see
// package gotool/internal/fakemod (Module.Install) and
// gotool/internal/testhook.
package nflab
