package reliability

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretshift/secretshift/reliability/tamper"
)

// TamperSection runs the full tamper matrix over each fixture. bin is a secretshift binary:
// it writes the real migration's log and checks every case a second time through `audit
// verify`. An error is a fixture that could not be made or a control that did not verify.
//
// cliPerKind bounds the cases of each kind that also go through the binary (0: every case).
func TamperSection(bin, demoDir, scratch string, cliPerKind int) Section {
	start := time.Now()
	s := Section{Name: "tamper", Title: "Audit log tamper matrix", Pass: true,
		Ran: "Every kind of tampering on every record (each field edited with and without its hash recomputed, removed, added; deleted; forged and inserted; duplicated; every pair swapped; truncated at every boundary and inside every line; checkpoints and head files forged; rollbacks), each case checked with audit.VerifySet, and cases of each kind spread over it also with `secretshift audit verify` (exit 5), which must agree. Detected means verification failed."}
	var md strings.Builder
	var results []*tamper.Result
	fail := func(format string, a ...any) {
		s.Pass = false
		fmt.Fprintf(&md, "\n**error:** "+format+"\n", a...)
	}
	fixtures := []func(dir string) (*tamper.Fixture, error){
		func(dir string) (*tamper.Fixture, error) { return tamper.MigrationLog(bin, demoDir, dir) },
		func(dir string) (*tamper.Fixture, error) { return tamper.APILog(dir, 3, 8, 7) },
	}
	for i, mk := range fixtures {
		dir := filepath.Join(scratch, fmt.Sprintf("fixture-%d", i))
		cases := filepath.Join(scratch, fmt.Sprintf("cases-%d", i))
		if err := errorsOf(os.MkdirAll(dir, 0o700), os.MkdirAll(cases, 0o700)); err != nil {
			fail("%v", err)
			continue
		}
		f, err := mk(dir)
		if err != nil {
			fail("fixture %d: %v", i+1, err)
			continue
		}
		cs, err := tamper.Cases(f, true)
		if err != nil {
			fail("cases of %s: %v", f.Name, err)
			continue
		}
		res, err := tamper.Run(f, cs, tamper.Options{Dir: cases, Binary: bin, CLIPerKind: cliPerKind})
		if err != nil {
			fail("%s: %v", f.Name, err)
			continue
		}
		results = append(results, res)
		md.WriteString("\n" + res.Markdown())
		for _, row := range res.Rows {
			if !row.InModel {
				continue
			}
			s.Cases += row.Cases
			s.Passed += row.Detected
			s.Failed += row.Cases - row.Detected
		}
		if !res.Pass {
			s.Pass = false
		}
	}
	s.Markdown = md.String()
	s.Details = results
	s.Seconds = time.Since(start).Seconds()
	return s
}

func errorsOf(errs ...error) error { return errors.Join(errs...) }
