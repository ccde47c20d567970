#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# L2 over VXLAN, same node and across nodes (DESIGN paths 1 and 2).
#
#   n1: vm1 10.10.0.11 ---+                      +--- n2: vm3 10.10.0.13
#   n1: vm2 10.10.0.12 ---+--[bnet-vxlan VNI 1001]+
#                       underlay 10.254.0.0/24
#
# Same node: vm1 <-> vm2 never touches the underlay.
# Cross node: vm1 <-> vm3 is VXLAN VNI 1001 on UDP 4789 between the VTEPs.
source "$(dirname "$0")/lib.sh"
require ping tcpdump
cloud_up 2

bn 1 network create net1 --type vxlan --segment 1001 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.10.0.0/24 >/dev/null
seen_everywhere subnet sub1 || exit 1
bn 1 port create vm1 --network net1 --ip 10.10.0.11 --netns "$P-vm1" >/dev/null
bn 1 port create vm2 --network net1 --ip 10.10.0.12 --netns "$P-vm2" >/dev/null
bn 2 port create vm3 --network net1 --ip 10.10.0.13 --netns "$P-vm3" >/dev/null

mtu=$(in_ns "$P-vm1" cat /sys/class/net/eth0/mtu)
[ "$mtu" = 1450 ]
check_err $? "VM MTU is $mtu, want 1450 (underlay 1500 - 50 VXLAN)"
log_test "vxlan port gets network MTU 1450"

capture_start "$P-n1" eth0 "udp port 4789"
busywait 3000 vm_ping "$P-vm1" 10.10.0.12
check_err $? "vm1 cannot ping vm2 on the same node"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "same-node traffic crossed the underlay ($n VXLAN packets)"
log_test "same node, same network: ping, nothing on the underlay"

capture_start "$P-n1" eth0 "udp port 4789"
busywait 12000 vm_ping "$P-vm1" 10.10.0.13
check_err $? "vm1@n1 cannot ping vm3@n2"
n=$(capture_stop)
[ "$n" -gt 0 ]
check_err $? "cross-node ping but no VXLAN packet on the underlay"
vni=$(tcpdump -nn -r "$CAP_FILE" 2>/dev/null | grep -o 'vni [0-9]*' | sort -u | tr '\n' ' ')
[ "$vni" = "vni 1001 " ]
check_err $? "wrong VNI on the wire: '$vni'"
log_test "cross node over VXLAN VNI 1001"

in_ns "$P-vm3" ping -c 3 -i 0.2 -s 1400 -M "do" 10.10.0.11 >/dev/null
check_err $? "1400-byte DF ping across nodes failed"
log_test "cross node, full-size frames within network MTU"

exit ${FAILED:-0}
