package azurekv

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// offline is an adapter without a vault: names, checks and manifests need none.
func offline(t *testing.T, layout, name string) *Provider {
	t.Helper()
	n, err := newNamer(layout, name)
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(nil, "https://kv-shop.vault.azure.net", n)
	p.eso = esoConfig{ClientID: "11111111-2222-3333-4444-555555555555", TenantID: "66666666-7777-8888-9999-000000000000", RoleScope: RoleScopeVault}
	return p
}

func TestNames(t *testing.T) {
	tests := []struct {
		name, layout, tmpl string
		ns, secret, key    string
		want               string
		err                string
	}{
		{"per-key default", LayoutPerKey, "", "shop", "db", "password", "shop--db--password", ""},
		{"dots and underscores", LayoutPerKey, "", "shop", "my.app", "tls_key.pem", "shop--my-app--tls-key-pem", ""},
		{"dotfile key", LayoutPerKey, "", "payments", "pull", ".dockerconfigjson", "payments--pull---dockerconfigjson", ""},
		{"case is folded", LayoutPerKey, "", "shop", "db", "API_Key", "shop--db--api-key", ""},
		{"json default", LayoutJSON, "", "shop", "db", "password", "shop--db", ""},
		{"custom with literal text", LayoutPerKey, "k8s/{{.Namespace}}.{{.Name}}/{{.Key}}", "shop", "db", "k", "k8s-shop-db-k", ""},
		{"per-key without .Key", LayoutPerKey, "{{.Namespace}}-{{.Name}}", "", "", "", "", "must use {{.Key}}"},
		{"json with .Key", LayoutJSON, "{{.Name}}-{{.Key}}", "", "", "", "", "must not use {{.Key}}"},
		{"unknown field", LayoutPerKey, "{{.Cluster}}-{{.Key}}", "", "", "", "", "Cluster"},
		{"unknown layout", "yaml", "", "", "", "", "", "unknown --azure-layout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := newNamer(tc.layout, tc.tmpl)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want an error saying %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := newProvider(nil, "https://x.vault.azure.net", n)
			tg, err := p.Target(providers.Ref{Namespace: tc.ns, Name: tc.secret})
			if err != nil {
				t.Fatal(err)
			}
			if got := memberName(tg.Address, tc.key); got != tc.want {
				t.Errorf("name %q, want %q (address %q)", got, tc.want, tg.Address)
			}
		})
	}
}

func TestPlanRejectsEveryCollisionAndInvalidName(t *testing.T) {
	p := offline(t, LayoutPerKey, "")
	check := func(ns, name string, data kube.Data) error {
		pl := providers.Payload{Ref: providers.Ref{Namespace: ns, Name: name}, Data: data}
		tg, err := p.Target(pl.Ref)
		if err != nil {
			return err
		}
		return p.Check(tg, pl)
	}
	v := []byte("v")
	// Fine on their own.
	if err := check("a", "b", kube.Data{"c--d": v, "x": v}); err != nil {
		t.Fatal(err)
	}
	// a/b key "c--d" and a/b--c key "d" are both a--b--c--d; a/b--c key "X" folds onto key "x"
	// of the same Secret; tls.crt and tls_crt are one name.
	err := check("a", "b--c", kube.Data{"d": v, "X": v, "x": v, "tls.crt": v, "tls_crt": v})
	if err == nil {
		t.Fatal("collisions passed Check")
	}
	for _, want := range []string{
		`a/b--c key "d": invalid name: key vault name "a--b--c--d" is also the name of a/b key "c--d"`,
		`key vault name "a--b--c--x"`,
		`key vault name "a--b--c--tls-crt"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if n := len(flatten(err)); n != 3 {
		t.Errorf("%d problems, want 3 (one per colliding pair):\n%v", n, err)
	}
	// Checking the same Secret again (apply after plan, in one process) is no collision.
	if err := check("a", "b", kube.Data{"c--d": v, "x": v}); err != nil {
		t.Errorf("the same Secret checked twice: %v", err)
	}
	// A name over 127 characters, and a Secret without keys.
	long := strings.Repeat("n", 120)
	if err := check("ns", long, kube.Data{"password": v}); !errors.Is(err, providers.ErrInvalidName) || !strings.Contains(err.Error(), "127") {
		t.Errorf("a 134-character name: %v", err)
	}
	if err := check("ns", "empty", kube.Data{}); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("no keys in the per-key layout: %v", err)
	}
}

func TestCheckLimits(t *testing.T) {
	tests := []struct {
		name   string
		layout string
		data   kube.Data
		prov   map[string]string
		err    error
		says   string
	}{
		{"25 KB of text fits", LayoutPerKey, kube.Data{"k": bytes.Repeat([]byte("a"), MaxValueBytes)}, nil, nil, ""},
		{"one byte more does not", LayoutPerKey, kube.Data{"k": bytes.Repeat([]byte("a"), MaxValueBytes+1)}, nil, providers.ErrTooLarge, `db key "k"`},
		{"20 KB of binary is 27 KB base64", LayoutPerKey, kube.Data{"k": bytes.Repeat([]byte{0xff}, 20*1024)}, nil, providers.ErrTooLarge, "base64"},
		{"json: the keys together", LayoutJSON, kube.Data{"a": bytes.Repeat([]byte("a"), 13*1024), "b": bytes.Repeat([]byte("b"), 13*1024)}, nil, providers.ErrTooLarge, "shop--db"},
		{"provenance fits", LayoutPerKey, kube.Data{"k": []byte("v")}, map[string]string{"job": "rotate", "ticket": "T-1"}, nil, ""},
		{"too many tags", LayoutPerKey, kube.Data{"k": []byte("v")}, map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}, providers.ErrTooLarge, "tags"},
		{"provenance over own tags", LayoutPerKey, kube.Data{"k": []byte("v")}, map[string]string{"fingerprint": "x"}, providers.ErrInvalidName, "provenance"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := offline(t, tc.layout, "")
			pl := providers.Payload{Ref: providers.Ref{Namespace: "shop", Name: "db", UID: "u", Cluster: "https://k8s:6443"}, Data: tc.data, Provenance: tc.prov,
				Fingerprint: "hmac-sha256:x", FingerprintKeyID: "hmac-sha256:y", RunID: "r"}
			tg, _ := p.Target(pl.Ref)
			err := p.Check(tg, pl)
			if tc.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.err, tc.says)
			}
		})
	}
}

func TestVaultURLAndAuthority(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		loopback bool
		bad      bool
	}{
		{"https://kv-shop.vault.azure.net", "https://kv-shop.vault.azure.net", false, false},
		{"https://KV-Shop.vault.azure.net/", "https://kv-shop.vault.azure.net", false, false},
		{"https://127.0.0.1:8443", "https://127.0.0.1:8443", true, false},
		{"https://localhost:8443/", "https://localhost:8443", true, false},
		{"https://[::1]:8443", "https://[::1]:8443", true, false},
		{"http://kv.vault.azure.net", "", false, true},
		{"https://kv.vault.azure.net/secrets/x", "", false, true},
		{"", "", false, true},
	} {
		got, loopback, err := parseVaultURL(tc.in)
		if tc.bad != (err != nil) || got != tc.want || loopback != tc.loopback {
			t.Errorf("parseVaultURL(%q) = %q, %v, %v", tc.in, got, loopback, err)
		}
	}
	for host, want := range map[string]bool{
		"https://login.microsoftonline.com/": true, "login.chinacloudapi.cn": true, "https://login.microsoftonline.us": true,
		"https://127.0.0.1:8443/": false, "https://adfs.contoso.com/adfs/": false,
	} {
		if publicAuthority(host) != want {
			t.Errorf("publicAuthority(%q) = %v", host, !want)
		}
	}
	if _, err := parseWriteRate("300/10s"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"fast", "-1", "10/s", "10/0s"} {
		if _, err := parseWriteRate(bad); err == nil {
			t.Errorf("--azure-write-rate %q accepted", bad)
		}
	}
}

// flatten splits an errors.Join result into its parts.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func TestActorIdentityFromTokenClaims(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	app := enc(`{"alg":"none"}`) + "." + enc(`{"oid":"o-1","appid":"a-1","tid":"t-1","idtyp":"app"}`) + ".sig"
	if got := claimsOf(app); got["display_name"] != "a-1" || got["object_id"] != "o-1" || got["tenant_id"] != "t-1" {
		t.Errorf("application token: %v", got)
	}
	user := enc(`{}`) + "." + enc(`{"oid":"o-2","upn":"ana@contoso.com","azp":"cli"}`) + "."
	if got := claimsOf(user); got["display_name"] != "ana@contoso.com" || got["app_id"] != "cli" {
		t.Errorf("user token: %v", got)
	}
	if got := claimsOf("akv-test-static.opaque"); got != nil {
		t.Errorf("an opaque token: %v", got)
	}
}
