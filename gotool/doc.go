// Package nflab is the Go client of the nflab kernel module: it reads the
// module's version and per-hook counters over the generic netlink family
// "nflab" and resets the counters.
//
// The wire protocol lives in package nlproto and its source, nflab.h; this
// package speaks it through an internal Linux-only backend, so on other
// systems Dial fails with an error wrapping errors.ErrUnsupported.
package nflab
