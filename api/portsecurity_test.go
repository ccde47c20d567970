package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/model"
)

// pairsOf returns a port's allowed_address_pairs as "IP MAC" strings.
func pairsOf(t *testing.T, p map[string]any) []string {
	t.Helper()
	l, ok := p["allowed_address_pairs"].([]any)
	if !ok {
		t.Fatalf("allowed_address_pairs is %#v, want a list", p["allowed_address_pairs"])
	}
	out := []string{}
	for _, e := range l {
		m := e.(map[string]any)
		if len(m) != 2 {
			t.Fatalf("pair %v", m)
		}
		out = append(out, str(m, "ip_address")+" "+str(m, "mac_address"))
	}
	return out
}

func TestPortSecurityDefaults(t *testing.T) {
	e := newEnv(t)
	on := e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "on"}}`, "network")
	off := e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "off", "port_security_enabled": "False"}}`, "network")
	if on["port_security_enabled"] != true || off["port_security_enabled"] != false {
		t.Fatalf("networks: %v %v", on["port_security_enabled"], off["port_security_enabled"])
	}
	onID, offID := str(on, "id"), str(off, "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+onID+`", "cidr": "10.0.0.0/24"}}`, "subnet")

	for _, c := range []struct {
		name, net, extra string
		want             bool
	}{
		{"inherits true", onID, ``, true},
		{"inherits false", offID, ``, false},
		{"explicit false", onID, `, "port_security_enabled": false`, false},
		{"explicit string false", onID, `, "port_security_enabled": "false"`, false},
		{"explicit true on a false network", offID, `, "port_security_enabled": true`, true},
	} {
		p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+c.net+`"`+c.extra+`}}`, "port")
		if p["port_security_enabled"] != c.want || len(pairsOf(t, p)) != 0 {
			t.Errorf("%s: port_security_enabled %v, pairs %v", c.name, p["port_security_enabled"], p["allowed_address_pairs"])
		}
		// Stored explicitly, not derived on read.
		r, _ := e.st.Get(model.KindPort, str(p, "id"))
		var stored model.Port
		json.Unmarshal(r.Data, &stored)
		if stored.PortSecurityEnabled == nil || *stored.PortSecurityEnabled != c.want || stored.PortSecurity() != c.want {
			t.Errorf("%s: stored %v", c.name, stored.PortSecurityEnabled)
		}
	}
	if l := e.list("/v2.0/ports?port_security_enabled=false&fields=id", "ports"); len(l) != 3 {
		t.Errorf("port_security_enabled=false filter: %v", l)
	}

	// A network's value changes for the ports created after, not before.
	n := e.must(200, "PUT", "/v2.0/networks/"+offID, `{"network": {"port_security_enabled": true}}`, "network")
	if n["port_security_enabled"] != true || n["revision_number"] != 2.0 {
		t.Fatalf("updated network %v", n)
	}
	if p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+offID+`"}}`, "port"); p["port_security_enabled"] != true {
		t.Errorf("port after the network's update: %v", p["port_security_enabled"])
	}
	if l := e.list("/v2.0/ports?network_id="+offID+"&port_security_enabled=false", "ports"); len(l) != 1 {
		t.Errorf("older ports of the network changed: %v", l)
	}
}

func TestPortSecurityOldRecords(t *testing.T) {
	e := newEnv(t)
	// Records written before the extensions: no attribute at all.
	for _, rec := range []struct{ kind, id, data string }{
		{model.KindNetwork, "old-net", `{"id": "old-net", "name": "old", "admin_state_up": true, "mtu": 1450,
			"provider:network_type": "vxlan", "provider:segmentation_id": 7, "project_id": "p", "tenant_id": "p"}`},
		{model.KindPort, "old-port", `{"id": "old-port", "network_id": "old-net", "mac_address": "fa:16:3e:00:00:07",
			"fixed_ips": [], "admin_state_up": true, "binding:host_id": "node2", "binding:profile": {"netns": "vm"}}`},
	} {
		var m map[string]any
		json.Unmarshal([]byte(rec.data), &m)
		if _, err := e.st.Put(rec.kind, rec.id, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.must(200, "GET", "/v2.0/networks/old-net", "", "network"); n["port_security_enabled"] != true {
		t.Errorf("old network shows %v", n["port_security_enabled"])
	}
	p := e.must(200, "GET", "/v2.0/ports/old-port", "", "port")
	if p["port_security_enabled"] != true || len(pairsOf(t, p)) != 0 {
		t.Errorf("old port shows %v %v", p["port_security_enabled"], p["allowed_address_pairs"])
	}
	if l := e.list("/v2.0/ports?port_security_enabled=true", "ports"); len(l) != 1 {
		t.Errorf("filter on an old port: %v", l)
	}
	if p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "old-net"}}`, "port"); p["port_security_enabled"] != true {
		t.Errorf("new port on an old network: %v", p["port_security_enabled"])
	}
	u := e.must(200, "PUT", "/v2.0/ports/old-port", `{"port": {"allowed_address_pairs": [{"ip_address": "10.9.0.1"}]}}`, "port")
	if u["port_security_enabled"] != true || !reflect.DeepEqual(pairsOf(t, u), []string{"10.9.0.1 fa:16:3e:00:00:07"}) {
		t.Errorf("old port updated: %v", u)
	}
}

func TestAllowedAddressPairs(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "mac_address": "fa:16:3e:00:00:01",
		"fixed_ips": [{"ip_address": "10.0.0.5"}], "security_groups": [],
		"allowed_address_pairs": [{"ip_address": "10.0.0.100"}, {"ip_address": "10.0.1.7/24", "mac_address": "FA:16:3E:AA:BB:CC"},
			{"ip_address": "10.0.0.5/32"}, {"ip_address": "10.0.0.5", "mac_address": "fa:16:3e:00:00:01"}]}}`, "port")
	id := str(p, "id")
	want := []string{"10.0.0.100 fa:16:3e:00:00:01", "10.0.1.0/24 fa:16:3e:aa:bb:cc", "10.0.0.5/32 fa:16:3e:00:00:01", "10.0.0.5 fa:16:3e:00:00:01"}
	if got := pairsOf(t, p); !reflect.DeepEqual(got, want) || p["port_security_enabled"] != true {
		t.Fatalf("pairs %v, want %v", got, want)
	}
	if s := e.must(200, "GET", "/v2.0/ports/"+id+"?fields=allowed_address_pairs", "", "port"); !reflect.DeepEqual(pairsOf(t, s), want) {
		t.Errorf("show %v", s)
	}

	// Replaced whole on update; the port's other attributes stay.
	u := e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"allowed_address_pairs": [{"ip_address": "192.0.2.0/24"}]}}`, "port")
	if got := pairsOf(t, u); !reflect.DeepEqual(got, []string{"192.0.2.0/24 fa:16:3e:00:00:01"}) || u["revision_number"] != 2.0 ||
		u["port_security_enabled"] != true || u["mac_address"] != "fa:16:3e:00:00:01" {
		t.Fatalf("updated %v", u)
	}
	// null is [] (Neutron's convert_none_to_empty_list), then port
	// security may go, as `openstack port set --no-security-group
	// --disable-port-security` asks.
	u = e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"allowed_address_pairs": null}}`, "port")
	if len(pairsOf(t, u)) != 0 {
		t.Fatalf("after null: %v", u["allowed_address_pairs"])
	}
	u = e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"security_groups": [], "port_security_enabled": false}}`, "port")
	if u["port_security_enabled"] != false || u["revision_number"] != 4.0 {
		t.Fatalf("disabled %v", u)
	}
	u = e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"port_security_enabled": "True", "allowed_address_pairs": [{"ip_address": "10.0.0.200"}]}}`, "port")
	if u["port_security_enabled"] != true || len(pairsOf(t, u)) != 1 {
		t.Fatalf("enabled with a pair %v", u)
	}
	// Both at once: off, and the pairs go.
	u = e.must(200, "PUT", "/v2.0/ports/"+id, `{"port": {"port_security_enabled": false, "allowed_address_pairs": []}}`, "port")
	if u["port_security_enabled"] != false || len(pairsOf(t, u)) != 0 {
		t.Fatalf("disabled with the pairs %v", u)
	}
	// Network-owned ports keep what they are given.
	rp := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "device_owner": "network:router_interface",
		"device_id": "r", "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}]}}`, "port")
	if rp["port_security_enabled"] != true || len(pairsOf(t, rp)) != 1 {
		t.Errorf("network-owned port %v", rp)
	}
}

func TestPortSecurityRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	off := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "off", "port_security_enabled": false}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	withPairs := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`",
		"allowed_address_pairs": [{"ip_address": "10.0.0.100"}]}}`, "port"), "id")
	insecure := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "port_security_enabled": false}}`, "port"), "id")
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf(`{"ip_address": "10.0.9.%d"}`, i+1)
	}
	const psMsg = "Port Security must be enabled in order to have allowed address pairs on a port."
	cases := []struct {
		name, method, path, body string
		code                     int
		typ, msg                 string
	}{
		{"pairs on a port without security", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "port_security_enabled": false,
			"allowed_address_pairs": [{"ip_address": "10.0.0.100"}]}}`, 409, "AddressPairAndPortSecurityRequired", psMsg},
		{"pairs on a network without security", "POST", "/v2.0/ports", `{"port": {"network_id": "` + off + `",
			"allowed_address_pairs": [{"ip_address": "10.0.0.100"}]}}`, 409, "AddressPairAndPortSecurityRequired", psMsg},
		{"disable with pairs", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"security_groups": [], "port_security_enabled": false}}`,
			409, "AddressPairAndPortSecurityRequired", psMsg},
		{"pairs on an insecure port", "PUT", "/v2.0/ports/" + insecure, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.100"}]}}`,
			409, "AddressPairAndPortSecurityRequired", psMsg},
		{"eleven pairs", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [` + strings.Join(eleven, ",") + `]}}`,
			400, "AllowedAddressPairExhausted", "The number of allowed address pair exceeds the maximum 10."},
		{"duplicate", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.7"}, {"ip_address": "10.0.0.7"}]}}`,
			400, "DuplicateAddressPairInRequest", ""},
		{"duplicate once masked", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "mac_address": "fa:16:3e:00:00:0f",
			"allowed_address_pairs": [{"ip_address": "10.1.0.0/16"}, {"ip_address": "10.1.2.3/16", "mac_address": "fa:16:3e:00:00:0f"}]}}`,
			400, "DuplicateAddressPairInRequest", ""},
		{"missing ip", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"mac_address": "fa:16:3e:00:00:0f"}]}}`,
			400, "AllowedAddressPairsMissingIP", "AllowedAddressPair must contain ip_address"},
		{"bad ip", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.300"}]}}`, 400, "InvalidInput", ""},
		{"bad cidr", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.0/40"}]}}`, 400, "InvalidInput", ""},
		{"ipv6", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "fd00::5"}]}}`, 400, "InvalidInput", ""},
		{"bad mac", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.7", "mac_address": "zz"}]}}`, 400, "InvalidInput", ""},
		{"multicast mac", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.7", "mac_address": "01:00:5e:00:00:01"}]}}`, 400, "InvalidInput", ""},
		{"empty mac", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.7", "mac_address": ""}]}}`, 400, "InvalidInput", ""},
		{"not a list", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": {"ip_address": "10.0.0.7"}}}`, 400, "HTTPBadRequest", "Allowed address pairs must be a list."},
		{"not a dictionary", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": ["10.0.0.7"]}}`, 400, "InvalidInput", ""},
		{"unknown pair key", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.7", "prefix": 24}]}}`, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'prefix'"},
		{"ip not a string", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"allowed_address_pairs": [{"ip_address": 7}]}}`, 400, "InvalidInput", ""},
		{"null port security", "PUT", "/v2.0/ports/" + withPairs, `{"port": {"port_security_enabled": null}}`, 400, "InvalidInput", ""},
		{"port security not a boolean", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "port_security_enabled": "maybe"}}`, 400, "InvalidInput", ""},
		{"network port security null", "PUT", "/v2.0/networks/" + net, `{"network": {"port_security_enabled": null}}`, 400, "InvalidInput", ""},
		{"network port security not a boolean", "POST", "/v2.0/networks", `{"network": {"port_security_enabled": 3}}`, 400, "", ""},
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
			if c.msg != "" && ne["message"] != c.msg {
				t.Errorf("message %q, want %q", ne["message"], c.msg)
			}
			if after := e.dump(); after != before {
				t.Errorf("store changed by a refused request")
			}
		})
	}
}

func TestPortSecurityExtensions(t *testing.T) {
	e := newEnv(t)
	names := map[string]string{}
	for _, x := range e.list("/v2.0/extensions", "extensions") {
		m := x.(map[string]any)
		names[str(m, "alias")] = str(m, "name")
	}
	if names["port-security"] != "Port Security" || names["allowed-address-pairs"] != "Allowed Address Pairs" {
		t.Errorf("extensions %v", names)
	}
}
