#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A bnet VXLAN network against a non-bnet VTEP: Debian 12's kernel
# (peer.sh) with a plain kernel vxlan device (VNI 7201, port 4789, no
# learning, static FDB), as a hardware switch or a legacy node would be.
# bnet knows it only from static_vteps; it learns nothing of it by gossip.
#
#   n1 (bnet, 10.254.0.11)                  guest (Linux 6.1, 10.254.0.50)
#     xa 10.72.0.11 --- VXLAN VNI 7201 --- vxlan vx0 10.72.0.50
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peer.sh"
require ping tcpdump tshark python3 curl
peer_prepare
GUEST=$UNDERLAY.50
CLOUD_CONF=$(printf 'static_vteps:\n- {type: vxlan, segment: 7201, vteps: [%s]}' "$GUEST")
cloud_up 1

peer_boot "$P-ul" br0 || exit 1
peer_run "ip addr add $GUEST/24 dev eth0 && ip link set eth0 up" >/dev/null
check_err $? "guest: eth0 setup failed"
out=$(peer_run "ip link add vx0 type vxlan id 7201 local $GUEST dstport 4789 nolearning && \
bridge fdb append 00:00:00:00:00:00 dev vx0 dst $(vtep 1) && \
bridge fdb add fa:16:3e:72:00:11 dev vx0 dst $(vtep 1) && \
ip link set vx0 mtu 1450 up && ip addr add 10.72.0.50/24 dev vx0" 2>&1)
check_err $? "guest: vxlan setup failed: $out"
log_test "Linux $PEER_KVER guest with a static-FDB vxlan (VNI 7201)"

bn 1 network create x7201 --type vxlan --segment 7201 >/dev/null
bn 1 subnet create xsub --network x7201 --cidr 10.72.0.0/24 >/dev/null
seen_on 1 subnet xsub || exit 1
sg_open 1 || exit 1
bn 1 port create xa --network x7201 --ip 10.72.0.11 --mac fa:16:3e:72:00:11 --netns "$P-xa" >/dev/null

capture_start "$P-n1" eth0 "udp port 4789"
busywait 30000 vm_ping "$P-xa" 10.72.0.50
check_err $? "xa cannot ping the guest's vxlan"
gmac=$(peer_run "cat /sys/class/net/vx0/address")
lladdr=$(in_ns "$P-xa" ip neigh show 10.72.0.50 | awk '{print $5}')
[ -n "$lladdr" ] && [ "$lladdr" = "$gmac" ]
check_err $? "xa resolved the guest to '$lladdr', vx0's MAC is '$gmac'"
log_test "VXLAN bnet -> static VTEP: ARP flooded to it, ping"

peer_run "ip neigh flush dev vx0" >/dev/null
out=$(peer_run "ping -c 3 -W 2 10.72.0.11" 2>&1)
check_err $? "the guest cannot ping xa: $out"
out=$(peer_run "ping -c 2 -W 2 -s 1422 10.72.0.11" 2>&1)
check_err $? "the guest's 1450-byte packets do not reach xa: $out"
in_ns "$P-xa" ping -c 2 -i 0.2 -W 2 -s 1422 -M "do" 10.72.0.50 >/dev/null
check_err $? "xa's 1450-byte DF packets do not reach the guest"
n=$(capture_stop)
log_test "VXLAN static VTEP -> bnet: ARP and ping, full-MTU packets both ways"

# Both ends' VXLAN headers as tshark reads them: flags 0x0800 (VNI valid),
# VNI 7201, to port 4789; only the source differs.
fields=$(tshark -r "$CAP_FILE" -d udp.port==4789,vxlan -Y vxlan -T fields -E occurrence=f \
	-e ip.src -e udp.dstport -e vxlan.flags -e vxlan.vni 2>/dev/null | sort -u)
want=$(printf '%s\t4789\t0x0800\t7201\n%s\t4789\t0x08000000\t7201' "$(vtep 1)" "$GUEST")
[ "$fields" = "$want" ]
check_err $? "VXLAN headers (src, port, flags, VNI): '$fields', want '$want'"
log "$n VXLAN packets captured on n1"
log_test "VXLAN wire format: bnet's and Linux's headers are identical"

out=$(peer_tcp "$P-xa" 10.72.0.11 10.72.0.50)
check_err $? "$out"
log_test "VXLAN: 2 MB TCP each way between xa and the static VTEP"

peer_stop
exit ${FAILED:-0}
