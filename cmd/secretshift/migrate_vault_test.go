package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
	"github.com/secretshift/secretshift/migrate"
)

// canary values are planted in Secrets; no output, file or log may ever contain them.
var canaries = []string{"CANARY-pw-3b7f9d2e", "CANARY-token-a81c44f0", "CANARY-key-5e0d7b19"}

// vaultFixture is the Vault API test server (Vault's KV engine) and a client for checks.
type vaultFixture struct {
	srv    *vaultapi.Server
	addr   string
	client *api.Client
}

func startVault(t *testing.T) *vaultFixture {
	t.Helper()
	v := testenv.NewVault(t, vaultapi.Options{RootToken: "root-token", KVv2Mounts: []string{"secret"}, KVv1Mounts: []string{"kv1"}})
	c, err := v.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_TOKEN", v.Token)
	t.Setenv("VAULT_ADDR", v.Addr)
	return &vaultFixture{srv: v.Server, addr: v.Addr, client: c}
}

// writeTestSecrets lays out Secrets of many types, with canaries, binary and odd keys.
func writeTestSecrets(t *testing.T, dir string) map[string]map[string][]byte {
	t.Helper()
	bin := []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x80}
	docker := fmt.Sprintf(`{"auths":{"registry.example":{"auth":"%s"}}}`, base64.StdEncoding.EncodeToString([]byte("u:"+canaries[1])))
	secrets := map[string]struct {
		typ  string
		data map[string][]byte
	}{
		"shop/db":         {"Opaque", map[string][]byte{"password": []byte(canaries[0] + "\n"), "user": []byte("admin"), "app.properties": []byte("a=1\nb=2\n"), ".hidden": []byte("dot"), "empty": {}}},
		"shop/blob":       {"Opaque", map[string][]byte{"keystore.p12": bin, "note": []byte("text")}},
		"shop/login":      {"kubernetes.io/basic-auth", map[string][]byte{"username": []byte("svc"), "password": []byte(canaries[0])}},
		"payments/pull":   {"kubernetes.io/dockerconfigjson", map[string][]byte{".dockerconfigjson": []byte(docker)}},
		"payments/tls":    {"kubernetes.io/tls", map[string][]byte{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"), "tls.key": []byte(canaries[2])}},
		"payments/deploy": {"kubernetes.io/ssh-auth", map[string][]byte{"ssh-privatekey": []byte(canaries[2] + "\n")}},
	}
	want := map[string]map[string][]byte{}
	var docs []string
	for ref, s := range secrets {
		ns, name, _ := strings.Cut(ref, "/")
		data := map[string]string{}
		for k, v := range s.data {
			data[k] = base64.StdEncoding.EncodeToString(v)
		}
		b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": name, "namespace": ns, "uid": "uid-" + name, "labels": map[string]string{"app": name}}, "type": s.typ, "data": data})
		docs = append(docs, string(b))
		want[ref] = s.data
	}
	// One that must be skipped.
	docs = append(docs, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sa-token","namespace":"shop","annotations":{"kubernetes.io/service-account.name":"default"}},"type":"kubernetes.io/service-account-token","data":{"token":"`+base64.StdEncoding.EncodeToString([]byte(canaries[1]))+`"}}`)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

func readKV(t *testing.T, c *api.Client, path string) *api.KVSecret {
	t.Helper()
	s, err := c.KVv2("secret").Get(context.Background(), path)
	if err != nil {
		t.Fatalf("read secret/%s: %v", path, err)
	}
	return s
}

func TestMigrateToVaultEndToEnd(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	want := writeTestSecrets(t, "in")

	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--manifests", "eso", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("migrate exit %d\n%s", r.code, r.stderr)
	}
	var rep migrate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if rep.Counts[migrate.ResultCreated] != len(want) || rep.Counts[migrate.ResultSkipped] != 1 {
		t.Fatalf("counts %v, want %d created and 1 skipped", rep.Counts, len(want))
	}

	// Byte-exact read back through the Vault API, decoding what the metadata marks as base64.
	for ref, data := range want {
		s := readKV(t, v.client, ref)
		marked := map[string]bool{}
		if m, _ := s.CustomMetadata["secretshift-base64-keys"].(string); m != "" {
			for _, k := range strings.Split(m, ",") {
				marked[k] = true
			}
		}
		if len(s.Data) != len(data) {
			t.Errorf("%s: %d keys stored, want %d", ref, len(s.Data), len(data))
		}
		for k, wantV := range data {
			str, _ := s.Data[k].(string)
			got := []byte(str)
			if marked[k] {
				got, _ = base64.StdEncoding.DecodeString(str)
			}
			if !bytes.Equal(got, wantV) {
				t.Errorf("%s key %s: stored bytes differ", ref, k)
			}
		}
		if s.VersionMetadata.Version != 1 {
			t.Errorf("%s: version %d after one run", ref, s.VersionMetadata.Version)
		}
	}

	// A second run writes nothing.
	before := v.srv.Stats()
	r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	if r.code != ExitOK {
		t.Fatalf("second migrate exit %d\n%s", r.code, r.stderr)
	}
	if after := v.srv.Stats(); after.Writes != before.Writes {
		t.Fatalf("second run made %d writes", after.Writes-before.Writes)
	}
	for ref := range want {
		if s := readKV(t, v.client, ref); s.VersionMetadata.Version != 1 {
			t.Errorf("%s: current version %d after a second run", ref, s.VersionMetadata.Version)
		}
	}

	// verify passes, then catches a value changed in Vault behind secretshift's back.
	if r = runCLI(t, "", "verify", "--to", "vault", "-f", "in"); r.code != ExitOK {
		t.Fatalf("verify exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := v.client.KVv2("secret").Patch(context.Background(), "shop/login", map[string]any{"password": "changed"}); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "verify", "--to", "vault", "-f", "in")
	if r.code != ExitVerify || !strings.Contains(r.stdout, "different value for key password") {
		t.Fatalf("verify after tampering: exit %d\n%s", r.code, r.stdout)
	}
	// The audit log classifies the mismatch.
	logBytes, err := os.ReadFile(audit.DefaultLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"action":"verify.check","outcome":"failure","error_class":"verify","error":"stored content differs`).Match(logBytes) {
		t.Error("no verify.check failure of class verify in the audit log")
	}
	// The value changed in Vault is not rolled back from the stale source by the next migrate.
	r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	if r.code != ExitPartial || !strings.Contains(r.stdout, "changed in the store after secretshift wrote it") {
		t.Fatalf("migrate after a change in Vault: exit %d, want %d and a conflict\n%s%s", r.code, ExitPartial, r.stdout, r.stderr)
	}
	if s := readKV(t, v.client, "shop/login"); s.Data["password"] != "changed" {
		t.Errorf("the password changed in Vault was replaced")
	}

	// The manifests exist for every migrated Secret.
	for ref := range want {
		if _, err := os.Stat(filepath.Join("eso", ref+".externalsecret.yaml")); err != nil {
			t.Errorf("no ExternalSecret for %s: %v", ref, err)
		}
	}
	assertNoCanary(t, r.stdout+r.stderr, ".")
}

func TestMigrateRefusesForeignContent(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	if _, err := v.client.KVv2("secret").Put(context.Background(), "shop/db", map[string]any{"password": "someone else's"}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	if r.code != ExitPartial || !strings.Contains(r.stdout, "conflict") {
		t.Fatalf("want exit %d with a conflict, got %d\n%s\n%s", ExitPartial, r.code, r.stdout, r.stderr)
	}
	if s := readKV(t, v.client, "shop/db"); s.VersionMetadata.Version != 1 || s.Data["password"] != "someone else's" {
		t.Fatalf("foreign entry was changed")
	}
	if r = runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--overwrite"); r.code != ExitOK {
		t.Fatalf("--overwrite: exit %d\n%s", r.code, r.stderr)
	}
	if s := readKV(t, v.client, "shop/db"); s.VersionMetadata.Version != 2 {
		t.Fatalf("--overwrite should write version 2, got %d", s.VersionMetadata.Version)
	}
}

func TestPlanRejectsCollisionsAndWritesNothing(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	// Without the namespace in the path, shop/db... and payments/... keep apart, but two
	// Secrets named alike in different namespaces would collide: make one.
	os.WriteFile(filepath.Join("in", "dup.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: payments}\nstringData: {a: b}\n"), 0o644)
	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--vault-path", "flat/{{.Name}}")
	if r.code != ExitError || !strings.Contains(r.stderr, "plan rejected") || !strings.Contains(r.stderr, "also the target of") {
		t.Fatalf("want the plan rejected for a collision, got exit %d\n%s", r.code, r.stderr)
	}
	if st := v.srv.Stats(); st.Writes != 0 {
		t.Fatalf("%d writes after a rejected plan", st.Writes)
	}
}

func TestKVv1MountIsRefusedClearly(t *testing.T) {
	startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	r := runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--vault-mount", "kv1")
	if r.code != ExitError || !strings.Contains(r.stderr, "kv version 1") || !strings.Contains(r.stderr, "enable-versioning") {
		t.Fatalf("want a clear kv v1 error, got exit %d\n%s", r.code, r.stderr)
	}
}

func TestPlanThenApply(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	r := runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--out", "plan.json", "--detailed-exitcode")
	if r.code != ExitChanges {
		t.Fatalf("plan with changes: exit %d, want %d\n%s", r.code, ExitChanges, r.stderr)
	}
	if v.srv.Stats().Writes != 0 {
		t.Fatal("plan wrote to Vault")
	}
	if r = runCLI(t, "", "apply", "plan.json"); r.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s", r.code, r.stderr)
	}
	if r = runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--detailed-exitcode"); r.code != ExitOK {
		t.Fatalf("plan after apply should have no changes: exit %d\n%s", r.code, r.stdout)
	}
	// A Secret changed after the plan is refused by apply.
	runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--out", "plan2.json")
	os.WriteFile(filepath.Join("in", "late.yaml"), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {password: new}\n"), 0o644)
	os.Remove(filepath.Join("in", "secrets.yaml"))
	r = runCLI(t, "", "apply", "plan2.json")
	if r.code != ExitPartial || !strings.Contains(r.stdout, "source changed") {
		t.Fatalf("apply of a stale plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestApplyRefusesAnEditedPlan(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	if r := runCLI(t, "", "plan", "--to", "vault", "-f", "in", "--out", "plan.json"); r.code != ExitOK && r.code != ExitChanges {
		t.Fatalf("plan: exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile("plan.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, edit, want string }{
		{"a skipped service-account token turned into a create", `"skip"`, "skipped now"},
		{"an action that does not exist", `"exfiltrate"`, "not an action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var plan map[string]any
			if err := json.Unmarshal(b, &plan); err != nil {
				t.Fatal(err)
			}
			for _, it := range plan["items"].([]any) {
				item := it.(map[string]any)
				if item["name"] == "sa-token" && tc.edit == `"skip"` {
					item["action"] = "create"
					item["target"] = map[string]any{"provider": "vault", "address": "secret/shop/sa-token"}
				}
				if item["name"] == "db" && tc.edit == `"exfiltrate"` {
					item["action"] = "exfiltrate"
				}
			}
			edited, _ := json.Marshal(plan)
			os.WriteFile("edited.json", edited, 0o600)
			r := runCLI(t, "", "apply", "edited.json")
			if r.code == ExitOK || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("apply of an edited plan: exit %d, want a refusal saying %q\n%s", r.code, tc.want, r.stderr)
			}
			if w := v.srv.Stats().Writes; w != 0 {
				t.Fatalf("%d writes from an edited plan", w)
			}
		})
	}
}

func TestAuditFailureStopsBeforeAnyWrite(t *testing.T) {
	v := startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	os.WriteFile("not-a-dir", []byte("x"), 0o644)
	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in", "--audit-log", "not-a-dir/audit.jsonl")
	if r.code != ExitAudit {
		t.Fatalf("want exit %d, got %d\n%s", ExitAudit, r.code, r.stderr)
	}
	if st := v.srv.Stats(); st.Writes != 0 {
		t.Fatalf("%d writes reached Vault although the audit log was unavailable", st.Writes)
	}
}

func TestKilledRunResumesWithoutDuplicateVersions(t *testing.T) {
	v := startVault(t)
	dir := t.TempDir()
	t.Chdir(dir)
	const n = 60
	var docs []string
	for i := range n {
		docs = append(docs, fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: s%02d, namespace: bulk}\nstringData: {k: value-%d}\n", i, i))
	}
	os.MkdirAll("in", 0o755)
	os.WriteFile(filepath.Join("in", "bulk.yaml"), []byte(strings.Join(docs, "---\n")), 0o644)
	// Slow every data write down so the kill lands mid-run.
	v.srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if strings.Contains(r.URL.Path, "/data/") && r.Method != http.MethodGet {
			return &vaultapi.Fault{Delay: 20 * time.Millisecond}
		}
		return nil
	})
	cmd := commandProcess(t, "migrate", "--to", "vault", "-f", "in", "--concurrency", "4")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for v.srv.Stats().Writes < 2*n/3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	v.srv.SetFaults(nil)
	written := 0
	for i := range n {
		if s, err := v.client.KVv2("secret").Get(context.Background(), fmt.Sprintf("bulk/s%02d", i)); err == nil && s.Data != nil {
			written++
		}
	}
	if written == 0 || written == n {
		t.Fatalf("the kill should land mid-run; %d of %d written", written, n)
	}

	r := runCLI(t, "", "migrate", "--to", "vault", "-f", "in")
	if r.code != ExitOK {
		t.Fatalf("resumed run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i := range n {
		s := readKV(t, v.client, fmt.Sprintf("bulk/s%02d", i))
		if s.VersionMetadata.Version != 1 || s.Data["k"] != fmt.Sprintf("value-%d", i) {
			t.Errorf("bulk/s%02d: version %d after kill and resume, want exactly 1", i, s.VersionMetadata.Version)
		}
	}
	// The killed run's records stay on the chain, and the resumed run seals them.
	if r := runCLI(t, "", "audit", "verify"); r.code != ExitOK {
		t.Errorf("audit verify after kill and resume: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCanariesNeverLeak(t *testing.T) {
	startVault(t)
	t.Chdir(t.TempDir())
	writeTestSecrets(t, "in")
	var outputs strings.Builder
	for _, args := range [][]string{
		{"discover", "-f", "in", "--fingerprints", "-v"},
		{"discover", "-f", "in", "-o", "json"},
		{"plan", "--to", "vault", "-f", "in", "-o", "yaml", "--out", "plan.json", "-vv"},
		{"migrate", "--to", "vault", "-f", "in", "--manifests", "eso", "-vv"},
		{"migrate", "--to", "vault", "-f", "in", "-o", "json", "--dry-run"},
		{"verify", "--to", "vault", "-f", "in", "-o", "yaml"},
		{"apply", "plan.json", "-o", "json"},
		{"migrate", "--to", "sops", "-f", "in", "--sops-out", "sops-out", "-vv"},
		{"migrate", "--to", "sops", "-f", "in", "--sops-out", "sops-out", "-o", "yaml"},
		{"verify", "--to", "sops", "-f", "in", "--sops-out", "sops-out", "-o", "json"},
		{"audit", "verify"},
		{"audit", "export", "--format", "jsonl"},
		{"audit", "export", "--format", "csv"},
		{"audit", "export", "--format", "ocsf"},
		{"audit", "export", "--format", "cef"},
	} {
		r := runCLI(t, "", args...)
		outputs.WriteString(r.stdout + r.stderr)
	}
	os.Remove(filepath.Join("in", "secrets.yaml")) // the input itself holds the canaries
	assertNoCanary(t, outputs.String(), ".")
}

// assertNoCanary fails when any canary, or its base64 form, is in out or in any file below dir.
func assertNoCanary(t *testing.T, out, dir string) {
	t.Helper()
	var forms []string
	for _, c := range canaries {
		forms = append(forms, c, base64.StdEncoding.EncodeToString([]byte(c)), base64.StdEncoding.EncodeToString([]byte(c+"\n")))
	}
	check := func(where, text string) {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("a planted value appears in %s", where)
			}
		}
	}
	check("command output", out)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, "in"+string(filepath.Separator)) {
			return nil
		}
		b, _ := os.ReadFile(path)
		check(path, string(b))
		return nil
	})
}

// TestMigrateCorpusToVault runs every real-world manifest of the corpus through migrate, one
// file at a time: each ends migrated and byte-exact in Vault, skipped with a reason, or refused
// with a clear error that names the file — never a crash, never altered bytes.
func TestMigrateCorpusToVault(t *testing.T) {
	v := startVault(t)
	corpus, err := filepath.Abs(filepath.Join("..", "..", "kube", "testdata", "corpus", "k8s-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	if len(files) < 10 {
		t.Fatalf("corpus not found at %s", corpus)
	}
	t.Chdir(t.TempDir())
	migrated := 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := runCLI(t, "", "migrate", "--to", "vault", "-f", file, "-o", "json")
			switch r.code {
			case ExitOK:
			case ExitError: // an object could not be read: nothing was written
				if !strings.Contains(r.stderr, filepath.Base(file)) {
					t.Fatalf("refused without naming the file:\n%s", r.stderr)
				}
				return
			default:
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			var rep migrate.Report
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			// Compare what Vault holds with what discover decoded from the same file.
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
			fp, err := (&factory{ErrOut: io.Discard, Getenv: os.Getenv}).fingerprinter("", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range inv.Items {
				if it.Action != "migrate" {
					continue
				}
				s := readKV(t, v.client, it.Namespace+"/"+it.Name)
				marked := map[string]bool{}
				if m, _ := s.CustomMetadata["secretshift-base64-keys"].(string); m != "" {
					for _, k := range strings.Split(m, ",") {
						marked[k] = true
					}
				}
				for _, k := range it.Keys {
					str, _ := s.Data[k.Name].(string)
					got := []byte(str)
					if marked[k.Name] {
						got, _ = base64.StdEncoding.DecodeString(str)
					}
					if fp.Value(got) != k.Fingerprint {
						t.Errorf("%s/%s key %s: Vault holds other bytes than the manifest", it.Namespace, it.Name, k.Name)
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
