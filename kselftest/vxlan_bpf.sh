#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# VXLAN encapsulated and taken apart in BPF (vxlan_encap: bpf, the
# default) next to a node that uses the kernel's VXLAN device for it
# (vxlan_encap: device): the two are the same on the wire, so a cloud can
# mix them (and a bnet node can talk to any VTEP). On n1 IP traffic
# bypasses the bnet-vxlan device both ways; on n2 all of it crosses it.
#
#   n1 (bpf):    x1 10.75.0.11 --+
#                                 +-- vxlan VNI 7501 -- underlay
#   n2 (device): x2 10.75.0.12 --+
source "$(dirname "$0")/lib.sh"
require ping tcpdump tshark iperf3 jq
node_conf() {
	if [ "$1" = 2 ]; then
		echo "vxlan_encap: device"
	fi
}
cloud_up 2

bn 1 network create xnet --type vxlan --segment 7501 >/dev/null
bn 1 subnet create xsub --network xnet --cidr 10.75.0.0/24 >/dev/null
seen_everywhere subnet xsub || exit 1
bn 1 port create x1 --network xnet --ip 10.75.0.11 --netns "$P-x1" >/dev/null
bn 2 port create x2 --network xnet --ip 10.75.0.12 --netns "$P-x2" >/dev/null
check_err $? "port create failed"
for p in x1 x2; do seen_everywhere port "$p" || exit 1; done

enc() { bn "$1" -o json tunnel list | jq -r '.tunnels[] | select(.segment == 7501) | .encap'; }
[ "$(enc 1)" = bpf-vxlan ] && [ "$(enc 2)" = kernel-vxlan ]
check_err $? "tunnel list says n1 '$(enc 1)' (want bpf-vxlan), n2 '$(enc 2)' (want kernel-vxlan)"
log_test "tunnel list shows which VXLAN path each node takes"

# dev_pkts I: packets the bnet-vxlan device of node I sent plus received.
dev_pkts() {
	in_ns "$P-n$1" cat /sys/class/net/bnet-vxlan/statistics/tx_packets /sys/class/net/bnet-vxlan/statistics/rx_packets |
		awk '{ s += $1 } END { print s }'
}

capture_start "$P-n1" eth0 "udp port 4789"
busywait 12000 vm_ping "$P-x1" 10.75.0.12
check_err $? "x1@n1 (bpf) cannot reach x2@n2 (device)"
d1=$(dev_pkts 1)
d2=$(dev_pkts 2)
in_ns "$P-x1" ping -c 20 -i 0.05 -W 1 10.75.0.12 >/dev/null
check_err $? "pings from n1 (bpf) to n2 (device) lost"
in_ns "$P-x2" ping -c 20 -i 0.05 -W 1 -s 1400 -M "do" 10.75.0.11 >/dev/null
check_err $? "1400-byte DF pings from n2 (device) to n1 (bpf) lost"
n=$(capture_stop)
g1=$(($(dev_pkts 1) - d1))
g2=$(($(dev_pkts 2) - d2))
# 40 echo requests and 40 replies crossed each node's underlay.
[ "$g1" -lt 10 ] && [ "$g2" -ge 80 ]
check_err $? "bnet-vxlan devices saw $g1 packets on n1 (bpf: want none) and $g2 on n2 (device: want 80+)"
[ "$n" -ge 80 ]
check_err $? "only $n VXLAN packets on n1's underlay"
# Each VXLAN packet n1 sent, as tshark reads it: VNI, flags, outer DF,
# TTL, UDP checksum, IPv4 checksum status; then its source ports.
fields=$(tshark -r "$CAP_FILE" -o ip.check_checksum:TRUE -Y "vxlan && ip.src == $(vtep 1)" -T fields -E occurrence=f \
	-e vxlan.vni -e vxlan.flags -e ip.flags.df -e ip.ttl -e udp.checksum -e ip.checksum.status 2>/dev/null | sort -u)
want=$(printf '7501\t0x0800\t1\t64\t0x0000\t1')
[ "$fields" = "$want" ]
check_err $? "tshark decodes n1's VXLAN as '$fields', want '$want' (VNI 7501, I flag, DF, TTL 64, no UDP checksum, good IPv4 checksum)"
bad=$(tshark -r "$CAP_FILE" -Y "vxlan && ip.src == $(vtep 1) && (udp.srcport < 32768 || udp.srcport > 60999)" 2>/dev/null | wc -l)
[ "$bad" -eq 0 ]
check_err $? "$bad packets from n1 with a UDP source port outside 32768-60999"
log_test "ping both ways between a BPF-VXLAN node and a device-VXLAN node: the same on the wire"

# A TCP stream each way: GSO packets encapsulated in BPF must be split
# into VXLAN segments the device side takes, and the other way round.
in_ns "$P-x2" iperf3 -s -D
in_ns "$P-x1" iperf3 -s -D
busywait 3000 in_ns "$P-x2" bash -c "ss -ltn | grep -q :5201" && busywait 3000 in_ns "$P-x1" bash -c "ss -ltn | grep -q :5201"
for dir in "x1 10.75.0.12" "x2 10.75.0.11"; do
	read -r from to <<<"$dir"
	d1=$(dev_pkts 1)
	out=$(in_ns "$P-$from" iperf3 -c "$to" -t 3 -J)
	check_err $? "iperf3 $from -> $to failed"
	bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$out")
	g1=$(($(dev_pkts 1) - d1))
	[ "${bps%.*}" -gt 100000000 ] && [ "$g1" -lt 10 ]
	check_err $? "iperf3 $from -> $to: $bps bit/s, $g1 packets through n1's bnet-vxlan device (want >100 Mbit/s, none)"
	log "TCP $from -> $to: $(awk -v b="$bps" 'BEGIN { printf "%.1f Gbit/s", b / 1e9 }')"
done
log_test "TCP streams both ways: n1's side in BPF, never through its VXLAN device"

exit ${FAILED:-0}
