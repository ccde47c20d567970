package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/bnet-dev/bnet/model"
)

func (s *Server) agents() []model.Agent {
	ags := slices.Clone(s.b.Agents())
	slices.SortFunc(ags, func(a, b model.Agent) int { return strings.Compare(a.Host, b.Host) })
	return ags
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"agents": render(s.agents(), r.URL.Query())})
}

func (s *Server) showAgent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, a := range s.agents() {
		if a.ID == id {
			writeJSON(w, 200, map[string]any{"agent": renderOne(a, r.URL.Query())})
			return
		}
	}
	s.fail(w, r, notFound("AgentNotFound", "Agent %s could not be found.", id))
}
