package azurekv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestLeaseIsHeldUntilReleasedOrWritten(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	ctx := context.Background()
	p := openAKV(t, srv)
	s := &kube.Secret{Namespace: "l", Name: "db", Data: kube.Data{"password": []byte("pw"), "user": []byte("u")}}
	tg, _ := write(t, p, s, "fp")
	never := func(string) bool { return false }
	release, err := p.Lease(ctx, tg, "run-a", time.Minute, never)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Lease(ctx, tg, "run-b", time.Minute, never); !errors.Is(err, providers.ErrBusy) {
		t.Fatalf("a second holder: %v, want ErrBusy", err)
	}
	// An earlier run of the same job takes it over; the lease changes no version or value.
	if _, err := p.Lease(ctx, tg, "run-b", time.Minute, func(h string) bool { return h == "run-a" }); err != nil {
		t.Fatalf("take-over by the same job: %v", err)
	}
	st, err := p.Read(ctx, tg)
	if err != nil || st.Version != "1" || st.Fingerprint != "fp" {
		t.Fatalf("the lease changed the target: %+v, %v", st, err)
	}
	if err := release(ctx); err != nil {
		t.Fatalf("release of a lease taken over: %v", err)
	}
	// A write ends the lease.
	if _, err := p.Write(ctx, tg, payload(s, "fp2", "r"), "1"); err != nil {
		t.Fatal(err)
	}
	release, err = p.Lease(ctx, tg, "run-c", time.Minute, never)
	if err != nil {
		t.Fatalf("lease after a write: %v", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Lease(ctx, tg, "run-d", time.Minute, never); err != nil {
		t.Fatalf("lease after a release: %v", err)
	}
	missing := providers.Target{Provider: Name, Address: "l--none--{key}"}
	if _, err := p.Lease(ctx, missing, "run-a", time.Minute, never); !errors.Is(err, providers.ErrNotFound) {
		t.Errorf("lease of nothing: %v", err)
	}
}

func TestEntriesAndExistingComeFromOneListing(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	w := openAKV(t, srv)
	var targets []providers.Target
	for i := range 30 { // more than one page of 25
		s := &kube.Secret{Namespace: "e", Name: string(rune('a'+i%26)) + string(rune('a'+i/26)), Data: kube.Data{"k": []byte("v")}}
		tg, _ := write(t, w, s, "fp")
		targets = append(targets, tg)
	}
	if _, err := sdk.SetSecret(ctx, "unrelated", setParams("x"), nil); err != nil {
		t.Fatal(err)
	}
	p := openAKV(t, srv)
	before := len(srv.Requests())
	entries, err := p.Entries(ctx, "e--b")
	if err != nil || len(entries) != 2 || entries[0].Address != "e--ba--{key}" || entries[1].Address != "e--bb--{key}" {
		t.Fatalf("Entries(e--b) = %v, %v", entries, err)
	}
	all, _ := p.Entries(ctx, "")
	if len(all) != 30 {
		t.Errorf("%d entries, want 30 (the unrelated secret is no target)", len(all))
	}
	none := providers.Target{Provider: Name, Address: "e--zz--{key}"}
	exists, err := p.Existing(ctx, append(targets[:3:3], none))
	if err != nil || len(exists) != 3 || exists[none.Address] {
		t.Errorf("Existing = %v, %v", exists, err)
	}
	if n := len(srv.Requests()) - before; n > 4 {
		t.Errorf("listing took %d requests, want 2 pages of secrets and 1 of deleted ones", n)
	}
	// Targets keep their layout whatever --azure-layout says: it decides new targets only.
	j := openAKV(t, srv, func(c *Config) { c.Layout = LayoutJSON })
	if e, _ := j.Entries(ctx, "e--a"); len(e) != 2 {
		t.Errorf("with --azure-layout json: %v", e)
	}
	if st, err := j.Read(ctx, targets[0]); err != nil || string(st.Data["k"]) != "v" {
		t.Errorf("a per-key target read with --azure-layout json: %+v, %v", st, err)
	}
}
