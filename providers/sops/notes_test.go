package sops

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/outdir"
)

// TestHint: the decrypt command names the age key file only when that file exists.
func TestHint(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	key, rcpt := newKey(t, keys)
	missing := filepath.Join(keys, "missing.key")
	const pgpFP = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"
	tests := []struct {
		name    string
		c       Config
		write   bool
		keyFile string // named in the hint; "" means SOPS_AGE_KEY_FILE must not appear
		flux    string // the age key in the Flux secret line; "" means no such line
	}{
		{name: "generated key", c: Config{AgeKeyFile: "generated.key"}, write: true, keyFile: "generated.key", flux: "generated.key"},
		{name: "given key file", c: Config{AgeRecipients: []string{rcpt}, AgeKeyFile: key}, keyFile: key, flux: key},
		{name: "age recipients, key file missing", c: Config{AgeRecipients: []string{rcpt}, AgeKeyFile: missing}, flux: "<age identity file>"},
		{name: "age recipients, no key file", c: Config{AgeRecipients: []string{rcpt}}, flux: "<age identity file>"},
		{name: "pgp only", c: Config{PGP: []string{pgpFP}, AgeKeyFile: missing}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := tc.c
			c.Out = filepath.Join(dir, "out")
			fix := func(s string) string {
				if s == "generated.key" {
					return filepath.Join(dir, s)
				}
				return s
			}
			c.AgeKeyFile = fix(c.AgeKeyFile)
			p := open(t, &c)
			if tc.write {
				write(t, p, secret("shop", "db", "demo"))
			}
			h := p.HintFor("shop/db.yaml")
			file := filepath.Join(c.Out, "shop", "db.yaml")
			want := "Decrypt one:  sops -d " + file + "\n"
			if tc.keyFile != "" {
				want = "Decrypt one:  SOPS_AGE_KEY_FILE=" + fix(tc.keyFile) + " sops -d " + file + "\n"
			}
			if !strings.Contains(h, want) {
				t.Errorf("hint lacks %q:\n%s", want, h)
			}
			if tc.keyFile == "" && strings.Contains(h, "SOPS_AGE_KEY_FILE") {
				t.Errorf("hint names a key file that does not exist:\n%s", h)
			}
			fluxLine := "--from-file=age.agekey=" + fix(tc.flux) + "\n"
			if got := strings.Contains(h, "--from-file=age.agekey="); got != (tc.flux != "") || (tc.flux != "" && !strings.Contains(h, fluxLine)) {
				t.Errorf("flux line: want %q:\n%s", fluxLine, h)
			}
		})
	}
}

// TestLogger: with a logger, each step is logged at debug level by name and path; values never
// are. Without one, nothing is logged anywhere.
func TestLogger(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	_, other := newKey(t, dir)
	out := filepath.Join(dir, "out")
	ctx := context.Background()
	const canary = "CANARY-sops-log-7f3e1a"

	// The default logger catches anything logged without SetLogger.
	var stray bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&stray, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	silent := open(t, &Config{Out: out, AgeRecipients: []string{rcpt, other}, AgeKeyFile: key})
	tg, _ := write(t, silent, secret("shop", "silent", canary))
	silent.Read(ctx, tg)
	silent.Close()
	if stray.Len() > 0 {
		t.Fatalf("logged without a logger:\n%s", stray.String())
	}

	os.WriteFile(filepath.Join(out, "shop", ".db.yaml.tmp-123"), []byte("x"), 0o600)
	os.Remove(filepath.Join(out, ".sops.yaml")) // so that it is written again
	var buf bytes.Buffer
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt, other}, AgeKeyFile: key})
	p.SetLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	tg, _ = write(t, p, secret("shop", "db", canary))
	if st, err := p.Read(ctx, tg); err != nil || st.Data == nil {
		t.Fatalf("read: %+v, %v", st, err)
	}
	p.Close()
	log := buf.String()
	tests := []struct{ name, want string }{
		{"lock", `msg="sops: locked output folder" lock=` + filepath.Join(out, outdir.LockName)},
		{"stale temp", `msg="sops: removed stale temporary file" path=` + filepath.Join(out, "shop", ".db.yaml.tmp-123")},
		{"encrypt", `msg="sops: encrypt data key" path=shop/db.yaml recipients=2`},
		{"sops.yaml", `msg="sops: updated .sops.yaml" path=` + filepath.Join(out, ".sops.yaml") + " recipients=2"},
		{"write", `msg="sops: wrote file" path=shop/db.yaml`},
		{"read", `msg="sops: read file" path=shop/db.yaml`},
		{"decrypt", `msg="sops: decrypted data key" path=shop/db.yaml identity="age key file"`},
		{"unlock", `msg="sops: unlocked output folder"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(log, tc.want) {
				t.Errorf("log lacks %q:\n%s", tc.want, log)
			}
		})
	}
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			t.Errorf("not at debug level: %s", l)
		}
	}
	if strings.Contains(log, canary) || strings.Contains(log, "AGE-SECRET-KEY") || strings.Contains(log, "ENC[") {
		t.Fatal("the log holds a value or key material")
	}
}
