package vault

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/providers"
)

// ESO auth methods for Vault (--eso-auth).
const (
	ESOAuthKubernetes = "kubernetes"
	ESOAuthToken      = "token"
)

// esoConfig is how External Secrets Operator reaches Vault, from the --eso-* flags that only
// Vault has (the generic ones, --eso-auth and the ServiceAccount, come with the request).
type esoConfig struct {
	// Server is the Vault address as ESO reaches it, if not the one secretshift uses.
	Server string
	// KubernetesMount is the Vault auth mount for Kubernetes auth.
	KubernetesMount string
	// Audience is the token audience the Vault role requires.
	Audience string
	// TokenSecret is [namespace/]name/key of a Secret holding a Vault token, for token auth.
	TokenSecret string
}

func (c *esoConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Server, "vault-eso-server", c.Server, "with --manifests: Vault address as External Secrets Operator reaches it, if different from --vault-addr")
	fs.StringVar(&c.KubernetesMount, "vault-eso-kubernetes-mount", c.KubernetesMount, "with --manifests: Vault auth mount for ESO's Kubernetes auth")
	fs.StringVar(&c.Audience, "vault-eso-audience", c.Audience, "with --manifests: token audience the Vault role requires")
	fs.StringVar(&c.TokenSecret, "vault-eso-token-secret", c.TokenSecret, "with --manifests --eso-auth token: [namespace/]name/key of the Secret holding a Vault token for ESO")
	// The names these flags had before they became Vault's own, kept working but not shown.
	for old, name := range map[string]string{"eso-kubernetes-mount": "vault-eso-kubernetes-mount", "eso-audience": "vault-eso-audience", "eso-token-secret": "vault-eso-token-secret"} {
		f := fs.Lookup(name)
		fs.Var(f.Value, old, f.Usage)
		_ = fs.MarkHidden(old)
	}
}

// ExternalFlags implements providers.ExternalConfig.
func (c *Config) ExternalFlags(fs *pflag.FlagSet) { c.ESO.flags(fs) }

// ExternalRefs implements providers.ExternalReader: every key is a property of the one KV entry.
// ESO looks a property up as a plain key before trying gjson syntax, so keys with dots such as
// "tls.crt" or ".dockerconfigjson" resolve as themselves. Binary values were stored base64 and
// are decoded by ESO.
func (p *Provider) ExternalRefs(t providers.Target, pl providers.Payload) []providers.ExternalRef {
	rel := p.relPath(t)
	policyPath := p.mount + "/data/" + rel
	_, encoded := encoding(pl.Data, "")
	refs := make([]providers.ExternalRef, 0, len(pl.Data))
	for _, k := range pl.Data.Keys() {
		r := providers.ExternalRef{SecretKey: k, Key: rel, Property: k, Paths: []string{policyPath}}
		if encoded(k) {
			r.Decoding = "Base64"
		}
		refs = append(refs, r)
	}
	return refs
}

// ExternalStores implements providers.ExternalReader: ESO's vault provider block per store,
// a Vault policy granting read on exactly the migrated paths (one per namespace, or one for a
// ClusterSecretStore), and, for Kubernetes auth, the ServiceAccount(s) and the commands that
// write the policies and the auth role(s) (vault/setup.sh).
func (p *Provider) ExternalStores(req providers.StoreRequest) (*providers.StoreSet, error) {
	auth := req.Auth
	if auth.Method == "" {
		auth.Method = ESOAuthKubernetes
	}
	var token *secretKeySelector
	switch auth.Method {
	case ESOAuthKubernetes:
		if auth.ServiceAccount == "" || (req.Cluster && auth.ServiceAccountNamespace == "") {
			return nil, errors.New("vault kubernetes auth needs the ServiceAccount ESO logs in as (and its namespace for a ClusterSecretStore)")
		}
	case ESOAuthToken:
		sel, err := parseTokenSecret(p.eso.TokenSecret)
		if err != nil {
			return nil, err
		}
		if req.Cluster && sel.Namespace == "" {
			return nil, errors.New("a ClusterSecretStore with token auth needs the token Secret's namespace: --vault-eso-token-secret namespace/name/key")
		}
		token = &sel
	default:
		return nil, fmt.Errorf("unknown ESO auth method %q for vault: use %s or %s", auth.Method, ESOAuthKubernetes, ESOAuthToken)
	}
	namespaces := make([]string, 0, len(req.Refs))
	for ns := range req.Refs {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)

	set := &providers.StoreSet{Providers: map[string]map[string]any{}, Files: map[string][]byte{}}
	var setup []string
	if req.Cluster {
		set.Providers[""] = map[string]any{"vault": p.esoProvider("", auth, token)}
		var paths []string
		for _, ns := range namespaces {
			paths = append(paths, policyPaths(req.Refs[ns])...)
		}
		set.Files["vault/policy.hcl"] = policyHCL(paths)
		if auth.Method == ESOAuthKubernetes {
			set.ServiceAccounts = append(set.ServiceAccounts, providers.ServiceAccount{Namespace: auth.ServiceAccountNamespace, Name: auth.ServiceAccount})
			setup = p.roleCommands(roleName(""), "vault/policy.hcl", auth, auth.ServiceAccountNamespace)
		}
	} else {
		for _, ns := range namespaces {
			set.Providers[ns] = map[string]any{"vault": p.esoProvider(ns, auth, token)}
			set.Files["vault/policy-"+ns+".hcl"] = policyHCL(policyPaths(req.Refs[ns]))
			if auth.Method == ESOAuthKubernetes {
				set.ServiceAccounts = append(set.ServiceAccounts, providers.ServiceAccount{Namespace: ns, Name: auth.ServiceAccount})
				setup = append(setup, p.roleCommands(roleName(ns), "vault/policy-"+ns+".hcl", auth, ns)...)
			}
		}
	}
	if len(setup) > 0 {
		set.Files["vault/setup.sh"] = []byte("#!/bin/sh\n# Vault policy and Kubernetes-auth role(s) for the generated stores.\n# Run with VAULT_ADDR and a VAULT_TOKEN allowed to write policies and auth roles.\nset -eu\ncd \"$(dirname \"$0\")\"\n" + strings.Join(setup, "\n") + "\n")
	}
	return set, nil
}

// esoProvider is ESO's vault provider block for the store in ns ("" for a ClusterSecretStore).
func (p *Provider) esoProvider(ns string, auth providers.ExternalAuth, token *secretKeySelector) esoVault {
	server := p.addr
	if p.eso.Server != "" {
		server = p.eso.Server
	}
	v := esoVault{Server: server, Path: p.mount, Version: "v2", Namespace: p.namespace}
	switch auth.Method {
	case ESOAuthKubernetes:
		sa := &serviceAccountRef{Name: auth.ServiceAccount, Audiences: []string{p.eso.Audience}}
		if ns == "" {
			sa.Namespace = auth.ServiceAccountNamespace
		}
		v.Auth.Kubernetes = &esoKubernetesAuth{MountPath: p.eso.KubernetesMount, Role: roleName(ns), ServiceAccountRef: sa}
	case ESOAuthToken:
		ref := *token
		if ns != "" {
			ref.Namespace = ""
		}
		v.Auth.TokenSecretRef = &ref
	}
	return v
}

func parseTokenSecret(v string) (secretKeySelector, error) {
	parts := strings.Split(v, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return secretKeySelector{Name: parts[0], Key: parts[1]}, nil
	case len(parts) == 3 && parts[1] != "" && parts[2] != "":
		return secretKeySelector{Namespace: parts[0], Name: parts[1], Key: parts[2]}, nil
	}
	return secretKeySelector{}, errors.New("token auth needs the name and key of a Secret holding the Vault token: --vault-eso-token-secret [namespace/]name/key")
}

func roleName(ns string) string {
	if ns == "" {
		return "secretshift-eso"
	}
	return "secretshift-eso-" + ns
}

func (p *Provider) roleCommands(role, policyFile string, auth providers.ExternalAuth, saNamespace string) []string {
	policy := strings.TrimSuffix(filepath.Base(policyFile), ".hcl")
	policy = "secretshift-" + strings.TrimPrefix(policy, "policy-")
	if policy == "secretshift-policy" {
		policy = "secretshift-eso"
	}
	return []string{
		fmt.Sprintf("vault policy write %s %s", shellQuote(policy), shellQuote(strings.TrimPrefix(policyFile, "vault/"))),
		fmt.Sprintf("vault write auth/%s/role/%s bound_service_account_names=%s bound_service_account_namespaces=%s audience=%s token_policies=%s token_ttl=15m",
			p.eso.KubernetesMount, role, shellQuote(auth.ServiceAccount), shellQuote(saNamespace), shellQuote(p.eso.Audience), shellQuote(policy)),
	}
}

// shellQuote quotes s for POSIX sh when it holds anything but safe characters.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ',' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func policyPaths(refs []providers.ExternalRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Paths...)
	}
	return out
}

// policyHCL grants read on exactly the given paths and nothing else. Paths were validated by
// Target (no quotes, globs or control characters); they are quoted anyway.
func policyHCL(paths []string) []byte {
	sort.Strings(paths)
	var b strings.Builder
	b.WriteString("# Read access to exactly the Secrets migrated by secretshift; nothing else.\n")
	prev := ""
	for _, p := range paths {
		if p == prev {
			continue
		}
		prev = p
		fmt.Fprintf(&b, "path %s {\n  capabilities = [\"read\"]\n}\n", strconv.Quote(p))
	}
	return []byte(b.String())
}

// ESO's vault provider block, the fields of external-secrets.io/v1 that secretshift sets.
type esoVault struct {
	Server    string  `json:"server"`
	Path      string  `json:"path,omitempty"`
	Version   string  `json:"version,omitempty"`
	Namespace string  `json:"namespace,omitempty"`
	Auth      esoAuth `json:"auth"`
}

type esoAuth struct {
	Kubernetes     *esoKubernetesAuth `json:"kubernetes,omitempty"`
	TokenSecretRef *secretKeySelector `json:"tokenSecretRef,omitempty"`
}

type esoKubernetesAuth struct {
	MountPath         string             `json:"mountPath"`
	Role              string             `json:"role"`
	ServiceAccountRef *serviceAccountRef `json:"serviceAccountRef,omitempty"`
}

type serviceAccountRef struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

type secretKeySelector struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	Namespace string `json:"namespace,omitempty"`
}
