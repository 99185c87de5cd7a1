package sealed

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/recordertest"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/rotate"
	"github.com/secretshift/secretshift/rotate/generate"
)

// A SealedSecret is rotated with the controller's private key at hand (the current values are
// needed to keep the other keys): re-sealed with the new value, the other keys, labels and
// type kept. Without the key the rotation refuses, and the file is untouched.
func TestRotateSealedSecret(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, dir)
	out := filepath.Join(dir, "out")
	s := &kube.Secret{Namespace: "shop", Name: "db", Type: "kubernetes.io/basic-auth", Labels: map[string]string{"app": "db"},
		Data: kube.Data{"username": []byte("svc"), "password": []byte("old"), "blob": {0xff, 0x00}}}
	w := open(t, config(out, k, ScopeStrict))
	write(t, w, s, "")
	w.Close()

	fp, _ := audit.NewFingerprinter(fpKey)
	spec, _ := generate.ParseSpec("password:length=30")
	g, err := generate.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	e := rotate.Entry{Target: providers.Target{Provider: Name, Address: "shop/db.yaml"}, Keys: []rotate.Key{{Name: "password", Spec: spec, Generator: g}}}
	run := func(p *Provider) *rotate.ItemReport {
		rep, err := rotate.Run(context.Background(), []rotate.Entry{e}, rotate.Options{Provider: p, Fingerprinter: fp, Recorder: &recordertest.Log{}, JournalDir: t.TempDir(), RunID: "r"})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Items[0]
	}
	before := readSealed(t, filepath.Join(out, "shop", "db.yaml"))
	if it := run(open(t, config(out, k, ScopeStrict))); it.Result != rotate.ResultFailed {
		t.Fatalf("without the private key: %+v", it)
	}
	if after := readSealed(t, filepath.Join(out, "shop", "db.yaml")); after.Spec.EncryptedData["password"] != before.Spec.EncryptedData["password"] {
		t.Fatal("a refused rotation changed the file")
	}
	p := open(t, config(out, k, ScopeStrict, k.keyFile))
	if it := run(p); it.Result != rotate.ResultRotated {
		t.Fatalf("with the private key: %+v", it)
	}
	st, err := p.Read(context.Background(), e.Target)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Data["password"]) != 30 || !bytes.Equal(st.Data["blob"], s.Data["blob"]) || string(st.Data["username"]) != "svc" ||
		st.Type != "kubernetes.io/basic-auth" || st.Labels["app"] != "db" {
		t.Errorf("after rotation: %d-byte password, type %s, labels %v", len(st.Data["password"]), st.Type, st.Labels)
	}
}
