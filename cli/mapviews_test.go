package cli

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/bnet-dev/bnet/maps"
)

// fakeMaps stands in for the pinned maps so the views' formatting is tested
// without root; maps_privileged_test.go covers real pins.
type fakeMaps struct {
	fdb    []maps.FDBRow
	arp    []maps.ARPRow
	nets   []maps.NetRow
	floods []maps.FloodRow
	maps   []maps.MapRow
	drops  []maps.DropRow
	routes []maps.RouteRow
	rifs   []maps.RIFRow
	dvr    []maps.DVRMACRow
	fips   []maps.FIPRow
	extgw  []maps.ExtGWRow
	addrs  []maps.PortAddrRow
	ports  []maps.PortRow
	polIPs []maps.PolicyIPRow
	polPts []maps.PolicyPortRow
	ct     []maps.CTRow
	counts map[uint32]uint32
	srcs   []maps.CTSrcRow
	ctCfg  maps.CTConfig
	node   maps.NodeCfg
}

func (f *fakeMaps) FDBRows() ([]maps.FDBRow, error)               { return f.fdb, nil }
func (f *fakeMaps) ARPRows() ([]maps.ARPRow, error)               { return f.arp, nil }
func (f *fakeMaps) NetRows() ([]maps.NetRow, error)               { return f.nets, nil }
func (f *fakeMaps) FloodRows() ([]maps.FloodRow, error)           { return f.floods, nil }
func (f *fakeMaps) MapRows() ([]maps.MapRow, error)               { return f.maps, nil }
func (f *fakeMaps) DropRows() ([]maps.DropRow, error)             { return f.drops, nil }
func (f *fakeMaps) RouteRows() ([]maps.RouteRow, error)           { return f.routes, nil }
func (f *fakeMaps) RIFRows() ([]maps.RIFRow, error)               { return f.rifs, nil }
func (f *fakeMaps) FIPRows() ([]maps.FIPRow, error)               { return f.fips, nil }
func (f *fakeMaps) ExtGWRows() ([]maps.ExtGWRow, error)           { return f.extgw, nil }
func (f *fakeMaps) PortAddrRows() ([]maps.PortAddrRow, error)     { return f.addrs, nil }
func (f *fakeMaps) PortRows() ([]maps.PortRow, error)             { return f.ports, nil }
func (f *fakeMaps) PolicyIPRows() ([]maps.PolicyIPRow, error)     { return f.polIPs, nil }
func (f *fakeMaps) PolicyPortRows() ([]maps.PolicyPortRow, error) { return f.polPts, nil }
func (f *fakeMaps) CTRows() ([]maps.CTRow, error)                 { return f.ct, nil }
func (f *fakeMaps) NodeCfgRow() (maps.NodeCfg, error)             { return f.node, nil }
func (f *fakeMaps) CTCounts() (map[uint32]uint32, error)          { return f.counts, nil }
func (f *fakeMaps) CTSrcRows() ([]maps.CTSrcRow, error)           { return f.srcs, nil }
func (f *fakeMaps) CTConfigRow() (maps.CTConfig, error)           { return f.ctCfg, nil }
func (f *fakeMaps) Dump(name string, limit int) ([]maps.DumpEntry, error) {
	return nil, maps.ErrNoSuchMap
}
func (f *fakeMaps) DVRMACRows() ([]maps.DVRMACRow, error) {
	return f.dvr, nil
}

func withFakeMaps(t *testing.T, f *fakeMaps) string {
	t.Helper()
	dir := t.TempDir()
	orig := openMaps
	openMaps = func(got string) (mapReader, func(), error) {
		if got != dir {
			t.Errorf("opened %q, want %q", got, dir)
		}
		return f, func() {}, nil
	}
	t.Cleanup(func() { openMaps = orig })
	return dir
}

func mac(s string) net.HardwareAddr {
	hw, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return hw
}

func TestFDBView(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{fdb: []maps.FDBRow{
		{NetID: 2, MAC: mac("FA:16:3E:00:00:02"), VTEP: netip.MustParseAddr("192.168.120.22")},
		{NetID: 1, MAC: mac("fa:16:3e:00:00:01"), Ifindex: 7},
	}})
	out := mustRun(t, "--pin-dir", dir, "fdb", "list", "-o", "json")
	want := `{
  "fdb": [
    {
      "net_id": 1,
      "mac": "fa:16:3e:00:00:01",
      "ifindex": 7,
      "vtep": ""
    },
    {
      "net_id": 2,
      "mac": "fa:16:3e:00:00:02",
      "ifindex": 0,
      "vtep": "192.168.120.22"
    }
  ]
}
`
	if out != want {
		t.Errorf("json:\n%s", out)
	}
	out = mustRun(t, "--pin-dir", dir, "fdb", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 || !reflect.DeepEqual(strings.Fields(lines[0]), []string{"NET", "ID", "MAC", "IFINDEX", "VTEP"}) {
		t.Fatalf("table:\n%s", out)
	}
	if got := strings.Fields(lines[2]); !reflect.DeepEqual(got, []string{"2", "fa:16:3e:00:00:02", "0", "192.168.120.22"}) {
		t.Errorf("row = %v", got)
	}
}

func TestEmptyViewsAreEmptyLists(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{})
	for view, key := range map[string]string{"fdb": "fdb", "arp": "arp", "tunnel": "tunnels", "map": "maps", "drop": "drops"} {
		out := mustRun(t, "--pin-dir", dir, view, "list", "-o", "json")
		if strings.TrimSpace(out) != `{
  "`+key+`": []
}` {
			t.Errorf("%s: %q", view, out)
		}
		if out := mustRun(t, "--pin-dir", dir, view, "list"); out != "No entries found.\n" {
			t.Errorf("%s table: %q", view, out)
		}
	}
}

func TestARPView(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{arp: []maps.ARPRow{
		{NetID: 1, IP: netip.MustParseAddr("10.0.0.9"), MAC: mac("fa:16:3e:00:00:09")},
		{NetID: 1, IP: netip.MustParseAddr("10.0.0.5"), MAC: mac("FA:16:3E:00:00:05")},
	}})
	out := mustRun(t, "--pin-dir", dir, "arp", "list")
	want := "NET ID  IP        MAC\n" +
		"1       10.0.0.5  fa:16:3e:00:00:05\n" +
		"1       10.0.0.9  fa:16:3e:00:00:09\n"
	if out != want {
		t.Errorf("table:\n%q\nwant\n%q", out, want)
	}
	got := jsonOf(t, mustRun(t, "--pin-dir", dir, "arp", "list", "-o", "json"))
	first := got["arp"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(first, map[string]any{"net_id": 1.0, "ip": "10.0.0.5", "mac": "fa:16:3e:00:00:05"}) {
		t.Errorf("json entry = %v", first)
	}
}

func TestTunnelViewJoinsFloodList(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		nets: []maps.NetRow{
			{NetID: 2, Type: "vlan", Segment: 42, PhysIfindex: 3, MTU: 1500},
			{NetID: 1, Type: "vxlan", Segment: 100, MTU: 1450},
		},
		floods: []maps.FloodRow{
			{NetID: 1, Local: []uint32{9, 7}, Remote: []netip.Addr{netip.MustParseAddr("192.168.120.23"), netip.MustParseAddr("192.168.120.22")}},
			{NetID: 5, Local: []uint32{4}},
		},
	})
	out := mustRun(t, "--pin-dir", dir, "tunnel", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", out)
	}
	for i, want := range [][]string{
		{"1", "vxlan", "100", "1450", "kernel-vxlan", "7,9", "192.168.120.22,192.168.120.23"},
		{"2", "vlan", "42", "1500", "bpf-8021q", "-", "-"},
		{"5", "-", "0", "0", "-", "4", "-"},
	} {
		if got := strings.Fields(lines[i+1]); !reflect.DeepEqual(got, want) {
			t.Errorf("row %d = %v, want %v", i+1, got, want)
		}
	}
	got := jsonOf(t, mustRun(t, "--pin-dir", dir, "tunnel", "list", "-o", "json"))["tunnels"].([]any)
	want := map[string]any{"net_id": 2.0, "type": "vlan", "segment": 42.0, "phys_ifindex": 3.0, "mtu": 1500.0,
		"encap": "bpf-8021q", "local_ports": []any{}, "remote_vteps": []any{}}
	if !reflect.DeepEqual(got[1], want) {
		t.Errorf("json entry = %v", got[1])
	}
}

// The tunnel view says which path VXLAN takes on this node.
func TestTunnelViewVXLANEncap(t *testing.T) {
	for _, c := range []struct {
		bpf  bool
		want string
	}{{false, "kernel-vxlan"}, {true, "bpf-vxlan"}} {
		dir := withFakeMaps(t, &fakeMaps{
			nets: []maps.NetRow{{NetID: 1, Type: "vxlan", Segment: 100, MTU: 1450}},
			node: maps.NodeCfg{VXLANBPF: c.bpf, VXLANPort: 4789},
		})
		got := jsonOf(t, mustRun(t, "--pin-dir", dir, "tunnel", "list", "-o", "json"))["tunnels"].([]any)
		if e := got[0].(map[string]any)["encap"]; e != c.want {
			t.Errorf("vxlan bpf=%v: encap %v, want %s", c.bpf, e, c.want)
		}
	}
}

func TestMapAndDropViews(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		maps: []maps.MapRow{{Name: "fdb", Type: "Hash", Entries: 1, Capacity: 3}, {Name: "arp", Type: "Hash", Entries: 0, Capacity: 0}},
		drops: []maps.DropRow{
			{Ifindex: 7, Reason: "truncated", Packets: 3, Bytes: 120},
			{Ifindex: 7, Reason: "no_network", Packets: 1, Bytes: 60},
		},
	})
	out := mustRun(t, "--pin-dir", dir, "map", "list")
	if !strings.Contains(out, "fdb   Hash  1        3         33.3%") || !strings.HasPrefix(out, "NAME  TYPE  ENTRIES  CAPACITY  FILL\narp") {
		t.Errorf("map table:\n%s", out)
	}
	m := jsonOf(t, mustRun(t, "--pin-dir", dir, "map", "list", "-o", "json"))["maps"].([]any)[1].(map[string]any)
	if m["fill_percent"] != 33.3 || m["capacity"] != 3.0 {
		t.Errorf("map json = %v", m)
	}
	d := jsonOf(t, mustRun(t, "--pin-dir", dir, "drop", "list", "-o", "json"))["drops"].([]any)
	if !reflect.DeepEqual(d[0], map[string]any{"ifindex": 7.0, "reason": "no_network", "packets": 1.0, "bytes": 60.0}) {
		t.Errorf("drop json = %v", d)
	}
}

func TestRouteAndDVRMACViews(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		routes: []maps.RouteRow{
			{RouterID: 7, Prefix: netip.MustParsePrefix("81.1.180.0/24"), NetID: 1},
			{RouterID: 7, Prefix: netip.MustParsePrefix("90.1.180.0/24"), NetID: 2},
		},
		rifs: []maps.RIFRow{{NetID: 1, RouterID: 7, GwIP: netip.MustParseAddr("81.1.180.1"), GwMAC: mac("fa:16:3e:63:3b:4c")}},
		dvr:  []maps.DVRMACRow{{MAC: mac("fa:16:3f:b2:34:82"), Self: true}, {MAC: mac("fa:16:3f:db:6f:73")}},
	})
	out := mustRun(t, "--pin-dir", dir, "route", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := [][]string{
		{"7", "81.1.180.0/24", "1", "81.1.180.1", "fa:16:3e:63:3b:4c"},
		{"7", "90.1.180.0/24", "2", "-", "-"},
	}
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", out)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i+1]); !reflect.DeepEqual(got, w) {
			t.Errorf("row %d = %v, want %v", i+1, got, w)
		}
	}
	got := jsonOf(t, mustRun(t, "--pin-dir", dir, "-o", "json", "dvr-mac", "list"))["dvr_macs"].([]any)
	if len(got) != 2 || got[0].(map[string]any)["self"] != true || got[1].(map[string]any)["mac"] != "fa:16:3f:db:6f:73" {
		t.Errorf("dvr-mac json = %v", got)
	}
}

func TestNATAndPortsecViews(t *testing.T) {
	dir := withFakeMaps(t, &fakeMaps{
		fips:  []maps.FIPRow{{NetID: 1, FixedIP: netip.MustParseAddr("10.0.0.5"), ExtNet: 4, FIP: netip.MustParseAddr("203.0.113.7")}},
		extgw: []maps.ExtGWRow{{NetID: 4, FgIP: netip.MustParseAddr("203.0.113.9"), FgMAC: mac("fa:16:3e:00:00:09")}},
		addrs: []maps.PortAddrRow{{Ifindex: 7, Prefix: netip.MustParsePrefix("10.0.0.5/32"), MAC: mac("fa:16:3e:00:00:05")}},
	})
	out := mustRun(t, "--pin-dir", dir, "nat", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	want := []string{"203.0.113.7", "4", "10.0.0.5", "1", "fa:16:3e:00:00:09", "-"}
	if len(lines) != 2 || !reflect.DeepEqual(strings.Fields(lines[1]), want) {
		t.Errorf("nat list:\n%s", out)
	}
	got := jsonOf(t, mustRun(t, "--pin-dir", dir, "-o", "json", "portsec", "list"))["portsec"].([]any)
	if len(got) != 1 || got[0].(map[string]any)["source"] != "10.0.0.5/32" || got[0].(map[string]any)["ifindex"] != 7.0 {
		t.Errorf("portsec json = %v", got)
	}
}
