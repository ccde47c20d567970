package model

import (
	"net/netip"
	"strings"
)

// KindVIPClaim is the store kind of VIP claims.
const KindVIPClaim = "vip_claim"

// VIPClaim says which port holds an address of its allowed address pairs
// now (a VIP moved by keepalived or Pacemaker): learned by the datapath from
// the gratuitous ARP the new holder sent, published by the holder's node,
// so every node points the address at it. Not an API resource.
type VIPClaim struct {
	NetworkID  string `json:"network_id"`
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
	PortID     string `json:"port_id"`
	HostID     string `json:"binding:host_id"`
	ClaimedAt  string `json:"claimed_at"`
}

// VIPClaimID is the record id of a claim: one per address and network,
// so the latest claim replaces the one before.
func VIPClaimID(network string, ip netip.Addr) string { return network + "/" + ip.String() }

// MayClaim reports whether p may hold ip with mac: ip is in one of its
// allowed address pairs whose MAC is mac. A fixed IP is never claimed: it
// does not move.
func (p Port) MayClaim(ip netip.Addr, mac string) bool {
	if !p.PortSecurity() {
		return false
	}
	for _, pair := range p.AllowedAddressPairs {
		pfx, err := netip.ParsePrefix(pair.IPAddress)
		if err != nil {
			a, err := netip.ParseAddr(pair.IPAddress)
			if err != nil {
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		pm := pair.MACAddress
		if pm == "" {
			pm = p.MACAddress
		}
		if pfx.Contains(ip) && strings.EqualFold(pm, mac) {
			return true
		}
	}
	return false
}
