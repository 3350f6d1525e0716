// Package vm boots the nflab test VM: a stock (or debug) kernel under QEMU
// with a cached u-root initramfs, the module under test and the nflab CLI
// shared over 9p, and a shell payload run by the guest init
// (cmd/nflab-guestinit). After the VM powers off it returns the payload's
// exit status, the guest's kernel log and its taint mask.
package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the hard limit on a VM's lifetime when Config.Timeout is
// zero.
const DefaultTimeout = 10 * time.Minute

// DefaultQEMU is the QEMU command; NFLAB_QEMU replaces it. KVM is not usable
// on the lab hosts. The vCPU count is not part of it: Run adds -smp from
// Config.VCPUs.
const DefaultQEMU = "qemu-system-x86_64 -M q35 -accel tcg -cpu max -m 1G -nic none -no-reboot"

// maxVCPUs bounds NFLAB_VCPUS: the debug kernel is built for 4 CPUs
// (CONFIG_NR_CPUS), and more vCPUs than host cores only slow TCG down.
const maxVCPUs = 4

// Config describes one VM run.
type Config struct {
	Kernel     string // guest kernel image (bzImage), NFLAB_KERNEL
	ModDir     string // /lib/modules/<release> of Kernel, NFLAB_MODDIR
	KO         string // nflab.ko under test, NFLAB_KO
	CacheDir   string // initramfs and vmlinux cache, NFLAB_CACHE
	KernelName string // label for messages, NFLAB_KERNEL_NAME
	QEMU       string // QEMU command and base arguments, NFLAB_QEMU
	// VCPUs is the guest's vCPU count (-smp), NFLAB_VCPUS; 0 means the
	// kernel's profile (ProfileFor).
	VCPUs int

	// Timeout is the hard limit on the VM's lifetime (DefaultTimeout if 0).
	Timeout time.Duration
	// ExtraFiles maps paths relative to the run directory (the guest's
	// /mnt/nflab and the payload's working directory) to host files.
	ExtraFiles map[string]string
	// ScriptDir, if set, is shared with the guest and mounted at the same
	// absolute path.
	ScriptDir string
	// Env is added to the payload's environment.
	Env map[string]string
	// Interactive connects the console to this process's terminal.
	Interactive bool
	// Stdout receives the console output while the VM runs (os.Stdout if
	// nil). It is not used when Interactive is set.
	Stdout io.Writer
}

// ConfigFromEnv returns a Config filled from the NFLAB_* environment
// variables. It fails when a required one is missing or names nothing.
func ConfigFromEnv() (Config, error) {
	c := Config{
		Kernel:     os.Getenv("NFLAB_KERNEL"),
		ModDir:     os.Getenv("NFLAB_MODDIR"),
		KO:         os.Getenv("NFLAB_KO"),
		CacheDir:   os.Getenv("NFLAB_CACHE"),
		KernelName: os.Getenv("NFLAB_KERNEL_NAME"),
		QEMU:       os.Getenv("NFLAB_QEMU"),
	}
	if v := os.Getenv("NFLAB_VCPUS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxVCPUs {
			return c, fmt.Errorf("NFLAB_VCPUS=%q: want a number from 1 to %d", v, maxVCPUs)
		}
		c.VCPUs = n
	}
	return c, c.validate()
}

// validate checks c and fills in defaults.
func (c *Config) validate() error {
	var errs []error
	for _, v := range []struct{ env, path, what string }{
		{"NFLAB_KERNEL", c.Kernel, "the guest kernel image (/boot/vmlinuz-<release>)"},
		{"NFLAB_MODDIR", c.ModDir, "that kernel's module directory (/lib/modules/<release>)"},
		{"NFLAB_KO", c.KO, "the nflab.ko under test"},
	} {
		if v.path == "" {
			errs = append(errs, fmt.Errorf("%s is not set: it must name %s", v.env, v.what))
		} else if _, err := os.Stat(v.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.env, err))
		}
	}
	if c.ModDir != "" {
		if _, err := os.Stat(filepath.Join(c.ModDir, "modules.dep")); err != nil {
			errs = append(errs, fmt.Errorf("NFLAB_MODDIR: %w (is it /lib/modules/<release>?)", err))
		}
	}
	if c.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("NFLAB_CACHE is not set and there is no user cache directory: %w", err))
		}
		c.CacheDir = filepath.Join(d, "nflab")
	}
	if c.KernelName == "" {
		c.KernelName = filepath.Base(c.Kernel)
	}
	if c.QEMU == "" {
		c.QEMU = DefaultQEMU
	}
	if slices.ContainsFunc(strings.Fields(c.QEMU), func(a string) bool { return a == "-smp" || a == "--smp" }) {
		errs = append(errs, errors.New("NFLAB_QEMU sets -smp: leave it out and set NFLAB_VCPUS instead"))
	}
	switch {
	case c.VCPUs == 0:
		c.VCPUs = ProfileFor(c.KernelName, false).VCPUs
	case c.VCPUs < 0 || c.VCPUs > maxVCPUs:
		errs = append(errs, fmt.Errorf("VCPUs %d: want 1 to %d", c.VCPUs, maxVCPUs))
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	for dst := range c.ExtraFiles {
		if !filepath.IsLocal(dst) || strings.HasPrefix(dst, ".") {
			errs = append(errs, fmt.Errorf("ExtraFiles: %q is not a plain relative path", dst))
		}
	}
	if c.ScriptDir != "" && !filepath.IsAbs(c.ScriptDir) {
		errs = append(errs, fmt.Errorf("ScriptDir %q is not absolute", c.ScriptDir))
	}
	return errors.Join(errs...)
}
