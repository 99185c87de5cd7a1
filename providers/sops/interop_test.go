package sops

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// runSops runs the sops binary in dir with only the given environment (plus PATH and HOME), so
// no identity of the machine leaks in. Its output is returned, never logged: it is plaintext.
func runSops(t *testing.T, bin, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"XDG_CONFIG_HOME=" + os.Getenv("XDG_CONFIG_HOME"), "GNUPGHOME=" + os.Getenv("GNUPGHOME")}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// sops' stderr names files and keys, not values; keep it short anyway.
		msg := stderr.String()
		if len(msg) > 400 {
			msg = msg[:400]
		}
		return nil, errors.New(err.Error() + ": " + msg)
	}
	return out, nil
}

// manifest is the part of a Secret manifest the tests compare.
type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Type       string            `yaml:"type"`
	Immutable  bool              `yaml:"immutable"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

func TestSopsBinaryDecryptsOurFiles(t *testing.T) {
	bin := sopsBinary(t)
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	for _, s := range sampleSecrets() {
		tg, _ := write(t, p, s)
		for _, cwd := range []string{out, dir} { // with and without our .sops.yaml in view
			file, _ := filepath.Rel(cwd, filepath.Join(out, filepath.FromSlash(tg.Address)))
			plain, err := runSops(t, bin, cwd, []string{"SOPS_AGE_KEY_FILE=" + key}, "-d", file)
			if err != nil {
				t.Fatalf("sops -d %s (in %s): %v", file, cwd, err)
			}
			var m manifest
			if err := yaml.Unmarshal(plain, &m); err != nil {
				t.Fatalf("sops -d %s: output is not YAML: %v", file, err)
			}
			if m.APIVersion != "v1" || m.Kind != "Secret" || m.Metadata.Name != s.Name || m.Metadata.Namespace != s.Namespace ||
				m.Type != s.EffectiveType() || m.Immutable != s.Immutable {
				t.Errorf("%s: decrypted header %+v", file, m)
			}
			if _, ok := m.Metadata.Annotations[providers.LastAppliedAnnotation]; ok {
				t.Errorf("%s: kept %s", file, providers.LastAppliedAnnotation)
			}
			got := kube.Data{}
			for k, v := range m.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatalf("%s: key %s is not base64", file, k)
				}
				got[k] = b
			}
			if !sameData(got, s.Data) {
				t.Errorf("%s: sops -d gives %v, wrote %v", file, got, s.Data)
			}
		}
	}
	// Without the identity sops refuses, as it should.
	if _, err := runSops(t, bin, out, nil, "-d", "shop/db-credentials.yaml"); err == nil {
		t.Fatal("sops -d succeeded without any identity")
	}
}

func TestSopsBinaryUsesOurRule(t *testing.T) {
	bin := sopsBinary(t)
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	_, other := newKey(t, dir)
	out := filepath.Join(dir, "out")
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt, other}, AgeKeyFile: key})
	write(t, p, sampleSecrets()[0])

	// A person adds a Secret by hand and encrypts it in place from inside the folder: sops picks
	// our rule, so recipients and encrypted_regex match what secretshift writes.
	plain := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: added-by-hand\n  namespace: shop\ntype: Opaque\ndata:\n  token: " +
		base64.StdEncoding.EncodeToString([]byte("hand-made-demo-token")) + "\n"
	path := filepath.Join(out, "shop", "added-by-hand.yaml")
	if err := os.WriteFile(path, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runSops(t, bin, filepath.Join(out, "shop"), nil, "-e", "-i", "added-by-hand.yaml"); err != nil {
		t.Fatalf("sops -e -i with our .sops.yaml: %v", err)
	}
	enc, _ := os.ReadFile(path)
	for _, want := range []string{"recipient: " + rcpt, "recipient: " + other, "encrypted_regex: ^(data|stringData)$", "name: added-by-hand"} {
		if !bytes.Contains(enc, []byte(want)) {
			t.Errorf("file encrypted by sops lacks %q", want)
		}
	}
	st, err := p.Read(context.Background(), providers.Target{Provider: "sops", Address: "shop/added-by-hand.yaml"})
	if err != nil {
		t.Fatalf("read a file sops encrypted: %v", err)
	}
	if string(st.Data["token"]) != "hand-made-demo-token" || st.Managed || st.Type != "Opaque" {
		t.Fatalf("read back %+v", st)
	}

	// And sops decrypts, edits (set) and re-encrypts our own files through that rule.
	if _, err := runSops(t, bin, out, []string{"SOPS_AGE_KEY_FILE=" + key}, "set", "shop/db-credentials.yaml",
		`["data"]["username"]`, `"`+base64.StdEncoding.EncodeToString([]byte("renamed"))+`"`); err != nil {
		t.Fatalf("sops set: %v", err)
	}
	st, err = p.Read(context.Background(), providers.Target{Provider: "sops", Address: "shop/db-credentials.yaml"})
	if err != nil || string(st.Data["username"]) != "renamed" {
		t.Fatalf("read after sops set: %v", err)
	}
}

func TestCorpusFiles(t *testing.T) {
	bin := sopsBinary(t)
	corpus := corpusDir(t)
	isolateIdentities(t)
	keys := filepath.Join(corpus, "age-keys.txt")
	example, err := os.ReadFile(filepath.Join(corpus, "pr1031-age-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := runSops(t, bin, t.TempDir(), []string{"SOPS_AGE_KEY_FILE=" + keys}, "-d", "--input-type", "yaml", "--output-type", "yaml",
		filepath.Join(corpus, "pr1031-age-example.yaml"))
	if err != nil {
		t.Fatalf("sops -d on the corpus file: %v", err)
	}
	// Each of the two test identities opens the file on its own.
	kb, _ := os.ReadFile(keys)
	var single []string
	for _, l := range strings.Split(string(kb), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			single = append(single, l)
		}
	}
	if len(single) != 2 {
		t.Fatalf("age-keys.txt has %d identities, want 2", len(single))
	}

	tests := []struct {
		name    string
		keyFile string
		edit    func(string) string
		want    string // "" means decrypts like sops -d
	}{
		{name: "both keys", keyFile: keys},
		{name: "first key", keyFile: single[0]},
		{name: "second key", keyFile: single[1]},
		{name: "no mac", keyFile: keys, edit: func(f string) string { return removeLine(f, "    mac: ") }, want: "MAC mismatch"},
		{name: "tampered ciphertext", keyFile: keys, edit: func(f string) string {
			return strings.Replace(f, "data:KhLDS2R2H/BH32vUit2BGhNONIq8", "data:KhLDS2R2H/BH32vUit2BGhNONIq9", 1)
		}, want: "does not decrypt"},
		{name: "tampered clear value", keyFile: keys, edit: func(f string) string {
			return strings.Replace(f, "all: going to remain in clear text", "all: changed by hand", 1)
		}, want: "MAC mismatch"},
		{name: "tampered mac", keyFile: keys, edit: func(f string) string {
			return strings.Replace(f, "mac: ENC[AES256_GCM,data:dwrq", "mac: ENC[AES256_GCM,data:dwrr", 1)
		}, want: "MAC mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := tc.keyFile
			if !strings.Contains(keyFile, string(filepath.Separator)) {
				keyFile = filepath.Join(dir, "one.key")
				os.WriteFile(keyFile, []byte(tc.keyFile+"\n"), 0o600)
			}
			out := filepath.Join(dir, "out")
			os.MkdirAll(filepath.Join(out, "corpus"), 0o700)
			content := string(example)
			if tc.edit != nil {
				if content = tc.edit(content); content == string(example) {
					t.Fatal("edit changed nothing")
				}
			}
			os.WriteFile(filepath.Join(out, "corpus", "example.yaml"), []byte(content), 0o600)
			p := open(t, &Config{Out: out, AgeKeyFile: keyFile})
			tg := providers.Target{Provider: "sops", Address: "corpus/example.yaml"}
			st, err := p.Read(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				if !strings.Contains(st.Problem, tc.want) || st.Data != nil || st.Version == "" {
					t.Fatalf("stored %+v, want a Problem mentioning %q", st, tc.want)
				}
				return
			}
			if st.Problem != "" {
				t.Fatalf("problem %q", st.Problem)
			}
			if st.Data == nil || len(st.Data) != 0 || st.Managed {
				t.Fatalf("stored %+v", st)
			}
			// The decrypted tree equals what sops -d prints, byte for byte (the float sops
			// rounded in 3.7.1 included).
			f, err := p.load(tg.Address, filepath.Join(out, "corpus", "example.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.decrypt(context.Background(), tg.Address, f); err != nil {
				t.Fatal(err)
			}
			got, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).EmitPlainFile(f.tree.Branches)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("our decryption differs from sops -d (err %v)", err)
			}
		})
	}
}

func TestCorpusPGP(t *testing.T) {
	corpus := corpusDir(t)
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		t.Skip("gpg not installed")
	}
	isolateIdentities(t)
	home := os.Getenv("GNUPGHOME")
	os.MkdirAll(home, 0o700)
	imp := exec.Command(gpg, "--batch", "--import", filepath.Join(corpus, "pgp-sops_functional_tests_key.asc"))
	imp.Env = append(os.Environ(), "GNUPGHOME="+home)
	if b, err := imp.CombinedOutput(); err != nil {
		t.Skipf("gpg --import of the sops test key failed: %v (%d bytes of output)", err, len(b))
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "corpus"), 0o700)
	src, _ := os.ReadFile(filepath.Join(corpus, "functional-tests-res-format.enc.yaml"))
	os.WriteFile(filepath.Join(dir, "corpus", "format.yaml"), src, 0o600)
	p := open(t, &Config{Out: dir, PGP: []string{"FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"}})
	st, err := p.Read(context.Background(), providers.Target{Provider: "sops", Address: "corpus/format.yaml"})
	if err != nil {
		t.Fatalf("read a PGP-encrypted corpus file: %v", err)
	}
	if st.Data == nil {
		t.Fatalf("PGP identity not used: %v", p.Notes())
	}
	// And a Secret written to the PGP test key reads back through gpg.
	s := sampleSecrets()[2]
	tg, _ := write(t, p, s)
	st, err = p.Read(context.Background(), tg)
	if err != nil || !sameData(st.Data, s.Data) {
		t.Fatalf("pgp round trip: %v", err)
	}
}

func TestSopsBinaryFilesReadBack(t *testing.T) {
	bin := sopsBinary(t)
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	s := sampleSecrets()[1]
	plainTree := secretTree(payload(t, s))
	plain, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).EmitPlainFile(sops.TreeBranches{plainTree})
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.yaml")
	os.WriteFile(in, plain, 0o600)
	enc, err := runSops(t, bin, dir, nil, "-e", "--age", rcpt, "--encrypted-regex", encryptedRegex, in)
	if err != nil {
		t.Fatalf("sops -e: %v", err)
	}
	os.MkdirAll(filepath.Join(out, s.Namespace), 0o700)
	os.WriteFile(filepath.Join(out, s.Namespace, s.Name+".yaml"), enc, 0o600)
	tg, _ := p.Target(refOf(s))
	st, err := p.Read(context.Background(), tg)
	if err != nil || !sameData(st.Data, s.Data) || !st.Managed || st.Fingerprint != fingerprint(t, s) {
		t.Fatalf("read of a sops-encrypted manifest: %+v, %v", st, err)
	}
	// Same content: our Write leaves sops' file alone.
	before := string(enc)
	if v, err := p.Write(context.Background(), tg, payload(t, s), st.Version); err != nil || v != st.Version {
		t.Fatalf("write of unchanged content: %s, %v", v, err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, s.Namespace, s.Name+".yaml")); string(after) != before {
		t.Fatal("unchanged file was rewritten")
	}
}

// TestSopsBinaryAfterUpdateKeys: after --sops-update-keys, sops decrypts a re-wrapped file with
// the new identity only, and its own `sops updatekeys` finds file and rule in agreement.
func TestSopsBinaryAfterUpdateKeys(t *testing.T) {
	bin := sopsBinary(t)
	isolateIdentities(t)
	dir := t.TempDir()
	k1, r1 := newKey(t, dir)
	k2, r2 := newKey(t, dir)
	out := filepath.Join(dir, "out")
	ctx := context.Background()
	s := sampleSecrets()[0]
	first := open(t, &Config{Out: out, AgeRecipients: []string{r1}, AgeKeyFile: k1})
	tg, _ := write(t, first, s)
	first.Close()

	p := open(t, &Config{Out: out, AgeRecipients: []string{r2}, AgeKeyFile: k1, UpdateKeys: true})
	st, err := p.Read(ctx, tg)
	if err != nil || st.Rewrite == "" {
		t.Fatalf("read: %+v, %v", st, err)
	}
	if _, err := p.Write(ctx, tg, payload(t, s), st.Version); err != nil {
		t.Fatal(err)
	}
	p.Close()

	file := filepath.FromSlash(tg.Address)
	if _, err := runSops(t, bin, out, []string{"SOPS_AGE_KEY_FILE=" + k1}, "-d", file); err == nil {
		t.Error("sops -d with the removed identity succeeded")
	}
	plain, err := runSops(t, bin, out, []string{"SOPS_AGE_KEY_FILE=" + k2}, "-d", file)
	if err != nil {
		t.Fatalf("sops -d with the new identity: %v", err)
	}
	var m manifest
	if err := yaml.Unmarshal(plain, &m); err != nil || m.Data["password"] != base64.StdEncoding.EncodeToString(s.Data["password"]) {
		t.Fatalf("sops -d output differs (%v)", err)
	}
	before, _ := os.ReadFile(filepath.Join(out, file))
	if _, err := runSops(t, bin, out, []string{"SOPS_AGE_KEY_FILE=" + k2}, "updatekeys", "-y", file); err != nil {
		t.Fatalf("sops updatekeys: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(out, file)); !bytes.Equal(before, after) {
		t.Fatal("sops updatekeys changed the file: secretshift's rule and re-wrap disagree with sops")
	}
}
