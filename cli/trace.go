package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/api"
)

// traceCommand is bnet's ofproto/trace: the packet a VM would send, run
// through the real programs against a copy of the live state and followed
// to the next node.
func traceCommand() *cli.Command {
	return &cli.Command{
		Name:  "trace",
		Usage: "follow the packet a port's VM would send through the datapath, node by node (changes nothing, sends nothing)",
		Description: `Builds the packet (ICMP echo, TCP SYN or UDP) the VM behind --port would send to
--dst, runs it through a tracing copy of this node's BPF programs bound to scratch
copies of the live maps (live maps, connection tracking and counters do not change),
and follows it over VXLAN or GRE to the next node, whose agent runs its own programs
on it. Each hop says whether it ran there or was computed from the replicated state.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "port", Usage: "the sending port (name or ID)", Required: true},
			&cli.StringFlag{Name: "dst", Usage: "destination IPv4 address", Required: true},
			&cli.StringFlag{Name: "src", Usage: "source IPv4 address (default: the port's own)"},
			&cli.StringFlag{Name: "proto", Usage: "icmp, tcp or udp", Value: "icmp"},
			&cli.UintFlag{Name: "sport", Usage: "source port (tcp/udp; default 40000)"},
			&cli.UintFlag{Name: "dport", Usage: "destination port (tcp/udp; default 80)"},
		},
		Action: viewAction(func(c *cli.Context, asJSON bool) error {
			if c.Uint("sport") > 65535 || c.Uint("dport") > 65535 {
				return fmt.Errorf("trace: ports are 1-65535")
			}
			q := api.TraceRequest{Port: c.String("port"), Dst: c.String("dst"), Src: c.String("src"), Proto: c.String("proto"),
				SPort: uint16(c.Uint("sport")), DPort: uint16(c.Uint("dport"))}
			if err := q.Check(); err != nil {
				return err
			}
			var rep api.TraceReport
			if err := client(c).Do(c.Context, "POST", "/bnet/trace", q, &rep); err != nil {
				return err
			}
			out := getEnv(c).stdout
			if asJSON {
				return printJSON(out, rep)
			}
			for i, h := range rep.Hops {
				prog := h.Program
				if prog == "" {
					prog = "-"
				}
				fmt.Fprintf(out, "%d. node %s, %s (%s)\n", i+1, h.Node, prog, h.How)
				fmt.Fprintf(out, "   packet: %s\n", h.Packet)
				for _, s := range h.Steps {
					fmt.Fprintf(out, "   %s\n", s)
				}
				if h.Out != "" {
					fmt.Fprintf(out, "   out: %s\n", h.Out)
				}
				fmt.Fprintf(out, "   => %s\n", h.Verdict)
			}
			fmt.Fprintf(out, "\nresult: %s\npath:   %s\n", rep.Result, strings.TrimSpace(rep.Path))
			return nil
		}),
	}
}
