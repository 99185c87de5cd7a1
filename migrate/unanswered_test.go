package migrate

import (
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/secretshift/secretshift/providers"
)

// TestRunStopsWhenTheStoreStopsAnswering: items failing one after another without an answer
// from the store (every request reset) stop the run as busy once twice the concurrency have
// failed in a row; a failure with an answer, or a success, starts the count again.
func TestRunStopsWhenTheStoreStopsAnswering(t *testing.T) {
	a := &applier{opts: Options{Concurrency: 4}}
	reset := &url.Error{Op: "Put", URL: "https://127.0.0.1/x", Err: syscall.ECONNRESET}
	refused := errors.New("HTTP 403 Forbidden: permission denied")
	fail := a.countUnanswered
	for i := range 7 {
		if err := fail(reset); err != nil {
			t.Fatalf("stopped after %d unanswered items, want 8", i+1)
		}
	}
	if err := fail(refused); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := fail(reset); err != nil {
			t.Fatalf("an answered failure must start the count again; stopped after %d", i+1)
		}
	}
	err := fail(reset)
	if !errors.Is(err, providers.ErrBusy) || !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "stopped answering: 8 Secrets in a row") || strings.Contains(err.Error(), "another run") {
		t.Fatalf("the 8th unanswered item in a row: %v", err)
	}
}
