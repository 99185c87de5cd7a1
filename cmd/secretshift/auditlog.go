package main

import (
	"errors"
	"fmt"

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
		return nil, withCode(ExitAudit, fmt.Errorf("%w: %w", migrate.ErrAudit, err))
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
		return nil, withCode(ExitAudit, fmt.Errorf("%w: %w\nno Secret was written; fix the audit log location or permissions and run again", migrate.ErrAudit, err))
	}
	return log, nil
}
