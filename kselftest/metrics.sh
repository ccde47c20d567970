#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Drop monitor and Prometheus metrics. `bnet monitor` streams a spoofed
# packet's drop live with its reason, port and addresses, and the datapath
# stops writing events once nobody listens. The agent serves /metrics on metrics_listen; the drop
# counter of a spoofed packet carries the port and reason, port counters
# move with traffic, map fill, gossip membership and API requests are there. (The Go test
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
busywait 12000 vm_ping "$P-m1" 10.90.0.12
check_err $? "m1 cannot ping m2"
m1=$(bn 1 -o json port show m1 | jq -r .port.id)

scrape() { in_ns "$P-n1" python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=3).read().decode())'; }
# value NAME LABEL_FRAGMENT...: the sample whose line holds every fragment.
value() {
	local name=$1 out
	shift
	out=$(scrape)
	awk -v n="$name" -v f="$*" 'BEGIN {c = split(f, want, " ")}
		index($0, n "{") == 1 { ok = 1; for (i = 1; i <= c; i++) if (index($1, want[i]) == 0) ok = 0; if (ok) { print $2; exit } }' <<<"$out"
}
out=$(scrape)
for m in bnet_map_entries bnet_map_capacity bnet_gossip_members bnet_reconcile_duration_seconds_count bnet_port_packets_total; do
	grep -q "^$m" <<<"$out" || check_err 1 "/metrics lacks $m"
done
[ "$(value bnet_gossip_members 'state="alive"')" = 2 ]
check_err $? "bnet_gossip_members{state=alive} is '$(value bnet_gossip_members 'state="alive"')', want 2"
log_test "the agent serves bnet_ metrics on metrics_listen"

bn 1 port show nosuch-port >/dev/null 2>&1
created=$(value bnet_api_requests_total 'method="POST"' 'route="/v2.0/ports"' 'code="201"')
missing=$(value bnet_api_requests_total 'method="GET"' 'route="/v2.0/ports/{id}"' 'code="404"')
[ "${created%.*}" -ge 1 ] 2>/dev/null && [ "${missing%.*}" -ge 1 ] 2>/dev/null
check_err $? "bnet_api_requests_total: port create 201 '$created', unknown port 404 '$missing'"
log_test "API requests are counted by method, route and code"

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

# Drop monitor: a spoofed MAC from m1 is streamed live to `bnet monitor`.
monitor_on() { bn 1 map dump monitor_on | jq '.entries[0].value'; }
[ "$(monitor_on)" = 0 ]
check_err $? "drop events are on with nobody listening"
bn 1 -o json monitor --port m1 >"$WORK/monitor.out" 2>&1 &
MON=$!
busywait 3000 bash -c "[ \"\$(BNET_SOCKET=$WORK/n1/bnet.sock BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET map dump monitor_on | jq '.entries[0].value')\" = 1 ]"
check_err $? "bnet monitor did not turn drop events on"
in_ns "$P-m1" ip link set eth0 address fa:16:3e:99:99:99
in_ns "$P-m1" ping -c 2 -i 0.2 -W 1 10.90.0.12 >/dev/null
busywait 3000 grep -q spoof_mac "$WORK/monitor.out"
pkill -P "$MON" 2>/dev/null; kill "$MON" 2>/dev/null
wait "$MON" 2>/dev/null
jq -e --arg p "$m1" 'select(.reason == "spoof_mac" and .port == $p and .src_mac == "fa:16:3e:99:99:99")' "$WORK/monitor.out" >/dev/null
check_err $? "no spoof_mac event for m1 from fa:16:3e:99:99:99 in: $(head -3 "$WORK/monitor.out")"
busywait 3000 bash -c "[ \"\$(BNET_SOCKET=$WORK/n1/bnet.sock BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET map dump monitor_on | jq '.entries[0].value')\" = 0 ]"
check_err $? "drop events stay on after the last monitor left"
log_test "bnet monitor streams a spoofed packet's drop live (reason, port, MAC); events off when nobody listens"

exit ${FAILED:-0}
