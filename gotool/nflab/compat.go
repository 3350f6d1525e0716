package nflab

import (
	"errors"
	"fmt"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// natProtocol is the protocol version that brought NAT (nflab.h): the nat
// table, the NAT actions with their attributes, and the SRC_NAT and
// DST_NAT status bits. An older module has a command for every request
// that carries them, and rejects them only through its netlink policy,
// with bare words such as "integer out of range" or "reserved bit set";
// so the client refuses them itself, as it refuses a missing command.
const natProtocol = 4

// natStatus are the status bits of protocol natProtocol.
const natStatus = nftypes.StatusSrcNAT | nftypes.StatusDstNAT

// errNoNAT is the error of op, which would send what, to a module
// speaking protocol proto, older than natProtocol.
func errNoNAT(op string, proto uint32, what string) error {
	return &OpError{Op: op, Err: errors.ErrUnsupported,
		Message: fmt.Sprintf("%s needs NAT, protocol %d; the module speaks protocol %d", what, natProtocol, proto)}
}

// filterNAT is what of f needs NAT, or "".
func filterNAT(f nftypes.ConnFilter) string {
	if f.Status&natStatus != 0 {
		return "status " + (f.Status & natStatus).String()
	}
	return ""
}

// tableNAT is what of table t needs NAT, or "".
func tableNAT(t nftypes.Table) string {
	if t == nftypes.TableNAT {
		return "the nat table"
	}
	return ""
}

// ruleNAT is what of r needs NAT, or "".
func ruleNAT(r nftypes.Rule) string {
	switch {
	case r.Table == nftypes.TableNAT:
		return "the nat table"
	case r.Action.Type.IsNAT():
		return "the " + r.Action.Type.String() + " action"
	}
	for _, m := range r.Matches {
		if m.Kind == nftypes.MatchCTStatus && m.CTStatus&natStatus != 0 {
			return "ct status " + (m.CTStatus & natStatus).String()
		}
	}
	return ""
}

// acceptingNAT reports whether ch is a built-in chain of the nat table that
// accepts: what a module without NAT has in effect, and what every ruleset
// read from text lists.
func acceptingNAT(ch nftypes.Chain) bool {
	return ch.Table == nftypes.TableNAT && ch.Builtin() &&
		(ch.Policy == 0 || ch.Policy == nftypes.VerdictAccept)
}

// withoutNAT returns rs for a module speaking protocol proto, older than
// natProtocol: its nat built-in chains that accept left out (ApplyRuleset
// maps the chains' indices back with keep), or the *ChangeError of the
// first chain or rule that needs NAT.
func withoutNAT(rs nftypes.Ruleset, proto uint32) (out nftypes.Ruleset, keep []int, err error) {
	out = rs
	out.Chains = nil
	for i, ch := range rs.Chains {
		switch {
		case acceptingNAT(ch):
			continue
		case ch.Table == nftypes.TableNAT:
			op := "add chain"
			if ch.Builtin() {
				op = "set policy"
			}
			return nftypes.Ruleset{}, nil, &ChangeError{Kind: ChangeChains, Index: i, Name: chainName(ch.Table, ch.Name),
				Err: errNoNAT(op, proto, "the nat table")}
		}
		out.Chains = append(out.Chains, ch)
		keep = append(keep, i)
	}
	for i, r := range rs.Rules {
		if what := ruleNAT(r); what != "" {
			return nftypes.Ruleset{}, nil, &ChangeError{Kind: ChangeRules, Index: i, Name: chainName(r.Table, r.Chain),
				Err: errNoNAT("add rule", proto, what)}
		}
	}
	return out, keep, nil
}

// chainName is how a ChangeError names a chain: "filter/forward".
func chainName(t nftypes.Table, name string) string { return t.String() + "/" + name }

// traceProtocol is the protocol version that brought packet traces
// (nflab.h): the TRACE_* commands, the "trace" multicast group and the
// hook counters' drops by cause. An older module lacks the commands; the
// client refuses them itself, before sending anything, with words that
// say why.
const traceProtocol = 6

// checkTraces fails op, which needs packet traces, on a module older than
// traceProtocol.
func (c *Client) checkTraces(op string) error {
	if c.proto >= traceProtocol {
		return nil
	}
	return &OpError{Op: op, Err: errors.ErrUnsupported,
		Message: fmt.Sprintf("the loaded module is too old for packet traces: they need protocol %d, it speaks protocol %d", traceProtocol, c.proto)}
}

// historyProtocol is the protocol version that brought connection
// histories (nflab.h's NFLAB_CT_A_HISTORY), with packet traces.
const historyProtocol = traceProtocol

// KeepsConnHistory reports whether the module records connections'
// histories (protocol 6 or newer), so that an empty Conn.History from
// Conn means that no traced packet changed the connection, or that no
// trace runs; from an older module it is always empty. It sends nothing.
func (c *Client) KeepsConnHistory() bool { return c.proto >= historyProtocol }
