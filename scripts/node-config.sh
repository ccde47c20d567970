#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# node-config.sh prints a node's bnet.yaml. The kselftests, make lab and the
# Vagrant lab all write node configs with it, so they cannot drift apart.
#
#   node-config.sh --node NAME --local-ip IP [--roles compute,network]
#       [--physnet NAME=NIC]... [--join IP:PORT]... [--fast] [--key-file F]
#       [--api-socket F] [--api-listen IP:PORT] [--pin-dir D] [--state-dir D]
#       [--underlay-mtu N] [--log-level L] [--netns-prefix P] [--snat-fence-delay S]
#       [--attach auto|tcx|tc]
#
# --fast (labs and tests on one machine) also shortens the SNAT fence delay
# to 1 s, in step with memberlist's shortened failure detection.
set -eu
node="" ip="" roles=compute fast=false key="" sock="" listen="" pins="" state="" mtu="" level="" prefix="" fence="" attach=""
physnets=() joins=()
while [ $# -gt 0 ]; do
	case $1 in
	--node) node=$2; shift ;;
	--local-ip) ip=$2; shift ;;
	--roles) roles=$2; shift ;;
	--physnet) physnets+=("$2"); shift ;;
	--join) joins+=("$2"); shift ;;
	--fast) fast=true ;;
	--key-file) key=$2; shift ;;
	--api-socket) sock=$2; shift ;;
	--api-listen) listen=$2; shift ;;
	--pin-dir) pins=$2; shift ;;
	--state-dir) state=$2; shift ;;
	--underlay-mtu) mtu=$2; shift ;;
	--log-level) level=$2; shift ;;
	--netns-prefix) prefix=$2; shift ;;
	--snat-fence-delay) fence=$2; shift ;;
	--attach) attach=$2; shift ;;
	*) echo "node-config.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$node" ] && [ -n "$ip" ] || { echo "node-config.sh: --node and --local-ip are required" >&2; exit 2; }

echo "node: $node"
echo "local_ip: $ip"
echo "roles: [${roles//,/, }]"
pn=""
for p in ${physnets[@]+"${physnets[@]}"}; do
	pn+="${pn:+, }${p%%=*}: ${p#*=}"
done
echo "physnets: {$pn}"
j=""
for x in ${joins[@]+"${joins[@]}"}; do
	j+="${j:+, }\"$x\""
done
echo "gossip: {bind: \"$ip:7946\", join: [$j], fast: $fast${key:+, key_file: $key}}"
[ -z "$sock" ] || echo "api_socket: $sock"
[ -z "$listen" ] || echo "api_listen: $listen"
[ -z "$pins" ] || echo "pin_dir: $pins"
[ -z "$state" ] || echo "state_dir: $state"
echo "vxlan_port: 4789"
[ -z "$mtu" ] || echo "underlay_mtu: $mtu"
[ -z "$level" ] || echo "log_level: $level"
[ -z "$prefix" ] || echo "netns_prefix: $prefix"
[ -z "$attach" ] || echo "datapath: {attach: $attach}"
if [ -n "$fence" ]; then
	echo "snat_fence_delay: $fence"
elif [ "$fast" = true ]; then
	echo "snat_fence_delay: 1"
fi
