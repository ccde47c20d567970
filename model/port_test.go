package model

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func testSubnets() []Subnet {
	a := Subnet{ID: "sa", NetworkID: "n1", CIDR: "10.0.0.0/24", CreatedAt: "2024-01-01T00:00:00Z"}
	b := Subnet{ID: "sb", NetworkID: "n1", CIDR: "10.0.1.0/24", CreatedAt: "2024-01-01T00:00:01Z"}
	for _, s := range []*Subnet{&a, &b} {
		if err := PrepareSubnet(s, nil, true); err != nil {
			panic(err)
		}
	}
	return []Subnet{b, a} // order must not matter: sa is older
}

func TestPreparePort(t *testing.T) {
	others := []Port{{ID: "p1", NetworkID: "n1", MACAddress: "fa:16:3e:00:00:01", HostID: "n1", FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: "10.0.0.2"}}}}
	cases := []struct {
		name    string
		in      Port
		code    int
		errType string
		ips     []string
	}{
		{"defaults", Port{}, 0, "", []string{"10.0.0.*"}},
		{"explicit ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.1.7"}}}, 0, "", []string{"10.0.1.7"}},
		{"subnet only", Port{FixedIPs: []FixedIP{{SubnetID: "sb"}}}, 0, "", []string{"10.0.1.*"}},
		{"two ips", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.9"}, {SubnetID: "sb", IPAddress: "10.0.1.9"}}}, 0, "", []string{"10.0.0.9", "10.0.1.9"}},
		{"no ips", Port{FixedIPs: []FixedIP{}}, 0, "", nil},
		{"mac upper", Port{MACAddress: "FA:16:3E:AA:BB:CC"}, 0, "", []string{"10.0.0.*"}},
		{"dup mac", Port{MACAddress: "FA:16:3E:00:00:01"}, 409, "MacAddressInUse", nil},
		{"bad mac", Port{MACAddress: "fa:16:3e:00:01"}, 400, "InvalidInput", nil},
		{"multicast mac", Port{MACAddress: "01:00:5e:00:00:01"}, 400, "InvalidInput", nil},
		{"zero mac", Port{MACAddress: "00:00:00:00:00:00"}, 400, "InvalidInput", nil},
		{"dup ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.2"}}}, 409, "IpAddressAlreadyAllocated", nil},
		{"ip not in network", Port{FixedIPs: []FixedIP{{IPAddress: "10.9.0.2"}}}, 400, "InvalidIpForNetwork", nil},
		{"ip not in subnet", Port{FixedIPs: []FixedIP{{SubnetID: "sa", IPAddress: "10.0.1.2"}}}, 400, "InvalidIpForSubnet", nil},
		{"gateway ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.1"}}}, 400, "InvalidInput", nil},
		{"network ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.0"}}}, 400, "InvalidInput", nil},
		{"broadcast ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.255"}}}, 400, "InvalidInput", nil},
		{"garbage ip", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0"}}}, 400, "InvalidInput", nil},
		{"unknown subnet", Port{FixedIPs: []FixedIP{{SubnetID: "zz"}}}, 400, "InvalidInput", nil},
		{"same ip twice", Port{FixedIPs: []FixedIP{{IPAddress: "10.0.0.9"}, {IPAddress: "10.0.0.9"}}}, 400, "InvalidInput", nil},
		{"netns and device", Port{Profile: map[string]string{"netns": "a", "device": "b"}}, 400, "InvalidInput", nil},
		{"device too long", Port{Profile: map[string]string{"device": "abcdefghijklmnop"}}, 400, "InvalidInput", nil},
		{"netns slash", Port{Profile: map[string]string{"netns": "../x"}}, 400, "InvalidInput", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.in
			p.ID, p.NetworkID, p.HostID = "new", "n1", "node1"
			err := PreparePort(&p, testSubnets(), others)
			if c.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != c.code || e.Type != c.errType {
					t.Fatalf("err = %#v, want %d %s", err, c.code, c.errType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.MACAddress != strings.ToLower(p.MACAddress) || !strings.HasPrefix(p.MACAddress, "fa:16:3e:") {
				t.Errorf("mac %q", p.MACAddress)
			}
			if len(p.FixedIPs) != len(c.ips) {
				t.Fatalf("fixed ips %v, want %v", p.FixedIPs, c.ips)
			}
			for i, want := range c.ips {
				got := p.FixedIPs[i]
				if got.SubnetID == "" {
					t.Errorf("fixed ip %d has no subnet", i)
				}
				if pre, ok := strings.CutSuffix(want, "*"); ok {
					a := netip.MustParseAddr(got.IPAddress)
					if !strings.HasPrefix(got.IPAddress, pre) || got.IPAddress == "10.0.0.2" || got.IPAddress == "10.0.0.1" || got.IPAddress == "10.0.1.1" || !a.Is4() {
						t.Errorf("allocated %s, want %s and free", got.IPAddress, want)
					}
				} else if got.IPAddress != want {
					t.Errorf("ip %s, want %s", got.IPAddress, want)
				}
			}
		})
	}
}

func TestPreparePortNoSubnets(t *testing.T) {
	p := Port{ID: "x", NetworkID: "n"}
	if err := PreparePort(&p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.FixedIPs == nil || len(p.FixedIPs) != 0 {
		t.Fatalf("fixed ips %v, want empty non-nil", p.FixedIPs)
	}
}

func TestPreparePortExhausted(t *testing.T) {
	s := Subnet{ID: "s", NetworkID: "n", CIDR: "10.0.0.0/30"}
	if err := PrepareSubnet(&s, nil, true); err != nil {
		t.Fatal(err)
	}
	p := Port{ID: "a", NetworkID: "n", HostID: "h"}
	if err := PreparePort(&p, []Subnet{s}, nil); err != nil || p.FixedIPs[0].IPAddress != "10.0.0.2" {
		t.Fatalf("first port: %v %v", err, p.FixedIPs)
	}
	q := Port{ID: "b", NetworkID: "n", HostID: "h"}
	var e *Error
	if err := PreparePort(&q, []Subnet{s}, []Port{p}); !errors.As(err, &e) || e.Code != 409 || e.Type != "IpAddressGenerationFailure" {
		t.Fatalf("second port: %v", err)
	}
}
