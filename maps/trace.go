package maps

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Trace step kinds (enum bnet_trace_kind in bnet.h).
const (
	TraceDrop     = 1
	TraceDeliver  = 2
	TraceVXLAN    = 3
	TraceGRE      = 4
	TracePhys     = 5
	TraceARPReply = 6
	TraceFlood    = 7
	TraceRoute    = 8
	TraceSNAT     = 9
	TraceNAT      = 10
	TracePolicy   = 11
	TraceICMP     = 12
	TracePort     = 13
	TraceEcho     = 14
	TraceDVR      = 15
	TraceTunnelIn = 16
	TracePhysIn   = 17
)

// Policy verdicts of a TracePolicy step (enum bnet_trace_policy).
const (
	PolicyNew     = 1
	PolicyTracked = 2
	PolicyRelated = 3
	PolicyDenied  = 4
	PolicyOpen    = 5
)

// TC verdicts a program returns.
const (
	ActOK       = 0
	ActShot     = 2
	ActRedirect = 7
	ActNext     = 0xffffffff // TCX_NEXT (-1)
)

// TraceStep is one decision a traced program took; what A, B and C hold
// depends on Kind (see bnet.h). Addresses are raw network-order words.
type TraceStep struct {
	Kind    uint32 `json:"kind"`
	A, B, C uint32
}

// TraceResult is what one program did with one frame.
type TraceResult struct {
	Ret   uint32      // TC verdict
	Out   []byte      // the frame as the program left it
	Steps []TraceStep // in order; Cut when there were more than fit
	Cut   bool
}

// Tracer runs frames through a copy of the datapath programs that reports
// its decisions (bnet_trace set) and that is bound to scratch copies of
// the live maps: connection tracking, counters and claims a trace touches
// are the copies', never the live ones, and nothing is sent (flood copies
// are only noted). The copy is taken when the Tracer is made; make a new
// one to see later changes.
type Tracer struct {
	objs    bnetObjects
	scratch []*ebpf.Map
}

// skbHead is the head of struct __sk_buff up to ifindex, the part of the
// context BPF_PROG_TEST_RUN lets a caller set (ifindex: a device in the
// caller's netns).
type skbHead struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto, Priority, IngressIfindex, Ifindex uint32
}

// skipCopy are the maps a trace starts empty: counters (per CPU, nothing
// decides on them), the event ring and the monitor switch (a trace never
// reports to `bnet monitor` through them).
var skipCopy = map[string]bool{MapDropStats: true, MapDropEvents: true, MapMonitorOn: true}

// NewTracer copies live's maps and loads the tracing programs against the
// copies. The copy of a large connection table takes a moment.
func NewTracer(live *Maps) (*Tracer, error) {
	spec, err := loadBnet()
	if err != nil {
		return nil, fmt.Errorf("load bnet BPF spec: %w", err)
	}
	if err := spec.Variables["bnet_trace"].Set(uint32(1)); err != nil {
		return nil, fmt.Errorf("trace: set bnet_trace: %w", err)
	}
	byName := map[string]*ebpf.Map{MapDropEvents: live.DropEvents}
	for _, p := range live.pinnedMaps() {
		byName[p.name] = p.m
	}
	t := &Tracer{}
	repl := map[string]*ebpf.Map{}
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		src, ok := byName[name]
		if !ok || src == nil {
			t.closeScratch()
			return nil, fmt.Errorf("trace: no live map %s to copy", name)
		}
		cp := ms.Copy()
		cp.Pinning = ebpf.PinNone
		cp.MaxEntries = src.MaxEntries()
		dst, err := ebpf.NewMap(cp)
		if err != nil {
			t.closeScratch()
			return nil, fmt.Errorf("trace: scratch map %s: %w", name, err)
		}
		t.scratch = append(t.scratch, dst)
		repl[name] = dst
		if skipCopy[name] || perCPU(src.Type()) {
			continue
		}
		if err := copyMap(src, dst); err != nil {
			t.closeScratch()
			return nil, fmt.Errorf("trace: copy %s: %w", name, err)
		}
	}
	if err := spec.LoadAndAssign(&t.objs, &ebpf.CollectionOptions{MapReplacements: repl}); err != nil {
		t.closeScratch()
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("trace: load tracing programs: %+v", verr)
		}
		return nil, fmt.Errorf("trace: load tracing programs: %w", err)
	}
	return t, nil
}

func perCPU(t ebpf.MapType) bool {
	switch t {
	case ebpf.PerCPUArray, ebpf.PerCPUHash, ebpf.LRUCPUHash, ebpf.PerCPUCGroupStorage:
		return true
	}
	return false
}

func copyMap(src, dst *ebpf.Map) error {
	k := make([]byte, src.KeySize())
	v := make([]byte, src.ValueSize())
	it := src.Iterate()
	for it.Next(k, v) {
		if err := dst.Put(k, v); err != nil {
			return err
		}
	}
	return it.Err()
}

func (t *Tracer) closeScratch() {
	for _, m := range t.scratch {
		m.Close()
	}
	t.scratch = nil
}

// Close releases the tracing programs and the scratch maps.
func (t *Tracer) Close() {
	t.objs.Close()
	t.closeScratch()
}

// Programs are the tracing copies of the four programs.
func (t *Tracer) Programs() *Programs {
	return &Programs{PortIn: t.objs.BnetPortIn, TunIn: t.objs.BnetTunIn, PhysIn: t.objs.BnetPhysIn, UlIn: t.objs.BnetUlIn}
}

// Run feeds frame to prog (one of Programs()) as if it arrived on ifindex;
// for bnet_tun_in, vni and remote (network order) stand in for the tunnel
// metadata the VXLAN device would have attached.
func (t *Tracer) Run(prog *ebpf.Program, ifindex uint32, frame []byte, vni, remote uint32) (TraceResult, error) {
	if err := t.objs.TraceBuf.Set(bnetTraceLog{}); err != nil {
		return TraceResult{}, fmt.Errorf("trace: reset log: %w", err)
	}
	if err := t.objs.TraceTun.Set(bnetTraceTunnel{Vni: vni, Remote: remote}); err != nil {
		return TraceResult{}, fmt.Errorf("trace: set tunnel: %w", err)
	}
	// Room for what a program may add: GRE encapsulation, an ICMP error.
	out := make([]byte, len(frame)+256)
	opts := &ebpf.RunOptions{Data: frame, DataOut: out, Context: skbHead{Ifindex: ifindex}}
	ret, err := prog.Run(opts)
	if err != nil {
		return TraceResult{}, fmt.Errorf("trace: run %s on ifindex %d: %w", progName(prog), ifindex, err)
	}
	var log bnetTraceLog
	if err := t.objs.TraceBuf.Get(&log); err != nil {
		return TraceResult{}, fmt.Errorf("trace: read log: %w", err)
	}
	r := TraceResult{Ret: ret, Out: opts.DataOut}
	n := int(log.N)
	if n > len(log.Step) {
		n, r.Cut = len(log.Step), true
	}
	for _, s := range log.Step[:n] {
		r.Steps = append(r.Steps, TraceStep{Kind: s.Kind, A: s.A, B: s.B, C: s.C})
	}
	return r, nil
}

func progName(p *ebpf.Program) string {
	if info, err := p.Info(); err == nil {
		return info.Name
	}
	return "program"
}

// LookupARP is the MAC bnet's ARP responder answers for ip on network
// netID, as a VM would learn it.
func (m *Maps) LookupARP(netID uint32, ip netip.Addr) (net.HardwareAddr, bool) {
	w, err := ipToU32(ip)
	if err != nil {
		return nil, false
	}
	var v bnetArpEntry
	if err := m.ARP.Lookup(&bnetArpKey{NetId: netID, Ip: w}, &v); err != nil {
		return nil, false
	}
	return macAddr(v.Mac), true
}
