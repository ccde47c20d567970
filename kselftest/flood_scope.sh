#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Broadcast reaches exactly the nodes that host the network (head-end
# replication to the flood list), and nothing else.
#
#   n1: vmA1 (netA)  -- broadcast -->  n2: vmA2 (netA)   gets it
#                                       n3: vmB3 (netB)   gets nothing
source "$(dirname "$0")/lib.sh"
require tcpdump ping
cloud_up 3

bn 1 network create netA --type vxlan --segment 3001 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.30.0.0/24 >/dev/null
seen_everywhere subnet subA || exit 1
bn 1 network create netB --type vxlan --segment 3002 >/dev/null
bn 1 subnet create subB --network netB --cidr 10.31.0.0/24 >/dev/null
seen_everywhere subnet subB || exit 1
bn 1 port create vmA1 --network netA --ip 10.30.0.11 --netns "$P-a1" >/dev/null
bn 2 port create vmA2 --network netA --ip 10.30.0.12 --netns "$P-a2" >/dev/null
bn 3 port create vmB3 --network netB --ip 10.31.0.13 --netns "$P-b3" >/dev/null

busywait 5000 bash -c "BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET -o json tunnel list | jq -e '.tunnels[] | select(.segment==3001) | .remote_vteps | index(\"$(vtep 2)\")'"
check_err $? "n1's flood list for VNI 3001 lacks n2"
remotes=$(bn 1 -o json tunnel list | jq -c '[.tunnels[] | select(.segment==3001) | .remote_vteps[]]')
[ "$remotes" = "[\"$(vtep 2)\"]" ]
check_err $? "n1's flood list for VNI 3001 is $remotes, want only n2"
log_test "flood list holds exactly the VTEPs hosting the network"

capture_start "$P-a2" eth0 "ether broadcast and icmp"
cap_a2=$CAP_FILE; pid_a2=$CAP_PID
capture_start "$P-n3" eth0 "udp port 4789"
cap_n3=$CAP_FILE; pid_n3=$CAP_PID
in_ns "$P-a1" ping -b -c 3 -i 0.2 -W 1 10.30.0.255 >/dev/null 2>&1
na2=$(capture_stop "$cap_a2" "$pid_a2")
nn3=$(capture_stop "$cap_n3" "$pid_n3")
[ "$na2" -ge 3 ]
check_err $? "vmA2 on n2 saw $na2 of 3 broadcasts"
[ "$nn3" -eq 0 ]
check_err $? "n3, which hosts no port of netA, received $nn3 VXLAN packets"
log_test "broadcast reaches n2 (hosts netA) and not n3"
exit ${FAILED:-0}
