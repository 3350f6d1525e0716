//go:build nflabvm

package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const moduleName = "nflab"

// loadModule loads nflab.ko ($NFLAB_KO) and unloads it when the test ends.
func loadModule(t testing.TB, params ...string) {
	t.Helper()
	loadModuleFile(t, os.Getenv("NFLAB_KO"), params...)
}

// loadModuleFile loads the nflab.ko at path, like loadModule.
func loadModuleFile(t testing.TB, path string, params ...string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("nflab.ko: %v", err)
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), strings.Join(params, " "), 0); err != nil {
		t.Fatalf("loading nflab.ko: %v", err)
	}
	t.Cleanup(func() {
		if moduleLoaded() {
			unloadModule(t)
		}
	})
}

// unloadModule unloads nflab and checks that it is gone.
func unloadModule(t testing.TB) {
	t.Helper()
	if err := unix.DeleteModule(moduleName, unix.O_NONBLOCK); err != nil {
		t.Fatalf("unloading nflab: %v", err)
	}
	if moduleLoaded() {
		t.Fatal("/sys/module/nflab still exists after unloading")
	}
}

func moduleLoaded() bool {
	_, err := os.Stat("/sys/module/" + moduleName)
	return err == nil
}

// mustRun runs a command and returns its standard output; it fails the
// test if the command fails.
func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := tryCmd(argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryCmd runs a command and returns its standard output, or an error that
// includes its standard error.
func tryCmd(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(
			strings.Join(cmd.Args, " ") + ": " + err.Error() + "\n" + stderr.String()))
	}
	return stdout.String(), nil
}

// runCode runs a command and returns its combined output and exit status.
// It fails the test only if the command cannot be started.
func runCode(t *testing.T, argv ...string) (string, int) {
	t.Helper()
	return runAs(t, nil, argv...)
}

// runAs is runCode as another user (nil: as root), e.g.
// &syscall.Credential{Uid: 65534, Gid: 65534} for nobody. The command
// keeps no capabilities.
func runAs(t *testing.T, cred *syscall.Credential, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
		return "", -1
	}
}

// nflabJSON runs "nflab ARGS -o json" and decodes its output into v.
func nflabJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	decodeJSON(t, mustRun(t, nflabArgv(args)...), v)
}

func nflabArgv(args []string) []string {
	return append(append([]string{"nflab"}, args...), "-o", "json")
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decoding nflab output: %v\n%s", err, out)
	}
}

// netns is a network namespace managed with iproute2 (ip netns).
type netns string

// newNetns creates a network namespace with its loopback up and deletes it
// when the test ends.
func newNetns(t *testing.T, name string) netns {
	t.Helper()
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if _, err := tryCmd("ip", "netns", "del", name); err != nil {
			t.Error(err)
		}
	})
	ns := netns(name)
	ns.run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// run runs a command in ns.
func (ns netns) run(t *testing.T, argv ...string) string {
	t.Helper()
	return mustRun(t, append([]string{"ip", "netns", "exec", string(ns)}, argv...)...)
}

// try runs a command in ns and returns its error.
func (ns netns) try(argv ...string) (string, error) {
	return tryCmd(append([]string{"ip", "netns", "exec", string(ns)}, argv...)...)
}

// nflabJSON runs "nflab ARGS -o json" in ns and decodes its output into v.
func (ns netns) nflabJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	decodeJSON(t, ns.run(t, nflabArgv(args)...), v)
}

// veth connects ifA in a to ifB in b, gives them the addresses (CIDR
// notation, may be empty) and brings them up.
func veth(t *testing.T, a netns, ifA, addrA string, b netns, ifB, addrB string) {
	t.Helper()
	mustRun(t, "ip", "link", "add", ifA, "netns", string(a), "type", "veth", "peer", "name", ifB, "netns", string(b))
	for _, e := range []struct {
		ns        netns
		dev, addr string
	}{{a, ifA, addrA}, {b, ifB, addrB}} {
		if e.addr != "" {
			e.ns.run(t, "ip", "addr", "add", e.addr, "dev", e.dev)
		}
		e.ns.run(t, "ip", "link", "set", e.dev, "up")
	}
}
