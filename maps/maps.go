// Package maps is the one place that knows the layout of bnet's BPF maps:
// it loads the datapath programs with their maps pinned by name, opens the
// pins for the CLI, and reads and writes map entries as plain Go rows.
//
// Layouts come from bpf/bnet.h through bpf2go (bnet_bpfel.go); nothing
// here redeclares them.
package maps

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// Map names as pinned in a pin directory; they are the C variable names.
const (
	MapPorts       = "ports"
	MapNetworks    = "networks"
	MapSegments    = "segments"
	MapFDB         = "fdb"
	MapARP         = "arp"
	MapFlood       = "flood"
	MapNodeCfg     = "node_cfg"
	MapDropStats   = "drop_stats"
	MapPeers       = "tunnel_peers"
	MapNH          = "underlay_nh"
	MapRIFs        = "rifs"
	MapRoutes      = "routes"
	MapDVRMACs     = "dvr_macs"
	MapDVRSelf     = "dvr_self"
	MapFIPsOut     = "fips_out"
	MapFIPsIn      = "fips_in"
	MapExtGW       = "ext_gw"
	MapPortAddrs   = "port_addrs"
	MapPortMACs    = "port_macs"
	MapPolicyIPs   = "policy_ips"
	MapPolicyPorts = "policy_ports"
	MapCT          = "ct"
	MapCTCount     = "ct_count"
	MapCTSrcCount  = "ct_src_count"
	MapCTConfig    = "ct_config"
	MapFrags       = "frags"
	MapVIPClaims   = "vip_claims"
	MapDropEvents  = "drop_events"
	MapMonitorOn   = "monitor_on"
	// Pinned by Load itself, not by name: see pinFloodProg.
	MapFloodProg = "flood_prog"
)

// Fan-out limits of a flood entry (BNET_FLOOD_LOCAL, BNET_FLOOD_REMOTE).
const (
	FloodLocalMax  = 64
	FloodRemoteMax = 128
)

// Port flags: BNET_PORT_UP, BNET_PORT_SECURE, BNET_PORT_POLICY,
// BNET_PORT_V6_IN, BNET_PORT_V6_OUT, BNET_PORT_DHCP.
const (
	portUp     = 1 << 0
	portSecure = 1 << 1
	portPolicy = 1 << 2
	portV6In   = 1 << 3
	portV6Out  = 1 << 4
	portDHCP   = 1 << 5
	portStack  = 1 << 6
)

// Maps holds every datapath map. All fields are set after Load or Open.
type Maps struct {
	Ports, Networks, Segments, FDB, ARP, Flood, NodeCfg, DropStats   *ebpf.Map
	Peers, NH                                                        *ebpf.Map
	RIFs, Routes, DVRMACs, DVRSelf                                   *ebpf.Map
	FIPsOut, FIPsIn, ExtGW                                           *ebpf.Map
	PortAddrs, PortMACs                                              *ebpf.Map
	PolicyIPs, PolicyPorts, CT, CTCount, CTSrcCount, CTConfig, Frags *ebpf.Map
	VIPClaims                                                        *ebpf.Map
	DropEvents, MonitorOn                                            *ebpf.Map
}

// Programs holds the four TC ingress programs.
type Programs struct {
	PortIn, TunIn, PhysIn, UlIn *ebpf.Program
	// flood is bnet_flood and its program array; prevFlood the array a
	// previous load pinned, which its programs use until they are swapped
	// out (see pinFloodProg).
	flood                *ebpf.Program
	floodProg, prevFlood *ebpf.Map
}

// LoadOptions size the maps whose capacity is the operator's choice.
type LoadOptions struct {
	CTMax uint32       // ct entries; 0: BNET_MAX_CT
	Log   *slog.Logger // where migrations are reported; nil: slog.Default()
}

// Load loads the programs with every map pinned by name in pinDir. The
// directory is created if missing and existing pins are reused, so an
// agent restart keeps the datapath state; a pin whose layout differs from
// this binary's is migrated first (migrate.go). Close releases FDs only.
func Load(pinDir string, opt ...LoadOptions) (*Maps, *Programs, error) {
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create pin dir %s: %w", pinDir, err)
	}
	spec, err := loadBnet()
	if err != nil {
		return nil, nil, fmt.Errorf("load bnet BPF spec: %w", err)
	}
	log := slog.Default()
	if len(opt) > 0 {
		if opt[0].CTMax > 0 {
			spec.Maps[MapCT].MaxEntries = opt[0].CTMax
		}
		if opt[0].Log != nil {
			log = opt[0].Log
		}
	}
	// A pin left by another binary (an upgrade that changed a layout, or a
	// changed security.ct_max) is migrated, never reused as it is nor left
	// to fail the load.
	if _, err := migrate(spec, pinDir, log); err != nil {
		return nil, nil, fmt.Errorf("load bnet programs (pin dir %s): %w", pinDir, err)
	}
	var objs bnetObjects
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	if err := spec.LoadAndAssign(&objs, opts); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, nil, fmt.Errorf("load bnet programs (pin dir %s): %+v", pinDir, verr)
		}
		return nil, nil, fmt.Errorf("load bnet programs (pin dir %s): %w", pinDir, err)
	}
	m := &Maps{
		Ports:       objs.Ports,
		Networks:    objs.Networks,
		Segments:    objs.Segments,
		FDB:         objs.Fdb,
		ARP:         objs.Arp,
		Flood:       objs.Flood,
		NodeCfg:     objs.NodeCfg,
		DropStats:   objs.DropStats,
		Peers:       objs.TunnelPeers,
		NH:          objs.UnderlayNh,
		RIFs:        objs.Rifs,
		Routes:      objs.Routes,
		DVRMACs:     objs.DvrMacs,
		DVRSelf:     objs.DvrSelf,
		FIPsOut:     objs.FipsOut,
		FIPsIn:      objs.FipsIn,
		ExtGW:       objs.ExtGw,
		PortAddrs:   objs.PortAddrs,
		PortMACs:    objs.PortMacs,
		PolicyIPs:   objs.PolicyIps,
		PolicyPorts: objs.PolicyPorts,
		CT:          objs.Ct,
		CTCount:     objs.CtCount,
		CTSrcCount:  objs.CtSrcCount,
		CTConfig:    objs.CtConfig,
		Frags:       objs.Frags,
		VIPClaims:   objs.VipClaims,
		DropEvents:  objs.DropEvents,
		MonitorOn:   objs.MonitorOn,
	}
	p := &Programs{PortIn: objs.BnetPortIn, TunIn: objs.BnetTunIn, PhysIn: objs.BnetPhysIn, UlIn: objs.BnetUlIn,
		flood: objs.BnetFlood, floodProg: objs.FloodProg}
	prev, err := pinFloodProg(objs.FloodProg, filepath.Join(pinDir, MapFloodProg))
	if err != nil {
		m.Close()
		p.Close()
		return nil, nil, err
	}
	p.prevFlood = prev
	return m, p, nil
}

// Open opens the maps pinned in pinDir, as the CLI does while an agent
// (or none) runs. readOnly opens them with BPF_F_RDONLY.
func Open(pinDir string, readOnly bool) (*Maps, error) {
	notPinned := fmt.Errorf("no pinned maps in %s (is an agent running with pin_dir %s?)", pinDir, pinDir)
	if st, err := os.Stat(pinDir); err != nil || !st.IsDir() {
		return nil, notPinned
	}
	m := &Maps{}
	fields := []struct {
		name string
		dst  **ebpf.Map
	}{
		{MapPorts, &m.Ports}, {MapNetworks, &m.Networks}, {MapSegments, &m.Segments},
		{MapFDB, &m.FDB}, {MapARP, &m.ARP}, {MapFlood, &m.Flood},
		{MapNodeCfg, &m.NodeCfg}, {MapDropStats, &m.DropStats}, {MapPeers, &m.Peers}, {MapNH, &m.NH},
		{MapRIFs, &m.RIFs}, {MapRoutes, &m.Routes}, {MapDVRMACs, &m.DVRMACs}, {MapDVRSelf, &m.DVRSelf},
		{MapFIPsOut, &m.FIPsOut}, {MapFIPsIn, &m.FIPsIn}, {MapExtGW, &m.ExtGW},
		{MapPortAddrs, &m.PortAddrs}, {MapPortMACs, &m.PortMACs},
		{MapPolicyIPs, &m.PolicyIPs}, {MapPolicyPorts, &m.PolicyPorts}, {MapCT, &m.CT}, {MapCTCount, &m.CTCount},
		{MapCTSrcCount, &m.CTSrcCount}, {MapCTConfig, &m.CTConfig}, {MapFrags, &m.Frags}, {MapVIPClaims, &m.VIPClaims},
		{MapDropEvents, &m.DropEvents}, {MapMonitorOn, &m.MonitorOn},
	}
	opts := &ebpf.LoadPinOptions{ReadOnly: readOnly}
	for _, f := range fields {
		mp, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, f.name), opts)
		if err != nil {
			_ = m.Close()
			if errors.Is(err, os.ErrNotExist) {
				return nil, notPinned
			}
			return nil, fmt.Errorf("open pinned map %s in %s: %w", f.name, pinDir, err)
		}
		*f.dst = mp
	}
	return m, nil
}

func (m *Maps) all() []*ebpf.Map {
	return []*ebpf.Map{m.Ports, m.Networks, m.Segments, m.FDB, m.ARP, m.Flood, m.NodeCfg, m.DropStats, m.Peers, m.NH,
		m.RIFs, m.Routes, m.DVRMACs, m.DVRSelf, m.FIPsOut, m.FIPsIn, m.ExtGW,
		m.PortAddrs, m.PortMACs, m.PolicyIPs, m.PolicyPorts, m.CT, m.CTCount, m.CTSrcCount, m.CTConfig, m.Frags, m.VIPClaims, m.DropEvents, m.MonitorOn}
}

// Close closes the map FDs; the pins stay.
func (m *Maps) Close() error {
	var errs []error
	for _, mp := range m.all() {
		if mp != nil {
			errs = append(errs, mp.Close())
		}
	}
	return errors.Join(errs...)
}

// Close closes the program FDs; attachments hold their own references.
func (p *Programs) Close() error {
	var errs []error
	for _, prog := range []*ebpf.Program{p.PortIn, p.TunIn, p.PhysIn, p.UlIn, p.flood} {
		if prog != nil {
			errs = append(errs, prog.Close())
		}
	}
	for _, m := range []*ebpf.Map{p.floodProg, p.prevFlood} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	return errors.Join(errs...)
}

// pinFloodProg pins this load's flood_prog at path, in place of the
// previous load's, and returns that one still open. The kernel empties a
// program array once no descriptor or pin holds it: unpinned, the array
// would empty when the agent exits, and every flood of the programs left
// attached would be dropped (no_prog) until the next start. It is not
// pinned by name either, as the other maps are: programs must call the
// bnet_flood of their own load, whatever an upgrade changed. The previous
// array stays open for this process's life, because the programs attached
// before this load still call through it until they are swapped out.
func pinFloodProg(m *ebpf.Map, path string) (*ebpf.Map, error) {
	prev, err := ebpf.LoadPinnedMap(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		prev, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned %s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "new_"+filepath.Base(path))
	_ = os.Remove(tmp)
	if err := m.Pin(tmp); err != nil {
		prev.Close()
		return nil, fmt.Errorf("pin %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = m.Unpin()
		prev.Close()
		return nil, fmt.Errorf("pin %s: %w", path, err)
	}
	return prev, nil
}
