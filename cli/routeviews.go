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
