package main

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// The timeline of "nflab trace": one line per packet, written when the
// packet's way through the namespace ends, from the events of its hooks.
// It is pure formatting: the caller gives it the events and the time, and
// prints what it returns.

// Timing of the timeline.
const (
	// goneGrace is how long a packet nflab let go at its last hook
	// (LOCAL_IN, POST_ROUTING) waits for a GONE event, which the kernel
	// sends at once when it drops it right after (no socket): the two
	// then make one line.
	goneGrace = 250 * time.Millisecond
	// staleAfter is how long a packet whose way has not ended waits for
	// its next event before it is printed as it is, with a trailing "…":
	// longer than the module waits (NFLAB_TRACE_IDLE) before it reports
	// a packet it no longer sees gone, and its work's second, so that
	// such a packet gets one line, its GONE event at its end.
	staleAfter = (nlproto.TRACE_IDLE + 2) * time.Second
	// writtenMemory is how long a packet whose line was written stale,
	// or let go at POST_ROUTING, is remembered: the module follows a
	// packet it does not see for NFLAB_TRACE_IDLE at most.
	writtenMemory = staleAfter + nlproto.TRACE_IDLE*time.Second
)

// timeline holds the packets whose lines are not written yet.
type timeline struct {
	loc   *time.Location // of the timestamps
	multi bool           // lines name the trace: events of any trace come

	pending []*packetLine // in the order their first event came
	// written are the packets whose line was written though their way
	// may go on: unfinished, or let go at POST_ROUTING (a packet may
	// loop back). Their later hooks continue it on a line of their own,
	// which starts with "…".
	written map[packetKey]writtenLine
}

type packetKey struct {
	trace  uint32
	packet uint64
}

// writtenLine is a packet whose line was written though its way may go on.
type writtenLine struct {
	at    time.Time          // when written
	stale bool               // unfinished; else let go at POST_ROUTING
	last  nftypes.TraceEvent // its last event
}

// packetLine is one packet's events so far.
type packetLine struct {
	trace  uint32
	packet uint64
	events []nftypes.TraceEvent
	seen   time.Time // when its last event came (the caller's clock)
	ended  bool      // let go at its last hook: waits goneGrace for a GONE
	cont   bool      // continues a line written before: starts with "…"
}

func newTimeline(loc *time.Location, multi bool) *timeline {
	return &timeline{loc: loc, multi: multi, written: map[packetKey]writtenLine{}}
}

func (t *timeline) find(trace uint32, packet uint64) int {
	return slices.IndexFunc(t.pending, func(p *packetLine) bool { return p.trace == trace && p.packet == packet })
}

// add takes an event that came at now and returns the lines it completes.
func (t *timeline) add(ev nftypes.TraceEvent, now time.Time) []string {
	switch ev.Kind {
	case nftypes.TraceHook:
		var out []string
		i := t.find(ev.Trace, ev.Packet)
		switch {
		case i < 0:
		case t.pending[i].ended && loopsBack(t.pending[i].events, ev):
			t.pending[i].ended = false // its way goes on
		case t.pending[i].ended:
			// A clone's hook, or the packet again: the first way is over.
			out = append(out, t.line(t.pending[i], false))
			t.pending = slices.Delete(t.pending, i, i+1)
			i = -1
		}
		if i < 0 {
			p := &packetLine{trace: ev.Trace, packet: ev.Packet}
			key := packetKey{ev.Trace, ev.Packet}
			if w, ok := t.written[key]; ok && now.Sub(w.at) < writtenMemory &&
				(w.stale || loopsBack([]nftypes.TraceEvent{w.last}, ev)) {
				// Its line was written unfinished, or at POST_ROUTING
				// and it loops back: this goes on from there.
				p.cont = true
			}
			delete(t.written, key)
			t.pending = append(t.pending, p)
			i = len(t.pending) - 1
		}
		p := t.pending[i]
		p.events = append(p.events, ev)
		p.seen = now
		switch {
		case ev.Verdict != nftypes.TraceAccept:
			// Dropped or stolen here: the end of its way.
			out = append(out, t.writeLine(p, false, now))
			t.pending = slices.Delete(t.pending, i, i+1)
		case ev.Hook == nftypes.LocalIn || ev.Hook == nftypes.PostRouting:
			p.ended = true
		}
		return out
	case nftypes.TraceGone:
		i := t.find(ev.Trace, ev.Packet)
		if i < 0 {
			// Its line is written (or its hooks' events were lost).
			return []string{t.prefix(ev.Time, ev.Trace, ev.Packet) + "… " + goneText(ev)}
		}
		p := t.pending[i]
		p.events = append(p.events, ev)
		t.pending = slices.Delete(t.pending, i, i+1)
		return []string{t.line(p, false)}
	case nftypes.TraceEnd:
		// The trace's packets get no more events.
		return append(t.endTrace(ev.Trace), t.clock(ev.Time)+" trace "+strconv.FormatUint(uint64(ev.Trace), 10)+" ended")
	}
	return nil // a kind this client does not know
}

// endTrace returns the lines of the trace's packets left, as they are,
// and forgets them.
func (t *timeline) endTrace(trace uint32) []string {
	var out []string
	t.pending = slices.DeleteFunc(t.pending, func(p *packetLine) bool {
		if p.trace != trace {
			return false
		}
		out = append(out, t.line(p, !p.ended))
		return true
	})
	maps.DeleteFunc(t.written, func(k packetKey, _ writtenLine) bool { return k.trace == trace })
	return out
}

// endLost returns the lines of a trace whose end event was lost (a
// TraceLoss with EndMissing): its packets left, then what happened.
func (t *timeline) endLost(l nftypes.TraceLoss, now time.Time) []string {
	return append(t.endTrace(l.Trace), t.lossLine(l, now))
}

// loopsBack reports whether ev, a packet's hook after its events so far,
// is the packet looping back into the namespace: it left at POST_ROUTING
// and comes in at PRE_ROUTING on loopback, as the module follows it.
func loopsBack(events []nftypes.TraceEvent, ev nftypes.TraceEvent) bool {
	last := events[len(events)-1]
	return last.Kind == nftypes.TraceHook && last.Hook == nftypes.PostRouting &&
		ev.Hook == nftypes.PreRouting && ev.InIface == "lo"
}

// writeLine returns p's line, written at now, and remembers p when its
// way may go on: unfinished, or let go at POST_ROUTING.
func (t *timeline) writeLine(p *packetLine, unfinished bool, now time.Time) string {
	last := p.events[len(p.events)-1]
	if unfinished || (last.Kind == nftypes.TraceHook && last.Hook == nftypes.PostRouting && last.Verdict == nftypes.TraceAccept) {
		t.written[packetKey{p.trace, p.packet}] = writtenLine{at: now, stale: unfinished, last: last}
	}
	return t.line(p, unfinished)
}

// due returns the lines of the packets whose wait is over at now.
func (t *timeline) due(now time.Time) []string {
	var out []string
	t.pending = slices.DeleteFunc(t.pending, func(p *packetLine) bool {
		switch {
		case p.ended && now.Sub(p.seen) >= goneGrace:
			out = append(out, t.writeLine(p, false, now))
		case !p.ended && now.Sub(p.seen) >= staleAfter:
			out = append(out, t.writeLine(p, true, now))
		default:
			return false
		}
		return true
	})
	maps.DeleteFunc(t.written, func(_ packetKey, w writtenLine) bool { return now.Sub(w.at) >= writtenMemory })
	return out
}

// flush returns the lines of every packet left, as they are.
func (t *timeline) flush() []string {
	var out []string
	for _, p := range t.pending {
		out = append(out, t.line(p, !p.ended))
	}
	t.pending = nil
	return out
}

// clock formats a timestamp.
func (t *timeline) clock(at time.Time) string { return at.In(t.loc).Format("15:04:05.000") }

// prefix is a line's start: the time, the trace (when the watch has many)
// and the packet.
func (t *timeline) prefix(at time.Time, trace uint32, packet uint64) string {
	s := t.clock(at) + " "
	if t.multi {
		s += "[" + strconv.FormatUint(uint64(trace), 10) + "] "
	}
	return s + "#" + strconv.FormatUint(packet, 10) + " "
}

// line writes a packet's line: as nflab first saw it, then each hook,
// then where it went if the kernel dropped it after nflab; unfinished
// lines end in "…".
func (t *timeline) line(p *packetLine, unfinished bool) string {
	first := p.events[0]
	var b strings.Builder
	b.WriteString(t.prefix(first.Time, p.trace, p.packet))
	if p.cont {
		b.WriteString("…")
	} else {
		for _, ev := range p.events {
			if ev.Kind == nftypes.TraceHook {
				b.WriteString(packetText(ev.Tuple, ev.TCPFlags))
				break
			}
		}
		b.WriteString(" ")
	}
	for i, ev := range p.events {
		b.WriteString(" ")
		if i > 0 {
			b.WriteString("→ ")
		}
		if ev.Kind == nftypes.TraceGone {
			b.WriteString(goneText(ev))
		} else {
			b.WriteString(hookText(ev))
		}
	}
	if unfinished {
		b.WriteString(" …")
	}
	return b.String()
}

// hookLine is the --hooks form of one event: one line each.
func (t *timeline) hookLine(ev nftypes.TraceEvent) string {
	switch ev.Kind {
	case nftypes.TraceHook:
		s := t.prefix(ev.Time, ev.Trace, ev.Packet) + hookMark(ev) + "  " + packetText(ev.Tuple, ev.TCPFlags)
		for _, f := range []struct{ label, v string }{{"in", ev.InIface}, {"out", ev.OutIface}} {
			if f.v != "" {
				s += " " + f.label + " " + f.v
			}
		}
		if ev.Len != 0 {
			s += " len " + strconv.FormatUint(uint64(ev.Len), 10)
		}
		if ev.CTID != 0 {
			s += " ct " + strconv.FormatUint(uint64(ev.CTID), 10) + " " + enumOf(ev.Dir).String()
		}
		if d := hookDetails(ev); d != "" {
			s += "  " + d
		}
		return s
	case nftypes.TraceGone:
		return t.prefix(ev.Time, ev.Trace, ev.Packet) + goneText(ev)
	case nftypes.TraceEnd:
		return t.clock(ev.Time) + " trace " + strconv.FormatUint(uint64(ev.Trace), 10) + " ended"
	}
	return t.clock(ev.Time) + " trace " + strconv.FormatUint(uint64(ev.Trace), 10) + " event of kind " + enumOf(ev.Kind).String()
}

// lossLine tells of a loss, at now.
func (t *timeline) lossLine(l nftypes.TraceLoss, now time.Time) string {
	if l.EndMissing {
		return t.clock(now) + " trace " + strconv.FormatUint(uint64(l.Trace), 10) + " is gone: its end was lost (the module no longer lists it)"
	}
	if l.Overrun() {
		return t.clock(now) + " lost events of every trace: the receive buffer overflowed (a larger --buffer-size helps)"
	}
	n := strconv.FormatUint(l.Events, 10)
	what := " events"
	if l.Events == 1 {
		what = " event"
	}
	return t.clock(now) + " lost " + n + what + " of trace " + strconv.FormatUint(uint64(l.Trace), 10)
}

// packetText is a packet as nflab saw it: "10.0.1.2:40000 → 10.0.2.2:22
// tcp SYN", "10.0.1.2 → 10.0.2.2 icmp echo-request id 7".
func packetText(tu nftypes.Tuple, flags nftypes.TCPFlags) string {
	switch tu.Proto {
	case nftypes.TCP, nftypes.UDP:
		s := netip.AddrPortFrom(tu.Src, tu.SrcPort).String() + " → " + netip.AddrPortFrom(tu.Dst, tu.DstPort).String() + " " + enumOf(tu.Proto).String()
		if tu.Proto == nftypes.TCP && flags != 0 {
			s += " " + strings.ToUpper(strings.Join(flags.Names(), "/"))
		}
		return s
	case nftypes.ICMP:
		s := tu.Src.String() + " → " + tu.Dst.String() + " icmp " + icmpTypeName(tu.ICMPType)
		if tu.ICMPID != 0 {
			s += " id " + strconv.Itoa(int(tu.ICMPID))
		}
		return s
	case 0:
		return "?"
	}
	return tu.Src.String() + " → " + tu.Dst.String() + " proto " + strconv.Itoa(int(tu.Proto))
}

// icmpTypeName names the ICMP types people meet in traces (RFC 792).
func icmpTypeName(typ uint8) string {
	switch typ {
	case 0:
		return "echo-reply"
	case 3:
		return "unreachable"
	case 5:
		return "redirect"
	case 8:
		return "echo-request"
	case 11:
		return "time-exceeded"
	case 12:
		return "parameter-problem"
	}
	return "type " + strconv.Itoa(int(typ))
}

// hookMark is "HOOK ✓" for a packet let go, "HOOK ✗" for one dropped or
// stolen (rejected).
func hookMark(ev nftypes.TraceEvent) string {
	mark := "?"
	switch ev.Verdict {
	case nftypes.TraceAccept:
		mark = "✓"
	case nftypes.TraceDrop, nftypes.TraceStolen:
		mark = "✗"
	}
	return enumOf(ev.Hook).String() + " " + mark
}

// hookText is one hook of a packet's line: "FORWARD ✗ rule
// filter/forward#7 \"drop ssh\"".
func hookText(ev nftypes.TraceEvent) string {
	s := hookMark(ev)
	if d := hookDetails(ev); d != "" {
		s += " " + d
	}
	return s
}

// hookDetails is what happened at a hook besides the verdict: the
// tracker's result, a TCP state that changed, the tables' decisions, NAT,
// and who dropped the packet if not a rule.
func hookDetails(ev nftypes.TraceEvent) string {
	var parts []string
	switch ev.CT {
	case 0:
	case nftypes.TraceCTInvalid:
		ct := "invalid"
		if ev.Invalid != 0 {
			ct += "(" + enumOf(ev.Invalid).String() + ")"
		}
		parts = append(parts, ct)
	default:
		parts = append(parts, enumOf(ev.CT).String())
	}
	if ev.Tuple.Proto == nftypes.TCP && ev.CTID != 0 && ev.TCPStateOld != ev.TCPState && ev.TCPStateOld != nftypes.TCPNone {
		parts = append(parts, enumOf(ev.TCPStateOld).String()+"→"+enumOf(ev.TCPState).String())
	}
	for _, r := range ev.Rules {
		chain := enumOf(r.Table).String() + "/" + r.Chain
		if r.IsPolicy() {
			parts = append(parts, "policy "+chain+" "+enumOf(r.Verdict).String())
			continue
		}
		rule := "rule " + chain + "#" + strconv.FormatUint(r.Handle, 10)
		if r.Comment != "" {
			rule += " " + strconv.Quote(r.Comment)
		}
		if r.Verdict == nftypes.TraceStolen {
			rule += " reject"
		}
		parts = append(parts, rule)
	}
	if ev.TupleOut != nil {
		if nat := natText(ev.Tuple, *ev.TupleOut); nat != "" {
			parts = append(parts, nat)
		}
	}
	if ev.Verdict == nftypes.TraceDrop {
		switch {
		case ev.DropBy == nftypes.TraceByRule && len(ev.Rules) > 0:
		case ev.DropBy == nftypes.TraceByTracker && ev.CT == nftypes.TraceCTFull:
		case ev.DropBy != 0:
			parts = append(parts, "by "+enumOf(ev.DropBy).String())
		}
	}
	return strings.Join(parts, " ")
}

// natText is what NAT changed at a hook: "dnat 10.0.2.1:8080→10.0.3.2:80",
// "snat 10.0.1.2:40000→10.0.2.1:40000", or both; an ICMP echo's id shows
// where it changed ("snat 10.0.1.2/id=7→192.0.2.1/id=9").
func natText(in, out nftypes.Tuple) string {
	ends := func(a netip.Addr, port uint16, id uint16, idChanged bool) string {
		switch {
		case in.Proto == nftypes.TCP || in.Proto == nftypes.UDP:
			return netip.AddrPortFrom(a, port).String()
		case idChanged:
			return a.String() + "/id=" + strconv.Itoa(int(id))
		}
		return a.String()
	}
	var parts []string
	if in.Dst != out.Dst || in.DstPort != out.DstPort {
		parts = append(parts, "dnat "+ends(in.Dst, in.DstPort, 0, false)+"→"+ends(out.Dst, out.DstPort, 0, false))
	}
	idChanged := in.ICMPID != out.ICMPID
	if in.Src != out.Src || in.SrcPort != out.SrcPort || idChanged {
		parts = append(parts, "snat "+ends(in.Src, in.SrcPort, in.ICMPID, idChanged)+"→"+ends(out.Src, out.SrcPort, out.ICMPID, idChanged))
	}
	return strings.Join(parts, " ")
}

// goneText is where a packet went after nflab let it go: "gone after
// LOCAL_IN: NO_SOCKET", or "unseen between FORWARD and POST_ROUTING"
// when the kernel gave no reason.
func goneText(ev nftypes.TraceEvent) string {
	h := enumOf(ev.Hook).String()
	var where string
	switch ev.DropBy {
	case nftypes.TraceByHook:
		where = "inside " + h
	case nftypes.TraceByBetween:
		where = "between " + h + " and " + nextHooks(ev.Hook)
	default:
		where = "after " + h
	}
	if ev.DropReason == "" {
		return "unseen " + where
	}
	return "gone " + where + ": " + ev.DropReason
}

// nextHooks names the hooks a packet meets after h.
func nextHooks(h nftypes.Hook) string {
	switch h {
	case nftypes.PreRouting:
		return "LOCAL_IN/FORWARD"
	case nftypes.Forward, nftypes.LocalOut:
		return "POST_ROUTING"
	}
	return "the next hook"
}
