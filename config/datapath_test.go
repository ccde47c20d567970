package config

import (
	"strings"
	"testing"
)

func TestDatapathAttach(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil || c.Datapath.Attach != AttachAuto {
		t.Fatalf("default datapath.attach: %q %v", c.Datapath.Attach, err)
	}
	for _, m := range []string{AttachAuto, AttachTCX, AttachTC} {
		c, err := Parse([]byte(good + "datapath: {attach: " + m + "}\n"))
		if err != nil || c.Datapath.Attach != m {
			t.Errorf("datapath.attach %s: %q %v", m, c.Datapath.Attach, err)
		}
	}
	_, err = Parse([]byte(good + "datapath: {attach: xdp}\n"))
	if err == nil || !strings.Contains(err.Error(), "datapath.attach") || !strings.Contains(err.Error(), "auto | tcx | tc") {
		t.Fatalf("datapath.attach xdp: want an error naming the key and the choices, got %v", err)
	}
}
