package nlproto

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The header promises that enum nflab_hook equals the kernel's
// enum nf_inet_hooks; x/sys/unix carries the kernel's numbers.
func TestHooksMatchKernel(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want int
	}{
		{"PRE_ROUTING", HOOK_PRE_ROUTING, unix.NF_INET_PRE_ROUTING},
		{"LOCAL_IN", HOOK_LOCAL_IN, unix.NF_INET_LOCAL_IN},
		{"FORWARD", HOOK_FORWARD, unix.NF_INET_FORWARD},
		{"LOCAL_OUT", HOOK_LOCAL_OUT, unix.NF_INET_LOCAL_OUT},
		{"POST_ROUTING", HOOK_POST_ROUTING, unix.NF_INET_POST_ROUTING},
		{"MAX", HOOK_MAX + 1, unix.NF_INET_NUMHOOKS},
	} {
		if tt.got != tt.want {
			t.Errorf("HOOK_%s = %d, kernel says %d", tt.name, tt.got, tt.want)
		}
	}
}
