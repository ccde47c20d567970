package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/store"
)

// fuzzOps are the write requests whose bodies the fuzzer makes up. $NET,
// $SUB, $PORT, $EXT, $RTR, $SG, $FIP and $RULE in a path or body become
// the fixture's objects.
var fuzzOps = []struct{ method, path string }{
	{"POST", "/v2.0/networks"},
	{"PUT", "/v2.0/networks/$NET"},
	{"POST", "/v2.0/subnets"},
	{"PUT", "/v2.0/subnets/$SUB"},
	{"POST", "/v2.0/ports"},
	{"PUT", "/v2.0/ports/$PORT"},
	{"POST", "/v2.0/routers"},
	{"PUT", "/v2.0/routers/$RTR"},
	{"PUT", "/v2.0/routers/$RTR/add_router_interface"},
	{"PUT", "/v2.0/routers/$RTR/remove_router_interface"},
	{"POST", "/v2.0/floatingips"},
	{"PUT", "/v2.0/floatingips/$FIP"},
	{"POST", "/v2.0/security-groups"},
	{"PUT", "/v2.0/security-groups/$SG"},
	{"POST", "/v2.0/security-group-rules"},
	{"PUT", "/v2.0/networks/$NET/tags"},
}

// apiFixture is a store state with one of everything, made once through
// the API and copied for each input (same IDs every time).
type apiFixture struct {
	dir string
	ids map[string]string
}

func newAPIFixture(f *testing.F) *apiFixture {
	dir := f.TempDir()
	st, err := store.Open(dir, "node1")
	if err != nil {
		f.Fatal(err)
	}
	h := NewServer(st, &fakeBackend{status: map[string][2]string{}}, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler()
	ids := map[string]string{}
	make := func(name, method, path, body, key string) {
		code, out := serve(h, method, expand(path, ids), expand(body, ids))
		if code/100 != 2 {
			f.Fatalf("fixture %s: %s %s: %d %v", name, method, path, code, out)
		}
		if obj, ok := out[key].(map[string]any); ok && name != "" {
			ids[name], _ = obj["id"].(string)
		}
	}
	make("$NET", "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network")
	make("$SUB", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "$NET", "cidr": "10.0.0.0/24", "ip_version": 4}}`, "subnet")
	make("$EXT", "POST", "/v2.0/networks", `{"network": {"name": "pub", "router:external": true, "provider:network_type": "flat", "provider:physical_network": "public"}}`, "network")
	make("", "POST", "/v2.0/subnets", `{"subnet": {"network_id": "$EXT", "cidr": "203.0.113.0/24"}}`, "subnet")
	make("$SG", "POST", "/v2.0/security-groups", `{"security_group": {"name": "web"}}`, "security_group")
	make("$RULE", "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "$SG", "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "0.0.0.0/0"}}`, "security_group_rule")
	make("$PORT", "POST", "/v2.0/ports", `{"port": {"network_id": "$NET", "binding:host_id": "node2", "security_groups": ["$SG"]}}`, "port")
	make("$RTR", "POST", "/v2.0/routers", `{"router": {"name": "r", "distributed": true, "external_gateway_info": {"network_id": "$EXT"}}}`, "router")
	make("", "PUT", "/v2.0/routers/$RTR/add_router_interface", `{"subnet_id": "$SUB"}`, "")
	make("$FIP", "POST", "/v2.0/floatingips", `{"floatingip": {"floating_network_id": "$EXT", "port_id": "$PORT"}}`, "floatingip")
	if err := st.Close(); err != nil {
		f.Fatal(err)
	}
	return &apiFixture{dir: dir, ids: ids}
}

func expand(s string, ids map[string]string) string {
	for k, v := range ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

func serve(h http.Handler, method, path, body string) (int, map[string]any) {
	req := httptest.NewRequest(method, "http://bnet"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// open copies the fixture's state into a fresh directory and opens it.
func (fx *apiFixture) open(t *testing.T) (*store.Store, string) {
	dir := t.TempDir()
	ents, err := os.ReadDir(fx.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(fx.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(dir, "node1")
	if err != nil {
		t.Fatal(err)
	}
	return st, dir
}

// FuzzAPIWrite sends made-up create, update, interface and tag bodies to
// the real handlers over a real store. Whatever the body: no panic and no
// 5xx; a 4xx carries a Neutron error and leaves the store exactly as it
// was; a 2xx answers JSON and leaves a store that opens again with the
// same records.
func FuzzAPIWrite(f *testing.F) {
	fx := newAPIFixture(f)
	for i, body := range []string{
		`{"network": {"name": "n2", "mtu": "1400", "provider:network_type": "vxlan", "provider:segmentation_id": 77}}`,
		`{"network": {"name": "n3", "admin_state_up": "false", "tags": ["a"]}}`,
		`{"subnet": {"network_id": "$NET", "cidr": "10.0.1.0/24", "gateway_ip": null, "allocation_pools": [{"start": "10.0.1.10", "end": "10.0.1.20"}]}}`,
		`{"subnet": {"name": "s2", "dns_nameservers": ["192.0.2.53"], "host_routes": [{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"}]}}`,
		`{"port": {"network_id": "$NET", "mac_address": "fa:16:3e:00:00:09", "fixed_ips": [{"subnet_id": "$SUB", "ip_address": "10.0.0.9"}], "allowed_address_pairs": [{"ip_address": "10.0.0.0/28"}]}}`,
		`{"port": {"binding:profile": {"netns": "vm"}, "port_security_enabled": false, "security_groups": []}}`,
		`{"router": {"name": "r2", "distributed": "True", "external_gateway_info": null}}`,
		`{"router": {"routes": [{"destination": "192.168.0.0/16", "nexthop": "10.0.0.5"}], "admin_state_up": false}}`,
		`{"subnet_id": "$SUB"}`,
		`{"port_id": "$PORT"}`,
		`{"floatingip": {"floating_network_id": "$EXT", "floating_ip_address": "203.0.113.50"}}`,
		`{"floatingip": {"port_id": null}}`,
		`{"security_group": {"name": "db", "description": "x"}}`,
		`{"security_group": {"name": "web2"}}`,
		`{"security_group_rule": {"security_group_id": "$SG", "direction": "egress", "ethertype": "IPv6", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_group_id": "$SG"}}`,
		`{"tags": ["red", "blue"]}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	for i, body := range []string{`{}`, `null`, `[]`, `{"network": null}`, `{"network": {"mtu": -1}}`, `{"port": {"fixed_ips": [{"ip_address": "10.0.0.999"}]}}`, "\x00", `{"subnet": {"cidr": "10.0.0.0/33", "network_id": "$NET"}}`} {
		f.Add(uint8(i*3), []byte(body))
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		st, dir := fx.open(t)
		defer st.Close()
		h := NewServer(st, &fakeBackend{status: map[string][2]string{}}, slog.New(slog.NewTextHandler(io.Discard, nil))).Handler()
		o := fuzzOps[int(op)%len(fuzzOps)]
		before := st.All()
		req := httptest.NewRequest(o.method, "http://bnet"+expand(o.path, fx.ids), strings.NewReader(expand(string(body), fx.ids)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code, answer := rec.Code, rec.Body.Bytes()
		after := st.All()
		switch {
		case code >= 500:
			t.Fatalf("%s %s %q: %d %s", o.method, o.path, body, code, answer)
		case code >= 400:
			var ne neutronError
			if err := json.Unmarshal(answer, &ne); err != nil || ne.NeutronError.Type == "" || ne.NeutronError.Message == "" {
				t.Fatalf("%s %s %q: %d without a Neutron error: %s", o.method, o.path, body, code, answer)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("%s %s %q: %d (%s) but the store changed", o.method, o.path, body, code, ne.NeutronError.Message)
			}
		case code >= 200 && code < 300:
			if code != http.StatusNoContent && !json.Valid(answer) {
				t.Fatalf("%s %s %q: %d with a body that is not JSON: %q", o.method, o.path, body, code, answer)
			}
			if err := st.Close(); err != nil {
				t.Fatalf("persist: %v", err)
			}
			again, err := store.Open(dir, "node1")
			if err != nil {
				t.Fatalf("%s %s %q accepted, then the store does not open: %v", o.method, o.path, body, err)
			}
			defer again.Close()
			if got := again.All(); !reflect.DeepEqual(got, after) {
				t.Fatalf("%s %s %q: records changed across a restart", o.method, o.path, body)
			}
		default:
			t.Fatalf("%s %s %q: status %d", o.method, o.path, body, code)
		}
	})
}
