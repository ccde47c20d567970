#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# make package: the .deb installs on this machine with dpkg, holds what an
# operator needs (binary, unit, config, completion, man page), keeps an
# edited config across an upgrade, enables the unit without starting
# anything where systemd does not run, and goes away cleanly (a purge
# takes config and state too). The installed agent runs a one-node cloud on
# the package's own pin directory: an upgrade loses no packet, a remove
# leaves the datapath pinned, a purge takes it down. The .rpm's contents
# and scripts are read with rpm. Touches the real root filesystem: installs
# and removes "bnet", and uses /sys/fs/bpf/bnet.
source "$(dirname "$0")/lib.sh"
require dpkg rpm gzip
TOP=$(cd "$LIB_DIR/.." && pwd)
pkg_pins=/sys/fs/bpf/bnet
if dpkg -s bnet >/dev/null 2>&1 || [ -e $pkg_pins ]; then
	echo "a bnet package is installed or $pkg_pins is in use already; not touching them"
	exit $KSFT_SKIP
fi
make -s -C "$TOP" package >"$WORK.pkg.log" 2>&1 || {
	tail -20 "$WORK.pkg.log"
	exit $KSFT_FAIL
}
rm -f "$WORK.pkg.log"
deb=$(ls "$TOP"/dist/bnet_*_amd64.deb)
rpmf=$(ls "$TOP"/dist/bnet-*.x86_64.rpm)
version=$(dpkg-deb -f "$deb" Version)
trap 'rm -rf $pkg_pins; dpkg -P bnet >/dev/null 2>&1' EXIT

dpkg -i "$deb" >/dev/null
check_err $? "dpkg -i $deb failed"
for f in /usr/bin/bnet /lib/systemd/system/bnet-agent.service /etc/bnet/bnet.yaml \
	/usr/share/bash-completion/completions/bnet /usr/share/man/man8/bnet.8.gz; do
	[ -f "$f" ] || check_err 1 "$f missing after install"
done
[ -d /var/lib/bnet ] && [ "$(stat -c %a /var/lib/bnet)" = 700 ] && [ "$(stat -c %a /etc/bnet/bnet.yaml)" = 600 ]
check_err $? "state dir or config mode wrong: $(stat -c '%n %a' /var/lib/bnet /etc/bnet/bnet.yaml 2>&1)"
out=$(/usr/bin/bnet --version)
[[ "$out" == *"$version"* ]]
check_err $? "bnet --version says '$out', package is $version"
zcat /usr/share/man/man8/bnet.8.gz | grep -q '^\.TH bnet 8' && zcat /usr/share/man/man8/bnet.8.gz | grep -q 'security group'
check_err $? "man page missing or not made from the command tree"
grep -q '^ExecStart=/usr/bin/bnet agent --config /etc/bnet/bnet.yaml' /lib/systemd/system/bnet-agent.service &&
	grep -q '^Restart=on-failure' /lib/systemd/system/bnet-agent.service &&
	grep -q '^After=.*network-online.target' /lib/systemd/system/bnet-agent.service
check_err $? "unit file does not run the agent with Restart=on-failure after network-online.target"
if [ ! -d /run/systemd/system ]; then
	[ -L /etc/systemd/system/multi-user.target.wants/bnet-agent.service ] && ! pgrep -f '^/usr/bin/bnet' >/dev/null
	check_err $? "without systemd running the unit is not enabled, or something was started"
fi
if ! command -v systemd-analyze >/dev/null; then
	echo "# no systemd-analyze on this machine (systemd not installed): the unit is not verified"
else
	# The unit's own problems only: this machine may lack what it orders after.
	out=$(systemd-analyze verify /lib/systemd/system/bnet-agent.service 2>&1 | grep -i 'bnet-agent.service' | grep -v "not found\|No such\|Command 'man ")
	[ -z "$out" ]
	check_err $? "systemd-analyze verify: $out"
fi
log_test "deb installs binary, unit, config, completion and man page; unit enabled, nothing started"

# The installed binary as the agent of a one-node cloud, pinned where the
# package's scripts look: two VMs on it.
BNET=/usr/bin/bnet
NODE_PINS=$pkg_pins
cloud_up 1
trap 'cleanup; rm -rf $pkg_pins; dpkg -P bnet >/dev/null 2>&1' EXIT
bn 1 network create pk --type vxlan --segment 801 >/dev/null
bn 1 subnet create pksub --network pk --cidr 10.80.0.0/24 >/dev/null
bn 1 port create p1 --network pk --ip 10.80.0.11 --netns "$P-p1" >/dev/null
bn 1 port create p2 --network pk --ip 10.80.0.12 --netns "$P-p2" >/dev/null
busywait 12000 vm_ping "$P-p1" 10.80.0.12
check_err $? "p1 cannot ping p2 through the installed agent"
[ -d $pkg_pins/links ] && [ -n "$(ls $pkg_pins/links)" ]
check_err $? "the installed agent pinned nothing under $pkg_pins"

# Upgrade (the same package again) under traffic, then the agent restarted
# on the new binary, as the postinst's systemctl try-restart does where
# systemd runs: no packet lost, the operator's config kept.
echo "# edited by the operator" >>/etc/bnet/bnet.yaml
in_ns "$P-p1" ping -q -i 0.01 -w 8 10.80.0.12 >"$WORK/ping.out" 2>&1 &
pinger=$!
sleep 1
dpkg -i "$deb" >/dev/null
check_err $? "reinstall (upgrade) failed"
stop_agent 1 && start_agent 1
check_err $? "the agent did not come back on the upgraded binary"
wait $pinger
sent=$(awk '/packets transmitted/ {print $1}' "$WORK/ping.out")
got=$(awk '/packets transmitted/ {print $4}' "$WORK/ping.out")
[ "${sent:-0}" -gt 100 ] && [ "$sent" = "$got" ]
check_err $? "upgrade and restart under traffic: $got of $sent pings answered"
grep -q "edited by the operator" /etc/bnet/bnet.yaml
check_err $? "upgrade overwrote /etc/bnet/bnet.yaml"
log_test "an upgrade and agent restart lose none of ${sent:-0} pings and keep the edited config"

# Remove, with the agent stopped first as systemctl disable --now does:
# the datapath stays pinned and traffic flows (as OVS keeps its flows).
stop_agent 1
dpkg -r bnet >/dev/null
check_err $? "dpkg -r failed"
[ ! -e /usr/bin/bnet ] && [ -f /etc/bnet/bnet.yaml ] && [ ! -e /etc/systemd/system/multi-user.target.wants/bnet-agent.service ]
check_err $? "remove left the binary or the enable link, or took the config"
vm_ping "$P-p1" 10.80.0.12
check_err $? "after remove the pinned datapath no longer carries p1 -> p2"
dpkg -P bnet >/dev/null
check_err $? "dpkg -P failed"
[ ! -e /etc/bnet ] && [ ! -e /var/lib/bnet ] && [ ! -e $pkg_pins ] && ! dpkg -s bnet >/dev/null 2>&1
check_err $? "purge left /etc/bnet, /var/lib/bnet or $pkg_pins behind"
! vm_ping "$P-p1" 10.80.0.12
check_err $? "after purge p1 still reaches p2: the datapath was not taken down"
log_test "remove keeps the config and the datapath, purge removes config, state and pins"

files=$(rpm -qlp "$rpmf" 2>/dev/null)
for f in /usr/bin/bnet /lib/systemd/system/bnet-agent.service /etc/bnet/bnet.yaml /usr/share/man/man8/bnet.8.gz \
	/usr/share/bash-completion/completions/bnet; do
	grep -qx "$f" <<<"$files" || check_err 1 "rpm lacks $f"
done
scripts=$(rpm -qp --scripts "$rpmf" 2>/dev/null)
grep -q 'postinstall scriptlet' <<<"$scripts" && grep -q 'preuninstall scriptlet' <<<"$scripts" &&
	grep -q 'try-restart' <<<"$scripts" && grep -q '/sys/fs/bpf/bnet' <<<"$scripts"
check_err $? "rpm scripts incomplete: $scripts"
rpm -qp --configfiles "$rpmf" 2>/dev/null | grep -qx /etc/bnet/bnet.yaml
check_err $? "rpm does not mark /etc/bnet/bnet.yaml as a config file"
log_test "rpm holds the same files and scripts, config marked as such"

exit ${FAILED:-0}
