package store

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzApply feeds records as a peer's pull answer carries them (a JSON
// list of records) to a store holding a live record and a tombstone. A
// record that validateStored refuses, or that is of a newer format,
// changes nothing; whatever is kept survives a restart exactly (a record
// a peer can make us store but not load again would keep the agent from
// starting), and the store's digest stays the one its records give.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		`[{"v":1,"k":"port","id":"p1","ver":{"c":9,"o":"n2"},"d":{"name":"x"}}]`,
		`[{"v":1,"k":"port","id":"p1","ver":{"c":9,"o":"n2"},"del":true,"dat":1700000000}]`,
		`[{"v":1,"k":"network","id":"n1","ver":{"c":2,"o":"n1"},"d":{}}]`,
		`[{"v":1,"k":"port","id":"gone","ver":{"c":1,"o":"n0"},"d":{}}]`,
		`[{"v":2,"k":"port","id":"p9","ver":{"c":1,"o":"n2"},"d":{}}]`,
		`[{"v":1,"k":"a/b","id":"c","ver":{"c":1,"o":"n2"},"d":{}}]`,
		`[{"v":1,"k":"port","id":"","ver":{"c":1,"o":"n2"},"d":{}}]`,
		`[{"v":1,"k":"port","id":"p2","ver":{"c":0,"o":"n2"},"d":{}}]`,
		`[{"v":1,"k":"port","id":"p2","ver":{"c":18446744073709551615,"o":"n2"},"d":[1,2]}]`,
		`[{"v":-1,"k":"port","id":"p2","ver":{"c":1,"o":""},"d":"s"}]`,
		`[{"v":1,"k":"port","id":"p3","ver":{"c":5,"o":"n2"},"d":{"a":"\u0000\ud800"},"sig":"AAEC"}]`,
		`[{"v":1,"k":"port","id":"p4","ver":{"c":5,"o":"n2"},"d":null}]`,
		`{"v":1}`, `[]`, `[null]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var recs []Record
		if err := json.Unmarshal(body, &recs); err != nil {
			t.Skip("not a record list: the gossip decoder drops it before the store")
		}
		dir := t.TempDir()
		s, err := Open(dir, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("network", "n1", map[string]string{"name": "net"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("port", "gone", map[string]string{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete("port", "gone"); err != nil {
			t.Fatal(err)
		}
		before := s.All()
		keys := map[string]bool{}
		valid := false
		for _, r := range recs {
			keys[r.Key()] = true
			valid = valid || (r.V <= FormatVersion && validateStored(r) == nil)
		}
		kept := s.Apply(recs...)
		after := s.All()
		if !valid && (len(kept) > 0 || !reflect.DeepEqual(before, after)) {
			t.Fatalf("invalid records changed the store:\n%+v\n%+v", before, after)
		}
		for _, r := range kept {
			if !keys[r.Key()] {
				t.Fatalf("kept %s, which was not sent", r.Key())
			}
			if err := validateStored(r); err != nil {
				t.Fatalf("kept an invalid record %+v: %v", r, err)
			}
		}
		for _, r := range after {
			if !keys[r.Key()] {
				var was *Record
				for i := range before {
					if before[i].Key() == r.Key() {
						was = &before[i]
					}
				}
				if was == nil || !reflect.DeepEqual(*was, r) {
					t.Fatalf("%s changed although no record named it", r.Key())
				}
			}
		}
		digest := s.Digest()
		if err := s.Close(); err != nil {
			t.Fatalf("close (persist): %v", err)
		}
		s2, err := Open(dir, "n1")
		if err != nil {
			t.Fatalf("the store does not open after applying %s: %v", body, err)
		}
		defer s2.Close()
		if again := s2.All(); !reflect.DeepEqual(again, after) {
			t.Fatalf("records changed across a restart:\n%+v\n%+v", after, again)
		}
		if d := s2.Digest(); !reflect.DeepEqual(d, digest) {
			t.Fatalf("digest changed across a restart:\n%+v\n%+v", digest, d)
		}
	})
}

// FuzzReplay opens a store whose state.log is arbitrary bytes, after a
// snapshot naming that log's id (when withHeader, the bytes follow a
// valid header of that id, so that the entries are what varies). Open
// must not panic; it may refuse the log, and if it takes it, what it
// keeps is a prefix of whole lines that it loads again the same way, with
// every record valid, and the store writes on after it.
func FuzzReplay(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, "n1")
	if err != nil {
		f.Fatal(err)
	}
	s.Put("network", "n1", map[string]string{"name": "net"})
	s.Put("port", "p1", map[string]int{"n": 1})
	s.Delete("port", "p1")
	s.PutAll([]Obj{{"rule", "r1", 1}, {"rule", "r2", 2}})
	s.Apply(Record{V: 1, Kind: "port", ID: "x", Ver: Version{9, "n2"}, Deleted: true, DeletedAt: 1})
	s.GC(time.Hour)
	s.Put("port", "p2", json.RawMessage(`{"a":"\u2028\n"}`))
	snap, _ := os.ReadFile(filepath.Join(dir, stateFile))
	log, _ := os.ReadFile(filepath.Join(dir, logFile))
	s.Close()
	var st diskState
	if err := json.Unmarshal(snap, &st); err != nil {
		f.Fatal(err)
	}
	nl := bytes.IndexByte(log, '\n') + 1
	header, body := log[:nl], log[nl:]
	f.Add(false, log)
	f.Add(true, body)
	f.Add(true, body[:len(body)-7])
	f.Add(true, append(append([]byte(nil), body...), 0, 0, 0, '\n', 'x'))
	f.Add(true, []byte("00000000 {}\n"))
	f.Add(true, []byte("7a3d2c1b {\"clock\":1,\"ops\":[{\"key\":\"a/b\"}]}\n"))
	f.Add(false, []byte(""))
	f.Add(false, []byte("\n"))
	f.Fuzz(func(t *testing.T, withHeader bool, in []byte) {
		if withHeader {
			in = append(append([]byte(nil), header...), in...)
		}
		d := memDir(t)
		os.WriteFile(filepath.Join(d, stateFile), snap, 0o600)
		os.WriteFile(filepath.Join(d, logFile), in, 0o600)
		s, err := Open(d, "n1")
		if err != nil {
			if !strings.Contains(err.Error(), logFile) {
				t.Fatalf("refusal without naming the log: %v", err)
			}
			return
		}
		defer s.Close()
		kept, _ := os.ReadFile(filepath.Join(d, logFile))
		if !bytes.HasPrefix(in, kept) || (len(kept) < len(in) && (len(kept) == 0 || kept[len(kept)-1] != '\n')) {
			t.Fatalf("kept %q of %q: not a prefix of whole lines", kept, in)
		}
		got := s.All()
		for _, r := range got {
			if err := validateStored(r); err != nil {
				t.Fatalf("loaded an invalid record %+v: %v", r, err)
			}
		}
		again, err := Open(copyStateTo(t, d, memDir(t)), "n1")
		if err != nil {
			t.Fatalf("what Open kept does not open again: %v", err)
		}
		if a := again.All(); !reflect.DeepEqual(a, got) {
			again.Close()
			t.Fatalf("loaded differently the second time:\n%+v\n%+v", got, a)
		}
		again.Close()
		r, err := s.Put("port", "after", map[string]int{})
		if err != nil {
			t.Fatalf("write after loading: %v", err)
		}
		img, err := openImage(t, copyStateTo(t, d, memDir(t)), "n1")
		if err != nil {
			t.Fatalf("open after a write: %v", err)
		}
		if img.Recs["port/after"].Ver != r.Ver {
			t.Fatalf("the write after loading was lost: %+v", img.Recs["port/after"])
		}
	})
}

// memDir is a temporary dir in memory if the machine has one: a fuzz
// target's execs are mostly its fsyncs on a disk, and Go's fuzzer
// minimises a new input by running it thousands of times.
func memDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "bnet-store-fuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
