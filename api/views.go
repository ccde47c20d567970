package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// reconcileTimeout bounds how long a request waits for the local datapath.
const reconcileTimeout = 30 * time.Second

// decodeAll returns every live object of kind. A record that does not decode
// (written by a newer peer, say) is skipped and logged rather than failing
// every list.
func decodeAll[T any](s *Server, kind string) []T {
	recs := s.st.List(kind)
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		v, err := store.Decode[T](r)
		if err != nil {
			s.log.Warn("skipping undecodable record", "kind", kind, "id", r.ID, "err", err)
			continue
		}
		out = append(out, v)
	}
	return out
}

func decodeOne[T any](s *Server, kind, id string) (T, bool) {
	var zero T
	r, ok := s.st.Get(kind, id)
	if !ok {
		return zero, false
	}
	v, err := store.Decode[T](r)
	if err != nil {
		s.log.Warn("undecodable record", "kind", kind, "id", id, "err", err)
		return zero, false
	}
	return v, true
}

func without[T any](xs []T, id func(T) string, skip string) []T {
	return slices.DeleteFunc(xs, func(x T) bool { return id(x) == skip })
}

func netID(n model.Network) string { return n.ID }
func subID(s model.Subnet) string  { return s.ID }
func portID(p model.Port) string   { return p.ID }

// status overlays what the store cannot know: conflict losers first (ERROR
// with the reason), then what the datapath reports, then def.
func (s *Server) status(kind, id string, losers map[string]string, def string) (string, string) {
	if why, ok := losers[id]; ok {
		return model.StatusError, why
	}
	if st, why := s.b.Status(kind, id); st != "" {
		return st, why
	}
	return def, ""
}

// viewNetworks returns the networks (all, or only the one with id) with
// their derived attributes filled.
func (s *Server) viewNetworks(only string) []model.Network {
	nets := decodeAll[model.Network](s, model.KindNetwork)
	subs := decodeAll[model.Subnet](s, model.KindSubnet)
	losers := model.Resolve(nets, nil, nil)
	bynet := make(map[string][]string)
	for _, sub := range subs {
		bynet[sub.NetworkID] = append(bynet[sub.NetworkID], sub.ID)
	}
	out := make([]model.Network, 0, len(nets))
	for _, n := range nets {
		if only != "" && n.ID != only {
			continue
		}
		n.Subnets = bynet[n.ID]
		if n.Subnets == nil {
			n.Subnets = []string{}
		}
		n.Status, n.StatusReason = s.status(model.KindNetwork, n.ID, losers, model.StatusActive)
		n.MTUReason = model.MTUReason(n, s.b.UnderlayMTU())
		n.PortSecurityEnabled = model.Bool(n.PortSecurity())
		out = append(out, n)
	}
	return out
}

func (s *Server) viewSubnets(only string) []model.Subnet {
	subs := decodeAll[model.Subnet](s, model.KindSubnet)
	losers := model.Resolve(nil, subs, nil)
	out := make([]model.Subnet, 0, len(subs))
	for _, sub := range subs {
		if only != "" && sub.ID != only {
			continue
		}
		sub.Status, sub.StatusReason = "", ""
		if why, ok := losers[sub.ID]; ok {
			sub.Status, sub.StatusReason = model.StatusError, why
		}
		out = append(out, sub)
	}
	return out
}

func (s *Server) viewPorts(only string) []model.Port {
	ports := decodeAll[model.Port](s, model.KindPort)
	in := ports
	if only != "" {
		i := slices.IndexFunc(ports, func(p model.Port) bool { return p.ID == only })
		if i < 0 {
			return nil
		}
		// Conflicts are per network: resolving that network is enough.
		net := ports[i].NetworkID
		in = slices.DeleteFunc(slices.Clone(ports), func(p model.Port) bool { return p.NetworkID != net })
	}
	losers := model.Resolve(nil, nil, in)
	out := make([]model.Port, 0, len(ports))
	for _, p := range ports {
		if only != "" && p.ID != only {
			continue
		}
		// Records older than the extensions show Neutron's defaults.
		p.PortSecurityEnabled = model.Bool(p.PortSecurity())
		if p.AllowedAddressPairs == nil {
			p.AllowedAddressPairs = []model.AddressPair{}
		}
		if p.SecurityGroups == nil {
			p.SecurityGroups = []string{}
		}
		def := model.StatusActive
		if !p.AdminStateUp {
			def = model.StatusDown
		}
		// A distributed router interface is on every node, bound to none.
		if p.DeviceOwner == model.OwnerRouterDVR {
			p.VIFType = model.VIFDistributed
		}
		// A port nothing has plugged (created through the API, waiting for
		// `bnet port plug`, as a Neutron port waits for Nova) is unbound
		// and DOWN on every node: the record itself says so. Network-owned
		// ports are never plugged: the agent derives their datapath state.
		if !p.Plugged() && !p.NetworkOwned() {
			p.VIFType = model.VIFUnbound
			if _, lost := losers[p.ID]; !lost {
				p.Status, p.StatusReason = model.StatusDown, "not plugged: bnet port plug "+p.ID+" --netns NS | --device IFNAME"
				out = append(out, p)
				continue
			}
		}
		p.Status, p.StatusReason = s.status(model.KindPort, p.ID, losers, def)
		out = append(out, p)
	}
	return out
}

// viewRouters returns the routers (all, or only the one with id) with their
// derived status: what the datapath reports, else ACTIVE. A gateway shows
// the addresses its port has now (a port update may have changed them).
func (s *Server) viewRouters(only string) []model.Router {
	routers := decodeAll[model.Router](s, model.KindRouter)
	var gws []model.Port
	for _, rt := range routers {
		if rt.ExternalGateway != nil && (only == "" || rt.ID == only) {
			gws = slices.DeleteFunc(decodeAll[model.Port](s, model.KindPort), func(p model.Port) bool {
				return p.DeviceOwner != model.OwnerRouterGateway
			})
			break
		}
	}
	out := make([]model.Router, 0, len(routers))
	for _, rt := range routers {
		if only != "" && rt.ID != only {
			continue
		}
		if rt.Routes == nil {
			rt.Routes = []model.HostRoute{}
		}
		if rt.Tags == nil {
			rt.Tags = []string{}
		}
		if g := rt.ExternalGateway; g != nil {
			for _, p := range gws {
				if p.DeviceID == rt.ID && p.NetworkID == g.NetworkID {
					g.ExternalFixedIPs = p.FixedIPs
					break
				}
			}
			if g.ExternalFixedIPs == nil {
				g.ExternalFixedIPs = []model.FixedIP{}
			}
		}
		rt.Status, rt.StatusReason = s.status(model.KindRouter, rt.ID, nil, model.StatusActive)
		out = append(out, rt)
	}
	return out
}

// reconcile programs the local datapath after a change to a port hosted
// here (or to a router: its interfaces are on every node, so the caller
// passes this node), so that when the request returns the port forwards. A failure is
// logged, not returned: the object is stored (and replicated) already, and
// the port's status shows the datapath's verdict.
func (s *Server) reconcile(r *http.Request, hosts ...string) {
	if !slices.Contains(hosts, s.b.Node()) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reconcileTimeout)
	defer cancel()
	if err := s.b.Reconcile(ctx); err != nil {
		s.log.Warn("reconcile after api change failed", "err", err)
	}
}

func fillProject(project, tenant *string) {
	switch {
	case *project == "" && *tenant == "":
		*project = model.AdminProject
	case *project == "":
		*project = *tenant
	}
	*tenant = *project
}

// list answers GET on a collection: every object view gives, filtered and
// projected as the query asks, under the collection's plural key.
func list[T any](plural string, view func(only string) []T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{plural: render(view(""), r.URL.Query())})
	}
}

// show answers GET on one object of a collection, or its not-found error.
func show[T any](s *Server, singular string, view func(only string) []T, notFound func(string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		v := view(id)
		if len(v) == 0 {
			s.fail(w, r, notFound(id))
			return
		}
		writeJSON(w, 200, map[string]any{singular: renderOne(v[0], r.URL.Query())})
	}
}
