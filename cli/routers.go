package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/model"
)

var routers = resource{"router", "routers"}

func routerCommand() *cli.Command {
	arg := "ROUTER_NAME_OR_ID"
	return &cli.Command{
		Name:  "router",
		Usage: "manage routers and their interfaces",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "create a router",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "distributed", Usage: "a distributed (DVR) router, routed on every node; without it a legacy router, all in a namespace on a network node"},
				&cli.StringFlag{Name: "external-network", Usage: "external network (name or ID) of the router's gateway, with SNAT"},
			},
			Action: routerCreate,
		}, {
			Name:   "list",
			Usage:  "list routers",
			Action: routerList,
		}, {
			Name:      "show",
			Usage:     "show one router and its ports (interfaces, gateway, SNAT)",
			ArgsUsage: arg,
			Action:    routerShow,
		}, {
			Name:      "delete",
			Usage:     "delete a router (remove its interfaces first)",
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return remove(c, routers) },
		}, {
			Name:      "add-interface",
			Usage:     "route a subnet: a port on its gateway IP becomes the router's interface",
			ArgsUsage: arg + " SUBNET_NAME_OR_ID",
			Action:    func(c *cli.Context) error { return routerInterface(c, "add") },
		}, {
			Name:      "remove-interface",
			Usage:     "stop routing a subnet: its interface port goes",
			ArgsUsage: arg + " SUBNET_NAME_OR_ID",
			Action:    func(c *cli.Context) error { return routerInterface(c, "remove") },
		}, {
			Name:      "set-gateway",
			Usage:     "give the router a gateway on an external network: a gateway port there and, with SNAT, a SNAT port on every routed subnet",
			ArgsUsage: arg + " NETWORK_NAME_OR_ID",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "no-snat", Usage: "do not source-NAT traffic leaving through the gateway"},
				&cli.StringFlag{Name: "ip", Usage: "the gateway port's address on the external network", DefaultText: "allocated"},
			},
			Action: routerSetGateway,
		}, {
			Name:      "clear-gateway",
			Usage:     "remove the router's gateway: its gateway and SNAT ports go",
			ArgsUsage: arg,
			Action:    routerClearGateway,
		}},
	}
}

// routerCreate sends distributed only when the flag is given, so that the
// agent's default (and its explanation when it refuses one) applies.
func routerCreate(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	attrs := map[string]any{"name": name}
	if c.IsSet("distributed") {
		attrs["distributed"] = c.Bool("distributed")
	}
	if arg := c.String("external-network"); arg != "" {
		id, err := resolve(c, networks, arg)
		if err != nil {
			return err
		}
		attrs["external_gateway_info"] = map[string]any{"network_id": id}
	}
	return create(c, routers, attrs)
}

// routerSetGateway sets (or changes) the router's external gateway.
func routerSetGateway(c *cli.Context) error {
	rArg, nArg, err := twoArgs(c, "ROUTER name or ID", "NETWORK name or ID")
	if err != nil {
		return err
	}
	info := map[string]any{"enable_snat": !c.Bool("no-snat")}
	if ip := c.String("ip"); ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("set-gateway: --ip %q is not an IP address", ip)
		}
		info["external_fixed_ips"] = []map[string]string{{"ip_address": ip}}
	}
	rid, err := resolve(c, routers, rArg)
	if err != nil {
		return err
	}
	nid, err := resolve(c, networks, nArg)
	if err != nil {
		return err
	}
	info["network_id"] = nid
	return updateGateway(c, rid, rArg, info, "Set the gateway of router %s:\n")
}

// routerClearGateway sends {} as external_gateway_info, as `openstack
// router unset --external-gateway` does.
func routerClearGateway(c *cli.Context) error {
	arg, err := oneArg(c, "ROUTER name or ID")
	if err != nil {
		return err
	}
	id, err := resolve(c, routers, arg)
	if err != nil {
		return err
	}
	return updateGateway(c, id, arg, map[string]any{}, "Cleared the gateway of router %s:\n")
}

// updateGateway PUTs external_gateway_info on router id and prints the
// router answered.
func updateGateway(c *cli.Context, id, arg string, info map[string]any, done string) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	body := map[string]any{"router": map[string]any{"external_gateway_info": info}}
	if err := client(c).Do(c.Context, "PUT", routers.item(id), body, &raw); err != nil {
		return fmt.Errorf("%s of router %s: %w", c.Command.Name, arg, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	fmt.Fprintf(out, done, arg)
	var rt struct {
		Router map[string]any `json:"router"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rt); err != nil {
		return fmt.Errorf("decode router: %w", err)
	}
	return showTable(out, rt.Router)
}

// routerPorts returns the ports a router owns (interfaces, gateway, SNAT)
// that the query selects, each also as the agent sent it.
func routerPorts(c *cli.Context, q url.Values) ([]model.Port, []json.RawMessage, error) {
	var body struct {
		Ports []json.RawMessage `json:"ports"`
	}
	if err := client(c).Do(c.Context, "GET", ports.path()+"?"+q.Encode(), nil, &body); err != nil {
		return nil, nil, fmt.Errorf("list router ports: %w", err)
	}
	var out []model.Port
	var raw []json.RawMessage
	for _, r := range body.Ports {
		var p model.Port
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, nil, fmt.Errorf("decode port: %w", err)
		}
		if model.IsRouterPort(p.DeviceOwner) {
			out = append(out, p)
			raw = append(raw, r)
		}
	}
	return out, raw, nil
}

// portRole is what a router's port is to it, for `router show`.
func portRole(p model.Port) string {
	switch p.DeviceOwner {
	case model.OwnerRouterGateway:
		return "gateway"
	case model.OwnerRouterSNAT:
		return "snat"
	}
	return "interface"
}

// routerList counts interfaces with one port query for all routers; -o
// json is the routers body alone, as the agent sent it.
func routerList(c *cli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	if err := noArgs(c); err != nil {
		return err
	}
	count := map[string]int{}
	if !asJSON {
		ifaces, _, err := routerPorts(c, url.Values{"device_owner": {model.OwnerRouterDVR, model.OwnerRouterInterface}})
		if err != nil {
			return err
		}
		for _, p := range ifaces {
			count[p.DeviceID]++
		}
	}
	return list(c, routers, nil, []string{"id", "name", "distributed", "status", "interfaces"},
		func(r model.Router) []string {
			return []string{r.ID, r.Name, cell(r.Distributed), r.Status, strconv.Itoa(count[r.ID])}
		})
}

// routerShow prints the router and its ports: the ports whose device_id is
// the router, as `openstack router show` gathers its interfaces. -o json
// lists them by role: interfaces, gateway_ports, snat_ports.
func routerShow(c *cli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	arg, err := oneArg(c, "ROUTER name or ID")
	if err != nil {
		return err
	}
	id, err := resolve(c, routers, arg)
	if err != nil {
		return err
	}
	var body struct {
		Router json.RawMessage `json:"router"`
	}
	if err := client(c).Do(c.Context, "GET", routers.item(id), nil, &body); err != nil {
		return fmt.Errorf("show router %s: %w", arg, err)
	}
	owned, raw, err := routerPorts(c, url.Values{"device_id": {id}})
	if err != nil {
		return err
	}
	out := getEnv(c).stdout
	if asJSON {
		byRole := map[string][]json.RawMessage{"interface": {}, "gateway": {}, "snat": {}}
		for i, p := range owned {
			byRole[portRole(p)] = append(byRole[portRole(p)], raw[i])
		}
		return printJSON(out, map[string]any{"router": body.Router, "interfaces": byRole["interface"],
			"gateway_ports": byRole["gateway"], "snat_ports": byRole["snat"]})
	}
	dec := json.NewDecoder(bytes.NewReader(body.Router))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("decode router: %w", err)
	}
	if err := showTable(out, obj); err != nil {
		return err
	}
	var rt model.Router
	if err := json.Unmarshal(body.Router, &rt); err == nil && rt.ExternalGateway != nil {
		g := rt.ExternalGateway
		var ips []string
		for _, f := range g.ExternalFixedIPs {
			ips = append(ips, f.IPAddress)
		}
		snat := "on"
		if !g.EnableSNAT {
			snat = "off"
		}
		fmt.Fprintf(out, "\nGateway: network %s, ip %s, SNAT %s\n", g.NetworkID, orDash(strings.Join(ips, ",")), snat)
	}
	// Interfaces first, then the gateway, then SNAT ports, as a router's
	// namespaces list them (qr-, qg-, sg-).
	order := map[string]int{"interface": 0, "gateway": 1, "snat": 2}
	slices.SortStableFunc(owned, func(a, b model.Port) int { return order[portRole(a)] - order[portRole(b)] })
	var rows [][]string
	for _, p := range owned {
		for _, f := range p.FixedIPs {
			rows = append(rows, []string{p.ID, portRole(p), f.SubnetID, f.IPAddress, p.MACAddress, p.Status})
		}
	}
	var ag struct {
		Agents []struct {
			Host string `json:"host"`
		} `json:"agents"`
	}
	if err := client(c).Do(c.Context, "GET", routers.item(id)+"/l3-agents", nil, &ag); err == nil && len(ag.Agents) > 0 {
		what := "SNAT"
		if !rt.Distributed {
			what = "the whole router"
		}
		fmt.Fprintf(out, "\nNamespace host: %s (%s)\n", ag.Agents[0].Host, what)
	}
	fmt.Fprintln(out, "\nInterfaces:")
	return table(out, []string{"port_id", "role", "subnet_id", "ip_address", "mac_address", "status"}, rows)
}

// routerInterface adds or removes the router's interface on a subnet.
func routerInterface(c *cli.Context, op string) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	rArg, sArg, err := twoArgs(c, "ROUTER name or ID", "SUBNET name or ID")
	if err != nil {
		return err
	}
	rid, err := resolve(c, routers, rArg)
	if err != nil {
		return err
	}
	sid, err := resolve(c, subnets, sArg)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	path := routers.item(rid) + "/" + op + "_router_interface"
	if err := client(c).Do(c.Context, "PUT", path, map[string]string{"subnet_id": sid}, &raw); err != nil {
		return fmt.Errorf("%s interface on subnet %s of router %s: %w", op, sArg, rArg, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	if op == "add" {
		fmt.Fprintf(out, "Added subnet %s to router %s:\n", sArg, rArg)
	} else {
		fmt.Fprintf(out, "Removed subnet %s from router %s:\n", sArg, rArg)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("decode interface: %w", err)
	}
	return showTable(out, obj)
}
