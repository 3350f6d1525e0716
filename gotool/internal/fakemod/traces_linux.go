//go:build linux

package fakemod

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// Packet traces (protocol 6), as nflab.h documents them: TRACE_NEW,
// TRACE_DEL and TRACE_GET, validated as the kernel's policy and code do,
// and the "trace" multicast group, whose events tests inject with
// EmitTrace. Written from the header, apart from the client's code.

// TraceGroupID is the id of the "trace" multicast group.
const TraceGroupID = GroupID + 1

// traceProtocol is the protocol that brought traces: an older module has
// neither the commands nor the group.
const traceProtocol = 6

// traceCmds are the trace commands, which a module older than
// traceProtocol lacks.
var traceCmds = []uint8{nlproto.CMD_TRACE_NEW, nlproto.CMD_TRACE_DEL, nlproto.CMD_TRACE_GET}

// hasTraces reports whether the module speaks traces.
func (m *Module) hasTraces() bool {
	v, _ := m.protocol()
	return v >= traceProtocol
}

// missing reports whether the module lacks command cmd: Options.Missing,
// or a trace command of a module older than traceProtocol.
func (m *Module) missing(cmd uint8) bool {
	return slices.Contains(m.opts.Missing, cmd) || (!m.hasTraces() && slices.Contains(traceCmds, cmd))
}

// ftrace is one running trace.
type ftrace struct {
	tr    nftypes.Trace // ID, selector, budget, timeout, counters
	start time.Time
	seq   uint64 // the last event's Seq
}

// A trace ends as the kernel's does: it is no longer listed (TRACE_GET,
// TRACE_DEL) at once, and its END event goes out when its packets are
// gone, which in the kernel may be NFLAB_TRACE_IDLE seconds later. The
// fake sends END at once, or, after HoldTraceEnds(true), keeps the ended
// trace in m.ending, its events still numbered and sent, until
// FlushTraceEnds.

// tracePolicy is the trace nest's policy, nflab_trace_policy in
// kmod/trace.c: the types and ranges nflab.h gives, IDs from 1, and the
// counters of replies refused in a request.
var tracePolicy = [nlproto.TRACE_A_MAX + 1]attrPolicy{
	nlproto.TRACE_A_ID:          {typ: policyU32, ranged: true, min: 1, max: math.MaxUint32},
	nlproto.TRACE_A_SRC:         {typ: policyBE32},
	nlproto.TRACE_A_SRC_PREFIX:  {typ: policyU8, ranged: true, min: 0, max: 32},
	nlproto.TRACE_A_DST:         {typ: policyBE32},
	nlproto.TRACE_A_DST_PREFIX:  {typ: policyU8, ranged: true, min: 0, max: 32},
	nlproto.TRACE_A_HOST:        {typ: policyBE32},
	nlproto.TRACE_A_HOST_PREFIX: {typ: policyU8, ranged: true, min: 0, max: 32},
	nlproto.TRACE_A_PROTO:       {typ: policyU8},
	nlproto.TRACE_A_SPORT:       {typ: policyBE16},
	nlproto.TRACE_A_DPORT:       {typ: policyBE16},
	nlproto.TRACE_A_PORT:        {typ: policyBE16},
	nlproto.TRACE_A_IFNAME:      {typ: policyNULString, maxLen: nftypes.MaxIfaceLen},
	nlproto.TRACE_A_BUDGET:      {typ: policyU32, ranged: true, min: 1, max: nlproto.TRACE_BUDGET_MAX},
	nlproto.TRACE_A_TIMEOUT:     {typ: policyU32, ranged: true, min: 1, max: nlproto.TRACE_TIMEOUT_MAX},
	nlproto.TRACE_A_LEFT:        replyOnly,
	nlproto.TRACE_A_EXPIRES:     replyOnly,
	nlproto.TRACE_A_EVENTS:      replyOnly,
	nlproto.TRACE_A_LOST:        replyOnly,
}

// replyOnly is the policy of the counters a reply carries: NLA_REJECT.
var replyOnly = attrPolicy{typ: policyReject, msg: "attribute is set by the module, not by a request"}

// handleTraces answers TRACE_NEW, TRACE_DEL and TRACE_GET; m.mu is held.
func (m *Module) handleTraces(req netlink.Message, cmd uint8, attrs map[uint16][]byte) [][]netlink.Message {
	ae := netlink.NewAttributeEncoder()
	switch cmd {
	case nlproto.CMD_TRACE_NEW:
		b, ok := attrs[nlproto.A_TRACE]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_TRACE")
		}
		tr, err := decodeTraceReq(b)
		if err != nil {
			return rejects(req, err)
		}
		if len(m.traces) >= nlproto.TRACES_MAX {
			return fails(req, unix.ENOSPC, "too many traces in this namespace")
		}
		m.encodeTrace(ae, m.startTraceLocked(nftypes.TraceSpec{Selector: tr.Selector, Budget: tr.Budget, Timeout: tr.Timeout}))
	case nlproto.CMD_TRACE_DEL:
		var gone []*ftrace
		if b, ok := attrs[nlproto.A_TRACE]; ok {
			n, err := parsePolicy(b, tracePolicy[:])
			if err != nil {
				return rejects(req, err)
			}
			for a := range n {
				if a != nlproto.TRACE_A_ID {
					return fails(req, unix.EINVAL, "a trace is deleted by its ID only")
				}
			}
			if !n.has(nlproto.TRACE_A_ID) {
				return fails(req, unix.EINVAL, "missing trace ID")
			}
			id, _ := n.u32(nlproto.TRACE_A_ID)
			i := slices.IndexFunc(m.traces, func(ft *ftrace) bool { return ft.tr.ID == id })
			if i < 0 {
				return fails(req, unix.ENOENT, "no such trace in this namespace")
			}
			gone = []*ftrace{m.traces[i]}
		} else {
			gone = slices.Clone(m.traces)
		}
		for _, ft := range gone {
			m.endTraceLocked(ft)
		}
		ae.Uint32(nlproto.A_TRACE_COUNT, uint32(len(gone)))
	case nlproto.CMD_TRACE_GET:
		if req.Header.Flags&netlink.Dump != netlink.Dump {
			return fails(req, unix.EOPNOTSUPP, "")
		}
		return m.traceDump(req)
	}
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return [][]netlink.Message{{genlMessage(cmd, b, 0, req.Header.Sequence, req.Header.PID)}}
}

// decodeTraceReq checks a TRACE_NEW nest as the kernel does: its policy,
// then the selector's rules (those of the conntrack filter) and the ID
// the module gives.
func decodeTraceReq(b []byte) (nftypes.Trace, error) {
	n, err := parsePolicy(b, tracePolicy[:])
	if err != nil {
		return nftypes.Trace{}, err
	}
	if n.has(nlproto.TRACE_A_ID) {
		return nftypes.Trace{}, einval("the module numbers traces: no ID in a new one")
	}
	var tr nftypes.Trace
	s := &tr.Selector
	for _, p := range []struct {
		addr, plen uint16
		dst        *netip.Prefix
	}{
		{nlproto.TRACE_A_SRC, nlproto.TRACE_A_SRC_PREFIX, &s.Src},
		{nlproto.TRACE_A_DST, nlproto.TRACE_A_DST_PREFIX, &s.Dst},
		{nlproto.TRACE_A_HOST, nlproto.TRACE_A_HOST_PREFIX, &s.Host},
	} {
		switch {
		case !n.has(p.addr) && n.has(p.plen):
			return nftypes.Trace{}, einval("prefix length without its address")
		case !n.has(p.addr):
			continue
		}
		a, _ := n.addr(p.addr)
		bits := 32
		if n.has(p.plen) {
			v, _ := n.u8(p.plen)
			bits = int(v)
		}
		*p.dst = netip.PrefixFrom(a, bits)
		if *p.dst != p.dst.Masked() {
			return nftypes.Trace{}, einval("address has bits outside its prefix")
		}
	}
	proto, _ := n.u8(nlproto.TRACE_A_PROTO)
	s.Proto = nftypes.Proto(proto)
	for _, p := range []struct {
		typ uint16
		dst *uint16
	}{{nlproto.TRACE_A_SPORT, &s.SrcPort}, {nlproto.TRACE_A_DPORT, &s.DstPort}, {nlproto.TRACE_A_PORT, &s.Port}} {
		if n.has(p.typ) {
			*p.dst, _ = decodeBE16(n[p.typ][0])
		}
	}
	if (n.has(nlproto.TRACE_A_SPORT) || n.has(nlproto.TRACE_A_DPORT) || n.has(nlproto.TRACE_A_PORT)) &&
		s.Proto != nftypes.TCP && s.Proto != nftypes.UDP {
		return nftypes.Trace{}, einval("ports need protocol tcp or udp")
	}
	if n.has(nlproto.TRACE_A_IFNAME) {
		s.Iface = cString(n[nlproto.TRACE_A_IFNAME][0])
		if s.Iface == "" {
			return nftypes.Trace{}, einval("empty interface name")
		}
	}
	budget, _ := n.u32(nlproto.TRACE_A_BUDGET)
	timeout, _ := n.u32(nlproto.TRACE_A_TIMEOUT)
	tr.Budget, tr.Timeout = int(budget), time.Duration(timeout)*time.Second
	return tr, nil
}

// report returns the trace as TRACE_GET reports it now.
func (ft *ftrace) report() nftypes.Trace {
	tr := ft.tr
	tr.Remaining = max(0, tr.Timeout-time.Since(ft.start)).Truncate(time.Millisecond)
	return tr
}

func (m *Module) encodeTrace(ae *netlink.AttributeEncoder, ft *ftrace) {
	tr := ft.report()
	s := tr.Selector
	ae.Nested(nlproto.A_TRACE, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nlproto.TRACE_A_ID, tr.ID)
		for _, p := range []struct {
			addr, plen uint16
			p          netip.Prefix
		}{
			{nlproto.TRACE_A_SRC, nlproto.TRACE_A_SRC_PREFIX, s.Src},
			{nlproto.TRACE_A_DST, nlproto.TRACE_A_DST_PREFIX, s.Dst},
			{nlproto.TRACE_A_HOST, nlproto.TRACE_A_HOST_PREFIX, s.Host},
		} {
			// As the kernel's: a prefix is echoed when its mask is not
			// empty, so a /0 (every address) is not.
			if p.p.IsValid() && p.p.Bits() > 0 {
				a := p.p.Addr().As4()
				nae.Bytes(p.addr, a[:])
				nae.Uint8(p.plen, uint8(p.p.Bits()))
			}
		}
		if s.Proto != 0 {
			nae.Uint8(nlproto.TRACE_A_PROTO, uint8(s.Proto))
		}
		for _, p := range []struct {
			typ  uint16
			port uint16
		}{{nlproto.TRACE_A_SPORT, s.SrcPort}, {nlproto.TRACE_A_DPORT, s.DstPort}, {nlproto.TRACE_A_PORT, s.Port}} {
			if p.port != 0 {
				nae.Bytes(p.typ, be16(p.port))
			}
		}
		if s.Iface != "" {
			nae.String(nlproto.TRACE_A_IFNAME, s.Iface)
		}
		nae.Uint32(nlproto.TRACE_A_BUDGET, uint32(tr.Budget))
		nae.Uint32(nlproto.TRACE_A_TIMEOUT, uint32(tr.Timeout/time.Second))
		nae.Uint32(nlproto.TRACE_A_LEFT, uint32(tr.Left))
		nae.Uint32(nlproto.TRACE_A_EXPIRES, uint32(tr.Remaining/time.Millisecond))
		nae.Uint64(nlproto.TRACE_A_EVENTS, tr.Events)
		nae.Uint64(nlproto.TRACE_A_LOST, tr.Lost)
		m.extra(nae, nlproto.TRACE_A_MAX+1)
		return nil
	})
}

// traceDump answers a TRACE_GET dump: a message per trace, then
// NLMSG_DONE, in one datagram.
func (m *Module) traceDump(req netlink.Message) [][]netlink.Message {
	var msgs []netlink.Message
	for _, ft := range m.traces {
		ae := netlink.NewAttributeEncoder()
		m.encodeTrace(ae, ft)
		m.extra(ae, nlproto.A_MAX+1)
		b, err := ae.Encode()
		if err != nil {
			panic(err)
		}
		msgs = append(msgs, genlMessage(nlproto.CMD_TRACE_GET, b, netlink.Multi, req.Header.Sequence, req.Header.PID))
	}
	return [][]netlink.Message{append(msgs, netlink.Message{
		Header: netlink.Header{Length: 20, Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   make([]byte, 4),
	})}
}

// StartTrace starts a trace of s, as TRACE_NEW would, without its
// checks, and returns it.
func (m *Module) StartTrace(s nftypes.TraceSpec) nftypes.Trace {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startTraceLocked(s).report()
}

// startTraceLocked starts a trace of s, with the defaults for what s
// leaves out.
func (m *Module) startTraceLocked(s nftypes.TraceSpec) *ftrace {
	m.nextTrace++
	tr := nftypes.Trace{ID: m.nextTrace, Selector: s.Selector, Budget: s.Budget, Timeout: s.Timeout}
	if tr.Budget == 0 {
		tr.Budget = nlproto.TRACE_BUDGET_DEFAULT
	}
	if tr.Timeout == 0 {
		tr.Timeout = nlproto.TRACE_TIMEOUT_DEFAULT * time.Second
	}
	tr.Left = tr.Budget
	ft := &ftrace{tr: tr, start: time.Now()}
	m.traces = append(m.traces, ft)
	return ft
}

// Traces returns the running traces, as TRACE_GET would.
func (m *Module) Traces() []nftypes.Trace {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []nftypes.Trace
	for _, ft := range m.traces {
		out = append(out, ft.report())
	}
	return out
}

// TraceListeners returns how many sockets joined the "trace" group.
func (m *Module) TraceListeners() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.groupMembersLocked(TraceGroupID))
}

// EmitTrace sends ev to the sockets that joined the "trace" group and
// returns it as sent. An ev.Seq of 0 is the trace's next; a larger one
// than that counts the events in between as the module's lost ones (a
// gap, as its rate limit makes). A trace counts the event in Events, or,
// as the kernel does when nobody joined the group, in Lost. A new packet
// (a TraceHook event at PRE_ROUTING or LOCAL_OUT) of a running trace
// uses its budget, and the last one ends the trace after its event, as
// the kernel's work does (see HoldTraceEnds). A TraceEnd event ends the
// trace, as EndTrace does, with ev's Seq and Time.
func (m *Module) EmitTrace(ev nftypes.TraceEvent) nftypes.TraceEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := slices.IndexFunc(m.traces, func(ft *ftrace) bool { return ft.tr.ID == ev.Trace })
	ending := slices.IndexFunc(m.ending, func(ft *ftrace) bool { return ft.tr.ID == ev.Trace })
	var ft *ftrace
	switch {
	case live >= 0:
		ft = m.traces[live]
	case ending >= 0:
		ft = m.ending[ending]
	}
	spent := false
	if ft != nil {
		if ev.Seq == 0 {
			ev.Seq = ft.seq + 1
		}
		if ev.Seq > ft.seq+1 {
			ft.tr.Lost += ev.Seq - ft.seq - 1
		}
		ft.seq = max(ft.seq, ev.Seq)
		switch {
		case ev.Kind == nftypes.TraceEnd:
			m.traces = slices.DeleteFunc(m.traces, func(o *ftrace) bool { return o == ft })
			m.ending = slices.DeleteFunc(m.ending, func(o *ftrace) bool { return o == ft })
			m.forgetHistoryLocked()
		case len(m.groupMembersLocked(TraceGroupID)) > 0:
			ft.tr.Events++
		default:
			ft.tr.Lost++ // no listener: not sent
		}
		if live >= 0 && ev.Kind == nftypes.TraceHook && (ev.Hook == nftypes.PreRouting || ev.Hook == nftypes.LocalOut) && ft.tr.Left > 0 {
			ft.tr.Left--
			spent = ft.tr.Left == 0
		}
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	m.sendTraceLocked(ev)
	if spent {
		m.endTraceLocked(ft)
	}
	return ev
}

// EndTrace ends the running trace id, as its budget or timeout would: it
// is no longer listed, and its END event goes to the group (see
// HoldTraceEnds). It reports whether there was such a trace.
func (m *Module) EndTrace(id uint32) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.traces, func(ft *ftrace) bool { return ft.tr.ID == id })
	if i < 0 {
		return false
	}
	m.endTraceLocked(m.traces[i])
	return true
}

// HoldTraceEnds makes traces that end from now on (deleted, expired by
// EndTrace, their budget spent) linger, as the kernel's do while their
// packets are in flight: no longer listed, their events still numbered
// and sent by EmitTrace, their END events kept back until
// FlushTraceEnds. false stops it for traces that end later.
func (m *Module) HoldTraceEnds(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holdEnds = on
}

// FlushTraceEnds sends the END events HoldTraceEnds kept back; with lose,
// it drops them instead, as a module that fails to send an END (no
// memory) does, though their numbers are taken. Either way the traces are
// gone.
func (m *Module) FlushTraceEnds(lose bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ending := m.ending
	m.ending = nil
	for _, ft := range ending {
		if lose {
			ft.seq++
			continue
		}
		m.sendEndLocked(ft)
	}
	m.forgetHistoryLocked()
}

// endTraceLocked ends ft: no longer listed, and its END event sent, or
// kept back (HoldTraceEnds). The last trace's end forgets the histories.
func (m *Module) endTraceLocked(ft *ftrace) {
	m.traces = slices.DeleteFunc(m.traces, func(o *ftrace) bool { return o == ft })
	if m.holdEnds {
		m.ending = append(m.ending, ft)
		return
	}
	m.sendEndLocked(ft)
	m.forgetHistoryLocked()
}

// sendEndLocked sends ft's END event, its last.
func (m *Module) sendEndLocked(ft *ftrace) {
	ft.seq++
	m.sendTraceLocked(nftypes.TraceEvent{Trace: ft.tr.ID, Seq: ft.seq, Kind: nftypes.TraceEnd, Time: time.Now().UTC()})
}

// OverrunTraces makes the next receive of every socket in the "trace"
// group fail with ENOBUFS, as when the kernel drops notifications.
func (m *Module) OverrunTraces() {
	m.mu.Lock()
	socks := m.groupMembersLocked(TraceGroupID)
	m.mu.Unlock()
	for _, s := range socks {
		s.deliver(nil)
	}
}

func (m *Module) sendTraceLocked(ev nftypes.TraceEvent) {
	ae := netlink.NewAttributeEncoder()
	m.encodeTraceEvent(ae, ev)
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	msg := genlMessage(nlproto.CMD_TRACE_EVENT, b, 0, 0, 0)
	for _, s := range m.groupMembersLocked(TraceGroupID) {
		s.deliver([]netlink.Message{msg})
	}
}

// encodeTraceEvent writes ev as NFLAB_A_TRACE_EVENT, the attributes
// nflab.h lists for its kind, those ev sets.
func (m *Module) encodeTraceEvent(ae *netlink.AttributeEncoder, ev nftypes.TraceEvent) {
	ae.Nested(nlproto.A_TRACE_EVENT, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(nlproto.TRACE_EV_A_TRACE, ev.Trace)
		nae.Uint64(nlproto.TRACE_EV_A_SEQ, ev.Seq)
		packet := ev.Kind != nftypes.TraceEnd
		if packet {
			nae.Uint64(nlproto.TRACE_EV_A_PACKET, ev.Packet)
		}
		nae.Uint8(nlproto.TRACE_EV_A_KIND, uint8(ev.Kind))
		if packet {
			nae.Uint32(nlproto.TRACE_EV_A_HOOK, uint32(ev.Hook))
		}
		nae.Uint64(nlproto.TRACE_EV_A_TIME, uint64(ev.Time.UnixNano()))
		if !packet {
			m.extra(nae, nlproto.TRACE_EV_A_MAX+1)
			return nil
		}
		if ev.InIndex != 0 {
			nae.Uint32(nlproto.TRACE_EV_A_IIF, ev.InIndex)
		}
		if ev.OutIndex != 0 {
			nae.Uint32(nlproto.TRACE_EV_A_OIF, ev.OutIndex)
		}
		if ev.InIface != "" {
			nae.String(nlproto.TRACE_EV_A_IIFNAME, ev.InIface)
		}
		if ev.OutIface != "" {
			nae.String(nlproto.TRACE_EV_A_OIFNAME, ev.OutIface)
		}
		if ev.Len != 0 {
			nae.Uint32(nlproto.TRACE_EV_A_LEN, ev.Len)
		}
		if ev.Tuple.Proto != 0 {
			m.encodeTuple(nae, nlproto.TRACE_EV_A_TUPLE, ev.Tuple)
		}
		if ev.TupleOut != nil {
			m.encodeTuple(nae, nlproto.TRACE_EV_A_TUPLE_OUT, *ev.TupleOut)
		}
		tcp := ev.Tuple.Proto == nftypes.TCP
		if tcp {
			nae.Uint8(nlproto.TRACE_EV_A_TCP_FLAGS, uint8(ev.TCPFlags))
		}
		if ev.CT != 0 {
			nae.Uint8(nlproto.TRACE_EV_A_CT, uint8(ev.CT))
		}
		if ev.Invalid != 0 {
			nae.Uint8(nlproto.TRACE_EV_A_CT_INVALID, uint8(ev.Invalid))
		}
		if ev.CTID != 0 {
			nae.Uint32(nlproto.TRACE_EV_A_CT_ID, ev.CTID)
			nae.Uint8(nlproto.TRACE_EV_A_CT_DIR, uint8(ev.Dir))
			if tcp {
				nae.Uint8(nlproto.TRACE_EV_A_TCP_STATE_OLD, uint8(ev.TCPStateOld))
				nae.Uint8(nlproto.TRACE_EV_A_TCP_STATE, uint8(ev.TCPState))
			}
			nae.Uint32(nlproto.TRACE_EV_A_CT_STATUS, uint32(ev.CTStatus))
		}
		for _, r := range ev.Rules {
			nae.Nested(nlproto.TRACE_EV_A_RULE, func(rae *netlink.AttributeEncoder) error {
				rae.Uint8(nlproto.RULE_A_TABLE, uint8(r.Table))
				rae.String(nlproto.RULE_A_CHAIN, r.Chain)
				if r.Handle != 0 {
					rae.Uint64(nlproto.RULE_A_HANDLE, r.Handle)
				}
				if r.Comment != "" {
					rae.String(nlproto.RULE_A_COMMENT, r.Comment)
				}
				rae.Uint8(nlproto.RULE_A_VERDICT, uint8(r.Verdict))
				m.extra(rae, nlproto.RULE_A_MAX+1)
				return nil
			})
		}
		if ev.Verdict != 0 {
			nae.Uint8(nlproto.TRACE_EV_A_VERDICT, uint8(ev.Verdict))
		}
		if ev.DropBy != 0 {
			nae.Uint8(nlproto.TRACE_EV_A_DROP_BY, uint8(ev.DropBy))
		}
		if ev.DropReason != "" {
			nae.String(nlproto.TRACE_EV_A_DROP_REASON, ev.DropReason)
		}
		m.extra(nae, nlproto.TRACE_EV_A_MAX+1)
		return nil
	})
}

// SetHookDrops sets the drop counters of hook h, which a module of
// protocol 6 or newer reports.
func (m *Module) SetHookDrops(h nftypes.Hook, d nftypes.HookDrops) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hooks[h].Drops = &d
}
