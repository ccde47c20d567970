package agent

import (
	"errors"

	"github.com/bnet-dev/bnet/maps"
)

// mapsLater reads the agent's maps once they are loaded: the metrics
// registry exists before the datapath does.
type mapsLater struct{ a *Agent }

var errNoMaps = errors.New("datapath not loaded")

func (m mapsLater) DropRows() ([]maps.DropRow, error) {
	if m.a.maps == nil {
		return nil, errNoMaps
	}
	return m.a.maps.DropRows()
}

func (m mapsLater) MapRows() ([]maps.MapRow, error) {
	if m.a.maps == nil {
		return nil, errNoMaps
	}
	return m.a.maps.MapRows()
}

// portIDs is each local port's host ifindex -> port id, as last programmed.
func (a *Agent) portIDs() map[uint32]string {
	a.stMu.RLock()
	defer a.stMu.RUnlock()
	out := make(map[uint32]string, len(a.byIfindex))
	for idx, p := range a.byIfindex {
		out[idx] = p.ID
	}
	return out
}

// memberStates counts gossip members by state.
func (a *Agent) memberStates() map[string]int {
	out := map[string]int{}
	if a.gossip == nil {
		return out
	}
	for _, m := range a.gossip.Members() {
		out[m.State]++
	}
	return out
}
