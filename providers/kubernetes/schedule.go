package kubernetes

import (
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/secretshift/secretshift/providers"
)

var (
	_ providers.ScheduledConfig      = (*Config)(nil)
	_ providers.NamespacedEnumerator = (*Provider)(nil)
)

// Scheduled implements providers.ScheduledConfig: the run reaches the Secrets with its Pod's
// ServiceAccount (in-cluster configuration) and needs, in each namespace it rotates in, to
// list them (Entries), read one (Read), and write it with check-and-set (Write, and Lease's
// annotation: update). Nothing patches a Secret, so patch is not granted.
func (c *Config) Scheduled() (providers.Scheduled, error) {
	return providers.Scheduled{
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""},
			Resources: []string{"secrets"},
			Verbs:     []string{"get", "list", "update"},
		}},
		NamespacedAddresses: true,
	}, nil
}

// NamespacePrefix implements providers.NamespacedEnumerator.
func (p *Provider) NamespacePrefix(namespace string) string { return namespace + "/" }
