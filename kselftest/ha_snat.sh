#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# HA SNAT (issue 11): two network nodes. A router's SNAT lives on one; when
# that node is cut off from gossip it gives SNAT up (it sees no majority)
# before the other takes it over, so there are never two SNAT points; VMs'
# outbound traffic resumes through the other within the failure detection
# plus snat_fence_delay. Writes made on both sides during the partition
# (a delete, a create) hold everywhere after it heals, and SNAT moves back
# without overlapping either. When the SNAT node dies, the same happens.
# Times are printed; established connections through SNAT do not survive a move
# (conntrack state is not shared), new ones work at once.
#
#   n1, n2: network + compute   n3: a3 (A)   n4: compute
#   $P-out: 203.0.113.1, the outside world, on physnet "public"
source "$(dirname "$0")/lib.sh"
require ping nft
NETWORK_NODES="1 2"
# Margin over the failure detectors' skew on a loaded 2-core test machine.
SNAT_FENCE_DELAY=3
cloud_up 4

bn 1 network create public --type flat --physnet public --external >/dev/null
bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create netA --type vxlan --segment 601 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.60.1.0/24 >/dev/null
bn 1 router create r1 --distributed >/dev/null
bn 1 router add-interface r1 subA >/dev/null
bn 1 router set-gateway r1 public >/dev/null
for s in public-sub subA; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
bn 3 port create a3 --network netA --ip 10.60.1.30 --netns "$P-a3" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
rid=$(bn 1 -o json router show r1 | jq -r .router.id)

# snat_nodes: which network nodes hold r1's SNAT namespace right now.
snat_nodes() {
	local i out=""
	for i in 1 2; do
		[ -e "/run/netns/$P-n$i-snat-$rid" ] && out+="n$i "
	done
	echo "${out% }"
}
busywait 15000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside through SNAT"
host=$(snat_nodes)
case $host in n1 | n2) ;; *) check_err 1 "SNAT on '$host', want exactly one network node" ;; esac
log_test "one SNAT point for r1 ($host) on two network nodes"
[ "$RET" -eq 0 ] || exit 1
h=${host#n}
o=$((3 - h))

# watch_snat FILE: sample the SNAT points every 50 ms until killed.
watch_snat() {
	while :; do
		echo "$(date +%s%N) $(snat_nodes)"
		sleep 0.05
	done >"$1"
}
# overlap FILE: samples with two SNAT points.
overlap() { awk 'NF > 2' "$1" | wc -l; }
# ping_gap FILE: the longest run of lost echo replies, in ms (0.1 s apart).
ping_gap() {
	awk -F'icmp_seq=' '/bytes from/ { split($2, a, " "); s = a[1] + 0; if (last && s - last - 1 > gap) gap = s - last - 1; last = s }
		END { print gap * 100 }' "$1"
}

# --- a gossip-only partition of the SNAT node --------------------------------
bn 3 port create gone --network netA >/dev/null
seen_everywhere port gone || exit 1
watch_snat "$WORK/watch1" &
W=$!
in_ns "$P-a3" ping -i 0.1 -W 1 203.0.113.1 >"$WORK/ping1" 2>&1 &
PING=$!
sleep 1
t0=$(date +%s%N)
in_ns "$P-n$h" nft -f - <<'NFT'
table inet ksft_partition {
	chain in { type filter hook input priority -10; udp dport 7946 drop; tcp dport 7946 drop; udp sport 7946 drop; tcp sport 7946 drop; }
	chain out { type filter hook output priority -10; udp dport 7946 drop; tcp dport 7946 drop; udp sport 7946 drop; tcp sport 7946 drop; }
}
NFT
busywait 30000 bash -c "test -e /run/netns/$P-n$o-snat-$rid && ! test -e /run/netns/$P-n$h-snat-$rid"
check_err $? "SNAT did not move from n$h to n$o: on '$(snat_nodes)'"
moved=$((($(date +%s%N) - t0) / 1000000))
busywait 10000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside through n$o"
sleep 1
kill "$PING" 2>/dev/null
wait "$PING" 2>/dev/null
gap=$(ping_gap "$WORK/ping1")
log_test "n$h cut off from gossip: it fences itself, n$o takes SNAT over in ${moved} ms; a3's pings lost for ${gap} ms"

# Both sides write meanwhile: a delete on the majority, a create on n$h.
bn 3 port delete gone >/dev/null
check_err $? "port delete on n3 during the partition failed"
bn "$h" port create born --network netA >/dev/null
check_err $? "port create on n$h during the partition failed"

# Heal: n$h comes back; SNAT may move back, never overlapping.
in_ns "$P-n$h" nft delete table inet ksft_partition
busywait 20000 sees_alive "$o" 4
check_err $? "n$h did not rejoin"
converged() {
	local i
	for i in 1 2 3 4; do
		bn "$i" port show born >/dev/null 2>&1 || return 1
		! bn "$i" port show gone >/dev/null 2>&1 || return 1
	done
}
busywait 20000 converged
check_err $? "after the heal: the port deleted during the partition came back, or the one created on n$h is missing somewhere"
log_test "partition healed: n$h rejoined; a delete and a create made on either side hold everywhere"
sleep 8 # past twice the fence delay: any move back is done
busywait 10000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside after the partition healed"
kill "$W" 2>/dev/null
wait "$W" 2>/dev/null
n=$(overlap "$WORK/watch1")
[ "$n" -eq 0 ]
check_err $? "two SNAT points at once in $n samples: $(awk 'NF > 2' "$WORK/watch1" | head -3)"
[ "$(awk 'NF > 1 {print $2}' "$WORK/watch1" | uniq | wc -l)" -ge 2 ]
check_err $? "the watcher never saw SNAT move"
log_test "partition and heal: never two SNAT points for r1 ($(wc -l <"$WORK/watch1") samples), now on $(snat_nodes)"

# --- the SNAT node dies -----------------------------------------------------------
host=$(snat_nodes)
h=${host#n}
o=$((3 - h))
in_ns "$P-a3" ping -i 0.1 -W 1 203.0.113.1 >"$WORK/ping2" 2>&1 &
PING=$!
sleep 1
t0=$(date +%s%N)
stop_agent "$h" KILL
in_ns "$P-n$h" ip link set eth0 down
in_ns "$P-n$h" ip link set eth-ext down
busywait 30000 test -e "/run/netns/$P-n$o-snat-$rid"
check_err $? "n$o never took SNAT over from dead n$h"
busywait 10000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside after n$h died"
took=$((($(date +%s%N) - t0) / 1000000))
sleep 1
kill "$PING" 2>/dev/null
wait "$PING" 2>/dev/null
gap=$(ping_gap "$WORK/ping2")
log_test "SNAT node n$h dies: n$o answers after ${took} ms; a3's pings lost for ${gap} ms"
exit ${FAILED:-0}
