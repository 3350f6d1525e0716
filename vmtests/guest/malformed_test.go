//go:build nflabvm

// Malformed packets: INVALID, counted, and never an entry. The kernel
// itself drops an IPv4 header shorter than 20 bytes (IHL < 5) before
// PRE_ROUTING and refuses to send one from a raw socket, so the bad IHL
// sent here is the other kind: a header so long that it leaves no room
// for the TCP header behind it.
package guest

import (
	"encoding/binary"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCTMalformedPackets(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)

	// newTopology's ping left an entry in every namespace: start empty.
	tp.client.run(t, "nflab", "ct", "flush")
	tp.router.run(t, "nflab", "ct", "flush")

	// IHL 15: a 60-byte IPv4 header (its options all end-of-list) that
	// fills the whole packet, so the TCP header it announces is missing.
	// Seen by the client's LOCAL_OUT and by the router's PRE_ROUTING.
	long := ipv4Packet(client, server, unix.IPPROTO_TCP, make([]byte, 40))
	long[0] = 4<<4 | 15
	beforeC, beforeR := ctStats(t, tp.client), ctStats(t, tp.router)
	sendRaw(t, "client", unix.IPPROTO_RAW, server, long)
	for _, c := range []struct {
		ns     netns
		before map[string]uint64
	}{{tp.client, beforeC}, {tp.router, beforeR}} {
		if after := statsAfter(t, c.ns, c.before); after["invalid"] != c.before["invalid"]+1 {
			t.Errorf("IHL 15 without room for TCP: invalid %d -> %d in %s, want one more",
				c.before["invalid"], after["invalid"], c.ns)
		}
		if n := ctCount(t, c.ns); n != 0 {
			t.Errorf("IHL 15 without room for TCP: %d entries in %s, want none", n, c.ns)
		}
	}

	withDoff := func(doff byte) []byte {
		seg := tcpSegment(client, server, 4000, 4001, 1, 0, 0x02)
		seg[12] = doff << 4 // the checksum no longer matters: not checked
		return seg
	}
	udp := func(length uint16, size int) []byte {
		b := make([]byte, size)
		binary.BigEndian.PutUint16(b[0:], 4000)
		binary.BigEndian.PutUint16(b[2:], 4001)
		binary.BigEndian.PutUint16(b[4:], length)
		return b
	}
	before := ctStats(t, tp.router)
	for _, tc := range []struct {
		name  string
		proto int
		b     []byte
	}{
		{"TCP header of 8 bytes", unix.IPPROTO_TCP, withDoff(5)[:8]},
		{"TCP data offset 4", unix.IPPROTO_TCP, withDoff(4)},
		{"TCP data offset 15 in 20 bytes", unix.IPPROTO_TCP, withDoff(15)},
		{"UDP header of 4 bytes", unix.IPPROTO_UDP, udp(8, 8)[:4]},
		{"UDP length beyond the datagram", unix.IPPROTO_UDP, udp(100, 12)},
		{"UDP length below the header", unix.IPPROTO_UDP, udp(4, 12)},
		{"ICMP header of 2 bytes", unix.IPPROTO_ICMP, []byte{8, 0}},
		{"ICMP error quoting a truncated header", unix.IPPROTO_ICMP,
			append([]byte{3, 4, 0, 0, 0, 0, 0, 0}, 0x45, 0, 0)},
	} {
		sendRaw(t, "client", tc.proto, server, tc.b)
		after := statsAfter(t, tp.router, before)
		if after["invalid"] != before["invalid"]+1 {
			t.Errorf("%s: invalid %d -> %d on the router, want one more", tc.name, before["invalid"], after["invalid"])
		}
		before = after
	}
	if n := ctCount(t, tp.router); n != 0 {
		t.Errorf("%d entries on the router after the malformed packets, want none", n)
	}

	// The router still tracks what is well formed.
	tp.ping("client", "10.0.2.2", 1)
	if n := ctCount(t, tp.router); n != 1 {
		t.Errorf("%d entries after a ping, want 1", n)
	}
}
