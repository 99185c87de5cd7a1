package sops

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

func TestOpenErrors(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad")
	os.MkdirAll(badCfg, 0o700)
	os.WriteFile(filepath.Join(badCfg, ".sops.yaml"), []byte("creation_rules: everything\n"), 0o644)
	multi := filepath.Join(dir, "multi")
	os.MkdirAll(multi, 0o700)
	os.WriteFile(filepath.Join(multi, ".sops.yaml"), []byte("creation_rules: []\n---\nx: 1\n"), 0o644)
	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("AGE-SECRET-KEY-1NOTAKEY\n"), 0o600)
	_, rcpt := newKey(t, dir)
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{name: "no out", c: Config{AgeRecipients: []string{rcpt}}, want: "--sops-out"},
		{name: "bad age recipient", c: Config{Out: dir, AgeRecipients: []string{"age1nope"}}, want: "age recipient"},
		{name: "bad pgp", c: Config{Out: dir, PGP: []string{"xyz"}}, want: "pgp fingerprint"},
		{name: "bad vault uri", c: Config{Out: dir, VaultTransit: []string{"vault:8200"}}, want: "vault transit key"},
		{name: "bad azure url", c: Config{Out: dir, AzureKV: []string{"http://x/keys/k"}}, want: "azure key vault key"},
		{name: "no recipient", c: Config{Out: dir}, want: "no recipient"},
		{name: "creation_rules not a list", c: Config{Out: badCfg, AgeRecipients: []string{rcpt}}, want: "creation_rules is not a list"},
		{name: "several documents", c: Config{Out: multi, AgeRecipients: []string{rcpt}}, want: "more than one YAML document"},
		{name: "unparsable key file", c: Config{Out: dir, AgeKeyFile: garbage}, want: "holds no valid age identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Open(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "NOTAKEY") {
				t.Fatalf("error quotes the key file: %v", err)
			}
		})
	}
	t.Run("recipients from environment", func(t *testing.T) {
		t.Setenv(EnvAgeRecipients, rcpt)
		p := open(t, &Config{Out: dir})
		if len(p.rcpt.age) != 1 || p.rcpt.age[0] != rcpt {
			t.Fatalf("recipients %v", p.rcpt.age)
		}
	})
	t.Run("vault and azure recipients are accepted", func(t *testing.T) {
		p := open(t, &Config{Out: dir, VaultTransit: []string{"https://vault.example.test:8200/v1/transit/keys/sops"},
			AzureKV: []string{"https://demo.vault.azure.net/keys/sops/0123456789abcdef"}, PGP: []string{"FBC7 B9E2 A4F9 289A C0C1 D484 3D16 CEE4 A273 81B4"}})
		if len(p.rcpt.vault) != 1 || p.rcpt.azure[0].version != "0123456789abcdef" || p.rcpt.pgp[0] != "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4" {
			t.Fatalf("recipients %+v", p.rcpt)
		}
		rule := p.rcpt.ruleFields()
		if rule[4].value != "https://vault.example.test:8200/v1/transit/keys/sops" || rule[5].value != "https://demo.vault.azure.net/keys/sops/0123456789abcdef" {
			t.Fatalf("rule %+v", rule)
		}
	})
}

func TestFlags(t *testing.T) {
	c := NewConfig()
	fs := newFlagSet()
	c.Flags(fs)
	err := fs.Parse([]string{"--sops-out=o", "--age-recipient=age1a,age1b", "--age-recipient=age1c",
		"--sops-vault-transit=https://v/v1/transit/keys/k", "--sops-azure-kv=https://a/keys/k/1", "--sops-pgp=AB", "--sops-age-key-file=k", "--sops-update-keys"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Out != "o" || len(c.AgeRecipients) != 3 || len(c.VaultTransit) != 1 || len(c.AzureKV) != 1 || len(c.PGP) != 1 || c.AgeKeyFile != "k" || !c.UpdateKeys {
		t.Fatalf("config %+v", c)
	}
	if d := NewConfig(); d.Out != DefaultOut || d.AgeKeyFile != DefaultAgeKeyFile || d.UpdateKeys {
		t.Fatalf("defaults %+v", d)
	}
}

// TestOpenFolder: an output folder that cannot be written is one clear error at Open, before
// any Secret, and nothing is written. A read-only filesystem is simulated: root ignores mode
// bits, and tests cannot mount one.
func TestOpenFolder(t *testing.T) {
	isolateIdentities(t)
	_, rcpt := newKey(t, t.TempDir())
	roFS := func(dir, pattern string) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: syscall.EROFS}
	}
	denied := func(dir, pattern string) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: syscall.EACCES}
	}
	tests := []struct {
		name  string
		out   func(dir string) string
		probe func(dir, pattern string) (*os.File, error)
		want  string // "" means Open succeeds
		perm  bool   // the error wraps ErrPermission
	}{
		{name: "existing folder", out: func(d string) string { return d }},
		{name: "missing nested folder", out: func(d string) string { return filepath.Join(d, "a", "b", "out") }},
		{name: "a regular file", out: func(d string) string {
			os.WriteFile(filepath.Join(d, "file"), nil, 0o600)
			return filepath.Join(d, "file")
		}, want: "output folder " + "%s/file is a file, not a folder"},
		{name: "below a regular file", out: func(d string) string {
			os.WriteFile(filepath.Join(d, "file"), nil, 0o600)
			return filepath.Join(d, "file", "out")
		}, want: "cannot be created: %s/file is a file, not a folder"},
		{name: "read-only filesystem", out: func(d string) string { return d }, probe: roFS,
			want: "output folder %s is not writable: it is on a read-only filesystem", perm: true},
		{name: "read-only filesystem above a missing folder", out: func(d string) string { return filepath.Join(d, "new") }, probe: roFS,
			want: "output folder %s/new cannot be created: %s, the folder it would be created in, is on a read-only filesystem", perm: true},
		{name: "permission denied", out: func(d string) string { return d }, probe: denied,
			want: "is not writable: it allows no new files (permission denied)", perm: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := tc.out(dir)
			if tc.probe != nil {
				outdir.CreateProbe = tc.probe
				t.Cleanup(func() { outdir.CreateProbe = os.CreateTemp })
			}
			before := listTree(t, dir)
			_, err := (&Config{Out: out, AgeRecipients: []string{rcpt}}).Open(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
			} else {
				want := strings.ReplaceAll(tc.want, "%s", dir)
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want it to contain %q", err, want)
				}
				if tc.perm != errors.Is(err, providers.ErrPermission) {
					t.Fatalf("err = %v, wraps ErrPermission: %v, want %v", err, errors.Is(err, providers.ErrPermission), tc.perm)
				}
			}
			if after := listTree(t, dir); after != before {
				t.Fatalf("open wrote something:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Run("mode 0500 as another user", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores mode bits; the read-only filesystem case covers root")
		}
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		_, err := (&Config{Out: dir, AgeRecipients: []string{rcpt}}).Open(context.Background())
		if !errors.Is(err, providers.ErrPermission) {
			t.Fatalf("err = %v, want ErrPermission", err)
		}
	})
}

// listTree lists every path below dir, for "nothing was written" checks.
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var paths []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		paths = append(paths, path)
		return nil
	})
	return strings.Join(paths, " ")
}
