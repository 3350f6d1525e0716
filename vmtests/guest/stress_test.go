//go:build nflabvm

// Concurrency stress on two or more vCPUs. The senders are OS threads
// pinned to one CPU each (sched_setaffinity) in the client's namespace,
// sending crafted UDP on raw sockets. A veth hands what it transmits to the
// peer namespace on the sending CPU (netif_rx onto that CPU's backlog, run
// as the transmit re-enables bottom halves), so the router's hooks run on
// every CPU at once:
//
//	 ns client                    ns router                   ns server
//	+------------------+      +---------------------+      +-------------+
//	| c0 10.0.1.2      | veth | r0            r1    | veth | s0          |
//	| a sender thread  +------+ 10.0.1.1  10.0.2.1  +------+ 10.0.2.2    |
//	| pinned per CPU   |      | 10.0.2.99 is at a   |      | drops what  |
//	+------------------+      | MAC nobody has      |      | is not its  |
//	                          +---------------------+      +-------------+
//
// Datagrams go to 10.0.2.99: they cross all of the router's hooks, its
// confirming one included, and die quietly on the server's link (a frame
// for another MAC): no reply, no ICMP error. Every entry stays UNREPLIED
// and counts exactly the packets sent. The suite's kernel log check
// (KASAN, lockdep, kmemleak, the module's own leak warnings at namespace
// exit and unload) judges each run as well.
package guest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

const (
	// sinkAddr is the router's neighbour with a MAC nobody has.
	sinkAddr = "10.0.2.99"
	// sinkPort is the destination port of every stress datagram.
	sinkPort = 9000
)

// stressRounds is the size of every stress test, set per lab kernel
// (vmtests/internal/vm/budget.go).
func stressRounds() int { return envInt("NFLAB_STRESS", 100) }

// stressCPUs returns how many CPUs the guest has. A stress test on one CPU
// proves little, so fewer than two, or fewer than the harness asked for,
// fail the test.
func stressCPUs(t *testing.T) int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	n := set.Count()
	if want := envInt("NFLAB_VCPUS", 0); want != 0 && n != want {
		t.Fatalf("the guest has %d CPUs, the harness asked for %d (NFLAB_VCPUS)", n, want)
	}
	if n < 2 {
		t.Fatalf("the guest has %d CPU: the stress tests need two or more (NFLAB_VCPUS)", n)
	}
	return n
}

// stressTopology is the client-router-server topology with the router's
// silent neighbour.
func stressTopology(t *testing.T) *topology {
	t.Helper()
	tp := newTopology(t)
	tp.router.run(t, "ip", "neigh", "replace", sinkAddr, "lladdr", "02:00:00:00:00:99", "dev", "r1", "nud", "permanent")
	return tp
}

// cpuThread is an OS thread pinned to one CPU inside one network
// namespace, running the functions it is given one at a time. Closing it
// ends the thread, and with it the thread's hold on the namespace.
type cpuThread struct {
	cpu   int
	work  chan func() error
	done  chan error
	close func()
}

// newCPUThread starts a thread on cpu in namespace ns; it ends when the
// test does, or earlier through close.
func newCPUThread(t *testing.T, cpu int, ns string) *cpuThread {
	t.Helper()
	c := &cpuThread{cpu: cpu, work: make(chan func() error), done: make(chan error, 1)}
	c.close = sync.OnceFunc(func() { close(c.work) })
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		var set unix.CPUSet
		set.Set(cpu)
		err := unix.SchedSetaffinity(0, &set)
		if err == nil {
			err = enterNetns(ns)
		}
		ready <- err
		if err != nil {
			return
		}
		for f := range c.work {
			c.done <- f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("a thread on CPU %d in %s: %v", cpu, ns, err)
	}
	t.Cleanup(c.close)
	return c
}

// cpuThreads starts one thread per CPU in namespace ns.
func cpuThreads(t *testing.T, cpus int, ns string) []*cpuThread {
	t.Helper()
	ths := make([]*cpuThread, cpus)
	for i := range ths {
		ths[i] = newCPUThread(t, i, ns)
	}
	return ths
}

// start runs f(i) on every thread i at once; wait collects the results.
// Each start needs its wait before the next.
func start(ths []*cpuThread, f func(i int) error) {
	for i, th := range ths {
		th.work <- func() error { return f(i) }
	}
}

// wait waits for what start began on every thread and returns the
// threads' errors.
func wait(ths []*cpuThread) error {
	var errs []error
	for _, th := range ths {
		if err := <-th.done; err != nil {
			errs = append(errs, fmt.Errorf("CPU %d: %w", th.cpu, err))
		}
	}
	return errors.Join(errs...)
}

// rawSockets opens an IPPROTO_RAW socket on every thread, in its namespace.
// They are closed when the test ends, or earlier by closeAll.
func rawSockets(t *testing.T, ths []*cpuThread) (fds []int, closeAll func()) {
	t.Helper()
	fds = make([]int, len(ths))
	for i := range fds {
		fds[i] = -1
	}
	closeAll = sync.OnceFunc(func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	t.Cleanup(closeAll)
	start(ths, func(i int) error {
		var err error
		fds[i], err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err := wait(ths); err != nil {
		t.Fatal(err)
	}
	return fds, closeAll
}

// udpPacket is a whole IPv4 packet for IPPROTO_RAW carrying a datagram
// with no checksum (zero: allowed for UDP over IPv4).
func udpPacket(src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	return ipv4Packet(src, dst, unix.IPPROTO_UDP, append(u, payload...))
}

// stressDatagram is the client's datagram from sport to the sink.
func stressDatagram(sport uint16) []byte {
	return udpPacket(net.IPv4(10, 0, 1, 2), net.ParseIP(sinkAddr), sport, sinkPort, []byte("stress"))
}

var sinkSockaddr = &unix.SockaddrInet4{Addr: [4]byte{10, 0, 2, 99}}

// clientIn dials the nflab module from namespace ns; the client stays in
// ns and is closed when the test ends.
func clientIn(t *testing.T, ns string) *nflab.Client {
	t.Helper()
	var c *nflab.Client
	inNetns(t, ns, func() error {
		var err error
		c, err = nflab.Dial(nil)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// sinkFilter selects the entries of the stress datagrams.
var sinkFilter = nftypes.ConnFilter{Proto: nftypes.UDP, DstPort: sinkPort}

// softnetProcessed reads how many packets each CPU's receive softirq has
// processed (/proc/net/softnet_stat, first column, one line per CPU).
func softnetProcessed(t *testing.T) []uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		t.Fatal(err)
	}
	var n []uint64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			t.Fatalf("softnet_stat line %q: %v", l, err)
		}
		n = append(n, v)
	}
	return n
}

// checkEveryCPU fails the test unless CPU i's receive softirq processed
// at least want[i] packets since before (softnetProcessed): what a thread
// pinned to CPU i sends is received there, so the router's hooks ran on
// every CPU.
func checkEveryCPU(t *testing.T, before []uint64, want []int64) {
	t.Helper()
	after := softnetProcessed(t)
	if len(after) != len(before) || len(after) < len(want) {
		t.Fatalf("softnet_stat had %d CPUs, now %d; %d senders", len(before), len(after), len(want))
	}
	var d []uint64
	for i := range after {
		d = append(d, after[i]-before[i])
	}
	t.Logf("packets sent per CPU %v, received per CPU %v", want, d)
	for i, w := range want {
		if d[i] < uint64(w) || d[i] == 0 {
			t.Errorf("CPU %d received %d packets, want at least %d: the traffic did not run on every CPU", i, d[i], w)
		}
	}
}

// sentPerCPU returns what the flood's threads sent, per CPU.
func (fl *flood) sentPerCPU() []int64 {
	w := make([]int64, len(fl.sent))
	for i := range fl.sent {
		w[i] = fl.sent[i].Load()
	}
	return w
}

// spinUntil spins until cond holds: the senders' barrier. It gives up
// after waitLong, when a partner has died.
func spinUntil(cond func() bool) error {
	deadline := time.Now().Add(waitLong)
	for i := 0; !cond(); i++ {
		if i%4096 == 0 && time.Now().After(deadline) {
			return errors.New("the other senders never reached the barrier")
		}
	}
	return nil
}

// The same new flow arriving on every CPU at once: one sender per CPU
// sends the first packet of each flow after a barrier, so the router (and
// the client's own LOCAL_OUT) see simultaneous first packets of one tuple.
// Exactly one entry per flow may come of it, counting every packet, and
// the entries that lost the race are accounted as clashes.
func TestStressClash(t *testing.T) {
	cpus := stressCPUs(t)
	rounds := stressRounds()
	loadModule(t)
	tp := stressTopology(t)
	// Nothing expires during a round, however slow the machine.
	for _, ns := range []netns{tp.client, tp.router} {
		ns.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600")
	}
	// The race is lost between the lookup at PRE_ROUTING and the insert
	// at POST_ROUTING. On an idle host the two CPUs' first packets
	// seldom meet in so short a window (a few clashes in thousands of
	// flows); rules the router's FORWARD chain must walk for each packet
	// widen it, the same on both CPUs, without changing what is tracked.
	slowChain(t, tp.router, "forward", 200)
	trackers := []struct {
		name string
		c    *nflab.Client
	}{{"router", clientIn(t, "router")}, {"client", clientIn(t, "client")}}
	ths := cpuThreads(t, cpus, "client")
	fds, _ := rawSockets(t, ths)

	const flows = 32
	pkts := make([][]byte, flows)
	for f := range pkts {
		pkts[f] = stressDatagram(uint16(20000 + f))
	}
	before := make([]nftypes.TrackerStats, len(trackers))
	for i, tr := range trackers {
		s, err := tr.c.TrackerStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		before[i] = s
	}
	softBefore := softnetProcessed(t)

	var sending, checking time.Duration
	round := func(r int) {
		t0 := time.Now()
		var arrived [flows]atomic.Int32
		start(ths, func(i int) error {
			for f := range flows {
				arrived[f].Add(1)
				if err := spinUntil(func() bool { return arrived[f].Load() == int32(cpus) }); err != nil {
					return fmt.Errorf("flow %d: %w", f, err)
				}
				if err := unix.Sendto(fds[i], pkts[f], 0, sinkSockaddr); err != nil {
					return fmt.Errorf("flow %d: %w", f, err)
				}
			}
			return nil
		})
		if err := wait(ths); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		t1 := time.Now()
		for _, tr := range trackers {
			checkClashRound(t, tr.name, tr.c, r, flows, cpus, len(pkts[0]))
		}
		sending += t1.Sub(t0)
		checking += time.Since(t1)
	}
	done := 0
	for ; done < rounds; done++ {
		round(done)
	}
	// A clash is a race, rarer on a busy host whose vCPU threads are
	// descheduled: go on with more rounds until the router has seen one
	// (bounded), rather than fail a run in which the race was not run.
	routerClashes := func() uint64 {
		s, err := trackers[0].c.TrackerStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s.Clash - before[0].Clash
	}
	for deadline := time.Now().Add(waitLong); routerClashes() == 0 && done < 10*rounds && time.Now().Before(deadline); done++ {
		round(done)
	}
	t.Logf("%d rounds; per round: sending %v, checking and flushing %v", done, sending/time.Duration(done), checking/time.Duration(done))

	var clashes [2]uint64
	for i, tr := range trackers {
		s, err := tr.c.TrackerStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b := before[i]
		clashes[i] = s.Clash - b.Clash
		newN, ins, failed := s.New-b.New, s.Insert-b.Insert, s.InsertFailed-b.InsertFailed
		t.Logf("%s: %d flows: new %d, insert %d, clash %d, insert_failed %d",
			tr.name, done*flows, newN, ins, clashes[i], failed)
		// Every entry made either joined the table, lost to an equal
		// one, or failed to join: none went missing.
		if ins != uint64(done*flows) || newN != ins+clashes[i]+failed {
			t.Errorf("%s: new %d, insert %d, clash %d, insert_failed %d for %d flows: want one insert per flow and new = insert + clash + insert_failed",
				tr.name, newN, ins, clashes[i], failed, done*flows)
		}
	}
	if clashes[0] == 0 {
		t.Errorf("the router saw no clash in %d flows sent from %d CPUs at once", done*flows, cpus)
	}
	perCPU := make([]int64, cpus)
	for i := range perCPU {
		perCPU[i] = int64(done * flows)
	}
	checkEveryCPU(t, softBefore, perCPU)
}

// slowChain gives namespace ns an nftables chain on hook with n rules that
// match nothing, so that each packet takes longer to cross it.
func slowChain(t *testing.T, ns netns, hook string, n int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "table ip slow {\n\tchain c {\n\t\ttype filter hook %s priority 0;\n", hook)
	for i := range n {
		fmt.Fprintf(&b, "\t\tip saddr 192.0.2.%d udp dport %d counter\n", i%250, 1+i)
	}
	b.WriteString("\t}\n}\n")
	f := filepath.Join(t.TempDir(), "slow.nft")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ns.run(t, "nft", "-f", f)
}

// checkClashRound checks one tracker after a clash round: one entry per
// flow, counting the packet of every CPU; then it empties the table.
func checkClashRound(t *testing.T, name string, c *nflab.Client, round, flows, cpus, size int) {
	t.Helper()
	var es []nftypes.Conn
	var err error
	// The packets crossed the router by the time the sends returned,
	// unless a backlog was left to ksoftirqd: wait for the full count.
	deadline := time.Now().Add(waitLong)
	for {
		es, err = c.Conns(context.Background(), sinkFilter)
		if err != nil {
			t.Fatalf("%s: round %d: %v", name, round, err)
		}
		var sum uint64
		for _, e := range es {
			sum += e.PacketsOrig
		}
		if sum >= uint64(flows*cpus) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	byPort := map[uint16][]nftypes.Conn{}
	for _, e := range es {
		byPort[e.Orig.SrcPort] = append(byPort[e.Orig.SrcPort], e)
	}
	for f := range flows {
		got := byPort[uint16(20000+f)]
		switch {
		case len(got) != 1:
			t.Errorf("%s: round %d, flow %d: %d entries, want 1: %+v", name, round, f, len(got), got)
		case got[0].PacketsOrig != uint64(cpus) || got[0].BytesOrig != uint64(cpus*size):
			t.Errorf("%s: round %d, flow %d: %d packets, %d bytes; want %d and %d (one per CPU)",
				name, round, f, got[0].PacketsOrig, got[0].BytesOrig, cpus, cpus*size)
		}
	}
	if len(es) != flows {
		t.Errorf("%s: round %d: %d entries for %d flows", name, round, len(es), flows)
	}
	if t.Failed() {
		t.FailNow()
	}
	if _, err := c.DeleteConns(context.Background(), nftypes.ConnFilter{}); err != nil {
		t.Fatal(err)
	}
}

// A flood makes every thread send stress datagrams from its own range of
// source ports, floodBurst at a time, each burst followed by a rest as
// long as it took (a millisecond at least), until it is stopped (which the
// end of the test does too). The rests leave the CLI and the checks about
// half of every CPU, on a fast kernel as on the debug one, where a send
// (and the receive it runs) takes many times longer. A send error ends a thread's flood unless tolerate
// accepts it.
type flood struct {
	ths   []*cpuThread
	sent  []atomic.Int64 // datagrams sent, per thread
	quit  atomic.Bool
	pause atomic.Bool
	idle  []atomic.Bool // the thread saw pause and sends no more
	stop  func() error  // ends the flood: the threads' errors
}

func startFlood(t *testing.T, ths []*cpuThread, fds []int, ports int, tolerate func(error) bool) *flood {
	fl := &flood{ths: ths, sent: make([]atomic.Int64, len(ths)), idle: make([]atomic.Bool, len(ths))}
	fl.stop = sync.OnceValue(func() error { fl.quit.Store(true); return wait(ths) })
	t.Cleanup(func() { _ = fl.stop() })
	start(ths, func(i int) error {
		pkts := make([][]byte, ports)
		for p := range pkts {
			pkts[p] = stressDatagram(uint16(30000 + 1000*i + p))
		}
		burst := time.Now()
		for k := 0; !fl.quit.Load(); k++ {
			if fl.pause.Load() {
				fl.idle[i].Store(true)
				time.Sleep(time.Millisecond)
				continue
			}
			err := unix.Sendto(fds[i], pkts[k%ports], 0, sinkSockaddr)
			switch {
			case err == nil:
				fl.sent[i].Add(1)
			case !tolerate(err):
				return err
			}
			if k%floodBurst == floodBurst-1 {
				time.Sleep(max(time.Millisecond, time.Since(burst)))
				burst = time.Now()
			}
		}
		return nil
	})
	return fl
}

// hold pauses the flood and returns once no thread sends any more.
func (fl *flood) hold(t *testing.T) {
	t.Helper()
	fl.pause.Store(true)
	waitFor(t, "the flood to pause", func() bool {
		for i := range fl.idle {
			if !fl.idle[i].Load() {
				return false
			}
		}
		return true
	})
}

// resume ends a hold.
func (fl *flood) resume() {
	for i := range fl.idle {
		fl.idle[i].Store(false)
	}
	fl.pause.Store(false)
}

// total is what the flood sent so far.
func (fl *flood) total() int64 {
	var n int64
	for i := range fl.sent {
		n += fl.sent[i].Load()
	}
	return n
}

// floodBurst is what a flood thread sends between rests: under TCG a
// flood without rests leaves the CLI starved (seconds a call).
const floodBurst = 8

func noErrors(error) bool { return false }

// The table changed from every CPU by traffic and, at the same time, by
// the CLI: flushes, filtered deletes, GC, dumps, counts and limit changes.
// Dumps list no entry twice, the count stays within the limit, and nothing
// is left once the traffic stopped.
func TestStressTableChurn(t *testing.T) {
	cpus := stressCPUs(t)
	rounds := stressRounds()
	loadModule(t)
	tp := stressTopology(t)
	ths := cpuThreads(t, cpus, "client")
	fds, _ := rawSockets(t, ths)
	const ports = 400 // flows per sender, more than any limit below

	// The limits the CLI sets in turn. Lowering the limit evicts
	// nothing (each new entry evicts one, as in the kernel's tracker),
	// and a flush racing with new flows leaves those made behind it: a
	// new limit bounds the count once the table was emptied with the
	// flood held, and from then on.
	limits := []int{64, 16, 128, 32}
	maxLimit := 128
	tp.router.run(t, "nflab", "ct", "config", "--limit", "64")
	softBefore := softnetProcessed(t)
	fl := startFlood(t, ths, fds, ports, noErrors)

	// A reader in the test's own process dumps and counts all along, many
	// times for each CLI call: no entry twice, a count never above the
	// largest limit. (A dump is no snapshot: one pass over the buckets
	// lists entries made ahead of it after others behind it went, so it
	// may list more than the limit.) Dumps the table changed under
	// between their parts are retried by the client and may give up, as
	// documented (NLM_F_DUMP_INTR). What breaks these rules is collected
	// and the run goes on, so that one run reports them all; any other
	// error ends it.
	var (
		bad                violations
		readerStop         atomic.Bool
		dumps, interrupted atomic.Int64
		readerErr          error
		readerDone         = make(chan struct{})
	)
	reader := clientIn(t, "router")
	go func() {
		defer close(readerDone)
		for !readerStop.Load() {
			es, err := reader.Conns(context.Background(), sinkFilter)
			if err != nil {
				if strings.Contains(err.Error(), "kept changing during the dump") {
					interrupted.Add(1)
					continue
				}
				readerErr = err
				return
			}
			bad.add("reader's dump", uniqueConns(es))
			dumps.Add(1)
			n, _, err := reader.ConnCount(context.Background())
			if err != nil {
				readerErr = err
				return
			}
			if n > maxLimit {
				bad.add("reader's count", fmt.Errorf("count %d over the largest limit %d", n, maxLimit))
			}
			time.Sleep(10 * time.Millisecond) // CPU for the others
		}
	}()
	t.Cleanup(func() { readerStop.Store(true); <-readerDone })

	// The writer: one change at a time, each checked. (Settings print
	// nothing, so ct config takes no -o.)
	cli := func(args ...string) (string, error) {
		if args[1] == "config" {
			return tp.router.try(append([]string{"nflab"}, args...)...)
		}
		return tp.router.try(nflabArgv(args)...)
	}
	var deleted, notFound int
	bound := 64
	for r := range rounds {
		sport := fmt.Sprint(30000 + 1000*(r%cpus) + r%ports)
		var out string
		var err error
		switch r % 6 {
		case 0:
			// A new limit, and the table emptied with the flood held.
			bound = limits[(r/6)%len(limits)]
			if _, err = cli("ct", "config", "--limit", fmt.Sprint(bound)); err != nil {
				break
			}
			fl.hold(t)
			waitArrived(t, tp, fl.total())
			if _, err = cli("ct", "flush"); err == nil {
				out, err = cli("ct", "count")
			}
			if err == nil {
				bad.add(fmt.Sprintf("round %d, count after a flush with the flood held", r), checkCount(out, 0))
			}
			fl.resume()
		case 1:
			out, err = cli("ct", "delete", "-p", "udp", "--sport", sport)
			deleted += deletedN(out)
		case 2:
			if _, err = cli("ct", "gc"); err == nil {
				out, err = cli("ct", "list", "-p", "udp")
				if err != nil && strings.Contains(err.Error(), "kept changing during the dump") {
					err = nil
				} else if err == nil {
					bad.add(fmt.Sprintf("round %d, ct list", r), checkDump(out))
				}
			}
		case 3:
			// One whole tuple: it may be gone already.
			out, err = cli("ct", "delete", "-p", "udp", "-s", "10.0.1.2", "-d", sinkAddr,
				"--sport", sport, "--dport", fmt.Sprint(sinkPort))
			if err != nil && strings.Contains(err.Error(), "no such connection") {
				notFound++
				err = nil
			}
			deleted += deletedN(out)
		case 4:
			_, err = cli("ct", "flush", "-p", "udp", "-s", "10.0.1.0/24")
		case 5:
			if out, err = cli("ct", "count"); err == nil {
				bad.add(fmt.Sprintf("round %d, count", r), checkCount(out, bound))
			}
		}
		if err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	readerStop.Store(true)
	<-readerDone
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	if err := fl.stop(); err != nil {
		t.Fatalf("senders: %v", err)
	}
	total := fl.total()
	t.Logf("%d rounds: sent %d datagrams; the reader checked %d dumps, %d gave up on a changing table; %d deleted one by one, %d already gone",
		rounds, total, dumps.Load(), interrupted.Load(), deleted, notFound)
	if dumps.Load() == 0 {
		t.Errorf("no dump completed (%d gave up): nothing was checked for duplicates", interrupted.Load())
	}
	bad.report(t)

	// Nothing in flight, then a flush empties the table for good.
	waitArrived(t, tp, total)
	tp.router.run(t, "nflab", "ct", "flush")
	if n := ctCount(t, tp.router); n != 0 {
		t.Errorf("%d entries after the traffic stopped and a flush, want 0: %+v", n, ctList(t, tp.router))
	}
	s := ctStats(t, tp.router)
	t.Logf("router stats: %v", s)
	if s["early_drop"] == 0 {
		t.Errorf("no early drop: the table was never full, so the limits were not exercised")
	}
	checkEveryCPU(t, softBefore, fl.sentPerCPU())
}

// waitArrived waits until the router's PRE_ROUTING has counted the n
// datagrams sent (every one, dropped or not): then none is in flight.
func waitArrived(t *testing.T, tp *topology, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the router count all %d datagrams", n), func() bool {
		return int64(tp.stats("router")["PRE_ROUTING"][0]) >= n
	})
}

// violations collects the broken rules of a stress run, safe for
// concurrent use.
type violations struct {
	mu    sync.Mutex
	n     int
	first []string
}

// add records err, if any, as a violation found by who.
func (v *violations) add(who string, err error) {
	if err == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.n++
	if len(v.first) < 5 {
		v.first = append(v.first, who+": "+err.Error())
	}
}

// report fails the test if anything was recorded.
func (v *violations) report(t *testing.T) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.n > 0 {
		t.Errorf("%d violations; the first:\n    %s", v.n, strings.Join(v.first, "\n    "))
	}
}

// checkDump checks a "ct list -o json" output: no entry twice, by id or
// by tuple.
func checkDump(out string) error {
	var v struct {
		Entries []ctEntry `json:"entries"`
	}
	if err := decodeErr(out, &v); err != nil {
		return err
	}
	ids, tuples := map[uint32]bool{}, map[ctTuple]bool{}
	for _, e := range v.Entries {
		if ids[e.ID] || tuples[e.Orig] {
			return fmt.Errorf("ct list shows entry %d (%+v) twice", e.ID, e.Orig)
		}
		ids[e.ID], tuples[e.Orig] = true, true
	}
	return nil
}

// uniqueConns is checkDump for a dump through the Go client.
func uniqueConns(es []nftypes.Conn) error {
	ids, tuples := map[uint32]bool{}, map[nftypes.Tuple]bool{}
	for _, e := range es {
		if ids[e.ID] || tuples[e.Orig] {
			return fmt.Errorf("the dump lists entry %d (%+v) twice", e.ID, e.Orig)
		}
		ids[e.ID], tuples[e.Orig] = true, true
	}
	return nil
}

// checkCount checks a "ct count -o json" output against a bound.
func checkCount(out string, bound int) error {
	var v struct {
		Count int `json:"count"`
		Limit int `json:"limit"`
	}
	if err := decodeErr(out, &v); err != nil {
		return err
	}
	if v.Count > bound {
		return fmt.Errorf("count %d over the bound %d (limit now %d)", v.Count, bound, v.Limit)
	}
	return nil
}

// deletedN reads {"deleted":N}; 0 for anything else.
func deletedN(out string) int {
	var v struct {
		Deleted int `json:"deleted"`
	}
	_ = decodeErr(out, &v)
	return v.Deleted
}

func decodeErr(out string, v any) error {
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decoding nflab output %q: %w", out, err)
	}
	return nil
}

// Namespaces deleted while traffic crosses them on every CPU: a router
// namespace goes with entries in its table and packets in its hooks, then
// the client that sent them. Each namespace's exit frees its entries (the
// module warns if one is left, and the kernel log check fails the run);
// the module unloads cleanly afterwards.
func TestStressNamespaceExitUnderTraffic(t *testing.T) {
	cpus := stressCPUs(t)
	rounds := max(stressRounds()/5, 4)
	loadModule(t)
	softBefore := softnetProcessed(t)
	sent := make([]int64, cpus)
	var times [4]time.Duration
	for r := range rounds {
		for i, n := range namespaceExitRound(t, r, cpus, &times) {
			sent[i] += n
		}
	}
	n := time.Duration(rounds)
	t.Logf("%d rounds; per round: setup %v, until the router held entries %v, from its deletion until its link was gone %v, the client's end %v",
		rounds, times[0]/n, times[1]/n, times[2]/n, times[3]/n)
	// Less what a dying device's backlog dropped unprocessed.
	for i := range sent {
		sent[i] /= 2
	}
	checkEveryCPU(t, softBefore, sent)
	unloadModule(t)
}

// namespaceExitRound builds xclient - xrouter - (dummy), floods through
// it from every CPU, deletes the router with the flood running, then the
// client; it returns the datagrams sent from each CPU, and adds the time
// of its phases to times.
func namespaceExitRound(t *testing.T, round, cpus int, times *[4]time.Duration) []int64 {
	t.Helper()
	t0 := time.Now()
	const client, router = "xclient", "xrouter"
	for _, ns := range []string{client, router} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _, _ = tryCmd("ip", "netns", "del", ns) })
	}
	mustRun(t, "ip", "link", "add", "c0", "netns", client, "type", "veth", "peer", "name", "r0", "netns", router)
	c, r := netns(client), netns(router)
	// One ip per namespace: every exec costs under TCG. Behind the
	// router, a dummy device swallows what it sends to the sink.
	ipBatch(t, client, "addr add 10.0.1.2/24 dev c0", "link set c0 up", "route add default via 10.0.1.1")
	ipBatch(t, router, "addr add 10.0.1.1/24 dev r0", "link set r0 up",
		"link add r1 type dummy", "addr add 10.0.2.1/24 dev r1", "link set r1 up",
		"neigh replace "+sinkAddr+" lladdr 02:00:00:00:00:99 dev r1 nud permanent")
	r.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	ths := cpuThreads(t, cpus, client)
	fds, closeFDs := rawSockets(t, ths)
	var deleting atomic.Bool
	// Once the router is going, its link and the client's address on it
	// go too: sends may fail then, with no route or (EINVAL) no local
	// source address.
	fl := startFlood(t, ths, fds, 64, func(err error) bool {
		return deleting.Load() && (errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) ||
			errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENODEV))
	})

	t1 := time.Now()
	// The router holds entries of the flood before it goes.
	waitFor(t, fmt.Sprintf("round %d: entries in the router", round), func() bool {
		out, err := r.try(nflabArgv([]string{"ct", "count"})...)
		var v struct {
			Count int `json:"count"`
		}
		return err == nil && decodeErr(out, &v) == nil && v.Count >= 8
	})
	t2 := time.Now()
	deleting.Store(true)
	mustRun(t, "ip", "netns", "del", router)
	// The flood goes on into the dying router until its link is gone.
	waitFor(t, fmt.Sprintf("round %d: the client's link to the router gone", round), func() bool {
		_, err := c.try("ip", "link", "show", "c0")
		return err != nil
	})
	t3 := time.Now()
	if err := fl.stop(); err != nil {
		t.Fatalf("round %d: senders: %v", round, err)
	}
	// The client tracked its own datagrams; its entries go with it once
	// the threads that hold it end.
	if n := ctCount(t, c); n == 0 {
		t.Errorf("round %d: the client tracked none of its datagrams", round)
	}
	for _, th := range ths {
		th.close()
	}
	closeFDs()
	mustRun(t, "ip", "netns", "del", client)
	for i, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3)} {
		times[i] += d
	}
	n := fl.sentPerCPU()
	for i := range n {
		if n[i] == 0 {
			t.Errorf("round %d: the sender on CPU %d sent nothing", round, i)
		}
	}
	return n
}

// checkNoDependencies fails the test if nflab uses another module's
// symbols but nf_defrag_ipv4's and nf_reject_ipv4's (which builds REJECT's
// answers, as for nftables; neither is the kernel's tracker): it must load
// without the kernel's conntrack or nftables, which the harness may have
// loaded already (PinHookKeys in vmtests/internal/vm).
func checkNoDependencies(t *testing.T) {
	t.Helper()
	held, err := filepath.Glob("/sys/module/*/holders/" + moduleName)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if h != "/sys/module/nf_defrag_ipv4/holders/"+moduleName &&
			h != "/sys/module/nf_reject_ipv4/holders/"+moduleName {
			t.Errorf("nflab depends on another module: %s", h)
		}
	}
}

// ipBatch runs ip commands (without the "ip") in namespace ns at once.
func ipBatch(t *testing.T, ns string, cmds ...string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ip.batch")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "ip", "-n", ns, "-batch", f)
}

// Load and unload while every CPU sends new flows through the router:
// each load must see the flood tracked, each unload succeed (or be refused
// cleanly while a request holds the module, then succeed) with entries in
// the table and packets in the hooks of every CPU. (The reliability test's
// cycles race unloads with CLI and client requests.)
func TestStressUnloadUnderTraffic(t *testing.T) {
	cpus := stressCPUs(t)
	cycles := max(stressRounds()/4, 5)
	loadModule(t)
	stressTopology(t)
	unloadModule(t)
	ths := cpuThreads(t, cpus, "client")
	fds, _ := rawSockets(t, ths)
	softBefore := softnetProcessed(t)
	fl := startFlood(t, ths, fds, 256, noErrors)

	var busy int
	for i := range cycles {
		loadModule(t, "hashsize=1024")
		if i == 0 {
			checkNoDependencies(t)
		}
		// Entries show that the hooks run under the flood. Dialled
		// anew each cycle: the old client's family is gone.
		var seen int
		inNetns(t, "router", func() error {
			c, err := nflab.Dial(nil)
			if err != nil {
				return err
			}
			defer c.Close()
			deadline := time.Now().Add(waitLong)
			for seen < 4 && time.Now().Before(deadline) {
				es, err := c.Conns(context.Background(), sinkFilter)
				if err != nil {
					return err
				}
				if seen = len(es); seen < 4 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			return nil
		})
		if seen < 4 {
			t.Fatalf("cycle %d: the router tracked %d flows of the flood", i, seen)
		}
		// Busy while a netlink call or a packet holds it: a bound per
		// cycle against a module that never lets go, not a timing goal.
		for deadline := time.Now().Add(waitLong); ; {
			err := unix.DeleteModule(moduleName, unix.O_NONBLOCK)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EBUSY) {
				t.Fatalf("cycle %d: rmmod: %v", i, err)
			}
			if busy++; time.Now().After(deadline) {
				t.Fatalf("cycle %d: rmmod still failing after %v: %v", i, waitLong, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if moduleLoaded() {
			t.Fatalf("cycle %d: module still present after rmmod", i)
		}
	}
	if err := fl.stop(); err != nil {
		t.Fatalf("senders: %v", err)
	}
	for i, n := range fl.sentPerCPU() {
		if n == 0 {
			t.Errorf("the sender on CPU %d sent nothing", i)
		}
	}
	t.Logf("%d cycles, %d busy rmmod retries", cycles, busy)
	checkEveryCPU(t, softBefore, fl.sentPerCPU())
}
