#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A port forwards when `port create --netns` returns: the VM's first frame
# is not dropped on its own veth end. Raising the host end gives both ends
# carrier, but each transmits through the noop qdisc (dropping, tx_dropped)
# until the kernel's linkwatch work activates its real qdisc; the agent
# waits for both ends' operstate UP before answering. Before it did, 1 in
# 10 new VMs lost their first ARP and waited a second for the retry.
#
#   n1: p1..pN 10.52.0.11..   n2: far 10.52.0.200   (VNI 5201)
source "$(dirname "$0")/lib.sh"
require ping
N=15
cloud_up 2

bn 1 network create net1 --type vxlan --segment 5201 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.52.0.0/24 >/dev/null
seen_everywhere subnet sub1 || exit 1
bn 2 port create far --network net1 --ip 10.52.0.200 --netns "$P-far" --no-port-security >/dev/null
# p0 first: the first port of the network on n1 has n2 learn of it by
# gossip, a different wait from the one this test is about.
bn 1 port create p0 --network net1 --ip 10.52.0.10 --netns "$P-p0" --no-port-security >/dev/null
busywait 12000 vm_ping "$P-p0" 10.52.0.200
check_err $? "p0@n1 cannot reach far@n2"
log_test "cluster up: p0@n1 <-> far@n2"

dropped=()
lost=0
for i in $(seq 1 "$N"); do
	bn 1 port create "p$i" --network net1 --ip "10.52.0.$((10 + i))" --netns "$P-p$i" --no-port-security >/dev/null ||
		{ check_err 1 "port create p$i failed"; break; }
	# One echo right away, as a VM's first packet: the ARP before it is the
	# frame that used to be dropped.
	vm_ping "$P-p$i" 10.52.0.200 || lost=$((lost + 1))
	d=$(in_ns "$P-p$i" cat /sys/class/net/eth0/statistics/tx_dropped)
	[ "$d" = 0 ] || dropped+=("p$i:$d")
done
[ ${#dropped[@]} -eq 0 ]
check_err $? "VM ends dropped their first frames: ${dropped[*]}"
log "first echo unanswered within 1 s: $lost of $N"
log_test "$N new ports: no VM end dropped a frame after port create"
exit ${FAILED:-0}
