package api

import (
	"net/http"
)

// Drainer is the part of a Backend that can take its node out of the
// cluster for good (the agent; a test backend need not).
type Drainer interface {
	// Drain leaves the cluster, so that peers withdraw this node at once
	// instead of holding it as they do a node that merely went silent, and
	// then stops the agent. The datapath stays as it is.
	Drain() error
}

func (s *Server) drain(w http.ResponseWriter, r *http.Request) {
	d, ok := s.b.(Drainer)
	if !ok {
		s.fail(w, r, notFound("NotSupported", "This server cannot drain its node."))
		return
	}
	if err := d.Drain(); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"drained": true})
}
