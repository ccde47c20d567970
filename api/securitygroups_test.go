package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/model"
)

// ruleShapes renders rules (JSON objects) as sorted "direction ethertype
// protocol min-max remote" strings.
func ruleShapes(t *testing.T, rules any) []string {
	t.Helper()
	l, ok := rules.([]any)
	if !ok {
		t.Fatalf("rules %#v, want a list", rules)
	}
	val := func(v any) string {
		switch x := v.(type) {
		case nil:
			return "-"
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			return x
		}
		t.Fatalf("rule value %#v", v)
		return ""
	}
	out := []string{}
	for _, r := range l {
		m := r.(map[string]any)
		remote := val(m["remote_ip_prefix"])
		if m["remote_group_id"] != nil {
			remote = "group:" + str(m, "remote_group_id")
		}
		out = append(out, strings.Join([]string{str(m, "direction"), str(m, "ethertype"), val(m["protocol"]),
			val(m["port_range_min"]) + "-" + val(m["port_range_max"]), remote}, " "))
	}
	sort.Strings(out)
	return out
}

// neutronErr checks an error answer's status and type.
func (e *env) neutronErr(method, path, body string, code int, typ string) string {
	e.t.Helper()
	got, out := e.call(method, path, body)
	ne, _ := out["NeutronError"].(map[string]any)
	if got != code || ne == nil || (typ != "" && ne["type"] != typ) {
		e.t.Fatalf("%s %s %s: %d %v, want %d %s", method, path, body, got, out, code, typ)
	}
	return str(ne, "message")
}

func TestDefaultSecurityGroupPerProject(t *testing.T) {
	e := newEnv(t)
	l := e.list("/v2.0/security-groups", "security_groups")
	if len(l) != 1 {
		t.Fatalf("first list: %v", l)
	}
	def := l[0].(map[string]any)
	if def["id"] != model.DefaultSecurityGroupID(model.AdminProject) || def["name"] != "default" ||
		def["project_id"] != model.AdminProject || def["stateful"] != true || def["description"] != "Default security group" {
		t.Fatalf("default group %v", def)
	}
	self := str(def, "id")
	want := []string{"egress IPv4 - --- -", "egress IPv6 - --- -", "ingress IPv4 - --- group:" + self, "ingress IPv6 - --- group:" + self}
	if got := ruleShapes(t, def["security_group_rules"]); !reflect.DeepEqual(got, want) {
		t.Fatalf("default rules %v, want %v", got, want)
	}
	for i := range 4 {
		e.must(200, "GET", "/v2.0/security-group-rules/"+model.DefaultRuleID(model.AdminProject, i), "", "security_group_rule")
	}
	// Listing again writes nothing.
	before := e.dump()
	e.list("/v2.0/security-groups", "security_groups")
	if e.dump() != before {
		t.Fatal("a second list rewrote the default group")
	}

	// Another project's list makes that project's default group.
	l = e.list("/v2.0/security-groups?project_id=p2", "security_groups")
	if len(l) != 1 || l[0].(map[string]any)["id"] != model.DefaultSecurityGroupID("p2") || l[0].(map[string]any)["project_id"] != "p2" {
		t.Fatalf("p2's list %v", l)
	}
	if l := e.list("/v2.0/security-groups?name=default", "security_groups"); len(l) != 2 {
		t.Fatalf("default groups %v", l)
	}
	if l := e.list("/v2.0/security-group-rules?security_group_id="+model.DefaultSecurityGroupID("p2"), "security_group_rules"); len(l) != 4 {
		t.Fatalf("p2's default rules %v", l)
	}

	// Two nodes making the same default group write the same records.
	e2 := newEnv(t)
	e2.list("/v2.0/security-groups?tenant_id=p2", "security_groups")
	ids := func(e *env, kind string) []string {
		var out []string
		for _, r := range e.st.List(kind) {
			var m map[string]any
			json.Unmarshal(r.Data, &m)
			if m["project_id"] == "p2" {
				out = append(out, r.ID)
			}
		}
		return out
	}
	for _, k := range []string{model.KindSecurityGroup, model.KindSecurityGroupRule} {
		if a, b := ids(e, k), ids(e2, k); len(a) == 0 || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: node 1 %v, node 2 %v", k, a, b)
		}
	}

	// Not deletable, not renamable; its description may change.
	e.neutronErr("DELETE", "/v2.0/security-groups/"+self, "", 409, "SecurityGroupCannotRemoveDefault")
	e.neutronErr("PUT", "/v2.0/security-groups/"+self, `{"security_group": {"name": "mine"}}`, 409, "SecurityGroupCannotUpdateDefault")
	u := e.must(200, "PUT", "/v2.0/security-groups/"+self, `{"security_group": {"description": "ours"}}`, "security_group")
	if u["description"] != "ours" || u["name"] != "default" || u["revision_number"] != 2.0 {
		t.Fatalf("updated default %v", u)
	}
	// A deleted default rule stays deleted.
	e.must(204, "DELETE", "/v2.0/security-group-rules/"+model.DefaultRuleID(model.AdminProject, 2), "", "")
	e.list("/v2.0/security-groups", "security_groups")
	e.neutronErr("GET", "/v2.0/security-group-rules/"+model.DefaultRuleID(model.AdminProject, 2), "", 404, "SecurityGroupRuleNotFound")
}

func TestSecurityGroupCRUD(t *testing.T) {
	e := newEnv(t)
	g := e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web", "description": "web servers", "stateful": "True"}}`, "security_group")
	id := str(g, "id")
	if len(id) != 36 || g["project_id"] != model.AdminProject || g["tenant_id"] != model.AdminProject || g["stateful"] != true ||
		g["revision_number"] != 1.0 || g["description"] != "web servers" || len(g["tags"].([]any)) != 0 {
		t.Fatalf("created %v", g)
	}
	// Neutron gives a new group egress to anywhere.
	if got := ruleShapes(t, g["security_group_rules"]); !reflect.DeepEqual(got, []string{"egress IPv4 - --- -", "egress IPv6 - --- -"}) {
		t.Fatalf("new group's rules %v", got)
	}
	// Making a group made the project's default group.
	e.must(200, "GET", "/v2.0/security-groups/"+model.DefaultSecurityGroupID(model.AdminProject), "", "security_group")
	p := e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "db", "project_id": "p2"}}`, "security_group")
	if p["project_id"] != "p2" || p["tenant_id"] != "p2" {
		t.Fatalf("p2 group %v", p)
	}
	e.must(200, "GET", "/v2.0/security-groups/"+model.DefaultSecurityGroupID("p2"), "", "security_group")

	if l := e.list("/v2.0/security-groups?name=web&fields=id", "security_groups"); len(l) != 1 || l[0].(map[string]any)["id"] != id {
		t.Fatalf("name filter %v", l)
	}
	if l := e.list("/v2.0/security-groups?project_id=p2", "security_groups"); len(l) != 2 {
		t.Fatalf("project filter %v", l)
	}
	s := e.must(200, "GET", "/v2.0/security-groups/"+id+"?fields=name&fields=security_group_rules", "", "security_group")
	if len(s) != 2 || s["name"] != "web" || len(s["security_group_rules"].([]any)) != 2 {
		t.Fatalf("show fields %v", s)
	}
	u := e.must(200, "PUT", "/v2.0/security-groups/"+id, `{"security_group": {"name": "www", "description": ""}}`, "security_group")
	if u["name"] != "www" || u["description"] != "" || u["revision_number"] != 2.0 || len(u["security_group_rules"].([]any)) != 2 {
		t.Fatalf("updated %v", u)
	}
	e.must(201, "PUT", "/v2.0/security-groups/"+id+"/tags/frontend", "", "")
	if tags := e.must(200, "GET", "/v2.0/security-groups/"+id, "", "security_group")["tags"]; !reflect.DeepEqual(tags, []any{"frontend"}) {
		t.Fatalf("tags %v", tags)
	}

	e.must(204, "DELETE", "/v2.0/security-groups/"+id, "", "")
	e.neutronErr("GET", "/v2.0/security-groups/"+id, "", 404, "SecurityGroupNotFound")
	// Its rules went with it.
	if l := e.list("/v2.0/security-group-rules?security_group_id="+id, "security_group_rules"); len(l) != 0 {
		t.Fatalf("rules left %v", l)
	}
	for _, r := range e.st.List(model.KindSecurityGroupRule) {
		if strings.Contains(string(r.Data), id) {
			t.Fatalf("rule record left: %s", r.Data)
		}
	}
	e.neutronErr("DELETE", "/v2.0/security-groups/"+id, "", 404, "SecurityGroupNotFound")
}

func TestSecurityGroupRuleCRUD(t *testing.T) {
	e := newEnv(t)
	g := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web", "project_id": "p1"}}`, "security_group"), "id")
	// What the OpenStack client sends for --protocol tcp --dst-port 22
	// --remote-ip: the group's project, the prefix masked.
	r := e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
		"remote_ip_prefix": "10.0.0.7/24"}}`, "security_group_rule")
	rid := str(r, "id")
	if len(rid) != 36 || r["security_group_id"] != g || r["project_id"] != "p1" || r["tenant_id"] != "p1" || r["protocol"] != "tcp" ||
		r["port_range_min"] != 22.0 || r["port_range_max"] != 22.0 || r["remote_ip_prefix"] != "10.0.0.0/24" ||
		r["remote_group_id"] != nil || r["ethertype"] != "IPv4" || r["revision_number"] != 1.0 {
		t.Fatalf("rule %v", r)
	}
	// The same rule again, spelled differently, is refused with the id.
	msg := e.neutronErr("POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "protocol": 6, "port_range_min": "22", "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/24"}}`,
		409, "SecurityGroupRuleExists")
	if msg != "Security group rule already exists. Rule id is "+rid+"." {
		t.Errorf("duplicate message %q", msg)
	}
	// A number stays a number (as a string); ports from strings.
	n := e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "protocol": 17, "port_range_min": "53", "port_range_max": "53", "remote_address_group_id": null}}`, "security_group_rule")
	if n["protocol"] != "17" || n["port_range_min"] != 53.0 || n["ethertype"] != "IPv4" {
		t.Fatalf("numbered rule %v", n)
	}
	// A remote group, ICMP type only, IPv6 bare address.
	rg := e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "protocol": "ICMP", "port_range_min": 8, "remote_group_id": "`+g+`"}}`, "security_group_rule")
	if rg["remote_group_id"] != g || rg["protocol"] != "icmp" || rg["port_range_max"] != nil {
		t.Fatalf("remote group rule %v", rg)
	}
	v6 := e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "egress", "ethertype": "ipv6", "protocol": "icmp", "remote_ip_prefix": "fd00::1"}}`, "security_group_rule")
	if v6["ethertype"] != "IPv6" || v6["protocol"] != "ipv6-icmp" || v6["remote_ip_prefix"] != "fd00::1/128" {
		t.Fatalf("IPv6 rule %v", v6)
	}

	// The group shows its rules; the collection filters.
	sg := e.must(200, "GET", "/v2.0/security-groups/"+g, "", "security_group")
	want := []string{"egress IPv4 - --- -", "egress IPv6 - --- -", "egress IPv6 ipv6-icmp --- fd00::1/128",
		"ingress IPv4 17 53-53 -", "ingress IPv4 icmp 8-- group:" + g, "ingress IPv4 tcp 22-22 10.0.0.0/24"}
	if got := ruleShapes(t, sg["security_group_rules"]); !reflect.DeepEqual(got, want) {
		t.Fatalf("group's rules %v, want %v", got, want)
	}
	if l := e.list("/v2.0/security-group-rules?security_group_id="+g+"&direction=ingress&protocol=tcp", "security_group_rules"); len(l) != 1 ||
		l[0].(map[string]any)["id"] != rid {
		t.Fatalf("filtered rules %v", l)
	}
	if l := e.list("/v2.0/security-group-rules?port_range_min=53", "security_group_rules"); len(l) != 1 {
		t.Fatalf("port filter %v", l)
	}
	e.must(200, "GET", "/v2.0/security-group-rules/"+rid, "", "security_group_rule")

	// Rules are not updated, only created and deleted.
	e.neutronErr("PUT", "/v2.0/security-group-rules/"+rid, `{"security_group_rule": {"description": "x"}}`, 405, "HTTPMethodNotAllowed")
	e.must(204, "DELETE", "/v2.0/security-group-rules/"+rid, "", "")
	e.neutronErr("GET", "/v2.0/security-group-rules/"+rid, "", 404, "SecurityGroupRuleNotFound")
	e.neutronErr("DELETE", "/v2.0/security-group-rules/"+rid, "", 404, "SecurityGroupRuleNotFound")
	// Deleted, it may be made again.
	e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/24"}}`, "security_group_rule")

	// A rule on the default group of a project whose default group is not
	// made yet: made with it.
	def := model.DefaultSecurityGroupID("p9")
	e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+def+`", "project_id": "p9",
		"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}}`, "security_group_rule")
	if got := ruleShapes(t, e.must(200, "GET", "/v2.0/security-groups/"+def, "", "security_group")["security_group_rules"]); len(got) != 5 {
		t.Fatalf("p9's default group rules %v", got)
	}
}

func TestSecurityGroupRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	g := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web"}}`, "security_group"), "id")
	e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+g+`",
		"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}}`, "security_group_rule")
	def := model.DefaultSecurityGroupID(model.AdminProject)
	rule := func(attrs string) string {
		return `{"security_group_rule": {"security_group_id": "` + g + `", "direction": "ingress"` + attrs + `}}`
	}
	const rules = "/v2.0/security-group-rules"
	cases := []struct {
		name, method, path, body string
		code                     int
		typ                      string
	}{
		{"group named default", "POST", "/v2.0/security-groups", `{"security_group": {"name": "DEFAULT"}}`, 409, "SecurityGroupDefaultAlreadyExists"},
		{"renamed default", "PUT", "/v2.0/security-groups/" + g, `{"security_group": {"name": "default"}}`, 409, "SecurityGroupDefaultAlreadyExists"},
		{"stateless", "POST", "/v2.0/security-groups", `{"security_group": {"name": "x", "stateful": false}}`, 400, "InvalidInput"},
		{"rules in POST", "POST", "/v2.0/security-groups", `{"security_group": {"name": "x", "security_group_rules": []}}`, 400, "HTTPBadRequest"},
		{"update unknown group", "PUT", "/v2.0/security-groups/nope", `{"security_group": {"name": "x"}}`, 404, "SecurityGroupNotFound"},
		{"update project", "PUT", "/v2.0/security-groups/" + g, `{"security_group": {"project_id": "x"}}`, 400, "HTTPBadRequest"},
		{"delete default", "DELETE", "/v2.0/security-groups/" + def, ``, 409, "SecurityGroupCannotRemoveDefault"},
		{"rule without group", "POST", rules, `{"security_group_rule": {"direction": "ingress"}}`, 400, "HTTPBadRequest"},
		{"rule without direction", "POST", rules, `{"security_group_rule": {"security_group_id": "` + g + `"}}`, 400, "HTTPBadRequest"},
		{"rule on unknown group", "POST", rules, `{"security_group_rule": {"security_group_id": "nope", "direction": "ingress"}}`, 404, "SecurityGroupNotFound"},
		{"bad direction", "POST", rules, `{"security_group_rule": {"security_group_id": "` + g + `", "direction": "inbound"}}`, 400, "InvalidInput"},
		{"bad ethertype", "POST", rules, rule(`, "ethertype": "IPX"`), 400, "SecurityGroupRuleInvalidEtherType"},
		{"bad protocol", "POST", rules, rule(`, "protocol": "foo"`), 400, "SecurityGroupRuleInvalidProtocol"},
		{"protocol 300", "POST", rules, rule(`, "protocol": 300`), 400, "SecurityGroupRuleInvalidProtocol"},
		{"protocol not a string", "POST", rules, rule(`, "protocol": true`), 400, ""},
		{"port range backwards", "POST", rules, rule(`, "protocol": "tcp", "port_range_min": 80, "port_range_max": 22`), 400, "SecurityGroupInvalidPortRange"},
		{"port not a number", "POST", rules, rule(`, "protocol": "tcp", "port_range_min": "ssh", "port_range_max": 22`), 400, "SecurityGroupInvalidPortValue"},
		{"port too big", "POST", rules, rule(`, "protocol": "tcp", "port_range_min": 1, "port_range_max": 70000`), 400, "SecurityGroupInvalidPortValue"},
		{"ports without protocol", "POST", rules, rule(`, "port_range_min": 1, "port_range_max": 2`), 400, "SecurityGroupProtocolRequiredWithPorts"},
		{"ports for gre", "POST", rules, rule(`, "protocol": "gre", "port_range_min": 1, "port_range_max": 2`), 400, "SecurityGroupInvalidProtocolForPort"},
		{"ICMP code without type", "POST", rules, rule(`, "protocol": "icmp", "port_range_max": 0`), 400, "SecurityGroupMissingIcmpType"},
		{"ICMP type 300", "POST", rules, rule(`, "protocol": "icmp", "port_range_min": 300`), 400, "SecurityGroupInvalidIcmpValue"},
		{"bad prefix", "POST", rules, rule(`, "remote_ip_prefix": "10.0.0.0/40"`), 400, "InvalidCIDR"},
		{"prefix family", "POST", rules, rule(`, "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"`), 400, "SecurityGroupRuleParameterConflict"},
		{"prefix and group", "POST", rules, rule(`, "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "` + g + `"`), 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix"},
		{"unknown remote group", "POST", rules, rule(`, "remote_group_id": "nope"`), 404, "SecurityGroupNotFound"},
		{"address group", "POST", rules, rule(`, "remote_address_group_id": "ag"`), 400, "HTTPBadRequest"},
		{"duplicate", "POST", rules, rule(`, "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"`), 409, "SecurityGroupRuleExists"},
		{"unknown attribute", "POST", rules, rule(`, "priority": 1`), 400, "HTTPBadRequest"},
		{"rule update", "PUT", rules + "/" + model.DefaultRuleID(model.AdminProject, 0), `{"security_group_rule": {}}`, 405, "HTTPMethodNotAllowed"},
		{"delete unknown rule", "DELETE", rules + "/nope", ``, 404, "SecurityGroupRuleNotFound"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump()
			e.neutronErr(c.method, c.path, c.body, c.code, c.typ)
			if e.dump() != before {
				t.Errorf("store changed by a refused request")
			}
		})
	}
}

func TestSecurityGroupInUse(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	web := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web"}}`, "security_group"), "id")
	db := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "db"}}`, "security_group"), "id")
	// db admits web: the rule goes when web goes (Neutron's cascade).
	e.must(201, "POST", "/v2.0/security-group-rules", `{"security_group_rule": {"security_group_id": "`+db+`",
		"direction": "ingress", "protocol": "tcp", "port_range_min": 5432, "port_range_max": 5432, "remote_group_id": "`+web+`"}}`, "security_group_rule")
	p := str(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "security_groups": ["`+web+`"]}}`, "port"), "id")

	before := e.dump()
	msg := e.neutronErr("DELETE", "/v2.0/security-groups/"+web, "", 409, "SecurityGroupInUse")
	if !strings.Contains(msg, web) || !strings.Contains(msg, p) {
		t.Errorf("in-use message %q names neither group nor port", msg)
	}
	if e.dump() != before {
		t.Fatal("refused delete changed the store")
	}
	e.must(200, "PUT", "/v2.0/ports/"+p, `{"port": {"security_groups": ["`+db+`"]}}`, "port")
	e.must(204, "DELETE", "/v2.0/security-groups/"+web, "", "")
	if got := ruleShapes(t, e.must(200, "GET", "/v2.0/security-groups/"+db, "", "security_group")["security_group_rules"]); len(got) != 2 {
		t.Fatalf("db's rules after web went: %v", got)
	}
	e.neutronErr("DELETE", "/v2.0/security-groups/"+db, "", 409, "SecurityGroupInUse")
	e.must(204, "DELETE", "/v2.0/ports/"+p, "", "")
	e.must(204, "DELETE", "/v2.0/security-groups/"+db, "", "")
}

func TestPortSecurityGroups(t *testing.T) {
	e := newEnv(t)
	net := str(e.must(201, "POST", "/v2.0/networks", `{"network": {"name": "n"}}`, "network"), "id")
	e.must(201, "POST", "/v2.0/subnets", `{"subnet": {"network_id": "`+net+`", "cidr": "10.0.0.0/24"}}`, "subnet")
	sgs := func(p map[string]any) []string {
		t.Helper()
		l, ok := p["security_groups"].([]any)
		if !ok {
			t.Fatalf("security_groups %#v, want a list", p["security_groups"])
		}
		out := []string{}
		for _, g := range l {
			out = append(out, g.(string))
		}
		return out
	}
	def := model.DefaultSecurityGroupID(model.AdminProject)
	if _, ok := e.st.Get(model.KindSecurityGroup, def); ok {
		t.Fatal("default group before any need")
	}

	// A port with port security and no groups asked gets its project's
	// default group, made for it.
	a := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`"}}`, "port")
	if got := sgs(a); !reflect.DeepEqual(got, []string{def}) {
		t.Fatalf("new port's groups %v", got)
	}
	if g := e.must(200, "GET", "/v2.0/security-groups/"+def, "", "security_group"); len(g["security_group_rules"].([]any)) != 4 {
		t.Fatalf("default group made for the port %v", g)
	}
	// null is "not given" on create.
	if got := sgs(e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "security_groups": null}}`, "port")); !reflect.DeepEqual(got, []string{def}) {
		t.Fatalf("null groups %v", got)
	}
	// Each project its own.
	b := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "project_id": "p2"}}`, "port")
	if got := sgs(b); !reflect.DeepEqual(got, []string{model.DefaultSecurityGroupID("p2")}) {
		t.Fatalf("p2 port's groups %v", got)
	}
	for _, c := range []struct {
		name, attrs string
		want        []string
	}{
		{"no port security", `"port_security_enabled": false`, []string{}},
		{"explicit empty", `"security_groups": []`, []string{}},
		{"router interface", `"device_owner": "network:router_interface", "device_id": "r"`, []string{}},
		{"dhcp asking for groups", `"device_owner": "network:dhcp", "security_groups": ["nope"]`, []string{}},
	} {
		p := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", `+c.attrs+`}}`, "port")
		if got := sgs(p); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: groups %v, want %v", c.name, got, c.want)
		}
	}
	// Listing by group.
	if l := e.list("/v2.0/ports?security_groups="+def+"&fields=id", "ports"); len(l) != 2 {
		t.Errorf("ports of the default group: %v", l)
	}

	web := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "web"}}`, "security_group"), "id")
	theirs := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group": {"name": "db", "project_id": "p2"}}`, "security_group"), "id")
	c := e.must(201, "POST", "/v2.0/ports", `{"port": {"network_id": "`+net+`", "security_groups": ["`+web+`", "`+def+`", "`+web+`"]}}`, "port")
	if got := sgs(c); !reflect.DeepEqual(got, []string{web, def}) {
		t.Fatalf("explicit groups %v", got)
	}
	cid := str(c, "id")

	// Updates replace the list; null empties it; other attributes keep it.
	if got := sgs(e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"security_groups": ["`+web+`"]}}`, "port")); !reflect.DeepEqual(got, []string{web}) {
		t.Fatalf("replaced %v", got)
	}
	if got := sgs(e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"name": "renamed"}}`, "port")); !reflect.DeepEqual(got, []string{web}) {
		t.Fatalf("kept %v", got)
	}

	// Refusals change nothing.
	aid := str(a, "id")
	for _, r := range []struct {
		name, method, path, body string
		code                     int
		typ                      string
	}{
		{"unknown group", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "security_groups": ["nope"]}}`, 404, "SecurityGroupNotFound"},
		{"another project's group", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "security_groups": ["` + theirs + `"]}}`, 404, "SecurityGroupNotFound"},
		{"groups without port security", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "port_security_enabled": false, "security_groups": ["` + web + `"]}}`,
			400, "PortSecurityAndIPRequiredForSecurityGroups"},
		{"not a list", "POST", "/v2.0/ports", `{"port": {"network_id": "` + net + `", "security_groups": "` + web + `"}}`, 400, ""},
		{"disable keeping groups", "PUT", "/v2.0/ports/" + aid, `{"port": {"port_security_enabled": false}}`, 409, "PortSecurityPortHasSecurityGroup"},
		{"disable with groups", "PUT", "/v2.0/ports/" + aid, `{"port": {"port_security_enabled": false, "security_groups": ["` + def + `"]}}`,
			400, "PortSecurityAndIPRequiredForSecurityGroups"},
		{"update to an unknown group", "PUT", "/v2.0/ports/" + aid, `{"port": {"security_groups": ["nope"]}}`, 404, "SecurityGroupNotFound"},
	} {
		t.Run(r.name, func(t *testing.T) {
			before := e.dump()
			e.neutronErr(r.method, r.path, r.body, r.code, r.typ)
			if e.dump() != before {
				t.Errorf("store changed by a refused request")
			}
		})
	}

	// Emptied in the same request, or an earlier one, port security may go.
	u := e.must(200, "PUT", "/v2.0/ports/"+aid, `{"port": {"port_security_enabled": false, "security_groups": []}}`, "port")
	if u["port_security_enabled"] != false || len(sgs(u)) != 0 {
		t.Fatalf("disabled %v", u)
	}
	e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"security_groups": null}}`, "port")
	u = e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"port_security_enabled": false}}`, "port")
	if u["port_security_enabled"] != false || len(sgs(u)) != 0 {
		t.Fatalf("disabled after emptied %v", u)
	}
	// Turned on again, a port has the groups it is given, none by default.
	u = e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"port_security_enabled": true}}`, "port")
	if len(sgs(u)) != 0 {
		t.Fatalf("re-enabled %v", u)
	}
	u = e.must(200, "PUT", "/v2.0/ports/"+cid, `{"port": {"security_groups": ["`+web+`"]}}`, "port")
	if got := sgs(u); !reflect.DeepEqual(got, []string{web}) {
		t.Fatalf("re-grouped %v", got)
	}

	// A record older than security groups shows none and stays usable.
	var old map[string]any
	json.Unmarshal([]byte(`{"id": "old-port", "project_id": "admin", "tenant_id": "admin", "network_id": "`+net+`", "mac_address": "fa:16:3e:00:00:07", "fixed_ips": [],
		"admin_state_up": true, "binding:host_id": "node2", "binding:profile": {"netns": "vm"}}`), &old)
	if _, err := e.st.Put(model.KindPort, "old-port", old); err != nil {
		t.Fatal(err)
	}
	if got := sgs(e.must(200, "GET", "/v2.0/ports/old-port", "", "port")); len(got) != 0 {
		t.Fatalf("old port shows %v", got)
	}
	if got := sgs(e.must(200, "PUT", "/v2.0/ports/old-port", `{"port": {"name": "x"}}`, "port")); len(got) != 0 {
		t.Fatalf("old port updated shows %v", got)
	}
	// Stored as it was (nil: the agent gives such a port no policy).
	if r, _ := e.st.Get(model.KindPort, "old-port"); !strings.Contains(string(r.Data), `"security_groups":null`) {
		t.Fatalf("old port's record after an update: %s", r.Data)
	}
	if got := sgs(e.must(200, "PUT", "/v2.0/ports/old-port", `{"port": {"security_groups": ["`+web+`"]}}`, "port")); !slices.Equal(got, []string{web}) {
		t.Fatalf("old port given a group shows %v", got)
	}
}

func TestSecurityGroupsServed(t *testing.T) {
	e := newEnv(t)
	names := map[string]bool{}
	for _, x := range e.list("/v2.0/extensions", "extensions") {
		names[str(x.(map[string]any), "alias")] = true
	}
	if !names["security-group"] {
		t.Errorf("extensions %v lack security-group", names)
	}
	colls := map[string]bool{}
	for _, x := range e.list("/v2.0/", "resources") {
		colls[str(x.(map[string]any), "collection")] = true
	}
	if !colls["security-groups"] || !colls["security-group-rules"] {
		t.Errorf("resources %v", colls)
	}
	// A path under a served collection that does not exist is a plain 404,
	// not "bnet does not support".
	msg := e.neutronErr("GET", "/v2.0/security-groups/x/y", "", 404, "HTTPNotFound")
	if strings.Contains(msg, "does not support") {
		t.Errorf("message %q", msg)
	}
}
