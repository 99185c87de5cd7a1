// Package brief words what the reliability sections report: lists of Secret names and the last
// lines of a command's output.
package brief

import (
	"fmt"
	"slices"
	"strings"
)

// Names lists up to five Secret names, sorted, and how many more there are.
func Names(refs []string) string {
	refs = slices.Clone(refs)
	slices.Sort(refs)
	if len(refs) > 5 {
		return strings.Join(refs[:5], ", ") + fmt.Sprintf(" and %d more", len(refs)-5)
	}
	return strings.Join(refs, ", ")
}

// LastLines is the last n non-empty lines of b, trimmed.
func LastLines(b []byte, n int) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// LastLine is the last non-empty line of b, or "".
func LastLine(b []byte) string {
	if l := LastLines(b, 1); len(l) > 0 {
		return l[0]
	}
	return ""
}
