package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// KindRouter is the store kind of routers.
const KindRouter = "router"

// device_owner values Neutron gives the ports it creates for routers (and
// the other network-owned ports bnet will create).
const (
	OwnerRouterInterface = "network:router_interface"             // legacy router
	OwnerRouterDVR       = "network:router_interface_distributed" // DVR: on every node
	OwnerRouterGateway   = "network:router_gateway"               // qg-
	OwnerRouterSNAT      = "network:router_centralized_snat"      // sg-
	OwnerFloatingIP      = "network:floatingip"
	OwnerDHCP            = "network:dhcp"
)

// ExternalGateway is a router's external_gateway_info: the external
// network its gateway port (OwnerRouterGateway) is on, whether traffic
// leaving through it is source-NATed (through the router's SNAT ports,
// OwnerRouterSNAT, one on every subnet it routes), and the gateway port's
// addresses. A client names the network and may ask for addresses; the
// addresses stored are the port's.
type ExternalGateway struct {
	NetworkID        string    `json:"network_id"`
	EnableSNAT       bool      `json:"enable_snat"`
	ExternalFixedIPs []FixedIP `json:"external_fixed_ips"`
}

// Router is /v2.0/routers. Its interfaces are ports (device_owner
// network:router_interface[_distributed], device_id = router id) whose one
// fixed IP is the subnet's gateway, as in Neutron. Status and StatusReason
// are derived on read.
type Router struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	ProjectID       string           `json:"project_id"`
	TenantID        string           `json:"tenant_id"`
	AdminStateUp    bool             `json:"admin_state_up"`
	Distributed     bool             `json:"distributed"`
	HA              bool             `json:"ha"`
	ExternalGateway *ExternalGateway `json:"external_gateway_info"`
	Routes          []HostRoute      `json:"routes"`
	Status          string           `json:"status"`
	StatusReason    string           `json:"status_reason,omitempty"`
	CreatedAt       string           `json:"created_at"`
	UpdatedAt       string           `json:"updated_at"`
	RevisionNumber  int              `json:"revision_number"`
	Tags            []string         `json:"tags"`
	Description     string           `json:"description"`
}

// IsRouterInterface reports whether owner is a router interface port's.
func IsRouterInterface(owner string) bool {
	return owner == OwnerRouterInterface || owner == OwnerRouterDVR
}

// IsRouterPort reports whether owner is that of a port a router creates
// and deletes itself (interface, gateway, SNAT): the port API may not
// delete one while its router exists.
func IsRouterPort(owner string) bool {
	return IsRouterInterface(owner) || owner == OwnerRouterGateway || owner == OwnerRouterSNAT
}

// NetworkOwned reports whether the port belongs to the network itself
// (routers, DHCP, floating IPs) rather than to a VM: such ports are never
// plugged into a namespace or device by `port plug`, and the agent derives
// their datapath state instead.
func (p Port) NetworkOwned() bool { return strings.HasPrefix(p.DeviceOwner, "network:") }

// VIFDistributed is the binding:vif_type Neutron shows for a DVR interface
// port: it lives on every node, so no one host binds it.
const VIFDistributed = "distributed"

// badRouter is Neutron's BadRequest for the router resource.
func badRouter(format string, a ...any) *Error {
	return &Error{Code: 400, Type: "BadRequest", Msg: "Bad router request: " + fmt.Sprintf(format, a...)}
}

// PrepareRouter fills the defaults of r (routes, tags) and checks it.
func PrepareRouter(r *Router) error {
	if len(r.Name) > 255 {
		return badRequest("router name is longer than 255 characters")
	}
	// {} is how clients clear a gateway (openstack router unset
	// --external-gateway sends it): the same as null.
	if g := r.ExternalGateway; g != nil && g.NetworkID == "" {
		if len(g.ExternalFixedIPs) > 0 {
			return &Error{Code: 400, Type: "InvalidInput", Msg: "Invalid input for external_gateway_info. Reason: external_fixed_ips without a network_id."}
		}
		r.ExternalGateway = nil
	}
	if r.Routes == nil {
		r.Routes = []HostRoute{}
	}
	if err := CheckRouterSupported(*r); err != nil {
		return err
	}
	tags, err := NormalizeTags(r.Tags)
	if err != nil {
		return err
	}
	r.Tags = tags
	return nil
}

// CheckRouterSupported refuses the routers bnet cannot forward for yet. The
// refusals live here together so that each one goes when its feature lands.
func CheckRouterSupported(r Router) error {
	switch {
	case r.HA:
		return badRequest("HA routers are not supported")
	case len(r.Routes) > 0:
		return badRequest("extra routes are not supported yet")
	}
	return nil
}

// CheckRouterUpdate refuses what cannot change on an existing router.
// Neutron migrates a router between legacy and distributed only while it is
// administratively down; bnet has nothing to migrate to.
func CheckRouterUpdate(old, r Router) error {
	if old.Distributed != r.Distributed {
		return badRequest("distributed cannot be changed on an existing router: create a new router instead")
	}
	return nil
}

// InterfaceOwner is the device_owner of r's interface ports.
func InterfaceOwner(r Router) string {
	if r.Distributed {
		return OwnerRouterDVR
	}
	return OwnerRouterInterface
}

// CheckRouterInterface checks that router may get an interface on sub, given
// every port and subnet there is: the subnet needs a gateway, no router may
// route it already, its network may have no router interface at all yet
// and may not be the router's external gateway network, and its cidr may
// not overlap a subnet the router has a port on already (Neutron's
// check). The one-interface-per-network rule is bnet's limit, not
// Neutron's: the datapath keys a network's gateway by network, so a
// network is routed on one subnet only; for the same reason a router's
// gateway network is not also one of its interfaces' networks.
func CheckRouterInterface(router string, sub Subnet, ports []Port, subs []Subnet) error {
	if sub.GatewayIP == nil {
		return badRouter("Subnet %s has no gateway IP: a router interface needs one", sub.ID)
	}
	for _, p := range ports {
		if !IsRouterInterface(p.DeviceOwner) {
			continue
		}
		for _, f := range p.FixedIPs {
			if f.SubnetID != sub.ID {
				continue
			}
			if p.DeviceID == router {
				return badRouter("Router already has a port on subnet %s", sub.ID)
			}
			return conflict("SubnetInUse", "Subnet %s is already routed by router %s", sub.ID, p.DeviceID)
		}
	}
	for _, p := range ports {
		if IsRouterInterface(p.DeviceOwner) && p.NetworkID == sub.NetworkID {
			return badRouter("network %s already has a router interface (port %s); bnet routes one subnet per network", sub.NetworkID, p.ID)
		}
	}
	for _, p := range ports {
		if p.DeviceOwner == OwnerRouterGateway && p.DeviceID == router && p.NetworkID == sub.NetworkID {
			return badRouter("network %s is the external gateway network of router %s: the router cannot also have an interface on it", sub.NetworkID, router)
		}
	}
	return checkOverlap([]Subnet{sub}, routerSubnets(router, ports, subs))
}

// routerSubnets are the subnets router has a port on (interface, gateway,
// SNAT), as Neutron gathers them to check overlaps.
func routerSubnets(router string, ports []Port, subs []Subnet) []Subnet {
	ids := map[string]bool{}
	for _, p := range ports {
		if p.DeviceID != router || !IsRouterPort(p.DeviceOwner) {
			continue
		}
		for _, f := range p.FixedIPs {
			ids[f.SubnetID] = true
		}
	}
	var out []Subnet
	for _, s := range subs {
		if ids[s.ID] {
			out = append(out, s)
		}
	}
	return out
}

// checkOverlap refuses any subnet of news whose cidr overlaps one of
// routed's (other than itself), in Neutron's words.
func checkOverlap(news, routed []Subnet) error {
	for _, n := range news {
		np, err := netip.ParsePrefix(n.CIDR)
		if err != nil {
			continue
		}
		for _, r := range routed {
			if rp, err := netip.ParsePrefix(r.CIDR); err == nil && r.ID != n.ID && rp.Overlaps(np) {
				return badRouter("Cidr %s of subnet %s overlaps with cidr %s of subnet %s", n.CIDR, n.ID, r.CIDR, r.ID)
			}
		}
	}
	return nil
}

// CheckGatewayNetwork checks that n, whose subnets are subs, may be
// router's external gateway network, given every port and subnet there
// is: it must be external and have a subnet to take an address from, may
// not be one of the router's interface networks (bnet's limit, as in
// CheckRouterInterface), and none of its subnets may overlap a subnet the
// router routes (Neutron's check). The caller checks n exists.
func CheckGatewayNetwork(router string, n Network, subs []Subnet, ports []Port, all []Subnet) error {
	if !n.External {
		return badRouter("network %s is not an external network", n.ID)
	}
	if len(subs) == 0 {
		return badRouter("network %s has no subnet: the router's gateway port needs an address on one", n.ID)
	}
	var routed []Subnet
	for _, s := range routerSubnets(router, ports, all) {
		if s.NetworkID == n.ID {
			// Its gateway port's own subnet, when the gateway stays.
			continue
		}
		routed = append(routed, s)
	}
	for _, p := range ports {
		if p.DeviceID == router && IsRouterInterface(p.DeviceOwner) && p.NetworkID == n.ID {
			return badRouter("network %s has an interface of router %s (port %s): it cannot also be the router's external gateway network", n.ID, router, p.ID)
		}
	}
	return checkOverlap(subs, routed)
}
