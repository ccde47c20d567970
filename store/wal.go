package store

// The store on disk is a snapshot, state.json, and a log, state.log, of
// the changes made since. Rewriting the whole snapshot for each local
// write made a write cost the size of the store (tens of milliseconds at
// 10,000 records); appending the changed keys costs their size and one
// fdatasync.
//
// state.log is lines of "<crc32c of the JSON, 8 hex digits> <JSON>\n": a
// header naming the log's id and node, then entries. An entry holds the
// clock and, for each key changed since the previous entry, its state
// then: the record held (or none) and the floor (or none). Replaying
// entries in order over the snapshot therefore rebuilds exactly the state
// the last one was taken from: records, tombstones, floors and clock.
//
// One write is one entry and one fdatasync. A crash during it can only
// damage the last line, which is left out on load (and cut off, so that
// the next append does not follow garbage); a bad line anywhere before it
// is corruption and Open fails.
//
// Compaction writes a new snapshot naming a fresh log id, then replaces
// the log by an empty one of that id. A crash between the two leaves the
// old log beside a snapshot that names another id: it is ignored, its
// entries being in the snapshot already. Replaying it would not be
// harmless: its entries set keys to states older than the snapshot's.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

const (
	logFile  = "state.log"
	logMagic = "bnet-store-log"

	// snapPlain: state.json is the whole state; any state.log is ignored.
	// Older bnet reads only this version, so Close leaves it.
	snapPlain = 1
	// snapWithLog: the state is state.json plus the entries of the
	// state.log whose header carries the snapshot's log id. Older bnet
	// refuses it rather than silently dropping the log's writes.
	snapWithLog = 2

	// logCompactMin is the least log size compacted: below it, rewriting
	// the snapshot costs more than replaying the log at the next start.
	logCompactMin = 1 << 20
)

type logHeader struct {
	Magic string `json:"magic"`
	Node  string `json:"node"`
	ID    string `json:"id"`
}

type logEntry struct {
	Clock uint64  `json:"clock"`
	Ops   []logOp `json:"ops"`
}

// logOp is the state of one key after the entry: Rec nil means no record,
// Floor nil no floor.
type logOp struct {
	Key   string   `json:"key"`
	Rec   *Record  `json:"r,omitempty"`
	Floor *Version `json:"f,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTornLine: the data ends inside a line.
var errTornLine = errors.New("line without its end")

func frameLine(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(js)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(js, castagnoli))
	line = append(line, js...)
	return append(line, '\n'), nil
}

// unframeLine returns the JSON of the line b starts with and the line's
// length. A line that is complete but does not check out still reports
// its length, so the caller can tell the last line from one in the middle.
func unframeLine(b []byte) ([]byte, int, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return nil, 0, errTornLine
	}
	line := b[:i]
	if len(line) < 10 || line[8] != ' ' {
		return nil, i + 1, errors.New("malformed line")
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return nil, i + 1, errors.New("malformed checksum")
	}
	js := line[9:]
	if crc32.Checksum(js, castagnoli) != uint32(sum) {
		return nil, i + 1, errors.New("checksum mismatch")
	}
	return js, i + 1, nil
}

func (o logOp) check() error {
	if o.Key == "" {
		return errors.New("empty key")
	}
	if o.Rec != nil {
		if err := validateStored(*o.Rec); err != nil {
			return fmt.Errorf("record %s: %w", o.Key, err)
		}
		if o.Rec.Key() != o.Key {
			return fmt.Errorf("record %s under key %s", o.Rec.Key(), o.Key)
		}
	}
	if o.Floor != nil && (o.Floor.Origin == "" || o.Floor.Clock == 0) {
		return fmt.Errorf("bad floor of %s: %+v", o.Key, *o.Floor)
	}
	return nil
}

// parseLog reads a log for the snapshot of log id. stale: the log is not
// that snapshot's (a compaction's leftover, or a header never completed)
// and holds nothing to replay. good is the length of the valid part: the
// header and every complete entry, the torn last line excluded.
func parseLog(b []byte, node, id string) (ents []logEntry, good int, stale bool, err error) {
	if bytes.IndexByte(b, '\n') < 0 {
		// The header is written whole (temp file, rename), so this is
		// an empty file or one whose creation did not complete; no
		// entry was ever appended to it.
		return nil, 0, true, nil
	}
	js, n, err := unframeLine(b)
	if err != nil {
		return nil, 0, false, fmt.Errorf("header: %w", err)
	}
	var h logHeader
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, 0, false, fmt.Errorf("header: %w", err)
	}
	if h.Magic != logMagic {
		return nil, 0, false, fmt.Errorf("header: not a bnet store log (%q)", h.Magic)
	}
	if h.Node != node {
		return nil, 0, false, fmt.Errorf("header: log belongs to node %q, not %q", h.Node, node)
	}
	if h.ID != id {
		return nil, 0, true, nil
	}
	off := n
	for i := 1; off < len(b); i++ {
		js, n, err := unframeLine(b[off:])
		if err != nil {
			if at := validLineAfter(b, off+n); at >= 0 {
				return nil, 0, false, fmt.Errorf("entry %d at offset %d: %w (a valid entry follows at offset %d: corruption, not a torn write)", i, off, err, at)
			}
			break // the last write, torn by a crash
		}
		var e logEntry
		if err := json.Unmarshal(js, &e); err != nil {
			return nil, 0, false, fmt.Errorf("entry %d at offset %d: %w", i, off, err)
		}
		for _, o := range e.Ops {
			if err := o.check(); err != nil {
				return nil, 0, false, fmt.Errorf("entry %d at offset %d: %w", i, off, err)
			}
		}
		ents = append(ents, e)
		off += n
	}
	return ents, off, false, nil
}

// validLineAfter returns the offset of the first line at or after off that
// checks out, or -1. Only the last write can be torn, and nothing is
// appended after a failed one, so bad bytes followed by a good line are
// damage to what was acknowledged. Bad bytes up to the end, newlines
// among them or not, are that write (a crash may also expose stale blocks
// past the old end of the file).
func validLineAfter(b []byte, off int) int {
	for off < len(b) {
		_, n, err := unframeLine(b[off:])
		if err == nil {
			return off
		}
		if n == 0 {
			return -1
		}
		off += n
	}
	return -1
}

// replayLog applies the log of the snapshot just loaded, cuts a torn last
// line off and opens the log for appending. Without a log of that id the
// store starts without one, and its first write is a snapshot.
func (s *Store) replayLog(id string) error {
	path := filepath.Join(s.dir, logFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a crash after the snapshot's write, before its log's
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	ents, good, stale, err := parseLog(b, s.node, id)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	if stale {
		slog.Info("store: ignoring a log older than the snapshot (compaction interrupted)", "path", path)
		return nil
	}
	for _, e := range ents {
		s.clock = max(s.clock, e.Clock)
		for _, o := range e.Ops {
			if o.Rec != nil {
				s.setLocked(*o.Rec)
				s.clock = max(s.clock, o.Rec.Ver.Clock)
			} else {
				s.removeLocked(o.Key)
			}
			if o.Floor != nil {
				s.floors[o.Key] = *o.Floor
				s.clock = max(s.clock, o.Floor.Clock)
			} else {
				delete(s.floors, o.Key)
			}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("load %s: open for appending: %w", path, err)
	}
	if good < len(b) {
		slog.Warn("store: dropping the torn last entry of the log (a crash during its write; it was never acknowledged)",
			"path", path, "bytes", len(b)-good, "offset", good)
		if err := f.Truncate(int64(good)); err != nil {
			f.Close()
			return fmt.Errorf("load %s: cut torn entry at offset %d: %w", path, good, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("load %s: cut torn entry at offset %d: %w", path, good, err)
		}
	}
	s.logf = f
	s.logSize = int64(good)
	return nil
}

// capturePendingLocked takes the states of the keys changed since the
// last capture.
func (s *Store) capturePendingLocked() (logEntry, uint64) {
	e := logEntry{Clock: s.clock, Ops: make([]logOp, 0, len(s.pend))}
	for k := range s.pend {
		o := logOp{Key: k}
		if r, ok := s.recs[k]; ok {
			o.Rec = &r
		}
		if f, ok := s.floors[k]; ok {
			o.Floor = &f
		}
		e.Ops = append(e.Ops, o)
	}
	s.resetPendLocked()
	return e, s.gen
}

// appendEntry makes e durable in the log. Called under persist.
func (s *Store) appendEntry(e logEntry, gen uint64) error {
	sort.Slice(e.Ops, func(i, j int) bool { return e.Ops[i].Key < e.Ops[j].Key })
	line, err := frameLine(e)
	if err != nil {
		s.persistFailed()
		return fmt.Errorf("persist %s: encode: %w", logFile, err)
	}
	if _, err := s.logf.Write(line); err != nil {
		s.persistFailed()
		return fmt.Errorf("persist %s: %w", logFile, err)
	}
	// The file exists and its name is durable: its data and size are
	// what remains to sync.
	if err := syscall.Fdatasync(int(s.logf.Fd())); err != nil {
		s.persistFailed()
		return fmt.Errorf("persist %s: fdatasync: %w", logFile, err)
	}
	s.logSize += int64(len(line))
	s.savedGen = gen
	s.loggedClock = e.Clock
	if s.logSize > max(s.compactMin, s.snapSize) && !s.compacting {
		// In the background: the writer that crossed the line has its
		// answer now, and the next ones queue behind the snapshot as they
		// would behind any write.
		s.compacting = true
		go s.compact()
	}
	return nil
}

func (s *Store) compact() {
	s.persist.Lock()
	defer s.persist.Unlock()
	s.compacting = false
	if s.shut || s.logf == nil {
		return // Close, or the next write, writes a snapshot anyway
	}
	s.mu.Lock()
	st, gen := s.captureAllLocked()
	s.mu.Unlock()
	if err := s.writeSnapshot(st, gen, snapWithLog); err != nil {
		slog.Error("store: compacting the log", "dir", s.dir, "err", err)
		s.mu.Lock()
		s.scheduleFlushLocked() // what it had captured is on disk nowhere else
		s.mu.Unlock()
	}
}

// writeSnapshot replaces state.json by st, as version v, and starts the
// log anew. Called under persist.
func (s *Store) writeSnapshot(st diskState, gen uint64, v int) error {
	st.V = v
	id := ""
	if v == snapWithLog {
		id = newLogID()
		st.Log = id
	}
	sortByKey(st.Records)
	b, err := json.Marshal(st)
	if err != nil {
		s.persistFailed()
		return fmt.Errorf("encode state: %w", err)
	}
	if err := WriteFileAtomic(s.dir, stateFile, b); err != nil {
		s.persistFailed()
		return err
	}
	s.savedGen = gen
	s.snapV = v
	s.snapSize = int64(len(b))
	s.loggedClock = st.Clock
	s.closeLog() // the old log is stale from now on
	if v == snapPlain {
		if err := os.Remove(filepath.Join(s.dir, logFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("store: removing the stale log (ignored by the snapshot anyway)", "dir", s.dir, "err", err)
		}
		return nil
	}
	if err := s.startLog(id); err != nil {
		// The snapshot holds everything, this write included; only the
		// next one cannot append and writes a snapshot again.
		slog.Warn("store: starting a new log", "dir", s.dir, "err", err)
	}
	return nil
}

// startLog replaces state.log by an empty log of id, atomically: a crash
// leaves the old log (stale, as the snapshot names id) or the new one.
func (s *Store) startLog(id string) error {
	hdr, err := frameLine(logHeader{Magic: logMagic, Node: s.node, ID: id})
	if err != nil {
		return fmt.Errorf("encode log header: %w", err)
	}
	if err := WriteFileAtomic(s.dir, logFile, hdr); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, logFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", logFile, err)
	}
	s.logf = f
	s.logSize = int64(len(hdr))
	return nil
}

func (s *Store) closeLog() {
	if s.logf != nil {
		s.logf.Close()
		s.logf = nil
	}
}

// flushFinal is Close's write: the whole state as a version 1 snapshot,
// unless state.json is one already and holds everything.
func (s *Store) flushFinal() error {
	s.persist.Lock()
	defer s.persist.Unlock()
	if s.shut {
		return nil
	}
	defer func() {
		s.shut = true
		s.closeLog()
	}()
	s.mu.Lock()
	if !s.dirty && len(s.pend) == 0 && s.clock == s.loggedClock && s.snapV == snapPlain {
		s.savedGen = s.gen
		s.mu.Unlock()
		return nil
	}
	st, gen := s.captureAllLocked()
	s.mu.Unlock()
	if err := s.writeSnapshot(st, gen, snapPlain); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

func newLogID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails on Linux (getrandom)
	return hex.EncodeToString(b[:])
}

func (s *Store) markDirty() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}
