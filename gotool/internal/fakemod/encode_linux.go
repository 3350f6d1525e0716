//go:build linux

package fakemod

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// This file encodes the module's replies and decodes its requests, written
// apart from the client's code from the protocol in nlproto/nflab.h, so
// that the two check each other.

// extra adds an attribute of type typ, unknown to this client, when the
// module speaks protocol N+1.
func (m *Module) extra(ae *netlink.AttributeEncoder, typ uint16) {
	if m.opts.Next {
		ae.Uint32(typ, 0xdeadbeef)
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func (m *Module) encodeTuple(ae *netlink.AttributeEncoder, typ uint16, t nftypes.Tuple) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		src, dst := t.Src.As4(), t.Dst.As4()
		nae.Bytes(nlproto.TUPLE_A_SRC, src[:])
		nae.Bytes(nlproto.TUPLE_A_DST, dst[:])
		nae.Uint8(nlproto.TUPLE_A_PROTO, uint8(t.Proto))
		switch t.Proto {
		case nftypes.TCP, nftypes.UDP:
			nae.Bytes(nlproto.TUPLE_A_SPORT, be16(t.SrcPort))
			nae.Bytes(nlproto.TUPLE_A_DPORT, be16(t.DstPort))
		case nftypes.ICMP:
			nae.Bytes(nlproto.TUPLE_A_ICMP_ID, be16(t.ICMPID))
			nae.Uint8(nlproto.TUPLE_A_ICMP_TYPE, t.ICMPType)
		}
		m.extra(nae, nlproto.TUPLE_A_MAX+1)
		return nil
	})
}

// encodeConn writes c as NFLAB_A_CT; with history (a CT_GET do's reply),
// its History too, as a module of protocol 6 or newer sends it.
func (m *Module) encodeConn(ae *netlink.AttributeEncoder, c nftypes.Conn, history bool) {
	ae.Nested(nlproto.A_CT, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nlproto.CT_A_ID, c.ID)
		m.encodeTuple(nae, nlproto.CT_A_ORIG, c.Orig)
		m.encodeTuple(nae, nlproto.CT_A_REPLY, c.Reply)
		nae.Uint32(nlproto.CT_A_STATUS, uint32(c.Status))
		if c.Orig.Proto == nftypes.TCP {
			nae.Uint8(nlproto.CT_A_TCP_STATE, uint8(c.TCPState))
		}
		nae.Uint32(nlproto.CT_A_TIMEOUT, uint32(c.Timeout/time.Second))
		nae.Uint64(nlproto.CT_A_PACKETS_ORIG, c.PacketsOrig)
		nae.Uint64(nlproto.CT_A_BYTES_ORIG, c.BytesOrig)
		nae.Uint64(nlproto.CT_A_PACKETS_REPLY, c.PacketsReply)
		nae.Uint64(nlproto.CT_A_BYTES_REPLY, c.BytesReply)
		if !c.Start.IsZero() {
			nae.Uint64(nlproto.CT_A_START, uint64(c.Start.UnixNano()))
		}
		if history && m.hasTraces() && len(c.History) > 0 {
			m.encodeHistory(nae, c)
		}
		m.extra(nae, nlproto.CT_A_MAX+1)
		return nil
	})
}

// encodeHistory writes NFLAB_CT_A_HISTORY: the last NFLAB_CT_HISTORY_MAX
// changes of c, oldest first, the TCP states for a TCP connection only.
func (m *Module) encodeHistory(ae *netlink.AttributeEncoder, c nftypes.Conn) {
	h := c.History[max(0, len(c.History)-nlproto.CT_HISTORY_MAX):]
	ae.Nested(nlproto.CT_A_HISTORY, func(hae *netlink.AttributeEncoder) error {
		for _, ch := range h {
			hae.Nested(nlproto.CT_HISTORY_A_ENTRY, func(eae *netlink.AttributeEncoder) error {
				eae.Uint64(nlproto.CT_HISTORY_A_TIME, uint64(ch.Time.UnixNano()))
				eae.Uint64(nlproto.CT_HISTORY_A_PACKET, ch.Packet)
				eae.Uint32(nlproto.CT_HISTORY_A_TRACE, ch.Trace)
				eae.Uint32(nlproto.CT_HISTORY_A_HOOK, uint32(ch.Hook))
				eae.Uint8(nlproto.CT_HISTORY_A_DIR, uint8(ch.Dir))
				if c.Orig.Proto == nftypes.TCP {
					eae.Uint8(nlproto.CT_HISTORY_A_TCP_STATE_OLD, uint8(ch.TCPStateOld))
					eae.Uint8(nlproto.CT_HISTORY_A_TCP_STATE, uint8(ch.TCPState))
				}
				eae.Uint32(nlproto.CT_HISTORY_A_STATUS_OLD, uint32(ch.StatusOld))
				eae.Uint32(nlproto.CT_HISTORY_A_STATUS, uint32(ch.Status))
				m.extra(eae, nlproto.CT_HISTORY_A_MAX+1)
				return nil
			})
		}
		m.extra(hae, nlproto.CT_HISTORY_A_MAX+1)
		return nil
	})
}

func (m *Module) encodeConfig(ae *netlink.AttributeEncoder, c nftypes.TrackerConfig) {
	ae.Nested(nlproto.A_CT_CONFIG, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nlproto.CT_CONFIG_A_LIMIT, *c.Limit)
		var loose uint8
		if *c.TCPLoose {
			loose = 1
		}
		nae.Uint8(nlproto.CT_CONFIG_A_TCP_LOOSE, loose)
		nae.Nested(nlproto.CT_CONFIG_A_TIMEOUTS, func(tae *netlink.AttributeEncoder) error {
			for _, t := range nftypes.Timeouts() {
				tae.Uint32(uint16(t), uint32(c.Timeouts[t]/time.Second))
			}
			m.extra(tae, nlproto.CT_TIMEOUT_A_MAX+1)
			return nil
		})
		m.extra(nae, nlproto.CT_CONFIG_A_MAX+1)
		return nil
	})
}

func (m *Module) encodeStats(ae *netlink.AttributeEncoder, s nftypes.TrackerStats) {
	ae.Nested(nlproto.A_CT_STATS, func(nae *netlink.AttributeEncoder) error {
		for _, f := range []struct {
			typ uint16
			v   uint64
		}{
			{nlproto.CT_STATS_A_FOUND, s.Found},
			{nlproto.CT_STATS_A_NEW, s.New},
			{nlproto.CT_STATS_A_INVALID, s.Invalid},
			{nlproto.CT_STATS_A_INSERT, s.Insert},
			{nlproto.CT_STATS_A_INSERT_FAILED, s.InsertFailed},
			{nlproto.CT_STATS_A_CLASH, s.Clash},
			{nlproto.CT_STATS_A_DROP, s.Drop},
			{nlproto.CT_STATS_A_EARLY_DROP, s.EarlyDrop},
			{nlproto.CT_STATS_A_GC_EVICTED, s.GCEvicted},
			{nlproto.CT_STATS_A_SEARCH_RESTART, s.SearchRestart},
			{nlproto.CT_STATS_A_RELATED, s.Related},
			{nlproto.CT_STATS_A_NAT_EXHAUSTED, s.NATExhausted},
			{nlproto.CT_STATS_A_NAT_CLASH, s.NATClash},
			{nlproto.CT_STATS_A_NAT_LOST, s.NATLost},
		} {
			nae.Uint64(f.typ, f.v)
		}
		m.extra(nae, nlproto.CT_STATS_A_MAX+1)
		return nil
	})
}

// A badRequest is a request the module rejects with EINVAL and an
// extended ACK message.
type badRequest string

func (e badRequest) Error() string { return string(e) }

func decodeAddr(b []byte) (netip.Addr, error) {
	if len(b) != 4 {
		return netip.Addr{}, badRequest("address is not 4 bytes")
	}
	return netip.AddrFrom4([4]byte(b)), nil
}

func decodeBE16(b []byte) (uint16, error) {
	if len(b) != 2 {
		return 0, badRequest("port or id is not 2 bytes")
	}
	return binary.BigEndian.Uint16(b), nil
}

func decodeTuple(b []byte) (nftypes.Tuple, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nftypes.Tuple{}, err
	}
	var t nftypes.Tuple
	for ad.Next() {
		switch ad.Type() {
		case nlproto.TUPLE_A_SRC:
			t.Src, err = decodeAddr(ad.Bytes())
		case nlproto.TUPLE_A_DST:
			t.Dst, err = decodeAddr(ad.Bytes())
		case nlproto.TUPLE_A_PROTO:
			t.Proto = nftypes.Proto(ad.Uint8())
		case nlproto.TUPLE_A_SPORT:
			t.SrcPort, err = decodeBE16(ad.Bytes())
		case nlproto.TUPLE_A_DPORT:
			t.DstPort, err = decodeBE16(ad.Bytes())
		case nlproto.TUPLE_A_ICMP_ID:
			t.ICMPID, err = decodeBE16(ad.Bytes())
		case nlproto.TUPLE_A_ICMP_TYPE:
			t.ICMPType = ad.Uint8()
		default:
			return nftypes.Tuple{}, badRequest(fmt.Sprintf("unknown tuple attribute %d", ad.Type()))
		}
		if err != nil {
			return nftypes.Tuple{}, err
		}
	}
	if err := ad.Err(); err != nil {
		return nftypes.Tuple{}, err
	}
	if !t.Src.IsValid() || !t.Dst.IsValid() || t.Proto == 0 {
		return nftypes.Tuple{}, badRequest("tuple needs source, destination and protocol")
	}
	return t, nil
}

func decodeFilter(b []byte) (nftypes.ConnFilter, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nftypes.ConnFilter{}, err
	}
	var (
		f                nftypes.ConnFilter
		src, dst         netip.Addr
		srcBits, dstBits = -1, -1
		empty            = true
	)
	for ad.Next() {
		empty = false
		switch ad.Type() {
		case nlproto.CT_FILTER_A_PROTO:
			f.Proto = nftypes.Proto(ad.Uint8())
		case nlproto.CT_FILTER_A_SRC:
			src, err = decodeAddr(ad.Bytes())
		case nlproto.CT_FILTER_A_SRC_PREFIX:
			srcBits = int(ad.Uint8())
		case nlproto.CT_FILTER_A_DST:
			dst, err = decodeAddr(ad.Bytes())
		case nlproto.CT_FILTER_A_DST_PREFIX:
			dstBits = int(ad.Uint8())
		case nlproto.CT_FILTER_A_SPORT:
			f.SrcPort, err = decodeBE16(ad.Bytes())
		case nlproto.CT_FILTER_A_DPORT:
			f.DstPort, err = decodeBE16(ad.Bytes())
		case nlproto.CT_FILTER_A_TCP_STATE:
			s := nftypes.TCPState(ad.Uint8())
			f.TCPState = &s
		case nlproto.CT_FILTER_A_STATUS:
			f.Status = nftypes.ConnStatus(ad.Uint32())
		default:
			return nftypes.ConnFilter{}, badRequest(fmt.Sprintf("unknown filter attribute %d", ad.Type()))
		}
		if err != nil {
			return nftypes.ConnFilter{}, err
		}
	}
	if err := ad.Err(); err != nil {
		return nftypes.ConnFilter{}, err
	}
	if empty {
		return nftypes.ConnFilter{}, errEmptyFilter
	}
	for _, p := range []struct {
		addr netip.Addr
		bits int
		dst  *netip.Prefix
	}{{src, srcBits, &f.Src}, {dst, dstBits, &f.Dst}} {
		switch {
		case !p.addr.IsValid() && p.bits >= 0:
			return nftypes.ConnFilter{}, badRequest("prefix length without its address")
		case !p.addr.IsValid():
		case p.bits > 32:
			return nftypes.ConnFilter{}, badRequest("prefix length out of range")
		default:
			bits := p.bits
			if bits < 0 {
				bits = 32
			}
			*p.dst = netip.PrefixFrom(p.addr, bits)
			if *p.dst != p.dst.Masked() {
				return nftypes.ConnFilter{}, badRequest("address has bits outside its prefix")
			}
		}
	}
	if (f.SrcPort != 0 || f.DstPort != 0) && f.Proto != nftypes.TCP && f.Proto != nftypes.UDP {
		return nftypes.ConnFilter{}, badRequest("port filters need protocol tcp or udp")
	}
	if f.TCPState != nil && f.Proto != nftypes.TCP {
		return nftypes.ConnFilter{}, badRequest("a TCP state filter needs protocol tcp")
	}
	return f, nil
}

var errEmptyFilter = badRequest("empty filter")

func decodeConfig(b []byte, cfg *nftypes.TrackerConfig) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	for ad.Next() {
		switch ad.Type() {
		case nlproto.CT_CONFIG_A_LIMIT:
			v := ad.Uint32()
			if v < 1 || v > nftypes.MaxLimit {
				return badRequest("limit out of range")
			}
			cfg.Limit = &v
		case nlproto.CT_CONFIG_A_TCP_LOOSE:
			v := ad.Uint8()
			if v > 1 {
				return badRequest("tcp_loose is 0 or 1")
			}
			b := v == 1
			cfg.TCPLoose = &b
		case nlproto.CT_CONFIG_A_TIMEOUTS:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					t := nftypes.Timeout(nad.Type())
					if t < 1 || t > nlproto.CT_TIMEOUT_A_MAX {
						return badRequest(fmt.Sprintf("unknown timeout attribute %d", t))
					}
					v := nad.Uint32()
					if v < 1 || v > uint32(nftypes.MaxTimeout/time.Second) {
						return badRequest("timeout out of range")
					}
					cfg.Timeouts[t] = time.Duration(v) * time.Second
				}
				return nil
			})
		default:
			return badRequest(fmt.Sprintf("unknown config attribute %d", ad.Type()))
		}
	}
	return ad.Err()
}
