package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/secretshift/secretshift/internal/testenv"
)

const ciPolicy = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: shop-db
  store: vault
  match: {paths: ["secret/shop/*"]}
  keys:
    password: {generator: password, length: 24}
  maxAge: 30d
  restart: none
`

// TestGenerateCIGitHubPassesActionlint checks the generated workflow with actionlint (built
// from its Go module into .tools/bin), with and without OIDC.
func TestGenerateCIGitHubPassesActionlint(t *testing.T) {
	actionlint := filepath.Join(testenv.BinDir(), "actionlint")
	if _, err := os.Stat(actionlint); err != nil {
		t.Skipf("%s is absent: build it with: cd /tmp && GOBIN=%s go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12", actionlint, testenv.BinDir())
	}
	for name, flags := range map[string][]string{
		"oidc":   {"--vault-addr", "https://vault.example:8200", "--vault-role", "secretshift-ci"},
		"secret": {"--vault-addr", "https://vault.example:8200", "--ci-secret", "VAULT_TOKEN"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := inTempDir(t)
			writeFile(t, filepath.Join(dir, "rotation.yaml"), ciPolicy)
			r := runCLI(t, "", append([]string{"generate", "ci", "--provider", "github", "--version", "v1.2.3", "-o", dir}, flags...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			wf := filepath.Join(dir, ".github", "workflows", "secretshift-rotate.yaml")
			out, err := exec.Command(actionlint, "-no-color", wf).CombinedOutput()
			if err != nil {
				t.Fatalf("actionlint: %v\n%s\n%s", err, out, readFile(t, wf))
			}
			text := string(readFile(t, wf))
			// And a broken copy fails, so the check above means something.
			broken := filepath.Join(dir, "broken.yaml")
			writeFile(t, broken, strings.Replace(text, "runs-on:", "runs_on:", 1))
			if out, err := exec.Command(actionlint, "-no-color", broken).CombinedOutput(); err == nil {
				t.Fatalf("actionlint passed a job without runs-on:\n%s", out)
			}
			oidc := name == "oidc"
			for want, should := range map[string]bool{
				"id-token: write": oidc,
				"hashicorp/vault-action@4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b # v3.4.0": oidc,
				"VAULT_TOKEN: ${{ secrets.VAULT_TOKEN }}":                                  !oidc,
				"workflow_dispatch":        true,
				"sha256sum -c -":           true,
				"4) echo":                  true,
				"secretshift audit export": true,
				"if: ${{ always() }}":      true,
			} {
				if strings.Contains(text, want) != should {
					t.Errorf("%q in the workflow: %v, want %v\n%s", want, !should, should, text)
				}
			}
			for _, line := range strings.Split(text, "\n") {
				if _, uses, ok := strings.Cut(line, "uses: "); ok {
					ref, comment, _ := strings.Cut(uses, " # v")
					_, sha, _ := strings.Cut(ref, "@")
					if len(sha) != 40 || strings.Trim(sha, "0123456789abcdef") != "" || comment == "" {
						t.Errorf("action not pinned by commit with its release: %s", line)
					}
				}
			}
		})
	}
}

func TestGenerateCIGitLab(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "rotation.yaml"), ciPolicy)
	r := runCLI(t, "", "generate", "ci", "--provider", "gitlab", "--version", "v1.2.3", "--vault-addr", "https://vault.example:8200", "--vault-role", "secretshift-ci")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var doc map[string]struct {
		Rules     []map[string]string          `yaml:"rules"`
		IDTokens  map[string]map[string]string `yaml:"id_tokens"`
		Script    []string                     `yaml:"script"`
		Artifacts struct {
			When  string   `yaml:"when"`
			Paths []string `yaml:"paths"`
		} `yaml:"artifacts"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	job, ok := doc["secretshift-rotate"]
	if !ok {
		t.Fatalf("no job:\n%s", r.stdout)
	}
	if len(job.Rules) == 0 || job.Rules[0]["if"] != `$CI_PIPELINE_SOURCE == "schedule"` {
		t.Errorf("rules: %v", job.Rules)
	}
	if job.IDTokens["VAULT_ID_TOKEN"]["aud"] != "https://vault.example:8200" {
		t.Errorf("id_tokens: %v", job.IDTokens)
	}
	if job.Artifacts.When != "always" || len(job.Artifacts.Paths) < 2 {
		t.Errorf("artifacts: %+v", job.Artifacts)
	}
	if len(job.Script) != 1 || !strings.Contains(job.Script[0], "--due -o json") {
		t.Errorf("script: %q", job.Script)
	}
	if r := runCLI(t, "", "generate", "ci", "--provider", "jenkins"); r.code != ExitUsage {
		t.Errorf("--provider jenkins: exit %d", r.code)
	}
}
