package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab ct get --history": the changes of a connection that packets a
// trace followed made, as the module records them while a trace runs.

// ctHistoryHelp is the prose of --history in ct get's help.
var ctHistoryHelp = `With --history, also show the connection's last changes (at most ` + strconv.Itoa(nftypes.MaxConnHistory) + `) made
by packets a trace followed: its creation, a new TCP state, a new
SEEN_REPLY or ASSURED status. A module of protocol 6 or newer records them
only while a trace follows the connection's packets ('nflab trace add
SELECTOR' starts one, 'nflab trace' shows the packets), and forgets every
connection's history when its last trace ends.`

// ctHistoryOutputHelp documents the table lines --history adds, in ct
// get's help.
const ctHistoryOutputHelp = `  table: as 'nflab ct list'; with --history, then a line per change,
         oldest first, such as
           12:00:00.123 #42 trace 3 PRE_ROUTING original  NONE→SYN_SENT
           12:00:00.124 #43 trace 3 PRE_ROUTING reply  SYN_SENT→SYN_RECV  +seen_reply
         the time, the packet's id and its trace (as 'nflab trace' shows
         them), the hook and the direction the packet travelled, the TCP
         state it changed, and the status bits it set (+) or cleared (-);
         "new" marks a creation that shows neither. Without changes, one
         line says why ("no history: ...").`

// ctHistoryJSONHelp documents the JSON --history adds.
const ctHistoryJSONHelp = `         With --history, the entry has "history", its changes, oldest first:
         [{"time":"RFC 3339 time, UTC","packet":N,"trace":N,
           "hook":"PRE_ROUTING","dir":"original","tcp_state_old":"SYN_SENT",
           "tcp_state":"SYN_RECV","status_old":["CONFIRMED"],
           "status":["SEEN_REPLY","CONFIRMED"]},...]
         "tcp_state_old" and "tcp_state" are left out for udp and icmp; it
         is [] when there is no change, and left out when the module keeps
         no history (older than protocol 6).`

// jsonConnChange is one change of "history" in ct get's JSON.
type jsonConnChange struct {
	Time        time.Time `json:"time"`
	Packet      uint64    `json:"packet"`
	Trace       uint32    `json:"trace"`
	Hook        enum      `json:"hook"`
	Dir         enum      `json:"dir"`
	TCPStateOld *enum     `json:"tcp_state_old,omitempty"`
	TCPState    *enum     `json:"tcp_state,omitempty"`
	StatusOld   []string  `json:"status_old"`
	Status      []string  `json:"status"`
}

// historyJSON is the "history" of c: an empty, non-nil slice for none.
func historyJSON(c nftypes.Conn) []jsonConnChange {
	h := make([]jsonConnChange, 0, len(c.History))
	for _, ch := range c.History {
		j := jsonConnChange{
			Time: ch.Time, Packet: ch.Packet, Trace: ch.Trace, Hook: enumOf(ch.Hook), Dir: enumOf(ch.Dir),
			StatusOld: ch.StatusOld.Names(), Status: ch.Status.Names(),
		}
		if c.Orig.Proto == nftypes.TCP {
			j.TCPStateOld, j.TCPState = ptrEnum(enumOf(ch.TCPStateOld)), ptrEnum(enumOf(ch.TCPState))
		}
		h = append(h, j)
	}
	return h
}

// historyLines are the lines --history adds under the entry's table: a
// line per change, oldest first, or one that says why there is none. kept
// is whether the module keeps histories at all.
func historyLines(c nftypes.Conn, loc *time.Location, kept bool) []string {
	switch {
	case !kept:
		return []string{"  no history: the loaded module predates connection histories (protocol 6); load a newer module"}
	case len(c.History) == 0:
		return []string{"  no history: nflab records a connection's changes only while a trace follows its packets; start one with 'nflab trace add SELECTOR'"}
	}
	lines := make([]string, 0, len(c.History))
	for _, ch := range c.History {
		lines = append(lines, "  "+changeText(ch, c.Orig.Proto == nftypes.TCP, loc))
	}
	return lines
}

// changeText is one change: "12:00:00.124 #43 trace 3 PRE_ROUTING reply
// SYN_SENT→SYN_RECV  +seen_reply".
func changeText(ch nftypes.ConnChange, tcp bool, loc *time.Location) string {
	s := ch.Time.In(loc).Format("15:04:05.000") + " #" + strconv.FormatUint(ch.Packet, 10) +
		" trace " + strconv.FormatUint(uint64(ch.Trace), 10) + " " + enumOf(ch.Hook).String() + " " + enumOf(ch.Dir).String()
	stateChanged := tcp && ch.TCPStateOld != ch.TCPState
	if stateChanged {
		s += "  " + enumOf(ch.TCPStateOld).String() + "→" + enumOf(ch.TCPState).String()
	}
	// A change is a creation, a new TCP state or a new SEEN_REPLY or
	// ASSURED status (nflab.h): one that shows neither is a creation.
	if !stateChanged && ch.StatusSet()&(nftypes.StatusSeenReply|nftypes.StatusAssured) == 0 {
		s += "  new"
	}
	var bits []string
	for _, n := range ch.StatusSet().Names() {
		bits = append(bits, "+"+strings.ToLower(n))
	}
	for _, n := range ch.StatusCleared().Names() {
		bits = append(bits, "-"+strings.ToLower(n))
	}
	if len(bits) > 0 {
		s += "  " + strings.Join(bits, " ")
	}
	return s
}
