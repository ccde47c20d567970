#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A legacy (centralized) router, as in seed 000 flow 3 and seed 003: all its
# routing and NAT in a qrouter-<id> namespace on the network node, with qr-
# ports on its subnets (one over GRE: decapsulated packets forwarded by the
# namespace's stack), a qg- port on the external network, masquerading for
# VMs without a floating IP and 1:1 NAT for those with one.
#
#   n1 (network): qrouter-<r>    n2: a2 (A, vxlan)    n3: b3 (B, gre)
#   $P-out: 203.0.113.1, the outside world
source "$(dirname "$0")/lib.sh"
require ping tcpdump
cloud_up 3

bn 1 network create public --type flat --physnet public --external >/dev/null
bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create netA --type vxlan --segment 401 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.40.1.0/24 >/dev/null
bn 1 network create netB --type gre --segment 402 >/dev/null
bn 1 subnet create subB --network netB --cidr 10.40.2.0/24 >/dev/null
bn 1 router create r1 --external-network public >/dev/null
check_err $? "legacy router create failed"
bn 1 router add-interface r1 subA >/dev/null
bn 1 router add-interface r1 subB >/dev/null
for s in public-sub subA subB; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
# Traffic here comes from outside the default group; groups are not the subject.
sg_open 1 || exit 1
bn 2 port create a2 --network netA --ip 10.40.1.20 --netns "$P-a2" >/dev/null
bn 3 port create b3 --network netB --ip 10.40.2.30 --netns "$P-b3" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
rid=$(bn 1 -o json router show r1 | jq -r .router.id)
gwip=$(bn 1 -o json router show r1 | jq -r '.router.external_gateway_info.external_fixed_ips[0].ip_address')

[ "$(bn 1 -o json router show r1 | jq -r .router.distributed)" = false ]
check_err $? "r1 is not a legacy router"
busywait 5000 test -e "/run/netns/$P-n1-qrouter-$rid"
check_err $? "no qrouter namespace on the network node"
[ "$(bn 2 -o json route list | jq '.routes | length')" = 0 ]
check_err $? "a legacy router left routes in n2's datapath: it must route only on the network node"
log_test "legacy router: one qrouter namespace on the network node, nothing distributed"

busywait 12000 vm_ping "$P-a2" 10.40.1.1
check_err $? "a2 cannot ping its gateway in the qrouter namespace"
capture_start "$P-n1" eth0 "udp port 4789 or proto gre"
busywait 12000 vm_ping "$P-a2" 10.40.2.30
check_err $? "a2@n2 (vxlan) cannot reach b3@n3 (gre) through the legacy router"
out=$(in_ns "$P-a2" ping -c 2 -i 0.2 -W 1 10.40.2.30)
check_err $? "a2 -> b3 lost packets"
n=$(capture_stop)
[ "$n" -ge 8 ] && [[ $out == *"ttl=63"* ]]
check_err $? "east-west through a legacy router must cross the network node ($n tunnel frames there) with one hop: $out"
log_test "legacy router east-west (VXLAN <-> GRE) through the network node"

for vm in a2 b3; do
	capture_start "$P-out" eth0 "icmp"
	busywait 12000 vm_ping "$P-$vm" 203.0.113.1
	check_err $? "$vm cannot reach the outside through the legacy router"
	capture_stop >/dev/null
	srcs=$(tcpdump -nn -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $3}' | sort -u)
	[ "$srcs" = "$gwip" ]
	check_err $? "outside sees $vm as '$srcs', want the router gateway $gwip"
done
log_test "legacy router SNAT for both VMs as $gwip"

fip=$(bn 1 -o json fip create --network public --port a2 | jq -r .floatingip.floating_ip_address)
case $fip in 203.0.113.*) ;; *) check_err 1 "no floating IP: '$fip'" ;; esac
fipok() { in_ns "$P-out" ping -c 1 -W 1 "$fip"; }
busywait 8000 fipok
check_err $? "the outside cannot reach a2 at $fip"
capture_start "$P-out" eth0 "icmp"
in_ns "$P-a2" ping -c 2 -i 0.2 -W 1 203.0.113.1 >/dev/null
check_err $? "a2 with a floating IP cannot reach the outside"
capture_stop >/dev/null
srcs=$(tcpdump -nn -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $3}' | sort -u)
[ "$srcs" = "$fip" ]
check_err $? "outside sees a2 as '$srcs', want its floating IP $fip"
log_test "legacy router floating IP both ways, NATed in the qrouter namespace"

bn 1 fip delete "$fip" >/dev/null
bn 1 router remove-interface r1 subA >/dev/null
bn 1 router remove-interface r1 subB >/dev/null
bn 1 router delete r1 >/dev/null
check_err $? "router delete failed"
busywait 5000 bash -c "! test -e /run/netns/$P-n1-qrouter-$rid"
check_err $? "qrouter namespace left behind"
log_test "legacy router removed: namespace gone"

exit ${FAILED:-0}
