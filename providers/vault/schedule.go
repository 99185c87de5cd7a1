package vault

import (
	"fmt"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.ScheduledConfig = (*Config)(nil)

// Scheduled implements providers.ScheduledConfig. The Pod reaches Vault at the address given
// (--vault-addr, else $BAO_ADDR or $VAULT_ADDR here), with the mount and path template given,
// and signs in with Kubernetes auth (--vault-auth kubernetes --vault-role R: its
// ServiceAccount token is exchanged for a Vault token) or with a token or AppRole secret ID
// from the credentials Secret.
func (c *Config) Scheduled() (providers.Scheduled, error) {
	var s providers.Scheduled
	addr := c.Address
	if addr == "" && c.Getenv != nil {
		if addr = c.Getenv("BAO_ADDR"); addr == "" {
			addr = c.Getenv("VAULT_ADDR")
		}
	}
	if addr == "" {
		return s, fmt.Errorf("vault: the scheduled run needs Vault's address: --vault-addr or $VAULT_ADDR")
	}
	s.Env = map[string]string{"VAULT_ADDR": addr}
	if c.Namespace != "" {
		s.Env["VAULT_NAMESPACE"] = c.Namespace
	}
	if c.Mount != "secret" {
		s.Args = append(s.Args, "--vault-mount", c.Mount)
	}
	if c.PathTemplate != DefaultPathTemplate {
		s.Args = append(s.Args, "--vault-path", c.PathTemplate)
	}
	switch c.Auth {
	case AuthKubernetes:
		if c.Role == "" {
			return s, fmt.Errorf("vault: --vault-auth kubernetes needs --vault-role, the Vault role bound to the ServiceAccount")
		}
		s.Args = append(s.Args, "--vault-auth", AuthKubernetes, "--vault-role", c.Role)
		if c.AuthMount != "" {
			s.Args = append(s.Args, "--vault-auth-mount", c.AuthMount)
		}
		s.ServiceAccountToken = true
		mount := c.AuthMount
		if mount == "" {
			mount = AuthKubernetes
		}
		s.Notes = append(s.Notes, fmt.Sprintf("Vault: the role %q of auth/%s must be bound to the ServiceAccount and grant read, list and write on the paths the run writes", c.Role, mount))
	case AuthAppRole:
		if c.RoleID == "" {
			return s, fmt.Errorf("vault: --vault-auth approle needs --vault-role-id")
		}
		s.Args = append(s.Args, "--vault-auth", AuthAppRole, "--vault-role-id", c.RoleID)
		if c.AuthMount != "" {
			s.Args = append(s.Args, "--vault-auth-mount", c.AuthMount)
		}
		s.Notes = append(s.Notes, "Vault: the credentials Secret must hold VAULT_SECRET_ID")
	default:
		s.Notes = append(s.Notes, "Vault: the credentials Secret must hold VAULT_TOKEN")
	}
	return s, nil
}
