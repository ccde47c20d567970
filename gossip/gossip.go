// Package gossip forms bnet's memberlist cluster and replicates the store
// over it: node meta carries each node's VTEP, roles and physnets; every
// local store change is broadcast in one UDP packet; push/pull anti-entropy
// exchanges per-origin digests and pulls only the origins that differ. This is
// Neutron's l2population without a message bus. See docs/gossip.md.
package gossip

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/bnet-dev/bnet/store"
)

// MetaVersion is Meta.V as this code writes it.
const MetaVersion = 1

// Member states as reported by Members.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect"
	StateDead    = "dead"
	StateLeft    = "left"
)

// Meta is what a node tells the cluster about itself, in memberlist's node
// meta (at most memberlist.MetaMaxSize = 512 bytes of JSON).
type Meta struct {
	V        int      `json:"v"`
	VTEP     string   `json:"vtep"`
	Roles    []string `json:"roles"`
	Physnets []string `json:"physnets"`
	// DVRMAC is the node's DVR host MAC: the source MAC of the frames it
	// routes onto the underlay (Neutron's dvr_host_macs table).
	DVRMAC string `json:"dvr_mac,omitempty"`
	// Sig, with node identities, is the node's signature over
	// SigningBytes: the member speaking holds the certified key.
	Sig []byte `json:"sig,omitempty"`
}

// SigningBytes is the canonical form of what node says of itself in m
// (every field but Sig), each part length-prefixed.
func (m Meta) SigningBytes(node string) []byte {
	var out []byte
	part := func(s string) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	part(strconv.Itoa(m.V))
	part(node)
	part(m.VTEP)
	part(m.DVRMAC)
	for _, list := range [][]string{m.Roles, m.Physnets} {
		out = binary.BigEndian.AppendUint32(out, uint32(len(list)))
		for _, s := range list {
			part(s)
		}
	}
	return out
}

// Member is one node as this node sees it.
type Member struct {
	Name, Addr string
	Meta       Meta
	State      string // alive|suspect|dead|left
	Since      time.Time
	// UpSince is when it last came up: joined, or alive again after being
	// dead or gone. A suspicion it refuted does not reset it.
	UpSince time.Time
	// Trusted is Config.Trust's verdict on the member's meta (true without
	// one): an untrusted member's VTEP and DVR MAC are not to be used.
	Trusted bool
}

// Config configures Start.
type Config struct {
	Node      string
	Bind      string // host:port; port 0 picks a free one
	Advertise string // optional host:port
	Join      []string
	Meta      Meta
	Store     *store.Store
	Logger    *slog.Logger
	// Fast shortens probe, gossip and push/pull intervals for tests and the
	// lab; production uses memberlist's LAN defaults.
	Fast bool
	// Keys are the cluster keys (see LoadKeys); the first encrypts. None:
	// plain gossip.
	Keys [][]byte
	// Trust, if set, judges what a member says of itself (node identities:
	// its certificate must name the VTEP its meta gives). It is asked at
	// every Members call, so its verdict follows certificates as they
	// arrive; it must not call back into Gossip.
	Trust func(name string, meta Meta) bool
	// Transport, if set, carries memberlist's packets and streams instead
	// of UDP and TCP on Bind (many members simulated in one process, as
	// make bench does); Bind is then only the address the member announces.
	Transport memberlist.Transport
}

// Gossip is a running cluster member.
type Gossip struct {
	cfg      Config
	log      *slog.Logger
	ml       atomic.Pointer[memberlist.Memberlist]
	queue    *memberlist.TransmitLimitedQueue
	meta     []byte
	maxBcast int

	mu      sync.Mutex
	members map[string]*Member
	leaving map[string]bool
	subs    []func()
	closed  bool

	asks askState // questions to and from peers (ask.go)

	changed chan struct{} // coalesced membership notifications
	tasks   chan func()   // network work off memberlist's goroutines
	stop    chan struct{}
	wg      sync.WaitGroup
	stopped sync.Once
}

const (
	defaultPushPull = 15 * time.Second
	workers         = 4
	taskBacklog     = 64
	joinRetry       = time.Second
	reconnectEvery  = 10 * time.Second
	reconnectFor    = 24 * time.Hour // then a dead member is given up on
	maxQueued       = 4096
	// encryptOverhead is what memberlist's AES-GCM adds to a packet
	// (version byte, nonce, tag), rounded up.
	encryptOverhead = 32
)

// Start joins (or founds) the cluster and starts replicating cfg.Store.
func Start(cfg Config) (*Gossip, error) {
	if cfg.Node == "" || cfg.Store == nil {
		return nil, errors.New("gossip: node name and store are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Meta.V == 0 {
		cfg.Meta.V = MetaVersion
	}
	meta, err := json.Marshal(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("gossip: encode meta: %w", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("gossip: node meta is %d bytes, memberlist allows %d", len(meta), memberlist.MetaMaxSize)
	}

	mc := memberlist.DefaultLANConfig()
	mc.PushPullInterval = defaultPushPull
	if cfg.Fast {
		mc.ProbeInterval = 500 * time.Millisecond
		mc.ProbeTimeout = 250 * time.Millisecond
		mc.SuspicionMult = 2
		mc.GossipInterval = 100 * time.Millisecond
		mc.PushPullInterval = 5 * time.Second
		mc.GossipToTheDeadTime = 5 * time.Second
		mc.TCPTimeout = 2 * time.Second
	}
	// A node that comes back on a new address after dying may take its name
	// back once the others have had time to see it dead.
	mc.DeadNodeReclaimTime = mc.GossipToTheDeadTime
	mc.Name = cfg.Node
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip: bind %q: %w", cfg.Bind, err)
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.Advertise != "" {
		ah, ap, err := splitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip: advertise %q: %w", cfg.Advertise, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	mc.Transport = cfg.Transport
	mc.Logger = log.New(&logWriter{l: cfg.Logger.With("node", cfg.Node)}, "", 0)
	maxBcast := mc.UDPBufferSize - broadcastOverhead
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip: keys: %w", err)
		}
		// Every packet and stream is encrypted and authenticated (AES-GCM):
		// a node without a key can neither join nor inject records.
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
		maxBcast -= encryptOverhead
	}

	g := &Gossip{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.Node),
		meta:     meta,
		maxBcast: maxBcast,
		members:  make(map[string]*Member),
		leaving:  make(map[string]bool),
		changed:  make(chan struct{}, 1),
		tasks:    make(chan func(), taskBacklog),
		stop:     make(chan struct{}),
	}
	g.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       g.numNodes,
		RetransmitMult: mc.RetransmitMult,
	}
	mc.Delegate = (*delegate)(g)
	mc.Events = (*events)(g)

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start memberlist on %s: %w", cfg.Bind, err)
	}
	g.ml.Store(ml)
	self := ml.LocalNode()
	g.mu.Lock()
	if _, ok := g.members[self.Name]; !ok {
		now := time.Now()
		g.members[self.Name] = &Member{Name: self.Name, Addr: self.Address(), Meta: cfg.Meta, State: StateAlive, Since: now, UpSince: now}
	}
	g.mu.Unlock()

	cfg.Store.OnChange(func(r store.Record, local bool) {
		if local {
			g.broadcastRecord(r)
		}
	})
	// With node identities the store published this node's certificate
	// before gossip started: broadcast it, or peers believe nothing of this
	// node until an anti-entropy round brings it.
	if r, ok := cfg.Store.Get(store.KindNodeCert, cfg.Node); ok {
		g.broadcastRecord(r)
	}

	g.wg.Add(2 + workers)
	go g.notifyLoop()
	go g.reconnectLoop()
	for range workers {
		go g.worker()
	}
	if seeds := g.seeds(self.Address()); len(seeds) > 0 {
		g.wg.Add(1)
		go g.joinLoop(seeds)
	}
	return g, nil
}

// LocalAddr is the host:port this node gossips on (useful with port 0).
func (g *Gossip) LocalAddr() string { return g.ml.Load().LocalNode().Address() }

// Members returns every node seen since Start, this one included, sorted by
// name.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		c := *m
		c.Meta.Roles = append([]string(nil), m.Meta.Roles...)
		c.Meta.Physnets = append([]string(nil), m.Meta.Physnets...)
		out = append(out, c)
	}
	g.mu.Unlock()
	for i := range out {
		out[i].Trusted = g.cfg.Trust == nil || g.cfg.Trust(out[i].Name, out[i].Meta)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// OnMembership registers fn to be called (from a goroutine of its own) after
// members join, leave, die or change their meta. Calls are coalesced: fn
// should read Members() rather than expect one call per event.
func (g *Gossip) OnMembership(fn func()) {
	g.mu.Lock()
	g.subs = append(g.subs, fn)
	g.mu.Unlock()
}

// Leave tells the cluster this node is going away on purpose. Call Shutdown
// afterwards.
func (g *Gossip) Leave(timeout time.Duration) error {
	if g.isClosed() {
		return errors.New("gossip: leave after shutdown")
	}
	ml := g.ml.Load()
	notice, err := encode(msgLeave, leaveNotice{Node: g.cfg.Node})
	if err != nil {
		return err
	}
	// Direct to every live member (UDP, cheap) and gossiped for whoever
	// misses that packet.
	g.queue.QueueBroadcast(&broadcast{name: "leave/" + g.cfg.Node, msg: notice})
	for _, n := range ml.Members() {
		if n.Name != g.cfg.Node {
			ml.SendBestEffort(n, notice)
		}
	}
	err = ml.Leave(timeout)
	g.setState(g.cfg.Node, StateLeft, nil)
	if err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossiping at once (without Leave, peers will see this node
// die).
func (g *Gossip) Shutdown() error {
	var err error
	g.stopped.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		close(g.stop)
		if e := g.ml.Load().Shutdown(); e != nil {
			err = fmt.Errorf("gossip: shutdown: %w", e)
		}
		g.wg.Wait()
	})
	return err
}

func (g *Gossip) numNodes() int {
	if ml := g.ml.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

func (g *Gossip) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// seeds drops this node's own address: joining ourselves "succeeds" and
// would end the retry loop before any real peer answered.
func (g *Gossip) seeds(self string) []string {
	var out []string
	for _, s := range g.cfg.Join {
		if s != "" && s != self && s != g.cfg.Bind && s != g.cfg.Advertise {
			out = append(out, s)
		}
	}
	return out
}

// joinLoop keeps trying the seeds until one answers: nodes of a cloud boot in
// any order.
func (g *Gossip) joinLoop(seeds []string) {
	defer g.wg.Done()
	for {
		n, err := g.ml.Load().Join(seeds)
		if n > 0 {
			g.log.Info("gossip: joined cluster", "contacted", n)
			return
		}
		g.log.Debug("gossip: join failed, retrying", "seeds", seeds, "err", err)
		select {
		case <-g.stop:
			return
		case <-time.After(joinRetry):
		}
	}
}

// reconnectLoop heals partitions. memberlist stops probing a member once
// it is dead, so two halves of a cluster that were cut apart stay apart
// after the link comes back; like Serf, bnet keeps trying to reach dead
// members (not those that left on purpose) and, when it is alone, its
// seeds. A push/pull with the other half is enough: each side learns the
// other is alive again and refutes what it was told about itself.
func (g *Gossip) reconnectLoop() {
	defer g.wg.Done()
	every := reconnectEvery
	if g.cfg.Fast {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		var addrs []string
		g.mu.Lock()
		for name, m := range g.members {
			if m.State == StateDead && name != g.cfg.Node && m.Addr != "" && time.Since(m.Since) < reconnectFor {
				addrs = append(addrs, m.Addr)
			}
		}
		g.mu.Unlock()
		if g.numNodes() <= 1 {
			addrs = append(addrs, g.seeds(g.LocalAddr())...)
		}
		if len(addrs) == 0 {
			continue
		}
		if n, err := g.ml.Load().Join(addrs); n > 0 {
			g.log.Info("gossip: reached members again", "contacted", n, "of", len(addrs))
		} else {
			g.log.Debug("gossip: dead members still unreachable", "tried", len(addrs), "err", err)
		}
	}
}

func (g *Gossip) notifyLoop() {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case <-g.changed:
		}
		g.mu.Lock()
		subs := append([]func(){}, g.subs...)
		g.mu.Unlock()
		for _, fn := range subs {
			fn()
		}
	}
}

func (g *Gossip) worker() {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case fn := <-g.tasks:
			fn()
		}
	}
}

// spawn runs fn on a worker: memberlist's delegate callbacks must not block
// on the network. A full backlog drops the work; the next push/pull redoes it.
func (g *Gossip) spawn(what string, fn func()) {
	select {
	case g.tasks <- fn:
	default:
		g.log.Warn("gossip: too much anti-entropy work queued, dropping", "task", what)
	}
}

func (g *Gossip) notifyChanged() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// setState records a member's state; n (if not nil) refreshes address and
// meta.
func (g *Gossip) setState(name, state string, n *memberlist.Node) {
	g.mu.Lock()
	m, ok := g.members[name]
	if !ok {
		m = &Member{Name: name}
		g.members[name] = m
	}
	if n != nil {
		m.Addr = n.Address()
		if meta, err := parseMeta(n.Meta); err != nil {
			g.log.Warn("gossip: bad node meta", "member", name, "err", err)
		} else {
			m.Meta = meta
		}
	}
	if m.State != state {
		now := time.Now()
		if state == StateAlive && m.State != StateSuspect {
			m.UpSince = now
		}
		m.State, m.Since = state, now
	}
	g.mu.Unlock()
	g.notifyChanged()
}

func parseMeta(b []byte) (Meta, error) {
	var m Meta
	if len(b) == 0 {
		return m, nil
	}
	if len(b) > memberlist.MetaMaxSize {
		return m, fmt.Errorf("%d bytes", len(b))
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, err
	}
	return m, nil
}

// broadcastRecord queues a record for gossip; a record that does not fit a
// packet is left to anti-entropy.
func (g *Gossip) broadcastRecord(r store.Record) {
	if g.isClosed() {
		return
	}
	msg, err := encodeRecord(r, g.maxBcast)
	if err != nil {
		g.log.Debug("gossip: not broadcasting, anti-entropy will carry it", "err", err)
		return
	}
	g.log.Debug("gossip: broadcasting", "key", r.Key(), "bytes", len(msg))
	g.enqueue(r.Key(), msg)
}

func (g *Gossip) enqueue(name string, msg []byte) {
	if g.isClosed() {
		return
	}
	g.queue.QueueBroadcast(&broadcast{name: name, msg: msg})
	// A burst (thousands of ports at once) outruns a few packets per gossip
	// interval; keep the newest and let push/pull carry the rest.
	if g.queue.NumQueued() > maxQueued {
		g.queue.Prune(maxQueued)
	}
}

// broadcast is one queued message; a newer one with the same name (the
// record key) replaces it in the queue.
type broadcast struct {
	name string
	msg  []byte
}

func (b *broadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*broadcast)
	return ok && ob.name == b.name
}
func (b *broadcast) Name() string    { return b.name }
func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// delegate implements memberlist.Delegate.
type delegate Gossip

func (d *delegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // Start checked it; never reached
	}
	return d.meta
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

// NotifyMsg receives broadcasts and reliable messages from any peer (or
// anyone who can reach the port): every field is checked, and anything bad
// is dropped with a log line.
func (d *delegate) NotifyMsg(buf []byte) {
	g := (*Gossip)(d)
	if len(buf) == 0 {
		g.log.Warn("gossip: dropping empty message")
		return
	}
	if len(buf) > maxReliable {
		g.log.Warn("gossip: dropping oversized message", "type", buf[0], "bytes", len(buf))
		return
	}
	switch buf[0] {
	case msgRecord, msgRecordZ:
		if len(buf) > g.maxBcast+broadcastOverhead {
			g.log.Warn("gossip: dropping oversized record broadcast", "bytes", len(buf))
			return
		}
		r, err := decodeRecord(buf)
		if err != nil {
			g.log.Warn("gossip: dropping bad record broadcast", "err", err)
			return
		}
		// Passing on what was new to us makes the broadcast epidemic: the
		// originator alone reaches only RetransmitMult*log(N) peers.
		g.log.Debug("gossip: record broadcast received", "key", r.Key())
		for _, k := range g.cfg.Store.Apply(r) {
			g.enqueue(k.Key(), bytes.Clone(buf))
		}
	case msgPull:
		var req pullRequest
		if err := strictUnmarshal(buf[1:], &req); err != nil || req.From == "" || len(req.Origins) == 0 || len(req.Origins) > maxOrigins {
			g.log.Warn("gossip: dropping bad pull request", "err", err, "from", req.From, "origins", len(req.Origins))
			return
		}
		g.spawn("answer pull from "+req.From, func() { g.answerPull(req) })
	case msgRecords:
		var c recordChunk
		if err := strictUnmarshal(buf[1:], &c); err != nil {
			g.log.Warn("gossip: dropping bad record chunk", "err", err)
			return
		}
		kept := g.cfg.Store.Apply(c.Recs...)
		g.log.Debug("gossip: pulled records", "from", c.From, "received", len(c.Recs), "kept", len(kept))
	case msgLeave:
		var n leaveNotice
		if err := strictUnmarshal(buf[1:], &n); err != nil || n.Node == "" {
			g.log.Warn("gossip: dropping bad leave notice", "err", err)
			return
		}
		g.mu.Lock()
		first := !g.leaving[n.Node]
		g.leaving[n.Node] = true
		m := g.members[n.Node]
		if m != nil && m.State == StateDead {
			// memberlist's dead message overtook the notice.
			m.State, m.Since = StateLeft, time.Now()
		}
		g.mu.Unlock()
		if first && !g.isClosed() {
			g.queue.QueueBroadcast(&broadcast{name: "leave/" + n.Node, msg: bytes.Clone(buf)})
		}
		g.notifyChanged()
	case msgAsk:
		var q askMsg
		if err := strictUnmarshal(buf[1:], &q); err != nil || q.From == "" || q.Kind == "" || len(q.Body) > maxAskBody {
			g.log.Warn("gossip: dropping bad question", "err", err, "from", q.From)
			return
		}
		g.spawn("answer "+q.Kind+" from "+q.From, func() { g.onAsk(q) })
	case msgAnswer:
		var ans answerMsg
		if err := strictUnmarshal(buf[1:], &ans); err != nil || ans.From == "" {
			g.log.Warn("gossip: dropping bad answer", "err", err)
			return
		}
		g.onAnswer(ans)
	default:
		g.log.Warn("gossip: dropping message of unknown type", "type", buf[0], "bytes", len(buf))
	}
}

// LocalState is the push/pull payload: the store digest only. At 100,000
// ports it is one small entry per writing node, not the records.
func (d *delegate) LocalState(join bool) []byte {
	g := (*Gossip)(d)
	b, err := encode(msgDigest, digestMsg{V: 1, Node: g.cfg.Node, Digest: g.cfg.Store.Digest()})
	if err != nil {
		g.log.Error("gossip: encode digest", "err", err)
		return nil
	}
	return b
}

// MergeRemoteState compares a peer's digest with ours and pulls the origins
// that differ. Both ends of a push/pull do this, so both converge.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	g := (*Gossip)(d)
	if len(buf) == 0 {
		return
	}
	var dm digestMsg
	if buf[0] != msgDigest {
		g.log.Warn("gossip: dropping push/pull state of unknown type", "type", buf[0])
		return
	}
	if err := strictUnmarshal(buf[1:], &dm); err != nil || dm.Node == "" || len(dm.Digest) > maxOrigins {
		g.log.Warn("gossip: dropping bad push/pull state", "err", err, "from", dm.Node)
		return
	}
	if dm.V > 1 {
		g.log.Warn("gossip: push/pull state of a newer format", "from", dm.Node, "v", dm.V)
		return
	}
	if dm.Node == g.cfg.Node {
		return
	}
	ours := g.cfg.Store.Digest()
	var want []string
	for origin, theirs := range dm.Digest {
		// An origin the peer lacks is its to pull from us, not ours to ask.
		if theirs.Count > 0 && ours[origin] != theirs {
			want = append(want, origin)
		}
	}
	if len(want) == 0 {
		return
	}
	sort.Strings(want)
	g.log.Debug("gossip: digests differ, pulling", "peer", dm.Node, "origins", want, "join", join)
	g.spawn("pull from "+dm.Node, func() { g.sendTo(dm.Node, msgPull, pullRequest{From: g.cfg.Node, Origins: want}) })
}

// answerPull sends the records of the requested origins, chunked.
func (g *Gossip) answerPull(req pullRequest) {
	node := g.member(req.From)
	if node == nil {
		// A node that restarts pulls while the others still hold it dead
		// (until it refutes that with a new incarnation): answer it at the
		// address it last had, else it waits a whole push/pull interval.
		node = g.lastKnown(req.From)
	}
	if node == nil {
		g.log.Debug("gossip: pull from unknown member", "from", req.From)
		return
	}
	var recs []store.Record
	seen := make(map[string]bool)
	for _, o := range req.Origins {
		if !seen[o] {
			seen[o] = true
			recs = append(recs, g.cfg.Store.ByOrigin(o)...)
		}
	}
	if len(recs) == 0 {
		return
	}
	chunks, err := chunkRecords(g.cfg.Node, recs, maxChunk)
	if err != nil {
		g.log.Error("gossip: encode pull answer", "to", req.From, "err", err)
		return
	}
	for _, c := range chunks {
		if g.isClosed() {
			return
		}
		if err := g.ml.Load().SendReliable(node, c); err != nil {
			g.log.Warn("gossip: send pull answer", "to", req.From, "err", err)
			return
		}
	}
	g.log.Debug("gossip: answered pull", "to", req.From, "records", len(recs), "messages", len(chunks))
}

func (g *Gossip) sendTo(name string, typ byte, v any) {
	node := g.member(name)
	if node == nil {
		return
	}
	b, err := encode(typ, v)
	if err != nil {
		g.log.Error("gossip: encode message", "type", typ, "err", err)
		return
	}
	if err := g.ml.Load().SendReliable(node, b); err != nil && !g.isClosed() {
		g.log.Warn("gossip: send", "to", name, "type", typ, "err", err)
	}
}

// lastKnown is the address a member had when we last saw it, whatever its
// state now; nil for names never seen.
func (g *Gossip) lastKnown(name string) *memberlist.Node {
	g.mu.Lock()
	m := g.members[name]
	var addr string
	if m != nil {
		addr = m.Addr
	}
	g.mu.Unlock()
	if addr == "" {
		return nil
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil
	}
	return &memberlist.Node{Name: name, Addr: ip, Port: uint16(port)}
}

// member finds a live memberlist node by name.
func (g *Gossip) member(name string) *memberlist.Node {
	for _, n := range g.ml.Load().Members() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// events implements memberlist.EventDelegate. memberlist calls it with its
// node lock held: only record, never call back into memberlist.
type events Gossip

func (e *events) NotifyJoin(n *memberlist.Node) {
	g := (*Gossip)(e)
	g.mu.Lock()
	delete(g.leaving, n.Name)
	g.mu.Unlock()
	g.setState(n.Name, StateAlive, n)
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	(*Gossip)(e).setState(n.Name, StateAlive, n)
}

// NotifyLeave fires for dead and left nodes alike; memberlist keeps the
// difference to itself (Node.State is not maintained), hence leaveNotice.
func (e *events) NotifyLeave(n *memberlist.Node) {
	g := (*Gossip)(e)
	g.mu.Lock()
	left := g.leaving[n.Name]
	g.mu.Unlock()
	state := StateDead
	if left {
		state = StateLeft
	}
	g.setState(n.Name, state, n)
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		h = "0.0.0.0"
	}
	return h, port, nil
}

// logWriter routes memberlist's "[LEVEL] memberlist: ..." lines to slog.
type logWriter struct{ l *slog.Logger }

func (w *logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for tag, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError} {
		if strings.HasPrefix(line, tag) {
			level, line = l, strings.TrimSpace(strings.TrimPrefix(line, tag))
			break
		}
	}
	w.l.Log(context.Background(), level, line)
	return len(p), nil
}

// LoadKeys reads a key file: base64 keys, one per line, blank lines and
// # comments ignored; each must be 16, 24 or 32 bytes.
func LoadKeys(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			return nil, fmt.Errorf("gossip key file %s line %d: not base64: %w", path, i+1, err)
		}
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("gossip key file %s line %d: key is %d bytes, want 16, 24 or 32", path, i+1, n)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gossip key file %s: no key", path)
	}
	return keys, nil
}
