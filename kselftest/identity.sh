#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Node identities: each node holds a certificate of the cluster CA binding
# its name to its VTEP, signs every record it writes, and believes the
# others only within their certificates. A node with the gossip key but
# another CA's certificate is heard by nobody; a node with a valid
# certificate may announce its own ports at its own VTEP and nothing else —
# a VTEP that is not its own makes it untrusted (its ports unprogrammed, its
# VXLAN not admitted), and ports it writes bound to another host are
# refused by every receiver.
#
#   n1, n2: honest, certified   n3: honest, then another CA's, then a rogue
#   (kselftest/rogue: valid certificate, lies about its VTEP, forges ports
#   bound to n2)
source "$(dirname "$0")/lib.sh"
require ping python3 nft go
GOSSIP_KEY=$("$BNET" keygen)

# Every node certified by the cluster CA for its own VTEP.
node_conf() {
	local i=$1
	[ -f "$WORK/ca/ca.key" ] || "$BNET" ca init --dir "$WORK/ca" >/dev/null
	"$BNET" ca issue "n$i" --vtep "$(vtep "$i")" --dir "$WORK/ca" --out "$WORK/n$i/id" >/dev/null
	echo "identity: {ca: $WORK/ca/ca.crt, cert: $WORK/n$i/id/n$i.crt, key: $WORK/n$i/id/n$i.key}"
}
cloud_up 3

# set_identity I CA CERT: node I's config names another identity.
set_identity() {
	sed -i "s#^identity: .*#identity: {ca: $2, cert: $3, key: ${3%.crt}.key}#" "$WORK/n$1/bnet.yaml"
}
# fdb_has I MAC VTEP: node I forwards MAC to VTEP.
fdb_has() {
	bn "$1" -o json fdb list | jq -e --arg m "$2" --arg v "$3" '.fdb[] | select(.mac == $m and .vtep == $v)' >/dev/null
}
fdb_knows() {
	bn "$1" -o json fdb list | jq -e --arg m "$2" '.fdb[] | select(.mac == $m)' >/dev/null
}
alive_on() { # alive_on I NODE: I's agent list says NODE is alive
	bn "$1" -o json agent list | jq -e --arg h "$2" '.agents[] | select(.host == $h and .alive)' >/dev/null
}
members() { in_ns "$P-n1" nft list set ip bnet_underlay vteps | tr -d '\n' | grep -o 'elements = {[^}]*}'; }
guard_drops() { in_ns "$P-n1" nft list table ip bnet_underlay | awk '/counter/ {for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}'; }
drops_over() { [ "$(guard_drops)" -gt "$1" ]; }
logged() { grep -q -- "$1" "$WORK/n1/agent.log"; }

# ---- an agent starts only under its own certificate
"$BNET" ca init --dir "$WORK/ca2" >/dev/null
"$BNET" ca issue n1 --vtep "$UNDERLAY.99" --dir "$WORK/ca" --out "$WORK/bad" >/dev/null
# bad CA CERT WANT: n1's config with that identity (and a state dir of its
# own) must fail at once, with one line saying WANT.
bad() {
	rm -rf "$WORK/badstate"
	sed -e "s#^state_dir: .*#state_dir: $WORK/badstate#" \
		-e "s#^identity: .*#identity: {ca: $1, cert: $2, key: ${2%.crt}.key}#" "$WORK/n1/bnet.yaml" >"$WORK/bad.yaml"
	local out rc
	out=$(timeout 10 "$BNET" agent --config "$WORK/bad.yaml" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"$3"* ]]
	check_err $? "agent with $2 under $1: exit $rc, said: $out (want one line with: $3)"
}
bad "$WORK/ca/ca.crt" "$WORK/n2/id/n2.crt" 'certificate is for node "n2"'
bad "$WORK/ca/ca.crt" "$WORK/bad/n1.crt" "certificate is for VTEP $UNDERLAY.99"
bad "$WORK/ca2/ca.crt" "$WORK/n1/id/n1.crt" "not signed by this cluster's CA"
log_test "an agent refuses to start under a certificate that is not its own"

# ---- signed records replicate and forward
bn 1 network create net1 --type vxlan --segment 801 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.80.1.0/24 >/dev/null
seen_everywhere subnet sub1 || exit 1
bn 1 port create a --network net1 --ip 10.80.1.11 --netns "$P-a" >/dev/null
bn 2 port create b --network net1 --ip 10.80.1.12 --netns "$P-b" >/dev/null
busywait 12000 vm_ping "$P-a" 10.80.1.12
check_err $? "a (n1) cannot ping b (n2)"
mac_a=$(bn 1 -o json port show a | jq -r .port.mac_address)
mac_b=$(bn 2 -o json port show b | jq -r .port.mac_address)
fdb_has 1 "$mac_b" "$(vtep 2)"
check_err $? "n1 does not forward b's MAC $mac_b to n2"
bn 1 -o json port show b | jq -e '.port["binding:host_id"] == "n2"' >/dev/null
check_err $? "n1 does not hold b bound to n2"
log_test "signed records replicate: a port on n2 is programmed on n1"

out=$(bn 1 port create x --network net1 --host n2 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"bound to host n2"* ]]
check_err $? "port create --host n2 on n1: $out"
! bn 2 port show x >/dev/null 2>&1
check_err $? "the refused port reached n2"
log_test "a port is bound to another host only through that host's agent"

# ---- n3 under another CA: nothing of it is believed
stop_agent 3
"$BNET" ca issue n3 --vtep "$(vtep 3)" --dir "$WORK/ca2" --out "$WORK/n3/id2" >/dev/null
set_identity 3 "$WORK/ca2/ca.crt" "$WORK/n3/id2/n3.crt"
start_agent 3 || exit 1
bn 3 network create evil --type vxlan --segment 802 >/dev/null
bn 3 port create c --network net1 --ip 10.80.1.13 --netns "$P-c" >/dev/null
mac_c=$(bn 3 -o json port show c | jq -r .port.mac_address)
sleep 6 # broadcasts, and one push/pull (5 s in fast mode)
! bn 1 network show evil >/dev/null 2>&1 && ! bn 1 port show c >/dev/null 2>&1
check_err $? "a record of n3 (another CA) reached n1"
! fdb_knows 1 "$mac_c"
check_err $? "n1 forwards c's MAC $mac_c (n3, another CA)"
! alive_on 1 n3
check_err $? "n1 lists n3 (another CA) as alive"
[[ "$(members)" != *"$(vtep 3)"* ]]
check_err $? "n1 admits VXLAN from n3 (another CA): $(members)"
n1mac=$(in_ns "$P-n1" cat /sys/class/net/eth0/address)
g=$(guard_drops)
in_ns "$P-n3" python3 "$LIB_DIR/tunnel_forge.py" eth0 "$n1mac" "$(vtep 3)" "$(vtep 1)" 801 "$mac_a" "$mac_c" vxlan
busywait 2000 drops_over "$g"
check_err $? "VXLAN from n3 (another CA) not dropped by n1's member set (drops $g -> $(guard_drops))"
logged "not signed by this cluster's CA"
check_err $? "n1's log does not say why n3 is refused"
log_test "a node certified by another CA: its records refused, its VXLAN not admitted"

# ---- a rogue with a valid certificate: a VTEP not its own, ports of n2
stop_agent 3
(cd "$TOP" && go build -o "$WORK/rogue" ./kselftest/rogue) || {
	echo "building kselftest/rogue failed"
	exit 1
}
"$BNET" ca issue n3 --vtep "$(vtep 3)" --dir "$WORK/ca" --out "$WORK/n3/id3" >/dev/null
b=$(bn 1 -o json port show b | jq -c '.port | del(.status)')
b_id=$(jq -r .id <<<"$b")
ghost_id=$(cat /proc/sys/kernel/random/uuid)
own_id=$(cat /proc/sys/kernel/random/uuid)
{
	# n2's port b, moved to another MAC: still "bound to n2", written by n3.
	echo "port $b_id $(jq -c '.mac_address = "fa:16:3e:66:66:66"' <<<"$b")"
	# A new port bound to n2, announcing an address n2 never took.
	echo "port $ghost_id $(jq -c --arg id "$ghost_id" '.id = $id | .name = "ghost" | .mac_address = "fa:16:3e:77:77:77" | .fixed_ips[0].ip_address = "10.80.1.77"' <<<"$b")"
	# Its own port: this it may announce.
	echo "port $own_id $(jq -c --arg id "$own_id" '.id = $id | .name = "own3" | .mac_address = "fa:16:3e:33:33:33" | .fixed_ips[0].ip_address = "10.80.1.33" | .["binding:host_id"] = "n3"' <<<"$b")"
} >"$WORK/forged"
# rogue VTEP [RECORDS]: run the rogue as n3, announcing VTEP.
rogue() {
	nsenter --net="/run/netns/$P-n3" "$WORK/rogue" -node n3 -state "$WORK/n3/rogue" \
		-bind "$(vtep 3):7946" -join "$(vtep 1):7946" -vtep "$1" -gossip-key "$WORK/n3/gossip.key" \
		-ca "$WORK/ca/ca.crt" -cert "$WORK/n3/id3/n3.crt" -key "$WORK/n3/id3/n3.key" \
		-after "port/$b_id" <"${2:-/dev/null}" >>"$WORK/n3/rogue.log" 2>&1 &
	ROGUE=$!
	disown $ROGUE
	echo "$ROGUE" >"$WORK/n3/agent.pid" # cleanup kills it with the agents
}
rogue "$UNDERLAY.99" "$WORK/forged"
busywait 15000 bn 1 port show own3
check_err $? "the rogue's own port never reached n1: $(tail -3 "$WORK/n3/rogue.log")"
busywait 10000 logged "ownership"
check_err $? "n1 never refused the rogue's ports bound to n2"
sleep 1
! fdb_knows 1 fa:16:3e:33:33:33
check_err $? "n1 forwards the port of n3, which announces VTEP $UNDERLAY.99"
! alive_on 1 n3
check_err $? "n1 lists n3 (VTEP not its own) as alive"
m=$(members)
[[ "$m" != *"$UNDERLAY.99"* ]] && [[ "$m" != *"$(vtep 3)"* ]]
check_err $? "n1 admits VXLAN from n3's VTEPs: $m"
logged "announces VTEP"
check_err $? "n1's log does not say why n3 is not trusted"
log_test "a certified node announcing a VTEP not its own is not trusted"

[ "$(bn 1 -o json port show b | jq -r .port.mac_address)" = "$mac_b" ] &&
	[ "$(bn 2 -o json port show b | jq -r .port.mac_address)" = "$mac_b" ]
check_err $? "n2's port b was rewritten by n3"
! bn 1 port show ghost >/dev/null 2>&1 && ! bn 2 port show ghost >/dev/null 2>&1
check_err $? "a port bound to n2, written by n3, was taken"
fdb_has 1 "$mac_b" "$(vtep 2)" && ! fdb_knows 1 fa:16:3e:66:66:66 && ! fdb_knows 1 fa:16:3e:77:77:77
check_err $? "n1's FDB follows the forged ports"
busywait 12000 vm_ping "$P-a" 10.80.1.12
check_err $? "a cannot ping b any more"
log_test "a node with the key announcing a MAC/IP bound on another node is refused"

# ---- the same node, announcing its certified VTEP: trusted, within limits
kill "$ROGUE"
busywait 5000 bash -c "! kill -0 $ROGUE 2>/dev/null"
rogue "$(vtep 3)"
busywait 20000 fdb_has 1 fa:16:3e:33:33:33 "$(vtep 3)"
check_err $? "n1 does not forward n3's own port to n3's certified VTEP"
busywait 5000 alive_on 1 n3
check_err $? "n1 does not list n3 (certified VTEP) as alive"
[[ "$(members)" == *"$(vtep 3)"* ]]
check_err $? "n1 does not admit VXLAN from n3's certified VTEP: $(members)"
! bn 1 port show ghost >/dev/null 2>&1 && [ "$(bn 1 -o json port show b | jq -r .port.mac_address)" = "$mac_b" ]
check_err $? "trusted, n3's forged ports of n2 got through"
log_test "announcing its certified VTEP it is trusted: its own port is programmed, the forged ones still refused"

exit ${FAILED:-0}
