//go:build linux

package fakemod

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// The rule engine's requests and replies, decoded and encoded from
// nlproto/nflab.h apart from the client's code.

// nest is a decoded nest: every occurrence of each attribute type, flags
// (NLA_F_NESTED) cleared.
type nest map[uint16][][]byte

func decodeNest(b []byte, known uint16) (nest, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, badRequest("malformed nest")
	}
	n := nest{}
	for ad.Next() {
		if ad.Type() == 0 || ad.Type() > known {
			return nil, badRequest(fmt.Sprintf("Unknown attribute type %d", ad.Type()))
		}
		n[ad.Type()] = append(n[ad.Type()], ad.Bytes())
	}
	if ad.Err() != nil {
		return nil, badRequest("malformed nest")
	}
	return n, nil
}

func (n nest) has(t uint16) bool { return len(n[t]) > 0 }

func (n nest) u8(t uint16) (uint8, error) {
	if b := n[t]; len(b) > 0 {
		if len(b[0]) != 1 {
			return 0, badRequest(fmt.Sprintf("attribute %d is not a u8", t))
		}
		return b[0][0], nil
	}
	return 0, nil
}

func (n nest) u32(t uint16) (uint32, error) {
	if b := n[t]; len(b) > 0 {
		if len(b[0]) != 4 {
			return 0, badRequest(fmt.Sprintf("attribute %d is not a u32", t))
		}
		return binary.NativeEndian.Uint32(b[0]), nil
	}
	return 0, nil
}

func (n nest) u64(t uint16) (uint64, error) {
	if b := n[t]; len(b) > 0 {
		if len(b[0]) != 8 {
			return 0, badRequest(fmt.Sprintf("attribute %d is not a u64", t))
		}
		return binary.NativeEndian.Uint64(b[0]), nil
	}
	return 0, nil
}

// str reads a NUL-terminated string of at most max bytes, NUL included.
func (n nest) str(t uint16, max int) (string, error) {
	b := n[t]
	if len(b) == 0 {
		return "", nil
	}
	s := b[0]
	if len(s) == 0 || s[len(s)-1] != 0 || len(s) > max {
		return "", badRequest(fmt.Sprintf("attribute %d is not a string of at most %d bytes", t, max-1))
	}
	return string(s[:len(s)-1]), nil
}

func (n nest) addr(t uint16) (netip.Addr, error) {
	if b := n[t]; len(b) > 0 {
		return decodeAddr(b[0])
	}
	return netip.Addr{}, nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeChainReq(b []byte) (nftypes.Table, string, nftypes.Verdict, bool, error) {
	n, err := decodeNest(b, nlproto.CHAIN_A_MAX)
	if err != nil {
		return 0, "", 0, false, err
	}
	t, err1 := n.u8(nlproto.CHAIN_A_TABLE)
	name, err2 := n.str(nlproto.CHAIN_A_NAME, nlproto.NAME_MAXLEN)
	p, err3 := n.u8(nlproto.CHAIN_A_POLICY)
	if err := firstErr(err1, err2, err3); err != nil {
		return 0, "", 0, false, err
	}
	if t < 1 || t > nlproto.TABLE_MAX {
		return 0, "", 0, false, badRequest("Missing or unknown table")
	}
	if name == "" {
		return 0, "", 0, false, badRequest("Missing chain name")
	}
	return nftypes.Table(t), name, nftypes.Verdict(p), n.has(nlproto.CHAIN_A_POLICY), nil
}

// decodeRuleReq decodes NFLAB_A_RULE of RULE_NEW, RULE_REPLACE, RULE_DEL
// and RULE_GET: the rule, its handle, its position and flags. The matches
// and the action are left to createRule, which decodes them where the
// kernel does.
func decodeRuleReq(b []byte) (r nftypes.Rule, has nest, pos uint64, flags uint32, err error) {
	n, err := decodeNest(b, nlproto.RULE_A_MAX)
	if err != nil {
		return r, nil, 0, 0, err
	}
	for _, t := range []uint16{nlproto.RULE_A_PACKETS, nlproto.RULE_A_BYTES, nlproto.RULE_A_STATE} {
		if n.has(t) {
			return r, nil, 0, 0, badRequest(fmt.Sprintf("attribute %d is read-only", t))
		}
	}
	var t uint8
	var errs []error
	r.Handle, err = n.u64(nlproto.RULE_A_HANDLE)
	errs = append(errs, err)
	t, err = n.u8(nlproto.RULE_A_TABLE)
	errs = append(errs, err)
	r.Table = nftypes.Table(t)
	r.Chain, err = n.str(nlproto.RULE_A_CHAIN, nlproto.NAME_MAXLEN)
	errs = append(errs, err)
	r.Comment, err = n.str(nlproto.RULE_A_COMMENT, nlproto.COMMENT_MAXLEN)
	errs = append(errs, err)
	pos, err = n.u64(nlproto.RULE_A_POSITION)
	errs = append(errs, err)
	flags, err = n.u32(nlproto.RULE_A_FLAGS)
	errs = append(errs, err)
	if err := firstErr(errs...); err != nil {
		return r, nil, 0, 0, err
	}
	if flags&^nlproto.RULE_F_ALL != 0 {
		return r, nil, 0, 0, badRequest("unknown rule flags")
	}
	return r, n, pos, flags, nil
}

// decodeMatches decodes RULE_A_MATCHES, b, for a rule of table t, as
// nflab_rule_create does: match by match, each checked for the table,
// and E2BIG at the one past RULE_MATCHES_MAX.
func decodeMatches(b []byte, t nftypes.Table) ([]nftypes.Match, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, badRequest("malformed matches")
	}
	var ms []nftypes.Match
	for ad.Next() {
		if len(ms) == nlproto.RULE_MATCHES_MAX {
			return nil, &checkErr{unix.E2BIG, "too many matches"}
		}
		m, err := decodeMatch(nftypes.MatchKind(ad.Type()), ad.Bytes())
		if err != nil {
			return nil, err
		}
		if err := checkMatchTable(m, t); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	if ad.Err() != nil {
		return nil, badRequest("malformed matches")
	}
	return ms, nil
}

// matchAttrs lists the attributes each match takes; the first ones up to
// need are required.
var matchAttrs = map[nftypes.MatchKind]struct {
	attrs  []uint16
	need   int
	invert bool
}{
	nlproto.MATCH_IIF:       {[]uint16{nlproto.MATCH_A_IFNAME}, 1, true},
	nlproto.MATCH_OIF:       {[]uint16{nlproto.MATCH_A_IFNAME}, 1, true},
	nlproto.MATCH_SADDR:     {[]uint16{nlproto.MATCH_A_ADDR, nlproto.MATCH_A_PREFIX_LEN}, 2, true},
	nlproto.MATCH_DADDR:     {[]uint16{nlproto.MATCH_A_ADDR, nlproto.MATCH_A_PREFIX_LEN}, 2, true},
	nlproto.MATCH_SRANGE:    {[]uint16{nlproto.MATCH_A_ADDR, nlproto.MATCH_A_ADDR_END}, 2, true},
	nlproto.MATCH_DRANGE:    {[]uint16{nlproto.MATCH_A_ADDR, nlproto.MATCH_A_ADDR_END}, 2, true},
	nlproto.MATCH_PROTO:     {[]uint16{nlproto.MATCH_A_PROTO}, 1, true},
	nlproto.MATCH_SPORT:     {[]uint16{nlproto.MATCH_A_PORT_RANGE}, 1, true},
	nlproto.MATCH_DPORT:     {[]uint16{nlproto.MATCH_A_PORT_RANGE}, 1, true},
	nlproto.MATCH_TCP_FLAGS: {[]uint16{nlproto.MATCH_A_VALUE, nlproto.MATCH_A_MASK}, 2, true},
	nlproto.MATCH_ICMP:      {[]uint16{nlproto.MATCH_A_ICMP_TYPE, nlproto.MATCH_A_ICMP_CODE}, 1, true},
	nlproto.MATCH_LENGTH:    {[]uint16{nlproto.MATCH_A_LEN_MIN, nlproto.MATCH_A_LEN_MAX}, 2, true},
	nlproto.MATCH_CT_STATE:  {[]uint16{nlproto.MATCH_A_VALUE}, 1, true},
	nlproto.MATCH_CT_STATUS: {[]uint16{nlproto.MATCH_A_VALUE}, 1, true},
	nlproto.MATCH_STRING:    {[]uint16{nlproto.MATCH_A_PATTERN, nlproto.MATCH_A_ALGO, nlproto.MATCH_A_FROM, nlproto.MATCH_A_TO}, 2, true},
	nlproto.MATCH_CONNLIMIT: {[]uint16{nlproto.MATCH_A_COUNT, nlproto.MATCH_A_PREFIX_LEN, nlproto.MATCH_A_FLAGS}, 1, false},
	nlproto.MATCH_QUOTA:     {[]uint16{nlproto.MATCH_A_BYTES}, 1, true},
	nlproto.MATCH_NTH:       {[]uint16{nlproto.MATCH_A_EVERY, nlproto.MATCH_A_OFFSET}, 1, false},
	nlproto.MATCH_TIME: {[]uint16{nlproto.MATCH_A_TOD_START, nlproto.MATCH_A_TOD_STOP, nlproto.MATCH_A_WEEKDAYS,
		nlproto.MATCH_A_DATE_START, nlproto.MATCH_A_DATE_STOP, nlproto.MATCH_A_FLAGS}, 0, true},
	nlproto.MATCH_LIMIT: {[]uint16{nlproto.MATCH_A_RATE, nlproto.MATCH_A_PERIOD, nlproto.MATCH_A_BURST}, 2, true},
	nlproto.MATCH_MARK:  {[]uint16{nlproto.MATCH_A_VALUE, nlproto.MATCH_A_MASK}, 1, true},
	nlproto.MATCH_SET:   {[]uint16{nlproto.MATCH_A_SET_NAME, nlproto.MATCH_A_SET_FIELD}, 2, true},
}

func decodeMatch(k nftypes.MatchKind, b []byte) (nftypes.Match, error) {
	spec, ok := matchAttrs[k]
	if !ok {
		return nftypes.Match{}, &checkErr{unix.EOPNOTSUPP, "unknown match"}
	}
	n, err := decodeNest(b, nlproto.MATCH_A_MAX)
	if err != nil {
		return nftypes.Match{}, err
	}
	for t := range n {
		if t == nlproto.MATCH_A_INVERT && spec.invert {
			continue
		}
		found := false
		for _, a := range spec.attrs {
			found = found || a == t
		}
		if !found {
			return nftypes.Match{}, badRequest(fmt.Sprintf("match %s does not take attribute %d", k, t))
		}
		if t != nlproto.MATCH_A_PORT_RANGE && len(n[t]) > 1 {
			return nftypes.Match{}, badRequest(fmt.Sprintf("match %s: attribute %d given twice", k, t))
		}
	}
	for _, t := range spec.attrs[:spec.need] {
		if !n.has(t) {
			return nftypes.Match{}, badRequest(fmt.Sprintf("match %s: missing attribute %d", k, t))
		}
	}
	m := nftypes.Match{Kind: k, Invert: n.has(nlproto.MATCH_A_INVERT)}
	var errs []error
	get32 := func(t uint16) uint32 {
		v, err := n.u32(t)
		errs = append(errs, err)
		return v
	}
	get8 := func(t uint16) uint8 {
		v, err := n.u8(t)
		errs = append(errs, err)
		return v
	}
	switch k {
	case nlproto.MATCH_IIF, nlproto.MATCH_OIF:
		m.Iface, err = n.str(nlproto.MATCH_A_IFNAME, 16)
		errs = append(errs, err)
	case nlproto.MATCH_SADDR, nlproto.MATCH_DADDR:
		a, err := n.addr(nlproto.MATCH_A_ADDR)
		errs = append(errs, err)
		bits := get8(nlproto.MATCH_A_PREFIX_LEN)
		if bits > 32 {
			return m, badRequest("prefix length above 32")
		}
		m.Prefix = netip.PrefixFrom(a, int(bits))
	case nlproto.MATCH_SRANGE, nlproto.MATCH_DRANGE:
		m.AddrStart, err = n.addr(nlproto.MATCH_A_ADDR)
		errs = append(errs, err)
		m.AddrEnd, err = n.addr(nlproto.MATCH_A_ADDR_END)
		errs = append(errs, err)
	case nlproto.MATCH_PROTO:
		m.Proto = nftypes.Proto(get8(nlproto.MATCH_A_PROTO))
	case nlproto.MATCH_SPORT, nlproto.MATCH_DPORT:
		for _, b := range n[nlproto.MATCH_A_PORT_RANGE] {
			if len(b) != 4 {
				return m, badRequest("port range is not a u32")
			}
			v := binary.NativeEndian.Uint32(b)
			m.Ports = append(m.Ports, nftypes.PortRange{First: uint16(v >> 16), Last: uint16(v)})
		}
	case nlproto.MATCH_TCP_FLAGS:
		v, mask := get32(nlproto.MATCH_A_VALUE), get32(nlproto.MATCH_A_MASK)
		if v > 0xff || mask > 0xff {
			return m, badRequest("TCP flags are 8 bits")
		}
		m.TCPFlags, m.TCPMask = nftypes.TCPFlags(v), nftypes.TCPFlags(mask)
	case nlproto.MATCH_ICMP:
		m.ICMPType = get8(nlproto.MATCH_A_ICMP_TYPE)
		if n.has(nlproto.MATCH_A_ICMP_CODE) {
			c := get8(nlproto.MATCH_A_ICMP_CODE)
			m.ICMPCode = &c
		}
	case nlproto.MATCH_LENGTH:
		lo, hi := get32(nlproto.MATCH_A_LEN_MIN), get32(nlproto.MATCH_A_LEN_MAX)
		if hi > 0xffff {
			return m, badRequest("length above 65535")
		}
		m.LenMin, m.LenMax = uint16(lo), uint16(hi)
	case nlproto.MATCH_CT_STATE:
		m.CTState = nftypes.CTState(get32(nlproto.MATCH_A_VALUE))
	case nlproto.MATCH_CT_STATUS:
		m.CTStatus = nftypes.ConnStatus(get32(nlproto.MATCH_A_VALUE))
	case nlproto.MATCH_STRING:
		m.Pattern = n[nlproto.MATCH_A_PATTERN][0]
		m.Algo = nftypes.StringAlgo(get8(nlproto.MATCH_A_ALGO))
		from, to := get32(nlproto.MATCH_A_FROM), get32(nlproto.MATCH_A_TO)
		if from > 0xffff || to > 0xffff {
			return m, badRequest("string offsets above 65535")
		}
		m.From, m.To = uint16(from), uint16(to)
	case nlproto.MATCH_CONNLIMIT:
		m.Count = get32(nlproto.MATCH_A_COUNT)
		if n.has(nlproto.MATCH_A_PREFIX_LEN) {
			p := get8(nlproto.MATCH_A_PREFIX_LEN)
			m.PrefixLen = &p
		}
		f := get32(nlproto.MATCH_A_FLAGS)
		if f&^nlproto.CONNLIMIT_F_UPTO != 0 {
			return m, badRequest("unknown connlimit flags")
		}
		m.Upto = f != 0
	case nlproto.MATCH_QUOTA:
		m.QuotaBytes, err = n.u64(nlproto.MATCH_A_BYTES)
		errs = append(errs, err)
	case nlproto.MATCH_NTH:
		m.Every, m.Offset = get32(nlproto.MATCH_A_EVERY), get32(nlproto.MATCH_A_OFFSET)
	case nlproto.MATCH_TIME:
		if n.has(nlproto.MATCH_A_TOD_START) {
			d := time.Duration(get32(nlproto.MATCH_A_TOD_START)) * time.Second
			m.TODStart = &d
		}
		if n.has(nlproto.MATCH_A_TOD_STOP) {
			d := time.Duration(get32(nlproto.MATCH_A_TOD_STOP)) * time.Second
			m.TODStop = &d
		}
		m.Weekdays = nftypes.Weekdays(get32(nlproto.MATCH_A_WEEKDAYS))
		for _, d := range []struct {
			t   uint16
			dst *time.Time
		}{{nlproto.MATCH_A_DATE_START, &m.DateStart}, {nlproto.MATCH_A_DATE_STOP, &m.DateStop}} {
			if n.has(d.t) {
				v, err := n.u64(d.t)
				errs = append(errs, err)
				*d.dst = time.Unix(int64(v), 0).UTC()
			}
		}
		f := get32(nlproto.MATCH_A_FLAGS)
		if f&^nlproto.TIME_F_LOCALTIME != 0 {
			return m, badRequest("unknown time flags")
		}
		m.LocalTime = f != 0
	case nlproto.MATCH_LIMIT:
		m.Rate = get32(nlproto.MATCH_A_RATE)
		m.Period = time.Duration(get32(nlproto.MATCH_A_PERIOD)) * time.Second
		m.Burst = get32(nlproto.MATCH_A_BURST)
		if n.has(nlproto.MATCH_A_BURST) && m.Burst == 0 {
			return m, badRequest("burst must be at least 1")
		}
	case nlproto.MATCH_MARK:
		m.Mark = get32(nlproto.MATCH_A_VALUE)
		if n.has(nlproto.MATCH_A_MASK) {
			m.MarkMask = get32(nlproto.MATCH_A_MASK)
		}
	case nlproto.MATCH_SET:
		m.SetName, err = n.str(nlproto.MATCH_A_SET_NAME, nlproto.NAME_MAXLEN)
		errs = append(errs, err)
		m.SetField = nftypes.SetField(get8(nlproto.MATCH_A_SET_FIELD))
	}
	if err := firstErr(errs...); err != nil {
		return m, err
	}
	if err := checkMatch(m, n); err != nil {
		return m, err
	}
	return m, nil
}

// A policyType is the nla_policy type of an attribute.
type policyType int

const (
	policyU8 policyType = iota + 1
	policyU32
	policyBE32
	policyNULString
	policyBE16
	policyU64
	// policyReject is NLA_REJECT: the attribute is refused with EINVAL
	// and the entry's msg (its reject_message).
	policyReject
)

// An attrPolicy is one entry of a netlink policy: its type, a string's
// longest length (without the NUL), and NLA_POLICY_RANGE's bounds or
// NLA_POLICY_MASK's mask.
type attrPolicy struct {
	typ      policyType
	maxLen   int
	ranged   bool
	min, max uint64
	mask     uint64 // 0: none
	msg      string // policyReject's message
}

// actionPolicy is nflab_action_policy (kmod/action.c).
var actionPolicy = [nlproto.ACTION_A_MAX + 1]attrPolicy{
	nlproto.ACTION_A_TYPE:        {typ: policyU8, ranged: true, min: 1, max: nlproto.ACTION_MAX},
	nlproto.ACTION_A_CHAIN:       {typ: policyNULString, maxLen: nlproto.NAME_MAXLEN - 1},
	nlproto.ACTION_A_REJECT_WITH: {typ: policyU8, ranged: true, min: 1, max: nlproto.REJECT_MAX},
	nlproto.ACTION_A_LOG_PREFIX:  {typ: policyNULString, maxLen: nlproto.LOG_PREFIX_MAXLEN - 1},
	nlproto.ACTION_A_VALUE:       {typ: policyU32},
	nlproto.ACTION_A_MASK:        {typ: policyU32},
	nlproto.ACTION_A_TTL_MODE:    {typ: policyU8, ranged: true, min: 1, max: nlproto.TTL_MAX},
	nlproto.ACTION_A_ADDR:        {typ: policyBE32},
	nlproto.ACTION_A_ADDR_END:    {typ: policyBE32},
	nlproto.ACTION_A_PORT_RANGE:  {typ: policyU32},
	nlproto.ACTION_A_NAT_FLAGS:   {typ: policyU32, mask: nlproto.NAT_F_ALL},
}

// parsePolicy is nla_parse_nested's strict validation of the nest b
// against policy (types 1 to len(policy)-1; a type whose entry is zero,
// NLA_UNSPEC, is refused as strict validation refuses it), from
// lib/nlattr.c: each
// attribute in the order it comes, the first failure with the kernel's
// errno and words, then bytes left over. It returns each type's last
// occurrence, as the kernel's tb[] holds it.
func parsePolicy(b []byte, policy []attrPolicy) (nest, error) {
	n := nest{}
	for len(b) >= 4 {
		l, typ := int(binary.NativeEndian.Uint16(b)), binary.NativeEndian.Uint16(b[2:])
		if l < 4 || l > len(b) {
			break
		}
		data := b[4:l]
		b = b[min((l+3)&^3, len(b)):]
		t := typ &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if t == 0 || int(t) >= len(policy) {
			return nil, einval("Unknown attribute type")
		}
		if err := validateAttr(data, typ, policy[t]); err != nil {
			return nil, err
		}
		n[t] = [][]byte{data}
	}
	if len(b) > 0 {
		return nil, einval("bytes leftover after parsing attributes")
	}
	return n, nil
}

// validateAttr is validate_nla for one attribute with type field typ (its
// flags included) and payload data.
func validateAttr(data []byte, typ uint16, p attrPolicy) error {
	size := 0
	switch p.typ {
	case 0:
		return einval("Unsupported attribute")
	case policyReject:
		return einval("%s", p.msg)
	case policyU8:
		size = 1
	case policyBE16:
		size = 2
	case policyU32, policyBE32:
		size = 4
	case policyU64:
		size = 8
	}
	if size != 0 && len(data) != size {
		return einval("invalid attribute length")
	}
	if typ&unix.NLA_F_NESTED != 0 {
		return einval("NLA_F_NESTED not expected")
	}
	var v uint64
	switch p.typ {
	case policyU8:
		v = uint64(data[0])
	case policyU32:
		v = uint64(binary.NativeEndian.Uint32(data))
	case policyBE32:
		v = uint64(binary.BigEndian.Uint32(data))
	case policyBE16:
		v = uint64(binary.BigEndian.Uint16(data))
	case policyU64:
		v = binary.NativeEndian.Uint64(data)
	case policyNULString:
		// A NUL within the longest string and its NUL, and no longer
		// than that without a final NUL.
		if bytes.IndexByte(data[:min(len(data), p.maxLen+1)], 0) < 0 {
			return einval("Attribute failed policy validation")
		}
		l := len(data)
		if data[l-1] == 0 {
			l--
		}
		if l > p.maxLen {
			return erange("Attribute failed policy validation")
		}
	}
	if p.ranged && (v < p.min || v > p.max) {
		return erange("integer out of range")
	}
	if p.mask != 0 && v&^p.mask != 0 {
		return einval("reserved bit set")
	}
	return nil
}

// cString is a NUL_STRING attribute's value: up to its first NUL, as the
// kernel reads nla_data.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// decodeAction decodes an action as nflab_action_parse starts: the
// policy's checks, then the type's presence. It returns the attributes
// that came, for checkAction, which does the rest.
func decodeAction(b []byte) (nftypes.Action, nest, error) {
	n, err := parsePolicy(b, actionPolicy[:])
	if err != nil {
		return nftypes.Action{}, nil, err
	}
	u8 := func(t uint16) uint8 {
		if n.has(t) {
			return n[t][0][0]
		}
		return 0
	}
	u32 := func(t uint16) uint32 {
		if n.has(t) {
			return binary.NativeEndian.Uint32(n[t][0])
		}
		return 0
	}
	addr := func(t uint16) netip.Addr {
		if n.has(t) {
			return netip.AddrFrom4([4]byte(n[t][0]))
		}
		return netip.Addr{}
	}
	str := func(t uint16) string {
		if n.has(t) {
			return cString(n[t][0])
		}
		return ""
	}
	a := nftypes.Action{Type: nftypes.ActionType(u8(nlproto.ACTION_A_TYPE)), Chain: str(nlproto.ACTION_A_CHAIN),
		RejectWith: nftypes.RejectWith(u8(nlproto.ACTION_A_REJECT_WITH)), LogPrefix: str(nlproto.ACTION_A_LOG_PREFIX),
		Value: u32(nlproto.ACTION_A_VALUE), Mask: u32(nlproto.ACTION_A_MASK), TTLMode: nftypes.TTLMode(u8(nlproto.ACTION_A_TTL_MODE)),
		Addr: addr(nlproto.ACTION_A_ADDR), AddrEnd: addr(nlproto.ACTION_A_ADDR_END), NATFlags: nftypes.NATFlags(u32(nlproto.ACTION_A_NAT_FLAGS))}
	if a.Mask == ^uint32(0) {
		a.Mask = 0
	}
	if n.has(nlproto.ACTION_A_PORT_RANGE) {
		v := u32(nlproto.ACTION_A_PORT_RANGE)
		a.Ports = &nftypes.PortRange{First: uint16(v >> 16), Last: uint16(v)}
	}
	if !n.has(nlproto.ACTION_A_TYPE) {
		return a, nil, einval("action: missing type")
	}
	return a, n, nil
}

// decodeSetReq decodes NFLAB_A_SET: name, type (0 if absent) and the raw
// elements (nil if absent).
func decodeSetReq(b []byte) (string, nftypes.SetType, []byte, error) {
	n, err := decodeNest(b, nlproto.SET_A_MAX)
	if err != nil {
		return "", 0, nil, err
	}
	if n.has(nlproto.SET_A_COUNT) || n.has(nlproto.SET_A_REFS) {
		return "", 0, nil, badRequest("set count and refs are read-only")
	}
	name, err1 := n.str(nlproto.SET_A_NAME, nlproto.NAME_MAXLEN)
	t, err2 := n.u8(nlproto.SET_A_TYPE)
	if err := firstErr(err1, err2); err != nil {
		return "", 0, nil, err
	}
	if name == "" {
		return "", 0, nil, badRequest("Missing set name")
	}
	var elems []byte
	if n.has(nlproto.SET_A_ELEMS) {
		elems = n[nlproto.SET_A_ELEMS][0]
	}
	return name, nftypes.SetType(t), elems, nil
}

// decodeElems reads elements of a set of type t.
func decodeElems(b []byte, t nftypes.SetType) ([]nftypes.AddrRange, []nftypes.PortRange, error) {
	var (
		addrs []nftypes.AddrRange
		ports []nftypes.PortRange
	)
	switch t {
	case nftypes.SetTypeAddr:
		if len(b)%8 != 0 {
			return nil, nil, badRequest("address elements are 8 bytes each")
		}
		addrs = make([]nftypes.AddrRange, 0, len(b)/8)
		for i := 0; i < len(b); i += 8 {
			f, l := binary.BigEndian.Uint32(b[i:]), binary.BigEndian.Uint32(b[i+4:])
			if f > l {
				return nil, nil, badRequest(fmt.Sprintf("element %d: first above last", i/8))
			}
			addrs = append(addrs, nftypes.AddrRange{First: netip.AddrFrom4([4]byte(b[i:])), Last: netip.AddrFrom4([4]byte(b[i+4:]))})
		}
	case nftypes.SetTypePort:
		if len(b)%4 != 0 {
			return nil, nil, badRequest("port elements are 4 bytes each")
		}
		for i := 0; i < len(b); i += 4 {
			r := nftypes.PortRange{First: binary.BigEndian.Uint16(b[i:]), Last: binary.BigEndian.Uint16(b[i+2:])}
			if r.First > r.Last {
				return nil, nil, badRequest(fmt.Sprintf("element %d: first above last", i/4))
			}
			ports = append(ports, r)
		}
	}
	return addrs, ports, nil
}

// encodeRule writes NFLAB_A_RULE as RULE_GET replies carry it: MATCHES,
// ACTION and COMMENT as the request sent them, as the kernel stores and
// echoes them; STATE with a QUOTA_USED per quota match, in match order.
func (m *Module) encodeRule(ae *netlink.AttributeEncoder, r *frule) {
	ae.Nested(nlproto.A_RULE, func(nae *netlink.AttributeEncoder) error {
		nae.Uint64(nlproto.RULE_A_HANDLE, r.Handle)
		nae.Uint8(nlproto.RULE_A_TABLE, uint8(r.Table))
		nae.String(nlproto.RULE_A_CHAIN, r.Chain)
		if r.rawMatches != nil {
			nae.Bytes(nlproto.RULE_A_MATCHES, r.rawMatches)
		}
		nae.Bytes(nlproto.RULE_A_ACTION, r.rawAction)
		if r.hasComment {
			nae.String(nlproto.RULE_A_COMMENT, r.Comment)
		}
		nae.Uint64(nlproto.RULE_A_PACKETS, r.packets)
		nae.Uint64(nlproto.RULE_A_BYTES, r.bytes)
		if r.rawMatches != nil {
			nae.Nested(nlproto.RULE_A_STATE, func(sae *netlink.AttributeEncoder) error {
				for _, mt := range r.Matches {
					if mt.Kind == nftypes.MatchQuota {
						sae.Uint64(nlproto.RULE_STATE_A_QUOTA_USED, r.quotaUsed)
					}
				}
				return nil
			})
		}
		m.extra(nae, nlproto.RULE_A_MAX+1)
		return nil
	})
}
