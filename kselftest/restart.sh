#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Hitless agent restart: VMs on two nodes (VXLAN, security groups on) keep
# talking while n2's agent is stopped with SIGTERM, then with SIGKILL, and
# started again. Counts what a UDP stream (iperf3), a ping train every 10 ms
# and an established TCP connection lose, and prints the longest gap; a new
# connection must work after each restart. Then: a second agent on the
# same node refuses to start; what is removed behind the agent's back (a TC
# link, an fdb entry) comes back within the refresh interval; a kill -9 in
# the middle of a burst of port creations loses no port whose create
# returned.
#
#   n1: a1 10.61.0.11      n2: a2 10.61.0.12   (network rs, vxlan 611)
source "$(dirname "$0")/lib.sh"
require ping iperf3 python3 jq nft bpftool tcpdump
RESYNC=3
CLOUD_CONF="resync_seconds: $RESYNC"
cloud_up 2
PROBE="python3 $(dirname "$(readlink -f "$0")")/sgprobe.py"

bn 1 network create rs --type vxlan --segment 611 >/dev/null
bn 1 subnet create rssub --network rs --cidr 10.61.0.0/24 >/dev/null
seen_everywhere subnet rssub || exit 1
bn 1 port create a1 --network rs --ip 10.61.0.11 --netns "$P-a1" >/dev/null
bn 2 port create a2 --network rs --ip 10.61.0.12 --netns "$P-a2" >/dev/null
check_err $? "port create failed"
busywait 10000 vm_ping "$P-a1" 10.61.0.12
check_err $? "a1 cannot ping a2 before any restart"
log_test "two VMs on two nodes talk (security groups on)"

in_ns "$P-a2" iperf3 -s -D -p 5201 --logfile "$WORK/iperf3-server.log"
in_ns "$P-a2" $PROBE serve 22 >/dev/null 2>&1 &
disown $!
busywait 5000 in_ns "$P-a1" $PROBE connect 10.61.0.12 22
check_err $? "a1 cannot open TCP to a2:22"

# gap PINGLOG: the longest run of unanswered ping sequence numbers.
gap() {
	grep -o 'icmp_seq=[0-9]*' "$1" | cut -d= -f2 | sort -n | awk '
		NR == 1 { prev = $1; next }
		{ if ($1 - prev - 1 > g) g = $1 - prev - 1; prev = $1 }
		END { print g + 0 }'
}

# udp_host_drops: UDP datagrams the hosts' own stacks dropped (a1 could not
# send, a2's socket buffer overflowed, a backlog queue was full). On two
# busy cores iperf3 gets starved and then catches up in bursts: such losses
# are the scheduler's, not the datapath's, and are told apart by these
# counters (softnet's is machine-wide: it can only excuse, never blame).
udp_host_drops() {
	local snd rcv bl
	snd=$(in_ns "$P-a1" awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $7}' /proc/net/snmp)
	rcv=$(in_ns "$P-a2" awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $4}' /proc/net/snmp)
	local dropped rest
	bl=0
	while read -r _ dropped rest; do
		bl=$((bl + 16#$dropped))
	done </proc/net/softnet_stat
	echo $((snd + rcv + bl))
}

# restart_under_load I SIG DOWN [CMD]: stop node I's agent with SIG while
# a1 streams to a2 (UDP at 2000 pps, pings every 10 ms, one TCP connection),
# leave it down DOWN seconds, run CMD (an upgrade), start it again, and
# check nothing was lost.
restart_under_load() {
	local i=$1 sig=$2 down=$3 cmd=${4:-} tag
	RUNS=$((${RUNS:-0} + 1))
	tag=$RUNS-n$i-$(echo "$sig" | tr '[:upper:]' '[:lower:]')
	local secs=$((down + 7))
	local host0
	host0=$(udp_host_drops)
	in_ns "$P-a1" iperf3 -c 10.61.0.12 -p 5201 -u -b 8M -l 500 -t $secs --json \
		>"$WORK/iperf3-$tag.json" 2>&1 &
	local iperf=$!
	in_ns "$P-a1" ping -n -i 0.01 -c $((secs * 100 - 100)) -W 1 10.61.0.12 >"$WORK/ping-$tag.log" 2>&1 &
	local pinger=$!
	rm -f "$WORK/tcp-$tag"
	# ip netns exec execs the probe: $! is the probe itself, and kill stops it.
	ip netns exec "$P-a1" $PROBE stream 10.61.0.12 22 "$WORK/tcp-$tag" >/dev/null 2>&1 &
	local tcp=$!
	busywait 5000 test -s "$WORK/tcp-$tag"
	sleep 1
	local t0 t1
	t0=$(date +%s%N)
	stop_agent "$i" "$sig"
	# The agent is gone for a while (a slow restart): the datapath alone
	# carries the traffic.
	if [ "$down" -ge 3 ]; then
		# Long enough for the peer to see this node dead: the traffic
		# survives because the peer holds its entries, not by luck.
		local peer=$((3 - i))
		busywait $((down * 1000 - 300)) bash -c "! BNET_SOCKET=$WORK/n$peer/bnet.sock $BNET -o json agent list |
			jq -e '.agents[] | select(.host == \"n$i\" and .alive)'"
		check_err $? "n$peer never saw n$i dead within ${down} s: the hold was not exercised"
	fi
	# Floods (ARP, broadcast) go through a tail call whose program array
	# the kernel empties once nothing holds it: sent with the agent gone,
	# they show that its pin does.
	capture_start "$P-a2" eth0 "ether broadcast and icmp"
	in_ns "$P-a1" ping -b -c 5 -i 0.1 -W 1 10.61.0.255 >/dev/null 2>&1
	local nb
	nb=$(capture_stop)
	[ "$nb" -ge 5 ]
	check_err $? "n$i SIG$sig: a2 saw $nb of 5 broadcasts a1 sent while n$i's agent was away"
	local left=$(((t0 + down * 1000000000 - $(date +%s%N)) / 1000000))
	[ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf %03d $((left % 1000)))"
	if [ -n "$cmd" ]; then
		$cmd || check_err 1 "$cmd failed"
	fi
	local down_count
	down_count=$(cat "$WORK/tcp-$tag")
	start_agent "$i" || return 1
	t1=$(date +%s%N)
	wait "$iperf"
	wait "$pinger"
	local lost sent jitter tx rx g
	local host
	host=$(($(udp_host_drops) - host0))
	lost=$(jq '.end.sum.lost_packets // -1' "$WORK/iperf3-$tag.json")
	sent=$(jq '.end.sum.packets // -1' "$WORK/iperf3-$tag.json")
	jitter=$(jq '.end.sum.jitter_ms // -1' "$WORK/iperf3-$tag.json")
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$WORK/ping-$tag.log")
	rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping-$tag.log")
	g=$(gap "$WORK/ping-$tag.log")
	local tcp_after tcp_now
	tcp_after=$(cat "$WORK/tcp-$tag")
	sleep 0.5
	tcp_now=$(cat "$WORK/tcp-$tag")
	kill "$tcp" 2>/dev/null
	wait "$tcp" 2>/dev/null
	log "n$i SIG$sig: agent away $(((t1 - t0) / 1000000)) ms; iperf3 UDP lost $lost of $sent (host stacks dropped $host; jitter $jitter ms);" \
		"ping $rx of $tx answered, longest gap $g x 10 ms; TCP echoes $down_count at stop, $tcp_now after"
	[ "$sent" -gt 0 ] && [ "$lost" -ge 0 ] && [ "$lost" -le "$host" ]
	check_err $? "n$i SIG$sig: iperf3 UDP lost $lost of $sent packets across the restart, $host of them in the hosts' stacks"
	[ -n "$tx" ] && [ "$tx" = "$rx" ]
	check_err $? "n$i SIG$sig: ping $rx of $tx answered across the restart (longest gap $g)"
	[ "$tcp_now" -gt "$tcp_after" ] && [ "$tcp_after" -gt "$down_count" ]
	check_err $? "n$i SIG$sig: established TCP stalled ($down_count at stop, $tcp_after at end, $tcp_now later)"
	log_test "n$i SIG$sig restart: no packet of established flows lost"

	in_ns "$P-a1" $PROBE connect 10.61.0.12 22 && in_ns "$P-a2" ping -c 1 -W 2 10.61.0.11 >/dev/null
	check_err $? "n$i SIG$sig: a new connection a1 -> a2:22 (or a ping back) fails after the restart"
	log_test "n$i SIG$sig restart: new connections work"
}

restart_under_load 2 TERM 1
# Longer than gossip takes to declare n2 dead (about 2 s with gossip.fast):
# n1 holds n2's entries (node_dead_hold).
restart_under_load 2 KILL 4
# n1 names only itself as seed: it finds n2 again from peers.json.
restart_under_load 1 KILL 1
# An upgrade whose maps differ from the pinned ones (here: conntrack's size,
# as a new binary's layout would): migrated, entries copied, nothing lost.
bigger_ct() { echo "security: {ct_max: 131072}" >>"$WORK/n2/bnet.yaml"; }
restart_under_load 2 TERM 1 bigger_ct
grep -q 'migrated.*map=ct.*copied=[1-9]' "$WORK/n2/agent.log"
check_err $? "n2 did not log the migration of its ct map with its entries copied"
[ "$(bn 2 -o json map list | jq '.maps[] | select(.name == "ct") | .capacity')" = 131072 ]
check_err $? "n2's ct map was not resized to 131072"
log_test "a pinned map of another capacity is migrated on start, entries kept"
# A layout that cannot be copied: n2's fdb pin replaced by one whose values
# are 4 bytes shorter, as an older binary's would be. The running programs
# keep their own fdb until the new agent has programmed the new one.
old_fdb() {
	local pins=/sys/fs/bpf/$P-n2 k v
	k=$(bpftool -j map show pinned "$pins/fdb" | jq .bytes_key)
	v=$(bpftool -j map show pinned "$pins/fdb" | jq .bytes_value)
	rm "$pins/fdb" && bpftool map create "$pins/fdb" type hash key "$k" value $((v - 4)) entries 64 name fdb
}
restart_under_load 2 KILL 1 old_fdb
grep -q 'migrated.*map=fdb.*ValueSize' "$WORK/n2/agent.log"
check_err $? "n2 did not log the migration of its fdb map"
bn 2 -o json fdb list | jq -e --arg v "$(vtep 1)" '[.fdb[] | select(.vtep == $v)] | length > 0' >/dev/null
check_err $? "n2's migrated fdb was not programmed from the store"
log_test "a pinned map of another layout is migrated on start, re-programmed"

# A SIGTERM is a restart, not a departure: n1 never saw n2 leave.
! grep -q 'node="\?n2"\? .*left\|left.*n2' "$WORK/n1/agent.log"
check_err $? "n1 logged n2 as left after a SIGTERM restart"
log_test "SIGTERM does not leave the cluster"

# A second agent on the same node refuses, with one line, and harms nothing:
# on the same state dir, and on the same pin dir with a state dir of its own.
second() {
	local out rc
	out=$(timeout 20 nsenter --net=/run/netns/$P-n2 "$BNET" agent --config "$1" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(echo "$out" | grep -c .)" = 1 ] && echo "$out" | grep -q "another agent is running on $2"
	check_err $? "a second agent on n2 did not refuse with one line naming $2 (rc $rc): $out"
}
second "$WORK/n2/bnet.yaml" state_dir
sed -e "s#^state_dir: .*#state_dir: $WORK/second#" -e "s#^api_socket: .*#api_socket: $WORK/second.sock#" \
	"$WORK/n2/bnet.yaml" >"$WORK/second.yaml"
second "$WORK/second.yaml" pin_dir
busywait 12000 vm_ping "$P-a1" 10.61.0.12 && bn 2 port show a2 >/dev/null
check_err $? "the refused second agent broke the first"
log_test "a second agent on the same node refuses to start"

# Repair: what is removed behind the agent's back comes back within
# resync_seconds (3 here), with no restart and no API call.
# repaired_within WHAT CMD...: wait for CMD, print how long it took.
repaired_within() {
	local what=$1 t0=${T0:-$(date +%s%N)} ms
	shift
	busywait 20000 "$@"
	check_err $? "$what was not repaired within 20 s (resync_seconds: $RESYNC)"
	ms=$((($(date +%s%N) - t0) / 1000000))
	log "$what repaired $ms ms after its removal"
	T0=
}
a2if=$(bn 2 -o json port show a2 | jq -r '.port.id' | cut -c1-11)
a2if=tap${a2if}
pins2=/sys/fs/bpf/$P-n2
T0=
[ -e "$pins2/links/$a2if" ]
check_err $? "no pinned TCX link $pins2/links/$a2if for a2"
# Unpinning the only reference detaches the program from a2's device.
T0=$(date +%s%N)
rm -f "$pins2/links/$a2if"
! vm_ping "$P-a1" 10.61.0.12
check_err $? "a2 still answered with its TC program detached"
repaired_within "a2's TC link" vm_ping "$P-a1" 10.61.0.12
[ -e "$pins2/links/$a2if" ]
check_err $? "a2's link pin not back"
log_test "a TC link detached behind the agent's back is repaired"

pins1=/sys/fs/bpf/$P-n1
fdb_count() { bpftool -j map dump pinned "$1/fdb" | jq length; }
T0=$(date +%s%N)
for key in $(bpftool -j map dump pinned "$pins1/fdb" | jq -r '.[].key | join(",")'); do
	# shellcheck disable=SC2046 # one byte a word
	bpftool map delete pinned "$pins1/fdb" key $(echo "$key" | tr , ' ')
done
[ "$(fdb_count "$pins1")" = 0 ]
check_err $? "n1's fdb not emptied"
repaired_within "n1's fdb" vm_ping "$P-a1" 10.61.0.12
[ "$(fdb_count "$pins1")" -ge 2 ]
check_err $? "n1's fdb holds $(fdb_count "$pins1") entries after the repair, want a1 and a2"
log_test "fdb entries deleted behind the agent's back are repaired"

T0=$(date +%s%N)
in_ns "$P-n2" nft delete table ip bnet_underlay
check_err $? "could not delete n2's nftables table"
repaired_within "n2's nftables table" in_ns "$P-n2" nft list set ip bnet_underlay vteps
in_ns "$P-n2" nft list set ip bnet_underlay vteps | grep -q "$(vtep 1)"
check_err $? "the rebuilt table does not admit n1's VTEP"
log_test "the nftables table deleted behind the agent's back is repaired"

# kill -9 in the middle of a burst of port creations on n2: every create
# that returned success is there after the restart, and forwards.
: >"$WORK/created"
(
	for k in $(seq 1 40); do
		if bn 2 port create "b$k" --network rs --ip "10.61.0.$((100 + k))" --netns "$P-b$k" >/dev/null 2>&1; then
			echo "$k" >>"$WORK/created"
		fi
	done
) &
burst=$!
busywait 20000 bash -c "[ \$(wc -l <$WORK/created) -ge 8 ]"
stop_agent 2 KILL
wait "$burst"
made=$(wc -l <"$WORK/created")
log "kill -9 after $made of 40 port creates returned success"
[ "$made" -ge 8 ] && [ "$made" -lt 40 ]
check_err $? "the kill did not land in the middle of the burst ($made of 40 created)"
start_agent 2 || exit 1
missing=
for k in $(cat "$WORK/created"); do
	bn 2 port show "b$k" >/dev/null 2>&1 || missing="$missing b$k"
done
[ -z "$missing" ]
check_err $? "ports whose create returned success are gone after kill -9:$missing"
log_test "kill -9 during a burst of creates loses no acknowledged port"
for k in $(cat "$WORK/created"); do
	busywait 15000 vm_ping "$P-a1" "10.61.0.$((100 + k))" || missing="$missing b$k"
done
[ -z "$missing" ]
check_err $? "a1 cannot reach acknowledged ports after kill -9:$missing"
log_test "and their dataplane works"

# Drain: n2 leaves for good. n1 withdraws n2's ports at once (a silent node
# would be held for node_dead_hold, 30 s); starting the agent rejoins.
remote_fdb() { bn 1 -o json fdb list | jq -e --arg v "$(vtep 2)" '[.fdb[] | select(.vtep == $v)] | length > 0'; }
no_remote_fdb() { ! remote_fdb >/dev/null; }
remote_fdb >/dev/null
check_err $? "n1 has no fdb entry at n2's VTEP before the drain"
pid2=$(cat "$WORK/n2/agent.pid")
t0=$(date +%s%N)
out=$(bn 2 agent drain 2>&1)
check_err $? "bnet agent drain failed: $out"
busywait 10000 bash -c "! kill -0 $pid2 2>/dev/null"
check_err $? "n2's agent still runs after the drain"
busywait 10000 no_remote_fdb
check_err $? "n1 still has fdb entries at n2's VTEP 10 s after the drain"
log "n2 drained: n1 withdrew its ports $((($(date +%s%N) - t0) / 1000000)) ms after bnet agent drain"
grep -q "agent drained" "$WORK/n2/agent.log"
check_err $? "n2's log does not say it drained"
log_test "bnet agent drain: the node leaves and peers withdraw it at once"
rm -f "$WORK/n2/bnet.sock"
start_agent 2 || exit 1
busywait 20000 vm_ping "$P-a1" 10.61.0.12
check_err $? "a1 cannot reach a2 after n2 rejoined"
log_test "a drained node rejoins when its agent starts"

# A node reboot, as far as one kernel allows: n2's agent killed, and what a
# reboot wipes gone with it (pins and links, the VXLAN device, the nftables
# table, the VMs' namespaces and devices). The store on disk brings every
# port back.
stop_agent 2 KILL
rm -rf "/sys/fs/bpf/$P-n2"
in_ns "$P-n2" ip link del bnet-vxlan
in_ns "$P-n2" nft delete table ip bnet_underlay
ip netns del "$P-a2"
for k in $(cat "$WORK/created"); do
	ip netns del "$P-b$k"
done
start_agent 2 || exit 1
busywait 20000 vm_ping "$P-a1" 10.61.0.12
check_err $? "a1 cannot reach a2 after n2's reboot"
missing=
for k in $(cat "$WORK/created"); do
	busywait 10000 vm_ping "$P-a1" "10.61.0.$((100 + k))" || missing="$missing b$k"
done
[ -z "$missing" ]
check_err $? "after n2's reboot a1 cannot reach:$missing"
log_test "after a node reboot every port is back and forwards"
exit ${FAILED:-0}
