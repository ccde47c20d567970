package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Asking a peer a question over memberlist's reliable channel (encrypted
// with the gossip key like everything else): `bnet trace` follows a packet
// to the node it was tunnelled to and has that node's agent run its own
// datapath on it, as only that node has its maps.
const (
	msgAsk    byte = 7 // reliable: askMsg
	msgAnswer byte = 8 // reliable: answerMsg
)

// maxAskBody bounds a question or an answer: a frame and a few lines.
const maxAskBody = 64 << 10

type askMsg struct {
	From string          `json:"from"`
	ID   uint64          `json:"id"`
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

type answerMsg struct {
	From string          `json:"from"`
	ID   uint64          `json:"id"`
	Body json.RawMessage `json:"body,omitempty"`
	Err  string          `json:"err,omitempty"`
}

// AskHandler answers one kind of question from peer from.
type AskHandler func(ctx context.Context, from string, body json.RawMessage) (any, error)

type askState struct {
	mu       sync.Mutex
	next     uint64
	pending  map[uint64]chan answerMsg
	handlers map[string]AskHandler
}

// HandleAsk registers fn to answer questions of kind.
func (g *Gossip) HandleAsk(kind string, fn AskHandler) {
	a := &g.asks
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.handlers == nil {
		a.handlers = map[string]AskHandler{}
	}
	a.handlers[kind] = fn
}

// ErrNoAnswer is returned by Ask when the peer is not a live member or did
// not answer before ctx ended.
var ErrNoAnswer = errors.New("no answer")

// Ask sends a question of kind to the live member node and decodes its
// answer into out.
func (g *Gossip) Ask(ctx context.Context, node, kind string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("ask %s %s: %w", node, kind, err)
	}
	if len(b) > maxAskBody {
		return fmt.Errorf("ask %s %s: question of %d bytes, limit %d", node, kind, len(b), maxAskBody)
	}
	if g.member(node) == nil {
		return fmt.Errorf("ask %s %s: not a live member: %w", node, kind, ErrNoAnswer)
	}
	a := &g.asks
	ch := make(chan answerMsg, 1)
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[uint64]chan answerMsg{}
	}
	a.next++
	id := a.next
	a.pending[id] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
	}()
	g.sendTo(node, msgAsk, askMsg{From: g.cfg.Node, ID: id, Kind: kind, Body: b})
	select {
	case ans := <-ch:
		if ans.From != node {
			return fmt.Errorf("ask %s %s: answered by %q: %w", node, kind, ans.From, ErrNoAnswer)
		}
		if ans.Err != "" {
			return fmt.Errorf("%s: %s", node, ans.Err)
		}
		if err := json.Unmarshal(ans.Body, out); err != nil {
			return fmt.Errorf("ask %s %s: bad answer: %w", node, kind, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ask %s %s: %w (%v)", node, kind, ErrNoAnswer, ctx.Err())
	}
}

// onAsk runs the handler off memberlist's goroutine and sends the answer.
func (g *Gossip) onAsk(q askMsg) {
	a := &g.asks
	a.mu.Lock()
	fn := a.handlers[q.Kind]
	a.mu.Unlock()
	ans := answerMsg{From: g.cfg.Node, ID: q.ID}
	if fn == nil {
		ans.Err = fmt.Sprintf("cannot answer %q", q.Kind)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), askTimeout)
		v, err := fn(ctx, q.From, q.Body)
		cancel()
		if err != nil {
			ans.Err = err.Error()
		} else if ans.Body, err = json.Marshal(v); err != nil || len(ans.Body) > maxAskBody {
			ans.Body, ans.Err = nil, fmt.Sprintf("answer to %q too large or not encodable", q.Kind)
		}
	}
	g.sendTo(q.From, msgAnswer, ans)
}

// askTimeout bounds how long a handler may take.
const askTimeout = 10 * time.Second

func (g *Gossip) onAnswer(ans answerMsg) {
	a := &g.asks
	a.mu.Lock()
	ch := a.pending[ans.ID]
	a.mu.Unlock()
	if ch == nil {
		g.log.Debug("gossip: answer nobody waits for", "from", ans.From, "id", ans.ID)
		return
	}
	select {
	case ch <- ans:
	default:
	}
}
