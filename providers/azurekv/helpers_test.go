package azurekv

import (
	"bytes"
	"context"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv"
	"github.com/secretshift/secretshift/internal/testenv/akv"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// startAKV runs the local Key Vault server (internal/testenv/akv) for one test.
func startAKV(t *testing.T, opts akv.Options) *akv.Server {
	t.Helper()
	return testenv.NewAKV(t, opts).Server
}

// testConfig is the adapter's settings for srv: the server's token and a transport that trusts
// its certificate — but not its DisableChallengeResourceVerification, which the adapter must
// set itself for a loopback vault.
func testConfig(srv *akv.Server, mutate ...func(*Config)) *Config {
	c := NewConfig().(*Config)
	c.VaultURL = srv.URL()
	c.Getenv = func(string) string { return "" }
	c.clientOptions = &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: newTransport(srv.CertPool())}}
	c.credential = srv.Credential()
	c.MaxRetries = 3
	for _, m := range mutate {
		m(c)
	}
	return c
}

func openAKV(t *testing.T, srv *akv.Server, mutate ...func(*Config)) *Provider {
	t.Helper()
	p, err := testConfig(srv, mutate...).open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sdkClient is a plain azsecrets client for checks behind the adapter's back.
func sdkClient(t *testing.T, srv *akv.Server) *azsecrets.Client {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testSecret holds the shapes that need care: binary, dotfile and dotted keys, empty, Unicode,
// and a value just under Key Vault's 25 KB limit.
func testSecret() *kube.Secret {
	return &kube.Secret{
		Namespace: "shop", Name: "db", UID: "uid-1", Type: "kubernetes.io/basic-auth",
		Data: kube.Data{
			"username":     []byte("admin"),
			"password":     []byte("p@ss\n"),
			"tls.crt":      []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
			".dotfile":     []byte("x"),
			"empty":        {},
			"binary":       {0xff, 0x00, 0xfe, 0x80, 0x01},
			"utf8-unicode": []byte("grüße ✓"),
			"big_24k":      bytes.Repeat([]byte("0123456789abcdef"), 24*1024/16),
		},
	}
}

// payload is the engine's payload for s, with provenance.
func payload(s *kube.Secret, fingerprint, run string) providers.Payload {
	pl := providers.PayloadOf(s)
	pl.Fingerprint, pl.FingerprintKeyID, pl.RunID = fingerprint, "hmac-sha256:0123456789abcdef", run
	return pl
}

// write plans and writes s as the engine would: Target, Check, Read, Write.
func write(t *testing.T, p *Provider, s *kube.Secret, fingerprint string) (providers.Target, string) {
	t.Helper()
	ctx := context.Background()
	pl := payload(s, fingerprint, "run-1")
	tg, err := p.Target(pl.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(tg, pl); err != nil {
		t.Fatal(err)
	}
	expect := ""
	if st, err := p.Read(ctx, tg); err == nil {
		expect = st.Version
	}
	v, err := p.Write(ctx, tg, pl, expect)
	if err != nil {
		t.Fatal(err)
	}
	return tg, v
}

// versionCount is how many versions Key Vault keeps of name.
func versionCount(t *testing.T, c *azsecrets.Client, name string) int {
	t.Helper()
	n := 0
	pager := c.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list versions of %s: %v", name, err)
		}
		n += len(page.Value)
	}
	return n
}

// failingClient makes SetSecret fail for one name, once: a run cut short half-way.
type failingClient struct {
	secretsAPI
	name   string
	failed bool
}

func (f *failingClient) SetSecret(ctx context.Context, name string, p azsecrets.SetSecretParameters, o *azsecrets.SetSecretOptions) (azsecrets.SetSecretResponse, error) {
	if name == f.name && !f.failed {
		f.failed = true
		return azsecrets.SetSecretResponse{}, context.DeadlineExceeded
	}
	return f.secretsAPI.SetSecret(ctx, name, p, o)
}

func setParams(v string) azsecrets.SetSecretParameters {
	return azsecrets.SetSecretParameters{Value: &v}
}
