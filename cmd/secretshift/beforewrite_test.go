package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"

	"github.com/secretshift/secretshift/providers"
)

// TestBeforeWriteSaysRunAgain: a run stopped before its first write by a store that could not
// be reached, or whose answer was cut off, says that nothing was written and a re-run starts
// over; a refusal the user must fix is left as it is.
func TestBeforeWriteSaysRunAgain(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("list targets: list vault secret/shop/: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("open vault: %w", syscall.ECONNREFUSED),
		fmt.Errorf("read: %w", providers.ErrBusy),
	} {
		if got := beforeWrite(err).Error(); !strings.Contains(got, "nothing was written; run the same command again") || !errors.Is(beforeWrite(err), errors.Unwrap(err)) {
			t.Errorf("%v: %q", err, got)
		}
	}
	for _, err := range []error{fmt.Errorf("open vault: %w", providers.ErrPermission), errors.New("kv version 1")} {
		if got := beforeWrite(err); got != err {
			t.Errorf("%v became %q", err, got)
		}
	}
}
