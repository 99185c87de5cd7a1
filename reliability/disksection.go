package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretshift/secretshift/reliability/disk"
)

// diskSecrets is the size of the disk cases' corpus.
const diskSecrets = 300

// DiskSection runs the disk-fault cases (package disk) against SOPS files. bin is the
// secretshift binary under test, scratch a folder for the cases' working folders. Each fault
// is a case; it passes when the faulted run failed with an error, reported nothing done that
// is not durable, wrote nothing without its intent on record, leaked no value, and a re-run
// with the fault removed completed.
func DiskSection(bin, scratch string) Section {
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	s := Section{Name: "disk", Title: "Disk faults", Pass: true,
		Ran: fmt.Sprintf("For SOPS files: `secretshift migrate --to sops` of a corpus of %d Secret manifests (seed %d; every tenth holds a canary value) with, in turn, its audit log, journal or output folder on a tmpfs sized to hold half of what an unfaulted calibration run writes there (full disk), then each on an empty read-only tmpfs; mounts in a private mount namespace (unshare(1)). Each case checks: the run exits non-zero with an error; every Secret its `-o json` report calls done is a file `secretshift verify` accepts and has a migrate.write success or migrate.verify record in the log; every SOPS file has a migrate.write attempt record; no canary value, in clear or base64, in any output or file; then the same command with the fault removed exits 0, every Secret has its file, `secretshift verify` and `secretshift audit verify` exit 0.", diskSecrets, seed)}
	dir := filepath.Join(scratch, "disk")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.Pass = false
		s.Markdown = fmt.Sprintf("**error:** %v\n", err)
		return s
	}
	// The cases' folders hold decryptable stores: nothing of them is kept.
	defer os.RemoveAll(dir)
	fmt.Fprintf(os.Stderr, "disk: %d cases of %d Secrets\n", len(disk.Cases), diskSecrets)
	res := disk.Run(disk.Options{Bin: bin, Dir: dir, Secrets: diskSecrets, Seed: seed})
	s.Cases = len(disk.Cases)
	s.Passed = res.Passed
	s.Failed = s.Cases - res.Passed
	s.Pass = res.Pass()
	s.Markdown = diskMarkdown(res)
	s.Details = res
	s.Seconds = time.Since(start).Seconds()
	return s
}

// diskMarkdown is the table of the cases.
func diskMarkdown(r *disk.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d cases passed.\n\n", r.Passed, len(disk.Cases))
	if r.Error != "" {
		fmt.Fprintf(&b, "**error:** %s\n", r.Error)
		return b.String()
	}
	fmt.Fprintf(&b, "An unfaulted run of %d Secrets wrote %d KiB to the audit folder, %d KiB to the journal folder and %d KiB to the output folder (in whole pages).\n\n",
		r.Secrets, r.Written[disk.AuditLog]/1024, r.Written[disk.Journal]/1024, r.Written[disk.Output]/1024)
	b.WriteString("| case | fault | exit code | last error line | reported done / durable | files / intents | re-run | verdict |\n")
	b.WriteString("|---|---|---:|---|---|---|---|---|\n")
	for _, c := range r.Cases {
		fault := fmt.Sprintf("%s folder read-only", c.Folder)
		if c.Fault == disk.Full {
			fault = fmt.Sprintf("%s folder on a %d KiB tmpfs", c.Folder, c.SizeKiB)
		}
		// The error is the line secretshift prefixes with its name; hints follow it.
		last := ""
		for _, l := range c.LastErrors {
			if last == "" || strings.HasPrefix(l, "secretshift:") {
				last = l
			}
		}
		done := fmt.Sprintf("%d / %d (%d on record)", c.ReportedDone, c.Durable, c.Recorded)
		if !c.Report {
			done = "no report"
		}
		rerun := fmt.Sprintf("exit %d: %s; missing %d; verify %d; audit verify %d", c.RerunExit, counts(c.RerunCounts), c.Missing, c.VerifyExit, c.AuditVerifyExit)
		verdict := "pass"
		if !c.Pass {
			verdict = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d / %d (%d outcomes in the log) | %s | %s |\n",
			c.Name, fault, c.Exit, cell(last), done, c.Files, c.WithIntent, c.OutcomesOnRecord, rerun, verdict)
	}
	b.WriteString("\nLast stderr lines of each faulted run (checked for canary values):\n")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "\n- %s:", c.Name)
		for _, l := range c.LastErrors {
			fmt.Fprintf(&b, "\n  - `%s`", strings.ReplaceAll(l, "`", "'"))
		}
		if c.ItemError != "" {
			fmt.Fprintf(&b, "\n  - first failed item in the report: `%s`", strings.ReplaceAll(c.ItemError, "`", "'"))
		}
		if c.FaultedAuditVerify != "" {
			fmt.Fprintf(&b, "\n  - `secretshift audit verify` of the log the faulted run left: %s; with --no-head --allow-unsigned-tail: %s", c.FaultedAuditVerify, c.FaultedAuditVerifyTail)
		}
	}
	for _, c := range r.Cases {
		for _, p := range c.Problems {
			fmt.Fprintf(&b, "\n- %s: %s", c.Name, p)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// cell makes s safe in a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
