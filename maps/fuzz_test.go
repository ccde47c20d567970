package maps

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Fuzzing the four TC programs through BPF_PROG_TEST_RUN. One world (the
// routing, floating IP, security group and GRE topologies of the other
// tests in one map set) is built per fuzz process; every input then runs
// in it and must leave it as it was. The properties, for any bytes:
//
//   - the kernel runs the program (no error from BPF_PROG_TEST_RUN);
//   - the verdict is a redirect, a drop or TCX_NEXT, nothing else;
//   - a frame passed on with TCX_NEXT is byte for byte the one that came in;
//   - a drop is counted with a reason, or it is the original of a flood
//     whose copies left (some device sent something);
//   - every map the agent owns is byte for byte what the agent wrote:
//     only counters, conntrack, fragments, VIP claims and the event ring
//     are the datapath's to write.
//
// `go test` runs the seeds as regression tests; `make fuzz` mutates them.

// maxTestRunFrame keeps inputs under BPF_PROG_TEST_RUN's linear-data limit
// (a page less head- and tailroom); larger frames are kselftest/jumbo.sh's.
const maxTestRunFrame = 3500

// testRunnable says whether BPF_PROG_TEST_RUN takes the frame at all: it
// wants an Ethernet header, a whole IPv4 or IPv6 header when the
// EtherType says so (EINVAL otherwise, before the program runs), and no
// more than its linear-data limit. The rest reach the programs only
// through real devices (kselftest/jumbo.sh).
func testRunnable(frame []byte) bool {
	if len(frame) < 14 || len(frame) > maxTestRunFrame {
		return false
	}
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		return len(frame) >= 14+20
	case 0x86dd:
		return len(frame) >= 14+40
	}
	return true
}

type fuzzWorld struct {
	tb   testing.TB
	m    *Maps
	p    *Programs
	ns   netns.NsHandle
	devs map[string]uint32
	// config is the agent-owned maps' contents right after setup.
	config string
}

// agentMaps are the maps only the agent writes.
func (w *fuzzWorld) agentMaps() map[string]*ebpf.Map {
	m := w.m
	return map[string]*ebpf.Map{
		"ports": m.Ports, "networks": m.Networks, "segments": m.Segments, "fdb": m.FDB, "arp": m.ARP,
		"flood": m.Flood, "node_cfg": m.NodeCfg, "tunnel_peers": m.Peers, "underlay_nh": m.NH,
		"rifs": m.RIFs, "routes": m.Routes, "dvr_macs": m.DVRMACs, "dvr_self": m.DVRSelf,
		"fips_out": m.FIPsOut, "fips_in": m.FIPsIn, "ext_gw": m.ExtGW, "port_addrs": m.PortAddrs,
		"port_macs": m.PortMACs, "policy_ips": m.PolicyIPs, "policy_ports": m.PolicyPorts,
		"ct_config": m.CTConfig, "monitor_on": m.MonitorOn,
	}
}

// rawDump renders every entry of the agent's maps as hex, sorted.
func (w *fuzzWorld) rawDump() (string, error) {
	var b strings.Builder
	all := w.agentMaps()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		mp := all[n]
		k := make([]byte, mp.KeySize())
		v := make([]byte, mp.ValueSize())
		var rows []string
		it := mp.Iterate()
		for it.Next(&k, &v) {
			rows = append(rows, hex.EncodeToString(k)+"="+hex.EncodeToString(v))
		}
		if err := it.Err(); err != nil {
			return "", fmt.Errorf("dump %s: %w", n, err)
		}
		sort.Strings(rows)
		fmt.Fprintf(&b, "%s: %s\n", n, strings.Join(rows, " "))
	}
	return b.String(), nil
}

// dropCounts is drop_stats per reason, all devices.
func (w *fuzzWorld) dropCounts() (map[string]uint64, error) {
	rows, err := w.m.DropRows()
	if err != nil {
		return nil, err
	}
	n := map[string]uint64{}
	for _, r := range rows {
		n[r.Reason] += r.Packets
	}
	return n, nil
}

// txTotal is the number of packets every device of the world has sent or
// dropped on the way out: a flood copy the kernel refuses after the
// program let it go (a veth drops a copy larger than its MTU) still left
// the datapath.
func txTotal() (uint64, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, l := range links {
		if s := l.Attrs().Statistics; s != nil {
			n += s.TxPackets + s.TxDropped + s.RxDropped
		}
	}
	return n, nil
}

// inWorld runs fn on a thread inside the world's netns: a fuzz input runs
// on a goroutine of its own, and BPF_PROG_TEST_RUN resolves the context's
// ifindex in the caller's netns.
func (w *fuzzWorld) inWorld(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(w.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked and dies with the goroutine.
		return fmt.Errorf("restore netns: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

func newFuzzWorld(tb testing.TB) *fuzzWorld {
	tb.Helper()
	dir := testPinDir(tb, "bnet-fuzz-")
	w := &fuzzWorld{tb: tb, devs: map[string]uint32{}}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	w.ns = ns
	setupErr := w.setup(dir)
	if err := netns.Set(orig); err != nil {
		tb.Fatalf("restore netns: %v", err) // the thread stays locked
	}
	orig.Close()
	runtime.UnlockOSThread()
	tb.Cleanup(func() {
		if w.p != nil {
			w.p.Close()
		}
		if w.m != nil {
			w.m.Close()
		}
		ns.Close()
	})
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
	if w.config, err = w.rawDump(); err != nil {
		tb.Fatal(err)
	}
	return w
}

// setup runs inside the new netns: devices, programs, the world's maps.
func (w *fuzzWorld) setup(dir string) error {
	for _, p := range []string{"/proc/sys/net/ipv6/conf/default/disable_ipv6", "/proc/sys/net/ipv6/conf/all/disable_ipv6"} {
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}}); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	for _, name := range []string{"pa", "pb", "pc", "pd", "pv", "pe", "fg", "vx", "ul", "nic", "phys", "stray"} {
		la := netlink.NewLinkAttrs()
		la.Name = name
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p"}); err != nil {
			return fmt.Errorf("add veth %s: %w", name, err)
		}
		for _, n := range []string{name, name + "p"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
			if n == name {
				w.devs[name] = uint32(l.Attrs().Index)
			}
		}
	}
	m, p, err := Load(dir)
	if err != nil {
		return err
	}
	w.m, w.p = m, p
	return w.program()
}

// program writes the world: routeTopo and fipTopo's networks, router,
// floating IP and external network, with port A under port security and
// security groups, flood lists with local and remote members, admitted
// VTEPs with underlay next hops, and a VLAN network on the flat NIC.
func (w *fuzzWorld) program() error {
	d := w.devs
	m := w.m
	var errs []error
	put := func(err error) { errs = append(errs, err) }
	put(m.SetNodeCfg(NodeCfg{VXLANIfindex: d["vx"], LocalIP: localIP, UnderlayIfindex: d["ul"]}))
	for _, n := range []struct {
		id   uint32
		typ  string
		seg  uint32
		phys uint32
		mtu  uint32
		gw   netip.Addr
		gmac net.HardwareAddr
	}{
		{1, "vxlan", 101, 0, rtVXMTU, rtGw1, rtGw1MAC},
		{2, "vxlan", 102, 0, rtVXMTU, rtGw2, rtGw2MAC},
		{3, "gre", rtKey3, 0, greMTU, rtGw3, rtGw3MAC},
		{4, "flat", 0, d["nic"], 1500, rtGw4, rtGw4MAC},
	} {
		put(m.PutNetwork(NetRow{NetID: n.id, Type: n.typ, Segment: n.seg, PhysIfindex: n.phys, MTU: n.mtu}))
		put(m.PutSegment(SegmentRow{Type: n.typ, Ifindex: n.phys, Segment: n.seg, NetID: n.id}))
		put(m.PutRIF(RIFRow{NetID: n.id, RouterID: rtRouter, GwIP: n.gw, GwMAC: n.gmac}))
		put(setNetFlag(m, n.id, netRouted))
		put(m.PutRoute(RouteRow{RouterID: rtRouter, Prefix: netip.PrefixFrom(n.gw, 24), NetID: n.id}))
		put(m.PutARP(ARPRow{NetID: n.id, IP: n.gw, MAC: n.gmac}))
	}
	put(m.PutNetwork(NetRow{NetID: 6, Type: "vlan", Segment: 100, PhysIfindex: d["nic"], MTU: 1500}))
	put(m.PutSegment(SegmentRow{Type: "vlan", Ifindex: d["nic"], Segment: 100, NetID: 6}))
	for _, p := range []struct {
		dev string
		net uint32
		mac net.HardwareAddr
		ip  netip.Addr
	}{{"pa", 1, rtMACA, rtIPA}, {"pb", 2, rtMACB, rtIPB}, {"pc", 3, rtMACC, rtIPC}, {"pd", 4, rtMACD, rtIPD}, {"pv", 1, fipMACV, fipIPV}} {
		put(m.PutPort(PortRow{Ifindex: d[p.dev], NetID: p.net, MAC: p.mac, Up: true}))
		put(m.PutFDB(FDBRow{NetID: p.net, MAC: p.mac, Ifindex: d[p.dev]}))
		put(m.PutARP(ARPRow{NetID: p.net, IP: p.ip, MAC: p.mac}))
	}
	for _, v := range []struct {
		net uint32
		mac net.HardwareAddr
		ip  netip.Addr
	}{{2, rtMACR, rtIPR}, {3, rtMACG, rtIPG}, {4, rtMACF, rtIPF}} {
		put(m.PutFDB(FDBRow{NetID: v.net, MAC: v.mac, VTEP: vtep}))
		put(m.PutARP(ARPRow{NetID: v.net, IP: v.ip, MAC: v.mac}))
	}
	for _, n := range []uint32{1, 2, 3} {
		put(m.PutPeer(PeerRow{NetID: n, VTEP: vtep}))
	}
	put(m.PutNH(NHRow{VTEP: vtep, Ifindex: d["ul"], SrcMAC: nhSrc, DstMAC: nhDst}))
	put(m.SetDVRSelf(rtDVRSelf))
	put(m.PutDVRMAC(rtDVRSelf))
	put(m.PutDVRMAC(rtDVRPeer))

	// Floating IP, SNAT and the external network (fipTopo).
	put(m.PutRIF(RIFRow{NetID: 1, RouterID: rtRouter, GwIP: rtGw1, GwMAC: rtGw1MAC, SNATIP: fipSNATIP}))
	put(setNetFlag(m, 1, netRouted))
	put(m.PutRoute(RouteRow{RouterID: rtRouter, Prefix: netip.MustParsePrefix("0.0.0.0/0"), SNAT: true}))
	put(m.PutARP(ARPRow{NetID: 1, IP: fipSNATIP, MAC: fipSNATMAC}))
	put(m.PutFDB(FDBRow{NetID: 1, MAC: fipSNATMAC, VTEP: vtep}))
	put(m.PutNetwork(NetRow{NetID: fipExt, Type: "flat", PhysIfindex: d["phys"], MTU: 1500}))
	put(m.PutSegment(SegmentRow{Type: "flat", Ifindex: d["phys"], NetID: fipExt}))
	for _, p := range []struct {
		dev string
		mac net.HardwareAddr
		ip  netip.Addr
	}{{"pe", fipMACE, fipIPE}, {"fg", fipFgMAC, fipFgIP}} {
		put(m.PutPort(PortRow{Ifindex: d[p.dev], NetID: fipExt, MAC: p.mac, Up: true}))
		put(m.PutFDB(FDBRow{NetID: fipExt, MAC: p.mac, Ifindex: d[p.dev]}))
		put(m.PutARP(ARPRow{NetID: fipExt, IP: p.ip, MAC: p.mac}))
	}
	put(m.PutExtGW(ExtGWRow{NetID: fipExt, FgIP: fipFgIP, FgMAC: fipFgMAC, GwMAC: fipGwMAC}))
	put(setNetFlag(m, fipExt, netExtGW))
	put(m.PutFIP(fipRowA))
	put(m.PutARP(ARPRow{NetID: fipExt, IP: fipFIP, MAC: fipFgMAC}))

	// Floods: local ports, remote VTEPs (this node's own included, skipped).
	put(m.PutFlood(FloodRow{NetID: 1, Local: []uint32{d["pa"], d["pv"]}, Remote: []netip.Addr{vtep, localIP}}))
	put(m.PutFlood(FloodRow{NetID: 2, Local: []uint32{d["pb"]}, Remote: []netip.Addr{vtep, vtep2}}))
	put(m.PutFlood(FloodRow{NetID: 3, Local: []uint32{d["pc"]}, Remote: []netip.Addr{vtep}}))
	put(m.PutFlood(FloodRow{NetID: 4, Local: []uint32{d["pd"]}}))
	put(m.PutFlood(FloodRow{NetID: fipExt, Local: []uint32{d["pe"], d["fg"]}}))

	// Port A: port security (its MAC and /32, an allowed pair), DHCP
	// served here, and security groups (newPolicyTopo's rules).
	put(m.PutPort(PortRow{Ifindex: d["pa"], NetID: 1, MAC: rtMACA, Up: true, Secure: true, DHCP: true,
		Policy: true, PolicyID: 1, Epoch: epoch1}))
	put(m.PutPortMAC(PortMACRow{Ifindex: d["pa"], MAC: rtMACA}))
	put(m.PutPortMAC(PortMACRow{Ifindex: d["pa"], MAC: fuzzVIPMAC}))
	put(m.PutPortAddr(PortAddrRow{Ifindex: d["pa"], Prefix: netip.PrefixFrom(rtIPA, 32), MAC: rtMACA}))
	put(m.PutPortAddr(PortAddrRow{Ifindex: d["pa"], Prefix: netip.MustParsePrefix("10.10.1.96/28"), MAC: fuzzVIPMAC}))
	put(m.PutPolicyPort(PolicyPortRow{Class: clsAny, Rule: 1}))
	put(m.PutPolicyPort(PolicyPortRow{Class: clsSSH, Proto: 6, Port: 22, PortBits: 16, Rule: 2}))
	put(m.PutPolicyPort(PolicyPortRow{Class: clsSSHPi, Proto: 6, Port: 22, PortBits: 16, Rule: 2}))
	put(m.PutPolicyPort(PolicyPortRow{Class: clsSSHPi, Proto: 1, Port: 8 << 8, PortBits: 8, Rule: 3}))
	put(m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirEgress, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Class: clsAny}))
	put(m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirIngress, Prefix: netip.MustParsePrefix("10.10.0.0/16"), Class: clsSSH}))
	put(m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirIngress, Prefix: netip.PrefixFrom(rtIPB, 32), Class: clsSSHPi}))
	put(m.SetCTConfig(CTConfig{PortMax: 64, TCPSyn: 30, TCPEst: 3600, TCPFin: 30, TCPClos: 10, OtherNew: 30, OtherEst: 120}))
	return errors.Join(errs...)
}

var fuzzVIPMAC = mac("02:00:00:01:00:99")

// check runs one input and asserts the properties above.
func (w *fuzzWorld) check(t *testing.T, prog *ebpf.Program, ifindex uint32, frame []byte) {
	t.Helper()
	if !testRunnable(frame) {
		t.Skip("a frame BPF_PROG_TEST_RUN refuses")
	}
	var (
		ret            uint32
		out            []byte
		runErr         error
		drops0, drops1 map[string]uint64
		tx0, tx1       uint64
		config         string
	)
	err := w.inWorld(func() error {
		var err error
		if drops0, err = w.dropCounts(); err != nil {
			return err
		}
		if tx0, err = txTotal(); err != nil {
			return err
		}
		buf := make([]byte, len(frame)+512)
		opts := &ebpf.RunOptions{Data: bytes.Clone(frame), DataOut: buf, Context: skbCtx{Ifindex: ifindex}}
		ret, runErr = prog.Run(opts)
		out = opts.DataOut
		if drops1, err = w.dropCounts(); err != nil {
			return err
		}
		if tx1, err = txTotal(); err != nil {
			return err
		}
		config, err = w.rawDump()
		return err
	})
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if runErr != nil {
		t.Fatalf("BPF_PROG_TEST_RUN on %d-byte frame: %v\n%x", len(frame), runErr, frame)
	}
	counted := false
	for i, r := range reasonNames {
		if drops1[r] > drops0[r] {
			counted = true
			fuzzSignal(i)
		}
	}
	switch ret {
	case ActShot:
		fuzzSignal(40 + btoi(counted) + 2*btoi(tx1 > tx0))
		if !counted && tx1 == tx0 {
			t.Fatalf("dropped without a count and nothing sent\n%x", frame)
		}
	case ActRedirect:
		fuzzSignal(44 + btoi(counted))
	case ActNext:
		fuzzSignal(46)
		if !bytes.Equal(out, frame) {
			t.Fatalf("passed on (TCX_NEXT) but changed:\n in %x\nout %x", frame, out)
		}
	default:
		t.Fatalf("verdict %d is not a TC verdict the datapath returns\n%x", ret, frame)
	}
	if config != w.config {
		t.Fatalf("agent-owned maps changed:\nbefore %s\nafter  %s\nframe %x", w.config, config, frame)
	}
}

// ---- seeds --------------------------------------------------------------------

// vlanTag inserts an 802.1Q (or 802.1ad) tag after the MACs.
func vlanTag(f []byte, tpid, vid uint16) []byte {
	tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), vid)
	return append(append(bytes.Clone(f[:12]), tag...), f[12:]...)
}

// withIPOptions adds n*4 bytes of IPv4 options (NOPs, then an end) to an
// Ethernet/IPv4 frame, fixing tot_len and the checksum.
func withIPOptions(f []byte, n int) []byte {
	opts := bytes.Repeat([]byte{1}, 4*n)
	opts[len(opts)-1] = 0
	g := append(append(bytes.Clone(f[:34]), opts...), f[34:]...)
	g[14] = 0x45 + byte(n)
	binary.BigEndian.PutUint16(g[16:], uint16(len(g)-14))
	g[24], g[25] = 0, 0
	binary.BigEndian.PutUint16(g[24:], inetCsum(g[14:34+4*n]))
	return g
}

// fragment marks an Ethernet/IPv4 frame as a fragment (offset in 8-byte
// units, more fragments) and fixes the checksum.
func fragment(f []byte, off uint16, more bool) []byte {
	g := bytes.Clone(f)
	v := off & 0x1fff
	if more {
		v |= 0x2000
	}
	binary.BigEndian.PutUint16(g[20:], v)
	g[24], g[25] = 0, 0
	binary.BigEndian.PutUint16(g[24:], inetCsum(g[14:34]))
	return g
}

// vxlanFrame is an Ethernet/IPv4/UDP 4789 VXLAN packet carrying inner.
func vxlanFrame(dmac, smac net.HardwareAddr, src, dst netip.Addr, vni uint32, inner []byte) []byte {
	seg := make([]byte, 16+len(inner))
	binary.BigEndian.PutUint16(seg[0:], 51000)
	binary.BigEndian.PutUint16(seg[2:], 4789)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	seg[8] = 0x08
	binary.BigEndian.PutUint32(seg[12:], vni<<8)
	copy(seg[16:], inner)
	return ip4(dmac, smac, 17, src, dst, 64, seg)
}

// dhcpFrame is a DHCPDISCOVER-shaped UDP 68->67 broadcast from smac.
func dhcpFrame(smac net.HardwareAddr) []byte {
	body := make([]byte, 240+8)
	body[0], body[1], body[2] = 1, 1, 6
	copy(body[28:], smac)
	binary.BigEndian.PutUint32(body[236:], 0x63825363)
	copy(body[240:], []byte{53, 1, 1, 255})
	seg := make([]byte, 8+len(body))
	binary.BigEndian.PutUint16(seg[0:], 68)
	binary.BigEndian.PutUint16(seg[2:], 67)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	copy(seg[8:], body)
	return ip4(broadcast, smac, 17, netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), 64, seg)
}

// ndFrame is an IPv6 neighbour solicitation or advertisement.
func ndFrame(dmac, smac net.HardwareAddr, src netip.Addr, typ uint8, target netip.Addr) []byte {
	return ipv6Frame(dmac, smac, src, 58, typ, target)
}

// vmSeeds are frames a VM on net 1 (port A) could send.
func vmSeeds() [][]byte {
	tcp := pktTo(6, rtIPB, 64, 40)
	udp := pktTo(17, rtIPR, 64, 20)
	icmp := pktTo(1, rtIPB, 64, 16)
	badCsum := bytes.Clone(tcp)
	badCsum[24] ^= 0xff
	z := netip.IPv6Unspecified()
	seeds := [][]byte{
		tcp, udp, icmp, badCsum,
		pktTo(6, fipRemote, 64, 0),  // SNAT / floating IP out
		pktTo(1, rtGw1, 64, 8),      // echo to the router
		pktTo(17, rtNoRoute, 1, 8),  // TTL runs out
		pktTo(17, rtNoNeigh, 64, 8), // routed, nobody there
		flow(rtMACB, rtMACA, 6, rtIPA, rtIPB, 40000, 22, syn),
		flow(broadcast, rtMACA, 17, rtIPA, netip.MustParseAddr("10.10.1.255"), 5000, 5000, 0),
		flow(mac("02:99:99:99:99:99"), rtMACA, 17, rtIPA, fipIPV, 1, 2, 0), // unknown unicast
		flow(fipMACV, rtMACA, 6, rtIPA, fipIPV, 40000, 80, syn),
		flow(fipMACV, fuzzVIPMAC, 17, netip.MustParseAddr("10.10.1.100"), fipIPV, 1, 2, 0),
		flow(fipMACV, rtMACA, 17, rtIPA, fipIPV, 67, 68, 0), // a DHCP server
		dhcpFrame(rtMACA),
		withIPOptions(tcp, 1), withIPOptions(udp, 10),
		fragment(udp, 0, true), fragment(udp, 185, false), fragment(tcp, 1, true),
		arpFrame(broadcast, rtMACA, 1, rtMACA, rtIPA, make(net.HardwareAddr, 6), rtIPB),
		arpFrame(broadcast, rtMACA, 1, rtMACA, rtIPA, make(net.HardwareAddr, 6), rtGw1),
		arpFrame(broadcast, fuzzVIPMAC, 1, fuzzVIPMAC, netip.MustParseAddr("10.10.1.100"), make(net.HardwareAddr, 6), netip.MustParseAddr("10.10.1.100")),
		arpFrame(broadcast, rtMACA, 2, rtMACA, rtIPB, broadcast, rtIPB),
		ipv6Frame(broadcast, rtMACA, lla(rtMACA), 17, 0, netip.Addr{}),
		ndFrame(broadcast, rtMACA, z, 135, lla(rtMACA)),
		ndFrame(broadcast, rtMACA, lla(rtMACA), 136, lla(rtMACB)),
		ndFrame(broadcast, rtMACA, lla(rtMACA), 134, netip.Addr{}),
		ipv6Frame(broadcast, rtMACA, z, 0, 143, netip.Addr{}),
		vlanTag(tcp, 0x8100, 100),
		vlanTag(vlanTag(tcp, 0x8100, 100), 0x88a8, 200),
		vxlanFrame(rtGw1MAC, rtMACA, rtIPA, fipRemote, 101, icmp),
		greFrame(rtGw1MAC, rtMACA, rtIPA, fipRemote, 0x2000, 0x6558, rtKey3, udp),
		tcp[:14], tcp[:20], tcp[:34], tcp[:40],
		ethFrame(broadcast, rtMACA, 0x0800, 0),
		ethFrame(rtMACB, rtMACA, 0x88cc, 30),
	}
	return seeds
}

// outsideSeeds arrive on a physnet NIC: the external network's
// (floating IP in, proxy ARP) and flat network 4's.
func outsideSeeds() [][]byte {
	in := ip4(fipFgMAC, fipGwMAC, 6, fipRemote, fipFIP, 64, l4Seg(6, fipRemote, fipFIP, 20))
	icmpIn := ip4(fipFgMAC, fipGwMAC, 1, fipRemote, fipFIP, 64, l4Seg(1, fipRemote, fipFIP, 8))
	return [][]byte{
		in, icmpIn, withIPOptions(in, 3), fragment(in, 0, true), fragment(in, 7, false),
		arpFrame(broadcast, fipGwMAC, 1, fipGwMAC, fipExtGw, make(net.HardwareAddr, 6), fipFIP),
		arpFrame(fipFgMAC, fipGwMAC, 1, fipGwMAC, fipExtGw, fipFgMAC, fipFIP),
		ip4(rtMACD, rtMACF, 17, rtIPF, rtIPD, 64, l4Seg(17, rtIPF, rtIPD, 10)),
		ip4(rtGw4MAC, rtMACF, 17, rtIPF, rtIPA, 64, l4Seg(17, rtIPF, rtIPA, 10)),
		ip4(rtDVRPeer, rtMACF, 17, rtIPF, rtIPD, 64, l4Seg(17, rtIPF, rtIPD, 10)),
		ethFrame(broadcast, rtMACF, 0x0800, 60),
		vlanTag(ip4(rtMACD, rtMACF, 17, rtIPF, rtIPD, 64, l4Seg(17, rtIPF, rtIPD, 10)), 0x8100, 100),
		vlanTag(vlanTag(ethFrame(broadcast, rtMACF, 0x0800, 60), 0x8100, 100), 0x8100, 100),
		ndFrame(broadcast, rtMACF, lla(rtMACF), 135, lla(rtMACD)),
	}
}

// underlaySeeds arrive on the underlay NIC: GRE from the admitted VTEP
// (plain, with checksum and sequence fields, nested), and what is not ours.
func underlaySeeds() [][]byte {
	inner := ip4(rtMACC, rtMACG, 17, rtIPG, rtIPC, 64, l4Seg(17, rtIPG, rtIPC, 12))
	routedIn := ip4(rtGw3MAC, rtMACG, 6, rtIPG, rtIPA, 64, l4Seg(6, rtIPG, rtIPA, 12))
	gre := func(flags uint16, key uint32, in []byte) []byte {
		return greFrame(nhSrc, nhDst, vtep, localIP, flags, 0x6558, key, in)
	}
	bad := gre(0x2000, rtKey3, inner)
	bad[24] ^= 0x55 // outer header checksum
	return [][]byte{
		gre(0x2000, rtKey3, inner),
		gre(0x2000, rtKey3, routedIn),
		gre(0xb000, rtKey3, inner),
		gre(0x2000, rtKey3, ethFrame(broadcast, rtMACG, 0x0806, 28)),
		gre(0x2000, rtKey3, vlanTag(inner, 0x8100, 5)),
		gre(0x2000, rtKey3, gre(0x2000, rtKey3, inner)), // GRE in GRE
		gre(0x2000, rtKey3, vxlanFrame(rtMACC, rtMACG, rtIPG, rtIPC, 101, inner)),
		gre(0x2000, 999, inner),
		gre(0x0000, 0, inner),
		gre(0x2001, rtKey3, inner),
		greFrame(nhSrc, nhDst, vtep2, localIP, 0x2000, 0x6558, rtKey3, inner), // not a peer
		greFrame(nhSrc, nhDst, vtep, localIP, 0x2000, 0x0800, rtKey3, inner[14:]),
		bad,
		fragment(gre(0x2000, rtKey3, inner), 0, true),
		withIPOptions(gre(0x2000, rtKey3, inner), 2),
		gre(0x2000, rtKey3, inner)[:50],
		vxlanFrame(nhSrc, nhDst, vtep, localIP, 101, inner),
		vlanTag(gre(0x2000, rtKey3, inner), 0x8100, 7),
	}
}

// ---- targets ------------------------------------------------------------------

// FuzzPortIn: any frame from a VM, on a port with port security and
// security groups (A), plain ports on every network type, a port of the
// external network, and a device that is no port.
func FuzzPortIn(f *testing.F) {
	w := newFuzzWorld(f)
	ports := []string{"pa", "pb", "pc", "pd", "pv", "pe", "stray"}
	for i, s := range vmSeeds() {
		f.Add(uint8(0), s)
		if i%5 == 0 {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, port uint8, frame []byte) {
		w.check(t, w.p.PortIn, w.devs[ports[int(port)%len(ports)]], frame)
	})
}

// FuzzPhysIn: any frame on the external network's NIC or flat network 4's.
func FuzzPhysIn(f *testing.F) {
	w := newFuzzWorld(f)
	nics := []string{"phys", "nic", "stray"}
	for i, s := range outsideSeeds() {
		f.Add(uint8(0), s)
		f.Add(uint8(1), s)
		if i%4 == 0 {
			f.Add(uint8(2), s)
		}
	}
	f.Fuzz(func(t *testing.T, nic uint8, frame []byte) {
		w.check(t, w.p.PhysIn, w.devs[nics[int(nic)%len(nics)]], frame)
	})
}

// FuzzUlIn: any frame on the underlay NIC.
func FuzzUlIn(f *testing.F) {
	w := newFuzzWorld(f)
	for _, s := range underlaySeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		w.check(t, w.p.UlIn, w.devs["ul"], frame)
	})
}

// FuzzTunIn: any decapsulated frame with any VNI and sender. Test runs
// carry no tunnel metadata, so this goes through the tracer, whose copy
// of bnet_tun_in takes the VNI and remote from the trace; the live maps
// must not change either.
func FuzzTunIn(f *testing.F) {
	w := newFuzzWorld(f)
	var tr *Tracer
	if err := w.inWorld(func() (err error) { tr, err = NewTracer(w.m); return }); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(tr.Close)
	remotes := []netip.Addr{vtep, vtep2, localIP}
	for _, s := range [][]byte{
		ip4(rtMACB, rtMACR, 17, rtIPR, rtIPB, 64, l4Seg(17, rtIPR, rtIPB, 10)),
		ip4(rtGw2MAC, rtMACR, 6, rtIPR, rtIPA, 64, l4Seg(6, rtIPR, rtIPA, 10)),
		ip4(rtDVRPeer, rtMACR, 6, rtIPR, rtIPB, 64, l4Seg(6, rtIPR, rtIPB, 10)),
		arpFrame(broadcast, rtMACR, 1, rtMACR, rtIPR, make(net.HardwareAddr, 6), rtIPB),
		ethFrame(broadcast, rtMACR, 0x0800, 40),
		vlanTag(ethFrame(rtMACB, rtMACR, 0x0800, 40), 0x8100, 3),
		vxlanFrame(rtMACB, rtMACR, rtIPR, rtIPB, 102, ethFrame(rtMACB, rtMACR, 0x0800, 40)),
		ethFrame(rtMACB, rtMACR, 0x0800, 0),
	} {
		f.Add(uint32(102), uint8(0), s)
		f.Add(uint32(101), uint8(1), s)
	}
	f.Fuzz(func(t *testing.T, vni uint32, remote uint8, frame []byte) {
		if !testRunnable(frame) {
			t.Skip("a frame BPF_PROG_TEST_RUN refuses")
		}
		r := remotes[int(remote)%len(remotes)].As4()
		var res TraceResult
		var config string
		err := w.inWorld(func() (err error) {
			res, err = tr.Run(tr.Programs().TunIn, w.devs["vx"], frame, vni, binary.BigEndian.Uint32(r[:]))
			if err != nil {
				return err
			}
			config, err = w.rawDump()
			return err
		})
		if err != nil {
			t.Fatalf("trace run: %v\n%x", err, frame)
		}
		for _, st := range res.Steps {
			if st.Kind == TraceDrop && int(st.A) < 40 {
				fuzzSignal(int(st.A))
			} else if st.Kind < 8 {
				fuzzSignal(40 + int(st.Kind))
			}
		}
		switch res.Ret {
		case ActShot, ActRedirect:
		default:
			t.Fatalf("verdict %d from bnet_tun_in\n%x", res.Ret, frame)
		}
		if res.Ret == ActShot && !res.Cut {
			counted := false
			for _, st := range res.Steps {
				counted = counted || st.Kind == TraceDrop || st.Kind == TraceFlood
			}
			if !counted {
				t.Fatalf("dropped without a reason or a flood: steps %+v\n%x", res.Steps, frame)
			}
		}
		if config != w.config {
			t.Fatalf("live maps changed by a trace:\n%s\n%s", w.config, config)
		}
	})
}

// fuzzSignal gives the coverage-guided fuzzer a view of what happened in
// BPF, which its Go coverage cannot see: each outcome (a drop reason, a
// verdict class) is a distinct branch here, so a mutant that reaches a
// new one is kept in the corpus.
func fuzzSignal(k int) {
	switch k {
	case 0:
		fuzzSink[0]++
	case 1:
		fuzzSink[1]++
	case 2:
		fuzzSink[2]++
	case 3:
		fuzzSink[3]++
	case 4:
		fuzzSink[4]++
	case 5:
		fuzzSink[5]++
	case 6:
		fuzzSink[6]++
	case 7:
		fuzzSink[7]++
	case 8:
		fuzzSink[8]++
	case 9:
		fuzzSink[9]++
	case 10:
		fuzzSink[10]++
	case 11:
		fuzzSink[11]++
	case 12:
		fuzzSink[12]++
	case 13:
		fuzzSink[13]++
	case 14:
		fuzzSink[14]++
	case 15:
		fuzzSink[15]++
	case 16:
		fuzzSink[16]++
	case 17:
		fuzzSink[17]++
	case 18:
		fuzzSink[18]++
	case 19:
		fuzzSink[19]++
	case 20:
		fuzzSink[20]++
	case 21:
		fuzzSink[21]++
	case 22:
		fuzzSink[22]++
	case 23:
		fuzzSink[23]++
	case 24:
		fuzzSink[24]++
	case 25:
		fuzzSink[25]++
	case 26:
		fuzzSink[26]++
	case 27:
		fuzzSink[27]++
	case 28:
		fuzzSink[28]++
	case 29:
		fuzzSink[29]++
	case 30:
		fuzzSink[30]++
	case 31:
		fuzzSink[31]++
	case 32:
		fuzzSink[32]++
	case 33:
		fuzzSink[33]++
	case 34:
		fuzzSink[34]++
	case 35:
		fuzzSink[35]++
	case 36:
		fuzzSink[36]++
	case 37:
		fuzzSink[37]++
	case 38:
		fuzzSink[38]++
	case 39:
		fuzzSink[39]++
	case 40:
		fuzzSink[40]++
	case 41:
		fuzzSink[41]++
	case 42:
		fuzzSink[42]++
	case 43:
		fuzzSink[43]++
	case 44:
		fuzzSink[44]++
	case 45:
		fuzzSink[45]++
	case 46:
		fuzzSink[46]++
	case 47:
		fuzzSink[47]++
	}
}

var fuzzSink [48]int

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
