package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bnet-dev/bnet/api"
	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
)

// `bnet trace`: the packet a VM would send is built here, run through a
// tracing copy of this node's programs bound to scratch copies of its maps
// (maps.Tracer: nothing live changes, nothing is sent), and followed to the
// node it is tunnelled to, whose agent runs its own programs on it (asked
// over gossip). Where no program can be run, the hop is computed from the
// replicated state and says so, as `ovs-appctl ofproto/trace` does.

// askTrace is the gossip question: run this frame through your datapath.
const askTrace = "trace"

// traceHopRequest is what the next node is asked.
type traceHopRequest struct {
	Program string            `json:"program"` // bnet_tun_in or bnet_ul_in
	Frame   []byte            `json:"frame"`
	VNI     uint32            `json:"vni,omitempty"`
	Remote  string            `json:"remote,omitempty"` // the sending VTEP (VXLAN)
	Port    *api.TraceRequest `json:"port,omitempty"`   // or: trace from this port (hosted there)
}

// traceHopAnswer is one hop, or a whole trace when Port was asked.
type traceHopAnswer struct {
	Hops []api.TraceHop `json:"hops"`
	End  string         `json:"end"` // how the packet ended there
	Path string         `json:"path"`
}

// tracing serialises traces: each loads a copy of the programs.
var tracing sync.Mutex

// Trace runs req through this node's datapath and follows it (api.Tracer).
func (a *Agent) Trace(ctx context.Context, req api.TraceRequest) (api.TraceReport, error) {
	s := a.snapshot()
	port, ok := findPort(s, req.Port)
	if !ok {
		return api.TraceReport{}, &model.Error{Code: 404, Type: "PortNotFound", Msg: fmt.Sprintf("Port %s could not be found.", req.Port)}
	}
	if port.HostID != a.cfg.Node {
		// The port's own node has its maps: ask it for the whole trace.
		if port.HostID == "" || a.gossip == nil {
			return api.TraceReport{}, &model.Error{Code: 409, Type: "PortNotBound", Msg: fmt.Sprintf("port %s is not bound to a node", port.ID)}
		}
		var ans traceHopAnswer
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		q := req
		q.Port = port.ID
		if err := a.gossip.Ask(ctx, port.HostID, askTrace, traceHopRequest{Port: &q}, &ans); err != nil {
			return api.TraceReport{}, fmt.Errorf("trace from port %s on node %s: %w", port.ID, port.HostID, err)
		}
		return api.TraceReport{Hops: ans.Hops, Result: ans.End, Path: ans.Path}, nil
	}
	hops, end, path, err := a.traceFromPort(ctx, s, port, req)
	if err != nil {
		return api.TraceReport{}, err
	}
	rep := api.TraceReport{Hops: hops, Result: end, Path: path}
	a.publishTrace(port, req, rep)
	return rep, nil
}

func findPort(s snapshot, ref string) (model.Port, bool) {
	if p, ok := s.portByID[ref]; ok {
		return p, true
	}
	var found []model.Port
	for _, p := range s.ports {
		if p.Name == ref {
			found = append(found, p)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return model.Port{}, false
}

// traceNames names what the maps number: ports by ifindex, networks and
// routers by node-local id, rules by handle, nodes by VTEP.
type traceNames struct {
	node    string
	ports   map[uint32]model.Port
	nets    map[uint32]model.Network
	routers map[uint32]model.Router
	rules   map[uint32]model.SecurityGroupRule
	vteps   map[netip.Addr]string
	s       snapshot
}

func (a *Agent) names(s snapshot) traceNames {
	n := traceNames{node: a.cfg.Node, ports: map[uint32]model.Port{}, nets: map[uint32]model.Network{},
		routers: map[uint32]model.Router{}, rules: map[uint32]model.SecurityGroupRule{}, vteps: map[netip.Addr]string{}, s: s}
	a.stMu.RLock()
	for idx, p := range a.byIfindex {
		n.ports[idx] = p
	}
	a.stMu.RUnlock()
	a.mu.Lock()
	for uuid, id := range a.netIDs.ids {
		if nw, ok := s.nets[uuid]; ok {
			n.nets[id] = nw
		} else if r, ok := s.routers[strings.TrimPrefix(uuid, "router/")]; ok && strings.HasPrefix(uuid, "router/") {
			n.routers[id] = r
		}
	}
	a.mu.Unlock()
	for _, r := range s.sgRules {
		n.rules[ruleHandle(r.ID)] = r
	}
	for name, v := range a.nodes() {
		if v.vtep.IsValid() {
			n.vteps[v.vtep] = name
		}
	}
	return n
}

func (n traceNames) port(idx uint32) string {
	if p, ok := n.ports[idx]; ok {
		return portLabel(p)
	}
	if l, err := net.InterfaceByIndex(int(idx)); err == nil {
		return fmt.Sprintf("device %s", l.Name)
	}
	return fmt.Sprintf("ifindex %d", idx)
}

func portLabel(p model.Port) string {
	l := "port " + p.ID
	if p.Name != "" {
		l = "port " + p.Name + " (" + p.ID + ")"
	}
	if p.DeviceOwner != "" {
		l += " [" + p.DeviceOwner + "]"
	}
	return l
}

func (n traceNames) net(id uint32) string {
	if nw, ok := n.nets[id]; ok {
		if nw.Name != "" {
			return fmt.Sprintf("network %s (%s)", nw.Name, nw.ID)
		}
		return "network " + nw.ID
	}
	return fmt.Sprintf("network #%d", id)
}

func (n traceNames) router(id uint32) string {
	if r, ok := n.routers[id]; ok {
		if r.Name != "" {
			return fmt.Sprintf("router %s (%s)", r.Name, r.ID)
		}
		return "router " + r.ID
	}
	return fmt.Sprintf("router #%d", id)
}

func (n traceNames) vtep(w uint32) string {
	ip := word4(w)
	if name, ok := n.vteps[ip]; ok {
		return fmt.Sprintf("%s (node %s)", ip, name)
	}
	return ip.String()
}

func (n traceNames) rule(h uint32) string {
	r, ok := n.rules[h]
	if !ok {
		return fmt.Sprintf("rule #%08x", h)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "security group %s rule %s: %s", r.SecurityGroupID, r.ID, r.Direction)
	if r.Protocol != nil && *r.Protocol != "" {
		fmt.Fprintf(&b, " %s", *r.Protocol)
	} else {
		b.WriteString(" any protocol")
	}
	if r.PortRangeMin != nil {
		if r.PortRangeMax != nil && *r.PortRangeMax != *r.PortRangeMin {
			fmt.Fprintf(&b, " %d-%d", *r.PortRangeMin, *r.PortRangeMax)
		} else {
			fmt.Fprintf(&b, " %d", *r.PortRangeMin)
		}
	}
	if r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "" {
		fmt.Fprintf(&b, " remote %s", *r.RemoteIPPrefix)
	}
	if r.RemoteGroupID != nil && *r.RemoteGroupID != "" {
		fmt.Fprintf(&b, " remote group %s", *r.RemoteGroupID)
	}
	if (r.RemoteIPPrefix == nil || *r.RemoteIPPrefix == "") && (r.RemoteGroupID == nil || *r.RemoteGroupID == "") {
		b.WriteString(" any remote")
	}
	return b.String()
}

// word4 turns an address as the maps hold it (network order in a native
// word) into an address.
func word4(w uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], w)
	return netip.AddrFrom4(b)
}

// describe turns the steps of one program run into lines, and says how the
// packet ended on this node and where it goes next (if anywhere).
// Outer headers the programs write: Ethernet, IPv4, then keyed GRE or
// UDP and VXLAN.
const (
	greOuter   = 14 + 20 + 8
	vxlanOuter = 14 + 20 + 8 + 8
)

type hopEnd struct {
	verdict string
	kind    string // delivered, dropped, answered, tunnel, physnet, flooded
	vtep    netip.Addr
	vni     uint32
	gre     bool
	// outer is how many bytes of outer headers (Ethernet, IPv4, GRE or
	// UDP+VXLAN) the program put before the VM's frame: 0 when the VXLAN
	// device encapsulates, after the program.
	outer    int
	to       model.Port // delivered to
	toOK     bool
	reason   string // dropped for
	outFrame []byte // the frame sent into the tunnel
}

func (n traceNames) describe(r maps.TraceResult) ([]string, hopEnd) {
	var lines []string
	end := hopEnd{}
	copies := 0
	for _, st := range r.Steps {
		switch st.Kind {
		case maps.TracePort:
			lines = append(lines, fmt.Sprintf("from %s on %s", n.port(st.A), n.net(st.B)))
		case maps.TraceTunnelIn:
			lines = append(lines, fmt.Sprintf("tunnel in: segment %d from VTEP %s -> %s", st.B, n.vtep(st.C), n.net(st.A)))
		case maps.TracePhysIn:
			if st.B != 0 {
				lines = append(lines, fmt.Sprintf("physnet in: VLAN %d -> %s", st.B, n.net(st.A)))
			} else {
				lines = append(lines, fmt.Sprintf("physnet in: untagged -> %s", n.net(st.A)))
			}
		case maps.TracePolicy:
			dir := maps.DirName(st.A)
			switch st.B {
			case maps.PolicyNew:
				lines = append(lines, fmt.Sprintf("security groups (%s): new connection allowed by %s", dir, n.rule(st.C)))
			case maps.PolicyTracked:
				lines = append(lines, fmt.Sprintf("security groups (%s): part of a tracked connection", dir))
			case maps.PolicyRelated:
				lines = append(lines, fmt.Sprintf("security groups (%s): ICMP error of a tracked connection", dir))
			case maps.PolicyDenied:
				lines = append(lines, fmt.Sprintf("security groups (%s): no rule allows it", dir))
			case maps.PolicyOpen:
				lines = append(lines, fmt.Sprintf("security groups (%s): not judged by rules (ARP, ND, DHCP or open IPv6)", dir))
			}
		case maps.TraceARPReply:
			lines = append(lines, fmt.Sprintf("ARP request for %s answered on this node", word4(st.A)))
			end = hopEnd{kind: "answered", verdict: fmt.Sprintf("answered: ARP reply for %s sent back to the sender", word4(st.A))}
		case maps.TraceEcho:
			lines = append(lines, fmt.Sprintf("ping to router address %s answered", word4(st.A)))
			end = hopEnd{kind: "answered", verdict: fmt.Sprintf("answered: echo reply from %s sent back to the sender", word4(st.A))}
		case maps.TraceICMP:
			msg := fmt.Sprintf("ICMP type %d code %d sent back from %s", st.A>>8, st.A&0xff, word4(st.C))
			if st.B != 0 {
				msg += fmt.Sprintf(" (mtu %d)", st.B)
			}
			lines = append(lines, msg)
			end = hopEnd{kind: "answered", verdict: "answered: " + msg}
		case maps.TraceRoute:
			lines = append(lines, fmt.Sprintf("routed by %s to %s, next hop %s (TTL-1, source MAC the gateway's)", n.router(st.A), n.net(st.B), word4(st.C)))
		case maps.TraceSNAT:
			lines = append(lines, fmt.Sprintf("routed by %s: no floating IP, default route via its SNAT port %s on %s", n.router(st.A), word4(st.C), n.net(st.B)))
		case maps.TraceNAT:
			what := "destination"
			if st.C == 1 {
				what = "source"
			}
			lines = append(lines, fmt.Sprintf("floating IP NAT: %s %s -> %s", what, word4(st.A), word4(st.B)))
		case maps.TraceDVR:
			lines = append(lines, "source MAC is a DVR host MAC: rewritten to the local gateway's")
		case maps.TraceFlood:
			lines = append(lines, fmt.Sprintf("flooded on %s", n.net(st.A)))
			end.kind = "flooded"
		case maps.TraceDeliver:
			if st.B == 1 {
				copies++
				lines = append(lines, fmt.Sprintf("  copy to %s", n.port(st.A)))
				continue
			}
			lines = append(lines, fmt.Sprintf("delivered to %s", n.port(st.A)))
			end = hopEnd{kind: "delivered", verdict: fmt.Sprintf("delivered to %s on node %s", n.port(st.A), n.node)}
			end.to, end.toOK = n.ports[st.A]
		case maps.TraceVXLAN:
			if st.C == 1 {
				copies++
				lines = append(lines, fmt.Sprintf("  copy to VTEP %s, VNI %d", n.vtep(st.B), st.A))
				continue
			}
			how, outer := "", 0
			if st.C == 2 {
				how, outer = " (in BPF)", vxlanOuter
			}
			lines = append(lines, fmt.Sprintf("VXLAN%s: VNI %d to VTEP %s", how, st.A, n.vtep(st.B)))
			end = hopEnd{kind: "tunnel", verdict: fmt.Sprintf("sent over VXLAN, VNI %d, to VTEP %s", st.A, n.vtep(st.B)), vtep: word4(st.B), vni: st.A, outer: outer}
		case maps.TraceGRE:
			if st.C == 1 {
				copies++
				lines = append(lines, fmt.Sprintf("  copy to VTEP %s, GRE key %d", n.vtep(st.B), st.A))
				continue
			}
			lines = append(lines, fmt.Sprintf("GRE (in BPF): key %d to VTEP %s", st.A, n.vtep(st.B)))
			end = hopEnd{kind: "tunnel", verdict: fmt.Sprintf("sent over GRE, key %d, to VTEP %s", st.A, n.vtep(st.B)), vtep: word4(st.B), vni: st.A, gre: true, outer: greOuter}
		case maps.TracePhys:
			dev := n.port(st.A)
			tag := "untagged"
			if st.B != 0 {
				tag = fmt.Sprintf("VLAN %d", st.B)
			}
			if st.C == 1 {
				copies++
				lines = append(lines, fmt.Sprintf("  copy out of physnet %s, %s", dev, tag))
				continue
			}
			lines = append(lines, fmt.Sprintf("out of physnet %s, %s", dev, tag))
			end = hopEnd{kind: "physnet", verdict: fmt.Sprintf("left the node on physnet %s (%s): outside bnet from here", dev, tag)}
		case maps.TraceDrop:
			reason := maps.ReasonName(st.A)
			lines = append(lines, fmt.Sprintf("dropped: %s (counted against %s)", reason, n.port(st.B)))
			if end.kind != "answered" {
				end = hopEnd{kind: "dropped", verdict: fmt.Sprintf("dropped on node %s: %s", n.node, reason), reason: reason}
			}
		}
	}
	if r.Cut {
		lines = append(lines, "(more steps than the trace log holds)")
	}
	if end.kind == "flooded" {
		end.verdict = fmt.Sprintf("flooded: %d copies (copies are not followed further)", copies)
	}
	if end.kind == "" {
		switch r.Ret {
		case maps.ActNext:
			end = hopEnd{kind: "passed", verdict: "not bnet's: passed on to the kernel"}
		default:
			end = hopEnd{kind: "unknown", verdict: fmt.Sprintf("program returned %d", int32(r.Ret))}
		}
	}
	return lines, end
}

// summary says in one line what a frame is.
func (a *Agent) summary(frame []byte) string {
	ev := a.describeDrop(maps.DropEvent{Data: frame, Len: uint32(len(frame))})
	if ev.Proto == "" {
		return fmt.Sprintf("%d bytes", len(frame))
	}
	out := fmt.Sprintf("%s %s -> %s, %s -> %s", ev.Proto, ev.Src, ev.Dst, ev.SrcMAC, ev.DstMAC)
	if len(frame) >= 23 && binary.BigEndian.Uint16(frame[12:14]) == 0x0800 {
		out += fmt.Sprintf(", ttl %d", frame[22])
	}
	return out
}

// runHop runs frame through prog on this node and describes it.
func (a *Agent) runHop(s snapshot, prog string, ifindex uint32, frame []byte, vni, remote uint32, how string) (api.TraceHop, hopEnd, error) {
	tracing.Lock()
	defer tracing.Unlock()
	t, err := maps.NewTracer(a.maps)
	if err != nil {
		return api.TraceHop{}, hopEnd{}, err
	}
	defer t.Close()
	p := t.Programs()
	var r maps.TraceResult
	switch prog {
	case "bnet_port_in":
		r, err = t.Run(p.PortIn, ifindex, frame, 0, 0)
	case "bnet_tun_in":
		r, err = t.Run(p.TunIn, ifindex, frame, vni, remote)
	case "bnet_ul_in":
		r, err = t.Run(p.UlIn, ifindex, frame, 0, 0)
		// VXLAN the fast path leaves alone (a router's port, a flood)
		// goes on through the kernel's device to bnet_tun_in: follow it.
		if vni, remote, inner, ok := a.vxlanOf(frame); err == nil && r.Ret == maps.ActNext && ok {
			prog, frame, how = "bnet_tun_in", inner, how+"; bnet_ul_in left it to the VXLAN device"
			r, err = t.Run(p.TunIn, uint32(a.vxlanIfindex), frame, vni, remote)
		}
	default:
		return api.TraceHop{}, hopEnd{}, fmt.Errorf("trace: no program %q", prog)
	}
	if err != nil {
		return api.TraceHop{}, hopEnd{}, err
	}
	n := a.names(s)
	lines, end := n.describe(r)
	hop := api.TraceHop{Node: a.cfg.Node, Program: prog, How: how, Packet: a.summary(frame), Steps: lines, Verdict: end.verdict}
	if r.Ret == maps.ActRedirect && !slices.Equal(r.Out, frame) {
		hop.Out = a.summary(r.Out)
	}
	if end.kind == "tunnel" {
		end.outFrame = r.Out
	}
	return hop, end, nil
}

// traceFromPort builds the packet port would send for req, runs it here and
// follows it to the next node.
func (a *Agent) traceFromPort(ctx context.Context, s snapshot, port model.Port, req api.TraceRequest) ([]api.TraceHop, string, string, error) {
	var ifindex uint32
	a.stMu.RLock()
	for idx, p := range a.byIfindex {
		if p.ID == port.ID {
			ifindex = idx
		}
	}
	a.stMu.RUnlock()
	if ifindex == 0 {
		return nil, "", "", &model.Error{Code: 409, Type: "PortNotPlugged", Msg: fmt.Sprintf("port %s is not plugged on node %s: nothing to trace", port.ID, a.cfg.Node)}
	}
	frame, first, err := a.traceFrame(s, port, req)
	if err != nil {
		return nil, "", "", err
	}
	hop, end, err := a.runHop(s, "bnet_port_in", ifindex, frame, 0, 0, "ran here")
	if err != nil {
		return nil, "", "", err
	}
	if first != "" {
		hop.Steps = append([]string{first}, hop.Steps...)
	}
	hops := []api.TraceHop{hop}
	path := []string{fmt.Sprintf("%s@%s", label(port), a.cfg.Node)}
	switch end.kind {
	case "tunnel":
		next, nend, npath := a.nextNode(ctx, s, end)
		hops = append(hops, next...)
		path = append(path, npath...)
		return hops, nend, strings.Join(path, " → "), nil
	case "delivered":
		path = append(path, a.deliveredPath(s, end)...)
	case "physnet":
		path = append(path, "physnet", "outside")
	default:
		path = append(path, a.endPath(end))
	}
	return hops, end.kind, strings.Join(path, " → "), nil
}

// endPath is the last element of a path that ends here.
func (a *Agent) endPath(end hopEnd) string {
	switch end.kind {
	case "dropped":
		return fmt.Sprintf("dropped@%s (%s)", a.cfg.Node, end.reason)
	case "physnet":
		return "physnet → outside"
	case "answered", "flooded":
		return fmt.Sprintf("%s@%s", end.kind, a.cfg.Node)
	}
	return end.kind
}

func label(p model.Port) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// vxlanOf splits a VXLAN packet to this node's port into VNI, outer
// source (as the tunnel key has it) and inner frame.
func (a *Agent) vxlanOf(f []byte) (vni, remote uint32, inner []byte, ok bool) {
	if len(f) < vxlanOuter+14 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14] != 0x45 || f[23] != 17 ||
		int(binary.BigEndian.Uint16(f[36:])) != a.cfg.VXLANPort {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint32(f[46:]) >> 8, binary.NativeEndian.Uint32(f[26:30]), f[vxlanOuter:], true
}

// deliveredPath names where a delivered packet is; a router's SNAT port
// hands it to the kernel (nftables SNAT in the router's namespace).
func (a *Agent) deliveredPath(s snapshot, end hopEnd) []string {
	if !end.toOK {
		return []string{"delivered"}
	}
	p := end.to
	if p.DeviceOwner == model.OwnerRouterSNAT {
		return []string{fmt.Sprintf("snat@%s", a.cfg.Node), "nftables SNAT", "outside"}
	}
	return []string{fmt.Sprintf("%s@%s", label(p), p.HostID)}
}

// nextNode follows a tunnelled packet: that node's agent runs its own
// program on it; if it cannot be asked, the hop is computed.
func (a *Agent) nextNode(ctx context.Context, s snapshot, end hopEnd) ([]api.TraceHop, string, []string) {
	node := ""
	for name, v := range a.nodes() {
		if v.vtep == end.vtep {
			node = name
		}
	}
	via := fmt.Sprintf("vxlan %d", end.vni)
	// A frame the program encapsulated is judged where it arrives, on
	// the underlay NIC; one the VXLAN device took, after that device.
	prog := "bnet_tun_in"
	if end.outer > 0 {
		prog = "bnet_ul_in"
	}
	if end.gre {
		via = fmt.Sprintf("gre %d", end.vni)
	}
	q := traceHopRequest{Program: prog, Frame: end.outFrame, VNI: end.vni, Remote: a.localIP.String()}
	if node != "" && a.gossip != nil {
		var ans traceHopAnswer
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.gossip.Ask(actx, node, askTrace, q, &ans)
		cancel()
		if err == nil {
			return ans.Hops, ans.End, append([]string{via}, ans.Path)
		}
		a.log.Info("trace: next node not asked, computing its hop", "node", node, "err", err)
	}
	hop := a.computedHop(s, node, end)
	kind := "delivered"
	if strings.HasPrefix(hop.Verdict, "unknown") {
		kind = "unknown"
	}
	return []api.TraceHop{hop}, kind, []string{via, hop.Verdict}
}

// computedHop says what the replicated state says about a tunnelled frame:
// the port holding its destination MAC on that network.
func (a *Agent) computedHop(s snapshot, node string, end hopEnd) api.TraceHop {
	hop := api.TraceHop{Node: node, How: "computed from the replicated state (that node's agent did not answer)"}
	if node == "" {
		hop.Node = end.vtep.String()
		hop.How = "computed from the replicated state (no node has that VTEP)"
	}
	inner := end.outFrame
	if end.outer > 0 && len(inner) >= end.outer+14 {
		inner = inner[end.outer:]
	}
	hop.Packet = a.summary(inner)
	if len(inner) < 14 {
		hop.Verdict = "unknown: no frame"
		return hop
	}
	dst := net.HardwareAddr(inner[0:6]).String()
	for _, p := range s.ports {
		if strings.EqualFold(p.MACAddress, dst) && p.HostID == node {
			hop.Verdict = fmt.Sprintf("%s@%s", label(p), node)
			hop.Steps = []string{fmt.Sprintf("destination MAC %s is %s there; its security groups were not evaluated", dst, portLabel(p))}
			return hop
		}
	}
	hop.Verdict = "unknown: no port with MAC " + dst + " on that node"
	return hop
}

// answerTrace is the gossip handler: run a frame a peer tunnelled here, or
// trace from a port hosted here.
func (a *Agent) answerTrace(ctx context.Context, from string, body json.RawMessage) (any, error) {
	var q traceHopRequest
	if err := json.Unmarshal(body, &q); err != nil {
		return nil, fmt.Errorf("bad trace request: %w", err)
	}
	s := a.snapshot()
	if q.Port != nil {
		if err := q.Port.Check(); err != nil {
			return nil, err
		}
		port, ok := findPort(s, q.Port.Port)
		if !ok || port.HostID != a.cfg.Node {
			return nil, fmt.Errorf("port %s is not hosted on %s", q.Port.Port, a.cfg.Node)
		}
		hops, end, path, err := a.traceFromPort(ctx, s, port, *q.Port)
		if err != nil {
			return nil, err
		}
		a.publishTrace(port, *q.Port, api.TraceReport{Hops: hops, Result: end, Path: path})
		return traceHopAnswer{Hops: hops, End: end, Path: path}, nil
	}
	if len(q.Frame) < 14 || len(q.Frame) > 4096 {
		return nil, fmt.Errorf("trace frame of %d bytes", len(q.Frame))
	}
	var ifindex uint32
	var remote uint32
	switch q.Program {
	case "bnet_tun_in":
		ifindex = uint32(a.vxlanIfindex)
		ip, err := netip.ParseAddr(q.Remote)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("trace: bad remote VTEP %q", q.Remote)
		}
		b := ip.As4()
		remote = binary.NativeEndian.Uint32(b[:])
	case "bnet_ul_in":
		ifindex = uint32(a.underlayIfindex)
	default:
		return nil, fmt.Errorf("trace: no program %q", q.Program)
	}
	if ifindex == 0 {
		return nil, fmt.Errorf("trace: %s has no device for %s", a.cfg.Node, q.Program)
	}
	hop, end, err := a.runHop(s, q.Program, ifindex, q.Frame, q.VNI, remote, "asked node "+a.cfg.Node+"'s agent, which ran it there")
	if err != nil {
		return nil, err
	}
	path := a.endPath(end)
	if end.kind == "delivered" {
		path = strings.Join(a.deliveredPath(s, end), " → ")
	}
	return traceHopAnswer{Hops: []api.TraceHop{hop}, End: end.kind, Path: path}, nil
}

// publishTrace tells `bnet monitor` (type trace) that a trace ran.
func (a *Agent) publishTrace(port model.Port, req api.TraceRequest, rep api.TraceReport) {
	ev := api.MonitorEvent{Time: time.Now().UTC().Format(time.RFC3339Nano), Type: "trace", Reason: rep.Result + ": " + rep.Path,
		Port: port.ID, Proto: "ipv4/" + req.Proto, Src: req.Src, Dst: req.Dst}
	a.hub.mu.Lock()
	for ch := range a.hub.subs {
		select {
		case ch <- ev:
		default:
		}
	}
	a.hub.mu.Unlock()
}

// traceFrame builds the frame the VM behind port would send for req. The
// destination MAC is what the VM's ARP would learn: bnet's ARP responder
// answers from the arp map for the destination (same subnet) or the
// gateway; without an answer the VM sends the ARP request itself, and
// that is what is traced. first, if set, is a line saying so.
func (a *Agent) traceFrame(s snapshot, port model.Port, req api.TraceRequest) ([]byte, string, error) {
	srcMAC, err := net.ParseMAC(port.MACAddress)
	if err != nil {
		return nil, "", fmt.Errorf("port %s has no usable MAC %q", port.ID, port.MACAddress)
	}
	dst := netip.MustParseAddr(req.Dst)
	var src netip.Addr
	var sub model.Subnet
	for _, f := range port.FixedIPs {
		ip, err := netip.ParseAddr(f.IPAddress)
		if err != nil || !ip.Is4() {
			continue
		}
		if req.Src == "" || req.Src == f.IPAddress {
			src, sub = ip, s.subnets[f.SubnetID]
			break
		}
	}
	if req.Src != "" && !src.IsValid() {
		// Not the port's: port security decides, from the first subnet.
		src = netip.MustParseAddr(req.Src)
		for _, f := range port.FixedIPs {
			if sb, ok := s.subnets[f.SubnetID]; ok {
				sub = sb
				break
			}
		}
	}
	if !src.IsValid() {
		return nil, "", &model.Error{Code: 400, Type: "BadRequest", Msg: fmt.Sprintf("port %s has no IPv4 address: give --src", port.ID)}
	}
	nh := dst
	if pfx, err := netip.ParsePrefix(sub.CIDR); err != nil || !pfx.Contains(dst) {
		if sub.GatewayIP == nil {
			return nil, "", &model.Error{Code: 400, Type: "BadRequest", Msg: fmt.Sprintf("%s is off subnet %s, which has no gateway: the VM has no route to it", dst, sub.ID)}
		}
		nh = netip.MustParseAddr(*sub.GatewayIP)
	}
	netID, ok := a.netIDOf(port.NetworkID)
	if !ok {
		return nil, "", fmt.Errorf("network %s is not programmed on %s", port.NetworkID, a.cfg.Node)
	}
	dstMAC, ok := a.maps.LookupARP(netID, nh)
	if !ok {
		return arpRequest(srcMAC, src, nh), fmt.Sprintf("the VM has no MAC for %s from bnet's ARP responder: it sends an ARP request, traced here", nh), nil
	}
	first := ""
	if nh != dst {
		first = fmt.Sprintf("the VM sends to its gateway %s (%s)", nh, dstMAC)
	}
	return ipFrame(srcMAC, dstMAC, src, dst, req.Proto, req.SPort, req.DPort), first, nil
}

func (a *Agent) netIDOf(uuid string) (uint32, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.netIDs.ids[uuid]
	return id, ok
}

func arpRequest(srcMAC net.HardwareAddr, src, target netip.Addr) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	binary.BigEndian.PutUint16(f[14:], 1)
	binary.BigEndian.PutUint16(f[16:], 0x0800)
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:], 1)
	copy(f[22:28], srcMAC)
	s4, t4 := src.As4(), target.As4()
	copy(f[28:32], s4[:])
	copy(f[38:42], t4[:])
	return f
}

// ipFrame is an IPv4 packet as a Linux VM sends it: DF, TTL 64; a TCP SYN,
// a small UDP datagram or an ICMP echo request.
func ipFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, proto string, sport, dport uint16) []byte {
	var l4 []byte
	var p byte
	switch proto {
	case "tcp":
		p = 6
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint32(l4[4:], 1)
		l4[12] = 5 << 4
		l4[13] = 0x02 // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
	case "udp":
		p = 17
		l4 = make([]byte, 8+16)
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	default:
		p = 1
		l4 = make([]byte, 8+32)
		l4[0] = 8 // echo request
		binary.BigEndian.PutUint16(l4[4:], 0x6274)
		binary.BigEndian.PutUint16(l4[6:], 1)
	}
	f := make([]byte, 14+20+len(l4))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(ip[4:], 1)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, p
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^csum(ip, 0))
	copy(f[34:], l4)
	l4 = f[34:]
	switch p {
	case 1:
		binary.BigEndian.PutUint16(l4[2:], ^csum(l4, 0))
	case 6, 17:
		pseudo := uint32(p) + uint32(len(l4))
		sum := ^csum(l4, uint32(csum(ip[12:20], pseudo)))
		if p == 17 && sum == 0 {
			sum = 0xffff
		}
		off := 16
		if p == 17 {
			off = 6
		}
		binary.BigEndian.PutUint16(l4[off:], sum)
	}
	return f
}
