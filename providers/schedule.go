package providers

import rbacv1 "k8s.io/api/rbac/v1"

// ScheduledConfig is implemented by the settings of adapters a scheduled run in the cluster
// (secretshift generate cronjob) can reach. From the settings the command was given (the
// adapter's own flags), the adapter says what the Pod needs; nothing it returns is a secret,
// since it is written into manifests. Credentials that are secrets come from a Kubernetes
// Secret the user names, or from the Pod's own identity.
type ScheduledConfig interface {
	// Scheduled returns what a Pod running secretshift against the store needs.
	Scheduled() (Scheduled, error)
}

// Scheduled is what a Pod running secretshift against one store needs.
type Scheduled struct {
	// Args are the adapter's flags for the command the Pod runs (the store's address, mount,
	// sign-in method and role).
	Args []string
	// Env holds plain environment variables (addresses), never a secret.
	Env map[string]string
	// Rules are the Kubernetes API rules the run needs in every namespace whose entries it
	// works on, for stores that keep their entries in the cluster itself.
	Rules []rbacv1.PolicyRule
	// NamespacedAddresses: every address begins with "<namespace>/", so a match on paths
	// names the namespaces the run works in.
	NamespacedAddresses bool
	// ServiceAccountToken: the store signs the Pod in with its ServiceAccount token (Vault's
	// Kubernetes auth), so the token is mounted.
	ServiceAccountToken bool
	// Notes tell the user what the store must be set up with (a role bound to the
	// ServiceAccount), one sentence each.
	Notes []string
}

// NamespacedEnumerator is implemented by providers whose addresses begin with the namespace
// of the Secret they hold ("<namespace>/<name>"): a rotation that names its namespaces lists
// only those, which is all its access may allow.
type NamespacedEnumerator interface {
	Enumerator
	// NamespacePrefix returns the prefix of every address of namespace's entries.
	NamespacePrefix(namespace string) string
}
