package api

import (
	"net/http"

	"github.com/bnet-dev/bnet/model"
)

func networkNotFound(id string) error {
	return notFound("NetworkNotFound", "Network %s could not be found.", id)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "network", networkAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var n model.Network
	if err := decodeOnto(in, model.Network{AdminStateUp: true}, &n); err != nil {
		s.fail(w, r, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n.ID = model.NewID()
	fillProject(&n.ProjectID, &n.TenantID)
	n.CreatedAt = model.Now()
	n.UpdatedAt = n.CreatedAt
	n.RevisionNumber = 1
	if err := model.PrepareNetwork(&n, decodeAll[model.Network](s, model.KindNetwork), s.b.UnderlayMTU()); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putNetwork(n); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"network": s.viewNetworks(n.ID)[0]})
}

// putNetwork stores n without its derived attributes.
func (s *Server) putNetwork(n model.Network) error {
	n.Subnets, n.Status, n.StatusReason, n.MTUReason = nil, "", "", ""
	_, err := s.st.Put(model.KindNetwork, n.ID, n)
	return err
}

func (s *Server) updateNetwork(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "network", networkAttrs, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := decodeOne[model.Network](s, model.KindNetwork, id)
	if !ok {
		s.fail(w, r, networkNotFound(id))
		return
	}
	var n model.Network
	if err := decodeOnto(in, old, &n); err != nil {
		s.fail(w, r, err)
		return
	}
	n.RevisionNumber = old.RevisionNumber + 1
	n.UpdatedAt = model.Now()
	if old.External && !n.External {
		for _, p := range portsOf(decodeAll[model.Port](s, model.KindPort), id) {
			if p.DeviceOwner == model.OwnerRouterGateway {
				s.fail(w, r, conflict("ExternalNetworkInUse", "External network %s cannot be updated to be made non-external, since it has existing gateway ports.", id))
				return
			}
		}
	}
	others := without(decodeAll[model.Network](s, model.KindNetwork), netID, id)
	if err := model.PrepareNetwork(&n, others, s.b.UnderlayMTU()); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.putNetwork(n); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"network": s.viewNetworks(id)[0]})
}

// deleteNetwork refuses while ports remain, and takes the network's
// subnets and DHCP ports with it, as Neutron does.
func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Get(model.KindNetwork, id); !ok {
		s.fail(w, r, networkNotFound(id))
		return
	}
	var dhcp []string
	for _, p := range decodeAll[model.Port](s, model.KindPort) {
		if p.NetworkID != id {
			continue
		}
		// DHCP ports are the network's own and go with it, as in Neutron.
		if p.DeviceOwner == model.OwnerDHCP {
			dhcp = append(dhcp, p.ID)
			continue
		}
		s.fail(w, r, conflict("NetworkInUse", "Unable to complete operation on network %s. There are one or more ports still in use on the network (port %s).", id, p.ID))
		return
	}
	for _, p := range dhcp {
		if _, err := s.st.Delete(model.KindPort, p); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	for _, sub := range decodeAll[model.Subnet](s, model.KindSubnet) {
		if sub.NetworkID == id {
			if _, err := s.st.Delete(model.KindSubnet, sub.ID); err != nil {
				s.fail(w, r, err)
				return
			}
		}
	}
	if _, err := s.st.Delete(model.KindNetwork, id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
