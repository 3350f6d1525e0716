//go:build nflabvm

// A seeded netlink fuzzer for the nflab family: random, truncated,
// oversized, wrongly nested and wrongly typed requests to every command, as
// root and as nobody. Every malformed request must be refused with an error
// (and an extack message where the policy rejected it), nothing may change
// and the kernel must not complain (the harness reads its log).
package guest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/nflab/nflab/gotool/nflab"
	"github.com/nflab/nflab/nlproto"
)

const fuzzWorkerEnv = "NFLAB_FUZZ_WORKER" // "seed:count" in the re-executed child

func TestNetlinkFuzz(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("NFLAB_FUZZ_SEED"), 10, 64); err == nil {
		seed = s
	}
	n := envInt("NFLAB_FUZZ_N", 3000)
	t.Logf("seed %d, %d messages per user (reproduce with NFLAB_FUZZ_SEED=%d)", seed, n, seed)

	loadModule(t)
	mustRun(t, "ip", "link", "set", "lo", "up")
	mustRun(t, "ping", "-q", "-c", "2", "-i", "0.2", "127.0.0.1")
	before := hookTotals(t)
	ctBefore := mustRun(t, "nflab", "ct", "config", "-o", "json")

	// As root, in this process.
	if err := fuzzFamily(seed, n, true); err != nil {
		t.Errorf("as root: %v (seed %d)", err, seed)
	}
	// As nobody: this test binary again, without privileges.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d", fuzzWorkerEnv, seed+1, n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("as nobody: %v: %s (seed %d)", err, out, seed)
	}

	if !moduleLoaded() {
		t.Fatal("module gone after fuzzing")
	}
	if after := hookTotals(t); after != before {
		t.Errorf("fuzzing changed the counters: before %v, after %v (seed %d)", before, after, seed)
	}
	if ctAfter := mustRun(t, "nflab", "ct", "config", "-o", "json"); ctAfter != ctBefore {
		t.Errorf("fuzzing changed conntrack: before %s, after %s (seed %d)", ctBefore, ctAfter, seed)
	}
}

// fuzzWorkerMain runs the unprivileged half when the test binary was
// re-executed for it; it reports whether it did.
func fuzzWorkerMain() bool {
	v := os.Getenv(fuzzWorkerEnv)
	if v == "" {
		return false
	}
	var seed uint64
	var n int
	if _, err := fmt.Sscanf(v, "%d:%d", &seed, &n); err != nil {
		fmt.Fprintf(os.Stderr, "bad %s=%q\n", fuzzWorkerEnv, v)
		os.Exit(2)
	}
	if err := fuzzFamily(seed, n, false); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func hookTotals(t *testing.T) [5][2]uint64 {
	t.Helper()
	c, err := nflab.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	stats, err := c.HookStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var v [5][2]uint64
	for _, s := range stats {
		v[s.Hook] = [2]uint64{s.Packets, s.Bytes}
	}
	return v
}

// fuzzMsg is one generated request and what the kernel may answer.
type fuzzMsg struct {
	b    []byte
	desc string
	// ignored: the kernel drops it without an answer (a broken nlmsghdr,
	// or no NLM_F_REQUEST) or answers with an ACK of 0.
	ignored bool
	// valid: a well-formed request that may succeed.
	valid bool
	// wantExtack: a policy rejection, which must carry a message.
	wantExtack bool
}

const (
	nlmsgHdrLen = 16
	genlHdrLen  = 4
)

// fuzzFamily sends n generated requests and checks every answer.
func fuzzFamily(seed uint64, n int, root bool) error {
	gc, err := genetlink.Dial(nil)
	if err != nil {
		return err
	}
	fam, err := gc.GetFamily(nlproto.GENL_NAME)
	gc.Close()
	if err != nil {
		return fmt.Errorf("family lookup: %w", err)
	}

	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, o := range []int{unix.NETLINK_EXT_ACK, unix.NETLINK_CAP_ACK} {
		if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, o, 1); err != nil {
			return err
		}
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(seed, 0x6e666c6162))
	buf := make([]byte, 1<<17)
	for i := 0; i < n; i++ {
		seq := uint32(2 * (i + 1))
		m := genMsg(rng, fam.ID, seq, root)
		if err := unix.Sendto(fd, m.b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			if errors.Is(err, unix.EMSGSIZE) || errors.Is(err, unix.ENOBUFS) {
				continue // refused before the family saw it
			}
			return fmt.Errorf("message %d (%s): send: %w", i, m.desc, err)
		}
		// A well-formed probe after each message: everything up to its
		// answer belongs to the fuzzed message.
		probe := rawMsg(fam.ID, unix.NLM_F_REQUEST, seq+1, nlproto.CMD_GET_VERSION, 1, 0, nil)
		if err := unix.Sendto(fd, probe, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return fmt.Errorf("message %d: probe: %w", i, err)
		}
		if err := checkAnswers(fd, buf, seq, m); err != nil {
			return fmt.Errorf("message %d (%s, % x): %w", i, m.desc, head(m.b), err)
		}
	}
	return nil
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

// checkAnswers reads until the probe's answer and judges the answers to m.
func checkAnswers(fd int, buf []byte, seq uint32, m fuzzMsg) error {
	var answers int
	for {
		nr, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("waiting for the probe's answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:nr])
		if err != nil {
			return fmt.Errorf("parsing answers: %w", err)
		}
		for _, a := range msgs {
			switch a.Header.Seq {
			case seq + 1:
				if a.Header.Type == unix.NLMSG_ERROR {
					return fmt.Errorf("the probe after it failed: %v", nlErr(a.Data))
				}
				if !m.ignored && !m.valid && answers == 0 {
					return errors.New("no answer at all: accepted silently")
				}
				return nil
			case seq:
				answers++
				if err := judge(a, m); err != nil {
					return err
				}
			}
		}
	}
}

func judge(a syscall.NetlinkMessage, m fuzzMsg) error {
	if a.Header.Type != unix.NLMSG_ERROR {
		if m.valid {
			return nil // the reply to a good request
		}
		return fmt.Errorf("accepted: got a reply of type %d", a.Header.Type)
	}
	errno := nlErr(a.Data)
	switch {
	case errno == 0 && (m.valid || m.ignored):
		return nil
	case errno == 0:
		return errors.New("acknowledged with success")
	case m.wantExtack && errno == unix.EINVAL && extackMsg(a) == "":
		return errors.New("rejected with EINVAL but no extack message")
	}
	return nil
}

func nlErr(data []byte) unix.Errno {
	if len(data) < 4 {
		return unix.EBADMSG
	}
	return unix.Errno(-int32(binary.NativeEndian.Uint32(data)))
}

// extackMsg returns NLMSGERR_ATTR_MSG of an error answer (the request is not
// echoed: NETLINK_CAP_ACK).
func extackMsg(a syscall.NetlinkMessage) string {
	if a.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(a.Data) < 4+nlmsgHdrLen {
		return ""
	}
	ad, err := netlink.NewAttributeDecoder(a.Data[4+nlmsgHdrLen:])
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NLMSGERR_ATTR_MSG {
			return strings.TrimRight(ad.String(), "\x00")
		}
	}
	return ""
}

func rawMsg(family uint16, flags uint16, seq uint32, cmd, version uint8, reserved uint16, attrs []byte) []byte {
	b := make([]byte, nlmsgHdrLen+genlHdrLen, nlmsgHdrLen+genlHdrLen+len(attrs))
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+genlHdrLen+len(attrs)))
	binary.NativeEndian.PutUint16(b[4:], family)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b[16], b[17] = cmd, version
	binary.NativeEndian.PutUint16(b[18:], reserved)
	return append(b, attrs...)
}

// genMsg builds one request. Most are well-framed genl messages with bad
// contents, so they reach the family's validation; some break the framing.
// adminCmd reports whether a command needs CAP_NET_ADMIN.
func adminCmd(cmd uint8) bool {
	switch cmd {
	case nlproto.CMD_RESET_HOOK_STATS, nlproto.CMD_CT_GET, nlproto.CMD_CT_DELETE,
		nlproto.CMD_CT_FLUSH, nlproto.CMD_CT_SET_CONFIG, nlproto.CMD_CT_GC:
		return true
	}
	return false
}

// genMsg builds one request. Most are well-framed genl messages with bad
// contents, so they reach the family's validation; some break the framing.
// As root it leaves out the commands whose success would change state
// (conntrack delete, flush, set-config, GC); nobody gets them all and must
// be refused.
func genMsg(rng *rand.Rand, family uint16, seq uint32, root bool) fuzzMsg {
	cmds := []uint8{0, nlproto.CMD_GET_VERSION, nlproto.CMD_GET_HOOK_STATS, nlproto.CMD_RESET_HOOK_STATS,
		nlproto.CMD_CT_GET, nlproto.CMD_CT_COUNT, nlproto.CMD_CT_STATS, nlproto.CMD_CT_GET_CONFIG,
		nlproto.CMD_MAX + 1, 0xff}
	if !root {
		cmds = append(cmds, nlproto.CMD_CT_DELETE, nlproto.CMD_CT_FLUSH, nlproto.CMD_CT_SET_CONFIG, nlproto.CMD_CT_GC)
	}
	cmd := cmds[rng.IntN(len(cmds))]
	known := cmd >= 1 && cmd <= nlproto.CMD_MAX
	allowed := root || !adminCmd(cmd)

	flags := uint16(unix.NLM_F_REQUEST)
	if rng.IntN(2) == 0 {
		flags |= unix.NLM_F_ACK
	}
	badFlags := false
	if rng.IntN(6) == 0 {
		extra := []uint16{unix.NLM_F_DUMP, unix.NLM_F_ROOT, unix.NLM_F_REPLACE, unix.NLM_F_EXCL, unix.NLM_F_CREATE, unix.NLM_F_APPEND}
		flags |= extra[rng.IntN(len(extra))]
		// Conntrack entries are dumped: that flag is fine there.
		badFlags = !(cmd == nlproto.CMD_CT_GET && flags&unix.NLM_F_DUMP == unix.NLM_F_DUMP)
	}
	var reserved uint16
	if rng.IntN(10) == 0 {
		reserved = uint16(1 + rng.IntN(0xfffe))
	}
	attrs, adesc := genAttrs(rng)

	m := fuzzMsg{desc: fmt.Sprintf("cmd %d flags %#x reserved %d attrs %s", cmd, flags, reserved, adesc)}
	m.valid = known && allowed && !badFlags && reserved == 0 && len(attrs) == 0
	if m.valid && cmd == nlproto.CMD_RESET_HOOK_STATS {
		// A good reset would change the state we check: spoil it.
		var extra []byte
		extra, adesc = genAttr(rng, nlproto.A_MAX+1+uint16(rng.IntN(100)), 4)
		attrs = append(attrs, extra...)
		m.desc += " +" + adesc
		m.valid = false
	}
	// A conntrack lookup or dump may find what it was asked for, even in
	// random attributes; it changes nothing either way.
	if cmd == nlproto.CMD_CT_GET && allowed && !badFlags && reserved == 0 {
		m.valid = true
	}
	m.wantExtack = known && allowed && !badFlags && reserved == 0 && len(attrs) > 0
	m.b = rawMsg(family, flags, seq, cmd, uint8(rng.IntN(3)), reserved, attrs)

	// One in eight breaks the framing instead.
	switch rng.IntN(16) {
	case 0: // nlmsg_len beyond the datagram: dropped by netlink
		binary.NativeEndian.PutUint32(m.b[0:], uint32(len(m.b)+1+rng.IntN(100)))
		m.desc += ", nlmsg_len too long"
		m.ignored, m.valid, m.wantExtack = true, false, false
	case 1: // truncated inside the genl header
		m.b = m.b[:nlmsgHdrLen+rng.IntN(genlHdrLen)]
		binary.NativeEndian.PutUint32(m.b[0:], uint32(len(m.b)))
		m.desc += ", genl header truncated"
		m.valid, m.wantExtack = false, false
	case 2: // not a request: the kernel ignores it
		binary.NativeEndian.PutUint16(m.b[6:], flags&^unix.NLM_F_REQUEST)
		m.desc += ", no NLM_F_REQUEST"
		m.ignored, m.valid, m.wantExtack = true, false, false
	}
	return m
}

// genAttrs returns a run of attributes, from none to many, well-formed or
// not, and a short description.
func genAttrs(rng *rand.Rand) ([]byte, string) {
	var b []byte
	var desc []string
	for range rng.IntN(4) {
		typ := uint16(rng.IntN(nlproto.A_MAX + 3))
		if rng.IntN(4) == 0 {
			typ |= unix.NLA_F_NESTED
		}
		a, d := genAttr(rng, typ, rng.IntN(5))
		b = append(b, a...)
		desc = append(desc, d)
	}
	return b, "[" + strings.Join(desc, " ") + "]"
}

// genAttr builds one attribute of the given type in one of several shapes.
func genAttr(rng *rand.Rand, typ uint16, shape int) ([]byte, string) {
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	tlv := func(t uint16, p []byte) []byte {
		b := make([]byte, 4, 4+len(p)+3)
		binary.NativeEndian.PutUint16(b, uint16(4+len(p)))
		binary.NativeEndian.PutUint16(b[2:], t)
		b = append(b, p...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	switch shape {
	case 0: // u32-sized
		return tlv(typ, payload(4)), fmt.Sprintf("%d:u32", typ)
	case 1: // odd sizes: too short or too long for any integer
		n := []int{0, 1, 3, 5, 9, 12}[rng.IntN(6)]
		return tlv(typ, payload(n)), fmt.Sprintf("%d:len%d", typ, n)
	case 2: // oversized
		n := 4096 + rng.IntN(32768)
		return tlv(typ, payload(n)), fmt.Sprintf("%d:len%d", typ, n)
	case 3: // nested, with garbage or a truncated inner attribute inside
		inner := tlv(uint16(rng.IntN(8)), payload(rng.IntN(12)))
		if rng.IntN(2) == 0 {
			binary.NativeEndian.PutUint16(inner, uint16(len(inner)+8))
		}
		return tlv(typ|unix.NLA_F_NESTED, inner), fmt.Sprintf("%d:nest", typ)
	default: // broken header: nla_len below 4, or beyond the message
		b := tlv(typ, payload(4))
		if rng.IntN(2) == 0 {
			binary.NativeEndian.PutUint16(b, uint16(rng.IntN(4)))
		} else {
			binary.NativeEndian.PutUint16(b, uint16(len(b)+4+rng.IntN(64)))
		}
		return b, fmt.Sprintf("%d:badlen", typ)
	}
}
