package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Files, all PEM so that an operator can read them with standard tools:
//
//	ca.key, NODE.key  PRIVATE KEY (PKCS#8 ed25519, mode 0600): openssl pkey -in ca.key -text
//	ca.crt            PUBLIC KEY (PKIX ed25519): openssl pkey -pubin -in ca.crt -text
//	NODE.crt          BNET NODE CERTIFICATE: headers Node, VTEP and Issued for
//	                  the reader, the body is the certificate's JSON (the
//	                  body is what counts; headers that disagree are an error)
const (
	CAKeyFile  = "ca.key"
	CACertFile = "ca.crt"

	pemPrivate = "PRIVATE KEY"
	pemPublic  = "PUBLIC KEY"
	pemCert    = "BNET NODE CERTIFICATE"
)

// WriteCA writes ca.key and ca.crt into dir (created 0700 if missing). An
// existing CA is never overwritten: every certificate of the cluster hangs
// on that key.
func WriteCA(dir string, ca *CA) error {
	keyPEM, err := privatePEM(ca.Key)
	if err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(ca.Public())
	if err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write CA: %w", err)
	}
	return writeNew(dir,
		file{CAKeyFile, keyPEM, 0o600},
		file{CACertFile, pem.EncodeToMemory(&pem.Block{Type: pemPublic, Bytes: pubDER}), 0o644})
}

// LoadCA reads the CA (private key) from dir, for issuing.
func LoadCA(dir string) (*CA, error) {
	path := filepath.Join(dir, CAKeyFile)
	key, err := loadPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	return &CA{Key: key}, nil
}

// LoadCAPublic reads a CA certificate (ca.crt): what nodes verify with.
func LoadCAPublic(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemPublic {
		return nil, fmt.Errorf("load CA certificate %s: no %q PEM block", path, pemPublic)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate %s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("load CA certificate %s: not an ed25519 key", path)
	}
	return pub, nil
}

// WriteIdentity writes NODE.key and NODE.crt into dir; existing files are
// not overwritten (a node's key replaced by mistake cuts it off).
func WriteIdentity(dir string, id *Identity) (keyPath, certPath string, err error) {
	keyPEM, err := privatePEM(id.Key)
	if err != nil {
		return "", "", fmt.Errorf("write identity of %s: %w", id.Cert.Node, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("write identity of %s: %w", id.Cert.Node, err)
	}
	c := id.Cert
	crt := pem.EncodeToMemory(&pem.Block{Type: pemCert, Headers: certHeaders(c), Bytes: c.Marshal()})
	kf, cf := c.Node+".key", c.Node+".crt"
	if err := writeNew(dir, file{kf, keyPEM, 0o600}, file{cf, crt, 0o644}); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, kf), filepath.Join(dir, cf), nil
}

// LoadCert reads a NODE.crt file. It does not verify it.
func LoadCert(path string) (Cert, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Cert{}, fmt.Errorf("load certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemCert {
		return Cert{}, fmt.Errorf("load certificate %s: no %q PEM block", path, pemCert)
	}
	c, err := ParseCert(blk.Bytes)
	if err != nil {
		return Cert{}, fmt.Errorf("load certificate %s: %w", path, err)
	}
	for k, v := range certHeaders(c) {
		if h, ok := blk.Headers[k]; ok && h != v {
			return Cert{}, fmt.Errorf("load certificate %s: header %s is %q, the certificate says %q (edited?)", path, k, h, v)
		}
	}
	return c, nil
}

// Load reads a node's identity (the agent's identity.ca, .cert and .key)
// and checks it: the certificate verifies under the CA and the key is the
// one it certifies. It returns the CA's public key too.
func Load(caFile, certFile, keyFile string) (ed25519.PublicKey, *Identity, error) {
	caPub, err := LoadCAPublic(caFile)
	if err != nil {
		return nil, nil, err
	}
	c, err := LoadCert(certFile)
	if err != nil {
		return nil, nil, err
	}
	if err := Verify(caPub, c); err != nil {
		return nil, nil, fmt.Errorf("%s: %w (CA %s)", certFile, err, caFile)
	}
	key, err := loadPrivate(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("load node key: %w", err)
	}
	if !bytes.Equal(key.Public().(ed25519.PublicKey), c.Pub) {
		return nil, nil, fmt.Errorf("node key %s is not the key certificate %s certifies", keyFile, certFile)
	}
	return caPub, &Identity{Cert: c, Key: key}, nil
}

func certHeaders(c Cert) map[string]string {
	return map[string]string{"Node": c.Node, "VTEP": c.VTEP, "Issued": strconv.FormatInt(c.Issued, 10)}
}

func privatePEM(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivate, Bytes: der}), nil
}

func loadPrivate(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != pemPrivate {
		return nil, fmt.Errorf("%s: no %q PEM block", path, pemPrivate)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ed25519 key", path)
	}
	return priv, nil
}

type file struct {
	name string
	data []byte
	mode os.FileMode
}

// writeNew creates every file or none: an existing one stops it before
// anything is written, and a failure removes what it wrote.
func writeNew(dir string, files ...file) error {
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists: not overwriting it", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	var done []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeExcl(p, f.data, f.mode); err != nil {
			for _, d := range done {
				os.Remove(d)
			}
			return err
		}
		done = append(done, p)
	}
	return nil
}

// writeExcl creates path (O_EXCL: a file appearing meanwhile is not
// clobbered), writes data and syncs it.
func writeExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
