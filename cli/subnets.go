package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/urfave/cli/v2"
)

// subnetDHCPFlags are the DHCP attributes of a subnet, shared by create
// and update (where each given list replaces the subnet's).
func subnetDHCPFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "dns", Usage: "DNS nameserver handed out by DHCP; repeat for more (at most 5)", Value: &repeated{}},
		&cli.GenericFlag{Name: "host-route", Usage: "static route DEST_CIDR=NEXTHOP handed out by DHCP (option 121); repeat for more", Value: &repeated{}},
		&cli.GenericFlag{Name: "pool", Usage: "allocation pool START-END (addresses ports and the DHCP server get); repeat for more", Value: &repeated{}},
		&cli.BoolFlag{Name: "no-dhcp", Usage: "enable_dhcp false: no DHCP server for this subnet"},
	}
}

// subnetDHCPAttrs adds the DHCP flags given to attrs, checked here so a
// typo never reaches the agent.
func subnetDHCPAttrs(c *cli.Context, attrs map[string]any) error {
	if r, _ := c.Generic("dns").(*repeated); r != nil && len(*r) > 0 {
		dns := []string{}
		for _, v := range *r {
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return fmt.Errorf("bad --dns %q: want an IPv4 address", v)
			}
			dns = append(dns, a.String())
		}
		attrs["dns_nameservers"] = dns
	}
	if r, _ := c.Generic("host-route").(*repeated); r != nil && len(*r) > 0 {
		routes := []map[string]string{}
		for _, v := range *r {
			dst, hop, ok := strings.Cut(v, "=")
			p, err1 := netip.ParsePrefix(dst)
			a, err2 := netip.ParseAddr(hop)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("bad --host-route %q: want DEST_CIDR=NEXTHOP", v)
			}
			routes = append(routes, map[string]string{"destination": p.String(), "nexthop": a.String()})
		}
		attrs["host_routes"] = routes
	}
	if r, _ := c.Generic("pool").(*repeated); r != nil && len(*r) > 0 {
		pools := []map[string]string{}
		for _, v := range *r {
			start, end, ok := strings.Cut(v, "-")
			a, err1 := netip.ParseAddr(start)
			b, err2 := netip.ParseAddr(end)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("bad --pool %q: want START-END", v)
			}
			pools = append(pools, map[string]string{"start": a.String(), "end": b.String()})
		}
		attrs["allocation_pools"] = pools
	}
	if c.Bool("no-dhcp") {
		attrs["enable_dhcp"] = false
	}
	return nil
}

func subnetUpdateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change a subnet's DHCP attributes (each list given replaces the subnet's); VMs learn them at their next DHCP renewal",
		ArgsUsage: "SUBNET_NAME_OR_ID",
		Flags: append(subnetDHCPFlags(),
			&cli.BoolFlag{Name: "dhcp", Usage: "enable_dhcp true"},
			&cli.BoolFlag{Name: "no-dns", Usage: "no DNS nameservers"},
			&cli.BoolFlag{Name: "no-host-route", Usage: "no host routes"},
		),
		Action: subnetUpdate,
	}
}

func subnetUpdate(c *cli.Context) error {
	arg, err := oneArg(c, "SUBNET name or ID")
	if err != nil {
		return err
	}
	if c.Bool("dhcp") && c.Bool("no-dhcp") {
		return errors.New("subnet update: --dhcp and --no-dhcp exclude each other")
	}
	attrs := map[string]any{}
	if err := subnetDHCPAttrs(c, attrs); err != nil {
		return fmt.Errorf("subnet update: %w", err)
	}
	for flag, key := range map[string]string{"no-dns": "dns_nameservers", "no-host-route": "host_routes"} {
		if !c.Bool(flag) {
			continue
		}
		if _, given := attrs[key]; given {
			return fmt.Errorf("subnet update: --%s and its list exclude each other", flag)
		}
		attrs[key] = []any{}
	}
	if c.Bool("dhcp") {
		attrs["enable_dhcp"] = true
	}
	if len(attrs) == 0 {
		return errors.New("subnet update: nothing to change: give --dns, --no-dns, --host-route, --no-host-route, --pool, --dhcp or --no-dhcp")
	}
	id, err := resolve(c, subnets, arg)
	if err != nil {
		return err
	}
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := client(c).Do(c.Context, "PUT", subnets.item(id), map[string]any{"subnet": attrs}, &raw); err != nil {
		return fmt.Errorf("update subnet %s: %w", arg, err)
	}
	return printOne(c, subnets, raw, asJSON)
}
