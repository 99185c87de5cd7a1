package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NamespaceSecrets lists the Secrets of one namespace with their values, a page at a time, and
// keeps those keep selects, by name: how a caller that read a cluster without values
// (Options.Inspect) reads them again when it needs them, one namespace at a time. cluster is
// the Origin.Cluster they get, as Discover gives it; pageSize is Options.PageSize.
func NamespaceSecrets(ctx context.Context, c kubernetes.Interface, namespace, cluster string, pageSize int64, keep func(*Secret) bool) (map[string]*Secret, error) {
	out := map[string]*Secret{}
	err := listPages(ctx, metav1.ListOptions{Limit: max(pageSize, 0)}, c.CoreV1().Secrets(namespace).List,
		func() { clear(out) },
		func(page *corev1.SecretList) {
			for i := range page.Items {
				if s := secretFromAPI(&page.Items[i], Origin{Cluster: cluster}); keep(s) {
					out[s.Name] = s
				}
			}
		})
	if err != nil {
		return nil, fmt.Errorf("list secrets in namespace %s: %w", namespace, err)
	}
	return out, nil
}
