package api

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/model"
)

// fipEnv is a gatewayEnv whose router has its gateway on pub, with VM
// ports vm (10.0.0.10 on sub, routed), vm3 (10.0.2.10 on sub3, routed) and
// stray (10.0.1.10 on sub2, which no router routes), all on node2.
type fipEnv struct {
	gatewayEnv
	vm, vm3, stray string
}

func newFIPEnv(t *testing.T) fipEnv {
	e := fipEnv{gatewayEnv: newGatewayEnv(t)}
	e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	vmPort := func(net, ip string) string {
		return str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2",
			"fixed_ips": [{"ip_address": "`+ip+`"}]}}`, "port"), "id")
	}
	e.vm = vmPort(e.net, "10.0.0.10")
	e.vm3 = vmPort(e.net2, "10.0.2.10")
	e.stray = vmPort(e.net, "10.0.1.10")
	return e
}

// fip creates a floating IP from body (the inner object) and returns it.
func (e fipEnv) fip(body string) map[string]any {
	e.t.Helper()
	return e.must(201, "POST", "/v2.0/floatingips", `{"floatingip": `+body+`}`, "floatingip")
}

// setFIP PUTs body (the inner object) on floating IP id.
func (e fipEnv) setFIP(id, body string) map[string]any {
	e.t.Helper()
	return e.must(200, "PUT", "/v2.0/floatingips/"+id, `{"floatingip": `+body+`}`, "floatingip")
}

// checkAssoc checks f's association: port, fixed IP and router, all nil
// when port is "", and the status that goes with it.
func checkAssoc(t *testing.T, f map[string]any, port, fixed, router string) {
	t.Helper()
	want := map[string]any{"port_id": port, "fixed_ip_address": fixed, "router_id": router, "status": "ACTIVE"}
	if port == "" {
		want = map[string]any{"port_id": nil, "fixed_ip_address": nil, "router_id": nil, "status": "DOWN"}
	}
	for k, v := range want {
		if f[k] != v {
			t.Fatalf("floating IP %s: %s = %v, want %v (%v)", str(f, "id"), k, f[k], v, f)
		}
	}
}

// fipPort returns the one port holding floating IP f's address.
func (e fipEnv) fipPort(f map[string]any) map[string]any {
	e.t.Helper()
	ports := map[string]map[string]any{}
	for _, x := range e.list("/v2.0/ports?device_owner=network:floatingip&device_id="+str(f, "id"), "ports") {
		ports[str(x.(map[string]any), "id")] = x.(map[string]any)
	}
	p := onlyPort(e.t, "floating IP port", ports)
	sub, ip := fixedIP(e.t, p)
	if p["network_id"] != f["floating_network_id"] || ip != f["floating_ip_address"] || p["binding:host_id"] != "" ||
		p["device_owner"] != model.OwnerFloatingIP || p["project_id"] != f["project_id"] || sub == "" {
		e.t.Fatalf("floating IP port %v of %v", p, f)
	}
	return p
}

func TestFloatingIPCreateAssociateDelete(t *testing.T) {
	e := newFIPEnv(t)

	// An address from the pool, unassociated.
	before := e.b.count()
	a := e.fip(`{"floating_network_id": "` + e.pub + `", "description": "web"}`)
	aid := str(a, "id")
	if e.b.count() != before+1 {
		t.Error("creating a floating IP did not reconcile this node")
	}
	addr := netip.MustParseAddr(str(a, "floating_ip_address"))
	if addr.Compare(netip.MustParseAddr("192.0.2.100")) < 0 || addr.Compare(netip.MustParseAddr("192.0.2.200")) > 0 ||
		len(aid) != 36 || a["floating_network_id"] != e.pub || a["project_id"] != model.AdminProject || a["tenant_id"] != model.AdminProject ||
		a["revision_number"] != 1.0 || fmt.Sprint(a["tags"]) != "[]" || a["description"] != "web" || !strings.HasSuffix(str(a, "created_at"), "Z") {
		t.Fatalf("created floating IP %v", a)
	}
	checkAssoc(t, a, "", "", "")
	pa := e.fipPort(a)

	// A requested address, associated in the same request.
	b := e.fip(`{"floating_network_id": "` + e.pub + `", "floating_ip_address": "192.0.2.150", "port_id": "` + e.vm + `", "project_id": "p1"}`)
	bid := str(b, "id")
	if b["floating_ip_address"] != "192.0.2.150" || b["project_id"] != "p1" {
		t.Fatalf("created floating IP %v", b)
	}
	checkAssoc(t, b, e.vm, "10.0.0.10", e.router)
	e.fipPort(b)
	// An address from a named subnet, outside the pool.
	c := e.fip(`{"floating_network_id": "` + e.pub + `", "subnet_id": "` + e.pubSub + `", "floating_ip_address": "192.0.2.20"}`)
	if c["floating_ip_address"] != "192.0.2.20" {
		t.Fatalf("created floating IP %v", c)
	}
	if _, ok := c["subnet_id"]; ok {
		t.Error("subnet_id shown on the floating IP")
	}

	// Show, list and its filters.
	if sh := e.must(200, "GET", "/v2.0/floatingips/"+bid, "", "floatingip"); fmt.Sprint(sh) != fmt.Sprint(b) {
		t.Fatalf("show %v, create answered %v", sh, b)
	}
	if sh := e.must(200, "GET", "/v2.0/floatingips/"+bid+"?fields=status&fields=router_id", "", "floatingip"); len(sh) != 2 || sh["status"] != "ACTIVE" {
		t.Fatalf("show fields %v", sh)
	}
	ids := func(q string) []string {
		t.Helper()
		var out []string
		for _, x := range e.list("/v2.0/floatingips?"+q, "floatingips") {
			out = append(out, str(x.(map[string]any), "id"))
		}
		slices.Sort(out)
		return out
	}
	all := []string{aid, bid, str(c, "id")}
	slices.Sort(all)
	for q, want := range map[string][]string{
		"":                                          all,
		"floating_ip_address=192.0.2.150":           {bid},
		"port_id=" + e.vm:                           {bid},
		"router_id=" + e.router:                     {bid},
		"fixed_ip_address=10.0.0.10":                {bid},
		"status=ACTIVE":                             {bid},
		"status=DOWN&description=web":               {aid},
		"floating_network_id=" + e.pub:              all,
		"floating_network_id=" + e.pub2:             nil,
		"floating_ip_address=192.0.2.150&fields=id": {bid},
	} {
		if got := ids(q); !slices.Equal(got, want) {
			t.Errorf("?%s: %v, want %v", q, got, want)
		}
	}
	if l := e.list("/v2.0/floatingips?port_id="+e.vm+"&fields=floating_ip_address", "floatingips"); len(l) != 1 || len(l[0].(map[string]any)) != 1 {
		t.Errorf("fields= %v", l)
	}

	// Associate a with vm3, naming the fixed IP; a description change
	// keeps the association.
	before = e.b.count()
	a = e.setFIP(aid, `{"port_id": "`+e.vm3+`", "fixed_ip_address": "10.0.2.10"}`)
	checkAssoc(t, a, e.vm3, "10.0.2.10", e.router)
	if a["revision_number"] != 2.0 || e.b.count() != before+1 {
		t.Fatalf("associated %v (reconciles %d -> %d)", a, before, e.b.count())
	}
	a = e.setFIP(aid, `{"description": "moved"}`)
	checkAssoc(t, a, e.vm3, "10.0.2.10", e.router)
	if a["description"] != "moved" || a["revision_number"] != 3.0 {
		t.Fatalf("description update %v", a)
	}
	// Re-associating with what it has already is no conflict with itself.
	a = e.setFIP(aid, `{"port_id": "`+e.vm3+`"}`)
	checkAssoc(t, a, e.vm3, "10.0.2.10", e.router)
	// Disassociate b, then move a to vm directly, as `floating ip set
	// --port` does on an associated floating IP.
	b = e.setFIP(bid, `{"port_id": null}`)
	checkAssoc(t, b, "", "", "")
	a = e.setFIP(aid, `{"port_id": "`+e.vm+`"}`)
	checkAssoc(t, a, e.vm, "10.0.0.10", e.router)

	// Tags through the sub-resource, and the tag filters.
	e.must(200, "PUT", "/v2.0/floatingips/"+aid+"/tags", `{"tags": ["blue", "red"]}`, "")
	if code, _ := e.call("PUT", "/v2.0/floatingips/"+bid+"/tags/blue", ""); code != 201 {
		t.Fatalf("add tag: %d", code)
	}
	if got := ids("tags=blue,red"); !slices.Equal(got, []string{aid}) {
		t.Errorf("tags=blue,red: %v", got)
	}
	if got := ids("tags-any=blue"); len(got) != 2 {
		t.Errorf("tags-any=blue: %v", got)
	}
	if code, _ := e.call("GET", "/v2.0/floatingips/nope/tags", ""); code != 404 {
		t.Errorf("tags of an unknown floating IP: %d", code)
	}
	if sh := e.must(200, "GET", "/v2.0/floatingips/"+aid, "", "floatingip"); fmt.Sprint(sh["tags"]) != "[blue red]" {
		t.Errorf("tags %v", sh["tags"])
	}
	b = e.setFIP(bid, `{"tags": ["green"]}`)
	if fmt.Sprint(b["tags"]) != "[green]" {
		t.Errorf("tags by update %v", b["tags"])
	}

	// Delete takes the port holding the address; the address is free.
	before = e.b.count()
	e.must(204, "DELETE", "/v2.0/floatingips/"+aid, "", "")
	if e.b.count() != before+1 {
		t.Error("deleting a floating IP did not reconcile this node")
	}
	e.must(404, "GET", "/v2.0/ports/"+str(pa, "id"), "", "")
	code, out := e.call("GET", "/v2.0/floatingips/"+aid, "")
	if ne, _ := out["NeutronError"].(map[string]any); code != 404 || ne["type"] != "FloatingIPNotFound" || ne["message"] != "Floating IP "+aid+" could not be found" {
		t.Fatalf("after delete: %d %v", code, out)
	}
	again := e.fip(`{"floating_network_id": "` + e.pub + `", "floating_ip_address": "` + addr.String() + `", "port_id": "` + e.vm + `"}`)
	checkAssoc(t, again, e.vm, "10.0.0.10", e.router)
	if l := e.list("/v2.0/ports?device_owner=network:floatingip", "ports"); len(l) != 3 {
		t.Fatalf("%d floating IP ports, want 3", len(l))
	}
}

// Deleting a VM's port disassociates its floating IP, as Neutron does;
// the floating IP and its address stay, and the router's interface and
// gateway are free to go.
func TestFloatingIPPortDeleteDisassociates(t *testing.T) {
	e := newFIPEnv(t)
	f := e.fip(`{"floating_network_id": "` + e.pub + `", "port_id": "` + e.vm + `"}`)
	id := str(f, "id")
	e.must(204, "DELETE", "/v2.0/ports/"+e.vm, "", "")
	g := e.must(200, "GET", "/v2.0/floatingips/"+id, "", "floatingip")
	checkAssoc(t, g, "", "", "")
	if g["revision_number"] != 2.0 || g["floating_ip_address"] != f["floating_ip_address"] {
		t.Fatalf("after port delete %v", g)
	}
	e.fipPort(g)
	// Nothing holds the router any more.
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub+`"}`)
	e.setGateway(e.router, `null`)
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub3+`"}`)
	e.must(204, "DELETE", "/v2.0/routers/"+e.router, "", "")
	// A port without floating IP is deleted as before.
	e.must(204, "DELETE", "/v2.0/ports/"+e.vm3, "", "")
	if g := e.must(200, "GET", "/v2.0/floatingips/"+id, "", "floatingip"); g["revision_number"] != 2.0 {
		t.Fatalf("unrelated port delete touched the floating IP: %v", g)
	}
}

// What a floating IP needs may change as long as it stays: the router's
// SNAT, its gateway address, the other interface.
func TestFloatingIPAllowsUnrelatedRouterChanges(t *testing.T) {
	e := newFIPEnv(t)
	e.fip(`{"floating_network_id": "` + e.pub + `", "port_id": "` + e.vm + `"}`)
	e.setGateway(e.router, `{"network_id": "`+e.pub+`", "enable_snat": false}`)
	e.setGateway(e.router, `{"network_id": "`+e.pub+`", "external_fixed_ips": [{"ip_address": "192.0.2.199"}]}`)
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub3+`"}`)
	e.must(200, "PUT", "/v2.0/routers/"+e.router, `{"router": {"name": "renamed", "admin_state_up": false}}`, "router")
	// A floating IP of another external network, unassociated, holds nothing.
	e.fip(`{"floating_network_id": "` + e.pub2 + `"}`)
}

// Every floating IP refusal answers Neutron's error and leaves the store
// as it was: b (192.0.2.150) is on vm through the router, a is
// unassociated.
func TestFloatingIPRefusalsChangeNothing(t *testing.T) {
	e := newFIPEnv(t)
	b := e.fip(`{"floating_network_id": "` + e.pub + `", "floating_ip_address": "192.0.2.150", "port_id": "` + e.vm + `"}`)
	bid := str(b, "id")
	a := e.fip(`{"floating_network_id": "` + e.pub + `"}`)
	aid := str(a, "id")
	bPort := str(e.fipPort(b), "id")
	rif := onlyPort(t, "interface", e.routerPorts(e.router, model.OwnerRouterDVR+"&fixed_ips=subnet_id%3D"+e.sub))
	bare := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "bare", "router:external": true}}`, "network"), "id")
	noIPs := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "fixed_ips": []}}`, "port"), "id")
	// r2 routes n4 but has no gateway.
	n4 := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n4"}}`, "network"), "id")
	s4 := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+n4+`", "cidr": "10.0.4.0/24"}}`, "subnet"), "id")
	r2 := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r2", "distributed": true}}`, "router"), "id")
	e.iface("add", r2, `{"subnet_id": "`+s4+`"}`)
	vm4 := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+n4+`", "binding:host_id": "node2"}}`, "port"), "id")

	create := func(body string) string {
		return `{"floatingip": {"floating_network_id": "` + e.pub + `"` + body + `}}`
	}
	put := "/v2.0/floatingips/" + aid
	set := func(body string) string { return `{"floatingip": ` + body + `}` }
	unreachable := func(ext, sub, port string) string {
		return "External network " + ext + " is not reachable from subnet " + sub + ".  Therefore, cannot associate Port " + port + " with a Floating IP."
	}
	taken := "Cannot associate floating IP 192.0.2.150 (" + bid + ") with port " + e.vm + " using fixed IP 10.0.0.10, as that fixed IP already has a floating IP on external network " + e.pub + "."
	cases := []struct {
		name, method, path, body string
		code                     int
		typ, msg                 string
	}{
		{"create: no network", "POST", "/v2.0/floatingips", `{"floatingip": {}}`, 400, "HTTPBadRequest", "Required attribute 'floating_network_id' not specified"},
		{"create: unknown network", "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "nope"}}`, 404, "NetworkNotFound", "Network nope could not be found."},
		{"create: not external", "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "` + e.net + `"}}`, 400, "BadRequest",
			"Bad floatingip request: Network " + e.net + " is not a valid external network"},
		{"create: no subnet", "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "` + bare + `"}}`, 400, "BadRequest",
			"Bad floatingip request: Network " + bare + " does not contain any IPv4 subnet"},
		{"create: unknown attribute", "POST", "/v2.0/floatingips", create(`, "colour": "red"`), 400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'"},
		{"create: read-only status", "POST", "/v2.0/floatingips", create(`, "status": "ACTIVE"`), 400, "HTTPBadRequest", "not allowed in POST"},
		{"create: address outside", "POST", "/v2.0/floatingips", create(`, "floating_ip_address": "10.7.0.5"`), 400, "InvalidIpForNetwork",
			"IP address 10.7.0.5 is not a valid IP for any of the subnets on the specified network."},
		{"create: address outside the subnet", "POST", "/v2.0/floatingips", create(`, "subnet_id": "` + e.pubSub + `", "floating_ip_address": "198.51.100.5"`), 400,
			"InvalidIpForSubnet", "IP address 198.51.100.5 is not a valid IP for the specified subnet."},
		{"create: subnet of another network", "POST", "/v2.0/floatingips", create(`, "subnet_id": "` + e.pub2Sub + `"`), 400, "InvalidInput", "not a subnet of network " + e.pub},
		{"create: address taken by a floating IP", "POST", "/v2.0/floatingips", create(`, "floating_ip_address": "192.0.2.150"`), 409, "IpAddressAlreadyAllocated",
			"IP address 192.0.2.150 already allocated in subnet " + e.pubSub + " (port " + bPort + ")"},
		{"create: address is the subnet gateway", "POST", "/v2.0/floatingips", create(`, "floating_ip_address": "192.0.2.1"`), 400, "InvalidInput", "is the gateway of subnet"},
		{"create: bad address", "POST", "/v2.0/floatingips", create(`, "floating_ip_address": "x"`), 400, "InvalidInput", "'x' is not a valid IPv4 address"},
		{"create: fixed IP without port", "POST", "/v2.0/floatingips", create(`, "fixed_ip_address": "10.0.0.10"`), 400, "BadRequest",
			"Bad floatingip request: fixed_ip_address cannot be specified without a port_id"},
		{"create: unknown port", "POST", "/v2.0/floatingips", create(`, "port_id": "nope"`), 404, "PortNotFound", "Port nope could not be found."},
		{"create: network's own port", "POST", "/v2.0/floatingips", create(`, "port_id": "` + str(rif, "id") + `"`), 400, "BadRequest",
			"Bad floatingip request: Port " + str(rif, "id") + " is unable to be assigned a floating IP"},
		{"create: port without address", "POST", "/v2.0/floatingips", create(`, "port_id": "` + noIPs + `"`), 400, "BadRequest",
			"Bad floatingip request: Cannot add floating IP to port " + noIPs + " that has no fixed IPv4 addresses"},
		{"create: fixed IP not the port's", "POST", "/v2.0/floatingips", create(`, "port_id": "` + e.vm3 + `", "fixed_ip_address": "10.0.2.11"`), 400, "BadRequest",
			"Bad floatingip request: Port " + e.vm3 + " does not have fixed ip 10.0.2.11"},
		{"create: fixed IP not an address", "POST", "/v2.0/floatingips", create(`, "port_id": "` + e.vm3 + `", "fixed_ip_address": "x"`), 400, "InvalidInput",
			"Invalid input for fixed_ip_address. Reason: 'x' is not a valid IP address."},
		{"create: subnet no router routes", "POST", "/v2.0/floatingips", create(`, "port_id": "` + e.stray + `"`), 404, "ExternalGatewayForFloatingIPNotFound",
			unreachable(e.pub, e.sub2, e.stray)},
		{"create: router without a gateway", "POST", "/v2.0/floatingips", create(`, "port_id": "` + vm4 + `"`), 404, "ExternalGatewayForFloatingIPNotFound",
			unreachable(e.pub, s4, vm4)},
		{"create: router's gateway on another network", "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "` + e.pub2 + `", "port_id": "` + e.vm3 + `"}}`, 404,
			"ExternalGatewayForFloatingIPNotFound", unreachable(e.pub2, e.sub3, e.vm3)},
		{"create: fixed IP has one already", "POST", "/v2.0/floatingips", create(`, "port_id": "` + e.vm + `"`), 409, "FloatingIPPortAlreadyAssociated", taken},

		{"update: unknown", "PUT", "/v2.0/floatingips/nope", set(`{"port_id": null}`), 404, "FloatingIPNotFound", "Floating IP nope could not be found"},
		{"update: address", "PUT", put, set(`{"floating_ip_address": "192.0.2.160"}`), 400, "HTTPBadRequest", "Cannot update read-only attribute floating_ip_address"},
		{"update: network", "PUT", put, set(`{"floating_network_id": "` + e.pub2 + `"}`), 400, "HTTPBadRequest", "Cannot update read-only attribute floating_network_id"},
		{"update: subnet", "PUT", put, set(`{"subnet_id": "` + e.pubSub + `"}`), 400, "HTTPBadRequest", "Cannot update read-only attribute subnet_id"},
		{"update: fixed IP without port", "PUT", put, set(`{"fixed_ip_address": "10.0.0.10"}`), 400, "BadRequest", "fixed_ip_address cannot be specified without a port_id"},
		{"update: null port with fixed IP", "PUT", "/v2.0/floatingips/" + bid, set(`{"port_id": null, "fixed_ip_address": "10.0.0.10"}`), 400, "BadRequest",
			"fixed_ip_address cannot be specified without a port_id"},
		{"update: fixed IP has one already", "PUT", put, set(`{"port_id": "` + e.vm + `"}`), 409, "FloatingIPPortAlreadyAssociated", taken},
		{"update: unknown port", "PUT", put, set(`{"port_id": "nope"}`), 404, "PortNotFound", ""},
		{"update: subnet no router routes", "PUT", put, set(`{"port_id": "` + e.stray + `"}`), 404, "ExternalGatewayForFloatingIPNotFound", unreachable(e.pub, e.sub2, e.stray)},
		{"update: other fixed IP of the port", "PUT", "/v2.0/floatingips/" + bid, set(`{"fixed_ip_address": "10.0.0.11"}`), 400, "BadRequest", "does not have fixed ip 10.0.0.11"},
		{"update: bad tag", "PUT", put, set(`{"tags": ["a,b"]}`), 400, "InvalidInput", "not a valid tag"},
		{"delete: unknown", "DELETE", "/v2.0/floatingips/nope", ``, 404, "FloatingIPNotFound", ""},

		{"delete the floating IP's port", "DELETE", "/v2.0/ports/" + bPort, ``, 409, "L3PortInUse",
			"Port " + bPort + " has owner network:floatingip and therefore cannot be deleted directly via the port API."},
		{"remove the interface by subnet", "PUT", "/v2.0/routers/" + e.router + "/remove_router_interface", `{"subnet_id": "` + e.sub + `"}`, 409,
			"RouterInterfaceInUseByFloatingIP", "Router interface for subnet " + e.sub + " on router " + e.router + " cannot be deleted, as it is required by one or more floating IPs."},
		{"remove the interface by port", "PUT", "/v2.0/routers/" + e.router + "/remove_router_interface", `{"port_id": "` + str(rif, "id") + `"}`, 409,
			"RouterInterfaceInUseByFloatingIP", "Router interface for subnet " + e.sub},
		{"clear the gateway", "PUT", "/v2.0/routers/" + e.router, `{"router": {"external_gateway_info": {}}}`, 409, "RouterExternalGatewayInUseByFloatingIp",
			"Gateway cannot be updated for router " + e.router + ", since a gateway to external network " + e.pub + " is required by one or more floating IPs."},
		{"clear the gateway with null", "PUT", "/v2.0/routers/" + e.router, `{"router": {"external_gateway_info": null}}`, 409, "RouterExternalGatewayInUseByFloatingIp", ""},
		{"move the gateway", "PUT", "/v2.0/routers/" + e.router, `{"router": {"external_gateway_info": {"network_id": "` + e.pub2 + `"}}}`, 409,
			"RouterExternalGatewayInUseByFloatingIp", ""},
		{"delete the router", "DELETE", "/v2.0/routers/" + e.router, ``, 409, "RouterInUse",
			"Router " + e.router + " still has floating IPs associated (192.0.2.150)"},
		{"delete the external subnet", "DELETE", "/v2.0/subnets/" + e.pubSub, ``, 409, "SubnetInUse", ""},
		{"delete the external network", "DELETE", "/v2.0/networks/" + e.pub, ``, 409, "NetworkInUse", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump()
			code, out := e.call(c.method, c.path, c.body)
			if code != c.code {
				t.Fatalf("status %d, want %d: %v", code, c.code, out)
			}
			ne, ok := out["NeutronError"].(map[string]any)
			if !ok || str(ne, "message") == "" {
				t.Fatalf("no NeutronError body: %v", out)
			}
			if ne["type"] != c.typ || !strings.Contains(str(ne, "message"), c.msg) {
				t.Errorf("%v: %v, want %s: ...%s...", ne["type"], ne["message"], c.typ, c.msg)
			}
			if after := e.dump(); after != before {
				t.Errorf("store changed by a refused request")
			}
		})
	}

	// Once disassociated, the router may lose its interface and gateway.
	e.setFIP(bid, `{"port_id": null}`)
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub+`"}`)
	e.setGateway(e.router, `{}`)
	// The floating IP's port is deletable once the floating IP is gone
	// (deleted on another node meanwhile, say).
	if _, err := e.st.Delete(model.KindFloatingIP, bid); err != nil {
		t.Fatal(err)
	}
	e.must(204, "DELETE", "/v2.0/ports/"+bPort, "", "")
}
