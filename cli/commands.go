package cli

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/agent"
	"github.com/bnet-dev/bnet/config"
	"github.com/bnet-dev/bnet/model"
)

// agentCommand is both the daemon (`bnet agent --config F`) and the group
// holding `bnet agent list`: urfave runs Action only when no subcommand
// matched.
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "run the bnet agent, or list the agents of the cluster",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "agent configuration file", Value: DefaultConfig, EnvVars: []string{"BNET_CONFIG"}},
			&cli.BoolFlag{Name: "check", Usage: "only read and check the configuration file, then exit"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("agent: unknown subcommand %q", c.Args().First())
			}
			if c.Bool("check") {
				if _, err := config.Load(c.String("config")); err != nil {
					return err
				}
				_, err := fmt.Fprintf(getEnv(c).stdout, "%s: ok\n", c.String("config"))
				return err
			}
			return agent.Run(c.Context, c.String("config"))
		},
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the agents (nodes) of the cluster, like neutron agent-list",
			Action: func(c *cli.Context) error {
				return list(c, agents, nil,
					[]string{"id", "agent_type", "host", "vtep", "roles", "physnets", "alive", "admin_state_up", "binary"},
					agentRow)
			},
		}, {
			Name: "drain",
			Usage: "take this node out of the cluster for good: the agent leaves (peers withdraw its ports at once, " +
				"not after node_dead_hold as for a restart) and stops; the datapath stays; starting the agent rejoins",
			Action: func(c *cli.Context) error {
				if err := noArgs(c); err != nil {
					return err
				}
				var rep struct {
					Drained bool `json:"drained"`
				}
				if err := client(c).Do(c.Context, "POST", "/bnet/drain", nil, &rep); err != nil {
					return fmt.Errorf("agent drain: %w", err)
				}
				_, err := fmt.Fprintln(getEnv(c).stdout, "drained: the node left the cluster and its agent stopped")
				return err
			},
		}, {
			Name: "kernel",
			Usage: "what this host's kernel gives the datapath: every feature the agent needs (it refuses to start " +
				"without one) and those that only change a path, probed here, with the kernel that brought each",
			Description: "Probes as the agent's start-up check does, loading and attaching nothing lasting; run it as root\n" +
				"on a host before installing bnet there. Exits non-zero when a needed feature is missing.",
			Action: viewAction(kernelReport),
		}},
	}
}

// kernelProbe is agent.KernelReport; tests put a kernel of their own here.
var kernelProbe = agent.KernelReport

// kernelReport prints kernelProbe's features; the agent's refusal, if it
// would refuse, is the error.
func kernelReport(c *cli.Context, asJSON bool) error {
	release, feats, refusal := kernelProbe()
	out := getEnv(c).stdout
	var err error
	if asJSON {
		err = printJSON(out, map[string]any{"kernel": release, "features": feats, "runs": refusal == nil})
	} else {
		rows := make([][]string, 0, len(feats))
		for _, f := range feats {
			need := "needed"
			if !f.Need {
				need = "path"
			}
			rows = append(rows, []string{f.What, f.Since, need, f.State})
		}
		fmt.Fprintf(out, "kernel %s\n", release)
		err = table(out, []string{"feature", "since", "kind", "here"}, rows)
	}
	if err != nil {
		return err
	}
	return refusal
}

func agentRow(a model.Agent) []string {
	conf := a.Configurations
	alive := "xxx"
	if a.Alive {
		alive = ":-)"
	}
	return []string{
		a.ID, a.AgentType, a.Host,
		firstConf(conf, "tunneling_ip", "local_ip", "vtep"),
		firstConf(conf, "roles"),
		firstConf(conf, "physnets", "bridge_mappings"),
		alive, cell(a.AdminStateUp), a.Binary,
	}
}

// firstConf renders the first configurations key present; the agent may
// report Neutron's key (tunneling_ip, bridge_mappings) or bnet's.
func firstConf(conf map[string]any, keys ...string) string {
	for _, k := range keys {
		v, ok := conf[k]
		if !ok {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			parts := make([]string, 0, len(m))
			for name, dev := range m {
				parts = append(parts, name+":"+cell(dev))
			}
			sort.Strings(parts)
			return strings.Join(parts, ",")
		}
		if l, ok := v.([]any); ok {
			parts := make([]string, len(l))
			for i, e := range l {
				parts[i] = cell(e)
			}
			return strings.Join(parts, ",")
		}
		return cell(v)
	}
	return ""
}

func networkCommand() *cli.Command {
	return &cli.Command{
		Name:  "network",
		Usage: "manage networks",
		Subcommands: append([]*cli.Command{{
			Name:      "create",
			Usage:     "create a network",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "type", Usage: "network type: local, flat, vlan, vxlan or gre"},
				&cli.IntFlag{Name: "segment", Usage: "segmentation id (VLAN id or VNI)", DefaultText: "allocated for vxlan/gre"},
				&cli.StringFlag{Name: "physnet", Usage: "physical network (flat, vlan)"},
				&cli.IntFlag{Name: "mtu", Usage: "MTU", DefaultText: "derived from the underlay"},
				&cli.BoolFlag{Name: "external", Usage: "mark as external (router:external)"},
				&cli.BoolFlag{Name: "no-port-security", Usage: "new ports of the network default to port_security_enabled false"},
				&cli.StringFlag{Name: "project", Usage: "owning project ID"},
			},
			Action: networkCreate,
		}}, crud(networks, &cli.Command{
			Name:  "list",
			Usage: "list networks",
			Action: func(c *cli.Context) error {
				return list(c, networks, nil,
					[]string{"id", "name", "type", "segment", "physnet", "mtu", "subnets", "status"},
					networkRow)
			},
		})...),
	}
}

func networkCreate(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	typ := c.String("type")
	switch typ {
	case model.TypeLocal, model.TypeFlat, model.TypeVLAN, model.TypeVXLAN, model.TypeGRE:
	case "":
		return errors.New("network create: --type is required (local, flat, vlan, vxlan or gre)")
	default:
		return fmt.Errorf("network create: unknown --type %q (want local, flat, vlan, vxlan or gre)", typ)
	}
	attrs := map[string]any{
		"name":                  name,
		"provider:network_type": typ,
	}
	if c.IsSet("segment") {
		attrs["provider:segmentation_id"] = c.Int("segment")
	}
	if c.IsSet("physnet") {
		attrs["provider:physical_network"] = c.String("physnet")
	}
	if c.IsSet("mtu") {
		attrs["mtu"] = c.Int("mtu")
	}
	if c.Bool("external") {
		attrs["router:external"] = true
	}
	if c.Bool("no-port-security") {
		attrs["port_security_enabled"] = false
	}
	if c.IsSet("project") {
		attrs["project_id"] = c.String("project")
	}
	return create(c, networks, attrs)
}

func networkRow(n model.Network) []string {
	seg, phys := "", ""
	if n.SegmentationID != nil {
		seg = strconv.Itoa(*n.SegmentationID)
	}
	if n.PhysicalNetwork != nil {
		phys = *n.PhysicalNetwork
	}
	return []string{n.ID, n.Name, n.NetworkType, orDash(seg), orDash(phys),
		strconv.Itoa(n.MTU), strings.Join(n.Subnets, ","), n.Status}
}

func subnetCommand() *cli.Command {
	return &cli.Command{
		Name:  "subnet",
		Usage: "manage subnets",
		Subcommands: append([]*cli.Command{{
			Name:      "create",
			Usage:     "create a subnet",
			ArgsUsage: "NAME",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "network", Usage: "network name or ID"},
				&cli.StringFlag{Name: "cidr", Usage: "IPv4 prefix, e.g. 10.0.0.0/24"},
				&cli.StringFlag{Name: "gateway", Usage: "gateway IP", DefaultText: "first address"},
				&cli.BoolFlag{Name: "no-gateway", Usage: "no gateway"},
			}, subnetDHCPFlags()...),
			Action: subnetCreate,
		}, subnetUpdateCommand()}, crud(subnets, &cli.Command{
			Name:  "list",
			Usage: "list subnets",
			Action: func(c *cli.Context) error {
				return list(c, subnets, nil,
					[]string{"id", "name", "network_id", "cidr", "gateway_ip", "allocation_pools"},
					subnetRow)
			},
		})...),
	}
}

func subnetCreate(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	if c.String("network") == "" {
		return errors.New("subnet create: --network is required")
	}
	cidr := c.String("cidr")
	if cidr == "" {
		return errors.New("subnet create: --cidr is required")
	}
	if _, err := netip.ParsePrefix(cidr); err != nil {
		return fmt.Errorf("subnet create: bad --cidr: %w", err)
	}
	if c.IsSet("gateway") && c.Bool("no-gateway") {
		return errors.New("subnet create: --gateway and --no-gateway are mutually exclusive")
	}
	netID, err := resolve(c, networks, c.String("network"))
	if err != nil {
		return err
	}
	attrs := map[string]any{
		"name":       name,
		"network_id": netID,
		"cidr":       cidr,
		"ip_version": 4,
	}
	switch {
	case c.Bool("no-gateway"):
		attrs["gateway_ip"] = nil
	case c.IsSet("gateway"):
		gw, err := netip.ParseAddr(c.String("gateway"))
		if err != nil {
			return fmt.Errorf("subnet create: bad --gateway: %w", err)
		}
		attrs["gateway_ip"] = gw.String()
	}
	if err := subnetDHCPAttrs(c, attrs); err != nil {
		return fmt.Errorf("subnet create: %w", err)
	}
	return create(c, subnets, attrs)
}

func subnetRow(s model.Subnet) []string {
	gw := ""
	if s.GatewayIP != nil {
		gw = *s.GatewayIP
	}
	pools := make([]string, len(s.AllocationPools))
	for i, p := range s.AllocationPools {
		pools[i] = p.Start + "-" + p.End
	}
	return []string{s.ID, s.Name, s.NetworkID, s.CIDR, orDash(gw), strings.Join(pools, ",")}
}

func portCommand() *cli.Command {
	return &cli.Command{
		Name:  "port",
		Usage: "manage ports",
		Subcommands: append([]*cli.Command{{
			Name:      "create",
			Usage:     "create a port, plugged into a network namespace (--netns) or an existing device (--device), or unplugged for `port plug` later",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "network", Usage: "network name or ID"},
				&cli.StringFlag{Name: "ip", Usage: "fixed IP", DefaultText: "allocated from the subnet"},
				&cli.StringFlag{Name: "mac", Usage: "MAC address", DefaultText: "generated"},
				&cli.StringFlag{Name: "netns", Usage: "network namespace standing in for a VM (created if missing)"},
				&cli.BoolFlag{Name: "no-ip-config", Usage: "with --netns: configure no address or route in the namespace (a DHCP client there does)"},
				&cli.StringFlag{Name: "device", Usage: "existing tap or veth to adopt"},
				&cli.StringFlag{Name: "host", Usage: "node to bind the port to (binding:host_id)", DefaultText: "the node of the agent asked"},
				&cli.BoolFlag{Name: "no-port-security", Usage: "port_security_enabled false: no anti-spoofing and no security groups for this port", DefaultText: "the network's port_security_enabled"},
				allowedAddressFlag(),
				sgFlag("security group (name or ID, of the port's project); repeat for more"),
				&cli.BoolFlag{Name: "no-sg", Usage: "no security group: with port security on, nothing is let in or out", DefaultText: "the project's default group"},
				&cli.StringFlag{Name: "project", Usage: "owning project ID", DefaultText: model.AdminProject},
			},
			Action: portCreate,
		}, portUpdateCommand()}, append(plugCommands(), crud(ports, &cli.Command{
			Name:  "list",
			Usage: "list ports",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "network", Usage: "only ports of this network (name or ID)"},
			},
			Action: portList,
		})...)...),
	}
}

func portCreate(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	if c.String("network") == "" {
		return errors.New("port create: --network is required")
	}
	netns, dev := c.String("netns"), c.String("device")
	if netns != "" && dev != "" {
		return errors.New("port create: --netns and --device exclude each other")
	}
	attrs := map[string]any{"name": name}
	if h := c.String("host"); h != "" {
		attrs["binding:host_id"] = h
	}
	if ip := c.String("ip"); ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("port create: bad --ip: %w", err)
		}
		attrs["fixed_ips"] = []map[string]string{{"ip_address": addr.String()}}
	}
	if mac := c.String("mac"); mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("port create: bad --mac %q", mac)
		}
		attrs["mac_address"] = hw.String()
	}
	if c.Bool("no-port-security") {
		attrs["port_security_enabled"] = false
	}
	pairs, err := allowedAddresses(c)
	if err != nil {
		return err
	}
	if pairs != nil {
		attrs["allowed_address_pairs"] = pairs
	}
	project := c.String("project")
	if project != "" {
		attrs["project_id"] = project
	}
	sgs, noSG, err := sgArgs(c)
	if err != nil {
		return err
	}
	if c.Bool("no-ip-config") && netns == "" {
		return errors.New("port create: --no-ip-config goes with --netns")
	}
	if netns != "" {
		attrs["binding:profile"] = map[string]string{model.ProfileNetns: netns}
		if c.Bool("no-ip-config") {
			attrs["binding:profile"] = map[string]string{model.ProfileNetns: netns, model.ProfileNoIPConfig: "true"}
		}
	} else if dev != "" {
		attrs["binding:profile"] = map[string]string{model.ProfileDevice: dev}
	}
	netID, err := resolve(c, networks, c.String("network"))
	if err != nil {
		return err
	}
	attrs["network_id"] = netID
	switch {
	case noSG:
		attrs["security_groups"] = []string{}
	case len(sgs) > 0:
		ids, err := groupIDs(c, sgs, cmp.Or(project, model.AdminProject))
		if err != nil {
			return err
		}
		attrs["security_groups"] = ids
	}
	return create(c, ports, attrs)
}

func portList(c *cli.Context) error {
	var q url.Values
	if n := c.String("network"); n != "" {
		id, err := resolve(c, networks, n)
		if err != nil {
			return err
		}
		q = url.Values{"network_id": {id}}
	}
	return list(c, ports, q,
		[]string{"id", "name", "network_id", "mac_address", "fixed_ips", "binding", "host", "port_security", "allowed_address_pairs", "status"},
		portRow)
}

func portRow(p model.Port) []string {
	ips := make([]string, len(p.FixedIPs))
	for i, f := range p.FixedIPs {
		ips[i] = f.IPAddress
	}
	binding := describeBinding(p.Profile)
	return []string{p.ID, p.Name, p.NetworkID, p.MACAddress, strings.Join(ips, ","),
		orDash(binding), orDash(p.HostID), cell(p.PortSecurity()), orDash(pairsCell(p.AllowedAddressPairs)), p.Status}
}
