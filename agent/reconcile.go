package agent

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// snapshot is the replicated state one reconcile works from.
type snapshot struct {
	nets     map[string]model.Network
	subnets  map[string]model.Subnet
	ports    []model.Port // winners only, sorted by ID
	routers  map[string]model.Router
	fips     []model.FloatingIP
	sgs      []model.SecurityGroup
	sgRules  []model.SecurityGroupRule
	claims   []model.VIPClaim
	portByID map[string]model.Port
	losers   map[string]string
}

func (a *Agent) snapshot() snapshot {
	s := snapshot{nets: map[string]model.Network{}, subnets: map[string]model.Subnet{}, routers: map[string]model.Router{},
		portByID: map[string]model.Port{}}
	for _, r := range a.st.List(model.KindFloatingIP) {
		if f, err := store.Decode[model.FloatingIP](r); err == nil {
			s.fips = append(s.fips, f)
		}
	}
	for _, r := range a.st.List(model.KindSecurityGroup) {
		if g, err := store.Decode[model.SecurityGroup](r); err == nil {
			s.sgs = append(s.sgs, g)
		}
	}
	for _, r := range a.st.List(model.KindSecurityGroupRule) {
		if g, err := store.Decode[model.SecurityGroupRule](r); err == nil {
			s.sgRules = append(s.sgRules, g)
		}
	}
	for _, r := range a.st.List(model.KindVIPClaim) {
		if c, err := store.Decode[model.VIPClaim](r); err == nil {
			s.claims = append(s.claims, c)
		}
	}
	for _, r := range a.st.List(model.KindRouter) {
		if rt, err := store.Decode[model.Router](r); err == nil {
			s.routers[rt.ID] = rt
		}
	}
	var nets []model.Network
	var subs []model.Subnet
	var ports []model.Port
	for _, r := range a.st.List(model.KindNetwork) {
		if n, err := store.Decode[model.Network](r); err == nil {
			nets = append(nets, n)
		}
	}
	for _, r := range a.st.List(model.KindSubnet) {
		if n, err := store.Decode[model.Subnet](r); err == nil {
			subs = append(subs, n)
		}
	}
	for _, r := range a.st.List(model.KindPort) {
		if p, err := store.Decode[model.Port](r); err == nil {
			ports = append(ports, p)
		}
	}
	s.losers = model.Resolve(nets, subs, ports)
	for _, n := range nets {
		if _, lost := s.losers[n.ID]; !lost {
			s.nets[n.ID] = n
		}
	}
	for _, sb := range subs {
		if _, lost := s.losers[sb.ID]; !lost {
			s.subnets[sb.ID] = sb
		}
	}
	for _, p := range ports {
		if _, lost := s.losers[p.ID]; lost {
			continue
		}
		if _, ok := s.nets[p.NetworkID]; !ok {
			continue
		}
		s.ports = append(s.ports, p)
		s.portByID[p.ID] = p
	}
	return s
}

// nodeView is what gossip says about one node.
type nodeView struct {
	vtep netip.Addr
	// alive: its ports and VTEP are programmed — answering (live), or dead
	// for less than node_dead_hold.
	alive   bool
	live    bool // alive or suspect in gossip, and trusted
	state   string
	since   time.Time // in state since
	upSince time.Time // came up (joined, or back from dead) at
	dvrMAC  net.HardwareAddr
	network bool // has the network role: may hold SNAT
}

func (a *Agent) nodes() map[string]nodeView {
	v := map[string]nodeView{}
	if !a.synced.Load() && a.peers != nil {
		// Before the first sync the peers seen alive last time still are.
		v = a.peers.views()
	}
	for _, m := range a.gossipMembers() {
		ip, _ := netip.ParseAddr(m.Meta.VTEP)
		mac, _ := net.ParseMAC(m.Meta.DVRMAC)
		if !m.Trusted {
			mac = nil // node identities: believed no more than its VTEP
		}
		live := (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) && m.Trusted
		held := m.Trusted && m.State == gossip.StateDead && time.Since(m.Since) < a.cfg.DeadHold()
		v[m.Name] = nodeView{vtep: ip, alive: live || held, live: live, state: m.State, since: m.Since, upSince: m.UpSince, dvrMAC: mac,
			network: slices.Contains(m.Meta.Roles, "network")}
	}
	v[a.cfg.Node] = nodeView{vtep: a.localIP, alive: true, live: true, state: gossip.StateAlive, upSince: a.getUpSince(), dvrMAC: a.dvrMAC,
		network: a.cfg.HasRole("network")}
	return v
}

func (a *Agent) gossipMembers() []gossip.Member {
	if a.gossip == nil {
		return nil
	}
	return a.gossip.Members()
}

// desired is every map entry this node should hold.
type desired struct {
	nets  map[uint32]maps.NetRow
	segs  map[maps.SegmentRow]bool
	ports map[uint32]maps.PortRow
	fdb   map[string]maps.FDBRow
	arp   map[string]maps.ARPRow
	flood map[uint32]maps.FloodRow
	peers map[maps.PeerRow]bool
	nh    map[netip.Addr]maps.NHRow
	// Distributed routing.
	rifs    map[uint32]maps.RIFRow
	routes  map[maps.RouteRow]bool
	dvrMACs map[string]net.HardwareAddr
	// Port security: what each secured local port may send from.
	portAddrs map[string]maps.PortAddrRow // by ifindex/prefix
	portMACs  map[string]maps.PortMACRow  // by ifindex/mac
	// Floating IPs served here.
	extGW map[uint32]maps.ExtGWRow
	fips  map[netip.Addr]maps.FIPRow
	garp  map[netip.Addr]garpTarget
	// Security groups of the local ports, compiled.
	policyIPs   map[policyIPKey]uint32
	policyPorts map[policyPortKey]uint32
	// Distributed DHCP: the local ports whose DHCP this node answers
	// (ifindex -> device) and what each is told.
	dhcpPorts  map[int]string
	dhcpLeases map[int]dhcpLease
}

// garpTarget is where a floating IP newly served here is announced from.
type garpTarget struct {
	netns, ifname string
	mac           net.HardwareAddr
	ip            netip.Addr
}

func fdbKey(net uint32, mac net.HardwareAddr) string { return fmt.Sprintf("%d/%s", net, mac) }
func arpKey(net uint32, ip netip.Addr) string        { return fmt.Sprintf("%d/%s", net, ip) }

// localPort is a port hosted here, with the device it was plugged on.
type localPort struct {
	port    model.Port
	ifname  string
	ifindex int
}

// netRow says how network n leaves this node; ok is false when it cannot
// (its physnet is not on this node), with the reason.
func (a *Agent) netRow(id uint32, n model.Network) (maps.NetRow, string) {
	r := maps.NetRow{NetID: id, Type: n.NetworkType, MTU: uint32(n.MTU)}
	if n.SegmentationID != nil {
		r.Segment = uint32(*n.SegmentationID)
	}
	switch n.NetworkType {
	case model.TypeFlat, model.TypeVLAN:
		if n.PhysicalNetwork == nil {
			return r, "network has no physnet"
		}
		nic, ok := a.cfg.Physnets[*n.PhysicalNetwork]
		if !ok {
			return r, fmt.Sprintf("physnet %s is not on node %s", *n.PhysicalNetwork, a.cfg.Node)
		}
		idx, ok := a.physIfindex[nic]
		if !ok {
			return r, fmt.Sprintf("physnet %s: interface %s not found", *n.PhysicalNetwork, nic)
		}
		r.PhysIfindex = uint32(idx)
	case model.TypeVXLAN:
		if a.vxlanIfindex == 0 {
			return r, "no VXLAN device"
		}
	case model.TypeGRE:
		if a.underlayIfindex == 0 {
			return r, fmt.Sprintf("no interface holds local_ip %s: GRE has no underlay", a.localIP)
		}
	case model.TypeLocal:
	default:
		return r, fmt.Sprintf("network type %s is not supported by this node", n.NetworkType)
	}
	return r, ""
}

func segmentOf(r maps.NetRow) (maps.SegmentRow, bool) {
	switch r.Type {
	case model.TypeVXLAN, model.TypeGRE:
		return maps.SegmentRow{Type: r.Type, Segment: r.Segment, NetID: r.NetID}, true
	case model.TypeFlat:
		return maps.SegmentRow{Type: r.Type, Ifindex: r.PhysIfindex, NetID: r.NetID}, true
	case model.TypeVLAN:
		return maps.SegmentRow{Type: r.Type, Ifindex: r.PhysIfindex, Segment: r.Segment, NetID: r.NetID}, true
	}
	return maps.SegmentRow{}, false
}

// compute derives the desired map contents from the snapshot, the local
// ports already plugged and gossip membership.
func (a *Agent) compute(s snapshot, local map[string]localPort, nodes map[string]nodeView, snat map[string]string) (desired, map[string]status) {
	d := desired{
		nets: map[uint32]maps.NetRow{}, segs: map[maps.SegmentRow]bool{}, ports: map[uint32]maps.PortRow{},
		fdb: map[string]maps.FDBRow{}, arp: map[string]maps.ARPRow{}, flood: map[uint32]maps.FloodRow{},
		peers: map[maps.PeerRow]bool{}, nh: map[netip.Addr]maps.NHRow{},
		rifs: map[uint32]maps.RIFRow{}, routes: map[maps.RouteRow]bool{}, dvrMACs: map[string]net.HardwareAddr{},
		extGW: map[uint32]maps.ExtGWRow{}, fips: map[netip.Addr]maps.FIPRow{}, garp: map[netip.Addr]garpTarget{},
		portAddrs: map[string]maps.PortAddrRow{}, portMACs: map[string]maps.PortMACRow{},
		policyIPs: map[policyIPKey]uint32{}, policyPorts: map[policyPortKey]uint32{},
		dhcpPorts: map[int]string{}, dhcpLeases: map[int]dhcpLease{},
	}
	st := map[string]status{}
	servers := dhcpServers(s)
	dhcpNets := dhcpNetworks(s, servers)
	// Only networks with a port on this node are programmed here, as
	// Neutron only installs br-tun flows for networks with local ports.
	netOf := map[string]uint32{}
	for _, lp := range local {
		n := s.nets[lp.port.NetworkID]
		id, _ := a.netIDs.get(n.ID)
		row, why := a.netRow(id, n)
		if why != "" {
			st[lp.port.ID] = status{model.StatusError, why}
			continue
		}
		netOf[n.ID] = id
		d.nets[id] = row
		if seg, ok := segmentOf(row); ok {
			d.segs[seg] = true
		}
		mac, _ := net.ParseMAC(lp.port.MACAddress)
		secure := lp.port.PortSecurity() && !lp.port.NetworkOwned()
		dhcp := dhcpNets[n.ID] && !lp.port.NetworkOwned()
		d.ports[uint32(lp.ifindex)] = maps.PortRow{Ifindex: uint32(lp.ifindex), NetID: id, MAC: mac,
			Up: lp.port.AdminStateUp, Secure: secure, DHCP: dhcp, Stack: model.IsRouterPort(lp.port.DeviceOwner)}
		if dhcp {
			d.dhcpPorts[lp.ifindex] = lp.ifname
			if l, ok := leaseFor(s, servers, lp.port, a.leaseTime()); ok {
				d.dhcpLeases[lp.ifindex] = l
			}
		}
		if secure {
			portSources(uint32(lp.ifindex), lp.port, mac, &d)
		}
		if lp.port.AdminStateUp {
			st[lp.port.ID] = status{model.StatusActive, ""}
		} else {
			st[lp.port.ID] = status{model.StatusDown, "admin down"}
		}
	}
	a.computePolicy(s, local, &d)
	a.computeRouters(s, local, netOf, nodes, &d)
	a.computeFIPs(s, local, netOf, &d)
	for _, nv := range nodes {
		if len(nv.dvrMAC) == 6 {
			d.dvrMACs[nv.dvrMAC.String()] = nv.dvrMAC
		}
	}
	remotes := map[uint32]map[netip.Addr]bool{}
	for _, p := range s.ports {
		id, ok := netOf[p.NetworkID]
		mac, err := net.ParseMAC(p.MACAddress)
		if err != nil {
			continue
		}
		host := p.HostID
		if isSNATPort(p) {
			// Hosted wherever snatHosts says, on every node alike (qr- of
			// legacy routers included: they are ordinary ports there).
			host = snat[p.DeviceID]
			if host == "" {
				st[p.ID] = status{model.StatusDown, "no live network node to hold SNAT"}
				continue
			}
		} else if p.NetworkOwned() && p.DeviceOwner != model.OwnerFloatingIPGateway {
			// A router interface is the gateway on every node hosting its
			// router: answered by the ARP responder, routed by rifs, never
			// an FDB entry pointing at some other node. A DHCP port is
			// answered for the same way, and its clients' packets never
			// leave the port they came from.
			if ok && (model.IsRouterInterface(p.DeviceOwner) || p.DeviceOwner == model.OwnerDHCP) {
				for _, ip := range p.FixedIPs {
					if addr, err := netip.ParseAddr(ip.IPAddress); err == nil && addr.Is4() {
						d.arp[arpKey(id, addr)] = maps.ARPRow{NetID: id, IP: addr, MAC: mac}
					}
				}
			}
			continue
		}
		row := maps.FDBRow{NetID: id, MAC: mac}
		if host == a.cfg.Node {
			lp, plugged := local[p.ID]
			if !plugged || !ok {
				continue
			}
			row.Ifindex = uint32(lp.ifindex)
			fl := d.flood[id]
			fl.NetID = id
			fl.Local = append(fl.Local, uint32(lp.ifindex))
			d.flood[id] = fl
		} else {
			nv := nodes[host]
			if !nv.alive || !nv.vtep.IsValid() {
				st[p.ID] = status{model.StatusDown, fmt.Sprintf("host %s is not alive", host)}
				continue
			}
			if nv.live {
				st[p.ID] = status{model.StatusActive, ""}
			} else {
				st[p.ID] = status{model.StatusDown, fmt.Sprintf("host %s is %s since %s: its entries are kept until node_dead_hold ends",
					host, nv.state, nv.since.UTC().Format(time.RFC3339))}
			}
			// A local network is a separate island on every node.
			if !ok || d.nets[id].Type == model.TypeLocal {
				continue
			}
			row.VTEP = nv.vtep
			if remotes[id] == nil {
				remotes[id] = map[netip.Addr]bool{}
			}
			remotes[id][nv.vtep] = true
		}
		d.fdb[fdbKey(id, mac)] = row
		for _, ip := range p.FixedIPs {
			if addr, err := netip.ParseAddr(ip.IPAddress); err == nil && addr.Is4() {
				d.arp[arpKey(id, addr)] = maps.ARPRow{NetID: id, IP: addr, MAC: mac}
			}
		}
	}
	a.computeClaims(s, netOf, &d)
	greVTEPs := map[netip.Addr]bool{}
	for id, fl := range d.flood {
		// Only overlays flood to VTEPs: flat and VLAN networks reach other
		// nodes through the physical network. The same VTEPs, and only
		// they, may send us the network's tunnel traffic.
		if typ := d.nets[id].Type; typ == model.TypeVXLAN || typ == model.TypeGRE {
			// Endpoints no agent tells about (hardware VTEPs, legacy
			// nodes) are listed in the config per segment.
			for _, v := range a.cfg.StaticVTEPsOf(typ, d.nets[id].Segment) {
				if v == a.localIP {
					continue
				}
				if remotes[id] == nil {
					remotes[id] = map[netip.Addr]bool{}
				}
				remotes[id][v] = true
			}
			for v := range remotes[id] {
				fl.Remote = append(fl.Remote, v)
				d.peers[maps.PeerRow{NetID: id, VTEP: v}] = true
				if typ == model.TypeGRE {
					greVTEPs[v] = true
				}
			}
		}
		slices.Sort(fl.Local)
		sort.Slice(fl.Remote, func(i, j int) bool { return fl.Remote[i].Less(fl.Remote[j]) })
		d.flood[id] = fl
	}
	if len(greVTEPs) > 0 {
		d.nh = a.nextHops(greVTEPs)
	}
	return d, st
}

// computeRouters programs the distributed routers present on this node:
// a router is here when a local port sits on one of its subnets' networks
// (seed 002 §4.1.1), and then every network it routes is programmed here
// too, with its gateway (rifs) and its connected routes.
func (a *Agent) computeRouters(s snapshot, local map[string]localPort, netOf map[string]uint32, nodes map[string]nodeView, d *desired) {
	ifaces := map[string][]model.Port{} // router -> its interface ports
	routerOf := map[string]string{}     // network -> router routing it
	for _, p := range s.ports {
		if p.DeviceOwner != model.OwnerRouterDVR {
			continue
		}
		if _, ok := s.routers[p.DeviceID]; !ok {
			continue
		}
		ifaces[p.DeviceID] = append(ifaces[p.DeviceID], p)
		routerOf[p.NetworkID] = p.DeviceID
	}
	snatIP := map[string]netip.Addr{} // router/network -> its SNAT port's address
	for _, p := range s.ports {
		if p.DeviceOwner == model.OwnerRouterSNAT && len(p.FixedIPs) > 0 {
			if ip, err := netip.ParseAddr(p.FixedIPs[0].IPAddress); err == nil {
				snatIP[p.DeviceID+"/"+p.NetworkID] = ip
			}
		}
	}
	present := map[string]bool{}
	for _, lp := range local {
		if r, ok := routerOf[lp.port.NetworkID]; ok && s.routers[r].AdminStateUp {
			present[r] = true
		}
	}
	// Where else each router is: a node routing into a network sends that
	// network's tunnel traffic without hosting a port on it, so it must be
	// admitted (tunnel_peers) for every network of the router.
	hosts := map[string]map[netip.Addr]bool{}
	for _, p := range s.ports {
		r, ok := routerOf[p.NetworkID]
		if !ok || p.NetworkOwned() || p.HostID == a.cfg.Node {
			continue
		}
		if nv := nodes[p.HostID]; nv.alive && nv.vtep.IsValid() {
			if hosts[r] == nil {
				hosts[r] = map[netip.Addr]bool{}
			}
			hosts[r][nv.vtep] = true
		}
	}
	for r := range present {
		rid, _ := a.netIDs.get(routerKey(r))
		for _, p := range ifaces[r] {
			n := s.nets[p.NetworkID]
			id, _ := a.netIDs.get(n.ID)
			row, why := a.netRow(id, n)
			if why != "" {
				a.log.Warn("router interface cannot be programmed", "router", r, "network", n.ID, "why", why)
				continue
			}
			netOf[n.ID] = id
			d.nets[id] = row
			if seg, ok := segmentOf(row); ok {
				d.segs[seg] = true
			}
			if _, ok := d.flood[id]; !ok {
				d.flood[id] = maps.FloodRow{NetID: id}
			}
			mac, err := net.ParseMAC(p.MACAddress)
			if err != nil || len(p.FixedIPs) == 0 {
				continue
			}
			gw, err := netip.ParseAddr(p.FixedIPs[0].IPAddress)
			sub, ok := s.subnets[p.FixedIPs[0].SubnetID]
			if err != nil || !ok {
				continue
			}
			pfx, err := netip.ParsePrefix(sub.CIDR)
			if err != nil {
				continue
			}
			d.rifs[id] = maps.RIFRow{NetID: id, RouterID: rid, GwIP: gw, GwMAC: mac, SNATIP: snatIP[r+"/"+p.NetworkID]}
			if gwi := s.routers[r].ExternalGateway; gwi != nil && gwi.EnableSNAT && snatIP[r+"/"+p.NetworkID].IsValid() {
				d.routes[maps.RouteRow{RouterID: rid, Prefix: netip.PrefixFrom(netip.IPv4Unspecified(), 0), SNAT: true}] = true
			}
			if row.Type == model.TypeVXLAN || row.Type == model.TypeGRE {
				for v := range hosts[r] {
					d.peers[maps.PeerRow{NetID: id, VTEP: v}] = true
				}
			}
			d.routes[maps.RouteRow{RouterID: rid, Prefix: pfx.Masked(), NetID: id}] = true
		}
	}
}

// routerKey names a router in the node-local id space it shares with
// networks.
func routerKey(id string) string { return "router/" + id }

// putBatch writes rows with one batch call (maps.PutFDBs, PutARPs: one
// syscall for a remote node's thousands of ports, not one each). A batch
// that fails stops at its first bad row and says only that it failed (a
// row the maps refuse, the map full, a kernel without batch updates), so
// then every row is written again one by one: writing a row twice is
// harmless, a full map still takes updates of the entries it holds, and
// keep gets exactly the errors the single writes give, one per row that
// did not go in, each naming its row.
func putBatch[R any](rows []R, batch func([]R) error, one func(R) error, keep func(error)) {
	if len(rows) == 0 || batch(rows) == nil {
		return
	}
	for _, r := range rows {
		keep(one(r))
	}
}

// program makes the maps hold exactly d: changed entries are written,
// entries nobody wants are removed, correct ones are left alone (a restart
// rewrites nothing that is right).
func (a *Agent) program(d desired) error {
	m := a.maps
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// Order matters for packets in flight: add before remove, and networks
	// before what points at them.
	curNets, err := m.NetRows()
	keep(err)
	haveNet := map[uint32]maps.NetRow{}
	for _, r := range curNets {
		haveNet[r.NetID] = r
	}
	for id, r := range d.nets {
		_, r.Routed = d.rifs[id]
		_, r.ExtGW = d.extGW[id]
		if haveNet[id] != r {
			keep(m.PutNetwork(r))
		}
	}
	curSegs, err := m.SegmentRows()
	keep(err)
	haveSeg := map[maps.SegmentRow]bool{}
	for _, r := range curSegs {
		haveSeg[r] = true
	}
	for r := range d.segs {
		if !haveSeg[r] {
			keep(m.PutSegment(r))
		}
	}
	// Policies go in before the ports that use them.
	haveIPs, havePolicyPorts := a.programPolicyAdd(d, keep)
	a.programPolicyRemove(d, haveIPs, havePolicyPorts, true, keep)
	// A port's allowed sources go in before the port is marked secure.
	curAddrs, err := m.PortAddrRows()
	keep(err)
	haveAddr := map[string]maps.PortAddrRow{}
	for _, r := range curAddrs {
		haveAddr[fmt.Sprintf("%d/%s", r.Ifindex, r.Prefix)] = r
	}
	for k, r := range d.portAddrs {
		if h, ok := haveAddr[k]; !ok || !bytes.Equal(h.MAC, r.MAC) {
			keep(m.PutPortAddr(r))
		}
	}
	curMACs, err := m.PortMACRows()
	keep(err)
	haveMAC := map[string]maps.PortMACRow{}
	for _, r := range curMACs {
		haveMAC[fmt.Sprintf("%d/%s", r.Ifindex, r.MAC)] = r
	}
	for k, r := range d.portMACs {
		if _, ok := haveMAC[k]; !ok {
			keep(m.PutPortMAC(r))
		}
	}
	curPorts, err := m.PortRows()
	keep(err)
	havePort := map[uint32]maps.PortRow{}
	for _, r := range curPorts {
		havePort[r.Ifindex] = r
	}
	for idx, r := range d.ports {
		if h, ok := havePort[idx]; !ok || !samePort(h, r) {
			keep(m.PutPort(r))
		}
	}
	curFDB, err := m.FDBRows()
	keep(err)
	haveFDB := map[string]maps.FDBRow{}
	for _, r := range curFDB {
		haveFDB[fdbKey(r.NetID, r.MAC)] = r
	}
	var putFDB []maps.FDBRow
	for k, r := range d.fdb {
		if h, ok := haveFDB[k]; !ok || h.Ifindex != r.Ifindex || h.VTEP != r.VTEP {
			putFDB = append(putFDB, r)
		}
	}
	putBatch(putFDB, m.PutFDBs, m.PutFDB, keep)
	curARP, err := m.ARPRows()
	keep(err)
	haveARP := map[string]maps.ARPRow{}
	for _, r := range curARP {
		haveARP[arpKey(r.NetID, r.IP)] = r
	}
	var putARP []maps.ARPRow
	for k, r := range d.arp {
		if h, ok := haveARP[k]; !ok || !bytes.Equal(h.MAC, r.MAC) {
			putARP = append(putARP, r)
		}
	}
	putBatch(putARP, m.PutARPs, m.PutARP, keep)
	curFlood, err := m.FloodRows()
	keep(err)
	haveFlood := map[uint32]maps.FloodRow{}
	for _, r := range curFlood {
		haveFlood[r.NetID] = r
	}
	for id, r := range d.flood {
		if h, ok := haveFlood[id]; !ok || !slices.Equal(h.Local, r.Local) || !slices.Equal(h.Remote, r.Remote) {
			keep(m.PutFlood(r))
		}
	}
	curPeers, err := m.PeerRows()
	keep(err)
	havePeer := map[maps.PeerRow]bool{}
	for _, r := range curPeers {
		havePeer[r] = true
	}
	for r := range d.peers {
		if !havePeer[r] {
			keep(m.PutPeer(r))
		}
	}
	curNH, err := m.NHRows()
	keep(err)
	haveNH := map[netip.Addr]maps.NHRow{}
	for _, r := range curNH {
		haveNH[r.VTEP] = r
	}
	for v, r := range d.nh {
		if h, ok := haveNH[v]; !ok || h.Ifindex != r.Ifindex || !bytes.Equal(h.SrcMAC, r.SrcMAC) || !bytes.Equal(h.DstMAC, r.DstMAC) {
			keep(m.PutNH(r))
		}
	}
	curRIF, err := m.RIFRows()
	keep(err)
	haveRIF := map[uint32]maps.RIFRow{}
	for _, r := range curRIF {
		haveRIF[r.NetID] = r
	}
	for id, r := range d.rifs {
		if h, ok := haveRIF[id]; !ok || h.RouterID != r.RouterID || h.GwIP != r.GwIP || h.SNATIP != r.SNATIP || !bytes.Equal(h.GwMAC, r.GwMAC) {
			keep(m.PutRIF(r))
		}
	}
	curRoutes, err := m.RouteRows()
	keep(err)
	haveRoute := map[maps.RouteRow]bool{}
	for _, r := range curRoutes {
		haveRoute[r] = true
	}
	for r := range d.routes {
		if !haveRoute[r] {
			keep(m.PutRoute(r))
		}
	}
	curDVR, err := m.DVRMACRows()
	keep(err)
	haveDVR := map[string]bool{}
	for _, r := range curDVR {
		haveDVR[r.MAC.String()] = true
	}
	for k, mac := range d.dvrMACs {
		if !haveDVR[k] {
			keep(m.PutDVRMAC(mac))
		}
	}
	curExt, err := m.ExtGWRows()
	keep(err)
	haveExt := map[uint32]maps.ExtGWRow{}
	for _, r := range curExt {
		haveExt[r.NetID] = r
	}
	for id, r := range d.extGW {
		if h, ok := haveExt[id]; !ok || h.FgIP != r.FgIP || !bytes.Equal(h.FgMAC, r.FgMAC) || !bytes.Equal(h.GwMAC, r.GwMAC) {
			keep(m.PutExtGW(r))
		}
	}
	curFIPs, err := m.FIPRows()
	keep(err)
	haveFIP := map[netip.Addr]maps.FIPRow{}
	for _, r := range curFIPs {
		haveFIP[r.FIP] = r
	}
	for ip, r := range d.fips {
		if h, ok := haveFIP[ip]; !ok || h != r {
			if ok {
				keep(m.DeleteFIP(h))
			}
			keep(m.PutFIP(r))
			if t, ok := d.garp[ip]; ok {
				// Sent once the fg port is up, at the end of the reconcile.
				t.ip = ip
				a.announce = append(a.announce, t)
			}
		}
	}
	// Removals.
	a.programPolicyRemove(d, haveIPs, havePolicyPorts, false, keep)
	for k, r := range haveAddr {
		if _, ok := d.portAddrs[k]; !ok {
			keep(m.DeletePortAddr(r.Ifindex, r.Prefix))
		}
	}
	for k, r := range haveMAC {
		if _, ok := d.portMACs[k]; !ok {
			keep(m.DeletePortMAC(r))
		}
	}
	for ip, r := range haveFIP {
		if _, ok := d.fips[ip]; !ok {
			keep(m.DeleteFIP(r))
		}
	}
	for id := range haveExt {
		if _, ok := d.extGW[id]; !ok {
			keep(m.DeleteExtGW(id))
		}
	}
	for _, r := range curDVR {
		if _, ok := d.dvrMACs[r.MAC.String()]; !ok {
			keep(m.DeleteDVRMAC(r.MAC))
		}
	}
	for r := range haveRoute {
		// A route whose prefix or network changed is a new row: the old
		// one goes unless the new one has the same key (Put replaced it).
		if !d.routes[r] && !sameRouteKey(d.routes, r) {
			keep(m.DeleteRoute(r.RouterID, r.Prefix))
		}
	}
	for id := range haveRIF {
		if _, ok := d.rifs[id]; !ok {
			keep(m.DeleteRIF(id))
		}
	}
	for v := range haveNH {
		if _, ok := d.nh[v]; !ok {
			keep(m.DeleteNH(v))
		}
	}
	for r := range havePeer {
		if !d.peers[r] {
			keep(m.DeletePeer(r))
		}
	}
	for id := range haveFlood {
		if _, ok := d.flood[id]; !ok {
			keep(m.DeleteFlood(id))
		}
	}
	for k, r := range haveARP {
		if _, ok := d.arp[k]; !ok {
			keep(m.DeleteARP(r.NetID, r.IP))
		}
	}
	for k, r := range haveFDB {
		if _, ok := d.fdb[k]; !ok {
			keep(m.DeleteFDB(r.NetID, r.MAC))
		}
	}
	for idx := range havePort {
		if _, ok := d.ports[idx]; !ok {
			keep(m.DeletePort(idx))
		}
	}
	for r := range haveSeg {
		if !d.segs[r] {
			keep(m.DeleteSegment(r.Type, r.Ifindex, r.Segment))
		}
	}
	for id := range haveNet {
		if _, ok := d.nets[id]; !ok {
			keep(m.DeleteNetwork(id))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("program maps: %v (and %d more)", errs[0], len(errs)-1)
	}
	return nil
}

// sameRouteKey reports whether want holds a route with r's key (router,
// prefix) but another value: then r was overwritten, not removed.
func sameRouteKey(want map[maps.RouteRow]bool, r maps.RouteRow) bool {
	for w := range want {
		if w.RouterID == r.RouterID && w.Prefix == r.Prefix {
			return true
		}
	}
	return false
}

// portSources lists what a secured port may send from: its MAC with each
// fixed IPv4 address, and each allowed address pair (an IP or CIDR, with
// its own MAC or the port's), as Neutron's allowed-address-pairs do.
func portSources(ifindex uint32, p model.Port, mac net.HardwareAddr, d *desired) {
	addMAC := func(m net.HardwareAddr) {
		d.portMACs[fmt.Sprintf("%d/%s", ifindex, m)] = maps.PortMACRow{Ifindex: ifindex, MAC: m}
	}
	addAddr := func(pfx netip.Prefix, m net.HardwareAddr) {
		d.portAddrs[fmt.Sprintf("%d/%s", ifindex, pfx)] = maps.PortAddrRow{Ifindex: ifindex, Prefix: pfx, MAC: m}
	}
	addMAC(mac)
	for _, f := range p.FixedIPs {
		if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is4() {
			addAddr(netip.PrefixFrom(a, 32), mac)
		}
	}
	for _, pair := range p.AllowedAddressPairs {
		pm := mac
		if pair.MACAddress != "" {
			if m, err := net.ParseMAC(pair.MACAddress); err == nil && len(m) == 6 {
				pm = m
			}
		}
		pfx, err := netip.ParsePrefix(pair.IPAddress)
		if err != nil {
			a, err := netip.ParseAddr(pair.IPAddress)
			if err != nil || !a.Is4() {
				continue
			}
			pfx = netip.PrefixFrom(a, 32)
		}
		if !pfx.Addr().Is4() {
			continue
		}
		addMAC(pm)
		addAddr(pfx.Masked(), pm)
	}
}
