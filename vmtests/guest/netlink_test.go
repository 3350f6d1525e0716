//go:build nflabvm

package guest

import (
	"errors"
	"strings"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/nlproto"
)

// rawRequest sends one hand-made request to the nflab family and returns the
// kernel's verdict, bypassing the client package's encoders.
func rawRequest(t *testing.T, cmd uint8, flags netlink.HeaderFlags, data []byte) error {
	t.Helper()
	c, err := genetlink.Dial(&netlink.Config{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fam, err := c.GetFamily(nlproto.GENL_NAME)
	if err != nil {
		t.Fatalf("family lookup: %v", err)
	}
	_, err = c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: fam.Version},
		Data:   data,
	}, fam.ID, netlink.Request|netlink.Acknowledge|flags)
	return err
}

func TestNetlinkRejectsMalformedRequests(t *testing.T) {
	loadModule(t)
	mustRun(t, "ip", "link", "set", "lo", "up")
	mustRun(t, "ping", "-q", "-c", "1", "127.0.0.1")
	before := hookStats(t, "nflab", "stats", "-o", "json")

	u32 := func(typ uint16, v uint32) []byte {
		ae := netlink.NewAttributeEncoder()
		ae.Uint32(typ, v)
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		cmd   uint8
		flags netlink.HeaderFlags
		data  []byte
	}{
		{"attribute on a command that takes none", nlproto.CMD_RESET_HOOK_STATS, 0, u32(nlproto.A_PROTO_VERSION, 1)},
		{"attribute type above max", nlproto.CMD_RESET_HOOK_STATS, 0, u32(200, 1)},
		{"truncated attribute", nlproto.CMD_RESET_HOOK_STATS, 0, []byte{8, 0, 3, 0, 1}},
		{"attribute on a read", nlproto.CMD_GET_HOOK_STATS, 0, u32(nlproto.A_HOOKS, 0)},
		{"unknown command", 99, 0, nil},
		{"command zero", 0, 0, nil},
		{"stray nlmsg flag", nlproto.CMD_RESET_HOOK_STATS, netlink.Replace, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := rawRequest(t, tc.cmd, tc.flags, tc.data)
			var oe *netlink.OpError
			if !errors.As(err, &oe) {
				t.Fatalf("got %v, want a netlink error", err)
			}
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
				t.Errorf("got %v, want EINVAL or EOPNOTSUPP", err)
			}
			t.Logf("kernel said: %v (extack %q)", err, oe.Message)
		})
	}
	// Validation failures from the policy carry an extack message.
	err := rawRequest(t, nlproto.CMD_RESET_HOOK_STATS, 0, u32(nlproto.A_PROTO_VERSION, 1))
	var oe *netlink.OpError
	if !errors.As(err, &oe) || strings.TrimSpace(oe.Message) == "" {
		t.Errorf("policy rejection without an extack message: %v", err)
	}

	// None of the rejected resets reset anything.
	checkCounts(t, "after malformed requests", hookStats(t, "nflab", "stats", "-o", "json"), before)

	// The well-formed reset works, proving the requests above reached nflab.
	if err := rawRequest(t, nlproto.CMD_RESET_HOOK_STATS, 0, nil); err != nil {
		t.Fatalf("well-formed reset: %v", err)
	}
}
