package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestSubnetCreateDHCPFlags(t *testing.T) {
	sub := `{"subnet": {"id": "s-1", "name": "web-v4", "network_id": "n-1", "cidr": "10.0.0.0/24"}}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/subnets":          {201, sub},
	})
	mustRun(t, "--socket", f.socket, "subnet", "create", "web-v4", "--network", "web", "--cidr", "10.0.0.0/24",
		"--dns", "192.0.2.53", "--dns", "192.0.2.54", "--host-route", "172.16.0.0/12=10.0.0.254",
		"--pool", "10.0.0.100-10.0.0.150", "--no-dhcp")
	got := f.requests()[1].Body["subnet"].(map[string]any)
	want := map[string]any{
		"name": "web-v4", "network_id": "n-1", "cidr": "10.0.0.0/24", "ip_version": 4.0,
		"dns_nameservers":  []any{"192.0.2.53", "192.0.2.54"},
		"host_routes":      []any{map[string]any{"destination": "172.16.0.0/12", "nexthop": "10.0.0.254"}},
		"allocation_pools": []any{map[string]any{"start": "10.0.0.100", "end": "10.0.0.150"}},
		"enable_dhcp":      false,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %v\nwant %v", got, want)
	}
	for _, bad := range [][]string{{"--dns", "dns.example"}, {"--host-route", "10.1.0.0/16"}, {"--pool", "10.0.0.5"}} {
		args := append([]string{"--socket", f.socket, "subnet", "create", "x", "--network", "web", "--cidr", "10.0.0.0/24"}, bad...)
		if _, errOut, code := run(t, args...); code != 1 || !strings.Contains(errOut, "bad "+bad[0]) {
			t.Errorf("%v: code %d err %q", bad, code, errOut)
		}
	}
}

func TestSubnetUpdate(t *testing.T) {
	sub := `{"subnet": {"id": "s-1", "name": "web-v4", "network_id": "n-1", "cidr": "10.0.0.0/24"}}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/subnets?name=web-v4": {200, `{"subnets": [{"id": "s-1"}]}`},
		"PUT /v2.0/subnets/s-1":         {200, sub},
	})
	mustRun(t, "--socket", f.socket, "subnet", "update", "web-v4", "--dns", "192.0.2.99", "--no-host-route", "--dhcp")
	r := f.requests()
	want := map[string]any{"subnet": map[string]any{"dns_nameservers": []any{"192.0.2.99"}, "host_routes": []any{}, "enable_dhcp": true}}
	if last := r[len(r)-1]; last.Method != "PUT" || !reflect.DeepEqual(last.Body, want) {
		t.Errorf("request %+v", last)
	}
	for _, bad := range [][]string{{}, {"--dhcp", "--no-dhcp"}, {"--dns", "192.0.2.1", "--no-dns"}} {
		args := append([]string{"--socket", f.socket, "subnet", "update", "web-v4"}, bad...)
		if _, _, code := run(t, args...); code != 1 {
			t.Errorf("%v: code %d", bad, code)
		}
	}
}

func TestPortCreateNoIPConfig(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/ports":            {201, `{"port": ` + portBody + `}`},
	})
	mustRun(t, "--socket", f.socket, "port", "create", "vm9", "--network", "web", "--netns", "vm9", "--no-ip-config")
	body := f.requests()[1].Body["port"].(map[string]any)
	if want := map[string]any{"netns": "vm9", "no_ip_config": "true"}; !reflect.DeepEqual(body["binding:profile"], want) {
		t.Errorf("profile %v", body["binding:profile"])
	}
	if _, errOut, code := run(t, "--socket", f.socket, "port", "create", "vm9", "--network", "web", "--no-ip-config"); code != 1 ||
		!strings.Contains(errOut, "goes with --netns") {
		t.Errorf("--no-ip-config alone: code %d err %q", code, errOut)
	}
}

func TestPortUpdateIP(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/ports?name=vm1": {200, `{"ports": [{"id": "p-1"}]}`},
		"PUT /v2.0/ports/p-1":      {200, `{"port": ` + portBody + `}`},
	})
	mustRun(t, "--socket", f.socket, "port", "update", "vm1", "--ip", "10.0.0.40")
	r := f.requests()
	want := map[string]any{"port": map[string]any{"fixed_ips": []any{map[string]any{"ip_address": "10.0.0.40"}}}}
	if last := r[len(r)-1]; last.Method != "PUT" || !reflect.DeepEqual(last.Body, want) {
		t.Errorf("request %+v", last)
	}
}
