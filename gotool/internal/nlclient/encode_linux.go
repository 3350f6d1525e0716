//go:build linux

package nlclient

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// request builds the message for cmd with no attributes; the kernel
// rejects any a command does not expect.
func request(cmd uint8) genetlink.Message {
	return genetlink.Message{
		Header: genetlink.Header{
			Command: cmd,
			Version: nlproto.GENL_VERSION,
		},
	}
}

// requestAttrs builds the message for cmd carrying what encode writes.
func requestAttrs(cmd uint8, encode func(ae *netlink.AttributeEncoder)) (genetlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	encode(ae)
	b, err := ae.Encode()
	if err != nil {
		return genetlink.Message{}, err
	}
	m := request(cmd)
	m.Data = b
	return m, nil
}

// Encoding rule: the kernel validates strictly, so send only the
// attributes a value sets, and nests with NLA_F_NESTED (ae.Nested).

// encodeTuple writes t as the nest typ. Addresses are be32 and ports and
// the ICMP id be16, so they are written as bytes in network order.
func encodeTuple(ae *netlink.AttributeEncoder, typ uint16, t nftypes.Tuple) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		if err := putAddr(nae, nlproto.TUPLE_A_SRC, t.Src); err != nil {
			return fmt.Errorf("tuple source: %w", err)
		}
		if err := putAddr(nae, nlproto.TUPLE_A_DST, t.Dst); err != nil {
			return fmt.Errorf("tuple destination: %w", err)
		}
		nae.Uint8(nlproto.TUPLE_A_PROTO, uint8(t.Proto))
		switch t.Proto {
		case nftypes.TCP, nftypes.UDP:
			nae.Bytes(nlproto.TUPLE_A_SPORT, be16(t.SrcPort))
			nae.Bytes(nlproto.TUPLE_A_DPORT, be16(t.DstPort))
		case nftypes.ICMP:
			nae.Bytes(nlproto.TUPLE_A_ICMP_ID, be16(t.ICMPID))
			nae.Uint8(nlproto.TUPLE_A_ICMP_TYPE, t.ICMPType)
		default:
			return fmt.Errorf("protocol %d is not tracked", t.Proto)
		}
		return nil
	})
}

// encodeFilter writes f as NFLAB_A_CT_FILTER. A TCP state filter implies
// protocol TCP: entries of other protocols carry no TCP state, and the
// module insists on the protocol.
func encodeFilter(ae *netlink.AttributeEncoder, f nftypes.ConnFilter) {
	if f.TCPState != nil {
		f.Proto = nftypes.TCP
	}
	ae.Nested(nlproto.A_CT_FILTER, func(nae *netlink.AttributeEncoder) error {
		if f.Proto != 0 {
			nae.Uint8(nlproto.CT_FILTER_A_PROTO, uint8(f.Proto))
		}
		if err := putPrefix(nae, nlproto.CT_FILTER_A_SRC, nlproto.CT_FILTER_A_SRC_PREFIX, f.Src); err != nil {
			return fmt.Errorf("filter source: %w", err)
		}
		if err := putPrefix(nae, nlproto.CT_FILTER_A_DST, nlproto.CT_FILTER_A_DST_PREFIX, f.Dst); err != nil {
			return fmt.Errorf("filter destination: %w", err)
		}
		if f.SrcPort != 0 {
			nae.Bytes(nlproto.CT_FILTER_A_SPORT, be16(f.SrcPort))
		}
		if f.DstPort != 0 {
			nae.Bytes(nlproto.CT_FILTER_A_DPORT, be16(f.DstPort))
		}
		if f.TCPState != nil {
			nae.Uint8(nlproto.CT_FILTER_A_TCP_STATE, uint8(*f.TCPState))
		}
		if f.Status != 0 {
			nae.Uint32(nlproto.CT_FILTER_A_STATUS, uint32(f.Status))
		}
		return nil
	})
}

// encodeConfig writes c as NFLAB_A_CT_CONFIG, timeouts in attribute order.
func encodeConfig(ae *netlink.AttributeEncoder, c nftypes.TrackerConfig) {
	ae.Nested(nlproto.A_CT_CONFIG, func(nae *netlink.AttributeEncoder) error {
		if c.Limit != nil {
			nae.Uint32(nlproto.CT_CONFIG_A_LIMIT, *c.Limit)
		}
		if c.TCPLoose != nil {
			var v uint8
			if *c.TCPLoose {
				v = 1
			}
			nae.Uint8(nlproto.CT_CONFIG_A_TCP_LOOSE, v)
		}
		if len(c.Timeouts) == 0 {
			return nil
		}
		nae.Nested(nlproto.CT_CONFIG_A_TIMEOUTS, func(tae *netlink.AttributeEncoder) error {
			for _, typ := range slices.Sorted(maps.Keys(c.Timeouts)) {
				if typ == 0 {
					return errors.New("timeout attribute 0 is not valid")
				}
				tae.Uint32(uint16(typ), uint32(c.Timeouts[typ]/time.Second))
			}
			return nil
		})
		return nil
	})
}

func putAddr(ae *netlink.AttributeEncoder, typ uint16, a netip.Addr) error {
	if !a.Is4() {
		return fmt.Errorf("%v is not an IPv4 address", a)
	}
	b := a.As4()
	ae.Bytes(typ, b[:])
	return nil
}

// putPrefix writes a valid p as its address and prefix length.
func putPrefix(ae *netlink.AttributeEncoder, addrTyp, lenTyp uint16, p netip.Prefix) error {
	if !p.IsValid() {
		return nil
	}
	if err := putAddr(ae, addrTyp, p.Addr()); err != nil {
		return err
	}
	ae.Uint8(lenTyp, uint8(p.Bits()))
	return nil
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
