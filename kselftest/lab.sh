#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make lab end to end: the lab comes up with every traffic class passing,
# a second run in a row works, and lab-down leaves no namespace, pin or
# state behind. (Replaces a lab that is up: it uses the lab's fixed names.)
source "$(dirname "$0")/lib.sh"
require ping tcpdump jq
TOP=$(cd "$LIB_DIR/.." && pwd)
lab() { BNET=$BNET "$TOP/scripts/lab.sh" "$@"; }
trap 'lab down >/dev/null 2>&1' EXIT

for run in 1 2; do
	out=$(lab 2>&1)
	rc=$?
	passes=$(grep -c '^PASS' <<<"$out")
	[ "$rc" -eq 0 ] && [ "$passes" -ge 9 ] && ! grep -q '^FAIL' <<<"$out"
	check_err $? "make lab run $run: exit $rc, $passes PASS lines: $(grep -E '^(FAIL|PASS)' <<<"$out" | head -20)"
	for c in same-node cross-node east-west snat fip-in fip-out provider dhcp isolation; do
		grep -q "^PASS $c " <<<"$out" || check_err 1 "run $run: no PASS line for $c"
	done
	log_test "make lab run $run: every traffic class passes"
done
grep -q 'vxlan 0x3e9 → vm3@cmpt2' <<<"$out"
check_err $? "the cross-node line does not show the VXLAN path: $(grep cross-node <<<"$out")"

lab down >/dev/null
left=$(ip netns list | awk '{print $1}' | grep -c '^lab-')
[ "$left" -eq 0 ] && ! ls -d /sys/fs/bpf/lab-* >/dev/null 2>&1 && [ ! -e /tmp/bnet-lab ] && ! pgrep -f 'bnet-lab/n' >/dev/null
check_err $? "lab-down left $left namespaces, pins: $(ls -d /sys/fs/bpf/lab-* 2>/dev/null), state: $(ls -d /tmp/bnet-lab 2>/dev/null)"
log_test "make lab-down removes every namespace, pin, agent and file"

exit ${FAILED:-0}
