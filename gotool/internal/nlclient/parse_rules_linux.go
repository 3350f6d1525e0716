//go:build linux

package nlclient

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// parseGen decodes the NFLAB_A_RULES_GEN of a RULES_BEGIN or RULES_COMMIT
// reply.
func parseGen(b []byte) (uint32, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return 0, err
	}
	var (
		gen  uint32
		seen attrSet
	)
	for ad.Next() {
		if ad.Type() == nlproto.A_RULES_GEN {
			gen = ad.Uint32()
			seen.add(nlproto.A_RULES_GEN)
		}
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	return gen, seen.require(attrOf(nlproto.EnumAttr, nlproto.A_RULES_GEN))
}

// parseChainMsg decodes one message of a CHAIN_GET dump.
func parseChainMsg(b []byte) (nftypes.Chain, uint32, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nftypes.Chain{}, 0, err
	}
	var (
		c         nftypes.Chain
		gen       uint32
		seen, top attrSet
	)
	for ad.Next() {
		if ad.Type() != nlproto.A_CHAIN {
			continue
		}
		top.add(nlproto.A_CHAIN)
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch t := nad.Type(); t {
				case nlproto.CHAIN_A_TABLE:
					c.Table = nftypes.Table(nad.Uint8())
				case nlproto.CHAIN_A_NAME:
					c.Name = nad.String()
				case nlproto.CHAIN_A_HOOK:
					h := nftypes.Hook(nad.Uint32())
					c.Hook = &h
				case nlproto.CHAIN_A_POLICY:
					c.Policy = nftypes.Verdict(nad.Uint8())
				case nlproto.CHAIN_A_RULES:
					c.Rules = int(nad.Uint32())
				case nlproto.CHAIN_A_GEN:
					gen = nad.Uint32()
				default:
					continue
				}
				seen.add(nad.Type())
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return nftypes.Chain{}, 0, err
	}
	if err := top.require(attrOf(nlproto.EnumAttr, nlproto.A_CHAIN)); err != nil {
		return nftypes.Chain{}, 0, err
	}
	if err := seen.require(
		attrOf(nlproto.EnumChainAttr, nlproto.CHAIN_A_TABLE),
		attrOf(nlproto.EnumChainAttr, nlproto.CHAIN_A_NAME),
		attrOf(nlproto.EnumChainAttr, nlproto.CHAIN_A_RULES),
		attrOf(nlproto.EnumChainAttr, nlproto.CHAIN_A_GEN),
	); err != nil {
		return nftypes.Chain{}, 0, fmt.Errorf("in NFLAB_A_CHAIN: %w", err)
	}
	return c, gen, nil
}

// parseRuleMsg decodes a RULE_GET reply or dump part, or a RULE_NEW
// reply (which carries the handle only; full is false then). gen is 0 when
// the message has no NFLAB_A_RULES_GEN.
func parseRuleMsg(b []byte, full bool) (nftypes.Rule, uint32, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nftypes.Rule{}, 0, err
	}
	var (
		r   nftypes.Rule
		gen uint32
		top attrSet
	)
	for ad.Next() {
		switch ad.Type() {
		case nlproto.A_RULES_GEN:
			gen = ad.Uint32()
		case nlproto.A_RULE:
			top.add(nlproto.A_RULE)
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				r, err = parseRule(nad, full)
				return err
			})
		}
	}
	if err := ad.Err(); err != nil {
		return nftypes.Rule{}, 0, err
	}
	if err := top.require(attrOf(nlproto.EnumAttr, nlproto.A_RULE)); err != nil {
		return nftypes.Rule{}, 0, err
	}
	return r, gen, nil
}

func parseRule(ad *netlink.AttributeDecoder, full bool) (nftypes.Rule, error) {
	var (
		r         nftypes.Rule
		seen      attrSet
		quotaUsed []uint64 // one per quota match, in match order
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.RULE_A_HANDLE:
			r.Handle = ad.Uint64()
		case nlproto.RULE_A_TABLE:
			r.Table = nftypes.Table(ad.Uint8())
		case nlproto.RULE_A_CHAIN:
			r.Chain = ad.String()
		case nlproto.RULE_A_MATCHES:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					kind := nftypes.MatchKind(nad.Type())
					var m nftypes.Match
					nad.Nested(func(mad *netlink.AttributeDecoder) error {
						var err error
						m, err = parseMatch(mad, kind)
						return err
					})
					r.Matches = append(r.Matches, m)
				}
				return nil
			})
		case nlproto.RULE_A_ACTION:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				var err error
				r.Action, err = parseAction(nad)
				return err
			})
		case nlproto.RULE_A_COMMENT:
			r.Comment = ad.String()
		case nlproto.RULE_A_PACKETS:
			r.Packets = ad.Uint64()
		case nlproto.RULE_A_BYTES:
			r.Bytes = ad.Uint64()
		case nlproto.RULE_A_STATE:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					if nad.Type() == nlproto.RULE_STATE_A_QUOTA_USED {
						quotaUsed = append(quotaUsed, nad.Uint64())
					}
				}
				return nil
			})
		default:
			continue
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.Rule{}, err
	}
	need := []attrName{attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_HANDLE)}
	if full {
		need = append(need,
			attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_TABLE),
			attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_CHAIN),
			attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_ACTION))
	}
	if err := seen.require(need...); err != nil {
		return nftypes.Rule{}, fmt.Errorf("in NFLAB_A_RULE: %w", err)
	}
	// The module sends one QUOTA_USED per quota match, in match order.
	for i := range r.Matches {
		if len(quotaUsed) == 0 {
			break
		}
		if r.Matches[i].Kind == nftypes.MatchQuota {
			r.Matches[i].QuotaUsed, quotaUsed = quotaUsed[0], quotaUsed[1:]
		}
	}
	return r, nil
}

// parseMatch decodes the nest of one match of kind k. Attributes a kind
// does not take, or this client does not know, are skipped; so is a kind
// this client does not know, which keeps only Kind.
func parseMatch(ad *netlink.AttributeDecoder, k nftypes.MatchKind) (nftypes.Match, error) {
	m := nftypes.Match{Kind: k}
	var (
		addr      netip.Addr
		prefixLen *uint8
		flags     uint32
		seen      attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.MATCH_A_INVERT:
			m.Invert = true
		case nlproto.MATCH_A_IFNAME:
			m.Iface = ad.String()
		case nlproto.MATCH_A_ADDR:
			addr = getAddr(ad)
		case nlproto.MATCH_A_ADDR_END:
			m.AddrEnd = getAddr(ad)
		case nlproto.MATCH_A_PREFIX_LEN:
			v := ad.Uint8()
			prefixLen = &v
		case nlproto.MATCH_A_PROTO:
			m.Proto = nftypes.Proto(ad.Uint8())
		case nlproto.MATCH_A_PORT_RANGE:
			v := ad.Uint32()
			m.Ports = append(m.Ports, nftypes.PortRange{First: uint16(v >> 16), Last: uint16(v)})
		case nlproto.MATCH_A_VALUE:
			v := ad.Uint32()
			switch k {
			case nftypes.MatchTCPFlags:
				m.TCPFlags = nftypes.TCPFlags(v)
			case nftypes.MatchCTState:
				m.CTState = nftypes.CTState(v)
			case nftypes.MatchCTStatus:
				m.CTStatus = nftypes.ConnStatus(v)
			case nftypes.MatchMark:
				m.Mark = v
			}
		case nlproto.MATCH_A_MASK:
			v := ad.Uint32()
			switch k {
			case nftypes.MatchTCPFlags:
				m.TCPMask = nftypes.TCPFlags(v)
			case nftypes.MatchMark:
				if v != ^uint32(0) { // all ones is the default, shown as 0
					m.MarkMask = v
				}
			}
		case nlproto.MATCH_A_ICMP_TYPE:
			m.ICMPType = ad.Uint8()
		case nlproto.MATCH_A_ICMP_CODE:
			v := ad.Uint8()
			m.ICMPCode = &v
		case nlproto.MATCH_A_LEN_MIN:
			m.LenMin = uint16(ad.Uint32())
		case nlproto.MATCH_A_LEN_MAX:
			m.LenMax = uint16(ad.Uint32())
		case nlproto.MATCH_A_PATTERN:
			m.Pattern = ad.Bytes()
		case nlproto.MATCH_A_ALGO:
			m.Algo = nftypes.StringAlgo(ad.Uint8())
		case nlproto.MATCH_A_FROM:
			m.From = uint16(ad.Uint32())
		case nlproto.MATCH_A_TO:
			if v := ad.Uint32(); v < 65535 { // 65535 is the default, shown as 0
				m.To = uint16(v)
			}
		case nlproto.MATCH_A_COUNT:
			m.Count = ad.Uint32()
		case nlproto.MATCH_A_FLAGS:
			flags = ad.Uint32()
		case nlproto.MATCH_A_BYTES:
			m.QuotaBytes = ad.Uint64()
		case nlproto.MATCH_A_EVERY:
			m.Every = ad.Uint32()
		case nlproto.MATCH_A_OFFSET:
			m.Offset = ad.Uint32()
		case nlproto.MATCH_A_TOD_START:
			d := time.Duration(ad.Uint32()) * time.Second
			m.TODStart = &d
		case nlproto.MATCH_A_TOD_STOP:
			d := time.Duration(ad.Uint32()) * time.Second
			m.TODStop = &d
		case nlproto.MATCH_A_WEEKDAYS:
			m.Weekdays = nftypes.Weekdays(ad.Uint32())
		case nlproto.MATCH_A_DATE_START:
			m.DateStart = time.Unix(int64(ad.Uint64()), 0).UTC()
		case nlproto.MATCH_A_DATE_STOP:
			m.DateStop = time.Unix(int64(ad.Uint64()), 0).UTC()
		case nlproto.MATCH_A_RATE:
			m.Rate = ad.Uint32()
		case nlproto.MATCH_A_PERIOD:
			m.Period = time.Duration(ad.Uint32()) * time.Second
		case nlproto.MATCH_A_BURST:
			m.Burst = ad.Uint32()
		case nlproto.MATCH_A_SET_NAME:
			m.SetName = ad.String()
		case nlproto.MATCH_A_SET_FIELD:
			m.SetField = nftypes.SetField(ad.Uint8())
		default:
			continue
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.Match{}, err
	}
	attr := func(t uint16) attrName { return attrOf(nlproto.EnumMatchAttr, t) }
	var need []attrName
	switch k {
	case nftypes.MatchSAddr, nftypes.MatchDAddr:
		need = []attrName{attr(nlproto.MATCH_A_ADDR), attr(nlproto.MATCH_A_PREFIX_LEN)}
		if prefixLen != nil && *prefixLen <= 32 {
			m.Prefix = netip.PrefixFrom(addr, int(*prefixLen))
		}
	case nftypes.MatchSRange, nftypes.MatchDRange:
		need = []attrName{attr(nlproto.MATCH_A_ADDR), attr(nlproto.MATCH_A_ADDR_END)}
		m.AddrStart = addr
	case nftypes.MatchConnlimit:
		m.PrefixLen = prefixLen
		m.Upto = flags&nlproto.CONNLIMIT_F_UPTO != 0
	case nftypes.MatchTime:
		m.LocalTime = flags&nlproto.TIME_F_LOCALTIME != 0
	}
	if err := seen.require(need...); err != nil {
		return nftypes.Match{}, fmt.Errorf("in match %s: %w", k, err)
	}
	// A default sent explicitly (by another client) reads as this
	// client would have sent it: left out.
	return m.Normalized(), nil
}

func parseAction(ad *netlink.AttributeDecoder) (nftypes.Action, error) {
	var (
		a    nftypes.Action
		seen attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.ACTION_A_TYPE:
			a.Type = nftypes.ActionType(ad.Uint8())
		case nlproto.ACTION_A_CHAIN:
			a.Chain = ad.String()
		case nlproto.ACTION_A_REJECT_WITH:
			a.RejectWith = nftypes.RejectWith(ad.Uint8())
		case nlproto.ACTION_A_LOG_PREFIX:
			a.LogPrefix = ad.String()
		case nlproto.ACTION_A_VALUE:
			a.Value = ad.Uint32()
		case nlproto.ACTION_A_MASK:
			if v := ad.Uint32(); v != ^uint32(0) {
				a.Mask = v
			}
		case nlproto.ACTION_A_TTL_MODE:
			a.TTLMode = nftypes.TTLMode(ad.Uint8())
		case nlproto.ACTION_A_ADDR:
			a.Addr = getAddr(ad)
		case nlproto.ACTION_A_ADDR_END:
			a.AddrEnd = getAddr(ad)
		case nlproto.ACTION_A_PORT_RANGE:
			v := ad.Uint32()
			a.Ports = &nftypes.PortRange{First: uint16(v >> 16), Last: uint16(v)}
		case nlproto.ACTION_A_NAT_FLAGS:
			a.NATFlags = nftypes.NATFlags(ad.Uint32())
		default:
			continue
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.Action{}, err
	}
	if err := seen.require(attrOf(nlproto.EnumActionAttr, nlproto.ACTION_A_TYPE)); err != nil {
		return nftypes.Action{}, fmt.Errorf("in NFLAB_RULE_A_ACTION: %w", err)
	}
	return a.Normalized(), nil
}

// A setPart is one message of a SET_GET dump: a set's header (name, type,
// count and refs) or a slice of its elements (name and elems).
type setPart struct {
	set    nftypes.Set
	header bool   // carried NFLAB_SET_A_TYPE
	elems  []byte // NFLAB_SET_A_ELEMS, decoded once the set's type is known
	gen    uint32
}

func parseSetMsg(b []byte) (setPart, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return setPart{}, err
	}
	var (
		p         setPart
		seen, top attrSet
	)
	for ad.Next() {
		switch ad.Type() {
		case nlproto.A_RULES_GEN:
			p.gen = ad.Uint32()
		case nlproto.A_SET:
			top.add(nlproto.A_SET)
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch t := nad.Type(); t {
					case nlproto.SET_A_NAME:
						p.set.Name = nad.String()
					case nlproto.SET_A_TYPE:
						p.set.Type = nftypes.SetType(nad.Uint8())
						p.header = true
					case nlproto.SET_A_COUNT:
						p.set.Count = int(nad.Uint32())
					case nlproto.SET_A_REFS:
						p.set.Refs = int(nad.Uint32())
					case nlproto.SET_A_ELEMS:
						p.elems = nad.Bytes()
					default:
						continue
					}
					seen.add(nad.Type())
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return setPart{}, err
	}
	if err := top.require(attrOf(nlproto.EnumAttr, nlproto.A_SET)); err != nil {
		return setPart{}, err
	}
	if err := seen.require(attrOf(nlproto.EnumSetAttr, nlproto.SET_A_NAME)); err != nil {
		return setPart{}, fmt.Errorf("in NFLAB_A_SET: %w", err)
	}
	return p, nil
}

// decodeElems decodes b as elements of a set of type t.
func decodeElems(b []byte, t nftypes.SetType) ([]nftypes.AddrRange, []nftypes.PortRange, error) {
	switch t {
	case nftypes.SetTypeAddr:
		if len(b)%8 != 0 {
			return nil, nil, fmt.Errorf("address set elements of %d bytes, not a multiple of 8", len(b))
		}
		rs := make([]nftypes.AddrRange, 0, len(b)/8)
		for i := 0; i < len(b); i += 8 {
			rs = append(rs, nftypes.AddrRange{First: netip.AddrFrom4([4]byte(b[i:])), Last: netip.AddrFrom4([4]byte(b[i+4:]))})
		}
		return rs, nil, nil
	case nftypes.SetTypePort:
		if len(b)%4 != 0 {
			return nil, nil, fmt.Errorf("port set elements of %d bytes, not a multiple of 4", len(b))
		}
		rs := make([]nftypes.PortRange, 0, len(b)/4)
		for i := 0; i < len(b); i += 4 {
			rs = append(rs, nftypes.PortRange{First: binary.BigEndian.Uint16(b[i:]), Last: binary.BigEndian.Uint16(b[i+2:])})
		}
		return nil, rs, nil
	}
	return nil, nil, nil // a type this client does not know: elements skipped
}
