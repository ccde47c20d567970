#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Flat and VLAN provider networks through the physnet NIC to a host outside
# the cloud (DESIGN path 4). VLAN tags are pushed and popped in BPF; the
# outside host tags with its own small TC program (no 8021q here).
#
#   n1: vf1 203.0.113.11 (flat)      n2: vv2 198.51.100.12 (vlan 100)
#        |eth-ext                         |eth-ext
#   -----+------------- brx ($P-ext) -----+------------
#                         |xo
#                    $P-out eth0: 203.0.113.1 untagged, 198.51.100.1 on VID 100
source "$(dirname "$0")/lib.sh"
require ping tcpdump clang tc
cloud_up 2

bn 1 network create pub --type flat --physnet public >/dev/null
bn 1 subnet create pubsub --network pub --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
seen_everywhere subnet pubsub || exit 1
# Traffic here comes from outside the default group; groups are not the subject.
sg_open 1 || exit 1
bn 1 port create vf1 --network pub --ip 203.0.113.11 --netns "$P-vf1" >/dev/null
bn 2 port create vf2 --network pub --ip 203.0.113.12 --netns "$P-vf2" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0

mtu=$(in_ns "$P-vf1" cat /sys/class/net/eth0/mtu)
[ "$mtu" = 1500 ]
check_err $? "flat network MTU $mtu, want 1500"
busywait 12000 vm_ping "$P-vf1" 203.0.113.1
check_err $? "flat: vf1 cannot ping the outside host"
in_ns "$P-out" ping -c 2 -i 0.2 -W 1 203.0.113.11 >/dev/null
check_err $? "flat: outside host cannot ping vf1"
log_test "flat provider network: VM <-> outside host"

capture_start "$P-n1" eth0 "udp port 4789"
busywait 12000 vm_ping "$P-vf2" 203.0.113.11
check_err $? "flat: vf2@n2 cannot ping vf1@n1"
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "flat traffic went through VXLAN ($n packets)"
log_test "flat provider network across nodes uses the physical network"

bn 1 network create vl100 --type vlan --physnet public --segment 100 >/dev/null
bn 1 subnet create vlsub --network vl100 --cidr 198.51.100.0/24 --gateway 198.51.100.1 >/dev/null
seen_everywhere subnet vlsub || exit 1
bn 2 port create vv2 --network vl100 --ip 198.51.100.12 --netns "$P-vv2" >/dev/null
obj=$WORK/tagger
clang -O2 -g -target bpf -DVID=100 -DEGRESS -c "$LIB_DIR/tagger.c" -o "$obj-eg.o" -I/usr/include/x86_64-linux-gnu
clang -O2 -g -target bpf -DVID=100 -c "$LIB_DIR/tagger.c" -o "$obj-in.o" -I/usr/include/x86_64-linux-gnu
in_ns "$P-out" ip addr add 198.51.100.1/24 dev eth0
in_ns "$P-out" tc qdisc add dev eth0 clsact
in_ns "$P-out" tc filter add dev eth0 egress bpf da obj "$obj-eg.o" sec tc
in_ns "$P-out" tc filter add dev eth0 ingress bpf da obj "$obj-in.o" sec tc

capture_start "$P-ext" x2 "vlan 100 and icmp"
busywait 12000 vm_ping "$P-vv2" 198.51.100.1
check_err $? "vlan: vv2 cannot ping the outside host"
in_ns "$P-out" ping -c 2 -i 0.2 -W 1 198.51.100.12 >/dev/null
check_err $? "vlan: outside host cannot ping vv2"
n=$(capture_stop)
[ "$n" -ge 4 ]
check_err $? "only $n ICMP frames tagged VID 100 seen on n2's physnet link"
log_test "vlan provider network (VID 100, tagged in BPF) <-> outside host"

# A frame on another VID must not reach the VLAN 100 VM.
capture_start "$P-vv2" eth0 "icmp"
in_ns "$P-out" tc filter del dev eth0 egress
clang -O2 -g -target bpf -DVID=200 -DEGRESS -c "$LIB_DIR/tagger.c" -o "$obj-eg200.o" -I/usr/include/x86_64-linux-gnu
in_ns "$P-out" tc filter add dev eth0 egress bpf da obj "$obj-eg200.o" sec tc
in_ns "$P-out" ping -c 2 -i 0.2 -W 1 198.51.100.12 >/dev/null 2>&1
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "a frame tagged VID 200 reached the VLAN 100 VM ($n packets)"
log_test "VID 200 frames do not reach a VLAN 100 port"
exit ${FAILED:-0}
