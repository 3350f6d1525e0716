package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab ct <sub>": connection tracking, in conntrack(8)'s words.

var cmdCT = &command{
	name:  "ct",
	short: "list, look up, follow, delete and configure tracked connections",
	run:   runCT,
}

func init() {
	cmdCT.subs = []*command{cmdCTList, cmdCTGet, cmdCTEvents, cmdCTDelete, cmdCTFlush, cmdCTCount, cmdCTStats, cmdCTConfig, cmdCTGC}
	var b strings.Builder
	b.WriteString(`Usage: nflab ct <subcommand> [flags]

Inspect, follow and change nflab's connection tracking table. Reading the
entries, following their changes and changing anything needs CAP_NET_ADMIN;
count, stats and config (shown, not set) are open to anyone.

Subcommands:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, c := range cmdCT.subs {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimPrefix(c.name, "ct "), c.short)
	}
	tw.Flush()
	b.WriteString(`
Run 'nflab ct <subcommand> --help' or 'nflab help ct <subcommand>' for its
flags and JSON shape.
`)
	cmdCT.usage = b.String()
}

func runCT(a *app, c *command, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stdout, c.usage)
		return exitOK
	}
	switch args[0] {
	case "-h", "-help", "--help":
		if len(args) > 1 {
			return a.usageError(c.name, "unexpected argument %q", args[1])
		}
		fmt.Fprint(a.stdout, c.usage)
		return exitOK
	case "help":
		return runHelp(a, cmdHelp, append([]string{c.name}, args[1:]...))
	}
	if strings.HasPrefix(args[0], "-") {
		return a.usageError(c.name, "unknown flag %s (flags go after the subcommand)", args[0])
	}
	sub := lookupSub(c, args[0])
	if sub == nil {
		return a.usageError(c.name, "unknown subcommand %q", args[0])
	}
	return sub.run(a, sub, args[1:])
}

// The flag text shared by the subcommands' help.
const (
	ctFilterHelp = `Filter flags (every one given must match the entry's original direction):
  -p, --proto P     tcp, udp or icmp
  -s, --src A[/N]   source address or IPv4 prefix, such as 10.0.1.2 or 10.0.0.0/16
  -d, --dst A[/N]   destination address or prefix
  --sport N         source port, 1-65535; needs -p tcp or -p udp
  --dport N         destination port, 1-65535; needs -p tcp or -p udp
  --state S         TCP state: NONE, SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT,
                    CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2 (any case);
                    implies -p tcp, and is refused with -p udp or -p icmp
  --status S[,S]    entries with all these bits: SEEN_REPLY, ASSURED,
                    CONFIRMED, DYING
`
	ctTupleHelp = `Tuple flags (one direction of the connection, original or reply):
  -p, --proto P     tcp, udp or icmp
  -s, --src A       source address
  -d, --dst A       destination address
  --sport N         source port (tcp, udp)
  --dport N         destination port (tcp, udp)
  --icmp-id N       ICMP echo id, 0-65535 (icmp)
  --icmp-type T     ICMP type, 0-255: 8 for an echo request (icmp)
`
	ctEntryJSON = `{"id":N,"proto":"tcp","orig":{"src":"A","dst":"A","sport":N,"dport":N},
               "reply":{...},"tcp_state":"ESTABLISHED",
               "status":["SEEN_REPLY","ASSURED","CONFIRMED"],"timeout":SECONDS,
               "packets_orig":N,"bytes_orig":N,"packets_reply":N,"bytes_reply":N,
               "start":"RFC 3339 time, UTC"}
              ICMP tuples have "icmp_id":N,"icmp_type":N instead of the ports;
              "tcp_state" is left out for udp and icmp, "start" if the module
              did not report it; "status" is always an array, possibly empty.`
)

var cmdCTList = &command{
	name:  "ct list",
	short: "list the tracked connections, or those a filter selects",
	usage: `Usage: nflab ct list [filter flags] [-o table|json]

List the tracked connections. Needs CAP_NET_ADMIN.

` + ctFilterHelp + `
Flags:
  -o FORMAT   table (the default): columns PROTO, SRC, DST, SPORT, DPORT,
              STATE, STATUS, TIMEOUT (seconds left), PACKETS and BYTES
              (original/reply), for the original direction; ICMP entries
              show id=N and type=N under SPORT and DPORT
              json: one line, {"entries":[ENTRY,...]}, where ENTRY is
              ` + ctEntryJSON + `
`,
	run: runCTList,
}

var cmdCTGet = &command{
	name:  "ct get",
	short: "show the connection with a given tuple",
	usage: `Usage: nflab ct get -p tcp|udp -s A -d A --sport N --dport N [-o table|json]
       nflab ct get -p icmp -s A -d A --icmp-id N --icmp-type T [-o table|json]

Show the entry with this tuple in either direction. Exits 1 with "nflab: no
such connection" if there is none. Needs CAP_NET_ADMIN.

` + ctTupleHelp + `
Flags:
  -o FORMAT   table (the default): as 'nflab ct list'
              json: one line, the entry alone:
              ` + ctEntryJSON + `
`,
	run: runCTGet,
}

var cmdCTDelete = &command{
	name:  "ct delete",
	short: "delete one connection, or those a filter selects",
	usage: `Usage: nflab ct delete -p P -s A -d A (--sport N --dport N | --icmp-id N --icmp-type T) [-o table|json]
       nflab ct delete [filter flags] [-o table|json]

With a whole tuple (-p, -s and -d as addresses, and both ports, or
--icmp-id and --icmp-type for icmp) and neither --state nor --status, delete
that entry, found in either direction; exits 1 with "nflab: no such
connection" if there is none. Otherwise the flags are a filter and every
matching entry is deleted. With no flags at all, nothing is deleted: use
'nflab ct flush' to delete every entry. Needs CAP_NET_ADMIN.

` + ctTupleHelp + `
` + ctFilterHelp + `
Flags:
  -o FORMAT   table (the default): "deleted N"
              json: one line, {"deleted":N}
`,
	run: runCTDelete,
}

var cmdCTFlush = &command{
	name:  "ct flush",
	short: "delete every connection, or those a filter selects",
	usage: `Usage: nflab ct flush [filter flags] [-o table|json]

Delete every tracked connection, or every one the filter selects. Needs
CAP_NET_ADMIN.

` + ctFilterHelp + `
Flags:
  -o FORMAT   table (the default): "flushed N"
              json: one line, {"deleted":N}
`,
	run: runCTFlush,
}

var cmdCTCount = &command{
	name:  "ct count",
	short: "show how many connections are tracked, and the limit",
	usage: `Usage: nflab ct count [-o table|json]

Show the number of tracked connections and the most the table may hold.

Flags:
  -o FORMAT   table (the default): "N entries (limit M)"
              json: one line, {"count":N,"limit":M}
`,
	run: runCTCount,
}

var cmdCTStats = &command{
	name:  "ct stats",
	short: "show the tracker's counters",
	usage: `Usage: nflab ct stats [-o table|json]

Show the connection tracker's counters, summed over all CPUs.

Flags:
  -o FORMAT   table (the default): columns COUNTER, VALUE
              json: one line, {"found":N,"new":N,"invalid":N,"insert":N,
              "insert_failed":N,"clash":N,"drop":N,"early_drop":N,
              "gc_evicted":N,"search_restart":N,"related":N}
`,
	run: runCTStats,
}

var cmdCTConfig = &command{
	name:  "ct config",
	short: "show or change the table limit, TCP pickup and timeouts",
	usage: `Usage: nflab ct config [-o table|json]
       nflab ct config [--limit N] [--tcp-loose=true|false] [--timeout NAME=DURATION]...

Without settings, show every setting. With settings, change only those
given, all or none, and print nothing; that needs CAP_NET_ADMIN.

Flags:
  --limit N                the most entries the table may hold, 1-4194304
  --tcp-loose=true|false   pick up TCP connections seen mid-stream (their
                           windows are then learnt, not enforced)
  --timeout NAME=DURATION  repeatable; DURATION is whole seconds from 1s to
                           30 days, written as 30s, 5m, 120h or a bare number
                           of seconds. NAME is one of tcp_syn_sent,
                           tcp_syn_recv, tcp_established, tcp_fin_wait,
                           tcp_close_wait, tcp_last_ack, tcp_time_wait,
                           tcp_close, udp_unreplied, udp_assured, icmp,
                           tcp_retrans, tcp_unack
  -o FORMAT   table (the default): columns SETTING, VALUE; timeouts as Ns
              json: one line, {"limit":N,"tcp_loose":BOOL,
              "timeouts":{"tcp_syn_sent":SECONDS,...,"tcp_unack":SECONDS}}
`,
	run: runCTConfig,
}

var cmdCTGC = &command{
	name:  "ct gc",
	short: "remove expired connections now",
	usage: `Usage: nflab ct gc [-o table|json]

Remove every expired entry now rather than waiting for the incremental
garbage collection. Needs CAP_NET_ADMIN.

Flags:
  -o FORMAT   table (the default): "evicted N"
              json: one line, {"evicted":N}
`,
	run: runCTGC,
}

// ctFlags are the tuple and filter flags; which ones a subcommand has
// depends on what it takes.
type ctFlags struct {
	proto            protoValue
	src, dst         addrValue
	sport, dport     portValue
	state            stateValue
	status           statusValue
	icmpID, icmpType numValue
}

func (f *ctFlags) addCommon(fs *flag.FlagSet) {
	fs.Var(&f.proto, "p", "")
	fs.Var(&f.proto, "proto", "")
	fs.Var(&f.src, "s", "")
	fs.Var(&f.src, "src", "")
	fs.Var(&f.dst, "d", "")
	fs.Var(&f.dst, "dst", "")
	fs.Var(&f.sport, "sport", "")
	fs.Var(&f.dport, "dport", "")
}

func (f *ctFlags) addFilter(fs *flag.FlagSet) {
	fs.Var(&f.state, "state", "")
	fs.Var(&f.status, "status", "")
}

func (f *ctFlags) addTuple(fs *flag.FlagSet) {
	f.icmpID.max, f.icmpType.max = 1<<16-1, 1<<8-1
	fs.Var(&f.icmpID, "icmp-id", "")
	fs.Var(&f.icmpType, "icmp-type", "")
}

// wholeTuple reports whether the flags name one connection: every tuple
// flag of the protocol given, addresses without prefix, no filter flags.
func (f *ctFlags) wholeTuple() bool {
	if f.icmpID.set || f.icmpType.set {
		return true // only a tuple has them; tuple() says what is missing
	}
	return (f.proto.v == nftypes.TCP || f.proto.v == nftypes.UDP) &&
		f.src.isAddr() && f.dst.isAddr() && f.sport.set && f.dport.set &&
		!f.state.set && !f.status.set
}

// tuple builds the tuple the flags name, or says what is wrong.
func (f *ctFlags) tuple() (nftypes.Tuple, error) {
	if f.state.set || f.status.set {
		return nftypes.Tuple{}, errors.New("--state and --status select by filter; they cannot be combined with --icmp-id or --icmp-type")
	}
	if !f.proto.set {
		return nftypes.Tuple{}, errors.New("missing -p (tcp, udp or icmp)")
	}
	for _, a := range []struct {
		flag string
		v    *addrValue
	}{{"-s", &f.src}, {"-d", &f.dst}} {
		if !a.v.set {
			return nftypes.Tuple{}, fmt.Errorf("missing %s", a.flag)
		}
		if !a.v.isAddr() {
			return nftypes.Tuple{}, fmt.Errorf("%s %s is a prefix; one connection needs an address", a.flag, a.v.p)
		}
	}
	t := nftypes.Tuple{Src: f.src.p.Addr(), Dst: f.dst.p.Addr(), Proto: f.proto.v}
	if t.Proto == nftypes.ICMP {
		if f.sport.set || f.dport.set {
			return nftypes.Tuple{}, errors.New("--sport and --dport apply to tcp and udp; icmp takes --icmp-id and --icmp-type")
		}
		if !f.icmpID.set || !f.icmpType.set {
			return nftypes.Tuple{}, errors.New("missing --icmp-id or --icmp-type (icmp)")
		}
		t.ICMPID, t.ICMPType = uint16(f.icmpID.v), uint8(f.icmpType.v)
		return t, nil
	}
	if f.icmpID.set || f.icmpType.set {
		return nftypes.Tuple{}, fmt.Errorf("--icmp-id and --icmp-type apply to icmp, not %s", t.Proto)
	}
	if !f.sport.set || !f.dport.set {
		return nftypes.Tuple{}, fmt.Errorf("missing --sport or --dport (%s)", t.Proto)
	}
	t.SrcPort, t.DstPort = f.sport.v, f.dport.v
	return t, validateMsg(t.Validate())
}

// filter builds the filter the flags describe, or says what is wrong.
func (f *ctFlags) filter() (nftypes.ConnFilter, error) {
	ft := nftypes.ConnFilter{
		Proto:   f.proto.v,
		Src:     f.src.p,
		Dst:     f.dst.p,
		SrcPort: f.sport.v,
		DstPort: f.dport.v,
		Status:  f.status.v,
	}
	if f.state.set {
		if f.proto.set && f.proto.v != nftypes.TCP {
			return nftypes.ConnFilter{}, fmt.Errorf("--state applies to tcp, not %s", f.proto.v)
		}
		s := f.state.v
		ft.TCPState = &s
		ft.Proto = nftypes.TCP
	}
	if (f.sport.set || f.dport.set) && ft.Proto != nftypes.TCP && ft.Proto != nftypes.UDP {
		return nftypes.ConnFilter{}, errors.New("--sport and --dport need -p tcp or -p udp")
	}
	return ft, validateMsg(ft.Validate())
}

// validateMsg turns a library validation error into a usage message.
func validateMsg(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(strings.TrimPrefix(err.Error(), "nflab: "))
}

// protoValue is -p: tcp, udp or icmp.
type protoValue struct {
	v   nftypes.Proto
	set bool
}

func (p *protoValue) String() string {
	if p == nil || !p.set {
		return ""
	}
	return p.v.String()
}

func (p *protoValue) Set(s string) error {
	for _, v := range []nftypes.Proto{nftypes.TCP, nftypes.UDP, nftypes.ICMP} {
		if strings.EqualFold(s, v.String()) {
			p.v, p.set = v, true
			return nil
		}
	}
	return errors.New("want tcp, udp or icmp")
}

// addrValue is -s or -d: an IPv4 address (kept as a /32) or prefix.
type addrValue struct {
	p      netip.Prefix
	prefix bool // written with /N
	set    bool
}

func (a *addrValue) String() string {
	if a == nil || !a.set {
		return ""
	}
	return a.p.String()
}

func (a *addrValue) Set(s string) error {
	var (
		p   netip.Prefix
		err error
	)
	prefix := strings.Contains(s, "/")
	if prefix {
		p, err = netip.ParsePrefix(s)
	} else {
		var addr netip.Addr
		addr, err = netip.ParseAddr(s)
		p = netip.PrefixFrom(addr, 32)
	}
	if err != nil || !p.Addr().Is4() {
		return errors.New("want an IPv4 address or prefix, such as 10.0.1.2 or 10.0.0.0/16")
	}
	if p != p.Masked() {
		return fmt.Errorf("bits set past the prefix length; did you mean %s?", p.Masked())
	}
	a.p, a.prefix, a.set = p, prefix, true
	return nil
}

// isAddr reports whether an address without /N was given.
func (a *addrValue) isAddr() bool { return a.set && !a.prefix }

// portValue is --sport or --dport.
type portValue struct {
	v   uint16
	set bool
}

func (p *portValue) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(int(p.v))
}

func (p *portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return errors.New("want a port, 1-65535")
	}
	p.v, p.set = uint16(n), true
	return nil
}

// numValue is a number from 0 to max.
type numValue struct {
	v, max uint64
	set    bool
}

func (n *numValue) String() string {
	if n == nil || !n.set {
		return ""
	}
	return strconv.FormatUint(n.v, 10)
}

func (n *numValue) Set(s string) error {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil || v > n.max {
		return fmt.Errorf("want a number, 0-%d", n.max)
	}
	n.v, n.set = v, true
	return nil
}

// stateValue is --state.
type stateValue struct {
	v   nftypes.TCPState
	set bool
}

func (s *stateValue) String() string {
	if s == nil || !s.set {
		return ""
	}
	return s.v.String()
}

func (s *stateValue) Set(str string) error {
	for st := nftypes.TCPNone; st <= nftypes.TCPSynSent2; st++ {
		if strings.EqualFold(str, st.String()) {
			s.v, s.set = st, true
			return nil
		}
	}
	var names []string
	for st := nftypes.TCPNone; st <= nftypes.TCPSynSent2; st++ {
		names = append(names, st.String())
	}
	return fmt.Errorf("want a TCP state: %s", strings.Join(names, ", "))
}

// statusValue is --status.
type statusValue struct {
	v   nftypes.ConnStatus
	set bool
}

func (s *statusValue) String() string {
	if s == nil || !s.set {
		return ""
	}
	return s.v.String()
}

func (s *statusValue) Set(str string) error {
	const want = "want SEEN_REPLY, ASSURED, CONFIRMED or DYING, separated by commas"
	var v nftypes.ConnStatus
	if strings.EqualFold(str, "none") || strings.Contains(strings.ToLower(str), "0x") {
		return errors.New(want)
	}
	if err := v.UnmarshalText([]byte(str)); err != nil || v == 0 {
		return errors.New(want)
	}
	s.v, s.set = v, true
	return nil
}

// ctFlagSet returns a flag set for sub with -o and the conntrack flags.
func ctFlagSet(sub string, f *ctFlags, filter, tuple bool) (*flag.FlagSet, *outputFormat) {
	fs := newFlagSet(sub)
	out := formatFlag(fs)
	if filter || tuple {
		f.addCommon(fs)
	}
	if filter {
		f.addFilter(fs)
	}
	if tuple {
		f.addTuple(fs)
	}
	return fs, out
}

func runCTList(a *app, cmd *command, args []string) int {
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
		conns, err := c.Conns(context.Background(), filter)
		if err != nil {
			return a.fail("listing connections", err)
		}
		if *out == "json" {
			js := jsonConns{Entries: make([]jsonConn, 0, len(conns))}
			for _, ct := range conns {
				js.Entries = append(js.Entries, connJSON(ct))
			}
			writeJSON(a.stdout, js)
			return exitOK
		}
		writeConnTable(a.stdout, conns)
		return exitOK
	})
}

func runCTGet(a *app, cmd *command, args []string) int {
	var f ctFlags
	fs, out := ctFlagSet(cmd.name, &f, false, true)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	t, err := f.tuple()
	if err != nil {
		return a.usageError(cmd.name, "%v", err)
	}
	return a.withClient(func(c client) int {
		ct, err := c.Conn(context.Background(), t)
		if err != nil {
			return a.fail("looking up the connection", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, connJSON(ct))
			return exitOK
		}
		writeConnTable(a.stdout, []nftypes.Conn{ct})
		return exitOK
	})
}

func runCTDelete(a *app, cmd *command, args []string) int {
	var f ctFlags
	fs, out := ctFlagSet(cmd.name, &f, true, true)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	var (
		t      nftypes.Tuple
		filter nftypes.ConnFilter
		err    error
		whole  = f.wholeTuple()
	)
	if whole {
		t, err = f.tuple()
	} else {
		filter, err = f.filter()
		if err == nil && filter == (nftypes.ConnFilter{}) {
			err = errors.New("give a connection or a filter; 'nflab ct flush' deletes every entry")
		}
	}
	if err != nil {
		return a.usageError(cmd.name, "%v", err)
	}
	return a.withClient(func(c client) int {
		n := 1
		if whole {
			err = c.DeleteConn(context.Background(), t)
		} else {
			n, err = c.DeleteConns(context.Background(), filter)
		}
		if err != nil {
			return a.fail("deleting connections", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, jsonDeleted{n})
		} else {
			fmt.Fprintf(a.stdout, "deleted %d\n", n)
		}
		return exitOK
	})
}

type jsonDeleted struct {
	Deleted int `json:"deleted"`
}

func runCTFlush(a *app, cmd *command, args []string) int {
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
		n, err := c.DeleteConns(context.Background(), filter)
		if err != nil {
			return a.fail("flushing connections", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, jsonDeleted{n})
		} else {
			fmt.Fprintf(a.stdout, "flushed %d\n", n)
		}
		return exitOK
	})
}

func runCTCount(a *app, cmd *command, args []string) int {
	fs, out := ctFlagSet(cmd.name, nil, false, false)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	return a.withClient(func(c client) int {
		n, limit, err := c.ConnCount(context.Background())
		if err != nil {
			return a.fail("counting connections", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, struct {
				Count int `json:"count"`
				Limit int `json:"limit"`
			}{n, limit})
		} else {
			fmt.Fprintf(a.stdout, "%d entries (limit %d)\n", n, limit)
		}
		return exitOK
	})
}

// jsonCTStats is the documented "nflab ct stats -o json" shape.
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
}

func runCTStats(a *app, cmd *command, args []string) int {
	fs, out := ctFlagSet(cmd.name, nil, false, false)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	return a.withClient(func(c client) int {
		s, err := c.TrackerStats(context.Background())
		if err != nil {
			return a.fail("reading the conntrack counters", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, jsonCTStats(s))
			return exitOK
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COUNTER\tVALUE")
		for _, row := range []struct {
			name string
			v    uint64
		}{
			{"found", s.Found}, {"new", s.New}, {"invalid", s.Invalid}, {"insert", s.Insert},
			{"insert_failed", s.InsertFailed}, {"clash", s.Clash}, {"drop", s.Drop},
			{"early_drop", s.EarlyDrop}, {"gc_evicted", s.GCEvicted}, {"search_restart", s.SearchRestart},
			{"related", s.Related},
		} {
			fmt.Fprintf(tw, "%s\t%d\n", row.name, row.v)
		}
		tw.Flush()
		return exitOK
	})
}

// timeoutsValue is --timeout NAME=DURATION, repeatable.
type timeoutsValue map[nftypes.Timeout]time.Duration

func (t timeoutsValue) String() string { return "" }

func (t timeoutsValue) Set(s string) error {
	name, dur, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want NAME=DURATION, such as tcp_established=2h")
	}
	var to nftypes.Timeout
	if err := to.UnmarshalText([]byte(name)); err != nil || !knownTimeout(to) {
		return fmt.Errorf("unknown timeout %q; want one of %s", name, timeoutList())
	}
	if _, dup := t[to]; dup {
		return fmt.Errorf("timeout %s given twice", to)
	}
	var d time.Duration
	if n, err := strconv.ParseUint(dur, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if d, err = time.ParseDuration(dur); err != nil {
		return fmt.Errorf("%s: want a duration such as 30s, 5m or a number of seconds", to)
	}
	if err := nftypes.ValidateTimeout(d); err != nil {
		var ve *nftypes.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s: %s", to, ve.Reason)
		}
		return fmt.Errorf("%s: %v", to, err)
	}
	t[to] = d
	return nil
}

func knownTimeout(t nftypes.Timeout) bool {
	for _, k := range nftypes.Timeouts() {
		if k == t {
			return true
		}
	}
	return false
}

func timeoutList() string {
	var names []string
	for _, t := range nftypes.Timeouts() {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// limitValue is --limit.
type limitValue struct {
	v   uint32
	set bool
}

func (l *limitValue) String() string {
	if l == nil || !l.set {
		return ""
	}
	return strconv.FormatUint(uint64(l.v), 10)
}

func (l *limitValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > nftypes.MaxLimit {
		return fmt.Errorf("want a number of entries, 1-%d", nftypes.MaxLimit)
	}
	l.v, l.set = uint32(n), true
	return nil
}

func runCTConfig(a *app, cmd *command, args []string) int {
	fs, out := ctFlagSet(cmd.name, nil, false, false)
	var limit limitValue
	fs.Var(&limit, "limit", "")
	loose := fs.Bool("tcp-loose", false, "")
	timeouts := timeoutsValue{}
	fs.Var(timeouts, "timeout", "")
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	set := limit.set || isSet(fs, "tcp-loose") || len(timeouts) > 0
	if set && isSet(fs, "o") {
		return a.usageError(cmd.name, "-o cannot be combined with settings to change, which print nothing")
	}

	return a.withClient(func(c client) int {
		if set {
			cfg := nftypes.TrackerConfig{Timeouts: timeouts}
			if limit.set {
				cfg.Limit = &limit.v
			}
			if isSet(fs, "tcp-loose") {
				cfg.TCPLoose = loose
			}
			if err := c.SetTrackerConfig(context.Background(), cfg); err != nil {
				return a.fail("changing the conntrack settings", err)
			}
			return exitOK
		}
		cfg, err := c.TrackerConfig(context.Background())
		if err != nil {
			return a.fail("reading the conntrack settings", err)
		}
		if cfg.Limit == nil || cfg.TCPLoose == nil {
			return a.fail("reading the conntrack settings", errors.New("the module left settings out"))
		}
		if *out == "json" {
			writeJSON(a.stdout, jsonCTConfig{Limit: *cfg.Limit, TCPLoose: *cfg.TCPLoose, Timeouts: jsonTimeouts(cfg.Timeouts)})
			return exitOK
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SETTING\tVALUE")
		fmt.Fprintf(tw, "limit\t%d\n", *cfg.Limit)
		fmt.Fprintf(tw, "tcp_loose\t%t\n", *cfg.TCPLoose)
		for _, t := range nftypes.Timeouts() {
			if d, ok := cfg.Timeouts[t]; ok {
				fmt.Fprintf(tw, "%s\t%ds\n", t, int64(d/time.Second))
			}
		}
		tw.Flush()
		return exitOK
	})
}

// jsonCTConfig is the documented "nflab ct config -o json" shape.
type jsonCTConfig struct {
	Limit    uint32       `json:"limit"`
	TCPLoose bool         `json:"tcp_loose"`
	Timeouts jsonTimeouts `json:"timeouts"`
}

// jsonTimeouts is an object of seconds in protocol order, not the
// alphabetical order encoding/json gives maps.
type jsonTimeouts map[nftypes.Timeout]time.Duration

func (t jsonTimeouts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for _, k := range nftypes.Timeouts() {
		d, ok := t[k]
		if !ok {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, k.String())
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(d/time.Second), 10)
	}
	return append(b, '}'), nil
}

func runCTGC(a *app, cmd *command, args []string) int {
	fs, out := ctFlagSet(cmd.name, nil, false, false)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	return a.withClient(func(c client) int {
		n, err := c.RunGC(context.Background())
		if err != nil {
			return a.fail("running conntrack garbage collection", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, struct {
				Evicted int `json:"evicted"`
			}{n})
		} else {
			fmt.Fprintf(a.stdout, "evicted %d\n", n)
		}
		return exitOK
	})
}

// jsonConns and jsonConn are the documented "nflab ct list -o json" shape.
type jsonConns struct {
	Entries []jsonConn `json:"entries"`
}

type jsonConn struct {
	ID           uint32            `json:"id"`
	Proto        nftypes.Proto     `json:"proto"`
	Orig         jsonTuple         `json:"orig"`
	Reply        jsonTuple         `json:"reply"`
	TCPState     *nftypes.TCPState `json:"tcp_state,omitempty"`
	Status       []string          `json:"status"`
	Timeout      int64             `json:"timeout"`
	PacketsOrig  uint64            `json:"packets_orig"`
	BytesOrig    uint64            `json:"bytes_orig"`
	PacketsReply uint64            `json:"packets_reply"`
	BytesReply   uint64            `json:"bytes_reply"`
	Start        time.Time         `json:"start,omitzero"`
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
		Proto:        c.Orig.Proto,
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
		jc.TCPState = &c.TCPState
	}
	return jc
}

func writeConnTable(w io.Writer, conns []nftypes.Conn) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tSRC\tDST\tSPORT\tDPORT\tSTATE\tSTATUS\tTIMEOUT\tPACKETS\tBYTES")
	for _, c := range conns {
		o := c.Orig
		sport, dport := strconv.Itoa(int(o.SrcPort)), strconv.Itoa(int(o.DstPort))
		if o.Proto == nftypes.ICMP {
			sport, dport = "id="+strconv.Itoa(int(o.ICMPID)), "type="+strconv.Itoa(int(o.ICMPType))
		}
		state := "-"
		if o.Proto == nftypes.TCP {
			state = c.TCPState.String()
		}
		status := "-"
		if c.Status != 0 {
			status = strings.Join(c.Status.Names(), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d/%d\t%d/%d\n",
			o.Proto, o.Src, o.Dst, sport, dport, state, status, int64(c.Timeout/time.Second),
			c.PacketsOrig, c.PacketsReply, c.BytesOrig, c.BytesReply)
	}
	tw.Flush()
}
