package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
)

type auditExportOptions struct {
	Format   string
	Since    string
	Until    string
	Actions  []string
	Outcomes []string
	Logs     []string
	// Set are the arguments: logs (files, folders, globs) exported merged in time order.
	Set []string
	Now func() time.Time
}

func newAuditExportCmd(f *factory) *cobra.Command {
	opts := &auditExportOptions{Now: time.Now}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit records as JSON Lines, CSV, OCSF or CEF for a SIEM",
		Long: `Write the records of the audit log to stdout in one of these formats:

  jsonl  the log lines unchanged (an unfiltered export still verifies)
  csv    one row per record with a header; nested fields flattened or JSON-encoded
  ocsf   one OCSF 1.3.0 API Activity (class 6003) event per line
  cef    one ArcSight CEF line per record (send it through syslog)

Give logs as arguments instead of --audit-log — files, folders (every *.jsonl in them) or glob
patterns — to export a set of logs that each hold a chain of their own, such as the logs of the
shards of one sharded run: their records are merged in time order (equal times in the order of
the files). A merged jsonl export keeps every line as written but is not one chain, so it does
not verify; to keep that, export each log alone.

Export does not verify the log; run 'secretshift audit verify' first.

Exit status: 0 exported; 1 a log cannot be read or holds a line verify cannot parse; 2 bad flags.`,
		Example: `  secretshift audit export --format ocsf --since 24h > audit.ocsf.jsonl
  secretshift audit export --format csv --action 'migrate.*' --outcome failure
  secretshift audit export --format ocsf /var/lib/secretshift/audit/   # every shard's log, in time order`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.Flags().Changed("audit-log") {
				return usageError("give the logs either as --audit-log (the files of one chain, oldest first) or as arguments (a set of logs), not both")
			}
			opts.Set = args
			return auditExportRun(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Format, "format", string(audit.FormatJSONL), "jsonl, csv, ocsf or cef")
	fl.StringVar(&opts.Since, "since", "", "only records at or after this time (RFC 3339, a date, or a duration ago like 24h or 7d)")
	fl.StringVar(&opts.Until, "until", "", "only records before this time (RFC 3339, a date, or a duration ago)")
	fl.StringSliceVar(&opts.Actions, "action", nil, "only these actions; patterns like 'migrate.*' allowed (repeatable)")
	fl.StringSliceVar(&opts.Outcomes, "outcome", nil, "only these outcomes: success, failure, skipped, attempt (repeatable)")
	fl.StringArrayVar(&opts.Logs, "audit-log", []string{audit.DefaultLogPath}, "audit log file (repeat for rotated files, oldest first)")
	completeWords(cmd, "format", string(audit.FormatJSONL), string(audit.FormatCSV), string(audit.FormatOCSF), string(audit.FormatCEF))
	completeWords(cmd, "outcome", string(audit.OutcomeSuccess), string(audit.OutcomeFailure), string(audit.OutcomeSkipped), string(audit.OutcomeAttempt))
	return cmd
}

func auditExportRun(f *factory, opts *auditExportOptions) error {
	format, err := audit.ParseFormat(opts.Format)
	if err != nil {
		return usageError("%v", err)
	}
	filter := audit.Filter{Actions: opts.Actions}
	now := opts.Now()
	if filter.Since, err = parseTimeFlag(opts.Since, now); err != nil {
		return usageError("--since: %v", err)
	}
	if filter.Until, err = parseTimeFlag(opts.Until, now); err != nil {
		return usageError("--until: %v", err)
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Since.Before(filter.Until) {
		return usageError("--since %s is not before --until %s: no record could match", filter.Since.UTC().Format(time.RFC3339), filter.Until.UTC().Format(time.RFC3339))
	}
	for _, o := range opts.Outcomes {
		out := audit.Outcome(strings.ToLower(o))
		if !out.Valid() {
			return usageError("--outcome %q: use success, failure, skipped or attempt", o)
		}
		filter.Outcomes = append(filter.Outcomes, out)
	}

	eopts := audit.ExportOptions{
		Format:         format,
		Filter:         filter,
		ProductVersion: currentVersion().Version,
	}
	var n int
	if len(opts.Set) > 0 {
		logs, ferr := audit.FindLogs(opts.Set)
		if ferr != nil {
			return ferr
		}
		n, err = audit.ExportMerged(f.Out, logs, eopts)
	} else {
		n, err = audit.ExportFiles(f.Out, opts.Logs, eopts)
	}
	if err != nil {
		return err
	}
	if f.Verbose > 0 {
		fmt.Fprintf(f.status(), "exported %d records\n", n)
	}
	return nil
}

// parseTimeFlag accepts RFC 3339, a date (YYYY-MM-DD, UTC) or a duration before now: Go's
// (90m, 24h) or a number of days or weeks (7d, 2w).
func parseTimeFlag(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		if k, err := strconv.Atoi(s[:n-1]); err == nil && k >= 0 && k <= 100*366 {
			days := k
			if s[n-1] == 'w' {
				days = 7 * k
			}
			return now.AddDate(0, 0, -days), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date or a duration (24h, 7d, 2w)", s)
}
