package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/bnet-dev/bnet/maps"
)

// underlayPin is the pin name of the underlay NIC's link. It is not the
// NIC's name: the same NIC may also be a physnet NIC with its own link.
func underlayPin(nic string) string { return "underlay@" + nic }

// findUnderlay returns the device holding local_ip: GRE leaves and
// arrives there.
func findUnderlay(ip netip.Addr) (netlink.Link, error) {
	addrs, err := netlink.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, fmt.Errorf("underlay link %d: %w", a.LinkIndex, err)
			}
			return l, nil
		}
	}
	return nil, fmt.Errorf("no interface holds local_ip %s", ip)
}

// attachUnderlay puts bnet_ul_in on the underlay NIC and keeps node_cfg's
// underlay ifindex current; retried on every reconcile, so an address
// configured after the agent started is picked up.
func (a *Agent) attachUnderlay() {
	l, err := findUnderlay(a.localIP)
	idx := 0
	if err != nil {
		if a.underlayIfindex != 0 {
			a.log.Warn("underlay interface gone: GRE networks cannot forward", "err", err)
		}
	} else if err := a.links.attach(underlayPin(l.Attrs().Name), l.Attrs().Index, a.progs.UlIn); err != nil {
		a.log.Warn("attach underlay", "dev", l.Attrs().Name, "err", err)
	} else {
		idx = l.Attrs().Index
		a.underlayName = l.Attrs().Name
	}
	if idx == a.underlayIfindex {
		return
	}
	a.underlayIfindex = idx
	if err := a.writeNodeCfg(); err != nil {
		a.log.Warn("node config", "err", err)
	}
}

func (a *Agent) writeNodeCfg() error {
	return a.maps.SetNodeCfg(maps.NodeCfg{
		VXLANIfindex: uint32(a.vxlanIfindex), LocalIP: a.localIP, UnderlayIfindex: uint32(a.underlayIfindex),
		VXLANPort: uint16(a.cfg.VXLANPort), VXLANBPF: a.vxlanBPF, DecapL3: a.decapL3,
	})
}

// usableNeigh are the neighbour states whose MAC can be used.
const usableNeigh = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE |
	netlink.NUD_PERMANENT | netlink.NUD_NOARP

var errUnresolved = errors.New("next hop not resolved yet")

// resolveNH finds how to reach vtep on the underlay: the route's device and
// the MAC of its gateway (or of vtep itself when directly connected). An
// unresolved neighbour is asked for (NTF_USE starts ARP) and reported as
// errUnresolved; the caller retries shortly.
func resolveNH(vtep netip.Addr) (maps.NHRow, error) {
	routes, err := netlink.RouteGet(vtep.AsSlice())
	if err != nil || len(routes) == 0 {
		return maps.NHRow{}, fmt.Errorf("route to %s: %v", vtep, err)
	}
	r := routes[0]
	l, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return maps.NHRow{}, fmt.Errorf("route to %s: device %d: %w", vtep, r.LinkIndex, err)
	}
	target := vtep
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && gw.IsValid() && !gw.IsUnspecified() {
		target = gw.Unmap()
	}
	src := l.Attrs().HardwareAddr
	if len(src) != 6 {
		return maps.NHRow{}, fmt.Errorf("underlay device %s has no Ethernet address", l.Attrs().Name)
	}
	neighs, err := netlink.NeighList(r.LinkIndex, unix.AF_INET)
	if err != nil {
		return maps.NHRow{}, fmt.Errorf("neighbours of %s: %w", l.Attrs().Name, err)
	}
	for _, n := range neighs {
		if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == target && n.State&usableNeigh != 0 && len(n.HardwareAddr) == 6 {
			return maps.NHRow{VTEP: vtep, Ifindex: uint32(r.LinkIndex), SrcMAC: src, DstMAC: n.HardwareAddr}, nil
		}
	}
	_ = netlink.NeighSet(&netlink.Neigh{LinkIndex: r.LinkIndex, Family: unix.AF_INET, IP: net.IP(target.AsSlice()),
		State: netlink.NUD_NONE, Flags: netlink.NTF_USE})
	return maps.NHRow{}, errUnresolved
}

// retrySoon schedules a reconcile shortly: something is being resolved
// (an ARP answer) and the maps should have it as soon as it arrives.
func (a *Agent) retrySoon() { time.AfterFunc(300*time.Millisecond, a.trigger) }

// nextHops resolves the VTEPs GRE floods reach. Unresolved ones are left
// out and a reconcile is scheduled soon after; meanwhile floods count
// no_neigh for them (unicast IP needs no entry: bpf_redirect_neigh).
func (a *Agent) nextHops(vteps map[netip.Addr]bool) map[netip.Addr]maps.NHRow {
	out := map[netip.Addr]maps.NHRow{}
	pending := false
	for v := range vteps {
		nh, err := resolveNH(v)
		if err != nil {
			pending = true
			if !errors.Is(err, errUnresolved) {
				a.log.Warn("underlay next hop", "vtep", v, "err", err)
			}
			continue
		}
		out[v] = nh
	}
	if pending {
		a.retrySoon()
	}
	return out
}
