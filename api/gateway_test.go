package api

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/model"
)

// gatewayEnv is a routerEnv whose router routes sub (on net) and sub3 (on
// net2), with two external networks: pub (192.0.2.0/24, pool .100-.200)
// and pub2 (198.51.100.0/24).
type gatewayEnv struct {
	routerEnv
	pub, pubSub, pub2, pub2Sub string
}

func newGatewayEnv(t *testing.T) gatewayEnv {
	e := gatewayEnv{routerEnv: newRouterEnv(t)}
	e.pub = str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "pub", "router:external": "True", "provider:network_type": "flat",
		"provider:physical_network": "public"}}`, "network"), "id")
	e.pubSub = str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.pub+`", "cidr": "192.0.2.0/24",
		"allocation_pools": [{"start": "192.0.2.100", "end": "192.0.2.200"}], "enable_dhcp": false}}`, "subnet"), "id")
	e.pub2 = str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "pub2", "router:external": true}}`, "network"), "id")
	e.pub2Sub = str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.pub2+`", "cidr": "198.51.100.0/24"}}`, "subnet"), "id")
	e.iface("add", e.router, `{"subnet_id": "`+e.sub+`"}`)
	e.iface("add", e.router, `{"subnet_id": "`+e.sub3+`"}`)
	return e
}

// setGateway PUTs external_gateway_info (raw JSON) on router and returns
// the router answered.
func (e gatewayEnv) setGateway(router, info string) map[string]any {
	e.t.Helper()
	return e.must(200, "PUT", "/v2.0/routers/"+router, `{"router": {"external_gateway_info": `+info+`}}`, "router")
}

// routerPorts returns router's ports with device_owner owner, by ID.
func (e gatewayEnv) routerPorts(router, owner string) map[string]map[string]any {
	e.t.Helper()
	out := map[string]map[string]any{}
	for _, x := range e.list("/v2.0/ports?device_id="+router+"&device_owner="+owner, "ports") {
		p := x.(map[string]any)
		out[str(p, "id")] = p
	}
	return out
}

// onlyPort insists there is exactly one of ports and returns it.
func onlyPort(t *testing.T, what string, ports map[string]map[string]any) map[string]any {
	t.Helper()
	if len(ports) != 1 {
		t.Fatalf("%s: %d ports, want 1: %v", what, len(ports), ports)
	}
	for _, p := range ports {
		return p
	}
	return nil
}

// fixedIP returns the one fixed IP of port p.
func fixedIP(t *testing.T, p map[string]any) (subnet, ip string) {
	t.Helper()
	f, _ := p["fixed_ips"].([]any)
	if len(f) != 1 {
		t.Fatalf("port %s has fixed_ips %v, want one", str(p, "id"), p["fixed_ips"])
	}
	m := f[0].(map[string]any)
	return str(m, "subnet_id"), str(m, "ip_address")
}

// checkGatewayPort checks the gateway port of router: on network, with
// the address rt shows, owned and bound as Neutron's DVR gateway is
// before an agent takes it.
func (e gatewayEnv) checkGatewayPort(rt map[string]any, network, subnet string) map[string]any {
	e.t.Helper()
	gw := onlyPort(e.t, "gateway", e.routerPorts(str(rt, "id"), model.OwnerRouterGateway))
	sub, ip := fixedIP(e.t, gw)
	info, _ := rt["external_gateway_info"].(map[string]any)
	want := fmt.Sprintf("[map[ip_address:%s subnet_id:%s]]", ip, subnet)
	if info == nil || info["network_id"] != network || fmt.Sprint(info["external_fixed_ips"]) != want {
		e.t.Fatalf("external_gateway_info %v, want network %s and %s", rt["external_gateway_info"], network, want)
	}
	if gw["network_id"] != network || sub != subnet || gw["binding:host_id"] != "" || gw["name"] != "" ||
		gw["device_owner"] != model.OwnerRouterGateway || gw["project_id"] != rt["project_id"] || gw["status"] != "ACTIVE" ||
		gw["admin_state_up"] != true || gw["binding:vif_type"] != "tap" {
		e.t.Fatalf("gateway port %v", gw)
	}
	return gw
}

// checkSNATPorts checks that router has one SNAT port on each of subnets
// (subnet -> its network), never on the gateway IP, and returns them by
// subnet.
func (e gatewayEnv) checkSNATPorts(router string, subnets map[string]string) map[string]map[string]any {
	e.t.Helper()
	ports := e.routerPorts(router, model.OwnerRouterSNAT)
	if len(ports) != len(subnets) {
		e.t.Fatalf("%d SNAT ports, want %d: %v", len(ports), len(subnets), ports)
	}
	out := map[string]map[string]any{}
	for _, p := range ports {
		sub, ip := fixedIP(e.t, p)
		net, ok := subnets[sub]
		s := e.must(200, "GET", "/v2.0/subnets/"+sub, "", "subnet")
		if !ok || out[sub] != nil || p["network_id"] != net || ip == s["gateway_ip"] ||
			!netip.MustParsePrefix(str(s, "cidr")).Contains(netip.MustParseAddr(ip)) ||
			p["binding:host_id"] != "" || p["status"] != "ACTIVE" || p["device_id"] != router || p["admin_state_up"] != true {
			e.t.Fatalf("SNAT port %v (subnet %v)", p, s)
		}
		out[sub] = p
	}
	return out
}

func TestRouterGatewaySetReplaceClear(t *testing.T) {
	e := newGatewayEnv(t)
	routed := map[string]string{e.sub: e.net, e.sub3: e.net2}
	before := e.b.count()
	rt := e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	if e.b.count() != before+1 {
		t.Error("setting a gateway did not reconcile this node")
	}
	if info := rt["external_gateway_info"].(map[string]any); info["enable_snat"] != true {
		t.Fatalf("enable_snat must default to true: %v", info)
	}
	gw := e.checkGatewayPort(rt, e.pub, e.pubSub)
	if _, ip := fixedIP(t, gw); !strings.HasPrefix(ip, "192.0.2.1") {
		t.Fatalf("gateway address %s outside the pool", ip)
	}
	snat := e.checkSNATPorts(e.router, routed)
	if l := e.list("/v2.0/ports?device_owner=network:router_gateway", "ports"); len(l) != 1 {
		t.Fatalf("device_owner filter %v", l)
	}
	if sh := e.must(200, "GET", "/v2.0/routers/"+e.router, "", "router"); fmt.Sprint(sh["external_gateway_info"]) != fmt.Sprint(rt["external_gateway_info"]) {
		t.Fatalf("show %v, update answered %v", sh["external_gateway_info"], rt["external_gateway_info"])
	}

	// Sending back what the router shows (with a rename) changes no port.
	ports := e.dumpKind(model.KindPort)
	info := rt["external_gateway_info"].(map[string]any)
	e.must(200, "PUT", "/v2.0/routers/"+e.router, `{"router": {"name": "r-renamed", "external_gateway_info": `+jsonOf(t, info)+`}}`, "router")
	e.must(200, "PUT", "/v2.0/routers/"+e.router, `{"router": {"external_gateway_info": {"network_id": "`+e.pub+`",
		"external_fixed_ips": [{"subnet_id": "`+e.pubSub+`"}]}}}`, "router")
	if e.dumpKind(model.KindPort) != ports {
		t.Fatal("setting the same gateway again changed ports")
	}

	// Another address on the same network: the same port, re-addressed.
	rt = e.setGateway(e.router, `{"network_id": "`+e.pub+`", "external_fixed_ips": [{"ip_address": "192.0.2.150"}]}`)
	gw2 := e.checkGatewayPort(rt, e.pub, e.pubSub)
	if _, ip := fixedIP(t, gw2); ip != "192.0.2.150" || gw2["id"] != gw["id"] || gw2["revision_number"] != 2.0 {
		t.Fatalf("re-addressed gateway port %v (was %v)", gw2, gw)
	}

	// SNAT off and on again: the SNAT ports go and come back.
	rt = e.setGateway(e.router, `{"network_id": "`+e.pub+`", "enable_snat": "False"}`)
	if info := rt["external_gateway_info"].(map[string]any); info["enable_snat"] != false {
		t.Fatalf("enable_snat %v", info)
	}
	e.checkGatewayPort(rt, e.pub, e.pubSub)
	e.checkSNATPorts(e.router, nil)
	rt = e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	if info := rt["external_gateway_info"].(map[string]any); info["enable_snat"] != true {
		t.Fatalf("enable_snat %v", info)
	}
	snat = e.checkSNATPorts(e.router, routed)

	// Another external network: a new gateway port there, the SNAT ports stay.
	rt = e.setGateway(e.router, `{"network_id": "`+e.pub2+`", "enable_snat": true}`)
	gw3 := e.checkGatewayPort(rt, e.pub2, e.pub2Sub)
	e.must(404, "GET", "/v2.0/ports/"+str(gw2, "id"), "", "")
	if _, ip := fixedIP(t, gw3); !netip.MustParsePrefix("198.51.100.0/24").Contains(netip.MustParseAddr(ip)) {
		t.Fatalf("gateway on pub2 got %s", ip)
	}
	for sub, p := range e.checkSNATPorts(e.router, routed) {
		if p["id"] != snat[sub]["id"] {
			t.Errorf("SNAT port on %s replaced by a gateway change", sub)
		}
	}

	// {} clears: the gateway port and every SNAT port go; null as well.
	rt = e.setGateway(e.router, `{}`)
	if rt["external_gateway_info"] != nil {
		t.Fatalf("cleared gateway shows %v", rt["external_gateway_info"])
	}
	if n := len(e.routerPorts(e.router, model.OwnerRouterGateway)) + len(e.routerPorts(e.router, model.OwnerRouterSNAT)); n != 0 {
		t.Fatalf("%d gateway/SNAT ports left", n)
	}
	if l := e.list("/v2.0/ports?device_id="+e.router, "ports"); len(l) != 2 {
		t.Fatalf("interfaces must stay: %v", l)
	}
	e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	if rt = e.setGateway(e.router, `null`); rt["external_gateway_info"] != nil {
		t.Fatalf("null left %v", rt["external_gateway_info"])
	}
	if l := e.list("/v2.0/ports?device_id="+e.router, "ports"); len(l) != 2 {
		t.Fatalf("after null: %v", l)
	}
	// The external network is free again.
	e.must(200, "PUT", "/v2.0/networks/"+e.pub, `{"network": {"router:external": false}}`, "network")
}

// dumpKind is the store state of one kind, versions included.
func (e gatewayEnv) dumpKind(kind string) string {
	var b strings.Builder
	for _, r := range e.st.List(kind) {
		fmt.Fprintf(&b, "%s %v %s\n", r.ID, r.Ver, r.Data)
	}
	return b.String()
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRouterCreateWithGateway(t *testing.T) {
	e := newGatewayEnv(t)
	rt := e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r2", "distributed": true, "project_id": "p1",
		"external_gateway_info": {"network_id": "`+e.pub+`", "enable_snat": "false", "external_fixed_ips": [{"ip_address": "192.0.2.120"}]}}}`, "router")
	id := str(rt, "id")
	gw := e.checkGatewayPort(rt, e.pub, e.pubSub)
	if _, ip := fixedIP(t, gw); ip != "192.0.2.120" || gw["project_id"] != "p1" {
		t.Fatalf("gateway port %v", gw)
	}
	if info := rt["external_gateway_info"].(map[string]any); info["enable_snat"] != false {
		t.Fatalf("enable_snat %v", info)
	}
	// Without SNAT, an interface gets no SNAT port.
	n3 := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n3"}}`, "network"), "id")
	s3 := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+n3+`", "cidr": "10.0.5.0/24"}}`, "subnet"), "id")
	e.iface("add", id, `{"subnet_id": "`+s3+`"}`)
	e.checkSNATPorts(id, nil)
	// Turning SNAT on adds it.
	e.setGateway(id, `{"network_id": "`+e.pub+`", "enable_snat": "True"}`)
	e.checkSNATPorts(id, map[string]string{s3: n3})

	e.iface("remove", id, `{"subnet_id": "`+s3+`"}`)
	e.checkSNATPorts(id, nil)
	// The gateway goes with the router.
	e.must(204, "DELETE", "/v2.0/routers/"+id, "", "")
	e.must(404, "GET", "/v2.0/ports/"+str(gw, "id"), "", "")
	if l := e.list("/v2.0/ports?device_id="+id, "ports"); len(l) != 0 {
		t.Fatalf("ports of the deleted router: %v", l)
	}
	// A gateway of a router created without one.
	plain := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"distributed": true, "external_gateway_info": {}}}`, "router"), "id")
	if l := e.list("/v2.0/ports?device_id="+plain, "ports"); len(l) != 0 {
		t.Fatalf("router created with {} has ports: %v", l)
	}
}

func TestRouterInterfaceWithGateway(t *testing.T) {
	e := newGatewayEnv(t)
	e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	routed := map[string]string{e.sub: e.net, e.sub3: e.net2}
	e.checkSNATPorts(e.router, routed)

	// Removing an interface takes its SNAT port; adding it back, by
	// subnet or by port, brings one.
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub+`"}`)
	delete(routed, e.sub)
	e.checkSNATPorts(e.router, routed)
	e.iface("add", e.router, `{"subnet_id": "`+e.sub2+`"}`)
	routed[e.sub2] = e.net
	e.checkSNATPorts(e.router, routed)
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub3+`"}`)
	delete(routed, e.sub3)
	p := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "fixed_ips": [{"ip_address": "10.0.2.9"}]}}`, "port"), "id")
	e.iface("add", e.router, `{"port_id": "`+p+`"}`)
	routed[e.sub3] = e.net2
	snat := e.checkSNATPorts(e.router, routed)
	if _, ip := fixedIP(t, snat[e.sub3]); ip == "10.0.2.9" {
		t.Fatal("SNAT port took the interface's address")
	}
	e.iface("remove", e.router, `{"port_id": "`+p+`"}`)
	delete(routed, e.sub3)
	e.checkSNATPorts(e.router, routed)

	// Router delete still waits for the interfaces, then takes the gateway.
	e.must(409, "DELETE", "/v2.0/routers/"+e.router, "", "")
	e.iface("remove", e.router, `{"subnet_id": "`+e.sub2+`"}`)
	e.checkSNATPorts(e.router, nil)
	e.must(204, "DELETE", "/v2.0/routers/"+e.router, "", "")
	if l := e.list("/v2.0/ports?device_owner=network:router_gateway", "ports"); len(l) != 0 {
		t.Fatalf("gateway ports left: %v", l)
	}
	e.must(204, "DELETE", "/v2.0/subnets/"+e.pubSub, "", "")
}

// Every gateway refusal answers Neutron's error and leaves the store as it
// was: r1 has interfaces on sub and sub3 and a gateway on pub; r2 routes a
// full subnet and has no gateway.
func TestGatewayRefusalsChangeNothing(t *testing.T) {
	e := newGatewayEnv(t)
	e.setGateway(e.router, `{"network_id": "`+e.pub+`"}`)
	gw := onlyPort(t, "gateway", e.routerPorts(e.router, model.OwnerRouterGateway))
	_, gwIP := fixedIP(t, gw)
	snat := e.checkSNATPorts(e.router, map[string]string{e.sub: e.net, e.sub3: e.net2})
	taken := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.pub+`", "binding:host_id": "node2",
		"fixed_ips": [{"ip_address": "192.0.2.180"}]}}`, "port"), "id")
	bare := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "bare", "router:external": true}}`, "network"), "id")
	clash := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "clash", "router:external": true}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+clash+`", "cidr": "10.0.0.0/16"}}`, "subnet")
	full := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "full", "router:external": true}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+full+`", "cidr": "203.0.113.0/30", "enable_dhcp": false}}`, "subnet")
	e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+full+`", "binding:host_id": "node2"}}`, "port")
	pubSub2 := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.pub+`", "cidr": "192.0.3.0/24"}}`, "subnet"), "id")
	overlap := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "overlap"}}`, "network"), "id")
	overlapSub := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+overlap+`", "cidr": "192.0.2.0/25"}}`, "subnet"), "id")
	// A subnet with one free address, taken: its router's SNAT port cannot have one.
	tiny := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "tiny"}}`, "network"), "id")
	tinySub := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+tiny+`", "cidr": "10.0.9.0/30", "enable_dhcp": false}}`, "subnet"), "id")
	e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+tiny+`", "binding:host_id": "node2"}}`, "port")
	r2 := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r2", "distributed": true}}`, "router"), "id")
	e.iface("add", r2, `{"subnet_id": "`+tinySub+`"}`)
	// r3 has an interface on an external network.
	r3 := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r3", "distributed": true}}`, "router"), "id")
	e.iface("add", r3, `{"subnet_id": "`+e.pub2Sub+`"}`)

	put := "/v2.0/routers/" + e.router
	gwBody := func(info string) string { return `{"router": {"external_gateway_info": ` + info + `}}` }
	onPub := func(extra string) string { return gwBody(`{"network_id": "` + e.pub + `"` + extra + `}`) }
	cases := []struct {
		name, method, path, body string
		code                     int
		typ, msg                 string
	}{
		{"create: unknown network", "POST", "/v2.0/routers", `{"router": {"distributed": true, "external_gateway_info": {"network_id": "nope"}}}`, 404,
			"NetworkNotFound", "Network nope could not be found."},
		{"create: not external", "POST", "/v2.0/routers", `{"router": {"distributed": true, "external_gateway_info": {"network_id": "` + e.net + `"}}}`, 400,
			"BadRequest", "Bad router request: network " + e.net + " is not an external network"},
		{"create: address taken", "POST", "/v2.0/routers", `{"router": {"distributed": true, "external_gateway_info": {"network_id": "` + e.pub + `",
			"external_fixed_ips": [{"ip_address": "` + gwIP + `"}]}}}`, 409, "IpAddressAlreadyAllocated", gwIP},
		{"unknown network", "PUT", put, gwBody(`{"network_id": "nope"}`), 404, "NetworkNotFound", ""},
		{"not external", "PUT", put, gwBody(`{"network_id": "` + e.net2 + `"}`), 400, "BadRequest", "Bad router request: network " + e.net2 + " is not an external network"},
		{"no subnet", "PUT", put, gwBody(`{"network_id": "` + bare + `"}`), 400, "BadRequest",
			"Bad router request: network " + bare + " has no subnet: the router's gateway port needs an address on one"},
		{"overlaps an interface", "PUT", put, gwBody(`{"network_id": "` + clash + `"}`), 400, "BadRequest", "Bad router request: Cidr 10.0.0.0/16 of subnet "},
		{"exhausted", "PUT", put, gwBody(`{"network_id": "` + full + `"}`), 400, "ExternalIpAddressExhausted",
			"Unable to find any IP address on external network " + full + "."},
		{"an interface network", "PUT", "/v2.0/routers/" + r3, gwBody(`{"network_id": "` + e.pub2 + `"}`), 400, "BadRequest",
			"cannot also be the router's external gateway network"},
		{"address outside", "PUT", put, onPub(`, "external_fixed_ips": [{"ip_address": "10.7.0.5"}]`), 400, "InvalidIpForNetwork", "10.7.0.5"},
		{"address taken", "PUT", put, onPub(`, "external_fixed_ips": [{"ip_address": "192.0.2.180"}]`), 409, "IpAddressAlreadyAllocated", taken},
		{"address is the subnet gateway", "PUT", put, onPub(`, "external_fixed_ips": [{"ip_address": "192.0.2.1"}]`), 400, "InvalidInput", "gateway"},
		{"subnet of another network", "PUT", put, onPub(`, "external_fixed_ips": [{"subnet_id": "` + e.sub + `"}]`), 400, "InvalidInput", "not a subnet of network"},
		{"bad address", "PUT", put, onPub(`, "external_fixed_ips": [{"ip_address": "x"}]`), 400, "InvalidInput", "not a valid IPv4 address"},
		{"no network_id", "PUT", put, gwBody(`{"enable_snat": true}`), 400, "InvalidInput", "network_id is required"},
		{"fixed ips without network", "PUT", put, gwBody(`{"network_id": "", "external_fixed_ips": [{"ip_address": "192.0.2.9"}]}`), 400, "InvalidInput", "network_id is required"},
		{"unknown key", "PUT", put, onPub(`, "qos": 1`), 400, "InvalidInput", "unrecognized key(s) 'qos'"},
		{"bad enable_snat", "PUT", put, onPub(`, "enable_snat": "maybe"`), 400, "InvalidInput", "'maybe' is not a boolean"},
		{"enable_snat a number", "PUT", put, onPub(`, "enable_snat": 1`), 400, "InvalidInput", "enable_snat must be a boolean"},
		{"not an object", "PUT", put, gwBody(`"pub"`), 400, "InvalidInput", "it must be an object or null"},
		{"SNAT port finds no address", "PUT", "/v2.0/routers/" + r2, gwBody(`{"network_id": "` + e.pub + `"}`), 409, "IpAddressGenerationFailure", ""},

		{"interface on the gateway network", "PUT", put + "/add_router_interface", `{"subnet_id": "` + pubSub2 + `"}`, 400, "BadRequest",
			"is the external gateway network of router " + e.router},
		{"interface overlapping the gateway subnet", "PUT", put + "/add_router_interface", `{"subnet_id": "` + overlapSub + `"}`, 400, "BadRequest",
			"Cidr 192.0.2.0/25 of subnet " + overlapSub + " overlaps with cidr 192.0.2.0/24 of subnet " + e.pubSub},

		{"delete gateway port", "DELETE", "/v2.0/ports/" + str(gw, "id"), ``, 409, "L3PortInUse",
			"Port " + str(gw, "id") + " has owner network:router_gateway and therefore cannot be deleted directly via the port API."},
		{"delete SNAT port", "DELETE", "/v2.0/ports/" + str(snat[e.sub], "id"), ``, 409, "L3PortInUse", "has owner network:router_centralized_snat"},
		{"delete the gateway's subnet", "DELETE", "/v2.0/subnets/" + e.pubSub, ``, 409, "SubnetInUse", "One or more ports have an IP allocation"},
		{"delete the gateway's network", "DELETE", "/v2.0/networks/" + e.pub, ``, 409, "NetworkInUse", ""},
		{"make the gateway's network internal", "PUT", "/v2.0/networks/" + e.pub, `{"network": {"router:external": false}}`, 409, "ExternalNetworkInUse",
			"External network " + e.pub + " cannot be updated to be made non-external, since it has existing gateway ports."},
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

	// A router whose interface subnet is full cannot add it with SNAT, and
	// the refused add leaves nothing behind either.
	r4 := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r4", "distributed": true,
		"external_gateway_info": {"network_id": "`+e.pub2+`"}}}`, "router"), "id")
	e.must(200, "PUT", "/v2.0/routers/"+r2+"/remove_router_interface", `{"subnet_id": "`+tinySub+`"}`, "")
	before := e.dump()
	code, out := e.call("PUT", "/v2.0/routers/"+r4+"/add_router_interface", `{"subnet_id": "`+tinySub+`"}`)
	if ne, _ := out["NeutronError"].(map[string]any); code != 409 || ne["type"] != "IpAddressGenerationFailure" {
		t.Fatalf("interface with no address for its SNAT port: %d %v", code, out)
	}
	if e.dump() != before {
		t.Error("store changed by a refused interface")
	}
	// Without SNAT it is fine.
	e.setGateway(r4, `{"network_id": "`+e.pub2+`", "enable_snat": false}`)
	e.iface("add", r4, `{"subnet_id": "`+tinySub+`"}`)
	if l := e.list("/v2.0/ports?device_id="+r4, "ports"); len(l) != 2 ||
		!slices.ContainsFunc(l, func(x any) bool { return x.(map[string]any)["device_owner"] == model.OwnerRouterGateway }) {
		t.Fatalf("ports of r4 %v", l)
	}
}

// A router's leftover ports may go through the port API once the router
// is gone, as in Neutron.
func TestOrphanRouterPortDeletable(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "device_id": "gone", "device_owner": "network:router_centralized_snat"}}`, "port")
	if p["binding:host_id"] != "" {
		t.Fatalf("network-owned port bound to %v", p["binding:host_id"])
	}
	e.must(204, "DELETE", "/v2.0/ports/"+str(p, "id"), "", "")
}
