package cli

import (
	"reflect"
	"strings"
	"testing"
)

const securePortBody = `{"id": "p-3", "name": "vip", "network_id": "n-1", "mac_address": "fa:16:3e:00:00:03",
	"fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.7"}], "binding:host_id": "cmpt1",
	"binding:profile": {}, "port_security_enabled": true, "status": "DOWN",
	"allowed_address_pairs": [{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:00:00:03"},
		{"ip_address": "10.0.1.0/24", "mac_address": "fa:16:3e:aa:bb:cc"}]}`

func TestNetworkCreateNoPortSecurity(t *testing.T) {
	f := newFake(t, map[string]reply{"POST /v2.0/networks": {201, `{"network": ` + netWeb + `}`}})
	mustRun(t, "--socket", f.socket, "network", "create", "--no-port-security", "web", "--type", "vxlan")
	want := map[string]any{"network": map[string]any{
		"name": "web", "provider:network_type": "vxlan", "port_security_enabled": false,
	}}
	if r := f.requests(); len(r) != 1 || !reflect.DeepEqual(r[0].Body, want) {
		t.Errorf("requests = %+v", r)
	}
}

func TestPortCreatePortSecurity(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/ports":            {201, `{"port": ` + securePortBody + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "port", "create", "vip", "--network", "web",
		"--allowed-address", "10.0.0.100", "--allowed-address", "10.0.1.7/24,FA:16:3E:AA:BB:CC")
	want := map[string]any{"port": map[string]any{
		"name": "vip", "network_id": "n-1",
		"allowed_address_pairs": []any{
			map[string]any{"ip_address": "10.0.0.100"},
			map[string]any{"ip_address": "10.0.1.7/24", "mac_address": "fa:16:3e:aa:bb:cc"},
		},
	}}
	if r := f.requests(); len(r) != 2 || !reflect.DeepEqual(r[1].Body, want) {
		t.Errorf("requests = %+v", r)
	}
	for _, s := range []string{"\nport_security_enabled  True\n", "allowed_address_pairs", "10.0.1.0/24"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	mustRun(t, "--socket", f.socket, "port", "create", "plain", "--no-port-security", "--network", "web")
	want = map[string]any{"port": map[string]any{"name": "plain", "network_id": "n-1", "port_security_enabled": false}}
	if r := f.requests(); len(r) != 4 || !reflect.DeepEqual(r[3].Body, want) {
		t.Errorf("requests = %+v", r)
	}
}

func TestPortCreateBadAllowedAddress(t *testing.T) {
	f := newFake(t, nil)
	for _, v := range []string{"10.0.0", "fd00::1", "10.0.0.0/33", "10.0.0.1,zz", "10.0.0.1,fa:16:3e:00:01", ",fa:16:3e:00:00:01"} {
		_, errOut, code := run(t, "--socket", f.socket, "port", "create", "p", "--network", "web", "--allowed-address", v)
		if code != 1 || !strings.Contains(errOut, "bad --allowed-address") {
			t.Errorf("%q: code %d err %q", v, code, errOut)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("invalid input reached the agent %d times", n)
	}
}

func TestPortUpdate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"--no-port-security", "--no-allowed-address"},
			map[string]any{"port_security_enabled": false, "allowed_address_pairs": []any{}}},
		{[]string{"--no-port-security"}, map[string]any{"port_security_enabled": false}},
		{[]string{"--port-security"}, map[string]any{"port_security_enabled": true}},
		{[]string{"--allowed-address", "10.0.0.9,fa:16:3e:00:00:09", "--allowed-address", "192.0.2.0/24"},
			map[string]any{"allowed_address_pairs": []any{
				map[string]any{"ip_address": "10.0.0.9", "mac_address": "fa:16:3e:00:00:09"},
				map[string]any{"ip_address": "192.0.2.0/24"},
			}}},
		{[]string{"--port-security", "--allowed-address", "10.0.0.100"},
			map[string]any{"port_security_enabled": true, "allowed_address_pairs": []any{map[string]any{"ip_address": "10.0.0.100"}}}},
		{[]string{"--no-allowed-address"}, map[string]any{"allowed_address_pairs": []any{}}},
	} {
		f := newFake(t, map[string]reply{
			"GET /v2.0/ports?name=vip": {200, `{"ports": [{"id": "p-3"}]}`},
			"PUT /v2.0/ports/p-3":      {200, `{"port": ` + securePortBody + `}`},
		})
		// The port named first, as operators also type it.
		args := append([]string{"--socket", f.socket, "port", "update", "vip"}, tc.args...)
		out := mustRun(t, args...)
		r := f.requests()
		if len(r) != 2 || r[1].Method != "PUT" || r[1].URI != "/v2.0/ports/p-3" ||
			!reflect.DeepEqual(r[1].Body, map[string]any{"port": tc.want}) {
			t.Errorf("%v: requests = %+v", tc.args, r)
		}
		if !strings.Contains(out, "port_security_enabled") {
			t.Errorf("%v: output\n%s", tc.args, out)
		}
	}
}

func TestPortUpdateRefuses(t *testing.T) {
	f := newFake(t, nil)
	for _, tc := range []struct{ args, want string }{
		{"vip", "nothing to change"},
		{"", "missing PORT"},
		{"vip --port-security --no-port-security", "exclude each other"},
		{"vip --allowed-address 10.0.0.1 --no-allowed-address", "exclude each other"},
		{"vip --allowed-address 10.0.0.1/40", "bad --allowed-address"},
	} {
		args := append([]string{"--socket", f.socket, "port", "update"}, strings.Fields(tc.args)...)
		_, errOut, code := run(t, args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: code %d err %q", tc.args, code, errOut)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("invalid input reached the agent %d times", n)
	}
}

func TestPortListShowsPortSecurity(t *testing.T) {
	insecure := strings.Replace(strings.Replace(portBody, `"status"`, `"port_security_enabled": false, "allowed_address_pairs": [], "status"`, 1), "p-1", "p-2", 1)
	f := newFake(t, map[string]reply{
		"GET /v2.0/ports": {200, `{"ports": [` + securePortBody + `, ` + insecure + `]}`},
	})
	out := mustRun(t, "--socket", f.socket, "port", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "PORT SECURITY") || !strings.Contains(lines[0], "ALLOWED ADDRESS PAIRS") {
		t.Fatalf("output:\n%s", out)
	}
	want := []string{"p-3", "vip", "n-1", "fa:16:3e:00:00:03", "10.0.0.7", "-", "cmpt1", "True",
		"10.0.0.100,fa:16:3e:00:00:03;10.0.1.0/24,fa:16:3e:aa:bb:cc", "DOWN"}
	if got := strings.Fields(lines[1]); !reflect.DeepEqual(got, want) {
		t.Errorf("row = %v", got)
	}
	if got := strings.Fields(lines[2]); len(got) != 10 || got[7] != "False" || got[8] != "-" {
		t.Errorf("row = %v", got)
	}
}
