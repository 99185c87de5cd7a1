package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/providers"
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
// with ExitAudit. Audit keys are created on first use when none were given. A log that no
// longer verifies is appended to all the same (refusing would let whoever altered it stop the
// tool), with a warning: at once when the end of the log contradicts itself, and when the run
// ends for an alteration further back (checked in the background meanwhile). Call done once
// the run is over and before closing the log.
func (a *auditFlags) open(f *factory, fp *audit.Fingerprinter, runID string, p providers.Provider) (log *audit.Log, done func(), err error) {
	signer, err := audit.LoadSigner(a.SigningKey, f.Getenv)
	if errors.Is(err, audit.ErrNoKey) && a.SigningKey == "" {
		// New keys would sign a log that others already signed: nobody could verify it whole.
		if _, serr := os.Stat(audit.HeadPath(a.Log)); serr == nil {
			return nil, nil, withCode(ExitAudit, fmt.Errorf("%w: %w: no signing key was given, and the audit log %s already exists, so new keys are not made for it\n"+
				"give the keys it was started with (--audit-signing-key, $%s and $%s, or the files in %s), or write to a new log with --audit-log",
				job.ErrAudit, audit.ErrNoKey, a.Log, audit.EnvSigningKey, audit.EnvHMACKey, audit.DefaultKeyDir))
		}
		files, created, kerr := audit.Keygen("")
		if kerr != nil {
			return nil, nil, withCode(ExitAudit, fmt.Errorf("%w: create audit keys: %w", job.ErrAudit, kerr))
		}
		if len(created) > 0 {
			fmt.Fprintf(f.status(), "created audit keys in %s: keep %s secret, share %s with auditors\n", audit.DefaultKeyDir, files.SigningKey, files.PublicKey)
		}
		signer, err = audit.LoadSigner(files.SigningKey, f.Getenv)
	}
	if err != nil {
		return nil, nil, withCode(ExitAudit, job.AuditError(err))
	}
	actor := audit.CurrentActor()
	actor.KubeUser = f.kubeUser
	if ai, ok := p.(providers.ActorIdentifier); ok {
		actor.SetStore(p.Name(), audit.StoreIdentity(ai.ActorIdentity()))
	}
	// A signed checkpoint every audit.DefaultCheckpointEvery records and at the end of every run.
	log, err = audit.Open(a.Log, audit.Options{Fingerprinter: fp, Signer: signer, RunID: runID, Actor: actor})
	if err != nil {
		if errors.Is(err, audit.ErrKeyMismatch) || errors.Is(err, audit.ErrTampered) {
			return nil, nil, withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written", err))
		}
		return nil, nil, withCode(ExitAudit, fmt.Errorf("%w\nno Secret was written; fix the audit log location or permissions and run again", job.AuditError(err)))
	}
	warned := log.Integrity()
	if warned != nil {
		printWarning(f.ErrOut, warned)
	}
	earlier := log.VerifyEarlier()
	done = func() {
		if err := earlier(); err != nil && warned == nil {
			printWarning(f.ErrOut, err)
		}
	}
	if n := log.Recovered(); n > 0 {
		fmt.Fprintf(f.status(), "the audit log %s ended with an incomplete record (%d bytes, from a run that stopped mid-write); it was cut off and the repair recorded (audit.recover)\n", a.Log, n)
	}
	return log, done, nil
}
