package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Resolve settles uniqueness conflicts that concurrent creates on different
// nodes can produce (there is no central database to refuse the second one).
// It returns id -> reason for every loser: a port sharing a MAC or an IP with
// another port of its network, a network sharing a (type, segment id), a
// (physnet, VLAN) or a flat physnet with another, a subnet overlapping
// another of its network. The winner is always the object with the smallest
// (CreatedAt, ID), so every node computes the same answer from the same
// replicated state, whatever order it received it in. A loser claims
// nothing: an object conflicting only with losers wins.
func Resolve(nets []Network, subs []Subnet, ports []Port) map[string]string {
	out := make(map[string]string)

	nets = slices.Clone(nets)
	slices.SortFunc(nets, func(a, b Network) int { return older(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	seg := make(map[string]string)
	for _, n := range nets {
		var keys, reasons []string
		physnet := ""
		if n.PhysicalNetwork != nil {
			physnet = *n.PhysicalNetwork
		}
		switch n.NetworkType {
		case TypeVXLAN, TypeGRE:
			if n.SegmentationID != nil {
				keys = append(keys, fmt.Sprintf("seg|%s|%d", n.NetworkType, *n.SegmentationID))
				reasons = append(reasons, fmt.Sprintf("%s segment %d", n.NetworkType, *n.SegmentationID))
			}
		case TypeVLAN:
			if n.SegmentationID != nil {
				keys = append(keys, fmt.Sprintf("vlan|%s|%d", physnet, *n.SegmentationID))
				reasons = append(reasons, fmt.Sprintf("vlan %d on physnet %s", *n.SegmentationID, physnet))
			}
		case TypeFlat:
			keys = append(keys, "flat|"+physnet)
			reasons = append(reasons, "flat physnet "+physnet)
		}
		claim(out, seg, "network", n.ID, keys, reasons)
	}

	subs = slices.Clone(subs)
	slices.SortFunc(subs, func(a, b Subnet) int { return older(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	won := make(map[string][]Subnet) // network id -> winning subnets
	for _, s := range subs {
		p, err := netip.ParsePrefix(s.CIDR)
		if err != nil {
			continue
		}
		lost := false
		for _, w := range won[s.NetworkID] {
			if wp, err := netip.ParsePrefix(w.CIDR); err == nil && wp.Overlaps(p) {
				out[s.ID] = fmt.Sprintf("cidr %s overlaps subnet %s (%s)", s.CIDR, w.ID, w.CIDR)
				lost = true
				break
			}
		}
		if !lost {
			won[s.NetworkID] = append(won[s.NetworkID], s)
		}
	}

	ports = slices.Clone(ports)
	slices.SortFunc(ports, func(a, b Port) int { return older(a.CreatedAt, a.ID, b.CreatedAt, b.ID) })
	addr := make(map[string]string)
	for _, p := range ports {
		var keys, reasons []string
		if p.MACAddress != "" {
			m := strings.ToLower(p.MACAddress)
			keys = append(keys, "mac|"+p.NetworkID+"|"+m)
			reasons = append(reasons, "mac "+m)
		}
		for _, f := range p.FixedIPs {
			if a, err := netip.ParseAddr(f.IPAddress); err == nil {
				keys = append(keys, "ip|"+p.NetworkID+"|"+a.String())
				reasons = append(reasons, "ip "+a.String())
			}
		}
		claim(out, addr, "port", p.ID, keys, reasons)
	}
	return out
}

// claim gives every key to id unless one is held already, in which case id
// loses and claims nothing.
func claim(out, held map[string]string, kind, id string, keys, reasons []string) {
	for i, k := range keys {
		if w, ok := held[k]; ok && w != id {
			out[id] = fmt.Sprintf("%s already used by %s %s", reasons[i], kind, w)
			return
		}
	}
	for _, k := range keys {
		held[k] = id
	}
}

// older orders objects by creation time then id: the first one wins.
func older(ca, ida, cb, idb string) int {
	return cmp.Or(compareCreated(ca, cb), cmp.Compare(ida, idb))
}

// compareCreated compares two RFC 3339 timestamps; an unparsable one sorts
// after every valid one and by text among its kind, so the order stays total.
func compareCreated(a, b string) int {
	ta, ea := time.Parse(time.RFC3339Nano, a)
	tb, eb := time.Parse(time.RFC3339Nano, b)
	switch {
	case ea == nil && eb == nil:
		return ta.Compare(tb)
	case ea == nil:
		return -1
	case eb == nil:
		return 1
	}
	return cmp.Compare(a, b)
}
