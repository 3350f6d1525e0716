package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab ct <sub>": connection tracking, in conntrack(8)'s words.

func (a *app) ctCmd() *cobra.Command {
	return a.group("ct", "list, look up, follow, delete and configure tracked connections",
		`Inspect, follow and change nflab's connection tracking table. Reading the
entries, following their changes and changing anything needs CAP_NET_ADMIN;
count (without a filter), stats and config (shown, not set) are open to
anyone.

Filter flags (list, delete, flush, events, count) select entries by their
original direction and status; every one given must match (--src-nat and
--dst-nat: connections whose source or destination NAT translates, the
status bits SRC_NAT and DST_NAT, which need a module of protocol 4 or
newer). Tuple flags (get, delete) name one direction of one connection,
original or reply. conntrack(8)'s
spellings work too: --orig-src, --orig-dst, --orig-port-src,
--orig-port-dst, and numeric protocols (-p 6).`,
		a.ctListCmd(), a.ctGetCmd(), a.ctEventsCmd(), a.ctDeleteCmd(), a.ctFlushCmd(),
		a.ctCountCmd(), a.ctStatsCmd(), a.ctConfigCmd(), a.ctGCCmd(),
	)
}

// ctEntryJSON documents the JSON of one entry, shared by the subcommands'
// help.
const ctEntryJSON = `{"id":N,"proto":"tcp","orig":{"src":"A","dst":"A","sport":N,"dport":N},
          "reply":{...},"tcp_state":"ESTABLISHED",
          "status":["SEEN_REPLY","ASSURED","CONFIRMED"],"timeout":SECONDS,
          "packets_orig":N,"bytes_orig":N,"packets_reply":N,"bytes_reply":N,
          "start":"RFC 3339 time, UTC"}
         ICMP tuples have "icmp_id":N,"icmp_type":N instead of the ports;
         "tcp_state" is left out for udp and icmp, "start" if the module
         did not report it; "status" is always an array, possibly empty,
         of SEEN_REPLY, ASSURED, CONFIRMED, DYING, SRC_NAT and DST_NAT
         (a NATed connection's "reply" tuple shows the translation).
         A protocol or TCP state this command does not know is a number.`

// ctLeaf declares a ct subcommand with the filter flags, the tuple flags
// or both, and their completion.
func (a *app) ctLeaf(f *ctFlags, filter, tuple bool, l leaf) *cobra.Command {
	own := l.flags
	l.flags = func(fs *pflag.FlagSet) {
		if filter {
			f.addFilter(fs)
		}
		if tuple {
			f.addTuple(fs)
		}
		if own != nil {
			own(fs)
		}
	}
	cmd := a.leaf(l)
	ctCompletions(cmd)
	return cmd
}

func (a *app) ctListCmd() *cobra.Command {
	var (
		f      ctFlags
		filter nftypes.ConnFilter
	)
	return a.ctLeaf(&f, true, false, leaf{
		use:   "list [flags]",
		short: "list the tracked connections, or those a filter selects",
		long: `List the tracked connections (conntrack -L). Needs CAP_NET_ADMIN.

Output:
  table: columns PROTO, SRC, DST, SPORT, DPORT, STATE, STATUS, TIMEOUT
         (seconds left), PACKETS and BYTES (original/reply), for the
         original direction, then NAT, one word: the new source
         ("src-nat=ADDR:PORT", status SRC_NAT) and destination
         ("dst-nat=ADDR:PORT", DST_NAT) NAT gave the connection, from its
         reply tuple, joined by a comma, or "-"; ICMP entries show id=N
         and type=N under SPORT and DPORT, and "src-nat=ADDR/id=N" and
         "dst-nat=ADDR" under NAT (only source NAT moves an echo's id)
  json:  one line, {"entries":[ENTRY,...]}, where ENTRY is
         ` + ctEntryJSON,
		example: "  nflab ct list -p tcp --state ESTABLISHED\n  nflab -L -p 6 -o json",
		check: func(*cobra.Command) (err error) {
			filter, err = f.filter()
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			conns, err := c.Conns(ctx, filter)
			if err != nil {
				return nil, failed("listing connections", err)
			}
			js := jsonConns{Entries: make([]jsonConn, 0, len(conns))}
			for _, ct := range conns {
				js.Entries = append(js.Entries, connJSON(ct))
			}
			return &output{json: js, table: func(w io.Writer) { writeConnTable(w, conns) }}, nil
		},
	})
}

func (a *app) ctGetCmd() *cobra.Command {
	var (
		f       ctFlags
		t       nftypes.Tuple
		history bool
	)
	return a.ctLeaf(&f, false, true, leaf{
		use:   "get -p PROTO -s ADDR -d ADDR (--sport N --dport N | --icmp-id N --icmp-type T) [--history] [flags]",
		short: "show the connection with a given tuple",
		long: `Show the entry with this tuple in either direction (conntrack -G): -p, -s
and -d as addresses, and --sport and --dport for tcp and udp, or --icmp-id
and --icmp-type for icmp. Exits 1 with "nflab: no such connection" if
there is none. Needs CAP_NET_ADMIN.

` + ctHistoryHelp + `

Output:
` + ctHistoryOutputHelp + `
  json:  one line, the entry alone:
         ` + ctEntryJSON + `
` + ctHistoryJSONHelp,
		example: "  nflab ct get -p tcp -s 10.0.1.2 -d 10.0.2.2 --sport 40000 --dport 80\n" +
			"  nflab ct get -p icmp -s 10.0.1.2 -d 10.0.2.2 --icmp-id 4660 --icmp-type 8\n" +
			"  nflab ct get -p tcp -s 10.0.1.2 -d 10.0.2.2 --sport 40000 --dport 80 --history",
		flags: func(fs *pflag.FlagSet) {
			boolFlag(fs, &history, "history", "also show the connection's last changes made by traced packets")
		},
		check: func(*cobra.Command) (err error) {
			t, err = f.tuple()
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			ct, err := c.Conn(ctx, t)
			if errors.Is(err, os.ErrNotExist) {
				return nil, &opError{err: errNoConn}
			}
			if err != nil {
				return nil, failed("looking up the connection", err)
			}
			js := connJSON(ct)
			if !history {
				return &output{json: js, table: func(w io.Writer) { writeConnTable(w, []nftypes.Conn{ct}) }}, nil
			}
			kept := c.KeepsConnHistory()
			if kept {
				h := historyJSON(ct)
				js.History = &h
			}
			loc := a.loc
			if loc == nil {
				loc = time.Local
			}
			return &output{json: js, table: func(w io.Writer) {
				writeConnTable(w, []nftypes.Conn{ct})
				for _, l := range historyLines(ct, loc, kept) {
					fmt.Fprintln(w, l)
				}
			}}, nil
		},
	})
}

// jsonDeleted is the documented shape of delete and flush.
type jsonDeleted struct {
	Deleted int `json:"deleted"`
}

func (a *app) ctDeleteCmd() *cobra.Command {
	var (
		f      ctFlags
		t      nftypes.Tuple
		filter nftypes.ConnFilter
		whole  bool
	)
	return a.ctLeaf(&f, true, true, leaf{
		use:   "delete [flags]",
		short: "delete one connection, or those a filter selects",
		long: `With a whole tuple (-p, -s and -d as addresses, and both ports, or
--icmp-id and --icmp-type for icmp) and none of --state, --status,
--src-nat and --dst-nat, delete that entry, found in either direction
(conntrack -D); exits 1 with "nflab: no such connection" if there is
none. Otherwise the flags are a filter and every matching entry is
deleted. With no flags at all, nothing is deleted: use 'nflab ct flush'
to delete every entry. Needs CAP_NET_ADMIN.

Output:
  table: "deleted N"
  json:  one line, {"deleted":N}`,
		example: "  nflab ct delete -p tcp -s 10.0.1.2 -d 10.0.2.2 --sport 40000 --dport 80\n  nflab -D -p udp --dport 9999",
		check: func(*cobra.Command) (err error) {
			if whole = f.wholeTuple(); whole {
				t, err = f.tuple()
				return err
			}
			if filter, err = f.filter(); err == nil && filter == (nftypes.ConnFilter{}) {
				err = usagef("give a connection or a filter; 'nflab ct flush' deletes every entry")
			}
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			n := 1
			var err error
			if whole {
				err = c.DeleteConn(ctx, t)
			} else {
				n, err = c.DeleteConns(ctx, filter)
			}
			if whole && errors.Is(err, os.ErrNotExist) {
				return nil, &opError{err: errNoConn}
			}
			if err != nil {
				return nil, failed("deleting connections", err)
			}
			return &output{json: jsonDeleted{n}, table: func(w io.Writer) { fmt.Fprintf(w, "deleted %d\n", n) }}, nil
		},
	})
}

func (a *app) ctFlushCmd() *cobra.Command {
	var (
		f      ctFlags
		filter nftypes.ConnFilter
	)
	return a.ctLeaf(&f, true, false, leaf{
		use:   "flush [flags]",
		short: "delete every connection, or those a filter selects",
		long: `Delete every tracked connection, or every one the filter selects
(conntrack -F). Needs CAP_NET_ADMIN.

Output:
  table: "flushed N"
  json:  one line, {"deleted":N}`,
		example: "  nflab ct flush -p icmp\n  nflab -F -o json",
		check: func(*cobra.Command) (err error) {
			filter, err = f.filter()
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			n, err := c.DeleteConns(ctx, filter)
			if err != nil {
				return nil, failed("flushing connections", err)
			}
			return &output{json: jsonDeleted{n}, table: func(w io.Writer) { fmt.Fprintf(w, "flushed %d\n", n) }}, nil
		},
	})
}

func (a *app) ctCountCmd() *cobra.Command {
	var (
		f        ctFlags
		filter   nftypes.ConnFilter
		filtered bool
	)
	return a.ctLeaf(&f, true, false, leaf{
		use:   "count [flags]",
		short: "show how many connections are tracked, and the limit",
		long: `Show the number of tracked connections and the most the table may hold
(conntrack -C). Without a filter anyone may count; with one, the entries
are listed and counted, which needs CAP_NET_ADMIN.

Output:
  table: "N entries (limit M)"
  json:  one line, {"count":N,"limit":M}`,
		check: func(cmd *cobra.Command) (err error) {
			filter, err = f.filter()
			filtered = filter != (nftypes.ConnFilter{})
			return err
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			if filtered {
				// Refused before the count is asked for.
				if err := c.CheckConnFilter(filter); err != nil {
					return nil, failed("counting connections", err)
				}
			}
			ctx := cmd.Context()
			n, limit, err := c.ConnCount(ctx)
			if err != nil {
				return nil, failed("counting connections", err)
			}
			if filtered {
				conns, err := c.Conns(ctx, filter)
				if err != nil {
					return nil, failed("listing connections", err)
				}
				n = len(conns)
			}
			return &output{
				json: struct {
					Count int `json:"count"`
					Limit int `json:"limit"`
				}{n, limit},
				table: func(w io.Writer) { fmt.Fprintf(w, "%d entries (limit %d)\n", n, limit) },
			}, nil
		},
	})
}

// jsonCTStats is the documented "nflab ct stats -o json" shape, and the
// rows of the table; its names are nflab.h's NFLAB_CT_STATS_A_* in lower
// case (a test checks).
type jsonCTStats struct {
	Found         uint64 `json:"found"`
	New           uint64 `json:"new"`
	Invalid       uint64 `json:"invalid"`
	Insert        uint64 `json:"insert"`
	InsertFailed  uint64 `json:"insert_failed"`
	Clash         uint64 `json:"clash"`
	Drop          uint64 `json:"drop"`
	EarlyDrop     uint64 `json:"early_drop"`
	GCEvicted     uint64 `json:"gc_evicted"`
	SearchRestart uint64 `json:"search_restart"`
	Related       uint64 `json:"related"`
	NATExhausted  uint64 `json:"nat_exhausted"`
	NATClash      uint64 `json:"nat_clash"`
	NATLost       uint64 `json:"nat_lost"`
}

func (a *app) ctStatsCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "stats",
		short: "show the tracker's counters",
		long: `Show the connection tracker's counters, summed over all CPUs (conntrack -S).
nat_exhausted counts first packets dropped because NAT found no free tuple
in its range, nat_clash those dropped because another new connection took
the same translated tuple first (both 0 from a module older than NAT).
nat_lost counts packets dropped because their connection's entry went
(a flush) between tracking and a NAT hook: what they should become was
unknown, and NAT fails closed (0 from a module of protocol 4 or older).

Output:
  table: columns COUNTER, VALUE
  json:  one line, {"found":N,"new":N,"invalid":N,"insert":N,
         "insert_failed":N,"clash":N,"drop":N,"early_drop":N,
         "gc_evicted":N,"search_restart":N,"related":N,
         "nat_exhausted":N,"nat_clash":N,"nat_lost":N}`,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			s, err := c.TrackerStats(ctx)
			if err != nil {
				return nil, failed("reading the conntrack counters", err)
			}
			js := jsonCTStats(s)
			return &output{json: js, table: func(w io.Writer) {
				// The rows are the JSON's fields, named as in the JSON.
				tw := newTable(w)
				fmt.Fprintln(tw, "COUNTER\tVALUE")
				v := reflect.ValueOf(js)
				for i := range v.NumField() {
					name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
					fmt.Fprintf(tw, "%s\t%d\n", name, v.Field(i).Uint())
				}
				tw.Flush()
			}}, nil
		},
	})
}

func (a *app) ctConfigCmd() *cobra.Command {
	var (
		limit    limitValue
		loose    bool
		timeouts = timeoutsValue{}
		set      bool // settings to change were given
		setLoose bool // --tcp-loose was given
	)
	cmd := a.leaf(leaf{
		use:   "config [--limit N] [--tcp-loose[=BOOL]] [--timeout NAME=DURATION]... [flags]",
		short: "show or change the table limit, TCP pickup and timeouts",
		long: `Without settings, show every setting. With settings, change only those
given, all or none, and print nothing; that needs CAP_NET_ADMIN.

A timeout's DURATION is whole seconds from 1s to 30 days, written as 30s,
5m, 120h or a bare number of seconds. Its NAME is one of
` + wrap(strings.Join(timeoutNames(), ", "), 72) + `.

Output (without settings):
  table: columns SETTING, VALUE; timeouts as Ns
  json:  one line, {"limit":N,"tcp_loose":BOOL,
         "timeouts":{"tcp_syn_sent":SECONDS,...,"tcp_unack":SECONDS}}`,
		example: "  nflab ct config --limit 100000 --timeout tcp_established=2h --timeout udp_unreplied=60",
		flags: func(fs *pflag.FlagSet) {
			fs.Var(once(&limit), "limit", fmt.Sprintf("the most entries the table may hold, 1-%d", nftypes.MaxLimit))
			boolFlag(fs, &loose, "tcp-loose", "pick up TCP connections seen mid-stream (their windows are then learnt, not enforced)")
			fs.Var(timeouts, "timeout", "set one timeout; repeat for more")
		},
		check: func(cmd *cobra.Command) error {
			set, setLoose = changed(cmd, "limit", "tcp-loose", "timeout"), changed(cmd, "tcp-loose")
			if set && changed(cmd, "output") {
				return usagef("--output cannot be combined with settings to change, which print nothing")
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			if set {
				cfg := nftypes.TrackerConfig{Timeouts: timeouts}
				if limit.set {
					cfg.Limit = &limit.v
				}
				if setLoose {
					cfg.TCPLoose = &loose
				}
				return nil, failed("changing the conntrack settings", c.SetTrackerConfig(ctx, cfg))
			}
			cfg, err := c.TrackerConfig(ctx)
			if err != nil {
				return nil, failed("reading the conntrack settings", err)
			}
			return &output{
				json: jsonCTConfig{Limit: *cfg.Limit, TCPLoose: *cfg.TCPLoose, Timeouts: jsonTimeouts(cfg.Timeouts)},
				table: func(w io.Writer) {
					tw := newTable(w)
					fmt.Fprintln(tw, "SETTING\tVALUE")
					fmt.Fprintf(tw, "limit\t%d\n", *cfg.Limit)
					fmt.Fprintf(tw, "tcp_loose\t%t\n", *cfg.TCPLoose)
					for _, t := range timeoutOrder(cfg.Timeouts) {
						fmt.Fprintf(tw, "%s\t%ds\n", enumOf(t), int64(cfg.Timeouts[t]/time.Second))
					}
					tw.Flush()
				},
			}, nil
		},
	})
	must(cmd.RegisterFlagCompletionFunc("timeout", completeTimeout))
	must(cmd.RegisterFlagCompletionFunc("tcp-loose", fixedValues("true", "false")))
	return cmd
}

// completeTimeout completes --timeout's NAME, then offers a few durations.
func completeTimeout(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if name, _, ok := strings.Cut(toComplete, "="); ok {
		var out []cobra.Completion
		for _, d := range []string{"30s", "2m", "5m", "1h", "5d"} {
			if strings.HasPrefix(name+"="+d, toComplete) {
				out = append(out, name+"="+d)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, n := range timeoutNames() {
		if strings.HasPrefix(n, strings.ToLower(toComplete)) {
			out = append(out, n+"=")
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// wrap breaks s into lines of at most width at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && line+1+len(w) > width {
			b.WriteByte('\n')
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// jsonCTConfig is the documented "nflab ct config -o json" shape.
type jsonCTConfig struct {
	Limit    uint32       `json:"limit"`
	TCPLoose bool         `json:"tcp_loose"`
	Timeouts jsonTimeouts `json:"timeouts"`
}

// jsonTimeouts is an object of seconds in protocol order, not the
// alphabetical order encoding/json gives maps. Timeouts this client does
// not know are keyed by their number.
type jsonTimeouts map[nftypes.Timeout]time.Duration

func (t jsonTimeouts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for _, k := range timeoutOrder(t) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, enumOf(k).String())
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(t[k]/time.Second), 10)
	}
	return append(b, '}'), nil
}

// timeoutOrder returns the timeouts in m in protocol order, then those
// this client does not know, by number.
func timeoutOrder(m map[nftypes.Timeout]time.Duration) []nftypes.Timeout {
	var (
		out   []nftypes.Timeout
		known = map[nftypes.Timeout]bool{}
	)
	for _, k := range nftypes.Timeouts() {
		known[k] = true
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	var unknown []nftypes.Timeout
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return append(out, unknown...)
}

func (a *app) ctGCCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "gc",
		short: "remove expired connections now",
		long: `Remove every expired entry now rather than waiting for the incremental
garbage collection. Needs CAP_NET_ADMIN.

Output:
  table: "evicted N"
  json:  one line, {"evicted":N}`,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			n, err := c.RunGC(ctx)
			if err != nil {
				return nil, failed("running conntrack garbage collection", err)
			}
			return &output{
				json: struct {
					Evicted int `json:"evicted"`
				}{n},
				table: func(w io.Writer) { fmt.Fprintf(w, "evicted %d\n", n) },
			}, nil
		},
	})
}

// jsonConns and jsonConn are the documented "nflab ct list -o json" shape.
type jsonConns struct {
	Entries []jsonConn `json:"entries"`
}

type jsonConn struct {
	ID           uint32    `json:"id"`
	Proto        enum      `json:"proto"`
	Orig         jsonTuple `json:"orig"`
	Reply        jsonTuple `json:"reply"`
	TCPState     *enum     `json:"tcp_state,omitempty"`
	Status       []string  `json:"status"`
	Timeout      int64     `json:"timeout"`
	PacketsOrig  uint64    `json:"packets_orig"`
	BytesOrig    uint64    `json:"bytes_orig"`
	PacketsReply uint64    `json:"packets_reply"`
	BytesReply   uint64    `json:"bytes_reply"`
	Start        time.Time `json:"start,omitzero"`
	// History is ct get --history's, left out without it, and when the
	// module keeps none.
	History *[]jsonConnChange `json:"history,omitempty"`
}

type jsonTuple struct {
	Src      netip.Addr `json:"src"`
	Dst      netip.Addr `json:"dst"`
	SPort    *uint16    `json:"sport,omitempty"`
	DPort    *uint16    `json:"dport,omitempty"`
	ICMPID   *uint16    `json:"icmp_id,omitempty"`
	ICMPType *uint8     `json:"icmp_type,omitempty"`
}

func tupleJSON(t nftypes.Tuple) jsonTuple {
	jt := jsonTuple{Src: t.Src, Dst: t.Dst}
	switch t.Proto {
	case nftypes.TCP, nftypes.UDP:
		jt.SPort, jt.DPort = &t.SrcPort, &t.DstPort
	case nftypes.ICMP:
		jt.ICMPID, jt.ICMPType = &t.ICMPID, &t.ICMPType
	}
	return jt
}

func connJSON(c nftypes.Conn) jsonConn {
	jc := jsonConn{
		ID:           c.ID,
		Proto:        enumOf(c.Orig.Proto),
		Orig:         tupleJSON(c.Orig),
		Reply:        tupleJSON(c.Reply),
		Status:       c.Status.Names(),
		Timeout:      int64(c.Timeout / time.Second),
		PacketsOrig:  c.PacketsOrig,
		BytesOrig:    c.BytesOrig,
		PacketsReply: c.PacketsReply,
		BytesReply:   c.BytesReply,
		Start:        c.Start,
	}
	if c.Orig.Proto == nftypes.TCP {
		s := enumOf(c.TCPState)
		jc.TCPState = &s
	}
	return jc
}

func writeConnTable(w io.Writer, conns []nftypes.Conn) {
	tw := newTable(w)
	fmt.Fprintln(tw, "PROTO\tSRC\tDST\tSPORT\tDPORT\tSTATE\tSTATUS\tTIMEOUT\tPACKETS\tBYTES\tNAT")
	for _, c := range conns {
		o := c.Orig
		sport, dport, state := "-", "-", "-"
		switch o.Proto {
		case nftypes.TCP, nftypes.UDP:
			sport, dport = strconv.Itoa(int(o.SrcPort)), strconv.Itoa(int(o.DstPort))
		case nftypes.ICMP:
			sport, dport = "id="+strconv.Itoa(int(o.ICMPID)), "type="+strconv.Itoa(int(o.ICMPType))
		}
		if o.Proto == nftypes.TCP {
			state = enumOf(c.TCPState).String()
		}
		status := "-"
		if c.Status != 0 {
			status = strings.Join(c.Status.Names(), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%d/%d\t%s\n",
			enumOf(o.Proto), o.Src, o.Dst, sport, dport, state, status, int64(c.Timeout/time.Second),
			c.PacketsOrig, c.PacketsReply, c.BytesOrig, c.BytesReply, natColumn(c))
	}
	tw.Flush()
}

// natColumn is the NAT column of c: each side NAT translated, as the
// reply tuple shows it (conntrack -L prints the whole reply tuple; the
// changed side is what a reader looks for), such as
// "src-nat=10.0.3.1:61001,dst-nat=10.0.3.3:80". It is one word without
// spaces, so that awk's $NF is the whole of it. An ICMP echo's id is the
// source NAT's to move (a destination NAT never does), so only that
// side shows it: "src-nat=192.0.2.1/id=7".
func natColumn(c nftypes.Conn) string {
	r := c.Reply
	var sides []string
	if c.Status&nftypes.StatusSrcNAT != 0 {
		side := r.Dst.String()
		switch r.Proto {
		case nftypes.TCP, nftypes.UDP:
			side = netip.AddrPortFrom(r.Dst, r.DstPort).String()
		case nftypes.ICMP:
			side += "/id=" + strconv.Itoa(int(r.ICMPID))
		}
		sides = append(sides, "src-nat="+side)
	}
	if c.Status&nftypes.StatusDstNAT != 0 {
		side := r.Src.String()
		if r.Proto == nftypes.TCP || r.Proto == nftypes.UDP {
			side = netip.AddrPortFrom(r.Src, r.SrcPort).String()
		}
		sides = append(sides, "dst-nat="+side)
	}
	if len(sides) == 0 {
		return "-"
	}
	return strings.Join(sides, ",")
}
