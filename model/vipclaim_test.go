package model

import (
	"net/netip"
	"testing"
)

func TestMayClaim(t *testing.T) {
	p := Port{MACAddress: "fa:16:3e:00:00:01", AllowedAddressPairs: []AddressPair{
		{IPAddress: "10.0.0.100"}, {IPAddress: "10.0.1.0/28", MACAddress: "00:00:5e:00:01:07"}},
		FixedIPs: []FixedIP{{IPAddress: "10.0.0.5"}}}
	for _, c := range []struct {
		ip, mac string
		want    bool
	}{
		{"10.0.0.100", "fa:16:3e:00:00:01", true},
		{"10.0.0.100", "FA:16:3E:00:00:01", true},
		{"10.0.0.100", "00:00:5e:00:01:07", false},
		{"10.0.1.9", "00:00:5e:00:01:07", true},
		{"10.0.1.9", "fa:16:3e:00:00:01", false},
		{"10.0.1.16", "00:00:5e:00:01:07", false},
		{"10.0.0.5", "fa:16:3e:00:00:01", false}, // a fixed IP does not move
	} {
		if got := p.MayClaim(netip.MustParseAddr(c.ip), c.mac); got != c.want {
			t.Errorf("MayClaim(%s, %s) = %t, want %t", c.ip, c.mac, got, c.want)
		}
	}
	p.PortSecurityEnabled = Bool(false)
	if p.MayClaim(netip.MustParseAddr("10.0.0.100"), "fa:16:3e:00:00:01") {
		t.Error("a port without port security made a claim")
	}
}
