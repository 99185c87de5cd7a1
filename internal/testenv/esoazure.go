package testenv

import (
	"fmt"

	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// ESO's azurekv provider (v0.16.2) cannot be given another Azure: it signs in with go-autorest's
// adal at the authority its store's environmentType names (https://login.microsoftonline.com
// for PublicCloud, AadEndpointForType in pkg/provider/azure/keyvault/keyvault.go) and ignores
// AZURE_AUTHORITY_HOST. Its HTTP clients (adal's and autorest's senders) do take their proxy
// from the environment and trust the system roots, so the shared controller is started with
// HTTPS_PROXY set to an akv.Proxy for the shared Key Vault test server and SSL_CERT_FILE set to
// that server's certificate: its Azure traffic, and only that, ends in this process, where the
// server answers as login.microsoftonline.com and as every NAME.vault.azure.net. A store reaches
// it with vaultUrl https://NAME.vault.azure.net, tenantId the server's tenant, and (for
// ServicePrincipal) the server's client id and secret.
//
// The controller also gets AZURE_TENANT_ID, the server's tenant, as the Azure Workload Identity
// webhook sets it in a pod that uses workload identity: ESO's WorkloadIdentity falls back to it
// when neither the store nor its ServiceAccount names a tenant.

// startESOAzure returns the shared Key Vault test server, starting it if need be, with a new
// proxy to it and the environment that sends a subprocess's Azure traffic there, the
// certificate written into dir.
func startESOAzure(dir string) (*AKV, *akv.Proxy, []string, error) {
	a, err := sharedAKV()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start key vault test server: %w", err)
	}
	p, err := a.Server.StartProxy()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start key vault test proxy: %w", err)
	}
	env, err := p.Env(dir)
	if err != nil {
		_ = p.Close()
		return nil, nil, nil, err
	}
	return a, p, append(env, "AZURE_TENANT_ID="+a.Server.Tenant()), nil
}
