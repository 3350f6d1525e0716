// Command nflab shows and resets the nflab kernel module's counters,
// inspects and configures its connection tracking and rules, and traces
// packets through its hooks.
//
// It only parses flags and prints; the work happens in package nflab
// (github.com/nflab/nflab/gotool/nflab).
//
// The commands are declared with spf13/cobra and their flags with
// spf13/pflag, as gh and kubectl do: the help, the errors, the shell
// completion (nflab completion bash|zsh) and the README's CLI reference
// are all generated from the declarations, so none of them can drift from
// what the command accepts.
package main

//go:generate go run . gen-readme ../../../README.md

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Exit statuses, stable for scripts.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// A closed pipe on stdout must give EPIPE, reported with exit status
	// 1, rather than kill the process with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	// SIGINT and SIGTERM cancel the command's context, which ends
	// 'ct events' and 'trace' with exit status 0; a second one kills as
	// usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// client is what the commands need of *nflab.Client; tests fake it. Every
// library call of the CLI goes through it, from the commands' run
// functions only.
type client interface {
	Version(context.Context) (nftypes.Version, error)
	HookStats(context.Context) ([]nftypes.HookStat, error)
	ResetHookStats(context.Context) error
	Close() error

	Conns(context.Context, nftypes.ConnFilter) ([]nftypes.Conn, error)
	CheckConnFilter(nftypes.ConnFilter) error
	Conn(context.Context, nftypes.Tuple) (nftypes.Conn, error)
	KeepsConnHistory() bool
	DeleteConn(context.Context, nftypes.Tuple) error
	DeleteConns(context.Context, nftypes.ConnFilter) (int, error)
	ConnCount(context.Context) (count, limit int, err error)
	TrackerStats(context.Context) (nftypes.TrackerStats, error)
	TrackerConfig(context.Context) (nftypes.TrackerConfig, error)
	SetTrackerConfig(context.Context, nftypes.TrackerConfig) error
	RunGC(context.Context) (int, error)
	WatchConns(context.Context, *nflab.WatchOptions, func(nftypes.ConnEvent) error) error

	Ruleset(context.Context) (nftypes.Ruleset, error)
	Chains(context.Context) ([]nftypes.Chain, error)
	Rules(context.Context) ([]nftypes.Rule, error)
	Rule(context.Context, uint64) (nftypes.Rule, error)
	Sets(ctx context.Context, withElems bool) ([]nftypes.Set, error)
	Set(ctx context.Context, name string, withElems bool) (nftypes.Set, error)
	ResetRules(context.Context, *uint64) error
	ApplyRuleset(context.Context, nftypes.Ruleset, *nflab.ApplyOptions) (uint32, error)
	Begin(context.Context, *nflab.BeginOptions) (*nflab.Tx, error)

	AddTrace(context.Context, nftypes.TraceSpec) (nftypes.Trace, error)
	Traces(context.Context) ([]nftypes.Trace, error)
	DeleteTrace(context.Context, uint32) error
	DeleteTraces(context.Context) (int, error)
	WatchTraces(context.Context, *nflab.WatchOptions, func(nftypes.TraceReport) error) error
	FollowTrace(ctx context.Context, s nftypes.TraceSpec, opts *nflab.WatchOptions,
		started func(nftypes.Trace) error, fn func(nftypes.TraceReport) error) error
}

func dial(opts *nflab.DialOptions) (client, error) {
	c, err := nflab.Dial(opts)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return c, nil
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdin: os.Stdin, stdout: &recWriter{w: stdout}, stderr: stderr, dial: dial, hint: moduleHint}
	return a.run(ctx, args)
}
