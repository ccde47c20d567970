package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// Ids survive a restart, freed ids are reused, and a save with nothing
// changed does not touch the file.
func TestNetIDsPersistAndReuse(t *testing.T) {
	dir := t.TempDir()
	n, err := loadNetIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := n.get("net-a")
	b, _ := n.get("net-b")
	if a != 1 || b != 2 {
		t.Fatalf("ids %d %d, want 1 2", a, b)
	}
	if err := n.save(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, netIDsFile)
	st1, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.save(); err != nil {
		t.Fatal(err)
	}
	// A rewrite goes through rename, which would replace the inode.
	st2, _ := os.Stat(path)
	if !os.SameFile(st1, st2) {
		t.Fatal("save with nothing changed rewrote the file")
	}

	m, err := loadNetIDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id, fresh := m.get("net-b"); id != 2 || fresh {
		t.Fatalf("after reload net-b = %d (fresh %v), want 2", id, fresh)
	}
	m.keep(map[string]bool{"net-b": true})
	if id, _ := m.get("net-c"); id != 1 {
		t.Fatalf("freed id not reused: net-c = %d", id)
	}
}

func TestNetIDsCorruptFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, netIDsFile), []byte("{nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadNetIDs(dir); err == nil {
		t.Fatal("corrupt netids.json accepted")
	}
}
