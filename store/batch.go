package store

import (
	"encoding/json"
	"fmt"
)

// Obj is one object of a PutAll.
type Obj struct {
	Kind, ID string
	Obj      any
}

// PutAll stores objs as live records in one write: either all of them are
// held and persisted, or none is. A bulk API request is one snapshot and
// one fsync instead of one per object, and its subscribers (the agent's
// reconcile) see the objects together.
func (s *Store) PutAll(objs []Obj) ([]Record, error) {
	recs := make([]Record, len(objs))
	seen := make(map[string]bool, len(objs))
	for i, o := range objs {
		data, err := json.Marshal(o.Obj)
		if err != nil {
			return nil, fmt.Errorf("put %s/%s: encode: %w", o.Kind, o.ID, err)
		}
		recs[i] = Record{V: FormatVersion, Kind: o.Kind, ID: o.ID, Data: data}
		if err := validate(recs[i]); err != nil {
			return nil, fmt.Errorf("put %s/%s: %w", o.Kind, o.ID, err)
		}
		if seen[recs[i].Key()] {
			return nil, fmt.Errorf("put %s: twice in one write", recs[i].Key())
		}
		seen[recs[i].Key()] = true
	}
	if len(recs) == 0 {
		return nil, nil
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("write %s: %w", recs[0].Key(), errClosed)
	}
	sec := s.sec
	if sec != nil {
		for i := range recs {
			recs[i].Ver.Origin = s.node
			if err := s.admitLocal(sec, recs[i]); err != nil {
				s.mu.Unlock()
				return nil, fmt.Errorf("write %s: %w", recs[i].Key(), err)
			}
		}
	}
	type prev struct {
		rec Record
		had bool
	}
	olds := make([]prev, len(recs))
	for i := range recs {
		old, had := s.recs[recs[i].Key()]
		olds[i] = prev{old, had}
		s.clock++
		recs[i].Ver = Version{Clock: s.clock, Origin: s.node}
		if sec != nil {
			recs[i].Sig = sec.Self.Sign(SigningBytes(recs[i]))
		}
		s.setLocked(recs[i])
	}
	gen := s.gen
	s.mu.Unlock()

	if err := s.flushUpTo(gen); err != nil {
		// As writeLocal: memory must not hold what the disk does not,
		// unless a newer write already replaced a record of ours.
		s.mu.Lock()
		for i, r := range recs {
			if cur, ok := s.recs[r.Key()]; ok && cur.Ver == r.Ver {
				if olds[i].had {
					s.setLocked(olds[i].rec)
				} else {
					s.removeLocked(r.Key())
				}
			}
		}
		s.mu.Unlock()
		return nil, fmt.Errorf("write %d records: %w", len(recs), err)
	}
	s.notify(recs, true)
	return recs, nil
}
