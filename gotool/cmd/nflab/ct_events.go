package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab ct events": conntrack -E.

const ctEventsHelp = `Print each change of the connection tracking table as it happens (conntrack
-E): an entry created (new), one whose TCP state changed or that gained
SEEN_REPLY or ASSURED (update), one removed by expiry, delete, flush or
early drop (destroy, with its final counters). The filter flags select
events by their entry, as they select entries for 'nflab ct list'. Runs
until interrupted (SIGINT or SIGTERM; exit status 0) or until something
fails (exit status 1), such as the module being unloaded. Needs
CAP_NET_ADMIN.

The module never waits for a slow reader: when events come faster than
they are read, the kernel drops some. nflab then reports the loss, lists
the table again (with the same filter) to resynchronise, and goes on.
Events printed after a resynchronisation may be older than the listing. A
larger --buffer-size makes losses rarer.

Output:
  table: one line per event, such as
           [NEW]     tcp  10.0.1.2:40000        -> 10.0.2.2:80           SYN_SENT          -
           [DESTROY] icmp 10.0.1.2              -> 10.0.2.2              id=4660 type=8    CONFIRMED
         in fixed columns: the event ([NEW], [UPDATE], [DESTROY], or
         [SYNC] for an entry listed to resynchronise), protocol, the
         original direction's source and destination, the TCP state ("-"
         for udp, id=N type=N for icmp) and the status bits ("-" for
         none). A loss prints "nflab: lost events (receive buffer
         overrun); resynchronising" on stderr before the [SYNC] lines, and
         "nflab: resynchronised, N entries" after them.
  json:  one line per event (NDJSON), written as it happens:
         {"type":"new","entry":ENTRY}, "type" being new, update or destroy.
         A loss writes {"type":"lost"}, then one {"type":"sync","entry":ENTRY}
         per entry of the table, then {"type":"synced"}. ENTRY is the entry
         of 'nflab ct list':
         ` + ctEntryJSON

func (a *app) ctEventsCmd() *cobra.Command {
	var (
		f      ctFlags
		filter nftypes.ConnFilter
		buffer sizeValue
	)
	return a.ctLeaf(&f, true, false, leaf{
		use:     "events [flags]",
		short:   "follow the tracked connections' changes as they happen",
		long:    ctEventsHelp,
		example: "  nflab ct events -p tcp --dport 80 -o json\n  nflab -E --buffer-size 8M",
		flags: func(fs *pflag.FlagSet) {
			fs.VarP(once(&buffer), "buffer-size", "b", fmt.Sprintf(
				"the event socket's receive buffer in bytes, such as 4194304 or 4M (default %d)", nflab.DefaultWatchReadBuffer))
		},
		check: func(*cobra.Command) (err error) {
			filter, err = f.filter()
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			// Refused now, rather than selecting nothing and failing
			// the resynchronisation after a loss.
			if err := c.CheckConnFilter(filter); err != nil {
				return nil, failed("watching connections", err)
			}
			ctx := cmd.Context()
			p := eventPrinter{json: a.output == "json", stdout: a.stdout, stderr: a.stderr}
			opts := &nflab.WatchOptions{ReadBuffer: buffer.v}
			err := c.WatchConns(ctx, opts, func(ev nftypes.ConnEvent) error {
				if ev.Type != nftypes.EventLost {
					if !filter.Match(ev.Conn) {
						return nil
					}
					return p.entry(enumOf(ev.Type), ev.Conn)
				}
				if err := p.lost(); err != nil {
					return err
				}
				conns, err := resync(ctx, c, filter, a.stderr)
				if err != nil {
					return failed("resynchronising after lost events", err)
				}
				for _, ct := range conns {
					if err := p.entry(enum{name: "sync"}, ct); err != nil {
						return err
					}
				}
				return p.synced(len(conns))
			})
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil, nil // interrupted while resynchronising
			}
			return nil, failed("watching connections", err)
		},
	})
}

// eventPrinter writes the events in the format -o chose. Each line is one
// write to an unbuffered writer, so it reaches a pipe at once.
type eventPrinter struct {
	json           bool
	stdout, stderr io.Writer
}

// jsonEvent is the documented "nflab ct events -o json" line.
type jsonEvent struct {
	Type  enum      `json:"type"`
	Entry *jsonConn `json:"entry,omitempty"`
}

// entry writes one event of type typ (new, update, destroy or sync)
// about c.
func (p eventPrinter) entry(typ enum, c nftypes.Conn) error {
	if p.json {
		jc := connJSON(c)
		return p.writeJSON(jsonEvent{Type: typ, Entry: &jc})
	}
	return p.write([]byte(eventLine("["+strings.ToUpper(typ.String())+"]", c)))
}

func (p eventPrinter) lost() error {
	if p.json {
		return p.writeJSON(jsonEvent{Type: enumOf(nftypes.EventLost)})
	}
	fmt.Fprintln(p.stderr, "nflab: lost events (receive buffer overrun); resynchronising")
	return nil
}

func (p eventPrinter) synced(n int) error {
	if p.json {
		return p.writeJSON(jsonEvent{Type: enum{name: "synced"}})
	}
	fmt.Fprintf(p.stderr, "nflab: resynchronised, %d entries\n", n)
	return nil
}

func (p eventPrinter) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return failed("encoding JSON", err)
	}
	return p.write(append(b, '\n'))
}

func (p eventPrinter) write(b []byte) error {
	if _, err := p.stdout.Write(b); err != nil {
		return failed("writing events", err)
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
			state = enumOf(c.TCPState).String()
		}
	case nftypes.ICMP:
		state = fmt.Sprintf("id=%d type=%d", o.ICMPID, o.ICMPType)
	}
	status := "-"
	if c.Status != 0 {
		status = strings.Join(c.Status.Names(), ",")
	}
	return fmt.Sprintf("%-9s %-4s %-21s -> %-21s %-17s %s\n", tag, enumOf(o.Proto), src, dst, state, status)
}

// resync lists the entries filter selects after a loss. A dump the
// table's changes interrupted every time (ErrDumpInterrupted) is tried
// again, after a pause that grows to a second, until it succeeds or ctx
// ends: a busy table must not end the watch.
func resync(ctx context.Context, c client, filter nftypes.ConnFilter, stderr io.Writer) ([]nftypes.Conn, error) {
	pause := 10 * time.Millisecond
	for tries := 0; ; tries++ {
		conns, err := c.Conns(ctx, filter)
		if !errors.Is(err, nflab.ErrDumpInterrupted) {
			return conns, err
		}
		if tries == 0 {
			fmt.Fprintln(stderr, "nflab: the table keeps changing during the listing; trying again")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
}
