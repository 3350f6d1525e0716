package main

import (
	"strconv"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// The CLI's own names of the library's enums: a value this client does not
// know is printed as its number, in tables and in JSON, never as the Go
// syntax ("TCPState(12)") of its String method.

// enum is a named value, or a number without a name.
type enum struct {
	name string // "" for a value this client does not know
	num  uint64
}

func (e enum) String() string {
	if e.name != "" {
		return e.name
	}
	return strconv.FormatUint(e.num, 10)
}

// MarshalJSON writes the name as a string, or the number as a number.
func (e enum) MarshalJSON() ([]byte, error) {
	if e.name != "" {
		return strconv.AppendQuote(nil, e.name), nil
	}
	return strconv.AppendUint(nil, e.num, 10), nil
}

var protos = []nftypes.Proto{nftypes.TCP, nftypes.UDP, nftypes.ICMP}

func protoEnum(p nftypes.Proto) enum {
	for _, q := range protos {
		if p == q {
			return enum{q.String(), uint64(p)}
		}
	}
	return enum{num: uint64(p)}
}

// tcpStates are the TCP states this client knows, in protocol order.
func tcpStates() []nftypes.TCPState {
	var s []nftypes.TCPState
	for st := nftypes.TCPNone; st <= nftypes.TCPSynSent2; st++ {
		s = append(s, st)
	}
	return s
}

func stateEnum(s nftypes.TCPState) enum {
	if s <= nftypes.TCPSynSent2 {
		return enum{s.String(), uint64(s)}
	}
	return enum{num: uint64(s)}
}

func hookEnum(h nftypes.Hook) enum {
	if h <= nftypes.PostRouting {
		return enum{h.String(), uint64(h)}
	}
	return enum{num: uint64(h)}
}

func eventEnum(t nftypes.ConnEventType) enum {
	switch t {
	case nftypes.EventNew, nftypes.EventUpdate, nftypes.EventDestroy, nftypes.EventLost:
		return enum{t.String(), uint64(t)}
	}
	return enum{num: uint64(t)}
}

// timeoutName is the name of a timeout, or its number for one this client
// does not know.
func timeoutName(t nftypes.Timeout) string {
	for _, k := range nftypes.Timeouts() {
		if k == t {
			return t.String()
		}
	}
	return strconv.Itoa(int(t))
}
