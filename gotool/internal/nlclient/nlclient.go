// Package nlclient speaks the nflab generic netlink protocol (nlproto) on
// Linux. Package nflab wraps it in the public API; this package keeps the
// wire details out of it.
package nlclient

import "errors"

// Version is the reply to NFLAB_CMD_GET_VERSION.
type Version struct {
	Module   string
	Protocol uint32
}

// HookStat is one NFLAB_A_HOOK of the NFLAB_CMD_GET_HOOK_STATS reply.
type HookStat struct {
	Hook           uint32
	Packets, Bytes uint64
}

// ErrNotLoaded is returned by New when the "nflab" family is not
// registered, which means the kernel module is not loaded.
var ErrNotLoaded = errors.New("nflab: kernel module is not loaded (load it with: insmod kmod/nflab.ko)")
