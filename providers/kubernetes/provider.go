// Package kubernetes is the store of plain Kubernetes Secrets in a cluster: what rotation
// works on in a cluster that was not migrated yet (and, with migrate, a copy of Secrets into
// another cluster). An entry's address is <namespace>/<name>; its version is the Secret's
// resourceVersion, so every write is a check-and-set.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secretshift/secretshift/internal/outdir"
	"github.com/secretshift/secretshift/kube"
	"github.com/secretshift/secretshift/providers"
)

// Name is the registry name of this provider.
const Name = "kubernetes"

var (
	_ providers.Config        = (*Config)(nil)
	_ providers.ClusterConfig = (*Config)(nil)
	_ providers.Provider      = (*Provider)(nil)
	_ providers.Describer     = (*Provider)(nil)
	_ providers.Enumerator    = (*Provider)(nil)
)

// Config is the provider's settings: the cluster is the command's (--kubeconfig, --context).
type Config struct {
	cluster func() (*rest.Config, error)
}

// NewConfig returns the settings.
func NewConfig() *Config { return &Config{} }

// Flags registers nothing: the cluster flags are the command's.
func (c *Config) Flags(*pflag.FlagSet) {}

// UseCluster implements providers.ClusterConfig.
func (c *Config) UseCluster(load func() (*rest.Config, error)) { c.cluster = load }

// Open connects to the cluster.
func (c *Config) Open(context.Context) (providers.Provider, error) {
	if c.cluster == nil {
		return nil, errors.New("kubernetes: no cluster: point the command at one (--kubeconfig, --context)")
	}
	cfg, err := c.cluster()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	cs, err := kube.NewClient(cfg, kube.ClientOptions{})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return &Provider{cs: cs, host: cfg.Host}, nil
}

// Provider reads and writes Secrets in one cluster.
type Provider struct {
	cs   kubernetes.Interface
	host string
}

// Name returns "kubernetes".
func (p *Provider) Name() string { return Name }

// StoreID is the cluster's API server address.
func (p *Provider) StoreID() string { return Name + "|" + p.host }

// Describe names the cluster.
func (p *Provider) Describe() string { return "Secrets in the cluster at " + p.host }

// Target returns <namespace>/<name>.
func (p *Provider) Target(ref providers.Ref) (providers.Target, error) {
	if err := checkRef(ref.Namespace, ref.Name); err != nil {
		return providers.Target{}, fmt.Errorf("secret %s: %w", ref, err)
	}
	return providers.Target{Provider: Name, Address: ref.Namespace + "/" + ref.Name}, nil
}

func checkRef(ns, name string) error {
	if errs := validation.IsDNS1123Label(ns); ns == "" || len(errs) > 0 {
		return fmt.Errorf("%w: namespace %q: %s", providers.ErrInvalidName, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%w: name %q: %s", providers.ErrInvalidName, name, strings.Join(errs, "; "))
	}
	return nil
}

// parse splits an address.
func parse(t providers.Target) (ns, name string, err error) {
	if t.Provider != "" && t.Provider != Name {
		return "", "", fmt.Errorf("%w: target %s does not belong to the %s provider", providers.ErrInvalidName, t, Name)
	}
	ns, name, ok := strings.Cut(t.Address, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: address %q is not <namespace>/<name>", providers.ErrInvalidName, t.Address)
	}
	return ns, name, checkRef(ns, name)
}

// Check validates keys and the Secret size limit.
func (p *Provider) Check(t providers.Target, pl providers.Payload) error {
	var errs []error
	if _, _, err := parse(t); err != nil {
		errs = append(errs, err)
	}
	for _, k := range pl.Data.Keys() {
		if err := outdir.CheckKey(k); err != nil {
			errs = append(errs, fmt.Errorf("secret %s: %w", pl.Ref, err))
		}
	}
	if n := pl.Data.Size(); n > outdir.MaxSecretSize {
		errs = append(errs, fmt.Errorf("secret %s: %w: values total %d bytes, Kubernetes allows %d", pl.Ref, providers.ErrTooLarge, n, outdir.MaxSecretSize))
	}
	return errors.Join(errs...)
}

// Read returns the Secret at t. Updated is the newest time in its managed fields (when it was
// last written), else its creation time.
func (p *Provider) Read(ctx context.Context, t providers.Target) (*providers.Stored, error) {
	ns, name, err := parse(t)
	if err != nil {
		return nil, err
	}
	s, err := p.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", t.Address, classify(err))
	}
	return stored(s), nil
}

func stored(s *corev1.Secret) *providers.Stored {
	ann := s.Annotations
	st := &providers.Stored{
		Data: kube.Data(s.Data), Type: string(s.Type), Version: s.ResourceVersion,
		Fingerprint: ann[providers.AnnotationFingerprint], FingerprintKeyID: ann[providers.AnnotationFingerprintKey],
		Managed: ann[providers.AnnotationManagedBy] == providers.ManagedByValue, SourceUID: ann[providers.AnnotationSourceUID],
		Ref:    providers.Ref{Namespace: s.Namespace, Name: s.Name, UID: string(s.UID)},
		Labels: s.Labels, Annotations: ann, Immutable: s.Immutable != nil && *s.Immutable, Job: ann[providers.AnnotationJob],
		Updated: s.CreationTimestamp.Time,
	}
	if st.Data == nil {
		st.Data = kube.Data{}
	}
	for _, m := range s.ManagedFields {
		if m.Time != nil && m.Time.After(st.Updated) {
			st.Updated = m.Time.Time
		}
	}
	if owner := metav1.GetControllerOf(s); owner != nil {
		st.Problem = fmt.Sprintf("owned by %s %s, whose controller rewrites it: change the source it is made from", owner.Kind, owner.Name)
	}
	return st
}

// Write stores pl as the Secret at t: created when expect is "", else updated only if its
// resourceVersion is still expect. An update keeps the Secret's other metadata (owner
// references, finalizers) and sets its values, type, labels and annotations from pl.
func (p *Provider) Write(ctx context.Context, t providers.Target, pl providers.Payload, expect string) (string, error) {
	ns, name, err := parse(t)
	if err != nil {
		return "", err
	}
	if err := p.Check(t, pl); err != nil {
		return "", err
	}
	secrets := p.cs.CoreV1().Secrets(ns)
	ann := providers.ManifestAnnotations(pl)
	if expect == "" {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(pl.Labels), Annotations: ann},
			Type: corev1.SecretType(pl.EffectiveType()), Data: pl.Data}
		if pl.Immutable {
			s.Immutable = &pl.Immutable
		}
		created, err := secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: "secretshift"})
		if err != nil {
			return "", fmt.Errorf("create secret %s: %w", t.Address, classify(err))
		}
		return created.ResourceVersion, nil
	}
	cur, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("write secret %s: %w", t.Address, classify(err))
	}
	if cur.ResourceVersion != expect {
		return "", fmt.Errorf("%w: secret %s changed: resourceVersion %s, expected %s", providers.ErrConflict, t.Address, cur.ResourceVersion, expect)
	}
	if string(cur.Type) != pl.EffectiveType() {
		return "", fmt.Errorf("%w: secret %s is of type %s, and the type of a Secret cannot change", providers.ErrUnsupported, t.Address, cur.Type)
	}
	cur.Data, cur.StringData = pl.Data, nil
	cur.Labels, cur.Annotations = maps.Clone(pl.Labels), ann
	updated, err := secrets.Update(ctx, cur, metav1.UpdateOptions{FieldManager: "secretshift"})
	if err != nil {
		return "", fmt.Errorf("update secret %s: %w", t.Address, classify(err))
	}
	return updated.ResourceVersion, nil
}

// Entries lists the Secrets whose address starts with prefix, leaving out those that must not
// be rotated here: service-account tokens, Helm release records, bootstrap tokens, and Secrets
// a controller owns.
func (p *Provider) Entries(ctx context.Context, prefix string) ([]providers.Target, error) {
	ns, _, _ := strings.Cut(prefix, "/")
	if !strings.Contains(prefix, "/") {
		ns = "" // a namespace prefix still being typed: list them all
	}
	var out []providers.Target
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := p.cs.CoreV1().Secrets(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", classify(err))
		}
		for i := range list.Items {
			s := &list.Items[i]
			a := s.Namespace + "/" + s.Name
			if strings.HasPrefix(a, prefix) && rotatable(s) {
				out = append(out, providers.Target{Provider: Name, Address: a})
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	slices.SortFunc(out, func(a, b providers.Target) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

func rotatable(s *corev1.Secret) bool {
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken, corev1.SecretTypeBootstrapToken, "helm.sh/release.v1":
		return false
	}
	return metav1.GetControllerOf(s) == nil
}

// classify wraps API errors with the provider sentinels.
func classify(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %w", providers.ErrNotFound, err)
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %w", providers.ErrConflict, err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: %w", providers.ErrPermission, err)
	case apierrors.IsRequestEntityTooLargeError(err):
		return fmt.Errorf("%w: %w", providers.ErrTooLarge, err)
	}
	return err
}

// annotationLease holds a rotation's lease on a Secret: "<holder> <expiry RFC 3339>".
const annotationLease = providers.AnnotationPrefix + "lease"

var _ providers.Leaser = (*Provider)(nil)

// Lease implements providers.Leaser with an annotation written by a check-and-set update (the
// resourceVersion), so two runs can never both hold it. Writing the Secret ends it.
func (p *Provider) Lease(ctx context.Context, t providers.Target, holder string, ttl time.Duration, ours func(string) bool) (func(context.Context) error, error) {
	ns, name, err := parse(t)
	if err != nil {
		return nil, err
	}
	secrets := p.cs.CoreV1().Secrets(ns)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("lease secret %s: %w", t.Address, classify(err))
	}
	now := time.Now()
	if other, at, ok := strings.Cut(s.Annotations[annotationLease], " "); ok && other != holder && !ours(other) {
		if until, err := time.Parse(time.RFC3339, at); err == nil && now.Before(until) {
			return nil, fmt.Errorf("secret %s: %w: run %s holds its lease until %s", t.Address, providers.ErrBusy, other, at)
		}
	}
	value := holder + " " + now.Add(ttl).UTC().Format(time.RFC3339)
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[annotationLease] = value
	if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: "secretshift"}); err != nil {
		if apierrors.IsConflict(err) {
			return nil, fmt.Errorf("secret %s: %w: changed while its lease was taken (another run?)", t.Address, providers.ErrBusy)
		}
		return nil, fmt.Errorf("lease secret %s: %w", t.Address, classify(err))
	}
	return func(ctx context.Context) error {
		s, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err != nil || s.Annotations[annotationLease] != value {
			return nil // gone, ended by a write, or taken over after it expired
		}
		delete(s.Annotations, annotationLease)
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{FieldManager: "secretshift"}); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("release the lease of secret %s: %w", t.Address, classify(err))
		}
		return nil
	}, nil
}
