package api

import (
	"fmt"
	"strings"
	"testing"
)

// bulkRules is a bulk body of n TCP rules to group g, ports from base.
func bulkRules(g string, base, n int, extra ...string) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`{"security_group_id":%q,"direction":"ingress","protocol":"tcp","port_range_min":%d,"port_range_max":%d}`,
			g, base+i, base+i))
	}
	parts = append(parts, extra...)
	return `{"security_group_rules":[` + strings.Join(parts, ",") + `]}`
}

func TestBulkSecurityGroupRules(t *testing.T) {
	e := newEnv(t)
	g := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group":{"name":"web"}}`, "security_group"), "id")
	before := len(e.list("/v2.0/security-group-rules", "security_group_rules"))

	out := e.must(201, "POST", "/v2.0/security-group-rules", bulkRules(g, 1000, 300), "")
	made, _ := out["security_group_rules"].([]any)
	if len(made) != 300 {
		t.Fatalf("bulk create answered %d rules, want 300", len(made))
	}
	first := made[0].(map[string]any)
	if first["security_group_id"] != g || first["protocol"] != "tcp" || first["port_range_min"] != float64(1000) || str(first, "id") == "" {
		t.Fatalf("first rule %v", first)
	}
	if got := len(e.list("/v2.0/security-group-rules", "security_group_rules")); got != before+300 {
		t.Fatalf("%d rules listed, want %d", got, before+300)
	}
	// Each is a rule of its own, shown by id and in its group.
	e.must(200, "GET", "/v2.0/security-group-rules/"+str(first, "id"), "", "security_group_rule")
	grp := e.must(200, "GET", "/v2.0/security-groups/"+g, "", "security_group")
	if n := len(grp["security_group_rules"].([]any)); n != 302 { // + the two egress rules of a new group
		t.Fatalf("group has %d rules, want 302", n)
	}
	// The single form still works next to it.
	e.must(201, "POST", "/v2.0/security-group-rules",
		fmt.Sprintf(`{"security_group_rule":{"security_group_id":%q,"direction":"ingress","protocol":"udp"}}`, g), "security_group_rule")
}

// A bad rule anywhere in a bulk request stores none of them.
func TestBulkSecurityGroupRulesAllOrNothing(t *testing.T) {
	e := newEnv(t)
	g := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group":{"name":"web"}}`, "security_group"), "id")
	other := str(e.must(201, "POST", "/v2.0/security-groups", `{"security_group":{"name":"db"}}`, "security_group"), "id")
	e.must(201, "POST", "/v2.0/security-group-rules", bulkRules(g, 22, 1), "")
	rule := func(body string) string {
		return fmt.Sprintf(`{"security_group_id":%q,"direction":"ingress",%s}`, g, body)
	}
	cases := []struct {
		name, body string
		code       int
		typ, msg   string
	}{
		{"bad protocol last", bulkRules(g, 100, 5, rule(`"protocol":"nope"`)), 400, "SecurityGroupRuleInvalidProtocol", "security_group_rules[5]"},
		{"bad direction first", bulkRules(g, 100, 0, rule(`"protocol":"tcp"`), `{"security_group_id":"`+g+`","direction":"sideways"}`), 400, "InvalidInput", "security_group_rules[1]"},
		{"unknown attribute", bulkRules(g, 100, 3, rule(`"colour":"red"`)), 400, "HTTPBadRequest", "Unrecognized"},
		{"duplicate within", bulkRules(g, 100, 3, rule(`"protocol":"tcp","port_range_min":101,"port_range_max":101`)), 409, "SecurityGroupRuleExists", "security_group_rules[3]"},
		{"duplicate of stored", bulkRules(g, 20, 5), 409, "SecurityGroupRuleExists", "security_group_rules[2]"},
		{"two groups", bulkRules(g, 100, 2, fmt.Sprintf(`{"security_group_id":%q,"direction":"ingress"}`, other)), 400, "HTTPBadRequest", "one security profile"},
		{"no such group", bulkRules("5e0c4c1a-0000-4000-8000-000000000000", 100, 2), 404, "SecurityGroupNotFound", ""},
		{"empty list", `{"security_group_rules":[]}`, 400, "HTTPBadRequest", ""},
		{"not a list", `{"security_group_rules":{}}`, 400, "HTTPBadRequest", ""},
		{"extra key", `{"security_group_rules":[` + rule(`"protocol":"tcp"`) + `],"x":1}`, 400, "HTTPBadRequest", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.dump()
			msg := e.neutronErr("POST", "/v2.0/security-group-rules", c.body, c.code, c.typ)
			if !strings.Contains(msg, c.msg) {
				t.Fatalf("message %q does not name %q", msg, c.msg)
			}
			if e.dump() != before {
				t.Fatal("a refused bulk create changed the store")
			}
		})
	}
}
