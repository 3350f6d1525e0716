package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/internal/ruletext"
	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// "nflab rule", "nflab chain", "nflab set" and "nflab rules": the rule
// engine, in the words of nft(8). Rules are written in the text format
// of package ruletext, which "rules save" prints and "rules apply" reads.

// ruleHelp is the grammar in brief, shared by the commands' help.
const ruleHelp = `A rule is matches, all of which must hold, then one action, then an
optional comment, as in the README's "Rules" section:

  tcp dport 22 ct state new limit 5/minute burst 10 accept comment "ssh"

Matches (negate with "!" before or "!=" after the selector; quota, limit: over):
  iif NAME, oif NAME            (NAME+ matches every name it starts)
  ip saddr|daddr ADDR|PREFIX|FIRST-LAST|@SET
  ip protocol tcp|udp|icmp|N    ip length N[-M]
  tcp|udp sport|dport PORTS|@SET (a protocol match and a port match)
  th sport|dport PORTS|@SET     (ports of tcp or udp; PORTS: 80,443,8000-8100)
  tcp flags FLAGS|0 [/ MASK]    icmp type TYPE [code N]
  ct state new,established,related,invalid,untracked
  ct status seen-reply,assured,confirmed,dying,src-nat,dst-nat
  string "TEXT" [algo bm|kmp] [from N] [to N]
  connlimit above|upto N [per /P]
  quota [over] N [bytes|kbytes|mbytes|gbytes]
  nth every N [offset K]        mark V[/M]
  time [HH:MM-HH:MM] [days mon,...,sun] [since DATE] [until DATE] [localtime]
  limit [over] N/second|minute|hour|day [burst N]
Actions:
  accept, drop, reject [with tcp reset | with icmp port-unreachable|...],
  log [prefix "TEXT"], counter, notrack (raw), mark set V[/M], tos set N,
  dscp set N, ttl set|inc|dec N (mangle), jump CHAIN, goto CHAIN, return
NAT actions (table nat; flags random, fully-random, persistent, fullcone may follow;
a :PORT range needs "tcp ..." or "udp ..." in the rule):
  snat to ADDR[-ADDR][:PORT[-PORT]]   (input, postrouting)
  dnat to ADDR[-ADDR][:PORT[-PORT]], dnat to :PORT[-PORT] (prerouting, output)
  masquerade [to :PORT[-PORT]]        (postrouting)
  redirect [to :PORT[-PORT]]          (prerouting, output)`

func (a *app) ruleCmd() *cobra.Command {
	return a.group("rule", "add, insert, delete, replace, list and reset rules",
		`Change and show the rules of the ruleset, one at a time; each change is a
transaction of its own. Needs CAP_NET_ADMIN.

`+ruleHelp,
		a.ruleAddCmd(false), a.ruleAddCmd(true), a.ruleDeleteCmd(), a.ruleReplaceCmd(),
		a.ruleListCmd(), a.ruleResetCmd(),
	)
}

func (a *app) chainCmd() *cobra.Command {
	return a.group("chain", "add, delete and list chains, set a built-in chain's policy",
		`Every table has a built-in chain per hook it sits at, named after it:
raw: prerouting, output; mangle: prerouting, input, forward, output,
postrouting; filter: input, forward, output; nat: prerouting, input,
output, postrouting (only the first packet of each connection passes
nat's chains). Their policy (accept or drop) is what happens to packets
no rule decides. User chains are reached by "jump CHAIN" and "goto CHAIN"
from rules of the same table. Needs CAP_NET_ADMIN.`,
		a.chainAddCmd(), a.chainDeleteCmd(), a.chainPolicyCmd(), a.chainListCmd(),
	)
}

func (a *app) setCmd() *cobra.Command {
	return a.group("set", "add, delete, list and load address and port sets",
		`A set is a named collection of IPv4 addresses (type addr: addresses,
prefixes and first-last ranges) or of ports (type port: ports and ranges)
that rules look up with "ip saddr @NAME", "tcp dport @NAME" and the like:
one rule instead of thousands. Needs CAP_NET_ADMIN.`,
		a.setAddCmd(), a.setDeleteCmd(), a.setListCmd(), a.setLoadCmd(),
	)
}

func (a *app) rulesCmd() *cobra.Command {
	return a.group("rules", "save, apply and flush the whole ruleset",
		`The whole ruleset (sets, chains and rules) as text: what 'nflab rules save'
prints, 'nflab rules apply -f' loads back unchanged, in one transaction.
Needs CAP_NET_ADMIN.`,
		a.rulesSaveCmd(), a.rulesApplyCmd(), a.rulesFlushCmd(),
	)
}

// tableNames are the tables, as the commands take them.
func tableNames() []string {
	var s []string
	for _, t := range nftypes.Tables() {
		s = append(s, t.String())
	}
	return s
}

// parseTable reads a table's name; its errors are usage errors.
func parseTable(s string) (nftypes.Table, error) {
	for _, t := range nftypes.Tables() {
		if s == t.String() {
			return t, nil
		}
	}
	return 0, usagef("unknown table %q; want %s", s, orList(tableNames()))
}

// parseHandle reads a rule's handle.
func parseHandle(s string) (uint64, error) {
	h, err := strconv.ParseUint(s, 10, 64)
	if err != nil || h == 0 {
		return 0, usagef("invalid handle %q: want a rule's number, as 'nflab rule list' shows it", s)
	}
	return h, nil
}

// wordsError turns an error of ruletext about the rule's words into a
// usage error that counts the command's arguments: the rule's words start
// at argument first.
func wordsError(err error, first int) error {
	var e *ruletext.Error
	if errors.As(err, &e) && e.Arg > 0 {
		return usagef("argument %d: %s", e.Arg+first-1, e.Msg)
	}
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
}

// parseRuleArgs reads TABLE CHAIN RULE-WORDS.
func parseRuleArgs(args []string) (nftypes.Rule, error) {
	if len(args) < 2 {
		return nftypes.Rule{}, usagef("want TABLE CHAIN and the rule, such as: filter input tcp dport 22 accept")
	}
	tb, err := parseTable(args[0])
	if err != nil {
		return nftypes.Rule{}, err
	}
	if err := nftypes.ValidateName("chain", args[1]); err != nil {
		return nftypes.Rule{}, usagef("invalid chain name %q: %s", args[1], reason(err))
	}
	if len(args) == 2 {
		return nftypes.Rule{}, usagef("missing the rule after %s %s: matches, then an action, such as: tcp dport 22 accept", args[0], args[1])
	}
	r, err := ruletext.ParseRule(args[2:])
	if err != nil {
		return nftypes.Rule{}, wordsError(err, 3)
	}
	if err := ruletext.CheckRule(tb, args[1], r, args[2:]); err != nil {
		return nftypes.Rule{}, wordsError(err, 3)
	}
	r.Table, r.Chain = tb, args[1]
	return r, nil
}

// inTx runs fn in a transaction and commits it; any failure aborts it,
// which changes nothing.
func inTx(ctx context.Context, c client, fn func(tx *nflab.Tx) error) error {
	tx, err := c.Begin(ctx, nil)
	if err != nil {
		return busyHint(err)
	}
	defer func() { _ = tx.Abort(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	_, err = tx.Commit(ctx, false)
	return err
}

// hintError adds what to do to an error of the library.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

// busyHint says what to do when another socket's transaction is open.
func busyHint(err error) error {
	if errors.Is(err, syscall.EBUSY) {
		return &hintError{err, "another program is changing the ruleset; try again when it is done"}
	}
	return err
}

// completeRuleArgs completes TABLE, then the built-in chains, then the
// words a rule starts with.
func completeRuleArgs(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var cands []string
	switch len(args) {
	case 0:
		cands = tableNames()
	case 1:
		if t, err := parseTable(args[0]); err == nil {
			for _, h := range nftypes.TableHooks(t) {
				cands = append(cands, h.ChainName())
			}
		}
	default:
		cands = ruletext.Keywords()
	}
	var out []cobra.Completion
	for _, c := range cands {
		if strings.HasPrefix(c, toComplete) {
			out = append(out, c)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeTables completes the first argument with the tables.
func completeTables(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return fixedValues(tableNames()...)(nil, nil, toComplete)
}

// jsonHandle is what add and insert print.
type jsonHandle struct {
	Handle uint64 `json:"handle"`
}

func (a *app) ruleAddCmd(insert bool) *cobra.Command {
	var (
		rule     nftypes.Rule
		position = numValue{max: 1<<64 - 1}
	)
	use, short, long := "add", "add a rule at the end of a chain (or after --position)", `Add a rule at the end of chain CHAIN of table TABLE, or right after the
rule --position names, and print its handle.`
	example := `  nflab rule add filter input tcp dport 22 ct state new accept comment ssh
  nflab rule add filter forward ip saddr @blocked drop
  nflab rule add mangle output tcp dport 80 mark set 0x1
  nflab rule add nat prerouting tcp dport 8080 dnat to 10.0.2.2:80
  nflab rule add filter input --position 3 ip saddr 10.0.0.0/8 accept
  nflab rule add filter input -- tcp dport 22 log prefix -ssh-`
	if insert {
		use, short, long = "insert", "insert a rule at the start of a chain (or before --position)", `Insert a rule at the start of chain CHAIN of table TABLE, or right before
the rule --position names, and print its handle.`
		example = `  nflab rule insert filter input iif lo accept
  nflab rule insert filter input --position 3 icmp type echo-request accept
  nflab rule insert filter input -- log prefix -in-`
	}
	cmd := a.leaf(leaf{
		use:   use + " TABLE CHAIN RULE... [flags]",
		short: short,
		long: long + ` Words the shell would split or
expand ("!", quotes) need quoting; the word after "comment", "prefix" or
"string" is taken whole, so quote it once: comment 'my rule'. A rule with
a word starting with "-" (log prefix -x-) needs "--" before the rule, or
the word is read as a flag: nflab rule add filter input -- log prefix -x-.

` + ruleHelp + `

Output:
  table: "handle N"
  json:  one line, {"handle":N}`,
		example: example,
		flags: func(fs *pflag.FlagSet) {
			where := "after"
			if insert {
				where = "before"
			}
			fs.Var(once(&position), "position", "the handle of the rule of CHAIN to put it "+where)
		},
		args: func(args []string) (err error) {
			rule, err = parseRuleArgs(args)
			return err
		},
		check: func(*cobra.Command) error {
			if position.set && position.v == 0 {
				return usagef("--position 0: want a rule's handle, as 'nflab rule list' shows it")
			}
			return nil
		},
		complete: completeRuleArgs,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			pos := &nflab.RulePosition{Insert: insert, Handle: position.v}
			var h uint64
			err := inTx(ctx, c, func(tx *nflab.Tx) (err error) {
				h, err = tx.AddRule(ctx, rule, pos)
				return err
			})
			if err != nil {
				return nil, failed(map[bool]string{false: "adding", true: "inserting"}[insert]+" the rule", err)
			}
			return &output{json: jsonHandle{h}, table: func(w io.Writer) { fmt.Fprintf(w, "handle %d\n", h) }}, nil
		},
	})
	return cmd
}

// noOutput refuses -o for commands that print nothing.
func noOutput(cmd *cobra.Command) error {
	if changed(cmd, "output") {
		return usagef("--output does not apply: this command prints nothing")
	}
	return nil
}

func (a *app) ruleDeleteCmd() *cobra.Command {
	var h uint64
	return a.leaf(leaf{
		use:   "delete HANDLE",
		short: "delete the rule with a handle",
		long: `Delete the rule with handle HANDLE, as 'nflab rule list' shows it.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab rule delete 3",
		args: func(args []string) (err error) {
			if len(args) != 1 {
				return usagef("want one HANDLE")
			}
			h, err = parseHandle(args[0])
			return err
		},
		check: noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			err := inTx(ctx, c, func(tx *nflab.Tx) error { return tx.DeleteRule(ctx, h) })
			if errors.Is(err, os.ErrNotExist) {
				return nil, &opError{"deleting the rule", fmt.Errorf("no rule has handle %d", h)}
			}
			return nil, failed("deleting the rule", err)
		},
	})
}

func (a *app) ruleReplaceCmd() *cobra.Command {
	var (
		h     uint64
		words []string
	)
	return a.leaf(leaf{
		use:   "replace HANDLE RULE...",
		short: "replace the rule with a handle, keeping its place",
		long: `Give the rule with handle HANDLE new matches, action and comment; it keeps
its handle, table, chain and place, and its counters start afresh. A rule
with a word starting with "-" (log prefix -x-) needs "--" before HANDLE,
or the word is read as a flag: nflab rule replace -- 3 log prefix -x-.

` + ruleHelp + `

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab rule replace 3 tcp dport 2222 accept comment ssh\n  nflab rule replace -- 3 log prefix -ssh-",
		args: func(args []string) (err error) {
			if len(args) < 2 {
				return usagef("want HANDLE and the rule, such as: 12 tcp dport 22 accept")
			}
			if h, err = parseHandle(args[0]); err != nil {
				return err
			}
			if _, err := ruletext.ParseRule(args[1:]); err != nil {
				return wordsError(err, 2)
			}
			words = args[1:]
			return nil
		},
		check: noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			old, err := c.Rule(ctx, h)
			if errors.Is(err, os.ErrNotExist) {
				return nil, &opError{"replacing the rule", fmt.Errorf("no rule has handle %d", h)}
			}
			if err != nil {
				return nil, failed("reading the rule", err)
			}
			r, _ := ruletext.ParseRule(words)
			if err := ruletext.CheckRule(old.Table, old.Chain, r, words); err != nil {
				return nil, wordsError(err, 2)
			}
			r.Table, r.Chain = old.Table, old.Chain
			err = inTx(ctx, c, func(tx *nflab.Tx) error { return tx.ReplaceRule(ctx, h, r) })
			return nil, failed("replacing the rule", err)
		},
	})
}

// jsonRule is the documented shape of a rule in "nflab rule list -o json".
type jsonRule struct {
	Handle    uint64  `json:"handle"`
	Table     enum    `json:"table"`
	Chain     string  `json:"chain"`
	Rule      string  `json:"rule"`
	Comment   string  `json:"comment,omitempty"`
	Packets   uint64  `json:"packets"`
	Bytes     uint64  `json:"bytes"`
	QuotaUsed *uint64 `json:"quota_used,omitempty"`
}

// ruleText is the rule as "rule add" takes it, or what stands in for a
// rule this client cannot write.
func ruleText(r nftypes.Rule) string {
	s, err := ruletext.FormatRule(r)
	if err != nil {
		return "# " + strings.TrimPrefix(err.Error(), "ruletext: ")
	}
	return s
}

// quotaUsed returns the bytes the rule's quota has used, if it has one.
func quotaUsed(r nftypes.Rule) *uint64 {
	for _, m := range r.Matches {
		if m.Kind == nftypes.MatchQuota {
			u := m.QuotaUsed
			return &u
		}
	}
	return nil
}

func ruleJSON(r nftypes.Rule) jsonRule {
	return jsonRule{
		Handle: r.Handle, Table: enumOf(r.Table), Chain: r.Chain, Rule: ruleText(r), Comment: r.Comment,
		Packets: r.Packets, Bytes: r.Bytes, QuotaUsed: quotaUsed(r),
	}
}

func (a *app) ruleListCmd() *cobra.Command {
	var (
		verbose bool
		tb      nftypes.Table
		chain   string
	)
	return a.leaf(leaf{
		use:   "list [TABLE [CHAIN]] [-v]",
		short: "list the rules, of a table or of a chain",
		long: `List the rules in table, chain and rule order, each with its handle and as
'nflab rule add' takes it.

Output:
  table: columns TABLE, CHAIN, HANDLE, RULE; with -v also PACKETS, BYTES
         (since the rule was added or reset) and QUOTA (bytes used of the
         quota, for rules with one)
  json:  one line, {"rules":[{"handle":N,"table":"filter","chain":"input",
         "rule":"tcp dport 22 accept comment \"ssh\"","comment":"ssh",
         "packets":N,"bytes":N,"quota_used":N},...]}; "comment" only when
         the rule has one, "quota_used" only when it has a quota`,
		example: "  nflab rule list\n  nflab rule list filter input -v\n  nflab rule list -o json",
		flags: func(fs *pflag.FlagSet) {
			fs.VarPF(once((*boolValue)(&verbose)), "verbose", "v", "show the counters and quota state").NoOptDefVal = "true"
		},
		args: func(args []string) (err error) {
			if len(args) > 2 {
				return usagef("unexpected argument %q: want at most TABLE and CHAIN", args[2])
			}
			if len(args) > 0 {
				if tb, err = parseTable(args[0]); err != nil {
					return err
				}
			}
			if len(args) > 1 {
				chain = args[1]
			}
			return nil
		},
		complete: completeTables,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			if chain != "" {
				chains, err := c.Chains(ctx)
				if err != nil {
					return nil, failed("listing the chains", err)
				}
				found := false
				for _, ch := range chains {
					found = found || (ch.Table == tb && ch.Name == chain)
				}
				if !found {
					return nil, &opError{"listing the rules", fmt.Errorf("table %s has no chain %s ('nflab chain list' shows them)", tb, chain)}
				}
			}
			all, err := c.Rules(ctx)
			if err != nil {
				return nil, failed("listing the rules", err)
			}
			var rules []nftypes.Rule
			for _, r := range all {
				if (tb == 0 || r.Table == tb) && (chain == "" || r.Chain == chain) {
					rules = append(rules, r)
				}
			}
			js := struct {
				Rules []jsonRule `json:"rules"`
			}{[]jsonRule{}}
			for _, r := range rules {
				js.Rules = append(js.Rules, ruleJSON(r))
			}
			return &output{json: js, table: func(w io.Writer) {
				tw := newTable(w)
				if verbose {
					fmt.Fprintln(tw, "TABLE\tCHAIN\tHANDLE\tPACKETS\tBYTES\tQUOTA\tRULE")
				} else {
					fmt.Fprintln(tw, "TABLE\tCHAIN\tHANDLE\tRULE")
				}
				for _, r := range rules {
					if verbose {
						quota := "-"
						if u := quotaUsed(r); u != nil {
							for _, m := range r.Matches {
								if m.Kind == nftypes.MatchQuota {
									quota = fmt.Sprintf("%d/%d", *u, m.QuotaBytes)
								}
							}
						}
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", enumOf(r.Table), r.Chain, r.Handle, r.Packets, r.Bytes, quota, ruleText(r))
					} else {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", enumOf(r.Table), r.Chain, r.Handle, ruleText(r))
					}
				}
				tw.Flush()
			}}, nil
		},
	})
}

func (a *app) ruleResetCmd() *cobra.Command {
	var h *uint64
	return a.leaf(leaf{
		use:   "reset [HANDLE]",
		short: "set a rule's counters and state back to zero, or every rule's",
		long: `Set the packet and byte counters of the rule with handle HANDLE, or of
every rule, back to zero, and their state (quota used, nth counter, limit
tokens) back to where it started.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab rule reset\n  nflab rule reset 3",
		args: func(args []string) error {
			switch len(args) {
			case 0:
				return nil
			case 1:
				v, err := parseHandle(args[0])
				h = &v
				return err
			}
			return usagef("unexpected argument %q: want at most one HANDLE", args[1])
		},
		check: noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			err := c.ResetRules(cmd.Context(), h)
			if h != nil && errors.Is(err, os.ErrNotExist) {
				return nil, &opError{"resetting the rule", fmt.Errorf("no rule has handle %d", *h)}
			}
			return nil, failed("resetting the rules", err)
		},
	})
}

// chainArgs reads TABLE CHAIN.
func chainArgs(args []string, n int, want string) (nftypes.Table, string, error) {
	if len(args) != n {
		return 0, "", usagef("want %s", want)
	}
	tb, err := parseTable(args[0])
	if err != nil {
		return 0, "", err
	}
	if err := nftypes.ValidateName("chain", args[1]); err != nil {
		return 0, "", usagef("invalid chain name %q: %s", args[1], reason(err))
	}
	return tb, args[1], nil
}

func (a *app) chainAddCmd() *cobra.Command {
	var (
		tb   nftypes.Table
		name string
	)
	return a.leaf(leaf{
		use:   "add TABLE NAME",
		short: "add a user chain",
		long: `Add an empty user chain NAME to table TABLE: 1 to 31 letters, digits, '_',
'.' and '-', not a built-in chain's name.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab chain add filter ssh_in",
		args: func(args []string) (err error) {
			if tb, name, err = chainArgs(args, 2, "TABLE NAME"); err != nil {
				return err
			}
			if _, ok := nftypes.BuiltinHook(name); ok {
				return usagef("%s is a built-in chain's name; a user chain needs another", name)
			}
			return nil
		},
		check:    noOutput,
		complete: completeTables,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			err := inTx(ctx, c, func(tx *nflab.Tx) error { return tx.AddChain(ctx, nftypes.Chain{Table: tb, Name: name}) })
			if errors.Is(err, os.ErrExist) {
				return nil, &opError{"adding the chain", fmt.Errorf("table %s already has a chain %s", tb, name)}
			}
			return nil, failed("adding the chain", err)
		},
	})
}

func (a *app) chainDeleteCmd() *cobra.Command {
	var (
		tb   nftypes.Table
		name string
	)
	return a.leaf(leaf{
		use:   "delete TABLE NAME",
		short: "delete an empty user chain",
		long: `Delete the user chain NAME of table TABLE, which must hold no rule and be
the target of no jump or goto.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab chain delete filter tcp_in",
		args: func(args []string) (err error) {
			tb, name, err = chainArgs(args, 2, "TABLE NAME")
			return err
		},
		check:    noOutput,
		complete: completeTables,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			err := inTx(ctx, c, func(tx *nflab.Tx) error { return tx.DeleteChain(ctx, tb, name) })
			if errors.Is(err, os.ErrNotExist) {
				return nil, &opError{"deleting the chain", fmt.Errorf("table %s has no chain %s", tb, name)}
			}
			return nil, failed("deleting the chain", err)
		},
	})
}

func (a *app) chainPolicyCmd() *cobra.Command {
	var (
		tb     nftypes.Table
		name   string
		policy nftypes.Verdict
	)
	return a.leaf(leaf{
		use:   "policy TABLE CHAIN accept|drop",
		short: "set a built-in chain's policy",
		long: `Set what happens to the packets that reach the end of built-in chain CHAIN
of table TABLE: accept or drop.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab chain policy filter input drop",
		args: func(args []string) (err error) {
			if tb, name, err = chainArgs(args, 3, "TABLE CHAIN accept|drop"); err != nil {
				return err
			}
			h, ok := nftypes.BuiltinHook(name)
			if !ok || !slices.Contains(nftypes.TableHooks(tb), h) {
				var chains []string
				for _, h := range nftypes.TableHooks(tb) {
					chains = append(chains, h.ChainName())
				}
				return usagef("table %s has no built-in chain %s; only %s have a policy", tb, name, orList(chains))
			}
			switch args[2] {
			case "accept":
				policy = nftypes.VerdictAccept
			case "drop":
				policy = nftypes.VerdictDrop
			default:
				return usagef("unknown policy %q; want accept or drop", args[2])
			}
			return nil
		},
		check:    noOutput,
		complete: completeTables,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			err := inTx(ctx, c, func(tx *nflab.Tx) error { return tx.SetPolicy(ctx, tb, name, policy) })
			return nil, failed("setting the policy", err)
		},
	})
}

// jsonChain is the documented shape of a chain.
type jsonChain struct {
	Table  enum   `json:"table"`
	Name   string `json:"name"`
	Hook   *enum  `json:"hook,omitempty"`
	Policy *enum  `json:"policy,omitempty"`
	Rules  int    `json:"rules"`
}

func chainJSON(c nftypes.Chain) jsonChain {
	jc := jsonChain{Table: enumOf(c.Table), Name: c.Name, Rules: c.Rules}
	if c.Hook != nil {
		h, p := enumOf(*c.Hook), enumOf(c.Policy)
		if c.Policy == 0 {
			p = enumOf(nftypes.VerdictAccept)
		}
		jc.Hook, jc.Policy = &h, &p
	}
	return jc
}

func (a *app) chainListCmd() *cobra.Command {
	var tb nftypes.Table
	return a.leaf(leaf{
		use:   "list [TABLE]",
		short: "list the chains, built-in ones first",
		long: `List the chains of every table or of TABLE: the built-in ones first, in
table and hook order, then the user chains.

Output:
  table: columns TABLE, CHAIN, HOOK, POLICY, RULES ("-" for the hook and
         policy of user chains)
  json:  one line, {"chains":[{"table":"filter","name":"input",
         "hook":"LOCAL_IN","policy":"accept","rules":N},...]}; "hook" and
         "policy" only for built-in chains`,
		example: "  nflab chain list filter",
		args: func(args []string) (err error) {
			if len(args) > 1 {
				return usagef("unexpected argument %q: want at most TABLE", args[1])
			}
			if len(args) == 1 {
				tb, err = parseTable(args[0])
			}
			return err
		},
		complete: completeTables,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			all, err := c.Chains(cmd.Context())
			if err != nil {
				return nil, failed("listing the chains", err)
			}
			js := struct {
				Chains []jsonChain `json:"chains"`
			}{[]jsonChain{}}
			for _, ch := range all {
				if tb == 0 || ch.Table == tb {
					js.Chains = append(js.Chains, chainJSON(ch))
				}
			}
			return &output{json: js, table: func(w io.Writer) {
				tw := newTable(w)
				fmt.Fprintln(tw, "TABLE\tCHAIN\tHOOK\tPOLICY\tRULES")
				for _, ch := range js.Chains {
					hook, policy := "-", "-"
					if ch.Hook != nil {
						hook, policy = ch.Hook.String(), ch.Policy.String()
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", ch.Table, ch.Name, hook, policy, ch.Rules)
				}
				tw.Flush()
			}}, nil
		},
	})
}

// parseSetType reads addr or port.
func parseSetType(s string) (nftypes.SetType, error) {
	switch s {
	case "addr":
		return nftypes.SetTypeAddr, nil
	case "port":
		return nftypes.SetTypePort, nil
	}
	return 0, usagef("unknown set type %q; want addr or port", s)
}

func validSetName(s string) error {
	if err := nftypes.ValidateName("set", s); err != nil {
		return usagef("invalid set name %q: %s", s, reason(err))
	}
	return nil
}

func (a *app) setAddCmd() *cobra.Command {
	var s nftypes.Set
	return a.leaf(leaf{
		use:   "add NAME addr|port [ELEMENT...]",
		short: "add a set, or elements to a set",
		long: `Add set NAME of type addr (IPv4 addresses, prefixes and first-last ranges)
or port (ports and ranges) with the elements given; if it exists with that
type, add the elements to it. Elements may be separated by blanks or
commas.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab set add blocked addr 192.0.2.1 10.0.0.0/8 198.51.100.1-198.51.100.9\n  nflab set add web port 80,443,8000-8100",
		args: func(args []string) error {
			if len(args) < 2 {
				return usagef("want NAME and a type, addr or port")
			}
			if err := validSetName(args[0]); err != nil {
				return err
			}
			typ, err := parseSetType(args[1])
			if err != nil {
				return err
			}
			if s, err = ruletext.ParseElems(typ, args[2:]); err != nil {
				return wordsError(err, 3)
			}
			s.Name = args[0]
			return nil
		},
		complete: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return fixedValues("addr", "port")(nil, nil, toComplete)
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		check: noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			old, err := c.Set(ctx, s.Name, false)
			exists := err == nil
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, failed("reading the set", err)
			}
			if exists && old.Type != s.Type {
				return nil, &opError{"adding to the set", fmt.Errorf("set %s holds %s elements, not %s", s.Name, old.Type, s.Type)}
			}
			err = inTx(ctx, c, func(tx *nflab.Tx) error {
				if !exists {
					return tx.AddSet(ctx, s)
				}
				if s.Len() == 0 {
					return nil
				}
				return tx.AddSetElems(ctx, s)
			})
			return nil, failed("adding the set", err)
		},
	})
}

func (a *app) setDeleteCmd() *cobra.Command {
	var name string
	return a.leaf(leaf{
		use:   "delete NAME",
		short: "delete a set no rule uses",
		long: `Delete set NAME, which no rule may use.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab set delete blocked",
		args: func(args []string) error {
			if len(args) != 1 {
				return usagef("want one NAME")
			}
			name = args[0]
			return validSetName(name)
		},
		check: noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			err := inTx(ctx, c, func(tx *nflab.Tx) error { return tx.DeleteSet(ctx, name) })
			if errors.Is(err, os.ErrNotExist) {
				return nil, &opError{"deleting the set", fmt.Errorf("no set %s", name)}
			}
			return nil, failed("deleting the set", err)
		},
	})
}

// jsonSet is the documented shape of a set.
type jsonSet struct {
	Name     string   `json:"name"`
	Type     enum     `json:"type"`
	Count    int      `json:"count"`
	Refs     int      `json:"refs"`
	Elements []string `json:"elements,omitempty"`
}

func setJSON(s nftypes.Set, elems bool) jsonSet {
	js := jsonSet{Name: s.Name, Type: enumOf(s.Type), Count: s.Count, Refs: s.Refs}
	if elems {
		js.Elements = []string{}
		for _, a := range s.Addrs {
			js.Elements = append(js.Elements, a.String())
		}
		for _, p := range s.Ports {
			js.Elements = append(js.Elements, p.String())
		}
	}
	return js
}

func (a *app) setListCmd() *cobra.Command {
	var (
		verbose bool
		name    string
	)
	return a.leaf(leaf{
		use:   "list [NAME] [-v]",
		short: "list the sets, or one, with -v their elements",
		long: `List every set, or set NAME, with the number of merged ranges it holds and
the number of rules that use it; with -v, its elements too (merged and
sorted, as the module keeps them).

Output:
  table: columns NAME, TYPE, COUNT, REFS; with -v, each set's elements
         follow its row, one a line, indented
  json:  one line, {"sets":[{"name":"blocked","type":"addr","count":N,
         "refs":N,"elements":["10.0.0.0/8",...]},...]}; "elements" only
         with -v`,
		example: "  nflab set list\n  nflab set list blocked -v -o json",
		flags: func(fs *pflag.FlagSet) {
			fs.VarPF(once((*boolValue)(&verbose)), "verbose", "v", "show the elements").NoOptDefVal = "true"
		},
		args: func(args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q: want at most one NAME", args[1])
			}
			if len(args) == 1 {
				name = args[0]
				return validSetName(name)
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			var sets []nftypes.Set
			if name != "" {
				s, err := c.Set(ctx, name, verbose)
				if errors.Is(err, os.ErrNotExist) {
					return nil, &opError{"listing the set", fmt.Errorf("no set %s", name)}
				}
				if err != nil {
					return nil, failed("listing the set", err)
				}
				sets = []nftypes.Set{s}
			} else {
				var err error
				if sets, err = c.Sets(ctx, verbose); err != nil {
					return nil, failed("listing the sets", err)
				}
			}
			js := struct {
				Sets []jsonSet `json:"sets"`
			}{[]jsonSet{}}
			for _, s := range sets {
				js.Sets = append(js.Sets, setJSON(s, verbose))
			}
			return &output{json: js, table: func(w io.Writer) {
				if !verbose {
					tw := newTable(w)
					fmt.Fprintln(tw, "NAME\tTYPE\tCOUNT\tREFS")
					for _, s := range js.Sets {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", s.Name, s.Type, s.Count, s.Refs)
					}
					tw.Flush()
					return
				}
				tw := newTable(w)
				fmt.Fprintln(tw, "NAME\tTYPE\tCOUNT\tREFS")
				for _, s := range js.Sets {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", s.Name, s.Type, s.Count, s.Refs)
					for _, e := range s.Elements {
						fmt.Fprintf(tw, "  %s\n", e)
					}
				}
				tw.Flush()
			}}, nil
		},
	})
}

// fileValue is -f: a file's path, or - for standard input.
type fileValue string

func (f *fileValue) String() string { return string(*f) }
func (f *fileValue) Type() string   { return "file" }
func (f *fileValue) Set(v string) error {
	if v == "" {
		return errors.New("want a file's path, or - for standard input")
	}
	*f = fileValue(v)
	return nil
}

// setTypeValue is --type: addr or port.
type setTypeValue nftypes.SetType

func (t *setTypeValue) String() string {
	if *t == 0 {
		return ""
	}
	return nftypes.SetType(*t).String()
}
func (t *setTypeValue) Type() string { return "addr|port" }
func (t *setTypeValue) Set(v string) error {
	typ, err := parseSetType(v)
	if err != nil {
		return errors.New("want addr or port")
	}
	*t = setTypeValue(typ)
	return nil
}

// openInput opens FILE, or standard input for "-"; name is what errors
// call it ("" for standard input).
func (a *app) openInput(file string) (r io.ReadCloser, name string, err error) {
	if file == "-" {
		return io.NopCloser(a.stdin), "", nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, "", err
	}
	return f, file, nil
}

func (a *app) setLoadCmd() *cobra.Command {
	var (
		name    string
		file    fileValue
		typFlag setTypeValue
		typ     nftypes.SetType
	)
	cmd := a.leaf(leaf{
		use:   "load NAME -f FILE|- [--type addr|port]",
		short: "replace a set's elements with those of a list file",
		long: `Replace the elements of set NAME with those of FILE (or standard input for
-), in one transaction: the rules using the set see the old elements or the
new, never a mix, and a mistake in the file changes nothing. The file holds
one element a line (an address, prefix or first-last range; for a port set,
a port or range), such as the CIDR lists of address registries and geoip
databases; blank lines and "#" comments are ignored. If the set does not
exist, --type creates it. Prints "loaded N elements into NAME".

Output:
  table: "loaded N elements into NAME"
  json:  one line, {"name":"NAME","loaded":N}`,
		example: "  nflab set load geo-cn -f cn.zone --type addr\n  nflab set load blocked -f -",
		flags: func(fs *pflag.FlagSet) {
			fs.VarP(once(&file), "file", "f", "the list to load, one element a line; - for standard input")
			fs.Var(once(&typFlag), "type", "create the set with this type if it does not exist: addr or port")
		},
		args: func(args []string) error {
			if len(args) != 1 {
				return usagef("want one NAME")
			}
			name = args[0]
			return validSetName(name)
		},
		check: func(cmd *cobra.Command) (err error) {
			if !changed(cmd, "file") {
				return usagef("missing --file (-f FILE, or -f - for standard input)")
			}
			typ = nftypes.SetType(typFlag)
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			old, err := c.Set(ctx, name, false)
			exists := err == nil
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, failed("reading the set", err)
			}
			switch {
			case !exists && typ == 0:
				return nil, &opError{"loading the set", fmt.Errorf("no set %s; give --type addr or --type port to create it", name)}
			case exists && typ != 0 && old.Type != typ:
				return nil, &opError{"loading the set", fmt.Errorf("set %s holds %s elements, not %s", name, old.Type, typ)}
			case exists:
				typ = old.Type
			}
			r, fname, err := a.openInput(string(file))
			if err != nil {
				return nil, failed("reading the list", err)
			}
			defer r.Close()
			s, err := ruletext.ReadElems(r, fname, typ)
			if err != nil {
				return nil, failed("", err)
			}
			s.Name = name
			err = inTx(ctx, c, func(tx *nflab.Tx) error {
				if !exists {
					return tx.AddSet(ctx, s)
				}
				if err := tx.FlushSet(ctx, name); err != nil {
					return err
				}
				if s.Len() == 0 {
					return nil
				}
				return tx.AddSetElems(ctx, s)
			})
			if err != nil {
				return nil, failed("loading the set", err)
			}
			n := s.Len()
			return &output{
				json: struct {
					Name   string `json:"name"`
					Loaded int    `json:"loaded"`
				}{name, n},
				table: func(w io.Writer) { fmt.Fprintf(w, "loaded %d elements into %s\n", n, name) },
			}, nil
		},
	})
	must(cmd.RegisterFlagCompletionFunc("type", fixedValues("addr", "port")))
	return cmd
}

// jsonRuleset is the documented shape of "nflab rules save -o json".
type jsonRuleset struct {
	Gen    uint32      `json:"gen"`
	Sets   []jsonSet   `json:"sets"`
	Chains []jsonChain `json:"chains"`
	Rules  []jsonRule  `json:"rules"`
}

func (a *app) rulesSaveCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "save",
		short: "print the whole ruleset as text that 'rules apply' loads back",
		long: `Print the whole ruleset in the text format: the sets with their elements,
the user chains and the built-in chains whose policy is drop, then every
rule. Counters and handles are left out, so the same ruleset always saves
to the same text, and 'nflab rules apply -f' loads it back unchanged.

Output:
  table: the text format (see the README's "Rules" section)
  json:  one line, {"gen":N,"sets":[SET,...],"chains":[CHAIN,...],
         "rules":[RULE,...]}, with SET, CHAIN and RULE as 'nflab set list
         -v', 'nflab chain list' and 'nflab rule list' print them`,
		example: "  nflab rules save\n  nflab rules save -o json",
		run: func(cmd *cobra.Command, c client) (*output, error) {
			rs, err := c.Ruleset(cmd.Context())
			if err != nil {
				return nil, failed("reading the ruleset", err)
			}
			js := jsonRuleset{Gen: rs.Gen, Sets: []jsonSet{}, Chains: []jsonChain{}, Rules: []jsonRule{}}
			for _, s := range rs.Sets {
				js.Sets = append(js.Sets, setJSON(s, true))
			}
			for _, ch := range rs.Chains {
				js.Chains = append(js.Chains, chainJSON(ch))
			}
			for _, r := range rs.Rules {
				js.Rules = append(js.Rules, ruleJSON(r))
			}
			if a.output == "json" {
				// The text is for the table output only: what it
				// cannot write, the JSON still shows.
				return &output{json: js}, nil
			}
			var text strings.Builder
			if err := ruletext.Format(&text, rs); err != nil {
				return nil, failed("writing the ruleset", err)
			}
			return &output{json: js, table: func(w io.Writer) { io.WriteString(w, text.String()) }}, nil
		},
	})
}

func (a *app) rulesApplyCmd() *cobra.Command {
	var (
		file  fileValue
		check bool
	)
	return a.leaf(leaf{
		use:   "apply -f FILE|- [--check]",
		short: "replace the whole ruleset with a file's, atomically",
		long: `Replace the whole ruleset (sets, chains, policies and rules) with the one
FILE (or standard input, for -) holds, in the text format 'nflab rules
save' prints, in one transaction: packets see the old ruleset or the new
one, never a mix, and any mistake changes nothing. Built-in chains the
file gives no policy accept. Errors name the file's line: the parser's
with the column and word at fault, the module's with the line of the
rule, set or chain it rejected. With --check, everything is checked,
the module's checks included, and nothing changes.

Output:
  table: "applied FILE: N sets, N chains, N rules" (or "checked FILE: ...")
  json:  one line, {"gen":N,"checked":BOOL,"sets":N,"chains":N,"rules":N};
         gen is the new generation (the current one with --check)`,
		example: "  nflab rules apply -f rules.nft\n  nflab rules apply --check -f rules.nft\n  nflab rules apply -f -",
		flags: func(fs *pflag.FlagSet) {
			fs.VarP(once(&file), "file", "f", "the ruleset to apply; - for standard input")
			boolFlag(fs, &check, "check", "check the ruleset, with the module's checks, without applying it")
		},
		check: func(cmd *cobra.Command) error {
			if !changed(cmd, "file") {
				return usagef("missing --file (-f FILE, or -f - for standard input)")
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			r, fname, err := a.openInput(string(file))
			if err != nil {
				return nil, failed("reading the ruleset", err)
			}
			defer r.Close()
			f, err := ruletext.ParseFile(r, fname)
			if err != nil {
				return nil, failed("", err)
			}
			gen, err := c.ApplyRuleset(cmd.Context(), f.Ruleset, &nflab.ApplyOptions{Check: check})
			if err != nil {
				return nil, applyError(f, busyHint(err))
			}
			user := 0
			for _, ch := range f.Ruleset.Chains {
				if !ch.Builtin() {
					user++
				}
			}
			verb, shown := "applied", fname
			if check {
				verb = "checked"
			}
			if shown == "" {
				shown = "<stdin>"
			}
			rs := f.Ruleset
			return &output{
				json: struct {
					Gen     uint32 `json:"gen"`
					Checked bool   `json:"checked"`
					Sets    int    `json:"sets"`
					Chains  int    `json:"chains"`
					Rules   int    `json:"rules"`
				}{gen, check, len(rs.Sets), user, len(rs.Rules)},
				table: func(w io.Writer) {
					fmt.Fprintf(w, "%s %s: %d sets, %d chains, %d rules\n", verb, shown, len(rs.Sets), user, len(rs.Rules))
				},
			}, nil
		},
	})
}

// posError is a failure of the module about what a file's line holds:
// where is "FILE:LINE", or what the change was about when no line gave
// it (a built-in chain's policy).
type posError struct {
	where string
	err   error
}

func (e *posError) Error() string {
	return "nflab: " + e.where + ": " + strings.TrimPrefix(e.err.Error(), "nflab: ")
}

func (e *posError) Unwrap() error { return e.err }

// commitRule finds the rule the module's commit check names: "rule N
// (handle H) in TABLE/CHAIN: ...", rules counted from 1 in their chain.
var commitRule = regexp.MustCompile(`rule (\d+) \(handle \d+\) in ([a-z]+)/([A-Za-z0-9_.-]+):`)

// applyError points the module's error at the line it is about.
func applyError(f *ruletext.File, err error) error {
	var ce *nflab.ChangeError
	if errors.As(err, &ce) {
		var p ruletext.Pos
		switch ce.Kind {
		case nflab.ChangeRules:
			if ce.Index < len(f.RulePos) {
				p = f.RulePos[ce.Index]
			}
		case nflab.ChangeSets:
			if ce.Index < len(f.SetPos) {
				p = f.SetPos[ce.Index]
			}
		case nflab.ChangeChains:
			if ce.Index < len(f.ChainPos) {
				p = f.ChainPos[ce.Index]
			}
		}
		if p.Line > 0 {
			return &posError{p.String(), ce.Err}
		}
		return &posError{strings.TrimSuffix(string(ce.Kind), "s") + " " + ce.Name, ce.Err}
	}
	var oe *nflab.OpError
	if errors.As(err, &oe) {
		if m := commitRule.FindStringSubmatch(oe.Message); m != nil {
			n, _ := strconv.Atoi(m[1])
			for i, r := range f.Ruleset.Rules {
				if r.Table.String() == m[2] && r.Chain == m[3] {
					if n--; n == 0 {
						return &posError{f.RulePos[i].String(), err}
					}
				}
			}
		}
	}
	return failed("applying the ruleset", err)
}

func (a *app) rulesFlushCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "flush",
		short: "delete every rule, user chain and set; every policy accepts",
		long: `Empty the ruleset in one transaction: every rule, user chain and set goes,
and every built-in chain accepts.

Output:
  table: nothing
  json:  nothing (-o is refused: there is nothing to print)`,
		example: "  nflab rules flush",
		check:   noOutput,
		run: func(cmd *cobra.Command, c client) (*output, error) {
			_, err := c.ApplyRuleset(cmd.Context(), nftypes.Ruleset{}, nil)
			return nil, failed("flushing the ruleset", busyHint(err))
		},
	})
}
