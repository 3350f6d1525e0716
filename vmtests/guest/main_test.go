//go:build nflabvm

// Package guest holds the nflab tests that run inside the test VM. They are
// built by TestGuest in package vmtests (go test -c -tags nflabvm) and run
// by the VM's guest init; they refuse to run anywhere else.
package guest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nflab/nflab/vmtests/internal/vmshare"
)

func TestMain(m *testing.M) {
	if err := inVM(); err != nil {
		fmt.Fprintf(os.Stderr, "guest tests run only inside the nflab test VM (go test ./vmtests/ boots it): %v\n", err)
		os.Exit(1)
	}
	fuzzWorkerMain()
	os.Exit(m.Run())
}

// inVM checks for the marks the harness leaves on the VM: the kernel
// command line and the guest init's environment.
func inVM() error {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	if !strings.Contains(" "+string(cmdline)+" ", " "+vmshare.CmdlineMarker+" ") {
		return fmt.Errorf("%s is not on the kernel command line", vmshare.CmdlineMarker)
	}
	if os.Getenv(vmshare.GuestEnv) != "1" {
		return fmt.Errorf("%s is not set", vmshare.GuestEnv)
	}
	return nil
}
