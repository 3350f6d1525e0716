//go:build linux

// Package fakemod is a fake nflab kernel module for tests: it serves the
// "nflab" generic netlink family, as nlproto/nflab.h documents it, on
// in-memory netlink sockets (mdlayher/netlink's Socket interface, as
// genltest's are, but with deadlines, multicast groups and concurrency).
//
// It answers the family lookup (with the operations list and the "ct"
// multicast group), GET_VERSION, the hook counters, CT_GET as a do and as
// a dump with a filter, CT_DELETE, CT_FLUSH, CT_COUNT, CT_STATS, the
// tracker's settings and CT_GC, and rejects what the kernel rejects with
// the errno and, where it has one, an extended ACK message. Conntrack
// events go to the sockets that joined the "ct" group.
//
// It also holds a ruleset and answers every rule engine command:
// transactions owned by the socket that began them (EBUSY for another,
// ENOENT without one, aborted when the socket closes), changes staged on
// a copy, a rule's action checked as the kernel's netlink policy checks
// it (lib/nlattr.c's errnos and words, attribute by attribute) and then
// as nflab_action_parse does, the commit's checks of the whole (unknown
// jump targets and sets, loops and depth, matches and actions that do not
// suit their table or hook, NAT port ranges without their protocol) with
// the kernel's "rule N (handle H) in table/chain: ..." messages, generations, the
// CHAIN_GET, RULE_GET and SET_GET dumps (which InterruptDumps flags too),
// RULE_RESET, and set elements merged into sorted ranges. HitRule counts
// traffic for a rule.
//
// It runs packet traces (protocol 6): TRACE_NEW with the kernel's policy
// and checks (ENOSPC beyond NFLAB_TRACES_MAX), TRACE_DEL of one trace
// (ENOENT) or all, each ending with its END event, and TRACE_GET; tests
// send the "trace" group's events with EmitTrace (counted lost when
// nobody listens; a new packet uses the budget, and the last ends the
// trace), end a trace with EndTrace, make ended traces linger and their
// END events wait, or get lost, with HoldTraceEnds and FlushTraceEnds,
// and overflow the group's listeners with OverrunTraces. Its hook
// counters carry drops by cause (SetHookDrops). Tests give an entry the
// history traced packets would have made with SetHistory (or AddConn): a
// CT_GET do reports it as NFLAB_CT_A_HISTORY, until the last trace ends.
// A module made to speak a protocol older than 6 (Options.Protocol) has
// neither the trace commands, nor the group, nor the drop counters, nor
// histories.
//
// Options.Next makes it speak protocol N+1: it reports PROTO_VERSION+1
// (keeping PROTO_COMPAT), adds an attribute this client does not know to
// every reply and nest (but a rule's MATCHES and ACTION, which are the
// request's bytes echoed, as the kernel's), lists a command this client does not know, and
// holds NextConn, an entry with an unknown status bit and TCP state.
//
// Install plugs a module into package nflab for one test, through
// package testhook; nflab.Dial then returns a real *nflab.Client talking
// to it:
//
//	m := fakemod.New(fakemod.Options{})
//	m.Install(t)
//	c, err := nflab.Dial(nil)
package fakemod

import (
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/internal/testhook"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// The family's numbers, as the kernel might assign them.
const (
	FamilyID = 0x1c
	GroupID  = 7
)

// Version is the module version the fake reports.
const Version = "0.1.0-fake"

// Options configure a Module.
type Options struct {
	// Next makes the module speak protocol PROTO_VERSION+1; see the
	// package documentation.
	Next bool
	// Protocol and Compat, when non-zero, override the protocol versions
	// the module reports (after Next), to test incompatible modules.
	Protocol, Compat uint32
	// ExplicitProtocol makes the module report Protocol even when it is
	// 0: a module older than PROTO_COMPAT.
	ExplicitProtocol bool
	// NoCompat leaves NFLAB_A_PROTO_COMPAT out of GET_VERSION, as modules
	// before it did.
	NoCompat bool
	// Unprivileged makes the caller lack CAP_NET_ADMIN: admin commands
	// and joining the "ct" or "trace" group fail with EPERM.
	Unprivileged bool
	// Missing lists commands left out of the family's operations, as an
	// older module would.
	Missing []uint8
}

// NextConn is the entry a module with Options.Next holds from the start:
// its status has a bit and its TCP state a value this client does not
// know.
var NextConn = nftypes.Conn{
	ID: 1000,
	Orig: nftypes.Tuple{Src: netip.MustParseAddr("10.9.9.1"), Dst: netip.MustParseAddr("10.9.9.2"),
		Proto: nftypes.TCP, SrcPort: 4000, DstPort: 80},
	Reply: nftypes.Tuple{Src: netip.MustParseAddr("10.9.9.2"), Dst: netip.MustParseAddr("10.9.9.1"),
		Proto: nftypes.TCP, SrcPort: 80, DstPort: 4000},
	Status:   nftypes.StatusConfirmed | 1<<20,
	TCPState: nlproto.TCP_MAX + 1,
	Timeout:  60 * time.Second,
}

// A Module is one fake nflab module. It is safe for concurrent use.
type Module struct {
	opts Options

	mu       sync.Mutex
	socks    map[*socket]bool
	nextPID  uint32
	conns    []nftypes.Conn
	nextID   uint32
	hooks    [nlproto.HOOK_MAX + 1]nftypes.HookStat
	stats    nftypes.TrackerStats
	cfg      nftypes.TrackerConfig
	fail     map[uint8]failure
	stall    map[uint8]bool
	delay    map[uint8]time.Duration
	intr     int // dumps left to flag NLM_F_DUMP_INTR
	midDump  bool
	held     []heldPart
	netns    []int // the namespace of every Dial, in order
	unloaded bool
	requests map[uint8]int
	rules    rulesState

	traces    []*ftrace // running, in the order they started
	ending    []*ftrace // ended, their END kept back (HoldTraceEnds)
	holdEnds  bool
	nextTrace uint32 // the last trace ID given
}

type failure struct {
	errno unix.Errno
	msg   string
}

// New returns a module with an empty table, the kernel's default settings
// and a few counters set.
func New(opts Options) *Module {
	m := &Module{
		opts:     opts,
		socks:    make(map[*socket]bool),
		nextID:   1,
		fail:     make(map[uint8]failure),
		stall:    make(map[uint8]bool),
		delay:    make(map[uint8]time.Duration),
		requests: make(map[uint8]int),
	}
	for h := range m.hooks {
		m.hooks[h] = nftypes.HookStat{Hook: nftypes.Hook(h), Packets: uint64(h + 1), Bytes: uint64(84 * (h + 1)),
			Drops: &nftypes.HookDrops{Rule: uint64(h), Invalid: uint64(h / 2), Full: uint64(h / 3), NAT: uint64(h / 4)}}
		if nftypes.Hook(h).HasUnseenAfter() {
			m.hooks[h].Drops.UnseenAfter = uint64(10 * h)
		}
	}
	limit, loose := uint32(65536), false
	m.cfg = nftypes.TrackerConfig{Limit: &limit, TCPLoose: &loose, Timeouts: map[nftypes.Timeout]time.Duration{}}
	for t, secs := range map[nftypes.Timeout]int{
		nftypes.TimeoutTCPSynSent: 120, nftypes.TimeoutTCPSynRecv: 60, nftypes.TimeoutTCPEstablished: 432000,
		nftypes.TimeoutTCPFinWait: 120, nftypes.TimeoutTCPCloseWait: 60, nftypes.TimeoutTCPLastAck: 30,
		nftypes.TimeoutTCPTimeWait: 120, nftypes.TimeoutTCPClose: 10, nftypes.TimeoutUDPUnreplied: 30,
		nftypes.TimeoutUDPAssured: 120, nftypes.TimeoutICMP: 30, nftypes.TimeoutTCPRetrans: 300,
		nftypes.TimeoutTCPUnack: 300,
	} {
		m.cfg.Timeouts[t] = time.Duration(secs) * time.Second
	}
	if opts.Next {
		m.conns = append(m.conns, NextConn)
	}
	m.rules.live = emptyRuleset()
	return m
}

// Dial opens a socket to the module, as testhook.DialFunc; netns is
// recorded (see DialedNetNS), not entered.
func (m *Module) Dial(netns int) (*netlink.Conn, error) {
	m.mu.Lock()
	m.netns = append(m.netns, netns)
	m.nextPID++
	s := &socket{m: m, pid: 1000 + m.nextPID, groups: make(map[uint32]bool), wake: make(chan struct{}, 1)}
	m.socks[s] = true
	m.mu.Unlock()
	return netlink.NewConn(s, s.pid), nil
}

// Install makes nflab.Dial talk to m until the end of t. Tests that
// install a module must not run in parallel with others that dial.
func (m *Module) Install(t testing.TB) {
	t.Helper()
	t.Cleanup(testhook.Set(m.Dial))
}

func (m *Module) drop(s *socket) {
	m.mu.Lock()
	delete(m.socks, s)
	m.mu.Unlock()
	m.abortTx(s.pid)
}

// Sockets returns how many sockets are open to the module.
func (m *Module) Sockets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.socks)
}

// Listeners returns how many sockets joined the "ct" group.
func (m *Module) Listeners() int { return len(m.members()) }

// Watchers returns how many sockets joined either group, "ct" or "trace".
func (m *Module) Watchers() int { return m.Listeners() + m.TraceListeners() }

// Requests returns how many requests with command cmd the module got.
func (m *Module) Requests(cmd uint8) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[cmd]
}

func (m *Module) join(s *socket, group uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if (group == GroupID || group == TraceGroupID) && m.opts.Unprivileged {
		return unix.EPERM
	}
	s.mu.Lock()
	s.groups[group] = true
	s.mu.Unlock()
	return nil
}

// AddConn adds c to the table, giving it an ID if it has none, and
// announces it to the "ct" group. It returns the entry as stored. Its
// History, if any, is kept as SetHistory keeps one.
func (m *Module) AddConn(c nftypes.Conn) nftypes.Conn {
	m.mu.Lock()
	if c.ID == 0 {
		c.ID = m.nextID
		m.nextID++
	}
	m.conns = append(m.conns, c)
	m.emitLocked(nftypes.EventNew, c)
	m.mu.Unlock()
	return c
}

// SetHistory gives the entry with ID id the changes h, oldest first, as
// if packets a trace followed had made them, and reports whether there is
// such an entry. A CT_GET do reports the last NFLAB_CT_HISTORY_MAX of them
// (a dump or an event none, a module older than protocol 6 never), until
// the module's last trace ends, which forgets every history, as the
// kernel's does. Nothing checks that a trace runs.
func (m *Module) SetHistory(id uint32, h []nftypes.ConnChange) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.conns, func(c nftypes.Conn) bool { return c.ID == id })
	if i < 0 {
		return false
	}
	m.conns[i].History = slices.Clone(h)
	return true
}

// forgetHistoryLocked drops every entry's history once no trace runs.
func (m *Module) forgetHistoryLocked() {
	if len(m.traces) > 0 || len(m.ending) > 0 {
		return
	}
	for i := range m.conns {
		m.conns[i].History = nil
	}
}

// Conns returns the entries in the table.
func (m *Module) Conns() []nftypes.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.conns)
}

// Config returns the tracker's settings.
func (m *Module) Config() nftypes.TrackerConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	return cloneConfig(m.cfg)
}

func cloneConfig(c nftypes.TrackerConfig) nftypes.TrackerConfig {
	limit, loose := *c.Limit, *c.TCPLoose
	return nftypes.TrackerConfig{Limit: &limit, TCPLoose: &loose, Timeouts: maps.Clone(c.Timeouts)}
}

// Emit sends a notification of type typ about c to the sockets that
// joined the "ct" group.
func (m *Module) Emit(typ nftypes.ConnEventType, c nftypes.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.emitLocked(typ, c)
}

func (m *Module) emitLocked(typ nftypes.ConnEventType, c nftypes.Conn) {
	cmd := map[nftypes.ConnEventType]uint8{
		nftypes.EventNew:     nlproto.CMD_CT_EVENT_NEW,
		nftypes.EventUpdate:  nlproto.CMD_CT_EVENT_UPDATE,
		nftypes.EventDestroy: nlproto.CMD_CT_EVENT_DESTROY,
	}[typ]
	ae := netlink.NewAttributeEncoder()
	m.encodeConn(ae, c, false) // an event carries no history
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	msg := genlMessage(cmd, b, 0, 0, 0)
	for _, s := range m.membersLocked() {
		s.deliver([]netlink.Message{msg})
	}
}

// Overrun makes the next receive of every socket in the "ct" group fail
// with ENOBUFS, as when the kernel drops notifications.
func (m *Module) Overrun() {
	for _, s := range m.members() {
		s.deliver(nil)
	}
}

func (m *Module) members() []*socket {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.membersLocked()
}

func (m *Module) membersLocked() []*socket { return m.groupMembersLocked(GroupID) }

// groupMembersLocked returns the sockets that joined group; m.mu is held.
func (m *Module) groupMembersLocked(group uint32) []*socket {
	var out []*socket
	for s := range m.socks {
		s.mu.Lock()
		if s.groups[group] {
			out = append(out, s)
		}
		s.mu.Unlock()
	}
	return out
}

// Fail makes every request with command cmd fail with errno and the
// extended ACK message msg ("" for none); errno 0 stops that.
func (m *Module) Fail(cmd uint8, errno unix.Errno, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if errno == 0 {
		delete(m.fail, cmd)
		return
	}
	m.fail[cmd] = failure{errno, msg}
}

// Stall makes the module leave requests with command cmd unanswered (on
// true) or answer them again (on false), to test cancellation.
func (m *Module) Stall(cmd uint8, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stall[cmd] = on
}

// DelayReplies makes the module answer requests with command cmd at once,
// their work done, but deliver the answer d later (0: at once again): a
// reply in flight when the caller gives up.
func (m *Module) DelayReplies(cmd uint8, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delay[cmd] = d
}

// delayOf returns how long the answer to req waits (DelayReplies).
func (m *Module) delayOf(req netlink.Message) time.Duration {
	var g genetlink.Message
	if req.Header.Type != FamilyID || g.UnmarshalBinary(req.Data) != nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.delay[g.Header.Command]
}

// A heldPart is a datagram of a dump kept back by StallMidDump.
type heldPart struct {
	s  *socket
	dg []netlink.Message
}

// StallMidDump makes the module send only the first datagram of each
// answer that has more (a dump of two entries or more) and keep the rest
// back (on true), until ResumeDumps; false stops holding back.
func (m *Module) StallMidDump(on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.midDump = on
}

// ResumeDumps sends the datagrams StallMidDump kept back to their
// sockets; a socket closed meanwhile gets nothing.
func (m *Module) ResumeDumps() {
	m.mu.Lock()
	held := m.held
	m.held = nil
	m.mu.Unlock()
	for _, h := range held {
		h.s.deliver(h.dg)
	}
}

// holdBack returns the datagrams of an answer to send now, keeping back
// the others when StallMidDump is on.
func (m *Module) holdBack(s *socket, dgs [][]netlink.Message) [][]netlink.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.midDump || len(dgs) < 2 {
		return dgs
	}
	for _, dg := range dgs[1:] {
		m.held = append(m.held, heldPart{s, dg})
	}
	return dgs[:1]
}

// DialedNetNS returns the namespace argument of every Dial so far, in
// order: the client's DialOptions.NetNS, for each socket it opened.
func (m *Module) DialedNetNS() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.netns)
}

// InterruptDumps flags the next n dumps NLM_F_DUMP_INTR.
func (m *Module) InterruptDumps(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.intr = n
}

// Unload makes the family disappear, as rmmod does.
func (m *Module) Unload() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unloaded = true
}

func (m *Module) protocol() (version, compat uint32) {
	version, compat = nlproto.PROTO_VERSION, nlproto.PROTO_COMPAT
	if m.opts.Next {
		version++
	}
	if m.opts.Protocol != 0 || m.opts.ExplicitProtocol {
		version = m.opts.Protocol
	}
	if m.opts.Compat != 0 {
		compat = m.opts.Compat
	}
	return version, compat
}

// genlMessage builds a netlink message of the family carrying a generic
// netlink header with cmd and the attributes b.
func genlMessage(cmd uint8, b []byte, flags netlink.HeaderFlags, seq, pid uint32) netlink.Message {
	data := append([]byte{cmd, nlproto.GENL_VERSION, 0, 0}, b...)
	return netlink.Message{
		Header: netlink.Header{Length: uint32(16 + len(data)), Type: FamilyID, Flags: flags, Sequence: seq, PID: pid},
		Data:   data,
	}
}

// errorMessage builds the NLMSG_ERROR the kernel sends for req: an ACK
// for errno 0, else the error with the request and, if msg is not empty,
// an extended ACK message.
func errorMessage(req netlink.Message, errno unix.Errno, msg string) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	flags := netlink.HeaderFlags(0)
	hdr := req.Header
	body := req.Data
	if errno == 0 {
		flags |= netlink.Capped
		body = nil
	}
	hdr.Length = uint32(16 + len(body))
	data = binary.NativeEndian.AppendUint32(data, hdr.Length)
	data = binary.NativeEndian.AppendUint16(data, uint16(hdr.Type))
	data = binary.NativeEndian.AppendUint16(data, uint16(hdr.Flags))
	data = binary.NativeEndian.AppendUint32(data, hdr.Sequence)
	data = binary.NativeEndian.AppendUint32(data, hdr.PID)
	data = append(data, body...)
	if msg != "" {
		flags |= netlink.AcknowledgeTLVs
		ae := netlink.NewAttributeEncoder()
		ae.String(unix.NLMSGERR_ATTR_MSG, msg)
		b, _ := ae.Encode()
		data = append(data, b...)
	}
	return netlink.Message{
		Header: netlink.Header{Length: uint32(16 + len(data)), Type: netlink.Error, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   data,
	}
}

// fails answers a request with an error.
func fails(req netlink.Message, errno unix.Errno, msg string) [][]netlink.Message {
	return [][]netlink.Message{{errorMessage(req, errno, msg)}}
}

// rejects answers a request whose decoding failed with err.
func rejects(req netlink.Message, err error) [][]netlink.Message {
	var ce *checkErr
	if errors.As(err, &ce) {
		return fails(req, ce.errno, ce.msg)
	}
	var bad badRequest
	if errors.As(err, &bad) {
		return fails(req, unix.EINVAL, string(bad))
	}
	return fails(req, unix.EINVAL, "malformed attributes")
}
