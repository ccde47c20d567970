#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# lib.sh: stand up an N-node bnet cloud in network namespaces, the way every
# kselftest here and `make lab` do it. Source it, then `cloud_up N`.
#
#            underlay switch (netns $P-ul, bridge br0, 10.254.0.0/24)
#        +-----------+-----------+----------- ...
#      eth0        eth0        eth0            VTEPs 10.254.0.11, .12, .13 ...
#   +--------+  +--------+  +--------+
#   | $P-n1  |  | $P-n2  |  | $P-n3  |  one `bnet agent` each (nsenter --net),
#   |  VMs.. |  |  VMs.. |  |  VMs.. |  its own socket, pin dir, state, log
#   +--------+  +--------+  +--------+
#    eth-ext     eth-ext     eth-ext      physnet "public" (no address)
#        +-----------+-----------+----- bridge brx in netns $P-ext
#                                |
#                          eth0 of $P-out: the host outside the cloud
#
# Everything lives in namespaces named $P-*; cleanup removes all of them,
# the agents, their pins and their files, on every exit path.

set -u

export KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$LIB_DIR/.." && pwd)
BNET=${BNET:-$TOP/bin/bnet}
# Short prefix: interface and namespace names stay well under 15 characters.
P=${BNET_PREFIX:-bt$$}
WORK=${BNET_WORK:-/tmp/bnet-$P}
UNDERLAY=10.254.0
# GOSSIP_KEY=<base64> before cloud_up encrypts gossip (GOSSIP_KEY_N3=... gives
# node 3 another key); CLOUD_ALIVE is how many nodes must then find each other.
# UNDERLAY_MTU=9000 before cloud_up gives a jumbo underlay.
# CLOUD_CONF="key: value" before cloud_up adds a line to every node's config.
# NODE_NAMES="network cmpt1 cmpt2" names the nodes (default n1, n2, ...).
# NETWORK_NODES="1 2" says which nodes have the network role (default 1).
# SNAT_FENCE_DELAY=S sets snat_fence_delay (default: node-config.sh's --fast 1 s).
# A node_conf function, if the test defines one, is called as `node_conf I`
# once $WORK/nI exists: what it prints goes into node I's config alone.
UNDERLAY_MTU=${UNDERLAY_MTU:-1500}
NODES=0
RET=0

log() { printf '# %s\n' "$*"; }

# check_err RC MSG: record a failure of the current test step.
check_err() {
	if [ "$1" -ne 0 ] && [ "$RET" -eq 0 ]; then
		RET=$1
		MSG=$2
	fi
}

# log_test NAME: print the step's verdict and reset.
log_test() {
	if [ "$RET" -ne 0 ]; then
		printf 'TEST: %-60s [FAIL]\n' "$1"
		printf '#     %s\n' "${MSG:-}"
		FAILED=1
	else
		printf 'TEST: %-60s [ OK ]\n' "$1"
	fi
	RET=0
	MSG=
}

# busywait TIMEOUT_MS CMD...: poll CMD until it succeeds or time runs out.
busywait() {
	local timeout=$1
	shift
	local start now
	start=$(date +%s%N)
	while true; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		now=$(date +%s%N)
		if [ $(((now - start) / 1000000)) -ge "$timeout" ]; then
			return 1
		fi
		sleep 0.05
	done
}

require() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "SKIP: $t not installed"
			exit $KSFT_SKIP
		fi
	done
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# bn I ARGS...: run the bnet CLI against node I's agent and pins.
bn() {
	local i=$1
	shift
	BNET_SOCKET=$WORK/n$i/bnet.sock BNET_PIN_DIR=$(node_pin "$i") "$BNET" "$@"
}

# node_pin I: node I's pin directory: the I-th word of NODE_PINS, else one
# of this run's own under /sys/fs/bpf.
node_pin() {
	local -a node_pin_dirs
	read -ra node_pin_dirs <<<"${NODE_PINS:-}"
	echo "${node_pin_dirs[$(($1 - 1))]:-/sys/fs/bpf/$P-n$1}"
}

vtep() { echo "$UNDERLAY.$((10 + $1))"; }

cleanup() {
	local pid ns
	for pid in $(cat "$WORK"/n*/agent.pid 2>/dev/null); do
		kill -9 "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		# A namespace outlives nothing: what a test left running in it
		# (a server, a stream) would hold the runner's pipe open.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf /sys/fs/bpf/"$P"-* 2>/dev/null
	if [ "${BNET_KEEP_LOGS:-}" = "" ] && [ "${FAILED:-0}" = 0 ]; then
		rm -rf "$WORK"
	else
		echo "# logs kept in $WORK"
	fi
}

# start_agent I: (re)start node I's agent in its namespace. nsenter keeps the
# mount namespace, so the agent sees bpffs and /run/netns (ip netns exec
# would remount /sys and hide bpffs; see shared/KERNEL-NOTES.md).
start_agent() {
	local i=$1
	nsenter --net=/run/netns/$P-n$i "$BNET" agent --config "$WORK/n$i/bnet.yaml" \
		>>"$WORK/n$i/agent.log" 2>&1 &
	echo $! >"$WORK/n$i/agent.pid"
	# Still reaped by this shell, but a kill -9 in cleanup prints no
	# "Killed" job notice into the TAP output.
	disown $!
	busywait 10000 test -S "$WORK/n$i/bnet.sock" || {
		echo "agent n$i did not come up:"
		tail -20 "$WORK/n$i/agent.log"
		return 1
	}
}

stop_agent() {
	local i=$1 sig=${2:-TERM}
	local pid
	pid=$(cat "$WORK/n$i/agent.pid")
	kill -"$sig" "$pid" 2>/dev/null
	busywait 10000 bash -c "! kill -0 $pid 2>/dev/null"
	rm -f "$WORK/n$i/bnet.sock"
}

# alive_count I: how many agents node I sees alive.
alive_count() {
	bn "$1" -o json agent list | jq '[.agents[] | select(.alive)] | length'
}

# sees_alive I N: node I sees exactly N agents alive.
sees_alive() {
	[ "$(alive_count "$1")" = "$2" ]
}

# node_key_conf I: node I's --key-file option (none without a key), writing its key file.
node_key_conf() {
	local var="GOSSIP_KEY_N$1"
	local key=${!var:-${GOSSIP_KEY:-}}
	[ -n "$key" ] || return 0
	echo "$key" >"$WORK/n$1/gossip.key"
	echo "--key-file $WORK/n$1/gossip.key"
}

# node_name I: node I's name: the I-th word of NODE_NAMES, else nI.
node_name() {
	local node_names
	read -ra node_names <<<"${NODE_NAMES:-}"
	echo "${node_names[$(($1 - 1))]:-n$1}"
}

# node_extra_conf I: node I's own config lines, from the test's node_conf.
node_extra_conf() {
	if declare -F node_conf >/dev/null; then
		node_conf "$1"
	fi
}

# node_roles I: node I's roles.
node_roles() {
	case " ${NETWORK_NODES:-1} " in
	*" $1 "*) echo network,compute ;;
	*) echo compute ;;
	esac
}

# cloud_up N: N nodes, underlay, physnet and an outside host; agents running
# and gossiping with each other.
cloud_up() {
	local n=$1 i
	NODES=$n
	require jq nsenter ip
	[ -x "$BNET" ] || { echo "build bnet first ($BNET missing)"; exit $KSFT_FAIL; }
	trap cleanup EXIT
	# A PID can come back: never inherit a kept run's state, logs or pins.
	rm -rf "$WORK" /sys/fs/bpf/"$P"-*
	mkdir -p "$WORK"
	ip netns add "$P-ul"
	ip netns add "$P-ext"
	ip netns add "$P-out"
	for ns in "$P-ul" "$P-ext" "$P-out"; do
		in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		in_ns "$ns" ip link set lo up
	done
	in_ns "$P-ul" ip link add br0 mtu "$UNDERLAY_MTU" type bridge
	in_ns "$P-ul" ip link set br0 up
	in_ns "$P-ext" ip link add brx type bridge
	in_ns "$P-ext" ip link set brx up
	ip link add xo netns "$P-ext" type veth peer name eth0 netns "$P-out"
	in_ns "$P-ext" ip link set xo master brx up
	in_ns "$P-out" ip link set eth0 up
	for i in $(seq 1 "$n"); do
		ip netns add "$P-n$i"
		in_ns "$P-n$i" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
		in_ns "$P-n$i" ip link set lo up
		ip link add "u$i" netns "$P-ul" type veth peer name eth0 netns "$P-n$i"
		in_ns "$P-ul" ip link set "u$i" mtu "$UNDERLAY_MTU" master br0 up
		in_ns "$P-n$i" ip addr add "$(vtep "$i")/24" dev eth0
		in_ns "$P-n$i" ip link set eth0 mtu "$UNDERLAY_MTU" up
		ip link add "x$i" netns "$P-ext" type veth peer name eth-ext netns "$P-n$i"
		in_ns "$P-ext" ip link set "x$i" master brx up
		in_ns "$P-n$i" ip link set eth-ext up
		mkdir -p "$WORK/n$i"
		# shellcheck disable=SC2046 # node_key_conf gives an option and its value, or nothing
		{
			"$TOP/scripts/node-config.sh" --node "$(node_name "$i")" --local-ip "$(vtep "$i")" \
				--roles "$(node_roles "$i")" ${SNAT_FENCE_DELAY:+--snat-fence-delay "$SNAT_FENCE_DELAY"} ${BNET_ATTACH:+--attach "$BNET_ATTACH"} \
				--physnet public=eth-ext --join "$(vtep 1):7946" --fast $(node_key_conf "$i") \
				--api-socket "$WORK/n$i/bnet.sock" --api-listen 127.0.0.1:9696 \
				--pin-dir "$(node_pin "$i")" --state-dir "$WORK/n$i/state" \
				--underlay-mtu "$UNDERLAY_MTU" --log-level "${BNET_LOG_LEVEL:-info}" --netns-prefix "$P-n$i-"
			echo "${CLOUD_CONF:-}"
			node_extra_conf "$i"
		} >"$WORK/n$i/bnet.yaml"
		start_agent "$i" || exit $KSFT_FAIL
	done
	if ! busywait 20000 sees_alive 1 "${CLOUD_ALIVE:-$n}"; then
		echo "cluster did not form: n1 sees $(alive_count 1) of ${CLOUD_ALIVE:-$n} alive"
		exit $KSFT_FAIL
	fi
}

# sg_open I: let any IPv4 in through the admin project's default security
# group (seed 001: it admits only its own members), for tests about
# routing, NAT or tunnels whose traffic comes from outside the group.
sg_open() {
	bn "$1" sg rule add default --direction ingress --remote-ip 0.0.0.0/0 >/dev/null || {
		echo "sg rule add on n$1 failed"
		return 1
	}
}

# vm_ping NS IP: one quick ping from a VM namespace.
vm_ping() {
	in_ns "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1
}

# capture_start NS IFACE FILTER: start tcpdump; sets CAP_PID and CAP_FILE.
capture_start() {
	CAP_FILE=$(mktemp "$WORK/cap.XXXXXX")
	# ip netns exec execs tcpdump, so $! is tcpdump itself and kill stops it.
	ip netns exec "$1" tcpdump -Z root --immediate-mode -i "$2" -nn -U -w "$CAP_FILE" "$3" >/dev/null 2>&1 &
	CAP_PID=$!
	# tcpdump needs a moment to open the socket; wait for the file header.
	busywait 5000 test -s "$CAP_FILE"
	sleep 0.3
}

# capture_stop [FILE PID]: stop the capture (the last one started, or the
# one whose CAP_FILE and CAP_PID were kept) and print how many packets it
# saw: packets, not lines (tcpdump prints a tunnel packet's inner frame on
# a line of its own).
capture_stop() {
	local file=${1:-$CAP_FILE} pid=${2:-$CAP_PID} n
	sleep 0.3
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	n=$(tcpdump --count -r "$file" 2>/dev/null | awk '{print $1}')
	echo "${n:-0}"
}

# seen_on I KIND NAME: wait until node I's agent knows object NAME (gossip).
# Records travel independently: a subnet or port can arrive before its
# network, so waiting for one waits for its network too.
# A broadcast lost under load arrives with the next push/pull (5 s in Fast
# mode), so each wait covers two of those.
seen_on() {
	busywait 12000 bn "$1" "$2" show "$3" || {
		echo "node n$1 never saw $2 $3"
		return 1
	}
	local net
	net=$(bn "$1" -o json "$2" show "$3" | jq -r ".$2.network_id // empty")
	if [ -n "$net" ] && ! busywait 12000 bn "$1" network show "$net"; then
		echo "node n$1 saw $2 $3 but never its network $net"
		return 1
	fi
}

# seen_everywhere KIND NAME: wait until every node knows NAME.
seen_everywhere() {
	local i
	for i in $(seq 1 "$NODES"); do
		seen_on "$i" "$1" "$2" || return 1
	done
}
