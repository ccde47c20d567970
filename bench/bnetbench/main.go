// Command bnetbench holds the measuring tools of `make bench`
// (bench/run.sh). Each subcommand prints one JSON object on stdout:
//
//	rr-server ADDR                   answer fixed-size requests (rr and crr)
//	rr [-crr] [-size N] [-time D] ADDR   request/response: latency percentiles, transactions/s
//	progstats PIN_DIR...             bnet's attached programs: run time, run count, instructions
//	sgrules -socket S -group G -n N -client CIDR   fill a security group with N rules
//	portlat ...                      port create on one node → first ping from another
//	mapload -pin-dir D -n N,...      time to write N entries into fresh maps
//	gossip -members N,...            convergence of simulated members in one process
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmds := map[string]func([]string) (any, error){
		"rr-server":   rrServer,
		"rr":          rrClient,
		"progstats":   progStats,
		"sgrules":     sgRules,
		"portlat":     portLat,
		"mapload":     mapLoad,
		"remoteports": remotePorts,
		"gossip":      gossipSim,
		"report":      report,
	}
	f, ok := cmds[os.Args[1]]
	if !ok {
		usage()
	}
	out, err := f(os.Args[2:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "bnetbench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if out != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bnetbench rr-server|rr|progstats|sgrules|portlat|mapload|gossip ARGS (see bench/bnetbench/main.go)")
	os.Exit(2)
}

// Dist summarises a sample of durations, in microseconds.
type Dist struct {
	N      int     `json:"n"`
	P50us  float64 `json:"p50_us"`
	P90us  float64 `json:"p90_us"`
	P99us  float64 `json:"p99_us"`
	MaxUs  float64 `json:"max_us"`
	MeanUs float64 `json:"mean_us"`
}

// summarize sorts d in place and returns its percentiles (nearest rank).
func summarize(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	us := func(v time.Duration) float64 { return float64(v.Nanoseconds()) / 1e3 }
	return Dist{
		N:      len(d),
		P50us:  us(percentile(d, 50)),
		P90us:  us(percentile(d, 90)),
		P99us:  us(percentile(d, 99)),
		MaxUs:  us(d[len(d)-1]),
		MeanUs: us(sum / time.Duration(len(d))),
	}
}

// percentile of a sorted sample, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
