#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A configuration error at start: the agent exits non-zero at once, saying
# what is wrong in one line that names the key, and keeps running nowhere.
# Runs in a namespace of its own with nothing but lo and one veth holding
# the VTEP address, so a config that gets as far as the network touches
# nothing of the host's.
source "$(dirname "$0")/lib.sh"
require nsenter ip
[ -x "$BNET" ] || { echo "build bnet first ($BNET missing)"; exit $KSFT_FAIL; }
trap cleanup EXIT
rm -rf "$WORK" /sys/fs/bpf/"$P"-*
mkdir -p "$WORK"
ip netns add "$P-c"
ip -n "$P-c" link set lo up
ip -n "$P-c" link add eth0 type veth peer name eth0p
ip -n "$P-c" addr add 10.254.0.11/24 dev eth0
ip -n "$P-c" link set eth0 up

base="node: c1
api_socket: $WORK/bnet.sock
pin_dir: /sys/fs/bpf/$P-c
state_dir: $WORK/state"

# bad NAME WANT CONFIG: the agent given CONFIG exits 1 within seconds and
# prints exactly one line, containing WANT.
bad() {
	local out rc
	printf '%s\n' "$3" >"$WORK/bad.yaml"
	out=$(timeout 20 nsenter --net=/run/netns/"$P-c" "$BNET" agent --config "$WORK/bad.yaml" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"$2"* ]]
	check_err $? "$1: exit $rc, said: $out (want one line with: $2)"
}

bad "misspelt key" "bogus_key" "$base
local_ip: 10.254.0.11
bogus_key: 1"
bad "wrong type" "abc" "$base
local_ip: 10.254.0.11
vxlan_port: abc"
bad "two errors" "line 7" "$base
local_ip: 10.254.0.11
underlay_mtu: [1]
vxlan_port: x"
bad "broken YAML" "line" "$base
local_ip: 10.254.0.11
  : [ broken"
bad "no node" "node" "local_ip: 10.254.0.11"
bad "bad VTEP" "local_ip" "$base
local_ip: 10.254.0.500"
bad "unknown role" "wizard" "$base
local_ip: 10.254.0.11
roles: [compute, wizard]"
bad "bad api_listen" "api_listen" "$base
local_ip: 10.254.0.11
api_listen: 10.254.0.11:notaport"
bad "missing gossip key file" "$WORK/nokey" "$base
local_ip: 10.254.0.11
gossip: {key_file: $WORK/nokey}"
bad "VTEP not on this node" "10.254.0.99" "$base
local_ip: 10.254.0.99"
out=$(timeout 20 "$BNET" agent --config "$WORK/none.yaml" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"$WORK/none.yaml"* ]]
check_err $? "missing file: exit $rc, said: $out"
log_test "config errors: exit 1 with one line naming what is wrong"

# None of them left an agent behind.
! ip netns pids "$P-c" | grep -q .
check_err $? "an agent still runs in the namespace: $(ip netns pids "$P-c")"
[ ! -S "$WORK/bnet.sock" ]
check_err $? "an API socket was left behind"
log_test "config errors: no agent and no API socket left behind"

exit ${FAILED:-0}
