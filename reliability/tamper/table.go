package tamper

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Markdown renders the matrix as a table: kind of tampering → cases, detected.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fixture: %s (%d records). %d cases, %d detected, in %s.\n\n", r.Fixture, r.Records, r.Cases, r.Detected, r.Duration.Round(1e6))
	b.WriteString("| tampering | cases | detected | also through `audit verify` | first finding (count) |\n|---|---:|---:|---:|---|\n")
	for _, row := range r.Rows {
		kind := row.Kind
		if !row.InModel {
			kind += " †"
		}
		var f []string
		for _, k := range slices.Sorted(maps.Keys(row.Findings)) {
			f = append(f, fmt.Sprintf("%s (%d)", k, row.Findings[k]))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s |\n", kind, row.Cases, row.Detected, row.CLIChecked, strings.Join(f, ", "))
	}
	b.WriteString("\n† outside what audit/doc.go says verification detects; shown, not counted as passing.\n")
	for _, row := range r.Rows {
		if row.InModel && len(row.Missed) > 0 {
			fmt.Fprintf(&b, "\nUNDETECTED (%s): %s\n", row.Kind, strings.Join(row.Missed, "; "))
		}
		if len(row.CLIDisagree) > 0 {
			fmt.Fprintf(&b, "\nCLI DISAGREES (%s): %s\n", row.Kind, strings.Join(row.CLIDisagree, "; "))
		}
	}
	return b.String()
}
