package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// version is the version of this command: the module's of the same
// checkout, from nflab.h.
const version = nlproto.MODULE_VERSION

func (a *app) statsCmd() *cobra.Command {
	var reset, verbose bool
	return a.leaf(leaf{
		use:   "stats [--reset] [-v] [flags]",
		short: "show the packet and byte counters of each hook, or reset them",
		long: `Show what nflab counted at each of the five IPv4 hooks since the module was
loaded or the counters were last reset, in hook order. With -v, also the
packets nflab dropped there by cause (a module of protocol 6 or newer
counts them, traced or not): drop_rule (by a rule or chain policy),
drop_invalid (of those, packets the tracker called INVALID), drop_full (by
the tracker, its table full), drop_nat (by NAT: no free tuple, a clash, an
entry lost), and unseen_after, at PRE_ROUTING, FORWARD and LOCAL_OUT only:
packets nflab let go there that it did not see at the next hook (dropped
by another hook, by routing, rp_filter or TTL expiry, or still queued; a
difference of counters, approximate where clones and multicast copies add
packets). 'nflab trace' says which packets, and why.

Output:
  table: columns HOOK, PACKETS, BYTES; with -v, also DROP_RULE,
         DROP_INVALID, DROP_FULL, DROP_NAT and UNSEEN_AFTER ("-" where the
         module does not count them)
  json:  one line, {"hooks":[{"hook":"PRE_ROUTING","packets":N,"bytes":N,
         "drop_rule":N,"drop_invalid":N,"drop_full":N,"drop_nat":N,
         "unseen_after":N},...]}, with or without -v; the drop counters
         are left out where the module does not count them`,
		flags: func(fs *pflag.FlagSet) {
			boolFlag(fs, &reset, "reset", "set the counters back to zero instead; prints nothing. Needs CAP_NET_ADMIN")
			f := fs.VarPF(once((*boolValue)(&verbose)), "verbose", "v", "show the drops by cause too")
			f.NoOptDefVal = "true"
		},
		check: func(cmd *cobra.Command) error {
			if reset && changed(cmd, "output") {
				return usagef("--output cannot be combined with --reset, which prints nothing")
			}
			if reset && verbose {
				return usagef("--verbose cannot be combined with --reset, which prints nothing")
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) {
			ctx := cmd.Context()
			if reset {
				return nil, failed("resetting the hook counters", c.ResetHookStats(ctx))
			}
			stats, err := c.HookStats(ctx)
			if err != nil {
				return nil, failed("reading the hook counters", err)
			}
			out := statsOutput(stats)
			if verbose {
				out.table = func(w io.Writer) { writeDropsTable(w, stats) }
			}
			return out, nil
		},
	})
}

// jsonStats is the documented "nflab stats -o json" shape; scripts depend
// on it, so it is spelled out here rather than derived from library types.
type jsonStats struct {
	Hooks []jsonHook `json:"hooks"`
}

// jsonHook's drop counters are named as nflab.h's NFLAB_HOOK_A_* in lower
// case (a test checks), and left out where the module does not count
// them.
type jsonHook struct {
	Hook        enum    `json:"hook"`
	Packets     uint64  `json:"packets"`
	Bytes       uint64  `json:"bytes"`
	DropRule    *uint64 `json:"drop_rule,omitempty"`
	DropInvalid *uint64 `json:"drop_invalid,omitempty"`
	DropFull    *uint64 `json:"drop_full,omitempty"`
	DropNAT     *uint64 `json:"drop_nat,omitempty"`
	UnseenAfter *uint64 `json:"unseen_after,omitempty"`
}

func hookJSON(s nftypes.HookStat) jsonHook {
	jh := jsonHook{Hook: enumOf(s.Hook), Packets: s.Packets, Bytes: s.Bytes}
	if d := s.Drops; d != nil {
		jh.DropRule, jh.DropInvalid, jh.DropFull, jh.DropNAT = &d.Rule, &d.Invalid, &d.Full, &d.NAT
		if s.Hook.HasUnseenAfter() {
			jh.UnseenAfter = &d.UnseenAfter
		}
	}
	return jh
}

func statsOutput(stats []nftypes.HookStat) *output {
	js := jsonStats{Hooks: make([]jsonHook, 0, len(stats))}
	for _, s := range stats {
		js.Hooks = append(js.Hooks, hookJSON(s))
	}
	return &output{json: js, table: func(w io.Writer) { writeStatsTable(w, stats) }}
}

// writeDropsTable is the table of "nflab stats -v": the counters and the
// drops by cause, "-" where the module does not count them.
func writeDropsTable(w io.Writer, stats []nftypes.HookStat) {
	tw := newTable(w)
	fmt.Fprintln(tw, "HOOK\tPACKETS\tBYTES\tDROP_RULE\tDROP_INVALID\tDROP_FULL\tDROP_NAT\tUNSEEN_AFTER")
	for _, s := range stats {
		jh := hookJSON(s)
		fmt.Fprintf(tw, "%s\t%d\t%d", jh.Hook, s.Packets, s.Bytes)
		for _, v := range []*uint64{jh.DropRule, jh.DropInvalid, jh.DropFull, jh.DropNAT, jh.UnseenAfter} {
			if v == nil {
				fmt.Fprint(tw, "\t-")
			} else {
				fmt.Fprintf(tw, "\t%d", *v)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func writeStatsTable(w io.Writer, stats []nftypes.HookStat) {
	tw := newTable(w)
	fmt.Fprintln(tw, "HOOK\tPACKETS\tBYTES")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", enumOf(s.Hook), s.Packets, s.Bytes)
	}
	tw.Flush()
}

// runStatus is bare "nflab": the versions, then the counters.
func runStatus(ctx context.Context, c client) (*output, error) {
	v, err := c.Version(ctx)
	if err != nil {
		return nil, failed("reading the module version", err)
	}
	stats, err := c.HookStats(ctx)
	if err != nil {
		return nil, failed("reading the hook counters", err)
	}
	so := statsOutput(stats)
	return &output{
		json: struct {
			jsonVersion
			jsonStats
		}{jsonVersion{Client: version, Module: v.Module, Protocol: &v.Protocol}, so.json.(jsonStats)},
		table: func(w io.Writer) {
			fmt.Fprintf(w, "module %s, protocol %d\n\n", v.Module, v.Protocol)
			so.table(w)
		},
	}, nil
}

// jsonVersion is the documented "nflab version -o json" shape; module and
// protocol are left out when the module is not loaded.
type jsonVersion struct {
	Client   string  `json:"client"`
	Module   string  `json:"module,omitempty"`
	Protocol *uint32 `json:"protocol,omitempty"`
}

func (a *app) versionCmd() *cobra.Command {
	return a.leaf(leaf{
		use:   "version",
		short: "show the client, module and protocol versions",
		long: `Show the version of this command, of the running module and of the
protocol the module speaks. Without the module, only this command's
version is shown, with "module: not loaded", and the exit status is 0. If
the module speaks a protocol this command does not, the versions are
still shown and the exit status is 1.

Output:
  table: lines "client:", "module:", "protocol:"
  json:  one line, {"client":"X","module":"Y","protocol":N}; without the
         module, {"client":"X"}`,
		noDial: true,
		run: func(cmd *cobra.Command, _ client) (*output, error) {
			return a.runVersion(cmd.Context())
		},
	})
}

func (a *app) runVersion(ctx context.Context) (*output, error) {
	var (
		v        nftypes.Version
		mismatch *nflab.ProtocolError
		c, err   = a.connect()
	)
	js := jsonVersion{Client: version}
	table := func(w io.Writer) {
		fmt.Fprintf(w, "client:   %s\n", version)
		if js.Protocol == nil {
			fmt.Fprintf(w, "module:   not loaded\n")
			return
		}
		fmt.Fprintf(w, "module:   %s\nprotocol: %d\n", js.Module, *js.Protocol)
	}
	switch {
	case errors.Is(err, nflab.ErrNotLoaded):
		return &output{json: js, table: table}, nil
	case errors.As(err, &mismatch):
		v = mismatch.Module
		js.Module, js.Protocol = v.Module, &v.Protocol
		if err := a.print(&output{json: js, table: table}); err != nil {
			return nil, err
		}
		return nil, failed("checking the protocol version", mismatch)
	case err != nil:
		return nil, err
	}
	defer c.Close()
	if v, err = c.Version(ctx); err != nil {
		return nil, failed("reading the module version", err)
	}
	js.Module, js.Protocol = v.Module, &v.Protocol
	return &output{json: js, table: table}, nil
}
