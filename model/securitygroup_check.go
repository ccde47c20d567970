package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Security group rules in Neutron's words (neutron/db/securitygroups_db.py,
// neutron_lib's security group exceptions and the port security checks of
// the ML2 plugin): what a group, a rule and a port's security_groups may
// hold, and which exception refuses what.

// maxNameLen is Neutron's NAME_MAX_LEN and DESCRIPTION_MAX_LEN.
const maxNameLen = 255

// DefaultSecurityGroupDescription is what Neutron calls each default group.
const DefaultSecurityGroupDescription = "Default security group"

// portProtocols take port ranges (Neutron's SG_PORT_PROTO_NAMES, in its
// order, which its messages list).
var portProtocols = []string{"tcp", "udp", "dccp", "sctp", "udplite"}

// ipv6Protocols exist only over IPv6: Neutron refuses them in an IPv4 rule.
var ipv6Protocols = []int{41, 43, 44, 58, 59, 60}

// SecurityGroupNotFound is Neutron's 404 for a security group.
func SecurityGroupNotFound(id string) *Error {
	return notFound("SecurityGroupNotFound", "Security group %s does not exist", id)
}

// SecurityGroupRuleNotFound is Neutron's 404 for a security group rule.
func SecurityGroupRuleNotFound(id string) *Error {
	return notFound("SecurityGroupRuleNotFound", "Security group rule %s does not exist", id)
}

func invalid(typ, format string, a ...any) *Error {
	return &Error{Code: 400, Type: typ, Msg: fmt.Sprintf(format, a...)}
}

// IsDefault reports whether g is its project's default group. Only the
// derived id counts: no other group can be named "default".
func (g SecurityGroup) IsDefault() bool {
	return g.ID == DefaultSecurityGroupID(g.ProjectID)
}

// DefaultSecurityGroup returns project's default group and Neutron's four
// rules for it: out to anywhere over IPv4 and IPv6, in from the group's
// own members over both. Ids are derived from the project, so two nodes
// creating it at once write the same records and converge.
func DefaultSecurityGroup(project, now string) (SecurityGroup, []SecurityGroupRule) {
	id := DefaultSecurityGroupID(project)
	g := SecurityGroup{ID: id, Name: DefaultSecurityGroupName, Description: DefaultSecurityGroupDescription,
		ProjectID: project, TenantID: project, Stateful: true, Tags: []string{},
		CreatedAt: now, UpdatedAt: now, RevisionNumber: 1}
	rule := func(n int, dir, ether string, remote *string) SecurityGroupRule {
		return SecurityGroupRule{ID: DefaultRuleID(project, n), SecurityGroupID: id, ProjectID: project, TenantID: project,
			Direction: dir, Ethertype: ether, RemoteGroupID: remote, CreatedAt: now, UpdatedAt: now, RevisionNumber: 1}
	}
	self := id
	return g, []SecurityGroupRule{
		rule(0, DirEgress, EtherIPv4, nil),
		rule(1, DirEgress, EtherIPv6, nil),
		rule(2, DirIngress, EtherIPv4, &self),
		rule(3, DirIngress, EtherIPv6, &self),
	}
}

// NewGroupRules are the rules Neutron gives every group it creates besides
// the default one: out to anywhere over IPv4 and over IPv6.
func NewGroupRules(g SecurityGroup, now string) []SecurityGroupRule {
	out := make([]SecurityGroupRule, 0, 2)
	for _, ether := range []string{EtherIPv4, EtherIPv6} {
		out = append(out, SecurityGroupRule{ID: NewID(), SecurityGroupID: g.ID, ProjectID: g.ProjectID, TenantID: g.ProjectID,
			Direction: DirEgress, Ethertype: ether, CreatedAt: now, UpdatedAt: now, RevisionNumber: 1})
	}
	return out
}

// PrepareSecurityGroup checks g, a group being created (old nil) or the
// new state of old. nameGiven says whether the request named it: Neutron
// refuses any name for the default group, even its own.
func PrepareSecurityGroup(g *SecurityGroup, old *SecurityGroup, nameGiven bool) error {
	if nameGiven && strings.EqualFold(g.Name, DefaultSecurityGroupName) {
		return conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	if old != nil && old.IsDefault() && nameGiven {
		return conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
	}
	if utf8.RuneCountInString(g.Name) > maxNameLen {
		return badRequest("security group name is longer than %d characters", maxNameLen)
	}
	if utf8.RuneCountInString(g.Description) > maxNameLen {
		return badRequest("security group description is longer than %d characters", maxNameLen)
	}
	// The datapath tracks connections for every rule; a stateless group
	// would be enforced statefully, which is not what was asked.
	if !g.Stateful {
		return badRequest("stateless security groups are not supported: bnet's security groups are stateful")
	}
	tags, err := NormalizeTags(g.Tags)
	if err != nil {
		return err
	}
	g.Tags = tags
	g.TenantID = g.ProjectID
	g.SecurityGroupRules = nil
	return nil
}

// PrepareSecurityGroupRule puts r in canonical form (ethertype spelled
// IPv4/IPv6, default IPv4; protocol lower-case or a number without leading
// zeros, legacy IPv6 ICMP names made ipv6-icmp; remote_ip_prefix masked,
// a bare address a host prefix; the group's project when r names none) and
// checks it the way Neutron does, in Neutron's order. groups are the groups
// known, r's own and its remote group among them; siblings the rules
// already in r's group, which r must not duplicate.
func PrepareSecurityGroupRule(r *SecurityGroupRule, groups []SecurityGroup, siblings []SecurityGroupRule) error {
	if r.SecurityGroupID == "" {
		return invalid("HTTPBadRequest", "Failed to parse request. Required attribute 'security_group_id' not specified")
	}
	if r.Direction == "" {
		return invalid("HTTPBadRequest", "Failed to parse request. Required attribute 'direction' not specified")
	}
	if r.Direction != DirIngress && r.Direction != DirEgress {
		return invalid("InvalidInput", "Invalid input for direction. Reason: '%s' is not in ['ingress', 'egress'].", r.Direction)
	}
	switch {
	case r.Ethertype == "":
		r.Ethertype = EtherIPv4
	case strings.EqualFold(r.Ethertype, EtherIPv4):
		r.Ethertype = EtherIPv4
	case strings.EqualFold(r.Ethertype, EtherIPv6):
		r.Ethertype = EtherIPv6
	default:
		return invalid("SecurityGroupRuleInvalidEtherType",
			"Security group rule for ethertype '%s' not supported. Allowed values are ['IPv4', 'IPv6'].", r.Ethertype)
	}
	if err := normalizeProtocol(r); err != nil {
		return err
	}
	if err := checkPortRange(*r); err != nil {
		return err
	}
	if err := normalizeRemotePrefix(r); err != nil {
		return err
	}
	if n := r.Proto(); r.Ethertype == EtherIPv4 && slices.Contains(ipv6Protocols, n) {
		return invalid("SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype %s for protocol %s.", r.Ethertype, *r.Protocol)
	}
	if r.RemoteGroupID != nil && *r.RemoteGroupID == "" {
		r.RemoteGroupID = nil
	}
	if r.RemoteIPPrefix != nil && r.RemoteGroupID != nil {
		return invalid("SecurityGroupRemoteGroupAndRemoteIpPrefix", "Only remote_ip_prefix or remote_group_id may be provided.")
	}
	if r.RemoteGroupID != nil && !slices.ContainsFunc(groups, func(g SecurityGroup) bool { return g.ID == *r.RemoteGroupID }) {
		return SecurityGroupNotFound(*r.RemoteGroupID)
	}
	i := slices.IndexFunc(groups, func(g SecurityGroup) bool { return g.ID == r.SecurityGroupID })
	if i < 0 {
		return SecurityGroupNotFound(r.SecurityGroupID)
	}
	if r.ProjectID == "" {
		r.ProjectID = groups[i].ProjectID
	}
	r.TenantID = r.ProjectID
	if utf8.RuneCountInString(r.Description) > maxNameLen {
		return badRequest("security group rule description is longer than %d characters", maxNameLen)
	}
	key := ruleKey(*r)
	for _, o := range siblings {
		if o.ID != r.ID && o.SecurityGroupID == r.SecurityGroupID && ruleKey(o) == key {
			return conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", o.ID)
		}
	}
	return nil
}

// normalizeProtocol is Neutron's convert_protocol plus its legacy IPv6
// ICMP conversion: "any" and "" mean any (nil), names are lower-cased,
// numbers lose leading zeros and stay numbers.
func normalizeProtocol(r *SecurityGroupRule) error {
	if r.Protocol == nil {
		return nil
	}
	s := strings.ToLower(strings.TrimSpace(*r.Protocol))
	if s == "" || s == "any" {
		r.Protocol = nil
		return nil
	}
	if _, ok := ProtocolNumber(&s); !ok {
		names := make([]string, 0, len(protocolNumbers))
		for n := range protocolNumbers {
			names = append(names, n)
		}
		slices.Sort(names)
		return invalid("SecurityGroupRuleInvalidProtocol",
			"Security group rule protocol %s not supported. Only protocol values [None, %s] and integer representations [0 to 255] are supported.",
			*r.Protocol, strings.Join(names, ", "))
	}
	if n, err := strconv.Atoi(s); err == nil {
		s = strconv.Itoa(n)
	}
	if r.Ethertype == EtherIPv6 {
		switch s {
		case "icmp", "icmpv6":
			s = "ipv6-icmp"
		case "1":
			s = "58"
		}
	}
	r.Protocol = &s
	return nil
}

// checkPortRange is Neutron's _validate_port_range: ports only for the
// protocols that have them (both ends, 1..65535, min <= max), ICMP type
// and code (0..255, no code without a type), nothing for the others.
func checkPortRange(r SecurityGroupRule) error {
	lo, hi := r.PortRangeMin, r.PortRangeMax
	if lo == nil && hi == nil {
		return nil
	}
	for _, v := range []*int{lo, hi} {
		if v != nil && (*v < 0 || *v > 65535) {
			return invalid("SecurityGroupInvalidPortValue", "Invalid value for port %d", *v)
		}
	}
	if r.Protocol == nil {
		return invalid("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
	}
	proto := r.Proto()
	switch {
	case slices.ContainsFunc(portProtocols, func(n string) bool { return protocolNumbers[n] == proto }):
		if lo != nil && *lo == 0 || hi != nil && *hi == 0 {
			return invalid("SecurityGroupInvalidPortValue", "Invalid value for port 0")
		}
		if lo == nil || hi == nil || *lo > *hi {
			return invalid("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
		}
	case proto == 1 || proto == 58:
		for _, f := range []struct {
			v           *int
			field, attr string
		}{{lo, "type", "port_range_min"}, {hi, "code", "port_range_max"}} {
			if f.v != nil && *f.v > 255 {
				return invalid("SecurityGroupInvalidIcmpValue", "Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)
			}
		}
		if lo == nil {
			return invalid("SecurityGroupMissingIcmpType",
				"ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *hi)
		}
	default:
		upper := make([]string, len(portProtocols))
		for i, n := range portProtocols {
			upper[i] = strings.ToUpper(n)
		}
		return invalid("SecurityGroupInvalidProtocolForPort",
			"Invalid protocol %d for port range, only supported for %s protocols.", proto, strings.Join(upper, ", "))
	}
	return nil
}

// normalizeRemotePrefix masks remote_ip_prefix ("10.0.0.7/24" is
// "10.0.0.0/24", a bare address a /32 or /128) and checks its family
// against the ethertype, as Neutron's _validate_ip_prefix does.
func normalizeRemotePrefix(r *SecurityGroupRule) error {
	if r.RemoteIPPrefix == nil {
		return nil
	}
	s := strings.TrimSpace(*r.RemoteIPPrefix)
	if s == "" {
		r.RemoteIPPrefix = nil
		return nil
	}
	var pfx netip.Prefix
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return invalid("InvalidCIDR", "Invalid CIDR %s given.", s)
		}
		pfx = p
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return invalid("InvalidCIDR", "Invalid CIDR %s given.", s)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	if pfx = pfx.Masked(); !pfx.IsValid() || pfx.Addr().Zone() != "" {
		return invalid("InvalidCIDR", "Invalid CIDR %s given.", s)
	}
	if pfx.Addr().Is4() != (r.Ethertype == EtherIPv4) {
		return invalid("SecurityGroupRuleParameterConflict", "Conflicting value ethertype %s for CIDR %s", r.Ethertype, pfx)
	}
	out := pfx.String()
	r.RemoteIPPrefix = &out
	return nil
}

// RuleKey is ruleKey for checks over many rules at once (a bulk create),
// where comparing each new rule with every other would be quadratic.
func RuleKey(r SecurityGroupRule) string { return ruleKey(r) }

// ruleKey is what makes two rules of a group the same rule (Neutron's
// _rule_to_key): a protocol by number whatever its spelling, "any"
// remote the same as 0.0.0.0/0 or ::/0.
func ruleKey(r SecurityGroupRule) string {
	proto := "+"
	if n := r.Proto(); r.Protocol != nil && n != 0 {
		proto = strconv.Itoa(n)
	}
	num := func(v *int) string {
		if v == nil {
			return "+"
		}
		return strconv.Itoa(*v)
	}
	prefix := "+"
	if r.RemoteIPPrefix != nil && *r.RemoteIPPrefix != "0.0.0.0/0" && *r.RemoteIPPrefix != "::/0" {
		prefix = *r.RemoteIPPrefix
	}
	remote := "+"
	if r.RemoteGroupID != nil {
		remote = *r.RemoteGroupID
	}
	return strings.Join([]string{r.Direction, r.Ethertype, num(r.PortRangeMax), num(r.PortRangeMin), proto,
		remote, prefix, r.SecurityGroupID}, "_")
}

// PreparePortSecurityGroups fills and checks p's security_groups, p's
// project, owner and port security being final: old is the stored port on
// update (nil on create), given whether the request named
// security_groups, groups the groups known (p's project's default group
// among them even before it is stored).
//
// As in Neutron: a network-owned port has none whatever it asks; a new
// port with port security on and none asked gets its project's default
// group; groups with port security off are refused
// (PortSecurityAndIPRequiredForSecurityGroups), and so is turning port
// security off while the port keeps groups (PortSecurityPortHasSecurityGroup).
// Every group must exist in p's project. A port recorded before security
// groups (nil) keeps nil until a request names its groups.
func PreparePortSecurityGroups(p *Port, old *Port, given bool, groups []SecurityGroup) error {
	if p.NetworkOwned() {
		p.SecurityGroups = []string{}
		return nil
	}
	if !given {
		// An update keeps what is stored, nil included: a record from
		// before security groups has no policy in the datapath, which
		// [] (port security on, no group: nothing admitted) would change.
		p.SecurityGroups = nil
		if old != nil {
			p.SecurityGroups = slices.Clone(old.SecurityGroups)
		}
	}
	if !p.PortSecurity() {
		switch {
		case given && len(p.SecurityGroups) > 0:
			return invalid("PortSecurityAndIPRequiredForSecurityGroups",
				"Port security must be enabled and port must have an IP address in order to use security groups.")
		case len(p.SecurityGroups) > 0:
			return conflict("PortSecurityPortHasSecurityGroup",
				"Port has security group associated. Cannot disable port security or IP address until security group is removed")
		}
		if old == nil || given {
			p.SecurityGroups = []string{}
		}
		return nil
	}
	switch {
	case old == nil && !given:
		p.SecurityGroups = []string{DefaultSecurityGroupID(p.ProjectID)}
		return nil
	case !given:
		return nil
	}
	out := make([]string, 0, len(p.SecurityGroups))
	for _, id := range p.SecurityGroups {
		if slices.Contains(out, id) {
			continue
		}
		i := slices.IndexFunc(groups, func(g SecurityGroup) bool { return g.ID == id })
		if i < 0 {
			return SecurityGroupNotFound(id)
		}
		if groups[i].ProjectID != p.ProjectID {
			return notFound("SecurityGroupNotFound", "Security group %s does not exist in project %s (it belongs to project %s)",
				id, p.ProjectID, groups[i].ProjectID)
		}
		out = append(out, id)
	}
	p.SecurityGroups = out
	return nil
}

// PortsUsing returns the ids of the ports in ports that use group id.
func PortsUsing(ports []Port, id string) []string {
	var out []string
	for _, p := range ports {
		if slices.Contains(p.SecurityGroups, id) {
			out = append(out, p.ID)
		}
	}
	return out
}
