package akv

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// clientOptions points azidentity at the server's token endpoint and trusts its certificate.
func clientOptions(s *Server, host string) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: host},
		Transport: s.HTTPClient(),
	}
}

// roundTrip writes and reads a secret through azsecrets with cred.
func roundTrip(t *testing.T, s *Server, cred azcore.TokenCredential) {
	t.Helper()
	c, err := azsecrets.NewClient(s.URL(), cred, s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.SetSecret(ctx, "via-entra", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "via-entra", "", nil); err != nil || *got.Value != "v" {
		t.Fatalf("get: %v", err)
	}
}

func TestClientSecretCredential(t *testing.T) {
	for _, host := range []string{"with slash", "without slash"} {
		t.Run(host, func(t *testing.T) {
			s := startServer(t, Options{})
			h := s.URL() + "/"
			if host == "without slash" {
				h = s.URL()
			}
			cred, err := azidentity.NewClientSecretCredential(s.Tenant(), s.ClientID(), s.ClientSecret(),
				&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s, h), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, s, cred)
			if c := s.Counts(); c.Tokens != 1 || c.Unauthorized != 1 {
				t.Errorf("counts %+v: want one token request and one challenge", c)
			}
		})
	}
}

func TestWorkloadIdentityCredential(t *testing.T) {
	s := startServer(t, Options{})
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(s.FederatedToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: clientOptions(s, s.URL()+"/"), ClientID: s.ClientID(), TenantID: s.Tenant(),
		TokenFilePath: file, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s, cred)
}

func TestTokenRefusals(t *testing.T) {
	s := startServer(t, Options{})
	ctx := context.Background()
	vault := policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}}

	t.Run("wrong client secret", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential(s.Tenant(), s.ClientID(), "not-the-secret-0123",
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s, s.URL()), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cred.GetToken(ctx, vault)
		if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") || strings.Contains(err.Error(), "not-the-secret-0123") {
			t.Errorf("error %v: want AADSTS7000215 without the secret", err)
		}
	})
	t.Run("wrong tenant", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential("00000000-0000-4000-8000-000000000000", s.ClientID(), s.ClientSecret(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s, s.URL()), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err = cred.GetToken(ctx, vault); err == nil || !strings.Contains(err.Error(), "AADSTS90002") {
			t.Errorf("error %v: want AADSTS90002", err)
		}
	})
	t.Run("token for another resource", func(t *testing.T) {
		cred, err := azidentity.NewClientSecretCredential(s.Tenant(), s.ClientID(), s.ClientSecret(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOptions(s, s.URL()), DisableInstanceDiscovery: true})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		r := do(t, s.HTTPClient(), s, http.MethodGet, "/secrets?api-version=7.6", "", tok.Token, nil)
		if body := readBody(t, r); r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "AKV10022: Invalid audience") {
			t.Errorf("%d %s", r.StatusCode, body)
		}
	})
}

// TestEnvForSubprocess runs this test binary again with only Env's variables, as the CLI runs,
// and has it authenticate through DefaultAzureCredential with the system trust store.
func TestEnvForSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a subprocess")
	}
	s := startServer(t, Options{})
	env, err := s.Env(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			base = append(base, kv)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubprocessClient$", "-test.v")
	cmd.Env = append(append(base, env...), "AKV_TEST_SUBPROCESS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("subprocess: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "--- PASS: TestSubprocessClient") {
		t.Fatalf("subprocess did not run the client:\n%s", out.String())
	}
	if c := s.Counts(); c.Tokens != 1 || c.AppliedWrites != 1 {
		for _, r := range s.Requests() {
			t.Logf("%s %s %d", r.Method, r.Path, r.Status)
		}
		t.Errorf("counts %+v: want one token request and one write", c)
	}
}

// TestSubprocessClient is the CLI's side of TestEnvForSubprocess: the settings a provider
// makes, and nothing else.
func TestSubprocessClient(t *testing.T) {
	if os.Getenv("AKV_TEST_SUBPROCESS") != "1" {
		t.Skip("run by TestEnvForSubprocess")
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient(os.Getenv("AZURE_KEYVAULT_URL"), cred,
		&azsecrets.ClientOptions{DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.SetSecret(ctx, "from-subprocess", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "from-subprocess", "", nil); err != nil || *got.Value != "v" {
		t.Fatalf("get: %v", err)
	}
}
