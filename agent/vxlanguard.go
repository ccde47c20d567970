package agent

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The VXLAN device in external mode takes UDP on its port from anyone;
// bnet_tun_in then judges (network, VTEP) pairs, but a packet from a host
// that is no member of the cluster should not reach the device at all. So
// table "ip bnet_underlay" drops VXLAN whose source is not a member's VTEP,
// early (raw priority, before conntrack spends an entry on it), counted.
// GRE never reaches netfilter: bnet_ul_in consumes it, with its own check.
const guardTable = "bnet_underlay"

// guardVXLAN keeps the member set in step with gossip. It reads the set
// back first: an unchanged set costs nothing, and a table removed or
// edited behind the agent's back is rebuilt at the next reconcile.
func (a *Agent) guardVXLAN(nodes map[string]nodeView) error {
	var want []netip.Addr
	for _, nv := range nodes {
		if nv.alive && nv.vtep.Is4() {
			want = append(want, nv.vtep)
		}
	}
	// Static VTEPs are no members but are heard on their own segments;
	// bnet_tun_in still judges the (segment, VTEP) pair.
	want = append(want, a.cfg.AllStaticVTEPs()...)
	slices.SortFunc(want, netip.Addr.Compare)
	want = slices.Compact(want)

	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if have, ok := guardMembers(c); ok && slices.Equal(have, want) {
		return nil
	}
	// One batch: the old table goes and the new one comes atomically.
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: guardTable}
	c.AddTable(t)
	c.DelTable(t)
	t = c.AddTable(t)
	set := &nftables.Set{Table: t, Name: "vteps", KeyType: nftables.TypeIPAddr}
	elems := make([]nftables.SetElement, 0, len(want))
	for _, v := range want {
		b := v.As4()
		elems = append(elems, nftables.SetElement{Key: b[:]})
	}
	if err := c.AddSet(set, elems); err != nil {
		return fmt.Errorf("nftables set %s/vteps: %w", guardTable, err)
	}
	ch := c.AddChain(&nftables.Chain{
		Name: "vxlan", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(a.cfg.VXLANPort))},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables table %s: %w", guardTable, err)
	}
	a.log.Info("VXLAN admitted from members", "vteps", len(want))
	return nil
}

// guardMembers reads the member set as it is in the kernel.
func guardMembers(c *nftables.Conn) ([]netip.Addr, bool) {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: guardTable}
	set, err := c.GetSetByName(t, "vteps")
	if err != nil {
		return nil, false
	}
	if chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4); err != nil || !slices.ContainsFunc(chains,
		func(ch *nftables.Chain) bool { return ch.Table.Name == guardTable && ch.Name == "vxlan" }) {
		return nil, false
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return nil, false
	}
	out := make([]netip.Addr, 0, len(elems))
	for _, e := range elems {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, true
}
