#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A bnet VLAN provider network against a Linux 802.1Q subinterface: Debian
# 12's kernel (peer.sh) sits on the physnet bridge with eth0.101, the way a
# host behind a trunk port sees the network. bnet tags in BPF; the guest's
# 8021q module is the other end.
#
#   n1 eth-ext --- brx ($P-ext) --- guest eth0, eth0.101 198.51.100.50
#   va 198.51.100.11 (vlan 101)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peer.sh"
require ping tcpdump tshark python3 curl
peer_prepare
cloud_up 1

peer_boot "$P-ext" brx || exit 1
out=$(peer_run "ip link set eth0 up && ip link add link eth0 name eth0.101 type vlan id 101 && ip addr add 198.51.100.50/24 dev eth0.101 && ip link set eth0.101 up" 2>&1)
check_err $? "guest: VLAN subinterface setup failed: $out"
log_test "Linux $PEER_KVER guest with eth0.101 on the physnet"

bn 1 network create vl101 --type vlan --physnet public --segment 101 >/dev/null
bn 1 subnet create vlsub --network vl101 --cidr 198.51.100.0/24 --gateway 198.51.100.1 >/dev/null
seen_on 1 subnet vlsub || exit 1
sg_open 1 || exit 1
bn 1 port create va --network vl101 --ip 198.51.100.11 --mac fa:16:3e:51:00:11 --netns "$P-va" >/dev/null

capture_start "$P-ext" x1 "vlan"
busywait 30000 vm_ping "$P-va" 198.51.100.50
check_err $? "va cannot ping the guest's eth0.101"
peer_run "ip neigh flush dev eth0.101" >/dev/null
out=$(peer_run "ping -c 3 -W 2 198.51.100.11" 2>&1)
check_err $? "the guest cannot ping va over eth0.101: $out"
in_ns "$P-va" ping -c 2 -i 0.2 -W 2 -s 1472 -M "do" 198.51.100.50 >/dev/null
check_err $? "va's 1500-byte DF packets do not reach the guest"
out=$(peer_run "ping -c 2 -W 2 -s 1472 198.51.100.11" 2>&1)
check_err $? "the guest's 1500-byte packets do not reach va: $out"
n=$(capture_stop)
log_test "VLAN 101: ARP and ping both ways, 1500-byte packets"

# Every frame between them on the trunk carries tag 101 over IPv4 or ARP,
# from both ends; nothing leaks untagged or with another tag.
tags=$(tshark -r "$CAP_FILE" -T fields -e eth.src -e vlan.id -e vlan.etype 2>/dev/null | sort -u)
gmac=$(peer_run "cat /sys/class/net/eth0/address")
bad=$(awk -F'\t' '$2 != "101" || ($3 != "0x0800" && $3 != "0x0806")' <<<"$tags")
[ -z "$bad" ] && grep -q "^fa:16:3e:51:00:11	101" <<<"$tags" && grep -q "^$gmac	101" <<<"$tags"
check_err $? "802.1Q frames on the trunk (src, vid, type): '$tags'"
log "$n tagged frames captured on n1's trunk"
log_test "VLAN wire format: both ends tag 101, tshark agrees"

out=$(peer_tcp "$P-va" 198.51.100.11 198.51.100.50)
check_err $? "$out"
log_test "VLAN: 2 MB TCP each way between va and the guest"

peer_stop
exit ${FAILED:-0}
