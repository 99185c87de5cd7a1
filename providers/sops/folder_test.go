package sops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

// TestStaleTemps: the first write of a run removes the temporary files a killed run left, and
// only those.
func TestStaleTemps(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	elsewhere := filepath.Join(dir, "elsewhere")
	tests := []struct {
		name    string
		path    string // below out
		dir     bool
		removed bool
	}{
		{name: "manifest temp", path: "shop/.db.yaml.tmp-2840917273", removed: true},
		{name: "sops.yaml temp", path: "..sops.yaml.tmp-17", removed: true},
		{name: "temp of a dotted name", path: "payments/.webhook.v1.yaml.tmp-9", removed: true},
		{name: "not digits", path: "shop/.db.yaml.tmp-abc"},
		{name: "no leading dot", path: "shop/db.yaml.tmp-42"},
		{name: "yml", path: "shop/.db.yml.tmp-42"},
		{name: "other dot file", path: "shop/.notes"},
		{name: "manifest", path: "shop/keep.yaml"},
		{name: "two levels down", path: "shop/nested/.db.yaml.tmp-1"},
		{name: "a folder of that name", path: "shop/.dir.yaml.tmp-5", dir: true},
		{name: "behind a symbolic link", path: "link/.db.yaml.tmp-3"},
	}
	os.MkdirAll(elsewhere, 0o700)
	os.MkdirAll(out, 0o700)
	if err := os.Symlink(elsewhere, filepath.Join(out, "link")); err != nil {
		t.Skipf("symbolic links: %v", err)
	}
	for _, tc := range tests {
		path := filepath.Join(out, filepath.FromSlash(tc.path))
		os.MkdirAll(filepath.Dir(path), 0o700)
		if tc.dir {
			os.MkdirAll(path, 0o700)
		} else if err := os.WriteFile(path, []byte("ciphertext only\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	for _, tc := range tests {
		if _, err := os.Lstat(filepath.Join(out, filepath.FromSlash(tc.path))); err != nil {
			t.Fatalf("open removed %s: %v", tc.path, err)
		}
	}
	write(t, p, secret("shop", "a", "demo"))
	write(t, p, secret("shop", "b", "demo"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := os.Lstat(filepath.Join(out, filepath.FromSlash(tc.path)))
			if removed := errors.Is(err, os.ErrNotExist); removed != tc.removed {
				t.Fatalf("%s removed: %v, want %v", tc.path, removed, tc.removed)
			}
		})
	}
	if n := strings.Join(p.Notes(), "\n"); strings.Count(n, "removed 3 temporary file(s) an interrupted run left in "+out) != 1 {
		t.Errorf("notes:\n%s", n)
	}
}

// TestFolderLock: one run at a time writes into a folder; the lock is released by Close.
func TestFolderLock(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	ctx := context.Background()
	c := &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key}
	first := open(t, c)
	write(t, first, secret("shop", "a", "demo"))
	lockFile := filepath.Join(out, outdir.LockName)
	if _, err := os.Stat(lockFile); err != nil {
		t.Fatalf("no lock file: %v", err)
	}

	second := open(t, c) // Open and Read take no lock
	s := secret("shop", "b", "demo")
	tg, _ := second.Target(refOf(s))
	if _, err := second.Read(ctx, providers.Target{Provider: Name, Address: "shop/a.yaml"}); err != nil {
		t.Fatalf("read while another run writes: %v", err)
	}
	_, err := second.Write(ctx, tg, payload(t, s), "")
	if !errors.Is(err, ErrFolderInUse) || !strings.Contains(err.Error(), lockFile) {
		t.Fatalf("write while another run holds the lock: err = %v, want ErrFolderInUse naming %s", err, lockFile)
	}
	if _, err := os.Stat(filepath.Join(out, "shop", "b.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the refused write wrote the file")
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := second.Write(ctx, tg, payload(t, s), ""); err != nil {
		t.Fatalf("write after the other run closed: %v", err)
	}
	sc := secret("shop", "c", "demo")
	tc, _ := first.Target(refOf(sc))
	if _, err := first.Write(ctx, tc, payload(t, sc), ""); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("write after close: err = %v", err)
	}
	// The lock file is never taken for a manifest.
	addrs, err := existingAddresses(out)
	if err != nil || strings.Join(addrs, " ") != "shop/a.yaml shop/b.yaml" {
		t.Fatalf("addresses %v, %v", addrs, err)
	}
	if got := second.OutputFolder(); got != out || !filepath.IsAbs(got) {
		t.Fatalf("output folder %q, want %q", got, out)
	}
}
