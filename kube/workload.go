package kube

// Via names how a workload reaches a Secret. The names are part of the -o json schema.
type Via string

const (
	// ViaVolume: a secret volume (spec.volumes[].secret).
	ViaVolume Via = "volume"
	// ViaProjectedVolume: a projected volume source (spec.volumes[].projected.sources[].secret).
	ViaProjectedVolume Via = "projected-volume"
	// ViaEnv: one key as an environment variable (env[].valueFrom.secretKeyRef).
	ViaEnv Via = "env"
	// ViaEnvFrom: every key as environment variables (envFrom[].secretRef).
	ViaEnvFrom Via = "env-from"
	// ViaImagePullSecret: spec.imagePullSecrets of a pod, or imagePullSecrets of a ServiceAccount.
	ViaImagePullSecret Via = "image-pull-secret"
	// ViaServiceAccountImagePullSecret: an imagePullSecret of the ServiceAccount a pod runs as.
	ViaServiceAccountImagePullSecret Via = "service-account-image-pull-secret"
	// ViaIngressTLS: an Ingress's spec.tls[].secretName.
	ViaIngressTLS Via = "ingress-tls"
)

// Workload kinds read for consumers.
const (
	KindPod            = "Pod"
	KindReplicaSet     = "ReplicaSet"
	KindDeployment     = "Deployment"
	KindStatefulSet    = "StatefulSet"
	KindDaemonSet      = "DaemonSet"
	KindJob            = "Job"
	KindCronJob        = "CronJob"
	KindServiceAccount = "ServiceAccount"
	KindIngress        = "Ingress"
)

// Workload is an object that can reference Secrets, reduced to those references: the full
// object is dropped as soon as it is read, which keeps memory flat on large clusters.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Controller is the controlling owner (a Pod's ReplicaSet, a Job's CronJob), followed to
	// name the top-level workload as the consumer.
	Controller *ObjectRef `json:"controller,omitempty"`
	// ServiceAccount is the account a pod (or pod template) runs as; its imagePullSecrets
	// count as the pod's. Empty for kinds without pods.
	ServiceAccount string      `json:"serviceAccount,omitempty"`
	References     []Reference `json:"references,omitempty"`
	Origin         Origin      `json:"origin"`
}

// ObjectRef names an object in the namespace of whatever refers to it.
type ObjectRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (r ObjectRef) String() string { return r.Kind + "/" + r.Name }

// Reference is one place a workload names a Secret.
type Reference struct {
	// Secret is the referenced Secret's name, in the workload's namespace.
	Secret string `json:"secret"`
	Use
}

// Use says how a Secret (or one of its keys) is used.
type Use struct {
	Via Via `json:"via"`
	// Container is the container whose env or envFrom holds the reference.
	Container string `json:"container,omitempty"`
	// Volume is the pod volume holding a secret or projected source.
	Volume string `json:"volume,omitempty"`
	// Env is the environment variable set from the key.
	Env string `json:"env,omitempty"`
	// ServiceAccount is the account whose imagePullSecrets hold the reference
	// (ViaServiceAccountImagePullSecret).
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Key is the referenced key, when the reference names one (env, volume items).
	Key string `json:"key,omitempty"`
	// Optional is true when the workload still starts without the Secret or key.
	Optional bool `json:"optional,omitempty"`
}

// podSpec holds only the parts of a PodSpec that name Secrets. Manifests decode into it
// directly, so fields secretshift does not read (env values among them) are never parsed and
// cannot appear in an error message.
type podSpec struct {
	ServiceAccountName string `json:"serviceAccountName"`
	// ServiceAccount is the deprecated alias the API server still honours.
	ServiceAccount      string             `json:"serviceAccount"`
	Volumes             []volume           `json:"volumes"`
	Containers          []container        `json:"containers"`
	InitContainers      []container        `json:"initContainers"`
	EphemeralContainers []container        `json:"ephemeralContainers"`
	ImagePullSecrets    []localObjectRefer `json:"imagePullSecrets"`
}

type localObjectRefer struct {
	Name string `json:"name"`
}

type keyPath struct {
	Key string `json:"key"`
}

type volume struct {
	Name      string           `json:"name"`
	Secret    *secretVolume    `json:"secret"`
	Projected *projectedVolume `json:"projected"`
}

type secretVolume struct {
	SecretName string    `json:"secretName"`
	Items      []keyPath `json:"items"`
	Optional   *bool     `json:"optional"`
}

type projectedVolume struct {
	Sources []projection `json:"sources"`
}

type projection struct {
	Secret *projectedSecret `json:"secret"`
}

type projectedSecret struct {
	Name     string    `json:"name"`
	Items    []keyPath `json:"items"`
	Optional *bool     `json:"optional"`
}

type container struct {
	Name    string          `json:"name"`
	Env     []envVar        `json:"env"`
	EnvFrom []envFromSource `json:"envFrom"`
}

type envVar struct {
	Name      string     `json:"name"`
	ValueFrom *envSource `json:"valueFrom"`
}

type envSource struct {
	SecretKeyRef *secretKeyRef `json:"secretKeyRef"`
}

type secretKeyRef struct {
	Name     string `json:"name"`
	Key      string `json:"key"`
	Optional *bool  `json:"optional"`
}

type envFromSource struct {
	SecretRef *secretRef `json:"secretRef"`
}

type secretRef struct {
	Name     string `json:"name"`
	Optional *bool  `json:"optional"`
}

func isTrue(b *bool) bool { return b != nil && *b }

// serviceAccount returns the account pods of this spec run as, with the API server's default.
func (p *podSpec) serviceAccount() string {
	switch {
	case p.ServiceAccountName != "":
		return p.ServiceAccountName
	case p.ServiceAccount != "":
		return p.ServiceAccount
	}
	return "default"
}

// references lists every Secret reference of the spec.
func (p *podSpec) references() []Reference {
	var refs []Reference
	add := func(secret string, u Use) {
		if secret != "" {
			refs = append(refs, Reference{Secret: secret, Use: u})
		}
	}
	// A volume with items needs exactly those keys; without items it takes the whole Secret.
	addKeys := func(secret string, items []keyPath, u Use) {
		if len(items) == 0 {
			add(secret, u)
		}
		for _, it := range items {
			u.Key = it.Key
			add(secret, u)
		}
	}
	for _, v := range p.Volumes {
		if s := v.Secret; s != nil {
			addKeys(s.SecretName, s.Items, Use{Via: ViaVolume, Volume: v.Name, Optional: isTrue(s.Optional)})
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				s := src.Secret
				if s == nil {
					continue
				}
				addKeys(s.Name, s.Items, Use{Via: ViaProjectedVolume, Volume: v.Name, Optional: isTrue(s.Optional)})
			}
		}
	}
	for _, group := range [][]container{p.InitContainers, p.Containers, p.EphemeralContainers} {
		for _, c := range group {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				r := e.ValueFrom.SecretKeyRef
				add(r.Name, Use{Via: ViaEnv, Container: c.Name, Env: e.Name, Key: r.Key, Optional: isTrue(r.Optional)})
			}
			for _, ef := range c.EnvFrom {
				if r := ef.SecretRef; r != nil {
					add(r.Name, Use{Via: ViaEnvFrom, Container: c.Name, Optional: isTrue(r.Optional)})
				}
			}
		}
	}
	for _, s := range p.ImagePullSecrets {
		add(s.Name, Use{Via: ViaImagePullSecret})
	}
	return refs
}
