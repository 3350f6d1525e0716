package vm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// splats are kernel log markers of a bug. Any of them fails a run.
var splats = []string{
	"BUG:", "kernel BUG at", "WARNING:", "Oops", "general protection",
	"Call Trace", "Kernel panic", "kernel panic",
	"KASAN", "UBSAN", "KCSAN", "KFENCE",
	"refcount_t:", "list_add corruption", "list_del corruption", "stack-protector",
	// lockdep
	"possible circular locking", "possible recursive locking", "inconsistent lock state",
	"suspicious RCU usage", "lock held when returning", "bad unlock balance",
	"held lock freed", "possible irq lock inversion", "still has locks held",
	// kmemleak
	"unreferenced object", "suspected memory leak",
	// stalls and hangs
	"RCU stall", "self-detected stall", "detected stalls", "soft lockup", "hard LOCKUP",
	"blocked for more than",
}

// benign matches log lines that contain a splat marker but report no bug.
var benign = []*regexp.Regexp{
	// x86 boot notice about a CPU mitigation, not a kernel bug.
	regexp.MustCompile(`Spectre V2 : WARNING: Unprivileged eBPF`),
}

// allowedTaint is the taint the module under test causes by itself:
// TAINT_OOT_MODULE (O, bit 12) and TAINT_UNSIGNED_MODULE (E, bit 13).
const allowedTaint = 1<<12 | 1<<13

// taintFlags are the letters the kernel prints for taint bits 0, 1, ….
const taintFlags = "PFSRMBUDAWCIOELKXTNJ"

const (
	excerptBefore = 2  // lines of context before a marker
	excerptAfter  = 40 // at most, lines after a marker
	maxExcerpts   = 3
)

// CheckKernel reports bug markers in a guest's kernel log and taint bits
// other than allowedTaint, with excerpts of the log.
func CheckKernel(log string, tainted uint64) error {
	var problems []string
	lines := strings.Split(log, "\n")
	var excerpts [][2]int // [start, end) line ranges
	var markers []string
	for i, l := range lines {
		m := splatIn(l)
		if m == "" {
			continue
		}
		if !slices.Contains(markers, m) {
			markers = append(markers, m)
		}
		if n := len(excerpts); n > 0 && i < excerpts[n-1][1] {
			continue // inside the previous excerpt
		}
		if len(excerpts) == maxExcerpts {
			continue
		}
		end := min(len(lines), i+1+excerptAfter)
		for j := i + 1; j < end; j++ {
			if strings.Contains(lines[j], "---[ end trace") {
				end = j + 1
				break
			}
		}
		excerpts = append(excerpts, [2]int{max(0, i-excerptBefore), end})
	}
	if len(markers) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "kernel log reports a bug (%s):", strings.Join(markers, ", "))
		for _, e := range excerpts {
			b.WriteString("\n    ----\n")
			for _, l := range lines[e[0]:e[1]] {
				b.WriteString("    " + l + "\n")
			}
		}
		problems = append(problems, strings.TrimRight(b.String(), "\n"))
	}
	if bad := tainted &^ allowedTaint; bad != 0 {
		problems = append(problems, fmt.Sprintf("kernel is tainted 0x%x (%s): only O and E (out-of-tree, unsigned module) are allowed",
			tainted, TaintString(tainted)))
	}
	if len(markers) > 0 {
		problems = append(problems, "in short: "+splatSummary(lines))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(problems, "\n"))
}

// traceFrame matches a reliable frame of a call trace ("? " marks a
// guess) and captures its function, offset and size.
var traceFrame = regexp.MustCompile(`^(?:\[[^]]*\])?\s+([A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[A-Za-z0-9_]+\])?)`)

// splatSummary says in one line what the first splat was, where (its RIP)
// and through which calls: the end of a failed run's output is often all
// that is shown of it, and an oops's registers come last.
func splatSummary(lines []string) string {
	first := -1
	for i, l := range lines {
		if splatIn(l) != "" {
			first = i
			break
		}
	}
	if first < 0 {
		return ""
	}
	what := strings.TrimSpace(stripStamp(lines[first]))
	var rip string
	var frames []string
	inTrace := false
	end := min(len(lines), first+200)
	for _, l := range lines[first:end] {
		body := strings.TrimSpace(stripStamp(l))
		switch {
		case rip == "" && strings.HasPrefix(body, "RIP: "):
			// "RIP: 0010:fn+0x1a/0x100 [mod]": the code segment first
			rip = strings.TrimPrefix(body, "RIP: ")
			if len(rip) > 5 && rip[4] == ':' {
				rip = rip[5:]
			}
		case strings.HasPrefix(body, "Call Trace:"):
			inTrace = len(frames) == 0
		case inTrace && strings.HasPrefix(body, "<") && strings.HasSuffix(body, ">"):
			// <IRQ>, </IRQ>, <TASK>: context changes within the trace
		case inTrace:
			m := traceFrame.FindStringSubmatch(l)
			if m == nil && !strings.HasPrefix(body, "? ") {
				inTrace = false
			} else if m != nil && len(frames) < 12 {
				frames = append(frames, m[1])
			}
		}
		if strings.Contains(l, "---[ end trace") {
			break
		}
	}
	if rip != "" {
		what += "; RIP " + rip
	}
	if len(frames) > 0 {
		what += "; calls " + strings.Join(frames, " < ")
	}
	return what
}

// stripStamp removes a kernel log line's "[ seconds]" prefix.
func stripStamp(l string) string {
	if strings.HasPrefix(strings.TrimSpace(l), "[") {
		if i := strings.IndexByte(l, ']'); i >= 0 {
			return l[i+1:]
		}
	}
	return l
}

// splatIn returns the first splat marker in line, or "".
func splatIn(line string) string {
	for _, s := range splats {
		if strings.Contains(line, s) {
			for _, re := range benign {
				if re.MatchString(line) {
					return ""
				}
			}
			return s
		}
	}
	return ""
}

// TaintString renders a taint mask as the kernel's flag letters.
func TaintString(t uint64) string {
	var b strings.Builder
	for i := 0; i < 64; i++ {
		if t&(1<<i) == 0 {
			continue
		}
		if i < len(taintFlags) {
			b.WriteByte(taintFlags[i])
		} else {
			fmt.Fprintf(&b, "[%d]", i)
		}
	}
	return b.String()
}
