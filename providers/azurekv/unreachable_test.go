package azurekv

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/secretshift/secretshift/providers"
)

// TestUnreachableVaultStopsTheRun: a request that never reached the vault (the connection
// refused, after the retries) is providers.ErrBusy, so the engine stops the run at once rather
// than trying every other Secret the same way; other transport errors are left as they are.
func TestUnreachableVaultStopsTheRun(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	err := classify(refused)
	if !errors.Is(err, providers.ErrBusy) || !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("refused connection: %v (busy %v)", err, errors.Is(err, providers.ErrBusy))
	}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	if err := classify(reset); errors.Is(err, providers.ErrBusy) {
		t.Errorf("a reset after the request went out must not stop the run: %v", err)
	}
}
