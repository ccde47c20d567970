package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/bnet-dev/bnet/model"
)

// A router's external gateway (seed 002 §3.2.1) is two kinds of ports,
// both created and deleted by the router's own requests: the gateway port
// (qg-) on the external network, and one SNAT port (sg-) on every subnet
// the router routes, the next hop of traffic leaving without a floating
// IP. Both are network-owned and bound to no host: the agents decide which
// network node holds the router's SNAT.

// gatewayKeys are the keys of external_gateway_info bnet takes.
var gatewayKeys = []string{"network_id", "enable_snat", "external_fixed_ips"}

// readGateway puts external_gateway_info of a router body (if there) in
// the shape model.ExternalGateway decodes: {} and null clear the gateway,
// enable_snat defaults to true, as Neutron's enable_snat_by_default, and
// takes the string forms clients send.
func readGateway(in map[string]json.RawMessage) error {
	raw, ok := in["external_gateway_info"]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	bad := func(why string) error {
		return &model.Error{Code: 400, Type: "InvalidInput", Msg: "Invalid input for external_gateway_info. Reason: " + why}
	}
	var g map[string]json.RawMessage
	if err := json.Unmarshal(raw, &g); err != nil || g == nil {
		return bad("it must be an object or null.")
	}
	if len(g) == 0 {
		in["external_gateway_info"] = json.RawMessage("null")
		return nil
	}
	var unknown []string
	for k := range g {
		if !slices.Contains(gatewayKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return bad("unrecognized key(s) '" + strings.Join(unknown, ", ") + "' (bnet takes network_id, enable_snat, external_fixed_ips).")
	}
	var net string
	if err := json.Unmarshal(g["network_id"], &net); err != nil || net == "" {
		return bad("network_id is required: the external network of the gateway.")
	}
	snat := true
	if v, ok := g["enable_snat"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			b, err := strconv.ParseBool(strings.ToLower(s))
			if err != nil {
				return bad("'" + s + "' is not a boolean (enable_snat).")
			}
			snat = b
		} else if err := json.Unmarshal(v, &snat); err != nil {
			return bad("enable_snat must be a boolean.")
		}
	}
	g["enable_snat"] = json.RawMessage(strconv.FormatBool(snat))
	b, err := json.Marshal(g)
	if err != nil {
		return bad(err.Error())
	}
	in["external_gateway_info"] = b
	return nil
}

// portPlan is a set of port writes checked in full before the first one is
// made, so that a refusal changes nothing.
type portPlan struct {
	remove  []model.Port
	replace []portChange
	create  []model.Port
}

type portChange struct{ old, new model.Port }

// apply makes the writes of pl. If the store fails half way it undoes what
// it made and returns the error; otherwise it returns the function that
// undoes them all, for a caller whose next write fails. The caller holds
// s.mu.
// applyThen applies pl, then runs write (the write of the object the ports
// belong to); if write fails, the port writes are undone, so the store
// never holds a half-made router or floating IP. The caller holds s.mu.
func (s *Server) applyThen(pl portPlan, write func() error) error {
	undo, err := s.apply(pl)
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		undo()
		return err
	}
	return nil
}

func (s *Server) apply(pl portPlan) (undo func(), err error) {
	var steps []func() error
	undo = func() {
		for i := len(steps) - 1; i >= 0; i-- {
			if err := steps[i](); err != nil {
				s.log.Error("undoing a partial router change failed", "err", err)
			}
		}
	}
	for _, p := range pl.remove {
		if _, err := s.st.Delete(model.KindPort, p.ID); err != nil {
			undo()
			return nil, err
		}
		steps = append(steps, func() error { return s.putPort(p) })
	}
	for _, c := range pl.replace {
		if err := s.putPort(c.new); err != nil {
			undo()
			return nil, err
		}
		steps = append(steps, func() error { return s.putPort(c.old) })
	}
	for _, p := range pl.create {
		if err := s.putPort(p); err != nil {
			undo()
			return nil, err
		}
		steps = append(steps, func() error {
			_, err := s.st.Delete(model.KindPort, p.ID)
			return err
		})
	}
	return undo, nil
}

// routerOwned returns router's ports whose device_owner is owner.
func routerOwned(all []model.Port, router, owner string) []model.Port {
	var out []model.Port
	for _, p := range all {
		if p.DeviceID == router && p.DeviceOwner == owner {
			out = append(out, p)
		}
	}
	return out
}

// planGateway plans the port writes that give rt, as about to be stored,
// its gateway: the gateway port on the external network (kept, re-addressed
// or replaced) and the SNAT ports, or none of them when rt has no gateway.
// It fills rt's external_fixed_ips from the gateway port. The caller holds
// s.mu.
func (s *Server) planGateway(rt *model.Router) (portPlan, error) {
	all := decodeAll[model.Port](s, model.KindPort)
	var pl portPlan
	gws := routerOwned(all, rt.ID, model.OwnerRouterGateway)
	g := rt.ExternalGateway
	if g == nil {
		pl.remove = append(gws, routerOwned(all, rt.ID, model.OwnerRouterSNAT)...)
		return pl, nil
	}
	n, ok := decodeOne[model.Network](s, model.KindNetwork, g.NetworkID)
	if !ok {
		return pl, networkNotFound(g.NetworkID)
	}
	subs := decodeAll[model.Subnet](s, model.KindSubnet)
	if err := model.CheckGatewayNetwork(rt.ID, n, subnetsOf(slices.Clone(subs), n.ID), all, subs); err != nil {
		return pl, err
	}
	gw, err := s.planGatewayPort(*rt, gws, &pl)
	if err != nil {
		return pl, err
	}
	g.ExternalFixedIPs = slices.Clone(gw.FixedIPs)
	return pl, s.planSNAT(*rt, interfacesOf(all, rt.ID), all, &pl)
}

// planGatewayPort plans rt's gateway port on its external network: the
// current one there is kept (re-addressed if other addresses are asked
// for), any other goes, and if none is left a new one is made. It returns
// the gateway port as it will be.
func (s *Server) planGatewayPort(rt model.Router, gws []model.Port, pl *portPlan) (model.Port, error) {
	g := rt.ExternalGateway
	want := g.ExternalFixedIPs
	var keep *model.Port
	for i, p := range gws {
		if keep == nil && p.NetworkID == g.NetworkID {
			keep = &gws[i]
			continue
		}
		pl.remove = append(pl.remove, p)
	}
	if keep != nil {
		if len(want) == 0 {
			return *keep, nil
		}
		ips := keepAddresses(want, keep.FixedIPs)
		if sameAddresses(ips, keep.FixedIPs) {
			return *keep, nil
		}
		p := *keep
		p.FixedIPs = ips
		if err := s.changedPort(*keep, &p); err != nil {
			return p, gatewayError(err, g.NetworkID)
		}
		pl.replace = append(pl.replace, portChange{*keep, p})
		return p, nil
	}
	p := model.Port{
		NetworkID:    g.NetworkID,
		ProjectID:    rt.ProjectID,
		AdminStateUp: true,
		DeviceID:     rt.ID,
		DeviceOwner:  model.OwnerRouterGateway,
	}
	if len(want) > 0 {
		p.FixedIPs = slices.Clone(want)
	}
	if err := s.newPort(&p); err != nil {
		return p, gatewayError(err, g.NetworkID)
	}
	pl.create = append(pl.create, p)
	return p, nil
}

// keepAddresses fills the entries of want that name only a subnet with the
// address cur has there already, so that asking again for what the port
// has changes nothing.
func keepAddresses(want, cur []model.FixedIP) []model.FixedIP {
	out := slices.Clone(want)
	for i, f := range out {
		if f.IPAddress != "" {
			continue
		}
		for _, c := range cur {
			if c.SubnetID == f.SubnetID && !slices.ContainsFunc(out, func(o model.FixedIP) bool { return o.IPAddress == c.IPAddress }) {
				out[i].IPAddress = c.IPAddress
				break
			}
		}
	}
	return out
}

// sameAddresses reports whether a and b hold the same addresses, in any
// order (entries of a without a subnet match on the address alone).
func sameAddresses(a, b []model.FixedIP) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if f.IPAddress == "" || !slices.ContainsFunc(b, func(o model.FixedIP) bool {
			return o.IPAddress == f.IPAddress && (f.SubnetID == "" || f.SubnetID == o.SubnetID)
		}) {
			return false
		}
	}
	return true
}

// gatewayError words an address exhaustion of the external network as
// Neutron does for a gateway.
func gatewayError(err error, network string) error {
	var me *model.Error
	if errors.As(err, &me) && me.Type == "IpAddressGenerationFailure" {
		return &model.Error{Code: 400, Type: "ExternalIpAddressExhausted", Msg: "Unable to find any IP address on external network " + network + "."}
	}
	return err
}

// planSNAT plans rt's SNAT ports given its interfaces as they will be: one
// on the subnet of each interface when rt has a gateway with SNAT, none
// otherwise. all are the stored ports. The caller holds s.mu.
func (s *Server) planSNAT(rt model.Router, ifaces, all []model.Port, pl *portPlan) error {
	want := map[string]bool{}
	// Only a distributed router has SNAT ports: a legacy one NATs in its
	// own namespace, on its qr- interfaces.
	if g := rt.ExternalGateway; g != nil && g.EnableSNAT && rt.Distributed {
		for _, p := range ifaces {
			for _, f := range p.FixedIPs {
				want[f.SubnetID] = true
			}
		}
	}
	kept := map[string]bool{}
	for _, p := range routerOwned(all, rt.ID, model.OwnerRouterSNAT) {
		if sub := snatSubnet(p); want[sub] && !kept[sub] {
			kept[sub] = true
			continue
		}
		pl.remove = append(pl.remove, p)
	}
	return s.addSNAT(rt, ifaces, all, nil, pl)
}

// snatSubnet is the subnet a SNAT port serves.
func snatSubnet(p model.Port) string {
	if len(p.FixedIPs) == 0 {
		return ""
	}
	return p.FixedIPs[0].SubnetID
}

// addSNAT plans a SNAT port on the subnet of each of ifaces that has none,
// if rt has a gateway with SNAT. all are the stored ports, pending the
// planned ones not stored yet. The caller holds s.mu.
func (s *Server) addSNAT(rt model.Router, ifaces, all, pending []model.Port, pl *portPlan) error {
	if g := rt.ExternalGateway; g == nil || !g.EnableSNAT || !rt.Distributed {
		return nil
	}
	have := map[string]bool{}
	for _, p := range routerOwned(all, rt.ID, model.OwnerRouterSNAT) {
		have[snatSubnet(p)] = true
	}
	for _, p := range pl.remove {
		if p.DeviceOwner == model.OwnerRouterSNAT {
			delete(have, snatSubnet(p))
		}
	}
	for _, iface := range ifaces {
		for _, f := range iface.FixedIPs {
			if have[f.SubnetID] {
				continue
			}
			have[f.SubnetID] = true
			p := model.Port{
				NetworkID:    iface.NetworkID,
				ProjectID:    rt.ProjectID,
				FixedIPs:     []model.FixedIP{{SubnetID: f.SubnetID}},
				AdminStateUp: true,
				DeviceID:     rt.ID,
				DeviceOwner:  model.OwnerRouterSNAT,
			}
			if err := s.newPort(&p, append(slices.Clone(pending), pl.create...)...); err != nil {
				return err
			}
			pl.create = append(pl.create, p)
		}
	}
	return nil
}

// dropSNAT plans removing rt's SNAT ports on the subnets of iface, an
// interface about to go.
func dropSNAT(rt string, iface model.Port, all []model.Port, pl *portPlan) {
	for _, p := range routerOwned(all, rt, model.OwnerRouterSNAT) {
		if slices.ContainsFunc(iface.FixedIPs, func(f model.FixedIP) bool { return f.SubnetID == snatSubnet(p) }) {
			pl.remove = append(pl.remove, p)
		}
	}
}
