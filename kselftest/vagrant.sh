#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The Vagrant lab's files: the Vagrantfile validates (providers aside: CI
# has no KVM or VirtualBox) and every node in vagrant/nodes gets a config
# from scripts/node-config.sh that the agent accepts.
source "$(dirname "$0")/lib.sh"
require vagrant
TOP=$(cd "$LIB_DIR/.." && pwd)
out=$(cd "$TOP/vagrant" && vagrant validate --ignore-provider 2>&1)
check_err $? "vagrant validate: $out"
log_test "vagrant validate accepts vagrant/Vagrantfile"

mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
first=$(grep -v '^#' "$TOP/vagrant/nodes" | awk 'NF {print $4; exit}')
n=0
while read -r node roles _ tunnel; do
	[ -n "$node" ] || continue
	"$TOP/scripts/node-config.sh" --node "$node" --local-ip "$tunnel" --roles "$roles" \
		--physnet public=eth3 --join "$first:7946" >"$WORK/$node.yaml"
	msg=$("$BNET" agent --config "$WORK/$node.yaml" --check 2>&1)
	check_err $? "node $node: the agent refuses its config: $msg"
	n=$((n + 1))
done < <(grep -v '^#' "$TOP/vagrant/nodes")
[ "$n" -eq 3 ]
check_err $? "vagrant/nodes lists $n nodes, want seed 003's three"
log_test "every Vagrant node's config (scripts/node-config.sh) is accepted by the agent"

exit ${FAILED:-0}
