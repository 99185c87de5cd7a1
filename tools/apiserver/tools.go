//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	// Only its garbage collector runs in tests (internal/testenv, RequireGC).
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
