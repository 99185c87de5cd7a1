package crash

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// setup returns a secretshift binary built for the package's tests and the tools folder,
// failing when vault-testserver or sops is missing: integration tests never skip.
func setup(t *testing.T) (bin, tools string) {
	t.Helper()
	if testing.Short() {
		t.Skip("crash trials start a vault-testserver and build secretshift; skipped with -short")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tools = os.Getenv("SECRETSHIFT_TOOLS_BIN")
	if tools == "" {
		tools = filepath.Join(root, ".tools", "bin")
	}
	for _, need := range []string{"vault-testserver", "sops"} {
		if _, err := os.Stat(filepath.Join(tools, need)); err != nil {
			t.Fatalf("%s not found in %s: `make tools` builds it (integration tests never skip)", need, tools)
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crash-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "secretshift")
		build := exec.Command("go", "build", "-o", builtBin, "./cmd/secretshift")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/secretshift: %v", buildErr)
	}
	return builtBin, tools
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// TestCrashTrials runs two small trials per store. It fails when a re-run lost a Secret, wrote
// one twice, changed a value, left a log that does not verify, or an audit trail that does not
// name every write exactly once as done.
func TestCrashTrials(t *testing.T) {
	bin, tools := setup(t)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, store := range Stores {
		t.Run(string(store), func(t *testing.T) {
			res := Run(Options{Bin: bin, Tools: tools, Dir: filepath.Join(dir, string(store)), Secrets: 200, Trials: 2, Seed: seed}, store)
			if res.Error != "" {
				t.Fatal(res.Error)
			}
			for _, tr := range res.Trials {
				t.Logf("trial %d: killed=%v after %dms, journal %d lines, %d writes recorded; re-run exit %d %v; lost %d, duplicates %d, mismatched %d, audit once %d",
					tr.N, tr.Killed, tr.KillAfterMS, tr.JournalLines, tr.WritesRecorded, tr.RerunExit, tr.RerunCounts, tr.Lost, tr.Duplicates, tr.Mismatched, tr.AuditOnce)
				if !tr.Pass || tr.RerunCounts == nil || tr.RerunExit != 0 || tr.Lost != 0 || tr.Duplicates != 0 || tr.Mismatched != 0 || tr.VerifyExit != 0 || tr.AuditVerifyExit != 0 {
					t.Errorf("trial %d (corpus seed %d, kill after %dms): %s", tr.N, tr.CorpusSeed, tr.KillAfterMS, strings.Join(tr.Problems, "; "))
				}
				if tr.AuditOnce != res.Secrets {
					t.Errorf("trial %d (corpus seed %d, kill after %dms): the audit trail names %d of %d writes exactly once as done (%d none, %d twice)", tr.N, tr.CorpusSeed, tr.KillAfterMS, tr.AuditOnce, res.Secrets, tr.AuditMissing, tr.AuditTwice)
				}
			}
		})
	}
}

// TestVaultCheckCatchesDamage: the Vault check sees a second version, a changed value and a
// deleted entry, so a trial cannot pass over them.
func TestVaultCheckCatchesDamage(t *testing.T) {
	w := migrated(t, Vault)
	defer w.close()
	var clean Trial
	w.checkVault(&clean, nil, func(format string, a ...any) { t.Errorf("undamaged store: "+format, a...) })

	send := func(method, path, body string) {
		req, err := http.NewRequest(method, w.vault.Addr+path, bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Vault-Token", w.vault.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
		}
	}
	a, b := w.secrets[0], w.secrets[1]
	send(http.MethodPost, "/v1/secret/data/"+a.Namespace+"/"+a.Name, `{"data":{"k":"second version"}}`)
	send(http.MethodDelete, "/v1/secret/metadata/"+b.Namespace+"/"+b.Name, "")
	var damaged Trial
	w.checkVault(&damaged, nil, func(string, ...any) {})
	if damaged.Duplicates != 1 || damaged.Mismatched != 1 || damaged.Lost != 1 {
		t.Errorf("after a second version of %s and deleting %s: %d duplicates, %d mismatched, %d lost; want 1 each", a.Ref(), b.Ref(), damaged.Duplicates, damaged.Mismatched, damaged.Lost)
	}
}

// TestSealedCheckCatchesDamage: the Sealed Secrets check sees a deleted file, a file sealed
// for another Secret (which does not unseal under this name), a temporary file a killed write
// left, and a kustomization.yaml that lists a file no longer there.
func TestSealedCheckCatchesDamage(t *testing.T) {
	w := migrated(t, Sealed)
	defer w.close()
	var clean Trial
	w.checkSealed(&clean, nil, nil, func(format string, a ...any) { t.Errorf("undamaged folder: "+format, a...) })

	file := func(s *Secret) string { return filepath.Join(w.dir, "out", s.Namespace, s.Name+".yaml") }
	a, b, c := w.secrets[0], w.secrets[1], w.secrets[2]
	if err := os.Remove(file(a)); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(file(c))
	if err != nil {
		t.Fatal(err)
	}
	// c's SealedSecret renamed to b: the library refuses to unseal it (the label is c's).
	renamed := strings.ReplaceAll(string(other), "name: "+c.Name, "name: "+b.Name)
	if err := os.WriteFile(file(b), []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(file(c)), "."+c.Name+".yaml.tmp-123"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var problems []string
	var damaged Trial
	w.checkSealed(&damaged, nil, map[string]int{c.Ref(): 2}, func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) })
	if damaged.Lost != 1 || damaged.Mismatched != 1 || damaged.Duplicates != 1 {
		t.Errorf("after deleting %s, sealing %s's file under %s and two write records of %s: %d lost, %d mismatched, %d duplicates; want 1 each",
			a.Ref(), c.Ref(), b.Ref(), c.Ref(), damaged.Lost, damaged.Mismatched, damaged.Duplicates)
	}
	for _, want := range []string{"stray files", "lists 1 files that are not there"} {
		if !strings.Contains(strings.Join(problems, "\n"), want) {
			t.Errorf("problems do not say %q:\n%s", want, strings.Join(problems, "\n"))
		}
	}
}

// migrated is a workspace of 20 Secrets migrated into store by an uncrashed run.
func migrated(t *testing.T, store Store) *workspace {
	t.Helper()
	bin, tools := setup(t)
	w, err := newWorkspace(Options{Bin: bin, Tools: tools, Secrets: 20}, store, t.TempDir(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr, err := w.run(bin, w.migrateArgs()...); err != nil || code != 0 {
		w.close()
		t.Fatalf("migrate: exit %d, %v: %s", code, err, stderr)
	}
	return w
}
