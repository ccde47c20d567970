package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const (
	greKey = 0x1b59 // network 1's GRE key
	greMTU = 1458
	vxMTU  = 1450
)

var (
	localIP = netip.MustParseAddr("192.0.2.1") // this node's VTEP
	vtep2   = netip.MustParseAddr("192.0.2.11")
	nhSrc   = mac("02:00:00:00:ee:01") // underlay NIC
	nhDst   = mac("02:00:00:00:ee:02") // next hop towards the VTEPs
)

// greTopo is GRE network 1 (key greKey, MTU 1458) with up ports a and b,
// macR behind vtep (an admitted peer), plus VXLAN network 2 (VNI 100,
// MTU 1450) with port c and macR behind vtep. ul stands in for the
// underlay NIC, vx for the VXLAN device; no underlay next hops yet.
//
// A subtest builds its own: t.Run runs it on another goroutine, whose
// thread is not in the parent's private netns, so the parent's devices
// (and ifindexes) would not be the ones the test run resolves.
type greTopo struct {
	*env
	a, b, c, ul, vx uint32
}

func newGRETopo(t *testing.T) *greTopo {
	e := newEnv(t)
	quietIPv6(t)
	g := &greTopo{env: e, a: veth(t, "pa"), b: veth(t, "pb"), c: veth(t, "pc"), ul: veth(t, "ul"), vx: veth(t, "vx")}
	e.must(e.m.SetNodeCfg(NodeCfg{VXLANIfindex: g.vx, LocalIP: localIP, UnderlayIfindex: g.ul}))
	e.must(e.m.PutNetwork(NetRow{NetID: 1, Type: "gre", Segment: greKey, MTU: greMTU}))
	e.must(e.m.PutSegment(SegmentRow{Type: "gre", Segment: greKey, NetID: 1}))
	e.must(e.m.PutNetwork(NetRow{NetID: 2, Type: "vxlan", Segment: 100, MTU: vxMTU}))
	e.must(e.m.PutSegment(SegmentRow{Type: "vxlan", Segment: 100, NetID: 2}))
	for _, p := range []struct {
		ifindex, net uint32
		mac          net.HardwareAddr
		ip           netip.Addr
	}{{g.a, 1, macA, ipA}, {g.b, 1, macB, ipB}, {g.c, 2, macC, ipA}} {
		e.must(e.m.PutPort(PortRow{Ifindex: p.ifindex, NetID: p.net, MAC: p.mac, Up: true}))
		e.must(e.m.PutFDB(FDBRow{NetID: p.net, MAC: p.mac, Ifindex: p.ifindex}))
		e.must(e.m.PutARP(ARPRow{NetID: p.net, IP: p.ip, MAC: p.mac}))
	}
	for _, n := range []uint32{1, 2} {
		e.must(e.m.PutFDB(FDBRow{NetID: n, MAC: macR, VTEP: vtep}))
		e.must(e.m.PutARP(ARPRow{NetID: n, IP: ipR, MAC: macR}))
	}
	e.must(e.m.PutPeer(PeerRow{NetID: 1, VTEP: vtep}))
	return g
}

// quietIPv6 turns IPv6 off for devices created from now on in the test's
// netns: their link-local chatter (DAD, MLD, router solicitations) would
// add to the tx counts and captures that prove where clones went.
func quietIPv6(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/proc/sys/net/ipv6/conf/default/disable_ipv6", "/proc/sys/net/ipv6/conf/all/disable_ipv6"} {
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// ---- frames and checks -----------------------------------------------------

// inetCsum is the Internet checksum (RFC 1071); 0 over a valid header.
func inetCsum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// putIPv4 writes an option-less IPv4 header (TTL 64, tot_len = len(pkt),
// valid checksum) at the start of pkt.
func putIPv4(pkt []byte, id, frag uint16, proto uint8, src, dst netip.Addr) {
	h := pkt[:20]
	clear(h)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(h[4:], id)
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8], h[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	binary.BigEndian.PutUint16(h[10:], inetCsum(h))
}

// ipFrame is an IPv4 packet with DF of l3len bytes from ipA to ipR.
func ipFrame(dst, src net.HardwareAddr, proto uint8, l3len int) []byte {
	f := ethFrame(dst, src, 0x0800, l3len)
	putIPv4(f[14:], 0x1234, 0x4000, proto, ipA, ipR)
	return f
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

// greFrame wraps inner in outer Ethernet + IPv4 (DF, id 0) + GRE with the
// optional fields flags asks for (checksum and sequence fields left 0/7).
func greFrame(dmac, smac net.HardwareAddr, src, dst netip.Addr, flags, proto uint16, key uint32, inner []byte) []byte {
	gre := binary.BigEndian.AppendUint16(nil, flags)
	gre = binary.BigEndian.AppendUint16(gre, proto)
	if flags&0x8000 != 0 {
		gre = append(gre, 0, 0, 0, 0)
	}
	if flags&0x2000 != 0 {
		gre = binary.BigEndian.AppendUint32(gre, key)
	}
	if flags&0x1000 != 0 {
		gre = append(gre, 0, 0, 0, 7)
	}
	f := ethFrame(dmac, smac, 0x0800, 20+len(gre)+len(inner))
	copy(f[34:], gre)
	copy(f[34+len(gre):], inner)
	putIPv4(f[14:], 0, 0x4000, 47, src, dst)
	return f
}

// wantGRE checks out is in encapsulated for vtep exactly as gretap would
// send it: outer IPv4 (tot_len, DF, TTL 64, GRE, localIP -> vtep, valid
// checksum), GRE with only the key (greKey) and TEB, then in untouched.
// The outer MACs are checked only when dmac is not nil.
func wantGRE(t *testing.T, out, in []byte, dst netip.Addr, dmac, smac net.HardwareAddr) {
	t.Helper()
	want := greFrame(dmac, smac, localIP, dst, 0x2000, 0x6558, greKey, in)
	if len(out) != len(in)+42 {
		t.Fatalf("encapsulated length %d, want %d + 42:\n%x", len(out), len(in), out)
	}
	if s := inetCsum(out[14:34]); s != 0 {
		t.Fatalf("outer IPv4 checksum does not verify (residue %#x): %x", s, out[14:34])
	}
	from := 12
	if dmac != nil {
		from = 0
	}
	if !bytes.Equal(out[from:], want[from:]) {
		t.Fatalf("encapsulated frame\n got %x\nwant %x", out[from:], want[from:])
	}
}

// fragNeeded is the ICMP fragmentation-needed answer to IPv4 frame in:
// back to its sender from its destination, quoting its IPv4 header and
// the first 8 bytes after it.
func fragNeeded(in []byte, mtu uint16) []byte {
	r := make([]byte, 70)
	copy(r[0:6], in[6:12])
	copy(r[6:12], in[0:6])
	binary.BigEndian.PutUint16(r[12:], 0x0800)
	icmp := r[34:]
	icmp[0], icmp[1] = 3, 4
	binary.BigEndian.PutUint16(icmp[6:], mtu)
	copy(icmp[8:], in[14:42])
	binary.BigEndian.PutUint16(icmp[2:], inetCsum(icmp))
	putIPv4(r[14:], 0, 0x4000, 1, addr4(in[30:]), addr4(in[26:]))
	return r
}

func wantFragNeeded(t *testing.T, out, in []byte, mtu uint16) {
	t.Helper()
	if len(out) != 70 {
		t.Fatalf("ICMP answer is %d bytes, want 70: %x", len(out), out)
	}
	if inetCsum(out[14:34]) != 0 || inetCsum(out[34:70]) != 0 {
		t.Fatalf("ICMP answer checksums do not verify: %x", out)
	}
	if want := fragNeeded(in, mtu); !bytes.Equal(out, want) {
		t.Fatalf("ICMP answer\n got %x\nwant %x", out, want)
	}
}

// dropBytes is the byte count of one drop counter.
func (e *env) dropBytes(ifindex uint32, reason string) uint64 {
	e.t.Helper()
	rows, err := e.m.DropRows()
	e.must(err)
	for _, r := range rows {
		if r.Ifindex == ifindex && r.Reason == reason {
			return r.Bytes
		}
	}
	return 0
}

// skbCtxGSO extends skbCtx up to __sk_buff.gso_size (offset 176); the
// fields in between must stay zero for BPF_PROG_TEST_RUN.
type skbCtxGSO struct {
	skbCtx
	Zero    [33]uint32 // tc_index .. sk
	GSOSize uint32
}

// runGSO is run with skb_shinfo(skb)->gso_size set (gso_type stays 0).
func (e *env) runGSO(prog *ebpf.Program, ifindex, gso uint32, frame []byte) (uint32, []byte) {
	e.t.Helper()
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Context: skbCtxGSO{skbCtx: skbCtx{Ifindex: ifindex}, GSOSize: gso}}
	ret, err := prog.Run(opts)
	if err != nil {
		e.t.Fatalf("run with gso_size %d: %v", gso, err)
	}
	return ret, opts.DataOut
}

// capture receives what arrives on the named device (the peer end of a
// veth the datapath clones to); frames() returns, within a second, the
// first n received frames for which match is true.
type capture struct {
	t  *testing.T
	fd int
}

func newCapture(t *testing.T, dev string) *capture {
	t.Helper()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	proto := uint16(unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8) // htons
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return &capture{t: t, fd: fd}
}

func (c *capture) frames(n int, match func([]byte) bool) [][]byte {
	var got [][]byte
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(time.Second); len(got) < n && time.Now().Before(deadline); {
		k, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // timeout: look again until the deadline
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match(buf[:k]) {
			got = append(got, bytes.Clone(buf[:k]))
		}
	}
	return got
}

func isGRE(f []byte) bool {
	return len(f) >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 47
}

// ---- encap ------------------------------------------------------------------

func TestGREEncapUnicast(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"ipv4", ipFrame(macR, macA, 6, 100)},
		{"ipv6", ethFrame(macR, macA, 0x86dd, 120)},
		{"ipv4 at the MTU", ipFrame(macR, macA, 17, greMTU)},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			ret, out := g.run(g.p.PortIn, g.a, bytes.Clone(c.in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect (redirect_neigh to the underlay)", ret)
			}
			// redirect_neigh fills the outer MACs: only the type is ours.
			wantGRE(t, out, c.in, vtep, nil, nil)
			g.wantDrops(nil)
		})
	}

	// Without an underlay NIC (or a local IP) there is no way out.
	g := newGRETopo(t)
	for _, cfg := range []NodeCfg{{LocalIP: localIP}, {UnderlayIfindex: g.ul}} {
		g.resetDrops()
		g.must(g.m.SetNodeCfg(cfg))
		if ret, _ := g.run(g.p.PortIn, g.a, ipFrame(macR, macA, 6, 100)); ret != actShot {
			t.Fatalf("%+v: verdict %d, want shot", cfg, ret)
		}
		g.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_tunnel", g.a): 1})
	}
}

// TestGREEncapNonIP: frames adjust_room refuses (ARP and other non-IP)
// are encapsulated with change_head and leave through the next hop the
// agent resolved for the VTEP.
func TestGREEncapNonIP(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		// A reply: the ARP responder only answers requests.
		{"arp reply", arpFrame(macR, macA, 2, macA, ipA, macR, ipR)},
		{"other ethertype", ethFrame(macR, macA, 0x88b5, 50)},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			ret, _ := g.run(g.p.PortIn, g.a, bytes.Clone(c.in))
			if ret != actShot {
				t.Fatalf("without a next hop: verdict %d, want shot", ret)
			}
			g.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_neigh", g.a): 1})

			g.resetDrops()
			g.must(g.m.PutNH(NHRow{VTEP: vtep, Ifindex: g.ul, SrcMAC: nhSrc, DstMAC: nhDst}))
			ret, out := g.run(g.p.PortIn, g.a, bytes.Clone(c.in))
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect to the next hop", ret)
			}
			wantGRE(t, out, c.in, vtep, nhDst, nhSrc)
			g.wantDrops(nil)
		})
	}
}

// ---- MTU ----------------------------------------------------------------------

func TestGREFragNeeded(t *testing.T) {
	type verdict int
	const (
		encap   verdict = iota // GRE-encapsulated (network 1)
		tunnel                 // redirected to the VXLAN device untouched (network 2)
		icmp                   // answered with ICMP fragmentation-needed
		dropped                // shot, no answer
	)
	const pa, pc = "pa", "pc"
	icmpErr := ipFrame(macR, macA, 1, greMTU+1)
	icmpErr[34] = 3 // an ICMP error itself never gets one
	options := ipFrame(macR, macA, 6, greMTU+1)
	options[14] = 0x46
	for _, c := range []struct {
		name string
		dev  string // pa: GRE network 1, pc: VXLAN network 2
		in   []byte
		want verdict
		mtu  uint16
	}{
		{"gre at MTU", pa, ipFrame(macR, macA, 6, greMTU), encap, 0},
		{"gre MTU+1", pa, ipFrame(macR, macA, 6, greMTU+1), icmp, greMTU},
		{"gre 2000", pa, ipFrame(macR, macA, 17, 2000), icmp, greMTU},
		{"gre ipv6 MTU+1", pa, ethFrame(macR, macA, 0x86dd, greMTU+1), dropped, 0},
		{"gre arp MTU+1", pa, ethFrame(macR, macA, 0x0806, greMTU+1), dropped, 0},
		{"gre icmp error MTU+1", pa, icmpErr, dropped, 0},
		{"gre ip options MTU+1", pa, options, dropped, 0},
		{"vxlan at MTU", pc, ipFrame(macR, macC, 6, vxMTU), tunnel, 0},
		{"vxlan MTU+1", pc, ipFrame(macR, macC, 6, vxMTU+1), icmp, vxMTU},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			port := map[string]uint32{pa: g.a, pc: g.c}[c.dev]
			before := g.snapshot()
			ret, out := g.run(g.p.PortIn, port, bytes.Clone(c.in))
			switch c.want {
			case encap:
				if ret != actRedirect {
					t.Fatalf("verdict %d, want redirect", ret)
				}
				wantGRE(t, out, c.in, vtep, nil, nil)
				g.wantDrops(nil)
			case tunnel:
				if ret != actRedirect || !bytes.Equal(out, c.in) {
					t.Fatalf("verdict %d, frame changed %v; want redirect, untouched", ret, !bytes.Equal(out, c.in))
				}
				g.wantDrops(nil)
			case icmp:
				if ret != actRedirect {
					t.Fatalf("verdict %d, want redirect of the ICMP answer", ret)
				}
				wantFragNeeded(t, out, c.in, c.mtu)
			case dropped:
				if ret != actShot || !bytes.Equal(out, c.in) {
					t.Fatalf("verdict %d, frame changed %v; want shot, untouched", ret, !bytes.Equal(out, c.in))
				}
			}
			if c.want == icmp || c.want == dropped {
				g.wantDrops(map[string]uint64{fmt.Sprintf("%d/frag_needed", port): 1})
				if b := g.dropBytes(port, "frag_needed"); b != uint64(len(c.in)) {
					t.Fatalf("frag_needed counted %d bytes, want the frame's %d", b, len(c.in))
				}
			}
			if after := g.snapshot(); after != before {
				t.Fatalf("maps changed:\n%s\n%s", before, after)
			}
		})
	}
}

// TestGREFragNeededGSO: a GSO packet is judged by the segments it becomes
// (IP + L4 header + gso_size), not by its length.
func TestGREFragNeededGSO(t *testing.T) {
	tcp := func(dst, src net.HardwareAddr) []byte {
		f := ipFrame(dst, src, 6, 3000)
		f[14+20+12] = 0x50 // data offset 5: a 20-byte TCP header
		return f
	}
	udp := func(dst, src net.HardwareAddr) []byte { return ipFrame(dst, src, 17, 3000) }
	tcp6 := func(dst, src net.HardwareAddr) []byte {
		f := ethFrame(dst, src, 0x86dd, 3000)
		f[14], f[14+6] = 0x60, 6 // version 6, next header TCP
		f[14+40+12] = 0x50
		return f
	}
	for _, c := range []struct {
		name  string
		vxlan bool // VXLAN network 2 on port c, else GRE network 1 on port a
		frame func(dst, src net.HardwareAddr) []byte
		src   net.HardwareAddr
		gso   uint32 // largest gso_size that fits
		mtu   uint16
	}{
		{"vxlan tcp", true, tcp, macC, vxMTU - 40, vxMTU},
		{"vxlan udp", true, udp, macC, vxMTU - 28, vxMTU},
		{"vxlan tcp6", true, tcp6, macC, vxMTU - 60, vxMTU},
		{"gre tcp", false, tcp, macA, greMTU - 40, greMTU},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			port := g.a
			if c.vxlan {
				port = g.c
			}
			in := c.frame(macR, c.src)
			ret, out := g.runGSO(g.p.PortIn, port, c.gso+1, bytes.Clone(in))
			if in[12] == 0x86 {
				if ret != actShot || !bytes.Equal(out, in) {
					t.Fatalf("gso_size %d: verdict %d; want shot, untouched", c.gso+1, ret)
				}
			} else {
				if ret != actRedirect {
					t.Fatalf("gso_size %d: verdict %d, want the ICMP answer", c.gso+1, ret)
				}
				wantFragNeeded(t, out, in, c.mtu)
			}
			g.wantDrops(map[string]uint64{fmt.Sprintf("%d/frag_needed", port): 1})

			// Segments that fit: forwarded although the packet is 3 KB.
			// Only VXLAN shows it: GRE's adjust_room refuses a test
			// run's GSO packet, whose gso_type is not TCP.
			if !c.vxlan {
				return
			}
			g.resetDrops()
			ret, out = g.runGSO(g.p.PortIn, port, c.gso, bytes.Clone(in))
			if ret != actRedirect || !bytes.Equal(out, in) {
				t.Fatalf("gso_size %d: verdict %d; want redirect to the VXLAN device, untouched", c.gso, ret)
			}
			g.wantDrops(nil)
		})
	}
}

// ---- decap ----------------------------------------------------------------------

var (
	ulMAC = mac("02:00:00:00:ee:10") // our underlay NIC
	gwMAC = mac("02:00:00:00:ee:20") // the router the GRE packet came through
)

// fromVTEP is inner as vtep sends it to us on network 1.
func fromVTEP(inner []byte) []byte {
	return greFrame(ulMAC, gwMAC, vtep, localIP, 0x2000, 0x6558, greKey, inner)
}

func TestGREDecap(t *testing.T) {
	for _, c := range []struct {
		name  string
		inner []byte
		outer func(inner []byte) []byte
	}{
		{"ipv4", ipFrame(macA, macR, 6, 100), fromVTEP},
		{"ipv6", ethFrame(macA, macR, 0x86dd, 100), fromVTEP},
		{"arp reply", arpFrame(macA, macR, 2, macR, ipR, macA, ipA), fromVTEP},
		{"other ethertype", ethFrame(macB, macR, 0x88b5, 60), fromVTEP},
		{"gre checksum and sequence fields", ipFrame(macA, macR, 17, 300), func(inner []byte) []byte {
			return greFrame(ulMAC, gwMAC, vtep, localIP, 0xb000, 0x6558, greKey, inner)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			g.wantDecapped(c.outer(c.inner), c.inner)
		})
	}
}

func TestGREDecapDrops(t *testing.T) {
	inner := ipFrame(macA, macR, 6, 100)
	good := fromVTEP(inner)
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	refresh := func(b []byte) { // recompute the outer IPv4 checksum
		b[24], b[25] = 0, 0
		binary.BigEndian.PutUint16(b[24:], inetCsum(b[14:34]))
	}
	gre := func(src netip.Addr, flags uint16, key uint32, inner []byte) []byte {
		return greFrame(ulMAC, gwMAC, src, localIP, flags, 0x6558, key, inner)
	}
	for _, c := range []struct {
		name, reason string
		in           []byte
	}{
		{"wrong key", "unknown_segment", gre(vtep, 0x2000, greKey+1, inner)},
		// Without the key bit, the 4 bytes where a key would be (here
		// network 1's key) belong to the payload: no key, no network.
		{"no key", "unknown_segment", gre(vtep, 0x0000, 0, append(binary.BigEndian.AppendUint32(nil, greKey), inner...))},
		{"peer not admitted", "tunnel_peer", gre(netip.MustParseAddr("192.0.2.99"), 0x2000, greKey, inner)},
		{"peer of another network", "tunnel_peer", gre(vtep2, 0x2000, greKey, inner)},
		{"key missing", "malformed", gre(vtep, 0x2000, greKey, nil)[:14+20+4]},
		{"inner frame cut", "malformed", gre(vtep, 0x2000, greKey, inner[:10])},
		{"no inner frame", "malformed", gre(vtep, 0x2000, greKey, nil)},
		// tot_len is what counts, not the Ethernet padding after it.
		{"inner frame cut, padded", "malformed", append(gre(vtep, 0x2000, greKey, inner[:10]), make([]byte, 30)...)},
		{"tot_len beyond the frame", "malformed", mod(func(b []byte) {
			binary.BigEndian.PutUint16(b[16:], uint16(len(b)-14+1))
			refresh(b)
		})},
		{"frame cut short of tot_len", "malformed", good[:len(good)-1]},
		{"bad IPv4 checksum", "malformed", mod(func(b []byte) { b[25] ^= 1 })},
		{"IPv4 options", "malformed", mod(func(b []byte) { b[14] = 0x46; refresh(b) })},
		{"GRE version 1", "malformed", mod(func(b []byte) { b[35] |= 1 })},
		{"GRE routing", "malformed", mod(func(b []byte) { b[34] |= 0x40 })},
		{"more fragments", "tunnel_frag", mod(func(b []byte) { b[20] |= 0x20; refresh(b) })},
		{"fragment offset", "tunnel_frag", mod(func(b []byte) { b[21] = 1; refresh(b) })},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			// Network 3 (another GRE key) admits vtep2; network 1 does not.
			g.must(g.m.PutNetwork(NetRow{NetID: 3, Type: "gre", Segment: 0x77, MTU: greMTU}))
			g.must(g.m.PutSegment(SegmentRow{Type: "gre", Segment: 0x77, NetID: 3}))
			g.must(g.m.PutPeer(PeerRow{NetID: 3, VTEP: vtep2}))
			before := g.snapshot()
			ret, out := g.run(g.p.UlIn, g.ul, bytes.Clone(c.in))
			if ret != actShot {
				t.Fatalf("verdict %d, want shot", ret)
			}
			if !bytes.Equal(out, c.in) {
				t.Fatalf("dropped frame was changed:\n got %x\nwant %x", out, c.in)
			}
			g.wantDrops(map[string]uint64{fmt.Sprintf("%d/%s", g.ul, c.reason): 1})
			if after := g.snapshot(); after != before {
				t.Fatalf("maps changed:\n%s\n%s", before, after)
			}
		})
	}
}

// TestGREDecapNotOurs: what is not GRE/TEB to our VTEP goes on to the
// host's stack untouched and uncounted.
func TestGREDecapNotOurs(t *testing.T) {
	inner := ipFrame(macA, macR, 6, 100)
	udp := ethFrame(ulMAC, gwMAC, 0x0800, 20+8+50+len(inner))
	putIPv4(udp[14:], 0, 0x4000, 17, vtep, localIP)
	ipInGRE := greFrame(ulMAC, gwMAC, vtep, localIP, 0x2000, 0x0800, greKey, inner[14:])
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"udp to our VTEP", udp},
		{"gre to another address", greFrame(ulMAC, gwMAC, vtep, netip.MustParseAddr("192.0.2.2"), 0x2000, 0x6558, greKey, inner)},
		{"ip-in-gre to our VTEP", ipInGRE},
		{"arp", arpFrame(broadcast, gwMAC, 1, gwMAC, vtep, make([]byte, 6), localIP)},
		{"ipv6", ethFrame(ulMAC, gwMAC, 0x86dd, 100)},
		// Too short to even name its payload type: the stack judges it.
		{"gre header cut", fromVTEP(inner)[:14+20+2]},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			g.wantPassed(g.ul, c.in)
		})
	}
}

// wantDecapped checks that bnet_ul_in takes in apart into inner and
// redirects it to a port, counting, dropping and changing nothing else.
func (g *greTopo) wantDecapped(in, inner []byte) {
	g.t.Helper()
	g.wantUlIn(g.ul, in, actRedirect, inner)
}

// wantPassed checks that bnet_ul_in hands in on untouched (TCX_NEXT) and
// counts, drops and changes nothing.
func (g *greTopo) wantPassed(ifindex uint32, in []byte) {
	g.t.Helper()
	g.wantUlIn(ifindex, bytes.Clone(in), tcxNext, in)
}

// wantUlIn runs bnet_ul_in on in at ifindex and checks the verdict, the
// frame it leaves, and that no map or drop counter moved.
func (g *greTopo) wantUlIn(ifindex uint32, in []byte, verdict uint32, out []byte) {
	g.t.Helper()
	before := g.snapshot()
	ret, got := g.run(g.p.UlIn, ifindex, in)
	if ret != verdict {
		g.t.Fatalf("verdict %#x, want %#x", ret, verdict)
	}
	if !bytes.Equal(got, out) {
		g.t.Fatalf("frame left\n got %x\nwant %x", got, out)
	}
	g.wantDrops(nil)
	if after := g.snapshot(); after != before {
		g.t.Fatalf("maps changed:\n%s\n%s", before, after)
	}
}

// TestGREDecapFlood: a broadcast from a VTEP reaches the network's local
// ports (as the inner frame) and never goes back out to VTEPs.
func TestGREDecapFlood(t *testing.T) {
	g := newGRETopo(t)
	g.must(g.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{g.a}, Remote: []netip.Addr{vtep, vtep2}}))
	for _, v := range []netip.Addr{vtep, vtep2} {
		g.must(g.m.PutNH(NHRow{VTEP: v, Ifindex: g.ul, SrcMAC: nhSrc, DstMAC: nhDst}))
	}
	capA := newCapture(t, "pap")
	inner := arpFrame(broadcast, macR, 1, macR, ipR, make([]byte, 6), ipA)
	ta, tb, tu := txPackets(t, g.a), txPackets(t, g.b), txPackets(t, g.ul)
	before := g.snapshot()

	ret, _ := g.run(g.p.UlIn, g.ul, fromVTEP(inner))
	if ret != actShot {
		t.Fatalf("verdict %d, want shot (the original, after its clones)", ret)
	}
	g.wantDrops(nil)
	got := capA.frames(1, func(f []byte) bool { return f[12] == 0x08 && f[13] == 0x06 })
	if len(got) != 1 || !bytes.Equal(got[0], inner) {
		t.Fatalf("port a received %x, want the inner ARP request %x", got, inner)
	}
	if d := [3]uint64{txPackets(t, g.a) - ta, txPackets(t, g.b) - tb, txPackets(t, g.ul) - tu}; d != [3]uint64{1, 0, 0} {
		t.Fatalf("copies (a, b, underlay) = %v, want [1 0 0]", d)
	}
	if after := g.snapshot(); after != before {
		t.Fatalf("maps changed:\n%s\n%s", before, after)
	}
}

// ---- flood encap ------------------------------------------------------------

// TestGREFloodEncap: a broadcast from a port goes to the other local
// ports and, encapsulated once, to every remote VTEP that has a next hop;
// each copy carries its own outer destination and checksum. A VTEP
// without a next hop loses its copy (counted), the others still go.
func TestGREFloodEncap(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"ipv4", ipFrame(broadcast, macA, 17, 200)},
		// A request nobody here answers: flooded, not answered.
		{"arp request", arpFrame(broadcast, macA, 1, macA, ipA, make([]byte, 6), netip.MustParseAddr("10.0.0.77"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGRETopo(t)
			g.must(g.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{g.a, g.b}, Remote: []netip.Addr{vtep, vtep2, localIP /* self: skipped */}}))
			g.must(g.m.PutNH(NHRow{VTEP: vtep, Ifindex: g.ul, SrcMAC: nhSrc, DstMAC: nhDst}))
			capUL, capB := newCapture(t, "ulp"), newCapture(t, "pbp")

			flood := func(dmac net.HardwareAddr, wantVTEPs []netip.Addr, wantDrops map[string]uint64) {
				t.Helper()
				g.resetDrops()
				ta, tb, tu := txPackets(t, g.a), txPackets(t, g.b), txPackets(t, g.ul)
				if ret, _ := g.run(g.p.PortIn, g.a, bytes.Clone(c.in)); ret != actShot {
					t.Fatalf("verdict %d, want shot after cloning", ret)
				}
				g.wantDrops(wantDrops)
				if d := [3]uint64{txPackets(t, g.a) - ta, txPackets(t, g.b) - tb, txPackets(t, g.ul) - tu}; d != [3]uint64{0, 1, uint64(len(wantVTEPs))} {
					t.Fatalf("copies (a, b, underlay) = %v, want [0 1 %d]", d, len(wantVTEPs))
				}
				if got := capB.frames(1, func(f []byte) bool { return bytes.Equal(f[6:12], macA) }); len(got) != 1 || !bytes.Equal(got[0], c.in) {
					t.Fatalf("port b received %x, want %x", got, c.in)
				}
				got := capUL.frames(len(wantVTEPs), isGRE)
				if len(got) != len(wantVTEPs) {
					t.Fatalf("underlay received %d GRE copies, want %d", len(got), len(wantVTEPs))
				}
				for i, v := range wantVTEPs {
					wantGRE(t, got[i], c.in, v, dmac, nhSrc)
				}
			}
			flood(nhDst, []netip.Addr{vtep}, map[string]uint64{fmt.Sprintf("%d/no_neigh", g.a): 1})

			// Both VTEPs reachable (through another router): two copies.
			nh2 := mac("02:00:00:00:ee:03")
			for _, v := range []netip.Addr{vtep, vtep2} {
				g.must(g.m.PutNH(NHRow{VTEP: v, Ifindex: g.ul, SrcMAC: nhSrc, DstMAC: nh2}))
			}
			flood(nh2, []netip.Addr{vtep, vtep2}, nil)
		})
	}
}
