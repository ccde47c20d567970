#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Distributed east-west routing (seed 002 §3.2.4-3.2.5, §4.2-4.4), in BPF
# on the source node: same node, across nodes (VXLAN and GRE), the DVR host
# MAC on the underlay, the gateway MAC at the VM, TTL, ICMP errors from the
# gateway, traceroute, and a router removed without a trace.
#
#   subnets: A 10.10.1.0/24 (vxlan 101)  B 10.10.2.0/24 (vxlan 102)  C 10.10.3.0/24 (gre 103)
#   router r1 (distributed): A, B, C
#   n2: a1 (A), b1 (B)      n3: b2 (B), c3 (C)      n1: no VM (the router must not be there)
source "$(dirname "$0")/lib.sh"
require ping tcpdump tshark traceroute
cloud_up 3

bn 1 network create netA --type vxlan --segment 101 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.10.1.0/24 >/dev/null
bn 1 network create netB --type vxlan --segment 102 >/dev/null
bn 1 subnet create subB --network netB --cidr 10.10.2.0/24 >/dev/null
bn 1 network create netC --type gre --segment 103 >/dev/null
bn 1 subnet create subC --network netC --cidr 10.10.3.0/24 >/dev/null
bn 1 router create r1 --distributed >/dev/null
for s in subA subB subC; do
	bn 1 router add-interface r1 "$s" >/dev/null || check_err 1 "add-interface r1 $s failed"
done
for s in subA subB subC; do seen_everywhere subnet "$s" || exit 1; done
bn 2 port create a1 --network netA --ip 10.10.1.10 --netns "$P-a1" >/dev/null
bn 2 port create b1 --network netB --ip 10.10.2.10 --netns "$P-b1" >/dev/null
bn 3 port create b2 --network netB --ip 10.10.2.20 --netns "$P-b2" >/dev/null
bn 3 port create c3 --network netC --ip 10.10.3.30 --netns "$P-c3" >/dev/null

gw_mac() { bn 1 -o json port list | jq -r --arg ip "$1" '.ports[] | select(.fixed_ips[0].ip_address == $ip) | .mac_address'; }
dvr_self() { bn "$1" -o json dvr-mac list | jq -r '.dvr_macs[] | select(.self) | .mac'; }
routes_on() { bn "$1" -o json route list | jq '.routes | length'; }

busywait 12000 vm_ping "$P-a1" 10.10.1.1
check_err $? "a1 cannot ping its gateway 10.10.1.1 (answered on its own node)"
mac=$(in_ns "$P-a1" ip neigh show 10.10.1.1 | awk '{print $5}')
[ "$mac" = "$(gw_mac 10.10.1.1)" ]
check_err $? "a1 resolved its gateway to '$mac', want the router interface's $(gw_mac 10.10.1.1)"
busywait 12000 vm_ping "$P-a1" 10.10.2.1
check_err $? "a1 cannot ping the router's other interface 10.10.2.1"
[ "$(routes_on 2)" = 3 ] && [ "$(routes_on 3)" = 3 ] && [ "$(routes_on 1)" = 0 ]
check_err $? "routes: n2 $(routes_on 2), n3 $(routes_on 3), n1 $(routes_on 1); want 3, 3 and 0 (no VM on n1)"
log_test "DVR: gateway answered locally, router only where its subnets have VMs"

capture_start "$P-n2" eth0 "udp port 4789 or proto gre"
out=$(in_ns "$P-a1" ping -c 3 -i 0.2 -W 1 10.10.2.10)
check_err $? "a1 cannot ping b1 (same node, other subnet)"
[[ $out == *"ttl=63"* ]]
check_err $? "reply TTL is not 63 (one routed hop): $out"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "same-node routing sent $n frames onto the underlay"
log_test "DVR east-west on one node: routed in BPF, TTL 63, never leaves the node"

capture_start "$P-n2" eth0 "udp port 4789"
busywait 12000 vm_ping "$P-a1" 10.10.2.20
check_err $? "a1@n2 cannot ping b2@n3 (other subnet, other node)"
in_ns "$P-a1" ping -c 3 -i 0.2 -W 1 10.10.2.20 >/dev/null
check_err $? "a1@n2 -> b2@n3 lost packets"
capture_stop >/dev/null
src=$(tshark -r "$CAP_FILE" -Y "vxlan && icmp.type == 8" -T fields -E occurrence=l -e eth.src 2>/dev/null | sort -u)
[ "$src" = "$(dvr_self 2)" ]
check_err $? "routed requests crossed the underlay from '$src', want n2's DVR MAC $(dvr_self 2)"
src=$(tshark -r "$CAP_FILE" -Y "vxlan && icmp.type == 0" -T fields -E occurrence=l -e eth.src 2>/dev/null | sort -u)
[ "$src" = "$(dvr_self 3)" ]
check_err $? "routed replies crossed the underlay from '$src', want n3's DVR MAC $(dvr_self 3)"
capture_start "$P-b2" eth0 "icmp"
in_ns "$P-a1" ping -c 2 -i 0.2 -W 1 10.10.2.20 >/dev/null
capture_stop >/dev/null
seen=$(tcpdump -nn -e -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $2}' | sort -u)
[ "$seen" = "$(gw_mac 10.10.2.1)" ]
check_err $? "b2 sees requests from '$seen', want its gateway's MAC $(gw_mac 10.10.2.1)"
log_test "DVR across nodes: DVR host MAC on the underlay, gateway MAC at the VM"

busywait 12000 vm_ping "$P-a1" 10.10.3.30
check_err $? "a1@n2 (vxlan) cannot ping c3@n3 (gre)"
capture_start "$P-n3" eth0 "proto gre"
in_ns "$P-a1" ping -c 2 -i 0.2 -W 1 10.10.3.30 >/dev/null
check_err $? "routing into GRE lost packets"
capture_stop >/dev/null
src=$(tshark -r "$CAP_FILE" -Y "gre && icmp.type == 8" -T fields -E occurrence=l -e eth.src 2>/dev/null | sort -u)
[ "$src" = "$(dvr_self 2)" ]
check_err $? "routed GRE frames carry '$src', want n2's DVR MAC"
log_test "DVR from a VXLAN subnet into a GRE subnet across nodes"

out=$(in_ns "$P-a1" ping -c 1 -W 1 -t 1 10.10.2.20 2>&1)
[[ $out == *"From 10.10.1.1"*"Time to live exceeded"* ]]
check_err $? "TTL 1 through the router: no time-exceeded from 10.10.1.1: $out"
hops=$(in_ns "$P-a1" traceroute -n -q 1 -w 1 -m 4 10.10.2.20 | awk 'NR > 1 {print $2}' | tr '\n' ' ')
[ "$hops" = "10.10.1.1 10.10.2.20 " ]
check_err $? "traceroute shows '$hops', want '10.10.1.1 10.10.2.20 '"
out=$(in_ns "$P-a1" ping -c 1 -W 1 10.99.0.1 2>&1)
[[ $out == *"From 10.10.1.1"*"Unreachable"* ]]
check_err $? "no route: no unreachable from the gateway: $out"
out=$(in_ns "$P-a1" ping -c 1 -W 1 10.10.2.99 2>&1)
[[ $out == *"From 10.10.1.1"*"Host Unreachable"* ]]
check_err $? "no such host: no host-unreachable from the gateway: $out"
drops=$(bn 2 -o json drop list | jq -r '[.drops[].reason] | sort | unique | join(",")')
[[ $drops == *no_route* && $drops == *route_neigh* && $drops == *ttl_exceeded* ]]
check_err $? "router errors not counted: '$drops'"
log_test "DVR answers like a router: time exceeded, unreachable, traceroute"

for s in subA subB subC; do
	bn 1 router remove-interface r1 "$s" >/dev/null || check_err 1 "remove-interface r1 $s failed"
done
bn 1 router delete r1 >/dev/null
check_err $? "router delete failed"
gone() { [ "$(routes_on 2)" = 0 ] && [ "$(routes_on 3)" = 0 ] && [ "$(bn 2 -o json arp list | jq '[.arp[] | select(.ip | endswith(".1"))] | length')" = 0 ]; }
busywait 5000 gone
check_err $? "router maps left behind: n2 routes $(routes_on 2), n3 routes $(routes_on 3)"
! vm_ping "$P-a1" 10.10.2.10
check_err $? "a1 still reaches b1 without a router"
log_test "router removed: no routes, no gateway left behind"

exit ${FAILED:-0}
