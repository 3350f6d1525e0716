package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hugelgupf/vmtest/qemu"

	"github.com/nflab/nflab/vmtests/internal/vmshare"
)

// Result is the outcome of one VM run.
type Result struct {
	Kernel    string        // Config.KernelName
	Status    int           // payload exit status, -1 if the guest reported none
	KernelLog string        // the guest's kernel log
	Tainted   uint64        // /proc/sys/kernel/tainted after the payload
	Console   string        // the end of the console output (not in interactive runs)
	TimedOut  bool          // the VM hit its hard time limit and was killed
	QEMUErr   error         // QEMU failed to start or exited with an error
	Timeout   time.Duration // the hard time limit
	Duration  time.Duration // boot to power-off
}

// consoleTail is how much console output a Result keeps.
const consoleTail = 1 << 20

// Run boots a VM for cfg and runs payload, a POSIX shell script, as
// /mnt/nflab/run.sh in the guest (also its working directory), with
// nflab.ko at $NFLAB_KO and the nflab CLI on PATH. It returns an error only
// when the VM could not be set up; what happened in the VM is in the
// Result (see Result.Check).
func Run(ctx context.Context, cfg Config, payload string) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	qemuArgs := strings.Fields(cfg.QEMU)
	if len(qemuArgs) == 0 {
		return nil, errors.New("NFLAB_QEMU is empty")
	}
	if _, err := exec.LookPath(qemuArgs[0]); err != nil {
		return nil, fmt.Errorf("QEMU is not installed (%w): install qemu-system-x86 or set NFLAB_QEMU", err)
	}
	if err := os.MkdirAll(cfg.CacheDir, 0o755); err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bz, err := os.ReadFile(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	release := filepath.Base(cfg.ModDir)
	if r, err := bzImageRelease(bz); err == nil && r != release {
		return nil, fmt.Errorf("NFLAB_KERNEL %s is release %s, but NFLAB_MODDIR %s is for %s", cfg.Kernel, r, cfg.ModDir, release)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(cfg.Stdout, format+"\n", args...) }
	kernel := bootKernel(bz, cfg.Kernel, cfg.CacheDir, logf)
	initrd, load, err := initramfs(&cfg, root, release)
	if err != nil {
		return nil, err
	}

	share, err := os.MkdirTemp("", "nflab-vm-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(share)
	if err := fillShare(share, root, &cfg, payload, logf); err != nil {
		return nil, err
	}

	fns := []qemu.Fn{
		qemu.WithQEMUCommand(cfg.QEMU),
		qemu.WithQEMUArgs("-smp", strconv.Itoa(cfg.VCPUs)),
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(initrd),
		qemu.WithAppendKernel(
			"console=ttyS0", "quiet", "panic=-1",
			// Oopses do not panic: the guest init collects them and
			// the run fails; a guest hung by one hits the time limit.
			"printk.devkmsg=on",
			// TCG is slow enough to trip the default 21 s.
			"rcupdate.rcu_cpu_stall_timeout=60",
			"modules_load="+strings.Join(load, ","),
			vmshare.CmdlineMarker),
		qemu.P9Directory(share, vmshare.Tag),
		qemu.WithVMTimeout(cfg.Timeout),
	}
	if cfg.ScriptDir != "" {
		fns = append(fns, qemu.P9Directory(cfg.ScriptDir, vmshare.ScriptTag))
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &Result{Kernel: cfg.KernelName, Timeout: cfg.Timeout}
	start := time.Now()
	if cfg.Interactive {
		r.QEMUErr = runInteractive(ctx, fns)
	} else {
		con := &console{w: cfg.Stdout}
		fns = append(fns, qemu.WithSerialOutput(con))
		vm, err := qemu.StartContext(ctx, qemu.ArchAMD64, fns...)
		if err != nil {
			return nil, fmt.Errorf("starting QEMU: %w", err)
		}
		r.QEMUErr = vm.Wait()
		r.Console = con.String()
	}
	r.Duration = time.Since(start)
	r.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded) || r.Duration >= cfg.Timeout
	r.readShare(share)
	return r, nil
}

// runInteractive runs QEMU with this process's terminal as the console.
func runInteractive(ctx context.Context, fns []qemu.Fn) error {
	opts, err := qemu.OptionsFor(qemu.ArchAMD64, fns...)
	if err != nil {
		return err
	}
	args, err := opts.Cmdline()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// SIGTERM lets QEMU restore the terminal.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.Run()
}

// fillShare populates the run directory.
func fillShare(share, root string, cfg *Config, payload string, logf func(string, ...any)) error {
	// Readable by unprivileged test code in the guest.
	if err := os.Chmod(share, 0o755); err != nil {
		return err
	}
	if err := copyFile(cfg.KO, filepath.Join(share, vmshare.KOFile)); err != nil {
		return err
	}
	bin := filepath.Join(share, vmshare.BinDir)
	if err := os.Mkdir(bin, 0o755); err != nil {
		return err
	}
	if ok, err := buildCLI(root, filepath.Join(bin, "nflab")); err != nil {
		return fmt.Errorf("building the nflab CLI: %w", err)
	} else if !ok {
		logf("note: %s does not exist yet; the guest has no nflab CLI", cliPkg)
	}
	for dst, src := range cfg.ExtraFiles {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(share, dst)), 0o755); err != nil {
			return err
		}
		if err := copyFile(src, filepath.Join(share, dst)); err != nil {
			return err
		}
	}
	gc := vmshare.Config{ScriptDir: cfg.ScriptDir, Env: cfg.Env}
	if cfg.Interactive {
		if term := os.Getenv("TERM"); term != "" {
			if gc.Env == nil {
				gc.Env = map[string]string{}
			}
			gc.Env["TERM"] = term
		}
	}
	b, err := json.Marshal(gc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(share, vmshare.ConfigFile), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(share, vmshare.PayloadFile), []byte(payload), 0o755)
}

// readShare collects what the guest init left in the run directory.
func (r *Result) readShare(share string) {
	r.Status = -1
	if b, err := os.ReadFile(filepath.Join(share, vmshare.DmesgFile)); err == nil {
		r.KernelLog = string(b)
	}
	// A kmemleak report joins the kernel log, where CheckKernel finds
	// its "unreferenced object" lines.
	if b, err := os.ReadFile(filepath.Join(share, vmshare.LeaksFile)); err == nil {
		r.KernelLog += "\n--- kmemleak report ---\n" + string(b)
	}
	if b, err := os.ReadFile(filepath.Join(share, vmshare.TaintedFile)); err == nil {
		r.Tainted, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	if b, err := os.ReadFile(filepath.Join(share, vmshare.StatusFile)); err == nil {
		if s, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			r.Status = s
		}
	}
}

// VMError reports a failure of the VM or the kernel: a timeout, a QEMU
// error, a guest that reported no exit status, a bug in the kernel log or a
// disallowed taint. It ignores the payload's exit status.
func (r *Result) VMError() error {
	var errs []error
	switch {
	case r.TimedOut:
		errs = append(errs, fmt.Errorf("the VM hit its time limit of %v and was killed; end of its kernel log:\n%s",
			r.Timeout, indentTail(r.KernelLog, 30)))
	case r.QEMUErr != nil:
		errs = append(errs, fmt.Errorf("QEMU failed: %w; end of the console:\n%s", r.QEMUErr, indentTail(r.Console, 40)))
	case r.Status < 0:
		errs = append(errs, fmt.Errorf("the guest reported no exit status (kernel panic or guest init failure); end of the console:\n%s",
			indentTail(r.Console, 40)))
	}
	tainted := r.Tainted
	if r.Status < 0 {
		tainted = 0 // unknown
	}
	if err := CheckKernel(r.KernelLog, tainted); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("[%s] %w", r.Kernel, err)
	}
	return nil
}

// Check is VMError plus a nonzero payload exit status.
func (r *Result) Check() error {
	err := r.VMError()
	if r.Status > 0 {
		err = errors.Join(err, fmt.Errorf("[%s] the payload exited with status %d", r.Kernel, r.Status))
	}
	return err
}

func indentTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ScriptPayload returns a payload that loads nflab.ko, runs the POSIX shell
// script at the absolute path script in its directory (share that with
// Config.ScriptDir), then unloads nflab.ko. Its status is the script's, or
// 1 if the script succeeded but the module failed to load or unload.
func ScriptPayload(script string) string {
	return fmt.Sprintf(`insmod "$NFLAB_KO" || { echo "nflab-vm: insmod nflab.ko failed" >&2; exit 1; }
cd %s || exit 1
sh %s
status=$?
if [ -d /sys/module/nflab ] && ! rmmod nflab; then
	echo "nflab-vm: rmmod nflab failed" >&2
	[ "$status" -eq 0 ] && status=1
fi
exit "$status"
`, ShellQuote(filepath.Dir(script)), ShellQuote(filepath.Base(script)))
}

// PinHookKeys starts a guest payload on 2+ vCPUs. Base chains on the five
// IPv4 hooks, in a namespace of their own that nothing else uses, keep the
// kernel's netfilter static keys (nf_hooks_needed) on for the whole run, so
// that loading and unloading nflab never patches the kernel's text.
//
// Why: QEMU 7.2's multi-threaded TCG (Debian 12's) can leave a vCPU
// running a stale translation of a jump label another vCPU patched: an
// int3 the kernel has already replaced. That vCPU then oopses in int3 or
// spins on it for good (soft lockups at ip_local_deliver+0x5c on
// stock-6.1). nftables alone reproduces it, no nflab: chains on all five
// hooks in three namespaces added and deleted under ping floods hang a
// 2-vCPU guest within a hundred cycles; with single-threaded TCG, or with
// the keys held on like this, 300 nflab insmod/rmmod cycles under the same
// floods pass. The debug kernel has no JUMP_LABEL and needs none of it, but
// gets the same environment. TestGuest and nflab-vm use it; benchmarks
// skip it: their unloaded baseline must not pay for a key held on.
//
// The same holds for the receive path's netstamp_needed_key, which every
// ping flips (SO_TIMESTAMP on, then off when it exits): stock-6.12 once
// died with "Fatal exception in interrupt" at the start of
// __netif_receive_skb_core (its registers: &skb and &pt_prev of
// __netif_receive_skb_one_core, in net_rx_action's backlog poll), where
// net_timestamp_check() tests that key, right after a test's ping. A
// socket with SO_TIMESTAMP, open for the whole run, holds it on.
const PinHookKeys = `ip netns add nflab-keys && ip netns exec nflab-keys nft -f - <<'KEYS' || { echo "nflab: could not hold the netfilter static keys on (vmtests/internal/vm)" >&2; exit 1; }
table ip keys {
	chain p { type filter hook prerouting priority 0; }
	chain i { type filter hook input priority 0; }
	chain f { type filter hook forward priority 0; }
	chain o { type filter hook output priority 0; }
	chain q { type filter hook postrouting priority 0; }
}
KEYS
ip netns exec nflab-keys socat -u UDP4-RECV:9,so-timestamp=1 /dev/null </dev/null >/dev/null 2>&1 &
i=0
until ip netns exec nflab-keys grep -q ':0009 ' /proc/net/udp; do
	i=$((i + 1))
	[ $i -lt 100 ] && kill -0 $! 2>/dev/null && sleep 0.1 && continue
	echo "nflab: could not hold the timestamp static key on (vmtests/internal/vm)" >&2
	exit 1
done
`

// ShellPayload returns a payload that loads nflab.ko and starts an
// interactive busybox shell (line editing, job control); leaving the shell
// powers the VM off.
func ShellPayload() string {
	return `insmod "$NFLAB_KO" && echo "nflab.ko loaded" || echo "nflab-vm: insmod nflab.ko failed" >&2
cat >/tmp/shrc <<'END'
alias poweroff=exit halt=exit reboot=exit
PS1='nflab-vm:$PWD# '
# busybox sh runs its own applets before PATH: call the real tools.
for t in ip ping socat nft conntrack tcpdump; do
	for d in /usr/sbin /usr/bin; do
		[ -x "$d/$t" ] && { eval "$t() { $d/$t \"\$@\"; }"; break; }
	done
done
END
echo "nflab VM shell: 'poweroff', 'exit' or Ctrl-D powers off; Ctrl-A X kills QEMU."
ENV=/tmp/shrc /bin/busybox sh -i
`
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm()|0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// console streams the VM's console output without carriage returns and
// terminal control sequences, and keeps its end.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	tail    []byte
	pending []byte // an incomplete escape sequence
}

// termControl matches SeaBIOS's terminal resets and other escape sequences.
var termControl = regexp.MustCompile(`\x1b(c|\[[0-9;?]*[A-Za-z])|\r`)

// partialControl matches the start of an escape sequence at the end of a
// write; serial output arrives in small pieces.
var partialControl = regexp.MustCompile(`\x1b(\[[0-9;?]*)?$`)

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := append(c.pending, p...)
	c.pending = nil
	if m := partialControl.FindIndex(b); m != nil && len(b)-m[0] < 16 {
		c.pending = append([]byte(nil), b[m[0]:]...)
		b = b[:m[0]]
	}
	b = termControl.ReplaceAll(b, nil)
	c.tail = append(c.tail, b...)
	if len(c.tail) > 2*consoleTail {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-consoleTail:]...)
	}
	_, _ = c.w.Write(b)
	return len(p), nil
}

// Close is called by vmtest when the VM exits.
func (c *console) Close() error { return nil }

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.tail[max(0, len(c.tail)-consoleTail):])
}
