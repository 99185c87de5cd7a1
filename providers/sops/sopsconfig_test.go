package sops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestSopsConfigMerge(t *testing.T) {
	ours := recipients{age: []string{"age1aaa", "age1bbb"}}
	oursLine := "age: age1aaa,age1bbb"
	tests := []struct {
		name      string
		existing  string
		fields    []ruleField
		changed   bool
		index     int
		keep      []string // substrings the result must still hold
		shadowFor string   // a path an earlier rule matches
	}{
		{name: "no file", existing: "", changed: true, index: 0, keep: []string{"creation_rules:", "path_regex: " + rulePathRegex, oursLine, "# " + ruleComment}},
		{name: "only a comment", existing: "# team settings\n", changed: true, index: 0, keep: []string{"# team settings", oursLine}},
		{name: "empty creation_rules", existing: "creation_rules:\n", changed: true, index: 0, keep: []string{oursLine}},
		{
			name: "unrelated rules, comments and fields are kept",
			existing: `# SOPS settings for this repo
stores:
  yaml:
    indent: 4
creation_rules:
  # production secrets go to KMS
  - path_regex: ^prod/.*\.yaml$
    kms: arn:aws:kms:eu-west-1:111122223333:key/abc # the prod key
    encrypted_regex: ^(data|stringData)$
  - path_regex: \.env$
    age: age1zzz
destination_rules:
  - s3_bucket: example
`,
			changed: true, index: 2,
			keep: []string{"# SOPS settings for this repo", "indent: 4", "# production secrets go to KMS", "# the prod key",
				"arn:aws:kms:eu-west-1:111122223333:key/abc", "age: age1zzz", "s3_bucket: example", oursLine},
		},
		{
			name:     "catch-all rule first shadows ours",
			existing: "creation_rules:\n  - age: age1zzz\n",
			changed:  true, index: 1, keep: []string{"age: age1zzz", oursLine}, shadowFor: "shop/db.yaml",
		},
		{
			name:     "our rule already there",
			existing: "creation_rules:\n  # ours\n  - path_regex: " + rulePathRegex + "\n    encrypted_regex: ^(data|stringData)$\n    age: age1bbb, age1aaa\n",
			changed:  false, index: 0, keep: []string{"# ours", "age: age1bbb, age1aaa"},
		},
		{
			name:     "our rule as a list",
			existing: "creation_rules:\n  - path_regex: " + rulePathRegex + "\n    encrypted_regex: ^(data|stringData)$\n    age:\n      - age1aaa\n      - age1bbb\n",
			changed:  false, index: 0,
		},
		{
			name:     "our rule with other recipients is updated in place",
			existing: "creation_rules:\n  - path_regex: x\n    age: age1zzz\n  - path_regex: " + rulePathRegex + "\n    encrypted_regex: ^(data|stringData)$\n    age: age1old\n    pgp: ABCDEF\n    mac_only_encrypted: false\n",
			changed:  true, index: 1, keep: []string{"age: age1zzz", oursLine, "mac_only_encrypted: false"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseSopsConfig([]byte(tc.existing))
			if err != nil {
				t.Fatal(err)
			}
			changed, idx := c.merge(ours.ruleFields())
			if changed != tc.changed || idx != tc.index {
				t.Fatalf("changed %v index %d, want %v %d", changed, idx, tc.changed, tc.index)
			}
			b, err := c.encode()
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("result lacks %q:\n%s", k, got)
				}
			}
			if strings.Contains(got, "age1old") || strings.Contains(got, "pgp: ABCDEF") {
				t.Errorf("stale recipients kept:\n%s", got)
			}
			// The result is a config sops accepts, with our rule where merge says.
			var parsed struct {
				CreationRules []map[string]any `yaml:"creation_rules"`
			}
			if err := yaml.Unmarshal(b, &parsed); err != nil {
				t.Fatal(err)
			}
			if parsed.CreationRules[idx]["path_regex"] != rulePathRegex {
				t.Errorf("rule %d is not ours: %v", idx, parsed.CreationRules[idx])
			}
			sh := c.shadows(idx, filepath.FromSlash("shop/db.yaml"))
			if (tc.shadowFor != "") != (len(sh) > 0) {
				t.Errorf("shadows = %v, want a shadow: %v", sh, tc.shadowFor != "")
			}
			// Merging again changes nothing.
			c2, err := parseSopsConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			if changed, idx2 := c2.merge(ours.ruleFields()); changed || idx2 != idx {
				t.Errorf("second merge changed %v, index %d", changed, idx2)
			}
		})
	}
}

func TestRulePathRegex(t *testing.T) {
	c, _ := parseSopsConfig(nil)
	_, idx := c.merge(recipients{age: []string{"age1aaa"}}.ruleFields())
	c.rules.Content = append(c.rules.Content, c.rules.Content[idx]) // a copy after ours
	for path, want := range map[string]bool{
		"shop/db.yaml": true, `shop\db.yaml`: true, "shop/db.v1.yaml": true,
		".sops.yaml": false, "shop/sub/db.yaml": false, "shop/db.yml": false, ".github/x.yaml": false,
		"shop/.db.yaml.tmp-123": false,
	} {
		// A rule after ours never shadows it; check the regex itself through it.
		if got := len(c.shadows(len(c.rules.Content), path)) > 0; got != want {
			t.Errorf("path_regex on %q: match %v, want %v", path, got, want)
		}
	}
}

// TestSopsConfigFile: secretshift merges its rule into a .sops.yaml people wrote, keeping the
// rest, and refuses recipients that differ from a rule of theirs that sops uses for the files.
func TestSopsConfigFile(t *testing.T) {
	corpus := corpusDir(t)
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	existing, err := os.ReadFile(filepath.Join(corpus, "pr1031-age-dot-sops.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// The corpus file's catch-all rule names other recipients: secretshift cannot change a rule
	// it did not write, with or without --sops-update-keys.
	for _, update := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("corpus-%v", update))
		os.MkdirAll(out, 0o700)
		os.WriteFile(filepath.Join(out, ".sops.yaml"), existing, 0o640)
		_, err := (&Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key, UpdateKeys: update}).Open(context.Background())
		if err == nil {
			t.Fatalf("update %v: open succeeded with recipients the catch-all rule does not name", update)
		}
		for _, want := range []string{"age: " + rcpt, "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "age1tmaae3ld5vpevmsh5yacsauzx8jetg300mpvc4ugp5zr5l6ssq9sla97ep",
			"creation rule 1 (no path_regex, matches every file)", "not secretshift's", "--sops-update-keys"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("update %v: error lacks %q: %v", update, want, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(out, ".sops.yaml")); string(b) != string(existing) {
			t.Errorf("update %v: .sops.yaml changed", update)
		}
	}

	// A catch-all rule of the user that names the same recipients: secretshift adds its own
	// rule after it, keeps everything else, and warns that the catch-all comes first.
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o700)
	cfgPath := filepath.Join(out, ".sops.yaml")
	user := "# the team's rules\ncreation_rules:\n  - path_regex: ^legacy/.*\\.env$\n    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n" +
		"  # everything else\n  - age: " + rcpt + "\n    encrypted_regex: ^(data|stringData)$\n"
	os.WriteFile(cfgPath, []byte(user), 0o640)
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	write(t, p, sampleSecrets()[0])
	p.Close()
	got, _ := os.ReadFile(cfgPath)
	for _, keep := range []string{"# the team's rules", "# everything else", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "path_regex: " + rulePathRegex, "age: " + rcpt} {
		if !strings.Contains(string(got), keep) {
			t.Errorf(".sops.yaml lacks %q:\n%s", keep, got)
		}
	}
	notes := strings.Join(p.Notes(), "\n")
	if !strings.Contains(notes, "creation rule 2 (no path_regex, matches every file) comes before secretshift's rule") {
		t.Errorf("no shadow warning in notes:\n%s", notes)
	}
	if fi, _ := os.Stat(cfgPath); fi.Mode().Perm() != 0o640 {
		t.Errorf(".sops.yaml mode %v, want the existing 0640 kept", fi.Mode().Perm())
	}

	// A later run with the same recipients, given or not, leaves the file byte for byte.
	for i, c := range []*Config{{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key}, {Out: out, AgeKeyFile: key}} {
		st, _ := os.Stat(cfgPath)
		p2 := open(t, c)
		write(t, p2, sampleSecrets()[1+i])
		p2.Close()
		again, _ := os.ReadFile(cfgPath)
		st2, _ := os.Stat(cfgPath)
		if string(again) != string(got) || !st2.ModTime().Equal(st.ModTime()) {
			t.Errorf("run %d: .sops.yaml rewritten although the rule was there", i+2)
		}
		if strings.Contains(strings.Join(p2.Notes(), "\n"), "updated") {
			t.Errorf("run %d: reports an update", i+2)
		}
	}
}
