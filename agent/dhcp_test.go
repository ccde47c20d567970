package agent

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bnet-dev/bnet/model"
)

var (
	vmMAC   = net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 0x11}
	dhcpMAC = net.HardwareAddr{0xfa, 0x16, 0x3e, 0, 0, 0x02}
)

// dhcpSnapshot is one network (MTU 1450) with subnet s1 (gateway .1, two
// nameservers, a host route), its DHCP port .2 and a VM port .11.
func dhcpSnapshot(mutate func(*model.Subnet)) (snapshot, model.Port) {
	gw := "10.0.0.1"
	sub := model.Subnet{ID: "s1", NetworkID: "n1", CIDR: "10.0.0.0/24", GatewayIP: &gw, EnableDHCP: true,
		DNSNameservers: []string{"192.0.2.53", "192.0.2.54"},
		HostRoutes:     []model.HostRoute{{Destination: "172.16.0.0/12", NextHop: "10.0.0.254"}}}
	if mutate != nil {
		mutate(&sub)
	}
	vm := model.Port{ID: "p1", NetworkID: "n1", MACAddress: vmMAC.String(),
		FixedIPs: []model.FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.11"}}}
	dp := model.NewDHCPPort(sub)
	dp.ID, dp.MACAddress = "d1", dhcpMAC.String()
	dp.FixedIPs[0].IPAddress = "10.0.0.2"
	s := snapshot{nets: map[string]model.Network{"n1": {ID: "n1", MTU: 1450}},
		subnets: map[string]model.Subnet{"s1": sub}, ports: []model.Port{dp, vm}}
	return s, vm
}

func testLease(t *testing.T, mutate func(*model.Subnet)) dhcpLease {
	t.Helper()
	s, vm := dhcpSnapshot(mutate)
	servers := dhcpServers(s)
	if !dhcpNetworks(s, servers)["n1"] {
		t.Fatal("network n1 has no DHCP server")
	}
	l, ok := leaseFor(s, servers, vm, DefaultLeaseTime)
	if !ok {
		t.Fatal("no lease for the VM port")
	}
	return l
}

func discover(t *testing.T, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func request(t *testing.T, mac net.HardwareAddr, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	d, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func reply(t *testing.T, req *dhcpv4.DHCPv4, l dhcpLease) *dhcpv4.DHCPv4 {
	t.Helper()
	r, err := dhcpReply(req, l)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return nil
	}
	// What goes on the wire is what the client parses.
	back, err := dhcpv4.FromBytes(r.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func ips(xs []net.IP) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.String())
	}
	return out
}

func routes(r *dhcpv4.DHCPv4) []string {
	var out []string
	for _, x := range r.ClasslessStaticRoute() {
		out = append(out, x.Dest.String()+" via "+x.Router.String())
	}
	return out
}

// TestDHCPOffer: the offer carries the port's address, the subnet's mask,
// broadcast, router and nameservers, option 121 with the host routes and
// the default route, the network MTU, the lease and its T1/T2, from the
// DHCP port's address.
func TestDHCPOffer(t *testing.T) {
	l := testLease(t, nil)
	r := reply(t, discover(t, vmMAC), l)
	if r == nil || r.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("reply %v", r)
	}
	if got := r.YourIPAddr.String(); got != "10.0.0.11" {
		t.Errorf("yiaddr %s", got)
	}
	if got := net.IP(r.SubnetMask()).String(); got != "255.255.255.0" {
		t.Errorf("mask %s", got)
	}
	if got := r.BroadcastAddress().String(); got != "10.0.0.255" {
		t.Errorf("broadcast %s", got)
	}
	if got := ips(r.Router()); !slices.Equal(got, []string{"10.0.0.1"}) {
		t.Errorf("router %v", got)
	}
	if got := ips(r.DNS()); !slices.Equal(got, []string{"192.0.2.53", "192.0.2.54"}) {
		t.Errorf("dns %v", got)
	}
	want := []string{"172.16.0.0/12 via 10.0.0.254", "0.0.0.0/0 via 10.0.0.1"}
	if got := routes(r); !slices.Equal(got, want) {
		t.Errorf("option 121 %v, want %v", got, want)
	}
	if mtu := r.GetOneOption(dhcpv4.OptionInterfaceMTU); len(mtu) != 2 || binary.BigEndian.Uint16(mtu) != 1450 {
		t.Errorf("interface MTU %v", mtu)
	}
	if got := r.IPAddressLeaseTime(0); got != 24*time.Hour {
		t.Errorf("lease %s", got)
	}
	if t1, t2 := r.IPAddressRenewalTime(0), r.IPAddressRebindingTime(0); t1 != 12*time.Hour || t2 != 21*time.Hour {
		t.Errorf("T1 %s T2 %s", t1, t2)
	}
	if got := r.ServerIdentifier().String(); got != "10.0.0.2" {
		t.Errorf("server identifier %s", got)
	}
}

// TestDHCPNoGateway: gateway_ip null means no router option and no
// default route; without host routes either, no option 121 at all.
func TestDHCPNoGateway(t *testing.T) {
	r := reply(t, discover(t, vmMAC), testLease(t, func(s *model.Subnet) { s.GatewayIP = nil }))
	if r.Router() != nil {
		t.Errorf("router %v without a gateway", r.Router())
	}
	if got := routes(r); !slices.Equal(got, []string{"172.16.0.0/12 via 10.0.0.254"}) {
		t.Errorf("option 121 %v", got)
	}
	r = reply(t, discover(t, vmMAC), testLease(t, func(s *model.Subnet) { s.GatewayIP, s.HostRoutes = nil, nil }))
	if r.GetOneOption(dhcpv4.OptionClasslessStaticRoute) != nil {
		t.Errorf("option 121 %v with neither gateway nor host routes", routes(r))
	}
	// A host route to 0.0.0.0/0 is the default route: not doubled.
	r = reply(t, discover(t, vmMAC), testLease(t, func(s *model.Subnet) {
		s.HostRoutes = []model.HostRoute{{Destination: "0.0.0.0/0", NextHop: "10.0.0.254"}}
	}))
	if got := routes(r); !slices.Equal(got, []string{"0.0.0.0/0 via 10.0.0.254"}) {
		t.Errorf("option 121 %v", got)
	}
	// No nameservers: no option 6 (bnet runs no resolver to hand out).
	r = reply(t, discover(t, vmMAC), testLease(t, func(s *model.Subnet) { s.DNSNameservers = nil }))
	if r.DNS() != nil {
		t.Errorf("dns %v", r.DNS())
	}
}

// TestDHCPRequests: a REQUEST for the port's address is ACKed, for any
// other NAKed; a REQUEST meant for another server, a stranger's MAC and a
// RELEASE get nothing; an INFORM gets the configuration without a lease.
func TestDHCPRequests(t *testing.T) {
	l := testLease(t, nil)
	own := net.ParseIP("10.0.0.11").To4()
	other := net.ParseIP("10.0.0.12").To4()
	for _, c := range []struct {
		name string
		req  *dhcpv4.DHCPv4
		want dhcpv4.MessageType // 0: no answer
	}{
		{"selecting", request(t, vmMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.2")))), dhcpv4.MessageTypeAck},
		{"init-reboot", request(t, vmMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own))), dhcpv4.MessageTypeAck},
		{"renewing", request(t, vmMAC, dhcpv4.WithClientIP(own)), dhcpv4.MessageTypeAck},
		{"renewing an address the port lost", request(t, vmMAC, dhcpv4.WithClientIP(other)), dhcpv4.MessageTypeNak},
		{"another port's address", request(t, vmMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(other))), dhcpv4.MessageTypeNak},
		{"another server's offer", request(t, vmMAC, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.3")))), 0},
		{"a stranger's MAC", request(t, net.HardwareAddr{2, 0, 0, 0, 0, 9}, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(own))), 0},
		{"discover from a stranger", discover(t, net.HardwareAddr{2, 0, 0, 0, 0, 9}), 0},
		{"release", request(t, vmMAC, dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease), dhcpv4.WithClientIP(own)), 0},
		{"inform", request(t, vmMAC, dhcpv4.WithMessageType(dhcpv4.MessageTypeInform), dhcpv4.WithClientIP(own)), dhcpv4.MessageTypeAck},
	} {
		r := reply(t, c.req, l)
		switch {
		case c.want == 0 && r != nil:
			t.Errorf("%s: answered %s", c.name, r.MessageType())
		case c.want != 0 && (r == nil || r.MessageType() != c.want):
			t.Errorf("%s: answer %v, want %s", c.name, r, c.want)
		case r != nil && c.want == dhcpv4.MessageTypeAck && c.name != "inform" && r.YourIPAddr.String() != "10.0.0.11":
			t.Errorf("%s: yiaddr %s", c.name, r.YourIPAddr)
		case r != nil && c.name == "inform" && (!r.YourIPAddr.IsUnspecified() || r.IPAddressLeaseTime(0) != 0 || r.DNS() == nil):
			t.Errorf("inform: yiaddr %s lease %s dns %v", r.YourIPAddr, r.IPAddressLeaseTime(0), r.DNS())
		case r != nil && c.want == dhcpv4.MessageTypeNak && (r.ServerIdentifier().String() != "10.0.0.2" || r.YourIPAddr != nil && !r.YourIPAddr.IsUnspecified()):
			t.Errorf("%s: NAK %v", c.name, r)
		}
	}
}

// TestDHCPLeaseFollowsRecords: a changed address or nameserver is in the
// next answer; a port without an address on a DHCP subnet, or on a
// network whose subnets have DHCP off, has no lease.
func TestDHCPLeaseFollowsRecords(t *testing.T) {
	s, vm := dhcpSnapshot(func(sub *model.Subnet) { sub.DNSNameservers = []string{"192.0.2.99"} })
	vm.FixedIPs[0].IPAddress = "10.0.0.77"
	l, ok := leaseFor(s, dhcpServers(s), vm, time.Hour)
	if !ok || l.ip.String() != "10.0.0.77" || len(l.dns) != 1 || l.dns[0].String() != "192.0.2.99" || l.lease != time.Hour {
		t.Fatalf("lease %+v", l)
	}
	vm.FixedIPs = nil
	if _, ok := leaseFor(s, dhcpServers(s), vm, time.Hour); ok {
		t.Error("lease for a port without an address")
	}
	s, vm = dhcpSnapshot(func(sub *model.Subnet) { sub.EnableDHCP = false })
	servers := dhcpServers(s)
	if _, ok := leaseFor(s, servers, vm, time.Hour); ok || dhcpNetworks(s, servers)["n1"] {
		t.Error("DHCP served on a subnet with enable_dhcp false")
	}
}

// TestDHCPReplyFrame: the answer leaves from the DHCP port's MAC and
// address to UDP 68, with valid checksums, broadcast when the client asked
// for it (and for a NAK), else to the client's MAC and address.
func TestDHCPReplyFrame(t *testing.T) {
	l := testLease(t, nil)
	check := func(name string, req *dhcpv4.DHCPv4, dstMAC, dstIP string) {
		t.Helper()
		r, err := dhcpReply(req, l)
		if err != nil || r == nil {
			t.Fatalf("%s: %v %v", name, r, err)
		}
		f := replyFrame(req, r, l)
		ip, udp := f[14:34], f[34:]
		if got := net.HardwareAddr(f[0:6]).String(); got != dstMAC {
			t.Errorf("%s: to MAC %s, want %s", name, got, dstMAC)
		}
		if got := net.HardwareAddr(f[6:12]).String(); got != dhcpMAC.String() {
			t.Errorf("%s: from MAC %s", name, got)
		}
		if got := net.IP(ip[16:20]).String(); got != dstIP {
			t.Errorf("%s: to %s, want %s", name, got, dstIP)
		}
		if got := net.IP(ip[12:16]).String(); got != "10.0.0.2" {
			t.Errorf("%s: from %s", name, got)
		}
		if csum(ip, 0) != 0xffff {
			t.Errorf("%s: bad IPv4 checksum", name)
		}
		pseudo := uint32(17) + uint32(len(udp))
		if csum(udp, uint32(csum(ip[12:20], pseudo))) != 0xffff {
			t.Errorf("%s: bad UDP checksum", name)
		}
		if binary.BigEndian.Uint16(udp[0:]) != 67 || binary.BigEndian.Uint16(udp[2:]) != 68 {
			t.Errorf("%s: ports %x", name, udp[:4])
		}
		if _, err := dhcpv4.FromBytes(udp[8:]); err != nil {
			t.Errorf("%s: payload: %v", name, err)
		}
	}
	check("unicast offer", discover(t, vmMAC), vmMAC.String(), "10.0.0.11")
	bc := discover(t, vmMAC)
	bc.SetBroadcast()
	check("broadcast offer", bc, "ff:ff:ff:ff:ff:ff", "255.255.255.255")
	check("renewal ACK", request(t, vmMAC, dhcpv4.WithClientIP(net.ParseIP("10.0.0.11").To4())), vmMAC.String(), "10.0.0.11")
	check("NAK", request(t, vmMAC, dhcpv4.WithClientIP(net.ParseIP("10.0.0.12").To4())), "ff:ff:ff:ff:ff:ff", "255.255.255.255")

	// What the server takes from a frame: the source MAC and the payload.
	req := discover(t, vmMAC)
	frame := replyFrame(req, req, dhcpLease{mac: vmMAC, serverMAC: vmMAC, server: netip.MustParseAddr("0.0.0.0")})
	binary.BigEndian.PutUint16(frame[34:], 68)
	binary.BigEndian.PutUint16(frame[36:], 67)
	src, payload, err := dhcpPayload(frame)
	if err != nil || src.String() != vmMAC.String() {
		t.Fatalf("parse: %v %v", src, err)
	}
	if back, err := dhcpv4.FromBytes(payload); err != nil || back.MessageType() != dhcpv4.MessageTypeDiscover {
		t.Fatalf("payload: %v %v", back, err)
	}
	if _, _, err := dhcpPayload(frame[:40]); err == nil {
		t.Error("a truncated frame parsed")
	}
}
