// Package store is bnet's replicated object store: every network, subnet and
// port as a versioned record, last-writer-wins by (Lamport clock, origin),
// deletes as tombstones, persisted atomically under the agent's state dir.
//
// THIS FILE FIXES THE API other packages build on (api/, gossip/, agent/).
// The implementation lives in store.go.
package store

import "encoding/json"

// FormatVersion is Record.V; a peer sending a higher version is ignored
// (and logged) rather than misread.
const FormatVersion = 1

// Version orders writes to one object: higher Clock wins; equal clocks are
// broken by the larger Origin (node name), so every node picks the same winner.
type Version struct {
	Clock  uint64 `json:"c"`
	Origin string `json:"o"`
}

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Clock != w.Clock {
		return v.Clock < w.Clock
	}
	return v.Origin < w.Origin
}

// Record is the unit of storage and replication. Data is the object's JSON
// (a model.Network, model.Subnet or model.Port); a tombstone has Deleted set,
// Data nil, and DeletedAt (unix seconds, for garbage collection).
type Record struct {
	V         int             `json:"v"`
	Kind      string          `json:"k"`
	ID        string          `json:"id"`
	Ver       Version         `json:"ver"`
	Deleted   bool            `json:"del,omitempty"`
	DeletedAt int64           `json:"dat,omitempty"`
	Data      json.RawMessage `json:"d,omitempty"`
	// Sig is the origin's signature over SigningBytes, with node
	// identities (security.go); empty without them, and carried unchanged.
	Sig []byte `json:"sig,omitempty"`
}

// Key is how a record is addressed.
func (r Record) Key() string { return r.Kind + "/" + r.ID }

// OriginDigest summarises the records whose current version came from one
// origin; two stores with equal digests for an origin hold the same records
// of it. Used by gossip anti-entropy instead of shipping whole state.
type OriginDigest struct {
	Count    int    `json:"n"`
	MaxClock uint64 `json:"m"`
	Hash     uint64 `json:"h"` // XOR of fnv64a(kind|id|clock|origin|deleted) over those records
}

// ChangeFunc is called after a record was stored (local write or remote
// apply), outside the store's lock. local is true for writes made through
// Put/Delete on this node.
type ChangeFunc func(rec Record, local bool)
