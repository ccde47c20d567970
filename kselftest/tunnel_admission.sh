#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A VXLAN device in external mode accepts packets from anyone. bnet hears a
# network's VXLAN only from VTEPs that host it: a frame injected by a host
# that is not a cluster member is dropped by nftables (the member set of
# table ip bnet_underlay) before the device; one from a member that hosts
# nothing on that network reaches bnet_tun_in and is dropped there
# (tunnel_peer). Neither reaches a VM, both are counted.
#
#   n1: v1 (vx 601)   n2: v2 (vx 601)   n3: nothing on vx 601
#   $P-evil: 10.254.0.99 on the underlay, not a member
source "$(dirname "$0")/lib.sh"
require python3 tcpdump nft
cloud_up 3

bn 1 network create vx --type vxlan --segment 601 >/dev/null
bn 1 subnet create vxsub --network vx --cidr 10.60.0.0/24 >/dev/null
seen_everywhere subnet vxsub || exit 1
# Traffic here comes from outside the default group; groups are not the subject.
sg_open 1 || exit 1
bn 1 port create v1 --network vx --ip 10.60.0.11 --mac fa:16:3e:60:00:11 --netns "$P-v1" >/dev/null
bn 2 port create v2 --network vx --ip 10.60.0.12 --netns "$P-v2" >/dev/null
busywait 12000 vm_ping "$P-v1" 10.60.0.12
check_err $? "v1 cannot ping v2"

ip netns add "$P-evil"
ip link add ue netns "$P-ul" type veth peer name eth0 netns "$P-evil"
in_ns "$P-ul" ip link set ue master br0 up
in_ns "$P-evil" ip addr add 10.254.0.99/24 dev eth0
in_ns "$P-evil" ip link set eth0 up

n1mac=$(in_ns "$P-n1" cat /sys/class/net/eth0/address)
peer_drops() { bn 1 -o json drop list | jq '[.drops[] | select(.reason == "tunnel_peer") | .packets] | add // 0'; }
# forge NS SRC [gre]: one VXLAN (or GRE) frame for v1 on segment 601, as VTEP SRC.
forge() { in_ns "$1" python3 "$LIB_DIR/tunnel_forge.py" eth0 "$n1mac" "$2" "$(vtep 1)" 601 fa:16:3e:60:00:11 fa:16:3e:60:00:99 "${3:-vxlan}"; }
heard() {
	capture_start "$P-v1" eth0 "udp port 9"
	forge "$@"
	capture_stop
}

# guard_drops: packets table ip bnet_underlay on n1 dropped.
guard_drops() { in_ns "$P-n1" nft list table ip bnet_underlay | awk '/counter/ {for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}'; }
members() { in_ns "$P-n1" nft list set ip bnet_underlay vteps | tr -d '\n' | grep -o 'elements = {[^}]*}'; }
m=$(members)
for i in 1 2 3; do
	[[ "$m" == *"$(vtep $i)"* ]] || check_err 1 "n1's VXLAN member set lacks n$i: $m"
done
[[ "$m" != *10.254.0.99* ]]
check_err $? "the non-member is in n1's VXLAN member set: $m"
before=$(peer_drops)
gbefore=$(guard_drops)
n=$(heard "$P-evil" 10.254.0.99)
[ "$n" -eq 0 ] && [ "$(guard_drops)" -eq $((gbefore + 1)) ] && [ "$(peer_drops)" -eq "$before" ]
check_err $? "VXLAN from a non-member: $n frames reached v1, nftables drops $gbefore -> $(guard_drops), tunnel_peer $before -> $(peer_drops)"
log_test "VXLAN injected from a non-member address is dropped by the nftables member set and counted"

before=$(peer_drops)
n=$(heard "$P-n3" "$(vtep 3)")
[ "$n" -eq 0 ] && [ "$(peer_drops)" -eq $((before + 1)) ]
check_err $? "VXLAN from member n3 (hosts nothing on vx): $n frames reached v1, tunnel_peer $before -> $(peer_drops)"
log_test "VXLAN from a member not hosting the network is dropped and counted"

n=$(heard "$P-n2" "$(vtep 2)")
[ "$n" -eq 1 ]
check_err $? "VXLAN from n2, which hosts the network: $n frames reached v1, want 1"
log_test "VXLAN from a VTEP hosting the network is heard"

# A VM aims tunnel packets at its own node's VTEP, the outer source forged
# as n2 (which does host vx), with port security off as the worst case. A
# port's frames are switched in BPF within its own segment and never reach
# its node's stack, so nothing gets to v1, nor even to n1's underlay NIC.
bn 1 network create other --type vxlan --segment 602 >/dev/null
bn 1 subnet create othersub --network other --cidr 10.61.0.0/24 >/dev/null
seen_on 1 subnet othersub || exit 1
bn 1 port create v4 --network other --ip 10.61.0.14 --netns "$P-v4" --no-port-security >/dev/null
check_err $? "port create v4 failed"
active() { [ "$(bn 1 -o json port show v4 | jq -r .port.status)" = ACTIVE ]; }
busywait 12000 active
check_err $? "v4 never became ACTIVE (attached and up) on n1"
capture_start "$P-n1" eth0 "src host $(vtep 2) and (udp src port 40001 or ip proto 47)"
cap=$CAP_FILE cpid=$CAP_PID
n=$(heard "$P-v4" "$(vtep 2)")
m=$(heard "$P-v4" "$(vtep 2)" gre)
# The control, inside the same capture: the frame from n2 itself.
c=$(heard "$P-n2" "$(vtep 2)")
u=$(capture_stop "$cap" "$cpid")
[ "$n" -eq 0 ] && [ "$m" -eq 0 ] && [ "$c" -eq 1 ] && [ "$u" -eq 1 ]
check_err $? "a VM's VXLAN/GRE at its own VTEP: $n VXLAN and $m GRE frames reached v1; n1's underlay NIC saw $u (want only n2's control), v1 heard the control $c times"
log_test "a VM sending VXLAN or GRE at its own node's VTEP gets nothing into another segment"

exit ${FAILED:-0}
