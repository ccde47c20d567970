#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# GRE tenant networks, encapsulated and decapsulated in BPF (no gre/gretap
# module here), next to a VXLAN network with the same addresses.
#
#   n1: ga 10.70.0.11 (gre 7001)   xa 10.70.0.11 (vxlan 7001)
#   n2: gb 10.70.0.12 (gre 7001)   xb 10.70.0.12 (vxlan 7001)
#   n3: hosts nothing on gre 7001 at first: its GRE must be refused
#
# Wire format is checked by tshark, a decoder nobody here wrote.
source "$(dirname "$0")/lib.sh"
require ping tcpdump tshark iperf3 python3
cloud_up 3

bn 1 network create g7001 --type gre --segment 7001 >/dev/null
bn 1 subnet create gsub --network g7001 --cidr 10.70.0.0/24 >/dev/null
bn 1 network create x7001 --type vxlan --segment 7001 >/dev/null
bn 1 subnet create xsub --network x7001 --cidr 10.70.0.0/24 >/dev/null
seen_everywhere subnet gsub || exit 1
seen_everywhere subnet xsub || exit 1
# Forged frames below come from outside the default group; groups are not the subject.
sg_open 1 || exit 1
bn 1 port create ga --network g7001 --ip 10.70.0.11 --mac fa:16:3e:70:00:11 --netns "$P-ga" >/dev/null
bn 2 port create gb --network g7001 --ip 10.70.0.12 --mac fa:16:3e:70:00:12 --netns "$P-gb" >/dev/null
bn 1 port create xa --network x7001 --ip 10.70.0.11 --mac fa:16:3e:70:00:11 --netns "$P-xa" >/dev/null
bn 2 port create xb --network x7001 --ip 10.70.0.12 --mac fa:16:3e:70:00:12 --netns "$P-xb" >/dev/null

mtu=$(in_ns "$P-ga" cat /sys/class/net/eth0/mtu)
[ "$mtu" = 1458 ]
check_err $? "GRE network VM MTU $mtu, want 1458 (1500 - 42)"
enc=$(bn 1 -o json tunnel list | jq -r '.tunnels[] | select(.type == "gre") | .encap')
[[ $enc == *bpf* ]]
check_err $? "tunnel list does not say GRE is done in BPF: '$enc'"

capture_start "$P-n1" eth0 "proto gre"
busywait 12000 vm_ping "$P-ga" 10.70.0.12
check_err $? "ga@n1 cannot ping gb@n2 over GRE"
in_ns "$P-ga" ping -c 3 -i 0.2 -W 1 -s 1400 -M "do" 10.70.0.12 >/dev/null
check_err $? "1400-byte DF pings do not cross GRE"
n=$(capture_stop)
[ "$n" -ge 8 ]
check_err $? "only $n GRE frames on n1's underlay"
# One line per GRE frame: protocol, key, outer TTL, DF, IP checksum status.
fields=$(tshark -r "$CAP_FILE" -o ip.check_checksum:TRUE -Y gre -T fields -E occurrence=f \
	-e gre.proto -e gre.key -e ip.ttl -e ip.flags.df -e ip.checksum.status 2>/dev/null | sort -u)
want=$(printf '0x6558\t0x00001b59\t64\t1\t1')
[ "$fields" = "$want" ]
check_err $? "tshark decodes the GRE frames as '$fields', want '$want' (TEB, key 7001, TTL 64, DF, good checksum)"
inner=$(tshark -r "$CAP_FILE" -Y "gre && icmp.type == 8" -T fields -e eth.src -e ip.dst 2>/dev/null | head -1)
[[ $inner == *"fa:16:3e:70:00:11"*"10.70.0.12" ]]
check_err $? "tshark does not find the inner frame untouched: '$inner'"
log_test "GRE: ping across nodes, wire format checked by tshark"

in_ns "$P-gb" iperf3 -s -1 -D
busywait 3000 in_ns "$P-gb" bash -c "ss -ltn | grep -q :5201"
out=$(in_ns "$P-ga" iperf3 -c 10.70.0.12 -t 10 -J)
check_err $? "iperf3 over GRE failed"
bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$out")
[ "${bps%.*}" -gt 100000000 ]
check_err $? "iperf3 over GRE moved only $bps bit/s"
log "GRE TCP: $(awk -v b="$bps" 'BEGIN { printf "%.1f Gbit/s", b / 1e9 }')"
log_test "GRE: 10-second TCP stream between nodes"

# A VIP bnet knows nothing about: the ARP responder cannot answer, so the
# request must cross GRE as a non-IP frame, and the reply come back. As in
# Neutron, gb may only claim it as an allowed address pair.
bn 2 port update gb --allowed-address 10.70.0.100 >/dev/null
in_ns "$P-gb" ip addr add 10.70.0.100/24 dev eth0
capture_start "$P-n1" eth0 "proto gre"
busywait 12000 vm_ping "$P-ga" 10.70.0.100
check_err $? "ga cannot reach a VIP on gb: ARP did not cross GRE"
n=$(capture_stop)
arps=$(tshark -r "$CAP_FILE" -Y "gre && arp" -T fields -e arp.opcode 2>/dev/null | sort -u | tr '\n' ' ')
[ "$arps" = "1 2 " ]
check_err $? "ARP request and reply not both seen inside GRE (opcodes: '$arps')"
lladdr=$(in_ns "$P-ga" ip neigh show 10.70.0.100 | awk '{print $5}')
[ "$lladdr" = fa:16:3e:70:00:12 ]
check_err $? "ga resolved the VIP to '$lladdr'"
log_test "GRE: ARP for an address bnet does not know resolves across nodes"

busywait 12000 vm_ping "$P-xa" 10.70.0.12
check_err $? "xa cannot ping xb over VXLAN"
capture_start "$P-gb" eth0 "icmp"
in_ns "$P-xa" ping -c 3 -i 0.2 -W 1 10.70.0.12 >/dev/null
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "$n ICMP frames of the VXLAN network reached the GRE VM"
capture_start "$P-xb" eth0 "icmp"
in_ns "$P-ga" ping -c 3 -i 0.2 -W 1 10.70.0.12 >/dev/null
n=$(capture_stop)
[ "$n" -eq 0 ]
check_err $? "$n ICMP frames of the GRE network reached the VXLAN VM"
log_test "GRE and VXLAN networks with the same segment, CIDR, IPs, MACs stay apart"

# n3 is a cluster member but hosts nothing on g7001: its GRE is refused in
# BPF, counted, and never reaches ga. Once it hosts a port, it is admitted.
forge() {
	in_ns "$P-n3" python3 "$LIB_DIR/tunnel_forge.py" eth0 "$(in_ns "$P-n1" cat /sys/class/net/eth0/address)" \
		"$(vtep 3)" "$(vtep 1)" 7001 fa:16:3e:70:00:11 fa:16:3e:70:00:99
}
peer_drops() { bn 1 -o json drop list | jq '[.drops[] | select(.reason == "tunnel_peer") | .packets] | add // 0'; }
before=$(peer_drops)
capture_start "$P-ga" eth0 "udp port 9"
forge
n=$(capture_stop)
after=$(peer_drops)
[ "$n" -eq 0 ] && [ "$after" -eq $((before + 1)) ]
check_err $? "GRE from a VTEP not hosting the network: $n frames reached ga, tunnel_peer drops $before -> $after"
bn 3 port create gc --network g7001 --ip 10.70.0.13 --netns "$P-gc" >/dev/null
peered() { bn 1 -o json tunnel list | jq -e '.tunnels[] | select(.type == "gre") | .remote_vteps | index("'"$(vtep 3)"'")' >/dev/null; }
busywait 5000 peered
check_err $? "n3 never became a peer of g7001 on n1"
capture_start "$P-ga" eth0 "udp port 9"
forge
n=$(capture_stop)
[ "$n" -eq 1 ]
check_err $? "GRE from a VTEP now hosting the network: $n frames reached ga, want 1"
busywait 12000 vm_ping "$P-gc" 10.70.0.11
check_err $? "gc@n3 cannot ping ga@n1"
log_test "GRE admission: only VTEPs hosting the network are heard"

exit ${FAILED:-0}
