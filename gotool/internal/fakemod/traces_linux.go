//go:build linux

package fakemod

import (
	"fmt"
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

// tracePolicy is the trace nest's policy, as nflab.h gives its types and
// ranges; the counters of replies are not in it, so requests cannot
// carry them.
var tracePolicy = [nlproto.TRACE_A_MAX + 1]attrPolicy{
	nlproto.TRACE_A_ID:          {typ: policyU32},
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
}

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
			return fails(req, unix.ENOSPC, fmt.Sprintf("a namespace runs at most %d traces", nlproto.TRACES_MAX))
		}
		m.encodeTrace(ae, m.startTraceLocked(nftypes.TraceSpec{Selector: tr.Selector, Budget: tr.Budget, Timeout: tr.Timeout}))
	case nlproto.CMD_TRACE_DEL:
		var gone []*ftrace
		if b, ok := attrs[nlproto.A_TRACE]; ok {
			n, err := parsePolicy(b, tracePolicy[:])
			if err != nil {
				return rejects(req, err)
			}
			if len(n) != 1 || !n.has(nlproto.TRACE_A_ID) {
				return fails(req, unix.EINVAL, "TRACE_DEL takes the trace's ID alone")
			}
			id, _ := n.u32(nlproto.TRACE_A_ID)
			i := slices.IndexFunc(m.traces, func(ft *ftrace) bool { return ft.tr.ID == id })
			if i < 0 {
				return fails(req, unix.ENOENT, "no such trace")
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
		return nftypes.Trace{}, einval("a new trace gets its ID from the module")
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
			return nftypes.Trace{}, einval("prefix length without an address")
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
		return nftypes.Trace{}, einval("ports need protocol TCP or UDP")
	}
	if n.has(nlproto.TRACE_A_IFNAME) {
		s.Iface = cString(n[nlproto.TRACE_A_IFNAME][0])
	}
	budget, _ := n.u32(nlproto.TRACE_A_BUDGET)
	timeout, _ := n.u32(nlproto.TRACE_A_TIMEOUT)
	tr.Budget, tr.Timeout = int(budget), time.Duration(timeout)*time.Second
	return tr, nil
}

// report returns the trace as TRACE_GET reports it now.
func (ft *ftrace) report() nftypes.Trace {
	tr := ft.tr
	tr.Expires = max(0, tr.Timeout-time.Since(ft.start)).Truncate(time.Millisecond)
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
			if p.p.IsValid() {
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
		nae.Uint32(nlproto.TRACE_A_EXPIRES, uint32(tr.Expires/time.Millisecond))
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
// gap, as its rate limit makes). A running trace counts the event, and a
// new packet (a TraceHook event at PRE_ROUTING or LOCAL_OUT) uses its
// budget. A TraceEnd event ends the trace, as EndTrace does.
func (m *Module) EmitTrace(ev nftypes.TraceEvent) nftypes.TraceEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.traces, func(ft *ftrace) bool { return ft.tr.ID == ev.Trace })
	if i >= 0 {
		ft := m.traces[i]
		if ev.Seq == 0 {
			ev.Seq = ft.seq + 1
		}
		if ev.Seq > ft.seq+1 {
			ft.tr.Lost += ev.Seq - ft.seq - 1
		}
		ft.seq = max(ft.seq, ev.Seq)
		ft.tr.Events++
		if ev.Kind == nftypes.TraceHook && (ev.Hook == nftypes.PreRouting || ev.Hook == nftypes.LocalOut) && ft.tr.Left > 0 {
			ft.tr.Left--
		}
		if ev.Kind == nftypes.TraceEnd {
			m.traces = slices.Delete(m.traces, i, i+1)
			m.forgetHistoryLocked()
		}
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	m.sendTraceLocked(ev)
	return ev
}

// EndTrace ends the trace id, as its budget or timeout would: its END
// event goes to the group, and it is no longer listed. It reports whether
// there was such a trace.
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

// endTraceLocked removes ft and sends its END event; the last trace's end
// forgets the histories.
func (m *Module) endTraceLocked(ft *ftrace) {
	m.traces = slices.DeleteFunc(m.traces, func(o *ftrace) bool { return o == ft })
	m.forgetHistoryLocked()
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
