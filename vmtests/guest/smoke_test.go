//go:build nflabvm

package guest

import "testing"

func TestModuleLoadUnload(t *testing.T) {
	if moduleLoaded() {
		t.Fatal("nflab is loaded before the test")
	}
	loadModule(t)
	if !moduleLoaded() {
		t.Fatal("/sys/module/nflab does not exist after loading")
	}
	unloadModule(t)
}

// TestVethInNetns checks the harness's tools: two namespaces joined by a
// veth pair can ping each other.
//
//	 netns a               netns b
//	┌──────────────┐      ┌──────────────┐
//	│ va 10.0.0.1  ├──────┤ vb 10.0.0.2  │
//	└──────────────┘      └──────────────┘
func TestVethInNetns(t *testing.T) {
	a, b := newNetns(t, "a"), newNetns(t, "b")
	veth(t, a, "va", "10.0.0.1/24", b, "vb", "10.0.0.2/24")
	// ping returns with the reply; -W only bounds a lost one.
	a.run(t, "ping", "-c", "1", "-W", "30", "10.0.0.2")
	b.run(t, "ping", "-c", "1", "-W", "30", "10.0.0.1")
}

// TestCLIOnPath checks that the harness put the nflab CLI on PATH, in the
// initial namespace and in another one.
func TestCLIOnPath(t *testing.T) {
	loadModule(t)
	var v map[string]any
	nflabJSON(t, &v, "version")
	if _, ok := v["client"]; !ok {
		t.Errorf("nflab version -o json: no client version in %v", v)
	}
	newNetns(t, "cli").nflabJSON(t, &v, "version")
}
