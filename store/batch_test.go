package store

import "testing"

func TestPutAll(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	var changes int
	s.OnChange(func(Record, bool) { changes++ })
	if _, err := s.PutAll([]Obj{{"rule", "a", 1}, {"rule", "a", 2}}); err == nil {
		t.Fatal("the same record twice in one write was accepted")
	}
	if len(s.List("rule")) != 0 || changes != 0 {
		t.Fatal("a refused PutAll changed the store")
	}
	recs, err := s.PutAll([]Obj{{"rule", "a", 1}, {"rule", "b", 2}, {"group", "g", 3}})
	if err != nil || len(recs) != 3 || changes != 3 {
		t.Fatalf("PutAll: %v, %d records, %d changes", err, len(recs), changes)
	}
	if recs[0].Ver.Clock >= recs[2].Ver.Clock {
		t.Fatalf("versions not increasing: %v %v", recs[0].Ver, recs[2].Ver)
	}
	s.Close()
	s, err = Open(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.List("rule")) != 2 || len(s.List("group")) != 1 {
		t.Fatalf("after reopen: %d rules, %d groups", len(s.List("rule")), len(s.List("group")))
	}
}
