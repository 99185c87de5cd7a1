package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is the outcome of one run of the suite.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Commit is the source the suite ran on (git HEAD, "+dirty" with local changes).
	Commit    string    `json:"commit"`
	GoVersion string    `json:"goVersion"`
	Pass      bool      `json:"pass"`
	Sections  []Section `json:"sections"`
}

// Section is one part of the suite.
type Section struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Ran says what was run, in words (targets, fixtures, settings).
	Ran      string  `json:"ran"`
	Cases    int     `json:"cases"`
	Passed   int     `json:"passed"`
	Failed   int     `json:"failed"`
	Pass     bool    `json:"pass"`
	Seconds  float64 `json:"seconds"`
	Markdown string  `json:"-"`
	// Details are the section's own results (per target, per row), for machines.
	Details any `json:"details,omitempty"`
}

// Write writes reliability-report.md and reliability-report.json into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "reliability-report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "reliability-report.md"), []byte(r.Markdown()), 0o644)
}

// Markdown renders the report for people.
func (r *Report) Markdown() string {
	var b strings.Builder
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# secretshift reliability report: %s\n\n", verdict)
	fmt.Fprintf(&b, "Commit %s, %s, %s to %s (%s).\n\n", r.Commit, r.GoVersion, r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	b.WriteString("| section | cases | passed | failed | result | time |\n|---|---:|---:|---:|---|---:|\n")
	for _, s := range r.Sections {
		res := "pass"
		if !s.Pass {
			res = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %.0fs |\n", s.Title, s.Cases, s.Passed, s.Failed, res, s.Seconds)
	}
	b.WriteString("\nSections not listed did not run; nothing here is assumed to pass.\n")
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n\n%s\n", s.Title, s.Ran, strings.TrimSpace(s.Markdown))
	}
	return b.String()
}
