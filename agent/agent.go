// Package agent is the reconciler on every node: replicated desired state in,
// netlink devices, TCX attachments and BPF map entries out.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bnet-dev/bnet/api"
	"github.com/bnet-dev/bnet/config"
	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/metrics"
	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// VXLANDevice is the node's one VXLAN device in external mode.
const VXLANDevice = "bnet-vxlan"

// Link aliases mark the devices the agent created, so that only those are
// ever deleted when their port goes.
const aliasPrefix = "bnet:"

type status struct{ status, reason string }

// Agent is one node's bnet agent.
type Agent struct {
	cfg     *config.Config
	log     *slog.Logger
	localIP netip.Addr
	st      *store.Store
	gossip  *gossip.Gossip
	maps    *maps.Maps
	progs   *maps.Programs
	links   *attacher
	netIDs  *netIDs
	ids     *identities // node identities (identity.go); nil without them

	mu           sync.Mutex // serialises reconciles
	vxlanIfindex int
	physIfindex  map[string]int // physnet NIC name -> ifindex
	// underlayIfindex is the NIC holding local_ip (0: none found yet).
	underlayIfindex int
	underlayName    string
	// vxlanBPF: VXLAN IP frames are encapsulated and taken apart by the
	// programs (vxlan_encap not device).
	vxlanBPF bool
	// decapL3: the kernel has BPF_F_ADJ_ROOM_DECAP_L3_* (6.3); without it
	// IPv6 inside VXLAN takes the device, inside GRE it keeps the outer
	// skb->protocol until the VM's veth sets it.
	decapL3 bool
	// dvrMAC is this node's DVR host MAC (see dvr.go).
	dvrMAC net.HardwareAddr
	// portAPI creates the ports the agent owns itself (fg-); set once the
	// API server exists.
	portAPI portCreator
	// announce holds the floating IPs that started being served here in
	// this reconcile: announced once their fg port is up.
	announce []garpTarget
	dhcp     *dhcpServer // distributed DHCP (dhcp.go); made by the first reconcile

	stMu     sync.RWMutex
	statuses map[string]status
	// byIfindex is the local ports as last programmed, for the VIP claim
	// watcher and metrics (under stMu).
	byIfindex map[uint32]model.Port
	metrics   *metrics.Registry
	hub       monitorHub

	kick    chan struct{}
	started time.Time
	// wake reconciles again when a dead node's SNAT fence or entry hold
	// runs out: nothing else happens then to trigger one.
	wake *time.Timer
	// upSince is when this node last gained a majority of the cluster (see
	// snatHosts); zero while it has none.
	// Unix nanoseconds, 0: none; read by the API goroutines too.
	upSince atomic.Int64

	// Start-up and peer liveness (peers.go).
	peers     *peerMemory
	joinSeeds []string      // configured seeds other than this node
	synced    atomic.Bool   // first sync with the cluster done
	resync    time.Duration // full reconcile period: bounds repair of what was changed behind our back
	pinLock   *os.File      // flock on pin_dir: one agent per datapath
	drained   chan struct{} // closed by Drain: Run returns
	drainOnce sync.Once
}

// Run runs the agent until ctx is cancelled. Programs and maps stay pinned
// when it returns: traffic keeps flowing while the agent is down.
func Run(ctx context.Context, configPath string) error {
	cfg, err := config.Load(configPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	a, err := newAgent(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()

	join := append([]string(nil), cfg.Gossip.Join...)
	for _, s := range a.peers.seeds() {
		if !slices.Contains(join, s) {
			join = append(join, s)
		}
	}
	var keys [][]byte
	if cfg.Gossip.KeyFile != "" {
		if keys, err = gossip.LoadKeys(cfg.Gossip.KeyFile); err != nil {
			return err
		}
	}
	g, err := gossip.Start(gossip.Config{
		Node: cfg.Node, Bind: cfg.Gossip.Bind, Advertise: cfg.Gossip.Advertise, Join: join,
		Meta:  a.signMeta(gossip.Meta{V: 1, VTEP: cfg.LocalIP, Roles: cfg.Roles, Physnets: physnetNames(cfg), DVRMAC: a.dvrMAC.String()}),
		Store: a.st, Logger: log.With("part", "gossip"), Fast: cfg.Gossip.Fast, Keys: keys,
		Trust: a.trustFunc(),
	})
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	a.gossip = g
	g.HandleAsk(askTrace, a.answerTrace)
	if cfg.MetricsListen != "" {
		go func() {
			if err := a.metrics.Serve(cfg.MetricsListen); err != nil {
				log.Error("metrics", "err", err)
			}
		}()
	}
	defer g.Shutdown()

	a.st.OnChange(func(_ store.Record, _ bool) { a.trigger() })
	g.OnMembership(a.trigger)

	a.setUpSince(a.startUpSince())
	if err := a.Reconcile(ctx); err != nil {
		log.Warn("first reconcile", "err", err)
	}
	srv := api.NewServer(a.st, a, log.With("part", "api"))
	srv.Observe = a.metrics.ObserveAPI
	a.mu.Lock()
	a.portAPI = srv
	a.mu.Unlock()
	apiErr := make(chan error, 2)
	go func() { apiErr <- srv.ServeUnix(ctx, cfg.APISocket) }()
	if cfg.APIListen != "" {
		go func() { apiErr <- srv.ServeTCP(ctx, cfg.APIListen) }()
	}
	vxlan := "device"
	if a.vxlanBPF {
		vxlan = "bpf"
	}
	log.Info("agent up", "node", cfg.Node, "vtep", cfg.LocalIP, "socket", cfg.APISocket, "pin_dir", cfg.PinDir,
		"kernel", kernelRelease(), "attach", a.links.mode, "vxlan_encap", vxlan, "decap_l3", a.decapL3)

	tick := time.NewTicker(a.resync)
	defer tick.Stop()
	go a.gcCT(ctx)
	go a.watchClaims(ctx)
	go a.gcTombstones(ctx)
	go a.readDrops(ctx)
	for {
		select {
		case <-ctx.Done():
			// No gossip Leave: peers see this node silent and hold its
			// entries (node_dead_hold) until it is back. Only a drain leaves.
			log.Info("agent stopping; datapath stays programmed")
			return nil
		case <-a.drained:
			log.Info("agent drained: left the cluster and stopped; datapath stays programmed")
			return nil
		case err := <-apiErr:
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("api: %w", err)
			}
		case <-a.kick:
			// Coalesce bursts (a gossip sync applies many records at once).
			time.Sleep(20 * time.Millisecond)
			drain(a.kick)
		case <-tick.C:
		}
		if err := a.Reconcile(ctx); err != nil {
			log.Warn("reconcile", "err", err)
		}
	}
}

// How a floating IP newly served here is announced.
const (
	garpCount = 3
	garpGap   = 500 * time.Millisecond
)

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func physnetNames(cfg *config.Config) []string {
	var names []string
	for n := range cfg.Physnets {
		names = append(names, n)
	}
	return names
}

func newAgent(cfg *config.Config, log *slog.Logger) (*Agent, error) {
	a := &Agent{
		cfg: cfg, log: log, localIP: netip.MustParseAddr(cfg.LocalIP),
		physIfindex: map[string]int{}, statuses: map[string]status{},
		kick: make(chan struct{}, 1), started: time.Now(), drained: make(chan struct{}),
		resync: time.Duration(cfg.ResyncSeconds) * time.Second,
	}
	for _, s := range cfg.Gossip.Join {
		if s != cfg.Gossip.Bind && s != cfg.Gossip.Advertise {
			a.joinSeeds = append(a.joinSeeds, s)
		}
	}
	a.metrics = metrics.New(metrics.Sources{Maps: mapsLater{a}, Ports: a.portIDs, Members: a.memberStates})
	var err error
	if a.st, err = store.Open(cfg.StateDir, cfg.Node); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return nil, fmt.Errorf("another agent is running on state_dir %s", cfg.StateDir)
		}
		return nil, fmt.Errorf("open state: %w", err)
	}
	if a.peers, err = loadPeers(cfg.StateDir); err != nil {
		log.Warn("remembered peers", "err", err)
	}
	if err := a.useIdentity(); err != nil {
		a.st.Close()
		return nil, err
	}
	// Two agents on one datapath would fight over every map entry and link
	// even with separate state dirs.
	if a.pinLock, err = lockPinDir(cfg.PinDir); err != nil {
		a.st.Close()
		return nil, err
	}
	if a.netIDs, err = loadNetIDs(cfg.StateDir); err != nil {
		return nil, err
	}
	if a.links, err = newAttacher(cfg, log); err != nil { // before the load: names what the kernel lacks
		return nil, err
	}
	a.vxlanBPF = cfg.VXLANEncap != "device"
	a.decapL3 = haveDecapL3() == nil && !testKernelLacks("decap_l3")
	if v := os.Getenv(testKernelLacksEnv); v != "" {
		log.Warn("acting as if the kernel lacked what "+testKernelLacksEnv+" names (a test setting)", "lacks", v)
	}
	if a.maps, a.progs, err = maps.Load(cfg.PinDir, maps.LoadOptions{CTMax: cfg.Security.CTMax, Log: log.With("part", "maps")}); err != nil {
		return nil, fmt.Errorf("load datapath: %w", err)
	}
	a.links.keep = true // until the first reconcile has programmed the maps
	if a.dvrMAC, err = loadDVRMAC(cfg.StateDir, cfg.Node); err != nil {
		return nil, err
	}
	if err := a.setupNode(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *Agent) close() {
	if a.progs != nil {
		a.progs.Close()
	}
	if a.maps != nil {
		a.maps.Close()
	}
	if a.st != nil {
		a.st.Close()
	}
	if a.pinLock != nil {
		a.pinLock.Close()
	}
}

// setupNode brings up the node-wide devices: the VXLAN device and the
// physnet NICs, each with its program.
func (a *Agent) setupNode() error {
	idx, err := ensureVXLAN(VXLANDevice, a.cfg.VXLANPort, a.cfg.UnderlayMTU-50)
	if err != nil {
		return err
	}
	a.vxlanIfindex = idx
	if err := a.writeNodeCfg(); err != nil {
		return fmt.Errorf("node config: %w", err)
	}
	if err := a.maps.SetDVRSelf(a.dvrMAC); err != nil {
		return err
	}
	if err := a.maps.SetCTConfig(maps.CTConfig{PortMax: a.cfg.Security.CTPortMax, SrcMax: a.cfg.Security.CTSourceMax}); err != nil {
		return err
	}
	// Events only while someone listens (an agent that died mid-monitor
	// may have left them on).
	a.hub.mu.Lock()
	listening := len(a.hub.subs) > 0
	a.hub.mu.Unlock()
	if err := a.maps.SetMonitor(listening); err != nil {
		return err
	}
	if err := a.links.attach(VXLANDevice, idx, a.progs.TunIn); err != nil {
		return err
	}
	a.attachPhysnets()
	a.attachUnderlay()
	return nil
}

// attachPhysnets (re)attaches the physnet NICs that exist; a missing NIC is
// retried on every reconcile rather than failing the agent.
func (a *Agent) attachPhysnets() {
	for name, nic := range a.cfg.Physnets {
		l, err := netlink.LinkByName(nic)
		if err != nil {
			if _, had := a.physIfindex[nic]; had {
				delete(a.physIfindex, nic)
			}
			a.log.Warn("physnet interface missing", "physnet", name, "nic", nic)
			continue
		}
		if err := a.links.attach(nic, l.Attrs().Index, a.progs.PhysIn); err != nil {
			a.log.Warn("attach physnet", "physnet", name, "err", err)
			continue
		}
		if l.Attrs().Flags&net.FlagUp == 0 {
			_ = netlink.LinkSetUp(l)
		}
		a.physIfindex[nic] = l.Attrs().Index
	}
}

func (a *Agent) trigger() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Reconcile makes the node match the replicated state: plugs and programs
// local ports, fills the maps, removes what nobody wants. Safe to call at
// any time; it only changes what is wrong.
func (a *Agent) Reconcile(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	start := time.Now()
	synced := a.checkSynced()
	snap := a.snapshot()
	a.attachPhysnets()
	a.attachUnderlay()
	if err := a.links.attach(VXLANDevice, a.vxlanIfindex, a.progs.TunIn); err != nil {
		// The device vanished behind our back: recreate it.
		if err := a.setupNode(); err != nil {
			a.log.Warn("repair node devices", "err", err)
		}
	}

	a.syncFGPorts(snap)
	nodes := a.nodes()
	if e := a.guardVXLAN(nodes); e != nil {
		a.log.Warn("VXLAN admission", "err", e)
	}
	a.trackQuorum(nodes)
	snat := snatHosts(snap.routers, nodes, a.cfg.Node, a.cfg.FenceDelay(), time.Now())
	a.wakeAt(nodes)
	local, plugErrs := a.plugLocal(snap, snat)
	d, st := a.compute(snap, local, nodes, snat)
	byIfindex := map[uint32]model.Port{}
	for _, lp := range local {
		byIfindex[uint32(lp.ifindex)] = lp.port
	}
	a.stMu.Lock()
	a.byIfindex = byIfindex
	a.stMu.Unlock()
	a.dropStaleClaims(snap)
	for id, e := range plugErrs {
		st[id] = status{model.StatusError, e}
	}
	for id, why := range snap.losers {
		st[id] = status{model.StatusError, why}
	}
	a.serveDHCP(d)
	err := a.program(d)
	if a.links.keep {
		// The maps hold what this agent wants: its programs may now take
		// over the node devices from the previous agent's (one atomic
		// link update each: never a moment without a program).
		a.links.keep = false
		a.attachPhysnets()
		a.attachUnderlay()
		if e := a.links.attach(VXLANDevice, a.vxlanIfindex, a.progs.TunIn); e != nil {
			a.log.Warn("attach VXLAN device", "err", e)
		}
	}

	// Attach and raise local ports only once their map entries exist: a
	// port forwards nothing before it is fully programmed.
	wanted := map[string]bool{VXLANDevice: true}
	if a.underlayName != "" {
		wanted[underlayPin(a.underlayName)] = true
	}
	for _, nic := range a.cfg.Physnets {
		wanted[nic] = true
	}
	for _, lp := range local {
		if _, ok := d.ports[uint32(lp.ifindex)]; !ok {
			continue
		}
		wanted[lp.ifname] = true
		if e := a.links.attach(lp.ifname, lp.ifindex, a.progs.PortIn); e != nil {
			st[lp.port.ID] = status{model.StatusError, e.Error()}
			continue
		}
		if e := linkUp(lp.ifindex); e != nil {
			st[lp.port.ID] = status{model.StatusError, "link up: " + e.Error()}
		}
	}
	if synced {
		// Only after the first sync: before it, "unwanted" may just mean
		// "not heard of yet".
		a.sweep(wanted)
		if e := a.peers.save(a.cfg.Node, a.gossipMembers()); e != nil {
			a.log.Warn("remember peers", "err", e)
		}
	}
	// Three announcements half a second apart, as Neutron's l3 agent sends
	// (send_arp_for_ha): one lost frame must not leave the outside with
	// the old MAC until its neighbour entry goes stale.
	for _, t := range a.announce {
		go func() {
			for i := range garpCount {
				if i > 0 {
					time.Sleep(garpGap)
				}
				if e := garp(t.netns, t.ifname, t.mac, t.ip); e != nil {
					a.log.Warn("gratuitous ARP", "fip", t.ip, "err", e)
					return
				}
			}
		}()
	}
	a.announce = a.announce[:0]

	live := map[string]bool{}
	for id := range snap.nets {
		live[id] = true
	}
	for id := range snap.routers {
		live[routerKey(id)] = true
	}
	a.netIDs.keep(live)
	if e := a.netIDs.save(); e != nil && err == nil {
		err = e
	}
	a.stMu.Lock()
	a.statuses = st
	a.stMu.Unlock()
	a.metrics.ObserveReconcile(time.Since(start))
	a.log.Debug("reconciled", "took", time.Since(start), "ports", len(d.ports), "fdb", len(d.fdb))
	return err
}

// plugLocal makes sure every port hosted here has its device.
func (a *Agent) plugLocal(s snapshot, snat map[string]string) (map[string]localPort, map[string]string) {
	local := map[string]localPort{}
	errs := map[string]string{}
	ownNS := map[string]bool{} // the namespaces this agent made and still wants (snat-, qrouter-, fip-)
	for _, p := range s.ports {
		if isSNATPort(p) {
			if snat[p.DeviceID] != a.cfg.Node {
				continue
			}
		} else if p.HostID != a.cfg.Node || (p.NetworkOwned() && p.DeviceOwner != model.OwnerFloatingIPGateway) {
			continue
		}
		n := s.nets[p.NetworkID]
		mac, err := net.ParseMAC(p.MACAddress)
		if err != nil {
			errs[p.ID] = "bad MAC: " + err.Error()
			continue
		}
		var ifname string
		var idx int
		switch {
		case p.DeviceOwner == model.OwnerFloatingIPGateway:
			ifname = hostIfName(p.ID)
			ns := a.fipNetns(p.NetworkID)
			ownNS[ns] = true
			vm := vmSide{Netns: ns, IfName: fgIfName(p), MAC: mac, MTU: n.MTU}
			vm.Addr, _ = a.vmAddr(s, p) // on-link only: it resolves the next hop, routes nothing
			idx, err = plugNetns(ifname, vm)
			if err == nil {
				if l, e := netlink.LinkByIndex(idx); e == nil && l.Attrs().Alias == "" {
					_ = netlink.LinkSetAlias(l, aliasPrefix+p.ID)
				}
			}
		case isSNATPort(p):
			ifname = hostIfName(p.ID)
			ns := a.routerNetns(s.routers[p.DeviceID])
			ownNS[ns] = true
			vm := vmSide{Netns: ns, IfName: snatIfName(p), MAC: mac, MTU: n.MTU}
			vm.Addr, vm.Gateway = a.vmAddr(s, p)
			if p.DeviceOwner != model.OwnerRouterGateway {
				// sg- and qr- ports only reach their subnet; the way out is qg-.
				vm.Gateway = netip.Addr{}
			}
			idx, err = plugNetns(ifname, vm)
			if err == nil {
				if l, e := netlink.LinkByIndex(idx); e == nil && l.Attrs().Alias == "" {
					_ = netlink.LinkSetAlias(l, aliasPrefix+p.ID)
				}
			}
		case p.Profile["netns"] != "":
			ifname = hostIfName(p.ID)
			vm := vmSide{Netns: p.Profile["netns"], MAC: mac, MTU: n.MTU}
			if p.Profile[model.ProfileNoIPConfig] != "true" {
				vm.Addr, vm.Gateway = a.vmAddr(s, p)
			}
			idx, err = plugNetns(ifname, vm)
			if err == nil {
				if l, e := netlink.LinkByIndex(idx); e == nil && l.Attrs().Alias == "" {
					_ = netlink.LinkSetAlias(l, aliasPrefix+p.ID)
				}
			}
		case p.Profile["device"] != "":
			ifname = p.Profile["device"]
			idx, err = adoptDevice(ifname, n.MTU)
		default:
			// Created but not plugged yet (Nova has not bound it): nothing to do.
			continue
		}
		if err != nil {
			errs[p.ID] = err.Error()
			a.log.Warn("plug port", "port", p.ID, "err", err)
			continue
		}
		local[p.ID] = localPort{port: p, ifname: ifname, ifindex: idx}
	}
	for id, r := range s.routers {
		ns := a.routerNetns(r)
		if snat[id] != a.cfg.Node || !ownNS[ns] {
			continue
		}
		qg := ""
		for _, p := range s.ports {
			if p.DeviceID == id && p.DeviceOwner == model.OwnerRouterGateway {
				qg = snatIfName(p)
			}
		}
		var fips []natPair
		if !r.Distributed {
			fips = a.legacyFIPs(s, id)
			if qg != "" {
				if err := qgAddresses(ns, qg, fips); err != nil {
					a.log.Warn("floating ip addresses", "router", id, "err", err)
				}
			}
		}
		if err := ensureSNAT(ns, qg, r.ExternalGateway != nil && r.ExternalGateway.EnableSNAT, fips); err != nil {
			a.log.Warn("router namespace", "router", id, "err", err)
		}
	}
	if a.synced.Load() {
		a.sweepNetns(ownNS)
	}
	return local, errs
}

// vmAddr is the first fixed IP of p with its subnet's prefix and gateway.
func (a *Agent) vmAddr(s snapshot, p model.Port) (netip.Prefix, netip.Addr) {
	for _, f := range p.FixedIPs {
		sub, ok := s.subnets[f.SubnetID]
		if !ok {
			continue
		}
		pfx, err := netip.ParsePrefix(sub.CIDR)
		ip, err2 := netip.ParseAddr(f.IPAddress)
		if err != nil || err2 != nil {
			continue
		}
		var gw netip.Addr
		if sub.GatewayIP != nil {
			gw, _ = netip.ParseAddr(*sub.GatewayIP)
		}
		return netip.PrefixFrom(ip, pfx.Bits()), gw
	}
	return netip.Prefix{}, netip.Addr{}
}

// sweep removes pinned links of devices no port wants any more and deletes
// the veths the agent itself created for them.
func (a *Agent) sweep(wanted map[string]bool) {
	names, err := a.links.pinned()
	if err != nil {
		return
	}
	for _, n := range names {
		if wanted[n] {
			continue
		}
		if err := a.links.detach(n); err != nil {
			a.log.Warn("detach stale link", "dev", n, "err", err)
		}
		if l, err := netlink.LinkByName(n); err == nil && strings.HasPrefix(l.Attrs().Alias, aliasPrefix) {
			if err := unplug(n); err != nil {
				a.log.Warn("unplug", "dev", n, "err", err)
			}
		}
	}
}

// --- api.Backend ---

// Drain takes the node out of the cluster for good: gossip Leave, so that
// peers withdraw its ports and VTEP at once rather than hold them as they
// would for a restart, then the agent stops. Starting it again rejoins.
func (a *Agent) Drain() error {
	if a.gossip == nil {
		return fmt.Errorf("drain: gossip not started")
	}
	var err error
	a.drainOnce.Do(func() {
		a.log.Info("draining: leaving the cluster")
		err = a.gossip.Leave(5 * time.Second)
		// Stop even if the leave was not acknowledged by everyone: the
		// notice is also gossiped, and a silent node is dead to its peers
		// after the hold anyway.
		time.AfterFunc(100*time.Millisecond, func() { close(a.drained) })
	})
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// RouterHost is the node holding router id's namespace, as every node
// computes it.
func (a *Agent) RouterHost(id string) string {
	rec, ok := a.st.Get(model.KindRouter, id)
	if !ok {
		return ""
	}
	r, err := store.Decode[model.Router](rec)
	if err != nil {
		return ""
	}
	return snatHosts(map[string]model.Router{id: r}, a.nodes(), a.cfg.Node, a.cfg.FenceDelay(), time.Now())[id]
}

// Node is this agent's node name.
func (a *Agent) Node() string { return a.cfg.Node }

// Physnets lists the physical networks this node has.
func (a *Agent) Physnets() []string { return physnetNames(a.cfg) }

// UnderlayMTU is the MTU of the node's underlay.
func (a *Agent) UnderlayMTU() int { return a.cfg.UnderlayMTU }

// Status overlays what the datapath knows on an object's stored status.
func (a *Agent) Status(kind, id string) (string, string) {
	a.stMu.RLock()
	defer a.stMu.RUnlock()
	s, ok := a.statuses[id]
	if !ok {
		return "", ""
	}
	return s.status, s.reason
}

// Agents lists every node gossip knows, like `neutron agent-list`.
func (a *Agent) Agents() []model.Agent {
	out := []model.Agent{}
	if a.gossip == nil {
		return out
	}
	for _, m := range a.gossip.Members() {
		out = append(out, model.NewAgent(model.AgentInfo{
			Node: m.Name, LocalIP: m.Meta.VTEP, Roles: m.Meta.Roles, Physnets: m.Meta.Physnets,
			TunnelTypes: []string{model.TypeVXLAN, model.TypeGRE}, DVRMAC: m.Meta.DVRMAC,
			Alive:     (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) && m.Trusted,
			StartedAt: m.Since, HeartbeatAt: m.Since,
		}))
	}
	return out
}

// gcTombstones drops tombstones older than store.DefaultTombstoneTTL once
// an hour; each leaves a floor behind, so a replay of what it deleted is
// still refused.
func (a *Agent) gcTombstones(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n := a.st.GC(store.DefaultTombstoneTTL); n > 0 {
			a.log.Info("tombstones collected", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
