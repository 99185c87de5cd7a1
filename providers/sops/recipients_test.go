package sops

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// fileRecipients returns the recipients a SOPS file is encrypted to, in canonical form.
func fileRecipients(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).LoadEncryptedFile(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return canonGroups(tree.Metadata.KeyGroups)
}

func ageSet(rs ...string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, "age:"+r)
	}
	return canonical(out)
}

func secret(ns, name, value string) *kube.Secret {
	return &kube.Secret{Namespace: ns, Name: name, Type: "Opaque", Data: kube.Data{"v": []byte(value)}}
}

// TestRerunRecipients: a run without recipient flags encrypts to the creation rule sops uses
// for the files, and generates an age key only when no rule applies.
func TestRerunRecipients(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	_, r1 := newKey(t, keys)
	_, r2 := newKey(t, keys)
	// Each case works in <dir>/out; the second run's key file is <dir>/age.key.
	firstRun := func(c Config) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			c.Out = filepath.Join(dir, "out")
			if c.AgeKeyFile != "" {
				c.AgeKeyFile = filepath.Join(dir, c.AgeKeyFile)
			}
			p := open(t, &c)
			write(t, p, secret("shop", "first", "demo-1"))
			p.Close()
		}
	}
	sopsYAML := func(content string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			out := filepath.Join(dir, "out")
			os.MkdirAll(filepath.Join(out, "prod"), 0o700)
			os.WriteFile(filepath.Join(out, ".sops.yaml"), []byte(content), 0o644)
			os.WriteFile(filepath.Join(out, "prod", "existing.yaml"), []byte("not read\n"), 0o600)
		}
	}
	tests := []struct {
		name       string
		setup      func(t *testing.T, dir string)
		env        string   // $SOPS_AGE_RECIPIENTS of the second run
		write      string   // namespace the second run writes to; "" is shop
		want       []string // recipients of the second run's file; nil means the key in <dir>/age.key
		generate   bool     // the second run generates <dir>/age.key
		sameConfig bool     // the second run leaves .sops.yaml byte for byte
		note       string   // in the second run's notes
		openErr    string
		writeErr   error
	}{
		{name: "first run with --age-recipient", setup: firstRun(Config{AgeRecipients: []string{r1}}),
			want: ageSet(r1), sameConfig: true, note: "encrypting to the recipients of creation rule 1 (secretshift's)"},
		{name: "first run with two recipients", setup: firstRun(Config{AgeRecipients: []string{r2, r1}}),
			want: ageSet(r1, r2), sameConfig: true, note: describeSet(ageSet(r1, r2))},
		{name: "first run with $SOPS_AGE_RECIPIENTS", setup: func(t *testing.T, dir string) {
			t.Setenv(EnvAgeRecipients, r1)
			firstRun(Config{})(t, dir)
			os.Unsetenv(EnvAgeRecipients)
		}, want: ageSet(r1), sameConfig: true},
		{name: "first run generated the key", setup: firstRun(Config{AgeKeyFile: "age.key"}),
			sameConfig: true, note: "creation rule 1 (secretshift's)"},
		{name: "the environment names the rule's recipients", setup: firstRun(Config{AgeRecipients: []string{r1}}), env: r1,
			want: ageSet(r1), sameConfig: true},
		{name: "catch-all rule in list form", setup: sopsYAML("creation_rules:\n  - age:\n      - " + r1 + "\n      - " + r2 + "\n"),
			want: ageSet(r1, r2), note: "creation rule 1 (no path_regex, matches every file)"},
		{name: "one key group", setup: sopsYAML("creation_rules:\n  - path_regex: \\.yaml$\n    key_groups:\n      - age:\n          - " + r2 + "\n"),
			want: ageSet(r2)},
		{name: "no rule for these files", setup: sopsYAML("creation_rules:\n  - path_regex: \\.env$\n    age: " + r1 + "\n"),
			generate: true, note: "generated age key at"},
		{name: "no .sops.yaml", setup: func(*testing.T, string) {}, generate: true, note: "generated age key at"},
		{name: "kms rule", setup: sopsYAML("creation_rules:\n  - kms: arn:aws:kms:eu-west-1:111122223333:key/abc\n    age: " + r1 + "\n"),
			openErr: "names kms recipients, which secretshift cannot encrypt to"},
		{name: "two key groups", setup: sopsYAML("creation_rules:\n  - key_groups:\n      - age: [" + r1 + "]\n      - age: [" + r2 + "]\n"),
			openErr: "2 key groups"},
		{name: "rules differ for existing files", setup: sopsYAML("creation_rules:\n  - path_regex: ^prod/\n    age: " + r2 + "\n  - age: " + r1 + "\n"),
			openErr: "secretshift encrypts a run to one set of recipients"},
		{name: "rule for a namespace with no file yet", setup: sopsYAML("creation_rules:\n  - path_regex: ^staging/\n    age: " + r2 + "\n  - age: " + r1 + "\n"),
			write: "staging", writeErr: providers.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			keyFile := filepath.Join(dir, "age.key")
			tc.setup(t, dir)
			if tc.env != "" {
				t.Setenv(EnvAgeRecipients, tc.env)
			}
			before, _ := os.ReadFile(filepath.Join(out, ".sops.yaml"))
			_, statErr := os.Stat(keyFile)
			hadKey := statErr == nil

			p, err := (&Config{Out: out, AgeKeyFile: keyFile}).open(context.Background())
			if tc.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.openErr) {
					t.Fatalf("open: err = %v, want it to mention %q", err, tc.openErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer p.Close()
			ns := tc.write
			if ns == "" {
				ns = "shop"
			}
			s := secret(ns, "second", "demo-2")
			tg, _ := p.Target(refOf(s))
			_, err = p.Write(context.Background(), tg, payload(t, s), "")
			if tc.writeErr != nil {
				if !errors.Is(err, tc.writeErr) || !strings.Contains(err.Error(), `creation rule 1 (path_regex "^staging/")`) {
					t.Fatalf("write: err = %v, want %v naming the rule", err, tc.writeErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			_, statErr = os.Stat(keyFile)
			if generated := !hadKey && statErr == nil; generated != tc.generate {
				t.Fatalf("key generated: %v, want %v", generated, tc.generate)
			}
			want := tc.want
			if want == nil {
				k, err := loadKeyFile(keyFile)
				if err != nil {
					t.Fatal(err)
				}
				want = ageSet(k.recipients...)
			}
			if got := fileRecipients(t, filepath.Join(out, filepath.FromSlash(tg.Address))); !slices.Equal(got, want) {
				t.Fatalf("encrypted to %v, want %v", got, want)
			}
			after, _ := os.ReadFile(filepath.Join(out, ".sops.yaml"))
			if tc.sameConfig && string(after) != string(before) {
				t.Errorf(".sops.yaml changed:\n%s\nwas\n%s", after, before)
			}
			if n := strings.Join(p.Notes(), "\n"); !strings.Contains(n, tc.note) {
				t.Errorf("notes lack %q:\n%s", tc.note, n)
			}
		})
	}
}

// TestRecipientChange: recipients that differ from secretshift's rule are refused at Open
// unless --sops-update-keys is given; then the rule is updated and files encrypted to other
// recipients are re-wrapped by a Write of the same values.
func TestRecipientChange(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	k1, r1 := newKey(t, keys)
	k2, r2 := newKey(t, keys)
	_, r3 := newKey(t, keys)
	// setup: a first run encrypted shop/a and shop/b to r1.
	setup := func(t *testing.T) string {
		out := filepath.Join(t.TempDir(), "out")
		p := open(t, &Config{Out: out, AgeRecipients: []string{r1}, AgeKeyFile: k1})
		write(t, p, secret("shop", "a", "demo-a"))
		write(t, p, secret("shop", "b", "demo-b"))
		p.Close()
		return out
	}

	t.Run("refused without --sops-update-keys", func(t *testing.T) {
		out := setup(t)
		before := listTree(t, out)
		cfg, _ := os.ReadFile(filepath.Join(out, ".sops.yaml"))
		for _, given := range [][]string{{r2}, {r1, r2}} {
			_, err := (&Config{Out: out, AgeRecipients: given, AgeKeyFile: k2}).Open(context.Background())
			if err == nil {
				t.Fatalf("open with %v succeeded", given)
			}
			for _, want := range []string{describeSet(ageSet(given...)), describeSet(ageSet(r1)), "creation rule 1 (secretshift's)", "--sops-update-keys"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
		}
		after, _ := os.ReadFile(filepath.Join(out, ".sops.yaml"))
		if listTree(t, out) != before || string(after) != string(cfg) {
			t.Fatal("a refused open changed the folder")
		}
	})

	tests := []struct {
		name    string
		config  func(out string) *Config
		prepare func(t *testing.T, out string) // before Open
		want    []string
		ruleHas string // .sops.yaml names these recipients afterwards
		err     string // Write's error for the re-wrap
	}{
		{name: "new recipients given", config: func(out string) *Config {
			return &Config{Out: out, AgeRecipients: []string{r2}, AgeKeyFile: k1, UpdateKeys: true}
		}, want: ageSet(r2), ruleHas: "age: " + r2},
		{name: "a recipient added", config: func(out string) *Config {
			return &Config{Out: out, AgeRecipients: []string{r1, r2}, AgeKeyFile: k1, UpdateKeys: true}
		}, want: ageSet(r1, r2), ruleHas: r2},
		{name: "rule edited by hand", prepare: func(t *testing.T, out string) {
			path := filepath.Join(out, ".sops.yaml")
			b, _ := os.ReadFile(path)
			os.WriteFile(path, []byte(strings.ReplaceAll(string(b), r1, r3)), 0o644)
		}, config: func(out string) *Config { return &Config{Out: out, AgeKeyFile: k1, UpdateKeys: true} },
			want: ageSet(r3), ruleHas: "age: " + r3},
		{name: "no identity for the old recipients", config: func(out string) *Config {
			return &Config{Out: out, AgeRecipients: []string{r2}, AgeKeyFile: k2, UpdateKeys: true}
		}, err: "no available identity can decrypt it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			out := setup(t)
			if tc.prepare != nil {
				tc.prepare(t, out)
			}
			p := open(t, tc.config(out))
			s := secret("shop", "a", "demo-a")
			tg, _ := p.Target(refOf(s))
			path := filepath.Join(out, "shop", "a.yaml")
			old, _ := os.ReadFile(path)
			st, err := p.Read(ctx, tg)
			if err != nil || st.Rewrite != rewriteReason {
				t.Fatalf("read: %+v, %v; want Rewrite", st, err)
			}
			_, err = p.Write(ctx, tg, payload(t, s), st.Version)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), describeSet(ageSet(r1))) {
					t.Fatalf("write: err = %v, want it to mention %q and the file's recipients", err, tc.err)
				}
				if now, _ := os.ReadFile(path); string(now) != string(old) {
					t.Fatal("the file changed")
				}
				return
			}
			if err != nil {
				t.Fatalf("write: %v", err)
			}
			if got := fileRecipients(t, path); !slices.Equal(got, tc.want) {
				t.Fatalf("re-wrapped to %v, want %v", got, tc.want)
			}
			// The values, lastmodified and MAC are kept, as sops updatekeys keeps them.
			now, _ := os.ReadFile(path)
			for _, prefix := range []string{"    v: ENC[", "    lastmodified: ", "    mac: ENC["} {
				if lineWith(string(old), prefix) == "" || lineWith(string(old), prefix) != lineWith(string(now), prefix) {
					t.Errorf("line %q changed", prefix)
				}
			}
			// This run's identity (k1) opens the file only while r1 is still a recipient.
			st, err = p.Read(ctx, tg)
			if err != nil || st.Rewrite != "" || st.Fingerprint != fingerprint(t, s) ||
				sameData(st.Data, s.Data) != slices.Contains(tc.want, "age:"+r1) {
				t.Fatalf("read after re-wrap: %+v, %v", st, err)
			}
			// A file written by this run is at the wanted recipients already.
			tc2, _ := write(t, p, secret("shop", "c", "demo-c"))
			if st, err := p.Read(ctx, tc2); err != nil || st.Rewrite != "" {
				t.Fatalf("new file: %+v, %v", st, err)
			}
			if cfg, _ := os.ReadFile(filepath.Join(out, ".sops.yaml")); !strings.Contains(string(cfg), tc.ruleHas) {
				t.Errorf(".sops.yaml does not name %s:\n%s", tc.ruleHas, cfg)
			}
			if slices.Contains(tc.want, "age:"+r2) {
				// Only the new identity opens the re-wrapped file.
				p.Close()
				for key, opens := range map[string]bool{k2: true, k1: slices.Contains(tc.want, "age:"+r1)} {
					r := open(t, &Config{Out: out, AgeKeyFile: key, UpdateKeys: true})
					st, err := r.Read(ctx, tg)
					if err != nil || (st.Data != nil) != opens {
						t.Errorf("read with %s: %+v, %v; want decrypted %v", filepath.Base(key), st, err, opens)
					}
				}
			}
		})
	}

	t.Run("note without --sops-update-keys", func(t *testing.T) {
		out := setup(t)
		path := filepath.Join(out, ".sops.yaml")
		b, _ := os.ReadFile(path)
		os.WriteFile(path, []byte(strings.ReplaceAll(string(b), r1, r2)), 0o644)
		p := open(t, &Config{Out: out, AgeKeyFile: k1})
		for _, name := range []string{"a", "b"} {
			st, err := p.Read(context.Background(), providers.Target{Provider: Name, Address: "shop/" + name + ".yaml"})
			if err != nil || st.Rewrite != "" || st.Data == nil {
				t.Fatalf("read: %+v, %v", st, err)
			}
		}
		if n := strings.Join(p.Notes(), "\n"); !strings.Contains(n, "2 files (shop/a.yaml and others) are encrypted to other recipients than this run's") ||
			!strings.Contains(n, "--sops-update-keys") {
			t.Errorf("notes:\n%s", n)
		}
		// A change of values keeps the file's recipients; a new file gets the rule's.
		a := secret("shop", "a", "demo-a-changed")
		atg, _ := p.Target(refOf(a))
		st, _ := p.Read(context.Background(), atg)
		if _, err := p.Write(context.Background(), atg, payload(t, a), st.Version); err != nil {
			t.Fatal(err)
		}
		write(t, p, secret("shop", "new", "demo"))
		for file, want := range map[string][]string{"a.yaml": ageSet(r1), "new.yaml": ageSet(r2)} {
			if got := fileRecipients(t, filepath.Join(out, "shop", file)); !slices.Equal(got, want) {
				t.Errorf("%s encrypted to %v, want %v", file, got, want)
			}
		}
	})
}

func lineWith(f, prefix string) string {
	for _, l := range strings.Split(f, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestValueChangeKeepsRecipients: without --sops-update-keys, new values of a file encrypted to
// other recipients than the run's are encrypted under its own data key and recipients, as
// `sops edit` does; a file edited by hand is replaced with the run's recipients.
func TestValueChangeKeepsRecipients(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	k1, r1 := newKey(t, keys)
	_, r2 := newKey(t, keys)
	_, r3 := newKey(t, keys)
	tests := []struct {
		name    string
		keyFile string
		edit    func(f string) string // of shop/a.yaml, after the rule moved to r2
		want    []string
		sameKey bool   // the wrapped data key of r1 is unchanged
		err     string // Write's error
	}{
		{name: "identity available", keyFile: k1, want: ageSet(r1), sameKey: true},
		{name: "no identity", keyFile: filepath.Join(keys, "none.key"), err: "keeping them needs its data key"},
		{name: "recipient added by hand, MAC broken", keyFile: k1, edit: func(f string) string {
			f = strings.Replace(f, "    age:\n", "    age:\n        - recipient: "+r3+"\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            -----END AGE ENCRYPTED FILE-----\n", 1)
			return strings.Replace(f, "tier: db", "tier: x", 1)
		}, want: ageSet(r2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			out := filepath.Join(t.TempDir(), "out")
			first := open(t, &Config{Out: out, AgeRecipients: []string{r1}, AgeKeyFile: k1})
			s := &kube.Secret{Namespace: "shop", Name: "a", Labels: map[string]string{"tier": "db"}, Data: kube.Data{"v": []byte("demo-a")}}
			tg, _ := write(t, first, s)
			first.Close()
			path := filepath.Join(out, "shop", "a.yaml")
			cfg := filepath.Join(out, ".sops.yaml")
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), r1, r2)), 0o644)
			if tc.edit != nil {
				f, _ := os.ReadFile(path)
				os.WriteFile(path, []byte(tc.edit(string(f))), 0o600)
			}
			old, _ := os.ReadFile(path)

			p := open(t, &Config{Out: out, AgeKeyFile: tc.keyFile})
			st, err := p.Read(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			changed := *s
			changed.Data = kube.Data{"v": []byte("demo-a-changed")}
			_, err = p.Write(ctx, tg, payload(t, &changed), st.Version)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--sops-update-keys") {
					t.Fatalf("write: err = %v, want it to mention %q and the flag", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fileRecipients(t, path); !slices.Equal(got, tc.want) {
				t.Fatalf("encrypted to %v, want %v", got, tc.want)
			}
			now, _ := os.ReadFile(path)
			if kept := encBlock(string(old)) == encBlock(string(now)); kept != tc.sameKey {
				t.Errorf("wrapped data key kept: %v, want %v", kept, tc.sameKey)
			}
			if st, err := p.Read(ctx, tg); err != nil || st.Problem != "" || (st.Data != nil && !sameData(st.Data, changed.Data)) {
				t.Fatalf("read back: %+v, %v", st, err)
			}
		})
	}
}

// encBlock returns the armored data key of the first age recipient of a SOPS file.
func encBlock(f string) string {
	_, after, _ := strings.Cut(f, "-----BEGIN AGE ENCRYPTED FILE-----")
	block, _, _ := strings.Cut(after, "-----END AGE ENCRYPTED FILE-----")
	return block
}
