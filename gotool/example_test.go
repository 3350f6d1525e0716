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

	nflab "github.com/nflab/nflab/gotool"
)

// Print the module version and every hook's counters, as "nflab" does.
func ExampleDial() {
	c, err := nflab.Dial()
	if errors.Is(err, nflab.ErrNotLoaded) {
		log.Fatal("load the module first: insmod kmod/nflab.ko")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	v, err := c.Version()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("nflab module %s (protocol %d)\n", v.Module, v.Protocol)
}

func ExampleClient_HookStats() {
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	stats, err := c.HookStats()
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
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.ResetHookStats(); errors.Is(err, os.ErrPermission) {
		log.Fatal("resetting the counters needs CAP_NET_ADMIN")
	} else if err != nil {
		log.Fatal(err)
	}
}

// A module built from another protocol version is refused; the error still
// says what is running.
func ExampleProtocolError() {
	_, err := nflab.Dial()
	var pe *nflab.ProtocolError
	if errors.As(err, &pe) {
		fmt.Printf("running module %s speaks protocol %d, want %d\n",
			pe.Module.Module, pe.Module.Protocol, nflab.ProtocolVersion)
	}
}

// List the established TCP connections from one subnet, as
// "nflab ct list --state ESTABLISHED -s 10.0.0.0/16" does.
func ExampleClient_Conns() {
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	established := nflab.TCPEstablished
	conns, err := c.Conns(nflab.CTFilter{
		Src:      netip.MustParsePrefix("10.0.0.0/16"),
		TCPState: &established, // implies Proto: nflab.TCP
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
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	err = c.DeleteConn(nflab.Tuple{
		Proto: nflab.UDP,
		Src:   netip.MustParseAddr("10.0.1.2"), SrcPort: 5000,
		Dst: netip.MustParseAddr("10.0.2.2"), DstPort: 9999,
	})
	if errors.Is(err, nflab.ErrNoConn) {
		fmt.Println("already gone")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Shorten the UDP timeouts and raise the table limit; settings left nil or
// out of the map stay as they are.
func ExampleClient_SetCTConfig() {
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	limit := uint32(131072)
	err = c.SetCTConfig(nflab.CTConfig{
		Limit: &limit,
		Timeouts: map[nflab.CTTimeout]time.Duration{
			nflab.TimeoutUDPUnreplied: 10 * time.Second,
			nflab.TimeoutUDPAssured:   time.Minute,
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
	c, err := nflab.Dial()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	udp := nflab.CTFilter{Proto: nflab.UDP}
	err = c.WatchConns(ctx, func(ev nflab.CTEvent) error {
		switch {
		case ev.Type == nflab.CTEventLost:
			conns, err := c.Conns(udp) // on the request socket; the watch goes on
			if err != nil {
				return err
			}
			fmt.Printf("lost events; %d UDP flows now\n", len(conns))
		case ev.Type != nflab.CTEventUpdate && udp.Match(ev.Conn):
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
