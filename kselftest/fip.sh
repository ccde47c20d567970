#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Floating IPs (seed 002 §3.2.2-3.2.3, seed 003's test-02): 1:1 NAT in BPF
# on the VM's own node, straight out of that node's external NIC; proxy ARP
# for the floating IP from that node only; inbound TCP where the VM sees the
# outside host's real address; no hairpin through the NIC to a port of the
# external network on the same node; a floating IP that moves is announced.
#
#   n1 (network): snat-<r1>   n2: a2 (A) + fip, e2 (public)   n3: a3 (A)
#   $P-out: 203.0.113.1, the outside world
source "$(dirname "$0")/lib.sh"
require ping tcpdump python3
cloud_up 3

bn 1 network create public --type flat --physnet public --external >/dev/null
bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create netA --type vxlan --segment 301 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.30.1.0/24 >/dev/null
bn 1 router create r1 --distributed --external-network public >/dev/null
bn 1 router add-interface r1 subA >/dev/null
for s in public-sub subA; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
# Traffic here comes from outside the default group; groups are not the subject.
sg_open 1 || exit 1
bn 2 port create a2 --network netA --ip 10.30.1.20 --netns "$P-a2" >/dev/null
bn 3 port create a3 --network netA --ip 10.30.1.30 --netns "$P-a3" >/dev/null
bn 2 port create e2 --network public --ip 203.0.113.50 --netns "$P-e2" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
fip=$(bn 1 -o json fip create --network public | jq -r .floatingip.floating_ip_address)
case $fip in 203.0.113.*) ;; *) echo "no floating IP allocated: '$fip'"; exit 1 ;; esac
seen_everywhere port a2 || exit 1  # fip associate runs on n1
bn 1 fip associate "$fip" a2 >/dev/null
check_err $? "fip associate failed"
gwip=$(bn 1 -o json router show r1 | jq -r '.router.external_gateway_info.external_fixed_ips[0].ip_address')
fg_mac() { bn 1 -o json port list | jq -r --arg h "$1" '.ports[] | select(.device_owner == "network:floatingip_agent_gateway" and .["binding:host_id"] == $h) | .mac_address'; }

capture_start "$P-out" eth0 "icmp"
busywait 12000 vm_ping "$P-a2" 203.0.113.1
check_err $? "a2 cannot reach the outside host with its floating IP"
capture_stop >/dev/null
srcs=$(tcpdump -nn -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $3}' | sort -u)
[ "$srcs" = "$fip" ]
check_err $? "the outside host sees a2 as '$srcs', want its floating IP $fip"
capture_start "$P-n1" eth0 "udp port 4789"
in_ns "$P-a2" ping -c 3 -i 0.2 -W 1 203.0.113.1 >/dev/null
check_err $? "a2 -> outside lost packets"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "floating IP traffic went to the network node ($n VXLAN frames on n1)"
served=$(bn 2 -o json nat list | jq -r --arg f "$fip" '.nat[] | select(.floating_ip == $f) | .fixed_ip + " " + .next_hop_mac')
[[ $served == "10.30.1.20 "??:* ]]
check_err $? "bnet nat list on n2 shows '$served' for $fip, want 10.30.1.20 and a resolved next hop"
log_test "floating IP out: from $fip, straight out of the VM's node"

mac=$(in_ns "$P-out" ip neigh show "$fip" | awk '{print $5}')
[ -n "$mac" ] && [ "$mac" = "$(fg_mac n2)" ]
check_err $? "the outside resolved $fip to '$mac', want n2's fg port MAC $(fg_mac n2)"
# The VM's TCP server writes down who connected: the outside's real address.
in_ns "$P-a2" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1); s.settimeout(10)
c, a = s.accept(); c.sendall(b"hello from a2\n"); open(sys.argv[1], "w").write(a[0]); c.close()
' "$WORK/peer" &
server=$!
busywait 3000 in_ns "$P-a2" bash -c "ss -ltn | grep -q :8080"
got=$(in_ns "$P-out" timeout 5 bash -c "exec 3<>/dev/tcp/$fip/8080; cat <&3")
wait $server
[ "$got" = "hello from a2" ] && [ "$(cat "$WORK/peer" 2>/dev/null)" = 203.0.113.1 ]
check_err $? "inbound TCP to $fip: got '$got', the VM saw '$(cat "$WORK/peer" 2>/dev/null)' (want 203.0.113.1)"
log_test "floating IP in: proxy ARP from n2, TCP reaches a2 with the real source"

capture_start "$P-out" eth0 "icmp"
busywait 12000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 (no floating IP) cannot reach the outside through SNAT"
capture_stop >/dev/null
srcs=$(tcpdump -nn -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $3}' | sort -u)
[ "$srcs" = "$gwip" ]
check_err $? "a3 seen as '$srcs', want the router gateway $gwip (SNAT)"
log_test "a VM without a floating IP still leaves through SNAT"

capture_start "$P-n2" eth-ext "icmp"
busywait 12000 vm_ping "$P-e2" "$fip"
check_err $? "e2 (public network, same node) cannot reach $fip"
in_ns "$P-e2" ping -c 3 -i 0.2 -W 1 "$fip" >/dev/null
check_err $? "e2 -> $fip lost packets"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "e2 <-> $fip on the same node went through the NIC ($n frames on eth-ext)"
log_test "external port <-> floating IP on one node: no hairpin through the NIC"

capture_start "$P-out" eth0 "arp"
bn 1 fip associate "$fip" a3 >/dev/null 2>&1 || { bn 1 fip disassociate "$fip" >/dev/null; bn 1 fip associate "$fip" a3 >/dev/null; }
check_err $? "moving the floating IP to a3 failed"
busywait 12000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside after the move"
capture_stop >/dev/null
garps=$(tcpdump -nn -e -r "$CAP_FILE" "arp and src host $fip" 2>/dev/null | grep -ci "$(fg_mac n3)")
[ "$garps" -ge 1 ]
check_err $? "no gratuitous ARP for $fip from n3's fg MAC after the move"
busywait 5000 in_ns "$P-out" ping -c 1 -W 1 "$fip"
check_err $? "the outside cannot reach $fip on a3 after the move"
log_test "floating IP moved to a3@n3: announced by gratuitous ARP, reachable"

bn 1 fip delete "$fip" >/dev/null
check_err $? "fip delete failed"
nofips() { [ "$(bn 3 -o json map list | jq '.maps[] | select(.name == "fips_in") | .entries')" = 0 ]; }
busywait 5000 nofips
check_err $? "floating IP left in n3's maps"
busywait 5000 bash -c "! ls /run/netns | grep -q '^$P-n3-fip-'"
check_err $? "n3's fip namespace left behind"
log_test "floating IP deleted: maps and namespace cleaned"

exit ${FAILED:-0}
