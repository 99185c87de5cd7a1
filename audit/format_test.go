package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A log of every record format lives in testdata/format-v<N>/, written by the code of that
// format with `go test ./audit -run TestWriteFormatFixture -args -write-fixture` (see
// testdata/README.md); the current Verify must keep verifying them all. Each holds a log, its head file, an archive made by
// Rotate with its head file, and the public key (the signing key is testSigner(fixtureSeed)).
var writeFixture = flag.Bool("write-fixture", false, "write the format fixture of the current record format into testdata")

const fixtureSeed = 0x31

// fixtureVaultIdentity is the Vault identity of the fixtures' actor, which format 1 wrote as
// vault_display_name and vault_accessor.
var fixtureVaultIdentity = StoreIdentity{StoreDisplayName: "approle-secretshift", "accessor": "hmac-accessor-0a1b2c"}

// fixtureDir is the folder of the fixture the current code writes.
var fixtureDir = fmt.Sprintf("testdata/format-v%d", RecordFormat)

func TestWriteFormatFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("writes testdata only with -write-fixture")
	}
	if _, err := os.Lstat(fixtureDir); err == nil {
		t.Fatalf("%s exists: a fixture of a released format is never rewritten; remove it by hand if it was never committed", fixtureDir)
	}
	tmp := t.TempDir()
	path := filepath.Join(tmp, "audit.jsonl")
	archive := filepath.Join(tmp, "audit-1.jsonl")
	signer := testSigner(fixtureSeed)
	clock := fakeClock()
	actor := Actor{OSUser: "alice", Host: "build-1", KubeUser: "kubernetes-admin",
		CI: &CI{Provider: "github-actions", Actor: "octocat", Repository: "acme/platform", RunID: "42/1", JobID: "migrate", URL: "https://github.com/acme/platform/actions/runs/42"}}
	actor.SetStore("vault", fixtureVaultIdentity)
	actor.SetStore("azurekv", StoreIdentity{"object_id": "5f2b1c3d-0000-4000-8000-000000000001", "tenant_id": "72f988bf-0000-4000-8000-000000000002"})
	opts := func(run string) Options {
		return Options{
			Fingerprinter:   testFingerprinter(t),
			Signer:          signer,
			CheckpointEvery: 5,
			RunID:           run,
			Actor:           actor,
			Now:             clock,
		}
	}
	writeFixtureRun(t, path, opts("run-fixture-1"), 0)
	if _, err := Rotate(path, archive, opts("run-fixture-rotate")); err != nil {
		t.Fatal(err)
	}
	writeFixtureRun(t, path, opts("run-fixture-2"), 1)

	// A writer that died mid-line leaves a fragment; the next run cuts it and records audit.recover.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2025-03-01T12:00:09.000000000Z","run_id":"run-crashed","seq":99,"act`)
	f.Close()
	writeFixtureRun(t, path, opts("run-fixture-3"), 2)

	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	pub, err := EncodePublicKey(signer.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{PublicKeyFile: pub}
	for _, p := range []string{path, HeadPath(path), archive, HeadPath(archive)} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(fixtureDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	assertNoCanaryInDir(t, fixtureDir)
	t.Logf("wrote %s", fixtureDir)
}

// writeFixtureRun records one run of every kind of event a command records.
func writeFixtureRun(t *testing.T, path string, opts Options, run int) {
	t.Helper()
	ctx := context.Background()
	fp := opts.Fingerprinter
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := &Source{Cluster: "https://127.0.0.1:6443", Namespace: "team-a", Name: "db-creds", UID: "6f1c0d2e-0000-4000-8000-00000000000" + string(rune('1'+run)), Origin: "cluster"}
	tgt := &StoreTarget{Provider: "vault", Address: "secret/data/team-a/db-creds"}
	ks, err := NewKeySet(ActionMigrateWrite, []string{"password", "username"}, map[string]string{
		"password": fp.Value([]byte(canaries[0])), "username": fp.Value([]byte(canaries[1]))})
	if err != nil {
		t.Fatal(err)
	}
	written := *tgt
	written.Version = "3"
	events := []Event{
		{Action: ActionPlanCreate, Outcome: OutcomeSuccess, Details: map[string]string{"items": "3", "note": "quote \" backslash \\ tab \t é 😀 <&>"}},
		{Action: ActionMigrateWrite, Outcome: OutcomeAttempt, Source: src, Target: tgt, KeySet: ks},
		{Action: ActionMigrateWrite, Outcome: OutcomeSuccess, Source: src, Target: &written, KeySet: ks, Details: map[string]string{"verified": "true"}},
		{Action: ActionMigrateVerify, Outcome: OutcomeSuccess, Source: src, Target: &written, KeySet: ks, Details: map[string]string{"written_by_earlier_run": "true"}},
		{Action: ActionMigrateConflict, Outcome: OutcomeFailure, ErrorClass: "conflict", Error: "write team-a/db-creds to vault path secret/data/team-a/db-creds: the stored value differs",
			Source: src, Target: &written, Keys: []string{"password"}, Fingerprints: map[string]string{"password": fp.Value([]byte(canaries[2]))}},
		{Action: ActionMigrateSkip, Outcome: OutcomeSkipped, Source: &Source{Namespace: "kube-system", Name: "sh.helm.release.v1.x.v1"}, Details: map[string]string{"reason": "helm-release"}},
		{Action: ActionVerifyCheck, Outcome: OutcomeSuccess, Source: src, Target: &written, KeySet: ks},
	}
	if run == 0 {
		events = append([]Event{{Action: ActionKeygen, Outcome: OutcomeSuccess, Details: map[string]string{
			"public_key_id": PublicKeyID(opts.Signer.Public().(ed25519.PublicKey)), "fingerprint_key_id": fp.KeyID()}}}, events...)
	}
	if err := l.RecordBatch(ctx, events[:2]); err != nil {
		t.Fatal(err)
	}
	for _, e := range events[2:] {
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifiesLogsOfTheEarlierFormat verifies every committed format fixture with today's Verify:
// the log and the rotated archive each with its head file, and the link between them.
func TestVerifiesLogsOfTheEarlierFormat(t *testing.T) {
	dirs, err := filepath.Glob("testdata/format-v*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no format fixtures in testdata")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			pubText, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParseVerifier(pubText)
			if err != nil {
				t.Fatal(err)
			}
			var reps []VerifyReport
			for _, name := range []string{"audit-1.jsonl", "audit.jsonl"} {
				p := filepath.Join(dir, name)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				head, err := ReadHead(HeadPath(p))
				if err != nil {
					t.Fatal(err)
				}
				rep := Verify(bytes.NewReader(b), pub, head)
				if !rep.OK || !rep.HeadChecked || rep.Checkpoints == 0 {
					t.Fatalf("%s does not verify: %+v %v", name, rep, rep.Problem)
				}
				reps = append(reps, rep)
				checkFixtureRecords(t, name, b)
				checkFixtureExports(t, name, b)
			}
			if err := VerifyLink(reps[0], reps[1]); err != nil {
				t.Errorf("the log does not continue its archive: %v", err)
			}
			assertNoCanaryInDir(t, dir)
		})
	}
}

// checkFixtureRecords reads every record back and checks that the actor's store identity is
// read, whichever format wrote it.
func checkFixtureRecords(t *testing.T, name string, log []byte) {
	t.Helper()
	rd := NewReader(bytes.NewReader(log))
	n := 0
	for {
		rec, _, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n++
		if rec.Action == ActionCheckpoint {
			continue
		}
		if rec.Actor == nil || !maps.Equal(rec.Actor.Stores["vault"], fixtureVaultIdentity) {
			t.Errorf("%s seq %d: the actor's Vault identity was not read: %+v", name, rec.Seq, rec.Actor)
		}
		if got := actorName(&Actor{Stores: rec.Actor.Stores}); got != "approle-secretshift" {
			t.Errorf("%s seq %d: exports name the actor %q, want the Vault display name", name, rec.Seq, got)
		}
		if rec.Time.Before(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s seq %d: time %v", name, rec.Seq, rec.Time)
		}
	}
	if n == 0 {
		t.Errorf("%s holds no records", name)
	}
}

// checkFixtureExports checks that the exports carry the actor's store identities, whichever
// format wrote them.
func checkFixtureExports(t *testing.T, name string, log []byte) {
	t.Helper()
	var out bytes.Buffer
	if _, err := Export(&out, bytes.NewReader(log), ExportOptions{Format: FormatOCSF, Filter: Filter{Actions: []string{ActionPlanCreate}}}); err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(splitLines(out.Bytes())[0], &ev); err != nil {
		t.Fatal(err)
	}
	if v, _ := lookup(ev, "unmapped.actor.stores.vault.display_name"); v != fixtureVaultIdentity[StoreDisplayName] {
		t.Errorf("%s: ocsf unmapped.actor.stores.vault.display_name = %v", name, v)
	}
	out.Reset()
	if _, err := Export(&out, bytes.NewReader(log), ExportOptions{Format: FormatCSV, Filter: Filter{Actions: []string{ActionPlanCreate}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `""vault"":{""accessor"":""hmac-accessor-0a1b2c"",""display_name"":""approle-secretshift""}`) {
		t.Errorf("%s: csv lacks the actor's Vault identity:\n%s", name, out.String())
	}
}

// TestRecordFormatVersion: records name the format they were written in; readers refuse a format
// they do not know rather than misread it.
func TestRecordFormatVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	lines := splitLines(writeRuns(t, path, 1, 5))
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		v, has := m["format_version"]
		if m["action"] == ActionCheckpoint {
			if has {
				t.Errorf("line %d: a checkpoint record carries format_version", i+1)
			}
		} else if v != float64(RecordFormat) {
			t.Errorf("line %d: format_version %v, want %d", i+1, v, RecordFormat)
		}
	}
	pub := testSigner(7).Public().(ed25519.PublicKey)
	for _, version := range []int{RecordFormat + 1, 1, -2} {
		var m map[string]any
		json.Unmarshal(lines[1], &m)
		m["format_version"] = version
		delete(m, "hash")
		m["hash"], _ = hashObject(toGeneric(t, m))
		changed := join(rechain(t, replaceLine(lines, 1, marshalLine(t, m)), 2))
		rep := Verify(bytes.NewReader(changed), pub, nil)
		if rep.OK || rep.Problem.Kind != KindMalformed || rep.Problem.Line != 2 || !strings.Contains(rep.Problem.Detail, "format") {
			t.Errorf("format_version %d: Verify = %+v, want a malformed record at line 2", version, rep.Problem)
		}
		if _, err := Export(io.Discard, bytes.NewReader(changed), ExportOptions{Format: FormatCSV}); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("format_version %d: Export = %v, want it refused at line 2", version, err)
		}
	}
}

// TestAppendsToLogsOfTheEarlierFormat: today's writer continues a log of every earlier format,
// and the file, records of both formats, verifies.
func TestAppendsToLogsOfTheEarlierFormat(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/format-v*")
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			for _, p := range []string{path, HeadPath(path)} {
				b, err := os.ReadFile(filepath.Join(dir, filepath.Base(p)))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(p, b, 0o600)
			}
			opts := Options{Fingerprinter: testFingerprinter(t), Signer: testSigner(fixtureSeed), RunID: "run-now"}
			l, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Integrity(); err != nil {
				t.Errorf("Integrity of an intact %s log = %v", filepath.Base(dir), err)
			}
			if err := l.Record(context.Background(), sampleEvent(opts.Fingerprinter, 0)); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			head, err := ReadHead(HeadPath(path))
			if err != nil {
				t.Fatal(err)
			}
			if rep := Verify(bytes.NewReader(b), testSigner(fixtureSeed).Public().(ed25519.PublicKey), head); !rep.OK {
				t.Errorf("the continued log does not verify: %v", rep.Problem)
			}
		})
	}
}
