package akv

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// CertFile is the name Env gives the certificate file it writes.
const CertFile = "akv-ca.pem"

// CertPEM returns the server's certificate, PEM-encoded.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// CertPool returns a pool holding only the server's certificate.
func (s *Server) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.certPEM)
	return pool
}

// HTTPClient returns a new HTTP client that trusts the server's certificate (and nothing
// else).
func (s *Server) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
}

// ClientOptions returns azsecrets options for this server: a transport that trusts its
// certificate, and DisableChallengeResourceVerification, which a vault URL on 127.0.0.1 needs
// (the SDK otherwise requires the vault host to end in ".vault.azure.net").
func (s *Server) ClientOptions() *azsecrets.ClientOptions {
	return &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: s.HTTPClient()},
		DisableChallengeResourceVerification: true,
	}
}

// Client returns an azsecrets client for the server that authenticates with Credential.
func (s *Server) Client() (*azsecrets.Client, error) {
	u := s.URL()
	if u == "" {
		return nil, errors.New("key vault test server is not started")
	}
	c, err := azsecrets.NewClient(u, s.Credential(), s.ClientOptions())
	if err != nil {
		return nil, fmt.Errorf("create azsecrets client for %s: %w", u, err)
	}
	return c, nil
}

// Env writes the certificate to dir/akv-ca.pem and returns the environment a subprocess needs
// to reach the server with azidentity's EnvironmentCredential (or DefaultAzureCredential):
// AZURE_KEYVAULT_URL, AZURE_AUTHORITY_HOST, AZURE_TENANT_ID, AZURE_CLIENT_ID,
// AZURE_CLIENT_SECRET and SSL_CERT_FILE, as "KEY=value" strings for exec.Cmd.Env.
//
// The subprocess must still turn on DisableInstanceDiscovery for its credential (MSAL would
// otherwise ask login.microsoftonline.com about the authority) and
// DisableChallengeResourceVerification for its azsecrets client. SSL_CERT_FILE replaces Go's
// default CA bundle file on Linux; the default CA directories are still read.
func (s *Server) Env(dir string) ([]string, error) {
	u := s.URL()
	if u == "" {
		return nil, errors.New("key vault test server is not started")
	}
	path, err := s.writeCertFile(dir)
	if err != nil {
		return nil, err
	}
	return []string{
		"AZURE_KEYVAULT_URL=" + u,
		"AZURE_AUTHORITY_HOST=" + u + "/",
		"AZURE_TENANT_ID=" + s.tenant,
		"AZURE_CLIENT_ID=" + s.clientID,
		"AZURE_CLIENT_SECRET=" + s.clientSecret,
		"SSL_CERT_FILE=" + path,
	}, nil
}

// writeCertFile writes the certificate to dir/CertFile and returns its path.
func (s *Server) writeCertFile(dir string) (string, error) {
	path := filepath.Join(dir, CertFile)
	if err := os.WriteFile(path, s.certPEM, 0o644); err != nil {
		return "", fmt.Errorf("write key vault test certificate: %w", err)
	}
	return path, nil
}

// Tenant returns the tenant id the server serves.
func (s *Server) Tenant() string { return s.tenant }

// ClientID returns the client id the token endpoint accepts.
func (s *Server) ClientID() string { return s.clientID }

// ClientSecret returns the client secret the token endpoint accepts.
func (s *Server) ClientSecret() string { return s.clientSecret }

// TLSCertificate returns the server's certificate and key (for 127.0.0.1 and localhost), for
// a test proxy in front of the server that its clients must trust as the server itself.
func (s *Server) TLSCertificate() tls.Certificate { return s.cert }
