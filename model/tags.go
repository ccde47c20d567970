package model

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxTagLen is Neutron's limit on one tag.
const MaxTagLen = 255

// NormalizeTags checks tags the way Neutron's tag extension does (non-empty,
// at most 255 characters, no comma: the list filters split on commas) and
// returns them sorted without duplicates, never nil.
func NormalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if t == "" || utf8.RuneCountInString(t) > MaxTagLen || strings.Contains(t, ",") || !utf8.ValidString(t) {
			return nil, badRequest("Invalid input for tags. Reason: '%s' is not a valid tag (1-%d characters, no comma).", t, MaxTagLen)
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
