#!/bin/sh
# deb: configure [OLD_VERSION]; rpm: 1 (install) or 2 (upgrade).
set -e
unit=bnet-agent.service
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	systemctl enable "$unit" >/dev/null 2>&1 || true
	# An upgrade restarts a running agent on the new binary; the datapath
	# stays pinned meanwhile. A first install starts nothing: the config
	# must be written first.
	case "$1" in
	configure) [ -z "${2:-}" ] || systemctl try-restart "$unit" || true ;;
	2) systemctl try-restart "$unit" || true ;;
	esac
else
	# No running systemd (a container, a chroot): enable without it.
	mkdir -p /etc/systemd/system/multi-user.target.wants
	ln -sf /lib/systemd/system/$unit /etc/systemd/system/multi-user.target.wants/$unit
fi
