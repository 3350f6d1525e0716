// Package nflab is the Go client of the nflab kernel module: over the
// generic netlink family "nflab" it reads the module's version and per-hook
// counters and resets the counters; it lists, looks up and deletes the
// module's tracked connections, follows their changes as they happen
// (Client.WatchConns), and reads and changes the tracker's settings.
//
// The wire protocol lives in package nlproto and its source, nflab.h; this
// package speaks it through an internal Linux-only backend, so on other
// systems Dial fails with an error wrapping errors.ErrUnsupported.
package nflab
