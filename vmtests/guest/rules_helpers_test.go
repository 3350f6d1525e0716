//go:build nflabvm

// Helpers of the rule engine's end-to-end tests (rules_*_test.go): rulesets
// applied and rules read back through the CLI, a packet capture on an
// interface, dials that may fail, and the kernel log.
package guest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// ruleCase is one case of a rule engine test sharing a topology.
type ruleCase struct {
	name string
	f    func(*testing.T, *topology)
}

// runRuleCases loads the module, builds the topology of hooks_test.go once
// and runs each case on it as a subtest. Every case starts from empty
// rulesets, no tracked connections and zeroed hook counters in all three
// namespaces (through the library: an exec costs much more under TCG).
func runRuleCases(t *testing.T, cases []ruleCase) {
	loadModule(t)
	tp := newTopology(t)
	var cls []*nflab.Client
	for _, ns := range []netns{tp.client, tp.router, tp.server} {
		cls = append(cls, dialNS(t, string(ns)))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			for _, cl := range cls {
				if _, err := cl.ApplyRuleset(ctx, nftypes.Ruleset{}, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := cl.DeleteConns(ctx, nftypes.ConnFilter{}); err != nil {
					t.Fatal(err)
				}
				if err := cl.ResetHookStats(ctx); err != nil {
					t.Fatal(err)
				}
			}
			c.f(t, &topology{t: t, client: tp.client, router: tp.router, server: tp.server})
		})
	}
}

// applyIn replaces ns's ruleset with text ("nflab rules apply -f").
func applyIn(t *testing.T, ns netns, text string) {
	t.Helper()
	if out, code := applyInCode(t, ns, text); code != 0 {
		t.Fatalf("applying in %s (exit %d):\n%s\n%s", ns, code, text, out)
	}
}

// applyInCode runs "nflab rules apply" in ns and returns its combined
// output and exit status.
func applyInCode(t *testing.T, ns netns, text string) (string, int) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "rules-*.nft")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return runCode(t, "ip", "netns", "exec", string(ns), "nflab", "rules", "apply", "-f", f.Name())
}

// ruleJSON is one rule of "nflab rule list -v -o json".
type ruleJSON struct {
	Handle    uint64  `json:"handle"`
	Table     string  `json:"table"`
	Chain     string  `json:"chain"`
	Rule      string  `json:"rule"`
	Comment   string  `json:"comment"`
	Packets   uint64  `json:"packets"`
	Bytes     uint64  `json:"bytes"`
	QuotaUsed *uint64 `json:"quota_used"`
}

// ruleList returns ns's rules by comment, as "nflab rule list -v" shows them.
func ruleList(t *testing.T, ns netns) map[string]ruleJSON {
	t.Helper()
	var v struct {
		Rules []ruleJSON `json:"rules"`
	}
	ns.nflabJSON(t, &v, "rule", "list", "-v")
	m := map[string]ruleJSON{}
	for _, r := range v.Rules {
		if r.Comment != "" {
			m[r.Comment] = r
		}
	}
	return m
}

// wantPackets checks the packet counters of the rules with these comments.
func wantPackets(t *testing.T, ns netns, want map[string]uint64) {
	t.Helper()
	got := ruleList(t, ns)
	for c, w := range want {
		r, ok := got[c]
		if !ok {
			t.Errorf("%s: no rule with comment %q", ns, c)
		} else if r.Packets != w {
			t.Errorf("%s: rule %q (%s) matched %d packets, want %d", ns, c, r.Rule, r.Packets, w)
		}
	}
}

// saveIn returns "nflab rules save" in ns.
func saveIn(t *testing.T, ns netns) string {
	t.Helper()
	return ns.run(t, "nflab", "rules", "save")
}

// dialErr dials addr over TCP from namespace ns with a time limit and
// returns the connection (closed when the test ends) or the error.
func dialErr(t *testing.T, ns, addr string, timeout time.Duration) (*net.TCPConn, error) {
	t.Helper()
	var c net.Conn
	var derr error
	inNetns(t, ns, func() error {
		d := net.Dialer{Timeout: timeout}
		c, derr = d.Dial("tcp4", addr)
		return nil
	})
	if derr != nil {
		return nil, derr
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), nil
}

// dialAsync starts a TCP dial of addr from namespace ns; cancel ends it.
// The dial's error (or nil) arrives on the channel.
func dialAsync(t *testing.T, ns, addr string) (result <-chan error, cancel func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		if err := enterNetns(ns); err != nil {
			errc <- err
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", addr)
		if c != nil {
			c.Close()
		}
		errc <- err
	}()
	t.Cleanup(cancel)
	return errc, cancel
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capture is an AF_PACKET socket on one interface of a namespace: it sees
// the IPv4 packets the interface receives and those it sends, in order.
type capture struct {
	fd int
}

// capturedPkt is one IPv4 packet on the wire.
type capturedPkt struct {
	out bool   // sent by the interface's namespace
	ip  []byte // from the IP header on
}

// captureOn opens a capture on interface dev of namespace ns, closed when
// the test ends. It sees every packet after it returns.
func captureOn(t *testing.T, ns, dev string) *capture {
	t.Helper()
	c := &capture{fd: -1}
	inNetns(t, ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		// SOCK_DGRAM: the link header is cut off; ETH_P_ALL: outgoing
		// packets too (dev_queue_xmit_nit serves only the ETH_P_ALL taps).
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	t.Cleanup(func() { unix.Close(c.fd) })
	return c
}

// drain returns the IPv4 packets captured so far. A packet a hook of the
// receiving namespace has seen is already queued here (the taps run before
// the IP layer), and so is one the sending namespace's device sent.
func (c *capture) drain(t *testing.T) []capturedPkt {
	t.Helper()
	var pkts []capturedPkt
	buf := make([]byte, 65536)
	for {
		n, from, err := unix.Recvfrom(c.fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return pkts
		}
		if err != nil {
			t.Fatalf("capture: %v", err)
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Protocol != htons(unix.ETH_P_IP) {
			continue
		}
		pkts = append(pkts, capturedPkt{out: ll.Pkttype == unix.PACKET_OUTGOING, ip: append([]byte(nil), buf[:n]...)})
	}
}

// wireSeg is what a test looks at in a captured TCP segment.
type wireSeg struct {
	out          bool
	sport, dport uint16
	flags        byte
	ipLen        int
}

// wireSegs returns the TCP segments of pkts to or from port.
func wireSegs(pkts []capturedPkt, port uint16) []wireSeg {
	var segs []wireSeg
	for _, p := range pkts {
		if len(p.ip) < 20 || p.ip[9] != unix.IPPROTO_TCP {
			continue
		}
		hl := int(p.ip[0]&0xf) * 4
		if len(p.ip) < hl+14 {
			continue
		}
		s := wireSeg{
			out:   p.out,
			sport: binary.BigEndian.Uint16(p.ip[hl:]),
			dport: binary.BigEndian.Uint16(p.ip[hl+2:]),
			flags: p.ip[hl+13],
			ipLen: int(binary.BigEndian.Uint16(p.ip[2:])),
		}
		if s.sport == port || s.dport == port {
			segs = append(segs, s)
		}
	}
	return segs
}

// logAllNetns sets net.netfilter.nf_log_all_netns, which lets namespaces
// other than the first log (as the kernel's LOG, nflab's log action obeys
// it), and puts the old value back when the test ends.
func logAllNetns(t *testing.T, on bool) {
	t.Helper()
	const p = "/proc/sys/net/netfilter/nf_log_all_netns"
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	v := "0\n"
	if on {
		v = "1\n"
	}
	if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(p, old, 0o644) })
}

// kmsg reads the kernel log from where it ended when kmsgTail was called.
type kmsg struct{ fd int }

func kmsgTail(t *testing.T) *kmsg {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &kmsg{fd}
}

// lines returns the messages logged since the last call (or kmsgTail).
func (k *kmsg) lines(t *testing.T) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return out
		case errors.Is(err, unix.EPIPE):
			continue // overwritten records: go on with the next one
		case err != nil:
			t.Fatalf("/dev/kmsg: %v", err)
		}
		rec := string(buf[:n])
		if i := strings.IndexByte(rec, ';'); i >= 0 {
			rec = rec[i+1:]
		}
		out = append(out, strings.TrimRight(strings.SplitN(rec, "\n", 2)[0], "\n"))
	}
}

// grepLines returns the lines that contain s.
func grepLines(lines []string, s string) []string {
	var m []string
	for _, l := range lines {
		if strings.Contains(l, s) {
			m = append(m, l)
		}
	}
	return m
}

// ssLines returns the sockets "ss -tnH ARGS" lists in ns, one a line.
func ssLines(t *testing.T, ns netns, args ...string) []string {
	t.Helper()
	out := ns.run(t, append([]string{"ss", "-tnH"}, args...)...)
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// isErrno tells whether err (from net or a syscall) is errno e.
func isErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }
