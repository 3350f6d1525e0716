//go:build linux

package fakemod_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nflab/nflab/gotool/internal/fakemod"
	"github.com/nflab/nflab/gotool/internal/nlclient"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"golang.org/x/sys/unix"
)

// client is the backend on a fresh fake module, so that rules reach the
// fake without nftypes' checks.
func client(t *testing.T) *nlclient.Client {
	t.Helper()
	fakemod.New(fakemod.Options{}).Install(t)
	c, err := nlclient.Dial(-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addRule(t *testing.T, c *nlclient.Client, r nftypes.Rule) error {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	if _, err := tx.AddRule(ctx, r, false, 0); err != nil {
		return err
	}
	_, err = tx.Commit(ctx, false)
	return err
}

// TestEcho checks that a rule reads back as it was sent: defaults left
// out stay out (Burst 0, no PrefixLen, To 0, Mask 0), as the kernel
// echoes the request's bytes.
func TestEcho(t *testing.T) {
	c := client(t)
	r := nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Matches: []nftypes.Match{
		{Kind: nftypes.MatchLimit, Rate: 3, Period: time.Second},
		{Kind: nftypes.MatchConnlimit, Count: 2},
		{Kind: nftypes.MatchString, Pattern: []byte("x"), Algo: nftypes.AlgoBM},
		{Kind: nftypes.MatchMark, Mark: 1},
		{Kind: nftypes.MatchQuota, QuotaBytes: 10},
		{Kind: nftypes.MatchQuota, QuotaBytes: 20},
	}, Action: nftypes.Action{Type: nftypes.ActionMark, Value: 1}}
	if err := addRule(t, c, r); err != nil {
		t.Fatal(err)
	}
	rules, _, err := c.Rules(context.Background())
	if err != nil || len(rules) != 1 {
		t.Fatalf("Rules = %v, %v", rules, err)
	}
	r.Handle = rules[0].Handle
	if diff := cmp.Diff(r, rules[0], cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("read back (-sent +got):\n%s", diff)
	}
}

// TestModuleChecks checks the fake's own checks, made as the kernel's:
// rules that reach it unchecked are refused with the kernel's errno.
func TestModuleChecks(t *testing.T) {
	accept := nftypes.Action{Type: nftypes.ActionAccept}
	for _, tt := range []struct {
		r     nftypes.Rule
		errno unix.Errno
		msg   string // the extended ACK, if given
	}{
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchConnlimit, Count: 65536}}, Action: accept}, unix.ERANGE, "connlimit: at most 65535"},
		{nftypes.Rule{Table: nftypes.TableRaw, Chain: "prerouting", Matches: []nftypes.Match{{Kind: nftypes.MatchConnlimit, Count: 1}}, Action: accept}, unix.EINVAL, "connlimit cannot be used in the raw table: it runs before tracking"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 1, Period: time.Second, Burst: 1000001}}, Action: accept}, unix.EINVAL, ""},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 2000000000, Period: time.Second}}, Action: accept}, unix.ERANGE, "limit: rate too high"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Matches: []nftypes.Match{{Kind: nftypes.MatchLimit, Rate: 1, Period: 24 * time.Hour, Burst: 300000}}, Action: accept}, unix.ERANGE, "limit: burst too large for this rate"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionLog, LogPrefix: "caf\u00e9"}}, unix.EINVAL, "log: the prefix holds an unprintable byte"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionMark, Value: 3, Mask: 1}}, unix.EINVAL, "mark: value has bits outside its mask"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionMark, Value: 1}}, unix.EINVAL, "this action is for the mangle table"},
		// The table comes before the values, as in nflab_action_parse.
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionTOS, Value: 256}}, unix.EINVAL, "this action is for the mangle table"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionTOS, Value: 256}}, unix.ERANGE, "tos: 0 to 255"},
		{nftypes.Rule{Table: nftypes.TableMangle, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionReject}}, unix.EINVAL, "reject is for the filter table"},
		{nftypes.Rule{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionNotrack}}, unix.EINVAL, "notrack is for the raw table"},
	} {
		err := addRule(t, client(t), tt.r)
		if !errors.Is(err, tt.errno) || (tt.msg != "" && !strings.HasSuffix(err.Error(), ": "+tt.msg)) {
			t.Errorf("%+v: %v, want %v: %s", tt.r, err, tt.errno, tt.msg)
		}
	}
}

// TestHookThroughJumps checks the commit's interface check through jumps:
// oif in a user chain that filter/input jumps to is refused.
func TestHookThroughJumps(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	tx, err := c.Begin(ctx, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort(ctx)
	if err := tx.AddChain(ctx, nftypes.Chain{Table: nftypes.TableFilter, Name: "web"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []nftypes.Rule{
		{Table: nftypes.TableFilter, Chain: "web", Matches: []nftypes.Match{{Kind: nftypes.MatchOIF, Iface: "eth0"}}, Action: nftypes.Action{Type: nftypes.ActionDrop}},
		{Table: nftypes.TableFilter, Chain: "input", Action: nftypes.Action{Type: nftypes.ActionJump, Chain: "web"}},
	} {
		if _, err := tx.AddRule(ctx, r, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, err = tx.Commit(ctx, false)
	if want := "rule 1 (handle 1) in filter/web: oif cannot match at a hook this chain runs at"; !errors.Is(err, unix.EINVAL) || !strings.HasSuffix(err.Error(), ": "+want) {
		t.Errorf("Commit = %v, want EINVAL: %s", err, want)
	}
}
