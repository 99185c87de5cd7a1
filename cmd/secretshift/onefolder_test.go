package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/secretshift/secretshift/internal/memstore"
	"github.com/secretshift/secretshift/providers/registry"
)

// TestAStoreIsOneFolderAndOneRegistryRow adds a throwaway in-memory store through the registry
// table alone and drives plan, apply, verify and the ESO manifests through the CLI with it:
// nothing in cmd, migrate, job, templates or audit had to learn about it.
func TestAStoreIsOneFolderAndOneRegistryRow(t *testing.T) {
	saved := registry.Providers
	registry.Providers = append(append(registry.Providers[:0:0], saved...), memstore.Entry)
	t.Cleanup(func() { registry.Providers = saved })
	inTempDir(t)
	demo := demoDir(t)

	plan := runCLI(t, "", "plan", "--to", "mem", "--mem-bucket", "cli", "-f", demo, "--out", "plan.json")
	if plan.code != ExitOK || !strings.Contains(plan.stderr, "5 to create") {
		t.Fatalf("plan: exit %d\n%s\n%s", plan.code, plan.stdout, plan.stderr)
	}
	apply := runCLI(t, "", "apply", "plan.json", "--mem-bucket", "cli", "--manifests", "eso", "-o", "json")
	if apply.code != ExitOK {
		t.Fatalf("apply: exit %d\n%s", apply.code, apply.stderr)
	}
	if n := memstore.Bucket("cli").Count("shop/db-credentials"); n != 1 {
		t.Errorf("shop/db-credentials has %d versions, want 1", n)
	}
	verify := runCLI(t, "", "verify", "--plan", "plan.json", "--mem-bucket", "cli")
	if verify.code != ExitOK || strings.Count(verify.stdout, "content") != 5 {
		t.Errorf("verify: exit %d\n%s\n%s", verify.code, verify.stdout, verify.stderr)
	}
	for _, f := range []string{"eso/shop/secretstore.yaml", "eso/shop/db-credentials.externalsecret.yaml", "eso/mem/bucket.txt", "eso/kustomization.yaml"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("manifests: %v", err)
		}
	}
	store, _ := os.ReadFile("eso/shop/secretstore.yaml")
	if !strings.Contains(string(store), "fake:") || !strings.Contains(string(store), "name: secretshift-mem") {
		t.Errorf("the store block is not the adapter's:\n%s", store)
	}
	// Again: nothing to write.
	again := runCLI(t, "", "migrate", "--to", "mem", "--mem-bucket", "cli", "-f", demo)
	if again.code != ExitOK || memstore.Bucket("cli").Count("shop/db-credentials") != 1 {
		t.Errorf("second run: exit %d\n%s", again.code, again.stderr)
	}
}

// oneFolderRule matches Go code that names a store: an import of an adapter, a store's name as
// a string of its own, a use of an adapter package, or an identifier built on a store's name.
// Prose in help text and comments may name stores; code that selects behaviour may not.
var oneFolderRule = regexp.MustCompile(`"github.com/secretshift/secretshift/providers/(vault|sops|azurekv|sealed)"|"(vault|sops|azurekv|sealed)"|\b(vault|sops|azurekv|sealed)\.[A-Z]|[a-z0-9](Vault|Sops|SOPS|AzureKV|Sealed)|\b(Vault|Sops|SOPS|AzureKV|Sealed)[A-Z][a-z]`)

// oneFolderExceptions are the lines allowed to match, with why.
var oneFolderExceptions = map[string]string{
	// Record format 1 had Vault-named actor fields; reading old logs must know them.
	"audit/actor.go": "format 1",
}

// TestNoStoreNamedOutsideItsFolder is the one-folder rule, checked: outside providers/<store>/
// and providers/registry/, no Go file of the engine, the commands, the templates or the audit
// log names a store. The README's contributing section shows the same check as a git grep.
// kube/ and cutover/ are not checked: they speak of the controllers in the cluster (ESO, the
// sealed-secrets controller, their CRDs and annotations), which a rollback must recognise
// without a store; stores reach them only through the providers' abilities.
func TestNoStoreNamedOutsideItsFolder(t *testing.T) {
	root := repoRootDir(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "--", "cmd", "templates", "audit", "migrate", "rotate", "job").Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	checked := 0
	for _, f := range strings.Fields(string(out)) {
		if !strings.HasSuffix(f, ".go") || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // listed but deleted in the work tree
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			code := strings.TrimSpace(line)
			if strings.HasPrefix(code, "//") || !oneFolderRule.MatchString(code) {
				continue
			}
			if _, ok := oneFolderExceptions[f]; ok {
				continue
			}
			t.Errorf("%s:%d names a store outside its folder: %s", f, i+1, code)
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d files", checked)
	}
}
