package providers

import (
	"context"
	"io"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
)

// Config is one adapter's settings, bound to command-line flags (and, where the store's own
// tools define them, environment variables such as VAULT_ADDR).
type Config interface {
	// Flags registers the adapter's flags on fs. Flag names carry the adapter's prefix
	// (--vault-mount, --sops-out, ...), so every adapter's flags can live on one command.
	Flags(fs *pflag.FlagSet)
	// Open validates the settings and returns a ready provider. It may contact the store
	// (to authenticate, or to detect a KV version) but writes nothing.
	Open(ctx context.Context) (Provider, error)
}

// Entry is one row of the provider registry table.
type Entry struct {
	// Name is what users pass to --to.
	Name string
	// Summary is a one-line description for help output.
	Summary string
	// NewConfig returns the adapter's settings with defaults applied.
	NewConfig func() Config
}

// ExternalConfig is implemented by the settings of adapters External Secrets Operator can read:
// the flags that only matter when ESO manifests are generated, registered only on the commands
// that generate them (with --manifests). Their names carry the adapter's prefix too.
type ExternalConfig interface {
	ExternalFlags(fs *pflag.FlagSet)
}

// ClusterConfig is implemented by the settings of adapters that may need the Kubernetes API
// of the cluster the command is pointed at (the Sealed Secrets adapter fetches the
// controller's certificate through it). The command hands over how to load its client
// configuration (--kubeconfig, --context, in-cluster), and the adapter calls load only when
// it needs the cluster.
type ClusterConfig interface {
	UseCluster(load func() (*rest.Config, error))
}

// Streams is implemented by the settings of adapters that can write what they store to the
// command's standard output (a stream of manifests, with "-" as the output folder). The
// command hands over its standard output.
type Streams interface {
	UseStdout(w io.Writer)
}
