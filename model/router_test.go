package model

import (
	"errors"
	"strings"
	"testing"
)

func TestPrepareRouter(t *testing.T) {
	gw := &ExternalGateway{NetworkID: "ext"}
	cases := []struct {
		name string
		in   Router
		code int
		msg  string
	}{
		{"distributed", Router{Distributed: true}, 0, ""},
		{"empty gateway clears", Router{Distributed: true, ExternalGateway: &ExternalGateway{}}, 0, ""},
		{"legacy", Router{}, 0, ""},
		{"ha", Router{Distributed: true, HA: true}, 400, "HA routers are not supported"},
		{"ha legacy says ha", Router{HA: true}, 400, "HA routers are not supported"},
		{"gateway", Router{Distributed: true, ExternalGateway: gw}, 0, ""},
		{"fixed ips without network", Router{Distributed: true, ExternalGateway: &ExternalGateway{ExternalFixedIPs: []FixedIP{{IPAddress: "192.0.2.9"}}}}, 400,
			"Invalid input for external_gateway_info. Reason: external_fixed_ips without a network_id."},
		{"legacy with gateway", Router{ExternalGateway: gw}, 0, ""},
		{"routes", Router{Distributed: true, Routes: []HostRoute{{Destination: "10.1.0.0/24", NextHop: "10.0.0.9"}}}, 400, "extra routes are not supported yet"},
		{"long name", Router{Distributed: true, Name: strings.Repeat("r", 256)}, 400, "longer than 255"},
		{"bad tag", Router{Distributed: true, Tags: []string{"a,b"}}, 400, "not a valid tag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.in
			err := PrepareRouter(&r)
			if c.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if r.Routes == nil || r.Tags == nil || (r.ExternalGateway != nil) != (c.in.ExternalGateway == gw) {
					t.Errorf("defaults not filled: %+v", r)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code || e.Type != "InvalidInput" || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("err = %#v, want %d InvalidInput %q", err, c.code, c.msg)
			}
		})
	}
	if err := CheckRouterUpdate(Router{Distributed: true}, Router{}); err == nil {
		t.Error("distributed changed on update")
	}
	if err := CheckRouterUpdate(Router{Distributed: true}, Router{Distributed: true, Name: "x"}); err != nil {
		t.Error(err)
	}
}

func TestCheckRouterInterface(t *testing.T) {
	gw, gw2, gw3, gw4, gwx := "10.0.0.1", "10.0.2.1", "10.1.0.1", "10.0.0.129", "192.0.2.1"
	sa := Subnet{ID: "sa", NetworkID: "n1", CIDR: "10.0.0.0/24", GatewayIP: &gw}
	sb := Subnet{ID: "sb", NetworkID: "n1", CIDR: "10.0.1.0/24", GatewayIP: &gw}
	sc := Subnet{ID: "sc", NetworkID: "n2", CIDR: "10.0.2.0/24", GatewayIP: &gw2}
	nogw := Subnet{ID: "sd", NetworkID: "n3", CIDR: "10.0.3.0/24"}
	same := Subnet{ID: "se", NetworkID: "n4", CIDR: "10.0.0.0/24", GatewayIP: &gw}
	within := Subnet{ID: "sf", NetworkID: "n5", CIDR: "10.0.0.128/25", GatewayIP: &gw4}
	free := Subnet{ID: "sg", NetworkID: "n6", CIDR: "10.1.0.0/24", GatewayIP: &gw3}
	ext := Subnet{ID: "sx", NetworkID: "ext", CIDR: "192.0.2.0/24", GatewayIP: &gwx}
	ext2 := Subnet{ID: "sy", NetworkID: "ext", CIDR: "198.51.100.0/24", GatewayIP: &gwx}
	extOverlap := Subnet{ID: "sz", NetworkID: "n7", CIDR: "192.0.2.0/25", GatewayIP: &gwx}
	subs := []Subnet{sa, sb, sc, nogw, same, within, free, ext, ext2, extOverlap}
	ports := []Port{
		{ID: "vm", NetworkID: "n2", FixedIPs: []FixedIP{{SubnetID: "sc", IPAddress: "10.0.2.5"}}},
		{ID: "ri", NetworkID: "n1", DeviceOwner: OwnerRouterDVR, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: gw}}},
		{ID: "sn", NetworkID: "n1", DeviceOwner: OwnerRouterSNAT, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: "10.0.0.7"}}},
		{ID: "qg", NetworkID: "ext", DeviceOwner: OwnerRouterGateway, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sx", IPAddress: "192.0.2.10"}}},
		// A VM port on another router's device_id is no router port.
		{ID: "vm2", NetworkID: "n5", DeviceOwner: "compute:nova", DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sf", IPAddress: "10.0.0.130"}}},
	}
	cases := []struct {
		name, router string
		sub          Subnet
		code         int
		typ, msg     string
	}{
		{"free subnet, vm port only", "r1", sc, 0, "", ""},
		{"no gateway", "r1", nogw, 400, "BadRequest", "Subnet sd has no gateway IP: a router interface needs one"},
		{"same router", "r1", sa, 400, "BadRequest", "Router already has a port on subnet sa"},
		{"other router", "r2", sa, 409, "SubnetInUse", "Subnet sa is already routed by router r1"},
		{"second subnet of network", "r1", sb, 400, "BadRequest", "network n1 already has a router interface (port ri); bnet routes one subnet per network"},
		{"second subnet, other router", "r2", sb, 400, "BadRequest", "bnet routes one subnet per network"},
		{"free subnet", "r1", free, 0, "", ""},
		{"same cidr as an interface", "r1", same, 400, "BadRequest", "Bad router request: Cidr 10.0.0.0/24 of subnet se overlaps with cidr 10.0.0.0/24 of subnet sa"},
		{"inside an interface's cidr", "r1", within, 400, "BadRequest", "Cidr 10.0.0.128/25 of subnet sf overlaps with cidr 10.0.0.0/24 of subnet sa"},
		{"same cidr, other router", "r2", same, 0, "", ""},
		{"overlaps the gateway's subnet", "r1", extOverlap, 400, "BadRequest", "Cidr 192.0.2.0/25 of subnet sz overlaps with cidr 192.0.2.0/24 of subnet sx"},
		{"gateway network", "r1", ext2, 400, "BadRequest", "network ext is the external gateway network of router r1: the router cannot also have an interface on it"},
		{"another router's gateway network", "r2", ext2, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRouterInterface(c.router, c.sub, ports, subs)
			if c.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != c.code || e.Type != c.typ || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("err = %#v, want %d %s %q", err, c.code, c.typ, c.msg)
			}
		})
	}
	if InterfaceOwner(Router{Distributed: true}) != OwnerRouterDVR || InterfaceOwner(Router{}) != OwnerRouterInterface {
		t.Error("InterfaceOwner")
	}
}

func TestCheckGatewayNetwork(t *testing.T) {
	gw := "10.0.0.1"
	pub := Network{ID: "pub", External: true}
	priv := Network{ID: "priv"}
	bare := Network{ID: "bare", External: true}
	ext := Subnet{ID: "sx", NetworkID: "pub", CIDR: "192.0.2.0/24"}
	sa := Subnet{ID: "sa", NetworkID: "n1", CIDR: "10.0.0.0/24", GatewayIP: &gw}
	sp := Subnet{ID: "sp", NetworkID: "priv", CIDR: "10.9.0.0/24"}
	clash := Subnet{ID: "sc", NetworkID: "pub2", CIDR: "10.0.0.0/16"}
	subs := []Subnet{ext, sa, sp, clash}
	ports := []Port{
		{ID: "ri", NetworkID: "n1", DeviceOwner: OwnerRouterDVR, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: gw}}},
		{ID: "qg", NetworkID: "pub", DeviceOwner: OwnerRouterGateway, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sx", IPAddress: "192.0.2.10"}}},
		{ID: "ri2", NetworkID: "pub", DeviceOwner: OwnerRouterDVR, DeviceID: "r2", FixedIPs: []FixedIP{{SubnetID: "sx", IPAddress: "192.0.2.1"}}},
	}
	cases := []struct {
		name, router string
		net          Network
		subs         []Subnet
		msg          string
	}{
		{"external with a subnet", "r1", pub, []Subnet{ext}, ""},
		{"the same gateway again", "r1", pub, []Subnet{ext}, ""},
		{"not external", "r1", priv, []Subnet{sp}, "Bad router request: network priv is not an external network"},
		{"no subnet", "r1", bare, nil, "Bad router request: network bare has no subnet: the router's gateway port needs an address on one"},
		{"overlaps an interface", "r1", Network{ID: "pub2", External: true}, []Subnet{clash}, "Cidr 10.0.0.0/16 of subnet sc overlaps with cidr 10.0.0.0/24 of subnet sa"},
		{"an interface network", "r2", pub, []Subnet{ext}, "network pub has an interface of router r2 (port ri2): it cannot also be the router's external gateway network"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckGatewayNetwork(c.router, c.net, c.subs, ports, subs)
			if c.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != 400 || e.Type != "BadRequest" || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("err = %#v, want 400 BadRequest %q", err, c.msg)
			}
		})
	}
}

func TestNetworkOwned(t *testing.T) {
	for owner, want := range map[string]bool{
		OwnerRouterDVR: true, OwnerRouterInterface: true, OwnerDHCP: true, OwnerRouterGateway: true, OwnerRouterSNAT: true,
		"compute:nova": false, "": false,
	} {
		if got := (Port{DeviceOwner: owner}).NetworkOwned(); got != want {
			t.Errorf("%q: NetworkOwned %v", owner, got)
		}
	}
	for owner, want := range map[string]bool{
		OwnerRouterDVR: true, OwnerRouterInterface: true, OwnerRouterGateway: true, OwnerRouterSNAT: true,
		OwnerDHCP: false, OwnerFloatingIP: false, "compute:nova": false,
	} {
		if got := IsRouterPort(owner); got != want {
			t.Errorf("%q: IsRouterPort %v", owner, got)
		}
	}
}
