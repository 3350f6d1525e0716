package nlproto

import "strings"

// A Name is one member of an enum of nflab.h.
type Name struct {
	Value int64  // its value
	C     string // its C name, such as "NFLAB_TCP_SYN_SENT"
	Short string // its C name without the enum's Prefix, such as "SYN_SENT"
}

// Lower returns the Short name in lower case, such as "tcp_syn_sent".
func (n Name) Lower() string { return strings.ToLower(n.Short) }

// An Enum is the name table of one enum of nflab.h; zz_generated.go has
// one per tagged enum (see the package documentation).
type Enum struct {
	Tag    string // the enum's tag, such as "nflab_tcp_state"
	Prefix string // the prefix of its members' C names, such as "NFLAB_TCP_"
	Names  []Name // its members, in header order
}

// Lookup returns the first member with value v.
func (e Enum) Lookup(v int64) (Name, bool) {
	for _, n := range e.Names {
		if n.Value == v {
			return n, true
		}
	}
	return Name{}, false
}

// Parse returns the member whose Short name is s, ignoring case.
func (e Enum) Parse(s string) (Name, bool) {
	for _, n := range e.Names {
		if strings.EqualFold(n.Short, s) {
			return n, true
		}
	}
	return Name{}, false
}

// Sub returns the members whose Short name starts with prefix and is
// longer, with prefix moved from their Short names to the Enum's Prefix:
// EnumCmd.Sub("CT_EVENT_") holds NFLAB_CMD_CT_EVENT_NEW as Short "NEW".
func (e Enum) Sub(prefix string) Enum {
	sub := Enum{Tag: e.Tag, Prefix: e.Prefix + prefix}
	for _, n := range e.Names {
		if short, ok := strings.CutPrefix(n.Short, prefix); ok && short != "" {
			n.Short = short
			sub.Names = append(sub.Names, n)
		}
	}
	return sub
}

// Shorts returns the Short names of the members, in order.
func (e Enum) Shorts() []string {
	s := make([]string, len(e.Names))
	for i, n := range e.Names {
		s[i] = n.Short
	}
	return s
}
