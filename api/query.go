package api

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Query parameters that are not attribute filters.
var notFilters = []string{"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse", "verbose"}

// fieldsOf returns the fields= selection (repeated or comma separated).
func fieldsOf(q url.Values) []string {
	var out []string
	for _, v := range q["fields"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

func hasFilters(q url.Values) bool {
	for k := range q {
		if !slices.Contains(notFilters, k) {
			return true
		}
	}
	return false
}

// toMap renders an object as its JSON attribute map.
func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// matches applies Neutron's attribute filters: every filtered attribute must
// equal one of its given values (exact match: the CLI resolves NAME-or-ID
// with ?name=). Attributes the resource lacks are ignored, as Neutron
// without strict filter validation does.
func matches(m map[string]any, q url.Values) bool {
	for k, vals := range q {
		if slices.Contains(notFilters, k) {
			continue
		}
		if slices.Contains(tagFilters, k) {
			if !matchTags(m["tags"], k, vals) {
				return false
			}
			continue
		}
		fv, ok := m[k]
		if !ok {
			continue
		}
		if k == "fixed_ips" {
			if !matchFixedIPs(fv, vals) {
				return false
			}
			continue
		}
		if !slices.ContainsFunc(vals, func(v string) bool { return valueMatches(fv, v) }) {
			return false
		}
	}
	return true
}

func valueMatches(fv any, v string) bool {
	switch x := fv.(type) {
	case nil:
		return v == "" || strings.EqualFold(v, "none") || v == "null"
	case string:
		return x == v
	case bool:
		b, err := strconv.ParseBool(strings.ToLower(v))
		return err == nil && b == x
	case float64:
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f == x
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return valueMatches(e, v) })
	}
	return false
}

// tagFilters are Neutron's tag query parameters; each takes a comma
// separated list (or repeats).
var tagFilters = []string{"tags", "tags-any", "not-tags", "not-tags-any"}

func matchTags(fv any, filter string, vals []string) bool {
	have := map[string]bool{}
	if l, ok := fv.([]any); ok {
		for _, t := range l {
			if s, ok := t.(string); ok {
				have[s] = true
			}
		}
	}
	var want []string
	for _, v := range vals {
		want = append(want, strings.Split(v, ",")...)
	}
	all, some := true, false
	for _, t := range want {
		all = all && have[t]
		some = some || have[t]
	}
	switch filter {
	case "tags":
		return all
	case "tags-any":
		return some
	case "not-tags":
		return !all
	default: // not-tags-any
		return !some
	}
}

// matchFixedIPs handles fixed_ips=ip_address=X / fixed_ips=subnet_id=Y:
// every condition must hold for some fixed IP of the port.
func matchFixedIPs(fv any, conds []string) bool {
	ips, _ := fv.([]any)
	for _, c := range conds {
		key, val, ok := strings.Cut(c, "=")
		if !ok {
			return false
		}
		if !slices.ContainsFunc(ips, func(e any) bool {
			m, _ := e.(map[string]any)
			s, _ := m[key].(string)
			return s == val
		}) {
			return false
		}
	}
	return true
}

// project keeps only the requested fields.
func project(m map[string]any, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return out
}

// render filters and projects objs for a list answer.
func render[T any](objs []T, q url.Values) []any {
	fields := fieldsOf(q)
	filtered := hasFilters(q)
	out := make([]any, 0, len(objs))
	for _, o := range objs {
		if !filtered && len(fields) == 0 {
			out = append(out, o)
			continue
		}
		m := toMap(o)
		if filtered && !matches(m, q) {
			continue
		}
		if len(fields) > 0 {
			m = project(m, fields)
		}
		out = append(out, m)
	}
	return out
}

// renderOne projects one object for a show answer.
func renderOne(obj any, q url.Values) any {
	if fields := fieldsOf(q); len(fields) > 0 {
		return project(toMap(obj), fields)
	}
	return obj
}
