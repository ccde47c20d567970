#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Two tenants with identical subnets, IPs and MACs on the same nodes never
# see each other's frames (seed 000 §2.5: only a router joins tenants).
#
#   n1: a1 10.40.0.11 (netA VNI 4001)   b1 10.40.0.11 (netB VNI 4002, same MAC)
#   n2: a2 10.40.0.12 (netA)            b2 10.40.0.12 (netB, same MAC)
source "$(dirname "$0")/lib.sh"
require tcpdump ping
cloud_up 2

for t in A B; do
	seg=$([ $t = A ] && echo 4001 || echo 4002)
	bn 1 network create net$t --type vxlan --segment $seg >/dev/null
	bn 1 subnet create sub$t --network net$t --cidr 10.40.0.0/24 >/dev/null
	seen_everywhere subnet sub$t || exit 1
	bn 1 port create ${t}1 --network net$t --ip 10.40.0.11 --mac fa:16:3e:00:40:11 --netns "$P-${t}1" >/dev/null
	bn 2 port create ${t}2 --network net$t --ip 10.40.0.12 --mac fa:16:3e:00:40:12 --netns "$P-${t}2" >/dev/null
done

capture_start "$P-B2" eth0 "icmp"
busywait 12000 vm_ping "$P-A1" 10.40.0.12
check_err $? "A1 cannot reach A2"
in_ns "$P-A1" ping -c 5 -i 0.2 10.40.0.12 >/dev/null
check_err $? "A1 -> A2 lost packets"
in_ns "$P-A1" ping -b -c 2 -i 0.2 10.40.0.255 >/dev/null 2>&1
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "tenant B's VM saw $n ICMP packets of tenant A"
log_test "same IPs and MACs in two networks: no leak A -> B"

capture_start "$P-A1" eth0 "icmp"
busywait 12000 vm_ping "$P-B2" 10.40.0.11
check_err $? "B2 cannot reach B1"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "tenant A's VM saw $n ICMP packets of tenant B"
log_test "same IPs and MACs in two networks: no leak B -> A"
exit ${FAILED:-0}
