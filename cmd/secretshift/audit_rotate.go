package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
)

type auditRotateOptions struct {
	Log  string
	To   string
	Keys auditKeyFlags
	Now  func() time.Time
}

func newAuditRotateCmd(f *factory) *cobra.Command {
	opts := &auditRotateOptions{Now: time.Now}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Archive the audit log and start a new file that continues its chain",
		Long: `Seal the audit log with a checkpoint, move it and its head file to --to (default:
audit-<UTC time>.jsonl beside it), and start a new log whose first record (audit.rotate) links to
the archived file's last record. Use it to bound file size or to start signing with a new key.
Verify the set with: secretshift audit verify --audit-log <archived> --audit-log <current>.

Exit status: 0 rotated; 1 the log cannot be sealed or moved (for example it does not verify at its
end, or the keys do not match it); 2 bad flags; 6 the new log cannot be written.`,
		Example: `  secretshift audit rotate
  secretshift audit rotate --to audit-2026-11.jsonl
  # start signing with new keys: the archive stays sealed by the old one
  secretshift audit keygen --dir new-keys && secretshift audit rotate --audit-signing-key new-keys/audit-signing.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditRotateRun(f, opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Log, "audit-log", audit.DefaultLogPath, "audit log file to rotate")
	fl.StringVar(&opts.To, "to", "", "path for the archived file")
	fl.StringVar(&opts.Keys.SigningKey, "audit-signing-key", "", "Ed25519 signing key file (default: $"+audit.EnvSigningKey+", "+audit.DefaultKeyDir+"/"+audit.SigningKeyFile+")")
	fl.StringVar(&opts.Keys.HMACKey, "fingerprint-key", "", "HMAC key file, to name it in checkpoints (default: $"+audit.EnvHMACKey+", "+audit.DefaultKeyDir+"/"+audit.HMACKeyFile+")")
	return cmd
}

func auditRotateRun(f *factory, opts *auditRotateOptions) error {
	signer, err := audit.LoadSigner(opts.Keys.SigningKey, f.Getenv)
	if err != nil {
		return err
	}
	fp, err := audit.LoadFingerprinter(opts.Keys.HMACKey, f.Getenv)
	if err != nil && !errors.Is(err, audit.ErrNoKey) {
		return err
	}
	rot, err := audit.Rotate(opts.Log, opts.To, audit.Options{Signer: signer, Fingerprinter: fp, Now: opts.Now})
	if err != nil {
		if errors.Is(err, audit.ErrUnavailable) {
			return withCode(ExitAudit, err)
		}
		return err
	}
	return f.render(rot, func() error {
		if _, err := fmt.Fprintf(f.Out, "archived %s to %s; %s continues its chain\n", rot.Log, rot.Archived, rot.Log); err != nil {
			return err
		}
		if rot.KeyChanged {
			fmt.Fprintf(f.status(), "%s is now signed by %s (the archive by %s): use the new keys for every later run "+
				"(--audit-signing-key and --fingerprint-key, $%s and $%s, or put them in %s), and give auditors the new public key; "+
				"`audit verify --public-key OLD.pub --public-key NEW.pub --audit-log %s --audit-log %s` checks both files and the link\n",
				rot.Log, rot.PublicKeyID, rot.PreviousPublicKeyID, audit.EnvSigningKey, audit.EnvHMACKey, audit.DefaultKeyDir, rot.Archived, rot.Log)
		}
		return nil
	})
}
