package model

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestPrepareSubnet(t *testing.T) {
	others := []Subnet{{ID: "s1", NetworkID: "n1", CIDR: "10.0.0.0/24"}, {ID: "s9", NetworkID: "n9", CIDR: "10.1.0.0/16"}}
	cases := []struct {
		name  string
		in    Subnet
		defGW bool
		code  int
		gw    *string
		pools []AllocationPool
	}{
		{"default gateway", Subnet{CIDR: "10.1.0.0/24"}, true, 0, ptr("10.1.0.1"), []AllocationPool{{"10.1.0.2", "10.1.0.254"}}},
		{"null gateway", Subnet{CIDR: "10.1.0.0/24"}, false, 0, nil, []AllocationPool{{"10.1.0.1", "10.1.0.254"}}},
		{"middle gateway", Subnet{CIDR: "10.1.0.0/28", GatewayIP: ptr("10.1.0.5")}, false, 0, ptr("10.1.0.5"), []AllocationPool{{"10.1.0.1", "10.1.0.4"}, {"10.1.0.6", "10.1.0.14"}}},
		{"last gateway", Subnet{CIDR: "10.1.0.0/29", GatewayIP: ptr("10.1.0.6")}, false, 0, ptr("10.1.0.6"), []AllocationPool{{"10.1.0.1", "10.1.0.5"}}},
		{"slash30", Subnet{CIDR: "10.1.0.0/30"}, true, 0, ptr("10.1.0.1"), []AllocationPool{{"10.1.0.2", "10.1.0.2"}}},
		{"explicit pools", Subnet{CIDR: "10.1.0.0/24", AllocationPools: []AllocationPool{{"10.1.0.100", "10.1.0.200"}}}, true, 0, ptr("10.1.0.1"), []AllocationPool{{"10.1.0.100", "10.1.0.200"}}},
		{"host bits", Subnet{CIDR: "10.1.0.1/24"}, true, 400, nil, nil},
		{"garbage cidr", Subnet{CIDR: "10.1.0/24"}, true, 400, nil, nil},
		{"ipv6", Subnet{CIDR: "fd00::/64"}, true, 400, nil, nil},
		{"ipv6 version", Subnet{CIDR: "10.1.0.0/24", IPVersion: 6}, true, 400, nil, nil},
		{"no cidr", Subnet{}, true, 400, nil, nil},
		{"slash31", Subnet{CIDR: "10.1.0.0/31"}, true, 400, nil, nil},
		{"overlap", Subnet{CIDR: "10.0.0.128/25"}, true, 400, nil, nil},
		{"overlap bigger", Subnet{CIDR: "10.0.0.0/8"}, true, 400, nil, nil},
		{"other network no overlap", Subnet{CIDR: "10.1.0.0/24"}, true, 0, ptr("10.1.0.1"), nil},
		{"gateway outside", Subnet{CIDR: "10.1.0.0/24", GatewayIP: ptr("10.2.0.1")}, false, 400, nil, nil},
		{"gateway network", Subnet{CIDR: "10.1.0.0/24", GatewayIP: ptr("10.1.0.0")}, false, 400, nil, nil},
		{"gateway broadcast", Subnet{CIDR: "10.1.0.0/24", GatewayIP: ptr("10.1.0.255")}, false, 400, nil, nil},
		{"gateway garbage", Subnet{CIDR: "10.1.0.0/24", GatewayIP: ptr("x")}, false, 400, nil, nil},
		{"pool outside", Subnet{CIDR: "10.1.0.0/24", AllocationPools: []AllocationPool{{"10.1.0.2", "10.1.1.5"}}}, true, 400, nil, nil},
		{"pool reversed", Subnet{CIDR: "10.1.0.0/24", AllocationPools: []AllocationPool{{"10.1.0.9", "10.1.0.5"}}}, true, 400, nil, nil},
		{"pool with gateway", Subnet{CIDR: "10.1.0.0/24", AllocationPools: []AllocationPool{{"10.1.0.1", "10.1.0.5"}}}, true, 409, nil, nil},
		{"pools overlap", Subnet{CIDR: "10.1.0.0/24", AllocationPools: []AllocationPool{{"10.1.0.2", "10.1.0.9"}, {"10.1.0.9", "10.1.0.20"}}}, true, 409, nil, nil},
		{"bad dns", Subnet{CIDR: "10.1.0.0/24", DNSNameservers: []string{"dns.example"}}, true, 400, nil, nil},
		{"bad route", Subnet{CIDR: "10.1.0.0/24", HostRoutes: []HostRoute{{"10.9.0.0/16", "nope"}}}, true, 400, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.in
			s.ID, s.NetworkID = "new", "n1"
			if c.name == "other network no overlap" {
				s.CIDR = "10.1.0.0/24"
			}
			err := PrepareSubnet(&s, others, c.defGW)
			if c.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != c.code {
					t.Fatalf("err = %v, want code %d", err, c.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.GatewayIP, c.gw) {
				t.Errorf("gateway %v, want %v", deref(s.GatewayIP), deref(c.gw))
			}
			if c.pools != nil && !reflect.DeepEqual(s.AllocationPools, c.pools) {
				t.Errorf("pools %v, want %v", s.AllocationPools, c.pools)
			}
			if s.IPVersion != 4 || s.DNSNameservers == nil || s.HostRoutes == nil {
				t.Errorf("defaults not filled: %+v", s)
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestSubnetDHCPFieldErrors: bad pools, nameservers and host routes get
// Neutron's exception types, which clients match on.
func TestSubnetDHCPFieldErrors(t *testing.T) {
	pools := func(p ...string) []AllocationPool {
		var out []AllocationPool
		for i := 0; i < len(p); i += 2 {
			out = append(out, AllocationPool{p[i], p[i+1]})
		}
		return out
	}
	six := []string{"10.9.0.1", "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"}
	var many []HostRoute
	for i := range MaxHostRoutes + 1 {
		many = append(many, HostRoute{fmt.Sprintf("10.%d.0.0/16", 100+i), "10.1.0.9"})
	}
	for _, c := range []struct {
		name string
		in   Subnet
		typ  string
		msg  string
	}{
		{"pool outside the cidr", Subnet{AllocationPools: pools("10.1.0.200", "10.1.1.5")}, "OutOfBoundsAllocationPool",
			"The allocation pool 10.1.0.200-10.1.1.5 spans beyond the subnet cidr 10.1.0.0/24."},
		{"pool over the broadcast", Subnet{AllocationPools: pools("10.1.0.200", "10.1.0.255")}, "OutOfBoundsAllocationPool", ""},
		{"pool reversed", Subnet{AllocationPools: pools("10.1.0.9", "10.1.0.5")}, "InvalidAllocationPool",
			"The allocation pool 10.1.0.9-10.1.0.5 is not valid."},
		{"pool not addresses", Subnet{AllocationPools: pools("x", "10.1.0.5")}, "InvalidAllocationPool", ""},
		{"gateway inside a pool", Subnet{GatewayIP: ptr("10.1.0.50"), AllocationPools: pools("10.1.0.2", "10.1.0.99")},
			"GatewayConflictWithAllocationPools", "Gateway ip 10.1.0.50 conflicts with allocation pool 10.1.0.2-10.1.0.99."},
		{"pools overlap", Subnet{AllocationPools: pools("10.1.0.10", "10.1.0.20", "10.1.0.20", "10.1.0.30")}, "OverlappingAllocationPools",
			"Found overlapping allocation pools: 10.1.0.10-10.1.0.20 10.1.0.20-10.1.0.30 for subnet 10.1.0.0/24."},
		{"six nameservers", Subnet{DNSNameservers: six}, "DNSNameServersExhausted", ""},
		{"nameserver twice", Subnet{DNSNameservers: []string{"10.9.0.1", "10.9.0.1"}}, "InvalidInput", ""},
		{"IPv6 nameserver", Subnet{DNSNameservers: []string{"2001:db8::1"}}, "InvalidInput", ""},
		{"21 host routes", Subnet{HostRoutes: many}, "HostRoutesExhausted", ""},
		{"route with host bits", Subnet{HostRoutes: []HostRoute{{"10.8.0.1/16", "10.1.0.9"}}}, "InvalidInput", ""},
		{"IPv6 route", Subnet{HostRoutes: []HostRoute{{"2001:db8::/64", "10.1.0.9"}}}, "InvalidInput", ""},
		{"route twice", Subnet{HostRoutes: []HostRoute{{"10.8.0.0/16", "10.1.0.9"}, {"10.8.0.0/16", "10.1.0.9"}}}, "InvalidInput", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.in
			s.ID, s.NetworkID, s.CIDR = "new", "n1", "10.1.0.0/24"
			var e *Error
			if err := PrepareSubnet(&s, nil, s.GatewayIP == nil); !errors.As(err, &e) || e.Type != c.typ {
				t.Fatalf("err = %v, want %s", err, c.typ)
			}
			if c.msg != "" && e.Msg != c.msg {
				t.Errorf("message %q, want %q", e.Msg, c.msg)
			}
		})
	}
	s := Subnet{ID: "new", NetworkID: "n1", CIDR: "10.1.0.0/24", DNSNameservers: []string{"010.9.0.1"},
		HostRoutes: []HostRoute{{"10.8.0.0/16", "10.1.0.9"}, {"0.0.0.0/0", "0.0.0.0"}}}
	if err := PrepareSubnet(&s, nil, true); err == nil {
		t.Error("a nameserver with a leading zero was taken")
	}
	s.DNSNameservers = []string{"10.9.0.1", "10.9.0.2"}
	if err := PrepareSubnet(&s, nil, true); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.DNSNameservers, []string{"10.9.0.1", "10.9.0.2"}) || len(s.HostRoutes) != 2 {
		t.Errorf("kept %v %v", s.DNSNameservers, s.HostRoutes)
	}
}
