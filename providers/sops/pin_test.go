package sops

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPin(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	k1, r1 := newKey(t, keys)
	_, r2 := newKey(t, keys)
	tests := []struct {
		name  string
		setup func(t *testing.T, out string) // a first run
		c     Config
		want  map[string]string // "<hash>" stands for the hash of .sops.yaml
	}{
		{name: "flags", c: Config{AgeRecipients: []string{r2, r1}},
			want: map[string]string{pinConfig: configAbsent, pinAge: strings.Join(canonical([]string{r1, r2}), ","), pinSource: sourceFlags}},
		{name: "rule", setup: func(t *testing.T, out string) {
			p := open(t, &Config{Out: out, AgeRecipients: []string{r1}})
			write(t, p, secret("shop", "a", "demo"))
			p.Close()
		}, want: map[string]string{pinConfig: "<hash>", pinAge: r1, pinSource: sourceRule}},
		{name: "key file", c: Config{AgeKeyFile: k1},
			want: map[string]string{pinConfig: configAbsent, pinAge: r1, pinSource: sourceKeyFile}},
		{name: "key to generate", c: Config{AgeKeyFile: "new.key"},
			want: map[string]string{pinConfig: configAbsent, pinGenerate: "new.key", pinSource: sourceGenerate}},
		{name: "update keys", c: Config{AgeRecipients: []string{r1}, UpdateKeys: true},
			want: map[string]string{pinConfig: configAbsent, pinAge: r1, pinSource: sourceFlags, pinUpdateKeys: "true"}},
		{name: "other kinds in canonical form", c: Config{PGP: []string{"fbc7 b9e2 a4f9 289a c0c1 d484 3d16 cee4 a273 81b4"},
			VaultTransit: []string{" https://vault.example.test:8200/v1/transit/keys/sops "},
			AzureKV:      []string{"https://demo.vault.azure.net/keys/sops/0123456789abcdef"}},
			want: map[string]string{pinConfig: configAbsent, pinSource: sourceFlags, pinPGP: "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
				pinVault: "https://vault.example.test:8200/v1/transit/keys/sops", pinAzure: "https://demo.vault.azure.net/keys/sops/0123456789abcdef"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			if tc.setup != nil {
				tc.setup(t, out)
			}
			c := tc.c
			c.Out = out
			if c.AgeKeyFile == "new.key" {
				c.AgeKeyFile = filepath.Join(dir, "new.key")
				tc.want[pinGenerate] = c.AgeKeyFile
			}
			got := open(t, &c).Pin()
			if tc.want[pinConfig] == "<hash>" {
				b, _ := os.ReadFile(filepath.Join(out, ".sops.yaml"))
				tc.want[pinConfig] = configSum(b, true)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("pin\n%v\nwant\n%v", got, tc.want)
			}
			if err := open(t, &c).UsePin(got); err != nil {
				t.Fatalf("the pin does not apply to the same settings: %v", err)
			}
		})
	}
}

// TestUsePin: applying a plan encrypts to the recipients it recorded, also on a second apply
// after a crash, and refuses when .sops.yaml changed the recipients since.
func TestUsePin(t *testing.T) {
	isolateIdentities(t)
	keys := t.TempDir()
	k1, r1 := newKey(t, keys)
	k2, r2 := newKey(t, keys)
	ctx := context.Background()
	// firstRun makes out hold a rule for r1 and one file.
	firstRun := func(t *testing.T, out string) {
		p := open(t, &Config{Out: out, AgeRecipients: []string{r1}, AgeKeyFile: k1})
		write(t, p, secret("shop", "first", "demo"))
		p.Close()
	}
	// applyOnce writes one Secret under the plan, as a first apply that then crashes.
	applyOnce := func(c Config) func(t *testing.T, out string, pin map[string]string) {
		return func(t *testing.T, out string, pin map[string]string) {
			c.Out = out
			if c.AgeKeyFile == "age.key" {
				c.AgeKeyFile = filepath.Join(filepath.Dir(out), "age.key")
			}
			p := open(t, &c)
			if err := p.UsePin(pin); err != nil {
				t.Fatalf("first apply: %v", err)
			}
			write(t, p, secret("shop", "applied", "demo"))
			p.Close()
		}
	}
	editConfig := func(from, to string) func(t *testing.T, out string, _ map[string]string) {
		return func(t *testing.T, out string, _ map[string]string) {
			path := filepath.Join(out, ".sops.yaml")
			b, _ := os.ReadFile(path)
			if !strings.Contains(string(b), from) {
				t.Fatalf(".sops.yaml lacks %q", from)
			}
			os.WriteFile(path, []byte(strings.Replace(string(b), from, to, 1)), 0o644)
		}
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, out string)
		plan    Config
		between func(t *testing.T, out string, pin map[string]string)
		apply   Config
		err     string
		want    []string // recipients of a file the apply writes; nil means the key in <dir>/age.key
		rewrap  bool     // the apply re-wraps shop/first
	}{
		{name: "nothing changed", setup: firstRun, want: ageSet(r1)},
		{name: "resume after the first apply added the rule", plan: Config{AgeRecipients: []string{r1}},
			between: applyOnce(Config{AgeRecipients: []string{r1}}), apply: Config{AgeRecipients: []string{r1}}, want: ageSet(r1)},
		{name: "resume after the first apply generated the key", plan: Config{AgeKeyFile: "age.key"},
			between: applyOnce(Config{AgeKeyFile: "age.key"}), apply: Config{AgeKeyFile: "age.key"}},
		{name: "resume after the first apply updated the rule", setup: firstRun,
			plan:    Config{AgeRecipients: []string{r2}, AgeKeyFile: k1, UpdateKeys: true},
			between: applyOnce(Config{AgeRecipients: []string{r2}, AgeKeyFile: k1, UpdateKeys: true}),
			apply:   Config{AgeKeyFile: k1}, want: ageSet(r2), rewrap: true},
		{name: "comment added to .sops.yaml", setup: firstRun, between: editConfig("creation_rules:", "# reviewed\ncreation_rules:"),
			want: ageSet(r1)},
		{name: "recipients of the rule changed", setup: firstRun, between: editConfig(r1, r2),
			err: "changed since the plan was made: creation rule 1 (secretshift's) now names " + describeSet(ageSet(r2))},
		{name: "a rule appeared where the plan generates a key", plan: Config{AgeKeyFile: "age.key"},
			between: func(t *testing.T, out string, _ map[string]string) {
				os.MkdirAll(out, 0o700)
				os.WriteFile(filepath.Join(out, ".sops.yaml"), []byte("creation_rules:\n  - age: "+r2+"\n"), 0o644)
			}, apply: Config{AgeKeyFile: "age.key"}, err: "the plan encrypts to an age key to be generated"},
		{name: "flags differ from the plan", plan: Config{AgeRecipients: []string{r1}}, apply: Config{AgeRecipients: []string{r2}},
			err: "the plan encrypts to " + describeSet(ageSet(r1)) + ", but the recipients given now are " + describeSet(ageSet(r2))},
		{name: "pinned recipients win over the key file", plan: Config{AgeRecipients: []string{r1}}, apply: Config{AgeKeyFile: k2},
			want: ageSet(r1)},
		{name: "update keys from the plan", setup: firstRun, plan: Config{AgeRecipients: []string{r2}, AgeKeyFile: k1, UpdateKeys: true},
			apply: Config{AgeKeyFile: k1}, want: ageSet(r2), rewrap: true},
		{name: "setting from a newer version", setup: firstRun, between: func(_ *testing.T, _ string, pin map[string]string) {
			pin["kms"] = "arn:aws:kms:eu-west-1:111122223333:key/abc"
		}, err: `records the setting "kms"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			keyFile := func(c Config) Config {
				c.Out = out
				if c.AgeKeyFile == "age.key" {
					c.AgeKeyFile = filepath.Join(dir, "age.key")
				}
				return c
			}
			if tc.setup != nil {
				tc.setup(t, out)
			}
			plan := keyFile(tc.plan)
			pin := open(t, &plan).Pin()
			if tc.between != nil {
				tc.between(t, out, pin)
			}
			apply := keyFile(tc.apply)
			p, err := apply.open(ctx)
			if err != nil {
				t.Fatalf("open for apply: %v", err)
			}
			defer p.Close()
			err = p.UsePin(pin)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("use pin: err = %v, want it to mention %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("use pin: %v", err)
			}
			tg, _ := write(t, p, secret("shop", "new", "demo"))
			want := tc.want
			if want == nil {
				k, err := loadKeyFile(filepath.Join(dir, "age.key"))
				if err != nil {
					t.Fatal(err)
				}
				want = ageSet(k.recipients...)
			}
			if got := fileRecipients(t, filepath.Join(out, filepath.FromSlash(tg.Address))); !slices.Equal(got, want) {
				t.Fatalf("encrypted to %v, want %v", got, want)
			}
			if tc.rewrap {
				first := secret("shop", "first", "demo")
				ftg, _ := p.Target(refOf(first))
				st, err := p.Read(ctx, ftg)
				if err != nil || st.Rewrite == "" {
					t.Fatalf("read: %+v, %v; want Rewrite from the plan's --sops-update-keys", st, err)
				}
				if _, err := p.Write(ctx, ftg, payload(t, first), st.Version); err != nil {
					t.Fatal(err)
				}
				if got := fileRecipients(t, filepath.Join(out, "shop", "first.yaml")); !slices.Equal(got, want) {
					t.Fatalf("re-wrapped to %v, want %v", got, want)
				}
			}
		})
	}
	_ = k2
}
