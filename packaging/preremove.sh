#!/bin/sh
# deb: remove | upgrade NEW; rpm: 0 (erase) or 1 (upgrade). An upgrade
# leaves the agent and its pins alone.
set -e
unit=bnet-agent.service
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$unit" >/dev/null 2>&1 || true
	fi
	rm -f /etc/systemd/system/multi-user.target.wants/$unit
	;;
esac
