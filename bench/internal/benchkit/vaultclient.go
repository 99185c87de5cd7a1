package benchkit

import (
	"net/http"

	"github.com/hashicorp/vault/api"
)

// VaultClient returns a Vault API client for the server at addr, authenticated with token and
// set up as secretshift's Vault adapter sets up its own: the library's defaults with at most 4
// retries, and the connection pool widened (256 idle connections per host) so that sixteen
// workers keep their connections. It uses no namespace.
func VaultClient(addr, token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 4
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 256
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c, nil
}
