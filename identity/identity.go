// Package identity is bnet's node identities: an operator-held cluster CA
// (an ed25519 key) certifies each node's name, VTEP and signing key, and
// every replicated record is signed by the node that wrote it. A gossip key
// only proves membership of the cluster; a certificate says what a node may
// announce as its own. See docs/gossip.md, "Node identities".
//
// Certificates are not X.509: one travels in a store record and is checked
// on every receiver, so it is a compact, canonical encoding of the four
// things that matter (about 225 bytes of JSON).
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Domains keep a signature over one kind of message from ever verifying as
// another: a record's bytes can never be passed off as a certificate.
const (
	certDomain   = "bnet-cert-v1"
	recordDomain = "bnet-record-v1"
	metaDomain   = "bnet-meta-v1"
)

// Cert binds a node name and VTEP to the key the node signs its records
// with; Sig is the CA's signature over the other fields (signedBytes).
type Cert struct {
	Node string `json:"node"`
	VTEP string `json:"vtep"`
	// Pub is the node's ed25519 public key.
	Pub ed25519.PublicKey `json:"pub"`
	// Issued (unix seconds) orders the certificates of one node: a newer
	// one replaces an older one, never the reverse, so re-issuing a node
	// (new key or VTEP) retires the old key once the new cert has spread.
	Issued int64  `json:"issued"`
	Sig    []byte `json:"sig"`
}

// CA is the cluster certificate authority: its key stays with the operator,
// only its public key goes to the nodes.
type CA struct {
	Key ed25519.PrivateKey
}

// Public is the key every node checks certificates with.
func (ca *CA) Public() ed25519.PublicKey { return ca.Key.Public().(ed25519.PublicKey) }

// Identity is what one node holds: its certificate and private key.
type Identity struct {
	Cert Cert
	Key  ed25519.PrivateKey
}

// NewCA makes a new cluster CA key.
func NewCA() (*CA, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new CA key: %w", err)
	}
	return &CA{Key: priv}, nil
}

// Issue makes a new key pair for node and certifies it, with vtep, under ca.
func Issue(ca *CA, node, vtep string) (*Identity, error) {
	return IssueAt(ca, node, vtep, time.Now())
}

// IssueAt is Issue with the issue time given: a certificate replaces only
// older ones, which tests need to arrange within one second.
func IssueAt(ca *CA, node, vtep string, at time.Time) (*Identity, error) {
	if err := checkFields(node, vtep); err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: new key: %w", node, err)
	}
	c := Cert{Node: node, VTEP: vtep, Pub: pub, Issued: at.Unix()}
	c.Sig = ed25519.Sign(ca.Key, c.signedBytes())
	return &Identity{Cert: c, Key: priv}, nil
}

// Verify checks that c was issued by the CA whose public key is caPub and is
// well formed.
func Verify(caPub ed25519.PublicKey, c Cert) error {
	if len(caPub) != ed25519.PublicKeySize {
		return errors.New("verify certificate: bad CA public key")
	}
	if err := checkFields(c.Node, c.VTEP); err != nil {
		return fmt.Errorf("verify certificate: %w", err)
	}
	if len(c.Pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify certificate of %s: public key is %d bytes", c.Node, len(c.Pub))
	}
	if !ed25519.Verify(caPub, c.signedBytes(), c.Sig) {
		return fmt.Errorf("verify certificate of %s: not signed by this cluster's CA", c.Node)
	}
	return nil
}

// Sign signs msg, the canonical bytes of a record this node writes.
func (id *Identity) Sign(msg []byte) []byte {
	return ed25519.Sign(id.Key, frame(recordDomain, msg))
}

// VerifyRecord checks sig over msg (a record's canonical bytes) under the
// key c certifies. c must have been checked with Verify.
func VerifyRecord(c Cert, msg, sig []byte) error {
	if len(c.Pub) != ed25519.PublicKeySize || !ed25519.Verify(c.Pub, frame(recordDomain, msg), sig) {
		return fmt.Errorf("signature does not verify under %s's certificate", c.Node)
	}
	return nil
}

// SignMeta signs msg, the canonical bytes of what this node announces of
// itself to gossip members (its VTEP, DVR MAC, roles): proof that the member
// speaking holds the certified key.
func (id *Identity) SignMeta(msg []byte) []byte {
	return ed25519.Sign(id.Key, frame(metaDomain, msg))
}

// VerifyMeta checks a member's SignMeta signature under c, its certificate.
func VerifyMeta(c Cert, msg, sig []byte) error {
	if len(c.Pub) != ed25519.PublicKeySize || !ed25519.Verify(c.Pub, frame(metaDomain, msg), sig) {
		return fmt.Errorf("node meta not signed with %s's certified key", c.Node)
	}
	return nil
}

// Marshal is the certificate's JSON, as carried in a store record.
func (c Cert) Marshal() []byte {
	b, _ := json.Marshal(c) // strings, bytes and an int: cannot fail
	return b
}

// ParseCert decodes a certificate's JSON. It does not verify it.
func ParseCert(b []byte) (Cert, error) {
	var c Cert
	if err := json.Unmarshal(b, &c); err != nil {
		return Cert{}, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

// signedBytes is what the CA signs: every field but the signature, each
// length-prefixed, so no two certificates share an encoding.
func (c Cert) signedBytes() []byte {
	var issued [8]byte
	binary.BigEndian.PutUint64(issued[:], uint64(c.Issued))
	return frame(certDomain, []byte(c.Node), []byte(c.VTEP), c.Pub, issued[:])
}

// frame is the canonical encoding of a signed message: the domain, then
// each part with its 4-byte big-endian length.
func frame(domain string, parts ...[]byte) []byte {
	n := len(domain) + 1
	for _, p := range parts {
		n += 4 + len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, domain...)
	out = append(out, 0)
	for _, p := range parts {
		out = binary.BigEndian.AppendUint32(out, uint32(len(p)))
		out = append(out, p...)
	}
	return out
}

// checkFields refuses what no certificate may name. Names follow the
// agent's config (config.CheckNodeName) loosely here: the CLI checks them
// exactly before issuing; here only what would break the binding.
func checkFields(node, vtep string) error {
	if node == "" || len(node) > 63 {
		return fmt.Errorf("node name %q: want 1 to 63 characters", node)
	}
	ip, err := netip.ParseAddr(vtep)
	if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("VTEP %q of %s: not a unicast IPv4 address", vtep, node)
	}
	return nil
}
