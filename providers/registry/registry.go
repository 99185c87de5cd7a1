// Package registry is the table of provider adapters. Adding a store means one adapter folder
// under providers/ and one row here; nothing in migrate or the commands changes.
package registry

import (
	"fmt"
	"strings"

	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/azurekv"
	"github.com/secretshift/secretshift/providers/kubernetes"
	"github.com/secretshift/secretshift/providers/sealed"
	"github.com/secretshift/secretshift/providers/sops"
	"github.com/secretshift/secretshift/providers/vault"
)

// Providers lists every adapter, in the order help output shows them.
var Providers = []providers.Entry{
	{Name: vault.Name, Summary: "HashiCorp Vault KV v2 (OpenBao too); ESO reads it back", NewConfig: vault.NewConfig},
	{Name: azurekv.Name, Summary: "Azure Key Vault secrets, one per key or one JSON per Secret; ESO reads them back", NewConfig: azurekv.NewConfig},
	{Name: sops.Name, Summary: "SOPS-encrypted Secret manifests in a Git-ready folder (age, PGP, Vault Transit, Azure Key Vault keys)", NewConfig: func() providers.Config { return sops.NewConfig() }},
	{Name: kubernetes.Name, Summary: "plain Secrets in the cluster the command points at (what rotation works on before a migration)", NewConfig: func() providers.Config { return kubernetes.NewConfig() }},
	{Name: sealed.Name, Summary: "Bitnami SealedSecret manifests sealed for the cluster's sealed-secrets controller", NewConfig: func() providers.Config { return sealed.NewConfig() }},
}

// Lookup returns the entry called name.
func Lookup(name string) (providers.Entry, error) {
	for _, e := range Providers {
		if e.Name == name {
			return e, nil
		}
	}
	return providers.Entry{}, fmt.Errorf("unknown provider %q: use one of %s", name, strings.Join(Names(), ", "))
}

// Names returns the registered provider names.
func Names() []string {
	out := make([]string, len(Providers))
	for i, e := range Providers {
		out[i] = e.Name
	}
	return out
}
