package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type obj struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func open(t *testing.T, node string) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(kind, id string, clock uint64, origin string, data string) Record {
	r := Record{V: FormatVersion, Kind: kind, ID: id, Ver: Version{Clock: clock, Origin: origin}}
	if data == "" {
		r.Deleted, r.DeletedAt = true, time.Now().Unix()
	} else {
		r.Data = json.RawMessage(data)
	}
	return r
}

func TestPutGetListDelete(t *testing.T) {
	s := open(t, "a")
	if _, err := s.Put("port", "p2", obj{Name: "two"}); err != nil {
		t.Fatal(err)
	}
	r1, err := s.Put("port", "p1", obj{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Ver != (Version{Clock: 2, Origin: "a"}) || r1.V != FormatVersion {
		t.Fatalf("unexpected record %+v", r1)
	}
	got, ok := s.Get("port", "p1")
	if !ok {
		t.Fatal("p1 missing")
	}
	o, err := Decode[obj](got)
	if err != nil || o.Name != "one" {
		t.Fatalf("decode: %v %+v", err, o)
	}
	l := s.List("port")
	if len(l) != 2 || l[0].ID != "p1" || l[1].ID != "p2" {
		t.Fatalf("list not sorted by id: %+v", l)
	}
	tomb, err := s.Delete("port", "p1")
	if err != nil || !tomb.Deleted || tomb.DeletedAt == 0 || tomb.Ver.Clock != 3 {
		t.Fatalf("delete: %v %+v", err, tomb)
	}
	if _, ok := s.Get("port", "p1"); ok {
		t.Fatal("deleted record still live")
	}
	if _, err := s.Delete("port", "p1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Delete("port", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	if _, err := Decode[obj](tomb); err == nil {
		t.Fatal("decoding a tombstone must fail")
	}
	if n := len(s.All()); n != 2 {
		t.Fatalf("All should keep the tombstone, got %d", n)
	}
	if len(s.List("network")) != 0 {
		t.Fatal("other kind listed")
	}
}

func TestLWW(t *testing.T) {
	s := open(t, "a")
	if k := s.Apply(rec("port", "x", 5, "b", `{"n":1}`)); len(k) != 1 {
		t.Fatal("first record not kept")
	}
	if k := s.Apply(rec("port", "x", 4, "z", `{"n":2}`)); len(k) != 0 {
		t.Fatal("older clock won")
	}
	if k := s.Apply(rec("port", "x", 5, "a", `{"n":3}`)); len(k) != 0 {
		t.Fatal("tie: smaller origin won")
	}
	if k := s.Apply(rec("port", "x", 5, "b", `{"n":9}`)); len(k) != 0 {
		t.Fatal("identical version re-applied")
	}
	if k := s.Apply(rec("port", "x", 5, "c", `{"n":4}`)); len(k) != 1 {
		t.Fatal("tie: larger origin lost")
	}
	r, _ := s.Get("port", "x")
	if string(r.Data) != `{"n":4}` {
		t.Fatalf("winner %s", r.Data)
	}
	// Our clock moved past everything seen, so a local write wins.
	w, err := s.Put("port", "x", obj{N: 5})
	if err != nil || w.Ver.Clock != 6 {
		t.Fatalf("local write after apply: %v %+v", err, w.Ver)
	}
}

func TestTombstoneBeatsStaleUpdate(t *testing.T) {
	s := open(t, "a")
	s.Apply(rec("port", "x", 1, "b", `{"n":1}`))
	if k := s.Apply(rec("port", "x", 3, "c", "")); len(k) != 1 {
		t.Fatal("tombstone not kept")
	}
	// A stale update (sent before the delete, arriving after) must not resurrect.
	if k := s.Apply(rec("port", "x", 2, "b", `{"n":2}`)); len(k) != 0 {
		t.Fatal("stale update resurrected a deleted record")
	}
	if _, ok := s.Get("port", "x"); ok {
		t.Fatal("record live after tombstone")
	}
	// Delete on an unseen key: the tombstone is still recorded and wins.
	s.Apply(rec("port", "y", 7, "c", ""))
	s.Apply(rec("port", "y", 6, "b", `{"n":1}`))
	if _, ok := s.Get("port", "y"); ok {
		t.Fatal("stale update beat a tombstone that arrived first")
	}
	// A genuinely newer write after a delete re-creates.
	s.Apply(rec("port", "x", 4, "b", `{"n":3}`))
	if _, ok := s.Get("port", "x"); !ok {
		t.Fatal("newer write after delete not applied")
	}
}

func TestConvergenceAnyOrder(t *testing.T) {
	// Conflicting writes from several nodes, applied in different orders
	// (with duplicates) to N stores, end as identical stores.
	var writes []Record
	origins := []string{"n1", "n2", "n3", "n4"}
	r := rand.New(rand.NewSource(1))
	used := map[Version]bool{} // an origin never reuses a clock value
	for i := 0; i < 400; i++ {
		v := Version{Clock: uint64(r.Intn(30) + 1), Origin: origins[r.Intn(len(origins))]}
		if used[v] {
			continue
		}
		used[v] = true
		id := fmt.Sprintf("p%d", r.Intn(20))
		data := fmt.Sprintf(`{"n":%d}`, i)
		if r.Intn(4) == 0 {
			data = ""
		}
		writes = append(writes, rec("port", id, v.Clock, v.Origin, data))
	}
	var ref []Record
	var refDigest map[string]OriginDigest
	for n := 0; n < 5; n++ {
		s := open(t, fmt.Sprintf("obs%d", n))
		w := append([]Record(nil), writes...)
		r.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
		for len(w) > 0 {
			k := min(len(w), 1+r.Intn(7))
			s.Apply(w[:k]...)
			w = w[k:]
		}
		s.Apply(writes[:50]...) // duplicates change nothing
		all := s.All()
		for i := range all {
			all[i].DeletedAt = 0 // wall time of the test, not replicated state
		}
		if n == 0 {
			ref, refDigest = all, s.Digest()
			continue
		}
		if !reflect.DeepEqual(all, ref) {
			t.Fatalf("store %d diverged", n)
		}
		if !reflect.DeepEqual(s.Digest(), refDigest) {
			t.Fatalf("store %d digest differs on equal records", n)
		}
	}
}

func TestDigest(t *testing.T) {
	a, b := open(t, "a"), open(t, "b")
	recs := []Record{rec("port", "1", 1, "x", `{}`), rec("port", "2", 2, "x", `{}`), rec("net", "1", 3, "y", "")}
	a.Apply(recs...)
	b.Apply(recs[2], recs[1], recs[0])
	if !reflect.DeepEqual(a.Digest(), b.Digest()) {
		t.Fatal("equal records, different digests")
	}
	d := a.Digest()
	if d["x"].Count != 2 || d["x"].MaxClock != 2 || d["y"].Count != 1 {
		t.Fatalf("digest %+v", d)
	}
	// A newer version of one record changes both origins' digests.
	b.Apply(rec("port", "2", 5, "z", `{}`))
	db := b.Digest()
	if db["x"] == d["x"] || db["x"].Count != 1 || db["x"].MaxClock != 1 || db["z"].Count != 1 {
		t.Fatalf("digest after overwrite %+v", db)
	}
	if db["y"] != d["y"] {
		t.Fatal("unrelated origin digest changed")
	}
	if got := b.ByOrigin("z"); len(got) != 1 || got[0].ID != "2" {
		t.Fatalf("ByOrigin z: %+v", got)
	}
	if got := a.ByOrigin("y"); len(got) != 1 || !got[0].Deleted {
		t.Fatalf("ByOrigin must include tombstones: %+v", got)
	}
	a.Apply(rec("port", "2", 5, "z", `{}`))
	if !reflect.DeepEqual(a.Digest(), b.Digest()) {
		t.Fatal("digests differ after convergence")
	}
	// Same count and max clock, different records: the hash tells them apart.
	c, e := open(t, "c"), open(t, "e")
	c.Apply(rec("port", "1", 1, "x", `{}`))
	e.Apply(rec("port", "9", 1, "x", `{}`))
	if reflect.DeepEqual(c.Digest(), e.Digest()) {
		t.Fatal("different records, equal digests")
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	s.Put("network", "n1", obj{Name: "net"})
	s.Put("port", "p1", obj{Name: "p"})
	s.Delete("port", "p1")
	s.Apply(rec("port", "p9", 40, "b", `{"n":9}`)) // batched; Close must flush it
	before := s.All()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put("port", "late", obj{}); err == nil {
		t.Fatal("put after close accepted")
	}

	s2, err := Open(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !reflect.DeepEqual(s2.All(), before) {
		t.Fatalf("state differs after reopen:\n%+v\n%+v", s2.All(), before)
	}
	// The clock survived: the next local write is newer than anything seen.
	r, err := s2.Put("port", "p2", obj{})
	if err != nil || r.Ver.Clock != 41 {
		t.Fatalf("clock after restart: %v %+v", err, r.Ver)
	}
	if _, err := Open(dir, "a"); err == nil {
		t.Fatal("second Open of a dir in use succeeded")
	}
}

func TestClockPersistedWithoutRecords(t *testing.T) {
	// Even when the record carrying the highest clock was overwritten by a
	// peer, the restarted node must not reuse its clock values.
	dir := t.TempDir()
	s, _ := Open(dir, "a")
	for i := 0; i < 5; i++ {
		s.Put("port", "p", obj{N: i})
	}
	s.Apply(rec("port", "p", 2, "zz", `{}`)) // older: ignored
	s.GC(0)
	s.Close()
	s2, err := Open(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, _ := s2.Put("port", "q", obj{}); r.Ver.Clock != 6 {
		t.Fatalf("clock reused: %+v", r.Ver)
	}
}

func TestApplyPersistsWithinDelay(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, "a")
	defer s.Close()
	s.Apply(rec("port", "x", 3, "b", `{}`))
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := crashImage(t, dir)["port/x"]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("applied record not persisted")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, "a")
	defer s.Close()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				s.Put("port", fmt.Sprintf("w%d-%d", w, i), obj{N: i})
			}
		}()
	}
	// While writers run, the file on disk always parses completely.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		b, err := os.ReadFile(filepath.Join(dir, stateFile))
		if err == nil {
			var st diskState
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatalf("partial state file observed: %v", err)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
	if img := crashImage(t, dir); len(img) != 80 {
		t.Fatalf("final state on disk: %d records", len(img))
	}
	s.Close()
	var st diskState
	b, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if err := json.Unmarshal(b, &st); err != nil || len(st.Records) != 80 || st.Clock != 80 || st.V != snapPlain {
		t.Fatalf("state.json after Close: %v v=%d records=%d clock=%d", err, st.V, len(st.Records), st.Clock)
	}
}

func TestPersistFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, "a")
	defer s.Close()
	s.Put("port", "keep", obj{N: 1})
	// The log's appends fail as on a full disk.
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	s.persist.Lock()
	s.logf.Close()
	s.logf = full
	s.persist.Unlock()
	if _, err := s.Put("port", "new", obj{}); err == nil || !strings.Contains(err.Error(), "state.log") {
		t.Fatalf("put succeeded although appending failed: %v", err)
	}
	if _, ok := s.Get("port", "new"); ok {
		t.Fatal("unpersisted write visible")
	}
	// The next write is a snapshot. Replace the state file by a non-empty
	// directory: rename over it fails (even for root, who ignores
	// permissions).
	os.Remove(filepath.Join(dir, stateFile))
	os.Mkdir(filepath.Join(dir, stateFile), 0o700)
	os.WriteFile(filepath.Join(dir, stateFile, "x"), nil, 0o600)
	if _, err := s.Put("port", "keep", obj{N: 2}); err == nil {
		t.Fatal("update succeeded although persisting failed")
	}
	if r, _ := s.Get("port", "keep"); string(r.Data) != `{"name":"","n":1}` {
		t.Fatalf("failed update not rolled back: %s", r.Data)
	}
	// Once the disk takes writes again, the store on it is memory's: the
	// failed writes are not there, even though the log may hold them.
	os.RemoveAll(filepath.Join(dir, stateFile))
	if _, err := s.Put("port", "after", obj{N: 3}); err != nil {
		t.Fatal(err)
	}
	img := crashImage(t, dir)
	if _, ok := img["port/new"]; ok || len(img) != 2 || string(img["port/keep"].Data) != `{"name":"","n":1}` {
		t.Fatalf("on disk after recovery: %+v", img)
	}
}

func TestCorruptFileRejected(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":    `{"v":1,"node":"a","clock":3,"records":[{"v":1,"k":"port"`,
		"garbage":      "\x00\x01not json",
		"future":       `{"v":99,"node":"a","clock":1,"records":[]}`,
		"other node":   `{"v":1,"node":"b","clock":1,"records":[]}`,
		"bad record":   `{"v":1,"node":"a","clock":1,"records":[{"v":1,"k":"","id":"x","ver":{"c":1,"o":"a"},"d":{}}]}`,
		"bad data":     `{"v":1,"node":"a","clock":1,"records":[{"v":1,"k":"port","id":"x","ver":{"c":1,"o":"a"}}]}`,
		"no version":   `{"v":1,"node":"a","clock":1,"records":[{"v":1,"k":"port","id":"x","d":{}}]}`,
		"duplicate id": `{"v":1,"node":"a","clock":1,"records":[{"v":1,"k":"p","id":"x","ver":{"c":1,"o":"a"},"d":{}},{"v":1,"k":"p","id":"x","ver":{"c":1,"o":"a"},"d":{}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, stateFile)
			os.WriteFile(path, []byte(content), 0o600)
			if s, err := Open(dir, "a"); err == nil {
				s.Close()
				t.Fatal("corrupt state accepted")
			}
			b, _ := os.ReadFile(path)
			if string(b) != content {
				t.Fatal("corrupt file was modified")
			}
		})
	}
}

func TestMalformedRecordsRejected(t *testing.T) {
	s := open(t, "a")
	var changes int
	s.OnChange(func(Record, bool) { changes++ })
	bad := []Record{
		{V: 1, Kind: "", ID: "x", Ver: Version{1, "b"}, Data: json.RawMessage(`{}`)},
		{V: 1, Kind: "port", ID: "", Ver: Version{1, "b"}, Data: json.RawMessage(`{}`)},
		{V: 1, Kind: "port", ID: "x", Ver: Version{1, "b"}, Data: json.RawMessage(`{"broken`)},
		{V: 1, Kind: "port", ID: "x", Ver: Version{1, "b"}},
		{V: 1, Kind: "port", ID: "x", Ver: Version{1, ""}, Data: json.RawMessage(`{}`)},
		{V: 1, Kind: "port", ID: "x", Ver: Version{0, "b"}, Data: json.RawMessage(`{}`)},
		{V: 1, Kind: "po/rt", ID: "x", Ver: Version{1, "b"}, Data: json.RawMessage(`{}`)},
		{V: FormatVersion + 1, Kind: "port", ID: "x", Ver: Version{1, "b"}, Data: json.RawMessage(`{}`)},
		{V: -1, Kind: "port", ID: "x", Ver: Version{1, "b"}, Data: json.RawMessage(`{}`)},
	}
	if k := s.Apply(bad...); len(k) != 0 {
		t.Fatalf("malformed records kept: %+v", k)
	}
	if len(s.All()) != 0 || changes != 0 {
		t.Fatal("malformed records changed the store")
	}
	// A good record in the same batch still goes through; a tombstone may
	// have no data (and any data it carries is dropped).
	k := s.Apply(append(bad, rec("port", "ok", 1, "b", `{}`),
		Record{V: 1, Kind: "port", ID: "t", Ver: Version{2, "b"}, Deleted: true, Data: json.RawMessage(`{"x":1}`)})...)
	if len(k) != 2 || changes != 2 || k[1].Data != nil || k[1].DeletedAt == 0 {
		t.Fatalf("good records not applied: %+v", k)
	}
	if _, err := s.Put("", "x", obj{}); err == nil {
		t.Fatal("local put with empty kind accepted")
	}
	if _, err := s.Put("port", "x", func() {}); err == nil {
		t.Fatal("unencodable object accepted")
	}
}

func TestOnChange(t *testing.T) {
	s := open(t, "a")
	type ev struct {
		key   string
		local bool
	}
	var mu sync.Mutex
	var got1, got2 []ev
	s.OnChange(func(r Record, local bool) { mu.Lock(); got1 = append(got1, ev{r.Key(), local}); mu.Unlock() })
	s.OnChange(func(r Record, local bool) {
		s.Get(r.Kind, r.ID) // subscribers may call back into the store
		mu.Lock()
		got2 = append(got2, ev{r.Key(), local})
		mu.Unlock()
	})
	s.Put("port", "a", obj{})
	s.Apply(rec("port", "b", 9, "z", `{}`), rec("port", "b", 1, "z", `{}`))
	s.Delete("port", "a")
	want := []ev{{"port/a", true}, {"port/b", false}, {"port/a", true}}
	if !reflect.DeepEqual(got1, want) || !reflect.DeepEqual(got2, want) {
		t.Fatalf("events %v %v", got1, got2)
	}
}

func TestGC(t *testing.T) {
	s := open(t, "a")
	old := rec("port", "old", 1, "b", "")
	old.DeletedAt = time.Now().Add(-time.Hour).Unix()
	s.Apply(old, rec("port", "new", 2, "b", ""), rec("port", "live", 3, "b", `{}`))
	if n := s.GC(30 * time.Minute); n != 1 {
		t.Fatalf("GC dropped %d", n)
	}
	if len(s.All()) != 2 {
		t.Fatalf("after GC: %+v", s.All())
	}
	// A peer that has not collected yet sends the expired tombstone back: it
	// is not taken again (digests would flap otherwise).
	if k := s.Apply(old); len(k) != 0 {
		t.Fatal("expired tombstone re-imported")
	}
	if d := s.Digest()["b"]; d.Count != 2 || d.MaxClock != 3 {
		t.Fatalf("digest after GC %+v", d)
	}
}
