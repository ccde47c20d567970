package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bnet-dev/bnet/config"
	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/model"
)

func TestPeerMemoryRemembersLiveTrustedPeers(t *testing.T) {
	dir := t.TempDir()
	p, err := loadPeers(dir)
	if err != nil || len(p.saved) != 0 {
		t.Fatalf("fresh state: %v %+v", err, p.saved)
	}
	members := []gossip.Member{
		{Name: "n1", Addr: "10.0.0.1:7946", State: gossip.StateAlive, Trusted: true,
			Meta: gossip.Meta{VTEP: "10.0.0.1", DVRMAC: "fa:16:3f:00:00:01", Roles: []string{"network"}}},
		{Name: "n2", Addr: "10.0.0.2:7946", State: gossip.StateAlive, Trusted: true, Meta: gossip.Meta{VTEP: "10.0.0.2"}},
		{Name: "n3", Addr: "10.0.0.3:7946", State: gossip.StateDead, Trusted: true, Meta: gossip.Meta{VTEP: "10.0.0.3"}},
		{Name: "n4", Addr: "10.0.0.4:7946", State: gossip.StateAlive, Trusted: false, Meta: gossip.Meta{VTEP: "10.0.0.4"}},
	}
	if err := p.save("n2", members); err != nil {
		t.Fatal(err)
	}
	q, err := loadPeers(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := q.views()
	if len(v) != 1 || !v["n1"].alive || v["n1"].vtep.String() != "10.0.0.1" || !v["n1"].network || v["n1"].dvrMAC.String() != "fa:16:3f:00:00:01" {
		t.Fatalf("remembered %+v, want only n1 (self, dead and untrusted members are not remembered)", v)
	}
	if s := q.seeds(); len(s) != 1 || s[0] != "10.0.0.1:7946" {
		t.Errorf("seeds %v", s)
	}
	// Unchanged: no write.
	path := filepath.Join(dir, peersFile)
	st, _ := os.Stat(path)
	time.Sleep(10 * time.Millisecond)
	if err := q.save("n2", members); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(path); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("an unchanged peer set was written again")
	}
}

func TestPeerMemoryBrokenFileIsOnlyAHint(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, peersFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := loadPeers(dir)
	if err == nil || !strings.Contains(err.Error(), "ignored") {
		t.Errorf("broken peers.json: err %v, want a warning", err)
	}
	if p == nil || len(p.views()) != 0 {
		t.Errorf("broken peers.json must leave an empty memory, got %+v", p)
	}
}

// Until the first sync the remembered peers are alive in nodes(): the
// first reconcile after a restart withdraws nobody.
func TestNodesBeforeFirstSyncKeepRememberedPeers(t *testing.T) {
	dir := t.TempDir()
	p, _ := loadPeers(dir)
	if err := p.save("n2", []gossip.Member{{Name: "n1", Addr: "10.0.0.1:7946", State: gossip.StateAlive, Trusted: true,
		Meta: gossip.Meta{VTEP: "10.0.0.1", Roles: []string{"network"}}}}); err != nil {
		t.Fatal(err)
	}
	// Two network nodes: quorum needs both up.
	a := &Agent{cfg: &config.Config{Node: "n2", LocalIP: "10.0.0.2", Roles: []string{"network"}}, log: slog.New(slog.DiscardHandler), peers: p,
		joinSeeds: []string{"10.0.0.1:7946"}, started: time.Now()}
	if a.checkSynced() {
		t.Fatal("synced with nobody met")
	}
	nodes := a.nodes()
	if nv := nodes["n1"]; !nv.alive || nv.vtep.String() != "10.0.0.1" {
		t.Errorf("before the first sync n1 is %+v, want alive at 10.0.0.1", nv)
	}
	if !hasQuorum(nodes) {
		t.Error("a remembered peer makes a restarted node think itself cut off")
	}
	if h := snatHosts(map[string]model.Router{"r": {ID: "r", AdminStateUp: true}}, nodes, "n2", 5*time.Second, time.Now()); h["r"] == "n1" {
		t.Error("a peer believed only from memory was given a router's SNAT")
	}
	a.started = time.Now().Add(-syncTimeout - time.Second)
	if !a.checkSynced() {
		t.Fatal("not synced after syncTimeout")
	}
	if _, ok := a.nodes()["n1"]; ok {
		t.Error("after the sync a peer gossip does not know is still believed")
	}
	lone := &Agent{cfg: &config.Config{Node: "n1"}, log: slog.New(slog.DiscardHandler), peers: &peerMemory{dir: dir}, started: time.Now()}
	if !lone.checkSynced() {
		t.Error("a node with no seeds and no remembered peers waits for a sync")
	}
}
