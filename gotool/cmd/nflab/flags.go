package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Flag values. pflag lets a repeated flag silently override the first;
// every value here is wrapped in once, which refuses a second value,
// except --timeout, which is meant to repeat.

// errRepeated is once's refusal; flagError words it.
var errRepeated = errors.New("given twice")

// onceValue refuses a second Set.
type onceValue struct {
	pflag.Value
	set bool
}

func once(v pflag.Value) *onceValue { return &onceValue{Value: v} }

func (o *onceValue) Set(s string) error {
	if o.set {
		return errRepeated
	}
	o.set = true
	return o.Value.Set(s)
}

// boolValue is a bool flag: --flag, --flag=true or --flag=false.
type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Type() string   { return "bool" }

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}

// boolFlag declares a bool flag that may be given once.
func boolFlag(fs *pflag.FlagSet, p *bool, name, usage string) {
	f := fs.VarPF(once((*boolValue)(p)), name, "", usage)
	f.NoOptDefVal = "true"
}

// protoValue is -p: tcp, udp or icmp, or their numbers 6, 17 and 1.
type protoValue struct {
	v   nftypes.Proto
	set bool
}

func (p *protoValue) String() string {
	if !p.set {
		return ""
	}
	return enumOf(p.v).String()
}

func (p *protoValue) Type() string { return "proto" }

func (p *protoValue) Set(s string) error {
	for _, v := range protos {
		if strings.EqualFold(s, v.String()) || s == strconv.Itoa(int(v)) {
			p.v, p.set = v, true
			return nil
		}
	}
	return fmt.Errorf("want %s, or %s", orList(protoNames()), orList(protoNumbers()))
}

// addrValue is -s or -d: an IPv4 address (kept as a /32) or prefix.
type addrValue struct {
	p      netip.Prefix
	prefix bool // written with /N
	set    bool
}

func (a *addrValue) String() string {
	if !a.set {
		return ""
	}
	return a.p.String()
}

func (a *addrValue) Type() string { return "addr[/len]" }

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
	if !p.set {
		return ""
	}
	return strconv.Itoa(int(p.v))
}

func (p *portValue) Type() string { return "port" }

func (p *portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return errors.New("want a port, 1-65535")
	}
	p.v, p.set = uint16(n), true
	return nil
}

// numValue is a number from 0 to max, in decimal or 0x hex.
type numValue struct {
	v, max uint64
	set    bool
}

func (n *numValue) String() string {
	if !n.set {
		return ""
	}
	return strconv.FormatUint(n.v, 10)
}

func (n *numValue) Type() string { return "n" }

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
	if !s.set {
		return ""
	}
	return enumOf(s.v).String()
}

func (s *stateValue) Type() string { return "state" }

func (s *stateValue) Set(str string) error {
	for _, st := range tcpStates() {
		if strings.EqualFold(str, st.String()) {
			s.v, s.set = st, true
			return nil
		}
	}
	return fmt.Errorf("want a TCP state: %s", strings.Join(stateNames(), ", "))
}

// statusValue is --status: bit names separated by commas.
type statusValue struct {
	v   nftypes.ConnStatus
	set bool
}

func (s *statusValue) String() string {
	if !s.set {
		return ""
	}
	return strings.Join(s.v.Names(), ",")
}

func (s *statusValue) Type() string { return "bits" }

func (s *statusValue) Set(str string) error {
	var v nftypes.ConnStatus
	for name := range strings.SplitSeq(str, ",") {
		var bit nftypes.ConnStatus
		// Names only: UnmarshalText also takes hex bits and "none".
		if !containsFold(statusNames, name) || bit.UnmarshalText([]byte(name)) != nil {
			return fmt.Errorf("want %s, separated by commas", orList(statusNames))
		}
		v |= bit
	}
	s.v, s.set = v, true
	return nil
}

// timeoutsValue is --timeout NAME=DURATION, meant to repeat, each name
// once.
type timeoutsValue map[nftypes.Timeout]time.Duration

func (t timeoutsValue) String() string { return "" }
func (t timeoutsValue) Type() string   { return "name=duration" }

func (t timeoutsValue) Set(s string) error {
	name, dur, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want NAME=DURATION, such as tcp_established=2h")
	}
	var to nftypes.Timeout
	if !containsFold(timeoutNames(), name) || to.UnmarshalText([]byte(name)) != nil {
		return fmt.Errorf("unknown timeout %q; want one of %s", name, strings.Join(timeoutNames(), ", "))
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
		return fmt.Errorf("%s: %s", to, reason(err))
	}
	t[to] = d
	return nil
}

// limitValue is --limit.
type limitValue struct {
	v   uint32
	set bool
}

func (l *limitValue) String() string {
	if !l.set {
		return ""
	}
	return strconv.FormatUint(uint64(l.v), 10)
}

func (l *limitValue) Type() string { return "n" }

func (l *limitValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > nftypes.MaxLimit {
		return fmt.Errorf("want a number of entries, 1-%d", nftypes.MaxLimit)
	}
	l.v, l.set = uint32(n), true
	return nil
}

// sizeValue is a size in bytes, written as a number with an optional K,
// M or G suffix (powers of 1024).
type sizeValue struct {
	v   int
	set bool
}

func (s *sizeValue) String() string {
	if !s.set {
		return ""
	}
	return strconv.Itoa(s.v)
}

func (s *sizeValue) Type() string { return "bytes" }

// maxSize is the largest receive buffer the kernel takes (an int).
const maxSize = 1<<31 - 1

func (s *sizeValue) Set(str string) error {
	num, shift := str, 0
	if n := len(str); n > 0 {
		switch str[n-1] {
		case 'k', 'K':
			num, shift = str[:n-1], 10
		case 'm', 'M':
			num, shift = str[:n-1], 20
		case 'g', 'G':
			num, shift = str[:n-1], 30
		}
	}
	n, err := strconv.ParseUint(num, 10, 31)
	if err != nil || n == 0 || n<<shift > maxSize {
		return errors.New("want a size in bytes under 2G, such as 4194304 or 4M")
	}
	s.v, s.set = int(n<<shift), true
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// orList writes "a, b, c or d".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// ctFlags are the tuple and filter flags of the ct subcommands; which of
// them a subcommand declares depends on what it takes.
type ctFlags struct {
	proto            protoValue
	src, dst         addrValue
	sport, dport     portValue
	state            stateValue
	status           statusValue
	srcNAT, dstNAT   bool // --src-nat, --dst-nat: status bits too
	icmpID, icmpType numValue
}

// addCommon declares the flags both a filter and a tuple have.
func (f *ctFlags) addCommon(fs *pflag.FlagSet, tuple bool) {
	addr, port := "address or IPv4 prefix, such as 10.0.1.2 or 10.0.0.0/16", "port, 1-65535; needs -p tcp or udp"
	if tuple {
		addr, port = "address", "port (tcp, udp)"
	}
	if fs.Lookup("proto") != nil {
		return // a command with both a tuple and a filter
	}
	fs.VarP(once(&f.proto), "proto", "p", fmt.Sprintf("protocol: %s (or %s)", orList(protoNames()), strings.Join(protoNumbers(), ", ")))
	fs.VarP(once(&f.src), "src", "s", "source "+addr+" (also --orig-src)")
	fs.VarP(once(&f.dst), "dst", "d", "destination "+addr+" (also --orig-dst)")
	fs.Var(once(&f.sport), "sport", "source "+port+" (also --orig-port-src)")
	fs.Var(once(&f.dport), "dport", "destination "+port+" (also --orig-port-dst)")
}

// addFilter declares the filter flags: every one given must match the
// entry's original direction.
func (f *ctFlags) addFilter(fs *pflag.FlagSet) {
	f.addCommon(fs, false)
	fs.Var(once(&f.state), "state", "TCP state: "+strings.Join(stateNames(), ", ")+" (any case); implies -p tcp")
	fs.VarP(once(&f.status), "status", "u", "entries with all these status bits: "+strings.Join(statusNames, ",")+", separated by commas")
	boolFlag(fs, &f.srcNAT, "src-nat", "entries whose source is translated (snat, masquerade, or a source port moved to keep tuples unique): the status bit SRC_NAT, added to --status's")
	boolFlag(fs, &f.dstNAT, "dst-nat", "entries whose destination is translated (dnat, redirect, or inbound through a fullcone mapping): the status bit DST_NAT, added to --status's")
}

// addTuple declares the tuple flags: one direction of one connection.
func (f *ctFlags) addTuple(fs *pflag.FlagSet) {
	f.addCommon(fs, true)
	f.icmpID.max, f.icmpType.max = 1<<16-1, 1<<8-1
	fs.Var(once(&f.icmpID), "icmp-id", "ICMP echo id, 0-65535 (icmp)")
	fs.Var(once(&f.icmpType), "icmp-type", "ICMP type, 0-255: 8 for an echo request (icmp)")
}

// ctCompletions registers the completion of the flags f declared in cmd.
func ctCompletions(cmd *cobra.Command) {
	fs := cmd.Flags()
	if fs.Lookup("proto") != nil {
		must(cmd.RegisterFlagCompletionFunc("proto", fixedValues(protoNames()...)))
	}
	if fs.Lookup("state") != nil {
		must(cmd.RegisterFlagCompletionFunc("state", fixedValues(stateNames()...)))
	}
	if fs.Lookup("status") != nil {
		must(cmd.RegisterFlagCompletionFunc("status", listValues(statusNames)))
	}
}

// listValues completes a comma-separated list of names.
func listValues(names []string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		done, last := "", toComplete
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			done, last = toComplete[:i+1], toComplete[i+1:]
		}
		var out []cobra.Completion
		for _, n := range names {
			if containsFold(strings.Split(done, ","), n) {
				continue
			}
			if strings.HasPrefix(n, strings.ToUpper(last)) {
				out = append(out, done+n)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// wholeTuple reports whether the flags name one connection: every tuple
// flag of the protocol given, addresses without prefix, no filter flags.
func (f *ctFlags) wholeTuple() bool {
	if f.icmpID.set || f.icmpType.set {
		return true // only a tuple has them; tuple() says what is missing
	}
	return (f.proto.v == nftypes.TCP || f.proto.v == nftypes.UDP) &&
		f.src.isAddr() && f.dst.isAddr() && f.sport.set && f.dport.set &&
		!f.state.set && !f.status.set && !f.srcNAT && !f.dstNAT
}

// tuple builds the tuple the flags name, or says what is wrong.
func (f *ctFlags) tuple() (nftypes.Tuple, error) {
	if f.state.set || f.status.set || f.srcNAT || f.dstNAT {
		return nftypes.Tuple{}, usagef("--state, --status, --src-nat and --dst-nat select by filter; they cannot be combined with --icmp-id or --icmp-type")
	}
	if !f.proto.set {
		return nftypes.Tuple{}, usagef("missing --proto (%s)", orList(protoNames()))
	}
	for _, a := range []struct {
		flag string
		v    *addrValue
	}{{"--src", &f.src}, {"--dst", &f.dst}} {
		if !a.v.set {
			return nftypes.Tuple{}, usagef("missing %s", a.flag)
		}
		if !a.v.isAddr() {
			return nftypes.Tuple{}, usagef("%s %s is a prefix; one connection needs an address", a.flag, a.v.p)
		}
	}
	t := nftypes.Tuple{Src: f.src.p.Addr(), Dst: f.dst.p.Addr(), Proto: f.proto.v}
	if t.Proto == nftypes.ICMP {
		if f.sport.set || f.dport.set {
			return nftypes.Tuple{}, usagef("--sport and --dport apply to tcp and udp; icmp takes --icmp-id and --icmp-type")
		}
		if !f.icmpID.set || !f.icmpType.set {
			return nftypes.Tuple{}, usagef("missing --icmp-id or --icmp-type (icmp)")
		}
		t.ICMPID, t.ICMPType = uint16(f.icmpID.v), uint8(f.icmpType.v)
		return t, nil
	}
	if f.icmpID.set || f.icmpType.set {
		return nftypes.Tuple{}, usagef("--icmp-id and --icmp-type apply to icmp, not %s", enumOf(t.Proto))
	}
	if !f.sport.set || !f.dport.set {
		return nftypes.Tuple{}, usagef("missing --sport or --dport (%s)", enumOf(t.Proto))
	}
	t.SrcPort, t.DstPort = f.sport.v, f.dport.v
	return t, validation(t.Validate())
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
	if f.srcNAT {
		ft.Status |= nftypes.StatusSrcNAT
	}
	if f.dstNAT {
		ft.Status |= nftypes.StatusDstNAT
	}
	if f.state.set {
		if f.proto.set && f.proto.v != nftypes.TCP {
			return nftypes.ConnFilter{}, usagef("--state applies to tcp, not %s", enumOf(f.proto.v))
		}
		s := f.state.v
		ft.TCPState = &s
		ft.Proto = nftypes.TCP
	}
	if (f.sport.set || f.dport.set) && ft.Proto != nftypes.TCP && ft.Proto != nftypes.UDP {
		return nftypes.ConnFilter{}, usagef("--sport and --dport need -p tcp or -p udp")
	}
	return ft, validation(ft.Validate())
}

// validation turns a library validation error into a usage error.
func validation(err error) error {
	if err == nil {
		return nil
	}
	var ve *nflab.ValidationError
	if errors.As(err, &ve) {
		return usagef("%s: %s", ve.Field, ve.Reason)
	}
	return &usageError{msg: err.Error()}
}

// reason is why a value is invalid, without the library's prefix.
func reason(err error) string {
	var ve *nflab.ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return err.Error()
}
