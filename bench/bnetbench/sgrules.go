package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"time"

	"github.com/bnet-dev/bnet/api"
)

// SGResult says what sgrules made.
type SGResult struct {
	Group   string  `json:"group_id"`
	Rules   int     `json:"rules"`
	Bulk    bool    `json:"bulk"`
	Seconds float64 `json:"seconds"`
}

// sgRules creates a security group holding n ingress rules, all of which
// sit on the path of traffic from the client prefix:
//
//   - one rule lets anything in from the client prefix (what the
//     benchmark's traffic matches);
//   - half of the others are TCP single ports from the client prefix, so
//     the class the datapath finds for a client address holds them all;
//   - the other half are UDP single ports from /32s elsewhere
//     (172.16.0.0/16), so the prefix trie grows with n.
//
// The group is the port's only group, so these rules are its whole policy.
// With -bulk the rules go in one bulk POST (Neutron's
// {"security_group_rules": [...]}), else one POST each.
func sgRules(args []string) (any, error) {
	fs := flag.NewFlagSet("sgrules", flag.ContinueOnError)
	socket := fs.String("socket", "", "agent API socket")
	name := fs.String("group", "", "name of the group to create")
	n := fs.Int("n", 1, "rules")
	client := fs.String("client", "", "the client prefix (CIDR) the benchmark's traffic comes from")
	bulk := fs.Bool("bulk", false, "create the rules in one bulk POST")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	pfx, err := netip.ParsePrefix(*client)
	if *socket == "" || *name == "" || *n < 1 || err != nil || *n > 30000 {
		return nil, errors.New("usage: sgrules -socket S -group NAME -n N (1..30000) -client CIDR")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := api.NewClient(*socket)
	start := time.Now()
	var g struct {
		SG struct {
			ID string `json:"id"`
		} `json:"security_group"`
	}
	if err := c.Do(ctx, "POST", "/v2.0/security-groups", map[string]any{"security_group": map[string]any{"name": *name}}, &g); err != nil {
		return nil, fmt.Errorf("create group %s: %w", *name, err)
	}
	attrsOf := func(i int) map[string]any {
		var attrs map[string]any
		switch {
		case i == 0:
			attrs = map[string]any{"remote_ip_prefix": pfx.Masked().String()}
		case i%2 == 1:
			p := 10000 + i
			attrs = map[string]any{"protocol": "tcp", "port_range_min": p, "port_range_max": p,
				"remote_ip_prefix": pfx.Masked().String()}
		default:
			p := 20000 + i
			attrs = map[string]any{"protocol": "udp", "port_range_min": p, "port_range_max": p,
				"remote_ip_prefix": fmt.Sprintf("172.16.%d.%d/32", i>>8&0xff, i&0xff)}
		}
		attrs["security_group_id"] = g.SG.ID
		attrs["direction"] = "ingress"
		attrs["ethertype"] = "IPv4"
		return attrs
	}
	if *bulk {
		all := make([]map[string]any, *n)
		for i := range all {
			all[i] = attrsOf(i)
		}
		if err := c.Do(ctx, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rules": all}, nil); err != nil {
			return nil, fmt.Errorf("bulk create of %d rules: %w", *n, err)
		}
	}
	for i := 0; i < *n && !*bulk; i++ {
		if err := c.Do(ctx, "POST", "/v2.0/security-group-rules", map[string]any{"security_group_rule": attrsOf(i)}, nil); err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
	}
	return SGResult{Group: g.SG.ID, Rules: *n, Bulk: *bulk, Seconds: time.Since(start).Seconds()}, nil
}
