package model

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCheckOwner(t *testing.T) {
	port, _ := json.Marshal(Port{ID: "p1", HostID: "n2", MACAddress: "fa:16:3e:00:00:01"})
	unbound, _ := json.Marshal(Port{ID: "p2"})
	claim, _ := json.Marshal(VIPClaim{IPAddress: "10.0.0.9", HostID: "n2"})
	net, _ := json.Marshal(Network{ID: "net1"})
	for _, c := range []struct {
		kind   string
		data   []byte
		writer string
		ok     bool
	}{
		{KindPort, port, "n2", true},
		{KindPort, port, "n3", false},
		{KindPort, unbound, "n3", true},
		{KindVIPClaim, claim, "n2", true},
		{KindVIPClaim, claim, "n1", false},
		{KindNetwork, net, "n3", true},
	} {
		err := CheckOwner(c.kind, "x", c.data, c.writer)
		if (err == nil) != c.ok {
			t.Errorf("%s by %s: %v", c.kind, c.writer, err)
		}
		var me *Error
		if err != nil && (!errors.As(err, &me) || me.Code != 403) {
			t.Errorf("%s by %s: want a 403, got %v", c.kind, c.writer, err)
		}
	}
	if err := CheckOwner(KindPort, "x", []byte(`{"binding:host_id": 3}`), "n1"); err == nil {
		t.Error("a port whose host is not a string passed")
	}
}
