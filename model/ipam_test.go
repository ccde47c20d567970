package model

import (
	"fmt"
	"net/netip"
	"testing"
)

func subnet24(t *testing.T) Subnet {
	s := Subnet{ID: "4b1c0e9a-sub", NetworkID: "n", CIDR: "10.20.0.0/24"}
	if err := PrepareSubnet(&s, nil, true); err != nil {
		t.Fatal(err)
	}
	return s
}

// Two nodes allocate from views that never see each other's new ports
// (the gossip hasn't arrived yet). They must not hand out the same address.
func TestAllocateIPTwoNodesSeparateViews(t *testing.T) {
	s := subnet24(t)
	// A node name pair whose first blocks differ (most pairs): the race of
	// two nodes picking the same empty block first is what Resolve settles.
	nodes := []string{"cmpt1", "cmpt2"}
	shared := map[netip.Addr]string{}
	for round := 0; round < 3; round++ {
		views := []map[netip.Addr]string{clone(shared), clone(shared)}
		got := [2][]netip.Addr{}
		for i := range nodes {
			for range 10 {
				a, err := AllocateIP(s, views[i], nodes[i])
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := views[i][a]; dup {
					t.Fatalf("%s allocated %s twice", nodes[i], a)
				}
				if !InPools(s, a) || a.String() == *s.GatewayIP {
					t.Fatalf("%s allocated %s outside pools / gateway", nodes[i], a)
				}
				views[i][a] = nodes[i]
				got[i] = append(got[i], a)
			}
		}
		for _, a := range got[0] {
			for _, b := range got[1] {
				if a == b {
					t.Fatalf("round %d: both nodes allocated %s", round, a)
				}
			}
		}
		// Gossip converges; next round starts from the merged view.
		for i := range nodes {
			for _, a := range got[i] {
				shared[a] = nodes[i]
			}
		}
	}
	if len(shared) != 60 {
		t.Fatalf("%d addresses, want 60", len(shared))
	}
}

// Many node pairs from an already converged state: once each node owns a
// block it keeps allocating there, so no collisions at all.
func TestAllocateIPOwnedBlocksNeverCollide(t *testing.T) {
	s := subnet24(t)
	for k := range 20 {
		a, b := fmt.Sprintf("node-%d", k), fmt.Sprintf("node-%d", k+100)
		shared := map[netip.Addr]string{}
		first := func(n string) {
			ip, err := AllocateIP(s, shared, n)
			if err != nil {
				t.Fatal(err)
			}
			shared[ip] = n
		}
		first(a)
		first(b)
		va, vb := clone(shared), clone(shared)
		for range 8 {
			x, _ := AllocateIP(s, va, a)
			y, _ := AllocateIP(s, vb, b)
			va[x], vb[y] = a, b
			if _, ok := vb[x]; ok {
				t.Fatalf("pair %d: %s allocated by both", k, x)
			}
			if _, ok := va[y]; ok {
				t.Fatalf("pair %d: %s allocated by both", k, y)
			}
		}
	}
}

func TestAllocateIPFallbackAndExhaustion(t *testing.T) {
	s := Subnet{ID: "s", CIDR: "10.0.0.0/28"} // one block, 13 pool addresses + gw
	if err := PrepareSubnet(&s, nil, true); err != nil {
		t.Fatal(err)
	}
	used := map[netip.Addr]string{netip.MustParseAddr("10.0.0.2"): "other"}
	// The only block is someone else's: fall back to any free address.
	a, err := AllocateIP(s, used, "me")
	if err != nil || a.String() != "10.0.0.3" {
		t.Fatalf("fallback got %v %v", a, err)
	}
	for i := 3; i <= 14; i++ {
		used[netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})] = "me"
	}
	if _, err := AllocateIP(s, used, "me"); err == nil {
		t.Fatal("allocated from a full subnet")
	}
}

func clone(m map[netip.Addr]string) map[netip.Addr]string {
	c := make(map[netip.Addr]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// The DHCP port's address is known from the subnet alone: no node hands it
// to a VM while DHCP is on, even one that has not seen the DHCP port yet.
func TestAllocateIPKeepsDHCPAddress(t *testing.T) {
	s := subnet24(t)
	s.AllocationPools = []AllocationPool{{"10.20.0.100", "10.20.0.101"}}
	s.EnableDHCP = true
	if got := DHCPAddress(s).String(); got != "10.20.0.100" {
		t.Fatalf("DHCP address %s", got)
	}
	for _, node := range []string{"cmpt1", "cmpt2", "cmpt3"} {
		a, err := AllocateIP(s, map[netip.Addr]string{}, node)
		if err != nil || a.String() != "10.20.0.101" {
			t.Fatalf("%s: %s %v, want 10.20.0.101", node, a, err)
		}
	}
	if _, err := AllocateIP(s, map[netip.Addr]string{netip.MustParseAddr("10.20.0.101"): "cmpt1"}, "cmpt2"); err == nil {
		t.Fatal("the DHCP address was handed out")
	}
	s.EnableDHCP = false
	if a, err := AllocateIP(s, map[netip.Addr]string{netip.MustParseAddr("10.20.0.101"): "cmpt1"}, "cmpt2"); err != nil || a.String() != "10.20.0.100" {
		t.Fatalf("DHCP off: %s %v", a, err)
	}
}
