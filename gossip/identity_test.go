package gossip

import (
	"testing"
	"time"

	"github.com/bnet-dev/bnet/identity"
	"github.com/bnet-dev/bnet/store"
)

// startSigned runs a member whose store signs with an identity from ca and
// trusts members as the agent does: by the VTEP their certificate names.
func startSigned(t *testing.T, name string, ca *identity.CA, certVTEP string, join ...string) *node {
	t.Helper()
	s, err := store.Open(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Issue(ca, name, certVTEP)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecurity(store.Security{CA: ca.Public(), Self: id}); err != nil {
		t.Fatal(err)
	}
	trust := func(member string, m Meta) bool {
		c, ok := s.Cert(member)
		return ok && c.VTEP == m.VTEP && identity.VerifyMeta(c, m.SigningBytes(member), m.Sig) == nil
	}
	meta := Meta{V: MetaVersion, VTEP: "10.0.0." + name[len(name)-1:]}
	meta.Sig = id.SignMeta(meta.SigningBytes(name))
	g, err := Start(Config{
		Node: name, Bind: "127.0.0.1:0", Join: join, Store: s, Logger: quiet, Fast: true, Trust: trust, Meta: meta,
	})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	n := &node{name: name, addr: g.LocalAddr(), s: s, g: g}
	t.Cleanup(n.stop)
	return n
}

func TestSignedReplicationAndTrust(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	// n2 writes before anyone knows its certificate; n1 is handed that
	// record first and must refuse it, then still get it once they meet.
	n2 := startSigned(t, "n2", ca, "10.0.0.2")
	r, err := n2.s.Put("port", "p2", obj{Name: "on n2"})
	if err != nil {
		t.Fatal(err)
	}
	n1 := startSigned(t, "n1", ca, "10.0.0.1")
	if k := n1.s.Apply(r); len(k) != 0 {
		t.Fatal("record of a node whose certificate is unknown was stored")
	}
	if _, err := n2.g.ml.Load().Join([]string{n1.addr}); err != nil {
		t.Fatal(err)
	}
	// Both ends of a join may not know each other yet when they compare
	// digests: then the next push/pull (5 s in Fast mode) brings it.
	eventually(t, 15*time.Second, "n1 gets n2's record by anti-entropy", func() bool {
		_, ok := n1.s.Get("port", "p2")
		return ok
	})
	n3 := startSigned(t, "n3", other, "10.0.0.3", n1.addr) // another cluster's CA
	n4 := startSigned(t, "n4", ca, "10.0.0.99", n1.addr)   // certified for another VTEP
	if _, err := n3.s.Put("network", "evil", obj{Name: "n3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n4.s.Put("network", "n4net", obj{Name: "n4"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "n4's (validly signed) record reaches n1", func() bool {
		_, ok := n1.s.Get("network", "n4net")
		return ok
	})
	if _, ok := n1.s.Get("network", "evil"); ok {
		t.Fatal("a record of a node certified by another CA reached n1")
	}
	// n3's refused record and n4's record race to n1: faster store
	// writes let n4's win at times.
	eventually(t, 15*time.Second, "n3's records counted as refused", func() bool { return n1.s.Rejected()["n3"] > 0 })
	eventually(t, 5*time.Second, "all four members alive on n1", func() bool { return alive(n1.g) == 4 })
	want := map[string]bool{"n1": true, "n2": true, "n3": false, "n4": false}
	for _, m := range n1.g.Members() {
		if m.Trusted != want[m.Name] {
			t.Errorf("n1 says %s trusted=%v, want %v", m.Name, m.Trusted, want[m.Name])
		}
	}
}

func TestMetaSigningBytes(t *testing.T) {
	m := Meta{V: 1, VTEP: "10.0.0.1", Roles: []string{"compute", "network"}, Physnets: []string{"public"}, DVRMAC: "fa:16:3f:00:00:01"}
	seen := map[string]string{string(m.SigningBytes("n1")): "base"}
	for name, alt := range map[string]func() (Meta, string){
		"node":     func() (Meta, string) { return m, "n2" },
		"vtep":     func() (Meta, string) { c := m; c.VTEP = "10.0.0.2"; return c, "n1" },
		"dvr":      func() (Meta, string) { c := m; c.DVRMAC = "fa:16:3f:00:00:02"; return c, "n1" },
		"roles":    func() (Meta, string) { c := m; c.Roles = []string{"compute"}; return c, "n1" },
		"physnets": func() (Meta, string) { c := m; c.Physnets = nil; return c, "n1" },
		// A role moved into physnets is another meta.
		"lists": func() (Meta, string) {
			c := m
			c.Roles, c.Physnets = []string{"compute"}, []string{"network", "public"}
			return c, "n1"
		},
	} {
		c, node := alt()
		b := string(c.SigningBytes(node))
		if prev, dup := seen[b]; dup {
			t.Errorf("%s signs as %s", name, prev)
		}
		seen[b] = name
	}
	signed := m
	signed.Sig = []byte{1, 2, 3}
	if string(signed.SigningBytes("n1")) != string(m.SigningBytes("n1")) {
		t.Error("the signature is part of what it signs")
	}
}
