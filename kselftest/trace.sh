#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bnet trace (issue 9): the packet a VM would send, run through a tracing
# copy of the real programs against scratch copies of the maps, followed to
# the next node (whose agent runs its own programs), for each traffic class
# of seed 002's table: same node, across nodes (VXLAN and GRE), DVR
# east-west, SNAT, floating IP out, a security group drop on the far node,
# a port security drop. No live map, conntrack entry or counter moves.
#
#   n1 (network): snat-<r1>       n2: a2 (A, fip) a2b (A) g2 (GRE)
#   n3: a3 (A) b3 (B) x3 (A, project projx: default group) g3 (GRE)
source "$(dirname "$0")/lib.sh"
require ping jq
cloud_up 3

bn 1 network create public --type flat --physnet public --external >/dev/null
bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
bn 1 network create netA --type vxlan --segment 401 >/dev/null
bn 1 subnet create subA --network netA --cidr 10.40.1.0/24 >/dev/null
bn 1 network create netB --type vxlan --segment 402 >/dev/null
bn 1 subnet create subB --network netB --cidr 10.40.2.0/24 >/dev/null
bn 1 network create netG --type gre --segment 403 >/dev/null
bn 1 subnet create subG --network netG --cidr 10.40.3.0/24 >/dev/null
bn 1 router create r1 --distributed --external-network public >/dev/null
bn 1 router add-interface r1 subA >/dev/null
bn 1 router add-interface r1 subB >/dev/null
for s in public-sub subA subB subG; do seen_everywhere subnet "$s" || exit 1; done
seen_everywhere router r1 || exit 1
sg_open 1 || exit 1
bn 2 port create a2 --network netA --ip 10.40.1.20 --netns "$P-a2" >/dev/null
bn 2 port create a2b --network netA --ip 10.40.1.21 --netns "$P-a2b" >/dev/null
bn 2 port create g2 --network netG --ip 10.40.3.20 --netns "$P-g2" >/dev/null
bn 3 port create a3 --network netA --ip 10.40.1.30 --netns "$P-a3" >/dev/null
bn 3 port create b3 --network netB --ip 10.40.2.30 --netns "$P-b3" >/dev/null
bn 3 port create x3 --network netA --ip 10.40.1.40 --netns "$P-x3" --project projx >/dev/null
bn 3 port create g3 --network netG --ip 10.40.3.30 --netns "$P-g3" >/dev/null
in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
fip=$(bn 1 -o json fip create --network public | jq -r .floatingip.floating_ip_address)
seen_everywhere port a2 || exit 1
bn 1 fip associate "$fip" a2 >/dev/null
check_err $? "fip associate failed"
# Real traffic first: every path works, so a trace has state to read.
for d in 10.40.1.21 10.40.1.30 10.40.2.30 203.0.113.1; do
	busywait 12000 vm_ping "$P-a2" "$d"
	check_err $? "a2 cannot reach $d"
done
busywait 12000 vm_ping "$P-a3" 203.0.113.1
check_err $? "a3 cannot reach the outside through SNAT"
busywait 12000 vm_ping "$P-g2" 10.40.3.30
check_err $? "g2 cannot reach g3 over GRE"
log_test "the cloud forwards every class for real"

# Live state on the nodes a trace touches: every map but the per-packet
# counters of traffic a VM may send on its own (IPv6 ND).
snap() {
	local i m
	for i in 1 2 3; do
		for m in $(bn "$i" -o json map list | jq -r '.maps[].name'); do
			case $m in drop_stats) continue ;; esac
			echo "n$i $m $(bn "$i" map dump "$m" | jq -cS '[.entries[]] | sort')"
		done
		echo "n$i drops $(bn "$i" -o json drop list | jq -cS '[.drops[] | select(.reason == "policy" or .reason == "spoof_ip")] | sort')"
	done
}
# The agents settle first (next hops resolving, records arriving).
before=$(snap)
for _ in $(seq 10); do
	sleep 1
	again=$(snap)
	[ "$again" = "$before" ] && break
	before=$again
done

trace_ok() { # NODE PATTERN-FOR-PATH DESCRIPTION ARGS...
	local n=$1 want=$2 what=$3 out path
	shift 3
	out=$(bn "$n" -o json trace "$@")
	check_err $? "$what: trace failed: $out"
	path=$(jq -r .path <<<"$out")
	[[ $path == "$want" ]]
	check_err $? "$what: path '$path', want '$want'; $(bn "$n" trace "$@" 2>&1)"
	TRACE=$out
}
steps() { jq -r '[.hops[].steps[]] | join("\n")' <<<"$TRACE"; }

trace_ok 2 "a2@n2 → a2b@n2" "same node" --port a2 --dst 10.40.1.21
log_test "trace: same node, same network: $(jq -r .path <<<"$TRACE")"

trace_ok 2 "a2@n2 → vxlan 401 → a3@n3" "across nodes" --port a2 --dst 10.40.1.30 --proto tcp --dport 22
[ "$(jq -r '.hops[1].how' <<<"$TRACE")" = "asked node n3's agent, which ran it there" ] && [ "$(jq -r '.hops[1].program' <<<"$TRACE")" = bnet_ul_in ]
check_err $? "the second hop was not run by n3's agent: $(jq -c '.hops[1]' <<<"$TRACE")"
steps | grep -q "security groups (ingress): new connection allowed by security group"
check_err $? "n3's ingress security group decision is missing: $(steps)"
log_test "trace: across nodes over VXLAN, n3 takes the VXLAN apart in bnet_ul_in: $(jq -r .path <<<"$TRACE")"

trace_ok 2 "g2@n2 → gre 403 → g3@n3" "GRE" --port g2 --dst 10.40.3.30 --proto udp --dport 53
[ "$(jq -r '.hops[1].program' <<<"$TRACE")" = bnet_ul_in ]
check_err $? "GRE second hop not through bnet_ul_in"
log_test "trace: across nodes over GRE (BPF encap), n3 runs bnet_ul_in: $(jq -r .path <<<"$TRACE")"

trace_ok 2 "a2@n2 → vxlan 402 → b3@n3" "DVR east-west" --port a2 --dst 10.40.2.30
steps | grep -q "routed by router r1"
check_err $? "no routing step: $(steps)"
log_test "trace: DVR east-west, routed on the sender's node: $(jq -r .path <<<"$TRACE")"

trace_ok 3 "a3@n3 → vxlan 401 → snat@n1 → nftables SNAT → outside" "SNAT" --port a3 --dst 203.0.113.1
steps | grep -q "default route via its SNAT port"
check_err $? "no SNAT step: $(steps)"
log_test "trace: SNAT through the network node: $(jq -r .path <<<"$TRACE")"
# What an operator reads (kept in the log):
bn 3 trace --port a3 --dst 203.0.113.1 --proto tcp --dport 443 | sed 's/^/    /'
bn 2 trace --port a2 --dst 10.40.1.40 --proto tcp --dport 22 | sed 's/^/    /'

trace_ok 2 "a2@n2 → physnet → outside" "floating IP out" --port a2 --dst 203.0.113.1 --proto tcp --dport 443
steps | grep -q "floating IP NAT: source 10.40.1.20 -> $fip"
check_err $? "no floating IP NAT step: $(steps)"
log_test "trace: floating IP out, NATed on the VM's node: $(jq -r .path <<<"$TRACE")"

trace_ok 2 "a2@n2 → vxlan 401 → dropped@n3 (policy)" "security group" --port a2 --dst 10.40.1.40 --proto tcp --dport 22
steps | grep -q "security groups (ingress): no rule allows it" && jq -r '.hops[1].verdict' <<<"$TRACE" | grep -q "dropped on node n3: policy"
check_err $? "x3's default group did not drop it on n3: $(steps)"
log_test "trace: dropped by x3's security groups on n3"

trace_ok 2 "a2@n2 → dropped@n2 (spoof_ip)" "port security" --port a2 --src 10.40.1.99 --dst 10.40.1.30
jq -r '.hops[0].verdict' <<<"$TRACE" | grep -q "spoof_ip"
check_err $? "a spoofed source was not dropped by port security: $(steps)"
log_test "trace: a spoofed source is dropped by port security"

# Asked on another node, the trace starts on the port's own node.
trace_ok 1 "a2@n2 → vxlan 401 → a3@n3" "from n1" --port a2 --dst 10.40.1.30
log_test "trace: asked on n1, run from a2's node"

after=$(snap)
diff <(echo "$before") <(echo "$after") >"$WORK/snap.diff"
check_err $? "live maps or counters changed during the traces: $(head -c 2000 "$WORK/snap.diff")"
log_test "traces changed no live map, conntrack entry or drop counter on any node"

bn 2 trace --port nosuch --dst 10.40.1.30 >/dev/null 2>&1
[ $? -ne 0 ]
check_err $? "tracing an unknown port succeeded"
bn 2 trace --port a2 --dst 10.40.1 >/dev/null 2>&1
[ $? -ne 0 ]
check_err $? "a bad destination was accepted"
log_test "trace: unknown port and bad address are refused"

exit ${FAILED:-0}
