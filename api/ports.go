package api

import (
	"net/http"
	"slices"

	"github.com/bnet-dev/bnet/model"
)

func portNotFound(id string) error {
	return notFound("PortNotFound", "Port %s could not be found.", id)
}

func portsOf(all []model.Port, network string) []model.Port {
	return slices.DeleteFunc(all, func(p model.Port) bool { return p.NetworkID != network })
}

// checkHost refuses to bind a port here on a flat/vlan network whose
// physnet this node does not have: it could never forward.
func (s *Server) checkHost(p model.Port, n model.Network) error {
	if p.HostID != s.b.Node() || n.PhysicalNetwork == nil {
		return nil
	}
	if n.NetworkType != model.TypeFlat && n.NetworkType != model.TypeVLAN {
		return nil
	}
	if !slices.Contains(s.b.Physnets(), *n.PhysicalNetwork) {
		return &model.Error{Code: 400, Type: "InvalidInput", Msg: "Invalid input for operation: physical network " +
			*n.PhysicalNetwork + " of network " + n.ID + " is not available on host " + p.HostID + "."}
	}
	return nil
}

func (s *Server) createPort(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "port", portAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var p model.Port
	if err := decodeOnto(in, model.Port{AdminStateUp: true}, &p); err != nil {
		s.fail(w, r, err)
		return
	}
	if p.NetworkID == "" {
		s.fail(w, r, badRequest("Invalid input for network_id: a port needs a network_id."))
		return
	}
	defaultHost(&p, s.b.Node())
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.insertPort(&p)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, p.HostID)
	writeJSON(w, http.StatusCreated, map[string]any{"port": s.viewPorts(p.ID)[0]})
}

// defaultHost binds a VM's port to the node asked when the client names
// none. A network-owned port keeps its empty host: a distributed router
// interface is on every node.
func defaultHost(p *model.Port, node string) {
	if p.HostID == "" && !p.NetworkOwned() {
		p.HostID = node
	}
}

// insertPort stores p as a new port, with its identity and defaults filled
// and checked against its network. The caller holds s.mu.
func (s *Server) insertPort(p *model.Port) error {
	if err := s.newPort(p); err != nil {
		return err
	}
	return s.putPort(*p)
}

// newPort fills the identity and defaults of p, a port to create, and
// checks it against its network and the ports there, pending ones
// (planned, not stored yet) included. It writes nothing. The caller holds
// s.mu.
func (s *Server) newPort(p *model.Port, pending ...model.Port) error {
	n, ok := decodeOne[model.Network](s, model.KindNetwork, p.NetworkID)
	if !ok {
		return networkNotFound(p.NetworkID)
	}
	if err := s.checkHost(*p, n); err != nil {
		return err
	}
	p.ID = model.NewID()
	fillProject(&p.ProjectID, &p.TenantID)
	p.CreatedAt = model.Now()
	p.UpdatedAt = p.CreatedAt
	p.RevisionNumber = 1
	p.VIFType = model.VIFTap
	model.DefaultPortSecurity(p, n)
	subs := subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), p.NetworkID)
	if err := model.PreparePort(p, subs, s.portsWith(p.NetworkID, "", pending)); err != nil {
		return err
	}
	// On create, absent (or null) security_groups decode as nil: the
	// project's default group.
	groups := s.sgGroups(p.ProjectID)
	return model.PreparePortSecurityGroups(p, nil, p.SecurityGroups != nil, groups)
}

// portsWith returns the ports of network as they will be once pending are
// stored (a pending port replaces the stored one with its ID), without the
// port skip.
func (s *Server) portsWith(network, skip string, pending []model.Port) []model.Port {
	all := decodeAll[model.Port](s, model.KindPort)
	all = slices.DeleteFunc(all, func(p model.Port) bool {
		return slices.ContainsFunc(pending, func(q model.Port) bool { return q.ID == p.ID })
	})
	all = append(all, pending...)
	return without(portsOf(all, network), portID, skip)
}

// putPort stores p without its derived status, after the default group
// of its project if it uses that group and the group is not stored yet.
// The caller holds s.mu.
func (s *Server) putPort(p model.Port) error {
	if err := s.ensurePortDefault(p); err != nil {
		return err
	}
	p.Status, p.StatusReason = "", ""
	_, err := s.st.Put(model.KindPort, p.ID, p)
	return err
}

func (s *Server) updatePort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "port", portAttrs, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var old, p model.Port
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		var ok bool
		old, ok = decodeOne[model.Port](s, model.KindPort, id)
		if !ok {
			return portNotFound(id)
		}
		if err := decodeOnto(in, old, &p); err != nil {
			return err
		}
		_, sgGiven := in["security_groups"]
		if err := s.checkChangedPort(old, &p, sgGiven); err != nil {
			return err
		}
		return s.putPort(p)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, old.HostID, p.HostID)
	writeJSON(w, 200, map[string]any{"port": s.viewPorts(id)[0]})
}

// changedPort checks p, the new state of port old, against its network and
// the ports there, pending ones included, and gives it a new revision. It
// writes nothing. The caller holds s.mu. Its callers change ports
// themselves (routers, gateways), and whether they changed
// security_groups stands for whether a request named them.
func (s *Server) changedPort(old model.Port, p *model.Port, pending ...model.Port) error {
	return s.checkChangedPort(old, p, !slices.Equal(old.SecurityGroups, p.SecurityGroups), pending...)
}

// checkChangedPort is changedPort for a request that named
// security_groups or not (sgGiven).
func (s *Server) checkChangedPort(old model.Port, p *model.Port, sgGiven bool, pending ...model.Port) error {
	defaultHost(p, s.b.Node())
	n, ok := decodeOne[model.Network](s, model.KindNetwork, p.NetworkID)
	if !ok {
		return networkNotFound(p.NetworkID)
	}
	if err := s.checkHost(*p, n); err != nil {
		return err
	}
	p.RevisionNumber = old.RevisionNumber + 1
	p.UpdatedAt = model.Now()
	subs := subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), p.NetworkID)
	if err := model.PreparePort(p, subs, s.portsWith(p.NetworkID, old.ID, pending)); err != nil {
		return err
	}
	groups := s.sgGroups(p.ProjectID)
	return model.PreparePortSecurityGroups(p, &old, sgGiven, groups)
}

func (s *Server) deletePort(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var p model.Port
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		var ok bool
		if p, ok = decodeOne[model.Port](s, model.KindPort, id); !ok {
			return portNotFound(id)
		}
		// A router's ports go with the router's own requests
		// (remove_router_interface, clearing the gateway), which keep the
		// router consistent, as in Neutron. Once the router is gone (deleted
		// on another node meanwhile, say) its leftovers may go.
		// The same for a floating IP's port: it goes with the floating IP.
		if _, ok := s.st.Get(model.KindRouter, p.DeviceID); (ok && model.IsRouterPort(p.DeviceOwner)) || s.heldByFloatingIP(p) {
			return conflict("L3PortInUse", "Port %s has owner %s and therefore cannot be deleted directly via the port API.", id, p.DeviceOwner)
		}
		// Floating IPs associated with the port are disassociated first, as
		// Neutron does on port delete (api/floatingips.go).
		undo, err := s.disassociatePort(p)
		if err != nil {
			return err
		}
		if _, err := s.st.Delete(model.KindPort, id); err != nil {
			undo()
			return err
		}
		return nil
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, p.HostID)
	w.WriteHeader(http.StatusNoContent)
}
