//go:build linux

// Command nflab-guestinit is the uinit of the nflab test VM. u-root's init
// starts it after loading the modules named by modules_load=.
//
// It mounts the run directory shared by the host, installs the busybox
// applets, runs the payload (sh run.sh) on the console, then writes the
// payload's exit status, the kernel log and the taint mask back to the run
// directory and powers the VM off. It powers off on every path, so a
// failure here shows up on the host as a missing status file.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/vmtests/internal/vmshare"
)

// Failure exit statuses reported when the payload could not run.
const (
	statusSetupFailed = 125
	statusNotRun      = 126
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("nflab-guestinit: ")

	status := statusSetupFailed
	defer func() {
		if r := recover(); r != nil {
			log.Printf("panic: %v", r)
			status = statusSetupFailed
		}
		finish(status)
	}()
	status = run()
}

// run prepares the guest, runs the payload and returns its exit status.
func run() int {
	tty := openConsole()
	if tty != nil {
		log.SetOutput(tty)
	}
	if err := setupRoot(); err != nil {
		log.Printf("setting up the root file system: %v", err)
		return statusSetupFailed
	}
	if err := mount9p(vmshare.Tag, vmshare.MountPoint); err != nil {
		log.Printf("%v", err)
		return statusSetupFailed
	}
	klog = startKmsg(filepath.Join(vmshare.MountPoint, vmshare.DmesgFile))
	kmemleakStart()

	var cfg vmshare.Config
	if b, err := os.ReadFile(filepath.Join(vmshare.MountPoint, vmshare.ConfigFile)); err == nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			log.Printf("parsing %s: %v", vmshare.ConfigFile, err)
			return statusSetupFailed
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Printf("reading %s: %v", vmshare.ConfigFile, err)
		return statusSetupFailed
	}
	if cfg.ScriptDir != "" {
		if err := mount9p(vmshare.ScriptTag, cfg.ScriptDir); err != nil {
			log.Printf("%v", err)
			return statusSetupFailed
		}
	}
	if err := copyLocal(); err != nil {
		log.Printf("copying the CLI and the module out of the share: %v", err)
		return statusSetupFailed
	}
	return runPayload(tty, cfg.Env)
}

// localDir holds copies of what the payload runs again and again: the 9p
// share is mounted without a cache, so every exec of the CLI (some
// megabytes) and every insmod would read the file over 9p again, which
// costs a second or more per call on the debug kernel under TCG.
const localDir = "/run/nflab"

func copyLocal() error {
	bin := filepath.Join(localDir, vmshare.BinDir)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	shared := filepath.Join(vmshare.MountPoint, vmshare.BinDir)
	ents, err := os.ReadDir(shared)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if err := copyFile(filepath.Join(shared, e.Name()), filepath.Join(bin, e.Name())); err != nil {
			return err
		}
	}
	return copyFile(filepath.Join(vmshare.MountPoint, vmshare.KOFile), filepath.Join(localDir, vmshare.KOFile))
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, fi.Mode().Perm()|0o444)
}

// openConsole opens the terminal behind /dev/console (ttyS0), so that the
// payload gets a real controlling terminal and job control works.
func openConsole() *os.File {
	name := "console"
	if b, err := os.ReadFile("/sys/class/tty/console/active"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			name = f[len(f)-1]
		}
	}
	tty, err := os.OpenFile("/dev/"+name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		log.Printf("opening /dev/%s: %v", name, err)
		return nil
	}
	return tty
}

// setupRoot creates what the tests and tools expect of a Linux system.
func setupRoot() error {
	for _, d := range []string{"/run", "/root", "/var/tmp", "/usr/bin", vmshare.MountPoint} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run: %w", err)
	}
	if err := os.Mkdir("/run/netns", 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat("/var/run"); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink("../run", "/var/run"); err != nil {
			return err
		}
	}
	if err := os.Chmod("/var/tmp", 0o1777); err != nil {
		return err
	}
	// busybox --install ignores applets whose name already exists.
	if out, err := exec.Command("/bin/busybox", "--install", "-s", "/bin").CombinedOutput(); err != nil {
		return fmt.Errorf("busybox --install: %v: %s", err, out)
	}
	// The kernel loads modules on demand through /sbin/modprobe.
	if err := os.MkdirAll("/sbin", 0o755); err != nil {
		return err
	}
	for _, l := range []string{"/usr/bin/env", "/sbin/modprobe"} {
		if _, err := os.Lstat(l); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink("/bin/busybox", l); err != nil {
				return err
			}
		}
	}
	// Let unprivileged test code ping (ICMP sockets, no CAP_NET_RAW).
	if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0); err != nil {
		log.Printf("ping_group_range: %v", err)
	}
	return unix.Sethostname([]byte("nflab-vm"))
}

func mount9p(tag, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("mount point for 9p tag %q: %w", tag, err)
	}
	// 512000 is the largest msize 9pnet_virtio accepts on 6.1.
	if err := unix.Mount(tag, dir, "9p", 0, "trans=virtio,version=9p2000.L,msize=512000"); err != nil {
		return fmt.Errorf("mounting 9p tag %q at %s: %w", tag, dir, err)
	}
	return nil
}

// runPayload runs sh run.sh in the run directory with the console as its
// controlling terminal and returns its exit status.
func runPayload(tty *os.File, extra map[string]string) int {
	payload := filepath.Join(vmshare.MountPoint, vmshare.PayloadFile)
	if _, err := os.Stat(payload); err != nil {
		log.Printf("no payload: %v", err)
		return statusNotRun
	}
	cmd := exec.Command("/bin/sh", payload)
	cmd.Dir = vmshare.MountPoint
	cmd.Env = []string{
		"PATH=" + filepath.Join(localDir, vmshare.BinDir) +
			":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/bbin",
		"HOME=/root",
		"USER=root",
		"TERM=linux",
		"TMPDIR=/tmp",
		vmshare.GuestEnv + "=1",
		"NFLAB_SHARE=" + vmshare.MountPoint,
		"NFLAB_KO=" + filepath.Join(localDir, vmshare.KOFile),
	}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if tty != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	default:
		log.Printf("running payload: %v", err)
		return statusNotRun
	}
}

var klog *kmsgWriter

// finish saves the results to the run directory and powers off. It never
// returns.
func finish(status int) {
	// Whatever happens below, do not leave the VM running.
	time.AfterFunc(60*time.Second, func() {
		log.Printf("saving results timed out")
		powerOff()
	})
	if klog != nil {
		klog.stop()
		dir := vmshare.MountPoint
		kmemleakReport(filepath.Join(dir, vmshare.LeaksFile))
		tainted, err := os.ReadFile("/proc/sys/kernel/tainted")
		if err != nil {
			log.Printf("reading taint mask: %v", err)
		} else if err := os.WriteFile(filepath.Join(dir, vmshare.TaintedFile), tainted, 0o644); err != nil {
			log.Printf("writing taint mask: %v", err)
		}
		// The status file is written last: its presence tells the host
		// that the other files are complete.
		if err := os.WriteFile(filepath.Join(dir, vmshare.StatusFile), fmt.Appendf(nil, "%d\n", status), 0o644); err != nil {
			log.Printf("writing status: %v", err)
		}
	}
	powerOff()
}

// kmemleak is the debug kernel's leak detector; stock kernels lack it.
const kmemleak = "/sys/kernel/debug/kmemleak"

// kmemleakStart forgets what the boot itself leaked, so that a report at
// the end is about the payload.
func kmemleakStart() {
	if err := unix.Mount("debugfs", "/sys/kernel/debug", "debugfs", 0, ""); err != nil {
		return
	}
	if _, err := os.Stat(kmemleak); err != nil {
		return
	}
	for _, cmd := range []string{"scan", "clear"} {
		if err := os.WriteFile(kmemleak, []byte(cmd), 0); err != nil {
			log.Printf("kmemleak %s: %v", cmd, err)
		}
	}
}

// kmemleakReport scans for leaks and saves kmemleak's report to file when
// there is one. kmemleak ignores objects younger than five seconds, so it
// waits that long after the payload first. A pointer left in the cached
// kernel stack of an exited process still counts as a reference, so it runs
// a few short processes (which reuse those stacks) between several scans.
func kmemleakReport(file string) {
	if _, err := os.Stat(kmemleak); err != nil {
		return
	}
	time.Sleep(6 * time.Second)
	for range 3 {
		for range 4 {
			_ = exec.Command("/bin/true").Run()
		}
		if err := os.WriteFile(kmemleak, []byte("scan"), 0); err != nil {
			log.Printf("kmemleak scan: %v", err)
			return
		}
	}
	report, err := os.ReadFile(kmemleak)
	if err != nil {
		log.Printf("reading kmemleak report: %v", err)
		return
	}
	if len(report) == 0 {
		return
	}
	if err := os.WriteFile(file, report, 0o644); err != nil {
		log.Printf("saving kmemleak report: %v", err)
	}
}

func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	log.Printf("power off: %v; rebooting instead (QEMU runs with -no-reboot)", err)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}
