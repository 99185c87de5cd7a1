package sealed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ssv1alpha1 "github.com/bitnami/sealed-secrets/pkg/apis/sealedsecrets/v1alpha1"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

// Name is the registry name of this provider, what users pass to --to.
const Name = "sealed"

// Defaults, as kubeseal has them.
const (
	DefaultOut                 = "secretshift-sealed"
	DefaultControllerName      = "sealed-secrets-controller"
	DefaultControllerNamespace = "kube-system"
	// Stdout as the output folder writes one multi-document stream to standard output.
	Stdout = "-"
)

// Environment variables kubeseal reads for the same settings.
const (
	EnvCert                = "SEALED_SECRETS_CERT"
	EnvControllerName      = "SEALED_SECRETS_CONTROLLER_NAME"
	EnvControllerNamespace = "SEALED_SECRETS_CONTROLLER_NAMESPACE"
)

// Scope names, as kubeseal's --scope takes them.
const (
	ScopeStrict        = "strict"
	ScopeNamespaceWide = "namespace-wide"
	ScopeClusterWide   = "cluster-wide"
)

var (
	_ providers.Config        = (*Config)(nil)
	_ providers.ClusterConfig = (*Config)(nil)
	_ providers.Streams       = (*Config)(nil)
)

// Config is the provider's settings.
type Config struct {
	// Out is the folder the SealedSecrets are written to, or Stdout.
	Out string
	// Cert is the controller's certificate: a file, or an http(s):// or file:// URL. Empty
	// means $SEALED_SECRETS_CERT, then the controller through the cluster's API server.
	Cert string
	// ControllerName and ControllerNamespace name the controller's Service.
	ControllerName, ControllerNamespace string
	// Scope is strict, namespace-wide or cluster-wide.
	Scope string
	// PrivateKeys are files holding the controller's private keys, for verifying by
	// decryption (as kubeseal --recovery-private-key reads them).
	PrivateKeys []string
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time

	cluster func() (*rest.Config, error)
	stdout  io.Writer
}

// NewConfig returns the settings with defaults applied.
func NewConfig() *Config {
	return &Config{
		Out:                 DefaultOut,
		ControllerName:      envOr(EnvControllerName, DefaultControllerName),
		ControllerNamespace: envOr(EnvControllerNamespace, DefaultControllerNamespace),
		Scope:               ScopeStrict,
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Flags registers the provider's flags.
func (c *Config) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Out, "sealed-out", c.Out,
		"folder for SealedSecret manifests (<folder>/<namespace>/<name>.yaml and kustomization.yaml); - writes them to stdout")
	fs.StringVar(&c.Cert, "sealed-cert", c.Cert,
		"the sealed-secrets controller's certificate, a file or URL (default $"+EnvCert+", else fetched from the controller through the cluster's API server)")
	fs.StringVar(&c.ControllerName, "sealed-controller-name", c.ControllerName,
		"name of the sealed-secrets controller's Service (default $"+EnvControllerName+" or sealed-secrets-controller)")
	fs.StringVar(&c.ControllerNamespace, "sealed-controller-namespace", c.ControllerNamespace,
		"namespace of the sealed-secrets controller (default $"+EnvControllerNamespace+" or kube-system)")
	fs.StringVar(&c.Scope, "sealed-scope", c.Scope,
		"where a SealedSecret may be unsealed: strict (this namespace and name), namespace-wide or cluster-wide")
	fs.StringSliceVar(&c.PrivateKeys, "sealed-private-key", c.PrivateKeys,
		"file with the controller's private key(s) (PEM, or its key Secrets as YAML) to verify by decrypting every value, as kubeseal --recovery-unseal (repeatable)")
}

// UseCluster implements providers.ClusterConfig: the certificate is fetched through the
// cluster load returns, when no certificate file or URL is given.
func (c *Config) UseCluster(load func() (*rest.Config, error)) { c.cluster = load }

// UseStdout implements providers.Streams.
func (c *Config) UseStdout(w io.Writer) { c.stdout = w }

// Open validates the settings, loads and checks the certificate, and reads the private keys.
// It writes nothing.
func (c *Config) Open(ctx context.Context) (providers.Provider, error) {
	return c.open(ctx)
}

func (c *Config) open(ctx context.Context) (*Provider, error) {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	scope, err := parseScope(c.Scope)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	out := strings.TrimSpace(c.Out)
	p := &Provider{scope: scope, now: now}
	switch {
	case out == "":
		return nil, errors.New("sealed: --sealed-out is empty")
	case out == Stdout:
		p.stdout = c.stdout
		if p.stdout == nil {
			p.stdout = os.Stdout
		}
		p.stream = map[string]*providers.Stored{}
	default:
		p.out = filepath.Clean(out)
		if err := outdir.CheckWritable(p.out, "output folder"); err != nil {
			return nil, fmt.Errorf("sealed: %w", err)
		}
		p.folder = outdir.NewLock(p.out)
		p.folder.Debug = func(msg string, args ...any) { p.debug(msg, args...) }
	}
	if p.cert, err = c.certificate(ctx, now()); err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	if p.keys, err = readPrivateKeys(c.PrivateKeys); err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	if len(p.keys) > 0 {
		if _, ok := p.keys[p.cert.KeyID]; !ok {
			p.notes = append(p.notes, fmt.Sprintf("none of the private keys given belongs to the certificate (%s): SealedSecrets sealed for it are verified by fingerprint only", p.cert.KeyID))
		}
	}
	return p, nil
}

// parseScope reads a --sealed-scope value.
func parseScope(s string) (ssv1alpha1.SealingScope, error) {
	switch s {
	case ScopeStrict, "":
		return ssv1alpha1.StrictScope, nil
	case ScopeNamespaceWide:
		return ssv1alpha1.NamespaceWideScope, nil
	case ScopeClusterWide:
		return ssv1alpha1.ClusterWideScope, nil
	}
	return 0, fmt.Errorf("--sealed-scope %q: use %s, %s or %s", s, ScopeStrict, ScopeNamespaceWide, ScopeClusterWide)
}

// scopeName is the --sealed-scope word of scope.
func scopeName(scope ssv1alpha1.SealingScope) string {
	switch scope {
	case ssv1alpha1.NamespaceWideScope:
		return ScopeNamespaceWide
	case ssv1alpha1.ClusterWideScope:
		return ScopeClusterWide
	}
	return ScopeStrict
}
