//go:build linux

package nlclient

import (
	"errors"
	"os"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestReusable checks which failures keep the request socket: only the
// kernel's full answer (an errno in a message), never a receive error or
// a reply that does not match the request, which may leave stale replies.
func TestReusable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, true},
		{ErrDumpInterrupted, true},
		{&netlink.OpError{Op: "receive", Err: unix.ENOENT, Sequence: 7}, true},
		{&netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.ENOBUFS)}, false},
		{&netlink.OpError{Op: "validate", Err: errors.New("mismatched sequence in netlink reply")}, false},
		{errors.New("message truncated"), false},
		{os.ErrDeadlineExceeded, false},
	} {
		if got := reusable(tt.err); got != tt.want {
			t.Errorf("reusable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
