package model

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"slices"
)

// BlockSize is the number of addresses in one IPAM block.
const BlockSize = 16

// AllocateIP picks a free address of sub for a port hosted on node. used maps
// every address already taken in the subnet to the node hosting its port.
//
// Two nodes allocating at the same time cannot see each other's fresh
// ports, so "lowest free address" would hand both the same IP. Like Calico's
// IPAM, the pool is cut into blocks of BlockSize addresses and a node only
// allocates from a block that is empty or holds nothing but its own ports.
// Block ownership is derived from the replicated ports themselves (no extra
// records): a block is a node's as long as its ports are the only ones in it.
// Each node walks the blocks in its own order, a rendezvous hash of (node,
// subnet, block), so nodes starting from scratch usually claim different
// blocks.
//
// Residual race: two nodes whose orders start with the same empty block and
// allocate in it before either sees the other's port can still pick the same
// address (likewise in the fallback below, used when every block is owned by
// someone else). Resolve settles that deterministically on every node: the
// younger port is marked ERROR.
func AllocateIP(sub Subnet, used map[netip.Addr]string, node string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(sub.CIDR)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}, badRequest("subnet %s has no valid IPv4 cidr", sub.ID)
	}
	p = p.Masked()
	base := u32(p.Addr())
	size := uint64(1) << (32 - p.Bits())
	nblocks := int((size + BlockSize - 1) / BlockSize)

	var pools [][2]uint32
	for _, ap := range sub.AllocationPools {
		a, err1 := netip.ParseAddr(ap.Start)
		b, err2 := netip.ParseAddr(ap.End)
		if err1 == nil && err2 == nil && a.Is4() && b.Is4() {
			pools = append(pools, [2]uint32{u32(a), u32(b)})
		}
	}
	var gw uint32
	hasGW := false
	if sub.GatewayIP != nil {
		if a, err := netip.ParseAddr(*sub.GatewayIP); err == nil && a.Is4() {
			gw, hasGW = u32(a), true
		}
	}

	taken := make(map[uint32]bool, len(used))
	foreign := make(map[int]bool)
	for a, owner := range used {
		if !a.Is4() || !p.Contains(a) {
			continue
		}
		v := u32(a)
		taken[v] = true
		if owner != node {
			foreign[int((v-base)/BlockSize)] = true
		}
	}
	// The DHCP port's address, even before this node has seen that port.
	var dhcp uint32
	if a := DHCPAddress(sub); sub.EnableDHCP && a.IsValid() {
		dhcp = u32(a)
	}
	free := func(v uint32) bool {
		if taken[v] || (hasGW && v == gw) || v == dhcp {
			return false
		}
		for _, r := range pools {
			if v >= r[0] && v <= r[1] {
				return true
			}
		}
		return false
	}
	freeIn := func(blk int) (uint32, bool) {
		start := base + uint32(blk)*BlockSize
		for i := uint32(0); i < BlockSize && uint64(start-base)+uint64(i) < size; i++ {
			if free(start + i) {
				return start + i, true
			}
		}
		return 0, false
	}

	order := make([]int, nblocks)
	score := make([]uint64, nblocks)
	for i := range order {
		order[i] = i
		score[i] = blockScore(node, sub.ID, i)
	}
	slices.SortFunc(order, func(a, b int) int {
		if score[a] != score[b] {
			if score[a] < score[b] {
				return -1
			}
			return 1
		}
		return a - b
	})
	for _, blk := range order {
		if foreign[blk] {
			continue
		}
		if v, ok := freeIn(blk); ok {
			return addr4(v), nil
		}
	}
	// Every block with room belongs to another node: take any free address.
	for blk := 0; blk < nblocks; blk++ {
		if v, ok := freeIn(blk); ok {
			return addr4(v), nil
		}
	}
	return netip.Addr{}, conflict("IpAddressGenerationFailure", "No more IP addresses available on subnet %s.", sub.ID)
}

func blockScore(node, subnet string, blk int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(subnet))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(blk))
	h.Write(b[:])
	// fnv alone mixes the trailing block number poorly: finalise it.
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
