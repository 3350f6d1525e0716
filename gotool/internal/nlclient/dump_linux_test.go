//go:build linux

package nlclient

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// dumpServer answers every dump with three parts; the first intr answers
// have NLM_F_DUMP_INTR on the part given by intrPart.
func dumpServer(t *testing.T, intr, intrPart int, calls *int) *genetlink.Conn {
	return genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) == 0 {
			t.Fatal("unexpected receive without request")
		}
		req := reqs[0]
		if want := netlink.Request | netlink.Dump; req.Header.Flags != want {
			t.Errorf("request flags = %v, want %v", req.Header.Flags, want)
		}
		*calls++
		var msgs []netlink.Message
		for i := range 3 {
			gm, err := (&genetlink.Message{
				Header: genetlink.Header{Command: 1, Version: 1},
				Data:   []byte{byte(*calls), byte(i), 0, 0},
			}).MarshalBinary()
			if err != nil {
				return nil, err
			}
			m := netlink.Message{
				Header: netlink.Header{Type: req.Header.Type, Sequence: req.Header.Sequence, PID: req.Header.PID},
				Data:   gm,
			}
			if *calls <= intr && i == intrPart {
				m.Header.Flags |= netlink.DumpInterrupted
			}
			msgs = append(msgs, m)
		}
		// A Done message closes the dump, as the kernel's does.
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Sequence: req.Header.Sequence, PID: req.Header.PID},
			Data:   make([]byte, 4),
		})
		return nltest.Multipart(msgs)
	}))
}

func TestDumpRetriesInterrupted(t *testing.T) {
	for _, part := range []int{0, 2} {
		var calls int
		c := dumpServer(t, 2, part, &calls)
		msgs, err := dump(c, 0x1c, request(1))
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		if calls != 3 {
			t.Errorf("flag on part %d: %d attempts, want 3", part, calls)
		}
		var got [][]byte
		for _, m := range msgs {
			got = append(got, m.Data)
		}
		want := [][]byte{{3, 0, 0, 0}, {3, 1, 0, 0}, {3, 2, 0, 0}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("dump returned (-want +got):\n%s", diff)
		}
		_ = c.Close()
	}
}

func TestDumpGivesUp(t *testing.T) {
	var calls int
	c := dumpServer(t, 1000, 1, &calls)
	defer c.Close()
	_, err := dump(c, 0x1c, request(1))
	if !errors.Is(err, ErrDumpInterrupted) {
		t.Fatalf("dump error = %v, want ErrDumpInterrupted", err)
	}
	if calls != maxDumpAttempts {
		t.Fatalf("%d attempts, want %d", calls, maxDumpAttempts)
	}
}

func TestDumpClean(t *testing.T) {
	var calls int
	c := dumpServer(t, 0, 0, &calls)
	defer c.Close()
	msgs, err := dump(c, 0x1c, request(1))
	if err != nil || len(msgs) != 3 || calls != 1 {
		t.Fatalf("dump = %d messages, %v after %d attempts; want 3, nil, 1", len(msgs), err, calls)
	}
}
