package nftypes

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// A trace selector's text is a few words in the manner of a pcap filter
// (tcpdump's), restricted to what the module matches: conditions joined
// by "and" (which may be left out), every one of which must hold.
//
//	tcp | udp | icmp            the protocol
//	proto N|NAME                any IP protocol, by number or name
//	                            (TraceProtoNames; "proto tcp" too)
//	host A[/N]                  source or destination address, or prefix
//	net A/N                     source or destination in the prefix
//	src|dst [host|net] A[/N]    source or destination address, or prefix
//	port P                      source or destination port (tcp, udp)
//	src|dst port P              source or destination port (tcp, udp)
//	iface|dev NAME              the input or output device
//
// The word after "iface" or "dev" is the device's name whatever it is, a
// keyword too ("iface host" is the device named host), so that every
// name String writes reads back. Each condition may be given once; "or", "not" and parentheses are not
// part of it, since the module matches one conjunction. The parser turns
// the words into a TraceSelector once, when a trace starts, and the
// module tries that on each packet.

// A protoName is a protocol's name in a selector.
type protoName struct {
	name  string
	proto Proto
}

// protoNames are the protocol names "proto" takes besides numbers, and
// that String writes: the tracker's three and a few more from
// /etc/protocols.
var protoNames = []protoName{
	{"icmp", ICMP}, {"igmp", 2}, {"tcp", TCP}, {"udp", UDP}, {"gre", 47},
	{"esp", 50}, {"ah", 51}, {"ospf", 89}, {"sctp", 132},
}

// TraceProtoNames returns the protocol names a selector takes after
// "proto", in protocol number order.
func TraceProtoNames() []string {
	names := make([]string, 0, len(protoNames))
	for _, n := range protoNames {
		names = append(names, n.name)
	}
	return names
}

// protoWord is how a selector names p: a name, or its number.
func protoWord(p Proto) string {
	for _, n := range protoNames {
		if n.proto == p {
			return n.name
		}
	}
	return strconv.Itoa(int(p))
}

// String returns s in the words ParseTraceSelector reads, in a fixed
// order (protocol, addresses, ports, device), such as
// "tcp and host 10.0.1.2 and dst port 22": ParseTraceSelector reads it
// back to s. It returns "" for the zero selector, which selects every
// packet, as an empty pcap filter does.
func (s TraceSelector) String() string {
	var parts []string
	switch s.Proto {
	case 0:
	case TCP, UDP, ICMP:
		parts = append(parts, protoWord(s.Proto))
	default:
		parts = append(parts, "proto "+protoWord(s.Proto))
	}
	addr := func(dir string, p netip.Prefix) {
		if p == (netip.Prefix{}) {
			return
		}
		kw := "host " + p.Addr().String()
		if p.Bits() != 32 {
			kw = "net " + p.String()
		}
		if dir != "" {
			kw = dir + " " + kw
		}
		parts = append(parts, kw)
	}
	addr("", s.Host)
	addr("src", s.Src)
	addr("dst", s.Dst)
	for _, p := range []struct {
		dir  string
		port uint16
	}{{"", s.Port}, {"src ", s.SrcPort}, {"dst ", s.DstPort}} {
		if p.port != 0 {
			parts = append(parts, p.dir+"port "+strconv.Itoa(int(p.port)))
		}
	}
	if s.Iface != "" {
		parts = append(parts, "iface "+s.Iface)
	}
	return strings.Join(parts, " and ")
}

// MarshalText returns String.
func (s TraceSelector) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what String writes, as ParseTraceSelector does.
func (s *TraceSelector) UnmarshalText(b []byte) error {
	v, err := ParseTraceSelector([]string{string(b)})
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseTraceSelector reads a selector from pcap-like words (see the
// grammar above), such as []string{"tcp", "and", "dst", "port", "22"}; a
// word holding spaces, such as a whole selector passed as one argument, is
// split at them. No words select every packet. Its errors are
// *ValidationError, naming the word at fault.
func ParseTraceSelector(words []string) (TraceSelector, error) {
	var toks []string
	for _, w := range words {
		toks = append(toks, strings.Fields(w)...)
	}
	p := selParser{toks: toks, seen: map[string]string{}}
	return p.parse()
}

type selParser struct {
	toks      []string
	i         int // the word being read
	condStart int // the first word of the condition being read
	sel       TraceSelector
	seen      map[string]string // field: the words that gave it
	port      string            // the words of the first port condition
}

func selErr(format string, args ...any) error { return invalidf("selector", format, args...) }

func (p *selParser) parse() (TraceSelector, error) {
	needCond := false // after "and"
	for p.i < len(p.toks) {
		w := p.toks[p.i]
		switch lw := strings.ToLower(w); {
		case lw == "and" || lw == "&&":
			if p.i == 0 || needCond {
				return TraceSelector{}, selErr("%q must stand between two conditions", w)
			}
			needCond = true
			p.i++
			continue
		case lw == "or" || lw == "||":
			return TraceSelector{}, selErr("%q is not supported: a trace follows the packets that one selector holds for; start a trace for each alternative", w)
		case lw == "not" || strings.HasPrefix(lw, "!"):
			return TraceSelector{}, selErr("%q is not supported: a selector says which packets to follow, every condition must hold", w)
		case strings.ContainsAny(w, "()"):
			return TraceSelector{}, selErr("%q: parentheses are not supported; join conditions with \"and\"", w)
		}
		if err := p.cond(); err != nil {
			return TraceSelector{}, err
		}
		needCond = false
	}
	if needCond {
		return TraceSelector{}, selErr("%q at the end: a condition must follow it", p.toks[len(p.toks)-1])
	}
	s := p.sel
	if (s.Port != 0 || s.SrcPort != 0 || s.DstPort != 0) && s.Proto != TCP && s.Proto != UDP {
		if s.Proto == 0 {
			return TraceSelector{}, selErr("%q: a port needs tcp or udp; say which, such as \"tcp %s\" or \"udp %s\"", p.port, p.port, p.port)
		}
		return TraceSelector{}, selErr("%q: ports apply to tcp and udp, not %s", p.port, protoWord(s.Proto))
	}
	return s, nil
}

// next returns the word after the keyword at p.i, or an error saying
// what should follow it. A keyword is refused unless any(w) takes it.
func (p *selParser) next(what string, any func(w string) bool) (string, error) {
	kw := strings.Join(p.toks[p.condStart:p.i+1], " ")
	if p.i+1 >= len(p.toks) {
		return "", selErr("%q needs %s after it", kw, what)
	}
	p.i++
	w := p.toks[p.i]
	if isKeyword(w) && (any == nil || !any(w)) {
		return "", selErr("%q needs %s after it, not %q", kw, what, w)
	}
	return w, nil
}

// isProtoName reports whether w is a name of protoNames, in any case.
func isProtoName(w string) bool {
	return slices.ContainsFunc(protoNames, func(n protoName) bool { return strings.EqualFold(w, n.name) })
}

// anyWord takes every word: a device may be named as a keyword.
func anyWord(string) bool { return true }

// set records that field was given by the words of the condition being
// parsed, and refuses it a second time.
func (p *selParser) set(field string) error {
	words := strings.Join(p.toks[p.condStart:p.i+1], " ")
	if first, ok := p.seen[field]; ok {
		return selErr("%q: the %s is given twice (first %q); a selector takes each condition once", words, field, first)
	}
	p.seen[field] = words
	return nil
}

var keywords = []string{"tcp", "udp", "icmp", "proto", "host", "net", "src", "dst", "port", "iface", "dev", "and", "or", "not"}

func isKeyword(w string) bool { return slices.Contains(keywords, strings.ToLower(w)) }

// cond parses one condition starting at p.i and moves past it.
func (p *selParser) cond() error {
	p.condStart = p.i
	w := p.toks[p.i]
	var err error
	switch lw := strings.ToLower(w); lw {
	case "tcp", "udp", "icmp":
		err = p.setProto(lw)
	case "proto":
		var v string
		// "proto tcp" as well as "tcp": every name of the table.
		if v, err = p.next("a protocol number or name", isProtoName); err == nil {
			err = p.setProto(v)
		}
	case "host", "net":
		err = p.addr("host", &p.sel.Host, lw == "net")
	case "src", "dst":
		err = p.direction(lw)
	case "port":
		err = p.portCond("port", &p.sel.Port)
	case "iface", "dev":
		var v string
		if v, err = p.next("a device name", anyWord); err != nil {
			break
		}
		if verr := validateIface(v); verr != nil {
			return selErr("%q: %s", v, verr.(*ValidationError).Reason)
		}
		if err = p.set("device"); err == nil {
			p.sel.Iface = v
		}
	default:
		return unknownWord(w)
	}
	if err != nil {
		return err
	}
	p.i++
	return nil
}

func unknownWord(w string) error {
	const want = "want tcp, udp, icmp, proto, host, net, src, dst, port or iface"
	if _, err := netip.ParsePrefix(w); err == nil || isAddr(w) {
		return selErr("%q: an address needs \"host\", \"net\", \"src\" or \"dst\" before it", w)
	}
	if _, err := strconv.ParseUint(w, 10, 16); err == nil {
		return selErr("%q: a port needs \"port\", \"src port\" or \"dst port\" before it", w)
	}
	return selErr("unknown word %q; %s", w, want)
}

func isAddr(w string) bool {
	_, err := netip.ParseAddr(w)
	return err == nil
}

func (p *selParser) setProto(w string) error {
	var proto Proto
	found := false
	for _, n := range protoNames {
		if strings.EqualFold(w, n.name) {
			proto, found = n.proto, true
		}
	}
	if !found {
		n, err := strconv.ParseUint(w, 10, 8)
		if err != nil {
			return selErr("%q: want a protocol number, 1-255, or a name: %s", w, protoNameList())
		}
		if n == 0 {
			return selErr("%q: protocol 0 cannot be selected (leave the protocol out for any)", w)
		}
		proto = Proto(n)
	}
	if err := p.set("protocol"); err != nil {
		return err
	}
	p.sel.Proto = proto
	return nil
}

func protoNameList() string {
	var s []string
	for _, n := range protoNames {
		s = append(s, n.name)
	}
	return strings.Join(s, ", ")
}

// direction parses "src|dst [host|net] A[/N]" and "src|dst port P".
func (p *selParser) direction(dir string) error {
	field, prefix, port := "source", &p.sel.Src, &p.sel.SrcPort
	if dir == "dst" {
		field, prefix, port = "destination", &p.sel.Dst, &p.sel.DstPort
	}
	if p.i+1 < len(p.toks) {
		switch strings.ToLower(p.toks[p.i+1]) {
		case "port":
			p.i++
			return p.portCond(field+" port", port)
		case "host", "net":
			p.i++
			return p.addr(field, prefix, strings.EqualFold(p.toks[p.i], "net"))
		}
	}
	return p.addr(field, prefix, false)
}

// addr parses the address or prefix after the keyword at p.i into dst;
// net requires a prefix length.
func (p *selParser) addr(field string, dst *netip.Prefix, net bool) error {
	what := "an IPv4 address or prefix"
	if net {
		what = "an IPv4 prefix"
	}
	w, err := p.next(what, nil)
	if err != nil {
		return err
	}
	var pfx netip.Prefix
	if strings.Contains(w, "/") {
		pfx, err = netip.ParsePrefix(w)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(w)
		pfx = netip.PrefixFrom(a, 32)
		if err == nil && net {
			return selErr("%q: \"net\" needs a prefix length, such as %s/24; for one address, use \"host\"", w, w)
		}
	}
	if err != nil || !pfx.Addr().Is4() {
		return selErr("%q: want %s, such as 10.0.1.2 or 10.0.0.0/16", w, what)
	}
	if pfx != pfx.Masked() {
		return selErr("%q: bits are set past the prefix length; did you mean %s?", w, pfx.Masked())
	}
	if err := p.set(field); err != nil {
		return err
	}
	*dst = pfx
	return nil
}

// portCond parses the port after the keyword at p.i into dst.
func (p *selParser) portCond(field string, dst *uint16) error {
	w, err := p.next("a port number, 1-65535", nil)
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(w, 10, 16)
	if err != nil || n == 0 {
		return selErr("%q: want a port number, 1-65535", w)
	}
	if err := p.set(field); err != nil {
		return err
	}
	if p.port == "" {
		p.port = p.seen[field]
	}
	*dst = uint16(n)
	return nil
}
