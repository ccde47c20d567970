package model

import "strings"

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
