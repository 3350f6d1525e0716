package nftypes

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// A Set is a named collection of IPv4 addresses (Type SetTypeAddr, in
// Addrs) or of ports (SetTypePort, in Ports) that set matches look up.
// Elements are inclusive ranges; the module merges overlapping and
// adjacent ones and reports them sorted.
type Set struct {
	Name  string
	Type  SetType
	Addrs []AddrRange `json:",omitempty"` // addr sets
	Ports []PortRange `json:",omitempty"` // port sets
	Count int         // merged ranges the module holds; read-only
	Refs  int         // rules that use it; read-only
}

// Len returns the number of elements in s (Addrs or Ports).
func (s Set) Len() int { return len(s.Addrs) + len(s.Ports) }

// Validate reports what makes s unusable: its name, its type, and each
// element, all of its type.
func (s Set) Validate() error {
	if err := ValidateName("set", s.Name); err != nil {
		return err
	}
	switch s.Type {
	case SetTypeAddr:
		if len(s.Ports) != 0 {
			return invalidf("set", "addr set %s cannot hold ports", s.Name)
		}
	case SetTypePort:
		if len(s.Addrs) != 0 {
			return invalidf("set", "port set %s cannot hold addresses", s.Name)
		}
	default:
		return invalidf("set", "unknown set type %s (want addr or port)", s.Type)
	}
	if s.Len() > MaxSetElems {
		return invalidf("set", "set %s has %d elements, at most %d", s.Name, s.Len(), MaxSetElems)
	}
	for _, a := range s.Addrs {
		if err := a.Validate(); err != nil {
			return withPrefix(err, "set "+s.Name+": ")
		}
	}
	for _, p := range s.Ports {
		if err := p.Validate(); err != nil {
			return withPrefix(err, "set "+s.Name+": ")
		}
	}
	return nil
}

// A PortRange is an inclusive range of ports; a single port has First ==
// Last. Its text form is "80" or "1024-65535".
type PortRange struct {
	First, Last uint16
}

// Port returns the range of the single port p.
func Port(p uint16) PortRange { return PortRange{p, p} }

// Validate reports a range whose First is above its Last.
func (r PortRange) Validate() error {
	if r.First > r.Last {
		return invalidf("port", "range %d-%d is backwards", r.First, r.Last)
	}
	return nil
}

// String returns "80" or "1024-65535".
func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return strconv.Itoa(int(r.First)) + "-" + strconv.Itoa(int(r.Last))
}

// MarshalText returns String.
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads what String writes.
func (r *PortRange) UnmarshalText(b []byte) error {
	s := string(b)
	first, last, isRange := strings.Cut(s, "-")
	if !isRange {
		last = first
	}
	f, err1 := strconv.ParseUint(first, 10, 16)
	l, err2 := strconv.ParseUint(last, 10, 16)
	if err1 != nil || err2 != nil {
		return invalidf("port", "%q is not a port or a range such as 1024-65535", s)
	}
	*r = PortRange{uint16(f), uint16(l)}
	return r.Validate()
}

// An AddrRange is an inclusive range of IPv4 addresses. Its text form is
// an address ("192.0.2.1"), a prefix ("10.0.0.0/8") when the range is
// exactly one, or "first-last".
type AddrRange struct {
	First, Last netip.Addr
}

// AddrRangeFrom returns the range of the addresses in prefix p (masked
// first).
func AddrRangeFrom(p netip.Prefix) AddrRange {
	p = p.Masked()
	first := addrU32(p.Addr())
	size := uint64(1) << (32 - p.Bits())
	return AddrRange{p.Addr(), u32Addr(uint32(uint64(first) + size - 1))}
}

// Addr returns the range of the single address a.
func Addr(a netip.Addr) AddrRange { return AddrRange{a, a} }

// Validate reports a range that is not IPv4 or is backwards.
func (r AddrRange) Validate() error {
	if !r.First.Is4() || !r.Last.Is4() {
		return invalidf("address", "range %v-%v is not IPv4", r.First, r.Last)
	}
	if r.Last.Less(r.First) {
		return invalidf("address", "range %v-%v is backwards", r.First, r.Last)
	}
	return nil
}

// Prefix returns the prefix that is exactly r, if there is one.
func (r AddrRange) Prefix() (netip.Prefix, bool) {
	if err := r.Validate(); err != nil {
		return netip.Prefix{}, false
	}
	ps := r.Prefixes()
	if len(ps) == 1 {
		return ps[0], true
	}
	return netip.Prefix{}, false
}

// Prefixes returns the fewest prefixes that together are r, in order.
func (r AddrRange) Prefixes() []netip.Prefix {
	if r.Validate() != nil {
		return nil
	}
	var ps []netip.Prefix
	lo, hi := uint64(addrU32(r.First)), uint64(addrU32(r.Last))
	for lo <= hi {
		// The largest block aligned at lo that stays within hi.
		n := 32
		if lo != 0 {
			n = bits.TrailingZeros32(uint32(lo))
		}
		for lo+(uint64(1)<<n)-1 > hi {
			n--
		}
		ps = append(ps, netip.PrefixFrom(u32Addr(uint32(lo)), 32-n))
		lo += uint64(1) << n
	}
	return ps
}

// String returns the address, the prefix, or "first-last".
func (r AddrRange) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// MarshalText returns String.
func (r AddrRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads an address, a prefix (masked: "10.1.2.3/8" is an
// error) or "first-last".
func (r *AddrRange) UnmarshalText(b []byte) error {
	s := string(b)
	if first, last, ok := strings.Cut(s, "-"); ok {
		f, err1 := netip.ParseAddr(first)
		l, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil {
			return invalidf("address", "%q is not a range such as 10.0.0.1-10.0.0.9", s)
		}
		*r = AddrRange{f, l}
		return r.Validate()
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return invalidf("address", "%q is not an IPv4 prefix", s)
		}
		if p != p.Masked() {
			return invalidf("address", "%v has bits set past its prefix length (did you mean %v?)", p, p.Masked())
		}
		*r = AddrRangeFrom(p)
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return invalidf("address", "%q is not an IPv4 address, prefix or range", s)
	}
	*r = Addr(a)
	return nil
}

func addrU32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func u32Addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// MergeAddrRanges returns rs sorted with overlapping and adjacent ranges
// merged, as the module keeps them. It does not change rs.
func MergeAddrRanges(rs []AddrRange) []AddrRange {
	type iv struct{ lo, hi uint32 }
	ivs := make([]iv, len(rs))
	for i, r := range rs {
		ivs[i] = iv{addrU32(r.First), addrU32(r.Last)}
	}
	slices.SortFunc(ivs, func(a, b iv) int { return cmp.Compare(a.lo, b.lo) })
	var out []AddrRange
	for i := 0; i < len(ivs); {
		cur := ivs[i]
		for i++; i < len(ivs) && (cur.hi == ^uint32(0) || ivs[i].lo <= cur.hi+1); i++ {
			cur.hi = max(cur.hi, ivs[i].hi)
		}
		out = append(out, AddrRange{u32Addr(cur.lo), u32Addr(cur.hi)})
	}
	return out
}

// MergePortRanges returns rs sorted with overlapping and adjacent ranges
// merged. It does not change rs.
func MergePortRanges(rs []PortRange) []PortRange {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b PortRange) int { return cmp.Compare(a.First, b.First) })
	var out []PortRange
	for i := 0; i < len(s); {
		cur := s[i]
		for i++; i < len(s) && (cur.Last == 0xffff || uint32(s[i].First) <= uint32(cur.Last)+1); i++ {
			cur.Last = max(cur.Last, s[i].Last)
		}
		out = append(out, cur)
	}
	return out
}
