package sops

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getsops/sops/v3/logging"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// TestCanary plants distinctive values, runs every operation including failing ones, and checks
// that no value shows up in an error, a note, the hint, .sops.yaml or the readable parts of the
// files, in any common encoding.
func TestCanary(t *testing.T) {
	isolateIdentities(t)
	dir := t.TempDir()
	key, rcpt := newKey(t, dir)
	out := filepath.Join(dir, "out")
	ctx := context.Background()

	canaries := [][]byte{
		[]byte("CANARY-sops-5d1f0e-password"),
		[]byte("CANARY-sops-9a77c2-token\n"),
		append([]byte("CANARY-sops-bin-"), 0xff, 0x00, 0xfe, 0x81),
	}
	secrets := []*kube.Secret{
		{Namespace: "canary", Name: "one", Type: "Opaque", Data: kube.Data{"password": canaries[0], "token": canaries[1]}},
		{Namespace: "canary", Name: "two", Type: "kubernetes.io/basic-auth", Data: kube.Data{"password": canaries[2], "username": []byte("u")},
			Annotations: map[string]string{providers.LastAppliedAnnotation: `{"data":{"password":"` + base64.StdEncoding.EncodeToString(canaries[0]) + `"}}`}},
	}
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: key})
	p.SetLogger(logger)
	for _, s := range secrets {
		tg, v := write(t, p, s)
		st, err := p.Read(ctx, tg)
		record(err)
		texts = append(texts, fmt.Sprintf("%v %+v", st, st))
		_, err = p.Write(ctx, tg, payload(t, s), "")
		record(err)
		_, err = p.Write(ctx, tg, payload(t, s), v+"x")
		record(err)
	}
	// Failing checks.
	bad := &kube.Secret{Namespace: "canary", Name: "bad", Data: kube.Data{"bad key": canaries[0], "big": bytes.Repeat(canaries[1], outdir.MaxSecretSize/20)}}
	tg, _ := p.Target(refOf(bad))
	record(p.Check(tg, providers.PayloadOf(bad)))
	_, err := p.Write(ctx, tg, payload(t, bad), "")
	record(err)

	// A hand edit that puts a value in plain text where ciphertext was, and one that breaks the MAC.
	edited := &kube.Secret{Namespace: "canary", Name: "edited", Data: kube.Data{"password": canaries[0]}}
	etg, ev := write(t, p, edited)
	epath := filepath.Join(out, "canary", "edited.yaml")
	b, _ := os.ReadFile(epath)
	os.WriteFile(epath, []byte(replaceLine(string(b), "    password: ", "    password: "+string(canaries[0]))), 0o600)
	st, err := p.Read(ctx, etg)
	record(err)
	texts = append(texts, fmt.Sprintf("%v %+v", st, st))
	_, err = p.Write(ctx, etg, payload(t, edited), ev)
	record(err)
	os.WriteFile(epath, []byte(replaceLine(string(b), "    mac: ", "    mac: "+string(canaries[0]))), 0o600)
	st, err = p.Read(ctx, etg)
	record(err)
	texts = append(texts, fmt.Sprintf("%v %+v", st, st))
	for k, v := range p.Pin() {
		texts = append(texts, k+"="+v)
	}
	p.Close()

	// New recipients under --sops-update-keys without an identity of the old ones: the re-wrap
	// fails, naming the file and its recipients only.
	_, newRcpt := newKey(t, dir)
	rewrap := open(t, &Config{Out: out, AgeRecipients: []string{newRcpt}, AgeKeyFile: filepath.Join(dir, "none.key"), UpdateKeys: true})
	rewrap.SetLogger(logger)
	for _, s := range secrets {
		tg, _ := rewrap.Target(refOf(s))
		st, err := rewrap.Read(ctx, tg)
		record(err)
		texts = append(texts, fmt.Sprintf("%v %+v", st, st))
		if st != nil {
			_, err = rewrap.Write(ctx, tg, payload(t, s), st.Version)
			record(err)
		}
	}
	texts = append(texts, rewrap.Notes()...)
	rewrap.Close()

	// A reader without identity.
	blind := open(t, &Config{Out: out, AgeRecipients: []string{rcpt}, AgeKeyFile: filepath.Join(dir, "none.key")})
	for _, s := range secrets {
		tg, _ := blind.Target(refOf(s))
		st, err := blind.Read(ctx, tg)
		record(err)
		texts = append(texts, fmt.Sprintf("%v %+v", st, st))
	}

	texts = append(texts, p.Notes()...)
	texts = append(texts, blind.Notes()...)
	texts = append(texts, p.Hint(), blind.Hint(), logs.String())
	err = filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == epath {
			return err
		}
		b, err := os.ReadFile(path)
		texts = append(texts, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range canaries {
		forms := map[string]string{
			"raw":        string(c),
			"trimmed":    strings.TrimSpace(string(c)),
			"base64":     base64.StdEncoding.EncodeToString(c),
			"hex":        hex.EncodeToString(c),
			"go-quoted":  fmt.Sprintf("%q", c)[1 : len(fmt.Sprintf("%q", c))-1],
			"byte-slice": fmt.Sprintf("%v", c),
		}
		for form, needle := range forms {
			for i, text := range texts {
				if strings.Contains(text, needle) {
					t.Errorf("canary (%s form) found in output %d", form, i)
				}
			}
		}
	}
	if len(texts) < 15 {
		t.Fatalf("only %d outputs checked", len(texts))
	}

	// The sops library's own logs are switched off: some of them quote file content.
	for name, l := range logging.Loggers {
		if l.Out != io.Discard {
			t.Errorf("sops logger %s still writes to %T", name, l.Out)
		}
	}
}
