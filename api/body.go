package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bnet-dev/bnet/model"
)

// maxBody bounds a request body: the largest legitimate one (a port with a
// few fixed IPs) is well under a kilobyte.
const maxBody = 1 << 20

// attrs says which attributes of one resource a client may send.
type attrs struct {
	post, put []string
	// ignored are Neutron attributes bnet does not implement; accepted (the
	// OpenStack client sends some of them by default) and dropped.
	ignored []string
	// ints and bools accept the string forms the OpenStack client sends
	// ("provider:segmentation_id": "100").
	ints, bools []string
	// check, when set, checks and rewrites the shape of attributes that
	// decoding onto the model would not judge (nulls, nested objects), after
	// the string conversions.
	check func(in map[string]json.RawMessage) error
}

var (
	networkAttrs = attrs{
		post: []string{"name", "admin_state_up", "shared", "router:external", "mtu", "provider:network_type",
			"provider:physical_network", "provider:segmentation_id", "port_security_enabled", "description", "tags",
			"project_id", "tenant_id"},
		put:     []string{"name", "admin_state_up", "shared", "router:external", "mtu", "port_security_enabled", "description", "tags"},
		ignored: []string{"availability_zone_hints", "is_default", "dns_domain", "qos_policy_id", "vlan_transparent"},
		ints:    []string{"mtu", "provider:segmentation_id"},
		bools:   []string{"admin_state_up", "shared", "router:external", "port_security_enabled"},
		check:   checkPortSecurityBody,
	}
	subnetAttrs = attrs{
		post: []string{"name", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp", "allocation_pools",
			"dns_nameservers", "host_routes", "description", "tags", "project_id", "tenant_id"},
		put: []string{"name", "gateway_ip", "enable_dhcp", "allocation_pools", "dns_nameservers", "host_routes", "description", "tags"},
		ignored: []string{"ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id", "prefixlen", "use_default_subnetpool",
			"service_types", "segment_id", "dns_publish_fixed_ip"},
		ints:  []string{"ip_version"},
		bools: []string{"enable_dhcp"},
	}
	portAttrs = attrs{
		post: []string{"name", "network_id", "mac_address", "fixed_ips", "admin_state_up", "device_id", "device_owner",
			"binding:host_id", "binding:profile", "port_security_enabled", "allowed_address_pairs", "security_groups",
			"description", "tags", "project_id", "tenant_id"},
		put: []string{"name", "mac_address", "fixed_ips", "admin_state_up", "device_id", "device_owner",
			"binding:host_id", "binding:profile", "port_security_enabled", "allowed_address_pairs", "security_groups",
			"description", "tags"},
		ignored: []string{"binding:vnic_type", "extra_dhcp_opts", "dns_name", "dns_domain",
			"qos_policy_id", "propagate_uplink_status", "numa_affinity_policy"},
		bools: []string{"admin_state_up", "port_security_enabled"},
		check: checkPortBody,
	}
	// distributed and ha may be sent on update unchanged (openstack router
	// set --distributed on a distributed router); model.CheckRouterUpdate and
	// model.CheckRouterSupported refuse real changes. routes is Neutron's
	// extraroute attribute, update only.
	routerAttrs = attrs{
		post: []string{"name", "admin_state_up", "distributed", "ha", "external_gateway_info", "description", "tags",
			"project_id", "tenant_id"},
		put:     []string{"name", "admin_state_up", "distributed", "ha", "external_gateway_info", "description", "tags", "routes"},
		ignored: []string{"availability_zone_hints", "flavor_id", "enable_ndp_proxy"},
		bools:   []string{"admin_state_up", "distributed", "ha"},
	}
)

// readBody decodes {"<kind>": {...}} and checks the attributes against a.
// It returns the inner object's attributes with ignored ones removed and
// string numbers/booleans converted; a map, to tell "absent" from "null".
func readBody(r *http.Request, kind string, a attrs, update bool) (map[string]json.RawMessage, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, badRequest("Failed to read the request body: %v", err)
	}
	if len(b) > maxBody {
		return nil, &model.Error{Code: http.StatusRequestEntityTooLarge, Type: "HTTPRequestEntityTooLarge", Msg: "Request body too large"}
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(b, &outer); err != nil {
		return nil, badRequest("Malformed request body: %v", err)
	}
	raw, ok := outer[kind]
	if !ok || len(outer) != 1 {
		return nil, badRequest("Resource body required: expected {\"%s\": {...}}", kind)
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, badRequest("Malformed request body: %s must be an object", kind)
	}
	allowed := a.post
	if update {
		allowed = a.put
	}
	var unknown []string
	for k := range in {
		switch {
		case slices.Contains(allowed, k):
		case slices.Contains(a.ignored, k):
			delete(in, k)
		case slices.Contains(a.post, k) || slices.Contains(a.put, k) || slices.Contains(readOnly, k):
			if update {
				return nil, badRequest("Cannot update read-only attribute %s", k)
			}
			return nil, badRequest("Attribute '%s' not allowed in POST", k)
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, badRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
	}
	for _, k := range a.ints {
		v, ok := in[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return nil, invalidInput(k, s, "not an integer")
			}
			in[k] = json.RawMessage(strconv.Itoa(n))
		}
	}
	for _, k := range a.bools {
		v, ok := in[k]
		if !ok {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			bv, err := strconv.ParseBool(strings.ToLower(s))
			if err != nil {
				return nil, invalidInput(k, s, "not a boolean")
			}
			in[k] = json.RawMessage(strconv.FormatBool(bv))
		}
	}
	if a.check != nil {
		if err := a.check(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// readOnly attributes exist on every resource and are never client-set.
var readOnly = []string{"id", "status", "status_reason", "created_at", "updated_at", "revision_number", "subnets",
	"binding:vif_type", "binding:vif_details", "network_id", "cidr", "ip_version", "mtu_reason"}

func invalidInput(attr, value, why string) *model.Error {
	return &model.Error{Code: 400, Type: "InvalidInput", Msg: fmt.Sprintf("Invalid input for %s. Reason: '%s' is %s.", attr, value, why)}
}

// decodeOnto sets the attributes in of dst, a struct holding defaults or the
// stored object. Attributes are replaced whole (a new binding:profile does
// not merge into the old one), which plain json.Unmarshal onto a populated
// map would not do, hence the round trip through the attribute map.
func decodeOnto(in map[string]json.RawMessage, base, dst any) error {
	m := map[string]any{}
	if base != nil {
		b, err := json.Marshal(base)
		if err != nil {
			return fmt.Errorf("encode stored object: %w", err)
		}
		var mm map[string]json.RawMessage
		if err := json.Unmarshal(b, &mm); err != nil {
			return fmt.Errorf("decode stored object: %w", err)
		}
		for k, v := range mm {
			m[k] = v
		}
	}
	for k, v := range in {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return badRequest("Malformed request body: %v", err)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("Invalid input for %s. Reason: expected %s, got %s.", te.Field, te.Type, te.Value)
		}
		return badRequest("Malformed request body: %v", err)
	}
	return nil
}
