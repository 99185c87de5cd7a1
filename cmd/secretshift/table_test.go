package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
)

// writeCounter counts the Write calls reaching it: each is a system call on stdout.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

// A report of thousands of rows reaches stdout in 64 KiB blocks, not a write per cell (text/
// tabwriter's way), and aligned as before.
func TestReportTableWritesInBlocks(t *testing.T) {
	r := &migrate.Report{}
	for i := range 5000 {
		r.Items = append(r.Items, &migrate.ItemReport{Namespace: "team", Name: fmt.Sprintf("secret-%d", i), Result: migrate.ResultCreated,
			Target: &providers.Target{Address: fmt.Sprintf("secret/team/secret-%d", i)}, Version: "1", Verified: true})
	}
	var out writeCounter
	if err := writeReportTable(&out, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 5001 {
		t.Fatalf("%d lines, want 5001", len(lines))
	}
	if max := out.Len()/(64<<10) + 1; out.writes > max {
		t.Errorf("%d writes for %d bytes, want at most %d", out.writes, out.Len(), max)
	}
	// Aligned: every row's RESULT column starts where the header's does.
	col := strings.Index(lines[0], "RESULT")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], string(migrate.ResultCreated)) {
			t.Fatalf("row not aligned with the header:\n%s\n%s", lines[0], l)
		}
	}
}
