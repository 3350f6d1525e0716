// Command nflab shows and resets the nflab kernel module's counters and
// inspects and configures its connection tracking.
//
// It only parses flags and prints; the work happens in package nflab
// (github.com/nflab/nflab/gotool/nflab).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// version is the version of this command.
const version = "0.1.0"

// Exit statuses, stable for scripts.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// client is what the commands need of *nflab.Client; tests fake it.
type client interface {
	Version(context.Context) (nftypes.Version, error)
	HookStats(context.Context) ([]nftypes.HookStat, error)
	ResetHookStats(context.Context) error
	Close() error

	Conns(context.Context, nftypes.ConnFilter) ([]nftypes.Conn, error)
	Conn(context.Context, nftypes.Tuple) (nftypes.Conn, error)
	DeleteConn(context.Context, nftypes.Tuple) error
	DeleteConns(context.Context, nftypes.ConnFilter) (int, error)
	ConnCount(context.Context) (count, limit int, err error)
	TrackerStats(context.Context) (nftypes.TrackerStats, error)
	TrackerConfig(context.Context) (nftypes.TrackerConfig, error)
	SetTrackerConfig(context.Context, nftypes.TrackerConfig) error
	RunGC(context.Context) (int, error)
	WatchConns(context.Context, *nflab.WatchOptions, func(nftypes.ConnEvent) error) error
}

func dial() (client, error) {
	c, err := nflab.Dial(nil)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, dial: dial}
	return a.run(args)
}

type app struct {
	stdout, stderr io.Writer
	dial           func() (client, error)
}

type command struct {
	name  string
	short string // one line for the command table
	usage string // the full "nflab <cmd> --help" text
	run   func(a *app, c *command, args []string) int
	subs  []*command // subcommands, named "<cmd> <sub>"
}

var commands []*command

func init() {
	// Assigned here because help refers back to the table.
	commands = []*command{cmdStats, cmdCT, cmdVersion, cmdHelp}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (a *app) usage() string {
	var b strings.Builder
	b.WriteString(`Usage:
  nflab                     show the module version and the hook counters
  nflab <command> [flags]

Commands:
`)
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	tw.Flush()
	b.WriteString(`
Run 'nflab help <command>' or 'nflab <command> --help' for its flags.
Exit status: 0 success, 1 failure, 2 usage error.
`)
	return b.String()
}

func (a *app) run(args []string) int {
	if len(args) == 0 {
		return a.status()
	}
	switch args[0] {
	case "-h", "-help", "--help":
		if len(args) > 1 {
			return a.usageError("", "unexpected argument %q", args[1])
		}
		fmt.Fprint(a.stdout, a.usage())
		return exitOK
	}
	if strings.HasPrefix(args[0], "-") {
		return a.usageError("", "unknown flag %s (flags go after the command)", args[0])
	}
	c := lookup(args[0])
	if c == nil {
		return a.usageError("", "unknown command %q", args[0])
	}
	return c.run(a, c, args[1:])
}

// usageError reports a mistake in the command line: one line on stderr,
// with a pointer to the help, and exit status 2.
func (a *app) usageError(cmd, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	if cmd == "" {
		fmt.Fprintf(a.stderr, "nflab: %s; run 'nflab help'\n", msg)
	} else {
		fmt.Fprintf(a.stderr, "nflab %s: %s; run 'nflab help %s'\n", cmd, msg, cmd)
	}
	return exitUsage
}

// fail reports a runtime failure: one line "nflab: <what>: <why>" on
// stderr and exit status 1. what describes the step that failed.
func (a *app) fail(what string, err error) int {
	var pe *nflab.ProtocolError
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintln(a.stderr, "nflab: no such connection")
	case errors.Is(err, nflab.ErrNotLoaded):
		fmt.Fprintln(a.stderr, "nflab: kernel module is not loaded; load it with 'insmod kmod/nflab.ko' (or 'modprobe nflab')")
	case errors.Is(err, os.ErrPermission):
		fmt.Fprintf(a.stderr, "nflab: %s: permission denied; this needs CAP_NET_ADMIN (run as root)\n", what)
	case errors.As(err, &pe):
		// The library's text already names both versions.
		fmt.Fprintln(a.stderr, err)
	default:
		// Library errors read "nflab: <operation>: <why>" already.
		msg := err.Error()
		if !strings.HasPrefix(msg, "nflab: ") {
			msg = "nflab: " + what + ": " + msg
		}
		fmt.Fprintln(a.stderr, msg)
	}
	return exitFailure
}

// newFlagSet returns a flag set that leaves all printing to the caller.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags lets flags and positional arguments mix, as in
// "nflab stats -o json" or a future "nflab cmd ARG -o json"; everything
// after "--" is positional.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseCommand parses a command's flags. It returns done=true with the
// exit status when the command should stop: help shown or usage error.
func (a *app) parseCommand(c *command, fs *flag.FlagSet, args []string) (done bool, status int) {
	pos, err := parseFlags(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(a.stdout, c.usage)
		return true, exitOK
	case err != nil:
		return true, a.usageError(c.name, "%v", err)
	case len(pos) > 0:
		return true, a.usageError(c.name, "unexpected argument %q", pos[0])
	}
	return false, exitOK
}

// outputFormat is the value of -o.
type outputFormat string

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(s string) error {
	switch s {
	case "table", "json":
		*f = outputFormat(s)
		return nil
	}
	return errors.New("want table or json")
}

func formatFlag(fs *flag.FlagSet) *outputFormat {
	f := outputFormat("table")
	fs.Var(&f, "o", "")
	return &f
}

func writeJSON(w io.Writer, v any) {
	// One line per document, for line-oriented tools such as jq.
	_ = json.NewEncoder(w).Encode(v)
}

// withClient dials the module, runs fn with the connection and closes it;
// a failed dial is reported like any other failure.
func (a *app) withClient(fn func(c client) int) int {
	c, err := a.dial()
	if err != nil {
		return a.fail("connecting to the module", err)
	}
	defer c.Close()
	return fn(c)
}

// status is bare "nflab": the module version, then the counters.
func (a *app) status() int {
	return a.withClient(func(c client) int {
		v, err := c.Version(context.Background())
		if err != nil {
			return a.fail("reading the module version", err)
		}
		stats, err := c.HookStats(context.Background())
		if err != nil {
			return a.fail("reading the hook counters", err)
		}
		fmt.Fprintf(a.stdout, "module %s, protocol %d\n\n", v.Module, v.Protocol)
		writeStatsTable(a.stdout, stats)
		return exitOK
	})
}
