package azurekv

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/providers"
)

// ESO auth methods for Key Vault (--eso-auth); ESO's own names (WorkloadIdentity, ...) work too.
const (
	ESOAuthWorkloadIdentity = "workload-identity"
	ESOAuthServicePrincipal = "service-principal"
	ESOAuthManagedIdentity  = "managed-identity"
)

// Scopes of the generated role assignments (--azure-eso-role-scope).
const (
	RoleScopeVault  = "vault"
	RoleScopeSecret = "secret"
)

// ReaderRole is the built-in role ESO's identity gets: it reads secret values and nothing else.
const ReaderRole = "Key Vault Secrets User"

// Annotations of a ServiceAccount federated with a Microsoft Entra identity.
const (
	AnnotationClientID = "azure.workload.identity/client-id"
	AnnotationTenantID = "azure.workload.identity/tenant-id"
)

// esoConfig is how External Secrets Operator reaches the vault, from the --azure-eso-* flags.
type esoConfig struct {
	// VaultURL is the vault's URL as ESO reaches it, if not the one secretshift uses.
	VaultURL string
	// ClientID is the client id of the identity ESO signs in as (workload identity: the
	// ServiceAccount's annotation; managed identity: identityId).
	ClientID string
	// TenantID is the identity's tenant.
	TenantID string
	// SPSecret is [namespace/]name of a Secret holding ClientID and ClientSecret.
	SPSecret string
	// RoleScope is RoleScopeVault or RoleScopeSecret.
	RoleScope string
}

func (c *esoConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.VaultURL, "azure-eso-vault-url", c.VaultURL, "with --manifests: Key Vault URL as External Secrets Operator reaches it, if different from --azure-vault-url")
	fs.StringVar(&c.ClientID, "azure-eso-client-id", c.ClientID, "with --manifests: client id of the Entra identity ESO signs in as (needed for --eso-auth workload-identity, the default)")
	fs.StringVar(&c.TenantID, "azure-eso-tenant-id", c.TenantID, "with --manifests: tenant of that identity (needed for --eso-auth service-principal)")
	fs.StringVar(&c.SPSecret, "azure-eso-sp-secret", c.SPSecret, "with --manifests --eso-auth service-principal: [namespace/]name of the Secret holding ClientID and ClientSecret")
	fs.StringVar(&c.RoleScope, "azure-eso-role-scope", c.RoleScope, "with --manifests: scope of the generated \"Key Vault Secrets User\" role assignments: vault, or secret (one per migrated secret)")
}

// ExternalFlags implements providers.ExternalConfig.
func (c *Config) ExternalFlags(fs *pflag.FlagSet) { c.ESO.flags(fs) }

// ExternalRefs implements providers.ExternalReader. In the per-key layout each key is its own
// secret; in the json layout each key is a property of the one secret (ESO looks a property up
// as a plain key when gjson finds no path, so "tls.crt" resolves as itself). Values stored
// base64 are decoded by ESO.
func (p *Provider) ExternalRefs(t providers.Target, pl providers.Payload) []providers.ExternalRef {
	layout := layoutOf(t.Address)
	encoded := encodedKeys(pl.Data, layout)
	refs := make([]providers.ExternalRef, 0, len(pl.Data))
	for _, k := range pl.Data.Keys() {
		name := memberName(t.Address, k)
		r := providers.ExternalRef{SecretKey: k, Key: name, Paths: []string{name}}
		if layout == LayoutJSON {
			r.Property = k
		}
		if encoded(k) {
			r.Decoding = "Base64"
		}
		refs = append(refs, r)
	}
	return refs
}

func esoMethod(m string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(m, "-", "")) {
	case "", "workloadidentity":
		return ESOAuthWorkloadIdentity, nil
	case "serviceprincipal":
		return ESOAuthServicePrincipal, nil
	case "managedidentity":
		return ESOAuthManagedIdentity, nil
	}
	return "", fmt.Errorf("unknown ESO auth method %q for azurekv: use %s, %s or %s", m, ESOAuthWorkloadIdentity, ESOAuthServicePrincipal, ESOAuthManagedIdentity)
}

// ExternalStores implements providers.ExternalReader: ESO's azurekv provider block per store,
// the ServiceAccount(s) workload identity signs in with, and azurekv/role-assignments.sh,
// which grants ESO's identity "Key Vault Secrets User" on the vault (or on exactly the migrated
// secrets) and, for workload identity, federates the ServiceAccount(s) with it.
func (p *Provider) ExternalStores(req providers.StoreRequest) (*providers.StoreSet, error) {
	method, err := esoMethod(req.Auth.Method)
	if err != nil {
		return nil, err
	}
	var spRef *secretRef
	switch method {
	case ESOAuthWorkloadIdentity:
		if p.eso.ClientID == "" {
			return nil, errors.New("azurekv workload identity needs the client id of the Entra identity ESO signs in as: --azure-eso-client-id")
		}
		if req.Auth.ServiceAccount == "" || req.Cluster && req.Auth.ServiceAccountNamespace == "" {
			return nil, errors.New("azurekv workload identity needs the ServiceAccount ESO signs in with (and its namespace for a ClusterSecretStore)")
		}
	case ESOAuthServicePrincipal:
		ref, err := parseSecretRef(p.eso.SPSecret)
		if err != nil {
			return nil, err
		}
		if req.Cluster && ref.Namespace == "" {
			return nil, errors.New("a ClusterSecretStore with service-principal auth needs the credentials Secret's namespace: --azure-eso-sp-secret namespace/name")
		}
		if p.eso.TenantID == "" {
			return nil, errors.New("azurekv service-principal auth needs the tenant: --azure-eso-tenant-id")
		}
		spRef = &ref
	}
	if p.eso.RoleScope != "" && p.eso.RoleScope != RoleScopeVault && p.eso.RoleScope != RoleScopeSecret {
		return nil, fmt.Errorf("--azure-eso-role-scope %q: use %s or %s", p.eso.RoleScope, RoleScopeVault, RoleScopeSecret)
	}
	namespaces := sortedNames(req.Refs)
	set := &providers.StoreSet{Providers: map[string]map[string]any{}, Files: map[string][]byte{}}
	var subjects []providers.ServiceAccount
	if req.Cluster {
		set.Providers[""] = map[string]any{"azurekv": p.esoProvider("", method, req.Auth, spRef)}
		if method == ESOAuthWorkloadIdentity {
			subjects = append(subjects, p.serviceAccount(req.Auth.ServiceAccountNamespace, req.Auth.ServiceAccount))
		}
	} else {
		for _, ns := range namespaces {
			set.Providers[ns] = map[string]any{"azurekv": p.esoProvider(ns, method, req.Auth, spRef)}
			if method == ESOAuthWorkloadIdentity {
				subjects = append(subjects, p.serviceAccount(ns, req.Auth.ServiceAccount))
			}
		}
	}
	set.ServiceAccounts = subjects
	var names []string
	for _, ns := range namespaces {
		for _, r := range req.Refs[ns] {
			names = append(names, r.Paths...)
		}
	}
	set.Files["azurekv/role-assignments.sh"] = p.roleScript(method, subjects, names)
	return set, nil
}

func (p *Provider) serviceAccount(ns, name string) providers.ServiceAccount {
	ann := map[string]string{AnnotationClientID: p.eso.ClientID}
	if p.eso.TenantID != "" {
		ann[AnnotationTenantID] = p.eso.TenantID
	}
	return providers.ServiceAccount{Namespace: ns, Name: name, Annotations: ann}
}

// esoProvider is ESO's azurekv block for the store in ns ("" for a ClusterSecretStore).
func (p *Provider) esoProvider(ns, method string, auth providers.ExternalAuth, sp *secretRef) esoAzure {
	a := esoAzure{VaultURL: p.vaultURL, TenantID: p.eso.TenantID}
	if p.eso.VaultURL != "" {
		a.VaultURL = strings.TrimRight(p.eso.VaultURL, "/")
	}
	switch method {
	case ESOAuthWorkloadIdentity:
		// The tenant goes on the ServiceAccount only: ESO refuses a store that names it there
		// and in tenantId too ("multiple tenantID found").
		a.AuthType, a.TenantID = "WorkloadIdentity", ""
		a.ServiceAccountRef = &serviceAccountRef{Name: auth.ServiceAccount}
		if ns == "" {
			a.ServiceAccountRef.Namespace = auth.ServiceAccountNamespace
		}
	case ESOAuthManagedIdentity:
		a.AuthType, a.IdentityID = "ManagedIdentity", p.eso.ClientID
	case ESOAuthServicePrincipal:
		ref := *sp
		if ns != "" {
			ref.Namespace = ""
		}
		a.AuthType = "ServicePrincipal"
		a.AuthSecretRef = &authSecretRef{
			ClientID:     secretKeySelector{Name: ref.Name, Key: "ClientID", Namespace: ref.Namespace},
			ClientSecret: secretKeySelector{Name: ref.Name, Key: "ClientSecret", Namespace: ref.Namespace},
		}
	}
	return a
}

// roleScript writes the role assignments: "Key Vault Secrets User" (read secret values, the
// least built-in role that can) on the vault, or on each migrated secret with
// --azure-eso-role-scope secret; and, for workload identity, the federated credential of each
// ServiceAccount.
func (p *Provider) roleScript(method string, subjects []providers.ServiceAccount, names []string) []byte {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Access for External Secrets Operator to the migrated secrets: read secret values, nothing else.\n")
	b.WriteString("# Run with the Azure CLI signed in as someone allowed to assign roles on the vault.\nset -eu\n")
	fmt.Fprintf(&b, "VAULT_ID=$(az keyvault show --name %s --query id --output tsv)\n", shellQuote(p.vaultName()))
	assignee := `"${ESO_ASSIGNEE:?set it to the client id or object id of the identity ESO signs in as}"`
	if p.eso.ClientID != "" {
		assignee = shellQuote(p.eso.ClientID)
	}
	if method == ESOAuthWorkloadIdentity && len(subjects) > 0 {
		b.WriteString("\n# Workload identity: each ServiceAccount may sign in as the identity.\n")
		b.WriteString(`: "${AZURE_IDENTITY_NAME:?set it to the name of the user-assigned identity ESO signs in as}"` + "\n")
		b.WriteString(`: "${AZURE_IDENTITY_RESOURCE_GROUP:?set it to that identity's resource group}"` + "\n")
		b.WriteString(`: "${AKS_OIDC_ISSUER:?set it to: az aks show --name CLUSTER --resource-group GROUP --query oidcIssuerProfile.issuerUrl --output tsv}"` + "\n")
		for _, sa := range subjects {
			fmt.Fprintf(&b, "az identity federated-credential create --name %s --identity-name \"$AZURE_IDENTITY_NAME\" --resource-group \"$AZURE_IDENTITY_RESOURCE_GROUP\" --issuer \"$AKS_OIDC_ISSUER\" --subject %s --audiences api://AzureADTokenExchange\n",
				shellQuote(sanitize("secretshift-"+sa.Namespace+"-"+sa.Name)), shellQuote("system:serviceaccount:"+sa.Namespace+":"+sa.Name))
		}
	}
	fmt.Fprintf(&b, "\n# %q reads secret values only (no listing of names, no writes).\n", ReaderRole)
	if p.eso.RoleScope != RoleScopeSecret {
		fmt.Fprintf(&b, "az role assignment create --role %s --assignee %s --scope \"$VAULT_ID\"\n", shellQuote(ReaderRole), assignee)
		return []byte(b.String())
	}
	sort.Strings(names)
	prev := ""
	for _, n := range names {
		if n != prev {
			fmt.Fprintf(&b, "az role assignment create --role %s --assignee %s --scope \"$VAULT_ID/secrets/%s\"\n", shellQuote(ReaderRole), assignee, n)
		}
		prev = n
	}
	return []byte(b.String())
}

func parseSecretRef(v string) (secretRef, error) {
	parts := strings.Split(v, "/")
	switch {
	case len(parts) == 1 && parts[0] != "":
		return secretRef{Name: parts[0]}, nil
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return secretRef{Namespace: parts[0], Name: parts[1]}, nil
	}
	return secretRef{}, errors.New("azurekv service-principal auth needs the Secret holding ClientID and ClientSecret: --azure-eso-sp-secret [namespace/]name")
}

// shellQuote quotes s for POSIX sh when it holds anything but safe characters.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// ESO's azurekv provider block: the fields of external-secrets.io/v1 that secretshift sets.
type esoAzure struct {
	VaultURL          string             `json:"vaultUrl"`
	AuthType          string             `json:"authType"`
	TenantID          string             `json:"tenantId,omitempty"`
	IdentityID        string             `json:"identityId,omitempty"`
	ServiceAccountRef *serviceAccountRef `json:"serviceAccountRef,omitempty"`
	AuthSecretRef     *authSecretRef     `json:"authSecretRef,omitempty"`
}

type serviceAccountRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type authSecretRef struct {
	ClientID     secretKeySelector `json:"clientId"`
	ClientSecret secretKeySelector `json:"clientSecret"`
}

type secretKeySelector struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Namespace string `json:"namespace,omitempty"`
}

type secretRef struct{ Namespace, Name string }
