package api

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// checkPortSecurityBody refuses "port_security_enabled": null, which
// Neutron's convert_to_boolean refuses too (unset would silently mean
// true here).
func checkPortSecurityBody(in map[string]json.RawMessage) error {
	if v, ok := in["port_security_enabled"]; ok && isNull(v) {
		return invalidInput("port_security_enabled", "None", "not a boolean")
	}
	return nil
}

// checkPortBody adds to checkPortSecurityBody the shape of
// allowed_address_pairs as Neutron's validator sees it: null means [], a
// list of objects holding ip_address and optionally mac_address, both
// strings. The model checks the values (model.PreparePort).
func checkPortBody(in map[string]json.RawMessage) error {
	if err := checkPortSecurityBody(in); err != nil {
		return err
	}
	v, ok := in["allowed_address_pairs"]
	if !ok {
		return nil
	}
	if isNull(v) {
		in["allowed_address_pairs"] = json.RawMessage("[]")
		return nil
	}
	var pairs []json.RawMessage
	if err := json.Unmarshal(v, &pairs); err != nil {
		return badRequest("Allowed address pairs must be a list.")
	}
	for _, raw := range pairs {
		var pair map[string]json.RawMessage
		if err := json.Unmarshal(raw, &pair); err != nil || pair == nil {
			return invalidInput("allowed_address_pairs", string(raw), "not a dictionary")
		}
		var unknown []string
		for k, val := range pair {
			if k != "ip_address" && k != "mac_address" {
				unknown = append(unknown, k)
				continue
			}
			var s string
			if json.Unmarshal(val, &s) != nil {
				return invalidInput("allowed_address_pairs", string(val), "not a valid "+strings.ReplaceAll(k, "_", " "))
			}
			if k == "mac_address" && s == "" {
				return invalidInput("allowed_address_pairs", s, "not a valid MAC address")
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return badRequest("Unrecognized attribute(s) '%s'", strings.Join(unknown, ", "))
		}
	}
	return nil
}

func isNull(v json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}
