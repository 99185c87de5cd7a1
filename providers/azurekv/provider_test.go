package azurekv

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestWriteReadRoundTripIsByteExact(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	for _, layout := range []string{LayoutPerKey, LayoutJSON} {
		t.Run(layout, func(t *testing.T) {
			srv.Reset()
			p := openAKV(t, srv, func(c *Config) { c.Layout = layout })
			s := testSecret()
			tg, v := write(t, p, s, "hmac-sha256:abc")
			if v != "1" {
				t.Fatalf("first write: version %q, want 1", v)
			}
			st, err := p.Read(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Managed || st.Fingerprint != "hmac-sha256:abc" || st.SourceUID != "uid-1" || st.Type != "kubernetes.io/basic-auth" ||
				st.Version != "1" || st.RunID != "run-1" || st.Ref.String() != "shop/db" || st.Updated.IsZero() {
				t.Errorf("stored: %+v", st)
			}
			if len(st.Data) != len(s.Data) {
				t.Errorf("%d keys read back, want %d", len(st.Data), len(s.Data))
			}
			for k, want := range s.Data {
				if got, ok := st.Data[k]; !ok || !bytes.Equal(got, want) {
					t.Errorf("key %s: %d bytes written, %d read back differently", k, len(want), len(got))
				}
			}
			// What other clients see, through the SDK itself.
			if layout == LayoutPerKey {
				if tg.Address != "shop--db--{key}" {
					t.Errorf("address %q", tg.Address)
				}
				bin, err := sdk.GetSecret(ctx, "shop--db--binary", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				if *bin.Value != "/wD+gAE=" || *bin.ContentType != ContentTypeBinary {
					t.Errorf("binary key stored as %q (%s)", *bin.Value, *bin.ContentType)
				}
				txt, err := sdk.GetSecret(ctx, "shop--db---dotfile", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				if *txt.Value != "x" || *txt.Tags[tagSource] != "shop/db/.dotfile" || *txt.Tags[tagGeneration] != "1" || *txt.Tags[tagKeys] != "8" {
					t.Errorf("dotfile key: value %q, tags %v", *txt.Value, plainTags(txt.Tags))
				}
				if _, err := sdk.GetSecret(ctx, "shop--db--tls-crt", "", nil); err != nil {
					t.Errorf("tls.crt is not at shop--db--tls-crt: %v", err)
				}
			} else {
				one, err := sdk.GetSecret(ctx, "shop--db", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				if *one.ContentType != ContentTypeJSON || *one.Tags[tagBase64] != "binary" || !strings.Contains(*one.Value, `"username":"admin"`) {
					t.Errorf("json secret: %s, tags %v", *one.ContentType, plainTags(one.Tags))
				}
			}
		})
	}
}

func TestWriteChecksTheVersionItReplaces(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	p := openAKV(t, srv)
	s := &kube.Secret{Namespace: "a", Name: "b", Data: kube.Data{"k": []byte("one"), "l": []byte("two")}}
	tg, _ := write(t, p, s, "fp-1")
	if _, err := p.Write(ctx, tg, payload(s, "fp-1", "r"), ""); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("create over an existing target: %v, want ErrConflict", err)
	}
	if _, err := p.Write(ctx, tg, payload(s, "fp-1", "r"), "7"); !errors.Is(err, providers.ErrConflict) {
		t.Errorf("write from a stale version: %v, want ErrConflict", err)
	}
	s.Data["k"] = []byte("changed")
	v, err := p.Write(ctx, tg, payload(s, "fp-2", "r"), "1")
	if err != nil || v != "2" {
		t.Fatalf("update from version 1: %q, %v", v, err)
	}
	// A key removed from the Secret leaves the target with the next generation.
	delete(s.Data, "l")
	if v, err = p.Write(ctx, tg, payload(s, "fp-3", "r"), "2"); err != nil || v != "3" {
		t.Fatalf("update without key l: %q, %v", v, err)
	}
	st, err := p.Read(ctx, tg)
	if err != nil || len(st.Data) != 1 || string(st.Data["k"]) != "changed" || st.Fingerprint != "fp-3" {
		t.Fatalf("after removing a key: %v %+v", err, st)
	}
	vs, err := p.Versions(ctx, tg)
	if err != nil || strings.Join(vs, ",") != "1,2,3" {
		t.Errorf("versions %v, %v", vs, err)
	}
	// Foreign content at a name the plan maps to: version "0", Managed false.
	other := &kube.Secret{Namespace: "a", Name: "c", Data: kube.Data{"k": []byte("mine")}}
	otg, _ := p.Target(providers.PayloadOf(other).Ref)
	foreign := "someone else's"
	if _, err := sdk.SetSecret(ctx, "a--c--k", setParams(foreign), nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(otg, payload(other, "fp", "r")); err != nil {
		t.Fatal(err)
	}
	st, err = p.Read(ctx, otg)
	if err != nil || st.Managed || st.Version != "0" || string(st.Data["k"]) != foreign {
		t.Fatalf("foreign content read as %+v, %v", st, err)
	}
	if _, err := p.Write(ctx, otg, payload(other, "fp", "r"), ""); !errors.Is(err, providers.ErrConflict) || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("create over foreign content: %v", err)
	}
	if v, err := p.Write(ctx, otg, payload(other, "fp", "r"), "0"); err != nil || v != "1" {
		t.Errorf("overwrite of foreign content: %q, %v", v, err)
	}
}

func TestInterruptedWriteIsFinishedWithoutDuplicates(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	p := openAKV(t, srv)
	s := &kube.Secret{Namespace: "a", Name: "b", UID: "u", Data: kube.Data{"one": []byte("1"), "two": []byte("2"), "three": []byte("3")}}
	pl := payload(s, "fp-1", "run-1")
	tg, _ := p.Target(pl.Ref)
	if err := p.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	// The run dies after writing "one" (names are written in order: one, three, two).
	real := p.client
	p.client = &failingClient{secretsAPI: real, name: "a--b--three"}
	_, err := p.Write(ctx, tg, pl, "")
	if err == nil || !strings.Contains(err.Error(), "1 of the 3 secrets of a--b--{key} were written before it: a--b--one") {
		t.Fatalf("interrupted write: %v", err)
	}
	p.client = real
	st, err := p.Read(ctx, tg)
	if err != nil || st.Version != "1" || st.Fingerprint != "" || !st.Managed || len(st.Data) != 1 {
		t.Fatalf("an interrupted generation must read as incomplete: %+v, %v", st, err)
	}
	// The next run (another process: a fresh provider) finishes the same generation.
	p2 := openAKV(t, srv)
	pl.RunID = "run-2"
	if err := p2.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	st, err = p2.Read(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := p2.Write(ctx, tg, pl, st.Version); err != nil || v != "1" {
		t.Fatalf("finishing write: %q, %v", v, err)
	}
	for _, k := range []string{"one", "two", "three"} {
		if n := versionCount(t, sdk, "a--b--"+k); n != 1 {
			t.Errorf("a--b--%s has %d versions after the interrupted write was finished, want 1", k, n)
		}
	}
	if st, err = p2.Read(ctx, tg); err != nil || st.Fingerprint != "fp-1" || len(st.Data) != 3 {
		t.Fatalf("after finishing: %+v, %v", st, err)
	}
}

func TestRollbackWritesAnOldGenerationAgain(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	ctx := context.Background()
	for _, layout := range []string{LayoutPerKey, LayoutJSON} {
		t.Run(layout, func(t *testing.T) {
			p := openAKV(t, srv, func(c *Config) { c.Layout = layout })
			s := &kube.Secret{Namespace: "r", Name: layout, Data: kube.Data{"k": []byte("one"), "bin": {0xff}}}
			tg, _ := write(t, p, s, "fp-one")
			s.Data["k"] = []byte("two")
			if _, err := p.Write(ctx, tg, payload(s, "fp-two", "r2"), "1"); err != nil {
				t.Fatal(err)
			}
			old, err := p.ReadVersion(ctx, tg, "1")
			if err != nil || string(old.Data["k"]) != "one" || !bytes.Equal(old.Data["bin"], []byte{0xff}) || old.Fingerprint != "fp-one" {
				t.Fatalf("version 1: %+v, %v", old, err)
			}
			v, err := p.Rollback(ctx, tg, "1")
			if err != nil || v != "3" {
				t.Fatalf("rollback: %q, %v", v, err)
			}
			st, _ := p.Read(ctx, tg)
			if string(st.Data["k"]) != "one" || st.Fingerprint != "fp-one" || st.Version != "3" {
				t.Errorf("after rollback: %+v", st)
			}
			if _, err := p.ReadVersion(ctx, tg, "9"); !errors.Is(err, providers.ErrNotFound) {
				t.Errorf("a version that does not exist: %v", err)
			}
		})
	}
}

// Someone sets a new value of a migrated secret with the portal or az: the new version has no
// tags. It is still the target's secret, changed in the store — not foreign content.
func TestValueChangedInTheVaultIsAChangeNotForeignContent(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	for _, layout := range []string{LayoutPerKey, LayoutJSON} {
		t.Run(layout, func(t *testing.T) {
			s := &kube.Secret{Namespace: "c", Name: layout, UID: "u", Data: kube.Data{"password": []byte("pw"), "user": []byte("u")}}
			tg, _ := write(t, openAKV(t, srv, func(c *Config) { c.Layout = layout }), s, "fp")
			name, value := memberName(tg.Address, "password"), "changed"
			if layout == LayoutJSON {
				value = `{"password":"changed","user":"u"}`
			}
			if _, err := sdk.SetSecret(ctx, name, setParams(value), nil); err != nil {
				t.Fatal(err)
			}
			p := openAKV(t, srv, func(c *Config) { c.Layout = layout }) // a new run: its own listing
			st, err := p.Read(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Managed || st.Fingerprint != "fp" || st.Version != "1" || string(st.Data["password"]) != "changed" || string(st.Data["user"]) != "u" {
				t.Fatalf("read after a change in the vault: %+v", st)
			}
			// Rewriting it (--overwrite) is a new generation.
			if v, err := p.Write(ctx, tg, payload(s, "fp", "r2"), st.Version); err != nil || v != "2" {
				t.Fatalf("write over the change: %q, %v", v, err)
			}
			if st, _ = p.Read(ctx, tg); string(st.Data["password"]) != "pw" {
				t.Errorf("after the rewrite: %q", st.Data["password"])
			}
		})
	}
	// A secret whose name only looks like a target's is not taken for one of its keys.
	if _, err := sdk.SetSecret(ctx, "c--per-key--other", setParams("x"), nil); err != nil {
		t.Fatal(err)
	}
	p := openAKV(t, srv)
	if st, err := p.Read(ctx, providers.Target{Provider: Name, Address: "c--per-key--{key}"}); err != nil || len(st.Data) != 2 || !st.Managed {
		t.Errorf("an unrelated look-alike name changed the target: %+v, %v", st, err)
	}
}

// The write window counts sends by the time they go: with writers racing, no n+1 sends fall in
// one window, whatever wakes late.
func TestSendWindowCountsSendTimes(t *testing.T) {
	w := writeRate{n: 3, window: 40 * time.Millisecond}.limiter()
	var mu sync.Mutex
	var sent []time.Time
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				at, _, err := w.wait(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sent = append(sent, at)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
	for i := 3; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-3]); gap < 40*time.Millisecond {
			t.Fatalf("sends %d and %d are %s apart: 4 in one 40ms window", i-3, i, gap)
		}
	}
}
