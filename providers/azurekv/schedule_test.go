package azurekv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A scheduled run reaches the vault at its URL with the run's layout; without a URL it is refused.
func TestScheduled(t *testing.T) {
	c := NewConfig().(*Config)
	c.Getenv = func(string) string { return "" }
	if _, err := c.Scheduled(); err == nil || !strings.Contains(err.Error(), "--azure-vault-url") {
		t.Fatalf("no URL: %v", err)
	}
	c.VaultURL, c.Layout = "https://shop.vault.azure.net", LayoutJSON
	s, err := c.Scheduled()
	if err != nil || s.Env[EnvVaultURL] != c.VaultURL || strings.Join(s.Args, " ") != "--azure-layout json" {
		t.Fatalf("%+v, %v", s, err)
	}
}

// The CI sign-in: none without ids, refused with one or a malformed one, and with both the
// pinned azure/login step on GitHub and the federated token file on GitLab.
func TestCISignIn(t *testing.T) {
	const client, tenant = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	tests := []struct {
		name             string
		clientID, tenant string
		ok               bool
		err              string
	}{
		{name: "no ids: credentials from CI secrets"},
		{name: "client id alone", clientID: client, err: "needs both --azure-ci-client-id and --azure-ci-tenant-id"},
		{name: "tenant id alone", tenant: tenant, err: "needs both"},
		{name: "not an id", clientID: client, tenant: "contoso; rm -rf /", err: `--azure-ci-tenant-id "contoso; rm -rf /": want an Entra id`},
		{name: "both", clientID: client, tenant: tenant, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig().(*Config)
			c.VaultURL, c.Layout = "https://shop.vault.azure.net", LayoutJSON
			c.CI = ciIdentity{ClientID: tt.clientID, TenantID: tt.tenant}
			s, ok, err := c.CISignIn()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || ok != tt.ok {
				t.Fatalf("ok %v, err %v; want ok %v", ok, err, tt.ok)
			}
			if !ok {
				return
			}
			if s.Env[EnvVaultURL] != c.VaultURL || s.Env[envClientID] != client || s.Env[envTenantID] != tenant {
				t.Errorf("env: %v", s.Env)
			}
			if strings.Join(s.Args, " ") != "--azure-layout json" {
				t.Errorf("args: %q", s.Args)
			}
			if len(s.GitHubSteps) != 2 {
				t.Fatalf("GitHub steps: %+v", s.GitHubSteps)
			}
			login := s.GitHubSteps[0]
			if login.Uses != "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca" || login.Version != "v3.0.1" {
				t.Errorf("azure/login not pinned: %s %s", login.Uses, login.Version)
			}
			if login.With["client-id"] != client || login.With["tenant-id"] != tenant || login.With["allow-no-subscriptions"] != "true" {
				t.Errorf("azure/login inputs: %v", login.With)
			}
			if run := s.GitHubSteps[1].Run; !strings.Contains(run, "AZURE_TOKEN_CREDENTIALS=AzureCLICredential") || !strings.Contains(run, "$GITHUB_ENV") {
				t.Errorf("GitHub credential choice: %s", run)
			}
			if s.GitLabIDTokens["AZURE_ID_TOKEN"] != "api://AzureADTokenExchange" {
				t.Errorf("GitLab id_tokens: %v", s.GitLabIDTokens)
			}
			script := strings.Join(s.GitLabScript, "\n")
			for _, want := range []string{`> "$AZURE_FEDERATED_TOKEN_FILE"`, "export AZURE_FEDERATED_TOKEN_FILE AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential"} {
				if !strings.Contains(script, want) {
					t.Errorf("GitLab script lacks %q:\n%s", want, script)
				}
			}
		})
	}
}

// The GitLab lines work in a POSIX shell: the token lands in the file the variable names, and
// the credential choice is exported.
func TestCISignInGitLabScriptRuns(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	c := NewConfig().(*Config)
	c.VaultURL = "https://shop.vault.azure.net"
	c.CI = ciIdentity{ClientID: "11111111-2222-3333-4444-555555555555", TenantID: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}
	s, _, err := c.CISignIn()
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join(s.GitLabScript, "\n") + "\n" + `printf '%s|%s' "$AZURE_TOKEN_CREDENTIALS" "$(cat "$AZURE_FEDERATED_TOKEN_FILE")"; rm -f "$AZURE_FEDERATED_TOKEN_FILE"`
	cmd := exec.Command(sh, "-eu", "-c", script)
	cmd.Env = append(os.Environ(), "AZURE_ID_TOKEN=header.payload.signature", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "WorkloadIdentityCredential|header.payload.signature" {
		t.Fatalf("%v: %q", err, out)
	}
}
