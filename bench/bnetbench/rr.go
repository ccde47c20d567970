package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"
)

// Request/response over TCP, as netperf's TCP_RR and TCP_CRR do it: one
// transaction in flight at a time, so the rate is 1/latency and both say
// how long a small packet takes through the path and back.
//
//   - rr:  one connection, size bytes each way per transaction.
//   - crr: a new connection per transaction (connect, request, response,
//     close): every transaction is a new flow, which is what exercises a
//     stateful firewall's rule lookup instead of its connection table.
//
// The crr server closes first, so TIME_WAIT sits on the server side and
// the client's ephemeral ports never run out in a long run.

func rrServer(args []string) (any, error) {
	fs := flag.NewFlagSet("rr-server", flag.ContinueOnError)
	size := fs.Int("size", 1, "bytes per request and response")
	rrAddr := fs.String("rr", "", "ADDR: serve rr (transactions until the client closes)")
	crrAddr := fs.String("crr", "", "ADDR: serve crr (one transaction, then the server closes)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *rrAddr == "" && *crrAddr == "" || fs.NArg() != 0 {
		return nil, errors.New("usage: rr-server [-size N] [-rr ADDR] [-crr ADDR]")
	}
	errc := make(chan error, 2)
	for _, l := range []struct {
		addr string
		once bool
	}{{*rrAddr, false}, {*crrAddr, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return nil, err
		}
		go func() { errc <- serve(ln, *size, l.once) }()
	}
	return nil, <-errc
}

func serve(ln net.Listener, size int, once bool) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil || once {
					return
				}
			}
		}()
	}
}

// RRResult is one rr or crr run.
type RRResult struct {
	Mode         string  `json:"mode"`
	Size         int     `json:"size"`
	Seconds      float64 `json:"seconds"`
	Transactions int     `json:"transactions"`
	TPS          float64 `json:"tps"`
	Errors       int     `json:"errors"`
	Latency      Dist    `json:"latency"`
}

func rrClient(args []string) (any, error) {
	fs := flag.NewFlagSet("rr", flag.ContinueOnError)
	size := fs.Int("size", 1, "bytes per request and response")
	dur := fs.Duration("time", 5*time.Second, "how long to run")
	crr := fs.Bool("crr", false, "a new connection per transaction")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 1 {
		return nil, errors.New("usage: rr [-crr] [-size N] [-time D] ADDR")
	}
	addr := fs.Arg(0)
	req, resp := make([]byte, *size), make([]byte, *size)
	res := RRResult{Mode: "rr", Size: *size}
	lat := make([]time.Duration, 0, 1<<16)
	d := net.Dialer{Timeout: 2 * time.Second}
	var conn net.Conn
	if *crr {
		res.Mode = "crr"
	} else {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conn = c
	}
	start := time.Now()
	end := start.Add(*dur)
	for {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		var err error
		if *crr {
			err = crrOnce(d, addr, req, resp)
		} else {
			_ = conn.SetDeadline(t0.Add(2 * time.Second))
			if _, err = conn.Write(req); err == nil {
				_, err = io.ReadFull(conn, resp)
			}
		}
		if err != nil {
			res.Errors++
			if !*crr {
				// A lost connection ends an rr run: report what it got.
				break
			}
			if res.Errors > 100 && res.Errors > len(lat) {
				return nil, fmt.Errorf("%d failed transactions, last: %w", res.Errors, err)
			}
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	res.Seconds = time.Since(start).Seconds()
	res.Transactions = len(lat)
	res.TPS = float64(len(lat)) / res.Seconds
	res.Latency = summarize(lat)
	if len(lat) == 0 {
		return nil, fmt.Errorf("no transaction completed with %s (%d errors)", addr, res.Errors)
	}
	return res, nil
}

func crrOnce(d net.Dialer, addr string, req, resp []byte) error {
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, resp); err != nil {
		return err
	}
	// Wait for the server's close: TIME_WAIT stays on the server side,
	// so this port may be reused at once.
	var one [1]byte
	if _, err := c.Read(one[:]); err != io.EOF {
		return fmt.Errorf("crr: want the server's close, got %v", err)
	}
	return nil
}
