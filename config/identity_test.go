package config

import (
	"strings"
	"testing"
)

func TestIdentityAllOrNone(t *testing.T) {
	c, err := Parse([]byte(good))
	if err != nil || c.Identity.Enabled() {
		t.Fatalf("identity must be off by default: %+v %v", c.Identity, err)
	}
	all := good + "identity: {ca: /etc/bnet/ca.crt, cert: /etc/bnet/cmpt1.crt, key: /etc/bnet/cmpt1.key}\n"
	if c, err = Parse([]byte(all)); err != nil || !c.Identity.Enabled() || c.Identity.Key != "/etc/bnet/cmpt1.key" {
		t.Fatalf("identity: %+v %v", c.Identity, err)
	}
	for _, part := range []string{
		"identity: {ca: /etc/bnet/ca.crt}\n",
		"identity: {cert: /etc/bnet/cmpt1.crt, key: /etc/bnet/cmpt1.key}\n",
		"identity: {ca: /etc/bnet/ca.crt, cert: /etc/bnet/cmpt1.crt}\n",
	} {
		if _, err := Parse([]byte(good + part)); err == nil || !strings.Contains(err.Error(), "all three or none") {
			t.Errorf("%q: %v", part, err)
		}
	}
	if _, err := Parse([]byte(good + "identity: {ca: a, cert: b, key: c, crl: d}\n")); err == nil {
		t.Error("unknown identity key accepted")
	}
}

func TestCheckNodeNameAndVTEP(t *testing.T) {
	for _, ok := range []string{"n1", "cmpt017.example.org", "a_b-c"} {
		if err := CheckNodeName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-n1", "a b", "n/1", strings.Repeat("a", 64)} {
		if err := CheckNodeName(bad); err == nil {
			t.Errorf("node name %q accepted", bad)
		}
	}
	if err := CheckVTEP("10.0.0.1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "10.0.0", "::1", "0.0.0.0", "239.1.1.1", "255.255.255.255", "10.0.0.1/24"} {
		if err := CheckVTEP(bad); err == nil {
			t.Errorf("VTEP %q accepted", bad)
		}
	}
}
