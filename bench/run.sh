#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make bench: bnet side by side with the kernel's own paths, measured in one
# run on this machine, written to bench/results/ as markdown and JSON.
# Not part of make test. Everything lives in namespaces named bb-*; nothing
# leaves them, and all of it is removed on exit.
#
#  same node                                   across nodes (underlay: a bridge in its own netns)
#  veth      bb-va ========== bb-vb            bridge-vxlan bb-xa - br+vxlan42 (bb-x1) ~ bb-xu ~ (bb-x2) br+vxlan42 - bb-xb
#  bridge    bb-ba -- br0 (bb-br) -- bb-bb     bnet-vxlan   vm1@n1 - bnet_port_in - bnet-vxlan ~ bb-ul ~ n2 - vm3
#  bnet-l2   vm1@n1 -- bnet_port_in -- vm2@n1  bnet-gre     g1@n1 - GRE in BPF ~ bb-ul ~ n2 - g2
#  bnet-sgN  sNa@n1 -- N rules on sNb -- sNb   bnet-dvr     vm1@n1 (10.81/24) - r1 in BPF ~ n2 - d2 (10.84/24)
#
#  outside host to a VM behind 1:1 NAT
#  nat-router  bb-no - brx (bb-ne) - bb-nr (nftables dnat/snat, forwarding) - bb-nv
#  bnet-fip    bb-out - brx (bb-ext) - n2 eth-ext - bnet_phys_in (NAT in BPF) - f2@n2
#
# Knobs (environment): BENCH_TIME seconds per test (5); BENCH_REPS rounds of
# every test on every path, interleaved, medians reported (3); BENCH_ONLY a
# regexp of the paths to measure; BENCH_SKIP words among "datapath stats
# control gossip"; CP_PORTS ports timed by the control-plane test (50);
# BENCH_HOLD=1 stops once everything is up (poke at it; rm $BENCH_RUN/hold
# to go on); BENCH_RESULTS (bench/results) and BENCH_RUN (raw outputs,
# /tmp/bnet-bench-run). See docs/performance.md.
export BNET_PREFIX=bb BNET_WORK=/tmp/bnet-bench NODE_NAMES="n1 n2"
# Per-port connection budget: crr opens thousands of connections a second
# and each holds a ct entry 10 s after its close (docs/performance.md).
CLOUD_CONF="security: {ct_max: 524288, ct_port_max: 131072, ct_source_max: 131072}"
# shellcheck source=kselftest/lib.sh
source "$(dirname "$0")/../kselftest/lib.sh"
require iperf3 jq nsenter ip nft taskset

T=${BENCH_TIME:-5}
REPS=${BENCH_REPS:-3}
ONLY=${BENCH_ONLY:-.}
CP_PORTS=${CP_PORTS:-50}
SKIP=${BENCH_SKIP:-}
BB=${BNETBENCH:-$TOP/bin/bnetbench}
RESULTS=${BENCH_RESULTS:-$TOP/bench/results}
RUN=${BENCH_RUN:-/tmp/bnet-bench-run}
# Request/response client and server share one CPU: a transaction is then
# all the CPU work of the path and back (both stacks, softirqs, BPF), not
# cross-CPU wake-ups, which on a shared VM vary more than the paths do.
RR_CPU=$(($(nproc) - 1))
[ -x "$BB" ] || { echo "build bin/bnetbench first (make bench does)"; exit 1; }

skipped() { [[ " $SKIP " == *" $1 "* ]]; }

# purge: what a run killed hard may have left behind.
purge() {
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf /sys/fs/bpf/"$P"-* 2>/dev/null
}

STATS_WAS=
bench_cleanup() {
	[ -z "$STATS_WAS" ] || sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	# The servers are this shell's jobs: end them before lib.sh's cleanup
	# waits for its children.
	local ns
	for ns in $(ip netns list | awk '{print $1}' | grep "^$P-"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	cleanup
}

# nobrnf NS: no netfilter on bridged frames in NS (on by default here; the
# setting is per namespace on this kernel, so the host's stays as it is).
nobrnf() {
	local k
	for k in iptables ip6tables arptables; do
		in_ns "$1" sysctl -qw "net.bridge.bridge-nf-call-$k=0" 2>/dev/null
	done
}

newns() {
	ip netns add "$1"
	in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	in_ns "$1" ip link set lo up
}

# vm NS IF ADDR/LEN [GW]: address a VM end and bring it up at MTU 1450,
# what bnet gives a VXLAN network's ports.
vm_if() {
	in_ns "$1" ip link set "$2" mtu 1450 up
	in_ns "$1" ip addr add "$3" dev "$2"
	[ -z "${4:-}" ] || in_ns "$1" ip route add default via "$4"
}

baselines_up() {
	# veth: the ceiling, two namespaces and one veth pair.
	newns "$P-va"
	newns "$P-vb"
	ip link add eth0 netns "$P-va" type veth peer name eth0 netns "$P-vb"
	vm_if "$P-va" eth0 10.91.0.1/24
	vm_if "$P-vb" eth0 10.91.0.2/24

	# bridge: one Linux bridge on one node.
	newns "$P-br"
	nobrnf "$P-br"
	in_ns "$P-br" ip link add br0 type bridge
	in_ns "$P-br" ip link set br0 up
	local x
	for x in a b; do
		newns "$P-b$x"
		ip link add "t$x" netns "$P-br" type veth peer name eth0 netns "$P-b$x"
		in_ns "$P-br" ip link set "t$x" master br0 up
	done
	vm_if "$P-ba" eth0 10.92.0.1/24
	vm_if "$P-bb" eth0 10.92.0.2/24

	# bridge-vxlan: a bridge and a VXLAN device per node, static FDB (no
	# learning, no multicast), as the linuxbridge agent with l2population
	# or flannel's vxlan backend do; the underlay is a bridge in its own
	# namespace as in the bnet cloud.
	newns "$P-xu"
	nobrnf "$P-xu"
	in_ns "$P-xu" ip link add br0 type bridge
	in_ns "$P-xu" ip link set br0 up
	local i peer
	for i in 1 2; do
		newns "$P-x$i"
		nobrnf "$P-x$i"
		ip link add "u$i" netns "$P-xu" type veth peer name eth0 netns "$P-x$i"
		in_ns "$P-xu" ip link set "u$i" master br0 up
		in_ns "$P-x$i" ip addr add "10.253.0.$i/24" dev eth0
		in_ns "$P-x$i" ip link set eth0 up
		in_ns "$P-x$i" ip link add brv type bridge
		in_ns "$P-x$i" ip link add vxlan42 type vxlan id 42 local "10.253.0.$i" dev eth0 dstport 4789 nolearning
		in_ns "$P-x$i" ip link set vxlan42 master brv up
		in_ns "$P-x$i" ip link set brv up
		newns "$P-x$([ "$i" = 1 ] && echo a || echo b)"
	done
	ip link add tv netns "$P-x1" type veth peer name eth0 netns "$P-xa"
	ip link add tv netns "$P-x2" type veth peer name eth0 netns "$P-xb"
	vm_if "$P-xa" eth0 10.93.0.1/24
	vm_if "$P-xb" eth0 10.93.0.2/24
	for i in 1 2; do
		peer=$((3 - i))
		in_ns "$P-x$i" ip link set tv master brv up
		in_ns "$P-x$i" bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst "10.253.0.$peer"
		in_ns "$P-x$i" bridge fdb append "$(in_ns "$P-x$([ "$peer" = 1 ] && echo a || echo b)" cat /sys/class/net/eth0/address)" \
			dev vxlan42 dst "10.253.0.$peer"
	done

	# nat-router: an outside host on an external bridge, a router
	# namespace doing 1:1 NAT with nftables (what a Neutron qrouter does for
	# a floating IP with iptables), the VM behind it.
	newns "$P-no"
	newns "$P-ne"
	newns "$P-nr"
	newns "$P-nv"
	nobrnf "$P-ne"
	in_ns "$P-ne" ip link add brx type bridge
	in_ns "$P-ne" ip link set brx up
	ip link add xo netns "$P-ne" type veth peer name eth0 netns "$P-no"
	ip link add xr netns "$P-ne" type veth peer name qg netns "$P-nr"
	in_ns "$P-ne" ip link set xo master brx up
	in_ns "$P-ne" ip link set xr master brx up
	in_ns "$P-no" ip addr add 203.0.114.1/24 dev eth0
	in_ns "$P-no" ip link set eth0 up
	in_ns "$P-nr" ip addr add 203.0.114.2/24 dev qg
	in_ns "$P-nr" ip addr add 203.0.114.10/32 dev qg
	in_ns "$P-nr" ip link set qg up
	ip link add qr netns "$P-nr" type veth peer name eth0 netns "$P-nv"
	in_ns "$P-nr" ip link set qr mtu 1450 up
	in_ns "$P-nr" ip addr add 10.94.0.1/24 dev qr
	in_ns "$P-nr" sysctl -qw net.ipv4.ip_forward=1
	vm_if "$P-nv" eth0 10.94.0.2/24 10.94.0.1
	in_ns "$P-nr" nft -f - <<-'EOF'
		table ip nat {
			chain pre { type nat hook prerouting priority dstnat; ip daddr 203.0.114.10 dnat to 10.94.0.2; }
			chain post { type nat hook postrouting priority srcnat; ip saddr 10.94.0.2 snat to 203.0.114.10; }
		}
	EOF
}

# mkport NODE ARGS...: bnet port create on NODE, or give up.
mkport() {
	bn "$1" port create "${@:2}" >/dev/null || { echo "port create ${*:2} on n$1 failed"; exit 1; }
}

# bnet_up: a 2-node cloud (lib.sh) with every bnet path of the table.
bnet_up() {
	cloud_up 2
	trap bench_cleanup EXIT
	local ns
	for ns in "$P-ul" "$P-ext"; do nobrnf "$ns"; done
	bn 1 network create public --type flat --physnet public --external >/dev/null
	bn 1 subnet create public-sub --network public --cidr 203.0.113.0/24 --gateway 203.0.113.1 >/dev/null
	bn 1 network create l2 --type vxlan --segment 101 >/dev/null
	bn 1 subnet create l2-sub --network l2 --cidr 10.81.0.0/24 >/dev/null
	bn 1 network create nosec --type vxlan --segment 102 >/dev/null
	bn 1 subnet create nosec-sub --network nosec --cidr 10.82.0.0/24 >/dev/null
	bn 1 network create gre --type gre --segment 103 >/dev/null
	bn 1 subnet create gre-sub --network gre --cidr 10.83.0.0/24 >/dev/null
	bn 1 network create rt --type vxlan --segment 104 >/dev/null
	bn 1 subnet create rt-sub --network rt --cidr 10.84.0.0/24 >/dev/null
	bn 1 network create sg --type vxlan --segment 105 >/dev/null
	bn 1 subnet create sg-sub --network sg --cidr 10.85.0.0/24 >/dev/null
	bn 1 network create cp --type vxlan --segment 106 >/dev/null
	bn 1 subnet create cp-sub --network cp --cidr 10.86.0.0/24 >/dev/null
	bn 1 router create r1 --distributed --external-network public >/dev/null
	bn 1 router add-interface r1 l2-sub >/dev/null
	bn 1 router add-interface r1 rt-sub >/dev/null
	bn 1 sg create open >/dev/null
	bn 1 sg rule add open --direction ingress --remote-ip 0.0.0.0/0 >/dev/null
	local n
	# The groups the SG paths use are made with one bulk POST each; the
	# same groups one POST per rule (unused by any port) show what a
	# client without bulk create pays.
	for n in 1 100 1000; do
		"$BB" sgrules -socket "$WORK/n1/bnet.sock" -group "sg$n" -n "$n" -client 10.85.0.0/24 -bulk >"$RUN/cp/sgrules-$n.json" ||
			{ echo "creating $n rules failed"; exit 1; }
		"$BB" sgrules -socket "$WORK/n1/bnet.sock" -group "sg$n-each" -n "$n" -client 10.85.0.0/24 >"$RUN/cp/sgrules-$n-each.json" ||
			{ echo "creating $n rules one by one failed"; exit 1; }
	done
	for s in public-sub l2-sub nosec-sub gre-sub rt-sub sg-sub cp-sub; do seen_everywhere subnet "$s" || exit 1; done
	seen_everywhere router r1 || exit 1
	seen_on 2 sg open || exit 1
	mkport 1 vm1 --network l2 --ip 10.81.0.11 --netns "$P-vm1"
	mkport 1 vm2 --network l2 --ip 10.81.0.12 --netns "$P-vm2"
	mkport 2 vm3 --network l2 --ip 10.81.0.13 --netns "$P-vm3"
	mkport 2 f2 --network l2 --ip 10.81.0.22 --netns "$P-f2" --sg open
	mkport 1 p1 --network nosec --ip 10.82.0.11 --netns "$P-p1" --no-port-security
	mkport 1 p2 --network nosec --ip 10.82.0.12 --netns "$P-p2" --no-port-security
	mkport 2 p3 --network nosec --ip 10.82.0.13 --netns "$P-p3" --no-port-security
	mkport 1 g1 --network gre --ip 10.83.0.11 --netns "$P-g1"
	mkport 2 g2 --network gre --ip 10.83.0.12 --netns "$P-g2"
	mkport 2 d2 --network rt --ip 10.84.0.12 --netns "$P-d2"
	local ip=10
	for n in 1 100 1000; do
		ip=$((ip + 10))
		mkport 1 "s${n}a" --network sg --ip "10.85.0.$((ip + 1))" --netns "$P-s${n}a" --sg "sg$n"
		mkport 1 "s${n}b" --network sg --ip "10.85.0.$((ip + 2))" --netns "$P-s${n}b" --sg "sg$n"
	done
	mkport 2 cpp --network cp --ip 10.86.0.5 --netns "$P-cpp"
	in_ns "$P-out" ip addr add 203.0.113.1/24 dev eth0
	FIP=$(bn 1 -o json fip create --network public | jq -r .floatingip.floating_ip_address)
	seen_on 1 port f2 || exit 1
	bn 1 fip associate "$FIP" f2 >/dev/null || { echo "fip associate failed"; exit 1; }
}

# The paths: name|kind|client netns|server netns|server IP|baselines|what it is.
paths() {
	cat <<-EOF
		veth|same|$P-va|$P-vb|10.91.0.2||bare veth pair between two namespaces (the ceiling)
		bridge|same|$P-ba|$P-bb|10.92.0.2|veth|Linux bridge, bridge-nf-call-iptables off
		bnet-l2-nosec|same|$P-p1|$P-p2|10.82.0.12|veth,bridge|bnet L2 same node, no port security
		bnet-l2|same|$P-vm1|$P-vm2|10.81.0.12|veth,bridge|bnet L2 same node, port security + default group
		bnet-sg1|same|$P-s1a|$P-s1b|10.85.0.22|veth,bridge|bnet L2 same node, a group of 1 rule
		bnet-sg100|same|$P-s100a|$P-s100b|10.85.0.32|veth,bridge|bnet L2 same node, a group of 100 rules
		bnet-sg1000|same|$P-s1000a|$P-s1000b|10.85.0.42|veth,bridge|bnet L2 same node, a group of 1,000 rules
		bridge-vxlan|cross|$P-xa|$P-xb|10.93.0.2||Linux bridge + kernel VXLAN, static FDB
		bnet-vxlan-nosec|cross|$P-p1|$P-p3|10.82.0.13|bridge-vxlan|bnet VXLAN, no port security
		bnet-vxlan|cross|$P-vm1|$P-vm3|10.81.0.13|bridge-vxlan|bnet VXLAN, port security + default group
		bnet-gre|cross|$P-g1|$P-g2|10.83.0.12|bridge-vxlan|bnet GRE (encap/decap in BPF), default group
		bnet-dvr|cross|$P-vm1|$P-d2|10.84.0.12|bridge-vxlan|bnet DVR: routed in BPF on n1, VXLAN to n2, default group
		nat-router|nat|$P-no|$P-nv|203.0.114.10||outside → bridge → router netns (nftables 1:1 NAT) → VM
		bnet-fip|nat|$P-out|$P-f2|$FIP|nat-router|outside → bridge → n2 (floating IP, NAT in BPF) → VM
	EOF
}

servers_up() {
	local name cns sns sip
	while IFS='|' read -r name _ cns sns sip _; do
		[[ $name =~ $ONLY ]] || continue
		if [ ! -e "$RUN/servers.$sns" ]; then
			in_ns "$sns" iperf3 -s >/dev/null 2>&1 &
			in_ns "$sns" taskset -c "$RR_CPU" "$BB" rr-server -rr :5202 -crr :5203 >/dev/null 2>&1 &
			touch "$RUN/servers.$sns"
		fi
	done < <(paths)
	sleep 0.5
	while IFS='|' read -r name _ cns sns sip _; do
		[[ $name =~ $ONLY ]] || continue
		if ! busywait 10000 vm_ping "$cns" "$sip" ||
			! busywait 5000 in_ns "$cns" "$BB" rr -time 100ms "$sip:5202"; then
			echo "# $name: $cns cannot reach $sip; its rows will be empty"
		fi
	done < <(paths)
}

# measure NAME CLIENT_NS IP TEST REP: one test, raw output kept.
measure() {
	local name=$1 cns=$2 ip=$3 test=$4 rep=$5 out
	out="$RUN/m/$name.$test.$rep.json"
	case $test in
	tcp1) timeout $((T + 15)) ip netns exec "$cns" iperf3 -c "$ip" -t "$T" -J >"$out" 2>&1 ;;
	tcp4) timeout $((T + 15)) ip netns exec "$cns" iperf3 -c "$ip" -t "$T" -P 4 -J >"$out" 2>&1 ;;
	udp64) timeout $((T + 15)) ip netns exec "$cns" iperf3 -c "$ip" -t "$T" -u -b 0 -l 64 -J >"$out" 2>&1 ;;
	rr) timeout $((T + 15)) ip netns exec "$cns" taskset -c "$RR_CPU" "$BB" rr -time "${T}s" "$ip:5202" >"$out" 2>&1 ;;
	crr) timeout $((T + 15)) ip netns exec "$cns" taskset -c "$RR_CPU" "$BB" rr -crr -time "${T}s" "$ip:5203" >"$out" 2>&1 ;;
	esac || echo "# $name $test (round $rep) failed: $(tail -c 300 "$out" | tr '\n' ' ')"
	sleep 0.3
}

TESTS="tcp1 tcp4 udp64 rr crr"

# datapath: every test on every path, REPS rounds. A test runs on all
# paths back to back, so a path and its baseline are measured minutes
# apart at most, whatever else the machine is doing.
datapath() {
	local rep name cns sns sip test
	for rep in $(seq 1 "$REPS"); do
		for test in $TESTS; do
			log "round $rep/$REPS: $test"
			while IFS='|' read -r name _ cns sns sip _; do
				[[ $name =~ $ONLY ]] || continue
				measure "$name" "$cns" "$sip" "$test" "$rep"
			done < <(paths)
		done
	done
}

# prog_stats: the BPF programs of both agents, with run-time counters.
prog_stats() { "$BB" progstats "/sys/fs/bpf/$P-n1" "/sys/fs/bpf/$P-n2"; }

# stats: nanoseconds per program run on each bnet path (rr: small packets
# one at a time; tcp1: a stream of GSO packets), with the kernel's BPF
# run-time statistics on only for this phase (they cost time themselves).
stats() {
	local name cns sns sip test
	STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
	sysctl -qw kernel.bpf_stats_enabled=1
	while IFS='|' read -r name _ cns sns sip _; do
		[[ $name == bnet-* && $name =~ $ONLY ]] || continue
		log "program run times: $name"
		for test in rr tcp1; do
			prog_stats >"$RUN/stats/$name.$test.before.json"
			measure "$name" "$cns" "$sip" "$test" stats
			prog_stats >"$RUN/stats/$name.$test.after.json"
		done
	done < <(paths)
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	STATS_WAS=
}

control() {
	log "control plane: $CP_PORTS ports created on n1, pinged from n2"
	"$BB" portlat -bnet "$BNET" -socket "$WORK/n1/bnet.sock" -remote-pin-dir "/sys/fs/bpf/$P-n2" \
		-network cp -pinger "$P-cpp" -netns-prefix "$P-cp" -ip-base 10.86.0.10 -n "$CP_PORTS" >"$RUN/cp/portlat.json"
	log "control plane: map writes"
	"$BB" mapload -pin-dir "/sys/fs/bpf/$P-mapload" >"$RUN/cp/mapload.json"
	agent_memory
}

# agent_memory: n1's agent RSS before and after a simulated node (a store
# and gossip member in bnetbench, on n2's underlay address) hands it
# MEM_PORTS remote ports of a network n1 has a port in.
agent_memory() {
	local n=${MEM_PORTS:-10000} pid net sub sim start end before peak after f=0
	log "control plane: agent memory with $n remote ports"
	bn 1 network create mem --type vxlan --segment 190 >/dev/null
	bn 1 subnet create mem-sub --network mem --cidr 10.90.0.0/16 >/dev/null
	seen_everywhere subnet mem-sub || exit 1
	mkport 1 mem1 --network mem --ip 10.90.0.11 --netns "$P-mem1"
	net=$(bn 1 -o json network show mem | jq -r .network.id)
	sub=$(bn 1 -o json subnet show mem-sub | jq -r .subnet.id)
	pid=$(cat "$WORK/n1/agent.pid")
	sleep 3
	before=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	in_ns "$P-n2" "$BB" remoteports -bind "$(vtep 2):7950" -join "$(vtep 1):7946" -dir "$WORK/sim" \
		-network "$net" -subnet "$sub" -cidr 10.90.0.0/16 -n "$n" 2>/dev/null &
	sim=$!
	start=$(date +%s.%N)
	for _ in $(seq 1 300); do
		f=$(bn 1 -o json fdb list | jq '.fdb | length')
		[ "$f" -ge "$n" ] && break
		sleep 1
	done
	end=$(date +%s.%N)
	peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	sleep 10
	after=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	jq -n --argjson n "$n" --argjson fdb "$f" --argjson before "$before" --argjson after "$after" \
		--argjson peak "$peak" --argjson t0 "$start" --argjson t1 "$end" \
		'{remote_ports: $n, fdb_entries: $fdb, rss_kb_before: $before, rss_kb_after: $after,
		  rss_kb_peak: $peak, seconds_to_program: ($t1 - $t0)}' >"$RUN/cp/agentmem.json"
	kill "$sim"
	wait "$sim" 2>/dev/null
}

gossip() {
	log "gossip: simulated members in one process"
	"$BB" gossip >"$RUN/cp/gossip.json"
}

# agents_cpu: CPU seconds each agent used since it started, and how long
# that was: what the control plane costs while the data path is measured.
agents_cpu() {
	local i st tick up
	tick=$(getconf CLK_TCK)
	read -r up _ </proc/uptime
	for i in 1 2; do
		read -r -a st <"/proc/$(cat "$WORK/n$i/agent.pid")/stat" || continue
		jq -n --arg n "n$i" --argjson cpu "$(((st[13] + st[14]) * 100 / tick))" \
			--argjson wall "$(awk -v u="$up" -v s="${st[21]}" -v t="$tick" 'BEGIN {printf "%d", (u - s / t) * 100}')" \
			'{($n): {cpu_s: ($cpu / 100), wall_s: ($wall / 100)}}'
	done | jq -s 'add // {}'
}

meta() {
	jq -n --arg kernel "$(uname -r)" --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		--argjson cpus "$(nproc)" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg commit "$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo unknown)" \
		--arg iperf3 "$(iperf3 --version | head -1)" --argjson seconds "$T" --argjson reps "$REPS" \
		--arg load_start "$LOAD_START" --arg load_end "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson agents "$(agents_cpu)" \
		'{kernel: $kernel, cpu: $cpu, cpus: $cpus, date: $date, commit: $commit, iperf3: $iperf3,
		  seconds_per_test: $seconds, rounds: $reps, loadavg_start: $load_start, loadavg_end: $load_end, agents: $agents}'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
purge
rm -rf "$RUN"
mkdir -p "$RUN/m" "$RUN/stats" "$RUN/cp" "$RESULTS"
trap bench_cleanup EXIT
: "${BNET_LOG_LEVEL:=warn}"
export BNET_LOG_LEVEL
log "baselines"
baselines_up
log "bnet cloud"
bnet_up
paths >"$RUN/paths.txt"
servers_up
if [ -n "${BENCH_HOLD:-}" ]; then
	touch "$RUN/hold"
	log "holding: everything is up (bn I ... works after sourcing kselftest/lib.sh with BNET_PREFIX=$P BNET_WORK=$WORK); rm $RUN/hold to go on"
	while [ -e "$RUN/hold" ]; do sleep 1; done
fi
skipped datapath || datapath
skipped stats || stats
skipped control || control
skipped gossip || gossip
meta >"$RUN/meta.json"
stamp=$(date -u +%Y%m%d-%H%M%S)
"$BB" report -dir "$RUN" -json "$RESULTS/bench-$stamp.json" >"$RESULTS/bench-$stamp.md" || exit 1
cp "$RESULTS/bench-$stamp.json" "$RESULTS/latest.json"
cp "$RESULTS/bench-$stamp.md" "$RESULTS/latest.md"
cat "$RESULTS/latest.md"
echo
echo "written: $RESULTS/bench-$stamp.md and .json (also latest.md, latest.json); raw output in $RUN"
