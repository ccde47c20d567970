package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bnet-dev/bnet/agent"
	"github.com/bnet-dev/bnet/api"
)

// request is what the fake agent saw.
type request struct {
	Method, URI string
	Body        map[string]any
}

type reply struct {
	status int
	body   string
}

// fakeNeutron is a canned Networking API v2.0 on a unix socket.
type fakeNeutron struct {
	socket string
	mu     sync.Mutex
	routes map[string]reply // "METHOD /path?query"
	seen   []request
}

func newFake(t *testing.T, routes map[string]reply) *fakeNeutron {
	t.Helper()
	// Short path: sun_path is 108 bytes and t.TempDir() names can be long.
	dir, err := os.MkdirTemp("", "bnetcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeNeutron{socket: filepath.Join(dir, "bnet.sock"), routes: routes}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeNeutron) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := request{Method: r.Method, URI: r.URL.RequestURI()}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		if err := json.Unmarshal(b, &req.Body); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
	}
	f.mu.Lock()
	f.seen = append(f.seen, req)
	rep, ok := f.routes[r.Method+" "+req.URI]
	f.mu.Unlock()
	if !ok {
		rep = reply{404, `{"NeutronError": {"type": "HTTPNotFound", "message": "no route ` + req.URI + `", "detail": ""}}`}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(api.NodeHeader, "cmpt1")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeNeutron) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.seen...)
}

// run executes one bnet command line and returns stdout, stderr, exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := NewApp("1.2.3-test", &stdout, &stderr)
	code := Run(context.Background(), app, append([]string{"bnet"}, args...))
	return stdout.String(), stderr.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, args...)
	if code != 0 {
		t.Fatalf("bnet %v: exit %d, stderr %q", args, code, errOut)
	}
	if errOut != "" {
		t.Fatalf("bnet %v: unexpected stderr %q", args, errOut)
	}
	return out
}

func jsonOf(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return m
}

func indent(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		t.Fatal(err)
	}
	return b.String() + "\n"
}

const (
	netWeb = `{"id": "n-1", "name": "web", "provider:network_type": "vxlan", "provider:segmentation_id": 100,
		"provider:physical_network": null, "mtu": 1450, "subnets": ["s-1"], "status": "ACTIVE",
		"admin_state_up": true, "router:external": true, "project_id": "p1", "x_extra": 7}`
	netDB = `{"id": "n-2", "name": "db", "provider:network_type": "vlan", "provider:segmentation_id": 42,
		"provider:physical_network": "public", "mtu": 1500, "subnets": [], "status": "DOWN"}`
	emptyNets = `{"networks": []}`
)

func TestNetworkCreateSendsProviderAttributes(t *testing.T) {
	f := newFake(t, map[string]reply{
		"POST /v2.0/networks": {201, `{"network": ` + netWeb + `}`},
	})
	// Flags after the positional NAME and the global -o after the
	// subcommand: both are how operators type it.
	out := mustRun(t, "--socket", f.socket, "network", "create", "web", "--type", "vxlan",
		"--segment", "100", "--mtu", "1450", "--external", "--project", "p1")

	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].URI != "/v2.0/networks" {
		t.Fatalf("requests = %+v", reqs)
	}
	want := map[string]any{"network": map[string]any{
		"name": "web", "provider:network_type": "vxlan", "provider:segmentation_id": 100.0,
		"mtu": 1450.0, "router:external": true, "project_id": "p1",
	}}
	if !reflect.DeepEqual(reqs[0].Body, want) {
		t.Errorf("body = %v, want %v", reqs[0].Body, want)
	}
	for _, s := range []string{"Created a new network:", "FIELD", "VALUE", "provider:network_type", "vxlan",
		"\nprovider:segmentation_id   100\n", "router:external", "True", "x_extra"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestNetworkCreateFlatJSON(t *testing.T) {
	body := `{"network": ` + netDB + `}`
	f := newFake(t, map[string]reply{"POST /v2.0/networks": {201, body}})
	out := mustRun(t, "--socket", f.socket, "network", "create", "db", "--type", "flat", "--physnet", "public", "-o", "json")
	if out != indent(t, body) {
		t.Errorf("json output is not the response body:\n%s", out)
	}
	got := f.requests()[0].Body["network"].(map[string]any)
	want := map[string]any{"name": "db", "provider:network_type": "flat", "provider:physical_network": "public"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}
}

func TestNetworkCreateValidatesType(t *testing.T) {
	f := newFake(t, nil)
	for _, args := range [][]string{
		{"network", "create", "x"},
		{"network", "create", "x", "--type", "bogus"},
		{"network", "create", "--type", "vxlan"},
	} {
		out, errOut, code := run(t, append([]string{"--socket", f.socket}, args...)...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, "bnet: ") {
			t.Errorf("%v: code %d out %q err %q", args, code, out, errOut)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("invalid input reached the agent %d times", n)
	}
}

func TestNetworkList(t *testing.T) {
	body := `{"networks": [` + netWeb + `, ` + netDB + `]}`
	f := newFake(t, map[string]reply{"GET /v2.0/networks": {200, body}})

	out := mustRun(t, "--socket", f.socket, "network", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", out)
	}
	if f := strings.Fields(lines[0]); !reflect.DeepEqual(f, []string{"ID", "NAME", "TYPE", "SEGMENT", "PHYSNET", "MTU", "SUBNETS", "STATUS"}) {
		t.Errorf("header = %v", f)
	}
	if f := strings.Fields(lines[1]); !reflect.DeepEqual(f, []string{"n-1", "web", "vxlan", "100", "-", "1450", "s-1", "ACTIVE"}) {
		t.Errorf("row 1 = %v", f)
	}
	if f := strings.Fields(lines[2]); !reflect.DeepEqual(f, []string{"n-2", "db", "vlan", "42", "public", "1500", "DOWN"}) {
		t.Errorf("row 2 = %v", f)
	}

	// -o json is the body as the agent sent it, unknown fields included.
	// -o may stand at any level of the command line.
	for _, args := range [][]string{
		{"-o", "json", "network", "list"},
		{"network", "-o", "json", "list"},
		{"network", "list", "--output=json"},
	} {
		out = mustRun(t, append([]string{"--socket", f.socket}, args...)...)
		if out != indent(t, body) {
			t.Errorf("%v json:\n%s", args, out)
		}
	}
}

func TestEmptyListSaysNoEntries(t *testing.T) {
	f := newFake(t, map[string]reply{"GET /v2.0/networks": {200, emptyNets}})
	if out := mustRun(t, "--socket", f.socket, "network", "list"); out != "No entries found.\n" {
		t.Errorf("got %q", out)
	}
	if out := mustRun(t, "--socket", f.socket, "network", "list", "-o", "json"); jsonOf(t, out)["networks"] == nil {
		t.Errorf("json empty list must be [], got %q", out)
	}
}

func TestShowResolvesName(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"GET /v2.0/networks/n-1":      {200, `{"network": ` + netWeb + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "network", "show", "web", "-o", "json")
	if got := jsonOf(t, out)["network"].(map[string]any)["id"]; got != "n-1" {
		t.Errorf("id = %v", got)
	}
	want := []request{{Method: "GET", URI: "/v2.0/networks?name=web"}, {Method: "GET", URI: "/v2.0/networks/n-1"}}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
}

func TestShowFallsBackToID(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=n-2": {200, emptyNets},
		"GET /v2.0/networks/n-2":      {200, `{"network": ` + netDB + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "network", "show", "n-2")
	for _, s := range []string{"provider:physical_network", "public", "status", "DOWN"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestShowAmbiguousName(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=dup": {200, `{"networks": [{"id": "a", "name": "dup"}, {"id": "b", "name": "dup"}]}`},
	})
	out, errOut, code := run(t, "--socket", f.socket, "network", "delete", "dup")
	if code != 1 || out != "" {
		t.Fatalf("code %d out %q", code, out)
	}
	if errOut != "bnet: multiple networks named dup, use the ID\n" {
		t.Errorf("stderr = %q", errOut)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("sent %d requests, want only the lookup", n)
	}
}

func TestAPIErrorShowsNeutronMessage(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=nope": {200, emptyNets},
		"GET /v2.0/networks/nope": {404, `{"NeutronError": {"type": "NetworkNotFound",
			"message": "Network nope could not be found.", "detail": ""}}`},
	})
	out, errOut, code := run(t, "--socket", f.socket, "network", "show", "nope")
	if code != 1 || out != "" || errOut != "bnet: Network nope could not be found.\n" {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
}

func TestAgentUnreachable(t *testing.T) {
	_, errOut, code := run(t, "--socket", "/nonexistent/bnet.sock", "network", "list")
	if code != 1 || !strings.HasPrefix(errOut, "bnet: list networks: ") {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestDelete(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"DELETE /v2.0/networks/n-1":   {204, ""},
	})
	if out := mustRun(t, "--socket", f.socket, "network", "delete", "web"); out != "Deleted network: web\n" {
		t.Errorf("out = %q", out)
	}
	if r := f.requests(); len(r) != 2 || r[1].Method != "DELETE" || r[1].URI != "/v2.0/networks/n-1" {
		t.Errorf("requests = %+v", r)
	}
}

func TestSubnetCreate(t *testing.T) {
	sub := `{"subnet": {"id": "s-1", "name": "web-v4", "network_id": "n-1", "cidr": "10.0.0.0/24",
		"gateway_ip": null, "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.254"}]}}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/subnets":          {201, sub},
	})
	out := mustRun(t, "--socket", f.socket, "subnet", "create", "web-v4", "--network", "web", "--cidr", "10.0.0.0/24", "--no-gateway")
	r := f.requests()
	want := map[string]any{"subnet": map[string]any{
		"name": "web-v4", "network_id": "n-1", "cidr": "10.0.0.0/24", "ip_version": 4.0, "gateway_ip": nil,
	}}
	if len(r) != 2 || r[1].Method != "POST" || !reflect.DeepEqual(r[1].Body, want) {
		t.Errorf("requests = %+v", r)
	}
	if !strings.Contains(out, `{"end":"10.0.0.254","start":"10.0.0.1"}`) {
		t.Errorf("allocation pools not shown:\n%s", out)
	}

	mustRun(t, "--socket", f.socket, "subnet", "create", "web-v4", "--network", "web", "--cidr", "10.0.0.0/24", "--gateway", "10.0.0.1")
	if gw := f.requests()[3].Body["subnet"].(map[string]any)["gateway_ip"]; gw != "10.0.0.1" {
		t.Errorf("gateway_ip = %v", gw)
	}

	_, errOut, code := run(t, "--socket", f.socket, "subnet", "create", "x", "--network", "web", "--cidr", "10.0.0.0/24", "--gateway", "10.0.0.1", "--no-gateway")
	if code != 1 || !strings.Contains(errOut, "mutually exclusive") {
		t.Errorf("code %d err %q", code, errOut)
	}
	_, errOut, code = run(t, "--socket", f.socket, "subnet", "create", "x", "--network", "web", "--cidr", "10.0.0.300/24")
	if code != 1 || !strings.Contains(errOut, "bad --cidr") {
		t.Errorf("code %d err %q", code, errOut)
	}
}

const portBody = `{"id": "p-1", "name": "vm1", "network_id": "n-1", "mac_address": "fa:16:3e:00:00:01",
	"fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.5"}], "binding:host_id": "cmpt1",
	"binding:profile": {"netns": "vm1"}, "status": "ACTIVE"}`

func TestPortCreate(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/ports":            {201, `{"port": ` + portBody + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "-o", "json", "port", "create", "vm1", "--network", "web",
		"--ip", "10.0.0.5", "--mac", "FA:16:3E:00:00:01", "--netns", "vm1")
	if out != indent(t, `{"port": `+portBody+`}`) {
		t.Errorf("json:\n%s", out)
	}
	want := map[string]any{"port": map[string]any{
		"name": "vm1", "network_id": "n-1", "mac_address": "fa:16:3e:00:00:01",
		"fixed_ips":       []any{map[string]any{"ip_address": "10.0.0.5"}},
		"binding:profile": map[string]any{"netns": "vm1"},
	}}
	if r := f.requests(); len(r) != 2 || !reflect.DeepEqual(r[1].Body, want) {
		t.Errorf("requests = %+v", r)
	}

	mustRun(t, "--socket", f.socket, "port", "create", "tap", "--network", "web", "--device", "tap0")
	body := f.requests()[3].Body["port"].(map[string]any)
	if !reflect.DeepEqual(body["binding:profile"], map[string]any{"device": "tap0"}) || body["fixed_ips"] != nil {
		t.Errorf("device port body = %v", body)
	}
}

func TestPortCreatePlugFlagsExclude(t *testing.T) {
	f := newFake(t, nil)
	_, errOut, code := run(t, "--socket", f.socket, "port", "create", "p", "--network", "web", "--netns", "a", "--device", "b")
	if code != 1 || !strings.Contains(errOut, "--netns and --device exclude each other") {
		t.Errorf("code %d err %q", code, errOut)
	}
	if len(f.requests()) != 0 {
		t.Error("invalid port reached the agent")
	}
}

func TestPortCreateUnpluggedForHost(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web": {200, `{"networks": [` + netWeb + `]}`},
		"POST /v2.0/ports":            {201, `{"port": ` + portBody + `}`},
	})
	mustRun(t, "--socket", f.socket, "port", "create", "vm9", "--network", "web", "--host", "cmpt2")
	body := f.requests()[1].Body["port"].(map[string]any)
	if body["binding:host_id"] != "cmpt2" || body["binding:profile"] != nil {
		t.Errorf("body = %v", body)
	}
}

const unplugged = `{"port": {"id": "p-2", "name": "vm2", "binding:host_id": "%s", "binding:profile": %s}}`

func TestPortPlugBindsHere(t *testing.T) {
	for _, host := range []string{"", "cmpt1"} {
		f := newFake(t, map[string]reply{
			"GET /v2.0/ports?name=vm2": {200, `{"ports": [{"id": "p-2"}]}`},
			"GET /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, host, `{"no_ip_config": "true"}`)},
			"GET /":                    {200, `{"versions": []}`},
			"PUT /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, "cmpt1", `{"netns": "vm2"}`)},
		})
		mustRun(t, "--socket", f.socket, "port", "plug", "vm2", "--netns", "vm2")
		r := f.requests()
		last := r[len(r)-1]
		want := map[string]any{"port": map[string]any{"binding:host_id": "cmpt1",
			"binding:profile": map[string]any{"netns": "vm2", "no_ip_config": "true"}}}
		if last.Method != "PUT" || !reflect.DeepEqual(last.Body, want) {
			t.Errorf("host %q: last request %+v", host, last)
		}
	}
}

func TestPortPlugRefuses(t *testing.T) {
	for _, tc := range []struct{ host, prof, args, want string }{
		{"cmpt2", `{}`, "--netns x", "bound to host cmpt2, not cmpt1"},
		{"cmpt1", `{"device": "tap1"}`, "--netns x", "already plugged (device=tap1)"},
		{"cmpt1", `{}`, "", "exactly one of --netns or --device"},
		{"cmpt1", `{}`, "--netns x --device y", "exactly one of --netns or --device"},
	} {
		f := newFake(t, map[string]reply{
			"GET /v2.0/ports?name=vm2": {200, `{"ports": [{"id": "p-2"}]}`},
			"GET /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, tc.host, tc.prof)},
			"GET /":                    {200, `{"versions": []}`},
		})
		args := append([]string{"--socket", f.socket, "port", "plug", "vm2"}, strings.Fields(tc.args)...)
		_, errOut, code := run(t, args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%+v: code %d err %q", tc, code, errOut)
		}
		for _, r := range f.requests() {
			if r.Method != "GET" {
				t.Errorf("%+v: refused plug still sent %s %s", tc, r.Method, r.URI)
			}
		}
	}
}

func TestPortUnplugKeepsOtherProfileKeys(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/ports?name=vm2": {200, `{"ports": [{"id": "p-2"}]}`},
		"GET /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, "cmpt1", `{"netns": "vm2", "no_ip_config": "true"}`)},
		"PUT /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, "cmpt1", `{"no_ip_config": "true"}`)},
	})
	mustRun(t, "--socket", f.socket, "port", "unplug", "vm2")
	r := f.requests()
	want := map[string]any{"port": map[string]any{"binding:profile": map[string]any{"no_ip_config": "true"}}}
	if !reflect.DeepEqual(r[len(r)-1].Body, want) {
		t.Errorf("requests %+v", r)
	}
	f2 := newFake(t, map[string]reply{
		"GET /v2.0/ports?name=vm2": {200, `{"ports": [{"id": "p-2"}]}`},
		"GET /v2.0/ports/p-2":      {200, fmt.Sprintf(unplugged, "cmpt1", `{}`)},
	})
	if _, errOut, code := run(t, "--socket", f2.socket, "port", "unplug", "vm2"); code != 1 || !strings.Contains(errOut, "not plugged") {
		t.Errorf("unplug of unplugged port: code %d err %q", code, errOut)
	}
}

func TestPortListFiltersByNetwork(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web":    {200, `{"networks": [` + netWeb + `]}`},
		"GET /v2.0/ports?network_id=n-1": {200, `{"ports": [` + portBody + `]}`},
	})
	out := mustRun(t, "--socket", f.socket, "port", "list", "--network", "web")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("output:\n%s", out)
	}
	// No port_security_enabled in the answer (an older agent): Neutron's
	// default, true.
	want := []string{"p-1", "vm1", "n-1", "fa:16:3e:00:00:01", "10.0.0.5", "netns=vm1", "cmpt1", "True", "-", "ACTIVE"}
	if got := strings.Fields(lines[1]); !reflect.DeepEqual(got, want) {
		t.Errorf("row = %v", got)
	}
}

func TestAgentList(t *testing.T) {
	body := `{"agents": [
		{"id": "a-1", "agent_type": "bnet agent", "host": "cmpt1", "alive": true, "admin_state_up": true,
		 "binary": "bnet", "configurations": {"tunneling_ip": "192.168.120.21", "roles": ["compute"],
		 "physnets": {"public": "eth-ext"}}},
		{"id": "a-2", "agent_type": "bnet agent", "host": "net1", "alive": false, "admin_state_up": true,
		 "binary": "bnet", "configurations": {"local_ip": "192.168.120.11", "roles": ["network", "compute"]}}]}`
	f := newFake(t, map[string]reply{"GET /v2.0/agents": {200, body}})
	out := mustRun(t, "--socket", f.socket, "agent", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "VTEP") || !strings.Contains(lines[0], "ALIVE") {
		t.Errorf("header = %q", lines[0])
	}
	if !strings.Contains(lines[1], "192.168.120.21") || !strings.Contains(lines[1], ":-)") || !strings.Contains(lines[1], "public:eth-ext") {
		t.Errorf("row 1 = %q", lines[1])
	}
	if !strings.Contains(lines[2], "192.168.120.11") || !strings.Contains(lines[2], "xxx") || !strings.Contains(lines[2], "network,compute") {
		t.Errorf("row 2 = %q", lines[2])
	}
	if out := mustRun(t, "--socket", f.socket, "agent", "list", "-o", "json"); out != indent(t, body) {
		t.Errorf("json:\n%s", out)
	}
}

func TestAgentRejectsUnknownSubcommand(t *testing.T) {
	_, errOut, code := run(t, "agent", "lsit")
	if code != 1 || errOut != "bnet: agent: unknown subcommand \"lsit\"\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestSocketFromEnv(t *testing.T) {
	f := newFake(t, map[string]reply{"GET /v2.0/subnets": {200, `{"subnets": []}`}})
	t.Setenv("BNET_SOCKET", f.socket)
	if out := mustRun(t, "subnet", "list"); out != "No entries found.\n" {
		t.Errorf("out = %q", out)
	}
	// An explicit flag after the subcommand beats the environment.
	_, errOut, code := run(t, "subnet", "list", "--socket", "/nonexistent.sock")
	if code != 1 || !strings.Contains(errOut, "list subnets") {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestBadOutputFormat(t *testing.T) {
	_, errOut, code := run(t, "-o", "yaml", "fdb", "list")
	if code != 1 || !strings.Contains(errOut, `unknown output format "yaml"`) {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestUnknownFlagIsOneErrorLine(t *testing.T) {
	out, errOut, code := run(t, "network", "list", "--bogus")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "bnet: flag provided but not defined: -bogus") {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
}

func TestVersion(t *testing.T) {
	if out := mustRun(t, "--version"); !strings.Contains(out, "1.2.3-test") {
		t.Errorf("out = %q", out)
	}
}

func TestMapViewMissingPins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	for _, view := range []string{"fdb", "arp", "tunnel", "map", "drop"} {
		out, errOut, code := run(t, "--pin-dir", dir, view, "list")
		want := "bnet: no pinned maps in " + dir
		if code != 1 || out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("%s: code %d out %q err %q", view, code, out, errOut)
		}
	}
	t.Setenv("BNET_PIN_DIR", dir)
	if _, errOut, _ := run(t, "fdb", "list", "-o", "json"); !strings.Contains(errOut, dir) {
		t.Errorf("BNET_PIN_DIR ignored: %q", errOut)
	}
}

func TestInterspersed(t *testing.T) {
	app := NewApp("x", io.Discard, io.Discard)
	for _, tc := range []struct{ in, want string }{
		{"bnet network create web --type vxlan --segment 5", "bnet network create --type vxlan --segment 5 web"},
		{"bnet -o json port create vm --netns=a --network n", "bnet -o json port create --netns=a --network n vm"},
		{"bnet network create web --external --mtu 9000", "bnet network create --external --mtu 9000 web"},
		{"bnet agent --config f list", "bnet agent --config f list"},
		{"bnet network show -- -weird", "bnet network show -- -weird"},
		{"bnet network show list", "bnet network show list"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAgentRunsWithConfig(t *testing.T) {
	// A missing config must reach agent.Run and come back as one error line:
	// that proves `bnet agent --config F` runs the agent rather than a group help.
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := Run(ctx, NewApp("t", &stdout, &stderr), []string{"bnet", "agent", "--config", missing})
	if code != 1 || !strings.HasPrefix(stderr.String(), "bnet: ") || !strings.Contains(stderr.String(), "missing.yaml") {
		t.Errorf("code %d stderr %q", code, stderr.String())
	}
	t.Setenv("BNET_CONFIG", missing)
	_, errOut, code := run(t, "agent")
	if code != 1 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("BNET_CONFIG: code %d stderr %q", code, errOut)
	}
}

const (
	routerR1 = `{"id": "r-1", "name": "r1", "distributed": true, "ha": false, "status": "ACTIVE", "admin_state_up": true,
		"external_gateway_info": null, "routes": [], "tags": [], "project_id": "p1"}`
	routerR2 = `{"id": "r-2", "name": "r2", "distributed": true, "ha": false, "status": "ACTIVE", "admin_state_up": true}`
	// rifPort is r1's interface on s-1; vmPort shares the device_id but
	// is no router interface (a client may set any device_id).
	rifPort = `{"id": "p-9", "network_id": "n-1", "mac_address": "fa:16:3e:00:00:09", "device_id": "r-1",
		"device_owner": "network:router_interface_distributed", "binding:host_id": "", "status": "ACTIVE",
		"fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.1"}]}`
	vmPort    = `{"id": "p-8", "device_id": "r-1", "device_owner": "compute:nova", "fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.8"}]}`
	ifaceInfo = `{"id": "r-1", "port_id": "p-9", "subnet_id": "s-1", "subnet_ids": ["s-1"], "network_id": "n-1", "project_id": "p1", "tenant_id": "p1"}`
	// rifQuery is how `router list` asks for every router interface at once.
	rifQuery = "device_owner=network%3Arouter_interface_distributed&device_owner=network%3Arouter_interface"
)

func TestRouterCreate(t *testing.T) {
	refusal := `{"NeutronError": {"type": "InvalidInput", "message": "Invalid input for operation: HA routers are not supported", "detail": ""}}`
	f := newFake(t, map[string]reply{"POST /v2.0/routers": {201, `{"router": ` + routerR1 + `}`}})
	out := mustRun(t, "--socket", f.socket, "router", "create", "r1", "--distributed")
	want := map[string]any{"router": map[string]any{"name": "r1", "distributed": true}}
	if r := f.requests(); len(r) != 1 || r[0].Method != "POST" || r[0].URI != "/v2.0/routers" || !reflect.DeepEqual(r[0].Body, want) {
		t.Errorf("requests = %+v", r)
	}
	for _, s := range []string{"Created a new router:", "distributed", "True", "r-1"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	// Without --distributed nothing is sent for it: the agent's default
	// (legacy) applies, and a refusal is what the operator reads.
	f = newFake(t, map[string]reply{"POST /v2.0/routers": {400, refusal}})
	out, errOut, code := run(t, "--socket", f.socket, "router", "create", "r2")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "bnet: Invalid input for operation: HA routers are not supported") {
		t.Errorf("code %d out %q err %q", code, out, errOut)
	}
	want = map[string]any{"router": map[string]any{"name": "r2"}}
	if r := f.requests(); len(r) != 1 || !reflect.DeepEqual(r[0].Body, want) {
		t.Errorf("requests = %+v", r)
	}
}

func TestRouterList(t *testing.T) {
	body := `{"routers": [` + routerR1 + `, ` + routerR2 + `]}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/routers":           {200, body},
		"GET /v2.0/ports?" + rifQuery: {200, `{"ports": [` + rifPort + `]}`},
	})
	out := mustRun(t, "--socket", f.socket, "router", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows:\n%s", out)
	}
	for i, want := range [][]string{
		{"ID", "NAME", "DISTRIBUTED", "STATUS", "INTERFACES"},
		{"r-1", "r1", "True", "ACTIVE", "1"},
		{"r-2", "r2", "True", "ACTIVE", "0"},
	} {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("line %d = %v, want %v", i, got, want)
		}
	}
	want := []request{{Method: "GET", URI: "/v2.0/ports?" + rifQuery}, {Method: "GET", URI: "/v2.0/routers"}}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}

	// -o json is the routers body alone: no port query.
	f = newFake(t, map[string]reply{"GET /v2.0/routers": {200, body}})
	if out := mustRun(t, "--socket", f.socket, "router", "list", "-o", "json"); out != indent(t, body) {
		t.Errorf("json:\n%s", out)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("json list sent %d requests", n)
	}
}

func TestRouterShowWithInterfaces(t *testing.T) {
	routes := map[string]reply{
		"GET /v2.0/routers?name=r1":     {200, `{"routers": [` + routerR1 + `]}`},
		"GET /v2.0/routers/r-1":         {200, `{"router": ` + routerR1 + `}`},
		"GET /v2.0/ports?device_id=r-1": {200, `{"ports": [` + rifPort + `, ` + vmPort + `]}`},
		"GET /v2.0/routers?name=r-2":    {200, `{"routers": []}`},
		"GET /v2.0/routers/r-2":         {200, `{"router": ` + routerR2 + `}`},
		"GET /v2.0/ports?device_id=r-2": {200, `{"ports": []}`},
	}
	f := newFake(t, routes)
	out := mustRun(t, "--socket", f.socket, "router", "show", "r1")
	want := []request{
		{Method: "GET", URI: "/v2.0/routers?name=r1"},
		{Method: "GET", URI: "/v2.0/routers/r-1"},
		{Method: "GET", URI: "/v2.0/ports?device_id=r-1"},
		{Method: "GET", URI: "/v2.0/routers/r-1/l3-agents"},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	field, ifaces, ok := strings.Cut(out, "\nInterfaces:\n")
	if !ok || !strings.Contains(field, "distributed") || !strings.Contains(field, "r-1") {
		t.Fatalf("output:\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(ifaces, "\n"), "\n")
	if len(lines) != 2 || !reflect.DeepEqual(strings.Fields(lines[1]), []string{"p-9", "interface", "s-1", "10.0.0.1", "fa:16:3e:00:00:09", "ACTIVE"}) {
		t.Errorf("interfaces:\n%s", ifaces)
	}
	if strings.Contains(out, "Gateway:") {
		t.Errorf("a router without a gateway shows one:\n%s", out)
	}

	out = mustRun(t, "--socket", f.socket, "router", "show", "r1", "-o", "json")
	if wantJSON := indent(t, `{"gateway_ports": [], "interfaces": [`+rifPort+`], "router": `+routerR1+`, "snat_ports": []}`); out != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", out, wantJSON)
	}
	out = mustRun(t, "--socket", f.socket, "router", "show", "r-2", "-o", "json")
	if got := jsonOf(t, out)["interfaces"]; !reflect.DeepEqual(got, []any{}) {
		t.Errorf("no interfaces must be [], got %v", got)
	}
	if out := mustRun(t, "--socket", f.socket, "router", "show", "r-2"); !strings.HasSuffix(out, "Interfaces:\n"+noEntries+"\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestRouterInterfaceCommands(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/routers?name=r1":                     {200, `{"routers": [` + routerR1 + `]}`},
		"GET /v2.0/subnets?name=web-v4":                 {200, `{"subnets": [{"id": "s-1", "name": "web-v4"}]}`},
		"PUT /v2.0/routers/r-1/add_router_interface":    {200, ifaceInfo},
		"PUT /v2.0/routers/r-1/remove_router_interface": {200, ifaceInfo},
	})
	out := mustRun(t, "--socket", f.socket, "router", "add-interface", "r1", "web-v4")
	want := []request{
		{Method: "GET", URI: "/v2.0/routers?name=r1"},
		{Method: "GET", URI: "/v2.0/subnets?name=web-v4"},
		{Method: "PUT", URI: "/v2.0/routers/r-1/add_router_interface", Body: map[string]any{"subnet_id": "s-1"}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	for _, s := range []string{"Added subnet web-v4 to router r1:", "port_id", "p-9", "network_id", "n-1"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	out = mustRun(t, "--socket", f.socket, "router", "remove-interface", "r1", "web-v4", "-o", "json")
	if out != indent(t, ifaceInfo) {
		t.Errorf("json:\n%s", out)
	}
	if r := f.requests(); r[len(r)-1].URI != "/v2.0/routers/r-1/remove_router_interface" || !reflect.DeepEqual(r[len(r)-1].Body, map[string]any{"subnet_id": "s-1"}) {
		t.Errorf("last request %+v", r[len(r)-1])
	}

	n := len(f.requests())
	for _, args := range [][]string{{"r1"}, {}, {"r1", "web-v4", "extra"}} {
		_, errOut, code := run(t, append([]string{"--socket", f.socket, "router", "add-interface"}, args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "bnet: add-interface: ") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}
}

func TestRouterDeleteInUse(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/routers?name=r1": {200, `{"routers": [` + routerR1 + `]}`},
		"DELETE /v2.0/routers/r-1":  {409, `{"NeutronError": {"type": "RouterInUse", "message": "Router r-1 still has ports", "detail": ""}}`},
	})
	_, errOut, code := run(t, "--socket", f.socket, "router", "delete", "r1")
	if code != 1 || errOut != "bnet: Router r-1 still has ports\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
	if r := f.requests(); len(r) != 2 || r[1].Method != "DELETE" || r[1].URI != "/v2.0/routers/r-1" {
		t.Errorf("requests = %+v", r)
	}
}

const (
	// routerGW is r1 with a gateway on n-pub; gwPort and snatPort are its
	// gateway port and its SNAT port on s-1.
	routerGW = `{"id": "r-1", "name": "r1", "distributed": true, "status": "ACTIVE", "admin_state_up": true,
		"external_gateway_info": {"network_id": "n-pub", "enable_snat": true, "external_fixed_ips": [{"subnet_id": "s-pub", "ip_address": "192.0.2.105"}]}}`
	gwPort = `{"id": "p-gw", "network_id": "n-pub", "mac_address": "fa:16:3e:00:00:0a", "device_id": "r-1",
		"device_owner": "network:router_gateway", "binding:host_id": "", "status": "ACTIVE",
		"fixed_ips": [{"subnet_id": "s-pub", "ip_address": "192.0.2.105"}]}`
	snatPort = `{"id": "p-sg", "network_id": "n-1", "mac_address": "fa:16:3e:00:00:0b", "device_id": "r-1",
		"device_owner": "network:router_centralized_snat", "binding:host_id": "", "status": "ACTIVE",
		"fixed_ips": [{"subnet_id": "s-1", "ip_address": "10.0.0.5"}]}`
)

func TestRouterCreateWithGateway(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=public": {200, `{"networks": [{"id": "n-pub", "name": "public"}]}`},
		"POST /v2.0/routers":             {201, `{"router": ` + routerGW + `}`},
	})
	mustRun(t, "--socket", f.socket, "router", "create", "r1", "--distributed", "--external-network", "public")
	want := []request{
		{Method: "GET", URI: "/v2.0/networks?name=public"},
		{Method: "POST", URI: "/v2.0/routers", Body: map[string]any{"router": map[string]any{"name": "r1", "distributed": true,
			"external_gateway_info": map[string]any{"network_id": "n-pub"}}}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
}

func TestRouterSetClearGateway(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/routers?name=r1":      {200, `{"routers": [` + routerR1 + `]}`},
		"GET /v2.0/networks?name=public": {200, `{"networks": [{"id": "n-pub", "name": "public"}]}`},
		"PUT /v2.0/routers/r-1":          {200, `{"router": ` + routerGW + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "router", "set-gateway", "r1", "public")
	want := []request{
		{Method: "GET", URI: "/v2.0/routers?name=r1"},
		{Method: "GET", URI: "/v2.0/networks?name=public"},
		{Method: "PUT", URI: "/v2.0/routers/r-1", Body: map[string]any{"router": map[string]any{
			"external_gateway_info": map[string]any{"network_id": "n-pub", "enable_snat": true}}}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	for _, s := range []string{"Set the gateway of router r1:", "external_gateway_info", "192.0.2.105"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}

	// Flags anywhere; --no-snat and --ip go into the request.
	out = mustRun(t, "--socket", f.socket, "router", "set-gateway", "--no-snat", "r1", "public", "--ip", "192.0.2.105", "-o", "json")
	r := f.requests()
	if last := r[len(r)-1]; !reflect.DeepEqual(last.Body, map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{
		"network_id": "n-pub", "enable_snat": false, "external_fixed_ips": []any{map[string]any{"ip_address": "192.0.2.105"}}}}}) {
		t.Errorf("request %+v", last)
	}
	if out != indent(t, `{"router": `+routerGW+`}`) {
		t.Errorf("json:\n%s", out)
	}

	n := len(f.requests())
	out = mustRun(t, "--socket", f.socket, "router", "clear-gateway", "r1")
	r = f.requests()
	want = []request{
		{Method: "GET", URI: "/v2.0/routers?name=r1"},
		{Method: "PUT", URI: "/v2.0/routers/r-1", Body: map[string]any{"router": map[string]any{"external_gateway_info": map[string]any{}}}},
	}
	if !reflect.DeepEqual(r[n:], want) {
		t.Errorf("requests = %+v", r[n:])
	}
	if !strings.HasPrefix(out, "Cleared the gateway of router r1:\n") {
		t.Errorf("output:\n%s", out)
	}

	// Bad arguments never reach the agent.
	n = len(f.requests())
	for _, args := range [][]string{{"set-gateway", "r1"}, {"set-gateway", "r1", "public", "x"}, {"set-gateway", "r1", "public", "--ip", "192.0.2"},
		{"clear-gateway"}, {"clear-gateway", "r1", "public"}} {
		_, errOut, code := run(t, append([]string{"--socket", f.socket, "router"}, args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "bnet: "+args[0]+": ") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}

	// The agent's refusal is what the operator reads.
	f = newFake(t, map[string]reply{
		"GET /v2.0/routers?name=r1":      {200, `{"routers": [` + routerR1 + `]}`},
		"GET /v2.0/networks?name=n-priv": {200, `{"networks": []}`},
		"PUT /v2.0/routers/r-1":          {400, `{"NeutronError": {"type": "BadRequest", "message": "Bad router request: network n-priv is not an external network", "detail": ""}}`},
	})
	_, errOut, code := run(t, "--socket", f.socket, "router", "set-gateway", "r1", "n-priv")
	if code != 1 || errOut != "bnet: Bad router request: network n-priv is not an external network\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestRouterShowWithGateway(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/routers?name=r1":     {200, `{"routers": [` + routerGW + `]}`},
		"GET /v2.0/routers/r-1":         {200, `{"router": ` + routerGW + `}`},
		"GET /v2.0/ports?device_id=r-1": {200, `{"ports": [` + snatPort + `, ` + gwPort + `, ` + rifPort + `]}`},
	})
	out := mustRun(t, "--socket", f.socket, "router", "show", "r1")
	if !strings.Contains(out, "\nGateway: network n-pub, ip 192.0.2.105, SNAT on\n") {
		t.Errorf("no gateway line:\n%s", out)
	}
	_, ports, _ := strings.Cut(out, "\nInterfaces:\n")
	lines := strings.Split(strings.TrimRight(ports, "\n"), "\n")
	want := [][]string{
		{"PORT", "ID", "ROLE", "SUBNET", "ID", "IP", "ADDRESS", "MAC", "ADDRESS", "STATUS"},
		{"p-9", "interface", "s-1", "10.0.0.1", "fa:16:3e:00:00:09", "ACTIVE"},
		{"p-gw", "gateway", "s-pub", "192.0.2.105", "fa:16:3e:00:00:0a", "ACTIVE"},
		{"p-sg", "snat", "s-1", "10.0.0.5", "fa:16:3e:00:00:0b", "ACTIVE"},
	}
	if len(lines) != len(want) {
		t.Fatalf("ports:\n%s", ports)
	}
	for i := range want {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d = %v, want %v", i, got, want[i])
		}
	}
	out = mustRun(t, "--socket", f.socket, "router", "show", "r1", "-o", "json")
	wantJSON := indent(t, `{"gateway_ports": [`+gwPort+`], "interfaces": [`+rifPort+`], "router": `+routerGW+`, "snat_ports": [`+snatPort+`]}`)
	if out != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", out, wantJSON)
	}
}

func TestNetworkCreateExternalFlat(t *testing.T) {
	f := newFake(t, map[string]reply{"POST /v2.0/networks": {201, `{"network": ` + netDB + `}`}})
	mustRun(t, "--socket", f.socket, "network", "create", "public", "--type", "flat", "--physnet", "public", "--external")
	want := map[string]any{"network": map[string]any{"name": "public", "provider:network_type": "flat",
		"provider:physical_network": "public", "router:external": true}}
	if r := f.requests(); len(r) != 1 || !reflect.DeepEqual(r[0].Body, want) {
		t.Errorf("requests = %+v", r)
	}
}

func TestKeygen(t *testing.T) {
	a := strings.TrimSpace(mustRun(t, "keygen"))
	b := strings.TrimSpace(mustRun(t, "keygen"))
	k, err := base64.StdEncoding.DecodeString(a)
	if err != nil || len(k) != 32 || a == b {
		t.Fatalf("keys %q %q: %v", a, b, err)
	}
}

// TestAgentKernel: the report lists every feature with its kernel and
// state; a missing need fails the command with one line naming it, a
// missing path feature does not.
func TestAgentKernel(t *testing.T) {
	feats := []agent.KernelFeature{
		{What: "helper bpf_redirect_neigh", Since: "5.10", State: "yes", Need: true},
		{What: "bpf_skb_adjust_room flag BPF_F_ADJ_ROOM_ENCAP_L2_ETH", Since: "5.13", State: "yes", Need: true},
		{What: "TCX links", Since: "6.6", State: "missing"},
	}
	orig := kernelProbe
	t.Cleanup(func() { kernelProbe = orig })
	kernelProbe = func() (string, []agent.KernelFeature, error) {
		return "6.1.0-test", feats, agent.MissingNeeds("6.1.0-test", feats)
	}
	out := mustRun(t, "agent", "kernel")
	if !strings.HasPrefix(out, "kernel 6.1.0-test\n") || !strings.Contains(out, "TCX links") ||
		!regexp.MustCompile(`bpf_redirect_neigh\s+5\.10\s+needed\s+yes`).MatchString(out) ||
		!regexp.MustCompile(`TCX links\s+6\.6\s+path\s+missing`).MatchString(out) {
		t.Fatalf("agent kernel:\n%s", out)
	}
	var got struct {
		Kernel   string                `json:"kernel"`
		Features []agent.KernelFeature `json:"features"`
		Runs     bool                  `json:"runs"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-o", "json", "agent", "kernel")), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kernel != "6.1.0-test" || len(got.Features) != 3 || !got.Runs {
		t.Fatalf("agent kernel json: %+v", got)
	}

	feats[1].State = "missing"
	_, stderr, code := run(t, "agent", "kernel")
	if code == 0 || !strings.Contains(stderr, "kernel 6.1.0-test cannot run the bnet datapath: missing bpf_skb_adjust_room flag BPF_F_ADJ_ROOM_ENCAP_L2_ETH (kernel >= 5.13)") {
		t.Fatalf("a missing need: exit %d, %q", code, stderr)
	}
}
