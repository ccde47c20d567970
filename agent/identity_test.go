package agent

import (
	"io"
	"log/slog"
	"testing"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/identity"
	"github.com/bnet-dev/bnet/store"
)

func TestMemberTrust(t *testing.T) {
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	issue := func(node, vtep string) *identity.Identity {
		id, err := identity.Issue(ca, node, vtep)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	n2id := issue("n2", "10.0.0.1")
	open := func(node string, id *identity.Identity) *store.Store {
		s, err := store.Open(t.TempDir(), node)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.SetSecurity(store.Security{CA: ca.Public(), Self: id}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	n1, n2 := open("n1", issue("n1", "10.0.0.1")), open("n2", n2id)
	cert, _ := n2.Get(store.KindNodeCert, "n2")
	n1.Apply(cert)
	ids := &identities{st: n1, log: slog.New(slog.NewTextHandler(io.Discard, nil)), verdict: map[string]string{}, metaOK: map[string]string{}}
	signed := func(node string, id *identity.Identity, m gossip.Meta) gossip.Meta {
		m.Sig = id.SignMeta(m.SigningBytes(node))
		return m
	}

	good := gossip.Meta{V: 1, VTEP: "10.0.0.1", DVRMAC: dvrMACFor("n2").String()}
	if !ids.trust("n2", signed("n2", n2id, good)) {
		t.Fatal("n2 with its certified VTEP and derived DVR MAC not trusted")
	}
	if !ids.trust("n2", signed("n2", n2id, good)) {
		t.Fatal("n2 not trusted the second time (remembered verification)")
	}
	if ids.trust("n2", good) {
		t.Fatal("n2 trusted on an unsigned meta")
	}
	if ids.trust("n2", signed("n2", issue("n2", "10.0.0.1"), good)) {
		t.Fatal("n2 trusted on a meta signed with a key the cluster does not hold for it")
	}
	if ids.trust("n2", signed("n2", n2id, gossip.Meta{V: 1, VTEP: "10.0.0.9", DVRMAC: good.DVRMAC})) {
		t.Fatal("n2 trusted on a VTEP its certificate does not name")
	}
	if ids.trust("n2", signed("n2", n2id, gossip.Meta{V: 1, VTEP: good.VTEP, DVRMAC: dvrMACFor("n3").String()})) {
		t.Fatal("n2 trusted with another node's DVR MAC")
	}
	n3id := issue("n3", "10.0.0.3")
	if ids.trust("n3", signed("n3", n3id, gossip.Meta{V: 1, VTEP: "10.0.0.3", DVRMAC: dvrMACFor("n3").String()})) {
		t.Fatal("n3 trusted without a certificate")
	}
	if err := checkOwnIdentity(issue("n1", "10.0.0.1").Cert, "n1", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := checkOwnIdentity(issue("n2", "10.0.0.1").Cert, "n1", "10.0.0.1"); err == nil {
		t.Fatal("another node's certificate accepted")
	}
	if err := checkOwnIdentity(issue("n1", "10.0.0.2").Cert, "n1", "10.0.0.1"); err == nil {
		t.Fatal("a certificate for another VTEP accepted")
	}
}
