package ruletext

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// Readers of the values the grammar's words hold. Each returns an *Error
// that points at the token.

// parseUint reads a number in decimal or 0x hex, at most max.
func parseUint(t token, what string, max uint64) (uint64, error) {
	v, err := strconv.ParseUint(t.text, 0, 64)
	if err != nil || v > max || t.quoted {
		return 0, errAt(t, "%s %q: want a number from 0 to %d", what, t.text, max)
	}
	return v, nil
}

// parseIPv4 reads a dotted-quad address.
func parseIPv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Is4()
}

// parseAddrRange reads an address, a prefix or first-last, as a range;
// prefix is set when it was written as one (or is an address).
func parseAddrRange(s string) (r nftypes.AddrRange, p netip.Prefix, isRange bool, msg string) {
	if first, last, ok := strings.Cut(s, "-"); ok {
		f, ok1 := parseIPv4(first)
		l, ok2 := parseIPv4(last)
		if !ok1 || !ok2 {
			return r, p, false, "want an IPv4 range such as 10.0.0.1-10.0.0.9"
		}
		if l.Less(f) {
			return r, p, false, "the range is backwards: its first address is above its last"
		}
		return nftypes.AddrRange{First: f, Last: l}, p, true, ""
	}
	if strings.IndexByte(s, '/') >= 0 {
		pp, err := netip.ParsePrefix(s)
		if err != nil || !pp.Addr().Is4() {
			return r, p, false, "want an IPv4 prefix such as 10.0.0.0/8"
		}
		if pp != pp.Masked() {
			return r, p, false, "bits set past the prefix length (did you mean " + pp.Masked().String() + "?)"
		}
		return nftypes.AddrRangeFrom(pp), pp, false, ""
	}
	a, ok := parseIPv4(s)
	if !ok {
		return r, p, false, "want an IPv4 address, prefix or range, such as 192.0.2.1, 10.0.0.0/8 or 10.0.0.1-10.0.0.9"
	}
	return nftypes.Addr(a), netip.PrefixFrom(a, 32), false, ""
}

// parsePortRange reads "80" or "1024-65535".
func parsePortRange(t token) (nftypes.PortRange, error) {
	first, last, isRange := strings.Cut(t.text, "-")
	if !isRange {
		last = first
	}
	f, err1 := strconv.ParseUint(first, 10, 16)
	l, err2 := strconv.ParseUint(last, 10, 16)
	if err1 != nil || err2 != nil || t.quoted {
		return nftypes.PortRange{}, errAt(t, "%q: want a port (0-65535) or a range such as 1024-65535", t.text)
	}
	if f > l {
		return nftypes.PortRange{}, errAt(t, "port range %s is backwards", t.text)
	}
	return nftypes.PortRange{First: uint16(f), Last: uint16(l)}, nil
}

// sizeUnits are quota's units, largest first (nft's words, powers of 1024).
var sizeUnits = []struct {
	name  string
	shift uint
}{{"gbytes", 30}, {"mbytes", 20}, {"kbytes", 10}, {"bytes", 0}}

// formatSize writes n with the largest unit that divides it.
func formatSize(n uint64) string {
	for _, u := range sizeUnits {
		if u.shift > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + " " + u.name
		}
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

// parseTOD reads a time of day, HH:MM or HH:MM:SS.
func parseTOD(s string) (time.Duration, bool) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	var v [3]uint64
	for i, p := range parts {
		if len(p) != 2 && (i > 0 || len(p) != 1) {
			return 0, false
		}
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, false
		}
		v[i] = n
	}
	if v[0] > 23 || v[1] > 59 || v[2] > 59 {
		return 0, false
	}
	return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, true
}

// formatTOD writes HH:MM, or HH:MM:SS when there are seconds.
func formatTOD(d time.Duration) string {
	s := int64(d / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	out := twoDigits(h) + ":" + twoDigits(m)
	if sec != 0 {
		out += ":" + twoDigits(sec)
	}
	return out
}

func twoDigits(n int64) string {
	if n < 10 && n >= 0 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// Dates are UTC: YYYY-MM-DD (midnight) or YYYY-MM-DDTHH:MM[:SS].
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02T15:04:05"
)

func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{dateLayout, dateTimeLayout, "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil && t.Unix() >= 0 {
			return time.Unix(t.Unix(), 0).UTC(), true
		}
	}
	return time.Time{}, false
}

func formatDate(t time.Time) string {
	t = t.UTC()
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format(dateLayout)
	}
	return t.Format(dateTimeLayout)
}

// periods are limit's units.
var periods = []struct {
	name string
	d    time.Duration
}{{"second", time.Second}, {"minute", time.Minute}, {"hour", time.Hour}, {"day", 24 * time.Hour}}

func periodName(d time.Duration) string {
	for _, p := range periods {
		if p.d == d {
			return p.name
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// icmpTypes are the ICMP type names of nft, by number.
var icmpTypes = []struct {
	name string
	v    uint8
}{
	{"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4}, {"redirect", 5},
	{"echo-request", 8}, {"router-advertisement", 9}, {"router-solicitation", 10},
	{"time-exceeded", 11}, {"parameter-problem", 12}, {"timestamp-request", 13},
	{"timestamp-reply", 14}, {"info-request", 15}, {"info-reply", 16},
	{"address-mask-request", 17}, {"address-mask-reply", 18},
}

func icmpTypeNames() []string {
	s := make([]string, len(icmpTypes))
	for i, t := range icmpTypes {
		s[i] = t.name
	}
	return s
}

func icmpTypeName(v uint8) string {
	for _, t := range icmpTypes {
		if t.v == v {
			return t.name
		}
	}
	return strconv.Itoa(int(v))
}

// rejectNames are reject's ICMP codes as nft writes them, then the
// protocol's names, which are read too.
var rejectNames = []struct {
	name string
	v    nftypes.RejectWith
}{
	{"net-unreachable", nftypes.RejectNetUnreach},
	{"host-unreachable", nftypes.RejectHostUnreach},
	{"prot-unreachable", nftypes.RejectProtoUnreach},
	{"port-unreachable", nftypes.RejectPortUnreach},
	{"net-prohibited", nftypes.RejectNetProhibited},
	{"host-prohibited", nftypes.RejectHostProhibited},
	{"admin-prohibited", nftypes.RejectAdminProhibited},
	{"net-unreach", nftypes.RejectNetUnreach},
	{"host-unreach", nftypes.RejectHostUnreach},
	{"proto-unreach", nftypes.RejectProtoUnreach},
	{"proto-unreachable", nftypes.RejectProtoUnreach},
	{"port-unreach", nftypes.RejectPortUnreach},
}

// ctStatusNames are the status bits a ct status match takes, lowest
// first, as nft writes them.
var ctStatusNames = []struct {
	name string
	v    nftypes.ConnStatus
}{
	{"seen-reply", nftypes.StatusSeenReply},
	{"assured", nftypes.StatusAssured},
	{"confirmed", nftypes.StatusConfirmed},
	{"dying", nftypes.StatusDying},
	{"src-nat", nftypes.StatusSrcNAT},
	{"dst-nat", nftypes.StatusDstNAT},
}

var weekdayNames = []struct {
	name string
	v    nftypes.Weekdays
}{
	{"mon", nftypes.Monday}, {"tue", nftypes.Tuesday}, {"wed", nftypes.Wednesday},
	{"thu", nftypes.Thursday}, {"fri", nftypes.Friday}, {"sat", nftypes.Saturday},
	{"sun", nftypes.Sunday},
}

var ctStateNames = []struct {
	name string
	v    nftypes.CTState
}{
	{"new", nftypes.CTStateNew}, {"established", nftypes.CTStateEstablished},
	{"related", nftypes.CTStateRelated}, {"invalid", nftypes.CTStateInvalid},
	{"untracked", nftypes.CTStateUntracked},
}

var tcpFlagNames = []struct {
	name string
	v    nftypes.TCPFlags
}{
	{"fin", nftypes.TCPFin}, {"syn", nftypes.TCPSyn}, {"rst", nftypes.TCPRst},
	{"psh", nftypes.TCPPsh}, {"ack", nftypes.TCPAck}, {"urg", nftypes.TCPUrg},
	{"ece", nftypes.TCPEce}, {"cwr", nftypes.TCPCwr},
}

// parseBits reads a list of names of table into their union.
func parseBits[T ~uint8 | ~uint32](items []token, what string, table []struct {
	name string
	v    T
}) (T, error) {
	var v T
	names := make([]string, len(table))
	for i, e := range table {
		names[i] = e.name
	}
next:
	for _, it := range items {
		s := strings.ReplaceAll(strings.ToLower(it.text), "_", "-")
		for _, e := range table {
			if e.name == s && !it.quoted {
				v |= e.v
				continue next
			}
		}
		if hex, ok := strings.CutPrefix(s, "0x"); ok && !it.quoted {
			var zero T
			if n, err := strconv.ParseUint(hex, 16, 32); err == nil && n != 0 && T(n) != zero && uint64(T(n)) == n {
				v |= T(n)
				continue
			}
		}
		return 0, unknown(it, what, names)
	}
	return v, nil
}

// formatBits writes the names of the bits of v, in table order; bits
// without a name in hex.
func formatBits[T ~uint8 | ~uint32](v T, table []struct {
	name string
	v    T
}) string {
	var out []string
	for _, e := range table {
		if v&e.v != 0 {
			out = append(out, e.name)
			v &^= e.v
		}
	}
	if v != 0 {
		out = append(out, "0x"+strconv.FormatUint(uint64(v), 16))
	}
	return strings.Join(out, ",")
}
