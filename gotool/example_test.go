package nflab_test

import (
	"errors"
	"fmt"
	"log"
	"os"

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
