package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const testMAC = "fa:16:3e:00:00:0a"

func TestPortSecurityDefaults(t *testing.T) {
	// Records older than the attributes decode with nil: effective true.
	var old Port
	if err := json.Unmarshal([]byte(`{"id": "p", "mac_address": "`+testMAC+`"}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.PortSecurityEnabled != nil || !old.PortSecurity() {
		t.Fatalf("old port: %v %v", old.PortSecurityEnabled, old.PortSecurity())
	}
	var oldNet Network
	if err := json.Unmarshal([]byte(`{"id": "n"}`), &oldNet); err != nil {
		t.Fatal(err)
	}
	if !oldNet.PortSecurity() {
		t.Fatal("old network: port security off")
	}
	if (Port{PortSecurityEnabled: Bool(false)}).PortSecurity() || !(Port{PortSecurityEnabled: Bool(true)}).PortSecurity() {
		t.Fatal("explicit values not kept")
	}

	// A new port takes its network's value unless it has one.
	for _, c := range []struct {
		net, port *bool
		want      bool
	}{{nil, nil, true}, {Bool(true), nil, true}, {Bool(false), nil, false}, {Bool(false), Bool(true), true}, {Bool(true), Bool(false), false}} {
		p := Port{PortSecurityEnabled: c.port}
		DefaultPortSecurity(&p, Network{PortSecurityEnabled: c.net})
		if p.PortSecurityEnabled == nil || *p.PortSecurityEnabled != c.want {
			t.Errorf("network %v port %v: got %v, want %v", c.net, c.port, p.PortSecurityEnabled, c.want)
		}
	}

	// PreparePort makes both attributes explicit.
	p := Port{ID: "x", NetworkID: "n1", MACAddress: testMAC}
	if err := PreparePort(&p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.PortSecurityEnabled == nil || !*p.PortSecurityEnabled || p.AllowedAddressPairs == nil || len(p.AllowedAddressPairs) != 0 {
		t.Fatalf("prepared port: %v %v", p.PortSecurityEnabled, p.AllowedAddressPairs)
	}
	b, _ := json.Marshal(p)
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["port_security_enabled"] != true || !reflect.DeepEqual(m["allowed_address_pairs"], []any{}) {
		t.Fatalf("prepared port JSON %s", b)
	}

	// A network gets true unless it says otherwise.
	for _, in := range []*bool{nil, Bool(true), Bool(false)} {
		n := Network{ID: "n", NetworkType: TypeLocal, PortSecurityEnabled: in}
		if err := PrepareNetwork(&n, nil, 1500); err != nil {
			t.Fatal(err)
		}
		if n.PortSecurityEnabled == nil || *n.PortSecurityEnabled != (in == nil || *in) {
			t.Errorf("network with %v: %v", in, n.PortSecurityEnabled)
		}
	}
}

func TestAllowedAddressPairs(t *testing.T) {
	eleven := make([]AddressPair, 11)
	ten := make([]AddressPair, 10)
	for i := range eleven {
		eleven[i] = AddressPair{IPAddress: fmt.Sprintf("10.0.9.%d", i+1)}
		if i < 10 {
			ten[i] = eleven[i]
		}
	}
	pairs := func(ps ...string) []AddressPair {
		var out []AddressPair
		for i := 0; i < len(ps); i += 2 {
			out = append(out, AddressPair{IPAddress: ps[i], MACAddress: ps[i+1]})
		}
		return out
	}
	cases := []struct {
		name    string
		sec     *bool
		in      []AddressPair
		code    int
		errType string
		want    []AddressPair
	}{
		{"none", nil, nil, 0, "", []AddressPair{}},
		{"empty with security off", Bool(false), []AddressPair{}, 0, "", []AddressPair{}},
		{"address takes the port's mac", nil, pairs("10.0.0.100", ""), 0, "", pairs("10.0.0.100", testMAC)},
		{"cidr masked", nil, pairs("10.0.0.7/24", ""), 0, "", pairs("10.0.0.0/24", testMAC)},
		{"host prefix kept", nil, pairs("10.0.0.7/32", ""), 0, "", pairs("10.0.0.7/32", testMAC)},
		{"any address", nil, pairs("0.0.0.0/0", ""), 0, "", pairs("0.0.0.0/0", testMAC)},
		{"mac normalized", Bool(true), pairs("10.0.0.100", "FA:16:3E:AA:BB:CC"), 0, "", pairs("10.0.0.100", "fa:16:3e:aa:bb:cc")},
		{"own address and mac", nil, pairs("10.0.0.9", testMAC), 0, "", pairs("10.0.0.9", testMAC)},
		{"same ip other mac", nil, pairs("10.0.0.100", "", "10.0.0.100", "fa:16:3e:aa:bb:cc"), 0, "",
			pairs("10.0.0.100", testMAC, "10.0.0.100", "fa:16:3e:aa:bb:cc")},
		{"ten", nil, ten, 0, "", nil},
		{"eleven", nil, eleven, 400, "AllowedAddressPairExhausted", nil},
		{"missing ip", nil, pairs("", testMAC), 400, "AllowedAddressPairsMissingIP", nil},
		{"bad ip", nil, pairs("10.0.0", ""), 400, "InvalidInput", nil},
		{"ipv6", nil, pairs("fd00::1", ""), 400, "InvalidInput", nil},
		{"ipv6 cidr", nil, pairs("fd00::/64", ""), 400, "InvalidInput", nil},
		{"mapped ipv4", nil, pairs("::ffff:10.0.0.1", ""), 400, "InvalidInput", nil},
		{"bad cidr", nil, pairs("10.0.0.0/33", ""), 400, "InvalidInput", nil},
		{"bad mac", nil, pairs("10.0.0.100", "fa:16:3e:00:01"), 400, "InvalidInput", nil},
		{"multicast mac", nil, pairs("10.0.0.100", "01:00:5e:00:00:01"), 400, "InvalidInput", nil},
		{"zero mac", nil, pairs("10.0.0.100", "00:00:00:00:00:00"), 400, "InvalidInput", nil},
		{"duplicate", nil, pairs("10.0.0.100", "", "10.0.0.100", ""), 400, "DuplicateAddressPairInRequest", nil},
		{"duplicate once normalized", nil, pairs("10.0.0.100", "", "10.0.0.100", "FA:16:3E:00:00:0A"), 400, "DuplicateAddressPairInRequest", nil},
		{"duplicate cidr once masked", nil, pairs("10.0.0.0/24", "", "10.0.0.5/24", ""), 400, "DuplicateAddressPairInRequest", nil},
		{"pairs without port security", Bool(false), pairs("10.0.0.100", ""), 409, "AddressPairAndPortSecurityRequired", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Port{ID: "new", NetworkID: "n1", HostID: "node1", MACAddress: testMAC, PortSecurityEnabled: c.sec,
				AllowedAddressPairs: c.in, FixedIPs: []FixedIP{{IPAddress: "10.0.0.9"}}}
			err := PreparePort(&p, testSubnets(), nil)
			if c.code != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Code != c.code || e.Type != c.errType {
					t.Fatalf("err = %#v, want %d %s", err, c.code, c.errType)
				}
				if c.errType == "AddressPairAndPortSecurityRequired" && e.Msg != "Port Security must be enabled in order to have allowed address pairs on a port." {
					t.Errorf("message %q", e.Msg)
				}
				if strings.HasPrefix(c.name, "ipv6") && !strings.Contains(e.Msg, "IPv6 allowed address pairs are not supported") {
					t.Errorf("message %q does not say why", e.Msg)
				}
				if c.errType == "AllowedAddressPairExhausted" && e.Msg != "The number of allowed address pair exceeds the maximum 10." {
					t.Errorf("message %q", e.Msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == nil {
				want = make([]AddressPair, len(c.in))
				for i, ap := range c.in {
					want[i] = AddressPair{IPAddress: ap.IPAddress, MACAddress: testMAC}
				}
			}
			if !reflect.DeepEqual(p.AllowedAddressPairs, want) {
				t.Errorf("pairs %v, want %v", p.AllowedAddressPairs, want)
			}
		})
	}
}

// Pairs take the port's MAC as it ends up: a generated one on create, a
// normalized one when the client gave it.
func TestAllowedAddressPairTakesFinalMAC(t *testing.T) {
	p := Port{ID: "a", NetworkID: "n1", AllowedAddressPairs: []AddressPair{{IPAddress: "10.0.0.100"}}}
	if err := PreparePort(&p, nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.MACAddress == "" || p.AllowedAddressPairs[0].MACAddress != p.MACAddress {
		t.Fatalf("generated mac %q, pair %v", p.MACAddress, p.AllowedAddressPairs)
	}
	q := Port{ID: "b", NetworkID: "n1", MACAddress: "FA:16:3E:00:00:0B", AllowedAddressPairs: []AddressPair{{IPAddress: "10.0.0.100"}}}
	if err := PreparePort(&q, nil, nil); err != nil {
		t.Fatal(err)
	}
	if q.AllowedAddressPairs[0].MACAddress != "fa:16:3e:00:00:0b" {
		t.Fatalf("pair %v", q.AllowedAddressPairs)
	}
	// A network-owned port is not refused for its flag: the datapath
	// exempts it.
	r := Port{ID: "c", NetworkID: "n1", DeviceOwner: OwnerRouterGateway, PortSecurityEnabled: Bool(true)}
	if err := PreparePort(&r, nil, nil); err != nil || !r.NetworkOwned() || !r.PortSecurity() {
		t.Fatalf("network-owned port: %v", err)
	}
}
