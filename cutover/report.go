package cutover

import (
	"errors"
	"strings"
	"time"
)

// Report kinds and API version of the -o json/yaml documents.
const (
	APIVersion         = "secretshift.io/v1alpha1"
	ReportKind         = "CutoverReport"
	RollbackReportKind = "CutoverRollbackReport"
)

// Result is what happened to one Secret.
type Result string

const (
	// ResultAdopted: the controller owns the Secret now, byte-identical, provenance recorded.
	ResultAdopted Result = "adopted"
	// ResultAlreadyManaged: an earlier run handed it over; nothing to do.
	ResultAlreadyManaged Result = "already-managed"
	// ResultWouldAdopt: a dry run; the server accepted every apply and patch without storing.
	ResultWouldAdopt Result = "would-adopt"
	// ResultSkipped: the store holds no copy (the Secret was not migrated); left untouched.
	ResultSkipped Result = "skipped"
	// ResultRefused: a precondition of this Secret failed; left untouched.
	ResultRefused Result = "refused"
	// ResultFailed: a step failed after the first change; the Secret still exists. Running
	// again resumes, and rollback returns it to a plain Secret.
	ResultFailed Result = "failed"
	// ResultVerifyFailed: the controller owns the Secret but its bytes differ from the source.
	ResultVerifyFailed Result = "verify-failed"
	// ResultReleased: rollback made it a plain Secret again, byte-identical.
	ResultReleased Result = "released"
	// ResultWouldRelease: a dry run of rollback.
	ResultWouldRelease Result = "would-release"
)

// ItemReport is the outcome for one Secret. It holds no value.
type ItemReport struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Type      string   `json:"type,omitempty"`
	Keys      []string `json:"keys,omitempty"`
	Result    Result   `json:"result"`
	// Reason says why a Secret was skipped, refused or failed.
	Reason string `json:"reason,omitempty"`
	// Target is the store address ESO reads.
	Target string `json:"target,omitempty"`
	// Owner is the object that owns (or would own) the Secret: ExternalSecret/NAME or
	// SealedSecret/NAME.
	Owner string `json:"owner,omitempty"`
	// UID is the Secret's UID, the same before and after.
	UID string `json:"uid,omitempty"`
	// Fingerprint is the keyed fingerprint of the source's type and data.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Duration is how long the Secret's hand-over took, first apply to provenance recorded.
	Duration string `json:"duration,omitempty"`
}

// Ref is namespace/name.
func (it *ItemReport) Ref() string { return it.Namespace + "/" + it.Name }

// Report is the outcome of a cut-over or rollback run.
type Report struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Provider   string         `json:"provider,omitempty"`
	RunID      string         `json:"runId,omitempty"`
	DryRun     bool           `json:"dryRun,omitempty"`
	Started    time.Time      `json:"started"`
	Duration   string         `json:"duration"`
	Items      []*ItemReport  `json:"items"`
	Counts     map[Result]int `json:"counts"`
	// Problems are the preconditions that failed for the whole selection; nothing was changed.
	Problems []string `json:"problems,omitempty"`
	// Applied are the objects applied (or, in a dry run, that would be), as sent to the server.
	Applied []any `json:"applied,omitempty"`
}

// ErrPreconditions: a precondition of the whole selection failed; nothing was changed.
var ErrPreconditions = errors.New("cut-over preconditions failed")

// PreconditionError lists every failed precondition of a run.
type PreconditionError struct{ Problems []string }

func (e *PreconditionError) Error() string {
	return ErrPreconditions.Error() + "; nothing was changed:\n  " + strings.Join(e.Problems, "\n  ")
}

func (e *PreconditionError) Unwrap() error { return ErrPreconditions }

func (r *Report) finish(items []*ItemReport) {
	r.Items = items
	r.Counts = map[Result]int{}
	for _, it := range items {
		r.Counts[it.Result]++
	}
	r.Duration = time.Since(r.Started).Round(time.Millisecond).String()
}
