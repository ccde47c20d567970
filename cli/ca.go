package cli

import (
	"fmt"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/config"
	"github.com/bnet-dev/bnet/identity"
)

// caCommand is the operator's cluster CA: it certifies each node's name and
// VTEP (the agent's identity config). The CA key never goes to a node.
func caCommand() *cli.Command {
	// A flag per command: urfave keeps per-parse state in the flag.
	dir := func() cli.Flag {
		return &cli.StringFlag{Name: "dir", Usage: "directory of the CA (ca.key, ca.crt)", Value: "."}
	}
	return &cli.Command{
		Name:  "ca",
		Usage: "cluster CA for node identities (signed records, certified VTEPs)",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "make a new cluster CA: DIR/ca.key (keep it off the nodes) and DIR/ca.crt (for every node)",
				Flags: []cli.Flag{dir()},
				Action: func(c *cli.Context) error {
					if err := noArgs(c); err != nil {
						return err
					}
					ca, err := identity.NewCA()
					if err != nil {
						return fmt.Errorf("ca init: %w", err)
					}
					d := c.String("dir")
					if err := identity.WriteCA(d, ca); err != nil {
						return fmt.Errorf("ca init: %w", err)
					}
					_, err = fmt.Fprintf(getEnv(c).stdout, "CA key:         %s (secret: keep it with the operator)\nCA certificate: %s (copy to every node, identity.ca)\n",
						filepath.Join(d, identity.CAKeyFile), filepath.Join(d, identity.CACertFile))
					return err
				},
			},
			{
				Name:      "issue",
				Usage:     "certify NODE with its VTEP: a new key OUT/NODE.key and certificate OUT/NODE.crt",
				ArgsUsage: "NODE",
				Flags: []cli.Flag{
					dir(),
					&cli.StringFlag{Name: "vtep", Usage: "the node's VTEP (its local_ip)"},
					&cli.StringFlag{Name: "out", Usage: "directory to write NODE.key and NODE.crt to", Value: "."},
				},
				Action: func(c *cli.Context) error {
					node, err := oneArg(c, "NODE")
					if err != nil {
						return err
					}
					if err := config.CheckNodeName(node); err != nil {
						return fmt.Errorf("ca issue: %w", err)
					}
					vtep := c.String("vtep")
					if vtep == "" {
						return fmt.Errorf("ca issue: --vtep is required (the local_ip of %s)", node)
					}
					if err := config.CheckVTEP(vtep); err != nil {
						return fmt.Errorf("ca issue: --vtep: %w", err)
					}
					ca, err := identity.LoadCA(c.String("dir"))
					if err != nil {
						return fmt.Errorf("ca issue: %w", err)
					}
					id, err := identity.Issue(ca, node, vtep)
					if err != nil {
						return fmt.Errorf("ca issue: %w", err)
					}
					kp, cp, err := identity.WriteIdentity(c.String("out"), id)
					if err != nil {
						return fmt.Errorf("ca issue: %w", err)
					}
					_, err = fmt.Fprintf(getEnv(c).stdout, "key:         %s (secret: only for %s, mode 0600)\ncertificate: %s (node %s, VTEP %s)\n",
						kp, node, cp, node, vtep)
					return err
				},
			},
		},
	}
}
