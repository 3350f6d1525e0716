//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/nlproto"
)

// runReal runs the command as main does, through nflab.Dial, with the
// real client talking to m (see fakemod.Module.Install).
func runReal(t *testing.T, m *fakemod.Module, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	m.Install(t)
	var out, errb bytes.Buffer
	status = run(args, &out, &errb)
	return status, out.String(), errb.String()
}

// TestRealClient runs a few commands with the real client over the fake
// module, one speaking the next protocol version.
func TestRealClient(t *testing.T) {
	m := fakemod.New(fakemod.Options{Next: true})
	m.AddConn(tcpConn)

	status, out, errs := runReal(t, m, "ct", "list", "-o", "json")
	if status != exitOK || errs != "" {
		t.Fatalf("ct list: status %d, stderr %q", status, errs)
	}
	// NextConn has a TCP state this client does not know: JSON shows
	// its number, never Go syntax.
	if strings.Contains(out, "TCPState(") || !strings.Contains(out, `"tcp_state":10`) || !strings.Contains(out, `"tcp_state":"ESTABLISHED"`) {
		t.Errorf("ct list -o json:\n%s", out)
	}

	status, _, errs = runReal(t, m, "ct", "get", "-p", "udp", "-s", "10.0.1.2", "-d", "10.0.2.2", "--sport", "1", "--dport", "2")
	if status != exitFailure || errs != "nflab: no such connection\n" {
		t.Errorf("ct get of a missing entry: status %d, stderr %q", status, errs)
	}

	status, out, errs = runReal(t, m, "ct", "flush")
	if status != exitOK || out != "flushed 2\n" || m.Requests(nlproto.CMD_CT_FLUSH) != 1 {
		t.Errorf("ct flush: status %d, stdout %q, stderr %q", status, out, errs)
	}
}
