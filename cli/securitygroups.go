package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/model"
)

var (
	securityGroups     = resource{"security_group", "security_groups"}
	securityGroupRules = resource{"security_group_rule", "security_group_rules"}
)

func sgCommand() *cli.Command {
	arg := "SG_NAME_OR_ID"
	return &cli.Command{
		Name:    "sg",
		Aliases: []string{"security-group"},
		Usage:   "manage security groups: stateful allow rules for the ports in them (each project has a group named default)",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "create a security group (it starts with Neutron's two egress rules: out to anywhere, IPv4 and IPv6)",
			ArgsUsage: "NAME",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "description", Usage: "description"},
				&cli.StringFlag{Name: "project", Usage: "owning project ID", DefaultText: model.AdminProject},
			},
			Action: sgCreate,
		}, {
			Name:  "list",
			Usage: "list security groups",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "project", Usage: "only this project's groups (its default group is made if missing)"},
			},
			Action: sgList,
		}, {
			Name:      "show",
			Usage:     "show a security group and its rules",
			ArgsUsage: arg,
			Action:    sgShow,
		}, {
			Name:      "delete",
			Usage:     "delete a security group and its rules (no port may use it; a default group stays)",
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return remove(c, securityGroups) },
		}, {
			Name:  "rule",
			Usage: "manage the rules of security groups",
			Subcommands: []*cli.Command{{
				Name:      "add",
				Usage:     "add a rule allowing traffic to (ingress) or from (egress) the group's ports; prints the rule's ID",
				ArgsUsage: arg,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "direction", Usage: "ingress or egress (required)"},
					&cli.StringFlag{Name: "ethertype", Usage: "IPv4 or IPv6", DefaultText: "--remote-ip's family, else IPv4"},
					&cli.StringFlag{Name: "protocol", Usage: "tcp, udp, icmp, ... or an IP protocol number", DefaultText: "any"},
					&cli.IntFlag{Name: "port-min", Usage: "first port (tcp, udp, ...) or ICMP type"},
					&cli.IntFlag{Name: "port-max", Usage: "last port (tcp, udp, ...) or ICMP code"},
					&cli.StringFlag{Name: "remote-ip", Usage: "remote prefix (CIDR or address)", DefaultText: "any"},
					&cli.StringFlag{Name: "remote-group", Usage: "remote security group (name or ID): its ports' addresses"},
					&cli.StringFlag{Name: "description", Usage: "description"},
					&cli.StringFlag{Name: "from", Usage: "add the rules of FILE (\"-\": stdin) in one request, all or none: " +
						"a JSON list of Neutron rule objects ({\"direction\": \"ingress\", \"protocol\": \"tcp\", \"port_range_min\": 22, ...}); " +
						"excludes the other rule flags", TakesFile: true},
				},
				Action: sgRuleAdd,
			}, {
				Name:      "delete",
				Usage:     "delete a rule",
				ArgsUsage: "RULE_ID",
				Action:    sgRuleDelete,
			}, {
				Name:      "list",
				Usage:     "list the rules of every group, or of one",
				ArgsUsage: "[" + arg + "]",
				Action:    sgRuleList,
			}},
		}},
	}
}

func sgCreate(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	attrs := map[string]any{"name": name}
	if c.IsSet("description") {
		attrs["description"] = c.String("description")
	}
	if p := c.String("project"); p != "" {
		attrs["project_id"] = p
	}
	return create(c, securityGroups, attrs)
}

func sgList(c *cli.Context) error {
	var q url.Values
	if p := c.String("project"); p != "" {
		q = url.Values{"project_id": {p}}
	}
	return list(c, securityGroups, q, []string{"id", "name", "project", "rules", "description"},
		func(g model.SecurityGroup) []string {
			return []string{g.ID, g.Name, g.ProjectID, strconv.Itoa(len(g.SecurityGroupRules)), g.Description}
		})
}

// sgShow prints the group's attributes, then its rules as rows (as `sg
// rule list` does); -o json is the agent's body.
func sgShow(c *cli.Context) error {
	raw, asJSON, err := fetchOne(c, securityGroups, "SG name or ID")
	if err != nil {
		return err
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	var body struct {
		Group json.RawMessage `json:"security_group"`
	}
	var g struct {
		Rules []model.SecurityGroupRule `json:"security_group_rules"`
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("decode security group: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body.Group))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("decode security group: %w", err)
	}
	if err := json.Unmarshal(body.Group, &g); err != nil {
		return fmt.Errorf("decode security group rules: %w", err)
	}
	delete(obj, "security_group_rules")
	if err := showTable(out, obj); err != nil {
		return err
	}
	fmt.Fprintln(out)
	// The group's own ID would repeat on every row.
	rows := make([][]string, 0, len(g.Rules))
	for _, r := range g.Rules {
		row := ruleRow(r)
		rows = append(rows, append(row[:1:1], row[2:]...))
	}
	return table(out, []string{"rule id", "direction", "ethertype", "protocol", "ports", "remote", "description"}, rows)
}

var ruleHeaders = []string{"id", "security_group_id", "direction", "ethertype", "protocol", "ports", "remote", "description"}

// ruleRow renders a rule the way `policy list` renders what it compiled
// to: protocol and ports "any" when unrestricted, ICMP as type/code, the
// remote as a prefix, "group ID" or "any".
func ruleRow(r model.SecurityGroupRule) []string {
	proto := "any"
	if r.Protocol != nil {
		proto = *r.Protocol
	}
	ports := "any"
	n := r.Proto()
	switch {
	case r.PortRangeMin == nil && r.PortRangeMax == nil:
	case n == 1 || n == 58:
		ports = "type " + strconv.Itoa(*r.PortRangeMin)
		if r.PortRangeMax != nil {
			ports += " code " + strconv.Itoa(*r.PortRangeMax)
		}
	case r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == *r.PortRangeMax:
		ports = strconv.Itoa(*r.PortRangeMin)
	case r.PortRangeMin != nil && r.PortRangeMax != nil:
		ports = strconv.Itoa(*r.PortRangeMin) + "-" + strconv.Itoa(*r.PortRangeMax)
	}
	remote := "any"
	switch {
	case r.RemoteGroupID != nil:
		remote = "group " + *r.RemoteGroupID
	case r.RemoteIPPrefix != nil:
		remote = *r.RemoteIPPrefix
	}
	return []string{r.ID, r.SecurityGroupID, r.Direction, r.Ethertype, proto, ports, remote, orDash(r.Description)}
}

func sgRuleList(c *cli.Context) error {
	var q url.Values
	switch c.NArg() {
	case 0:
	case 1:
		id, err := resolve(c, securityGroups, c.Args().First())
		if err != nil {
			return err
		}
		q = url.Values{"security_group_id": {id}}
	default:
		return fmt.Errorf("%s: unexpected argument %q", c.Command.FullName(), c.Args().Get(1))
	}
	return listQuery(c, securityGroupRules, q, ruleHeaders, ruleRow)
}

func sgRuleAdd(c *cli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	arg, err := oneArg(c, "SG name or ID")
	if err != nil {
		return err
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("sg rule add: "+format, a...)
	}
	if c.IsSet("from") {
		return sgRuleAddFrom(c, arg, asJSON)
	}
	dir := c.String("direction")
	if dir != model.DirIngress && dir != model.DirEgress {
		return fail("--direction must be ingress or egress")
	}
	attrs := map[string]any{"direction": dir}
	var family string
	if ip := c.String("remote-ip"); ip != "" {
		if c.String("remote-group") != "" {
			return fail("--remote-ip and --remote-group exclude each other")
		}
		pfx, err := netip.ParsePrefix(ip)
		if err != nil {
			a, aerr := netip.ParseAddr(ip)
			if aerr != nil {
				return fail("bad --remote-ip %q: want a CIDR or an address", ip)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		attrs["remote_ip_prefix"] = pfx.String()
		family = model.EtherIPv4
		if !pfx.Addr().Is4() {
			family = model.EtherIPv6
		}
	}
	// Without --ethertype, the remote prefix's family, as the OpenStack
	// client does: a rule for ::/0 is an IPv6 rule.
	switch e := c.String("ethertype"); {
	case e == "":
		if family != "" {
			attrs["ethertype"] = family
		}
	case strings.EqualFold(e, model.EtherIPv4):
		attrs["ethertype"] = model.EtherIPv4
	case strings.EqualFold(e, model.EtherIPv6):
		attrs["ethertype"] = model.EtherIPv6
	default:
		return fail("--ethertype must be IPv4 or IPv6")
	}
	if p := c.String("protocol"); p != "" {
		if _, ok := model.ProtocolNumber(&p); !ok {
			return fail("unknown --protocol %q: want a name (tcp, udp, icmp, ...) or a number 0-255", p)
		}
		attrs["protocol"] = strings.ToLower(p)
	}
	for _, f := range []struct{ flag, attr string }{{"port-min", "port_range_min"}, {"port-max", "port_range_max"}} {
		if c.IsSet(f.flag) {
			if v := c.Int(f.flag); v < 0 || v > 65535 {
				return fail("--%s %d out of range", f.flag, v)
			}
			attrs[f.attr] = c.Int(f.flag)
		}
	}
	if c.IsSet("description") {
		attrs["description"] = c.String("description")
	}
	id, err := resolve(c, securityGroups, arg)
	if err != nil {
		return err
	}
	attrs["security_group_id"] = id
	if g := c.String("remote-group"); g != "" {
		rid, err := resolve(c, securityGroups, g)
		if err != nil {
			return err
		}
		attrs["remote_group_id"] = rid
	}
	var raw json.RawMessage
	body := map[string]any{securityGroupRules.singular: attrs}
	if err := client(c).Do(c.Context, "POST", securityGroupRules.path(), body, &raw); err != nil {
		return fmt.Errorf("add a rule to security group %s: %w", arg, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	var r struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"security_group_rule"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Rule.ID == "" {
		return errors.New("sg rule add: the agent answered without a rule id")
	}
	_, err = fmt.Fprintln(out, r.Rule.ID)
	return err
}

func sgRuleDelete(c *cli.Context) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	id, err := oneArg(c, "RULE ID")
	if err != nil {
		return err
	}
	// Rules have no names: the argument is the ID.
	if err := client(c).Do(c.Context, "DELETE", securityGroupRules.item(id), nil, nil); err != nil {
		return fmt.Errorf("delete security group rule %s: %w", id, err)
	}
	if !asJSON {
		fmt.Fprintf(getEnv(c).stdout, "Deleted security group rule: %s\n", id)
	}
	return nil
}

// sgFlag is --sg, repeatable: a security group (name or ID) for a port.
func sgFlag(usage string) cli.Flag {
	return &cli.GenericFlag{Name: "sg", Usage: usage, Value: &repeated{}}
}

// sgArgs returns the --sg values as given and whether --no-sg was, checked
// before anything is sent.
func sgArgs(c *cli.Context) (names []string, none bool, err error) {
	if r, _ := c.Generic("sg").(*repeated); r != nil {
		names = *r
	}
	none = c.Bool("no-sg")
	if len(names) > 0 && none {
		return nil, false, fmt.Errorf("%s: --sg and --no-sg exclude each other", c.Command.FullName())
	}
	return names, none, nil
}

// groupIDs turns security group names or IDs into IDs, names looked up in
// project (a port's groups are its project's, and every project has a
// group named default).
func groupIDs(c *cli.Context, names []string, project string) ([]string, error) {
	ids := make([]string, 0, len(names))
	for _, arg := range names {
		id, err := resolveIn(c, securityGroups, arg, project)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// resolveIn is resolve among the objects of one project ("" for all):
// every project has a group named "default".
func resolveIn(c *cli.Context, r resource, nameOrID, project string) (string, error) {
	if project == "" {
		return resolve(c, r, nameOrID)
	}
	var body map[string][]struct {
		ID string `json:"id"`
	}
	q := url.Values{"name": {nameOrID}, "project_id": {project}}
	if err := client(c).Do(c.Context, "GET", r.path()+"?"+q.Encode(), nil, &body); err != nil {
		return "", fmt.Errorf("look up %s %q: %w", r.noun(), nameOrID, err)
	}
	switch found := body[r.plural]; len(found) {
	case 0:
		return nameOrID, nil
	case 1:
		return found[0].ID, nil
	default:
		return "", fmt.Errorf("multiple %ss named %s in project %s, use the ID", r.noun(), nameOrID, project)
	}
}

// sgRuleAddFrom adds the rules of a file as one bulk request, which the
// agent checks whole and stores in one write: a thousand rules take one
// request and one reconcile instead of a thousand. It prints the new
// rules' IDs, one a line.
func sgRuleAddFrom(c *cli.Context, arg string, asJSON bool) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("sg rule add --from: "+format, a...)
	}
	for _, f := range []string{"direction", "ethertype", "protocol", "port-min", "port-max", "remote-ip", "remote-group", "description"} {
		if c.IsSet(f) {
			return fail("--from excludes --%s: put it in the file's rules", f)
		}
	}
	name := c.String("from")
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return fail("%w", err)
	}
	var rules []map[string]any
	if err := json.Unmarshal(b, &rules); err != nil {
		return fail("%s: want a JSON list of rule objects: %w", name, err)
	}
	if len(rules) == 0 {
		return fail("%s holds no rules", name)
	}
	id, err := resolve(c, securityGroups, arg)
	if err != nil {
		return err
	}
	for i, r := range rules {
		if r == nil {
			return fail("%s: rule %d is not an object", name, i)
		}
		if g, ok := r["security_group_id"]; ok && g != id {
			return fail("%s: rule %d names group %v, not %s", name, i, g, arg)
		}
		r["security_group_id"] = id
	}
	var raw json.RawMessage
	body := map[string]any{"security_group_rules": rules}
	if err := client(c).Do(c.Context, "POST", securityGroupRules.path(), body, &raw); err != nil {
		return fmt.Errorf("add %d rules to security group %s: %w", len(rules), arg, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	var made struct {
		Rules []struct {
			ID string `json:"id"`
		} `json:"security_group_rules"`
	}
	if err := json.Unmarshal(raw, &made); err != nil || len(made.Rules) != len(rules) {
		return fmt.Errorf("add rules to security group %s: unexpected answer %s", arg, raw)
	}
	for _, r := range made.Rules {
		fmt.Fprintln(out, r.ID)
	}
	return nil
}
