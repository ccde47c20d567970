package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/store"
)

// A restarted agent knows its own records (the store is on disk) but not,
// until gossip has talked to someone, which peers are alive. Computing the
// datapath from "only me" would withdraw every remote port, flood target,
// tunnel peer and VXLAN admission until the first push/pull: a drop on
// every restart (measured: ~50 ms of a 2000 pps stream). So the agent
// remembers the peers it last saw alive and, until it has synced with one
// of them, believes them still alive; it also joins them, so a node whose
// config names only itself as seed finds the cluster again at once.
const peersFile = "peers.json"

// syncTimeout ends the remembered view when no remembered peer answers
// (they are all down, or the cluster changed while this node was off).
const syncTimeout = 30 * time.Second

// peerRecord is one remembered peer, as gossip last described it.
type peerRecord struct {
	Name    string `json:"name"`
	Addr    string `json:"addr"` // gossip host:port
	VTEP    string `json:"vtep"`
	DVRMAC  string `json:"dvr_mac,omitempty"`
	Network bool   `json:"network,omitempty"`
}

type peerMemory struct {
	dir   string
	saved []peerRecord // as on disk, sorted by name
}

func loadPeers(stateDir string) (*peerMemory, error) {
	p := &peerMemory{dir: stateDir}
	path := filepath.Join(stateDir, peersFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &p.saved); err != nil {
		// Only a hint: a broken file costs the fast rejoin, nothing else.
		return p, fmt.Errorf("%s: %w (ignored)", path, err)
	}
	return p, nil
}

// seeds are the remembered peers' gossip addresses.
func (p *peerMemory) seeds() []string {
	var out []string
	for _, r := range p.saved {
		if r.Addr != "" {
			out = append(out, r.Addr)
		}
	}
	return out
}

// views are the remembered peers as node views, all alive.
func (p *peerMemory) views() map[string]nodeView {
	v := map[string]nodeView{}
	for _, r := range p.saved {
		ip, err := netip.ParseAddr(r.VTEP)
		if err != nil {
			continue
		}
		mac, _ := net.ParseMAC(r.DVRMAC)
		// Alive and answering as far as quorum goes (a restarted SNAT node
		// must not think itself cut off), but with no up-since time: never
		// a candidate to take a router's SNAT on this belief alone.
		v[r.Name] = nodeView{vtep: ip, alive: true, live: true, state: gossip.StateAlive, dvrMAC: mac, network: r.Network}
	}
	return v
}

// save remembers the peers gossip now says are alive and trusted, when that
// differs from what is on disk.
func (p *peerMemory) save(self string, members []gossip.Member) error {
	var recs []peerRecord
	for _, m := range members {
		if m.Name == self || !m.Trusted || (m.State != gossip.StateAlive && m.State != gossip.StateSuspect) {
			continue
		}
		recs = append(recs, peerRecord{Name: m.Name, Addr: m.Addr, VTEP: m.Meta.VTEP, DVRMAC: m.Meta.DVRMAC,
			Network: slices.Contains(m.Meta.Roles, "network")})
	}
	slices.SortFunc(recs, func(a, b peerRecord) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	if slices.Equal(recs, p.saved) {
		return nil
	}
	b, err := json.MarshalIndent(recs, "", " ")
	if err != nil {
		return err
	}
	if err := store.WriteFileAtomic(p.dir, peersFile, b); err != nil {
		return fmt.Errorf("remember peers: %w", err)
	}
	p.saved = recs
	return nil
}

// checkSynced ends the start-up phase once gossip has met a live peer (its
// join did a full push/pull of members and records), when there is nobody
// to meet, or at syncTimeout. Until then nodes() keeps the remembered peers
// alive and nothing stale is swept. Called under a.mu.
func (a *Agent) checkSynced() bool {
	if a.synced.Load() {
		return true
	}
	why := ""
	switch {
	case len(a.peers.saved) == 0 && len(a.joinSeeds) == 0:
		why = "no peers to sync with"
	case time.Since(a.started) > syncTimeout:
		why = "no remembered peer answered within " + syncTimeout.String()
	case a.gossip != nil:
		for _, m := range a.gossip.Members() {
			if m.Name != a.cfg.Node && m.State == gossip.StateAlive && m.Trusted {
				why = "met " + m.Name
				break
			}
		}
	}
	if why == "" {
		return false
	}
	a.synced.Store(true)
	a.log.Info("first sync done: stale objects may now be removed", "why", why, "after", time.Since(a.started).Round(time.Millisecond))
	return true
}

// lockPinDir takes an exclusive flock on the pin dir (bpffs directories
// take locks like any other): a second agent on the same datapath stops
// here with one line instead of fighting the first over every entry.
func lockPinDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pin dir %s: %w", dir, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open pin dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another agent is running on pin_dir %s", dir)
		}
		return nil, fmt.Errorf("lock pin dir %s: %w", dir, err)
	}
	return f, nil
}
