package api

import (
	"net/netip"
	"testing"
)

func (e *env) dhcpPorts(subnet string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, p := range e.list("/v2.0/ports?device_owner=network:dhcp&device_id=dhcp-"+subnet, "ports") {
		out = append(out, p.(map[string]any))
	}
	return out
}

func firstIP(p map[string]any) netip.Addr {
	return netip.MustParseAddr(p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string))
}

// TestDHCPPortLifecycle: a DHCP-enabled subnet has one network:dhcp port
// from its pools, following enable_dhcp, repaired by any update, going
// with the subnet and the network; enabling DHCP on an exhausted pool is
// refused and changes nothing.
func TestDHCPPortLifecycle(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	sub := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24",
		"allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.109"}]}}`, "subnet"), "id")
	d := e.dhcpPorts(sub)
	if len(d) != 1 {
		t.Fatalf("DHCP ports %v", d)
	}
	if ip := firstIP(d[0]); ip.String() != "10.0.0.100" {
		t.Fatalf("DHCP address %s, want the pool's first", ip)
	}
	// VMs take the rest of the pool; the eleventh address does not exist.
	for i := range 9 {
		p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2"}}`, "port")
		if ip := firstIP(p); ip.Less(netip.MustParseAddr("10.0.0.100")) || netip.MustParseAddr("10.0.0.109").Less(ip) {
			t.Fatalf("port %d got %s outside the pool", i, ip)
		}
	}
	code, out := e.call("POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2"}}`)
	if code != 409 || errType(out) != "IpAddressGenerationFailure" {
		t.Fatalf("exhausted pool: %d %v", code, out)
	}

	e.must(200, "PUT", "/v2.0/subnets/"+sub, `{"subnet": {"enable_dhcp": false}}`, "subnet")
	if d := e.dhcpPorts(sub); len(d) != 0 {
		t.Fatalf("DHCP off, ports %v", d)
	}
	// The freed address went to a VM: no room for a DHCP port any more.
	e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2"}}`, "port")
	before := e.dump()
	code, out = e.call("PUT", "/v2.0/subnets/"+sub, `{"subnet": {"enable_dhcp": true}}`)
	if code != 409 || errType(out) != "IpAddressGenerationFailure" {
		t.Fatalf("DHCP on an exhausted pool: %d %v", code, out)
	}
	if e.dump() != before {
		t.Fatal("refused enable_dhcp changed the store")
	}
	e.must(200, "PUT", "/v2.0/subnets/"+sub, `{"subnet": {"allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.120"}], "enable_dhcp": true}}`, "subnet")
	d = e.dhcpPorts(sub)
	if len(d) != 1 {
		t.Fatalf("DHCP back on, ports %v", d)
	}
	// A deleted DHCP port comes back with the next update.
	e.must(204, "DELETE", "/v2.0/ports/"+str(d[0], "id"), "", "")
	e.must(200, "PUT", "/v2.0/subnets/"+sub, `{"subnet": {"dns_nameservers": ["192.0.2.53"]}}`, "subnet")
	if d := e.dhcpPorts(sub); len(d) != 1 {
		t.Fatalf("DHCP port not repaired: %v", d)
	}

	// A subnet with only its DHCP port is free to go, and the port with it.
	sub2 := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.1.0/24"}}`, "subnet"), "id")
	if len(e.dhcpPorts(sub2)) != 1 {
		t.Fatal("second subnet has no DHCP port")
	}
	e.must(204, "DELETE", "/v2.0/subnets/"+sub2, "", "")
	if d := e.dhcpPorts(sub2); len(d) != 0 {
		t.Fatalf("DHCP port outlived its subnet: %v", d)
	}
	// The network goes once its VM ports have; DHCP ports go with it.
	for _, p := range e.list("/v2.0/ports?network_id="+net+"&device_owner=", "ports") {
		e.must(204, "DELETE", "/v2.0/ports/"+str(p.(map[string]any), "id"), "", "")
	}
	e.must(204, "DELETE", "/v2.0/networks/"+net, "", "")
	if l := e.list("/v2.0/ports", "ports"); len(l) != 0 {
		t.Fatalf("ports left: %v", l)
	}
}

// TestSubnetPoolErrors: what a client sees for bad pools.
func TestSubnetPoolErrors(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	for _, c := range []struct {
		body string
		code int
		typ  string
	}{
		{`"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.1.9"}]`, 400, "OutOfBoundsAllocationPool"},
		{`"gateway_ip": "10.0.0.5", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]`, 409, "GatewayConflictWithAllocationPools"},
		{`"allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.9", "end": "10.0.0.19"}]`, 409, "OverlappingAllocationPools"},
		{`"allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]`, 400, "InvalidAllocationPool"},
	} {
		before := e.dump()
		code, out := e.call("POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24", `+c.body+`}}`)
		if code != c.code || errType(out) != c.typ {
			t.Errorf("%s: %d %v, want %d %s", c.body, code, out, c.code, c.typ)
		}
		if e.dump() != before {
			t.Errorf("%s: refused subnet changed the store", c.body)
		}
	}
}

// errType is the NeutronError type of an error answer ("" if none).
func errType(out map[string]any) string {
	ne, _ := out["NeutronError"].(map[string]any)
	typ, _ := ne["type"].(string)
	return typ
}
