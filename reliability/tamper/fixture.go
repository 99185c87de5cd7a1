package tamper

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/secretshift/secretshift/audit"
)

// Fixture is an audit log to tamper with: its lines, its head file, the head file as it was
// after each earlier run (oldest first), and the public key its checkpoints verify with.
type Fixture struct {
	// Name says where the log came from, for the report.
	Name string
	Log  []byte
	Head []byte
	// EarlierHeads are the head file's content after each run but the last.
	EarlierHeads [][]byte
	Pub          ed25519.PublicKey
}

// Lines splits the log into its lines, each with its newline.
func (f *Fixture) Lines() [][]byte {
	lines := bytes.SplitAfter(f.Log, []byte("\n"))
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// APILog writes a log the way a migration does, through the audit package: runs runs of a
// plan.create, then per Secret an intent and an outcome (success, failure with an error
// class, skip), a verify, with a checkpoint every checkpointEvery records and at every Close.
func APILog(dir string, runs, secretsPerRun, checkpointEvery int) (*Fixture, error) {
	path := filepath.Join(dir, "audit.jsonl")
	signer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	fp, err := audit.NewFingerprinter(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		return nil, err
	}
	clock := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	f := &Fixture{Name: fmt.Sprintf("audit API: %d runs of %d Secrets, checkpoint every %d", runs, secretsPerRun, checkpointEvery), Pub: signer.Public().(ed25519.PublicKey)}
	ctx := context.Background()
	for r := range runs {
		l, err := audit.Open(path, audit.Options{
			Fingerprinter: fp, Signer: signer, CheckpointEvery: checkpointEvery, RunID: fmt.Sprintf("20260301T1200%02dZ-run%d", r, r), Now: now,
			Actor: audit.Actor{OSUser: "alice", Host: "build-1", KubeUser: "kubernetes-admin",
				Stores: map[string]audit.StoreIdentity{"vault": {"display_name": "approle-secretshift", "accessor": "hmac-accessor-1"}},
				CI:     &audit.CI{Provider: "github-actions", Actor: "octocat", Repository: "acme/infra", RunID: "42"}},
		})
		if err != nil {
			return nil, err
		}
		events := []audit.Event{{Action: audit.ActionPlanCreate, Outcome: audit.OutcomeSuccess,
			Details: map[string]string{"provider": "vault", "create": fmt.Sprint(secretsPerRun), "job": fmt.Sprintf("job-%d", r)}}}
		for i := range secretsPerRun {
			n := r*secretsPerRun + i
			src := &audit.Source{Cluster: "https://127.0.0.1:6443", Namespace: "shop", Name: fmt.Sprintf("db-credentials-%d", n), UID: fmt.Sprintf("uid-%04d", n), Origin: "cluster"}
			tgt := &audit.StoreTarget{Provider: "vault", Address: fmt.Sprintf("secret/shop/db-credentials-%d", n)}
			keys := []string{"password", "tls.crt", "username"}
			fps := map[string]string{"password": fp.Value([]byte(fmt.Sprintf("pw-%d", n))), "tls.crt": fp.Value([]byte("cert")), "username": fp.Value([]byte("shop"))}
			intent := audit.Event{Action: audit.ActionMigrateWrite, Outcome: audit.OutcomeAttempt, Source: src, Target: tgt, Keys: keys, Fingerprints: fps}
			out := intent
			switch n % 4 {
			case 0, 1:
				out.Outcome = audit.OutcomeSuccess
				t2 := *tgt
				t2.Version = "1"
				out.Target = &t2
			case 2:
				out.Outcome, out.ErrorClass = audit.OutcomeFailure, "conflict"
				out.Error = fmt.Sprintf("write shop/db-credentials-%d to vault path secret/shop/db-credentials-%d: check-and-set parameter did not match the current version", n, n)
			case 3:
				intent = audit.Event{Action: audit.ActionMigrateSkip, Outcome: audit.OutcomeSkipped, Source: src, Details: map[string]string{"reason": "service-account-token", "note": "quote \" backslash \\ newline\nend"}}
				events = append(events, intent)
				continue
			}
			events = append(events, intent, out)
			if out.Outcome == audit.OutcomeSuccess {
				events = append(events, audit.Event{Action: audit.ActionMigrateVerify, Outcome: audit.OutcomeSuccess, Source: src, Target: out.Target, Keys: keys, Fingerprints: fps})
			}
		}
		for _, e := range events {
			if err := l.Record(ctx, e); err != nil {
				l.Close()
				return nil, err
			}
		}
		if err := l.Close(); err != nil {
			return nil, err
		}
		head, err := os.ReadFile(audit.HeadPath(path))
		if err != nil {
			return nil, err
		}
		if r < runs-1 {
			f.EarlierHeads = append(f.EarlierHeads, head)
		}
		f.Head = head
	}
	f.Log, err = os.ReadFile(path)
	return f, err
}

// MigrationLog produces the log of real migrations: the secretshift binary bin migrates the
// manifests in manifestDir to SOPS files (with the age key and audit keys it generates on first
// use) three times in dir — the first file alone, then every file, then again after a value
// changed (an update) — and the log and head file those runs left are returned.
func MigrationLog(bin, manifestDir, dir string) (*Fixture, error) {
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no manifests in %s: %v", manifestDir, err)
	}
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o700); err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(in, filepath.Base(f)), b, 0o600); err != nil {
			return nil, err
		}
	}
	migrate := func(args ...string) error {
		cmd := exec.Command(bin, append([]string{"migrate", "--to", "sops", "--sops-out", "out", "-q"}, args...)...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("secretshift migrate %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		return nil
	}
	logPath := filepath.Join(dir, ".secretshift", "audit", "audit.jsonl")
	f := &Fixture{Name: "real migration: secretshift migrate --to sops, 3 runs over " + manifestDir}
	readHead := func() error {
		head, err := os.ReadFile(audit.HeadPath(logPath))
		if err == nil {
			f.EarlierHeads = append(f.EarlierHeads, head)
		}
		return err
	}
	first := filepath.Join("in", filepath.Base(files[0]))
	if err := migrate("-f", first); err != nil {
		return nil, err
	}
	if err := readHead(); err != nil {
		return nil, err
	}
	if err := migrate("-f", "in"); err != nil {
		return nil, err
	}
	if err := readHead(); err != nil {
		return nil, err
	}
	// A changed value makes the third run an update: a key added to the first Secret written
	// with stringData (every Secret was migrated by the second run).
	changedOne := false
	for _, name := range files {
		p := filepath.Join(in, filepath.Base(name))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		changed := bytes.Replace(b, []byte("\nstringData:\n"), []byte("\nstringData:\n  reliability-run: \"3\"\n"), 1)
		if bytes.Equal(changed, b) {
			continue
		}
		if err := os.WriteFile(p, changed, 0o600); err != nil {
			return nil, err
		}
		changedOne = true
		break
	}
	if !changedOne {
		return nil, fmt.Errorf("no manifest in %s has a Secret with stringData to change", manifestDir)
	}
	if err := migrate("-f", "in"); err != nil {
		return nil, err
	}
	if f.Log, err = os.ReadFile(logPath); err != nil {
		return nil, err
	}
	if f.Head, err = os.ReadFile(audit.HeadPath(logPath)); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(filepath.Join(dir, ".secretshift", "keys", "audit-signing.pub"))
	if err != nil {
		return nil, err
	}
	if f.Pub, err = audit.ParseVerifier(pub); err != nil {
		return nil, err
	}
	return f, nil
}
