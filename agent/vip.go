package agent

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// claimPoll is how often the datapath's VIP claims are read: a VIP that
// moves is published (and so followed everywhere) within about this plus
// one gossip broadcast.
const claimPoll = 200 * time.Millisecond

type claimSeen struct {
	ifindex uint32
	mac     string
}

// watchClaims publishes the gratuitous ARP claims of local ports until ctx
// ends.
func (a *Agent) watchClaims(ctx context.Context) {
	t := time.NewTicker(claimPoll)
	defer t.Stop()
	seen := map[string]claimSeen{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := a.maps.VIPClaimRows()
		if err != nil {
			a.log.Warn("read VIP claims", "err", err)
			continue
		}
		for _, r := range rows {
			key := fmt.Sprintf("%d/%s", r.NetID, r.IP)
			now := claimSeen{r.Ifindex, r.MAC.String()}
			if seen[key] == now {
				continue
			}
			if a.publishClaim(r) {
				seen[key] = now
			}
		}
	}
}

// publishClaim writes the claim of row r when it is a port's own to make
// and not already the published one. It reports whether r is settled (no
// need to look again until it changes).
func (a *Agent) publishClaim(r maps.VIPClaimRow) bool {
	a.stMu.RLock()
	p, ok := a.byIfindex[r.Ifindex]
	a.stMu.RUnlock()
	if !ok {
		return false // not programmed yet, or gone
	}
	mac := strings.ToLower(r.MAC.String())
	if !p.MayClaim(r.IP, mac) {
		return true // a fixed IP or nothing the port may hold: never a claim
	}
	id := model.VIPClaimID(p.NetworkID, r.IP)
	if rec, ok := a.st.Get(model.KindVIPClaim, id); ok {
		if c, err := store.Decode[model.VIPClaim](rec); err == nil && c.PortID == p.ID && strings.EqualFold(c.MACAddress, mac) {
			return true
		}
	}
	c := model.VIPClaim{NetworkID: p.NetworkID, IPAddress: r.IP.String(), MACAddress: mac, PortID: p.ID,
		HostID: a.cfg.Node, ClaimedAt: model.Now()}
	if _, err := a.st.Put(model.KindVIPClaim, id, c); err != nil {
		a.log.Warn("publish VIP claim", "ip", r.IP, "port", p.ID, "err", err)
		return false
	}
	a.log.Info("VIP claimed", "ip", r.IP, "port", p.ID, "mac", mac)
	return true
}

// computeClaims points each claimed VIP at its holder: the responder answers
// for it and routers deliver to it. A claim counts while its port still
// may hold the address; a fixed IP's entry is never overridden.
func (a *Agent) computeClaims(s snapshot, netOf map[string]uint32, d *desired) {
	for _, c := range s.claims {
		p, ok := s.portByID[c.PortID]
		ip, err := netip.ParseAddr(c.IPAddress)
		if !ok || err != nil || p.NetworkID != c.NetworkID || !p.MayClaim(ip, c.MACAddress) {
			continue
		}
		id, ok := netOf[c.NetworkID]
		if !ok {
			continue
		}
		mac, err := net.ParseMAC(c.MACAddress)
		pmac, err2 := net.ParseMAC(p.MACAddress)
		if err != nil || err2 != nil {
			continue
		}
		if s.fixedIP(c.NetworkID, ip) {
			continue
		}
		d.arp[arpKey(id, ip)] = maps.ARPRow{NetID: id, IP: ip, MAC: mac}
		// A pair with its own MAC (a VRRP virtual MAC) lives where the port does.
		if _, ok := d.fdb[fdbKey(id, mac)]; !ok {
			if row, ok := d.fdb[fdbKey(id, pmac)]; ok {
				row.MAC = mac
				d.fdb[fdbKey(id, mac)] = row
			}
		}
	}
}

// fixedIP reports whether ip is a fixed IP of a port on network.
func (s snapshot) fixedIP(network string, ip netip.Addr) bool {
	for _, p := range s.ports {
		if p.NetworkID != network {
			continue
		}
		for _, f := range p.FixedIPs {
			if f.IPAddress == ip.String() {
				return true
			}
		}
	}
	return false
}

// dropStaleClaims deletes the claims this node published for ports that
// are gone: nobody else would.
func (a *Agent) dropStaleClaims(s snapshot) {
	for _, r := range a.st.List(model.KindVIPClaim) {
		c, err := store.Decode[model.VIPClaim](r)
		if err != nil || c.HostID != a.cfg.Node {
			continue
		}
		if _, ok := s.portByID[c.PortID]; !ok {
			if _, err := a.st.Delete(model.KindVIPClaim, r.ID); err != nil {
				a.log.Warn("drop stale VIP claim", "id", r.ID, "err", err)
			}
		}
	}
}
