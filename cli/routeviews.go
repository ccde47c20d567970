package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

type routeEntry struct {
	RouterID   uint32 `json:"router_id"`
	Prefix     string `json:"prefix"`
	NetID      uint32 `json:"net_id"`
	GatewayIP  string `json:"gateway_ip"`
	GatewayMAC string `json:"gateway_mac"`
}

// routeCommand shows what a DVR qrouter's `ip route` and qr- interfaces
// would: per router (node-local id), each connected prefix, the network it
// leaves on and the gateway that network's VMs use.
func routeCommand() *cli.Command {
	return mapView("route", "distributed routers: connected prefixes -> egress network and its gateway",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			routes, err := m.RouteRows()
			if err != nil {
				return fmt.Errorf("read routes map: %w", err)
			}
			rifs, err := m.RIFRows()
			if err != nil {
				return fmt.Errorf("read rifs map: %w", err)
			}
			gw := map[uint32][2]string{}
			for _, r := range rifs {
				gw[r.NetID] = [2]string{addrString(r.GwIP), macString(r.GwMAC)}
			}
			entries := make([]routeEntry, 0, len(routes))
			for _, r := range routes {
				g := gw[r.NetID]
				entries = append(entries, routeEntry{r.RouterID, r.Prefix.String(), r.NetID, g[0], g[1]})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"routes": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.RouterID), e.Prefix, u32(e.NetID), orDash(e.GatewayIP), orDash(e.GatewayMAC)})
			}
			return table(out, []string{"router_id", "prefix", "net_id", "gateway_ip", "gateway_mac"}, t)
		})
}

type dvrMACEntry struct {
	MAC  string `json:"mac"`
	Self bool   `json:"self"`
}

// dvrMACCommand is Neutron's dvr_host_macs table as this node's datapath
// holds it: routed frames from a tunnel with one of these sources get the
// gateway MAC back.
func dvrMACCommand() *cli.Command {
	return mapView("dvr-mac", "DVR host MACs of every node (self: this node's)",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			rows, err := m.DVRMACRows()
			if err != nil {
				return fmt.Errorf("read dvr_macs map: %w", err)
			}
			entries := make([]dvrMACEntry, 0, len(rows))
			for _, r := range rows {
				entries = append(entries, dvrMACEntry{macString(r.MAC), r.Self})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"dvr_macs": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				self := ""
				if e.Self {
					self = "yes"
				}
				t = append(t, []string{e.MAC, orDash(self)})
			}
			return table(out, []string{"mac", "self"}, t)
		})
}

type natEntry struct {
	FloatingIP string `json:"floating_ip"`
	ExtNetID   uint32 `json:"ext_net_id"`
	FixedIP    string `json:"fixed_ip"`
	NetID      uint32 `json:"net_id"`
	FgMAC      string `json:"fg_mac"`
	NextHopMAC string `json:"next_hop_mac"`
}

// natCommand shows the floating IPs this node serves, with the fg MAC it
// answers ARP with and the external next hop it sends to (empty: not
// resolved yet, traffic counted as fip_neigh).
func natCommand() *cli.Command {
	return mapView("nat", "floating IPs served by this node: 1:1 NAT, fg MAC, external next hop",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			fips, err := m.FIPRows()
			if err != nil {
				return fmt.Errorf("read fips map: %w", err)
			}
			gws, err := m.ExtGWRows()
			if err != nil {
				return fmt.Errorf("read ext_gw map: %w", err)
			}
			byNet := map[uint32][2]string{}
			for _, g := range gws {
				byNet[g.NetID] = [2]string{macString(g.FgMAC), macString(g.GwMAC)}
			}
			entries := make([]natEntry, 0, len(fips))
			for _, f := range fips {
				g := byNet[f.ExtNet]
				entries = append(entries, natEntry{f.FIP.String(), f.ExtNet, f.FixedIP.String(), f.NetID, g[0], g[1]})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"nat": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{e.FloatingIP, u32(e.ExtNetID), e.FixedIP, u32(e.NetID), orDash(e.FgMAC), orDash(e.NextHopMAC)})
			}
			return table(out, []string{"floating_ip", "ext_net_id", "fixed_ip", "net_id", "fg_mac", "next_hop_mac"}, t)
		})
}

type portsecEntry struct {
	Ifindex uint32 `json:"ifindex"`
	Source  string `json:"source"`
	MAC     string `json:"mac"`
}

// portsecCommand shows what each secured port may send from: the
// (prefix, MAC) pairs of port_addrs, and MACs allowed without an address.
func portsecCommand() *cli.Command {
	return mapView("portsec", "port security: the sources each secured port may use",
		func(c *cli.Context, m mapReader, asJSON bool) error {
			addrs, err := m.PortAddrRows()
			if err != nil {
				return fmt.Errorf("read port_addrs map: %w", err)
			}
			entries := make([]portsecEntry, 0, len(addrs))
			for _, a := range addrs {
				entries = append(entries, portsecEntry{a.Ifindex, a.Prefix.String(), macString(a.MAC)})
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, map[string]any{"portsec": entries})
			}
			t := make([][]string, 0, len(entries))
			for _, e := range entries {
				t = append(t, []string{u32(e.Ifindex), e.Source, e.MAC})
			}
			return table(out, []string{"ifindex", "source", "mac"}, t)
		})
}
