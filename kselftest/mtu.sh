#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# MTU done right, for VXLAN and GRE: VMs are told the network MTU
# (underlay - 50 / - 42); a VM whose MTU is wrongly 1500 gets ICMP
# fragmentation-needed, generated in BPF, so path-MTU discovery works and
# TCP completes instead of stalling. Nothing oversize is dropped silently.
source "$(dirname "$0")/lib.sh"
require ping iperf3
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

frag_drops() { bn 1 -o json drop list | jq '[.drops[] | select(.reason == "frag_needed") | .packets] | add // 0'; }

for t in vx gr; do
	case $t in vx) name=VXLAN mtu=1450 ;; gr) name=GRE mtu=1458 ;; esac
	ipb=$(bn 2 -o json port show "${t}b" | jq -r '.port.fixed_ips[0].ip_address')
	got=$(in_ns "$P-${t}a" cat /sys/class/net/eth0/mtu)
	[ "$got" = "$mtu" ]
	check_err $? "$name VM told MTU $got, want $mtu"
	nmtu=$(bn 1 -o json network show "$t" | jq -r '.network.mtu')
	[ "$nmtu" = "$mtu" ]
	check_err $? "$name network MTU $nmtu, want $mtu"
	reason=$(bn 1 -o json network show "$t" | jq -r '.network.mtu_reason // empty')
	[[ $reason == *"1500"*"$((1500 - mtu))"* ]]
	check_err $? "network show does not say why the MTU is $mtu: '$reason'"
	busywait 12000 vm_ping "$P-${t}a" "$ipb"
	check_err $? "$name: no connectivity"
	log_test "$name: VMs are told MTU $mtu, and network show says why"

	# Both ends wrong, so TCP negotiates MSS 1460 and must rely on PMTUD.
	in_ns "$P-${t}a" ip link set eth0 mtu 1500
	in_ns "$P-${t}b" ip link set eth0 mtu 1500
	before=$(frag_drops)
	out=$(in_ns "$P-${t}a" ping -c 2 -i 0.3 -W 1 -M "do" -s 1472 "$ipb" 2>&1)
	[[ $out == *"mtu = $mtu"* || $out == *"mtu=$mtu"* ]]
	check_err $? "$name: 1500-byte DF ping did not get frag-needed with MTU $mtu: $out"
	pmtu=$(in_ns "$P-${t}a" ip route get "$ipb" | grep -o 'mtu [0-9]*' | awk '{print $2}')
	[ "$pmtu" = "$mtu" ]
	check_err $? "$name: the VM's path MTU cache says '$pmtu', want $mtu"
	after=$(frag_drops)
	[ "$after" -gt "$before" ]
	check_err $? "$name: the oversize packet was not counted as frag_needed ($before -> $after)"
	log_test "$name: oversize DF ping gets ICMP frag-needed (mtu $mtu) from BPF"

	in_ns "$P-${t}a" ip route flush cache
	in_ns "$P-${t}b" iperf3 -s -1 -D
	busywait 3000 in_ns "$P-${t}b" bash -c "ss -ltn | grep -q :5201"
	out=$(in_ns "$P-${t}a" timeout 20 iperf3 -c "$ipb" -t 3 -J)
	check_err $? "$name: TCP with MTU 1500 VMs failed"
	bytes=$(jq -r '.end.sum_received.bytes // 0' <<<"$out")
	[ "$bytes" -gt 10000000 ]
	check_err $? "$name: TCP with MTU 1500 VMs moved only $bytes bytes"
	log_test "$name: TCP between MTU-1500 VMs completes through PMTUD"
done

exit ${FAILED:-0}
