package maps

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// A write past a map's capacity says which map is full and how big it is,
// not E2BIG's "argument list too long", and changes nothing.
func TestPutPastCapacity(t *testing.T) {
	e := newEnv(t)
	limit := int(e.m.Ports.MaxEntries())
	row := func(i int) PortRow {
		return PortRow{Ifindex: uint32(1000 + i), NetID: 1, MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}}
	}
	for i := range limit {
		e.must(e.m.PutPort(row(i)))
	}
	err := e.m.PutPort(row(limit))
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "ports is full: "+strconv.Itoa(limit)+" entries") ||
		strings.Contains(err.Error(), "argument list too long") {
		t.Fatalf("past capacity: %v", err)
	}
	// Replacing an entry of a full map still works.
	e.must(e.m.PutPort(row(0)))
	rows, err := e.m.PortRows()
	if err != nil || len(rows) != limit {
		t.Fatalf("%d ports after the refused write (%v), want %d", len(rows), err, limit)
	}
}
