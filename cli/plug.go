package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/model"
)

// plugCommands are the VIF plugging steps Nova does on a compute node: bind
// a port created through the API (by `openstack port create`, say) to a
// namespace or device on the node this CLI talks to, and undo it.
func plugCommands() []*cli.Command {
	return []*cli.Command{{
		Name:      "plug",
		Usage:     "plug a port into a network namespace (--netns) or an existing device (--device) on this node",
		ArgsUsage: "PORT_NAME_OR_ID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "netns", Usage: "network namespace standing in for a VM (created if missing)"},
			&cli.StringFlag{Name: "device", Usage: "existing tap or veth to adopt"},
		},
		Action: portPlug,
	}, {
		Name:      "unplug",
		Usage:     "detach a port from its namespace or device; the port itself stays",
		ArgsUsage: "PORT_NAME_OR_ID",
		Action:    portUnplug,
	}}
}

// boundPort is what plug/unplug (and port update, for the project its
// security groups are looked up in) need of a port.
type boundPort struct {
	ID        string            `json:"id"`
	ProjectID string            `json:"project_id"`
	HostID    string            `json:"binding:host_id"`
	Profile   map[string]string `json:"binding:profile"`
}

func getPort(c *cli.Context, arg string) (boundPort, error) {
	id, err := resolve(c, ports, arg)
	if err != nil {
		return boundPort{}, err
	}
	var body struct {
		Port boundPort `json:"port"`
	}
	if err := client(c).Do(c.Context, "GET", ports.item(id), nil, &body); err != nil {
		return boundPort{}, fmt.Errorf("port %s: %w", arg, err)
	}
	return body.Port, nil
}

func portPlug(c *cli.Context) error {
	arg, err := oneArg(c, "PORT name or ID")
	if err != nil {
		return err
	}
	netns, dev := c.String("netns"), c.String("device")
	if (netns == "") == (dev == "") {
		return errors.New("port plug: exactly one of --netns or --device is required")
	}
	p, err := getPort(c, arg)
	if err != nil {
		return fmt.Errorf("port plug: %w", err)
	}
	node, err := client(c).Node(c.Context)
	if err != nil {
		return fmt.Errorf("port plug: %w", err)
	}
	// A namespace or device name means something only on one node: the
	// port must be bound here, or unbound and then bound here.
	if p.HostID != "" && p.HostID != node {
		return fmt.Errorf("port plug: port %s is bound to host %s, not %s: plug it on %s (or move it with `openstack port set --host %s` first)",
			arg, p.HostID, node, p.HostID, node)
	}
	if p.Profile[model.ProfileNetns] != "" || p.Profile[model.ProfileDevice] != "" {
		return fmt.Errorf("port plug: port %s is already plugged (%s): unplug it first", arg, describeBinding(p.Profile))
	}
	prof := map[string]string{}
	for k, v := range p.Profile {
		prof[k] = v
	}
	if netns != "" {
		prof[model.ProfileNetns] = netns
	} else {
		prof[model.ProfileDevice] = dev
	}
	return updateBinding(c, p.ID, map[string]any{"binding:host_id": node, "binding:profile": prof})
}

func portUnplug(c *cli.Context) error {
	arg, err := oneArg(c, "PORT name or ID")
	if err != nil {
		return err
	}
	p, err := getPort(c, arg)
	if err != nil {
		return fmt.Errorf("port unplug: %w", err)
	}
	if p.Profile[model.ProfileNetns] == "" && p.Profile[model.ProfileDevice] == "" {
		return fmt.Errorf("port unplug: port %s is not plugged", arg)
	}
	prof := map[string]string{}
	for k, v := range p.Profile {
		if k != model.ProfileNetns && k != model.ProfileDevice {
			prof[k] = v
		}
	}
	return updateBinding(c, p.ID, map[string]any{"binding:profile": prof})
}

func updateBinding(c *cli.Context, id string, attrs map[string]any) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := client(c).Do(c.Context, "PUT", ports.item(id), map[string]any{"port": attrs}, &raw); err != nil {
		return fmt.Errorf("update port %s: %w", id, err)
	}
	return printOne(c, ports, raw, asJSON)
}

func describeBinding(prof map[string]string) string {
	if ns := prof[model.ProfileNetns]; ns != "" {
		return "netns=" + ns
	}
	if dev := prof[model.ProfileDevice]; dev != "" {
		return "device=" + dev
	}
	return ""
}
