package discover

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
)

// listPaths are the collections `secretshift discover -A` lists: the Secrets and every kind of
// consumer it looks for (kube's clusterLister), all namespaces.
var listPaths = []string{
	"/api/v1/secrets", "/api/v1/pods", "/api/v1/serviceaccounts",
	"/apis/apps/v1/replicasets", "/apis/apps/v1/deployments", "/apis/apps/v1/statefulsets", "/apis/apps/v1/daemonsets",
	"/apis/batch/v1/jobs", "/apis/batch/v1/cronjobs", "/apis/networking.k8s.io/v1/ingresses",
}

// curlFloor returns a command that fetches paths from the cluster of cfg at once, one curl
// process each, as raw protobuf LISTs in one answer each (no paging), and discards them: the
// floor of any tool that reads those objects — no decoding, no output. The credentials go to
// files in dir, never to the command line.
func curlFloor(cfg *rest.Config, dir string, paths []string) ([]string, error) {
	args := []string{"-sS", "--fail", "-o", "/dev/null", "-H", "Accept: application/vnd.kubernetes.protobuf"}
	file := func(name string, data []byte, fromFile string) (string, error) {
		if fromFile != "" {
			return fromFile, nil
		}
		p := filepath.Join(dir, name)
		return p, os.WriteFile(p, data, 0o600)
	}
	if len(cfg.CAData) > 0 || cfg.CAFile != "" {
		ca, err := file("ca.crt", cfg.CAData, cfg.CAFile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--cacert", ca)
	}
	if len(cfg.CertData) > 0 || cfg.CertFile != "" {
		cert, err := file("client.crt", cfg.CertData, cfg.CertFile)
		if err != nil {
			return nil, err
		}
		key, err := file("client.key", cfg.KeyData, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--cert", cert, "--key", key)
	}
	if cfg.BearerToken != "" {
		hdr, err := file("auth.header", []byte("Authorization: Bearer "+cfg.BearerToken+"\n"), "")
		if err != nil {
			return nil, err
		}
		args = append(args, "-H", "@"+hdr)
	}
	var script strings.Builder
	script.WriteString("set -e\npids=\n")
	for _, p := range paths {
		fmt.Fprintf(&script, "curl %s %q & pids=\"$pids $!\"\n", shellWords(args), strings.TrimSuffix(cfg.Host, "/")+p)
	}
	script.WriteString("for p in $pids; do wait $p; done\n")
	return []string{"/bin/bash", "-c", script.String()}, nil
}

// shellWords quotes each word for bash.
func shellWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
