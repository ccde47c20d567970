package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bnet-dev/bnet/identity"
)

// ErrNotFound is returned by Delete when there is no live record to delete.
var ErrNotFound = errors.New("not found")

// errClosed is returned by writes after Close: accepting them would lose them.
var errClosed = errors.New("store closed")

// ErrLocked is Open's error when another process holds the state dir.
var ErrLocked = errors.New("state dir in use by another process")

// DefaultTombstoneTTL is how long a tombstone should be kept (the GC age the
// agent uses): longer than any partition or node downtime the cluster is
// expected to heal from, since a node away for longer could resurrect
// objects deleted meanwhile.
const DefaultTombstoneTTL = 14 * 24 * time.Hour

const (
	stateFile = "state.json"
	lockFile  = "lock"
	// applyFlushDelay batches the persistence of remote records: a pull
	// answer arrives as thousands of records and must not cost an fsync each.
	applyFlushDelay = 200 * time.Millisecond
)

// diskState is the layout of dir/state.json.
type diskState struct {
	// V is snapPlain or snapWithLog (wal.go). A version 1 file is what
	// every bnet before the log wrote, and what Close leaves.
	V       int      `json:"v"`
	Node    string   `json:"node"`
	Clock   uint64   `json:"clock"`
	Records []Record `json:"records"`
	// Floors are the versions of collected tombstones (see GC).
	Floors map[string]Version `json:"floors,omitempty"`
	// Log is the id of the state.log whose entries complete this snapshot
	// (version 2 only); a log of another id is stale and ignored.
	Log string `json:"log,omitempty"`
}

// Store holds every record this node knows. All methods are safe for
// concurrent use.
type Store struct {
	dir  string
	node string
	lock *os.File // flock on dir/lock: one process per state dir

	mu     sync.Mutex
	recs   map[string]Record
	clock  uint64
	digest map[string]OriginDigest
	subs   []ChangeFunc
	gcTTL  time.Duration // last GC age; expired tombstones from peers are not taken back
	// floors hold, per key, the version of the tombstone GC dropped: a
	// record at or below it is that deleted object replayed, never taken.
	floors map[string]Version
	// Node identities (security.go); sec is nil without them.
	sec      *Security
	certs    map[string]identity.Cert // verified certificates of the node_cert records held
	rejected map[string]uint64        // records refused, by origin
	logged   map[string]bool          // origin|reason already logged

	// dirty: the disk may lack changes that pend does not name (replicated
	// records awaiting their lazy flush, or a failed write's capture).
	dirty  bool
	pend   map[string]struct{} // keys changed since their state was last captured for disk
	gen    uint64              // bumped on every change
	flushT *time.Timer
	closed bool

	// persist serialises captures with their writes, so that log entries
	// land in the order their states were taken and an older snapshot
	// never lands last. The fields below it are under it.
	persist     sync.Mutex
	savedGen    uint64   // gen of the last capture on disk
	logf        *os.File // state.log of the snapshot on disk, for appending; nil: the next write is a snapshot
	logSize     int64
	snapSize    int64
	snapV       int    // version of state.json on disk, 0 if none
	loggedClock uint64 // clock the disk holds
	compacting  bool
	shut        bool  // Close wrote its last state: nothing may be written any more
	compactMin  int64 // the log is compacted past max(compactMin, snapshot size)
}

// Open loads (or creates) the store of node in dir. A state file that does not
// parse is an error: silently starting empty would let this node reuse clock
// values and lose objects the API already accepted.
func Open(dir, node string) (*Store, error) {
	if node == "" {
		return nil, errors.New("open store: empty node name")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create %s: %w", dir, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("open store %s: %w (%v)", dir, ErrLocked, err)
	}
	s := &Store{
		dir:    dir,
		node:   node,
		lock:   lf,
		recs:   make(map[string]Record),
		digest: make(map[string]OriginDigest),
		floors: make(map[string]Version),
		pend:   make(map[string]struct{}),

		compactMin: logCompactMin,
	}
	if err := s.load(); err != nil {
		lf.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	path := filepath.Join(s.dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	var st diskState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("load %s: corrupt state file: %w", path, err)
	}
	if st.V < snapPlain || st.V > snapWithLog {
		return fmt.Errorf("load %s: unsupported state version %d", path, st.V)
	}
	if st.V == snapWithLog && st.Log == "" {
		return fmt.Errorf("load %s: state version %d without a log id", path, st.V)
	}
	if st.Node != s.node {
		return fmt.Errorf("load %s: state belongs to node %q, not %q", path, st.Node, s.node)
	}
	s.clock = st.Clock
	for k, v := range st.Floors {
		if k == "" || v.Origin == "" || v.Clock == 0 {
			return fmt.Errorf("load %s: bad floor %q %+v", path, k, v)
		}
		s.floors[k] = v
		s.clock = max(s.clock, v.Clock)
	}
	for i, r := range st.Records {
		if err := validateStored(r); err != nil {
			return fmt.Errorf("load %s: record %d: %w", path, i, err)
		}
		if _, dup := s.recs[r.Key()]; dup {
			return fmt.Errorf("load %s: duplicate record %s", path, r.Key())
		}
		s.setLocked(r)
		s.clock = max(s.clock, r.Ver.Clock)
	}
	s.snapV = st.V
	s.snapSize = int64(len(b))
	if st.V == snapWithLog {
		if err := s.replayLog(st.Log); err != nil {
			return err
		}
	}
	clear(s.pend)
	s.loggedClock = s.clock
	return nil
}

// Node is the name this store writes as (Version.Origin of local writes).
func (s *Store) Node() string { return s.node }

// Put stores obj as the live record kind/id, persists it and notifies
// subscribers.
func (s *Store) Put(kind, id string, obj any) (Record, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return Record{}, fmt.Errorf("put %s/%s: encode: %w", kind, id, err)
	}
	rec := Record{V: FormatVersion, Kind: kind, ID: id, Data: data}
	if err := validate(rec); err != nil {
		return Record{}, fmt.Errorf("put %s/%s: %w", kind, id, err)
	}
	return s.writeLocal(rec, false)
}

// Delete replaces the live record kind/id with a tombstone.
func (s *Store) Delete(kind, id string) (Record, error) {
	rec := Record{V: FormatVersion, Kind: kind, ID: id, Deleted: true, DeletedAt: time.Now().Unix()}
	return s.writeLocal(rec, true)
}

func (s *Store) writeLocal(rec Record, mustExist bool) (Record, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("write %s: %w", rec.Key(), errClosed)
	}
	old, had := s.recs[rec.Key()]
	if mustExist && (!had || old.Deleted) {
		s.mu.Unlock()
		return Record{}, fmt.Errorf("delete %s: %w", rec.Key(), ErrNotFound)
	}
	sec := s.sec
	if sec != nil {
		// Checked here, not only by peers: a write every peer refuses
		// should fail where it is made, with the reason.
		rec.Ver.Origin = s.node
		if err := s.admitLocal(sec, rec); err != nil {
			s.mu.Unlock()
			return Record{}, fmt.Errorf("write %s: %w", rec.Key(), err)
		}
	}
	s.clock++
	rec.Ver = Version{Clock: s.clock, Origin: s.node}
	if sec != nil {
		rec.Sig = sec.Self.Sign(SigningBytes(rec))
	}
	s.setLocked(rec)
	gen := s.gen
	s.mu.Unlock()

	if err := s.flushUpTo(gen); err != nil {
		// Undo unless a newer write already replaced ours: memory must not
		// hold what the disk does not. The clock stays advanced (harmless).
		s.mu.Lock()
		if cur, ok := s.recs[rec.Key()]; ok && cur.Ver == rec.Ver {
			if had {
				s.setLocked(old)
			} else {
				s.removeLocked(rec.Key())
			}
		}
		s.mu.Unlock()
		return Record{}, fmt.Errorf("write %s: %w", rec.Key(), err)
	}
	s.notify([]Record{rec}, true)
	return rec, nil
}

// Get returns the live record kind/id.
func (s *Store) Get(kind, id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[kind+"/"+id]
	if !ok || r.Deleted {
		return Record{}, false
	}
	return r, true
}

// List returns the live records of kind, sorted by ID.
func (s *Store) List(kind string) []Record {
	s.mu.Lock()
	out := make([]Record, 0)
	for _, r := range s.recs {
		if r.Kind == kind && !r.Deleted {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Apply merges records received from peers and returns the ones that were
// newer than what this store held (in input order; with node identities,
// certificates first). Invalid records and records of a future format are
// dropped with a log line; with node identities, so are records that are
// not signed by their origin or break an ownership rule (see security.go).
func (s *Store) Apply(recs ...Record) []Record {
	s.mu.Lock()
	sec := s.sec
	s.mu.Unlock()
	if sec == nil {
		return s.apply(recs, nil)
	}
	return s.applySigned(sec, recs)
}

// apply stores the records of recs newer than those held. admit, if not
// nil, is asked (under the lock) about each record that would be stored; a
// record it refuses is left out and counted, and does not move the clock.
func (s *Store) apply(recs []Record, admit func(i int, r Record) error) []Record {
	var kept []Record
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	for i, r := range recs {
		if r.V > FormatVersion {
			slog.Warn("store: ignoring record of a newer format", "key", r.Key(), "v", r.V, "origin", r.Ver.Origin)
			continue
		}
		if err := validateStored(r); err != nil {
			slog.Warn("store: ignoring malformed record", "key", r.Key(), "origin", r.Ver.Origin, "err", err)
			continue
		}
		if admit == nil {
			s.clock = max(s.clock, r.Ver.Clock)
		}
		if r.Deleted {
			r.Data = nil
			if r.DeletedAt == 0 && admit == nil {
				// Without a time GC would drop it at once; count from now.
				// (A signed tombstone always has one: admit checked.)
				r.DeletedAt = now.Unix()
			}
		}
		cur, had := s.recs[r.Key()]
		if had && !replaces(cur, r) {
			continue
		}
		if f, ok := s.floors[r.Key()]; ok && !f.Less(r.Ver) {
			slog.Debug("store: ignoring a record older than its collected tombstone", "key", r.Key(), "ver", r.Ver, "floor", f)
			continue
		}
		if !had && r.Deleted && s.gcTTL > 0 && now.Sub(time.Unix(r.DeletedAt, 0)) > s.gcTTL {
			// A tombstone we already collected (or never needed): taking it
			// back would only make digests flap between GC runs.
			continue
		}
		if admit != nil {
			if err := admit(i, r); err != nil {
				s.rejectLocked(r, err)
				continue
			}
			s.clock = max(s.clock, r.Ver.Clock)
		}
		r.Sig = append([]byte(nil), r.Sig...)
		if len(r.Data) == 0 {
			r.Data = nil
		} else if b, err := json.Marshal(r.Data); err == nil {
			// Held as the disk will hold it (compact, HTML-escaped: how
			// encoding/json writes a RawMessage), so a restart changes no
			// record. Signatures are over this form too (SigningBytes).
			r.Data = b
		} else {
			r.Data = append(json.RawMessage(nil), r.Data...)
		}
		if len(r.Sig) == 0 {
			r.Sig = nil
		}
		s.setLocked(r)
		kept = append(kept, r)
	}
	if len(kept) > 0 {
		s.scheduleFlushLocked()
	}
	s.mu.Unlock()
	s.notify(kept, false)
	return kept
}

// OnChange registers fn to be called after every stored change.
func (s *Store) OnChange(fn ChangeFunc) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// Digest summarises the store per origin for anti-entropy.
func (s *Store) Digest() map[string]OriginDigest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]OriginDigest, len(s.digest))
	for k, v := range s.digest {
		out[k] = v
	}
	return out
}

// ByOrigin returns every record, tombstones included, whose current version
// was written by origin, sorted by key.
func (s *Store) ByOrigin(origin string) []Record {
	s.mu.Lock()
	var out []Record
	for _, r := range s.recs {
		if r.Ver.Origin == origin {
			out = append(out, r)
		}
	}
	s.mu.Unlock()
	sortByKey(out)
	return out
}

// All returns every record, tombstones included, sorted by key.
func (s *Store) All() []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, r)
	}
	s.mu.Unlock()
	sortByKey(out)
	return out
}

// GC drops tombstones deleted more than olderThan ago and returns how many.
// olderThan must exceed the longest partition the cluster should survive: a
// node that was away longer still holds what was deleted meanwhile. Each
// dropped tombstone leaves its version as the key's floor, so that such a
// node (or anyone replaying an old record) can never bring the object
// back here: a floor costs a key and a version, a tombstone its whole
// record.
func (s *Store) GC(olderThan time.Duration) int {
	cutoff := time.Now().Add(-olderThan).Unix()
	s.mu.Lock()
	s.gcTTL = olderThan
	n := 0
	for k, r := range s.recs {
		if r.Deleted && r.DeletedAt < cutoff {
			if f, ok := s.floors[k]; !ok || f.Less(r.Ver) {
				s.floors[k] = r.Ver
			}
			s.removeLocked(k)
			n++
		}
	}
	if n > 0 {
		s.scheduleFlushLocked()
	}
	s.mu.Unlock()
	return n
}

// Close writes any pending state and releases the state dir. It leaves
// state.json alone, as a version 1 file: what a clean stop leaves is
// readable by every bnet, also one from before the log.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.flushT != nil {
		s.flushT.Stop()
		s.flushT = nil
	}
	s.mu.Unlock()
	err := s.flushFinal()
	if cerr := s.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	return err
}

// Decode unmarshals a live record's object.
func Decode[T any](r Record) (T, error) {
	var v T
	if r.Deleted {
		return v, fmt.Errorf("decode %s: record is deleted", r.Key())
	}
	if err := json.Unmarshal(r.Data, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", r.Key(), err)
	}
	return v, nil
}

// validate rejects records that could not have come from a correct peer.
func validate(r Record) error {
	switch {
	case r.V < 0:
		return fmt.Errorf("bad format version %d", r.V)
	case r.Kind == "" || r.ID == "":
		return errors.New("empty kind or id")
	case strings.Contains(r.Kind, "/"):
		// Kind/ID is the key; a '/' in the kind would alias another record.
		return errors.New("kind contains '/'")
	}
	if r.Deleted {
		return nil
	}
	if len(r.Data) == 0 || !json.Valid(r.Data) {
		return errors.New("live record without valid JSON data")
	}
	return nil
}

// validateStored additionally needs a version: local writes get theirs in
// writeLocal, records from peers and from disk must carry one.
func validateStored(r Record) error {
	if r.Ver.Origin == "" || r.Ver.Clock == 0 {
		return errors.New("missing version")
	}
	return validate(r)
}

// setLocked stores r, keeping the per-origin digest in step.
func (s *Store) setLocked(r Record) {
	s.unindexLocked(r.Key(), r.Ver)
	s.pend[r.Key()] = struct{}{}
	s.gen++
	s.recs[r.Key()] = r
	if f, ok := s.floors[r.Key()]; ok && f.Less(r.Ver) {
		delete(s.floors, r.Key()) // the record held now bars older ones itself
	}
	if r.Kind == KindNodeCert {
		s.indexCertLocked(r)
	}
	d := s.digest[r.Ver.Origin]
	d.Count++
	d.MaxClock = max(d.MaxClock, r.Ver.Clock)
	d.Hash ^= recHash(r)
	s.digest[r.Ver.Origin] = d
}

func (s *Store) removeLocked(key string) {
	if _, ok := s.recs[key]; ok {
		s.pend[key] = struct{}{}
	}
	s.unindexLocked(key, Version{})
}

// unindexLocked drops the record held under key from the store and its
// origin's digest. by is the version of the record about to replace it
// (zero if none): when that is a later one of the same origin, the
// origin's maximum clock will be by's and needs no rescan, which keeps
// overwriting a record (the commonest local write) free of a pass over the
// whole store.
func (s *Store) unindexLocked(key string, by Version) {
	old, ok := s.recs[key]
	if !ok {
		return
	}
	delete(s.recs, key)
	s.gen++
	if old.Kind == KindNodeCert {
		delete(s.certs, old.ID)
	}
	d := s.digest[old.Ver.Origin]
	d.Count--
	d.Hash ^= recHash(old)
	if d.Count == 0 {
		delete(s.digest, old.Ver.Origin)
		return
	}
	if old.Ver.Clock == d.MaxClock && (by.Origin != old.Ver.Origin || by.Clock < old.Ver.Clock) {
		// The maximum may have left with this record; rescan that origin.
		// Rare: only when a newer write from elsewhere replaces an origin's
		// latest record.
		d.MaxClock = 0
		for _, r := range s.recs {
			if r.Ver.Origin == old.Ver.Origin {
				d.MaxClock = max(d.MaxClock, r.Ver.Clock)
			}
		}
	}
	s.digest[old.Ver.Origin] = d
}

func recHash(r Record) uint64 {
	h := fnv.New64a()
	del := "0"
	if r.Deleted {
		del = "1"
	}
	fmt.Fprintf(h, "%s|%s|%d|%s|%s", r.Kind, r.ID, r.Ver.Clock, r.Ver.Origin, del)
	if r.Kind == KindNodeCert {
		// Two certificates of a node can share a version (see replaces):
		// the digest must tell them apart for anti-entropy to settle it.
		fmt.Fprintf(h, "|%d", certIssued(r))
	}
	return h.Sum64()
}

func sortByKey(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Kind != rs[j].Kind {
			return rs[i].Kind < rs[j].Kind
		}
		return rs[i].ID < rs[j].ID
	})
}

func (s *Store) notify(recs []Record, local bool) {
	if len(recs) == 0 {
		return
	}
	s.mu.Lock()
	subs := append([]ChangeFunc(nil), s.subs...)
	s.mu.Unlock()
	for _, r := range recs {
		for _, fn := range subs {
			fn(r, local)
		}
	}
}

func (s *Store) scheduleFlushLocked() {
	s.dirty = true
	if s.flushT != nil || s.closed {
		return
	}
	s.flushT = time.AfterFunc(applyFlushDelay, func() {
		s.mu.Lock()
		s.flushT = nil
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return // Close flushes
		}
		if err := s.flush(); err != nil {
			if errors.Is(err, errClosed) {
				return // Close came between: it wrote them
			}
			slog.Error("store: persisting replicated records", "dir", s.dir, "err", err)
			s.mu.Lock()
			s.scheduleFlushLocked() // retry
			s.mu.Unlock()
		}
	})
}

// flush persists every change not yet on disk.
func (s *Store) flush() error { return s.flushUpTo(0) }

// flushUpTo persists the store's changes unless change gen is already on
// disk: concurrent writers waiting on one another share one write and one
// fsync (group commit). A write is one log entry holding the changed keys'
// states, or a whole snapshot when there is no log to append to (see
// wal.go).
func (s *Store) flushUpTo(gen uint64) error {
	s.persist.Lock()
	defer s.persist.Unlock()

	s.mu.Lock()
	if gen != 0 && s.savedGen >= gen {
		s.mu.Unlock()
		return nil
	}
	if s.shut {
		s.mu.Unlock()
		return fmt.Errorf("persist: %w", errClosed)
	}
	if !s.dirty && len(s.pend) == 0 && s.clock == s.loggedClock {
		s.savedGen = s.gen
		s.mu.Unlock()
		return nil
	}
	if s.logf == nil {
		st, g := s.captureAllLocked()
		s.mu.Unlock()
		return s.writeSnapshot(st, g, snapWithLog)
	}
	e, g := s.capturePendingLocked()
	s.mu.Unlock()
	return s.appendEntry(e, g)
}

// captureAllLocked takes the whole state for a snapshot.
func (s *Store) captureAllLocked() (diskState, uint64) {
	st := diskState{Node: s.node, Clock: s.clock, Records: make([]Record, 0, len(s.recs))}
	for _, r := range s.recs {
		st.Records = append(st.Records, r)
	}
	if len(s.floors) > 0 {
		st.Floors = make(map[string]Version, len(s.floors))
		for k, v := range s.floors {
			st.Floors[k] = v
		}
	}
	s.resetPendLocked()
	return st, s.gen
}

func (s *Store) resetPendLocked() {
	if len(s.pend) > 4096 {
		s.pend = make(map[string]struct{}) // a pull answer's worth: do not keep its buckets
	} else {
		clear(s.pend)
	}
	s.dirty = false
}

// persistFailed is called, under persist, when a write did not reach the
// disk. What it had captured is no longer pending, and the log may end in
// part of an entry: only a snapshot, which starts a new log, can follow.
func (s *Store) persistFailed() {
	s.closeLog()
	s.markDirty()
}

// WriteFileAtomic replaces dir/name with b so that a crash leaves the old
// file or the new one, never part of either (temp file, fsync, rename,
// fsync of the directory). The agent's node-local files use it too.
func WriteFileAtomic(dir, name string, b []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("persist %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("persist %s: %w", name, err)
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("persist %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("persist %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("persist %s: open dir: %w", name, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("persist %s: sync dir: %w", name, err)
	}
	return nil
}
