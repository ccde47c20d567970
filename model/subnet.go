package model

import (
	"fmt"
	"net/netip"
	"slices"
)

// MaxSubnetPrefix: a /31 or /32 leaves no room for a gateway and a port.
const MaxSubnetPrefix = 30

// Neutron's default max_dns_nameservers and max_subnet_host_routes: what
// one DHCP answer carries.
const (
	MaxDNSNameservers = 5
	MaxHostRoutes     = 20
)

// HostRange returns the first and last usable host address of p (network and
// broadcast excluded). p must be a masked IPv4 prefix of length <= 30.
func HostRange(p netip.Prefix) (first, last netip.Addr) {
	first = p.Addr().Next()
	last = broadcast(p).Prev()
	return first, last
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ParseCIDR checks a subnet CIDR the way Neutron does: IPv4, host bits
// zero, room for hosts.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, badRequest("'%s' is not a valid IPv4 CIDR", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, badRequest("'%s' isn't a recognized IP subnet cidr, '%s' is recommended", s, p.Masked())
	}
	if p.Bits() > MaxSubnetPrefix {
		return netip.Prefix{}, badRequest("prefix length of %s is longer than /%d", s, MaxSubnetPrefix)
	}
	return p, nil
}

// PrepareSubnet fills the defaults of s (ip_version, gateway, allocation
// pools) and checks it against others, the other subnets of the same network.
// defaultGateway says the client did not mention gateway_ip (null means "no
// gateway" and is kept).
func PrepareSubnet(s *Subnet, others []Subnet, defaultGateway bool) error {
	if s.IPVersion == 0 {
		s.IPVersion = 4
	}
	if s.IPVersion != 4 {
		return badRequest("ip_version %d is not supported, only 4", s.IPVersion)
	}
	if s.CIDR == "" {
		return badRequest("cidr is required")
	}
	p, err := ParseCIDR(s.CIDR)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.NetworkID != s.NetworkID {
			continue
		}
		if op, err := netip.ParsePrefix(o.CIDR); err == nil && op.Overlaps(p) {
			return badRequest("Requested subnet with cidr: %s for network: %s overlaps with another subnet (%s, %s).", s.CIDR, s.NetworkID, o.ID, o.CIDR)
		}
	}
	first, last := HostRange(p)

	var gw netip.Addr
	if s.GatewayIP != nil && *s.GatewayIP == "" {
		s.GatewayIP = nil
	}
	switch {
	case s.GatewayIP != nil:
		gw, err = netip.ParseAddr(*s.GatewayIP)
		if err != nil || !gw.Is4() {
			return badRequest("gateway_ip '%s' is not a valid IPv4 address", *s.GatewayIP)
		}
		if !p.Contains(gw) {
			return badRequest("gateway_ip %s is not in subnet %s", gw, p)
		}
		if gw == p.Addr() || gw == broadcast(p) {
			return badRequest("gateway_ip %s is the network or broadcast address of %s", gw, p)
		}
		gs := gw.String()
		s.GatewayIP = &gs
	case defaultGateway:
		gw = first
		gs := gw.String()
		s.GatewayIP = &gs
	}

	if len(s.AllocationPools) == 0 {
		s.AllocationPools = defaultPools(first, last, gw)
	} else {
		pools, err := checkPools(s.AllocationPools, p, first, last, gw)
		if err != nil {
			return err
		}
		s.AllocationPools = pools
	}
	if err := checkDNS(s); err != nil {
		return err
	}
	if err := checkHostRoutes(s); err != nil {
		return err
	}
	tags, err := NormalizeTags(s.Tags)
	if err != nil {
		return err
	}
	s.Tags = tags
	return nil
}

// defaultPools is the host range minus the gateway, as Neutron computes it.
func defaultPools(first, last, gw netip.Addr) []AllocationPool {
	var out []AllocationPool
	add := func(a, b netip.Addr) {
		if a.IsValid() && b.IsValid() && !b.Less(a) {
			out = append(out, AllocationPool{Start: a.String(), End: b.String()})
		}
	}
	if !gw.IsValid() || gw.Less(first) || last.Less(gw) {
		add(first, last)
		return out
	}
	if gw != first {
		add(first, gw.Prev())
	}
	if gw != last {
		add(gw.Next(), last)
	}
	return out
}

// InPools reports whether a is inside one of s's allocation pools.
func InPools(s Subnet, a netip.Addr) bool {
	return slices.ContainsFunc(s.AllocationPools, func(ap AllocationPool) bool {
		x, err1 := netip.ParseAddr(ap.Start)
		y, err2 := netip.ParseAddr(ap.End)
		return err1 == nil && err2 == nil && !a.Less(x) && !y.Less(a)
	})
}

// checkPools checks client-given allocation pools against the subnet p
// (host range first-last, gateway gw if valid) with Neutron's errors, and
// returns them in canonical form.
func checkPools(in []AllocationPool, p netip.Prefix, first, last, gw netip.Addr) ([]AllocationPool, error) {
	var ranges [][2]netip.Addr
	for _, ap := range in {
		a, errA := netip.ParseAddr(ap.Start)
		b, errB := netip.ParseAddr(ap.End)
		if errA != nil || errB != nil || !a.Is4() || !b.Is4() || b.Less(a) {
			return nil, &Error{Code: 400, Type: "InvalidAllocationPool",
				Msg: fmt.Sprintf("The allocation pool %s-%s is not valid.", ap.Start, ap.End)}
		}
		if a.Less(first) || last.Less(b) {
			return nil, &Error{Code: 400, Type: "OutOfBoundsAllocationPool",
				Msg: fmt.Sprintf("The allocation pool %s-%s spans beyond the subnet cidr %s.", a, b, p)}
		}
		if gw.IsValid() && !gw.Less(a) && !b.Less(gw) {
			return nil, conflict("GatewayConflictWithAllocationPools", "Gateway ip %s conflicts with allocation pool %s-%s.", gw, a, b)
		}
		for _, r := range ranges {
			if !b.Less(r[0]) && !r[1].Less(a) {
				return nil, conflict("OverlappingAllocationPools", "Found overlapping allocation pools: %s-%s %s-%s for subnet %s.", r[0], r[1], a, b, p)
			}
		}
		ranges = append(ranges, [2]netip.Addr{a, b})
	}
	out := make([]AllocationPool, 0, len(ranges))
	for _, r := range ranges {
		out = append(out, AllocationPool{Start: r[0].String(), End: r[1].String()})
	}
	return out, nil
}

// checkDNS canonicalises s's nameservers: IPv4, no repeats, at most
// MaxDNSNameservers (order kept: it is the order VMs try them in).
func checkDNS(s *Subnet) error {
	if s.DNSNameservers == nil {
		s.DNSNameservers = []string{}
	}
	if len(s.DNSNameservers) > MaxDNSNameservers {
		return &Error{Code: 400, Type: "DNSNameServersExhausted",
			Msg: fmt.Sprintf("Unable to complete operation for %s. The number of DNS nameservers exceeds the limit %d.", s.ID, MaxDNSNameservers)}
	}
	seen := map[netip.Addr]bool{}
	for i, d := range s.DNSNameservers {
		a, err := netip.ParseAddr(d)
		if err != nil || !a.Is4() {
			return badRequest("dns nameserver '%s' is not a valid IPv4 address", d)
		}
		if seen[a] {
			return badRequest("Duplicate nameserver '%s'", d)
		}
		seen[a] = true
		s.DNSNameservers[i] = a.String()
	}
	return nil
}

// checkHostRoutes canonicalises s's host routes: an IPv4 destination
// network and an IPv4 next hop each (0.0.0.0: on-link), no repeats, at most
// MaxHostRoutes.
func checkHostRoutes(s *Subnet) error {
	if s.HostRoutes == nil {
		s.HostRoutes = []HostRoute{}
	}
	if len(s.HostRoutes) > MaxHostRoutes {
		return &Error{Code: 400, Type: "HostRoutesExhausted",
			Msg: fmt.Sprintf("Unable to complete operation for %s. The number of host routes exceeds the limit %d.", s.ID, MaxHostRoutes)}
	}
	seen := map[HostRoute]bool{}
	for i, r := range s.HostRoutes {
		dst, err := netip.ParsePrefix(r.Destination)
		if err != nil || !dst.Addr().Is4() {
			return badRequest("host route destination '%s' is not an IPv4 CIDR", r.Destination)
		}
		if dst.Masked() != dst {
			return badRequest("host route destination '%s' isn't a recognized IP subnet cidr, '%s' is recommended", r.Destination, dst.Masked())
		}
		hop, err := netip.ParseAddr(r.NextHop)
		if err != nil || !hop.Is4() {
			return badRequest("host route nexthop '%s' is not an IPv4 address", r.NextHop)
		}
		c := HostRoute{Destination: dst.String(), NextHop: hop.String()}
		if seen[c] {
			return badRequest("Duplicate hostroute '%s'", r.Destination)
		}
		seen[c] = true
		s.HostRoutes[i] = c
	}
	return nil
}
