package nflab

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
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

// Timing of the traces' bookkeeping, from the protocol (tests shorten
// it: see export_test.go).
type traceTiming struct {
	// idle is NFLAB_TRACE_IDLE: how long the module lets a followed
	// packet go unseen before it reports it gone. A trace that ended is
	// no longer listed at once, but its packets in flight still send
	// events, and its END event comes when they are gone: up to idle
	// later, plus the module's work, which runs once a second.
	idle time.Duration
	// slack is what idle is given for the module's work and for
	// delivery.
	slack time.Duration
	// request bounds the requests a follower makes on its own: its
	// TRACE_NEW, which runs to its end even when the caller's context is
	// done, so that the trace is known and can be deleted, its checks and
	// its deletion.
	request time.Duration
	// overrunGap is the least time between two checks that overruns ask
	// for.
	overrunGap time.Duration
}

var traceTimes atomic.Pointer[traceTiming]

func init() {
	traceTimes.Store(&traceTiming{
		idle:       nlproto.TRACE_IDLE * time.Second,
		slack:      2 * time.Second,
		request:    5 * time.Second,
		overrunGap: time.Second,
	})
}

// endGrace is how long after a trace is no longer listed its END event
// may still come: NFLAB_TRACE_IDLE and a few seconds.
func (t traceTiming) endGrace() time.Duration { return t.idle + t.slack }

// WatchTraces calls fn with each event of every trace of the client's
// network namespace, in the order the module sent them, and with each
// loss of events, until ctx is done (it then returns nil). It returns
// net.ErrClosed (wrapped in an *OpError) when the client is closed, and
// fn's error as is when fn fails. It needs CAP_NET_ADMIN; without it the
// error satisfies errors.Is(err, os.ErrPermission). If the module is
// unloaded meanwhile, the watch ends with ErrNotLoaded. opts may be nil.
//
// The events arrive on a netlink socket of their own, as WatchConns'
// do, so fn may call the client's other methods. Losses are not left
// unsaid: when the socket's receive buffer overflows, fn gets a
// TraceReport whose Lost is an overrun (a TraceLoss of no trace), and
// whenever a trace's Seq skips numbers, which tells of events the module
// could not send (over its rate limit) as well as those the overflow
// dropped, fn gets a TraceLoss naming the trace and how many, before the
// event after the gap.
//
// A watch cannot know what a trace sent before it began, so it counts
// each trace's events from a baseline, which it takes once it listens
// (whatever the module sends from then on is received) by listing the
// namespace's traces (Traces):
//
//   - A trace listed counts from its events and losses so far: an event
//     numbered up to there is passed on, and no loss is reported for it.
//   - The list holds the running traces only, not those that ended but
//     whose packets in flight still send events until their END, up to
//     NFLAB_TRACE_IDLE (3 s) and a second later. The module numbers
//     traces in the order they start, so a trace not listed whose ID is
//     at most the highest listed started before the watch: it counts
//     from its first event the watch hears, and no loss is reported
//     before that. When the list is empty, so is every trace whose first
//     event comes within NFLAB_TRACE_IDLE + 2 s of the listing.
//   - Any other trace started after the listing, and counts from 1: a
//     first event numbered 3 is a loss of 2. (A trace that started after
//     the highest listed one and ended before the listing is taken for
//     one of these: its earlier events are reported lost.)
//
// The listing is taken after joining the group, not before: events sent
// between the two are received, and none is mistaken for lost. What the
// module itself fails to send between the join and the listing (over its
// rate limit, without memory) is counted in the baseline, and so is not
// reported: a window of one dump's round trip. An overflow of the
// receive buffer then is reported, as always. Listing first would report
// as lost the events sent between the listing and the join, which the
// watch was never to receive; a rare loss missed at the very start is
// the lesser fault.
func (c *Client) WatchTraces(ctx context.Context, opts *WatchOptions, fn func(nftypes.TraceReport) error) error {
	if err := c.checkTraces("watch traces"); err != nil {
		return err
	}
	rb, err := watchBuffer(opts)
	if err != nil {
		return err
	}
	tm := *traceTimes.Load()
	seqs := newTraceSeqs()
	listening := func() error {
		trs, err := c.b.Traces(ctx)
		if ctx.Err() != nil {
			return nil // the watch ends at once, with nil
		}
		if err != nil {
			return err
		}
		seqs.baseline(trs, time.Now().Add(tm.endGrace()))
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
// nil, gets the new trace first, as AddTrace returns it. opts may be nil.
//
// FollowTrace returns nil after the trace's end event (its budget used,
// expired, deleted by anyone) or when ctx is done. Its errors are those
// of AddTrace and WatchTraces (net.ErrClosed when the client is closed),
// and fn's and started's as they are.
//
// Should the end event never come (lost in an overflow of the receive
// buffer, or not sent by the module), FollowTrace still ends: it lists the
// namespace's traces after each overflow, once the trace's timeout and
// NFLAB_TRACE_IDLE and a few seconds have passed, and every few seconds
// once the packets it heard of (and the events it lost) may have used
// the budget. A trace no longer listed whose end does not come within
// NFLAB_TRACE_IDLE + 2 s (past its timeout, at once), while fn is not
// running, is gone: fn gets a TraceLoss whose EndMissing is set, and
// FollowTrace returns nil.
//
// In every other case but the trace's end FollowTrace deletes the trace
// before it returns, so that a follower that stops leaves nothing
// running: when ctx is done, when fn or started fails, and when the
// client is closed, for it makes its requests (the trace's start, the
// checks and the deletion) on a socket of its own, which Close does not
// end. Its trace's start runs to its end even when ctx is done meanwhile
// (for at most a few seconds), so that the trace it may have started is
// known, and deleted.
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
	if ctx.Err() != nil {
		return nil
	}
	d, err := c.b.Detached("follow trace")
	if err != nil {
		return err
	}
	defer d.Close()
	f := &follower{d: d, tm: *traceTimes.Load(), seqs: newTraceSeqs(), kick: make(chan struct{}, 1), spent: make(chan struct{})}

	// The watch's own context: the end check stops it.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	listening := func() error {
		// Not ctx: a trace that starts must be known to be deleted.
		actx, cancel := f.requestCtx(ctx)
		tr, err := d.AddTrace(actx, s)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		f.tr = tr
		f.seqs.last[tr.ID] = 0 // every event of the trace is for this watch
		if ctx.Err() != nil {
			return nil // the watch ends at once; the trace is deleted
		}
		wg.Go(func() { f.checkEnd(wctx, stop) })
		if started != nil {
			return started(tr)
		}
		return nil
	}
	err = c.b.WatchTraces(wctx, rb, listening, f.handle(fn))
	stop()
	wg.Wait()
	id := f.tr.ID
	switch {
	case f.ended:
		return nil
	case f.missing.Load() && err == nil:
		if fn == nil {
			return nil
		}
		return fn(nftypes.TraceReport{Lost: &nftypes.TraceLoss{Trace: id, EndMissing: true}})
	case id != 0:
		// The caller's context may be done: the deletion gets one of
		// its own, briefly. A trace that ended meanwhile is fine.
		dctx, cancel := f.requestCtx(ctx)
		defer cancel()
		if derr := d.DeleteTrace(dctx, id); derr != nil && !errors.Is(derr, os.ErrNotExist) && err == nil {
			err = derr
		}
	}
	return err
}

// A follower is FollowTrace's state.
type follower struct {
	d    traceBackend // its own request socket
	tm   traceTiming
	tr   nftypes.Trace // the trace, once started
	seqs traceSeqs

	ended bool // its END came

	// What the end check needs: overruns, the new packets heard (up to
	// the budget) and the events lost, which tell when the budget may
	// have been used; whether it found the trace gone.
	kick      chan struct{}
	packets   map[uint64]bool
	lost      uint64
	spent     chan struct{} // closed once the budget may have been used
	spentOnce sync.Once
	missing   atomic.Bool
	// busy is set while the watch's callback runs: a reader held up
	// there (its output blocked) may have the END still to read.
	busy atomic.Bool
}

// requestCtx is the context of a follower's own request: ctx's values,
// not its end, and a timeout.
func (f *follower) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), f.tm.request)
}

// handle is the watch's callback: it passes the trace's events and every
// loss to fn, and notes what the end check needs.
func (f *follower) handle(fn func(nftypes.TraceReport) error) func(nftypes.TraceReport) error {
	return func(r nftypes.TraceReport) error {
		f.busy.Store(true)
		defer f.busy.Store(false)
		if r.Lost != nil { // an overrun, which may have taken the END
			select {
			case f.kick <- struct{}{}:
			default:
			}
			return f.seqs.report(r, fn)
		}
		ev := r.Event
		if ev.Trace != f.tr.ID {
			return nil
		}
		if ev.Kind == nftypes.TraceHook && (ev.Hook == nftypes.PreRouting || ev.Hook == nftypes.LocalOut) && len(f.packets) < f.tr.Budget {
			if f.packets == nil {
				f.packets = map[uint64]bool{}
			}
			f.packets[ev.Packet] = true
		}
		err := f.seqs.report(r, func(rep nftypes.TraceReport) error {
			if rep.Lost != nil {
				f.lost += rep.Lost.Events
			}
			return fn(rep)
		})
		if err != nil {
			return err
		}
		if uint64(len(f.packets))+f.lost >= uint64(f.tr.Budget) {
			f.spentOnce.Do(func() { close(f.spent) })
		}
		if ev.Kind == nftypes.TraceEnd {
			f.ended = true
			return errTraceEnded
		}
		return nil
	}
}

// checkEnd makes sure that the follow ends even when its trace's END
// event is lost: it lists the traces after an overrun (at most once per
// overrunGap), once the trace's timeout, endGrace and slack have passed,
// and every endGrace once the budget may have been used. A trace not
// listed whose END has not come endGrace after (at once past its
// timeout) is gone: checkEnd notes it and stops the watch. It returns
// when ctx is done.
func (f *follower) checkEnd(ctx context.Context, stop func()) {
	grace := f.tm.endGrace()
	deadline := time.NewTimer(f.tr.Timeout + grace + f.tm.slack)
	defer deadline.Stop()
	// next is the check scheduled on timer, if any.
	var next time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	schedule := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
			timer.Reset(time.Until(at))
		}
	}
	var (
		poll      <-chan time.Time
		spent     = f.spent
		last      time.Time // the last check
		goneSince time.Time // when the trace was first found gone
		past      bool      // its timeout is past
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
			if at := last.Add(f.tm.overrunGap); time.Now().Before(at) {
				schedule(at)
				continue
			}
		case <-spent:
			spent = nil
			t := time.NewTicker(grace)
			defer t.Stop()
			poll = t.C
		case <-poll:
		case <-timer.C:
			next = time.Time{}
		case <-deadline.C:
			past = true
		}
		last = time.Now()
		listed, err := f.listed(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// The watch reports what ends it (Close, the module gone);
			// anything else may pass: try again.
			schedule(last.Add(grace))
		case listed:
			goneSince = time.Time{}
			if past {
				schedule(last.Add(grace)) // the module's clock runs late
			}
		case f.busy.Load():
			// The reader is held up: its END may be waiting to be
			// read. Look again once it may have caught up.
			if goneSince.IsZero() {
				goneSince = last
			}
			schedule(last.Add(f.tm.overrunGap))
		case past || (!goneSince.IsZero() && last.Sub(goneSince) >= grace):
			f.missing.Store(true)
			stop()
			return
		default:
			if goneSince.IsZero() {
				goneSince = last
			}
			schedule(goneSince.Add(grace))
		}
	}
}

// listed reports whether the module lists the follower's trace.
func (f *follower) listed(ctx context.Context) (bool, error) {
	lctx, cancel := f.requestCtx(ctx)
	defer cancel()
	trs, err := f.d.Traces(lctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(trs, func(tr nftypes.Trace) bool { return tr.ID == f.tr.ID }), nil
}

// traceSeqs follows a watch's traces' Seq and finds the gaps that tell of
// lost events; see WatchTraces for its baseline.
type traceSeqs struct {
	last map[uint32]uint64 // the last Seq heard of each trace known
	// With a baseline: the highest ID listed, and, when none was, until
	// when a trace first heard of is taken as older than the watch.
	based bool
	maxID uint32
	until time.Time
}

func newTraceSeqs() traceSeqs { return traceSeqs{last: map[uint32]uint64{}} }

// baseline takes the traces listed as the watch began; until is the end
// of the window of an empty list.
func (s *traceSeqs) baseline(trs []nftypes.Trace, until time.Time) {
	s.based, s.until = true, until
	for _, tr := range trs {
		s.last[tr.ID] = tr.Events + tr.Lost
		s.maxID = max(s.maxID, tr.ID)
	}
}

// older reports whether a trace not listed in the baseline, heard of for
// the first time now, started before the watch.
func (s *traceSeqs) older(id uint32) bool {
	switch {
	case !s.based:
		return false
	case s.maxID > 0:
		return id <= s.maxID
	}
	return time.Now().Before(s.until)
}

// report passes r to fn, after the loss that r's Seq reveals, if any.
func (s *traceSeqs) report(r nftypes.TraceReport, fn func(nftypes.TraceReport) error) error {
	if r.Lost != nil {
		return fn(r)
	}
	ev := r.Event
	last, known := s.last[ev.Trace]
	if !known && ev.Seq > 0 && s.older(ev.Trace) {
		last = ev.Seq - 1 // it counts from here
	}
	if ev.Seq > last+1 {
		loss := &nftypes.TraceLoss{Trace: ev.Trace, Events: ev.Seq - last - 1, FirstSeq: last + 1, LastSeq: ev.Seq - 1}
		if err := fn(nftypes.TraceReport{Lost: loss}); err != nil {
			return err
		}
	}
	s.last[ev.Trace] = max(last, ev.Seq)
	if ev.Kind == nftypes.TraceEnd {
		delete(s.last, ev.Trace) // its last event
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
