package main

import (
	"maps"
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

// ciPolicyAzure rotates a Key Vault secret, for the Azure OIDC sign-in.
const ciPolicyAzure = `apiVersion: secretshift.io/v1alpha1
kind: RotationPolicy
rotations:
- name: shop-db
  store: azurekv
  match: {paths: ["shop--db--*"]}
  keys:
    password: {generator: password, length: 24}
  maxAge: 30d
  restart: none
`

// Entra ids for the Azure sign-in tests.
const (
	ciAzureClient = "11111111-2222-3333-4444-555555555555"
	ciAzureTenant = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)

// TestGenerateCIGitHubPassesActionlint checks the generated workflow with actionlint (built
// from its Go module into .tools/bin), with and without OIDC, for Vault and Azure Key Vault.
func TestGenerateCIGitHubPassesActionlint(t *testing.T) {
	actionlint := filepath.Join(testenv.BinDir(), "actionlint")
	if _, err := os.Stat(actionlint); err != nil {
		t.Skipf("%s is absent: build it with: cd /tmp && GOBIN=%s go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12", actionlint, testenv.BinDir())
	}
	tests := map[string]struct {
		policy string
		flags  []string
		// want maps text to whether the workflow should hold it.
		want map[string]bool
	}{
		"oidc": {ciPolicy, []string{"--vault-addr", "https://vault.example:8200", "--vault-role", "secretshift-ci"}, map[string]bool{
			"id-token: write": true,
			"hashicorp/vault-action@4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b # v3.4.0": true,
			"VAULT_TOKEN: ${{ secrets.VAULT_TOKEN }}":                                  false,
		}},
		"secret": {ciPolicy, []string{"--vault-addr", "https://vault.example:8200", "--ci-secret", "VAULT_TOKEN"}, map[string]bool{
			"id-token: write": false,
			"hashicorp/vault-action@4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b # v3.4.0": false,
			"VAULT_TOKEN: ${{ secrets.VAULT_TOKEN }}":                                  true,
		}},
		"azure-oidc": {ciPolicyAzure, []string{"--azure-vault-url", "https://shop.vault.azure.net", "--azure-ci-client-id", ciAzureClient, "--azure-ci-tenant-id", ciAzureTenant}, map[string]bool{
			"id-token: write": true,
			"uses: azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca # v3.0.1": true,
			"client-id: " + ciAzureClient:                                         true,
			"tenant-id: " + ciAzureTenant:                                         true,
			`allow-no-subscriptions: "true"`:                                      true,
			`AZURE_TOKEN_CREDENTIALS=AzureCLICredential" >> "$GITHUB_ENV"`:        true,
			"AZURE_KEYVAULT_URL: https://shop.vault.azure.net":                    true,
			"AZURE_CLIENT_SECRET":                                                 false,
		}},
		"azure-secret": {ciPolicyAzure, []string{"--azure-vault-url", "https://shop.vault.azure.net", "--ci-secret", "AZURE_CLIENT_ID", "--ci-secret", "AZURE_TENANT_ID", "--ci-secret", "AZURE_CLIENT_SECRET"}, map[string]bool{
			"id-token: write": false,
			"azure/login":     false,
			"AZURE_CLIENT_SECRET: ${{ secrets.AZURE_CLIENT_SECRET }}": true,
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := inTempDir(t)
			writeFile(t, filepath.Join(dir, "rotation.yaml"), tt.policy)
			r := runCLI(t, "", append([]string{"generate", "ci", "--provider", "github", "--version", "v1.2.3", "-o", dir}, tt.flags...)...)
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
			want := map[string]bool{
				"workflow_dispatch":        true,
				"sha256sum -c -":           true,
				"4) echo":                  true,
				"secretshift audit export": true,
				"if: ${{ always() }}":      true,
			}
			maps.Copy(want, tt.want)
			for w, should := range want {
				if strings.Contains(text, w) != should {
					t.Errorf("%q in the workflow: %v, want %v\n%s", w, !should, should, text)
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

// TestGenerateCIAzureSignInOrder checks that on GitHub the Azure sign-in comes after the
// install and before the rotation, so the federated token is exchanged seconds after it
// was issued.
func TestGenerateCIAzureSignInOrder(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "rotation.yaml"), ciPolicyAzure)
	r := runCLI(t, "", "generate", "ci", "--provider", "github", "--version", "v1.2.3", "--azure-vault-url", "https://shop.vault.azure.net", "--azure-ci-client-id", ciAzureClient, "--azure-ci-tenant-id", ciAzureTenant)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var wf struct {
		Jobs map[string]struct {
			Permissions map[string]string `yaml:"permissions"`
			Env         map[string]string `yaml:"env"`
			Steps       []struct {
				Name string            `yaml:"name"`
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
				Run  string            `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &wf); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	job := wf.Jobs["rotate"]
	if job.Permissions["id-token"] != "write" || job.Permissions["contents"] != "read" || len(job.Permissions) != 2 {
		t.Errorf("permissions: %v", job.Permissions)
	}
	var order []string
	for _, s := range job.Steps {
		switch {
		case strings.HasPrefix(s.Name, "Install secretshift"):
			order = append(order, "install")
		case strings.HasPrefix(s.Uses, "azure/login@"):
			order = append(order, "login")
		case strings.Contains(s.Run, "AZURE_TOKEN_CREDENTIALS"):
			order = append(order, "credential")
		case strings.Contains(s.Run, "secretshift rotate"):
			order = append(order, "rotate")
		}
	}
	if got := strings.Join(order, ","); got != "install,login,credential,rotate" {
		t.Errorf("step order %s\n%s", got, r.stdout)
	}
	for _, bad := range []string{"--azure-ci-client-id", "--azure-ci-tenant-id"} {
		if strings.Contains(r.stdout, bad) {
			t.Errorf("the job passes %s to secretshift, which needs it only here:\n%s", bad, r.stdout)
		}
	}
	// One id without the other is refused before anything is written.
	r = runCLI(t, "", "generate", "ci", "--provider", "github", "--version", "v1.2.3", "--azure-vault-url", "https://shop.vault.azure.net", "--azure-ci-client-id", ciAzureClient)
	if r.code == 0 || !strings.Contains(r.stderr, "--azure-ci-tenant-id") {
		t.Errorf("client id alone: exit %d\n%s", r.code, r.stderr)
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

func TestGenerateCIGitLabAzure(t *testing.T) {
	dir := inTempDir(t)
	writeFile(t, filepath.Join(dir, "rotation.yaml"), ciPolicyAzure)
	r := runCLI(t, "", "generate", "ci", "--provider", "gitlab", "--version", "v1.2.3", "--azure-vault-url", "https://shop.vault.azure.net", "--azure-ci-client-id", ciAzureClient, "--azure-ci-tenant-id", ciAzureTenant)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var doc map[string]struct {
		IDTokens     map[string]map[string]string `yaml:"id_tokens"`
		Variables    map[string]string            `yaml:"variables"`
		BeforeScript []string                     `yaml:"before_script"`
		Script       []string                     `yaml:"script"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	job := doc["secretshift-rotate"]
	if job.IDTokens["AZURE_ID_TOKEN"]["aud"] != "api://AzureADTokenExchange" {
		t.Errorf("id_tokens: %v", job.IDTokens)
	}
	for k, v := range map[string]string{"AZURE_CLIENT_ID": ciAzureClient, "AZURE_TENANT_ID": ciAzureTenant, "AZURE_KEYVAULT_URL": "https://shop.vault.azure.net"} {
		if job.Variables[k] != v {
			t.Errorf("variable %s = %q, want %q", k, job.Variables[k], v)
		}
	}
	before := strings.Join(job.BeforeScript, "\n")
	for _, want := range []string{`> "$AZURE_FEDERATED_TOKEN_FILE"`, "AZURE_TOKEN_CREDENTIALS=WorkloadIdentityCredential"} {
		if !strings.Contains(before, want) {
			t.Errorf("before_script lacks %q:\n%s", want, before)
		}
	}
	// The sign-in follows the install, and secretshift runs after both.
	if i, j := strings.Index(before, "sha256sum -c -"), strings.Index(before, "AZURE_FEDERATED_TOKEN_FILE"); i < 0 || j < i {
		t.Errorf("the sign-in does not follow the install:\n%s", before)
	}
}
