package main

import (
	"net/netip"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// jsonTraceEvent is the documented line of "nflab trace -o json": one
// event. Enums are named as the library names them (numbers for values
// this command does not know); fields the event lacks are left out.
type jsonTraceEvent struct {
	Trace       uint32          `json:"trace"`
	Seq         uint64          `json:"seq"`
	Packet      uint64          `json:"packet,omitempty"`
	Kind        enum            `json:"kind"`
	Hook        *enum           `json:"hook,omitempty"`
	Time        time.Time       `json:"time"`
	In          string          `json:"in,omitempty"`
	InIndex     uint32          `json:"in_index,omitempty"`
	Out         string          `json:"out,omitempty"`
	OutIndex    uint32          `json:"out_index,omitempty"`
	Len         uint32          `json:"len,omitempty"`
	Tuple       *jsonTraceTuple `json:"tuple,omitempty"`
	TupleOut    *jsonTraceTuple `json:"tuple_out,omitempty"`
	TCPFlags    []string        `json:"tcp_flags,omitempty"`
	CT          *enum           `json:"ct,omitempty"`
	CTInvalid   *enum           `json:"ct_invalid,omitempty"`
	CTID        uint32          `json:"ct_id,omitempty"`
	CTDir       *enum           `json:"ct_dir,omitempty"`
	TCPStateOld *enum           `json:"tcp_state_old,omitempty"`
	TCPState    *enum           `json:"tcp_state,omitempty"`
	CTStatus    []string        `json:"ct_status,omitempty"`
	Rules       []jsonTraceRule `json:"rules,omitempty"`
	Verdict     *enum           `json:"verdict,omitempty"`
	DropBy      *enum           `json:"drop_by,omitempty"`
	DropReason  string          `json:"drop_reason,omitempty"`
}

// jsonTraceTuple is a packet's tuple: ports for tcp and udp, ICMP fields
// for icmp where the packet has them.
type jsonTraceTuple struct {
	Proto    enum       `json:"proto"`
	Src      netip.Addr `json:"src"`
	Dst      netip.Addr `json:"dst"`
	SPort    *uint16    `json:"sport,omitempty"`
	DPort    *uint16    `json:"dport,omitempty"`
	ICMPID   *uint16    `json:"icmp_id,omitempty"`
	ICMPType *uint8     `json:"icmp_type,omitempty"`
}

type jsonTraceRule struct {
	Table   enum   `json:"table"`
	Chain   string `json:"chain"`
	Handle  uint64 `json:"handle,omitempty"`
	Comment string `json:"comment,omitempty"`
	Verdict enum   `json:"verdict"`
}

// jsonTraceLoss is a loss: a gap in a trace's events, an overrun of
// every trace, or a trace's end lost (the last two: "lost" null).
type jsonTraceLoss struct {
	Lost       *uint64 `json:"lost"`
	Trace      uint32  `json:"trace,omitempty"`
	FirstSeq   uint64  `json:"first_seq,omitempty"`
	LastSeq    uint64  `json:"last_seq,omitempty"`
	Overrun    bool    `json:"overrun,omitempty"`
	EndMissing bool    `json:"end_missing,omitempty"`
}

func lossJSON(l nftypes.TraceLoss) jsonTraceLoss {
	switch {
	case l.EndMissing:
		return jsonTraceLoss{Trace: l.Trace, EndMissing: true}
	case l.Overrun():
		return jsonTraceLoss{Overrun: true}
	}
	return jsonTraceLoss{Lost: &l.Events, Trace: l.Trace, FirstSeq: l.FirstSeq, LastSeq: l.LastSeq}
}

func ptrEnum(e enum) *enum { return &e }

func traceTupleJSON(t nftypes.Tuple) *jsonTraceTuple {
	jt := &jsonTraceTuple{Proto: enumOf(t.Proto), Src: t.Src, Dst: t.Dst}
	switch t.Proto {
	case nftypes.TCP, nftypes.UDP:
		jt.SPort, jt.DPort = &t.SrcPort, &t.DstPort
	case nftypes.ICMP:
		jt.ICMPType = &t.ICMPType
		if t.ICMPID != 0 {
			jt.ICMPID = &t.ICMPID
		}
	}
	return jt
}

func traceEventJSON(ev nftypes.TraceEvent) jsonTraceEvent {
	j := jsonTraceEvent{
		Trace: ev.Trace, Seq: ev.Seq, Packet: ev.Packet, Kind: enumOf(ev.Kind), Time: ev.Time,
		In: ev.InIface, InIndex: ev.InIndex, Out: ev.OutIface, OutIndex: ev.OutIndex, Len: ev.Len,
		CTID: ev.CTID, DropReason: ev.DropReason,
	}
	if ev.Kind == nftypes.TraceEnd {
		return j
	}
	j.Hook = ptrEnum(enumOf(ev.Hook))
	if ev.Tuple.Proto != 0 {
		j.Tuple = traceTupleJSON(ev.Tuple)
	}
	if ev.TupleOut != nil {
		j.TupleOut = traceTupleJSON(*ev.TupleOut)
	}
	tcp := ev.Tuple.Proto == nftypes.TCP
	if tcp && ev.TCPFlags != 0 {
		j.TCPFlags = ev.TCPFlags.Names()
	}
	if ev.CT != 0 {
		j.CT = ptrEnum(enumOf(ev.CT))
	}
	if ev.Invalid != 0 {
		j.CTInvalid = ptrEnum(enumOf(ev.Invalid))
	}
	if ev.CTID != 0 {
		j.CTDir = ptrEnum(enumOf(ev.Dir))
		if tcp {
			j.TCPStateOld, j.TCPState = ptrEnum(enumOf(ev.TCPStateOld)), ptrEnum(enumOf(ev.TCPState))
		}
		j.CTStatus = ev.CTStatus.Names()
	}
	for _, r := range ev.Rules {
		j.Rules = append(j.Rules, jsonTraceRule{Table: enumOf(r.Table), Chain: r.Chain, Handle: r.Handle, Comment: r.Comment, Verdict: enumOf(r.Verdict)})
	}
	if ev.Verdict != 0 {
		j.Verdict = ptrEnum(enumOf(ev.Verdict))
	}
	if ev.DropBy != 0 {
		j.DropBy = ptrEnum(enumOf(ev.DropBy))
	}
	return j
}
