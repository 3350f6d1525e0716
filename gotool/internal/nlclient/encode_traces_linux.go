//go:build linux

package nlclient

import (
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// encodeTraceSpec writes s as the NFLAB_A_TRACE of TRACE_NEW: the
// selector's attributes it sets, in attribute order, and the budget and
// timeout when they are not left to the module. The nest is sent even
// when empty (a trace of every packet, with the module's defaults).
func encodeTraceSpec(ae *netlink.AttributeEncoder, s nftypes.TraceSpec) {
	sel := s.Selector
	ae.Nested(nlproto.A_TRACE, func(nae *netlink.AttributeEncoder) error {
		if err := putPrefix(nae, nlproto.TRACE_A_SRC, nlproto.TRACE_A_SRC_PREFIX, sel.Src); err != nil {
			return fmt.Errorf("trace source: %w", err)
		}
		if err := putPrefix(nae, nlproto.TRACE_A_DST, nlproto.TRACE_A_DST_PREFIX, sel.Dst); err != nil {
			return fmt.Errorf("trace destination: %w", err)
		}
		if err := putPrefix(nae, nlproto.TRACE_A_HOST, nlproto.TRACE_A_HOST_PREFIX, sel.Host); err != nil {
			return fmt.Errorf("trace host: %w", err)
		}
		if sel.Proto != 0 {
			nae.Uint8(nlproto.TRACE_A_PROTO, uint8(sel.Proto))
		}
		if sel.SrcPort != 0 {
			nae.Bytes(nlproto.TRACE_A_SPORT, be16(sel.SrcPort))
		}
		if sel.DstPort != 0 {
			nae.Bytes(nlproto.TRACE_A_DPORT, be16(sel.DstPort))
		}
		if sel.Port != 0 {
			nae.Bytes(nlproto.TRACE_A_PORT, be16(sel.Port))
		}
		if sel.Iface != "" {
			nae.String(nlproto.TRACE_A_IFNAME, sel.Iface)
		}
		if s.Budget != 0 {
			nae.Uint32(nlproto.TRACE_A_BUDGET, uint32(s.Budget))
		}
		if s.Timeout != 0 {
			nae.Uint32(nlproto.TRACE_A_TIMEOUT, uint32(s.Timeout/time.Second))
		}
		return nil
	})
}

// encodeTraceID writes the NFLAB_A_TRACE of TRACE_DEL for one trace: its
// ID only.
func encodeTraceID(ae *netlink.AttributeEncoder, id uint32) {
	ae.Nested(nlproto.A_TRACE, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nlproto.TRACE_A_ID, id)
		return nil
	})
}
