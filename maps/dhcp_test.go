package maps

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestPortInDHCPConsumed: on a port whose DHCP this node serves, a DHCP
// client packet — broadcast, or unicast to the DHCP server's MAC (an FDB
// miss, which would otherwise flood) — is consumed and counted as
// dhcp_local, never copied to another port or VTEP; port security still
// comes first. Without the flag (no DHCP-enabled subnet: a DHCP server in
// a VM may serve the network) the request floods as before.
func TestPortInDHCPConsumed(t *testing.T) {
	tp := newTopo(t)
	remotes := []netip.Addr{vtep, netip.MustParseAddr("192.0.2.11")}
	tp.must(tp.m.PutFlood(FloodRow{NetID: 1, Local: []uint32{tp.a, tp.b, tp.c}, Remote: remotes}))
	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.a, NetID: 1, MAC: macA, Up: true, Secure: true, DHCP: true}))
	tp.must(tp.m.PutPortMAC(PortMACRow{Ifindex: tp.a, MAC: macA}))
	tp.must(tp.m.PutPortAddr(PortAddrRow{Ifindex: tp.a, Prefix: netip.PrefixFrom(ipA, 32), MAC: macA}))
	copies := func() [3]uint64 { return [3]uint64{txPackets(t, tp.b), txPackets(t, tp.c), txPackets(t, tp.vx)} }
	dhcpMAC := mac("fa:16:3e:00:00:67")
	any4, bcast4 := netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255")
	server := netip.MustParseAddr("10.0.0.3")
	for _, c := range []struct {
		name   string
		frame  []byte
		reason string // "": forwarded (flooded)
	}{
		{"DISCOVER", flow(broadcast, macA, 17, any4, bcast4, 68, 67, 0), "dhcp_local"},
		{"renewal to the DHCP server", flow(dhcpMAC, macA, 17, ipA, server, 68, 67, 0), "dhcp_local"},
		{"rebinding from the leased address", flow(broadcast, macA, 17, ipA, bcast4, 68, 67, 0), "dhcp_local"},
		{"from another MAC", flow(broadcast, macC, 17, any4, bcast4, 68, 67, 0), "spoof_mac"},
		{"other UDP broadcast", flow(broadcast, macA, 17, ipA, bcast4, 68, 68, 0), ""},
		{"to port 67 from elsewhere", flow(broadcast, macA, 17, ipA, bcast4, 1000, 67, 0), ""},
		{"DHCP server answer", flow(broadcast, macA, 17, ipA, bcast4, 67, 68, 0), "dhcp_server"},
	} {
		// No subtests: the devices live in this thread's network namespace.
		tp.resetDrops()
		before := copies()
		if ret, _ := tp.run(tp.p.PortIn, tp.a, c.frame); ret != actShot {
			t.Fatalf("%s: verdict %d", c.name, ret)
		}
		after := copies()
		flooded := after != before
		want := map[string]uint64{}
		if c.reason != "" {
			want[fmt.Sprintf("%d/%s", tp.a, c.reason)] = 1
		}
		if flooded != (c.reason == "") {
			t.Fatalf("%s: copies %v -> %v; drops %v", c.name, before, after, tp.drops())
		}
		tp.wantDrops(want)
	}

	tp.must(tp.m.PutPort(PortRow{Ifindex: tp.a, NetID: 1, MAC: macA, Up: true, Secure: true}))
	tp.resetDrops()
	before := copies()
	tp.run(tp.p.PortIn, tp.a, flow(broadcast, macA, 17, any4, bcast4, 68, 67, 0))
	if after := copies(); after[0]-before[0] != 1 || after[2]-before[2] != 2 {
		t.Fatalf("without the flag, DISCOVER copies %v -> %v, want one to b and one per VTEP", before, after)
	}
	tp.wantDrops(nil)
}
