#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Encrypted, authenticated gossip: nodes sharing the key form the cloud and
# forward; a node with another key is refused — it never joins, and a port
# it creates never reaches the others' datapath.
source "$(dirname "$0")/lib.sh"
require ping
GOSSIP_KEY=$("$BNET" keygen)
export GOSSIP_KEY_N3
GOSSIP_KEY_N3=$("$BNET" keygen)
CLOUD_ALIVE=2
cloud_up 3

sleep 2
[ "$(alive_count 1)" = 2 ] && [ "$(alive_count 2)" = 2 ]
check_err $? "n1 sees $(alive_count 1), n2 sees $(alive_count 2) alive; want 2 (n3 has the wrong key)"
! bn 1 -o json agent list | jq -e '.agents[] | select(.host == "n3")' >/dev/null
check_err $? "n3 (wrong key) is listed as an agent on n1"
log_test "a node with the wrong gossip key is refused"

bn 1 network create net1 --type vxlan --segment 701 >/dev/null
bn 1 subnet create sub1 --network net1 --cidr 10.70.1.0/24 >/dev/null
seen_on 2 subnet sub1 || exit 1
bn 1 port create a --network net1 --ip 10.70.1.11 --netns "$P-a" >/dev/null
bn 2 port create b --network net1 --ip 10.70.1.12 --netns "$P-b" >/dev/null
busywait 12000 vm_ping "$P-a" 10.70.1.12
check_err $? "nodes with the key do not forward"
bn 3 network create evil --type vxlan --segment 702 >/dev/null
sleep 2
! bn 1 network show evil >/dev/null 2>&1
check_err $? "a network created on n3 (wrong key) reached n1"
log_test "nodes with the key forward; the other's records never arrive"

exit ${FAILED:-0}
