package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *CA, node, vtep string) *Identity {
	t.Helper()
	id, err := Issue(ca, node, vtep)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIssueVerify(t *testing.T) {
	ca := mustCA(t)
	id := mustIssue(t, ca, "n1", "10.0.0.1")
	if err := Verify(ca.Public(), id.Cert); err != nil {
		t.Fatalf("fresh certificate: %v", err)
	}
	if id.Cert.Issued == 0 || !id.Cert.Pub.Equal(id.Key.Public()) {
		t.Fatalf("certificate %+v does not certify the key issued with it", id.Cert)
	}
	if err := Verify(mustCA(t).Public(), id.Cert); err == nil {
		t.Fatal("a certificate verified under another CA")
	}
	// Each field is covered by the CA's signature.
	for name, tamper := range map[string]func(c *Cert){
		"node":   func(c *Cert) { c.Node = "n2" },
		"vtep":   func(c *Cert) { c.VTEP = "10.0.0.2" },
		"pub":    func(c *Cert) { c.Pub = mustIssue(t, ca, "n1", "10.0.0.1").Cert.Pub },
		"issued": func(c *Cert) { c.Issued++ },
		"sig":    func(c *Cert) { c.Sig = append([]byte(nil), c.Sig...); c.Sig[0] ^= 1 },
	} {
		c := id.Cert
		tamper(&c)
		if err := Verify(ca.Public(), c); err == nil {
			t.Errorf("certificate with tampered %s verified", name)
		}
	}
	for _, bad := range [][2]string{{"", "10.0.0.1"}, {"n1", "10.0.0"}, {"n1", "::1"}, {"n1", "224.0.0.1"}, {"n1", "0.0.0.0"}, {"n1", "255.255.255.255"}} {
		if _, err := Issue(ca, bad[0], bad[1]); err == nil {
			t.Errorf("Issue(%q, %q) succeeded", bad[0], bad[1])
		}
	}
}

func TestRecordSignatures(t *testing.T) {
	ca := mustCA(t)
	n1, n2 := mustIssue(t, ca, "n1", "10.0.0.1"), mustIssue(t, ca, "n2", "10.0.0.2")
	msg := []byte("port/p1 ...")
	sig := n1.Sign(msg)
	if err := VerifyRecord(n1.Cert, msg, sig); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRecord(n2.Cert, msg, sig); err == nil {
		t.Fatal("n1's signature verified under n2's certificate")
	}
	if err := VerifyRecord(n1.Cert, []byte("port/p2 ..."), sig); err == nil {
		t.Fatal("signature verified over another message")
	}
	if err := VerifyMeta(n1.Cert, msg, sig); err == nil {
		t.Fatal("a record signature verified as a meta signature")
	}
	if err := VerifyMeta(n1.Cert, msg, n1.SignMeta(msg)); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRecord(n1.Cert, msg, n1.SignMeta(msg)); err == nil {
		t.Fatal("a meta signature verified as a record signature")
	}
	// A record signature is never a certificate signature, nor the reverse.
	if err := VerifyRecord(Cert{Node: "ca", Pub: ca.Public()}, n1.Cert.signedBytes(), n1.Cert.Sig); err == nil {
		t.Fatal("a certificate signature verified as a record signature")
	}
}

func TestCertJSONRoundTrip(t *testing.T) {
	ca := mustCA(t)
	c := mustIssue(t, ca, "cmpt017.example", "192.168.120.21").Cert
	b := c.Marshal()
	if len(b) > 300 {
		t.Fatalf("certificate is %d bytes of JSON; it travels in every node's record", len(b))
	}
	got, err := ParseCert(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ca.Public(), got); err != nil {
		t.Fatal(err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	cadir, out := filepath.Join(dir, "ca"), filepath.Join(dir, "out")
	ca := mustCA(t)
	if err := WriteCA(cadir, ca); err != nil {
		t.Fatal(err)
	}
	if err := WriteCA(cadir, mustCA(t)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("an existing CA was overwritten: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(cadir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key mode: %v %v", fi.Mode(), err)
	}
	loaded, err := LoadCA(cadir)
	if err != nil || !loaded.Key.Equal(ca.Key) {
		t.Fatalf("LoadCA: %v", err)
	}
	id := mustIssue(t, loaded, "n1", "10.0.0.1")
	kp, cp, err := WriteIdentity(out, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteIdentity(out, id); err == nil {
		t.Fatal("an existing node key was overwritten")
	}
	if fi, err := os.Stat(kp); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node key mode: %v %v", fi.Mode(), err)
	}
	b, _ := os.ReadFile(cp)
	if !strings.Contains(string(b), "Node: n1") || !strings.Contains(string(b), "VTEP: 10.0.0.1") {
		t.Fatalf("certificate file does not say what it certifies:\n%s", b)
	}
	caPub, got, err := Load(filepath.Join(cadir, CACertFile), cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	if !caPub.Equal(ca.Public()) || got.Cert.Node != "n1" || !got.Key.Equal(id.Key) {
		t.Fatalf("Load: %+v", got.Cert)
	}

	// Another node's key, another CA, an edited header: refused.
	other := mustIssue(t, ca, "n2", "10.0.0.2")
	kp2, _, err := WriteIdentity(out, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(filepath.Join(cadir, CACertFile), cp, kp2); err == nil || !strings.Contains(err.Error(), "not the key") {
		t.Fatalf("mismatched key: %v", err)
	}
	ca2dir := filepath.Join(dir, "ca2")
	if err := WriteCA(ca2dir, mustCA(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(filepath.Join(ca2dir, CACertFile), cp, kp); err == nil || !strings.Contains(err.Error(), "not signed by this cluster's CA") {
		t.Fatalf("other CA: %v", err)
	}
	edited := strings.Replace(string(b), "VTEP: 10.0.0.1", "VTEP: 10.0.0.9", 1)
	ep := filepath.Join(dir, "edited.crt")
	os.WriteFile(ep, []byte(edited), 0o644)
	if _, err := LoadCert(ep); err == nil || !strings.Contains(err.Error(), "header VTEP") {
		t.Fatalf("edited header: %v", err)
	}
	if _, _, err := Load(filepath.Join(cadir, CACertFile), kp, kp); err == nil {
		t.Fatal("a key file loaded as a certificate")
	}
}
