package job

import (
	"context"
	"errors"

	"github.com/secretshift/secretshift/providers"
)

// ErrVerify: what was written read back differently.
var ErrVerify = errors.New("verification failed")

// Classed is implemented by errors that name their own class (a conflict's reason:
// changed-in-store, foreign-content, ...).
type Classed interface {
	error
	Class() string
}

// Class names the kind of failure behind err, for reports and audit records: the class of a
// Classed error in its chain, else the sentinel it wraps.
func Class(err error) string {
	var c Classed
	if errors.As(err, &c) && c.Class() != "" {
		return c.Class()
	}
	for _, c := range []struct {
		err  error
		name string
	}{
		{providers.ErrConflict, "conflict"}, {providers.ErrNotFound, "not-found"}, {providers.ErrInvalidName, "invalid-name"},
		{providers.ErrTooLarge, "too-large"}, {providers.ErrPermission, "permission"}, {providers.ErrUnsupported, "unsupported"}, {providers.ErrBusy, "busy"},
		{ErrVerify, "verify"}, {context.Canceled, "cancelled"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "error"
}

// Reported is an outcome as a report words it, for the audit log: Text is the report's line,
// ClassName (when set) its class, Cause the error it stands for.
type Reported struct {
	Text, ClassName string
	Cause           error
}

func (e Reported) Error() string { return e.Text }
func (e Reported) Unwrap() error { return e.Cause }

// Class implements Classed: the explicit class, else the cause's.
func (e Reported) Class() string {
	if e.ClassName != "" {
		return e.ClassName
	}
	return Class(e.Cause)
}
