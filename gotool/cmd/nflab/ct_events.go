package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab ct events": conntrack -E.

var cmdCTEvents = &command{
	name:  "ct events",
	short: "follow the tracked connections' changes as they happen",
	usage: `Usage: nflab ct events [filter flags] [-o table|json]

Print each change of the connection tracking table as it happens: an entry
created (new), one whose TCP state changed or that gained SEEN_REPLY or
ASSURED (update), one removed by expiry, delete, flush or early drop
(destroy, with its final counters). The filter flags select events by their
entry, as they select entries for 'nflab ct list'. Runs until interrupted
(SIGINT or SIGTERM; exit status 0) or until something fails (exit status 1),
such as the module being unloaded. Needs CAP_NET_ADMIN.

The module never waits for a slow reader: when events come faster than they
are read, the kernel drops some. nflab then reports the loss, lists the
table again (with the same filter) to resynchronise, and goes on. Events
printed after a resynchronisation may be older than the listing.

` + ctFilterHelp + `
Flags:
  -o FORMAT   table (the default): one line per event, such as
                [NEW]     tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -
                [DESTROY] icmp 10.0.1.2              -> 10.0.2.2              id=4660 type=8    CONFIRMED
              in fixed columns: the event ([NEW], [UPDATE], [DESTROY], or
              [SYNC] for an entry listed to resynchronise), protocol, the
              original direction's source and destination, the TCP state
              ("-" for udp, id=N type=N for icmp) and the status bits ("-"
              for none). A loss prints "nflab: lost events (receive buffer
              overrun); resynchronising" on stderr before the [SYNC] lines,
              and "nflab: resynchronised, N entries" after them.
              json: one line per event (NDJSON), written as it happens:
              {"type":"new","entry":ENTRY}, "type" being new, update or
              destroy. A loss writes {"type":"lost"}, then one
              {"type":"sync","entry":ENTRY} per entry of the table, then
              {"type":"synced"}. ENTRY is the entry of 'nflab ct list':
              ` + ctEntryJSON + `
`,
	run: runCTEvents,
}

func runCTEvents(a *app, cmd *command, args []string) int {
	var f ctFlags
	fs, out := ctFlagSet(cmd.name, &f, true, false)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	filter, err := f.filter()
	if err != nil {
		return a.usageError(cmd.name, "%v", err)
	}
	return a.withClient(func(c client) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		p := eventPrinter{json: *out == "json", stdout: a.stdout, stderr: a.stderr}
		err := c.WatchConns(ctx, nil, func(ev nftypes.ConnEvent) error {
			if ev.Type != nftypes.EventLost {
				if !filter.Match(ev.Conn) {
					return nil
				}
				return p.entry(ev.Type.String(), ev.Conn)
			}
			if err := p.lost(); err != nil {
				return err
			}
			conns, err := c.Conns(ctx, filter)
			if err != nil {
				return &stepError{"resynchronising after lost events", err}
			}
			for _, ct := range conns {
				if err := p.entry("sync", ct); err != nil {
					return err
				}
			}
			return p.synced(len(conns))
		})
		if se := (*stepError)(nil); errors.As(err, &se) {
			return a.fail(se.what, se.err)
		}
		if err != nil {
			return a.fail("watching connections", err)
		}
		return exitOK
	})
}

// stepError names the step of the watch's callback that failed.
type stepError struct {
	what string
	err  error
}

func (e *stepError) Error() string { return e.what + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// eventPrinter writes the events in the format -o chose. Each line is one
// write to an unbuffered writer, so it reaches a pipe at once.
type eventPrinter struct {
	json           bool
	stdout, stderr io.Writer
}

// jsonEvent is the documented "nflab ct events -o json" line.
type jsonEvent struct {
	Type  string    `json:"type"`
	Entry *jsonConn `json:"entry,omitempty"`
}

// entry writes one event of type typ ("new", "update", "destroy" or
// "sync") about c.
func (p eventPrinter) entry(typ string, c nftypes.Conn) error {
	if p.json {
		jc := connJSON(c)
		return p.writeJSON(jsonEvent{Type: typ, Entry: &jc})
	}
	return p.write([]byte(eventLine("["+strings.ToUpper(typ)+"]", c)))
}

func (p eventPrinter) lost() error {
	if p.json {
		return p.writeJSON(jsonEvent{Type: "lost"})
	}
	fmt.Fprintln(p.stderr, "nflab: lost events (receive buffer overrun); resynchronising")
	return nil
}

func (p eventPrinter) synced(n int) error {
	if p.json {
		return p.writeJSON(jsonEvent{Type: "synced"})
	}
	fmt.Fprintf(p.stderr, "nflab: resynchronised, %d entries\n", n)
	return nil
}

func (p eventPrinter) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return p.write(append(b, '\n'))
}

func (p eventPrinter) write(b []byte) error {
	if _, err := p.stdout.Write(b); err != nil {
		return &stepError{"writing events", err}
	}
	return nil
}

// eventLine formats an event in fixed columns, wide enough for any IPv4
// address and port, so that a stream lines up without a table writer.
func eventLine(tag string, c nftypes.Conn) string {
	o := c.Orig
	src, dst, state := o.Src.String(), o.Dst.String(), "-"
	switch o.Proto {
	case nftypes.TCP, nftypes.UDP:
		src = netip.AddrPortFrom(o.Src, o.SrcPort).String()
		dst = netip.AddrPortFrom(o.Dst, o.DstPort).String()
		if o.Proto == nftypes.TCP {
			state = c.TCPState.String()
		}
	case nftypes.ICMP:
		state = fmt.Sprintf("id=%d type=%d", o.ICMPID, o.ICMPType)
	}
	status := "-"
	if c.Status != 0 {
		status = c.Status.String()
	}
	return fmt.Sprintf("%-9s %-4s %-21s -> %-21s %-17s %s\n", tag, o.Proto, src, dst, state, status)
}
