// Package metrics exposes an agent's state to Prometheus: what the
// datapath dropped and why, per port; how full each map is; what each
// port's device carried; gossip membership; how long reconciles take.
// Everything but the reconcile histogram is read at scrape time from its
// source (the pinned maps, the devices, memberlist), so a scrape costs
// nothing between scrapes and never disagrees with `bnet drop list`.
package metrics

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vishvananda/netlink"

	"github.com/bnet-dev/bnet/maps"
)

// Maps is what the collector reads from the datapath.
type Maps interface {
	DropRows() ([]maps.DropRow, error)
	MapRows() ([]maps.MapRow, error)
}

// Sources are the agent's answers the collector asks for at scrape time.
type Sources struct {
	Maps Maps
	// Ports maps the host-side ifindex of each local port to its id.
	Ports func() map[uint32]string
	// Members counts gossip members by state (alive, suspect, dead, left).
	Members func() map[string]int
}

// Registry holds bnet's metrics.
type Registry struct {
	reg         *prometheus.Registry
	reconcile   prometheus.Histogram
	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
}

var (
	dropPackets = prometheus.NewDesc("bnet_drop_packets_total", "Packets the datapath dropped, by the device they came in on (or the port whose security groups refused them) and reason.", []string{"ifindex", "port", "reason"}, nil)
	dropBytes   = prometheus.NewDesc("bnet_drop_bytes_total", "Bytes the datapath dropped, as bnet_drop_packets_total.", []string{"ifindex", "port", "reason"}, nil)
	mapEntries  = prometheus.NewDesc("bnet_map_entries", "Entries in a BPF map.", []string{"map"}, nil)
	mapCapacity = prometheus.NewDesc("bnet_map_capacity", "Capacity (max_entries) of a BPF map.", []string{"map"}, nil)
	portPackets = prometheus.NewDesc("bnet_port_packets_total", "Packets through a local port, from_vm or to_vm.", []string{"port", "direction"}, nil)
	portBytes   = prometheus.NewDesc("bnet_port_bytes_total", "Bytes through a local port, from_vm or to_vm.", []string{"port", "direction"}, nil)
	members     = prometheus.NewDesc("bnet_gossip_members", "Gossip members by state, this node included.", []string{"state"}, nil)
	scrapeErr   = prometheus.NewDesc("bnet_scrape_errors", "Sources that could not be read in this scrape.", []string{"source"}, nil)
)

type collector struct{ src Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dropPackets, dropBytes, mapEntries, mapCapacity, portPackets, portBytes, members, scrapeErr} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ports := map[uint32]string{}
	if c.src.Ports != nil {
		ports = c.src.Ports()
	}
	fail := func(source string) {
		ch <- prometheus.MustNewConstMetric(scrapeErr, prometheus.GaugeValue, 1, source)
	}
	if c.src.Maps != nil {
		if rows, err := c.src.Maps.DropRows(); err != nil {
			fail("drop_stats")
		} else {
			for _, r := range rows {
				idx := strconv.FormatUint(uint64(r.Ifindex), 10)
				ch <- prometheus.MustNewConstMetric(dropPackets, prometheus.CounterValue, float64(r.Packets), idx, ports[r.Ifindex], r.Reason)
				ch <- prometheus.MustNewConstMetric(dropBytes, prometheus.CounterValue, float64(r.Bytes), idx, ports[r.Ifindex], r.Reason)
			}
		}
		if rows, err := c.src.Maps.MapRows(); err != nil {
			fail("maps")
		} else {
			for _, r := range rows {
				ch <- prometheus.MustNewConstMetric(mapEntries, prometheus.GaugeValue, float64(r.Entries), r.Name)
				ch <- prometheus.MustNewConstMetric(mapCapacity, prometheus.GaugeValue, float64(r.Capacity), r.Name)
			}
		}
	}
	for idx, id := range ports {
		l, err := netlink.LinkByIndex(int(idx))
		if err != nil || l.Attrs().Statistics == nil {
			continue // unplugged between the two reads
		}
		s := l.Attrs().Statistics
		// The host end receives what the VM sends.
		ch <- prometheus.MustNewConstMetric(portPackets, prometheus.CounterValue, float64(s.RxPackets), id, "from_vm")
		ch <- prometheus.MustNewConstMetric(portPackets, prometheus.CounterValue, float64(s.TxPackets), id, "to_vm")
		ch <- prometheus.MustNewConstMetric(portBytes, prometheus.CounterValue, float64(s.RxBytes), id, "from_vm")
		ch <- prometheus.MustNewConstMetric(portBytes, prometheus.CounterValue, float64(s.TxBytes), id, "to_vm")
	}
	if c.src.Members != nil {
		for state, n := range c.src.Members() {
			ch <- prometheus.MustNewConstMetric(members, prometheus.GaugeValue, float64(n), state)
		}
	}
}

// New registers bnet's collector, a reconcile histogram and the Go
// runtime's own metrics.
func New(src Sources) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "bnet_reconcile_duration_seconds", Help: "How long one reconcile (replicated state to maps, devices and namespaces) took.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})}
	// Labelled by route pattern, never by path: ids must not make series.
	r.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bnet_api_requests_total", Help: "API requests answered, by method, route and status code.",
	}, []string{"method", "route", "code"})
	r.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bnet_api_request_duration_seconds", Help: "How long API requests took, by method and route (a monitor stream counts until it ends).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"method", "route"})
	r.reg.MustRegister(collector{src}, r.reconcile, r.apiRequests, r.apiDuration, prometheus.NewGoCollector(),
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return r
}

// ObserveAPI records one answered API request.
func (r *Registry) ObserveAPI(method, route string, code int, d time.Duration) {
	r.apiRequests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	r.apiDuration.WithLabelValues(method, route).Observe(d.Seconds())
}

// ObserveReconcile records one reconcile's duration.
func (r *Registry) ObserveReconcile(d time.Duration) { r.reconcile.Observe(d.Seconds()) }

// Handler serves the text exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Serve listens on addr until the listener fails.
func (r *Registry) Serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", r.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(ln)
}
