package nflab_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/signal"
	"time"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Print the module version and every hook's counters, as "nflab" does.
func ExampleDial() {
	c, err := nflab.Dial(nil)
	if errors.Is(err, nflab.ErrNotLoaded) {
		log.Fatal("load the module first: insmod kmod/nflab.ko")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("nflab module %s (protocol %d)\n", v.Module, v.Protocol)
}

func ExampleClient_HookStats() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	stats, err := c.HookStats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range stats {
		fmt.Printf("%-12s %d packets, %d bytes\n", s.Hook, s.Packets, s.Bytes)
	}
}

// Resetting needs CAP_NET_ADMIN; tell the user so rather than printing
// a bare EPERM.
func ExampleClient_ResetHookStats() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	if err := c.ResetHookStats(ctx); errors.Is(err, os.ErrPermission) {
		log.Fatal("resetting the counters needs CAP_NET_ADMIN")
	} else if err != nil {
		log.Fatal(err)
	}
}

// A module built from another protocol version is refused; the error still
// says what is running.
func ExampleProtocolError() {
	_, err := nflab.Dial(nil)
	var pe *nflab.ProtocolError
	if errors.As(err, &pe) {
		fmt.Printf("running module %s speaks protocol %d, want %d\n",
			pe.Module.Module, pe.Module.Protocol, nflab.ProtocolVersion)
	}
}

// List the established TCP connections from one subnet, as
// "nflab ct list --state ESTABLISHED -s 10.0.0.0/16" does.
func ExampleClient_Conns() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	established := nftypes.TCPEstablished
	conns, err := c.Conns(ctx, nftypes.ConnFilter{
		Src:      netip.MustParsePrefix("10.0.0.0/16"),
		TCPState: &established, // implies Proto: nftypes.TCP
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, ct := range conns {
		fmt.Printf("%s:%d -> %s:%d %s, expires in %v\n",
			ct.Orig.Src, ct.Orig.SrcPort, ct.Orig.Dst, ct.Orig.DstPort, ct.Status, ct.Timeout)
	}
}

// Look up one TCP connection and print what traced packets did to it, as
// "nflab ct get --history" does: while a trace runs, the module records
// each packet of it that created the connection, changed its TCP state or
// set SEEN_REPLY or ASSURED.
func ExampleClient_Conn() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	ct, err := c.Conn(ctx, nftypes.Tuple{
		Proto: nftypes.TCP,
		Src:   netip.MustParseAddr("10.0.1.2"), SrcPort: 40000,
		Dst: netip.MustParseAddr("10.0.2.2"), DstPort: 22,
	})
	if errors.Is(err, os.ErrNotExist) {
		log.Fatal("no such connection")
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s\n", ct.TCPState, ct.Status)
	switch {
	case !c.KeepsConnHistory():
		fmt.Println("the module is too old to record histories")
	case len(ct.History) == 0:
		fmt.Println("no traced packet changed it (start a trace first)")
	}
	for _, ch := range ct.History {
		fmt.Printf("%s packet %d of trace %d at %s (%s): %s -> %s, set %s\n",
			ch.Time.Format(time.TimeOnly), ch.Packet, ch.Trace, ch.Hook, ch.Dir,
			ch.TCPStateOld, ch.TCPState, ch.StatusSet())
	}
}

// Delete one UDP flow; either direction's tuple names it.
func ExampleClient_DeleteConn() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	err = c.DeleteConn(ctx, nftypes.Tuple{
		Proto: nftypes.UDP,
		Src:   netip.MustParseAddr("10.0.1.2"), SrcPort: 5000,
		Dst: netip.MustParseAddr("10.0.2.2"), DstPort: 9999,
	})
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("already gone")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Shorten the UDP timeouts and raise the table limit; settings left nil or
// out of the map stay as they are.
func ExampleClient_SetTrackerConfig() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	limit := uint32(131072)
	err = c.SetTrackerConfig(ctx, nftypes.TrackerConfig{
		Limit: &limit,
		Timeouts: map[nftypes.Timeout]time.Duration{
			nftypes.TimeoutUDPUnreplied: 10 * time.Second,
			nftypes.TimeoutUDPAssured:   time.Minute,
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Follow new and closed UDP flows until interrupted, as
// "nflab ct events -p udp" does. When events are lost, the listing of the
// table replaces what was missed.
func ExampleClient_WatchConns() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	udp := nftypes.ConnFilter{Proto: nftypes.UDP}
	err = c.WatchConns(ctx, nil, func(ev nftypes.ConnEvent) error {
		switch {
		case ev.Type == nftypes.EventLost:
			conns, err := c.Conns(ctx, udp) // on the request socket; the watch goes on
			if err != nil {
				return err
			}
			fmt.Printf("lost events; %d UDP flows now\n", len(conns))
		case ev.Type != nftypes.EventUpdate && udp.Match(ev.Conn):
			o := ev.Conn.Orig
			fmt.Printf("%-7s %s:%d -> %s:%d\n", ev.Type, o.Src, o.SrcPort, o.Dst, o.DstPort)
		}
		return nil
	})
	if errors.Is(err, os.ErrPermission) {
		log.Fatal("watching connections needs CAP_NET_ADMIN")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Follow the next 20 SSH connection attempts to one host through the
// hooks, as "nflab trace --budget 20 tcp dst port 22 and dst host
// 10.0.2.2" does, printing where each packet was dropped. The trace
// starts once the watch listens, and ends with its budget or its
// timeout, or is deleted when the watch stops early.
func ExampleClient_FollowTrace() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sel, err := nftypes.ParseTraceSelector([]string{"tcp dst port 22 and dst host 10.0.2.2"})
	if err != nil {
		log.Fatal(err)
	}
	spec := nftypes.TraceSpec{Selector: sel, Budget: 20, Timeout: 5 * time.Minute}
	started := func(tr nftypes.Trace) error {
		fmt.Printf("trace %d: %s\n", tr.ID, tr.Selector)
		return nil
	}
	err = c.FollowTrace(ctx, spec, nil, started, func(r nftypes.TraceReport) error {
		switch ev := r.Event; {
		case r.Lost != nil && r.Lost.Overrun():
			fmt.Println("lost events: the receive buffer overflowed")
		case r.Lost != nil:
			fmt.Printf("lost %d events\n", r.Lost.Events)
		case ev.Kind == nftypes.TraceHook && ev.Verdict != nftypes.TraceAccept:
			fmt.Printf("packet %d dropped at %s by %s\n", ev.Packet, ev.Hook, ev.DropBy)
		case ev.Kind == nftypes.TraceGone:
			fmt.Printf("packet %d gone after %s: %s\n", ev.Packet, ev.Hook, ev.DropReason)
		}
		return nil
	})
	if errors.Is(err, errors.ErrUnsupported) {
		log.Fatal("the loaded module is too old for packet traces")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Count the traced packets nflab drops at each hook, whatever trace
// chose them, until interrupted.
func ExampleClient_WatchTraces() {
	c, err := nflab.Dial(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	drops := map[nftypes.Hook]int{}
	err = c.WatchTraces(ctx, nil, func(r nftypes.TraceReport) error {
		switch {
		case r.Lost != nil && r.Lost.Overrun():
			fmt.Println("lost events: the receive buffer overflowed")
			return nil
		case r.Lost != nil:
			fmt.Printf("lost %d events of trace %d\n", r.Lost.Events, r.Lost.Trace)
			return nil
		}
		if r.Event.Kind == nftypes.TraceHook && r.Event.Verdict == nftypes.TraceDrop {
			drops[r.Event.Hook]++
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(drops)
}
