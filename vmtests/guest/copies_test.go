//go:build nflabvm

// Copies, clones and reinjected packets: an entry is confirmed, accounted
// and answered only by its own packets, whatever happens to them between
// nflab's tracking hook (PRE_ROUTING/LOCAL_OUT, -200) and its confirm hook
// (LOCAL_IN/POST_ROUTING, last): queued to userspace by NFQUEUE and given
// back unchanged, mangled into a new skb, late, or not at all; cloned by
// the stack to loop a multicast or broadcast datagram back to its sender;
// copied by nf_dup. With and without the kernel's nf_conntrack beside
// nflab. On hooks_test.go's topology, with a tap for nf_dup's copies:
//
//	 ns client              ns router                      ns server
//	+-------------+       +-------------------------+       +-------------+
//	| c0          | veth  | r0                   r1 | veth  |          s0 |
//	| 10.0.1.2/24 +-------+ 10.0.1.1     10.0.2.1   +-------+ 10.0.2.2/24 |
//	+-------------+       | nft: queue num 0, dup   |       | UDP echo    |
//	                      |  r2 10.0.3.1            |       +-------------+
//	                      +---+---------------------+
//	                          | veth (nf_dup tests only)
//	                      +---+---------------------+
//	                      | t0 10.0.3.2/24  ns tap  |
//	                      | counts the dup copies   |
//	                      +-------------------------+
package guest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink_queue, from include/uapi/linux/netfilter/nfnetlink_queue.h.
const (
	nfqnlMsgPacket  = 0 // NFQNL_MSG_PACKET: kernel to userspace
	nfqnlMsgVerdict = 1 // NFQNL_MSG_VERDICT
	nfqnlMsgConfig  = 2 // NFQNL_MSG_CONFIG

	nfqaPacketHdr  = 1  // NFQA_PACKET_HDR: struct nfqnl_msg_packet_hdr
	nfqaVerdictHdr = 2  // NFQA_VERDICT_HDR: struct nfqnl_msg_verdict_hdr
	nfqaPayload    = 10 // NFQA_PAYLOAD: the packet from its IP header

	nfqaCfgCmd    = 1 // NFQA_CFG_CMD: struct nfqnl_msg_config_cmd
	nfqaCfgParams = 2 // NFQA_CFG_PARAMS: struct nfqnl_msg_config_params
	nfqaCfgMask   = 4 // NFQA_CFG_MASK: be32, the flags to change
	nfqaCfgFlags  = 5 // NFQA_CFG_FLAGS: be32
	nfqaCfgFGSO   = 4 // NFQA_CFG_F_GSO: queue GSO packets whole

	nfqnlCfgCmdBind = 1 // NFQNL_CFG_CMD_BIND
	nfqnlCopyPacket = 2 // NFQNL_COPY_PACKET

	nfDrop   = 0 // NF_DROP
	nfAccept = 1 // NF_ACCEPT

	nfInetForward = 2 // NF_INET_FORWARD
)

// nfQueue is a minimal nfnetlink_queue client: it binds one queue in a
// namespace, copies whole packets to the test and sends its verdicts.
type nfQueue struct {
	c      *netlink.Conn
	num    uint16
	pkts   chan nfqPacket
	errc   chan error
	closed chan struct{}
}

// nfqPacket is a packet waiting in the queue for its verdict.
type nfqPacket struct {
	id   uint32
	hook uint8
	data []byte // from the IPv4 header on
}

// openQueue binds queue num in namespace ns, in copy-packet mode, until the
// test ends: packets an nft "queue num N" rule sends there wait for the
// test's verdicts.
func openQueue(t *testing.T, ns string, num uint16) *nfQueue {
	t.Helper()
	return openQueueFlags(t, ns, num, 0)
}

// openQueueFlags is openQueue with NFQA_CFG_FLAGS set to flags (such as
// nfqaCfgFGSO).
func openQueueFlags(t *testing.T, ns string, num uint16, flags uint32) *nfQueue {
	t.Helper()
	q := &nfQueue{num: num, pkts: make(chan nfqPacket, 64), errc: make(chan error, 1), closed: make(chan struct{})}
	inNetns(t, ns, func() error {
		var err error
		q.c, err = netlink.Dial(unix.NETLINK_NETFILTER, nil)
		return err
	})
	t.Cleanup(func() {
		close(q.closed)
		q.c.Close()
		select {
		case err := <-q.errc:
			t.Errorf("queue %d: %v", num, err)
		default:
		}
	})
	// struct nfqnl_msg_config_cmd: command, pad, be16 pf.
	q.config(t, nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET})
	// struct nfqnl_msg_config_params (packed): be32 copy_range, copy_mode.
	params := binary.BigEndian.AppendUint32(nil, 0xffff)
	q.config(t, nfqaCfgParams, append(params, nfqnlCopyPacket))
	if flags != 0 {
		m := q.message(t, nfqnlMsgConfig, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfqaCfgMask, binary.BigEndian.AppendUint32(nil, flags))
			ae.Bytes(nfqaCfgFlags, binary.BigEndian.AppendUint32(nil, flags))
		})
		if _, err := q.c.Execute(m); err != nil {
			t.Fatalf("setting queue %d's flags: %v", num, err)
		}
	}
	go q.read()
	return q
}

// nfqMsgType is the netlink message type of an nfnetlink_queue message.
func nfqMsgType(msg uint16) netlink.HeaderType {
	return netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | msg)
}

// message builds an nfnetlink_queue message: struct nfgenmsg (family,
// version, be16 queue number), then attrs.
func (q *nfQueue) message(t *testing.T, msg uint16, flags netlink.HeaderFlags, attrs func(*netlink.AttributeEncoder)) netlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	data := binary.BigEndian.AppendUint16([]byte{unix.AF_UNSPEC, unix.NFNETLINK_V0}, q.num)
	return netlink.Message{
		Header: netlink.Header{Type: nfqMsgType(msg), Flags: netlink.Request | flags},
		Data:   append(data, b...),
	}
}

func (q *nfQueue) config(t *testing.T, attr uint16, v []byte) {
	t.Helper()
	m := q.message(t, nfqnlMsgConfig, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) { ae.Bytes(attr, v) })
	if _, err := q.c.Execute(m); err != nil {
		t.Fatalf("configuring queue %d: %v", q.num, err)
	}
}

// read hands the queued packets to next until the queue is closed. An
// error the kernel sends back (to a verdict, say) fails the test.
func (q *nfQueue) read() {
	for {
		msgs, err := q.c.Receive()
		if err != nil {
			select {
			case <-q.closed: // closed before the socket: not an error
			default:
				q.errc <- err
			}
			return
		}
		for _, m := range msgs {
			if m.Header.Type != nfqMsgType(nfqnlMsgPacket) || len(m.Data) < 4 {
				continue
			}
			var p nfqPacket
			ad, err := netlink.NewAttributeDecoder(m.Data[4:])
			if err != nil {
				q.errc <- err
				return
			}
			for ad.Next() {
				switch b := ad.Bytes(); ad.Type() {
				case nfqaPacketHdr: // be32 packet_id, be16 hw_protocol, hook
					if len(b) >= 7 {
						p.id, p.hook = binary.BigEndian.Uint32(b), b[6]
					}
				case nfqaPayload:
					p.data = b
				}
			}
			if err := ad.Err(); err != nil {
				q.errc <- err
				return
			}
			select {
			case q.pkts <- p:
			case <-q.closed:
				return
			}
		}
	}
}

// next returns the next packet the queue holds, failing after waitLong.
func (q *nfQueue) next(t *testing.T, what string) nfqPacket {
	t.Helper()
	select {
	case p := <-q.pkts:
		return p
	case err := <-q.errc:
		t.Fatalf("queue %d, waiting for %s: %v", q.num, what, err)
	case <-time.After(waitLong):
		t.Fatalf("%s never reached queue %d", what, q.num)
	}
	return nfqPacket{}
}

// verdict gives p its verdict; a non-nil data replaces the packet (from its
// IP header on).
func (q *nfQueue) verdict(t *testing.T, p nfqPacket, verdict uint32, data []byte) {
	t.Helper()
	m := q.message(t, nfqnlMsgVerdict, 0, func(ae *netlink.AttributeEncoder) {
		// struct nfqnl_msg_verdict_hdr: be32 verdict, be32 id.
		ae.Bytes(nfqaVerdictHdr, binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, verdict), p.id))
		if data != nil {
			ae.Bytes(nfqaPayload, data)
		}
	})
	if _, err := q.c.Send(m); err != nil {
		t.Fatalf("verdict on packet %d: %v", p.id, err)
	}
}

// udpWire is the size of a UDP datagram with n bytes of payload on the wire
// (IPv4 header without options): what a tracker counts for it.
func udpWire(n int) uint64 { return uint64(20 + 8 + n) }

// ctCounts are an entry's packet and byte counters.
type ctCounts struct{ pOrig, bOrig, pReply, bReply uint64 }

// flowOf is the tuple of c's datagrams: from its local to its remote
// address.
func flowOf(c *net.UDPConn) ctTuple {
	la, ra := c.LocalAddr().(*net.UDPAddr), c.RemoteAddr().(*net.UDPAddr)
	return ctTuple{Src: la.IP.String(), Dst: ra.IP.String(), Sport: uint16(la.Port), Dport: uint16(ra.Port)}
}

// checkUDPEntry checks that e is c's flow the right way round, CONFIRMED,
// SEEN_REPLY exactly if it counted replies, with counters w.
func checkUDPEntry(t *testing.T, ns netns, e ctEntry, c *net.UDPConn, w ctCounts) {
	t.Helper()
	orig := flowOf(c)
	reply := ctTuple{Src: orig.Dst, Dst: orig.Src, Sport: orig.Dport, Dport: orig.Sport}
	if e.Proto != "udp" || e.Orig != orig || e.Reply != reply {
		t.Errorf("%s: entry %+v, want udp %+v | %+v", ns, e, orig, reply)
	}
	if !e.has("CONFIRMED") || e.has("SEEN_REPLY") != (w.pReply > 0) {
		t.Errorf("%s: entry %+v has status %v, want CONFIRMED, and SEEN_REPLY only with replies counted", ns, e, e.Status)
	}
	if got := (ctCounts{e.PacketsOrig, e.BytesOrig, e.PacketsReply, e.BytesReply}); got != w {
		t.Errorf("%s: entry %+v counted %d/%d packets, %d/%d bytes; want %d/%d and %d/%d",
			ns, e, got.pOrig, got.pReply, got.bOrig, got.bReply, w.pOrig, w.pReply, w.bOrig, w.bReply)
	}
}

// wantOneUDP checks that ns holds exactly one entry, c's, as checkUDPEntry.
func wantOneUDP(t *testing.T, ns netns, c *net.UDPConn, w ctCounts) {
	t.Helper()
	es := ctList(t, ns)
	if len(es) != 1 {
		t.Errorf("%s: want only the entry of %+v, got %d: %+v", ns, flowOf(c), len(es), es)
		for _, e := range es {
			if e.Orig == flowOf(c) {
				checkUDPEntry(t, ns, e, c, w)
			}
		}
		return
	}
	checkUDPEntry(t, ns, es[0], c, w)
}

// readDatagram reads one datagram from c, failing after waitLong.
func readDatagram(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitLong)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("reading from %s: %v", c.LocalAddr(), err)
	}
	return buf[:n]
}

func write(t *testing.T, c *net.UDPConn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
}

// ipHeaderSum is the IPv4 header checksum of h (its checksum field zero).
func ipHeaderSum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// withUDPPayload returns the IPv4/UDP packet p with payload as its UDP
// payload: lengths and the IP header checksum rewritten, no UDP checksum
// (0, allowed in IPv4).
func withUDPPayload(p, payload []byte) []byte {
	ihl := int(p[0]&0x0f) * 4
	q := append(append([]byte(nil), p[:ihl+8]...), payload...)
	binary.BigEndian.PutUint16(q[2:], uint16(len(q)))
	q[10], q[11] = 0, 0
	binary.BigEndian.PutUint16(q[10:], ipHeaderSum(q[:ihl]))
	binary.BigEndian.PutUint16(q[ihl+4:], uint16(8+len(payload)))
	q[ihl+6], q[ihl+7] = 0, 0
	return q
}

// The router queues the client's datagrams to queuedPort and forwards
// those to passPort; the server echoes on both.
const (
	queuedPort = 7500
	passPort   = 7550
)

// queueEnv is the NFQUEUE tests' topology: the router queues the client's
// datagrams to the server's queuedPort (forward chain, priority 0: after
// nflab's tracking hook, before its confirm hook) to the test's queue 0.
type queueEnv struct {
	tp       *topology
	q        *nfQueue
	kernelCT bool
}

func newQueueEnv(t *testing.T, kernelCT bool) *queueEnv {
	t.Helper()
	loadModule(t)
	for _, m := range []string{"nfnetlink_queue", "nft_queue"} {
		mustRun(t, "modprobe", m)
	}
	e := &queueEnv{tp: newTopology(t), kernelCT: kernelCT}
	r := e.tp.router
	r.run(t, "nft", "add table ip q")
	r.run(t, "nft", "add chain ip q fc { type filter hook forward priority 0 ; }")
	r.run(t, "nft", fmt.Sprintf("add rule ip q fc udp dport %d queue num 0", queuedPort))
	if kernelCT {
		// The kernel's tracker too; these count how it classed the
		// server's answers (priority -150: after both trackers).
		r.run(t, "nft", "add chain ip q pre { type filter hook prerouting priority -150 ; }")
		r.run(t, "nft", fmt.Sprintf("add rule ip q pre udp sport %d ct state established counter", queuedPort))
		r.run(t, "nft", fmt.Sprintf("add rule ip q pre udp sport %d ct state new counter", queuedPort))
	}
	udpEchoIn(t, "server", fmt.Sprintf(":%d", queuedPort))
	udpEchoIn(t, "server", fmt.Sprintf(":%d", passPort))
	e.q = openQueue(t, "router", 0)
	return e
}

// begin empties the router's tables.
func (e *queueEnv) begin(t *testing.T) {
	t.Helper()
	e.tp.router.run(t, "nflab", "ct", "flush")
	if e.kernelCT {
		e.tp.router.run(t, "conntrack", "-F")
	}
}

// kernelAnswers returns how many of the server's answers the kernel's
// tracker found ESTABLISHED and NEW.
func (e *queueEnv) kernelAnswers(t *testing.T) (established, fresh int) {
	t.Helper()
	return nftPackets(t, e.tp.router, "ip q pre", "ct state established"),
		nftPackets(t, e.tp.router, "ip q pre", "ct state new")
}

// checkKernel checks the kernel's table holds c's flow once, answered.
func (e *queueEnv) checkKernel(t *testing.T, c *net.UDPConn) {
	t.Helper()
	if !e.kernelCT {
		return
	}
	checkKernelFlow(t, e.tp.router, c)
}

// checkKernelFlow checks that the kernel's table in ns holds c's flow
// once, the right way round and answered.
func checkKernelFlow(t *testing.T, ns netns, c *net.UDPConn) {
	t.Helper()
	want := flowOf(c)
	var mine []ctFlow
	for _, f := range kernelFlows(t, ns) {
		if f.proto == "udp" && (f.orig.Dport == want.Dport || f.orig.Sport == want.Dport) {
			mine = append(mine, f)
		}
	}
	if len(mine) != 1 || mine[0].orig != want || !mine[0].seenReply {
		t.Errorf("kernel's table in %s: %v, want one answered flow %+v", ns, mine, want)
	}
}

// queued checks that p is c's datagram (msg), queued at FORWARD.
func queued(t *testing.T, p nfqPacket, c *net.UDPConn, msg []byte) {
	t.Helper()
	f := flowOf(c)
	if len(p.data) < 28 || p.data[9] != unix.IPPROTO_UDP || p.hook != nfInetForward ||
		binary.BigEndian.Uint16(p.data[20:]) != f.Sport || binary.BigEndian.Uint16(p.data[22:]) != f.Dport ||
		!bytes.Equal(p.data[28:], msg) {
		t.Fatalf("queued packet %d at hook %d is not %q from %+v: % x", p.id, p.hook, msg, f, p.data)
	}
}

// TestCTCopiesNFQueue queues datagrams in the router between nflab's hooks
// and gives them back unchanged, mangled, late, out of order or not at all.
func TestCTCopiesNFQueue(t *testing.T) {
	e := newQueueEnv(t, false)
	t.Run("accept", e.accept)
	t.Run("mangle", e.mangle)
	t.Run("hold", e.hold)
	t.Run("overtaken", e.overtaken)
	t.Run("drop", e.drop)
	t.Run("hold past the timeout", e.holdPastTimeout)
}

// TestCTCopiesNFQueueKernelConntrack repeats the reinjection and the long
// hold with the kernel's tracker loaded beside nflab in the router.
func TestCTCopiesNFQueueKernelConntrack(t *testing.T) {
	e := newQueueEnv(t, true)
	t.Run("accept", e.accept)
	t.Run("hold past the timeout", e.holdPastTimeout)
}

// accept: every datagram of a flow is queued and accepted unchanged. The
// entry counts each once, and the server's answers are its replies.
func (e *queueEnv) accept(t *testing.T) {
	e.begin(t)
	c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
	msg := []byte("queued and accepted")
	const n = 3
	for range n {
		write(t, c, msg)
		p := e.q.next(t, "the datagram")
		queued(t, p, c, msg)
		e.q.verdict(t, p, nfAccept, nil)
		if got := readDatagram(t, c); !bytes.Equal(got, msg) {
			t.Fatalf("the server answered %q, want %q", got, msg)
		}
	}
	wantOneUDP(t, e.tp.router, c, ctCounts{n, n * udpWire(len(msg)), n, n * udpWire(len(msg))})
	e.checkKernel(t, c)
}

// mangle: the datagrams come back with another payload. Grown past the
// skb's tailroom (a small datagram's head has a few hundred bytes at most),
// nfqnl_mangle() replaces the skb with a copy (skb_copy_expand()), and
// that copy must confirm the entry; shrunk, the skb is trimmed in place.
// The entry counts the datagrams as its tracking hook saw them, before
// mangling, and the answers (echoes of the mangled payload) as they came.
func (e *queueEnv) mangle(t *testing.T) {
	for _, size := range []int{1200, 4} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			e.begin(t)
			c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
			msg := []byte("to be mangled")
			mangled := bytes.Repeat([]byte("m"), size)
			const n = 2
			for range n {
				write(t, c, msg)
				p := e.q.next(t, "the datagram")
				queued(t, p, c, msg)
				e.q.verdict(t, p, nfAccept, withUDPPayload(p.data, mangled))
				if got := readDatagram(t, c); !bytes.Equal(got, mangled) {
					t.Fatalf("the server answered %d bytes %.20q, want the %d mangled ones", len(got), got, size)
				}
			}
			wantOneUDP(t, e.tp.router, c, ctCounts{n, n * udpWire(len(msg)), n, n * udpWire(size)})
		})
	}
}

// hold: a flow's first datagram waits in the queue while 20 other new
// flows cross the router and are confirmed; then it is accepted. Each flow
// has its own entry, counted once each way.
func (e *queueEnv) hold(t *testing.T) {
	e.begin(t)
	c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
	msg := []byte("held")
	write(t, c, msg)
	p := e.q.next(t, "the first datagram")
	queued(t, p, c, msg)
	start := time.Now()
	const others = 20
	other := []byte("other")
	var otherConns []*net.UDPConn
	for range others {
		oc := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", passPort))
		write(t, oc, other)
		if got := readDatagram(t, oc); !bytes.Equal(got, other) {
			t.Fatalf("the server answered %q, want %q", got, other)
		}
		otherConns = append(otherConns, oc)
	}
	// Held for a while in any case (the scenario, not a wait for a state).
	if d := time.Since(start); d < 2*time.Second {
		time.Sleep(2*time.Second - d)
	}
	e.q.verdict(t, p, nfAccept, nil)
	if got := readDatagram(t, c); !bytes.Equal(got, msg) {
		t.Fatalf("the server answered %q, want %q", got, msg)
	}

	es := ctList(t, e.tp.router)
	byFlow := map[ctTuple]ctEntry{}
	for _, en := range es {
		byFlow[en.Orig] = en
	}
	if len(es) != others+1 || len(byFlow) != len(es) {
		t.Errorf("router holds %d entries (%d flows), want %d: %+v", len(es), len(byFlow), others+1, es)
	}
	for _, oc := range append(otherConns, c) {
		w := udpWire(len(other))
		if oc == c {
			w = udpWire(len(msg))
		}
		en, ok := byFlow[flowOf(oc)]
		if !ok {
			t.Errorf("router has no entry for %+v", flowOf(oc))
			continue
		}
		checkUDPEntry(t, e.tp.router, en, oc, ctCounts{1, w, 1, w})
	}
}

// overtaken: a flow's first datagram waits in the queue while its second
// one is queued too (it finds no confirmed entry, so it makes its own) and
// accepted first; then the first is accepted. The flow has one entry,
// which counts both datagrams and both answers, and the tracker counts one
// clash.
func (e *queueEnv) overtaken(t *testing.T) {
	e.begin(t)
	before := ctStats(t, e.tp.router)
	c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
	first, second := []byte("first"), []byte("2nd..")
	write(t, c, first)
	p1 := e.q.next(t, "the first datagram")
	queued(t, p1, c, first)
	write(t, c, second)
	p2 := e.q.next(t, "the second datagram")
	queued(t, p2, c, second)
	for _, x := range []struct {
		p   nfqPacket
		msg []byte
	}{{p2, second}, {p1, first}} {
		e.q.verdict(t, x.p, nfAccept, nil)
		if got := readDatagram(t, c); !bytes.Equal(got, x.msg) {
			t.Fatalf("the server answered %q, want %q", got, x.msg)
		}
	}
	w := udpWire(len(first))
	wantOneUDP(t, e.tp.router, c, ctCounts{2, 2 * w, 2, 2 * w})
	after := ctStats(t, e.tp.router)
	if after["new"] != before["new"]+2 || after["insert"] != before["insert"]+1 || after["clash"] != before["clash"]+1 {
		t.Errorf("router stats %v after %v: want 2 more new, 1 more insert, 1 more clash", after, before)
	}
}

// drop: first datagrams of new flows get NF_DROP from the queue, each
// followed by packets nflab does not track (soundness_test.go's
// sendUntracked): no entry is ever confirmed for them. Then the last flow's
// next datagram is accepted and makes one entry of its own.
func (e *queueEnv) drop(t *testing.T) {
	e.begin(t)
	srv := e.tp.server
	srv.run(t, "nft", "add table ip s")
	t.Cleanup(func() { _, _ = srv.try("nft", "delete table ip s") })
	srv.run(t, "nft", "add chain ip s in { type filter hook input priority 0 ; }")
	srv.run(t, "nft", "add rule ip s in meta l4proto 47 counter")
	before := ctStats(t, e.tp.router)
	const n = 10
	msg := []byte("dropped")
	var c *net.UDPConn
	for range n {
		c = udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
		write(t, c, msg)
		p := e.q.next(t, "the first datagram")
		queued(t, p, c, msg)
		e.q.verdict(t, p, nfDrop, nil)
		sendUntracked(t)
	}
	// The last protocol-47 datagram reached the server after every verdict.
	waitFor(t, "the protocol-47 datagrams to cross the router", func() bool {
		return nftPackets(t, srv, "ip s in", "counter") >= n
	})
	after := ctStats(t, e.tp.router)
	if after["new"] != before["new"]+n || after["insert"] != before["insert"] {
		t.Errorf("router stats %v after %v: want %d more new and no insert", after, before, n)
	}
	if es := ctList(t, e.tp.router); len(es) != 0 {
		t.Errorf("router holds entries for flows whose first datagrams were dropped: %+v", es)
	}

	msg = []byte("accepted")
	write(t, c, msg)
	p := e.q.next(t, "the next datagram")
	queued(t, p, c, msg)
	e.q.verdict(t, p, nfAccept, nil)
	if got := readDatagram(t, c); !bytes.Equal(got, msg) {
		t.Fatalf("the server answered %q, want %q", got, msg)
	}
	wantOneUDP(t, e.tp.router, c, ctCounts{1, udpWire(len(msg)), 1, udpWire(len(msg))})
}

// holdPastTimeout: a first datagram waits in the queue longer than the
// unreplied UDP timeout, then is accepted and answered at once. The time
// before confirmation does not count against the entry (the kernel starts
// an entry's timeout when it confirms it, __nf_conntrack_confirm()), so the
// answer is the entry's reply.
func (e *queueEnv) holdPastTimeout(t *testing.T) {
	const timeout, hold = 4, 6 // seconds
	r := e.tp.router
	r.run(t, "nflab", "ct", "config", "--timeout", fmt.Sprintf("udp_unreplied=%d", timeout))
	t.Cleanup(func() { r.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=30") })
	if e.kernelCT {
		r.run(t, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_udp_timeout=%d", timeout))
		t.Cleanup(func() { r.run(t, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=30") })
	}
	e.begin(t)
	var kEst, kNew int
	if e.kernelCT {
		kEst, kNew = e.kernelAnswers(t)
	}
	c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", queuedPort))
	msg := []byte("held past the timeout")
	write(t, c, msg)
	p := e.q.next(t, "the first datagram")
	queued(t, p, c, msg)
	time.Sleep(hold * time.Second) // the scenario: a verdict this late
	e.q.verdict(t, p, nfAccept, nil)
	if got := readDatagram(t, c); !bytes.Equal(got, msg) {
		t.Fatalf("the server answered %q, want %q", got, msg)
	}
	w := udpWire(len(msg))
	wantOneUDP(t, r, c, ctCounts{1, w, 1, w})
	if e.kernelCT {
		// The kernel's verdict on the answer, for comparison.
		if est, nw := e.kernelAnswers(t); est != kEst+1 || nw != kNew {
			t.Errorf("the kernel's tracker found the answer ESTABLISHED %d and NEW %d times, want 1 and 0",
				est-kEst, nw-kNew)
		}
	}
}

// TestCTCopiesLoopedClones sends multicast (IP_MULTICAST_LOOP) and
// broadcast datagrams from the client: ip_mc_output() clones each at the
// client's POST_ROUTING and loops the clone back in through c0 before the
// original leaves. The clone confirms the entry (the original then finds
// it confirmed); its way back in is the same datagram and must not be
// counted again (it comes in on c0, not lo, marked PACKET_LOOPBACK by
// dev_loopback_xmit()). Members in the client and the router read every
// datagram, so both copies have crossed all hooks when the checks run; the
// client's member is also what makes ip_mc_output() loop multicast back
// (the route is RTCF_LOCAL only for a group the host is a member of).
func TestCTCopiesLoopedClones(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	for _, tc := range []struct {
		name string
		dst  *net.UDPAddr
		// join opens a socket in ns that receives what goes to dst.
		join func(t *testing.T, ns, dev string, dst *net.UDPAddr) *net.UDPConn
	}{
		{"multicast", &net.UDPAddr{IP: net.IPv4(239, 1, 2, 3), Port: 7700}, joinGroupIn},
		{"broadcast", &net.UDPAddr{IP: net.IPv4(10, 0, 1, 255), Port: 7701},
			func(t *testing.T, ns, dev string, dst *net.UDPAddr) *net.UDPConn {
				return udpIn(t, ns, fmt.Sprintf(":%d", dst.Port), "")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := []*net.UDPConn{tc.join(t, "client", "c0", tc.dst), tc.join(t, "router", "r0", tc.dst)}
			for _, ns := range []netns{tp.client, tp.router} {
				ns.run(t, "nflab", "ct", "flush")
			}
			c := udpIn(t, "client", "10.0.1.2:0", tc.dst.String())
			setSockopt(t, c, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 1)
			msg := []byte("looped " + tc.name)
			const n = 3
			for range n {
				write(t, c, msg)
				for _, m := range members {
					if got := readDatagram(t, m); !bytes.Equal(got, msg) {
						t.Fatalf("a member read %q, want %q", got, msg)
					}
				}
			}
			w := ctCounts{n, n * udpWire(len(msg)), 0, 0}
			wantOneUDP(t, tp.client, c, w)
			wantOneUDP(t, tp.router, c, w)
		})
	}
}

// joinGroupIn opens a socket in ns that joins group on dev and receives
// its datagrams, closed when the test ends.
func joinGroupIn(t *testing.T, ns, dev string, group *net.UDPAddr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	inNetns(t, ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		c, err = net.ListenMulticastUDP("udp4", ifi, group)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func setSockopt(t *testing.T, c *net.UDPConn, level, opt, v int) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// TestCTCopiesDup: see dupCases.
func TestCTCopiesDup(t *testing.T) { dupCases(t, false) }

// TestCTCopiesDupKernelConntrack repeats TestCTCopiesDup with the kernel's
// tracker loaded beside nflab in the router.
func TestCTCopiesDupKernelConntrack(t *testing.T) { dupCases(t, true) }

// dupCases: the router copies every datagram of a forwarded flow to the
// tap (nft "dup to 10.0.3.2 device r2", nf_dup_ipv4) at prerouting, forward
// or postrouting, between nflab's hooks. The copies go out through
// LOCAL_OUT and POST_ROUTING carrying the original's skb->cb, cookie and
// all; they are not the flow's packets (nf_skb_duplicated). The flow's
// entry counts each datagram once, and the copies make no entry.
func dupCases(t *testing.T, kernelCT bool) {
	loadModule(t)
	mustRun(t, "modprobe", "nft_dup_ipv4")
	tp := newTopology(t)
	r := tp.router
	tap := newNetns(t, "tap")
	veth(t, r, "r2", "10.0.3.1/24", tap, "t0", "10.0.3.2/24")
	tap.run(t, "nft", "add table ip tap")
	tap.run(t, "nft", "add chain ip tap pre { type filter hook prerouting priority 0 ; }")
	tap.run(t, "nft", "add rule ip tap pre ip daddr 10.0.2.2 counter")
	copies := func() int { return nftPackets(t, tap, "ip tap pre", "counter") }
	if kernelCT {
		r.run(t, "nft", "add table ip kct")
		r.run(t, "nft", "add chain ip kct pre { type filter hook prerouting priority -150 ; }")
		r.run(t, "nft", "add rule ip kct pre ct state new counter")
	}
	for i, h := range []struct {
		hook string
		prio int
	}{{"prerouting", -150}, {"forward", 0}, {"postrouting", 0}} {
		t.Run(h.hook, func(t *testing.T) {
			port := 7600 + i
			udpEchoIn(t, "server", fmt.Sprintf(":%d", port))
			r.run(t, "nft", "add table ip copier")
			t.Cleanup(func() { r.run(t, "nft", "delete table ip copier") })
			r.run(t, "nft", fmt.Sprintf("add chain ip copier c { type filter hook %s priority %d ; }", h.hook, h.prio))
			r.run(t, "nft", fmt.Sprintf("add rule ip copier c udp dport %d dup to 10.0.3.2 device r2", port))
			r.run(t, "nflab", "ct", "flush")
			if kernelCT {
				r.run(t, "conntrack", "-F")
			}
			base := copies()

			c := udpIn(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", port))
			msg := []byte("duplicated at " + h.hook)
			const n = 3
			for range n {
				write(t, c, msg)
				if got := readDatagram(t, c); !bytes.Equal(got, msg) {
					t.Fatalf("the server answered %q, want %q", got, msg)
				}
			}
			waitFor(t, "the copies in the tap", func() bool { return copies() >= base+n })
			if got := copies() - base; got != n {
				t.Errorf("the tap got %d copies of %d datagrams", got, n)
			}
			w := udpWire(len(msg))
			wantOneUDP(t, r, c, ctCounts{n, n * w, n, n * w})
			if kernelCT {
				checkKernelFlow(t, r, c)
			}
		})
	}
}
