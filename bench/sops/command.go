package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secretshift/secretshift/bench/internal/benchkit"
	"github.com/secretshift/secretshift/kube"
)

// targetWholeCommand is the speed-up the whole command must reach over a loop of `sops -e`.
const targetWholeCommand = 100

// wholeCommand builds secretshift, writes every Secret as a manifest <namespace>/<name>.yaml
// and runs `secretshift migrate --to sops` over them once, with its audit log and journal, as
// a user would; it returns the process's measurement.
func wholeCommand(ctx context.Context, dir string, secrets []*kube.Secret, recipient, keyFile string) (benchkit.Result, error) {
	var res benchkit.Result
	root, err := benchkit.ModuleRoot()
	if err != nil {
		return res, err
	}
	bin := filepath.Join(dir, "bin")
	if _, err := benchkit.Build(root, bin, "./cmd/secretshift"); err != nil {
		return res, err
	}
	in := filepath.Join(dir, "manifests")
	for _, s := range secrets {
		b, err := plainManifest(s)
		if err != nil {
			return res, err
		}
		p := filepath.Join(in, s.Namespace, s.Name+".yaml")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return res, err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return res, err
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	res, err = benchkit.Run(ctx, dir, env, filepath.Join(dir, "migrate-report.txt"), filepath.Join(bin, "secretshift"),
		"migrate", "--to", "sops", "-f", in, "--sops-out", filepath.Join(dir, "command-out"),
		"--age-recipient", recipient, "--sops-age-key-file", keyFile,
		"--audit-log", filepath.Join(dir, "audit", "audit.jsonl"), "--journal-dir", filepath.Join(dir, "journal"), "-q")
	if err != nil {
		return res, fmt.Errorf("secretshift migrate --to sops: %w", err)
	}
	return res, nil
}
