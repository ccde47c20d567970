#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# SNAT for VMs without a floating IP (seed 002 §3.2.1): routed on their own
# node by the DVR router, then through the router's snat namespace on the
# network node, masqueraded to the router's gateway IP on the external
# (flat) network. Tenant subnets: one VXLAN, one GRE (decapsulated packets
# forwarded by the namespace's stack).
#
#   n1 (network): snat-<r1>        n2: a2 (A, vxlan)     n3: b3 (B, gre)
#   $P-out: 203.0.113.1, the outside world, on physnet "public"
source "$(dirname "$0")/lib.sh"
require ping tcpdump
cloud_up 3

bn 1 network create public --type flat --physnet public --external >/dev/null
bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create netA --type vxlan --segment 201 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.20.1.0/24 >/dev/null
bn 1 network create netB --type gre --segment 202 >/dev/null
bn 1 subnet create subB --network netB --cidr 10.20.2.0/24 >/dev/null
bn 1 router create r1 --distributed >/dev/null
bn 1 router add-interface r1 subA >/dev/null
bn 1 router add-interface r1 subB >/dev/null
bn 1 router set-gateway r1 public >/dev/null
check_err $? "router set-gateway failed"
for s in public-sub subA subB; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
bn 2 port create a2 --network netA --ip 10.20.1.10 --netns "$P-a2" >/dev/null
bn 3 port create b3 --network netB --ip 10.20.2.10 --netns "$P-b3" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0

gwip=$(bn 1 -o json router show r1 | jq -r '.router.external_gateway_info.external_fixed_ips[0].ip_address')
case $gwip in 203.0.113.*) ;; *) check_err 1 "router gateway IP '$gwip' not on the external subnet" ;; esac
rid=$(bn 1 -o json router show r1 | jq -r .router.id)
busywait 5000 test -e "/run/netns/$P-n1-snat-$rid"
check_err $? "no snat namespace for r1 on the network node n1"
for i in 2 3; do
	! test -e "/run/netns/$P-n$i-snat-$rid"
	check_err $? "compute node n$i holds a snat namespace for r1"
done
log_test "SNAT namespace on the network node only, gateway IP $gwip"

for vm in a2 b3; do
	capture_start "$P-out" eth0 "icmp"
	busywait 12000 vm_ping "$P-$vm" 203.0.113.1
	check_err $? "$vm cannot reach the outside host through SNAT"
	in_ns "$P-$vm" ping -c 2 -i 0.2 -W 1 203.0.113.1 >/dev/null
	check_err $? "$vm -> outside lost packets"
	capture_stop >/dev/null
	srcs=$(tcpdump -nn -r "$CAP_FILE" 'icmp[icmptype] == 8' 2>/dev/null | awk '{print $3}' | sort -u)
	[ "$srcs" = "$gwip" ]
	check_err $? "the outside host sees $vm's pings from '$srcs', want the router gateway $gwip"
	log_test "SNAT: $vm reaches the outside host as $gwip"
done

bn 1 router clear-gateway r1 >/dev/null
check_err $? "router clear-gateway failed"
busywait 5000 bash -c "! test -e /run/netns/$P-n1-snat-$rid"
check_err $? "snat namespace left behind after the gateway was cleared"
unreachable() { in_ns "$P-a2" ping -c 1 -W 1 203.0.113.1 2>&1 | grep -q "From 10.20.1.1 .*Unreachable"; }
busywait 5000 unreachable
check_err $? "without a gateway the outside must be unreachable, said by the gateway: $(in_ns "$P-a2" ping -c 1 -W 1 203.0.113.1 2>&1)"
log_test "gateway cleared: namespace gone, outside unreachable"

exit ${FAILED:-0}
