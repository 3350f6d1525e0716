//go:build nflabvm

// A differential oracle: the kernel's own connection tracker (nf_conntrack,
// read with conntrack(8)) and nflab's track the same traffic in the router
// of hooks_test.go's topology, and after each scenario their tables are
// compared entry by entry.
//
//	 ns client              ns router                         ns server
//	+-------------+       +----------------------------+       +-------------+
//	| c0          | veth  | r0                      r1 | veth  |          s0 |
//	| 10.0.1.2/24 +-------+ 10.0.1.1        10.0.2.1   +-------+ 10.0.2.2/24 |
//	+-------------+       | nflab + nf_conntrack       |       +-------------+
//	                      | nft table ip oracle:       |
//	                      |  pre (prerouting, -150):   |
//	                      |   ct state invalid/related |
//	                      |  fw: probe counters        |
//	                      | 10.0.1.3, 10.0.2.99: fake  |
//	                      |   neighbours (black holes) |
//	                      +----------------------------+
//
// Both trackers hook PRE_ROUTING at priority -200. nflab is loaded before
// the kernel is asked to track, so its hook comes first and it sees each
// packet before the kernel's tracker does. Neither drops anything but a new
// flow's packet when its table is full, which the limit scenario handles on
// its own.
//
// Both get the same timeouts, one distinct value per timeout (ctTimeouts),
// so that an entry's remaining timeout names the timeout it was last given
// however long the checks take. The kernel's defragmentation runs before
// both trackers in the router, so the fragments scenario also compares
// nflab's entries in the client and the server, where nothing reassembles
// before nflab.
package guest

import (
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// oracleDeviations are the differences between the two trackers that are
// deliberate or inherent, by check and field; README.md ("Differences from
// the kernel's tracker") lists the same. Any other difference fails.
var oracleDeviations = []struct{ check, field, why string }{
	{"limit-evict", "presence (unassured)",
		"at its limit the kernel evicts an unassured entry only from the 8 hash buckets " +
			"after the new flow's (its random hash seed decides; usually it finds none and " +
			"drops the new flow), nflab evicts its namespace's oldest unassured entry"},
	{"limit-scope", "limit scope",
		"the kernel's nf_conntrack_max is global and set in the initial namespace only " +
			"(each namespace's count is held against it); nflab's limit is per namespace"},
}

// ctTimeout is one timeout of the kernel's tracker and nflab's name for it.
// oracle is the value both get during the test: distinct for every
// timeout, at least 100 s from any other, so that a remaining timeout
// names the one it came from for 90 s (ctClassSlack). The values keep the
// defaults' order where the kernel compares timeouts (every TCP state but
// ESTABLISHED below the unacknowledged/retransmission one, ESTABLISHED
// above it), so that they change no decision.
type ctTimeout struct {
	class  string
	kernel []string // sysctls under net.netfilter. in the router's namespace
	nflab  string   // "nflab ct config --timeout" name; "" if nflab has none
	oracle int
	// For a timeout nflab has no setting for, the kernel's default,
	// which nflab is taken to use: it names the class too.
	fallback int
}

var ctTimeouts = []ctTimeout{
	{"tcp_syn_sent", []string{"nf_conntrack_tcp_timeout_syn_sent"}, "tcp_syn_sent", 1100, 0},
	{"tcp_syn_recv", []string{"nf_conntrack_tcp_timeout_syn_recv"}, "tcp_syn_recv", 1200, 0},
	{"tcp_established", []string{"nf_conntrack_tcp_timeout_established"}, "tcp_established", 432000, 0},
	{"tcp_fin_wait", []string{"nf_conntrack_tcp_timeout_fin_wait"}, "tcp_fin_wait", 1300, 0},
	{"tcp_close_wait", []string{"nf_conntrack_tcp_timeout_close_wait"}, "tcp_close_wait", 1400, 0},
	{"tcp_last_ack", []string{"nf_conntrack_tcp_timeout_last_ack"}, "tcp_last_ack", 1500, 0},
	{"tcp_time_wait", []string{"nf_conntrack_tcp_timeout_time_wait"}, "tcp_time_wait", 1600, 0},
	{"tcp_close", []string{"nf_conntrack_tcp_timeout_close"}, "tcp_close", 1700, 0},
	// Unacknowledged data, and retransmissions: limits on every TCP
	// state's timeout (300 s each by default).
	{"tcp_unack", []string{"nf_conntrack_tcp_timeout_unacknowledged"}, "tcp_unack", 2500, 0},
	{"tcp_retrans", []string{"nf_conntrack_tcp_timeout_max_retrans"}, "tcp_retrans", 2600, 0},
	// Unreplied, and replied but not (yet) a stream.
	{"udp", []string{"nf_conntrack_udp_timeout"}, "udp_unreplied", 1800, 0},
	{"udp_stream", []string{"nf_conntrack_udp_timeout_stream"}, "udp_assured", 1900, 0},
	{"icmp", []string{"nf_conntrack_icmp_timeout"}, "icmp", 2000, 0},
}

// ctClassSlack is how long after its last refresh an entry's timeout still
// names its class.
const ctClassSlack = 90

// timeoutClass names the timeout an entry with secs seconds left was given.
func timeoutClass(secs int) string {
	for _, c := range ctTimeouts {
		for _, v := range []int{c.oracle, c.fallback} {
			if v != 0 && secs <= v && secs >= v-ctClassSlack {
				return c.class
			}
		}
	}
	return fmt.Sprintf("none (%d s left)", secs)
}

// ctFlow is one tracker's entry, in the terms both trackers share.
type ctFlow struct {
	proto              string
	orig, reply        ctTuple
	state              string // TCP only
	seenReply, assured bool
	timeout            int // seconds left
}

func (t ctTuple) text(proto string) string {
	if proto == "icmp" {
		return fmt.Sprintf("%s>%s type %d id %d", t.Src, t.Dst, t.ICMPType, t.ICMPID)
	}
	return fmt.Sprintf("%s:%d>%s:%d", t.Src, t.Sport, t.Dst, t.Dport)
}

func (f ctFlow) String() string {
	s := fmt.Sprintf("%s %s | %s", f.proto, f.orig.text(f.proto), f.reply.text(f.proto))
	if f.state != "" {
		s += " " + f.state
	}
	if !f.seenReply {
		s += " [UNREPLIED]"
	}
	if f.assured {
		s += " [ASSURED]"
	}
	return s + fmt.Sprintf(" %ds (%s)", f.timeout, timeoutClass(f.timeout))
}

// key names the flow whichever way round a tracker holds it: the protocol,
// its two endpoints in order, and the ICMP id.
func (f ctFlow) key() string {
	a := fmt.Sprintf("%s:%d", f.orig.Src, f.orig.Sport)
	b := fmt.Sprintf("%s:%d", f.orig.Dst, f.orig.Dport)
	if a > b {
		a, b = b, a
	}
	k := f.proto + " " + a + " " + b
	if f.proto == "icmp" {
		k += fmt.Sprintf(" id %d", f.orig.ICMPID)
	}
	return k
}

// kernelFlows parses "conntrack -L -o extended" in ns:
//
//	ipv4 2 tcp 6 431999 ESTABLISHED src=A dst=B sport=N dport=M src=B dst=A sport=M dport=N [ASSURED] mark=0 use=1
//	ipv4 2 udp 17 29 src=A dst=B sport=N dport=M [UNREPLIED] src=B dst=A sport=M dport=N mark=0 use=1
//	ipv4 2 icmp 1 29 src=A dst=B type=8 code=0 id=7 src=B dst=A type=0 code=0 id=7 mark=0 use=1
func kernelFlows(t *testing.T, ns netns) []ctFlow {
	t.Helper()
	out := ns.run(t, "conntrack", "-L", "-o", "extended")
	var flows []ctFlow
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) < 6 || f[0] != "ipv4" {
			t.Fatalf("unexpected conntrack line %q", l)
		}
		fl := ctFlow{proto: f[2], seenReply: true}
		var err error
		if fl.timeout, err = strconv.Atoi(f[4]); err != nil {
			t.Fatalf("conntrack line %q: timeout: %v", l, err)
		}
		tu, srcs := &fl.orig, 0
		for _, tok := range f[5:] {
			k, v, kv := strings.Cut(tok, "=")
			switch {
			case tok == "[UNREPLIED]":
				fl.seenReply = false
			case tok == "[ASSURED]":
				fl.assured = true
			case strings.HasPrefix(tok, "["):
			case !kv:
				if fl.proto == "tcp" && fl.state == "" {
					fl.state = tok
					if tok == "LISTEN" { // older names for state 9
						fl.state = "SYN_SENT2"
					}
				}
			case k == "src":
				if srcs++; srcs == 2 {
					tu = &fl.reply
				}
				tu.Src = v
			case k == "dst":
				tu.Dst = v
			case k == "sport", k == "dport", k == "type", k == "id":
				n, err := strconv.ParseUint(v, 10, 16)
				if err != nil {
					t.Fatalf("conntrack line %q: %s: %v", l, k, err)
				}
				switch k {
				case "sport":
					tu.Sport = uint16(n)
				case "dport":
					tu.Dport = uint16(n)
				case "type":
					tu.ICMPType = uint8(n)
				case "id":
					tu.ICMPID = uint16(n)
				}
			}
		}
		if srcs != 2 {
			t.Fatalf("conntrack line %q: want two tuples", l)
		}
		flows = append(flows, fl)
	}
	return flows
}

// nflabFlows is "nflab ct list" in ns, as ctFlows.
func nflabFlows(t *testing.T, ns netns) []ctFlow {
	t.Helper()
	var flows []ctFlow
	for _, e := range ctList(t, ns) {
		flows = append(flows, ctFlow{
			proto: e.Proto, orig: e.Orig, reply: e.Reply, state: e.TCPState,
			seenReply: e.has("SEEN_REPLY"), assured: e.has("ASSURED"), timeout: e.Timeout,
		})
	}
	return flows
}

// ctSet selects a scenario's flows: TCP and UDP by either port, ICMP
// entries all or none.
type ctSet struct {
	ports []uint16
	icmp  bool
}

func (s ctSet) has(f ctFlow) bool {
	if f.proto == "icmp" {
		return s.icmp
	}
	return slices.Contains(s.ports, f.orig.Sport) || slices.Contains(s.ports, f.orig.Dport)
}

// ctDiff is one difference between the trackers.
type ctDiff struct {
	where, flow, field, kernel, nflab string
}

// diffFlows compares the kernel's flows with nflab's, those in set only.
func diffFlows(where string, set ctSet, kernel, nflab []ctFlow) []ctDiff {
	var diffs []ctDiff
	byKey := func(fs []ctFlow, dup func(key string)) map[string]ctFlow {
		m := map[string]ctFlow{}
		for _, f := range fs {
			if !set.has(f) {
				continue
			}
			if _, ok := m[f.key()]; ok {
				dup(f.key())
			}
			m[f.key()] = f
		}
		return m
	}
	k := byKey(kernel, func(key string) {
		diffs = append(diffs, ctDiff{where, key, "entries for the flow", "more than one", "-"})
	})
	n := byKey(nflab, func(key string) {
		diffs = append(diffs, ctDiff{where, key, "entries for the flow", "-", "more than one"})
	})
	return append(diffs, diffMaps(where, k, n, true)...)
}

// diffMaps compares the kernel's flows with nflab's by key, their tuples
// too if tuples is set. A flow only one tracker has differs in presence,
// "presence (unassured)" if that tracker has not assured it.
func diffMaps(where string, kernel, nflab map[string]ctFlow, tuples bool) []ctDiff {
	keys := map[string]bool{}
	for x := range kernel {
		keys[x] = true
	}
	for x := range nflab {
		keys[x] = true
	}
	sorted := make([]string, 0, len(keys))
	for x := range keys {
		sorted = append(sorted, x)
	}
	sort.Strings(sorted)
	var diffs []ctDiff
	for _, x := range sorted {
		kf, inK := kernel[x]
		nf, inN := nflab[x]
		if inK && inN {
			diffs = append(diffs, diffFields(where, x, kf, nf, tuples)...)
			continue
		}
		field, kv, nv, held := "presence", "no entry", "no entry", kf
		if inK {
			kv = kf.String()
		} else {
			nv, held = nf.String(), nf
		}
		if !held.assured {
			field = "presence (unassured)"
		}
		diffs = append(diffs, ctDiff{where, x, field, kv, nv})
	}
	return diffs
}

// diffFields compares two entries for one flow, their tuples too if
// tuples is set.
func diffFields(where, flow string, kf, nf ctFlow, tuples bool) []ctDiff {
	var diffs []ctDiff
	add := func(field, kv, nv string) {
		if kv != nv {
			diffs = append(diffs, ctDiff{where, flow, field, kv, nv})
		}
	}
	if tuples {
		add("original tuple", kf.orig.text(kf.proto), nf.orig.text(nf.proto))
		add("reply tuple", kf.reply.text(kf.proto), nf.reply.text(nf.proto))
	}
	if kf.proto == "tcp" {
		add("TCP state", kf.state, nf.state)
	}
	add("SEEN_REPLY", strconv.FormatBool(kf.seenReply), strconv.FormatBool(nf.seenReply))
	add("ASSURED", strconv.FormatBool(kf.assured), strconv.FormatBool(nf.assured))
	add("timeout class", timeoutClass(kf.timeout), timeoutClass(nf.timeout))
	return diffs
}

// reportDiffs fails the test for every difference that is not an accepted
// deviation of check, and logs those that are.
func reportDiffs(t *testing.T, check string, diffs []ctDiff) {
	t.Helper()
	for _, d := range diffs {
		why := ""
		for _, dev := range oracleDeviations {
			if dev.check == check && dev.field == d.field {
				why = dev.why
			}
		}
		msg := fmt.Sprintf("%s: %s in %s, flow %s:\n\tkernel: %s\n\tnflab:  %s", check, d.field, d.where, d.flow, d.kernel, d.nflab)
		if why != "" {
			t.Logf("accepted deviation, %s\n\twhy: %s", msg, why)
		} else {
			t.Errorf("%s", msg)
		}
	}
}

// oracle is the topology with both trackers on in the router, and the
// verdict counts each had at the last check.
type oracle struct {
	tp                    *topology
	kInvalid, kRelated    int
	nInvalid, nRelated    uint64
	client, server        net.IP
	nobodyTCP, spoofedDst string // fake neighbours behind r1 and r0
}

func newOracle(t *testing.T, tp *topology) *oracle {
	t.Helper()
	o := &oracle{tp: tp, client: net.IPv4(10, 0, 1, 2), server: net.IPv4(10, 0, 2, 2),
		nobodyTCP: "10.0.2.99", spoofedDst: "10.0.1.3"}
	r := tp.router
	// A "ct state" rule makes the kernel track the router's traffic (it
	// loads nf_conntrack and registers its hooks in this namespace only)
	// and counts the packets it finds INVALID or RELATED. Priority -150
	// comes after both trackers' -200.
	r.run(t, "nft", "add table ip oracle")
	r.run(t, "nft", "add chain ip oracle pre { type filter hook prerouting priority -150 ; }")
	r.run(t, "nft", "add rule ip oracle pre ct state invalid counter")
	r.run(t, "nft", "add rule ip oracle pre ct state related counter")
	// Counters that show a packet to a black hole crossed the router.
	r.run(t, "nft", "add chain ip oracle fw { type filter hook forward priority 10 ; }")
	for _, a := range []string{o.nobodyTCP, o.spoofedDst} {
		r.run(t, "nft", "add rule ip oracle fw ip daddr "+a+" counter")
	}
	// The router sends to these addresses at once, to MACs nobody has.
	r.run(t, "ip", "neigh", "replace", o.nobodyTCP, "lladdr", "02:00:00:00:00:99", "dev", "r1", "nud", "permanent")
	r.run(t, "ip", "neigh", "replace", o.spoofedDst, "lladdr", "02:00:00:00:00:13", "dev", "r0", "nud", "permanent")

	// conntrack(8) reaches the kernel's table, and the table fills.
	tp.ping("client", "10.0.2.2", 1)
	waitFor(t, "the kernel's tracker list the router's echo flow", func() bool {
		return len(kernelFlows(t, r)) > 0
	})
	return o
}

// counts returns the kernel's INVALID and RELATED packet counts in the
// router and nflab's.
func (o *oracle) counts(t *testing.T) (kInv, kRel int, nInv, nRel uint64) {
	t.Helper()
	s := ctStats(t, o.tp.router)
	return nftPackets(t, o.tp.router, "ip oracle pre", "ct state invalid"),
		nftPackets(t, o.tp.router, "ip oracle pre", "ct state related"), s["invalid"], s["related"]
}

// begin starts a scenario: once no TCP connection is still closing in the
// client or the server (its packets would be picked up again), it flushes
// both trackers in the router and nflab in the other namespaces given,
// and takes the verdict counts.
func (o *oracle) begin(t *testing.T, also ...netns) {
	t.Helper()
	waitFor(t, "no TCP connection left open in the client and the server", func() bool {
		for _, ns := range []netns{o.tp.client, o.tp.server} {
			out := ns.run(t, "cat", "/proc/net/tcp")
			for _, l := range strings.Split(out, "\n")[1:] {
				// TIME_WAIT, CLOSE and LISTEN sockets send nothing.
				if f := strings.Fields(l); len(f) > 3 && f[3] != "06" && f[3] != "07" && f[3] != "0A" {
					return false
				}
			}
		}
		return true
	})
	o.tp.router.run(t, "conntrack", "-F")
	for _, ns := range append([]netns{o.tp.router}, also...) {
		ns.run(t, "nflab", "ct", "flush")
	}
	o.kInvalid, o.kRelated, o.nInvalid, o.nRelated = o.counts(t)
}

// check compares the router's two tables, the set's flows only, and the
// packets each tracker found INVALID or RELATED since the last check; and
// nflab's table in each of views with the kernel's in the router.
func (o *oracle) check(t *testing.T, name string, set ctSet, views ...netns) {
	t.Helper()
	kernel := kernelFlows(t, o.tp.router)
	diffs := diffFlows("router", set, kernel, nflabFlows(t, o.tp.router))
	kInv, kRel, nInv, nRel := o.counts(t)
	for _, c := range []struct {
		field  string
		kernel int
		nflab  uint64
	}{
		{"INVALID packets", kInv - o.kInvalid, nInv - o.nInvalid},
		{"RELATED packets", kRel - o.kRelated, nRel - o.nRelated},
	} {
		if uint64(c.kernel) != c.nflab {
			diffs = append(diffs, ctDiff{"router", "(all packets since the last check)", c.field,
				strconv.Itoa(c.kernel), strconv.FormatUint(c.nflab, 10)})
		}
	}
	o.kInvalid, o.kRelated, o.nInvalid, o.nRelated = kInv, kRel, nInv, nRel
	for _, ns := range views {
		diffs = append(diffs, diffFlows("nflab's table in "+string(ns)+" (kernel: the router's)",
			set, kernel, nflabFlows(t, ns))...)
	}
	var in []string
	for _, f := range kernel {
		if set.has(f) {
			in = append(in, f.String())
		}
	}
	t.Logf("%s: the kernel's entries: %q", name, in)
	reportDiffs(t, name, diffs)
}

// setTimeouts gives both trackers the oracle timeouts: the kernel's in
// the router, nflab's in every namespace of the topology.
func (o *oracle) setTimeouts(t *testing.T) {
	t.Helper()
	args := []string{"nflab", "ct", "config"}
	for _, c := range ctTimeouts {
		for _, k := range c.kernel {
			o.tp.router.run(t, "sysctl", "-qw", fmt.Sprintf("net.netfilter.%s=%d", k, c.oracle))
		}
		if c.nflab != "" {
			args = append(args, "--timeout", fmt.Sprintf("%s=%d", c.nflab, c.oracle))
		}
	}
	for _, ns := range []netns{o.tp.client, o.tp.router, o.tp.server} {
		ns.run(t, args...)
	}
}

func TestOracle(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	o := newOracle(t, tp)
	t.Run("defaults", o.defaults)
	o.setTimeouts(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"drop-forward", func(t *testing.T) { o.dropFirst(t, "drop-forward", "forward", -10, 7501) }},
		{"drop-prerouting", func(t *testing.T) { o.dropFirst(t, "drop-prerouting", "prerouting", 0, 7511) }},
		{"fragments", o.fragments},
		{"tcp-syn-retrans", o.synRetrans},
		{"tcp-data-retrans", o.dataRetrans},
		{"tcp-rst", o.resets},
		{"tcp-stray-ack", o.strayACK},
		{"icmp-errors", o.icmpErrors},
		{"udp", o.udp},
		{"limit", o.limit},
	} {
		t.Run(sc.name, sc.run)
	}
}

// defaults compares the trackers' default timeouts and TCP pickup, before
// the test changes them.
func (o *oracle) defaults(t *testing.T) {
	var cfg struct {
		TCPLoose bool           `json:"tcp_loose"`
		Timeouts map[string]int `json:"timeouts"`
	}
	nflabIn(t, o.tp.router, &cfg, "ct", "config")
	sysctl := func(name string) string {
		return strings.TrimSpace(o.tp.router.run(t, "sysctl", "-n", "net.netfilter."+name))
	}
	var diffs []ctDiff
	known := map[string]bool{}
	for _, c := range ctTimeouts {
		if c.nflab == "" {
			continue
		}
		known[c.nflab] = true
		if k, n := sysctl(c.kernel[0]), strconv.Itoa(cfg.Timeouts[c.nflab]); k != n {
			diffs = append(diffs, ctDiff{"router", "-", "default " + c.class + " timeout", k, n})
		}
	}
	for name := range cfg.Timeouts {
		if !known[name] {
			t.Errorf("nflab has a timeout %q that ctTimeouts does not pair with the kernel's: add it", name)
		}
	}
	loose := "false"
	if sysctl("nf_conntrack_tcp_loose") == "1" {
		loose = "true"
	}
	if n := strconv.FormatBool(cfg.TCPLoose); n != loose {
		diffs = append(diffs, ctDiff{"router", "-", "default TCP pickup", loose, n})
	}
	reportDiffs(t, "defaults", diffs)
}

// dropFirst: a rule in the router drops the first packet of a UDP flow, a
// TCP SYN and an echo request at hook and priority, after both trackers
// made their entries and before either confirmed them. Neither may keep one.
func (o *oracle) dropFirst(t *testing.T, name, hook string, prio int, port uint16) {
	o.begin(t)
	r := o.tp.router
	r.run(t, "nft", "add table ip oracle_drop")
	t.Cleanup(func() { _, _ = r.try("nft", "delete table ip oracle_drop") })
	r.run(t, "nft", fmt.Sprintf("add chain ip oracle_drop c { type filter hook %s priority %d ; }", hook, prio))
	r.run(t, "nft", "add rule ip oracle_drop c ip daddr 10.0.2.2 counter drop")
	dropped := func() int { return nftPackets(t, r, "ip oracle_drop c", "daddr 10.0.2.2") }

	udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", port), []byte("x"))
	sendRawTCP(t, "client", o.server, tcpSegment(o.client, o.server, 40000+port, port+1, 1, 0, 0x02))
	_, _ = o.tp.client.try("ping", "-c", "1", "-W", "1", "10.0.2.2")
	waitFor(t, "the router drop the three first packets", func() bool {
		return dropped() >= 3
	})

	// Then packets neither tracker tracks cross the router, TCP segments
	// without flags (INVALID) and the server's resets: none may confirm
	// what a dropped first packet left between the hooks.
	r.run(t, "nft", "delete table ip oracle_drop")
	resets := rawTCPIn(t, "client")
	for seq := range uint32(8) {
		sendRawTCP(t, "client", o.server, tcpSegment(o.client, o.server, 40000+port, port+2, seq, 0, 0))
	}
	// The server answers each with a reset, acknowledging it.
	for seq := range uint32(8) {
		nextSegment(t, resets, "the server's reset", func(th []byte) bool {
			return binary.BigEndian.Uint16(th[0:]) == port+2 && th[13]&0x04 != 0 &&
				binary.BigEndian.Uint32(th[8:]) == seq
		})
	}
	o.check(t, name, ctSet{ports: []uint16{port, port + 1, port + 2}, icmp: true})
}

// fragments: a 4000-byte ping and a 4000-byte UDP datagram cross the
// 1500-byte links in fragments: one flow each.
func (o *oracle) fragments(t *testing.T) {
	o.begin(t, o.tp.client, o.tp.server)
	// ping returns once the reply is in: every fragment crossed the router.
	o.tp.client.run(t, "ping", "-q", "-c", "1", "-W", "30", "-s", "4000", "10.0.2.2")
	sink := udpIn(t, "server", ":7521", "")
	udpSend(t, "client", ":0", "10.0.2.2:7521", make([]byte, 4000))
	readN(t, sink, make([]byte, 4000))
	o.check(t, "fragments", ctSet{ports: []uint16{7521}, icmp: true}, o.tp.client, o.tp.server)
}

// serverRules makes a table ip oracle_srv in the server with one chain on
// hook and one rule; it returns a function that deletes the table.
func (o *oracle) serverRules(t *testing.T, hook, rule string) (packets func() int, remove func()) {
	t.Helper()
	s := o.tp.server
	s.run(t, "nft", "add table ip oracle_srv")
	remove = func() { _, _ = s.try("nft", "delete table ip oracle_srv") }
	t.Cleanup(remove)
	s.run(t, "nft", fmt.Sprintf("add chain ip oracle_srv c { type filter hook %s priority 0 ; }", hook))
	s.run(t, "nft", "add rule ip oracle_srv c "+rule+" counter drop")
	return func() int { return nftPackets(t, s, "ip oracle_srv c", "counter") }, remove
}

// synRetrans: the server drops the client's first SYN; a retransmitted
// one opens the connection.
func (o *oracle) synRetrans(t *testing.T) {
	o.begin(t)
	set := ctSet{ports: []uint16{7531}}
	dropped, remove := o.serverRules(t, "input", "tcp dport 7531")
	ln := listenIn(t, "server", ":7531")
	// A client that connects, retrying its SYN, and then keeps the
	// connection open until the server closes it.
	cl := exec.Command("ip", "netns", "exec", "client", "socat", "-u", "TCP4:10.0.2.2:7531,connect-timeout=600", "/dev/null")
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Process.Kill(); _ = cl.Wait() })
	// The SYN reached the server's filter: it crossed the router.
	waitFor(t, "the server drop the first SYN", func() bool { return dropped() >= 1 })
	o.check(t, "syn-retrans-dropped", set)

	remove()
	acceptOne(t, ln) // the handshake's last ACK crossed the router
	o.check(t, "syn-retrans-established", set)
}

// dataRetrans: the server drops a data segment and its retransmissions
// until the test lets one through.
func (o *oracle) dataRetrans(t *testing.T) {
	o.begin(t)
	set := ctSet{ports: []uint16{7541}}
	cl, _ := connPair(t, "client", "server", ":7541", "10.0.2.2:7541")
	dropped, remove := o.serverRules(t, "input", "tcp dport 7541 ip length > 100")
	if _, err := cl.Write(make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	// Past the trackers' threshold of three retransmissions, and a fourth:
	// whichever retransmission comes between the reads of the two tables,
	// both have counted enough of them to cap the timeout alike.
	waitFor(t, "the segment and four retransmissions reach the server", func() bool { return dropped() >= 5 })
	o.check(t, "data-retrans-dropped", set)

	remove()
	// The client knows the data acknowledged: the ACK crossed the router.
	waitFor(t, "the server acknowledge the data", func() bool { return tcpUnacked(t, cl) == 0 })
	o.check(t, "data-retrans-acked", set)
}

// resets: RSTs crafted in the client's name on an established connection,
// outside the server's window, inside it but not at the next sequence
// number, and exact.
func (o *oracle) resets(t *testing.T) {
	o.begin(t)
	const port = 7551
	set := ctSet{ports: []uint16{port}}
	cl, sv := connPair(t, "client", "server", fmt.Sprintf(":%d", port), fmt.Sprintf("10.0.2.2:%d", port))
	sport := uint16(cl.LocalAddr().(*net.TCPAddr).Port)
	buf := make([]byte, 5)
	// cn: the client's next sequence number, as the server acknowledged it.
	_, cn := peerSeqs(t, "client", port, sport, func() {
		if _, err := cl.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		readN(t, sv, buf)
		if _, err := sv.Write(buf); err != nil {
			t.Fatal(err)
		}
		readN(t, cl, buf)
	})
	// Nothing left unacknowledged: the last packet each tracker saw
	// settles the timeout on the established one.
	waitFor(t, "both sides' data acknowledged", func() bool {
		return tcpUnacked(t, cl) == 0 && tcpUnacked(t, sv) == 0
	})
	o.check(t, "rst-established", set)

	arrivals := rawTCPIn(t, "server")
	rst := func(seq uint32) {
		t.Helper()
		sendRawTCP(t, "client", o.server, tcpSegment(o.client, o.server, sport, port, seq, 0, 0x04))
		nextSegment(t, arrivals, "the crafted RST", func(th []byte) bool {
			return th[13] == 0x04 && binary.BigEndian.Uint16(th[0:]) == sport &&
				binary.BigEndian.Uint32(th[4:]) == seq
		})
	}
	rst(cn + 1<<30)
	o.check(t, "rst-out-of-window", set)

	// The server answers an in-window RST with a challenge ACK (RFC 5961),
	// which would move both trackers on: it stays in the server.
	_, remove := o.serverRules(t, "output", fmt.Sprintf("tcp sport %d", port))
	rst(cn + 1)
	o.check(t, "rst-in-window", set)
	remove()

	rst(cn)
	o.check(t, "rst-exact", set)
}

// strayACK: ACKs of connections nobody has seen, which loose pickup
// tracks: one to an address that never answers, one the server resets.
func (o *oracle) strayACK(t *testing.T) {
	o.begin(t)
	r := o.tp.router
	nobody := net.ParseIP(o.nobodyTCP)
	before := nftPackets(t, r, "ip oracle fw", o.nobodyTCP)
	sendRawTCP(t, "client", nobody, tcpSegment(o.client, nobody, 40561, 7561, 1000, 2000, 0x10))
	waitFor(t, "the router forward the stray ACK", func() bool {
		return nftPackets(t, r, "ip oracle fw", o.nobodyTCP) > before
	})
	o.check(t, "stray-ack-unanswered", ctSet{ports: []uint16{7561}})

	arrivals := rawTCPIn(t, "client")
	sendRawTCP(t, "client", o.server, tcpSegment(o.client, o.server, 40562, 7562, 1000, 2000, 0x10))
	nextSegment(t, arrivals, "the server's RST", func(th []byte) bool {
		return binary.BigEndian.Uint16(th[0:]) == 7562 && th[13]&0x04 != 0
	})
	o.check(t, "stray-ack-reset", ctSet{ports: []uint16{7562}})
}

// icmpErrors: a genuine port unreachable from the server, and one the
// server makes up about a real flow but sends to another host.
func (o *oracle) icmpErrors(t *testing.T) {
	o.begin(t)
	// The error reached the client: it crossed the router.
	if err := udpRefused(t, "client", "10.0.2.2:7571"); err != nil {
		t.Fatalf("a datagram to a closed port: %v", err)
	}
	o.check(t, "icmp-error-genuine", ctSet{ports: []uint16{7571}, icmp: true})

	sink := udpIn(t, "server", ":7572", "")
	c2 := udpIn(t, "client", ":0", "10.0.2.2:7572")
	if _, err := c2.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	readN(t, sink, make([]byte, 1))
	sport := c2.LocalAddr().(*net.UDPAddr).Port
	quote := []byte{
		0x45, 0, 0, 29, 0, 0, 0, 0, 64, 17, 0, 0, // IPv4, 29 bytes, UDP
		10, 0, 1, 2, 10, 0, 2, 2, // the client to the server
		byte(sport >> 8), byte(sport), 7572 >> 8, 7572 & 0xff, 0, 9, 0, 0,
	}
	r := o.tp.router
	before := nftPackets(t, r, "ip oracle fw", o.spoofedDst)
	sendICMPError(t, "server", o.spoofedDst, 3, 3, quote)
	waitFor(t, "the router forward the spoofed error", func() bool {
		return nftPackets(t, r, "ip oracle fw", o.spoofedDst) > before
	})
	o.check(t, "icmp-error-spoofed", ctSet{ports: []uint16{7572}, icmp: true})
}

// udp: a one-shot request and reply, and a stream that goes on more than
// 2 s after its first packet.
func (o *oracle) udp(t *testing.T) {
	o.begin(t)
	udpEchoIn(t, "server", ":7581")
	udpRequest(t, "client", ":0", "10.0.2.2:7581", []byte("q"))
	o.check(t, "udp-oneshot", ctSet{ports: []uint16{7581}})

	udpEchoIn(t, "server", ":7582")
	c := udpIn(t, "client", ":0", "10.0.2.2:7582")
	start := time.Now()
	for i := range 2 {
		if i == 1 {
			// The kernel calls a flow a stream when it still has
			// traffic 2 s after its first packet.
			time.Sleep(3*time.Second - time.Since(start))
		}
		if _, err := c.Write([]byte("s")); err != nil {
			t.Fatal(err)
		}
		readN(t, c, make([]byte, 1))
	}
	o.check(t, "udp-stream", ctSet{ports: []uint16{7582}})
}

// limitedFlows is one tracker's entries for the limit scenario's flows,
// by their destination port's offset from base.
func limitedFlows(flows []ctFlow, base uint16) map[string]ctFlow {
	m := map[string]ctFlow{}
	for _, f := range flows {
		if f.orig.Dport > base && f.orig.Dport <= base+8 {
			m[fmt.Sprintf("%s to port +%d", f.proto, f.orig.Dport-base)] = f
		}
	}
	return m
}

// limit: the same traffic twice, once with the kernel's table limited and
// once with nflab's; each time the other tracker has room to spare. (A
// tracker that drops a packet hides it from the other, so the two cannot
// be limited at once.) First three held TCP connections fill a table of
// three, and a UDP datagram and a SYN find no room; then, with room for
// five, two unanswered UDP flows take the last places and a third one
// finds the table full of unassured entries to evict.
func (o *oracle) limit(t *testing.T) {
	r := o.tp.router
	kernelMax := strings.TrimSpace(mustRun(t, "sysctl", "-n", "net.netfilter.nf_conntrack_max"))
	t.Cleanup(func() { mustRun(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_max="+kernelMax) })
	var lim struct {
		Limit int `json:"limit"`
	}
	nflabIn(t, r, &lim, "ct", "count")
	nflabLimit := lim.Limit

	// Where each limit lives: set in the router, seen in the client?
	kernelScope := "per namespace"
	if _, err := r.try("sysctl", "-qw", "net.netfilter.nf_conntrack_max=100"); err != nil {
		kernelScope = "global, set in the initial namespace only"
	}
	r.run(t, "nflab", "ct", "config", "--limit", strconv.Itoa(nflabLimit+1))
	nflabIn(t, o.tp.client, &lim, "ct", "count")
	nflabScope := "global"
	if lim.Limit != nflabLimit+1 {
		nflabScope = "per namespace"
	}
	r.run(t, "nflab", "ct", "config", "--limit", strconv.Itoa(nflabLimit))
	if kernelScope != nflabScope {
		reportDiffs(t, "limit-scope", []ctDiff{{"router", "-", "limit scope", kernelScope, nflabScope}})
	}

	var full, evict [2]map[string]ctFlow
	for i, limited := range []string{"kernel", "nflab"} {
		base := uint16(7600 + 20*i)
		o.begin(t)
		waitFor(t, "both tables empty", func() bool { return kernelCount(t, r) == 0 && ctCount(t, r) == 0 })
		setLimit := func(n int) {
			t.Helper()
			if limited == "kernel" {
				mustRun(t, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_max=%d", n))
			} else {
				r.run(t, "nflab", "ct", "config", "--limit", strconv.Itoa(n))
			}
		}
		// The limited tracker's drops and early drops.
		dropped := func() uint64 {
			t.Helper()
			s := ctStats(t, r)
			if limited == "kernel" {
				s = kernelStats(t, r)
			}
			return s["drop"] + s["early_drop"]
		}
		flows := func() map[string]ctFlow {
			t.Helper()
			if limited == "kernel" {
				return limitedFlows(kernelFlows(t, r), base)
			}
			return limitedFlows(nflabFlows(t, r), base)
		}
		sinks := map[uint16]*net.UDPConn{}
		for _, p := range []uint16{4, 6, 7, 8} {
			sinks[p] = udpIn(t, "server", fmt.Sprintf(":%d", base+p), "")
		}
		send := func(p uint16) {
			t.Helper()
			udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", base+p), []byte("u"))
		}

		setLimit(3)
		var conns []*net.TCPConn
		for p := base + 1; p <= base+3; p++ {
			c, s := connPair(t, "client", "server", fmt.Sprintf(":%d", p), fmt.Sprintf("10.0.2.2:%d", p))
			conns = append(conns, c, s)
		}
		d := dropped()
		send(4)
		sendRawTCP(t, "client", o.server, tcpSegment(o.client, o.server, 40000+base, base+5, 1, 0, 0x02))
		waitFor(t, "the "+limited+" tracker drop both new flows", func() bool { return dropped() >= d+2 })
		full[i] = flows()

		setLimit(5)
		for _, p := range []uint16{6, 7} {
			send(p)
			readN(t, sinks[p], make([]byte, 1))
		}
		d = dropped()
		send(8)
		waitFor(t, "the "+limited+" tracker evict or drop for the last flow", func() bool { return dropped() >= d+1 })
		evict[i] = flows()

		if limited == "kernel" {
			setLimit(mustAtoi(t, kernelMax))
		} else {
			setLimit(nflabLimit)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	t.Logf("kernel limited: %v\n\tthen %v", full[0], evict[0])
	t.Logf("nflab limited: %v\n\tthen %v", full[1], evict[1])
	for _, c := range []struct {
		name          string
		kernel, nflab map[string]ctFlow
	}{{"limit-full", full[0], full[1]}, {"limit-evict", evict[0], evict[1]}} {
		var diffs []ctDiff
		if len(c.kernel) != len(c.nflab) {
			diffs = append(diffs, ctDiff{"router", "-", "entries", strconv.Itoa(len(c.kernel)), strconv.Itoa(len(c.nflab))})
		}
		// Not the tuples: the two runs' flows have other ports.
		reportDiffs(t, c.name, append(diffs, diffMaps("router", c.kernel, c.nflab, false)...))
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// kernelCount is "conntrack -C" in ns.
func kernelCount(t *testing.T, ns netns) int {
	t.Helper()
	return mustAtoi(t, strings.TrimSpace(ns.run(t, "conntrack", "-C")))
}

// kernelStats sums "conntrack -S" over the CPUs in ns.
func kernelStats(t *testing.T, ns netns) map[string]uint64 {
	t.Helper()
	s := map[string]uint64{}
	for _, tok := range strings.Fields(ns.run(t, "conntrack", "-S")) {
		if k, v, ok := strings.Cut(tok, "="); ok && k != "cpu" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("conntrack -S: %q: %v", tok, err)
			}
			s[k] += n
		}
	}
	return s
}

// tcpUnacked is how many segments c has sent that its peer has not
// acknowledged.
func tcpUnacked(t *testing.T, c *net.TCPConn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return info.Unacked
}
