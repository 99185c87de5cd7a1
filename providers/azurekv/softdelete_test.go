package azurekv

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestSoftDeletedNameIsAConflictOrRecovered(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	s := &kube.Secret{Namespace: "shop", Name: "api", UID: "u", Data: kube.Data{"token": []byte("t0k3n"), "user": []byte("svc")}}
	tg, _ := write(t, openAKV(t, srv), s, "fp-1")
	// Someone deletes one of the secrets; soft delete keeps its name.
	if _, err := sdk.DeleteSecret(ctx, "shop--api--token", nil); err != nil {
		t.Fatal(err)
	}

	// A new run plans the same Secret: the plan names the secret and both ways out.
	p := openAKV(t, srv)
	pl := payload(s, "fp-1", "run-2")
	if err := p.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	exists, err := p.Existing(ctx, []providers.Target{tg})
	if err != nil || !exists[tg.Address] {
		t.Fatalf("Existing: %v, %v", exists, err)
	}
	_, err = p.Read(ctx, tg)
	if !errors.Is(err, providers.ErrConflict) {
		t.Fatalf("read with a soft-deleted name: %v, want ErrConflict", err)
	}
	for _, want := range []string{`key vault secret "shop--api--token" is deleted but recoverable`, "--azure-recover", "az keyvault secret purge --vault-name 127 --name shop--api--token"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the conflict does not say %q:\n%v", want, err)
		}
	}
	if _, err := p.Write(ctx, tg, pl, "1"); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("write without --azure-recover: %v", err)
	}

	// With --azure-recover: recovered (the server hides the recovery for a few requests, as
	// Azure does), then written as a new version.
	srv.SetPropagation(3)
	p = openAKV(t, srv, func(c *Config) { c.Recover = true })
	if err := p.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	st, err := p.Read(ctx, tg)
	if err != nil {
		t.Fatalf("read with --azure-recover: %v", err)
	}
	v, err := p.Write(ctx, tg, pl, st.Version)
	if err != nil {
		t.Fatalf("write with --azure-recover: %v", err)
	}
	got, err := p.Read(ctx, tg)
	if err != nil || string(got.Data["token"]) != "t0k3n" || got.Version != v || got.Fingerprint != "fp-1" {
		t.Fatalf("after recovery: %+v, %v", got, err)
	}
	if n := versionCount(t, sdk, "shop--api--token"); n != 2 {
		t.Errorf("shop--api--token has %d versions, want the recovered one and the new one", n)
	}
	if notes := strings.Join(p.Notes(), "\n"); !strings.Contains(notes, "recovered 1 soft-deleted key vault secret(s)") {
		t.Errorf("notes: %s", notes)
	}
	// Nothing was purged, ever.
	for _, r := range srv.Requests() {
		if r.Method == http.MethodDelete && strings.HasPrefix(r.Path, "/deletedsecrets/") {
			t.Errorf("a purge was sent: %s %s", r.Method, r.Path)
		}
	}
}

func TestThrottlingIsRetriedThenReportedWithWhatWasDone(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	ctx := context.Background()
	p := openAKV(t, srv)
	s := &kube.Secret{Namespace: "t", Name: "one", Data: kube.Data{"a": []byte("1"), "b": []byte("2")}}
	pl := payload(s, "fp", "r")
	tg, _ := p.Target(pl.Ref)
	// Warm up (the challenge round trip), then three 429s with Retry-After: 1 s.
	if _, err := p.Read(ctx, tg); !errors.Is(err, providers.ErrNotFound) {
		t.Fatal(err)
	}
	srv.Inject(http.StatusTooManyRequests, 2, time.Second)
	start := time.Now()
	if _, err := p.Write(ctx, tg, pl, ""); err != nil {
		t.Fatalf("write through two 429s: %v", err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("the retries did not wait for Retry-After: done in %s", d)
	}
	if notes := strings.Join(p.Notes(), "\n"); !strings.Contains(notes, "throttled 2 request(s)") {
		t.Errorf("notes: %s", notes)
	}

	// A vault that keeps refusing: the error says what was written, and stops the run.
	p = openAKV(t, srv, func(c *Config) { c.MaxRetries = 1 })
	s2 := &kube.Secret{Namespace: "t", Name: "two", Data: kube.Data{"a": []byte("1"), "b": []byte("2")}}
	pl2 := payload(s2, "fp", "r")
	tg2, _ := p.Target(pl2.Ref)
	client := p.client
	p.client = &injectAfter{secretsAPI: client, srv: srv, after: "t--two--a"}
	_, err := p.Write(ctx, tg2, pl2, "")
	if !errors.Is(err, providers.ErrBusy) {
		t.Fatalf("write against a vault that keeps throttling: %v, want ErrBusy", err)
	}
	for _, want := range []string{`write key vault secret "t--two--b" for t/two key "b"`, "after 1 retries", "1 of the 2 secrets of t--two--{key} were written before it: t--two--a", "run the same command again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
}

// injectAfter makes the server throttle every request after the write of one name.
type injectAfter struct {
	secretsAPI
	srv   *akv.Server
	after string
}

func (c *injectAfter) SetSecret(ctx context.Context, name string, p azsecrets.SetSecretParameters, o *azsecrets.SetSecretOptions) (azsecrets.SetSecretResponse, error) {
	r, err := c.secretsAPI.SetSecret(ctx, name, p, o)
	if name == c.after {
		c.srv.Inject(http.StatusTooManyRequests, 100, 0)
	}
	return r, err
}

func TestWritesStayUnderTheRateInAnyWindow(t *testing.T) {
	const limit, window = 8, time.Second
	srv := startAKV(t, akv.Options{WriteLimit: limit, Window: window})
	p := openAKV(t, srv, func(c *Config) { c.WriteRate = "8/1s" })
	ctx := context.Background()
	done := make(chan error)
	for i := range 6 {
		go func() {
			s := &kube.Secret{Namespace: "r", Name: string(rune('a' + i)), Data: kube.Data{"x": []byte("1"), "y": []byte("2"), "z": []byte("3")}}
			pl := payload(s, "fp", "r")
			tg, _ := p.Target(pl.Ref)
			_, err := p.Write(ctx, tg, pl, "")
			done <- err
		}()
	}
	for range 6 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var writes []time.Time
	for _, r := range srv.Requests() {
		if r.Write {
			writes = append(writes, r.Time)
		}
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("the server throttled a write: the client-side limit let too many through")
		}
	}
	if len(writes) < 18 {
		t.Fatalf("%d writes logged, want at least 18", len(writes))
	}
	if n := maxInWindow(writes, window); n > limit {
		t.Errorf("%d writes in one %s window, limit %d", n, window, limit)
	}
}

// maxInWindow is the most times within any span of length w.
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}
