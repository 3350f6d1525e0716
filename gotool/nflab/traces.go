package nflab

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Packet traces (protocol 6): a trace follows the packets its selector
// chooses through nflab's hooks, and the module sends an event per hook
// they cross, and when they go away, to the "trace" multicast group.

// AddTrace starts a trace of s and returns it as the module reports it:
// its ID, and the budget and timeout the module chose for those s leaves
// out. A namespace runs at most nftypes.MaxTraces traces; beyond, the
// error wraps ENOSPC. It needs CAP_NET_ADMIN. The events go to whoever
// watches (WatchTraces); a caller that wants every event of a new trace
// uses FollowTrace, which listens before the trace starts.
func (c *Client) AddTrace(ctx context.Context, s nftypes.TraceSpec) (nftypes.Trace, error) {
	if err := c.checkTraces("add trace"); err != nil {
		return nftypes.Trace{}, err
	}
	if err := s.Validate(); err != nil {
		return nftypes.Trace{}, err
	}
	return c.b.AddTrace(ctx, s)
}

// Traces returns the namespace's running traces. It needs CAP_NET_ADMIN.
func (c *Client) Traces(ctx context.Context) ([]nftypes.Trace, error) {
	if err := c.checkTraces("dump traces"); err != nil {
		return nil, err
	}
	return c.b.Traces(ctx)
}

// DeleteTrace ends the trace id; its watchers then get its end event. If
// the namespace has no such trace (it may have ended by itself), the error
// satisfies errors.Is(err, os.ErrNotExist). It needs CAP_NET_ADMIN.
func (c *Client) DeleteTrace(ctx context.Context, id uint32) error {
	if err := c.checkTraces("delete trace"); err != nil {
		return err
	}
	if id == 0 {
		return &ValidationError{Field: "trace", Reason: "trace IDs start at 1"}
	}
	return c.b.DeleteTrace(ctx, id)
}

// DeleteTraces ends every trace of the namespace and returns how many. It
// needs CAP_NET_ADMIN.
func (c *Client) DeleteTraces(ctx context.Context) (int, error) {
	if err := c.checkTraces("delete traces"); err != nil {
		return 0, err
	}
	n, err := c.b.DeleteTraces(ctx)
	return int(n), err
}

// WatchTraces calls fn with each event of every trace of the client's
// network namespace, in the order the module sent them, and with each
// loss of events, until ctx is done (it then returns nil). It returns
// net.ErrClosed (wrapped in an *OpError) when the client is closed, and
// fn's error as is when fn fails. It needs CAP_NET_ADMIN; without it the
// error satisfies errors.Is(err, os.ErrPermission). If the module is
// unloaded meanwhile, the watch ends with ErrNotLoaded. opts may be nil.
//
// The events arrive on a netlink socket of their own, as WatchConns'
// do, so fn may call the client's other methods. Losses are never
// silent: when the socket's receive buffer overflows, fn gets a
// TraceReport whose Lost is an overrun (a TraceLoss of no trace), and
// whenever a trace's Seq skips numbers, which tells of events the module
// could not send (over its rate limit) as well as those the overflow
// dropped, fn gets a TraceLoss naming the trace and how many, before the
// event after the gap. The events of traces that ran before the watch
// began count from where they were when it began, so that what they sent
// before is not taken for lost.
func (c *Client) WatchTraces(ctx context.Context, opts *WatchOptions, fn func(nftypes.TraceReport) error) error {
	if err := c.checkTraces("watch traces"); err != nil {
		return err
	}
	rb, err := watchBuffer(opts)
	if err != nil {
		return err
	}
	seqs := traceSeqs{}
	listening := func() error {
		trs, err := c.b.Traces(ctx)
		if ctx.Err() != nil {
			return nil // the watch ends at once, with nil
		}
		if err != nil {
			return err
		}
		for _, tr := range trs {
			seqs[tr.ID] = tr.Events + tr.Lost
		}
		return nil
	}
	return c.b.WatchTraces(ctx, rb, listening, func(r nftypes.TraceReport) error {
		return seqs.report(r, fn)
	})
}

// errTraceEnded ends FollowTrace's watch at its trace's end event.
var errTraceEnded = errors.New("nflab: the trace ended")

// FollowTrace starts a trace of s once it listens, so that none of the
// trace's events can be missed, and calls fn with each of them and with
// each loss, as WatchTraces does, but for this trace only. started, if not
// nil, gets the new trace first, as AddTrace returns it. FollowTrace
// returns nil after the trace's end event (its budget used, expired,
// deleted by anyone) or when ctx is done; in every other case but the
// trace's end it deletes the trace before it returns, so that a
// follower that stops leaves nothing running. Its errors are those of
// AddTrace and WatchTraces, and fn's and started's as they are. opts may
// be nil.
func (c *Client) FollowTrace(ctx context.Context, s nftypes.TraceSpec, opts *WatchOptions,
	started func(nftypes.Trace) error, fn func(nftypes.TraceReport) error) error {
	if err := c.checkTraces("follow trace"); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	rb, err := watchBuffer(opts)
	if err != nil {
		return err
	}
	var (
		id    uint32 // the trace's, once started
		seqs  = traceSeqs{}
		ended bool
	)
	listening := func() error {
		tr, err := c.b.AddTrace(ctx, s)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		id = tr.ID
		seqs[id] = 0 // every event of the trace is for this watch
		if started != nil {
			return started(tr)
		}
		return nil
	}
	err = c.b.WatchTraces(ctx, rb, listening, func(r nftypes.TraceReport) error {
		if r.Lost == nil && r.Event.Trace != id {
			return nil
		}
		if err := seqs.report(r, fn); err != nil {
			return err
		}
		if r.Lost == nil && r.Event.Kind == nftypes.TraceEnd {
			ended = true
			return errTraceEnded
		}
		return nil
	})
	if ended {
		return nil
	}
	if id != 0 {
		// The caller's context may be done: the deletion gets one of
		// its own, briefly. A trace that ended meanwhile is fine.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if derr := c.b.DeleteTrace(dctx, id); derr != nil && !errors.Is(derr, os.ErrNotExist) && err == nil {
			err = derr
		}
	}
	return err
}

// traceSeqs holds the last Seq a watch saw of each trace, and finds the
// gaps that tell of lost events.
type traceSeqs map[uint32]uint64

// report passes r to fn, after the loss that r's Seq reveals, if any.
func (s traceSeqs) report(r nftypes.TraceReport, fn func(nftypes.TraceReport) error) error {
	if r.Lost != nil {
		return fn(r)
	}
	ev := r.Event
	last := s[ev.Trace]
	if ev.Seq > last+1 {
		loss := &nftypes.TraceLoss{Trace: ev.Trace, Events: ev.Seq - last - 1, FirstSeq: last + 1, LastSeq: ev.Seq - 1}
		if err := fn(nftypes.TraceReport{Lost: loss}); err != nil {
			return err
		}
	}
	if ev.Seq > last {
		s[ev.Trace] = ev.Seq
	}
	if ev.Kind == nftypes.TraceEnd {
		delete(s, ev.Trace) // its last event
	}
	return fn(r)
}

// watchBuffer returns the receive buffer opts asks for.
func watchBuffer(opts *WatchOptions) (int, error) {
	var o WatchOptions
	if opts != nil {
		o = *opts
	}
	if o.ReadBuffer < 0 {
		return 0, &ValidationError{Field: "watch", Reason: "read buffer " + itoa(o.ReadBuffer) + " is negative"}
	}
	if o.ReadBuffer == 0 {
		o.ReadBuffer = DefaultWatchReadBuffer
	}
	return o.ReadBuffer, nil
}
