package maps

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestRowsRoundTrip(t *testing.T) {
	e := newEnv(t)
	m := e.m
	must := e.must

	must(m.PutPort(PortRow{Ifindex: 20, NetID: 2, MAC: macB, Up: false}))
	must(m.PutPort(PortRow{Ifindex: 10, NetID: 1, MAC: macA, Up: true}))
	must(m.PutPort(PortRow{Ifindex: 10, NetID: 1, MAC: macA, Up: true})) // idempotent
	must(m.PutNetwork(NetRow{NetID: 2, Type: "vlan", Segment: 42, PhysIfindex: 3, MTU: 1500}))
	must(m.PutNetwork(NetRow{NetID: 1, Type: "VXLAN", Segment: 100, MTU: 1450}))
	must(m.PutSegment(SegmentRow{Type: "vlan", Ifindex: 3, Segment: 42, NetID: 2}))
	must(m.PutSegment(SegmentRow{Type: "vxlan", Segment: 100, NetID: 1}))
	must(m.PutFDB(FDBRow{NetID: 1, MAC: macR, VTEP: vtep}))
	must(m.PutFDB(FDBRow{NetID: 1, MAC: macA, Ifindex: 10}))
	must(m.PutARP(ARPRow{NetID: 1, IP: ipB, MAC: macB}))
	must(m.PutARP(ARPRow{NetID: 1, IP: ipA, MAC: macA}))
	must(m.PutFlood(FloodRow{NetID: 1, Local: []uint32{10}, Remote: []netip.Addr{vtep}}))
	must(m.PutFlood(FloodRow{NetID: 2}))
	must(m.PutRIF(RIFRow{NetID: 1, RouterID: 3, GwIP: netip.MustParseAddr("10.0.0.254"), GwMAC: macC}))
	must(setNetFlag(m, 1, netRouted))
	must(m.PutRoute(RouteRow{RouterID: 3, Prefix: netip.MustParsePrefix("10.0.0.77/24"), NetID: 1}))
	must(m.PutRoute(RouteRow{RouterID: 3, Prefix: netip.MustParsePrefix("10.9.0.0/16"), NetID: 2}))
	must(m.PutDVRMAC(macR))
	must(m.PutDVRMAC(macA))
	must(m.SetDVRSelf(macA))
	must(m.PutPeer(PeerRow{NetID: 1, VTEP: vtep}))
	must(m.PutNH(NHRow{VTEP: vtep, Ifindex: 4, SrcMAC: macA, DstMAC: macB}))
	must(m.SetNodeCfg(NodeCfg{VXLANIfindex: 7, LocalIP: netip.MustParseAddr("192.0.2.1"), UnderlayIfindex: 9}))

	check := func(name string, got, want any, err error) {
		t.Helper()
		must(err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	ports, err := m.PortRows()
	check("ports", ports, []PortRow{{Ifindex: 10, NetID: 1, MAC: macA, Up: true}, {Ifindex: 20, NetID: 2, MAC: macB}}, err)
	nets, err := m.NetRows()
	check("networks", nets, []NetRow{{1, "vxlan", 100, 0, 1450, true, false}, {2, "vlan", 42, 3, 1500, false, false}}, err)
	segs, err := m.SegmentRows()
	check("segments", segs, []SegmentRow{{"vlan", 3, 42, 2}, {"vxlan", 0, 100, 1}}, err)
	fdb, err := m.FDBRows()
	check("fdb", fdb, []FDBRow{{1, macA, 10, netip.Addr{}}, {1, macR, 0, vtep}}, err)
	arp, err := m.ARPRows()
	check("arp", arp, []ARPRow{{1, ipA, macA}, {1, ipB, macB}}, err)
	flood, err := m.FloodRows()
	check("flood", flood, []FloodRow{{1, []uint32{10}, []netip.Addr{vtep}}, {2, []uint32{}, []netip.Addr{}}}, err)
	cfg, err := m.NodeCfgRow()
	check("node_cfg", cfg, NodeCfg{VXLANIfindex: 7, LocalIP: netip.MustParseAddr("192.0.2.1"), UnderlayIfindex: 9}, err)

	// The VTEP is stored in network byte order, as the datapath reads it.
	var raw bnetFdbEntry
	k, _ := fdbKey(1, macR)
	must(m.FDB.Lookup(&k, &raw))
	if b := [4]byte{byte(raw.Vtep), byte(raw.Vtep >> 8), byte(raw.Vtep >> 16), byte(raw.Vtep >> 24)}; b != vtep.As4() {
		t.Fatalf("vtep bytes %v, want %v", b, vtep.As4())
	}

	mapRows, err := m.MapRows()
	must(err)
	fill := map[string]MapRow{}
	for _, r := range mapRows {
		fill[r.Name] = r
	}
	peers, err := m.PeerRows()
	check("tunnel_peers", peers, []PeerRow{{1, vtep}}, err)
	nhs, err := m.NHRows()
	check("underlay_nh", nhs, []NHRow{{vtep, 4, macA, macB}}, err)
	must(m.DeletePeer(PeerRow{NetID: 1, VTEP: vtep}))
	must(m.DeletePeer(PeerRow{NetID: 1, VTEP: vtep}))
	must(m.DeleteNH(vtep))
	must(m.DeleteNH(vtep))

	rifs, err := m.RIFRows()
	check("rifs", rifs, []RIFRow{{1, 3, netip.MustParseAddr("10.0.0.254"), macC, netip.Addr{}}}, err)
	routes, err := m.RouteRows()
	check("routes", routes, []RouteRow{{3, netip.MustParsePrefix("10.0.0.0/24"), 1, false}, {3, netip.MustParsePrefix("10.9.0.0/16"), 2, false}}, err)
	dvr, err := m.DVRMACRows()
	check("dvr_macs", dvr, []DVRMACRow{{macA, true}, {macR, false}}, err)

	must(m.PutFIP(FIPRow{NetID: 1, FixedIP: ipA, ExtNet: 2, FIP: netip.MustParseAddr("203.0.113.5")}))
	must(m.PutExtGW(ExtGWRow{NetID: 2, FgIP: netip.MustParseAddr("203.0.113.9"), FgMAC: macB}))
	must(setNetFlag(m, 2, netExtGW))
	fips, err := m.FIPRows()
	check("fips", fips, []FIPRow{{1, ipA, 2, netip.MustParseAddr("203.0.113.5")}}, err)
	ext, err := m.ExtGWRows()
	check("ext_gw", ext, []ExtGWRow{{2, netip.MustParseAddr("203.0.113.9"), macB, nil}}, err)
	must(m.DeleteFIP(fips[0]))
	must(m.DeleteFIP(fips[0]))
	must(m.DeleteExtGW(2))
	if fips, _ := m.FIPRows(); len(fips) != 0 {
		t.Fatalf("fip left: %v", fips)
	}

	must(m.PutPortAddr(PortAddrRow{Ifindex: 10, Prefix: netip.MustParsePrefix("10.0.0.1/32"), MAC: macA}))
	must(m.PutPortAddr(PortAddrRow{Ifindex: 10, Prefix: netip.MustParsePrefix("10.0.9.7/24"), MAC: macB}))
	must(m.PutPortMAC(PortMACRow{Ifindex: 10, MAC: macA}))
	addrs, err := m.PortAddrRows()
	check("port_addrs", addrs, []PortAddrRow{{10, netip.MustParsePrefix("10.0.0.1/32"), macA}, {10, netip.MustParsePrefix("10.0.9.0/24"), macB}}, err)
	pm, err := m.PortMACRows()
	check("port_macs", pm, []PortMACRow{{10, macA}}, err)
	must(m.DeletePortAddr(10, netip.MustParsePrefix("10.0.9.7/24")))
	must(m.DeletePortMAC(PortMACRow{Ifindex: 10, MAC: macA}))
	must(m.DeletePortMAC(PortMACRow{Ifindex: 10, MAC: macA}))

	if len(mapRows) != 28 || fill["frags"].Type != "lru_hash" || fill["fdb"].Entries != 2 || fill["fdb"].Capacity != 262144 ||
		fill["node_cfg"].Type != "array" || fill["drop_stats"].Type != "percpu_hash" || fill["drop_stats"].Entries != 0 {
		t.Fatalf("map rows %+v", mapRows)
	}

	// Bad input is refused.
	for name, err := range map[string]error{
		"short MAC":     m.PutPort(PortRow{Ifindex: 1, MAC: macA[:4]}),
		"bad type":      m.PutNetwork(NetRow{NetID: 3, Type: "ovs"}),
		"fdb both":      m.PutFDB(FDBRow{NetID: 1, MAC: macC, Ifindex: 4, VTEP: vtep}),
		"fdb neither":   m.PutFDB(FDBRow{NetID: 1, MAC: macC}),
		"fdb v6":        m.PutFDB(FDBRow{NetID: 1, MAC: macC, VTEP: netip.MustParseAddr("2001:db8::1")}),
		"arp v6":        m.PutARP(ARPRow{NetID: 1, IP: netip.MustParseAddr("2001:db8::1"), MAC: macC}),
		"flood local":   m.PutFlood(FloodRow{NetID: 1, Local: make([]uint32, FloodLocalMax+1)}),
		"flood remote":  m.PutFlood(FloodRow{NetID: 1, Remote: make([]netip.Addr, FloodRemoteMax+1)}),
		"segment type":  m.PutSegment(SegmentRow{Type: "?", NetID: 1}),
		"node local v6": m.SetNodeCfg(NodeCfg{VXLANIfindex: 1, LocalIP: netip.MustParseAddr("::1")}),
		"peer v6":       m.PutPeer(PeerRow{NetID: 1, VTEP: netip.MustParseAddr("::1")}),
		"nh short mac":  m.PutNH(NHRow{VTEP: vtep, SrcMAC: macA[:3], DstMAC: macB}),
		"route v6":      m.PutRoute(RouteRow{RouterID: 1, Prefix: netip.MustParsePrefix("2001:db8::/64")}),
		"rif bad mac":   m.PutRIF(RIFRow{NetID: 1, GwIP: ipA, GwMAC: macA[:2]}),
		"dvr bad mac":   m.PutDVRMAC(macA[:5]),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// Deletes, twice each: a missing key is not an error.
	for i := 0; i < 2; i++ {
		must(m.DeletePort(10))
		must(m.DeleteNetwork(1))
		must(m.DeleteSegment("vxlan", 0, 100))
		must(m.DeleteFDB(1, macR))
		must(m.DeleteARP(1, ipA))
		must(m.DeleteFlood(1))
	}
	ports, err = m.PortRows()
	check("ports after delete", ports, []PortRow{{Ifindex: 20, NetID: 2, MAC: macB}}, err)
	fdb, err = m.FDBRows()
	check("fdb after delete", fdb, []FDBRow{{1, macA, 10, netip.Addr{}}}, err)

	// A second Load reuses the pins: state survives an agent restart,
	// and Open sees the same maps.
	m2, p2, err := Load(e.pins)
	must(err)
	defer p2.Close()
	defer m2.Close()
	fdb, err = m2.FDBRows()
	check("fdb after reload", fdb, []FDBRow{{1, macA, 10, netip.Addr{}}}, err)

	ro, err := Open(e.pins, true)
	must(err)
	defer ro.Close()
	arp, err = ro.ARPRows()
	check("arp via Open", arp, []ARPRow{{1, ipB, macB}}, err)
	if err := ro.PutARP(ARPRow{NetID: 1, IP: ipA, MAC: macA}); err == nil {
		t.Fatal("read-only Open allowed a write")
	}
	rw, err := Open(e.pins, false)
	must(err)
	defer rw.Close()
	must(rw.PutARP(ARPRow{NetID: 9, IP: ipA, MAC: macA}))
	arp, err = m.ARPRows()
	check("arp written via Open", arp, []ARPRow{{1, ipB, macB}, {9, ipA, macA}}, err)
}

func TestOpenMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	_, err := Open(dir, true)
	want := "no pinned maps in " + dir + " (is an agent running with pin_dir " + dir + "?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	// A directory without the pins gets the same message.
	empty := t.TempDir()
	_, err = Open(empty, false)
	if err == nil || !strings.HasPrefix(err.Error(), "no pinned maps in "+empty) {
		t.Fatalf("err %v", err)
	}
}

// TestReasonsMatchHeader keeps reasons.go and the enums in bpf/bnet.h in step.
func TestReasonsMatchHeader(t *testing.T) {
	src, err := os.ReadFile("../bpf/bnet.h")
	if err != nil {
		t.Fatal(err)
	}
	enum := func(prefix string) map[uint32]string {
		re := regexp.MustCompile(`(?m)^\s*` + prefix + `([A-Z0-9_]+)\s*=\s*(\d+),`)
		out := map[uint32]string{}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			v, _ := strconv.Atoi(m[2])
			out[uint32(v)] = strings.ToLower(m[1])
		}
		return out
	}
	reasons := enum("BNET_DROP_")
	if len(reasons) != len(reasonNames) {
		t.Fatalf("header has %d drop reasons, reasons.go %d", len(reasons), len(reasonNames))
	}
	for v, name := range reasons {
		if ReasonName(v) != name {
			t.Errorf("reason %d: header %q, Go %q", v, name, ReasonName(v))
		}
	}
	if ReasonName(999) != "reason_999" {
		t.Error(ReasonName(999))
	}
	types := enum("BNET_NET_")
	if len(types) != len(netTypeNames) {
		t.Fatalf("header has %d network types, Go %d", len(types), len(netTypeNames))
	}
	for v, name := range types {
		got, err := NetTypeValue(name)
		if err != nil || got != v || NetTypeName(v) != name {
			t.Errorf("net type %d %q: Go %d %q %v", v, name, got, NetTypeName(v), err)
		}
	}
}
