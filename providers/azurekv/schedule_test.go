package azurekv

import (
	"strings"
	"testing"
)

// A scheduled run reaches the vault at its URL with the run's layout; without a URL it is refused.
func TestScheduled(t *testing.T) {
	c := NewConfig().(*Config)
	c.Getenv = func(string) string { return "" }
	if _, err := c.Scheduled(); err == nil || !strings.Contains(err.Error(), "--azure-vault-url") {
		t.Fatalf("no URL: %v", err)
	}
	c.VaultURL, c.Layout = "https://shop.vault.azure.net", LayoutJSON
	s, err := c.Scheduled()
	if err != nil || s.Env[EnvVaultURL] != c.VaultURL || strings.Join(s.Args, " ") != "--azure-layout json" {
		t.Fatalf("%+v, %v", s, err)
	}
}
