package maps

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// A changed capacity (security.ct_max) keeps the layout of keys and
// values: the pin is replaced by a map of the new size holding the old
// entries, and maps whose layout did not change are left alone.
func TestLoadMigratesCapacityKeepingEntries(t *testing.T) {
	dir := pinDir(t)
	m, p, err := Load(dir, LoadOptions{CTMax: 4096})
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, int(m.CT.KeySize()))
	val := bytes.Repeat([]byte{9}, int(m.CT.ValueSize()))
	if err := m.CT.Put(key, val); err != nil {
		t.Fatal(err)
	}
	fdb := FDBRow{NetID: 3, MAC: net.HardwareAddr{0xfa, 0x16, 0x3e, 1, 2, 3}, VTEP: netip.MustParseAddr("10.0.0.2")}
	if err := m.PutFDB(fdb); err != nil {
		t.Fatal(err)
	}
	fdbID := mapID(t, m.FDB)
	p.Close()
	m.Close()

	var logged bytes.Buffer
	m, p, err = Load(dir, LoadOptions{CTMax: 8192, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("load with another ct_max: %v", err)
	}
	defer p.Close()
	defer m.Close()
	if got := m.CT.MaxEntries(); got != 8192 {
		t.Errorf("ct holds %d entries at most after the migration, want 8192", got)
	}
	got := make([]byte, m.CT.ValueSize())
	if err := m.CT.Lookup(key, &got); err != nil || !bytes.Equal(got, val) {
		t.Errorf("ct entry not carried over: %v %x", err, got)
	}
	if mapID(t, m.FDB) != fdbID {
		t.Error("fdb, whose layout did not change, was replaced")
	}
	rows, err := m.FDBRows()
	if err != nil || len(rows) != 1 || rows[0].VTEP != fdb.VTEP {
		t.Errorf("fdb after the migration of ct: %v %+v", err, rows)
	}
	if s := logged.String(); !strings.Contains(s, "migrated") || !strings.Contains(s, "map=ct") || !strings.Contains(s, "copied=1") {
		t.Errorf("migration not logged as such: %q", s)
	}
}

// A pin whose values have another size (a binary with another struct
// layout pinned it) is neither reused nor a failed start: a map of the new
// layout takes its place, empty, for the agent to program from the store.
func TestLoadMigratesChangedLayout(t *testing.T) {
	dir := pinDir(t)
	m, p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	keySize, valSize := m.FDB.KeySize(), m.FDB.ValueSize()
	p.Close()
	m.Close()

	// What an older binary with a 4-byte-shorter fdb value would have left.
	path := filepath.Join(dir, MapFDB)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	old, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: keySize, ValueSize: valSize - 4, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := old.Put(make([]byte, keySize), make([]byte, valSize-4)); err != nil {
		t.Fatal(err)
	}
	if err := old.Pin(path); err != nil {
		t.Fatal(err)
	}

	var logged bytes.Buffer
	m, p, err = Load(dir, LoadOptions{Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("load over a pin of another layout: %v", err)
	}
	defer p.Close()
	defer m.Close()
	if m.FDB.ValueSize() != valSize {
		t.Errorf("fdb value size %d, want this binary's %d", m.FDB.ValueSize(), valSize)
	}
	if mapID(t, m.FDB) == mapID(t, old) {
		t.Error("the old fdb was reused")
	}
	if rows, err := m.FDBRows(); err != nil || len(rows) != 0 {
		t.Errorf("fdb of a new layout should start empty: %v %+v", err, rows)
	}
	if s := logged.String(); !strings.Contains(s, "map=fdb") || !strings.Contains(s, "ValueSize") || !strings.Contains(s, "lost=1") {
		t.Errorf("migration not logged with its reason: %q", s)
	}
	// The pin now names the new map: the CLI sees what the programs use.
	pinned, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	if mapID(t, pinned) != mapID(t, m.FDB) {
		t.Error("the pin does not name the map the programs use")
	}
}

func mapID(t *testing.T, m *ebpf.Map) ebpf.MapID {
	t.Helper()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		t.Fatal("no map id")
	}
	return id
}
