package model

import (
	"errors"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestPrepareNetwork(t *testing.T) {
	others := []Network{
		{ID: "v100", NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(100)},
		{ID: "x5000", NetworkType: TypeVXLAN, SegmentationID: ptr(5000)},
		{ID: "g7", NetworkType: TypeGRE, SegmentationID: ptr(7)},
		{ID: "flat", NetworkType: TypeFlat, PhysicalNetwork: ptr("ext")},
	}
	cases := []struct {
		name    string
		in      Network
		code    int
		errType string
		mtu     int
	}{
		{"local", Network{NetworkType: TypeLocal}, 0, "", 1500},
		{"local with segment", Network{NetworkType: TypeLocal, SegmentationID: ptr(3)}, 400, "InvalidInput", 0},
		{"default type vxlan", Network{}, 0, "", 1450},
		{"bad type", Network{NetworkType: "geneve"}, 400, "InvalidInput", 0},
		{"vlan ok", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(101)}, 0, "", 1500},
		{"vlan same id other physnet", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("other"), SegmentationID: ptr(100)}, 0, "", 1500},
		{"vlan dup", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(100)}, 409, "VlanIdInUse", 0},
		{"vlan no physnet", Network{NetworkType: TypeVLAN, SegmentationID: ptr(5)}, 400, "InvalidInput", 0},
		{"vlan no segment", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public")}, 400, "InvalidInput", 0},
		{"vlan 0", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(0)}, 400, "InvalidInput", 0},
		{"vlan 4095", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(4095)}, 400, "InvalidInput", 0},
		{"vlan 4094", Network{NetworkType: TypeVLAN, PhysicalNetwork: ptr("public"), SegmentationID: ptr(4094)}, 0, "", 1500},
		{"flat ok", Network{NetworkType: TypeFlat, PhysicalNetwork: ptr("public")}, 0, "", 1500},
		{"flat dup", Network{NetworkType: TypeFlat, PhysicalNetwork: ptr("ext")}, 409, "FlatNetworkInUse", 0},
		{"flat with segment", Network{NetworkType: TypeFlat, PhysicalNetwork: ptr("public"), SegmentationID: ptr(3)}, 400, "InvalidInput", 0},
		{"flat no physnet", Network{NetworkType: TypeFlat}, 400, "InvalidInput", 0},
		{"vxlan dup", Network{NetworkType: TypeVXLAN, SegmentationID: ptr(5000)}, 409, "TunnelIdInUse", 0},
		{"vxlan same id as gre", Network{NetworkType: TypeVXLAN, SegmentationID: ptr(7)}, 0, "", 1450},
		{"vxlan too big", Network{NetworkType: TypeVXLAN, SegmentationID: ptr(1 << 24)}, 400, "InvalidInput", 0},
		{"vxlan physnet", Network{NetworkType: TypeVXLAN, PhysicalNetwork: ptr("public")}, 400, "InvalidInput", 0},
		{"gre mtu", Network{NetworkType: TypeGRE, SegmentationID: ptr(1 << 31)}, 0, "", 1458},
		{"gre dup", Network{NetworkType: TypeGRE, SegmentationID: ptr(7)}, 409, "TunnelIdInUse", 0},
		{"mtu explicit", Network{NetworkType: TypeVXLAN, MTU: 1400}, 0, "", 1400},
		{"mtu too big", Network{NetworkType: TypeVXLAN, MTU: 1451}, 400, "InvalidInput", 0},
		{"mtu too big flat", Network{NetworkType: TypeFlat, PhysicalNetwork: ptr("x"), MTU: 9000}, 400, "InvalidInput", 0},
		{"mtu too small", Network{NetworkType: TypeLocal, MTU: 20}, 400, "InvalidInput", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.in
			n.ID = "new-net"
			err := PrepareNetwork(&n, others, 1500)
			if c.code == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if n.MTU != c.mtu {
					t.Errorf("mtu = %d, want %d", n.MTU, c.mtu)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Code != c.code || e.Type != c.errType {
				t.Errorf("got %d %s (%s), want %d %s", e.Code, e.Type, e.Msg, c.code, c.errType)
			}
		})
	}
}

func TestAllocateSegment(t *testing.T) {
	n := Network{ID: "abc", NetworkType: TypeVXLAN}
	if err := PrepareNetwork(&n, nil, 1500); err != nil {
		t.Fatal(err)
	}
	v := *n.SegmentationID
	if v < autoSegmentBase || v >= autoSegmentBase+autoSegmentSpread {
		t.Fatalf("vni %d out of the automatic range", v)
	}
	// Deterministic per id, and steps over a taken one.
	m := Network{ID: "abc", NetworkType: TypeVXLAN}
	if err := PrepareNetwork(&m, []Network{{ID: "o", NetworkType: TypeVXLAN, SegmentationID: ptr(v)}}, 1500); err != nil {
		t.Fatal(err)
	}
	if *m.SegmentationID != v+1 {
		t.Fatalf("vni %d, want %d (next free)", *m.SegmentationID, v+1)
	}
	// Different ids rarely collide.
	seen := map[int]bool{}
	for i := range 50 {
		x := Network{ID: NewID(), NetworkType: TypeGRE}
		if err := PrepareNetwork(&x, nil, 1500); err != nil {
			t.Fatal(err)
		}
		seen[*x.SegmentationID] = true
		_ = i
	}
	if len(seen) < 45 {
		t.Fatalf("only %d distinct automatic keys out of 50", len(seen))
	}
}

func TestMTUReason(t *testing.T) {
	for _, c := range []struct {
		typ  string
		mtu  int
		want string
	}{
		{TypeVXLAN, 1450, "underlay_mtu 1500 - 50 bytes of VXLAN overhead"},
		{TypeGRE, 1458, "underlay_mtu 1500 - 42 bytes of GRE overhead"},
		{TypeFlat, 1500, "provider networks carry no encapsulation"},
		{TypeGRE, 1400, "set at creation; at most 1458 here"},
		{TypeVXLAN, 8950, "above the 1450 this node's underlay allows"},
	} {
		got := MTUReason(Network{NetworkType: c.typ, MTU: c.mtu}, 1500)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s/%d: %q does not say %q", c.typ, c.mtu, got, c.want)
		}
	}
}
