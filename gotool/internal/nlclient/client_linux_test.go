//go:build linux

package nlclient

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

var testFamily = genetlink.Family{ID: 0x1c, Version: nlproto.GENL_VERSION, Name: nlproto.GENL_NAME}

// golden turns commented hex, one attribute per line, into bytes.
func golden(t *testing.T, s string) []byte {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden messages are little-endian")
	}
	var clean strings.Builder
	for line := range strings.Lines(s) {
		line, _, _ = strings.Cut(line, "#")
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad golden hex: %v", err)
	}
	return b
}

func testClient(t *testing.T, fn genltest.Func) *Client {
	t.Helper()
	c, err := initClient(genltest.Dial(genltest.ServeFamily(testFamily, fn)))
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// versionReply is what the module sends for NFLAB_CMD_GET_VERSION.
const versionReply = `
0a00 0200 302e312e3000 0000   # NFLAB_A_VERSION "0.1.0\0", padded
0800 0300 01000000            # NFLAB_A_PROTO_VERSION 1
`

// hookStatsReply is what the module sends for NFLAB_CMD_GET_HOOK_STATS on
// x86-64 (no NFLAB_HOOK_A_PAD needed there).
const hookStatsReply = `
b800 0480                     # NFLAB_A_HOOKS|NLA_F_NESTED, 184 bytes
  2400 0580                   # NFLAB_A_HOOK|NLA_F_NESTED
    0800 0200 00000000        # HOOKNUM 0 (PRE_ROUTING)
    0c00 0300 0100000000000000 # PACKETS 1
    0c00 0400 5400000000000000 # BYTES 84
  2400 0580
    0800 0200 01000000        # LOCAL_IN
    0c00 0300 0200000000000000
    0c00 0400 a800000000000000
  2400 0580
    0800 0200 02000000        # FORWARD
    0c00 0300 0000000000000000
    0c00 0400 0000000000000000
  2400 0580
    0800 0200 03000000        # LOCAL_OUT
    0c00 0300 0300000000000000
    0c00 0400 fc00000000000000
  2400 0580
    0800 0200 04000000        # POST_ROUTING
    0c00 0300 0807060504030201 # PACKETS 0x0102030405060708
    0c00 0400 ffffffffffffffff # BYTES max u64
`

var wantHookStats = []nftypes.HookStat{
	{Hook: 0, Packets: 1, Bytes: 84},
	{Hook: 1, Packets: 2, Bytes: 168},
	{Hook: 2},
	{Hook: 3, Packets: 3, Bytes: 252},
	{Hook: 4, Packets: 0x0102030405060708, Bytes: 1<<64 - 1},
}

func reply(cmd uint8, data []byte) []genetlink.Message {
	return []genetlink.Message{{
		Header: genetlink.Header{Command: cmd, Version: nlproto.GENL_VERSION},
		Data:   data,
	}}
}

func TestRequests(t *testing.T) {
	tests := []struct {
		name string
		call func(c *Client) error
		resp func(t *testing.T) ([]genetlink.Message, error)
		want string // the whole netlink message, sequence and PID zeroed
	}{
		{
			name: "version",
			call: func(c *Client) error { _, err := c.Version(ctx); return err },
			resp: func(t *testing.T) ([]genetlink.Message, error) {
				return reply(nlproto.CMD_GET_VERSION, golden(t, versionReply)), nil
			},
			want: `
14000000 1c00 0100 00000000 00000000  # len 20, testFamily 0x1c, NLM_F_REQUEST
01 01 0000                            # NFLAB_CMD_GET_VERSION, version 1, no attributes
`,
		},
		{
			name: "hook stats",
			call: func(c *Client) error { _, err := c.HookStats(ctx); return err },
			resp: func(t *testing.T) ([]genetlink.Message, error) {
				return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, hookStatsReply)), nil
			},
			want: `
14000000 1c00 0100 00000000 00000000
02 01 0000                            # NFLAB_CMD_GET_HOOK_STATS
`,
		},
		{
			name: "reset hook stats",
			call: func(c *Client) error { return c.ResetHookStats(ctx) },
			resp: func(*testing.T) ([]genetlink.Message, error) {
				return nil, io.EOF // an ACK: nothing for the caller
			},
			want: `
14000000 1c00 0500 00000000 00000000  # NLM_F_REQUEST|NLM_F_ACK
03 01 0000                            # NFLAB_CMD_RESET_HOOK_STATS
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRequest(t, tt.call, func(genetlink.Message) ([]genetlink.Message, error) {
				return tt.resp(t)
			}, tt.want)
		})
	}
}

// checkRequest runs call against a module that answers with respond and
// compares the request it got, sequence and PID zeroed, with golden want.
func checkRequest(t *testing.T, call func(*Client) error,
	respond func(req genetlink.Message) ([]genetlink.Message, error), want string) {
	t.Helper()
	var got []byte
	c := testClient(t, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		nreq.Header.Sequence, nreq.Header.PID = 0, 0
		b, err := nreq.MarshalBinary()
		if err != nil {
			return nil, err
		}
		got = b
		return respond(greq)
	})
	if err := call(c); err != nil {
		t.Fatalf("call: %v", err)
	}
	if diff := cmp.Diff(golden(t, want), got); diff != "" {
		t.Fatalf("request (-want +got):\n%s", diff)
	}
}

func TestVersion(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_VERSION, golden(t, versionReply)), nil
	})
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nftypes.Version{Module: "0.1.0", Protocol: 1, Compat: 1}, v); diff != "" {
		t.Fatalf("Version (-want +got):\n%s", diff)
	}
}

func TestHookStats(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, hookStatsReply)), nil
	})
	got, err := c.HookStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantHookStats, got); diff != "" {
		t.Fatalf("HookStats (-want +got):\n%s", diff)
	}
}

// A newer module may add attributes, and a 32-bit kernel pads u64s; both
// must decode to the same result.
func TestHookStatsForwardCompatible(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, `
0800 6300 2a000000            # unknown top-level attribute 99
3400 0480                     # NFLAB_A_HOOKS
  0800 0700 00000000          # unknown attribute inside the list
  2800 0580                   # NFLAB_A_HOOK
    0800 0200 03000000        # HOOKNUM 3
    0400 0100                 # NFLAB_HOOK_A_PAD
    0c00 0300 0300000000000000
    0c00 0400 fc00000000000000
`)), nil
	})
	got, err := c.HookStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]nftypes.HookStat{{Hook: 3, Packets: 3, Bytes: 252}}, got); diff != "" {
		t.Fatalf("HookStats (-want +got):\n%s", diff)
	}
}

func TestMalformedReplies(t *testing.T) {
	tests := []struct {
		name string
		cmd  uint8 // of the request and its reply
		data string
		want string
	}{
		{
			name: "truncated attribute",
			cmd:  nlproto.CMD_GET_VERSION,
			data: "0c00 0200 302e31", // claims 12 bytes, has 7
			want: "nflab: get version: malformed reply: ",
		},
		{
			name: "short attribute header",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: "0800",
			want: "nflab: get hook stats: malformed reply: ",
		},
		{
			name: "u64 of the wrong size",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: `
1c00 0480
  1800 0580
    0800 0200 00000000
    0800 0300 01000000        # PACKETS as a u32
    0400 0400                 # BYTES with no data
`,
			want: "nflab: get hook stats: malformed reply: netlink: attribute 3 is not a uint64; length: 4",
		},
		{
			name: "truncated nest",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: `
1000 0480
  2400 0580                   # claims 36 bytes
    0800 0200 00000000
`,
			want: "nflab: get hook stats: malformed reply: ",
		},
		{
			name: "missing version",
			cmd:  nlproto.CMD_GET_VERSION,
			data: "0800 0300 01000000",
			want: "nflab: get version: malformed reply: missing attribute NFLAB_A_VERSION",
		},
		{
			name: "missing hooks",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: "",
			want: "nflab: get hook stats: malformed reply: missing attribute NFLAB_A_HOOKS",
		},
		{
			name: "missing bytes",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: `
1c00 0480
  1800 0580
    0800 0200 00000000
    0c00 0300 0100000000000000
`,
			want: "nflab: get hook stats: malformed reply: in NFLAB_A_HOOK: missing attribute NFLAB_HOOK_A_BYTES",
		},
		{
			name: "duplicate hook",
			cmd:  nlproto.CMD_GET_HOOK_STATS,
			data: `
4c00 0480
  2400 0580
    0800 0200 01000000
    0c00 0300 0100000000000000
    0c00 0400 0100000000000000
  2400 0580
    0800 0200 01000000
    0c00 0300 0100000000000000
    0c00 0400 0100000000000000
`,
			want: "nflab: get hook stats: malformed reply: hook 1 reported twice",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := golden(t, tt.data)
			c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
				return reply(tt.cmd, data), nil
			})
			var err error
			if tt.cmd == nlproto.CMD_GET_VERSION {
				_, err = c.Version(ctx)
			} else {
				_, err = c.HookStats(ctx)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestWrongReplyCommand(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return reply(nlproto.CMD_GET_HOOK_STATS, golden(t, hookStatsReply)), nil
	})
	_, err := c.Version(ctx)
	if want := "nflab: get version: malformed reply: reply has command 2, want 1"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestNotLoaded(t *testing.T) {
	// ServeFamily answers only for its own testFamily name; the kernel
	// answers ENOENT for one that is not registered.
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	_, err := initClient(conn)
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("initClient error = %v, want ErrNotLoaded", err)
	}
	if want := "nflab: kernel module not loaded"; err.Error() != want {
		t.Fatalf("error text = %q, want %q", err, want)
	}
}

func TestFamilyLookupOtherError(t *testing.T) {
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOBUFS))
	})
	_, err := initClient(conn)
	if err == nil || errors.Is(err, ErrNotLoaded) || !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("initClient error = %v, want ENOBUFS and not ErrNotLoaded", err)
	}
}

func TestPermission(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.EACCES} {
		c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return nil, genltest.Error(int(errno))
		})
		err := c.ResetHookStats(ctx)
		if !errors.Is(err, os.ErrPermission) {
			t.Fatalf("%v: ResetHookStats error = %v, want os.ErrPermission", errno, err)
		}
		if want := "nflab: reset hook stats: " + errno.Error(); err.Error() != want {
			t.Fatalf("error text = %q, want %q", err, want)
		}
	}
}

// TestExtendedAck sends a real NLMSG_ERROR with an NLMSGERR_ATTR_MSG TLV,
// as the kernel does when a request fails its policy.
func TestExtendedAck(t *testing.T) {
	const msg = "Unknown attribute type"
	conn := genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		req := reqs[0]
		if req.Header.Type == unix.GENL_ID_CTRL {
			return familyReply(t, req), nil
		}
		echo, err := req.MarshalBinary()
		if err != nil {
			return nil, err
		}
		errno := -int32(unix.EINVAL)
		data := binary.NativeEndian.AppendUint32(nil, uint32(errno))
		data = append(data, echo...)
		data = append(data, nltest.MustMarshalAttributes([]netlink.Attribute{
			{Type: unix.NLMSGERR_ATTR_MSG, Data: append([]byte(msg), 0)},
		})...)
		return []netlink.Message{{
			Header: netlink.Header{
				Type:     netlink.Error,
				Flags:    netlink.AcknowledgeTLVs,
				Sequence: req.Header.Sequence,
				PID:      req.Header.PID,
			},
			Data: data,
		}}, nil
	}))
	c, err := initClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	_, err = c.Version(ctx)
	if want := "nflab: get version: invalid argument: " + msg; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	var oe *OpError
	if !errors.As(err, &oe) || oe.Message != msg || oe.Err != unix.EINVAL || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("error %#v is not an *OpError with EINVAL and the extended ACK message", err)
	}
}

// familyReply answers a CTRL_CMD_GETFAMILY request for testFamily.
func familyReply(t *testing.T, req netlink.Message) []netlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, testFamily.ID)
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, testFamily.Name)
	ae.Uint32(unix.CTRL_ATTR_VERSION, uint32(testFamily.Version))
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	gm, err := (&genetlink.Message{
		Header: genetlink.Header{Command: unix.CTRL_CMD_NEWFAMILY, Version: 2},
		Data:   attrs,
	}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return []netlink.Message{{
		Header: netlink.Header{Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   gm,
	}}
}

// TestUnloadedAfterLookup: rmmod between Dial and a request makes the
// kernel answer ENOENT for the stale testFamily id; the client then finds the
// testFamily gone (or back under a new id after a reload) and reports
// ErrNotLoaded. An ENOENT while the same testFamily is still registered stays
// the command's own error.
func TestUnloadedAfterLookup(t *testing.T) {
	reloaded := testFamily
	reloaded.ID++
	enoent := func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	}
	for _, tc := range []struct {
		name          string
		after         genltest.Func // answers once the request failed
		wantNotLoaded bool
	}{
		{"unloaded", func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return nil, genltest.Error(int(unix.ENOENT))
		}, true},
		{"reloaded", genltest.ServeFamily(reloaded, enoent), true},
		{"still there", genltest.ServeFamily(testFamily, enoent), false},
	} {
		serve := genltest.ServeFamily(testFamily, enoent)
		c, err := initClient(genltest.Dial(func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
			return serve(greq, nreq)
		}))
		if err != nil {
			t.Fatalf("%s: initClient: %v", tc.name, err)
		}
		serve = tc.after
		_, err = c.HookStats(ctx)
		if got := errors.Is(err, ErrNotLoaded); got != tc.wantNotLoaded {
			t.Errorf("%s: HookStats error = %v; ErrNotLoaded %v, want %v", tc.name, err, got, tc.wantNotLoaded)
		}
		if !tc.wantNotLoaded && !errors.Is(err, unix.ENOENT) {
			t.Errorf("%s: error = %v, want ENOENT", tc.name, err)
		}
		_ = c.Close()
	}
}

// TestDumpDuringUnload: a dump while rmmod runs is refused with
// EPROTONOSUPPORT (the module reference cannot be taken): not loaded.
func TestDumpDuringUnload(t *testing.T) {
	c := testClient(t, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, nil
	})
	err := c.opErr(nil, "dump connections", &netlink.OpError{Op: "receive", Err: unix.EPROTONOSUPPORT})
	if !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("opErr = %v, want ErrNotLoaded", err)
	}
}

var ctx = context.Background()

// initClient binds an open connection (a fake one, in tests) to the family.
// A discarded socket cannot be replaced.
func initClient(conn *genetlink.Conn) (*Client, error) {
	used := false
	return newClient(func() (*genetlink.Conn, *netlink.Conn, error) {
		if used {
			return nil, nil, errors.New("test connection already used")
		}
		used = true
		return conn, nil, nil
	}, nil)
}
