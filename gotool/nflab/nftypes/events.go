package nftypes

import (
	"strconv"

	"github.com/nflab/nflab/nlproto"
)

// A ConnEventType says what happened to a tracked connection.
type ConnEventType uint8

// The event types.
const (
	EventNew     ConnEventType = iota + 1 // the entry joined the table (its first packet was accepted)
	EventUpdate                           // its TCP state, or its SEEN_REPLY or ASSURED status, changed
	EventDestroy                          // it left the table; Conn has its final counters
	EventLost                             // events were lost; dump the table to resynchronise
)

// eventNames are the notifications of enum nflab_cmd (NFLAB_CMD_CT_EVENT_*),
// in lower case and header order, and "lost", which is the client's own.
var eventNames = func() []string {
	names := []string{""}
	for _, n := range nlproto.EnumCmd.Sub("CT_EVENT_").Names {
		names = append(names, n.Lower())
	}
	return append(names, "lost")
}()

func (t ConnEventType) name() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return ""
}

// String returns "new", "update", "destroy" or "lost", or
// "ConnEventType(N)" for another number.
func (t ConnEventType) String() string {
	if n := t.name(); n != "" {
		return n
	}
	return "ConnEventType(" + strconv.Itoa(int(t)) + ")"
}

// MarshalText returns the type's name, or its number if unknown.
func (t ConnEventType) MarshalText() ([]byte, error) { return enumText(t.name(), uint64(t)), nil }

// MarshalJSON returns the type's name as a string, or its number if
// unknown.
func (t ConnEventType) MarshalJSON() ([]byte, error) { return enumJSON(t.name(), uint64(t)) }

// UnmarshalText accepts a name in any case, a number, or what String
// writes.
func (t *ConnEventType) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := parseEnum(s, eventNames, "ConnEventType", 8); ok {
		*t = ConnEventType(n)
		return nil
	}
	return invalidf("event type", "unknown event type %q (want new, update, destroy or lost)", s)
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (t *ConnEventType) UnmarshalJSON(b []byte) error {
	return unmarshalEnumJSON(b, 8, func(n uint64) { *t = ConnEventType(n) }, t.UnmarshalText)
}

// A ConnEvent is a change of one tracked connection, or EventLost.
type ConnEvent struct {
	Type ConnEventType
	Conn Conn // the entry after the change; zero for EventLost
}

// Match reports whether f selects c, as the module decides for Conns and
// DeleteConns: by c's original tuple, status and TCP state. f should be
// valid (see Validate); zero fields match anything.
func (f ConnFilter) Match(c Conn) bool {
	o := c.Orig
	switch {
	case f.Proto != 0 && o.Proto != f.Proto:
		return false
	case f.TCPState != nil && (o.Proto != TCP || c.TCPState != *f.TCPState):
		return false
	case f.Src.IsValid() && !f.Src.Contains(o.Src):
		return false
	case f.Dst.IsValid() && !f.Dst.Contains(o.Dst):
		return false
	case f.SrcPort != 0 && o.SrcPort != f.SrcPort:
		return false
	case f.DstPort != 0 && o.DstPort != f.DstPort:
		return false
	}
	return c.Status&f.Status == f.Status
}
