package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/nflab/nflab/gotool/nflab"
)

// The command framework: commands are declared as leaves (use, help,
// flags, a check of the flags and a run function that gets a connected
// client and returns what to print); the framework parses, dials, maps
// errors to messages and exit statuses, and prints in the -o format.
// Adding a command is declaring a leaf.

func init() {
	// Commands are listed in the order they are declared, most used
	// first, rather than alphabetically.
	cobra.EnableCommandSorting = false
}

// app is one run of nflab: where it writes, and how it reaches the module.
type app struct {
	stdin  io.Reader  // what "-f -" reads
	stdout *recWriter // records the first write error, reported at exit
	stderr io.Writer
	dial   func(*nflab.DialOptions) (client, error)
	hint   func() string // what to do when the module is not loaded
	// The clock and time zone of the trace's lines; nil for time.Now
	// and time.Local (tests fix them).
	clock func() time.Time
	loc   *time.Location

	// The flags every command has.
	output outputFormat // -o
	netns  stringValue  // -n
}

// recWriter remembers the first error its writer returned, so that a
// failed write anywhere (help included) ends in exit status 1.
type recWriter struct {
	w   io.Writer
	err error
}

func (r *recWriter) Write(b []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	r.err = err
	return n, err
}

// run runs the command line args and returns the exit status.
func (a *app) run(ctx context.Context, args []string) int {
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	args, err := conntrackArgs(args)
	if err != nil {
		return a.report("nflab", err)
	}
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	path := "nflab"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if err == nil && a.stdout.err != nil {
		err = &opError{"writing output", a.stdout.err}
	}
	return a.report(path, err)
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct {
	msg  string
	path string // the command it is about, if not the one that ran
}

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// opError is a failed operation: exit status 1, "nflab: <what>: <why>".
type opError struct {
	what string // the step that failed, such as "listing connections"
	err  error
}

func (e *opError) Error() string {
	if e.what == "" {
		return e.err.Error()
	}
	return e.what + ": " + e.err.Error()
}
func (e *opError) Unwrap() error { return e.err }

// failed wraps err from the step what; errors already wrapped are kept.
func failed(what string, err error) error {
	if err == nil {
		return nil
	}
	var oe *opError
	if errors.As(err, &oe) {
		return err
	}
	return &opError{what, err}
}

// report writes err, if any, on stderr, and returns the exit status: 2
// for a usage error, 1 for any other.
func (a *app) report(path string, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		if ue.path != "" {
			path = ue.path
		}
		help := "nflab help"
		if path != "nflab" {
			help = "nflab help " + strings.TrimPrefix(path, "nflab ")
		}
		fmt.Fprintf(a.stderr, "%s: %s; run '%s'\n", path, ue.msg, help)
		return exitUsage
	}
	fmt.Fprintln(a.stderr, a.failureMessage(err))
	return exitFailure
}

// leaf declares a command that runs.
type leaf struct {
	use, short, long string
	example          string

	// flags declares the command's own flags (-o is everyone's).
	flags func(fs *pflag.FlagSet)
	// check validates the flags together before anything is dialled; its
	// errors are usage errors.
	check func(cmd *cobra.Command) error
	// run does the work with a connected client and returns what to
	// print, or nil to print nothing. Its errors are failures; wrap them
	// with failed to say which step failed.
	run func(cmd *cobra.Command, c client) (*output, error)
	// noDial runs without a client: run gets nil.
	noDial bool
	// args takes the positional arguments, for the commands that have
	// them; its errors are usage errors. Without it, there must be none.
	args func(args []string) error
	// complete completes the positional arguments; without it, nothing
	// is offered.
	complete cobra.CompletionFunc
}

func (a *app) leaf(l leaf) *cobra.Command {
	cmd := &cobra.Command{
		Use:     l.use,
		Short:   l.short,
		Long:    l.long,
		Example: l.example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if l.args != nil {
				if err := l.args(args); err != nil {
					return err
				}
			}
			if l.check != nil {
				if err := l.check(cmd); err != nil {
					return err
				}
			}
			var c client
			if !l.noDial {
				var err error
				if c, err = a.connect(); err != nil {
					return err
				}
				defer c.Close()
			}
			out, err := l.run(cmd, c)
			if err != nil {
				return err
			}
			return a.print(out)
		},
	}
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	if l.args != nil {
		cmd.Args = cobra.ArbitraryArgs
	}
	if l.complete != nil {
		cmd.ValidArgsFunction = l.complete
	}
	cmd.Flags().SortFlags = false // in the order declared: -p, -s, -d, --sport, ...
	if l.flags != nil {
		l.flags(cmd.Flags())
	}
	return cmd
}

// group declares a command that only holds subcommands.
func (a *app) group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  unknownSubcommand,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.AddCommand(subs...)
	return cmd
}

// noArgs rejects positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// unknownSubcommand is the Args of a command with subcommands: any
// argument left is a subcommand that does not exist.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	what := "subcommand"
	if !cmd.HasParent() {
		what = "command"
	}
	msg := fmt.Sprintf("unknown %s %q", what, args[0])
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{msg: msg}
}

// flagError turns pflag's parse errors into usage errors that name the
// flag by its long name.
func flagError(_ *cobra.Command, err error) error {
	var (
		iv *pflag.InvalidValueError
		vr *pflag.ValueRequiredError
	)
	switch {
	case errors.As(err, &iv) && errors.Is(err, errRepeated):
		return usagef("%s given twice; it takes one value", flagName(iv.GetFlag()))
	case errors.As(err, &iv):
		return usagef("invalid value %q for %s: %v", iv.GetValue(), flagName(iv.GetFlag()), iv.Unwrap())
	case errors.As(err, &vr):
		return usagef("%s needs a value", flagName(vr.GetFlag()))
	}
	return &usageError{msg: err.Error()}
}

// flagName is how errors name a flag: --long.
func flagName(f *pflag.Flag) string { return "--" + f.Name }

// rootCmd declares the whole command tree.
func (a *app) rootCmd() *cobra.Command {
	root := a.leaf(leaf{
		use:   "nflab",
		short: "show and change what the nflab kernel module does",
		long: `Without a command, nflab shows the module's version and the packet and
byte counters of its five IPv4 hooks (as 'nflab version' and 'nflab stats').

The conntrack(8) commands work at the top level too: -L, -G, -D, -F, -E,
-C and -S are 'nflab ct list', 'get', 'delete', 'flush', 'events', 'count'
and 'stats', with the same flags ('nflab -L -p tcp' is 'nflab ct list -p tcp').

Everything is of the network namespace nflab runs in, or of the one -n
names ('nflab -n NS ...' is 'ip netns exec NS nflab ...').

Output (without a command):
  table: "module V, protocol N", then the table of 'nflab stats'
  json:  one line, {"client":"X","module":"Y","protocol":N,"hooks":[...]},
         the fields of 'nflab version -o json' and 'nflab stats -o json'

Exit status: 0 success, 1 failure, 2 usage error.`,
		example: "  nflab -o json\n  nflab -L -p tcp --state ESTABLISHED\n  nflab -E -o json",
		check: func(cmd *cobra.Command) error {
			// conntrackArgs rewrites -L and --dump; only --dump=VALUE
			// reaches here.
			for _, c := range conntrackCommands {
				if changed(cmd, c.long) {
					return usagef("--%s takes no value", c.long)
				}
			}
			return nil
		},
		run: func(cmd *cobra.Command, c client) (*output, error) { return runStatus(cmd.Context(), c) },
	})
	root.Args = unknownSubcommand
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetGlobalNormalizationFunc(conntrackFlagNames)
	root.CompletionOptions.DisableDefaultCmd = true

	a.output = "table"
	root.PersistentFlags().VarP(once(&a.output), "output", "o", "output format: table or json")
	must(root.RegisterFlagCompletionFunc("output", fixedValues("table", "json")))
	root.PersistentFlags().VarP(once(&a.netns), "netns", "n",
		"talk to the module in this network namespace: a name of 'ip netns' or a path such as /proc/PID/ns/net")
	must(root.RegisterFlagCompletionFunc("netns", completeNetns))
	for _, c := range conntrackCommands {
		// Declared for the help and completion only: conntrackArgs
		// rewrites them into the ct subcommands before cobra parses.
		root.Flags().BoolP(c.long, c.short, false, fmt.Sprintf("same as 'nflab ct %s' (conntrack -%s)", c.sub, c.short))
	}

	root.AddCommand(
		a.statsCmd(),
		a.ctCmd(),
		a.traceCmd(),
		a.ruleCmd(),
		a.chainCmd(),
		a.setCmd(),
		a.rulesCmd(),
		a.versionCmd(),
		a.completionCmd(),
		a.genReadmeCmd(),
	)
	root.SetHelpCommand(a.helpCmd())
	root.InitDefaultHelpCmd()
	return root
}

// helpCmd replaces cobra's, which shows the top-level help for an unknown
// topic and exits 0.
func (a *app) helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command [subcommand]]",
		Short: "show the help of nflab or of a command",
		Long:  "Show the list of commands, or a command's help: the same as 'nflab COMMAND --help'.",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil {
				return &usageError{msg: err.Error()}
			}
			if len(rest) > 0 {
				err := noArgs(target, rest)
				if target.HasSubCommands() {
					err = unknownSubcommand(target, rest)
				}
				err.(*usageError).path = target.CommandPath()
				return err
			}
			target.InitDefaultHelpFlag() // so that its help lists --help
			return target.Help()
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
	}
}

// conntrackCommands are conntrack(8)'s commands that nflab knows, as
// aliases of the ct subcommands.
var conntrackCommands = []struct{ short, long, sub string }{
	{"L", "dump", "list"},
	{"G", "get", "get"},
	{"D", "delete", "delete"},
	{"F", "flush", "flush"},
	{"E", "event", "events"},
	{"C", "count", "count"},
	{"S", "stats", "stats"},
}

// conntrackArgs rewrites a command line that starts with flags and holds
// one of conntrack's commands (-L, --dump, ...) into the ct subcommand:
// "-p tcp -L" becomes "ct list -p tcp". As with conntrack's getopt, the
// command may lead a group of short flags: "-Lptcp" is "-L -ptcp". A
// request for completions (cobra's hidden __complete) is rewritten the
// same way.
func conntrackArgs(args []string) ([]string, error) {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		rest, err := conntrackArgs(args[1:])
		if err != nil {
			return args, nil // let the completion show nothing special
		}
		return append([]string{args[0]}, rest...), nil
	}
	if len(args) == 0 || !strings.HasPrefix(args[0], "-") {
		return args, nil
	}
	found, given, sub, rest := -1, "", "", ""
	for i, arg := range args {
		if arg == "--" {
			break
		}
		name, more := arg, ""
		if len(arg) > 2 && arg[0] == '-' && arg[1] != '-' {
			name, more = arg[:2], "-"+arg[2:]
		}
		for _, c := range conntrackCommands {
			if name != "-"+c.short && arg != "--"+c.long {
				continue
			}
			if found >= 0 {
				return nil, usagef("%s and %s are both commands; give one", given, name)
			}
			found, given, sub, rest = i, name, c.sub, more
		}
	}
	if found < 0 {
		return args, nil
	}
	out := []string{"ct", sub}
	out = append(out, args[:found]...)
	if rest != "" {
		out = append(out, rest)
	}
	return append(out, args[found+1:]...), nil
}

// conntrackFlagNames maps conntrack(8)'s long flag names to nflab's.
func conntrackFlagNames(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "orig-src":
		name = "src"
	case "orig-dst":
		name = "dst"
	case "orig-port-src":
		name = "sport"
	case "orig-port-dst":
		name = "dport"
	}
	return pflag.NormalizedName(name)
}

// fixedValues completes a flag from a list of values.
func fixedValues(values ...string) func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(strings.ToLower(v), strings.ToLower(toComplete)) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// must panics on a declaration error, which is a bug in nflab.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// changed reports whether any of the flags was given.
func changed(cmd *cobra.Command, names ...string) bool {
	return slices.ContainsFunc(names, cmd.Flags().Changed)
}
