package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/bnet-dev/bnet/gossip"
	"github.com/bnet-dev/bnet/store"
)

// Gossip convergence with N simulated members in one process: each member
// is a real store and a real gossip.Gossip (memberlist with bnet's
// delegate, production timings), talking over an in-memory network. 1,000
// real sockets on a 2-core machine would measure its overload instead.
//
// memberlist's own MockTransport is not used: its channels are unbuffered
// (a member that stops reading, i.e. a dead one, blocks its senders for
// ever) and its address table is not safe to grow while members run. memNet
// behaves like UDP instead: a full queue or a dead member loses the packet.

type memNet struct {
	mu      sync.RWMutex
	members map[string]*memTransport
	packets atomic.Uint64
	bytes   atomic.Uint64 // packets and streams
	lost    atomic.Uint64
}

type memTransport struct {
	net      *memNet
	addr     string
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	down     atomic.Bool
}

func (n *memNet) add(ip net.IP, port int) *memTransport {
	t := &memTransport{net: n, ip: ip, port: port, addr: net.JoinHostPort(ip.String(), strconv.Itoa(port)),
		packetCh: make(chan *memberlist.Packet, 1024), streamCh: make(chan net.Conn, 64)}
	n.mu.Lock()
	n.members[t.addr] = t
	n.mu.Unlock()
	return t
}

func (n *memNet) peer(addr string) *memTransport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	t := n.members[addr]
	if t == nil || t.down.Load() {
		return nil
	}
	return t
}

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) { return t.ip, t.port, nil }

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	now := time.Now()
	if t.down.Load() {
		return now, errors.New("transport is down")
	}
	t.net.packets.Add(1)
	t.net.bytes.Add(uint64(len(b)))
	dst := t.net.peer(addr)
	if dst == nil {
		t.net.lost.Add(1)
		return now, nil
	}
	p := &memberlist.Packet{Buf: append([]byte(nil), b...), From: &net.UDPAddr{IP: t.ip, Port: t.port}, Timestamp: now}
	select {
	case dst.packetCh <- p:
	default:
		t.net.lost.Add(1)
	}
	return now, nil
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	dst := t.net.peer(addr)
	if dst == nil || t.down.Load() {
		return nil, fmt.Errorf("dial %s: no route", addr)
	}
	a, b := net.Pipe()
	select {
	case dst.streamCh <- countConn{a, &t.net.bytes}:
		return countConn{b, &t.net.bytes}, nil
	case <-time.After(timeout):
		a.Close()
		b.Close()
		return nil, fmt.Errorf("dial %s: timeout", addr)
	}
}

func (t *memTransport) StreamCh() <-chan net.Conn { return t.streamCh }

func (t *memTransport) Shutdown() error {
	t.down.Store(true)
	return nil
}

// countConn counts what is written into a stream (each byte once: the
// writer's side).
type countConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// GossipRun is one cluster size.
type GossipRun struct {
	Members int `json:"members"`
	// Formed: every member sees every other alive (seconds from start).
	FormedS float64 `json:"formed_s"`
	// Traffic per member in 3 s once formed (probes, gossip; a push/pull
	// comes every 15-75 s, so whether one falls in the window is luck).
	BackgroundBpsPerMember float64 `json:"background_bytes_per_s_per_member"`
	// A port record written on one member: when the others have it.
	Change       Dist    `json:"change"`
	ChangeAllS   float64 `json:"change_all_s"`
	ChangeMissed int     `json:"change_missed"`
	ChangeBytes  uint64  `json:"change_bytes"` // all traffic in that window, background included
	// A member stops without leaving: when the others see it dead.
	Death       Dist    `json:"death"`
	DeathAllS   float64 `json:"death_all_s"`
	DeathMissed int     `json:"death_missed"`
	// All traffic from the death until every member saw it, per surviving
	// member and second: the suspicion and dead messages on top of the
	// background.
	DeathBytes        uint64  `json:"death_bytes"`
	DeathBpsPerMember float64 `json:"death_bytes_per_s_per_member"`
	// Members suspected or declared dead that were alive, after forming.
	FalseSuspicions int    `json:"false_suspicions"`
	PacketsLost     uint64 `json:"packets_lost"`
	Error           string `json:"error,omitempty"`
}

type simMember struct {
	name string
	s    *store.Store
	g    *gossip.Gossip
	t    *memTransport
}

func gossipSim(args []string) (any, error) {
	fs := flag.NewFlagSet("gossip", flag.ContinueOnError)
	sizes := fs.String("members", "10,100,300", "cluster sizes")
	timeout := fs.Duration("timeout", 150*time.Second, "give up on a phase after this")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var out []GossipRun
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("bad size %q", s)
		}
		r := simulate(n, *timeout)
		fmt.Fprintf(os.Stderr, "gossip: %d members: formed %.1fs, change all %.2fs, death all %.1fs, false suspicions %d %s\n",
			n, r.FormedS, r.ChangeAllS, r.DeathAllS, r.FalseSuspicions, r.Error)
		out = append(out, r)
	}
	return out, nil
}

func simulate(n int, timeout time.Duration) (res GossipRun) {
	res.Members = n
	dir, err := os.MkdirTemp("", "bnetbench-gossip-")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer os.RemoveAll(dir)
	mnet := &memNet{members: map[string]*memTransport{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	members := make([]*simMember, n)
	var mu sync.Mutex
	changeAt := make([]time.Time, n)
	deadAt := make([]time.Time, n)
	var formed atomic.Bool
	victim := n - 1
	victimName := ""
	falseSusp := map[string]bool{}
	const portID = "bench-port"
	defer func() {
		// An overloaded cluster may not stop cleanly: give it 10 s.
		var wg sync.WaitGroup
		for _, m := range members {
			if m != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = m.t.Shutdown()
					_ = m.g.Shutdown()
					_ = m.s.Close()
				}()
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}()
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("m%04d", i)
		ip := net.IPv4(10, 200, byte(i>>8), byte(i))
		s, err := store.Open(fmt.Sprintf("%s/%s", dir, name), name)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		t := mnet.add(ip, 7946)
		var join []string
		if i > 0 {
			join = []string{members[0].t.addr}
		}
		s.OnChange(func(r store.Record, _ bool) {
			if r.ID == portID {
				mu.Lock()
				if changeAt[i].IsZero() {
					changeAt[i] = time.Now()
				}
				mu.Unlock()
			}
		})
		g, err := gossip.Start(gossip.Config{Node: name, Bind: t.addr, Join: join, Store: s, Logger: quiet, Transport: t,
			Meta: gossip.Meta{VTEP: ip.String(), Roles: []string{"compute"}}})
		if err != nil {
			s.Close()
			res.Error = err.Error()
			return res
		}
		m := &simMember{name: name, s: s, g: g, t: t}
		members[i] = m
		g.OnMembership(func() {
			if !formed.Load() {
				return
			}
			for _, mb := range g.Members() {
				if mb.State == gossip.StateAlive {
					continue
				}
				mu.Lock()
				if mb.Name == victimName {
					if mb.State == gossip.StateDead && deadAt[i].IsZero() {
						deadAt[i] = time.Now()
					}
				} else {
					falseSusp[m.name+">"+mb.Name] = true
				}
				mu.Unlock()
			}
		})
	}
	victimName = members[victim].name
	allAlive := func() bool {
		for _, m := range members {
			alive := 0
			for _, mb := range m.g.Members() {
				if mb.State == gossip.StateAlive {
					alive++
				}
			}
			if alive != n {
				return false
			}
		}
		return true
	}
	if !waitFor(timeout, 200*time.Millisecond, allAlive) {
		res.Error = "cluster never formed"
		return res
	}
	res.FormedS = time.Since(start).Seconds()
	formed.Store(true)

	// Background traffic, once formed.
	b0 := mnet.bytes.Load()
	time.Sleep(3 * time.Second)
	res.BackgroundBpsPerMember = float64(mnet.bytes.Load()-b0) / 3 / float64(n)

	// A port record written on one member.
	writer := members[n/2]
	b0 = mnet.bytes.Load()
	t0 := time.Now()
	mu.Lock()
	changeAt[n/2] = t0
	mu.Unlock()
	if _, err := writer.s.Put("port", portID, map[string]string{"name": "bench", "mac_address": "fa:16:3e:00:00:01"}); err != nil {
		res.Error = err.Error()
		return res
	}
	have := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			if changeAt[i].IsZero() {
				return false
			}
		}
		return true
	}
	ok := waitFor(timeout, 5*time.Millisecond, have)
	res.ChangeBytes = mnet.bytes.Load() - b0
	res.ChangeAllS, res.Change, res.ChangeMissed = since(t0, changeAt, &mu, -1)
	if !ok {
		res.Error = "port record did not reach every member"
	}

	// A member dies: stops answering without leaving.
	b0 = mnet.bytes.Load()
	t0 = time.Now()
	_ = members[victim].t.Shutdown()
	_ = members[victim].g.Shutdown()
	dead := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			if i != victim && deadAt[i].IsZero() {
				return false
			}
		}
		return true
	}
	if !waitFor(timeout, 50*time.Millisecond, dead) && res.Error == "" {
		res.Error = "not every member saw the dead one dead"
	}
	res.DeathAllS, res.Death, res.DeathMissed = since(t0, deadAt, &mu, victim)
	res.DeathBytes = mnet.bytes.Load() - b0
	if el := time.Since(t0).Seconds(); el > 0 && n > 1 {
		res.DeathBpsPerMember = float64(res.DeathBytes) / el / float64(n-1)
	}
	mu.Lock()
	res.FalseSuspicions = len(falseSusp)
	mu.Unlock()
	res.PacketsLost = mnet.lost.Load()
	return res
}

// since summarises when each member (but skip) got there after t0.
func since(t0 time.Time, at []time.Time, mu *sync.Mutex, skip int) (float64, Dist, int) {
	mu.Lock()
	defer mu.Unlock()
	var d []time.Duration
	missed := 0
	var last time.Duration
	for i, t := range at {
		if i == skip {
			continue
		}
		if t.IsZero() {
			missed++
			continue
		}
		v := max(t.Sub(t0), 0)
		d = append(d, v)
		last = max(last, v)
	}
	return last.Seconds(), summarize(d), missed
}

func waitFor(timeout, every time.Duration, cond func() bool) bool {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(every)
	}
	return cond()
}

func writeGossip(w io.Writer, b json.RawMessage) {
	var runs []GossipRun
	if json.Unmarshal(b, &runs) != nil || len(runs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nGossip: N members in one process (real stores and memberlist with bnet's delegate at production timings, an in-memory network):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| members | formed s | port record reaches members: p50 / p99 / all ms | bytes sent meanwhile (all traffic) | silent death seen dead by all s (p50) | B/s per member: background / until all saw the death | false suspicions | error |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---|---:|---|")
	for _, r := range runs {
		fmt.Fprintf(w, "| %d | %.1f | %.0f / %.0f / %.0f | %d | %.1f (%.1f) | %.0f / %.0f | %d | %s |\n", r.Members, r.FormedS,
			r.Change.P50us/1e3, r.Change.P99us/1e3, r.ChangeAllS*1e3, r.ChangeBytes, r.DeathAllS, r.Death.P50us/1e6,
			r.BackgroundBpsPerMember, r.DeathBpsPerMember, r.FalseSuspicions, r.Error)
	}
}
