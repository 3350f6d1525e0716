//go:build nflabvm

// The hook counters seen from a three-namespace topology:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	| via .1.1    |        |  ip_forward=1      |        | via .2.1    |
//	+-------------+        +-------------------+        +-------------+
//
// IPv4 only ever crosses the hooks: ARP and IPv6 neighbour traffic do not,
// so every count below is exact.
package guest

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// pingSize is ping's default payload; with the ICMP and IP headers each echo
// packet is 84 bytes on the wire.
const (
	pingSize  = 56
	pingBytes = pingSize + 8 + 20
)

type topology struct {
	t                      *testing.T
	client, router, server netns
}

func newTopology(t *testing.T) *topology {
	t.Helper()
	tp := &topology{t: t, client: newNetns(t, "client"), router: newNetns(t, "router"), server: newNetns(t, "server")}
	veth(t, tp.client, "c0", "10.0.1.2/24", tp.router, "r0", "10.0.1.1/24")
	veth(t, tp.server, "s0", "10.0.2.2/24", tp.router, "r1", "10.0.2.1/24")
	tp.client.run(t, "ip", "route", "add", "default", "via", "10.0.1.1")
	tp.server.run(t, "ip", "route", "add", "default", "via", "10.0.2.1")
	tp.router.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	// Resolve neighbours once so the measured pings are the only IPv4.
	tp.ping("client", "10.0.2.2", 1)
	for _, ns := range []string{"client", "router", "server"} {
		tp.reset(ns)
	}
	return tp
}

func (tp *topology) ping(ns, dst string, n int) {
	tp.t.Helper()
	// ping returns once every reply is in; -W only bounds a lost one.
	netns(ns).run(tp.t, "ping", "-q", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "30", "-s", fmt.Sprint(pingSize), dst)
}

func (tp *topology) reset(ns string) {
	tp.t.Helper()
	netns(ns).run(tp.t, "nflab", "stats", "--reset")
}

// counts is one namespace's hook counters by hook name.
type counts map[string][2]uint64

func (tp *topology) stats(ns string) counts {
	tp.t.Helper()
	return hookStats(tp.t, "ip", "netns", "exec", ns, "nflab", "stats", "-o", "json")
}

func hookStats(t *testing.T, cmd ...string) counts {
	t.Helper()
	return decodeStats(t, mustRun(t, cmd...))
}

// decodeStats decodes "nflab stats -o json".
func decodeStats(t *testing.T, out string) counts {
	t.Helper()
	var v struct {
		Hooks []struct {
			Hook    string `json:"hook"`
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		} `json:"hooks"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("decoding %q: %v", out, err)
	}
	c := counts{}
	for _, h := range v.Hooks {
		c[h.Hook] = [2]uint64{h.Packets, h.Bytes}
	}
	if len(c) != 5 {
		t.Fatalf("want 5 hooks, got %v", c)
	}
	return c
}

// want builds expected counts: every hook not named is zero.
func want(pkts map[string]uint64) counts {
	c := counts{}
	for _, h := range []string{"PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT", "POST_ROUTING"} {
		c[h] = [2]uint64{pkts[h], pkts[h] * pingBytes}
	}
	return c
}

func checkCounts(t *testing.T, ns string, got, want counts) {
	t.Helper()
	for h, w := range want {
		if got[h] != w {
			t.Errorf("%s %s: got %d packets/%d bytes, want %d/%d", ns, h, got[h][0], got[h][1], w[0], w[1])
		}
	}
}

func TestHookCountsForwarded(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.ping("client", "10.0.2.2", 3)

	// Three requests and three replies cross the router in each direction.
	checkCounts(t, "router", tp.stats("router"), want(map[string]uint64{
		"PRE_ROUTING": 6, "FORWARD": 6, "POST_ROUTING": 6,
	}))
	checkCounts(t, "client", tp.stats("client"), want(map[string]uint64{
		"LOCAL_OUT": 3, "POST_ROUTING": 3, "PRE_ROUTING": 3, "LOCAL_IN": 3,
	}))
	checkCounts(t, "server", tp.stats("server"), want(map[string]uint64{
		"PRE_ROUTING": 3, "LOCAL_IN": 3, "LOCAL_OUT": 3, "POST_ROUTING": 3,
	}))
}

func TestHookCountsLocal(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)

	// To the router: requests arrive (PRE, IN), its replies leave (OUT, POST).
	tp.ping("client", "10.0.1.1", 4)
	checkCounts(t, "router", tp.stats("router"), want(map[string]uint64{
		"PRE_ROUTING": 4, "LOCAL_IN": 4, "LOCAL_OUT": 4, "POST_ROUTING": 4,
	}))

	// One-way traffic the router sends: UDP datagrams to the server, which
	// drops them silently (no ICMP error: the port is open but nobody reads).
	tp.reset("router")
	tp.reset("server")
	// A socket the test holds, bound when udpIn returns. Every datagram
	// passes the router's LOCAL_OUT and POST_ROUTING before socat returns.
	udpIn(t, "server", ":9999", "")
	for i := 0; i < 5; i++ {
		mustRun(t, "sh", "-c", "echo hello | ip netns exec router socat -u - UDP4-SENDTO:10.0.2.2:9999")
	}
	got := tp.stats("router")
	const udpLen = 20 + 8 + 6 // "hello\n"
	for h, w := range map[string][2]uint64{
		"PRE_ROUTING": {0, 0}, "LOCAL_IN": {0, 0}, "FORWARD": {0, 0},
		"LOCAL_OUT": {5, 5 * udpLen}, "POST_ROUTING": {5, 5 * udpLen},
	} {
		if got[h] != w {
			t.Errorf("router %s: got %v, want %v", h, got[h], w)
		}
	}
}

func TestHooksInNamespaceCreatedAfterLoad(t *testing.T) {
	loadModule(t)
	// Both namespaces are created after the module is loaded.
	veth(t, newNetns(t, "late1"), "l1", "10.9.0.1/24", newNetns(t, "late2"), "l2", "10.9.0.2/24")

	tp := &topology{t: t}
	tp.ping("late1", "10.9.0.2", 2)
	checkCounts(t, "late2", tp.stats("late2"), want(map[string]uint64{
		"PRE_ROUTING": 2, "LOCAL_IN": 2, "LOCAL_OUT": 2, "POST_ROUTING": 2,
	}))
}

func TestResetNeedsCapNetAdmin(t *testing.T) {
	loadModule(t)
	// The initial namespace: only loopback, so nothing else moves the counters.
	mustRun(t, "ip", "link", "set", "lo", "up")
	mustRun(t, "ping", "-q", "-c", "2", "-i", "0.2", "127.0.0.1")
	before := hookStats(t, "nflab", "stats", "-o", "json")
	if before["LOCAL_IN"][0] < 4 {
		t.Fatalf("loopback pings not counted: %v", before)
	}

	// Anyone may read the counters ...
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	out, code := runAs(t, nobody, "nflab", "stats", "-o", "json")
	if code != 0 {
		t.Fatalf("unprivileged read: exit %d: %s", code, out)
	}
	checkCounts(t, "read as nobody", decodeStats(t, out), before)

	// ... but only CAP_NET_ADMIN may reset them, and a refusal changes nothing.
	out, code = runAs(t, nobody, "nflab", "stats", "--reset")
	if code != 1 || !strings.Contains(out, "CAP_NET_ADMIN") {
		t.Errorf("unprivileged reset: exit %d, output %q; want exit 1 naming CAP_NET_ADMIN", code, out)
	}
	checkCounts(t, "after refused reset", hookStats(t, "nflab", "stats", "-o", "json"), before)

	mustRun(t, "nflab", "stats", "--reset")
	checkCounts(t, "after reset", hookStats(t, "nflab", "stats", "-o", "json"), want(nil))
}

func TestUnloadUnderPingFlood(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	flood := exec.Command("ip", "netns", "exec", "client", "ping", "-f", "-q", "10.0.2.2")
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	var floodErr error
	exited := make(chan struct{})
	go func() { floodErr = flood.Wait(); close(exited) }()
	t.Cleanup(func() { _ = flood.Process.Kill(); <-exited })

	// Let the flood run through all hooks (the counter only grows while
	// it runs), then pull the module from under it.
	waitFor(t, "the ping flood reach the router's FORWARD hook", func() bool {
		return tp.stats("router")["FORWARD"][0] >= 200
	})
	unloadModule(t)

	// The flood keeps flowing without the hooks; the CLI says the module is gone.
	out, code := runCode(t, "nflab", "stats")
	if code != 1 || !strings.Contains(out, "not loaded") {
		t.Errorf("nflab stats without module: exit %d, output %q; want exit 1 and 'not loaded'", code, out)
	}
	forwarded := func() int {
		n, err := strconv.Atoi(strings.TrimSpace(tp.router.run(t, "cat", "/sys/class/net/r1/statistics/tx_packets")))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := forwarded()
	waitFor(t, "the ping flood go on through the router after the unload", func() bool {
		select {
		case <-exited:
			t.Fatalf("ping flood died: %v", floodErr)
		default:
		}
		return forwarded() >= start+200
	})
}
