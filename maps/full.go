package maps

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ErrFull is what a write to a map at its capacity fails with (errors.Is).
var ErrFull = errors.New("map is full")

// fullError names the map and its capacity. The kernel says only E2BIG,
// which Go prints as "argument list too long": true, and no help to an
// operator whose cloud outgrew a map.
type fullError struct {
	name string
	max  uint32
	err  error
}

func (e *fullError) Error() string        { return fmt.Sprintf("%s is full: %d entries", e.name, e.max) }
func (e *fullError) Unwrap() error        { return e.err }
func (e *fullError) Is(target error) bool { return target == ErrFull }

// put writes k/v to mp, turning E2BIG (a hash map at max_entries; an index
// beyond an array's end) into an error that says which map and how big.
func (m *Maps) put(mp *ebpf.Map, k, v any) error {
	err := mp.Put(k, v)
	if err == nil || !errors.Is(err, unix.E2BIG) {
		return err
	}
	return &fullError{name: m.mapName(mp), max: mp.MaxEntries(), err: err}
}

// mapName is mp's pinned name, for errors.
func (m *Maps) mapName(mp *ebpf.Map) string {
	for _, n := range m.pinnedMaps() {
		if n.m == mp {
			return n.name
		}
	}
	return mp.String()
}

// putBatch writes n keys and values (slices) in one batch, E2BIG named as
// in put.
func (m *Maps) putBatch(mp *ebpf.Map, keys, vals any, n int) error {
	if n == 0 {
		return nil
	}
	done, err := mp.BatchUpdate(keys, vals, nil)
	if err == nil && done != n {
		err = fmt.Errorf("%d of %d written", done, n)
	}
	if err == nil || !errors.Is(err, unix.E2BIG) {
		return err
	}
	return &fullError{name: m.mapName(mp), max: mp.MaxEntries(), err: err}
}
