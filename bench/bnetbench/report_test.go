package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(101-i)*time.Microsecond)
	}
	s := summarize(d)
	if s.N != 100 || s.P50us != 50 || s.P99us != 99 || s.MaxUs != 100 || s.MeanUs != 50.5 {
		t.Fatalf("summarize: %+v", s)
	}
	if m := median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Fatalf("median %v", m)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"m", "stats", "cp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"meta.json":                   `{"kernel": "6.18", "cpus": 2}`,
		"paths.txt":                   "base|same|a|b|10.0.0.2||the ceiling\nbnet-x|same|c|d|10.0.0.4|base|bnet\n",
		"m/base.tcp1.1.json":          `{"end": {"sum_received": {"bits_per_second": 10e9}}}`,
		"m/base.tcp1.2.json":          `{"end": {"sum_received": {"bits_per_second": 12e9}}}`,
		"m/bnet-x.tcp1.1.json":        `{"end": {"sum_received": {"bits_per_second": 11e9}}}`,
		"m/base.udp64.1.json":         `{"end": {"sum": {"seconds": 2, "packets": 1000, "lost_packets": 200}}}`,
		"m/bnet-x.rr.1.json":          `{"mode": "rr", "tps": 100, "transactions": 500, "latency": {"p50_us": 10, "p99_us": 20}}`,
		"m/bnet-x.rr.stats.json":      `{"mode": "rr", "tps": 100, "transactions": 1000, "latency": {"p50_us": 10, "p99_us": 20}}`,
		"m/bnet-x.tcp4.1.json":        `{"error": "unable to connect to server"}`,
		"stats/bnet-x.rr.before.json": `[{"pin_dir": "p", "id": 7, "name": "bnet_port_in", "run_time_ns": 1000, "run_cnt": 10}]`,
		"stats/bnet-x.rr.after.json":  `[{"pin_dir": "p", "id": 7, "name": "bnet_port_in", "run_time_ns": 1001000, "run_cnt": 2010, "xlated_insns": 9}]`,
		"cp/sgrules-10.json":          `{"group_id": "g", "rules": 10, "seconds": 0.5}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := buildReport(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Paths) != 2 {
		t.Fatalf("paths: %+v", r.Paths)
	}
	base, x := r.Paths[0], r.Paths[1]
	if base.Metrics["tcp1_gbps"].Median != 11 || base.Metrics["udp64_kpps"].Median != 0.4 {
		t.Errorf("base metrics: %+v", base.Metrics)
	}
	if len(x.Errors) != 1 || x.Metrics["rr_tps"].Median != 100 {
		t.Errorf("bnet-x: %+v", x)
	}
	if len(r.Ratios) != 1 || math.Abs(r.Ratios[0].Ratios["tcp1_gbps"]-1.1) > 1e-9 {
		t.Errorf("ratios: %+v", r.Ratios)
	}
	if len(r.Costs) != 1 || r.Costs[0].NsPerRun != 500 || r.Costs[0].RunsPerTx != 2 {
		t.Errorf("costs: %+v", r.Costs)
	}
	if len(r.Sizes) != 1 || r.Sizes[0].XlatedInsns != 9 {
		t.Errorf("sizes: %+v", r.Sizes)
	}
	if _, ok := r.Control["sgrules-10"]; !ok {
		t.Errorf("control: %v", r.Control)
	}
	var sb strings.Builder
	writeMarkdown(&sb, r)
	if !strings.Contains(sb.String(), "| bnet-x | base | 1.10× |") {
		t.Errorf("markdown:\n%s", sb.String())
	}
}
