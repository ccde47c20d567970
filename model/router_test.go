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
		{"legacy", Router{}, 400, "legacy (centralized) routers are not supported yet"},
		{"ha", Router{Distributed: true, HA: true}, 400, "HA routers are not supported"},
		{"ha legacy says ha", Router{HA: true}, 400, "HA routers are not supported"},
		{"gateway", Router{Distributed: true, ExternalGateway: gw}, 400, "external gateways (SNAT) are not supported yet"},
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
				if r.Routes == nil || r.Tags == nil || r.ExternalGateway != nil {
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
	gw := "10.0.0.1"
	sa := Subnet{ID: "sa", NetworkID: "n1", GatewayIP: &gw}
	sb := Subnet{ID: "sb", NetworkID: "n1", GatewayIP: &gw}
	sc := Subnet{ID: "sc", NetworkID: "n2", GatewayIP: &gw}
	nogw := Subnet{ID: "sd", NetworkID: "n3"}
	ports := []Port{
		{ID: "vm", NetworkID: "n2", FixedIPs: []FixedIP{{SubnetID: "sc", IPAddress: "10.0.0.5"}}},
		{ID: "ri", NetworkID: "n1", DeviceOwner: OwnerRouterDVR, DeviceID: "r1", FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: gw}}},
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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRouterInterface(c.router, c.sub, ports)
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

func TestNetworkOwned(t *testing.T) {
	for owner, want := range map[string]bool{
		OwnerRouterDVR: true, OwnerRouterInterface: true, OwnerDHCP: true, "compute:nova": false, "": false,
	} {
		if got := (Port{DeviceOwner: owner}).NetworkOwned(); got != want {
			t.Errorf("%q: NetworkOwned %v", owner, got)
		}
	}
}
