package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// manCommand prints bnet(8) in roff, made from the same command tree as
// --help, so the packaged man page cannot drift from the binary.
func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "print the bnet(8) man page (roff)",
		Hidden: true,
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			page, err := c.App.ToMan()
			if err != nil {
				return fmt.Errorf("man page: %w", err)
			}
			_, err = fmt.Fprint(getEnv(c).stdout, page)
			return err
		},
	}
}
