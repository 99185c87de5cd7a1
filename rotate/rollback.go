package rotate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/job"
	"github.com/secretshift/secretshift/providers"
)

// ErrNoVersions: the store keeps no earlier versions to roll back to.
var ErrNoVersions = errors.New("the store keeps no earlier versions")

// Rollback makes version (default: the one before the current) of t current again, written as a
// new version, and records it in rec (intent first, fail-closed). It returns the version rolled
// back to and the new current version.
func Rollback(ctx context.Context, p providers.Provider, rec job.Recorder, t providers.Target, version string) (from, to string, err error) {
	vp, ok := p.(providers.Versioned)
	if !ok {
		return "", "", fmt.Errorf("rollback %s: %w (for files kept in Git, revert the commit)", t, ErrNoVersions)
	}
	versions, err := vp.Versions(ctx, t)
	if err != nil {
		return "", "", fmt.Errorf("rollback %s: %w", t, err)
	}
	cur, err := p.Read(ctx, t)
	if err != nil {
		return "", "", fmt.Errorf("rollback %s: %w", t, err)
	}
	if version == "" {
		i := slices.Index(versions, cur.Version)
		if i <= 0 {
			return "", "", fmt.Errorf("rollback %s: no version before the current one (%s)", t, cur.Version)
		}
		version = versions[i-1]
	}
	if !slices.Contains(versions, version) {
		return "", "", fmt.Errorf("rollback %s: %w: version %s (the store has %v)", t, providers.ErrNotFound, version, versions)
	}
	if version == cur.Version {
		return "", "", fmt.Errorf("rollback %s: version %s is already the current one", t, version)
	}
	old, err := vp.ReadVersion(ctx, t, version)
	if err != nil {
		return "", "", fmt.Errorf("rollback %s: %w", t, err)
	}
	if old.Data == nil || len(old.Data) == 0 && old.Version == "" {
		return "", "", fmt.Errorf("rollback %s: version %s holds no values (deleted or destroyed)", t, version)
	}
	details := map[string]string{"to_version": version, "from_version": cur.Version, "command": "rotate rollback"}
	ev := audit.Event{Action: ActionRollback, Outcome: audit.OutcomeAttempt, Target: &audit.StoreTarget{Provider: t.Provider, Address: t.Address, Version: cur.Version}, Details: details}
	if err := rec.Record(ctx, ev); err != nil {
		return "", "", job.AuditError(err)
	}
	to, rerr := vp.Rollback(ctx, t, version)
	ev.Outcome, ev.Target.Version = audit.OutcomeSuccess, to
	if rerr != nil {
		ev.Outcome, ev.ErrorClass, ev.Error = audit.OutcomeFailure, job.Class(rerr), rerr.Error()
	}
	if err := rec.Record(ctx, ev); err != nil {
		return "", "", job.AuditError(err)
	}
	if rerr != nil {
		return "", "", fmt.Errorf("rollback %s to version %s: %w", t, version, rerr)
	}
	return version, to, nil
}
