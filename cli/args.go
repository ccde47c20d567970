package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

const completionFlag = "--generate-bash-completion"

// interspersed moves a command's positional arguments after its flags.
//
// urfave/cli v2 stops parsing flags at the first positional argument, so
// `bnet network create web --type vxlan` would lose --type; Neutron's own
// CLIs accept flags anywhere and operators type them that way.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	complete := len(rest) > 0 && rest[len(rest)-1] == completionFlag
	if complete {
		rest = rest[:len(rest)-1]
	}

	flags, cmds := app.Flags, app.Commands
	var positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case len(a) > 1 && a[0] == '-':
			out = append(out, a)
			if !strings.Contains(a, "=") && takesValue(flags, strings.TrimLeft(a, "-")) && i+1 < len(rest) {
				i++
				out = append(out, rest[i])
			}
		default:
			if len(positional) == 0 {
				if cmd := findCommand(cmds, a); cmd != nil {
					out = append(out, a)
					flags, cmds = cmd.Flags, cmd.Subcommands
					continue
				}
			}
			positional = append(positional, a)
		}
	}
	out = append(out, positional...)
	if complete {
		out = append(out, completionFlag)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func takesValue(flags []cli.Flag, name string) bool {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if v, ok := f.(cli.DocGenerationFlag); ok {
				return v.TakesValue()
			}
			return false
		}
	}
	return false
}
