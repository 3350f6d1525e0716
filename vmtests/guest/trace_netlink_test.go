//go:build nflabvm

// Traces at the protocol level: a listener of the "trace" group sees each
// hook a followed packet crosses, nflab's drops with their rule, and the
// trace's end, with nothing but genetlink between it and the module.
package guest

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/nlproto"
)

type nlTraceEvent struct {
	trace, seq, packet uint64
	kind, hook         uint32
	verdict, dropBy    uint8
	ct                 uint8
	ruleComment        string
}

// traceConn is a genetlink socket in ns that joined the trace group.
func traceConn(t *testing.T, ns string) (*genetlink.Conn, genetlink.Family) {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := genetlink.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fam, err := c.GetFamily(nlproto.GENL_NAME)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range fam.Groups {
		if g.Name == nlproto.MCGRP_TRACE {
			if err := c.JoinGroup(g.ID); err != nil {
				t.Fatal(err)
			}
			return c, fam
		}
	}
	t.Fatalf("family %s has no group %q: %+v", nlproto.GENL_NAME, nlproto.MCGRP_TRACE, fam.Groups)
	return nil, fam
}

func decodeTraceEvent(t *testing.T, m genetlink.Message) (nlTraceEvent, bool) {
	var e nlTraceEvent
	if m.Header.Command != nlproto.CMD_TRACE_EVENT {
		return e, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		if ad.Type() != nlproto.A_TRACE_EVENT {
			continue
		}
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				switch nad.Type() {
				case nlproto.TRACE_EV_A_TRACE:
					e.trace = uint64(nad.Uint32())
				case nlproto.TRACE_EV_A_SEQ:
					e.seq = nad.Uint64()
				case nlproto.TRACE_EV_A_PACKET:
					e.packet = nad.Uint64()
				case nlproto.TRACE_EV_A_KIND:
					e.kind = uint32(nad.Uint8())
				case nlproto.TRACE_EV_A_HOOK:
					e.hook = nad.Uint32()
				case nlproto.TRACE_EV_A_VERDICT:
					e.verdict = nad.Uint8()
				case nlproto.TRACE_EV_A_DROP_BY:
					e.dropBy = nad.Uint8()
				case nlproto.TRACE_EV_A_CT:
					e.ct = nad.Uint8()
				case nlproto.TRACE_EV_A_RULE:
					nad.Nested(func(rad *netlink.AttributeDecoder) error {
						for rad.Next() {
							if rad.Type() == nlproto.RULE_A_COMMENT {
								e.ruleComment = rad.String()
							}
						}
						return nil
					})
				}
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		t.Fatalf("decoding a trace event: %v", err)
	}
	return e, true
}

// TestTraceNetlinkEvents: three pings through the router, then one dropped
// by a rule there, with a budget of 7 packets: each echo request and
// reply (chosen by its connection) crosses PRE_ROUTING, FORWARD and
// POST_ROUTING, the last request is dropped at FORWARD by its rule, and
// the trace ends.
func TestTraceNetlinkEvents(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	c, fam := traceConn(t, string(tp.router))

	ae := netlink.NewAttributeEncoder()
	ae.Nested(nlproto.A_TRACE, func(nae *netlink.AttributeEncoder) error {
		nae.Uint8(nlproto.TRACE_A_PROTO, 1)                 // ICMP
		nae.Bytes(nlproto.TRACE_A_SRC, []byte{10, 0, 1, 2}) // the client's pings
		nae.Uint32(nlproto.TRACE_A_BUDGET, 7)
		return nil
	})
	data, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: nlproto.CMD_TRACE_NEW, Version: nlproto.GENL_VERSION},
		Data:   data,
	}, fam.ID, netlink.Request)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("TRACE_NEW: %v, %d replies", err, len(msgs))
	}

	tp.ping("client", "10.0.2.2", 3)
	applyIn(t, tp.router, `rule filter forward icmp type echo-request drop comment "no echo"`)
	if pingOK("client", "10.0.2.2") {
		t.Fatal("a ping went through the router's drop rule")
	}

	byPacket := map[uint64][]nlTraceEvent{}
	var order []uint64
	ended := false
	lastSeq := uint64(0)
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	for !ended {
		ms, _, err := c.Receive()
		if err != nil {
			var ne *netlink.OpError
			if errors.As(err, &ne) && errors.Is(ne.Err, os.ErrDeadlineExceeded) {
				break
			}
			t.Fatalf("receiving trace events: %v", err)
		}
		for _, m := range ms {
			e, ok := decodeTraceEvent(t, m)
			if !ok {
				continue
			}
			if e.seq != lastSeq+1 {
				t.Errorf("event seq %d after %d: events lost", e.seq, lastSeq)
			}
			lastSeq = e.seq
			if e.kind == nlproto.TRACE_KIND_END {
				ended = true
				continue
			}
			if _, seen := byPacket[e.packet]; !seen {
				order = append(order, e.packet)
			}
			byPacket[e.packet] = append(byPacket[e.packet], e)
		}
	}
	if !ended {
		t.Errorf("the trace did not end with its budget spent")
	}
	if len(order) != 7 {
		t.Fatalf("followed %d packets, want 7 (the budget): %+v", len(order), byPacket)
	}
	for i, id := range order {
		j := byPacket[id]
		if i < 6 {
			// One ping, one ICMP id: one connection.
			wantCT := uint8(nlproto.TRACE_CT_FOUND)
			if i == 0 {
				wantCT = nlproto.TRACE_CT_NEW
			}
			if len(j) != 3 || j[0].hook != nlproto.HOOK_PRE_ROUTING || j[1].hook != nlproto.HOOK_FORWARD ||
				j[2].hook != nlproto.HOOK_POST_ROUTING || j[2].verdict != nlproto.TRACE_VERDICT_ACCEPT ||
				j[0].ct != wantCT {
				t.Errorf("echo packet %d: want PRE_ROUTING (ct %d), FORWARD, POST_ROUTING accepted: %+v", i, wantCT, j)
			}
			continue
		}
		if len(j) != 2 || j[1].hook != nlproto.HOOK_FORWARD || j[1].verdict != nlproto.TRACE_VERDICT_DROP ||
			j[1].dropBy != nlproto.TRACE_BY_RULE || j[1].ruleComment != "no echo" {
			t.Errorf("the last echo request: want PRE_ROUTING, then FORWARD dropped by rule \"no echo\": %+v", j)
		}
	}
}
