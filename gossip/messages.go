package gossip

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bnet-dev/bnet/store"
)

// Every gossip payload starts with one type byte, so that a later format can
// be added next to these without peers misreading it.
const (
	msgRecord  byte = 1 // broadcast: one store.Record as JSON
	msgRecordZ byte = 2 // broadcast: one store.Record as deflated JSON (when plain JSON does not fit a packet)
	msgPull    byte = 3 // reliable: pullRequest
	msgRecords byte = 4 // reliable: recordChunk, the answer to a pull
	msgLeave   byte = 5 // broadcast and best effort: leaveNotice
	msgDigest  byte = 6 // push/pull user state: digestMsg
)

const (
	// broadcastOverhead is what memberlist puts around a user broadcast in a
	// compound UDP packet (compound header, entry length, user-msg type)
	// plus room for a label and encryption: the rest of UDPBufferSize is ours.
	broadcastOverhead = 100
	// maxChunk bounds one pull answer message: memberlist buffers a whole
	// reliable message in memory on both sides.
	maxChunk = 256 << 10
	// maxReliable is the largest reliable message accepted (a chunk holding
	// one oversized record, or a pull request naming many origins).
	maxReliable = 4 << 20
	// maxRecordBytes bounds a decompressed broadcast record.
	maxRecordBytes = 64 << 10
	// maxOrigins bounds the origins of a digest or pull request; one origin is
	// one node that wrote records, so this is the supported cluster size.
	maxOrigins = 1 << 16
)

var errTooLarge = errors.New("record too large for a broadcast")

// pullRequest asks a peer for every record (tombstones included) whose
// current version came from one of Origins.
type pullRequest struct {
	From    string   `json:"from"`
	Origins []string `json:"origins"`
}

// recordChunk carries part of a pull answer.
type recordChunk struct {
	From string         `json:"from"`
	Recs []store.Record `json:"recs"`
}

// digestMsg is the push/pull state: a summary, never the records.
type digestMsg struct {
	V      int                           `json:"v"`
	Node   string                        `json:"node"`
	Digest map[string]store.OriginDigest `json:"d"`
}

// leaveNotice tells peers that Node is leaving on purpose, so they report it
// "left" rather than "dead" (memberlist does not expose the difference).
type leaveNotice struct {
	Node string `json:"node"`
}

func encode(typ byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{typ}, b...), nil
}

// encodeRecord builds the broadcast for r: deflated JSON when that saves a
// quarter or more (more records per gossip packet), else plain JSON; a
// record that fits limit bytes neither way gets errTooLarge and is left to
// anti-entropy.
// deflaters are reused: a flate writer at BestCompression allocates most
// of a megabyte, which made a bulk write of thousands of records spend
// its time in the allocator and the garbage collector.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestCompression)
	return w
}}

func encodeRecord(r store.Record, limit int) ([]byte, error) {
	b, err := encode(msgRecord, r)
	if err != nil {
		return nil, err
	}
	var z bytes.Buffer
	z.WriteByte(msgRecordZ)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&z)
	w.Write(b[1:])
	w.Close()
	deflaters.Put(w)
	if z.Len() <= limit && z.Len() <= len(b)*3/4 {
		return z.Bytes(), nil
	}
	if len(b) <= limit {
		return b, nil
	}
	return nil, fmt.Errorf("%s: %d bytes, %d deflated, limit %d: %w", r.Key(), len(b), z.Len(), limit, errTooLarge)
}

// decodeRecord parses a msgRecord or msgRecordZ payload (type byte included).
func decodeRecord(msg []byte) (store.Record, error) {
	var r store.Record
	body := msg[1:]
	if msg[0] == msgRecordZ {
		zr := flate.NewReader(bytes.NewReader(body))
		defer zr.Close()
		b, err := io.ReadAll(io.LimitReader(zr, maxRecordBytes+1))
		if err != nil {
			return r, fmt.Errorf("inflate: %w", err)
		}
		if len(b) > maxRecordBytes {
			return r, errors.New("inflated record too large")
		}
		body = b
	}
	if err := strictUnmarshal(body, &r); err != nil {
		return r, err
	}
	return r, nil
}

// strictUnmarshal rejects trailing data as well as bad JSON.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// chunkRecords splits recs into recordChunk messages of at most maxBytes
// each (a single record larger than that travels alone).
func chunkRecords(from string, recs []store.Record, maxBytes int) ([][]byte, error) {
	var out [][]byte
	var cur []json.RawMessage
	size := 0
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		b, err := encode(msgRecords, struct {
			From string            `json:"from"`
			Recs []json.RawMessage `json:"recs"`
		}{from, cur})
		if err != nil {
			return err
		}
		out = append(out, b)
		cur, size = nil, 0
		return nil
	}
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.Key(), err)
		}
		if size+len(b)+64 > maxBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, b)
		size += len(b) + 1
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
