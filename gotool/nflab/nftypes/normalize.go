package nftypes

import "net/netip"

// Defaults: the module takes a missing optional attribute as these, and
// echoes a rule as it was sent. So that a rule reads the same however it
// was written (text, a ruleset read back, a Go value), Normalized folds
// a field holding its default to the zero value, which the client does
// not send: one form per meaning, from the text parser, the netlink
// parser and the encoder alike.

// Normalized returns m with its defaults folded to zero: a limit's burst
// of DefaultLimitBurst, a connlimit's prefix length of 32, a string's To
// of 65535, a mark's mask of all ones. (An nth's Offset and a string's
// From are 0 by default already.)
func (m Match) Normalized() Match {
	switch m.Kind {
	case MatchLimit:
		if m.Burst == DefaultLimitBurst {
			m.Burst = 0
		}
	case MatchConnlimit:
		if m.PrefixLen != nil && *m.PrefixLen == 32 {
			m.PrefixLen = nil
		}
	case MatchString:
		if m.To == 65535 {
			m.To = 0
		}
	case MatchMark:
		if m.MarkMask == ^uint32(0) {
			m.MarkMask = 0
		}
	}
	return m
}

// Normalized returns a with its defaults folded to zero: a mark's mask
// of all ones, a NAT address range's end equal to its start (Addr
// alone). Ports, a pointer, is copied, so that a and the result share
// nothing.
func (a Action) Normalized() Action {
	if a.Type == ActionMark && a.Mask == ^uint32(0) {
		a.Mask = 0
	}
	if a.AddrEnd.IsValid() && a.AddrEnd == a.Addr {
		a.AddrEnd = netip.Addr{}
	}
	if a.Ports != nil {
		p := *a.Ports
		a.Ports = &p
	}
	return a
}

// Normalized returns r with its matches and action normalized (see
// Match.Normalized), its Matches a new slice.
func (r Rule) Normalized() Rule {
	if r.Matches != nil {
		ms := make([]Match, len(r.Matches))
		for i, m := range r.Matches {
			ms[i] = m.Normalized()
		}
		r.Matches = ms
	}
	r.Action = r.Action.Normalized()
	return r
}
