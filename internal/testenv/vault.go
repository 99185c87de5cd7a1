package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/secretshift/secretshift/internal/testenv/vaultapi"
)

// Vault is a Vault API server running in the test process (see package vaultapi).
type Vault struct {
	// Addr is the base URL, e.g. http://127.0.0.1:41234.
	Addr string
	// Token is the root token.
	Token string
	// Server gives tests fault injection, counters and mounts.
	Server *vaultapi.Server
}

// StartVault starts a Vault API server on a free 127.0.0.1 port. An empty opts.RootToken gets
// a random token.
func StartVault(opts vaultapi.Options) (*Vault, error) {
	if opts.RootToken == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generate vault root token: %w", err)
		}
		opts.RootToken = "hvs." + hex.EncodeToString(b)
	}
	srv, err := vaultapi.New(opts)
	if err != nil {
		return nil, fmt.Errorf("create vault api server: %w", err)
	}
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("start vault api server: %w", err)
	}
	return &Vault{Addr: addr, Token: opts.RootToken, Server: srv}, nil
}

// Client returns a vault/api client for the server with the root token; it takes nothing from
// VAULT_* environment variables.
func (v *Vault) Client() (*api.Client, error) {
	return vaultapi.NewClient(v.Addr, v.Token)
}

// Stop stops the server and discards its data.
func (v *Vault) Stop() error {
	if v == nil {
		return nil
	}
	return v.Server.Close()
}

// RequireVault returns the test binary's shared Vault, starting it on first use: KV version 2
// at secret/ and KV version 1 at kv/. Tests sharing it should use paths of their own; a test
// that needs a server to itself (faults, counters) should use NewVault.
func RequireVault(t testing.TB) *Vault {
	t.Helper()
	shared.vaultMu.Lock()
	defer shared.vaultMu.Unlock()
	if shared.vault == nil {
		v, err := StartVault(vaultapi.Options{KVv2Mounts: []string{"secret"}, KVv1Mounts: []string{"kv"}})
		if err != nil {
			t.Fatalf("start vault: %v", err)
		}
		shared.vault = v
	}
	return shared.vault
}

// NewVault starts a Vault API server for one test and stops it when the test ends.
func NewVault(t testing.TB, opts vaultapi.Options) *Vault {
	t.Helper()
	v, err := StartVault(opts)
	if err != nil {
		t.Fatalf("start vault: %v", err)
	}
	t.Cleanup(func() {
		if err := v.Stop(); err != nil {
			t.Errorf("stop vault: %v", err)
		}
	})
	return v
}
