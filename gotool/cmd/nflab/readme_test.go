//go:build linux

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// TestREADMEReference fails when the README's CLI reference is not what
// the commands generate.
func TestREADMEReference(t *testing.T) {
	const path = "../../../README.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := spliceReference(string(doc), reference())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if diff := cmp.Diff(want, string(doc)); diff != "" {
		t.Errorf("README.md's CLI reference is stale; run 'go generate ./gotool/cmd/nflab' (-want +got):\n%s", diff)
	}
	// Every command is there, hidden ones are not.
	for _, c := range []string{"nflab ct list", "nflab ct events", "nflab ct config", "nflab completion bash", "nflab version",
		"nflab trace", "nflab trace watch", "nflab trace add", "nflab trace list", "nflab trace delete"} {
		if !strings.Contains(string(doc), "<code>"+c+"</code>") {
			t.Errorf("README.md lacks %s", c)
		}
	}
	if strings.Contains(string(doc), "gen-readme") {
		t.Error("README.md shows the hidden gen-readme")
	}
	// The prose's example lines are the timeline's format.
	for _, want := range []string{
		`PRE_ROUTING ✓ new → LOCAL_IN ✗ rule filter/input#1 "drop syn"`,
		`PRE_ROUTING ✓ new → LOCAL_IN ✓ → gone after LOCAL_IN: NO_SOCKET`,
		"`nflab stats -v`",
		"`nflab ct get ... --history`",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
}

// TestREADMEHistory checks that the README's example of ct get --history
// is the format of its lines.
func TestREADMEHistory(t *testing.T) {
	doc, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	at := func(ms int) time.Time { return time.Date(2026, 12, 1, 10, 0, 0, ms*int(time.Millisecond), time.UTC) }
	c := nftypes.Conn{Orig: nftypes.Tuple{Proto: nftypes.TCP}, History: []nftypes.ConnChange{
		{Time: at(512), Packet: 42, Trace: 1, Hook: nftypes.PreRouting, TCPStateOld: nftypes.TCPNone, TCPState: nftypes.TCPSynSent},
		{Time: at(513), Packet: 43, Trace: 1, Hook: nftypes.LocalOut, Dir: nftypes.DirReply,
			TCPStateOld: nftypes.TCPSynSent, TCPState: nftypes.TCPSynRecv,
			StatusOld: nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusConfirmed},
		{Time: at(514), Packet: 44, Trace: 1, Hook: nftypes.PreRouting,
			TCPStateOld: nftypes.TCPSynRecv, TCPState: nftypes.TCPEstablished,
			StatusOld: nftypes.StatusSeenReply | nftypes.StatusConfirmed, Status: nftypes.StatusSeenReply | nftypes.StatusAssured | nftypes.StatusConfirmed},
	}}
	want := strings.Join(historyLines(c, time.UTC, true), "\n") + "\n```"
	if !strings.Contains(string(doc), want) {
		t.Errorf("README.md lacks\n%s", want)
	}
}

func TestGenReadme(t *testing.T) {
	path := t.TempDir() + "/README.md"
	doc := "# x\n\n" + readmeBegin + "\nold\n" + readmeEnd + "\n\nafter\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runNoDial(t, "gen-readme", path); got.Code != 0 {
		t.Fatalf("gen-readme = %+v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# x\n\n" + readmeBegin + "\n" + reference() + readmeEnd + "\n\nafter\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := os.WriteFile(path, []byte("no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runNoDial(t, "gen-readme", path); got.Code != 1 || !strings.Contains(got.Stderr, "no CLI reference markers") {
		t.Errorf("gen-readme without markers = %+v", got)
	}
	if got := runNoDial(t, "gen-readme"); got.Code != 2 {
		t.Errorf("gen-readme without a path = %+v", got)
	}
}
