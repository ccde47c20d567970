package model

import (
	"errors"
	"reflect"
	"testing"
)

func sp(s string) *string { return &s }
func ip(n int) *int       { return &n }

func wantErr(t *testing.T, err error, code int, typ string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want %d %s", err, code, typ)
	}
	if e.Code != code || e.Type != typ {
		t.Fatalf("error %d %s (%s), want %d %s", e.Code, e.Type, e.Msg, code, typ)
	}
}

func TestDefaultSecurityGroup(t *testing.T) {
	g, rules := DefaultSecurityGroup("p1", "2026-01-01T00:00:00Z")
	if g.ID != DefaultSecurityGroupID("p1") || g.Name != "default" || g.ProjectID != "p1" || g.TenantID != "p1" ||
		!g.Stateful || !g.IsDefault() || g.Description != "Default security group" {
		t.Fatalf("group %+v", g)
	}
	if DefaultSecurityGroupID("p1") == DefaultSecurityGroupID("p2") {
		t.Fatal("two projects share a default group id")
	}
	// The same project gives the same records on every node.
	g2, rules2 := DefaultSecurityGroup("p1", "2026-01-01T00:00:00Z")
	if !reflect.DeepEqual(g, g2) || !reflect.DeepEqual(rules, rules2) {
		t.Fatal("default group not deterministic")
	}
	type shape struct{ id, dir, ether, remote string }
	var got []shape
	for _, r := range rules {
		remote := ""
		if r.RemoteGroupID != nil {
			remote = *r.RemoteGroupID
		}
		if r.SecurityGroupID != g.ID || r.ProjectID != "p1" || r.Protocol != nil || r.RemoteIPPrefix != nil || r.PortRangeMin != nil {
			t.Errorf("rule %+v", r)
		}
		got = append(got, shape{r.ID, r.Direction, r.Ethertype, remote})
	}
	want := []shape{
		{DefaultRuleID("p1", 0), "egress", "IPv4", ""},
		{DefaultRuleID("p1", 1), "egress", "IPv6", ""},
		{DefaultRuleID("p1", 2), "ingress", "IPv4", g.ID},
		{DefaultRuleID("p1", 3), "ingress", "IPv6", g.ID},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rules %v, want %v", got, want)
	}
	// Every rule is valid and no two are the same rule.
	for i, r := range rules {
		if err := PrepareSecurityGroupRule(&r, []SecurityGroup{g}, rules[:i]); err != nil {
			t.Errorf("default rule %d: %v", i, err)
		}
	}
	if (SecurityGroup{ID: "x", ProjectID: "p1", Name: "default"}).IsDefault() {
		t.Error("a group named default with another id is not the default group")
	}
}

func TestPrepareSecurityGroup(t *testing.T) {
	g := SecurityGroup{Name: "web", ProjectID: "p", Stateful: true, Tags: []string{"b", "a", "b"},
		SecurityGroupRules: []SecurityGroupRule{{ID: "r"}}}
	if err := PrepareSecurityGroup(&g, nil, true); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Tags, []string{"a", "b"}) || g.TenantID != "p" || g.SecurityGroupRules != nil {
		t.Fatalf("prepared %+v", g)
	}
	def, _ := DefaultSecurityGroup("p", Now())
	for _, c := range []struct {
		name      string
		g         SecurityGroup
		old       *SecurityGroup
		nameGiven bool
		code      int
		typ       string
	}{
		{"named default", SecurityGroup{Name: "Default", Stateful: true}, nil, true, 409, "SecurityGroupDefaultAlreadyExists"},
		{"renamed default", SecurityGroup{Name: "default", Stateful: true}, &SecurityGroup{ID: "x", Name: "web"}, true, 409, "SecurityGroupDefaultAlreadyExists"},
		{"default renamed", SecurityGroup{Name: "other", Stateful: true}, &def, true, 409, "SecurityGroupCannotUpdateDefault"},
		{"stateless", SecurityGroup{Name: "x"}, nil, true, 400, "InvalidInput"},
		{"long name", SecurityGroup{Name: string(make([]byte, 256)), Stateful: true}, nil, true, 400, "InvalidInput"},
		{"bad tag", SecurityGroup{Name: "x", Stateful: true, Tags: []string{"a,b"}}, nil, true, 400, "InvalidInput"},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, PrepareSecurityGroup(&c.g, c.old, c.nameGiven), c.code, c.typ)
		})
	}
	// The default group's description may change (no name in the request).
	d := def
	d.Description = "mine"
	if err := PrepareSecurityGroup(&d, &def, false); err != nil {
		t.Fatal(err)
	}
}

func TestPrepareSecurityGroupRule(t *testing.T) {
	groups := []SecurityGroup{{ID: "g", ProjectID: "p"}, {ID: "other", ProjectID: "q"}}
	for _, c := range []struct {
		name string
		in   SecurityGroupRule
		want SecurityGroupRule
	}{
		{"defaults", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress"},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", ProjectID: "p", TenantID: "p"}},
		{"ethertype any case, protocol lower-cased", SecurityGroupRule{SecurityGroupID: "g", Direction: "egress", Ethertype: "ipv6", Protocol: sp("TCP"),
			PortRangeMin: ip(22), PortRangeMax: ip(22)},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "egress", Ethertype: "IPv6", Protocol: sp("tcp"),
				PortRangeMin: ip(22), PortRangeMax: ip(22), ProjectID: "p", TenantID: "p"}},
		{"number kept a number", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("017"), PortRangeMin: ip(1), PortRangeMax: ip(65535)},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("17"), PortRangeMin: ip(1), PortRangeMax: ip(65535), ProjectID: "p", TenantID: "p"}},
		{"any is no protocol", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("any")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", ProjectID: "p", TenantID: "p"}},
		{"legacy IPv6 ICMP", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("icmp"), PortRangeMin: ip(128)},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("ipv6-icmp"), PortRangeMin: ip(128), ProjectID: "p", TenantID: "p"}},
		{"legacy IPv6 ICMP number", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("1")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("58"), ProjectID: "p", TenantID: "p"}},
		{"ICMP type and code", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("icmp"), PortRangeMin: ip(8), PortRangeMax: ip(0)},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp"), PortRangeMin: ip(8), PortRangeMax: ip(0), ProjectID: "p", TenantID: "p"}},
		{"prefix masked", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", RemoteIPPrefix: sp("10.1.2.3/16")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.1.0.0/16"), ProjectID: "p", TenantID: "p"}},
		{"bare address", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", RemoteIPPrefix: sp("10.1.2.3")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", RemoteIPPrefix: sp("10.1.2.3/32"), ProjectID: "p", TenantID: "p"}},
		{"bare IPv6 address", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("FD00::1")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", RemoteIPPrefix: sp("fd00::1/128"), ProjectID: "p", TenantID: "p"}},
		{"empty remotes are none", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", RemoteIPPrefix: sp(""), RemoteGroupID: sp("")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", ProjectID: "p", TenantID: "p"}},
		{"remote group of another project", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", RemoteGroupID: sp("other")},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: sp("other"), ProjectID: "p", TenantID: "p"}},
		{"project kept", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", ProjectID: "admin"},
			SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", ProjectID: "admin", TenantID: "admin"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.in
			if err := PrepareSecurityGroupRule(&r, groups, nil); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r, c.want) {
				t.Fatalf("got  %+v\nwant %+v", r, c.want)
			}
		})
	}
}

func TestSecurityGroupRuleRefusals(t *testing.T) {
	groups := []SecurityGroup{{ID: "g", ProjectID: "p"}}
	base := func(f func(*SecurityGroupRule)) SecurityGroupRule {
		r := SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress"}
		f(&r)
		return r
	}
	for _, c := range []struct {
		name string
		r    SecurityGroupRule
		code int
		typ  string
	}{
		{"no group", base(func(r *SecurityGroupRule) { r.SecurityGroupID = "" }), 400, "HTTPBadRequest"},
		{"no direction", base(func(r *SecurityGroupRule) { r.Direction = "" }), 400, "HTTPBadRequest"},
		{"bad direction", base(func(r *SecurityGroupRule) { r.Direction = "in" }), 400, "InvalidInput"},
		{"bad ethertype", base(func(r *SecurityGroupRule) { r.Ethertype = "IPv5" }), 400, "SecurityGroupRuleInvalidEtherType"},
		{"bad protocol", base(func(r *SecurityGroupRule) { r.Protocol = sp("tcpp") }), 400, "SecurityGroupRuleInvalidProtocol"},
		{"protocol 256", base(func(r *SecurityGroupRule) { r.Protocol = sp("256") }), 400, "SecurityGroupRuleInvalidProtocol"},
		{"ports without protocol", base(func(r *SecurityGroupRule) { r.PortRangeMin, r.PortRangeMax = ip(1), ip(2) }), 400, "SecurityGroupProtocolRequiredWithPorts"},
		{"min above max", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("tcp"), ip(80), ip(79) }), 400, "SecurityGroupInvalidPortRange"},
		{"min only", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin = sp("udp"), ip(80) }), 400, "SecurityGroupInvalidPortRange"},
		{"max only", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMax = sp("sctp"), ip(80) }), 400, "SecurityGroupInvalidPortRange"},
		{"port 0", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("tcp"), ip(0), ip(10) }), 400, "SecurityGroupInvalidPortValue"},
		{"port 65536", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("tcp"), ip(1), ip(65536) }), 400, "SecurityGroupInvalidPortValue"},
		{"ports for gre", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("gre"), ip(1), ip(2) }), 400, "SecurityGroupInvalidProtocolForPort"},
		{"ports for any number", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("0"), ip(1), ip(2) }), 400, "SecurityGroupInvalidProtocolForPort"},
		{"ICMP type 256", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin = sp("icmp"), ip(256) }), 400, "SecurityGroupInvalidIcmpValue"},
		{"ICMP code 256", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMin, r.PortRangeMax = sp("icmp"), ip(3), ip(256) }), 400, "SecurityGroupInvalidIcmpValue"},
		{"ICMP code without type", base(func(r *SecurityGroupRule) { r.Protocol, r.PortRangeMax = sp("icmp"), ip(0) }), 400, "SecurityGroupMissingIcmpType"},
		{"bad prefix", base(func(r *SecurityGroupRule) { r.RemoteIPPrefix = sp("10.0.0.0/33") }), 400, "InvalidCIDR"},
		{"bad address", base(func(r *SecurityGroupRule) { r.RemoteIPPrefix = sp("10.0.0") }), 400, "InvalidCIDR"},
		{"IPv6 prefix in IPv4 rule", base(func(r *SecurityGroupRule) { r.RemoteIPPrefix = sp("fd00::/64") }), 400, "SecurityGroupRuleParameterConflict"},
		{"IPv4 prefix in IPv6 rule", base(func(r *SecurityGroupRule) { r.Ethertype, r.RemoteIPPrefix = "IPv6", sp("10.0.0.0/8") }), 400, "SecurityGroupRuleParameterConflict"},
		{"IPv6 protocol in IPv4 rule", base(func(r *SecurityGroupRule) { r.Protocol = sp("ipv6-icmp") }), 400, "SecurityGroupEthertypeConflictWithProtocol"},
		{"icmpv6 in IPv4 rule", base(func(r *SecurityGroupRule) { r.Protocol = sp("icmpv6") }), 400, "SecurityGroupEthertypeConflictWithProtocol"},
		{"prefix and group", base(func(r *SecurityGroupRule) { r.RemoteIPPrefix, r.RemoteGroupID = sp("10.0.0.0/8"), sp("g") }), 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix"},
		{"unknown remote group", base(func(r *SecurityGroupRule) { r.RemoteGroupID = sp("nope") }), 404, "SecurityGroupNotFound"},
		{"unknown group", base(func(r *SecurityGroupRule) { r.SecurityGroupID = "nope" }), 404, "SecurityGroupNotFound"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			wantErr(t, PrepareSecurityGroupRule(&r, groups, nil), c.code, c.typ)
		})
	}
}

func TestSecurityGroupRuleDuplicates(t *testing.T) {
	groups := []SecurityGroup{{ID: "g", ProjectID: "p"}, {ID: "h", ProjectID: "p"}}
	have := []SecurityGroupRule{
		{ID: "r1", SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22)},
		{ID: "r2", SecurityGroupID: "g", Direction: "egress", Ethertype: "IPv4"},
		{ID: "r3", SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("ipv6-icmp")},
	}
	for _, c := range []struct {
		name string
		r    SecurityGroupRule
		dup  string
	}{
		{"same", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(22)}, "r1"},
		{"number for name", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("6"), PortRangeMin: ip(22), PortRangeMax: ip(22)}, "r1"},
		{"any prefix", SecurityGroupRule{SecurityGroupID: "g", Direction: "egress", RemoteIPPrefix: sp("0.0.0.0/0")}, "r2"},
		{"legacy spelling", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Ethertype: "IPv6", Protocol: sp("icmpv6")}, "r3"},
		{"other port", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress", Protocol: sp("tcp"), PortRangeMin: ip(22), PortRangeMax: ip(23)}, ""},
		{"other prefix", SecurityGroupRule{SecurityGroupID: "g", Direction: "egress", RemoteIPPrefix: sp("10.0.0.0/8")}, ""},
		{"other group", SecurityGroupRule{SecurityGroupID: "h", Direction: "egress"}, ""},
		{"other direction", SecurityGroupRule{SecurityGroupID: "g", Direction: "ingress"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			err := PrepareSecurityGroupRule(&r, groups, have)
			if c.dup == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, 409, "SecurityGroupRuleExists")
			if want := "Security group rule already exists. Rule id is " + c.dup + "."; err.Error() != want {
				t.Errorf("message %q, want %q", err, want)
			}
		})
	}
}

func TestPreparePortSecurityGroups(t *testing.T) {
	def := DefaultSecurityGroupID("p")
	groups := []SecurityGroup{{ID: def, ProjectID: "p"}, {ID: "web", ProjectID: "p"}, {ID: "theirs", ProjectID: "q"}}
	on, off := Bool(true), Bool(false)
	for _, c := range []struct {
		name  string
		p     Port
		old   *Port
		given bool
		want  []string
	}{
		{"new port gets the default group", Port{ProjectID: "p", PortSecurityEnabled: on}, nil, false, []string{def}},
		{"old-style port security (nil) is on", Port{ProjectID: "p"}, nil, false, []string{def}},
		{"explicit empty", Port{ProjectID: "p", PortSecurityEnabled: on, SecurityGroups: []string{}}, nil, true, []string{}},
		{"explicit, duplicates dropped", Port{ProjectID: "p", SecurityGroups: []string{"web", def, "web"}}, nil, true, []string{"web", def}},
		{"no port security", Port{ProjectID: "p", PortSecurityEnabled: off}, nil, false, []string{}},
		{"no port security, empty asked", Port{ProjectID: "p", PortSecurityEnabled: off, SecurityGroups: []string{}}, nil, true, []string{}},
		{"network-owned", Port{ProjectID: "p", DeviceOwner: "network:router_interface"}, nil, false, []string{}},
		{"network-owned ignores what it asks", Port{ProjectID: "p", DeviceOwner: "network:dhcp", SecurityGroups: []string{"nope"}}, nil, true, []string{}},
		{"update keeps", Port{ProjectID: "p", SecurityGroups: []string{"web"}}, &Port{SecurityGroups: []string{"web"}}, false, []string{"web"}},
		{"update of an old record keeps nil", Port{ProjectID: "p"}, &Port{}, false, nil},
		{"old record, port security off", Port{ProjectID: "p", PortSecurityEnabled: off}, &Port{}, false, nil},
		{"old record given groups", Port{ProjectID: "p", SecurityGroups: []string{"web"}}, &Port{}, true, []string{"web"}},
		{"update replaces", Port{ProjectID: "p", SecurityGroups: []string{def}}, &Port{SecurityGroups: []string{"web"}}, true, []string{def}},
		{"update with null clears", Port{ProjectID: "p"}, &Port{SecurityGroups: []string{"web"}}, true, []string{}},
		{"off and cleared at once", Port{ProjectID: "p", PortSecurityEnabled: off, SecurityGroups: []string{}}, &Port{SecurityGroups: []string{"web"}}, true, []string{}},
		{"off after cleared", Port{ProjectID: "p", PortSecurityEnabled: off}, &Port{SecurityGroups: []string{}}, false, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			if err := PreparePortSecurityGroups(&p, c.old, c.given, groups); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.SecurityGroups, c.want) {
				t.Fatalf("security_groups %#v, want %#v", p.SecurityGroups, c.want)
			}
		})
	}
	for _, c := range []struct {
		name  string
		p     Port
		old   *Port
		given bool
		code  int
		typ   string
	}{
		{"unknown group", Port{ProjectID: "p", SecurityGroups: []string{"nope"}}, nil, true, 404, "SecurityGroupNotFound"},
		{"another project's group", Port{ProjectID: "p", SecurityGroups: []string{"theirs"}}, nil, true, 404, "SecurityGroupNotFound"},
		{"groups without port security", Port{ProjectID: "p", PortSecurityEnabled: off, SecurityGroups: []string{"web"}}, nil, true, 400, "PortSecurityAndIPRequiredForSecurityGroups"},
		{"disable keeping groups", Port{ProjectID: "p", PortSecurityEnabled: off, SecurityGroups: []string{"web"}}, &Port{SecurityGroups: []string{"web"}}, false, 409, "PortSecurityPortHasSecurityGroup"},
		{"groups on an insecure port", Port{ProjectID: "p", PortSecurityEnabled: off, SecurityGroups: []string{"web"}}, &Port{SecurityGroups: []string{}}, true, 400, "PortSecurityAndIPRequiredForSecurityGroups"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			wantErr(t, PreparePortSecurityGroups(&p, c.old, c.given, groups), c.code, c.typ)
		})
	}
}

func TestPortsUsing(t *testing.T) {
	ports := []Port{{ID: "a", SecurityGroups: []string{"g", "h"}}, {ID: "b"}, {ID: "c", SecurityGroups: []string{"h"}}}
	if got := PortsUsing(ports, "h"); !reflect.DeepEqual(got, []string{"a", "c"}) {
		t.Errorf("PortsUsing h = %v", got)
	}
	if got := PortsUsing(ports, "x"); got != nil {
		t.Errorf("PortsUsing x = %v", got)
	}
}
