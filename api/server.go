// Package api serves bnet's OpenStack Networking API v2.0 subset (networks,
// subnets, ports, routers, floating IPs, security groups, agents) on the agent's unix
// socket, and is the client the CLI uses to talk to it.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bnet-dev/bnet/model"
	"github.com/bnet-dev/bnet/store"
)

// NodeHeader names the node whose agent answered a request.
const NodeHeader = "X-Bnet-Node"

// Backend is what the API needs from the running agent beyond the store.
type Backend interface {
	Node() string       // this agent's node name
	Physnets() []string // physnets this node has
	UnderlayMTU() int
	Agents() []model.Agent // from gossip membership
	// Status is the datapath-derived status of an object (ACTIVE, DOWN,
	// ERROR) and why; "" means the API's default.
	Status(kind, id string) (status, reason string)
	// Reconcile programs the local datapath now and waits for it.
	Reconcile(ctx context.Context) error
	// RouterHost is the node holding a router's namespace (a distributed
	// router's SNAT, a legacy router whole), "" when none does.
	RouterHost(id string) string
}

// Server answers the API from the replicated store.
type Server struct {
	st  *store.Store
	b   Backend
	log *slog.Logger
	// mu serialises local check-then-write sequences, so two requests on
	// this node never both pass a uniqueness check. Concurrent writes from
	// other nodes are settled by model.Resolve instead.
	mu sync.Mutex
	// Observe, when set, is told of every answered request: its method,
	// route pattern ("unmatched" for none), status code and duration.
	Observe func(method, route string, code int, d time.Duration)
}

// NewServer returns a Server over st.
func NewServer(st *store.Store, b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{st: st, b: b, log: log}
}

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.versions)
	mux.HandleFunc("GET /v2.0/{$}", s.resources)
	mux.HandleFunc("GET /v2.0", s.resources)
	mux.HandleFunc("GET /v2.0/extensions", s.extensions)
	mux.HandleFunc("GET /bnet/monitor", s.monitor)
	mux.HandleFunc("POST /bnet/trace", s.trace)
	mux.HandleFunc("POST /bnet/drain", s.drain)

	mux.HandleFunc("GET /v2.0/networks", list("networks", s.viewNetworks))
	mux.HandleFunc("POST /v2.0/networks", s.createNetwork)
	mux.HandleFunc("GET /v2.0/networks/{id}", show(s, "network", s.viewNetworks, networkNotFound))
	mux.HandleFunc("PUT /v2.0/networks/{id}", s.updateNetwork)
	mux.HandleFunc("DELETE /v2.0/networks/{id}", s.deleteNetwork)

	mux.HandleFunc("GET /v2.0/subnets", list("subnets", s.viewSubnets))
	mux.HandleFunc("POST /v2.0/subnets", s.createSubnet)
	mux.HandleFunc("GET /v2.0/subnets/{id}", show(s, "subnet", s.viewSubnets, subnetNotFound))
	mux.HandleFunc("PUT /v2.0/subnets/{id}", s.updateSubnet)
	mux.HandleFunc("DELETE /v2.0/subnets/{id}", s.deleteSubnet)

	mux.HandleFunc("GET /v2.0/ports", list("ports", s.viewPorts))
	mux.HandleFunc("POST /v2.0/ports", s.createPort)
	mux.HandleFunc("GET /v2.0/ports/{id}", show(s, "port", s.viewPorts, portNotFound))
	mux.HandleFunc("PUT /v2.0/ports/{id}", s.updatePort)
	mux.HandleFunc("DELETE /v2.0/ports/{id}", s.deletePort)

	mux.HandleFunc("GET /v2.0/routers", list("routers", s.viewRouters))
	mux.HandleFunc("POST /v2.0/routers", s.createRouter)
	mux.HandleFunc("GET /v2.0/routers/{id}", show(s, "router", s.viewRouters, routerNotFound))
	mux.HandleFunc("PUT /v2.0/routers/{id}", s.updateRouter)
	mux.HandleFunc("DELETE /v2.0/routers/{id}", s.deleteRouter)
	mux.HandleFunc("PUT /v2.0/routers/{id}/add_router_interface", s.addRouterInterface)
	mux.HandleFunc("PUT /v2.0/routers/{id}/remove_router_interface", s.removeRouterInterface)

	mux.HandleFunc("GET /v2.0/floatingips", list("floatingips", s.viewFloatingIPs))
	mux.HandleFunc("POST /v2.0/floatingips", s.createFloatingIP)
	mux.HandleFunc("GET /v2.0/floatingips/{id}", show(s, "floatingip", s.viewFloatingIPs, floatingIPNotFound))
	mux.HandleFunc("PUT /v2.0/floatingips/{id}", s.updateFloatingIP)
	mux.HandleFunc("DELETE /v2.0/floatingips/{id}", s.deleteFloatingIP)

	mux.HandleFunc("GET /v2.0/security-groups", s.listSecurityGroups)
	mux.HandleFunc("POST /v2.0/security-groups", s.createSecurityGroup)
	mux.HandleFunc("GET /v2.0/security-groups/{id}", show(s, "security_group", s.viewSecurityGroups, securityGroupNotFound))
	mux.HandleFunc("PUT /v2.0/security-groups/{id}", s.updateSecurityGroup)
	mux.HandleFunc("DELETE /v2.0/security-groups/{id}", s.deleteSecurityGroup)

	mux.HandleFunc("GET /v2.0/security-group-rules", list("security_group_rules", s.viewSecurityGroupRules))
	mux.HandleFunc("POST /v2.0/security-group-rules", s.createSecurityGroupRule)
	mux.HandleFunc("GET /v2.0/security-group-rules/{id}", show(s, "security_group_rule", s.viewSecurityGroupRules, securityGroupRuleNotFound))
	mux.HandleFunc("DELETE /v2.0/security-group-rules/{id}", s.deleteSecurityGroupRule)

	s.routeTags(mux)
	mux.HandleFunc("GET /v2.0/routers/{id}/l3-agents", s.routerAgents)

	mux.HandleFunc("GET /v2.0/agents", s.listAgents)
	mux.HandleFunc("GET /v2.0/agents/{id}", s.showAgent)

	// Neutron answers unknown paths and methods with its own error body.
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		// Which node answered: `bnet port plug` binds the port to it.
		rw.Header().Set(NodeHeader, s.b.Node())
		_, pattern := mux.Handler(r)
		w := rw
		if s.Observe != nil {
			sw := &statusWriter{ResponseWriter: rw, code: http.StatusOK}
			w = sw
			start := time.Now()
			route := pattern
			if route == "" {
				route = "unmatched"
			} else if _, rest, ok := strings.Cut(route, " "); ok {
				route = rest
			}
			defer func() { s.Observe(r.Method, route, sw.code, time.Since(start)) }()
		}
		if pattern == "" {
			// Distinguish a wrong method on a known path (405) from an
			// unknown path (404) the way ServeMux does, but in Neutron's shape.
			probe := r.Clone(r.Context())
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
				probe.Method = m
				if _, p := mux.Handler(probe); p != "" {
					writeError(w, http.StatusMethodNotAllowed, "HTTPMethodNotAllowed", fmt.Sprintf("Method %s is not allowed on %s.", r.Method, r.URL.Path))
					return
				}
			}
			msg := "The resource could not be found."
			// A Neutron collection bnet does not serve (QoS, trunks...)
			// says so, instead of a bare 404.
			if rest, ok := strings.CutPrefix(r.URL.Path, "/v2.0/"); ok && rest != "" {
				coll, _, _ := strings.Cut(rest, "/")
				if !slices.Contains(served, coll) {
					msg = fmt.Sprintf("The resource could not be found: bnet does not support '%s' (see /v2.0/extensions for what it serves).", coll)
				}
			}
			writeError(w, http.StatusNotFound, "HTTPNotFound", msg)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code for Observe; it flushes, so a
// monitor stream still streams.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ServeUnix serves the API on a unix socket at path until ctx is done. A
// stale socket left by a dead agent is removed; a live one is an error (two
// agents must not share a socket).
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("api socket dir: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("api socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("api socket %s: another agent is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove stale api socket: %w", err)
		}
	}
	// The socket is made under a private name and renamed into place once
	// it is 0600, so no one can connect in between (the API is root-only).
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return fmt.Errorf("listen on api socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return fmt.Errorf("chmod api socket: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return fmt.Errorf("api socket %s: %w", path, err)
	}
	defer os.Remove(path)
	s.log.Info("api listening", "socket", path)
	return s.serve(ctx, ln)
}

// ServeTCP serves the API on addr (IP:PORT) until ctx is done. The API has
// no authentication: the agent warns when addr is not loopback.
func (s *Server) ServeTCP(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if ap, err := netip.ParseAddrPort(addr); err == nil && !ap.Addr().IsLoopback() {
		s.log.Warn("api listening beyond loopback without authentication", "addr", addr)
	}
	s.log.Info("api listening", "addr", ln.Addr().String())
	return s.serve(ctx, ln)
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve api: %w", err)
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"versions": []any{map[string]any{
		"id": "v2.0", "status": "CURRENT",
		"links": []any{map[string]string{"href": "http://" + r.Host + "/v2.0/", "rel": "self"}},
	}}})
}

// served are the collections under /v2.0/.
var served = []string{"networks", "subnets", "ports", "routers", "floatingips", "security-groups", "security-group-rules",
	"agents", "extensions"}

func (s *Server) resources(w http.ResponseWriter, r *http.Request) {
	var res []any
	for _, c := range [][2]string{{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"}, {"router", "routers"}, {"floatingip", "floatingips"},
		{"security_group", "security-groups"}, {"security_group_rule", "security-group-rules"}, {"agent", "agents"}} {
		res = append(res, map[string]any{"name": c[0], "collection": c[1],
			"links": []any{map[string]string{"href": "http://" + r.Host + "/v2.0/" + c[1], "rel": "self"}}})
	}
	writeJSON(w, 200, map[string]any{"resources": res})
}

// extensions lists the Neutron extensions whose attributes bnet serves, so
// clients that probe for them show the attributes.
var extensions = []struct{ alias, name, desc string }{
	{"agent", "agent", "The agent management extension."},
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"},
	{"binding", "Port Binding", "Expose port bindings of a virtual port to external application"},
	{"dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual Routers."},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"},
	{"external-net", "Neutron external network", "Adds external network attribute to network resource."},
	{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource."},
	{"port-security", "Port Security", "Provides port security"},
	{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."},
	{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks"},
	{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."},
	{"security-group", "security-group", "The security groups extension."},
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"},
	{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."},
	{"standard-attr-tag", "Tag support for resources with standard attribute: subnet, port, network, router, floatingip, security_group", "Enables to set tag on resources with standard attribute."},
	{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."},
}

func (s *Server) extensions(w http.ResponseWriter, r *http.Request) {
	out := make([]any, 0, len(extensions))
	for _, e := range extensions {
		out = append(out, map[string]any{"alias": e.alias, "name": e.name, "description": e.desc,
			"updated": "2013-01-01T00:00:00-00:00", "links": []any{}})
	}
	writeJSON(w, 200, map[string]any{"extensions": out})
}
