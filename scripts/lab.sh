#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make lab: seed 003's reference cloud in network namespaces on this
# machine, with real agents, then one line per traffic class. The lab stays
# up; make lab-down (scripts/lab.sh down) removes all of it.
#
#   network (n1): SNAT for r1            underlay 10.254.0.0/24 (netns lab-ul)
#   cmpt1 (n2): vm1, vm5 share_net; vm2 private_net
#   cmpt2 (n3): vm3 share_net (floating IP); vm4 public_net; vm6 other_net;
#               vm7 share_net, configured by DHCP
#   public_net  flat, physnet public, 203.0.113.0/24, outside host .1 (lab-out)
#   share_net   vxlan 1001, 10.0.0.0/24     private_net vxlan 1002, 10.0.1.0/24
#   other_net   vxlan 1003, 10.0.0.0/24 again (isolation)
#   r1 distributed: share_net, private_net; gateway public_net (SNAT)
export BNET_PREFIX=lab BNET_WORK=/tmp/bnet-lab NODE_NAMES="network cmpt1 cmpt2"
source "$(dirname "$0")/../kselftest/lib.sh"

down() {
	local ns pid
	for pid in $(cat "$WORK"/n*/agent.pid 2>/dev/null); do
		kill -9 "$pid" 2>/dev/null
	done
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	# The nftables tables live in the node namespaces and went with them.
	rm -rf /sys/fs/bpf/"$P"-* "$WORK" /etc/netns/"$P"-*
}

if [ "${1:-}" = down ]; then
	down
	echo "lab removed"
	exit 0
fi

down # running it twice in a row starts afresh
cloud_up 3
trap - EXIT # the lab stays up

bn 1 network create public_net --type flat --physnet public --external >/dev/null
bn 1 subnet create public_sub --network public_net --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create share_net --type vxlan --segment 1001 >/dev/null
bn 1 subnet create share_sub --network share_net --cidr 10.0.0.0/24 >/dev/null
bn 1 network create private_net --type vxlan --segment 1002 >/dev/null
bn 1 subnet create private_sub --network private_net --cidr 10.0.1.0/24 >/dev/null
bn 1 network create other_net --type vxlan --segment 1003 >/dev/null
bn 1 subnet create other_sub --network other_net --cidr 10.0.0.0/24 >/dev/null
bn 1 router create r1 --distributed >/dev/null
bn 1 router add-interface r1 share_sub >/dev/null
bn 1 router add-interface r1 private_sub >/dev/null
bn 1 router set-gateway r1 public_net >/dev/null
# As an operator would: let ping and SSH in from anywhere.
bn 1 sg rule add default --direction ingress --protocol icmp >/dev/null
bn 1 sg rule add default --direction ingress --protocol tcp --port-min 22 --port-max 22 >/dev/null
for s in public_sub share_sub private_sub other_sub; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
bn 2 port create vm1 --network share_net --ip 10.0.0.11 --netns "$P-vm1" >/dev/null
bn 2 port create vm5 --network share_net --ip 10.0.0.15 --netns "$P-vm5" >/dev/null
bn 2 port create vm2 --network private_net --ip 10.0.1.12 --netns "$P-vm2" >/dev/null
bn 3 port create vm3 --network share_net --ip 10.0.0.13 --netns "$P-vm3" >/dev/null
bn 3 port create vm4 --network public_net --ip 203.0.113.14 --netns "$P-vm4" >/dev/null
bn 3 port create vm6 --network other_net --ip 10.0.0.16 --netns "$P-vm6" >/dev/null
bn 3 port create vm7 --network share_net --netns "$P-vm7" --no-ip-config >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
fip=$(bn 1 -o json fip create --network public_net | jq -r .floatingip.floating_ip_address)
# vm3 was made on cmpt2: cmpt1's API, which associates, must know it first.
seen_on 1 port vm3 || exit 1
bn 1 fip associate "$fip" vm3 >/dev/null || {
	echo "floating IP $fip: associate with vm3 failed" >&2
	exit 1
}
gw=$(bn 1 -o json router show r1 | jq -r '.router.external_gateway_info.external_fixed_ips[0].ip_address')
vni() { printf '0x%x' "$(bn 1 -o json network show "$1" | jq -r '.network["provider:segmentation_id"]')"; }

PASSED=0 FAILEDN=0
# class NAME PATH NS DST [expect=pass|blocked]: ping and print one line.
class() {
	local name=$1 path=$2 ns=$3 dst=$4 expect=${5:-pass} out rtt ok
	busywait 5000 in_ns "$ns" ping -c 1 -W 1 "$dst" >/dev/null 2>&1 && ok=pass || ok=blocked
	if [ "$expect" = pass ] && [ "$ok" = pass ]; then
		out=$(in_ns "$ns" ping -c 3 -i 0.2 -W 1 "$dst" 2>/dev/null | awk -F/ '/^rtt/ {print $5}')
		rtt="${out:-?} ms"
	else
		rtt="-"
	fi
	if [ "$ok" = "$expect" ]; then
		printf '%-4s %-12s %-70s %s\n' PASS "$name" "$path" "$rtt"
		PASSED=$((PASSED + 1))
	else
		printf '%-4s %-12s %-70s %s\n' FAIL "$name" "$path" "(got $ok, want $expect)"
		FAILEDN=$((FAILEDN + 1))
	fi
}
# seen_from NS SRC DST: dst sees pings from ns with source SRC (NAT check).
seen_as() {
	capture_start "$P-out" eth0 "icmp[icmptype] == 8 and src host $2"
	in_ns "$1" ping -c 2 -i 0.2 -W 1 "$3" >/dev/null 2>&1
	[ "$(capture_stop)" -ge 1 ]
}

echo
echo "bnet lab: seed 003's cloud (network, cmpt1, cmpt2), one line per traffic class"
class same-node "vm1@cmpt1 → vm5@cmpt1 (redirected on cmpt1)" "$P-vm1" 10.0.0.15
class cross-node "vm1@cmpt1 → vxlan $(vni share_net) → vm3@cmpt2" "$P-vm1" 10.0.0.13
class east-west "vm2@cmpt1 → r1 (DVR on cmpt1) → vxlan $(vni share_net) → vm3@cmpt2" "$P-vm2" 10.0.0.13
class snat "vm1@cmpt1 → r1 → snat-r1@network as $gw → public_net → outside" "$P-vm1" 203.0.113.1
if seen_as "$P-vm1" "$gw" 203.0.113.1; then :; else
	printf '%-4s %-12s %s\n' FAIL snat-source "the outside host did not see vm1 as $gw"
	FAILEDN=$((FAILEDN + 1))
fi
class fip-in "outside → $fip (floating IP, NAT on cmpt2) → vm3@cmpt2" "$P-out" "$fip"
class fip-out "vm3@cmpt2 as $fip → public_net from cmpt2 → outside" "$P-vm3" 203.0.113.1
if seen_as "$P-vm3" "$fip" 203.0.113.1; then :; else
	printf '%-4s %-12s %s\n' FAIL fip-source "the outside host did not see vm3 as $fip"
	FAILEDN=$((FAILEDN + 1))
fi
class provider "vm4@cmpt2 → public_net (flat, eth-ext) → outside" "$P-vm4" 203.0.113.1
# DHCP: vm7 has no address until dhclient asks; cmpt2's own agent answers.
mkdir -p "/etc/netns/$P-vm7"
: >"/etc/netns/$P-vm7/resolv.conf"
if command -v dhclient >/dev/null && in_ns "$P-vm7" timeout 20 dhclient -4 -1 -lf "$WORK/vm7.leases" \
	-pf "$WORK/vm7.dhclient.pid" eth0 >"$WORK/vm7.dhclient.log" 2>&1; then
	vm7=$(in_ns "$P-vm7" ip -4 -o addr show dev eth0 | awk '{print $4}')
	class dhcp "vm7@cmpt2 DHCP → cmpt2's agent (no request leaves cmpt2) → $vm7 → vm1@cmpt1" "$P-vm7" 10.0.0.11
else
	printf '%-4s %-12s %s\n' FAIL dhcp "vm7@cmpt2 got no DHCP lease (dhclient: $(tail -1 "$WORK/vm7.dhclient.log" 2>/dev/null))"
	FAILEDN=$((FAILEDN + 1))
fi
class isolation "vm6@cmpt2 (other_net, 10.0.0.0/24 again) ✗ vm1@cmpt1" "$P-vm6" 10.0.0.11 blocked
echo
echo "$PASSED passed, $FAILEDN failed. The lab stays up:"
echo "  bnet against a node:  BNET_SOCKET=$WORK/n2/bnet.sock BNET_PIN_DIR=/sys/fs/bpf/$P-n2 bin/bnet port list"
echo "  a VM:                 ip netns exec $P-vm1 ping 10.0.0.13"
echo "  the maps:             BNET_PIN_DIR=/sys/fs/bpf/$P-n3 bin/bnet fdb list"
echo "  remove it all:        make lab-down"
[ "$FAILEDN" -eq 0 ]
