package crash

import (
	"fmt"
	"path/filepath"

	"github.com/secretshift/secretshift/reliability/internal/vaultkv"
)

// Server is the store a run writes to, started for a crash trial or a fault case: a
// vault-testserver process, or the Key Vault test server in this process.
type Server struct {
	Vault *vaultkv.Server
	AKV   *AKV
	// AKVEnv is what a secretshift process needs to sign in to the Key Vault server and trust
	// it (startAKV), AZURE_KEYVAULT_URL included.
	AKVEnv []string
}

// StartServer starts the server of store (Vault or AzureKV), keeping its files in dir; tools
// holds vault-testserver, token is Vault's root token.
func StartServer(store Store, tools, dir, token string) (*Server, error) {
	switch store {
	case Vault:
		v, err := vaultkv.Start(filepath.Join(tools, "vault-testserver"), dir, token)
		if err != nil {
			return nil, err
		}
		return &Server{Vault: v}, nil
	case AzureKV:
		a, env, err := startAKV(dir)
		if err != nil {
			return nil, err
		}
		return &Server{AKV: a, AKVEnv: env}, nil
	}
	return nil, fmt.Errorf("no test server for store %q", store)
}

// Close stops the server.
func (s *Server) Close() {
	if s == nil {
		return
	}
	if s.Vault != nil {
		s.Vault.Stop()
	}
	if s.AKV != nil {
		s.AKV.Close()
	}
}
