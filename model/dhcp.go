package model

import (
	"net/netip"
	"strings"
)

// dhcpDevicePrefix starts the device_id of a subnet's network:dhcp port.
const dhcpDevicePrefix = "dhcp-"

// DHCPDeviceID is the device_id of subnet's DHCP port. Neutron has one
// DHCP port per network and DHCP agent; bnet has one per DHCP-enabled
// subnet, created by the node that creates (or enables DHCP on) that
// subnet, so no two nodes ever race to extend one shared port.
func DHCPDeviceID(subnetID string) string { return dhcpDevicePrefix + subnetID }

// NewDHCPPort is the network:dhcp port of sub, before its identity, MAC
// and address are filled (PreparePort does): the DHCP server address every
// node answers for. It is no host's: like a distributed router interface
// it is on every node that has a port on the network.
func NewDHCPPort(sub Subnet) Port {
	return Port{
		NetworkID:    sub.NetworkID,
		ProjectID:    sub.ProjectID,
		TenantID:     sub.TenantID,
		AdminStateUp: true,
		DeviceID:     DHCPDeviceID(sub.ID),
		DeviceOwner:  OwnerDHCP,
		FixedIPs:     []FixedIP{{SubnetID: sub.ID}},
		VIFType:      VIFDistributed,
	}
}

// IsDHCPPortOf reports whether p is subnet's DHCP port.
func (p Port) IsDHCPPortOf(subnetID string) bool {
	return p.DeviceOwner == OwnerDHCP && p.DeviceID == DHCPDeviceID(subnetID)
}

// DHCPSubnet is the subnet whose DHCP port p is ("" for any other port).
func (p Port) DHCPSubnet() string {
	if p.DeviceOwner != OwnerDHCP || !strings.HasPrefix(p.DeviceID, dhcpDevicePrefix) {
		return ""
	}
	return strings.TrimPrefix(p.DeviceID, dhcpDevicePrefix)
}

// DHCPAddress is where sub's DHCP port goes: the first address of its
// first allocation pool (.2 on a default subnet, as Neutron's DHCP port
// usually has). A function of the subnet record alone, so a node that has
// the subnet but not yet the DHCP port (records replicate independently)
// never hands the address to a VM: AllocateIP keeps it out while DHCP is
// enabled. Invalid when the subnet has no pool.
func DHCPAddress(sub Subnet) netip.Addr {
	if len(sub.AllocationPools) == 0 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(sub.AllocationPools[0].Start)
	if err != nil || !a.Is4() {
		return netip.Addr{}
	}
	return a
}
