#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Soak (make soak, not make test): two nodes create and delete ports in
# rounds for SOAK_SECONDS (default 300: over a thousand ports here) — most bound but unplugged (each a
# remote FDB/ARP entry on the other node), a few plugged into namespaces —
# while two long-lived VMs ping each other. At the end every map is back to
# its fill before the soak, the agents' memory has not grown past
# SOAK_RSS_GROWTH_MB (default 40), and the VMs lost no pings. Prints its
# figures.
source "$(dirname "$0")/../kselftest/lib.sh"
require ping jq
SOAK_SECONDS=${SOAK_SECONDS:-300}
BATCH=${SOAK_BATCH:-40}
cloud_up 2

bn 1 network create soak --type vxlan --segment 7001 >/dev/null
bn 1 subnet create soaksub --network soak --cidr 10.70.0.0/16 >/dev/null
seen_everywhere subnet soaksub || exit 1
bn 1 port create s1 --network soak --ip 10.70.0.11 --netns "$P-s1" >/dev/null
seen_on 2 port s1 || exit 1
bn 2 port create s2 --network soak --ip 10.70.0.12 --netns "$P-s2" >/dev/null
busywait 8000 vm_ping "$P-s1" 10.70.0.12
check_err $? "s1 cannot reach s2"

rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$(cat "$WORK/n$1/agent.pid")/status"; }
fill() {
	local i
	for i in 1 2; do
		bn "$i" -o json map list | jq -r --arg n "n$i" '.maps[] | select(.name != "drop_stats" and .name != "ct" and .name != "ct_count" and .name != "frags") | "\($n) \(.name) \(.entries)"'
	done
}
settle() { # the maps stop changing
	local a b
	a=$(fill)
	for _ in $(seq 20); do
		sleep 1
		b=$(fill)
		[ "$a" = "$b" ] && break
		a=$b
	done
}
settle
fill0=$(fill)
rss1=$(rss 1) rss2=$(rss 2)
in_ns "$P-s1" ping -i 0.2 10.70.0.12 >"$WORK/ping" 2>&1 &
PING=$!

end=$(($(date +%s) + SOAK_SECONDS))
rounds=0 created=0 plugged=0
while [ "$(date +%s)" -lt "$end" ]; do
	rounds=$((rounds + 1))
	names=()
	for k in $(seq "$BATCH"); do
		node=$((k % 2 + 1))
		name="r$rounds-$k"
		if [ $((k % 10)) -eq 0 ]; then
			bn "$node" port create "$name" --network soak --netns "$P-v$k" >/dev/null || check_err 1 "plugged create $name failed"
			plugged=$((plugged + 1))
		else
			bn "$node" port create "$name" --network soak >/dev/null || check_err 1 "create $name failed"
		fi
		names+=("$node:$name")
		created=$((created + 1))
	done
	for nn in "${names[@]}"; do
		bn "${nn%%:*}" port delete "${nn#*:}" >/dev/null || check_err 1 "delete ${nn#*:} failed"
	done
	for k in $(seq 10 10 "$BATCH"); do
		ip netns del "$P-v$k" 2>/dev/null
	done
done
# SIGINT to ping itself (a background subshell ignores it): its summary.
ip netns pids "$P-s1" | xargs -r kill -INT
wait "$PING" 2>/dev/null
settle
fill1=$(fill)
rss1b=$(rss 1) rss2b=$(rss 2)
sent=$(awk '/packets transmitted/ {print $1}' "$WORK/ping")
got=$(awk '/packets transmitted/ {print $4}' "$WORK/ping")

log "soak: $rounds rounds, $created ports created and deleted ($plugged plugged) in ${SOAK_SECONDS}s"
log "agent RSS n1 ${rss1} -> ${rss1b} MB, n2 ${rss2} -> ${rss2b} MB"
log "s1 -> s2 pings: $got of $sent answered"
[ "$fill0" = "$fill1" ]
check_err $? "map fill changed: $(diff <(echo "$fill0") <(echo "$fill1") | grep '^[<>]' | head -10 | tr '\n' ' ')"
log_test "every map back to its fill after $created ports came and went"
for i in 1 2; do
	b=$([ "$i" = 1 ] && echo "$rss1" || echo "$rss2")
	a=$([ "$i" = 1 ] && echo "$rss1b" || echo "$rss2b")
	[ $((a - b)) -le "${SOAK_RSS_GROWTH_MB:-40}" ]
	check_err $? "agent n$i grew from $b to $a MB"
done
log_test "agents' memory flat (within ${SOAK_RSS_GROWTH_MB:-40} MB)"
[ -n "$sent" ] && [ "$sent" = "$got" ]
check_err $? "long-lived VMs lost pings during the soak: $got of $sent"
log_test "no ping lost between long-lived VMs during the churn"
exit ${FAILED:-0}
