package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/model"
)

// The SNAT half of a distributed router lives where Neutron's dvr_snat
// agent puts it: a snat-<router> namespace on one network node, with a qg-
// port on the external network and an sg- port on every routed subnet, all
// ordinary bnet ports, and nftables masquerading out of qg- (seed 002
// §3.2.1). VMs without a floating IP reach it through their own node's
// DVR router, whose default route is the sg- address of their subnet.

// isSNATPort reports whether p belongs in a router's namespace on the
// network node: the SNAT namespace of a distributed router (qg-, sg-) or
// the qrouter namespace of a legacy one (qg-, qr-).
func isSNATPort(p model.Port) bool {
	return p.DeviceOwner == model.OwnerRouterSNAT || p.DeviceOwner == model.OwnerRouterGateway ||
		p.DeviceOwner == model.OwnerRouterInterface
}

// snatHosts picks the node holding each gatewayed router's SNAT namespace:
// rendezvous hashing of the router id over the network nodes. Every node
// computes the same answer from the same membership, with no scheduler and
// no write; when the chosen node dies, the next in line takes over on every
// node at once — but never while the old one may still answer:
//
//   - a network node declared dead stays a candidate for fence (SNAT
//     points at it and nobody answers) before the next takes over;
//   - a network node that sees a majority of the cluster dead gives up the
//     SNAT it holds at once (it is the one cut off), so in a partition
//     only the majority side has SNAT points;
//   - a network node that came up (joined, rejoined after a partition, or
//     regained a majority) becomes a candidate in the others' eyes after
//     fence, and in its own after twice that, so the node it takes SNAT
//     back from has let go first.
//
// The two sides detect each other's failure within memberlist's suspicion
// timeout of each other; fence covers that skew, so one router never has
// two live SNAT points. A suspicion refuted changes nothing.
func snatHosts(routers map[string]model.Router, nodes map[string]nodeView, self string, fence time.Duration, now time.Time) map[string]string {
	out := map[string]string{}
	quorum := hasQuorum(nodes)
	for id, r := range routers {
		// A distributed router needs the network node only for SNAT; a
		// legacy one lives there entirely (seed 000 flow 3, seed 003).
		if !r.AdminStateUp || (r.Distributed && r.ExternalGateway == nil) {
			continue
		}
		var best string
		var bestW uint64
		for name, nv := range nodes {
			fencing := nv.state == gossip.StateDead && now.Sub(nv.since) < fence
			// A node waits twice as long for itself as the others wait for
			// it: they have let go by the time it answers.
			need := fence
			if name == self {
				need = 2 * fence
			}
			settled := nv.live && !nv.upSince.IsZero() && now.Sub(nv.upSince) >= need
			if !nv.network || !(settled || fencing) {
				continue
			}
			h := sha256.Sum256([]byte(id + "/" + name))
			w := binary.BigEndian.Uint64(h[:8])
			if best == "" || w > bestW || (w == bestW && name < best) {
				best, bestW = name, w
			}
		}
		if best == self && !quorum {
			continue // cut off: fenced
		}
		if best != "" {
			out[id] = best
		}
	}
	return out
}

// hasQuorum reports whether this node sees a majority of the cluster's
// members alive (drained members do not count). With fewer than two
// network nodes nobody else could take SNAT over, so there is nothing to
// fence and the answer is yes.
func hasQuorum(nodes map[string]nodeView) bool {
	network, total, up := 0, 0, 0
	for _, nv := range nodes {
		if nv.state == gossip.StateLeft {
			continue
		}
		total++
		if nv.state == gossip.StateAlive || nv.state == gossip.StateSuspect {
			up++
		}
		if nv.network {
			network++
		}
	}
	return network < 2 || 2*up > total
}

// trackQuorum notes when this node gains or loses a majority.
func (a *Agent) trackQuorum(nodes map[string]nodeView) {
	q := hasQuorum(nodes)
	switch {
	case !q && !a.getUpSince().IsZero():
		a.log.Warn("no majority of the cluster alive: giving up SNAT held here")
		a.setUpSince(time.Time{})
	case q && a.getUpSince().IsZero():
		a.setUpSince(time.Now())
	}
	self := nodes[a.cfg.Node]
	self.upSince = a.getUpSince()
	nodes[a.cfg.Node] = self
}

func (a *Agent) getUpSince() time.Time {
	if n := a.upSince.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (a *Agent) setUpSince(t time.Time) {
	if t.IsZero() {
		a.upSince.Store(0)
		return
	}
	a.upSince.Store(t.UnixNano())
}

// startUpSince is when this node counts as up at agent start: now, unless
// it holds a router namespace already (the agent restarted under it), in
// which case it keeps holding it rather than handing SNAT over and back.
func (a *Agent) startUpSince() time.Time {
	now := time.Now()
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		return now
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"snat-") || strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"qrouter-") {
			return now.Add(-2 * a.cfg.FenceDelay())
		}
	}
	return now
}

// wakeAt arranges a reconcile for the next moment a dead node's SNAT fence
// or entry hold ends, or a node that came up becomes an SNAT candidate.
func (a *Agent) wakeAt(nodes map[string]nodeView) {
	now := time.Now()
	var next time.Time
	for _, nv := range nodes {
		var ts []time.Time
		switch {
		case nv.state == gossip.StateDead:
			ts = []time.Time{nv.since.Add(a.cfg.FenceDelay()), nv.since.Add(a.cfg.DeadHold())}
		case nv.live && nv.network && !nv.upSince.IsZero():
			ts = []time.Time{nv.upSince.Add(a.cfg.FenceDelay()), nv.upSince.Add(2 * a.cfg.FenceDelay())}
		}
		for _, t := range ts {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if next.IsZero() {
		return
	}
	// Reconciles are serialised (a.mu), so is this.
	if a.wake != nil {
		a.wake.Stop()
	}
	a.wake = time.AfterFunc(next.Sub(now)+10*time.Millisecond, a.trigger)
}

// routerNetns names a router's namespace on the network node as Neutron
// does (snat-<id> for a distributed router, qrouter-<id> for a legacy
// one), behind the node's netns_prefix.
func (a *Agent) routerNetns(r model.Router) string {
	if r.Distributed {
		return a.cfg.NetnsPrefix + "snat-" + r.ID
	}
	return a.cfg.NetnsPrefix + "qrouter-" + r.ID
}

// snatIfName is the device name inside the SNAT namespace: qg-/sg- and the
// start of the port id, Neutron's naming.
func snatIfName(p model.Port) string {
	id := p.ID
	if len(id) > 11 {
		id = id[:11]
	}
	switch p.DeviceOwner {
	case model.OwnerRouterGateway:
		return "qg-" + id
	case model.OwnerRouterInterface:
		return "qr-" + id
	}
	return "sg-" + id
}

// ensureSNAT makes a router's SNAT namespace forward, and masquerade out of
// qg when SNAT is on, in table "ip bnet": what neutron-l3-agent-snat
// does with one iptables rule per subnet.
func ensureSNAT(ns, qg string, snat bool, fips []natPair) error {
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
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, qg)
	if len(fips) > 0 && qg != "" {
		// A legacy router's floating IPs: 1:1 NAT in its namespace, as the
		// neutron-l3-agent-float-snat and PREROUTING DNAT rules do.
		pre := c.AddChain(&nftables.Chain{
			Name: "fip-in", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
		})
		post := c.AddChain(&nftables.Chain{
			Name: "fip-out", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATSource - 1),
		})
		for _, f := range fips {
			fip, fixed := f.fip.As4(), f.fixed.As4()
			c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: fip[:]},
				&expr.Immediate{Register: 1, Data: fixed[:]},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
			}})
			c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: name},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: fixed[:]},
				&expr.Immediate{Register: 1, Data: fip[:]},
				&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
			}})
		}
	}
	if snat && qg != "" {
		ch := c.AddChain(&nftables.Chain{
			Name: "snat", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		})
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
		if !strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"snat-") && !strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"fip-") &&
			!strings.HasPrefix(e.Name(), a.cfg.NetnsPrefix+"qrouter-") {
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

// natPair is a floating IP and the fixed IP behind it.
type natPair struct{ fip, fixed netip.Addr }

// qgAddresses puts a legacy router's floating IPs on its qg- device as
// /32s, so its kernel answers ARP for them, as Neutron's legacy router
// does; addresses of floating IPs that left are removed.
func qgAddresses(ns, qg string, fips []natPair) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return err
	}
	defer nh.Close()
	l, err := nh.LinkByName(qg)
	if err != nil {
		return err
	}
	want := map[netip.Addr]bool{}
	for _, f := range fips {
		want[f.fip] = true
	}
	addrs, err := nh.AddrList(l, unix.AF_INET)
	if err != nil {
		return err
	}
	for _, ad := range addrs {
		ip, _ := netip.AddrFromSlice(ad.IP)
		ip = ip.Unmap()
		ones, _ := ad.Mask.Size()
		if ones != 32 {
			continue // the qg- port's own address
		}
		if want[ip] {
			delete(want, ip)
			continue
		}
		_ = nh.AddrDel(l, &ad)
	}
	for ip := range want {
		if err := nh.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			return fmt.Errorf("floating ip %s on %s: %w", ip, qg, err)
		}
	}
	return nil
}
