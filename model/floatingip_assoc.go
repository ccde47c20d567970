package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Floating IP rules, in Neutron's words (neutron/db/l3_db.py and
// neutron_lib/exceptions/l3.py): which network a floating IP may come
// from, which port it may be associated with and through which router, and
// what an association keeps from changing.

// badFloatingIP is Neutron's BadRequest for the floatingip resource.
func badFloatingIP(format string, a ...any) *Error {
	return &Error{Code: 400, Type: "BadRequest", Msg: "Bad floatingip request: " + fmt.Sprintf(format, a...)}
}

// FloatingIPNotFound is Neutron's 404 for a floating IP.
func FloatingIPNotFound(id string) *Error {
	return notFound("FloatingIPNotFound", "Floating IP %s could not be found", id)
}

// FloatingIPStatus is the status a floating IP shows: ACTIVE while
// associated with a port, DOWN otherwise. It is derived on read, never
// taken from the stored record.
func FloatingIPStatus(f FloatingIP) string {
	if f.PortID != nil {
		return StatusActive
	}
	return StatusDown
}

// PrepareFloatingIP fills the defaults of f (tags) and checks what a
// client may set besides the association.
func PrepareFloatingIP(f *FloatingIP) error {
	if len(f.Description) > 255 {
		return badRequest("floating IP description is longer than 255 characters")
	}
	tags, err := NormalizeTags(f.Tags)
	if err != nil {
		return err
	}
	f.Tags = tags
	return nil
}

// CheckFloatingNetwork checks that n, whose subnets are subs, may give
// floating IPs: it must be external and have a subnet to take the address
// from. The caller checks n exists.
func CheckFloatingNetwork(n Network, subs []Subnet) error {
	if !n.External {
		return badFloatingIP("Network %s is not a valid external network", n.ID)
	}
	if len(subs) == 0 {
		return badFloatingIP("Network %s does not contain any IPv4 subnet", n.ID)
	}
	return nil
}

// FloatingIPPort is the port that holds f's address on its external
// network, as Neutron creates it: network-owned (network:floatingip),
// device_id the floating IP's id, bound to no host. address and subnet
// are what the client asked for ("" for any); the caller allocates.
func FloatingIPPort(f FloatingIP, address, subnet string) Port {
	p := Port{
		NetworkID:    f.FloatingNetworkID,
		ProjectID:    f.ProjectID,
		AdminStateUp: true,
		DeviceID:     f.ID,
		DeviceOwner:  OwnerFloatingIP,
	}
	if address != "" || subnet != "" {
		p.FixedIPs = []FixedIP{{SubnetID: subnet, IPAddress: address}}
	}
	return p
}

// Association is what a floating IP is associated with: a port, one of
// its fixed IPs, and the router that connects the fixed IP's subnet to
// the floating IP's network.
type Association struct {
	PortID, FixedIP, SubnetID, RouterID string
}

// Associate sets f's association (nil: none).
func (f *FloatingIP) Associate(a *Association) {
	if a == nil {
		f.PortID, f.FixedIPAddress, f.RouterID = nil, nil, nil
		return
	}
	port, fixed, router := a.PortID, a.FixedIP, a.RouterID
	f.PortID, f.FixedIPAddress, f.RouterID = &port, &fixed, &router
}

// AssociateFloatingIP checks that f may be associated with port p on its
// fixed IP fixed ("" for the port's first IPv4 address) and returns the
// association, given every port, router and floating IP there is (f
// itself may be among fips: it never conflicts with itself). As in
// Neutron, p must not be a network's own port and must have the fixed IP;
// a router must route the fixed IP's subnet (an interface port there) and
// have its gateway on f's network; and no other floating IP of that
// network may be on the same fixed IP already.
func AssociateFloatingIP(f FloatingIP, p Port, fixed string, ports []Port, routers []Router, fips []FloatingIP) (Association, error) {
	a := Association{PortID: p.ID}
	if p.NetworkOwned() {
		return a, badFloatingIP("Port %s is unable to be assigned a floating IP", p.ID)
	}
	if fixed != "" {
		addr, err := netip.ParseAddr(fixed)
		if err != nil {
			return a, &Error{Code: 400, Type: "InvalidInput", Msg: fmt.Sprintf("Invalid input for fixed_ip_address. Reason: '%s' is not a valid IP address.", fixed)}
		}
		if !addr.Is4() {
			return a, badFloatingIP("Cannot process floating IP association with %s, since that is not an IPv4 address", fixed)
		}
		fixed = addr.String()
		i := slices.IndexFunc(p.FixedIPs, func(x FixedIP) bool { return x.IPAddress == fixed })
		if i < 0 {
			return a, badFloatingIP("Port %s does not have fixed ip %s", p.ID, fixed)
		}
		a.FixedIP, a.SubnetID = fixed, p.FixedIPs[i].SubnetID
	} else {
		i := slices.IndexFunc(p.FixedIPs, func(x FixedIP) bool {
			addr, err := netip.ParseAddr(x.IPAddress)
			return err == nil && addr.Is4()
		})
		if i < 0 {
			return a, badFloatingIP("Cannot add floating IP to port %s that has no fixed IPv4 addresses", p.ID)
		}
		a.FixedIP, a.SubnetID = p.FixedIPs[i].IPAddress, p.FixedIPs[i].SubnetID
	}
	router, err := floatingIPRouter(f.FloatingNetworkID, p, a.SubnetID, ports, routers)
	if err != nil {
		return a, err
	}
	a.RouterID = router
	for _, o := range fips {
		if o.ID == f.ID || o.FloatingNetworkID != f.FloatingNetworkID || o.PortID == nil || o.FixedIPAddress == nil {
			continue
		}
		if *o.PortID == p.ID && *o.FixedIPAddress == a.FixedIP {
			return a, conflict("FloatingIPPortAlreadyAssociated", "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as that fixed IP already has a floating IP on external network %s.",
				o.FloatingIPAddress, o.ID, p.ID, a.FixedIP, f.FloatingNetworkID)
		}
	}
	return a, nil
}

// floatingIPRouter finds the router connecting subnet (of port p) to the
// external network ext: one with an interface port on subnet and its
// gateway on ext, as Neutron's get_router_for_floatingip does. bnet lets
// one router only route a subnet (SubnetInUse), so there is no choice to
// make between several; the first by interface port ID keeps it stable.
func floatingIPRouter(ext string, p Port, subnet string, ports []Port, routers []Router) (string, error) {
	gateway := map[string]bool{}
	for _, r := range routers {
		if g := r.ExternalGateway; g != nil && g.NetworkID == ext {
			gateway[r.ID] = true
		}
	}
	ifaces := slices.Clone(ports)
	slices.SortFunc(ifaces, func(a, b Port) int { return strings.Compare(a.ID, b.ID) })
	for _, q := range ifaces {
		if !IsRouterInterface(q.DeviceOwner) || !gateway[q.DeviceID] || q.NetworkID != p.NetworkID {
			continue
		}
		if slices.ContainsFunc(q.FixedIPs, func(x FixedIP) bool { return x.SubnetID == subnet }) {
			return q.DeviceID, nil
		}
	}
	return "", notFound("ExternalGatewayForFloatingIPNotFound", "External network %s is not reachable from subnet %s.  Therefore, cannot associate Port %s with a Floating IP.",
		ext, subnet, p.ID)
}

// CheckInterfaceFloatingIPs refuses to remove iface, an interface of
// router, while a floating IP is associated through it: with a fixed IP on
// one of iface's subnets (on iface's network, if the fixed IP's port is
// gone or no longer has it).
func CheckInterfaceFloatingIPs(router string, iface Port, ports []Port, fips []FloatingIP) error {
	for _, f := range fips {
		if f.RouterID == nil || *f.RouterID != router || f.PortID == nil {
			continue
		}
		sub, net := fixedSubnet(f, ports)
		if (sub != "" && slices.ContainsFunc(iface.FixedIPs, func(x FixedIP) bool { return x.SubnetID == sub })) ||
			(sub == "" && net == iface.NetworkID) {
			if sub == "" && len(iface.FixedIPs) > 0 {
				sub = iface.FixedIPs[0].SubnetID
			}
			return conflict("RouterInterfaceInUseByFloatingIP", "Router interface for subnet %s on router %s cannot be deleted, as it is required by one or more floating IPs.", sub, router)
		}
	}
	return nil
}

// fixedSubnet is the subnet of f's fixed IP and the network of its port
// ("" when the port is gone; subnet "" when the port no longer has the IP).
func fixedSubnet(f FloatingIP, ports []Port) (subnet, network string) {
	i := slices.IndexFunc(ports, func(p Port) bool { return p.ID == *f.PortID })
	if i < 0 {
		return "", ""
	}
	for _, x := range ports[i].FixedIPs {
		if f.FixedIPAddress != nil && x.IPAddress == *f.FixedIPAddress {
			return x.SubnetID, ports[i].NetworkID
		}
	}
	return "", ports[i].NetworkID
}

// CheckGatewayFloatingIPs refuses to move router's gateway to network
// ("" clears it) while floating IPs associated through the router need it
// on their own network.
func CheckGatewayFloatingIPs(router, network string, fips []FloatingIP) error {
	for _, f := range fips {
		if f.RouterID != nil && *f.RouterID == router && f.FloatingNetworkID != network {
			return conflict("RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be updated for router %s, since a gateway to external network %s is required by one or more floating IPs.",
				router, f.FloatingNetworkID)
		}
	}
	return nil
}

// CheckRouterFloatingIPs refuses to delete router while floating IPs are
// associated through it.
func CheckRouterFloatingIPs(router string, fips []FloatingIP) error {
	var addrs []string
	for _, f := range fips {
		if f.RouterID != nil && *f.RouterID == router {
			addrs = append(addrs, f.FloatingIPAddress)
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	slices.Sort(addrs)
	return conflict("RouterInUse", "Router %s still has floating IPs associated (%s)", router, strings.Join(addrs, ", "))
}
