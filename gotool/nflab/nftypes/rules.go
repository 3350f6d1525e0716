package nftypes

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/nflab/nflab/nlproto"
)

// Limits of the rule engine, from the protocol.
const (
	MaxNameLen      = nlproto.NAME_MAXLEN - 1       // chain and set names, in bytes
	MaxCommentLen   = nlproto.COMMENT_MAXLEN - 1    // rule comments, in bytes
	MaxLogPrefixLen = nlproto.LOG_PREFIX_MAXLEN - 1 // log prefixes, in bytes
	MaxMatches      = nlproto.RULE_MATCHES_MAX      // matches in one rule
	MaxPortRanges   = nlproto.PORTS_MAX             // port ranges in one port match
	MaxPatternLen   = nlproto.STRING_MAXLEN         // bytes a string match looks for
	MaxIfaceLen     = 15                            // interface names (IFNAMSIZ - 1)
	MaxSetElems     = nlproto.SET_ELEMS_MAX         // elements of one set, before merging
	MaxRules        = nlproto.RULES_MAX             // rules of a namespace
	MaxChains       = nlproto.CHAINS_MAX            // user chains of a namespace
	MaxSets         = nlproto.SETS_MAX              // sets of a namespace
	MaxJumpDepth    = nlproto.JUMP_DEPTH            // how deep jumps may nest

	// Limits the module checks that the protocol header does not name.
	MaxConnlimitCount = 65535   // connlimit's count: below NFLAB_CL_NODES
	MaxLimitBurst     = 1000000 // limit's burst
	DefaultLimitBurst = 5       // limit's burst when Burst is 0
)

// TableHooks returns the hooks table t sits at, in hook order: one
// built-in chain each.
func TableHooks(t Table) []Hook {
	switch t {
	case TableRaw:
		return []Hook{PreRouting, LocalOut}
	case TableMangle:
		return []Hook{PreRouting, LocalIn, Forward, LocalOut, PostRouting}
	case TableFilter:
		return []Hook{LocalIn, Forward, LocalOut}
	case TableNAT:
		return []Hook{PreRouting, LocalIn, LocalOut, PostRouting}
	}
	return nil
}

// ActionHooks returns the hooks a NAT action may act at, in hook order:
// a chain with such a rule must be reached from these only (the module
// checks at commit, through jumps and gotos). It returns nil for the
// other actions, which act anywhere their table sits.
func ActionHooks(a ActionType) []Hook {
	switch a {
	case ActionDNAT, ActionRedirect:
		return []Hook{PreRouting, LocalOut}
	case ActionSNAT:
		return []Hook{LocalIn, PostRouting}
	case ActionMasquerade:
		return []Hook{PostRouting}
	}
	return nil
}

// IsNAT reports whether a is one of the NAT actions.
func (a ActionType) IsNAT() bool { return ActionHooks(a) != nil }

// ChainName returns the name of the built-in chain at h: the hook's name in
// lower case without "_", such as "prerouting" and "input".
func (h Hook) ChainName() string {
	switch h {
	case PreRouting:
		return "prerouting"
	case LocalIn:
		return "input"
	case Forward:
		return "forward"
	case LocalOut:
		return "output"
	case PostRouting:
		return "postrouting"
	}
	return ""
}

// BuiltinHook returns the hook of the built-in chain named name, whatever
// the table, and whether name is a built-in name.
func BuiltinHook(name string) (Hook, bool) {
	for _, h := range []Hook{PreRouting, LocalIn, Forward, LocalOut, PostRouting} {
		if h.ChainName() == name {
			return h, true
		}
	}
	return 0, false
}

// BuiltinChains returns the built-in chains of every table, in table and
// hook order, each accepting and empty: what an empty ruleset holds.
func BuiltinChains() []Chain {
	var cs []Chain
	for _, t := range Tables() {
		for _, h := range TableHooks(t) {
			cs = append(cs, Chain{Table: t, Name: h.ChainName(), Hook: &h, Policy: VerdictAccept})
		}
	}
	return cs
}

// ValidateName reports why s cannot name a chain or a set: 1 to
// MaxNameLen bytes of [A-Za-z0-9_.-].
func ValidateName(field, s string) error {
	if s == "" || len(s) > MaxNameLen {
		return invalidf(field, "name %q must be 1 to %d bytes", s, MaxNameLen)
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return invalidf(field, "name %q may hold only letters, digits, '_', '.' and '-'", s)
		}
	}
	return nil
}

// validateChainRef reports why name cannot name a chain of table t.
func validateChainRef(field string, t Table, name string) error {
	if err := ValidateName(field, name); err != nil {
		return err
	}
	if h, ok := BuiltinHook(name); ok && !hasHook(t, h) {
		return invalidf(field, "table %s has no built-in chain %s", t, name)
	}
	return nil
}

func hasHook(t Table, h Hook) bool {
	for _, x := range TableHooks(t) {
		if x == h {
			return true
		}
	}
	return false
}

// A Chain is a list of rules in a table: a built-in chain at a hook, with
// a policy, or a user chain reached by jump and goto.
type Chain struct {
	Table  Table
	Name   string
	Hook   *Hook   `json:",omitempty"` // built-in chains only; nil for user chains
	Policy Verdict `json:",omitempty"` // built-in chains only
	Rules  int     // how many rules it holds; read-only
}

// Builtin reports whether c is a built-in chain.
func (c Chain) Builtin() bool { return c.Hook != nil }

// Validate reports what makes c unusable: a built-in chain must be one of
// its table's, named after its hook, with policy accept or drop (0 is
// accept); a user chain needs a valid name that is not a built-in one and
// no policy. Rules is not checked.
func (c Chain) Validate() error {
	if !tableDef.known(uint64(c.Table)) {
		return invalidf("chain", "unknown table %s", c.Table)
	}
	if err := ValidateName("chain", c.Name); err != nil {
		return err
	}
	h, builtin := BuiltinHook(c.Name)
	switch {
	case c.Hook == nil && builtin:
		return invalidf("chain", "%s is a built-in chain's name", c.Name)
	case c.Hook == nil && c.Policy != 0:
		return invalidf("chain", "user chain %s/%s cannot have a policy", c.Table, c.Name)
	case c.Hook != nil && (!builtin || h != *c.Hook || !hasHook(c.Table, h)):
		return invalidf("chain", "table %s has no built-in chain %s at %s", c.Table, c.Name, *c.Hook)
	case c.Hook != nil && c.Policy != 0 && c.Policy != VerdictAccept && c.Policy != VerdictDrop:
		return invalidf("chain", "policy %s is not accept or drop", c.Policy)
	}
	return nil
}

// A Rule is a list of matches, all of which must hold, and an action.
type Rule struct {
	Handle  uint64 `json:",omitempty"` // its number, given by the module; read-only
	Table   Table
	Chain   string
	Matches []Match `json:",omitempty"`
	Action  Action
	Comment string `json:",omitempty"`
	Packets uint64 // read-only
	Bytes   uint64 // read-only
}

// Validate reports what the module would reject in r, before anything is
// sent: its table and chain, each match, its action, its comment, and the
// table each match and action needs. Handle, Packets and Bytes are not
// checked.
func (r Rule) Validate() error {
	if !tableDef.known(uint64(r.Table)) {
		return invalidf("rule", "unknown table %s", r.Table)
	}
	if err := validateChainRef("rule", r.Table, r.Chain); err != nil {
		return err
	}
	if len(r.Matches) > MaxMatches {
		return invalidf("rule", "%d matches, at most %d", len(r.Matches), MaxMatches)
	}
	for i, m := range r.Matches {
		if err := m.Validate(); err != nil {
			return withPrefix(err, fmt.Sprintf("match %d: ", i+1))
		}
		if r.Table == TableRaw && (m.Kind == MatchCTState || m.Kind == MatchCTStatus || m.Kind == MatchConnlimit) {
			return invalidf("match", "match %d: %s is not allowed in table raw (before tracking)", i+1, m.Kind)
		}
	}
	if err := r.Action.Validate(); err != nil {
		return err
	}
	if t, ok := actionTable(r.Action.Type); ok && t != r.Table {
		return invalidf("action", "%s is allowed in table %s only", r.Action.Type, t)
	}
	if r.Action.Ports != nil && !matchesTCPOrUDP(r.Matches) {
		return invalidf("action", "%s: a port range needs the rule to match protocol tcp or udp (such as tcp dport 80)", r.Action.Type)
	}
	if (r.Action.Type == ActionJump || r.Action.Type == ActionGoto) && r.Action.Chain == r.Chain {
		return invalidf("action", "chain %s %ss to itself", r.Chain, r.Action.Type)
	}
	if len(r.Comment) > MaxCommentLen || strings.IndexByte(r.Comment, 0) >= 0 {
		return invalidf("rule", "comment must be at most %d bytes, without NUL", MaxCommentLen)
	}
	return nil
}

// actionTable returns the one table action a is allowed in, if any.
func actionTable(a ActionType) (Table, bool) {
	switch a {
	case ActionReject:
		return TableFilter, true
	case ActionNotrack:
		return TableRaw, true
	case ActionMark, ActionTOS, ActionDSCP, ActionTTL:
		return TableMangle, true
	case ActionSNAT, ActionDNAT, ActionMasquerade, ActionRedirect:
		return TableNAT, true
	}
	return 0, false
}

// matchesTCPOrUDP reports whether ms hold a protocol match, not negated,
// for tcp or udp: what a NAT action's port range needs.
func matchesTCPOrUDP(ms []Match) bool {
	for _, m := range ms {
		if m.Kind == MatchProto && !m.Invert && (m.Proto == TCP || m.Proto == UDP) {
			return true
		}
	}
	return false
}

func withPrefix(err error, prefix string) error {
	if ve, ok := err.(*ValidationError); ok {
		return &ValidationError{Field: ve.Field, Reason: prefix + ve.Reason}
	}
	return err
}

// An Action is what a rule does with the packets its matches hold for.
// Which fields a type uses is listed at each field; others must be zero.
type Action struct {
	Type       ActionType
	Chain      string     `json:",omitempty"` // jump, goto: a user chain of the rule's table
	RejectWith RejectWith `json:",omitempty"` // reject; 0 is port-unreach
	LogPrefix  string     `json:",omitempty"` // log, optional: printable ASCII
	Value      uint32     `json:",omitempty"` // mark, tos (0-255), dscp (0-63), ttl (1-255)
	Mask       uint32     `json:",omitempty"` // mark, optional: 0 is all ones (a mask of 0, which would change nothing, cannot be expressed)
	TTLMode    TTLMode    `json:",omitempty"` // ttl

	// The NAT actions. snat: Addr, optionally to AddrEnd; dnat: Addr
	// (optionally to AddrEnd) or Ports or both; masquerade and redirect
	// take the interface's address, and neither. Each may take Ports and
	// NATFlags.
	Addr     netip.Addr `json:",omitzero"`  // snat, dnat: the (first) address, IPv4
	AddrEnd  netip.Addr `json:",omitzero"`  // snat, dnat, optional: the last address (above Addr); zero for Addr alone
	Ports    *PortRange `json:",omitempty"` // NAT, optional: ports 1-65535; the rule must match protocol tcp or udp
	NATFlags NATFlags   `json:",omitempty"` // NAT, optional
}

// Validate reports what the module would reject in a.
func (a Action) Validate() error {
	if !actionDef.known(uint64(a.Type)) {
		return invalidf("action", "unknown action %s", a.Type)
	}
	var used []string
	switch a.Type {
	case ActionJump, ActionGoto:
		used = []string{"Chain"}
		if err := ValidateName("action", a.Chain); err != nil {
			return err
		}
		if _, ok := BuiltinHook(a.Chain); ok {
			return invalidf("action", "%s to built-in chain %s (want a user chain)", a.Type, a.Chain)
		}
	case ActionReject:
		used = []string{"RejectWith"}
		if a.RejectWith != 0 && !rejectDef.known(uint64(a.RejectWith)) {
			return invalidf("action", "unknown reject-with %s", a.RejectWith)
		}
	case ActionLog:
		used = []string{"LogPrefix"}
		if len(a.LogPrefix) > MaxLogPrefixLen {
			return invalidf("action", "log prefix must be at most %d bytes", MaxLogPrefixLen)
		}
		for i := 0; i < len(a.LogPrefix); i++ {
			if c := a.LogPrefix[i]; c < 0x20 || c > 0x7e {
				return invalidf("action", "log prefix %q: byte %#02x is not printable ASCII", a.LogPrefix, c)
			}
		}
	case ActionMark:
		used = []string{"Value", "Mask"}
		if mask := a.Mask; mask != 0 && a.Value&^mask != 0 {
			return invalidf("action", "mark %#x has bits outside its mask %#x", a.Value, mask)
		}
	case ActionTOS:
		used = []string{"Value"}
		if a.Value > 255 {
			return invalidf("action", "tos %d is out of range (0-255)", a.Value)
		}
	case ActionDSCP:
		used = []string{"Value"}
		if a.Value > 63 {
			return invalidf("action", "dscp %d is out of range (0-63)", a.Value)
		}
	case ActionTTL:
		used = []string{"Value", "TTLMode"}
		if !ttlModeDef.known(uint64(a.TTLMode)) {
			return invalid("action", "ttl needs a mode: set, inc or dec")
		}
		if a.Value < 1 || a.Value > 255 {
			return invalidf("action", "ttl value %d is out of range (1-255)", a.Value)
		}
	case ActionSNAT, ActionDNAT:
		used = []string{"Addr", "AddrEnd", "Ports", "NATFlags"}
	case ActionMasquerade, ActionRedirect:
		used = []string{"Ports", "NATFlags"}
	}
	if f := strayField(a, "Type", used); f != "" {
		return invalidf("action", "%s does not use %s", a.Type, f)
	}
	if a.Type.IsNAT() {
		return a.validateNAT()
	}
	return nil
}

// validateNAT checks the fields of a NAT action; Validate has checked
// that it sets no other.
func (a Action) validateNAT() error {
	switch {
	case a.Type == ActionSNAT && !a.Addr.IsValid():
		return invalid("action", "snat needs an address")
	case a.Type == ActionDNAT && !a.Addr.IsValid() && a.Ports == nil:
		return invalid("action", "dnat needs an address or a port range")
	case a.AddrEnd.IsValid() && !a.Addr.IsValid():
		return invalidf("action", "%s: an address range needs its first address", a.Type)
	}
	for _, x := range []netip.Addr{a.Addr, a.AddrEnd} {
		if x.IsValid() && !x.Is4() {
			return invalidf("action", "%s: %v is not an IPv4 address", a.Type, x)
		}
	}
	if a.AddrEnd.IsValid() && a.AddrEnd.Less(a.Addr) {
		return invalidf("action", "%s: address range %v-%v is backwards", a.Type, a.Addr, a.AddrEnd)
	}
	if p := a.Ports; p != nil {
		if p.First == 0 || p.Last == 0 {
			return invalidf("action", "%s: port range %s: ports are 1 to 65535", a.Type, p)
		}
		if p.First > p.Last {
			return invalidf("action", "%s: port range %s is backwards", a.Type, p)
		}
	}
	if bad := uint32(a.NATFlags) &^ natFlagBits.all(); bad != 0 {
		return invalidf("action", "%s: unknown flags %#x (want some of %s)", a.Type, bad, strings.Join(natFlagBits.list(natFlagBits.all()), ", "))
	}
	if a.NATFlags&NATFullcone != 0 && a.Type != ActionSNAT && a.Type != ActionMasquerade {
		return invalidf("action", "%s: fullcone is for snat and masquerade", a.Type)
	}
	return nil
}

// strayField returns the name of a non-zero field of struct v not in keep
// or used, or "".
func strayField(v any, keep string, used []string) string {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
fields:
	for i := 0; i < rt.NumField(); i++ {
		name := rt.Field(i).Name
		if name == keep || rv.Field(i).IsZero() {
			continue
		}
		for _, u := range used {
			if u == name {
				continue fields
			}
		}
		return name
	}
	return ""
}

// A Ruleset is the whole of a namespace's rules, as Client.Ruleset reads
// it and Client.ApplyRuleset writes it: chains (built-in and user), rules
// in chain order, and sets with their elements.
type Ruleset struct {
	Gen    uint32 // the generation it was read at; read-only
	Chains []Chain
	Rules  []Rule
	Sets   []Set
}

// Validate checks every chain, rule and set of rs on its own (not the
// references between them, which the module checks at commit).
func (rs Ruleset) Validate() error {
	for i, c := range rs.Chains {
		if err := c.Validate(); err != nil {
			return withPrefix(err, fmt.Sprintf("chain %d (%s/%s): ", i+1, c.Table, c.Name))
		}
	}
	for i, s := range rs.Sets {
		if err := s.Validate(); err != nil {
			return withPrefix(err, fmt.Sprintf("set %d (%s): ", i+1, s.Name))
		}
	}
	for i, r := range rs.Rules {
		if err := r.Validate(); err != nil {
			return withPrefix(err, fmt.Sprintf("rule %d: ", i+1))
		}
	}
	return nil
}

// durationSeconds reports whether d is a whole number of seconds.
func durationSeconds(d time.Duration) bool { return d%time.Second == 0 }
