package maps

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// policyTopo is newTopo's network with port a under security groups:
// policy 1 lets anything out, and in only TCP 22 from 10.0.0.0/24 and
// ICMP echo requests from ipB. b and c have no groups.
type policyTopo struct {
	*topo
}

const (
	clsAny   = 1 // any protocol
	clsSSH   = 2 // tcp 22
	clsSSHPi = 3 // tcp 22 + icmp type 8 (ipB is in 10.0.0.0/24 too)
	epoch1   = 0x1111
)

func newPolicyTopo(t *testing.T) *policyTopo {
	tp := &policyTopo{newTopo(t)}
	tp.must(tp.m.PutPolicyPort(PolicyPortRow{Class: clsAny, Rule: 1}))
	tp.must(tp.m.PutPolicyPort(PolicyPortRow{Class: clsSSH, Proto: 6, Port: 22, PortBits: 16, Rule: 2}))
	tp.must(tp.m.PutPolicyPort(PolicyPortRow{Class: clsSSHPi, Proto: 6, Port: 22, PortBits: 16, Rule: 2}))
	tp.must(tp.m.PutPolicyPort(PolicyPortRow{Class: clsSSHPi, Proto: 1, Port: 8 << 8, PortBits: 8, Rule: 3}))
	tp.must(tp.m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirEgress, Prefix: netip.MustParsePrefix("0.0.0.0/0"), Class: clsAny}))
	tp.must(tp.m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirIngress, Prefix: netip.MustParsePrefix("10.0.0.0/24"), Class: clsSSH}))
	tp.must(tp.m.PutPolicyIP(PolicyIPRow{PolicyID: 1, Dir: DirIngress, Prefix: netip.PrefixFrom(ipB, 32), Class: clsSSHPi}))
	tp.setPolicy(tp.a, 1, epoch1)
	return tp
}

func (tp *policyTopo) setPolicy(ifindex, id, epoch uint32) {
	tp.must(tp.m.PutPort(PortRow{Ifindex: ifindex, NetID: 1, MAC: macA, Up: true, Policy: true, PolicyID: id, Epoch: epoch}))
}

// flow builds a TCP (flags), UDP or ICMP echo (id = sport) frame.
func flow(dmac, smac net.HardwareAddr, proto uint8, src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	var seg []byte
	switch proto {
	case 6:
		seg = make([]byte, 20)
		binary.BigEndian.PutUint16(seg[0:], sport)
		binary.BigEndian.PutUint16(seg[2:], dport)
		seg[12], seg[13] = 5<<4, flags
	case 17:
		seg = make([]byte, 16)
		binary.BigEndian.PutUint16(seg[0:], sport)
		binary.BigEndian.PutUint16(seg[2:], dport)
		binary.BigEndian.PutUint16(seg[4:], 16)
	case 1:
		seg = make([]byte, 16)
		seg[0] = byte(dport) // type
		binary.BigEndian.PutUint16(seg[4:], sport)
	}
	return ip4(dmac, smac, proto, src, dst, 64, seg)
}

const (
	syn    = 0x02
	ack    = 0x10
	synAck = 0x12
	rst    = 0x04
)

func (tp *policyTopo) verdict(t *testing.T, from uint32, frame []byte, want uint32) {
	t.Helper()
	ret, _ := tp.run(tp.p.PortIn, from, frame)
	if ret != want {
		t.Fatalf("verdict %d, want %d; drops %v", ret, want, tp.drops())
	}
}

func (tp *policyTopo) ctLen(t *testing.T) int {
	t.Helper()
	rows, err := tp.m.CTRows()
	tp.must(err)
	return len(rows)
}

func TestPolicyEgressStateful(t *testing.T) {
	tp := newPolicyTopo(t)
	// a opens UDP to b: egress allows anything, the reply comes back in.
	tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, 5000, 53, 0), actRedirect)
	tp.verdict(t, tp.b, flow(macA, macB, 17, ipB, ipA, 53, 5000, 0), actRedirect)
	// b opening UDP to a on its own is not allowed in.
	tp.verdict(t, tp.b, flow(macA, macB, 17, ipB, ipA, 53, 5001, 0), actShot)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 1})
	rows, err := tp.m.CTRows()
	tp.must(err)
	if len(rows) != 1 {
		t.Fatalf("ct = %+v, want the one UDP flow", rows)
	}
	r := rows[0]
	if r.Ifindex != tp.a || r.Local != ipA || r.Remote != ipB || r.LocalPort != 5000 || r.RemotePort != 53 ||
		r.Origin != DirEgress || r.State&CTReplied == 0 || r.Packets != 2 || r.Epoch != epoch1 || r.MPort != 53 {
		t.Fatalf("ct entry %+v", r)
	}
	if r.Expires <= Monotonic() {
		t.Fatalf("entry already expired: %d <= %d", r.Expires, Monotonic())
	}
	counts, err := tp.m.CTCounts()
	tp.must(err)
	if counts[tp.a] != 1 || len(counts) != 1 {
		t.Fatalf("ct_count = %v, want a:1", counts)
	}
}

func TestPolicyIngressRules(t *testing.T) {
	tp := newPolicyTopo(t)
	ipOut := netip.MustParseAddr("10.0.1.5") // outside 10.0.0.0/24
	// TCP 22 from the allowed CIDR: SYN opens, the rest of the flow passes.
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40000, 22, syn), actRedirect)
	tp.verdict(t, tp.a, flow(macB, macA, 6, ipA, ipB, 22, 40000, synAck), actRedirect)
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40000, 22, ack), actRedirect)
	// Not SSH, from outside the CIDR, or mid-stream without a connection.
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40001, 23, syn), actShot)
	tp.verdict(t, tp.c, flow(macA, macC, 6, ipOut, ipA, 40002, 22, syn), actShot)
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40003, 22, ack), actShot)
	// ICMP echo: only ipB's /32 class has it.
	tp.verdict(t, tp.b, flow(macA, macB, 1, ipB, ipA, 7, 8, 0), actRedirect)
	tp.verdict(t, tp.c, flow(macA, macC, 1, netip.MustParseAddr("10.0.0.3"), ipA, 7, 8, 0), actShot)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 3, dropKey(tp.a, "ct_invalid"): 1})
}

func TestPolicyICMPRelatedAndEcho(t *testing.T) {
	tp := newPolicyTopo(t)
	// a pings b; the echo reply is the same flow (identifier 9).
	tp.verdict(t, tp.a, flow(macB, macA, 1, ipA, ipB, 9, 8, 0), actRedirect)
	tp.verdict(t, tp.b, flow(macA, macB, 1, ipB, ipA, 9, 0, 0), actRedirect)
	// A reply for an identifier a never used is a new flow: type 0 is not allowed in.
	tp.verdict(t, tp.b, flow(macA, macB, 1, ipB, ipA, 10, 0, 0), actShot)

	// An error quoting a's UDP flow is related; one quoting another is not.
	tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, 5000, 53, 0), actRedirect)
	quoted := flow(macB, macA, 17, ipA, ipB, 5000, 53, 0)[14:42]
	tp.verdict(t, tp.b, ip4(macA, macB, 1, ipB, ipA, 64, icmpErrSeg(3, 3, quoted)), actRedirect)
	other := flow(macB, macA, 17, ipA, ipB, 5000, 54, 0)[14:42]
	tp.verdict(t, tp.b, ip4(macA, macB, 1, ipB, ipA, 64, icmpErrSeg(3, 3, other)), actShot)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 2})
}

func TestPolicyFragments(t *testing.T) {
	tp := newPolicyTopo(t)
	first := flow(macB, macA, 17, ipA, ipB, 5000, 53, 0)
	putIPv4(first[14:], 0x77, 0x2000, 17, ipA, ipB) // MF, offset 0
	later := ethFrame(macB, macA, 0x0800, 40)
	putIPv4(later[14:], 0x77, 3, 17, ipA, ipB) // offset 24 bytes
	stray := ethFrame(macA, macB, 0x0800, 40)
	putIPv4(stray[14:], 0x78, 3, 17, ipB, ipA)
	tp.verdict(t, tp.a, first, actRedirect)
	tp.verdict(t, tp.a, later, actRedirect)
	tp.verdict(t, tp.b, stray, actShot)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "ct_frag"): 1})
}

func TestPolicyEpochCutsRemovedRule(t *testing.T) {
	tp := newPolicyTopo(t)
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40000, 22, syn), actRedirect)
	tp.verdict(t, tp.a, flow(macB, macA, 6, ipA, ipB, 22, 40000, synAck), actRedirect)
	// A rule added (same rules, new epoch): the connection lives on and
	// takes the new epoch.
	tp.setPolicy(tp.a, 1, 0x2222)
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40000, 22, ack), actRedirect)
	rows, err := tp.m.CTRows()
	tp.must(err)
	if len(rows) != 1 || rows[0].Epoch != 0x2222 {
		t.Fatalf("ct after a rule was added: %+v", rows)
	}
	// SSH removed for ipB (its /32 keeps only ping): the next packet, in
	// either direction, cuts the connection and its entry goes.
	tp.must(tp.m.DeletePolicyPort(PolicyPortRow{Class: clsSSHPi, Proto: 6, Port: 22, PortBits: 16}))
	tp.setPolicy(tp.a, 1, 0x3333)
	tp.verdict(t, tp.a, flow(macB, macA, 6, ipA, ipB, 22, 40000, ack), actShot)
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 40000, 22, ack), actShot)
	if n := tp.ctLen(t); n != 0 {
		t.Fatalf("%d ct entries left after the cut", n)
	}
	counts, err := tp.m.CTCounts()
	tp.must(err)
	if counts[tp.a] != 0 {
		t.Fatalf("ct_count = %v after the cut", counts)
	}
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 1, dropKey(tp.a, "ct_invalid"): 1})
}

func TestPolicyBudget(t *testing.T) {
	tp := newPolicyTopo(t)
	tp.must(tp.m.SetCTConfig(CTConfig{PortMax: 3}))
	for i := range 3 {
		tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, uint16(6000+i), 53, 0), actRedirect)
	}
	// The fourth new flow is over a's budget; its established ones go on.
	tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, 6003, 53, 0), actShot)
	tp.verdict(t, tp.b, flow(macA, macB, 17, ipB, ipA, 53, 6001, 0), actRedirect)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "ct_full"): 1})
	// Expired entries go with the GC, which makes the count true again.
	n, err := tp.m.GCCT(^uint64(0), func(uint32) bool { return true })
	tp.must(err)
	if n != 3 || tp.ctLen(t) != 0 {
		t.Fatalf("gc removed %d, %d left", n, tp.ctLen(t))
	}
	tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, 6003, 53, 0), actRedirect)
	counts, err := tp.m.CTCounts()
	tp.must(err)
	if counts[tp.a] != 1 {
		t.Fatalf("ct_count = %v after gc and one new flow", counts)
	}
}

// TestPolicySourceShare: connections one remote address opens to a port
// stop at its share of the port's budget (ct_source_max), so a flood from
// one sender leaves room for the others; connections the port opens are
// not a sender's. The GC makes the shares true.
func TestPolicySourceShare(t *testing.T) {
	tp := newPolicyTopo(t)
	tp.must(tp.m.SetCTConfig(CTConfig{PortMax: 8, SrcMax: 2}))
	for i := range 2 {
		tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, uint16(41000+i), 22, syn), actRedirect)
	}
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 41002, 22, syn), actShot)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "ct_src_full"): 1})
	// Another sender still gets in; a's own connections to ipB are a's.
	tp.verdict(t, tp.c, flow(macA, macC, 6, netip.MustParseAddr("10.0.0.3"), ipA, 41000, 22, syn), actRedirect)
	for i := range 3 {
		tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, uint16(6000+i), 53, 0), actRedirect)
	}
	share := func() uint32 {
		rows, err := tp.m.CTSrcRows()
		tp.must(err)
		for _, r := range rows {
			if r.Ifindex == tp.a && r.Remote == ipB {
				return r.Count
			}
		}
		return 0
	}
	if got := share(); got != 2 {
		t.Fatalf("ipB's share of a = %d, want 2", got)
	}
	counts, err := tp.m.CTCounts()
	tp.must(err)
	if counts[tp.a] != 6 {
		t.Fatalf("ct_count = %v, want a:6 (2 + 1 in, 3 out)", counts)
	}
	// A wrong count is made true by the GC, and goes with the entries.
	tp.must(tp.m.CTSrcCount.Put(&bnetCtSrcKey{Ifindex: tp.a, RemoteIp: binary.NativeEndian.Uint32(ipB.AsSlice())}, uint32(99)))
	_, err = tp.m.GCCT(0, func(uint32) bool { return true })
	tp.must(err)
	if got := share(); got != 2 {
		t.Fatalf("ipB's share after gc = %d, want 2", got)
	}
	_, err = tp.m.GCCT(^uint64(0), func(uint32) bool { return true })
	tp.must(err)
	if got := share(); got != 0 {
		t.Fatalf("ipB's share after every entry expired = %d, want none", got)
	}
	tp.verdict(t, tp.b, flow(macA, macB, 6, ipB, ipA, 41002, 22, syn), actRedirect)
}

func TestPolicyAlwaysAllowed(t *testing.T) {
	tp := newPolicyTopo(t)
	// An empty policy (port security on, no groups) still passes ARP and
	// the DHCP client.
	tp.setPolicy(tp.a, 0, 1)
	arp := arpFrame(broadcast, macA, 1, macA, ipA, make(net.HardwareAddr, 6), ipB)
	tp.verdict(t, tp.a, arp, actRedirect) // the responder answers for ipB
	dhcp := flow(macB, macA, 17, netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), 68, 67, 0)
	tp.verdict(t, tp.a, dhcp, actRedirect)
	tp.verdict(t, tp.b, flow(macA, macB, 17, ipB, ipA, 67, 68, 0), actRedirect)
	tp.verdict(t, tp.a, flow(macB, macA, 17, ipA, ipB, 5000, 53, 0), actShot)
	// IPv6: neighbour discovery passes, the rest only with a V6 flag.
	ns := ethFrame(macB, macA, 0x86dd, 64)
	ns[14], ns[20], ns[54] = 0x60, 58, 135
	other := ethFrame(macB, macA, 0x86dd, 64)
	other[14], other[20] = 0x60, 17
	tp.verdict(t, tp.a, ns, actRedirect)
	tp.verdict(t, tp.a, other, actShot)
	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.a, NetID: 1, MAC: macA, Up: true, Policy: true, V6Out: true}))
	tp.verdict(t, tp.a, other, actRedirect)
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 2})
}

func TestPolicyFloodCopies(t *testing.T) {
	tp := newPolicyTopo(t)
	// A broadcast from b reaches c but not a, whose groups refuse it.
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b, tp.c}}))
	before := txPackets(t, tp.c)
	beforeA := txPackets(t, tp.a)
	bc := flow(broadcast, macB, 17, ipB, netip.MustParseAddr("10.0.0.255"), 5353, 5353, 0)
	ret, _ := tp.run(tp.p.PortIn, tp.b, bc)
	if ret != actShot { // the original is freed after its clones
		t.Fatalf("flood verdict %d", ret)
	}
	if txPackets(t, tp.c) != before+1 || txPackets(t, tp.a) != beforeA {
		t.Fatalf("c got %d (want 1), a got %d (want 0)", txPackets(t, tp.c)-before, txPackets(t, tp.a)-beforeA)
	}
	tp.wantDrops(map[string]uint64{dropKey(tp.a, "policy"): 1})
}

func dropKey(ifindex uint32, reason string) string { return fmt.Sprintf("%d/%s", ifindex, reason) }

func TestPortRange(t *testing.T) {
	for _, c := range []struct {
		lo, hi uint16
		n      int
	}{{22, 22, 1}, {0, 65535, 1}, {1, 65535, 16}, {1024, 2047, 1}, {80, 81, 1}, {79, 81, 2}} {
		blocks := PortRange(c.lo, c.hi)
		if len(blocks) != c.n {
			t.Errorf("%d-%d: %d blocks %v, want %d", c.lo, c.hi, len(blocks), blocks, c.n)
		}
		// The blocks cover exactly lo..hi.
		covered := map[int]bool{}
		for _, b := range blocks {
			size := 1 << (16 - int(b.Bits))
			for p := int(b.Port); p < int(b.Port)+size; p++ {
				if covered[p] {
					t.Fatalf("%d-%d: port %d twice", c.lo, c.hi, p)
				}
				covered[p] = true
			}
		}
		if len(covered) != int(c.hi)-int(c.lo)+1 || !covered[int(c.lo)] || !covered[int(c.hi)] {
			t.Errorf("%d-%d: blocks %v cover %d ports", c.lo, c.hi, blocks, len(covered))
		}
	}
}
