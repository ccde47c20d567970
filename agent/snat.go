package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/model"
)

// The SNAT half of a distributed router lives where Neutron's dvr_snat
// agent puts it: a snat-<router> namespace on one network node, with a qg-
// port on the external network and an sg- port on every routed subnet, all
// ordinary bnet ports, and nftables masquerading out of qg- (seed 002
// §3.2.1). VMs without a floating IP reach it through their own node's
// DVR router, whose default route is the sg- address of their subnet.

// isSNATPort reports whether p belongs in a router's SNAT namespace.
func isSNATPort(p model.Port) bool {
	return p.DeviceOwner == model.OwnerRouterSNAT || p.DeviceOwner == model.OwnerRouterGateway
}

// snatHosts picks the node holding each gatewayed router's SNAT namespace:
// rendezvous hashing of the router id over the live nodes with the network
// role. Every node computes the same answer from the same membership, with
// no scheduler and no write; when the chosen node dies, the next in line
// takes over on every node at once.
func snatHosts(routers map[string]model.Router, nodes map[string]nodeView) map[string]string {
	out := map[string]string{}
	for id, r := range routers {
		if r.ExternalGateway == nil || !r.AdminStateUp {
			continue
		}
		var best string
		var bestW uint64
		for name, nv := range nodes {
			if !nv.alive || !nv.network {
				continue
			}
			h := sha256.Sum256([]byte(id + "/" + name))
			w := binary.BigEndian.Uint64(h[:8])
			if best == "" || w > bestW || (w == bestW && name < best) {
				best, bestW = name, w
			}
		}
		if best != "" {
			out[id] = best
		}
	}
	return out
}

// snatNetns names a router's SNAT namespace as Neutron does, behind the
// node's netns_prefix.
func (a *Agent) snatNetns(routerID string) string { return a.cfg.NetnsPrefix + "snat-" + routerID }

// snatIfName is the device name inside the SNAT namespace: qg-/sg- and the
// start of the port id, Neutron's naming.
func snatIfName(p model.Port) string {
	id := p.ID
	if len(id) > 11 {
		id = id[:11]
	}
	if p.DeviceOwner == model.OwnerRouterGateway {
		return "qg-" + id
	}
	return "sg-" + id
}

// ensureSNAT makes a router's SNAT namespace forward, and masquerade out of
// qg when SNAT is on, in table "ip bnet": what neutron-l3-agent-snat
// does with one iptables rule per subnet.
func ensureSNAT(ns, qg string, snat bool) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("snat namespace %s: %w", ns, err)
	}
	defer h.Close()
	if err := withNetns(h, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	}); err != nil {
		return fmt.Errorf("forwarding in %s: %w", ns, err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", ns, err)
	}
	// Rebuild the table whole: one small table, replaced atomically in one
	// netlink batch, never half-written.
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: "bnet"}
	c.AddTable(t)
	c.DelTable(t)
	t = c.AddTable(t)
	if snat && qg != "" {
		ch := c.AddChain(&nftables.Chain{
			Name: "snat", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		})
		name := make([]byte, unix.IFNAMSIZ)
		copy(name, qg)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
			&expr.Masq{},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables in %s: %w", ns, err)
	}
	return nil
}

// sweepNetns deletes the namespaces this agent made (snat-, fip-) that
// nothing wants here any more (a router lost its gateway or moved, the
// last floating IP left); their veths go with them.
func (a *Agent) sweepNetns(wanted map[string]bool) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range ents {
		if wanted[e.Name()] {
			continue
		}
		if !strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"snat-") && !strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"fip-") {
			continue
		}
		if err := netns.DeleteNamed(e.Name()); err != nil {
			a.log.Warn("delete namespace", "netns", e.Name(), "err", err)
			_ = os.Remove(filepath.Join("/run/netns", e.Name()))
			continue
		}
		a.log.Info("namespace removed", "netns", e.Name())
	}
}
