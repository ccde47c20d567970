package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// report reads a run directory of bench/run.sh (raw tool outputs) and
// writes the results as JSON (-json FILE) and markdown (stdout).
//
//	paths.txt                 name|kind|client|server|ip|baselines|description
//	m/PATH.TEST.ROUND.json    iperf3 -J or rr output; ROUND "stats" is the stats phase
//	stats/PATH.TEST.{before,after}.json   progstats around the stats phase
//	cp/*.json                 sgrules-N, portlat, mapload, agentmem, gossip
//	meta.json                 kernel, CPU, date, ...

// Metric names, in table order; all but the latencies are higher-better.
var metrics = []struct {
	key, title string
	ratio      bool
}{
	{"tcp1_gbps", "TCP 1 stream Gb/s", true},
	{"tcp4_gbps", "TCP 4 streams Gb/s", true},
	{"udp64_kpps", "UDP 64 B kpps received", true},
	{"rr_tps", "RR transactions/s", true},
	{"rr_p50_us", "RR p50 µs", false},
	{"rr_p99_us", "RR p99 µs", false},
	{"crr_tps", "CRR transactions/s", true},
	{"crr_p50_us", "CRR p50 µs", false},
	{"crr_p99_us", "CRR p99 µs", false},
}

// Value is a metric's median over rounds, and every round (by round
// number; NaN-free: a round that failed is missing from Round).
type Value struct {
	Median float64         `json:"median"`
	Rounds []float64       `json:"rounds"`
	Round  map[int]float64 `json:"-"`
}

// PathResult is one measured path.
type PathResult struct {
	Name        string           `json:"name"`
	Kind        string           `json:"kind"` // same (node), cross (node), nat
	Description string           `json:"description"`
	Baselines   []string         `json:"baselines,omitempty"`
	Metrics     map[string]Value `json:"metrics"`
	Errors      []string         `json:"errors,omitempty"`
}

// Ratio is a bnet path over one baseline, metric by metric (>1: bnet
// does more): the median of the per-round ratios (a path and its baseline
// run minutes apart in one round, so the round's load cancels out), and
// the smallest and largest of them.
type Ratio struct {
	Path     string             `json:"path"`
	Baseline string             `json:"baseline"`
	Ratios   map[string]float64 `json:"ratios"`
	Min      map[string]float64 `json:"min"`
	Max      map[string]float64 `json:"max"`
}

// ProgCost is one program's share of a path in the stats phase.
type ProgCost struct {
	Path      string  `json:"path"`
	Test      string  `json:"test"` // rr or tcp1
	Program   string  `json:"program"`
	Runs      uint64  `json:"runs"`
	NsPerRun  float64 `json:"ns_per_run"`
	RunsPerTx float64 `json:"runs_per_transaction,omitempty"`
}

// ProgSize is a program's size (first node's copy; both load the same object).
type ProgSize struct {
	Program       string `json:"program"`
	XlatedInsns   int    `json:"xlated_insns"`
	JitedBytes    uint32 `json:"jited_bytes"`
	VerifiedInsns uint32 `json:"verified_insns"`
}

// Report is the JSON result of a run.
type Report struct {
	Meta     json.RawMessage            `json:"meta"`
	Paths    []PathResult               `json:"paths"`
	Ratios   []Ratio                    `json:"ratios"`
	Costs    []ProgCost                 `json:"program_costs"`
	Sizes    []ProgSize                 `json:"program_sizes"`
	Control  map[string]json.RawMessage `json:"control"`
	Unparsed []string                   `json:"unparsed,omitempty"`
}

func report(args []string) (any, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("dir", "", "run directory")
	jsonOut := fs.String("json", "", "write the JSON result here")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *dir == "" || *jsonOut == "" {
		return nil, errors.New("usage: report -dir RUN -json FILE (markdown on stdout)")
	}
	r, err := buildReport(*dir)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	writeMarkdown(os.Stdout, r)
	return nil, nil
}

func buildReport(dir string) (*Report, error) {
	r := &Report{Control: map[string]json.RawMessage{}}
	var err error
	if r.Meta, err = os.ReadFile(filepath.Join(dir, "meta.json")); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "paths.txt"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "|")
		if len(parts) != 7 {
			continue
		}
		p := PathResult{Name: parts[0], Kind: parts[1], Description: parts[6], Metrics: map[string]Value{}}
		if parts[5] != "" {
			p.Baselines = strings.Split(parts[5], ",")
		}
		r.Unparsed = append(r.Unparsed, collect(dir, &p)...)
		if len(p.Metrics) > 0 || len(p.Errors) > 0 {
			r.Paths = append(r.Paths, p)
		}
	}
	byName := map[string]PathResult{}
	for _, p := range r.Paths {
		byName[p.Name] = p
	}
	for _, p := range r.Paths {
		for _, b := range p.Baselines {
			base, ok := byName[b]
			if !ok {
				continue
			}
			ra := Ratio{Path: p.Name, Baseline: b, Ratios: map[string]float64{}, Min: map[string]float64{}, Max: map[string]float64{}}
			for _, m := range metrics {
				v, ok1 := p.Metrics[m.key]
				bv, ok2 := base.Metrics[m.key]
				if !m.ratio || !ok1 || !ok2 {
					continue
				}
				var rs []float64
				for round, x := range v.Round {
					if y, ok := bv.Round[round]; ok && y > 0 {
						rs = append(rs, x/y)
					}
				}
				if len(rs) == 0 {
					continue
				}
				sort.Float64s(rs)
				ra.Ratios[m.key], ra.Min[m.key], ra.Max[m.key] = median(rs), rs[0], rs[len(rs)-1]
			}
			r.Ratios = append(r.Ratios, ra)
		}
	}
	for _, p := range r.Paths {
		for _, test := range []string{"rr", "tcp1"} {
			costs, sizes, err := progCosts(dir, p.Name, test)
			if err != nil {
				continue
			}
			r.Costs = append(r.Costs, costs...)
			if r.Sizes == nil {
				r.Sizes = sizes
			}
		}
	}
	cps, _ := filepath.Glob(filepath.Join(dir, "cp", "*.json"))
	for _, cp := range cps {
		b, err := os.ReadFile(cp)
		if err != nil || !json.Valid(b) {
			continue
		}
		r.Control[strings.TrimSuffix(filepath.Base(cp), ".json")] = b
	}
	return r, nil
}

// iperf3's JSON, the parts read here.
type iperf struct {
	Error string `json:"error"`
	End   struct {
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
		Sum struct {
			Seconds     float64 `json:"seconds"`
			Packets     float64 `json:"packets"`
			LostPackets float64 `json:"lost_packets"`
		} `json:"sum"`
	} `json:"end"`
}

// collect fills a path's metrics from its m/ files; it returns the files
// it could not read.
func collect(dir string, p *PathResult) (bad []string) {
	files, _ := filepath.Glob(filepath.Join(dir, "m", p.Name+".*.json"))
	sort.Strings(files)
	var round int
	add := func(k string, v float64) {
		m := p.Metrics[k]
		if m.Round == nil {
			m.Round = map[int]float64{}
		}
		m.Round[round] = v
		p.Metrics[k] = m
	}
	for _, file := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".json"), ".")
		if len(parts) != 3 || parts[0] != p.Name || parts[2] == "stats" {
			continue
		}
		test := parts[1]
		var err error
		if round, err = strconv.Atoi(parts[2]); err != nil {
			bad = append(bad, file)
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		switch test {
		case "tcp1", "tcp4", "udp64":
			var ip iperf
			if err := json.Unmarshal(b, &ip); err != nil || ip.Error != "" {
				p.Errors = append(p.Errors, fmt.Sprintf("%s round %s: %s", test, parts[2], firstLine(ip.Error, b)))
				continue
			}
			if test == "udp64" {
				if ip.End.Sum.Seconds > 0 {
					add("udp64_kpps", (ip.End.Sum.Packets-ip.End.Sum.LostPackets)/ip.End.Sum.Seconds/1e3)
				}
			} else {
				add(test+"_gbps", ip.End.SumReceived.BitsPerSecond/1e9)
			}
		case "rr", "crr":
			var rr RRResult
			if err := json.Unmarshal(b, &rr); err != nil {
				p.Errors = append(p.Errors, fmt.Sprintf("%s round %s: %s", test, parts[2], firstLine("", b)))
				continue
			}
			add(test+"_tps", rr.TPS)
			add(test+"_p50_us", rr.Latency.P50us)
			add(test+"_p99_us", rr.Latency.P99us)
		default:
			bad = append(bad, file)
		}
	}
	for k, v := range p.Metrics {
		rounds := make([]int, 0, len(v.Round))
		for r := range v.Round {
			rounds = append(rounds, r)
		}
		sort.Ints(rounds)
		v.Rounds = v.Rounds[:0]
		for _, r := range rounds {
			v.Rounds = append(v.Rounds, v.Round[r])
		}
		v.Median = median(v.Rounds)
		p.Metrics[k] = v
	}
	return bad
}

func firstLine(msg string, b []byte) string {
	if msg != "" {
		return msg
	}
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// progCosts: run-time deltas per program name (both nodes summed) around
// one stats-phase test.
func progCosts(dir, path, test string) ([]ProgCost, []ProgSize, error) {
	var before, after []ProgStat
	if err := readJSON(filepath.Join(dir, "stats", path+"."+test+".before.json"), &before); err != nil {
		return nil, nil, err
	}
	if err := readJSON(filepath.Join(dir, "stats", path+"."+test+".after.json"), &after); err != nil {
		return nil, nil, err
	}
	var tx float64
	if test == "rr" {
		var rr RRResult
		if readJSON(filepath.Join(dir, "m", path+".rr.stats.json"), &rr) == nil {
			tx = float64(rr.Transactions)
		}
	}
	type key struct {
		dir string
		id  uint32
	}
	prev := map[key]ProgStat{}
	for _, s := range before {
		prev[key{s.PinDir, s.ID}] = s
	}
	type acc struct{ ns, runs uint64 }
	by := map[string]*acc{}
	var sizes []ProgSize
	seen := map[string]bool{}
	for _, s := range after {
		if !seen[s.Name] {
			seen[s.Name] = true
			sizes = append(sizes, ProgSize{Program: s.Name, XlatedInsns: s.XlatedInsns, JitedBytes: s.JitedBytes, VerifiedInsns: s.VerifiedInsns})
		}
		b, ok := prev[key{s.PinDir, s.ID}]
		if !ok || s.RunCnt < b.RunCnt {
			continue
		}
		a := by[s.Name]
		if a == nil {
			a = &acc{}
			by[s.Name] = a
		}
		a.ns += s.RunTimeNs - b.RunTimeNs
		a.runs += s.RunCnt - b.RunCnt
	}
	var out []ProgCost
	for name, a := range by {
		// A few runs are other traffic (gossip on the underlay NIC, ARP):
		// not this path's.
		if a.runs == 0 || tx > 0 && float64(a.runs) < tx/10 || tx == 0 && a.runs < 100 {
			continue
		}
		c := ProgCost{Path: path, Test: test, Program: name, Runs: a.runs, NsPerRun: float64(a.ns) / float64(a.runs)}
		if tx > 0 {
			c.RunsPerTx = float64(a.runs) / tx
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Program < out[j].Program })
	sort.Slice(sizes, func(i, j int) bool { return sizes[i].Program < sizes[j].Program })
	return out, sizes, nil
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func writeMarkdown(w io.Writer, r *Report) {
	var meta struct {
		Kernel, CPU, Date, Commit, Iperf3 string
		CPUs                              int
		Seconds                           int    `json:"seconds_per_test"`
		Rounds                            int    `json:"rounds"`
		LoadStart                         string `json:"loadavg_start"`
		LoadEnd                           string `json:"loadavg_end"`
		Agents                            map[string]struct {
			CPU  float64 `json:"cpu_s"`
			Wall float64 `json:"wall_s"`
		} `json:"agents"`
	}
	_ = json.Unmarshal(r.Meta, &meta)
	fmt.Fprintf(w, "# bnet benchmark, %s\n\n", meta.Date)
	fmt.Fprintf(w, "Kernel %s, %d × %s, commit %s, %s. %d s per test, %d round(s) (median shown), load average %s at the start, %s at the end.\n\n",
		meta.Kernel, meta.CPUs, meta.CPU, meta.Commit, meta.Iperf3, meta.Seconds, meta.Rounds, meta.LoadStart, meta.LoadEnd)
	if len(meta.Agents) > 0 {
		names := make([]string, 0, len(meta.Agents))
		for n := range meta.Agents {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprint(w, "Agents' own CPU over the run (reconciles, CT sweeps, gossip; they share the CPUs with the measurements):")
		for _, n := range names {
			a := meta.Agents[n]
			fmt.Fprintf(w, " %s %.0f s in %.0f s (%.1f%% of a CPU);", n, a.CPU, a.Wall, 100*a.CPU/max(a.Wall, 1))
		}
		fmt.Fprint(w, "\n\n")
	}

	if len(r.Paths) > 0 {
		fmt.Fprintln(w, "## Data path")
		fmt.Fprintln(w)
		fmt.Fprint(w, "| path | what |")
		for _, m := range metrics {
			fmt.Fprintf(w, " %s |", m.title)
		}
		fmt.Fprint(w, "\n|---|---|")
		for range metrics {
			fmt.Fprint(w, "---:|")
		}
		fmt.Fprintln(w)
		for _, p := range r.Paths {
			fmt.Fprintf(w, "| %s | %s |", p.Name, p.Description)
			for _, m := range metrics {
				v, ok := p.Metrics[m.key]
				if !ok {
					fmt.Fprint(w, " – |")
					continue
				}
				fmt.Fprintf(w, " %s |", fmtNum(v.Median))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
		for _, p := range r.Paths {
			for _, e := range p.Errors {
				fmt.Fprintf(w, "- %s: %s\n", p.Name, e)
			}
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\n## bnet over its baselines (1.00 = as fast; higher is better for bnet)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Median of the per-round ratios, with the lowest and highest round in brackets: a spread wider than the distance from 1.00 means this run cannot tell the two apart.")
		fmt.Fprintln(w)
		fmt.Fprint(w, "| bnet path | baseline |")
		for _, m := range metrics {
			if m.ratio {
				fmt.Fprintf(w, " %s |", strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m.title, " Gb/s"), " kpps received"), "/s"))
			}
		}
		fmt.Fprint(w, "\n|---|---|")
		for _, m := range metrics {
			if m.ratio {
				fmt.Fprint(w, "---:|")
			}
		}
		fmt.Fprintln(w)
		for _, ra := range r.Ratios {
			fmt.Fprintf(w, "| %s | %s |", ra.Path, ra.Baseline)
			for _, m := range metrics {
				if !m.ratio {
					continue
				}
				if v, ok := ra.Ratios[m.key]; ok {
					if ra.Min[m.key] != ra.Max[m.key] {
						fmt.Fprintf(w, " %.2f× (%.2f–%.2f) |", v, ra.Min[m.key], ra.Max[m.key])
					} else {
						fmt.Fprintf(w, " %.2f× |", v)
					}
				} else {
					fmt.Fprint(w, " – |")
				}
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Costs) > 0 {
		fmt.Fprintln(w, "\n## Cost per packet: BPF run time (kernel.bpf_stats_enabled, a separate pass)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "RR: one small packet at a time, so a run is a packet. TCP: runs see GSO packets of up to 64 KB.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| path | program | runs per RR transaction | ns per run, RR | ns per run, TCP stream |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		type k struct{ path, prog string }
		rows := map[k][2]*ProgCost{}
		var order []k
		for i := range r.Costs {
			c := &r.Costs[i]
			kk := k{c.Path, c.Program}
			v, ok := rows[kk]
			if !ok {
				order = append(order, kk)
			}
			if c.Test == "rr" {
				v[0] = c
			} else {
				v[1] = c
			}
			rows[kk] = v
		}
		for _, kk := range order {
			v := rows[kk]
			cell := func(c *ProgCost, f func(*ProgCost) float64) string {
				if c == nil {
					return "–"
				}
				return fmtNum(f(c))
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", kk.path, kk.prog,
				cell(v[0], func(c *ProgCost) float64 { return c.RunsPerTx }),
				cell(v[0], func(c *ProgCost) float64 { return c.NsPerRun }),
				cell(v[1], func(c *ProgCost) float64 { return c.NsPerRun }))
		}
	}
	if len(r.Sizes) > 0 {
		fmt.Fprintln(w, "\n## Program sizes")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| program | instructions (xlated) | JIT bytes | instructions the verifier processed |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		for _, s := range r.Sizes {
			fmt.Fprintf(w, "| %s | %d | %d | %d |\n", s.Program, s.XlatedInsns, s.JitedBytes, s.VerifiedInsns)
		}
	}
	writeControl(w, r.Control)
}

func writeControl(w io.Writer, c map[string]json.RawMessage) {
	if len(c) == 0 {
		return
	}
	fmt.Fprintln(w, "\n## Control plane")
	fmt.Fprintln(w)
	var sgs []string
	for k := range c {
		if strings.HasPrefix(k, "sgrules-") {
			sgs = append(sgs, k)
		}
	}
	sort.Slice(sgs, func(i, j int) bool { return len(sgs[i]) < len(sgs[j]) || len(sgs[i]) == len(sgs[j]) && sgs[i] < sgs[j] })
	for _, k := range sgs {
		var s SGResult
		if json.Unmarshal(c[k], &s) == nil {
			how := "one POST per rule"
			if s.Bulk {
				how = "one bulk POST"
			}
			fmt.Fprintf(w, "- A security group of %d rule(s) created through the API (%s) in %.2f s.\n", s.Rules, how, s.Seconds)
		}
	}
	var pl PortLatResult
	if b, ok := c["portlat"]; ok && json.Unmarshal(b, &pl) == nil {
		fmt.Fprintf(w, "\n%d ports created one after another on n1 (`bnet port create --netns`), each pinged from a VM on n2 (%d failed):\n\n", pl.Ports, pl.Failed)
		fmt.Fprintln(w, "| from `port create` until | p50 ms | p90 ms | p99 ms | max ms |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, d := range []struct {
			what string
			d    Dist
		}{{"the command returns (port forwarding on n1)", pl.Create}, {"the port's MAC is in n2's fdb map (gossip + n2's reconcile)", pl.RemoteFDB}, {"the first echo reply reaches the VM on n2", pl.Ping}} {
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f |\n", d.what, d.d.P50us/1e3, d.d.P90us/1e3, d.d.P99us/1e3, d.d.MaxUs/1e3)
		}
	}
	var ml MapLoad
	if b, ok := c["mapload"]; ok && json.Unmarshal(b, &ml) == nil {
		fmt.Fprintln(w, "\nMap writes with the agent's writers (maps.Put*, one syscall per entry), fresh maps:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| ports | kind | entries | write s | µs per port | ports/s | delete s |")
		fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|")
		for _, r := range ml.Runs {
			kind := "remote (fdb + arp)"
			if r.Kind == "local" {
				kind = "local (ports, port_macs, port_addrs, fdb, arp)"
			}
			fmt.Fprintf(w, "| %d | %s | %d | %.3f | %.2f | %.0f | %.3f |\n", r.Ports, kind, r.Entries, r.PutSeconds, r.UsPerPort, r.PortsPerS, r.DelSeconds)
		}
		for _, l := range ml.Limits {
			fmt.Fprintf(w, "\nAt the limit: `%s` holds %d entries (filled %d); the next write fails with: `%s`.\n", l.Map, l.Capacity, l.Filled, l.Error)
		}
	}
	var am struct {
		Ports  int     `json:"remote_ports"`
		FDB    int     `json:"fdb_entries"`
		Before int     `json:"rss_kb_before"`
		After  int     `json:"rss_kb_after"`
		Peak   int     `json:"rss_kb_peak"`
		Secs   float64 `json:"seconds_to_program"`
	}
	if b, ok := c["agentmem"]; ok && json.Unmarshal(b, &am) == nil {
		fmt.Fprintf(w, "\nAgent memory: n1's RSS %.1f MB, then %.1f MB with %d remote ports (fdb holding %d entries after %.1f s; peak %.1f MB).\n",
			float64(am.Before)/1024, float64(am.After)/1024, am.Ports, am.FDB, am.Secs, float64(am.Peak)/1024)
	}
	if b, ok := c["gossip"]; ok {
		writeGossip(w, b)
	}
}
