package sealed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/providers"
)

// kustomizationName is the file listing the folder's SealedSecrets, so that `kubectl apply
// -k <folder>` and GitOps tools apply them all.
const kustomizationName = "kustomization.yaml"

// kustomizationHeader marks a kustomization.yaml secretshift wrote; one without it is the
// user's, and is left alone.
const kustomizationHeader = "# Written by secretshift: every SealedSecret of this folder. It is rewritten at the end of each run.\n"

// Finish brings kustomization.yaml up to date with the SealedSecret files of the folder
// (every <namespace>/<name>.yaml). It rewrites it only when its list changed.
func (p *Provider) Finish(ctx context.Context) error {
	if p.stream != nil {
		return nil
	}
	if !p.folder.Held() {
		// Nothing written in this run: a listing taken without the lock could race another
		// run's writes, so take it now.
		if _, err := p.folder.Acquire(); err != nil {
			return err
		}
	}
	resources, err := p.resources(ctx)
	if err != nil {
		return err
	}
	path := filepath.Join(p.out, kustomizationName)
	cur, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(resources) == 0 {
			return nil
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", path, outdir.IOErr(err))
	case !bytes.HasPrefix(cur, []byte(kustomizationHeader)):
		p.note(fmt.Sprintf("%s was not written by secretshift and is left as it is: list the SealedSecrets in it yourself", path))
		return nil
	}
	body, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  resources,
	})
	if err != nil {
		return err
	}
	out := append([]byte(kustomizationHeader), body...)
	if bytes.Equal(cur, out) {
		return nil
	}
	if err := outdir.WriteFile(path, out, outdir.FileMode, false); err != nil {
		return fmt.Errorf("write %s: %w", path, outdir.IOErr(err))
	}
	p.debug("updated kustomization", "path", path, "resources", len(resources))
	return nil
}

// resources lists the SealedSecret files of the folder as kustomize resources, sorted.
func (p *Provider) resources(_ context.Context) ([]string, error) {
	entries, err := outdir.Entries(p.out, Name, "")
	if err != nil {
		return nil, err
	}
	resources := []string{}
	for _, t := range entries {
		resources = append(resources, t.Address)
	}
	return resources, nil
}

// Entries implements providers.Enumerator.
func (p *Provider) Entries(_ context.Context, prefix string) ([]providers.Target, error) {
	if p.stream != nil {
		return nil, nil
	}
	return outdir.Entries(p.out, Name, prefix)
}
