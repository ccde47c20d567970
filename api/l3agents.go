package api

import (
	"net/http"

	"github.com/bnet-dev/bnet/model"
)

// routerAgents is Neutron's l3-agent-list-hosting-router
// (`openstack network agent list --router R`): the agent whose node holds
// the router's namespace, chosen the same way on every node (rendezvous
// hashing over the live network nodes). A distributed router without a
// gateway has none: it lives in every node's datapath where it is needed.
func (s *Server) routerAgents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := s.st.Get(model.KindRouter, id); !ok {
		s.fail(w, r, notFound("RouterNotFound", "Router %s could not be found", id))
		return
	}
	out := []any{}
	if host := s.b.RouterHost(id); host != "" {
		for _, a := range s.b.Agents() {
			if a.Host == host {
				out = append(out, a)
			}
		}
	}
	writeJSON(w, 200, map[string]any{"agents": out})
}
