package ruletext

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// The grammar of a rule's body, after "rule TABLE CHAIN" in a file or
// the TABLE CHAIN arguments of "nflab rule add":
//
//	rule   = { match } action [ "comment" STRING ]
//	match  = [ "!" ] selector [ "!=" ] value ...
//
// The matches are the protocol's, in the words of nft where it has them
// (iptables' where clearer); see the package documentation for each.

// matchWords are the words a match starts with, for suggestions.
var matchWords = []string{
	"iif", "oif", "ip", "saddr", "daddr", "tcp", "udp", "th", "icmp", "ct", "string",
	"connlimit", "quota", "nth", "time", "limit", "mark",
}

// actionWords are the words an action starts with.
var actionWords = []string{
	"accept", "drop", "reject", "log", "counter", "notrack", "mark", "tos", "dscp", "ttl",
	"jump", "goto", "return", "snat", "dnat", "masquerade", "redirect",
}

// ref is a rule's reference to a chain or a set, checked once the whole
// file is read.
type ref struct {
	tok   token
	set   bool
	field nftypes.SetField // for a set: what it looks up
}

// ruleParser reads one rule's body.
type ruleParser struct {
	c       *cursor
	r       nftypes.Rule
	hasAct  bool
	actTok  token
	comment bool
	refs    []ref
	mtoks   []token // the word each match starts with
}

// parseRuleBody reads the matches, action and comment of r from c.
func parseRuleBody(c *cursor, r *nftypes.Rule) (*ruleParser, error) {
	p := &ruleParser{c: c, r: *r}
	for !c.done() {
		if err := p.element(); err != nil {
			return nil, err
		}
	}
	if !p.hasAct {
		return nil, errAt(c.end, "missing action at the end of the rule: accept, drop, reject, log, counter, jump CHAIN, ...")
	}
	if len(p.r.Matches) > nftypes.MaxMatches {
		return nil, errAt(p.actTok, "the rule has %d matches, at most %d", len(p.r.Matches), nftypes.MaxMatches)
	}
	*r = p.r.Normalized()
	return p, nil
}

// element reads one match, the action or the comment.
func (p *ruleParser) element() error {
	c := p.c
	t, _ := c.peek()
	neg := false
	if t.is("!") {
		c.i++
		neg = true
		if t, _ = c.peek(); c.done() {
			return errAt(t, `missing match after "!"`)
		}
	}
	if t.quoted {
		return errAt(t, "unexpected string %s; a comment is written comment %s", quote(t.text), quote(t.text))
	}
	switch t.text {
	case "comment":
		if neg {
			return errAt(t, `"!" negates a match, not a comment`)
		}
		c.i++
		if p.comment {
			return errAt(t, "a rule has one comment")
		}
		q, err := c.word("the comment, in quotes")
		if err != nil {
			return err
		}
		if len(q.text) > nftypes.MaxCommentLen || strings.IndexByte(q.text, 0) >= 0 {
			return errAt(q, "the comment must be at most %d bytes, without NUL", nftypes.MaxCommentLen)
		}
		p.r.Comment, p.comment = q.text, true
		return nil
	case "mark":
		if nt := c.i + 1; nt < len(c.toks) && c.toks[nt].is("set") {
			break // the action
		}
		fallthrough
	case "iif", "oif", "ip", "saddr", "daddr", "tcp", "udp", "th", "icmp", "ct", "string",
		"connlimit", "quota", "nth", "time", "limit":
		if p.hasAct {
			return errAt(t, "match %q after the action: the action comes last (before the comment)", t.text)
		}
		if err := p.match(neg); err != nil {
			return err
		}
		for len(p.mtoks) < len(p.r.Matches) {
			p.mtoks = append(p.mtoks, t)
		}
		return nil
	}
	if neg {
		if isOneOf(t.text, actionWords) {
			return errAt(t, `"!" negates a match, not the action %q`, t.text)
		}
		return unknown(t, "match", matchWords)
	}
	if !isOneOf(t.text, actionWords) {
		all := append(append([]string{}, matchWords...), actionWords...)
		all = append(all, "comment")
		return unknown(t, "match or action", all)
	}
	if p.hasAct {
		msg := "a rule has one action"
		if p.r.Action.Type == nftypes.ActionContinue || t.text == "counter" {
			msg += `; every rule counts its packets (see 'nflab rule list -v'), so "counter" is an action of its own`
		}
		if p.r.Action.Type == nftypes.ActionLog || t.text == "log" {
			msg += `; "log" goes on to the next rule: write the rule twice, once with log and once with the verdict`
		}
		return errAt(t, "%s", msg)
	}
	p.hasAct, p.actTok = true, t
	return p.action()
}

func isOneOf(s string, list []string) bool {
	for _, w := range list {
		if w == s {
			return true
		}
	}
	return false
}

// add appends a match.
func (p *ruleParser) add(m nftypes.Match) { p.r.Matches = append(p.r.Matches, m) }

// negation reads an optional "!=" after a selector; neg says whether "!"
// came before it.
func (p *ruleParser) negation(neg bool, sel token) (bool, error) {
	if t, ok := p.c.peek(); ok && t.is("!=") {
		p.c.i++
		if neg {
			return false, errAt(t, `negated twice: "!" before %q and "!=" after it`, sel.text)
		}
		return true, nil
	}
	return neg, nil
}

// match reads one match (or two: "tcp dport 22" is a protocol match and a
// port match).
func (p *ruleParser) match(neg bool) error {
	c := p.c
	sel, _ := c.take("")
	switch sel.text {
	case "iif", "oif":
		neg, err := p.negation(neg, sel)
		if err != nil {
			return err
		}
		t, err := c.word("an interface name")
		if err != nil {
			return err
		}
		if t.is("!") {
			return errAt(t, `write "%s != NAME" to negate`, sel.text)
		}
		if t.text == "" || len(t.text) > nftypes.MaxIfaceLen || strings.ContainsAny(t.text, "\x00/ ") {
			return errAt(t, "interface name %q must be 1 to %d bytes, without '/' or spaces", t.text, nftypes.MaxIfaceLen)
		}
		kind := nftypes.MatchIIF
		if sel.text == "oif" {
			kind = nftypes.MatchOIF
		}
		p.add(nftypes.Match{Kind: kind, Invert: neg, Iface: t.text})
		return nil
	case "ip":
		t, err := c.keyword("ip match", "saddr", "daddr", "protocol", "length")
		if err != nil {
			return err
		}
		switch t.text {
		case "protocol":
			return p.proto(neg, t)
		case "length":
			return p.length(neg, t)
		}
		return p.addr(neg, t)
	case "saddr", "daddr":
		return p.addr(neg, sel)
	case "tcp", "udp":
		proto := nftypes.TCP
		if sel.text == "udp" {
			proto = nftypes.UDP
		}
		words := []string{"sport", "dport"}
		if proto == nftypes.TCP {
			words = append(words, "flags")
		}
		t, err := c.keyword(sel.text+" match", words...)
		if err != nil {
			return err
		}
		if t.text == "flags" {
			return p.tcpFlags(neg, t)
		}
		if neg {
			return errAt(sel, `"! %s %s" is ambiguous: write "%s %s != ..." for %s packets to other ports, or "ip protocol != %s"`,
				sel.text, t.text, sel.text, t.text, sel.text, sel.text)
		}
		p.add(nftypes.Match{Kind: nftypes.MatchProto, Proto: proto})
		return p.ports(false, t)
	case "th":
		t, err := c.keyword("th match", "sport", "dport")
		if err != nil {
			return err
		}
		return p.ports(neg, t)
	case "icmp":
		return p.icmp(neg, sel)
	case "ct":
		t, err := c.keyword("ct match", "state", "status", "count")
		if err != nil {
			return err
		}
		if t.text == "count" {
			return errAt(t, `write "connlimit above N" or "connlimit upto N" to count connections`)
		}
		return p.ct(neg, t)
	case "string":
		return p.str(neg, sel)
	case "connlimit":
		return p.connlimit(neg, sel)
	case "quota":
		return p.quota(neg, sel)
	case "nth":
		return p.nth(neg, sel)
	case "time":
		return p.time(neg, sel)
	case "limit":
		return p.limit(neg, sel)
	case "mark":
		return p.mark(neg, sel)
	}
	return unknown(sel, "match", matchWords)
}

func (p *ruleParser) proto(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	t, err := p.c.word("a protocol: tcp, udp, icmp or a number")
	if err != nil {
		return err
	}
	var proto nftypes.Proto
	switch strings.ToLower(t.text) {
	case "tcp":
		proto = nftypes.TCP
	case "udp":
		proto = nftypes.UDP
	case "icmp":
		proto = nftypes.ICMP
	default:
		n, err := parseUint(t, "protocol", 255)
		if err != nil || n == 0 {
			return errAt(t, "unknown protocol %q; want tcp, udp, icmp or a number from 1 to 255", t.text)
		}
		proto = nftypes.Proto(n)
	}
	p.add(nftypes.Match{Kind: nftypes.MatchProto, Invert: neg, Proto: proto})
	return nil
}

func (p *ruleParser) length(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	t, err := p.c.word("a length or a range such as 0-100")
	if err != nil {
		return err
	}
	lo, hi, isRange := strings.Cut(t.text, "-")
	if !isRange {
		hi = lo
	}
	a, err1 := parseUint(token{text: lo}, "", 65535)
	b, err2 := parseUint(token{text: hi}, "", 65535)
	if err1 != nil || err2 != nil || t.quoted {
		return errAt(t, "length %q: want a length in bytes (0-65535) or a range such as 0-100", t.text)
	}
	if a > b {
		return errAt(t, "length range %s is backwards", t.text)
	}
	p.add(nftypes.Match{Kind: nftypes.MatchLength, Invert: neg, LenMin: uint16(a), LenMax: uint16(b)})
	return nil
}

// addr reads the value of saddr or daddr: an address, a prefix, a range
// or @SET.
func (p *ruleParser) addr(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	src := sel.text == "saddr"
	if t, ok := p.c.peek(); ok && t.is("{") {
		return errAt(t, "a list of addresses needs a named set: set NAME addr { ... }, then ip %s @NAME", sel.text)
	}
	t, err := p.c.word("an address, prefix, range or @SET")
	if err != nil {
		return err
	}
	if name, ok := strings.CutPrefix(t.text, "@"); ok && !t.quoted {
		field := nftypes.SetFieldDAddr
		if src {
			field = nftypes.SetFieldSAddr
		}
		return p.setRef(neg, t, name, field)
	}
	r, pfx, isRange, msg := parseAddrRange(t.text)
	if msg != "" || t.quoted {
		if msg == "" {
			msg = "want an address, not a string"
		}
		return errAt(t, "%s %q: %s", sel.text, t.text, msg)
	}
	m := nftypes.Match{Invert: neg}
	switch {
	case isRange:
		m.Kind, m.AddrStart, m.AddrEnd = nftypes.MatchDRange, r.First, r.Last
		if src {
			m.Kind = nftypes.MatchSRange
		}
	default:
		m.Kind, m.Prefix = nftypes.MatchDAddr, pfx
		if src {
			m.Kind = nftypes.MatchSAddr
		}
	}
	p.add(m)
	return nil
}

func (p *ruleParser) setRef(neg bool, t token, name string, field nftypes.SetField) error {
	if err := nftypes.ValidateName("set", name); err != nil {
		return errAt(t, "set name %q must be 1 to %d bytes of letters, digits, '_', '.' and '-'", name, nftypes.MaxNameLen)
	}
	p.add(nftypes.Match{Kind: nftypes.MatchSet, Invert: neg, SetName: name, SetField: field})
	p.refs = append(p.refs, ref{tok: t, set: true, field: field})
	return nil
}

// ports reads the value of sport or dport: ports and ranges, or @SET.
func (p *ruleParser) ports(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	src := sel.text == "sport"
	if t, ok := p.c.peek(); ok && strings.HasPrefix(t.text, "@") && !t.quoted {
		p.c.i++
		field := nftypes.SetFieldDPort
		if src {
			field = nftypes.SetFieldSPort
		}
		return p.setRef(neg, t, t.text[1:], field)
	}
	items, err := p.c.list("a port, a range such as 1024-65535, a list such as 80,443 or @SET")
	if err != nil {
		return err
	}
	if len(items) > nftypes.MaxPortRanges {
		return errAt(items[nftypes.MaxPortRanges], "at most %d ports and ranges in one match; use a port set for more (set NAME port { ... })", nftypes.MaxPortRanges)
	}
	m := nftypes.Match{Kind: nftypes.MatchDPort, Invert: neg}
	if src {
		m.Kind = nftypes.MatchSPort
	}
	for _, it := range items {
		r, err := parsePortRange(it)
		if err != nil {
			return err
		}
		m.Ports = append(m.Ports, r)
	}
	p.add(m)
	return nil
}

// tcpFlags reads "flags [!=] FLAGS [/ MASK]"; without a mask, the flags
// given must all be set.
func (p *ruleParser) tcpFlags(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	items, err := p.c.list("TCP flags: " + strings.Join(names(tcpFlagNames), ","))
	if err != nil {
		return err
	}
	// "syn/syn,ack" arrives as "syn/syn" "," "ack": split at the "/".
	var value, mask []token
	cur := &value
	for _, it := range items {
		if a, b, ok := strings.Cut(it.text, "/"); ok && !it.quoted && cur == &value {
			if a != "" {
				value = append(value, token{text: a, file: it.file, line: it.line, col: it.col, arg: it.arg})
			}
			cur = &mask
			if b != "" {
				mask = append(mask, token{text: b, file: it.file, line: it.line, col: it.col + len(a) + 1, arg: it.arg})
			}
			continue
		}
		*cur = append(*cur, it)
	}
	if cur == &value && p.c.accept("/") {
		cur = &mask
	}
	if cur == &mask && len(mask) == 0 {
		if mask, err = p.c.list("the mask: the TCP flags to look at"); err != nil {
			return err
		}
	}
	if len(value) == 0 {
		return errAt(sel, "missing TCP flags before the mask")
	}
	// "0" or "none": no flag of the mask set ("tcp flags 0 / syn", SYN
	// clear), which needs a mask.
	var v nftypes.TCPFlags
	if t := value[0]; len(value) == 1 && !t.quoted && (t.text == "0" || strings.EqualFold(t.text, "none")) {
		if len(mask) == 0 {
			return errAt(t, "tcp flags %s needs a mask: the flags that must be clear, such as \"tcp flags 0 / syn\"", t.text)
		}
	} else if v, err = parseBits(value, "TCP flag", tcpFlagNames); err != nil {
		return err
	}
	m := v
	if len(mask) > 0 {
		if m, err = parseBits(mask, "TCP flag", tcpFlagNames); err != nil {
			return err
		}
		if v&^m != 0 {
			return errAt(mask[0], "flags %s are not within the mask %s: they could never match", formatBits(v&^m, tcpFlagNames), formatBits(m, tcpFlagNames))
		}
	}
	p.add(nftypes.Match{Kind: nftypes.MatchTCPFlags, Invert: neg, TCPFlags: v, TCPMask: m})
	return nil
}

func (p *ruleParser) icmp(neg bool, sel token) error {
	if _, err := p.c.keyword("icmp match", "type"); err != nil {
		return err
	}
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	t, err := p.c.word("an ICMP type: echo-request, a number, ...")
	if err != nil {
		return err
	}
	m := nftypes.Match{Kind: nftypes.MatchICMP, Invert: neg}
	if ty, ok := icmpTypeByName(t.text); ok && !t.quoted {
		m.ICMPType = ty
	} else if n, err := parseUint(t, "", 255); err == nil {
		m.ICMPType = uint8(n)
	} else {
		return unknown(t, "ICMP type", icmpTypeNames())
	}
	if p.c.accept("code") {
		t, err := p.c.word("an ICMP code, 0-255")
		if err != nil {
			return err
		}
		n, err := parseUint(t, "ICMP code", 255)
		if err != nil {
			return err
		}
		code := uint8(n)
		m.ICMPCode = &code
	}
	p.add(m)
	return nil
}

func icmpTypeByName(s string) (uint8, bool) {
	for _, t := range icmpTypes {
		if t.name == s {
			return t.v, true
		}
	}
	return 0, false
}

func (p *ruleParser) ct(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	if sel.text == "state" {
		items, err := p.c.list("ct states: " + strings.Join(names(ctStateNames), ","))
		if err != nil {
			return err
		}
		v, err := parseBits(items, "ct state", ctStateNames)
		if err != nil {
			return err
		}
		p.add(nftypes.Match{Kind: nftypes.MatchCTState, Invert: neg, CTState: v})
		return nil
	}
	items, err := p.c.list("ct status bits: " + strings.Join(names(ctStatusNames), ","))
	if err != nil {
		return err
	}
	v, err := parseBits(items, "ct status", ctStatusNames)
	if err != nil {
		return err
	}
	p.add(nftypes.Match{Kind: nftypes.MatchCTStatus, Invert: neg, CTStatus: v})
	return nil
}

func (p *ruleParser) str(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	t, err := p.c.word("the string to look for, in quotes")
	if err != nil {
		return err
	}
	if len(t.text) == 0 || len(t.text) > nftypes.MaxPatternLen {
		return errAt(t, "the string must be 1 to %d bytes, not %d", nftypes.MaxPatternLen, len(t.text))
	}
	m := nftypes.Match{Kind: nftypes.MatchString, Invert: neg, Pattern: []byte(t.text), Algo: nftypes.AlgoBM}
	var seen [3]bool
	for {
		kw, ok := p.c.peek()
		i := map[string]int{"algo": 0, "from": 1, "to": 2}[kw.text]
		if !ok || kw.quoted || (kw.text != "algo" && kw.text != "from" && kw.text != "to") {
			break
		}
		p.c.i++
		if seen[i] {
			return errAt(kw, "%s given twice", kw.text)
		}
		seen[i] = true
		if kw.text == "algo" {
			a, err := p.c.keyword("an algorithm", "bm", "kmp")
			if err != nil {
				return err
			}
			m.Algo = nftypes.AlgoBM
			if a.text == "kmp" {
				m.Algo = nftypes.AlgoKMP
			}
			continue
		}
		v, err := p.c.word("an offset from the IP header's start, 0-65535")
		if err != nil {
			return err
		}
		n, err := parseUint(v, kw.text, 65535)
		if err != nil {
			return err
		}
		if kw.text == "from" {
			m.From = uint16(n)
		} else {
			if n == 0 {
				// nftypes' To 0 is the default, 65535.
				return errAt(v, "string: to 0 is not supported: the search must end past offset 0 (to 1 or more; without to, it runs to 65535)")
			}
			m.To = uint16(n)
		}
	}
	if m.To != 0 && m.From > m.To {
		return errAt(sel, "string: from %d is past to %d", m.From, m.To)
	}
	p.add(m)
	return nil
}

func (p *ruleParser) connlimit(neg bool, sel token) error {
	if neg {
		return errAt(sel, `connlimit cannot be negated: "above N" and "upto N" are each other's opposite`)
	}
	how, err := p.c.keyword(`"above" or "upto"`, "above", "upto")
	if err != nil {
		return err
	}
	t, err := p.c.word("a number of connections")
	if err != nil {
		return err
	}
	n, err := parseUint(t, "connections", 1<<32-1)
	if err != nil {
		return err
	}
	m := nftypes.Match{Kind: nftypes.MatchConnlimit, Count: uint32(n), Upto: how.text == "upto"}
	if p.c.accept("per") {
		t, err := p.c.word("a prefix length such as /24")
		if err != nil {
			return err
		}
		n, err := parseUint(token{text: strings.TrimPrefix(t.text, "/")}, "", 32)
		if err != nil || t.quoted {
			return errAt(t, "prefix length %q: want /0 to /32, such as /24", t.text)
		}
		pl := uint8(n)
		m.PrefixLen = &pl
	}
	p.add(m)
	return nil
}

func (p *ruleParser) quota(neg bool, sel token) error {
	if p.c.accept("over") {
		if neg {
			return errAt(sel, `negated twice: "!" and "over"`)
		}
		neg = true
	} else {
		p.c.accept("until")
	}
	t, err := p.c.word("a number of bytes")
	if err != nil {
		return err
	}
	n, err := parseUint(t, "quota", 1<<64-1)
	if err != nil {
		return err
	}
	shift := uint(0)
	if u, ok := p.c.peek(); ok && !u.quoted {
		for _, su := range sizeUnits {
			if u.text == su.name {
				p.c.i++
				shift = su.shift
			}
		}
	}
	if n == 0 || (shift > 0 && n > (1<<64-1)>>shift) {
		return errAt(t, "quota %q: want a number of bytes from 1 (units: bytes, kbytes, mbytes, gbytes)", t.text)
	}
	p.add(nftypes.Match{Kind: nftypes.MatchQuota, Invert: neg, QuotaBytes: n << shift})
	return nil
}

func (p *ruleParser) nth(neg bool, sel token) error {
	if neg {
		return errAt(sel, "nth cannot be negated; pick the packets with offset")
	}
	if _, err := p.c.keyword(`"every"`, "every"); err != nil {
		return err
	}
	t, err := p.c.word("a number of packets, at least 1")
	if err != nil {
		return err
	}
	every, err := parseUint(t, "every", 1<<32-1)
	if err != nil {
		return err
	}
	if every == 0 {
		return errAt(t, "every must be at least 1")
	}
	m := nftypes.Match{Kind: nftypes.MatchNth, Every: uint32(every)}
	if p.c.accept("offset") {
		t, err := p.c.word("an offset below every")
		if err != nil {
			return err
		}
		off, err := parseUint(t, "offset", every-1)
		if err != nil {
			return errAt(t, "offset %q: want a number from 0 to %d (below every)", t.text, every-1)
		}
		m.Offset = uint32(off)
	}
	p.add(m)
	return nil
}

// time reads "time" and its parts, in any order, each at most once:
// HH:MM[:SS]-HH:MM[:SS], days LIST, since DATE, until DATE, utc or
// localtime.
func (p *ruleParser) time(neg bool, sel token) error {
	m := nftypes.Match{Kind: nftypes.MatchTime, Invert: neg}
	seen := map[string]bool{}
	parts := 0
	for {
		t, ok := p.c.peek()
		if !ok || t.quoted {
			break
		}
		key := t.text
		isTOD := len(t.text) > 0 && t.text[0] >= '0' && t.text[0] <= '9'
		if isTOD {
			key = "time of day"
		} else if key == "localtime" {
			key = "utc"
		} else if key != "days" && key != "since" && key != "until" && key != "utc" {
			break
		}
		p.c.i++
		if seen[key] {
			return errAt(t, "%s given twice", key)
		}
		seen[key] = true
		parts++
		switch {
		case isTOD:
			a, b, ok := strings.Cut(t.text, "-")
			start, ok1 := parseTOD(a)
			stop, ok2 := parseTOD(b)
			if !ok || !ok1 || !ok2 {
				return errAt(t, "time of day %q: want HH:MM-HH:MM, such as 08:00-18:00 (a window past midnight wraps)", t.text)
			}
			m.TODStart, m.TODStop = &start, &stop
		case t.text == "days":
			items, err := p.c.list("days: mon,tue,wed,thu,fri,sat,sun")
			if err != nil {
				return err
			}
			if m.Weekdays, err = parseBits(items, "day", weekdayNames); err != nil {
				return err
			}
		case t.text == "since" || t.text == "until":
			d, err := p.c.word("a date, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)")
			if err != nil {
				return err
			}
			at, ok := parseDate(d.text)
			if !ok || d.quoted {
				return errAt(d, "date %q: want YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, in UTC", d.text)
			}
			if t.text == "since" {
				m.DateStart = at
			} else {
				m.DateStop = at
			}
		case t.text == "localtime":
			m.LocalTime = true
		}
	}
	if parts == 0 || (parts == 1 && seen["utc"]) {
		t, _ := p.c.peek()
		return errAt(t, "time needs a time of day (08:00-18:00), days (days mon,tue), since DATE or until DATE")
	}
	if !m.DateStart.IsZero() && !m.DateStop.IsZero() && m.DateStop.Before(m.DateStart) {
		return errAt(sel, "time: until %s is before since %s", formatDate(m.DateStop), formatDate(m.DateStart))
	}
	p.add(m)
	return nil
}

func (p *ruleParser) limit(neg bool, sel token) error {
	p.c.accept("rate")
	if p.c.accept("over") {
		if neg {
			return errAt(sel, `negated twice: "!" and "over"`)
		}
		neg = true
	}
	t, err := p.c.word("a rate such as 10/second")
	if err != nil {
		return err
	}
	num, unit, ok := strings.Cut(t.text, "/")
	n, err1 := parseUint(token{text: num}, "", 1<<32-1)
	var period time.Duration
	for _, pe := range periods {
		if unit == pe.name {
			period = pe.d
		}
	}
	if !ok || err1 != nil || n == 0 || period == 0 || t.quoted {
		return errAt(t, "rate %q: want N/second, N/minute, N/hour or N/day, N at least 1", t.text)
	}
	m := nftypes.Match{Kind: nftypes.MatchLimit, Invert: neg, Rate: uint32(n), Period: period}
	if p.c.accept("burst") {
		t, err := p.c.word("a burst of packets, at least 1")
		if err != nil {
			return err
		}
		b, err := parseUint(t, "burst", 1<<32-1)
		if err != nil || b == 0 {
			return errAt(t, "burst %q: want a number of packets, at least 1", t.text)
		}
		m.Burst = uint32(b)
		p.c.accept("packets")
	}
	p.add(m)
	return nil
}

// valueMask reads V, V/M or V / M, numbers up to 32 bits.
func (p *ruleParser) valueMask(what string) (v, mask uint32, hasMask bool, err error) {
	t, err := p.c.word(what)
	if err != nil {
		return 0, 0, false, err
	}
	a, b, ok := strings.Cut(t.text, "/")
	if !ok && p.c.peekIs("/") {
		p.c.i++
		mt, err := p.c.word("a mask")
		if err != nil {
			return 0, 0, false, err
		}
		b, ok = mt.text, true
	}
	x, err := parseUint(token{text: a}, "", 1<<32-1)
	if err != nil || t.quoted {
		return 0, 0, false, errAt(t, "%q: want a number up to 0xffffffff, optionally /MASK", t.text)
	}
	if !ok {
		return uint32(x), 0, false, nil
	}
	y, err := parseUint(token{text: b}, "", 1<<32-1)
	if err != nil || y == 0 {
		return 0, 0, false, errAt(t, "mask %q: want a number from 1 to 0xffffffff", b)
	}
	return uint32(x), uint32(y), true, nil
}

func (p *ruleParser) mark(neg bool, sel token) error {
	neg, err := p.negation(neg, sel)
	if err != nil {
		return err
	}
	v, mask, _, err := p.valueMask("a mark, such as 0x1 or 0x1/0xff")
	if err != nil {
		return err
	}
	if mask == 0xffffffff {
		mask = 0 // the same
	}
	if mask != 0 && v&^mask != 0 {
		return errAt(sel, "mark %#x has bits outside its mask %#x: it could never match", v, mask)
	}
	p.add(nftypes.Match{Kind: nftypes.MatchMark, Invert: neg, Mark: v, MarkMask: mask})
	return nil
}

// action reads the action; the cursor is at its word.
func (p *ruleParser) action() error {
	c := p.c
	t, _ := c.take("")
	a := &p.r.Action
	switch t.text {
	case "accept":
		a.Type = nftypes.ActionAccept
	case "drop":
		a.Type = nftypes.ActionDrop
	case "return":
		a.Type = nftypes.ActionReturn
	case "notrack":
		a.Type = nftypes.ActionNotrack
	case "counter":
		a.Type = nftypes.ActionContinue
	case "reject":
		a.Type = nftypes.ActionReject
		if !c.accept("with") {
			return nil
		}
		w, err := c.keyword(`"tcp" or "icmp"`, "tcp", "icmp")
		if err != nil {
			return err
		}
		if w.text == "tcp" {
			if _, err := c.keyword(`"reset"`, "reset"); err != nil {
				return err
			}
			a.RejectWith = nftypes.RejectTCPReset
			return nil
		}
		c.accept("type") // nft's older spelling
		code, err := c.word("an ICMP code: port-unreachable, host-unreachable, ...")
		if err != nil {
			return err
		}
		for _, r := range rejectNames {
			if r.name == code.text && !code.quoted {
				a.RejectWith = r.v
				return nil
			}
		}
		var known []string
		for _, r := range rejectNames[:7] {
			known = append(known, r.name)
		}
		return unknown(code, "reject code", known)
	case "log":
		a.Type = nftypes.ActionLog
		if c.accept("prefix") {
			q, err := c.word("the prefix, in quotes")
			if err != nil {
				return err
			}
			if q.text == "" || len(q.text) > nftypes.MaxLogPrefixLen || strings.IndexByte(q.text, 0) >= 0 {
				return errAt(q, "the log prefix must be 1 to %d bytes, without NUL", nftypes.MaxLogPrefixLen)
			}
			a.LogPrefix = q.text
		}
	case "mark":
		c.i++ // "set", checked by element
		a.Type = nftypes.ActionMark
		v, mask, _, err := p.valueMask("a mark, such as 0x1 or 0x1/0xff")
		if err != nil {
			return err
		}
		if mask == 0xffffffff {
			mask = 0
		}
		a.Value, a.Mask = v, mask
	case "tos", "dscp":
		if _, err := c.keyword(`"set"`, "set"); err != nil {
			return err
		}
		max := uint64(255)
		a.Type = nftypes.ActionTOS
		if t.text == "dscp" {
			max, a.Type = 63, nftypes.ActionDSCP
		}
		v, err := c.word("a value")
		if err != nil {
			return err
		}
		n, err := parseUint(v, t.text, max)
		if err != nil {
			return err
		}
		a.Value = uint32(n)
	case "ttl":
		mode, err := c.keyword(`"set", "inc" or "dec"`, "set", "inc", "dec")
		if err != nil {
			return err
		}
		a.Type = nftypes.ActionTTL
		a.TTLMode = map[string]nftypes.TTLMode{"set": nftypes.TTLSet, "inc": nftypes.TTLInc, "dec": nftypes.TTLDec}[mode.text]
		v, err := c.word("a value, 1-255")
		if err != nil {
			return err
		}
		n, err := parseUint(v, "ttl", 255)
		if err != nil || n == 0 {
			return errAt(v, "ttl %q: want a number from 1 to 255", v.text)
		}
		a.Value = uint32(n)
	case "jump", "goto":
		a.Type = nftypes.ActionJump
		if t.text == "goto" {
			a.Type = nftypes.ActionGoto
		}
		ch, err := c.word("a user chain's name")
		if err != nil {
			return err
		}
		if err := nftypes.ValidateName("chain", ch.text); err != nil {
			return errAt(ch, "chain name %q must be 1 to %d bytes of letters, digits, '_', '.' and '-'", ch.text, nftypes.MaxNameLen)
		}
		if _, builtin := nftypes.BuiltinHook(ch.text); builtin {
			return errAt(ch, "%s to the built-in chain %s: jump and goto reach user chains only", t.text, ch.text)
		}
		a.Chain = ch.text
		p.refs = append(p.refs, ref{tok: ch})
	case "snat", "dnat", "masquerade", "redirect":
		return p.nat(t)
	}
	return nil
}

// natFlagNames are the NAT actions' flags, in the order Format writes
// them.
var natFlagNames = []struct {
	name string
	v    nftypes.NATFlags
}{{"random", nftypes.NATRandom}, {"fully-random", nftypes.NATFullyRandom}, {"persistent", nftypes.NATPersistent},
	{"fullcone", nftypes.NATFullcone}}

// nat reads a NAT action after its word t:
//
//	snat to ADDR[-ADDR][:PORT[-PORT]]
//	dnat to ADDR[-ADDR][:PORT[-PORT]] | dnat to :PORT[-PORT]
//	masquerade [to :PORT[-PORT]]
//	redirect [to :PORT[-PORT]]
//
// then its flags, in any order, each at most once.
func (p *ruleParser) nat(t token) error {
	c := p.c
	a := &p.r.Action
	a.Type = map[string]nftypes.ActionType{"snat": nftypes.ActionSNAT, "dnat": nftypes.ActionDNAT,
		"masquerade": nftypes.ActionMasquerade, "redirect": nftypes.ActionRedirect}[t.text]
	addrs := t.text == "snat" || t.text == "dnat"
	var target token
	switch {
	case addrs:
		if _, err := c.keyword(`"to"`, "to"); err != nil {
			return err
		}
		var err error
		if target, err = c.word("an address, a range or a port, such as 192.0.2.1, 192.0.2.1-192.0.2.9, 192.0.2.1:1024-65535 or :8080"); err != nil {
			return err
		}
	case c.accept("to"):
		var err error
		if target, err = c.word("a port or a port range, such as :8080 or :1024-65535"); err != nil {
			return err
		}
	}
	if target.text != "" || target.quoted {
		if err := p.natTarget(t.text, target, addrs); err != nil {
			return err
		}
	}
	for {
		f, ok := c.peek()
		if !ok || f.quoted {
			return nil
		}
		i := slices.Index(names(natFlagNames), f.text)
		if i < 0 {
			if !isOneOf(f.text, matchWords) && !isOneOf(f.text, actionWords) && f.text != "comment" && suggest(f.text, names(natFlagNames)) != "" {
				return unknown(f, "NAT flag", names(natFlagNames))
			}
			return nil
		}
		c.i++
		if a.NATFlags&natFlagNames[i].v != 0 {
			return errAt(f, "%s given twice", f.text)
		}
		a.NATFlags |= natFlagNames[i].v
	}
}

// natTarget reads the word after "to": ADDR, FIRST-LAST, either followed
// by :PORT or :FIRST-LAST, or the port part alone; addrs says whether the
// action takes addresses.
func (p *ruleParser) natTarget(action string, t token, addrs bool) error {
	a := &p.r.Action
	addr, port, hasPort := strings.Cut(t.text, ":")
	if t.quoted || (!hasPort && addr == "") {
		return errAt(t, "%s to %q: want an address, a range or :PORT", action, t.text)
	}
	if addr != "" {
		if !addrs {
			return errAt(t, "%s takes no address, only ports: %s to :PORT[-PORT]", action, action)
		}
		first, last, isRange := strings.Cut(addr, "-")
		f, ok1 := parseIPv4(first)
		l, ok2 := parseIPv4(last)
		if !ok1 || (isRange && !ok2) {
			return errAt(t, "%s to %q: want an IPv4 address or a range such as 192.0.2.1-192.0.2.9, then optionally :PORT or :FIRST-LAST", action, t.text)
		}
		if isRange && l.Less(f) {
			return errAt(t, "%s to %q: the address range is backwards", action, t.text)
		}
		a.Addr = f
		if isRange {
			a.AddrEnd = l
		}
	} else if action == "snat" {
		return errAt(t, "snat needs an address: snat to ADDR[-ADDR][:PORT[-PORT]]")
	}
	if hasPort {
		first, last, isRange := strings.Cut(port, "-")
		if !isRange {
			last = first
		}
		f, err1 := strconv.ParseUint(first, 10, 16)
		l, err2 := strconv.ParseUint(last, 10, 16)
		switch {
		case err1 != nil || err2 != nil:
			return errAt(t, "%s to %q: want a port (1-65535) or a range such as 1024-65535 after \":\"", action, t.text)
		case f > l:
			return errAt(t, "%s to %q: the port range is backwards", action, t.text)
		case f == 0:
			return errAt(t, "%s to %q: ports are 1 to 65535", action, t.text)
		}
		a.Ports = &nftypes.PortRange{First: uint16(f), Last: uint16(l)}
	}
	return nil
}

// names lists the names of a table.
func names[T any](table []struct {
	name string
	v    T
}) []string {
	s := make([]string, len(table))
	for i, e := range table {
		s[i] = e.name
	}
	return s
}

// Keywords returns the words a rule's match or action starts with, for
// completion.
func Keywords() []string {
	kw := append([]string{}, matchWords...)
	for _, w := range actionWords {
		if !isOneOf(w, kw) {
			kw = append(kw, w)
		}
	}
	return append(kw, "comment")
}
