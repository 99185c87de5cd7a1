package sealed

import (
	"context"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

var _ providers.ClusterObjecter = (*Provider)(nil)

// ClusterObject implements providers.ClusterObjecter: the SealedSecret stored at t, which the
// sealed-secrets controller unseals into the Secret. It holds ciphertext only.
func (p *Provider) ClusterObject(ctx context.Context, t providers.Target) (map[string]any, error) {
	ns, name, err := p.parseAddress(t)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.stream != nil {
		return nil, fmt.Errorf("%w: %s: SealedSecrets written to standard output are not kept", providers.ErrUnsupported, t.Address)
	}
	b, err := os.ReadFile(outdir.Path(p.out, ns, name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", outdir.Address(ns, name), outdir.IOErr(err))
	}
	if _, problem := parseSealed(ns, name, b); problem != "" {
		return nil, fmt.Errorf("%s: %s", outdir.Address(ns, name), problem)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", outdir.Address(ns, name), err)
	}
	return obj, nil
}
