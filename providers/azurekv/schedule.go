package azurekv

import (
	"errors"

	"github.com/secretshift/secretshift/providers"
)

var _ providers.ScheduledConfig = (*Config)(nil)

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
