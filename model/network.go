package model

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// Encapsulation overhead subtracted from the underlay MTU, as Neutron's ML2
// type drivers do (IPv4 underlay): VXLAN 50 bytes, GRE 42 bytes.
const (
	OverheadVXLAN = 50
	OverheadGRE   = 42
	minMTU        = 68 // IPv4 minimum
)

// Segment id ranges per network type.
const (
	MaxVLAN   = 4094
	MaxVNI    = 1<<24 - 1
	MaxGREKey = 1<<32 - 1
	// Automatic VNIs/GRE keys start here, like Neutron's usual vni_ranges,
	// and are spread over autoSpread values (see allocateSegment).
	autoSegmentBase   = 1000
	autoSegmentSpread = 1 << 16
)

// DefaultNetworkType is what a network gets without provider:network_type,
// Neutron's usual tenant_network_types.
const DefaultNetworkType = TypeVXLAN

// MaxMTU is the largest MTU a network of type typ can offer over an underlay
// of underlayMTU bytes.
func MaxMTU(typ string, underlayMTU int) int {
	switch typ {
	case TypeVXLAN:
		return underlayMTU - OverheadVXLAN
	case TypeGRE:
		return underlayMTU - OverheadGRE
	}
	return underlayMTU
}

// MTUReason explains the MTU a network has, for `bnet network show`:
// where the number comes from, so nobody has to guess at overheads.
func MTUReason(n Network, underlayMTU int) string {
	limit := MaxMTU(n.NetworkType, underlayMTU)
	var why string
	switch n.NetworkType {
	case TypeVXLAN:
		why = fmt.Sprintf("underlay_mtu %d - %d bytes of VXLAN overhead (outer IPv4, UDP, VXLAN, inner Ethernet)", underlayMTU, OverheadVXLAN)
	case TypeGRE:
		why = fmt.Sprintf("underlay_mtu %d - %d bytes of GRE overhead (outer IPv4, GRE with key, inner Ethernet)", underlayMTU, OverheadGRE)
	case TypeFlat, TypeVLAN:
		why = fmt.Sprintf("underlay_mtu %d: provider networks carry no encapsulation", underlayMTU)
	default:
		why = fmt.Sprintf("underlay_mtu %d", underlayMTU)
	}
	switch {
	case n.MTU == limit:
		return why
	case n.MTU < limit:
		return fmt.Sprintf("set at creation; at most %d here (%s)", limit, why)
	default:
		return fmt.Sprintf("set at creation, above the %d this node's underlay allows (%s): oversize packets get ICMP frag-needed", limit, why)
	}
}

// PrepareNetwork fills the defaults of n (type, MTU, an automatic segment id,
// port_security_enabled true) and checks it against others, every other network known (excluding n
// itself on update). It only changes n.
func PrepareNetwork(n *Network, others []Network, underlayMTU int) error {
	if n.NetworkType == "" {
		n.NetworkType = DefaultNetworkType
	}
	if n.PortSecurityEnabled == nil {
		n.PortSecurityEnabled = Bool(true)
	}
	if n.PhysicalNetwork != nil && *n.PhysicalNetwork == "" {
		n.PhysicalNetwork = nil
	}
	if n.Name != "" && len(n.Name) > 255 {
		return badRequest("network name is longer than 255 characters")
	}
	physnet := ""
	if n.PhysicalNetwork != nil {
		physnet = *n.PhysicalNetwork
	}
	switch n.NetworkType {
	case TypeLocal:
		if physnet != "" || n.SegmentationID != nil {
			return badRequest("local networks take neither provider:physical_network nor provider:segmentation_id")
		}
	case TypeFlat:
		if physnet == "" {
			return badRequest("flat networks need provider:physical_network")
		}
		if n.SegmentationID != nil {
			return badRequest("flat networks take no provider:segmentation_id")
		}
		for _, o := range others {
			if o.NetworkType == TypeFlat && o.PhysicalNetwork != nil && *o.PhysicalNetwork == physnet {
				return conflict("FlatNetworkInUse", "Unable to create the flat network. Physical network %s is in use (network %s).", physnet, o.ID)
			}
		}
	case TypeVLAN:
		if physnet == "" {
			return badRequest("vlan networks need provider:physical_network")
		}
		if n.SegmentationID == nil {
			return badRequest("vlan networks need provider:segmentation_id (1..%d)", MaxVLAN)
		}
		if v := *n.SegmentationID; v < 1 || v > MaxVLAN {
			return badRequest("provider:segmentation_id %d out of range for vlan (1..%d)", v, MaxVLAN)
		}
		for _, o := range others {
			if o.NetworkType == TypeVLAN && o.PhysicalNetwork != nil && *o.PhysicalNetwork == physnet &&
				o.SegmentationID != nil && *o.SegmentationID == *n.SegmentationID {
				return conflict("VlanIdInUse", "Unable to create the network. The VLAN %d on physical network %s is in use (network %s).", *n.SegmentationID, physnet, o.ID)
			}
		}
	case TypeVXLAN, TypeGRE:
		if physnet != "" {
			return badRequest("%s networks take no provider:physical_network", n.NetworkType)
		}
		maxID := MaxVNI
		if n.NetworkType == TypeGRE {
			maxID = MaxGREKey
		}
		if n.SegmentationID == nil {
			id, err := allocateSegment(n.NetworkType, n.ID, others, maxID)
			if err != nil {
				return err
			}
			n.SegmentationID = &id
		}
		if v := *n.SegmentationID; v < 1 || v > maxID {
			return badRequest("provider:segmentation_id %d out of range for %s (1..%d)", v, n.NetworkType, maxID)
		}
		for _, o := range others {
			if o.NetworkType == n.NetworkType && o.SegmentationID != nil && *o.SegmentationID == *n.SegmentationID {
				return conflict("TunnelIdInUse", "Unable to create the network. The tunnel ID %d is in use (network %s).", *n.SegmentationID, o.ID)
			}
		}
	default:
		return badRequest("provider:network_type %q is not one of local, flat, vlan, vxlan, gre", n.NetworkType)
	}

	limit := MaxMTU(n.NetworkType, underlayMTU)
	if n.MTU == 0 {
		n.MTU = limit
	}
	if n.MTU > limit {
		return badRequest("Requested MTU is too big, maximum is %d", limit)
	}
	if n.MTU < minMTU {
		return badRequest("mtu %d is below the IPv4 minimum %d", n.MTU, minMTU)
	}
	tags, err := NormalizeTags(n.Tags)
	if err != nil {
		return err
	}
	n.Tags = tags
	return nil
}

// allocateSegment picks a free VNI/GRE key. Neutron takes the smallest free
// id from a central database; bnet has none, so two nodes creating networks at
// once would both pick the smallest and one network would lose (ERROR). The
// starting point is therefore derived from the network's (random) id, then
// probed upward: deterministic for a given network, and two concurrent
// creates collide only with probability ~1/65536.
func allocateSegment(typ, id string, others []Network, maxID int) (int, error) {
	used := make(map[int]bool)
	for _, o := range others {
		if o.NetworkType == typ && o.SegmentationID != nil {
			used[*o.SegmentationID] = true
		}
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(id)))
	start := autoSegmentBase + int(h.Sum32()%autoSegmentSpread)
	span := maxID - autoSegmentBase + 1
	for i := 0; i < span; i++ {
		v := autoSegmentBase + (start-autoSegmentBase+i)%span
		if !used[v] {
			return v, nil
		}
	}
	return 0, conflict("NoNetworkAvailable", "Unable to create the network. No %s segment id is available.", typ)
}
