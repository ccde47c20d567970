#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The paths an older kernel takes, with real packets on this one: the
# agents act as if the kernel had neither TCX (6.6) nor
# BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (6.3), as on Debian 12's 6.1 or Ubuntu
# 22.04's 5.15 (BNET_TEST_KERNEL_LACKS). So every program sits in a clsact
# filter; IPv4 inside VXLAN and GRE is still taken apart in BPF; IPv6 inside
# VXLAN goes through the kernel's VXLAN device, and IPv6 inside GRE is
# taken apart keeping the outer skb->protocol until the VM's veth sets it.
#
#   n1: x1 10.76.0.11 (vxlan 7601)   g1 10.77.0.11 (gre 7701)
#   n2: x2 10.76.0.12 (vxlan 7601)   g2 10.77.0.12 (gre 7701)
#   and each VM's IPv6 link-local address
source "$(dirname "$0")/lib.sh"
require ping jq
export BNET_TEST_KERNEL_LACKS=tcx,decap_l3
cloud_up 2

for i in 1 2; do
	grep -q 'agent up.* attach=tc .*decap_l3=false' "$WORK/n$i/agent.log"
	check_err $? "n$i's agent up line does not say attach=tc and decap_l3=false"
done
log_test "agents act as on a kernel without TCX and the decap flag"

bn 1 network create xn --type vxlan --segment 7601 >/dev/null
bn 1 subnet create xsub --network xn --cidr 10.76.0.0/24 >/dev/null
bn 1 network create gn --type gre --segment 7701 >/dev/null
bn 1 subnet create gsub --network gn --cidr 10.77.0.0/24 >/dev/null
seen_everywhere subnet xsub || exit 1
seen_everywhere subnet gsub || exit 1
# IPv6 in from the VMs' own group (the default group's IPv6 rule is for
# members, which bnet honours as any IPv6).
bn 1 sg rule add default --direction ingress --ethertype IPv6 >/dev/null
check_err $? "IPv6 ingress rule failed"
bn 1 port create x1 --network xn --ip 10.76.0.11 --netns "$P-x1" >/dev/null
bn 2 port create x2 --network xn --ip 10.76.0.12 --netns "$P-x2" >/dev/null
bn 1 port create g1 --network gn --ip 10.77.0.11 --netns "$P-g1" >/dev/null
bn 2 port create g2 --network gn --ip 10.77.0.12 --netns "$P-g2" >/dev/null
for p in x1 x2 g1 g2; do seen_everywhere port "$p" || exit 1; done
# bnet turns IPv6 off in the VMs it plugs (its subnets are IPv4); once a
# port is plugged (ACTIVE), its VM takes a link-local address.
active() { [ "$(bn "$1" -o json port show "$2" | jq -r .port.status)" = ACTIVE ]; }
for p in x1 x2 g1 g2; do
	busywait 12000 active "${p#?}" "$p" &&
		in_ns "$P-$p" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0
	check_err $? "$p never became ACTIVE, or IPv6 could not be turned on in it"
done

# lladdr NS: the VM's link-local address once DAD is done with it.
lladdr() {
	in_ns "$1" ip -6 -o addr show dev eth0 scope link |
		awk '!/tentative/ { sub("/.*", "", $4); print $4; exit }'
}
has_ll() { [ -n "$(lladdr "$1")" ]; }
# ll_ready A B: once VMs A and B have link-local addresses, A reaches B's,
# which is left in LL.
ll_ready() {
	LL=
	busywait 5000 has_ll "$P-$1" && busywait 5000 has_ll "$P-$2" || return 1
	LL=$(lladdr "$P-$2")
	busywait 8000 in_ns "$P-$1" ping -6 -c 1 -W 1 "$LL%eth0"
}
# dev_rx I: packets node I's bnet-vxlan device took apart.
dev_rx() { in_ns "$P-n$1" cat /sys/class/net/bnet-vxlan/statistics/rx_packets; }
# rx_during CMD...: run CMD; print how many packets n2's VXLAN device took
# apart meanwhile. Fails as CMD does.
rx_during() {
	local r0
	r0=$(dev_rx 2)
	"$@" >/dev/null || return 1
	echo $(($(dev_rx 2) - r0))
}

busywait 12000 vm_ping "$P-x1" 10.76.0.12
check_err $? "x1@n1 cannot ping x2@n2 over VXLAN"
busywait 12000 vm_ping "$P-g1" 10.77.0.12
check_err $? "g1@n1 cannot ping g2@n2 over GRE"
log_test "IPv4 across nodes over VXLAN and GRE"

n=$(rx_during in_ns "$P-x1" ping -c 20 -i 0.05 -W 1 10.76.0.12)
check_err $? "IPv4 pings x1 -> x2 lost"
[ "${n:-0}" -lt 5 ]
check_err $? "n2's VXLAN device took apart $n packets of IPv4 traffic: IPv4 inside VXLAN should stay in BPF"
log_test "IPv4 inside VXLAN is taken apart in BPF without the decap flag"

ll_ready x1 x2
check_err $? "x1 cannot ping x2's link-local address (${LL:-none yet})"
n=$(rx_during in_ns "$P-x1" ping -6 -c 20 -i 0.05 -W 1 "$LL%eth0")
check_err $? "IPv6 pings x1 -> x2 ($LL) lost"
[ "${n:-0}" -ge 20 ]
check_err $? "n2's VXLAN device took apart ${n:-0} packets of 20 IPv6 echoes: without the flag IPv6 inside VXLAN is its to take"
log_test "IPv6 inside VXLAN goes through the kernel's VXLAN device"

ll_ready g1 g2
check_err $? "g1 cannot ping g2's link-local address (${LL:-none yet}) over GRE"
in_ns "$P-g1" ping -6 -c 20 -i 0.05 -W 1 -s 1200 "$LL%eth0" >/dev/null
check_err $? "1200-byte IPv6 pings g1 -> g2 ($LL) lost over GRE"
in_ns "$P-g2" ping -6 -c 20 -i 0.05 -W 1 "$(lladdr "$P-g1")%eth0" >/dev/null
check_err $? "IPv6 pings g2 -> g1 lost over GRE"
log_test "IPv6 inside GRE, taken apart in BPF without the decap flag"
exit ${FAILED:-0}
