package maps

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"
)

// Directions of enum bnet_dir.
const (
	DirEgress  = 1
	DirIngress = 2
)

// DirName is "egress" or "ingress".
func DirName(d uint32) string {
	switch d {
	case DirEgress:
		return "egress"
	case DirIngress:
		return "ingress"
	}
	return fmt.Sprintf("dir_%d", d)
}

// PolicyIPRow is one policy_ips entry: for remotes in Prefix, traffic of
// policy PolicyID in direction Dir is judged by the rules of Class.
type PolicyIPRow struct {
	PolicyID uint32
	Dir      uint32
	Prefix   netip.Prefix
	Class    uint32
}

// PolicyPortRow is one policy_ports entry: class Class allows protocol
// Proto (0: any protocol) to ports Port/PortBits (PortBits 0: any port;
// for ICMP the port is type<<8|code). Rule is a handle of the security
// group rule it came from, for people reading the map.
type PolicyPortRow struct {
	Class    uint32
	Proto    uint8
	Port     uint16
	PortBits uint8
	Rule     uint32
}

func policyIPKey(r PolicyIPRow) (bnetPolicyIpKey, error) {
	ip, err := ipToU32(r.Prefix.Masked().Addr())
	if err != nil || !r.Prefix.IsValid() {
		return bnetPolicyIpKey{}, fmt.Errorf("policy %d %s remote %v: not an IPv4 prefix", r.PolicyID, DirName(r.Dir), r.Prefix)
	}
	return bnetPolicyIpKey{Prefixlen: 64 + uint32(r.Prefix.Bits()), PolicyId: r.PolicyID, Dir: r.Dir, Ip: ip}, nil
}

// PutPolicyIP writes one policy_ips entry.
func (m *Maps) PutPolicyIP(r PolicyIPRow) error {
	k, err := policyIPKey(r)
	if err == nil {
		err = m.put(m.PolicyIPs, &k, r.Class)
	}
	if err != nil {
		return fmt.Errorf("put policy %d %s %v: %w", r.PolicyID, DirName(r.Dir), r.Prefix, err)
	}
	return nil
}

// DeletePolicyIP removes one; a missing one is not an error.
func (m *Maps) DeletePolicyIP(r PolicyIPRow) error {
	k, err := policyIPKey(r)
	if err == nil {
		err = ignoreMissing(m.PolicyIPs.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete policy %d %s %v: %w", r.PolicyID, DirName(r.Dir), r.Prefix, err)
	}
	return nil
}

// PolicyIPRows lists policy_ips.
func (m *Maps) PolicyIPRows() ([]PolicyIPRow, error) {
	var (
		k    bnetPolicyIpKey
		v    uint32
		rows []PolicyIPRow
	)
	it := m.PolicyIPs.Iterate()
	for it.Next(&k, &v) {
		bits := int(k.Prefixlen) - 64
		if bits < 0 || bits > 32 {
			continue
		}
		rows = append(rows, PolicyIPRow{PolicyID: k.PolicyId, Dir: k.Dir, Prefix: netip.PrefixFrom(u32ToIP(k.Ip), bits), Class: v})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPolicyIPs, err)
	}
	slices.SortFunc(rows, func(a, b PolicyIPRow) int {
		return cmp.Or(cmp.Compare(a.PolicyID, b.PolicyID), cmp.Compare(a.Dir, b.Dir),
			a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return rows, nil
}

func policyPortKey(r PolicyPortRow) (bnetPolicyPortKey, error) {
	k := bnetPolicyPortKey{ClassId: r.Class}
	switch {
	case r.PortBits > 16:
		return k, fmt.Errorf("class %d proto %d: port prefix /%d is longer than 16 bits", r.Class, r.Proto, r.PortBits)
	case r.Proto == 0 && r.PortBits > 0:
		return k, fmt.Errorf("class %d: a port range needs a protocol", r.Class)
	case r.Proto == 0:
		k.Prefixlen = 32
	case r.PortBits == 0:
		k.Prefixlen = 40
		k.Proto = r.Proto
	default:
		k.Prefixlen = 48 + uint32(r.PortBits)
		k.Proto = r.Proto
		// Network order, so the trie sees the high bits first.
		k.Port = binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, r.Port&portMask(r.PortBits)))
	}
	return k, nil
}

func portMask(bits uint8) uint16 { return ^uint16(0) << (16 - bits) }

// PutPolicyPort writes one policy_ports entry.
func (m *Maps) PutPolicyPort(r PolicyPortRow) error {
	k, err := policyPortKey(r)
	if err == nil {
		err = m.put(m.PolicyPorts, &k, r.Rule)
	}
	if err != nil {
		return fmt.Errorf("put policy class %d proto %d port %d/%d: %w", r.Class, r.Proto, r.Port, r.PortBits, err)
	}
	return nil
}

// DeletePolicyPort removes one; a missing one is not an error.
func (m *Maps) DeletePolicyPort(r PolicyPortRow) error {
	k, err := policyPortKey(r)
	if err == nil {
		err = ignoreMissing(m.PolicyPorts.Delete(&k))
	}
	if err != nil {
		return fmt.Errorf("delete policy class %d proto %d port %d/%d: %w", r.Class, r.Proto, r.Port, r.PortBits, err)
	}
	return nil
}

// PolicyPortRows lists policy_ports (Rule included).
func (m *Maps) PolicyPortRows() ([]PolicyPortRow, error) {
	var (
		k    bnetPolicyPortKey
		v    uint32
		rows []PolicyPortRow
	)
	it := m.PolicyPorts.Iterate()
	for it.Next(&k, &v) {
		r := PolicyPortRow{Class: k.ClassId, Rule: v}
		switch {
		case k.Prefixlen == 32:
		case k.Prefixlen == 40:
			r.Proto = k.Proto
		case k.Prefixlen > 48 && k.Prefixlen <= 64:
			r.Proto = k.Proto
			r.PortBits = uint8(k.Prefixlen - 48)
			r.Port = binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, k.Port))
		default:
			continue
		}
		rows = append(rows, r)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapPolicyPorts, err)
	}
	slices.SortFunc(rows, func(a, b PolicyPortRow) int {
		return cmp.Or(cmp.Compare(a.Class, b.Class), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port),
			cmp.Compare(a.PortBits, b.PortBits))
	})
	return rows, nil
}

// PortRange is an inclusive range split into the aligned blocks the
// policy_ports trie holds: 1-65535 is fifteen blocks, 22-22 one.
func PortRange(lo, hi uint16) []struct {
	Port uint16
	Bits uint8
} {
	var out []struct {
		Port uint16
		Bits uint8
	}
	for v := uint32(lo); v <= uint32(hi); {
		// The largest block starting at v that is aligned and fits.
		size := uint32(1)
		for size < 65536 && v%(size*2) == 0 && v+size*2-1 <= uint32(hi) {
			size *= 2
		}
		bits := uint8(16)
		for s := size; s > 1; s /= 2 {
			bits--
		}
		out = append(out, struct {
			Port uint16
			Bits uint8
		}{uint16(v), bits})
		v += size
	}
	return out
}

// ---- connection tracking ----------------------------------------------------

// CT state bits (BNET_CT_*).
const (
	CTReplied = 1 << 0
	CTFinOut  = 1 << 1
	CTFinIn   = 1 << 2
	CTRst     = 1 << 3
)

// CTRow is one tracked connection of a port, from the port's side.
type CTRow struct {
	Ifindex    uint32
	Proto      uint8
	Local      netip.Addr
	LocalPort  uint16
	Remote     netip.Addr
	RemotePort uint16
	Origin     uint32 // DirEgress: the VM opened it
	State      uint8
	Epoch      uint32
	MPort      uint16
	Packets    uint64
	Expires    uint64 // CLOCK_MONOTONIC nanoseconds
}

func be16(v uint16) uint16 { return binary.BigEndian.Uint16(binary.NativeEndian.AppendUint16(nil, v)) }

func ctRow(k bnetCtKey, v bnetCtEntry) CTRow {
	return CTRow{Ifindex: k.Ifindex, Proto: k.Proto, Local: u32ToIP(k.LocalIp), LocalPort: be16(k.LocalPort),
		Remote: u32ToIP(k.RemoteIp), RemotePort: be16(k.RemotePort), Origin: uint32(v.Origin), State: v.State,
		Epoch: v.Epoch, MPort: be16(v.Mport), Packets: v.Packets, Expires: v.Expires}
}

// CTRows lists tracked connections, expired ones the GC has not removed
// yet included (Expires says).
func (m *Maps) CTRows() ([]CTRow, error) {
	var (
		k    bnetCtKey
		v    bnetCtEntry
		rows []CTRow
	)
	it := m.CT.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, ctRow(k, v))
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapCT, err)
	}
	slices.SortFunc(rows, func(a, b CTRow) int {
		return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), cmp.Compare(a.Proto, b.Proto), a.Remote.Compare(b.Remote),
			cmp.Compare(a.RemotePort, b.RemotePort), cmp.Compare(a.LocalPort, b.LocalPort))
	})
	return rows, nil
}

// Monotonic is the clock ct entries expire by (bpf_ktime_get_ns).
func Monotonic() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// GCCT removes the ct entries that expired by now or whose port keep
// says is gone, and sets every port's ct_count, and every sender's
// ct_src_count, to what it holds after that (the datapath gives back only
// what it deletes itself, so the counts are made true here). It returns
// how many entries went.
func (m *Maps) GCCT(now uint64, keep func(ifindex uint32) bool) (int, error) {
	var (
		k     bnetCtKey
		v     bnetCtEntry
		stale []bnetCtKey
	)
	counts := map[uint32]uint32{}
	srcs := map[bnetCtSrcKey]uint32{}
	count := func(k *bnetCtKey, v *bnetCtEntry) {
		counts[k.Ifindex]++
		if v.Origin == DirIngress {
			srcs[bnetCtSrcKey{Ifindex: k.Ifindex, RemoteIp: k.RemoteIp}]++
		}
	}
	it := m.CT.Iterate()
	for it.Next(&k, &v) {
		if v.Expires <= now || !keep(k.Ifindex) {
			stale = append(stale, k)
			continue
		}
		count(&k, &v)
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("gc %s: %w", MapCT, err)
	}
	var errs []error
	for i := range stale {
		// An entry refreshed since it was read is alive again: look first.
		if err := m.CT.Lookup(&stale[i], &v); err == nil && v.Expires > now && keep(stale[i].Ifindex) {
			count(&stale[i], &v)
			stale[i] = bnetCtKey{}
			continue
		}
		if err := ignoreMissing(m.CT.Delete(&stale[i])); err != nil {
			errs = append(errs, err)
		}
	}
	var idx, n uint32
	var gone []uint32
	cit := m.CTCount.Iterate()
	for cit.Next(&idx, &n) {
		if _, ok := counts[idx]; !ok {
			gone = append(gone, idx)
		}
	}
	for _, idx := range gone {
		errs = append(errs, ignoreMissing(m.CTCount.Delete(idx)))
	}
	for idx, n := range counts {
		errs = append(errs, m.CTCount.Put(idx, n))
	}
	var sk bnetCtSrcKey
	var sgone []bnetCtSrcKey
	sit := m.CTSrcCount.Iterate()
	for sit.Next(&sk, &n) {
		if _, ok := srcs[sk]; !ok {
			sgone = append(sgone, sk)
		}
	}
	for i := range sgone {
		errs = append(errs, ignoreMissing(m.CTSrcCount.Delete(&sgone[i])))
	}
	for sk, n := range srcs {
		errs = append(errs, m.CTSrcCount.Put(&sk, n))
	}
	deleted := 0
	for _, s := range stale {
		if s != (bnetCtKey{}) {
			deleted++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("gc %s: %w", MapCT, err)
	}
	return deleted, nil
}

// DeleteCTPort removes every tracked connection of one port.
func (m *Maps) DeleteCTPort(ifindex uint32) error {
	_, err := m.GCCT(0, func(i uint32) bool { return i != ifindex })
	return err
}

// CTConfig is ct_config[0]: the per-port budget, the share of it one
// remote address may open, and the timeouts in seconds (0: the datapath's
// default).
type CTConfig struct {
	PortMax, SrcMax                 uint32
	TCPSyn, TCPEst, TCPFin, TCPClos uint32
	OtherNew, OtherEst              uint32
}

// SetCTConfig writes ct_config[0].
func (m *Maps) SetCTConfig(c CTConfig) error {
	v := bnetCtCfg{PortMax: c.PortMax, SrcMax: c.SrcMax, TcpSyn: c.TCPSyn, TcpEst: c.TCPEst, TcpFin: c.TCPFin, TcpClose: c.TCPClos,
		OtherNew: c.OtherNew, OtherEst: c.OtherEst}
	if err := m.CTConfig.Put(uint32(0), &v); err != nil {
		return fmt.Errorf("put %s: %w", MapCTConfig, err)
	}
	return nil
}

// CTCounts is ct_count: entries charged to each port.
func (m *Maps) CTCounts() (map[uint32]uint32, error) {
	out := map[uint32]uint32{}
	var k, v uint32
	it := m.CTCount.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapCTCount, err)
	}
	return out, nil
}

// CTSrcRow is one ct_src_count entry: Remote has opened Count of port
// Ifindex's tracked connections (its share, held to CTConfig.SrcMax).
type CTSrcRow struct {
	Ifindex uint32
	Remote  netip.Addr
	Count   uint32
}

// CTSrcRows reads ct_src_count, by port then remote address; senders
// holding nothing are left out.
func (m *Maps) CTSrcRows() ([]CTSrcRow, error) {
	var (
		k    bnetCtSrcKey
		n    uint32
		rows []CTSrcRow
	)
	it := m.CTSrcCount.Iterate()
	for it.Next(&k, &n) {
		if n > 0 {
			rows = append(rows, CTSrcRow{Ifindex: k.Ifindex, Remote: u32ToIP(k.RemoteIp), Count: n})
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapCTSrcCount, err)
	}
	slices.SortFunc(rows, func(a, b CTSrcRow) int {
		return cmp.Or(cmp.Compare(a.Ifindex, b.Ifindex), a.Remote.Compare(b.Remote))
	})
	return rows, nil
}

// CTConfigRow reads ct_config[0].
func (m *Maps) CTConfigRow() (CTConfig, error) {
	var v bnetCtCfg
	if err := m.CTConfig.Lookup(uint32(0), &v); err != nil {
		return CTConfig{}, fmt.Errorf("read %s: %w", MapCTConfig, err)
	}
	return CTConfig{PortMax: v.PortMax, SrcMax: v.SrcMax, TCPSyn: v.TcpSyn, TCPEst: v.TcpEst, TCPFin: v.TcpFin,
		TCPClos: v.TcpClose, OtherNew: v.OtherNew, OtherEst: v.OtherEst}, nil
}

// VIPClaimRow is one vip_claims entry: port Ifindex announced IP (on
// network NetID) with MAC, at Seen (CLOCK_MONOTONIC nanoseconds).
type VIPClaimRow struct {
	NetID   uint32
	IP      netip.Addr
	MAC     net.HardwareAddr
	Ifindex uint32
	Seen    uint64
}

// VIPClaimRows lists the gratuitous ARP claims the datapath has seen.
func (m *Maps) VIPClaimRows() ([]VIPClaimRow, error) {
	var (
		k    bnetArpKey
		v    bnetVipClaim
		rows []VIPClaimRow
	)
	it := m.VIPClaims.Iterate()
	for it.Next(&k, &v) {
		rows = append(rows, VIPClaimRow{NetID: k.NetId, IP: u32ToIP(k.Ip), MAC: macAddr(v.Mac), Ifindex: v.Ifindex, Seen: v.Seen})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", MapVIPClaims, err)
	}
	slices.SortFunc(rows, func(a, b VIPClaimRow) int { return cmp.Or(cmp.Compare(a.NetID, b.NetID), a.IP.Compare(b.IP)) })
	return rows, nil
}
