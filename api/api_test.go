package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

type fakeBackend struct {
	mu         sync.Mutex
	reconciles int
	status     map[string][2]string
}

func (f *fakeBackend) Node() string       { return "node1" }
func (f *fakeBackend) Physnets() []string { return []string{"public"} }
func (f *fakeBackend) UnderlayMTU() int   { return 1500 }
func (f *fakeBackend) Agents() []model.Agent {
	return []model.Agent{
		model.NewAgent(model.AgentInfo{Node: "node2", LocalIP: "192.0.2.2", Roles: []string{"compute"}, Alive: false}),
		model.NewAgent(model.AgentInfo{Node: "node1", LocalIP: "192.0.2.1", Roles: []string{"network"}, Alive: true}),
	}
}
func (f *fakeBackend) Status(kind, id string) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.status[kind+"/"+id]
	return s[0], s[1]
}
func (f *fakeBackend) RouterHost(id string) string { return "node1" }
func (f *fakeBackend) Reconcile(context.Context) error {
	f.mu.Lock()
	f.reconciles++
	f.mu.Unlock()
	return nil
}
func (f *fakeBackend) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reconciles
}

type env struct {
	t  *testing.T
	st *store.Store
	b  *fakeBackend
	h  http.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(t.TempDir(), "node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := &fakeBackend{status: map[string][2]string{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &env{t: t, st: st, b: b, h: NewServer(st, b, log).Handler()}
}

// call sends a request and decodes the JSON answer (nil for 204).
func (e *env) call(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %q", method, path, rec.Body.String())
		}
	}
	return rec.Code, out
}

// must calls and insists on status want, returning the object under key.
func (e *env) must(want int, method, path, body, key string) map[string]any {
	e.t.Helper()
	code, out := e.call(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s %s: status %d, want %d: %v", method, path, body, code, want, out)
	}
	if key == "" {
		return out
	}
	m, ok := out[key].(map[string]any)
	if !ok {
		e.t.Fatalf("%s %s: no %q object in %v", method, path, key, out)
	}
	return m
}

func (e *env) list(path, key string) []any {
	e.t.Helper()
	out := e.must(200, "GET", path, "", "")
	l, ok := out[key].([]any)
	if !ok {
		e.t.Fatalf("GET %s: no %q list in %v", path, key, out)
	}
	return l
}

// dump is the whole store state, versions included: any write changes it.
func (e *env) dump() string {
	var b strings.Builder
	for _, k := range []string{model.KindNetwork, model.KindSubnet, model.KindPort, model.KindRouter, model.KindFloatingIP,
		model.KindSecurityGroup, model.KindSecurityGroupRule} {
		for _, r := range e.st.List(k) {
			j, _ := json.Marshal(r)
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestNetworkCRUD(t *testing.T) {
	e := newEnv(t)
	n := e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "pub", "provider:network_type": "vlan",
		"provider:physical_network": "public", "provider:segmentation_id": "100", "availability_zone_hints": []}}`, "network")
	id := str(n, "id")
	if len(id) != 36 || n["provider:segmentation_id"] != 100.0 || n["mtu"] != 1500.0 || n["status"] != "ACTIVE" ||
		n["project_id"] != model.AdminProject || n["tenant_id"] != model.AdminProject || n["revision_number"] != 1.0 ||
		n["admin_state_up"] != true || !strings.HasSuffix(str(n, "created_at"), "Z") {
		t.Fatalf("created network %v", n)
	}
	if _, ok := n["availability_zone_hints"]; ok {
		t.Error("ignored attribute echoed back")
	}
	x := e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "tun", "project_id": "p1"}}`, "network")
	if x["provider:network_type"] != "vxlan" || x["mtu"] != 1450.0 || x["tenant_id"] != "p1" || x["provider:physical_network"] != nil {
		t.Fatalf("default network %v", x)
	}
	if l := e.list("/v2.0/networks", "networks"); len(l) != 2 {
		t.Fatalf("list %v", l)
	}
	// Exact name filter (the CLI resolves NAME-or-ID with it).
	if l := e.list("/v2.0/networks?name=pu", "networks"); len(l) != 0 {
		t.Fatalf("name=pu matched %v", l)
	}
	l := e.list("/v2.0/networks?name=pub&fields=id&fields=name", "networks")
	if len(l) != 1 || len(l[0].(map[string]any)) != 2 || l[0].(map[string]any)["id"] != id {
		t.Fatalf("name=pub&fields= %v", l)
	}
	if l := e.list("/v2.0/networks?provider:segmentation_id=100", "networks"); len(l) != 1 {
		t.Fatalf("segment filter %v", l)
	}
	if l := e.list("/v2.0/networks?shared=false&admin_state_up=True", "networks"); len(l) != 2 {
		t.Fatalf("bool filters %v", l)
	}
	s := e.must(200, "GET", "/v2.0/networks/"+id+"?fields=name,mtu", "", "network")
	if len(s) != 2 || s["name"] != "pub" {
		t.Fatalf("show fields %v", s)
	}
	u := e.must(200, "PUT", "/v2.0/networks/"+id, `{"network": {"name": "pub2", "mtu": "1400"}}`, "network")
	if u["name"] != "pub2" || u["mtu"] != 1400.0 || u["revision_number"] != 2.0 || u["provider:segmentation_id"] != 100.0 {
		t.Fatalf("updated %v", u)
	}
	e.must(204, "DELETE", "/v2.0/networks/"+id, "", "")
	code, out := e.call("GET", "/v2.0/networks/"+id, "")
	if code != 404 || out["NeutronError"].(map[string]any)["type"] != "NetworkNotFound" {
		t.Fatalf("after delete: %d %v", code, out)
	}
}

func TestSubnetPortCRUD(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	sub := e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"name": "s", "network_id": "`+net+`", "cidr": "10.0.0.0/24", "ip_version": "4"}}`, "subnet")
	if sub["gateway_ip"] != "10.0.0.1" || sub["enable_dhcp"] != true {
		t.Fatalf("subnet %v", sub)
	}
	pools := sub["allocation_pools"].([]any)
	if len(pools) != 1 || pools[0].(map[string]any)["start"] != "10.0.0.2" || pools[0].(map[string]any)["end"] != "10.0.0.254" {
		t.Fatalf("pools %v", pools)
	}
	sid := str(sub, "id")

	before := e.b.count()
	p := e.must(201, "POST", "/v2.0/ports", `{"port": {"name": "vm1", "network_id": "`+net+`", "binding:profile": {"netns": "vm1"}, "security_groups": []}}`, "port")
	if e.b.count() != before+1 {
		t.Fatal("local port create did not reconcile")
	}
	fips := p["fixed_ips"].([]any)
	if len(fips) != 1 || fips[0].(map[string]any)["subnet_id"] != sid || !strings.HasPrefix(fips[0].(map[string]any)["ip_address"].(string), "10.0.0.") {
		t.Fatalf("allocated fixed ips %v", fips)
	}
	if !strings.HasPrefix(str(p, "mac_address"), "fa:16:3e:") || p["binding:host_id"] != "node1" || p["status"] != "ACTIVE" {
		t.Fatalf("port %v", p)
	}
	pid := str(p, "id")
	nogw := e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.1.0/24", "gateway_ip": null}}`, "subnet")
	if nogw["gateway_ip"] != nil {
		t.Fatalf("gateway_ip null not kept: %v", nogw)
	}
	n := e.must(200, "GET", "/v2.0/networks/"+net, "", "network")
	if len(n["subnets"].([]any)) != 2 {
		t.Fatalf("network subnets %v", n["subnets"])
	}
	remote := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2", "mac_address": "FA:16:3E:00:00:02",
		"fixed_ips": [{"ip_address": "10.0.1.9"}]}}`, "port")
	if e.b.count() != before+1 {
		t.Fatal("remote port create reconciled here")
	}
	if remote["mac_address"] != "fa:16:3e:00:00:02" || remote["fixed_ips"].([]any)[0].(map[string]any)["subnet_id"] != nogw["id"] {
		t.Fatalf("remote port %v", remote)
	}
	if l := e.list("/v2.0/ports?network_id="+net+"&device_owner=", "ports"); len(l) != 2 {
		t.Fatalf("ports of network %v", l)
	}
	// Each DHCP-enabled subnet has its network:dhcp port, an address from
	// its pools on no host.
	dhcp := e.list("/v2.0/ports?network_id="+net+"&device_owner=network:dhcp", "ports")
	if len(dhcp) != 2 {
		t.Fatalf("DHCP ports %v", dhcp)
	}
	for _, d := range dhcp {
		d := d.(map[string]any)
		f := d["fixed_ips"].([]any)[0].(map[string]any)
		if d["binding:host_id"] != "" || d["device_id"] != "dhcp-"+f["subnet_id"].(string) || d["status"] != "ACTIVE" ||
			(f["subnet_id"] == sid) != strings.HasPrefix(f["ip_address"].(string), "10.0.0.") {
			t.Fatalf("DHCP port %v", d)
		}
	}
	if l := e.list("/v2.0/ports?fixed_ips=ip_address%3D10.0.1.9", "ports"); len(l) != 1 || l[0].(map[string]any)["id"] != remote["id"] {
		t.Fatalf("fixed_ips filter %v", l)
	}
	if l := e.list("/v2.0/ports?binding:host_id=node1&fields=id", "ports"); len(l) != 1 || l[0].(map[string]any)["id"] != pid {
		t.Fatalf("host filter %v", l)
	}

	// Datapath status overlay, and a profile update replaces (not merges).
	e.b.status["port/"+pid] = [2]string{"DOWN", "device missing"}
	u := e.must(200, "PUT", "/v2.0/ports/"+pid, `{"port": {"binding:profile": {"device": "tap0"}, "admin_state_up": "false"}}`, "port")
	prof := u["binding:profile"].(map[string]any)
	if len(prof) != 1 || prof["device"] != "tap0" || u["status"] != "DOWN" || u["status_reason"] != "device missing" || u["revision_number"] != 2.0 {
		t.Fatalf("updated port %v", u)
	}
	su := e.must(200, "PUT", "/v2.0/subnets/"+sid, `{"subnet": {"name": "s2", "dns_nameservers": ["192.0.2.53"]}}`, "subnet")
	if su["name"] != "s2" || su["revision_number"] != 2.0 || su["dns_nameservers"].([]any)[0] != "192.0.2.53" {
		t.Fatalf("updated subnet %v", su)
	}

	e.must(204, "DELETE", "/v2.0/ports/"+pid, "", "")
	e.must(204, "DELETE", "/v2.0/ports/"+str(remote, "id"), "", "")
	e.must(204, "DELETE", "/v2.0/subnets/"+sid, "", "")
	// The network takes its remaining subnet with it.
	e.must(204, "DELETE", "/v2.0/networks/"+net, "", "")
	if l := e.list("/v2.0/subnets", "subnets"); len(l) != 0 {
		t.Fatalf("subnets left: %v", l)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n", "provider:segmentation_id": 5000}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/networks", `{"network": {"provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": 100}}`, "network")
	e.must(201, "POST", "/v2.0/networks", `{"network": {"provider:network_type": "flat", "provider:physical_network": "public"}}`, "network")
	other := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"provider:network_type": "flat", "provider:physical_network": "elsewhere"}}`, "network"), "id")
	sub := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+other+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	port := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "mac_address": "fa:16:3e:00:00:01", "fixed_ips": [{"ip_address": "10.0.0.5"}]}}`, "port"), "id")

	cases := []struct {
		name, method, path, body string
		code                     int
		typ                      string
	}{
		{"bad json", "POST", "/v2.0/networks", `{"network": `, 400, ""},
		{"not an object", "POST", "/v2.0/networks", `{"network": 3}`, 400, ""},
		{"wrong wrapper", "POST", "/v2.0/networks", `{"net": {}}`, 400, ""},
		{"unknown field", "POST", "/v2.0/networks", `{"network": {"name": "x", "colour": "red"}}`, 400, ""},
		{"read-only field", "POST", "/v2.0/networks", `{"network": {"status": "DOWN"}}`, 400, ""},
		{"wrong type", "POST", "/v2.0/networks", `{"network": {"name": 5}}`, 400, ""},
		{"string not int", "POST", "/v2.0/networks", `{"network": {"provider:segmentation_id": "abc"}}`, 400, "InvalidInput"},
		{"bad network type", "POST", "/v2.0/networks", `{"network": {"provider:network_type": "geneve"}}`, 400, "InvalidInput"},
		{"vlan out of range", "POST", "/v2.0/networks", `{"network": {"provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": "4095"}}`, 400, "InvalidInput"},
		{"vlan in use", "POST", "/v2.0/networks", `{"network": {"provider:network_type": "vlan", "provider:physical_network": "public", "provider:segmentation_id": 100}}`, 409, "VlanIdInUse"},
		{"segment in use", "POST", "/v2.0/networks", `{"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 5000}}`, 409, "TunnelIdInUse"},
		{"flat in use", "POST", "/v2.0/networks", `{"network": {"provider:network_type": "flat", "provider:physical_network": "public"}}`, 409, "FlatNetworkInUse"},
		{"mtu too big", "POST", "/v2.0/networks", `{"network": {"mtu": 1451}}`, 400, "InvalidInput"},
		{"update read-only", "PUT", "/v2.0/networks/" + net, `{"network": {"provider:segmentation_id": 7}}`, 400, ""},
		{"update mtu too big", "PUT", "/v2.0/networks/" + net, `{"network": {"mtu": 1500}}`, 400, "InvalidInput"},
		{"update unknown network", "PUT", "/v2.0/networks/nope", `{"network": {"name": "x"}}`, 404, "NetworkNotFound"},
		{"delete network in use", "DELETE", "/v2.0/networks/" + net, ``, 409, "NetworkInUse"},
		{"delete unknown network", "DELETE", "/v2.0/networks/nope", ``, 404, "NetworkNotFound"},

		{"malformed cidr", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "` + net + `", "cidr": "10.1.0/24"}}`, 400, "InvalidInput"},
		{"host bits", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "` + net + `", "cidr": "10.1.0.1/24"}}`, 400, "InvalidInput"},
		{"overlap", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "` + net + `", "cidr": "10.0.0.0/16"}}`, 400, "InvalidInput"},
		{"gateway outside", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "` + net + `", "cidr": "10.1.0.0/24", "gateway_ip": "10.2.0.1"}}`, 400, "InvalidInput"},
		{"subnet unknown network", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "nope", "cidr": "10.1.0.0/24"}}`, 404, "NetworkNotFound"},
		{"subnet no network", "POST", "/v2.0/subnets", `{"subnet": {"cidr": "10.1.0.0/24"}}`, 400, ""},
		{"ipv6", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "` + net + `", "cidr": "fd00::/64", "ip_version": 6}}`, 400, "InvalidInput"},
		{"update gateway onto port", "PUT", "/v2.0/subnets/" + sub, `{"subnet": {"gateway_ip": "10.0.0.5", "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]}}`, 409, "GatewayIpInUse"},
		{"update cidr", "PUT", "/v2.0/subnets/" + sub, `{"subnet": {"cidr": "10.9.0.0/24"}}`, 400, ""},
		{"delete subnet in use", "DELETE", "/v2.0/subnets/" + sub, ``, 409, "SubnetInUse"},

		{"dup mac", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "mac_address": "FA:16:3E:00:00:01"}}`, 409, "MacAddressInUse"},
		{"bad mac", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "mac_address": "zz:16:3e:00:00:01"}}`, 400, "InvalidInput"},
		{"dup ip", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "fixed_ips": [{"ip_address": "10.0.0.5"}]}}`, 409, "IpAddressAlreadyAllocated"},
		{"ip outside", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "fixed_ips": [{"ip_address": "10.7.0.5"}]}}`, 400, "InvalidIpForNetwork"},
		{"gateway ip", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "fixed_ips": [{"ip_address": "10.0.0.1"}]}}`, 400, "InvalidInput"},
		{"unknown network", "POST", "/v2.0/ports", `{"port": {"network_id": "nope"}}`, 404, "NetworkNotFound"},
		{"physnet missing here", "POST", "/v2.0/ports", `{"port": {"network_id": "` + other + `"}}`, 400, "InvalidInput"},
		{"port update network", "PUT", "/v2.0/ports/" + port, `{"port": {"network_id": "` + other + `"}}`, 400, ""},
		{"port update dup ip", "PUT", "/v2.0/ports/" + port, `{"port": {"fixed_ips": [{"ip_address": "10.0.0.0"}]}}`, 400, "InvalidInput"},
		{"delete unknown port", "DELETE", "/v2.0/ports/nope", ``, 404, "PortNotFound"},
		{"unknown path", "GET", "/v2.0/trunks", ``, 404, "HTTPNotFound"},
		{"bad method", "PATCH", "/v2.0/networks", ``, 405, "HTTPMethodNotAllowed"},
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
			if c.typ != "" && ne["type"] != c.typ {
				t.Errorf("type %v, want %s (%v)", ne["type"], c.typ, ne["message"])
			}
			if after := e.dump(); after != before {
				t.Errorf("store changed by a refused request")
			}
		})
	}
	// A port on the flat network is fine when it is hosted on a node that
	// has the physnet.
	e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+other+`", "binding:host_id": "node2"}}`, "port")
}

// Objects that arrived by replication and conflict are shown as ERROR on
// the loser, with the reason.
func TestConflictLoserShowsError(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	older := model.Port{ID: "aaaa", NetworkID: net, AdminStateUp: true, MACAddress: "fa:16:3e:00:00:09", HostID: "node2", CreatedAt: "2024-01-01T00:00:00Z", FixedIPs: []model.FixedIP{},
		Profile: map[string]string{"netns": "vm"}}
	younger := older
	younger.ID, younger.CreatedAt = "0000", "2024-01-01T00:00:01Z"
	for _, p := range []model.Port{older, younger} {
		if _, err := e.st.Put(model.KindPort, p.ID, p); err != nil {
			t.Fatal(err)
		}
	}
	y := e.must(200, "GET", "/v2.0/ports/0000", "", "port")
	if y["status"] != "ERROR" || y["status_reason"] != "mac fa:16:3e:00:00:09 already used by port aaaa" {
		t.Fatalf("loser %v", y)
	}
	if o := e.must(200, "GET", "/v2.0/ports/aaaa", "", "port"); o["status"] != "ACTIVE" {
		t.Fatalf("winner %v", o)
	}
	if l := e.list("/v2.0/ports?status=ERROR", "ports"); len(l) != 1 {
		t.Fatalf("status filter %v", l)
	}
}

func TestAgentsAndVersions(t *testing.T) {
	e := newEnv(t)
	l := e.list("/v2.0/agents", "agents")
	if len(l) != 2 || l[0].(map[string]any)["host"] != "node1" {
		t.Fatalf("agents %v", l)
	}
	a := l[0].(map[string]any)
	if a["agent_type"] != "bnet agent" || a["binary"] != "bnet" || a["alive"] != true ||
		a["configurations"].(map[string]any)["tunneling_ip"] != "192.0.2.1" {
		t.Fatalf("agent %v", a)
	}
	if l := e.list("/v2.0/agents?alive=false&fields=host", "agents"); len(l) != 1 || l[0].(map[string]any)["host"] != "node2" {
		t.Fatalf("alive filter %v", l)
	}
	one := e.must(200, "GET", "/v2.0/agents/"+model.AgentID("node2"), "", "agent")
	if one["host"] != "node2" {
		t.Fatalf("show agent %v", one)
	}
	e.must(404, "GET", "/v2.0/agents/nope", "", "")
	v := e.must(200, "GET", "/", "", "")
	if vs := v["versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["id"] != "v2.0" {
		t.Fatalf("versions %v", v)
	}
	if x := e.list("/v2.0/extensions", "extensions"); len(x) == 0 {
		t.Fatal("no extensions")
	}
}

// A port created through the API without a binding profile waits for
// `bnet port plug`, as a Neutron port waits for Nova: unbound and DOWN on
// every node until a netns or device is named.
func TestUnpluggedPortIsDown(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "binding:host_id": "node2"}}`, "port")
	if p["status"] != "DOWN" || p["binding:vif_type"] != "unbound" || !strings.Contains(str(p, "status_reason"), "bnet port plug") {
		t.Fatalf("unplugged port %v", p)
	}
	id := str(p, "id")
	p = e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"binding:profile": {"netns": "vm"}}}`, "port")
	if p["status"] != "ACTIVE" || p["binding:vif_type"] != "tap" {
		t.Fatalf("plugged port %v", p)
	}
}

func TestUnsupportedCollectionSaysSo(t *testing.T) {
	e := newEnv(t)
	req := httptest.NewRequest("POST", "/v2.0/qos/policies", strings.NewReader(`{"policy": {}}`))
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "bnet does not support 'qos'") || !strings.Contains(rec.Body.String(), "NeutronError") {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	if got := rec.Header().Get(NodeHeader); got != "node1" {
		t.Errorf("%s = %q", NodeHeader, got)
	}
}

// The tag sub-resource and filters, as `openstack network set --tag` and
// `network list --tags` use them.
func TestTags(t *testing.T) {
	e := newEnv(t)
	a := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "a"}}`, "network"), "id")
	b := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "b", "tags": ["blue"]}}`, "network"), "id")
	e.must(200, "PUT", "/v2.0/networks/"+a+"/tags", `{"tags": ["red", "blue", "red"]}`, "")
	if code, _ := e.call("PUT", "/v2.0/networks/"+a+"/tags/green", ""); code != 201 {
		t.Fatalf("add tag: %d", code)
	}
	n := e.must(200, "GET", "/v2.0/networks/"+a, "", "network")
	if fmt.Sprint(n["tags"]) != "[blue green red]" || n["revision_number"] != 3.0 {
		t.Fatalf("tags %v revision %v", n["tags"], n["revision_number"])
	}
	for q, want := range map[string][]string{
		"tags=blue":            {a, b},
		"tags=blue,red":        {a},
		"tags=blue&tags=green": {a},
		"tags-any=red,nope":    {a},
		"not-tags=red":         {b},
		"not-tags-any=green":   {b},
		"tags=nope":            {},
	} {
		got := []string{}
		for _, x := range e.list("/v2.0/networks?"+q, "networks") {
			got = append(got, str(x.(map[string]any), "id"))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v want %v", q, got, want)
		}
	}
	if code, _ := e.call("GET", "/v2.0/networks/"+a+"/tags/red", ""); code != 204 {
		t.Errorf("has tag: %d", code)
	}
	if code, _ := e.call("DELETE", "/v2.0/networks/"+a+"/tags/nope", ""); code != 404 {
		t.Errorf("remove missing tag: %d", code)
	}
	before := e.dump()
	for _, bad := range []string{`{"tags": ["a,b"]}`, `{"tags": [""]}`, `{"tags": "x"}`, `{}`} {
		if code, _ := e.call("PUT", "/v2.0/networks/"+a+"/tags", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, _ := e.call("PUT", "/v2.0/networks/nope/tags/x", ""); code != 404 {
		t.Errorf("tag on missing network: %d", code)
	}
	if e.dump() != before {
		t.Error("refused tag requests changed the store")
	}
	if code, _ := e.call("DELETE", "/v2.0/networks/"+a+"/tags", ""); code != 204 {
		t.Errorf("clear: %d", code)
	}
	if n := e.must(200, "GET", "/v2.0/networks/"+a+"/tags", "", ""); fmt.Sprint(n["tags"]) != "[]" {
		t.Errorf("after clear: %v", n)
	}
}

func TestRouterCRUD(t *testing.T) {
	e := newEnv(t)
	rt := e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r1", "distributed": "True", "availability_zone_hints": [],
		"description": "d"}}`, "router")
	id := str(rt, "id")
	if len(id) != 36 || rt["distributed"] != true || rt["ha"] != false || rt["admin_state_up"] != true || rt["status"] != "ACTIVE" ||
		rt["external_gateway_info"] != nil || fmt.Sprint(rt["routes"]) != "[]" || fmt.Sprint(rt["tags"]) != "[]" ||
		rt["project_id"] != model.AdminProject || rt["tenant_id"] != model.AdminProject || rt["revision_number"] != 1.0 ||
		!strings.HasSuffix(str(rt, "created_at"), "Z") || rt["description"] != "d" {
		t.Fatalf("created router %v", rt)
	}
	if _, ok := rt["availability_zone_hints"]; ok {
		t.Error("ignored attribute echoed back")
	}
	other := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r2", "distributed": true, "ha": false,
		"external_gateway_info": null, "project_id": "p1"}}`, "router"), "id")
	if l := e.list("/v2.0/routers", "routers"); len(l) != 2 {
		t.Fatalf("list %v", l)
	}
	l := e.list("/v2.0/routers?name=r1&distributed=true&fields=id&fields=name", "routers")
	if len(l) != 1 || len(l[0].(map[string]any)) != 2 || l[0].(map[string]any)["id"] != id {
		t.Fatalf("filters and fields %v", l)
	}
	if l := e.list("/v2.0/routers?project_id=p1", "routers"); len(l) != 1 || l[0].(map[string]any)["id"] != other {
		t.Fatalf("project filter %v", l)
	}
	if s := e.must(200, "GET", "/v2.0/routers/"+id+"?fields=status", "", "router"); len(s) != 1 || s["status"] != "ACTIVE" {
		t.Fatalf("show fields %v", s)
	}
	// distributed and ha may be sent unchanged; routes may be emptied.
	u := e.must(200, "PUT", "/v2.0/routers/"+id, `{"router": {"name": "r1b", "admin_state_up": "false", "routes": [],
		"distributed": true, "ha": false, "external_gateway_info": {}}}`, "router")
	if u["name"] != "r1b" || u["admin_state_up"] != false || u["revision_number"] != 2.0 || u["distributed"] != true ||
		u["external_gateway_info"] != nil || u["created_at"] != rt["created_at"] {
		t.Fatalf("updated %v", u)
	}
	e.must(200, "PUT", "/v2.0/routers/"+id+"/tags", `{"tags": ["blue"]}`, "")
	if l := e.list("/v2.0/routers?tags=blue", "routers"); len(l) != 1 || l[0].(map[string]any)["id"] != id {
		t.Fatalf("tag filter %v", l)
	}
	x := e.list("/v2.0/extensions", "extensions")
	aliases := []string{}
	for _, ext := range x {
		aliases = append(aliases, str(ext.(map[string]any), "alias"))
	}
	if !slices.Contains(aliases, "router") || !slices.Contains(aliases, "dvr") || !slices.Contains(aliases, "ext-gw-mode") {
		t.Errorf("extensions %v", aliases)
	}
	e.must(204, "DELETE", "/v2.0/routers/"+id, "", "")
	code, out := e.call("GET", "/v2.0/routers/"+id, "")
	if code != 404 || out["NeutronError"].(map[string]any)["type"] != "RouterNotFound" {
		t.Fatalf("after delete: %d %v", code, out)
	}
}

// routerEnv is a network with two subnets, another network with one, and a
// distributed router.
type routerEnv struct {
	*env
	net, net2, sub, sub2, sub3, router string
}

func newRouterEnv(t *testing.T) routerEnv {
	e := routerEnv{env: newEnv(t)}
	e.net = str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	e.net2 = str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n2"}}`, "network"), "id")
	e.sub = str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.net+`", "cidr": "10.0.0.0/24"}}`, "subnet"), "id")
	e.sub2 = str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.net+`", "cidr": "10.0.1.0/24"}}`, "subnet"), "id")
	e.sub3 = str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.net2+`", "cidr": "10.0.2.0/24"}}`, "subnet"), "id")
	e.router = str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r", "distributed": true}}`, "router"), "id")
	return e
}

func (e routerEnv) iface(op, router, body string) map[string]any {
	e.t.Helper()
	return e.must(200, "PUT", "/v2.0/routers/"+router+"/"+op+"_router_interface", body, "")
}

func TestRouterInterfaceBySubnet(t *testing.T) {
	e := newRouterEnv(t)
	before := e.b.count()
	info := e.iface("add", e.router, `{"subnet_id": "`+e.sub+`"}`)
	pid := str(info, "port_id")
	if info["id"] != e.router || info["subnet_id"] != e.sub || fmt.Sprint(info["subnet_ids"]) != "["+e.sub+"]" ||
		info["network_id"] != e.net || info["project_id"] != model.AdminProject || info["tenant_id"] != model.AdminProject || pid == "" {
		t.Fatalf("add_router_interface answered %v", info)
	}
	if e.b.count() != before+1 {
		t.Error("adding an interface did not reconcile this node")
	}
	p := e.must(200, "GET", "/v2.0/ports/"+pid, "", "port")
	fips := p["fixed_ips"].([]any)
	if len(fips) != 1 || fips[0].(map[string]any)["ip_address"] != "10.0.0.1" || fips[0].(map[string]any)["subnet_id"] != e.sub ||
		p["device_owner"] != model.OwnerRouterDVR || p["device_id"] != e.router || p["binding:host_id"] != "" ||
		p["status"] != "ACTIVE" || p["binding:vif_type"] != "distributed" || p["network_id"] != e.net || p["admin_state_up"] != true {
		t.Fatalf("interface port %v", p)
	}
	if l := e.list("/v2.0/ports?device_id="+e.router, "ports"); len(l) != 1 {
		t.Fatalf("ports of the router %v", l)
	}
	// Updating the port through the port API keeps it on no host.
	if u := e.must(200, "PUT", "/v2.0/ports/"+pid, `{"port": {"name": "gw"}}`, "port"); u["binding:host_id"] != "" {
		t.Fatalf("port update bound the interface to %v", u["binding:host_id"])
	}
	// The other network may be routed too.
	e.iface("add", e.router, `{"subnet_id": "`+e.sub3+`"}`)

	out := e.iface("remove", e.router, `{"subnet_id": "`+e.sub+`"}`)
	if out["port_id"] != pid || out["subnet_id"] != e.sub || out["id"] != e.router || out["network_id"] != e.net {
		t.Fatalf("remove_router_interface answered %v", out)
	}
	e.must(404, "GET", "/v2.0/ports/"+pid, "", "")
	// The network is free for its other subnet now.
	e.iface("add", e.router, `{"subnet_id": "`+e.sub2+`"}`)
}

func TestRouterInterfaceByPort(t *testing.T) {
	e := newRouterEnv(t)
	p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "binding:host_id": "node2",
		"fixed_ips": [{"ip_address": "10.0.2.9"}]}}`, "port")
	pid := str(p, "id")
	info := e.iface("add", e.router, `{"port_id": "`+pid+`"}`)
	if info["port_id"] != pid || info["subnet_id"] != e.sub3 || info["network_id"] != e.net2 {
		t.Fatalf("add_router_interface answered %v", info)
	}
	p = e.must(200, "GET", "/v2.0/ports/"+pid, "", "port")
	if p["device_owner"] != model.OwnerRouterDVR || p["device_id"] != e.router || p["binding:host_id"] != "" ||
		p["revision_number"] != 2.0 || p["fixed_ips"].([]any)[0].(map[string]any)["ip_address"] != "10.0.2.9" {
		t.Fatalf("port after add %v", p)
	}
	e.must(409, "DELETE", "/v2.0/routers/"+e.router, "", "")
	if out := e.iface("remove", e.router, `{"port_id": "`+pid+`"}`); out["port_id"] != pid || out["subnet_id"] != e.sub3 {
		t.Fatalf("remove answered %v", out)
	}
	e.must(404, "GET", "/v2.0/ports/"+pid, "", "")
	e.must(204, "DELETE", "/v2.0/routers/"+e.router, "", "")
}

// Every refusal answers Neutron's error and leaves the store as it was.
func TestRouterRefusalsChangeNothing(t *testing.T) {
	e := newRouterEnv(t)
	other := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "other", "distributed": true}}`, "router"), "id")
	nogw := str(e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+e.net2+`", "cidr": "10.0.3.0/24", "gateway_ip": null}}`, "subnet"), "id")
	iface := str(e.iface("add", e.router, `{"subnet_id": "`+e.sub+`"}`), "port_id")
	plugged := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "binding:profile": {"netns": "vm"}}}`, "port"), "id")
	owned := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "device_id": "vm-1", "device_owner": "compute:nova"}}`, "port"), "id")
	twoIPs := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net+`", "fixed_ips": [{"subnet_id": "`+e.sub+`"}, {"subnet_id": "`+e.sub2+`"}]}}`, "port"), "id")
	noIPs := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+e.net2+`", "fixed_ips": []}}`, "port"), "id")
	add := "/v2.0/routers/" + e.router + "/add_router_interface"
	remove := "/v2.0/routers/" + e.router + "/remove_router_interface"
	put := "/v2.0/routers/" + e.router

	cases := []struct {
		name, method, path, body string
		code                     int
		typ, msg                 string
	}{
		{"ha", "POST", "/v2.0/routers", `{"router": {"name": "r2", "ha": true}}`, 400, "InvalidInput", "HA routers are not supported"},
		{"ha", "POST", "/v2.0/routers", `{"router": {"distributed": true, "ha": true}}`, 400, "InvalidInput", "HA routers are not supported"},
		{"gateway not external", "POST", "/v2.0/routers", `{"router": {"distributed": true, "external_gateway_info": {"network_id": "` + e.net + `"}}}`, 400, "BadRequest",
			"Bad router request: network " + e.net + " is not an external network"},
		{"routes on create", "POST", "/v2.0/routers", `{"router": {"distributed": true, "routes": []}}`, 400, "HTTPBadRequest", "not allowed in POST"},
		{"bad distributed", "POST", "/v2.0/routers", `{"router": {"distributed": "maybe"}}`, 400, "InvalidInput", "not a boolean"},
		{"read-only status", "POST", "/v2.0/routers", `{"router": {"distributed": true, "status": "DOWN"}}`, 400, "HTTPBadRequest", ""},
		{"make legacy", "PUT", put, `{"router": {"distributed": false}}`, 400, "InvalidInput", "distributed cannot be changed"},
		{"make ha", "PUT", put, `{"router": {"ha": true}}`, 400, "InvalidInput", "HA routers are not supported"},
		{"extra routes", "PUT", put, `{"router": {"routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.0.9"}]}}`, 400, "InvalidInput", "extra routes are not supported yet"},
		{"set gateway not external", "PUT", put, `{"router": {"external_gateway_info": {"network_id": "` + e.net + `"}}}`, 400, "BadRequest",
			"Bad router request: network " + e.net + " is not an external network"},
		{"update unknown router", "PUT", "/v2.0/routers/nope", `{"router": {"name": "x"}}`, 404, "RouterNotFound", ""},
		{"delete unknown router", "DELETE", "/v2.0/routers/nope", ``, 404, "RouterNotFound", ""},
		{"delete router with interface", "DELETE", put, ``, 409, "RouterInUse", "Router " + e.router + " still has ports"},

		{"interface: empty body", "PUT", add, `{}`, 400, "BadRequest", "Either subnet_id or port_id must be specified"},
		{"interface: both", "PUT", add, `{"subnet_id": "` + e.sub3 + `", "port_id": "` + plugged + `"}`, 400, "BadRequest", "Cannot specify both"},
		{"interface: not json", "PUT", add, `subnet`, 400, "HTTPBadRequest", ""},
		{"interface: unknown router", "PUT", "/v2.0/routers/nope/add_router_interface", `{"subnet_id": "` + e.sub3 + `"}`, 404, "RouterNotFound", ""},
		{"interface: unknown subnet", "PUT", add, `{"subnet_id": "nope"}`, 404, "SubnetNotFound", ""},
		{"interface: no gateway", "PUT", add, `{"subnet_id": "` + nogw + `"}`, 400, "BadRequest", "Subnet " + nogw + " has no gateway IP: a router interface needs one"},
		{"interface: same subnet again", "PUT", add, `{"subnet_id": "` + e.sub + `"}`, 400, "BadRequest", "Router already has a port on subnet " + e.sub},
		{"interface: subnet of another router", "PUT", "/v2.0/routers/" + other + "/add_router_interface", `{"subnet_id": "` + e.sub + `"}`, 409, "SubnetInUse",
			"Subnet " + e.sub + " is already routed by router " + e.router},
		{"interface: second subnet of network", "PUT", add, `{"subnet_id": "` + e.sub2 + `"}`, 400, "BadRequest",
			"network " + e.net + " already has a router interface (port " + iface + "); bnet routes one subnet per network"},
		{"interface: unknown port", "PUT", add, `{"port_id": "nope"}`, 404, "PortNotFound", ""},
		{"interface: plugged port", "PUT", add, `{"port_id": "` + plugged + `"}`, 409, "PortInUse", "netns vm"},
		{"interface: port of a VM", "PUT", add, `{"port_id": "` + owned + `"}`, 409, "PortInUse", "vm-1"},
		{"interface: port already an interface", "PUT", add, `{"port_id": "` + iface + `"}`, 409, "PortInUse", e.router},
		{"interface: port with two IPs", "PUT", add, `{"port_id": "` + twoIPs + `"}`, 400, "BadRequest", "needs exactly one"},
		{"interface: port with no IP", "PUT", add, `{"port_id": "` + noIPs + `"}`, 400, "BadRequest", "needs exactly one"},
		{"remove: subnet not routed", "PUT", remove, `{"subnet_id": "` + e.sub3 + `"}`, 404, "RouterInterfaceNotFoundForSubnet", ""},
		{"remove: unknown subnet", "PUT", remove, `{"subnet_id": "nope"}`, 404, "SubnetNotFound", ""},
		{"remove: port not an interface", "PUT", remove, `{"port_id": "` + plugged + `"}`, 404, "RouterInterfaceNotFound", ""},
		{"remove: another router's interface", "PUT", "/v2.0/routers/" + other + "/remove_router_interface", `{"port_id": "` + iface + `"}`, 404, "RouterInterfaceNotFound", ""},
		{"remove: unknown router", "PUT", "/v2.0/routers/nope/remove_router_interface", `{"port_id": "` + iface + `"}`, 404, "RouterNotFound", ""},

		{"delete interface port", "DELETE", "/v2.0/ports/" + iface, ``, 409, "L3PortInUse",
			"Port " + iface + " has owner network:router_interface_distributed and therefore cannot be deleted directly via the port API."},
		{"delete routed subnet", "DELETE", "/v2.0/subnets/" + e.sub, ``, 409, "SubnetInUse", ""},
		{"delete routed network", "DELETE", "/v2.0/networks/" + e.net, ``, 409, "NetworkInUse", ""},
		{"move routed gateway", "PUT", "/v2.0/subnets/" + e.sub, `{"subnet": {"gateway_ip": "10.0.0.254", "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}]}}`, 409,
			"GatewayIpInUse", "Current gateway ip 10.0.0.1 already in use by port " + iface},
		{"drop routed gateway", "PUT", "/v2.0/subnets/" + e.sub, `{"subnet": {"gateway_ip": null}}`, 409, "GatewayIpInUse", ""},
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
}

// The router's namespace host is served as Neutron's l3-agents list.
func TestRouterL3Agents(t *testing.T) {
	e := newEnv(t)
	id := str(e.must(201, "POST", "/v2.0/routers", `{"router": {"name": "r", "distributed": true}}`, "router"), "id")
	out := e.must(200, "GET", "/v2.0/routers/"+id+"/l3-agents", "", "")
	ags, _ := out["agents"].([]any)
	if len(ags) != 1 || ags[0].(map[string]any)["host"] != "node1" {
		t.Fatalf("l3-agents = %v", out)
	}
	if code, _ := e.call("GET", "/v2.0/routers/nope/l3-agents", ""); code != 404 {
		t.Errorf("missing router: %d", code)
	}
}
