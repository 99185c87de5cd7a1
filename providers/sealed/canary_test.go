package sealed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// TestCanary plants distinctive values, runs every operation including failing ones, and
// checks that no value shows up in an error, a note, the hint, a log line, the kustomization,
// the readable parts of the files or the stream, in any common encoding.
func TestCanary(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	k := newTestKey(t, dir)
	ctx := context.Background()
	canaries := [][]byte{
		[]byte("CANARY-sealed-5d1f0e-password"),
		[]byte("CANARY-sealed-9a77c2-token\n"),
		append([]byte("CANARY-sealed-bin-"), 0xff, 0x00, 0xfe, 0x81),
	}
	secrets := []*kube.Secret{
		{Namespace: "canary", Name: "one", Data: kube.Data{"password": canaries[0], "token": canaries[1]}},
		{Namespace: "canary", Name: "two", Type: "kubernetes.io/basic-auth", Data: kube.Data{"password": canaries[2], "username": []byte("u")},
			Annotations: map[string]string{providers.LastAppliedAnnotation: `{"data":{"password":"` + base64.StdEncoding.EncodeToString(canaries[0]) + `"}}`}},
	}
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	var logs, stream bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := open(t, config(out, k, ScopeStrict, k.keyFile))
	p.SetLogger(logger)
	sc := config(Stdout, k, ScopeStrict)
	sc.UseStdout(&stream)
	ps := open(t, sc)
	for _, s := range secrets {
		tg, v := write(t, p, s, "")
		st, err := p.Read(ctx, tg)
		record(err)
		texts = append(texts, fmt.Sprintf("%+v", *st))
		_, err = p.Write(ctx, tg, payload(t, s), "")
		record(err)
		_, err = p.Write(ctx, tg, payload(t, s), v+"x")
		record(err)
		_, err = ps.Write(ctx, tg, payload(t, s), "")
		record(err)
	}
	bad := &kube.Secret{Namespace: "canary", Name: "bad", Data: kube.Data{"bad key": canaries[0], "big": bytes.Repeat(canaries[1], outdir.MaxSecretSize/20)}}
	tg, _ := p.Target(providers.PayloadOf(bad).Ref)
	record(p.Check(tg, payload(t, bad)))
	_, err := p.Write(ctx, tg, payload(t, bad), "")
	record(err)
	// A tampered file read with the private key: the error names keys, not values.
	tamper := filepath.Join(out, "canary", "one.yaml")
	b, _ := os.ReadFile(tamper)
	ss := readSealed(t, tamper)
	b = bytes.Replace(b, []byte(ss.Spec.EncryptedData["password"]), []byte(flip(ss.Spec.EncryptedData["password"])), 1)
	os.WriteFile(tamper, b, 0o600)
	st, err := p.Read(ctx, providers.Target{Provider: Name, Address: "canary/one.yaml"})
	record(err)
	texts = append(texts, st.Problem)
	record(p.Finish(ctx))
	texts = append(texts, p.Notes()...)
	texts = append(texts, p.HintFor("canary/one.yaml"), p.Describe(), logs.String(), stream.String())
	for k, v := range p.Pin() {
		texts = append(texts, k, v)
	}
	filepath.Walk(out, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(path)
			texts = append(texts, string(b))
		}
		return nil
	})
	all := strings.Join(texts, "\n")
	for _, c := range canaries {
		for _, enc := range []string{string(c), string(bytes.TrimSpace(c)), base64.StdEncoding.EncodeToString(c), base64.RawStdEncoding.EncodeToString(c), hex.EncodeToString(c), fmt.Sprintf("%q", c)} {
			if strings.Contains(all, enc) {
				t.Fatalf("a planted value appears in the output (%q)", enc)
			}
		}
	}
	if !strings.Contains(logs.String(), "sealed") {
		t.Error("nothing was logged")
	}
}
