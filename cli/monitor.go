package cli

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/api"
)

// monitorCommand streams the datapath's drops (and traces run) live from the agent (which
// owns the ring buffer), one line each, until interrupted.
func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "stream datapath drops (and traces run) live: reason, port, addresses (the agent must run)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "port", Usage: "only drops counted against this port (name or ID; on this node)"},
			&cli.StringFlag{Name: "type", Usage: "event type: drop, trace or all", Value: "drop"},
		},
		Action: viewAction(func(c *cli.Context, asJSON bool) error {
			q := url.Values{}
			if t := c.String("type"); t != "all" {
				q.Set("type", t)
			}
			if p := c.String("port"); p != "" {
				id, err := resolve(c, ports, p)
				if err != nil {
					return err
				}
				q.Set("port", id)
			}
			out := getEnv(c).stdout
			return client(c).Stream(c.Context, "/bnet/monitor?"+q.Encode(), func(line json.RawMessage) error {
				if asJSON {
					_, err := fmt.Fprintf(out, "%s\n", line)
					return err
				}
				var e api.MonitorEvent
				if err := json.Unmarshal(line, &e); err != nil {
					return fmt.Errorf("monitor: bad event %q: %w", line, err)
				}
				if e.Type == "trace" {
					_, err := fmt.Fprintf(out, "%s trace %s %s %s -> %s: %s\n", e.Time, e.Port, e.Proto, e.Src, e.Dst, e.Reason)
					return err
				}
				where := e.Port
				if where == "" {
					where = fmt.Sprintf("ifindex %d", e.Ifindex)
				}
				_, err := fmt.Fprintf(out, "%s %s %-14s %s %s %s -> %s (%d bytes, %s -> %s)\n", e.Time, e.Type, e.Reason, where,
					e.Proto, e.Src, e.Dst, e.Len, e.SrcMAC, e.DstMAC)
				return err
			})
		}),
	}
}
