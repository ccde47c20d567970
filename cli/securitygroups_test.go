package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bnet-dev/bnet/api"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

const (
	sgWeb = `{"id": "g-1", "name": "web", "description": "web servers", "project_id": "admin", "tenant_id": "admin",
		"stateful": true, "tags": [], "revision_number": 1, "security_group_rules": [` + ruleSSH + `, ` + ruleEgress + `]}`
	ruleSSH = `{"id": "r-1", "security_group_id": "g-1", "project_id": "admin", "direction": "ingress", "ethertype": "IPv4",
		"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/24", "remote_group_id": null, "description": ""}`
	ruleEgress = `{"id": "r-2", "security_group_id": "g-1", "project_id": "admin", "direction": "egress", "ethertype": "IPv6",
		"protocol": null, "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null, "description": ""}`
	ruleICMP = `{"id": "r-3", "security_group_id": "g-1", "project_id": "admin", "direction": "ingress", "ethertype": "IPv4",
		"protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_ip_prefix": null, "remote_group_id": "g-1", "description": "ping"}`
)

func TestSGCreate(t *testing.T) {
	f := newFake(t, map[string]reply{"POST /v2.0/security-groups": {201, `{"security_group": ` + sgWeb + `}`}})
	out := mustRun(t, "--socket", f.socket, "sg", "create", "web", "--description", "web servers", "--project", "p1")
	want := map[string]any{"security_group": map[string]any{"name": "web", "description": "web servers", "project_id": "p1"}}
	if r := f.requests(); len(r) != 1 || r[0].URI != "/v2.0/security-groups" || !reflect.DeepEqual(r[0].Body, want) {
		t.Errorf("requests = %+v", f.requests())
	}
	for _, s := range []string{"Created a new security_group:", "web servers", "security_group_rules"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	mustRun(t, "--socket", f.socket, "security-group", "create", "db")
	if r := f.requests(); len(r) != 2 || !reflect.DeepEqual(r[1].Body, map[string]any{"security_group": map[string]any{"name": "db"}}) {
		t.Errorf("requests = %+v", r)
	}
	for _, args := range [][]string{{"create"}, {"create", "a", "b"}} {
		if _, errOut, code := run(t, append([]string{"--socket", f.socket, "sg"}, args...)...); code != 1 || !strings.HasPrefix(errOut, "bnet: ") {
			t.Errorf("%v: code %d err %q", args, code, errOut)
		}
	}
	if len(f.requests()) != 2 {
		t.Error("bad arguments reached the agent")
	}
}

func TestSGListShowDelete(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/security-groups":               {200, `{"security_groups": [` + sgWeb + `]}`},
		"GET /v2.0/security-groups?project_id=p1": {200, `{"security_groups": []}`},
		"GET /v2.0/security-groups?name=web":      {200, `{"security_groups": [` + sgWeb + `]}`},
		"GET /v2.0/security-groups/g-1":           {200, `{"security_group": ` + sgWeb + `}`},
		"DELETE /v2.0/security-groups/g-1":        {204, ``},
		"GET /v2.0/security-groups?name=default":  {200, `{"security_groups": [{"id": "d-1"}, {"id": "d-2"}]}`},
		"GET /v2.0/security-groups?name=d-1":      {200, `{"security_groups": []}`},
		"DELETE /v2.0/security-groups/d-1":        {409, `{"NeutronError": {"type": "SecurityGroupCannotRemoveDefault", "message": "Removing default security group not allowed.", "detail": ""}}`},
		"GET /v2.0/security-groups?name=in-use":   {200, `{"security_groups": [{"id": "g-2"}]}`},
		"DELETE /v2.0/security-groups/g-2":        {409, `{"NeutronError": {"type": "SecurityGroupInUse", "message": "Security Group g-2 in use (port p-1).", "detail": ""}}`},
	})
	out := mustRun(t, "--socket", f.socket, "sg", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 || !reflect.DeepEqual(strings.Fields(lines[0]), []string{"ID", "NAME", "PROJECT", "RULES", "DESCRIPTION"}) ||
		!reflect.DeepEqual(strings.Fields(lines[1]), []string{"g-1", "web", "admin", "2", "web", "servers"}) {
		t.Errorf("list:\n%s", out)
	}
	if out := mustRun(t, "--socket", f.socket, "sg", "list", "--project", "p1"); out != "No entries found.\n" {
		t.Errorf("project list %q", out)
	}

	out = mustRun(t, "--socket", f.socket, "sg", "show", "web")
	for _, s := range []string{"description      web servers\n", "RULE ID", "REMOTE", "\nr-1      ingress    IPv4       tcp       22     10.0.0.0/24  -\n",
		"\nr-2      egress     IPv6       any       any    any          -\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("show lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "security_group_rules") {
		t.Errorf("show prints the rules as a field:\n%s", out)
	}
	if out := mustRun(t, "--socket", f.socket, "sg", "show", "web", "-o", "json"); out != indent(t, `{"security_group": `+sgWeb+`}`) {
		t.Errorf("json:\n%s", out)
	}

	if out := mustRun(t, "--socket", f.socket, "sg", "delete", "web"); out != "Deleted security group: web\n" {
		t.Errorf("delete %q", out)
	}
	if r := f.requests(); r[len(r)-1].Method != "DELETE" || r[len(r)-1].URI != "/v2.0/security-groups/g-1" {
		t.Errorf("requests = %+v", r)
	}
	// Every project has a group named default: the name is ambiguous.
	n := len(f.requests())
	if _, errOut, code := run(t, "--socket", f.socket, "sg", "delete", "default"); code != 1 || errOut != "bnet: multiple security groups named default, use the ID\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
	if len(f.requests()) != n+1 {
		t.Error("an ambiguous name went further than the lookup")
	}
	// The agent's refusals are what the operator reads.
	for arg, want := range map[string]string{"d-1": "bnet: Removing default security group not allowed.\n",
		"in-use": "bnet: Security Group g-2 in use (port p-1).\n"} {
		if _, errOut, code := run(t, "--socket", f.socket, "sg", "delete", arg); code != 1 || errOut != want {
			t.Errorf("%s: code %d err %q", arg, code, errOut)
		}
	}
}

func TestSGRuleAdd(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/security-groups?name=web":   {200, `{"security_groups": [{"id": "g-1"}]}`},
		"GET /v2.0/security-groups?name=other": {200, `{"security_groups": [{"id": "g-2"}]}`},
		"POST /v2.0/security-group-rules":      {201, `{"security_group_rule": ` + ruleSSH + `}`},
	})
	out := mustRun(t, "--socket", f.socket, "sg", "rule", "add", "web", "--direction", "ingress", "--protocol", "TCP",
		"--port-min", "22", "--port-max", "22", "--remote-ip", "10.0.0.0/24")
	if out != "r-1\n" {
		t.Errorf("output %q, want the rule id", out)
	}
	want := []request{
		{Method: "GET", URI: "/v2.0/security-groups?name=web"},
		{Method: "POST", URI: "/v2.0/security-group-rules", Body: map[string]any{"security_group_rule": map[string]any{
			"security_group_id": "g-1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
			"port_range_min": 22.0, "port_range_max": 22.0, "remote_ip_prefix": "10.0.0.0/24"}}},
	}
	if got := f.requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %+v", got)
	}
	if out := mustRun(t, "--socket", f.socket, "-o", "json", "sg", "rule", "add", "web", "--direction", "ingress"); out != indent(t, `{"security_group_rule": `+ruleSSH+`}`) {
		t.Errorf("json:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		want map[string]any
	}{
		// The family of --remote-ip gives the ethertype; a bare address
		// is a host prefix.
		{[]string{"--direction", "egress", "--remote-ip", "fd00::1"},
			map[string]any{"direction": "egress", "ethertype": "IPv6", "remote_ip_prefix": "fd00::1/128"}},
		{[]string{"--direction", "ingress", "--ethertype", "ipv6", "--protocol", "58", "--description", "nd"},
			map[string]any{"direction": "ingress", "ethertype": "IPv6", "protocol": "58", "description": "nd"}},
		{[]string{"--direction", "ingress", "--protocol", "icmp", "--port-min", "8", "--remote-group", "other"},
			map[string]any{"direction": "ingress", "protocol": "icmp", "port_range_min": 8.0, "remote_group_id": "g-2"}},
	} {
		n := len(f.requests())
		mustRun(t, append([]string{"--socket", f.socket, "sg", "rule", "add", "web"}, c.args...)...)
		r := f.requests()
		c.want["security_group_id"] = "g-1"
		if last := r[len(r)-1]; last.Method != "POST" || !reflect.DeepEqual(last.Body, map[string]any{"security_group_rule": c.want}) {
			t.Errorf("%v: requests = %+v", c.args, r[n:])
		}
	}

	// Bad arguments never reach the agent.
	n := len(f.requests())
	for _, c := range []struct{ args, want string }{
		{"web", "--direction must be ingress or egress"},
		{"web --direction in", "--direction must be ingress or egress"},
		{"--direction ingress", "missing SG"},
		{"web --direction ingress --ethertype IPv5", "--ethertype must be IPv4 or IPv6"},
		{"web --direction ingress --protocol tcpp", "unknown --protocol"},
		{"web --direction ingress --protocol 256", "unknown --protocol"},
		{"web --direction ingress --remote-ip 10.0.0.0/33", "bad --remote-ip"},
		{"web --direction ingress --remote-ip 10.0.0.0/8 --remote-group web", "exclude each other"},
		{"web --direction ingress --protocol tcp --port-min 70000 --port-max 70000", "out of range"},
	} {
		_, errOut, code := run(t, append([]string{"--socket", f.socket, "sg", "rule", "add"}, strings.Fields(c.args)...)...)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: code %d err %q", c.args, code, errOut)
		}
	}
	if len(f.requests()) != n {
		t.Errorf("bad arguments reached the agent: %+v", f.requests()[n:])
	}
}

func TestSGRuleListDelete(t *testing.T) {
	all := `{"security_group_rules": [` + ruleSSH + `, ` + ruleEgress + `, ` + ruleICMP + `]}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/security-group-rules":                       {200, all},
		"GET /v2.0/security-groups?name=web":                   {200, `{"security_groups": [{"id": "g-1"}]}`},
		"GET /v2.0/security-group-rules?security_group_id=g-1": {200, all},
		"DELETE /v2.0/security-group-rules/r-1":                {204, ``},
		"DELETE /v2.0/security-group-rules/nope":               {404, `{"NeutronError": {"type": "SecurityGroupRuleNotFound", "message": "Security group rule nope does not exist", "detail": ""}}`},
	})
	out := mustRun(t, "--socket", f.socket, "sg", "rule", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("list:\n%s", out)
	}
	for i, want := range [][]string{
		{"ID", "SECURITY", "GROUP", "ID", "DIRECTION", "ETHERTYPE", "PROTOCOL", "PORTS", "REMOTE", "DESCRIPTION"},
		{"r-1", "g-1", "ingress", "IPv4", "tcp", "22", "10.0.0.0/24", "-"},
		{"r-2", "g-1", "egress", "IPv6", "any", "any", "any", "-"},
		{"r-3", "g-1", "ingress", "IPv4", "icmp", "type", "8", "code", "0", "group", "g-1", "ping"},
	} {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("line %d = %v, want %v", i, got, want)
		}
	}
	mustRun(t, "--socket", f.socket, "sg", "rule", "list", "web")
	if r := f.requests(); r[len(r)-1].URI != "/v2.0/security-group-rules?security_group_id=g-1" {
		t.Errorf("requests = %+v", r)
	}
	if out := mustRun(t, "--socket", f.socket, "sg", "rule", "list", "-o", "json"); out != indent(t, all) {
		t.Errorf("json:\n%s", out)
	}

	// Rules have no names: the argument is the ID, sent as it is.
	n := len(f.requests())
	if out := mustRun(t, "--socket", f.socket, "sg", "rule", "delete", "r-1"); out != "Deleted security group rule: r-1\n" {
		t.Errorf("delete %q", out)
	}
	if r := f.requests()[n:]; len(r) != 1 || r[0].Method != "DELETE" || r[0].URI != "/v2.0/security-group-rules/r-1" {
		t.Errorf("requests = %+v", r)
	}
	if _, errOut, code := run(t, "--socket", f.socket, "sg", "rule", "delete", "nope"); code != 1 || errOut != "bnet: Security group rule nope does not exist\n" {
		t.Errorf("code %d err %q", code, errOut)
	}
	if _, errOut, code := run(t, "--socket", f.socket, "sg", "rule", "list", "a", "b"); code != 1 || !strings.Contains(errOut, `unexpected argument "b"`) {
		t.Errorf("code %d err %q", code, errOut)
	}
}

func TestPortCreateSG(t *testing.T) {
	f := newFake(t, map[string]reply{
		"GET /v2.0/networks?name=web":                          {200, `{"networks": [` + netWeb + `]}`},
		"GET /v2.0/security-groups?name=web&project_id=admin":  {200, `{"security_groups": [{"id": "g-1"}]}`},
		"GET /v2.0/security-groups?name=g-9&project_id=admin":  {200, `{"security_groups": []}`},
		"GET /v2.0/security-groups?name=default&project_id=p2": {200, `{"security_groups": [{"id": "d-2"}]}`},
		"POST /v2.0/ports": {201, `{"port": ` + portBody + `}`},
	})
	mustRun(t, "--socket", f.socket, "port", "create", "vm1", "--network", "web", "--sg", "web", "--sg", "g-9")
	r := f.requests()
	if body := r[len(r)-1].Body["port"].(map[string]any); !reflect.DeepEqual(body["security_groups"], []any{"g-1", "g-9"}) || body["project_id"] != nil {
		t.Errorf("body %v", body)
	}
	// Names are looked up in the port's project.
	mustRun(t, "--socket", f.socket, "port", "create", "vm2", "--network", "web", "--project", "p2", "--sg", "default")
	r = f.requests()
	if body := r[len(r)-1].Body["port"].(map[string]any); !reflect.DeepEqual(body["security_groups"], []any{"d-2"}) || body["project_id"] != "p2" {
		t.Errorf("body %v", body)
	}
	mustRun(t, "--socket", f.socket, "port", "create", "vm3", "--network", "web", "--no-sg")
	r = f.requests()
	if body := r[len(r)-1].Body["port"].(map[string]any); !reflect.DeepEqual(body["security_groups"], []any{}) {
		t.Errorf("body %v", body)
	}
	// No flag: no attribute, the agent gives the project's default group.
	mustRun(t, "--socket", f.socket, "port", "create", "vm4", "--network", "web")
	r = f.requests()
	if body := r[len(r)-1].Body["port"].(map[string]any); body["security_groups"] != nil {
		t.Errorf("body %v", body)
	}
	n := len(f.requests())
	if _, errOut, code := run(t, "--socket", f.socket, "port", "create", "vm5", "--network", "web", "--sg", "web", "--no-sg"); code != 1 ||
		!strings.Contains(errOut, "--sg and --no-sg exclude each other") {
		t.Errorf("code %d err %q", code, errOut)
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}
}

func TestPortUpdateSG(t *testing.T) {
	port := `{"port": {"id": "p-3", "project_id": "p2", "binding:host_id": "cmpt1", "binding:profile": {}}}`
	f := newFake(t, map[string]reply{
		"GET /v2.0/ports?name=vip":                             {200, `{"ports": [{"id": "p-3"}]}`},
		"GET /v2.0/ports/p-3":                                  {200, port},
		"GET /v2.0/security-groups?name=web&project_id=p2":     {200, `{"security_groups": [{"id": "g-1"}]}`},
		"GET /v2.0/security-groups?name=default&project_id=p2": {200, `{"security_groups": [{"id": "d-2"}]}`},
		"PUT /v2.0/ports/p-3":                                  {200, `{"port": ` + securePortBody + `}`},
	})
	for _, tc := range []struct {
		args []string
		want map[string]any
	}{
		{[]string{"--sg", "default", "--sg", "web"}, map[string]any{"security_groups": []any{"d-2", "g-1"}}},
		{[]string{"--no-sg", "--no-port-security"}, map[string]any{"security_groups": []any{}, "port_security_enabled": false}},
		{[]string{"--port-security", "--sg", "web"}, map[string]any{"security_groups": []any{"g-1"}, "port_security_enabled": true}},
	} {
		n := len(f.requests())
		mustRun(t, append([]string{"--socket", f.socket, "port", "update", "vip"}, tc.args...)...)
		r := f.requests()[n:]
		last := r[len(r)-1]
		if last.Method != "PUT" || last.URI != "/v2.0/ports/p-3" || !reflect.DeepEqual(last.Body, map[string]any{"port": tc.want}) {
			t.Errorf("%v: requests = %+v", tc.args, r)
		}
	}
	n := len(f.requests())
	if _, errOut, code := run(t, "--socket", f.socket, "port", "update", "vip", "--sg", "web", "--no-sg"); code != 1 ||
		!strings.Contains(errOut, "exclude each other") {
		t.Errorf("code %d err %q", code, errOut)
	}
	if len(f.requests()) != n {
		t.Error("bad arguments reached the agent")
	}
}

// agentBackend is the little an API server needs of an agent.
type agentBackend struct{}

func (agentBackend) Node() string                           { return "cmpt1" }
func (agentBackend) Physnets() []string                     { return nil }
func (agentBackend) UnderlayMTU() int                       { return 1500 }
func (agentBackend) Agents() []model.Agent                  { return nil }
func (agentBackend) Status(string, string) (string, string) { return "", "" }
func (agentBackend) Reconcile(context.Context) error        { return nil }
func (agentBackend) RouterHost(string) string               { return "" }

// TestSGAgainstAgent runs the commands against the real API server: what
// they leave is what the agent stores.
func TestSGAgainstAgent(t *testing.T) {
	st, err := store.Open(t.TempDir(), "cmpt1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir, err := os.MkdirTemp("", "bnetsg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bnet.sock")
	ctx, cancel := context.WithCancel(context.Background())
	srv := api.NewServer(st, agentBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- srv.ServeUnix(ctx, sock) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 199 {
			t.Fatal("api socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bn := func(args ...string) string {
		t.Helper()
		return mustRun(t, append([]string{"--socket", sock}, args...)...)
	}
	js := func(args ...string) map[string]any {
		t.Helper()
		return jsonOf(t, bn(append([]string{"-o", "json"}, args...)...))
	}

	bn("network", "create", "n", "--type", "vxlan")
	bn("subnet", "create", "s", "--network", "n", "--cidr", "10.0.0.0/24")
	web := js("sg", "create", "web", "--description", "web servers")["security_group"].(map[string]any)
	webID := web["id"].(string)
	rule := strings.TrimSpace(bn("sg", "rule", "add", "web", "--direction", "ingress", "--protocol", "tcp",
		"--port-min", "22", "--port-max", "22", "--remote-ip", "10.0.0.7/24"))
	if len(rule) != 36 {
		t.Fatalf("rule add printed %q", rule)
	}
	bn("sg", "rule", "add", "web", "--direction", "ingress", "--protocol", "icmp", "--remote-group", "web")
	rules := js("sg", "show", "web")["security_group"].(map[string]any)["security_group_rules"].([]any)
	if len(rules) != 4 {
		t.Fatalf("web's rules %v", rules)
	}
	var ssh map[string]any
	for _, r := range rules {
		if m := r.(map[string]any); m["id"] == rule {
			ssh = m
		}
	}
	if ssh == nil || ssh["remote_ip_prefix"] != "10.0.0.0/24" || ssh["port_range_min"] != 22.0 || ssh["protocol"] != "tcp" {
		t.Fatalf("the rule as stored: %v", ssh)
	}
	_, errOut, code := run(t, "--socket", sock, "sg", "rule", "add", "web", "--direction", "ingress", "--protocol", "tcp",
		"--port-min", "22", "--port-max", "22", "--remote-ip", "10.0.0.0/24")
	if code != 1 || errOut != "bnet: Security group rule already exists. Rule id is "+rule+".\n" {
		t.Errorf("duplicate: code %d err %q", code, errOut)
	}

	// Ports: the default group unless told, groups by name.
	def := model.DefaultSecurityGroupID(model.AdminProject)
	sgsOf := func(port string) []any {
		t.Helper()
		return js("port", "show", port)["port"].(map[string]any)["security_groups"].([]any)
	}
	bn("port", "create", "a", "--network", "n")
	bn("port", "create", "b", "--network", "n", "--sg", "web", "--sg", "default")
	bn("port", "create", "c", "--network", "n", "--no-port-security")
	bn("port", "create", "d", "--network", "n", "--project", "p2")
	for port, want := range map[string][]any{"a": {def}, "b": {webID, def}, "c": {}, "d": {model.DefaultSecurityGroupID("p2")}} {
		if got := sgsOf(port); !reflect.DeepEqual(got, want) {
			t.Errorf("port %s: groups %v, want %v", port, got, want)
		}
	}
	// p2's groups are not p1's: "web" is looked up in p2 and not found.
	if _, errOut, code := run(t, "--socket", sock, "port", "update", "d", "--sg", "web"); code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("another project's group: code %d err %q", code, errOut)
	}
	bn("port", "update", "a", "--sg", "web")
	if got := sgsOf("a"); !reflect.DeepEqual(got, []any{webID}) {
		t.Errorf("a after update: %v", got)
	}
	if _, errOut, code := run(t, "--socket", sock, "port", "update", "a", "--no-port-security"); code != 1 ||
		!strings.Contains(errOut, "Port has security group associated") {
		t.Errorf("disable with groups: code %d err %q", code, errOut)
	}
	bn("port", "update", "a", "--no-port-security", "--no-sg")

	// In use, then not.
	if _, errOut, code := run(t, "--socket", sock, "sg", "delete", "web"); code != 1 || !strings.Contains(errOut, "in use") {
		t.Errorf("delete in use: code %d err %q", code, errOut)
	}
	bn("port", "update", "b", "--sg", "default")
	if out := bn("sg", "rule", "list", "web"); !strings.Contains(out, rule) || strings.Count(out, "\n") != 5 {
		t.Errorf("rule list web:\n%s", out)
	}
	bn("sg", "rule", "delete", rule)
	if out := bn("sg", "rule", "list", "web"); strings.Contains(out, rule) {
		t.Errorf("rule still listed:\n%s", out)
	}
	bn("sg", "delete", "web")
	var names []string
	for _, g := range js("sg", "list")["security_groups"].([]any) {
		names = append(names, g.(map[string]any)["name"].(string))
	}
	if !reflect.DeepEqual(names, []string{"default", "default"}) {
		t.Errorf("groups left %v", names)
	}
	bn("port", "delete", "b")
	if _, errOut, code := run(t, "--socket", sock, "sg", "delete", def); code != 1 || !strings.Contains(errOut, "Removing default security group not allowed") {
		t.Errorf("delete default: code %d err %q", code, errOut)
	}
	var stored []string
	for _, r := range st.List(model.KindSecurityGroupRule) {
		var m map[string]any
		json.Unmarshal(r.Data, &m)
		stored = append(stored, m["security_group_id"].(string))
	}
	if len(stored) != 8 {
		t.Errorf("rule records %v, want the two default groups' eight", stored)
	}
}

// TestSGRuleAddFrom adds a file's rules in one request against the real API
// server: all of them, or none when one is bad.
func TestSGRuleAddFrom(t *testing.T) {
	st, err := store.Open(t.TempDir(), "cmpt1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir, err := os.MkdirTemp("", "bnetsg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bnet.sock")
	ctx, cancel := context.WithCancel(context.Background())
	srv := api.NewServer(st, agentBackend{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan error, 1)
	go func() { done <- srv.ServeUnix(ctx, sock) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 200 {
			t.Fatal("api socket never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mustRun(t, "--socket", sock, "sg", "create", "web")
	nfile := 0
	file := func(body string) string {
		nfile++
		p := filepath.Join(dir, fmt.Sprintf("rules%d.json", nfile))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	count := func() int {
		var out struct {
			Rules []any `json:"security_group_rules"`
		}
		if err := json.Unmarshal([]byte(mustRun(t, "--socket", sock, "-o", "json", "sg", "rule", "list", "web")), &out); err != nil {
			t.Fatal(err)
		}
		return len(out.Rules)
	}
	before := count()
	good := file(`[{"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
		{"direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53, "remote_ip_prefix": "10.0.0.0/8"},
		{"direction": "ingress", "protocol": "icmp"}]`)
	ids := strings.Fields(mustRun(t, "--socket", sock, "sg", "rule", "add", "web", "--from", good))
	if len(ids) != 3 || len(ids[0]) != 36 || count() != before+3 {
		t.Fatalf("added %q, %d rules now (from %d)", ids, count(), before)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--from", file(`[{"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
			{"direction": "ingress", "protocol": "bogus"}]`)}, "security_group_rules[1]"},
		{[]string{"--from", good}, "already exists"},
		{[]string{"--from", file(`{"direction": "ingress"}`)}, "JSON list"},
		{[]string{"--from", file(`[]`)}, "no rules"},
		{[]string{"--from", good, "--direction", "egress"}, "excludes --direction"},
		{[]string{"--from", filepath.Join(dir, "missing.json")}, "no such file"},
	} {
		_, errOut, code := run(t, append([]string{"--socket", sock, "sg", "rule", "add", "web"}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: code %d err %q, want %q", c.args, code, errOut, c.err)
		}
		if n := count(); n != before+3 {
			t.Fatalf("%v: a refused add left %d rules, want %d", c.args, n, before+3)
		}
	}
}
