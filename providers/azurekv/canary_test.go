package azurekv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/templates"
)

// TestCanary plants distinctive values, runs every operation including failing ones (too
// large, collisions, conflicts, soft delete, throttling that gives up, a lease taken), and
// checks that no value shows up in an error, a note, the hint, a log line, the pinned settings
// or the ESO manifests, in any common encoding.
func TestCanary(t *testing.T) {
	srv := startAKV(t, akv.Options{})
	sdk := sdkClient(t, srv)
	ctx := context.Background()
	canaries := [][]byte{
		[]byte("CANARY-akv-5d1f0e-password"),
		[]byte("CANARY-akv-9a77c2-token\n"),
		append([]byte("CANARY-akv-bin-"), 0xff, 0x00, 0xfe, 0x81),
	}
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, layout := range []string{LayoutPerKey, LayoutJSON} {
		srv.Reset()
		p := openAKV(t, srv, func(c *Config) { c.Layout = layout; c.MaxRetries = 1 })
		p.SetLogger(logger)
		secrets := []*kube.Secret{
			{Namespace: "canary", Name: "one", Data: kube.Data{"password": canaries[0], "token": canaries[1]}},
			{Namespace: "canary", Name: "two", Type: "kubernetes.io/basic-auth", Data: kube.Data{"password": canaries[2], "username": []byte("u")}},
		}
		var targets []providers.Target
		in := templates.Input{Reader: p, Provider: Name, Auth: providers.ExternalAuth{Method: ESOAuthManagedIdentity}}
		for _, s := range secrets {
			tg, v := write(t, p, s, "fp")
			targets = append(targets, tg)
			st, err := p.Read(ctx, tg)
			record(err)
			texts = append(texts, fmt.Sprintf("%+v", *st))
			_, err = p.Write(ctx, tg, payload(s, "fp", "r"), "")
			record(err)
			_, err = p.Write(ctx, tg, payload(s, "fp", "r"), v+"0")
			record(err)
			in.Items = append(in.Items, templates.Item{Namespace: s.Namespace, Name: s.Name, Type: s.Type, Refs: p.ExternalRefs(tg, providers.PayloadOf(s))})
			old, err := p.ReadVersion(ctx, tg, "1")
			record(err)
			if old != nil {
				texts = append(texts, fmt.Sprintf("%+v", *old))
			}
		}
		b, err := templates.Generate(in)
		record(err)
		if b != nil {
			for _, f := range b.Files {
				texts = append(texts, string(f))
			}
		}
		// Too large, colliding, and a conflict with foreign content.
		bad := &kube.Secret{Namespace: "canary", Name: "bad", Data: kube.Data{"big": bytes.Repeat(canaries[1], MaxValueBytes/10), "Password": canaries[0], "password": canaries[0]}}
		pl := payload(bad, "fp", "r")
		tg, _ := p.Target(pl.Ref)
		record(p.Check(tg, pl))
		_, err = p.Write(ctx, tg, pl, "")
		record(err)
		// A soft-deleted name, refused.
		name := memberName(targets[0].Address, "password")
		if _, err := sdk.DeleteSecret(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
		q := openAKV(t, srv, func(c *Config) { c.Layout = layout; c.MaxRetries = 1 })
		q.SetLogger(logger)
		one := payload(secrets[0], "fp", "r")
		record(q.Check(targets[0], one))
		_, err = q.Read(ctx, targets[0])
		record(err)
		_, err = q.Write(ctx, targets[0], one, "1")
		record(err)
		// A vault that keeps throttling.
		srv.Inject(http.StatusTooManyRequests, 50, 0)
		_, err = p.Write(ctx, targets[1], payload(secrets[1], "fp2", "r"), "1")
		record(err)
		_, err = p.Lease(ctx, targets[1], "run", time.Minute, func(string) bool { return false })
		record(err)
		srv.Reset()
		texts = append(texts, p.Notes()...)
		texts = append(texts, p.HintFor(targets[0].Address), p.Describe())
		for k, v := range p.Pin() {
			texts = append(texts, k, v)
		}
	}
	texts = append(texts, logs.String())
	all := strings.Join(texts, "\n")
	for _, c := range canaries {
		for _, enc := range []string{string(c), string(bytes.TrimSpace(c)), base64.StdEncoding.EncodeToString(c), base64.RawStdEncoding.EncodeToString(c), hex.EncodeToString(c), fmt.Sprintf("%q", c)} {
			if strings.Contains(all, enc) {
				t.Fatalf("a planted value appears in the output (%q)", enc)
			}
		}
	}
	if !strings.Contains(logs.String(), "azurekv: set secret") {
		t.Error("nothing was logged")
	}
}
