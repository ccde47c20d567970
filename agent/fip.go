package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
)

// Floating IPs are served by the node hosting the VM (seed 002 §3.2.2-3.2.3):
// the NAT happens in BPF (fips_out/fips_in), ARP for the floating IP is
// answered in BPF with the MAC of this node's own port on the external
// network — the fg- port, which also gives the node an address there to
// resolve the external next hop from, in a fip-<network> namespace that
// holds nothing else.

// portCreator is what the agent needs from the API to own ports itself.
type portCreator interface {
	CreatePort(p *model.Port) error
	DeletePort(id string) error
}

// fipNetns names the namespace holding this node's fg- port on network n.
func (a *Agent) fipNetns(netID string) string { return a.cfg.NetnsPrefix + "fip-" + netID }

func fgIfName(p model.Port) string {
	id := p.ID
	if len(id) > 11 {
		id = id[:11]
	}
	return "fg-" + id
}

// localFIPs are the floating IPs whose port is hosted here, by external
// network.
func (a *Agent) localFIPs(s snapshot) map[string][]model.FloatingIP {
	out := map[string][]model.FloatingIP{}
	for _, f := range s.fips {
		if f.PortID == nil || f.FixedIPAddress == nil {
			continue
		}
		p, ok := s.portByID[*f.PortID]
		if !ok || p.HostID != a.cfg.Node {
			continue
		}
		if f.RouterID != nil && !s.routers[*f.RouterID].Distributed {
			continue // a legacy router's: NATed in its namespace
		}
		out[f.FloatingNetworkID] = append(out[f.FloatingNetworkID], f)
	}
	return out
}

// fgPorts returns this node's fg- port per external network.
func (a *Agent) fgPorts(s snapshot) map[string]model.Port {
	out := map[string]model.Port{}
	for _, p := range s.ports {
		if p.DeviceOwner == model.OwnerFloatingIPGateway && p.HostID == a.cfg.Node {
			out[p.NetworkID] = p
		}
	}
	return out
}

// syncFGPorts creates the fg- port of every external network that has a
// floating IP here and none yet, and deletes those no floating IP needs.
// The store change brings the next reconcile, which plugs them.
func (a *Agent) syncFGPorts(s snapshot) {
	if a.portAPI == nil {
		return
	}
	need := a.localFIPs(s)
	have := a.fgPorts(s)
	for netID := range need {
		if _, ok := have[netID]; ok {
			continue
		}
		p := model.Port{
			NetworkID: netID, DeviceOwner: model.OwnerFloatingIPGateway, DeviceID: a.cfg.Node,
			HostID: a.cfg.Node, AdminStateUp: true, Name: "fg-" + a.cfg.Node,
			Profile: map[string]string{},
		}
		if err := a.portAPI.CreatePort(&p); err != nil {
			a.log.Warn("create fg port", "network", netID, "err", err)
			continue
		}
		a.log.Info("fg port created", "network", netID, "port", p.ID, "ip", p.FixedIPs)
	}
	for netID, p := range have {
		if _, ok := need[netID]; ok {
			continue
		}
		if err := a.portAPI.DeletePort(p.ID); err != nil {
			a.log.Warn("delete fg port", "port", p.ID, "err", err)
		}
	}
}

// extNextHop resolves, from inside the fip namespace, the MAC of the
// external subnet's gateway: nil until ARP has answered (NTF_USE asks).
func extNextHop(ns, ifname string, gw netip.Addr) net.HardwareAddr {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return nil
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		return nil
	}
	defer nh.Close()
	l, err := nh.LinkByName(ifname)
	if err != nil {
		return nil
	}
	neighs, _ := nh.NeighList(l.Attrs().Index, unix.AF_INET)
	for _, n := range neighs {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == gw && n.State&usableNeigh != 0 && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr
		}
	}
	_ = nh.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET, IP: net.IP(gw.AsSlice()),
		State: netlink.NUD_NONE, Flags: netlink.NTF_USE})
	return nil
}

// computeFIPs programs the floating IPs served here: the external network
// (its segment, flood list), this node's presence on it (ext_gw), both NAT
// directions, and an ARP entry so ports of the external network on this
// node reach the floating IP without leaving it.
func (a *Agent) computeFIPs(s snapshot, local map[string]localPort, netOf map[string]uint32, d *desired) {
	fg := a.fgPorts(s)
	for extID, fips := range a.localFIPs(s) {
		p, ok := fg[extID]
		_, plugged := local[p.ID]
		if !ok || !plugged {
			continue // created or plugged on a later pass
		}
		n := s.nets[extID]
		eid, _ := a.netIDs.get(n.ID)
		row, why := a.netRow(eid, n)
		if why != "" {
			a.log.Warn("floating IPs cannot be served here", "network", extID, "why", why)
			continue
		}
		netOf[extID] = eid
		d.nets[eid] = row
		if seg, ok := segmentOf(row); ok {
			d.segs[seg] = true
		}
		mac, _ := net.ParseMAC(p.MACAddress)
		fgIP, gw := a.vmAddr(s, p)
		var gwMAC net.HardwareAddr
		if gw.IsValid() {
			gwMAC = extNextHop(a.fipNetns(extID), fgIfName(p), gw)
			if gwMAC == nil {
				a.retrySoon()
			}
		}
		d.extGW[eid] = maps.ExtGWRow{NetID: eid, FgIP: fgIP.Addr(), FgMAC: mac, GwMAC: gwMAC}
		for _, f := range fips {
			port := s.portByID[*f.PortID]
			tid, ok := netOf[port.NetworkID]
			fixed, err1 := netip.ParseAddr(*f.FixedIPAddress)
			fip, err2 := netip.ParseAddr(f.FloatingIPAddress)
			if !ok || errors.Join(err1, err2) != nil {
				continue
			}
			d.fips[fip] = maps.FIPRow{NetID: tid, FixedIP: fixed, ExtNet: eid, FIP: fip}
			d.garp[fip] = garpTarget{netns: a.fipNetns(extID), ifname: fgIfName(p), mac: mac}
			d.arp[arpKey(eid, fip)] = maps.ARPRow{NetID: eid, IP: fip, MAC: mac}
		}
	}
}

// garp announces a floating IP that starts being served here, from the fg
// port inside its namespace, so the outside's ARP caches follow a floating
// IP that moved to another VM or node at once.
func garp(ns, ifname string, mac net.HardwareAddr, ip netip.Addr) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return withNetns(h, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ll := &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Protocol: htons(unix.ETH_P_ARP)}
		if err := unix.Bind(fd, ll); err != nil {
			return err
		}
		a4 := ip.As4()
		f := make([]byte, 0, 42)
		f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		f = append(f, mac...)
		f = append(f, 0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1) // request: what Linux sends for GARP
		f = append(f, mac...)
		f = append(f, a4[:]...)
		f = append(f, 0, 0, 0, 0, 0, 0)
		f = append(f, a4[:]...)
		ll.Halen = 6
		copy(ll.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		if err := unix.Sendto(fd, f, 0, ll); err != nil {
			return fmt.Errorf("send gratuitous ARP: %w", err)
		}
		return nil
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// legacyFIPs are the floating IPs of a legacy router, NATed in its qrouter
// namespace.
func (a *Agent) legacyFIPs(s snapshot, router string) []natPair {
	var out []natPair
	for _, f := range s.fips {
		if f.RouterID == nil || *f.RouterID != router || f.FixedIPAddress == nil {
			continue
		}
		fip, err1 := netip.ParseAddr(f.FloatingIPAddress)
		fixed, err2 := netip.ParseAddr(*f.FixedIPAddress)
		if err1 == nil && err2 == nil {
			out = append(out, natPair{fip: fip, fixed: fixed})
		}
	}
	return out
}
