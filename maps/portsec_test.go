package maps

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

// ipv6Frame is an IPv6 packet: next header nh, the given source, and an
// ICMPv6 body (type, then a target at offset 8 for ND) when nh is 58.
func ipv6Frame(dst, src net.HardwareAddr, srcIP netip.Addr, nh uint8, icmpType uint8, target netip.Addr) []byte {
	f := make([]byte, 14+40+32)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], 32)
	f[20], f[21] = nh, 255
	s := srcIP.As16()
	copy(f[22:38], s[:])
	d := netip.MustParseAddr("ff02::1").As16()
	copy(f[38:54], d[:])
	l4 := f[54:]
	if nh == 0 { // hop-by-hop (8 bytes), then ICMPv6
		l4[0], l4[1] = 58, 0
		l4 = l4[8:]
	}
	l4[0] = icmpType
	if target.IsValid() {
		t := target.As16()
		copy(l4[8:24], t[:])
	}
	return f
}

// ipv6Ext is an IPv6 packet from srcIP whose upper-layer header (proto:
// ICMPv6 with type and an ND target, or UDP from sport) sits behind the
// extension headers exts, each 8 bytes long (AH 12); a fragment header
// (44) carries fragOff.
func ipv6Ext(src net.HardwareAddr, srcIP netip.Addr, exts []uint8, fragOff uint16, proto, icmpType uint8, sport uint16, target netip.Addr) []byte {
	var body []byte
	for i, h := range exts {
		next := proto
		if i+1 < len(exts) {
			next = exts[i+1]
		}
		e := make([]byte, 8)
		switch h {
		case 44:
			binary.BigEndian.PutUint16(e[2:], fragOff<<3)
		case 51:
			e = make([]byte, 12)
			e[1] = 1 // (12 / 4) - 2
		}
		e[0] = next
		body = append(body, e...)
	}
	l4 := make([]byte, 32)
	if proto == 58 {
		l4[0] = icmpType
		if target.IsValid() {
			t := target.As16()
			copy(l4[8:24], t[:])
		}
	} else {
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], sport-1)
	}
	body = append(body, l4...)
	f := make([]byte, 14+40, 14+40+len(body))
	copy(f[0:6], broadcast)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], uint16(len(body)))
	f[20], f[21] = proto, 255
	if len(exts) > 0 {
		f[20] = exts[0]
	}
	s := srcIP.As16()
	copy(f[22:38], s[:])
	d := netip.MustParseAddr("ff02::1").As16()
	copy(f[38:54], d[:])
	return append(f, body...)
}

// lla is the EUI-64 link-local address of mac.
func lla(mac net.HardwareAddr) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	return netip.AddrFrom16(b)
}

func TestPortSecurity(t *testing.T) {
	tp := newTopo(t)
	vipMAC := mac("02:00:00:00:00:99")
	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.a, NetID: 1, MAC: macA, Up: true, Secure: true}))
	tp.must(tp.m.PutPortMAC(PortMACRow{Ifindex: tp.a, MAC: macA}))
	tp.must(tp.m.PutPortMAC(PortMACRow{Ifindex: tp.a, MAC: vipMAC}))
	tp.must(tp.m.PutPortAddr(PortAddrRow{Ifindex: tp.a, Prefix: netip.PrefixFrom(ipA, 32), MAC: macA}))
	tp.must(tp.m.PutPortAddr(PortAddrRow{Ifindex: tp.a, Prefix: netip.MustParsePrefix("10.0.5.0/28"), MAC: vipMAC}))
	vip := netip.MustParseAddr("10.0.5.3")
	any6 := netip.IPv6Unspecified()
	dhcp := func(src netip.Addr, sport, dport uint16) []byte {
		return flow(broadcast, macA, 17, src, netip.MustParseAddr("255.255.255.255"), sport, dport, 0)
	}
	tagged := ethFrame(macB, macA, 0x8100, 50)
	qinq := ethFrame(macB, macA, 0x88a8, 50)
	for _, c := range []struct {
		name   string
		frame  []byte
		reason string // "" passes
	}{
		{"own MAC and IP", flow(macB, macA, 17, ipA, ipB, 1, 2, 0), ""},
		{"foreign MAC", flow(macB, macC, 17, ipA, ipB, 1, 2, 0), "spoof_mac"},
		{"foreign IP", flow(macB, macA, 17, netip.MustParseAddr("10.0.0.77"), ipB, 1, 2, 0), "spoof_ip"},
		{"pair IP with the pair's MAC", flow(macB, vipMAC, 17, vip, ipB, 1, 2, 0), ""},
		{"pair IP with the port's MAC", flow(macB, macA, 17, vip, ipB, 1, 2, 0), "spoof_ip"},
		{"fixed IP with the pair's MAC", flow(macB, vipMAC, 17, ipA, ipB, 1, 2, 0), "spoof_ip"},
		{"DHCP discover from 0.0.0.0", dhcp(netip.IPv4Unspecified(), 68, 67), ""},
		{"other UDP from 0.0.0.0", dhcp(netip.IPv4Unspecified(), 68, 53), "spoof_ip"},
		{"DHCP server answer", flow(macB, macA, 17, ipA, ipB, 67, 68, 0), "dhcp_server"},
		{"ARP own", arpFrame(broadcast, macA, 1, macA, ipA, make(net.HardwareAddr, 6), ipR), ""},
		{"ARP probe", arpFrame(broadcast, macA, 1, macA, netip.IPv4Unspecified(), make(net.HardwareAddr, 6), ipA), ""},
		{"ARP for the VIP (GARP)", arpFrame(broadcast, vipMAC, 2, vipMAC, vip, broadcast, vip), ""},
		{"ARP claiming another VM's IP", arpFrame(broadcast, macA, 2, macA, ipB, broadcast, ipB), "spoof_arp"},
		{"ARP sender MAC not the frame's", arpFrame(broadcast, macA, 1, macC, ipA, make(net.HardwareAddr, 6), ipB), "spoof_arp"},
		{"802.1Q from a VM", tagged, "vlan_tagged"},
		{"QinQ from a VM", qinq, "vlan_tagged"},
		{"IPv6 from its link-local", ipv6Frame(broadcast, macA, lla(macA), 17, 0, netip.Addr{}), ""},
		{"IPv6 from another address", ipv6Frame(broadcast, macA, netip.MustParseAddr("2001:db8::5"), 17, 0, netip.Addr{}), "spoof_ip"},
		{"IPv6 from another MAC's link-local", ipv6Frame(broadcast, macA, lla(macB), 17, 0, netip.Addr{}), "spoof_ip"},
		{"DAD neighbour solicitation from ::", ipv6Frame(broadcast, macA, any6, 58, 135, lla(macA)), ""},
		{"UDP from ::", ipv6Frame(broadcast, macA, any6, 17, 0, netip.Addr{}), "spoof_ip"},
		{"MLD report from :: behind hop-by-hop", ipv6Frame(broadcast, macA, any6, 0, 143, netip.Addr{}), ""},
		{"NA for its own address", ipv6Frame(broadcast, macA, lla(macA), 58, 136, lla(macA)), ""},
		{"NA for another VM's address", ipv6Frame(broadcast, macA, lla(macA), 58, 136, lla(macB)), "spoof_nd"},
		{"router advertisement", ipv6Frame(broadcast, macA, lla(macA), 58, 134, netip.Addr{}), "router_advert"},
		{"router advertisement behind hop-by-hop", ipv6Frame(broadcast, macA, lla(macA), 0, 134, netip.Addr{}), "router_advert"},
		// Extension headers hide nothing (RFC 8200): the upper-layer header is
		// judged wherever it sits in the chain.
		{"router advertisement behind destination options", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 58, 134, 0, netip.Addr{}), "router_advert"},
		{"router advertisement behind hop-by-hop, routing, AH and destination options", ipv6Ext(macA, lla(macA), []uint8{0, 43, 51, 60}, 0, 58, 134, 0, netip.Addr{}), "router_advert"},
		{"NA for another VM's address behind destination options", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 58, 136, 0, lla(macB)), "spoof_nd"},
		{"NA for its own address behind destination options", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 58, 136, 0, lla(macA)), ""},
		{"NA in a first fragment", ipv6Ext(macA, lla(macA), []uint8{44}, 0, 58, 136, 0, lla(macA)), "spoof_nd"},
		{"later fragment from its link-local", ipv6Ext(macA, lla(macA), []uint8{44}, 3, 58, 136, 0, lla(macB)), ""},
		{"later fragment from another address", ipv6Ext(macA, netip.MustParseAddr("2001:db8::5"), []uint8{44}, 3, 17, 0, 547, netip.Addr{}), "spoof_ip"},
		{"echo request behind destination options", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 58, 128, 0, netip.Addr{}), ""},
		{"seven extension headers", ipv6Ext(macA, lla(macA), []uint8{0, 60, 60, 60, 60, 60, 60}, 0, 58, 128, 0, netip.Addr{}), "malformed"},
		{"extension header cut short", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 58, 128, 0, netip.Addr{})[:14+40+4], "malformed"},
		{"DHCPv6 server answer", ipv6Ext(macA, lla(macA), nil, 0, 17, 0, 547, netip.Addr{}), "dhcp_server"},
		{"DHCPv6 server answer behind destination options", ipv6Ext(macA, lla(macA), []uint8{60}, 0, 17, 0, 547, netip.Addr{}), "dhcp_server"},
		{"DHCPv6 client request", ipv6Ext(macA, lla(macA), nil, 0, 17, 0, 546, netip.Addr{}), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp.resetDrops()
			tp.run(tp.p.PortIn, tp.a, c.frame)
			got := ""
			for _, r := range []string{"spoof_mac", "spoof_ip", "spoof_arp", "spoof_nd", "dhcp_server", "router_advert", "vlan_tagged", "malformed"} {
				if tp.drops()[dropKey(tp.a, r)] > 0 {
					got = r
				}
			}
			if got != c.reason {
				t.Fatalf("dropped as %q, want %q (drops %v)", got, c.reason, tp.drops())
			}
		})
	}
}

func TestVIPClaim(t *testing.T) {
	tp := newTopo(t)
	vip := netip.MustParseAddr("10.0.5.3")
	for _, p := range []struct {
		ifindex uint32
		mac     net.HardwareAddr
	}{{tp.a, macA}, {tp.b, macB}} {
		tp.must(tp.m.PutPort(PortRow{Ifindex: p.ifindex, NetID: 1, MAC: p.mac, Up: true, Secure: true}))
		tp.must(tp.m.PutPortMAC(PortMACRow{Ifindex: p.ifindex, MAC: p.mac}))
		tp.must(tp.m.PutPortAddr(PortAddrRow{Ifindex: p.ifindex, Prefix: netip.MustParsePrefix("10.0.5.0/28"), MAC: p.mac}))
	}
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b, tp.c}}))
	// The arp map still says a holds the VIP: b's gratuitous request must
	// be flooded (announced), not answered with a's MAC.
	tp.must(tp.m.PutARP(ARPRow{NetID: 1, IP: vip, MAC: macA}))
	claims := func() []VIPClaimRow {
		rows, err := tp.m.VIPClaimRows()
		tp.must(err)
		return rows
	}
	garp := func(from uint32, mac net.HardwareAddr, ip netip.Addr) uint32 {
		ret, _ := tp.run(tp.p.PortIn, from, arpFrame(broadcast, mac, 1, mac, ip, make(net.HardwareAddr, 6), ip))
		return ret
	}
	if ret := garp(tp.a, macA, vip); ret != actShot { // flooded: the original is freed
		t.Fatalf("a's GARP verdict %d", ret)
	}
	if c := claims(); len(c) != 1 || c[0].IP != vip || c[0].Ifindex != tp.a || c[0].MAC.String() != macA.String() {
		t.Fatalf("claims after a's GARP: %+v", c)
	}
	seen := claims()[0].Seen
	garp(tp.a, macA, vip) // a repeating itself changes nothing
	if c := claims(); c[0].Seen != seen {
		t.Fatalf("a repeated claim rewrote the entry: %+v", c)
	}
	txB := txPackets(t, tp.c)
	if ret := garp(tp.b, macB, vip); ret != actShot || txPackets(t, tp.c) != txB+1 {
		t.Fatalf("b's GARP: verdict %d, flooded to c %d times (want 1)", ret, txPackets(t, tp.c)-txB)
	}
	if c := claims(); len(c) != 1 || c[0].Ifindex != tp.b || c[0].MAC.String() != macB.String() {
		t.Fatalf("claims after b took over: %+v", c)
	}
	// Not claims: an address the port may not hold (dropped as spoof_arp),
	// a plain request, and anything from a port without port security.
	garp(tp.a, macA, ipB)
	tp.run(tp.p.PortIn, tp.a, arpFrame(broadcast, macA, 1, macA, vip, make(net.HardwareAddr, 6), ipB))
	garp(tp.c, macC, netip.MustParseAddr("10.0.5.4"))
	if c := claims(); len(c) != 1 || c[0].Ifindex != tp.b {
		t.Fatalf("claims: %+v", c)
	}
}

func TestDropEvents(t *testing.T) {
	tp := newTopo(t)
	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.a, NetID: 1, MAC: macA, Up: true, Secure: true}))
	tp.must(tp.m.PutPortMAC(PortMACRow{Ifindex: tp.a, MAC: macA}))
	rd, err := tp.m.NewDropReader()
	tp.must(err)
	t.Cleanup(func() { rd.Close() })
	spoof := flow(macB, macC, 17, ipA, ipB, 1, 2, 0)
	// Nobody listening: nothing is written.
	tp.run(tp.p.PortIn, tp.a, spoof)
	tp.must(tp.m.SetMonitor(true))
	tp.run(tp.p.PortIn, tp.a, spoof)
	rd.r.SetDeadline(time.Now().Add(time.Second))
	e, err := rd.Read()
	tp.must(err)
	if e.Reason != "spoof_mac" || e.Ifindex != tp.a || int(e.Len) != len(spoof) || !bytes.Equal(e.Data, spoof) {
		t.Fatalf("event %+v", e)
	}
	rd.r.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if e, err := rd.Read(); err == nil {
		t.Fatalf("a second event (from the unwatched drop?): %+v", e)
	}
	if tp.drops()[dropKey(tp.a, "spoof_mac")] != 2 {
		t.Fatalf("both drops are counted either way: %v", tp.drops())
	}
}
