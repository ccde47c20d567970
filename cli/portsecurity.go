package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/model"
)

// repeated is a flag value that collects every occurrence as given:
// urfave's StringSliceFlag would also split on the comma that separates an
// allowed address from its MAC.
type repeated []string

func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }
func (r *repeated) String() string     { return strings.Join(*r, " ") }

const allowedAddressUsage = "allowed address pair IP_OR_CIDR[,MAC] (MAC defaults to the port's); repeat for more"

func allowedAddressFlag() cli.Flag {
	return &cli.GenericFlag{Name: "allowed-address", Usage: allowedAddressUsage, Value: &repeated{}}
}

// allowedAddresses returns the --allowed-address values as Neutron's
// allowed_address_pairs, checked here so that a typo never reaches the
// agent; nil when none was given.
func allowedAddresses(c *cli.Context) ([]map[string]string, error) {
	r, _ := c.Generic("allowed-address").(*repeated)
	if r == nil || len(*r) == 0 {
		return nil, nil
	}
	pairs := make([]map[string]string, 0, len(*r))
	for _, v := range *r {
		ip, mac, hasMAC := strings.Cut(v, ",")
		ip = strings.TrimSpace(ip)
		pair := map[string]string{}
		if strings.Contains(ip, "/") {
			pr, err := netip.ParsePrefix(ip)
			if err != nil || !pr.Addr().Is4() {
				return nil, fmt.Errorf("%s: bad --allowed-address %q: want an IPv4 address or prefix", c.Command.FullName(), v)
			}
			pair["ip_address"] = pr.String()
		} else {
			a, err := netip.ParseAddr(ip)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("%s: bad --allowed-address %q: want an IPv4 address or prefix", c.Command.FullName(), v)
			}
			pair["ip_address"] = a.String()
		}
		if hasMAC {
			hw, err := net.ParseMAC(strings.TrimSpace(mac))
			if err != nil || len(hw) != 6 {
				return nil, fmt.Errorf("%s: bad --allowed-address %q: bad MAC %q", c.Command.FullName(), v, mac)
			}
			pair["mac_address"] = hw.String()
		}
		pairs = append(pairs, pair)
	}
	return pairs, nil
}

func portUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change a port's port security (port_security_enabled), allowed address pairs, security groups or fixed IP",
		ArgsUsage: "PORT_NAME_OR_ID",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "port-security", Usage: "enable port security: the port sends only from its fixed IPs and allowed address pairs, with their MACs"},
			&cli.BoolFlag{Name: "no-port-security", Usage: "disable port security (the port must have no allowed address pairs and no security groups: give --no-sg)"},
			&cli.GenericFlag{Name: "allowed-address", Usage: allowedAddressUsage + "; replaces the port's pairs", Value: &repeated{}},
			&cli.BoolFlag{Name: "no-allowed-address", Usage: "remove every allowed address pair"},
			sgFlag("security group (name or ID, of the port's project); repeat for more; replaces the port's groups"),
			&cli.BoolFlag{Name: "no-sg", Usage: "remove every security group"},
			&cli.StringFlag{Name: "ip", Usage: "new fixed IP, replacing the port's (a DHCP client learns it at its next renewal)"},
		},
		Action: portUpdate,
	}
}

func portUpdate(c *cli.Context) error {
	arg, err := oneArg(c, "PORT name or ID")
	if err != nil {
		return err
	}
	if c.Bool("port-security") && c.Bool("no-port-security") {
		return errors.New("port update: --port-security and --no-port-security exclude each other")
	}
	pairs, err := allowedAddresses(c)
	if err != nil {
		return err
	}
	if pairs != nil && c.Bool("no-allowed-address") {
		return errors.New("port update: --allowed-address and --no-allowed-address exclude each other")
	}
	attrs := map[string]any{}
	switch {
	case c.Bool("port-security"):
		attrs["port_security_enabled"] = true
	case c.Bool("no-port-security"):
		attrs["port_security_enabled"] = false
	}
	switch {
	case pairs != nil:
		attrs["allowed_address_pairs"] = pairs
	case c.Bool("no-allowed-address"):
		attrs["allowed_address_pairs"] = []map[string]string{}
	}
	if ip := c.String("ip"); ip != "" {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("port update: bad --ip: %w", err)
		}
		attrs["fixed_ips"] = []map[string]string{{"ip_address": addr.String()}}
	}
	sgs, noSG, err := sgArgs(c)
	if err != nil {
		return err
	}
	switch {
	case noSG:
		attrs["security_groups"] = []string{}
	case len(sgs) == 0 && len(attrs) == 0:
		return errors.New("port update: nothing to change: give --port-security, --no-port-security, --allowed-address, --no-allowed-address, --sg, --no-sg or --ip")
	}
	if len(sgs) == 0 {
		id, err := resolve(c, ports, arg)
		if err != nil {
			return err
		}
		return updateBinding(c, id, attrs)
	}
	// Group names are looked up in the port's project.
	p, err := getPort(c, arg)
	if err != nil {
		return fmt.Errorf("port update: %w", err)
	}
	if attrs["security_groups"], err = groupIDs(c, sgs, p.ProjectID); err != nil {
		return err
	}
	return updateBinding(c, p.ID, attrs)
}

// pairsCell renders allowed address pairs for a table cell, each as
// --allowed-address takes it.
func pairsCell(pairs []model.AddressPair) string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.IPAddress + "," + p.MACAddress
	}
	return strings.Join(out, ";")
}
