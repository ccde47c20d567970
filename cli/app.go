// Package cli is the `bnet` command line: the agent runner, a client of the
// agent's Neutron-shaped API, and read-only views of the pinned BPF maps.
//
// Everything writes to the io.Writers handed to NewApp so that each command
// can be run and checked from a test without touching os.Stdout.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/api"
)

// Defaults shared with the agent's config; an operator overrides them with
// flags or BNET_* variables.
const (
	DefaultSocket = "/run/bnet/bnet.sock"
	DefaultPinDir = "/sys/fs/bpf/bnet"
	DefaultConfig = "/etc/bnet/bnet.yaml"
)

// env holds what every command writes to. It lives in the app's Metadata so
// that actions stay plain functions of *cli.Context.
type env struct {
	stdout, stderr io.Writer
}

const envKey = "bnet.env"

func getEnv(c *cli.Context) *env {
	return c.App.Metadata[envKey].(*env)
}

// Main runs the CLI against the process's stdio and returns the exit code.
// SIGINT/SIGTERM cancel the context, which is what stops `bnet agent`.
func Main(args []string, version string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, NewApp(version, os.Stdout, os.Stderr), args)
}

// Run executes app and turns any error into "bnet: <message>" on the app's
// error writer and exit code 1.
func Run(ctx context.Context, app *cli.App, args []string) int {
	if err := app.RunContext(ctx, interspersed(app, args)); err != nil {
		fmt.Fprintf(app.ErrWriter, "bnet: %s\n", errorMessage(err))
		return 1
	}
	return 0
}

// errorMessage prefers the Neutron message of an API error: that is what an
// operator acts on, the HTTP status is noise next to it.
func errorMessage(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Message != "" {
		return ae.Message
	}
	return err.Error()
}

// NewApp builds the bnet command tree writing to stdout and stderr.
func NewApp(version string, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "bnet",
		Usage:                "OVS-free virtual networking for clouds",
		Version:              version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Metadata:             map[string]any{envKey: &env{stdout: stdout, stderr: stderr}},
		Flags:                globalFlags(true),
		// Errors are reported once, by Run; urfave must not exit the process.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			agentCommand(),
			networkCommand(),
			subnetCommand(),
			portCommand(),
			routerCommand(),
			fipCommand(),
			sgCommand(),
			fdbCommand(),
			arpCommand(),
			tunnelCommand(),
			routeCommand(),
			dvrMACCommand(),
			natCommand(),
			portsecCommand(),
			policyCommand(),
			ctCommand(),
			mapCommand(),
			dropCommand(),
			monitorCommand(),
			traceCommand(),
			keygenCommand(),
			manCommand(),
			caCommand(),
		},
	}
	app.OnUsageError = usageError
	for _, cmd := range app.Commands {
		prepare(cmd)
	}
	return app
}

// usageError keeps flag mistakes on stderr as one "bnet: ..." line instead of
// urfave's help dump on stdout, which would pollute `-o json` pipelines.
func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w (see --help)", err)
}

// prepare lets the global flags also be given after the subcommand
// (`bnet fdb list -o json`), which is how operators type them.
func prepare(cmd *cli.Command) {
	cmd.OnUsageError = usageError
	cmd.Flags = append(cmd.Flags, globalFlags(false)...)
	for _, sub := range cmd.Subcommands {
		prepare(sub)
	}
}

// globalFlags returns the root flags (with defaults and BNET_* variables) or
// their per-command copies, which carry neither so that an unset copy never
// shadows the root's value.
func globalFlags(root bool) []cli.Flag {
	def := func(v string) string {
		if root {
			return v
		}
		return ""
	}
	envs := func(v string) []string {
		if root {
			return []string{v}
		}
		return nil
	}
	return []cli.Flag{
		&cli.StringFlag{Name: "socket", Usage: "agent API unix socket", Value: def(DefaultSocket), EnvVars: envs("BNET_SOCKET"), DefaultText: DefaultSocket},
		&cli.StringFlag{Name: "pin-dir", Usage: "directory of the agent's pinned BPF maps", Value: def(DefaultPinDir), EnvVars: envs("BNET_PIN_DIR"), DefaultText: DefaultPinDir},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table or json", Value: def("table"), DefaultText: "table"},
	}
}

// global returns a global flag's value: the innermost command where it was
// given explicitly wins, else the root's (flag, env or default).
func global(c *cli.Context, name string) string {
	var root *cli.Context
	for _, ctx := range c.Lineage() {
		if ctx.Command == nil {
			continue
		}
		root = ctx
		for _, n := range ctx.LocalFlagNames() {
			if n == name {
				return ctx.String(name)
			}
		}
	}
	if root == nil {
		return ""
	}
	return root.String(name)
}

// outputJSON validates -o once so that every command rejects a typo the same way.
func outputJSON(c *cli.Context) (bool, error) {
	switch o := global(c, "output"); o {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, fmt.Errorf("unknown output format %q (want table or json)", o)
	}
}

// viewAction is the Action of a command that takes no arguments and
// prints what -o asks for.
func viewAction(fn func(c *cli.Context, asJSON bool) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		asJSON, err := outputJSON(c)
		if err != nil {
			return err
		}
		return fn(c, asJSON)
	}
}

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", c.Command.FullName(), c.Args().First())
	}
	return nil
}

func oneArg(c *cli.Context, what string) (string, error) {
	switch c.NArg() {
	case 1:
		return c.Args().First(), nil
	case 0:
		return "", fmt.Errorf("%s: missing %s", c.Command.FullName(), what)
	default:
		return "", fmt.Errorf("%s: unexpected argument %q", c.Command.FullName(), c.Args().Get(1))
	}
}

func twoArgs(c *cli.Context, first, second string) (string, string, error) {
	switch c.NArg() {
	case 2:
		return c.Args().Get(0), c.Args().Get(1), nil
	case 0:
		return "", "", fmt.Errorf("%s: missing %s", c.Command.FullName(), first)
	case 1:
		return "", "", fmt.Errorf("%s: missing %s", c.Command.FullName(), second)
	default:
		return "", "", fmt.Errorf("%s: unexpected argument %q", c.Command.FullName(), c.Args().Get(2))
	}
}
