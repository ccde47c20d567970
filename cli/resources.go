package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bnet-dev/bnet/api"
)

// resource is one collection of the Networking API v2.0.
type resource struct {
	singular, plural string
}

var (
	networks = resource{"network", "networks"}
	subnets  = resource{"subnet", "subnets"}
	ports    = resource{"port", "ports"}
	agents   = resource{"agent", "agents"}
)

// path is the collection's URL: Neutron spells its plural with dashes
// there (security_groups lives at /v2.0/security-groups).
func (r resource) path() string { return "/v2.0/" + strings.ReplaceAll(r.plural, "_", "-") }

// noun is how messages name the resource.
func (r resource) noun() string {
	if r == floatingIPs {
		return "floating IP"
	}
	return strings.ReplaceAll(r.singular, "_", " ")
}

func (r resource) item(id string) string { return r.path() + "/" + url.PathEscape(id) }

func client(c *cli.Context) *api.Client {
	return api.NewClient(global(c, "socket"))
}

// resolve turns NAME_OR_ID into an ID the way the neutron client does: a
// unique name wins, no match means the argument is taken as an ID (the agent
// then answers 404 if it is not one), several matches are an error.
func resolve(c *cli.Context, r resource, nameOrID string) (string, error) {
	if r == floatingIPs {
		return resolveFIP(c, nameOrID) // floating IPs have addresses, not names
	}
	var body map[string][]struct {
		ID string `json:"id"`
	}
	q := url.Values{"name": {nameOrID}}
	if err := client(c).Do(c.Context, "GET", r.path()+"?"+q.Encode(), nil, &body); err != nil {
		return "", fmt.Errorf("look up %s %q: %w", r.noun(), nameOrID, err)
	}
	switch found := body[r.plural]; len(found) {
	case 0:
		return nameOrID, nil
	case 1:
		return found[0].ID, nil
	default:
		return "", fmt.Errorf("multiple %ss named %s, use the ID", r.noun(), nameOrID)
	}
}

// list GETs a collection and prints it raw (-o json) or as rows.
func list[T any](c *cli.Context, r resource, query url.Values, headers []string, row func(T) []string) error {
	if err := noArgs(c); err != nil {
		return err
	}
	return listQuery(c, r, query, headers, row)
}

// listQuery is list for a command whose arguments made query.
func listQuery[T any](c *cli.Context, r resource, query url.Values, headers []string, row func(T) []string) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	path := r.path()
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	var raw json.RawMessage
	if err := client(c).Do(c.Context, "GET", path, nil, &raw); err != nil {
		return fmt.Errorf("list %s: %w", r.plural, err)
	}
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	var body map[string][]T
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("decode %s: %w", r.plural, err)
	}
	rows := make([][]string, 0, len(body[r.plural]))
	for _, item := range body[r.plural] {
		rows = append(rows, row(item))
	}
	return table(out, headers, rows)
}

func show(c *cli.Context, r resource) error {
	raw, asJSON, err := fetchOne(c, r, strings.ToUpper(r.singular)+" name or ID")
	if err != nil {
		return err
	}
	return printOne(c, r, raw, asJSON)
}

// fetchOne is what every show does first: -o, the one NAME_OR_ID argument
// (described as what), resolved, and the agent's body for it.
func fetchOne(c *cli.Context, r resource, what string) (json.RawMessage, bool, error) {
	asJSON, err := outputJSON(c)
	if err != nil {
		return nil, false, err
	}
	arg, err := oneArg(c, what)
	if err != nil {
		return nil, false, err
	}
	id, err := resolve(c, r, arg)
	if err != nil {
		return nil, false, err
	}
	var raw json.RawMessage
	if err := client(c).Do(c.Context, "GET", r.item(id), nil, &raw); err != nil {
		return nil, false, fmt.Errorf("show %s %s: %w", r.noun(), arg, err)
	}
	return raw, asJSON, nil
}

func create(c *cli.Context, r resource, attrs map[string]any) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	body := map[string]any{r.singular: attrs}
	if err := client(c).Do(c.Context, "POST", r.path(), body, &raw); err != nil {
		return fmt.Errorf("create %s: %w", r.singular, err)
	}
	if !asJSON {
		fmt.Fprintf(getEnv(c).stdout, "Created a new %s:\n", r.singular)
	}
	return printOne(c, r, raw, asJSON)
}

func remove(c *cli.Context, r resource) error {
	asJSON, err := outputJSON(c)
	if err != nil {
		return err
	}
	arg, err := oneArg(c, strings.ToUpper(r.singular)+" name or ID")
	if err != nil {
		return err
	}
	id, err := resolve(c, r, arg)
	if err != nil {
		return err
	}
	if err := client(c).Do(c.Context, "DELETE", r.item(id), nil, nil); err != nil {
		return fmt.Errorf("delete %s %s: %w", r.noun(), arg, err)
	}
	if !asJSON {
		fmt.Fprintf(getEnv(c).stdout, "Deleted %s: %s\n", r.noun(), arg)
	}
	return nil
}

// printOne prints {"<singular>": {...}} raw, or its fields as a table.
func printOne(c *cli.Context, r resource, raw json.RawMessage, asJSON bool) error {
	out := getEnv(c).stdout
	if asJSON {
		return printRaw(out, raw)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("decode %s: %w", r.singular, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body[r.singular]))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("decode %s: %w", r.singular, err)
	}
	return showTable(out, obj)
}

// crud returns the list/show/delete subcommands every resource has.
func crud(r resource, listCmd *cli.Command) []*cli.Command {
	arg := strings.ToUpper(r.singular) + "_NAME_OR_ID"
	return []*cli.Command{
		listCmd,
		{
			Name:      "show",
			Usage:     "show one " + r.singular,
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return show(c, r) },
		},
		{
			Name:      "delete",
			Usage:     "delete a " + r.singular,
			ArgsUsage: arg,
			Action:    func(c *cli.Context) error { return remove(c, r) },
		},
	}
}
