package maps

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

const vxPort = 4789

// newVXLANTopo is greTopo with VXLAN in BPF on (node_cfg flag and port,
// on a kernel with the decap flag) and vtep admitted on VXLAN network 2
// (VNI 100, port c).
func newVXLANTopo(t *testing.T) *greTopo {
	g := newGRETopo(t)
	g.must(g.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: localIP, UnderlayIfindex: g.ul, VXLANPort: vxPort, VXLANBPF: true, DecapL3: true}))
	g.must(g.m.PutPeer(PeerRow{NetID: 2, VTEP: vtep}))
	return g
}

// vxlanWire wraps inner in outer Ethernet + IPv4 (DF, id 0) + UDP
// (sport, dport, no checksum) + VXLAN with flags and vni.
func vxlanWire(src, dst netip.Addr, sport, dport uint16, flags, vni uint32, inner []byte) []byte {
	f := ethFrame(ulMAC, gwMAC, 0x0800, 20+16+len(inner))
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(16+len(inner)))
	binary.BigEndian.PutUint16(u[6:], 0)
	binary.BigEndian.PutUint32(u[8:], flags)
	binary.BigEndian.PutUint32(u[12:], vni<<8)
	copy(u[16:], inner)
	putIPv4(f[14:], 0, 0x4000, 17, src, dst)
	return f
}

// wantVXLAN checks out is in encapsulated for vtep as the kernel's VXLAN
// device would send it (outer IPv4 with DF and TTL 64, UDP to vxPort from
// the kernel's tunnel source-port range without a checksum, VXLAN with
// only the I flag and VNI 100, in untouched) and returns the source port.
func wantVXLAN(t *testing.T, out, in []byte, dst netip.Addr) uint16 {
	t.Helper()
	if len(out) != len(in)+50 {
		t.Fatalf("encapsulated length %d, want %d + 50:\n%x", len(out), len(in), out)
	}
	if s := inetCsum(out[14:34]); s != 0 {
		t.Fatalf("outer IPv4 checksum does not verify (residue %#x): %x", s, out[14:34])
	}
	sport := binary.BigEndian.Uint16(out[34:])
	if sport < 32768 || sport >= 61000 {
		t.Fatalf("UDP source port %d outside 32768-60999", sport)
	}
	want := vxlanWire(localIP, dst, sport, vxPort, 0x08000000, 100, in)
	if !bytes.Equal(out[12:], want[12:]) {
		t.Fatalf("encapsulated frame\n got %x\nwant %x", out[12:], want[12:])
	}
	return sport
}

func TestVXLANEncapUnicast(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"ipv4", ipFrame(macR, macC, 6, 100)},
		{"ipv6", ethFrame(macR, macC, 0x86dd, 120)},
		{"ipv4 at the MTU", ipFrame(macR, macC, 17, vxMTU)},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newVXLANTopo(t)
			ret, out := g.run(g.p.PortIn, g.c, bytes.Clone(c.in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect (redirect_neigh to the underlay)", ret)
			}
			sport := wantVXLAN(t, out, c.in, vtep)
			// One flow, one source port: ECMP keeps a flow on one path.
			_, again := g.run(g.p.PortIn, g.c, bytes.Clone(c.in))
			if s := binary.BigEndian.Uint16(again[34:]); s != sport {
				t.Fatalf("same flow, source ports %d then %d", sport, s)
			}
			g.wantDrops(nil)
		})
	}
}

// TestVXLANEncapDevice: what BPF does not encapsulate goes to the VXLAN
// device untouched (the tunnel key carries VNI and VTEP): non-IP frames,
// and every frame when the node runs VXLAN through the device.
func TestVXLANEncapDevice(t *testing.T) {
	for _, c := range []struct {
		name string
		bpf  bool
		in   []byte
	}{
		{"arp reply", true, arpFrame(macR, macC, 2, macC, ipA, macR, ipR)},
		{"other ethertype", true, ethFrame(macR, macC, 0x88b5, 50)},
		{"ipv4, vxlan_encap device", false, ipFrame(macR, macC, 6, 100)},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newVXLANTopo(t)
			g.must(g.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: localIP, UnderlayIfindex: g.ul, VXLANPort: vxPort, VXLANBPF: c.bpf}))
			ret, out := g.run(g.p.PortIn, g.c, bytes.Clone(c.in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to the VXLAN device", ret)
			}
			if !bytes.Equal(out, c.in) {
				t.Fatalf("frame for the device changed:\n got %x\nwant %x", out, c.in)
			}
			g.wantDrops(nil)
		})
	}
}

func TestVXLANDecap(t *testing.T) {
	for _, c := range []struct {
		name  string
		inner []byte
		csum  uint16
	}{
		{"ipv4", ipFrame(macC, macR, 6, 100), 0},
		{"ipv6", ethFrame(macC, macR, 0x86dd, 100), 0},
		{"arp reply", arpFrame(macC, macR, 2, macR, ipR, macC, ipA), 0},
		// RFC 7348: a receiver may skip verifying it; the inner frame
		// carries its own checksums.
		{"UDP checksum, not verified", ipFrame(macC, macR, 17, 100), 0x1234},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newVXLANTopo(t)
			in := vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100, c.inner)
			binary.BigEndian.PutUint16(in[14+20+6:], c.csum)
			g.wantDecapped(in, c.inner)
		})
	}
}

// TestDecapWithoutDecapFlag: on a kernel before 6.3 (no
// BPF_F_ADJ_ROOM_DECAP_L3_*) IPv4 inside VXLAN and GRE, and IPv6 inside
// GRE, are still taken apart in BPF; IPv6 inside VXLAN is left to the
// device.
func TestDecapWithoutDecapFlag(t *testing.T) {
	noFlag := func(g *greTopo) {
		g.must(g.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: localIP, UnderlayIfindex: g.ul, VXLANPort: vxPort, VXLANBPF: true}))
	}
	v4, v6 := ipFrame(macC, macR, 6, 100), ethFrame(macC, macR, 0x86dd, 100)
	t.Run("vxlan ipv4", func(t *testing.T) {
		g := newVXLANTopo(t)
		noFlag(g)
		g.wantDecapped(vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100, v4), v4)
	})
	t.Run("vxlan ipv6 to the device", func(t *testing.T) {
		g := newVXLANTopo(t)
		noFlag(g)
		g.wantPassed(g.ul, vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100, v6))
	})
	for _, c := range []struct {
		name  string
		inner []byte
	}{{"gre ipv4", ipFrame(macA, macR, 6, 100)}, {"gre ipv6", ethFrame(macA, macR, 0x86dd, 100)}} {
		t.Run(c.name, func(t *testing.T) {
			g := newVXLANTopo(t)
			noFlag(g)
			g.wantDecapped(fromVTEP(c.inner), c.inner)
		})
	}
}

// TestVXLANDecapLeavesToDevice: the fast path takes only what it can judge
// fully; everything else passes on untouched, to the VXLAN device, the
// nftables member set and bnet_tun_in, which drop and count as before.
func TestVXLANDecapLeavesToDevice(t *testing.T) {
	inner := ipFrame(macC, macR, 6, 100)
	vx := func(src, dst netip.Addr, dport uint16, flags, vni uint32) []byte {
		return vxlanWire(src, dst, 40000, dport, flags, vni, inner)
	}
	good := vx(vtep, localIP, vxPort, 0x08000000, 100)
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	refresh := func(b []byte) {
		b[24], b[25] = 0, 0
		binary.BigEndian.PutUint16(b[24:], inetCsum(b[14:34]))
	}
	// Each case below is good with one thing changed, and good is taken.
	if g := newVXLANTopo(t); func() bool { ret, _ := g.run(g.p.UlIn, g.ul, bytes.Clone(good)); return ret != actRedirect }() {
		t.Fatal("the unmodified frame is not decapsulated")
	}
	for _, c := range []struct {
		name string
		in   []byte
		off  bool // VXLAN in BPF off on this node
	}{
		{"stranger", vx(netip.MustParseAddr("192.0.2.99"), localIP, vxPort, 0x08000000, 100), false},
		{"peer of another network", vx(vtep2, localIP, vxPort, 0x08000000, 100), false},
		{"unknown VNI", vx(vtep, localIP, vxPort, 0x08000000, 101), false},
		{"another UDP port", vx(vtep, localIP, 4790, 0x08000000, 100), false},
		{"not to our VTEP", vx(vtep, vtep2, vxPort, 0x08000000, 100), false},
		{"VNI flag missing", vx(vtep, localIP, vxPort, 0, 100), false},
		{"group policy extension", vx(vtep, localIP, vxPort, 0x88000000, 100), false},
		{"reserved byte after the VNI", mod(func(b []byte) { b[14+20+15] = 1 }), false},
		{"bad outer IPv4 checksum", mod(func(b []byte) { b[24] ^= 0xff }), false},
		{"fragment", mod(func(b []byte) { b[20] = 0x20; refresh(b) }), false},
		{"outer IPv4 options", mod(func(b []byte) { b[14] = 0x46; refresh(b) }), false},
		{"UDP length wrong", mod(func(b []byte) { b[14+20+5]++ }), false},
		{"inner frame cut", vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100, inner[:10]), false},
		{"vxlan_encap device", good, true},
		// Floods are replicated by bnet_tun_in after the device.
		{"broadcast", vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100,
			arpFrame(mac("ff:ff:ff:ff:ff:ff"), macR, 1, macR, ipR, make(net.HardwareAddr, 6), ipA)), false},
		// For a router's port: see TestVXLANDecapRouterPort.
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newVXLANTopo(t)
			if c.off {
				g.must(g.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: localIP, UnderlayIfindex: g.ul, VXLANPort: vxPort}))
			}
			g.wantPassed(g.ul, c.in)
		})
	}
}

// TestVXLANDecapRouterPort: a router's port leads into this kernel's IP
// stack, which may route the packet on into another tunnel; the skb must
// then not carry the encapsulation mark adjust_room leaves, so its VXLAN
// goes through the device, whose decap clears it.
func TestVXLANDecapRouterPort(t *testing.T) {
	g := newVXLANTopo(t)
	g.must(g.m.PutPort(PortRow{Ifindex: g.c, NetID: 2, MAC: macC, Up: true, Stack: true}))
	g.wantPassed(g.ul, vxlanWire(vtep, localIP, 40000, vxPort, 0x08000000, 100, ipFrame(macC, macR, 6, 100)))
}

// TestVXLANRoundTrip: what one node's bnet_port_in sends, the other's
// bnet_ul_in takes apart into the very frame the VM sent.
func TestVXLANRoundTrip(t *testing.T) {
	g := newVXLANTopo(t)
	in := ipFrame(macR, macC, 6, 200)
	_, wire := g.run(g.p.PortIn, g.c, bytes.Clone(in))
	// Now be the far node: our VTEP is its peer, macR its port c.
	g.must(g.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: vtep, UnderlayIfindex: g.ul, VXLANPort: vxPort, VXLANBPF: true}))
	g.must(g.m.PutPeer(PeerRow{NetID: 2, VTEP: localIP}))
	g.must(g.m.PutFDB(FDBRow{NetID: 2, MAC: macR, Ifindex: g.c}))
	copy(wire[0:6], net.HardwareAddr(ulMAC))
	ret, out := g.run(g.p.UlIn, g.ul, wire)
	if ret != actRedirect || !bytes.Equal(out, in) {
		t.Fatalf("verdict %d, frame\n got %x\nwant %x", ret, out, in)
	}
}
