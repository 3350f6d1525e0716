package vm

import (
	"strings"
	"testing"
)

const cleanBoot = `[    0.000000] Linux version 6.1.0-56-amd64
[    0.210000] Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on, data leaks possible via Spectre v2 BHB attacks!
[    2.330939] nflab: loading out-of-tree module taints kernel.
[    2.331626] nflab: module verification failed: signature and/or required key missing - tainting kernel
`

func TestCheckKernel(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		tainted uint64
		want    []string // substrings of the error; nil means no error
	}{
		{"clean", cleanBoot, 0, nil},
		{"out-of-tree unsigned module", cleanBoot, 1<<12 | 1<<13, nil},
		{
			name: "warning",
			log: cleanBoot + `[    2.4] ------------[ cut here ]------------
[    2.5] WARNING: CPU: 0 PID: 95 at kmod/hooks.c:6 nflab_hook+0x1a/0x100 [nflab]
[    2.6] Call Trace:
[    2.7]  <TASK>
[    2.8]  do_one_initcall+0x59/0x220
[    2.9] ---[ end trace 0000000000000000 ]---
[    3.0] after the splat
`,
			tainted: 1<<9 | 1<<12 | 1<<13,
			want:    []string{"WARNING:, Call Trace", "nflab_hook+0x1a", "end trace", "tainted 0x3200 (WOE)"},
		},
		{"oops", "[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI\n", 1 << 7, []string{"Oops", "(D)"}},
		{"bug", "[ 1.0] BUG: KASAN: slab-use-after-free in nflab_ct_put+0x1/0x2\n", 0, []string{"BUG:", "KASAN"}},
		{"lockdep", "[ 1.0] WARNING: possible circular locking dependency detected\n", 0, []string{"possible circular locking"}},
		{"rcu", "[ 1.0] =============================\n[ 1.1] suspicious RCU usage\n", 0, []string{"suspicious RCU usage"}},
		{"kmemleak", "[ 1.0] kmemleak: 1 new suspected memory leaks\nunreferenced object 0xffff888 (size 64):\n", 0, []string{"unreferenced object"}},
		{"stall", "[ 1.0] rcu: INFO: rcu_sched self-detected stall on CPU\n", 0, []string{"self-detected stall"}},
		{"panic", "[ 1.0] Kernel panic - not syncing: Fatal exception\n", 0, []string{"Kernel panic"}},
		{"lock held", "[ 1.0] WARNING: lock held when returning to user space!\n", 0, []string{"lock held when returning"}},
		{"taint only", cleanBoot, 1 << 0, []string{"tainted 0x1 (P)"}},
		{"taint crap", cleanBoot, 1<<10 | 1<<12, []string{"(CO)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckKernel(tt.log, tt.tainted)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckKernel: %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckKernel: no error, want one mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckKernel error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCheckKernelExcerpts(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 5; i++ {
		b.WriteString("WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x0\n---[ end trace ]---\n")
		for j := 0; j < 100; j++ {
			b.WriteString("filler\n")
		}
	}
	err := CheckKernel(b.String(), 0)
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "    ----"); n != maxExcerpts {
		t.Errorf("%d excerpts, want %d:\n%v", n, maxExcerpts, err)
	}
	if strings.Contains(err.Error(), "filler") && strings.Count(err.Error(), "filler") > maxExcerpts*excerptBefore {
		t.Errorf("excerpts do not stop at the end of the trace:\n%v", err)
	}
}

func TestResultVMError(t *testing.T) {
	ok := &Result{Kernel: "k", Status: 3, KernelLog: cleanBoot, Tainted: 1 << 12}
	if err := ok.VMError(); err != nil {
		t.Errorf("VMError: %v", err)
	}
	if err := ok.Check(); err == nil || !strings.Contains(err.Error(), "status 3") {
		t.Errorf("Check: %v, want the payload status", err)
	}
	for _, r := range []*Result{
		{Kernel: "k", Status: -1, Console: "Kernel panic - not syncing"},
		{Kernel: "k", Status: 0, TimedOut: true},
		{Kernel: "k", Status: 0, KernelLog: "BUG: unable to handle page fault\n"},
	} {
		if err := r.VMError(); err == nil {
			t.Errorf("VMError(%+v) = nil, want an error", r)
		}
	}
}

func TestTaintString(t *testing.T) {
	if got := TaintString(1<<9 | 1<<12 | 1<<13); got != "WOE" {
		t.Errorf("TaintString = %q, want WOE", got)
	}
}

func TestFormatHelpers(t *testing.T) {
	if got := ShellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("ShellQuote = %s", got)
	}
	if got := moduleName("kernel/net/9p/9pnet-virtio.ko.xz"); got != "9pnet_virtio" {
		t.Errorf("moduleName = %s", got)
	}
	if got := plainKO("a/b.ko.zst"); got != "a/b.ko" {
		t.Errorf("plainKO = %s", got)
	}
}

func TestConsoleFiltersControl(t *testing.T) {
	var b strings.Builder
	c := &console{w: &b}
	for _, s := range []string{"\x1bc\x1b", "[?7", "l\x1b[2", "JSeaBIOS\r\n", "ok\x1b[0m\n"} {
		c.Write([]byte(s))
	}
	if got, want := b.String(), "SeaBIOS\nok\n"; got != want {
		t.Errorf("console wrote %q, want %q", got, want)
	}
	if c.String() != b.String() {
		t.Errorf("console kept %q, wrote %q", c.String(), b.String())
	}
}

// The end of a failed run's output is often all CI shows: the last line
// must say what broke, where and through which calls.
func TestCheckKernelSummaryComesLast(t *testing.T) {
	log := cleanBoot + `[   94.2] BUG: unable to handle page fault for address: ffffffffc0a01234
[   94.2] #PF: supervisor instruction fetch in kernel mode
[   94.2] Oops: 0010 [#1] PREEMPT SMP NOPTI
[   94.2] CPU: 1 PID: 0 Comm: swapper/1 Tainted: G           OE      6.12.95+deb12-amd64 #1
[   94.2] RIP: 0010:nflab_ct_free_rcu+0x12/0x30 [nflab]
[   94.2] Code: 00 00
[   94.2] RSP: 0018:ffffc90000003e20 EFLAGS: 00010246
[   94.2] Call Trace:
[   94.2]  <IRQ>
[   94.2]  ? __die+0x20/0x70
[   94.2]  rcu_core+0x2c1/0x6a0
[   94.2]  handle_softirqs+0xd4/0x2c0
[   94.2]  </IRQ>
[   94.2]  <TASK>
[   94.2]  do_idle+0x1d2/0x230
[   94.2]  </TASK>
[   94.2] Modules linked in: nflab(OE) veth
[   94.2] ---[ end trace 0000000000000000 ]---
[   94.2] RIP: 0010:0xffffffffc0a01234
[   94.2] RAX: 0000000000000000 RBX: ffff88803d237340 RCX: 0000000000000000
[   94.3] Kernel panic - not syncing: Fatal exception in interrupt
`
	err := CheckKernel(log, 1<<7|1<<12|1<<13)
	if err == nil {
		t.Fatal("CheckKernel: no error for an oops")
	}
	msg := err.Error()
	last := msg[strings.LastIndexByte(msg, '\n')+1:]
	want := "in short: BUG: unable to handle page fault for address: ffffffffc0a01234; " +
		"RIP nflab_ct_free_rcu+0x12/0x30 [nflab]; calls rcu_core+0x2c1/0x6a0 < handle_softirqs+0xd4/0x2c0 < do_idle+0x1d2/0x230"
	if last != want {
		t.Errorf("last line of the report:\n%s\nwant:\n%s", last, want)
	}
}
