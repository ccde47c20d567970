package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// netIDs maps network UUIDs to the small node-local ids the BPF maps use
// (Neutron's local VLAN ids play the same role in br-int). They are
// persisted so that a restarted agent finds its pinned map entries under the
// same ids and changes nothing that is correct.
type netIDs struct {
	path string
	ids  map[string]uint32
}

func loadNetIDs(stateDir string) (*netIDs, error) {
	n := &netIDs{path: filepath.Join(stateDir, "netids.json"), ids: map[string]uint32{}}
	b, err := os.ReadFile(n.path)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &n.ids); err != nil {
		return nil, fmt.Errorf("%s: %w", n.path, err)
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
	return id, true
}

// keep forgets networks no longer in live.
func (n *netIDs) keep(live map[string]bool) bool {
	changed := false
	for u := range n.ids {
		if !live[u] {
			delete(n.ids, u)
			changed = true
		}
	}
	return changed
}

func (n *netIDs) byID() map[uint32]string {
	m := make(map[uint32]string, len(n.ids))
	for u, id := range n.ids {
		m[id] = u
	}
	return m
}

func (n *netIDs) save() error {
	b, err := json.MarshalIndent(n.ids, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(n.path, b)
}

// writeFileAtomic writes via a temp file, fsync and rename, so a crash leaves
// either the old or the new file, never half of one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
