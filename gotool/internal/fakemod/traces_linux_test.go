//go:build linux

package fakemod_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// TestTraceChecks checks the fake's own checks of TRACE_NEW, made as the
// kernel's policy and code make them, on requests the client's checks do
// not stop (the backend sends what it is given).
func TestTraceChecks(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		spec  nftypes.TraceSpec
		errno unix.Errno
		msg   string
	}{
		{nftypes.TraceSpec{Budget: nftypes.MaxTraceBudget + 1}, unix.ERANGE, "integer out of range"},
		{nftypes.TraceSpec{Timeout: nftypes.MaxTraceTimeout + time.Second}, unix.ERANGE, "integer out of range"},
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Port: 22}}, unix.EINVAL, "ports need protocol tcp or udp"},
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Proto: nftypes.ICMP, DstPort: 22}}, unix.EINVAL, "ports need protocol tcp or udp"},
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Host: netip.MustParsePrefix("10.0.0.1/8")}}, unix.EINVAL, "address has bits outside its prefix"},
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Iface: "0123456789abcdef"}}, unix.EINVAL, "Attribute failed policy validation"},
	}
	c := client(t)
	for _, tt := range tests {
		_, err := c.AddTrace(ctx, tt.spec)
		var oe *nlclient.OpError
		if !errors.As(err, &oe) || oe.Err != tt.errno || oe.Message != tt.msg {
			t.Errorf("AddTrace(%+v) = %v; want %v, %q", tt.spec, err, tt.errno, tt.msg)
		}
	}
	// Defaults, the limit, and deletion.
	tr, err := c.AddTrace(ctx, nftypes.TraceSpec{})
	if err != nil || tr.ID != 1 || tr.Budget != nftypes.DefaultTraceBudget || tr.Left != tr.Budget || tr.Timeout != nftypes.DefaultTraceTimeout {
		t.Fatalf("AddTrace with defaults = %+v, %v", tr, err)
	}
	for range nftypes.MaxTraces - 1 {
		if _, err := c.AddTrace(ctx, nftypes.TraceSpec{Budget: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.AddTrace(ctx, nftypes.TraceSpec{})
	var oe *nlclient.OpError
	if !errors.As(err, &oe) || oe.Err != unix.ENOSPC || oe.Message != "too many traces in this namespace" {
		t.Errorf("AddTrace beyond the limit = %v, want ENOSPC", err)
	}
	if err := c.DeleteTrace(ctx, 99); !errors.As(err, &oe) || oe.Err != unix.ENOENT || oe.Message != "no such trace in this namespace" {
		t.Errorf("DeleteTrace(99) = %v, want ENOENT", err)
	}
	if err := c.DeleteTrace(ctx, 1); err != nil {
		t.Errorf("DeleteTrace(1) = %v", err)
	}
	if n, err := c.DeleteTraces(ctx); err != nil || n != nftypes.MaxTraces-1 {
		t.Errorf("DeleteTraces = %d, %v", n, err)
	}
	// IDs are not reused.
	if tr, err := c.AddTrace(ctx, nftypes.TraceSpec{}); err != nil || tr.ID != nftypes.MaxTraces+1 {
		t.Errorf("AddTrace after deletes = %+v, %v", tr, err)
	}
}

// TestTracePolicy sends trace requests as raw bytes, past what the client
// would send, and checks the errors against kmod/trace.c's policy and
// checks.
func TestTracePolicy(t *testing.T) {
	nest := func(attrs ...attr) []byte {
		return rawNest(nil, attr{nlproto.A_TRACE | unix.NLA_F_NESTED, rawNest(nil, attrs...)})
	}
	const replyOnly = "attribute is set by the module, not by a request"
	for _, tt := range []struct {
		name  string
		cmd   uint8
		req   []byte
		errno unix.Errno
		msg   string
	}{
		{"ID 0 in a new trace", nlproto.CMD_TRACE_NEW, nest(u32(nlproto.TRACE_A_ID, 0)), unix.ERANGE, "integer out of range"},
		{"an ID in a new trace", nlproto.CMD_TRACE_NEW, nest(u32(nlproto.TRACE_A_ID, 5)), unix.EINVAL, "the module numbers traces: no ID in a new one"},
		{"LEFT in a request", nlproto.CMD_TRACE_NEW, nest(u32(nlproto.TRACE_A_LEFT, 5)), unix.EINVAL, replyOnly},
		{"EXPIRES in a request", nlproto.CMD_TRACE_NEW, nest(u32(nlproto.TRACE_A_EXPIRES, 5)), unix.EINVAL, replyOnly},
		{"EVENTS in a request", nlproto.CMD_TRACE_NEW, nest(attr{nlproto.TRACE_A_EVENTS, make([]byte, 8)}), unix.EINVAL, replyOnly},
		{"LOST in a deletion", nlproto.CMD_TRACE_DEL, nest(u32(nlproto.TRACE_A_ID, 1), attr{nlproto.TRACE_A_LOST, make([]byte, 8)}), unix.EINVAL, replyOnly},
		{"an empty interface name", nlproto.CMD_TRACE_NEW, nest(str(nlproto.TRACE_A_IFNAME, "")), unix.EINVAL, "empty interface name"},
		{"a prefix length alone", nlproto.CMD_TRACE_NEW, nest(u8(nlproto.TRACE_A_DST_PREFIX, 8)), unix.EINVAL, "prefix length without its address"},
		{"ID 0 in a deletion", nlproto.CMD_TRACE_DEL, nest(u32(nlproto.TRACE_A_ID, 0)), unix.ERANGE, "integer out of range"},
		{"a deletion by selector", nlproto.CMD_TRACE_DEL, nest(u32(nlproto.TRACE_A_ID, 1), u8(nlproto.TRACE_A_PROTO, 6)), unix.EINVAL, "a trace is deleted by its ID only"},
		{"a deletion without ID", nlproto.CMD_TRACE_DEL, nest(), unix.EINVAL, "missing trace ID"},
		{"a deletion of no trace", nlproto.CMD_TRACE_DEL, nest(u32(nlproto.TRACE_A_ID, 9)), unix.ENOENT, "no such trace in this namespace"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := fakemod.New(fakemod.Options{}).Dial(0)
			if err != nil {
				t.Fatal(err)
			}
			c := genetlink.NewConn(nc)
			defer c.Close()
			_, err = c.Execute(genetlink.Message{Header: genetlink.Header{Command: tt.cmd, Version: nlproto.GENL_VERSION}, Data: tt.req},
				fakemod.FamilyID, netlink.Request)
			var oe *netlink.OpError
			if !errors.As(err, &oe) || oe.Err != tt.errno || oe.Message != tt.msg {
				t.Errorf("got %v, want %v: %q", err, tt.errno, tt.msg)
			}
		})
	}
}

// TestTraceEcho checks what a new trace's reply holds: a prefix of length
// 0 (every address) is not echoed, as the kernel keeps only its mask.
func TestTraceEcho(t *testing.T) {
	c := client(t)
	tr, err := c.AddTrace(context.Background(), nftypes.TraceSpec{Selector: nftypes.TraceSelector{
		Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("10.0.0.0/8"), Host: netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (nftypes.TraceSelector{Dst: netip.MustParsePrefix("10.0.0.0/8")}); tr.Selector != want {
		t.Errorf("echoed selector %+v, want %+v", tr.Selector, want)
	}
}

// TestTraceLifecycle checks the fake's traces against the kernel's: an
// event nobody listens to is counted lost, the last packet of the budget
// ends the trace after its event, and an ended trace may linger, its
// events numbered, until its END goes (or is lost).
func TestTraceLifecycle(t *testing.T) {
	m := fakemod.New(fakemod.Options{})
	tr := m.StartTrace(nftypes.TraceSpec{Budget: 2})
	ev := func(packet uint64, h nftypes.Hook) nftypes.TraceEvent {
		return nftypes.TraceEvent{Trace: tr.ID, Packet: packet, Kind: nftypes.TraceHook, Hook: h, Verdict: nftypes.TraceAccept}
	}
	m.EmitTrace(ev(1, nftypes.PreRouting))
	m.EmitTrace(ev(1, nftypes.LocalIn))
	if got := m.Traces(); len(got) != 1 || got[0].Events != 0 || got[0].Lost != 2 || got[0].Left != 1 {
		t.Fatalf("traces after 2 events nobody heard = %+v; want 2 lost, 1 packet left", got)
	}

	// A listener, on a raw socket of the group.
	nc, err := m.Dial(0)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.JoinGroup(fakemod.TraceGroupID); err != nil {
		t.Fatal(err)
	}
	seqs := func(n int) []string {
		t.Helper()
		var got []string
		for range n {
			if err := nc.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			msgs, err := nc.Receive()
			if err != nil {
				t.Fatalf("receive: %v", err)
			}
			for _, msg := range msgs {
				ad, err := netlink.NewAttributeDecoder(msg.Data[4:])
				if err != nil {
					t.Fatal(err)
				}
				for ad.Next() {
					nad, _ := netlink.NewAttributeDecoder(ad.Bytes())
					var seq uint64
					var kind uint8
					for nad.Next() {
						switch nad.Type() {
						case nlproto.TRACE_EV_A_SEQ:
							seq = nad.Uint64()
						case nlproto.TRACE_EV_A_KIND:
							kind = nad.Uint8()
						}
					}
					got = append(got, nftypes.TraceKind(kind).String()+strconv.FormatUint(seq, 10))
				}
			}
		}
		return got
	}
	m.HoldTraceEnds(true)
	m.EmitTrace(ev(2, nftypes.PreRouting)) // the budget's last packet
	if got := m.Traces(); len(got) != 0 {
		t.Errorf("traces after the budget's last packet = %+v; want it ended", got)
	}
	m.EmitTrace(ev(2, nftypes.LocalIn)) // in flight: still numbered
	m.FlushTraceEnds(false)
	if diff := cmp.Diff([]string{"hook3", "hook4", "end5"}, seqs(3)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// An END lost: the trace is gone all the same.
	tr = m.StartTrace(nftypes.TraceSpec{})
	m.EndTrace(tr.ID)
	m.FlushTraceEnds(true)
	m.HoldTraceEnds(false)
	tr = m.StartTrace(nftypes.TraceSpec{Budget: 1})
	m.EmitTrace(ev(3, nftypes.LocalOut))
	if diff := cmp.Diff([]string{"hook1", "end2"}, seqs(2)); diff != "" {
		t.Errorf("events after a lost END (-want +got):\n%s", diff)
	}
	if got := m.Traces(); len(got) != 0 {
		t.Errorf("traces left: %+v", got)
	}
}

// TestTraceOldModule checks that a module of protocol 5 has neither the
// trace commands nor the group.
func TestTraceOldModule(t *testing.T) {
	m := fakemod.New(fakemod.Options{Protocol: 5})
	m.Install(t)
	c, err := nlclient.Dial(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range []uint8{32, 33, 34} {
		if c.Supports(cmd) {
			t.Errorf("a module of protocol 5 lists command %d", cmd)
		}
	}
	stats, err := c.HookStats(context.Background())
	if err != nil || stats[0].Drops != nil {
		t.Errorf("HookStats of protocol 5 = %+v, %v; want no drops", stats, err)
	}
	err = c.WatchTraces(context.Background(), 4096, nil, func(nftypes.TraceReport) error { return nil })
	if err == nil || err.Error() != `nflab: watch traces: the module has no "trace" multicast group; it predates packet traces (protocol 6)` {
		t.Errorf("WatchTraces = %v", err)
	}
}
