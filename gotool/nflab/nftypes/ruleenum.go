package nftypes

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nflab/nflab/nlproto"
)

// The rule engine's enumerations (Table, Verdict, MatchKind, ActionType,
// RejectWith, TTLMode, StringAlgo, SetType, SetField) print their names in
// lower case with "-" for "_", such as "tcp-flags", and numbers for values
// this client does not know. Their bit sets (CTState, Weekdays, TCPFlags,
// NATFlags) print their bits' names joined by commas.

// enumDef describes one enumeration: its Go type's name (for String's
// "Type(N)"), the field named in validation errors, its names indexed by
// value ("" for UNSPEC and gaps) and its width in bits.
type enumDef struct {
	typeName, field string
	names           []string
	bits            int
}

// dashTable returns the lower-case names of e with "-" for "_", without
// UNSPEC.
func dashTable(e nlproto.Enum) []string {
	names := nameTable(e, true, "UNSPEC")
	for i, n := range names {
		names[i] = strings.ReplaceAll(n, "_", "-")
	}
	return names
}

func (d *enumDef) name(n uint64) string {
	if n < uint64(len(d.names)) {
		return d.names[n]
	}
	return ""
}

func (d *enumDef) known(n uint64) bool { return d.name(n) != "" }

func (d *enumDef) str(n uint64) string {
	if s := d.name(n); s != "" {
		return s
	}
	return d.typeName + "(" + strconv.FormatUint(n, 10) + ")"
}

func (d *enumDef) text(n uint64) ([]byte, error) { return enumText(d.name(n), n), nil }
func (d *enumDef) json(n uint64) ([]byte, error) { return enumJSON(d.name(n), n) }

// list returns the known names, in value order.
func (d *enumDef) list() []string {
	var l []string
	for _, n := range d.names {
		if n != "" {
			l = append(l, n)
		}
	}
	return l
}

// parse reads a name in any case (with "_" for "-" too), a number, or
// String's form.
func (d *enumDef) parse(b []byte) (uint64, error) {
	s := strings.ReplaceAll(string(b), "_", "-")
	if n, ok := parseEnum(s, d.names, d.typeName, d.bits); ok {
		return n, nil
	}
	return 0, invalidf(d.field, "unknown %s %q (want one of %s)", d.field, string(b), strings.Join(d.list(), ", "))
}

func (d *enumDef) parseJSON(b []byte, set func(uint64)) error {
	return unmarshalEnumJSON(b, d.bits, set, func(t []byte) error {
		n, err := d.parse(t)
		if err == nil {
			set(n)
		}
		return err
	})
}

// A Table is one of the rule tables; see TableHooks for where each sits.
type Table uint8

// The tables.
const (
	TableRaw    Table = nlproto.TABLE_RAW
	TableMangle Table = nlproto.TABLE_MANGLE
	TableFilter Table = nlproto.TABLE_FILTER
	TableNAT    Table = nlproto.TABLE_NAT
)

var tableDef = &enumDef{"Table", "table", dashTable(nlproto.EnumTable), 8}

// Tables lists the tables in protocol order.
func Tables() []Table { return []Table{TableRaw, TableMangle, TableFilter, TableNAT} }

// String returns "raw", "mangle", "filter" or "nat", or "Table(N)".
func (t Table) String() string { return tableDef.str(uint64(t)) }

// MarshalText returns the table's name, or its number if unknown.
func (t Table) MarshalText() ([]byte, error) { return tableDef.text(uint64(t)) }

// MarshalJSON returns the table's name as a string, or its number if unknown.
func (t Table) MarshalJSON() ([]byte, error) { return tableDef.json(uint64(t)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (t *Table) UnmarshalText(b []byte) error {
	n, err := tableDef.parse(b)
	*t = Table(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (t *Table) UnmarshalJSON(b []byte) error {
	return tableDef.parseJSON(b, func(n uint64) { *t = Table(n) })
}

// A Verdict is a built-in chain's policy.
type Verdict uint8

// The policies.
const (
	VerdictAccept Verdict = nlproto.VERDICT_ACCEPT
	VerdictDrop   Verdict = nlproto.VERDICT_DROP
)

var verdictDef = &enumDef{"Verdict", "policy", dashTable(nlproto.EnumVerdict), 8}

// String returns "accept" or "drop", or "Verdict(N)".
func (v Verdict) String() string { return verdictDef.str(uint64(v)) }

// MarshalText returns the verdict's name, or its number if unknown.
func (v Verdict) MarshalText() ([]byte, error) { return verdictDef.text(uint64(v)) }

// MarshalJSON returns the verdict's name as a string, or its number if unknown.
func (v Verdict) MarshalJSON() ([]byte, error) { return verdictDef.json(uint64(v)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (v *Verdict) UnmarshalText(b []byte) error {
	n, err := verdictDef.parse(b)
	*v = Verdict(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	return verdictDef.parseJSON(b, func(n uint64) { *v = Verdict(n) })
}

// A MatchKind says what a Match looks at.
type MatchKind uint16

// The matches; enum nflab_match lists the fields each uses.
const (
	MatchIIF       MatchKind = nlproto.MATCH_IIF
	MatchOIF       MatchKind = nlproto.MATCH_OIF
	MatchSAddr     MatchKind = nlproto.MATCH_SADDR
	MatchDAddr     MatchKind = nlproto.MATCH_DADDR
	MatchSRange    MatchKind = nlproto.MATCH_SRANGE
	MatchDRange    MatchKind = nlproto.MATCH_DRANGE
	MatchProto     MatchKind = nlproto.MATCH_PROTO
	MatchSPort     MatchKind = nlproto.MATCH_SPORT
	MatchDPort     MatchKind = nlproto.MATCH_DPORT
	MatchTCPFlags  MatchKind = nlproto.MATCH_TCP_FLAGS
	MatchICMP      MatchKind = nlproto.MATCH_ICMP
	MatchLength    MatchKind = nlproto.MATCH_LENGTH
	MatchCTState   MatchKind = nlproto.MATCH_CT_STATE
	MatchCTStatus  MatchKind = nlproto.MATCH_CT_STATUS
	MatchString    MatchKind = nlproto.MATCH_STRING
	MatchConnlimit MatchKind = nlproto.MATCH_CONNLIMIT
	MatchQuota     MatchKind = nlproto.MATCH_QUOTA
	MatchNth       MatchKind = nlproto.MATCH_NTH
	MatchTime      MatchKind = nlproto.MATCH_TIME
	MatchLimit     MatchKind = nlproto.MATCH_LIMIT
	MatchMark      MatchKind = nlproto.MATCH_MARK
	MatchSet       MatchKind = nlproto.MATCH_SET
)

var matchKindDef = &enumDef{"MatchKind", "match", dashTable(nlproto.EnumMatch), 16}

// MatchKinds lists every match kind, in protocol order.
func MatchKinds() []MatchKind {
	var ks []MatchKind
	for k := MatchIIF; k <= nlproto.MATCH_MAX; k++ {
		ks = append(ks, k)
	}
	return ks
}

// String returns the match's name, such as "tcp-flags", or "MatchKind(N)".
func (k MatchKind) String() string { return matchKindDef.str(uint64(k)) }

// MarshalText returns the match's name, or its number if unknown.
func (k MatchKind) MarshalText() ([]byte, error) { return matchKindDef.text(uint64(k)) }

// MarshalJSON returns the match's name as a string, or its number if unknown.
func (k MatchKind) MarshalJSON() ([]byte, error) { return matchKindDef.json(uint64(k)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (k *MatchKind) UnmarshalText(b []byte) error {
	n, err := matchKindDef.parse(b)
	*k = MatchKind(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (k *MatchKind) UnmarshalJSON(b []byte) error {
	return matchKindDef.parseJSON(b, func(n uint64) { *k = MatchKind(n) })
}

// An ActionType says what a rule does with a packet its matches hold for.
type ActionType uint8

// The actions; see enum nflab_action for where each may be used.
const (
	ActionAccept   ActionType = nlproto.ACTION_ACCEPT
	ActionDrop     ActionType = nlproto.ACTION_DROP
	ActionReject   ActionType = nlproto.ACTION_REJECT
	ActionLog      ActionType = nlproto.ACTION_LOG
	ActionContinue ActionType = nlproto.ACTION_CONTINUE
	ActionNotrack  ActionType = nlproto.ACTION_NOTRACK
	ActionMark     ActionType = nlproto.ACTION_MARK
	ActionTOS      ActionType = nlproto.ACTION_TOS
	ActionDSCP     ActionType = nlproto.ACTION_DSCP
	ActionTTL      ActionType = nlproto.ACTION_TTL
	ActionJump     ActionType = nlproto.ACTION_JUMP
	ActionGoto     ActionType = nlproto.ACTION_GOTO
	ActionReturn   ActionType = nlproto.ACTION_RETURN

	// The NAT actions, of table nat; ActionHooks lists where each acts.
	ActionSNAT       ActionType = nlproto.ACTION_SNAT
	ActionDNAT       ActionType = nlproto.ACTION_DNAT
	ActionMasquerade ActionType = nlproto.ACTION_MASQUERADE
	ActionRedirect   ActionType = nlproto.ACTION_REDIRECT
)

var actionDef = &enumDef{"ActionType", "action", dashTable(nlproto.EnumAction), 8}

// String returns the action's name, such as "accept", or "ActionType(N)".
func (a ActionType) String() string { return actionDef.str(uint64(a)) }

// MarshalText returns the action's name, or its number if unknown.
func (a ActionType) MarshalText() ([]byte, error) { return actionDef.text(uint64(a)) }

// MarshalJSON returns the action's name as a string, or its number if unknown.
func (a ActionType) MarshalJSON() ([]byte, error) { return actionDef.json(uint64(a)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (a *ActionType) UnmarshalText(b []byte) error {
	n, err := actionDef.parse(b)
	*a = ActionType(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (a *ActionType) UnmarshalJSON(b []byte) error {
	return actionDef.parseJSON(b, func(n uint64) { *a = ActionType(n) })
}

// RejectWith is how a reject action answers.
type RejectWith uint8

// The answers; 0 means RejectPortUnreach.
const (
	RejectTCPReset        RejectWith = nlproto.REJECT_TCP_RESET
	RejectNetUnreach      RejectWith = nlproto.REJECT_NET_UNREACH
	RejectHostUnreach     RejectWith = nlproto.REJECT_HOST_UNREACH
	RejectProtoUnreach    RejectWith = nlproto.REJECT_PROTO_UNREACH
	RejectPortUnreach     RejectWith = nlproto.REJECT_PORT_UNREACH
	RejectNetProhibited   RejectWith = nlproto.REJECT_NET_PROHIBITED
	RejectHostProhibited  RejectWith = nlproto.REJECT_HOST_PROHIBITED
	RejectAdminProhibited RejectWith = nlproto.REJECT_ADMIN_PROHIBITED
)

var rejectDef = &enumDef{"RejectWith", "reject-with", dashTable(nlproto.EnumRejectWith), 8}

// String returns the answer's name, such as "tcp-reset", or "RejectWith(N)".
func (r RejectWith) String() string { return rejectDef.str(uint64(r)) }

// MarshalText returns the answer's name, or its number if unknown.
func (r RejectWith) MarshalText() ([]byte, error) { return rejectDef.text(uint64(r)) }

// MarshalJSON returns the answer's name as a string, or its number if unknown.
func (r RejectWith) MarshalJSON() ([]byte, error) { return rejectDef.json(uint64(r)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (r *RejectWith) UnmarshalText(b []byte) error {
	n, err := rejectDef.parse(b)
	*r = RejectWith(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (r *RejectWith) UnmarshalJSON(b []byte) error {
	return rejectDef.parseJSON(b, func(n uint64) { *r = RejectWith(n) })
}

// A TTLMode says how a ttl action changes the TTL.
type TTLMode uint8

// The modes.
const (
	TTLSet TTLMode = nlproto.TTL_SET
	TTLInc TTLMode = nlproto.TTL_INC
	TTLDec TTLMode = nlproto.TTL_DEC
)

var ttlModeDef = &enumDef{"TTLMode", "ttl mode", dashTable(nlproto.EnumTtlMode), 8}

// String returns "set", "inc" or "dec", or "TTLMode(N)".
func (m TTLMode) String() string { return ttlModeDef.str(uint64(m)) }

// MarshalText returns the mode's name, or its number if unknown.
func (m TTLMode) MarshalText() ([]byte, error) { return ttlModeDef.text(uint64(m)) }

// MarshalJSON returns the mode's name as a string, or its number if unknown.
func (m TTLMode) MarshalJSON() ([]byte, error) { return ttlModeDef.json(uint64(m)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (m *TTLMode) UnmarshalText(b []byte) error {
	n, err := ttlModeDef.parse(b)
	*m = TTLMode(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (m *TTLMode) UnmarshalJSON(b []byte) error {
	return ttlModeDef.parseJSON(b, func(n uint64) { *m = TTLMode(n) })
}

// A StringAlgo is the search algorithm of a string match.
type StringAlgo uint8

// The algorithms (the kernel's textsearch ones).
const (
	AlgoBM  StringAlgo = nlproto.STRING_ALGO_BM
	AlgoKMP StringAlgo = nlproto.STRING_ALGO_KMP
)

var algoDef = &enumDef{"StringAlgo", "algo", dashTable(nlproto.EnumStringAlgo), 8}

// String returns "bm" or "kmp", or "StringAlgo(N)".
func (a StringAlgo) String() string { return algoDef.str(uint64(a)) }

// MarshalText returns the algorithm's name, or its number if unknown.
func (a StringAlgo) MarshalText() ([]byte, error) { return algoDef.text(uint64(a)) }

// MarshalJSON returns the algorithm's name as a string, or its number if unknown.
func (a StringAlgo) MarshalJSON() ([]byte, error) { return algoDef.json(uint64(a)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (a *StringAlgo) UnmarshalText(b []byte) error {
	n, err := algoDef.parse(b)
	*a = StringAlgo(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (a *StringAlgo) UnmarshalJSON(b []byte) error {
	return algoDef.parseJSON(b, func(n uint64) { *a = StringAlgo(n) })
}

// A SetType says what a set holds.
type SetType uint8

// The set types.
const (
	SetTypeAddr SetType = nlproto.SET_TYPE_ADDR // IPv4 addresses
	SetTypePort SetType = nlproto.SET_TYPE_PORT // ports
)

var setTypeDef = &enumDef{"SetType", "set type", dashTable(nlproto.EnumSetType), 8}

// String returns "addr" or "port", or "SetType(N)".
func (t SetType) String() string { return setTypeDef.str(uint64(t)) }

// MarshalText returns the type's name, or its number if unknown.
func (t SetType) MarshalText() ([]byte, error) { return setTypeDef.text(uint64(t)) }

// MarshalJSON returns the type's name as a string, or its number if unknown.
func (t SetType) MarshalJSON() ([]byte, error) { return setTypeDef.json(uint64(t)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (t *SetType) UnmarshalText(b []byte) error {
	n, err := setTypeDef.parse(b)
	*t = SetType(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (t *SetType) UnmarshalJSON(b []byte) error {
	return setTypeDef.parseJSON(b, func(n uint64) { *t = SetType(n) })
}

// A SetField is what a set match looks up in its set.
type SetField uint8

// The fields.
const (
	SetFieldSAddr SetField = nlproto.SET_FIELD_SADDR
	SetFieldDAddr SetField = nlproto.SET_FIELD_DADDR
	SetFieldSPort SetField = nlproto.SET_FIELD_SPORT
	SetFieldDPort SetField = nlproto.SET_FIELD_DPORT
)

var setFieldDef = &enumDef{"SetField", "set field", dashTable(nlproto.EnumSetField), 8}

// SetType returns the type of set the field is looked up in.
func (f SetField) SetType() SetType {
	switch f {
	case SetFieldSAddr, SetFieldDAddr:
		return SetTypeAddr
	case SetFieldSPort, SetFieldDPort:
		return SetTypePort
	}
	return 0
}

// String returns "saddr", "daddr", "sport" or "dport", or "SetField(N)".
func (f SetField) String() string { return setFieldDef.str(uint64(f)) }

// MarshalText returns the field's name, or its number if unknown.
func (f SetField) MarshalText() ([]byte, error) { return setFieldDef.text(uint64(f)) }

// MarshalJSON returns the field's name as a string, or its number if unknown.
func (f SetField) MarshalJSON() ([]byte, error) { return setFieldDef.json(uint64(f)) }

// UnmarshalText accepts a name in any case, a number, or what String writes.
func (f *SetField) UnmarshalText(b []byte) error {
	n, err := setFieldDef.parse(b)
	*f = SetField(n)
	return err
}

// UnmarshalJSON accepts what MarshalJSON writes, and what UnmarshalText does.
func (f *SetField) UnmarshalJSON(b []byte) error {
	return setFieldDef.parseJSON(b, func(n uint64) { *f = SetField(n) })
}

// bitsDef describes a bit set: the field named in errors and the names of
// its bits, lowest first.
type bitsDef struct {
	field string
	names []string // names[i] names bit 1<<i
}

// bitsFrom takes the names of the single-bit members of e, in lower case.
func bitsFrom(field string, e nlproto.Enum) *bitsDef {
	d := &bitsDef{field: field}
	for _, n := range e.Names {
		for i := 0; i < 32; i++ {
			if n.Value == 1<<i {
				for len(d.names) <= i {
					d.names = append(d.names, "")
				}
				d.names[i] = n.Lower()
			}
		}
	}
	return d
}

func (d *bitsDef) all() uint32 {
	var m uint32
	for i, n := range d.names {
		if n != "" {
			m |= 1 << i
		}
	}
	return m
}

// list returns the names of the bits in v, lowest first; unknown bits in
// hex, such as "0x80". Empty and non-nil for no bits.
func (d *bitsDef) list(v uint32) []string {
	l := []string{}
	for i := 0; i < 32; i++ {
		if v&(1<<i) == 0 {
			continue
		}
		if i < len(d.names) && d.names[i] != "" {
			l = append(l, d.names[i])
		} else {
			l = append(l, fmt.Sprintf("%#x", uint32(1)<<i))
		}
	}
	return l
}

func (d *bitsDef) str(v uint32) string {
	if v == 0 {
		return "none"
	}
	return strings.Join(d.list(v), ",")
}

// parse reads what str writes: names in any case or hex bits, separated
// by commas; "none" or "" for no bits.
func (d *bitsDef) parse(s string) (uint32, error) {
	if s == "" || strings.EqualFold(s, "none") {
		return 0, nil
	}
	var v uint32
next:
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		for i, n := range d.names {
			if n != "" && strings.EqualFold(part, n) {
				v |= 1 << i
				continue next
			}
		}
		if hex, ok := strings.CutPrefix(strings.ToLower(part), "0x"); ok {
			if n, err := strconv.ParseUint(hex, 16, 32); err == nil {
				v |= uint32(n)
				continue
			}
		}
		var known []string
		for _, n := range d.names {
			if n != "" {
				known = append(known, n)
			}
		}
		return 0, invalidf(d.field, "unknown %s %q (want one of %s, or hex bits)", d.field, part, strings.Join(known, ", "))
	}
	return v, nil
}

// CTState is a set of connection tracking states; a ct-state match holds
// when the packet's state is any of them.
type CTState uint32

// The states.
const (
	CTStateNew         CTState = nlproto.CT_STATE_NEW
	CTStateEstablished CTState = nlproto.CT_STATE_ESTABLISHED
	CTStateRelated     CTState = nlproto.CT_STATE_RELATED
	CTStateInvalid     CTState = nlproto.CT_STATE_INVALID
	CTStateUntracked   CTState = nlproto.CT_STATE_UNTRACKED
)

var ctStateBits = bitsFrom("ct state", nlproto.EnumCTState)

// Names returns the names of the states in s, such as "new"; unknown bits
// in hex.
func (s CTState) Names() []string { return ctStateBits.list(uint32(s)) }

// String returns the names joined by commas, such as "established,related",
// or "none".
func (s CTState) String() string { return ctStateBits.str(uint32(s)) }

// MarshalText returns String.
func (s CTState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts what MarshalText writes, names in any case.
func (s *CTState) UnmarshalText(b []byte) error {
	v, err := ctStateBits.parse(string(b))
	*s = CTState(v)
	return err
}

// Weekdays is a set of days of the week.
type Weekdays uint32

// The days.
const (
	Monday    Weekdays = nlproto.WEEKDAY_MON
	Tuesday   Weekdays = nlproto.WEEKDAY_TUE
	Wednesday Weekdays = nlproto.WEEKDAY_WED
	Thursday  Weekdays = nlproto.WEEKDAY_THU
	Friday    Weekdays = nlproto.WEEKDAY_FRI
	Saturday  Weekdays = nlproto.WEEKDAY_SAT
	Sunday    Weekdays = nlproto.WEEKDAY_SUN
)

var weekdayBits = bitsFrom("weekday", nlproto.EnumWeekday)

// Names returns the names of the days in w, "mon" to "sun".
func (w Weekdays) Names() []string { return weekdayBits.list(uint32(w)) }

// String returns the names joined by commas, such as "sat,sun", or "none".
func (w Weekdays) String() string { return weekdayBits.str(uint32(w)) }

// MarshalText returns String.
func (w Weekdays) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText accepts what MarshalText writes, names in any case.
func (w *Weekdays) UnmarshalText(b []byte) error {
	v, err := weekdayBits.parse(string(b))
	*w = Weekdays(v)
	return err
}

// NATFlags are the flags of a NAT action (enum nflab_nat_flags).
type NATFlags uint32

// The flags.
const (
	// NATRandom starts a destination's port search at a random offset
	// too, rather than at one hashed from the connection (a source's
	// always starts at a random one).
	NATRandom NATFlags = nlproto.NAT_F_RANDOM
	// NATFullyRandom picks a random port even when the original is free.
	NATFullyRandom NATFlags = nlproto.NAT_F_FULLY_RANDOM
	// NATPersistent gives a source the same address from a range for
	// all its connections (otherwise the address is hashed from source
	// and destination).
	NATPersistent NATFlags = nlproto.NAT_F_PERSISTENT
	// NATFullcone (SNAT and MASQUERADE, UDP) maps one internal
	// address:port to one external address:port for every destination,
	// and lets any outside host reach it there (RFC 4787 "full cone").
	NATFullcone NATFlags = nlproto.NAT_F_FULLCONE
)

var natFlagBits = func() *bitsDef {
	d := bitsFrom("nat flag", nlproto.EnumNATFlags)
	for i, n := range d.names {
		d.names[i] = strings.ReplaceAll(n, "_", "-")
	}
	return d
}()

// Names returns the names of the flags in f, "random", "fully-random",
// "persistent" and "fullcone"; unknown bits in hex.
func (f NATFlags) Names() []string { return natFlagBits.list(uint32(f)) }

// String returns the names joined by commas, such as
// "random,persistent", or "none".
func (f NATFlags) String() string { return natFlagBits.str(uint32(f)) }

// MarshalText returns String.
func (f NATFlags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText accepts what MarshalText writes, names in any case (with
// "_" for "-" too).
func (f *NATFlags) UnmarshalText(b []byte) error {
	v, err := natFlagBits.parse(strings.ReplaceAll(string(b), "_", "-"))
	*f = NATFlags(v)
	return err
}

// TCPFlags is a set of TCP header flags, as the header's flags byte holds
// them.
type TCPFlags uint8

// The flags.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

var tcpFlagBits = &bitsDef{field: "tcp flag", names: []string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"}}

// Names returns the names of the flags in f, such as "syn".
func (f TCPFlags) Names() []string { return tcpFlagBits.list(uint32(f)) }

// String returns the names joined by commas, such as "syn,ack", or "none".
func (f TCPFlags) String() string { return tcpFlagBits.str(uint32(f)) }

// MarshalText returns String.
func (f TCPFlags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText accepts what MarshalText writes, names in any case.
func (f *TCPFlags) UnmarshalText(b []byte) error {
	v, err := tcpFlagBits.parse(string(b))
	if err == nil && v > 0xff {
		err = invalidf("tcp flag", "%#x is not a TCP flag", v)
	}
	*f = TCPFlags(v)
	return err
}
