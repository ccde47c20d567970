package store

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bnet-dev/bnet/identity"
)

// KindNodeCert is the kind of the records carrying node certificates: id is
// the node name, data an identity.Cert as JSON. Each node writes its own;
// the CA's signature makes them self-authenticating, so every node relays
// them like any record.
const KindNodeCert = "node_cert"

// Security turns on node identities (docs/gossip.md, "Node identities"):
// every local write is signed by Self, and a record from a peer is stored
// only if its signature verifies under the certificate of its origin
// (Ver.Origin), held as that node's node_cert record, and Authorize allows
// it.
type Security struct {
	// CA is the cluster CA's public key: node_cert records must verify
	// under it.
	CA ed25519.PublicKey
	// Self is this node's identity; its node name must be the store's.
	Self *identity.Identity
	// Authorize enforces who may write a live record (a port bound to a
	// host is that host's): nil lets any certified node write anything. It
	// sees the record with Ver.Origin set to its writer, for local writes
	// too, and may return a *model.Error for the API to pass on. It must not
	// call the store (it may run under the store's lock).
	Authorize func(r Record) error
}

// errUnknownOrigin marks a record whose origin's certificate has not
// arrived (yet): expected for a moment while a node joins.
var errUnknownOrigin = errors.New("no certificate of its origin (yet)")

// refusal classes a refused record's error for the log: one line per
// origin and class, whatever the record.
type refusal struct {
	class string // unknown-origin, signature, ownership, certificate, malformed, retry
	err   error
}

func (r refusal) Error() string { return r.class + ": " + r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

func refuse(class string, err error) error { return refusal{class, err} }

// SetSecurity turns node identities on. Call it once, after Open and
// before the store is replicated. It re-signs, with new versions, this
// node's own records that do not verify under its current key (written
// before identities, or under a previous key), and publishes its
// certificate as its node_cert record if the one held differs.
func (s *Store) SetSecurity(sec Security) error {
	if sec.Self == nil {
		return errors.New("store security: no identity")
	}
	if err := identity.Verify(sec.CA, sec.Self.Cert); err != nil {
		return fmt.Errorf("store security: own %w", err)
	}
	if sec.Self.Cert.Node != s.node {
		return fmt.Errorf("store security: certificate is for node %q, this store is %q's", sec.Self.Cert.Node, s.node)
	}
	s.mu.Lock()
	if s.sec != nil {
		s.mu.Unlock()
		return errors.New("store security: already set")
	}
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("store security: %w", errClosed)
	}
	s.sec = &sec
	s.certs = make(map[string]identity.Cert)
	s.rejected = make(map[string]uint64)
	s.logged = make(map[string]bool)
	for _, r := range s.recs {
		if r.Kind == KindNodeCert && r.ID != s.node {
			s.indexCertLocked(r)
		}
	}
	if cur, ok := s.recs[KindNodeCert+"/"+s.node]; ok && !cur.Deleted && certIssued(cur) > sec.Self.Cert.Issued {
		if c, err := identity.ParseCert(cur.Data); err == nil && identity.Verify(sec.CA, c) == nil {
			s.sec = nil
			s.mu.Unlock()
			return fmt.Errorf("store security: this node's certificate (issued %d) is older than the one the cluster holds for it (issued %d): run it with the newer one",
				sec.Self.Cert.Issued, c.Issued)
		}
	}
	s.indexCertLocked(Record{Kind: KindNodeCert, ID: s.node, Data: sec.Self.Cert.Marshal()})
	var resigned []Record
	for _, r := range s.recs {
		if r.Ver.Origin != s.node || r.Kind == KindNodeCert {
			continue // our certificate record is replaced below
		}
		if identity.VerifyRecord(sec.Self.Cert, SigningBytes(r), r.Sig) == nil {
			continue
		}
		s.clock++
		r.Ver.Clock = s.clock
		r.Sig = sec.Self.Sign(SigningBytes(r))
		s.setLocked(r) // replaces s.recs[k], digest included
		resigned = append(resigned, r)
	}
	gen := s.gen
	s.mu.Unlock()
	if len(resigned) > 0 {
		slog.Info("store: re-signed own records under this node's key", "records", len(resigned))
		if err := s.flushUpTo(gen); err != nil {
			return fmt.Errorf("store security: %w", err)
		}
		s.notify(resigned, true)
	}
	want := sec.Self.Cert.Marshal()
	if cur, ok := s.Get(KindNodeCert, s.node); ok && bytes.Equal(cur.Data, want) {
		return nil
	}
	if _, err := s.Put(KindNodeCert, s.node, json.RawMessage(want)); err != nil {
		return fmt.Errorf("store security: publish own certificate: %w", err)
	}
	return nil
}

// Cert returns the verified certificate of node, if its node_cert record
// has arrived. Without identities it reports nothing.
func (s *Store) Cert(node string) (identity.Cert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.certs[node]
	return c, ok
}

// Rejected counts, by origin, the records refused since Open: unsigned,
// badly signed, from an unknown origin, or against an ownership rule.
func (s *Store) Rejected() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.rejected))
	for k, v := range s.rejected {
		out[k] = v
	}
	return out
}

// SigningBytes is the canonical form of r that its origin signs: kind, id,
// version, tombstone flag, deletion time and data, each length-prefixed.
// The data is taken as encoding/json re-encodes it (compact, HTML-escaped),
// so a record relayed through any number of JSON round trips verifies the
// same. Sig and V are not covered: V only says how to read the rest.
func SigningBytes(r Record) []byte {
	var num [8]byte
	var out []byte
	part := func(b []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	part([]byte(r.Kind))
	part([]byte(r.ID))
	binary.BigEndian.PutUint64(num[:], r.Ver.Clock)
	part(num[:])
	part([]byte(r.Ver.Origin))
	if r.Deleted {
		part([]byte{1})
	} else {
		part([]byte{0})
	}
	binary.BigEndian.PutUint64(num[:], uint64(r.DeletedAt))
	part(num[:])
	data := []byte(r.Data)
	if len(data) > 0 {
		if b, err := json.Marshal(r.Data); err == nil {
			data = b
		}
	}
	part(data)
	return out
}

// admitLocal checks a local write before it gets its version. The caller
// holds s.mu.
func (s *Store) admitLocal(sec *Security, r Record) error {
	if r.Kind == KindNodeCert {
		c, err := identity.ParseCert(r.Data)
		if r.Deleted || r.ID != s.node || err != nil || !c.Pub.Equal(sec.Self.Cert.Pub) || c.Node != s.node {
			return errors.New("a node publishes its own current certificate only, and never deletes it")
		}
		return nil
	}
	if !r.Deleted && sec.Authorize != nil {
		return sec.Authorize(r)
	}
	return nil
}

// applySigned is Apply with node identities. Certificates go first, checked
// under the lock (they are few, and the records after them need them).
// The other records are verified outside the lock, where a big pull answer
// costs no reader anything: only those newer than what is held, under the
// certificate of their origin as it was then; under the lock again, a
// record is stored only if that certificate is still the one held.
func (s *Store) applySigned(sec *Security, recs []Record) []Record {
	var certs, rest []Record
	for _, r := range recs {
		if r.Kind == KindNodeCert {
			certs = append(certs, r)
		} else {
			rest = append(rest, r)
		}
	}
	var kept []Record
	if len(certs) > 0 {
		kept = s.apply(certs, func(_ int, r Record) error {
			if err := s.admitCertLocked(sec, r); err != nil {
				return refuse("certificate", err)
			}
			return nil
		})
	}
	if len(rest) == 0 {
		return kept
	}

	type check struct {
		pub  ed25519.PublicKey
		err  error
		done bool
	}
	checks := make([]check, len(rest))
	certOf := make(map[string]identity.Cert)
	s.mu.Lock()
	for i, r := range rest {
		if cur, had := s.recs[r.Key()]; had && !replaces(cur, r) {
			continue // apply drops it unverified
		}
		if _, seen := certOf[r.Ver.Origin]; !seen {
			if c, ok := s.certs[r.Ver.Origin]; ok {
				certOf[r.Ver.Origin] = c
			}
		}
		checks[i].done = true
	}
	s.mu.Unlock()
	for i, r := range rest {
		if !checks[i].done {
			continue
		}
		c, ok := certOf[r.Ver.Origin]
		switch {
		case !ok:
			checks[i].err = refuse("unknown-origin", errUnknownOrigin)
		case r.Deleted && (r.DeletedAt == 0 || len(r.Data) > 0):
			checks[i].err = refuse("malformed", errors.New("tombstone without deletion time, or with data"))
		default:
			checks[i].pub = c.Pub
			if err := identity.VerifyRecord(c, SigningBytes(r), r.Sig); err != nil {
				checks[i].err = refuse("signature", err)
			} else if !r.Deleted && sec.Authorize != nil {
				if err := sec.Authorize(r); err != nil {
					checks[i].err = refuse("ownership", err)
				}
			}
		}
	}
	return append(kept, s.apply(rest, func(i int, r Record) error {
		switch ch := checks[i]; {
		case !ch.done:
			// Older than what was held a moment ago, newer now (the held
			// one was collected): unverified, so not now; it comes again.
			return refuse("retry", errors.New("not verified"))
		case ch.err != nil:
			return ch.err
		case !s.certs[r.Ver.Origin].Pub.Equal(ch.pub):
			return refuse("retry", errors.New("its origin's certificate changed while it was checked"))
		}
		return nil
	})...)
}

// admitCertLocked checks a node_cert record from a peer: the node publishes
// its own, the CA issued it for that node, and the record is signed with
// the key it certifies. (That it is newer than the one held, by issue time
// first, apply has checked: see replaces.) The caller holds s.mu.
func (s *Store) admitCertLocked(sec *Security, r Record) error {
	if r.Deleted {
		return errors.New("node certificates are never deleted")
	}
	if r.Ver.Origin != r.ID {
		return fmt.Errorf("certificate of %s published by %s", r.ID, r.Ver.Origin)
	}
	c, err := identity.ParseCert(r.Data)
	if err != nil {
		return err
	}
	if err := identity.Verify(sec.CA, c); err != nil {
		return err
	}
	if c.Node != r.ID {
		return fmt.Errorf("record %s carries the certificate of %s", r.Key(), c.Node)
	}
	return identity.VerifyRecord(c, SigningBytes(r), r.Sig)
}

// replaces reports whether r is to replace cur, the record held under its
// key: r's version is newer. Node certificates are ordered by issue time
// first: a node re-issued a certificate (new key, new VTEP) may have lost
// its state and with it its clock (a reinstalled machine), and its new
// certificate must still win, everywhere alike; and an old certificate,
// whatever its version, never comes back, so the retired key is useless
// once the new certificate has spread.
func replaces(cur, r Record) bool {
	if r.Kind == KindNodeCert && !cur.Deleted && !r.Deleted {
		if ci, ri := certIssued(cur), certIssued(r); ci != ri {
			return ri > ci
		}
	}
	return cur.Ver.Less(r.Ver)
}

// certIssued is the issue time of a node_cert record's certificate, 0 if it
// has none (it then loses to any that has).
func certIssued(r Record) int64 {
	var c struct {
		Issued int64 `json:"issued"`
	}
	if json.Unmarshal(r.Data, &c) != nil {
		return 0
	}
	return c.Issued
}

// indexCertLocked makes a held node_cert record's certificate the key its
// node's records are checked under, if it verifies under the CA. The
// caller holds s.mu.
func (s *Store) indexCertLocked(r Record) {
	if s.sec == nil || r.Deleted {
		return
	}
	c, err := identity.ParseCert(r.Data)
	if err != nil || c.Node != r.ID || identity.Verify(s.sec.CA, c) != nil {
		delete(s.certs, r.ID)
		return
	}
	s.certs[r.ID] = c
	if r.ID == s.node && !c.Pub.Equal(s.sec.Self.Cert.Pub) {
		// Only a later certificate of this node replaces ours: the operator
		// re-issued it. Peers now refuse what we sign; say so loudly.
		slog.Error("store: the cluster holds a newer certificate of this node than the one it runs with; peers refuse its records until it is restarted with that one",
			"node", s.node, "issued", c.Issued, "own_issued", s.sec.Self.Cert.Issued)
	}
}

// rejectLocked counts a refused record and logs the first of each reason
// per origin: a misbehaving node should show up once in the log, not flood
// it at every anti-entropy round. The caller holds s.mu.
func (s *Store) rejectLocked(r Record, err error) {
	o := r.Ver.Origin
	s.rejected[o]++
	reason := "other"
	var rf refusal
	if errors.As(err, &rf) {
		reason = rf.class
	}
	if s.logged[o+"|"+reason] {
		slog.Debug("store: refused record", "key", r.Key(), "origin", o, "err", err)
		return
	}
	s.logged[o+"|"+reason] = true
	if errors.Is(err, errUnknownOrigin) {
		// Normal while a node's certificate is on its way: anti-entropy
		// brings the record again once it is here.
		slog.Info("store: record from a node whose certificate has not arrived, refused for now", "key", r.Key(), "origin", o)
		return
	}
	slog.Warn("store: refused record (node identities)", "key", r.Key(), "origin", o, "err", err, "refused_from_origin", s.rejected[o])
}
