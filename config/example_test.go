package config

import "testing"

// The shipped reference config must stay valid and list every key.
func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../bnet.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "cmpt1" || c.StateDir != "/var/lib/bnet" {
		t.Fatalf("unexpected: %+v", c)
	}
}
