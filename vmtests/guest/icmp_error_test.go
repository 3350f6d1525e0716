//go:build nflabvm

// ICMP errors judged on the router of hooks_test.go's topology, as the
// kernel's nf_conntrack_inet_error judges them: RELATED only when the
// packet they quote belongs to a tracked flow and they go to that packet's
// sender; INVALID otherwise, so that a spoofed error cannot pass rules that
// trust a flow. Either way the flow's entry is left as it was.
package guest

import (
	"encoding/binary"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inetSum is the Internet checksum (RFC 1071) of the concatenated parts;
// every part but the last must have an even length.
func inetSum(parts ...[]byte) uint16 {
	var sum uint32
	for _, b := range parts {
		for i := 0; i < len(b); i += 2 {
			v := uint32(b[i]) << 8
			if i+1 < len(b) {
				v |= uint32(b[i+1])
			}
			sum += v
		}
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// udpDatagram builds a UDP datagram src:sport -> dst:dport with a valid
// checksum.
func udpDatagram(src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	d := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(d[0:], sport)
	binary.BigEndian.PutUint16(d[2:], dport)
	binary.BigEndian.PutUint16(d[4:], uint16(8+len(payload)))
	d = append(d, payload...)
	pseudo := append(append(append([]byte{}, src.To4()...), dst.To4()...),
		0, unix.IPPROTO_UDP, byte(len(d)>>8), byte(len(d)))
	sum := inetSum(pseudo, d)
	if sum == 0 {
		sum = 0xffff // 0 would mean "no checksum" (RFC 768)
	}
	binary.BigEndian.PutUint16(d[6:], sum)
	return d
}

// icmpMessage builds an ICMP message with a valid checksum: type, code,
// the four bytes after the checksum (an echo's id and sequence number,
// zero in most errors) and the body (an error's quote).
func icmpMessage(typ, code byte, rest [4]byte, body []byte) []byte {
	m := append(append([]byte{typ, code, 0, 0}, rest[:]...), body...)
	binary.BigEndian.PutUint16(m[2:], inetSum(m))
	return m
}

// ctFrozen returns es without their remaining timeouts, sorted by id: what
// a packet that must change no entry leaves exactly as it was.
func ctFrozen(es []ctEntry) []ctEntry {
	out := make([]ctEntry, len(es))
	for i, e := range es {
		e.Timeout = 0
		out[i] = e
	}
	slices.SortFunc(out, func(a, b ctEntry) int { return int(a.ID) - int(b.ID) })
	return out
}

// ctChanges describes how the frozen entries now differ from before, ""
// if they do not.
func ctChanges(before, now []ctEntry) string {
	var out []string
	for _, b := range before {
		i := slices.IndexFunc(now, func(n ctEntry) bool { return n.ID == b.ID })
		switch {
		case i < 0:
			out = append(out, fmt.Sprintf("gone: %+v", b))
		case !reflect.DeepEqual(now[i], b):
			out = append(out, fmt.Sprintf("was: %+v\nnow: %+v", b, now[i]))
		}
	}
	for _, n := range now {
		if !slices.ContainsFunc(before, func(b ctEntry) bool { return b.ID == n.ID }) {
			out = append(out, fmt.Sprintf("new: %+v", n))
		}
	}
	return strings.Join(out, "\n")
}

func TestCTICMPErrorDestination(t *testing.T) {
	loadModule(t)
	tp := newTopology(t)
	tp.router.run(t, "nflab", "ct", "flush")
	// Nothing may expire while the test looks.
	tp.router.run(t, "nflab", "ct", "config", "--timeout", "udp_unreplied=600", "--timeout", "icmp=600")
	client, server := net.IPv4(10, 0, 1, 2), net.IPv4(10, 0, 2, 2)

	// The real thing first: a datagram to a port nobody listens on, and
	// the server's own port unreachable about it. It is no reply.
	before := ctStats(t, tp.router)
	udpSend(t, "client", ":6600", "10.0.2.2:7600", []byte("anyone?"))
	after := statsAfter(t, tp.router, before)
	if after["related"] != before["related"]+1 || after["invalid"] != before["invalid"] {
		t.Errorf("server's port unreachable: related %d -> %d, invalid %d -> %d; want one more related",
			before["related"], after["related"], before["invalid"], after["invalid"])
	}
	if e := one(t, ctList(t, tp.router, "-p", "udp", "--dport", "7600")); e.has("SEEN_REPLY") || e.PacketsReply != 0 {
		t.Errorf("entry after the port unreachable %+v, want no reply seen", e)
	}

	// An echo flow, for errors about ICMP.
	tp.ping("client", "10.0.2.2", 1)
	id := one(t, ctList(t, tp.router, "-p", "icmp")).Orig.ICMPID
	echo := func(src, dst net.IP, typ, code byte) []byte {
		m := icmpMessage(typ, code, [4]byte{byte(id >> 8), byte(id), 0, 1}, nil)
		return ipv4Packet(src, dst, unix.IPPROTO_ICMP, m)
	}
	dgram := func(src, dst net.IP, sport, dport uint16) []byte {
		return ipv4Packet(src, dst, unix.IPPROTO_UDP, udpDatagram(src, dst, sport, dport, nil))
	}
	fromClient := dgram(client, server, 6600, 7600) // the flow's own datagram
	fromServer := dgram(server, client, 7600, 6600) // one it could answer with

	for _, tc := range []struct {
		name    string
		from    string // the namespace that sends the error
		dst     string // its outer destination
		quote   []byte
		related bool
	}{
		{"to the sender of a datagram", "server", "10.0.1.2", fromClient, true},
		{"to the sender of a reply", "client", "10.0.2.2", fromServer, true},
		{"to the sender of an echo request", "server", "10.0.1.2", echo(client, server, 8, 0), true},
		{"to the sender of an echo reply", "client", "10.0.2.2", echo(server, client, 0, 0), true},
		// Spoofed: about a tracked flow, addressed to someone else.
		{"to another host", "server", "10.0.1.3", fromClient, false},
		{"to the router", "server", "10.0.1.1", fromClient, false},
		{"to the receiver of the datagram", "client", "10.0.2.2", fromClient, false},
		{"about a reply, to another host", "client", "10.0.2.3", fromServer, false},
		{"about an echo request, to its receiver", "client", "10.0.2.2", echo(client, server, 8, 0), false},
		// Quotes that belong to no flow.
		{"about an echo with code 1", "server", "10.0.1.2", echo(client, server, 8, 1), false},
		{"about an ICMP error", "server", "10.0.1.2", echo(client, server, 3, 3), false},
		{"about an untracked port", "server", "10.0.1.2", dgram(client, server, 6601, 7600), false},
	} {
		before, entries := ctStats(t, tp.router), ctFrozen(ctList(t, tp.router))
		sendICMPError(t, tc.from, tc.dst, 3, 3, tc.quote)
		after := statsAfter(t, tp.router, before)
		related, invalid := after["related"]-before["related"], after["invalid"]-before["invalid"]
		if tc.related && (related != 1 || invalid != 0) || !tc.related && (related != 0 || invalid != 1) {
			t.Errorf("error %s: related +%d, invalid +%d; want one more %s",
				tc.name, related, invalid, map[bool]string{true: "related", false: "invalid"}[tc.related])
		}
		if d := ctChanges(entries, ctFrozen(ctList(t, tp.router))); d != "" {
			t.Errorf("error %s changed entries:\n%s", tc.name, d)
		}
	}
}
