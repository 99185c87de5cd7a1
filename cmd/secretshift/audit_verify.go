package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
)

type auditVerifyOptions struct {
	Logs              []string
	Head              string
	NoHead            bool
	AllowUnsignedTail bool
	Keys              auditKeyFlags
	// PublicKeys are --public-key files; each log file is checked with the one that signed it.
	PublicKeys []string
	// Set are the arguments: logs (files, folders, globs) of a chain each, verified as a set.
	Set []string
}

func newAuditVerifyCmd(f *factory) *cobra.Command {
	opts := &auditVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain, checkpoint signatures and head file",
		Long: `Verify every record of the audit log: its hash, the chain to the record before it, the sequence
numbers, and each checkpoint's Ed25519 signature. The head file (<log>.head) is compared with the
log, so removing whole runs from the end is detected too. Records after the last checkpoint (a run
that crashed) fail verification unless --allow-unsigned-tail is given.

Give --audit-log several times, oldest first, to verify rotated files and the links between them.
Give --public-key several times when the files were signed by different keys (audit rotate
can start a new file under new keys): each file is checked with the key that signed it.

Give logs as arguments instead — files, folders (every *.jsonl in them) or glob patterns — to
verify a set of logs that each hold a chain of their own, such as the logs of the shards of one
sharded run (--shard I/N, one --audit-log per shard): each file is verified alone against its
head file, with a line per file and a total. When the logs hold the runs of shards, the set must
also be one sharded run's, whole and consistent: every shard 0 to N-1 in exactly one log, all
with the same run parameters (source, store, fingerprint key, N), and no Secret written by two
shards.

Exit status: 0 when every file verifies, 5 when verification fails, 1 when a file or key cannot be read.`,
		Example: `  secretshift audit verify
  secretshift audit verify --audit-log audit-2025-01.jsonl --audit-log audit.jsonl --public-key audit-signing.pub
  secretshift audit verify /var/lib/secretshift/audit/            # the logs of every shard
  secretshift audit verify 'audit/audit-*.jsonl' -o json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.Flags().Changed("audit-log") {
				return usageError("give the logs either as --audit-log (the files of one chain, oldest first) or as arguments (a set of logs), not both")
			}
			if len(args) > 0 && opts.Head != "" {
				return usageError("--head works with exactly one --audit-log, not with a set of logs")
			}
			opts.Set = args
			return auditVerifyRun(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Logs, "audit-log", []string{audit.DefaultLogPath}, "audit log file (repeat for rotated files, oldest first)")
	fl.StringVar(&opts.Head, "head", "", "head file to compare with (default: <log>.head; only with one --audit-log)")
	fl.BoolVar(&opts.NoHead, "no-head", false, "do not require a head file (truncation of whole runs is then not detected)")
	fl.BoolVar(&opts.AllowUnsignedTail, "allow-unsigned-tail", false, "accept records after the last checkpoint (a run that did not finish)")
	fl.StringArrayVar(&opts.PublicKeys, "public-key", nil, "Ed25519 public key file, repeatable (default: the key text in $"+audit.EnvPublicKey+", else "+audit.DefaultKeyDir+"/"+audit.PublicKeyFile+")")
	fl.StringVar(&opts.Keys.SigningKey, "audit-signing-key", "", "derive the public key from this signing key when no public key is found")
	return cmd
}

func auditVerifyRun(f *factory, opts *auditVerifyOptions) error {
	if opts.Head != "" && len(opts.Logs) != 1 {
		return usageError("--head works with exactly one --audit-log")
	}
	if opts.Head != "" && opts.NoHead {
		return usageError("--head and --no-head exclude each other")
	}
	keys, err := audit.LoadVerifiers(opts.PublicKeys, opts.Keys.SigningKey, f.Getenv)
	if err != nil {
		return err
	}
	vopts := audit.VerifySetOptions{
		Keys:              keys,
		Head:              opts.Head,
		NoHead:            opts.NoHead,
		AllowUnsignedTail: opts.AllowUnsignedTail,
	}
	var out audit.SetReport
	if len(opts.Set) > 0 {
		logs, ferr := audit.FindLogs(opts.Set)
		if ferr != nil {
			return ferr
		}
		out, err = audit.VerifyLogs(logs, vopts)
	} else {
		out, err = audit.VerifySet(opts.Logs, vopts)
	}
	if err != nil {
		return err
	}

	err = f.render(out, func() error {
		for _, r := range out.Logs {
			printVerifyResult(f.Out, r)
		}
		if len(opts.Set) > 0 {
			printSetTotal(f.Out, out)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range out.Logs {
		if r.Warning != "" {
			fmt.Fprintf(f.ErrOut, "warning: %s: %s\n", r.Log, r.Warning)
		}
	}
	if s := out.Shards; s != nil && !s.OK {
		return withCode(ExitVerify, fmt.Errorf("the logs are not one whole sharded run: %s", strings.Join(s.Problems, "; ")))
	}
	if !out.OK {
		return withCode(ExitVerify, errors.New("audit log verification failed"))
	}
	return nil
}

func printVerifyResult(w io.Writer, r audit.FileReport) {
	name := r.Log
	if r.Shard != "" {
		name += " (shard " + r.Shard + ")"
	}
	if !r.OK {
		fmt.Fprintf(w, "%s: FAILED: %s\n", name, r.Error)
		return
	}
	rep := r.Report
	fmt.Fprintf(w, "%s: OK: %s in %s, %s, signed through seq %d, key %s\n",
		name, plural(rep.Records, "record"), plural(rep.Runs, "run"), plural(rep.Checkpoints, "checkpoint"), rep.SignedThrough, rep.PublicKeyID)
}

// printSetTotal sums up a set of logs: how many verified, their records, and the shard check.
func printSetTotal(w io.Writer, set audit.SetReport) {
	ok, records := 0, 0
	for _, r := range set.Logs {
		if r.OK {
			ok++
		}
		if r.Report != nil {
			records += r.Report.Records
		}
	}
	state := "OK"
	if ok < len(set.Logs) {
		state = fmt.Sprintf("FAILED: %d of them did not verify", len(set.Logs)-ok)
	}
	fmt.Fprintf(w, "total: %s, %s: %s\n", plural(len(set.Logs), "log"), plural(records, "record"), state)
	s := set.Shards
	if s == nil {
		return
	}
	if s.OK {
		fmt.Fprintf(w, "shards: OK: every shard of %d is in exactly one log, all of one run (%s), %s written, none by two shards\n",
			s.Count, s.SetID, plural(s.Written, "Secret"))
		return
	}
	for _, p := range s.Problems {
		fmt.Fprintf(w, "shards: FAILED: %s\n", p)
	}
}
