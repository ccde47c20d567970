#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Security groups (seed 001: default deny in, allow out, a default group per
# project), enforced statefully in BPF on each port's own node: the default
# group, a rule for TCP 22 from one CIDR, remote-group rules following a
# port that joins on another node, an established connection surviving a
# rule added and cut when the rule that allowed it goes, and a SYN flood
# from one VM stopping at its budget without hurting other connections.
#
#   n1: a1 10.60.0.11 (admin)   x1 10.60.0.31 (no port security)
#   n2: a2 10.60.0.12 (admin)   b1 10.60.0.21 (project projb)   w1 10.60.0.41 (admin, group web)
source "$(dirname "$0")/lib.sh"
require ping python3
CLOUD_CONF="security: {ct_max: 4096, ct_port_max: 64}"
cloud_up 2
PROBE="python3 $(dirname "$(readlink -f "$0")")/sgprobe.py"

bn 1 network create sg --type vxlan --segment 601 >/dev/null
bn 1 subnet create sgsub --network sg --cidr 10.60.0.0/24 >/dev/null
seen_everywhere subnet sgsub || exit 1
bn 1 sg create web >/dev/null
check_err $? "sg create web failed"
seen_on 2 sg web || exit 1
bn 1 port create a1 --network sg --ip 10.60.0.11 --netns "$P-a1" >/dev/null
bn 2 port create a2 --network sg --ip 10.60.0.12 --netns "$P-a2" >/dev/null
bn 2 port create b1 --network sg --ip 10.60.0.21 --netns "$P-b1" --project projb >/dev/null
bn 1 port create x1 --network sg --ip 10.60.0.31 --netns "$P-x1" --no-port-security >/dev/null
bn 2 port create w1 --network sg --ip 10.60.0.41 --netns "$P-w1" --sg web >/dev/null
check_err $? "port create failed"
defa=$(bn 1 -o json port show a1 | jq -r '.port.security_groups | join(",")')
defb=$(bn 2 -o json port show b1 | jq -r '.port.security_groups | join(",")')
[ -n "$defa" ] && [ -n "$defb" ] && [ "$defa" != "$defb" ] &&
	[ "$(bn 1 -o json sg show "$defa" | jq -r .security_group.name)" = default ]
check_err $? "ports did not get their project's default group (admin: '$defa', projb: '$defb')"
log_test "each project's ports get that project's default group"

drops() { bn "$1" -o json drop list | jq --arg r "$2" '[.drops[] | select(.reason == $r) | .packets] | add // 0'; }

# Default group: members reach each other across nodes; in from anyone
# else is refused; out is allowed and its replies come back.
busywait 12000 vm_ping "$P-a1" 10.60.0.12
check_err $? "a1 cannot ping a2 (same default group, other node)"
busywait 12000 vm_ping "$P-a2" 10.60.0.11
check_err $? "a2 cannot ping a1"
busywait 12000 vm_ping "$P-a1" 10.60.0.31
check_err $? "a1 cannot ping x1 (egress allowed, replies allowed)"
before=$(drops 1 policy)
! vm_ping "$P-x1" 10.60.0.11 && ! vm_ping "$P-x1" 10.60.0.11
check_err $? "x1 (no group) reaches a1 through the default group"
[ "$(drops 1 policy)" -gt "$before" ]
check_err $? "x1 -> a1 not counted as a policy drop on n1"
log_test "default group: in only from the group, out allowed, replies allowed"

! vm_ping "$P-a2" 10.60.0.21 && ! vm_ping "$P-b1" 10.60.0.12 && ! vm_ping "$P-a1" 10.60.0.21
check_err $? "projects admin and projb reach each other through their default groups"
log_test "two projects' default groups keep them apart"

# A rule opening TCP 22 from one CIDR only (10.60.0.0/28: a1, a2).
in_ns "$P-w1" $PROBE serve 22 23 7000 >/dev/null 2>&1 &
disown $!
ssh_rule=$(bn 1 -o json sg rule add web --direction ingress --protocol tcp --port-min 22 --port-max 22 \
	--remote-ip 10.60.0.0/28 | jq -r .security_group_rule.id)
[ -n "$ssh_rule" ] && [ "$ssh_rule" != null ]
check_err $? "sg rule add printed no id"
busywait 5000 in_ns "$P-a1" $PROBE connect 10.60.0.41 22
check_err $? "a1 (in 10.60.0.0/28) cannot reach w1:22"
! in_ns "$P-a1" $PROBE connect 10.60.0.41 23
check_err $? "a1 reaches w1:23, which no rule opens"
! in_ns "$P-x1" $PROBE connect 10.60.0.41 22
check_err $? "x1 (10.60.0.31, outside the /28) reaches w1:22"
bn 2 -o json policy list --port w1 | jq -e '.policy[] | select(.direction == "ingress" and .remote == "10.60.0.0/28" and .protocol == "tcp" and .ports == "22")' >/dev/null
check_err $? "bnet policy list --port w1 does not show tcp 22 from 10.60.0.0/28"
log_test "a rule opens TCP 22 from one CIDR only"

# Remote group: ping w1 from members of web only; a1 (on n1) joins web.
bn 1 sg rule add web --direction ingress --protocol icmp --remote-group web >/dev/null
check_err $? "sg rule add --remote-group failed"
sleep 1
! vm_ping "$P-a1" 10.60.0.41
check_err $? "a1 pings w1 before joining web"
bn 1 port update a1 --sg "$defa" --sg web >/dev/null
check_err $? "port update --sg failed"
busywait 12000 vm_ping "$P-a1" 10.60.0.41
check_err $? "a1 joined web on n1 but still cannot ping w1 on n2"
log_test "remote-group rule follows a port that joins the group on another node"

# Established connections survive a rule added, and are cut when the only
# rule that allowed them goes.
count() { cat "$WORK/stream" 2>/dev/null || echo 0; }
in_ns "$P-a1" $PROBE stream 10.60.0.41 22 "$WORK/stream" >/dev/null 2>&1 &
SPID=$!
disown $SPID
busywait 5000 bash -c "[ \$(cat $WORK/stream 2>/dev/null || echo 0) -gt 5 ]"
check_err $? "the stream a1 -> w1:22 does not flow"
bn 1 sg rule add web --direction ingress --protocol udp --port-min 53 --port-max 53 >/dev/null
sleep 1.5
c1=$(count)
sleep 1
c2=$(count)
[ "$c2" -gt "$c1" ]
check_err $? "the established stream stalled after a rule was added ($c1 -> $c2)"
log_test "an established connection survives a rule being added"

t0=$(date +%s%N)
bn 1 sg rule delete "$ssh_rule" >/dev/null
check_err $? "sg rule delete failed"
sleep 1.5
c1=$(count)
sleep 1
c2=$(count)
[ "$c2" -eq "$c1" ]
check_err $? "the stream still flows after its rule was removed ($c1 -> $c2)"
! in_ns "$P-a1" $PROBE connect 10.60.0.41 22
check_err $? "a new connection to w1:22 still opens after the rule was removed"
kill "$SPID" 2>/dev/null
# From the delete (on n1) to the stream's last echo (w1 is on n2: one
# gossip round and a reconcile there). Reported, not asserted: this is a
# timing on a shared machine, and the stop above is the functional check.
ms=$((($(cat "$WORK/stream.last") - t0) / 1000000))
[ "$ms" -lt 0 ] && ms=0
log_test "a removed rule cuts the connection it allowed (last echo ${ms} ms after the delete)"

# SYN flood: a2 opens connections without end against w1. Its own budget
# (ct_port_max 64) stops it, and at w1 it gets no more than its share
# (ct_source_max, a quarter: 16); a1's established connection to w1 goes
# on. Then x1, without port security and so without a budget of its own,
# floods w1 too: again only its share, and a1 still opens new connections
# to w1 (before shares, x1 alone filled w1's budget).
bn 1 sg rule add web --direction ingress --protocol tcp --port-min 1 --port-max 65535 \
	--remote-ip 10.60.0.0/24 >/dev/null
rm -f "$WORK/stream"
busywait 5000 in_ns "$P-a1" $PROBE connect 10.60.0.41 7000
in_ns "$P-a1" $PROBE stream 10.60.0.41 7000 "$WORK/stream" >/dev/null 2>&1 &
SPID=$!
disown $SPID
busywait 5000 bash -c "[ \$(cat $WORK/stream 2>/dev/null || echo 0) -gt 5 ]"
check_err $? "the stream a1 -> w1:7000 does not flow"
before=$(drops 2 ct_full)
in_ns "$P-a2" $PROBE synflood 10.60.0.41 9 400
c1=$(count)
sleep 1
c2=$(count)
[ "$c2" -gt "$c1" ]
check_err $? "a1's established connection stalled during a2's SYN flood ($c1 -> $c2)"
[ "$(drops 2 ct_full)" -gt "$before" ]
check_err $? "the flood never hit a budget: ct_full $before -> $(drops 2 ct_full)"
n=$(bn 2 -o json ct list | jq '[.ct[] | select(.local == "10.60.0.12")] | length')
[ "$n" -le 64 ]
check_err $? "a2 holds $n ct entries, over its budget of 64"
from() { bn 2 -o json ct list | jq --arg r "$1" '[.ct[] | select(.local == "10.60.0.41" and .remote == $r)] | length'; }
n=$(from 10.60.0.12)
[ "$n" -le 16 ]
check_err $? "w1 holds $n connections from a2, over its share of 16"
before=$(drops 2 ct_src_full)
in_ns "$P-x1" $PROBE synflood 10.60.0.41 9 400
n=$(from 10.60.0.31)
[ "$n" -le 16 ] && [ "$(drops 2 ct_src_full)" -gt "$before" ]
check_err $? "w1 holds $n connections from x1 (share 16); ct_src_full $before -> $(drops 2 ct_src_full)"
share=$(bn 2 -o json ct budget | jq '[.budgets[].senders[] | select(.remote == "10.60.0.31") | .holds] | add // 0')
[ "$share" -ge 1 ] && [ "$share" -le 16 ]
check_err $? "bnet ct budget says x1 holds $share at w1, want 1 to 16 (its share)"
in_ns "$P-a1" $PROBE connect 10.60.0.41 7000
check_err $? "a1 cannot open a new connection to w1 while it is flooded"
# Budgets are per port: a1, whose budget the flood never touched, still
# opens new connections elsewhere too.
in_ns "$P-a1" ping -c 1 -W 1 10.60.0.31 >/dev/null
check_err $? "a1 cannot open a new connection (ping x1) during a2's flood"
kill "$SPID" 2>/dev/null
log_test "a SYN flood from one VM stops at its own budget and its share of the target's; others connect"

exit ${FAILED:-0}
