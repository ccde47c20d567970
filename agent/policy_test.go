package agent

import (
	"net/netip"
	"testing"

	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
)

func sp(s string) *string { return &s }
func ip(n int) *int       { return &n }

func compileFor(groups []model.SecurityGroup, rules []model.SecurityGroupRule, ports []model.Port, sgs []string) (policy, desired) {
	d := desired{policyIPs: map[policyIPKey]uint32{}, policyPorts: map[policyPortKey]uint32{}}
	c := newPolicyCompiler(newSGState(groups, rules, ports), &d)
	return c.portPolicy(sgs), d
}

// classOf finds the class the datapath would pick for remote in dir.
func classOf(d desired, pol uint32, dir uint32, remote netip.Addr) (uint32, bool) {
	best, cls, found := -1, uint32(0), false
	for k, c := range d.policyIPs {
		if k.policyID == pol && k.dir == dir && k.prefix.Contains(remote) && k.prefix.Bits() > best {
			best, cls, found = k.prefix.Bits(), c, true
		}
	}
	return cls, found
}

// allows is the datapath's decision, computed from the desired entries.
func allows(d desired, pol, dir uint32, remote string, proto uint8, port uint16) bool {
	cls, ok := classOf(d, pol, dir, netip.MustParseAddr(remote))
	if !ok {
		return false
	}
	for k := range d.policyPorts {
		if k.class != cls {
			continue
		}
		if k.proto == 0 || k.proto == proto && (k.portBits == 0 ||
			port&(^uint16(0)<<(16-k.portBits)) == k.port) {
			return true
		}
	}
	return false
}

func TestPolicyCompileDefaultGroup(t *testing.T) {
	def := model.SecurityGroup{ID: "g-def"}
	web := model.SecurityGroup{ID: "g-web"}
	rules := []model.SecurityGroupRule{
		{ID: "r1", SecurityGroupID: "g-def", Direction: "egress", Ethertype: "IPv4"},
		{ID: "r2", SecurityGroupID: "g-def", Direction: "egress", Ethertype: "IPv6"},
		{ID: "r3", SecurityGroupID: "g-def", Direction: "ingress", Ethertype: "IPv4", RemoteGroupID: sp("g-def")},
		{ID: "r4", SecurityGroupID: "g-def", Direction: "ingress", Ethertype: "IPv6", RemoteGroupID: sp("g-def")},
		{ID: "r5", SecurityGroupID: "g-web", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("tcp"),
			PortRangeMin: ip(22), PortRangeMax: ip(22), RemoteIPPrefix: sp("0.0.0.0/0")},
		{ID: "r6", SecurityGroupID: "g-web", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("icmp"),
			PortRangeMin: ip(8), RemoteIPPrefix: sp("192.0.2.0/24")},
		{ID: "r7", SecurityGroupID: "g-web", Direction: "ingress", Ethertype: "IPv4", Protocol: sp("udp"),
			PortRangeMin: ip(1000), PortRangeMax: ip(1999)},
	}
	ports := []model.Port{
		{ID: "p1", SecurityGroups: []string{"g-def"}, FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.5"}},
			AllowedAddressPairs: []model.AddressPair{{IPAddress: "10.0.9.0/28"}}},
		{ID: "p2", SecurityGroups: []string{"g-def", "g-web"}, FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.6"}}},
		{ID: "p3", SecurityGroups: []string{"g-web"}, FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.7"}}},
		{ID: "p4", SecurityGroups: []string{"g-def"}, FixedIPs: []model.FixedIP{{IPAddress: "10.0.0.8"}},
			PortSecurityEnabled: model.Bool(false)},
	}
	groups := []model.SecurityGroup{def, web}
	p, d := compileFor(groups, rules, ports, []string{"g-web", "g-def"})
	if !p.v6out || p.v6in {
		t.Fatalf("v6 in/out = %t/%t, want false/true (default: IPv6 out, in only from the group)", p.v6in, p.v6out)
	}
	in, out := uint32(maps.DirIngress), uint32(maps.DirEgress)
	for _, c := range []struct {
		dir    uint32
		remote string
		proto  uint8
		port   uint16
		want   bool
	}{
		{out, "198.51.100.1", 17, 53, true},   // egress: anything
		{in, "10.0.0.5", 17, 53, true},        // a member of default: anything
		{in, "10.0.9.3", 6, 80, true},         // a member's allowed address pair
		{in, "10.0.0.6", 6, 80, true},         // itself
		{in, "10.0.0.7", 6, 80, false},        // p3 is in web only
		{in, "10.0.0.8", 6, 80, false},        // p4 has port security off: no member
		{in, "10.0.0.7", 6, 22, true},         // ssh from anywhere
		{in, "203.0.113.9", 6, 22, true},      // ssh from anywhere
		{in, "203.0.113.9", 6, 23, false},     //
		{in, "192.0.2.7", 1, 8 << 8, true},    // echo request from 192.0.2.0/24
		{in, "192.0.2.7", 1, 0, false},        // echo reply is not a request
		{in, "192.0.2.7", 6, 22, true},        // the /24's class carries 0/0's ssh
		{in, "203.0.113.9", 1, 8 << 8, false}, // ping from elsewhere
		{in, "203.0.113.9", 17, 1000, true},   // 1000-1999 any remote
		{in, "203.0.113.9", 17, 1999, true},   //
		{in, "203.0.113.9", 17, 2000, false},  //
		{in, "203.0.113.9", 17, 999, false},   //
	} {
		if got := allows(d, p.id, c.dir, c.remote, c.proto, c.port); got != c.want {
			t.Errorf("%s from %s proto %d port %d: %t, want %t", maps.DirName(c.dir), c.remote, c.proto, c.port, got, c.want)
		}
	}

	// Same input, same ids and epoch: a restarted agent rewrites nothing.
	p2, d2 := compileFor(groups, rules, ports, []string{"g-def", "g-web", "g-def"})
	if p2 != p || len(d2.policyIPs) != len(d.policyIPs) || len(d2.policyPorts) != len(d.policyPorts) {
		t.Fatalf("recompile differs: %+v vs %+v", p2, p)
	}
	// A rule removed changes the epoch; the group set keeps its id.
	p3, _ := compileFor(groups, rules[:6], ports, []string{"g-def", "g-web"})
	if p3.id != p.id || p3.epoch == p.epoch {
		t.Fatalf("after removing a rule: id %d->%d epoch %x->%x", p.id, p3.id, p.epoch, p3.epoch)
	}
	// No groups: a policy with nothing in it (the datapath denies all).
	p4, d4 := compileFor(groups, rules, ports, nil)
	if len(d4.policyIPs) != 0 || p4.id == 0 {
		t.Fatalf("empty policy: %+v %v", p4, d4.policyIPs)
	}
}
