#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Distributed DHCP (DESIGN path 8): every node answers DHCP for its own
# ports from the replicated subnet and port records; no request crosses the
# underlay. VMs are plugged with --no-ip-config and configured by Debian's
# dhclient (its own dhclient-script, option 121 hook and MTU handling).
#
#   n1: vm1 (net1)  vm3 (net2)  rogue (net1, a DHCP server)     n2: vm2 (net1)  vm4 (net2)
#
#   net1 VNI 1601  10.60.0.0/24  gw .1    dns 192.0.2.53      route 172.16.0.0/12 via .254  pool .100-.149  MTU 1450
#   net2 VNI 1602  10.60.0.0/24  gw .254  dns 198.51.100.53   no host route                 pool .200-.220  MTU 1400
#
# Leases last 20 s here (dhcp_lease_duration) so that renewals happen
# within the test: a changed nameserver and a changed address reach the VMs.
source "$(dirname "$0")/lib.sh"
require dhclient tcpdump tshark python3
CLOUD_CONF="dhcp_lease_duration: 20"
cloud_up 2
# dhclient-script writes /etc/resolv.conf: `ip netns exec` puts each VM's own
# file from /etc/netns/NS over it, and those files go with the test.
trap 'rm -rf /etc/netns/"$P"-*; cleanup' EXIT

bn 1 network create net1 --type vxlan --segment 1601 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.60.0.0/24 --dns 192.0.2.53 \
	--host-route 172.16.0.0/12=10.60.0.254 --pool 10.60.0.100-10.60.0.149 >/dev/null
bn 1 network create net2 --type vxlan --segment 1602 --mtu 1400 >/dev/null
bn 1 subnet create sub2 --network net2 --cidr 10.60.0.0/24 --gateway 10.60.0.254 \
	--dns 198.51.100.53 --pool 10.60.0.200-10.60.0.220 >/dev/null
seen_everywhere subnet sub1 || exit 1
seen_everywhere subnet sub2 || exit 1
# The DHCP ports travel as records of their own: every node serves DHCP
# once it has them.
dhcp_ports() { [ "$(bn "$1" -o json port list | jq '[.ports[] | select(.device_owner == "network:dhcp")] | length')" = 2 ]; }
for i in 1 2; do
	busywait 5000 dhcp_ports "$i"
	check_err $? "n$i does not know both DHCP ports"
done
# One port after the other: two nodes allocating in the same small pool at
# once may pick the same address, and the younger port would lose.
for p in "vm1 1 net1" "vm2 2 net1" "vm3 1 net2" "vm4 2 net2"; do
	set -- $p
	bn "$2" port create "$1" --network "$3" --netns "$P-$1" --no-ip-config >/dev/null
	seen_everywhere port "$1" || exit 1
done

# Port and DHCP server facts, as the API tells them.
port_ip() { bn 1 -o json port show "$1" | jq -r '.port.fixed_ips[0].ip_address'; }
dhcp_ip() {
	bn 1 -o json port list | jq -r --arg s "$(bn 1 -o json subnet show "$1" | jq -r .subnet.id)" \
		'.ports[] | select(.device_owner == "network:dhcp" and .fixed_ips[0].subnet_id == $s) | .fixed_ips[0].ip_address'
}
in_pool() { # IP FIRST LAST (last octets)
	local o=${1##*.}
	[ "${1%.*}" = 10.60.0 ] && [ "$o" -ge "$2" ] && [ "$o" -le "$3" ]
}
d1=$(dhcp_ip sub1)
d2=$(dhcp_ip sub2)
[ "$d1" = 10.60.0.100 ] && [ "$d2" = 10.60.0.200 ]
check_err $? "DHCP server addresses $d1 (sub1) and $d2 (sub2) are not their pools' first"
ok=0
for vm in vm1 vm2; do in_pool "$(port_ip $vm)" 100 149 || ok=1; done
for vm in vm3 vm4; do in_pool "$(port_ip $vm)" 200 220 || ok=1; done
check_err $ok "automatic addresses not from the pools: $(for v in vm1 vm2 vm3 vm4; do port_ip $v; done | tr '\n' ' ')"
log_test "DHCP servers and ports take addresses from the allocation pools"

n=$(in_ns "$P-vm1" ip -4 -o addr show dev eth0 | wc -l)
[ "$n" -eq 0 ] && ! in_ns "$P-vm1" ip -4 route | grep -q .
check_err $? "--no-ip-config namespace has addresses or routes: $(in_ns "$P-vm1" ip -4 -o addr show dev eth0)"
log_test "--no-ip-config plugs the namespace without configuring it"

cat >"$WORK/dhclient.conf" <<-EOF
	option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
	request subnet-mask, broadcast-address, routers, domain-name-servers,
		interface-mtu, rfc3442-classless-static-routes;
	timeout 15;
	retry 2;
	initial-interval 1;
EOF
# dhcp_start VM: run dhclient in VM's namespace until it is bound (then it
# stays, in the background, renewing). Private lease and pid files.
dhcp_start() {
	mkdir -p "/etc/netns/$P-$1"
	: >"/etc/netns/$P-$1/resolv.conf"
	in_ns "$P-$1" timeout 30 dhclient -4 -1 -cf "$WORK/dhclient.conf" -lf "$WORK/$1.leases" \
		-pf "$WORK/$1.dhclient.pid" eth0 >>"$WORK/$1.dhclient.log" 2>&1
}
dhcp_stop() {
	[ -f "$WORK/$1.dhclient.pid" ] && kill "$(cat "$WORK/$1.dhclient.pid")" 2>/dev/null
}
vm_addr() { in_ns "$P-$1" ip -4 -o addr show dev eth0 | awk '{print $4}'; }
vm_mtu() { in_ns "$P-$1" cat /sys/class/net/eth0/mtu; }
vm_dns() { awk '/^nameserver/ {print $2}' "/etc/netns/$P-$1/resolv.conf" | tr '\n' ' '; }
vm_routes() { in_ns "$P-$1" ip -4 route show | grep -v 'proto kernel' | awk '{print $1, $2, $3}' | sort | tr '\n' ';'; }
drops() { bn "$1" -o json drop list | jq --arg r "$2" '[.drops[] | select(.reason == $r) | .packets] | add // 0'; }

capture_start "$P-n1" eth0 "udp port 4789"
for vm in vm1 vm2 vm3 vm4; do
	start=$(date +%s%N)
	dhcp_start "$vm"
	check_err $? "dhclient in $vm got no lease: $(tail -3 "$WORK/$vm.dhclient.log")"
	log "$vm: dhclient bound in $((($(date +%s%N) - start) / 1000000)) ms"
done
busywait 12000 vm_ping "$P-vm1" "$(port_ip vm2)"
check_err $? "vm1@n1 cannot ping vm2@n2 at their DHCP addresses"
busywait 12000 vm_ping "$P-vm3" "$(port_ip vm4)"
check_err $? "vm3@n1 cannot ping vm4@n2 at their DHCP addresses"
capture_stop >/dev/null
vxlan=$(tshark -r "$CAP_FILE" 2>/dev/null | wc -l)
crossed=$(tshark -r "$CAP_FILE" -Y "dhcp || udp.port == 67 || udp.port == 68" 2>/dev/null | wc -l)
[ "$vxlan" -gt 0 ] && [ "$crossed" -eq 0 ]
check_err $? "underlay of n1: $crossed DHCP packets among $vxlan VXLAN frames"
log_test "dhclient on both nodes bound; no DHCP packet crossed the underlay"
[ "$(drops 1 dhcp_local)" -gt 0 ] && [ "$(drops 2 dhcp_local)" -gt 0 ]
check_err $? "dhcp_local drops: n1 $(drops 1 dhcp_local), n2 $(drops 2 dhcp_local)"
log_test "requests consumed on their own node (dhcp_local)"

# What each VM was told, checked in the VM.
check_vm() { # VM PORT_IP MTU DNS ROUTES
	local got
	got="$(vm_addr "$1")|$(vm_mtu "$1")|$(vm_dns "$1")|$(vm_routes "$1")"
	[ "$got" = "$2/24|$3|$4|$5" ]
	check_err $? "$1: got '$got', want '$2/24|$3|$4|$5'"
}
net1_routes="172.16.0.0/12 via 10.60.0.254;default via 10.60.0.1;"
net2_routes="default via 10.60.0.254;"
check_vm vm1 "$(port_ip vm1)" 1450 "192.0.2.53 " "$net1_routes"
check_vm vm2 "$(port_ip vm2)" 1450 "192.0.2.53 " "$net1_routes"
log_test "net1: address, gateway, MTU 1450, nameserver, option 121 routes"
check_vm vm3 "$(port_ip vm3)" 1400 "198.51.100.53 " "$net2_routes"
check_vm vm4 "$(port_ip vm4)" 1400 "198.51.100.53 " "$net2_routes"
log_test "net2, same CIDR: its own answers (pool, gateway .254, MTU 1400, DNS)"

# Renewals go to the DHCP server address on the VM's own node and change
# what changed: a nameserver of sub1, vm2's address.
bn 1 subnet update sub1 --dns 192.0.2.99 >/dev/null
bn 2 port update vm2 --ip 10.60.0.140 >/dev/null
check_err $? "port update --ip failed"
new_dns() { [ "$(vm_dns vm1)" = "192.0.2.99 " ] && [ "$(vm_dns vm2)" = "192.0.2.99 " ]; }
busywait 30000 new_dns
check_err $? "nameserver change not renewed: vm1 '$(vm_dns vm1)', vm2 '$(vm_dns vm2)'"
log_test "a subnet's new nameserver reaches the VMs at their renewal"
new_ip() { [ "$(vm_addr vm2)" = 10.60.0.140/24 ]; }
busywait 40000 new_ip
check_err $? "vm2 still has $(vm_addr vm2) after its port moved to 10.60.0.140"
busywait 12000 vm_ping "$P-vm1" 10.60.0.140
check_err $? "vm1 cannot reach vm2 at its new address"
log_test "a port's new address reaches the VM at its renewal (NAK, then a new lease)"

# A rogue DHCP server in a VM (port security on): nobody hears it.
bn 1 port create rogue --network net1 --ip 10.60.0.66 --netns "$P-rogue" >/dev/null
rogue_mac=$(bn 1 -o json port show rogue | jq -r .port.mac_address)
cat >"$WORK/rogue.py" <<-'EOF'
	import socket, time
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
	s.bind(("0.0.0.0", 67))
	# A BOOTREPLY offering 10.60.0.77 to anyone: op 2, htype 1, hlen 6.
	offer = bytes([2, 1, 6, 0]) + bytes(12) + socket.inet_aton("10.60.0.77") + bytes(8 + 16 + 192)
	offer += bytes([99, 130, 83, 99, 53, 1, 2, 54, 4]) + socket.inet_aton("10.60.0.66") + bytes([255])
	for _ in range(10):
	    s.sendto(offer, ("255.255.255.255", 68))
	    s.sendto(offer, ("10.60.0.140", 68))
	    time.sleep(0.1)
EOF
before=$(drops 1 dhcp_server)
capture_start "$P-vm1" eth0 "udp src port 67 and ether src $rogue_mac"
cap1=$CAP_FILE pid1=$CAP_PID
capture_start "$P-vm2" eth0 "udp src port 67 and ether src $rogue_mac"
in_ns "$P-rogue" python3 "$WORK/rogue.py"
check_err $? "rogue server did not run"
n2=$(capture_stop)
n1=$(capture_stop "$cap1" "$pid1")
after=$(drops 1 dhcp_server)
[ "$n1" -eq 0 ] && [ "$n2" -eq 0 ] && [ "$after" -ge $((before + 20)) ]
check_err $? "rogue offers heard: vm1 $n1, vm2 $n2; dhcp_server drops $before -> $after"
log_test "a rogue DHCP server in a VM is heard by nobody (dhcp_server)"

for vm in vm1 vm2 vm3 vm4; do dhcp_stop "$vm"; done
exit ${FAILED:-0}
