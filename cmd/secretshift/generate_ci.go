package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/spf13/cobra"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/internal/atomicfile"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/providers/registry"
	"github.com/secretshift/secretshift/rotate/generate"
	"github.com/secretshift/secretshift/rotate/policy"
	"github.com/secretshift/secretshift/templates"
)

// ciOptions are the flags of generate ci.
type ciOptions struct {
	stores   map[string]providers.Config
	Provider string
	Policy   string
	Version  string
	Schedule string
	Secrets  []string
	Image    string
}

func newGenerateCICmd(f *factory) *cobra.Command {
	o := &ciOptions{stores: map[string]providers.Config{}}
	for _, e := range registry.Providers {
		o.stores[e.Name] = e.NewConfig()
	}
	cmd := &cobra.Command{
		Use:   "ci --provider github|gitlab [--policy rotation.yaml] [-o DIR]",
		Short: "A CI workflow running rotate --due on a schedule",
		Long: `ci writes a GitHub Actions workflow (.github/workflows/secretshift-rotate.yaml) or a GitLab CI
job (.gitlab-ci.yml) that runs

  secretshift rotate --policy rotation.yaml --due -o json

on a schedule and by hand (workflow_dispatch; GitLab: pipeline schedules and "Run pipeline"),
with:
  - secretshift installed from its release archive, checked against the release's checksums
    before it runs;
  - the stores signed in with the CI system's OIDC token where the store's settings name a
    role (Vault: --vault-addr and --vault-role of its JWT auth method, --vault-auth-mount,
    default jwt; Azure Key Vault: --azure-vault-url, and --azure-ci-client-id and
    --azure-ci-tenant-id of an Entra identity whose federated credential trusts the
    repository's token, subject repo:OWNER/REPO:ref:refs/heads/BRANCH on GitHub or
    project_path:GROUP/PROJECT:ref_type:branch:ref:BRANCH on GitLab: azure/login signs the
    Azure CLI in on GitHub, a federated token file serves on GitLab), so no store credential
    is kept in CI; otherwise the --ci-secret variables;
  - the audit keys from the CI secrets ` + templates.HMACKeyEnv + ` and ` + templates.SigningKeyEnv + `;
  - least permissions (contents: read, and id-token: write for OIDC), every action pinned by
    full commit with its release in a comment;
  - the JSON report and the audit export (JSONL) kept as artifacts, also when the run fails;
  - exit status mapped to the job's: 0 succeeds; 4 (some entries not rotated) and 5 (a hook
    failed, previous values back) fail it after a summary; others fail it.

Exit status: 0; 1 the policy cannot be read; 2 bad flags.`,
		Example: `  secretshift generate ci --provider github --vault-addr https://vault.example:8200 --vault-role secretshift-ci -o .
  secretshift generate ci --provider gitlab --ci-secret VAULT_TOKEN --vault-addr https://vault.example:8200 > .gitlab-ci.yml
  secretshift generate ci --provider github --azure-vault-url https://shop.vault.azure.net --azure-ci-client-id <client-id> --azure-ci-tenant-id <tenant-id> -o .`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return runGenerateCI(f, o) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Provider, "provider", "", "CI system: github or gitlab (required)")
	fl.StringVar(&o.Policy, "policy", "rotation.yaml", "the policy file, as its path in the repository (read here to know its stores)")
	fl.StringVar(&o.Version, "version", "", "secretshift release the job installs (default: this build's)")
	fl.StringVar(&o.Schedule, "schedule", "17 3 * * *", "when to run, in cron syntax, UTC (GitHub; GitLab schedules are set in the project)")
	fl.StringArrayVar(&o.Secrets, "ci-secret", nil, "name of a CI secret passed to the job as a variable of that name, such as VAULT_TOKEN (repeatable)")
	fl.StringVar(&o.Image, "image", "alpine:3.22", "GitLab: the job's image (it needs sh, curl, jq, sha256sum and tar; alpine gets curl and jq added)")
	completeWords(cmd, "provider", templates.CIGitHub, templates.CIGitLab)
	for _, e := range registry.Providers {
		o.stores[e.Name].Flags(fl)
	}
	return cmd
}

var ciSecretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func runGenerateCI(f *factory, o *ciOptions) error {
	if o.Provider != templates.CIGitHub && o.Provider != templates.CIGitLab {
		return usageError("--provider must be github or gitlab")
	}
	for _, s := range o.Secrets {
		if !ciSecretName.MatchString(s) {
			return usageError("--ci-secret %q: not a variable name", s)
		}
	}
	version := o.Version
	if version == "" {
		version = currentVersion().Version
	}
	if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`).MatchString(version) {
		return usageError("this build is not a release (%s): name the release the job installs with --version vX.Y.Z", version)
	}
	checkGen := func(typ string, params map[string]string) error {
		_, err := generate.New(generate.Spec{Type: typ, Params: params})
		return err
	}
	pol, err := policy.Load(o.Policy, policy.Options{Stores: registry.Names(), Generators: generate.Types(), CheckGenerator: checkGen})
	if err != nil {
		return err
	}
	in := templates.CIInput{Provider: o.Provider, Version: version, Schedule: o.Schedule, Policy: filepath.ToSlash(o.Policy),
		Env: map[string]string{}, Image: o.Image, SecretEnv: []string{audit.EnvHMACKey, audit.EnvSigningKey}}
	in.SecretEnv = append(in.SecretEnv, o.Secrets...)
	seen := map[string]bool{}
	for _, r := range pol.Rotations {
		if seen[r.Store] {
			continue
		}
		seen[r.Store] = true
		cfg := o.stores[r.Store]
		if ci, ok := cfg.(providers.CIConfig); ok {
			s, ok, err := ci.CISignIn()
			if err != nil {
				return fmt.Errorf("%s: rotation %q: %w", r.Pos, r.Name, err)
			}
			if ok {
				in.SignIn = append(in.SignIn, s)
				continue
			}
		}
		if sc, ok := cfg.(providers.ScheduledConfig); ok {
			s, err := sc.Scheduled()
			if err != nil {
				return fmt.Errorf("%s: rotation %q: %w", r.Pos, r.Name, err)
			}
			for k, v := range s.Env {
				in.Env[k] = v
			}
			in.Args = append(in.Args, s.Args...)
		}
	}
	slices.Sort(in.SecretEnv)
	in.SecretEnv = slices.Compact(in.SecretEnv)
	path, content, err := templates.CI(in)
	if err != nil {
		return err
	}
	if f.generateToStdout() {
		_, err := f.Out.Write(content)
		return err
	}
	full := filepath.Join(f.Output, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(full, content, 0o644, atomicfile.Options{}); err != nil {
		return fmt.Errorf("write %s: %w", full, err)
	}
	fmt.Fprintf(f.status(), "wrote %s\n", full)
	fmt.Fprintf(f.status(), "set the CI secrets %s (secretshift audit keygen makes the keys; their files' text is the value)\n", joinNames(in.SecretEnv))
	return nil
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			out += " and "
		default:
			out += ", "
		}
		out += n
	}
	return out
}
