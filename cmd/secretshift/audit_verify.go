package main

import (
	"errors"
	"fmt"
	"io"

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

Exit status: 0 when every file verifies, 5 when verification fails, 1 when a file or key cannot be read.`,
		Example: `  secretshift audit verify
  secretshift audit verify --audit-log audit-2025-01.jsonl --audit-log audit.jsonl --public-key audit-signing.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditVerifyRun(f, opts) },
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
	out, err := audit.VerifySet(opts.Logs, audit.VerifySetOptions{
		Keys:              keys,
		Head:              opts.Head,
		NoHead:            opts.NoHead,
		AllowUnsignedTail: opts.AllowUnsignedTail,
	})
	if err != nil {
		return err
	}

	err = f.render(out, func() error {
		for _, r := range out.Logs {
			printVerifyResult(f.Out, r)
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
	if !out.OK {
		return withCode(ExitVerify, errors.New("audit log verification failed"))
	}
	return nil
}

func printVerifyResult(w io.Writer, r audit.FileReport) {
	if !r.OK {
		fmt.Fprintf(w, "%s: FAILED: %s\n", r.Log, r.Error)
		return
	}
	rep := r.Report
	fmt.Fprintf(w, "%s: OK: %s in %s, %s, signed through seq %d, key %s\n",
		r.Log, plural(rep.Records, "record"), plural(rep.Runs, "run"), plural(rep.Checkpoints, "checkpoint"), rep.SignedThrough, rep.PublicKeyID)
}
