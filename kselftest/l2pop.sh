#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Gossip l2population: a port created on n1 is reachable from n3 within 2 s;
# when n3's node dies its ports stay in the survivors' FDB for
# node_dead_hold (a restart or a gossip-only partition tears nothing down),
# then leave it; the maps stay readable and traffic keeps flowing with the
# agent stopped.
#
#   n1: p1 10.50.0.11   n2: p2 10.50.0.12   n3: p3 10.50.0.13   (VNI 5001)
source "$(dirname "$0")/lib.sh"
require ping
HOLD=5
CLOUD_CONF="node_dead_hold: $HOLD"
cloud_up 3

bn 1 network create net1 --type vxlan --segment 5001 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.50.0.0/24 >/dev/null
seen_everywhere subnet sub1 || exit 1
bn 3 port create p3 --network net1 --ip 10.50.0.13 --netns "$P-p3" >/dev/null
bn 2 port create p2 --network net1 --ip 10.50.0.12 --netns "$P-p2" >/dev/null
busywait 12000 vm_ping "$P-p3" 10.50.0.12
check_err $? "p3 cannot reach p2"
log_test "cluster up: p3@n3 <-> p2@n2"

start=$(date +%s%N)
bn 1 port create p1 --network net1 --ip 10.50.0.11 --netns "$P-p1" >/dev/null
busywait 2000 vm_ping "$P-p3" 10.50.0.11
check_err $? "p1 created on n1 not reachable from n3 within 2 s"
ms=$((($(date +%s%N) - start) / 1000000))
log "port create on n1 -> first ping from n3 answered: ${ms} ms"
log_test "new port on n1 reachable from n3 within 2 s"

mac1=$(bn 1 -o json port show p1 | jq -r .port.mac_address)
bn 2 -o json fdb list | jq -e --arg m "$mac1" '.fdb[] | select(.mac==$m and .vtep=="'"$(vtep 1)"'")' >/dev/null
check_err $? "n2's FDB has no entry for p1 ($mac1) at n1's VTEP"
log_test "n2's FDB points p1's MAC at n1's VTEP"

# Agent stopped: pinned maps still readable, datapath still forwarding.
stop_agent 1 TERM
out=$(bn 1 -o json fdb list)
echo "$out" | jq -e --arg m "$mac1" '.fdb[] | select(.mac==$m and .ifindex > 0)' >/dev/null
check_err $? "bnet fdb list with the agent stopped lacks p1: $out"
log_test "bnet fdb list works with the agent stopped"
in_ns "$P-p1" ping -c 3 -i 0.2 -W 1 10.50.0.12 >/dev/null
check_err $? "traffic stopped while n1's agent was down"
log_test "datapath keeps forwarding while the agent is down"
start_agent 1
busywait 20000 sees_alive 1 3
check_err $? "restarted n1 did not rejoin"
in_ns "$P-p1" ping -c 2 -i 0.2 -W 1 10.50.0.13 >/dev/null
check_err $? "p1 -> p3 broken after agent restart"
log_test "agent restart: rejoins, traffic flows"

# Node death: kill n3's agent and cut its underlay link.
mac3=$(bn 3 -o json port show p3 | jq -r .port.mac_address)
stop_agent 3 KILL
in_ns "$P-n3" ip link set eth0 down
dead3() { bn 1 -o json agent list | jq -e '.agents[] | select(.host == "n3" and (.alive | not))' >/dev/null; }
busywait 20000 dead3
check_err $? "n1 never saw n3 dead"
t0=$(date +%s%N)
BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET -o json fdb list | jq -e --arg m "$mac3" '.fdb[] | select(.mac==$m)' >/dev/null
check_err $? "n1 withdrew dead n3's port at once, without the ${HOLD}s hold"
st=$(bn 1 -o json port show p3 | jq -r '.port.status + ": " + .port.status_reason')
[[ $st == DOWN:*"node_dead_hold"* ]]
check_err $? "p3 during the hold is '$st', want DOWN saying its entries are held"
log_test "dead node's ports held for node_dead_hold (${HOLD}s), status DOWN"
busywait 30000 bash -c "! BNET_PIN_DIR=/sys/fs/bpf/$P-n1 $BNET -o json fdb list | jq -e --arg m $mac3 '.fdb[] | select(.mac==\$m)'"
check_err $? "n1 still has dead n3's port $mac3 in its FDB"
busywait 5000 bash -c "! BNET_PIN_DIR=/sys/fs/bpf/$P-n2 $BNET -o json tunnel list | jq -e '.tunnels[] | .remote_vteps | index(\"$(vtep 3)\")'"
check_err $? "n2 still floods to dead n3"
held=$((($(date +%s%N) - t0) / 1000000))
log_test "dead node's ports withdrawn from the survivors ${held} ms after it was seen dead"
st=$(bn 1 -o json port show p3 | jq -r .port.status)
[ "$st" = DOWN ]
check_err $? "p3 status is '$st' on n1, want DOWN (withdrawn, not deleted)"
log_test "dead node's port kept, status DOWN"
exit ${FAILED:-0}
