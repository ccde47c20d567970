// Package model holds the Neutron-shaped resources bnet serves and replicates.
// JSON field names follow the OpenStack Networking API v2.0 so that the same
// bodies travel through the API, the on-disk state and gossip unchanged.
package model

// Resource kinds, as stored and replicated (store.Record.Kind).
const (
	KindNetwork = "network"
	KindSubnet  = "subnet"
	KindPort    = "port"
)

// Network types (provider:network_type).
const (
	TypeLocal = "local"
	TypeFlat  = "flat"
	TypeVLAN  = "vlan"
	TypeVXLAN = "vxlan"
	TypeGRE   = "gre"
)

// Status values as Neutron reports them.
const (
	StatusActive = "ACTIVE"
	StatusDown   = "DOWN"
	StatusBuild  = "BUILD"
	StatusError  = "ERROR"
)

// Network is /v2.0/networks. Status, StatusReason and Subnets are derived on
// read (never trusted from a client or a peer). PortSecurityEnabled is the
// port-security extension's default for the network's new ports; nil (a
// record older than the attribute) means true: use PortSecurity().
type Network struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	ProjectID           string   `json:"project_id"`
	TenantID            string   `json:"tenant_id"`
	AdminStateUp        bool     `json:"admin_state_up"`
	Shared              bool     `json:"shared"`
	External            bool     `json:"router:external"`
	MTU                 int      `json:"mtu"`
	MTUReason           string   `json:"mtu_reason,omitempty"` // derived: why this MTU
	NetworkType         string   `json:"provider:network_type"`
	PhysicalNetwork     *string  `json:"provider:physical_network"`
	SegmentationID      *int     `json:"provider:segmentation_id"`
	PortSecurityEnabled *bool    `json:"port_security_enabled"`
	Subnets             []string `json:"subnets"`
	Status              string   `json:"status"`
	StatusReason        string   `json:"status_reason,omitempty"`
	CreatedAt           string   `json:"created_at"`
	UpdatedAt           string   `json:"updated_at"`
	RevisionNumber      int      `json:"revision_number"`
	Tags                []string `json:"tags"`
	Description         string   `json:"description"`
}

// AllocationPool is an inclusive address range of a subnet.
type AllocationPool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// HostRoute is a static route handed to VMs.
type HostRoute struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Subnet is /v2.0/subnets (IPv4 only for now).
type Subnet struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	NetworkID       string           `json:"network_id"`
	ProjectID       string           `json:"project_id"`
	TenantID        string           `json:"tenant_id"`
	IPVersion       int              `json:"ip_version"`
	CIDR            string           `json:"cidr"`
	GatewayIP       *string          `json:"gateway_ip"`
	EnableDHCP      bool             `json:"enable_dhcp"`
	AllocationPools []AllocationPool `json:"allocation_pools"`
	DNSNameservers  []string         `json:"dns_nameservers"`
	HostRoutes      []HostRoute      `json:"host_routes"`
	// Status is set only on a subnet that lost a conflict (see Resolve):
	// Neutron subnets have no status otherwise.
	Status         string   `json:"status,omitempty"`
	StatusReason   string   `json:"status_reason,omitempty"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
	RevisionNumber int      `json:"revision_number"`
	Tags           []string `json:"tags"`
	Description    string   `json:"description"`
}

// FixedIP is one address of a port.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is one entry of a port's allowed_address_pairs: traffic from
// the port may also use this IPv4 address or prefix (canonical form, "/32"
// kept as given) with this MAC (the port's own when the client gave none).
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// Port is /v2.0/ports. binding:host_id names the node that hosts the port
// (its owner); binding:profile carries how the VM end is plugged on that
// node: {"netns": NAME} or {"device": IFNAME}.
//
// PortSecurityEnabled (port-security extension) and AllowedAddressPairs
// (allowed-address-pairs extension) say what the port may send: with port
// security on, only its fixed IPs with its MAC, plus the allowed pairs.
// PortSecurityEnabled is nil in records older than the attribute, which
// means true: the datapath reads PortSecurity(), never the pointer.
type Port struct {
	ID                  string            `json:"id"`
	Name                string            `json:"name"`
	NetworkID           string            `json:"network_id"`
	ProjectID           string            `json:"project_id"`
	TenantID            string            `json:"tenant_id"`
	MACAddress          string            `json:"mac_address"`
	FixedIPs            []FixedIP         `json:"fixed_ips"`
	PortSecurityEnabled *bool             `json:"port_security_enabled"`
	AllowedAddressPairs []AddressPair     `json:"allowed_address_pairs"`
	SecurityGroups      []string          `json:"security_groups"`
	AdminStateUp        bool              `json:"admin_state_up"`
	DeviceID            string            `json:"device_id"`
	DeviceOwner         string            `json:"device_owner"`
	HostID              string            `json:"binding:host_id"`
	Profile             map[string]string `json:"binding:profile"`
	VIFType             string            `json:"binding:vif_type"`
	Status              string            `json:"status"`
	StatusReason        string            `json:"status_reason,omitempty"`
	CreatedAt           string            `json:"created_at"`
	UpdatedAt           string            `json:"updated_at"`
	RevisionNumber      int               `json:"revision_number"`
	Tags                []string          `json:"tags"`
	Description         string            `json:"description"`
}

// Agent is /v2.0/agents: one per bnet node, derived from gossip membership.
type Agent struct {
	ID               string         `json:"id"`
	AgentType        string         `json:"agent_type"`
	Binary           string         `json:"binary"`
	Host             string         `json:"host"`
	Topic            string         `json:"topic"`
	Alive            bool           `json:"alive"`
	AdminStateUp     bool           `json:"admin_state_up"`
	AvailabilityZone *string        `json:"availability_zone"`
	Configurations   map[string]any `json:"configurations"`
	HeartbeatAt      string         `json:"heartbeat_timestamp"`
	CreatedAt        string         `json:"created_at"`
	StartedAt        string         `json:"started_at"`
	Description      string         `json:"description"`
}
