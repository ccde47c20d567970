#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A 9000-byte underlay gives jumbo networks: VXLAN 8950, GRE 8958, and an
# 8000-byte ping crosses both without fragmentation.
source "$(dirname "$0")/lib.sh"
require ping
UNDERLAY_MTU=9000
cloud_up 2

bn 1 network create vx --type vxlan --segment 1001 >/dev/null
bn 1 subnet create vxsub --network vx --cidr 10.81.0.0/24 >/dev/null
bn 1 network create gr --type gre --segment 1002 >/dev/null
bn 1 subnet create grsub --network gr --cidr 10.82.0.0/24 >/dev/null
seen_everywhere subnet vxsub || exit 1
seen_everywhere subnet grsub || exit 1
# One node after the other: two nodes allocating at once from a subnet
# neither has allocated in yet may pick the same address (model/ipam.go).
for t in vx gr; do
	bn 1 port create "${t}a" --network "$t" --netns "$P-${t}a" >/dev/null
	seen_on 2 port "${t}a" || exit 1
	bn 2 port create "${t}b" --network "$t" --netns "$P-${t}b" >/dev/null
done
for t in vx gr; do
	case $t in vx) name=VXLAN mtu=8950 ;; gr) name=GRE mtu=8958 ;; esac
	ipb=$(bn 2 -o json port show "${t}b" | jq -r '.port.fixed_ips[0].ip_address')
	got=$(in_ns "$P-${t}a" cat /sys/class/net/eth0/mtu)
	[ "$got" = "$mtu" ]
	check_err $? "$name VM MTU $got on a 9000 underlay, want $mtu"
	busywait 5000 vm_ping "$P-${t}a" "$ipb"
	check_err $? "$name: no connectivity"
	in_ns "$P-${t}a" ping -c 3 -i 0.2 -W 1 -M "do" -s 8000 "$ipb" >/dev/null
	check_err $? "$name: 8000-byte DF ping does not cross a jumbo underlay"
	log_test "$name on a 9000-byte underlay: MTU $mtu, 8000-byte ping crosses"
done

exit ${FAILED:-0}
