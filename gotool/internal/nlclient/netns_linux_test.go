//go:build linux

package nlclient

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinNetNS checks that a pinned namespace outlives the caller's
// descriptor, and that a socket opened in the caller's own namespace
// needs no setns (so no CAP_SYS_ADMIN).
func TestPinNetNS(t *testing.T) {
	f, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
	ns, err := pinNetNS(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	f.Close()
	if !sameFile(ns, "/proc/thread-self/ns/net") {
		t.Fatal("the pinned namespace is not the caller's")
	}

	own, err := pinNetNS(0)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	conn, _, err := dialIn(own)
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Skipf("no generic netlink here: %v", err)
	}
	if err != nil {
		t.Fatalf("dialIn(own namespace): %v", err)
	}
	defer conn.Close()
	if _, err := conn.GetFamily("nlctrl"); err != nil {
		t.Fatalf("nlctrl lookup: %v", err)
	}
}

// TestDialKernel dials the running kernel: the module is loaded or not,
// and nothing else may go wrong.
func TestDialKernel(t *testing.T) {
	c, err := Dial(0)
	switch {
	case errors.Is(err, ErrNotLoaded):
		return
	case errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT):
		t.Skipf("no generic netlink here: %v", err)
	case err != nil:
		t.Fatalf("Dial: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestDialLeaksNoDescriptor dials the running kernel, in the caller's
// namespace and through a descriptor that is no namespace, and checks that
// a failed Dial closes what it opened, its copy of the descriptor
// included, and leaves the caller's descriptor open.
func TestDialLeaksNoDescriptor(t *testing.T) {
	notNS, err := os.Open("/dev/null")
	if err != nil {
		t.Skip(err)
	}
	defer notNS.Close()
	before := openFDs(t)
	for range 10 {
		if c, err := Dial(0); err == nil {
			c.Close()
		}
		if c, err := Dial(int(notNS.Fd())); err == nil {
			c.Close()
			t.Fatal("Dial with /dev/null as namespace succeeded")
		}
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before, %d after", before, after)
	}
	if _, err := notNS.Stat(); err != nil {
		t.Errorf("the caller's descriptor: %v", err)
	}
}
