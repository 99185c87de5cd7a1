package templates

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Where the scheduled run's Pod finds its policy and keeps its state.
const (
	// PolicyDir is where the policy ConfigMap is mounted; PolicyFile the policy's key in it.
	PolicyDir  = "/etc/secretshift"
	PolicyFile = "rotation.yaml"
	// StateDir is where the PersistentVolumeClaim holding the audit log and the journal is
	// mounted; the Pod's working folder.
	StateDir = "/var/lib/secretshift"
	// HMACKeyEnv, SigningKeyEnv hold the audit keys' text in the Pod, from the keys Secret's
	// keys HMACKeyFile and SigningKeyFile.
	HMACKeyEnv     = "SECRETSHIFT_AUDIT_HMAC_KEY"
	SigningKeyEnv  = "SECRETSHIFT_AUDIT_SIGNING_KEY"
	HMACKeyFile    = "hmac.key"
	SigningKeyFile = "audit-signing.key"
	// runAs is the Pod's user and group: not root, and owner of what it writes on the volume.
	runAs = 65532
)

// Grant is Kubernetes API access the scheduled run needs: Rules in each of Namespaces, or in
// every namespace when Namespaces is empty.
type Grant struct {
	Namespaces []string
	Rules      []rbacv1.PolicyRule
}

// ScheduleInput describes a scheduled run in the cluster: a CronJob running Args with the
// policy from a ConfigMap, state on a PersistentVolumeClaim, and a ServiceAccount with
// exactly the Grants.
type ScheduleInput struct {
	// Name names every object (default secretshift-rotate); Namespace is where the CronJob,
	// its ServiceAccount, ConfigMap and claim live.
	Name, Namespace string
	Image           string
	// Schedule is a cron expression; TimeZone an IANA name, or "" for the controller's.
	Schedule, TimeZone string
	// StartingDeadlineSeconds: a run that could not start within it is skipped.
	StartingDeadlineSeconds int64
	// ActiveDeadlineSeconds bounds one run.
	ActiveDeadlineSeconds int64
	// Policy is the rotation.yaml the ConfigMap holds; nil for a run without a policy (a
	// migration), which has no ConfigMap.
	Policy []byte
	// Args follow the "secretshift" command in the container.
	Args []string
	// Env holds plain variables (store addresses); never secrets.
	Env map[string]string
	// CredentialsSecret, if set, names a Secret in Namespace whose keys become environment
	// variables (VAULT_TOKEN, AZURE_CLIENT_SECRET, ...).
	CredentialsSecret string
	// KeysSecret names the Secret holding the audit keys (HMACKeyFile, SigningKeyFile).
	KeysSecret string
	// ServiceAccountAnnotations and PodLabels carry a workload identity (Azure workload
	// identity's client-id annotation and use label, say).
	ServiceAccountAnnotations, PodLabels map[string]string
	// ServiceAccountToken mounts the Pod's token even when no Grant needs the API: a store
	// signs in with it.
	ServiceAccountToken bool
	Grants              []Grant
	// StorageSize (default 1Gi) and StorageClass ("" for the cluster's default) of the claim.
	StorageSize, StorageClass string
	// Requests and Limits of the container; a resource not named takes its default
	// (DefaultRequests, DefaultLimits).
	Requests, Limits corev1.ResourceList
}

// DefaultRequests are the container's resource requests where ScheduleInput names none: 50m
// of CPU and 64Mi of memory.
func DefaultRequests() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
}

// DefaultLimits are the container's resource limits where ScheduleInput names none: 1 CPU and
// 256Mi of memory, enough for about 15,000 Secrets a run (secretshift keeps its heap under 90 %
// of the memory limit, README "Large fleets").
func DefaultLimits() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("256Mi")}
}

// withDefaults is l with def's entries for the resources l does not name.
func withDefaults(l, def corev1.ResourceList) corev1.ResourceList {
	out := maps.Clone(def)
	maps.Copy(out, l)
	return out
}

// Scheduled is a generated scheduled run: its objects, in the order they are applied.
type Scheduled struct {
	Objects []runtime.Object
}

func (in *ScheduleInput) defaults() error {
	if in.Name == "" {
		in.Name = "secretshift-rotate"
	}
	if in.StorageSize == "" {
		in.StorageSize = "1Gi"
	}
	in.Requests, in.Limits = withDefaults(in.Requests, DefaultRequests()), withDefaults(in.Limits, DefaultLimits())
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(in.Requests)) {
		// The API server refuses a request over its limit; say so before anything is written.
		limit, limited := in.Limits[k]
		if q := in.Requests[k]; limited && q.Cmp(limit) > 0 {
			errs = append(errs, fmt.Sprintf("the %s request %s is more than its limit %s", k, q.String(), limit.String()))
		}
	}
	for what, v := range map[string]string{"name": in.Name, "namespace": in.Namespace, "keys Secret": in.KeysSecret} {
		if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("%s %q: %s", what, v, strings.Join(msgs, "; ")))
		}
	}
	if in.CredentialsSecret != "" {
		if msgs := validation.IsDNS1123Subdomain(in.CredentialsSecret); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("credentials Secret %q: %s", in.CredentialsSecret, strings.Join(msgs, "; ")))
		}
	}
	if in.Image == "" {
		errs = append(errs, "an image is required")
	}
	if in.Policy != nil && len(in.Policy) == 0 {
		errs = append(errs, "the policy is empty")
	}
	if _, err := resource.ParseQuantity(in.StorageSize); err != nil {
		errs = append(errs, fmt.Sprintf("storage size %q: %v", in.StorageSize, err))
	}
	sort.Strings(errs)
	if len(errs) > 0 {
		return fmt.Errorf("scheduled run: %s", strings.Join(errs, "\n"))
	}
	return nil
}

// CronJob builds the scheduled run: ServiceAccount, RBAC, ConfigMap, PersistentVolumeClaim
// and CronJob. The Pod runs as a non-root user with a read-only root filesystem, no
// privilege escalation, no capabilities and the runtime's default seccomp profile; only /tmp
// and the claim are writable.
func CronJob(in ScheduleInput) (*Scheduled, error) {
	if err := in.defaults(); err != nil {
		return nil, err
	}
	if in.Schedule == "" || in.Policy == nil {
		return nil, fmt.Errorf("scheduled run: a schedule and a policy are required")
	}
	objs, labels, tmpl := in.common(corev1.ReadWriteOnce)
	cj := &batchv1.CronJob{TypeMeta: typeMeta("batch/v1", "CronJob"), ObjectMeta: in.meta(in.Namespace, labels),
		Spec: batchv1.CronJobSpec{
			Schedule:                   in.Schedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr(in.StartingDeadlineSeconds),
			SuccessfulJobsHistoryLimit: ptr(int32(3)),
			FailedJobsHistoryLimit:     ptr(int32(3)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: batchv1.JobSpec{
					// A failed run is not retried at once: the next scheduled run resumes it.
					BackoffLimit:          ptr(int32(0)),
					ActiveDeadlineSeconds: in.activeDeadline(),
					Template:              tmpl,
				},
			},
		}}
	if in.TimeZone != "" {
		cj.Spec.TimeZone = ptr(in.TimeZone)
	}
	return &Scheduled{Objects: append(objs, cj)}, nil
}

// IndexedJob builds a run split into shards pods at once, on Kubernetes' Indexed Job: pod I
// gets JOB_COMPLETION_INDEX=I from the Job controller and JOB_COMPLETIONS=shards from the
// template, which rotate --shard defaults from. Each pod writes its own audit log and journal
// (Args may name them with $(JOB_COMPLETION_INDEX)) on one claim, ReadWriteMany since the
// pods may run on different nodes. A failed pod is retried once; its journal lets it resume.
func IndexedJob(in ScheduleInput, shards int) (*Scheduled, error) {
	if err := in.defaults(); err != nil {
		return nil, err
	}
	if shards < 1 || shards > 1000 {
		return nil, fmt.Errorf("indexed job: %d shards: want 1 to 1000", shards)
	}
	in.Env = maps.Clone(in.Env)
	if in.Env == nil {
		in.Env = map[string]string{}
	}
	in.Env[ShardCountEnv] = fmt.Sprint(shards)
	objs, labels, tmpl := in.common(corev1.ReadWriteMany)
	// Declared, so that Args can use $(JOB_COMPLETION_INDEX); the controller sets the
	// annotation on each pod.
	c := &tmpl.Spec.Containers[0]
	c.Env = append([]corev1.EnvVar{{Name: ShardIndexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		FieldPath: "metadata.annotations['" + batchv1.JobCompletionIndexAnnotation + "']"}}}}, c.Env...)
	job := &batchv1.Job{TypeMeta: typeMeta("batch/v1", "Job"), ObjectMeta: in.meta(in.Namespace, labels),
		Spec: batchv1.JobSpec{
			CompletionMode:        ptr(batchv1.IndexedCompletion),
			Completions:           ptr(int32(shards)),
			Parallelism:           ptr(int32(shards)),
			BackoffLimitPerIndex:  ptr(int32(1)),
			ActiveDeadlineSeconds: in.activeDeadline(),
			Template:              tmpl,
		}}
	return &Scheduled{Objects: append(objs, job)}, nil
}

// The variables of an Indexed Job's pod that name its shard.
const (
	ShardIndexEnv = "JOB_COMPLETION_INDEX"
	ShardCountEnv = "JOB_COMPLETIONS"
)

func (in *ScheduleInput) activeDeadline() *int64 {
	if in.ActiveDeadlineSeconds <= 0 {
		return nil
	}
	return ptr(in.ActiveDeadlineSeconds)
}

func (in *ScheduleInput) meta(ns string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: in.Name, Namespace: ns, Labels: maps.Clone(labels)}
}

// common returns what every scheduled run has (ServiceAccount, RBAC, ConfigMap, claim), the
// objects' labels, and the Pod template.
func (in *ScheduleInput) common(access corev1.PersistentVolumeAccessMode) ([]runtime.Object, map[string]string, corev1.PodTemplateSpec) {
	labels := map[string]string{"app.kubernetes.io/name": "secretshift", "app.kubernetes.io/instance": in.Name, "app.kubernetes.io/managed-by": "secretshift"}
	meta := func(ns string) metav1.ObjectMeta { return in.meta(ns, labels) }
	var objs []runtime.Object
	sa := &corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta(in.Namespace), AutomountServiceAccountToken: ptr(false)}
	if len(in.ServiceAccountAnnotations) > 0 {
		sa.Annotations = maps.Clone(in.ServiceAccountAnnotations)
	}
	objs = append(objs, sa)
	rbac := in.rbac(meta)
	objs = append(objs, rbac...)
	if in.Policy != nil {
		objs = append(objs, &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta(in.Namespace),
			Data: map[string]string{PolicyFile: string(in.Policy)}})
	}
	pvc := &corev1.PersistentVolumeClaim{TypeMeta: typeMeta("v1", "PersistentVolumeClaim"), ObjectMeta: meta(in.Namespace),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{access},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(in.StorageSize)}},
		}}
	if in.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr(in.StorageClass)
	}
	objs = append(objs, pvc)
	podLabels := maps.Clone(labels)
	maps.Copy(podLabels, in.PodLabels)
	// The token is mounted only when something uses it: the API (a Grant) or a store.
	token := in.ServiceAccountToken || len(rbac) > 0
	return objs, labels, corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: in.podSpec(token)}
}

func (in *ScheduleInput) podSpec(token bool) corev1.PodSpec {
	env := []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}}
	for _, k := range slices.Sorted(maps.Keys(in.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: in.Env[k]})
	}
	for _, k := range []struct{ env, key string }{{HMACKeyEnv, HMACKeyFile}, {SigningKeyEnv, SigningKeyFile}} {
		env = append(env, corev1.EnvVar{Name: k.env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.KeysSecret}, Key: k.key}}})
	}
	var envFrom []corev1.EnvFromSource
	if in.CredentialsSecret != "" {
		envFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: in.CredentialsSecret}}}}
	}
	mounts := []corev1.VolumeMount{{Name: "state", MountPath: StateDir}, {Name: "tmp", MountPath: "/tmp"}}
	volumes := []corev1.Volume{
		{Name: "state", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: in.Name}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("64Mi"))}}},
	}
	if in.Policy != nil {
		mounts = append([]corev1.VolumeMount{{Name: "policy", MountPath: PolicyDir, ReadOnly: true}}, mounts...)
		volumes = append([]corev1.Volume{{Name: "policy", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: in.Name}}}}}, volumes...)
	}
	return corev1.PodSpec{
		ServiceAccountName:           in.Name,
		AutomountServiceAccountToken: ptr(token),
		RestartPolicy:                corev1.RestartPolicyNever,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(runAs)), RunAsGroup: ptr(int64(runAs)), FSGroup: ptr(int64(runAs)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:         "secretshift",
			Image:        in.Image,
			Command:      []string{"secretshift"},
			Args:         slices.Clone(in.Args),
			WorkingDir:   StateDir,
			Env:          env,
			EnvFrom:      envFrom,
			Resources:    corev1.ResourceRequirements{Requests: in.Requests, Limits: in.Limits},
			VolumeMounts: mounts,
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				ReadOnlyRootFilesystem:   ptr(true),
				RunAsNonRoot:             ptr(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
		Volumes: volumes,
	}
}

// rbac returns a Role and RoleBinding per namespace the grants name, and one ClusterRole and
// ClusterRoleBinding for the rules grants need in every namespace; the rules of one
// namespace merged.
func (in *ScheduleInput) rbac(meta func(string) metav1.ObjectMeta) []runtime.Object {
	var cluster []rbacv1.PolicyRule
	perNS := map[string][]rbacv1.PolicyRule{}
	for _, g := range in.Grants {
		if len(g.Namespaces) == 0 {
			cluster = append(cluster, g.Rules...)
			continue
		}
		for _, ns := range g.Namespaces {
			perNS[ns] = append(perNS[ns], g.Rules...)
		}
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: in.Name, Namespace: in.Namespace}}
	var out []runtime.Object
	if len(cluster) > 0 {
		m := meta("")
		m.Name = in.Name + "-" + in.Namespace // cluster-wide names: one per scheduled run
		out = append(out,
			&rbacv1.ClusterRole{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRole"), ObjectMeta: m, Rules: MergeRules(cluster)},
			&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"), ObjectMeta: m, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: m.Name}})
	}
	for _, ns := range slices.Sorted(maps.Keys(perNS)) {
		m := meta(ns)
		out = append(out,
			&rbacv1.Role{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "Role"), ObjectMeta: m, Rules: MergeRules(perNS[ns])},
			&rbacv1.RoleBinding{TypeMeta: typeMeta("rbac.authorization.k8s.io/v1", "RoleBinding"), ObjectMeta: m, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: in.Name}})
	}
	return out
}

// MergeRules merges rules on the same API group and resource into one, with the union of
// their verbs, sorted; rules naming resourceNames or non-resource URLs are kept as they are.
func MergeRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type gr struct{ group, resource string }
	verbs := map[gr]map[string]bool{}
	var kept []rbacv1.PolicyRule
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			kept = append(kept, r)
			continue
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := gr{g, res}
				if verbs[k] == nil {
					verbs[k] = map[string]bool{}
				}
				for _, v := range r.Verbs {
					verbs[k][v] = true
				}
			}
		}
	}
	// One rule per group and verb set, listing its resources.
	type gv struct{ group, verbs string }
	byGV := map[gv][]string{}
	for k, vs := range verbs {
		key := gv{k.group, strings.Join(slices.Sorted(maps.Keys(vs)), ",")}
		byGV[key] = append(byGV[key], k.resource)
	}
	var out []rbacv1.PolicyRule
	for _, k := range slices.SortedFunc(maps.Keys(byGV), func(a, b gv) int {
		return strings.Compare(a.group+"\x00"+a.verbs, b.group+"\x00"+b.verbs)
	}) {
		res := byGV[k]
		sort.Strings(res)
		out = append(out, rbacv1.PolicyRule{APIGroups: []string{k.group}, Resources: res, Verbs: strings.Split(k.verbs, ",")})
	}
	return append(out, kept...)
}

// YAML renders the objects as one multi-document stream, in order.
func (s *Scheduled) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range s.Objects {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// Bundle returns one file per object, <kind>-<name>[-<namespace>].yaml, and a
// kustomization.yaml listing them in order (kubectl apply -k).
func (s *Scheduled) Bundle() (*Bundle, error) {
	b := &Bundle{Files: map[string][]byte{}}
	var names []string
	for _, o := range s.Objects {
		acc, err := metaOf(o)
		if err != nil {
			return nil, err
		}
		name := strings.ToLower(o.GetObjectKind().GroupVersionKind().Kind) + "-" + acc.GetName()
		if ns := acc.GetNamespace(); ns != "" && acc.GetName() != "" {
			name += "-" + ns
		}
		name += ".yaml"
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.Files[name] = data
		names = append(names, name)
	}
	k, err := yaml.Marshal(map[string]any{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": names})
	if err != nil {
		return nil, err
	}
	b.Files["kustomization.yaml"] = k
	return b, nil
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	return m, nil
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func ptr[T any](v T) *T { return &v }
