package config

import (
	"strings"
	"testing"
	"time"
)

const good = `
node: cmpt1
local_ip: 192.168.120.21
roles: [compute]
physnets: {public: eth-ext}
gossip: {bind: 192.168.120.21:7946, join: [192.168.120.11:7946]}
api_socket: /run/bnet/bnet.sock
pin_dir: /sys/fs/bpf/bnet
vxlan_port: 4789
underlay_mtu: 1500
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "cmpt1" || c.Physnets["public"] != "eth-ext" || c.Gossip.Join[0] != "192.168.120.11:7946" {
		t.Fatalf("parsed wrong: %+v", c)
	}
	if c.StateDir != DefaultStateDir || c.LogLevel != "info" {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

func TestDefaultsFromMinimal(t *testing.T) {
	c, err := Parse([]byte("node: n1\nlocal_ip: 10.0.0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Gossip.Bind != "10.0.0.1:7946" || c.VXLANPort != 4789 || c.UnderlayMTU != 1500 || !c.HasRole("compute") {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestCTSourceMaxDefault(t *testing.T) {
	c, err := Parse([]byte(good + "security: {ct_port_max: 64}\n"))
	if err != nil || c.Security.CTSourceMax != 16 {
		t.Fatalf("ct_source_max defaults to a quarter of ct_port_max: %d %v", c.Security.CTSourceMax, err)
	}
	c, err = Parse([]byte(good + "security: {ct_port_max: 3}\n"))
	if err != nil || c.Security.CTSourceMax != 1 {
		t.Fatalf("ct_source_max of a tiny budget: %d %v", c.Security.CTSourceMax, err)
	}
}

func TestAPIListenOptional(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil || c.APIListen != "" {
		t.Fatalf("api_listen must be off by default: %q %v", c.APIListen, err)
	}
	c, err = Parse([]byte(good + "api_listen: 127.0.0.1:9696\n"))
	if err != nil || c.APIListen != "127.0.0.1:9696" {
		t.Fatalf("api_listen: %q %v", c.APIListen, err)
	}
}

func TestParseBad(t *testing.T) {
	cases := map[string]string{
		"unknown key":        good + "bogus: 1\n",
		"bad node":           strings.Replace(good, "node: cmpt1", "node: 'a b'", 1),
		"bad ip":             strings.Replace(good, "local_ip: 192.168.120.21", "local_ip: 300.1.1.1", 1),
		"ipv6 vtep":          strings.Replace(good, "local_ip: 192.168.120.21", "local_ip: '::1'", 1),
		"bad role":           strings.Replace(good, "roles: [compute]", "roles: [router]", 1),
		"bad port":           strings.Replace(good, "vxlan_port: 4789", "vxlan_port: 70000", 1),
		"bad vxlan_encap":    strings.Replace(good, "vxlan_port: 4789", "vxlan_port: 4789\nvxlan_encap: fast", 1),
		"small mtu":          strings.Replace(good, "underlay_mtu: 1500", "underlay_mtu: 500", 1),
		"bad join":           strings.Replace(good, "join: [192.168.120.11:7946]", "join: [nohostport]", 1),
		"empty":              "",
		"long nic":           strings.Replace(good, "eth-ext", "a-very-long-interface-name", 1),
		"type mismatch":      strings.Replace(good, "vxlan_port: 4789", "vxlan_port: abc", 1),
		"api_listen no port": good + "api_listen: 127.0.0.1\n",
		"api_listen name":    good + "api_listen: localhost:9696\n",
		"negative hold":      good + "node_dead_hold: -1\n",
		"huge fence":         good + "snat_fence_delay: 3600\n",
		"source over port":   good + "security: {ct_port_max: 100, ct_source_max: 101}\n",
	}
	for name, in := range cases {
		_, err := Parse([]byte(in))
		switch {
		case err == nil:
			t.Errorf("%s: accepted", name)
		case strings.Contains(err.Error(), "\n") || err.Error() == "":
			// The agent exits with this as its one line.
			t.Errorf("%s: error is not one line: %q", name, err)
		}
	}
}

// TestParseBadNamesTheKey: the one line says which key is wrong.
func TestParseBadNamesTheKey(t *testing.T) {
	for in, want := range map[string]string{
		good + "bogus: 1\n": "bogus",
		strings.Replace(good, "vxlan_port: 4789", "vxlan_port: abc", 1):               "abc",
		good + "roles: [x]\n" + "bogus2: [\n":                                         "line",
		strings.Replace(good, "local_ip: 192.168.120.21", "local_ip: 300.1.1.1", 1):   "local_ip",
		strings.Replace(good, "underlay_mtu: 1500", "underlay_mtu: 500", 1):           "underlay_mtu",
		strings.Replace(good, "join: [192.168.120.11:7946]", "join: [nohostport]", 1): "join",
	} {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q: want one line naming %q", err, want)
		}
	}
}

func TestDHCPLeaseDuration(t *testing.T) {
	base := "node: n1\nlocal_ip: 192.0.2.1\n"
	c, err := Parse([]byte(base))
	if err != nil || c.DHCPLeaseDuration != DefaultLease {
		t.Fatalf("default lease: %v %v", c, err)
	}
	if c, err := Parse([]byte(base + "dhcp_lease_duration: 20\n")); err != nil || c.DHCPLeaseDuration != 20 {
		t.Fatalf("lease 20: %v", err)
	}
	if _, err := Parse([]byte(base + "dhcp_lease_duration: 5\n")); err == nil {
		t.Fatal("a 5 s lease was taken")
	}
}

func TestHoldAndFenceDefaults(t *testing.T) {
	base := "node: n1\nlocal_ip: 192.0.2.1\n"
	c, err := Parse([]byte(base))
	if err != nil || c.DeadHold() != DefaultDeadHold*time.Second || c.FenceDelay() != DefaultFenceDelay*time.Second {
		t.Fatalf("defaults: %v %v %v", c.DeadHold(), c.FenceDelay(), err)
	}
	c, err = Parse([]byte(base + "node_dead_hold: 0\nsnat_fence_delay: 2\n"))
	if err != nil || c.DeadHold() != 0 || c.FenceDelay() != 2*time.Second {
		t.Fatalf("set: %v %v %v", c.DeadHold(), c.FenceDelay(), err)
	}
}

func TestStaticVTEPs(t *testing.T) {
	c, err := Parse([]byte(good + "static_vteps:\n- {type: vxlan, segment: 7001, vteps: [10.9.0.5, 10.9.0.6]}\n- {type: gre, segment: 7001, vteps: [10.9.0.7]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.StaticVTEPsOf("vxlan", 7001); len(got) != 2 || got[1].String() != "10.9.0.6" {
		t.Fatalf("vxlan 7001: %v", got)
	}
	if got := c.StaticVTEPsOf("gre", 7001); len(got) != 1 || got[0].String() != "10.9.0.7" {
		t.Fatalf("gre 7001: %v", got)
	}
	if got := c.StaticVTEPsOf("vxlan", 7002); len(got) != 0 {
		t.Fatalf("vxlan 7002 has none: %v", got)
	}
	if got := c.AllStaticVTEPs(); len(got) != 3 {
		t.Fatalf("all: %v", got)
	}
	bad := map[string]string{
		"type":        "- {type: vlan, segment: 5, vteps: [10.9.0.5]}",
		"no segment":  "- {type: gre, vteps: [10.9.0.5]}",
		"vni too big": "- {type: vxlan, segment: 16777216, vteps: [10.9.0.5]}",
		"no vteps":    "- {type: vxlan, segment: 5}",
		"bad vtep":    "- {type: vxlan, segment: 5, vteps: [224.0.0.1]}",
	}
	for name, y := range bad {
		_, err := Parse([]byte(good + "static_vteps:\n" + y + "\n"))
		if err == nil || !strings.Contains(err.Error(), "static_vteps[0]") {
			t.Errorf("%s: want a static_vteps[0] error, got %v", name, err)
		}
	}
}
