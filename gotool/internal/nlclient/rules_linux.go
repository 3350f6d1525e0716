//go:build linux

package nlclient

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// Chains dumps the chains of the ruleset and returns them with the
// generation they belong to.
func (c *Client) Chains(ctx context.Context) ([]nftypes.Chain, uint32, error) {
	const op = "dump chains"
	msgs, err := c.dump(ctx, op, request(nlproto.CMD_CHAIN_GET))
	if err != nil {
		return nil, 0, err
	}
	chains := make([]nftypes.Chain, 0, len(msgs))
	var gen uint32
	for i, m := range msgs {
		ch, g, err := parseChainMsg(m.Data)
		if err != nil {
			return nil, 0, malformed(op, err)
		}
		if i > 0 && g != gen {
			return nil, 0, malformed(op, fmt.Errorf("chains of generations %d and %d in one dump", gen, g))
		}
		gen = g
		chains = append(chains, ch)
	}
	return chains, gen, nil
}

// Rules dumps every rule, in table, chain and rule order, and returns the
// generation they belong to (0 when there is no rule to tell it).
func (c *Client) Rules(ctx context.Context) ([]nftypes.Rule, uint32, error) {
	const op = "dump rules"
	msgs, err := c.dump(ctx, op, request(nlproto.CMD_RULE_GET))
	if err != nil {
		return nil, 0, err
	}
	rules := make([]nftypes.Rule, 0, len(msgs))
	var gen uint32
	for i, m := range msgs {
		r, g, err := parseRuleMsg(m.Data, true)
		if err != nil {
			return nil, 0, malformed(op, err)
		}
		if i > 0 && g != gen {
			return nil, 0, malformed(op, fmt.Errorf("rules of generations %d and %d in one dump", gen, g))
		}
		gen = g
		rules = append(rules, r)
	}
	return rules, gen, nil
}

// Rule returns the rule with handle h; an *OpError wrapping ENOENT if
// there is none.
func (c *Client) Rule(ctx context.Context, h uint64) (nftypes.Rule, error) {
	const op = "get rule"
	req, err := requestAttrs(nlproto.CMD_RULE_GET, func(ae *netlink.AttributeEncoder) { encodeHandle(ae, h) })
	if err != nil {
		return nftypes.Rule{}, wrapErr(op, err)
	}
	m, err := c.do(ctx, op, req)
	if err != nil {
		return nftypes.Rule{}, err
	}
	r, _, err := parseRuleMsg(m.Data, true)
	if err != nil {
		return nftypes.Rule{}, malformed(op, err)
	}
	return r, nil
}

// Sets dumps the sets, or the set named name if it is not "", with their
// elements if withElems, and returns the generation they belong to (0
// when there is no set to tell it).
func (c *Client) Sets(ctx context.Context, name string, withElems bool) ([]nftypes.Set, uint32, error) {
	const op = "dump sets"
	req, err := requestAttrs(nlproto.CMD_SET_GET, func(ae *netlink.AttributeEncoder) {
		if name != "" {
			encodeSet(ae, name, 0, false, nil)
		}
		if !withElems {
			ae.Uint32(nlproto.A_RULES_FLAGS, nlproto.RULES_F_TERSE)
		}
	})
	if err != nil {
		return nil, 0, wrapErr(op, err)
	}
	msgs, err := c.dump(ctx, op, req)
	if err != nil {
		return nil, 0, err
	}
	sets, gen, err := setsFromParts(msgs)
	if err != nil {
		return nil, 0, malformed(op, err)
	}
	return sets, gen, nil
}

// setsFromParts puts the parts of a SET_GET dump together: each set's
// header, then its elements.
func setsFromParts(msgs []genetlink.Message) ([]nftypes.Set, uint32, error) {
	var (
		sets []nftypes.Set
		gen  uint32
	)
	for i, m := range msgs {
		p, err := parseSetMsg(m.Data)
		if err != nil {
			return nil, 0, err
		}
		if i > 0 && p.gen != gen {
			return nil, 0, fmt.Errorf("sets of generations %d and %d in one dump", gen, p.gen)
		}
		gen = p.gen
		if p.header {
			switch p.set.Type {
			case nftypes.SetTypeAddr:
				p.set.Addrs = make([]nftypes.AddrRange, 0, p.set.Count)
			case nftypes.SetTypePort:
				p.set.Ports = make([]nftypes.PortRange, 0, p.set.Count)
			}
			sets = append(sets, p.set)
		}
		if len(sets) == 0 || sets[len(sets)-1].Name != p.set.Name {
			return nil, 0, fmt.Errorf("elements of set %q before its header", p.set.Name)
		}
		s := &sets[len(sets)-1]
		addrs, ports, err := decodeElems(p.elems, s.Type)
		if err != nil {
			return nil, 0, fmt.Errorf("set %q: %w", s.Name, err)
		}
		s.Addrs = append(s.Addrs, addrs...)
		s.Ports = append(s.Ports, ports...)
	}
	return sets, gen, nil
}

// ResetRules zeroes the counters and resets the state of the rule with
// handle *h, or of every rule if h is nil.
func (c *Client) ResetRules(ctx context.Context, h *uint64) error {
	const op = "reset rules"
	req, err := requestAttrs(nlproto.CMD_RULE_RESET, func(ae *netlink.AttributeEncoder) {
		if h != nil {
			encodeHandle(ae, *h)
		}
	})
	if err != nil {
		return wrapErr(op, err)
	}
	return c.ack(ctx, op, req)
}

// A Tx is an open transaction on the ruleset. The kernel ties it to the
// socket that began it, so a Tx holds the client's request socket, and its
// request slot, from Begin until Commit or Abort: the client's other
// requests wait until the Tx ends (as any request waits for the one before
// it). If the socket fails meanwhile, or the context of one of its calls
// ends mid-exchange, the socket is discarded, which aborts the transaction
// in the kernel; the Tx then ends and its later calls fail with ErrTxDone.
// Close ends it too.
//
// A Tx is safe for concurrent use; its calls run one at a time.
type Tx struct {
	c    *Client
	conn *genetlink.Conn // the socket that owns the transaction
	gen  uint32          // the generation at Begin

	mu       sync.Mutex
	done     bool
	stopLife func() bool // stops kill on Close
}

// Begin opens a transaction: an empty ruleset to fill if replace, the
// current one to change otherwise; with gen, only if the ruleset still has
// that generation (an *OpError wrapping ESTALE otherwise). Another socket's
// open transaction fails it with EBUSY.
func (c *Client) Begin(ctx context.Context, replace bool, gen *uint32) (*Tx, error) {
	const op = "begin transaction"
	req, err := requestAttrs(nlproto.CMD_RULES_BEGIN, func(ae *netlink.AttributeEncoder) {
		if replace {
			ae.Uint32(nlproto.A_RULES_FLAGS, nlproto.RULES_F_REPLACE)
		}
		if gen != nil {
			ae.Uint32(nlproto.A_RULES_GEN, *gen)
		}
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	if err := c.acquire(ctx, op, nlproto.CMD_RULES_BEGIN); err != nil {
		return nil, err
	}
	var msgs []genetlink.Message
	err = c.run(ctx, op, func(conn *genetlink.Conn) error {
		// Room for a batch's answers beyond maxInFlight's margin;
		// best effort (it needs CAP_NET_ADMIN, as transactions do).
		// It stays after the Tx: the size is a cap on what may queue,
		// not memory taken, and the socket's other requests read
		// their answers as they come, so it costs nothing unused.
		_ = setReadBuffer(conn, txReadBuffer)
		var err error
		msgs, err = conn.Execute(req, c.family.ID, netlink.Request)
		return err
	})
	if err == nil {
		if len(msgs) != 1 || msgs[0].Header.Command != nlproto.CMD_RULES_BEGIN {
			err = malformed(op, fmt.Errorf("got %d messages, want 1 RULES_BEGIN", len(msgs)))
		}
	}
	var g uint32
	if err == nil {
		if g, err = parseGen(msgs[0].Data); err != nil {
			err = malformed(op, err)
		}
	}
	if err != nil {
		if c.conn != nil && msgs != nil {
			// A transaction may be open on it: closing the socket
			// aborts it.
			_ = c.conn.Close()
			c.conn, c.nl = nil, nil
		}
		c.release()
		return nil, err
	}
	tx := &Tx{c: c, conn: c.conn, gen: g}
	// If Close has begun, kill runs at once, in another goroutine: it
	// waits for tx.mu, and so finds stopLife set.
	tx.mu.Lock()
	tx.stopLife = context.AfterFunc(c.life, tx.kill)
	tx.mu.Unlock()
	return tx, nil
}

// Gen returns the generation of the ruleset when the transaction began.
func (tx *Tx) Gen() uint32 { return tx.gen }

// kill ends the transaction when the client is closed, so that Close,
// which waits for the request slot, does not wait for a Commit.
func (tx *Tx) kill() {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.finish()
}

// finish ends the transaction on the client's side and gives the request
// slot back. tx.mu is held.
func (tx *Tx) finish() {
	if tx.done {
		return
	}
	tx.done = true
	if tx.stopLife != nil {
		tx.stopLife()
	}
	tx.c.release()
}

// start checks that the transaction can take a call; tx.mu is held.
func (tx *Tx) start(op string) error {
	if tx.done {
		return &OpError{Op: op, Err: ErrTxDone}
	}
	if tx.c.conn != tx.conn {
		tx.finish()
		return &OpError{Op: op, Err: ErrTxDone}
	}
	return nil
}

// Done reports whether the transaction has ended, so that a call would
// fail with ErrTxDone: committed, aborted, or lost with its socket. It
// sends nothing.
func (tx *Tx) Done() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.start("") != nil
}

// after ends the transaction if the call lost its socket; tx.mu is held.
func (tx *Tx) after() {
	if tx.c.conn != tx.conn {
		tx.finish()
	}
}

// A change is one message of a transaction and where it came from.
type change struct {
	msg   genetlink.Message
	op    string     // what it does, for its *OpError: "add rule"
	kind  ChangeKind // ChangeError.Kind
	index int        // ChangeError.Index
	name  string     // ChangeError.Name
	reply bool       // RULE_NEW: a reply message comes before the ACK
}

// Batching: changes go out in batches of several messages per sendmsg,
// each asking for an ACK. An error ACK carries a copy of its request
// before the extended ACK (not capped: mdlayher/netlink v1.11 finds a
// capped ACK's TLVs at the uncapped offset and loses the kernel's
// message), so maxElemsPerMsg keeps every request small enough for the
// receive buffer with its copy. Each change asks for an ACK; a batch's answers are all read before the next
// batch goes out. maxInFlight bounds the datagrams a batch can have queued
// on the socket (an ACK each, and a reply for RULE_NEW), well below what
// a default receive buffer holds, since the kernel drops what does not
// fit; maxBatchBytes keeps a sendmsg under the default send buffer.
const (
	maxInFlight   = 64
	maxBatchBytes = 32 << 10
	txReadBuffer  = 1 << 20
)

// errLostReplies is ENOBUFS on a transaction's socket: the kernel
// dropped answers the receive buffer had no room for.
var errLostReplies = &lostReplies{}

type lostReplies struct{}

func (*lostReplies) Error() string {
	return "replies were lost (receive buffer too small); the transaction was aborted"
}

func (*lostReplies) Unwrap() error { return unix.ENOBUFS }

// send sends changes in batches and returns the reply to each (zero for
// those without one). The first change the module rejects is returned as
// a *ChangeError; the batches after its own are not sent, and the
// transaction keeps what the others did (abort it).
func (tx *Tx) send(ctx context.Context, op string, changes []change) ([]genetlink.Message, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.start(op); err != nil {
		return nil, err
	}
	defer tx.after()
	replies := make([]genetlink.Message, len(changes))
	failed, failErr := -1, error(nil)
	err := tx.c.run(ctx, op, func(conn *genetlink.Conn) error {
		for start := 0; start < len(changes) && failed < 0; {
			end, dgs, size := start, 0, 0
			for end < len(changes) {
				n, sz := 1, 20+len(changes[end].msg.Data)
				if changes[end].reply {
					n = 2
				}
				if end > start && (dgs+n > maxInFlight || size+sz > maxBatchBytes) {
					break
				}
				dgs, size, end = dgs+n, size+sz, end+1
			}
			sent, err := tx.sendBatch(conn, changes[start:end])
			if err != nil {
				return err
			}
			pending := make(map[uint32]int, len(sent))
			for i, nm := range sent {
				pending[nm.Header.Sequence] = start + i
			}
			for len(pending) > 0 {
				gmsgs, nmsgs, err := conn.Receive()
				if err != nil {
					var oe *netlink.OpError
					if errors.As(err, &oe) && oe.Sequence != 0 {
						if i, ok := pending[oe.Sequence]; ok {
							delete(pending, oe.Sequence)
							if failed < 0 || i < failed {
								failed, failErr = i, err
							}
							continue
						}
					}
					return err
				}
				for j, nm := range nmsgs {
					i, ok := pending[nm.Header.Sequence]
					if !ok {
						return fmt.Errorf("reply with sequence %d answers no change sent", nm.Header.Sequence)
					}
					if nm.Header.Type == netlink.Error {
						delete(pending, nm.Header.Sequence)
						continue
					}
					if got, want := gmsgs[j].Header.Command, changes[i].msg.Header.Command; got != want {
						return fmt.Errorf("reply has command %d, want %d", got, want)
					}
					replies[i] = gmsgs[j]
				}
			}
			start = end
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped answers: the socket, and with it
			// the transaction, is gone (run discarded it).
			return nil, &OpError{Op: op, Err: errLostReplies}
		}
		return nil, err
	}
	if failed >= 0 {
		ch := changes[failed]
		return nil, &ChangeError{Kind: ch.kind, Index: ch.index, Name: ch.name, Err: wrapErr(ch.op, failErr)}
	}
	return replies, nil
}

// sendBatch sends changes in one sendmsg where the client has the netlink
// connection, else one by one, and returns them as sent (with their
// sequence numbers).
func (tx *Tx) sendBatch(conn *genetlink.Conn, changes []change) ([]netlink.Message, error) {
	const flags = netlink.Request | netlink.Acknowledge
	if tx.c.nl == nil {
		sent := make([]netlink.Message, 0, len(changes))
		for _, ch := range changes {
			nm, err := conn.Send(ch.msg, tx.c.family.ID, flags)
			if err != nil {
				return nil, err
			}
			sent = append(sent, nm)
		}
		return sent, nil
	}
	nms := make([]netlink.Message, len(changes))
	for i, ch := range changes {
		b, err := ch.msg.MarshalBinary()
		if err != nil {
			return nil, err
		}
		nms[i] = netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(tx.c.family.ID), Flags: flags}, Data: b}
	}
	return tx.c.nl.SendMessages(nms)
}

// one sends a single change.
func (tx *Tx) one(ctx context.Context, ch change) (genetlink.Message, error) {
	replies, err := tx.send(ctx, ch.op, []change{ch})
	if err != nil {
		var ce *ChangeError
		if errors.As(err, &ce) {
			// One change: its own error says it all.
			return genetlink.Message{}, ce.Err
		}
		return genetlink.Message{}, err
	}
	return replies[0], nil
}

func chainName(t nftypes.Table, name string) string { return t.String() + "/" + name }

// chainChange builds CHAIN_NEW, CHAIN_DEL or CHAIN_POLICY for c.
func chainChange(cmd uint8, op string, c nftypes.Chain, index int) (change, error) {
	msg, err := requestAttrs(cmd, func(ae *netlink.AttributeEncoder) {
		encodeChain(ae, c, cmd == nlproto.CMD_CHAIN_POLICY)
	})
	return change{msg: msg, op: op, kind: ChangeChains, index: index, name: chainName(c.Table, c.Name)}, err
}

// AddChain adds user chain ch.
func (tx *Tx) AddChain(ctx context.Context, ch nftypes.Chain) error {
	c, err := chainChange(nlproto.CMD_CHAIN_NEW, "add chain", ch, 0)
	if err != nil {
		return wrapErr(c.op, err)
	}
	_, err = tx.one(ctx, c)
	return err
}

// DeleteChain deletes the empty user chain name of table t.
func (tx *Tx) DeleteChain(ctx context.Context, t nftypes.Table, name string) error {
	c, err := chainChange(nlproto.CMD_CHAIN_DEL, "delete chain", nftypes.Chain{Table: t, Name: name}, 0)
	if err != nil {
		return wrapErr(c.op, err)
	}
	_, err = tx.one(ctx, c)
	return err
}

// SetPolicy sets the policy of built-in chain name of table t.
func (tx *Tx) SetPolicy(ctx context.Context, t nftypes.Table, name string, p nftypes.Verdict) error {
	c, err := chainChange(nlproto.CMD_CHAIN_POLICY, "set policy", nftypes.Chain{Table: t, Name: name, Policy: p}, 0)
	if err != nil {
		return wrapErr(c.op, err)
	}
	_, err = tx.one(ctx, c)
	return err
}

// ruleChange builds RULE_NEW for r at pos.
func ruleChange(r nftypes.Rule, pos rulePos, index int) (change, error) {
	msg, err := requestAttrs(nlproto.CMD_RULE_NEW, func(ae *netlink.AttributeEncoder) { encodeRule(ae, r, 0, &pos) })
	return change{msg: msg, op: "add rule", kind: ChangeRules, index: index, name: chainName(r.Table, r.Chain), reply: true}, err
}

// AddRule adds r to its chain: at its end, or its start with insert; next
// to the rule with handle pos if pos is not 0 (after it, or before it with
// insert). It returns the new rule's handle.
func (tx *Tx) AddRule(ctx context.Context, r nftypes.Rule, insert bool, pos uint64) (uint64, error) {
	c, err := ruleChange(r, rulePos{Insert: insert, Handle: pos}, 0)
	if err != nil {
		return 0, wrapErr(c.op, err)
	}
	reply, err := tx.one(ctx, c)
	if err != nil {
		return 0, err
	}
	got, _, err := parseRuleMsg(reply.Data, false)
	if err != nil {
		return 0, malformed(c.op, err)
	}
	return got.Handle, nil
}

// DeleteRule deletes the rule with handle h.
func (tx *Tx) DeleteRule(ctx context.Context, h uint64) error {
	const op = "delete rule"
	msg, err := requestAttrs(nlproto.CMD_RULE_DEL, func(ae *netlink.AttributeEncoder) { encodeHandle(ae, h) })
	if err != nil {
		return wrapErr(op, err)
	}
	_, err = tx.one(ctx, change{msg: msg, op: op, kind: ChangeRules, name: "handle " + strconv.FormatUint(h, 10)})
	return err
}

// ReplaceRule replaces the matches, action and comment of the rule with
// handle h by r's; the rule keeps its place and handle, and starts with
// new counters. r's Table and Chain are sent too, and must be the rule's.
func (tx *Tx) ReplaceRule(ctx context.Context, h uint64, r nftypes.Rule) error {
	const op = "replace rule"
	msg, err := requestAttrs(nlproto.CMD_RULE_REPLACE, func(ae *netlink.AttributeEncoder) { encodeRule(ae, r, h, nil) })
	if err != nil {
		return wrapErr(op, err)
	}
	_, err = tx.one(ctx, change{msg: msg, op: op, kind: ChangeRules, name: "handle " + strconv.FormatUint(h, 10)})
	return err
}

// setChanges builds SET_NEW for s with its first slice of elements (if
// create) and SET_ADD_ELEMS for the other slices.
func setChanges(s nftypes.Set, create bool, index int) ([]change, error) {
	chunks := setElemChunks(s)
	var changes []change
	if create {
		var first []byte
		if len(chunks) > 0 {
			first, chunks = chunks[0], chunks[1:]
		}
		msg, err := requestAttrs(nlproto.CMD_SET_NEW, func(ae *netlink.AttributeEncoder) { encodeSet(ae, s.Name, s.Type, true, first) })
		if err != nil {
			return nil, err
		}
		changes = append(changes, change{msg: msg, op: "add set", kind: ChangeSets, index: index, name: s.Name})
	}
	for _, chunk := range chunks {
		msg, err := requestAttrs(nlproto.CMD_SET_ADD_ELEMS, func(ae *netlink.AttributeEncoder) { encodeSet(ae, s.Name, 0, false, chunk) })
		if err != nil {
			return nil, err
		}
		changes = append(changes, change{msg: msg, op: "add set elements", kind: ChangeSets, index: index, name: s.Name})
	}
	return changes, nil
}

// AddSet adds set s with its elements, in as many messages as they need.
func (tx *Tx) AddSet(ctx context.Context, s nftypes.Set) error {
	return tx.sendSet(ctx, "add set", s, true)
}

// AddSetElems adds s.Addrs or s.Ports to the set s.Name, in as many
// messages as they need. If one fails, the transaction holds those before
// it: abort it.
func (tx *Tx) AddSetElems(ctx context.Context, s nftypes.Set) error {
	return tx.sendSet(ctx, "add set elements", s, false)
}

func (tx *Tx) sendSet(ctx context.Context, op string, s nftypes.Set, create bool) error {
	changes, err := setChanges(s, create, 0)
	if err != nil {
		return wrapErr(op, err)
	}
	if len(changes) == 0 {
		return nil
	}
	_, err = tx.send(ctx, op, changes)
	var ce *ChangeError
	if errors.As(err, &ce) {
		// One set: its own error says it all, as for one change.
		return ce.Err
	}
	return err
}

// DeleteSet deletes the set name, which no rule may use.
func (tx *Tx) DeleteSet(ctx context.Context, name string) error {
	return tx.setCmd(ctx, nlproto.CMD_SET_DEL, "delete set", name)
}

// FlushSet removes every element of the set name.
func (tx *Tx) FlushSet(ctx context.Context, name string) error {
	return tx.setCmd(ctx, nlproto.CMD_SET_FLUSH, "flush set", name)
}

func (tx *Tx) setCmd(ctx context.Context, cmd uint8, op, name string) error {
	msg, err := requestAttrs(cmd, func(ae *netlink.AttributeEncoder) { encodeSet(ae, name, 0, false, nil) })
	if err != nil {
		return wrapErr(op, err)
	}
	_, err = tx.one(ctx, change{msg: msg, op: op, kind: ChangeSets, name: name})
	return err
}

// Apply sends the whole of rs, as changes to the transaction: the
// policies of its built-in chains, its user chains, its sets with their
// elements, and its rules, in that order, in batches. The first change
// the module rejects is returned as a *ChangeError naming its place in rs;
// the transaction then holds part of rs: abort it.
func (tx *Tx) Apply(ctx context.Context, rs nftypes.Ruleset) error {
	const op = "apply ruleset"
	var changes []change
	for i, ch := range rs.Chains {
		cmd, what := uint8(nlproto.CMD_CHAIN_NEW), "add chain"
		if ch.Hook != nil {
			cmd, what = nlproto.CMD_CHAIN_POLICY, "set policy"
		}
		c, err := chainChange(cmd, what, ch, i)
		if err != nil {
			return wrapErr(op, err)
		}
		changes = append(changes, c)
	}
	for i, s := range rs.Sets {
		cs, err := setChanges(s, true, i)
		if err != nil {
			return wrapErr(op, err)
		}
		changes = append(changes, cs...)
	}
	for i, r := range rs.Rules {
		c, err := ruleChange(r, rulePos{}, i)
		if err != nil {
			return wrapErr(op, err)
		}
		changes = append(changes, c)
	}
	_, err := tx.send(ctx, op, changes)
	return err
}

// Commit ends the transaction, publishing its ruleset (or, with check,
// only checking it) and returns the new generation (with check, the
// current one). Whatever its outcome, the transaction is over.
func (tx *Tx) Commit(ctx context.Context, check bool) (uint32, error) {
	const op = "commit transaction"
	req, err := requestAttrs(nlproto.CMD_RULES_COMMIT, func(ae *netlink.AttributeEncoder) {
		if check {
			ae.Uint32(nlproto.A_RULES_FLAGS, nlproto.RULES_F_CHECK)
		}
	})
	if err != nil {
		return 0, wrapErr(op, err)
	}
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.start(op); err != nil {
		return 0, err
	}
	defer tx.finish()
	var msgs []genetlink.Message
	err = tx.c.run(ctx, op, func(conn *genetlink.Conn) error {
		var err error
		msgs, err = conn.Execute(req, tx.c.family.ID, netlink.Request)
		return err
	})
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 || msgs[0].Header.Command != nlproto.CMD_RULES_COMMIT {
		return 0, malformed(op, fmt.Errorf("got %d messages, want 1 RULES_COMMIT", len(msgs)))
	}
	gen, err := parseGen(msgs[0].Data)
	if err != nil {
		return 0, malformed(op, err)
	}
	return gen, nil
}

// Abort discards the transaction. It fails with ErrTxDone if the
// transaction has ended already, so that a deferred Abort after Commit is
// harmless.
func (tx *Tx) Abort(ctx context.Context) error {
	const op = "abort transaction"
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if err := tx.start(op); err != nil {
		return err
	}
	defer tx.finish()
	return tx.c.run(ctx, op, func(conn *genetlink.Conn) error {
		_, err := conn.Execute(request(nlproto.CMD_RULES_ABORT), tx.c.family.ID, netlink.Request|netlink.Acknowledge)
		return err
	})
}
