package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
)

// TraceRequest asks for the path of one packet a VM would send: POST
// /bnet/trace. It is not an OpenStack API.
type TraceRequest struct {
	Port  string `json:"port"`            // id or name of the sending port
	Src   string `json:"src,omitempty"`   // IPv4 source; default the port's first IPv4 address
	Dst   string `json:"dst"`             // IPv4 destination
	Proto string `json:"proto,omitempty"` // icmp (default), tcp (a SYN), udp
	SPort uint16 `json:"sport,omitempty"` // default 40000
	DPort uint16 `json:"dport,omitempty"` // default 80
}

// TraceHop is what one node's datapath did with the packet.
type TraceHop struct {
	Node    string   `json:"node"`
	Program string   `json:"program,omitempty"` // the BPF program run, if one was
	How     string   `json:"how"`               // ran here / asked NODE's agent / computed from the replicated state
	Packet  string   `json:"packet"`            // the frame as it came in
	Steps   []string `json:"steps"`
	Verdict string   `json:"verdict"`
	Out     string   `json:"out,omitempty"` // the frame as it left, when the program changed it
}

// TraceReport is a whole trace: the hops in order and one line for it.
type TraceReport struct {
	Hops   []TraceHop `json:"hops"`
	Result string     `json:"result"` // delivered, dropped, answered, left the cloud, flooded
	Path   string     `json:"path"`
}

// Tracer is what a backend offers to trace packets through its datapath.
type Tracer interface {
	Trace(ctx context.Context, req TraceRequest) (TraceReport, error)
}

// Check validates a request; the backend resolves the port.
func (q *TraceRequest) Check() error {
	if q.Port == "" {
		return badRequest("trace: a port (id or name) is required")
	}
	if a, err := netip.ParseAddr(q.Dst); err != nil || !a.Is4() {
		return badRequest("trace: dst %q is not an IPv4 address", q.Dst)
	}
	if q.Src != "" {
		if a, err := netip.ParseAddr(q.Src); err != nil || !a.Is4() {
			return badRequest("trace: src %q is not an IPv4 address", q.Src)
		}
	}
	q.Proto = strings.ToLower(q.Proto)
	switch q.Proto {
	case "":
		q.Proto = "icmp"
	case "icmp", "tcp", "udp":
	default:
		return badRequest("trace: proto %q: want icmp, tcp or udp", q.Proto)
	}
	if q.Proto == "icmp" && (q.SPort != 0 || q.DPort != 0) {
		return badRequest("trace: ports are for tcp and udp")
	}
	if q.Proto != "icmp" {
		if q.SPort == 0 {
			q.SPort = 40000
		}
		if q.DPort == 0 {
			q.DPort = 80
		}
	}
	return nil
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request) {
	t, ok := s.b.(Tracer)
	if !ok {
		s.fail(w, r, notFound("TraceNotAvailable", "this agent has no datapath to trace"))
		return
	}
	var q TraceRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		s.fail(w, r, badRequest("trace: bad request body: %v", err))
		return
	}
	if err := q.Check(); err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := t.Trace(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
