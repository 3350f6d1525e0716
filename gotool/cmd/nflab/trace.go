package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// "nflab trace": packet traces, which follow chosen packets through the
// hooks and say, per hook, what happened to them and why.

const selectorHelp = `A SELECTOR is a few words in the manner of a tcpdump filter, joined by
"and" (which may be left out), every one of which must hold:
  tcp | udp | icmp            the protocol
  proto N|NAME                any IP protocol: a number, or icmp, igmp, tcp,
                              udp, gre, esp, ah, ospf, sctp
  host A[/N]                  the source or destination address, or prefix
  net A/N                     the source or destination in the prefix
  src|dst [host|net] A[/N]    the source or destination
  port P                      the source or destination port (tcp, udp)
  src|dst port P              the source or destination port (tcp, udp)
  iface|dev NAME              the input or output device
Each may be given once; "or", "not" and parentheses are not supported; the
word after iface or dev is a device's name, whatever it is. A selector
may be one argument too: 'tcp and dst port 22'. The module tries it once
per packet, where nflab first sees the packet (PRE_ROUTING or LOCAL_OUT),
on the packet and on both directions of its connection: a trace of a
client's address follows the replies of its NATed connections too.`

// idleSecs and staleSecs are NFLAB_TRACE_IDLE and staleAfter, in the help.
var (
	idleSecs  = strconv.Itoa(nlproto.TRACE_IDLE)
	staleSecs = strconv.Itoa(int(staleAfter / time.Second))
)

var traceWatchHelp = `Follow packets through nflab's hooks and print, per packet, what happened
to it at each hook and why: nflab's verdict, the connection tracker's
view, the rule or policy that decided, NAT, and where the kernel dropped
the packet after nflab let it go. Needs CAP_NET_ADMIN, and a module of
protocol 6 or newer.

With a SELECTOR, start a trace of the packets it chooses (at most --budget
packets, for at most --timeout), print its packets, and end it on exit:
the exit status is 0 when the trace ends (its budget used, its time up,
or deleted) or the command is interrupted (SIGINT or SIGTERM). Should the
trace's end be lost, the command ends all the same once the module no
longer lists the trace, saying so ("trace T is gone: its end was lost").
Without one, print the packets of every trace of the namespace (those
'nflab trace add' starts) until interrupted.

` + selectorHelp + `

The module never waits for a slow reader, and sends at most 2000 events a
second per trace: every loss is printed, as its own line ("lost N events
of trace T", or, when the receive buffer overflowed, "lost events of every
trace"), and a packet whose events were lost may miss hooks. A larger
--buffer-size makes overflows rarer. With a SELECTOR, the trace starts
once the command listens, and no loss goes unsaid. Without one, the
traces already running count their events from where they are when the
command starts (it lists them once it listens), and a trace that had just
ended, whose packets in flight report until its end (` + idleSecs + ` s and a
second at most), from its first event the command hears: nothing sent
before the command started is taken for lost. What the module fails to
send (over its rate limit) between the command's start and that listing,
the time of one request, is not printed either.

Output:
  table: one line per packet, written when its way ends (nflab dropped or
         rejected it, the kernel dropped it, or nflab let it go at LOCAL_IN
         or POST_ROUTING), such as
           10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → FORWARD ✗ rule filter/forward#7 "drop ssh"
           10:00:00.000 #43 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓ → gone after LOCAL_IN: NO_SOCKET
           10:00:00.000 #44 10.0.1.2:40000 → 10.0.2.1:8080 tcp ACK  PRE_ROUTING ✓ found dnat 10.0.2.1:8080→10.0.3.2:80 → FORWARD ✓ → POST_ROUTING ✓ snat 10.0.1.2:40000→10.0.2.1:40000
         the time the packet came, its id (and "[T]", its trace, when
         watching every trace), the packet as nflab first saw it, then each
         hook: its name, ✓ (let go) or ✗ (dropped or rejected), the
         tracker's result where it runs (new, found, related, untracked,
         invalid(REASON), full) and a TCP state that changed
         (SYN_SENT→ESTABLISHED), the deciding rules ('rule TABLE/CHAIN#HANDLE
         "comment"', or 'policy TABLE/CHAIN drop'), what NAT changed
         (dnat A:P→A:P, snat A:P→A:P), "by nat" or "by tracker" when they
         dropped it; and last, where the kernel dropped it after nflab:
         'gone inside|between|after HOOK: REASON' (the kernel's drop
         reason), or 'unseen ...' when it gave none (the module says so of
         a packet it has not seen for ` + idleSecs + ` s). A packet that loops back
         (out at POST_ROUTING, in again on lo) continues its line. A
         packet without an end for ` + staleSecs + ` s is written as it is, ending in
         "…"; what is reported of it after its line is a line of its own
         ("#43 … gone after ...", "#43 … FORWARD ✓ → POST_ROUTING ✓"). The
         trace's start and end are lines too ("trace 3 started: ...",
         "trace 3 ended"). With --hooks, one line per event instead:
           10:00:00.000 #42 FORWARD ✗  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN in eth0 out eth1 len 60 ct 17 original  found rule filter/forward#7 "drop ssh"
  json:  one line per event (NDJSON), written as it comes; with a
         SELECTOR, the first line is the trace started, {"started":TRACE},
         TRACE as 'nflab trace add -o json' prints it ({"id":N,...}). An
         event is:
         {"trace":3,"seq":7,"packet":42,"kind":"hook","hook":"FORWARD",
          "time":"RFC 3339 time, UTC","in":"eth0","in_index":2,"out":"eth1",
          "out_index":3,"len":60,"tuple":{"proto":"tcp","src":"10.0.1.2",
          "dst":"10.0.2.2","sport":40000,"dport":22},"tcp_flags":["syn"],
          "ct":"found","ct_id":17,"ct_dir":"original","tcp_state_old":"SYN_SENT",
          "tcp_state":"SYN_SENT","ct_status":["CONFIRMED"],
          "rules":[{"table":"filter","chain":"forward","handle":7,
                    "comment":"drop ssh","verdict":"drop"}],
          "verdict":"drop","drop_by":"rule"}
         "kind" is hook, gone or end; fields an event lacks are left out:
         "tuple_out" (the packet after NAT), "ct_invalid" (header, fragment,
         checksum, icmp-error, no-new, state), "drop_reason" (gone events),
         "handle" (a policy's decision). ICMP tuples have "icmp_id" and
         "icmp_type" instead of ports. A loss is
         {"lost":N,"trace":T,"first_seq":S,"last_seq":S}, or, when the
         receive buffer overflowed, {"lost":null,"overrun":true}, or, when
         a trace's end was lost, {"lost":null,"trace":T,"end_missing":true}.
         A name this command does not know is a number.`

// traceFlags are the flags of a new trace.
type traceFlags struct {
	budget  numValue
	timeout traceTimeoutValue
}

// traceFlagCompletions completes the flags traceFlags declared in cmd.
func traceFlagCompletions(cmd *cobra.Command) {
	must(cmd.RegisterFlagCompletionFunc("timeout", fixedValues("10s", "30s", "1m", "5m", "1h")))
	must(cmd.RegisterFlagCompletionFunc("budget", cobra.NoFileCompletions))
}

func (f *traceFlags) add(fs *pflag.FlagSet) {
	f.budget.max = nftypes.MaxTraceBudget
	fs.Var(once(&budgetValue{&f.budget}), "budget", fmt.Sprintf("the packets the trace may follow, 1-%d (default %d)", nftypes.MaxTraceBudget, nftypes.DefaultTraceBudget))
	fs.Var(once(&f.timeout), "timeout", fmt.Sprintf("how long the trace lives: 30s, 5m, 1h or a number of seconds, up to %v (default %v)", nftypes.MaxTraceTimeout, nftypes.DefaultTraceTimeout))
}

func (f *traceFlags) spec(sel nftypes.TraceSelector) nftypes.TraceSpec {
	return nftypes.TraceSpec{Selector: sel, Budget: int(f.budget.v), Timeout: f.timeout.v}
}

// budgetValue is --budget: a number of packets, from 1.
type budgetValue struct{ *numValue }

func (b *budgetValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > b.max {
		return fmt.Errorf("want a number of packets, 1-%d", b.max)
	}
	b.v, b.set = n, true
	return nil
}

// traceTimeoutValue is a trace's --timeout: a duration or a number of
// seconds, whole seconds from 1s to a day.
type traceTimeoutValue struct {
	v   time.Duration
	set bool
}

func (t *traceTimeoutValue) String() string {
	if !t.set {
		return ""
	}
	return t.v.String()
}

func (t *traceTimeoutValue) Type() string { return "duration" }

func (t *traceTimeoutValue) Set(s string) error {
	var d time.Duration
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		return errors.New("want a duration such as 30s, 5m or 1h, or a number of seconds")
	}
	if err := (nftypes.TraceSpec{Timeout: d}).Validate(); err != nil || d == 0 {
		return fmt.Errorf("want whole seconds from 1s to %v", nftypes.MaxTraceTimeout)
	}
	t.v, t.set = d, true
	return nil
}

// selectorArgs parses the positional arguments as a selector into sel;
// need says whether one is required.
func selectorArgs(sel *nftypes.TraceSelector, need bool, given *bool) func([]string) error {
	return func(args []string) error {
		s, err := nftypes.ParseTraceSelector(args)
		if err != nil {
			return validation(err)
		}
		*given = len(strings.Fields(strings.Join(args, " "))) > 0
		if need && !*given {
			return usagef("give a selector, such as 'tcp dst port 22'")
		}
		*sel = s
		return nil
	}
}

func (a *app) traceCmd() *cobra.Command {
	cmd := a.traceWatchLeaf("trace [SELECTOR...] [flags]", "follow packets through the hooks: where and why they were dropped", true)
	cmd.Long = traceWatchHelp + `

'nflab trace SELECTOR' is 'nflab trace watch SELECTOR'; the subcommands
start, list and end traces that run without a watcher.`
	cmd.AddCommand(
		a.traceWatchLeaf("watch [SELECTOR...] [flags]", "follow packets through the hooks (what 'nflab trace' does)", false),
		a.traceAddCmd(),
		a.traceListCmd(),
		a.traceDeleteCmd(),
	)
	return cmd
}

// traceWatchLeaf declares "nflab trace" and "nflab trace watch", which do
// the same; the first (parent) has subcommands, which a mistyped word may
// have meant.
func (a *app) traceWatchLeaf(use, short string, parent bool) *cobra.Command {
	var (
		f      traceFlags
		sel    nftypes.TraceSelector
		given  bool
		hooks  bool
		buffer sizeValue
		cmd    *cobra.Command
	)
	parseSel := selectorArgs(&sel, false, &given)
	cmd = a.leaf(leaf{
		use:   use,
		short: short,
		long:  traceWatchHelp,
		example: "  nflab trace tcp dst port 22\n  nflab trace --budget 10 --timeout 30s udp and host 10.0.2.2\n" +
			"  nflab trace watch --hooks icmp\n  nflab trace -o json",
		flags: func(fs *pflag.FlagSet) {
			f.add(fs)
			boolFlag(fs, &hooks, "hooks", "print one line per event (per packet and hook) instead of one per packet")
			fs.VarP(once(&buffer), "buffer-size", "b", fmt.Sprintf(
				"the event socket's receive buffer in bytes, such as 4194304 or 4M (default %d)", nflab.DefaultWatchReadBuffer))
		},
		args: func(args []string) error {
			err := parseSel(args)
			if err != nil && parent && len(args) > 0 {
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					return usagef("unknown subcommand %q (did you mean %q?); a selector cannot start with it either", args[0], s[0])
				}
			}
			return err
		},
		check: func(cmd *cobra.Command) error {
			if !given && changed(cmd, "budget", "timeout") {
				return usagef("--budget and --timeout are a new trace's: give a selector, or use 'nflab trace add'")
			}
			if hooks && a.output == "json" {
				return usagef("--hooks does not apply to -o json, which writes every event")
			}
			return nil
		},
		complete: completeSelector,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			opts := &nflab.WatchOptions{ReadBuffer: buffer.v}
			if given {
				return nil, a.runTraceWatch(cmd.Context(), hooks, false, func(ctx context.Context, p *tracePrinter) error {
					err := c.FollowTrace(ctx, f.spec(sel), opts, p.started, p.report)
					return failed("following the trace", err)
				})
			}
			return nil, a.runTraceWatch(cmd.Context(), hooks, true, func(ctx context.Context, p *tracePrinter) error {
				return failed("watching traces", c.WatchTraces(ctx, opts, p.report))
			})
		},
	})
	traceFlagCompletions(cmd)
	must(cmd.RegisterFlagCompletionFunc("buffer-size", cobra.NoFileCompletions))
	cmd.SuggestionsMinimumDistance = 2 // cobra's default, which only its own lookup sets
	return cmd
}

// runTraceWatch runs watch with a printer in the -o format, writing the
// lines whose wait is over as time passes, and what is left at the end.
// With multi, events of any trace come, and lines name theirs.
func (a *app) runTraceWatch(ctx context.Context, hooks, multi bool, watch func(context.Context, *tracePrinter) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	now, loc := a.clock, a.loc
	if now == nil {
		now = time.Now
	}
	if loc == nil {
		loc = time.Local
	}
	p := &tracePrinter{w: a.stdout, json: a.output == "json", hooks: hooks, tl: newTimeline(loc, multi), now: now}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if p.tick() != nil {
					cancel() // the watch ends; its caller reports p.err
					return
				}
			}
		}
	})
	err := watch(ctx, p)
	cancel()
	wg.Wait()
	ferr := p.finish()
	switch {
	case p.err != nil:
		return p.err // a write failed: the watch ended for it
	case err != nil:
		return err
	}
	return ferr
}

// tracePrinter writes a watch's reports in the format -o chose. Each line
// is one write to an unbuffered writer, so it reaches a pipe at once. It
// is called from the watch and from the ticker: mu orders them.
type tracePrinter struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	hooks bool
	tl    *timeline
	now   func() time.Time
	err   error // the first write error; every later call returns it
}

// started writes the start of a trace of the watch's own.
func (p *tracePrinter) started(tr nftypes.Trace) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		return p.writeJSON(struct {
			Started jsonTrace `json:"started"`
		}{traceJSON(tr)})
	}
	return p.write([]string{fmt.Sprintf("%s trace %d started: %s, %d packets, %v",
		p.tl.clock(p.now()), tr.ID, selectorText(tr.Selector), tr.Budget, tr.Timeout)})
}

// report writes what one report completes.
func (p *tracePrinter) report(r nftypes.TraceReport) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.json {
		if r.Lost != nil {
			return p.writeJSON(lossJSON(*r.Lost))
		}
		return p.writeJSON(traceEventJSON(r.Event))
	}
	now := p.now()
	switch {
	case r.Lost != nil && r.Lost.EndMissing && !p.hooks:
		return p.write(p.tl.endLost(*r.Lost, now))
	case r.Lost != nil:
		return p.write([]string{p.tl.lossLine(*r.Lost, now)})
	case p.hooks:
		return p.write([]string{p.tl.hookLine(r.Event)})
	}
	return p.write(p.tl.add(r.Event, now))
}

// tick writes the lines whose wait is over.
func (p *tracePrinter) tick() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return p.write(p.tl.due(p.now()))
}

// finish writes what is left.
func (p *tracePrinter) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	return p.write(p.tl.flush())
}

func (p *tracePrinter) write(lines []string) error {
	for _, l := range lines {
		if _, err := io.WriteString(p.w, l+"\n"); err != nil {
			p.err = failed("writing events", err)
			return p.err
		}
	}
	return nil
}

func (p *tracePrinter) writeJSON(v any) error {
	if err := writeJSON(p.w, v); err != nil {
		p.err = err
		var oe *opError
		if errors.As(err, &oe) && oe.what == "writing output" {
			p.err = failed("writing events", oe.err)
		}
		return p.err
	}
	return nil
}

// selectorText is a selector as the help writes it.
func selectorText(s nftypes.TraceSelector) string {
	if s.IsZero() {
		return "(every packet)"
	}
	return s.String()
}

// jsonTrace is the documented shape of a trace.
type jsonTrace struct {
	ID        uint32 `json:"id"`
	Selector  string `json:"selector"`
	Budget    int    `json:"budget"`
	Left      int    `json:"left"`
	Timeout   int64  `json:"timeout"`
	ExpiresMS int64  `json:"expires_ms"`
	Events    uint64 `json:"events"`
	Lost      uint64 `json:"lost"`
}

func traceJSON(tr nftypes.Trace) jsonTrace {
	return jsonTrace{ID: tr.ID, Selector: tr.Selector.String(), Budget: tr.Budget, Left: tr.Left,
		Timeout: int64(tr.Timeout / time.Second), ExpiresMS: tr.Remaining.Milliseconds(), Events: tr.Events, Lost: tr.Lost}
}

const traceJSONHelp = `{"id":N,"selector":"tcp and dst port 22","budget":N,"left":N,
          "timeout":SECONDS,"expires_ms":MS,"events":N,"lost":N}
         "selector" is in the words a SELECTOR takes ("" for every
         packet); "left" is what is left of "budget"; "lost" counts the
         events the module could not send.`

func (a *app) traceAddCmd() *cobra.Command {
	var (
		f     traceFlags
		sel   nftypes.TraceSelector
		given bool
	)
	cmd := a.leaf(leaf{
		use:   "add [--budget N] [--timeout DUR] SELECTOR... [flags]",
		short: "start a trace that runs without a watcher, and print its id",
		long: `Start a trace of the packets SELECTOR chooses, at most --budget of them,
for at most --timeout, and print its id. Its events go to whoever watches
('nflab trace', 'nflab trace watch'); it ends by itself, or with 'nflab
trace delete'. A namespace runs at most 16 traces. Needs CAP_NET_ADMIN.

` + selectorHelp + `

Output:
  table: the trace's id
  json:  one line, the trace:
         ` + traceJSONHelp,
		example:  "  nflab trace add tcp dst port 22\n  nflab trace add --budget 1000 --timeout 10m udp port 53",
		flags:    f.add,
		args:     selectorArgs(&sel, true, &given),
		complete: completeSelector,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			tr, err := c.AddTrace(cmd.Context(), f.spec(sel))
			if err != nil {
				return nil, failed("starting the trace", err)
			}
			return &output{json: traceJSON(tr), table: func(w io.Writer) { fmt.Fprintln(w, tr.ID) }}, nil
		},
	})
	traceFlagCompletions(cmd)
	return cmd
}

func (a *app) traceListCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "list",
		short: "list the running traces",
		long: `List the traces running in the namespace. Needs CAP_NET_ADMIN.

Output:
  table: columns ID, SELECTOR, LEFT/BUDGET (packets), EXPIRES (time left),
         EVENTS (sent) and LOST (the events the module could not send)
  json:  one line, {"traces":[TRACE,...]}, where TRACE is
         ` + traceJSONHelp,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			trs, err := c.Traces(cmd.Context())
			if err != nil {
				return nil, failed("listing traces", err)
			}
			js := struct {
				Traces []jsonTrace `json:"traces"`
			}{[]jsonTrace{}}
			for _, tr := range trs {
				js.Traces = append(js.Traces, traceJSON(tr))
			}
			return &output{json: js, table: func(w io.Writer) {
				tw := newTable(w)
				fmt.Fprintln(tw, "ID\tSELECTOR\tLEFT/BUDGET\tEXPIRES\tEVENTS\tLOST")
				for _, tr := range trs {
					fmt.Fprintf(tw, "%d\t%s\t%d/%d\t%v\t%d\t%d\n", tr.ID, selectorText(tr.Selector), tr.Left, tr.Budget,
						tr.Remaining.Truncate(time.Second), tr.Events, tr.Lost)
				}
				tw.Flush()
			}}, nil
		},
	})
}

// errNoTrace is what delete reports for an id that matches no trace.
var errNoTrace = errors.New("no such trace")

func (a *app) traceDeleteCmd() *cobra.Command {
	var (
		ids []uint32
		all bool
	)
	return a.leaf(leaf{
		use:   "delete (ID... | --all) [flags]",
		short: "end traces, or every trace",
		long: `End the traces with these ids, or with --all every trace of the namespace,
and print how many ended. Their watchers see them end. An id that matches
no trace (one may have ended by itself) is an error, after the others
ended. Needs CAP_NET_ADMIN.

Output:
  table: "ended N"
  json:  one line, {"ended":N}`,
		example: "  nflab trace delete 3\n  nflab trace delete --all",
		flags: func(fs *pflag.FlagSet) {
			boolFlag(fs, &all, "all", "end every trace of the namespace")
		},
		args: func(args []string) error {
			ids = nil
			for _, s := range args {
				n, err := strconv.ParseUint(s, 10, 32)
				if err != nil || n == 0 {
					return usagef("%q is not a trace id: ids are numbers from 1", s)
				}
				if !slices.Contains(ids, uint32(n)) {
					ids = append(ids, uint32(n))
				}
			}
			return nil
		},
		check: func(cmd *cobra.Command) error {
			switch {
			case all && len(ids) > 0:
				return usagef("give trace ids or --all, not both")
			case !all && len(ids) == 0:
				return usagef("give the ids of the traces to end, or --all")
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			n, missing := 0, []string{}
			if all {
				var err error
				if n, err = c.DeleteTraces(ctx); err != nil {
					return nil, failed("ending traces", err)
				}
			}
			for _, id := range ids {
				err := c.DeleteTrace(ctx, id)
				switch {
				case errors.Is(err, os.ErrNotExist):
					missing = append(missing, strconv.FormatUint(uint64(id), 10))
				case err != nil:
					return nil, failed("ending traces", err)
				default:
					n++
				}
			}
			out := &output{json: struct {
				Ended int `json:"ended"`
			}{n}, table: func(w io.Writer) { fmt.Fprintf(w, "ended %d\n", n) }}
			if len(missing) > 0 {
				if err := a.print(out); err != nil {
					return nil, err
				}
				return nil, &opError{"ending traces", fmt.Errorf("%w: %s", errNoTrace, strings.Join(missing, ", "))}
			}
			return out, nil
		},
	})
}

// completeSelector offers the selector's words: keywords, and after
// "iface" or "dev" the devices of this namespace, after "proto" the
// protocol names. A condition given already is not offered again.
func completeSelector(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var words []string
	for _, a := range args {
		words = append(words, strings.Fields(a)...)
	}
	st := scanSelector(words)
	var offer []string
	switch st.expect {
	case "iface":
		if ifs, err := net.Interfaces(); err == nil {
			for _, i := range ifs {
				offer = append(offer, i.Name)
			}
		}
	case "proto":
		offer = nftypes.TraceProtoNames()
	case "src", "dst":
		if !st.given[st.expect] {
			offer = append(offer, "host", "net")
		}
		if !st.given[st.expect+" port"] {
			offer = append(offer, "port")
		}
	case "value":
		return nil, cobra.ShellCompDirectiveNoFileComp // an address or a number
	default:
		if len(words) > 0 && !st.afterAnd {
			offer = append(offer, "and")
		}
		if !st.given["proto"] {
			offer = append(offer, "tcp", "udp", "icmp", "proto")
		}
		if !st.given["host"] {
			offer = append(offer, "host", "net")
		}
		for _, dir := range []string{"src", "dst"} {
			if !st.given[dir] || !st.given[dir+" port"] {
				offer = append(offer, dir)
			}
		}
		if !st.given["port"] {
			offer = append(offer, "port")
		}
		if !st.given["iface"] {
			offer = append(offer, "iface")
		}
	}
	var out []cobra.Completion
	for _, o := range offer {
		if strings.HasPrefix(o, strings.ToLower(toComplete)) {
			out = append(out, o)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// selectorScan is what the words of a selector so far say, for
// completion: the conditions given ("proto", "host", "src", "dst",
// "port", "src port", "dst port", "iface"), and what the next word is:
// "" a condition, "iface" a device, "proto" a protocol, "src" or "dst"
// what follows them, "value" an address or a number.
type selectorScan struct {
	given    map[string]bool
	expect   string
	afterAnd bool
}

// scanSelector reads words as ParseTraceSelector does, without checking
// them.
func scanSelector(words []string) selectorScan {
	st := selectorScan{given: map[string]bool{}}
	for _, w := range words {
		lw := strings.ToLower(w)
		switch e := st.expect; {
		case e == "iface" || e == "proto" || e == "value":
			st.expect = "" // the word after the keyword, whatever it is
			continue
		case e == "src" || e == "dst":
			switch lw {
			case "port":
				st.given[e+" port"], st.expect = true, "value"
			case "host", "net":
				st.given[e], st.expect = true, "value"
			default:
				st.given[e], st.expect = true, "" // "src A"
			}
			continue
		}
		st.afterAnd = lw == "and" || lw == "&&"
		switch lw {
		case "tcp", "udp", "icmp":
			st.given["proto"] = true
		case "proto":
			st.given["proto"], st.expect = true, "proto"
		case "host", "net":
			st.given["host"], st.expect = true, "value"
		case "src", "dst":
			st.expect = lw
		case "port":
			st.given["port"], st.expect = true, "value"
		case "iface", "dev":
			st.given["iface"], st.expect = true, "iface"
		}
	}
	return st
}
