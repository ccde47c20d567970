#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A 9000-byte underlay gives jumbo networks: VXLAN 8950, GRE 8958, and an
# 8000-byte ping crosses both without fragmentation. Then malformed and
# odd jumbo frames (above what BPF_PROG_TEST_RUN takes, so the fuzz
# targets cannot send them) go from a VM through the real devices: each
# arrives byte for byte as sent or is dropped and counted, and the
# network keeps working.
source "$(dirname "$0")/lib.sh"
require ping python3 jq
UNDERLAY_MTU=9000
cloud_up 2

bn 1 network create vx --type vxlan --segment 1001 >/dev/null
bn 1 subnet create vxsub --network vx --cidr 10.81.0.0/24 >/dev/null
bn 1 network create gr --type gre --segment 1002 >/dev/null
bn 1 subnet create grsub --network gr --cidr 10.82.0.0/24 >/dev/null
seen_everywhere subnet vxsub || exit 1
seen_everywhere subnet grsub || exit 1
# One node after the other: two nodes allocating at once from a subnet
# neither has allocated in yet may pick the same address (model/ipam.go).
for t in vx gr; do
	bn 1 port create "${t}a" --network "$t" --netns "$P-${t}a" >/dev/null
	seen_on 2 port "${t}a" || exit 1
	bn 2 port create "${t}b" --network "$t" --netns "$P-${t}b" >/dev/null
done
for t in vx gr; do
	case $t in vx) name=VXLAN mtu=8950 ;; gr) name=GRE mtu=8958 ;; esac
	ipb=$(bn 2 -o json port show "${t}b" | jq -r '.port.fixed_ips[0].ip_address')
	got=$(in_ns "$P-${t}a" cat /sys/class/net/eth0/mtu)
	[ "$got" = "$mtu" ]
	check_err $? "$name VM MTU $got on a 9000 underlay, want $mtu"
	busywait 12000 vm_ping "$P-${t}a" "$ipb"
	check_err $? "$name: no connectivity"
	in_ns "$P-${t}a" ping -c 3 -i 0.2 -W 1 -M "do" -s 8000 "$ipb" >/dev/null
	check_err $? "$name: 8000-byte DF ping does not cross a jumbo underlay"
	log_test "$name on a 9000-byte underlay: MTU $mtu, 8000-byte ping crosses"
done

# ---- malformed jumbo frames through real devices
# jumbo_frames MODE IFACE [DST_MAC SRC_MAC SRC_IP DST_IP]: send (MODE send) the test
# frames, printing one sha256 per frame, or print (MODE recv) the sha256 of
# every test frame received for 6 s (VLAN tags the kernel took off put back).
jumbo_frames() {
	python3 - "$@" <<'PY'
import hashlib, socket, struct, sys, time
mode, ifc = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifc, 0))
MARK = b"BNETJUMBO"
if mode == "recv":
    s.setsockopt(263, 8, 1)  # PACKET_AUXDATA
    s.settimeout(0.5)
    end = time.time() + 6
    print("ready", flush=True)
    while time.time() < end:
        try:
            data, anc, _, addr = s.recvmsg(65536, 64)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:  # the receiver's own answers (ICMP errors)
            continue
        for lvl, typ, a in anc:
            if lvl == 263 and typ == 8 and len(a) >= 24:
                status, tci, tpid = struct.unpack_from("I", a, 0)[0], *struct.unpack_from("HH", a, 20)
                if status & (1 << 4):
                    data = data[:12] + struct.pack("!HH", tpid or 0x8100, tci) + data[12:]
        at = data.find(MARK)
        if at >= 0:
            print(hashlib.sha256(data).hexdigest(), len(data), data[at + len(MARK)], data[:64].hex(), flush=True)
    sys.exit(0)
dst, src = bytes.fromhex(sys.argv[3].replace(":", "")), bytes.fromhex(sys.argv[4].replace(":", ""))
sip, dip = socket.inet_aton(sys.argv[5]), socket.inet_aton(sys.argv[6])
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF
def ip4(proto, payload, opts=b"", frag=0x4000, tot=None, bad=False):
    ihl = 5 + len(opts) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tot or 4 * ihl + len(payload), 7, frag, 64, proto, 0,
                    sip, dip) + opts
    c = csum(h) ^ (0x5555 if bad else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload
body = lambda n, i: (MARK + bytes([i]) * 7) + bytes((j * 13 + i) & 0xFF for j in range(n))
def udp(n, i, port=5000):
    p = body(n, i)
    return struct.pack("!HHHH", 40000, port, 8 + len(p), 0) + p
eth = lambda t, p: dst + src + struct.pack("!H", t) + p
inner = dst + src + b"\x08\x00" + ip4(17, udp(2000, 99))
frames = [
    eth(0x0800, ip4(17, udp(7900, 1))),                                       # plain jumbo UDP
    eth(0x0800, ip4(17, udp(7800, 2), opts=b"\x01" * 39 + b"\x00")),        # 40 bytes of options
    eth(0x0800, ip4(17, udp(7900, 3), bad=True)),                             # broken header checksum
    eth(0x0800, ip4(17, udp(7900, 4), tot=65000)),                            # claims more than it has
    eth(0x0800, ip4(17, udp(7900, 5), tot=20)),                               # claims less
    eth(0x0800, ip4(17, udp(7900, 6), frag=0x2000)),                          # first fragment
    eth(0x0800, ip4(17, body(7900, 7), frag=0x0100)),                         # a later fragment
    eth(0x8100, struct.pack("!HH", 5, 0x0800) + ip4(17, udp(7900, 8))),       # 802.1Q
    eth(0x88A8, struct.pack("!HHHH", 5, 0x8100, 6, 0x0800) + ip4(17, udp(7900, 9))),  # QinQ
    eth(0x0800, ip4(47, struct.pack("!HHI", 0x2000, 0x6558, 1002) + inner + body(5000, 10))),  # GRE in the frame
    eth(0x0800, ip4(17, struct.pack("!HHHH", 40000, 4789, 0, 0) + b"\x08\0\0\0\0\x03\xe9\0" + inner + body(5000, 11))),  # VXLAN in VXLAN
    eth(0x86DD, struct.pack("!IHBB16s16s", 0x60000000, 7908, 0, 64, b"\xfe\x80" + bytes(14), b"\xff\x02" + bytes(13) + b"\x01")
        + b"\x11\x00" + bytes(6) + body(7900, 12)),                            # IPv6 behind hop-by-hop
    eth(0x88B5, body(7980, 13)),                                              # unknown EtherType
    eth(0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + src + sip + dst + dip + body(7900, 14)),  # padded ARP reply
]
for f in frames:
    s.send(f)
    print(hashlib.sha256(f).hexdigest(), len(f), f[f.find(MARK) + len(MARK)], f[:64].hex(), flush=True)
PY
}
drop_total() { bn "$1" -o json drop list | jq '[.drops[].packets] | add // 0'; }

for t in vx gr; do
	case $t in vx) name=VXLAN ;; gr) name=GRE ;; esac
	ipb=$(bn 2 -o json port show "${t}b" | jq -r '.port.fixed_ips[0].ip_address')
	maca=$(bn 1 -o json port show "${t}a" | jq -r .port.mac_address)
	ipa=$(bn 1 -o json port show "${t}a" | jq -r '.port.fixed_ips[0].ip_address')
	macb=$(bn 2 -o json port show "${t}b" | jq -r .port.mac_address)
	d1=$(drop_total 1)
	d2=$(drop_total 2)
	in_ns "$P-${t}b" bash -c "$(declare -f jumbo_frames); jumbo_frames recv eth0" >"$WORK/jumbo-$t.recv" &
	recv=$!
	busywait 10000 grep -q ready "$WORK/jumbo-$t.recv"
	in_ns "$P-${t}a" bash -c "$(declare -f jumbo_frames); jumbo_frames send eth0 $macb $maca $ipa $ipb" >"$WORK/jumbo-$t.sent"
	check_err $? "could not send the jumbo frames"
	wait "$recv"
	sent=$(wc -l <"$WORK/jumbo-$t.sent")
	got=$(grep -vc ready "$WORK/jumbo-$t.recv")
	changed=$(grep -v ready "$WORK/jumbo-$t.recv" | cut -d' ' -f1 | grep -vcFf <(cut -d' ' -f1 "$WORK/jumbo-$t.sent"))
	dropped=$(($(drop_total 1) - d1 + $(drop_total 2) - d2))
	bn 1 -o json drop list | jq -c '.drops[]' | sed 's/^/# n1 drop: /'
	bn 2 -o json drop list | jq -c '.drops[]' | sed 's/^/# n2 drop: /'
	log "jumbo frames: $sent sent, $got arrived unchanged or not, $changed changed, $dropped drops counted"
	[ "$sent" -eq 14 ] && [ "$changed" -eq 0 ] && [ $((got + dropped)) -ge "$sent" ] && [ "$got" -ge 1 ]
	check_err $? "$sent sent, $got arrived ($changed changed), $dropped counted as drops: some vanished or changed"
	busywait 12000 vm_ping "$P-${t}a" "$ipb"
	check_err $? "no connectivity after the malformed jumbo frames"
	log_test "malformed jumbo frames over $name: each arrives unchanged or is counted"
done

exit ${FAILED:-0}
