//go:build linux

package nlclient

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// The rule engine's encoders. As everywhere, only the attributes a value
// sets are sent; addresses are be32 and set elements arrays of big-endian
// pairs.

// encodeChain writes NFLAB_A_CHAIN with the chain's table and name, and
// its policy if withPolicy.
func encodeChain(ae *netlink.AttributeEncoder, c nftypes.Chain, withPolicy bool) {
	ae.Nested(nlproto.A_CHAIN, func(nae *netlink.AttributeEncoder) error {
		nae.Uint8(nlproto.CHAIN_A_TABLE, uint8(c.Table))
		nae.String(nlproto.CHAIN_A_NAME, c.Name)
		if withPolicy {
			p := c.Policy
			if p == 0 {
				p = nftypes.VerdictAccept
			}
			nae.Uint8(nlproto.CHAIN_A_POLICY, uint8(p))
		}
		return nil
	})
}

// A rulePos says where RULE_NEW puts a rule: with Insert at the chain's
// start (or before Handle), otherwise at its end (or after Handle); a
// Handle of 0 means none.
type rulePos struct {
	Insert bool
	Handle uint64
}

// encodeRule writes NFLAB_A_RULE for RULE_NEW (pos not nil) or
// RULE_REPLACE (handle not 0).
func encodeRule(ae *netlink.AttributeEncoder, r nftypes.Rule, handle uint64, pos *rulePos) {
	// Defaults are left out: the module takes them when absent, and
	// echoes the rule as sent, so it reads back normalized.
	r = r.Normalized()
	ae.Nested(nlproto.A_RULE, func(nae *netlink.AttributeEncoder) error {
		if handle != 0 {
			nae.Uint64(nlproto.RULE_A_HANDLE, handle)
		}
		nae.Uint8(nlproto.RULE_A_TABLE, uint8(r.Table))
		nae.String(nlproto.RULE_A_CHAIN, r.Chain)
		if len(r.Matches) > 0 {
			nae.Nested(nlproto.RULE_A_MATCHES, func(mae *netlink.AttributeEncoder) error {
				for _, m := range r.Matches {
					if err := encodeMatch(mae, m); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := encodeAction(nae, r.Action); err != nil {
			return err
		}
		if r.Comment != "" {
			nae.String(nlproto.RULE_A_COMMENT, r.Comment)
		}
		if pos != nil {
			if pos.Handle != 0 {
				nae.Uint64(nlproto.RULE_A_POSITION, pos.Handle)
			}
			if pos.Insert {
				nae.Uint32(nlproto.RULE_A_FLAGS, nlproto.RULE_F_INSERT)
			}
		}
		return nil
	})
}

// encodeHandle writes NFLAB_A_RULE with HANDLE only.
func encodeHandle(ae *netlink.AttributeEncoder, handle uint64) {
	ae.Nested(nlproto.A_RULE, func(nae *netlink.AttributeEncoder) error {
		nae.Uint64(nlproto.RULE_A_HANDLE, handle)
		return nil
	})
}

// encodeMatch writes m as one attribute of NFLAB_RULE_A_MATCHES: its type
// is the match's kind, its payload a nest of enum nflab_match_attr.
func encodeMatch(ae *netlink.AttributeEncoder, m nftypes.Match) error {
	if m.Kind == 0 || m.Kind > nlproto.MATCH_MAX {
		return fmt.Errorf("unknown match %d", m.Kind)
	}
	var err error
	ae.Nested(uint16(m.Kind), func(a *netlink.AttributeEncoder) error {
		if m.Invert {
			a.Flag(nlproto.MATCH_A_INVERT, true)
		}
		switch m.Kind {
		case nftypes.MatchIIF, nftypes.MatchOIF:
			a.String(nlproto.MATCH_A_IFNAME, m.Iface)
		case nftypes.MatchSAddr, nftypes.MatchDAddr:
			if err = putAddr(a, nlproto.MATCH_A_ADDR, m.Prefix.Addr()); err != nil {
				return err
			}
			a.Uint8(nlproto.MATCH_A_PREFIX_LEN, uint8(m.Prefix.Bits()))
		case nftypes.MatchSRange, nftypes.MatchDRange:
			if err = putAddr(a, nlproto.MATCH_A_ADDR, m.AddrStart); err != nil {
				return err
			}
			if err = putAddr(a, nlproto.MATCH_A_ADDR_END, m.AddrEnd); err != nil {
				return err
			}
		case nftypes.MatchProto:
			a.Uint8(nlproto.MATCH_A_PROTO, uint8(m.Proto))
		case nftypes.MatchSPort, nftypes.MatchDPort:
			for _, p := range m.Ports {
				a.Uint32(nlproto.MATCH_A_PORT_RANGE, uint32(p.First)<<16|uint32(p.Last))
			}
		case nftypes.MatchTCPFlags:
			a.Uint32(nlproto.MATCH_A_VALUE, uint32(m.TCPFlags))
			a.Uint32(nlproto.MATCH_A_MASK, uint32(m.TCPMask))
		case nftypes.MatchICMP:
			a.Uint8(nlproto.MATCH_A_ICMP_TYPE, m.ICMPType)
			if m.ICMPCode != nil {
				a.Uint8(nlproto.MATCH_A_ICMP_CODE, *m.ICMPCode)
			}
		case nftypes.MatchLength:
			a.Uint32(nlproto.MATCH_A_LEN_MIN, uint32(m.LenMin))
			a.Uint32(nlproto.MATCH_A_LEN_MAX, uint32(m.LenMax))
		case nftypes.MatchCTState:
			a.Uint32(nlproto.MATCH_A_VALUE, uint32(m.CTState))
		case nftypes.MatchCTStatus:
			a.Uint32(nlproto.MATCH_A_VALUE, uint32(m.CTStatus))
		case nftypes.MatchString:
			a.Bytes(nlproto.MATCH_A_PATTERN, m.Pattern)
			a.Uint8(nlproto.MATCH_A_ALGO, uint8(m.Algo))
			if m.From != 0 {
				a.Uint32(nlproto.MATCH_A_FROM, uint32(m.From))
			}
			if m.To != 0 {
				a.Uint32(nlproto.MATCH_A_TO, uint32(m.To))
			}
		case nftypes.MatchConnlimit:
			a.Uint32(nlproto.MATCH_A_COUNT, m.Count)
			if m.PrefixLen != nil {
				a.Uint8(nlproto.MATCH_A_PREFIX_LEN, *m.PrefixLen)
			}
			if m.Upto {
				a.Uint32(nlproto.MATCH_A_FLAGS, nlproto.CONNLIMIT_F_UPTO)
			}
		case nftypes.MatchQuota:
			a.Uint64(nlproto.MATCH_A_BYTES, m.QuotaBytes)
		case nftypes.MatchNth:
			a.Uint32(nlproto.MATCH_A_EVERY, m.Every)
			if m.Offset != 0 {
				a.Uint32(nlproto.MATCH_A_OFFSET, m.Offset)
			}
		case nftypes.MatchTime:
			if m.TODStart != nil {
				a.Uint32(nlproto.MATCH_A_TOD_START, uint32(*m.TODStart/time.Second))
			}
			if m.TODStop != nil {
				a.Uint32(nlproto.MATCH_A_TOD_STOP, uint32(*m.TODStop/time.Second))
			}
			if m.Weekdays != 0 {
				a.Uint32(nlproto.MATCH_A_WEEKDAYS, uint32(m.Weekdays))
			}
			if !m.DateStart.IsZero() {
				a.Uint64(nlproto.MATCH_A_DATE_START, uint64(m.DateStart.Unix()))
			}
			if !m.DateStop.IsZero() {
				a.Uint64(nlproto.MATCH_A_DATE_STOP, uint64(m.DateStop.Unix()))
			}
			if m.LocalTime {
				a.Uint32(nlproto.MATCH_A_FLAGS, nlproto.TIME_F_LOCALTIME)
			}
		case nftypes.MatchLimit:
			a.Uint32(nlproto.MATCH_A_RATE, m.Rate)
			a.Uint32(nlproto.MATCH_A_PERIOD, uint32(m.Period/time.Second))
			if m.Burst != 0 {
				a.Uint32(nlproto.MATCH_A_BURST, m.Burst)
			}
		case nftypes.MatchMark:
			a.Uint32(nlproto.MATCH_A_VALUE, m.Mark)
			if m.MarkMask != 0 {
				a.Uint32(nlproto.MATCH_A_MASK, m.MarkMask)
			}
		case nftypes.MatchSet:
			a.String(nlproto.MATCH_A_SET_NAME, m.SetName)
			a.Uint8(nlproto.MATCH_A_SET_FIELD, uint8(m.SetField))
		}
		return nil
	})
	return err
}

// encodeAction writes NFLAB_RULE_A_ACTION. The NAT actions share their
// attributes: each one set is sent (ADDR and ADDR_END be32, PORT_RANGE
// first << 16 | last in host order, NAT_FLAGS), as the other actions send
// the ones they use; checking which an action may take is Validate's.
func encodeAction(ae *netlink.AttributeEncoder, a nftypes.Action) error {
	var err error
	ae.Nested(nlproto.RULE_A_ACTION, func(nae *netlink.AttributeEncoder) error {
		nae.Uint8(nlproto.ACTION_A_TYPE, uint8(a.Type))
		switch a.Type {
		case nftypes.ActionJump, nftypes.ActionGoto:
			nae.String(nlproto.ACTION_A_CHAIN, a.Chain)
		case nftypes.ActionReject:
			if a.RejectWith != 0 {
				nae.Uint8(nlproto.ACTION_A_REJECT_WITH, uint8(a.RejectWith))
			}
		case nftypes.ActionLog:
			if a.LogPrefix != "" {
				nae.String(nlproto.ACTION_A_LOG_PREFIX, a.LogPrefix)
			}
		case nftypes.ActionMark:
			nae.Uint32(nlproto.ACTION_A_VALUE, a.Value)
			if a.Mask != 0 {
				nae.Uint32(nlproto.ACTION_A_MASK, a.Mask)
			}
		case nftypes.ActionTOS, nftypes.ActionDSCP:
			nae.Uint32(nlproto.ACTION_A_VALUE, a.Value)
		case nftypes.ActionTTL:
			nae.Uint8(nlproto.ACTION_A_TTL_MODE, uint8(a.TTLMode))
			nae.Uint32(nlproto.ACTION_A_VALUE, a.Value)
		case nftypes.ActionSNAT, nftypes.ActionDNAT, nftypes.ActionMasquerade, nftypes.ActionRedirect:
			if a.Addr.IsValid() {
				if err = putAddr(nae, nlproto.ACTION_A_ADDR, a.Addr); err != nil {
					return err
				}
			}
			if a.AddrEnd.IsValid() {
				if err = putAddr(nae, nlproto.ACTION_A_ADDR_END, a.AddrEnd); err != nil {
					return err
				}
			}
			if p := a.Ports; p != nil {
				nae.Uint32(nlproto.ACTION_A_PORT_RANGE, uint32(p.First)<<16|uint32(p.Last))
			}
			if a.NATFlags != 0 {
				nae.Uint32(nlproto.ACTION_A_NAT_FLAGS, uint32(a.NATFlags))
			}
		}
		return nil
	})
	return err
}

// maxElemsPerMsg is how many ranges one SET_NEW or SET_ADD_ELEMS carries:
// 3000 address pairs are 24,000 bytes, so that the kernel's error for the
// message, which repeats it, still fits the 32 KiB receive buffer
// (recvBufferSize); a large set goes in many messages.
const maxElemsPerMsg = 3000

// encodeSet writes NFLAB_A_SET with the set's name, its type if withType,
// and elems, already encoded (nil: none).
func encodeSet(ae *netlink.AttributeEncoder, name string, typ nftypes.SetType, withType bool, elems []byte) {
	ae.Nested(nlproto.A_SET, func(nae *netlink.AttributeEncoder) error {
		nae.String(nlproto.SET_A_NAME, name)
		if withType {
			nae.Uint8(nlproto.SET_A_TYPE, uint8(typ))
		}
		if elems != nil {
			nae.Bytes(nlproto.SET_A_ELEMS, elems)
		}
		return nil
	})
}

// setElemChunks returns s's elements as NFLAB_SET_A_ELEMS payloads of at
// most maxElemsPerMsg ranges each.
func setElemChunks(s nftypes.Set) [][]byte {
	var chunks [][]byte
	for i := 0; i < len(s.Addrs); i += maxElemsPerMsg {
		part := s.Addrs[i:min(i+maxElemsPerMsg, len(s.Addrs))]
		b := make([]byte, 0, 8*len(part))
		for _, r := range part {
			f, l := r.First.As4(), r.Last.As4()
			b = append(append(b, f[:]...), l[:]...)
		}
		chunks = append(chunks, b)
	}
	for i := 0; i < len(s.Ports); i += maxElemsPerMsg {
		part := s.Ports[i:min(i+maxElemsPerMsg, len(s.Ports))]
		b := make([]byte, 0, 4*len(part))
		for _, r := range part {
			b = binary.BigEndian.AppendUint16(b, r.First)
			b = binary.BigEndian.AppendUint16(b, r.Last)
		}
		chunks = append(chunks, b)
	}
	return chunks
}
