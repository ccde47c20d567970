package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"github.com/bnet-dev/bnet/maps"
)

// PortLatResult is the control plane's reaction time to new ports.
type PortLatResult struct {
	Ports int `json:"ports"`
	// create: `bnet port create --netns` returns (the API answers once the
	// local datapath forwards for the port).
	Create Dist `json:"create"`
	// remote_fdb: the port's MAC is in the other node's fdb map (gossip
	// carried the record and that agent reconciled).
	RemoteFDB Dist `json:"remote_fdb"`
	// ping: the first echo reply from the new port reached a VM on the
	// other node (static neighbour entry, so ARP timing is not measured).
	Ping   Dist `json:"ping"`
	Failed int  `json:"failed"`
	// Samples: each port's create, remote_fdb and ping times in ms, in
	// creation order.
	Samples [][3]float64 `json:"samples_ms"`
}

// portLat creates n ports, one at a time, through one node's agent and
// times each until a VM on another node gets an answer from it.
func portLat(args []string) (any, error) {
	fs := flag.NewFlagSet("portlat", flag.ContinueOnError)
	bnet := fs.String("bnet", "bin/bnet", "bnet binary")
	socket := fs.String("socket", "", "API socket of the node that gets the ports")
	remotePins := fs.String("remote-pin-dir", "", "pin dir of the node the pinger is on")
	network := fs.String("network", "", "network of the ports")
	pinger := fs.String("pinger", "", "netns of the VM that pings the new ports")
	nsPrefix := fs.String("netns-prefix", "", "namespace name prefix of the new ports (NAME1, NAME2, ...)")
	base := fs.String("ip-base", "", "first port's IP; the others follow")
	n := fs.Int("n", 30, "ports")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on one port after this")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	ip0, err := netip.ParseAddr(*base)
	if *socket == "" || *remotePins == "" || *network == "" || *pinger == "" || *nsPrefix == "" || err != nil || !ip0.Is4() {
		return nil, errors.New("usage: portlat -socket S -remote-pin-dir D -network NET -pinger NS -netns-prefix P -ip-base IP [-n N] [-bnet BIN]")
	}
	rm, err := maps.Open(*remotePins, true)
	if err != nil {
		return nil, err
	}
	defer rm.Close()
	res := PortLatResult{Ports: *n}
	var create, fdb, ping []time.Duration
	ip := ip0
	for i := 1; i <= *n; i++ {
		mac := net.HardwareAddr{0xfa, 0x16, 0x3e, 0xbb, byte(i >> 8), byte(i)}
		c, f, p, err := onePort(*bnet, *socket, *network, *pinger, fmt.Sprintf("%s%d", *nsPrefix, i), ip, mac, rm, *timeout)
		if err != nil {
			fmt.Fprintf(os.Stderr, "portlat: port %d (%s): %v\n", i, ip, err)
			res.Failed++
		} else {
			create, fdb, ping = append(create, c), append(fdb, f), append(ping, p)
			res.Samples = append(res.Samples, [3]float64{ms(c), ms(f), ms(p)})
		}
		ip = ip.Next()
	}
	res.Create, res.RemoteFDB, res.Ping = summarize(create), summarize(fdb), summarize(ping)
	if res.Failed > *n/10 {
		return res, fmt.Errorf("%d of %d ports never answered", res.Failed, *n)
	}
	return res, nil
}

func onePort(bnet, socket, network, pinger, netns string, ip netip.Addr, mac net.HardwareAddr,
	rm *maps.Maps, timeout time.Duration) (create, fdb, ping time.Duration, err error) {
	if out, err := exec.Command("ip", "netns", "exec", pinger, "ip", "neigh", "replace", ip.String(),
		"lladdr", mac.String(), "dev", "eth0", "nud", "permanent").CombinedOutput(); err != nil {
		return 0, 0, 0, fmt.Errorf("static neighbour: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Ping every 2 ms until the first reply; it starts before the port
	// exists and its own start-up overlaps the create's.
	pingDone := make(chan error, 1)
	pc := exec.CommandContext(ctx, "ip", "netns", "exec", pinger, "ping", "-n", "-q", "-c", "1", "-i", "0.002",
		"-w", fmt.Sprint(int(timeout.Seconds())), ip.String())
	start := time.Now()
	if err := pc.Start(); err != nil {
		return 0, 0, 0, err
	}
	var pingAt time.Time
	go func() {
		err := pc.Wait()
		pingAt = time.Now()
		pingDone <- err
	}()
	fdbDone := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			rows, err := rm.FDBRows()
			if err == nil {
				for _, r := range rows {
					if bytes.Equal(r.MAC, mac) {
						fdbDone <- time.Now()
						return
					}
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		close(fdbDone)
	}()
	cc := exec.CommandContext(ctx, bnet, "port", "create", netns, "--network", network, "--ip", ip.String(),
		"--mac", mac.String(), "--netns", netns)
	cc.Env = append(os.Environ(), "BNET_SOCKET="+socket)
	if out, err := cc.CombinedOutput(); err != nil {
		return 0, 0, 0, fmt.Errorf("port create: %v: %s", err, out)
	}
	create = time.Since(start)
	if err := <-pingDone; err != nil {
		return 0, 0, 0, fmt.Errorf("no echo reply within %s: %v", timeout, err)
	}
	ping = pingAt.Sub(start)
	at, ok := <-fdbDone
	if !ok {
		return 0, 0, 0, fmt.Errorf("never in the remote fdb")
	}
	return create, at.Sub(start), ping, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
