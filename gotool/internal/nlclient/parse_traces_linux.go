//go:build linux

package nlclient

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// The replies and notifications of packet traces (protocol 6). As every
// reply, they are decoded strictly: an attribute of the wrong size is an
// error, as is a missing one the protocol promises; attributes this
// client does not know come from a newer module and are skipped.

// parseTraceMsg decodes the NFLAB_A_TRACE of a TRACE_NEW reply or a
// TRACE_GET dump part.
func parseTraceMsg(b []byte) (nftypes.Trace, error) {
	return parseNested(b, nlproto.A_TRACE, parseTrace)
}

// selPrefix is one address and prefix length pair of a selector, as it
// arrives: either may be missing.
type selPrefix struct {
	addr netip.Addr
	bits int // -1: no prefix length
}

// prefix returns the prefix: zero without an address, /32 without a
// length (as the module reads a request), an error for a length alone or
// out of range.
func (p selPrefix) prefix(what string) (netip.Prefix, error) {
	switch {
	case !p.addr.IsValid() && p.bits >= 0:
		return netip.Prefix{}, fmt.Errorf("%s prefix length without an address", what)
	case !p.addr.IsValid():
		return netip.Prefix{}, nil
	case p.bits > 32:
		return netip.Prefix{}, fmt.Errorf("%s prefix length %d is out of range", what, p.bits)
	case p.bits < 0:
		return netip.PrefixFrom(p.addr, 32), nil
	}
	return netip.PrefixFrom(p.addr, p.bits), nil
}

func parseTrace(ad *netlink.AttributeDecoder) (nftypes.Trace, error) {
	var (
		tr            nftypes.Trace
		src, dst, hst = selPrefix{bits: -1}, selPrefix{bits: -1}, selPrefix{bits: -1}
		seen          attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.TRACE_A_ID:
			tr.ID = ad.Uint32()
		case nlproto.TRACE_A_SRC:
			src.addr = getAddr(ad)
		case nlproto.TRACE_A_SRC_PREFIX:
			src.bits = int(ad.Uint8())
		case nlproto.TRACE_A_DST:
			dst.addr = getAddr(ad)
		case nlproto.TRACE_A_DST_PREFIX:
			dst.bits = int(ad.Uint8())
		case nlproto.TRACE_A_HOST:
			hst.addr = getAddr(ad)
		case nlproto.TRACE_A_HOST_PREFIX:
			hst.bits = int(ad.Uint8())
		case nlproto.TRACE_A_PROTO:
			tr.Selector.Proto = nftypes.Proto(ad.Uint8())
		case nlproto.TRACE_A_SPORT:
			tr.Selector.SrcPort = getBE16(ad)
		case nlproto.TRACE_A_DPORT:
			tr.Selector.DstPort = getBE16(ad)
		case nlproto.TRACE_A_PORT:
			tr.Selector.Port = getBE16(ad)
		case nlproto.TRACE_A_IFNAME:
			tr.Selector.Iface = ad.String()
		case nlproto.TRACE_A_BUDGET:
			tr.Budget = int(ad.Uint32())
		case nlproto.TRACE_A_TIMEOUT:
			tr.Timeout = time.Duration(ad.Uint32()) * time.Second
		case nlproto.TRACE_A_LEFT:
			tr.Left = int(ad.Uint32())
		case nlproto.TRACE_A_EXPIRES:
			tr.Remaining = time.Duration(ad.Uint32()) * time.Millisecond
		case nlproto.TRACE_A_EVENTS:
			tr.Events = ad.Uint64()
		case nlproto.TRACE_A_LOST:
			tr.Lost = ad.Uint64()
		default:
			continue // NFLAB_TRACE_A_PAD, or newer than this client
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.Trace{}, err
	}
	if err := seen.require(
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_ID),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_BUDGET),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_TIMEOUT),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_LEFT),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_EXPIRES),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_EVENTS),
		attrOf(nlproto.EnumTraceAttr, nlproto.TRACE_A_LOST),
	); err != nil {
		return nftypes.Trace{}, fmt.Errorf("in NFLAB_A_TRACE: %w", err)
	}
	var err error
	for _, p := range []struct {
		what string
		in   selPrefix
		out  *netip.Prefix
	}{{"source", src, &tr.Selector.Src}, {"destination", dst, &tr.Selector.Dst}, {"host", hst, &tr.Selector.Host}} {
		if *p.out, err = p.in.prefix(p.what); err != nil {
			return nftypes.Trace{}, fmt.Errorf("in NFLAB_A_TRACE %d: %w", tr.ID, err)
		}
	}
	return tr, nil
}

// parseTraceCount decodes the NFLAB_A_TRACE_COUNT of a TRACE_DEL reply.
func parseTraceCount(b []byte) (uint32, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return 0, err
	}
	var (
		n    uint32
		seen attrSet
	)
	for ad.Next() {
		if ad.Type() == nlproto.A_TRACE_COUNT {
			n = ad.Uint32()
			seen.add(nlproto.A_TRACE_COUNT)
		}
	}
	if err := ad.Err(); err != nil {
		return 0, err
	}
	return n, seen.require(attrOf(nlproto.EnumAttr, nlproto.A_TRACE_COUNT))
}

// parseTraceEventMsg decodes the NFLAB_A_TRACE_EVENT of a TRACE_EVENT
// notification.
func parseTraceEventMsg(b []byte) (nftypes.TraceEvent, error) {
	return parseNested(b, nlproto.A_TRACE_EVENT, parseTraceEvent)
}

func parseTraceEvent(ad *netlink.AttributeDecoder) (nftypes.TraceEvent, error) {
	var (
		ev   nftypes.TraceEvent
		seen attrSet
	)
	evAttr := func(t uint16) attrName { return attrOf(nlproto.EnumTraceEventAttr, t) }
	tuple := func(dst *nftypes.Tuple) {
		name := evAttr(ad.Type()).name
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			t, err := parseTupleAttrs(nad, false)
			if err != nil {
				return fmt.Errorf("in %s: %w", name, err)
			}
			*dst = t
			return nil
		})
	}
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.TRACE_EV_A_TRACE:
			ev.Trace = ad.Uint32()
		case nlproto.TRACE_EV_A_SEQ:
			ev.Seq = ad.Uint64()
		case nlproto.TRACE_EV_A_PACKET:
			ev.Packet = ad.Uint64()
		case nlproto.TRACE_EV_A_KIND:
			ev.Kind = nftypes.TraceKind(ad.Uint8())
		case nlproto.TRACE_EV_A_HOOK:
			ev.Hook = nftypes.Hook(ad.Uint32())
		case nlproto.TRACE_EV_A_TIME:
			ns := ad.Uint64()
			if ns > math.MaxInt64 {
				return nftypes.TraceEvent{}, fmt.Errorf("%s %d is past the year 2262", evAttr(t).name, ns)
			}
			ev.Time = time.Unix(0, int64(ns)).UTC()
		case nlproto.TRACE_EV_A_IIF:
			ev.InIndex = ad.Uint32()
		case nlproto.TRACE_EV_A_OIF:
			ev.OutIndex = ad.Uint32()
		case nlproto.TRACE_EV_A_IIFNAME:
			ev.InIface = ad.String()
		case nlproto.TRACE_EV_A_OIFNAME:
			ev.OutIface = ad.String()
		case nlproto.TRACE_EV_A_LEN:
			ev.Len = ad.Uint32()
		case nlproto.TRACE_EV_A_TUPLE:
			tuple(&ev.Tuple)
		case nlproto.TRACE_EV_A_TUPLE_OUT:
			ev.TupleOut = new(nftypes.Tuple)
			tuple(ev.TupleOut)
		case nlproto.TRACE_EV_A_TCP_FLAGS:
			ev.TCPFlags = nftypes.TCPFlags(ad.Uint8())
		case nlproto.TRACE_EV_A_CT:
			ev.CT = nftypes.TraceCT(ad.Uint8())
		case nlproto.TRACE_EV_A_CT_INVALID:
			ev.Invalid = nftypes.TraceInvalid(ad.Uint8())
		case nlproto.TRACE_EV_A_CT_ID:
			ev.CTID = ad.Uint32()
		case nlproto.TRACE_EV_A_CT_DIR:
			ev.Dir = nftypes.Dir(ad.Uint8())
		case nlproto.TRACE_EV_A_TCP_STATE_OLD:
			ev.TCPStateOld = nftypes.TCPState(ad.Uint8())
		case nlproto.TRACE_EV_A_TCP_STATE:
			ev.TCPState = nftypes.TCPState(ad.Uint8())
		case nlproto.TRACE_EV_A_CT_STATUS:
			ev.CTStatus = nftypes.ConnStatus(ad.Uint32())
		case nlproto.TRACE_EV_A_RULE:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				r, err := parseTraceRule(nad)
				if err != nil {
					return fmt.Errorf("in %s %d: %w", evAttr(t).name, len(ev.Rules)+1, err)
				}
				ev.Rules = append(ev.Rules, r)
				return nil
			})
		case nlproto.TRACE_EV_A_VERDICT:
			ev.Verdict = nftypes.TraceVerdict(ad.Uint8())
		case nlproto.TRACE_EV_A_DROP_BY:
			ev.DropBy = nftypes.TraceDropBy(ad.Uint8())
		case nlproto.TRACE_EV_A_DROP_REASON:
			ev.DropReason = ad.String()
		default:
			continue // NFLAB_TRACE_EV_A_PAD, or newer than this client
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.TraceEvent{}, err
	}
	need := []attrName{
		evAttr(nlproto.TRACE_EV_A_TRACE),
		evAttr(nlproto.TRACE_EV_A_SEQ),
		evAttr(nlproto.TRACE_EV_A_KIND),
		evAttr(nlproto.TRACE_EV_A_TIME),
	}
	// What each kind promises; a kind this client does not know (a newer
	// module's) promises only the above.
	switch ev.Kind {
	case nftypes.TraceHook:
		need = append(need, evAttr(nlproto.TRACE_EV_A_PACKET), evAttr(nlproto.TRACE_EV_A_HOOK),
			evAttr(nlproto.TRACE_EV_A_TUPLE), evAttr(nlproto.TRACE_EV_A_VERDICT))
	case nftypes.TraceGone:
		need = append(need, evAttr(nlproto.TRACE_EV_A_PACKET), evAttr(nlproto.TRACE_EV_A_HOOK),
			evAttr(nlproto.TRACE_EV_A_DROP_BY))
	}
	if err := seen.require(need...); err != nil {
		return nftypes.TraceEvent{}, fmt.Errorf("in NFLAB_A_TRACE_EVENT (%s): %w", ev.Kind, err)
	}
	return ev, nil
}

// parseTraceRule decodes one NFLAB_TRACE_EV_A_RULE, a nest of enum
// nflab_rule_attr: TABLE, CHAIN and VERDICT always, HANDLE for a rule (a
// policy has none) and COMMENT if the rule has one.
func parseTraceRule(ad *netlink.AttributeDecoder) (nftypes.TraceRule, error) {
	var (
		r    nftypes.TraceRule
		seen attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.RULE_A_TABLE:
			r.Table = nftypes.Table(ad.Uint8())
		case nlproto.RULE_A_CHAIN:
			r.Chain = ad.String()
		case nlproto.RULE_A_HANDLE:
			r.Handle = ad.Uint64()
		case nlproto.RULE_A_COMMENT:
			r.Comment = ad.String()
		case nlproto.RULE_A_VERDICT:
			r.Verdict = nftypes.TraceVerdict(ad.Uint8())
		default:
			continue
		}
		seen.add(ad.Type())
	}
	if err := ad.Err(); err != nil {
		return nftypes.TraceRule{}, err
	}
	if err := seen.require(
		attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_TABLE),
		attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_CHAIN),
		attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_VERDICT),
	); err != nil {
		return nftypes.TraceRule{}, err
	}
	if seen&(1<<nlproto.RULE_A_HANDLE) != 0 && r.Handle == 0 {
		return nftypes.TraceRule{}, fmt.Errorf("%s 0", attrOf(nlproto.EnumRuleAttr, nlproto.RULE_A_HANDLE).name)
	}
	return r, nil
}
