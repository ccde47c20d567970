package agent

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/bnet-dev/bnet/model"
)

// DefaultLeaseTime is Neutron's dhcp_lease_duration default. Leases are
// fixed (a port's address is its own), so the length only bounds how late
// a VM learns of a changed address, DNS server or route: at its next
// renewal, half a lease later at most.
const DefaultLeaseTime = 24 * time.Hour

// dhcpLease is everything a port is told over DHCP, derived in each
// reconcile from the replicated subnet, port and network records.
type dhcpLease struct {
	mac       net.HardwareAddr // the port's: the only client answered
	ip        netip.Addr
	prefix    netip.Prefix // the subnet
	gateway   netip.Addr   // invalid: the subnet has none (gateway_ip null)
	dns       []netip.Addr
	routes    []dhcpRoute // host routes, then the default route
	mtu       int
	lease     time.Duration
	server    netip.Addr       // the subnet's DHCP port address
	serverMAC net.HardwareAddr // and its MAC: the same on every node
}

type dhcpRoute struct {
	dst netip.Prefix
	via netip.Addr // 0.0.0.0: on-link
}

// dhcpServerPort is a subnet's network:dhcp port as DHCP uses it.
type dhcpServerPort struct {
	ip  netip.Addr
	mac net.HardwareAddr
}

// dhcpServers finds the DHCP server of every DHCP-enabled subnet: its
// network:dhcp port's address and MAC.
func dhcpServers(s snapshot) map[string]dhcpServerPort {
	out := map[string]dhcpServerPort{}
	for _, p := range s.ports {
		sub, ok := s.subnets[p.DHCPSubnet()]
		if !ok || !sub.EnableDHCP {
			continue
		}
		mac, err := net.ParseMAC(p.MACAddress)
		if err != nil {
			continue
		}
		for _, f := range p.FixedIPs {
			ip, err := netip.ParseAddr(f.IPAddress)
			if err == nil && ip.Is4() && f.SubnetID == sub.ID {
				out[sub.ID] = dhcpServerPort{ip: ip, mac: mac}
				break
			}
		}
	}
	return out
}

// dhcpNetworks lists the networks with a DHCP server: their ports' DHCP
// client packets are this node's to answer, and nobody else's to hear.
func dhcpNetworks(s snapshot, servers map[string]dhcpServerPort) map[string]bool {
	out := map[string]bool{}
	for id := range servers {
		out[s.subnets[id].NetworkID] = true
	}
	return out
}

// leaseFor is what port p is told: its first fixed IP on a subnet with a
// DHCP server (a VM gets one address over DHCPv4, as from dnsmasq). ok is
// false when p has none.
func leaseFor(s snapshot, servers map[string]dhcpServerPort, p model.Port, lease time.Duration) (dhcpLease, bool) {
	mac, err := net.ParseMAC(p.MACAddress)
	if err != nil {
		return dhcpLease{}, false
	}
	for _, f := range p.FixedIPs {
		srv, ok := servers[f.SubnetID]
		if !ok {
			continue
		}
		sub := s.subnets[f.SubnetID]
		ip, err1 := netip.ParseAddr(f.IPAddress)
		pfx, err2 := netip.ParsePrefix(sub.CIDR)
		if err1 != nil || err2 != nil || !ip.Is4() {
			continue
		}
		l := dhcpLease{mac: mac, ip: ip, prefix: pfx.Masked(), mtu: s.nets[p.NetworkID].MTU, lease: lease,
			server: srv.ip, serverMAC: srv.mac}
		if sub.GatewayIP != nil {
			l.gateway, _ = netip.ParseAddr(*sub.GatewayIP)
		}
		for _, d := range sub.DNSNameservers {
			if a, err := netip.ParseAddr(d); err == nil && a.Is4() {
				l.dns = append(l.dns, a)
			}
		}
		l.routes = leaseRoutes(sub.HostRoutes, l.gateway)
		return l, true
	}
	return dhcpLease{}, false
}

// leaseRoutes are the classless static routes (option 121) of a subnet:
// its host routes, then the default route via the gateway unless a host
// route is the default already. A client honouring option 121 ignores the
// router option (RFC 3442), so the default route must be among them.
func leaseRoutes(hrs []model.HostRoute, gw netip.Addr) []dhcpRoute {
	var out []dhcpRoute
	hasDefault := false
	for _, hr := range hrs {
		dst, err1 := netip.ParsePrefix(hr.Destination)
		via, err2 := netip.ParseAddr(hr.NextHop)
		if err1 != nil || err2 != nil || !dst.Addr().Is4() || !via.Is4() {
			continue
		}
		hasDefault = hasDefault || dst.Bits() == 0
		out = append(out, dhcpRoute{dst: dst.Masked(), via: via})
	}
	if gw.IsValid() && !hasDefault {
		out = append(out, dhcpRoute{dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), via: gw})
	}
	return out
}

// dhcpReply answers req, a DHCP message that arrived on the port whose
// lease is l. nil: nothing is sent (not a request of this port's client,
// a request meant for another server, a release). Requests for another
// address than the port's are refused with a NAK, as dnsmasq does, which
// is also how a VM learns at its next renewal that its address changed.
func dhcpReply(req *dhcpv4.DHCPv4, l dhcpLease) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || !slices.Equal(req.ClientHWAddr, l.mac) {
		return nil, nil
	}
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return leaseReply(req, l, dhcpv4.MessageTypeOffer)
	case dhcpv4.MessageTypeRequest:
		if id := req.ServerIdentifier(); id != nil && !id.Equal(l.server.AsSlice()) {
			return nil, nil // the client took another server's offer
		}
		want := req.RequestedIPAddress()
		if want == nil {
			want = req.ClientIPAddr // renewing or rebinding
		}
		if want.Equal(l.ip.AsSlice()) {
			return leaseReply(req, l, dhcpv4.MessageTypeAck)
		}
		return dhcpv4.NewReplyFromRequest(req,
			dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(l.server.AsSlice())),
			dhcpv4.WithOption(dhcpv4.OptMessage(fmt.Sprintf("address %s is not this port's", want))))
	case dhcpv4.MessageTypeInform:
		// The client has its address already: configuration only, no
		// lease (RFC 2131 4.3.5).
		r, err := leaseReply(req, l, dhcpv4.MessageTypeAck)
		if err != nil {
			return nil, err
		}
		r.YourIPAddr = net.IPv4zero
		r.DeleteOption(dhcpv4.OptionIPAddressLeaseTime)
		r.DeleteOption(dhcpv4.OptionRenewTimeValue)
		r.DeleteOption(dhcpv4.OptionRebindingTimeValue)
		return r, nil
	}
	return nil, nil
}

// leaseReply is an OFFER or ACK of l with every option the port gets.
func leaseReply(req *dhcpv4.DHCPv4, l dhcpLease, typ dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(l.ip.AsSlice()),
		dhcpv4.WithClientIP(req.ClientIPAddr),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(l.server.AsSlice())),
		dhcpv4.WithNetmask(net.CIDRMask(l.prefix.Bits(), 32)),
		dhcpv4.WithOption(dhcpv4.OptBroadcastAddress(lastAddr(l.prefix).AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(l.lease)),
		dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(l.lease / 2)),
		dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(l.lease * 7 / 8)),
	}
	if l.gateway.IsValid() {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(l.gateway.AsSlice())))
	}
	if len(l.dns) > 0 {
		ips := make([]net.IP, len(l.dns))
		for i, d := range l.dns {
			ips[i] = d.AsSlice()
		}
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips...)))
	}
	if len(l.routes) > 0 {
		rs := make([]*dhcpv4.Route, len(l.routes))
		for i, r := range l.routes {
			rs[i] = &dhcpv4.Route{
				Dest:   &net.IPNet{IP: r.dst.Addr().AsSlice(), Mask: net.CIDRMask(r.dst.Bits(), 32)},
				Router: r.via.AsSlice(),
			}
		}
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(rs...)))
	}
	if l.mtu >= 68 && l.mtu <= 0xffff {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(l.mtu >> 8), byte(l.mtu)}))
	}
	return dhcpv4.NewReplyFromRequest(req, mods...)
}

// lastAddr is the broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// serveDHCP hands the DHCP server the ports and leases of this reconcile.
// It runs before the maps are programmed: a port's socket is open before
// its DHCP flag makes the datapath consume its requests.
func (a *Agent) serveDHCP(d desired) {
	if a.dhcp == nil {
		a.dhcp = newDHCPServer(a.log.With("part", "dhcp"))
	}
	a.dhcp.sync(d.dhcpPorts, d.dhcpLeases)
}

// leaseTime is how long a DHCP lease lasts.
func (a *Agent) leaseTime() time.Duration {
	if a.cfg.DHCPLeaseDuration > 0 {
		return time.Duration(a.cfg.DHCPLeaseDuration) * time.Second
	}
	return DefaultLeaseTime
}
