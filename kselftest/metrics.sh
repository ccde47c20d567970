#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Prometheus metrics: the agent serves /metrics on metrics_listen; the drop
# counter of a spoofed packet carries the port and reason, port counters
# move with traffic, map fill and gossip membership are there. (The Go test
# parses the exposition with Prometheus' own text parser.)
source "$(dirname "$0")/lib.sh"
require python3 ping
CLOUD_CONF="metrics_listen: 127.0.0.1:9464"
cloud_up 2

bn 1 network create mnet --type vxlan --segment 901 >/dev/null
bn 1 subnet create msub --network mnet --cidr 10.90.0.0/24 >/dev/null
seen_everywhere subnet msub || exit 1
bn 1 port create m1 --network mnet --ip 10.90.0.11 --netns "$P-m1" >/dev/null
bn 2 port create m2 --network mnet --ip 10.90.0.12 --netns "$P-m2" >/dev/null
busywait 5000 vm_ping "$P-m1" 10.90.0.12
check_err $? "m1 cannot ping m2"
m1=$(bn 1 -o json port show m1 | jq -r .port.id)

scrape() { in_ns "$P-n1" python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=3).read().decode())'; }
# value NAME LABEL_FRAGMENT...: the sample whose line holds every fragment.
value() {
	local name=$1
	shift
	scrape | awk -v n="$name" -v f="$*" 'BEGIN {c = split(f, want, " ")}
		index($0, n "{") == 1 { ok = 1; for (i = 1; i <= c; i++) if (index($1, want[i]) == 0) ok = 0; if (ok) { print $2; exit } }'
}
out=$(scrape)
for m in bnet_map_entries bnet_map_capacity bnet_gossip_members bnet_reconcile_duration_seconds_count bnet_port_packets_total; do
	grep -q "^$m" <<<"$out" || check_err 1 "/metrics lacks $m"
done
[ "$(value bnet_gossip_members 'state="alive"')" = 2 ]
check_err $? "bnet_gossip_members{state=alive} is '$(value bnet_gossip_members 'state="alive"')', want 2"
log_test "the agent serves bnet_ metrics on metrics_listen"

before=$(value bnet_port_packets_total "port=\"$m1\"" 'direction="from_vm"')
in_ns "$P-m1" ping -c 5 -i 0.2 -W 1 10.90.0.12 >/dev/null
after=$(value bnet_port_packets_total "port=\"$m1\"" 'direction="from_vm"')
[ -n "$before" ] && [ "${after%.*}" -ge $((${before%.*} + 5)) ]
check_err $? "m1's from_vm packets $before -> $after after 5 pings"
in_ns "$P-m1" ip addr add 10.90.0.99/24 dev eth0
in_ns "$P-m1" ping -c 3 -i 0.2 -W 1 -I 10.90.0.99 10.90.0.12 >/dev/null
n=$(value bnet_drop_packets_total "port=\"$m1\"" 'reason="spoof_ip"')
[ "${n%.*}" -ge 3 ] 2>/dev/null
check_err $? "bnet_drop_packets_total{port=m1,reason=spoof_ip} is '$n' after 3 spoofed pings"
log_test "port and drop counters move with traffic, labelled with port and reason"

exit ${FAILED:-0}
