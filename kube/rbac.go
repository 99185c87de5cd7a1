package kube

import rbacv1 "k8s.io/api/rbac/v1"

// RestartRules are the Kubernetes API rules, in the Secret's namespace, of what refreshes and
// restarts a rotated Secret's consumers, and no more: ExternalSecretsThatWillNotRefresh and
// ForceSyncExternalSecrets (list and patch ExternalSecrets), WaitSecret (get the Secret),
// RestartConsumers (list the workloads and the ServiceAccounts whose imagePullSecrets their
// pods inherit, patch the workloads) and WaitRollout (get the workloads).
func RestartRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets", "daemonsets"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{ExternalSecretResource.Group}, Resources: []string{ExternalSecretResource.Resource}, Verbs: []string{"list", "patch"}},
	}
}

// ReadRules are the Kubernetes API rules of reading Secrets as discover, plan and migrate do,
// and no more: list (and, for Secrets a label selector left out but workloads name, get) the
// Secrets, and list each kind of consumer they report (clusterLister.workloadListers).
func ReadRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{""}, Resources: []string{"pods", "serviceaccounts"}, Verbs: []string{"list"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments", "statefulsets", "daemonsets"}, Verbs: []string{"list"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs", "cronjobs"}, Verbs: []string{"list"}},
		{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list"}},
	}
}
