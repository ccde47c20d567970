#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# peer.sh: a real distro kernel as a test peer. Source it after lib.sh.
#
# Debian 12's stock kernel (linux-image-amd64, 6.1) boots under qemu with
# software emulation as a 256 MB VM whose NIC is a tap in a namespace of the
# test's cloud. Inside it run the kernel's own gretap, vxlan and 8021q
# devices — the peers this host kernel lacks — and, being 6.1, it has no TCX.
# Nothing is installed on the host but qemu-system-x86: the kernel and
# busybox-static are fetched with `apt-get download`, unpacked, and an
# initramfs is built from busybox, iproute2 (busybox's ip cannot make those
# devices) and the needed modules, loaded in dependency order by insmod.
# All of it is cached in $PEER_CACHE, keyed by the package versions.
#
#   peer_prepare                  fetch and build (or reuse the cache); skips
#                                 the test (exit 4) when qemu cannot run
#   peer_boot NS BRIDGE [MAC]     boot; the tap is created in NS, enslaved to
#                                 BRIDGE there; waits for the guest's shell
#   peer_run CMD                  run CMD in the guest; prints its output,
#                                 returns its exit code
#   peer_stop                     poweroff (cleanup kills qemu anyway)
#
# See shared/KERNEL-NOTES.md ("A real distro kernel as a test peer").

PEER_CACHE=${BNET_PEER_CACHE:-/var/cache/bnet-peer}
# Bumped whenever what goes into the initramfs changes: part of the cache key.
PEER_LAYOUT=2
# What the interop tests need from the guest kernel, by module name; their
# dependencies follow from each .ko's depends=. Built-in ones are skipped.
PEER_MODULES="virtio_net virtio_pci ip_gre gre vxlan 8021q"

peer_log() { printf '# peer: %s\n' "$*"; }

# peer_skip REASON: the test cannot run here.
peer_skip() {
	echo "SKIP: $*"
	exit "$KSFT_SKIP"
}

# peer_fetch DIR PKG: download PKG's .deb into DIR unless a copy of the
# candidate version is there; prints the .deb's path.
peer_fetch() {
	local dir=$1 pkg=$2 ver deb
	ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		timeout 300 apt-get update -qq >/dev/null 2>&1
		ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
	fi
	# A cached .deb of any version beats none when the registry is away.
	deb=$(ls -t "$dir/${pkg}_"*.deb 2>/dev/null | head -1)
	if [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
		local want
		want=$(ls "$dir/${pkg}_${ver/*:/}_"*.deb "$dir/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -1)
		if [ -z "$want" ]; then
			(cd "$dir" && timeout 300 apt-get download -q "$pkg=$ver" >/dev/null 2>&1)
			want=$(ls -t "$dir/${pkg}_"*.deb 2>/dev/null | head -1)
		fi
		deb=${want:-$deb}
	fi
	[ -n "$deb" ] || return 1
	echo "$deb"
}

# peer_kernel_pkg: the versioned image package linux-image-amd64 points at.
peer_kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# peer_mod_path ROOT KVER NAME: the .ko of module NAME (- and _ are one).
peer_mod_path() {
	local root=$1 kver=$2 name=$3
	find "$root/lib/modules/$kver/kernel" -regextype posix-extended \
		-regex ".*/${name//[-_]/[-_]}\.ko(\.xz|\.zst)?" -print -quit
}

# peer_mod_deps KO: the module names KO depends on (its modinfo depends=).
peer_mod_deps() {
	local ko=$1
	case $ko in
	*.xz) xz -dc "$ko" ;;
	*.zst) zstd -qdc "$ko" ;;
	*) cat "$ko" ;;
	esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1 | tr ',' ' '
}

# peer_mod_order ROOT KVER NAME...: the modules' files, dependencies first.
peer_mod_order() {
	local root=$1 kver=$2
	shift 2
	local -A seen=()
	local order=()
	visit() {
		local n=${1//-/_} ko d
		[ -n "${seen[$n]:-}" ] && return
		seen[$n]=1
		ko=$(peer_mod_path "$root" "$kver" "$n")
		# Not a module file: built in (modules.builtin) or absent; insmod
		# of what depends on it would say so.
		[ -n "$ko" ] || return
		for d in $(peer_mod_deps "$ko"); do
			visit "$d"
		done
		order+=("$ko")
	}
	local m
	for m in "$@"; do
		visit "$m"
	done
	printf '%s\n' "${order[@]}"
}

# peer_copy_bin ROOTFS BIN: BIN and the shared libraries it loads.
peer_copy_bin() {
	local rootfs=$1 bin=$2 lib
	install -D -m 0755 "$bin" "$rootfs/bin/$(basename "$bin")"
	for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\t\// {print $1}'); do
		[ -f "$rootfs$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
	done
}

# peer_build OUT KDIR BBDIR KVER: the initramfs (uncompressed cpio: nothing
# to inflate under TCG).
peer_build() {
	local out=$1 kdir=$2 bbdir=$3 kver=$4
	local rootfs=$out/rootfs ko a
	rm -rf "$rootfs"
	mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,run,mods,etc}
	install -m 0755 "$bbdir/bin/busybox" "$rootfs/bin/busybox"
	for a in $("$rootfs/bin/busybox" --list); do
		[ -e "$rootfs/bin/$a" ] || ln -s busybox "$rootfs/bin/$a"
	done
	# iproute2 from this host (Debian 12, the guest's own userland):
	# busybox's ip makes no gretap, vxlan or vlan device.
	rm -f "$rootfs/bin/ip" "$rootfs/bin/bridge"
	peer_copy_bin "$rootfs" "$(command -v ip)"
	peer_copy_bin "$rootfs" "$(command -v bridge)"
	: >"$rootfs/mods/order"
	# shellcheck disable=SC2086 # a list of module names
	for ko in $(peer_mod_order "$kdir" "$kver" $PEER_MODULES); do
		a=$(basename "$ko")
		a=${a%.xz}
		a=${a%.zst}
		case $ko in
		*.xz) xz -dc "$ko" >"$rootfs/mods/$a" ;;
		*.zst) zstd -qdc "$ko" >"$rootfs/mods/$a" ;;
		*) cp "$ko" "$rootfs/mods/$a" ;;
		esac
		echo "$a" >>"$rootfs/mods/order"
	done
	cat >"$rootfs/init" <<'EOF'
#!/bin/sh
# The kernel starts init with no PATH.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
dmesg -n 1
for m in $(cat /mods/order); do
	insmod /mods/$m || echo "insmod $m failed"
done
ip link set lo up
echo "PEER-READY $(uname -r)"
# The harness types commands on the console. Read through a pipe, the
# shell is not interactive: no prompt, no line editor echoing them back.
stty -echo 2>/dev/null
cat /dev/console | sh >/dev/console 2>&1
poweroff -f
EOF
	chmod 0755 "$rootfs/init"
	(cd "$rootfs" && find . | "$rootfs/bin/busybox" cpio -o -H newc 2>/dev/null) >"$out/initramfs.cpio.tmp"
	mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
	rm -rf "$rootfs"
}

peer_prepare() {
	command -v qemu-system-x86_64 >/dev/null 2>&1 ||
		peer_skip "qemu-system-x86_64 not installed (scripts/deps.sh installs qemu-system-x86)"
	# TCG needs no /dev/kvm (see KERNEL-NOTES: kvm here cannot run it).
	qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg ||
		peer_skip "qemu-system-x86_64 has no TCG software emulation"
	[ -c /dev/net/tun ] || peer_skip "/dev/net/tun missing: qemu cannot give the guest a tap"
	require ldd
	mkdir -p "$PEER_CACHE/dl"
	local lock kpkg kdeb bbdeb kver key
	exec {lock}>"$PEER_CACHE/lock"
	# Concurrent tests share one cache: one builds, the others wait.
	flock -w 600 "$lock" || { echo "peer cache $PEER_CACHE stays locked"; exit "$KSFT_FAIL"; }
	kpkg=$(peer_kernel_pkg)
	if [ -n "$kpkg" ]; then
		kdeb=$(peer_fetch "$PEER_CACHE/dl" "$kpkg")
	fi
	[ -n "${kdeb:-}" ] || kdeb=$(ls -t "$PEER_CACHE"/dl/linux-image-[0-9]*.deb 2>/dev/null | head -1)
	bbdeb=$(peer_fetch "$PEER_CACHE/dl" busybox-static)
	if [ -z "${kdeb:-}" ] || [ -z "$bbdeb" ]; then
		echo "cannot fetch linux-image-amd64 / busybox-static with apt-get download, and none cached in $PEER_CACHE/dl"
		exit "$KSFT_FAIL"
	fi
	key=$(basename "$kdeb" .deb)+$(basename "$bbdeb" .deb)+$PEER_LAYOUT
	PEER_DIR=$PEER_CACHE/$key
	if [ ! -s "$PEER_DIR/initramfs.cpio" ] || [ ! -s "$PEER_DIR/vmlinuz" ]; then
		peer_log "building $PEER_DIR"
		rm -rf "$PEER_DIR"
		mkdir -p "$PEER_DIR/k" "$PEER_DIR/bb"
		dpkg-deb -x "$kdeb" "$PEER_DIR/k" && dpkg-deb -x "$bbdeb" "$PEER_DIR/bb" || {
			echo "cannot unpack $kdeb / $bbdeb"
			exit "$KSFT_FAIL"
		}
		kver=$(ls "$PEER_DIR/k/lib/modules" | head -1)
		cp "$PEER_DIR/k/boot/vmlinuz-$kver" "$PEER_DIR/vmlinuz.tmp"
		peer_build "$PEER_DIR" "$PEER_DIR/k" "$PEER_DIR/bb" "$kver"
		rm -rf "$PEER_DIR/k" "$PEER_DIR/bb"
		mv "$PEER_DIR/vmlinuz.tmp" "$PEER_DIR/vmlinuz"
	fi
	exec {lock}>&-
}

# peer_boot NS BRIDGE [MAC]: boot the guest with its virtio NIC on tap
# "peer0" in NS, a port of BRIDGE there.
peer_boot() {
	local ns=$1 br=$2 mac=${3:-52:54:00:12:34:56}
	PEER_IN=$WORK/peer.in
	PEER_OUT=$WORK/peer.out
	rm -f "$PEER_IN" "$PEER_OUT"
	mkfifo "$PEER_IN"
	: >"$PEER_OUT"
	# Held open read-write here: qemu never sees EOF between commands.
	exec {PEER_FD}<>"$PEER_IN"
	local start=$SECONDS
	ip netns exec "$ns" qemu-system-x86_64 -accel tcg,tb-size=64 -m 256M -smp 1 \
		-display none -vga none -nodefaults -no-reboot -monitor none -serial stdio \
		-kernel "$PEER_DIR/vmlinuz" -initrd "$PEER_DIR/initramfs.cpio" \
		-append "console=ttyS0 quiet panic=-1 rdinit=/init" \
		-netdev tap,id=n0,ifname=peer0,script=no,downscript=no \
		-device virtio-net-pci,netdev=n0,mac="$mac" \
		<"$PEER_IN" >"$PEER_OUT" 2>&1 &
	PEER_PID=$!
	disown "$PEER_PID"
	if ! busywait 10000 in_ns "$ns" ip link show peer0; then
		echo "qemu made no tap:"
		tail -5 "$PEER_OUT"
		return 1
	fi
	in_ns "$ns" ip link set peer0 master "$br" up
	# Software emulation on a loaded 2-core box: minutes, not seconds, of slack.
	if ! busywait 180000 grep -q PEER-READY "$PEER_OUT"; then
		echo "guest did not boot:"
		tail -20 "$PEER_OUT"
		return 1
	fi
	PEER_KVER=$(sed -n 's/^PEER-READY \([^[:space:]]*\).*/\1/p' "$PEER_OUT" | head -1)
	peer_log "guest $PEER_KVER up in $((SECONDS - start)) s"
	if grep -q "insmod .* failed" "$PEER_OUT"; then
		grep "insmod .* failed" "$PEER_OUT"
		return 1
	fi
}

# peer_run CMD: run CMD in the guest's shell; its output on stdout, its exit
# code returned. Output lies between two markers only this call knows.
peer_run() {
	# Unique in subshells too: $(peer_run ...) cannot count for the caller.
	local tag=P$BASHPID${EPOCHREALTIME/./} out rc
	printf '%s\n' "echo $tag-S; $*; printf '\\n$tag-E:%s\\n' \$?" >&"$PEER_FD"
	if ! busywait 120000 grep -qa "^$tag-E:[0-9]" "$PEER_OUT"; then
		echo "guest did not finish: $*" >&2
		return 255
	fi
	out=$(tr -d '\r' <"$PEER_OUT" | sed -n "/^$tag-S\$/,/^$tag-E:/p")
	rc=$(sed -n "s/^$tag-E:\([0-9]*\)$/\1/p" <<<"$out")
	sed -e '1d' -e '$d' <<<"$out" | sed -e '${/^$/d}'
	return "${rc:-255}"
}

peer_stop() {
	[ -n "${PEER_FD:-}" ] || return 0
	printf 'poweroff -f\n' >&"$PEER_FD"
	busywait 10000 bash -c "! kill -0 $PEER_PID 2>/dev/null" || kill -9 "$PEER_PID" 2>/dev/null
	exec {PEER_FD}>&-
	PEER_FD=
}

# peer_tcp NS VMIP GUESTIP: a 2 MB stream each way between the VM in NS and
# the guest, over HTTP (both ends close cleanly: no nc EOF dialects),
# checked by checksum. Prints what failed; returns non-zero then.
peer_tcp() {
	local ns=$1 vmip=$2 gip=$3 d=$WORK/peer-www sum got pid
	mkdir -p "$d"
	head -c 2000000 /dev/urandom >"$d/blob"
	sum=$(md5sum <"$d/blob" | cut -d' ' -f1)
	# VM -> guest: the guest fetches from a server in the VM.
	in_ns "$ns" python3 -m http.server -b "$vmip" -d "$d" 8000 >/dev/null 2>&1 &
	pid=$!
	busywait 10000 in_ns "$ns" bash -c "ss -ltn | grep -q :8000"
	peer_run "rm -f /tmp/blob; wget -q -T 60 -O /tmp/blob http://$vmip:8000/blob" >/dev/null
	got=$(peer_run "md5sum </tmp/blob" | cut -d' ' -f1)
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ "$got" != "$sum" ]; then
		echo "TCP VM -> guest: guest got md5 '$got', sent $sum"
		return 1
	fi
	# guest -> VM: the VM fetches from the guest's httpd.
	peer_run "mkdir -p /tmp/www && mv /tmp/blob /tmp/www/blob && httpd -p $gip:8080 -h /tmp/www" >/dev/null
	got=$(in_ns "$ns" curl -sf -m 60 "http://$gip:8080/blob" | md5sum | cut -d' ' -f1)
	peer_run "killall httpd" >/dev/null
	if [ "$got" != "$sum" ]; then
		echo "TCP guest -> VM: VM got md5 '$got', sent $sum"
		return 1
	fi
}
