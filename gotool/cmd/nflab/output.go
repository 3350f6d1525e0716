package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"syscall"
	"text/tabwriter"

	"github.com/nflab/nflab/gotool/nflab"
)

// outputFormat is the value of -o.
type outputFormat string

func (f *outputFormat) String() string { return string(*f) }
func (f *outputFormat) Type() string   { return "format" }

func (f *outputFormat) Set(s string) error {
	switch s {
	case "table", "json":
		*f = outputFormat(s)
		return nil
	}
	return errors.New("want table or json")
}

// output is what a command prints: a JSON document for -o json, a table
// (or lines) for -o table. The JSON types are spelled out per command,
// with their field names, because scripts depend on them; they never
// format an enum with %v, so an unknown value cannot show as Go syntax.
type output struct {
	json  any
	table func(w io.Writer)
}

// print writes out in the -o format. Write errors surface through the
// app's stdout, which remembers them.
func (a *app) print(out *output) error {
	if out == nil {
		return nil
	}
	if a.output == "json" {
		return writeJSON(a.stdout, out.json)
	}
	out.table(a.stdout)
	return nil
}

// writeJSON writes v as one line, for line-oriented tools such as jq.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return failed("encoding JSON", err)
	}
	_, err = w.Write(append(b, '\n'))
	return failed("writing output", err)
}

// newTable returns a tabwriter for columns separated by two spaces.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// errNoConn is what get and delete report for a tuple that matches no
// entry.
var errNoConn = errors.New("no such connection")

// failureMessage is the one line on stderr for a failure: "nflab: <the
// step that failed>: <why>", and what to do when there is something to
// do. Errors are told apart by type, never by their text.
func (a *app) failureMessage(err error) string {
	prefix := "nflab: "
	var oe *opError
	if errors.As(err, &oe) {
		if oe.what != "" {
			prefix += oe.what + ": "
		}
		err = oe.err
	}
	var (
		pe *nflab.ProtocolError
		le *nflab.OpError
		ve *nflab.ValidationError
	)
	switch {
	case errors.Is(err, nflab.ErrNotLoaded):
		return "nflab: kernel module is not loaded; " + a.hint()
	case errors.Is(err, os.ErrPermission):
		return prefix + "permission denied; this needs CAP_NET_ADMIN (run as root)"
	case errors.Is(err, nflab.ErrDumpInterrupted):
		return prefix + "the table kept changing during the dump; try again"
	case errors.Is(err, errors.ErrUnsupported):
		return prefix + unsupportedMessage(err)
	case errors.Is(err, context.Canceled):
		return prefix + "interrupted"
	case errors.Is(err, syscall.ESHUTDOWN):
		// Only a new trace gets it, while the module loads or unloads:
		// its family answers before its hooks are up and until it is
		// unregistered.
		return prefix + "the module is loading or unloading, and starts no trace now; try again once it is loaded"
	case errors.As(err, &pe):
		// It names both versions and what to do.
		return pe.Error()
	case errors.As(err, &le), errors.As(err, &ve):
		// The library's own words name its operation and the kernel's
		// reason (its extended ACK), or the invalid value.
		return err.Error()
	}
	return prefix + err.Error()
}

// unsupportedMessage is what failureMessage says after its prefix for err,
// something the module does not support: where a file's line asked for
// it, the library's reason (what the module lacks, and the two protocol
// versions) if it gave one, and what to do.
func unsupportedMessage(err error) string {
	var (
		where string
		pe    *posError
		le    *nflab.OpError
	)
	if errors.As(err, &pe) {
		where = pe.where + ": "
	}
	why := "the module does not support this"
	if errors.As(err, &le) && le.Message != "" {
		why = le.Message
	}
	return where + why + "; load a newer module"
}
