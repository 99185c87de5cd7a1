package azurekv

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/providers"
)

var (
	_ providers.ScheduledConfig = (*Config)(nil)
	_ providers.CIConfig        = (*Config)(nil)
)

// Scheduled implements providers.ScheduledConfig: the Pod reaches the vault at its URL and
// signs in as azidentity finds it there (workload identity, or AZURE_* from the credentials
// Secret).
func (c *Config) Scheduled() (providers.Scheduled, error) {
	url := c.VaultURL
	if url == "" && c.Getenv != nil {
		url = c.Getenv(EnvVaultURL)
	}
	if url == "" {
		return providers.Scheduled{}, errors.New("azurekv: the scheduled run needs the vault's URL: --azure-vault-url or $" + EnvVaultURL)
	}
	s := providers.Scheduled{Env: map[string]string{EnvVaultURL: url}}
	if c.Layout != LayoutPerKey {
		s.Args = append(s.Args, "--azure-layout", c.Layout)
	}
	if c.NameTemplate != "" {
		s.Args = append(s.Args, "--azure-name", c.NameTemplate)
	}
	if c.WriteRate != DefaultWriteRate {
		s.Args = append(s.Args, "--azure-write-rate", c.WriteRate)
	}
	s.Notes = []string{"Azure: for workload identity, federate the ServiceAccount with the identity, give it \"Key Vault Secrets Officer\" on the vault, and pass --service-account-annotation azure.workload.identity/client-id=<client-id> --pod-label azure.workload.identity/use=true"}
	return s, nil
}

// azureLoginAction is azure/login, pinned by commit (the commit the tag v3.0.1 points to).
const (
	azureLoginAction        = "azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca"
	azureLoginActionVersion = "v3.0.1"
)

// What a CI job's sign-in sets for azidentity. AZURE_TOKEN_CREDENTIALS narrows
// DefaultAzureCredential to one credential, so a job never waits on a managed identity probe
// or picks up another sign-in than the one it made.
const (
	envTokenCredentials   = "AZURE_TOKEN_CREDENTIALS"
	envClientID           = "AZURE_CLIENT_ID"
	envTenantID           = "AZURE_TENANT_ID"
	envFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	// federatedAudience is the audience Entra ID accepts in a federated credential's token.
	federatedAudience = "api://AzureADTokenExchange"
)

// ciIdentity is the Entra identity (an app registration or a user-assigned managed identity)
// a CI job signs in as with the CI system's OIDC token, through a federated credential.
type ciIdentity struct {
	ClientID string
	TenantID string
}

func (c *ciIdentity) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ClientID, "azure-ci-client-id", "", "generate ci: client id of the Entra identity the job signs in as with the CI system's OIDC token (a federated credential trusts the repository); with --azure-ci-tenant-id")
	fs.StringVar(&c.TenantID, "azure-ci-tenant-id", "", "generate ci: tenant id of that identity")
}

// entraID is the form of Entra client and tenant ids; checked because the values are written
// into workflow files and shell lines.
var entraID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// CISignIn implements providers.CIConfig: with --azure-ci-client-id and --azure-ci-tenant-id
// the job exchanges the CI system's OIDC token (audience api://AzureADTokenExchange) for Entra
// ID tokens, so no client secret is kept in CI.
//
// GitHub: azure/login signs the Azure CLI in, and AZURE_TOKEN_CREDENTIALS=AzureCLICredential
// makes DefaultAzureCredential ask the CLI for Key Vault tokens (az is on GitHub's hosted
// runners). GitLab: the job's id_token is written to a file named by
// AZURE_FEDERATED_TOKEN_FILE, and AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential makes
// DefaultAzureCredential exchange it, with AZURE_CLIENT_ID and AZURE_TENANT_ID. Either way the
// CI token is exchanged when secretshift asks for its first Key Vault token, seconds after the
// sign-in; GitHub's OIDC tokens expire after five minutes, and the Entra token they buy lasts
// an hour or more, longer than the job may run.
func (c *Config) CISignIn() (providers.CISignIn, bool, error) {
	var s providers.CISignIn
	id := c.CI
	if id.ClientID == "" && id.TenantID == "" {
		return s, false, nil
	}
	if id.ClientID == "" || id.TenantID == "" {
		return s, false, errors.New("azurekv: the CI job's OIDC sign-in needs both --azure-ci-client-id and --azure-ci-tenant-id")
	}
	for flag, v := range map[string]string{"--azure-ci-client-id": id.ClientID, "--azure-ci-tenant-id": id.TenantID} {
		if !entraID.MatchString(v) {
			return s, false, fmt.Errorf("azurekv: %s %q: want an Entra id, such as 00000000-0000-0000-0000-000000000000", flag, v)
		}
	}
	sched, err := c.Scheduled()
	if err != nil {
		return s, false, err
	}
	s.Env = sched.Env
	s.Env[envClientID] = id.ClientID
	s.Env[envTenantID] = id.TenantID
	s.Args = sched.Args
	s.GitHubSteps = []providers.CIStep{
		{Name: "Sign in to Azure with the job's OIDC token", Uses: azureLoginAction, Version: azureLoginActionVersion,
			With: map[string]string{"client-id": id.ClientID, "tenant-id": id.TenantID, "allow-no-subscriptions": "true"}},
		{Name: "Let secretshift use the Azure CLI's sign-in", Run: `echo "` + envTokenCredentials + `=AzureCLICredential" >> "$GITHUB_ENV"`},
	}
	s.GitLabIDTokens = map[string]string{"AZURE_ID_TOKEN": federatedAudience}
	s.GitLabScript = []string{
		envFederatedTokenFile + `="$(mktemp)"`,
		`printf '%s' "$AZURE_ID_TOKEN" > "$` + envFederatedTokenFile + `"`,
		"export " + envFederatedTokenFile + " " + envTokenCredentials + "=WorkloadIdentityCredential",
	}
	return s, true, nil
}
