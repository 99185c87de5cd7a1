package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"
	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/providers"
)

// Auth methods accepted by --vault-auth.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
)

// DefaultPathTemplate is where a Secret lands below the mount unless --vault-path says otherwise.
const DefaultPathTemplate = "{{.Namespace}}/{{.Name}}"

// Config holds the Vault adapter's settings. Connection settings come from the same
// environment variables the vault CLI reads (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE,
// VAULT_CACERT, VAULT_SKIP_VERIFY, ...), and, as OpenBao's bao CLI does, from their BAO_*
// counterparts first; flags override them.
type Config struct {
	Address      string
	Namespace    string
	Mount        string
	PathTemplate string

	Auth         string
	AuthMount    string
	Role         string
	RoleID       string
	SecretIDEnv  string
	SecretIDFile string
	K8sTokenFile string
	RateLimit    float64
	MaxRetries   int
	// ESO is how External Secrets Operator reaches Vault (ExternalFlags: --vault-eso-*).
	ESO           esoConfig
	Getenv        func(string) string
	clientFactory func(*api.Config) (*api.Client, error)
}

var _ providers.ExternalConfig = (*Config)(nil)

// NewConfig returns the default settings.
func NewConfig() providers.Config {
	return &Config{Mount: "secret", PathTemplate: DefaultPathTemplate, Auth: AuthToken, MaxRetries: 4, Getenv: os.Getenv,
		ESO: esoConfig{KubernetesMount: "kubernetes", Audience: "vault"}}
}

// Flags implements providers.Config.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Address, "vault-addr", "", "Vault or OpenBao address (default: $BAO_ADDR, then $VAULT_ADDR)")
	fs.StringVar(&c.Namespace, "vault-namespace", "", "Vault Enterprise / OpenBao namespace (default: $BAO_NAMESPACE, then $VAULT_NAMESPACE)")
	fs.StringVar(&c.Mount, "vault-mount", c.Mount, "KV v2 mount path")
	fs.StringVar(&c.PathTemplate, "vault-path", c.PathTemplate, "path below the mount for each Secret (Go template over .Namespace and .Name)")
	fs.StringVar(&c.Auth, "vault-auth", c.Auth, "auth method: token ($BAO_TOKEN or $VAULT_TOKEN), approle or kubernetes")
	fs.StringVar(&c.AuthMount, "vault-auth-mount", "", "mount path of the auth method (default: approle or kubernetes)")
	fs.StringVar(&c.Role, "vault-role", "", "role for kubernetes auth")
	fs.StringVar(&c.RoleID, "vault-role-id", "", "role ID for approle auth")
	fs.StringVar(&c.SecretIDEnv, "vault-secret-id-env", "VAULT_SECRET_ID", "environment variable holding the approle secret ID")
	fs.StringVar(&c.SecretIDFile, "vault-secret-id-file", "", "file holding the approle secret ID (instead of the environment)")
	fs.StringVar(&c.K8sTokenFile, "vault-k8s-token-file", "", "service account token file for kubernetes auth (default: the in-cluster token)")
	fs.Float64Var(&c.RateLimit, "vault-rate", 0, "client-side limit on Vault requests per second (0: none; $VAULT_RATE_LIMIT also works)")
	fs.IntVar(&c.MaxRetries, "vault-max-retries", c.MaxRetries, "retries for throttled (429) or failed (5xx) requests; Retry-After is honoured")
}

// Open implements providers.Config: it builds a client, authenticates and checks that the
// mount is KV version 2. It writes nothing.
func (c *Config) Open(ctx context.Context) (providers.Provider, error) {
	return c.open(ctx)
}

func (c *Config) open(ctx context.Context) (*Provider, error) {
	tmpl, err := template.New("vault-path").Option("missingkey=error").Parse(c.PathTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse --vault-path %q: %w", c.PathTemplate, err)
	}
	mount := strings.Trim(c.Mount, "/")
	if mount == "" {
		return nil, errors.New("--vault-mount must not be empty")
	}

	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("read vault environment: %w", cfg.Error)
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := applyBaoEnv(cfg, getenv); err != nil {
		return nil, err
	}
	if c.Address != "" {
		cfg.Address = c.Address
	}
	cfg.MaxRetries = c.MaxRetries
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		// The pooled default keeps GOMAXPROCS+1 idle connections per host; the engine runs up
		// to --concurrency requests at once, and each extra one would open a new connection.
		tr.MaxIdleConnsPerHost = 256
	}
	newClient := c.clientFactory
	if newClient == nil {
		newClient = api.NewClient
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create vault client for %s: %w", cfg.Address, err)
	}
	if t := getenv("BAO_TOKEN"); t != "" {
		client.SetToken(t)
	}
	if ns := getenv("BAO_NAMESPACE"); ns != "" {
		client.SetNamespace(ns)
	}
	if c.Namespace != "" {
		client.SetNamespace(c.Namespace)
	}
	if c.RateLimit > 0 {
		client.SetLimiter(c.RateLimit, max(1, int(c.RateLimit)))
	}
	if err := c.login(ctx, client); err != nil {
		return nil, err
	}
	p := &Provider{client: client, mount: mount, path: tmpl, addr: cfg.Address, namespace: client.Namespace(), eso: c.ESO}
	if err := p.checkMount(ctx); err != nil {
		return nil, err
	}
	if id, err := client.Auth().Token().LookupSelfWithContext(ctx); err == nil && id != nil {
		p.identity.DisplayName, _ = id.Data["display_name"].(string)
		p.identity.Accessor, _ = id.Data["accessor"].(string)
	}
	return p, nil
}

// tokenFromHelperFile reads the token the vault (or bao) CLI's default token helper stored in
// the home folder, "" if there is none.
func tokenFromHelperFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	for _, name := range []string{".vault-token", ".bao-token"} {
		if b, err := os.ReadFile(filepath.Join(home, name)); err == nil {
			if t := strings.TrimSpace(string(b)); t != "" {
				return t
			}
		}
	}
	return ""
}

// applyBaoEnv applies OpenBao's BAO_* connection variables over the VAULT_* ones the library
// has read: the bao CLI prefers them, so an OpenBao user's environment works as it is.
func applyBaoEnv(cfg *api.Config, getenv func(string) string) error {
	if a := getenv("BAO_ADDR"); a != "" {
		cfg.Address = a
	}
	baoTLS := false
	for _, k := range []string{"BAO_CACERT", "BAO_CAPATH", "BAO_CLIENT_CERT", "BAO_CLIENT_KEY", "BAO_SKIP_VERIFY", "BAO_TLS_SERVER_NAME"} {
		baoTLS = baoTLS || getenv(k) != ""
	}
	if !baoTLS {
		return nil
	}
	// ConfigureTLS sets every field it is given, so start from the VAULT_* values.
	pick := func(name string) string {
		if v := getenv("BAO_" + name); v != "" {
			return v
		}
		return getenv("VAULT_" + name)
	}
	t := &api.TLSConfig{CACert: pick("CACERT"), CAPath: pick("CAPATH"), ClientCert: pick("CLIENT_CERT"),
		ClientKey: pick("CLIENT_KEY"), TLSServerName: pick("TLS_SERVER_NAME")}
	if v := pick("SKIP_VERIFY"); v != "" {
		insecure, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("BAO_SKIP_VERIFY/VAULT_SKIP_VERIFY %q: not a boolean", v)
		}
		t.Insecure = insecure
	}
	if err := cfg.ConfigureTLS(t); err != nil {
		return fmt.Errorf("configure TLS from BAO_* variables: %w", err)
	}
	return nil
}

func (c *Config) login(ctx context.Context, client *api.Client) error {
	switch c.Auth {
	case AuthToken, "":
		if client.Token() == "" {
			// What `vault login` / `bao login` left with the default token helper.
			if t := tokenFromHelperFile(); t != "" {
				client.SetToken(t)
			}
		}
		if client.Token() == "" {
			return errors.New("no vault token: set VAULT_TOKEN (or BAO_TOKEN), run `vault login`, or use --vault-auth approle or kubernetes")
		}
		return nil
	case AuthAppRole:
		if c.RoleID == "" {
			return errors.New("--vault-auth approle needs --vault-role-id")
		}
		sid := &approle.SecretID{FromEnv: c.SecretIDEnv}
		if c.SecretIDFile != "" {
			sid = &approle.SecretID{FromFile: c.SecretIDFile}
		}
		var opts []approle.LoginOption
		if c.AuthMount != "" {
			opts = append(opts, approle.WithMountPath(c.AuthMount))
		}
		m, err := approle.NewAppRoleAuth(c.RoleID, sid, opts...)
		if err != nil {
			return fmt.Errorf("vault approle auth: %w", err)
		}
		return loginWith(ctx, client, m, "approle")
	case AuthKubernetes:
		if c.Role == "" {
			return errors.New("--vault-auth kubernetes needs --vault-role")
		}
		var opts []k8sauth.LoginOption
		if c.AuthMount != "" {
			opts = append(opts, k8sauth.WithMountPath(c.AuthMount))
		}
		if c.K8sTokenFile != "" {
			opts = append(opts, k8sauth.WithServiceAccountTokenPath(c.K8sTokenFile))
		}
		m, err := k8sauth.NewKubernetesAuth(c.Role, opts...)
		if err != nil {
			return fmt.Errorf("vault kubernetes auth: %w", err)
		}
		return loginWith(ctx, client, m, "kubernetes")
	}
	return fmt.Errorf("unknown --vault-auth %q: use token, approle or kubernetes", c.Auth)
}

func loginWith(ctx context.Context, client *api.Client, m api.AuthMethod, name string) error {
	s, err := client.Auth().Login(ctx, m)
	if err != nil {
		return fmt.Errorf("vault %s login: %w", name, err)
	}
	if s == nil || s.Auth == nil {
		return fmt.Errorf("vault %s login returned no token", name)
	}
	return nil
}
