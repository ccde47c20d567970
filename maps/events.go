package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf/ringbuf"
)

// DropEvent is one drop as the datapath reported it to drop_events.
type DropEvent struct {
	TS      uint64 // CLOCK_MONOTONIC nanoseconds
	Ifindex uint32
	Reason  string
	Len     uint32
	Data    []byte // the frame's first bytes (up to BNET_EVENT_SNAP)
}

// SetMonitor turns drop events on or off: the datapath writes them only
// while someone listens.
func (m *Maps) SetMonitor(on bool) error {
	v := uint32(0)
	if on {
		v = 1
	}
	if err := m.MonitorOn.Put(uint32(0), v); err != nil {
		return fmt.Errorf("put %s: %w", MapMonitorOn, err)
	}
	return nil
}

// DropReader reads drop_events. A ring buffer has one consumer: the agent
// reads and fans out to every `bnet monitor`.
type DropReader struct{ r *ringbuf.Reader }

// NewDropReader opens the ring buffer.
func (m *Maps) NewDropReader() (*DropReader, error) {
	r, err := ringbuf.NewReader(m.DropEvents)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", MapDropEvents, err)
	}
	return &DropReader{r}, nil
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("drop reader closed")

// Read blocks for the next event.
func (d *DropReader) Read() (DropEvent, error) {
	rec, err := d.r.Read()
	if err != nil {
		if errors.Is(err, ringbuf.ErrClosed) {
			return DropEvent{}, ErrClosed
		}
		return DropEvent{}, fmt.Errorf("read %s: %w", MapDropEvents, err)
	}
	var e bnetDropEvent
	if err := binary.Read(bytes.NewReader(rec.RawSample), binary.NativeEndian, &e); err != nil {
		return DropEvent{}, fmt.Errorf("decode drop event: %w", err)
	}
	n := min(int(e.Snap), len(e.Data))
	return DropEvent{TS: e.Ts, Ifindex: e.Ifindex, Reason: ReasonName(e.Reason), Len: e.Len,
		Data: bytes.Clone(e.Data[:n])}, nil
}

// Close stops Read.
func (d *DropReader) Close() error { return d.r.Close() }
