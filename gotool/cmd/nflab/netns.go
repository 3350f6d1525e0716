package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nflab/nflab/gotool/nflab"
)

// netnsDir is where 'ip netns' keeps the namespaces it names.
const netnsDir = "/run/netns"

// stringValue is a string flag.
type stringValue string

func (s *stringValue) String() string { return string(*s) }
func (s *stringValue) Type() string   { return "name" }
func (s *stringValue) Set(v string) error {
	if v == "" {
		return errors.New("want a name or a path")
	}
	*s = stringValue(v)
	return nil
}

// netnsPath is the file of the namespace -n names: a name of 'ip netns',
// or a path.
func netnsPath(name string) string {
	if strings.ContainsRune(name, '/') {
		return name
	}
	return filepath.Join(netnsDir, name)
}

// connect dials the module, in the namespace -n names if any: the one
// path from the command line to a client.
func (a *app) connect() (client, error) {
	var opts *nflab.DialOptions
	if a.netns != "" {
		f, err := os.Open(netnsPath(string(a.netns)))
		if err != nil {
			return nil, failed("opening network namespace "+string(a.netns), err)
		}
		defer f.Close() // Dial keeps a descriptor of its own
		opts = &nflab.DialOptions{NetNS: int(f.Fd())}
	}
	c, err := a.dial(opts)
	if err != nil {
		if opts != nil && errors.Is(err, os.ErrPermission) {
			return nil, failed("entering network namespace "+string(a.netns), errNeedSysAdmin)
		}
		return nil, failed("connecting to the module", err)
	}
	return c, nil
}

// errNeedSysAdmin says why entering another namespace failed.
var errNeedSysAdmin = errors.New("permission denied; entering another network namespace needs CAP_SYS_ADMIN (run as root)")

// completeNetns completes -n with the names 'ip netns' knows.
func completeNetns(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if strings.ContainsRune(toComplete, '/') {
		return nil, cobra.ShellCompDirectiveDefault // a path: the shell completes files
	}
	entries, _ := os.ReadDir(netnsDir)
	var out []cobra.Completion
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), toComplete) {
			out = append(out, e.Name())
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
