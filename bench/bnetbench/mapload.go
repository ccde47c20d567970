package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bnet-dev/bnet/maps"
)

// MapLoadResult is the time to write (and remove) N ports' entries into
// fresh maps, with the agent's own writers (maps.Put*), one syscall per
// entry as the reconciler does.
type MapLoadResult struct {
	// remote (fdb + arp), remote-batch (the same in one
	// BPF_MAP_UPDATE_BATCH per map) or local (ports + port_macs +
	// port_addrs + fdb + arp)
	Kind       string  `json:"kind"`
	Ports      int     `json:"ports"`
	Entries    int     `json:"entries"`
	PutSeconds float64 `json:"put_seconds"`
	DelSeconds float64 `json:"delete_seconds"`
	UsPerPort  float64 `json:"put_us_per_port"`
	PortsPerS  float64 `json:"put_ports_per_s"`
}

// MapLimit is what happens one entry past a map's capacity.
type MapLimit struct {
	Map      string `json:"map"`
	Capacity int    `json:"capacity"`
	Filled   int    `json:"filled"`
	Error    string `json:"error_past_capacity"`
}

// MapLoad is mapload's output.
type MapLoad struct {
	Runs   []MapLoadResult `json:"runs"`
	Limits []MapLimit      `json:"limits"`
}

func mapLoad(args []string) (any, error) {
	fs := flag.NewFlagSet("mapload", flag.ContinueOnError)
	pinDir := fs.String("pin-dir", "", "scratch pin dir (created, then removed)")
	remote := fs.String("remote", "10000,100000", "remote port counts")
	local := fs.String("local", "1000,8192", "local port counts")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *pinDir == "" {
		return nil, errors.New("usage: mapload -pin-dir D [-remote N,...] [-local N,...]")
	}
	if _, err := os.Stat(*pinDir); err == nil {
		return nil, fmt.Errorf("%s exists: not a scratch dir", *pinDir)
	}
	defer os.RemoveAll(*pinDir)
	m, progs, err := maps.Load(*pinDir)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	progs.Close()
	var out MapLoad
	for _, kind := range []struct {
		name   string
		counts string
	}{{"remote", *remote}, {"remote-batch", *remote}, {"local", *local}} {
		for _, s := range strings.Split(kind.counts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("bad count %q", s)
			}
			r, err := loadPorts(m, kind.name, n)
			if err != nil {
				return nil, err
			}
			out.Runs = append(out.Runs, r)
		}
	}
	for _, l := range []struct {
		name string
		fill func(i int) error
	}{
		{maps.MapPorts, func(i int) error { return m.PutPort(localRow(i)) }},
		{maps.MapFDB, func(i int) error { return m.PutFDB(remoteFDB(i)) }},
	} {
		lim, err := fillToLimit(m, l.name, l.fill)
		if err != nil {
			return nil, err
		}
		out.Limits = append(out.Limits, lim)
	}
	return out, nil
}

func portMAC(i int) net.HardwareAddr {
	return net.HardwareAddr{0xfa, 0x16, 0x3e, byte(i >> 16), byte(i >> 8), byte(i)}
}

func portIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// Networks of 250 ports, as a cloud spreads them.
func netOf(i int) uint32 { return uint32(1 + i/250) }

func remoteFDB(i int) maps.FDBRow {
	return maps.FDBRow{NetID: netOf(i), MAC: portMAC(i), VTEP: netip.AddrFrom4([4]byte{10, 254, byte(1 + i%200), 1})}
}

func localRow(i int) maps.PortRow {
	return maps.PortRow{Ifindex: uint32(100000 + i), NetID: netOf(i), MAC: portMAC(i), Up: true, Secure: true}
}

func loadPorts(m *maps.Maps, kind string, n int) (MapLoadResult, error) {
	r := MapLoadResult{Kind: kind, Ports: n}
	start := time.Now()
	if kind == "remote-batch" {
		fdb := make([]maps.FDBRow, n)
		arp := make([]maps.ARPRow, n)
		for i := range n {
			fdb[i] = remoteFDB(i)
			arp[i] = maps.ARPRow{NetID: netOf(i), IP: portIP(i), MAC: portMAC(i)}
		}
		if err := errors.Join(m.PutFDBs(fdb), m.PutARPs(arp)); err != nil {
			return r, err
		}
		r.Entries = 2 * n
	}
	for i := range n {
		if kind == "remote-batch" {
			break
		}
		arp := maps.ARPRow{NetID: netOf(i), IP: portIP(i), MAC: portMAC(i)}
		if kind == "remote" {
			if err := m.PutFDB(remoteFDB(i)); err != nil {
				return r, err
			}
			if err := m.PutARP(arp); err != nil {
				return r, err
			}
			r.Entries += 2
			continue
		}
		row := localRow(i)
		for _, err := range []error{
			m.PutPortMAC(maps.PortMACRow{Ifindex: row.Ifindex, MAC: row.MAC}),
			m.PutPortAddr(maps.PortAddrRow{Ifindex: row.Ifindex, Prefix: netip.PrefixFrom(portIP(i), 32), MAC: row.MAC}),
			m.PutFDB(maps.FDBRow{NetID: row.NetID, MAC: row.MAC, Ifindex: row.Ifindex}),
			m.PutARP(arp),
			m.PutPort(row),
		} {
			if err != nil {
				return r, err
			}
		}
		r.Entries += 5
	}
	r.PutSeconds = time.Since(start).Seconds()
	start = time.Now()
	for i := range n {
		row := localRow(i)
		errs := []error{m.DeleteFDB(netOf(i), portMAC(i)), m.DeleteARP(netOf(i), portIP(i))}
		if kind == "local" {
			errs = append(errs, m.DeletePort(row.Ifindex),
				m.DeletePortAddr(row.Ifindex, netip.PrefixFrom(portIP(i), 32)),
				m.DeletePortMAC(maps.PortMACRow{Ifindex: row.Ifindex, MAC: row.MAC}))
		}
		if err := errors.Join(errs...); err != nil {
			return r, err
		}
	}
	r.DelSeconds = time.Since(start).Seconds()
	r.UsPerPort = r.PutSeconds * 1e6 / float64(n)
	r.PortsPerS = float64(n) / r.PutSeconds
	return r, nil
}

// fillToLimit fills an empty map to its capacity and tries one more.
func fillToLimit(m *maps.Maps, name string, fill func(i int) error) (MapLimit, error) {
	rows, err := m.MapRows()
	if err != nil {
		return MapLimit{}, err
	}
	lim := MapLimit{Map: name}
	for _, r := range rows {
		if r.Name == name {
			lim.Capacity = r.Capacity
		}
	}
	if lim.Capacity == 0 {
		return lim, fmt.Errorf("map %s not found", name)
	}
	for i := range lim.Capacity + 1 {
		if err := fill(i); err != nil {
			lim.Error = err.Error()
			break
		}
		lim.Filled++
	}
	return lim, nil
}
