#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A bnet GRE network against a Linux gretap: Debian 12's kernel (peer.sh)
# is a non-bnet VTEP on the underlay, its gretap keyed with the segment id
# and listed in static_vteps. bnet does GRE in BPF; the guest's is the
# kernel's ip_gre, so each side decodes what the other encodes.
#
#   n1 (bnet, 10.254.0.11)                 guest (Linux 6.1, 10.254.0.50)
#     ga 10.71.0.11 --- GRE key 7101 ---- gretap g0 10.71.0.50
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/peer.sh"
require ping tcpdump tshark python3 curl
peer_prepare
GUEST=$UNDERLAY.50
CLOUD_CONF=$(printf 'static_vteps:\n- {type: gre, segment: 7101, vteps: [%s]}' "$GUEST")
cloud_up 1

peer_boot "$P-ul" br0 || exit 1
peer_run "ip addr add $GUEST/24 dev eth0 && ip link set eth0 up" >/dev/null
check_err $? "guest: eth0 setup failed"
out=$(peer_run "ip link add g0 type gretap local $GUEST remote $(vtep 1) key 7101 && ip link set g0 mtu 1458 up && ip addr add 10.71.0.50/24 dev g0" 2>&1)
check_err $? "guest: gretap setup failed: $out"
log_test "Linux $PEER_KVER guest with a gretap (key 7101) on the underlay"

bn 1 network create g7101 --type gre --segment 7101 >/dev/null
bn 1 subnet create gsub --network g7101 --cidr 10.71.0.0/24 >/dev/null
seen_on 1 subnet gsub || exit 1
sg_open 1 || exit 1
bn 1 port create ga --network g7101 --ip 10.71.0.11 --mac fa:16:3e:71:00:11 --netns "$P-ga" >/dev/null

# bnet -> Linux first: the VM's ARP for the guest is a broadcast bnet cannot
# answer; it must be flooded to the static VTEP, and the reply come back.
capture_start "$P-n1" eth0 "proto gre"
busywait 30000 vm_ping "$P-ga" 10.71.0.50
check_err $? "ga cannot ping the gretap guest"
lladdr=$(in_ns "$P-ga" ip neigh show 10.71.0.50 | awk '{print $5}')
gmac=$(peer_run "cat /sys/class/net/g0/address")
[ -n "$lladdr" ] && [ "$lladdr" = "$gmac" ]
check_err $? "ga resolved the guest to '$lladdr', the gretap's MAC is '$gmac'"
learned=$(peer_run "ip neigh show 10.71.0.11 dev g0" | awk '{print $3}')
[ "$learned" = fa:16:3e:71:00:11 ]
check_err $? "the guest learned '$learned' for ga from its ARP request"
log_test "GRE bnet -> gretap: ARP broadcast flooded to the static VTEP, ping"

# Linux -> bnet: the guest resolves ga by its own broadcast ARP.
peer_run "ip neigh flush dev g0" >/dev/null
out=$(peer_run "ping -c 3 -W 2 10.71.0.11" 2>&1)
check_err $? "the gretap guest cannot ping ga: $out"
out=$(peer_run "ping -c 2 -W 2 -s 1430 10.71.0.11" 2>&1)
check_err $? "the guest's 1458-byte frames do not reach ga: $out"
in_ns "$P-ga" ping -c 2 -i 0.2 -W 2 -s 1430 -M "do" 10.71.0.50 >/dev/null
check_err $? "ga's 1458-byte DF frames do not reach the guest"
n=$(capture_stop)
log_test "GRE gretap -> bnet: ARP and ping, full-MTU frames both ways"

# Both encoders on the wire, as tshark reads them: the GRE header fields
# (flags+version, protocol, key) of the guest's frames and of bnet's must
# be the same; only the source differs.
fields=$(tshark -r "$CAP_FILE" -Y gre -T fields -E occurrence=f \
	-e ip.src -e gre.flags_and_version -e gre.proto -e gre.key 2>/dev/null | sort -u)
want=$(printf '%s\t0x2000\t0x6558\t0x00001bbd\n%s\t0x2000\t0x6558\t0x00001bbd' "$(vtep 1)" "$GUEST")
[ "$fields" = "$want" ]
check_err $? "GRE headers differ (src, flags, proto, key): '$fields', want '$want'"
arps=$(tshark -r "$CAP_FILE" -Y "gre && arp" -T fields -e ip.src -e arp.opcode 2>/dev/null | sort -u | tr '\n\t' ' :')
[[ $arps == *"$(vtep 1):1 "* && $arps == *"$GUEST:1 "* && $arps == *"$(vtep 1):2 "* && $arps == *"$GUEST:2 "* ]]
check_err $? "ARP requests and replies not seen inside GRE from both sides: '$arps'"
log "$n GRE frames captured on n1"
log_test "GRE wire format: bnet's and Linux's headers are identical"

out=$(peer_tcp "$P-ga" 10.71.0.11 10.71.0.50)
check_err $? "$out"
log_test "GRE: 2 MB TCP each way between ga and the gretap guest"

peer_stop
exit ${FAILED:-0}
