#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A local network (Neutron's type local) lives on one node: ports on the same
# node talk, nothing leaves the node, a port of it on another node is an
# island of its own.
#
#   n1: l1 10.60.0.11, l2 10.60.0.12        n2: l3 10.60.0.13 (same network)
source "$(dirname "$0")/lib.sh"
require ping tcpdump
cloud_up 2

bn 1 network create loc --type local >/dev/null
bn 1 subnet create locsub --network loc --cidr 10.60.0.0/24 >/dev/null
seen_everywhere subnet locsub || exit 1
bn 1 port create l1 --network loc --ip 10.60.0.11 --netns "$P-l1" >/dev/null
bn 1 port create l2 --network loc --ip 10.60.0.12 --netns "$P-l2" >/dev/null
bn 2 port create l3 --network loc --ip 10.60.0.13 --netns "$P-l3" >/dev/null

capture_start "$P-n1" eth0 "udp port 4789"
busywait 3000 vm_ping "$P-l1" 10.60.0.12
check_err $? "l1 cannot ping l2 on a local network"
in_ns "$P-l1" ping -c 2 -i 0.2 -W 1 10.60.0.13 >/dev/null 2>&1
[ $? -ne 0 ]
check_err $? "l1@n1 reached l3@n2 over a local network"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "a local network sent $n VXLAN packets"
log_test "local network: same node works, never leaves the node"

arp=$(bn 1 -o json arp list | jq -r '.arp[] | select(.ip=="10.60.0.13") | .mac')
[ -z "$arp" ]
check_err $? "n1 answers ARP for l3, a port of another node's local island"
log_test "local network: other nodes' ports are not in the ARP map"
exit ${FAILED:-0}
