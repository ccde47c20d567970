package maps

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Floating IPs: the 1:1 NAT on the VM's own node (fip_out, fip_in,
// nat_addr, nat_icmp_inner, dec_ttl and proxy_arp in bpf/bnet.c, entered
// from route, bnet_phys_in and bnet_port_in), driven through
// BPF_PROG_TEST_RUN. The expected frames are computed from scratch here
// (every checksum recomputed over the translated bytes), never by
// replaying the datapath's incremental updates, so a wrong address, a
// stale checksum or a touched payload fails.

const fipExt = 5 // the external network's node-local id

var (
	fipFgMAC   = mac("fa:16:3e:00:05:09") // this node's fg- port on the external network
	fipGwMAC   = mac("02:00:00:ee:05:01") // the external subnet's gateway (the outside router)
	fipMACE    = mac("02:00:00:05:00:32") // E: a port of the external network on this node
	fipMACV    = mac("02:00:00:01:00:14") // V: a VM of net 1 without a floating IP
	fipSNATMAC = mac("fa:16:3e:00:01:05") // router 7's SNAT port on net 1 (on the network node)

	fipFIP    = netip.MustParseAddr("203.0.113.77") // A's floating IP
	fipFIP2   = netip.MustParseAddr("203.0.113.78")
	fipFgIP   = netip.MustParseAddr("203.0.113.9")
	fipExtGw  = netip.MustParseAddr("203.0.113.1")
	fipIPE    = netip.MustParseAddr("203.0.113.50")
	fipUnused = netip.MustParseAddr("203.0.113.99") // nobody's
	fipIPV    = netip.MustParseAddr("10.10.1.20")
	fipSNATIP = netip.MustParseAddr("10.10.1.5")
	fipRemote = netip.MustParseAddr("198.51.100.7") // a host out there
	fipRouter = netip.MustParseAddr("198.51.100.1") // a router out there

	fipRowA = FIPRow{NetID: 1, FixedIP: rtIPA, ExtNet: fipExt, FIP: fipFIP}
)

// fipTopo is routeTopo plus what a node serving a floating IP has:
//
//	router 7: a SNAT default route; net 1's rif has SNAT port 10.10.1.5
//	          (fipSNATMAC, on another node)
//	net 1:    also port V (10.10.1.20), which has no floating IP
//	net 5:    external, flat on phys, 203.0.113.0/24, MTU 1500; port E
//	          (203.0.113.50) and this node's fg port (203.0.113.9) are
//	          local ports with FDB and ARP entries and make up the flood
//	          list; ext_gw: fg IP/MAC and the outside router's MAC
//	FIP:      203.0.113.77 -> A (10.10.1.10), and the ARP entry
//	          203.0.113.77 -> fg MAC the agent writes (computeFIPs)
//
// Each subtest builds its own in its own netns.
type fipTopo struct {
	*routeTopo
	phys, e, fg, v uint32
}

func newFIPTopo(t *testing.T) *fipTopo {
	r := newRouteTopo(t)
	f := &fipTopo{routeTopo: r, phys: veth(t, "phys"), e: veth(t, "pe"), fg: veth(t, "fg"), v: veth(t, "pv")}
	r.must(r.m.PutRIF(RIFRow{NetID: 1, RouterID: rtRouter, GwIP: rtGw1, GwMAC: rtGw1MAC, SNATIP: fipSNATIP}))
	r.must(setNetFlag(r.m, 1, netRouted))
	r.must(r.m.PutRoute(RouteRow{RouterID: rtRouter, Prefix: netip.MustParsePrefix("0.0.0.0/0"), SNAT: true}))
	r.must(r.m.PutARP(ARPRow{NetID: 1, IP: fipSNATIP, MAC: fipSNATMAC}))
	r.must(r.m.PutFDB(FDBRow{NetID: 1, MAC: fipSNATMAC, VTEP: vtep}))
	r.must(r.m.PutPort(PortRow{Ifindex: f.v, NetID: 1, MAC: fipMACV, Up: true}))
	r.must(r.m.PutFDB(FDBRow{NetID: 1, MAC: fipMACV, Ifindex: f.v}))
	r.must(r.m.PutARP(ARPRow{NetID: 1, IP: fipIPV, MAC: fipMACV}))

	r.must(r.m.PutNetwork(NetRow{NetID: fipExt, Type: "flat", PhysIfindex: f.phys, MTU: 1500}))
	r.must(r.m.PutSegment(SegmentRow{Type: "flat", Ifindex: f.phys, NetID: fipExt}))
	for _, p := range []struct {
		ifindex uint32
		mac     net.HardwareAddr
		ip      netip.Addr
	}{{f.e, fipMACE, fipIPE}, {f.fg, fipFgMAC, fipFgIP}} {
		r.must(r.m.PutPort(PortRow{Ifindex: p.ifindex, NetID: fipExt, MAC: p.mac, Up: true}))
		r.must(r.m.PutFDB(FDBRow{NetID: fipExt, MAC: p.mac, Ifindex: p.ifindex}))
		r.must(r.m.PutARP(ARPRow{NetID: fipExt, IP: p.ip, MAC: p.mac}))
	}
	r.must(r.m.PutFlood(FloodRow{NetID: fipExt, Local: []uint32{f.e, f.fg}}))
	r.must(r.m.PutExtGW(ExtGWRow{NetID: fipExt, FgIP: fipFgIP, FgMAC: fipFgMAC, GwMAC: fipGwMAC}))
	r.must(setNetFlag(r.m, fipExt, netExtGW))
	r.must(r.m.PutFIP(fipRowA))
	r.must(r.m.PutARP(ARPRow{NetID: fipExt, IP: fipFIP, MAC: fipFgMAC}))
	return f
}

// state is routeTopo's state plus both floating IP maps and ext_gw.
func (f *fipTopo) state() string {
	f.t.Helper()
	fips, err := f.m.FIPRows()
	f.must(err)
	ext, err := f.m.ExtGWRows()
	f.must(err)
	var (
		k    bnetArpKey
		v    bnetFipOutInfo
		outs []string
	)
	it := f.m.FIPsOut.Iterate()
	for it.Next(&k, &v) {
		outs = append(outs, fmt.Sprintf("%d/%v->%v@%d", k.NetId, u32ToIP(k.Ip), u32ToIP(v.Fip), v.ExtNet))
	}
	f.must(it.Err())
	return fmt.Sprint(f.routeTopo.state(), fips, ext, outs)
}

func (f *fipTopo) unchanged(before string) {
	f.t.Helper()
	if after := f.state(); after != before {
		f.t.Fatalf("maps changed:\n%s\n%s", before, after)
	}
}

// ---- packets ------------------------------------------------------------------

// ipPkt is an IPv4 packet (no Ethernet header) as ip4 builds it.
func ipPkt(proto uint8, src, dst netip.Addr, ttl uint8, seg []byte) []byte {
	return ip4(make(net.HardwareAddr, 6), make(net.HardwareAddr, 6), proto, src, dst, ttl, seg)[14:]
}

// icmpErrSeg is an ICMP error message (type, code) quoting q, with a
// valid checksum.
func icmpErrSeg(typ, code uint8, q []byte) []byte {
	seg := make([]byte, 8+len(q))
	seg[0], seg[1] = typ, code
	copy(seg[8:], q)
	binary.BigEndian.PutUint16(seg[2:], inetCsum(seg))
	return seg
}

// echoReplySeg is l4Seg's echo request turned into an echo reply.
func echoReplySeg(n int) []byte {
	seg := l4Seg(1, fipRemote, fipFIP, n)
	seg[0], seg[2], seg[3] = 0, 0, 0
	binary.BigEndian.PutUint16(seg[2:], inetCsum(seg))
	return seg
}

// udpZeroSeg is a UDP segment sent without a checksum (0).
func udpZeroSeg(src, dst netip.Addr, n int) []byte {
	seg := l4Seg(17, src, dst, n)
	seg[6], seg[7] = 0, 0
	return seg
}

// udpFoldsToZero is a UDP segment from src to dst with a valid checksum
// whose checksum, once src is translated to natSrc, computes to 0 (and so
// must be sent as 0xffff: 0 means "no checksum").
func udpFoldsToZero(src, natSrc, dst netip.Addr) []byte {
	seg := l4Seg(17, src, dst, 20)
	seg[6], seg[7] = 0, 0
	seg[26], seg[27] = 0, 0
	binary.BigEndian.PutUint16(seg[26:], l4Csum(natSrc, dst, 17, seg))
	if l4Csum(natSrc, dst, 17, seg) != 0 {
		panic("udpFoldsToZero")
	}
	c := l4Csum(src, dst, 17, seg)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[6:], c)
	return seg
}

// natted is IPv4 frame in as a 1:1 NAT router forwards it, computed from
// scratch: MACs dmac/smac, TTL - 1, address from in the source (src) or
// destination replaced by to, the IPv4 header checksum recomputed; unless
// the packet is a later fragment (no L4 header): the TCP checksum and a
// non-zero UDP checksum recomputed over the new pseudo header (a UDP
// checksum computing to 0 is sent as 0xffff); for an ICMP error, the
// quoted packet's opposite address (when it is from), the quoted header's
// checksum and the ICMP checksum. Options and payload untouched.
func natted(in []byte, dmac, smac net.HardwareAddr, src bool, from, to netip.Addr) []byte {
	out := bytes.Clone(in)
	copy(out[0:6], dmac)
	copy(out[6:12], smac)
	ip := out[14:]
	ihl := int(ip[0]&0xf) * 4
	a := 16
	if src {
		a = 12
	}
	if addr4(ip[a:]) != from {
		panic(fmt.Sprintf("natted: %v is not %v", addr4(ip[a:]), from))
	}
	t4 := to.As4()
	copy(ip[a:a+4], t4[:])
	ip[8]--
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], inetCsum(ip[:ihl]))
	if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
		return out
	}
	seg := ip[ihl:binary.BigEndian.Uint16(ip[2:])]
	s, d := addr4(ip[12:]), addr4(ip[16:])
	switch ip[9] {
	case 6:
		seg[16], seg[17] = 0, 0
		binary.BigEndian.PutUint16(seg[16:], l4Csum(s, d, 6, seg))
	case 17:
		if seg[6]|seg[7] != 0 {
			seg[6], seg[7] = 0, 0
			c := l4Csum(s, d, 17, seg)
			if c == 0 {
				c = 0xffff
			}
			binary.BigEndian.PutUint16(seg[6:], c)
		}
	case 1:
		if t := seg[0]; (t == 3 || t == 11 || t == 12) && len(seg) >= 28 {
			q := seg[8:]
			qa := 12
			if src {
				qa = 16 // an error the VM sends quotes a packet to it
			}
			if addr4(q[qa:]) == from {
				copy(q[qa:qa+4], t4[:])
				qihl := int(q[0]&0xf) * 4
				q[10], q[11] = 0, 0
				binary.BigEndian.PutUint16(q[10:], inetCsum(q[:qihl]))
			}
			seg[2], seg[3] = 0, 0
			binary.BigEndian.PutUint16(seg[2:], inetCsum(seg))
		}
	}
	return out
}

// wantNAT checks out against natted's want, and on its own that every
// checksum of out verifies.
func wantNAT(t *testing.T, out, want []byte) {
	t.Helper()
	if len(out) != len(want) {
		t.Fatalf("translated frame is %d bytes, want %d:\n got %x\nwant %x", len(out), len(want), out, want)
	}
	ip := out[14:]
	ihl := int(ip[0]&0xf) * 4
	if s := inetCsum(ip[:ihl]); s != 0 {
		t.Fatalf("IPv4 checksum does not verify (residue %#x): %x", s, ip[:ihl])
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff == 0 { // a whole datagram
		seg := ip[ihl:binary.BigEndian.Uint16(ip[2:])]
		s, d := addr4(ip[12:]), addr4(ip[16:])
		ok := true
		switch ip[9] {
		case 6:
			ok = l4Csum(s, d, 6, seg) == 0
		case 17:
			ok = binary.BigEndian.Uint16(seg[6:]) == 0 || l4Csum(s, d, 17, seg) == 0
		case 1:
			ok = inetCsum(seg) == 0
			if t := seg[0]; (t == 3 || t == 11 || t == 12) && len(seg) >= 28 {
				ok = ok && inetCsum(seg[8:8+int(seg[8]&0xf)*4]) == 0
			}
		}
		if !ok {
			t.Fatalf("a checksum of the translated packet does not verify: %x", out)
		}
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("translated frame\n got %x\nwant %x", out, want)
	}
}

// fromA is a packet of A sent to net 1's gateway MAC carrying seg.
func fromA(proto uint8, dst netip.Addr, ttl uint8, seg []byte) []byte {
	return ip4(rtGw1MAC, rtMACA, proto, rtIPA, dst, ttl, seg)
}

// toFIP is a packet from the outside (through the outside router) to the
// floating IP at the fg MAC carrying seg.
func toFIP(proto uint8, src netip.Addr, ttl uint8, seg []byte) []byte {
	return ip4(fipFgMAC, fipGwMAC, proto, src, fipFIP, ttl, seg)
}

// outCases are what A sends out to fipRemote.
func outCases() []struct {
	name  string
	proto uint8
	seg   []byte
} {
	return []struct {
		name  string
		proto uint8
		seg   []byte
	}{
		{"tcp", 6, l4Seg(6, rtIPA, fipRemote, 100)},
		{"tcp 1400", 6, l4Seg(6, rtIPA, fipRemote, 1400)},
		{"udp", 17, l4Seg(17, rtIPA, fipRemote, 33)},
		{"udp zero checksum", 17, udpZeroSeg(rtIPA, fipRemote, 40)},
		{"udp checksum computes to zero", 17, udpFoldsToZero(rtIPA, fipFIP, fipRemote)},
		{"icmp echo", 1, l4Seg(1, rtIPA, fipRemote, 56)},
	}
}

// ---- out ------------------------------------------------------------------------

// TestFIPOut: A's packets leaving the cloud (SNAT default route) go
// straight out of this node onto the external network as the floating IP:
// from the fg MAC to the outside router's MAC, source 203.0.113.77, TTL
// one less, every checksum valid, payload untouched; to the physnet NIC
// (without one: no_physnet). The UDP checksum 0 (none) stays 0 and a
// translated checksum computing to 0 is sent as 0xffff.
func TestFIPOut(t *testing.T) {
	for _, c := range outCases() {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			in := fromA(c.proto, fipRemote, 64, c.seg)
			before := f.state()
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to the physnet NIC", ret)
			}
			wantNAT(t, out, natted(in, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP))
			if out[22] != 63 {
				t.Fatalf("TTL out %d, want 63", out[22])
			}
			switch c.name {
			case "udp zero checksum":
				if out[40]|out[41] != 0 {
					t.Fatalf("UDP checksum %x, want 0 (none) kept", out[40:42])
				}
			case "udp checksum computes to zero":
				if out[40] != 0xff || out[41] != 0xff {
					t.Fatalf("UDP checksum %x, want ffff", out[40:42])
				}
			}
			f.wantDrops(nil)
			f.unchanged(before)

			// It was on its way to the physnet NIC: without one, no_physnet.
			f.must(f.m.PutNetwork(NetRow{NetID: fipExt, Type: "flat", MTU: 1500}))
			if ret, _ := f.run(f.p.PortIn, f.a, bytes.Clone(in)); ret != actShot {
				t.Fatalf("no physnet NIC: verdict %d, want shot", ret)
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_physnet", f.a): 1})
		})
	}

	// Without any route at all (no default route) a floating IP still
	// leaves, and TTL 2 still goes (as 1).
	t.Run("no default route", func(t *testing.T) {
		f := newFIPTopo(t)
		f.must(f.m.DeleteRoute(rtRouter, netip.MustParsePrefix("0.0.0.0/0")))
		for _, ttl := range []uint8{64, 2} {
			in := fromA(17, fipRemote, ttl, l4Seg(17, rtIPA, fipRemote, 20))
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("TTL %d: verdict %d, want redirect", ttl, ret)
			}
			wantNAT(t, out, natted(in, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP))
		}
		f.wantDrops(nil)
	})

	// Fragments: the first carries the UDP header whose checksum covers
	// the whole datagram (updated for the new address); a later one has
	// no L4 header and only its IPv4 header changes.
	t.Run("fragments", func(t *testing.T) {
		f := newFIPTopo(t)
		whole := fromA(17, fipRemote, 64, l4Seg(17, rtIPA, fipRemote, 200))
		wholeNAT := natted(whole, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP)
		const cut = 104 // UDP bytes in the first fragment (a multiple of 8)
		first := bytes.Clone(whole[:34+cut])
		binary.BigEndian.PutUint16(first[16:], uint16(20+cut))
		binary.BigEndian.PutUint16(first[20:], 0x2000) // MF
		setTTL(first, 64)
		later := append(bytes.Clone(whole[:34]), whole[34+cut:]...)
		binary.BigEndian.PutUint16(later[16:], uint16(len(later)-14))
		binary.BigEndian.PutUint16(later[20:], cut/8)
		setTTL(later, 64)

		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(first))
		if ret != actRedirect {
			t.Fatalf("first fragment: verdict %d, want redirect", ret)
		}
		want := natted(first, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP)
		copy(want[40:42], wholeNAT[40:42]) // the whole datagram's checksum
		wantNAT(t, out, want)

		ret, out = f.run(f.p.PortIn, f.a, bytes.Clone(later))
		if ret != actRedirect {
			t.Fatalf("later fragment: verdict %d, want redirect", ret)
		}
		want = natted(later, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP)
		if !bytes.Equal(want[34:], later[34:]) {
			t.Fatal("natted touched a later fragment's data")
		}
		wantNAT(t, out, want)
		f.wantDrops(nil)
	})
}

// TestFIPOutICMPError: an ICMP error A sends (port unreachable about a
// UDP packet 198.51.100.7 -> 10.10.1.10 it got through its floating IP)
// leaves with the floating IP as outer source and as the quoted packet's
// destination, the quoted header's checksum and the ICMP checksum valid.
// A quote of some other packet keeps its addresses; a quote too short to
// hold an IPv4 header is left as it is.
func TestFIPOutICMPError(t *testing.T) {
	got := ipPkt(17, fipRemote, rtIPA, 55, l4Seg(17, fipRemote, rtIPA, 20))
	other := ipPkt(17, fipRemote, fipIPV, 55, l4Seg(17, fipRemote, fipIPV, 20))
	for _, c := range []struct {
		name      string
		seg       []byte
		innerNATd bool
	}{
		{"port unreachable", icmpErrSeg(3, 3, got), true},
		{"port unreachable, 8 bytes quoted", icmpErrSeg(3, 3, got[:28]), true},
		{"time exceeded", icmpErrSeg(11, 0, got), true},
		{"parameter problem", icmpErrSeg(12, 0, got), true},
		{"quote of another address", icmpErrSeg(3, 3, other), false},
		{"quote too short", icmpErrSeg(3, 3, got[:12]), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			in := fromA(1, fipRemote, 64, c.seg)
			before := f.state()
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect", ret)
			}
			want := natted(in, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP)
			wantNAT(t, out, want)
			if q := out[42:]; len(q) >= 20 {
				wantDst := fipIPV
				if c.innerNATd {
					wantDst = fipFIP
				}
				if addr4(q[16:]) != wantDst || addr4(q[12:]) != fipRemote || inetCsum(q[:20]) != 0 {
					t.Fatalf("quoted packet %v -> %v (header residue %#x), want %v -> %v, valid", addr4(q[12:]), addr4(q[16:]),
						inetCsum(q[:20]), fipRemote, wantDst)
				}
			} else if !bytes.Equal(out[42:], in[42:]) {
				t.Fatalf("short quote changed: %x", out[42:])
			}
			f.wantDrops(nil)
			f.unchanged(before)
		})
	}
}

// TestFIPOutNeighbour: the next hop on the external network. Not resolved
// yet (ext_gw without the gateway MAC): dropped as fip_neigh, never sent
// elsewhere, except to a port of the external network, which needs no
// gateway. To E (203.0.113.50, a local port of the external network) the
// frame goes to E's MAC and is delivered to E directly, still as the
// floating IP.
func TestFIPOutNeighbour(t *testing.T) {
	toE := fromA(6, fipIPE, 64, l4Seg(6, rtIPA, fipIPE, 60))
	wantE := natted(toE, fipMACE, fipFgMAC, true, rtIPA, fipFIP)
	t.Run("gateway not resolved", func(t *testing.T) {
		f := newFIPTopo(t)
		f.must(f.m.PutExtGW(ExtGWRow{NetID: fipExt, FgIP: fipFgIP, FgMAC: fipFgMAC}))
		f.must(setNetFlag(f.m, fipExt, netExtGW))
		before := f.state()
		for _, proto := range []uint8{1, 6, 17} {
			in := fromA(proto, fipRemote, 64, l4Seg(proto, rtIPA, fipRemote, 30))
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actShot || !bytes.Equal(out, in) {
				t.Fatalf("proto %d: verdict %d, frame changed %v; want shot, untouched", proto, ret, !bytes.Equal(out, in))
			}
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/fip_neigh", f.a): 3})
		f.resetDrops()

		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(toE))
		if ret != actRedirect {
			t.Fatalf("to E: verdict %d, want redirect", ret)
		}
		wantNAT(t, out, wantE)
		f.wantDrops(nil)
		f.unchanged(before)
	})
	t.Run("to a local port of the external network", func(t *testing.T) {
		f := newFIPTopo(t)
		before := f.state()
		for _, in := range [][]byte{toE, fromA(17, fipIPE, 64, l4Seg(17, rtIPA, fipIPE, 31)), fromA(1, fipIPE, 9, l4Seg(1, rtIPA, fipIPE, 56))} {
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to E", ret)
			}
			wantNAT(t, out, natted(in, fipMACE, fipFgMAC, true, rtIPA, fipFIP))
		}
		f.wantDrops(nil)
		f.unchanged(before)

		// Delivered to E, not to the NIC: E down drops it (port_down).
		f.must(f.m.PutPort(PortRow{Ifindex: f.e, NetID: fipExt, MAC: fipMACE, Up: false}))
		if ret, _ := f.run(f.p.PortIn, f.a, bytes.Clone(toE)); ret != actShot {
			t.Fatalf("E down: verdict %d, want shot", ret)
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/port_down", f.a): 1})
	})
	// A port of the external network on another node: its MAC, out of the NIC.
	t.Run("to a remote port of the external network", func(t *testing.T) {
		f := newFIPTopo(t)
		macE2, ipE2 := mac("02:00:00:05:00:33"), netip.MustParseAddr("203.0.113.51")
		f.must(f.m.PutFDB(FDBRow{NetID: fipExt, MAC: macE2, VTEP: vtep}))
		f.must(f.m.PutARP(ARPRow{NetID: fipExt, IP: ipE2, MAC: macE2}))
		in := fromA(17, ipE2, 64, l4Seg(17, rtIPA, ipE2, 20))
		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
		if ret != actRedirect {
			t.Fatalf("verdict %d, want redirect", ret)
		}
		wantNAT(t, out, natted(in, macE2, fipFgMAC, true, rtIPA, fipFIP))
		f.must(f.m.PutNetwork(NetRow{NetID: fipExt, Type: "flat", MTU: 1500}))
		if ret, _ := f.run(f.p.PortIn, f.a, bytes.Clone(in)); ret != actShot {
			t.Fatalf("no physnet NIC: verdict %d, want shot", ret)
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_physnet", f.a): 1})
	})
	// No ext_gw for the floating IP's network: dropped, never sent with
	// the fixed address nor through SNAT.
	t.Run("no ext_gw", func(t *testing.T) {
		f := newFIPTopo(t)
		f.must(f.m.DeleteExtGW(fipExt))
		in := fromA(17, fipRemote, 64, l4Seg(17, rtIPA, fipRemote, 20))
		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
		if ret != actShot || !bytes.Equal(out, in) {
			t.Fatalf("verdict %d, frame changed %v; want shot, untouched", ret, !bytes.Equal(out, in))
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_network", f.a): 1})
	})
}

// TestFIPOutErrors: the router's own answers on the floating IP path, back
// to A as it sent the packet (A's MACs swapped: the gateway MAC as
// source), from net 1's gateway 10.10.1.1: TTL exhausted -> time
// exceeded; larger than the external network's MTU (1500) -> frag needed
// carrying 1500. Nothing leaves, nothing is translated.
func TestFIPOutErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		in        []byte
		typ, code uint8
		mtu       uint16
		reason    string
	}{
		{"ttl 1", fromA(17, fipRemote, 1, l4Seg(17, rtIPA, fipRemote, 20)), 11, 0, 0, "ttl_exceeded"},
		{"ttl 0 tcp", fromA(6, fipRemote, 0, l4Seg(6, rtIPA, fipRemote, 20)), 11, 0, 0, "ttl_exceeded"},
		{"ttl 1 echo", fromA(1, fipRemote, 1, l4Seg(1, rtIPA, fipRemote, 56)), 11, 0, 0, "ttl_exceeded"},
		{"ttl 1 to E", fromA(17, fipIPE, 1, l4Seg(17, rtIPA, fipIPE, 20)), 11, 0, 0, "ttl_exceeded"},
		{"oversize udp", fromA(17, fipRemote, 64, l4Seg(17, rtIPA, fipRemote, 1500-28+1)), 3, 4, 1500, "frag_needed"},
		{"oversize tcp to E", fromA(6, fipIPE, 64, l4Seg(6, rtIPA, fipIPE, 1500-40+1)), 3, 4, 1500, "frag_needed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			before := f.state()
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(c.in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect of the ICMP answer", ret)
			}
			want := icmpErr(c.in, c.typ, c.code, rtGw1)
			if c.mtu != 0 {
				binary.BigEndian.PutUint16(want[40:], c.mtu)
				want[36], want[37] = 0, 0
				binary.BigEndian.PutUint16(want[36:], inetCsum(want[34:]))
			}
			if len(out) != 70 || inetCsum(out[14:34]) != 0 || inetCsum(out[34:]) != 0 {
				t.Fatalf("ICMP answer malformed: %x", out)
			}
			if !bytes.Equal(out[0:6], rtMACA) || !bytes.Equal(out[6:12], rtGw1MAC) || addr4(out[26:]) != rtGw1 ||
				addr4(out[30:]) != rtIPA || addr4(out[42+12:]) != rtIPA {
				t.Fatalf("ICMP answer is not from the gateway (%v) to A, quoting A's packet: %x", rtGw1, out)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("ICMP answer\n got %x\nwant %x", out, want)
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/%s", f.a, c.reason): 1})
			if b := f.dropBytes(f.a, c.reason); b != uint64(len(c.in)) {
				t.Fatalf("%s counted %d bytes, want the packet's %d", c.reason, b, len(c.in))
			}
			f.unchanged(before)
		})
	}
	// At the MTU it goes.
	t.Run("at the mtu", func(t *testing.T) {
		f := newFIPTopo(t)
		for _, in := range [][]byte{
			fromA(17, fipRemote, 64, l4Seg(17, rtIPA, fipRemote, 1500-28)),
			fromA(6, fipIPE, 64, l4Seg(6, rtIPA, fipIPE, 1500-40)),
		} {
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect", ret)
			}
			dmac := fipGwMAC
			if addr4(in[30:]) == fipIPE {
				dmac = fipMACE
			}
			wantNAT(t, out, natted(in, dmac, fipFgMAC, true, rtIPA, fipFIP))
		}
		f.wantDrops(nil)
	})
}

// TestFIPNoLeak: only A's packets become the floating IP. V (net 1, no
// floating IP) takes the SNAT default route: to the SNAT port's MAC (on
// another node: this node's DVR MAC as source), destination and source
// addresses as sent. A's packets to a connected subnet are routed, not
// translated. A VM of another router with A's very fixed IP (overlapping
// tenant addresses) takes its own router's SNAT port. Once A's floating IP
// is removed, A goes through SNAT too.
func TestFIPNoLeak(t *testing.T) {
	t.Run("vm without a floating ip", func(t *testing.T) {
		f := newFIPTopo(t)
		before := f.state()
		for _, proto := range []uint8{1, 6, 17} {
			in := ip4(rtGw1MAC, fipMACV, proto, fipIPV, fipRemote, 64, l4Seg(proto, fipIPV, fipRemote, 40))
			ret, out := f.run(f.p.PortIn, f.v, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("proto %d: verdict %d, want redirect", proto, ret)
			}
			wantRouted(t, out, in, fipSNATMAC, rtDVRSelf)
		}
		f.wantDrops(nil)
		f.unchanged(before)
	})
	t.Run("connected subnet", func(t *testing.T) {
		f := newFIPTopo(t)
		in := pktTo(17, rtIPB, 64, 20)
		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
		if ret != actRedirect {
			t.Fatalf("verdict %d, want redirect", ret)
		}
		wantRouted(t, out, in, rtMACB, rtGw2MAC)
		f.wantDrops(nil)
	})
	t.Run("same fixed ip behind another router", func(t *testing.T) {
		f := newFIPTopo(t)
		h := veth(t, "ph")
		macH, gw6MAC, snat6MAC := mac("02:00:00:06:00:0a"), mac("fa:16:3e:00:06:01"), mac("fa:16:3e:00:06:05")
		f.must(f.m.PutNetwork(NetRow{NetID: 6, Type: "vxlan", Segment: 106, MTU: rtVXMTU}))
		f.must(f.m.PutSegment(SegmentRow{Type: "vxlan", Segment: 106, NetID: 6}))
		f.must(f.m.PutRIF(RIFRow{NetID: 6, RouterID: 8, GwIP: rtGw1, GwMAC: gw6MAC, SNATIP: fipSNATIP}))
		f.must(setNetFlag(f.m, 6, netRouted))
		f.must(f.m.PutRoute(RouteRow{RouterID: 8, Prefix: netip.MustParsePrefix("10.10.1.0/24"), NetID: 6}))
		f.must(f.m.PutRoute(RouteRow{RouterID: 8, Prefix: netip.MustParsePrefix("0.0.0.0/0"), SNAT: true}))
		f.must(f.m.PutARP(ARPRow{NetID: 6, IP: fipSNATIP, MAC: snat6MAC}))
		f.must(f.m.PutFDB(FDBRow{NetID: 6, MAC: snat6MAC, VTEP: vtep}))
		f.must(f.m.PutPort(PortRow{Ifindex: h, NetID: 6, MAC: macH, Up: true}))
		f.must(f.m.PutFDB(FDBRow{NetID: 6, MAC: macH, Ifindex: h}))
		f.must(f.m.PutARP(ARPRow{NetID: 6, IP: rtIPA, MAC: macH}))
		for _, dst := range []netip.Addr{fipRemote, fipIPE} {
			in := ip4(gw6MAC, macH, 6, rtIPA, dst, 64, l4Seg(6, rtIPA, dst, 40))
			ret, out := f.run(f.p.PortIn, h, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("to %v: verdict %d, want redirect", dst, ret)
			}
			wantRouted(t, out, in, snat6MAC, rtDVRSelf)
		}
		f.wantDrops(nil)
	})
	t.Run("floating ip removed", func(t *testing.T) {
		f := newFIPTopo(t)
		f.must(f.m.DeleteFIP(fipRowA))
		for _, dst := range []netip.Addr{fipRemote, fipIPE} {
			in := fromA(17, dst, 64, l4Seg(17, rtIPA, dst, 20))
			ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("to %v: verdict %d, want redirect", dst, ret)
			}
			wantRouted(t, out, in, fipSNATMAC, rtDVRSelf)
		}
		f.wantDrops(nil)
	})
}

// ---- in -------------------------------------------------------------------------

// inCases are what the outside sends to the floating IP.
func inCases() []struct {
	name  string
	proto uint8
	seg   []byte
} {
	return []struct {
		name  string
		proto uint8
		seg   []byte
	}{
		{"tcp", 6, l4Seg(6, fipRemote, fipFIP, 100)},
		{"tcp 1400", 6, l4Seg(6, fipRemote, fipFIP, 1400)},
		{"udp", 17, l4Seg(17, fipRemote, fipFIP, 33)},
		{"udp zero checksum", 17, udpZeroSeg(fipRemote, fipFIP, 40)},
		{"icmp echo", 1, l4Seg(1, fipRemote, fipFIP, 56)},
		{"icmp echo reply", 1, echoReplySeg(56)},
	}
}

// TestFIPIn: from the outside (the physnet NIC), a packet to the floating
// IP at the fg MAC reaches A: destination 10.10.1.10, TTL one less, from
// net 1's gateway MAC to A's MAC, every checksum valid, the outside
// host's address and the payload untouched; delivered to A (A down:
// port_down).
func TestFIPIn(t *testing.T) {
	for _, c := range inCases() {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			in := toFIP(c.proto, fipRemote, 60, c.seg)
			before := f.state()
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to A", ret)
			}
			wantNAT(t, out, natted(in, rtMACA, rtGw1MAC, false, fipFIP, rtIPA))
			if out[22] != 59 || addr4(out[26:]) != fipRemote {
				t.Fatalf("TTL %d, source %v; want 59, %v", out[22], addr4(out[26:]), fipRemote)
			}
			if c.name == "udp zero checksum" && out[40]|out[41] != 0 {
				t.Fatalf("UDP checksum %x, want 0 (none) kept", out[40:42])
			}
			f.wantDrops(nil)
			f.unchanged(before)

			f.must(f.m.PutPort(PortRow{Ifindex: f.a, NetID: 1, MAC: rtMACA, Up: false}))
			if ret, _ := f.run(f.p.PhysIn, f.phys, bytes.Clone(in)); ret != actShot {
				t.Fatalf("A down: verdict %d, want shot", ret)
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/port_down", f.phys): 1})
		})
	}

	// Nowhere to deliver: counted drops on the NIC, the frame untouched.
	for _, c := range []struct {
		name, reason string
		ttl          uint8
		mod          func(f *fipTopo)
	}{
		{"ttl 1", "ttl_exceeded", 1, nil},
		{"ttl 0", "ttl_exceeded", 0, nil},
		{"vm not here", "fdb_miss", 60, func(f *fipTopo) { f.must(f.m.DeleteFDB(1, rtMACA)) }},
		{"vm on another node", "fdb_miss", 60, func(f *fipTopo) { f.must(f.m.PutFDB(FDBRow{NetID: 1, MAC: rtMACA, VTEP: vtep})) }},
		{"vm address unknown", "route_neigh", 60, func(f *fipTopo) { f.must(f.m.DeleteARP(1, rtIPA)) }},
		{"no rif", "no_network", 60, func(f *fipTopo) { f.must(f.m.DeleteRIF(1)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			if c.mod != nil {
				c.mod(f)
			}
			in := toFIP(17, fipRemote, c.ttl, l4Seg(17, fipRemote, fipFIP, 20))
			before := f.state()
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(in))
			if ret != actShot || !bytes.Equal(out, in) {
				t.Fatalf("verdict %d, frame changed %v; want shot, untouched", ret, !bytes.Equal(out, in))
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/%s", f.phys, c.reason): 1})
			f.unchanged(before)
		})
	}
}

// TestFIPInICMPError: an ICMP error from the outside to the floating IP
// about a packet that left as the floating IP (quoted source
// 203.0.113.77) reaches A with the outer destination and the quoted
// source back to 10.10.1.10, the quoted header's and the ICMP checksums
// valid; a quote about another address keeps it.
func TestFIPInICMPError(t *testing.T) {
	sentUDP := ipPkt(17, fipFIP, fipRemote, 63, l4Seg(17, fipFIP, fipRemote, 20))
	sentEcho := ipPkt(1, fipFIP, fipRemote, 1, l4Seg(1, fipFIP, fipRemote, 56))
	sentTCP := ipPkt(6, fipFIP, fipRemote, 63, l4Seg(6, fipFIP, fipRemote, 0))
	sentOther := ipPkt(17, fipFIP2, fipRemote, 63, l4Seg(17, fipFIP2, fipRemote, 20))
	for _, c := range []struct {
		name      string
		from      netip.Addr
		seg       []byte
		innerNATd bool
	}{
		{"port unreachable", fipRemote, icmpErrSeg(3, 3, sentUDP), true},
		{"frag needed", fipRouter, icmpErrSeg(3, 4, sentTCP[:28]), true},
		{"time exceeded", fipRouter, icmpErrSeg(11, 0, sentEcho[:28]), true},
		{"parameter problem", fipRouter, icmpErrSeg(12, 0, sentUDP), true},
		{"quote of another address", fipRemote, icmpErrSeg(3, 3, sentOther), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			in := toFIP(1, c.from, 60, c.seg)
			before := f.state()
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to A", ret)
			}
			wantNAT(t, out, natted(in, rtMACA, rtGw1MAC, false, fipFIP, rtIPA))
			wantSrc := fipFIP2
			if c.innerNATd {
				wantSrc = rtIPA
			}
			if q := out[42:]; addr4(q[12:]) != wantSrc || addr4(q[16:]) != fipRemote || addr4(out[26:]) != c.from {
				t.Fatalf("%v -> %v quoting %v -> %v; want %v -> %v quoting %v -> %v", addr4(out[26:]), addr4(out[30:]),
					addr4(q[12:]), addr4(q[16:]), c.from, rtIPA, wantSrc, fipRemote)
			}
			f.wantDrops(nil)
			f.unchanged(before)
		})
	}
}

// TestFIPInNotOurs: what reaches the physnet NIC but is not for a floating
// IP served here is not translated and continues on the ordinary path,
// untouched: to the fg MAC for the fg address itself, an unknown address
// or not IPv4 -> the fg port (fg down: port_down; without its FDB entry:
// TCX_NEXT, the host's); the floating IP at another MAC -> that MAC's
// local port, or TCX_NEXT when it is none here.
func TestFIPInNotOurs(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		port string // "fg", "e" or "" (TCX_NEXT)
	}{
		{"fg address", toFIPAt(fipFgMAC, fipFgIP), "fg"},
		{"unknown address", toFIPAt(fipFgMAC, fipUnused), "fg"},
		{"E's address", toFIPAt(fipFgMAC, fipIPE), "fg"},
		{"ipv6 to the fg mac", ethFrame(fipFgMAC, fipGwMAC, 0x86dd, 80), "fg"},
		{"floating ip to E's mac", toFIPAt(fipMACE, fipFIP), "e"},
		{"floating ip to an unknown mac", toFIPAt(mac("02:00:00:05:00:99"), fipFIP), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			before := f.state()
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(c.in))
			want := uint32(actRedirect)
			if c.port == "" {
				want = tcxNext
			}
			if ret != want || !bytes.Equal(out, c.in) {
				t.Fatalf("verdict %#x, frame changed %v; want %#x, untouched:\n got %x\nwant %x", ret, !bytes.Equal(out, c.in), want,
					out, c.in)
			}
			f.wantDrops(nil)
			f.unchanged(before)
			if c.port == "" {
				return
			}
			// The redirect was to that port: down, it drops the frame.
			ifindex, m := f.fg, fipFgMAC
			if c.port == "e" {
				ifindex, m = f.e, fipMACE
			}
			f.must(f.m.PutPort(PortRow{Ifindex: ifindex, NetID: fipExt, MAC: m, Up: false}))
			if ret, _ := f.run(f.p.PhysIn, f.phys, bytes.Clone(c.in)); ret != actShot {
				t.Fatalf("port down: verdict %d, want shot", ret)
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/port_down", f.phys): 1})
			f.resetDrops()
			// Without an FDB entry for it, the host's (TCX_NEXT).
			f.must(f.m.DeleteFDB(fipExt, m))
			if ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(c.in)); ret != tcxNext || !bytes.Equal(out, c.in) {
				t.Fatalf("no fdb entry: verdict %#x, frame changed %v; want TCX_NEXT, untouched", ret, !bytes.Equal(out, c.in))
			}
			f.wantDrops(nil)
		})
	}
	// Not a floating IP of this node any more.
	t.Run("floating ip removed", func(t *testing.T) {
		f := newFIPTopo(t)
		f.must(f.m.DeleteFIP(fipRowA))
		in := toFIPAt(fipFgMAC, fipFIP)
		ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(in))
		if ret != actRedirect || !bytes.Equal(out, in) {
			t.Fatalf("verdict %d, frame changed %v; want redirect to the fg port, untouched", ret, !bytes.Equal(out, in))
		}
		f.wantDrops(nil)
	})
}

// toFIPAt is a UDP packet from the outside to dst, sent to dmac.
func toFIPAt(dmac net.HardwareAddr, dst netip.Addr) []byte {
	return ip4(dmac, fipGwMAC, 17, fipRemote, dst, 60, l4Seg(17, fipRemote, dst, 20))
}

// TestFIPIPOptions: an IPv4 packet with options (here NOP NOP NOP EOL)
// from or to a floating IP is translated like any other, the options
// untouched.
func TestFIPIPOptions(t *testing.T) {
	withOptions := func(dmac, smac net.HardwareAddr, src, dst netip.Addr) []byte {
		seg := append([]byte{1, 1, 1, 0}, l4Seg(17, src, dst, 20)...)
		f := ip4(dmac, smac, 17, src, dst, 64, seg)
		f[14] = 0x46
		f[24], f[25] = 0, 0
		binary.BigEndian.PutUint16(f[24:], inetCsum(f[14:38])) // the options are in the header sum
		return f
	}
	t.Run("out", func(t *testing.T) {
		f := newFIPTopo(t)
		in := withOptions(rtGw1MAC, rtMACA, rtIPA, fipRemote)
		ret, out := f.run(f.p.PortIn, f.a, bytes.Clone(in))
		if ret != actRedirect {
			t.Fatalf("verdict %d, want redirect", ret)
		}
		wantNAT(t, out, natted(in, fipGwMAC, fipFgMAC, true, rtIPA, fipFIP))
	})
	t.Run("in", func(t *testing.T) {
		f := newFIPTopo(t)
		in := withOptions(fipFgMAC, fipGwMAC, fipRemote, fipFIP)
		ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(in))
		if ret != actRedirect {
			t.Fatalf("verdict %d, want redirect", ret)
		}
		wantNAT(t, out, natted(in, rtMACA, rtGw1MAC, false, fipFIP, rtIPA))
	})
}

// ---- proxy ARP -------------------------------------------------------------------

// TestFIPProxyARP: on the external network's NIC a broadcast ARP request
// for the floating IP is answered by this node (it serves it) with the fg
// MAC, back out of the NIC to the requester. A request for any other
// address, or anything but a request, is flooded to the local ports as
// before, never answered here; once the floating IP is removed, it is not
// answered either.
func TestFIPProxyARP(t *testing.T) {
	zero := make(net.HardwareAddr, 6)
	reqFrom := func(dst net.HardwareAddr, tpa netip.Addr) []byte {
		return arpFrame(dst, fipGwMAC, 1, fipGwMAC, fipExtGw, zero, tpa)
	}
	t.Run("answered", func(t *testing.T) {
		f := newFIPTopo(t)
		before := f.state()
		for _, req := range [][]byte{
			reqFrom(broadcast, fipFIP),
			// Another outside host, with a target MAC filled in (allowed).
			arpFrame(broadcast, mac("02:00:00:ee:05:07"), 1, mac("02:00:00:ee:05:07"), netip.MustParseAddr("203.0.113.7"), broadcast, fipFIP),
		} {
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(req))
			want := arpFrame(req[6:12], fipFgMAC, 2, fipFgMAC, fipFIP, req[22:28], addr4(req[28:]))
			if ret != actRedirect || !bytes.Equal(out, want) {
				t.Fatalf("verdict %d, reply\n got %x\nwant %x", ret, out, want)
			}
		}
		f.wantDrops(nil)
		f.unchanged(before)
	})

	other := arpFrame(broadcast, fipGwMAC, 1, fipGwMAC, fipExtGw, zero, fipFIP)
	other[21] = 2 // an ARP reply (a gratuitous one) for the floating IP
	for _, c := range []struct {
		name string
		req  []byte
		mod  func(f *fipTopo)
	}{
		{"fg address", reqFrom(broadcast, fipFgIP), nil},
		{"local port's address", reqFrom(broadcast, fipIPE), nil},
		{"unknown address", reqFrom(broadcast, fipUnused), nil},
		{"another node's floating ip", reqFrom(broadcast, fipFIP2), nil},
		{"reply for the floating ip", other, nil},
		{"floating ip removed", reqFrom(broadcast, fipFIP), func(f *fipTopo) { f.must(f.m.DeleteFIP(fipRowA)) }},
		{"no ext_gw", reqFrom(broadcast, fipFIP), func(f *fipTopo) { f.must(f.m.DeleteExtGW(fipExt)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			if c.mod != nil {
				c.mod(f)
			}
			before := f.state()
			te, tfg, ta := txPackets(t, f.e), txPackets(t, f.fg), txPackets(t, f.a)
			ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(c.req))
			if ret != actShot || !bytes.Equal(out, c.req) {
				t.Fatalf("verdict %d, frame changed %v; want shot (after cloning), untouched:\n got %x", ret,
					!bytes.Equal(out, c.req), out)
			}
			if d := [3]uint64{txPackets(t, f.e) - te, txPackets(t, f.fg) - tfg, txPackets(t, f.a) - ta}; d != [3]uint64{1, 1, 0} {
				t.Fatalf("copies (E, fg, A) = %v, want [1 1 0]", d)
			}
			f.wantDrops(nil)
			f.unchanged(before)
		})
	}

	// Linux revalidates a neighbour (NUD_PROBE) with unicast requests to
	// the MAC it has: the outside router asks the fg MAC for the floating
	// IP directly, and a proxy ARP (as Linux's on the fg port in Neutron's
	// fip namespace) answers those too.
	t.Run("unicast request", func(t *testing.T) {
		f := newFIPTopo(t)
		req := arpFrame(fipFgMAC, fipGwMAC, 1, fipGwMAC, fipExtGw, fipFgMAC, fipFIP)
		ret, out := f.run(f.p.PhysIn, f.phys, bytes.Clone(req))
		want := arpFrame(fipGwMAC, fipFgMAC, 2, fipFgMAC, fipFIP, fipGwMAC, fipExtGw)
		if ret != actRedirect || !bytes.Equal(out, want) {
			t.Fatalf("verdict %d, reply\n got %x\nwant %x", ret, out, want)
		}
	})
}

// ---- from a port of the external network on this node ----------------------------

// TestFIPFromExternalPort: E, a port of the external network on A's node,
// resolves the floating IP to the fg MAC (the ARP responder, from the
// entry the agent writes) and reaches A through it without the NIC, with
// the same translation as from outside; its packets to the fg address
// itself go to the fg port untouched.
func TestFIPFromExternalPort(t *testing.T) {
	zero := make(net.HardwareAddr, 6)
	t.Run("arp", func(t *testing.T) {
		f := newFIPTopo(t)
		for _, dst := range []net.HardwareAddr{broadcast, fipFgMAC} {
			req := arpFrame(dst, fipMACE, 1, fipMACE, fipIPE, zero, fipFIP)
			ret, out := f.run(f.p.PortIn, f.e, req)
			want := arpFrame(fipMACE, fipFgMAC, 2, fipFgMAC, fipFIP, fipMACE, fipIPE)
			if ret != actRedirect || !bytes.Equal(out, want) {
				t.Fatalf("ARP to %v: verdict %d reply\n got %x\nwant %x", dst, ret, out, want)
			}
		}
		f.wantDrops(nil)
	})
	for _, c := range []struct {
		name  string
		proto uint8
		seg   []byte
	}{
		{"tcp", 6, l4Seg(6, fipIPE, fipFIP, 100)},
		{"udp", 17, l4Seg(17, fipIPE, fipFIP, 33)},
		{"udp zero checksum", 17, udpZeroSeg(fipIPE, fipFIP, 40)},
		{"icmp echo", 1, l4Seg(1, fipIPE, fipFIP, 56)},
		{"icmp error", 1, icmpErrSeg(3, 3, ipPkt(17, fipFIP, fipIPE, 63, l4Seg(17, fipFIP, fipIPE, 20)))},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			in := ip4(fipFgMAC, fipMACE, c.proto, fipIPE, fipFIP, 64, c.seg)
			before := f.state()
			ret, out := f.run(f.p.PortIn, f.e, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to A", ret)
			}
			wantNAT(t, out, natted(in, rtMACA, rtGw1MAC, false, fipFIP, rtIPA))
			f.wantDrops(nil)
			f.unchanged(before)

			f.must(f.m.PutPort(PortRow{Ifindex: f.a, NetID: 1, MAC: rtMACA, Up: false}))
			if ret, _ := f.run(f.p.PortIn, f.e, bytes.Clone(in)); ret != actShot {
				t.Fatalf("A down: verdict %d, want shot", ret)
			}
			f.wantDrops(map[string]uint64{fmt.Sprintf("%d/port_down", f.e): 1})
		})
	}
	t.Run("ttl 1", func(t *testing.T) {
		f := newFIPTopo(t)
		in := ip4(fipFgMAC, fipMACE, 17, fipIPE, fipFIP, 1, l4Seg(17, fipIPE, fipFIP, 20))
		ret, out := f.run(f.p.PortIn, f.e, bytes.Clone(in))
		if ret != actShot || !bytes.Equal(out, in) {
			t.Fatalf("verdict %d, frame changed %v; want shot, untouched", ret, !bytes.Equal(out, in))
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/ttl_exceeded", f.e): 1})
	})
	t.Run("fg address", func(t *testing.T) {
		f := newFIPTopo(t)
		in := ip4(fipFgMAC, fipMACE, 17, fipIPE, fipFgIP, 64, l4Seg(17, fipIPE, fipFgIP, 20))
		ret, out := f.run(f.p.PortIn, f.e, bytes.Clone(in))
		if ret != actRedirect || !bytes.Equal(out, in) {
			t.Fatalf("verdict %d, frame changed %v; want redirect to the fg port, untouched", ret, !bytes.Equal(out, in))
		}
		f.must(f.m.PutPort(PortRow{Ifindex: f.fg, NetID: fipExt, MAC: fipFgMAC, Up: false}))
		if ret, _ := f.run(f.p.PortIn, f.e, bytes.Clone(in)); ret != actShot {
			t.Fatalf("fg down: verdict %d, want shot", ret)
		}
		f.wantDrops(map[string]uint64{fmt.Sprintf("%d/port_down", f.e): 1})
	})
}

// ---- floating IP to floating IP on one node ------------------------------------------

// TestFIPToFIPSameNode: a VM with a floating IP reaching a floating IP
// served on the same node (another VM's, or its own, as Neutron's DVR
// allows through the fip namespace) must reach that VM: delivered to A
// from net 1's gateway MAC, destination 10.10.1.10, the sender seen as
// its floating IP.
func TestFIPToFIPSameNode(t *testing.T) {
	for _, c := range []struct {
		name       string
		port       func(f *fipTopo) uint32
		gw, vm     net.HardwareAddr
		fixed, fip netip.Addr
	}{
		{"another vm's floating ip", func(f *fipTopo) uint32 { return f.b }, rtGw2MAC, rtMACB, rtIPB, fipFIP2},
		{"own floating ip", func(f *fipTopo) uint32 { return f.a }, rtGw1MAC, rtMACA, rtIPA, fipFIP},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			if c.fip == fipFIP2 {
				f.must(f.m.PutFIP(FIPRow{NetID: 2, FixedIP: rtIPB, ExtNet: fipExt, FIP: fipFIP2}))
				f.must(f.m.PutARP(ARPRow{NetID: fipExt, IP: fipFIP2, MAC: fipFgMAC}))
			}
			port := c.port(f)
			in := ip4(c.gw, c.vm, 17, c.fixed, fipFIP, 64, l4Seg(17, c.fixed, fipFIP, 20))
			ret, out := f.run(f.p.PortIn, port, bytes.Clone(in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to A", ret)
			}
			if len(out) != len(in) || !bytes.Equal(out[0:6], rtMACA) || !bytes.Equal(out[6:12], rtGw1MAC) ||
				addr4(out[26:]) != c.fip || addr4(out[30:]) != rtIPA || out[22] >= in[22] ||
				inetCsum(out[14:34]) != 0 || l4Csum(c.fip, rtIPA, 17, out[34:]) != 0 || !bytes.Equal(out[42:], in[42:]) {
				t.Fatalf("not delivered to A as from %v:\n got %x", c.fip, out)
			}
		})
	}
}

// ---- checksum offload: real sockets through TCX ------------------------------------

// TestFIPChecksumOffload: what BPF_PROG_TEST_RUN cannot show. A VM's
// TCP/UDP leaves with checksum offload: the skb is CHECKSUM_PARTIAL and
// its checksum field holds only the pseudo header's sum, which the NAT
// must update for the new address (BPF_F_PSEUDO_HDR; the kernel ignores
// that flag on the CHECKSUM_NONE skbs of a test run). Here the programs
// are attached with TCX to the veths, a kernel socket sends (the veth
// offloads checksums, so the skb is CHECKSUM_PARTIAL), and the translated
// frame is captured at the other end: out from A's veth to the physnet
// NIC, in from the NIC to A's veth. Its checksum must be complete and
// valid, or (as seen on veths) the pseudo-header seed of the translated
// addresses, never that of the old ones.
func TestFIPChecksumOffload(t *testing.T) {
	payload := []byte("hello, floating world")
	for _, c := range []struct {
		name  string
		in    bool
		proto uint8
	}{{"out udp", false, 17}, {"out tcp", false, 6}, {"in udp", true, 17}, {"in tcp", true, 6}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFIPTopo(t)
			for _, a := range []struct {
				prog    *ebpf.Program
				ifindex uint32
			}{{f.p.PortIn, f.a}, {f.p.PhysIn, f.phys}} {
				l, err := link.AttachTCX(link.TCXOptions{Interface: int(a.ifindex), Program: a.prog, Attach: ebpf.AttachTCXIngress})
				if err != nil {
					t.Fatalf("attach tcx: %v", err)
				}
				t.Cleanup(func() { l.Close() })
			}
			// The sender: A's side of its veth (default via the gateway),
			// or the outside host on the NIC's far end (the external
			// subnet on link, the floating IP at the fg MAC).
			dev, capDev, src, nb, nbMAC, dst := "pap", "physp", rtIPA, rtGw1, rtGw1MAC, fipRemote
			dmac, smac, wantSrc, wantDst := fipGwMAC, fipFgMAC, fipFIP, fipRemote
			rt := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: nb.AsSlice()}
			if c.in {
				dev, capDev, src, nb, nbMAC, dst = "physp", "pap", fipRemote, fipFIP, fipFgMAC, fipFIP
				dmac, smac, wantSrc, wantDst = rtMACA, rtGw1MAC, fipRemote, rtIPA
				rt = &netlink.Route{Dst: &net.IPNet{IP: net.IP{203, 0, 113, 0}, Mask: net.CIDRMask(24, 32)}, Scope: netlink.SCOPE_LINK}
			}
			l, err := netlink.LinkByName(dev)
			f.must(err)
			rt.LinkIndex = l.Attrs().Index
			f.must(netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: src.AsSlice(), Mask: net.CIDRMask(24, 32)}}))
			f.must(netlink.NeighAdd(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
				State: netlink.NUD_PERMANENT, IP: nb.AsSlice(), HardwareAddr: nbMAC}))
			f.must(netlink.RouteAdd(rt))
			before := f.state()

			capt := newCapture(t, capDev)
			if c.proto == 17 {
				u, err := net.DialUDP("udp4", &net.UDPAddr{IP: src.AsSlice(), Port: 40000}, &net.UDPAddr{IP: dst.AsSlice(), Port: 53})
				f.must(err)
				_, err = u.Write(payload)
				f.must(err)
				u.Close()
			} else {
				// Only the SYN matters; nobody answers it.
				d := net.Dialer{Timeout: 200 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: 40001}}
				if conn, err := d.Dial("tcp4", net.JoinHostPort(dst.String(), "443")); err == nil {
					conn.Close()
				}
			}
			got := capt.frames(1, func(b []byte) bool {
				return len(b) >= 42 && b[12] == 0x08 && b[13] == 0x00 && b[23] == c.proto && binary.BigEndian.Uint16(b[34:]) >= 40000
			})
			if len(got) == 0 {
				t.Fatalf("nothing arrived on %s; drops %v", capDev, f.drops())
			}
			b := got[0]
			if !bytes.Equal(b[0:6], dmac) || !bytes.Equal(b[6:12], smac) || addr4(b[26:]) != wantSrc || addr4(b[30:]) != wantDst ||
				b[22] != 63 || inetCsum(b[14:34]) != 0 {
				t.Fatalf("%v -> %v (TTL %d, MACs %x -> %x), want %v -> %v, TTL 63, %x -> %x, valid header: %x",
					addr4(b[26:]), addr4(b[30:]), b[22], b[6:12], b[0:6], wantSrc, wantDst, smac, dmac, b)
			}
			seg := b[34 : 14+int(binary.BigEndian.Uint16(b[16:]))]
			off := 6
			if c.proto == 6 {
				off = 16
				if binary.BigEndian.Uint16(seg[2:]) != 443 || seg[13] != 0x02 {
					t.Fatalf("not the SYN to port 443: %x", seg)
				}
			} else if binary.BigEndian.Uint16(seg[2:]) != 53 || !bytes.Equal(seg[8:], payload) {
				t.Fatalf("UDP ports or payload changed: %x", seg)
			}
			seed := func(s, d netip.Addr) uint16 {
				s4, d4 := s.As4(), d.As4()
				ph := append(append(append([]byte(nil), s4[:]...), d4[:]...), 0, c.proto)
				return ^inetCsum(binary.BigEndian.AppendUint16(ph, uint16(len(seg))))
			}
			field := binary.BigEndian.Uint16(seg[off:])
			if l4Csum(wantSrc, wantDst, c.proto, seg) != 0 && field != seed(wantSrc, wantDst) {
				t.Fatalf("checksum field %04x: neither a valid checksum nor the pseudo-header seed %04x of %v -> %v "+
					"(the untranslated addresses' seed is %04x)", field, seed(wantSrc, wantDst), wantSrc, wantDst,
					seed(src, dst))
			}
			f.wantDrops(nil)
			f.unchanged(before)
		})
	}
}
