package cutover_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/cutover"
)

// stopAfter is an audit recorder that ends the run (as a kill would) right after the first
// record of action with outcome is durable.
type stopAfter struct {
	action  string
	outcome audit.Outcome
	cancel  context.CancelFunc
	once    sync.Once
}

func (s *stopAfter) Record(_ context.Context, e audit.Event) error {
	if e.Action == s.action && e.Outcome == s.outcome {
		s.once.Do(s.cancel)
	}
	return nil
}

// TestCutoverResumes stops a cut-over after each of its steps and runs it again: the second
// run finishes every Secret, whatever the first left behind.
func TestCutoverResumes(t *testing.T) {
	s := newSetup(t, "cut-resume")
	names := []string{"tls", "binary", "immutable", "basic-auth", "dockerconfig"} // one per step: each starts plain
	steps := []struct {
		action  string
		outcome audit.Outcome
	}{
		{cutover.ActionStore, audit.OutcomeSuccess},
		{cutover.ActionApply, audit.OutcomeSuccess},
		{cutover.ActionAdopt, audit.OutcomeSuccess},
		{cutover.ActionVerify, audit.OutcomeSuccess},
		{cutover.ActionAnnotate, audit.OutcomeAttempt},
	}
	for i, step := range steps {
		name := names[i]
		ctx, cancel := context.WithCancel(context.Background())
		opts := s.options("stopped-" + step.action)
		opts.Limits.Concurrency = 1
		opts.Recorder = &stopAfter{action: step.action, outcome: step.outcome, cancel: cancel}
		opts.JournalDir = t.TempDir()
		_, err := cutover.Run(ctx, s.live(t, name), opts)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped after %s %s: %v, want the run cancelled", step.action, step.outcome, err)
		}
		rep, err := cutover.Run(context.Background(), s.live(t, name), s.options("resumed"))
		if err != nil {
			t.Fatalf("resume after %s: %v", step.action, err)
		}
		if it := rep.Items[0]; it.Result != cutover.ResultAdopted && it.Result != cutover.ResultAlreadyManaged {
			t.Errorf("resume after %s %s: %s (%s)", step.action, step.outcome, it.Result, it.Reason)
		} else {
			t.Logf("stopped after %s %s, resumed: %s", step.action, step.outcome, it.Result)
		}
	}
}
