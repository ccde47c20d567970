package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/model"
)

var floatingIPs = resource{"floatingip", "floatingips"}

func fipCommand() *cli.Command {
	arg := "FLOATING_IP_ADDRESS_OR_ID"
	return &cli.Command{
		Name:    "fip",
		Aliases: []string{"floating-ip"},
		Usage:   "manage floating IPs: an address of an external network, NATed 1:1 to a port's fixed IP",
		Subcommands: []*cli.Command{{
			Name:  "create",
			Usage: "take a floating IP on an external network, and associate it with a port if --port is given",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "network", Usage: "external network (name or ID)"},
				&cli.StringFlag{Name: "ip", Usage: "the floating IP address", DefaultText: "allocated"},
				&cli.StringFlag{Name: "port", Usage: "port (name or ID) to associate the floating IP with"},
				&cli.StringFlag{Name: "fixed-ip", Usage: "with --port: which of its fixed IPs", DefaultText: "its first IPv4 address"},
			},
			Action: fipCreate,
		}, {
			Name:  "list",
			Usage: "list floating IPs",
			Action: func(c *cli.Context) error {
				return list(c, floatingIPs, nil,
					[]string{"id", "floating_ip_address", "fixed_ip_address", "port_id", "router_id", "status"},
					fipRow)
			},
		}, {
			Name:      "show",
			Usage:     "show one floating IP",
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return show(c, floatingIPs) },
		}, {
			Name:      "delete",
			Usage:     "delete a floating IP, releasing its address",
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return remove(c, floatingIPs) },
		}, {
			Name:      "associate",
			Usage:     "associate a floating IP with a port (one a router connects to the floating IP's network), or move it to that port",
			ArgsUsage: arg + " PORT_NAME_OR_ID",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "fixed-ip", Usage: "which of the port's fixed IPs", DefaultText: "its first IPv4 address"},
			},
			Action: fipAssociate,
		}, {
			Name:      "disassociate",
			Usage:     "disassociate a floating IP from its port, keeping the address",
			ArgsUsage: arg,
			Action:    fipDisassociate,
		}},
	}
}

func fipRow(f model.FloatingIP) []string {
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return []string{f.ID, f.FloatingIPAddress, orDash(deref(f.FixedIPAddress)), orDash(deref(f.PortID)),
		orDash(deref(f.RouterID)), f.Status}
}

// checkIP refuses a flag value that is not an IP address before anything
// is sent.
func checkIP(c *cli.Context, flag string) (string, error) {
	v := c.String(flag)
	if v == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", fmt.Errorf("fip %s: --%s %q is not an IP address", c.Command.Name, flag, v)
	}
	return a.String(), nil
}

// resolveFIP turns a floating IP address or ID into an ID: an address is
// looked up with ?floating_ip_address=, anything else (or an address no
// floating IP has) is taken as an ID, which the agent answers 404 if it
// is not one.
func resolveFIP(c *cli.Context, arg string) (string, error) {
	if _, err := netip.ParseAddr(arg); err != nil {
		return arg, nil
	}
	var body struct {
		FloatingIPs []struct {
			ID string `json:"id"`
		} `json:"floatingips"`
	}
	q := url.Values{"floating_ip_address": {arg}}
	if err := client(c).Do(c.Context, "GET", floatingIPs.path()+"?"+q.Encode(), nil, &body); err != nil {
		return "", fmt.Errorf("look up floating IP %s: %w", arg, err)
	}
	switch len(body.FloatingIPs) {
	case 0:
		return arg, nil
	case 1:
		return body.FloatingIPs[0].ID, nil
	default:
		return "", fmt.Errorf("several floating IPs have address %s (on different external networks), use the ID", arg)
	}
}

func fipCreate(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.String("network") == "" {
		return errors.New("fip create: --network is required: the external network to take the floating IP from")
	}
	ip, err := checkIP(c, "ip")
	if err != nil {
		return err
	}
	fixed, err := checkIP(c, "fixed-ip")
	if err != nil {
		return err
	}
	if fixed != "" && c.String("port") == "" {
		return errors.New("fip create: --fixed-ip needs --port")
	}
	netID, err := resolve(c, networks, c.String("network"))
	if err != nil {
		return err
	}
	attrs := map[string]any{"floating_network_id": netID}
	if ip != "" {
		attrs["floating_ip_address"] = ip
	}
	if arg := c.String("port"); arg != "" {
		pid, err := resolve(c, ports, arg)
		if err != nil {
			return err
		}
		attrs["port_id"] = pid
		if fixed != "" {
			attrs["fixed_ip_address"] = fixed
		}
	}
	return create(c, floatingIPs, attrs)
}

func fipAssociate(c *cli.Context) error {
	fArg, pArg, err := twoArgs(c, "FLOATING IP address or ID", "PORT name or ID")
	if err != nil {
		return err
	}
	fixed, err := checkIP(c, "fixed-ip")
	if err != nil {
		return err
	}
	id, err := resolveFIP(c, fArg)
	if err != nil {
		return err
	}
	pid, err := resolve(c, ports, pArg)
	if err != nil {
		return err
	}
	attrs := map[string]any{"port_id": pid}
	if fixed != "" {
		attrs["fixed_ip_address"] = fixed
	}
	return updateFIP(c, id, fArg, attrs, fmt.Sprintf("Associated floating IP %s with port %s:\n", fArg, pArg))
}

// fipDisassociate sends port_id null, as `openstack floating ip unset
// --port` does.
func fipDisassociate(c *cli.Context) error {
	arg, err := oneArg(c, "FLOATING IP address or ID")
	if err != nil {
		return err
	}
	id, err := resolveFIP(c, arg)
	if err != nil {
		return err
	}
	return updateFIP(c, id, arg, map[string]any{"port_id": nil}, fmt.Sprintf("Disassociated floating IP %s:\n", arg))
}

// updateFIP PUTs attrs on floating IP id and prints the floating IP
// answered.
func updateFIP(c *cli.Context, id, arg string, attrs map[string]any, done string) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	body := map[string]any{"floatingip": attrs}
	if err := client(c).Do(c.Context, "PUT", floatingIPs.item(id), body, &raw); err != nil {
		return fmt.Errorf("%s floating IP %s: %w", c.Command.Name, arg, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	fmt.Fprint(out, done)
	var f struct {
		FloatingIP map[string]any `json:"floatingip"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("decode floating IP: %w", err)
	}
	return showTable(out, f.FloatingIP)
}
