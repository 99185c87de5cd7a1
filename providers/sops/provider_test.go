package sops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

func TestTarget(t *testing.T) {
	p := &Provider{out: t.TempDir()}
	long := strings.Repeat("a", 251)
	tests := []struct {
		name    string
		ns, n   string
		want    string
		wantErr error
	}{
		{name: "plain", ns: "shop", n: "db", want: "shop/db.yaml"},
		{name: "dotted name", ns: "shop", n: "db.v1", want: "shop/db.v1.yaml"},
		{name: "no namespace", ns: "", n: "db", wantErr: providers.ErrInvalidName},
		{name: "separator in name", ns: "shop", n: "a/b", wantErr: providers.ErrInvalidName},
		{name: "dot dot name", ns: "shop", n: "..", wantErr: providers.ErrInvalidName},
		{name: "dot dot namespace", ns: "..", n: "db", wantErr: providers.ErrInvalidName},
		{name: "backslash", ns: "shop", n: `a\b`, wantErr: providers.ErrInvalidName},
		{name: "upper case", ns: "shop", n: "DB", wantErr: providers.ErrInvalidName},
		{name: "too long for a file", ns: "shop", n: long, wantErr: providers.ErrInvalidName},
		{name: "longest that fits", ns: "shop", n: long[:250], want: "shop/" + long[:250] + ".yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Target(providers.Ref{Namespace: tc.ns, Name: tc.n})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Address != tc.want || got.Provider != "sops" {
				t.Fatalf("got %v, %v; want sops:%s", got, err, tc.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := &Provider{out: t.TempDir()}
	big := make([]byte, outdir.MaxSecretSize+1)
	tests := []struct {
		name   string
		target string
		data   kube.Data
		want   []error
	}{
		{name: "fine", data: kube.Data{"a.b_c-1": []byte("x")}},
		{name: "exactly 1 MiB", data: kube.Data{"a": big[:outdir.MaxSecretSize]}},
		{name: "too large", data: kube.Data{"a": big}, want: []error{providers.ErrTooLarge}},
		{name: "bad key", data: kube.Data{"a/b": nil}, want: []error{providers.ErrInvalidName}},
		{name: "dot dot key", data: kube.Data{"..a": nil}, want: []error{providers.ErrInvalidName}},
		{name: "both", data: kube.Data{"a b": big}, want: []error{providers.ErrInvalidName, providers.ErrTooLarge}},
		{name: "other target", target: "shop/other.yaml", data: kube.Data{"a": nil}, want: []error{providers.ErrInvalidName}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &kube.Secret{Namespace: "shop", Name: "db", Data: tc.data}
			tg, _ := p.Target(refOf(s))
			if tc.target != "" {
				tg.Address = tc.target
			}
			err := p.Check(tg, providers.PayloadOf(s))
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want it to wrap %v", err, w)
				}
			}
		})
	}
}

func TestAddressesStayInsideOut(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	p := open(t, &Config{Out: filepath.Join(dir, "out"), AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	s := sampleSecrets()[0]
	for _, addr := range []string{"../x.yaml", "shop/../../x.yaml", "shop/a/b.yaml", "/etc/passwd", "shop/db", "shop/.yaml", "shop\\..\\x.yaml", ""} {
		tg := providers.Target{Provider: "sops", Address: addr}
		if _, err := p.Read(context.Background(), tg); !errors.Is(err, providers.ErrInvalidName) {
			t.Errorf("read %q: err = %v, want ErrInvalidName", addr, err)
		}
		if _, err := p.Write(context.Background(), tg, payload(t, s), ""); !errors.Is(err, providers.ErrInvalidName) {
			t.Errorf("write %q: err = %v, want ErrInvalidName", addr, err)
		}
	}
	if _, err := p.Read(context.Background(), providers.Target{Provider: "vault", Address: "shop/db.yaml"}); !errors.Is(err, providers.ErrInvalidName) {
		t.Errorf("read of another provider's target: err = %v", err)
	}
}

func TestRoundTripQuickStart(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	keyFile := filepath.Join(dir, ".secretshift", "keys", "age.key")
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := open(t, &Config{Out: out, AgeKeyFile: keyFile, Now: func() time.Time { return created }})
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open created the key file (err %v); it must write nothing", err)
	}

	for _, s := range sampleSecrets() {
		tg, v := write(t, p, s)
		st, err := p.Read(context.Background(), tg)
		if err != nil {
			t.Fatalf("read %s: %v", tg, err)
		}
		if st.Version != v {
			t.Errorf("%s: read version %s, write returned %s", tg, st.Version, v)
		}
		if !sameData(st.Data, s.Data) {
			t.Errorf("%s: read back %v, wrote %v", tg, st.Data, s.Data)
		}
		if st.Type != s.EffectiveType() || !st.Managed || st.SourceUID != s.UID || st.Fingerprint != fingerprint(t, s) ||
			st.FingerprintKeyID != "hmac-sha256:0123456789abcdef" {
			t.Errorf("%s: stored %+v", tg, st)
		}
		if fingerprint(t, &kube.Secret{Type: st.Type, Data: st.Data}) != st.Fingerprint {
			t.Errorf("%s: fingerprint of read-back data differs from the recorded one", tg)
		}
		fi, err := os.Stat(filepath.Join(out, filepath.FromSlash(tg.Address)))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", tg, fi.Mode().Perm(), err)
		}
	}

	// The generated key looks like age-keygen's output and is private.
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != "# created: 2026-03-01T12:00:00Z" || !strings.HasPrefix(lines[1], "# public key: age1") ||
		!strings.HasPrefix(lines[2], "AGE-SECRET-KEY-1") {
		t.Errorf("key file has %d lines, want age-keygen format", len(lines))
	}
	pub := strings.TrimPrefix(lines[1], "# public key: ")
	for path, want := range map[string]os.FileMode{keyFile: 0o600, filepath.Dir(keyFile): 0o700, filepath.Join(out, "shop"): 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (err %v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	notes := strings.Join(p.Notes(), "\n")
	if !strings.Contains(notes, "generated age key at "+keyFile+" (public key "+pub+")") {
		t.Errorf("notes do not report the generated key:\n%s", notes)
	}
	cfg, err := os.ReadFile(filepath.Join(out, ".sops.yaml"))
	if err != nil || !strings.Contains(string(cfg), pub) {
		t.Errorf(".sops.yaml does not name the generated recipient (err %v):\n%s", err, cfg)
	}

	// A second run finds the key and uses it without a note about generating.
	p2 := open(t, &Config{Out: out, AgeKeyFile: keyFile})
	if n := strings.Join(p2.Notes(), "\n"); strings.Contains(n, "generated") || !strings.Contains(n, pub) {
		t.Errorf("second run notes:\n%s", n)
	}
}

func TestManifestShape(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	p := open(t, &Config{Out: dir, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	s := sampleSecrets()[0]
	tg, _ := write(t, p, s)
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(tg.Address)))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"apiVersion: v1\n", "kind: Secret\n", "name: db-credentials\n", "namespace: shop\n", "app: storefront\n",
		"type: Opaque\n", "secretshift.io/managed-by: secretshift\n", "secretshift.io/fingerprint: hmac-sha256:",
		"secretshift.io/source-uid: 0b8e6c1e", "password: ENC[AES256_GCM,", "encrypted_regex: ^(data|stringData)$",
		"recipient: " + rcpt, "numberlike: \"42\"",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("file lacks %q", want)
		}
	}
	for _, unwanted := range []string{providers.LastAppliedAnnotation, "\n    uid:", "resourceVersion", "creationTimestamp", "c2VjcmV0"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("file holds %q", unwanted)
		}
	}
}

func TestWriteVersions(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	p := open(t, &Config{Out: dir, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	ctx := context.Background()
	s := sampleSecrets()[0]
	tg, v1 := write(t, p, s)
	path := filepath.Join(dir, filepath.FromSlash(tg.Address))
	before, _ := os.ReadFile(path)

	t.Run("create over existing", func(t *testing.T) {
		if _, err := p.Write(ctx, tg, payload(t, s), ""); !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("unchanged is not rewritten", func(t *testing.T) {
		st1, err1 := p.Read(ctx, tg)
		st2, err2 := p.Read(ctx, tg)
		if err1 != nil || err2 != nil || st1.Fingerprint != st2.Fingerprint || st1.Version != st2.Version || !sameData(st1.Data, st2.Data) {
			t.Fatalf("two reads differ: %v %v", err1, err2)
		}
		v, err := p.Write(ctx, tg, payload(t, s), v1)
		after, _ := os.ReadFile(path)
		if err != nil || v != v1 || !bytes.Equal(before, after) {
			t.Fatalf("write of unchanged content: version %s (want %s), err %v, rewritten %v", v, v1, err, !bytes.Equal(before, after))
		}
	})
	t.Run("metadata change is written", func(t *testing.T) {
		s2 := *s
		s2.Labels = map[string]string{"app": "storefront", "tier": "primary"}
		v2, err := p.Write(ctx, tg, payload(t, &s2), v1)
		if err != nil || v2 == v1 {
			t.Fatalf("write: %s, %v", v2, err)
		}
		if _, err := p.Write(ctx, tg, payload(t, s), v1); !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("stale expect: err = %v, want ErrConflict", err)
		}
		s3 := *s
		s3.Data = kube.Data{"password": []byte("rotated-demo-password")}
		v3, err := p.Write(ctx, tg, payload(t, &s3), v2)
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Read(ctx, tg)
		if err != nil || st.Version != v3 || !sameData(st.Data, s3.Data) {
			t.Fatalf("read after update: %+v, %v", st, err)
		}
	})
	t.Run("removed since read", func(t *testing.T) {
		st, _ := p.Read(ctx, tg)
		os.Remove(path)
		if _, err := p.Write(ctx, tg, payload(t, s), st.Version); !errors.Is(err, providers.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
		if _, err := p.Read(ctx, tg); !errors.Is(err, providers.ErrNotFound) {
			t.Fatalf("read of removed file: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := p.Write(cctx, tg, payload(t, s), ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("not a sops file", func(t *testing.T) {
		other := providers.Target{Provider: "sops", Address: "shop/plain.yaml"}
		os.WriteFile(filepath.Join(dir, "shop", "plain.yaml"), []byte("apiVersion: v1\nkind: Secret\n"), 0o600)
		st, err := p.Read(ctx, other)
		if err != nil || st.Problem != "not a SOPS-encrypted YAML file" || st.Version == "" || st.Data != nil {
			t.Fatalf("read: %+v, %v; want a Problem", st, err)
		}
	})
}

func TestNoIdentity(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	writer := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	s := sampleSecrets()[1]
	tg, v := write(t, writer, s)

	// A run that can encrypt to the recipient but holds no matching identity.
	reader := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: filepath.Join(dir, "missing.key")})
	st, err := reader.Read(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Data != nil || st.Fingerprint != fingerprint(t, s) || st.Version != v || !st.Managed || st.Type != "Opaque" {
		t.Fatalf("stored without identity: %+v", st)
	}
	if n := strings.Join(reader.Notes(), "\n"); !strings.Contains(n, "cannot decrypt payments/webhook-signing.yaml with the identities available: it is compared by the fingerprint recorded at write time, not by its values") {
		t.Errorf("notes do not say the file could not be decrypted and how it is compared:\n%s", n)
	}
	writer.Close() // the reader writes next; the writer holds the folder's lock
	path := filepath.Join(out, "payments", "webhook-signing.yaml")
	before, _ := os.ReadFile(path)
	got, err := reader.Write(context.Background(), tg, payload(t, s), v)
	after, _ := os.ReadFile(path)
	if err != nil || got != v || !bytes.Equal(before, after) {
		t.Fatalf("unchanged write without identity rewrote the file: %s, %v", got, err)
	}
	changed := *s
	changed.Data = kube.Data{"algorithm": []byte("HS512")}
	if got, err := reader.Write(context.Background(), tg, payload(t, &changed), v); err != nil || got == v {
		t.Fatalf("changed write without identity: %s, %v", got, err)
	}

	// sops' own lookup finds an identity given by environment.
	t.Setenv("SOPS_AGE_KEY_FILE", key)
	st, err = reader.Read(context.Background(), tg)
	if err != nil || !sameData(st.Data, changed.Data) {
		t.Fatalf("read with SOPS_AGE_KEY_FILE: %v, %v", st, err)
	}
}

// TestHandEdited: a file edited after encryption, or not SOPS at all, is reported by Read with
// a Problem and its version; a Write naming that version replaces it (what --overwrite does),
// any other Write is a conflict and leaves it alone.
func TestHandEdited(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	s := sampleSecrets()[0]
	tests := []struct {
		name string
		edit func(string) string
		want string
	}{
		{name: "plaintext label", edit: func(f string) string { return strings.Replace(f, "tier: db", "tier: dbx", 1) }, want: "MAC mismatch"},
		{name: "fingerprint annotation", edit: func(f string) string { return strings.Replace(f, "hmac-sha256:", "hmac-sha256:0", 1) }, want: "MAC mismatch"},
		{name: "mac removed", edit: func(f string) string { return removeLine(f, "    mac: ") }, want: "MAC mismatch"},
		{name: "lastmodified changed", edit: func(f string) string {
			return replaceLine(f, "    lastmodified: ", `    lastmodified: "2001-01-01T00:00:00Z"`)
		}, want: "MAC mismatch"},
		{name: "value replaced by plain text", edit: func(f string) string {
			return replaceLine(f, "    username: ", "    username: c2hvcA==")
		}, want: "a value does not decrypt"},
		{name: "key removed", edit: func(f string) string { return removeLine(f, "    username: ") }, want: "MAC mismatch"},
		{name: "not sops at all", edit: func(string) string { return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-credentials\n" },
			want: "not a SOPS-encrypted YAML file"},
		{name: "not yaml", edit: func(string) string { return "\x00\x01 {{{" }, want: "not a SOPS-encrypted YAML file"},
		{name: "two documents", edit: func(f string) string { return f + "---\n" + f }, want: "YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := open(t, &Config{Out: t.TempDir(), AgeRecipients: []string{rcpt}, AgeKeyFile: key})
			tg, v := write(t, p, s)
			path := filepath.Join(p.out, filepath.FromSlash(tg.Address))
			b, _ := os.ReadFile(path)
			edited := tc.edit(string(b))
			if edited == string(b) {
				t.Fatal("edit changed nothing")
			}
			os.WriteFile(path, []byte(edited), 0o600)
			st, err := p.Read(ctx, tg)
			if err != nil {
				t.Fatalf("read: %v, want a Problem", err)
			}
			if !strings.Contains(st.Problem, tc.want) || st.Data != nil || st.Version == "" || st.Version == v || st.Managed || st.Fingerprint != "" {
				t.Fatalf("read: %+v, want Problem mentioning %q, a new version and nothing else", st, tc.want)
			}
			if strings.Contains(st.Problem, "c2hvcA") || strings.Contains(st.Problem, "ENC[") {
				t.Fatalf("problem quotes the file: %q", st.Problem)
			}
			// Without the version the problem was reported for, the file stays as it is.
			fi, _ := os.Stat(path)
			for _, expect := range []string{"", v} {
				if _, err := p.Write(ctx, tg, payload(t, s), expect); !errors.Is(err, providers.ErrConflict) {
					t.Fatalf("write with expect %q: err = %v, want ErrConflict", expect, err)
				}
			}
			if fi2, _ := os.Stat(path); !fi2.ModTime().Equal(fi.ModTime()) {
				t.Fatal("the edited file was rewritten")
			}
			// With it, the file is replaced.
			nv, err := p.Write(ctx, tg, payload(t, s), st.Version)
			if err != nil || nv == st.Version {
				t.Fatalf("write over the problem: %s, %v", nv, err)
			}
			st, err = p.Read(ctx, tg)
			if err != nil || st.Problem != "" || st.Version != nv || !sameData(st.Data, s.Data) {
				t.Fatalf("read after replacing: %+v, %v", st, err)
			}
		})
	}
}

func removeLine(f, prefix string) string {
	var out []string
	for _, l := range strings.Split(f, "\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func replaceLine(f, prefix, with string) string {
	lines := strings.Split(f, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = with
			break
		}
	}
	return strings.Join(lines, "\n")
}

func sameData(a, b kube.Data) bool {
	if len(a) != len(b) || a == nil || b == nil {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestConcurrentWrites(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p := open(t, &Config{Out: out, AgeKeyFile: filepath.Join(dir, "age.key")})
	var secrets []*kube.Secret
	for i := range 40 {
		secrets = append(secrets, &kube.Secret{Namespace: fmt.Sprintf("ns-%d", i%4), Name: fmt.Sprintf("s-%d", i),
			Data: kube.Data{"v": []byte(fmt.Sprintf("value-%d", i))}})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(secrets))
	for _, s := range secrets {
		for range 2 { // two writers race for every file: exactly one may create it
			wg.Add(1)
			go func() {
				defer wg.Done()
				tg, _ := p.Target(refOf(s))
				_, err := p.Write(context.Background(), tg, payload(t, s), "")
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	ok, conflicts := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, providers.ErrConflict):
			conflicts++
		default:
			t.Fatal(err)
		}
	}
	if ok != len(secrets) || conflicts != len(secrets) {
		t.Fatalf("%d writes succeeded and %d conflicted, want %d each", ok, conflicts, len(secrets))
	}
	for _, s := range secrets {
		tg, _ := p.Target(refOf(s))
		st, err := p.Read(context.Background(), tg)
		if err != nil || !sameData(st.Data, s.Data) {
			t.Fatalf("read %s: %v", tg, err)
		}
	}
	if n := strings.Count(strings.Join(p.Notes(), "\n"), "generated age key"); n != 1 {
		t.Fatalf("key generated %d times", n)
	}
	entries, _ := os.ReadDir(filepath.Join(out, "ns-0"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
