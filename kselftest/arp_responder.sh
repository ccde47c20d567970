#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# ARP for a remote VM is answered on the sender's own node (br-tun's
# arp_responder, done in BPF): the reply comes back and nothing crosses the
# underlay. ARP for an unknown IP is flooded to the network's VTEPs.
#
#   n1: vm1 10.20.0.11  --- ARP who-has 10.20.0.12? ---> answered by n1's BPF
#   n2: vm2 10.20.0.12
source "$(dirname "$0")/lib.sh"
require arping tcpdump
cloud_up 2

bn 1 network create net1 --type vxlan --segment 2001 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.20.0.0/24 >/dev/null
seen_everywhere subnet sub1 || exit 1
bn 1 port create vm1 --network net1 --ip 10.20.0.11 --netns "$P-vm1" >/dev/null
bn 2 port create vm2 --network net1 --ip 10.20.0.12 --netns "$P-vm2" >/dev/null
mac2=$(bn 2 -o json port show vm2 | jq -r .port.mac_address)
busywait 5000 bash -c "[ \"\$(BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET -o json arp list | jq -r '.arp[] | select(.ip==\"10.20.0.12\") | .mac')\" = $mac2 ]"
check_err $? "n1's ARP map never learned vm2 (10.20.0.12 -> $mac2)"
log_test "n1's ARP map holds the remote VM from gossip"

capture_start "$P-n1" eth0 "udp port 4789"
out=$(in_ns "$P-vm1" arping -c 1 -w 2 -I eth0 10.20.0.12 2>&1)
rc=$?
n=$(capture_stop)
check_err $rc "no ARP reply for 10.20.0.12: $out"
echo "$out" | grep -qi "$mac2"
check_err $? "ARP reply does not carry vm2's MAC $mac2: $out"
[ "$n" -eq 0 ]
check_err $? "$n VXLAN packets crossed the underlay for a locally answerable ARP"
log_test "ARP for a remote IP answered locally, zero underlay frames"

# arping uses a raw socket; let the VM's own stack resolve vm2 this time.
in_ns "$P-vm1" ping -c 1 -W 1 10.20.0.12 >/dev/null
check_err $? "vm1 cannot ping vm2"
lladdr=$(in_ns "$P-vm1" ip -j neigh show 10.20.0.12 dev eth0 | jq -r '.[0].lladdr')
[ "$lladdr" = "$mac2" ]
check_err $? "vm1's neighbour entry for vm2 is '$lladdr', want $mac2"
log_test "VM neighbour table filled by the BPF reply"

capture_start "$P-n2" eth0 "udp port 4789"
in_ns "$P-vm1" arping -c 1 -w 1 -I eth0 10.20.0.99 >/dev/null 2>&1
n=$(capture_stop)
[ "$n" -ge 1 ]
check_err $? "ARP for an unknown IP was not flooded to n2 ($n packets)"
log_test "ARP for an unknown IP is flooded to the network's VTEPs"
exit ${FAILED:-0}
