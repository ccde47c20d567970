package model

// KindFloatingIP is the store kind of floating IPs.
const KindFloatingIP = "floatingip"

// OwnerFloatingIPGateway is the device_owner of a node's own address on an
// external network (seed 002's fg- port), from which the node resolves the
// external next hop for the floating IPs it serves.
const OwnerFloatingIPGateway = "network:floatingip_agent_gateway"

// FloatingIP is /v2.0/floatingips. The address is held by a port on the
// external network (device_owner network:floatingip, device_id = the
// floating IP's id), as in Neutron, so IPAM never hands it out twice.
// RouterID is derived: the router that connects the port's subnet and has
// its gateway on the floating network. Status: ACTIVE when associated,
// DOWN otherwise.
type FloatingIP struct {
	ID                string   `json:"id"`
	ProjectID         string   `json:"project_id"`
	TenantID          string   `json:"tenant_id"`
	FloatingNetworkID string   `json:"floating_network_id"`
	FloatingIPAddress string   `json:"floating_ip_address"`
	PortID            *string  `json:"port_id"`
	FixedIPAddress    *string  `json:"fixed_ip_address"`
	RouterID          *string  `json:"router_id"`
	Status            string   `json:"status"`
	Description       string   `json:"description"`
	Tags              []string `json:"tags"`
	CreatedAt         string   `json:"created_at"`
	UpdatedAt         string   `json:"updated_at"`
	RevisionNumber    int      `json:"revision_number"`
}
