package agent

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bnet-dev/bnet/maps"
	"github.com/bnet-dev/bnet/model"
)

// Security groups compile into the two policy tries of bpf/bnet.h. A
// policy is a distinct set of groups: ports with the same groups share its
// entries. For each direction, every remote prefix a rule names (a CIDR,
// each address of a remote group's members, or 0.0.0.0/0) gets a class:
// the protocol/port blocks of every rule whose remote contains that
// prefix, so the datapath's one longest-prefix lookup finds all rules
// that apply. Ids are hashes of content, so a restarted agent computes the
// ids already in the maps and rewrites nothing.

// portBlock is one policy_ports entry of a class, without the class.
type portBlock struct {
	proto    uint8
	port     uint16
	portBits uint8
}

type ruleBlock struct {
	portBlock
	rule uint32
}

// policy is one compiled set of groups.
type policy struct {
	id, epoch   uint32
	v6in, v6out bool
}

type policyIPKey struct {
	policyID, dir uint32
	prefix        netip.Prefix
}

type policyPortKey struct {
	class uint32
	portBlock
}

// sgState is the replicated security group state one reconcile uses.
type sgState struct {
	groups  map[string]model.SecurityGroup
	rules   map[string][]model.SecurityGroupRule // by group
	members map[string][]netip.Prefix            // group -> its ports' IPv4 addresses
}

func newSGState(groups []model.SecurityGroup, rules []model.SecurityGroupRule, ports []model.Port) sgState {
	st := sgState{groups: map[string]model.SecurityGroup{}, rules: map[string][]model.SecurityGroupRule{},
		members: map[string][]netip.Prefix{}}
	for _, g := range groups {
		st.groups[g.ID] = g
	}
	for _, r := range rules {
		if _, ok := st.groups[r.SecurityGroupID]; ok {
			st.rules[r.SecurityGroupID] = append(st.rules[r.SecurityGroupID], r)
		}
	}
	for _, p := range ports {
		if !p.PortSecurity() || p.NetworkOwned() {
			continue
		}
		// A remote group is its members' fixed IPs and allowed address
		// pairs, as Neutron's ipsets hold them.
		var addrs []netip.Prefix
		for _, f := range p.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil && a.Is4() {
				addrs = append(addrs, netip.PrefixFrom(a, 32))
			}
		}
		for _, pair := range p.AllowedAddressPairs {
			if pfx, ok := pairPrefix(pair.IPAddress); ok {
				addrs = append(addrs, pfx)
			}
		}
		for _, g := range p.SecurityGroups {
			st.members[g] = append(st.members[g], addrs...)
		}
	}
	return st
}

func pairPrefix(s string) (netip.Prefix, bool) {
	if pfx, err := netip.ParsePrefix(s); err == nil && pfx.Addr().Is4() {
		return pfx.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return netip.PrefixFrom(a, 32), true
	}
	return netip.Prefix{}, false
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// ruleHandle names a rule in the maps: a hash of its id.
func ruleHandle(id string) uint32 { return hash32(id) }

// blocks is what a rule allows, as policy_ports blocks; nil for a rule
// the datapath cannot match (an unknown protocol).
func blocks(r model.SecurityGroupRule) []portBlock {
	proto := r.Proto()
	if proto < 0 {
		return nil
	}
	if proto == 0 {
		return []portBlock{{}}
	}
	b := portBlock{proto: uint8(proto)}
	switch {
	case r.PortRangeMin == nil:
		return []portBlock{b}
	case proto == 1 || proto == 58:
		// ICMP: the port is type << 8 | code.
		b.port, b.portBits = uint16(*r.PortRangeMin&0xff)<<8, 8
		if r.PortRangeMax != nil {
			b.port |= uint16(*r.PortRangeMax & 0xff)
			b.portBits = 16
		}
		return []portBlock{b}
	}
	lo, hi := *r.PortRangeMin, *r.PortRangeMin
	if r.PortRangeMax != nil {
		hi = *r.PortRangeMax
	}
	if lo < 0 || hi > 65535 || lo > hi {
		return nil
	}
	var out []portBlock
	for _, blk := range maps.PortRange(uint16(lo), uint16(hi)) {
		out = append(out, portBlock{proto: b.proto, port: blk.Port, portBits: blk.Bits})
	}
	return out
}

// remotes is who a rule allows, as IPv4 prefixes.
func (st sgState) remotes(r model.SecurityGroupRule) []netip.Prefix {
	switch {
	case r.RemoteGroupID != nil && *r.RemoteGroupID != "":
		return st.members[*r.RemoteGroupID]
	case r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "":
		if pfx, ok := pairPrefix(*r.RemoteIPPrefix); ok {
			return []netip.Prefix{pfx}
		}
		return nil
	}
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
}

// v6Open reports whether a rule lets any IPv6 through: the only IPv6 the
// datapath judges (stateless, addresses not checked; see docs/datapath.md).
func v6Open(r model.SecurityGroupRule) bool {
	if r.Ethertype != model.EtherIPv6 || r.Proto() != 0 || r.RemoteGroupID != nil && *r.RemoteGroupID != "" {
		return false
	}
	return r.RemoteIPPrefix == nil || *r.RemoteIPPrefix == "" || *r.RemoteIPPrefix == "::/0"
}

// policyCompiler assigns ids across one reconcile.
type policyCompiler struct {
	st       sgState
	policies map[string]policy // by group set
	classes  map[string]uint32 // by content
	classIDs map[uint32]string
	polIDs   map[uint32]string
	d        *desired
}

func newPolicyCompiler(st sgState, d *desired) *policyCompiler {
	return &policyCompiler{st: st, policies: map[string]policy{}, classes: map[string]uint32{},
		classIDs: map[uint32]string{}, polIDs: map[uint32]string{}, d: d}
}

// uniqueID is hash(key) moved past collisions and 0. The keys of one
// reconcile are taken in sorted order (portPolicy sorts), so a restart
// assigns the same ids.
func uniqueID(key string, used map[uint32]string) uint32 {
	id := hash32(key)
	for id == 0 || used[id] != "" && used[id] != key {
		id++
	}
	used[id] = key
	return id
}

// portPolicy compiles (once) and returns the policy of a port with groups.
func (c *policyCompiler) portPolicy(groups []string) policy {
	groups = slices.Clone(groups)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	key := strings.Join(groups, ",")
	if p, ok := c.policies[key]; ok {
		return p
	}
	p := policy{id: uniqueID("policy:"+key, c.polIDs)}
	epoch := fnv.New32a()
	for _, dir := range []uint32{maps.DirEgress, maps.DirIngress} {
		dirName := model.DirEgress
		if dir == maps.DirIngress {
			dirName = model.DirIngress
		}
		type entry struct {
			remote netip.Prefix
			blocks []ruleBlock
		}
		var rules []entry
		prefixes := map[netip.Prefix]bool{}
		for _, g := range groups {
			for _, r := range c.st.rules[g] {
				if r.Direction != dirName {
					continue
				}
				if r.Ethertype == model.EtherIPv6 {
					if v6Open(r) {
						if dir == maps.DirEgress {
							p.v6out = true
						} else {
							p.v6in = true
						}
					}
					continue
				}
				var rb []ruleBlock
				for _, b := range blocks(r) {
					rb = append(rb, ruleBlock{b, ruleHandle(r.ID)})
				}
				if len(rb) == 0 {
					continue
				}
				for _, pfx := range c.st.remotes(r) {
					rules = append(rules, entry{pfx, rb})
					prefixes[pfx] = true
				}
			}
		}
		sorted := make([]netip.Prefix, 0, len(prefixes))
		for pfx := range prefixes {
			sorted = append(sorted, pfx)
		}
		slices.SortFunc(sorted, func(a, b netip.Prefix) int {
			return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
		})
		for _, pfx := range sorted {
			// The class of pfx: every rule whose remote contains it.
			set := map[portBlock]uint32{}
			for _, e := range rules {
				if e.remote.Bits() <= pfx.Bits() && e.remote.Contains(pfx.Addr()) {
					for _, b := range e.blocks {
						if h, ok := set[b.portBlock]; !ok || b.rule < h {
							set[b.portBlock] = b.rule
						}
					}
				}
			}
			cls, content := c.class(set)
			c.d.policyIPs[policyIPKey{p.id, dir, pfx}] = cls
			fmt.Fprintf(epoch, "%d %s %s;", dir, pfx, content)
		}
	}
	fmt.Fprintf(epoch, "v6 %t %t", p.v6in, p.v6out)
	p.epoch = epoch.Sum32()
	c.policies[key] = p
	return p
}

// class returns the id of a set of blocks, adding its entries.
func (c *policyCompiler) class(set map[portBlock]uint32) (uint32, string) {
	bs := make([]ruleBlock, 0, len(set))
	for b, h := range set {
		bs = append(bs, ruleBlock{b, h})
	}
	slices.SortFunc(bs, func(a, b ruleBlock) int {
		return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.port, b.port), cmp.Compare(a.portBits, b.portBits))
	})
	var sb strings.Builder
	for _, b := range bs {
		fmt.Fprintf(&sb, "%d:%d/%d=%d,", b.proto, b.port, b.portBits, b.rule)
	}
	content := sb.String()
	if id, ok := c.classes[content]; ok {
		return id, content
	}
	id := uniqueID("class:"+content, c.classIDs)
	c.classes[content] = id
	for _, b := range bs {
		c.d.policyPorts[policyPortKey{id, b.portBlock}] = b.rule
	}
	return id, content
}

// computePolicy fills the policy of each secured local port with groups
// and the tries they use. Ports are compiled in id order so collision
// probing, were it ever needed, picks the same ids on every run.
func (a *Agent) computePolicy(s snapshot, local map[string]localPort, d *desired) {
	c := newPolicyCompiler(newSGState(s.sgs, s.sgRules, s.ports), d)
	ids := make([]string, 0, len(local))
	for id := range local {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		lp := local[id]
		row, ok := d.ports[uint32(lp.ifindex)]
		// A record from before security groups (no security_groups at
		// all, not an empty list) keeps working as it did.
		if !ok || !row.Secure || lp.port.SecurityGroups == nil {
			continue
		}
		p := c.portPolicy(lp.port.SecurityGroups)
		row.Policy, row.PolicyID, row.Epoch, row.V6In, row.V6Out = true, p.id, p.epoch, p.v6in, p.v6out
		d.ports[uint32(lp.ifindex)] = row
	}
}

// programPolicyAdd writes new and changed policy entries: classes first,
// then the prefixes pointing at them, all before the ports that use them.
func (a *Agent) programPolicyAdd(d desired, keep func(error)) (map[policyIPKey]uint32, map[policyPortKey]uint32) {
	m := a.maps
	havePorts := map[policyPortKey]uint32{}
	rows, err := m.PolicyPortRows()
	keep(err)
	for _, r := range rows {
		havePorts[policyPortKey{r.Class, portBlock{r.Proto, r.Port, r.PortBits}}] = r.Rule
	}
	for k, rule := range d.policyPorts {
		if h, ok := havePorts[k]; !ok || h != rule {
			keep(m.PutPolicyPort(maps.PolicyPortRow{Class: k.class, Proto: k.proto, Port: k.port, PortBits: k.portBits, Rule: rule}))
		}
	}
	haveIPs := map[policyIPKey]uint32{}
	ips, err := m.PolicyIPRows()
	keep(err)
	for _, r := range ips {
		haveIPs[policyIPKey{r.PolicyID, r.Dir, r.Prefix}] = r.Class
	}
	for k, cls := range d.policyIPs {
		if h, ok := haveIPs[k]; !ok || h != cls {
			keep(m.PutPolicyIP(maps.PolicyIPRow{PolicyID: k.policyID, Dir: k.dir, Prefix: k.prefix, Class: cls}))
		}
	}
	return haveIPs, havePorts
}

// programPolicyRemove withdraws prefixes and classes no policy has any
// more. Stale prefixes of a policy still in use go before its ports get
// the new epoch (inUse): a connection checked again under the new epoch
// must not find a rule that is on its way out. Those of policies no port
// will use go after the ports moved away (!inUse), with the classes.
func (a *Agent) programPolicyRemove(d desired, haveIPs map[policyIPKey]uint32, havePorts map[policyPortKey]uint32, inUse bool, keep func(error)) {
	used := map[uint32]bool{}
	for _, p := range d.ports {
		if p.Policy {
			used[p.PolicyID] = true
		}
	}
	for k, cls := range haveIPs {
		if _, ok := d.policyIPs[k]; !ok && used[k.policyID] == inUse {
			keep(a.maps.DeletePolicyIP(maps.PolicyIPRow{PolicyID: k.policyID, Dir: k.dir, Prefix: k.prefix, Class: cls}))
		}
	}
	if inUse {
		return
	}
	for k := range havePorts {
		if _, ok := d.policyPorts[k]; !ok {
			keep(a.maps.DeletePolicyPort(maps.PolicyPortRow{Class: k.class, Proto: k.proto, Port: k.port, PortBits: k.portBits}))
		}
	}
}

// samePort compares two port rows field by field (MAC is a slice).
func samePort(a, b maps.PortRow) bool {
	return a.NetID == b.NetID && a.Up == b.Up && a.Secure == b.Secure && a.Policy == b.Policy &&
		a.PolicyID == b.PolicyID && a.Epoch == b.Epoch && a.V6In == b.V6In && a.V6Out == b.V6Out &&
		a.DHCP == b.DHCP && string(a.MAC) == string(b.MAC)
}

// ctGCInterval is how often expired connections leave the ct table (and
// ports' budgets are recounted). Timeouts themselves are exact: the
// datapath treats an expired entry as absent whether or not it was swept.
const ctGCInterval = 5 * time.Second

// gcCT sweeps the ct table until ctx ends: expired entries, and entries
// of ports no longer programmed here.
func (a *Agent) gcCT(ctx context.Context) {
	t := time.NewTicker(ctGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := a.maps.PortRows()
		if err != nil {
			a.log.Warn("ct gc", "err", err)
			continue
		}
		live := map[uint32]bool{}
		for _, r := range rows {
			live[r.Ifindex] = r.Policy
		}
		n, err := a.maps.GCCT(maps.Monotonic(), func(ifindex uint32) bool { return live[ifindex] })
		if err != nil {
			a.log.Warn("ct gc", "err", err)
		} else if n > 0 {
			a.log.Debug("ct gc", "removed", n)
		}
	}
}
