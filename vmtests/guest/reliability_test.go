//go:build nflabvm

// Reliability runs, meant for the debug kernel (KASAN, lockdep, kmemleak)
// but run on every lab kernel: load/unload under traffic, namespace churn.
package guest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
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

// envInt reads a count from the environment, for longer local runs.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestInsmodRmmodCyclesUnderTraffic(t *testing.T) {
	cycles := envInt("NFLAB_CYCLES", 200)
	loadModule(t)
	tp := newTopology(t)
	unloadModule(t)

	// A ping flood and a TCP stream cross the router the whole time.
	sink := exec.Command("ip", "netns", "exec", "server", "socat", "-u", "TCP4-LISTEN:7000,reuseaddr", "OPEN:/dev/null")
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Process.Kill(); _ = sink.Wait() })
	waitTCPListen(t, tp.server, 7000)
	for _, argv := range [][]string{
		{"ip", "netns", "exec", "client", "ping", "-f", "-q", "10.0.2.2"},
		{"ip", "netns", "exec", "client", "socat", "-u", "OPEN:/dev/zero", "TCP4:10.0.2.2:7000"},
	} {
		c := exec.Command(argv[0], argv[1:]...)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}

	// A CLI loop and an in-process client loop read the router's counters;
	// with the module gone they must say so, and nothing else may go wrong.
	var (
		stop               atomic.Bool
		wg                 sync.WaitGroup
		cliReads, apiReads atomic.Int64
		cliGone, apiGone   atomic.Int64
		readErr            atomic.Value
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			out, err := tp.router.try("nflab", "stats", "-o", "json")
			switch {
			case err == nil && strings.HasPrefix(out, `{"hooks":[`):
				cliReads.Add(1)
			case err != nil && strings.Contains(err.Error(), "not loaded"):
				cliGone.Add(1)
			default:
				readErr.Store(fmt.Sprintf("nflab stats: %v: %q", err, out))
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		// In the router's namespace, so that dumps have entries to walk:
		// rmmod must wait for or refuse a dump in progress.
		runtime.LockOSThread()
		if err := enterNetns("router"); err != nil {
			readErr.Store(err.Error())
			return
		}
		for !stop.Load() {
			err := func() error {
				c, err := nflab.Dial(nil)
				if err != nil {
					return err
				}
				defer c.Close()
				if _, err := c.HookStats(context.Background()); err != nil {
					return err
				}
				_, err = c.Conns(context.Background(), nftypes.ConnFilter{})
				return err
			}()
			switch {
			case err == nil:
				apiReads.Add(1)
			case errors.Is(err, nflab.ErrNotLoaded):
				apiGone.Add(1)
			default:
				readErr.Store(fmt.Sprintf("client: %v", err))
				return
			}
		}
	}()

	var busy int
	// Where a cycle's time goes, reported at the end.
	var loadTime, unloadTime, retryTime, waitTime time.Duration
	for i := 0; i < cycles; i++ {
		// A small table: the cycles test loading and unloading, not
		// allocating a RAM-sized hash 200 times.
		t0 := time.Now()
		loadModule(t, "hashsize=1024")
		t1 := time.Now()
		loadTime += t1.Sub(t0)
		// Every tenth cycle stays loaded until the (slow) CLI got a read.
		if i%10 == 0 {
			deadline := time.Now().Add(waitLong)
			for r := cliReads.Load(); cliReads.Load() == r && readErr.Load() == nil; {
				if time.Now().After(deadline) {
					t.Fatalf("cycle %d: no CLI read within %v", i, waitLong)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t2 := time.Now()
		waitTime += t2.Sub(t1)
		// rmmod may race with a request holding the module; it must
		// then fail cleanly (EAGAIN/EBUSY) and succeed on a retry.
		for {
			t3 := time.Now()
			err := unix.DeleteModule(moduleName, unix.O_NONBLOCK)
			if err == nil {
				unloadTime += time.Since(t3)
				break
			}
			if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EBUSY) {
				t.Fatalf("cycle %d: rmmod: %v", i, err)
			}
			if busy++; busy > 10*cycles {
				t.Fatalf("cycle %d: rmmod keeps failing: %v", i, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		retryTime += time.Since(t2)
		if moduleLoaded() {
			t.Fatalf("cycle %d: module still present after rmmod", i)
		}
	}
	stop.Store(true)
	wg.Wait()
	if v := readErr.Load(); v != nil {
		t.Fatal(v)
	}
	t.Logf("%d cycles: CLI %d reads, %d 'not loaded'; client %d reads, %d ErrNotLoaded; %d busy rmmod retries",
		cycles, cliReads.Load(), cliGone.Load(), apiReads.Load(), apiGone.Load(), busy)
	n := time.Duration(cycles)
	t.Logf("per cycle: load %v, waiting for a CLI read %v, the successful rmmod %v, refused rmmods and their retry sleeps %v",
		loadTime/n, waitTime/n, unloadTime/n, (retryTime-unloadTime)/n)
	if apiReads.Load() == 0 || cliReads.Load() < int64(cycles/10) {
		t.Errorf("the readers did not overlap with the loaded module")
	}

	// The traffic survived all of it, and a final load still counts.
	// With the readers gone nothing may hold the module: a dump in
	// progress pins it (rmmod then fails with EAGAIN above, cleanly), a
	// finished one must not.
	loadModule(t)
	if n := refcnt(t); n != 0 {
		t.Errorf("module refcount %d with no requests in flight", n)
	}
	tp.ping("client", "10.0.2.2", 2)
	if got := tp.stats("router")["FORWARD"][0]; got < 4 {
		t.Errorf("after the cycles the router forwarded %d packets, want >= 4", got)
	}
}

// enterNetns moves the calling thread (locked by the caller) into a
// namespace made by "ip netns add".
func enterNetns(name string) error {
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

func refcnt(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/sys/module/" + moduleName + "/refcnt")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNamespaceChurn(t *testing.T) {
	const perNS = 4 // UDP datagrams sent to itself in each namespace
	n := envInt("NFLAB_NAMESPACES", 200)
	loadModule(t)
	before := slabUsage(t)

	for i := 0; i < n; i++ {
		if err := inNewNetns(func() error { return netnsTraffic(perNS) }); err != nil {
			t.Fatalf("namespace %d: %v", i, err)
		}
	}

	// A namespace holds tens of kilobytes of slab objects, so a leak of
	// the lot shows as megabytes; the slack covers what SLUB keeps cached.
	// The count of struct net objects is only logged: SLUB's per-CPU
	// partial slabs keep freed ones counted as active for a while (seen
	// without nflab loaded too). Namespaces die asynchronously: poll.
	const slackKB = 2048
	ok := func(u usage) bool {
		return u.unreclaimKB <= before.unreclaimKB+slackKB
	}
	after := slabUsage(t)
	for deadline := time.Now().Add(90 * time.Second); !ok(after) && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		after = slabUsage(t)
	}
	t.Logf("%d namespaces: net_namespace objects %d -> %d, SUnreclaim %d -> %d kB, Percpu %d -> %d kB",
		n, before.netns, after.netns, before.unreclaimKB, after.unreclaimKB, before.percpuKB, after.percpuKB)
	if !ok(after) {
		t.Errorf("memory did not return to its starting level after %d namespaces came and went", n)
	}
}

type usage struct{ netns, unreclaimKB, percpuKB int }

// slabUsage shrinks every slab cache (which also empties KASAN's
// quarantine) and reads what is still in use.
func slabUsage(t *testing.T) usage {
	t.Helper()
	caches, err := os.ReadDir("/sys/kernel/slab")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caches {
		_ = os.WriteFile("/sys/kernel/slab/"+c.Name()+"/shrink", []byte("1"), 0)
	}
	return usage{
		netns:       slabActive(t, "net_namespace"),
		unreclaimKB: meminfoKB(t, "SUnreclaim"),
		percpuKB:    meminfoKB(t, "Percpu"),
	}
}

// inNewNetns runs fn on a thread of its own in a fresh network namespace.
// The thread is never unlocked, so it dies with the goroutine and the
// namespace loses its last reference.
func inNewNetns(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// netnsTraffic brings up loopback, sends n UDP datagrams to itself and
// checks that nflab counted them in this namespace.
func netnsTraffic(n int) error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		unix.Close(s)
		return err
	}
	ifr.SetUint16(unix.IFF_UP)
	err = unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)
	unix.Close(s)
	if err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); err != nil {
			return err
		}
	}
	// Loopback's receive side runs in softirq, possibly later (in
	// ksoftirqd on a busy CPU): the datagrams read back have crossed
	// PRE_ROUTING and LOCAL_IN.
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		return err
	}
	buf := make([]byte, 16)
	for i := 0; i < n; i++ {
		if _, _, err := c.ReadFrom(buf); err != nil {
			return fmt.Errorf("datagram %d of %d not received: %w", i+1, n, err)
		}
	}

	client, err := nflab.Dial(nil)
	if err != nil {
		return err
	}
	defer client.Close()
	stats, err := client.HookStats(context.Background())
	if err != nil {
		return err
	}
	for _, s := range stats {
		want := uint64(n) // out and back in through loopback ...
		if s.Hook == nftypes.Forward {
			want = 0 // ... never forwarded
		}
		if s.Packets != want {
			return fmt.Errorf("%v counted %d packets, want %d", s.Hook, s.Packets, want)
		}
	}
	return nil
}

func slabActive(t *testing.T, cache string) int {
	t.Helper()
	f, err := os.Open("/proc/slabinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fl := strings.Fields(sc.Text()); len(fl) > 2 && fl[0] == cache {
			n, err := strconv.Atoi(fl[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s cache in /proc/slabinfo", cache)
	return 0
}

func meminfoKB(t *testing.T, key string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == key+":" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/meminfo", key)
	return 0
}
