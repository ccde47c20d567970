#!/bin/bash
# Installs what building and testing bnet needs on a fresh Debian 12 (root).
# Idempotent: does nothing when everything is already there.
set -eu
need=()
have() { command -v "$1" >/dev/null 2>&1; }
# Go is not Debian 12's to give (bookworm has 1.19): say what to get.
want=$(awk '$1 == "go" {print $2}' "$(dirname "$0")/../go.mod")
if ! have "${GO:-go}"; then
	echo "deps: Go $want or newer is needed (go.mod) and '${GO:-go}' is not found: install it from https://go.dev/dl/ (Debian 12's golang package is too old)" >&2
	exit 1
fi
have clang || need+=(clang)
have llvm-strip || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
have bpftool || need+=(bpftool)
have tcpdump || need+=(tcpdump)
have jq || need+=(jq)
have arping || need+=(arping)
have ping || need+=(iputils-ping)
have ip || need+=(iproute2)
have nsenter || need+=(util-linux)
have make || need+=(make)
have tshark || need+=(tshark)
have iperf3 || need+=(iperf3)
have traceroute || need+=(traceroute)
have nft || need+=(nftables)
# A real DHCP client in kselftest/dhcp.sh.
have dhclient || need+=(isc-dhcp-client)
# make package's test reads the .rpm; shellcheck checks every script.
have rpm || need+=(rpm)
have shellcheck || need+=(shellcheck)
# kselftest/vagrant.sh validates the Vagrant lab's Vagrantfile.
have vagrant || need+=(vagrant)
# The OpenStack client drives bnet in kselftest/openstack_client.sh.
have openstack || need+=(python3-openstackclient)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# kselftest/interop_*.sh boot Debian's kernel as a test peer under qemu
# (kselftest/peer.sh fetches the kernel itself): only for `make
# test-interop` (INTEROP=1). Best effort: without qemu those tests skip, and
# make test never waits on it (the package hung apt-get here).
if [ "${INTEROP:-0}" = 1 ] && ! have qemu-system-x86_64; then
	echo "installing: qemu-system-x86"
	export DEBIAN_FRONTEND=noninteractive
	# Bounded: an unreachable registry must not hang the whole suite here.
	timeout 300 apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null ||
		echo "warning: qemu-system-x86 not installed: kselftest/interop_*.sh will skip"
fi
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
