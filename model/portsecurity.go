package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxAllowedAddressPairs is Neutron's max_allowed_address_pair default.
const MaxAllowedAddressPairs = 10

// PortSecurity is the network's port_security_enabled: the default of its
// new ports. Unset (a record older than the attribute) is Neutron's default,
// true.
func (n Network) PortSecurity() bool {
	return n.PortSecurityEnabled == nil || *n.PortSecurityEnabled
}

// PortSecurity is the port's effective port_security_enabled, what the
// datapath enforces: unset (a record older than the attribute) is true.
// Network-owned ports (NetworkOwned) are exempt whatever it says.
func (p Port) PortSecurity() bool {
	return p.PortSecurityEnabled == nil || *p.PortSecurityEnabled
}

// Bool returns a pointer to v, for the *bool attributes.
func Bool(v bool) *bool { return &v }

// DefaultPortSecurity gives p, a port being created on n, the network's
// port_security_enabled when the client sent none, as Neutron does.
func DefaultPortSecurity(p *Port, n Network) {
	if p.PortSecurityEnabled == nil {
		p.PortSecurityEnabled = Bool(n.PortSecurity())
	}
}

// checkPortSecurity fills and checks p's port security attributes, p's MAC
// being final: port_security_enabled becomes explicit, every address pair
// gets its canonical address and a MAC (the port's when absent), and the
// rules of Neutron's allowed-address-pairs extension apply.
func checkPortSecurity(p *Port) error {
	if p.PortSecurityEnabled == nil {
		p.PortSecurityEnabled = Bool(true)
	}
	if p.AllowedAddressPairs == nil {
		p.AllowedAddressPairs = []AddressPair{}
	}
	pairs := p.AllowedAddressPairs
	if len(pairs) > MaxAllowedAddressPairs {
		return &Error{Code: 400, Type: "AllowedAddressPairExhausted",
			Msg: fmt.Sprintf("The number of allowed address pair exceeds the maximum %d.", MaxAllowedAddressPairs)}
	}
	out := make([]AddressPair, 0, len(pairs))
	seen := make(map[AddressPair]bool, len(pairs))
	for _, ap := range pairs {
		if ap.IPAddress == "" {
			return &Error{Code: 400, Type: "AllowedAddressPairsMissingIP", Msg: "AllowedAddressPair must contain ip_address"}
		}
		ip, err := normalizePairIP(ap.IPAddress)
		if err != nil {
			return err
		}
		mac := p.MACAddress
		if ap.MACAddress != "" {
			if mac, err = NormalizeMAC(ap.MACAddress); err != nil {
				return err
			}
		}
		n := AddressPair{IPAddress: ip, MACAddress: mac}
		if seen[n] {
			return &Error{Code: 400, Type: "DuplicateAddressPairInRequest",
				Msg: fmt.Sprintf("Request contains duplicate address pair: mac_address %s ip_address %s.", mac, ip)}
		}
		seen[n] = true
		out = append(out, n)
	}
	if len(out) > 0 && !p.PortSecurity() {
		return conflict("AddressPairAndPortSecurityRequired", "Port Security must be enabled in order to have allowed address pairs on a port.")
	}
	p.AllowedAddressPairs = out
	return nil
}

// normalizePairIP returns an allowed address pair's ip_address in canonical
// form: an IPv4 address, or an IPv4 prefix with the host bits cleared
// ("10.0.0.7/24" is "10.0.0.0/24"; "10.0.0.7/32" stays a prefix).
func normalizePairIP(s string) (string, error) {
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err == nil && pr.Addr().Is6() {
			return "", badRequest("'%s': IPv6 allowed address pairs are not supported (bnet's subnets are IPv4)", s)
		}
		if err != nil || !pr.Addr().Is4() {
			return "", badRequest("'%s' is not a valid IPv4 subnet", s)
		}
		return pr.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err == nil && a.Is6() {
		return "", badRequest("'%s': IPv6 allowed address pairs are not supported (bnet's subnets are IPv4)", s)
	}
	if err != nil || !a.Is4() {
		return "", badRequest("'%s' is not a valid IPv4 address", s)
	}
	return a.String(), nil
}
