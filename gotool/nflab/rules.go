package nflab

import (
	"context"
	"errors"

	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// The rule engine's errors, re-exported from the backend.
var (
	// ErrTxDone is returned by the methods of a Tx that has ended:
	// committed, aborted, or lost with its socket (a context that ended
	// one of its calls mid-exchange, a failed socket, Close).
	ErrTxDone = nlclient.ErrTxDone
)

// A ChangeError is the failure of one change of a batch: the first one,
// in the order sent, that the module rejected. For ApplyRuleset, Kind is
// "chains", "sets" or "rules" and Index the change's index in that field
// of the Ruleset, so that a caller can point at the line it came from;
// Err is the *OpError with the kernel's errno and extended ACK message,
// or the client's reason when it refused the change before sending
// anything (errors.Is and errors.As see through it).
type ChangeError = nlclient.ChangeError

// A ChangeKind names the field of a Ruleset a ChangeError's change came
// from: ChangeChains, ChangeSets or ChangeRules.
type ChangeKind = nlclient.ChangeKind

// The kinds of change.
const (
	ChangeChains = nlclient.ChangeChains
	ChangeSets   = nlclient.ChangeSets
	ChangeRules  = nlclient.ChangeRules
)

// txBackend is the backend's open transaction.
type txBackend interface {
	Gen() uint32
	Done() bool
	AddChain(context.Context, nftypes.Chain) error
	DeleteChain(context.Context, nftypes.Table, string) error
	SetPolicy(context.Context, nftypes.Table, string, nftypes.Verdict) error
	AddRule(ctx context.Context, r nftypes.Rule, insert bool, pos uint64) (uint64, error)
	DeleteRule(context.Context, uint64) error
	ReplaceRule(context.Context, uint64, nftypes.Rule) error
	AddSet(context.Context, nftypes.Set) error
	DeleteSet(context.Context, string) error
	AddSetElems(context.Context, nftypes.Set) error
	FlushSet(context.Context, string) error
	Apply(context.Context, nftypes.Ruleset) error
	Commit(ctx context.Context, check bool) (uint32, error)
	Abort(context.Context) error
}

// maxRulesetAttempts bounds how often Ruleset reads the three dumps again
// when a commit came between them.
const maxRulesetAttempts = 5

// Ruleset returns the whole ruleset: its chains (built-in ones first, in
// table and hook order), its rules (in table, chain and rule order) and
// its sets with their elements, all of one generation, Ruleset.Gen. When
// a commit comes between its dumps it reads them again, a few times, then
// gives up with ErrDumpInterrupted. It needs CAP_NET_ADMIN. Rules come
// in normal form (nftypes.Rule.Normalized): a default, such as a limit's
// burst of 5, reads as the zero value, however it was sent.
func (c *Client) Ruleset(ctx context.Context) (nftypes.Ruleset, error) {
	for range maxRulesetAttempts {
		chains, gen, err := c.b.Chains(ctx)
		if err != nil {
			return nftypes.Ruleset{}, err
		}
		rules, rgen, err := c.b.Rules(ctx)
		if err != nil {
			return nftypes.Ruleset{}, err
		}
		sets, sgen, err := c.b.Sets(ctx, "", true)
		if err != nil {
			return nftypes.Ruleset{}, err
		}
		// The generation grows with every commit (not with a check):
		// the same one before and after, and in each dump, means no
		// commit came between.
		_, after, err := c.b.Chains(ctx)
		if err != nil {
			return nftypes.Ruleset{}, err
		}
		if after != gen || (len(rules) > 0 && rgen != gen) || (len(sets) > 0 && sgen != gen) {
			continue
		}
		return nftypes.Ruleset{Gen: gen, Chains: chains, Rules: rules, Sets: sets}, nil
	}
	return nftypes.Ruleset{}, ErrDumpInterrupted
}

// Chains returns every chain, built-in ones first. It needs CAP_NET_ADMIN.
func (c *Client) Chains(ctx context.Context) ([]nftypes.Chain, error) {
	chains, _, err := c.b.Chains(ctx)
	return chains, err
}

// Rules returns every rule, in table, chain and rule order, with its
// counters. It needs CAP_NET_ADMIN.
func (c *Client) Rules(ctx context.Context) ([]nftypes.Rule, error) {
	rules, _, err := c.b.Rules(ctx)
	return rules, err
}

// Rule returns the rule with handle h. If there is none, the error
// satisfies errors.Is(err, os.ErrNotExist). It needs CAP_NET_ADMIN.
func (c *Client) Rule(ctx context.Context, h uint64) (nftypes.Rule, error) {
	return c.b.Rule(ctx, h)
}

// Sets returns every set, with its elements if withElems (else Count and
// Refs only). It needs CAP_NET_ADMIN.
func (c *Client) Sets(ctx context.Context, withElems bool) ([]nftypes.Set, error) {
	sets, _, err := c.b.Sets(ctx, "", withElems)
	return sets, err
}

// Set returns the set name, with its elements if withElems. If there is
// none, the error satisfies errors.Is(err, os.ErrNotExist). It needs
// CAP_NET_ADMIN.
func (c *Client) Set(ctx context.Context, name string, withElems bool) (nftypes.Set, error) {
	if err := nftypes.ValidateName("set", name); err != nil {
		return nftypes.Set{}, err
	}
	sets, _, err := c.b.Sets(ctx, name, withElems)
	if err != nil {
		return nftypes.Set{}, err
	}
	if len(sets) != 1 {
		return nftypes.Set{}, &OpError{Op: "dump sets", Err: errors.New("malformed reply: not one set")}
	}
	return sets[0], nil
}

// ResetRules sets the counters of the rule with handle *h, or of every
// rule if h is nil, back to zero, and their state (quota used, nth
// counter, limit tokens) back to where it started. It needs
// CAP_NET_ADMIN; an unknown handle fails with an error satisfying
// errors.Is(err, os.ErrNotExist).
func (c *Client) ResetRules(ctx context.Context, h *uint64) error {
	return c.b.ResetRules(ctx, h)
}

// ApplyOptions tune ApplyRuleset; nil is the zero value.
type ApplyOptions struct {
	// Check makes the module check the ruleset as a commit would, and
	// then discard it: nothing changes.
	Check bool
}

// ApplyRuleset replaces the whole ruleset with rs in one transaction and
// returns the new generation (with Check, the current one). rs.Chains
// holds the built-in chains whose policy to set (others accept) and the
// user chains; the read-only fields (Gen, Chain.Rules, Rule.Handle and
// counters, Set.Count and Refs, Match.QuotaUsed) are ignored, so what
// Ruleset returns applies as it is.
//
// A module older than protocol 4 has no NAT: there, the built-in chains of
// table nat that accept, which a Ruleset parsed from text always lists,
// are left out, since they change nothing; any other chain of table nat,
// or a rule that needs NAT, fails the whole with a *ChangeError wrapping
// errors.ErrUnsupported, before anything is sent.
//
// rs is validated first (a *ValidationError, before anything is sent).
// Then its changes go to the module in batches; the first one it rejects
// fails the whole with a *ChangeError saying which (Kind and Index in rs)
// and why, as does the commit's check of the whole, whose extended ACK
// names the rule ("rule 3 (handle 12) in filter/forward: ..."). A failure
// changes nothing. It needs CAP_NET_ADMIN; while another client's
// transaction is open it fails with an error satisfying
// errors.Is(err, unix.EBUSY).
func (c *Client) ApplyRuleset(ctx context.Context, rs nftypes.Ruleset, opts *ApplyOptions) (uint32, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	if err := rs.Validate(); err != nil {
		return 0, err
	}
	var keep []int // rs.Chains' index of each chain sent, if some are left out
	if c.proto < natProtocol {
		var err error
		if rs, keep, err = withoutNAT(rs, c.proto); err != nil {
			return 0, err
		}
	}
	tx, err := c.b.Begin(ctx, true, nil)
	if err != nil {
		return 0, err
	}
	if err := tx.Apply(ctx, rs); err != nil {
		_ = tx.Abort(context.WithoutCancel(ctx))
		var ce *ChangeError
		if keep != nil && errors.As(err, &ce) && ce.Kind == ChangeChains {
			// The backend's index is one of rs.Chains as sent,
			// each of which keep maps.
			ce.Index = keep[ce.Index]
		}
		return 0, err
	}
	return tx.Commit(ctx, opts.Check)
}

// BeginOptions tune Begin; nil is the zero value.
type BeginOptions struct {
	// Replace starts from an empty ruleset (every chain empty and
	// accepting, no sets) instead of the current one.
	Replace bool
	// Gen, if not nil, makes Begin fail unless the ruleset still has this
	// generation (as read by Ruleset), with an error satisfying
	// errors.Is(err, unix.ESTALE): an edit based on what was read then.
	Gen *uint32
}

// A Tx is an open transaction: changes to the ruleset that packets see
// only once Commit publishes them, all at once. Each change is checked
// when it arrives (an *OpError if rejected, which leaves the transaction
// as it was, except where a method says otherwise); Commit checks the
// whole.
//
// The kernel ties a transaction to the socket that began it, so a Tx holds
// its client's request socket until Commit or Abort: the client's other
// methods wait until then (their contexts still end the wait), so read
// what you need before Begin, or use a second Client. A context that ends
// one of the Tx's calls mid-exchange, a socket failure or Close discards
// the socket, which aborts the transaction; later calls then fail with
// ErrTxDone. End every Tx: defer tx.Abort(ctx) after Begin is harmless
// once Commit has run.
//
// A Tx is safe for concurrent use; its calls run one at a time.
type Tx struct {
	tx    txBackend
	proto uint32 // the module's protocol version
}

// Begin opens a transaction, from the current ruleset or, with
// opts.Replace, from an empty one. Only one transaction may be open in a
// namespace: another socket's open transaction fails Begin with an error
// satisfying errors.Is(err, unix.EBUSY). It needs CAP_NET_ADMIN. opts may
// be nil.
func (c *Client) Begin(ctx context.Context, opts *BeginOptions) (*Tx, error) {
	if opts == nil {
		opts = &BeginOptions{}
	}
	tx, err := c.b.Begin(ctx, opts.Replace, opts.Gen)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, proto: c.proto}, nil
}

// Gen returns the generation of the ruleset when the transaction began.
func (tx *Tx) Gen() uint32 { return tx.tx.Gen() }

// AddChain adds a user chain (ch.Hook nil); it fails with an error
// satisfying errors.Is(err, os.ErrExist) if the table has one of that
// name.
func (tx *Tx) AddChain(ctx context.Context, ch nftypes.Chain) error {
	if err := ch.Validate(); err != nil {
		return err
	}
	if ch.Builtin() {
		return &ValidationError{Field: "chain", Reason: "only user chains can be added; " + ch.Name + " is built in"}
	}
	if err := tx.refuseNAT("add chain", tableNAT(ch.Table)); err != nil {
		return err
	}
	return tx.tx.AddChain(ctx, ch)
}

// DeleteChain deletes the user chain name of table t, which must hold no
// rule and be the target of no jump (EBUSY otherwise).
func (tx *Tx) DeleteChain(ctx context.Context, t nftypes.Table, name string) error {
	if err := (nftypes.Chain{Table: t, Name: name}).Validate(); err != nil {
		return err
	}
	if err := tx.refuseNAT("delete chain", tableNAT(t)); err != nil {
		return err
	}
	return tx.tx.DeleteChain(ctx, t, name)
}

// SetPolicy sets the policy of the built-in chain name ("input", ...) of
// table t to accept or drop.
//
// A module older than protocol 4 has no nat table: there, accept on one
// of its built-in chains, which is what such a module has in effect, does
// nothing and succeeds, as ApplyRuleset leaves those chains out; drop
// fails with errors.ErrUnsupported.
func (tx *Tx) SetPolicy(ctx context.Context, t nftypes.Table, name string, p nftypes.Verdict) error {
	h, ok := nftypes.BuiltinHook(name)
	if !ok {
		return &ValidationError{Field: "chain", Reason: name + " is not a built-in chain: only those have a policy"}
	}
	if p != nftypes.VerdictAccept && p != nftypes.VerdictDrop {
		return &ValidationError{Field: "chain", Reason: "policy " + p.String() + " is not accept or drop"}
	}
	if err := (nftypes.Chain{Table: t, Name: name, Hook: &h, Policy: p}).Validate(); err != nil {
		return err
	}
	if t == nftypes.TableNAT && tx.proto < natProtocol && p == nftypes.VerdictAccept {
		if tx.tx.Done() {
			return &OpError{Op: "set policy", Err: ErrTxDone}
		}
		return nil
	}
	if err := tx.refuseNAT("set policy", tableNAT(t)); err != nil {
		return err
	}
	return tx.tx.SetPolicy(ctx, t, name, p)
}

// A RulePosition says where AddRule puts a rule in its chain: by default
// at the end; with Insert at the start; with Handle next to that rule of
// the chain, after it or, with Insert, before it.
type RulePosition struct {
	Insert bool
	Handle uint64
}

// AddRule adds r (its Handle and counters are ignored) to its chain at
// pos (nil: at the end) and returns the new rule's handle.
func (tx *Tx) AddRule(ctx context.Context, r nftypes.Rule, pos *RulePosition) (uint64, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	if err := tx.refuseNAT("add rule", ruleNAT(r)); err != nil {
		return 0, err
	}
	if pos == nil {
		pos = &RulePosition{}
	}
	return tx.tx.AddRule(ctx, r, pos.Insert, pos.Handle)
}

// DeleteRule deletes the rule with handle h.
func (tx *Tx) DeleteRule(ctx context.Context, h uint64) error {
	return tx.tx.DeleteRule(ctx, h)
}

// ReplaceRule gives the rule with handle h the matches, action and
// comment of r; it keeps its handle, table, chain and place, and its
// counters and state start afresh. r's Table and Chain are required (r is
// validated as a whole, which needs them) and must be the rule's.
func (tx *Tx) ReplaceRule(ctx context.Context, h uint64, r nftypes.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := tx.refuseNAT("replace rule", ruleNAT(r)); err != nil {
		return err
	}
	return tx.tx.ReplaceRule(ctx, h, r)
}

// AddSet adds set s with its elements, sent in as many messages as they
// need; if one of those fails, the transaction holds the set with part of
// its elements: abort it.
func (tx *Tx) AddSet(ctx context.Context, s nftypes.Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return tx.tx.AddSet(ctx, s)
}

// DeleteSet deletes the set name, which no rule may use (EBUSY otherwise).
func (tx *Tx) DeleteSet(ctx context.Context, name string) error {
	if err := nftypes.ValidateName("set", name); err != nil {
		return err
	}
	return tx.tx.DeleteSet(ctx, name)
}

// AddSetElems adds the elements of s (s.Addrs or s.Ports, as s.Type says)
// to the existing set s.Name; overlaps are fine. Like AddSet, it sends as
// many messages as they need.
func (tx *Tx) AddSetElems(ctx context.Context, s nftypes.Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return tx.tx.AddSetElems(ctx, s)
}

// FlushSet removes every element of the set name.
func (tx *Tx) FlushSet(ctx context.Context, name string) error {
	if err := nftypes.ValidateName("set", name); err != nil {
		return err
	}
	return tx.tx.FlushSet(ctx, name)
}

// refuseNAT is the error of op, which needs what of NAT ("" for nothing),
// when the module has no NAT: ErrTxDone if the transaction has ended, as
// the call would have said had it gone on, and otherwise errNoNAT's.
func (tx *Tx) refuseNAT(op, what string) error {
	if what == "" || tx.proto >= natProtocol {
		return nil
	}
	if tx.tx.Done() {
		return &OpError{Op: op, Err: ErrTxDone}
	}
	return errNoNAT(op, tx.proto, what)
}

// Commit ends the transaction: it checks the whole and publishes it (with
// check, only checks it), and returns the new generation (with check,
// the current one). Every commit but a check makes a new generation, even
// one that changed nothing. Whatever its outcome, the
// transaction is over; a failed check changes nothing and its error's
// extended ACK names the rule at fault.
func (tx *Tx) Commit(ctx context.Context, check bool) (uint32, error) {
	return tx.tx.Commit(ctx, check)
}

// Abort discards the transaction. After Commit or Abort it returns
// ErrTxDone, so that a deferred Abort is harmless.
func (tx *Tx) Abort(ctx context.Context) error {
	return tx.tx.Abort(ctx)
}
