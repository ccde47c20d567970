package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// image is everything of a store that must survive a restart.
type image struct {
	Recs   map[string]Record
	Floors map[string]Version
	Clock  uint64
	Digest map[string]OriginDigest
}

func imageOf(s *Store) image {
	s.mu.Lock()
	defer s.mu.Unlock()
	im := image{Recs: map[string]Record{}, Floors: map[string]Version{}, Clock: s.clock, Digest: map[string]OriginDigest{}}
	for k, r := range s.recs {
		im.Recs[k] = r
	}
	for k, f := range s.floors {
		im.Floors[k] = f
	}
	for k, d := range s.digest {
		im.Digest[k] = d
	}
	return im
}

// copyState copies the store's files as a crash would leave them: no
// Close, whatever is on disk now.
func copyState(t testing.TB, dir string) string {
	t.Helper()
	return copyStateTo(t, dir, t.TempDir())
}

func copyStateTo(t testing.TB, dir, dst string) string {
	t.Helper()
	for _, name := range []string{stateFile, logFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openImage(t testing.TB, dir, node string) (image, error) {
	t.Helper()
	s, err := Open(dir, node)
	if err != nil {
		return image{}, err
	}
	defer s.Close()
	return imageOf(s), nil
}

// crashImage is what node "a" would find after crashing now.
func crashImage(t testing.TB, dir string) map[string]Record {
	t.Helper()
	im, err := openImage(t, copyState(t, dir), "a")
	if err != nil {
		t.Fatalf("open after a crash: %v", err)
	}
	return im.Recs
}

func mustImage(t testing.TB, dir, node string) image {
	t.Helper()
	im, err := openImage(t, dir, node)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func diffImage(t testing.TB, what string, got, want image) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

func readSnap(t testing.TB, dir string) diskState {
	t.Helper()
	var st diskState
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func mustOpen(t testing.TB, dir, node string) *Store {
	t.Helper()
	s, err := Open(dir, node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill makes every kind of change: live records, an overwrite, a local
// and a replicated tombstone, a collected tombstone's floor, and a clock
// moved by a record that was not kept.
func fill(t testing.TB, s *Store) {
	t.Helper()
	for i := 0; i < 5; i++ {
		if _, err := s.Put("port", fmt.Sprintf("p%d", i), obj{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put("port", "p1", obj{Name: "again"})
	s.Delete("port", "p2")
	if _, err := s.PutAll([]Obj{{"rule", "r1", 1}, {"rule", "r2", 2}}); err != nil {
		t.Fatal(err)
	}
	old := rec("port", "gone", 30, "b", "")
	old.DeletedAt = time.Now().Add(-time.Hour).Unix()
	s.Apply(old, rec("net", "n1", 31, "b", `{"x":1}`), rec("port", "t", 32, "c", ""))
	s.GC(30 * time.Minute)
	late := rec("port", "late", 33, "c", "")
	late.DeletedAt = time.Now().Add(-10 * time.Minute).Unix() // for a GC of a shorter age
	s.Apply(late)
	s.Apply(rec("port", "p0", 3, "zz", `{}`)) // older than ours: kept out
	s.Apply(rec("port", "p4", 50, "b", `{"y":2}`))
	if _, err := s.Put("port", "p9", obj{}); err != nil { // carries the replicated changes along
		t.Fatal(err)
	}
}

func TestLogDurableWithoutClose(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "a")
	fill(t, s)
	want := imageOf(s)
	if len(want.Floors) != 1 || want.Recs["port/p2"].Deleted != true || want.Recs["port/t"].DeletedAt == 0 {
		t.Fatalf("fill did not make its changes: %+v", want)
	}
	if st := readSnap(t, dir); st.V != snapWithLog || st.Log == "" {
		t.Fatalf("state.json while open: v=%d log=%q", st.V, st.Log)
	}
	diffImage(t, "after a crash", mustImage(t, copyState(t, dir), "a"), want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := readSnap(t, dir); st.V != snapPlain || st.Log != "" {
		t.Fatalf("state.json after Close: v=%d log=%q", st.V, st.Log)
	}
	if _, err := os.Stat(filepath.Join(dir, logFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log left after Close: %v", err)
	}
	diffImage(t, "after Close", mustImage(t, dir, "a"), want)
}

// TestTornLastEntry cuts the log at every byte of its last entry, as a
// crash during that write may leave it: the store opens with the state
// before the write, or (complete entry) after it, and appends where the
// good part ends.
func TestTornLastEntry(t *testing.T) {
	for name, write := range map[string]func(s *Store) error{
		"put new":   func(s *Store) error { _, err := s.Put("port", "new", obj{Name: "n"}); return err },
		"overwrite": func(s *Store) error { _, err := s.Put("port", "p1", obj{N: 7}); return err },
		"delete":    func(s *Store) error { _, err := s.Delete("port", "p3"); return err },
		"put all": func(s *Store) error {
			_, err := s.PutAll([]Obj{{"rule", "r1", 9}, {"rule", "r3", 3}, {"group", "g", 1}})
			return err
		},
		"gc": func(s *Store) error {
			if s.GC(time.Minute) != 1 {
				return errors.New("GC collected nothing")
			}
			return s.flush()
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, "a")
			fill(t, s)
			oldImg := imageOf(s)
			snap, _ := os.ReadFile(filepath.Join(dir, stateFile))
			oldLog, _ := os.ReadFile(filepath.Join(dir, logFile))
			if err := write(s); err != nil {
				t.Fatal(err)
			}
			newImg := imageOf(s)
			newLog, _ := os.ReadFile(filepath.Join(dir, logFile))
			if snap2, _ := os.ReadFile(filepath.Join(dir, stateFile)); !bytes.Equal(snap, snap2) || !bytes.HasPrefix(newLog, oldLog) || len(newLog) == len(oldLog) {
				t.Fatal("the write did not append to the log")
			}
			if bytes.Count(newLog[len(oldLog):], []byte("\n")) != 1 {
				t.Fatalf("one write, %d lines", bytes.Count(newLog[len(oldLog):], []byte("\n")))
			}
			try := func(what string, log []byte, want image, goodLen int, reuse bool) {
				t.Helper()
				d := t.TempDir()
				os.WriteFile(filepath.Join(d, stateFile), snap, 0o600)
				os.WriteFile(filepath.Join(d, logFile), log, 0o600)
				s, err := Open(d, "a")
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				got := imageOf(s)
				if fi, _ := os.Stat(filepath.Join(d, logFile)); fi.Size() != int64(goodLen) {
					t.Fatalf("%s: log of %d bytes after open, want %d", what, fi.Size(), goodLen)
				}
				if reuse {
					if _, err := s.Put("port", "later", obj{}); err != nil {
						t.Fatalf("%s: put after recovery: %v", what, err)
					}
					got2 := imageOf(s)
					if im := mustImage(t, copyState(t, d), "a"); !reflect.DeepEqual(im, got2) {
						t.Fatalf("%s: write after recovery not replayed: %+v", what, im)
					}
				}
				s.Close()
				diffImage(t, what, got, want)
			}
			for cut := len(oldLog); cut < len(newLog); cut++ {
				try(fmt.Sprintf("cut at %d of %d..%d", cut, len(oldLog), len(newLog)), newLog[:cut], oldImg, len(oldLog), cut%17 == 0)
			}
			try("complete", newLog, newImg, len(newLog), true)
			// A crash may also leave zeros or stale blocks past the end.
			try("zeros after", append(append([]byte(nil), newLog...), make([]byte, 4096)...), newImg, len(newLog), true)
			try("garbage lines after", append(append([]byte(nil), newLog...), "0000 x\n\nzz\x00\n{}"...), newImg, len(newLog), true)
			torn := append([]byte(nil), newLog...)
			torn[len(torn)-5] ^= 0x20
			try("last entry damaged whole", torn, oldImg, len(oldLog), true)
		})
	}
}

func TestCorruptLogRejected(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "a")
	fill(t, s)
	snap, _ := os.ReadFile(filepath.Join(dir, stateFile))
	log, _ := os.ReadFile(filepath.Join(dir, logFile))
	lines := bytes.SplitAfter(log, []byte("\n"))
	if len(lines) < 5 {
		t.Fatalf("%d lines", len(lines))
	}
	at := func(i int) int { return len(bytes.Join(lines[:i], nil)) }
	flip := func(off int) []byte {
		b := append([]byte(nil), log...)
		b[off] ^= 0x01
		return b
	}
	badRec, _ := frameLine(logEntry{Clock: 99, Ops: []logOp{{Key: "port/x", Rec: &Record{V: 1, Kind: "port", ID: "x", Data: json.RawMessage(`{}`)}}}})
	wrongKey, _ := frameLine(logEntry{Clock: 99, Ops: []logOp{{Key: "port/y", Rec: &Record{V: 1, Kind: "port", ID: "x", Ver: Version{1, "a"}, Data: json.RawMessage(`{}`)}}}})
	badFloor, _ := frameLine(logEntry{Clock: 99, Ops: []logOp{{Key: "port/y", Floor: &Version{}}}})
	notJSON, _ := frameLine(json.RawMessage(`[1]`))
	hdr, _, _ := unframeLine(lines[0])
	var h logHeader
	json.Unmarshal(hdr, &h)
	hdrB, _ := frameLine(logHeader{Magic: logMagic, Node: "b", ID: h.ID})
	for name, tc := range map[string]struct {
		log  []byte
		want string
	}{
		"middle entry":             {flip(at(2) + 20), "entry 2 at offset"},
		"middle checksum":          {flip(at(2) + 3), "entry 2 at offset"},
		"lost newline":             {append(append(bytes.Join(lines[:2], nil), bytes.TrimSuffix(lines[2], []byte("\n"))...), bytes.Join(lines[3:], nil)...), "entry 2 at offset"},
		"header":                   {flip(20), "header"},
		"invalid record, last":     {append(append([]byte(nil), log...), badRec...), "missing version"},
		"record under another key": {append(append([]byte(nil), log...), wrongKey...), "under key"},
		"bad floor":                {append(append([]byte(nil), log...), badFloor...), "bad floor"},
		"entry not an object":      {append(append([]byte(nil), log...), notJSON...), "cannot unmarshal"},
		"other node":               {append(hdrB, bytes.Join(lines[1:], nil)...), `node "b"`},
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, stateFile), snap, 0o600)
			os.WriteFile(filepath.Join(d, logFile), tc.log, 0o600)
			s, err := Open(d, "a")
			if err == nil {
				s.Close()
				t.Fatal("corrupt log accepted")
			}
			if !strings.Contains(err.Error(), "state.log") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			if b, _ := os.ReadFile(filepath.Join(d, logFile)); !bytes.Equal(b, tc.log) {
				t.Fatal("corrupt log was modified")
			}
		})
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "a")
	fill(t, s)
	s.persist.Lock()
	s.compactMin = 1 // compact as soon as the log outgrows the snapshot
	s.persist.Unlock()
	id := readSnap(t, dir).Log
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; readSnap(t, dir).Log == id; i++ {
		if time.Now().After(deadline) {
			t.Fatal("the log was never compacted")
		}
		if i < 200 {
			if _, err := s.Put("port", fmt.Sprintf("c%d", i%10), obj{N: i}); err != nil {
				t.Fatal(err)
			}
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.persist.Lock() // the compaction's log is in place
	st := readSnap(t, dir)
	log, _ := os.ReadFile(filepath.Join(dir, logFile))
	s.persist.Unlock()
	if len(log) >= len(mustRead(t, dir, stateFile)) || !strings.Contains(string(log), st.Log) {
		t.Fatalf("log after compaction: %d bytes, %s", len(log), log[:min(len(log), 100)])
	}
	diffImage(t, "after compaction", mustImage(t, copyState(t, dir), "a"), imageOf(s))
}

func mustRead(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCompactionCrash: a crash after the compaction's snapshot and before
// its log leaves the old log beside the new snapshot. Its entries are in
// the snapshot already; replayed, they would set p1 back.
func TestCompactionCrash(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "a")
	fill(t, s)
	s.Put("port", "p1", obj{N: 1})
	preLog := mustRead(t, dir, logFile)
	s.Put("port", "p1", obj{N: 2})
	gone := rec("port", "p0", 60, "b", "")
	gone.DeletedAt = time.Now().Add(-10 * time.Minute).Unix()
	s.Apply(gone)
	s.GC(time.Minute)
	oldLog := mustRead(t, dir, logFile)
	s.compact()
	want := imageOf(s)
	if _, ok := want.Floors["port/p0"]; !ok {
		t.Fatal("GC collected no tombstone")
	}
	snap := mustRead(t, dir, stateFile)
	for name, log := range map[string][]byte{
		"old log":           oldLog,
		"old log, shorter":  preLog,
		"no log":            nil,
		"new log":           mustRead(t, dir, logFile),
		"new log, torn hdr": mustRead(t, dir, logFile)[:10],
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, stateFile), snap, 0o600)
			if log != nil {
				os.WriteFile(filepath.Join(d, logFile), log, 0o600)
			}
			s2 := mustOpen(t, d, "a")
			diffImage(t, "after the crash", imageOf(s2), want)
			r, err := s2.Put("port", "p1", obj{N: 3})
			if err != nil {
				t.Fatal(err)
			}
			got := mustImage(t, copyState(t, d), "a")
			if got.Recs["port/p1"].Ver != r.Ver || got.Clock != want.Clock+1 {
				t.Fatalf("the write after recovery: %+v", got.Recs["port/p1"])
			}
		})
	}
}

// TestGroupCommit: concurrent writers are all durable when they return,
// with fewer log entries than writes when they overlap.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "a")
	s.Put("port", "first", obj{})
	before := bytes.Count(mustRead(t, dir, logFile), []byte("\n"))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.Put("port", fmt.Sprintf("w%d-%d", w, i), obj{N: i}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if img := crashImage(t, dir); len(img) != writers*each+1 {
		t.Fatalf("%d records on disk, want %d", len(img), writers*each+1)
	}
	entries := bytes.Count(mustRead(t, dir, logFile), []byte("\n")) - before
	if entries > writers*each {
		t.Fatalf("%d entries for %d writes", entries, writers*each)
	}
	t.Logf("%d writes, %d log entries", writers*each, entries)

	before += entries
	objs := make([]Obj, 50)
	for i := range objs {
		objs[i] = Obj{"rule", fmt.Sprint(i), i}
	}
	if _, err := s.PutAll(objs); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(mustRead(t, dir, logFile), []byte("\n")) - before; n != 1 {
		t.Fatalf("PutAll of 50 wrote %d entries", n)
	}
}

// TestOldFormatDir: a state dir written before the log (state.json of
// version 1 only) loads, a leftover log beside it is ignored, and Close
// leaves such a dir again.
func TestOldFormatDir(t *testing.T) {
	dir := t.TempDir()
	old := `{"v":1,"node":"a","clock":41,"records":[` +
		`{"v":1,"k":"network","id":"n1","ver":{"c":1,"o":"a"},"d":{"name":"net"}},` +
		`{"v":1,"k":"port","id":"p1","ver":{"c":3,"o":"a"},"del":true,"dat":1700000000},` +
		`{"v":1,"k":"port","id":"p9","ver":{"c":40,"o":"b"},"d":{"n":9}}],` +
		`"floors":{"port/old":{"c":2,"o":"b"}}}`
	os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600)
	for name, log := range map[string]string{
		"alone":         "",
		"log of before": "whatever a downgrade left\n",
	} {
		t.Run(name, func(t *testing.T) {
			d := copyState(t, dir)
			if log != "" {
				os.WriteFile(filepath.Join(d, logFile), []byte(log), 0o600)
			}
			s := mustOpen(t, d, "a")
			im := imageOf(s)
			if len(im.Recs) != 3 || im.Clock != 41 || im.Floors["port/old"] != (Version{2, "b"}) || !im.Recs["port/p1"].Deleted {
				t.Fatalf("old state: %+v", im)
			}
			if string(mustRead(t, d, stateFile)) != old {
				t.Fatal("opening rewrote state.json")
			}
			r, err := s.Put("port", "p2", obj{})
			if err != nil || r.Ver.Clock != 42 {
				t.Fatalf("first write: %v %+v", err, r.Ver)
			}
			want := imageOf(s)
			diffImage(t, "after a crash", mustImage(t, copyState(t, d), "a"), want)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			json.Unmarshal(mustRead(t, d, stateFile), &st)
			if st["v"] != 1.0 || st["log"] != nil {
				t.Fatalf("state.json after Close: %v", st)
			}
			diffImage(t, "after Close", mustImage(t, d, "a"), want)
		})
	}
}
