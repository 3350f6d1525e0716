package ruletext

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Format writes rs in the text format: the sets, the user chains and the
// built-in chains whose policy is not accept, then the rules, in rs's
// order. What the module alone knows (handles, counters, quota used, the
// generation) is left out, so that the same ruleset always gives the same
// text, and Parse reads it back as rs.
func Format(w io.Writer, rs nftypes.Ruleset) error {
	bw := bufio.NewWriterSize(w, 64*1024)
	bw.WriteString("# nflab ruleset\n")
	if len(rs.Sets) > 0 {
		bw.WriteByte('\n')
	}
	for _, s := range rs.Sets {
		if err := formatSet(bw, s); err != nil {
			return err
		}
	}
	first := true
	for _, c := range rs.Chains {
		tb, err := tableName(c.Table)
		if err != nil {
			return err
		}
		var line string
		switch {
		case !c.Builtin():
			line = "chain " + tb + " " + c.Name
		case c.Policy == nftypes.VerdictDrop:
			line = "chain " + tb + " " + c.Name + " policy drop"
		case c.Policy == 0 || c.Policy == nftypes.VerdictAccept:
			continue
		default:
			return fmt.Errorf("ruletext: chain %s/%s: policy %s cannot be written", tb, c.Name, c.Policy)
		}
		if first {
			bw.WriteByte('\n')
			first = false
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if len(rs.Rules) > 0 {
		bw.WriteByte('\n')
	}
	for _, r := range rs.Rules {
		tb, err := tableName(r.Table)
		if err != nil {
			return err
		}
		body, err := FormatRule(r)
		if err != nil {
			return err
		}
		bw.WriteString("rule " + tb + " " + r.Chain + " " + body + "\n")
	}
	return bw.Flush()
}

func tableName(t nftypes.Table) (string, error) {
	for _, k := range nftypes.Tables() {
		if k == t {
			return t.String(), nil
		}
	}
	return "", fmt.Errorf("ruletext: table %d cannot be written", t)
}

// setLineMax is the most elements a set's line holds; larger sets take a
// line per element.
const setLineMax = 8

func formatSet(bw *bufio.Writer, s nftypes.Set) error {
	var typ string
	switch s.Type {
	case nftypes.SetTypeAddr:
		typ = "addr"
	case nftypes.SetTypePort:
		typ = "port"
	default:
		return fmt.Errorf("ruletext: set %s: type %s cannot be written", s.Name, s.Type)
	}
	bw.WriteString("set " + s.Name + " " + typ)
	n := s.Len()
	if n == 0 {
		bw.WriteByte('\n')
		return nil
	}
	elem := func(i int) string {
		if s.Type == nftypes.SetTypeAddr {
			return s.Addrs[i].String()
		}
		return s.Ports[i].String()
	}
	if n <= setLineMax {
		bw.WriteString(" { ")
		for i := range n {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(elem(i))
		}
		bw.WriteString(" }\n")
		return nil
	}
	bw.WriteString(" {\n")
	for i := range n {
		bw.WriteByte('\t')
		bw.WriteString(elem(i))
		if i < n-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("}\n")
	return nil
}

// FormatRule writes a rule's matches, action and comment as ParseRule
// reads them (without its table and chain).
func FormatRule(r nftypes.Rule) (string, error) {
	var out []string
	ms := r.Matches
	for i := 0; i < len(ms); i++ {
		m := ms[i]
		// "tcp dport 22" is a protocol match followed by a port match.
		if m.Kind == nftypes.MatchProto && !m.Invert && (m.Proto == nftypes.TCP || m.Proto == nftypes.UDP) && i+1 < len(ms) {
			next := ms[i+1]
			if next.Kind == nftypes.MatchSPort || next.Kind == nftypes.MatchDPort ||
				(next.Kind == nftypes.MatchSet && (next.SetField == nftypes.SetFieldSPort || next.SetField == nftypes.SetFieldDPort)) {
				s, err := formatMatch(next, m.Proto.String())
				if err != nil {
					return "", err
				}
				out = append(out, s)
				i++
				continue
			}
		}
		s, err := formatMatch(m, "th")
		if err != nil {
			return "", err
		}
		out = append(out, s)
	}
	a, err := formatAction(r.Action)
	if err != nil {
		return "", err
	}
	out = append(out, a)
	if r.Comment != "" {
		out = append(out, "comment "+quote(r.Comment))
	}
	return strings.Join(out, " "), nil
}

// formatMatch writes one match; l4 is what port matches start with:
// "tcp", "udp" or "th".
func formatMatch(m nftypes.Match, l4 string) (string, error) {
	neg := ""
	if m.Invert {
		neg = "!= "
	}
	switch m.Kind {
	case nftypes.MatchIIF, nftypes.MatchOIF:
		return m.Kind.String() + " " + neg + word(m.Iface), nil
	case nftypes.MatchSAddr, nftypes.MatchDAddr:
		p := m.Prefix.String()
		if m.Prefix.Bits() == 32 {
			p = m.Prefix.Addr().String()
		}
		return "ip " + m.Kind.String() + " " + neg + p, nil
	case nftypes.MatchSRange, nftypes.MatchDRange:
		sel := "saddr"
		if m.Kind == nftypes.MatchDRange {
			sel = "daddr"
		}
		return "ip " + sel + " " + neg + m.AddrStart.String() + "-" + m.AddrEnd.String(), nil
	case nftypes.MatchProto:
		return "ip protocol " + neg + m.Proto.String(), nil
	case nftypes.MatchSPort, nftypes.MatchDPort:
		ports := make([]string, len(m.Ports))
		for i, p := range m.Ports {
			ports[i] = p.String()
		}
		v := strings.Join(ports, ",")
		if len(ports) > 1 {
			v = "{ " + strings.Join(ports, ", ") + " }"
		}
		return l4 + " " + m.Kind.String() + " " + neg + v, nil
	case nftypes.MatchTCPFlags:
		v := formatBits(m.TCPFlags, tcpFlagNames)
		if m.TCPFlags == 0 {
			v = "0" // none of the mask's flags set
		}
		s := "tcp flags " + neg + v
		if m.TCPMask != m.TCPFlags {
			s += " / " + formatBits(m.TCPMask, tcpFlagNames)
		}
		return s, nil
	case nftypes.MatchICMP:
		s := "icmp type " + neg + icmpTypeName(m.ICMPType)
		if m.ICMPCode != nil {
			s += " code " + strconv.Itoa(int(*m.ICMPCode))
		}
		return s, nil
	case nftypes.MatchLength:
		v := strconv.Itoa(int(m.LenMin))
		if m.LenMax != m.LenMin {
			v += "-" + strconv.Itoa(int(m.LenMax))
		}
		return "ip length " + neg + v, nil
	case nftypes.MatchCTState:
		if m.CTState == 0 {
			return "", fmt.Errorf("ruletext: ct state with no state cannot be written")
		}
		return "ct state " + neg + formatBits(m.CTState, ctStateNames), nil
	case nftypes.MatchCTStatus:
		if m.CTStatus == 0 {
			return "", fmt.Errorf("ruletext: ct status with no bit cannot be written")
		}
		return "ct status " + neg + formatBits(m.CTStatus, ctStatusNames), nil
	case nftypes.MatchString:
		s := "string " + neg + quote(string(m.Pattern))
		switch m.Algo {
		case nftypes.AlgoBM:
		case nftypes.AlgoKMP:
			s += " algo kmp"
		default:
			return "", fmt.Errorf("ruletext: string algorithm %s cannot be written", m.Algo)
		}
		if m.From != 0 {
			s += " from " + strconv.Itoa(int(m.From))
		}
		if m.To != 0 {
			s += " to " + strconv.Itoa(int(m.To))
		}
		return s, nil
	case nftypes.MatchConnlimit:
		if m.Invert {
			return "", fmt.Errorf("ruletext: a negated connlimit cannot be written")
		}
		s := "connlimit above "
		if m.Upto {
			s = "connlimit upto "
		}
		s += strconv.FormatUint(uint64(m.Count), 10)
		if m.PrefixLen != nil {
			s += " per /" + strconv.Itoa(int(*m.PrefixLen))
		}
		return s, nil
	case nftypes.MatchQuota:
		s := "quota "
		if m.Invert {
			s += "over "
		}
		return s + formatSize(m.QuotaBytes), nil
	case nftypes.MatchNth:
		if m.Invert {
			return "", fmt.Errorf("ruletext: a negated nth cannot be written")
		}
		s := "nth every " + strconv.FormatUint(uint64(m.Every), 10)
		if m.Offset != 0 {
			s += " offset " + strconv.FormatUint(uint64(m.Offset), 10)
		}
		return s, nil
	case nftypes.MatchTime:
		s := "time"
		if m.Invert {
			s = "! time"
		}
		parts := 0
		if m.TODStart != nil && m.TODStop != nil {
			s += " " + formatTOD(*m.TODStart) + "-" + formatTOD(*m.TODStop)
			parts++
		}
		if m.Weekdays != 0 {
			s += " days " + formatBits(m.Weekdays, weekdayNames)
			parts++
		}
		if !m.DateStart.IsZero() {
			s += " since " + formatDate(m.DateStart)
			parts++
		}
		if !m.DateStop.IsZero() {
			s += " until " + formatDate(m.DateStop)
			parts++
		}
		if parts == 0 {
			return "", fmt.Errorf("ruletext: a time match with no time of day, days or dates cannot be written")
		}
		if m.LocalTime {
			s += " localtime"
		}
		return s, nil
	case nftypes.MatchLimit:
		s := "limit "
		if m.Invert {
			s += "over "
		}
		s += strconv.FormatUint(uint64(m.Rate), 10) + "/" + periodName(m.Period)
		if m.Burst != 0 {
			s += " burst " + strconv.FormatUint(uint64(m.Burst), 10)
		}
		return s, nil
	case nftypes.MatchMark:
		s := "mark " + neg + "0x" + strconv.FormatUint(uint64(m.Mark), 16)
		if m.MarkMask != 0 && m.MarkMask != 0xffffffff {
			s += "/0x" + strconv.FormatUint(uint64(m.MarkMask), 16)
		}
		return s, nil
	case nftypes.MatchSet:
		switch m.SetField {
		case nftypes.SetFieldSAddr, nftypes.SetFieldDAddr:
			return "ip " + m.SetField.String() + " " + neg + "@" + m.SetName, nil
		case nftypes.SetFieldSPort, nftypes.SetFieldDPort:
			return l4 + " " + m.SetField.String() + " " + neg + "@" + m.SetName, nil
		}
		return "", fmt.Errorf("ruletext: set field %s cannot be written", m.SetField)
	}
	return "", fmt.Errorf("ruletext: match %s cannot be written (a newer module's?)", m.Kind)
}

// word writes s bare if it reads back as one word, quoted otherwise.
func word(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n#{},\"\\") || isKeyword(s) || s[0] == '!' || s[0] == '@' {
		return quote(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] >= 0x7f {
			return quote(s)
		}
	}
	return s
}

func isKeyword(s string) bool {
	return s == "!=" || s == "/" || isOneOf(s, matchWords) || isOneOf(s, actionWords) || s == "comment"
}

func formatAction(a nftypes.Action) (string, error) {
	switch a.Type {
	case nftypes.ActionAccept:
		return "accept", nil
	case nftypes.ActionDrop:
		return "drop", nil
	case nftypes.ActionReturn:
		return "return", nil
	case nftypes.ActionNotrack:
		return "notrack", nil
	case nftypes.ActionContinue:
		return "counter", nil
	case nftypes.ActionReject:
		switch a.RejectWith {
		case 0:
			return "reject", nil
		case nftypes.RejectTCPReset:
			return "reject with tcp reset", nil
		}
		for _, r := range rejectNames {
			if r.v == a.RejectWith {
				return "reject with icmp " + r.name, nil
			}
		}
		return "", fmt.Errorf("ruletext: reject with %s cannot be written", a.RejectWith)
	case nftypes.ActionLog:
		if a.LogPrefix != "" {
			return "log prefix " + quote(a.LogPrefix), nil
		}
		return "log", nil
	case nftypes.ActionMark:
		s := "mark set 0x" + strconv.FormatUint(uint64(a.Value), 16)
		if a.Mask != 0 && a.Mask != 0xffffffff {
			s += "/0x" + strconv.FormatUint(uint64(a.Mask), 16)
		}
		return s, nil
	case nftypes.ActionTOS:
		return "tos set 0x" + strconv.FormatUint(uint64(a.Value), 16), nil
	case nftypes.ActionDSCP:
		return "dscp set " + strconv.FormatUint(uint64(a.Value), 10), nil
	case nftypes.ActionTTL:
		var mode string
		switch a.TTLMode {
		case nftypes.TTLSet:
			mode = "set"
		case nftypes.TTLInc:
			mode = "inc"
		case nftypes.TTLDec:
			mode = "dec"
		default:
			return "", fmt.Errorf("ruletext: ttl mode %s cannot be written", a.TTLMode)
		}
		return "ttl " + mode + " " + strconv.FormatUint(uint64(a.Value), 10), nil
	case nftypes.ActionJump:
		return "jump " + a.Chain, nil
	case nftypes.ActionGoto:
		return "goto " + a.Chain, nil
	case nftypes.ActionSNAT, nftypes.ActionDNAT, nftypes.ActionMasquerade, nftypes.ActionRedirect:
		return formatNAT(a)
	}
	return "", fmt.Errorf("ruletext: action %s cannot be written (a newer module's?)", a.Type)
}

// formatNAT writes a NAT action: "snat to 192.0.2.1-192.0.2.9:1024-2047",
// "dnat to :8080", "masquerade", then its flags in natFlagNames' order.
func formatNAT(a nftypes.Action) (string, error) {
	addrs := a.Type == nftypes.ActionSNAT || a.Type == nftypes.ActionDNAT
	switch {
	case !addrs && (a.Addr.IsValid() || a.AddrEnd.IsValid()):
		return "", fmt.Errorf("ruletext: %s with an address cannot be written", a.Type)
	case a.Type == nftypes.ActionSNAT && !a.Addr.IsValid():
		return "", fmt.Errorf("ruletext: snat without an address cannot be written")
	case a.Type == nftypes.ActionDNAT && !a.Addr.IsValid() && a.Ports == nil:
		return "", fmt.Errorf("ruletext: dnat without an address or ports cannot be written")
	case a.AddrEnd.IsValid() && !a.Addr.IsValid():
		return "", fmt.Errorf("ruletext: %s with an address range's end only cannot be written", a.Type)
	case (a.Addr.IsValid() && !a.Addr.Is4()) || (a.AddrEnd.IsValid() && !a.AddrEnd.Is4()):
		return "", fmt.Errorf("ruletext: %s to an address that is not IPv4 cannot be written", a.Type)
	}
	target := ""
	if a.Addr.IsValid() {
		target = a.Addr.String()
		if a.AddrEnd.IsValid() && a.AddrEnd != a.Addr {
			target += "-" + a.AddrEnd.String()
		}
	}
	if a.Ports != nil {
		target += ":" + a.Ports.String()
	}
	s := a.Type.String()
	if target != "" {
		s += " to " + target
	}
	flags := a.NATFlags
	for _, f := range natFlagNames {
		if flags&f.v != 0 {
			s += " " + f.name
			flags &^= f.v
		}
	}
	if flags != 0 {
		return "", fmt.Errorf("ruletext: NAT flags %s cannot be written", flags)
	}
	return s, nil
}
