package ruletext

import (
	"fmt"
	"io"
	"slices"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// File is a parsed ruleset and where each of its objects came from, so
// that an error about one (the module's, at apply) can point at its line.
type File struct {
	Ruleset nftypes.Ruleset
	// ChainPos, RulePos and SetPos are parallel to the Ruleset's Chains,
	// Rules and Sets; a built-in chain the text does not name has the
	// zero Pos.
	ChainPos []Pos
	RulePos  []Pos
	SetPos   []Pos
}

// Parse reads a ruleset in the text format; filename is what errors
// call it ("" for standard input). The Ruleset has every built-in
// chain, with the policy the text gives it or accept, then the user
// chains, rules and sets in the order of the text.
func Parse(r io.Reader, filename string) (nftypes.Ruleset, error) {
	f, err := ParseFile(r, filename)
	if err != nil {
		return nftypes.Ruleset{}, err
	}
	return f.Ruleset, nil
}

// ParseFile is Parse, with the positions of what it read.
func ParseFile(r io.Reader, filename string) (*File, error) {
	p := &fileParser{
		lex:      newLexer(r, filename),
		f:        &File{},
		chains:   map[chainKey]int{},
		sets:     map[string]int{},
		builtins: map[chainKey]int{},
	}
	for i, c := range nftypes.BuiltinChains() {
		p.f.Ruleset.Chains = append(p.f.Ruleset.Chains, c)
		p.f.ChainPos = append(p.f.ChainPos, Pos{})
		p.builtins[chainKey{c.Table, c.Name}] = i
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.f, nil
}

type chainKey struct {
	table nftypes.Table
	name  string
}

type fileParser struct {
	lex      *lexer
	f        *File
	builtins map[chainKey]int // index in Chains
	chains   map[chainKey]int // user chains and built-ins given a line: index in Chains
	sets     map[string]int   // index in Sets
	refs     []fileRef
}

// fileRef is a rule's reference, resolved at the end.
type fileRef struct {
	ref
	table nftypes.Table
}

var statementWords = []string{"set", "chain", "rule"}

func (p *fileParser) parse() error {
	for {
		toks, depth, ok, err := p.lex.nextLine(0)
		if err != nil {
			return err
		}
		if !ok {
			return p.resolve()
		}
		first := toks[0]
		if first.is("set") {
			if err := p.set(toks, depth); err != nil {
				return err
			}
			continue
		}
		// Other statements are read whole, brace groups included.
		stmt := slices.Clone(toks)
		for depth > 0 {
			more, d, ok, err := p.lex.nextLine(depth)
			if err != nil {
				return err
			}
			if !ok {
				return errAt(unclosed(stmt), `unclosed "{": a brace group ends with "}" (it may span lines)`)
			}
			stmt, depth = append(stmt, more...), d
		}
		c := newCursor(stmt)
		c.i = 1
		switch {
		case first.is("chain"):
			err = p.chain(c)
		case first.is("rule"):
			err = p.rule(c)
		default:
			err = unknown(first, "statement", statementWords)
		}
		if err != nil {
			return err
		}
	}
}

// unclosed returns the last "{" of toks without its "}".
func unclosed(toks []token) token {
	var open []token
	for _, t := range toks {
		switch {
		case t.is("{"):
			open = append(open, t)
		case t.is("}") && len(open) > 0:
			open = open[:len(open)-1]
		}
	}
	if len(open) == 0 {
		return toks[0]
	}
	return open[len(open)-1]
}

func pos(t token) Pos { return Pos{File: t.file, Line: t.line} }

// table reads a table's name.
func table(c *cursor) (nftypes.Table, token, error) {
	var names []string
	for _, t := range nftypes.Tables() {
		names = append(names, t.String())
	}
	t, err := c.keyword("table", names...)
	if err != nil {
		return 0, t, err
	}
	var tb nftypes.Table
	if err := tb.UnmarshalText([]byte(t.text)); err != nil {
		return 0, t, unknown(t, "table", names)
	}
	return tb, t, nil
}

// chain reads "chain TABLE NAME [policy accept|drop]".
func (p *fileParser) chain(c *cursor) error {
	tb, _, err := table(c)
	if err != nil {
		return err
	}
	nt, err := c.word("the chain's name")
	if err != nil {
		return err
	}
	key := chainKey{tb, nt.text}
	if i, dup := p.chains[key]; dup {
		return errAt(nt, "chain %s %s declared twice (first at line %d)", tb, nt.text, p.f.ChainPos[i].Line)
	}
	bi, builtin := p.builtins[key]
	if !builtin {
		if h, ok := nftypes.BuiltinHook(nt.text); ok {
			return errAt(nt, "table %s has no %s chain (it sits at %s); a user chain cannot take a built-in name", tb, nt.text, hookList(tb, h))
		}
		if err := nftypes.ValidateName("chain", nt.text); err != nil {
			return errAt(nt, "chain name %q must be 1 to %d bytes of letters, digits, '_', '.' and '-'", nt.text, nftypes.MaxNameLen)
		}
	}
	policy := nftypes.VerdictAccept
	if pt, ok := c.peek(); ok && pt.is("policy") {
		c.i++
		if !builtin {
			return errAt(pt, "user chain %s has no policy: only built-in chains do; end it with a rule (rule %s %s drop)", nt.text, tb, nt.text)
		}
		v, err := c.keyword("policy", "accept", "drop")
		if err != nil {
			return err
		}
		if v.text == "drop" {
			policy = nftypes.VerdictDrop
		}
	}
	if t, ok := c.peek(); ok {
		return errAt(t, "unexpected %q after the chain: want policy accept|drop (built-in chains) or the end of the line", t.text)
	}
	if builtin {
		p.f.Ruleset.Chains[bi].Policy = policy
		p.f.ChainPos[bi] = pos(nt)
		p.chains[key] = bi
		return nil
	}
	p.chains[key] = len(p.f.Ruleset.Chains)
	p.f.Ruleset.Chains = append(p.f.Ruleset.Chains, nftypes.Chain{Table: tb, Name: nt.text})
	p.f.ChainPos = append(p.f.ChainPos, pos(nt))
	return nil
}

// hookList names the built-in chains of tb.
func hookList(tb nftypes.Table, _ nftypes.Hook) string {
	var s []string
	for _, h := range nftypes.TableHooks(tb) {
		s = append(s, h.ChainName())
	}
	return orList(s)
}

// rule reads "rule TABLE CHAIN BODY".
func (p *fileParser) rule(c *cursor) error {
	tb, _, err := table(c)
	if err != nil {
		return err
	}
	ct, err := c.word("the chain's name")
	if err != nil {
		return err
	}
	r := nftypes.Rule{Table: tb, Chain: ct.text}
	rp, err := parseRuleBody(c, &r)
	if err != nil {
		return err
	}
	refs := rp.refs
	if err := hookChecks(r, rp.mtoks, rp.actTok); err != nil {
		return err
	}
	if r.Action.Type == nftypes.ActionJump || r.Action.Type == nftypes.ActionGoto {
		if r.Action.Chain == r.Chain {
			return errAt(refs[len(refs)-1].tok, "chain %s %ss to itself", r.Chain, r.Action.Type)
		}
	}
	if err := tableChecks(c, rp, r); err != nil {
		return err
	}
	p.refs = append(p.refs, fileRef{ref: ref{tok: ct}, table: tb})
	for _, rf := range refs {
		p.refs = append(p.refs, fileRef{ref: rf, table: tb})
	}
	p.f.Ruleset.Rules = append(p.f.Ruleset.Rules, r)
	p.f.RulePos = append(p.f.RulePos, pos(ct))
	return nil
}

// hookChecks rejects interface matches r's built-in chain has no
// interface for, and a NAT action that does not act at its hook (the
// module also follows jumps, at commit); mtoks are the words the matches
// start with, act the action's.
func hookChecks(r nftypes.Rule, mtoks []token, act token) error {
	h, ok := nftypes.BuiltinHook(r.Chain)
	if !ok {
		return nil
	}
	for i, m := range r.Matches {
		if (m.Kind == nftypes.MatchIIF && (h == nftypes.LocalOut || h == nftypes.PostRouting)) ||
			(m.Kind == nftypes.MatchOIF && (h == nftypes.PreRouting || h == nftypes.LocalIn)) {
			return errAt(mtoks[i], "%s is not known at %s: packets there have no %s interface", m.Kind, r.Chain,
				map[nftypes.MatchKind]string{nftypes.MatchIIF: "input", nftypes.MatchOIF: "output"}[m.Kind])
		}
	}
	if at := nftypes.ActionHooks(r.Action.Type); at != nil && r.Table == nftypes.TableNAT &&
		slices.Contains(nftypes.TableHooks(r.Table), h) && !slices.Contains(at, h) {
		var chains []string
		for _, h := range at {
			chains = append(chains, h.ChainName())
		}
		return errAt(act, "%s cannot act at %s: it acts in %s", r.Action.Type, r.Chain, orList(chains))
	}
	return nil
}

// tableChecks rejects what the module would: out-of-range values, and
// actions and matches the rule's table does not allow (nftypes'
// Validate), pointing at the match or action at fault.
func tableChecks(c *cursor, rp *ruleParser, r nftypes.Rule) error {
	err := r.Validate()
	if err == nil {
		return nil
	}
	// Point at the word the error is about, when it can be found.
	var ve *nftypes.ValidationError
	if e, ok := err.(*nftypes.ValidationError); ok {
		ve = e
	}
	if ve != nil && ve.Field == "match" {
		var n int
		if _, err := fmt.Sscanf(ve.Reason, "match %d:", &n); err == nil && n >= 1 && n <= len(rp.mtoks) {
			return errAt(rp.mtoks[n-1], "%s", ve.Reason)
		}
	}
	if ve != nil && ve.Field == "action" && rp.hasAct {
		return errAt(rp.actTok, "%s", ve.Reason)
	}
	t := c.toks[0]
	for _, tok := range c.toks {
		if (ve != nil && ve.Field == "action" && isOneOf(tok.text, actionWords) && !tok.quoted) ||
			((r.Action.Type == nftypes.ActionJump || r.Action.Type == nftypes.ActionGoto) && tok.text == r.Action.Chain) {
			t = tok
		}
		if ve != nil && ve.Field == "match" && tok.is("ct") {
			t = tok
			break
		}
	}
	msg := err.Error()
	if ve != nil {
		msg = ve.Reason
	}
	return errAt(t, "%s", msg)
}

// resolve checks every rule's chain, jump and set against what the text
// declares.
func (p *fileParser) resolve() error {
	for _, rf := range p.refs {
		if rf.set {
			name := rf.tok.text[1:]
			i, ok := p.sets[name]
			if !ok {
				var known []string
				for n := range p.sets {
					known = append(known, n)
				}
				slices.Sort(known)
				return p.undeclared(rf.tok, "set", name, known, "set "+name+" "+rf.field.SetType().String()+" { ... }")
			}
			if s := p.f.Ruleset.Sets[i]; s.Type != rf.field.SetType() {
				return errAt(rf.tok, "set %s holds %s elements (line %d), but %s looks up %s", name, s.Type, p.f.SetPos[i].Line, rf.field, setTypeNoun(rf.field.SetType()))
			}
			continue
		}
		key := chainKey{rf.table, rf.tok.text}
		if _, ok := p.builtins[key]; ok {
			continue
		}
		if _, ok := p.chains[key]; !ok {
			var known []string
			for k := range p.chains {
				if k.table == rf.table {
					known = append(known, k.name)
				}
			}
			for k := range p.builtins {
				if k.table == rf.table {
					known = append(known, k.name)
				}
			}
			slices.Sort(known)
			return p.undeclared(rf.tok, "chain", rf.tok.text, known, "chain "+rf.table.String()+" "+rf.tok.text)
		}
	}
	return nil
}

func (p *fileParser) undeclared(t token, what, name string, known []string, decl string) error {
	if s := suggest(name, known); s != "" {
		return errAt(t, "unknown %s %q (did you mean %q?)", what, name, s)
	}
	return errAt(t, "unknown %s %q; declare it with: %s", what, name, decl)
}

// set reads "set NAME addr|port [{ ELEM, ... }]"; the brace group may
// span many lines and is read as it comes, without holding its words.
func (p *fileParser) set(toks []token, depth int) error {
	c := newCursor(toks)
	c.i = 1
	nt, err := c.word("the set's name")
	if err != nil {
		return err
	}
	if err := nftypes.ValidateName("set", nt.text); err != nil {
		return errAt(nt, "set name %q must be 1 to %d bytes of letters, digits, '_', '.' and '-'", nt.text, nftypes.MaxNameLen)
	}
	if i, dup := p.sets[nt.text]; dup {
		return errAt(nt, "set %s declared twice (first at line %d)", nt.text, p.f.SetPos[i].Line)
	}
	tt, err := c.keyword("set type", "addr", "port")
	if err != nil {
		return err
	}
	s := nftypes.Set{Name: nt.text, Type: nftypes.SetTypeAddr}
	if tt.text == "port" {
		s.Type = nftypes.SetTypePort
	}
	if !c.done() {
		if _, err := c.keyword(`"{"`, "{"); err != nil {
			return err
		}
		// Elements separated by commas, until "}".
		want := "element" // or "," ("," or "}")
		openTok := c.toks[c.i-1]
		for {
			if c.done() {
				if depth == 0 {
					break
				}
				more, d, ok, err := p.lex.nextLine(depth)
				if err != nil {
					return err
				}
				if !ok {
					return errAt(openTok, `unclosed "{": the set's elements end with "}"`)
				}
				c, depth = newCursor(more), d
				continue
			}
			t := c.toks[c.i]
			c.i++
			switch {
			case t.is("}"):
				if !c.done() {
					extra := c.toks[c.i]
					return errAt(extra, "unexpected %q after the set's elements", extra.text)
				}
				if depth != 0 {
					return errAt(t, `unbalanced braces`)
				}
				goto done
			case t.is(","):
				if want != "," {
					return errAt(t, "missing element before \",\"")
				}
				want = "element"
			case t.is("{"):
				return errAt(t, `unexpected "{" in a set's elements`)
			default:
				if want != "element" {
					return errAt(t, "missing \",\" before %q: elements are separated by commas", t.text)
				}
				if err := addElem(&s, t); err != nil {
					return err
				}
				want = ","
			}
		}
		return errAt(c.end, `missing "}" after the set's elements`)
	}
done:
	if s.Len() > nftypes.MaxSetElems {
		return errAt(nt, "set %s has %d elements, at most %d", s.Name, s.Len(), nftypes.MaxSetElems)
	}
	p.sets[s.Name] = len(p.f.Ruleset.Sets)
	p.f.Ruleset.Sets = append(p.f.Ruleset.Sets, s)
	p.f.SetPos = append(p.f.SetPos, pos(nt))
	return nil
}

// addElem adds the element t to s.
func addElem(s *nftypes.Set, t token) error {
	if t.quoted {
		return errAt(t, "unexpected string %s in the set's elements", quote(t.text))
	}
	if s.Type == nftypes.SetTypePort {
		r, err := parsePortRange(t)
		if err != nil {
			return err
		}
		s.Ports = append(s.Ports, r)
		return nil
	}
	if iv, ok := fastAddrRange(t.text); ok {
		s.Addrs = append(s.Addrs, nftypes.AddrRange{First: u32Addr(iv.lo), Last: u32Addr(iv.hi)})
		return nil
	}
	r, _, _, msg := parseAddrRange(t.text)
	if msg != "" {
		return errAt(t, "%q: %s", t.text, msg)
	}
	s.Addrs = append(s.Addrs, r)
	return nil
}

// ParseRule reads a rule's matches, action and comment from the words of
// a command line, as "nflab rule add TABLE CHAIN WORDS..." takes them:
// each word is one or more words of the text format, and the word after
// "comment", "prefix" or "string" is taken whole. Errors point at the
// word, counted from 1. The rule's table and chain are the caller's.
func ParseRule(words []string) (nftypes.Rule, error) {
	toks, err := wordTokens(words)
	if err != nil {
		return nftypes.Rule{}, err
	}
	if len(toks) == 0 {
		return nftypes.Rule{}, &Error{Arg: 1, Msg: "missing the rule: matches, then an action such as accept"}
	}
	var r nftypes.Rule
	c := newCursor(toks)
	if _, err := parseRuleBody(c, &r); err != nil {
		return nftypes.Rule{}, err
	}
	return r, nil
}

// CheckRule rejects what the module would in r, the rule ParseRule read
// from words, in chain of table tb (r's own Table and Chain are not
// looked at): out-of-range values, what the table does not allow, and
// interface matches the chain's hook has none for. Errors point at the
// words.
func CheckRule(tb nftypes.Table, chain string, r nftypes.Rule, words []string) error {
	r.Table, r.Chain = tb, chain
	if r.Action.Type == nftypes.ActionJump || r.Action.Type == nftypes.ActionGoto {
		if r.Action.Chain == chain {
			return fmt.Errorf("chain %s %ss to itself", chain, r.Action.Type)
		}
	}
	toks, err := wordTokens(words)
	if err != nil {
		return err
	}
	// Parsed again for the words each match and the action start with.
	var again nftypes.Rule
	rp, err := parseRuleBody(newCursor(toks), &again)
	if err != nil {
		return err
	}
	if len(rp.mtoks) != len(r.Matches) {
		rp.mtoks = nil // not the words of r: no word to point at
	} else if err := hookChecks(r, rp.mtoks, rp.actTok); err != nil {
		return err
	}
	return tableChecks(newCursor(toks), rp, r)
}

// ParseElems reads set elements of type typ from words: addresses,
// prefixes and ranges (addr), or ports and ranges (port), separated by
// blanks or commas.
func ParseElems(typ nftypes.SetType, words []string) (nftypes.Set, error) {
	s := nftypes.Set{Type: typ}
	toks, err := wordTokens(words)
	if err != nil {
		return s, err
	}
	for _, t := range toks {
		if t.is(",") || t.is("{") || t.is("}") {
			continue
		}
		if err := addElem(&s, t); err != nil {
			return s, err
		}
	}
	return s, nil
}

// setTypeNoun names what a set of type t holds: "an address", "a port".
func setTypeNoun(t nftypes.SetType) string {
	if t == nftypes.SetTypeAddr {
		return "an address"
	}
	return "a " + t.String()
}
