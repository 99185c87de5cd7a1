package migrate

import (
	"fmt"
	"strings"
)

// Problem is one reason a plan is invalid.
type Problem struct {
	Ref    string `json:"ref"`
	Origin string `json:"origin,omitempty"`
	Error  string `json:"error"`
	err    error
}

// ValidationError lists every problem found while validating a plan. Nothing was written.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plan rejected: %d problem(s), nothing was written", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.Ref)
		if p.Origin != "" {
			b.WriteString(" (" + p.Origin + ")")
		}
		b.WriteString(": " + p.Error)
	}
	return b.String()
}

// Unwrap exposes the problems' sentinel errors (providers.ErrInvalidName, ...) to errors.Is.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, 0, len(e.Problems))
	for _, p := range e.Problems {
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errs
}

// flatten splits an errors.Join result into its parts.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
