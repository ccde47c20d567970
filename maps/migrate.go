package maps

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// Migration is what Load did to one pinned map whose layout (type, key or
// value size, capacity, flags) is not the new binary's.
type Migration struct {
	Map    string
	Reason string // cilium/ebpf's description of the difference
	Copied int    // entries carried over
	Lost   int    // entries that could not be (no room, or no common layout)
}

// migrate replaces every map pinned in pinDir whose layout differs from
// spec's by a new map of spec's layout, pinned in its place, so that the
// load that follows finds only compatible pins. Entries are copied when
// keys and values still have the same size (a changed capacity or flags);
// otherwise the new map starts empty and the agent's first reconcile
// programs it from the store (conntrack starts afresh). The old map lives
// on, unpinned, for as long as the programs still attached use it: traffic
// keeps its state until the new programs are swapped in.
func migrate(spec *ebpf.CollectionSpec, pinDir string, log *slog.Logger) ([]Migration, error) {
	var done []Migration
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(pinDir, name)
		old, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("open pinned map %s: %w", path, err)
		}
		cerr := ms.Compatible(old)
		if cerr == nil {
			old.Close()
			continue
		}
		m, err := migrateOne(ms, old, path)
		old.Close()
		if err != nil {
			return done, fmt.Errorf("migrate map %s (%v): %w", name, cerr, err)
		}
		m.Map, m.Reason = name, cerr.Error()
		log.Warn("pinned map has another layout than this binary's: migrated",
			"map", name, "change", m.Reason, "copied", m.Copied, "lost", m.Lost)
		done = append(done, m)
	}
	return done, nil
}

func migrateOne(ms *ebpf.MapSpec, old *ebpf.Map, path string) (Migration, error) {
	fresh := ms.Copy()
	fresh.Pinning = ebpf.PinNone
	nm, err := ebpf.NewMap(fresh)
	if err != nil {
		return Migration{}, fmt.Errorf("create: %w", err)
	}
	defer nm.Close()
	var m Migration
	if copyable(old, nm) {
		m.Copied, m.Lost = copyEntries(old, nm)
	} else {
		m.Lost = entriesOf(old)
	}
	// Pinned beside the old one, then renamed over it: the path always
	// names a whole map, never nothing (bpffs renames atomically; it
	// refuses names with a dot).
	tmp := filepath.Join(filepath.Dir(path), "migrating_"+filepath.Base(path))
	_ = os.Remove(tmp)
	if err := nm.Pin(tmp); err != nil {
		return m, fmt.Errorf("pin: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = nm.Unpin()
		return m, fmt.Errorf("replace pin: %w", err)
	}
	return m, nil
}

// copyable: same kind of map with keys and values of the same size, and
// entries that are plain key/value pairs (not per-CPU, not events).
func copyable(a, b *ebpf.Map) bool {
	if a.KeySize() != b.KeySize() || a.ValueSize() != b.ValueSize() || a.KeySize() == 0 {
		return false
	}
	switch a.Type() {
	case ebpf.Hash, ebpf.LRUHash, ebpf.Array, ebpf.LPMTrie:
	default:
		return false
	}
	switch b.Type() {
	case ebpf.Hash, ebpf.LRUHash, ebpf.Array, ebpf.LPMTrie:
		return true
	}
	return false
}

func copyEntries(from, to *ebpf.Map) (copied, lost int) {
	k := make([]byte, from.KeySize())
	v := make([]byte, from.ValueSize())
	it := from.Iterate()
	for it.Next(&k, &v) {
		if err := to.Put(k, v); err != nil {
			lost++
			continue
		}
		copied++
	}
	return copied, lost
}

// entriesOf counts what a map holds that a migration cannot carry over.
func entriesOf(m *ebpf.Map) int {
	switch m.Type() {
	case ebpf.RingBuf, ebpf.PerfEventArray:
		return 0
	}
	n, _ := countEntries(m)
	return n
}
