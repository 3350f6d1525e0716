package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

var cmdStats = &command{
	name:  "stats",
	short: "show the packet and byte counters of each hook, or reset them",
	usage: `Usage: nflab stats [-o table|json] [--reset]

Show what nflab counted at each of the five IPv4 hooks since the module was
loaded or the counters were last reset, in hook order.

Flags:
  -o FORMAT   table (the default): columns HOOK, PACKETS, BYTES
              json: one line, {"hooks":[{"hook":"PRE_ROUTING","packets":N,"bytes":N},...]}
  --reset     set the counters back to zero instead; prints nothing on
              success. Needs CAP_NET_ADMIN.
`,
	run: runStats,
}

func runStats(a *app, cmd *command, args []string) int {
	fs := newFlagSet("stats")
	out := formatFlag(fs)
	reset := fs.Bool("reset", false, "")
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}
	if *reset && isSet(fs, "o") {
		return a.usageError("stats", "-o cannot be combined with --reset, which prints nothing")
	}

	return a.withClient(func(c client) int {
		if *reset {
			if err := c.ResetHookStats(context.Background()); err != nil {
				return a.fail("resetting the hook counters", err)
			}
			return exitOK
		}
		stats, err := c.HookStats(context.Background())
		if err != nil {
			return a.fail("reading the hook counters", err)
		}
		if *out == "json" {
			writeJSON(a.stdout, statsJSON(stats))
			return exitOK
		}
		writeStatsTable(a.stdout, stats)
		return exitOK
	})
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// jsonStats is the documented "nflab stats -o json" shape; scripts depend
// on it, so it is spelled out here rather than derived from library types.
type jsonStats struct {
	Hooks []jsonHook `json:"hooks"`
}

type jsonHook struct {
	Hook    nftypes.Hook `json:"hook"`
	Packets uint64       `json:"packets"`
	Bytes   uint64       `json:"bytes"`
}

func statsJSON(stats []nftypes.HookStat) jsonStats {
	js := jsonStats{Hooks: make([]jsonHook, 0, len(stats))}
	for _, s := range stats {
		js.Hooks = append(js.Hooks, jsonHook{Hook: s.Hook, Packets: s.Packets, Bytes: s.Bytes})
	}
	return js
}

func writeStatsTable(w io.Writer, stats []nftypes.HookStat) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HOOK\tPACKETS\tBYTES")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", s.Hook, s.Packets, s.Bytes)
	}
	tw.Flush()
}

var cmdVersion = &command{
	name:  "version",
	short: "show the client, module and protocol versions",
	usage: `Usage: nflab version [-o table|json]

Show the version of this command, of the running module and of the
protocol the module speaks. If the module speaks another protocol than
this command, the versions are still shown and the exit status is 1.

Flags:
  -o FORMAT   table (the default): lines "client:", "module:", "protocol:"
              json: one line, {"client":"X","module":"Y","protocol":N}
`,
	run: runVersion,
}

type jsonVersion struct {
	Client   string `json:"client"`
	Module   string `json:"module"`
	Protocol uint32 `json:"protocol"`
}

func runVersion(a *app, cmd *command, args []string) int {
	fs := newFlagSet("version")
	out := formatFlag(fs)
	if done, status := a.parseCommand(cmd, fs, args); done {
		return status
	}

	var (
		v         nftypes.Version
		mismatch  *nflab.ProtocolError
		c, err    = a.dial()
		printOnly = errors.As(err, &mismatch)
	)
	switch {
	case printOnly:
		v = mismatch.Module
	case err != nil:
		return a.fail("connecting to the module", err)
	default:
		defer c.Close()
		if v, err = c.Version(context.Background()); err != nil {
			return a.fail("reading the module version", err)
		}
	}

	if *out == "json" {
		writeJSON(a.stdout, jsonVersion{Client: version, Module: v.Module, Protocol: v.Protocol})
	} else {
		fmt.Fprintf(a.stdout, "client:   %s\nmodule:   %s\nprotocol: %d\n", version, v.Module, v.Protocol)
	}
	if printOnly {
		return a.fail("checking the protocol version", mismatch)
	}
	return exitOK
}

var cmdHelp = &command{
	name:  "help",
	short: "show this help, or a command's",
	usage: `Usage: nflab help [command [subcommand]]

Show the list of commands, or the flags of one command, such as
'nflab help stats' or 'nflab help ct list'.
`,
	run: runHelp,
}

func runHelp(a *app, cmd *command, args []string) int {
	fs := newFlagSet("help")
	pos, err := parseFlags(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(a.stdout, cmd.usage)
		return exitOK
	case err != nil:
		return a.usageError("help", "%v", err)
	case len(pos) == 0:
		fmt.Fprint(a.stdout, a.usage())
		return exitOK
	}
	c := lookup(pos[0])
	if c == nil {
		return a.usageError("", "unknown command %q", pos[0])
	}
	if len(pos) > 1 && c.subs != nil {
		sub := lookupSub(c, pos[1])
		if sub == nil {
			return a.usageError(c.name, "unknown subcommand %q", pos[1])
		}
		c, pos = sub, pos[1:]
	}
	if len(pos) > 1 {
		return a.usageError("help", "unexpected argument %q", pos[1])
	}
	fmt.Fprint(a.stdout, c.usage)
	return exitOK
}

// lookupSub finds c's subcommand called name.
func lookupSub(c *command, name string) *command {
	for _, s := range c.subs {
		if s.name == c.name+" "+name {
			return s
		}
	}
	return nil
}
