//go:build linux

package fakemod_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
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
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Port: 22}}, unix.EINVAL, "ports need protocol TCP or UDP"},
		{nftypes.TraceSpec{Selector: nftypes.TraceSelector{Proto: nftypes.ICMP, DstPort: 22}}, unix.EINVAL, "ports need protocol TCP or UDP"},
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
	if !errors.As(err, &oe) || oe.Err != unix.ENOSPC || oe.Message != "a namespace runs at most 16 traces" {
		t.Errorf("AddTrace beyond the limit = %v, want ENOSPC", err)
	}
	if err := c.DeleteTrace(ctx, 99); !errors.As(err, &oe) || oe.Err != unix.ENOENT || oe.Message != "no such trace" {
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
