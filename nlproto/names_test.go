package nlproto

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The names the client and CLI show today, written out by hand: the name
// tables must reproduce each of them exactly, case included, by the
// derivations the package documentation promises.
func TestNameTablesGiveClientNames(t *testing.T) {
	shorts := func(e Enum, skip ...string) []string {
		var s []string
		for _, n := range e.Names {
			if !slices.Contains(skip, n.Short) {
				s = append(s, n.Short)
			}
		}
		return s
	}
	lower := func(s []string) []string {
		l := make([]string, len(s))
		for i := range s {
			l[i] = strings.ToLower(s[i])
		}
		return l
	}
	for _, tt := range []struct {
		name      string
		got, want []string
	}{
		{"hooks", shorts(EnumHook), []string{"PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT", "POST_ROUTING"}},
		{"TCP states", shorts(EnumTCPState), []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED",
			"FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}},
		{"status bits", shorts(EnumCTStatus), []string{"SEEN_REPLY", "ASSURED", "CONFIRMED", "DYING", "SRC_NAT", "DST_NAT"}},
		{"timeouts", lower(shorts(EnumCTTimeoutAttr, "UNSPEC")), []string{"tcp_syn_sent", "tcp_syn_recv",
			"tcp_established", "tcp_fin_wait", "tcp_close_wait", "tcp_last_ack", "tcp_time_wait",
			"tcp_close", "udp_unreplied", "udp_assured", "icmp", "tcp_retrans", "tcp_unack"}},
		{"stats counters", lower(shorts(EnumCTStatsAttr, "UNSPEC", "PAD")), []string{"found", "new",
			"invalid", "insert", "insert_failed", "clash", "drop", "early_drop", "gc_evicted",
			"search_restart", "related", "nat_exhausted", "nat_clash", "nat_lost"}},
		{"event types", lower(EnumCmd.Sub("CT_EVENT_").Shorts()), []string{"new", "update", "destroy"}},
	} {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// The values go with the names: a table indexed by value, as the client
// keeps them, comes out right.
func TestNameTableValues(t *testing.T) {
	for _, tt := range []struct {
		e     Enum
		value int64
		c     string
		short string
	}{
		{EnumHook, HOOK_POST_ROUTING, "NFLAB_HOOK_POST_ROUTING", "POST_ROUTING"},
		{EnumTCPState, TCP_SYN_SENT2, "NFLAB_TCP_SYN_SENT2", "SYN_SENT2"},
		{EnumCTStatus, CT_STATUS_DYING, "NFLAB_CT_STATUS_DYING", "DYING"},
		{EnumCTStatusBit, CT_STATUS_DYING_BIT, "NFLAB_CT_STATUS_DYING_BIT", "DYING_BIT"},
		{EnumCTTimeoutAttr, CT_TIMEOUT_A_TCP_UNACK, "NFLAB_CT_TIMEOUT_A_TCP_UNACK", "TCP_UNACK"},
		{EnumCTStatsAttr, CT_STATS_A_SEARCH_RESTART, "NFLAB_CT_STATS_A_SEARCH_RESTART", "SEARCH_RESTART"},
		{EnumCmd.Sub("CT_EVENT_"), CMD_CT_EVENT_DESTROY, "NFLAB_CMD_CT_EVENT_DESTROY", "DESTROY"},
		{EnumAttr, A_PROTO_VERSION, "NFLAB_A_PROTO_VERSION", "PROTO_VERSION"},
		{EnumHookAttr, HOOK_A_HOOKNUM, "NFLAB_HOOK_A_HOOKNUM", "HOOKNUM"},
		{EnumTupleAttr, TUPLE_A_ICMP_TYPE, "NFLAB_TUPLE_A_ICMP_TYPE", "ICMP_TYPE"},
		{EnumCTAttr, CT_A_TIMEOUT, "NFLAB_CT_A_TIMEOUT", "TIMEOUT"},
		{EnumCTFilterAttr, CT_FILTER_A_STATUS, "NFLAB_CT_FILTER_A_STATUS", "STATUS"},
		{EnumCTConfigAttr, CT_CONFIG_A_TIMEOUTS, "NFLAB_CT_CONFIG_A_TIMEOUTS", "TIMEOUTS"},
	} {
		n, ok := tt.e.Lookup(tt.value)
		if !ok || n.C != tt.c || n.Short != tt.short {
			t.Errorf("%s.Lookup(%d) = %+v, %v; want C %s, Short %s", tt.e.Tag, tt.value, n, ok, tt.c, tt.short)
		}
		if p, ok := tt.e.Parse(strings.ToLower(tt.short)); !ok || p != n {
			t.Errorf("%s.Parse(%q) = %+v, %v; want %+v", tt.e.Tag, strings.ToLower(tt.short), p, ok, n)
		}
	}
	if n, ok := EnumTCPState.Lookup(TCP_MAX + 1); ok {
		t.Errorf("EnumTCPState.Lookup(TCP_MAX + 1) = %+v, want none", n)
	}
	if n, ok := EnumCmd.Sub("CT_EVENT_").Parse("CT_GET"); ok {
		t.Errorf(`EnumCmd.Sub("CT_EVENT_").Parse("CT_GET") = %+v, want none`, n)
	}
}

// Every member's C name is its Prefix and Short name, and sentinels and
// X_MAX defines are not members.
func TestNameTablesConsistent(t *testing.T) {
	for _, e := range []Enum{EnumCmd, EnumAttr, EnumHookAttr, EnumHook, EnumTupleAttr, EnumCTAttr,
		EnumCTFilterAttr, EnumCTStatsAttr, EnumCTConfigAttr, EnumCTTimeoutAttr, EnumCTStatusBit,
		EnumCTStatus, EnumTCPState} {
		for _, n := range e.Names {
			if n.C != e.Prefix+n.Short || strings.HasPrefix(n.C, "__") || strings.HasSuffix(n.C, "_MAX") {
				t.Errorf("%s: bad member %+v (prefix %s)", e.Tag, n, e.Prefix)
			}
		}
	}
}
