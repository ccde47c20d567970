#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# datapath.attach: tc, the mode for kernels without TCX (before 6.6), forced
# on this kernel: every program sits in a clsact direct-action bpf filter
# and no TCX link exists. Same-node and cross-node traffic flows; a SIGKILL
# restart adopts the filters and swaps the programs in place with no packet
# of an established flow lost; switching a node to tcx and back across
# restarts leaves exactly one program on each device, the new mode's; a
# filter deleted behind the agent's back comes back.
#
#   n1: c1 10.62.0.11, c2 10.62.0.12      n2: c3 10.62.0.13   (vxlan 621)
source "$(dirname "$0")/lib.sh"
require ping tc python3 jq
BNET_ATTACH=tc
CLOUD_CONF="resync_seconds: 3"
cloud_up 2
PROBE="python3 $(dirname "$(readlink -f "$0")")/sgprobe.py"

grep -q 'agent up.*attach=tc ' "$WORK/n1/agent.log" && grep -q 'agent up.*attach=tc ' "$WORK/n2/agent.log"
check_err $? "the agents did not log attach mode tc"
log_test "datapath.attach: tc is taken"

bn 1 network create cn --type vxlan --segment 621 >/dev/null
bn 1 subnet create cnsub --network cn --cidr 10.62.0.0/24 >/dev/null
seen_everywhere subnet cnsub || exit 1
bn 1 port create c1 --network cn --ip 10.62.0.11 --netns "$P-c1" >/dev/null
bn 1 port create c2 --network cn --ip 10.62.0.12 --netns "$P-c2" >/dev/null
bn 2 port create c3 --network cn --ip 10.62.0.13 --netns "$P-c3" >/dev/null
busywait 5000 vm_ping "$P-c1" 10.62.0.12
check_err $? "c1 cannot ping c2 on the same node"
log_test "tc mode: same node"
busywait 12000 vm_ping "$P-c1" 10.62.0.13
check_err $? "c1@n1 cannot ping c3@n2"
log_test "tc mode: cross node over VXLAN"

# tcxq.py DEV...: "DEV N" for each, N the TCX programs on DEV's ingress
# (BPF_PROG_QUERY: this bpftool may predate TCX). Run in a node namespace.
cat >"$WORK/tcxq.py" <<'EOF'
import ctypes, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
for dev in sys.argv[1:]:
    ids = (ctypes.c_uint32 * 64)()
    # bpf_attr.query: target_ifindex, attach_type BPF_TCX_INGRESS (46),
    # query_flags, attach_flags, prog_ids, prog_cnt, then 36 bytes of zero.
    attr = ctypes.create_string_buffer(struct.pack("IIIIQI36x", socket.if_nametoindex(dev), 46, 0, 0,
                                                   ctypes.addressof(ids), 64), 64)
    if libc.syscall(321, 16, attr, 64) != 0:  # bpf(BPF_PROG_QUERY) on x86_64
        sys.exit("BPF_PROG_QUERY %s: errno %d" % (dev, ctypes.get_errno()))
    print(dev, struct.unpack_from("I", attr, 24)[0])
EOF

# node_devs I: node I's devices that carry a bnet program.
node_devs() {
	in_ns "$P-n$1" ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' |
		grep -E '^(tap|bnet-vxlan$|eth-ext$|eth0$)'
}

# attached I MODE: every bnet device of node I runs exactly one bnet
# program, attached the MODE way (tc: one bnet filter, no TCX program; tcx:
# one TCX program, no bnet filter); says what it found otherwise.
attached() {
	local i=$1 mode=$2 dev tc tcx bad=""
	while read -r dev tcx; do
		tc=$(in_ns "$P-n$i" tc filter show dev "$dev" ingress | grep -c ' bnet direct-action ')
		case $mode/$tc/$tcx in
		tc/1/0 | tcx/0/1) ;;
		*) bad="$bad $dev: $tc tc filter(s), $tcx TCX program(s);" ;;
		esac
	done < <(node_devs "$i" | xargs ip netns exec "$P-n$i" python3 "$WORK/tcxq.py")
	[ -z "$bad" ] || {
		echo "n$i ($mode):$bad"
		return 1
	}
}

out=$(attached 1 tc) && out=$(attached 2 tc)
check_err $? "$out"
[ "$(node_devs 1 | grep -c '^tap')" = 2 ] && [ -z "$(ls "/sys/fs/bpf/$P-n1/links")" ]
check_err $? "n1: want 2 port devices and no TCX link pins"
c1if=$(node_devs 1 | grep '^tap' | head -1)
in_ns "$P-n1" tc filter show dev "$c1if" ingress | grep -q 'bnet direct-action.* name bnet_port_in '
check_err $? "tc filter show dev $c1if ingress does not show bnet_port_in"
log_test "tc mode: one bnet filter per device, no TCX program"

# port_prog I: the program id of node I's port filter (its one port).
port_prog() {
	local dev
	dev=$(node_devs "$1" | grep '^tap' | head -1)
	in_ns "$P-n$1" tc filter show dev "$dev" ingress | sed -n 's/.* bnet direct-action.* id \([0-9]*\) .*/\1/p'
}

in_ns "$P-c3" $PROBE serve 22 >/dev/null 2>&1 &
disown $!
busywait 5000 in_ns "$P-c1" $PROBE connect 10.62.0.13 22
check_err $? "c1 cannot open TCP to c3:22"

# restart_under_load I SIG [CMD]: stop node I's agent with SIG while c1
# pings c3 every 10 ms and streams over one TCP connection; run CMD, start
# the agent again; nothing may be lost.
restart_under_load() {
	local i=$1 sig=$2 cmd=${3:-} tag=$1-$2-${3:-plain}
	in_ns "$P-c1" ping -n -i 0.01 -c 400 -W 1 10.62.0.13 >"$WORK/ping-$tag.log" 2>&1 &
	local pinger=$!
	ip netns exec "$P-c1" $PROBE stream 10.62.0.13 22 "$WORK/tcp-$tag" >/dev/null 2>&1 &
	local tcp=$!
	busywait 5000 test -s "$WORK/tcp-$tag"
	sleep 0.5
	stop_agent "$i" "$sig"
	local at_stop
	at_stop=$(cat "$WORK/tcp-$tag")
	sleep 0.5
	[ -z "$cmd" ] || $cmd
	start_agent "$i" || return 1
	wait "$pinger"
	local tx rx after
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$WORK/ping-$tag.log")
	rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping-$tag.log")
	after=$(cat "$WORK/tcp-$tag")
	sleep 0.5
	kill "$tcp" 2>/dev/null
	wait "$tcp" 2>/dev/null
	log "n$i SIG$sig${cmd:+ + $cmd}: ping $rx of $tx answered; TCP echoes $at_stop at stop, $after at the end"
	[ -n "$tx" ] && [ "$tx" = "$rx" ]
	check_err $? "n$i SIG$sig: ping $rx of $tx answered across the restart"
	[ "$after" -gt "$at_stop" ] && [ "$(cat "$WORK/tcp-$tag")" -ge "$after" ]
	check_err $? "n$i SIG$sig: the established TCP connection stalled ($at_stop at stop, $after at the end)"
}

before=$(port_prog 2)
restart_under_load 2 KILL
new_prog() { [ "$(port_prog 2)" != "$before" ] && [ -n "$(port_prog 2)" ]; }
busywait 10000 new_prog
check_err $? "n2's port filter still runs program $before after the restart: not adopted and swapped"
out=$(attached 2 tc)
check_err $? "$out"
log_test "tc mode: SIGKILL restart, filters adopted, programs swapped in place, nothing lost"

to_mode() { sed -i "s/^datapath: {attach: .*}/datapath: {attach: $1}/" "$WORK/n2/bnet.yaml"; }
to_tcx() { to_mode tcx; }
to_tc() { to_mode tc; }
restart_under_load 2 TERM to_tcx
busywait 10000 attached 2 tcx
out=$(attached 2 tcx)
check_err $? "$out"
[ -n "$(ls "/sys/fs/bpf/$P-n2/links")" ]
check_err $? "n2 in tcx mode pinned no link"
grep -q 'agent up.*attach=tcx ' "$WORK/n2/agent.log"
check_err $? "n2 did not log attach mode tcx"
busywait 5000 vm_ping "$P-c3" 10.62.0.11
check_err $? "c3 cannot ping c1 with n2 in tcx mode"
log_test "tc -> tcx across a restart: one program per device, nothing lost"

restart_under_load 2 KILL to_tc
busywait 10000 attached 2 tc
out=$(attached 2 tc)
check_err $? "$out"
[ -z "$(ls "/sys/fs/bpf/$P-n2/links")" ]
check_err $? "n2 back in tc mode kept TCX link pins"
log_test "tcx -> tc across a restart: one program per device, nothing lost"

# Repair: bnet's filter deleted behind the agent's back is back within
# resync_seconds.
c3if=$(node_devs 2 | grep '^tap' | head -1)
t0=$(date +%s%N)
in_ns "$P-n2" tc filter del dev "$c3if" ingress pref 48640 handle 1 bpf
! vm_ping "$P-c1" 10.62.0.13
check_err $? "c3 still answered with its filter deleted"
busywait 15000 vm_ping "$P-c1" 10.62.0.13
check_err $? "c3's filter was not repaired within 15 s (resync_seconds: 3)"
log "c3's filter repaired $((($(date +%s%N) - t0) / 1000000)) ms after its removal"
out=$(attached 2 tc)
check_err $? "$out"
log_test "tc mode: a filter deleted behind the agent's back is repaired"

# A port removed in tc mode takes its filter with it; sweep leaves no
# other device with a stale one.
bn 1 port delete c2 >/dev/null
gone() { [ "$(node_devs 1 | grep -c '^tap')" = 1 ]; }
busywait 10000 gone
check_err $? "c2's device is still there"
out=$(attached 1 tc)
check_err $? "$out"
log_test "tc mode: a deleted port leaves nothing behind"
exit ${FAILED:-0}
