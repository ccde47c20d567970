package gossip

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAskAnswerAndRefusals(t *testing.T) {
	nodes := cluster(t, 2)
	a, b := nodes[0].g, nodes[1].g
	b.HandleAsk("double", func(_ context.Context, from string, body json.RawMessage) (any, error) {
		var n int
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, errors.New("negative")
		}
		return map[string]any{"from": from, "n": 2 * n}, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out struct {
		From string `json:"from"`
		N    int    `json:"n"`
	}
	if err := a.Ask(ctx, "n2", "double", 21, &out); err != nil || out.N != 42 || out.From != "n1" {
		t.Fatalf("answer %+v, %v", out, err)
	}
	if err := a.Ask(ctx, "n2", "double", -1, &out); err == nil || !strings.Contains(err.Error(), "n2: negative") {
		t.Fatalf("handler error came back as %v", err)
	}
	if err := a.Ask(ctx, "n2", "triple", 1, &out); err == nil || !strings.Contains(err.Error(), `cannot answer "triple"`) {
		t.Fatalf("unknown kind: %v", err)
	}
	if err := a.Ask(ctx, "n9", "double", 1, &out); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("asking a non-member: %v", err)
	}
	// A question nobody answers in time ends with the caller's context.
	a.HandleAsk("slow", func(context.Context, string, json.RawMessage) (any, error) {
		time.Sleep(time.Second)
		return 1, nil
	})
	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := b.Ask(short, "n1", "slow", 1, &out); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("unanswered question: %v", err)
	}
}
