//go:build nflabvm

// Every match of the rule engine end to end, with traffic that matches and
// traffic that does not, on the topology of hooks_test.go (the rules sit on
// the server, on the router for forwarded traffic):
//
//	 ns client                 ns router                  ns server
//	+-------------+        +-------------------+        +-------------+
//	| c0          |  veth  | r0           r1   |  veth  |          s0 |
//	| 10.0.1.2/24 +--------+ 10.0.1.1  10.0.2.1 +--------+ 10.0.2.2/24 |
//	+-------------+        +-------------------+        +-------------+
package guest

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRulesMatches runs one case per match (and the chain actions) on one
// topology: each case applies its ruleset, replacing the last case's, and
// starts with no tracked connections and fresh hook counters.
func TestRulesMatches(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{"MatchString", rulesMatchString},
		{"MatchConnlimit", rulesMatchConnlimit},
		{"MatchQuota", rulesMatchQuota},
		{"MatchNth", rulesMatchNth},
		{"MatchTime", rulesMatchTime},
		{"MatchIPRange", rulesMatchIPRange},
		{"MatchLimitBurst", rulesMatchLimitBurst},
		{"MatchInterfaces", rulesMatchInterfaces},
		{"MatchTCPFlags", rulesMatchTCPFlags},
		{"MatchICMPTypeCode", rulesMatchICMPTypeCode},
		{"MatchCTStatus", rulesMatchCTStatus},
		{"MatchSets", rulesMatchSets},
		{"JumpGotoReturn", rulesJumpGotoReturn},
		{"PolicyDrop", rulesPolicyDrop},
	})
}

func fmtPtr(p *uint64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}

// pings sends n echo requests from ns to dst, 0.2 s apart, and returns the
// sequence numbers answered. A lost one costs a second of waiting.
func pings(t *testing.T, ns netns, dst string, n int) []int {
	t.Helper()
	out, _ := ns.try("ping", "-c", fmt.Sprint(n), "-i", "0.2", "-W", "1", dst)
	var seqs []int
	for _, m := range regexp.MustCompile(`icmp_seq=(\d+) `).FindAllStringSubmatch(out, -1) {
		s, _ := strconv.Atoi(m[1])
		seqs = append(seqs, s)
	}
	return seqs
}

func rulesMatchString(t *testing.T, tp *topology) {
	// The payload starts at 52: a 20-byte IP header and a 32-byte TCP
	// header (timestamps). A window up to 40 holds headers only. The
	// data segments are 70 and 73 bytes long, the SYN 60, the ACKs 52.
	applyIn(t, tp.server, `
rule filter input tcp dport 8081 string "needle" counter comment "bm"
rule filter input tcp dport 8081 string "needle" algo kmp counter comment "kmp"
rule filter input tcp dport 8081 string "needle" algo kmp from 40 to 1000 counter comment "window"
rule filter input tcp dport 8081 string "needle" from 0 to 40 counter comment "headers"
rule filter input tcp dport 8081 string != "needle" ip length 61-1500 counter comment "without"
`)
	client, server := connPair(t, "client", "server", ":8081", "10.0.2.2:8081")
	for _, msg := range []string{"hay, hay and more hay", "hay, a needle, hay"} {
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		readN(t, server, make([]byte, len(msg)))
	}
	wantPackets(t, tp.server, map[string]uint64{"bm": 1, "kmp": 1, "window": 1, "headers": 0, "without": 1})
}

func rulesMatchConnlimit(t *testing.T, tp *topology) {
	const n = 3
	applyIn(t, tp.server, fmt.Sprintf(`
rule filter input tcp dport 8082 tcp flags syn / syn,ack connlimit above %d reject with tcp reset comment "over"
rule filter input tcp dport 8082 tcp flags syn / syn,ack connlimit upto %d counter comment "upto"
`, n, n))
	ln := listenIn(t, "server", ":8082")
	// n connections held open: each one tracked on the server.
	for i := 0; i < n; i++ {
		if _, err := dialErr(t, "client", "10.0.2.2:8082", waitLong); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, n, err)
		}
		acceptOne(t, ln)
	}
	// The n+1th is one too many.
	if _, err := dialErr(t, "client", "10.0.2.2:8082", waitLong); err == nil || !isConnRefused(err) {
		t.Fatalf("connection %d past connlimit above %d: %v, want connection refused", n+1, n, err)
	}
	wantPackets(t, tp.server, map[string]uint64{"over": 1, "upto": n})
}

func rulesMatchQuota(t *testing.T, tp *topology) {
	applyIn(t, tp.server, `
rule filter input icmp type echo-request quota 200 bytes accept comment "quota"
rule filter input icmp type echo-request drop comment "over"
`)
	// 84-byte echoes: two fit in 200 bytes, the third does not.
	if got := pings(t, tp.client, "10.0.2.2", 3); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("answered %v, want [1 2]", got)
	}
	// As xt_quota: the echo that did not fit used up the rest.
	r := ruleList(t, tp.server)
	if q := r["quota"].QuotaUsed; q == nil || *q != 200 {
		t.Errorf("quota_used %s, want 200", fmtPtr(q))
	}
	wantPackets(t, tp.server, map[string]uint64{"quota": 2, "over": 1})
	// Reset gives the quota back (and the counters).
	tp.server.run(t, "nflab", "rule", "reset", fmt.Sprint(r["quota"].Handle))
	r = ruleList(t, tp.server)
	if q := r["quota"].QuotaUsed; q == nil || *q != 0 || r["quota"].Packets != 0 {
		t.Errorf("after reset: quota_used %s, packets %d; want 0, 0", fmtPtr(q), r["quota"].Packets)
	}
	if !pingOK("client", "10.0.2.2") {
		t.Error("ping dropped after the quota was reset")
	}
}

func rulesMatchNth(t *testing.T, tp *topology) {
	applyIn(t, tp.server, `rule filter input icmp type echo-request nth every 3 drop comment "nth"`)
	// Packets 0 and 3 (pings 1 and 4) are dropped.
	if got := pings(t, tp.client, "10.0.2.2", 6); fmt.Sprint(got) != "[2 3 5 6]" {
		t.Errorf("answered %v, want [2 3 5 6]", got)
	}
	wantPackets(t, tp.server, map[string]uint64{"nth": 2})
}

func rulesMatchTime(t *testing.T, tp *topology) {
	// The weekday rules are computed from now and checked a few seconds
	// later: not across a midnight (UTC).
	if left := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)); left < 2*time.Minute {
		time.Sleep(left + time.Second)
	}
	now := time.Now().UTC()
	hm := func(d time.Duration) string { return now.Add(d).Format("15:04") }
	day := strings.ToLower(now.Format("Mon"))[:3]
	other := strings.ToLower(now.Add(24 * time.Hour).Format("Mon"))[:3]
	// Windows of two hours around now (past midnight they wrap) and two
	// hours that start in three.
	applyIn(t, tp.server, fmt.Sprintf(`
rule filter input icmp type echo-request time %s-%s counter comment "now"
rule filter input icmp type echo-request time %s-%s counter comment "later"
rule filter input icmp type echo-request ! time %s-%s counter comment "not-later"
rule filter input icmp type echo-request time days %s counter comment "today"
rule filter input icmp type echo-request time days %s counter comment "tomorrow"
rule filter input icmp type echo-request time since %s until %s counter comment "dates"
rule filter input icmp type echo-request time until %s counter comment "past"
`, hm(-time.Hour), hm(time.Hour), hm(3*time.Hour), hm(5*time.Hour), hm(3*time.Hour), hm(5*time.Hour),
		day, other, now.Add(-48*time.Hour).Format("2006-01-02"), now.Add(48*time.Hour).Format("2006-01-02"),
		now.Add(-48*time.Hour).Format("2006-01-02")))
	tp.ping("client", "10.0.2.2", 1)
	wantPackets(t, tp.server, map[string]uint64{
		"now": 1, "later": 0, "not-later": 1, "today": 1, "tomorrow": 0, "dates": 1, "past": 0,
	})
}

func rulesMatchIPRange(t *testing.T, tp *topology) {
	// The client is 10.0.1.2, the server 10.0.2.2: each range has one of
	// them at an edge, or just misses it.
	applyIn(t, tp.server, `
rule filter input icmp type echo-request ip saddr 10.0.1.2-10.0.1.7 counter comment "first"
rule filter input icmp type echo-request ip saddr 10.0.0.200-10.0.1.2 counter comment "last"
rule filter input icmp type echo-request ip saddr 10.0.1.2-10.0.1.2 counter comment "only"
rule filter input icmp type echo-request ip saddr 10.0.1.3-10.0.1.9 counter comment "above"
rule filter input icmp type echo-request ip saddr 10.0.0.0-10.0.1.1 counter comment "below"
rule filter input icmp type echo-request ip saddr != 10.0.1.3-10.0.1.9 counter comment "not-above"
rule filter input icmp type echo-request ip daddr 10.0.2.2-10.0.2.2 counter comment "daddr"
rule filter input icmp type echo-request ip daddr 10.0.2.3-255.255.255.255 counter comment "daddr-above"
`)
	tp.ping("client", "10.0.2.2", 1)
	wantPackets(t, tp.server, map[string]uint64{
		"first": 1, "last": 1, "only": 1, "above": 0, "below": 0, "not-above": 1, "daddr": 1, "daddr-above": 0,
	})
}

func rulesMatchLimitBurst(t *testing.T, tp *topology) {
	// One token a minute: only the burst passes while the test runs.
	applyIn(t, tp.server, `
rule filter input icmp type echo-request limit 1/minute burst 3 accept comment "limit"
rule filter input icmp type echo-request drop comment "over"
`)
	if got := pings(t, tp.client, "10.0.2.2", 5); fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("answered %v, want [1 2 3]", got)
	}
	wantPackets(t, tp.server, map[string]uint64{"limit": 3, "over": 2})
}

func rulesMatchInterfaces(t *testing.T, tp *topology) {
	applyIn(t, tp.router, `
rule filter forward icmp type echo-request iif r+ oif r1 counter comment "wild"
rule filter forward icmp type echo-request iif r0 oif != r0 counter comment "exact"
rule filter forward icmp type echo-request iif != r+ counter comment "not-r"
rule filter forward icmp type echo-request oif c+ counter comment "c"
rule filter input icmp type echo-request iif r+ counter comment "input"
rule filter output icmp type echo-reply oif r+ counter comment "output"
rule filter output icmp type echo-reply oif s+ counter comment "output-no"
`)
	tp.ping("client", "10.0.2.2", 1)
	tp.ping("client", "10.0.1.1", 1)
	wantPackets(t, tp.router, map[string]uint64{
		"wild": 1, "exact": 1, "not-r": 0, "c": 0, "input": 1, "output": 1, "output-no": 0,
	})
}

func rulesMatchTCPFlags(t *testing.T, tp *topology) {
	applyIn(t, tp.server, `
rule filter input tcp dport 8086 tcp flags syn / syn,ack counter comment "syn"
rule filter input tcp dport 8086 tcp flags ack / syn,ack counter comment "ack"
rule filter input tcp dport 8086 tcp flags fin counter comment "fin"
rule filter input tcp dport 8086 tcp flags rst counter comment "rst"
rule filter input tcp dport 8086 tcp flags != ack counter comment "no-ack"
rule filter output tcp sport 8086 tcp flags syn,ack counter comment "synack"
`)
	client, server := connPair(t, "client", "server", ":8086", "10.0.2.2:8086")
	client.Close()
	// The FIN reaches the server's socket: its read ends.
	if n, err := server.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read after the client's FIN: %d bytes, %v", n, err)
	}
	r := ruleList(t, tp.server)
	// A FIN is retransmitted if its ACK is late (TCG on a busy host): one
	// or more.
	if r["syn"].Packets != 1 || r["synack"].Packets != 1 || r["no-ack"].Packets != 1 || r["fin"].Packets < 1 || r["rst"].Packets != 0 {
		t.Errorf("syn %d synack %d no-ack %d fin %d rst %d, want 1 1 1 1+ 0",
			r["syn"].Packets, r["synack"].Packets, r["no-ack"].Packets, r["fin"].Packets, r["rst"].Packets)
	}
	// Every segment but the SYN has ACK: the handshake's third and the FIN.
	if r["ack"].Packets < 2 {
		t.Errorf("ack matched %d segments, want 2 or more", r["ack"].Packets)
	}
}

func rulesMatchICMPTypeCode(t *testing.T, tp *topology) {
	applyIn(t, tp.client, `
rule filter input icmp type echo-reply counter comment "reply"
rule filter input icmp type destination-unreachable code 3 counter comment "port-unreach"
rule filter input icmp type destination-unreachable code 1 counter comment "host-unreach"
rule filter input icmp type != echo-reply counter comment "not-reply"
rule filter output icmp type echo-request code 0 counter comment "request"
`)
	tp.ping("client", "10.0.2.2", 1)
	// A datagram to a port nobody has: the server answers port unreachable.
	if err := udpRefused(t, "client", "10.0.2.2:9"); err != nil {
		t.Fatalf("a datagram to a closed port: %v", err)
	}
	wantPackets(t, tp.client, map[string]uint64{
		"reply": 1, "port-unreach": 1, "host-unreach": 0, "not-reply": 1, "request": 1,
	})
}

func rulesMatchCTStatus(t *testing.T, tp *topology) {
	applyIn(t, tp.server, `
rule filter input icmp type echo-request ct status seen-reply counter comment "seen"
rule filter input icmp type echo-request ct status != seen-reply counter comment "unseen"
rule filter input icmp type echo-request ct status confirmed counter comment "confirmed"
rule filter input icmp type echo-request ct status dying counter comment "dying"
`)
	// One flow: the first request is new (its flow unconfirmed until it
	// reaches the socket, no reply seen), the second sees both.
	tp.ping("client", "10.0.2.2", 2)
	wantPackets(t, tp.server, map[string]uint64{"seen": 1, "unseen": 1, "confirmed": 1, "dying": 0})
}

func rulesMatchSets(t *testing.T, tp *topology) {
	udpIn(t, "server", ":9001", "")
	udpIn(t, "server", ":9002", "")
	applyIn(t, tp.server, `
set clients addr { 10.0.1.0/30, 192.0.2.0/24 }
set ports port { 9000-9001, 53 }
rule filter input ip saddr @clients udp dport @ports counter comment "both"
rule filter input ip saddr @clients udp dport != @ports counter comment "port-out"
rule filter input ip saddr != @clients ip protocol udp counter comment "addr-out"
rule filter input ip daddr @clients counter comment "daddr"
`)
	send := func(dport int) { udpSend(t, "client", ":0", fmt.Sprintf("10.0.2.2:%d", dport), []byte("x")) }
	send(9001)
	send(9002)
	wantPackets(t, tp.server, map[string]uint64{"both": 1, "port-out": 1, "addr-out": 0, "daddr": 0})

	// Loaded from a list file: the client is no longer in the set.
	f := t.TempDir() + "/clients.zone"
	if err := os.WriteFile(f, []byte("# replaced\n192.0.2.0/24\n10.0.1.3-10.0.1.200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var loaded struct {
		Loaded int `json:"loaded"`
	}
	tp.server.nflabJSON(t, &loaded, "set", "load", "clients", "-f", f)
	if loaded.Loaded != 2 {
		t.Errorf("set load: loaded %d elements, want 2", loaded.Loaded)
	}
	send(9001)
	wantPackets(t, tp.server, map[string]uint64{"both": 1, "port-out": 1, "addr-out": 1})
}

func rulesJumpGotoReturn(t *testing.T, tp *topology) {
	udpIn(t, "server", ":9020", "")
	applyIn(t, tp.server, `
chain filter sub
chain filter g
rule filter input icmp type echo-request jump sub comment "jump"
rule filter input icmp type echo-request counter comment "after-jump"
rule filter sub ip saddr 10.0.2.1 return comment "return"
rule filter sub counter comment "sub-end"
rule filter input udp dport 9020 goto g comment "goto"
rule filter input udp dport 9020 counter comment "after-goto"
rule filter g counter comment "in-g"
`)
	tp.ping("client", "10.0.2.2", 1) // through sub to its end, then back
	tp.ping("router", "10.0.2.2", 1) // returns from sub early
	udpSend(t, "client", ":0", "10.0.2.2:9020", []byte("x"))
	wantPackets(t, tp.server, map[string]uint64{
		"jump": 2, "after-jump": 2, "return": 1, "sub-end": 1, "goto": 1, "in-g": 1, "after-goto": 0,
	})
}

func rulesPolicyDrop(t *testing.T, tp *topology) {
	listenIn(t, "server", ":8087")
	applyIn(t, tp.server, `
chain filter input policy drop
rule filter input icmp type echo-request accept comment "ping"
`)
	tp.ping("client", "10.0.2.2", 1)
	if c, err := dialErr(t, "client", "10.0.2.2:8087", 500*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("TCP connected through an input chain whose policy drops")
	}
	wantPackets(t, tp.server, map[string]uint64{"ping": 1})
	if got := saveIn(t, tp.server); !strings.Contains(got, "chain filter input policy drop") {
		t.Errorf("rules save lost the policy:\n%s", got)
	}
}
