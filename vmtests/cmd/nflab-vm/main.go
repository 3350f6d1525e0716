// Command nflab-vm boots the nflab test VM with nflab.ko loaded.
//
//	nflab-vm run [-timeout D] [-dmesg FILE] SCRIPT
//	                                   run a POSIX shell script in the VM
//	nflab-vm shell [-timeout D]        interactive shell on the console
//
// The kernel, its modules and the module under test come from NFLAB_KERNEL,
// NFLAB_MODDIR and NFLAB_KO (see package vmtests/internal/vm). run exits
// with the script's status, or 1 if the VM failed, timed out or the kernel
// logged a bug.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nflab/nflab/vmtests/internal/vm"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage:
  nflab-vm run [-timeout D] [-dmesg FILE] SCRIPT
                                     run SCRIPT (sh) in the VM, in its directory
  nflab-vm shell [-timeout D]        interactive shell in the VM

Both load nflab.ko first and put the nflab CLI on PATH.
Environment: NFLAB_KERNEL, NFLAB_MODDIR, NFLAB_KO (required),
NFLAB_CACHE, NFLAB_KERNEL_NAME, NFLAB_QEMU (optional).
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	status := 0
	switch os.Args[1] {
	case "run":
		status, err = run(os.Args[2:])
	case "shell":
		status, err = shell(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nflab-vm: %v\n", err)
		os.Exit(1)
	}
	os.Exit(status)
}

func run(args []string) (int, error) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	timeout := fs.Duration("timeout", vm.DefaultTimeout, "hard limit on the VM's lifetime")
	dmesg := fs.String("dmesg", "", "save the guest's kernel log to `file`")
	fs.Usage = usage
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	script, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return 0, err
	}
	if fi, err := os.Stat(script); err != nil {
		return 0, err
	} else if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a file", script)
	}
	cfg, err := vm.ConfigFromEnv()
	if err != nil {
		return 0, err
	}
	cfg.Timeout = *timeout
	cfg.ScriptDir = filepath.Dir(script)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := vm.Run(ctx, cfg, holdKeys(cfg)+vm.ScriptPayload(script))
	if err != nil {
		return 0, err
	}
	if *dmesg != "" {
		if err := os.WriteFile(*dmesg, []byte(r.KernelLog), 0o644); err != nil {
			return 0, err
		}
	}
	if err := r.VMError(); err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "nflab-vm: %s exited with status %d (VM ran %.1fs)\n", fs.Arg(0), r.Status, r.Duration.Seconds())
	return r.Status, nil
}

func shell(args []string) (int, error) {
	fs := flag.NewFlagSet("shell", flag.ExitOnError)
	timeout := fs.Duration("timeout", time.Hour, "hard limit on the VM's lifetime")
	fs.Usage = usage
	fs.Parse(args)
	if fs.NArg() != 0 {
		usage()
	}
	cfg, err := vm.ConfigFromEnv()
	if err != nil {
		return 0, err
	}
	cfg.Timeout = *timeout
	cfg.Interactive = true
	fmt.Fprintf(os.Stderr, "nflab-vm: booting %s; leave with 'poweroff' (or Ctrl-D), or kill QEMU with Ctrl-A X\n", cfg.KernelName)

	// The terminal is QEMU's; keep Ctrl-C from killing this process.
	signal.Ignore(os.Interrupt)
	r, err := vm.Run(context.Background(), cfg, holdKeys(cfg)+vm.ShellPayload())
	if err != nil {
		return 0, err
	}
	if r.Status < 0 && !r.TimedOut && r.QEMUErr == nil {
		// The console went to the terminal, so there is no tail to show.
		return 0, errors.New("the guest did not power off cleanly (Ctrl-A X, or a kernel panic: see the console above)")
	}
	return 0, r.VMError()
}

// holdKeys keeps the kernel's netfilter static keys on in a VM of 2+ vCPUs,
// as TestGuest does, so that a script loading and unloading nflab (or
// nftables) never patches kernel text under multi-threaded TCG.
func holdKeys(cfg vm.Config) string {
	if cfg.VCPUs > 1 {
		return vm.PinHookKeys
	}
	return ""
}
