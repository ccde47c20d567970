package api

import (
	"slices"

	"github.com/bnet-dev/bnet/model"
)

// dhcpChange is what keeping sub's network:dhcp port in step with sub
// takes: a port to store, or ports to delete.
type dhcpChange struct {
	add *model.Port
	del []string
}

// planDHCPPort works out, without writing anything, how sub's DHCP port
// must change for sub as it is about to be stored: present while DHCP is
// enabled (created if missing, so any update repairs a deleted one or
// gives one to a subnet stored before DHCP ports existed), gone when it
// is not. The address comes from sub's pools as they will be; an
// exhausted pool fails like any port would (IpAddressGenerationFailure).
// The caller holds s.mu.
func (s *Server) planDHCPPort(sub model.Subnet) (dhcpChange, error) {
	var ch dhcpChange
	ports := portsOf(decodeAll[model.Port](s, model.KindPort), sub.NetworkID)
	have := slices.ContainsFunc(ports, func(p model.Port) bool { return p.IsDHCPPortOf(sub.ID) })
	if !sub.EnableDHCP {
		for _, p := range ports {
			if p.IsDHCPPortOf(sub.ID) {
				ch.del = append(ch.del, p.ID)
			}
		}
		return ch, nil
	}
	if have {
		return ch, nil
	}
	n, ok := decodeOne[model.Network](s, model.KindNetwork, sub.NetworkID)
	if !ok {
		return ch, networkNotFound(sub.NetworkID)
	}
	subs := without(subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), sub.NetworkID), subID, sub.ID)
	subs = append(subs, sub)
	p := model.NewDHCPPort(sub)
	// At its reserved address when free (a port given it explicitly may
	// hold it), else anywhere in the pools.
	if a := model.DHCPAddress(sub); a.IsValid() && !slices.ContainsFunc(ports, func(o model.Port) bool {
		return slices.ContainsFunc(o.FixedIPs, func(f model.FixedIP) bool { return f.IPAddress == a.String() })
	}) {
		p.FixedIPs[0].IPAddress = a.String()
	}
	p.ID = model.NewID()
	p.CreatedAt = model.Now()
	p.UpdatedAt = p.CreatedAt
	p.RevisionNumber = 1
	fillProject(&p.ProjectID, &p.TenantID)
	model.DefaultPortSecurity(&p, n)
	if err := model.PreparePort(&p, subs, ports); err != nil {
		return ch, err
	}
	if err := model.PreparePortSecurityGroups(&p, nil, false, nil); err != nil {
		return ch, err
	}
	ch.add = &p
	return ch, nil
}

// apply stores the planned change. The caller holds s.mu.
func (ch dhcpChange) apply(s *Server) error {
	for _, id := range ch.del {
		if _, err := s.st.Delete(model.KindPort, id); err != nil {
			return err
		}
	}
	if ch.add != nil {
		return s.putPort(*ch.add)
	}
	return nil
}

// dhcpPortOnly reports whether p is a DHCP port holding addresses of
// subnet alone: it goes with the subnet, as Neutron's auto-deleted
// network:dhcp ports do.
func dhcpPortOnly(p model.Port, subnet string) bool {
	if p.DeviceOwner != model.OwnerDHCP {
		return false
	}
	for _, f := range p.FixedIPs {
		if f.SubnetID != subnet {
			return false
		}
	}
	return true
}
