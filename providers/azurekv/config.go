package azurekv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/spf13/pflag"

	"github.com/secretshift/secretshift/providers"
)

// Environment variables read besides the azidentity ones (AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, ...), which the credential reads itself.
const (
	EnvVaultURL      = "AZURE_KEYVAULT_URL"
	EnvAuthorityHost = "AZURE_AUTHORITY_HOST"
)

// publicAuthorities are the Microsoft Entra authority hosts of Azure's public and sovereign
// clouds, whose instance metadata azidentity may look up.
var publicAuthorities = map[string]bool{
	"login.microsoftonline.com":        true, // public
	"login.microsoftonline.us":         true, // US Government
	"login.chinacloudapi.cn":           true, // China (21Vianet)
	"login.partner.microsoftonline.cn": true, // China, AKS workload identity
	"login.microsoftonline.de":         true, // Germany (retired)
	"login.windows.net":                true, // public, older name
}

// Config holds the adapter's settings, from flags and the environment.
type Config struct {
	// VaultURL is https://NAME.vault.azure.net (default $AZURE_KEYVAULT_URL).
	VaultURL string
	// Layout is LayoutPerKey or LayoutJSON.
	Layout string
	// NameTemplate renders Key Vault names ("" is the layout's default).
	NameTemplate string
	// Recover lets writes recover soft-deleted names.
	Recover bool
	// WriteRate is the client-side write limit, "N/DURATION".
	WriteRate string
	// MaxRetries bounds the retries of one request (throttled, or failed with 5xx).
	MaxRetries int
	// RecoverWait bounds the wait for a recovery to become visible.
	RecoverWait time.Duration
	// ESO is how External Secrets Operator reaches the vault (ExternalFlags).
	ESO esoConfig
	// CI is the identity a generated CI job signs in as (CISignIn).
	CI     ciIdentity
	Getenv func(string) string

	// clientOptions and credential, when set (tests of this package), replace the options and
	// the DefaultAzureCredential Open would make; the write limiter, retries and challenge
	// settings are still applied over them.
	clientOptions *azsecrets.ClientOptions
	credential    azcore.TokenCredential
}

var (
	_ providers.Config         = (*Config)(nil)
	_ providers.ExternalConfig = (*Config)(nil)
)

// NewConfig returns the default settings.
func NewConfig() providers.Config {
	return &Config{Layout: LayoutPerKey, WriteRate: DefaultWriteRate, MaxRetries: 6, RecoverWait: 2 * time.Minute, Getenv: os.Getenv,
		ESO: esoConfig{RoleScope: RoleScopeVault}}
}

// Flags implements providers.Config.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.VaultURL, "azure-vault-url", "", "Key Vault URL, https://NAME.vault.azure.net (default: $"+EnvVaultURL+"); credentials as every Azure tool finds them (AZURE_* variables, workload or managed identity, az login)")
	fs.StringVar(&c.Layout, "azure-layout", c.Layout, "per-key: one Key Vault secret per Secret key; json: one secret per Secret holding a JSON object of its keys")
	fs.StringVar(&c.NameTemplate, "azure-name", "", "Key Vault name template over .Namespace, .Name and .Key; lowercased, other characters than 0-9 a-z - become - (default: "+DefaultPerKeyName+", or "+DefaultJSONName+" for the json layout)")
	fs.BoolVar(&c.Recover, "azure-recover", false, "recover soft-deleted secrets that hold a target name, then write a new version (never purges)")
	fs.StringVar(&c.WriteRate, "azure-write-rate", c.WriteRate, "at most N writes in any window of DURATION (N/DURATION; the vault's limit is 300/10s; 0 for no limit)")
	fs.IntVar(&c.MaxRetries, "azure-max-retries", c.MaxRetries, "retries of a throttled (429, 503) or failed (5xx) request, each after the Retry-After the vault asks for")
	fs.DurationVar(&c.RecoverWait, "azure-recover-wait", c.RecoverWait, "how long to wait for a recovered secret to become readable")
	c.CI.flags(fs)
}

// Open implements providers.Config: it builds the credential and the client and lists one page
// of the vault's secrets, which proves both. It writes nothing.
func (c *Config) Open(ctx context.Context) (providers.Provider, error) {
	return c.open(ctx)
}

func (c *Config) open(ctx context.Context) (*Provider, error) {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	raw := c.VaultURL
	if raw == "" {
		raw = getenv(EnvVaultURL)
	}
	vaultURL, loopback, err := parseVaultURL(raw)
	if err != nil {
		return nil, err
	}
	names, err := newNamer(c.Layout, c.NameTemplate)
	if err != nil {
		return nil, err
	}
	wr, err := parseWriteRate(c.WriteRate)
	if err != nil {
		return nil, err
	}
	cred := c.credential
	if cred == nil {
		opts := &azidentity.DefaultAzureCredentialOptions{}
		// Instance discovery asks login.microsoftonline.com whether the authority is a known
		// one. An authority of a disconnected or private cloud (Azure Stack, ADFS, a local
		// test authority) is unknown there and unreachable from where it runs, so the lookup
		// is skipped for it: the user named that authority, and is trusted to mean it.
		if host := getenv(EnvAuthorityHost); host != "" && !publicAuthority(host) {
			opts.DisableInstanceDiscovery = true
		}
		if cred, err = azidentity.NewDefaultAzureCredential(opts); err != nil {
			return nil, fmt.Errorf("azure credentials: %w\nsign in with az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or a federated token file)", err)
		}
	}
	opts := azsecrets.ClientOptions{}
	if c.clientOptions != nil {
		opts = *c.clientOptions
	}
	if opts.Transport == nil {
		opts.Transport = newTransport(nil)
	}
	// Key Vault's challenge names the resource https://vault.azure.net, and the SDK checks that
	// the vault's host is below it, so that a token is never sent to a host that merely asks
	// for one. A vault on a loopback address (a local Key Vault server, or a tunnel) can never
	// be below it; the host is the one the user named, on this machine, so the check is off
	// for loopback hosts only.
	opts.DisableChallengeResourceVerification = opts.DisableChallengeResourceVerification || loopback
	retries := c.MaxRetries
	if retries <= 0 {
		retries = -1 // azcore: below zero is no retry; zero would be its default of 3
	}
	opts.Retry = retryOptions(retries)
	counter := &throttleCounter{maxRetries: max(0, c.MaxRetries), rate: wr}
	opts.PerRetryPolicies = append(append(opts.PerRetryPolicies[:0:0], opts.PerRetryPolicies...), counter.policies(wr.limiter())...)
	client, err := azsecrets.NewClient(vaultURL, cred, &opts)
	if err != nil {
		return nil, fmt.Errorf("create key vault client for %s: %w", vaultURL, err)
	}
	p := newProvider(client, vaultURL, names)
	p.recover, p.eso, p.throttle = c.Recover, c.ESO, counter
	if c.RecoverWait > 0 {
		p.recoverWait = c.RecoverWait
	}
	if err := p.probe(ctx); err != nil {
		return nil, err
	}
	p.identity = identityOf(ctx, cred)
	return p, nil
}

// newTransport is the HTTP client of the vault client: Go's default transport (proxy settings
// from the environment, the system's trust store, which SSL_CERT_FILE and SSL_CERT_DIR
// change), keeping enough idle connections for every request --concurrency has in flight —
// azcore's default keeps 10, and each request over that would open a new TLS connection.
// roots, when set, replaces the trust store (tests).
func newTransport(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: tr}
}

// parseVaultURL checks a vault URL and returns it without a trailing slash, and whether its
// host is a loopback address.
func parseVaultURL(raw string) (string, bool, error) {
	if raw == "" {
		return "", false, fmt.Errorf("no key vault: set --azure-vault-url https://NAME.vault.azure.net, or %s", EnvVaultURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false, fmt.Errorf("--azure-vault-url %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https":
		return "", false, fmt.Errorf("--azure-vault-url %q: key vault is reached over https only (the SDK sends no token over http)", raw)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Trim(u.Path, "/") != "":
		return "", false, fmt.Errorf("--azure-vault-url %q: want the vault's URL alone, https://NAME.vault.azure.net", raw)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loopback := strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
	return "https://" + strings.ToLower(u.Host), loopback, nil
}

// publicAuthority reports whether an authority host (a URL or a bare host) is one of Azure's
// public or sovereign clouds.
func publicAuthority(v string) bool {
	host := v
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	return publicAuthorities[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// vaultName is the vault's name, the first label of its host, for az commands.
func (p *Provider) vaultName() string {
	host := strings.TrimPrefix(p.vaultURL, "https://")
	name, _, _ := strings.Cut(host, ".")
	name, _, _ = strings.Cut(name, ":")
	return name
}

// probe lists one page of secrets: the credential works and may list. Listing is what finds
// a per-key target's secrets and soft-deleted names, so a role that cannot list is refused
// now rather than after the first writes.
func (p *Provider) probe(ctx context.Context) error {
	pager := p.client.NewListSecretPropertiesPager(nil)
	if _, err := pager.NextPage(ctx); err != nil {
		err = classify(err)
		if errors.Is(err, providers.ErrPermission) {
			return fmt.Errorf("key vault %s: %w\nsecretshift needs to list, read and write secrets: assign the role \"Key Vault Secrets Officer\" on the vault to the identity it runs as", p.vaultURL, err)
		}
		return fmt.Errorf("key vault %s: %w", p.vaultURL, err)
	}
	return nil
}
