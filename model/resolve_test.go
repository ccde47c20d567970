package model

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	nets := []Network{
		{ID: "na", CreatedAt: "2024-05-01T10:00:00Z", NetworkType: TypeVXLAN, SegmentationID: ptr(1000)},
		{ID: "nb", CreatedAt: "2024-05-01T10:00:01Z", NetworkType: TypeVXLAN, SegmentationID: ptr(1000)}, // loses to na
		{ID: "nc", CreatedAt: "2024-05-01T10:00:00Z", NetworkType: TypeGRE, SegmentationID: ptr(1000)},   // other type: fine
		{ID: "v2", CreatedAt: "2024-05-01T10:00:00Z", NetworkType: TypeVLAN, PhysicalNetwork: ptr("p"), SegmentationID: ptr(5)},
		{ID: "v1", CreatedAt: "2024-05-01T10:00:00Z", NetworkType: TypeVLAN, PhysicalNetwork: ptr("p"), SegmentationID: ptr(5)}, // same time: id v1 wins
		{ID: "v3", CreatedAt: "2024-05-01T09:00:00Z", NetworkType: TypeVLAN, PhysicalNetwork: ptr("q"), SegmentationID: ptr(5)},
		{ID: "f1", CreatedAt: "2024-05-01T11:00:00Z", NetworkType: TypeFlat, PhysicalNetwork: ptr("p")},
		{ID: "f0", CreatedAt: "2024-05-01T10:59:59Z", NetworkType: TypeFlat, PhysicalNetwork: ptr("p")},
	}
	subs := []Subnet{
		{ID: "s1", NetworkID: "na", CIDR: "10.0.0.0/24", CreatedAt: "2024-05-01T10:00:00Z"},
		{ID: "s2", NetworkID: "na", CIDR: "10.0.0.0/16", CreatedAt: "2024-05-01T10:00:02Z"}, // overlaps s1
		{ID: "s3", NetworkID: "nc", CIDR: "10.0.0.0/24", CreatedAt: "2024-05-01T10:00:03Z"}, // other network
	}
	ports := []Port{
		{ID: "p1", NetworkID: "na", CreatedAt: "2024-05-01T10:00:05Z", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []FixedIP{{IPAddress: "10.0.0.5"}}},
		{ID: "p2", NetworkID: "na", CreatedAt: "2024-05-01T10:00:06Z", MACAddress: "FA:16:3E:00:00:01", FixedIPs: []FixedIP{{IPAddress: "10.0.0.6"}}}, // mac
		{ID: "p3", NetworkID: "na", CreatedAt: "2024-05-01T10:00:04Z", MACAddress: "fa:16:3e:00:00:03", FixedIPs: []FixedIP{{IPAddress: "10.0.0.6"}}}, // older than p2: wins ip
		{ID: "p4", NetworkID: "na", CreatedAt: "2024-05-01T10:00:07Z", MACAddress: "fa:16:3e:00:00:04", FixedIPs: []FixedIP{{IPAddress: "10.0.0.5"}}}, // ip of p1
		{ID: "p5", NetworkID: "nc", CreatedAt: "2024-05-01T10:00:07Z", MACAddress: "fa:16:3e:00:00:01", FixedIPs: []FixedIP{{IPAddress: "10.0.0.5"}}}, // other network
		// p7 only conflicts with p6 which loses to p0: p7 wins.
		{ID: "p0", NetworkID: "nc", CreatedAt: "2024-05-01T10:00:00Z", MACAddress: "fa:16:3e:00:00:10"},
		{ID: "p6", NetworkID: "nc", CreatedAt: "2024-05-01T10:00:01Z", MACAddress: "fa:16:3e:00:00:10", FixedIPs: []FixedIP{{IPAddress: "10.0.0.77"}}},
		{ID: "p7", NetworkID: "nc", CreatedAt: "2024-05-01T10:00:02Z", MACAddress: "fa:16:3e:00:00:77", FixedIPs: []FixedIP{{IPAddress: "10.0.0.77"}}},
	}
	want := map[string]string{
		"nb": "vxlan segment 1000 already used by network na",
		"v2": "vlan 5 on physnet p already used by network v1",
		"f1": "flat physnet p already used by network f0",
		"s2": "cidr 10.0.0.0/16 overlaps subnet s1 (10.0.0.0/24)",
		"p2": "mac fa:16:3e:00:00:01 already used by port p1",
		"p4": "ip 10.0.0.5 already used by port p1",
		"p6": "mac fa:16:3e:00:00:10 already used by port p0",
	}
	got := Resolve(nets, subs, ports)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolve =\n%v\nwant\n%v", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		r.Shuffle(len(nets), func(i, j int) { nets[i], nets[j] = nets[j], nets[i] })
		r.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
		r.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
		if g := Resolve(nets, subs, ports); !reflect.DeepEqual(g, want) {
			t.Fatalf("shuffled input changed the result: %v", g)
		}
	}
	// A port whose IP conflicts is a loser even though its MAC is unique.
	if !strings.Contains(got["p4"], "10.0.0.5") {
		t.Fatal(got["p4"])
	}
}

func TestAgentID(t *testing.T) {
	a, b := AgentID("cmpt1"), AgentID("cmpt2")
	if a == b || a != AgentID("cmpt1") || len(a) != 36 {
		t.Fatalf("agent ids %s %s", a, b)
	}
	ag := NewAgent(AgentInfo{Node: "cmpt1", LocalIP: "192.0.2.1", Alive: true})
	if ag.AgentType != "bnet agent" || ag.Binary != "bnet" || ag.Host != "cmpt1" || ag.Configurations["tunneling_ip"] != "192.0.2.1" {
		t.Fatalf("%+v", ag)
	}
}
