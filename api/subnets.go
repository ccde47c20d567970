package api

import (
	"net/http"
	"net/netip"
	"slices"

	"github.com/bnet-dev/bnet/model"
)

func subnetNotFound(id string) error {
	return notFound("SubnetNotFound", "Subnet %s could not be found.", id)
}

func subnetsOf(all []model.Subnet, network string) []model.Subnet {
	return slices.DeleteFunc(all, func(s model.Subnet) bool { return s.NetworkID != network })
}

func (s *Server) createSubnet(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "subnet", subnetAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var sub model.Subnet
	if err := decodeOnto(in, model.Subnet{EnableDHCP: true}, &sub); err != nil {
		s.fail(w, r, err)
		return
	}
	if sub.NetworkID == "" {
		s.fail(w, r, badRequest("Invalid input for network_id: a subnet needs a network_id."))
		return
	}
	_, defaultGW := in["gateway_ip"]
	defaultGW = !defaultGW
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Get(model.KindNetwork, sub.NetworkID); !ok {
		s.fail(w, r, networkNotFound(sub.NetworkID))
		return
	}
	sub.ID = model.NewID()
	fillProject(&sub.ProjectID, &sub.TenantID)
	sub.CreatedAt = model.Now()
	sub.UpdatedAt = sub.CreatedAt
	sub.RevisionNumber = 1
	others := subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), sub.NetworkID)
	if err := model.PrepareSubnet(&sub, others, defaultGW); err != nil {
		s.fail(w, r, err)
		return
	}
	dhcp, err := s.planDHCPPort(sub)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putSubnet(sub); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := dhcp.apply(s); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"subnet": s.viewSubnets(sub.ID)[0]})
}

func (s *Server) putSubnet(sub model.Subnet) error {
	sub.Status, sub.StatusReason = "", ""
	_, err := s.st.Put(model.KindSubnet, sub.ID, sub)
	return err
}

func (s *Server) updateSubnet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "subnet", subnetAttrs, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := decodeOne[model.Subnet](s, model.KindSubnet, id)
	if !ok {
		s.fail(w, r, subnetNotFound(id))
		return
	}
	var sub model.Subnet
	if err := decodeOnto(in, old, &sub); err != nil {
		s.fail(w, r, err)
		return
	}
	sub.RevisionNumber = old.RevisionNumber + 1
	sub.UpdatedAt = model.Now()
	others := without(subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), sub.NetworkID), subID, id)
	if err := model.PrepareSubnet(&sub, others, false); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.checkRouterGateway(old, sub); err != nil {
		s.fail(w, r, err)
		return
	}
	if sub.GatewayIP != nil && (old.GatewayIP == nil || *old.GatewayIP != *sub.GatewayIP) {
		gw := netip.MustParseAddr(*sub.GatewayIP)
		for _, p := range decodeAll[model.Port](s, model.KindPort) {
			for _, f := range p.FixedIPs {
				if a, err := netip.ParseAddr(f.IPAddress); err == nil && a == gw && p.NetworkID == sub.NetworkID {
					s.fail(w, r, conflict("GatewayIpInUse", "Gateway ip %s conflicts with port %s.", gw, p.ID))
					return
				}
			}
		}
	}
	dhcp, err := s.planDHCPPort(sub)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putSubnet(sub); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := dhcp.apply(s); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"subnet": s.viewSubnets(id)[0]})
}

// checkRouterGateway refuses to move or drop a gateway IP a router
// interface holds, as Neutron does: the router answers on that address.
func (s *Server) checkRouterGateway(old, sub model.Subnet) error {
	if old.GatewayIP == nil || (sub.GatewayIP != nil && *sub.GatewayIP == *old.GatewayIP) {
		return nil
	}
	for _, p := range decodeAll[model.Port](s, model.KindPort) {
		if !model.IsRouterInterface(p.DeviceOwner) {
			continue
		}
		for _, f := range p.FixedIPs {
			if f.SubnetID == old.ID && f.IPAddress == *old.GatewayIP {
				return conflict("GatewayIpInUse", "Current gateway ip %s already in use by port %s. Unable to update.", f.IPAddress, p.ID)
			}
		}
	}
	return nil
}

func (s *Server) deleteSubnet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Get(model.KindSubnet, id); !ok {
		s.fail(w, r, subnetNotFound(id))
		return
	}
	var dhcp []string
	for _, p := range decodeAll[model.Port](s, model.KindPort) {
		if dhcpPortOnly(p, id) {
			dhcp = append(dhcp, p.ID)
			continue
		}
		for _, f := range p.FixedIPs {
			if f.SubnetID == id {
				s.fail(w, r, conflict("SubnetInUse", "Unable to complete operation on subnet %s: One or more ports have an IP allocation from this subnet (port %s).", id, p.ID))
				return
			}
		}
	}
	for _, p := range dhcp {
		if _, err := s.st.Delete(model.KindPort, p); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if _, err := s.st.Delete(model.KindSubnet, id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
