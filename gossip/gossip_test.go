package gossip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnet-dev/bnet/store"
)

type obj struct {
	Name string `json:"name"`
	Blob string `json:"blob,omitempty"`
}

type node struct {
	name string
	dir  string
	addr string
	s    *store.Store
	g    *Gossip
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs a Fast-mode member on 127.0.0.1 (bind "" = a free port).
func start(t *testing.T, name, dir, bind string, join ...string) *node {
	t.Helper()
	return startKeyed(t, name, dir, bind, nil, join...)
}

func startKeyed(t *testing.T, name, dir, bind string, keys [][]byte, join ...string) *node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	s, err := store.Open(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Start(Config{
		Node: name, Bind: bind, Join: join, Store: s, Logger: quiet, Fast: true, Keys: keys,
		Meta: Meta{VTEP: "10.0.0." + name[len(name)-1:], Roles: []string{"compute"}, Physnets: []string{"public"}},
	})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	n := &node{name: name, dir: dir, addr: g.LocalAddr(), s: s, g: g}
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.g.Shutdown()
	n.s.Close()
}

// cluster starts count members, all joining the first.
func cluster(t *testing.T, count int) []*node {
	t.Helper()
	nodes := []*node{start(t, "n1", "", "")}
	for i := 2; i <= count; i++ {
		nodes = append(nodes, start(t, fmt.Sprintf("n%d", i), "", "", nodes[0].addr))
	}
	eventually(t, 5*time.Second, "all members alive", func() bool {
		for _, n := range nodes {
			if alive(n.g) != count {
				return false
			}
		}
		return true
	})
	return nodes
}

func alive(g *Gossip) int {
	c := 0
	for _, m := range g.Members() {
		if m.State == StateAlive {
			c++
		}
	}
	return c
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func member(g *Gossip, name string) Member {
	for _, m := range g.Members() {
		if m.Name == name {
			return m
		}
	}
	return Member{}
}

// converged reports whether every node holds exactly the same records.
func converged(nodes []*node) bool {
	ref := strip(nodes[0].s.All())
	for _, n := range nodes[1:] {
		if !reflect.DeepEqual(strip(n.s.All()), ref) {
			return false
		}
	}
	return true
}

// strip drops what is local to a node (a tombstone's DeletedAt is the
// deleter's clock and replicated, but keep the comparison about versions).
func strip(rs []store.Record) []store.Record {
	for i := range rs {
		rs[i].Sig = nil
	}
	return rs
}

func TestPutAndDeletePropagate(t *testing.T) {
	nodes := cluster(t, 3)
	a, b := nodes[0], nodes[1]
	if _, err := a.s.Put("port", "p1", obj{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "p1 on every node", func() bool {
		for _, n := range nodes {
			if _, ok := n.s.Get("port", "p1"); !ok {
				return false
			}
		}
		return true
	})
	r, _ := nodes[2].s.Get("port", "p1")
	if o, err := store.Decode[obj](r); err != nil || o.Name != "web" || r.Ver.Origin != "n1" {
		t.Fatalf("replicated record %+v %v", r, err)
	}
	if _, err := b.s.Delete("port", "p1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "p1 deleted everywhere", func() bool {
		for _, n := range nodes {
			if _, ok := n.s.Get("port", "p1"); ok {
				return false
			}
		}
		return converged(nodes)
	})
}

func TestMetaRoundTrip(t *testing.T) {
	nodes := cluster(t, 3)
	for _, n := range nodes {
		ms := n.g.Members()
		if len(ms) != 3 || ms[0].Name != "n1" || ms[2].Name != "n3" {
			t.Fatalf("%s members %+v", n.name, ms)
		}
		m := member(n.g, "n2")
		want := Meta{V: MetaVersion, VTEP: "10.0.0.2", Roles: []string{"compute"}, Physnets: []string{"public"}}
		if !reflect.DeepEqual(m.Meta, want) || m.Addr != nodes[1].addr || m.State != StateAlive || m.Since.IsZero() {
			t.Fatalf("%s sees n2 as %+v", n.name, m)
		}
	}
}

func TestMetaTooLarge(t *testing.T) {
	s, err := store.Open(t.TempDir(), "big")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var physnets []string
	for i := 0; i < 50; i++ {
		physnets = append(physnets, fmt.Sprintf("physnet-%03d", i))
	}
	_, err = Start(Config{Node: "big", Bind: "127.0.0.1:0", Store: s, Logger: quiet, Meta: Meta{Physnets: physnets}})
	if err == nil || !strings.Contains(err.Error(), "512") {
		t.Fatalf("oversized meta: %v", err)
	}
}

func TestConcurrentConflictingWrites(t *testing.T) {
	nodes := cluster(t, 4)
	var wg sync.WaitGroup
	for round := 0; round < 5; round++ {
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.s.Put("port", "shared", obj{Name: fmt.Sprintf("%s-%d", n.name, round)})
				if round == 3 && n.name == "n2" {
					n.s.Delete("port", "shared")
				}
			}()
		}
		wg.Wait()
	}
	eventually(t, 10*time.Second, "same winner on every node", func() bool { return converged(nodes) })
	var winners []string
	for _, n := range nodes {
		r, ok := n.s.Get("port", "shared")
		if !ok {
			winners = append(winners, "<deleted>")
			continue
		}
		winners = append(winners, string(r.Data)+"@"+r.Ver.Origin)
	}
	for _, w := range winners[1:] {
		if w != winners[0] {
			t.Fatalf("different winners: %v", winners)
		}
	}
}

func TestRestartedNodeConvergesByAntiEntropy(t *testing.T) {
	nodes := cluster(t, 3)
	a, c := nodes[0], nodes[2]
	a.s.Put("network", "net1", obj{Name: "before"})
	eventually(t, 3*time.Second, "net1 on c", func() bool { _, ok := c.s.Get("network", "net1"); return ok })

	c.stop()
	eventually(t, 5*time.Second, "c seen dead", func() bool { return member(a.g, "n3").State == StateDead })
	for i := 0; i < 40; i++ {
		a.s.Put("port", fmt.Sprintf("p%02d", i), obj{Name: "while-c-was-down"})
	}
	a.s.Delete("network", "net1")
	nodes[1].s.Put("subnet", "s1", obj{Name: "from-b"})
	// Wait until the broadcasts are spent, so only anti-entropy can reach c.
	eventually(t, 5*time.Second, "broadcast queues drained", func() bool {
		return a.g.queue.NumQueued() == 0 && nodes[1].g.queue.NumQueued() == 0
	})

	c2 := start(t, "n3", c.dir, c.addr, a.addr)
	if _, ok := c2.s.Get("network", "net1"); !ok {
		t.Fatal("restarted node lost its persisted state")
	}
	all := []*node{a, nodes[1], c2}
	eventually(t, 8*time.Second, "restarted node converged", func() bool { return converged(all) })
	if _, ok := c2.s.Get("network", "net1"); ok {
		t.Fatal("delete missed while down not applied")
	}
	if len(c2.s.List("port")) != 40 {
		t.Fatalf("ports on c: %d", len(c2.s.List("port")))
	}
	eventually(t, 5*time.Second, "c alive again on a", func() bool { return member(a.g, "n3").State == StateAlive })
}

func TestLateNodeAndOversizedRecord(t *testing.T) {
	nodes := cluster(t, 2)
	a := nodes[0]
	// Incompressible and larger than a UDP packet: cannot be broadcast,
	// so it must arrive through anti-entropy.
	raw := make([]byte, 3000)
	rand.Read(raw)
	if _, err := a.s.Put("port", "big", obj{Blob: hex.EncodeToString(raw)}); err != nil {
		t.Fatal(err)
	}
	if a.g.queue.NumQueued() != 0 {
		t.Fatal("oversized record was queued for broadcast")
	}
	a.s.Put("port", "small", obj{Name: "s"})
	late := start(t, "n9", "", "", a.addr)
	all := append(nodes, late)
	eventually(t, 12*time.Second, "late node and peer converged", func() bool {
		_, ok := late.s.Get("port", "big")
		return ok && converged(all)
	})
}

func TestJoinBeforeSeedIsUp(t *testing.T) {
	// Reserve a port for the seed, then start the joiner first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seedAddr := l.Addr().String()
	l.Close()
	joiner := start(t, "n2", "", "", seedAddr)
	joiner.s.Put("port", "early", obj{Name: "x"})
	time.Sleep(1200 * time.Millisecond) // at least one failed attempt
	seed := start(t, "n1", "", seedAddr)
	eventually(t, 8*time.Second, "joined and synced", func() bool {
		_, ok := seed.s.Get("port", "early")
		return alive(seed.g) == 2 && ok
	})
}

func TestDeadAndLeft(t *testing.T) {
	nodes := cluster(t, 4)
	a, b, c := nodes[0], nodes[1], nodes[2]
	var calls sync.WaitGroup
	calls.Add(1)
	var once sync.Once
	a.g.OnMembership(func() { once.Do(calls.Done) })

	if err := b.g.Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	b.stop()
	t0 := time.Now()
	c.stop()
	eventually(t, 8*time.Second, "b left and c dead on a and d", func() bool {
		for _, n := range []*node{a, nodes[3]} {
			if member(n.g, "n2").State != StateLeft || member(n.g, "n3").State != StateDead {
				return false
			}
		}
		return true
	})
	t.Logf("crash detected after %v", time.Since(t0))
	calls.Wait() // OnMembership fired
	if m := member(a.g, "n3"); m.Since.Before(t0) {
		t.Fatalf("Since not updated: %+v", m)
	}
	if len(a.g.Members()) != 4 {
		t.Fatal("dead and left members must still be listed")
	}
}

func TestMalformedMessagesIgnored(t *testing.T) {
	nodes := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	d := (*delegate)(b.g)
	goodRec, _ := encodeRecord(store.Record{V: 1, Kind: "port", ID: "ok", Ver: store.Version{Clock: 1, Origin: "x"}, Data: json.RawMessage(`{}`)}, 1300)
	bad := [][]byte{
		nil,
		{},
		{0},
		{200, '{', '}'},
		{msgRecord},
		append([]byte{msgRecord}, `{"v":1,"k":"port"`...),
		append([]byte{msgRecord}, `{"v":1,"k":"","id":"x","ver":{"c":1,"o":"x"},"d":{}}`...),
		append([]byte{msgRecord}, `{"v":1,"k":"port","id":"x","ver":{"c":1,"o":"x"},"d":{"bro`...),
		append([]byte{msgRecord}, `{"v":9,"k":"port","id":"x","ver":{"c":1,"o":"x"},"d":{}}`...),
		append([]byte{msgRecord}, `{"v":1,"k":"port","id":"x","ver":{"c":1,"o":"x"},"d":{}} trailing`...),
		append([]byte{msgRecord}, strings.Repeat(" ", 5000)...),
		append([]byte{msgRecordZ}, "not deflate at all"...),
		append([]byte{msgPull}, `{"from":"n1","origins":[]}`...),
		append([]byte{msgPull}, `[1,2,3]`...),
		append([]byte{msgRecords}, `{"recs":{"k":"port"}}`...),
		append([]byte{msgRecords}, `{"recs":[{"v":1,"k":"port","id":"y","ver":{"c":1,"o":"x"}}]}`...),
		append([]byte{msgLeave}, `{"node":""}`...),
		append([]byte{msgDigest}, `{}`...),
		make([]byte, maxReliable+1),
	}
	for _, m := range bad {
		d.NotifyMsg(m)
	}
	for _, m := range [][]byte{nil, {0}, {msgDigest}, append([]byte{msgDigest}, `{"node":""}`...), append([]byte{msgRecord}, `{}`...)} {
		d.MergeRemoteState(m, false)
	}
	// The same garbage over the network, through memberlist.
	for _, m := range bad[3:8] {
		a.g.ml.Load().SendReliable(b.g.member("n2"), m)
	}
	if n := len(b.s.All()); n != 0 {
		t.Fatalf("malformed input changed the store: %+v", b.s.All())
	}
	if member(b.g, "n1").State != StateAlive {
		t.Fatal("bad leave notice changed membership")
	}
	// b is still healthy: a valid message and normal replication work.
	d.NotifyMsg(goodRec)
	if _, ok := b.s.Get("port", "ok"); !ok {
		t.Fatal("valid broadcast after garbage not applied")
	}
	a.s.Put("port", "after", obj{})
	eventually(t, 3*time.Second, "replication still works", func() bool { _, ok := b.s.Get("port", "after"); return ok })
}

func TestEncodeRecord(t *testing.T) {
	r := store.Record{V: 1, Kind: "port", ID: "p", Ver: store.Version{Clock: 3, Origin: "n1"},
		Data: json.RawMessage(`{"name":"` + strings.Repeat("ab", 2000) + `"}`)}
	msg, err := encodeRecord(r, 1300)
	if err != nil || msg[0] != msgRecordZ || len(msg) > 1300 {
		t.Fatalf("compressible record: %v type=%d len=%d", err, msg[0], len(msg))
	}
	got, err := decodeRecord(msg)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %v", err)
	}
	small := r
	small.Data = json.RawMessage(`{"name":"x"}`)
	if msg, _ := encodeRecord(small, 1300); msg[0] != msgRecord {
		t.Fatal("small record should go as plain JSON")
	}
	raw := make([]byte, 2000)
	rand.Read(raw)
	r.Data = json.RawMessage(`"` + hex.EncodeToString(raw) + `"`)
	if _, err := encodeRecord(r, 1300); err == nil {
		t.Fatal("incompressible oversized record encoded")
	}
}

func TestChunkRecords(t *testing.T) {
	var recs []store.Record
	for i := 0; i < 500; i++ {
		recs = append(recs, store.Record{V: 1, Kind: "port", ID: fmt.Sprintf("p%03d", i),
			Ver: store.Version{Clock: uint64(i + 1), Origin: "n1"}, Data: json.RawMessage(`{"name":"` + strings.Repeat("x", 200) + `"}`)})
	}
	chunks, err := chunkRecords("n1", recs, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 5 {
		t.Fatalf("expected several chunks, got %d", len(chunks))
	}
	var back []store.Record
	for _, c := range chunks {
		if len(c) > 16<<10 || c[0] != msgRecords {
			t.Fatalf("chunk of %d bytes, type %d", len(c), c[0])
		}
		var rc recordChunk
		if err := strictUnmarshal(c[1:], &rc); err != nil || rc.From != "n1" {
			t.Fatal(err)
		}
		back = append(back, rc.Recs...)
	}
	if !reflect.DeepEqual(back, recs) {
		t.Fatal("chunks do not reassemble the records")
	}
}

func TestDigestSizeAt100kPorts(t *testing.T) {
	// The push/pull payload grows with the number of writing nodes, not
	// with the number of records.
	s, err := store.Open(t.TempDir(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var recs []store.Record
	for i := 0; i < 100000; i++ {
		recs = append(recs, store.Record{V: 1, Kind: "port", ID: fmt.Sprintf("%08d", i),
			Ver: store.Version{Clock: uint64(i + 1), Origin: fmt.Sprintf("cmpt%03d", i%500)}, Data: json.RawMessage(`{}`)})
	}
	s.Apply(recs...)
	g := &Gossip{cfg: Config{Node: "n1", Store: s}, log: quiet}
	state := (*delegate)(g).LocalState(false)
	t.Logf("push/pull state for 100k records from 500 nodes: %d bytes", len(state))
	if len(state) > 64<<10 {
		t.Fatalf("digest too large: %d bytes", len(state))
	}
}

// With keys, gossip is encrypted and authenticated: a node with another key
// neither joins nor gets a record in; a key rotation (new key accepted
// everywhere first, then made primary) keeps nodes talking throughout.
func TestGossipKeys(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	a := startKeyed(t, "n1", "", "", [][]byte{k1, k2})
	b := startKeyed(t, "n2", "", "", [][]byte{k2, k1}, a.addr) // rotated already
	eventually(t, 5*time.Second, "a and b joined across a rotation", func() bool {
		return member(a.g, "n2").State == StateAlive && member(b.g, "n1").State == StateAlive
	})
	a.s.Put("port", "p1", obj{Name: "from-a"})
	eventually(t, 5*time.Second, "record on b", func() bool { _, ok := b.s.Get("port", "p1"); return ok })

	evil := startKeyed(t, "n3", "", "", [][]byte{bytes.Repeat([]byte{9}, 32)}, a.addr)
	evil.s.Put("port", "bad", obj{Name: "injected"})
	time.Sleep(2 * time.Second)
	if m := member(a.g, "n3"); m.State == StateAlive {
		t.Fatal("a node with a wrong key joined")
	}
	if _, ok := a.s.Get("port", "bad"); ok {
		t.Fatal("a node with a wrong key injected a record")
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "k")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	keys, err := LoadKeys(write("# cluster key\n" + k + "\n\n" + base64.StdEncoding.EncodeToString(make([]byte, 16)) + "\n"))
	if err != nil || len(keys) != 2 || len(keys[0]) != 32 {
		t.Fatalf("keys %d %v", len(keys), err)
	}
	for _, bad := range []string{"", "# none\n", "not base64!\n", base64.StdEncoding.EncodeToString(make([]byte, 10))} {
		if _, err := LoadKeys(write(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
