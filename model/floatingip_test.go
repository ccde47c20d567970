package model

import (
	"errors"
	"strings"
	"testing"
)

// fipWorld: router r1 routes s1 (n1) with its gateway on ext; r2 routes s2
// (n2) and has no gateway; s3 (n1) is routed by no one. vm has 10.0.0.10
// on s1 and 10.0.3.10 on s3.
func fipWorld() ([]Port, []Router) {
	ports := []Port{
		{ID: "rif1", NetworkID: "n1", DeviceID: "r1", DeviceOwner: OwnerRouterDVR, FixedIPs: []FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.1"}}},
		{ID: "rif2", NetworkID: "n2", DeviceID: "r2", DeviceOwner: OwnerRouterDVR, FixedIPs: []FixedIP{{SubnetID: "s2", IPAddress: "10.0.2.1"}}},
		{ID: "gw1", NetworkID: "ext", DeviceID: "r1", DeviceOwner: OwnerRouterGateway, FixedIPs: []FixedIP{{SubnetID: "se", IPAddress: "192.0.2.5"}}},
		{ID: "vm", NetworkID: "n1", DeviceOwner: "compute:nova", FixedIPs: []FixedIP{{SubnetID: "s3", IPAddress: "10.0.3.10"}, {SubnetID: "s1", IPAddress: "10.0.0.10"}}},
		{ID: "vm2", NetworkID: "n2", FixedIPs: []FixedIP{{SubnetID: "s2", IPAddress: "10.0.2.10"}}},
		{ID: "vm1", NetworkID: "n1", FixedIPs: []FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.11"}}},
		{ID: "bare", NetworkID: "n1", FixedIPs: []FixedIP{}},
	}
	routers := []Router{
		{ID: "r1", Distributed: true, ExternalGateway: &ExternalGateway{NetworkID: "ext"}},
		{ID: "r2", Distributed: true},
	}
	return ports, routers
}

func portOf(ports []Port, id string) Port {
	for _, p := range ports {
		if p.ID == id {
			return p
		}
	}
	return Port{ID: id}
}

func TestAssociateFloatingIP(t *testing.T) {
	ports, routers := fipWorld()
	f := FloatingIP{ID: "f1", FloatingNetworkID: "ext", FloatingIPAddress: "192.0.2.10"}
	held := FloatingIP{ID: "f0", FloatingNetworkID: "ext", FloatingIPAddress: "192.0.2.9", PortID: ptr("vm1"), FixedIPAddress: ptr("10.0.0.11"), RouterID: ptr("r1")}
	other := FloatingIP{ID: "fx", FloatingNetworkID: "ext2", FloatingIPAddress: "198.51.100.9", PortID: ptr("vm"), FixedIPAddress: ptr("10.0.0.10")}
	fips := []FloatingIP{held, other}
	cases := []struct {
		name, port, fixed string
		want              Association
		code              int
		typ, msg          string
	}{
		{"named fixed IP", "vm", "10.0.0.10", Association{"vm", "10.0.0.10", "s1", "r1"}, 0, "", ""},
		{"named fixed IP, long form", "vm", "10.0.0.010", Association{}, 400, "InvalidInput", "not a valid IP address"},
		{"first IPv4 address is on an unrouted subnet", "vm", "", Association{}, 404, "ExternalGatewayForFloatingIPNotFound",
			"External network ext is not reachable from subnet s3.  Therefore, cannot associate Port vm with a Floating IP."},
		{"router without gateway", "vm2", "", Association{}, 404, "ExternalGatewayForFloatingIPNotFound", "from subnet s2"},
		{"network-owned", "rif1", "", Association{}, 400, "BadRequest", "Bad floatingip request: Port rif1 is unable to be assigned a floating IP"},
		{"no address", "bare", "", Association{}, 400, "BadRequest", "Cannot add floating IP to port bare that has no fixed IPv4 addresses"},
		{"not its address", "vm", "10.0.0.99", Association{}, 400, "BadRequest", "Port vm does not have fixed ip 10.0.0.99"},
		{"IPv6", "vm", "fd00::1", Association{}, 400, "BadRequest", "since that is not an IPv4 address"},
		{"taken", "vm1", "", Association{}, 409, "FloatingIPPortAlreadyAssociated",
			"Cannot associate floating IP 192.0.2.9 (f0) with port vm1 using fixed IP 10.0.0.11, as that fixed IP already has a floating IP on external network ext."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := AssociateFloatingIP(f, portOf(ports, c.port), c.fixed, ports, routers, fips)
			if c.code == 0 {
				if err != nil || a != c.want {
					t.Fatalf("got %+v, %v; want %+v", a, err, c.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code || e.Type != c.typ || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("err = %#v, want %d %s %q", err, c.code, c.typ, c.msg)
			}
		})
	}
	// A floating IP never conflicts with itself: re-associating is fine.
	a, err := AssociateFloatingIP(held, portOf(ports, "vm1"), "", ports, routers, fips)
	if err != nil || a.RouterID != "r1" || a.FixedIP != "10.0.0.11" {
		t.Fatalf("re-associate: %+v %v", a, err)
	}
	var g FloatingIP
	g.Associate(&a)
	if *g.PortID != "vm1" || *g.FixedIPAddress != "10.0.0.11" || *g.RouterID != "r1" || FloatingIPStatus(g) != StatusActive {
		t.Fatalf("associated %+v", g)
	}
	g.Associate(nil)
	if g.PortID != nil || g.FixedIPAddress != nil || g.RouterID != nil || FloatingIPStatus(g) != StatusDown {
		t.Fatalf("disassociated %+v", g)
	}
}

func TestFloatingIPDependencies(t *testing.T) {
	ports, _ := fipWorld()
	fips := []FloatingIP{
		{ID: "f0", FloatingNetworkID: "ext", FloatingIPAddress: "192.0.2.9", PortID: ptr("vm1"), FixedIPAddress: ptr("10.0.0.11"), RouterID: ptr("r1")},
		{ID: "f1", FloatingNetworkID: "ext", FloatingIPAddress: "192.0.2.10"},
	}
	code := func(err error) string {
		var e *Error
		if err == nil {
			return ""
		}
		if !errors.As(err, &e) {
			return err.Error()
		}
		return e.Type
	}
	rif1, rif2 := portOf(ports, "rif1"), portOf(ports, "rif2")
	if got := code(CheckInterfaceFloatingIPs("r1", rif1, ports, fips)); got != "RouterInterfaceInUseByFloatingIP" {
		t.Errorf("interface in use: %q", got)
	}
	if got := code(CheckInterfaceFloatingIPs("r2", rif2, ports, fips)); got != "" {
		t.Errorf("other router's interface: %q", got)
	}
	// The port's address moved: the interface of its network is still
	// what the floating IP goes through.
	moved := append([]Port{}, ports...)
	for i := range moved {
		if moved[i].ID == "vm1" {
			moved[i].FixedIPs = []FixedIP{{SubnetID: "s1", IPAddress: "10.0.0.12"}}
		}
	}
	if got := code(CheckInterfaceFloatingIPs("r1", rif1, moved, fips)); got != "RouterInterfaceInUseByFloatingIP" {
		t.Errorf("moved address: %q", got)
	}
	for _, c := range []struct {
		network, want string
	}{{"ext", ""}, {"", "RouterExternalGatewayInUseByFloatingIp"}, {"ext2", "RouterExternalGatewayInUseByFloatingIp"}} {
		if got := code(CheckGatewayFloatingIPs("r1", c.network, fips)); got != c.want {
			t.Errorf("gateway to %q: %q, want %q", c.network, got, c.want)
		}
	}
	if got := code(CheckGatewayFloatingIPs("r2", "", fips)); got != "" {
		t.Errorf("r2's gateway: %q", got)
	}
	err := CheckRouterFloatingIPs("r1", fips)
	if code(err) != "RouterInUse" || err.Error() != "Router r1 still has floating IPs associated (192.0.2.9)" {
		t.Errorf("router delete: %v", err)
	}
	if err := CheckRouterFloatingIPs("r2", fips); err != nil {
		t.Errorf("r2 delete: %v", err)
	}
}

func TestFloatingIPNetworkAndPort(t *testing.T) {
	ext := Network{ID: "ext", External: true}
	subs := []Subnet{{ID: "se", NetworkID: "ext", CIDR: "192.0.2.0/24", AllocationPools: []AllocationPool{{Start: "192.0.2.100", End: "192.0.2.200"}}}}
	for _, c := range []struct {
		n    Network
		subs []Subnet
		msg  string
	}{
		{ext, subs, ""},
		{Network{ID: "n1"}, subs, "Bad floatingip request: Network n1 is not a valid external network"},
		{ext, nil, "Bad floatingip request: Network ext does not contain any IPv4 subnet"},
	} {
		err := CheckFloatingNetwork(c.n, c.subs)
		if (err == nil) != (c.msg == "") || (err != nil && (err.Error() != c.msg || err.(*Error).Code != 400)) {
			t.Errorf("%s: %v, want %q", c.n.ID, err, c.msg)
		}
	}
	f := FloatingIP{ID: "f1", FloatingNetworkID: "ext", ProjectID: "p1"}
	p := FloatingIPPort(f, "", "")
	if p.NetworkID != "ext" || p.DeviceID != "f1" || p.DeviceOwner != OwnerFloatingIP || p.HostID != "" || !p.NetworkOwned() ||
		p.FixedIPs != nil || p.ProjectID != "p1" || !p.AdminStateUp {
		t.Fatalf("port %+v", p)
	}
	if err := PreparePort(&p, subs, nil); err != nil || len(p.FixedIPs) != 1 || p.FixedIPs[0].SubnetID != "se" {
		t.Fatalf("allocated %+v: %v", p.FixedIPs, err)
	}
	if p := FloatingIPPort(f, "192.0.2.7", "se"); len(p.FixedIPs) != 1 || p.FixedIPs[0] != (FixedIP{SubnetID: "se", IPAddress: "192.0.2.7"}) {
		t.Fatalf("requested %+v", p.FixedIPs)
	}
	g := FloatingIP{Tags: []string{"b", "a", "b"}}
	if err := PrepareFloatingIP(&g); err != nil || strings.Join(g.Tags, ",") != "a,b" {
		t.Fatalf("tags %v: %v", g.Tags, err)
	}
	g.Description = strings.Repeat("d", 256)
	if err := PrepareFloatingIP(&g); err == nil {
		t.Fatal("long description accepted")
	}
	if e := FloatingIPNotFound("x"); e.Code != 404 || e.Type != "FloatingIPNotFound" || e.Msg != "Floating IP x could not be found" {
		t.Fatalf("not found %+v", e)
	}
}
