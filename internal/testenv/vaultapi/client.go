package vaultapi

import (
	"fmt"
	"net/http"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
	"github.com/hashicorp/vault/api"
)

// NewClient returns a github.com/hashicorp/vault/api client for addr and token whose settings
// do not come from the environment: VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS of the test
// process are overridden, and retries use the library defaults (2 retries, 1–1.5 s apart).
func NewClient(addr, token string) (*api.Client, error) {
	hc := cleanhttp.DefaultPooledClient()
	// Vault's client follows redirects itself.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg := &api.Config{
		Address:      addr,
		HttpClient:   hc,
		Timeout:      60 * time.Second,
		MinRetryWait: time.Second,
		MaxRetryWait: 1500 * time.Millisecond,
		MaxRetries:   2,
		Backoff:      retryablehttp.RateLimitLinearJitterBackoff,
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("create vault client for %s: %w", addr, err)
	}
	c.SetToken(token)
	c.ClearNamespace()
	h := http.Header{}
	h.Set(api.RequestHeaderName, "true")
	c.SetHeaders(h)
	return c, nil
}
