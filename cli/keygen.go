package cli

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/urfave/cli/v2"
)

// keygenCommand prints a new gossip key for gossip.key_file: 32 random
// bytes (AES-256), base64, one line.
func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "print a new gossip key (for the file gossip.key_file names)",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return fmt.Errorf("keygen: %w", err)
			}
			_, err := fmt.Fprintln(getEnv(c).stdout, base64.StdEncoding.EncodeToString(k))
			return err
		},
	}
}
