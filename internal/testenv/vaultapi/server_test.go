package vaultapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

const testToken = "test-root-token"

// startServer runs a server with KV v2 at "secret" and KV v1 at "kv" until the test ends.
func startServer(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	if opts.RootToken == "" {
		opts.RootToken = testToken
	}
	if opts.KVv2Mounts == nil && opts.KVv1Mounts == nil {
		opts.KVv2Mounts = []string{"secret"}
		opts.KVv1Mounts = []string{"kv"}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	url, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s, url
}

func newClient(t testing.TB, url, token string) *api.Client {
	t.Helper()
	c, err := NewClient(url, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawResponse is an HTTP answer decoded for assertions.
type rawResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, method, url, token, contentType, body string) rawResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: decode body %q: %v", method, url, raw, err)
		}
	}
	return out
}

func errorsOf(body map[string]any) []string {
	raw, ok := body["errors"].([]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(raw))
	for _, e := range raw {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func TestErrorMapping(t *testing.T) {
	_, url := startServer(t, Options{})
	c := newClient(t, url, testToken)
	if _, err := c.KVv2("secret").Put(context.Background(), "app/db", map[string]any{"user": "u"}); err != nil {
		t.Fatalf("seed secret/app/db: %v", err)
	}

	tests := []struct {
		name        string
		method      string
		path        string
		token       string
		contentType string
		body        string
		wantStatus  int
		wantErrors  []string // nil: no errors field expected; empty: present and empty
		wantInError string   // substring of the first error
	}{
		{name: "read missing v2 is 404 with empty errors", method: "GET", path: "secret/data/nope", token: testToken, wantStatus: 404, wantErrors: []string{}},
		{name: "read missing v1 is 404 with empty errors", method: "GET", path: "kv/nope", token: testToken, wantStatus: 404, wantErrors: []string{}},
		{name: "list nothing is 404", method: "LIST", path: "secret/metadata/none", token: testToken, wantStatus: 404, wantErrors: []string{}},
		{name: "cas mismatch is 400", method: "POST", path: "secret/data/app/db", token: testToken, body: `{"options":{"cas":0},"data":{"a":"b"}}`, wantStatus: 400, wantInError: "check-and-set parameter did not match the current version"},
		{name: "no data is 400", method: "POST", path: "secret/data/app/x", token: testToken, body: `{}`, wantStatus: 400, wantInError: "no data provided"},
		{name: "missing token is 403", method: "GET", path: "secret/data/app/db", wantStatus: 403, wantErrors: []string{"permission denied"}},
		{name: "wrong token is 403", method: "GET", path: "secret/data/app/db", token: "nope", wantStatus: 403, wantErrors: []string{"permission denied"}},
		{name: "unknown mount is 404", method: "GET", path: "nomount/data/x", token: testToken, wantStatus: 404, wantInError: "no handler for route"},
		{name: "patch needs merge-patch content type", method: "PATCH", path: "secret/data/app/db", token: testToken, contentType: "application/json", body: `{"data":{"a":"b"}}`, wantStatus: 415, wantInError: "merge-patch"},
		{name: "patch missing is 404", method: "PATCH", path: "secret/data/app/none", token: testToken, contentType: mergePatchContentType, body: `{"data":{"a":"b"}}`, wantStatus: 404},
		{name: "unknown method is 405", method: "TRACE", path: "secret/data/app/db", token: testToken, wantStatus: 405, wantErrors: []string{}},
		{name: "bad json is 400", method: "POST", path: "secret/data/app/db", token: testToken, body: `{"data":`, wantStatus: 400, wantInError: "error parsing JSON"},
		{name: "bad list flag is 400", method: "GET", path: "secret/metadata/?list=maybe", token: testToken, wantStatus: 400},
		{name: "v2 path without data prefix is 404", method: "GET", path: "secret/app/db", token: testToken, wantStatus: 404},
		{name: "sys mount read unknown is 400", method: "GET", path: "sys/mounts/nomount", token: testToken, wantStatus: 400, wantInError: "No secret engine mount at nomount/"},
		{name: "ui mounts unknown is 403", method: "GET", path: "sys/internal/ui/mounts/nomount", token: testToken, wantStatus: 403, wantInError: "preflight capability check returned 403"},
		{name: "mount conflict is 400", method: "POST", path: "sys/mounts/secret", token: testToken, body: `{"type":"kv"}`, wantStatus: 400, wantInError: "path is already in use at secret/"},
		{name: "mount under sys is refused", method: "POST", path: "sys/mounts/sys/x", token: testToken, body: `{"type":"kv"}`, wantStatus: 400, wantInError: "cannot mount"},
		{name: "unknown engine type is 400", method: "POST", path: "sys/mounts/t", token: testToken, body: `{"type":"transit"}`, wantStatus: 400, wantInError: "plugin not found"},
		{name: "unknown sys path is 404", method: "GET", path: "sys/policy/x", token: testToken, wantStatus: 404, wantInError: "unsupported path"},
		{name: "health needs no token", method: "GET", path: "sys/health", wantStatus: 200},
		{name: "body over 32 MiB is 413", method: "PUT", path: "secret/data/big", token: testToken, body: `{"data":{"k":"` + strings.Repeat("x", maxRequestSize) + `"}}`, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := do(t, tc.method, url+"/v1/"+tc.path, tc.token, tc.contentType, tc.body)
			if got.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %v)", got.status, tc.wantStatus, got.body)
			}
			errs := errorsOf(got.body)
			if tc.wantErrors != nil {
				if _, ok := got.body["errors"]; !ok {
					t.Fatalf("body %v has no errors field", got.body)
				}
				if strings.Join(errs, "|") != strings.Join(tc.wantErrors, "|") {
					t.Fatalf("errors = %q, want %q", errs, tc.wantErrors)
				}
			}
			if tc.wantInError != "" && (len(errs) == 0 || !strings.Contains(errs[0], tc.wantInError)) {
				t.Fatalf("errors = %q, want one containing %q", errs, tc.wantInError)
			}
		})
	}
}

func TestEnvelope(t *testing.T) {
	_, url := startServer(t, Options{})
	w := do(t, "POST", url+"/v1/secret/data/env", testToken, "", `{"data":{"k":"v"}}`)
	if w.status != 200 {
		t.Fatalf("write status %d", w.status)
	}
	for _, k := range []string{"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth", "mount_type"} {
		if _, ok := w.body[k]; !ok {
			t.Errorf("write answer lacks %q: %v", k, w.body)
		}
	}
	if w.body["mount_type"] != "kv" {
		t.Errorf("mount_type = %v, want kv", w.body["mount_type"])
	}
	for _, method := range []string{"LIST", "GET"} {
		l := do(t, method, url+"/v1/secret/metadata/?list=true", testToken, "", "")
		data, _ := l.body["data"].(map[string]any)
		if l.status != 200 || fmt.Sprint(data["keys"]) != "[env]" {
			t.Errorf("%s list: status %d data %v, want keys [env]", method, l.status, data)
		}
	}
	d := do(t, "DELETE", url+"/v1/secret/metadata/env", testToken, "", "")
	if d.status != 204 || d.body != nil {
		t.Errorf("delete metadata: status %d body %v, want 204 and no body", d.status, d.body)
	}
	v1 := do(t, "PUT", url+"/v1/kv/env", testToken, "", `{"k":"v"}`)
	if v1.status != 204 {
		t.Errorf("kv v1 write status %d, want 204", v1.status)
	}
	r1 := do(t, "GET", url+"/v1/kv/env", testToken, "", "")
	if r1.status != 200 || r1.body["lease_duration"] != float64(2764800) {
		t.Errorf("kv v1 read: status %d lease_duration %v, want 200 and 2764800", r1.status, r1.body["lease_duration"])
	}
	ns := do(t, "GET", url+"/v1/sys/health", "", "", "")
	if ns.body["sealed"] != false || ns.body["initialized"] != true {
		t.Errorf("health = %v", ns.body)
	}
}

func TestKVv2ThroughClient(t *testing.T) {
	ctx := context.Background()
	_, url := startServer(t, Options{})
	kv := newClient(t, url, testToken).KVv2("secret")

	s1, err := kv.Put(ctx, "team/app", map[string]any{"password": "p1"}, api.WithCheckAndSet(0))
	if err != nil {
		t.Fatalf("first cas=0 put: %v", err)
	}
	if s1.VersionMetadata.Version != 1 {
		t.Fatalf("version = %d, want 1", s1.VersionMetadata.Version)
	}
	_, err = kv.Put(ctx, "team/app", map[string]any{"password": "p2"}, api.WithCheckAndSet(0))
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), "check-and-set parameter did not match the current version") {
		t.Fatalf("second cas=0 put: err = %v, want 400 check-and-set mismatch", err)
	}
	if _, err := kv.Put(ctx, "team/app", map[string]any{"password": "p2"}, api.WithCheckAndSet(1)); err != nil {
		t.Fatalf("cas=1 put: %v", err)
	}
	got, err := kv.Get(ctx, "team/app")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.VersionMetadata.Version != 2 || got.Data["password"] != "p2" {
		t.Fatalf("get: version %d, keys %d", got.VersionMetadata.Version, len(got.Data))
	}
	old, err := kv.GetVersion(ctx, "team/app", 1)
	if err != nil || old.Data["password"] != "p1" {
		t.Fatalf("get version 1: %v", err)
	}

	if err := kv.PutMetadata(ctx, "team/app", api.KVMetadataPutInput{
		MaxVersions:    5,
		CustomMetadata: map[string]any{"owner": "platform", "source": "ns/app"},
	}); err != nil {
		t.Fatalf("put metadata: %v", err)
	}
	if err := kv.PatchMetadata(ctx, "team/app", api.KVMetadataPatchInput{
		CustomMetadata: map[string]any{"owner": "payments"},
	}); err != nil {
		t.Fatalf("patch metadata: %v", err)
	}
	md, err := kv.GetMetadata(ctx, "team/app")
	if err != nil {
		t.Fatalf("get metadata: %v", err)
	}
	if md.MaxVersions != 5 || md.CustomMetadata["owner"] != "payments" || md.CustomMetadata["source"] != "ns/app" || md.CurrentVersion != 2 || len(md.Versions) != 2 {
		t.Fatalf("metadata = max %d custom %v current %d versions %d", md.MaxVersions, md.CustomMetadata, md.CurrentVersion, len(md.Versions))
	}

	if _, err := kv.Patch(ctx, "team/app", map[string]any{"user": "u"}); err != nil {
		t.Fatalf("patch: %v", err)
	}
	got, err = kv.Get(ctx, "team/app")
	if err != nil || got.VersionMetadata.Version != 3 || got.Data["user"] != "u" || got.Data["password"] != "p2" {
		t.Fatalf("after patch: %v, keys %d", err, len(got.Data))
	}

	if _, err := kv.Rollback(ctx, "team/app", 1); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got, err = kv.Get(ctx, "team/app")
	if err != nil || got.VersionMetadata.Version != 4 || got.Data["password"] != "p1" {
		t.Fatalf("after rollback: %v", err)
	}

	if err := kv.Delete(ctx, "team/app"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Vault answers a read of a soft-deleted version with 404 and the version metadata, which
	// the client returns as a secret without data.
	deleted, err := kv.Get(ctx, "team/app")
	if err != nil || deleted.Data != nil || deleted.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("get deleted: err = %v, want no data and a deletion time", err)
	}
	if err := kv.Undelete(ctx, "team/app", []int{4}); err != nil {
		t.Fatalf("undelete: %v", err)
	}
	if err := kv.Destroy(ctx, "team/app", []int{1}); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed, err := kv.GetVersion(ctx, "team/app", 1)
	if err != nil || destroyed.Data != nil || !destroyed.VersionMetadata.Destroyed {
		t.Fatalf("get destroyed: err = %v, want no data and destroyed", err)
	}
	vs, err := kv.GetVersionsAsList(ctx, "team/app")
	if err != nil || len(vs) != 4 || !vs[0].Destroyed {
		t.Fatalf("versions: %v (%d)", err, len(vs))
	}

	list, err := newClient(t, url, testToken).Logical().ListWithContext(ctx, "secret/metadata/team")
	if err != nil || list == nil {
		t.Fatalf("list: %v", err)
	}
	if keys, _ := list.Data["keys"].([]any); len(keys) != 1 || keys[0] != "app" {
		t.Fatalf("list keys = %v", list.Data["keys"])
	}

	if _, err := kv.Get(ctx, "team/none"); !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("get missing: err = %v, want ErrSecretNotFound", err)
	}
}

func TestKVv1AndMountsThroughClient(t *testing.T) {
	ctx := context.Background()
	_, url := startServer(t, Options{})
	c := newClient(t, url, testToken)

	if err := c.KVv1("kv").Put(ctx, "app", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("kv v1 put: %v", err)
	}
	s, err := c.KVv1("kv").Get(ctx, "app")
	if err != nil || s.Data["k"] != "v" {
		t.Fatalf("kv v1 get: %v", err)
	}

	if err := c.Sys().Mount("team/kv", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount team/kv: %v", err)
	}
	if err := c.Sys().Mount("legacy", &api.MountInput{Type: "kv-v1"}); err != nil {
		t.Fatalf("mount legacy: %v", err)
	}
	tests := []struct {
		name, path, wantVersion string
	}{
		{"default v2", "secret", "2"},
		{"v1", "kv", "1"},
		{"nested v2", "team/kv", "2"},
		{"alias v1", "legacy", "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := c.Sys().GetMountWithContext(ctx, tc.path)
			if err != nil {
				t.Fatalf("get mount: %v", err)
			}
			if m.Type != "kv" || m.Options["version"] != tc.wantVersion {
				t.Fatalf("mount %s = type %q options %v, want kv version %s", tc.path, m.Type, m.Options, tc.wantVersion)
			}
			ui, err := c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+tc.path+"/some/key")
			if err != nil {
				t.Fatalf("ui mounts: %v", err)
			}
			opts, _ := ui.Data["options"].(map[string]any)
			if ui.Data["path"] != tc.path+"/" || ui.Data["type"] != "kv" || opts["version"] != tc.wantVersion {
				t.Fatalf("ui mounts = %v", ui.Data)
			}
		})
	}
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		t.Fatalf("list mounts: %v", err)
	}
	for _, p := range []string{"secret/", "kv/", "team/kv/", "legacy/", "sys/"} {
		if mounts[p] == nil {
			t.Errorf("mount list lacks %s", p)
		}
	}
	if err := c.Sys().Unmount("team/kv"); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if _, err := c.KVv2("team/kv").Get(ctx, "x"); err == nil {
		t.Fatal("read from unmounted engine succeeded")
	}

	self, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("lookup-self: %v", err)
	}
	if self.Data["display_name"] != "root" || fmt.Sprint(self.Data["policies"]) != "[root]" || self.Data["accessor"] == "" {
		t.Fatalf("lookup-self: display_name %v policies %v", self.Data["display_name"], self.Data["policies"])
	}
	caps, err := c.Sys().CapabilitiesSelfWithContext(ctx, "secret/data/x")
	if err != nil || fmt.Sprint(caps) != "[root]" {
		t.Fatalf("capabilities-self = %v, %v", caps, err)
	}
}

func TestNamespaceHeaderIgnored(t *testing.T) {
	ctx := context.Background()
	_, url := startServer(t, Options{})
	c := newClient(t, url, testToken)
	c.SetNamespace("team-a")
	if _, err := c.KVv2("secret").Put(ctx, "x", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("put with namespace: %v", err)
	}
	c.ClearNamespace()
	if _, err := c.KVv2("secret").Get(ctx, "x"); err != nil {
		t.Fatalf("namespaced write not visible in root namespace: %v", err)
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	s, url := startServer(t, Options{})
	c := newClient(t, url, testToken)
	c.SetMaxRetries(0)

	t.Run("status with retry-after", func(t *testing.T) {
		s.SetFaults(func(r *http.Request) *Fault {
			return &Fault{Status: http.StatusTooManyRequests, RetryAfter: "7"}
		})
		defer s.SetFaults(nil)
		got := do(t, "GET", url+"/v1/secret/data/x", testToken, "", "")
		if got.status != 429 || got.header.Get("Retry-After") != "7" || len(errorsOf(got.body)) != 1 {
			t.Fatalf("got %d %v %v", got.status, got.header, got.body)
		}
	})

	t.Run("client retries through transient 503", func(t *testing.T) {
		var mu sync.Mutex
		left := 2
		s.SetFaults(func(r *http.Request) *Fault {
			mu.Lock()
			defer mu.Unlock()
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				if left > 0 {
					left--
					return &Fault{Status: http.StatusServiceUnavailable, RetryAfter: "0"}
				}
			}
			return nil
		})
		defer s.SetFaults(nil)
		rc := newClient(t, url, testToken)
		rc.SetMinRetryWait(time.Millisecond)
		rc.SetMaxRetryWait(5 * time.Millisecond)
		s.ResetStats()
		if _, err := rc.KVv2("secret").Put(ctx, "retried", map[string]any{"k": "v"}); err != nil {
			t.Fatalf("put with retries: %v", err)
		}
		st := s.Stats()
		if st.Writes != 3 || st.AppliedWrites != 1 || st.Faulted != 2 {
			t.Fatalf("stats = %+v, want 3 writes, 1 applied, 2 faulted", st)
		}
	})

	t.Run("delay honours client timeout", func(t *testing.T) {
		s.SetFaults(func(r *http.Request) *Fault { return &Fault{Delay: time.Minute} })
		defer s.SetFaults(nil)
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := c.KVv2("secret").Get(tctx, "x"); err == nil {
			t.Fatal("delayed read succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("delayed read took %s", d)
		}
	})

	t.Run("lost response after applied write", func(t *testing.T) {
		s.SetFaults(func(r *http.Request) *Fault {
			if r.Method == http.MethodPut || r.Method == http.MethodPost {
				return &Fault{LoseResponse: true}
			}
			return nil
		})
		_, err := c.KVv2("secret").Put(ctx, "lost", map[string]any{"k": "v"}, api.WithCheckAndSet(0))
		s.SetFaults(nil)
		if err == nil {
			t.Fatal("put with lost response reported success")
		}
		got, err := c.KVv2("secret").Get(ctx, "lost")
		if err != nil || got.VersionMetadata.Version != 1 {
			t.Fatalf("write behind lost response not applied: %v", err)
		}
	})
}

func TestConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s, url := startServer(t, Options{})
	c := newClient(t, url, testToken)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Every worker also writes one shared key, so versions must add up.
				for _, p := range []string{fmt.Sprintf("w%d/k%d", w, i), "shared"} {
					if _, err := c.KVv2("secret").Put(ctx, p, map[string]any{"i": i}); err != nil {
						errs <- fmt.Errorf("put %s: %w", p, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	md, err := c.KVv2("secret").GetMetadata(ctx, "shared")
	if err != nil || md.CurrentVersion != workers*each {
		t.Fatalf("shared current version = %v, %v; want %d", md, err, workers*each)
	}
	if st := s.Stats(); st.AppliedWrites != 2*workers*each {
		t.Fatalf("applied writes = %d, want %d", st.AppliedWrites, 2*workers*each)
	}
}

func TestHandlerWithoutListener(t *testing.T) {
	s, err := New(Options{RootToken: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	c := newClient(t, hs.URL, testToken)
	if _, err := c.KVv2("secret").Put(context.Background(), "x", map[string]any{"k": "v"}); err != nil {
		t.Fatalf("put through handler: %v", err)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:80"} {
		if _, err := s.Start(addr); err == nil {
			t.Errorf("start on %s succeeded", addr)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	_, url := startServer(b, Options{})
	c := newClient(b, url, testToken)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := c.KVv2("secret").Put(ctx, fmt.Sprintf("bench/%p/%d", pb, i), map[string]any{"k": "v"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
