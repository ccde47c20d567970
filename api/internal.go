package api

import "github.com/bnet-dev/bnet/model"

// CreatePort creates a port for the agent itself (a node's fg- port on an
// external network), through the same checks and lock as the API, so it
// can never take an address a concurrent request on this node is taking.
func (s *Server) CreatePort(p *model.Port) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertPort(p)
}

// DeletePort deletes a port the agent created, if it still exists.
func (s *Server) DeletePort(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Get(model.KindPort, id); !ok {
		return nil
	}
	_, err := s.st.Delete(model.KindPort, id)
	return err
}
