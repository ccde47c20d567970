#!/bin/sh
# deb: remove | purge | upgrade ...; rpm: 0 (erase) or 1 (upgrade).
# A purge (and an rpm erase, which has no purge) takes the datapath down:
# removing the pins detaches bnet's TC links and frees its maps. The state
# (replicated records) goes only with a purge.
set -e
case "$1" in
purge | 0)
	rm -rf /sys/fs/bpf/bnet
	;;
esac
if [ "$1" = purge ]; then
	rm -rf /var/lib/bnet /etc/bnet
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
