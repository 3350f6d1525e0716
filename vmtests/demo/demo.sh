#!/bin/sh
# The nflab demo: run in the lab VM by "make demo" (nflab.ko is loaded).
#
#   ns client            ns router                ns server
#   c0 10.0.1.2 ---- r0 10.0.1.1  r1 10.0.2.1 ---- s0 10.0.2.2
#
# Pings and a TCP exchange from client to server cross the router, then the
# router's hook counters show which hooks they passed. Last, a stateful
# firewall on the router lets the client in and keeps the server out.
set -eu

for ns in client router server; do
	ip netns add $ns
	ip -n $ns link set lo up
done
ip link add c0 netns client type veth peer r0 netns router
ip link add s0 netns server type veth peer r1 netns router
ip -n client addr add 10.0.1.2/24 dev c0
ip -n router addr add 10.0.1.1/24 dev r0
ip -n router addr add 10.0.2.1/24 dev r1
ip -n server addr add 10.0.2.2/24 dev s0
for l in client:c0 router:r0 router:r1 server:s0; do
	ip -n ${l%%:*} link set ${l#*:} up
done
ip -n client route add default via 10.0.1.1
ip -n server route add default via 10.0.2.1
ip netns exec router sysctl -qw net.ipv4.ip_forward=1

echo "== nflab $(nflab version -o json)"
echo "== client pings the server through the router (3 echo requests)"
ip netns exec client ping -c 3 -i 0.2 10.0.2.2

echo "== client pings the router itself (2 echo requests)"
ip netns exec client ping -c 2 -i 0.2 10.0.1.1

echo "== a TCP exchange client -> server:8080"
ip netns exec server socat -u TCP4-LISTEN:8080,reuseaddr SYSTEM:'cat >/dev/null' &
srv=$!
sleep 1
echo "hello through five hooks" | ip netns exec client socat -u - TCP4:10.0.2.2:8080
wait $srv || true

echo
echo "== the router's connection tracking table (nflab ct list)"
ip netns exec router nflab ct list

for ns in client router server; do
	echo
	echo "== nflab stats in namespace $ns"
	ip netns exec $ns nflab stats
done
echo
echo "The router forwards the client<->server traffic (PRE_ROUTING, FORWARD,"
echo "POST_ROUTING) and answers its own pings (PRE_ROUTING, LOCAL_IN, then"
echo "LOCAL_OUT, POST_ROUTING). Its tracker holds one entry per flow: the"
echo "pings to the server and to itself, and the TCP connection in TIME_WAIT."

echo
echo "== a stateful firewall on the router (nflab rules apply)"
ip netns exec router nflab rules apply -f - <<'RULES'
chain filter forward policy drop
rule filter forward ct state established,related accept comment "replies"
rule filter forward iif r0 ct state new accept comment "client out"
RULES
ip netns exec router nflab rules save
echo "== client -> server: allowed"
ip netns exec client ping -c 2 -i 0.2 10.0.2.2
echo "== server -> client: dropped by the forward chain's policy"
if ip netns exec server ping -c 2 -i 0.2 -W 1 10.0.1.2; then
	echo "the firewall let a new inbound connection through" >&2
	exit 1
fi
echo
echo "== the rules' counters (nflab rule list -v)"
ip netns exec router nflab rule list -v
