package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ExitCode is the process exit status. The values are documented in README.md and are stable:
// scripts and CI branch on them.
type ExitCode int

const (
	ExitOK ExitCode = 0
	// ExitError is any failure without a more specific code.
	ExitError ExitCode = 1
	// ExitUsage: bad flags or arguments.
	ExitUsage ExitCode = 2
	// ExitChanges: `plan --detailed-exitcode` found work to do (like terraform plan).
	ExitChanges ExitCode = 3
	// ExitPartial: the command ran but some objects failed (bad input, conflicts); the rest
	// was processed.
	ExitPartial ExitCode = 4
	// ExitVerify: a read-back or audit verification found a mismatch.
	ExitVerify ExitCode = 5
	// ExitAudit: the audit log could not be written, so nothing was changed (fail-closed).
	ExitAudit ExitCode = 6
	// ExitCancelled: interrupted (Ctrl-C, SIGTERM); re-running the same command resumes.
	ExitCancelled ExitCode = 130
)

// exitError carries an exit code chosen by a command. Msg may be empty when the command has
// already printed its own explanation.
type exitError struct {
	Code ExitCode
	Err  error
}

func (e *exitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *exitError) Unwrap() error { return e.Err }

// withCode wraps err so that the process exits with code.
func withCode(code ExitCode, err error) error { return &exitError{Code: code, Err: err} }

// usageError marks a flag or argument problem.
func usageError(format string, a ...any) error {
	return &exitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// exitCodeFor maps an error returned by a command to the process exit code.
func exitCodeFor(err error) ExitCode {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, context.Canceled) {
		return ExitCancelled
	}
	// cobra reports unknown commands and flags as plain errors.
	if msg := err.Error(); strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") {
		return ExitUsage
	}
	return ExitError
}
