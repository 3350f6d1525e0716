package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// The timeline's golden lines, built from the events the module would
// send for the classic "where did my packet die?" cases.

var (
	t0      = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cliAddr = netip.MustParseAddr("10.0.1.2")
	server  = netip.MustParseAddr("10.0.2.2")
	routerA = netip.MustParseAddr("10.0.2.1") // the router's outside address
	backend = netip.MustParseAddr("10.0.3.2")
)

func tcpTuple(src netip.Addr, sport uint16, dst netip.Addr, dport uint16) nftypes.Tuple {
	return nftypes.Tuple{Src: src, Dst: dst, Proto: nftypes.TCP, SrcPort: sport, DstPort: dport}
}

// ev is a hook event of packet 42 of trace 3, ms milliseconds after t0.
func ev(ms int, h nftypes.Hook, v nftypes.TraceVerdict, tu nftypes.Tuple, flags nftypes.TCPFlags) nftypes.TraceEvent {
	return nftypes.TraceEvent{Trace: 3, Packet: 42, Kind: nftypes.TraceHook, Hook: h, Verdict: v,
		Time: t0.Add(time.Duration(ms) * time.Millisecond), Tuple: tu, TCPFlags: flags}
}

func withCT(e nftypes.TraceEvent, ct nftypes.TraceCT) nftypes.TraceEvent {
	e.CT, e.CTID = ct, 17
	return e
}

func withRule(e nftypes.TraceEvent, r nftypes.TraceRule) nftypes.TraceEvent {
	e.Rules = append(e.Rules, r)
	if r.Verdict == nftypes.TraceDrop {
		e.DropBy = nftypes.TraceByRule
	}
	return e
}

func gone(ms int, h nftypes.Hook, by nftypes.TraceDropBy, reason string) nftypes.TraceEvent {
	return nftypes.TraceEvent{Trace: 3, Packet: 42, Kind: nftypes.TraceGone, Hook: h, DropBy: by, DropReason: reason,
		Time: t0.Add(time.Duration(ms) * time.Millisecond)}
}

var (
	syn    = tcpTuple(cliAddr, 40000, server, 22)
	synAck = tcpTuple(server, 22, cliAddr, 40000)
	accept = nftypes.TraceAccept
	drop   = nftypes.TraceDrop
	SYN    = nftypes.TCPSyn
	SYNACK = nftypes.TCPSyn | nftypes.TCPAck
)

func TestTimelineLines(t *testing.T) {
	natOut := func(e nftypes.TraceEvent, out nftypes.Tuple) nftypes.TraceEvent {
		e.TupleOut = &out
		return e
	}
	tests := []struct {
		name   string
		events []nftypes.TraceEvent
		want   string
	}{
		{
			"dropped at FORWARD by a rule",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
				withRule(ev(1, nftypes.Forward, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: drop}),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → FORWARD ✗ rule filter/forward#7 "drop ssh"`,
		},
		{
			"a SYN dropped at LOCAL_IN: the server's TCP never sees it",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
				withRule(ev(1, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 3, Comment: "no ssh", Verdict: drop}),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✗ rule filter/input#3 "no ssh"`,
		},
		{
			"the server's SYN/ACK dropped at LOCAL_OUT: its TCP sits in SYN_RECV",
			[]nftypes.TraceEvent{func() nftypes.TraceEvent {
				e := withCT(ev(0, nftypes.LocalOut, drop, synAck, SYNACK), nftypes.TraceCTFound)
				e.Dir, e.TCPStateOld, e.TCPState = nftypes.DirReply, nftypes.TCPSynSent, nftypes.TCPSynRecv
				return withRule(e, nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "output", Handle: 9, Verdict: drop})
			}()},
			`10:00:00.000 #42 10.0.2.2:22 → 10.0.1.2:40000 tcp SYN/ACK  LOCAL_OUT ✗ found SYN_SENT→SYN_RECV rule filter/output#9`,
		},
		{
			"gone between PRE_ROUTING and FORWARD: rp_filter",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
				gone(1, nftypes.PreRouting, nftypes.TraceByBetween, "IP_RPFILTER"),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → gone between PRE_ROUTING and LOCAL_IN/FORWARD: IP_RPFILTER`,
		},
		{
			"gone after LOCAL_IN: no socket",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew),
				ev(1, nftypes.LocalIn, accept, syn, SYN),
				gone(1, nftypes.LocalIn, nftypes.TraceByAfter, "NO_SOCKET"),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓ → gone after LOCAL_IN: NO_SOCKET`,
		},
		{
			"gone inside FORWARD, another hook's drop; unseen after FORWARD",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTFound),
				ev(1, nftypes.Forward, accept, syn, SYN),
				gone(2, nftypes.Forward, nftypes.TraceByHook, "NETFILTER_DROP"),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ found → FORWARD ✓ → gone inside FORWARD: NETFILTER_DROP`,
		},
		{
			"unseen: gone without a reason",
			[]nftypes.TraceEvent{
				withCT(ev(0, nftypes.LocalOut, accept, syn, SYN), nftypes.TraceCTNew),
				gone(3000, nftypes.LocalOut, nftypes.TraceByBetween, ""),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✓ new → unseen between LOCAL_OUT and POST_ROUTING`,
		},
		{
			"DNAT and SNAT of a forwarded connection, original direction",
			[]nftypes.TraceEvent{
				natOut(withCT(ev(0, nftypes.PreRouting, accept, tcpTuple(cliAddr, 40000, routerA, 8080), nftypes.TCPAck), nftypes.TraceCTFound),
					tcpTuple(cliAddr, 40000, backend, 80)),
				ev(1, nftypes.Forward, accept, tcpTuple(cliAddr, 40000, backend, 80), nftypes.TCPAck),
				natOut(ev(1, nftypes.PostRouting, accept, tcpTuple(cliAddr, 40000, backend, 80), nftypes.TCPAck),
					tcpTuple(routerA, 40000, backend, 80)),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.1:8080 tcp ACK  PRE_ROUTING ✓ found dnat 10.0.2.1:8080→10.0.3.2:80 → FORWARD ✓ → POST_ROUTING ✓ snat 10.0.1.2:40000→10.0.2.1:40000`,
		},
		{
			"the reply of that connection: both undone",
			[]nftypes.TraceEvent{
				natOut(withCT(ev(0, nftypes.PreRouting, accept, tcpTuple(backend, 80, routerA, 40000), SYNACK), nftypes.TraceCTFound),
					tcpTuple(backend, 80, cliAddr, 40000)),
				ev(1, nftypes.Forward, accept, tcpTuple(backend, 80, cliAddr, 40000), SYNACK),
				natOut(ev(1, nftypes.PostRouting, accept, tcpTuple(backend, 80, cliAddr, 40000), SYNACK),
					tcpTuple(routerA, 8080, cliAddr, 40000)),
			},
			`10:00:00.000 #42 10.0.3.2:80 → 10.0.2.1:40000 tcp SYN/ACK  PRE_ROUTING ✓ found dnat 10.0.2.1:40000→10.0.1.2:40000 → FORWARD ✓ → POST_ROUTING ✓ snat 10.0.3.2:80→10.0.2.1:8080`,
		},
		{
			"a new connection's NAT rules, an echo's id moved",
			[]nftypes.TraceEvent{
				func() nftypes.TraceEvent {
					echo := nftypes.Tuple{Src: cliAddr, Dst: server, Proto: nftypes.ICMP, ICMPID: 7, ICMPType: 8}
					e := withCT(ev(0, nftypes.PreRouting, accept, echo, 0), nftypes.TraceCTNew)
					return e
				}(),
				func() nftypes.TraceEvent {
					echo := nftypes.Tuple{Src: cliAddr, Dst: server, Proto: nftypes.ICMP, ICMPID: 7, ICMPType: 8}
					e := natOut(ev(1, nftypes.PostRouting, accept, echo, 0), nftypes.Tuple{Src: routerA, Dst: server, Proto: nftypes.ICMP, ICMPID: 9, ICMPType: 8})
					return withRule(e, nftypes.TraceRule{Table: nftypes.TableNAT, Chain: "postrouting", Handle: 12, Comment: "masq", Verdict: accept})
				}(),
			},
			`10:00:00.000 #42 10.0.1.2 → 10.0.2.2 icmp echo-request id 7  PRE_ROUTING ✓ new → POST_ROUTING ✓ rule nat/postrouting#12 "masq" snat 10.0.1.2/id=7→10.0.2.1/id=9`,
		},
		{
			"invalid, then the policy drops it",
			[]nftypes.TraceEvent{
				func() nftypes.TraceEvent {
					e := ev(0, nftypes.PreRouting, accept, syn, nftypes.TCPAck)
					e.CT, e.Invalid = nftypes.TraceCTInvalid, nftypes.TraceInvalidNoNew
					return e
				}(),
				withRule(ev(1, nftypes.LocalIn, drop, syn, nftypes.TCPAck), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Verdict: drop}),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp ACK  PRE_ROUTING ✓ invalid(no-new) → LOCAL_IN ✗ policy filter/input drop`,
		},
		{
			"rejected, and the table full",
			[]nftypes.TraceEvent{
				withRule(ev(0, nftypes.LocalIn, nftypes.TraceStolen, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 4, Verdict: nftypes.TraceStolen}),
			},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_IN ✗ rule filter/input#4 reject`,
		},
		{
			"dropped by the tracker, its table full",
			[]nftypes.TraceEvent{func() nftypes.TraceEvent {
				e := ev(0, nftypes.PreRouting, drop, syn, SYN)
				e.CT, e.DropBy = nftypes.TraceCTFull, nftypes.TraceByTracker
				return e
			}()},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✗ full`,
		},
		{
			"dropped by NAT",
			[]nftypes.TraceEvent{func() nftypes.TraceEvent {
				e := withCT(ev(0, nftypes.PostRouting, drop, syn, SYN), nftypes.TraceCTNew)
				e.DropBy = nftypes.TraceByNAT
				return e
			}()},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  POST_ROUTING ✗ new by nat`,
		},
		{
			"no route after the mangle table changed it",
			[]nftypes.TraceEvent{func() nftypes.TraceEvent {
				e := withRule(ev(0, nftypes.LocalOut, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableMangle, Chain: "output", Handle: 5, Verdict: accept})
				e.DropBy = nftypes.TraceByRoute
				return e
			}()},
			`10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✗ rule mangle/output#5 by route`,
		},
	}
	for _, tt := range tests {
		tl := newTimeline(time.UTC, false)
		var got []string
		for _, e := range tt.events {
			got = append(got, tl.add(e, e.Time)...)
		}
		// A packet let go at its last hook waits for a GONE event.
		got = append(got, tl.due(t0.Add(time.Hour))...)
		if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestTimelineTiming checks when lines are written: at once when a packet
// is dropped or gone, after goneGrace when it was let go at its last hook,
// after staleAfter ("…") when its way did not end; a late GONE event
// gets a line of its own.
func TestTimelineTiming(t *testing.T) {
	tl := newTimeline(time.UTC, false)
	now := t0
	step := func(d time.Duration) time.Time { now = now.Add(d); return now }
	lines := tl.add(withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew), now)
	lines = append(lines, tl.add(ev(0, nftypes.LocalIn, accept, syn, SYN), now)...)
	if len(lines) != 0 {
		t.Fatalf("lines before the wait: %q", lines)
	}
	if got := tl.due(step(goneGrace - time.Millisecond)); len(got) != 0 {
		t.Fatalf("lines before goneGrace: %q", got)
	}
	want := []string{"10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → LOCAL_IN ✓"}
	if diff := cmp.Diff(want, tl.due(step(time.Millisecond))); diff != "" {
		t.Fatalf("after goneGrace (-want +got):\n%s", diff)
	}
	// The GONE event comes late: a line of its own.
	want = []string{"10:00:01.500 #42 … gone after LOCAL_IN: TCP_LISTEN_OVERFLOW"}
	if diff := cmp.Diff(want, tl.add(gone(1500, nftypes.LocalIn, nftypes.TraceByAfter, "TCP_LISTEN_OVERFLOW"), step(time.Second))); diff != "" {
		t.Errorf("late GONE (-want +got):\n%s", diff)
	}

	// A packet that stops at FORWARD is written, unfinished, after
	// staleAfter without an event.
	p := ev(5000, nftypes.PreRouting, accept, syn, SYN)
	p.Packet = 43
	tl.add(p, step(time.Second))
	p.Hook, p.Time = nftypes.Forward, p.Time.Add(time.Millisecond)
	tl.add(p, step(time.Second))
	if got := tl.due(step(staleAfter - time.Millisecond)); len(got) != 0 {
		t.Fatalf("lines before staleAfter: %q", got)
	}
	want = []string{"10:00:05.000 #43 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ → FORWARD ✓ …"}
	if diff := cmp.Diff(want, tl.due(step(time.Millisecond))); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}

	// A clone's hooks after the packet's way ended start a line of their
	// own; the trace's end writes what is pending, then says so.
	tl.add(ev(0, nftypes.LocalOut, accept, syn, SYN), now)
	tl.add(ev(0, nftypes.PostRouting, accept, syn, SYN), now)
	got := tl.add(ev(1, nftypes.PreRouting, accept, syn, SYN), now) // looped back
	want = []string{"10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✓ → POST_ROUTING ✓"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clone (-want +got):\n%s", diff)
	}
	other := ev(2, nftypes.PreRouting, accept, syn, SYN)
	other.Trace = 4
	tl.add(other, now)
	got = tl.add(nftypes.TraceEvent{Trace: 3, Seq: 9, Kind: nftypes.TraceEnd, Time: t0.Add(9 * time.Second)}, now)
	want = []string{
		"10:00:00.001 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …",
		"10:00:09.000 trace 3 ended",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("end (-want +got):\n%s", diff)
	}
	// What is left at the end of the watch.
	want = []string{"10:00:00.002 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …"}
	if diff := cmp.Diff(want, tl.flush()); diff != "" {
		t.Errorf("flush (-want +got):\n%s", diff)
	}
}

// TestTimelineWaysOn checks the lines of packets whose way goes on
// after a line: a packet the module stopped seeing is reported gone
// before its line is written unfinished, so that it gets one line; a
// packet that loops back continues its line; and hooks after a line
// written unfinished continue it on a line of their own.
func TestTimelineWaysOn(t *testing.T) {
	tl := newTimeline(time.UTC, false)
	now := t0
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	// Unseen: the module says so NFLAB_TRACE_IDLE (3 s) after, within
	// its work's second; the line waits for it.
	tl.add(withCT(ev(0, nftypes.PreRouting, accept, syn, SYN), nftypes.TraceCTNew), now)
	if got := tl.due(at(4 * time.Second)); len(got) != 0 {
		t.Errorf("lines 4 s after a packet's last event: %q; want none before the module says it is gone", got)
	}
	want := []string{"10:00:00.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ new → unseen between PRE_ROUTING and LOCAL_IN/FORWARD"}
	if diff := cmp.Diff(want, tl.add(gone(4000, nftypes.PreRouting, nftypes.TraceByBetween, ""), at(4*time.Second))); diff != "" {
		t.Errorf("unseen (-want +got):\n%s", diff)
	}

	// Looped back: out at POST_ROUTING, in on lo at PRE_ROUTING, one line.
	lo := func(e nftypes.TraceEvent) nftypes.TraceEvent { e.InIface = "lo"; e.Packet = 50; return e }
	out := func(e nftypes.TraceEvent) nftypes.TraceEvent { e.Packet = 50; return e }
	var got []string
	for _, e := range []nftypes.TraceEvent{
		out(ev(5000, nftypes.LocalOut, accept, syn, SYN)), out(ev(5001, nftypes.PostRouting, accept, syn, SYN)),
		lo(ev(5002, nftypes.PreRouting, accept, syn, SYN)), lo(ev(5003, nftypes.LocalIn, accept, syn, SYN)),
	} {
		got = append(got, tl.add(e, e.Time)...)
	}
	got = append(got, tl.due(at(6*time.Second))...)
	want = []string{"10:00:05.000 #50 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✓ → POST_ROUTING ✓ → PRE_ROUTING ✓ → LOCAL_IN ✓"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("looped back (-want +got):\n%s", diff)
	}
	// ... and, looped back after its line was written, a line of its own.
	got = nil
	for _, e := range []nftypes.TraceEvent{out(ev(7000, nftypes.LocalOut, accept, syn, SYN)), out(ev(7001, nftypes.PostRouting, accept, syn, SYN))} {
		got = append(got, tl.add(e, e.Time)...)
	}
	got = append(got, tl.due(at(8*time.Second))...)
	got = append(got, tl.add(withRule(lo(ev(8100, nftypes.PreRouting, drop, syn, SYN)),
		nftypes.TraceRule{Table: nftypes.TableRaw, Chain: "prerouting", Handle: 2, Verdict: drop}), at(8100*time.Millisecond))...)
	want = []string{
		"10:00:07.000 #50 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_OUT ✓ → POST_ROUTING ✓",
		"10:00:08.100 #50 … PRE_ROUTING ✗ rule raw/prerouting#2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("looped back late (-want +got):\n%s", diff)
	}

	// Written unfinished, then seen again: the rest on a line of its own
	// that says it goes on, as a late GONE's does.
	p := ev(10000, nftypes.PreRouting, accept, syn, SYN)
	p.Packet = 60
	tl.add(p, at(10*time.Second))
	got = tl.due(at(10*time.Second + staleAfter))
	p.Hook, p.Time = nftypes.Forward, at(16*time.Second)
	got = append(got, tl.add(p, p.Time)...)
	p.Hook, p.Time = nftypes.PostRouting, at(16*time.Second+time.Millisecond)
	got = append(got, tl.add(p, p.Time)...)
	got = append(got, tl.due(at(17*time.Second))...)
	want = []string{
		"10:00:10.000 #60 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …",
		"10:00:16.000 #60 … FORWARD ✓ → POST_ROUTING ✓",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stale, then on (-want +got):\n%s", diff)
	}
	// A clone after the line: a line of its own, as a new packet.
	c := p
	c.Hook, c.Time = nftypes.PreRouting, at(17*time.Second)
	tl.add(c, c.Time)
	want = []string{"10:00:17.000 #60 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …"}
	if diff := cmp.Diff(want, tl.flush()); diff != "" {
		t.Errorf("clone after its line (-want +got):\n%s", diff)
	}

	// A trace whose end was lost: its packets, then what happened.
	tl.add(ev(20000, nftypes.PreRouting, accept, syn, SYN), at(20*time.Second))
	want = []string{
		"10:00:20.000 #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  PRE_ROUTING ✓ …",
		"10:00:21.000 trace 3 is gone: its end was lost (the module no longer lists it)",
	}
	if diff := cmp.Diff(want, tl.endLost(nftypes.TraceLoss{Trace: 3, EndMissing: true}, at(21*time.Second))); diff != "" {
		t.Errorf("end lost (-want +got):\n%s", diff)
	}
}

func TestTimelineOtherLines(t *testing.T) {
	tl := newTimeline(time.UTC, true)
	for _, tt := range []struct{ got, want string }{
		{tl.lossLine(nftypes.TraceLoss{Trace: 3, Events: 5, FirstSeq: 10, LastSeq: 14}, t0), "10:00:00.000 lost 5 events of trace 3"},
		{tl.lossLine(nftypes.TraceLoss{Trace: 3, Events: 1, FirstSeq: 10, LastSeq: 10}, t0), "10:00:00.000 lost 1 event of trace 3"},
		{tl.lossLine(nftypes.TraceLoss{}, t0), "10:00:00.000 lost events of every trace: the receive buffer overflowed (a larger --buffer-size helps)"},
		// Watching every trace, lines name theirs.
		{tl.add(withRule(ev(0, nftypes.LocalIn, drop, syn, SYN), nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "input", Handle: 3, Verdict: drop}), t0)[0],
			"10:00:00.000 [3] #42 10.0.1.2:40000 → 10.0.2.2:22 tcp SYN  LOCAL_IN ✗ rule filter/input#3"},
		{packetText(nftypes.Tuple{Src: cliAddr, Dst: server, Proto: 47}, 0), "10.0.1.2 → 10.0.2.2 proto 47"},
		{packetText(nftypes.Tuple{Src: server, Dst: cliAddr, Proto: nftypes.ICMP, ICMPType: 3}, 0), "10.0.2.2 → 10.0.1.2 icmp unreachable"},
		{packetText(nftypes.Tuple{Src: server, Dst: cliAddr, Proto: nftypes.ICMP, ICMPType: 42}, 0), "10.0.2.2 → 10.0.1.2 icmp type 42"},
		{packetText(nftypes.Tuple{Src: cliAddr, Dst: server, Proto: nftypes.UDP, SrcPort: 5000, DstPort: 53}, 0), "10.0.1.2:5000 → 10.0.2.2:53 udp"},
		{packetText(syn, nftypes.TCPFin|nftypes.TCPAck|nftypes.TCPPsh), "10.0.1.2:40000 → 10.0.2.2:22 tcp FIN/PSH/ACK"},
		{hookMark(nftypes.TraceEvent{Hook: 9, Verdict: 7}), "9 ?"},
	} {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
	}
}

func TestTimelineHookLines(t *testing.T) {
	tl := newTimeline(time.UTC, false)
	e := withCT(ev(0, nftypes.Forward, drop, syn, SYN), nftypes.TraceCTFound)
	e.InIface, e.OutIface, e.Len, e.Dir = "eth0", "eth1", 60, nftypes.DirOriginal
	e = withRule(e, nftypes.TraceRule{Table: nftypes.TableFilter, Chain: "forward", Handle: 7, Comment: "drop ssh", Verdict: drop})
	for _, tt := range []struct {
		ev   nftypes.TraceEvent
		want string
	}{
		{e, `10:00:00.000 #42 FORWARD ✗  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN in eth0 out eth1 len 60 ct 17 original  found rule filter/forward#7 "drop ssh"`},
		{ev(1, nftypes.PostRouting, accept, syn, SYN), `10:00:00.001 #42 POST_ROUTING ✓  10.0.1.2:40000 → 10.0.2.2:22 tcp SYN`},
		{gone(2, nftypes.PostRouting, nftypes.TraceByAfter, "QDISC_DROP"), `10:00:00.002 #42 gone after POST_ROUTING: QDISC_DROP`},
		{nftypes.TraceEvent{Trace: 3, Kind: nftypes.TraceEnd, Time: t0}, `10:00:00.000 trace 3 ended`},
		{nftypes.TraceEvent{Trace: 3, Kind: 9, Time: t0}, `10:00:00.000 trace 3 event of kind 9`},
	} {
		if got := tl.hookLine(tt.ev); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}
