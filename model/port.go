package model

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Binding profile keys: how the VM end of a port is plugged on its host.
const (
	ProfileNetns  = "netns"
	ProfileDevice = "device"
	// ProfileNoIPConfig "true": a --netns port's namespace gets no address
	// or route from the agent; a DHCP client there configures it.
	ProfileNoIPConfig = "no_ip_config"
)

// binding:vif_type values: a plugged port is a tap (a veth end, to the
// kernel the same thing), an unplugged one unbound, as in Neutron.
const (
	VIFTap     = "tap"
	VIFUnbound = "unbound"
)

// NeutronMACPrefix is Neutron's default base_mac (fa:16:3e:00:00:00).
const NeutronMACPrefix = "fa:16:3e"

// RandomMAC returns fa:16:3e:xx:xx:xx with random low bytes.
func RandomMAC() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s:%02x:%02x:%02x", NeutronMACPrefix, b[0], b[1], b[2])
}

// NormalizeMAC parses a unicast Ethernet MAC and returns it lower-case,
// colon separated.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", badRequest("'%s' is not a valid MAC address", s)
	}
	if hw[0]&1 != 0 {
		return "", badRequest("'%s' is a multicast MAC address", s)
	}
	if string(hw) == "\x00\x00\x00\x00\x00\x00" {
		return "", badRequest("'%s' is not a valid MAC address", s)
	}
	return hw.String(), nil
}

// PreparePort fills the defaults of p (MAC, fixed IPs, port security, the
// MACs of allowed address pairs) and checks it. subs are
// the subnets of p's network, others the other ports of that network
// (excluding p on update). The caller checks the network exists.
func PreparePort(p *Port, subs []Subnet, others []Port) error {
	if p.MACAddress == "" {
		for {
			m := RandomMAC()
			if !slices.ContainsFunc(others, func(o Port) bool { return strings.EqualFold(o.MACAddress, m) }) {
				p.MACAddress = m
				break
			}
		}
	} else {
		m, err := NormalizeMAC(p.MACAddress)
		if err != nil {
			return err
		}
		p.MACAddress = m
		for _, o := range others {
			if strings.EqualFold(o.MACAddress, m) {
				return conflict("MacAddressInUse", "Unable to complete operation for network %s. The mac address %s is in use by port %s.", p.NetworkID, m, o.ID)
			}
		}
	}
	if err := checkProfile(p.Profile); err != nil {
		return err
	}
	if err := checkPortSecurity(p); err != nil {
		return err
	}
	if p.Profile == nil {
		p.Profile = map[string]string{}
	}

	subs = slices.Clone(subs)
	slices.SortFunc(subs, func(a, b Subnet) int {
		return cmp.Or(compareCreated(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	used := make(map[netip.Addr]string)
	usedBy := make(map[netip.Addr]string)
	for _, o := range others {
		for _, f := range o.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil {
				used[a] = o.HostID
				usedBy[a] = o.ID
			}
		}
	}

	if p.FixedIPs == nil {
		// No fixed_ips at all: one address from the first subnet, as Neutron
		// does for an IPv4-only network. "fixed_ips": [] means none.
		p.FixedIPs = []FixedIP{}
		if len(subs) > 0 {
			p.FixedIPs = append(p.FixedIPs, FixedIP{SubnetID: subs[0].ID})
		}
	}
	mine := make(map[netip.Addr]bool)
	for i := range p.FixedIPs {
		f := &p.FixedIPs[i]
		var sub *Subnet
		if f.SubnetID != "" {
			j := slices.IndexFunc(subs, func(s Subnet) bool { return s.ID == f.SubnetID })
			if j < 0 {
				return badRequest("subnet %s is not a subnet of network %s", f.SubnetID, p.NetworkID)
			}
			sub = &subs[j]
		}
		if f.IPAddress == "" {
			if sub == nil {
				return badRequest("fixed_ips entry needs subnet_id or ip_address")
			}
			taken := make(map[netip.Addr]string, len(used)+len(mine))
			for a, h := range used {
				taken[a] = h
			}
			for a := range mine {
				taken[a] = p.HostID
			}
			a, err := AllocateIP(*sub, taken, p.HostID)
			if err != nil {
				if e, ok := err.(*Error); ok && e.Type == "IpAddressGenerationFailure" {
					e.Msg = fmt.Sprintf("No more IP addresses available on network %s.", p.NetworkID)
				}
				return err
			}
			f.IPAddress = a.String()
			mine[a] = true
			continue
		}
		a, err := netip.ParseAddr(f.IPAddress)
		if err != nil || !a.Is4() {
			return badRequest("'%s' is not a valid IPv4 address", f.IPAddress)
		}
		f.IPAddress = a.String()
		if sub == nil {
			j := slices.IndexFunc(subs, func(s Subnet) bool {
				pr, err := netip.ParsePrefix(s.CIDR)
				return err == nil && pr.Contains(a)
			})
			if j < 0 {
				return &Error{Code: 400, Type: "InvalidIpForNetwork", Msg: fmt.Sprintf("IP address %s is not a valid IP for any of the subnets on the specified network.", a)}
			}
			sub = &subs[j]
			f.SubnetID = sub.ID
		}
		pr, _ := netip.ParsePrefix(sub.CIDR)
		if !pr.Contains(a) {
			return &Error{Code: 400, Type: "InvalidIpForSubnet", Msg: fmt.Sprintf("IP address %s is not a valid IP for the specified subnet.", a)}
		}
		if a == pr.Masked().Addr() || a == broadcast(pr.Masked()) {
			return badRequest("IP address %s is the network or broadcast address of subnet %s", a, sub.CIDR)
		}
		if sub.GatewayIP != nil && *sub.GatewayIP == a.String() && !IsRouterInterface(p.DeviceOwner) {
			return badRequest("IP address %s is the gateway of subnet %s", a, sub.ID)
		}
		if id, ok := usedBy[a]; ok {
			return conflict("IpAddressAlreadyAllocated", "IP address %s already allocated in subnet %s (port %s)", a, sub.ID, id)
		}
		if mine[a] {
			return badRequest("IP address %s is listed twice", a)
		}
		mine[a] = true
	}
	tags, err := NormalizeTags(p.Tags)
	if err != nil {
		return err
	}
	p.Tags = tags
	return nil
}

// Plugged reports whether the port names a device or namespace to plug.
func (p Port) Plugged() bool {
	return p.Profile[ProfileNetns] != "" || p.Profile[ProfileDevice] != ""
}

func checkProfile(prof map[string]string) error {
	ns, hasNS := prof[ProfileNetns]
	dev, hasDev := prof[ProfileDevice]
	if hasNS && hasDev {
		return badRequest("binding:profile takes netns or device, not both")
	}
	if hasNS && (ns == "" || ns == "." || ns == ".." || strings.ContainsAny(ns, "/\x00") || len(ns) > 255) {
		return badRequest("binding:profile netns '%s' is not a valid namespace name", ns)
	}
	if hasDev && (dev == "" || len(dev) > 15 || strings.ContainsAny(dev, "/: \t\n\x00") || dev == "." || dev == "..") {
		return badRequest("binding:profile device '%s' is not a valid interface name", dev)
	}
	return nil
}
