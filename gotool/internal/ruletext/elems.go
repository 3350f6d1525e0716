package ruletext

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// ReadElems reads a set's elements from a list such as the CIDR lists of
// address registries and geoip databases: one element a line (an address,
// prefix or first-last range for addr; a port or range for port), blank
// lines and "#" comments ignored. file names it in errors. A million
// lines take well under a second.
func ReadElems(r io.Reader, file string, typ nftypes.SetType) (nftypes.Set, error) {
	s := nftypes.Set{Type: typ}
	// Addresses are gathered as integers, which the garbage collector
	// need not scan, and turned into a Set's ranges at the end.
	var ivs []interval
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if i := bytes.IndexByte(b, '#'); i >= 0 {
			b = b[:i]
		}
		start := 0
		for start < len(b) && (b[start] == ' ' || b[start] == '\t') {
			start++
		}
		end := len(b)
		for end > start && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\r' || b[end-1] == ',') {
			end--
		}
		if start == end {
			continue
		}
		if typ == nftypes.SetTypeAddr {
			if iv, ok := fastAddrRange(b[start:end]); ok {
				ivs = append(ivs, iv)
				if len(ivs) > nftypes.MaxSetElems {
					return s, &Error{File: file, Line: line, Col: start + 1, Msg: fmt.Sprintf("more than %d elements", nftypes.MaxSetElems)}
				}
				continue
			}
		}
		// The slow path, which also words the errors.
		t := token{text: string(b[start:end]), file: file, line: line, col: start + 1}
		if bytes.ContainsAny(b[start:end], " \t") {
			return s, errAt(t, "one element a line: %q holds blanks", t.text)
		}
		if err := addElem(&s, t); err != nil {
			return s, err
		}
		for _, a := range s.Addrs {
			ivs = append(ivs, interval{addrU32(a.First), addrU32(a.Last)})
		}
		s.Addrs = s.Addrs[:0]
		if s.Len()+len(ivs) > nftypes.MaxSetElems {
			return s, errAt(t, "more than %d elements", nftypes.MaxSetElems)
		}
	}
	if err := sc.Err(); err != nil {
		return s, &Error{File: file, Line: line + 1, Col: 1, Msg: "reading: " + err.Error()}
	}
	if len(ivs) > 0 {
		s.Addrs = make([]nftypes.AddrRange, len(ivs))
		for i, iv := range ivs {
			s.Addrs[i] = nftypes.AddrRange{First: u32Addr(iv.lo), Last: u32Addr(iv.hi)}
		}
	} else {
		s.Addrs = nil
	}
	return s, nil
}

// interval is an inclusive range of addresses as integers.
type interval struct{ lo, hi uint32 }

func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// fastAddrRange reads "a.b.c.d", "a.b.c.d/n" or "a.b.c.d-e.f.g.h" without
// allocating; ok is false for anything else, including mistakes, which
// the slow path then reports.
func fastAddrRange[T string | []byte](b T) (interval, bool) {
	first, n, ok := fastV4(b)
	if !ok {
		return interval{}, false
	}
	last := first
	switch rest := b[n:]; {
	case len(rest) == 0:
	case rest[0] == '/':
		bits, m := 0, 0
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			if c < '0' || c > '9' || m == 2 || (m == 1 && bits == 0) {
				return interval{}, false // not a digit, or a leading zero
			}
			bits, m = bits*10+int(c-'0'), m+1
		}
		if m == 0 || bits > 32 {
			return interval{}, false
		}
		host := uint32(0)
		if bits < 32 {
			host = ^uint32(0) >> bits
		}
		if first&host != 0 {
			return interval{}, false
		}
		last = first | host
	case rest[0] == '-':
		l, n2, ok := fastV4(rest[1:])
		if !ok || n2 != len(rest)-1 || l < first {
			return interval{}, false
		}
		last = l
	default:
		return interval{}, false
	}
	return interval{first, last}, true
}

// fastV4 reads a dotted quad at the start of b: its value and length.
func fastV4[T string | []byte](b T) (uint32, int, bool) {
	var v uint32
	i := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if i >= len(b) || b[i] != '.' {
				return 0, 0, false
			}
			i++
		}
		n, digits := 0, 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits > 0 && n == 0 {
				return 0, 0, false // a leading zero, which netip refuses too
			}
			n, digits, i = n*10+int(b[i]-'0'), digits+1, i+1
			if n > 255 {
				return 0, 0, false
			}
		}
		if digits == 0 {
			return 0, 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, i, true
}

func u32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
