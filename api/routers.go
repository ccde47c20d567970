package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/bnet-dev/bnet/model"
)

func routerNotFound(id string) error {
	return notFound("RouterNotFound", "Router %s could not be found.", id)
}

// badRouterRequest is Neutron's BadRequest for the router resource.
func badRouterRequest(format string, a ...any) error {
	return &model.Error{Code: 400, Type: "BadRequest", Msg: "Bad router request: " + fmt.Sprintf(format, a...)}
}

func (s *Server) createRouter(w http.ResponseWriter, r *http.Request) {
	in, err := readBody(r, "router", routerAttrs, false)
	if err == nil {
		err = readGateway(in)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rt model.Router
	if err := decodeOnto(in, model.Router{AdminStateUp: true}, &rt); err != nil {
		s.fail(w, r, err)
		return
	}
	rt.ID = model.NewID()
	fillProject(&rt.ProjectID, &rt.TenantID)
	rt.CreatedAt = model.Now()
	rt.UpdatedAt = rt.CreatedAt
	rt.RevisionNumber = 1
	if err := model.PrepareRouter(&rt); err != nil {
		s.fail(w, r, err)
		return
	}
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		pl, err := s.planGateway(&rt)
		if err != nil {
			return err
		}
		return s.putRouterWith(rt, pl)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"router": s.viewRouters(rt.ID)[0]})
}

// putRouter stores rt without its derived attributes.
func (s *Server) putRouter(rt model.Router) error {
	rt.Status, rt.StatusReason = "", ""
	_, err := s.st.Put(model.KindRouter, rt.ID, rt)
	return err
}

// putRouterWith makes the port writes of pl, then stores rt; if that
// fails, the port writes are undone. The caller holds s.mu.
func (s *Server) putRouterWith(rt model.Router, pl portPlan) error {
	return s.applyThen(pl, func() error { return s.putRouter(rt) })
}

// updateRouter also sets, changes or clears the gateway when the body has
// external_gateway_info (null or {} clears it).
func (s *Server) updateRouter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	in, err := readBody(r, "router", routerAttrs, true)
	if err == nil {
		err = readGateway(in)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, gateway := in["external_gateway_info"]
	err = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		old, ok := decodeOne[model.Router](s, model.KindRouter, id)
		if !ok {
			return routerNotFound(id)
		}
		var rt model.Router
		if err := decodeOnto(in, old, &rt); err != nil {
			return err
		}
		if err := model.CheckRouterUpdate(old, rt); err != nil {
			return err
		}
		rt.RevisionNumber = old.RevisionNumber + 1
		rt.UpdatedAt = model.Now()
		if err := model.PrepareRouter(&rt); err != nil {
			return err
		}
		var pl portPlan
		if gateway {
			// Floating IPs associated through the router keep its gateway
			// on their network (api/floatingips.go).
			net := ""
			if rt.ExternalGateway != nil {
				net = rt.ExternalGateway.NetworkID
			}
			if err := model.CheckGatewayFloatingIPs(rt.ID, net, s.floatingIPs()); err != nil {
				return err
			}
			if pl, err = s.planGateway(&rt); err != nil {
				return err
			}
		}
		return s.putRouterWith(rt, pl)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// admin_state_up turns the router's interfaces on or off, everywhere.
	s.reconcile(r, s.b.Node())
	writeJSON(w, 200, map[string]any{"router": s.viewRouters(id)[0]})
}

// interfacesOf returns the router interface ports of router.
func interfacesOf(all []model.Port, router string) []model.Port {
	var out []model.Port
	for _, p := range all {
		if p.DeviceID == router && model.IsRouterInterface(p.DeviceOwner) {
			out = append(out, p)
		}
	}
	return out
}

// deleteRouter refuses while interfaces remain, as Neutron does: they are
// removed with remove_router_interface first. The gateway port (and any
// SNAT port left) goes with the router.
func (s *Server) deleteRouter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.st.Get(model.KindRouter, id); !ok {
			return routerNotFound(id)
		}
		// Floating IPs associated through the router keep it.
		if err := model.CheckRouterFloatingIPs(id, s.floatingIPs()); err != nil {
			return err
		}
		all := decodeAll[model.Port](s, model.KindPort)
		if len(interfacesOf(all, id)) > 0 {
			return conflict("RouterInUse", "Router %s still has ports", id)
		}
		pl := portPlan{remove: append(routerOwned(all, id, model.OwnerRouterGateway), routerOwned(all, id, model.OwnerRouterSNAT)...)}
		return s.applyThen(pl, func() error {
			_, err := s.st.Delete(model.KindRouter, id)
			return err
		})
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// interfaceRequest is the body of add/remove_router_interface: not wrapped
// in a resource key, and naming a subnet or a port.
type interfaceRequest struct {
	SubnetID string `json:"subnet_id"`
	PortID   string `json:"port_id"`
}

func readInterface(r *http.Request) (interfaceRequest, error) {
	var in interfaceRequest
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(b, &in)
	}
	if err != nil {
		return in, badRequest("Malformed request body: expected {\"subnet_id\": ...} or {\"port_id\": ...}")
	}
	switch {
	case in.SubnetID == "" && in.PortID == "":
		return in, badRouterRequest("Either subnet_id or port_id must be specified")
	case in.SubnetID != "" && in.PortID != "":
		return in, badRouterRequest("Cannot specify both subnet_id and port_id")
	}
	return in, nil
}

// interfaceInfo is Neutron's answer to add/remove_router_interface.
func interfaceInfo(router string, p model.Port) map[string]any {
	sub := ""
	if len(p.FixedIPs) > 0 {
		sub = p.FixedIPs[0].SubnetID
	}
	return map[string]any{
		"id": router, "tenant_id": p.TenantID, "project_id": p.ProjectID,
		"port_id": p.ID, "subnet_id": sub, "subnet_ids": []string{sub}, "network_id": p.NetworkID,
	}
}

// addRouterInterface attaches a subnet (through a new port on its gateway
// IP) or an existing unused port to the router, with a SNAT port on the
// subnet when the router has a gateway with SNAT.
func (s *Server) addRouterInterface(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := readInterface(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := func() (model.Port, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		rt, ok := decodeOne[model.Router](s, model.KindRouter, id)
		if !ok {
			return model.Port{}, routerNotFound(id)
		}
		if req.SubnetID != "" {
			return s.interfaceOnSubnet(rt, req.SubnetID)
		}
		return s.interfaceFromPort(rt, req.PortID)
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The interface is on every node; this one programs it now, the
	// others when the port reaches them.
	s.reconcile(r, s.b.Node())
	writeJSON(w, 200, interfaceInfo(id, p))
}

// interfaceOnSubnet creates rt's port on the gateway IP of subnet, as
// createPort would, and its SNAT port there if rt has a gateway with SNAT.
// The caller holds s.mu.
func (s *Server) interfaceOnSubnet(rt model.Router, subnet string) (model.Port, error) {
	sub, ok := decodeOne[model.Subnet](s, model.KindSubnet, subnet)
	if !ok {
		return model.Port{}, subnetNotFound(subnet)
	}
	all := decodeAll[model.Port](s, model.KindPort)
	if err := model.CheckRouterInterface(rt.ID, sub, all, decodeAll[model.Subnet](s, model.KindSubnet)); err != nil {
		return model.Port{}, err
	}
	p := model.Port{
		NetworkID:    sub.NetworkID,
		ProjectID:    rt.ProjectID,
		FixedIPs:     []model.FixedIP{{SubnetID: sub.ID, IPAddress: *sub.GatewayIP}},
		AdminStateUp: true,
		DeviceID:     rt.ID,
		DeviceOwner:  model.InterfaceOwner(rt),
	}
	if err := s.newPort(&p); err != nil {
		return p, err
	}
	pl := portPlan{create: []model.Port{p}}
	if err := s.addSNAT(rt, []model.Port{p}, all, []model.Port{p}, &pl); err != nil {
		return p, err
	}
	_, err := s.apply(pl)
	return p, err
}

// interfaceFromPort makes the unused port id rt's interface, keeping its
// address, as Neutron does, and adds its SNAT port as interfaceOnSubnet
// does. The caller holds s.mu.
func (s *Server) interfaceFromPort(rt model.Router, id string) (model.Port, error) {
	old, ok := decodeOne[model.Port](s, model.KindPort, id)
	if !ok {
		return model.Port{}, portNotFound(id)
	}
	if by := attachedTo(old); by != "" {
		return model.Port{}, conflict("PortInUse", "Unable to complete operation on port %s for network %s. Port already has an attached device %s.", id, old.NetworkID, by)
	}
	if len(old.FixedIPs) != 1 {
		return model.Port{}, badRouterRequest("Port %s has %d fixed IPs: a router interface needs exactly one", id, len(old.FixedIPs))
	}
	sub, ok := decodeOne[model.Subnet](s, model.KindSubnet, old.FixedIPs[0].SubnetID)
	if !ok {
		return model.Port{}, subnetNotFound(old.FixedIPs[0].SubnetID)
	}
	all := decodeAll[model.Port](s, model.KindPort)
	if err := model.CheckRouterInterface(rt.ID, sub, all, decodeAll[model.Subnet](s, model.KindSubnet)); err != nil {
		return model.Port{}, err
	}
	p := old
	p.DeviceOwner, p.DeviceID, p.HostID = model.InterfaceOwner(rt), rt.ID, ""
	if err := s.changedPort(old, &p); err != nil {
		return p, err
	}
	pl := portPlan{replace: []portChange{{old, p}}}
	if err := s.addSNAT(rt, []model.Port{p}, all, []model.Port{p}, &pl); err != nil {
		return p, err
	}
	_, err := s.apply(pl)
	return p, err
}

// attachedTo names what uses a port already ("" if nothing): a device
// (Nova's VM, a router) or a namespace or interface it is plugged into.
func attachedTo(p model.Port) string {
	switch {
	case p.DeviceID != "":
		return p.DeviceID
	case p.DeviceOwner != "":
		return p.DeviceOwner
	case p.Plugged():
		return describePlug(p.Profile)
	}
	return ""
}

func describePlug(prof map[string]string) string {
	if ns := prof[model.ProfileNetns]; ns != "" {
		return "netns " + ns
	}
	return "device " + prof[model.ProfileDevice]
}

// removeRouterInterface deletes the router's interface port on a subnet, or
// the one named, as Neutron does for both, and its SNAT port there.
func (s *Server) removeRouterInterface(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req, err := readInterface(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := func() (model.Port, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.st.Get(model.KindRouter, id); !ok {
			return model.Port{}, routerNotFound(id)
		}
		p, err := s.findInterface(id, req)
		if err != nil {
			return p, err
		}
		all := decodeAll[model.Port](s, model.KindPort)
		// Floating IPs associated through the interface keep it.
		if err := model.CheckInterfaceFloatingIPs(id, p, all, s.floatingIPs()); err != nil {
			return p, err
		}
		// Its SNAT port goes first, as in Neutron.
		var pl portPlan
		dropSNAT(id, p, all, &pl)
		pl.remove = append(pl.remove, p)
		_, err = s.apply(pl)
		return p, err
	}()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reconcile(r, s.b.Node())
	writeJSON(w, 200, interfaceInfo(id, p))
}

// findInterface returns router's interface port that req names. The caller
// holds s.mu.
func (s *Server) findInterface(router string, req interfaceRequest) (model.Port, error) {
	ifaces := interfacesOf(decodeAll[model.Port](s, model.KindPort), router)
	if req.PortID != "" {
		for _, p := range ifaces {
			if p.ID == req.PortID {
				return p, nil
			}
		}
		return model.Port{}, notFound("RouterInterfaceNotFound", "Router %s does not have an interface with id %s", router, req.PortID)
	}
	if _, ok := s.st.Get(model.KindSubnet, req.SubnetID); !ok {
		return model.Port{}, subnetNotFound(req.SubnetID)
	}
	for _, p := range ifaces {
		for _, f := range p.FixedIPs {
			if f.SubnetID == req.SubnetID {
				return p, nil
			}
		}
	}
	return model.Port{}, notFound("RouterInterfaceNotFoundForSubnet", "Router %s has no interface on subnet %s", router, req.SubnetID)
}
