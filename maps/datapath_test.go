package maps

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

var (
	macA = mac("02:00:00:00:00:0a")
	macB = mac("02:00:00:00:00:0b")
	macC = mac("02:00:00:00:00:0c")
	macR = mac("02:00:00:00:01:01") // behind a remote VTEP
	ipA  = netip.MustParseAddr("10.0.0.1")
	ipB  = netip.MustParseAddr("10.0.0.2")
	ipR  = netip.MustParseAddr("10.0.0.9")
	vtep = netip.MustParseAddr("192.0.2.10")
)

// topo is one VXLAN network (id 1, VNI 100) with local ports a, b, c
// and a remote MAC, plus a stand-in device for the VXLAN device.
type topo struct {
	*env
	a, b, c, vx uint32
}

func newTopo(t *testing.T) *topo {
	e := newEnv(t)
	tp := &topo{env: e, a: veth(t, "pa"), b: veth(t, "pb"), c: veth(t, "pc"), vx: veth(t, "vx")}
	e.must(e.m.SetNodeCfg(NodeCfg{VXLANIfindex: tp.vx, LocalIP: netip.MustParseAddr("192.0.2.1")}))
	e.must(e.m.PutNetwork(NetRow{NetID: 1, Type: "vxlan", Segment: 100, MTU: 1450}))
	e.must(e.m.PutSegment(SegmentRow{Type: "vxlan", Segment: 100, NetID: 1}))
	for _, p := range []struct {
		ifindex uint32
		mac     []byte
		ip      netip.Addr
	}{{tp.a, macA, ipA}, {tp.b, macB, ipB}} {
		e.must(e.m.PutPort(PortRow{Ifindex: p.ifindex, NetID: 1, MAC: p.mac, Up: true}))
		e.must(e.m.PutFDB(FDBRow{NetID: 1, MAC: p.mac, Ifindex: p.ifindex}))
		e.must(e.m.PutARP(ARPRow{NetID: 1, IP: p.ip, MAC: p.mac}))
	}
	e.must(e.m.PutPort(PortRow{Ifindex: tp.c, NetID: 1, MAC: macC, Up: true}))
	e.must(e.m.PutFDB(FDBRow{NetID: 1, MAC: macR, VTEP: vtep}))
	e.must(e.m.PutARP(ARPRow{NetID: 1, IP: ipR, MAC: macR}))
	return tp
}

func TestPortInLocalRedirect(t *testing.T) {
	tp := newTopo(t)
	in := ethFrame(macB, macA, 0x0800, 50)
	ret, out := tp.run(tp.p.PortIn, tp.a, in)
	if ret != actRedirect {
		t.Fatalf("verdict %d, want redirect", ret)
	}
	if !bytes.Equal(out, in) {
		t.Fatalf("frame changed:\n%x\n%x", out, in)
	}
	tp.wantDrops(nil)
}

func TestPortInHairpinAndDownPorts(t *testing.T) {
	tp := newTopo(t)
	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(macA, macA, 0x0800, 50)); ret != actShot {
		t.Fatalf("hairpin verdict %d", ret)
	}
	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.b, NetID: 1, MAC: macB, Up: false}))
	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(macB, macA, 0x0800, 50)); ret != actShot {
		t.Fatalf("to down port verdict %d", ret)
	}
	if ret, _ := tp.run(tp.p.PortIn, tp.b, ethFrame(macA, macB, 0x0800, 50)); ret != actShot {
		t.Fatalf("from down port verdict %d", ret)
	}
	tp.wantDrops(map[string]uint64{
		fmt.Sprintf("%d/hairpin", tp.a):   1,
		fmt.Sprintf("%d/port_down", tp.a): 1,
		fmt.Sprintf("%d/port_down", tp.b): 1,
	})
}

func TestPortInARPReply(t *testing.T) {
	tp := newTopo(t)
	for _, c := range []struct {
		name   string
		ip     netip.Addr
		answer []byte
	}{{"local", ipB, macB}, {"remote", ipR, macR}} {
		t.Run(c.name, func(t *testing.T) {
			req := arpFrame(broadcast, macA, 1, macA, ipA, make([]byte, 6), c.ip)
			ret, out := tp.run(tp.p.PortIn, tp.a, req)
			if ret != actRedirect {
				t.Fatalf("verdict %d, want redirect back to the port", ret)
			}
			want := arpFrame(macA, c.answer, 2, c.answer, c.ip, macA, ipA)
			if !bytes.Equal(out, want) {
				t.Fatalf("reply\n got %x\nwant %x", out, want)
			}
		})
	}
	tp.wantDrops(nil)
}

func TestPortInARPOwnIPIsFlooded(t *testing.T) {
	tp := newTopo(t)
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b}}))
	before := txPackets(t, tp.b)
	req := arpFrame(broadcast, macA, 1, macA, ipA, make([]byte, 6), ipA)
	ret, out := tp.run(tp.p.PortIn, tp.a, req)
	if ret != actShot {
		t.Fatalf("verdict %d, want shot after flooding", ret)
	}
	if !bytes.Equal(out, req) {
		t.Fatalf("request rewritten although not answerable: %x", out)
	}
	if got := txPackets(t, tp.b) - before; got != 1 {
		t.Fatalf("port b got %d copies, want 1", got)
	}
	tp.wantDrops(nil)
}

func TestPortInTunnel(t *testing.T) {
	tp := newTopo(t)
	in := ethFrame(macR, macA, 0x0800, 80)
	if ret, _ := tp.run(tp.p.PortIn, tp.a, in); ret != actRedirect {
		t.Fatalf("verdict %d, want redirect to the VXLAN device", ret)
	}
	tp.wantDrops(nil)

	tp.must(tp.m.SetNodeCfg(NodeCfg{}))
	if ret, _ := tp.run(tp.p.PortIn, tp.a, in); ret != actShot {
		t.Fatalf("verdict %d without a VXLAN device", ret)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_tunnel", tp.a): 1})
}

func TestPortInFlood(t *testing.T) {
	tp := newTopo(t)
	remotes := []netip.Addr{vtep, netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.1") /* self: skipped */}
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b, tp.c}, Remote: remotes}))
	count := func() [4]uint64 {
		return [4]uint64{txPackets(t, tp.a), txPackets(t, tp.b), txPackets(t, tp.c), txPackets(t, tp.vx)}
	}
	for _, dst := range [][]byte{broadcast, mac("01:00:5e:00:00:01"), mac("02:99:99:99:99:99") /* unknown unicast */} {
		before := count()
		in := ethFrame(dst, macA, 0x0800, 64)
		ret, out := tp.run(tp.p.PortIn, tp.a, in)
		if ret != actShot {
			t.Fatalf("%s: verdict %d, want shot after cloning", dst, ret)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("%s: frame changed", dst)
		}
		after := count()
		got := [4]uint64{after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3]}
		if want := [4]uint64{0, 1, 1, 2}; got != want {
			t.Fatalf("%s: copies (a, b, c, vxlan) = %v, want %v", dst, got, want)
		}
	}
	tp.wantDrops(nil)

	// No flood entry: nothing to send, counted.
	tp.must(tp.m.DeleteFlood(1))
	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(broadcast, macA, 0x0800, 64)); ret != actShot {
		t.Fatalf("verdict %d", ret)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/fdb_miss", tp.a): 1})
}

// TestFloodFullLists: full flood lists (64 local ports, 128 VTEPs) are
// sent to the last entry, each copy by one turn of bnet_flood's bounded
// loops.
func TestFloodFullLists(t *testing.T) {
	tp := newTopo(t)
	local := []uint32{tp.a, tp.b, tp.c}
	for i := 0; len(local) < 64; i++ {
		ifi := veth(t, fmt.Sprintf("pf%d", i))
		tp.must(tp.m.PutPort(PortRow{Ifindex: ifi, NetID: 1, MAC: mac(fmt.Sprintf("02:00:00:00:01:%02x", i)), Up: true}))
		local = append(local, ifi)
	}
	var remote []netip.Addr
	for i := 0; i < 128; i++ {
		remote = append(remote, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})) // 192.0.2.1 is this node: skipped
	}
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: local, Remote: remote}))
	before := make([]uint64, len(local))
	for i, ifi := range local {
		before[i] = txPackets(t, ifi)
	}
	vx := txPackets(t, tp.vx)
	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(broadcast, macA, 0x0800, 64)); ret != actShot {
		t.Fatalf("verdict %d, want shot after cloning", ret)
	}
	for i, ifi := range local {
		want := uint64(1)
		if ifi == tp.a {
			want = 0
		}
		if got := txPackets(t, ifi) - before[i]; got != want {
			t.Errorf("local entry %d (ifindex %d): %d copies, want %d", i, ifi, got, want)
		}
	}
	if got := txPackets(t, tp.vx) - vx; got != 127 {
		t.Errorf("%d VXLAN copies, want 127 (128 VTEPs but this node's)", got)
	}
	tp.wantDrops(nil)
}

// TestFloodWithoutFloodProgram: flooding is a tail call into bnet_flood;
// with the program array emptied the frame is dropped and counted as
// no_prog, never passed on unflooded.
func TestFloodWithoutFloodProgram(t *testing.T) {
	tp := newTopo(t)
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b}}))
	info, err := tp.p.PortIn.Info()
	tp.must(err)
	ids, _ := info.MapIDs()
	var jmp *ebpf.Map
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		tp.must(err)
		if m.Type() == ebpf.ProgramArray {
			jmp = m
			continue
		}
		m.Close()
	}
	if jmp == nil {
		t.Fatal("bnet_port_in uses no program array")
	}
	defer jmp.Close()
	tp.must(jmp.Delete(uint32(0)))
	before := txPackets(t, tp.b)
	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(broadcast, macA, 0x0800, 64)); ret != actShot {
		t.Fatalf("verdict %d, want shot", ret)
	}
	if n := txPackets(t, tp.b) - before; n != 0 {
		t.Fatalf("%d copies reached b without the flood program", n)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_prog", tp.a): 1})
}

// TestIsolation reuses one MAC and one IP in two networks: each network
// resolves them to its own entries.
func TestIsolation(t *testing.T) {
	tp := newTopo(t)
	d := veth(t, "pd")
	tp.must(tp.m.PutNetwork(NetRow{NetID: 2, Type: "vxlan", Segment: 200}))
	tp.must(tp.m.PutPort(PortRow{Ifindex: d, NetID: 2, MAC: macA, Up: true}))
	// In network 2, macB is port d itself and ipB answers with macC.
	tp.must(tp.m.PutFDB(FDBRow{NetID: 2, MAC: macB, Ifindex: d}))
	tp.must(tp.m.PutARP(ARPRow{NetID: 2, IP: ipB, MAC: macC}))

	if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(macB, macA, 0x0800, 40)); ret != actRedirect {
		t.Fatalf("net 1: verdict %d, want redirect to b", ret)
	}
	if ret, _ := tp.run(tp.p.PortIn, d, ethFrame(macB, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("net 2: verdict %d, want hairpin drop", ret)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/hairpin", d): 1})

	for _, c := range []struct {
		in     uint32
		answer []byte
	}{{tp.a, macB}, {d, macC}} {
		req := arpFrame(broadcast, macA, 1, macA, ipA, make([]byte, 6), ipB)
		ret, out := tp.run(tp.p.PortIn, c.in, req)
		want := arpFrame(macA, c.answer, 2, c.answer, ipB, macA, ipA)
		if ret != actRedirect || !bytes.Equal(out, want) {
			t.Fatalf("ARP on port %d: verdict %d reply %x, want %x", c.in, ret, out, want)
		}
	}
	// Network 2 has no remote VTEPs: a frame for net 1's remote MAC floods
	// locally in net 2 (no flood entry there) instead of tunnelling.
	tp.resetDrops()
	if ret, _ := tp.run(tp.p.PortIn, d, ethFrame(macR, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("net 2 unknown unicast: verdict %d", ret)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/fdb_miss", d): 1})
}

func TestPortInMalformed(t *testing.T) {
	tp := newTopo(t)
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b}, Remote: []netip.Addr{vtep}}))
	before := tp.snapshot()

	// The kernel refuses test frames shorter than an Ethernet header
	// before the program runs, so 0..13 bytes cannot reach it here.
	for n := 0; n < 14; n++ {
		if _, _, err := tp.tryRun(tp.p.PortIn, tp.a, make([]byte, n)); !errors.Is(err, unix.EINVAL) {
			t.Fatalf("%d-byte frame: err %v, want EINVAL from the kernel", n, err)
		}
	}

	// ARP cut short anywhere from just the Ethernet header to one byte short.
	full := arpFrame(broadcast, macA, 1, macA, ipA, make([]byte, 6), ipB)
	for n := 14; n < len(full); n++ {
		in := bytes.Clone(full[:n])
		ret, out := tp.run(tp.p.PortIn, tp.a, in)
		if ret != actShot || !bytes.Equal(out, in) {
			t.Fatalf("ARP cut to %d bytes: verdict %d, frame %x", n, ret, out)
		}
	}
	short := uint64(len(full) - 14)

	// Group source address, 802.1Q and QinQ frames from a VM.
	for _, in := range [][]byte{ethFrame(macB, broadcast, 0x0800, 20), ethFrame(macB, mac("01:00:00:00:00:01"), 0x0806, 28)} {
		if ret, _ := tp.run(tp.p.PortIn, tp.a, in); ret != actShot {
			t.Fatalf("group source: verdict %d", ret)
		}
	}
	for _, proto := range []uint16{0x8100, 0x88a8} {
		if ret, _ := tp.run(tp.p.PortIn, tp.a, ethFrame(macB, macA, proto, 30)); ret != actShot {
			t.Fatalf("tagged %#x: verdict %d", proto, ret)
		}
	}
	tp.wantDrops(map[string]uint64{
		fmt.Sprintf("%d/malformed", tp.a):   short + 2,
		fmt.Sprintf("%d/vlan_tagged", tp.a): 2,
	})

	// Garbage: whatever the bytes, a verdict and no map change.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		in := make([]byte, 14+rng.IntN(120))
		for j := range in {
			in[j] = byte(rng.UintN(256))
		}
		if i%2 == 0 {
			in[12], in[13] = 0x08, 0x06 // garbage ARP
		}
		ret, _, err := tp.tryRun(tp.p.PortIn, tp.a, in)
		if err != nil || (ret != actShot && ret != actRedirect) {
			t.Fatalf("garbage %x: verdict %d err %v", in, ret, err)
		}
	}
	if after := tp.snapshot(); after != before {
		t.Fatalf("maps changed by malformed frames:\n%s\n%s", before, after)
	}
}

func TestPortInUnknownPortAndNetwork(t *testing.T) {
	tp := newTopo(t)
	stranger := veth(t, "px")
	if ret, _ := tp.run(tp.p.PortIn, stranger, ethFrame(macB, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("verdict %d", ret)
	}
	tp.must(tp.m.PutPort(PortRow{Ifindex: stranger, NetID: 77, MAC: macA, Up: true}))
	if ret, _ := tp.run(tp.p.PortIn, stranger, ethFrame(macB, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("verdict %d", ret)
	}
	tp.wantDrops(map[string]uint64{
		fmt.Sprintf("%d/no_port", stranger):    1,
		fmt.Sprintf("%d/no_network", stranger): 1,
	})
	rows, err := tp.m.DropRows()
	tp.must(err)
	if rows[0].Bytes != 54 {
		t.Fatalf("bytes %d, want 54", rows[0].Bytes)
	}
}

func TestPortInFlatAndVLAN(t *testing.T) {
	e := newEnv(t)
	a, b, nic := veth(t, "pa"), veth(t, "pb"), veth(t, "eth-ext")
	e.must(e.m.PutNetwork(NetRow{NetID: 5, Type: "vlan", Segment: 42, PhysIfindex: nic}))
	for _, p := range []uint32{a, b} {
		e.must(e.m.PutPort(PortRow{Ifindex: p, NetID: 5, MAC: macA, Up: true}))
	}
	e.must(e.m.PutFlood(FloodRow{NetID: 5, Local: []uint32{a, b}}))

	// Unknown unicast goes to the physical network.
	if ret, _ := e.run(e.p.PortIn, a, ethFrame(macR, macA, 0x0800, 40)); ret != actRedirect {
		t.Fatalf("unknown unicast verdict %d, want redirect to the NIC", ret)
	}
	// Broadcast: one copy to b and one to the NIC.
	nb, nn := txPackets(t, b), txPackets(t, nic)
	if ret, _ := e.run(e.p.PortIn, a, ethFrame(broadcast, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("broadcast verdict %d", ret)
	}
	if txPackets(t, b)-nb != 1 || txPackets(t, nic)-nn != 1 {
		t.Fatalf("broadcast copies: b %d nic %d", txPackets(t, b)-nb, txPackets(t, nic)-nn)
	}
	e.wantDrops(nil)

	e.must(e.m.PutNetwork(NetRow{NetID: 5, Type: "flat"}))
	if ret, _ := e.run(e.p.PortIn, a, ethFrame(macR, macA, 0x0800, 40)); ret != actShot {
		t.Fatalf("flat without NIC: verdict %d", ret)
	}
	e.wantDrops(map[string]uint64{fmt.Sprintf("%d/no_physnet", a): 1})
}

func TestTunIn(t *testing.T) {
	tp := newTopo(t)
	// Test runs carry no tunnel metadata: only the refusal is observable.
	if ret, _ := tp.run(tp.p.TunIn, tp.vx, ethFrame(macA, macR, 0x0800, 40)); ret != actShot {
		t.Fatalf("verdict %d", ret)
	}
	tp.wantDrops(map[string]uint64{fmt.Sprintf("%d/tunnel_key", tp.vx): 1})
}

func TestPhysIn(t *testing.T) {
	e := newEnv(t)
	a, b, nic, other := veth(t, "pa"), veth(t, "pb"), veth(t, "eth-ext"), veth(t, "eth-other")
	e.must(e.m.PutNetwork(NetRow{NetID: 3, Type: "flat", PhysIfindex: nic}))
	e.must(e.m.PutSegment(SegmentRow{Type: "flat", Ifindex: nic, NetID: 3}))
	e.must(e.m.PutPort(PortRow{Ifindex: a, NetID: 3, MAC: macA, Up: true}))
	e.must(e.m.PutPort(PortRow{Ifindex: b, NetID: 3, MAC: macB, Up: true}))
	e.must(e.m.PutFDB(FDBRow{NetID: 3, MAC: macA, Ifindex: a}))
	e.must(e.m.PutFlood(FloodRow{NetID: 3, Local: []uint32{a, b}}))

	if ret, _ := e.run(e.p.PhysIn, other, ethFrame(macA, macR, 0x0800, 40)); ret != tcxNext {
		t.Fatalf("NIC without network: verdict %#x, want TCX_NEXT", ret)
	}
	if ret, _ := e.run(e.p.PhysIn, nic, ethFrame(macA, macR, 0x0800, 40)); ret != actRedirect {
		t.Fatalf("to local port: verdict %d", ret)
	}
	if ret, _ := e.run(e.p.PhysIn, nic, ethFrame(macC, macR, 0x0800, 40)); ret != tcxNext {
		t.Fatalf("to a MAC not here: verdict %#x, want TCX_NEXT", ret)
	}
	na, nb, nn := txPackets(t, a), txPackets(t, b), txPackets(t, nic)
	if ret, _ := e.run(e.p.PhysIn, nic, ethFrame(broadcast, macR, 0x0806, 28)); ret != actShot {
		t.Fatalf("broadcast verdict %d", ret)
	}
	if txPackets(t, a)-na != 1 || txPackets(t, b)-nb != 1 || txPackets(t, nic) != nn {
		t.Fatal("broadcast from the NIC must reach both ports and never go back out")
	}
	e.wantDrops(nil)
}
