//go:build linux

package fakemod

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// The module's checks of a rule's matches and action, written from
// kmod/match.c and kmod/action.c (their policies and decode functions),
// not from nftypes' Validate: a check the client lacks then shows in
// tests as the module's error, not as a silent pass.

// A checkErr is a rejection with its errno (EINVAL unless ERANGE).
type checkErr struct {
	errno unix.Errno
	msg   string
}

func (e *checkErr) Error() string { return e.msg }

func einval(format string, args ...any) error {
	return &checkErr{unix.EINVAL, fmt.Sprintf(format, args...)}
}

func erange(format string, args ...any) error {
	return &checkErr{unix.ERANGE, fmt.Sprintf(format, args...)}
}

// checkMatch is nflab_match_decode's checks, and the policy's ranges,
// for one decoded match; has says which attributes came.
func checkMatch(m nftypes.Match, n nest) error {
	switch m.Kind {
	case nlproto.MATCH_IIF, nlproto.MATCH_OIF:
		if m.Iface == "" {
			return einval("empty interface name")
		}
	case nlproto.MATCH_SADDR, nlproto.MATCH_DADDR:
		if m.Prefix.Addr() != m.Prefix.Masked().Addr() {
			return einval("address has bits outside its prefix")
		}
	case nlproto.MATCH_SRANGE, nlproto.MATCH_DRANGE:
		if m.AddrEnd.Less(m.AddrStart) {
			return einval("range ends before it starts")
		}
	case nlproto.MATCH_SPORT, nlproto.MATCH_DPORT:
		if len(m.Ports) > nlproto.PORTS_MAX {
			return einval("too many port ranges")
		}
		for _, p := range m.Ports {
			if p.First > p.Last {
				return einval("port range ends before it starts")
			}
		}
	case nlproto.MATCH_TCP_FLAGS:
		if m.TCPFlags&^m.TCPMask != 0 {
			return einval("tcp flags: 8 bits, value within mask")
		}
	case nlproto.MATCH_MARK:
		mask := m.MarkMask
		if !n.has(nlproto.MATCH_A_MASK) {
			mask = ^uint32(0)
		}
		if m.Mark&^mask != 0 {
			return einval("value has bits outside its mask")
		}
	case nlproto.MATCH_CT_STATE:
		if m.CTState == 0 || uint32(m.CTState)&^nlproto.CT_STATE_ALL != 0 {
			return einval("unknown or no state bits")
		}
	case nlproto.MATCH_CT_STATUS:
		if m.CTStatus == 0 || uint32(m.CTStatus)&^nlproto.CT_STATUS_ALL != 0 {
			return einval("unknown or no state bits")
		}
	case nlproto.MATCH_LENGTH:
		if m.LenMin > m.LenMax {
			return einval("length: max below min")
		}
	case nlproto.MATCH_STRING:
		if len(m.Pattern) < 1 || len(m.Pattern) > nlproto.STRING_MAXLEN {
			return einval("pattern: 1 to %d bytes", nlproto.STRING_MAXLEN)
		}
		if m.Algo < 1 || m.Algo > nlproto.STRING_ALGO_MAX {
			return einval("unknown string algorithm")
		}
		to := uint32(65535)
		if n.has(nlproto.MATCH_A_TO) {
			to = uint32(m.To)
		}
		if uint32(m.From) > to {
			return einval("string: window ends before it starts")
		}
	case nlproto.MATCH_NTH:
		if m.Every < 1 {
			return einval("nth: every must be at least 1")
		}
		if m.Offset >= m.Every {
			return einval("nth: offset must be below every")
		}
	case nlproto.MATCH_TIME:
		if (m.TODStart == nil) != (m.TODStop == nil) {
			return einval("time: a time of day needs a start and a stop")
		}
		for _, d := range []*time.Duration{m.TODStart, m.TODStop} {
			if d != nil && *d > 86399*time.Second {
				return einval("time of day above 86399")
			}
		}
		if n.has(nlproto.MATCH_A_WEEKDAYS) && (m.Weekdays == 0 || uint32(m.Weekdays)&^nlproto.WEEKDAY_ALL != 0) {
			return einval("time: no weekday, or unknown ones")
		}
		if !m.DateStart.IsZero() && !m.DateStop.IsZero() && m.DateStart.After(m.DateStop) {
			return einval("time: dates end before they start")
		}
	case nlproto.MATCH_LIMIT:
		period := uint64(m.Period / time.Second)
		if m.Rate < 1 {
			return einval("rate must be at least 1")
		}
		if period != 1 && period != 60 && period != 3600 && period != 86400 {
			return einval("limit: period must be 1, 60, 3600 or 86400 seconds")
		}
		burst := uint64(5)
		if n.has(nlproto.MATCH_A_BURST) {
			burst = uint64(m.Burst)
		}
		if burst < 1 || burst > 1000000 {
			return einval("burst: 1 to 1000000")
		}
		interval := period * 1e9 / uint64(m.Rate)
		if interval == 0 {
			return erange("limit: rate too high")
		}
		if hi, _ := bits.Mul64(interval, burst-1); hi != 0 {
			return erange("limit: burst too large for this rate")
		}
	case nlproto.MATCH_CONNLIMIT:
		if m.PrefixLen != nil && *m.PrefixLen > 32 {
			return einval("prefix length above 32")
		}
		if m.Count >= 65536 {
			return erange("connlimit: at most 65535")
		}
	case nlproto.MATCH_SET:
		if m.SetField < 1 || m.SetField > nlproto.SET_FIELD_MAX {
			return einval("unknown set field")
		}
	}
	return nil
}

// checkMatchTable is what nflab_match_decode rejects for the table.
func checkMatchTable(m nftypes.Match, t nftypes.Table) error {
	if t != nlproto.TABLE_RAW {
		return nil
	}
	switch m.Kind {
	case nlproto.MATCH_CT_STATE, nlproto.MATCH_CT_STATUS:
		return einval("ct matches cannot be used in the raw table: it runs before tracking")
	case nlproto.MATCH_CONNLIMIT:
		return einval("connlimit cannot be used in the raw table: it runs before tracking")
	}
	return nil
}

// actionDescs is nflab_action_descs: the attributes each action needs
// and may take, and its tables (none: all).
var actionDescs = map[nftypes.ActionType]struct {
	need, may []uint16
	table     nftypes.Table
}{
	nlproto.ACTION_ACCEPT:   {},
	nlproto.ACTION_DROP:     {},
	nlproto.ACTION_REJECT:   {nil, []uint16{nlproto.ACTION_A_REJECT_WITH}, nlproto.TABLE_FILTER},
	nlproto.ACTION_LOG:      {nil, []uint16{nlproto.ACTION_A_LOG_PREFIX}, 0},
	nlproto.ACTION_CONTINUE: {},
	nlproto.ACTION_NOTRACK:  {nil, nil, nlproto.TABLE_RAW},
	nlproto.ACTION_MARK:     {[]uint16{nlproto.ACTION_A_VALUE}, []uint16{nlproto.ACTION_A_MASK}, nlproto.TABLE_MANGLE},
	nlproto.ACTION_TOS:      {[]uint16{nlproto.ACTION_A_VALUE}, nil, nlproto.TABLE_MANGLE},
	nlproto.ACTION_DSCP:     {[]uint16{nlproto.ACTION_A_VALUE}, nil, nlproto.TABLE_MANGLE},
	nlproto.ACTION_TTL:      {[]uint16{nlproto.ACTION_A_VALUE, nlproto.ACTION_A_TTL_MODE}, nil, nlproto.TABLE_MANGLE},
	nlproto.ACTION_JUMP:     {[]uint16{nlproto.ACTION_A_CHAIN}, nil, 0},
	nlproto.ACTION_GOTO:     {[]uint16{nlproto.ACTION_A_CHAIN}, nil, 0},
	nlproto.ACTION_RETURN:   {},

	nlproto.ACTION_SNAT: {[]uint16{nlproto.ACTION_A_ADDR},
		[]uint16{nlproto.ACTION_A_ADDR_END, nlproto.ACTION_A_PORT_RANGE, nlproto.ACTION_A_NAT_FLAGS}, nlproto.TABLE_NAT},
	nlproto.ACTION_DNAT: {nil, []uint16{nlproto.ACTION_A_ADDR, nlproto.ACTION_A_ADDR_END, nlproto.ACTION_A_PORT_RANGE,
		nlproto.ACTION_A_NAT_FLAGS}, nlproto.TABLE_NAT},
	nlproto.ACTION_MASQUERADE: {nil, []uint16{nlproto.ACTION_A_PORT_RANGE, nlproto.ACTION_A_NAT_FLAGS}, nlproto.TABLE_NAT},
	nlproto.ACTION_REDIRECT:   {nil, []uint16{nlproto.ACTION_A_PORT_RANGE, nlproto.ACTION_A_NAT_FLAGS}, nlproto.TABLE_NAT},
}

// natHooks are the hooks each NAT action may act at (nflab.h, enum
// nflab_action): the commit refuses one in a chain reached from another.
var natHooks = map[nftypes.ActionType][]nftypes.Hook{
	nlproto.ACTION_SNAT:       {nlproto.HOOK_POST_ROUTING, nlproto.HOOK_LOCAL_IN},
	nlproto.ACTION_DNAT:       {nlproto.HOOK_PRE_ROUTING, nlproto.HOOK_LOCAL_OUT},
	nlproto.ACTION_MASQUERADE: {nlproto.HOOK_POST_ROUTING},
	nlproto.ACTION_REDIRECT:   {nlproto.HOOK_PRE_ROUTING, nlproto.HOOK_LOCAL_OUT},
}

// checkAction is nflab_action_parse's and nflab_action_decode's checks,
// in their order, for an action decoded by decodeAction (which did the
// policy's) in a rule of table t: each attribute, in attribute order, is
// one the action takes and none it needs is missing; the table; then the
// values.
func checkAction(a nftypes.Action, n nest, t nftypes.Table) error {
	d, ok := actionDescs[a.Type]
	if !ok {
		return einval("unknown action type")
	}
	for at := uint16(nlproto.ACTION_A_TYPE + 1); at <= nlproto.ACTION_A_MAX; at++ {
		need, may := slices.Contains(d.need, at), slices.Contains(d.may, at)
		if n.has(at) && !need && !may {
			return einval("attribute not taken by this action")
		}
		if !n.has(at) && need {
			return einval("action: missing attribute")
		}
	}
	if d.table != 0 && d.table != t {
		switch a.Type {
		case nlproto.ACTION_REJECT:
			return einval("reject is for the filter table")
		case nlproto.ACTION_NOTRACK:
			return einval("notrack is for the raw table")
		case nlproto.ACTION_SNAT, nlproto.ACTION_DNAT, nlproto.ACTION_MASQUERADE, nlproto.ACTION_REDIRECT:
			return einval("NAT actions are for the nat table")
		}
		return einval("this action is for the mangle table")
	}
	switch a.Type {
	case nlproto.ACTION_MARK:
		mask := a.Mask
		if !n.has(nlproto.ACTION_A_MASK) {
			mask = ^uint32(0)
		}
		if a.Value&^mask != 0 {
			return einval("mark: value has bits outside its mask")
		}
	case nlproto.ACTION_TOS:
		if a.Value > 255 {
			return erange("tos: 0 to 255")
		}
	case nlproto.ACTION_DSCP:
		if a.Value > 63 {
			return erange("dscp: 0 to 63")
		}
	case nlproto.ACTION_TTL:
		if a.Value < 1 || a.Value > 255 {
			return erange("ttl: 1 to 255")
		}
	case nlproto.ACTION_SNAT, nlproto.ACTION_DNAT, nlproto.ACTION_MASQUERADE, nlproto.ACTION_REDIRECT:
		hasAddr, hasEnd := n.has(nlproto.ACTION_A_ADDR), n.has(nlproto.ACTION_A_ADDR_END)
		switch {
		case hasEnd && !hasAddr:
			return einval("nat: an address range needs its first address")
		case a.Type == nlproto.ACTION_DNAT && !hasAddr && a.Ports == nil:
			return einval("dnat: needs an address or a port range")
		case hasEnd && a.AddrEnd.Less(a.Addr):
			return einval("nat: the address range is backwards")
		}
		if p := a.Ports; p != nil {
			if p.First == 0 || p.Last == 0 {
				return erange("nat: ports are 1 to 65535")
			}
			if p.First > p.Last {
				return einval("nat: the port range is backwards")
			}
		}
		if a.NATFlags&nftypes.NATFullcone != 0 && a.Type != nlproto.ACTION_SNAT &&
			a.Type != nlproto.ACTION_MASQUERADE {
			return einval("nat: fullcone is for snat and masquerade")
		}
	case nlproto.ACTION_LOG:
		for i := 0; i < len(a.LogPrefix); i++ {
			// The kernel's isprint: ASCII 0x20 to 0x7e.
			if c := a.LogPrefix[i]; c < 0x20 || c > 0x7e {
				return einval("log: the prefix holds an unprintable byte")
			}
		}
	}
	return nil
}
