package akv

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// startProxy starts a Proxy for s and returns it with an HTTP client that uses it and trusts
// only the server's certificate, as a process started with Proxy.Env would.
func startProxy(t *testing.T, s *Server) (*Proxy, *http.Client) {
	t.Helper()
	p, err := s.StartProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	u, err := url.Parse(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(u)
	tr.TLSClientConfig = &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
	return p, &http.Client{Transport: tr}
}

// The real SDK, unconfigured but for its transport: azidentity signs in at the public cloud's
// authority and azsecrets talks to NAME.vault.azure.net, with its check that the challenge's
// resource covers the vault's host left on.
func TestProxyServesAzureHostNames(t *testing.T) {
	s := startServer(t, Options{})
	p, hc := startProxy(t, s)
	opts := azcore.ClientOptions{Transport: hc}
	cred, err := azidentity.NewClientSecretCredential(s.Tenant(), s.ClientID(), s.ClientSecret(),
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient("https://myvault."+VaultDomain, cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	v := "through the proxy"
	set, err := c.SetSecret(ctx, "proxied", azsecrets.SetSecretParameters{Value: &v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(*set.ID); !strings.HasPrefix(got, "https://myvault."+VaultDomain+"/secrets/proxied/") {
		t.Errorf("id %s: want the vault's own host", got)
	}
	if got, err := c.GetSecret(ctx, "proxied", "", nil); err != nil || *got.Value != v {
		t.Fatalf("get: %v", err)
	}
	served := p.Served()
	if served[LoginHost] == 0 || served["myvault."+VaultDomain] == 0 {
		t.Errorf("requests by host %v: want some to %s and to the vault", served, LoginHost)
	}
}

// ADAL's client credentials request, as go-autorest's adal sends it for External Secrets
// Operator: the v1 endpoint, a resource rather than a scope, api-version=1.0.
func TestProxyV1Token(t *testing.T) {
	s := startServer(t, Options{})
	_, hc := startProxy(t, s)
	post := func(form url.Values) (*http.Response, map[string]any) {
		t.Helper()
		resp, err := hc.PostForm("https://"+LoginHost+"/"+s.Tenant()+"/oauth2/token?api-version=1.0", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID()}, "client_secret": {s.ClientSecret()}, "resource": {vaultResource}}
	resp, body := post(form)
	if resp.StatusCode != http.StatusOK || body["token_type"] != "Bearer" || body["resource"] != vaultResource {
		t.Fatalf("%s: %v", resp.Status, body)
	}
	for _, k := range []string{"expires_in", "expires_on", "not_before"} {
		if _, ok := body[k].(string); !ok {
			t.Errorf("%s is %T, want a string as the v1 endpoint answers", k, body[k])
		}
	}
	tok, _ := body["access_token"].(string)
	if e := s.tokens.check(tok); e != nil {
		t.Errorf("the vault refuses the v1 token: %v", e)
	}

	form.Del("resource")
	if resp, body := post(form); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body["error_description"].(string), "'resource'") {
		t.Errorf("without resource: %s %v", resp.Status, body)
	}
	form.Set("resource", vaultResource)
	form.Set("client_secret", "wrong")
	if resp, _ := post(form); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong secret: %s", resp.Status)
	}
}

func TestProxyRefusesOtherHosts(t *testing.T) {
	s := startServer(t, Options{})
	p, hc := startProxy(t, s)
	for _, u := range []string{
		"https://example.com/",
		"https://vault.azure.net/",         // no vault name
		"https://a.b." + VaultDomain + "/", // two labels
		"https://" + LoginHost + ":8443/",  // another port
		"https://myvault.vault.azure.net.evil.example/",
	} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: %s through the proxy, want the CONNECT refused", u, resp.Status)
		}
	}
	// A plain HTTP request to the proxy (HTTP_PROXY) is refused too.
	u, _ := url.Parse(p.URL())
	plain := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
	if resp, err := plain.Get("http://" + LoginHost + "/"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("plain HTTP through the proxy: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	refused := p.Refused()
	for _, want := range []string{"example.com:443", "vault.azure.net:443", "a.b.vault.azure.net:443", LoginHost + ":8443",
		"myvault.vault.azure.net.evil.example:443", "GET http://" + LoginHost + "/"} {
		if !slices.Contains(refused, want) {
			t.Errorf("refused %q: %q missing", refused, want)
		}
	}
	if len(p.Served()) != 0 || len(s.Requests()) != 0 {
		t.Errorf("refused requests reached the server: %v", s.Requests())
	}
}
