package model

import (
	"fmt"
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

// ExternalGateway is a router's external_gateway_info.
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
	if g := r.ExternalGateway; g != nil && g.NetworkID == "" && len(g.ExternalFixedIPs) == 0 {
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
	case !r.Distributed:
		return badRequest("legacy (centralized) routers are not supported yet: create the router with distributed=true (openstack router create --distributed)")
	case r.ExternalGateway != nil:
		return badRequest("external gateways (SNAT) are not supported yet")
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
// every port there is: the subnet needs a gateway, no router may route it
// already, and its network may have no router interface at all yet. That
// last one is bnet's limit, not Neutron's: the datapath keys a network's
// gateway by network, so a network is routed on one subnet only.
func CheckRouterInterface(router string, sub Subnet, ports []Port) error {
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
	return nil
}
