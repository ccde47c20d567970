package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bnet-dev/bnet/maps"
)

type fakeMaps struct{ drops []maps.DropRow }

func (f *fakeMaps) DropRows() ([]maps.DropRow, error) { return f.drops, nil }
func (f *fakeMaps) MapRows() ([]maps.MapRow, error) {
	return []maps.MapRow{{Name: "ct", Type: "Hash", Entries: 12, Capacity: 262144}}, nil
}

// scrape returns the metric families as Prometheus' own text parser reads them.
func scrape(t *testing.T, r *Registry) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, rec.Body.String())
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			out[name+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	fm := &fakeMaps{drops: []maps.DropRow{{Ifindex: 7, Reason: "policy", Packets: 3, Bytes: 300}}}
	r := New(Sources{Maps: fm,
		Ports:   func() map[uint32]string { return map[uint32]string{7: "port-a"} },
		Members: func() map[string]int { return map[string]int{"alive": 3, "dead": 1} }})
	r.ObserveReconcile(20 * time.Millisecond)
	r.ObserveAPI("POST", "/v2.0/ports", 201, time.Millisecond)
	r.ObserveAPI("POST", "/v2.0/ports", 201, time.Millisecond)
	r.ObserveAPI("GET", "/v2.0/ports/{id}", 404, time.Millisecond)
	got := scrape(t, r)
	for k, want := range map[string]float64{
		"bnet_drop_packets_total{ifindex=7,port=port-a,reason=policy}":        3,
		"bnet_drop_bytes_total{ifindex=7,port=port-a,reason=policy}":          300,
		"bnet_map_entries{map=ct}":                                            12,
		"bnet_map_capacity{map=ct}":                                           262144,
		"bnet_gossip_members{state=alive}":                                    3,
		"bnet_gossip_members{state=dead}":                                     1,
		"bnet_reconcile_duration_seconds{}":                                   1,
		"bnet_api_requests_total{code=201,method=POST,route=/v2.0/ports}":     2,
		"bnet_api_requests_total{code=404,method=GET,route=/v2.0/ports/{id}}": 1,
		"bnet_api_request_duration_seconds{method=POST,route=/v2.0/ports}":    2,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	// Counters move with the datapath's.
	fm.drops[0].Packets = 5
	if got := scrape(t, r); got["bnet_drop_packets_total{ifindex=7,port=port-a,reason=policy}"] != 5 {
		t.Errorf("drop counter did not follow the map: %v", got)
	}
}
