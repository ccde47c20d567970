package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

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
				&cli.BoolFlag{Name: "distributed", Usage: "a distributed (DVR) router, routed on every node: the only kind bnet has for now"},
			},
			Action: routerCreate,
		}, {
			Name:   "list",
			Usage:  "list routers",
			Action: routerList,
		}, {
			Name:      "show",
			Usage:     "show one router and its interfaces",
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
	return create(c, routers, attrs)
}

// routerPorts returns the router interface ports the query selects, each
// also as the agent sent it.
func routerPorts(c *cli.Context, q url.Values) ([]model.Port, []json.RawMessage, error) {
	var body struct {
		Ports []json.RawMessage `json:"ports"`
	}
	if err := client(c).Do(c.Context, "GET", ports.path()+"?"+q.Encode(), nil, &body); err != nil {
		return nil, nil, fmt.Errorf("list router interfaces: %w", err)
	}
	var out []model.Port
	var raw []json.RawMessage
	for _, r := range body.Ports {
		var p model.Port
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, nil, fmt.Errorf("decode port: %w", err)
		}
		if model.IsRouterInterface(p.DeviceOwner) {
			out = append(out, p)
			raw = append(raw, r)
		}
	}
	return out, raw, nil
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

// routerShow prints the router and its interfaces: the ports whose
// device_id is the router, as `openstack router show` gathers them.
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
	ifaces, raw, err := routerPorts(c, url.Values{"device_id": {id}})
	if err != nil {
		return err
	}
	out := getEnv(c).stdout
	if asJSON {
		if raw == nil {
			raw = []json.RawMessage{}
		}
		return printJSON(out, map[string]any{"router": body.Router, "interfaces": raw})
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
	var rows [][]string
	for _, p := range ifaces {
		for _, f := range p.FixedIPs {
			rows = append(rows, []string{p.ID, f.SubnetID, f.IPAddress, p.MACAddress, p.Status})
		}
	}
	fmt.Fprintln(out, "\nInterfaces:")
	return table(out, []string{"port_id", "subnet_id", "ip_address", "mac_address", "status"}, rows)
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
