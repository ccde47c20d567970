// Command bnet is the bnet agent and its operator CLI in one binary.
package main

import (
	"os"

	"github.com/bnet-dev/bnet/cli"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(cli.Main(os.Args, version))
}
