package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/secretshift/secretshift/audit"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
	"github.com/secretshift/secretshift/rotate"
)

// clusterConsumers refreshes and restarts, in the cluster the command points at, what reads a
// rotated Secret (rotate.Consumers).
type clusterConsumers struct {
	cs      kubernetes.Interface
	dyn     dynamic.Interface
	fp      *audit.Fingerprinter
	sync    time.Duration // how long ESO may take to write the new values
	rollout time.Duration // how long a rollout may take; 0 does not wait
}

var _ rotate.Consumers = (*clusterConsumers)(nil)

// newClusterConsumers connects to the cluster of --kubeconfig / --context (or in-cluster).
func newClusterConsumers(f *factory, fp *audit.Fingerprinter, rollout time.Duration) (*clusterConsumers, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, fmt.Errorf("restarting consumers needs the cluster: %w", err)
	}
	cs, err := kube.NewClient(cfg, kube.ClientOptions{})
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &clusterConsumers{cs: cs, dyn: dyn, fp: fp, sync: 2 * time.Minute, rollout: rollout}, nil
}

// Check reads the ExternalSecrets that make the Secret (which also proves the cluster can be
// reached and read) and refuses when ESO would not write new values into it.
func (c *clusterConsumers) Check(ctx context.Context, ref providers.Ref) error {
	blocking, err := kube.ExternalSecretsThatWillNotRefresh(ctx, c.dyn, ref.Namespace, ref.Name)
	if err != nil {
		return err
	}
	if len(blocking) > 0 {
		return errors.New(strings.Join(blocking, "; "))
	}
	return nil
}

// Refresh force-syncs the ExternalSecrets that make the Secret and waits until it carries the
// new values (by keyed fingerprint). Without an ExternalSecret the values reach the cluster
// some other way (a GitOps apply of SOPS or SealedSecret files): if the Secret does not carry
// them yet, the consumers are not restarted (rotate.ErrNotInCluster).
func (c *clusterConsumers) Refresh(ctx context.Context, ref providers.Ref, typ, fingerprint string) (string, error) {
	carries := func(s *corev1.Secret) bool { return c.fp.Set(typ, s.Data) == fingerprint }
	names, err := kube.ForceSyncExternalSecrets(ctx, c.dyn, ref.Namespace, ref.Name, time.Now())
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		if err := kube.WaitSecret(ctx, c.cs, ref.Namespace, ref.Name, carries, time.Second); err == nil {
			return "the Secret " + ref.String() + " carries the new values", nil
		}
		return "no ExternalSecret makes " + ref.String() + ": its consumers are not restarted until the new values reach the cluster", rotate.ErrNotInCluster
	}
	if err := kube.WaitSecret(ctx, c.cs, ref.Namespace, ref.Name, carries, c.sync); err != nil {
		return "", fmt.Errorf("force-synced ExternalSecret %s, but: %w", strings.Join(names, ", "), err)
	}
	return "ExternalSecret " + strings.Join(names, ", ") + " synced the new values", nil
}

// Restart restarts the Deployments, StatefulSets and DaemonSets that read the Secret and
// waits for their rollout.
func (c *clusterConsumers) Restart(ctx context.Context, ref providers.Ref) (string, error) {
	restarted, err := kube.RestartConsumers(ctx, c.cs, ref.Namespace, ref.Name, time.Now())
	var names []string
	for _, r := range restarted {
		names = append(names, r.String())
	}
	did := "restarted " + strings.Join(names, ", ")
	if len(names) == 0 {
		did = "no workload reads it"
	}
	if err != nil {
		return did, err
	}
	if c.rollout > 0 && len(restarted) > 0 {
		if err := kube.WaitRollout(ctx, c.cs, restarted, c.rollout); err != nil {
			return did, err
		}
		did += ", rolled out"
	}
	return did, nil
}
