package store

import (
	"encoding/json"
	"reflect"
	"testing"
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
