// Package testhook lets tests in this module build a real *nflab.Client
// over a fake module (package fakemod) instead of the kernel's generic
// netlink. Nothing outside tests may set it.
//
// When a dial function is set, the netlink backend (package nlclient) opens every
// socket it needs, the request socket and each watch's own socket, by
// calling it with the client's namespace fd (DialOptions.NetNS) instead
// of dialing generic netlink. fakemod.Module.Install sets and restores it:
//
//	m := fakemod.New(fakemod.Options{})
//	m.Install(t) // until t's cleanup
//	c, err := nflab.Dial(nil) // talks to m
package testhook

import (
	"sync/atomic"

	"github.com/mdlayher/netlink"
)

// A DialFunc opens a generic netlink socket for a client whose namespace
// is netns. It returns the netlink connection, which the backend wraps for
// generic netlink: it sends batches of messages on it.
type DialFunc func(netns int) (*netlink.Conn, error)

var dial atomic.Pointer[DialFunc]

// Set makes the backend dial with fn (nil: the kernel again) and returns
// a function that restores the previous setting.
func Set(fn DialFunc) (restore func()) {
	var p *DialFunc
	if fn != nil {
		p = &fn
	}
	old := dial.Swap(p)
	return func() { dial.Store(old) }
}

// Get returns the dial function set, or nil.
func Get() DialFunc {
	if p := dial.Load(); p != nil {
		return *p
	}
	return nil
}
