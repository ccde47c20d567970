package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bnet-dev/bnet/store"
)

const netIDsFile = "netids.json"

// netIDs maps network UUIDs to the small node-local ids the BPF maps use
// (Neutron's local VLAN ids play the same role in br-int). They are
// persisted so that a restarted agent finds its pinned map entries under the
// same ids and changes nothing that is correct.
type netIDs struct {
	dir   string
	ids   map[string]uint32
	dirty bool // changed since the last save: reconciles that change nothing write nothing
}

func loadNetIDs(stateDir string) (*netIDs, error) {
	n := &netIDs{dir: stateDir, ids: map[string]uint32{}}
	path := filepath.Join(stateDir, netIDsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &n.ids); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// get returns the id of network uuid, allocating the smallest free one.
func (n *netIDs) get(uuid string) (uint32, bool) {
	if id, ok := n.ids[uuid]; ok {
		return id, false
	}
	used := make(map[uint32]bool, len(n.ids))
	for _, id := range n.ids {
		used[id] = true
	}
	id := uint32(1)
	for used[id] {
		id++
	}
	n.ids[uuid] = id
	n.dirty = true
	return id, true
}

// keep forgets networks no longer in live.
func (n *netIDs) keep(live map[string]bool) {
	for u := range n.ids {
		if !live[u] {
			delete(n.ids, u)
			n.dirty = true
		}
	}
}

func (n *netIDs) save() error {
	if !n.dirty {
		return nil
	}
	b, err := json.MarshalIndent(n.ids, "", " ")
	if err != nil {
		return err
	}
	if err := store.WriteFileAtomic(n.dir, netIDsFile, b); err != nil {
		return err
	}
	n.dirty = false
	return nil
}
