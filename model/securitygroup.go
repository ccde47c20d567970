package model

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
)

// Store kinds of security groups and their rules. Rules are records of
// their own, so adding or removing one replicates as one small record and
// two nodes editing one group's rules never overwrite each other.
const (
	KindSecurityGroup     = "security_group"
	KindSecurityGroupRule = "security_group_rule"
)

// DefaultSecurityGroupName is the name of each project's default group.
const DefaultSecurityGroupName = "default"

// Rule directions and ethertypes, spelled as Neutron spells them.
const (
	DirIngress = "ingress"
	DirEgress  = "egress"
	EtherIPv4  = "IPv4"
	EtherIPv6  = "IPv6"
)

// SecurityGroup is /v2.0/security-groups. SecurityGroupRules is derived on
// read from the rule records (never stored in the group record).
type SecurityGroup struct {
	ID                 string              `json:"id"`
	Name               string              `json:"name"`
	Description        string              `json:"description"`
	ProjectID          string              `json:"project_id"`
	TenantID           string              `json:"tenant_id"`
	Stateful           bool                `json:"stateful"`
	SecurityGroupRules []SecurityGroupRule `json:"security_group_rules"`
	Tags               []string            `json:"tags"`
	CreatedAt          string              `json:"created_at"`
	UpdatedAt          string              `json:"updated_at"`
	RevisionNumber     int                 `json:"revision_number"`
}

// SecurityGroupRule is /v2.0/security-group-rules. Protocol is nil for any
// protocol, else a name Neutron knows ("tcp", "udp", "icmp", ...) or a
// number as a string. For ICMP, PortRangeMin is the type and PortRangeMax
// the code, as in Neutron. At most one of RemoteIPPrefix and RemoteGroupID
// is set; neither means any remote.
type SecurityGroupRule struct {
	ID              string  `json:"id"`
	SecurityGroupID string  `json:"security_group_id"`
	ProjectID       string  `json:"project_id"`
	TenantID        string  `json:"tenant_id"`
	Direction       string  `json:"direction"`
	Ethertype       string  `json:"ethertype"`
	Protocol        *string `json:"protocol"`
	PortRangeMin    *int    `json:"port_range_min"`
	PortRangeMax    *int    `json:"port_range_max"`
	RemoteIPPrefix  *string `json:"remote_ip_prefix"`
	RemoteGroupID   *string `json:"remote_group_id"`
	Description     string  `json:"description"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
	RevisionNumber  int     `json:"revision_number"`
}

// protocolNumbers are the protocol names Neutron accepts in a rule.
var protocolNumbers = map[string]int{
	"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2,
	"ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
	"tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}

// ProtocolNumber is the IP protocol number of a rule's protocol: 0 for any
// (nil, "any" or "0"), ok false for a name or number Neutron would refuse.
func ProtocolNumber(p *string) (int, bool) {
	if p == nil {
		return 0, true
	}
	s := strings.ToLower(*p)
	if s == "" || s == "any" {
		return 0, true
	}
	if n, ok := protocolNumbers[s]; ok {
		return n, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, false
	}
	return n, true
}

// Proto is the rule's IP protocol number (0: any). Stored rules were
// checked on the way in; an unknown value reads as "matches nothing" (-1).
func (r SecurityGroupRule) Proto() int {
	n, ok := ProtocolNumber(r.Protocol)
	if !ok {
		return -1
	}
	return n
}

// DefaultSecurityGroupID is the id of project's default group. It is
// derived from the project, so two nodes creating it at once create the
// same record instead of two default groups.
func DefaultSecurityGroupID(project string) string {
	return derivedID("security-group/default/" + project)
}

// DefaultRuleID is the id of the n-th rule of project's default group.
func DefaultRuleID(project string, n int) string {
	return derivedID(fmt.Sprintf("security-group/default/%s/rule/%d", project, n))
}

// derivedID is a UUID-shaped (version 5 style) id from a name.
func derivedID(name string) string {
	b := sha256.Sum256([]byte(name))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
