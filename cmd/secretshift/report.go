package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
)

func writePlanTable(out io.Writer, p *migrate.Plan) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tACTION\tTARGET\tKEYS\tFINGERPRINT\tREASON")
	for _, it := range p.Items {
		reason := it.Reason
		if it.Message != "" && it.Action == migrate.ActionConflict {
			reason = it.Message
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.Namespace, it.Name, it.Action, targetAddress(it.Target), len(it.Keys), audit.ShortFingerprint(it.Fingerprint), dash(reason))
	}
	return tw.Flush()
}

func writeReportTable(out io.Writer, r *migrate.Report) error {
	tw := newTable(out)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tRESULT\tTARGET\tVERSION\tVERIFIED\tDETAIL")
	for _, it := range r.Items {
		detail := it.Error
		if detail == "" {
			detail = it.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Namespace, it.Name, it.Result, targetAddress(it.Target), dash(it.Version), verifiedBy(it), dash(firstLine(detail)))
	}
	return tw.Flush()
}

// verifiedBy is the VERIFIED column: how the target was compared with its source ("content":
// every byte read back; "recorded-fingerprint": only the fingerprint recorded at write time),
// or "no".
func verifiedBy(it *migrate.ItemReport) string {
	switch {
	case !it.Verified:
		return "no"
	case it.Check == "":
		return "yes"
	}
	return string(it.Check)
}

func targetAddress(t *providers.Target) string {
	if t == nil {
		return "-"
	}
	return t.Address
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func planSummary(s migrate.Summary) string {
	return fmt.Sprintf("plan: %d to create, %d to update, %d unchanged, %d skipped, %d conflicts", s.Create, s.Update, s.Unchanged, s.Skip, s.Conflict)
}

func reportSummary(r *migrate.Report) string {
	var parts []string
	for _, res := range []migrate.Result{migrate.ResultCreated, migrate.ResultUpdated, migrate.ResultUnchanged, migrate.ResultDone,
		migrate.ResultWouldCreate, migrate.ResultWouldUpdate, migrate.ResultVerified, migrate.ResultSkipped,
		migrate.ResultConflict, migrate.ResultMismatch, migrate.ResultMissing, migrate.ResultFailed} {
		if n := r.Counts[res]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, res))
		}
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	verb := "migrate to"
	if r.Kind == migrate.VerifyReportKind {
		verb = "verify against"
	}
	if r.DryRun {
		verb = "dry run of migrate to"
	}
	return fmt.Sprintf("%s %s in %s: %s", verb, r.Provider, r.Duration, strings.Join(parts, ", "))
}

// progressBar adapts a terminal progress bar to job.Progress.
type progressBar struct{ bar *progressbar.ProgressBar }

func (p *progressBar) Start(total int) { p.bar.ChangeMax(total) }
func (p *progressBar) Done()           { _ = p.bar.Add(1) }
func (p *progressBar) Finish()         { _ = p.bar.Finish(); _ = p.bar.Clear() }

// progress returns a bar on stderr when it is a terminal and stdout is not for machines.
func (f *factory) progress(total int, what string) *progressBar {
	if !isTerminal(f.ErrOut) || f.machineOutput() {
		return nil
	}
	return &progressBar{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(f.ErrOut), progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))}
}
