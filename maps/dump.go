package maps

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/cilium/ebpf"
)

// pinned is one pinned map with the Go mirrors of its key and value.
type pinned struct {
	name     string
	m        *ebpf.Map
	key, val any
}

// pinnedMaps lists every pinned map: what `bnet map list` counts and
// `bnet map dump` prints. Keep in step with bnet.h.
func (m *Maps) pinnedMaps() []pinned {
	return []pinned{
		{MapARP, m.ARP, bnetArpKey{}, bnetArpEntry{}},
		{MapDropStats, m.DropStats, bnetStatKey{}, bnetStatVal{}},
		{MapFDB, m.FDB, bnetFdbKey{}, bnetFdbEntry{}},
		{MapFlood, m.Flood, uint32(0), bnetFloodEntry{}},
		{MapNetworks, m.Networks, uint32(0), bnetNetInfo{}},
		{MapNodeCfg, m.NodeCfg, uint32(0), bnetNodeCfg{}},
		{MapPorts, m.Ports, uint32(0), bnetPortInfo{}},
		{MapSegments, m.Segments, bnetSegmentKey{}, uint32(0)},
		{MapPeers, m.Peers, bnetPeerKey{}, uint32(0)},
		{MapNH, m.NH, uint32(0), bnetNhEntry{}},
		{MapRIFs, m.RIFs, uint32(0), bnetRifInfo{}},
		{MapRoutes, m.Routes, bnetRouteKey{}, bnetRouteInfo{}},
		{MapDVRMACs, m.DVRMACs, bnetMacKey{}, uint32(0)},
		{MapDVRSelf, m.DVRSelf, uint32(0), bnetMacKey{}},
		{MapFIPsOut, m.FIPsOut, bnetArpKey{}, bnetFipOutInfo{}},
		{MapFIPsIn, m.FIPsIn, bnetArpKey{}, bnetFipInInfo{}},
		{MapExtGW, m.ExtGW, uint32(0), bnetExtGwInfo{}},
		{MapPortAddrs, m.PortAddrs, bnetAddrKey{}, bnetArpEntry{}},
		{MapPortMACs, m.PortMACs, bnetPortMacKey{}, uint32(0)},
		{MapPolicyIPs, m.PolicyIPs, bnetPolicyIpKey{}, uint32(0)},
		{MapPolicyPorts, m.PolicyPorts, bnetPolicyPortKey{}, uint32(0)},
		{MapCT, m.CT, bnetCtKey{}, bnetCtEntry{}},
		{MapCTCount, m.CTCount, uint32(0), uint32(0)},
		{MapCTSrcCount, m.CTSrcCount, bnetCtSrcKey{}, uint32(0)},
		{MapCTConfig, m.CTConfig, uint32(0), bnetCtCfg{}},
		{MapFrags, m.Frags, bnetFragKey{}, bnetFragPorts{}},
		{MapVIPClaims, m.VIPClaims, bnetArpKey{}, bnetVipClaim{}},
		{MapMonitorOn, m.MonitorOn, uint32(0), uint32(0)},
	}
}

// MapNames lists the pinned maps' names, sorted.
func (m *Maps) MapNames() []string {
	var out []string
	for _, p := range m.pinnedMaps() {
		out = append(out, p.name)
	}
	slices.Sort(out)
	return out
}

// DumpEntry is one entry of any map as its C struct mirrors decode it
// (field names as bpf2go spells them; addresses as the raw words the
// datapath holds). Per-CPU maps give one value per CPU.
type DumpEntry struct {
	Key   any `json:"key"`
	Value any `json:"value"`
}

// ErrNoSuchMap is returned by Dump for a name that is not a bnet map.
var ErrNoSuchMap = errors.New("no such map")

// Dump reads every entry of the map called name (at most limit; 0: all).
func (m *Maps) Dump(name string, limit int) ([]DumpEntry, error) {
	i := slices.IndexFunc(m.pinnedMaps(), func(p pinned) bool { return p.name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w %q (one of %v)", ErrNoSuchMap, name, m.MapNames())
	}
	p := m.pinnedMaps()[i]
	perCPU := p.m.Type() == ebpf.PerCPUHash || p.m.Type() == ebpf.PerCPUArray
	var out []DumpEntry
	k := reflect.New(reflect.TypeOf(p.key))
	var v reflect.Value
	if perCPU {
		v = reflect.New(reflect.SliceOf(reflect.TypeOf(p.val)))
	} else {
		v = reflect.New(reflect.TypeOf(p.val))
	}
	it := p.m.Iterate()
	for it.Next(k.Interface(), v.Interface()) {
		out = append(out, DumpEntry{Key: k.Elem().Interface(), Value: v.Elem().Interface()})
		if limit > 0 && len(out) >= limit {
			break
		}
		if perCPU {
			// The iterator reuses the slice: give the next entry its own.
			v = reflect.New(reflect.SliceOf(reflect.TypeOf(p.val)))
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("dump %s: %w", name, err)
	}
	return out, nil
}
