#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Provisions one Vagrant lab node: installs the locally built .deb and
# writes /etc/bnet/bnet.yaml with scripts/node-config.sh — the same script
# the namespace lab (make lab) and the kselftests use — from vagrant/nodes.
#   provision.sh NODE   (run as root inside the VM; /vagrant is the repo)
set -eu
node=$1
repo=/vagrant
read -r _ roles _ tunnel < <(grep -v '^#' "$repo/vagrant/nodes" | awk -v n="$node" '$1 == n')
[ -n "${tunnel:-}" ] || { echo "node $node is not in vagrant/nodes" >&2; exit 1; }
first=$(grep -v '^#' "$repo/vagrant/nodes" | awk 'NF {print $4; exit}')
deb=$(ls "$repo"/dist/bnet_*_amd64.deb 2>/dev/null | tail -1)
[ -n "$deb" ] || { echo "no .deb in dist/: run make package on the host first" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq nftables iproute2 >/dev/null
dpkg -i "$deb"
# The NIC on the tunnel network (local_ip) and the unaddressed external one.
ext=$(ip -o link show | awk -F': ' '$2 !~ /^(lo|bnet)/ {print $2}' | while read -r ifc; do
	ip -4 -o addr show dev "$ifc" | grep -q inet || echo "$ifc"
done | head -1)
ip link set "$ext" up promisc on
# ...and again at every start of the agent, so that it survives a reboot.
mkdir -p /etc/systemd/system/bnet-agent.service.d
printf '[Service]\nExecStartPre=/sbin/ip link set %s up promisc on\n' "$ext" \
	>/etc/systemd/system/bnet-agent.service.d/lab-external-nic.conf
systemctl daemon-reload
"$repo/scripts/node-config.sh" --node "$node" --local-ip "$tunnel" --roles "$roles" \
	--physnet "public=$ext" --join "$first:7946" >/etc/bnet/bnet.yaml
chmod 600 /etc/bnet/bnet.yaml
systemctl restart bnet-agent.service
systemctl --no-pager status bnet-agent.service | head -5
