package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
)

// auditKeyFlags are the key file flags shared by the audit subcommands. Empty means: the
// environment variable, then the default key file.
type auditKeyFlags struct {
	HMACKey    string
	SigningKey string
}

func newAuditCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Create audit keys, verify, export and rotate the tamper-evident audit log",
		Long: `The audit log (default ` + audit.DefaultLogPath + `) records every action secretshift takes, one JSON
object per line. Records are hash-chained and sealed by Ed25519-signed checkpoints; secret values
never appear, only key names and keyed HMAC-SHA256 fingerprints.

Keys come from flags, else from environment variables holding the key file contents
(` + audit.EnvHMACKey + `, ` + audit.EnvSigningKey + `, ` + audit.EnvPublicKey + `),
else from ` + audit.DefaultKeyDir + `/.

Exit status: 0 success; 1 a file or key cannot be read or written; 2 bad flags; 5 audit verify
found the log altered.`,
		Example: `  secretshift audit keygen
  secretshift audit verify --public-key audit-signing.pub
  secretshift audit export --format ocsf --since 24h > audit.ocsf.jsonl
  secretshift audit rotate --to audit-2026-11.jsonl`,
	}
	cmd.AddCommand(
		newAuditKeygenCmd(f),
		newAuditVerifyCmd(f),
		newAuditExportCmd(f),
		newAuditFingerprintCmd(f),
		newAuditRotateCmd(f),
	)
	return cmd
}

// keygen

type auditKeygenOptions struct {
	Dir      string
	Log      string
	NoRecord bool
}

type keygenResult struct {
	Files            audit.KeyFiles `json:"files"`
	Created          []string       `json:"created"`
	PublicKeyID      string         `json:"publicKeyID"`
	FingerprintKeyID string         `json:"fingerprintKeyID"`
	RecordedIn       string         `json:"recordedIn,omitempty"`
}

func newAuditKeygenCmd(f *factory) *cobra.Command {
	opts := &auditKeygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create the audit HMAC key and Ed25519 signing key pair",
		Long: `Create an HMAC key for fingerprints (` + audit.HMACKeyFile + `, secret), an Ed25519 signing key
(` + audit.SigningKeyFile + `, secret) and its public key (` + audit.PublicKeyFile + `, share it with
whoever verifies the log). Existing key files are kept, never replaced (an HMAC key that plan created
on first use stays, so earlier fingerprints still match).

When the audit log does not exist yet (or is empty), an audit.keygen record naming the new key ids
starts it. Keep the signing key away from whoever could edit the log, for example only in CI secrets.

Exit status: 0 keys exist (created now or before); 1 a key file or the log cannot be written;
2 bad flags.`,
		Example: `  secretshift audit keygen
  secretshift audit keygen --dir /secure/keys --audit-log /var/log/secretshift/audit.jsonl
  # in CI, hand the keys over as variables holding their text:
  export SECRETSHIFT_AUDIT_SIGNING_KEY="$(cat .secretshift/keys/audit-signing.key)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return auditKeygenRun(cmd.Context(), f, opts) },
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", audit.DefaultKeyDir, "directory for the key files")
	cmd.Flags().StringVar(&opts.Log, "audit-log", audit.DefaultLogPath, "audit log to start with an audit.keygen record")
	cmd.Flags().BoolVar(&opts.NoRecord, "no-record", false, "do not write the audit.keygen record")
	return cmd
}

func auditKeygenRun(ctx context.Context, f *factory, opts *auditKeygenOptions) error {
	files, created, err := audit.Keygen(opts.Dir)
	if err != nil {
		return err
	}
	noEnv := func(string) string { return "" }
	signer, err := audit.LoadSigner(files.SigningKey, noEnv)
	if err != nil {
		return err
	}
	fp, err := audit.LoadFingerprinter(files.HMACKey, noEnv)
	if err != nil {
		return err
	}
	res := keygenResult{Files: files, Created: created, PublicKeyID: audit.PublicKeyID(signer.Public().(ed25519.PublicKey)), FingerprintKeyID: fp.KeyID()}

	if !opts.NoRecord {
		started, err := audit.RecordKeygen(ctx, opts.Log, audit.Options{Signer: signer, Fingerprinter: fp}, filepath.Dir(files.SigningKey))
		if err != nil {
			return withCode(ExitAudit, err)
		}
		if started {
			res.RecordedIn = opts.Log
		} else {
			fmt.Fprintf(f.status(), "note: %s already has records; not adding an audit.keygen record to it.\n"+
				"  If its checkpoints were signed with another key, start a new file with `secretshift audit rotate`.\n", opts.Log)
		}
	}

	return f.render(res, func() error {
		state := func(p string) string {
			if slices.Contains(created, p) {
				return "created"
			}
			return "kept"
		}
		fmt.Fprintf(f.Out, "hmac key:     %s (%s, %s)\n", files.HMACKey, state(files.HMACKey), res.FingerprintKeyID)
		fmt.Fprintf(f.Out, "signing key:  %s (%s)\n", files.SigningKey, state(files.SigningKey))
		fmt.Fprintf(f.Out, "public key:   %s (%s, %s)\n", files.PublicKey, state(files.PublicKey), res.PublicKeyID)
		if res.RecordedIn != "" {
			fmt.Fprintf(f.Out, "audit log:    %s (started with an audit.keygen record)\n", res.RecordedIn)
		}
		fmt.Fprintf(f.status(), "Keep %s and %s secret; share %s with verifiers.\n", files.HMACKey, files.SigningKey, files.PublicKey)
		return nil
	})
}
