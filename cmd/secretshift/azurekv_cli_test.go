package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/migrate"
)

// akvCLI is the local Key Vault server and the environment a secretshift process needs to
// reach it the way it reaches Azure: AZURE_KEYVAULT_URL, the client-secret variables that
// DefaultAzureCredential reads, the server's token endpoint as AZURE_AUTHORITY_HOST and its
// certificate as SSL_CERT_FILE. The command runs as a separate process, so the credential
// chain, the trust store and the flags are the real ones.
type akvCLI struct {
	srv    *akv.Server
	env    []string
	client *azsecrets.Client
}

func startAKVCLI(t *testing.T, opts akv.Options) *akvCLI {
	t.Helper()
	srv := testenv.NewAKV(t, opts).Server
	env, err := srv.Env(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return &akvCLI{srv: srv, env: env, client: c}
}

// run runs secretshift as a child process in the working folder, with the server's environment.
func (f *akvCLI) run(t *testing.T, args ...string) runResult {
	t.Helper()
	cmd := f.command(t, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	code := ExitOK
	switch {
	case errors.As(err, &ee):
		code = ExitCode(ee.ExitCode())
	case err != nil:
		t.Fatal(err)
	}
	return runResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

func (f *akvCLI) command(t *testing.T, args ...string) *exec.Cmd {
	cmd := commandProcess(t, args...)
	cmd.Env = append(cmd.Env, f.env...)
	return cmd
}

// value reads a Key Vault secret back through the SDK, decoding what its content type marks
// as base64.
func (f *akvCLI) value(t *testing.T, name string) []byte {
	t.Helper()
	r, err := f.client.GetSecret(context.Background(), name, "", nil)
	if err != nil {
		t.Fatalf("read key vault secret %s: %v", name, err)
	}
	v := []byte(*r.Value)
	if _, params, _ := mime.ParseMediaType(akvDeref(r.ContentType)); params["encoding"] == "base64" {
		if v, err = base64.StdEncoding.DecodeString(*r.Value); err != nil {
			t.Fatalf("%s: marked base64 but is not: %v", name, err)
		}
	}
	return v
}

func (f *akvCLI) versions(t *testing.T, name string) int {
	t.Helper()
	n := 0
	pager := f.client.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("versions of %s: %v", name, err)
		}
		n += len(page.Value)
	}
	return n
}

// akvName is the default per-key name of a Secret key.
func akvName(ref, key string) string {
	ns, name, _ := strings.Cut(ref, "/")
	s := strings.ToLower(ns + "--" + name + "--" + key)
	return strings.NewReplacer(".", "-", "_", "-").Replace(s)
}

func akvDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestAzureKVMigrateEndToEnd(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	inTempDir(t)
	want := writeTestSecrets(t, "in")
	big := bytes.Repeat([]byte("0123456789abcdef"), 24*1024/16) // ~24 KB, just under the limit
	want["shop/big"] = map[string][]byte{"blob": big}
	os.WriteFile(filepath.Join("in", "big.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: big, namespace: shop}\ndata: {blob: "+base64.StdEncoding.EncodeToString(big)+"}\n"), 0o644)

	r := f.run(t, "migrate", "--to", "azurekv", "-f", "in", "--manifests", "eso", "--azure-eso-client-id", "11111111-2222-3333-4444-555555555555", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("migrate exit %d\n%s", r.code, r.stderr)
	}
	var rep migrate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, r.stdout)
	}
	if rep.Counts[migrate.ResultCreated] != len(want) || rep.Counts[migrate.ResultSkipped] != 1 {
		t.Fatalf("counts %v, want %d created and 1 skipped", rep.Counts, len(want))
	}
	// Byte-exact through the SDK, one secret per key, one version each.
	for ref, data := range want {
		for k, v := range data {
			name := akvName(ref, k)
			if got := f.value(t, name); !bytes.Equal(got, v) {
				t.Errorf("%s key %s: key vault secret %s holds other bytes", ref, k, name)
			}
			if n := f.versions(t, name); n != 1 {
				t.Errorf("%s: %d versions after one run", name, n)
			}
		}
	}

	// A second run writes nothing.
	before := f.srv.Counts()
	if r = f.run(t, "migrate", "--to", "azurekv", "-f", "in"); r.code != ExitOK {
		t.Fatalf("second migrate exit %d\n%s", r.code, r.stderr)
	}
	if after := f.srv.Counts(); after.Writes != before.Writes {
		t.Fatalf("second run made %d writes", after.Writes-before.Writes)
	}

	// verify passes, then catches a value changed in the vault behind secretshift's back.
	if r = f.run(t, "verify", "--to", "azurekv", "-f", "in"); r.code != ExitOK || !strings.Contains(r.stdout, "content") {
		t.Fatalf("verify exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	changed := "changed"
	if _, err := f.client.SetSecret(context.Background(), "shop--login--password", azsecrets.SetSecretParameters{Value: &changed}, nil); err != nil {
		t.Fatal(err)
	}
	r = f.run(t, "verify", "--to", "azurekv", "-f", "in")
	if r.code != ExitVerify || !strings.Contains(r.stdout, "different value for key password") {
		t.Fatalf("verify after tampering: exit %d\n%s", r.code, r.stdout)
	}
	// The value changed in the vault is not rolled back from the stale source by the next migrate.
	r = f.run(t, "migrate", "--to", "azurekv", "-f", "in")
	if r.code != ExitPartial || !strings.Contains(r.stdout, "changed in the store after secretshift wrote it") {
		t.Fatalf("migrate after a change in the vault: exit %d, want %d and a conflict\n%s%s", r.code, ExitPartial, r.stdout, r.stderr)
	}
	if got := string(f.value(t, "shop--login--password")); got != changed {
		t.Errorf("the password changed in the vault was replaced")
	}

	// The manifests, with the adapter's store block and role assignments.
	for ref := range want {
		if _, err := os.Stat(filepath.Join("eso", ref+".externalsecret.yaml")); err != nil {
			t.Errorf("no ExternalSecret for %s: %v", ref, err)
		}
	}
	store, _ := os.ReadFile(filepath.Join("eso", "shop", "secretstore.yaml"))
	roles, _ := os.ReadFile(filepath.Join("eso", "azurekv", "role-assignments.sh"))
	if !strings.Contains(string(store), "authType: WorkloadIdentity") || !strings.Contains(string(roles), "Key Vault Secrets User") {
		t.Errorf("store:\n%s\nroles:\n%s", store, roles)
	}
	assertNoCanary(t, r.stdout+r.stderr, ".")
}

// Every real-world manifest of the corpus, through migrate one file at a time: migrated and
// byte-exact in the vault, skipped with a reason, or refused with a clear error.
func TestAzureKVMigrateCorpus(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	corpus, err := filepath.Abs(filepath.Join("..", "..", "kube", "testdata", "corpus", "k8s-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("corpus not found at %s", corpus)
	}
	inTempDir(t)
	fp, err := (&factory{ErrOut: io.Discard, Getenv: os.Getenv}).fingerprinter("", "")
	if err != nil {
		t.Fatal(err)
	}
	migrated := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := f.run(t, "migrate", "--to", "azurekv", "-f", file, "-o", "json")
			switch r.code {
			case ExitOK:
			case ExitError:
				if !strings.Contains(r.stderr, filepath.Base(file)) && !strings.Contains(r.stderr, "plan rejected") {
					t.Fatalf("refused without naming the file or the problem:\n%s", r.stderr)
				}
				return
			default:
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			d := runCLI(t, "", "discover", "-f", file, "-o", "json", "--fingerprints")
			var inv struct {
				Items []struct {
					Namespace, Name, Action string
					Keys                    []struct{ Name, Fingerprint string }
				}
			}
			if err := json.Unmarshal([]byte(d.stdout), &inv); err != nil {
				t.Fatal(err)
			}
			for _, it := range inv.Items {
				if it.Action != "migrate" {
					continue
				}
				for _, k := range it.Keys {
					if fp.Value(f.value(t, akvName(it.Namespace+"/"+it.Name, k.Name))) != k.Fingerprint {
						t.Errorf("%s/%s key %s: the vault holds other bytes than the manifest", it.Namespace, it.Name, k.Name)
					}
				}
				migrated++
			}
		})
	}
	if migrated < 10 {
		t.Errorf("only %d corpus Secrets migrated", migrated)
	}
}

func TestAzureKVPlanRejectsEveryOffenderAndWritesNothing(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	inTempDir(t)
	os.MkdirAll("in", 0o755)
	doc := func(ns, name string, data map[string]string) string {
		b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]string{"name": name, "namespace": ns}, "stringData": data})
		return string(b)
	}
	docs := []string{
		doc("shop", "my.app", map[string]string{"k": "v"}),
		doc("shop", "my-app", map[string]string{"k": "v"}),                           // same names as my.app
		doc("a", "b", map[string]string{"c--d": "v"}),                                // a--b--c--d
		doc("a", "b--c", map[string]string{"d": "v", "Token": "1", "token": "2"}),    // a--b--c--d again; token twice
		doc("shop", "huge", map[string]string{"blob": strings.Repeat("x", 26*1024)}), // over 25 KB
		doc("shop", strings.Repeat("n", 120), map[string]string{"password": "v"}),    // names too long whatever the key
	}
	os.WriteFile(filepath.Join("in", "bad.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644)
	r := f.run(t, "plan", "--to", "azurekv", "-f", "in")
	if r.code != ExitError || !strings.Contains(r.stderr, "plan rejected: 5 problem(s)") {
		t.Fatalf("want the plan rejected with 5 problems, got exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"is also the target of shop/my",
		`a/b--c key "d": invalid name: key vault name "a--b--c--d" is also the name of a/b key "c--d"`,
		`key vault name "a--b--c--token"`,
		`shop/huge key "blob": too large`,
		`"shop--nnnnnnnnnn`,
		"characters long without the key",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the rejection does not say %q:\n%s", want, r.stderr)
		}
	}
	if c := f.srv.Counts(); c.Writes != 0 {
		t.Fatalf("%d writes after a rejected plan", c.Writes)
	}
}

func TestAzureKVKilledRunResumesWithoutDuplicateVersions(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	inTempDir(t)
	const n = 60
	var docs []string
	for i := range n {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: s%02d, namespace: bulk}\nstringData: {k: value-%d, l: other-%d}\n", i, i, i))
	}
	os.MkdirAll("in", 0o755)
	os.WriteFile(filepath.Join("in", "bulk.yaml"), []byte(strings.Join(docs, "---\n")), 0o644)
	// A slow write rate, so that the kill lands mid-run, between the two keys of some Secrets.
	cmd := f.command(t, "migrate", "--to", "azurekv", "-f", "in", "--concurrency", "4", "--azure-write-rate", "40/1s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for f.srv.Counts().AppliedWrites < 2*2*n/3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	written := f.srv.Counts().AppliedWrites
	if written == 0 || written >= 2*n {
		t.Fatalf("the kill should land mid-run; %d of %d secrets written", written, 2*n)
	}

	if r := f.run(t, "migrate", "--to", "azurekv", "-f", "in"); r.code != ExitOK {
		t.Fatalf("resumed run: exit %d\n%s", r.code, r.stderr)
	}
	for i := range n {
		for k, want := range map[string]string{"k": fmt.Sprintf("value-%d", i), "l": fmt.Sprintf("other-%d", i)} {
			name := fmt.Sprintf("bulk--s%02d--%s", i, k)
			if got := string(f.value(t, name)); got != want || f.versions(t, name) != 1 {
				t.Errorf("%s: %d versions after kill and resume, want exactly 1 (value right: %v)", name, f.versions(t, name), got == want)
			}
		}
	}
	if r := f.run(t, "verify", "--to", "azurekv", "-f", "in"); r.code != ExitOK {
		t.Errorf("verify after kill and resume: exit %d\n%s", r.code, r.stdout+r.stderr)
	}
	if r := f.run(t, "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify after kill and resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAzureKVSoftDeletedNameNeedsRecover(t *testing.T) {
	f := startAKVCLI(t, akv.Options{Propagation: 2})
	inTempDir(t)
	writeTestSecrets(t, "in")
	if r := f.run(t, "migrate", "--to", "azurekv", "-f", "in", "-q"); r.code != ExitOK {
		t.Fatalf("migrate: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := f.client.DeleteSecret(context.Background(), "shop--login--password", nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	r := f.run(t, "plan", "--to", "azurekv", "-f", "in")
	if r.code != ExitPartial || !strings.Contains(r.stdout+r.stderr, `key vault secret "shop--login--password" is deleted but recoverable`) ||
		!strings.Contains(r.stdout+r.stderr, "--azure-recover") {
		t.Fatalf("plan with a soft-deleted name: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = f.run(t, "migrate", "--to", "azurekv", "-f", "in", "--azure-recover")
	if r.code != ExitOK || !strings.Contains(r.stderr, "recovered 1 soft-deleted") {
		t.Fatalf("migrate --azure-recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := string(f.value(t, "shop--login--password")); got != canaries[0] || f.versions(t, "shop--login--password") != 2 {
		t.Errorf("after recovery: %d versions", f.versions(t, "shop--login--password"))
	}
	for _, req := range f.srv.Requests() {
		if req.Method == http.MethodDelete && strings.HasPrefix(req.Path, "/deletedsecrets/") {
			t.Errorf("secretshift purged: %s %s", req.Method, req.Path)
		}
	}
}

// 429 bursts from the server, and a write limit: the run finishes, and the server's log shows
// no more writes than the configured rate in any window.
func TestAzureKVThrottledRunStaysUnderTheRate(t *testing.T) {
	const limit, window = 10, 2 * time.Second
	f := startAKVCLI(t, akv.Options{WriteLimit: limit, Window: window})
	inTempDir(t)
	var docs []string
	for i := range 12 {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: t%02d, namespace: load}\nstringData: {a: x%d, b: y%d}\n", i, i, i))
	}
	os.MkdirAll("in", 0o755)
	os.WriteFile(filepath.Join("in", "load.yaml"), []byte(strings.Join(docs, "---\n")), 0o644)
	f.srv.Inject(http.StatusTooManyRequests, 3, time.Second)
	r := f.run(t, "migrate", "--to", "azurekv", "-f", "in", "--azure-write-rate", "10/2s")
	if r.code != ExitOK {
		t.Fatalf("migrate under throttling: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "throttled") {
		t.Errorf("the throttling is not in the notes:\n%s", r.stderr)
	}
	var writes []time.Time
	for _, req := range f.srv.Requests() {
		if req.Write {
			writes = append(writes, req.Time)
		}
	}
	if len(writes) < 24 {
		t.Fatalf("%d writes logged, want at least 24", len(writes))
	}
	most, j := 0, 0
	for i := range writes {
		for writes[i].Sub(writes[j]) >= window {
			j++
		}
		most = max(most, i-j+1)
	}
	if most > limit {
		t.Errorf("%d writes in one %s window, limit %d", most, window, limit)
	}
	if c := f.srv.Counts(); c.AppliedWrites != 24 {
		t.Errorf("%d writes applied, want 24", c.AppliedWrites)
	}
}

// A saved plan carries the layout: apply writes what was reviewed without repeating it.
func TestAzureKVPlanThenApplyJSONLayoutAndRotate(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	inTempDir(t)
	want := writeTestSecrets(t, "in")
	if r := f.run(t, "plan", "--to", "azurekv", "-f", "in", "--azure-layout", "json", "--out", "plan.json"); r.code != ExitOK {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	if r := f.run(t, "apply", "plan.json"); r.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	var db map[string]string
	if err := json.Unmarshal(f.value(t, "shop--db"), &db); err != nil || db["user"] != "admin" || len(db) != len(want["shop/db"]) {
		t.Fatalf("json layout: %v, %v", db, err)
	}
	if r := f.run(t, "verify", "--plan", "plan.json"); r.code != ExitOK {
		t.Errorf("verify --plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Rotation of one key (the address says the layout); rollback puts the migrated value back.
	r := f.run(t, "rotate", "--to", "azurekv", "shop--login", "--key", "password", "--generator", "password:length=40,symbols=0", "-o", "json")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"result": "rotated"`) {
		t.Fatalf("rotate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var login map[string]string
	json.Unmarshal(f.value(t, "shop--login"), &login)
	if len(login["password"]) != 40 || login["username"] != "svc" {
		t.Errorf("after rotation: password of %d characters, username %q", len(login["password"]), login["username"])
	}
	if r := f.run(t, "rotate", "rollback", "--to", "azurekv", "shop--login"); r.code != ExitOK {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	json.Unmarshal(f.value(t, "shop--login"), &login)
	if login["password"] != canaries[0] {
		t.Error("rollback did not make the migrated value current")
	}
}

func TestAzureKVCanariesNeverLeak(t *testing.T) {
	f := startAKVCLI(t, akv.Options{})
	inTempDir(t)
	writeTestSecrets(t, "in")
	var outputs strings.Builder
	for _, args := range [][]string{
		{"plan", "--to", "azurekv", "-f", "in", "-o", "yaml", "--out", "plan.json", "-vv"},
		{"migrate", "--to", "azurekv", "-f", "in", "--manifests", "eso", "--azure-eso-client-id", "c1d2", "-vv"},
		{"migrate", "--to", "azurekv", "-f", "in", "-o", "json", "--dry-run"},
		{"verify", "--to", "azurekv", "-f", "in", "-o", "yaml"},
		{"apply", "plan.json", "-o", "json"},
		{"rotate", "--to", "azurekv", "shop--db--{key}", "--key", "password", "--generator", "password", "-vv"},
		{"rotate", "rollback", "--to", "azurekv", "shop--db--{key}", "-o", "json"},
		{"audit", "verify"},
		{"audit", "export", "--format", "jsonl"},
		{"audit", "export", "--format", "csv"},
	} {
		r := f.run(t, args...)
		outputs.WriteString(r.stdout + r.stderr)
		if r.code != ExitOK {
			t.Errorf("%v: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if !strings.Contains(outputs.String(), "azurekv") {
		t.Fatal("the commands said nothing about the store")
	}
	os.Remove(filepath.Join("in", "secrets.yaml")) // the input itself holds the canaries
	assertNoCanary(t, outputs.String(), ".")
}
