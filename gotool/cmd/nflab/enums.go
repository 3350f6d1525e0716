package main

import (
	"strconv"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// The CLI's names of the library's enums come from the library, whose
// tables come from nflab.h: none is retyped here. A value this client does
// not know is printed as its number, in tables and in JSON, never as the
// Go syntax ("TCPState(12)") of its String method.

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

// libEnum is an enum of package nftypes: its MarshalText writes its name,
// or its number in decimal for a value this client does not know.
type libEnum interface {
	~uint8 | ~uint16 | ~uint32
	MarshalText() ([]byte, error)
}

// enumOf names v as the library does.
func enumOf[T libEnum](v T) enum {
	num := uint64(v)
	b, err := v.MarshalText()
	if err != nil || string(b) == strconv.FormatUint(num, 10) {
		return enum{num: num}
	}
	return enum{string(b), num}
}

// protos are the protocols nflab tracks, as -p takes them.
var protos = []nftypes.Proto{nftypes.TCP, nftypes.UDP, nftypes.ICMP}

func protoNames() []string { return names(protos) }
func protoNumbers() []string {
	var s []string
	for _, p := range protos {
		s = append(s, strconv.Itoa(int(p)))
	}
	return s
}

// tcpStates are the TCP states of nflab.h, in protocol order.
func tcpStates() []nftypes.TCPState {
	var s []nftypes.TCPState
	for _, n := range nlproto.EnumTCPState.Names {
		s = append(s, nftypes.TCPState(n.Value))
	}
	return s
}

func stateNames() []string { return names(tcpStates()) }

// statusNames are the status bits' names of nflab.h, lowest bit first.
var statusNames = nlproto.EnumCTStatus.Shorts()

func timeoutNames() []string { return names(nftypes.Timeouts()) }

// names returns the names of vs.
func names[T libEnum](vs []T) []string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = enumOf(v).String()
	}
	return s
}
