package vault

import (
	"fmt"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.CIConfig = (*Config)(nil)

// vaultAction is hashicorp/vault-action, pinned by commit.
const (
	vaultAction        = "hashicorp/vault-action@4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b"
	vaultActionVersion = "v3.4.0"
)

// CISignIn implements providers.CIConfig: with --vault-auth jwt-style settings for CI
// (--vault-role naming a role of Vault's JWT auth method, at --vault-auth-mount, default
// jwt), the job exchanges the CI system's OIDC token for a Vault token (VAULT_TOKEN), whose
// audience is Vault's address.
func (c *Config) CISignIn() (providers.CISignIn, bool, error) {
	var s providers.CISignIn
	if c.Role == "" {
		return s, false, nil
	}
	sched, err := c.Scheduled()
	if err != nil {
		return s, false, err
	}
	addr := sched.Env["VAULT_ADDR"]
	mount := c.AuthMount
	if mount == "" {
		mount = "jwt"
	}
	s.Env = sched.Env
	for i := 0; i < len(sched.Args); i += 2 { // the mount and path; the sign-in is the job's
		if f := sched.Args[i]; f == "--vault-mount" || f == "--vault-path" {
			s.Args = append(s.Args, f, sched.Args[i+1])
		}
	}
	with := map[string]string{"url": addr, "method": "jwt", "path": mount, "role": c.Role, "jwtGithubAudience": addr, "exportToken": "true"}
	if c.Namespace != "" {
		with["namespace"] = c.Namespace
	}
	s.GitHubSteps = []providers.CIStep{{Name: "Sign in to Vault with the job's OIDC token", Uses: vaultAction, Version: vaultActionVersion, With: with}}
	s.GitLabIDTokens = map[string]string{"VAULT_ID_TOKEN": addr}
	header := ""
	if c.Namespace != "" {
		header = `-H "X-Vault-Namespace: $VAULT_NAMESPACE" `
	}
	s.GitLabScript = []string{
		fmt.Sprintf(`VAULT_TOKEN="$(jq -n --arg role %q --arg jwt "$VAULT_ID_TOKEN" '{role: $role, jwt: $jwt}' | curl -fsS %s--data @- "$VAULT_ADDR/v1/auth/%s/login" | jq -er .auth.client_token)"`, c.Role, header, mount),
		"export VAULT_TOKEN",
	}
	return s, true, nil
}
