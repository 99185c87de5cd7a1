package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// startVault runs the Vault API test server (Vault's own KV engine behind a thin HTTP layer)
// with KV v2 at secret/ and KV v1 at kv/.
func startVault(t *testing.T) (*vaultapi.Server, string) {
	t.Helper()
	srv, err := vaultapi.New(vaultapi.Options{RootToken: "root-token", KVv2Mounts: []string{"secret"}, KVv1Mounts: []string{"kv"}})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("VAULT_TOKEN", "root-token")
	t.Setenv("VAULT_NAMESPACE", "")
	return srv, addr
}

func openProvider(t *testing.T, addr string, mutate ...func(*Config)) (*Provider, error) {
	t.Helper()
	c := NewConfig().(*Config)
	c.Address = addr
	for _, m := range mutate {
		m(c)
	}
	return c.open(context.Background())
}

func mustOpen(t *testing.T, addr string, mutate ...func(*Config)) *Provider {
	t.Helper()
	p, err := openProvider(t, addr, mutate...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testSecret() *kube.Secret {
	return &kube.Secret{
		Namespace: "shop", Name: "db", UID: "uid-1", Type: "kubernetes.io/basic-auth",
		Data: kube.Data{
			"username":     []byte("admin"),
			"password":     []byte("p@ss\n"),
			"tls.crt":      []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
			".dotfile":     []byte("x"),
			"empty":        {},
			"binary":       {0xff, 0x00, 0xfe, 0x80, 0x01},
			"utf8-unicode": []byte("grüße ✓"),
		},
	}
}

func TestOpenDetectsMounts(t *testing.T) {
	_, addr := startVault(t)
	tests := []struct {
		name  string
		mount string
		want  error
	}{
		{"kv v2", "secret", nil},
		{"kv v1 is refused", "kv", providers.ErrUnsupported},
		// Vault answers 403 for unknown mounts so that they cannot be probed.
		{"missing mount", "nope", providers.ErrPermission},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openProvider(t, addr, func(c *Config) { c.Mount = tc.mount })
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("open mount %s: got %v, want %v", tc.mount, err, tc.want)
			}
		})
	}
	t.Run("bad token", func(t *testing.T) {
		t.Setenv("VAULT_TOKEN", "wrong")
		if _, err := openProvider(t, addr); !errors.Is(err, providers.ErrPermission) {
			t.Fatalf("want ErrPermission, got %v", err)
		}
	})
}

func TestTargets(t *testing.T) {
	_, addr := startVault(t)
	tests := []struct {
		name, tmpl, want string
		err              error
	}{
		{"default", DefaultPathTemplate, "secret/shop/db", nil},
		{"prefix", "k8s/prod/{{.Namespace}}/{{.Name}}", "secret/k8s/prod/shop/db", nil},
		{"starts with mount name", "secret/{{.Name}}", "", providers.ErrInvalidName},
		{"empty segment", "{{.Namespace}}//{{.Name}}", "", providers.ErrInvalidName},
		{"unknown field", "{{.Cluster}}/{{.Name}}", "", providers.ErrInvalidName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustOpen(t, addr, func(c *Config) { c.PathTemplate = tc.tmpl })
			got, err := p.Target(providers.PayloadOf(testSecret()).Ref)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("want %v, got %v (%v)", tc.err, err, got)
				}
				return
			}
			if err != nil || got.Address != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestWriteReadRoundTripIsByteExact(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	s := testSecret()
	tgt, err := p.Target(providers.PayloadOf(s).Ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Read(ctx, tgt); !errors.Is(err, providers.ErrNotFound) {
		t.Fatalf("read before write: want ErrNotFound, got %v", err)
	}
	v, err := p.Write(ctx, tgt, withProvenance(providers.PayloadOf(s), "hmac-sha256:abc", "hmac-sha256:0123456789abcdef", "https://k8s.example:6443", "run-1"), "")
	if err != nil || v != "1" {
		t.Fatalf("write: %v, version %q", err, v)
	}
	st, err := p.Read(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Managed || st.Fingerprint != "hmac-sha256:abc" || st.SourceUID != "uid-1" || st.Type != "kubernetes.io/basic-auth" || st.Version != "1" || st.RunID != "run-1" ||
		st.FingerprintKeyID != "hmac-sha256:0123456789abcdef" {
		t.Errorf("metadata: %+v", st)
	}
	for k, want := range s.Data {
		if got, ok := st.Data[k]; !ok || !bytes.Equal(got, want) {
			t.Errorf("key %s: round trip changed %d bytes into %d bytes", k, len(want), len(got))
		}
	}
	if len(st.Data) != len(s.Data) {
		t.Errorf("key count %d, want %d", len(st.Data), len(s.Data))
	}

	// What other Vault clients see: text as text, the binary key base64 and marked.
	raw, err := p.client.KVv2("secret").Get(ctx, "shop/db")
	if err != nil {
		t.Fatal(err)
	}
	if raw.Data["username"] != "admin" || raw.Data["binary"] != "/wD+gAE=" {
		t.Errorf("stored form: username %v, binary %v", raw.Data["username"], raw.Data["binary"])
	}
	if raw.CustomMetadata[metaEncoding] != "binary" || raw.CustomMetadata[metaCluster] != "https://k8s.example:6443" {
		t.Errorf("custom metadata: %v", raw.CustomMetadata)
	}

	// Check-and-set: a create over an existing entry and an update from a stale version fail.
	if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("second create: want ErrConflict, got %v", err)
	}
	if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), "7"); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("stale update: want ErrConflict, got %v", err)
	}
	if v, err := p.Write(ctx, tgt, providers.PayloadOf(s), "1"); err != nil || v != "2" {
		t.Errorf("update from version 1: %v, %q", err, v)
	}
	vs, err := p.Versions(ctx, tgt)
	if err != nil || strings.Join(vs, ",") != "1,2" {
		t.Errorf("versions %v, %v", vs, err)
	}
}

func TestMarkerClearedWhenNoLongerBinary(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "a", Name: "b", Data: kube.Data{"k": {0xff}}}
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); err != nil {
		t.Fatal(err)
	}
	// The value becomes text that happens to be valid base64: it must not be decoded.
	s.Data["k"] = []byte("AAAA")
	if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), "1"); err != nil {
		t.Fatal(err)
	}
	st, err := p.Read(ctx, tgt)
	if err != nil || string(st.Data["k"]) != "AAAA" {
		t.Fatalf("read %v, %q", err, st.Data["k"])
	}
}

func TestManyBinaryKeysEncodeEverything(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "a", Name: "many", Data: kube.Data{"text": []byte("QUJD")}}
	for i := range 60 {
		s.Data[strings.Repeat("k", 10)+string(rune('A'+i%26))+strings.Repeat("x", i)] = []byte{0xff, byte(i)}
	}
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); err != nil {
		t.Fatal(err)
	}
	st, err := p.Read(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range s.Data {
		if !bytes.Equal(st.Data[k], want) {
			t.Errorf("key %s changed", k)
		}
	}
	for _, r := range p.ExternalRefs(tgt, providers.PayloadOf(s)) {
		if r.Decoding != "Base64" {
			t.Errorf("key %s: ESO must decode every key when all are stored base64", r.SecretKey)
		}
	}
}

func TestCheckRejectsOversizedEntry(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	s := &kube.Secret{Namespace: "a", Name: "big", Data: kube.Data{"blob": bytes.Repeat([]byte{0xff}, 900<<10)}}
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	if err := p.Check(tgt, providers.PayloadOf(s)); !errors.Is(err, providers.ErrTooLarge) {
		t.Fatalf("900 KiB of binary is 1.2 MiB base64: want ErrTooLarge, got %v", err)
	}
	s.Data["blob"] = bytes.Repeat([]byte("a"), 900<<10)
	if err := p.Check(tgt, providers.PayloadOf(s)); err != nil {
		t.Fatalf("900 KiB of text fits: %v", err)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	srv, addr := startVault(t)
	p := mustOpen(t, addr)
	var throttled atomic.Int32
	srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.Contains(r.URL.Path, "/data/") && throttled.Add(1) <= 2 {
			return &vaultapi.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}
		}
		return nil
	})
	s := testSecret()
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	if _, err := p.Write(context.Background(), tgt, providers.PayloadOf(s), ""); err != nil {
		t.Fatalf("write through two 429s: %v", err)
	}
	if throttled.Load() != 3 {
		t.Errorf("want 2 throttled attempts and 1 success, saw %d", throttled.Load())
	}
}

func TestRollback(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "a", Name: "r", Data: kube.Data{"k": []byte("one")}}
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	p.Write(ctx, tgt, providers.PayloadOf(s), "")
	s.Data["k"] = []byte("two")
	p.Write(ctx, tgt, providers.PayloadOf(s), "1")
	v, err := p.Rollback(ctx, tgt, "1")
	if err != nil || v != "3" {
		t.Fatalf("rollback: %v, %q", err, v)
	}
	st, _ := p.Read(ctx, tgt)
	if string(st.Data["k"]) != "one" {
		t.Errorf("after rollback the current value is not version 1's")
	}
}

// A text key rotated to a binary value turns base64 for the entry; the versions before keep
// it as text, and both directions of a rollback read byte-exact.
func TestRollbackAcrossAnEncodingTurn(t *testing.T) {
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	text, raw := []byte("QUJD"), []byte{0xff, 0x00, 0x41}
	s := &kube.Secret{Namespace: "a", Name: "turn", Data: kube.Data{"k": text, "gone": {0xfe}}}
	tgt, _ := p.Target(providers.PayloadOf(s).Ref)
	write := func(expect string) {
		t.Helper()
		if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), expect); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	s.Data = kube.Data{"k": raw}
	write("1")
	for v, want := range map[string]kube.Data{"1": {"k": text, "gone": {0xfe}}, "2": {"k": raw}} {
		st, err := p.ReadVersion(ctx, tgt, v)
		if err != nil || !reflect.DeepEqual(st.Data, want) {
			t.Fatalf("version %s reads %q, %v; want %q", v, st.Data, err, want)
		}
	}
	for _, step := range []struct {
		to, now string
		want    kube.Data
	}{{"1", "3", kube.Data{"k": text, "gone": {0xfe}}}, {"2", "4", kube.Data{"k": raw}}, {"3", "5", kube.Data{"k": text, "gone": {0xfe}}}} {
		v, err := p.Rollback(ctx, tgt, step.to)
		if err != nil || v != step.now {
			t.Fatalf("rollback to %s: %q, %v", step.to, v, err)
		}
		st, err := p.Read(ctx, tgt)
		if err != nil || !reflect.DeepEqual(st.Data, step.want) {
			t.Fatalf("after rollback to %s the entry reads %q, %v; want %q", step.to, st.Data, err, step.want)
		}
	}
}

var _ = api.ErrSecretNotFound

func TestExistingListsFolders(t *testing.T) {
	srv, addr := startVault(t)
	ctx := context.Background()
	p := mustOpen(t, addr, func(c *Config) { c.PathTemplate = "apps/{{.Namespace}}/{{.Name}}" })
	var targets []providers.Target
	for _, ns := range []string{"a", "b", "c"} {
		for _, name := range []string{"x", "y", "z", "w"} {
			s := &kube.Secret{Namespace: ns, Name: name, Type: "Opaque", Data: kube.Data{"k": []byte("v")}}
			tgt, err := p.Target(providers.PayloadOf(s).Ref)
			if err != nil {
				t.Fatal(err)
			}
			targets = append(targets, tgt)
			// a/x and b/y exist.
			if ns+"/"+name == "a/x" || ns+"/"+name == "b/y" {
				if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// A folder called "z" in c/ must not make c/z look like an entry.
	if _, err := p.client.KVv2("secret").Put(ctx, "apps/c/z/inner", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv.SetFaults(func(r *http.Request) *vaultapi.Fault { requests.Add(1); return nil })
	got, err := p.Existing(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"secret/apps/a/x": true, "secret/apps/b/y": true}
	if len(got) != len(want) || !got["secret/apps/a/x"] || !got["secret/apps/b/y"] {
		t.Errorf("Existing = %v, want %v", got, want)
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("Existing sent %d requests for 3 folders, want 3", n)
	}

	// One target per folder: listing would not save a request, so the adapter declines.
	if _, err := p.Existing(ctx, []providers.Target{targets[0], targets[4], targets[8]}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("Existing over 3 targets in 3 folders = %v, want ErrUnsupported", err)
	}
	// A policy without list: ErrPermission, so the engine reads each target instead.
	srv.SetFaults(func(r *http.Request) *vaultapi.Fault {
		if r.URL.Query().Get("list") != "" || r.Method == "LIST" {
			return &vaultapi.Fault{Status: http.StatusForbidden}
		}
		return nil
	})
	if _, err := p.Existing(ctx, targets); !errors.Is(err, providers.ErrPermission) {
		t.Errorf("Existing without list permission = %v, want ErrPermission", err)
	}
}

func TestOpenBaoEnvironment(t *testing.T) {
	// OpenBao's CLI reads BAO_* before VAULT_*; an OpenBao user's shell works unchanged.
	_, addr := startVault(t)
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1") // nothing listens there
	t.Setenv("VAULT_TOKEN", "wrong-token")
	t.Setenv("BAO_ADDR", addr)
	t.Setenv("BAO_TOKEN", "root-token")
	c := NewConfig().(*Config)
	p, err := c.open(context.Background())
	if err != nil {
		t.Fatalf("open with BAO_ADDR and BAO_TOKEN: %v", err)
	}
	if p.addr != addr {
		t.Errorf("address %s, want BAO_ADDR %s", p.addr, addr)
	}
	// A flag still wins over both.
	c = NewConfig().(*Config)
	c.Address, c.MaxRetries = "http://127.0.0.1:1", 0
	if _, err := c.open(context.Background()); err == nil {
		t.Error("--vault-addr did not take precedence over BAO_ADDR")
	}
	// A bad BAO_SKIP_VERIFY is reported, not ignored.
	t.Setenv("BAO_SKIP_VERIFY", "maybe")
	if _, err := NewConfig().(*Config).open(context.Background()); err == nil || !strings.Contains(err.Error(), "BAO_SKIP_VERIFY") {
		t.Errorf("open with BAO_SKIP_VERIFY=maybe: %v", err)
	}
}

func TestTokenFromVaultLogin(t *testing.T) {
	_, addr := startVault(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("VAULT_TOKEN", "")
	t.Setenv("BAO_TOKEN", "")
	if _, err := openProvider(t, addr); err == nil || !strings.Contains(err.Error(), "no vault token") {
		t.Fatalf("open without any token: %v", err)
	}
	// `vault login` stores the token in ~/.vault-token.
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte("root-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openProvider(t, addr); err != nil {
		t.Fatalf("open with ~/.vault-token: %v", err)
	}
}

func TestSoftDeletedAndDestroyedEntries(t *testing.T) {
	// Someone ran `vault kv delete` (or `kv destroy`) on a migrated entry. It still exists for
	// check-and-set, holds no values, and the next write restores it as a new version.
	_, addr := startVault(t)
	p := mustOpen(t, addr)
	ctx := context.Background()
	kv := p.client.KVv2("secret")
	for _, tc := range []struct {
		name   string
		remove func(path string) error
	}{
		{"soft-deleted", func(path string) error { return kv.Delete(ctx, path) }},
		{"destroyed", func(path string) error { return kv.Destroy(ctx, path, []int{1}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSecret()
			s.Name = "db-" + tc.name
			tgt, _ := p.Target(providers.PayloadOf(s).Ref)
			if _, err := p.Write(ctx, tgt, withProvenance(providers.PayloadOf(s), "hmac-sha256:abc", "", "", ""), ""); err != nil {
				t.Fatal(err)
			}
			if err := tc.remove(p.relPath(tgt)); err != nil {
				t.Fatal(err)
			}
			st, err := p.Read(ctx, tgt)
			if err != nil {
				t.Fatalf("read %s entry: %v", tc.name, err)
			}
			if st.Data == nil || len(st.Data) != 0 || st.Version != "1" || !st.Managed {
				t.Fatalf("read %s entry: %+v, want no values, version 1, managed", tc.name, st)
			}
			// Existence is what check-and-set sees: a create would fail, an update restores.
			if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); !errors.Is(err, providers.ErrConflict) {
				t.Errorf("create over a %s entry: %v, want ErrConflict", tc.name, err)
			}
			v, err := p.Write(ctx, tgt, withProvenance(providers.PayloadOf(s), "hmac-sha256:abc", "", "", ""), st.Version)
			if err != nil || v != "2" {
				t.Fatalf("restore: version %q, %v", v, err)
			}
			if st, err = p.Read(ctx, tgt); err != nil || len(st.Data) != len(s.Data) {
				t.Fatalf("after restore: %v, %d keys", err, len(st.Data))
			}
		})
	}
}

func withProvenance(p providers.Payload, fingerprint, keyID, cluster, run string) providers.Payload {
	p.Fingerprint, p.FingerprintKeyID, p.Ref.Cluster, p.RunID = fingerprint, keyID, cluster, run
	return p
}

// TestRequestsReuseConnections writes, reads back, updates and reads old versions of Secrets
// one after another: every request must go over the one connection the first opened. A
// request whose context is cancelled before its body is read (vault/api's WriteRaw does that)
// closes the connection each time, costing a TCP handshake per write and leaving thousands of
// sockets in TIME_WAIT on a large migration.
func TestRequestsReuseConnections(t *testing.T) {
	srv, _ := startVault(t)
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	p := mustOpen(t, ts.URL)
	ctx := context.Background()
	for i := range 20 {
		s := testSecret()
		s.Name = fmt.Sprintf("db-%d", i)
		tgt, err := p.Target(providers.PayloadOf(s).Ref)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Read(ctx, tgt); err != nil {
			t.Fatal(err)
		}
		s.Data["password"] = []byte("rotated")
		if _, err := p.Write(ctx, tgt, providers.PayloadOf(s), "1"); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ReadVersion(ctx, tgt, "1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the requests of 20 Secrets went over %d connections, want 1", n)
	}
}

// TestDecodeKVErrorsShowNoBody: a response that is not JSON is named by its offset, not by the
// character encoding/json found there, which can be one of a value's.
func TestDecodeKVErrorsShowNoBody(t *testing.T) {
	_, err := decodeKV(strings.NewReader(`{"data":{"data":{"k":"v"} Q}}`))
	if err == nil || strings.Contains(err.Error(), "Q") {
		t.Fatalf("error %v", err)
	}
	if _, err := decodeKV(strings.NewReader(`{"data":{"data":{"k":"va`)); err == nil || strings.Contains(err.Error(), "va") {
		t.Fatalf("error %v", err)
	}
}
