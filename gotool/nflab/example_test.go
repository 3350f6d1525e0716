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
