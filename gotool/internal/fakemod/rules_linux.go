//go:build linux

package fakemod

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// The rule engine, as nflab.h describes it: one ruleset per module, changed
// only in transactions owned by one socket (its port id), staged on a copy
// and checked as a whole at commit.

// A frule is one rule. Rules are shared between the live ruleset and a
// transaction's copy, so that their counters and state carry over; a
// replaced rule is a new frule.
type frule struct {
	nftypes.Rule
	packets, bytes uint64
	quotaUsed      uint64 // each quota match's

	// As the request sent them, for the replies: the kernel keeps and
	// echoes the request's bytes, defaults left out as they came.
	rawMatches, rawAction []byte
	hasComment            bool
}

// newFrule is the rule r as RULE_NEW or RULE_REPLACE sent it, with the
// attributes has.
func newFrule(r nftypes.Rule, has nest) *frule {
	f := &frule{Rule: r, rawAction: has[nlproto.RULE_A_ACTION][0], hasComment: has.has(nlproto.RULE_A_COMMENT)}
	if has.has(nlproto.RULE_A_MATCHES) {
		f.rawMatches = has[nlproto.RULE_A_MATCHES][0]
	}
	return f
}

// createRule is what nflab_rule_create rejects in r, sent with the
// attributes has, for its chain's table t (at RULE_NEW and RULE_REPLACE,
// after the chain, position and room as nflab_rule_nl_new checks them):
// the matches, then the action, which it decodes into r.Matches and
// r.Action.
func createRule(r *nftypes.Rule, has nest, t nftypes.Table) error {
	if has.has(nlproto.RULE_A_MATCHES) {
		ms, err := decodeMatches(has[nlproto.RULE_A_MATCHES][0], t)
		if err != nil {
			return err
		}
		r.Matches = ms
	}
	a, an, err := decodeAction(has[nlproto.RULE_A_ACTION][0])
	if err != nil {
		return err
	}
	if err := checkAction(a, an, t); err != nil {
		return err
	}
	r.Action = a
	return nil
}

type fchain struct {
	table  nftypes.Table
	name   string
	hook   *nftypes.Hook
	policy nftypes.Verdict
	rules  []*frule
}

type fset struct {
	name  string
	typ   nftypes.SetType
	addrs []nftypes.AddrRange // merged
	ports []nftypes.PortRange // merged
	added int                 // elements added, before merging
}

func (s *fset) count() int { return len(s.addrs) + len(s.ports) }

type fruleset struct {
	chains []*fchain // built-in ones in table and hook order, then user chains by table and age
	sets   []*fset
}

func emptyRuleset() *fruleset {
	rs := &fruleset{}
	for _, c := range nftypes.BuiltinChains() {
		rs.chains = append(rs.chains, &fchain{table: c.Table, name: c.Name, hook: c.Hook, policy: c.Policy})
	}
	return rs
}

// clone copies the ruleset's structure; rules stay shared, sets are copied.
func (rs *fruleset) clone() *fruleset {
	out := &fruleset{}
	for _, c := range rs.chains {
		cc := *c
		cc.rules = slices.Clone(c.rules)
		out.chains = append(out.chains, &cc)
	}
	for _, s := range rs.sets {
		ss := *s
		ss.addrs, ss.ports = slices.Clone(s.addrs), slices.Clone(s.ports)
		out.sets = append(out.sets, &ss)
	}
	return out
}

func (rs *fruleset) chain(t nftypes.Table, name string) *fchain {
	for _, c := range rs.chains {
		if c.table == t && c.name == name {
			return c
		}
	}
	return nil
}

func (rs *fruleset) set(name string) *fset {
	for _, s := range rs.sets {
		if s.name == name {
			return s
		}
	}
	return nil
}

// rule finds the rule with handle h: its chain and index.
func (rs *fruleset) rule(h uint64) (*fchain, int) {
	for _, c := range rs.chains {
		for i, r := range c.rules {
			if r.Handle == h {
				return c, i
			}
		}
	}
	return nil, -1
}

func (rs *fruleset) numRules() int {
	n := 0
	for _, c := range rs.chains {
		n += len(c.rules)
	}
	return n
}

func (rs *fruleset) refs(set string) int {
	n := 0
	for _, c := range rs.chains {
		for _, r := range c.rules {
			for _, m := range r.Matches {
				if m.Kind == nftypes.MatchSet && m.SetName == set {
					n++
					break
				}
			}
		}
	}
	return n
}

// A ftx is the open transaction.
type ftx struct {
	pid     uint32
	staging *fruleset
}

// rulesState is the module's rule engine state; m.mu guards it.
type rulesState struct {
	live       *fruleset
	gen        uint32
	nextHandle uint64
	tx         *ftx
}

// Gen returns the ruleset's generation.
func (m *Module) Gen() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rules.gen
}

// TxOpen reports whether a transaction is open.
func (m *Module) TxOpen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rules.tx != nil
}

// HitRule counts packets and bytes for the rule with handle h, as if they
// matched it, and adds bytes to its quota's use; false if there is no
// such rule.
func (m *Module) HitRule(h uint64, packets, bytes uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, i := m.rules.live.rule(h)
	if c == nil {
		return false
	}
	r := c.rules[i]
	r.packets += packets
	r.bytes += bytes
	r.quotaUsed += bytes
	return true
}

// abortTx ends the transaction of the socket with port id pid, if any, as
// the kernel does when the socket closes.
func (m *Module) abortTx(pid uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rules.tx != nil && m.rules.tx.pid == pid {
		m.rules.tx = nil
	}
}

// answer builds the reply to req carrying what ae holds, and the ACK if
// asked for.
func (m *Module) answer(req netlink.Message, cmd uint8, ae *netlink.AttributeEncoder) [][]netlink.Message {
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	dg := []netlink.Message{genlMessage(cmd, b, 0, req.Header.Sequence, req.Header.PID)}
	if req.Header.Flags&netlink.Acknowledge != 0 {
		dg = append(dg, errorMessage(req, 0, ""))
	}
	return [][]netlink.Message{dg}
}

// answerApart is answer with the reply and the ACK in datagrams of
// their own.
func (m *Module) answerApart(req netlink.Message, cmd uint8, ae *netlink.AttributeEncoder) [][]netlink.Message {
	var out [][]netlink.Message
	for _, dg := range m.answer(req, cmd, ae) {
		for _, msg := range dg {
			out = append(out, []netlink.Message{msg})
		}
	}
	return out
}

func acked(req netlink.Message) [][]netlink.Message {
	if req.Header.Flags&netlink.Acknowledge == 0 {
		return [][]netlink.Message{}
	}
	return [][]netlink.Message{{errorMessage(req, 0, "")}}
}

// handleRules answers the rule engine's commands; m.mu is held.
func (m *Module) handleRules(req netlink.Message, cmd uint8, attrs map[uint16][]byte) [][]netlink.Message {
	st := &m.rules
	pid := req.Header.PID
	dump := req.Header.Flags&netlink.Dump == netlink.Dump
	switch cmd {
	case nlproto.CMD_RULES_BEGIN:
		if st.tx != nil {
			return fails(req, unix.EBUSY, "A rules transaction is already open")
		}
		var flags, gen uint32
		if b, ok := attrs[nlproto.A_RULES_FLAGS]; ok {
			flags = nest{0: {b}}.mustU32()
		}
		if flags&^nlproto.RULES_F_REPLACE != 0 {
			return fails(req, unix.EINVAL, "RULES_BEGIN takes only the REPLACE flag")
		}
		if b, ok := attrs[nlproto.A_RULES_GEN]; ok {
			gen = nest{0: {b}}.mustU32()
			if gen != st.gen {
				return fails(req, unix.ESTALE, fmt.Sprintf("the ruleset has generation %d, not %d", st.gen, gen))
			}
		}
		tx := &ftx{pid: pid, staging: st.live.clone()}
		if flags&nlproto.RULES_F_REPLACE != 0 {
			tx.staging = emptyRuleset()
		}
		st.tx = tx
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(nlproto.A_RULES_GEN, st.gen)
		return m.answer(req, cmd, ae)
	case nlproto.CMD_CHAIN_GET:
		return m.dumpChains(req)
	case nlproto.CMD_RULE_GET:
		if dump {
			return m.dumpRules(req)
		}
		b, ok := attrs[nlproto.A_RULE]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_RULE")
		}
		r, _, _, _, err := decodeRuleReq(b)
		if err != nil {
			return rejects(req, err)
		}
		c, i := st.live.rule(r.Handle)
		if c == nil {
			return fails(req, unix.ENOENT, fmt.Sprintf("no rule has handle %d", r.Handle))
		}
		ae := netlink.NewAttributeEncoder()
		m.encodeRule(ae, c.rules[i])
		ae.Uint32(nlproto.A_RULES_GEN, st.gen)
		return m.answer(req, cmd, ae)
	case nlproto.CMD_RULE_RESET:
		var rules []*frule
		if b, ok := attrs[nlproto.A_RULE]; ok {
			r, _, _, _, err := decodeRuleReq(b)
			if err != nil {
				return rejects(req, err)
			}
			c, i := st.live.rule(r.Handle)
			if c == nil {
				return fails(req, unix.ENOENT, fmt.Sprintf("no rule has handle %d", r.Handle))
			}
			rules = append(rules, c.rules[i])
		} else {
			for _, c := range st.live.chains {
				rules = append(rules, c.rules...)
			}
		}
		for _, r := range rules {
			r.packets, r.bytes, r.quotaUsed = 0, 0, 0
		}
		return acked(req)
	case nlproto.CMD_SET_GET:
		return m.dumpSets(req, attrs)
	}

	// Everything else happens in the caller's transaction.
	if st.tx == nil || st.tx.pid != pid {
		return fails(req, unix.ENOENT, "No rules transaction open on this socket")
	}
	tx := st.tx
	rs := tx.staging
	switch cmd {
	case nlproto.CMD_RULES_ABORT:
		st.tx = nil
		return acked(req)
	case nlproto.CMD_RULES_COMMIT:
		st.tx = nil // whatever the outcome
		var flags uint32
		if b, ok := attrs[nlproto.A_RULES_FLAGS]; ok {
			flags = nest{0: {b}}.mustU32()
		}
		if flags&^nlproto.RULES_F_CHECK != 0 {
			return fails(req, unix.EINVAL, "RULES_COMMIT takes only the CHECK flag")
		}
		if errno, msg := checkRuleset(rs); errno != 0 {
			return fails(req, errno, msg)
		}
		// As the kernel: every commit but a check makes a generation.
		if flags&nlproto.RULES_F_CHECK == 0 {
			st.live = rs
			st.gen++
		}
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(nlproto.A_RULES_GEN, st.gen)
		return m.answer(req, cmd, ae)
	case nlproto.CMD_CHAIN_NEW, nlproto.CMD_CHAIN_DEL, nlproto.CMD_CHAIN_POLICY:
		b, ok := attrs[nlproto.A_CHAIN]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_CHAIN")
		}
		t, name, policy, hasPolicy, err := decodeChainReq(b)
		if err != nil {
			return rejects(req, err)
		}
		c := rs.chain(t, name)
		switch cmd {
		case nlproto.CMD_CHAIN_NEW:
			if hasPolicy {
				return fails(req, unix.EINVAL, "a user chain has no policy")
			}
			if err := nftypes.ValidateName("chain", name); err != nil {
				return fails(req, unix.EINVAL, err.(*nftypes.ValidationError).Reason)
			}
			if _, builtin := nftypes.BuiltinHook(name); builtin {
				return fails(req, unix.EINVAL, fmt.Sprintf("%s is a built-in chain's name", name))
			}
			if c != nil {
				return fails(req, unix.EEXIST, fmt.Sprintf("chain %s/%s exists", t, name))
			}
			if len(rs.chains)-len(nftypes.BuiltinChains()) >= nlproto.CHAINS_MAX {
				return fails(req, unix.ENOSPC, "too many user chains")
			}
			// User chains sort by table, then age.
			i := len(rs.chains)
			for i > 0 && rs.chains[i-1].hook == nil && rs.chains[i-1].table > t {
				i--
			}
			rs.chains = slices.Insert(rs.chains, i, &fchain{table: t, name: name})
		case nlproto.CMD_CHAIN_DEL:
			if c == nil {
				return fails(req, unix.ENOENT, fmt.Sprintf("no chain %s/%s", t, name))
			}
			if c.hook != nil {
				return fails(req, unix.EINVAL, "a built-in chain cannot be deleted")
			}
			if len(c.rules) > 0 || jumpsTo(rs, t, name) {
				return fails(req, unix.EBUSY, fmt.Sprintf("chain %s/%s holds rules or is jumped to", t, name))
			}
			rs.chains = slices.DeleteFunc(rs.chains, func(x *fchain) bool { return x == c })
		case nlproto.CMD_CHAIN_POLICY:
			if c == nil {
				return fails(req, unix.ENOENT, fmt.Sprintf("no chain %s/%s", t, name))
			}
			if c.hook == nil {
				return fails(req, unix.EINVAL, "a user chain has no policy")
			}
			if policy != nftypes.VerdictAccept && policy != nftypes.VerdictDrop {
				return fails(req, unix.EINVAL, "policy must be accept or drop")
			}
			c.policy = policy
		}
	case nlproto.CMD_RULE_NEW, nlproto.CMD_RULE_DEL, nlproto.CMD_RULE_REPLACE:
		b, ok := attrs[nlproto.A_RULE]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_RULE")
		}
		r, has, pos, flags, err := decodeRuleReq(b)
		if err != nil {
			return rejects(req, err)
		}
		switch cmd {
		case nlproto.CMD_RULE_NEW:
			if has.has(nlproto.RULE_A_HANDLE) {
				return fails(req, unix.EINVAL, "RULE_NEW takes no handle")
			}
			if !has.has(nlproto.RULE_A_ACTION) || !has.has(nlproto.RULE_A_TABLE) || !has.has(nlproto.RULE_A_CHAIN) {
				return fails(req, unix.EINVAL, "RULE_NEW needs table, chain and action")
			}
			// In nflab_rule_nl_new's order: the chain, the
			// position, the room, then the rule itself.
			c := rs.chain(r.Table, r.Chain)
			if c == nil {
				return fails(req, unix.ENOENT, fmt.Sprintf("no chain %s/%s", r.Table, r.Chain))
			}
			at := len(c.rules)
			if flags&nlproto.RULE_F_INSERT != 0 {
				at = 0
			}
			if has.has(nlproto.RULE_A_POSITION) {
				i := slices.IndexFunc(c.rules, func(x *frule) bool { return x.Handle == pos })
				if i < 0 {
					return fails(req, unix.ENOENT, fmt.Sprintf("no rule with handle %d in %s/%s", pos, r.Table, r.Chain))
				}
				at = i + 1
				if flags&nlproto.RULE_F_INSERT != 0 {
					at = i
				}
			}
			if rs.numRules() >= nlproto.RULES_MAX {
				return fails(req, unix.ENOSPC, "too many rules")
			}
			if err := createRule(&r, has, c.table); err != nil {
				return rejects(req, err)
			}
			st.nextHandle++
			r.Handle = st.nextHandle
			c.rules = slices.Insert(c.rules, at, newFrule(r, has))
			ae := netlink.NewAttributeEncoder()
			ae.Nested(nlproto.A_RULE, func(nae *netlink.AttributeEncoder) error {
				nae.Uint64(nlproto.RULE_A_HANDLE, r.Handle)
				return nil
			})
			// The reply, then the ACK: two datagrams, as the
			// kernel sends them.
			return m.answerApart(req, cmd, ae)
		case nlproto.CMD_RULE_DEL, nlproto.CMD_RULE_REPLACE:
			if !has.has(nlproto.RULE_A_HANDLE) {
				return fails(req, unix.EINVAL, "Missing attribute: NFLAB_RULE_A_HANDLE")
			}
			c, i := rs.rule(r.Handle)
			if c == nil {
				return fails(req, unix.ENOENT, fmt.Sprintf("no rule has handle %d", r.Handle))
			}
			if cmd == nlproto.CMD_RULE_DEL {
				if len(has) != 1 {
					return fails(req, unix.EINVAL, "RULE_DEL takes the handle only")
				}
				c.rules = slices.Delete(c.rules, i, i+1)
				break
			}
			if has.has(nlproto.RULE_A_POSITION) || has.has(nlproto.RULE_A_FLAGS) || !has.has(nlproto.RULE_A_ACTION) {
				return fails(req, unix.EINVAL, "RULE_REPLACE takes handle, matches, action and comment")
			}
			if (has.has(nlproto.RULE_A_TABLE) && r.Table != c.table) || (has.has(nlproto.RULE_A_CHAIN) && r.Chain != c.name) {
				return fails(req, unix.EINVAL, "a replaced rule keeps its table and chain")
			}
			if err := createRule(&r, has, c.table); err != nil {
				return rejects(req, err)
			}
			r.Table, r.Chain = c.table, c.name
			c.rules[i] = newFrule(r, has)
		}
	case nlproto.CMD_SET_NEW, nlproto.CMD_SET_DEL, nlproto.CMD_SET_ADD_ELEMS, nlproto.CMD_SET_FLUSH:
		b, ok := attrs[nlproto.A_SET]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_SET")
		}
		name, typ, elems, err := decodeSetReq(b)
		if err != nil {
			return rejects(req, err)
		}
		s := rs.set(name)
		if cmd != nlproto.CMD_SET_NEW && s == nil {
			return fails(req, unix.ENOENT, fmt.Sprintf("no set %s", name))
		}
		if cmd != nlproto.CMD_SET_NEW && typ != 0 {
			return fails(req, unix.EINVAL, "only SET_NEW takes a type")
		}
		switch cmd {
		case nlproto.CMD_SET_NEW:
			if err := nftypes.ValidateName("set", name); err != nil {
				return fails(req, unix.EINVAL, err.(*nftypes.ValidationError).Reason)
			}
			if typ != nftypes.SetTypeAddr && typ != nftypes.SetTypePort {
				return fails(req, unix.EINVAL, "Missing or unknown set type")
			}
			if s != nil {
				return fails(req, unix.EEXIST, fmt.Sprintf("set %s exists", name))
			}
			if len(rs.sets) >= nlproto.SETS_MAX {
				return fails(req, unix.ENOSPC, "too many sets")
			}
			s = &fset{name: name, typ: typ}
			if errno, msg := addElems(s, elems); errno != 0 {
				return fails(req, errno, msg)
			}
			rs.sets = append(rs.sets, s)
		case nlproto.CMD_SET_DEL:
			if elems != nil {
				return fails(req, unix.EINVAL, "SET_DEL takes the name only")
			}
			if n := rs.refs(name); n > 0 {
				return fails(req, unix.EBUSY, fmt.Sprintf("set %s is used by %d rules", name, n))
			}
			rs.sets = slices.DeleteFunc(rs.sets, func(x *fset) bool { return x == s })
		case nlproto.CMD_SET_ADD_ELEMS:
			if elems == nil {
				return fails(req, unix.EINVAL, "Missing attribute: NFLAB_SET_A_ELEMS")
			}
			if errno, msg := addElems(s, elems); errno != 0 {
				return fails(req, errno, msg)
			}
		case nlproto.CMD_SET_FLUSH:
			if elems != nil {
				return fails(req, unix.EINVAL, "SET_FLUSH takes the name only")
			}
			s.addrs, s.ports, s.added = nil, nil, 0
		}
	default:
		return fails(req, unix.EOPNOTSUPP, "")
	}
	return acked(req)
}

// mustU32 reads attribute 0 of a one-attribute nest built from a
// top-level attribute's payload; a bad size reads as 0xffffffff, which
// every caller rejects.
func (n nest) mustU32() uint32 {
	v, err := n.u32(0)
	if err != nil {
		return ^uint32(0)
	}
	return v
}

func addElems(s *fset, b []byte) (unix.Errno, string) {
	addrs, ports, err := decodeElems(b, s.typ)
	if err != nil {
		return unix.EINVAL, err.Error()
	}
	if s.added+len(addrs)+len(ports) > nlproto.SET_ELEMS_MAX {
		return unix.ENOSPC, fmt.Sprintf("set %s would hold more than %d elements", s.name, nlproto.SET_ELEMS_MAX)
	}
	s.added += len(addrs) + len(ports)
	if len(addrs) > 0 {
		addrs = nftypes.MergeAddrRanges(addrs)
		// Elements sent in order (the usual way to load a large set)
		// go after the ones before without merging them all again.
		if n := len(s.addrs); n > 0 && (s.addrs[n-1].Last == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || !s.addrs[n-1].Last.Next().Less(addrs[0].First)) {
			s.addrs = nftypes.MergeAddrRanges(append(s.addrs, addrs...))
		} else {
			s.addrs = append(s.addrs, addrs...)
		}
	}
	if len(ports) > 0 {
		s.ports = nftypes.MergePortRanges(append(s.ports, ports...))
	}
	return 0, ""
}

func jumpsTo(rs *fruleset, t nftypes.Table, name string) bool {
	for _, c := range rs.chains {
		for _, r := range c.rules {
			if c.table == t && (r.Action.Type == nftypes.ActionJump || r.Action.Type == nftypes.ActionGoto) && r.Action.Chain == name {
				return true
			}
		}
	}
	return false
}

// checkRuleset is the commit's check of the whole, in the module's
// order: jump targets and sets resolve and a NAT port range has its
// protocol, rule by rule; no loops, jumps at most NFLAB_JUMP_DEPTH deep;
// then interface matches and NAT actions suit the hooks their chain is
// reached from.
func checkRuleset(rs *fruleset) (unix.Errno, string) {
	// The hooks each chain is reached from, through jumps and gotos
	// (a loop is refused before they are used).
	hooks := map[*fchain][]nftypes.Hook{}
	for _, b := range rs.chains {
		if b.hook == nil {
			continue
		}
		seen := map[*fchain]bool{}
		var reach func(c *fchain)
		reach = func(c *fchain) {
			if c == nil || seen[c] {
				return
			}
			seen[c] = true
			hooks[c] = append(hooks[c], *b.hook)
			for _, r := range c.rules {
				if a := r.Action; a.Type == nftypes.ActionJump || a.Type == nftypes.ActionGoto {
					reach(rs.chain(c.table, a.Chain))
				}
			}
		}
		reach(b)
	}
	for _, c := range rs.chains {
		for i, r := range c.rules {
			where := fmt.Sprintf("rule %d (handle %d) in %s/%s: ", i+1, r.Handle, c.table, c.name)
			if a := r.Action; a.Type == nftypes.ActionJump || a.Type == nftypes.ActionGoto {
				t := rs.chain(c.table, a.Chain)
				if t == nil || t.hook != nil {
					return unix.ENOENT, where + fmt.Sprintf("%s to unknown chain %s", a.Type, a.Chain)
				}
			}
			for _, m := range r.Matches {
				if m.Kind == nftypes.MatchSet {
					s := rs.set(m.SetName)
					if s == nil {
						return unix.ENOENT, where + fmt.Sprintf("unknown set %s", m.SetName)
					}
					if s.typ != m.SetField.SetType() {
						return unix.EINVAL, where + fmt.Sprintf("set %s holds %ss, not what %s needs", s.name, s.typ, m.SetField)
					}
				}
			}
			if _, nat := natHooks[r.Action.Type]; nat && r.Action.Ports != nil && !protoTCPOrUDP(r.Matches) {
				return unix.EINVAL, where + "a port range needs the rule to match protocol tcp or udp"
			}
		}
	}
	// Loops and depth: a depth-first walk along jumps, each chain's
	// depth (the longest chain of jumps from it) computed once.
	depth := map[*fchain]int{}
	onPath := map[*fchain]bool{}
	var walk func(c *fchain) (int, unix.Errno, string)
	walk = func(c *fchain) (int, unix.Errno, string) {
		if d, ok := depth[c]; ok {
			return d, 0, ""
		}
		onPath[c] = true
		defer delete(onPath, c)
		d := 0
		for i, r := range c.rules {
			if r.Action.Type != nftypes.ActionJump && r.Action.Type != nftypes.ActionGoto {
				continue
			}
			t := rs.chain(c.table, r.Action.Chain)
			if onPath[t] {
				return 0, unix.ELOOP, fmt.Sprintf("rule %d (handle %d) in %s/%s: %s to %s makes a loop", i+1, r.Handle, c.table, c.name, r.Action.Type, t.name)
			}
			td, errno, msg := walk(t)
			if errno != 0 {
				return 0, errno, msg
			}
			if td+1 > nlproto.JUMP_DEPTH {
				return 0, unix.ELOOP, fmt.Sprintf("rule %d (handle %d) in %s/%s: jumps nest more than %d deep", i+1, r.Handle, c.table, c.name, nlproto.JUMP_DEPTH)
			}
			d = max(d, td+1)
		}
		depth[c] = d
		return d, 0, ""
	}
	for _, c := range rs.chains {
		if _, errno, msg := walk(c); errno != 0 {
			return errno, msg
		}
	}
	for _, c := range rs.chains {
		for i, r := range c.rules {
			where := fmt.Sprintf("rule %d (handle %d) in %s/%s: ", i+1, r.Handle, c.table, c.name)
			// As nflab_check_hooks: the action's hooks first, then the
			// interfaces the matches name.
			if at, nat := natHooks[r.Action.Type]; nat {
				for _, h := range hooks[c] {
					if !slices.Contains(at, h) {
						return unix.EINVAL, where + fmt.Sprintf("%s cannot act at a hook this chain runs at", r.Action.Type)
					}
				}
			}
			for _, m := range r.Matches {
				for _, h := range hooks[c] {
					if (m.Kind == nftypes.MatchIIF && (h == nftypes.LocalOut || h == nftypes.PostRouting)) ||
						(m.Kind == nftypes.MatchOIF && (h == nftypes.PreRouting || h == nftypes.LocalIn)) {
						return unix.EINVAL, where + fmt.Sprintf("%s cannot match at a hook this chain runs at", m.Kind)
					}
				}
			}
		}
	}
	return 0, ""
}

// protoTCPOrUDP reports whether ms hold a protocol match, not inverted,
// for TCP or UDP.
func protoTCPOrUDP(ms []nftypes.Match) bool {
	for _, m := range ms {
		if m.Kind == nlproto.MATCH_PROTO && !m.Invert && (m.Proto == nftypes.TCP || m.Proto == nftypes.UDP) {
			return true
		}
	}
	return false
}

// dumpParts returns a dump's messages in datagrams of at most 50, and the
// final NLMSG_DONE, flagged NLM_F_DUMP_INTR if InterruptDumps asks.
func (m *Module) dumpParts(req netlink.Message, cmd uint8, bodies [][]byte) [][]netlink.Message {
	flags := netlink.Multi
	if m.intr > 0 {
		m.intr--
		flags |= netlink.DumpInterrupted
	}
	var dgs [][]netlink.Message
	var cur []netlink.Message
	for _, b := range bodies {
		cur = append(cur, genlMessage(cmd, b, flags, req.Header.Sequence, req.Header.PID))
		if len(cur) == 50 {
			dgs, cur = append(dgs, cur), nil
		}
	}
	done := netlink.Message{
		Header: netlink.Header{Length: 20, Type: netlink.Done, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   make([]byte, 4),
	}
	return append(dgs, append(cur, done))
}

func (m *Module) encoded(fn func(ae *netlink.AttributeEncoder)) []byte {
	ae := netlink.NewAttributeEncoder()
	fn(ae)
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

func (m *Module) dumpChains(req netlink.Message) [][]netlink.Message {
	var bodies [][]byte
	for _, c := range m.rules.live.chains {
		bodies = append(bodies, m.encoded(func(ae *netlink.AttributeEncoder) {
			ae.Nested(nlproto.A_CHAIN, func(nae *netlink.AttributeEncoder) error {
				nae.Uint8(nlproto.CHAIN_A_TABLE, uint8(c.table))
				nae.String(nlproto.CHAIN_A_NAME, c.name)
				if c.hook != nil {
					nae.Uint32(nlproto.CHAIN_A_HOOK, uint32(*c.hook))
					nae.Uint8(nlproto.CHAIN_A_POLICY, uint8(c.policy))
				}
				nae.Uint32(nlproto.CHAIN_A_RULES, uint32(len(c.rules)))
				nae.Uint32(nlproto.CHAIN_A_GEN, m.rules.gen)
				m.extra(nae, nlproto.CHAIN_A_MAX+1)
				return nil
			})
		}))
	}
	return m.dumpParts(req, nlproto.CMD_CHAIN_GET, bodies)
}

func (m *Module) dumpRules(req netlink.Message) [][]netlink.Message {
	var bodies [][]byte
	for _, c := range m.rules.live.chains {
		for _, r := range c.rules {
			bodies = append(bodies, m.encoded(func(ae *netlink.AttributeEncoder) {
				m.encodeRule(ae, r)
				ae.Uint32(nlproto.A_RULES_GEN, m.rules.gen)
			}))
		}
	}
	return m.dumpParts(req, nlproto.CMD_RULE_GET, bodies)
}

// setDumpElems is how many ranges one SET_GET message carries.
const setDumpElems = 4000

func (m *Module) dumpSets(req netlink.Message, attrs map[uint16][]byte) [][]netlink.Message {
	var flags uint32
	if b, ok := attrs[nlproto.A_RULES_FLAGS]; ok {
		flags = nest{0: {b}}.mustU32()
	}
	if flags&^nlproto.RULES_F_TERSE != 0 {
		return fails(req, unix.EINVAL, "SET_GET takes only the TERSE flag")
	}
	sets := m.rules.live.sets
	if b, ok := attrs[nlproto.A_SET]; ok {
		name, typ, elems, err := decodeSetReq(b)
		if err != nil {
			return rejects(req, err)
		}
		if typ != 0 || elems != nil {
			return fails(req, unix.EINVAL, "SET_GET takes a set's name only")
		}
		s := m.rules.live.set(name)
		if s == nil {
			return fails(req, unix.ENOENT, fmt.Sprintf("no set %s", name))
		}
		sets = []*fset{s}
	}
	var bodies [][]byte
	for _, s := range sets {
		bodies = append(bodies, m.encoded(func(ae *netlink.AttributeEncoder) {
			ae.Nested(nlproto.A_SET, func(nae *netlink.AttributeEncoder) error {
				nae.String(nlproto.SET_A_NAME, s.name)
				nae.Uint8(nlproto.SET_A_TYPE, uint8(s.typ))
				nae.Uint32(nlproto.SET_A_COUNT, uint32(s.count()))
				nae.Uint32(nlproto.SET_A_REFS, uint32(m.rules.live.refs(s.name)))
				m.extra(nae, nlproto.SET_A_MAX+1)
				return nil
			})
			ae.Uint32(nlproto.A_RULES_GEN, m.rules.gen)
		}))
		if flags&nlproto.RULES_F_TERSE != 0 {
			continue
		}
		for _, chunk := range elemChunks(s) {
			bodies = append(bodies, m.encoded(func(ae *netlink.AttributeEncoder) {
				ae.Nested(nlproto.A_SET, func(nae *netlink.AttributeEncoder) error {
					nae.String(nlproto.SET_A_NAME, s.name)
					nae.Bytes(nlproto.SET_A_ELEMS, chunk)
					return nil
				})
				ae.Uint32(nlproto.A_RULES_GEN, m.rules.gen)
			}))
		}
	}
	return m.dumpParts(req, nlproto.CMD_SET_GET, bodies)
}

func elemChunks(s *fset) [][]byte {
	var chunks [][]byte
	for i := 0; i < len(s.addrs); i += setDumpElems {
		var b []byte
		for _, r := range s.addrs[i:min(i+setDumpElems, len(s.addrs))] {
			f, l := r.First.As4(), r.Last.As4()
			b = append(append(b, f[:]...), l[:]...)
		}
		chunks = append(chunks, b)
	}
	for i := 0; i < len(s.ports); i += setDumpElems {
		var b []byte
		for _, r := range s.ports[i:min(i+setDumpElems, len(s.ports))] {
			b = append(b, byte(r.First>>8), byte(r.First), byte(r.Last>>8), byte(r.Last))
		}
		chunks = append(chunks, b)
	}
	return chunks
}
