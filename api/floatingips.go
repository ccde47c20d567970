package api

import (
	"encoding/json"
	"net/http"

	"github.com/bnet-dev/bnet/model"
)

// Floating IPs (/v2.0/floatingips) are part of Neutron's "router"
// extension. The address is held by a port on the external network
// (device_owner network:floatingip, device_id the floating IP's id),
// created through the same checks as any port, so IPAM never hands it out
// twice; the association (port, fixed IP, router) is checked by
// model.AssociateFloatingIP. The agent of the associated port's node
// serves the floating IP (agent/fip.go).

// floatingIPAttrs: subnet_id is a create-only hint for the address's
// subnet, not stored; floating_ip_address and floating_network_id cannot
// change once the address is held.
var floatingIPAttrs = attrs{
	post: []string{"floating_network_id", "floating_ip_address", "subnet_id", "port_id", "fixed_ip_address",
		"description", "tags", "project_id", "tenant_id"},
	put:     []string{"port_id", "fixed_ip_address", "description", "tags"},
	ignored: []string{"dns_name", "dns_domain", "qos_policy_id"},
}

func floatingIPNotFound(id string) error { return model.FloatingIPNotFound(id) }

// viewFloatingIPs returns the floating IPs (all, or only the one with id)
// with their derived status.
func (s *Server) viewFloatingIPs(only string) []model.FloatingIP {
	fips := decodeAll[model.FloatingIP](s, model.KindFloatingIP)
	out := make([]model.FloatingIP, 0, len(fips))
	for _, f := range fips {
		if only != "" && f.ID != only {
			continue
		}
		f.Status = model.FloatingIPStatus(f)
		if f.Tags == nil {
			f.Tags = []string{}
		}
		out = append(out, f)
	}
	return out
}

// putFloatingIP stores f without its derived status.
func (s *Server) putFloatingIP(f model.FloatingIP) error {
	f.Status = ""
	_, err := s.st.Put(model.KindFloatingIP, f.ID, f)
	return err
}

func noFixedWithoutPort() error {
	return &model.Error{Code: 400, Type: "BadRequest", Msg: "Bad floatingip request: fixed_ip_address cannot be specified without a port_id"}
}

// associate checks that f may be associated with port id on its fixed IP
// fixed ("" for its first IPv4 address) and returns the association and
// the port. It writes nothing. The caller holds s.mu.
func (s *Server) associate(f model.FloatingIP, id, fixed string) (model.Association, model.Port, error) {
	p, ok := decodeOne[model.Port](s, model.KindPort, id)
	if !ok {
		return model.Association{}, p, portNotFound(id)
	}
	a, err := model.AssociateFloatingIP(f, p, fixed, decodeAll[model.Port](s, model.KindPort),
		decodeAll[model.Router](s, model.KindRouter), decodeAll[model.FloatingIP](s, model.KindFloatingIP))
	return a, p, err
}

// hostOf is the host of port id ("" if it is gone or id is nil).
func (s *Server) hostOf(id *string) string {
	if id == nil {
		return ""
	}
	p, _ := decodeOne[model.Port](s, model.KindPort, *id)
	return p.HostID
}

// createFloatingIP takes an address on the external network through a
// network:floatingip port, then stores the floating IP, associated in the
// same request when port_id is given. Everything is checked before the
// first write; a failed write undoes the port.
func (s *Server) createFloatingIP(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "floatingip", floatingIPAttrs, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var subnet string
	if raw, ok := in["subnet_id"]; ok {
		var sp *string
		if err := json.Unmarshal(raw, &sp); err != nil {
			s.fail(w, r, badRequest("Invalid input for subnet_id. Reason: expected a string."))
			return
		}
		if sp != nil {
			subnet = *sp
		}
	}
	var f model.FloatingIP
	if err := decodeOnto(in, nil, &f); err != nil {
		s.fail(w, r, err)
		return
	}
	if f.FloatingNetworkID == "" {
		s.fail(w, r, badRequest("Failed to parse request. Required attribute 'floating_network_id' not specified"))
		return
	}
	if f.FixedIPAddress != nil && f.PortID == nil {
		s.fail(w, r, noFixedWithoutPort())
		return
	}
	f.ID = model.NewID()
	fillProject(&f.ProjectID, &f.TenantID)
	f.CreatedAt = model.Now()
	f.UpdatedAt = f.CreatedAt
	f.RevisionNumber = 1
	if err := model.PrepareFloatingIP(&f); err != nil {
		s.fail(w, r, err)
		return
	}
	var host string
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		n, ok := decodeOne[model.Network](s, model.KindNetwork, f.FloatingNetworkID)
		if !ok {
			return networkNotFound(f.FloatingNetworkID)
		}
		if err := model.CheckFloatingNetwork(n, subnetsOf(decodeAll[model.Subnet](s, model.KindSubnet), n.ID)); err != nil {
			return err
		}
		port := model.FloatingIPPort(f, f.FloatingIPAddress, subnet)
		if err := s.newPort(&port); err != nil {
			return err
		}
		if len(port.FixedIPs) == 0 {
			return badRequest("no address allocated for the floating IP on network %s", n.ID)
		}
		f.FloatingIPAddress = port.FixedIPs[0].IPAddress
		if f.PortID != nil {
			fixed := ""
			if f.FixedIPAddress != nil {
				fixed = *f.FixedIPAddress
			}
			a, p, err := s.associate(f, *f.PortID, fixed)
			if err != nil {
				return err
			}
			f.Associate(&a)
			host = p.HostID
		}
		return s.applyThen(portPlan{create: []model.Port{port}}, func() error { return s.putFloatingIP(f) })
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, host, s.b.Node())
	writeJSON(w, http.StatusCreated, map[string]any{"floatingip": s.viewFloatingIPs(f.ID)[0]})
}

// updateFloatingIP associates (port_id, fixed_ip_address), moves to
// another port, or disassociates (port_id null); description and tags
// change without touching the association.
func (s *Server) updateFloatingIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "floatingip", floatingIPAttrs, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, portGiven := in["port_id"]
	_, fixedGiven := in["fixed_ip_address"]
	var hosts []string
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		old, ok := decodeOne[model.FloatingIP](s, model.KindFloatingIP, id)
		if !ok {
			return floatingIPNotFound(id)
		}
		var f model.FloatingIP
		if err := decodeOnto(in, old, &f); err != nil {
			return err
		}
		if portGiven || fixedGiven {
			switch {
			case f.PortID == nil && fixedGiven && f.FixedIPAddress != nil:
				return noFixedWithoutPort()
			case f.PortID == nil:
				f.Associate(nil)
			default:
				fixed := ""
				if fixedGiven && f.FixedIPAddress != nil {
					fixed = *f.FixedIPAddress
				}
				a, p, err := s.associate(f, *f.PortID, fixed)
				if err != nil {
					return err
				}
				f.Associate(&a)
				hosts = append(hosts, p.HostID)
			}
		}
		f.RevisionNumber = old.RevisionNumber + 1
		f.UpdatedAt = model.Now()
		if err := model.PrepareFloatingIP(&f); err != nil {
			return err
		}
		hosts = append(hosts, s.hostOf(old.PortID))
		return s.putFloatingIP(f)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, append(hosts, s.b.Node())...)
	writeJSON(w, 200, map[string]any{"floatingip": s.viewFloatingIPs(id)[0]})
}

// deleteFloatingIP deletes the floating IP and the port holding its
// address.
func (s *Server) deleteFloatingIP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var host string
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		f, ok := decodeOne[model.FloatingIP](s, model.KindFloatingIP, id)
		if !ok {
			return floatingIPNotFound(id)
		}
		host = s.hostOf(f.PortID)
		return s.applyThen(portPlan{remove: floatingIPPorts(decodeAll[model.Port](s, model.KindPort), id)}, func() error {
			_, err := s.st.Delete(model.KindFloatingIP, id)
			return err
		})
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, host, s.b.Node())
	w.WriteHeader(http.StatusNoContent)
}

// floatingIPPorts returns the ports holding floating IP fip's address.
func floatingIPPorts(all []model.Port, fip string) []model.Port {
	var out []model.Port
	for _, p := range all {
		if p.DeviceOwner == model.OwnerFloatingIP && p.DeviceID == fip {
			out = append(out, p)
		}
	}
	return out
}

// heldByFloatingIP reports whether p holds the address of a floating IP
// that exists: such a port goes with the floating IP (L3PortInUse
// otherwise), as in Neutron. The caller holds s.mu.
func (s *Server) heldByFloatingIP(p model.Port) bool {
	if p.DeviceOwner != model.OwnerFloatingIP {
		return false
	}
	_, ok := s.st.Get(model.KindFloatingIP, p.DeviceID)
	return ok
}

// disassociatePort clears the association of every floating IP on port
// p, which is about to be deleted, as Neutron does on port delete; undo
// restores them, for a caller whose delete then fails. The caller holds
// s.mu.
func (s *Server) disassociatePort(p model.Port) (undo func(), err error) {
	var done []model.FloatingIP
	undo = func() {
		for _, f := range done {
			if err := s.putFloatingIP(f); err != nil {
				s.log.Error("restoring a floating IP association failed", "floatingip", f.ID, "err", err)
			}
		}
	}
	for _, f := range decodeAll[model.FloatingIP](s, model.KindFloatingIP) {
		if f.PortID == nil || *f.PortID != p.ID {
			continue
		}
		old := f
		f.Associate(nil)
		f.RevisionNumber++
		f.UpdatedAt = model.Now()
		if err := s.putFloatingIP(f); err != nil {
			undo()
			return nil, err
		}
		done = append(done, old)
	}
	return undo, nil
}

// floatingIPs are the stored floating IPs, for the router checks. The
// caller holds s.mu.
func (s *Server) floatingIPs() []model.FloatingIP {
	return decodeAll[model.FloatingIP](s, model.KindFloatingIP)
}
