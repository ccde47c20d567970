package maps

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/cilium/ebpf"
)

// PortRow is one ports entry: a VM port's host-side device.
type PortRow struct {
	Ifindex uint32
	NetID   uint32
	MAC     net.HardwareAddr
	Up      bool
	Secure  bool // port security: sources checked against port_addrs/port_macs
	// Security groups: Policy on means policy_check runs both ways with
	// the compiled policy PolicyID; Epoch is that policy's content hash.
	Policy      bool
	PolicyID    uint32
	Epoch       uint32
	V6In, V6Out bool // groups open to any IPv6 in / out
	// DHCP: this node's agent serves DHCP on the port's network, so the
	// port's DHCP client packets are consumed (it has answered them).
	DHCP bool
	// Stack: a router's port, into this kernel's IP stack; VXLAN for it
	// is taken apart by the kernel's device, not in BPF (bnet.h).
	Stack bool
}

// NetRow is one networks entry.
type NetRow struct {
	NetID       uint32
	Type        string // local|flat|vlan|vxlan|gre
	Segment     uint32
	PhysIfindex uint32
	MTU         uint32
	// Routed: a router interface of the network is here (rifs); ExtGW:
	// floating IPs on it are served here (ext_gw). Without them the
	// programs skip those lookups.
	Routed, ExtGW bool
}

// SegmentRow is one segments entry: what arrives from outside -> network.
type SegmentRow struct {
	Type    string
	Ifindex uint32
	Segment uint32
	NetID   uint32
}

// FDBRow is one fdb entry: a local port (Ifindex != 0, VTEP zero) or a
// remote VTEP (Ifindex 0).
type FDBRow struct {
	NetID   uint32
	MAC     net.HardwareAddr
	Ifindex uint32
	VTEP    netip.Addr
}

// ARPRow is one arp entry: the MAC the responder answers for IP.
type ARPRow struct {
	NetID uint32
	IP    netip.Addr
	MAC   net.HardwareAddr
}

// FloodRow is one network's head-end replication list.
type FloodRow struct {
	NetID  uint32
	Local  []uint32
	Remote []netip.Addr
}

// DropRow is one drop counter, summed over CPUs.
type DropRow struct {
	Ifindex uint32
	Reason  string
	Packets uint64
	Bytes   uint64
}

// MapRow describes a map's fill for `bnet map list` and metrics.
type MapRow struct {
	Name     string
	Type     string
	Entries  int
	Capacity int
}

// ---- conversions ----------------------------------------------------------

// The maps hold IPv4 addresses in network order; cilium/ebpf marshals
// uint32 in native order, so the address bytes are read natively.
func ipToU32(a netip.Addr) (uint32, error) {
	a = a.Unmap()
	if !a.Is4() {
		return 0, fmt.Errorf("%v is not an IPv4 address", a)
	}
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:]), nil
}

func u32ToIP(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func macBytes(mac net.HardwareAddr) ([6]uint8, error) {
	var b [6]uint8
	if len(mac) != 6 {
		return b, fmt.Errorf("MAC %q is not a 6-byte Ethernet address", mac.String())
	}
	copy(b[:], mac)
	return b, nil
}

func macAddr(b [6]uint8) net.HardwareAddr {
	return net.HardwareAddr(bytes.Clone(b[:]))
}

func ignoreMissing(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// ---- readers --------------------------------------------------------------

// PortRows lists ports by ifindex.
func (m *Maps) PortRows() ([]PortRow, error) {
	var (
		k    uint32
		v    bnetPortInfo
		rows []PortRow
	)
	it := m.Ports.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, PortRow{Ifindex: k, NetID: v.NetId, MAC: macAddr(v.Mac), Up: v.Flags&portUp != 0,
			Secure: v.Flags&portSecure != 0, Policy: v.Flags&portPolicy != 0, PolicyID: v.PolicyId, Epoch: v.Epoch,
			V6In: v.Flags&portV6In != 0, V6Out: v.Flags&portV6Out != 0, DHCP: v.Flags&portDHCP != 0,
			Stack: v.Flags&portStack != 0})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPorts, err)
	}
	slices.SortFunc(rows, func(a, b PortRow) int { return cmp.Compare(a.Ifindex, b.Ifindex) })
	return rows, nil
}

// NetRows lists networks by id.
func (m *Maps) NetRows() ([]NetRow, error) {
	var (
		k    uint32
		v    bnetNetInfo
		rows []NetRow
	)
	it := m.Networks.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, NetRow{NetID: k, Type: NetTypeName(v.Type), Segment: v.Segment, PhysIfindex: v.PhysIfindex, MTU: v.Mtu,
			Routed: v.Flags&netRouted != 0, ExtGW: v.Flags&netExtGW != 0})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapNetworks, err)
	}
	slices.SortFunc(rows, func(a, b NetRow) int { return cmp.Compare(a.NetID, b.NetID) })
	return rows, nil
}

// SegmentRows lists segments by (type, ifindex, segment).
func (m *Maps) SegmentRows() ([]SegmentRow, error) {
	type row struct {
		typ uint32
		r   SegmentRow
	}
	var (
		k    bnetSegmentKey
		v    uint32
		rows []row
	)
	it := m.Segments.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, row{k.Type, SegmentRow{Type: NetTypeName(k.Type), Ifindex: k.Ifindex, Segment: k.Segment, NetID: v}})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapSegments, err)
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.r.Ifindex, b.r.Ifindex), cmp.Compare(a.r.Segment, b.r.Segment))
	})
	out := make([]SegmentRow, len(rows))
	for i, r := range rows {
		out[i] = r.r
	}
	return out, nil
}

// FDBRows lists the FDB by (network, MAC).
func (m *Maps) FDBRows() ([]FDBRow, error) {
	var (
		k    bnetFdbKey
		v    bnetFdbEntry
		rows []FDBRow
	)
	it := m.FDB.Iterate()
	for it.Next(&k, &v) {
		r := FDBRow{NetID: k.NetId, MAC: macAddr(k.Mac), Ifindex: v.Ifindex}
		if v.Vtep != 0 {
			r.VTEP = u32ToIP(v.Vtep)
		}
		rows = append(rows, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapFDB, err)
	}
	slices.SortFunc(rows, func(a, b FDBRow) int {
		return cmp.Or(cmp.Compare(a.NetID, b.NetID), bytes.Compare(a.MAC, b.MAC))
	})
	return rows, nil
}

// ARPRows lists ARP answers by (network, IP).
func (m *Maps) ARPRows() ([]ARPRow, error) {
	var (
		k    bnetArpKey
		v    bnetArpEntry
		rows []ARPRow
	)
	it := m.ARP.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, ARPRow{NetID: k.NetId, IP: u32ToIP(k.Ip), MAC: macAddr(v.Mac)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapARP, err)
	}
	slices.SortFunc(rows, func(a, b ARPRow) int {
		return cmp.Or(cmp.Compare(a.NetID, b.NetID), a.IP.Compare(b.IP))
	})
	return rows, nil
}

// FloodRows lists flood lists by network; Local and Remote are never nil.
func (m *Maps) FloodRows() ([]FloodRow, error) {
	var (
		k    uint32
		v    bnetFloodEntry
		rows []FloodRow
	)
	it := m.Flood.Iterate()
	for it.Next(&k, &v) {
		r := FloodRow{NetID: k, Local: []uint32{}, Remote: []netip.Addr{}}
		for i := 0; i < int(v.N_local) && i < len(v.Local); i++ {
			r.Local = append(r.Local, v.Local[i])
		}
		for i := 0; i < int(v.N_remote) && i < len(v.Remote); i++ {
			r.Remote = append(r.Remote, u32ToIP(v.Remote[i]))
		}
		rows = append(rows, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapFlood, err)
	}
	slices.SortFunc(rows, func(a, b FloodRow) int { return cmp.Compare(a.NetID, b.NetID) })
	return rows, nil
}

// DropRows lists drop counters by (ifindex, reason value), summed over CPUs.
func (m *Maps) DropRows() ([]DropRow, error) {
	type row struct {
		reason uint32
		r      DropRow
	}
	var (
		k    bnetStatKey
		v    []bnetStatVal
		rows []row
	)
	it := m.DropStats.Iterate()
	for it.Next(&k, &v) {
		r := DropRow{Ifindex: k.Ifindex, Reason: ReasonName(k.Reason)}
		for _, cpu := range v {
			r.Packets += cpu.Packets
			r.Bytes += cpu.Bytes
		}
		rows = append(rows, row{k.Reason, r})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapDropStats, err)
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.r.Ifindex, b.r.Ifindex), cmp.Compare(a.reason, b.reason))
	})
	out := make([]DropRow, len(rows))
	for i, r := range rows {
		out[i] = r.r
	}
	return out, nil
}

var mapTypeNames = map[ebpf.MapType]string{
	ebpf.Hash:        "hash",
	ebpf.PerCPUHash:  "percpu_hash",
	ebpf.Array:       "array",
	ebpf.LPMTrie:     "lpm_trie",
	ebpf.LRUHash:     "lru_hash",
	ebpf.PerCPUArray: "percpu_array",
}

// MapRows lists every map with its fill and capacity, by name.
func (m *Maps) MapRows() ([]MapRow, error) {
	named := m.pinnedMaps()
	rows := make([]MapRow, 0, len(named))
	for _, n := range named {
		typ, ok := mapTypeNames[n.m.Type()]
		if !ok {
			typ = n.m.Type().String()
		}
		entries, err := countEntries(n.m)
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", n.name, err)
		}
		rows = append(rows, MapRow{Name: n.name, Type: typ, Entries: entries, Capacity: int(n.m.MaxEntries())})
	}
	return rows, nil
}

func countEntries(m *ebpf.Map) (int, error) {
	if m.Type() == ebpf.Array {
		// Every slot of an array exists.
		return int(m.MaxEntries()), nil
	}
	key := make([]byte, m.KeySize())
	next := make([]byte, m.KeySize())
	var prev any // nil asks for the first key
	n := 0
	for {
		if err := m.NextKey(prev, next); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return n, nil
			}
			return n, err
		}
		n++
		copy(key, next)
		prev = key
	}
}

// ---- writers --------------------------------------------------------------

// PutPort creates or replaces a port.
func (m *Maps) PutPort(r PortRow) error {
	mac, err := macBytes(r.MAC)
	if err != nil {
		return fmt.Errorf("put port %d: %w", r.Ifindex, err)
	}
	v := bnetPortInfo{NetId: r.NetID, Mac: mac, PolicyId: r.PolicyID, Epoch: r.Epoch}
	for _, f := range []struct {
		on   bool
		flag uint32
	}{{r.Up, portUp}, {r.Secure, portSecure}, {r.Policy, portPolicy}, {r.V6In, portV6In}, {r.V6Out, portV6Out}, {r.DHCP, portDHCP}, {r.Stack, portStack}} {
		if f.on {
			v.Flags |= f.flag
		}
	}
	if err := m.put(m.Ports, r.Ifindex, &v); err != nil {
		return fmt.Errorf("put port %d: %w", r.Ifindex, err)
	}
	return nil
}

// DeletePort removes a port; a missing one is not an error.
func (m *Maps) DeletePort(ifindex uint32) error {
	if err := ignoreMissing(m.Ports.Delete(ifindex)); err != nil {
		return fmt.Errorf("delete port %d: %w", ifindex, err)
	}
	return nil
}

// PutNetwork creates or replaces a network.
func (m *Maps) PutNetwork(r NetRow) error {
	typ, err := NetTypeValue(r.Type)
	if err != nil {
		return fmt.Errorf("put network %d: %w", r.NetID, err)
	}
	v := bnetNetInfo{Type: typ, Segment: r.Segment, PhysIfindex: r.PhysIfindex, Mtu: r.MTU}
	if r.Routed {
		v.Flags |= netRouted
	}
	if r.ExtGW {
		v.Flags |= netExtGW
	}
	if err := m.put(m.Networks, r.NetID, &v); err != nil {
		return fmt.Errorf("put network %d: %w", r.NetID, err)
	}
	return nil
}

// DeleteNetwork removes a network; a missing one is not an error.
func (m *Maps) DeleteNetwork(netID uint32) error {
	if err := ignoreMissing(m.Networks.Delete(netID)); err != nil {
		return fmt.Errorf("delete network %d: %w", netID, err)
	}
	return nil
}

func segmentKey(typ string, ifindex, segment uint32) (bnetSegmentKey, error) {
	t, err := NetTypeValue(typ)
	if err != nil {
		return bnetSegmentKey{}, err
	}
	return bnetSegmentKey{Type: t, Ifindex: ifindex, Segment: segment}, nil
}

// PutSegment maps an outside segment to a network.
func (m *Maps) PutSegment(r SegmentRow) error {
	k, err := segmentKey(r.Type, r.Ifindex, r.Segment)
	if err != nil {
		return fmt.Errorf("put segment %s/%d/%d: %w", r.Type, r.Ifindex, r.Segment, err)
	}
	if err := m.put(m.Segments, &k, r.NetID); err != nil {
		return fmt.Errorf("put segment %s/%d/%d: %w", r.Type, r.Ifindex, r.Segment, err)
	}
	return nil
}

// DeleteSegment removes a segment mapping; a missing one is not an error.
func (m *Maps) DeleteSegment(typ string, ifindex, segment uint32) error {
	k, err := segmentKey(typ, ifindex, segment)
	if err == nil {
		err = ignoreMissing(m.Segments.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete segment %s/%d/%d: %w", typ, ifindex, segment, err)
	}
	return nil
}

func fdbKey(netID uint32, mac net.HardwareAddr) (bnetFdbKey, error) {
	b, err := macBytes(mac)
	return bnetFdbKey{NetId: netID, Mac: b}, err
}

// PutFDB places a MAC of a network on a local port or behind a remote VTEP.
func (m *Maps) PutFDB(r FDBRow) error {
	k, v, err := fdbEntry(r)
	if err == nil {
		err = m.put(m.FDB, &k, &v)
	}
	if err != nil {
		return fmt.Errorf("put fdb %d/%s: %w", r.NetID, r.MAC, err)
	}
	return nil
}

func fdbEntry(r FDBRow) (bnetFdbKey, bnetFdbEntry, error) {
	k, err := fdbKey(r.NetID, r.MAC)
	if err != nil {
		return k, bnetFdbEntry{}, err
	}
	v := bnetFdbEntry{Ifindex: r.Ifindex}
	switch {
	case r.Ifindex != 0 && r.VTEP.IsValid():
		return k, v, errors.New("both a local port and a VTEP")
	case r.VTEP.IsValid():
		if v.Vtep, err = ipToU32(r.VTEP); err != nil || v.Vtep == 0 {
			return k, v, fmt.Errorf("bad VTEP %v", r.VTEP)
		}
	case r.Ifindex == 0:
		return k, v, errors.New("neither a local port nor a VTEP")
	}
	return k, v, nil
}

// PutFDBs is PutFDB for many rows in one bpf(BPF_MAP_UPDATE_BATCH) call,
// for a full reconcile of a large cloud. Every row is checked first; a
// batch that does not fit fails with ErrFull, the rows before the one
// that did not fit written.
func (m *Maps) PutFDBs(rows []FDBRow) error {
	keys := make([]bnetFdbKey, len(rows))
	vals := make([]bnetFdbEntry, len(rows))
	for i, r := range rows {
		var err error
		if keys[i], vals[i], err = fdbEntry(r); err != nil {
			return fmt.Errorf("put fdb %d/%s: %w", r.NetID, r.MAC, err)
		}
	}
	if err := m.putBatch(m.FDB, keys, vals, len(rows)); err != nil {
		return fmt.Errorf("put %d fdb entries: %w", len(rows), err)
	}
	return nil
}

// DeleteFDB removes a MAC from a network; a missing one is not an error.
func (m *Maps) DeleteFDB(netID uint32, mac net.HardwareAddr) error {
	k, err := fdbKey(netID, mac)
	if err == nil {
		err = ignoreMissing(m.FDB.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete fdb %d/%s: %w", netID, mac, err)
	}
	return nil
}

// PutARP sets the MAC the ARP responder answers for an IPv4 address.
func (m *Maps) PutARP(r ARPRow) error {
	ip, err := ipToU32(r.IP)
	if err != nil {
		return fmt.Errorf("put arp %d/%v: %w", r.NetID, r.IP, err)
	}
	mac, err := macBytes(r.MAC)
	if err != nil {
		return fmt.Errorf("put arp %d/%v: %w", r.NetID, r.IP, err)
	}
	if err := m.put(m.ARP, &bnetArpKey{NetId: r.NetID, Ip: ip}, &bnetArpEntry{Mac: mac}); err != nil {
		return fmt.Errorf("put arp %d/%v: %w", r.NetID, r.IP, err)
	}
	return nil
}

// PutARPs is PutARP for many rows in one batch, as PutFDBs.
func (m *Maps) PutARPs(rows []ARPRow) error {
	keys := make([]bnetArpKey, len(rows))
	vals := make([]bnetArpEntry, len(rows))
	for i, r := range rows {
		ip, err := ipToU32(r.IP)
		if err == nil {
			vals[i].Mac, err = macBytes(r.MAC)
		}
		if err != nil {
			return fmt.Errorf("put arp %d/%v: %w", r.NetID, r.IP, err)
		}
		keys[i] = bnetArpKey{NetId: r.NetID, Ip: ip}
	}
	if err := m.putBatch(m.ARP, keys, vals, len(rows)); err != nil {
		return fmt.Errorf("put %d arp entries: %w", len(rows), err)
	}
	return nil
}

// DeleteARP removes an ARP answer; a missing one is not an error.
func (m *Maps) DeleteARP(netID uint32, ip netip.Addr) error {
	v, err := ipToU32(ip)
	if err == nil {
		err = ignoreMissing(m.ARP.Delete(&bnetArpKey{NetId: netID, Ip: v}))
	}
	if err != nil {
		return fmt.Errorf("delete arp %d/%v: %w", netID, ip, err)
	}
	return nil
}

// PutFlood replaces a network's flood list; lists longer than the
// datapath's fan-out (FloodLocalMax, FloodRemoteMax) are refused whole.
func (m *Maps) PutFlood(r FloodRow) error {
	var v bnetFloodEntry
	if len(r.Local) > len(v.Local) || len(r.Remote) > len(v.Remote) {
		return fmt.Errorf("put flood %d: %d local ports and %d VTEPs exceed the limits %d and %d",
			r.NetID, len(r.Local), len(r.Remote), len(v.Local), len(v.Remote))
	}
	v.N_local = uint32(copy(v.Local[:], r.Local))
	for i, ip := range r.Remote {
		u, err := ipToU32(ip)
		if err != nil {
			return fmt.Errorf("put flood %d: VTEP: %w", r.NetID, err)
		}
		v.Remote[i] = u
	}
	v.N_remote = uint32(len(r.Remote))
	if err := m.put(m.Flood, r.NetID, &v); err != nil {
		return fmt.Errorf("put flood %d: %w", r.NetID, err)
	}
	return nil
}

// DeleteFlood removes a network's flood list; a missing one is not an error.
func (m *Maps) DeleteFlood(netID uint32) error {
	if err := ignoreMissing(m.Flood.Delete(netID)); err != nil {
		return fmt.Errorf("delete flood %d: %w", netID, err)
	}
	return nil
}

// NodeCfg is the node-wide settings row (node_cfg[0]).
type NodeCfg struct {
	VXLANIfindex    uint32
	LocalIP         netip.Addr // zero when unset
	UnderlayIfindex uint32
	// VXLANPort with VXLANBPF: VXLAN IP frames are encapsulated and
	// decapsulated by the programs, to and from that UDP port.
	VXLANPort uint16
	VXLANBPF  bool
	// DecapL3: the kernel knows BPF_F_ADJ_ROOM_DECAP_L3_* (6.3), needed
	// only to take IPv6 out of a tunnel in BPF.
	DecapL3 bool
}

// net_info.flags (BNET_NETF_* in bpf/bnet.h).
const (
	netRouted = 1 << 0
	netExtGW  = 1 << 1
)

// node_cfg.flags (BNET_NODE_* in bpf/bnet.h).
const (
	nodeVXLANBPF = 1
	nodeDecapL3  = 2
)

// SetNodeCfg writes the node-wide settings.
func (m *Maps) SetNodeCfg(c NodeCfg) error {
	v := bnetNodeCfg{VxlanIfindex: c.VXLANIfindex, UnderlayIfindex: c.UnderlayIfindex}
	v.VxlanPort = uint32(be16(c.VXLANPort))
	if c.VXLANBPF {
		v.Flags |= nodeVXLANBPF
	}
	if c.DecapL3 {
		v.Flags |= nodeDecapL3
	}
	if c.LocalIP.IsValid() {
		ip, err := ipToU32(c.LocalIP)
		if err != nil {
			return fmt.Errorf("set node config: local IP: %w", err)
		}
		v.LocalIp = ip
	}
	if err := m.put(m.NodeCfg, uint32(0), &v); err != nil {
		return fmt.Errorf("set node config: %w", err)
	}
	return nil
}

// NodeCfgRow reads back what SetNodeCfg wrote.
func (m *Maps) NodeCfgRow() (NodeCfg, error) {
	var v bnetNodeCfg
	if err := m.NodeCfg.Lookup(uint32(0), &v); err != nil {
		return NodeCfg{}, fmt.Errorf("read %s: %w", MapNodeCfg, err)
	}
	c := NodeCfg{VXLANIfindex: v.VxlanIfindex, UnderlayIfindex: v.UnderlayIfindex,
		VXLANPort: be16(uint16(v.VxlanPort)), VXLANBPF: v.Flags&nodeVXLANBPF != 0, DecapL3: v.Flags&nodeDecapL3 != 0}
	if v.LocalIp != 0 {
		c.LocalIP = u32ToIP(v.LocalIp)
	}
	return c, nil
}

// PeerRow admits a remote VTEP's tunnel traffic for one network.
type PeerRow struct {
	NetID uint32
	VTEP  netip.Addr
}

func peerKey(r PeerRow) (bnetPeerKey, error) {
	ip, err := ipToU32(r.VTEP)
	return bnetPeerKey{NetId: r.NetID, Vtep: ip}, err
}

// PutPeer admits r.
func (m *Maps) PutPeer(r PeerRow) error {
	k, err := peerKey(r)
	if err == nil {
		err = m.put(m.Peers, &k, uint32(1))
	}
	if err != nil {
		return fmt.Errorf("put tunnel peer %d/%v: %w", r.NetID, r.VTEP, err)
	}
	return nil
}

// DeletePeer withdraws r; a missing one is not an error.
func (m *Maps) DeletePeer(r PeerRow) error {
	k, err := peerKey(r)
	if err == nil {
		err = ignoreMissing(m.Peers.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete tunnel peer %d/%v: %w", r.NetID, r.VTEP, err)
	}
	return nil
}

// PeerRows lists the admitted (network, VTEP) pairs.
func (m *Maps) PeerRows() ([]PeerRow, error) {
	var (
		k    bnetPeerKey
		v    uint32
		rows []PeerRow
	)
	it := m.Peers.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, PeerRow{NetID: k.NetId, VTEP: u32ToIP(k.Vtep)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPeers, err)
	}
	slices.SortFunc(rows, func(a, b PeerRow) int {
		return cmp.Or(cmp.Compare(a.NetID, b.NetID), a.VTEP.Compare(b.VTEP))
	})
	return rows, nil
}

// NHRow is how a remote VTEP is reached on the underlay.
type NHRow struct {
	VTEP    netip.Addr
	Ifindex uint32
	SrcMAC  net.HardwareAddr
	DstMAC  net.HardwareAddr
}

// PutNH writes a VTEP's next hop.
func (m *Maps) PutNH(r NHRow) error {
	k, err := ipToU32(r.VTEP)
	if err != nil {
		return fmt.Errorf("put next hop: %w", err)
	}
	src, err := macBytes(r.SrcMAC)
	if err != nil {
		return fmt.Errorf("put next hop %v: source: %w", r.VTEP, err)
	}
	dst, err := macBytes(r.DstMAC)
	if err != nil {
		return fmt.Errorf("put next hop %v: destination: %w", r.VTEP, err)
	}
	v := bnetNhEntry{Ifindex: r.Ifindex, Smac: src, Dmac: dst}
	if err := m.put(m.NH, k, &v); err != nil {
		return fmt.Errorf("put next hop %v: %w", r.VTEP, err)
	}
	return nil
}

// DeleteNH forgets a VTEP's next hop; a missing one is not an error.
func (m *Maps) DeleteNH(vtep netip.Addr) error {
	k, err := ipToU32(vtep)
	if err == nil {
		err = ignoreMissing(m.NH.Delete(k))
	}
	if err != nil {
		return fmt.Errorf("delete next hop %v: %w", vtep, err)
	}
	return nil
}

// NHRows lists the VTEP next hops by address.
func (m *Maps) NHRows() ([]NHRow, error) {
	var (
		k    uint32
		v    bnetNhEntry
		rows []NHRow
	)
	it := m.NH.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, NHRow{VTEP: u32ToIP(k), Ifindex: v.Ifindex, SrcMAC: macAddr(v.Smac), DstMAC: macAddr(v.Dmac)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapNH, err)
	}
	slices.SortFunc(rows, func(a, b NHRow) int { return a.VTEP.Compare(b.VTEP) })
	return rows, nil
}

// ---- routing ----------------------------------------------------------------

// RIFRow is the distributed router interface (the subnet gateway) on a
// network.
type RIFRow struct {
	NetID    uint32
	RouterID uint32
	GwIP     netip.Addr
	GwMAC    net.HardwareAddr
	SNATIP   netip.Addr // the router's SNAT port on this subnet; zero: none
}

// PutRIF writes a network's router interface.
func (m *Maps) PutRIF(r RIFRow) error {
	ip, err := ipToU32(r.GwIP)
	if err != nil {
		return fmt.Errorf("put router interface %d: gateway: %w", r.NetID, err)
	}
	mac, err := macBytes(r.GwMAC)
	if err != nil {
		return fmt.Errorf("put router interface %d: %w", r.NetID, err)
	}
	v := bnetRifInfo{RouterId: r.RouterID, GwIp: ip, GwMac: mac}
	if r.SNATIP.IsValid() {
		if v.SnatIp, err = ipToU32(r.SNATIP); err != nil {
			return fmt.Errorf("put router interface %d: snat: %w", r.NetID, err)
		}
	}
	if err := m.put(m.RIFs, r.NetID, &v); err != nil {
		return fmt.Errorf("put router interface %d: %w", r.NetID, err)
	}
	return nil
}

// DeleteRIF removes a network's router interface; a missing one is not an error.
func (m *Maps) DeleteRIF(netID uint32) error {
	if err := ignoreMissing(m.RIFs.Delete(netID)); err != nil {
		return fmt.Errorf("delete router interface %d: %w", netID, err)
	}
	return nil
}

// RIFRows lists the router interfaces by network.
func (m *Maps) RIFRows() ([]RIFRow, error) {
	var (
		k    uint32
		v    bnetRifInfo
		rows []RIFRow
	)
	it := m.RIFs.Iterate()
	for it.Next(&k, &v) {
		r := RIFRow{NetID: k, RouterID: v.RouterId, GwIP: u32ToIP(v.GwIp), GwMAC: macAddr(v.GwMac)}
		if v.SnatIp != 0 {
			r.SNATIP = u32ToIP(v.SnatIp)
		}
		rows = append(rows, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapRIFs, err)
	}
	slices.SortFunc(rows, func(a, b RIFRow) int { return cmp.Compare(a.NetID, b.NetID) })
	return rows, nil
}

// RouteRow is a connected route of a router: Prefix -> egress network.
type RouteRow struct {
	RouterID uint32
	Prefix   netip.Prefix
	NetID    uint32
	SNAT     bool // the default route through the router's SNAT ports
}

// routeSNAT is BNET_ROUTE_SNAT.
const routeSNAT = 1 << 0

func routeKey(routerID uint32, p netip.Prefix) (bnetRouteKey, error) {
	ip, err := ipToU32(p.Addr())
	if err != nil || p.Bits() < 0 {
		return bnetRouteKey{}, fmt.Errorf("route %v: not an IPv4 prefix", p)
	}
	return bnetRouteKey{Prefixlen: 32 + uint32(p.Bits()), RouterId: routerID, Ip: ip}, nil
}

// PutRoute writes a route; the prefix is masked first.
func (m *Maps) PutRoute(r RouteRow) error {
	k, err := routeKey(r.RouterID, r.Prefix.Masked())
	if err == nil {
		v := bnetRouteInfo{NetId: r.NetID}
		if r.SNAT {
			v.Flags |= routeSNAT
		}
		err = m.put(m.Routes, &k, &v)
	}
	if err != nil {
		return fmt.Errorf("put route %d/%v: %w", r.RouterID, r.Prefix, err)
	}
	return nil
}

// DeleteRoute removes a route; a missing one is not an error.
func (m *Maps) DeleteRoute(routerID uint32, p netip.Prefix) error {
	k, err := routeKey(routerID, p.Masked())
	if err == nil {
		err = ignoreMissing(m.Routes.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete route %d/%v: %w", routerID, p, err)
	}
	return nil
}

// RouteRows lists the routes by router and prefix.
func (m *Maps) RouteRows() ([]RouteRow, error) {
	var (
		k    bnetRouteKey
		v    bnetRouteInfo
		rows []RouteRow
	)
	it := m.Routes.Iterate()
	for it.Next(&k, &v) {
		bits := int(k.Prefixlen) - 32
		if bits < 0 || bits > 32 {
			continue
		}
		rows = append(rows, RouteRow{RouterID: k.RouterId, Prefix: netip.PrefixFrom(u32ToIP(k.Ip), bits), NetID: v.NetId,
			SNAT: v.Flags&routeSNAT != 0})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapRoutes, err)
	}
	slices.SortFunc(rows, func(a, b RouteRow) int {
		return cmp.Or(cmp.Compare(a.RouterID, b.RouterID), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return rows, nil
}

// DVRMACRow is one node's DVR host MAC (Self: this node's).
type DVRMACRow struct {
	MAC  net.HardwareAddr
	Self bool
}

// PutDVRMAC admits mac as some node's DVR MAC.
func (m *Maps) PutDVRMAC(mac net.HardwareAddr) error {
	b, err := macBytes(mac)
	if err == nil {
		err = m.put(m.DVRMACs, &bnetMacKey{Mac: b}, uint32(1))
	}
	if err != nil {
		return fmt.Errorf("put dvr mac %v: %w", mac, err)
	}
	return nil
}

// DeleteDVRMAC forgets a DVR MAC; a missing one is not an error.
func (m *Maps) DeleteDVRMAC(mac net.HardwareAddr) error {
	b, err := macBytes(mac)
	if err == nil {
		err = ignoreMissing(m.DVRMACs.Delete(&bnetMacKey{Mac: b}))
	}
	if err != nil {
		return fmt.Errorf("delete dvr mac %v: %w", mac, err)
	}
	return nil
}

// SetDVRSelf writes this node's own DVR MAC.
func (m *Maps) SetDVRSelf(mac net.HardwareAddr) error {
	b, err := macBytes(mac)
	if err == nil {
		err = m.put(m.DVRSelf, uint32(0), &bnetMacKey{Mac: b})
	}
	if err != nil {
		return fmt.Errorf("set own dvr mac %v: %w", mac, err)
	}
	return nil
}

// DVRMACRows lists the known DVR MACs, this node's marked.
func (m *Maps) DVRMACRows() ([]DVRMACRow, error) {
	var self bnetMacKey
	if err := m.DVRSelf.Lookup(uint32(0), &self); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapDVRSelf, err)
	}
	var (
		k    bnetMacKey
		v    uint32
		rows []DVRMACRow
	)
	it := m.DVRMACs.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, DVRMACRow{MAC: macAddr(k.Mac), Self: k.Mac == self.Mac})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapDVRMACs, err)
	}
	slices.SortFunc(rows, func(a, b DVRMACRow) int { return bytes.Compare(a.MAC, b.MAC) })
	return rows, nil
}

// ---- floating IPs -------------------------------------------------------------

// FIPRow is one floating IP served by this node: the VM's (network, fixed
// IP) and the (external network, floating IP) it is known as outside.
// It is written to both fips_out and fips_in.
type FIPRow struct {
	NetID   uint32
	FixedIP netip.Addr
	ExtNet  uint32
	FIP     netip.Addr
}

// PutFIP writes both directions of a floating IP.
func (m *Maps) PutFIP(r FIPRow) error {
	fixed, err := ipToU32(r.FixedIP)
	if err != nil {
		return fmt.Errorf("put floating ip %v: fixed: %w", r.FIP, err)
	}
	fip, err := ipToU32(r.FIP)
	if err != nil {
		return fmt.Errorf("put floating ip %v: %w", r.FIP, err)
	}
	// Inbound last: a floating IP answers from outside only once its way
	// back out exists.
	if err := m.put(m.FIPsOut, &bnetArpKey{NetId: r.NetID, Ip: fixed}, &bnetFipOutInfo{Fip: fip, ExtNet: r.ExtNet}); err != nil {
		return fmt.Errorf("put floating ip %v: %w", r.FIP, err)
	}
	if err := m.put(m.FIPsIn, &bnetArpKey{NetId: r.ExtNet, Ip: fip}, &bnetFipInInfo{NetId: r.NetID, FixedIp: fixed}); err != nil {
		return fmt.Errorf("put floating ip %v: %w", r.FIP, err)
	}
	return nil
}

// DeleteFIP removes both directions; missing entries are not an error.
func (m *Maps) DeleteFIP(r FIPRow) error {
	fixed, err1 := ipToU32(r.FixedIP)
	fip, err2 := ipToU32(r.FIP)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("delete floating ip %v: %w", r.FIP, err)
	}
	if err := ignoreMissing(m.FIPsIn.Delete(&bnetArpKey{NetId: r.ExtNet, Ip: fip})); err != nil {
		return fmt.Errorf("delete floating ip %v: %w", r.FIP, err)
	}
	if err := ignoreMissing(m.FIPsOut.Delete(&bnetArpKey{NetId: r.NetID, Ip: fixed})); err != nil {
		return fmt.Errorf("delete floating ip %v: %w", r.FIP, err)
	}
	return nil
}

// FIPRows lists the floating IPs this node serves (from fips_in), by address.
func (m *Maps) FIPRows() ([]FIPRow, error) {
	var (
		k    bnetArpKey
		v    bnetFipInInfo
		rows []FIPRow
	)
	it := m.FIPsIn.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, FIPRow{NetID: v.NetId, FixedIP: u32ToIP(v.FixedIp), ExtNet: k.NetId, FIP: u32ToIP(k.Ip)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapFIPsIn, err)
	}
	slices.SortFunc(rows, func(a, b FIPRow) int { return a.FIP.Compare(b.FIP) })
	return rows, nil
}

// ExtGWRow is this node's presence on an external network: its fg address
// and the external next hop's MAC (nil until resolved).
type ExtGWRow struct {
	NetID uint32
	FgIP  netip.Addr
	FgMAC net.HardwareAddr
	GwMAC net.HardwareAddr
}

// PutExtGW writes a node's external-network presence.
func (m *Maps) PutExtGW(r ExtGWRow) error {
	ip, err := ipToU32(r.FgIP)
	if err != nil {
		return fmt.Errorf("put external gateway %d: %w", r.NetID, err)
	}
	fg, err := macBytes(r.FgMAC)
	if err != nil {
		return fmt.Errorf("put external gateway %d: fg: %w", r.NetID, err)
	}
	v := bnetExtGwInfo{FgMac: fg, FgIp: ip}
	if len(r.GwMAC) > 0 {
		if v.GwMac, err = macBytes(r.GwMAC); err != nil {
			return fmt.Errorf("put external gateway %d: next hop: %w", r.NetID, err)
		}
	}
	if err := m.put(m.ExtGW, r.NetID, &v); err != nil {
		return fmt.Errorf("put external gateway %d: %w", r.NetID, err)
	}
	return nil
}

// DeleteExtGW removes it; a missing one is not an error.
func (m *Maps) DeleteExtGW(netID uint32) error {
	if err := ignoreMissing(m.ExtGW.Delete(netID)); err != nil {
		return fmt.Errorf("delete external gateway %d: %w", netID, err)
	}
	return nil
}

// ExtGWRows lists them by network.
func (m *Maps) ExtGWRows() ([]ExtGWRow, error) {
	var (
		k    uint32
		v    bnetExtGwInfo
		rows []ExtGWRow
	)
	it := m.ExtGW.Iterate()
	for it.Next(&k, &v) {
		r := ExtGWRow{NetID: k, FgIP: u32ToIP(v.FgIp), FgMAC: macAddr(v.FgMac)}
		if v.GwMac != [6]uint8{} {
			r.GwMAC = macAddr(v.GwMac)
		}
		rows = append(rows, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapExtGW, err)
	}
	slices.SortFunc(rows, func(a, b ExtGWRow) int { return cmp.Compare(a.NetID, b.NetID) })
	return rows, nil
}

// ---- port security ------------------------------------------------------------

// PortAddrRow lets a secured port send from Prefix with MAC.
type PortAddrRow struct {
	Ifindex uint32
	Prefix  netip.Prefix
	MAC     net.HardwareAddr
}

func portAddrKey(ifindex uint32, p netip.Prefix) (bnetAddrKey, error) {
	ip, err := ipToU32(p.Masked().Addr())
	if err != nil || !p.IsValid() {
		return bnetAddrKey{}, fmt.Errorf("port %d address %v: not an IPv4 prefix", ifindex, p)
	}
	return bnetAddrKey{Prefixlen: 32 + uint32(p.Bits()), Ifindex: ifindex, Ip: ip}, nil
}

// PutPortAddr writes one allowed source of a port.
func (m *Maps) PutPortAddr(r PortAddrRow) error {
	k, err := portAddrKey(r.Ifindex, r.Prefix)
	if err != nil {
		return err
	}
	mac, err := macBytes(r.MAC)
	if err != nil {
		return fmt.Errorf("port %d address %v: %w", r.Ifindex, r.Prefix, err)
	}
	if err := m.put(m.PortAddrs, &k, &bnetArpEntry{Mac: mac}); err != nil {
		return fmt.Errorf("put port %d address %v: %w", r.Ifindex, r.Prefix, err)
	}
	return nil
}

// DeletePortAddr withdraws one; a missing one is not an error.
func (m *Maps) DeletePortAddr(ifindex uint32, p netip.Prefix) error {
	k, err := portAddrKey(ifindex, p)
	if err == nil {
		err = ignoreMissing(m.PortAddrs.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete port %d address %v: %w", ifindex, p, err)
	}
	return nil
}

// PortAddrRows lists the allowed sources of every secured port.
func (m *Maps) PortAddrRows() ([]PortAddrRow, error) {
	var (
		k    bnetAddrKey
		v    bnetArpEntry
		rows []PortAddrRow
	)
	it := m.PortAddrs.Iterate()
	for it.Next(&k, &v) {
		bits := int(k.Prefixlen) - 32
		if bits < 0 || bits > 32 {
			continue
		}
		rows = append(rows, PortAddrRow{Ifindex: k.Ifindex, Prefix: netip.PrefixFrom(u32ToIP(k.Ip), bits), MAC: macAddr(v.Mac)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPortAddrs, err)
	}
	slices.SortFunc(rows, func(a, b PortAddrRow) int {
		return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return rows, nil
}

// PortMACRow lets a secured port send with MAC.
type PortMACRow struct {
	Ifindex uint32
	MAC     net.HardwareAddr
}

func portMACKey(r PortMACRow) (bnetPortMacKey, error) {
	mac, err := macBytes(r.MAC)
	return bnetPortMacKey{Ifindex: r.Ifindex, Mac: mac}, err
}

// PutPortMAC writes one allowed source MAC of a port.
func (m *Maps) PutPortMAC(r PortMACRow) error {
	k, err := portMACKey(r)
	if err == nil {
		err = m.put(m.PortMACs, &k, uint32(1))
	}
	if err != nil {
		return fmt.Errorf("put port %d mac %v: %w", r.Ifindex, r.MAC, err)
	}
	return nil
}

// DeletePortMAC withdraws one; a missing one is not an error.
func (m *Maps) DeletePortMAC(r PortMACRow) error {
	k, err := portMACKey(r)
	if err == nil {
		err = ignoreMissing(m.PortMACs.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete port %d mac %v: %w", r.Ifindex, r.MAC, err)
	}
	return nil
}

// PortMACRows lists the allowed source MACs of every secured port.
func (m *Maps) PortMACRows() ([]PortMACRow, error) {
	var (
		k    bnetPortMacKey
		v    uint32
		rows []PortMACRow
	)
	it := m.PortMACs.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, PortMACRow{Ifindex: k.Ifindex, MAC: macAddr(k.Mac)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPortMACs, err)
	}
	slices.SortFunc(rows, func(a, b PortMACRow) int {
		return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), bytes.Compare(a.MAC, b.MAC))
	})
	return rows, nil
}
