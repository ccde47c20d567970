package gossip

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/bnet-dev/bnet/store"
	"github.com/hashicorp/memberlist"
)

// FuzzNotifyMsg hands NotifyMsg, which takes messages from anyone who
// can reach the gossip port, arbitrary bytes. Whatever arrives, the
// member does not panic, and the store changes only by records the
// message itself carries and that a correct peer could have sent: a
// malformed or invalid record, or a message of another type, changes
// nothing. Work a message queues (pull answers, asks) is only looked at,
// never run: it would go to the network.
func FuzzNotifyMsg(f *testing.F) {
	good := store.Record{V: 1, Kind: "port", ID: "p1", Ver: store.Version{Clock: 7, Origin: "n2"}, Data: json.RawMessage(`{"name":"vm"}`)}
	plain, _ := encode(msgRecord, good)
	big := good
	big.Data = json.RawMessage(`{"name":"` + string(bytes.Repeat([]byte("ab"), 600)) + `"}`)
	z, _ := encodeRecord(big, 1300)
	tomb := good
	tomb.Deleted, tomb.Data, tomb.DeletedAt = true, nil, 1700000000
	chunk, _ := encode(msgRecords, recordChunk{From: "n2", Recs: []store.Record{good, tomb}})
	for _, s := range [][]byte{
		plain, z, chunk,
		append([]byte{msgRecord}, `{"v":1,"k":"port","id":"x","ver":{"c":1,"o":"x"},"d":{}} trailing`...),
		append([]byte{msgRecord}, `{"v":1,"k":"a/b","id":"x","ver":{"c":1,"o":"x"},"d":{}}`...),
		append([]byte{msgRecordZ}, "not deflate"...),
		append([]byte{msgPull}, `{"from":"n2","origins":["n1"]}`...),
		append([]byte{msgLeave}, `{"node":"n3"}`...),
		append([]byte{msgAsk}, `{"from":"n2","id":3,"kind":"snat","body":{}}`...),
		append([]byte{msgAnswer}, `{"from":"n2","id":3}`...),
		append([]byte{msgDigest}, `{"v":1,"node":"n2","d":{}}`...),
		{0}, {},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := store.Open(t.TempDir(), "n1")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Put("network", "n1", map[string]string{"name": "net"}); err != nil {
			t.Fatal(err)
		}
		g := &Gossip{
			cfg:      Config{Node: "n1", Store: s},
			log:      quiet,
			maxBcast: 1300,
			queue:    &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 3},
			members:  map[string]*Member{},
			leaving:  map[string]bool{},
			changed:  make(chan struct{}, 1),
			tasks:    make(chan func(), taskBacklog),
			stop:     make(chan struct{}),
		}
		before := s.All()
		(*delegate)(g).NotifyMsg(bytes.Clone(msg))
		after := s.All()

		// What a correct peer could have put in the store with this message.
		allowed := map[string]bool{}
		if len(msg) > 0 && len(msg) <= maxReliable {
			switch msg[0] {
			case msgRecord, msgRecordZ:
				if r, err := decodeRecord(msg); err == nil {
					allowed[r.Key()] = true
				}
			case msgRecords:
				var c recordChunk
				if strictUnmarshal(msg[1:], &c) == nil {
					for _, r := range c.Recs {
						allowed[r.Key()] = true
					}
				}
			}
		}
		old := map[string]store.Record{}
		for _, r := range before {
			old[r.Key()] = r
		}
		for _, r := range after {
			if was, ok := old[r.Key()]; ok && reflect.DeepEqual(was, r) {
				continue
			}
			if !allowed[r.Key()] {
				t.Fatalf("message %q changed %s, which it does not carry", msg, r.Key())
			}
			if r.V > store.FormatVersion || r.Kind == "" || r.ID == "" || r.Ver.Origin == "" || r.Ver.Clock == 0 ||
				bytes.ContainsRune([]byte(r.Kind), '/') || (!r.Deleted && !json.Valid(r.Data)) {
				t.Fatalf("message %q stored an invalid record %+v", msg, r)
			}
		}
		if len(after) < len(before) {
			t.Fatalf("message %q removed records", msg)
		}
	})
}
