package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	nflab "github.com/nflab/nflab/gotool"
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

// failureMessage is the one line on stderr for a failure. Errors are
// told apart by type, never by their text.
func (a *app) failureMessage(err error) string {
	what := "nflab"
	var oe *opError
	if errors.As(err, &oe) {
		what, err = "nflab: "+oe.what, oe.err
	}
	var pe *nflab.ProtocolError
	switch {
	case errors.Is(err, nflab.ErrNoConn):
		return "nflab: no such connection"
	case errors.Is(err, nflab.ErrNotLoaded):
		return "nflab: kernel module is not loaded; " + a.hint()
	case errors.Is(err, os.ErrPermission):
		return what + ": permission denied; this needs CAP_NET_ADMIN (run as root)"
	case errors.As(err, &pe):
		// The library's text names both versions.
		return err.Error()
	}
	// Library errors read "nflab: <operation>: <why>" already.
	// TODO(h/lib): the library's errors become typed (*OpError); drop
	// this prefix test then.
	msg := err.Error()
	if strings.HasPrefix(msg, "nflab: ") {
		return msg
	}
	return what + ": " + msg
}
