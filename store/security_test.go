package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bnet-dev/bnet/identity"
)

// port is the part of a Neutron port the ownership rule reads.
type port struct {
	MAC  string `json:"mac_address"`
	Host string `json:"binding:host_id"`
}

var errNotOwner = errors.New("bound to another host")

// hostRule is the agent's rule in small: a live port bound to a host is
// that host's to write.
func hostRule(r Record) error {
	if r.Kind != "port" {
		return nil
	}
	var p port
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return err
	}
	if p.Host != "" && p.Host != r.Ver.Origin {
		return errNotOwner
	}
	return nil
}

type cluster struct {
	ca *identity.CA
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ca, err := identity.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{ca: ca}
}

func (c *cluster) identity(t *testing.T, node string) *identity.Identity {
	t.Helper()
	id, err := identity.Issue(c.ca, node, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// open returns node's store with an identity from this cluster's CA.
func (c *cluster) open(t *testing.T, node string) *Store {
	t.Helper()
	s := open(t, node)
	if err := s.SetSecurity(Security{CA: c.ca.Public(), Self: c.identity(t, node), Authorize: hostRule}); err != nil {
		t.Fatal(err)
	}
	return s
}

func certOf(t *testing.T, s *Store) Record {
	t.Helper()
	r, ok := s.Get(KindNodeCert, s.Node())
	if !ok {
		t.Fatalf("%s published no certificate", s.Node())
	}
	return r
}

func put(t *testing.T, s *Store, id string, p port) Record {
	t.Helper()
	r, err := s.Put("port", id, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSignedRecordsReplicate(t *testing.T) {
	c := newCluster(t)
	a, b := c.open(t, "a"), c.open(t, "b")
	r := put(t, a, "p1", port{MAC: "fa:16:3e:00:00:01", Host: "a"})
	if len(r.Sig) == 0 {
		t.Fatal("local write not signed")
	}
	if k := b.Apply(certOf(t, a), r); len(k) != 2 {
		t.Fatalf("signed records refused: kept %d", len(k))
	}
	// Relayed through JSON (gossip, disk) the signature still verifies.
	var relayed Record
	raw, _ := json.Marshal(r)
	json.Unmarshal(raw, &relayed)
	x := c.open(t, "x")
	if k := x.Apply(certOf(t, a), relayed); len(k) != 2 {
		t.Fatal("relayed record refused")
	}
	if cert, ok := b.Cert("a"); !ok || cert.Node != "a" {
		t.Fatalf("b does not know a's certificate: %+v", cert)
	}
	if n := b.Rejected()["a"]; n != 0 {
		t.Fatalf("%d refused", n)
	}
}

func TestTamperedAndUnsignedRefused(t *testing.T) {
	c := newCluster(t)
	a, b := c.open(t, "a"), c.open(t, "b")
	b.Apply(certOf(t, a))
	good := put(t, a, "p1", port{MAC: "fa:16:3e:00:00:01", Host: "a"})
	for name, tamper := range map[string]func(r *Record){
		"data":     func(r *Record) { r.Data = json.RawMessage(`{"mac_address":"fa:16:3e:00:00:02","binding:host_id":"a"}`) },
		"clock":    func(r *Record) { r.Ver.Clock += 100 },
		"id":       func(r *Record) { r.ID = "p2" },
		"kind":     func(r *Record) { r.Kind = "network" },
		"unsigned": func(r *Record) { r.Sig = nil },
		"deleted":  func(r *Record) { r.Deleted, r.DeletedAt, r.Data = true, time.Now().Unix(), nil },
	} {
		r := good
		tamper(&r)
		if k := b.Apply(r); len(k) != 0 {
			t.Errorf("record with tampered %s stored", name)
		}
	}
	if _, ok := b.Get("port", "p1"); ok {
		t.Fatal("a tampered record is held")
	}
	if n := b.Rejected()["a"]; n != 6 {
		t.Fatalf("refused %d from a, want 6", n)
	}
	// Refused records are not held, so not in the digest: anti-entropy
	// keeps asking a for them.
	if d := b.Digest()["a"]; d.Count != 1 {
		t.Fatalf("digest counts refused records: %+v", d)
	}
	if k := b.Apply(good); len(k) != 1 {
		t.Fatal("the genuine record refused after the forgeries")
	}
}

func TestWrongOriginRefused(t *testing.T) {
	c := newCluster(t)
	a, b, x := c.open(t, "a"), c.open(t, "b"), c.open(t, "x")
	x.Apply(certOf(t, a), certOf(t, b))
	// a signs a record and claims b wrote it.
	r := put(t, a, "p1", port{Host: ""})
	r.Ver.Origin = "b"
	if k := x.Apply(r); len(k) != 0 {
		t.Fatal("a's record passed off as b's was stored")
	}
	// And a re-signs it as b: still a's key.
	r.Sig = c.identity(t, "b").Sign(SigningBytes(r)) // a fresh key for b, not the certified one
	if k := x.Apply(r); len(k) != 0 {
		t.Fatal("record signed by an uncertified key stored")
	}
	// b's certificate published by a is refused too.
	bc := certOf(t, b)
	bc.Ver.Origin = "a"
	bc.Sig = nil
	if k := c.open(t, "y").Apply(bc); len(k) != 0 {
		t.Fatal("a certificate published by another node stored")
	}
}

func TestUnknownOriginThenCertArrives(t *testing.T) {
	c := newCluster(t)
	a, b := c.open(t, "a"), c.open(t, "b")
	r := put(t, a, "p1", port{Host: "a"})
	if k := b.Apply(r); len(k) != 0 {
		t.Fatal("record of an unknown origin stored")
	}
	if b.Digest()["a"] == a.Digest()["a"] {
		t.Fatal("digests equal: anti-entropy would never bring the record again")
	}
	// The pull answer of origin a: sorted by key, the certificate is not
	// first, yet the records after and before it verify.
	if k := b.Apply(a.ByOrigin("a")...); len(k) != 2 {
		t.Fatalf("pull answer: kept %d, want certificate and port", len(k))
	}
	if b.Digest()["a"] != a.Digest()["a"] {
		t.Fatal("digests still differ")
	}
}

func TestOwnershipRules(t *testing.T) {
	c := newCluster(t)
	a, b, x := c.open(t, "a"), c.open(t, "b"), c.open(t, "x")
	x.Apply(certOf(t, a), certOf(t, b))
	bp := put(t, b, "p1", port{MAC: "fa:16:3e:00:00:01", Host: "b"})
	x.Apply(bp)

	// a may not write a port bound to b: not on a (the API would say so)...
	if _, err := a.Put("port", "p1", port{MAC: "fa:16:3e:00:00:09", Host: "b"}); !errors.Is(err, errNotOwner) {
		t.Fatalf("local write of another host's port: %v", err)
	}
	// ...nor, forged past that check, anywhere else.
	forged := Record{V: FormatVersion, Kind: "port", ID: "p1", Ver: Version{Clock: bp.Ver.Clock + 10, Origin: "a"},
		Data: json.RawMessage(`{"mac_address":"fa:16:3e:00:00:09","binding:host_id":"b"}`)}
	forged.Sig = signer(a).Sign(SigningBytes(forged))
	if k := x.Apply(forged); len(k) != 0 {
		t.Fatal("a port bound to b written by a was stored")
	}
	if r, _ := x.Get("port", "p1"); r.Ver != bp.Ver {
		t.Fatalf("b's port replaced: %+v", r.Ver)
	}
	// Its own ports, and unbound ones, a writes.
	if k := x.Apply(put(t, a, "p2", port{Host: "a"}), put(t, a, "p3", port{})); len(k) != 2 {
		t.Fatal("a's own port refused")
	}
	// A tombstone may come from any certified node.
	a.Apply(certOf(t, b), bp)
	del, err := a.Delete("port", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if k := x.Apply(del); len(k) != 1 {
		t.Fatal("a's delete of b's port refused")
	}
}

// signer is the identity a store signs with.
func signer(s *Store) *identity.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sec.Self
}

func TestCertificateRules(t *testing.T) {
	c := newCluster(t)
	first, err := identity.IssueAt(c.ca, "a", "10.0.0.1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a, x := open(t, "a"), c.open(t, "x")
	if err := a.SetSecurity(Security{CA: c.ca.Public(), Self: first}); err != nil {
		t.Fatal(err)
	}
	if k := x.Apply(certOf(t, a)); len(k) != 1 {
		t.Fatal("a's certificate refused")
	}

	// From another CA: a node of another cluster.
	other := newCluster(t).open(t, "o")
	if k := x.Apply(certOf(t, other)); len(k) != 0 {
		t.Fatal("a certificate of another CA stored")
	}
	if k := x.Apply(put(t, other, "p9", port{})); len(k) != 0 {
		t.Fatal("a record of another cluster's node stored")
	}

	// Re-issued (new key), it replaces the old one, whose key is then
	// useless; the old certificate cannot come back.
	reissued := c.identity(t, "a")
	a2 := open(t, "a")
	if err := a2.SetSecurity(Security{CA: c.ca.Public(), Self: reissued}); err != nil {
		t.Fatal(err)
	}
	newCert := certOf(t, a2)
	newCert.Ver.Clock = certOf(t, a).Ver.Clock + 1
	newCert.Sig = reissued.Sign(SigningBytes(newCert))
	if k := x.Apply(newCert); len(k) != 1 {
		t.Fatal("a's re-issued certificate refused")
	}
	if k := x.Apply(put(t, a, "p1", port{Host: "a"})); len(k) != 0 {
		t.Fatal("a record signed with a's retired key stored")
	}
	oldCert := certOf(t, a)
	oldCert.Ver.Clock = newCert.Ver.Clock + 5
	oldCert.Sig = first.Sign(SigningBytes(oldCert))
	if k := x.Apply(oldCert); len(k) != 0 {
		t.Fatal("an older certificate replaced a newer one")
	}
	if cur, _ := x.Cert("a"); !cur.Pub.Equal(reissued.Cert.Pub) {
		t.Fatal("the retired key is back")
	}
	// Certificates are never deleted.
	tomb := Record{V: FormatVersion, Kind: KindNodeCert, ID: "a", Ver: Version{Clock: 1000, Origin: "a"}, Deleted: true, DeletedAt: time.Now().Unix()}
	tomb.Sig = reissued.Sign(SigningBytes(tomb))
	if k := x.Apply(tomb); len(k) != 0 {
		t.Fatal("a certificate tombstone stored")
	}
	if _, err := a.Delete(KindNodeCert, "a"); err == nil {
		t.Fatal("a node deleted its own certificate")
	}
	if _, err := a.Put(KindNodeCert, "b", json.RawMessage(certOf(t, a).Data)); err == nil {
		t.Fatal("a node published a certificate for another")
	}
}

func TestReplayAfterGCRefused(t *testing.T) {
	for _, secure := range []bool{false, true} {
		c := newCluster(t)
		a := c.open(t, "a")
		dir := t.TempDir()
		b, err := Open(dir, "b")
		if err != nil {
			t.Fatal(err)
		}
		sec := Security{CA: c.ca.Public(), Self: c.identity(t, "b"), Authorize: hostRule}
		if secure {
			if err := b.SetSecurity(sec); err != nil {
				t.Fatal(err)
			}
		}
		live := put(t, a, "p1", port{Host: "a"})
		tomb, _ := a.Delete("port", "p1")
		b.Apply(certOf(t, a), live, tomb)
		if n := b.GC(-time.Hour); n != 1 {
			t.Fatalf("GC dropped %d", n)
		}
		if k := b.Apply(live); len(k) != 0 {
			t.Fatalf("secure=%v: the deleted port was reinstalled by a replay after GC", secure)
		}
		// The floor survives a restart.
		b.Close()
		if b, err = Open(dir, "b"); err != nil {
			t.Fatal(err)
		}
		if secure {
			sec.Self = c.identity(t, "b")
			if err := b.SetSecurity(sec); err != nil {
				t.Fatal(err)
			}
		}
		if k := b.Apply(live); len(k) != 0 {
			t.Fatalf("secure=%v: replay after GC and restart reinstalled the port", secure)
		}
		// A newer write of that key (an id used again) is taken and
		// replaces the floor.
		again := put(t, a, "p1", port{Host: "a"})
		if k := b.Apply(again); len(k) != 1 {
			t.Fatalf("secure=%v: a newer write after GC refused", secure)
		}
		b.mu.Lock()
		_, floor := b.floors["port/p1"]
		b.mu.Unlock()
		if floor {
			t.Fatal("floor kept under a newer record")
		}
		b.Close()
	}
}

func TestSetSecurityResignsOwnRecords(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	s, err := Open(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	old := put(t, s, "p1", port{Host: "a"})
	s.Apply(rec("port", "p2", 7, "b", `{}`)) // another node's, unsigned: not ours to sign
	if err := s.SetSecurity(Security{CA: c.ca.Public(), Self: c.identity(t, "b")}); err == nil || !strings.Contains(err.Error(), "node \"b\"") {
		t.Fatalf("another node's certificate accepted: %v", err)
	}
	id := c.identity(t, "a")
	if err := s.SetSecurity(Security{CA: c.ca.Public(), Self: id}); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get("port", "p1")
	if !old.Ver.Less(r.Ver) || identity.VerifyRecord(id.Cert, SigningBytes(r), r.Sig) != nil {
		t.Fatalf("own record not re-signed under a new version: %+v", r)
	}
	if r, _ := s.Get("port", "p2"); r.Sig != nil || r.Ver.Clock != 7 {
		t.Fatalf("another node's record touched: %+v", r)
	}
	x := c.open(t, "x")
	if k := x.Apply(s.ByOrigin("a")...); len(k) != 2 {
		t.Fatalf("re-signed records refused by a peer: kept %d", len(k))
	}
	if err := s.SetSecurity(Security{CA: c.ca.Public(), Self: id}); err == nil {
		t.Fatal("SetSecurity twice")
	}
	s.Close()
	// Restarted with the same identity: nothing to re-sign or publish.
	s, err = Open(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := s.Digest()["a"]
	if err := s.SetSecurity(Security{CA: c.ca.Public(), Self: id}); err != nil {
		t.Fatal(err)
	}
	if s.Digest()["a"] != before {
		t.Fatal("a restart with the same identity rewrote records")
	}
}

func TestSigningBytesCoverEveryField(t *testing.T) {
	base := Record{V: 1, Kind: "port", ID: "p", Ver: Version{Clock: 5, Origin: "a"}, Data: json.RawMessage(`{"a":"<b>"}`)}
	seen := map[string]string{string(SigningBytes(base)): "base"}
	for name, r := range map[string]Record{
		"kind":    {V: 1, Kind: "portx", ID: "p", Ver: base.Ver, Data: base.Data},
		"id":      {V: 1, Kind: "port", ID: "q", Ver: base.Ver, Data: base.Data},
		"clock":   {V: 1, Kind: "port", ID: "p", Ver: Version{6, "a"}, Data: base.Data},
		"origin":  {V: 1, Kind: "port", ID: "p", Ver: Version{5, "b"}, Data: base.Data},
		"deleted": {V: 1, Kind: "port", ID: "p", Ver: base.Ver, Deleted: true},
		"dat":     {V: 1, Kind: "port", ID: "p", Ver: base.Ver, Deleted: true, DeletedAt: 9},
		"data":    {V: 1, Kind: "port", ID: "p", Ver: base.Ver, Data: json.RawMessage(`{"a":"<c>"}`)},
		// Field boundaries: moving a byte from kind to id changes the bytes.
		"boundary": {V: 1, Kind: "por", ID: "tp", Ver: base.Ver, Data: base.Data},
	} {
		b := string(SigningBytes(r))
		if prev, dup := seen[b]; dup {
			t.Errorf("%s signs the same bytes as %s", name, prev)
		}
		seen[b] = name
	}
	// What JSON does to data on the way (compacting, escaping) is not a change.
	spaced := base
	spaced.Data = json.RawMessage("{ \"a\" : \"<b>\" }")
	if string(SigningBytes(spaced)) != string(SigningBytes(base)) {
		t.Fatal("signing bytes depend on the data's JSON spacing or escaping")
	}
}

func TestReinstalledNodeCertificateWins(t *testing.T) {
	c := newCluster(t)
	old, err := identity.IssueAt(c.ca, "a", "10.0.0.1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a, x, y := open(t, "a"), c.open(t, "x"), c.open(t, "y")
	if err := a.SetSecurity(Security{CA: c.ca.Public(), Self: old}); err != nil {
		t.Fatal(err)
	}
	x.Apply(certOf(t, a))
	// Reinstalled: a fresh state, a new certificate. Its certificate record
	// has the version the old one had (both first writes of a).
	a2 := open(t, "a")
	renewed := c.identity(t, "a")
	if err := a2.SetSecurity(Security{CA: c.ca.Public(), Self: renewed}); err != nil {
		t.Fatal(err)
	}
	if certOf(t, a2).Ver != certOf(t, a).Ver {
		t.Fatalf("test premise: versions %+v %+v", certOf(t, a2).Ver, certOf(t, a).Ver)
	}
	y.Apply(certOf(t, a2))
	if x.Digest()["a"] == y.Digest()["a"] {
		t.Fatal("two certificates of a under one version give one digest: anti-entropy would never settle them")
	}
	if k := x.Apply(certOf(t, a2)); len(k) != 1 {
		t.Fatal("the re-issued certificate lost to the old one")
	}
	if k := x.Apply(put(t, a2, "p1", port{Host: "a"})); len(k) != 1 {
		t.Fatal("the reinstalled node's records refused")
	}
	if k := y.Apply(certOf(t, a)); len(k) != 0 {
		t.Fatal("the old certificate came back")
	}
	// The old machine, restarted with its old certificate, is told.
	a.Apply(certOf(t, a2))
	a.Close()
	back, err := Open(a.dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := back.SetSecurity(Security{CA: c.ca.Public(), Self: old}); err == nil || !strings.Contains(err.Error(), "older than the one the cluster holds") {
		t.Fatalf("started under a retired certificate: %v", err)
	}
}
