// Package nlclient speaks the nflab generic netlink protocol (nlproto) on
// Linux. Package nflab wraps it in the public API; this package keeps the
// wire details out of it.
package nlclient

import (
	"errors"
	"net/netip"
)

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

// ErrNoConn is returned when the module has no entry for a tuple
// (ENOENT from NFLAB_CMD_CT_GET or NFLAB_CMD_CT_DELETE).
var ErrNoConn = errors.New("nflab: no such connection")

// Tuple is one direction of a tracked flow, a nest of enum
// nflab_tuple_attr. Only the fields of its protocol go on the wire.
type Tuple struct {
	Src, Dst         netip.Addr // IPv4
	Proto            uint8      // IPPROTO_TCP, IPPROTO_UDP or IPPROTO_ICMP
	SrcPort, DstPort uint16     // TCP and UDP
	ICMPID           uint16     // ICMP
	ICMPType         uint8      // ICMP
}

// Conn is an NFLAB_A_CT entry.
type Conn struct {
	ID          uint32
	Orig, Reply Tuple
	Status      uint32 // enum nflab_ct_status bits
	TCPState    uint8  // enum nflab_tcp_state; 0 when absent
	Timeout     uint32 // seconds

	PacketsOrig, BytesOrig   uint64
	PacketsReply, BytesReply uint64

	Start uint64 // nanoseconds since the epoch; 0 when absent
}

// Filter is an NFLAB_A_CT_FILTER; zero fields are not sent.
type Filter struct {
	Proto            uint8
	Src, Dst         netip.Prefix // not sent unless IsValid
	SrcPort, DstPort uint16
	TCPState         *uint8
	Status           uint32
}

// CTStats is the NFLAB_A_CT_STATS nest.
type CTStats struct {
	Found, New, Invalid, Insert, InsertFailed, Clash, Drop, EarlyDrop, GCEvicted, SearchRestart, Related uint64
}

// CTConfig is the NFLAB_A_CT_CONFIG nest. Nil or absent fields are not
// sent; a reply fills every field.
type CTConfig struct {
	Limit    *uint32
	TCPLoose *bool
	Timeouts map[uint16]uint32 // enum nflab_ct_timeout_attr → seconds
}

// EventType says what an Event reports.
type EventType uint8

// The event types: the three notifications of the "ct" multicast group,
// and the loss of some of them.
const (
	EventNew     EventType = iota + 1 // NFLAB_CMD_CT_EVENT_NEW
	EventUpdate                       // NFLAB_CMD_CT_EVENT_UPDATE
	EventDestroy                      // NFLAB_CMD_CT_EVENT_DESTROY
	EventLost                         // ENOBUFS: the receive buffer overran
)

// Event is one conntrack notification, or EventLost with a zero Conn.
type Event struct {
	Type EventType
	Conn Conn
}
