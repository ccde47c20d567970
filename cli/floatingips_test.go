package cli

import (
	"reflect"
	"strings"
	"testing"
)

const (
	// fipA is associated with p-1 through r-1; fipB is not associated.
	fipA = `{"id": "f-1", "floating_ip_address": "192.0.2.150", "floating_network_id": "n-pub", "port_id": "p-1",
		"fixed_ip_address": "10.0.0.10", "router_id": "r-1", "status": "ACTIVE", "project_id": "p1", "tags": [], "revision_number": 2}`
	fipB = `{"id": "f-2", "floating_ip_address": "192.0.2.151", "floating_network_id": "n-pub", "port_id": null,
		"fixed_ip_address": null, "router_id": null, "status": "DOWN", "project_id": "p1", "tags": [], "revision_number": 1}`
	// fipQuery is how an address is looked up.
	fipQuery = "/v2.0/floatingips?floating_ip_address=192.0.2.150"
)

func TestFIPCreate(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=public": {200, `{"networks": [{"id": "n-pub", "name": "public"}]}`},
		"GET /v2.0/ports?name=web1":      {200, `{"ports": [{"id": "p-1", "name": "web1"}]}`},
		"POST /v2.0/floatingips":         {201, `{"floatingip": ` + fipA + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "fip", "create", "--network", "public")
	want := []request{
		{Method: "GET", URI: "/v2.0/networks?name=public"},
		{Method: "POST", URI: "/v2.0/floatingips", Body: map[string]any{"floatingip": map[string]any{"floating_network_id": "n-pub"}}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	for _, s := range []string{"Created a new floatingip:", "floating_ip_address", "192.0.2.150", "router_id", "r-1"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	// Address, port and fixed IP, flags in any order; -o json is the body.
	n := len(f.requests())
	out = mustRun(t, "--socket", f.socket, "fip", "create", "--port", "web1", "--network", "public", "--ip", "192.0.2.150",
		"--fixed-ip", "10.0.0.10", "-o", "json")
	want = []request{
		{Method: "GET", URI: "/v2.0/networks?name=public"},
		{Method: "GET", URI: "/v2.0/ports?name=web1"},
		{Method: "POST", URI: "/v2.0/floatingips", Body: map[string]any{"floatingip": map[string]any{"floating_network_id": "n-pub",
			"floating_ip_address": "192.0.2.150", "port_id": "p-1", "fixed_ip_address": "10.0.0.10"}}},
	}
	if got := f.requests()[n:]; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	if out != indent(t, `{"floatingip": `+fipA+`}`) {
		t.Errorf("json:\n%s", out)
	}

	// Bad arguments never reach the agent.
	n = len(f.requests())
	for _, args := range [][]string{
		{"create"},
		{"create", "--network", "public", "--ip", "192.0.2"},
		{"create", "--network", "public", "--fixed-ip", "10.0.0.10"},
		{"create", "--network", "public", "extra"},
	} {
		_, errOut, code := run(t, append([]string{"--socket", f.socket, "fip"}, args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "bnet: ") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}

	// The agent's refusal is what the operator reads.
	f = newFake(t, map[string]reply{
		"GET /v2.0/networks?name=private": {200, `{"networks": [{"id": "n-1", "name": "private"}]}`},
		"POST /v2.0/floatingips":          {400, `{"NeutronError": {"type": "BadRequest", "message": "Bad floatingip request: Network n-1 is not a valid external network", "detail": ""}}`},
	})
	_, errOut, code := run(t, "--socket", f.socket, "fip", "create", "--network", "private")
	if code != 1 || errOut != "bnet: Bad floatingip request: Network n-1 is not a valid external network\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestFIPAssociateDisassociate(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET " + fipQuery:           {200, `{"floatingips": [` + fipB + `]}`},
		"GET /v2.0/ports?name=web1": {200, `{"ports": [{"id": "p-1", "name": "web1"}]}`},
		"GET /v2.0/ports?name=p-2":  {200, `{"ports": []}`},
		"PUT /v2.0/floatingips/f-2": {200, `{"floatingip": ` + fipA + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "fip", "associate", "192.0.2.150", "web1")
	want := []request{
		{Method: "GET", URI: fipQuery},
		{Method: "GET", URI: "/v2.0/ports?name=web1"},
		{Method: "PUT", URI: "/v2.0/floatingips/f-2", Body: map[string]any{"floatingip": map[string]any{"port_id": "p-1"}}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	for _, s := range []string{"Associated floating IP 192.0.2.150 with port web1:", "fixed_ip_address", "10.0.0.10", "ACTIVE"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	// An ID is used as it is; --fixed-ip goes into the request.
	n := len(f.requests())
	out = mustRun(t, "--socket", f.socket, "fip", "associate", "f-2", "p-2", "--fixed-ip", "10.0.0.10", "-o", "json")
	want = []request{
		{Method: "GET", URI: "/v2.0/ports?name=p-2"},
		{Method: "PUT", URI: "/v2.0/floatingips/f-2", Body: map[string]any{"floatingip": map[string]any{"port_id": "p-2", "fixed_ip_address": "10.0.0.10"}}},
	}
	if got := f.requests()[n:]; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	if out != indent(t, `{"floatingip": `+fipA+`}`) {
		t.Errorf("json:\n%s", out)
	}

	// Disassociate sends port_id null, as `openstack floating ip unset --port`.
	n = len(f.requests())
	out = mustRun(t, "--socket", f.socket, "fip", "disassociate", "192.0.2.150")
	want = []request{
		{Method: "GET", URI: fipQuery},
		{Method: "PUT", URI: "/v2.0/floatingips/f-2", Body: map[string]any{"floatingip": map[string]any{"port_id": nil}}},
	}
	if got := f.requests()[n:]; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	if !strings.HasPrefix(out, "Disassociated floating IP 192.0.2.150:\n") {
		t.Errorf("output:\n%s", out)
	}

	// Bad arguments never reach the agent.
	n = len(f.requests())
	for _, args := range [][]string{{"associate", "192.0.2.150"}, {"associate"}, {"associate", "a", "b", "c"},
		{"associate", "192.0.2.150", "web1", "--fixed-ip", "x"}, {"disassociate"}, {"disassociate", "a", "b"}} {
		_, errOut, code := run(t, append([]string{"--socket", f.socket, "fip"}, args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "bnet: ") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}

	// The agent's refusal is what the operator reads.
	f = newFake(t, map[string]reply{
		"GET " + fipQuery:           {200, `{"floatingips": [` + fipB + `]}`},
		"GET /v2.0/ports?name=web1": {200, `{"ports": [{"id": "p-1", "name": "web1"}]}`},
		"PUT /v2.0/floatingips/f-2": {404, `{"NeutronError": {"type": "ExternalGatewayForFloatingIPNotFound", "message": "External network n-pub is not reachable from subnet s-1.  Therefore, cannot associate Port p-1 with a Floating IP.", "detail": ""}}`},
	})
	_, errOut, code := run(t, "--socket", f.socket, "fip", "associate", "192.0.2.150", "web1")
	if code != 1 || errOut != "bnet: External network n-pub is not reachable from subnet s-1.  Therefore, cannot associate Port p-1 with a Floating IP.\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestFIPList(t *testing.T) {
	body := `{"floatingips": [` + fipA + `, ` + fipB + `]}`
	f := newFake(t, map[string]reply{"GET /v2.0/floatingips": {200, body}})
	out := mustRun(t, "--socket", f.socket, "fip", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", out)
	}
	for i, want := range [][]string{
		{"ID", "FLOATING", "IP", "ADDRESS", "FIXED", "IP", "ADDRESS", "PORT", "ID", "ROUTER", "ID", "STATUS"},
		{"f-1", "192.0.2.150", "10.0.0.10", "p-1", "r-1", "ACTIVE"},
		{"f-2", "192.0.2.151", "-", "-", "-", "DOWN"},
	} {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("line %d = %v, want %v", i, got, want)
		}
	}
	if r := f.requests(); len(r) != 1 || r[0].URI != "/v2.0/floatingips" {
		t.Errorf("requests = %+v", r)
	}
	if out := mustRun(t, "--socket", f.socket, "floating-ip", "list", "-o", "json"); out != indent(t, body) {
		t.Errorf("json:\n%s", out)
	}
}

func TestFIPShowDelete(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET " + fipQuery:                                     {200, `{"floatingips": [` + fipA + `]}`},
		"GET /v2.0/floatingips/f-1":                           {200, `{"floatingip": ` + fipA + `}`},
		"DELETE /v2.0/floatingips/f-1":                        {204, ``},
		"GET /v2.0/floatingips?floating_ip_address=192.0.2.9": {200, `{"floatingips": []}`},
		"GET /v2.0/floatingips/192.0.2.9":                     {404, `{"NeutronError": {"type": "FloatingIPNotFound", "message": "Floating IP 192.0.2.9 could not be found", "detail": ""}}`},
		"GET /v2.0/floatingips?floating_ip_address=192.0.2.7": {200, `{"floatingips": [` + fipA + `, ` + fipB + `]}`},
	})
	out := mustRun(t, "--socket", f.socket, "fip", "show", "192.0.2.150")
	want := []request{{Method: "GET", URI: fipQuery}, {Method: "GET", URI: "/v2.0/floatingips/f-1"}}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	for _, s := range []string{"FIELD", "port_id", "p-1", "router_id", "r-1", "\nrevision_number      2\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if out := mustRun(t, "--socket", f.socket, "fip", "show", "f-1", "-o", "json"); out != indent(t, `{"floatingip": `+fipA+`}`) {
		t.Errorf("json:\n%s", out)
	}

	n := len(f.requests())
	out = mustRun(t, "--socket", f.socket, "fip", "delete", "192.0.2.150")
	want = []request{{Method: "GET", URI: fipQuery}, {Method: "DELETE", URI: "/v2.0/floatingips/f-1"}}
	if got := f.requests()[n:]; !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	if out != "Deleted floating IP: 192.0.2.150\n" {
		t.Errorf("output %q", out)
	}

	// An address no floating IP has is tried as an ID: the agent's 404.
	_, errOut, code := run(t, "--socket", f.socket, "fip", "show", "192.0.2.9")
	if code != 1 || errOut != "bnet: Floating IP 192.0.2.9 could not be found\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
	n = len(f.requests())
	_, errOut, code = run(t, "--socket", f.socket, "fip", "delete", "192.0.2.7")
	if code != 1 || !strings.Contains(errOut, "several floating IPs have address 192.0.2.7") {
		t.Errorf("code %d err %q", code, errOut)
	}
	if r := f.requests()[n:]; len(r) != 1 {
		t.Errorf("an ambiguous address went further: %+v", r)
	}
}
