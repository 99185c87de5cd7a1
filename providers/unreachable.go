package providers

import (
	"errors"
	"net"
)

// Unreachable marks err as ErrBusy when it is a request that never reached the store (the
// connection refused, the host not found) after the adapter's own retries: every other request
// would fail the same way, so the engine stops the run at once, saying what was done, instead of
// trying each remaining Secret in turn; running the same command again once the store answers
// finishes it. Any other error is returned as it is. store names the store in the message.
func Unreachable(store string, err error) error {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	return &unreachableError{store: store, err: err}
}

type unreachableError struct {
	store string
	err   error
}

func (e *unreachableError) Error() string   { return e.store + " unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() []error { return []error{ErrBusy, e.err} }
