package model

import (
	"encoding/json"
	"fmt"
)

// Owner returns the node that alone may write the live object of kind whose
// JSON is data, under node identities: a bound port and a VIP claim
// announce an address at their host's VTEP, so only that host announces
// them. "" when any certified node may (networks, subnets, routers,
// unbound and distributed ports, ...).
func Owner(kind string, data []byte) (string, error) {
	switch kind {
	case KindPort, KindVIPClaim:
	default:
		return "", nil
	}
	var b struct {
		HostID string `json:"binding:host_id"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	return b.HostID, nil
}

// CheckOwner applies Owner to a write by writer: a 403, as Neutron answers
// a binding its policy does not allow, when the object is another node's.
func CheckOwner(kind, id string, data []byte, writer string) error {
	owner, err := Owner(kind, data)
	if err != nil {
		return badRequest("%s %s: %v", kind, id, err)
	}
	if owner != "" && owner != writer {
		return &Error{Code: 403, Type: "PolicyNotAuthorized", Msg: fmt.Sprintf(
			"%s %s is bound to host %s: with node identities only %s writes it (bind or change it through %s's agent), not %s.",
			kind, id, owner, owner, owner, writer)}
	}
	return nil
}
