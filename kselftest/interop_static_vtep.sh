#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# static_vteps on this host's own kernel, no VM needed: a namespace with a
# plain kernel vxlan device (no learning, static FDB) is a non-bnet VTEP,
# known to bnet only from its config. interop_vxlan.sh does the same with
# Debian 12's kernel as the VTEP.
#
#   n1 (bnet, 10.254.0.11)                  $P-pe (10.254.0.50)
#     xa 10.73.0.11 --- VXLAN VNI 7301 --- vx0 10.73.0.50   (listed)
#     xb 10.74.0.11 --- VXLAN VNI 7302 --- vx1 10.74.0.50   (not listed)
#     ga 10.75.0.11 --- GRE key 7303 ------ (no gretap here: forged, captured)
source "$(dirname "$0")/lib.sh"
require ping tcpdump tshark python3 curl bridge
PE=$UNDERLAY.50
CLOUD_CONF=$(printf 'static_vteps:\n- {type: vxlan, segment: 7301, vteps: [%s]}\n- {type: gre, segment: 7303, vteps: [%s]}' "$PE" "$PE")
cloud_up 1

ip netns add "$P-pe"
in_ns "$P-pe" ip link set lo up
ip link add pe0 netns "$P-ul" type veth peer name eth0 netns "$P-pe"
in_ns "$P-ul" ip link set pe0 master br0 up
in_ns "$P-pe" ip addr add "$PE/24" dev eth0
in_ns "$P-pe" ip link set eth0 up
for v in 1 2; do
	in_ns "$P-pe" ip link add "vx$((v - 1))" type vxlan id "730$v" local "$PE" dstport 4789 nolearning
	in_ns "$P-pe" bridge fdb append 00:00:00:00:00:00 dev "vx$((v - 1))" dst "$(vtep 1)"
	in_ns "$P-pe" ip link set "vx$((v - 1))" mtu 1450 up
	in_ns "$P-pe" ip addr add "10.7$((v + 2)).0.50/24" dev "vx$((v - 1))"
done

bn 1 network create x7301 --type vxlan --segment 7301 >/dev/null
bn 1 subnet create xsub --network x7301 --cidr 10.73.0.0/24 >/dev/null
bn 1 network create x7302 --type vxlan --segment 7302 >/dev/null
bn 1 subnet create ysub --network x7302 --cidr 10.74.0.0/24 >/dev/null
seen_on 1 subnet xsub || exit 1
seen_on 1 subnet ysub || exit 1
sg_open 1 || exit 1
bn 1 port create xa --network x7301 --ip 10.73.0.11 --netns "$P-xa" >/dev/null
bn 1 port create xb --network x7302 --ip 10.74.0.11 --netns "$P-xb" >/dev/null

busywait 20000 vm_ping "$P-xa" 10.73.0.50
check_err $? "xa cannot ping the static VTEP's vx0 (ARP flooded to it?)"
in_ns "$P-pe" ip neigh flush dev vx0
in_ns "$P-pe" ping -c 2 -i 0.2 -W 2 10.73.0.11 >/dev/null
check_err $? "the static VTEP cannot ping xa"
in_ns "$P-pe" ping -c 2 -i 0.2 -W 2 -s 1422 -M "do" 10.73.0.11 >/dev/null
check_err $? "1450-byte DF packets do not reach xa"
vteps=$(bn 1 -o json tunnel list | jq -c '[.tunnels[] | select(.segment == 7301) | .remote_vteps[]]')
[ "$vteps" = "[\"$PE\"]" ]
check_err $? "tunnel list shows VNI 7301's remote VTEPs as $vteps"
log_test "VXLAN static VTEP: ARP, ping both ways, full MTU"

d=$WORK/www
mkdir -p "$d"
head -c 2000000 /dev/urandom >"$d/blob"
sum=$(md5sum <"$d/blob" | cut -d' ' -f1)
in_ns "$P-pe" python3 -m http.server -b 10.73.0.50 -d "$d" 8000 >/dev/null 2>&1 &
srv=$!
busywait 10000 in_ns "$P-pe" bash -c "ss -ltn | grep -q :8000"
got=$(in_ns "$P-xa" curl -sf -m 30 http://10.73.0.50:8000/blob | md5sum | cut -d' ' -f1)
[ "$got" = "$sum" ]
check_err $? "2 MB over TCP from the static VTEP arrived as md5 '$got', sent $sum"
kill "$srv"
wait "$srv" 2>/dev/null
log_test "VXLAN static VTEP: 2 MB TCP"

# VNI 7302 lists no static VTEP: the namespace is a stranger there.
busywait 3000 vm_ping "$P-xb" 10.74.0.50
[ $? -ne 0 ]
check_err $? "xb reached a VTEP that is listed for no segment of its network"
in_ns "$P-pe" ping -c 2 -i 0.2 -W 1 10.74.0.11 >/dev/null
[ $? -ne 0 ]
check_err $? "a VTEP not listed for VNI 7302 got traffic into it"
log_test "VXLAN: a VTEP not listed for a segment is neither flooded to nor heard"

# GRE: this kernel has no gretap, so the static VTEP's side is a capture
# and tunnel_forge.py (interop_gre.sh has a real gretap). bnet must flood
# the VM's ARP to it and hear its GRE on key 7303.
bn 1 network create g7303 --type gre --segment 7303 >/dev/null
bn 1 subnet create gsub --network g7303 --cidr 10.75.0.0/24 >/dev/null
seen_on 1 subnet gsub || exit 1
bn 1 port create ga --network g7303 --ip 10.75.0.11 --mac fa:16:3e:75:00:11 --netns "$P-ga" >/dev/null
capture_start "$P-pe" eth0 "proto gre"
vm_ping "$P-ga" 10.75.0.50
busywait 10000 bash -c "tcpdump -nn -r '$CAP_FILE' 2>/dev/null | grep -q ."
n=$(capture_stop)
arp=$(tshark -r "$CAP_FILE" -Y "gre && arp" -T fields -E occurrence=f -e ip.dst -e gre.key -e arp.opcode -e arp.dst.proto_ipv4 2>/dev/null | sort -u)
[ "$arp" = "$(printf '%s\t0x00001c87\t1\t10.75.0.50' "$PE")" ]
check_err $? "ga's ARP for 10.75.0.50 did not reach the static VTEP in GRE key 7303 ($n frames: '$arp')"
capture_start "$P-ga" eth0 "udp port 9"
in_ns "$P-pe" python3 "$LIB_DIR/tunnel_forge.py" eth0 "$(in_ns "$P-n1" cat /sys/class/net/eth0/address)" \
	"$PE" "$(vtep 1)" 7303 fa:16:3e:75:00:11 fa:16:3e:75:00:50
n=$(capture_stop)
[ "$n" -eq 1 ]
check_err $? "GRE from the static VTEP on key 7303: $n frames reached ga, want 1"
log_test "GRE static VTEP: flooded to, heard"

exit ${FAILED:-0}
