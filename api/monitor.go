package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// MonitorEvent is one datapath event as `bnet monitor` prints it.
type MonitorEvent struct {
	Time    string `json:"time"`
	Type    string `json:"type"` // "drop" or "trace"
	Reason  string `json:"reason"`
	Ifindex uint32 `json:"ifindex"`
	Port    string `json:"port,omitempty"` // the local port it was counted against, if one
	Len     uint32 `json:"len"`
	SrcMAC  string `json:"src_mac,omitempty"`
	DstMAC  string `json:"dst_mac,omitempty"`
	Proto   string `json:"proto,omitempty"` // arp, ipv4/tcp, ipv6, ...
	Src     string `json:"src,omitempty"`   // IP[:port]
	Dst     string `json:"dst,omitempty"`
}

// Monitor is what a backend offers to stream its datapath's events. The
// channel closes when ctx ends.
type Monitor interface {
	Monitor(ctx context.Context) (<-chan MonitorEvent, error)
}

// monitor streams events as JSON lines until the client goes: GET
// /bnet/monitor[?port=ID][&type=drop]. It is not an OpenStack API.
func (s *Server) monitor(w http.ResponseWriter, r *http.Request) {
	m, ok := s.b.(Monitor)
	if !ok {
		s.fail(w, r, notFound("MonitorNotAvailable", "this agent has no datapath events"))
		return
	}
	port, typ := r.URL.Query().Get("port"), r.URL.Query().Get("type")
	if typ != "" && typ != "drop" && typ != "trace" {
		s.fail(w, r, badRequest("unknown event type %q (drop, trace)", typ))
		return
	}
	events, err := m.Monitor(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for e := range events {
		if (port != "" && e.Port != port) || (typ != "" && e.Type != typ) {
			continue
		}
		if err := enc.Encode(e); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// Stream GETs path and calls fn with each JSON line until ctx ends, the
// agent closes the stream or fn returns an error.
func (c *Client) Stream(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://bnet"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("agent at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e struct {
			NeutronError struct{ Type, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return &Error{Status: resp.StatusCode, Type: e.NeutronError.Type, Message: e.NeutronError.Message}
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if err := fn(json.RawMessage(line)); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}
