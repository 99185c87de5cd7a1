package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/migrate"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/vault"
)

// auditFlags choose the audit log and its signing key for commands that change things.
type auditFlags struct {
	Log        string
	SigningKey string
}

func (a *auditFlags) bind(fl *pflag.FlagSet) {
	fl.StringVar(&a.Log, "audit-log", audit.DefaultLogPath, "append-only, hash-chained audit log")
	fl.StringVar(&a.SigningKey, "audit-signing-key", "", "Ed25519 key that signs audit checkpoints\n(default: $"+audit.EnvSigningKey+", else "+audit.DefaultKeyDir+"/"+audit.SigningKeyFile+", created with the other audit keys on first use)")
}

// open opens the audit log, fail-closed: when it cannot, the command stops before any write
// with ExitAudit. Audit keys are created on first use when none were given.
func (a *auditFlags) open(f *factory, fp *audit.Fingerprinter, runID string, p providers.Provider) (*audit.Log, error) {
	signer, err := audit.LoadSigner(a.SigningKey, f.Getenv)
	if errors.Is(err, audit.ErrNoKey) && a.SigningKey == "" {
		// New keys would sign a log that others already signed: nobody could verify it whole.
		if _, serr := os.Stat(audit.HeadPath(a.Log)); serr == nil {
			return nil, withCode(ExitAudit, fmt.Errorf("%w: %w: no signing key was given, and the audit log %s already exists, so new keys are not made for it\n"+
				"give the keys it was started with (--audit-signing-key, $%s and $%s, or the files in %s), or write to a new log with --audit-log",
				migrate.ErrAudit, audit.ErrNoKey, a.Log, audit.EnvSigningKey, audit.EnvHMACKey, audit.DefaultKeyDir))
		}
		files, created, kerr := audit.Keygen("")
		if kerr != nil {
			return nil, withCode(ExitAudit, fmt.Errorf("%w: create audit keys: %w", migrate.ErrAudit, kerr))
		}
		if len(created) > 0 {
			fmt.Fprintf(f.ErrOut, "created audit keys in %s: keep %s secret, share %s with auditors\n", audit.DefaultKeyDir, files.SigningKey, files.PublicKey)
		}
		signer, err = audit.LoadSigner(files.SigningKey, f.Getenv)
	}
	if err != nil {
		return nil, withCode(ExitAudit, migrate.AuditError(err))
	}
	actor := audit.CurrentActor()
	actor.KubeUser = f.kubeUser
	if vp, ok := p.(*vault.Provider); ok {
		id := vp.Identity()
		actor.VaultDisplayName, actor.VaultAccessor = id.DisplayName, id.Accessor
	}
	// A signed checkpoint every audit.DefaultCheckpointEvery records and at the end of every run.
	log, err := audit.Open(a.Log, audit.Options{Fingerprinter: fp, Signer: signer, RunID: runID, Actor: actor})
	if err != nil {
		if errors.Is(err, audit.ErrKeyMismatch) || errors.Is(err, audit.ErrTampered) {
			return nil, withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written", err))
		}
		return nil, withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written; fix the audit log location or permissions and run again", migrate.AuditError(err)))
	}
	if n := log.Recovered(); n > 0 {
		fmt.Fprintf(f.ErrOut, "the audit log %s ended with an incomplete record (%d bytes, from a run that stopped mid-write); it was cut off and the repair recorded (audit.recover)\n", a.Log, n)
	}
	return log, nil
}
