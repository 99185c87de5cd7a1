package vault

import (
	"slices"
	"strings"
	"testing"
)

func TestScheduledAndCISignIn(t *testing.T) {
	noEnv := func(string) string { return "" }
	c := NewConfig().(*Config)
	c.Getenv = noEnv
	if _, err := c.Scheduled(); err == nil || !strings.Contains(err.Error(), "address") {
		t.Errorf("no address: %v", err)
	}
	c.Address, c.Auth = "https://vault.example:8200", AuthKubernetes
	if _, err := c.Scheduled(); err == nil || !strings.Contains(err.Error(), "--vault-role") {
		t.Errorf("kubernetes auth without a role: %v", err)
	}
	c.Role, c.Mount = "rotator", "kv"
	s, err := c.Scheduled()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--vault-mount", "kv", "--vault-auth", "kubernetes", "--vault-role", "rotator"}
	if !slices.Equal(s.Args, want) || s.Env["VAULT_ADDR"] != c.Address || !s.ServiceAccountToken || len(s.Rules) != 0 {
		t.Errorf("Scheduled = %+v", s)
	}

	ci, ok, err := c.CISignIn()
	if err != nil || !ok {
		t.Fatalf("CISignIn: %v %v", ok, err)
	}
	if !slices.Equal(ci.Args, []string{"--vault-mount", "kv"}) || len(ci.GitHubSteps) != 1 || ci.GitLabIDTokens["VAULT_ID_TOKEN"] != c.Address {
		t.Errorf("CISignIn = %+v", ci)
	}
	if w := ci.GitHubSteps[0].With; w["method"] != "jwt" || w["role"] != "rotator" || w["exportToken"] != "true" {
		t.Errorf("vault-action inputs: %v", w)
	}
	c.Role = ""
	if _, ok, err := c.CISignIn(); ok || err != nil {
		t.Errorf("no role: %v %v", ok, err)
	}
}
