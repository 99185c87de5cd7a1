package providers

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestUnreachableStopsOnlyWhatNeverReachedTheStore(t *testing.T) {
	refused := &url.Error{Op: "Put", URL: "https://127.0.0.1:8200/v1/secret/data/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	err := Unreachable("vault", fmt.Errorf("giving up after 5 attempt(s): %w", refused))
	if !errors.Is(err, ErrBusy) || !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "vault unreachable: ") {
		t.Errorf("a refused connection: %v", err)
	}
	for _, other := range []error{
		&url.Error{Op: "Put", URL: "https://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}},
		errors.New("permission denied"),
		nil,
	} {
		if got := Unreachable("vault", other); got != other {
			t.Errorf("%v was changed to %v", other, got)
		}
	}
}
