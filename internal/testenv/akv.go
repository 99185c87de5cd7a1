package testenv

import (
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/secretshift/secretshift/internal/testenv/akv"
)

// AKV is an Azure Key Vault secrets test server running in the test process (see package akv).
type AKV struct {
	// URL is the vault URL, e.g. https://127.0.0.1:41234.
	URL string
	// Server gives tests the certificate, credentials, environment for a subprocess, fault
	// injection, throttling and the request log.
	Server *akv.Server
}

// StartAKV starts a Key Vault test server on a free 127.0.0.1 port.
func StartAKV(opts akv.Options) (*AKV, error) {
	srv, err := akv.New(opts)
	if err != nil {
		return nil, fmt.Errorf("create key vault test server: %w", err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("start key vault test server: %w", err)
	}
	return &AKV{URL: url, Server: srv}, nil
}

// Client returns an azsecrets client for the server that trusts its certificate and
// authenticates with its static token.
func (a *AKV) Client() (*azsecrets.Client, error) { return a.Server.Client() }

// Stop stops the server and discards its data.
func (a *AKV) Stop() error {
	if a == nil {
		return nil
	}
	return a.Server.Close()
}

var akvShared struct {
	mu  sync.Mutex
	akv *AKV
}

// RequireAKV returns the test binary's shared Key Vault test server, starting it on first use
// with default options. Tests sharing it should use secret names of their own and must not
// Reset it, change its write limit or inject faults; a test that needs any of that should use
// NewAKV. The shared server lives until the test binary exits (it holds only memory and a
// loopback listener).
//
// The shared ESO controller (RequireESO) reaches this server as Azure, through ESO.AzureProxy.
func RequireAKV(t testing.TB) *AKV {
	t.Helper()
	a, err := sharedAKV()
	if err != nil {
		t.Fatalf("start key vault test server: %v", err)
	}
	return a
}

// sharedAKV returns the shared Key Vault test server, starting it on first use.
func sharedAKV() (*AKV, error) {
	akvShared.mu.Lock()
	defer akvShared.mu.Unlock()
	if akvShared.akv == nil {
		a, err := StartAKV(akv.Options{})
		if err != nil {
			return nil, err
		}
		akvShared.akv = a
	}
	return akvShared.akv, nil
}

// NewAKV starts a Key Vault test server for one test and stops it when the test ends.
func NewAKV(t testing.TB, opts akv.Options) *AKV {
	t.Helper()
	a, err := StartAKV(opts)
	if err != nil {
		t.Fatalf("start key vault test server: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Stop(); err != nil {
			t.Errorf("stop key vault test server: %v", err)
		}
	})
	return a
}
