// Package ruletext reads and writes nflab's ruleset text format: what
// "nflab rules save" prints and "nflab rules apply -f" reads, and the
// rule words "nflab rule add" takes. It speaks in nftypes' types: Parse
// returns an nftypes.Ruleset, Format writes one, and Parse(Format(rs))
// is rs (for every ruleset Parse can return) with Format a fixed point.
//
// The format is line-oriented, close to nft's words (iptables' where
// clearer), so that an error points at a line, a column and a word:
//
//	# nflab ruleset
//	set blocked addr { 10.0.0.0/8, 192.0.2.1, 198.51.100.1-198.51.100.9 }
//	set web port { 80, 443, 8000-8100 }
//	chain filter input policy drop
//	chain filter tcp_in
//	rule filter input ct state established,related accept
//	rule filter input tcp dport 22 ct state new limit 5/minute burst 10 accept comment "ssh"
//	rule filter forward ip saddr @blocked drop
//	rule filter forward tcp dport @web jump tcp_in
//	rule mangle output tcp dport 80 mark set 0x1
//	rule raw prerouting udp dport 53 notrack
//	rule nat prerouting tcp dport 8080 dnat to 10.0.2.2:80
//	rule nat postrouting oif eth0 masquerade fully-random
//
// Words are separated by blanks; "{", "}" and "," are words of their own;
// "#" starts a comment; a brace group may span lines; a quoted word takes
// the escapes \" \\ \n \t and \xHH. The statements:
//
//	set NAME addr|port [{ ELEM, ... }]
//	chain TABLE NAME                          a user chain
//	chain TABLE BUILTIN policy accept|drop    a built-in chain's policy
//	rule TABLE CHAIN MATCH... ACTION [comment "TEXT"]
//
// Every built-in chain is in the Ruleset Parse returns, accepting unless
// a chain statement says otherwise; references to chains and sets are
// checked once the whole text is read, so statements may come in any
// order. Format writes sets, then user chains and drop policies, then
// rules, and never what only the module knows (handles, counters, quota
// use, generations).
//
// Matches, each negated by "!" before it or "!=" after its selector
// (quota and limit: "over"; connlimit and nth have no negation):
//
//	iif NAME, oif NAME                     NAME+ matches every name it starts
//	ip saddr|daddr ADDR | PREFIX | FIRST-LAST | @SET
//	ip protocol tcp|udp|icmp|N             ip length N[-M]
//	tcp|udp sport|dport PORTS | @SET       a protocol match, then a port match
//	th sport|dport PORTS | @SET            the port match alone
//	tcp flags FLAGS [/ MASK]               FLAGS alone: all of them set
//	tcp flags 0 / MASK                     none of MASK set ("none" too)
//	icmp type TYPE [code N]
//	ct state STATES                        new,established,related,invalid,untracked
//	ct status BITS                         seen-reply,assured,confirmed,dying,src-nat,dst-nat
//	string "TEXT" [algo bm|kmp] [from N] [to N]
//	connlimit above|upto N [per /P]
//	quota [over] N [bytes|kbytes|mbytes|gbytes]
//	nth every N [offset K]
//	time [HH:MM-HH:MM] [days mon,...] [since DATE] [until DATE] [utc|localtime]
//	limit [over] N/second|minute|hour|day [burst N]
//	mark V[/M]
//
// PORTS is a port, a range (1024-65535) or a list (80,443 or
// { 80, 443, 8000-8100 }); DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, UTC.
//
// Actions: accept, drop, reject [with tcp reset | with icmp CODE], log
// [prefix "TEXT"], counter, notrack, mark set V[/M], tos set N, dscp set N,
// ttl set|inc|dec N, jump CHAIN, goto CHAIN, return, and the NAT actions
// of table nat, each followed by flags (random, fully-random, persistent,
// fullcone; any order, each once; written in that order):
//
//	snat to ADDR[-ADDR][:PORT[-PORT]]      input, postrouting
//	dnat to ADDR[-ADDR][:PORT[-PORT]]      prerouting, output
//	dnat to :PORT[-PORT]                   the port alone
//	masquerade [to :PORT[-PORT]]           postrouting
//	redirect [to :PORT[-PORT]]             prerouting, output
//
// A NAT port range needs a protocol match for tcp or udp in the rule
// ("tcp dport 80 dnat to 10.0.2.2:8080").
//
// Set element lists ("nflab set load"), one address, prefix or range a
// line with "#" comments, are read by ReadElems, which takes a million
// lines in well under a second.
//
// Errors are *Error values with the file, line, column and word at fault
// (or, for a command line's words, the word's number).
package ruletext
