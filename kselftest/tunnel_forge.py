#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Send one hand-built GRE/TEB or VXLAN packet out of an interface, as a
VTEP would.

tunnel_forge.py IFACE DST_MAC SRC_IP DST_IP KEY INNER_DST_MAC INNER_SRC_MAC [gre|vxlan]

The kselftests use it to play a VTEP that bnet must not trust (the kernel
here has no gretap, and a real VXLAN device would need routes the test
does not want). The inner frame is a small IPv4/UDP packet to port 9.
"""
import socket
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def main():
    iface, dmac, src, dst, key, idst, isrc = sys.argv[1:8]
    kind = sys.argv[8] if len(sys.argv) > 8 else "gre"
    payload = b"bnet-forged-gre!"
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    iip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                      socket.inet_aton("10.70.0.99"), socket.inet_aton("10.70.0.11"))
    iip = iip[:10] + struct.pack("!H", csum(iip)) + iip[12:]
    inner = mac(idst) + mac(isrc) + struct.pack("!H", 0x0800) + iip + udp
    if kind == "vxlan":
        vx = struct.pack("!II", 0x08000000, int(key, 0) << 8) + inner
        tun = struct.pack("!HHHH", 40001, 4789, 8 + len(vx), 0) + vx
        proto = 17
    else:
        tun = struct.pack("!HHI", 0x2000, 0x6558, int(key, 0)) + inner
        proto = 47
    tot = 20 + len(tun)
    oip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot, 0, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    oip = oip[:10] + struct.pack("!H", csum(oip)) + oip[12:]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    smac = open("/sys/class/net/%s/address" % iface).read().strip()
    s.send(mac(dmac) + mac(smac) + struct.pack("!H", 0x0800) + oip + tun)


if __name__ == "__main__":
    main()
