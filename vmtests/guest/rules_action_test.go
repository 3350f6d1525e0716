//go:build nflabvm

// The rule engine's actions end to end, seen by the peers: rejections as
// the client's socket errors and the ICMP it receives, log lines, marks,
// the TOS and TTL the receiver reads, untracked flows. The topology of
// hooks_test.go, with captures on c0 and s0:
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRulesActions runs one case per action on one topology, as
// TestRulesMatches does.
func TestRulesActions(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"RejectTCPReset", rulesRejectTCPReset},
		{"RejectICMP", rulesRejectICMP},
		{"Log", rulesLog},
		{"Mark", rulesMark},
		{"TOSAndTTL", rulesTOSAndTTL},
		{"Notrack", rulesNotrack},
	})
}

func rulesRejectTCPReset(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8090")
	listenIn(t, "server", ":8091")
	applyIn(t, tp.server, `rule filter input tcp dport 8090 reject with tcp reset comment "rst"`)
	capt := captureOn(t, "client", "c0")
	_, err := dialErr(t, "client", "10.0.2.2:8090", waitLong)
	if err == nil || !isConnRefused(err) {
		t.Fatalf("dial of a rejected port: %v, want connection refused", err)
	}
	// The reset came from the server's address and port.
	var rsts int
	for _, s := range wireSegs(capt.drain(t), 8090) {
		if !s.out && s.sport == 8090 && s.flags&tcpRST != 0 {
			rsts++
		}
	}
	if rsts != 1 {
		t.Errorf("client received %d resets from port 8090, want 1", rsts)
	}
	// Next door, a listening port the rule does not cover.
	if _, err := dialErr(t, "client", "10.0.2.2:8091", waitLong); err != nil {
		t.Errorf("dial of the port next to it: %v", err)
	}
	wantPackets(t, tp.server, map[string]uint64{"rst": 1})
}

// icmpIn returns the type and code of the ICMP messages in pkts that the
// namespace received.
func icmpIn(pkts []capturedPkt) [][2]byte {
	var tc [][2]byte
	for _, p := range pkts {
		if p.out || len(p.ip) < 20 || p.ip[9] != unix.IPPROTO_ICMP {
			continue
		}
		hl := int(p.ip[0]&0xf) * 4
		if len(p.ip) >= hl+2 {
			tc = append(tc, [2]byte{p.ip[hl], p.ip[hl+1]})
		}
	}
	return tc
}

func rulesRejectICMP(t *testing.T, tp *topology) {
	udpIn(t, "server", ":9040", "")
	listenIn(t, "server", ":8092")
	applyIn(t, tp.server, `
rule filter input udp dport 9041 reject comment "port"
rule filter input tcp dport 8092 reject with icmp admin-prohibited comment "admin"
rule filter input icmp type echo-request reject with icmp host-prohibited comment "host"
`)
	capt := captureOn(t, "client", "c0")

	// UDP: the default, port unreachable, as ECONNREFUSED on a connected socket.
	if err := udpRefused(t, "client", "10.0.2.2:9041"); err != nil {
		t.Errorf("UDP to a rejected port: %v", err)
	}
	// A bound port the rule does not cover: no error.
	udpSend(t, "client", ":0", "10.0.2.2:9040", []byte("x"))
	// TCP: admin prohibited fails the connect at once with EHOSTUNREACH.
	if _, err := dialErr(t, "client", "10.0.2.2:8092", waitLong); !isErrno(err, syscall.EHOSTUNREACH) {
		t.Errorf("TCP to an admin-prohibited port: %v, want EHOSTUNREACH", err)
	}
	// ping reports the ICMP error it got.
	out, err := tp.client.try("ping", "-c", "1", "-W", "5", "10.0.2.2")
	if err == nil || !strings.Contains(out, "Destination Host Prohibited") {
		t.Errorf("ping of a host-prohibited host: %v\n%s", err, out)
	}
	// Destination unreachable: port (3), admin prohibited (13), host prohibited (10).
	if got, want := icmpIn(capt.drain(t)), [][2]byte{{3, 3}, {3, 13}, {3, 10}}; !slices.Equal(got, want) {
		t.Errorf("the client received ICMP (type, code) %v, want %v", got, want)
	}
	wantPackets(t, tp.server, map[string]uint64{"port": 1, "admin": 1, "host": 1})
}

func rulesLog(t *testing.T, tp *topology) {
	udpIn(t, "server", ":9050", "")
	applyIn(t, tp.server, `
rule filter input udp dport 9050 ip saddr 10.0.1.2 log prefix "NFLAB-T1 " comment "log"
rule filter input udp dport 9050 ip saddr 10.0.2.1 counter comment "nolog"
`)
	k := kmsgTail(t)
	// As the kernel's LOG: silent outside the first namespace unless
	// nf_log_all_netns says otherwise.
	logAllNetns(t, false)
	udpSend(t, "client", ":5050", "10.0.2.2:9050", []byte("x"))
	wantPackets(t, tp.server, map[string]uint64{"log": 1})
	if l := grepLines(k.lines(t), "NFLAB-T1 "); len(l) != 0 {
		t.Errorf("logged from a namespace with nf_log_all_netns=0: %q", l)
	}
	logAllNetns(t, true)
	udpSend(t, "client", ":5050", "10.0.2.2:9050", []byte("x"))
	udpSend(t, "router", ":5051", "10.0.2.2:9050", []byte("x"))
	wantPackets(t, tp.server, map[string]uint64{"log": 2, "nolog": 1})
	lines := grepLines(k.lines(t), "NFLAB-T1 ")
	if len(lines) != 1 {
		t.Fatalf("%d log lines with the prefix, want 1: %q", len(lines), lines)
	}
	for _, w := range []string{"IN=s0 ", "SRC=10.0.1.2 ", "DST=10.0.2.2 ", "LEN=29 ", "PROTO=17 ", "SPT=5050 ", "DPT=9050 "} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("log line %q lacks %q", lines[0], w)
		}
	}
}

func rulesMark(t *testing.T, tp *topology) {
	applyIn(t, tp.server, `
rule mangle prerouting ip saddr 10.0.1.2 mark set 0x2a comment "set"
rule mangle prerouting ip saddr 10.0.2.1 mark set 0x100/0xf00 comment "set-masked"
rule filter input icmp type echo-request mark 0x2a counter comment "marked"
rule filter input icmp type echo-request mark 0x20/0xf0 counter comment "masked"
rule filter input icmp type echo-request mark != 0x2a counter comment "not-marked"
rule filter input icmp type echo-request mark 0x100 counter comment "router"
`)
	tp.ping("client", "10.0.2.2", 1)
	tp.ping("router", "10.0.2.2", 1)
	wantPackets(t, tp.server, map[string]uint64{
		"set": 1, "set-masked": 1, "marked": 1, "masked": 1, "not-marked": 1, "router": 1,
	})
}

// recvTOSTTL reads one datagram from c (IP_RECVTOS and IP_RECVTTL on) and
// returns its payload, TOS and TTL.
func recvTOSTTL(t *testing.T, c *net.UDPConn) (string, byte, byte) {
	t.Helper()
	buf, oob := make([]byte, 1500), make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(waitLong))
	n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	tos, ttl := -1, -1
	for _, m := range msgs {
		if m.Header.Level != unix.IPPROTO_IP || len(m.Data) == 0 {
			continue
		}
		switch m.Header.Type {
		case unix.IP_TOS:
			tos = int(m.Data[0])
		case unix.IP_TTL:
			ttl = int(binary.NativeEndian.Uint32(m.Data))
		}
	}
	if tos < 0 || ttl < 0 {
		t.Fatalf("no TOS or TTL with the datagram: %+v", msgs)
	}
	return string(buf[:n]), byte(tos), byte(ttl)
}

func rulesTOSAndTTL(t *testing.T, tp *topology) {
	rx := udpIn(t, "server", ":9060", "")
	for _, o := range []int{unix.IP_RECVTOS, unix.IP_RECVTTL} {
		setSockopt(t, rx, unix.IPPROTO_IP, o, 1)
	}
	// Forwarding took the TTL from 64 to 63 before FORWARD.
	applyIn(t, tp.router, `
rule mangle forward udp sport 6001 tos set 0x10
rule mangle forward udp sport 6002 dscp set 46
rule mangle forward udp sport 6003 ttl set 7
rule mangle forward udp sport 6004 ttl dec 3
rule mangle postrouting udp sport 6005 ttl inc 10
rule mangle forward udp sport 6006 dscp set 10
`)
	for _, c := range []struct {
		sport    int
		tos, ttl byte
	}{
		{6001, 0x10, 63},
		{6002, 46 << 2, 63},
		{6003, 0, 7},
		{6004, 0, 60},
		{6005, 0, 73},
		{6000, 0, 63}, // no rule
	} {
		tx := udpIn(t, "client", fmt.Sprintf(":%d", c.sport), "10.0.2.2:9060")
		msg := fmt.Sprint(c.sport)
		if _, err := tx.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got, tos, ttl := recvTOSTTL(t, rx)
		if got != msg || tos != c.tos || ttl != c.ttl {
			t.Errorf("from port %d: received %q with TOS %#x TTL %d, want TOS %#x TTL %d", c.sport, got, tos, ttl, c.tos, c.ttl)
		}
		tx.Close()
	}
	// DSCP set keeps the ECN bits.
	tx := udpIn(t, "client", ":6006", "10.0.2.2:9060")
	setSockopt(t, tx, unix.IPPROTO_IP, unix.IP_TOS, 0x01)
	if _, err := tx.Write([]byte("ecn")); err != nil {
		t.Fatal(err)
	}
	if _, tos, _ := recvTOSTTL(t, rx); tos != 10<<2|0x01 {
		t.Errorf("dscp set 10 on TOS 0x01: received TOS %#x, want %#x", tos, 10<<2|0x01)
	}
}

func rulesNotrack(t *testing.T, tp *topology) {
	udpIn(t, "server", ":9070", "")
	udpIn(t, "server", ":9071", "")
	applyIn(t, tp.server, `
rule raw prerouting udp dport 9070 notrack comment "notrack"
rule filter input ip protocol udp ct state untracked counter comment "untracked"
rule filter input ip protocol udp ct state new counter comment "new"
`)
	udpSend(t, "client", ":7070", "10.0.2.2:9070", []byte("x"))
	udpSend(t, "client", ":7071", "10.0.2.2:9071", []byte("x"))
	wantPackets(t, tp.server, map[string]uint64{"notrack": 1, "untracked": 1, "new": 1})
	var ports []uint16
	for _, e := range ctList(t, tp.server) {
		if e.Proto == "udp" {
			ports = append(ports, e.Orig.Dport)
		}
	}
	if !slices.Equal(ports, []uint16{9071}) {
		t.Errorf("server tracks UDP flows to ports %v, want only 9071", ports)
	}
}
