package maps

import (
	"fmt"
	"strings"
)

// reasonNames follows enum bnet_drop_reason in bpf/bnet.h, index = value.
// The names are stable: the CLI prints them and metrics label with them.
// TestReasonsMatchHeader keeps this list in step with the header.
var reasonNames = []string{
	"none",
	"malformed",
	"no_port",
	"no_network",
	"unknown_segment",
	"fdb_miss",
	"no_tunnel",
	"tunnel_key",
	"redirect",
	"hairpin",
	"port_down",
	"vlan_tagged",
	"vlan_push",
	"no_physnet",
	"frag_needed",
	"tunnel_peer",
	"no_neigh",
	"tunnel_frag",
	"encap",
	"no_route",
	"ttl_exceeded",
	"route_neigh",
	"not_ipv4",
	"fip_neigh",
	"spoof_mac",
	"spoof_ip",
	"spoof_arp",
	"dhcp_server",
	"router_advert",
	"policy",
	"ct_invalid",
	"ct_full",
	"ct_frag",
	"spoof_nd",
	"dhcp_local",
	"no_prog",
	"ct_src_full",
}

// ReasonName maps a drop reason value to its stable lower-case name;
// values this build does not know come back as "reason_N".
func ReasonName(r uint32) string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", r)
}

// Reasons lists every known drop reason name, in value order (without "none").
func Reasons() []string {
	return append([]string(nil), reasonNames[1:]...)
}

// netTypeNames follows enum bnet_net_type in bpf/bnet.h.
var netTypeNames = map[uint32]string{
	1: "local",
	2: "flat",
	3: "vlan",
	4: "vxlan",
	5: "gre",
}

// Network type values (enum bnet_net_type).
const (
	NetLocal uint32 = 1
	NetFlat  uint32 = 2
	NetVLAN  uint32 = 3
	NetVXLAN uint32 = 4
	NetGRE   uint32 = 5
)

// NetTypeName maps a network type value to its name (local, flat, vlan,
// vxlan, gre); unknown values come back as "type_N".
func NetTypeName(t uint32) string {
	if n, ok := netTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type_%d", t)
}

// NetTypeValue is the inverse of NetTypeName (case-insensitive).
func NetTypeValue(name string) (uint32, error) {
	lower := strings.ToLower(name)
	for v, n := range netTypeNames {
		if n == lower {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown network type %q (want local, flat, vlan, vxlan or gre)", name)
}
