package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

const noEntries = "No entries found."

// table prints rows under upper-case headers, or "No entries found." when
// there are none, the way cilium-dbg and calico-bpf do for map dumps.
func table(w io.Writer, headers []string, rows [][]string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, noEntries)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	upper := make([]string, len(headers))
	for i, h := range headers {
		upper[i] = strings.ToUpper(strings.ReplaceAll(h, "_", " "))
	}
	fmt.Fprintln(tw, strings.Join(upper, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// printRaw pretty-prints a response body byte for byte as the agent sent it,
// so `-o json` is exactly Neutron's body and scripts may rely on any field.
func printRaw(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("agent sent invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// showTable prints one resource as FIELD/VALUE rows in key order, as
// `neutron *-show` does; every field the agent returned is shown.
func showTable(w io.Writer, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k, cell(obj[k])})
	}
	return table(w, []string{"field", "value"}, rows)
}

// cell renders a decoded JSON value for a table cell.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case float64:
		return fmt.Sprint(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			if m, ok := e.(map[string]any); ok {
				parts[i] = compact(m)
			} else {
				parts[i] = cell(e)
			}
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		return compact(v)
	default:
		return fmt.Sprint(v)
	}
}

// compact renders an object as JSON on one line, as neutron does for
// fixed_ips and allocation_pools cells.
func compact(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(m)
	}
	return string(b)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
